/*
 * db_sqlite.c -- the SQLite driver: the only file that includes <sqlite3.h>.
 *
 * Transactions start with BEGIN IMMEDIATE: a migration run writes, so it
 * takes the write lock up front, and waits for another process's lock on
 * the busy handler (up to lock_timeout, then a message that says so)
 * instead of failing halfway with SQLITE_BUSY. DDL inside the
 * transaction rolls back with it, as SQLite's DDL is transactional.
 *
 * The run lock is an flock(2) on a file beside the database,
 * "<db>-luamig.lock" (the real path, symlinks resolved), held from the
 * start of a run to its end. SQLite's own locks last one transaction, and
 * a transactional = false step runs in autocommit, so they cannot keep a
 * second run out of it. flock, not fcntl: fcntl locks belong to the
 * process, so two connections of one process would not exclude each
 * other, and closing any descriptor of a file drops them all (which is
 * also why the database file itself is not locked: SQLite holds fcntl
 * locks on it). The lock file is left in place: removing it would let a
 * third run lock a new file while a second waits on the old one.
 *
 * lock_timeout is the busy timeout: sqlite_set_busy_timeout stores it and
 * busy_wait (SQLite's busy handler, installed at open) waits up to it for
 * another process's lock on the file, then the statement fails with a
 * message saying how long it waited (sqlite_error).
 */
#define _DEFAULT_SOURCE                               /* flock */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000

struct sqlite_conn {
  struct lm_conn base;   /* first: the layers above see only this */
  sqlite3 *db;
  long busy_ms;          /* how long a statement waits for another process's lock */
  int64_t busy_since;    /* when the current wait began (ms, monotonic) */
  int64_t busy_waited;   /* how long the last wait lasted, once it gave up; -1: none */
  int tx_open;           /* this driver began a transaction that it has not ended */
  char *rolled_back;     /* why SQLite ended that transaction itself, or NULL */
  int lock_fd;           /* the open lock file while the run lock is held, else -1 */
  int lock_depth;        /* holds of the run lock */
};

struct sqlite_cursor {
  struct lm_cursor base;
  sqlite3_stmt *stmt;
  signed char *is_bool;  /* per column: declared BOOLEAN, so 0/1 read as booleans */
};

static sqlite3 *handle(struct lm_conn *c) { return ((struct sqlite_conn *)c)->db; }

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SQLite's busy handler: another process holds a lock on the database;
 * wait for it up to busy_ms, in naps that grow to 100 ms. count is 0 at
 * the start of each wait. */
static int busy_wait(void *arg, int count) {
  static const int naps[] = {1, 2, 5, 10, 20, 50, 100};
  struct sqlite_conn *sc = arg;
  int64_t now = now_ms();
  if (count == 0) {
    sc->busy_since = now;
    sc->busy_waited = -1;
  }
  int64_t left = sc->busy_ms - (now - sc->busy_since);
  if (left <= 0) {
    sc->busy_waited = now - sc->busy_since;
    return 0;                                         /* give up: SQLITE_BUSY */
  }
  int nap = count < 7 ? naps[count] : 100;
  sqlite3_sleep(nap < left ? nap : (int)left);
  return 1;
}

/* The database's file name for messages. */
static const char *file_name(sqlite3 *db) {
  const char *file = sqlite3_db_filename(db, "main");
  return file && *file ? file : ":memory:";
}

