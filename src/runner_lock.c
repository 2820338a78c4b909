/*
 * runner_lock.c -- what keeps a run to itself and what stops it: the run
 * lock, polled until lock_timeout (the lock itself is the driver's, db.h's
 * lock/unlock: each database's driver file says how it takes it), and
 * Ctrl-C, which marks the runs of the process interrupted and stops the
 * statement of the run in progress.
 */
#include "runner_int.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>

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

void lm_run_watch(struct lm_conn *c) {
  interrupted = 0;                      /* a host's earlier Ctrl-C ended its own run */
  active_conn = c;
}

void lm_run_unwatch(void) { active_conn = NULL; }

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The run lock, through the driver, polled until lock_timeout. Where the
 * database has a busy timeout (set_busy_timeout), its statements wait as
 * long for another process's lock on the database. */
int lm_run_take_lock(struct run *r, struct lm_err *e) {
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
    if (lm_run_interrupted()) {
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
      lm_run_say(r, "INFO", "Waiting for another luamig run (%s) to release the migration "
                 "lock...", holder ? holder : "unknown");
      told = 1;
    }
    free(holder);
    sleep_ms(LOCK_POLL_MS);
  }
  r->locked = got == 1;                               /* -1: none to be had (driver's say) */
  r->lock_held = got == 1;
  if (told) lm_run_say(r, "INFO", "Took the migration lock.");
  return LM_OK;
}

void lm_run_release_lock(struct run *r) {
  if (!r->lock_held) return;
  r->lock_held = r->locked = 0;
  r->conn->driver->unlock(r->conn, r->o->version_table);
}
