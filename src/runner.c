/*
 * runner.c -- plan and apply a run (see runner.h).
 *
 * Safety, in order of defence:
 *  1. A run lock held for the whole run, across transactions and the
 *     autocommit of transactional = false steps, through the driver
 *     (db.h's lock): a session advisory lock on PostgreSQL, polled so
 *     that a step running CREATE INDEX CONCURRENTLY cannot deadlock
 *     against a waiting runner; an flock on "<db>-luamig.lock" beside a
 *     SQLite file. A second run waits up to lock_timeout, then sees the
 *     new state. SQLite statements also wait up to lock_timeout for
 *     another process's lock on the file (the busy timeout).
 *  2. Without a run lock (SQLite in a read-only directory) the version
 *     rows are read again before each step; if another run moved them,
 *     the plan is made again from what is there.
 *  3. Every version write is compare-and-set (version.c), so even a runner
 *     without the lock cannot record a step twice: its transaction fails.
 * When the database ends a step's transaction itself (a lost connection,
 * SQLite's own rollback after a full disk), the message says so, that
 * nothing of the step was committed, and where the database is.
 */
#include "runner.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "version.h"

#define LOCK_POLL_MS 100

/* Ctrl-C (lm_run_interrupt): the flag, and the connection whose statement
 * to stop. Written by a signal handler, read between and after steps. */
static volatile sig_atomic_t interrupted;
static struct lm_conn *volatile active_conn;

void lm_run_interrupt(void) {
  interrupted = 1;
  struct lm_conn *c = active_conn;
  if (c && c->driver->interrupt) c->driver->interrupt(c);
}

int lm_run_interrupted(void) { return interrupted != 0; }