/* Fill e from the connection's last error, with the statement it came from. */
static int db_error(struct lm_conn *c, const char *sql, int offset_base, struct lm_err *e) {
  struct sqlite_conn *sc = (struct sqlite_conn *)c;
  sqlite3 *db = handle(c);
  int code = sqlite3_extended_errcode(db);
  if ((code & 0xff) == SQLITE_BUSY && sc->busy_waited >= 0)   /* another process holds it */
    lm_err_set(e, LM_ERROR, "the database '%s' is locked by another process: luamig waited "
               "%.1f s for it (lock_timeout = %g s) and gave up; find what holds it (e.g. "
               "`fuser %s`), or raise lock_timeout", file_name(db), sc->busy_waited / 1000.0,
               sc->busy_ms / 1000.0, file_name(db));
  else if ((code & 0xff) == SQLITE_BUSY)
    lm_err_set(e, LM_ERROR, "the database '%s' is locked by another process, and SQLite could "
               "not wait for it (%s); run again", file_name(db), sqlite3_errmsg(db));
  else
    lm_err_set(e, LM_ERROR, "%s", sqlite3_errmsg(db));
  sc->busy_waited = -1;
  e->db_code = code;
  e->kind = (code & 0xff) == SQLITE_CONSTRAINT ? LM_CONSTRAINT : LM_ERR_OTHER;
  /* SQLite rolls a whole transaction back itself after these errors
   * (sqlite.org/lang_transaction.html, "Response To Errors Within A
   * Transaction"): remember that the caller's SQL did not end it. */
  int kind = code & 0xff;
  if (sc->tx_open && sqlite3_get_autocommit(db) && sc->rolled_back == NULL &&
      (kind == SQLITE_FULL || kind == SQLITE_IOERR || kind == SQLITE_BUSY ||
       kind == SQLITE_NOMEM || kind == SQLITE_INTERRUPT || kind == SQLITE_CORRUPT))
    sc->rolled_back = lm_asprintf("SQLite rolled the transaction back itself after an error "
                                  "(%s)", e->message);
  int offset = sqlite3_error_offset(db);
  e->position = offset >= 0 ? offset_base + offset + 1 : 0;
  if (offset_base == 0 && offset < 0)                 /* a script's statement: no leading space */
    sql += strspn(sql, " \t\r\n");
  lm_err_set_sql(e, sql);
  return LM_ERROR;
}

void lm_db_tune_process(void) {
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);         /* SQLITE_MISUSE once initialized: fine */
}

static int sqlite_open(const struct lm_url *url, struct lm_conn **out, struct lm_err *e) {
  sqlite3 *db = NULL;
  /* NOMUTEX: a connection is only ever used by the thread (the lua_State)
   * that opened it, so SQLite's per-call locking is pure cost (a tenth of
   * a bulk load's instructions). */
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(url->target, &db, flags, NULL);
  /* A bad file fails now. A file another process holds locked (SQLITE_BUSY,
   * asked without waiting) is a database in use: the statements that
   * follow wait for it as long as the busy timeout says (lock_timeout). */
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, "PRAGMA schema_version", NULL, NULL, NULL);
  if ((rc & 0xff) == SQLITE_BUSY) rc = SQLITE_OK;
  if (rc != SQLITE_OK) {
    lm_err_set(e, LM_ERROR, "cannot open SQLite database '%s': %s (check that the path is "
               "a database file in a directory that exists and is writable)", url->target,
               db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    e->db_code = db ? sqlite3_extended_errcode(db) : rc;
    sqlite3_close(db);
    return LM_ERROR;
  }
  sqlite3_extended_result_codes(db, 1);
  struct sqlite_conn *sc = lm_malloc(sizeof *sc);
  sc->base.driver = &lm_driver_sqlite;
  sc->base.display = lm_strdup(url->display);
  sc->base.secrets = NULL;
  sc->base.guard = NULL;
  sc->base.guard_ctx = NULL;
  sc->base.copying = NULL;
  sc->db = db;
  sc->busy_ms = BUSY_TIMEOUT_MS;                      /* another writer may be committing */
  sc->busy_since = 0;
  sc->busy_waited = -1;
  sc->tx_open = 0;
  sc->rolled_back = NULL;
  sc->lock_fd = -1;
  sc->lock_depth = 0;
  sqlite3_busy_handler(db, busy_wait, sc);
  *out = &sc->base;
  return LM_OK;
}

static void sqlite_set_busy_timeout(struct lm_conn *c, long ms) {
  ((struct sqlite_conn *)c)->busy_ms = ms > 0 ? ms : 0;
}

