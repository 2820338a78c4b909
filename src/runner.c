/*
 * runner.c -- plan and apply a run (see runner.h): one transaction per
 * step (or one for the run), each step's body, version-table writes and
 * log row committing together. The lock and Ctrl-C are runner_lock.c's,
 * the messages runner_explain.c's (runner_int.h).
 *
 * Safety, in order of defence:
 *  1. A run lock held for the whole run, across transactions and the
 *     autocommit of transactional = false steps, taken by the driver
 *     (db.h's lock; each driver's file says how) or, with lock = "table",
 *     a lease row whose token each version write checks first (a run that
 *     lost its lease cannot commit a step), and polled by runner_lock.c.
 *     A second run waits up to lock_timeout, then sees the
 *     new state. Where the database has a busy timeout, statements also
 *     wait up to lock_timeout for another process's lock on it.
 *  2. Without a run lock (SQLite in a read-only directory, lock = "none") the version
 *     rows are read again before each step; if another run moved them,
 *     the plan is made again from what is there.
 *  3. Every version write is compare-and-set (version.c), so even a runner
 *     without the lock cannot record a step twice: its transaction fails.
 * When the database ends a step's transaction itself (a lost connection,
 * SQLite's own rollback after a full disk), the message says so, that
 * nothing of the step was committed, and where the database is.
 */
#include "runner_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- transactions, online and offline ---- */

static int tx_begin(struct run *r, struct lm_err *e) {
  int rc = lm_sink_begin(&r->sink, e);
  if (rc == LM_OK) r->in_tx = 1;
  r->tx_timeouts_set = 0;
  /* the profile's statement for every migration transaction (Citus's
   * SET LOCAL multi_shard_modify_mode), online and in --sql alike */
  if (rc == LM_OK && r->o->tx_setup != NULL && r->o->tx_setup[0] != '\0')
    rc = lm_sink_exec(&r->sink, r->o->tx_setup, 0, NULL, NULL, e);
  return rc;
}

static int tx_commit(struct run *r, struct lm_err *e) {
  r->in_tx = 0;
  return lm_sink_commit(&r->sink, e);
}

static void tx_rollback(struct run *r) {
  if (!r->in_tx) return;
  r->in_tx = 0;
  lm_sink_rollback(&r->sink);                         /* the step's error is what matters */
}

/* ---- op.autocommit_block: the step's transaction ended and begun again ---- */

static struct run *active;                            /* the run whose step body runs */

int lm_run_step_in_transaction(void) {
  if (active == NULL || !active->step_running) return -1;
  return active->in_tx;
}

int lm_run_autocommit_begin(int *ended, struct lm_err *e) {
  struct run *r = active;
  *ended = 0;
  if (r == NULL || !r->step_running)
    return lm_err_set(e, LM_ERROR, "autocommit_block: only inside a migration's upgrade or "
                      "downgrade while luamig runs it");
  if (r->in_block)
    return lm_err_set(e, LM_ERROR, "autocommit_block: already inside one (blocks do not nest)");
  if (r->in_tx) {
    if (tx_commit(r, e) != LM_OK) return LM_ERROR;
    if (r->conn != NULL) {                            /* offline, COMMIT; is only written: nothing ran */
      r->committed = r->step_before;                  /* the steps before, and this one's start */
      r->steps_committed = r->steps_done;
      r->step_partial = 1;
    }
    r->block_ended_tx = 1;
    r->tx_has_block = 1;                              /* a lock retry cannot undo it now */
    if (r->tx_block_step == NULL) r->tx_block_step = r->step;
    *ended = 1;
    /* the SET LOCAL went with the transaction: the block runs with the
     * script's own timeouts only, a session SET taken back at its end */
    if (lm_run_set_timeouts(r, r->step, 0, e) != LM_OK) return LM_ERROR;
  }
  r->in_block = 1;
  return LM_OK;
}

