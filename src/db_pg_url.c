/*
 * db_pg_url.c -- the PostgreSQL driver's URLs, read with libpq's own
 * parser (PQconninfoParse) without connecting: the form shown in messages
 * (every password as "***"), the passwords to redact, and the same URL
 * naming another database. db_pg.c is the rest of the driver; they and
 * db_pg_int.h are the only files that include <libpq-fe.h>.
 */
#include "db.h"
#include "db_pg_int.h"

#include <stdlib.h>
#include <string.h>

/* Trim libpq's trailing newline from a message; caller frees. */
char *lm_pg_trimmed(const char *msg) {
  if (msg == NULL) msg = "libpq gave no message";   /* a broken or stub libpq */
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
  return lm_strndup(msg, n);
}

/* libpq's reason for refusing a connection string, without the parts of
 * the string it quotes (they may hold the password). libpq quotes its
 * subject last, as 'reason: "subject"', or, in the keyword=value form's
 * messages, as a whitespace-free '"token"' inside the sentence; its own
 * fixed tokens and the one character it names are one character long
 * ('missing "=" after', 'unexpected character "@" at position 9'). The
 * first is cut, the second replaced by "...". Caller frees. */
static char *libpq_reason(const char *msg) {
  char *m = lm_pg_trimmed(msg);
  char *subject = strstr(m, ": \"");
  if (subject != NULL) *subject = '\0';
  struct lm_buf b = LM_BUF_INIT;
  for (const char *p = m; *p; ) {
    if (*p != '"') {
      lm_buf_addc(&b, *p++);
      continue;
    }
    size_t run = strcspn(p + 1, " \t\r\n") + 1;       /* the whitespace-free run from the quote */
    size_t close = run - 1;
    while (close > 0 && p[close] != '"') close--;
    if (close == 2) {                                 /* "X": libpq's, or one character */
      lm_buf_add(&b, p, 3);
      p += 3;
    } else {
      lm_buf_adds(&b, "\"...\"");
      p += run;
    }
  }
  free(m);
  if (b.len == 0) lm_buf_adds(&b, "libpq cannot read it");
  return lm_buf_detach(&b);
}

static const char *option(const PQconninfoOption *opts, const char *keyword) {
  for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
    if (strcmp(o->keyword, keyword) == 0) return o->val;
  return NULL;
}

static size_t list_count(const char *list) {
  size_t n = 1;
  for (const char *p = list; *p; p++) n += *p == ',';
  return n;
}

/* The URL for messages, rebuilt from libpq's fields: every option whose
 * libpq display character is "*" (password, sslpassword) shown as "***".
 * Hosts and ports go in the authority when they pair up and none is a
 * socket directory, else in the query as libpq's host= and port=. */
static char *display_url(const PQconninfoOption *opts) {
  const char *user = option(opts, "user"), *password = option(opts, "password");
  const char *host = option(opts, "host"), *port = option(opts, "port");
  const char *dbname = option(opts, "dbname");
  int authority_hosts = (host == NULL || strchr(host, '/') == NULL) &&
    (port == NULL || (host != NULL && list_count(port) == list_count(host)) ||
     (host == NULL && strchr(port, ',') == NULL));
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_adds(&b, "postgresql://");
  if (user || password) {
    /* percent-encoded where the user name would read as URL syntax: a
     * user "app:pw" must not display as user "app" with a password */
    for (const char *c = user ? user : ""; *c; c++) {
      if (strchr(":@/?#%", *c) != NULL || (unsigned char)*c <= ' ') lm_buf_printf(&b, "%%%02X", (unsigned char)*c);
      else lm_buf_addc(&b, *c);
    }
    if (password) lm_buf_adds(&b, ":***");
    lm_buf_addc(&b, '@');
  }
  if (authority_hosts) {
    const char *h = host ? host : "", *p = port ? port : "";
    do {
      size_t hn = strcspn(h, ","), pn = strcspn(p, ",");
      int v6 = memchr(h, ':', hn) != NULL;
      lm_buf_printf(&b, "%s%.*s%s", v6 ? "[" : "", (int)hn, h, v6 ? "]" : "");
      if (pn > 0) lm_buf_printf(&b, ":%.*s", (int)pn, p);
      h += hn + (h[hn] == ',');
      p += pn + (p[pn] == ',');
      if (*h) lm_buf_addc(&b, ',');
    } while (*h);
  }
  if (dbname) lm_buf_printf(&b, "/%s", dbname);
  char sep = '?';
  for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
    const char *k = o->keyword;
    if (o->val == NULL || strcmp(k, "user") == 0 || strcmp(k, "password") == 0 ||
        strcmp(k, "dbname") == 0 ||
        (authority_hosts && (strcmp(k, "host") == 0 || strcmp(k, "port") == 0)))
      continue;
    lm_buf_printf(&b, "%c%s=%s", sep, k, o->dispchar[0] == '*' ? "***" : o->val);
    sep = '&';
  }
  return lm_buf_detach(&b);
}

