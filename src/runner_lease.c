/*
 * runner_lease.c -- lock = "table": the lease's heartbeat, a thread that
 * renews the lease from a second connection every third of its length
 * while the run's own connection is busy with a long step (a renewal
 * inside the step's transaction would not be seen by other runs before
 * its commit). It stops with the run; with the process (kill -9, SIGSTOP)
 * it stops too, and the lease then expires, as it must. A renewal that
 * finds the lease gone marks it lost: the run stops at its next step or
 * version write (runner_lock.c's heartbeat and fence, which decide; the
 * thread only keeps a live run's lease from expiring).
 */
#include "runner_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "db_lease.h"
#include "thread.h"

struct lm_beat {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop;                           /* under mu: the run ends */
  int lost;                           /* under mu: a renewal found the lease gone */
  int64_t renewed_ms, lost_ms;        /* under mu: the last renewal, and when it was found gone */
  struct lm_conn *conn;               /* the thread's own connection */
  const char *version_table, *run_id;
  int64_t token;
  long lease_ms;
};

static void *beat_main(void *arg) {
  struct lm_beat *b = arg;
  pthread_mutex_lock(&b->mu);
  while (!b->stop) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    long ms = b->lease_ms / 3 > 0 ? b->lease_ms / 3 : 1;
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (!b->stop && pthread_cond_timedwait(&b->cv, &b->mu, &until) != ETIMEDOUT) {}
    if (b->stop) break;
    pthread_mutex_unlock(&b->mu);
    int kept = 1;
    struct lm_err e = LM_ERR_INIT;                    /* a failed renewal: the next one, or the fence */
    /* the time it was sent: its answer may be read long after (a process
     * stopped meanwhile), when the lease it renewed may be gone */
    int64_t sent = now_ms();
    int rc = lm_lease_renew(b->conn, b->version_table, b->token, b->run_id, b->lease_ms, &kept, &e);
    lm_err_release(&e);
    pthread_mutex_lock(&b->mu);
    if (rc == LM_OK && kept) b->renewed_ms = sent;
    if (rc == LM_OK && !kept) b->lost = 1, b->lost_ms = now_ms();
    if (b->lost) break;
  }
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

void lm_run_beat_start(struct run *r) {
  const struct lm_driver *d = r->conn->driver;
  if (d->clone == NULL) return;
  struct lm_beat *b = lm_calloc(1, sizeof *b);
  struct lm_err e = LM_ERR_INIT;
  if (d->clone(r->conn, &b->conn, &e) != LM_OK) {
    lm_run_say(r, "WARNING", "%s; the lease is renewed between steps and between the statements "
               "of a step outside a transaction only, so a transaction longer than lock_lease may "
               "lose it", e.message);
    lm_err_release(&e);
    free(b);
    return;
  }
  b->version_table = r->o->version_table;
  b->run_id = r->run_id;
  b->token = r->lease_token;
  b->lease_ms = r->o->lock_lease_ms;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&b->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&b->mu, NULL);
  /* every signal to the run's own thread (Ctrl-C's handler stops its statement) */
  int rc = lm_thread_start(&b->thread, beat_main, b);
  if (rc != 0) {
    lm_run_say(r, "WARNING", "could not start the lease's heartbeat; the lease is renewed between "
               "steps only, so a step longer than lock_lease may lose it");
    d->close(b->conn);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
    return;
  }
  r->beat = b;
}

int lm_run_beat_lost(struct run *r) {
  struct lm_beat *b = r->beat;
  if (b == NULL) return 0;
  pthread_mutex_lock(&b->mu);
  int lost = b->lost;
  pthread_mutex_unlock(&b->mu);
  return lost;
}

void lm_run_beat_times(struct run *r, int64_t *renewed_ms, int64_t *found_ms) {
  struct lm_beat *b = r->beat;
  if (b == NULL) return;
  pthread_mutex_lock(&b->mu);
  if (b->renewed_ms > *renewed_ms) *renewed_ms = b->renewed_ms;
  if (b->lost) *found_ms = b->lost_ms;
  pthread_mutex_unlock(&b->mu);
}

void lm_run_beat_stop(struct run *r) {
  struct lm_beat *b = r->beat;
  if (b == NULL) return;
  r->beat = NULL;
  pthread_mutex_lock(&b->mu);
  b->stop = 1;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
  if (b->conn->driver->interrupt) b->conn->driver->interrupt(b->conn);   /* a renewal in flight */
  pthread_join(b->thread, NULL);
  b->conn->driver->close(b->conn);
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
  free(b);
}