int lm_run_autocommit_end(long nstatements, int failed, struct lm_err *e) {
  struct run *r = active;
  if (r == NULL || !r->in_block)
    return lm_err_set(e, LM_ERROR, "autocommit_block: not inside one");
  r->in_block = 0;
  int ended = r->block_ended_tx;
  r->block_ended_tx = 0;
  const struct lm_step *s = r->step;
  char *label = lm_run_step_label(r, s);
  r->block_failed = failed;
  if (r->conn == NULL)
    lm_run_say(r, "INFO", "%s: %ld statement%s written outside a transaction (op.autocommit_block)%s",
               label, nstatements, nstatements == 1 ? "" : "s",
               ended ? ": COMMIT; before them and BEGIN; after them in the script" : "");
  else
    lm_run_say(r, "INFO", "%s: %ld statement%s ran outside a transaction (op.autocommit_block)%s%s",
               label, nstatements, nstatements == 1 ? "" : "s", failed ? " before the error in it" : "",
               ended ? "; what the step did before the block is committed" : "");
  free(label);
  /* A transaction for the rest of the step whenever the block ended one,
   * failed or not: a script that catches the block's error (pcall) goes on
   * in it, so the rest of the step and its version row stay atomic. */
  if (!ended) return LM_OK;
  lm_run_reset_timeouts(r, s);
  if (tx_begin(r, e) != LM_OK) return LM_ERROR;
  return lm_run_set_timeouts(r, s, 1, e);
}

/* ---- plans ---- */

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

/* ---- recording a step ---- */

/* A stamp's log rows: one "stamp" row (no checksum) per revision the stamp
 * makes applied or no longer applied -- the closure of the version rows
 * through parents and dependencies, before (the rows before the step)
 * against after (s->rows) -- so that no checksum logged before the stamp
 * counts for a revision it marks applied (lm_version_checksums). *logged:
 * how many rows it wrote. */
static int log_stamp_changes(struct run *r, const struct lm_ilist *before, const struct lm_step *s,
                             int64_t ms, size_t *logged, struct lm_err *e) {
  struct lm_graph *g = r->g;
  struct lm_ilist was = LM_ILIST_INIT, now = LM_ILIST_INIT;
  uint32_t sb = lm_graph_new_stamp(g);
  lm_graph_mark_walk(g, before->v, before->n, WALK_ALL_DOWN, g->mark, sb, &was);
  uint32_t sa = lm_graph_new_stamp(g);
  lm_graph_mark_walk(g, s->rows.v, s->rows.n, WALK_ALL_DOWN, g->mark2, sa, &now);
  int rc = LM_OK;
  *logged = 0;
  for (size_t i = 0; rc == LM_OK && i < was.n; i++)   /* no longer applied */
    if (g->mark2[was.v[i]] != sa && ++*logged)
      rc = lm_version_log(&r->sink, r->o->version_table, rev_id(r, was.v[i]), LM_LOG_STAMP,
                          NULL, ms, r->o->who, e);
  for (size_t i = now.n; rc == LM_OK && i-- > 0;)     /* applied now: parents first */
    if (g->mark[now.v[i]] != sb && ++*logged)
      rc = lm_version_log(&r->sink, r->o->version_table, rev_id(r, now.v[i]), LM_LOG_STAMP,
                          NULL, ms, r->o->who, e);
  lm_ilist_release(&was);
  lm_ilist_release(&now);
  return rc;
}

/* The version-table writes and the log row(s) of one step; before: the
 * version rows before it. */