/* Fields a URL can only have when a password or user name held a
 * character that must be percent-encoded: libpq ends the userinfo at the
 * first '@' or '/', so "u:p@ss@h" gives the host "ss@h" and "u:pa/ss@h"
 * the port "pa". Such a URL is refused, unquoted. NULL when all is well. */
static const char *misread_fields(const PQconninfoOption *opts, const char *target) {
#define ENCODE_HINT "a user name or password holding / @ : ? # or a space must be " \
  "percent-encoded, e.g. @ as %40 and / as %2F"
  const char *host = option(opts, "host"), *port = option(opts, "port");
  for (const char *p = port ? port : ""; *p; ) {
    size_t n = strcspn(p, ",");                       /* one port per host */
    size_t digits = strspn(p, "0123456789");
    if (n == 0 || digits != n || n > 5 || atoi(p) > 65535)
      return "invalid port number: a port is a number up to 65535, and " ENCODE_HINT;
    p += n + (p[n] == ',');
  }
  for (const char *h = host ? host : ""; *h; ) {
    size_t n = strcspn(h, ",");
    if (*h != '/' && *h != '@' && strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789.-_:%[]") < n)
      return "a host name holds a character no host name has; " ENCODE_HINT;   /* "ss@h" */
    h += n + (h[n] == ',');
  }
  const char *auth = strstr(target, "//");
  if (auth != NULL) {
    auth += 2;
    size_t head = strcspn(auth, "?");
    const char *at = memchr(auth, '@', head), *slash = memchr(auth, '/', head);
    if (at != NULL && slash != NULL && slash < at)  /* "u:pa/ss@h" */
      return "an '@' after the first '/' (a database name holding @ must be percent-encoded as "
             "%40); " ENCODE_HINT;
  }
  return NULL;
#undef ENCODE_HINT
}

/* Read the URL with libpq's own parser: its display form and its secrets
 * come from libpq's fields, so they are what libpq will use. */
int lm_pg_parse_url(struct lm_url *u, struct lm_err *e) {
  char *msg = NULL;
  PQconninfoOption *opts = PQconninfoParse(u->target, &msg);
  if (opts == NULL && msg == NULL) return lm_pg_nothing("PQconninfoParse", e);
  if (opts == NULL) {
    char *reason = libpq_reason(msg);
    lm_err_set(e, LM_ERROR, "invalid database URL (%s); the URL is not shown, as it may "
               "hold a password", reason);
    free(reason);
    PQfreemem(msg);
    return LM_ERROR;
  }
  for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
    if (o->val != NULL && o->dispchar[0] == '*') lm_secrets_add(&u->secrets, o->val, strlen(o->val));
  const char *misread = misread_fields(opts, u->target);
  int rc = LM_OK;
  if (misread != NULL)
    rc = lm_err_set(e, LM_ERROR, "invalid database URL (%s); the URL is not shown, as it may "
                    "hold a password", misread);
  else
    u->display = display_url(opts);
  PQconninfoFree(opts);
  return rc;
}

/* b += s percent-encoded as a URI query value or path (RFC 3986
 * unreserved bytes as they are), which libpq decodes back. */
static void add_encoded(struct lm_buf *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~')
      lm_buf_addc(b, (char)c);
    else
      lm_buf_printf(b, "%%%02X", c);
  }
}

/* The same URL on another database: libpq's fields of u, every one but
 * dbname carried over as a query parameter ("postgresql:///DB?host=..."),
 * so nothing is re-read from the text by hand. */
int lm_pg_with_dbname(const struct lm_url *u, const char *dbname, char **out, struct lm_err *e) {
  char *msg = NULL;
  PQconninfoOption *opts = PQconninfoParse(u->target, &msg);
  if (opts == NULL) {
    PQfreemem(msg);
    return lm_err_set(e, LM_ERROR, "invalid database URL; the URL is not shown, as it may hold a password");
  }
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_adds(&b, "postgresql:///");
  add_encoded(&b, dbname);
  char sep = '?';
  for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
    if (o->val == NULL || strcmp(o->keyword, "dbname") == 0) continue;
    lm_buf_printf(&b, "%c%s=", sep, o->keyword);
    add_encoded(&b, o->val);
    sep = '&';
  }
  PQconninfoFree(opts);
  *out = lm_buf_detach(&b);
  return LM_OK;
}
