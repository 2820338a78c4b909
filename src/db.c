/*
 * db.c -- what both drivers share: reading a database URL, masking its
 * password out of every message, and quoting identifiers and literals.
 *
 * URL forms (DESIGN.md):
 *   sqlite:PATH  sqlite::memory:  sqlite:///relative.db  sqlite:////abs.db
 *   postgresql://...  postgres://...  postgresql+DRIVER://...
 * The path of a SQLite URL is never empty: a typo must not silently give
 * an in-memory database whose migrations vanish at exit.
 */
#include "db.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Where the password sits in a URL's authority ("scheme://user:PASS@host"),
 * as offsets into url; returns 0 when there is none. */
static int find_userinfo_password(const char *url, size_t *start, size_t *end) {
  const char *auth = strstr(url, "://");
  if (auth == NULL) return 0;
  auth += 3;
  size_t auth_len = strcspn(auth, "/?#");
  const char *at = NULL;
  for (size_t i = 0; i < auth_len; i++)
    if (auth[i] == '@') at = auth + i;               /* the last '@' ends userinfo */
  if (at == NULL) return 0;
  const char *colon = memchr(auth, ':', (size_t)(at - auth));
  if (colon == NULL) return 0;
  *start = (size_t)(colon + 1 - url);
  *end = (size_t)(at - url);
  return 1;
}

/* Where the value of a "password=" query parameter sits, or 0. */
static int find_query_password(const char *url, size_t *start, size_t *end) {
  const char *q = strchr(url, '?');
  while (q != NULL) {
    q++;
    if (strncmp(q, "password=", 9) == 0) {
      *start = (size_t)(q + 9 - url);
      *end = *start + strcspn(q + 9, "&#");
      return 1;
    }
    q = strchr(q, '&');
  }
  return 0;
}

/* The URL with every password replaced by "***"; the first password found
 * is copied to *secret (NULL when none). Caller frees both. */
