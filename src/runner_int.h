/*
 * runner_int.h -- what the runner's files share: the state of one run and
 * the functions runner.c calls in its two helpers.
 *
 *   runner.c          plan and apply: one transaction per step, the version
 *                     table's writes and the log (lm_run)
 *   runner_lock.c     the run lock, polled; Ctrl-C (lm_run_interrupt)
 *   runner_lease.c    lock = "table": the lease's heartbeat thread
 *   runner_explain.c  progress lines and the last words of a failed step
 *   runner_retry.c    the step's lock and statement timeouts, and what a
 *                     lock not granted (55P03) needs to be retried
 *
 * runner.c calls both; runner_lock.c calls runner_explain.c (to say it
 * waits); runner_explain.c calls neither.
 */
#ifndef LUAMIG_RUNNER_INT_H
#define LUAMIG_RUNNER_INT_H

#include <stdint.h>
#include <time.h>

#include "runner.h"
#include "version.h"

/* One run: what lm_run was given, and where it stands. */
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
  int64_t lease_token;                /* lock = "table": the lease's fencing token, 0: none */
  char run_id[17];                    /* ... this run's id in the lease row */
  int64_t lease_renewed_ms;           /* ... when it was last renewed (now_ms) */
  int lease_lost;                     /* ... and it is no longer ours */
  struct lm_beat *beat;               /* ... its heartbeat thread (runner_lease.c), or NULL */
  int purge;                          /* stamp --purge: empty the table in the first transaction */
  /* Where a failed run leaves the database, for its last words. */
  int step_started;                   /* a step began: the run may have moved the database */
  size_t steps_done;                  /* steps of the plan before the failing one */
  size_t steps_committed;             /* ... of which committed */
  const struct lm_ilist *committed;   /* the rows at luamig's last commit */
  int explained;                      /* the message already says where the database is */
  /* op.autocommit_block (lm_run_autocommit_begin/end) in the running step */
  const struct lm_step *step;         /* the running step */
  const struct lm_ilist *step_before; /* the rows before the running step */
  int step_running;                   /* the step's body is running */
  int in_block;                       /* inside the block */
  int block_ended_tx;                 /* the block committed the step's transaction */
  int step_partial;                   /* part of the step is committed by a block */
  int block_failed;                   /* the step failed inside the block */
  int tx_has_block;                   /* a block committed part of the open transaction */
  const struct lm_step *tx_block_step; /* the step whose block committed the open transaction */
  int timeout_note;                   /* --sql: the note on timeouts offline is written */
  int tx_timeouts_set;                /* SET LOCAL sent in the open transaction: bit 0 lock_timeout, bit 1 statement_timeout */
};

/* The id of revision rev (an index into the graph). */
static inline const char *rev_id(const struct run *r, int rev) { return r->g->revs[rev].id; }

/* Milliseconds on the monotonic clock. */
static inline int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why step s runs outside a transaction, for the messages that say so:
 * "transactional = false", or the profile's default. */
const char *lm_run_outside_why(const struct run *r, const struct lm_step *s);

/* ---- runner_lock.c ---- */

/* Start watching for Ctrl-C on behalf of an online run on c (the flag
 * cleared), and stop at its end. */
void lm_run_watch(struct lm_conn *c);
void lm_run_unwatch(void);
/* Take the run lock (waiting up to lock_timeout for another run), and
 * release it if taken; r->locked says whether other runs are kept out. */
int lm_run_take_lock(struct run *r, struct lm_err *e);
int lm_run_release_lock(struct run *r);   /* 0: the advisory lock stayed held (a pooler) */
/* lock = "table": renew the lease once a third of it has passed since the
 * last renewal (between steps); lm_run_fence renews it now, inside the
 * step's transaction before its version write (the row stays locked until
 * the commit). Both fail, saying who took it, once the lease is lost. */
int lm_run_heartbeat(struct run *r, struct lm_err *e);
/* lock = "table" with its heartbeat: while a step body runs (on), each
 * statement it sends first checks that the heartbeat has not found the
 * lease lost. */
void lm_run_guard_step(struct run *r, int on);
int lm_run_fence(struct run *r, struct lm_err *e);

/* ---- runner_lease.c ---- */

/* lock = "table": start the lease's heartbeat (a thread renewing it from a
 * second connection every third of lock_lease; none where the driver has
 * no clone, with a warning when it cannot start), whether it found the
 * lease gone, and stop it (before the lease is released). */
