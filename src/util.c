/*
 * util.c -- the error record, allocation helpers and lm_buf.
 */
#include "luamig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lm_err_setv(struct lm_err *e, int code, const char *fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  char *msg = lm_malloc((size_t)(n < 0 ? 0 : n) + 1);
  vsnprintf(msg, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
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
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *prefix = lm_malloc((size_t)(n < 0 ? 0 : n) + 1);
  va_start(ap, fmt);
  vsnprintf(prefix, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
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

void *lm_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) {
    fputs("luamig: out of memory\n", stderr);
    abort();
  }
  return p;
}

void *lm_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) {
    fputs("luamig: out of memory\n", stderr);
    abort();
  }
  return q;
}

char *lm_strndup(const char *s, size_t n) {
  char *d = lm_malloc(n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *lm_strdup(const char *s) { return lm_strndup(s, strlen(s)); }

char *lm_asprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = lm_malloc((size_t)(n < 0 ? 0 : n) + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
  va_end(ap);
  return s;
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

void lm_buf_adds(struct lm_buf *b, const char *s) { lm_buf_add(b, s, strlen(s)); }

void lm_buf_addc(struct lm_buf *b, char c) { lm_buf_add(b, &c, 1); }

void lm_buf_printf(struct lm_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  buf_grow(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
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