static int record_step(struct run *r, const struct lm_ilist *before, const struct lm_step *s,
                       int64_t ms, struct lm_err *e) {
  const char *table = r->o->version_table;
  /* lock = "table": the lease must still be ours, checked in this
   * transaction, whose commit it then holds the lease row for */
  if (lm_run_fence(r, e) != LM_OK) return LM_ERROR;
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
    return lm_version_log(&r->sink, table, rev_id(r, s->rev), lm_run_direction(s),
                          s->stamp ? NULL : r->scripts[s->rev].checksum, ms, r->o->who, e);
  size_t logged;
  if (log_stamp_changes(r, before, s, ms, &logged, e) != LM_OK) return LM_ERROR;
  if (logged) return LM_OK;
  for (size_t i = 0; i < s->to.n || i == 0; i++) {    /* nothing moved: one row per destination */
    const char *rev = s->to.n ? rev_id(r, s->to.v[i]) : NULL;
    if (lm_version_log(&r->sink, table, rev, LM_LOG_STAMP, NULL, ms, r->o->who, e) != LM_OK)
      return LM_ERROR;
    if (s->to.n == 0) break;
  }
  return LM_OK;
}

/* ---- applying ---- */

/* Whether the version rows are still those of want (another run may have
 * moved them: the caller plans again). *same is set. */
static int rows_unchanged(struct run *r, const struct lm_ilist *want, int *same,
                          struct lm_err *e) {
  char **rows;
  size_t n;                                           /* the table exists: a step is planned */
  if (lm_version_read_rows(r->conn, r->o->version_table, &rows, &n, e) != LM_OK) return LM_ERROR;
  *same = rows_equal(r, rows, n, want);
  lm_version_rows_free(rows, n);
  return LM_OK;
}

/* A step that failed on a lost lease, rolled back whole: say so. */
static void say_lease_rollback(const struct run *r, int transactional, struct lm_err *e) {
  if (r->lease_lost && transactional && !r->step_partial)
    lm_err_set(e, LM_ERROR, "%s; nothing of this step was committed", e->message);
}

/* Where the open transaction began, and its attempt (lock retries). */
struct tx_start {
  size_t step;
  const struct lm_ilist *before;                      /* the rows before that step */
  int attempt;
};

/* Step i (s) failed because a lock was not granted (55P03), or in a
 * conflict with a concurrent transaction (40001, 40P01). Returns 1 when
 * the transaction was rolled back and, after the back-off, runs again from
 * its first step (with one transaction for the run, that is every step
 * since luamig's last commit); 0 when the failure stands (e says why it was
 * not retried: attempts used up, or part of the step is committed); -1 on
 * Ctrl-C during the back-off (e says so). */
