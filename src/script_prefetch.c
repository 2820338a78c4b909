/*
 * script_prefetch.c -- the script files read ahead by a second thread.
 *
 * Listing 10,000 revisions spends as much time in the kernel (open, fstat,
 * read, close for every file) as in scanning the headers. A thread that
 * reads the next files, and parses their headers into C slices
 * (lm_script_scan_parse), while the caller makes the records of the ones
 * before overlaps the two. Nothing Lua crosses: the Lua state stays the
 * caller's. A few files are read by the caller itself, as before.
 */
#include "script_int.h"
#include "thread.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  THREAD_FROM = 64,     /* fewer files: a thread costs more than it saves */
  WINDOW = 128,         /* files read ahead of the caller at most (memory) */
  PARSE_AHEAD = 8,      /* files ahead from which the thread parses headers too */
  CATCH_UP = 8,         /* files the caller lets the thread read ahead once it waited */
};

struct slot {
  char *data;           /* the file's text (the caller takes it), or NULL */
  size_t len;
  struct lm_scan *scan; /* its header parsed (the caller takes it), or NULL */
  struct lm_err err;    /* why it could not be read */
  int ready;
};

/* Reads paths[i] into its slot, opening names in the directory of the
 * previous file when it is the same one (a path walk saved per file). */
struct reader {
  int dirfd;
  const char *dir;      /* paths[k] whose directory dirfd has open */
  size_t dirlen;
};

struct lm_prefetch {
  struct reader reader; /* the thread's, or the caller's when there is none */
  char *const *paths;
  size_t n;
  struct slot *slots;
  size_t taken;         /* slots before this one are the caller's */
  size_t wake_at;       /* the thread waits until taken reaches this (0: it runs) */
  size_t want;          /* the caller waits until this slot is ready (SIZE_MAX: it runs) */
  int scan;             /* parse each header too */
  int threaded, stop;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;  /* a slot became ready, the caller took one, or stop */
};

static void read_one(struct reader *r, const char *path, int scan, struct slot *s) {
  const char *slash = strrchr(path, '/');
  size_t dlen = slash ? (size_t)(slash - path) : 0;
  if (slash && (r->dir == NULL || dlen != r->dirlen || strncmp(path, r->dir, dlen) != 0)) {
    char *dir = lm_strndup(path, dlen ? dlen : 1);
    if (r->dirfd >= 0) close(r->dirfd);
    r->dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    free(dir);
    r->dir = path;
    r->dirlen = dlen;
  }
  int at = slash && r->dirfd >= 0;
  s->err = (struct lm_err)LM_ERR_INIT;
  s->scan = NULL;
  if (lm_script_read(at ? r->dirfd : AT_FDCWD, at ? slash + 1 : path, path, &s->data, &s->len, &s->err)) {
    s->data = NULL;
  } else if (scan) {
    s->scan = lm_calloc(1, sizeof *s->scan);
    lm_script_scan_parse(s->data, s->len, s->scan);
  }
}

static void free_scan(struct lm_scan *sc) {
  if (sc == NULL) return;
  lm_script_scan_release(sc);
  free(sc);
}

static void *read_ahead(void *arg) {
  struct lm_prefetch *p = arg;
  for (size_t i = 0; i < p->n; i++) {
    pthread_mutex_lock(&p->lock);
    if (i >= p->taken + WINDOW) {                     /* woken when half the window is free: */
      p->wake_at = i + 1 - WINDOW / 2;               /* not once per file taken */
      while (!p->stop && p->taken < p->wake_at) pthread_cond_wait(&p->cond, &p->lock);
      p->wake_at = 0;
    }
    int stop = p->stop;
    /* parse here only while ahead of the caller: when reading is the
     * slower half, the caller parses (lm_script_scan_text without a parse) */
    int parse = p->scan && i >= p->taken + PARSE_AHEAD;
    pthread_mutex_unlock(&p->lock);
    if (stop) break;
    struct slot s;
    read_one(&p->reader, p->paths[i], parse, &s);
    pthread_mutex_lock(&p->lock);
    p->slots[i] = s;
    p->slots[i].ready = 1;
    if (i == p->want) pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
  }
  return NULL;
}

struct lm_prefetch *lm_prefetch_start(char *const *paths, size_t n, int scan) {
  struct lm_prefetch *p = lm_calloc(1, sizeof *p);
  p->paths = paths;
  p->n = n;
  p->scan = scan;
  p->slots = lm_calloc(n ? n : 1, sizeof *p->slots);
  p->reader.dirfd = -1;
  p->want = SIZE_MAX;
  if (n >= THREAD_FROM) {
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->threaded = lm_thread_start(&p->thread, read_ahead, p) == 0;
    if (!p->threaded) {                               /* no thread: the caller reads */
      pthread_cond_destroy(&p->cond);
      pthread_mutex_destroy(&p->lock);
    }
  }
  return p;
}

int lm_prefetch_take(struct lm_prefetch *p, size_t i, char **data, size_t *len,
                     struct lm_scan **parsed, struct lm_err *e) {
  struct slot *s = &p->slots[i];
  if (!p->threaded) {
    read_one(&p->reader, p->paths[i], p->scan, s);
  } else {
    pthread_mutex_lock(&p->lock);
    if (!s->ready) {                                  /* woken when a few more are ready: */
      p->want = i + CATCH_UP < p->n ? i + CATCH_UP : p->n - 1;   /* not once per file */
      while (!p->slots[p->want].ready) pthread_cond_wait(&p->cond, &p->lock);
      p->want = SIZE_MAX;
    }
    p->taken = i + 1;
    if (p->wake_at != 0 && p->taken >= p->wake_at) pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
  }
  *data = s->data;
  *len = s->len;
  *parsed = s->scan;
  s->data = NULL;
  s->scan = NULL;
  if (*data != NULL) return LM_OK;
  *e = s->err;                                        /* the message moves to the caller */
  s->err = (struct lm_err)LM_ERR_INIT;
  return LM_ERROR;
}

void lm_prefetch_stop(struct lm_prefetch *p) {
  if (p == NULL) return;
  if (p->threaded) {
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
  }
  if (p->reader.dirfd >= 0) close(p->reader.dirfd);
  for (size_t i = 0; i < p->n; i++) {                 /* read ahead, never taken */
    free(p->slots[i].data);
    free_scan(p->slots[i].scan);
    lm_err_release(&p->slots[i].err);
  }
  free(p->slots);
  free(p);
}
