/*
 * luamig.h -- types shared by every layer of the C core: result codes,
 * the error record, and a growable string buffer.
 *
 * The C layers never see a lua_State: they return a code and fill a
 * struct lm_err, the way SQLite returns rc and keeps sqlite3_errmsg.
 * Only the Lua binding (lua_core.c) turns an lm_err into a Lua error.
 */
#ifndef LUAMIG_H
#define LUAMIG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define LUAMIG_VERSION "0.1.0"

enum lm_code {
  LM_OK = 0,
  LM_ERROR,        /* a failure with its message in struct lm_err */
  LM_NOMEM,        /* allocation failed */
  LM_ROW,          /* a cursor produced a row */
  LM_DONE          /* a cursor has no more rows */
};

/* What a database's refusal means, in terms the layers above the drivers
 * test (each driver maps its own codes: SQLSTATE, SQLite's result codes). */
enum lm_err_kind {
  LM_ERR_OTHER = 0,
  LM_CONSTRAINT        /* a constraint refused the row (a unique or primary key, ...) */
};

struct lm_err {
  int code;            /* LM_OK when no error is recorded */
  int db_code;         /* SQLite's extended result code, 0 otherwise */
  char sqlstate[6];    /* PostgreSQL's SQLSTATE, "" otherwise */
  char *message;       /* owned, malloc'd; NULL when no error */
  char *sql;           /* owned copy of the failing statement, or NULL */
  int position;        /* 1-based character offset of the error in sql, 0 if unknown */
  int kind;            /* enum lm_err_kind, set by the driver that reports the error */
};

#define LM_ERR_INIT {LM_OK, 0, "", NULL, NULL, 0, LM_ERR_OTHER}

/* Record an error: replaces any message already held. Returns code. */
int lm_err_set(struct lm_err *e, int code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
int lm_err_setv(struct lm_err *e, int code, const char *fmt, va_list ap);
/* Prefix the held message with "prefix: " (phase first, as in STYLE.md). */
void lm_err_prefix(struct lm_err *e, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
/* Keep a copy of the failing statement. */
void lm_err_set_sql(struct lm_err *e, const char *sql);
/* Free what the record owns and reset it; NULL-safe, idempotent. */
void lm_err_release(struct lm_err *e);

/* malloc that never returns NULL (a zero size is one byte): on exhaustion
 * the process prints "luamig: out of memory" and aborts, the one policy of
 * the C core (util.c). */
void *lm_malloc(size_t n);
void *lm_calloc(size_t n, size_t size);              /* zeroed */
void *lm_realloc(void *p, size_t n);
char *lm_strdup(const char *s);
char *lm_strndup(const char *s, size_t n);
/* printf into a new string; caller frees with free(). */
char *lm_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *lm_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* FNV-1a (64 bits) of n bytes, continuing from h: start with
 * LM_FNV1A64_BASIS, chain calls to hash several pieces as one. */
#define LM_FNV1A64_BASIS 14695981039346656037ULL
uint64_t lm_fnv1a64(uint64_t h, const void *data, size_t n);

/* A growable, always NUL-terminated byte string. */
struct lm_buf {
  char *data;          /* owned; "" until something is added */
  size_t len, cap;
};
#define LM_BUF_INIT {NULL, 0, 0}
void lm_buf_add(struct lm_buf *b, const char *s, size_t n);
void lm_buf_adds(struct lm_buf *b, const char *s);
void lm_buf_addc(struct lm_buf *b, char c);
void lm_buf_printf(struct lm_buf *b, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
/* Room for n more bytes (and the NUL): returns where they go. The caller
 * writes at most n there, then adds what it wrote to len. */
char *lm_buf_reserve(struct lm_buf *b, size_t n);
/* Hand the string to the caller (who frees it) and reset the buffer. */
char *lm_buf_detach(struct lm_buf *b);
void lm_buf_release(struct lm_buf *b);

#endif
