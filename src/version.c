/*
 * version.c -- the version table and its log (see version.h).
 */
#include "version.h"

#include <stdlib.h>
#include <string.h>

#include "graph.h"

int lm_sink_exec(struct lm_sink *s, const char *sql, int nparams,
                 const struct lm_value *params, int64_t *changes, struct lm_err *e) {
  if (s->conn != NULL)
    return s->conn->driver->exec(s->conn, sql, nparams, params, changes, e);
  char *text = lm_sql_inline(s->dialect, sql, nparams, params, e);
  if (text == NULL) return LM_ERROR;
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_adds(&b, text);
  lm_buf_adds(&b, ";");
  s->emit(s->ctx, b.data);
  lm_buf_release(&b);
  free(text);
  if (changes) *changes = 1;                          /* offline: assume the expected row */
  return LM_OK;
}

int lm_sink_begin(struct lm_sink *s, struct lm_err *e) {
  if (s->conn) return s->conn->driver->begin(s->conn, e);
  return lm_sink_exec(s, "BEGIN", 0, NULL, NULL, e);
}

int lm_sink_commit(struct lm_sink *s, struct lm_err *e) {
  if (s->conn) return s->conn->driver->commit(s->conn, e);
  return lm_sink_exec(s, "COMMIT", 0, NULL, NULL, e);
}

void lm_sink_rollback(struct lm_sink *s) {
  struct lm_err ignored = LM_ERR_INIT;                /* the caller's error is what matters */
  if (s->conn) s->conn->driver->rollback(s->conn, &ignored);
  lm_err_release(&ignored);
}

char *lm_version_log_name(const char *table) {
  size_t n = strlen(table);
  if (n > 8 && strcmp(table + n - 8, "_version") == 0)
    return lm_asprintf("%.*s_log", (int)(n - 8), table);
  return lm_asprintf("%s_log", table);
}

/* How many bytes of name a database that keeps name_max of them keeps:
 * the first name_max, cut back to a character boundary (PostgreSQL's
 * pg_mbcliplen; names are UTF-8). */
static size_t kept(const char *name, size_t name_max) {
  size_t n = strlen(name);
  if (name_max == 0 || n <= name_max) return n;
  n = name_max;
  while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) n--;   /* name[n] continues a character */
  return n;
}

/* A database that truncates a long name silently (PostgreSQL) could make
 * two of the three names luamig derives from a long version_table one
 * name: at 62 bytes "<t>_log" and "<t>_pkc" both become "<t>_", the log
 * table is never created and every step fails; from 63 the primary key
 * takes the table's own name. Refuse such a name up front, saying why.
 * Names truncated to distinct names work as they always have (the
 * database truncates them the same way in every statement). */
static int check_names(const struct lm_dialect *d, const char *table, struct lm_err *e) {
  if (d->name_max == 0) return LM_OK;
  char *names[3] = {lm_strdup(table), lm_version_log_name(table), lm_asprintf("%s_pkc", table)};
  static const char *const what[3] = {"the version table", "its log table", "its primary key"};
  int rc = LM_OK;
  for (int i = 0; i < 3 && rc == LM_OK; i++) {
    for (int j = i + 1; j < 3 && rc == LM_OK; j++) {
      size_t ki = kept(names[i], d->name_max), kj = kept(names[j], d->name_max);
      if (ki == kj && memcmp(names[i], names[j], ki) == 0)
        rc = lm_err_set(e, LM_ERROR, "version_table \"%s\" is too long for %s: %s \"%s\" and "
                        "%s \"%s\" would both be named \"%.*s\" (%s keeps the first %zu bytes "
                        "of a name); use a shorter version_table (%zu bytes or fewer always "
                        "work; %zu or fewer with lock = \"table\")", table, d->title, what[i],
                        names[i], what[j], names[j], (int)ki, names[i], d->title, d->name_max,
                        d->name_max - 2, d->name_max - 5);
    }
  }
  for (int i = 0; i < 3; i++) free(names[i]);
  return rc;
}

static char *quoted(const char *name, struct lm_err *e) {
  return lm_quote_ident(name, strlen(name), e);
}

/* Whether a table of that name is visible (the dialect's catalog query). */
static int table_exists(struct lm_conn *c, const char *table, int *exists, struct lm_err *e) {
  const char *sql = c->driver->dialect->table_exists_sql;
  struct lm_value param = {.type = LM_TEXT, .s = table, .len = strlen(table)};
  struct lm_cursor *cur = NULL;
  *exists = 0;
  if (c->driver->query(c, sql, 1, &param, &cur, e) != LM_OK) return LM_ERROR;
  int rc = c->driver->next(cur, e);
  c->driver->cursor_free(cur);
  if (rc == LM_ERROR) return LM_ERROR;
  *exists = rc == LM_ROW;
  return LM_OK;
}