static void unlock_all(struct sqlite_conn *sc);

static void sqlite_close(struct lm_conn *c) {
  if (c == NULL) return;
  struct sqlite_conn *sc = (struct sqlite_conn *)c;
  sqlite3_close_v2(sc->db);      /* rolls back an open transaction */
  unlock_all(sc);                /* after it: no write of this run is left pending */
  free(sc->rolled_back);
  lm_conn_release(c);
  free(c);
}

/* Bind params to stmt. Placeholders are $N (or ?N, or a bare ? taking its
 * position); each names the N-th value, so one value may be used twice. */
static int bind_params(struct lm_conn *c, sqlite3_stmt *stmt, int nparams,
                       const struct lm_value *params, struct lm_err *e) {
  int count = sqlite3_bind_parameter_count(stmt);
  int highest = 0;
  for (int i = 1; i <= count; i++) {
    const char *name = sqlite3_bind_parameter_name(stmt, i);
    long n = i;
    if (name != NULL) {
      char *end;
      n = (name[0] == '$' || name[0] == '?') ? strtol(name + 1, &end, 10) : 0;
      if (n <= 0 || *end != '\0')
        return lm_err_set(e, LM_ERROR, "unsupported placeholder '%s': use $1, $2, ...", name);
    }
    if (n > nparams)
      return lm_err_set(e, LM_ERROR, "the statement uses $%ld but %d value%s given",
                        n, nparams, nparams == 1 ? " was" : "s were");
    if (n > highest) highest = (int)n;
    const struct lm_value *v = &params[n - 1];
    int rc;
    switch (v->type) {
    case LM_NULL: rc = sqlite3_bind_null(stmt, i); break;
    case LM_INTEGER:
    case LM_BOOLEAN: rc = sqlite3_bind_int64(stmt, i, v->i); break;
    case LM_FLOAT: rc = sqlite3_bind_double(stmt, i, v->f); break;
    case LM_TEXT: rc = sqlite3_bind_text64(stmt, i, v->s, v->len, SQLITE_TRANSIENT, SQLITE_UTF8);
      break;
    case LM_BLOB: rc = sqlite3_bind_blob64(stmt, i, v->s, v->len, SQLITE_TRANSIENT); break;
    default: rc = SQLITE_MISUSE; break;
    }
    if (rc != SQLITE_OK) return db_error(c, sqlite3_sql(stmt), 0, e);
  }
  if (highest < nparams)
    return lm_err_set(e, LM_ERROR, "%d values were given but the statement uses %s%d",
                      nparams, highest ? "placeholders up to $" : "", highest);
  return LM_OK;
}

static int only_whitespace(const char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  return *s == '\0';
}

/* Prepare the single statement of sql; refuse a second one after it. */
static int prepare_one(struct lm_conn *c, const char *sql, sqlite3_stmt **out, struct lm_err *e) {
  const char *tail = NULL;
  *out = NULL;
  if (sqlite3_prepare_v2(handle(c), sql, -1, out, &tail) != SQLITE_OK)
    return db_error(c, sql, 0, e);
  if (*out == NULL)
    return lm_err_set(e, LM_ERROR, "no SQL statement to run");
  if (!only_whitespace(tail)) {
    sqlite3_stmt *next = NULL;
    int rc = sqlite3_prepare_v2(handle(c), tail, -1, &next, NULL);
    sqlite3_finalize(next);
    if (rc != SQLITE_OK || next != NULL) {
      sqlite3_finalize(*out);
      *out = NULL;
      lm_err_set(e, LM_ERROR, "a statement with parameters or rows must be alone: "
                 "more SQL follows it");
      lm_err_set_sql(e, sql);
      return LM_ERROR;
    }
  }
  return LM_OK;
}

