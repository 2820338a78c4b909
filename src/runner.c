/*
 * runner.c -- plan and apply a run (see runner.h).
 *
 * Safety, in order of defence:
 *  1. PostgreSQL: a session advisory lock for the whole run, taken by
 *     polling pg_try_advisory_lock so that a step running CREATE INDEX
 *     CONCURRENTLY cannot deadlock against a waiting runner. SQLite: each
 *     transaction is BEGIN IMMEDIATE with the busy timeout raised to
 *     lock_timeout, so a second writer waits.
 *  2. Inside each step's transaction the version rows are read again; if
 *     another run moved them, the plan is made again from what is there.
 *  3. Every version write is compare-and-set (version.c), so even a runner
 *     without the lock cannot apply a step twice: its transaction fails.
 */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "version.h"

#define LOCK_POLL_MS 100

struct run {
  struct lm_conn *conn;               /* NULL offline */
  struct lm_graph *g;
  const struct lm_run_script *scripts;
  const struct lm_run_opts *o;
  const struct lm_run_hooks *h;
  struct lm_sink sink;
  int pg, in_tx, locked;
  int purge;                          /* stamp --purge: empty the table in the first transaction */
  int64_t lock_key;
};

static void say(struct run *r, const char *level, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static void say(struct run *r, const char *level, const char *fmt, ...) {
  if (r->h->log == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  struct lm_err tmp = LM_ERR_INIT;                    /* borrow lm_err's formatter */
  lm_err_setv(&tmp, LM_ERROR, fmt, ap);
  va_end(ap);
  r->h->log(r->h->ctx, level, tmp.message);
  lm_err_release(&tmp);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- transactions, online and offline ---- */

static int tx_begin(struct run *r, struct lm_err *e) {
  int rc = r->conn ? r->conn->driver->begin(r->conn, e)
                   : lm_sink_exec(&r->sink, "BEGIN", 0, NULL, NULL, e);
  if (rc == LM_OK) r->in_tx = 1;
  return rc;
}

static int tx_commit(struct run *r, struct lm_err *e) {
  r->in_tx = 0;
  return r->conn ? r->conn->driver->commit(r->conn, e)
                 : lm_sink_exec(&r->sink, "COMMIT", 0, NULL, NULL, e);
}

static void tx_rollback(struct run *r) {
  if (!r->in_tx) return;
  r->in_tx = 0;
  struct lm_err ignored = LM_ERR_INIT;                /* the step's error is what matters */
  if (r->conn) r->conn->driver->rollback(r->conn, &ignored);
  lm_err_release(&ignored);
}

/* ---- the lock ---- */

static int64_t lock_key_for(const char *table) {
  uint64_t h = 14695981039346656037ULL;               /* FNV-1a of "luamig:" + table */
  for (const char *p = "luamig:"; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  for (const char *p = table; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  return (int64_t)(h >> 1);
}

/* Ask once; *got = 1 when the lock is ours. */
static int try_lock(struct run *r, int *got, struct lm_err *e) {
  struct lm_value key = {.type = LM_INTEGER, .i = r->lock_key};
  struct lm_cursor *cur = NULL;
  const struct lm_driver *d = r->conn->driver;
  if (d->query(r->conn, "SELECT pg_try_advisory_lock($1)", 1, &key, &cur, e) != LM_OK)
    return LM_ERROR;
  int rc = d->next(cur, e);
  struct lm_value v = {.type = LM_NULL};
  if (rc == LM_ROW) d->column_value(cur, 0, &v);
  d->cursor_free(cur);
  if (rc == LM_ERROR) return LM_ERROR;
  *got = v.type == LM_BOOLEAN && v.i;
  return LM_OK;
}

/* The backend holding our advisory lock, for the waiting message; 0 if unknown. */
static long lock_holder(struct run *r) {
  struct lm_value key = {.type = LM_INTEGER, .i = r->lock_key};
  struct lm_cursor *cur = NULL;
  struct lm_err ignored = LM_ERR_INIT;
  const struct lm_driver *d = r->conn->driver;
  long pid = 0;
  if (d->query(r->conn, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
               "AND classid = (($1::bigint >> 32) & 4294967295)::bigint::oid "
               "AND objid = ($1::bigint & 4294967295)::bigint::oid AND objsubid = 1",
               1, &key, &cur, &ignored) == LM_OK) {
    if (d->next(cur, &ignored) == LM_ROW) {
      struct lm_value v;
      d->column_value(cur, 0, &v);
      if (v.type == LM_INTEGER) pid = (long)v.i;
    }
    d->cursor_free(cur);
  }
  lm_err_release(&ignored);
  return pid;
}

static int take_lock(struct run *r, struct lm_err *e) {
  if (!r->pg) {                                       /* SQLite: BEGIN IMMEDIATE waits this long */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA busy_timeout = %ld", r->o->lock_timeout_ms);
    return r->conn->driver->exec(r->conn, sql, 0, NULL, NULL, e);
  }
  r->lock_key = lock_key_for(r->o->version_table);
  /* PostgreSQL 14+: notice a vanished client within a second even during a
   * long statement, so a killed runner's session (and its lock) goes then.
   * Older servers do not know the setting; that is not an error here. */
  struct lm_err ignored = LM_ERR_INIT;
  r->conn->driver->exec(r->conn, "SET client_connection_check_interval = 1000", 0, NULL, NULL,
                        &ignored);
  lm_err_release(&ignored);
  int64_t start = now_ms();
  int got = 0, told = 0;
  for (;;) {
    if (try_lock(r, &got, e) != LM_OK) return LM_ERROR;
    if (got) break;
    long pid = lock_holder(r);
    if (now_ms() - start >= r->o->lock_timeout_ms)
      return lm_err_set(e, LM_ERROR, "could not take the migration lock within %ld s: another "
                        "luamig run (server pid %ld) is migrating this database; wait for it to "
                        "finish, or raise lock_timeout", r->o->lock_timeout_ms / 1000, pid);
    if (!told) {
      say(r, "INFO", "Waiting for another luamig run (server pid %ld) to release the "
          "migration lock...", pid);
      told = 1;
    }
    sleep_ms(LOCK_POLL_MS);
  }
  r->locked = 1;
  if (told) say(r, "INFO", "Took the migration lock.");
  return LM_OK;
}

static void release_lock(struct run *r) {
  if (!r->locked) return;
  r->locked = 0;
  struct lm_err ignored = LM_ERR_INIT;
  struct lm_value key = {.type = LM_INTEGER, .i = r->lock_key};
  r->conn->driver->rollback(r->conn, &ignored);        /* an aborted transaction blocks it */
  r->conn->driver->exec(r->conn, "SELECT pg_advisory_unlock($1)", 1, &key, NULL, &ignored);
  lm_err_release(&ignored);                           /* the session's end frees it anyway */
}

/* ---- plans ---- */

static const char *rev_id(struct run *r, int rev) { return r->g->revs[rev].id; }

/* "a, b" from a list of revision indices. Caller frees. */
static char *join_ids(struct run *r, const struct lm_ilist *l) {
  struct lm_buf b = LM_BUF_INIT;
  for (size_t i = 0; i < l->n; i++) lm_buf_printf(&b, "%s%s", i ? ", " : "", rev_id(r, l->v[i]));
  return lm_buf_detach(&b);
}

static int make_plan(struct run *r, char **rows, size_t nrows, const char *target,
                     struct lm_plan *plan, struct lm_err *e) {
  const char *const *cr = (const char *const *)rows;
  switch (r->o->kind) {
  case LM_RUN_UPGRADE: return lm_graph_upgrade(r->g, cr, nrows, target, plan, e);
  case LM_RUN_DOWNGRADE: return lm_graph_downgrade(r->g, cr, nrows, target, plan, e);
  default:
    return lm_graph_stamp(r->g, cr, nrows, r->o->targets, r->o->ntargets, r->o->purge, plan, e);
  }
}

/* Whether the stored rows are exactly the revisions of want. */
static int rows_equal(struct run *r, char **rows, size_t n, const struct lm_ilist *want) {
  if (n != want->n) return 0;
  for (size_t i = 0; i < want->n; i++) {
    const char *id = rev_id(r, want->v[i]);
    size_t j = 0;
    while (j < n && strcmp(rows[j], id) != 0) j++;
    if (j == n) return 0;
  }
  return 1;
}

/* A target that names revisions by position (+1, -2, head-1) means
 * something else once the rows moved, so it cannot be planned again. */
static int is_relative(const char *target) {
  return target == NULL || strpbrk(target, "+-") != NULL;
}

static const char *direction_name(const struct lm_step *s) {
  return s->stamp ? "stamp" : s->upgrade ? "upgrade" : "downgrade";
}

/* "upgrade 3f2a9c1d8e7b (create users)": the step, for messages. */
static char *step_label(struct run *r, const struct lm_step *s) {
  if (s->rev < 0) {
    char *to = join_ids(r, &s->to);
    char *label = lm_asprintf("stamp %s", *to ? to : "base");
    free(to);
    return label;
  }
  const char *msg = r->scripts[s->rev].message;
  return msg && *msg ? lm_asprintf("%s %s (%s)", direction_name(s), rev_id(r, s->rev), msg)
                     : lm_asprintf("%s %s", direction_name(s), rev_id(r, s->rev));
}

static void announce(struct run *r, const struct lm_step *s) {
  char *from = join_ids(r, &s->from), *to = join_ids(r, &s->to);
  const char *msg = s->rev >= 0 ? r->scripts[s->rev].message : NULL;
  const char *fn = s->stamp ? "stamp_revision" : s->upgrade ? "upgrade" : "downgrade";
  if (r->conn == NULL) {
    struct lm_buf b = LM_BUF_INIT;
    lm_buf_printf(&b, "-- Running %s %s -> %s", fn, from, to);
    r->h->emit(r->h->ctx, b.data);
    lm_buf_release(&b);
  }
  if (msg && *msg) say(r, "INFO", "Running %s %s -> %s, %s", fn, from, to, msg);
  else say(r, "INFO", "Running %s %s -> %s", fn, from, to);
  if (s->rev >= 0 && !s->stamp && !r->scripts[s->rev].transactional)
    say(r, "INFO", "%s %s runs outside a transaction (transactional = false)",
        s->upgrade ? "Upgrade" : "Downgrade", rev_id(r, s->rev));
  free(from);
  free(to);
}

/* The version-table writes and the log row of one step. */
static int record_step(struct run *r, const struct lm_step *s, int64_t ms, struct lm_err *e) {
  const char *table = r->o->version_table;
  for (size_t i = 0; i < s->nops; i++) {
    const struct lm_rowop *op = &s->ops[i];
    const char *from = op->op == LM_ROW_INSERT ? NULL : rev_id(r, op->from);
    const char *to = op->op == LM_ROW_DELETE ? NULL : rev_id(r, op->to);
    int kind = op->op == LM_ROW_INSERT ? LM_VERSION_INSERT
             : op->op == LM_ROW_DELETE ? LM_VERSION_DELETE : LM_VERSION_UPDATE;
    if (lm_version_write(&r->sink, table, kind, from, to, e) != LM_OK) return LM_ERROR;
  }
  if (r->conn == NULL) return LM_OK;                  /* the log records what really ran */
  if (s->rev >= 0)
    return lm_version_log(&r->sink, table, rev_id(r, s->rev), direction_name(s),
                          s->stamp ? NULL : r->scripts[s->rev].checksum, ms, r->o->who, e);
  for (size_t i = 0; i < s->to.n || i == 0; i++) {    /* a stamp: one row per destination */
    const char *rev = s->to.n ? rev_id(r, s->to.v[i]) : NULL;
    if (lm_version_log(&r->sink, table, rev, "stamp", NULL, ms, r->o->who, e) != LM_OK)
      return LM_ERROR;
    if (s->to.n == 0) break;
  }
  return LM_OK;
}

/* Say what a failure inside a step leaves behind. */
static void explain_failure(struct run *r, const struct lm_step *s, int transactional,
                            const struct lm_ilist *rows_before, struct lm_err *e) {
  char *label = step_label(r, s);
  char *at = join_ids(r, rows_before);
  if (transactional) {
    lm_err_prefix(e, "%s", label);
  } else {
    lm_err_prefix(e, "%s", label);
    struct lm_buf b = LM_BUF_INIT;
    lm_buf_printf(&b, "%s\nThis step ran outside a transaction (transactional = false): what "
                  "it did before the error stays applied, and the version table still says %s. "
                  "Check the database, then either undo that part by hand and run again, or "
                  "finish it by hand and `luamig stamp %s`.", e->message, *at ? at : "base",
                  rev_id(r, s->rev));
    free(e->message);
    e->message = lm_buf_detach(&b);
  }
  free(label);
  free(at);
}

/* A step whose SQL ended the transaction luamig opened for it: nothing is
 * recorded, and the message says what may have stayed. body: the step's
 * own result (its error, if any, is kept in front). */
static void explain_ended_transaction(struct run *r, const struct lm_step *s, int body,
                                      const struct lm_ilist *rows_before, struct lm_err *e) {
  char *label = step_label(r, s);
  char *at = join_ids(r, rows_before);
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_printf(&b, "%s: ", label);
  if (body != LM_OK) lm_buf_printf(&b, "%s\n", e->message);
  lm_buf_printf(&b, "its SQL ended the transaction luamig opened for it (a COMMIT or ROLLBACK): "
                "what ran before that may be committed or undone, what ran after it was committed "
                "statement by statement, and the version table still says %s, so this revision is "
                "not recorded. Mark a step that must manage its own transactions with "
                "transactional = false; check the database, then fix the step and run again, or "
                "finish it by hand and `luamig stamp %s`.", *at ? at : "base",
                s->rev >= 0 ? rev_id(r, s->rev) : "REV");
  lm_err_set(e, LM_ERROR, "%s", b.data);
  lm_buf_release(&b);
  free(label);
  free(at);
}

/* Apply plan's steps from the first. On a change by another run (seen
 * inside a step's transaction) *replan is set and the caller plans again. */
static int apply(struct run *r, struct lm_plan *plan, int *replan, struct lm_err *e) {
  int per_step = r->o->transaction_per_migration;
  const struct lm_ilist *before = &plan->start;
  *replan = 0;
  for (size_t i = 0; i < plan->nsteps; i++) {
    const struct lm_step *s = &plan->steps[i];
    int transactional = s->rev < 0 || s->stamp || r->scripts[s->rev].transactional;
    if (!transactional && r->in_tx && tx_commit(r, e) != LM_OK) return LM_ERROR;
    if (transactional && !r->in_tx) {
      if (tx_begin(r, e) != LM_OK) return LM_ERROR;
      if (r->purge) {                                 /* stamp --purge: the plan starts empty */
        r->purge = 0;
        if (lm_version_purge(&r->sink, r->o->version_table, e) != LM_OK) {
          tx_rollback(r);
          return LM_ERROR;
        }
      } else if (r->conn && !r->locked) {
        /* Did another run move the rows? Only without the run-wide lock
         * (SQLite: runners share the work, a transaction at a time). On
         * PostgreSQL the advisory lock keeps every other luamig run out, and
         * the compare-and-set writes catch anything else. */
        char **rows;
        size_t n;                                     /* the table exists: a step is planned */
        if (lm_version_read_rows(r->conn, r->o->version_table, &rows, &n, e) != LM_OK) {
          tx_rollback(r);
          return LM_ERROR;
        }
        int same = rows_equal(r, rows, n, before);
        lm_version_rows_free(rows, n);
        if (!same) {
          tx_rollback(r);
          *replan = 1;
          return LM_OK;
        }
      }
    }
    announce(r, s);
    int64_t t0 = now_ms();
    int body = LM_OK;
    if (!s->stamp && s->rev >= 0) body = r->h->migrate(r->h->ctx, s->rev, s->upgrade, e);
    if (r->in_tx && r->conn && !r->conn->driver->in_transaction(r->conn)) {
      r->in_tx = 0;                                   /* its own COMMIT or ROLLBACK ended ours */
      explain_ended_transaction(r, s, body, before, e);
      return LM_ERROR;
    }
    if (body != LM_OK) {
      tx_rollback(r);
      explain_failure(r, s, transactional, before, e);
      return LM_ERROR;
    }
    int64_t ms = now_ms() - t0;
    if (!transactional && tx_begin(r, e) != LM_OK) return LM_ERROR;
    if (record_step(r, s, ms, e) != LM_OK) {
      tx_rollback(r);
      explain_failure(r, s, transactional, before, e);
      return LM_ERROR;
    }
    if ((per_step || !transactional) && tx_commit(r, e) != LM_OK) {
      explain_failure(r, s, 1, before, e);
      return LM_ERROR;
    }
    before = &s->rows;
  }
  if (r->in_tx && tx_commit(r, e) != LM_OK) return LM_ERROR;
  return LM_OK;
}

/* stamp --purge with no step to carry it (stamp --purge base): empty the
 * table in a transaction of its own. */
static int purge_alone(struct run *r, struct lm_err *e) {
  if (!r->purge) return LM_OK;
  r->purge = 0;
  if (tx_begin(r, e) != LM_OK) return LM_ERROR;
  if (lm_version_purge(&r->sink, r->o->version_table, e) != LM_OK) {
    tx_rollback(r);
    return LM_ERROR;
  }
  return tx_commit(r, e);
}

int lm_run_current(struct lm_conn *c, const char *version_table, char ***rows, size_t *n,
                   struct lm_err *e) {
  return lm_version_read(c, version_table, rows, n, e);
}

int lm_run(struct lm_conn *c, struct lm_graph *g, const struct lm_run_script *scripts,
           const struct lm_run_opts *o, const struct lm_run_hooks *h, struct lm_plan *plan,
           struct lm_err *e) {
  struct run r = {
    .conn = c, .g = g, .scripts = scripts, .o = o, .h = h,
    .sink = {.conn = c, .dialect = c ? c->driver->name : o->offline_dialect,
             .emit = h->emit, .ctx = h->ctx},
  };
  r.pg = strcmp(r.sink.dialect, "postgresql") == 0;
  r.purge = o->kind == LM_RUN_STAMP && o->purge;
  char **rows = NULL;
  size_t nrows = 0;
  int rc = LM_OK;

  if (c == NULL) {                                    /* offline: from base, or START: */
    if ((rc = make_plan(&r, NULL, 0, o->target, plan, e)) != LM_OK || o->plan_only) return rc;
    if (o->kind != LM_RUN_DOWNGRADE && plan->start.n == 0 &&
        lm_version_ensure(&r.sink, o->version_table, e) != LM_OK)
      return LM_ERROR;
    int replan;
    if (apply(&r, plan, &replan, e) != LM_OK) return LM_ERROR;
    return purge_alone(&r, e);
  }

  if (!o->plan_only && (rc = take_lock(&r, e)) != LM_OK) goto cleanup;
  if (!o->plan_only && o->kind != LM_RUN_DOWNGRADE &&
      (rc = lm_version_ensure(&r.sink, o->version_table, e)) != LM_OK)
    goto cleanup;
  if ((rc = lm_version_read(c, o->version_table, &rows, &nrows, e)) != LM_OK) goto cleanup;
  if ((rc = make_plan(&r, rows, nrows, o->target, plan, e)) != LM_OK || o->plan_only)
    goto cleanup;
  if (plan->warning) say(&r, "WARNING", "%s", plan->warning);

  for (int attempt = 0;; attempt++) {
    int replan = 0;
    if ((rc = apply(&r, plan, &replan, e)) != LM_OK) break;
    if (!replan) {
      rc = purge_alone(&r, e);
      break;
    }
    /* Another run moved the rows: see where they are now. */
    struct lm_ilist goal = LM_ILIST_INIT;
    for (size_t i = 0; i < plan->rows.n; i++) lm_ilist_push(&goal, plan->rows.v[i]);
    lm_version_rows_free(rows, nrows);
    rows = NULL;
    if ((rc = lm_version_read(c, o->version_table, &rows, &nrows, e)) != LM_OK) {
      lm_ilist_release(&goal);
      break;
    }
    int done = rows_equal(&r, rows, nrows, &goal);
    lm_ilist_release(&goal);
    if (done) {
      say(&r, "INFO", "Another luamig run applied the rest of this run's steps; nothing left "
          "to do.");
      break;
    }
    if (is_relative(o->target) || attempt >= 1000) {
      rc = lm_err_set(e, LM_ERROR, "another luamig run changed the version table during this "
                      "run, and the target '%s' is relative to where it started: nothing was "
                      "applied twice; check `luamig current` and run again",
                      o->target ? o->target : "");
      break;
    }
    say(&r, "INFO", "Another luamig run moved the version table; planning again from there.");
    lm_plan_release(plan);
    *plan = (struct lm_plan)LM_PLAN_INIT;
    if ((rc = make_plan(&r, rows, nrows, o->target, plan, e)) != LM_OK) break;
  }

cleanup:
  tx_rollback(&r);
  release_lock(&r);
  lm_version_rows_free(rows, nrows);
  return rc;
}