static int lock_retry(struct run *r, const struct lm_plan *plan, const struct lm_step *s,
                      int transactional, struct tx_start *first, size_t i, struct lm_err *e) {
  const struct lm_run_script *sc = &r->scripts[s->rev];
  int limit = sc->lock_retries > 1 ? sc->lock_retries : 1;
  int kind = lm_run_retry_kind(e);
  /* outside a transaction, or after a block: the script's own timeout */
  int outside = !transactional || r->block_failed || r->tx_has_block;
  char *what = kind == LM_RETRY_LOCK
    ? lm_run_lock_words(e->sql, outside ? sc->own_lock_timeout_ms : sc->ddl_lock_timeout_ms)
    : lm_run_conflict_words(kind);
  int rc = 0;
  if (r->conn == NULL) {
    rc = 0;                                           /* offline nothing waits */
  } else if (!transactional) {
    if (limit > 1)
      lm_err_set(e, LM_ERROR, "%s\n%s; not retried: this step runs outside a transaction "
                 "(%s), so it cannot be rolled back and run again", e->message,
                 what, lm_run_outside_why(r, s));
  } else if (r->step_partial || r->tx_has_block) {
    if (limit > 1)
      lm_err_set(e, LM_ERROR, "%s\n%s; not retried: an op.autocommit_block committed part of %s, "
                 "so it cannot be rolled back and run again", e->message, what,
                 r->step_partial ? "this step" : "this transaction");
  } else if (first->attempt >= limit && kind != LM_RETRY_LOCK) {
    lm_err_set(e, LM_ERROR, "%s\n%s, attempt %d of %d: giving up (lock_retries = %d); each attempt "
               "was rolled back. Other transactions keep %s; run again when they are done, or raise "
               "lock_retries", e->message, what, first->attempt, limit, limit,
               kind == LM_RETRY_DEADLOCK ? "taking locks the step needs while waiting for its own"
                                         : "changing what the step reads or writes");
  } else if (first->attempt >= limit) {
    lm_err_set(e, LM_ERROR, "%s\n%s, attempt %d of %d: giving up (lock_retries = %d); each attempt "
               "was rolled back. Another session holds a lock the statement needs, on a table or on "
               "rows (pg_locks and pg_stat_activity say which); run again when it is done, or raise ddl_lock_timeout "
               "or lock_retries", e->message, what, first->attempt, limit, limit);
  } else {
    long delay = lm_run_backoff_ms(kind == LM_RETRY_LOCK ? sc->ddl_lock_timeout_ms : LM_RETRY_CONFLICT_MS,
                                   first->attempt);
    char *label = lm_run_step_label(r, s);
    struct lm_buf again = LM_BUF_INIT;
    if (first->step < i) {
      char *from = lm_run_step_label(r, &plan->steps[first->step]);
      lm_buf_printf(&again, "; transaction_per_migration = false: the run's transaction is rolled "
                    "back and runs again from %s (%zu steps)", from, i - first->step + 1);
      free(from);
    }
    tx_rollback(r);
    lm_run_say(r, "WARNING", "%s: %s, attempt %d of %d, next in %.1fs%s", label, what,
               first->attempt, limit, delay / 1000.0, again.len ? again.data : "");
    lm_buf_release(&again);
    if (!lm_run_backoff_sleep(delay)) {
      lm_err_set(e, LM_ERROR, "interrupted (Ctrl-C) while waiting to retry %s after its %s: "
                 "the step was rolled back", label, what);
      rc = -1;
    } else {
      first->attempt++;
      lm_err_release(e);
      *e = (struct lm_err)LM_ERR_INIT;
      rc = 1;
    }
    free(label);
  }
  free(what);
  return rc;
}

/* Step i (s) ran its script in a transaction and then its version write
 * or COMMIT failed: a failure of a kind above min_kind (0: any retried
 * kind; LM_RETRY_LOCK: conflicts only, which SERIALIZABLE reports at
 * COMMIT) is retried like the step's own statements. lock_retry's result;
 * 0 for a failure not retried. */
static int retry_after_body(struct run *r, const struct lm_plan *plan, const struct lm_step *s,
                            size_t i, struct tx_start *first, int min_kind, struct lm_err *e) {
  if (r->conn == NULL || s->stamp || s->rev < 0 || lm_run_retry_kind(e) <= min_kind) return 0;
  return lock_retry(r, plan, s, 1, first, i, e);
}

/* COMMIT the run's one transaction (transaction_per_migration = false),
 * whose last step is step i - 1: at the end of the plan, or before a
 * transactional = false step. A 40001/40P01 there (SERIALIZABLE reports
 * most conflicts at COMMIT) rolled the transaction back: it runs again
 * from its first step. Returns 0 when committed, 1 to run again, -1 when
 * the failure stands (e says why, named by that last step). */
static int commit_run_tx(struct run *r, const struct lm_plan *plan, size_t i, struct tx_start *first,
                         const struct lm_ilist *committed, struct lm_err *e) {
  if (tx_commit(r, e) == LM_OK) return 0;
  const struct lm_step *last = i > 0 ? &plan->steps[i - 1] : NULL;
  if (last == NULL) return -1;
  int again = retry_after_body(r, plan, last, i - 1, first, LM_RETRY_LOCK, e);
  if (again != 0) return again;
  if (last->stamp || last->rev < 0) return -1;
  const char *why = lm_run_lost_reason(r);
  if (why) lm_run_explain_lost(r, last, why, 1, committed, e);
  else lm_run_explain_failure(r, last, 1, committed, e);
  return -1;
}

