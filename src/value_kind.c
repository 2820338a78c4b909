/*
 * value_kind.c -- see value_kind.h. Spaces are Lua's %s: C's isspace in
 * the "C" locale.
 */
#include "value_kind.h"

#include <inttypes.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const lm_kind_names[] = {"any", "integer", "number", "boolean", "text", "string",
                                     "binary", NULL};

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Lua's ^%s*[+-]?%d+%s*$, within 64 bits: SQLite stores a wider one as a
 * rounded REAL where PostgreSQL refuses it. */
static enum lm_misfit integer_text(const char *p, const char *end) {
  while (p < end && is_space(*p)) p++;
  int negative = p < end && *p == '-', wide = 0;
  if (p < end && (*p == '+' || *p == '-')) p++;
  const char *digits = p;
  uint64_t magnitude = 0, limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; p < end && is_digit(*p); p++) {
    unsigned d = (unsigned)(*p - '0');
    if (wide || magnitude > (limit - d) / 10) wide = 1;   /* magnitude * 10 + d > limit */
    else magnitude = magnitude * 10 + d;
  }
  if (p == digits) return LM_WRONG_KIND;
  while (p < end && is_space(*p)) p++;
  return p != end ? LM_WRONG_KIND : wide ? LM_OUT_OF_RANGE : LM_FITS;
}

/* Spaces around [+-]? digits with at most one point, at least one digit,
 * then an optional exponent [eE][+-]?%d+; and within a double's range: a
 * value that overflows to an infinity, or a non-zero one that underflows
 * to 0, is refused (PostgreSQL's float8 input refuses both, SQLite would
 * store Inf or 0). s[len] is NUL: strtod may read the string as it is. */
static enum lm_misfit number_text(const char *s, const char *end) {
  const char *p = s;
  while (p < end && is_space(*p)) p++;
  while (end > p && is_space(end[-1])) end--;
  if (p < end && (*p == '+' || *p == '-')) p++;
  int digits = 0, nonzero = 0;
  for (; p < end && is_digit(*p); p++) digits++, nonzero |= *p != '0';
  if (p < end && *p == '.')
    for (p++; p < end && is_digit(*p); p++) digits++, nonzero |= *p != '0';
  if (digits == 0) return LM_WRONG_KIND;
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    const char *exp = p;
    while (p < end && is_digit(*p)) p++;
    if (p == exp) return LM_WRONG_KIND;
  }
  if (p != end) return LM_WRONG_KIND;
  double d = strtod(s, NULL);
  return !isinf(d) && (d != 0 || !nonzero) ? LM_FITS : LM_OUT_OF_RANGE;
}

static enum lm_misfit fits_if(int yes) { return yes ? LM_FITS : LM_WRONG_KIND; }

enum lm_misfit lm_kind_check(enum lm_kind kind, const struct lm_value *v) {
  int text = v->type == LM_TEXT, number = v->type == LM_INTEGER || v->type == LM_FLOAT;
  if (v->type == LM_FLOAT && isnan(v->f)) return LM_WRONG_KIND;
  if (v->type == LM_BLOB) return fits_if(kind == LM_KIND_BINARY || kind == LM_KIND_ANY);
  switch (kind) {
  case LM_KIND_INTEGER:
    return v->type == LM_INTEGER ? LM_FITS : text ? integer_text(v->s, v->s + v->len) : LM_WRONG_KIND;
  case LM_KIND_NUMBER:
    return number ? LM_FITS : text ? number_text(v->s, v->s + v->len) : LM_WRONG_KIND;
  case LM_KIND_BOOLEAN:
    return fits_if(v->type == LM_BOOLEAN || (v->type == LM_INTEGER && (v->i == 0 || v->i == 1)) ||
                   (v->type == LM_FLOAT && (v->f == 0 || v->f == 1)));
  case LM_KIND_TEXT: return fits_if(text || number);
  case LM_KIND_STRING: return fits_if(text);
  case LM_KIND_BINARY: return fits_if(text);          /* a blob returned above */
  case LM_KIND_ANY: break;
  }
  return LM_FITS;
}

int lm_kind_accepts(enum lm_kind kind, const struct lm_value *v) {
  return lm_kind_check(kind, v) == LM_FITS;
}

size_t lm_int_text(int64_t i, char *buf) {
  char tmp[24], *end = tmp + sizeof tmp, *p = end;
  uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
  do *--p = (char)('0' + u % 10); while ((u /= 10) != 0);
  if (i < 0) *--p = '-';
  size_t n = (size_t)(end - p);
  memcpy(buf, p, n);
  buf[n] = '\0';
  return n;
}

/* The text "%.15g" gives for f when f is the double nearest m / 10^k for an
 * integer m of at most 15 digits and k <= 4, with 1e-4 <= |f| < 1e15 (a
 * value written with few decimals, as most are): then that text reads back
 * as f, so it is lm_number_text's answer, made without printf's
 * arbitrary-precision conversion and strtod's read-back (most of a float
 * column's cost in a bulk load). Why it is "%.15g"'s text: f is within
 * 2^-53 |f| of m / 10^k, under half a step of 15 significant digits
 * (> 5e-16 |f|), so rounding f to 15 digits gives m / 10^k; and in that
 * range "%g" writes no exponent. Returns 0 for any other f. */
static size_t short_decimal(double f, char *buf) {
  static const double scale[] = {1, 10, 100, 1000, 10000};
  double a = fabs(f);
  if (!(a >= 1e-4 && a < 1e15)) return 0;
  for (int k = 0; k < 5; k++) {
    double m = nearbyint(a * scale[k]);
    if (m >= 1e15) return 0;
    if (m / scale[k] != a) continue;
    uint64_t u = (uint64_t)m, unit = (uint64_t)scale[k];
    char *p = buf;
    if (f < 0) *p++ = '-';
    p += lm_int_text((int64_t)(u / unit), p);
    if (k > 0) {                                      /* k digits; the last is not 0 */
      *p++ = '.';
      uint64_t frac = u % unit;
      for (int d = k - 1; d >= 0; d--, frac /= 10) p[d] = (char)('0' + frac % 10);
      p += k;
      *p = '\0';
    }
    return (size_t)(p - buf);
  }
  return 0;
}

size_t lm_number_text(const struct lm_value *v, char *buf) {
  int n;
  if (v->type == LM_INTEGER) {
    return lm_int_text(v->i, buf);
  } else if ((n = (int)short_decimal(v->f, buf)) > 0) {
    return (size_t)n;
  } else if (isinf(v->f)) {
    n = snprintf(buf, LM_NUMBER_TEXT_MAX, "%s", v->f > 0 ? "Infinity" : "-Infinity");
  } else {
    for (int digits = 15;; digits++) {                /* 17 always reads back */
      n = snprintf(buf, LM_NUMBER_TEXT_MAX, "%.*g", digits, v->f);
      if (digits == 17 || strtod(buf, NULL) == v->f) break;
    }
  }
  return (size_t)n;
}