static int sqlite_exec(struct lm_conn *c, const char *sql, int nparams,
                       const struct lm_value *params, int64_t *changes, struct lm_err *e) {
  sqlite3 *db = handle(c);
  if (nparams > 0) {
    sqlite3_stmt *stmt;
    if (prepare_one(c, sql, &stmt, e) != LM_OK) return LM_ERROR;
    int rc = bind_params(c, stmt, nparams, params, e);
    if (rc == LM_OK) {
      int step;
      while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {}
      if (step != SQLITE_DONE) rc = db_error(c, sql, 0, e);
    } else {
      lm_err_set_sql(e, sql);
    }
    sqlite3_finalize(stmt);
    if (rc == LM_OK && changes) *changes = sqlite3_changes64(db);
    return rc;
  }
  /* no parameters: run each statement of the script in turn */
  const char *p = sql;
  while (*p) {
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    if (sqlite3_prepare_v2(db, p, -1, &stmt, &tail) != SQLITE_OK)
      return db_error(c, sql, (int)(p - sql), e);   /* position within the whole script */
    if (stmt == NULL) break;                          /* only comments or space left */
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {}
    if (step != SQLITE_DONE) {
      db_error(c, sqlite3_sql(stmt), 0, e);
      sqlite3_finalize(stmt);
      return LM_ERROR;
    }
    sqlite3_finalize(stmt);
    p = tail;
  }
  if (changes) *changes = sqlite3_changes64(db);
  return LM_OK;
}

static int sqlite_query(struct lm_conn *c, const char *sql, int nparams,
                        const struct lm_value *params, struct lm_cursor **out,
                        struct lm_err *e) {
  sqlite3_stmt *stmt;
  *out = NULL;
  if (prepare_one(c, sql, &stmt, e) != LM_OK) return LM_ERROR;
  if (bind_params(c, stmt, nparams, params, e) != LM_OK) {
    lm_err_set_sql(e, sql);
    sqlite3_finalize(stmt);
    return LM_ERROR;
  }
  struct sqlite_cursor *cur = lm_malloc(sizeof *cur);
  cur->base.conn = c;
  cur->stmt = stmt;
  int ncols = sqlite3_column_count(stmt);
  cur->is_bool = lm_malloc((size_t)ncols);
  for (int i = 0; i < ncols; i++) {
    const char *decl = sqlite3_column_decltype(stmt, i);
    cur->is_bool[i] = decl && (strcasecmp(decl, "BOOLEAN") == 0 || strcasecmp(decl, "BOOL") == 0);
  }
  *out = &cur->base;
  return LM_OK;
}

static int sqlite_next(struct lm_cursor *cur, struct lm_err *e) {
  struct sqlite_cursor *sc = (struct sqlite_cursor *)cur;
  int rc = sqlite3_step(sc->stmt);
  if (rc == SQLITE_ROW) return LM_ROW;
  if (rc == SQLITE_DONE) return LM_DONE;
  return db_error(cur->conn, sqlite3_sql(sc->stmt), 0, e);
}

static int sqlite_column_count(struct lm_cursor *cur) {
  return sqlite3_column_count(((struct sqlite_cursor *)cur)->stmt);
}

static const char *sqlite_column_name(struct lm_cursor *cur, int i) {
  return sqlite3_column_name(((struct sqlite_cursor *)cur)->stmt, i);
}

static void sqlite_column_value(struct lm_cursor *cur, int i, struct lm_value *out) {
  struct sqlite_cursor *sc = (struct sqlite_cursor *)cur;
  sqlite3_stmt *stmt = sc->stmt;
  *out = (struct lm_value){.type = LM_NULL};
  switch (sqlite3_column_type(stmt, i)) {
  case SQLITE_INTEGER:
    out->type = sc->is_bool[i] ? LM_BOOLEAN : LM_INTEGER;
    out->i = sqlite3_column_int64(stmt, i);
    if (out->type == LM_BOOLEAN) out->i = out->i != 0;
    break;
  case SQLITE_FLOAT:
    out->type = LM_FLOAT;
    out->f = sqlite3_column_double(stmt, i);
    break;
  case SQLITE_TEXT:
    out->type = LM_TEXT;
    out->s = (const char *)sqlite3_column_text(stmt, i);
    out->len = (size_t)sqlite3_column_bytes(stmt, i);
    break;
  case SQLITE_BLOB:
    out->type = LM_TEXT;                              /* Lua strings hold any bytes */
    out->s = sqlite3_column_blob(stmt, i);
    out->len = (size_t)sqlite3_column_bytes(stmt, i);
    if (out->s == NULL) out->s = "";
    break;
  default:
    break;
  }
}

