/*
 * db.c -- what both drivers share: reading a database URL, masking its
 * password out of every message, and quoting identifiers and literals.
 *
 * URL forms (DESIGN.md):
 *   sqlite:PATH  sqlite::memory:  sqlite:///relative.db  sqlite:////abs.db
 *   postgresql://...  postgres://...  postgresql+DRIVER://...
 * The path of a SQLite URL is never empty: a typo must not silently give
 * an in-memory database whose migrations vanish at exit. A PostgreSQL URL
 * is read by libpq's own parser (the driver's parse_url), never by a scan
 * here: what the password is, is what libpq takes it to be.
 */
#include "db.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- Secrets ----------------------------------------------------------
 * A URL's password must never leave the process. Messages show a URL only
 * in its display form (rebuilt from the parsed fields, password "***"),
 * and every message is also redacted against the list of secrets: each
 * password the text holds, as written, percent-decoded and percent-encoded,
 * since a message may quote any of them. */

static size_t secrets_count(char *const *list) {
  size_t n = 0;
  while (list != NULL && list[n] != NULL) n++;
  return n;
}

static void secrets_add_one(char ***list, const char *s, size_t n) {
  if (n == 0 || memchr(s, '\0', n) != NULL) return;
  size_t count = secrets_count(*list);
  for (size_t i = 0; i < count; i++)
    if (strlen((*list)[i]) == n && memcmp((*list)[i], s, n) == 0) return;
  *list = lm_realloc(*list, (count + 2) * sizeof **list);
  (*list)[count] = lm_strndup(s, n);
  (*list)[count + 1] = NULL;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* s with each %XX replaced by its byte (as libpq decodes URI parts). */
static void percent_decode(struct lm_buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
        (lo = hexval((unsigned char)s[i + 2])) >= 0) {
      lm_buf_addc(b, (char)(hi * 16 + lo));
      i += 2;
    } else {
      lm_buf_addc(b, s[i]);
    }
  }
}

void lm_secrets_add(char ***list, const char *s, size_t n) {
  secrets_add_one(list, s, n);
  struct lm_buf b = LM_BUF_INIT;
  percent_decode(&b, s, n);
  if (b.len > 0) secrets_add_one(list, b.data, b.len);
  lm_buf_release(&b);
  /* encoded as a URL would carry it, upper- and lower-case hex */
  for (int lower = 0; lower <= 1; lower++) {
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)s[i];
      if (isalnum(c) || strchr("-._~", c) != NULL) lm_buf_addc(&b, (char)c);
      else lm_buf_printf(&b, lower ? "%%%02x" : "%%%02X", c);
    }
    if (b.len > 0) secrets_add_one(list, b.data, b.len);
    lm_buf_release(&b);
  }
}

char **lm_secrets_copy(char *const *list) {
  char **copy = NULL;
  for (size_t i = 0; list != NULL && list[i] != NULL; i++)
    secrets_add_one(&copy, list[i], strlen(list[i]));
  return copy;
}

void lm_secrets_free(char **list) {
  for (size_t i = 0; list != NULL && list[i] != NULL; i++) free(list[i]);
  free(list);
}

/* A byte that can be part of a word: a letter, a digit, '_', or any byte
 * of a multibyte UTF-8 character. */
static int word_byte(unsigned char c) {
  return isalnum(c) || c == '_' || c >= 0x80;
}

/* Replace each occurrence of needle in *msg by "***", where it stands as
 * a whole: an end of needle that is a word byte must not touch another
 * word byte. A password that is also a word ("version", "postgres") is
 * then masked where it stands alone, not inside "luamig_version_num" or
 * "postgresql://": masking every copy would corrupt ordinary output and,
 * by what it hid, tell the password. */
static void redact_one(char **msg, const char *needle) {
  size_t n = strlen(needle);
  if (*msg == NULL || n < LM_SECRET_MIN_LEN || strstr(*msg, needle) == NULL) return;
  int word_start = word_byte((unsigned char)needle[0]), word_end = word_byte((unsigned char)needle[n - 1]);
  struct lm_buf b = LM_BUF_INIT;
  const char *start = *msg, *p = *msg, *from = *msg, *hit;
  while ((hit = strstr(from, needle)) != NULL) {
    int whole = !(word_start && hit > start && word_byte((unsigned char)hit[-1])) &&
                !(word_end && word_byte((unsigned char)hit[n]));
    if (!whole) {
      from = hit + 1;
      continue;
    }
    lm_buf_add(&b, p, (size_t)(hit - p));
    lm_buf_adds(&b, "***");
    p = from = hit + n;
  }
  lm_buf_adds(&b, p);
  free(*msg);
  *msg = lm_buf_detach(&b);
}

void lm_redact(char **msg, char *const *secrets) {
  size_t count = secrets_count(secrets);
  if (*msg == NULL || count == 0) return;
  /* longest first, so a secret inside another leaves no fragment of it */
  char *done = lm_malloc(count);
  memset(done, 0, count);
  for (size_t round = 0; round < count; round++) {
    size_t best = count;
    for (size_t i = 0; i < count; i++)
      if (!done[i] && (best == count || strlen(secrets[i]) > strlen(secrets[best]))) best = i;
    done[best] = 1;
    redact_one(msg, secrets[best]);
  }
  free(done);
}