int lm_version_exists(struct lm_conn *c, const char *table, int *exists, struct lm_err *e) {
  *exists = 0;
  if (check_names(c->driver->dialect, table, e) != LM_OK) return LM_ERROR;
  return table_exists(c, table, exists, e);
}

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int lm_version_read(struct lm_conn *c, const char *table, char ***rows, size_t *n,
                    struct lm_err *e) {
  *rows = NULL;
  *n = 0;
  int exists;
  if (lm_version_exists(c, table, &exists, e) != LM_OK) return LM_ERROR;
  if (!exists) return LM_OK;
  return lm_version_read_rows(c, table, rows, n, e);
}

int lm_version_read_rows(struct lm_conn *c, const char *table, char ***rows, size_t *n,
                         struct lm_err *e) {
  *rows = NULL;
  *n = 0;
  char *q = quoted(table, e);
  if (q == NULL) return LM_ERROR;
  char *sql = lm_asprintf("SELECT version_num FROM %s", q);
  free(q);
  struct lm_cursor *cur = NULL;
  int rc = c->driver->query(c, sql, 0, NULL, &cur, e);
  free(sql);
  if (rc != LM_OK) return LM_ERROR;
  size_t cap = 0;
  while ((rc = c->driver->next(cur, e)) == LM_ROW) {
    struct lm_value v;
    c->driver->column_value(cur, 0, &v);
    if (*n == cap) *rows = lm_realloc(*rows, (cap = cap ? cap * 2 : 4) * sizeof **rows);
    (*rows)[(*n)++] = v.type == LM_TEXT ? lm_strndup(v.s, v.len) : lm_strdup("");
  }
  c->driver->cursor_free(cur);
  if (rc == LM_ERROR) {
    lm_version_rows_free(*rows, *n);
    *rows = NULL;
    *n = 0;
    return LM_ERROR;
  }
  if (*n > 1) qsort(*rows, *n, sizeof **rows, compare_strings);
  return LM_OK;
}

void lm_version_rows_free(char **rows, size_t n) {
  for (size_t i = 0; i < n; i++) free(rows[i]);
  free(rows);
}

int lm_version_ensure(struct lm_sink *s, const char *table, struct lm_err *e) {
  if (check_names(s->dialect, table, e) != LM_OK) return LM_ERROR;
  char *log = lm_version_log_name(table);
  char *pk = lm_asprintf("%s_pkc", table);
  char *qt = quoted(table, e), *ql = qt ? quoted(log, e) : NULL, *qpk = ql ? quoted(pk, e) : NULL;
  int rc = LM_ERROR;
  if (qpk != NULL) {
    char *sql = lm_asprintf("CREATE TABLE IF NOT EXISTS %s (version_num VARCHAR(%d) NOT NULL, "
                            "CONSTRAINT %s PRIMARY KEY (version_num))", qt, LM_REV_ID_MAX, qpk);
    rc = lm_sink_exec(s, sql, 0, NULL, NULL, e);
    free(sql);
    if (rc == LM_OK) {
      sql = lm_asprintf("CREATE TABLE IF NOT EXISTS %s (id %s, revision VARCHAR(64), "
                        "direction VARCHAR(16) NOT NULL, checksum VARCHAR(64), "
                        "applied_at %s NOT NULL DEFAULT CURRENT_TIMESTAMP, "
                        "duration_ms BIGINT, who TEXT)", ql, s->dialect->serial_key_type,
                        s->dialect->timestamp_type);
      rc = lm_sink_exec(s, sql, 0, NULL, NULL, e);
      free(sql);
    }
  }
  free(qt);
  free(ql);
  free(qpk);
  free(log);
  free(pk);
  return rc;
}

static struct lm_value text(const char *s) {
  return (struct lm_value){.type = s ? LM_TEXT : LM_NULL, .s = s, .len = s ? strlen(s) : 0};
}