/* Apply plan's steps from the first. On a change by another run (seen
 * inside a step's transaction) *replan is set and the caller plans again. */
static int apply(struct run *r, struct lm_plan *plan, int *replan, struct lm_err *e) {
  int per_step = r->o->transaction_per_migration;
  const struct lm_ilist *before = &plan->start;       /* the rows before the current step */
  const struct lm_ilist *committed = &plan->start;    /* the rows at luamig's last commit */
  struct tx_start first = {0, &plan->start, 1};       /* where the open transaction began */
  *replan = 0;
  r->committed = committed;
  r->steps_committed = 0;
  for (size_t i = 0;; i++) {
    if (i == plan->nsteps) {                          /* one transaction for the run: its COMMIT */
      if (!r->in_tx) break;
      int again = commit_run_tx(r, plan, i, &first, committed, e);
      if (again < 0) return LM_ERROR;
      if (again == 0) break;
      goto restart;
    }
    const struct lm_step *s = &plan->steps[i];
    r->steps_done = i;
    if (lm_run_interrupted()) {
      char *label = lm_run_step_label(r, s);
      lm_err_set(e, LM_ERROR, "interrupted (Ctrl-C) before %s", label);
      free(label);
      r->step_started = 1;                            /* say_where: what of the run is committed */
      return LM_ERROR;
    }
    if (lm_run_heartbeat(r, e) != LM_OK) {            /* lock = "table": still ours? */
      r->step_started = 1;
      return LM_ERROR;
    }
    int transactional = s->rev < 0 || s->stamp || r->scripts[s->rev].transactional;
    if (!transactional && r->in_tx) {
      int again = commit_run_tx(r, plan, i, &first, committed, e);
      if (again < 0) return LM_ERROR;
      if (again) goto restart;
      committed = r->committed = before;
      r->steps_committed = i;
      first.attempt = 1;
    }
    if (transactional && !r->in_tx) {
      if (tx_begin(r, e) != LM_OK) return LM_ERROR;
      first.step = i;
      first.before = before;
      r->tx_has_block = 0;
      r->tx_block_step = NULL;
      if (r->purge) {                                 /* stamp --purge: the plan starts empty */
        r->purge = 0;
        if (lm_version_purge(&r->sink, r->o->version_table, e) != LM_OK) {
          tx_rollback(r);
          return LM_ERROR;
        }
      } else if (r->conn && !r->locked) {
        /* Did another run move the rows? Only without the run-wide lock
         * (SQLite in a read-only directory): the lock keeps every other
         * luamig run out, and the compare-and-set writes catch anything else. */
        int same;
        if (rows_unchanged(r, before, &same, e) != LM_OK) {
          tx_rollback(r);
          return LM_ERROR;
        }
        if (!same) {
          tx_rollback(r);
          *replan = 1;
          return LM_OK;
        }
      }
    } else if (!transactional && r->conn && !r->locked) {
      int same;                                       /* the same check, as near as it gets */
      if (rows_unchanged(r, before, &same, e) != LM_OK) return LM_ERROR;
      if (!same) {
        *replan = 1;
        return LM_OK;
      }
    }
    lm_run_announce(r, s);
    r->step_started = 1;
    int64_t t0 = now_ms();
    int body = LM_OK;
    if (!s->stamp && s->rev >= 0) {
      struct run *outer = active;
      active = r;
      r->step = s;
      r->step_before = before;
      r->step_running = 1;
      r->in_block = r->block_ended_tx = r->step_partial = r->block_failed = 0;
      body = lm_run_set_timeouts(r, s, transactional, e);   /* SET LOCAL, or SET ... RESET */
      lm_run_guard_step(r, 1);
      if (body == LM_OK) body = r->h->migrate(r->h->ctx, s->rev, s->upgrade, e);
      lm_run_guard_step(r, 0);
      if (!transactional) lm_run_reset_timeouts(r, s);
      r->step_running = 0;
      active = outer;
      committed = r->committed;                       /* an autocommit block commits */
    }
    if (lm_run_interrupted()) {         /* the statement was stopped, or the body ran out */
      tx_rollback(r);
      lm_run_explain_interrupt(r, s, transactional, committed, e);
      return LM_ERROR;
    }
    if (r->in_tx && r->conn && !r->conn->driver->in_transaction(r->conn)) {
      const char *why = lm_run_lost_reason(r);   /* ended: by the database, or the step's SQL */
      if (why) lm_run_explain_lost(r, s, why, 0, committed, e);
      else lm_run_explain_ended_transaction(r, s, body, committed, e);
      tx_rollback(r);                                 /* nothing to undo: the driver's state */
      return LM_ERROR;
    }
    if (body != LM_OK && lm_run_retry_kind(e)) {
      int again = lock_retry(r, plan, s, transactional, &first, i, e);
      if (again < 0) return LM_ERROR;                 /* Ctrl-C in the back-off */
      if (again) goto restart;
    }
    if (body != LM_OK && strcmp(e->sqlstate, "57014") == 0 && !s->stamp && s->rev >= 0) {
      const struct lm_run_script *sc = &r->scripts[s->rev];
      long lock_ms = transactional && !r->tx_has_block ? sc->ddl_lock_timeout_ms : sc->own_lock_timeout_ms;
      long st_ms = transactional ? sc->statement_timeout_ms : sc->own_statement_timeout_ms;
      if (st_ms > 0 && (lock_ms <= 0 || st_ms <= lock_ms))  /* it may have ended a lock wait */
        lm_err_set(e, LM_ERROR, "%s\nstatement_timeout is not above ddl_lock_timeout: if the "
                   "statement was waiting for a lock, the statement timeout ended the wait first, "
                   "and that is not retried; set statement_timeout above ddl_lock_timeout for "
                   "lock waits to be retried", e->message);
    }
    if (body != LM_OK) {
      tx_rollback(r);
      say_lease_rollback(r, transactional, e);        /* stopped by the lease guard */
      lm_run_explain_failure(r, s, transactional, committed, e);
      return LM_ERROR;
    }
    if (!transactional && r->conn && r->conn->driver->in_transaction(r->conn)) {
      struct lm_err ignored = LM_ERR_INIT;            /* its own BEGIN, never ended */
      r->conn->driver->rollback(r->conn, &ignored);
      lm_err_release(&ignored);
      lm_err_set(e, LM_ERROR, "the step left a transaction of its own open (a BEGIN or "
                 "conn:begin() without its COMMIT); luamig rolled that transaction back");
      lm_run_explain_failure(r, s, transactional, committed, e);
      return LM_ERROR;
    }
    int64_t ms = now_ms() - t0;
    if (!transactional && tx_begin(r, e) != LM_OK) {
      lm_run_explain_failure(r, s, transactional, committed, e);
      return LM_ERROR;
    }
    if (record_step(r, before, s, ms, e) != LM_OK) {
      /* the version row's lock (another session holds it): in the
       * step's transaction, so retried like the step's own statements */
      int again = transactional ? retry_after_body(r, plan, s, i, &first, 0, e) : 0;
      if (again < 0) return LM_ERROR;
      if (again) goto restart;
      tx_rollback(r);
      const char *why = transactional ? lm_run_lost_reason(r) : NULL;
      say_lease_rollback(r, transactional, e);
      if (why) lm_run_explain_lost(r, s, why, 0, committed, e);
      else lm_run_explain_failure(r, s, transactional, committed, e);
      return LM_ERROR;
    }
    if (per_step || !transactional) {
      if (tx_commit(r, e) != LM_OK) {
        /* SERIALIZABLE reports most conflicts at COMMIT: the transaction
         * is gone, so the step runs again like one failed in its body */
        int again = transactional ? retry_after_body(r, plan, s, i, &first, LM_RETRY_LOCK, e) : 0;
        if (again < 0) return LM_ERROR;
        if (again) goto restart;
        const char *why = lm_run_lost_reason(r);
        if (why) lm_run_explain_lost(r, s, why, 1, committed, e);
        else lm_run_explain_failure(r, s, 1, committed, e);
        return LM_ERROR;
      }
      committed = r->committed = &s->rows;
      r->steps_committed = i + 1;
      first.attempt = 1;
    }
    before = &s->rows;
    continue;
  restart:                            /* rolled back: again from the transaction's first step */
    i = first.step - 1;
    before = first.before;
  }
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

static const char *kind_name(int kind) {
  return kind == LM_RUN_UPGRADE ? "upgrade" : kind == LM_RUN_DOWNGRADE ? "downgrade" : "stamp";
}

/* START:END ranges are for --sql only (Alembic's "Range revision not
 * allowed"): online the runner starts from the version rows, and a START
 * that differs from them cannot be honoured. Offline, a downgrade needs
 * one, since there are no rows to start from. */
static int check_targets(struct run *r, struct lm_err *e) {
  const struct lm_run_opts *o = r->o;
  const char *const *t = o->kind == LM_RUN_STAMP ? o->targets : &o->target;
  size_t n = o->kind == LM_RUN_STAMP ? o->ntargets : 1;
  for (size_t i = 0; i < n && r->conn; i++) {
    const char *colon = t[i] ? strchr(t[i], ':') : NULL;
    if (colon == NULL) continue;
    return lm_err_set(e, LM_ERROR, "Range revision not allowed: '%s' is a START:END range, which "
                      "only --sql takes; give a single target (e.g. `luamig %s %s`), or add --sql "
                      "to write the SQL of that range", t[i], kind_name(o->kind),
                      colon[1] ? colon + 1 : o->kind == LM_RUN_DOWNGRADE ? "base" : "head");
  }
  if (r->conn == NULL && o->kind == LM_RUN_DOWNGRADE && o->target && !strchr(o->target, ':'))
    return lm_err_set(e, LM_ERROR, "downgrade with --sql requires <fromrev>:<torev>: offline there "
                      "is no database to start from, so say where it is, e.g. `luamig downgrade "
                      "%s:%s --sql` (`luamig current` on the database gives <fromrev>)",
                      strpbrk(o->target, "+-") ? "<fromrev>" : "head", o->target);
  return LM_OK;
}

int lm_run_current(struct lm_conn *c, const char *version_table, char ***rows, size_t *n,
                   struct lm_err *e) {
  return lm_version_read(c, version_table, rows, n, e);
}

/* A version table without a primary key may hold a row twice; each step
 * moves one row by compare-and-set, so such a table is refused up front
 * (as Alembic does), naming the row, rather than failing mid-run as if a
 * second runner had moved it. rows: sorted. stamp --purge is the way out. */
static int refuse_duplicate_rows(const char *table, char **rows, size_t n, struct lm_err *e) {
  for (size_t i = 1; i < n; i++) {
    if (strcmp(rows[i], rows[i - 1]) != 0) continue;
    size_t times = 2;
    while (i + times - 1 < n && strcmp(rows[i + times - 1], rows[i]) == 0) times++;
    struct lm_buf heads = LM_BUF_INIT;
    for (size_t j = 0; j < n; j++)
      if (j == 0 || strcmp(rows[j], rows[j - 1]) != 0)
        lm_buf_printf(&heads, "%s%s", heads.len ? " " : "", rows[j]);
    lm_err_set(e, LM_ERROR, "the version table '%s' holds the row '%s' %zu times (a table "
               "without a primary key?); it must hold one row per head, so nothing was run: "
               "`luamig stamp --purge %s` rewrites it with one row each (or delete the extra "
               "row by hand)", table, rows[i], times, heads.data);
    lm_buf_release(&heads);
    return LM_ERROR;
  }
  return LM_OK;
}

int lm_run(struct lm_conn *c, struct lm_graph *g, const struct lm_run_script *scripts,
           const struct lm_run_opts *o, const struct lm_run_hooks *h, struct lm_plan *plan,
           struct lm_err *e) {
  struct run r = {
    .conn = c, .g = g, .scripts = scripts, .o = o, .h = h,
    .sink = {.conn = c, .dialect = c ? c->driver->dialect : o->offline_dialect,
             .emit = h->emit, .ctx = h->ctx},
  };
  r.purge = o->kind == LM_RUN_STAMP && o->purge;
  if (check_targets(&r, e) != LM_OK) return LM_ERROR;
  char **rows = NULL;
  size_t nrows = 0;
  int rc = LM_OK;

  if (c == NULL) {                                    /* offline: from base, or START: */
    if ((rc = make_plan(&r, NULL, 0, o->target, plan, e)) != LM_OK || o->plan_only) return rc;
    if (o->kind != LM_RUN_DOWNGRADE && plan->start.n == 0 &&
        lm_version_ensure(&r.sink, o->version_table, e) != LM_OK)
      return LM_ERROR;
    int replan;
    if (apply(&r, plan, &replan, e) != LM_OK) {
      tx_rollback(&r);
      return LM_ERROR;
    }
    return purge_alone(&r, e);
  }

  if (!o->plan_only) lm_run_watch(c);
  if (!o->plan_only && (rc = lm_run_take_lock(&r, e)) != LM_OK) goto cleanup;
  if ((rc = lm_version_read(c, o->version_table, &rows, &nrows, e)) != LM_OK) goto cleanup;
  if (!r.purge && (rc = refuse_duplicate_rows(o->version_table, rows, nrows, e)) != LM_OK)
    goto cleanup;
  if ((rc = make_plan(&r, rows, nrows, o->target, plan, e)) != LM_OK || o->plan_only)
    goto cleanup;
  /* The tables after the plan: a row no script has (a database taken over
   * from Alembic, code older than the database) is refused with nothing
   * written; a downgrade of rows another tool wrote creates the log first. */
  if ((o->kind != LM_RUN_DOWNGRADE || nrows > 0) &&
      (rc = lm_version_ensure(&r.sink, o->version_table, e)) != LM_OK)
    goto cleanup;

  for (int attempt = 0;; attempt++) {
    int replan = 0;
    if ((rc = apply(&r, plan, &replan, e)) != LM_OK) {
      tx_rollback(&r);
      lm_run_say_where(&r, e);
      break;
    }
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
      lm_run_say(&r, "INFO", "Another luamig run applied the rest of this run's steps; nothing "
                 "left to do.");
      break;
    }
    if (is_relative(o->target) || attempt >= 1000) {
      rc = lm_err_set(e, LM_ERROR, "another luamig run changed the version table during this "
                      "run, and the target '%s' is relative to where it started: nothing was "
                      "applied twice; check `luamig current` and run again",
                      o->target ? o->target : "");
      break;
    }
    lm_run_say(&r, "INFO", "Another luamig run moved the version table; planning again from "
               "there.");
    lm_plan_release(plan);
    *plan = (struct lm_plan)LM_PLAN_INIT;
    if ((rc = make_plan(&r, rows, nrows, o->target, plan, e)) != LM_OK) break;
  }

cleanup:
  lm_run_unwatch();
  tx_rollback(&r);
  if (!lm_run_release_lock(&r)) {
    static const char leaked[] = "the advisory lock could not be released: the unlock ran in "
      "another server session (a transaction-pooling pooler), so a pooled session keeps it; "
      "`luamig lock break --yes` ends that session. Set lock = \"table\" for runs through "
      "such a pooler";
    if (rc == LM_OK) rc = lm_err_set(e, LM_ERROR, "%s", leaked);
    else lm_run_say(&r, "WARNING", "%s", leaked);
  }
  lm_version_rows_free(rows, nrows);
  return rc;
}
