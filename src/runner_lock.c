/*
 * runner_lock.c -- what keeps a run to itself and what stops it: the run
 * lock, polled until lock_timeout, of the run's strategy (lock setting):
 * "advisory", the driver's (db.h's lock/unlock: each database's driver
 * file says how it takes it); "table", the lease row (db_lease.h), renewed
 * by a heartbeat thread (runner_lease.c), between steps, and inside each
 * step's transaction before its version write (the fencing check);
 * "none", nothing but a warning; and
 * Ctrl-C, which marks the runs of the process interrupted and stops the
 * statement of the run in progress.
 */
#include "runner_int.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db_lease.h"

#define LOCK_POLL_MS 100

/* Ctrl-C (lm_run_interrupt): the flag, and the connection whose statement
 * to stop. Written by a signal handler, read between and after steps. */
static volatile sig_atomic_t interrupted;
static struct lm_conn *volatile active_conn;

void lm_run_stop_statement(void) {
  struct lm_conn *c = active_conn;
  if (c && c->driver->interrupt) c->driver->interrupt(c);
}

void lm_run_interrupt(void) {
  interrupted = 1;
  lm_run_stop_statement();
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

/* lock = "table": this run's id in the lease row, random (the pid and the
 * host name can repeat across a fleet and over time). */
static void make_run_id(char out[17]) {
  unsigned char b[8];
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC), ok = 0;
  if (fd >= 0) {
    ok = read(fd, b, sizeof b) == (ssize_t)sizeof b;
    close(fd);
  }
  if (!ok) {
    uint64_t x = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
    memcpy(b, &x, sizeof b);
  }
  for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Who holds the lease, for messages: "run 3f2a... (db1 pid 42, until ...)". */
static char *lease_holder(struct run *r) {
  struct lm_lease l;
  struct lm_err ignored = LM_ERR_INIT;
  char *who = NULL;
  if (lm_lease_read(r->conn, r->o->version_table, &l, &ignored) == LM_OK && l.held) {
    /* expired yet not taken: an open transaction holds the row (its run
     * with transaction_per_migration = false, alive or not) */
    long row = l.expired ? lm_lease_row_pid(r->conn, r->o->version_table) : 0;
    char tx[96] = "";
    if (row) snprintf(tx, sizeof tx, "; its row held by the open transaction of server pid %ld", row);
    who = lm_asprintf("run %s, %s pid %ld, lease until %s%s", l.run_id, l.host ? l.host : "?",
                      l.pid, l.expires_at ? l.expires_at : "?", tx);
  }
  lm_lease_clear(&l);
  lm_err_release(&ignored);
  return who;
}

/* One try at the run lock of r's strategy: *got as db.h's lock says. */
static int try_lock(struct run *r, int *got, char **holder, struct lm_err *e) {
  if (r->o->lock_strategy != LM_LOCK_TABLE)
    return r->conn->driver->lock(r->conn, r->o->version_table, got, holder, e);
  char host[256] = "?";
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
  host[sizeof host - 1] = '\0';
  struct lm_lease l;                                  /* a read waits for no row lock */
  if (lm_lease_read(r->conn, r->o->version_table, &l, e) != LM_OK) return LM_ERROR;
  int busy = l.held && !l.expired;
  lm_lease_clear(&l);
  *got = 0;
  if (busy) {
    if (holder) *holder = lease_holder(r);
    return LM_OK;
  }
  int64_t token;
  long wait = r->o->lock_timeout_ms < 1000 ? r->o->lock_timeout_ms : 1000;
  int64_t sent = now_ms();                            /* the lease runs from no later than this */
  if (lm_lease_acquire(r->conn, r->o->version_table, host, (long)getpid(), r->run_id,
                       r->o->lock_lease_ms, wait < 50 ? 50 : wait, &token, e) != LM_OK)
    return LM_ERROR;
  *got = token > 0;
  if (*got) {
    r->lease_token = token;
    r->lease_renewed_ms = sent;
  } else if (holder) {
    *holder = lease_holder(r);
  }
  return LM_OK;
}

/* A database that cuts long names (PostgreSQL: 63 bytes) would cut
 * "<t>_lock": another name than `lock status` and `lock break` look for,
 * or the log table's or the version table's own. */
static int refuse_long_lease_name(struct run *r, struct lm_err *e) {
  size_t max = lm_lease_version_table_max(r->conn);
  const char *vt = r->o->version_table;
  if (!lm_lease_version_table_too_long(r->conn, vt)) return 0;
  char *lock = lm_lease_table(vt);
  lm_err_set(e, LM_ERROR, "version_table \"%s\" is too long for lock = \"table\": %s cuts names "
             "to %zu bytes, so its lease table \"%s\" would lose its end; use a version_table of "
             "%zu bytes or fewer (it is %zu), or another lock strategy", vt,
             r->conn->driver->dialect->title, r->conn->driver->dialect->name_max, lock, max, strlen(vt));
  free(lock);
  return 1;
}

/* The advisory lock and a transaction-pooling pooler: the error; taken:
 * the lock was taken (and may be left in a pooled server session). */
static int pooled(struct lm_err *e, const char *why, int taken) {
  return lm_err_set(e, LM_ERROR, "a session advisory lock is not safe through a transaction-pooling "
                    "pooler (PgBouncer pool_mode=transaction): %s, so the lock would not keep "
                    "other runs out; %s. Set lock = \"table\" in luamig.lua (or --lock-strategy "
                    "table) for a lease row instead, or connect directly or through a "
                    "session-pooling pool%s", why, taken ? "this run stopped there" : "nothing was run",
                    taken ? ". If `luamig lock status` still shows the advisory lock held, a pooled "
                    "server session keeps it: `luamig lock break --yes` ends that session" : "");
}

/* lock = "advisory": the statement now (in the step's transaction, when
 * there is one) must run in the server session holding the lock. */
static int check_session(struct run *r, struct lm_err *e) {
  const struct lm_driver *d = r->conn->driver;
  if (!r->lock_held || r->o->lock_strategy == LM_LOCK_TABLE || !d->lock_session) return LM_OK;
  char *why = NULL;
  if (d->lock_session(r->conn, &why, e) != LM_OK) return LM_ERROR;
  if (why == NULL) return LM_OK;
  pooled(e, why, 1);
  free(why);
  return LM_ERROR;
}

/* What the strategy needs before the first try: lock = "none" warns and
 * takes nothing (*done); "table" needs the lease table; "advisory" needs
 * one stable server session, which a transaction-pooling pooler is not. */
static int prepare(struct run *r, int *done, struct lm_err *e) {
  const struct lm_driver *d = r->conn->driver;
  *done = 0;
  switch (r->o->lock_strategy) {
  case LM_LOCK_NONE:
    lm_run_say(r, "WARNING", "lock = \"none\": this run takes no migration lock, so another run "
               "may migrate this database at the same time (the version table's compare-and-set "
               "writes still refuse to record a step twice, but two runs can interleave their "
               "steps' statements); use lock = \"advisory\" or \"table\" unless something else "
               "keeps runs apart");
    *done = 1;
    return LM_OK;
  case LM_LOCK_TABLE:
    if (!lm_lease_supported(r->conn))
      return lm_err_set(e, LM_ERROR, "lock = \"table\" is not offered on %s: its run lock is a "
                        "file lock beside the database, which needs no server session; use lock "
                        "= \"advisory\" (the default) or \"none\"", d->dialect->title);
    if (refuse_long_lease_name(r, e)) return LM_ERROR;
    make_run_id(r->run_id);
    return lm_lease_ensure(r->conn, r->o->version_table, e);
  default:
    if (d->session_stable) {
      int stable;
      char *why = NULL;
      if (d->session_stable(r->conn, &stable, &why, e) != LM_OK) return LM_ERROR;
      if (!stable) {
        pooled(e, why, 0);
        free(why);
        return LM_ERROR;
      }
      if (why)
        lm_run_say(r, "WARNING", "could not check for a transaction-pooling pooler before taking "
                   "the advisory lock: %s; the lock's server session is checked at each step "
                   "instead", why);
      free(why);
    }
    return LM_OK;
  }
}

/* The run lock of r's strategy, polled until lock_timeout. Where the
 * database has a busy timeout (set_busy_timeout), its statements wait as
 * long for another process's lock on the database. */
int lm_run_take_lock(struct run *r, struct lm_err *e) {
  const struct lm_driver *d = r->conn->driver;
  if (d->set_busy_timeout) d->set_busy_timeout(r->conn, r->o->lock_timeout_ms);
  int done;
  if (prepare(r, &done, e) != LM_OK) return LM_ERROR;
  if (done) return LM_OK;                             /* lock = "none": r->locked stays 0 */
  const char *what = r->o->lock_strategy == LM_LOCK_TABLE ? "lease" : "lock";
  int64_t start = now_ms();
  int got = 0, told = 0;
  for (;;) {
    char *holder = NULL;
    if (try_lock(r, &got, &holder, e) != LM_OK) return LM_ERROR;
    if (got) {
      free(holder);
      break;
    }
    if (lm_run_interrupted()) {
      free(holder);
      return lm_err_set(e, LM_ERROR, "interrupted (Ctrl-C) while waiting for the migration %s: "
                        "nothing of this run ran", what);
    }
    if (now_ms() - start >= r->o->lock_timeout_ms) {
      lm_err_set(e, LM_ERROR, "could not take the migration %s within %g s: another luamig "
                 "run (%s) is migrating this database; wait for it to finish, or raise "
                 "lock_timeout (`luamig lock status` shows the holder)", what,
                 r->o->lock_timeout_ms / 1000.0, holder ? holder : "unknown");
      free(holder);
      return LM_ERROR;
    }
    if (!told) {
      lm_run_say(r, "INFO", "Waiting for another luamig run (%s) to release the migration "
                 "%s...", holder ? holder : "unknown", what);
      told = 1;
    }
    free(holder);
    sleep_ms(LOCK_POLL_MS);
  }
  r->locked = got == 1;                               /* -1: none to be had (driver's say) */
  r->lock_held = got == 1;
  if (told && r->o->lock_strategy != LM_LOCK_TABLE) lm_run_say(r, "INFO", "Took the migration %s.", what);
  if (check_session(r, e) != LM_OK) return LM_ERROR;
  if (r->o->lock_strategy == LM_LOCK_TABLE) {
    lm_run_say(r, "INFO", "Took the migration lease (run %s, token %lld, %g s, renewed as the run "
               "goes).", r->run_id, (long long)r->lease_token, r->o->lock_lease_ms / 1000.0);
    lm_run_beat_start(r);
  }
  return LM_OK;
}

/* The lease is no longer ours: say to whom it went. */
static int lost_lease(struct run *r, struct lm_err *e) {
  struct lm_lease l;
  struct lm_err ignored = LM_ERR_INIT;
  int read = lm_lease_read(r->conn, r->o->version_table, &l, &ignored) == LM_OK;
  lm_err_release(&ignored);
  r->lock_held = r->locked = 0;                       /* nothing of ours to release */
  r->lease_lost = 1;
  /* renewed (by the run or its heartbeat) less than a lease before the
   * loss was found (this process's clock): it cannot have expired, so it
   * was broken and then taken */
  int64_t renewed = r->lease_renewed_ms, found = now_ms();
  lm_run_beat_times(r, &renewed, &found);
  int live = found - renewed < r->o->lock_lease_ms;
  if (read && l.run_id && l.token > r->lease_token)
    lm_err_set(e, LM_ERROR, "lost the migration lease to run %s (%s pid %ld; token %lld > %lld): "
               "%s", l.run_id, l.host ? l.host : "?", l.pid, (long long)l.token,
               (long long)r->lease_token,
               live ? "this run's lease was broken (`luamig lock break`) before it expired, "
                      "and that run took it then"
                    : "this run's lease expired and that run took it over");
  else if (read && l.token > r->lease_token)
    lm_err_set(e, LM_ERROR, "lost the migration lease: it was broken (`luamig lock break`; "
               "token %lld > %lld)", (long long)l.token, (long long)r->lease_token);
  else
    lm_err_set(e, LM_ERROR, "lost the migration lease (token %lld is no longer the lease "
               "table's)", (long long)r->lease_token);
  lm_lease_clear(&l);
  return LM_ERROR;
}

static int renew(struct run *r, struct lm_err *e) {
  int kept;
  int64_t sent = now_ms();                            /* the lease runs from no later than this */
  if (lm_lease_renew(r->conn, r->o->version_table, r->lease_token, r->run_id,
                     r->o->lock_lease_ms, &kept, e) != LM_OK)
    return LM_ERROR;
  if (!kept) return lost_lease(r, e);
  r->lease_renewed_ms = sent;
  return LM_OK;
}

static int renew(struct run *r, struct lm_err *e);

/* The connection's guard while a step body runs (db.h), so a step outside
 * a transaction sends nothing more once another run may hold the lease
 * (inside one, the fence would roll it back anyway): a lease the heartbeat
 * thread found lost stops the step before its next statement. Outside a
 * transaction, a lease not renewed for a whole lease (the process was
 * stopped, or the heartbeat's renewals fail) or, with no heartbeat, for a
 * third of one, is renewed here first on the run's own connection, which
 * finds it lost or keeps it (inside one, that renewal would hold the lease
 * row to the commit, and the fence checks it before the commit anyway). */
static int step_guard(void *ctx, struct lm_err *e) {
  struct run *r = ctx;
  int rc = LM_OK;
  if (lm_run_beat_lost(r)) {
    rc = lost_lease(r, e);
  } else if (!r->conn->driver->in_transaction(r->conn)) {
    int64_t now = now_ms(), renewed = r->lease_renewed_ms, found = now;
    lm_run_beat_times(r, &renewed, &found);           /* found: not lost, so unchanged */
    long due = r->beat ? r->o->lock_lease_ms : r->o->lock_lease_ms / 3;
    if (now - renewed >= due) rc = renew(r, e);
  }
  if (rc != LM_OK && r->lease_lost)
    lm_err_set(e, LM_ERROR, "%s; the step was stopped before its next statement", e->message);
  return rc;
}

void lm_run_guard_step(struct run *r, int on) {
  if (r->conn == NULL || r->o->lock_strategy != LM_LOCK_TABLE || r->lease_token == 0) return;
  r->conn->guard = on ? step_guard : NULL;
  r->conn->guard_ctx = on ? r : NULL;
}

int lm_run_heartbeat(struct run *r, struct lm_err *e) {
  if (r->conn == NULL || r->lease_token == 0 || r->o->lock_strategy != LM_LOCK_TABLE) return LM_OK;
  if (lm_run_beat_lost(r)) return lost_lease(r, e);
  if (now_ms() - r->lease_renewed_ms < r->o->lock_lease_ms / 3) return LM_OK;
  return renew(r, e);
}

int lm_run_fence(struct run *r, struct lm_err *e) {
  if (r->conn == NULL) return LM_OK;
  if (r->o->lock_strategy != LM_LOCK_TABLE) return check_session(r, e);
  if (r->lease_token == 0) return lost_lease(r, e);
  return renew(r, e);
}

int lm_run_release_lock(struct run *r) {
  lm_run_beat_stop(r);                                /* before the lease goes */
  if (!r->lock_held) return 1;
  r->lock_held = r->locked = 0;
  if (r->o->lock_strategy == LM_LOCK_TABLE) {
    lm_lease_release(r->conn, r->o->version_table, r->lease_token, r->run_id);
    r->lease_token = 0;
    return 1;
  }
  return r->conn->driver->unlock(r->conn, r->o->version_table);
}
