/*
 * db_lease.c -- lock = "table": the lease row (see db_lease.h). Every
 * statement is the dialect's (struct lm_lease_sql) with the quoted table
 * name put in for {t}; every value is bound.
 */
#include "db_lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *lm_lease_table(const char *version_table) { return lm_asprintf("%s_lock", version_table); }

int lm_lease_supported(const struct lm_conn *c) { return c->driver->dialect->lease != NULL; }

size_t lm_lease_version_table_max(const struct lm_conn *c) {
  size_t max = c->driver->dialect->name_max;
  return max > 5 ? max - 5 : 0;                       /* strlen("_lock") */
}

int lm_lease_version_table_too_long(const struct lm_conn *c, const char *version_table) {
  size_t max = lm_lease_version_table_max(c);
  return max && strlen(version_table) > max;
}

/* sql with {t} replaced by the quoted lease table of version_table. */
static char *statement(const char *sql, const char *version_table, struct lm_err *e) {
  char *name = lm_lease_table(version_table);
  char *q = lm_quote_ident(name, strlen(name), e);
  free(name);
  if (q == NULL) return NULL;
  struct lm_buf b = LM_BUF_INIT;
  for (const char *p = sql; *p;) {
    const char *t = strstr(p, "{t}");
    if (t == NULL) {
      lm_buf_adds(&b, p);
      break;
    }
    lm_buf_printf(&b, "%.*s%s", (int)(t - p), p, q);
    p = t + 3;
  }
  free(q);
  return lm_buf_detach(&b);
}

static const struct lm_lease_sql *sql_of(struct lm_conn *c) { return c->driver->dialect->lease; }

static struct lm_value text(const char *s) {
  return (struct lm_value){.type = s ? LM_TEXT : LM_NULL, .s = s, .len = s ? strlen(s) : 0};
}

static struct lm_value integer(int64_t i) { return (struct lm_value){.type = LM_INTEGER, .i = i}; }

/* Run one statement; *first gets the first column of its first row (0
 * when no row), *found whether there was a row. */
static int one_row(struct lm_conn *c, const char *sql, const char *vt, int n,
                   const struct lm_value *params, int64_t *first, int *found, struct lm_err *e) {
  char *s = statement(sql, vt, e);
  if (s == NULL) return LM_ERROR;
  struct lm_cursor *cur = NULL;
  int rc = c->driver->query(c, s, n, params, &cur, e);
  free(s);
  if (rc != LM_OK) return LM_ERROR;
  *first = 0;
  *found = 0;
  rc = c->driver->next(cur, e);
  if (rc == LM_ROW) {
    struct lm_value v;
    c->driver->column_value(cur, 0, &v);
    *found = 1;
    *first = v.type == LM_INTEGER ? v.i : 0;
  }
  c->driver->cursor_free(cur);
  return rc == LM_ERROR ? LM_ERROR : LM_OK;
}

/* one_row in a transaction of its own whose lock and statement timeouts
 * are ms (the statement waits no longer for a row another transaction
 * holds -- a run with transaction_per_migration = false holds it to its
 * end -- and a killed client's statement does not run on later, which a
 * pooler can do): *busy 1 when it gave up there. In a transaction
 * already, unbounded (SET LOCAL would outlive it into the step). */
static int bounded_row(struct lm_conn *c, const char *sql, const char *vt, int n,
                       const struct lm_value *params, long ms, int64_t *first, int *found,
                       int *busy, struct lm_err *e) {
  *busy = 0;
  if (sql_of(c)->bound == NULL || c->driver->in_transaction(c))
    return one_row(c, sql, vt, n, params, first, found, e);
  char t[32];
  snprintf(t, sizeof t, "%ldms", ms > 0 ? ms : 1);
  struct lm_value p = text(t);
  if (c->driver->begin(c, e) != LM_OK) return LM_ERROR;
  int rc = c->driver->exec(c, sql_of(c)->bound, 1, &p, NULL, e);
  if (rc == LM_OK) rc = one_row(c, sql, vt, n, params, first, found, e);
  if (rc == LM_OK) return c->driver->commit(c, e);
  struct lm_err ignored = LM_ERR_INIT;
  c->driver->rollback(c, &ignored);
  lm_err_release(&ignored);
  if (strcmp(e->sqlstate, "55P03") == 0 || strcmp(e->sqlstate, "57014") == 0) {
    lm_err_release(e);
    *e = (struct lm_err)LM_ERR_INIT;
    *busy = 1;
    *found = 0;
    return LM_OK;
  }
  return LM_ERROR;
}

long lm_lease_row_pid(struct lm_conn *c, const char *vt) {
  if (sql_of(c) == NULL || sql_of(c)->row_pid == NULL) return 0;
  struct lm_err ignored = LM_ERR_INIT;
  char *name = lm_lease_table(vt);
  char *q = lm_quote_ident(name, strlen(name), &ignored);
  free(name);
  int64_t pid = 0;
  int found = 0;
  if (q) {
    struct lm_value p = text(q);
    struct lm_cursor *cur = NULL;
    if (c->driver->query(c, sql_of(c)->row_pid, 1, &p, &cur, &ignored) == LM_OK) {
      if (c->driver->next(cur, &ignored) == LM_ROW) {
        struct lm_value v;
        c->driver->column_value(cur, 0, &v);
        if (v.type == LM_INTEGER) pid = v.i, found = 1;
      }
      c->driver->cursor_free(cur);
    }
  }
  free(q);
  lm_err_release(&ignored);
  return found ? (long)pid : 0;
}

