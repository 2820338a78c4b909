/*
 * runner.h -- layer 4: plan a run from the graph and the version table,
 * then apply it step by step, under the lock.
 *
 * The runner knows nothing of Lua: the migration bodies are run by a hook
 * the caller provides (the Lua binding calls the script's upgrade or
 * downgrade function). Each step's body, its version-table writes and its
 * log row commit together; offline (--sql) the same steps are rendered
 * through the emit hook instead of run.
 */
#ifndef LUAMIG_RUNNER_H
#define LUAMIG_RUNNER_H

#include "db.h"
#include "graph.h"

/* What the runner needs of each script, indexed like the graph's revisions. */
struct lm_run_script {
  const char *message;     /* may be NULL */
  const char *checksum;    /* SHA-256 hex of the file, for the log */
  int transactional;       /* 0: run in autocommit (transactional = false) */
  int tx_by_profile;       /* 0 by the profile's default (the script does not say) */
  /* PostgreSQL's lock_timeout and statement_timeout for the step's
   * statements (ddl_lock_timeout, statement_timeout: run option, script,
   * project), set at the step's start (runner_retry.c); -1: not set (the
   * database's own), 0: no limit. lock_retries: attempts in all when a
   * lock is not granted (SQLSTATE 55P03); 0 or 1: no retry. */
  long ddl_lock_timeout_ms;
  long statement_timeout_ms;
  int lock_retries;
  /* Outside a transaction (transactional = false, op.autocommit_block),
   * only the script's own header values apply (session SET, then RESET):
   * such statements (CREATE INDEX CONCURRENTLY) cannot be retried, and a
   * project-wide timeout would leave them half done. -1: not set. */
  long own_lock_timeout_ms;
  long own_statement_timeout_ms;
};

struct lm_run_hooks {
  void *ctx;
  /* Run revision rev's upgrade (upgrade = 1) or downgrade body. */
  int (*migrate)(void *ctx, int rev, int upgrade, struct lm_err *e);
  /* A log line: level "INFO" or "WARNING", the text without prefix. */
  void (*log)(void *ctx, const char *level, const char *message);
  /* Offline: one rendered statement or comment. */
  void (*emit)(void *ctx, const char *sql);
};

enum lm_run_kind { LM_RUN_UPGRADE, LM_RUN_DOWNGRADE, LM_RUN_STAMP };

/* The run lock (runner_lock.c): the driver's own (PostgreSQL's session
 * advisory lock, SQLite's file lock), a lease row in "<version_table>_lock"
 * (db_lease.h; PostgreSQL, through a transaction pooler too), or none. */
enum lm_lock_strategy { LM_LOCK_ADVISORY, LM_LOCK_TABLE, LM_LOCK_NONE };

struct lm_run_opts {
  int kind;
  const char *target;                 /* upgrade, downgrade */
  const char *const *targets;         /* stamp: one or more */
  size_t ntargets;
  int purge;                          /* stamp --purge */
  const char *version_table;
  int transaction_per_migration;      /* 0: the whole run is one transaction */
  long lock_timeout_ms;               /* how long to wait for another run */
  int lock_strategy;                  /* enum lm_lock_strategy */
  long lock_lease_ms;                 /* LM_LOCK_TABLE: the lease's length */
  int plan_only;                      /* --plan: compute *plan, run nothing */
  const struct lm_dialect *offline_dialect;   /* non-NULL: --sql, no connection */
  const char *who;                    /* for the log: user@host */
  const char *tx_setup;               /* NULL, or a statement run first in every transaction */
  const char *outside_why;            /* why a tx_by_profile script runs outside a transaction */
};

/* Run (or plan) per o. c may be NULL offline. On return *plan holds the
 * plan computed (caller releases it with lm_plan_release) and, online, the
 * version table is at the last step that committed. */
int lm_run(struct lm_conn *c, struct lm_graph *g, const struct lm_run_script *scripts,
           const struct lm_run_opts *o, const struct lm_run_hooks *h, struct lm_plan *plan,
           struct lm_err *e);

/* op.autocommit_block, from inside a step's body (the migrate hook) of the
 * run in progress: lm_run_autocommit_begin commits the transaction the
 * step runs in (and, with transaction_per_migration = false, the steps
 * before it), so what follows runs outside a transaction; *ended says
 * whether there was one (none in a transactional = false step).
 * lm_run_autocommit_end begins a new transaction for the rest of the step
 * if the block ended one, and logs that nstatements ran outside a
 * transaction; failed: the block stopped at an error -- a transaction is
 * begun then too, so a script that catches that error goes on in one and
 * the rest of the step and its version row stay atomic (the runner's
 * message says when the step failed inside the block). The block runs
 * with the script's own lock timeouts only (runner_retry.c). Offline both
 * go through the sink (COMMIT; ... BEGIN;).
 * Outside a step both fail; lm_run_step_in_transaction says whether a
 * step runs now (-1: no step) in a transaction (1) or not (0). */
int lm_run_autocommit_begin(int *ended, struct lm_err *e);
int lm_run_autocommit_end(long nstatements, int failed, struct lm_err *e);
int lm_run_step_in_transaction(void);

/* Ctrl-C. lm_run_interrupt marks the runs of this process interrupted and
 * asks the statement running on the connection of the run in progress, if
 * any, to stop (db.h's interrupt); it is async-signal-safe, for the luamig
 * command's SIGINT handler. The run then rolls the step back and fails,
 * saying "interrupted (Ctrl-C)" and where the database is. Each online
 * run starts uninterrupted. A library embedding luamig installs no
 * handler and may call it itself. */
void lm_run_interrupt(void);
int lm_run_interrupted(void);
/* Only stop the statement running on the connection of the run in
 * progress, if any, without marking the run interrupted (its step then
 * fails with the database's error); async-signal-safe. For a signal the
 * caller handles its own way (core.trap_interrupts). */
void lm_run_stop_statement(void);

/* The version rows of c, read without creating anything. */
int lm_run_current(struct lm_conn *c, const char *version_table, char ***rows, size_t *n,
                   struct lm_err *e);

#endif