void lm_run_beat_start(struct run *r);
int lm_run_beat_lost(struct run *r);
/* The heartbeat's word on the lease's last renewal (*renewed_ms raised to
 * it when later) and, when it found the lease lost, when (*found_ms). */
void lm_run_beat_times(struct run *r, int64_t *renewed_ms, int64_t *found_ms);
void lm_run_beat_stop(struct run *r);

/* ---- runner_retry.c ---- */

/* Set step s's lock_timeout and statement_timeout (PostgreSQL, online or
 * into --sql; nothing elsewhere): SET LOCAL inside its transaction (local),
 * else the script's own values only, as a session SET that
 * lm_run_reset_timeouts takes back (RESET). */
int lm_run_set_timeouts(struct run *r, const struct lm_step *s, int local, struct lm_err *e);
void lm_run_reset_timeouts(struct run *r, const struct lm_step *s);
/* Why a step's transaction failed in a way that a rollback and a new
 * attempt may cure (PostgreSQL's SQLSTATE): LM_RETRY_LOCK for
 * lock_not_available (55P03), LM_RETRY_SERIALIZATION (40001) and
 * LM_RETRY_DEADLOCK (40P01) for a conflict with a concurrent transaction;
 * 0 for any other error. */
enum { LM_RETRY_LOCK = 1, LM_RETRY_SERIALIZATION, LM_RETRY_DEADLOCK };
int lm_run_retry_kind(const struct lm_err *e);
/* `serialization failure (SQLSTATE 40001: ...)`: the words of a conflict
 * kind for the retry's log line and message. Caller frees. */
char *lm_run_conflict_words(int kind);
/* `lock on "orders" not granted in 2s`: the table read from the failed
 * statement sql (may be NULL), lock_ms the step's lock timeout (-1: none
 * set). Caller frees. */
char *lm_run_lock_words(const char *sql, long lock_ms);
/* The table a statement waits on, as PostgreSQL names it (unquoted names
 * folded to lower case), schema-qualified as written; NULL when the
 * statement is not one it reads. Caller frees. */
char *lm_run_locked_table(const char *sql);
/* The back-off before attempt + 1 (attempt >= 1): exponential from half the
 * lock timeout (1 s when none is set), at most 60 s, with jitter of +-25%.
 * A conflict (40001, 40P01) waited for no lock: its back-off starts at
 * LM_RETRY_CONFLICT_MS / 2. */
#define LM_RETRY_CONFLICT_MS 200
long lm_run_backoff_ms(long lock_ms, int attempt);
/* Sleep ms, waking for Ctrl-C: 0 when interrupted. */
int lm_run_backoff_sleep(long ms);
/* "2s", "500ms", "1.5s", "1min": a timeout for messages and SET. */
void lm_run_format_ms(long ms, char *buf, size_t n);

/* ---- runner_explain.c ---- */

/* A log line ("INFO", "WARNING") through the caller's hook. */
void lm_run_say(struct run *r, const char *level, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
/* "a, b" from a list of revision indices. Caller frees. */
char *lm_run_join_ids(struct run *r, const struct lm_ilist *l);
/* The log's direction of a step: upgrade, downgrade or stamp. */
const char *lm_run_direction(const struct lm_step *s);
/* "upgrade 3f2a9c1d8e7b (create users)": the step, for messages. Caller frees. */
char *lm_run_step_label(struct run *r, const struct lm_step *s);
/* "Running upgrade a -> b": the progress line (and offline its comment). */
void lm_run_announce(struct run *r, const struct lm_step *s);
/* The driver's reason when the database itself ended the transaction. */
const char *lm_run_lost_reason(struct run *r);
/* Rewrite e to say what a failed step leaves behind; committed: the rows
 * at luamig's last commit. See each function's comment. */
void lm_run_explain_lost(struct run *r, const struct lm_step *s, const char *why, int at_commit,
                         const struct lm_ilist *committed, struct lm_err *e);
void lm_run_explain_failure(struct run *r, const struct lm_step *s, int transactional,
                            const struct lm_ilist *committed, struct lm_err *e);
void lm_run_explain_interrupt(struct run *r, const struct lm_step *s, int transactional,
                              const struct lm_ilist *committed, struct lm_err *e);
void lm_run_explain_ended_transaction(struct run *r, const struct lm_step *s, int body,
                                      const struct lm_ilist *committed, struct lm_err *e);
/* The last words of a run that failed in a step: where the database is. */
void lm_run_say_where(struct run *r, struct lm_err *e);

#endif