static void sqlite_cursor_free(struct lm_cursor *cur) {
  if (cur == NULL) return;
  struct sqlite_cursor *sc = (struct sqlite_cursor *)cur;
  sqlite3_finalize(sc->stmt);
  free(sc->is_bool);
  free(sc);
}

struct sqlite_bulk {
  struct lm_bulk base;
  sqlite3_stmt *stmt;    /* INSERT ... VALUES (?1, ..., ?n), re-bound per row */
};

static int run_simple(struct lm_conn *c, const char *sql, struct lm_err *e);

/* Undo a failed load: its rows go. A failure that already rolled the whole
 * transaction back (SQLite does on some errors) has no savepoint left. */
static void drop_bulk_savepoint(struct lm_conn *c) {
  struct lm_err ignored = LM_ERR_INIT;                /* the load's error is what matters */
  if (run_simple(c, "ROLLBACK TO luamig_bulk", &ignored) == LM_OK)
    run_simple(c, "RELEASE luamig_bulk", &ignored);
  lm_err_release(&ignored);
}

/* A load runs inside SAVEPOINT luamig_bulk: one that fails part-way (a bad
 * value at row N, the iterator's error) leaves none of its rows, as on
 * PostgreSQL, even when the migration catches the error and goes on. */
static int sqlite_bulk_begin(struct lm_conn *c, const char *table, int ncols,
                             const char *const *columns, struct lm_bulk **out,
                             struct lm_err *e) {
  *out = NULL;
  char *head = lm_bulk_head("INSERT INTO", table, ncols, columns, e);
  if (head == NULL) return LM_ERROR;
  if (run_simple(c, "SAVEPOINT luamig_bulk", e) != LM_OK) {
    free(head);
    return LM_ERROR;
  }
  struct lm_buf sql = LM_BUF_INIT;
  lm_buf_printf(&sql, "%s VALUES (", head);
  free(head);
  for (int i = 1; i <= ncols; i++) lm_buf_printf(&sql, "%s?%d", i > 1 ? ", " : "", i);
  lm_buf_addc(&sql, ')');
  sqlite3_stmt *stmt = NULL;
  int rc = LM_OK;
  if (sqlite3_prepare_v2(handle(c), sql.data, -1, &stmt, NULL) != SQLITE_OK) {
    rc = db_error(c, sql.data, 0, e);
    drop_bulk_savepoint(c);
  } else {
    struct sqlite_bulk *b = lm_malloc(sizeof *b);
    b->base = (struct lm_bulk){.conn = c, .ncols = ncols, .rows = 0};
    b->stmt = stmt;
    *out = &b->base;
  }
  lm_buf_release(&sql);
  return rc;
}

/* Text and blobs are bound SQLITE_STATIC: the caller's values live until
 * this returns, and the bindings are cleared before it does, so SQLite
 * neither copies each value nor keeps a pointer past the row. */
