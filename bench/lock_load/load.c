/*
 * load.c -- the steady read/write load of bench/lock_load/run, and its
 * statistics.
 *
 *   load run CONNINFO SAMPLES READY [--conns N] [--rows R] [--write-pct P]
 *            [--long-first S] [--long-every S] [--long-hold S] [--pause-ms MS]
 *   load stats SAMPLES T0_NS T1_NS [TIMEOUT_MS]
 *
 * run: N connections (default 4), each a thread, loop on the "items" table:
 * a prepared SELECT name, value ... WHERE id = $1 or (P % of the time,
 * default 30) a prepared UPDATE ... SET counter = counter + 1 WHERE id = $1,
 * id random in 1..R, with PAUSE-MS milliseconds between two queries
 * (default 1: a steady load, not a saturating one). Each query's start
 * (CLOCK_REALTIME, ns, so that the driver's `date +%s%N` is on the same
 * clock) and latency (CLOCK_MONOTONIC, ns) are kept in memory.
 * With --long-every S > 0 one more connection is a report query: starting
 * --long-first seconds after READY is written and then every S seconds, it
 * runs BEGIN; SELECT count(*) FROM items WHERE id <= 1000; SELECT
 * pg_sleep(HOLD); COMMIT, so it holds ACCESS SHARE on items for HOLD
 * seconds: what makes an ALTER TABLE that waits for its lock queue every
 * other query behind it. Its own transactions are recorded as kind L and
 * are not load queries.
 * Once every connection is ready, READY is created (the driver waits for
 * it). SIGTERM or SIGINT stops the loops; every sample is then written to
 * SAMPLES, one line each: start_ns latency_ns kind (S, U or L).
 * A failed load query is an error (exit 1): a load query must never fail,
 * only wait.
 *
 * stats: the load queries (S and U) that started in [T0, T1] and, for
 * comparison, those that started before T0: count, max, p99, p50 latency
 * in ms, the number over TIMEOUT_MS, and when the slowest started (s after
 * T0); printed as shell assignments for the driver to eval.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

typedef struct {
  int64_t start_ns, lat_ns;
  char kind;
} sample;

typedef struct {
  int id;
  PGconn *pg;
  sample *s;
  size_t n, cap;
  uint64_t rng;
  int failed;
} worker;

static atomic_int stop_flag;
static atomic_int ready_count;
static const char *conninfo;
static long rows = 1000000, write_pct = 30, pause_ms = 1;
static double long_first = 1, long_every = 0, long_hold = 3;
static _Atomic int64_t ready_ns;

static void on_signal(int sig) {
  (void)sig;
  atomic_store(&stop_flag, 1);
}

static int64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns) {
  if (ns <= 0) return;
  struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !atomic_load(&stop_flag)) {}
}

static void record(worker *w, int64_t start_rt, int64_t lat, char kind) {
  if (w->n == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 65536;
    w->s = realloc(w->s, w->cap * sizeof *w->s);
    if (!w->s) { perror("load: realloc"); exit(1); }
  }
  w->s[w->n++] = (sample){start_rt, lat, kind};
}

static uint64_t xorshift(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static PGconn *connect_or_die(void) {
  PGconn *pg = PQconnectdb(conninfo);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "load: connect: %s", PQerrorMessage(pg));
    exit(1);
  }
  return pg;
}

static int ok(PGresult *res, const char *what, worker *w) {
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    if (!atomic_load(&stop_flag))
      fprintf(stderr, "load: connection %d: %s: %s", w->id, what, PQresultErrorMessage(res));
    PQclear(res);
    return 0;
  }
  PQclear(res);
  return 1;
}

static void *load_loop(void *arg) {
  worker *w = arg;
  if (!ok(PQprepare(w->pg, "sel", "SELECT name, value FROM items WHERE id = $1", 1, NULL),
          "prepare", w) ||
      !ok(PQprepare(w->pg, "upd", "UPDATE items SET counter = counter + 1 WHERE id = $1", 1,
                    NULL), "prepare", w)) {
    w->failed = 1;
    atomic_fetch_add(&ready_count, 1);
    return NULL;
  }
  atomic_fetch_add(&ready_count, 1);
  char idbuf[32];
  const char *params[1] = {idbuf};
  while (!atomic_load(&stop_flag)) {
    long id = (long)(xorshift(&w->rng) % (uint64_t)rows) + 1;
    int upd = (long)(xorshift(&w->rng) % 100) < write_pct;
    snprintf(idbuf, sizeof idbuf, "%ld", id);
    int64_t rt = now_ns(CLOCK_REALTIME), t = now_ns(CLOCK_MONOTONIC);
    PGresult *res = PQexecPrepared(w->pg, upd ? "upd" : "sel", 1, params, NULL, NULL, 0);
    int64_t lat = now_ns(CLOCK_MONOTONIC) - t;
    if (!ok(res, upd ? "UPDATE" : "SELECT", w)) {
      if (!atomic_load(&stop_flag)) w->failed = 1;
      break;
    }
    record(w, rt, lat, upd ? 'U' : 'S');
    sleep_ns(pause_ms * 1000000);
  }
  return NULL;
}

static void *long_loop(void *arg) {
  worker *w = arg;
  atomic_fetch_add(&ready_count, 1);
  while (atomic_load(&ready_ns) == 0 && !atomic_load(&stop_flag)) sleep_ns(1000000);
  int64_t base = atomic_load(&ready_ns);
  char hold[512];
  snprintf(hold, sizeof hold,
           "SELECT count(*) FROM items WHERE id <= 1000; SELECT pg_sleep(%.3f)", long_hold);
  for (long k = 0; !atomic_load(&stop_flag); k++) {
    int64_t at = base + (int64_t)((long_first + (double)k * long_every) * 1e9);
    while (!atomic_load(&stop_flag) && now_ns(CLOCK_REALTIME) < at) sleep_ns(1000000);
    if (atomic_load(&stop_flag)) break;
    int64_t rt = now_ns(CLOCK_REALTIME), t = now_ns(CLOCK_MONOTONIC);
    if (!ok(PQexec(w->pg, "BEGIN"), "BEGIN", w) || !ok(PQexec(w->pg, hold), "report", w) ||
        !ok(PQexec(w->pg, "COMMIT"), "COMMIT", w)) {
      if (!atomic_load(&stop_flag)) w->failed = 1;
      break;
    }
    record(w, rt, now_ns(CLOCK_MONOTONIC) - t, 'L');
  }
  return NULL;
}

static int run(int argc, char **argv) {
  if (argc < 5) return 2;
  conninfo = argv[2];
  const char *out = argv[3], *ready = argv[4];
  long conns = 4;
  for (int i = 5; i + 1 < argc; i += 2) {
    const char *o = argv[i], *v = argv[i + 1];
    if (!strcmp(o, "--conns")) conns = atol(v);
    else if (!strcmp(o, "--rows")) rows = atol(v);
    else if (!strcmp(o, "--write-pct")) write_pct = atol(v);
    else if (!strcmp(o, "--pause-ms")) pause_ms = atol(v);
    else if (!strcmp(o, "--long-first")) long_first = atof(v);
    else if (!strcmp(o, "--long-every")) long_every = atof(v);
    else if (!strcmp(o, "--long-hold")) long_hold = atof(v);
    else { fprintf(stderr, "load: unknown option %s\n", o); return 2; }
  }
  if (conns < 1 || rows < 1) { fprintf(stderr, "load: --conns and --rows must be >= 1\n"); return 2; }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int nw = (int)conns + (long_every > 0 ? 1 : 0);
  worker *ws = calloc((size_t)nw, sizeof *ws);
  pthread_t *th = calloc((size_t)nw, sizeof *th);
  for (int i = 0; i < nw; i++) {
    ws[i].id = i;
    ws[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    ws[i].pg = connect_or_die();
  }
  for (int i = 0; i < nw; i++)
    pthread_create(&th[i], NULL, i < conns ? load_loop : long_loop, &ws[i]);
  while (atomic_load(&ready_count) < nw) sleep_ns(1000000);
  atomic_store(&ready_ns, now_ns(CLOCK_REALTIME));
  FILE *r = fopen(ready, "w");
  if (!r) { perror(ready); atomic_store(&stop_flag, 1); }
  else fclose(r);
  for (int i = 0; i < nw; i++) pthread_join(th[i], NULL);

  FILE *f = fopen(out, "w");
  if (!f) { perror(out); return 1; }
  int failed = 0;
  for (int i = 0; i < nw; i++) {
    for (size_t k = 0; k < ws[i].n; k++)
      fprintf(f, "%" PRId64 " %" PRId64 " %c\n", ws[i].s[k].start_ns, ws[i].s[k].lat_ns,
              ws[i].s[k].kind);
    failed |= ws[i].failed;
    PQfinish(ws[i].pg);
    free(ws[i].s);
  }
  fclose(f);
  free(ws);
  free(th);
  return failed ? 1 : 0;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void summary(const char *prefix, int64_t *lat, int64_t *start, size_t n, int64_t t0,
                    int64_t timeout_ns) {
  int64_t max = 0, max_at = 0;
  size_t over = 0;
  for (size_t i = 0; i < n; i++) {
    if (lat[i] > max) { max = lat[i]; max_at = start[i]; }
    if (timeout_ns > 0 && lat[i] > timeout_ns) over++;
  }
  qsort(lat, n, sizeof *lat, cmp64);
  double p99 = n ? (double)lat[(size_t)((double)(n - 1) * 0.99)] / 1e6 : 0;
  double p50 = n ? (double)lat[(n - 1) / 2] / 1e6 : 0;
  printf("%s_n=%zu %s_max_ms=%.1f %s_p99_ms=%.2f %s_p50_ms=%.2f %s_over=%zu %s_max_at_s=%.2f\n",
         prefix, n, prefix, (double)max / 1e6, prefix, p99, prefix, p50, prefix, over, prefix,
         n ? (double)(max_at - t0) / 1e9 : 0.0);
}

static int stats(int argc, char **argv) {
  if (argc < 5) return 2;
  int64_t t0 = strtoll(argv[3], NULL, 10), t1 = strtoll(argv[4], NULL, 10);
  int64_t timeout_ns = argc > 5 ? (int64_t)(atof(argv[5]) * 1e6) : 0;
  FILE *f = fopen(argv[2], "r");
  if (!f) { perror(argv[2]); return 1; }
  size_t cap = 1 << 16, nin = 0, nbefore = 0, nlong = 0;
  int64_t *lin = malloc(cap * 8), *sin = malloc(cap * 8);
  int64_t *lb = malloc(cap * 8), *sb = malloc(cap * 8);
  size_t capb = cap;
  int64_t st, lat, long_max = 0;
  char kind;
  while (fscanf(f, "%" SCNd64 " %" SCNd64 " %c", &st, &lat, &kind) == 3) {
    if (kind == 'L') {
      nlong++;
      if (lat > long_max) long_max = lat;
      continue;
    }
    if (st >= t0 && st <= t1) {
      if (nin == cap) { cap *= 2; lin = realloc(lin, cap * 8); sin = realloc(sin, cap * 8); }
      lin[nin] = lat; sin[nin++] = st;
    } else if (st < t0) {
      if (nbefore == capb) { capb *= 2; lb = realloc(lb, capb * 8); sb = realloc(sb, capb * 8); }
      lb[nbefore] = lat; sb[nbefore++] = st;
    }
  }
  fclose(f);
  summary("during", lin, sin, nin, t0, timeout_ns);
  summary("before", lb, sb, nbefore, t0, timeout_ns);
  printf("long_n=%zu long_max_ms=%.1f\n", nlong, (double)long_max / 1e6);
  free(lin);
  free(sin);
  free(lb);
  free(sb);
  return 0;
}

int main(int argc, char **argv) {
  int rc = 2;
  if (argc > 1 && !strcmp(argv[1], "run")) rc = run(argc, argv);
  else if (argc > 1 && !strcmp(argv[1], "stats")) rc = stats(argc, argv);
  if (rc == 2)
    fprintf(stderr, "usage: load run CONNINFO SAMPLES READY [options] | load stats SAMPLES T0_NS T1_NS [TIMEOUT_MS]\n");
  return rc;
}