void lm_err_redact(struct lm_err *e, char *const *secrets) {
  lm_redact(&e->message, secrets);
  lm_redact(&e->sql, secrets);
}

/* The value after each "password" keyword in text ("password=PW",
 * "sslpassword = 'P W'", "?password=PW&"): a safety net for strings the
 * parser refuses or reads differently than their writer meant. */
static void guess_keyword_secrets(const char *text, char ***list) {
  for (const char *p = strstr(text, "password"); p != NULL; p = strstr(p + 1, "password")) {
    const char *v = p + 8;
    while (*v == ' ' || *v == '\t') v++;
    if (*v != '=') continue;
    v++;
    while (*v == ' ' || *v == '\t') v++;
    if (*v == '\'') {                                 /* libpq's quoted value, \' inside */
      struct lm_buf b = LM_BUF_INIT;
      const char *raw = ++v;
      for (; *v && *v != '\''; v++) {
        if (*v == '\\' && v[1]) v++;
        lm_buf_addc(&b, *v);
      }
      if (b.len > 0) lm_secrets_add(list, b.data, b.len);
      lm_secrets_add(list, raw, (size_t)(v - raw));   /* as written, escapes and all */
      lm_buf_release(&b);
    } else {
      lm_secrets_add(list, v, strcspn(v, " \t\r\n&#"));
    }
  }
}

/* What looks like userinfo's password: after the scheme and slashes, the
 * text up to an '@' (the first and the last), after its first ':'. */
static void guess_userinfo_secrets(const char *text, char ***list) {
  const char *r = text + strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
  r = (*r == ':') ? r + 1 : text;
  r += strspn(r, "/");
  const char *first = strchr(r, '@'), *last = strrchr(r, '@');
  const char *ends[2] = {first, last};
  for (int i = 0; i < 2; i++) {
    if (ends[i] == NULL) continue;
    const char *colon = memchr(r, ':', (size_t)(ends[i] - r));
    if (colon != NULL) lm_secrets_add(list, colon + 1, (size_t)(ends[i] - colon - 1));
  }
}

/* Both guesses, on the text and on its percent-decoded form ("pass%77ord="
 * is a password keyword too). They only ever add to what is redacted. */
static void guess_secrets(const char *text, char ***list) {
  guess_userinfo_secrets(text, list);
  guess_keyword_secrets(text, list);
  struct lm_buf decoded = LM_BUF_INIT;
  percent_decode(&decoded, text, strlen(text));
  if (decoded.data != NULL && strcmp(decoded.data, text) != 0) {
    guess_userinfo_secrets(decoded.data, list);
    guess_keyword_secrets(decoded.data, list);
  }
  lm_buf_release(&decoded);
}

char **lm_url_secrets(const char *text) {
  char **list = NULL;
  struct lm_url u;
  struct lm_err e = LM_ERR_INIT;
  if (lm_url_parse(text, &u, &e) == LM_OK) {
    list = u.secrets;                                 /* the parse's own, guesses included */
    u.secrets = NULL;
    lm_url_release(&u);
  } else {
    guess_secrets(text, &list);
  }
  lm_err_release(&e);
  return list;
}

/* ---- URLs --------------------------------------------------------------- */

/* A URL that could not be read: the reason, never the text (it may hold a
 * password somewhere the reader did not expect one). */
static int url_error(struct lm_url *u, struct lm_err *e, const char *what) {
  lm_err_set(e, LM_ERROR, "invalid database URL (%s); the URL is not shown, as it may "
             "hold a password", what);
  lm_url_release(u);
  return LM_ERROR;
}

/* SQLite URL: the part after "sqlite:" becomes a path. */
static int parse_sqlite(const char *url, const char *rest, struct lm_url *u, struct lm_err *e) {
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
  /* SQLite reads "file:..." as a URI, where "file:" or "?mode=memory" is a
   * database that vanishes at exit and "?mode=ro" cannot migrate: refused,
   * so a path means a file. */
  if (strncmp(path, "file:", 5) == 0)
    return url_error(u, e, "SQLite URI filenames (file:...) are not supported; "
                     "give the file's path (sqlite:app.db, or sqlite:./file:x.db for a name "
                     "that starts with file:)");
  u->driver = &lm_driver_sqlite;
  u->target = lm_strdup(path);
  u->display = lm_strdup(url);                        /* a path: nothing to hide */
  return LM_OK;
}