static int sqlite_bulk_row(struct lm_bulk *base, const struct lm_value *v, struct lm_err *e) {
  struct sqlite_bulk *b = (struct sqlite_bulk *)base;
  sqlite3_stmt *stmt = b->stmt;
  base->rows++;
  for (int i = 0; i < base->ncols; i++) {
    int rc;
    switch (v[i].type) {
    case LM_INTEGER:
    case LM_BOOLEAN: rc = sqlite3_bind_int64(stmt, i + 1, v[i].i); break;
    case LM_FLOAT: rc = sqlite3_bind_double(stmt, i + 1, v[i].f); break;
    case LM_TEXT:
      rc = sqlite3_bind_text64(stmt, i + 1, v[i].s, v[i].len, SQLITE_STATIC, SQLITE_UTF8);
      break;
    case LM_BLOB:                                     /* a BLOB, NUL bytes and all */
      rc = sqlite3_bind_blob64(stmt, i + 1, v[i].s, v[i].len, SQLITE_STATIC);
      break;
    default: rc = sqlite3_bind_null(stmt, i + 1); break;
    }
    if (rc != SQLITE_OK) {
      db_error(base->conn, sqlite3_sql(stmt), 0, e);
      lm_err_prefix(e, "row %" PRId64, base->rows);
      sqlite3_clear_bindings(stmt);
      return LM_ERROR;
    }
  }
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (rc != SQLITE_DONE) {
    db_error(base->conn, sqlite3_sql(stmt), 0, e);
    lm_err_prefix(e, "row %" PRId64, base->rows);
    return LM_ERROR;
  }
  return LM_OK;
}

static int sqlite_bulk_end(struct lm_bulk *base, int abort, struct lm_err *e) {
  if (base == NULL) return LM_OK;
  struct sqlite_bulk *b = (struct sqlite_bulk *)base;
  struct lm_conn *c = base->conn;
  sqlite3_finalize(b->stmt);
  free(b);
  if (!abort) return run_simple(c, "RELEASE luamig_bulk", e);
  drop_bulk_savepoint(c);
  return LM_OK;
}

static int sqlite_in_transaction(struct lm_conn *c) { return !sqlite3_get_autocommit(handle(c)); }

static int run_simple(struct lm_conn *c, const char *sql, struct lm_err *e) {
  if (sqlite3_exec(handle(c), sql, NULL, NULL, NULL) != SQLITE_OK) return db_error(c, sql, 0, e);
  return LM_OK;
}

static int sqlite_begin(struct lm_conn *c, struct lm_err *e) {
  struct sqlite_conn *sc = (struct sqlite_conn *)c;
  if (sqlite_in_transaction(c))
    return lm_err_set(e, LM_ERROR, "cannot begin: a transaction is already open");
  free(sc->rolled_back);
  sc->rolled_back = NULL;
  sc->tx_open = 0;
  if (run_simple(c, "BEGIN IMMEDIATE", e) != LM_OK) return LM_ERROR;
  sc->tx_open = 1;
  return LM_OK;
}

static int sqlite_commit(struct lm_conn *c, struct lm_err *e) {
  struct sqlite_conn *sc = (struct sqlite_conn *)c;
  if (!sqlite_in_transaction(c)) {
    sc->tx_open = 0;
    if (sc->rolled_back) return lm_err_set(e, LM_ERROR, "cannot commit: %s", sc->rolled_back);
    return lm_err_set(e, LM_ERROR, "cannot commit: no transaction is open "
                      "(SQLite may have rolled it back after an earlier error)");
  }
  int rc = run_simple(c, "COMMIT", e);
  if (!sqlite_in_transaction(c)) sc->tx_open = 0;
  return rc;
}

static int sqlite_rollback(struct lm_conn *c, struct lm_err *e) {
  struct sqlite_conn *sc = (struct sqlite_conn *)c;
  int rc = sqlite_in_transaction(c) ? run_simple(c, "ROLLBACK", e) : LM_OK;
  if (!sqlite_in_transaction(c)) {                    /* ended: what ended it is told by now */
    sc->tx_open = 0;
    free(sc->rolled_back);
    sc->rolled_back = NULL;
  }
  return rc;
}

static const char *sqlite_lost(struct lm_conn *c) {
  return ((struct sqlite_conn *)c)->rolled_back;
}

/* ---- the run lock: flock on "<db>-luamig.lock" (see the top) ---- */

/* The lock file's path for the database of sc, or NULL for a database no
 * other connection can see (":memory:", a temporary one). Caller frees. */