int lm_lease_ensure(struct lm_conn *c, const char *vt, struct lm_err *e) {
  char *s = statement(sql_of(c)->create, vt, e);
  if (s == NULL) return LM_ERROR;
  int rc = c->driver->exec(c, s, 0, NULL, NULL, e);
  free(s);
  if (rc == LM_OK) return LM_OK;
  /* Two runs creating it at once: PostgreSQL's IF NOT EXISTS can still
   * fail on its catalog's unique index (23505) while the other commits. */
  struct lm_lease l;
  struct lm_err again = LM_ERR_INIT;
  int there = lm_lease_read(c, vt, &l, &again) == LM_OK;
  lm_lease_clear(&l);
  lm_err_release(&again);
  if (!there) return LM_ERROR;
  lm_err_release(e);
  *e = (struct lm_err)LM_ERR_INIT;
  return LM_OK;
}

int lm_lease_acquire(struct lm_conn *c, const char *vt, const char *host, long pid,
                     const char *run_id, long lease_ms, long wait_ms, int64_t *token,
                     struct lm_err *e) {
  struct lm_value p[4] = {text(host), integer(pid), text(run_id), integer(lease_ms)};
  int found, busy;
  *token = 0;
  if (bounded_row(c, sql_of(c)->acquire, vt, 4, p, wait_ms, token, &found, &busy, e) != LM_OK)
    return LM_ERROR;
  if (!found) *token = 0;
  return LM_OK;
}

int lm_lease_renew(struct lm_conn *c, const char *vt, int64_t token, const char *run_id,
                   long lease_ms, int *kept, struct lm_err *e) {
  struct lm_value p[3] = {integer(token), text(run_id), integer(lease_ms)};
  int64_t got;
  return one_row(c, sql_of(c)->renew, vt, 3, p, &got, kept, e);
}

void lm_lease_release(struct lm_conn *c, const char *vt, int64_t token, const char *run_id) {
  struct lm_err ignored = LM_ERR_INIT;
  char *s = statement(sql_of(c)->release, vt, &ignored);
  struct lm_value p[2] = {integer(token), text(run_id)};
  if (s) c->driver->exec(c, s, 2, p, NULL, &ignored);
  free(s);
  lm_err_release(&ignored);
}

int lm_lease_break(struct lm_conn *c, const char *vt, int *broken, struct lm_err *e) {
  int64_t token;
  int busy;
  if (bounded_row(c, sql_of(c)->brk, vt, 0, NULL, 5000, &token, broken, &busy, e) != LM_OK)
    return LM_ERROR;
  if (!busy) return LM_OK;
  long pid = lm_lease_row_pid(c, vt);
  char *who = pid ? lm_asprintf("server pid %ld", pid) : lm_strdup("see pg_locks");
  lm_err_set(e, LM_ERROR, "could not break the lease within 5 s: an open transaction (%s) holds "
             "its row -- the holder's run with transaction_per_migration = false keeps it until "
             "that run commits; wait for it, or end that session (pg_terminate_backend) to roll "
             "the run back", who);
  free(who);
  return LM_ERROR;
}

static char *dup_text(const struct lm_value *v) {
  return v->type == LM_NULL ? NULL : v->type == LM_TEXT ? lm_strndup(v->s, v->len) : lm_strdup("?");
}

int lm_lease_read(struct lm_conn *c, const char *vt, struct lm_lease *out, struct lm_err *e) {
  memset(out, 0, sizeof *out);
  char *name = lm_lease_table(vt);
  struct lm_value param = text(name);
  struct lm_cursor *cur = NULL;
  int rc = c->driver->query(c, c->driver->dialect->table_exists_sql, 1, &param, &cur, e);
  free(name);
  if (rc != LM_OK) return LM_ERROR;
  rc = c->driver->next(cur, e);
  c->driver->cursor_free(cur);
  if (rc != LM_ROW) return rc == LM_ERROR ? LM_ERROR : LM_OK;
  char *s = statement(sql_of(c)->read, vt, e);
  if (s == NULL) return LM_ERROR;
  rc = c->driver->query(c, s, 0, NULL, &cur, e);
  free(s);
  if (rc != LM_OK) return LM_ERROR;
  if ((rc = c->driver->next(cur, e)) == LM_ROW) {
    struct lm_value v[8];
    for (int i = 0; i < 8; i++) c->driver->column_value(cur, i, &v[i]);
    out->exists = 1;
    out->host = dup_text(&v[0]);
    out->pid = v[1].type == LM_INTEGER ? (long)v[1].i : 0;
    out->run_id = dup_text(&v[2]);
    out->acquired_at = dup_text(&v[3]);
    out->expires_at = dup_text(&v[4]);
    out->token = v[5].type == LM_INTEGER ? v[5].i : 0;
    out->held = out->expires_at != NULL;
    out->expired = out->held && v[6].type == LM_BOOLEAN && v[6].i;
    out->ms_left = v[7].type == LM_INTEGER ? v[7].i : 0;
  }
  c->driver->cursor_free(cur);
  return rc == LM_ERROR ? LM_ERROR : LM_OK;
}

void lm_lease_clear(struct lm_lease *l) {
  free(l->host);
  free(l->run_id);
  free(l->acquired_at);
  free(l->expires_at);
  memset(l, 0, sizeof *l);
}