int lm_url_parse(const char *url, struct lm_url *u, struct lm_err *e) {
  *u = (struct lm_url){0};
  if (*url == '\0') {
    lm_err_set(e, LM_ERROR, "the database URL is empty: give sqlite:PATH or "
               "postgresql://USER@HOST/DBNAME");
    return LM_ERROR;
  }
  size_t scheme_len = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
  if (scheme_len == 0 || url[scheme_len] != ':')
    return url_error(u, e, "expected sqlite:PATH or postgresql://USER@HOST/DBNAME");
  size_t base_len = strcspn(url, "+:");             /* "postgresql+psycopg2" -> "postgresql" */
  const char *rest = url + scheme_len + 1;
  if (base_len == 6 && strncmp(url, "sqlite", 6) == 0)
    return parse_sqlite(url, rest, u, e);
  if ((base_len == 10 && strncmp(url, "postgresql", 10) == 0) ||
      (base_len == 8 && strncmp(url, "postgres", 8) == 0)) {
    if (strncmp(rest, "//", 2) != 0)
      return url_error(u, e, "a PostgreSQL URL starts with postgresql://");
    /* "postgresql://$U:$P@$H/$D" with the variables unset: libpq would
     * take its defaults and connect to some other database */
    size_t authority = strcspn(rest + 2, "/?#");
    const char *at = memchr(rest + 2, '@', authority);
    if (at != NULL && (at == rest + 2 || rest[2] == ':'))
      return url_error(u, e, "the user name before '@' is empty (an unset shell variable?); "
                       "write the user, or leave out the '@' to use libpq's default");
    if (at != NULL && at[-1] == ':')
      return url_error(u, e, "the password after ':' is empty (an unset shell variable?); "
                       "write the password, or leave out the ':' to connect without one");
    if (lm_pg_load(e) != LM_OK) return LM_ERROR;     /* libpq: on first use only */
    u->driver = &lm_driver_postgresql;
    u->target = lm_asprintf("postgresql:%s", rest);   /* libpq takes no +driver */
    guess_secrets(url, &u->secrets);
    if (u->driver->parse_url(u, e) != LM_OK) {
      lm_url_release(u);
      return LM_ERROR;
    }
    const char *tail = strstr(u->display, "://");   /* the scheme as the user spelt it */
    if (tail != NULL) {
      char *display = lm_asprintf("%.*s%s", (int)scheme_len, url, tail);
      free(u->display);
      u->display = display;
    }
    /* A field libpq reads as something else (a dbname holding
     * "password=PW" when the '?' is missing) may still hold what its
     * writer meant as a password: the display goes through the redactor. */
    lm_redact(&u->display, u->secrets);
    return LM_OK;
  }
  /* The scheme alone is shown, and only when "://" follows it: before a
   * ':' without "//" there may be a user name and password (u:PW@host). */
  if (strncmp(rest, "//", 2) == 0 && base_len <= 32) {
    lm_err_set(e, LM_ERROR, "unknown database URL scheme '%.*s': luamig supports sqlite: and "
               "postgresql:// URLs", (int)base_len, url);
    lm_url_release(u);
    return LM_ERROR;
  }
  return url_error(u, e, "expected sqlite:PATH or postgresql://USER@HOST/DBNAME");
}

int lm_url_with_dbname(const char *url, const char *dbname, char **out, struct lm_err *e) {
  struct lm_url u;
  *out = NULL;
  if (lm_url_parse(url, &u, e) != LM_OK) return LM_ERROR;
  int rc = u.driver->with_dbname != NULL
    ? u.driver->with_dbname(&u, dbname, out, e)
    : lm_err_set(e, LM_ERROR, "a %s URL names no database on a server", u.driver->name);
  if (rc != LM_OK) lm_err_redact(e, u.secrets);
  lm_url_release(&u);
  return rc;
}

void lm_url_release(struct lm_url *u) {
  if (u == NULL) return;
  free(u->target);
  free(u->display);
  lm_secrets_free(u->secrets);
  *u = (struct lm_url){0};
}

int lm_db_connect(const char *url, struct lm_conn **out, struct lm_err *e) {
  struct lm_url u;
  *out = NULL;
  if (lm_url_parse(url, &u, e) != LM_OK) return LM_ERROR;
  int rc = u.driver->open(&u, out, e);
  if (rc != LM_OK) lm_err_redact(e, u.secrets);
  lm_url_release(&u);
  return rc;
}

void lm_conn_release(struct lm_conn *c) {
  if (c == NULL) return;
  free(c->display);
  lm_secrets_free(c->secrets);
  c->display = NULL;
  c->secrets = NULL;
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
  /* SQLite has no escape for a CR, and its shell drops a CR that ends an
   * input line, inside a literal too: a script run with sqlite3 < FILE would
   * store "a\nb" for "a\r\nb". Each CR is written as char(13) then, in
   * parentheses so that the result is one operand */
  int cr_apart = strcmp(dialect, "sqlite") == 0 && memchr(s, '\r', len) != NULL;
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_adds(&b, cr_apart ? "('" : escape_backslash ? "E'" : "'");
  for (size_t i = 0; i < len; i++) {
    if (cr_apart && s[i] == '\r') {
      lm_buf_adds(&b, "' || char(13) || '");
      continue;
    }
    if (s[i] == '\'' || (escape_backslash && s[i] == '\\')) lm_buf_addc(&b, s[i]);
    lm_buf_addc(&b, s[i]);
  }
  lm_buf_adds(&b, cr_apart ? "')" : "'");
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
