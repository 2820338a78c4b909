/*
 * value_kind.h -- what a column of a generic type accepts from Lua, for
 * bulk_insert's per-value check (the same rules as op_bulk.lua's accepts
 * table, done in C because they run once per value of a million-row load).
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
};

/* The kinds' names, in enum order, NULL-terminated (for luaL_checkoption). */
extern const char *const lm_kind_names[];

/* Whether v (not LM_NULL: NULL fits every kind) fits kind. */
int lm_kind_accepts(enum lm_kind kind, const struct lm_value *v);

#endif
