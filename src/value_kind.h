/*
 * value_kind.h -- what a column of a generic type accepts from Lua, for
 * bulk_insert's per-value check, online here (once per value of a
 * million-row load) and offline through core.value_fits: the one owner of
 * these rules (op/bulk.lua keeps only the wording of its messages).
 */
#ifndef LUAMIG_VALUE_KIND_H
#define LUAMIG_VALUE_KIND_H

#include "db.h"

enum lm_kind {
  LM_KIND_ANY,       /* anything bindable */
  LM_KIND_INTEGER,   /* an integer, or a string of one ("  -12 ") */
  LM_KIND_NUMBER,    /* a number, or a string of a decimal one ("1.5e3"; no hex, inf, nan) */
  LM_KIND_BOOLEAN,   /* a boolean, 0 or 1 */
  LM_KIND_TEXT,      /* a string or a number */
  LM_KIND_STRING,    /* a string */
  LM_KIND_BINARY,    /* a string, stored as its bytes (LM_BLOB) */
};

/* The kinds' names, in enum order, NULL-terminated (for luaL_checkoption). */
extern const char *const lm_kind_names[];

/* Whether v (not LM_NULL: NULL fits every kind) fits kind. NaN fits none:
 * SQLite has no NaN (it stores NULL) where PostgreSQL keeps it, so a load
 * refuses it rather than differ between the databases. */
int lm_kind_accepts(enum lm_kind kind, const struct lm_value *v);

/* The same check, saying why v does not fit: a string written as an
 * integer or a decimal number whose value a 64-bit integer or a double
 * cannot hold is out of range; anything else that does not fit is of the
 * wrong kind (bulk_insert words the two differently). */
enum lm_misfit {
  LM_FITS,
  LM_WRONG_KIND,
  LM_OUT_OF_RANGE,
};
enum lm_misfit lm_kind_check(enum lm_kind kind, const struct lm_value *v);

/* The text a number is stored as in a text column, the same on both
 * databases and offline (core.copy_text): an integer in
 * decimal; a float in the fewest of 15, 16 or 17 significant digits that
 * read back as the same double ("0.1", not SQLite's or PostgreSQL's own
 * renderings, which differ); the infinities as "Infinity" and "-Infinity",
 * PostgreSQL's spelling. buf must hold LM_NUMBER_TEXT_MAX bytes; returns
 * the length. */
#define LM_NUMBER_TEXT_MAX 32
size_t lm_number_text(const struct lm_value *v, char *buf);
/* An integer in decimal, as lm_number_text writes it, NUL-terminated;
 * buf must hold 21 bytes. Returns the length. */
size_t lm_int_text(int64_t i, char *buf);

#endif