static char *lock_path(struct sqlite_conn *sc) {
  const char *file = sqlite3_db_filename(sc->db, "main");
  if (file == NULL || *file == '\0') return NULL;
  char *real = realpath(file, NULL);                  /* one file, one lock, whatever the path */
  char *path = lm_asprintf("%s-luamig.lock", real ? real : file);
  free(real);
  return path;
}

static int sqlite_lock(struct lm_conn *c, const char *name, int *got, char **holder,
                       struct lm_err *e) {
  struct sqlite_conn *sc = (struct sqlite_conn *)c;
  (void)name;                                         /* one writer per file anyway */
  *got = 0;
  if (holder) *holder = NULL;
  if (sc->lock_depth > 0) {
    sc->lock_depth++;
    *got = 1;
    return LM_OK;
  }
  char *path = lock_path(sc);
  if (path == NULL) {                                 /* private to this connection */
    sc->lock_depth = 1;
    *got = 1;
    return LM_OK;
  }
  int rc = LM_OK;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
    *got = -1;            /* a read-only directory: no lock here, and no journal for a write */
  } else if (fd < 0) {
    rc = lm_err_set(e, LM_ERROR, "cannot open the migration lock file '%s': %s (luamig keeps "
                    "it beside the database so that two runs never migrate at once: the "
                    "directory must be writable, as it must be for SQLite's journal)", path,
                    strerror(errno));
  } else if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    char pid[32];                                     /* for the messages of a waiting run */
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {}  /* only informative */
    sc->lock_fd = fd;
    sc->lock_depth = 1;
    *got = 1;
  } else if (errno == EWOULDBLOCK || errno == EINTR) {
    if (holder) {
      char buf[32] = "";
      ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
      long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
      *holder = pid > 0 ? lm_asprintf("pid %ld; lock file %s", pid, path)
                        : lm_asprintf("lock file %s", path);
    }
    close(fd);
  } else {
    rc = lm_err_set(e, LM_ERROR, "cannot lock the migration lock file '%s': %s", path,
                    strerror(errno));
    close(fd);
  }
  free(path);
  return rc;
}

static void unlock_all(struct sqlite_conn *sc) {
  sc->lock_depth = 0;
  if (sc->lock_fd < 0) return;
  if (ftruncate(sc->lock_fd, 0) != 0) {}              /* no stale pid for the next reader */
  close(sc->lock_fd);                                 /* releases the flock */
  sc->lock_fd = -1;
}

static int sqlite_unlock(struct lm_conn *c, const char *name) {
  struct sqlite_conn *sc = (struct sqlite_conn *)c;
  (void)name;
  if (sc->lock_depth > 1) sc->lock_depth--;
  else unlock_all(sc);
  return 1;
}

static void sqlite_interrupt(struct lm_conn *c) {
  if (c) sqlite3_interrupt(((struct sqlite_conn *)c)->db);
}

const struct lm_driver lm_driver_sqlite = {
  .name = "sqlite",
  .inexact_decimals = 1,
  .dialect = &lm_dialect_sqlite,
  .parse_url = NULL,
  .open = sqlite_open,
  .close = sqlite_close,
  .exec = sqlite_exec,
  .query = sqlite_query,
  .next = sqlite_next,
  .column_count = sqlite_column_count,
  .column_name = sqlite_column_name,
  .column_value = sqlite_column_value,
  .cursor_free = sqlite_cursor_free,
  .bulk_begin = sqlite_bulk_begin,
  .bulk_row = sqlite_bulk_row,
  .bulk_end = sqlite_bulk_end,
  .begin = sqlite_begin,
  .commit = sqlite_commit,
  .rollback = sqlite_rollback,
  .in_transaction = sqlite_in_transaction,
  .lock = sqlite_lock,
  .unlock = sqlite_unlock,
  .set_busy_timeout = sqlite_set_busy_timeout,
  .lost = sqlite_lost,
  .interrupt = sqlite_interrupt,
};