struct run {
  struct lm_conn *conn;               /* NULL offline */
  struct lm_graph *g;
  const struct lm_run_script *scripts;
  const struct lm_run_opts *o;
  const struct lm_run_hooks *h;
  struct lm_sink sink;
  int in_tx;
  int locked;                         /* the run lock keeps other runs out */
  int lock_held;                      /* ... and must be released */
  int purge;                          /* stamp --purge: empty the table in the first transaction */
  /* Where a failed run leaves the database, for its last words. */
  int step_started;                   /* a step began: the run may have moved the database */
  size_t steps_done;                  /* steps of the plan before the failing one */
  size_t steps_committed;             /* ... of which committed */
  const struct lm_ilist *committed;   /* the rows at luamig's last commit */
  int explained;                      /* the message already says where the database is */
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

/* The run lock, through the driver (a PostgreSQL advisory lock, an flock
 * beside a SQLite file), polled until lock_timeout. SQLite statements wait
 * as long for another process's lock on the database (the busy timeout). */
static int take_lock(struct run *r, struct lm_err *e) {
  const struct lm_driver *d = r->conn->driver;
  if (d->set_busy_timeout) d->set_busy_timeout(r->conn, r->o->lock_timeout_ms);
  int64_t start = now_ms();
  int got = 0, told = 0;
  for (;;) {
    char *holder = NULL;
    if (d->lock(r->conn, r->o->version_table, &got, &holder, e) != LM_OK) return LM_ERROR;
    if (got) {
      free(holder);
      break;
    }
    if (interrupted) {
      free(holder);
      return lm_err_set(e, LM_ERROR, "interrupted (Ctrl-C) while waiting for the migration lock: "
                        "nothing of this run ran");
    }
    if (now_ms() - start >= r->o->lock_timeout_ms) {
      lm_err_set(e, LM_ERROR, "could not take the migration lock within %g s: another luamig "
                 "run (%s) is migrating this database; wait for it to finish, or raise "
                 "lock_timeout", r->o->lock_timeout_ms / 1000.0, holder ? holder : "unknown");
      free(holder);
      return LM_ERROR;
    }
    if (!told) {
      say(r, "INFO", "Waiting for another luamig run (%s) to release the migration lock...",
          holder ? holder : "unknown");
      told = 1;
    }
    free(holder);
    sleep_ms(LOCK_POLL_MS);
  }
  r->locked = got == 1;                               /* -1: none to be had (driver's say) */
  r->lock_held = got == 1;
  if (told) say(r, "INFO", "Took the migration lock.");
  return LM_OK;
}

static void release_lock(struct run *r) {
  if (!r->lock_held) return;
  r->lock_held = r->locked = 0;
  r->conn->driver->unlock(r->conn, r->o->version_table);
}

/* ---- plans ---- */

static const char *rev_id(struct run *r, int rev) { return r->g->revs[rev].id; }

/* "a, b" from a list of revision indices. Caller frees. */
static char *join_ids(struct run *r, const struct lm_ilist *l) {
  struct lm_buf b = LM_BUF_INIT;
  for (size_t i = 0; i < l->n; i++) lm_buf_printf(&b, "%s%s", i ? ", " : "", rev_id(r, l->v[i]));
  return lm_buf_detach(&b);
}

/* What `luamig stamp` takes to record step s as done: the revisions it
 * leads to (a downgrade's parents, not the revision it reverts), "base"
 * when none. */
static char *stamp_args(struct run *r, const struct lm_step *s) {
  struct lm_buf b = LM_BUF_INIT;
  for (size_t i = 0; i < s->to.n; i++) lm_buf_printf(&b, "%s%s", i ? " " : "", rev_id(r, s->to.v[i]));
  if (s->to.n == 0) lm_buf_adds(&b, "base");
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
  return s->stamp ? LM_LOG_STAMP : s->upgrade ? LM_LOG_UPGRADE : LM_LOG_DOWNGRADE;
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

/* The version rows as the database holds them now, for messages ("a, b",
 * "base"); NULL when they cannot be read (a lost connection). Caller frees. */
static char *rows_now(struct run *r) {
  if (r->conn == NULL) return NULL;
  char **rows;
  size_t n;
  struct lm_err ignored = LM_ERR_INIT;
  int rc = lm_version_read(r->conn, r->o->version_table, &rows, &n, &ignored);
  lm_err_release(&ignored);
  if (rc != LM_OK) return NULL;
  struct lm_buf b = LM_BUF_INIT;
  for (size_t i = 0; i < n; i++) lm_buf_printf(&b, "%s%s", i ? ", " : "", rows[i]);
  if (n == 0) lm_buf_adds(&b, "base");
  lm_version_rows_free(rows, n);
  return lm_buf_detach(&b);
}

/* "the version table still says X": what it says now, read again, so a
 * message never states rows the table does not hold. expected: the rows
 * luamig last committed. */
static void say_rows(struct run *r, struct lm_buf *b, const struct lm_ilist *expected) {
  char *want = join_ids(r, expected), *now = rows_now(r);
  if (*want == '\0') {
    free(want);
    want = lm_strdup("base");
  }
  if (now == NULL)
    lm_buf_printf(b, "the version table said %s at luamig's last commit (it cannot be read "
                  "now)", want);
  else if (strcmp(now, want) == 0)
    lm_buf_printf(b, "the version table still says %s", now);
  else
    lm_buf_printf(b, "the version table says %s (another run changed it from %s)", now, want);
  free(want);
  free(now);
}

/* The database ended the step's transaction itself (driver's lost(): the
 * connection went, or SQLite rolled back after a full disk): nothing of
 * the step was committed, nor of any step since luamig's last commit. at
 * commit: the failure came from COMMIT, whose fate the client may not know. */
static void explain_lost(struct run *r, const struct lm_step *s, const char *why, int at_commit,
                         const struct lm_ilist *committed, struct lm_err *e) {
  char *label = step_label(r, s);
  char *now = rows_now(r);
  char *last = join_ids(r, committed);
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_printf(&b, "%s: %s\n%s. ", label, e->message ? e->message : "failed", why);
  if (at_commit) {
    /* the COMMIT was sent: the server may have committed before the
     * connection went, and only the version table can tell */
    char *target = join_ids(r, &s->rows);
    if (now != NULL)
      lm_buf_printf(&b, "This happened during COMMIT; the version table now says %s (%s if the "
                    "step was committed, %s if not). ", *now ? now : "base",
                    *target ? target : "base", *last ? last : "base");
    else
      lm_buf_printf(&b, "This happened during COMMIT, so luamig cannot tell whether the step was "
                    "committed: the database is at %s if it was, or at %s if it was not; "
                    "`luamig current` says which. ", *target ? target : "base", *last ? last : "base");
    lm_buf_printf(&b, "Either way running the same command again is safe: it starts from where "
                  "the database is.");
    free(target);
  } else {
    lm_buf_printf(&b, "The database rolled the open transaction back: nothing of this step was "
                  "committed, and the database is at %s%s. ", now ? (*now ? now : "base")
                  : (*last ? last : "base"), now ? "" : " (luamig's last commit)");
    char *done = stamp_args(r, s);
    lm_buf_printf(&b, "Running the same command again is safe: it starts from where the database "
                  "is. Do not `luamig stamp %s`: the step did not run.", done);
    free(done);
  }
  lm_err_set(e, LM_ERROR, "%s", b.data);
  lm_buf_release(&b);
  free(label);
  free(now);
  free(last);
  r->explained = 1;
}

/* The driver's reason when the database itself ended the transaction. */
static const char *lost_reason(struct run *r) {
  return r->conn && r->conn->driver->lost ? r->conn->driver->lost(r->conn) : NULL;
}

/* The way out of a step that ran outside a transaction and stopped half
 * way: undo or finish by hand, then run again or record it with stamp. */
static void advise_by_hand(struct run *r, const struct lm_step *s, struct lm_buf *b) {
  char *done = stamp_args(r, s);
  lm_buf_printf(b, ". Check the database, then either undo that part by hand and run again, "
                "or finish it by hand and `luamig stamp %s`.", done);
  free(done);
}

/* Say what a failure inside a step leaves behind. */
static void explain_failure(struct run *r, const struct lm_step *s, int transactional,
                            const struct lm_ilist *committed, struct lm_err *e) {
  char *label = step_label(r, s);
  lm_err_prefix(e, "%s", label);
  if (!transactional) {
    struct lm_buf b = LM_BUF_INIT;
    r->explained = 1;                                 /* say_rows says where */
    const char *why = lost_reason(r);
    lm_buf_printf(&b, "%s\n", e->message);
    if (why) lm_buf_printf(&b, "%s.\n", why);
    lm_buf_printf(&b, "This step ran outside a transaction (transactional = false): what it did "
                  "before the error stays applied, and ");
    say_rows(r, &b, committed);
    advise_by_hand(r, s, &b);
    free(e->message);
    e->message = lm_buf_detach(&b);
  }
  free(label);
}

/* Ctrl-C during a step: its transaction is rolled back (the caller's
 * tx_rollback); outside one, what it did stays. */
static void explain_interrupt(struct run *r, const struct lm_step *s, int transactional,
                              const struct lm_ilist *committed, struct lm_err *e) {
  char *label = step_label(r, s);
  if (transactional) {
    lm_err_set(e, LM_ERROR, "interrupted (Ctrl-C) during %s: the step was rolled back", label);
  } else {
    struct lm_buf b = LM_BUF_INIT;
    lm_buf_printf(&b, "interrupted (Ctrl-C) during %s: this step ran outside a transaction "
                  "(transactional = false): what it did before the interruption stays applied, "
                  "and ", label);
    say_rows(r, &b, committed);
    advise_by_hand(r, s, &b);
    lm_err_set(e, LM_ERROR, "%s", b.data);
    lm_buf_release(&b);
    r->explained = 1;
  }
  free(label);
}

/* A step whose SQL ended the transaction luamig opened for it: nothing is
 * recorded, and the message says what may have stayed. body: the step's
 * own result (its error, if any, is kept in front). */
static void explain_ended_transaction(struct run *r, const struct lm_step *s, int body,
                                      const struct lm_ilist *committed, struct lm_err *e) {
  char *label = step_label(r, s);
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_printf(&b, "%s: ", label);
  r->explained = 1;                                   /* say_rows says where */
  if (body != LM_OK) lm_buf_printf(&b, "%s\n", e->message);
  lm_buf_printf(&b, "its SQL ended the transaction luamig opened for it (a COMMIT or ROLLBACK): "
                "what ran before that may be committed or undone, what ran after it was committed "
                "statement by statement, and ");
  say_rows(r, &b, committed);
  char *done = stamp_args(r, s);
  lm_buf_printf(&b, ", so this revision is not recorded. Mark a step that must manage its own "
                "transactions with transactional = false; check the database, then fix the step "
                "and run again, or finish it by hand and `luamig stamp %s`.", done);
  free(done);
  lm_err_set(e, LM_ERROR, "%s", b.data);
  lm_buf_release(&b);
  free(label);
}

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

/* Apply plan's steps from the first. On a change by another run (seen
 * inside a step's transaction) *replan is set and the caller plans again. */
static int apply(struct run *r, struct lm_plan *plan, int *replan, struct lm_err *e) {
  int per_step = r->o->transaction_per_migration;
  const struct lm_ilist *before = &plan->start;       /* the rows before the current step */
  const struct lm_ilist *committed = &plan->start;    /* the rows at luamig's last commit */
  *replan = 0;
  r->committed = committed;
  r->steps_committed = 0;
  for (size_t i = 0; i < plan->nsteps; i++) {
    const struct lm_step *s = &plan->steps[i];
    r->steps_done = i;
    if (interrupted) {
      char *label = step_label(r, s);
      lm_err_set(e, LM_ERROR, "interrupted (Ctrl-C) before %s", label);
      free(label);
      r->step_started = 1;                            /* say_where: what of the run is committed */
      return LM_ERROR;
    }
    int transactional = s->rev < 0 || s->stamp || r->scripts[s->rev].transactional;
    if (!transactional && r->in_tx) {
      if (tx_commit(r, e) != LM_OK) return LM_ERROR;
      committed = r->committed = before;
      r->steps_committed = i;
    }
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
    announce(r, s);
    r->step_started = 1;
    int64_t t0 = now_ms();
    int body = LM_OK;
    if (!s->stamp && s->rev >= 0) body = r->h->migrate(r->h->ctx, s->rev, s->upgrade, e);
    if (interrupted) {                                /* the statement was stopped, or the body ran out */
      tx_rollback(r);
      explain_interrupt(r, s, transactional, committed, e);
      return LM_ERROR;
    }
    if (r->in_tx && r->conn && !r->conn->driver->in_transaction(r->conn)) {
      const char *why = lost_reason(r);               /* ended: by the database, or the step's SQL */
      if (why) explain_lost(r, s, why, 0, committed, e);
      else explain_ended_transaction(r, s, body, committed, e);
      tx_rollback(r);                                 /* nothing to undo: the driver's state */
      return LM_ERROR;
    }
    if (body != LM_OK) {
      tx_rollback(r);
      explain_failure(r, s, transactional, committed, e);
      return LM_ERROR;
    }
    if (!transactional && r->conn && r->conn->driver->in_transaction(r->conn)) {
      struct lm_err ignored = LM_ERR_INIT;            /* its own BEGIN, never ended */
      r->conn->driver->rollback(r->conn, &ignored);
      lm_err_release(&ignored);
      lm_err_set(e, LM_ERROR, "the step left a transaction of its own open (a BEGIN or "
                 "conn:begin() without its COMMIT); luamig rolled that transaction back");
      explain_failure(r, s, transactional, committed, e);
      return LM_ERROR;
    }
    int64_t ms = now_ms() - t0;
    if (!transactional && tx_begin(r, e) != LM_OK) {
      explain_failure(r, s, transactional, committed, e);
      return LM_ERROR;
    }
    if (record_step(r, before, s, ms, e) != LM_OK) {
      tx_rollback(r);
      const char *why = transactional ? lost_reason(r) : NULL;
      if (why) explain_lost(r, s, why, 0, committed, e);
      else explain_failure(r, s, transactional, committed, e);
      return LM_ERROR;
    }
    if (per_step || !transactional) {
      if (tx_commit(r, e) != LM_OK) {
        const char *why = lost_reason(r);
        if (why) explain_lost(r, s, why, 1, committed, e);
        else explain_failure(r, s, 1, committed, e);
        return LM_ERROR;
      }
      committed = r->committed = &s->rows;
      r->steps_committed = i + 1;
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

/* The last words of a run that failed in a step: what of it is committed
 * and where the database is, read again (luamig's last commit when the
 * table cannot be read). */
static void say_where(struct run *r, struct lm_err *e) {
  if (r->conn == NULL || !r->step_started || r->explained) return;
  char *now = rows_now(r);
  char *last = join_ids(r, r->committed);
  const char *at = now ? (*now ? now : "base") : (*last ? last : "base");
  const char *note = now ? "" : " (luamig's last commit; the table cannot be read now)";
  struct lm_buf b = LM_BUF_INIT;
  size_t n = r->steps_committed, rolled = r->steps_done - n;
  char rolled_text[48];                               /* "the step", "the 3 steps" */
  if (rolled == 1) snprintf(rolled_text, sizeof rolled_text, "the step");
  else snprintf(rolled_text, sizeof rolled_text, "the %zu steps", rolled);
  if (n == 0 && rolled == 0)
    lm_buf_printf(&b, "Nothing of this run is committed: the database is at %s%s, as before the run.",
                  at, note);
  else if (n == 0)
    lm_buf_printf(&b, "Nothing of this run is committed (transaction_per_migration = false: %s "
                  "before it rolled back with it): the database is at %s%s, as before the run.",
                  rolled_text, at, note);
  else if (n == 1)
    lm_buf_printf(&b, "The step before it is committed: the database is at %s%s.", at, note);
  else
    lm_buf_printf(&b, "The %zu steps before it are committed: the database is at %s%s.", n, at, note);
  if (n > 0 && rolled > 0)
    lm_buf_printf(&b, " %c%s after those rolled back with it (transaction_per_migration = false).",
                  'T', rolled_text + 1);
  lm_err_set(e, e->code ? e->code : LM_ERROR, "%s\n%s", e->message ? e->message : "failed", b.data);
  lm_buf_release(&b);
  free(now);
  free(last);
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

  if (!o->plan_only) {
    interrupted = 0;                                  /* a host's earlier Ctrl-C ended its own run */
    active_conn = c;
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
    if ((rc = apply(&r, plan, &replan, e)) != LM_OK) {
      tx_rollback(&r);
      say_where(&r, e);
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
  active_conn = NULL;
  tx_rollback(&r);
  release_lock(&r);
  lm_version_rows_free(rows, nrows);
  return rc;
}
