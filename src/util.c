/*
 * util.c -- the error record, allocation helpers and lm_buf.
 */
#include "luamig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lm_err_setv(struct lm_err *e, int code, const char *fmt, va_list ap) {
  char *msg = lm_vasprintf(fmt, ap);
  free(e->message);
  e->message = msg;
  e->code = code;
  return code;
}

int lm_err_set(struct lm_err *e, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lm_err_setv(e, code, fmt, ap);
  va_end(ap);
  return code;
}

void lm_err_prefix(struct lm_err *e, const char *fmt, ...) {
  struct lm_buf b = LM_BUF_INIT;
  va_list ap;
  va_start(ap, fmt);
  char *prefix = lm_vasprintf(fmt, ap);
  va_end(ap);
  lm_buf_adds(&b, prefix);
  lm_buf_adds(&b, ": ");
  lm_buf_adds(&b, e->message ? e->message : "unknown error");
  free(prefix);
  free(e->message);
  e->message = lm_buf_detach(&b);
  if (e->code == LM_OK) e->code = LM_ERROR;
}

void lm_err_set_sql(struct lm_err *e, const char *sql) {
  free(e->sql);
  e->sql = sql ? lm_strdup(sql) : NULL;
}

void lm_err_release(struct lm_err *e) {
  if (e == NULL) return;
  free(e->message);
  free(e->sql);
  *e = (struct lm_err)LM_ERR_INIT;
}

/* The one out-of-memory policy of the C core: say so and abort, as Lua's
 * own allocator failing is fatal too. Every allocation of the C layers goes
 * through these; the Lua binding raises instead only where it allocates
 * through Lua (lua_newuserdatauv, luaL_Buffer). */
static void out_of_memory(void) {
  fputs("luamig: out of memory\n", stderr);
  abort();
}

void *lm_malloc(size_t n) {
  void *p = malloc(n ? n : 1);                        /* malloc(0) may return NULL */
  if (p == NULL) out_of_memory();
  return p;
}

void *lm_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (p == NULL) out_of_memory();                     /* calloc checks n * size for overflow */
  return p;
}

void *lm_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) out_of_memory();
  return q;
}

char *lm_strndup(const char *s, size_t n) {
  char *d = lm_malloc(n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *lm_strdup(const char *s) { return lm_strndup(s, strlen(s)); }

char *lm_vasprintf(const char *fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  size_t size = (size_t)(n < 0 ? 0 : n) + 1;
  char *s = lm_malloc(size);
  if (n < 0) s[0] = '\0';                             /* a bad format: the empty string */
  else vsnprintf(s, size, fmt, ap);
  return s;
}

char *lm_asprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = lm_vasprintf(fmt, ap);
  va_end(ap);
  return s;
}

uint64_t lm_fnv1a64(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

static void buf_grow(struct lm_buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1) cap *= 2;
  b->data = lm_realloc(b->data, cap);
  b->cap = cap;
}

void lm_buf_add(struct lm_buf *b, const char *s, size_t n) {
  buf_grow(b, n);
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

char *lm_buf_reserve(struct lm_buf *b, size_t n) {
  buf_grow(b, n);
  return b->data + b->len;
}

void lm_buf_adds(struct lm_buf *b, const char *s) { lm_buf_add(b, s, strlen(s)); }

void lm_buf_addc(struct lm_buf *b, char c) { lm_buf_add(b, &c, 1); }

void lm_buf_printf(struct lm_buf *b, const char *fmt, ...) {
  va_list ap, copy;
  va_start(ap, fmt);
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);              /* measure, then write in place */
  va_end(copy);
  if (n > 0) {
    buf_grow(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
  }
  va_end(ap);
}

char *lm_buf_detach(struct lm_buf *b) {
  char *s = b->data ? b->data : lm_strdup("");
  *b = (struct lm_buf)LM_BUF_INIT;
  return s;
}

void lm_buf_release(struct lm_buf *b) {
  free(b->data);
  *b = (struct lm_buf)LM_BUF_INIT;
}