static char *mask_url(const char *url, char **secret) {
  struct lm_buf b = LM_BUF_INIT;
  size_t s1, e1, s2, e2;
  int has1 = find_userinfo_password(url, &s1, &e1);
  int has2 = find_query_password(url, &s2, &e2);
  *secret = NULL;
  if (has1) *secret = lm_strndup(url + s1, e1 - s1);
  else if (has2) *secret = lm_strndup(url + s2, e2 - s2);
  size_t pos = 0;
  if (has1) {
    lm_buf_add(&b, url, s1);
    lm_buf_adds(&b, "***");
    pos = e1;
  }
  if (has2 && s2 >= pos) {
    lm_buf_add(&b, url + pos, s2 - pos);
    lm_buf_adds(&b, "***");
    pos = e2;
  }
  lm_buf_adds(&b, url + pos);
  return lm_buf_detach(&b);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Replace each occurrence of needle in *msg by "***". */
static void mask_in(char **msg, const char *needle) {
  size_t n = strlen(needle);
  if (*msg == NULL || n == 0 || strstr(*msg, needle) == NULL) return;
  struct lm_buf b = LM_BUF_INIT;
  const char *p = *msg, *hit;
  while ((hit = strstr(p, needle)) != NULL) {
    lm_buf_add(&b, p, (size_t)(hit - p));
    lm_buf_adds(&b, "***");
    p = hit + n;
  }
  lm_buf_adds(&b, p);
  free(*msg);
  *msg = lm_buf_detach(&b);
}

/* Shorter secrets are not searched for in messages: "a" would turn every
 * "a" into "***". The URL itself is always shown masked (mask_url), and
 * libpq does not repeat passwords in its messages. */
#define MASK_MIN_LEN 4

void lm_err_mask(struct lm_err *e, const char *secret) {
  if (secret == NULL || strlen(secret) < MASK_MIN_LEN) return;
  mask_in(&e->message, secret);
  /* the password as libpq sees it, percent-decoded */
  struct lm_buf decoded = LM_BUF_INIT;
  for (const char *p = secret; *p; p++) {
    int hi, lo;
    if (p[0] == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
      lm_buf_addc(&decoded, (char)(hi * 16 + lo));
      p += 2;
    } else {
      lm_buf_addc(&decoded, *p);
    }
  }
  if (decoded.len > 0) mask_in(&e->message, decoded.data);
  lm_buf_release(&decoded);
}

static int url_error(struct lm_url *u, struct lm_err *e, const char *what) {
  lm_err_set(e, LM_ERROR, "invalid database URL '%s': %s", u->display, what);
  lm_url_release(u);
  return LM_ERROR;
}

/* SQLite URL: the part after "sqlite:" becomes a path. */
static int parse_sqlite(const char *rest, struct lm_url *u, struct lm_err *e) {
  const char *path = rest;
  if (strncmp(rest, "//", 2) == 0) {          /* SQLAlchemy's sqlite:///path */
    const char *after = rest + 2;
    if (*after != '/' && *after != '\0')
      return url_error(u, e, "a SQLite URL has no host; "
                       "use sqlite:///relative.db or sqlite:////absolute/path.db");
    path = *after ? after + 1 : after;
    if (strchr(path, '?') != NULL)
      return url_error(u, e, "query parameters are not supported in SQLite URLs");
  }
  if (*path == '\0')
    return url_error(u, e, "the database path is empty; "
                     "give a file (sqlite:app.db) or sqlite::memory:");
  u->driver = &lm_driver_sqlite;
  u->target = lm_strdup(path);
  return LM_OK;
}

int lm_url_parse(const char *url, struct lm_url *u, struct lm_err *e) {
  *u = (struct lm_url){0};
  u->display = mask_url(url, &u->secret);
  size_t scheme_len = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
  if (scheme_len == 0 || url[scheme_len] != ':')
    return url_error(u, e, "expected sqlite:PATH or postgresql://USER@HOST/DBNAME");
  size_t base_len = strcspn(url, "+:");             /* "postgresql+psycopg2" -> "postgresql" */
  const char *rest = url + scheme_len + 1;
  if (base_len == 6 && strncmp(url, "sqlite", 6) == 0)
    return parse_sqlite(rest, u, e);
  if ((base_len == 10 && strncmp(url, "postgresql", 10) == 0) ||
      (base_len == 8 && strncmp(url, "postgres", 8) == 0)) {
    if (strncmp(rest, "//", 2) != 0)
      return url_error(u, e, "expected postgresql://USER@HOST/DBNAME");
    u->driver = &lm_driver_postgresql;
    u->target = lm_asprintf("postgresql:%s", rest);   /* libpq takes no +driver */
    if (u->driver->check_url != NULL && u->driver->check_url(u, e) != LM_OK) {
      lm_err_mask(e, u->secret);
      lm_url_release(u);
      return LM_ERROR;
    }
    return LM_OK;
  }
  char *scheme = lm_strndup(url, base_len);
  lm_err_set(e, LM_ERROR, "unknown database URL scheme '%s' in '%s': luamig supports "
             "sqlite: and postgresql:// URLs", scheme, u->display);
  free(scheme);
  lm_url_release(u);
  return LM_ERROR;
}

void lm_url_release(struct lm_url *u) {
  if (u == NULL) return;
  free(u->target);
  free(u->display);
  free(u->secret);
  *u = (struct lm_url){0};
}

int lm_db_connect(const char *url, struct lm_conn **out, struct lm_err *e) {
  struct lm_url u;
  *out = NULL;
  if (lm_url_parse(url, &u, e) != LM_OK) return LM_ERROR;
  int rc = u.driver->open(&u, out, e);
  if (rc != LM_OK) lm_err_mask(e, u.secret);
  lm_url_release(&u);
  return rc;
}

void lm_conn_release(struct lm_conn *c) {
  if (c == NULL) return;
  free(c->display);
  free(c->secret);
  c->display = c->secret = NULL;
}

char *lm_quote_ident(const char *name, size_t len, struct lm_err *e) {
  if (len == 0) {
    lm_err_set(e, LM_ERROR, "an identifier cannot be empty");
    return NULL;
  }
  if (memchr(name, '\0', len) != NULL) {
    lm_err_set(e, LM_ERROR, "an identifier cannot contain a NUL byte");
    return NULL;
  }
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_addc(&b, '"');
  for (size_t i = 0; i < len; i++) {
    if (name[i] == '"') lm_buf_addc(&b, '"');
    lm_buf_addc(&b, name[i]);
  }
  lm_buf_addc(&b, '"');
  return lm_buf_detach(&b);
}

char *lm_quote_literal(const char *dialect, const char *s, size_t len, struct lm_err *e) {
  if (memchr(s, '\0', len) != NULL) {
    lm_err_set(e, LM_ERROR, "a string literal cannot contain a NUL byte");
    return NULL;
  }
  int escape_backslash = strcmp(dialect, "postgresql") == 0 && memchr(s, '\\', len) != NULL;
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_adds(&b, escape_backslash ? "E'" : "'");
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\'' || (escape_backslash && s[i] == '\\')) lm_buf_addc(&b, s[i]);
    lm_buf_addc(&b, s[i]);
  }
  lm_buf_addc(&b, '\'');
  return lm_buf_detach(&b);
}

char *lm_bulk_head(const char *verb, const char *table, int ncols,
                   const char *const *columns, struct lm_err *e) {
  struct lm_buf b = LM_BUF_INIT;
  char *q = lm_quote_ident(table, strlen(table), e);
  if (q == NULL) return NULL;
  lm_buf_printf(&b, "%s %s (", verb, q);
  free(q);
  for (int i = 0; i < ncols; i++) {
    if ((q = lm_quote_ident(columns[i], strlen(columns[i]), e)) == NULL) {
      lm_buf_release(&b);
      return NULL;
    }
    lm_buf_printf(&b, "%s%s", i ? ", " : "", q);
    free(q);
  }
  lm_buf_addc(&b, ')');
  return lm_buf_detach(&b);
}