int lm_version_write(struct lm_sink *s, const char *table, int op, const char *from,
                     const char *to, struct lm_err *e) {
  char *q = quoted(table, e);
  if (q == NULL) return LM_ERROR;
  struct lm_value params[2];
  char *sql;
  int n;
  switch (op) {
  case LM_VERSION_INSERT:
    sql = lm_asprintf("INSERT INTO %s (version_num) VALUES ($1)", q);
    params[0] = text(to);
    n = 1;
    break;
  case LM_VERSION_DELETE:
    sql = lm_asprintf("DELETE FROM %s WHERE version_num = $1", q);
    params[0] = text(from);
    n = 1;
    break;
  default:
    sql = lm_asprintf("UPDATE %s SET version_num = $1 WHERE version_num = $2", q);
    params[0] = text(to);
    params[1] = text(from);
    n = 2;
    break;
  }
  free(q);
  int64_t changes = 0;
  int rc = lm_sink_exec(s, sql, n, params, &changes, e);
  free(sql);
  if (rc != LM_OK) {
    if (op == LM_VERSION_INSERT && e->kind == LM_CONSTRAINT)
      lm_err_set(e, LM_ERROR, "the version table '%s' already holds '%s': another run applied "
                 "it (is a second luamig running without the lock?)", table, to);
    return LM_ERROR;
  }
  if (changes != 1)
    return lm_err_set(e, LM_ERROR, "the version table '%s' changed under this run: expected "
                      "the row '%s' when %s, found %lld (is a second luamig running without "
                      "the lock?)", table, from, op == LM_VERSION_DELETE ? "deleting it" :
                      "updating it", (long long)changes);
  return LM_OK;
}

int lm_version_purge(struct lm_sink *s, const char *table, struct lm_err *e) {
  char *q = quoted(table, e);
  if (q == NULL) return LM_ERROR;
  char *sql = lm_asprintf("DELETE FROM %s", q);
  free(q);
  int rc = lm_sink_exec(s, sql, 0, NULL, NULL, e);
  free(sql);
  return rc;
}

int lm_version_log(struct lm_sink *s, const char *table, const char *revision,
                   const char *direction, const char *checksum, int64_t duration_ms,
                   const char *who, struct lm_err *e) {
  char *log = lm_version_log_name(table);
  char *q = quoted(log, e);
  free(log);
  if (q == NULL) return LM_ERROR;
  char *sql = lm_asprintf("INSERT INTO %s (revision, direction, checksum, duration_ms, who) "
                          "VALUES ($1, $2, $3, $4, $5)", q);
  free(q);
  struct lm_value params[5] = {text(revision), text(direction), text(checksum),
                               {.type = duration_ms < 0 ? LM_NULL : LM_INTEGER, .i = duration_ms},
                               text(who)};
  int rc = lm_sink_exec(s, sql, 5, params, NULL, e);
  free(sql);
  return rc;
}

int lm_version_checksums(struct lm_conn *c, const char *table, char ***revisions,
                         char ***checksums, size_t *n, struct lm_err *e) {
  *revisions = *checksums = NULL;
  *n = 0;
  char *log = lm_version_log_name(table);
  int exists = 0, rc = table_exists(c, log, &exists, e);
  char *q = rc == LM_OK && exists ? quoted(log, e) : NULL;
  free(log);
  if (rc != LM_OK || !exists) return rc;
  if (q == NULL) return LM_ERROR;
  char *sql = lm_asprintf("SELECT l.revision, l.checksum FROM %s l WHERE l.direction IN "
                          "('%s', '%s') AND l.revision IS NOT NULL AND l.checksum IS NOT NULL "
                          "AND NOT EXISTS (SELECT 1 FROM %s m WHERE m.revision = l.revision "
                          "AND m.id > l.id AND m.direction IN ('%s', '%s', '%s', '%s')) "
                          "ORDER BY l.id", q, LM_LOG_UPGRADE, LM_LOG_ACCEPT, q, LM_LOG_UPGRADE,
                          LM_LOG_ACCEPT, LM_LOG_DOWNGRADE, LM_LOG_STAMP);
  free(q);
  struct lm_cursor *cur = NULL;
  rc = c->driver->query(c, sql, 0, NULL, &cur, e);
  free(sql);
  if (rc != LM_OK) return LM_ERROR;
  size_t cap = 0;
  while ((rc = c->driver->next(cur, e)) == LM_ROW) {
    struct lm_value rev, sum;
    c->driver->column_value(cur, 0, &rev);
    c->driver->column_value(cur, 1, &sum);
    if (rev.type != LM_TEXT || sum.type != LM_TEXT) continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      *revisions = lm_realloc(*revisions, cap * sizeof **revisions);
      *checksums = lm_realloc(*checksums, cap * sizeof **checksums);
    }
    (*revisions)[*n] = lm_strndup(rev.s, rev.len);
    (*checksums)[(*n)++] = lm_strndup(sum.s, sum.len);
  }
  c->driver->cursor_free(cur);
  if (rc == LM_ERROR) {
    lm_version_rows_free(*revisions, *n);
    lm_version_rows_free(*checksums, *n);
    *revisions = *checksums = NULL;
    *n = 0;
    return LM_ERROR;
  }
  return LM_OK;
}
