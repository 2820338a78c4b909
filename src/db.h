/*
 * db.h -- layer 1: one connection interface, one driver per database.
 *
 * Everything above this layer talks to struct lm_conn through its driver
 * (struct lm_driver, a table of function pointers, as sqlite3_io_methods
 * or git's ref_storage_be), never to a vendor type. db_sqlite.c is the only
 * file that includes <sqlite3.h>, db_pg*.c the only ones with <libpq-fe.h>.
 *
 * Placeholders: one style for both databases, $1, $2, ... numbered from 1
 * (PostgreSQL's own; the SQLite driver binds "$N" to the N-th value). A
 * parameter may be used several times and in any order.
 */
#ifndef LUAMIG_DB_H
#define LUAMIG_DB_H

#include "luamig.h"

/* LM_BLOB is a byte string for a binary column (bytea, BLOB): the drivers
 * store its bytes as they are, where LM_TEXT is text (on PostgreSQL a
 * string goes through the column type's text input, which reads "\\x41"
 * as one byte). */
enum lm_type { LM_NULL, LM_INTEGER, LM_FLOAT, LM_TEXT, LM_BOOLEAN, LM_BLOB };

/* A bound parameter or a column value. Strings are byte strings with a
 * length (they may hold any byte) and, as parameters, NUL-terminated (as
 * every Lua string is); a value read from a cursor points into
 * the cursor and stays valid until the next call to next or cursor_free. */
struct lm_value {
  enum lm_type type;
  int64_t i;           /* LM_INTEGER; LM_BOOLEAN (0 or 1) */
  double f;            /* LM_FLOAT */
  const char *s;       /* LM_TEXT, LM_BLOB */
  size_t len;          /* LM_TEXT, LM_BLOB */
};

struct lm_driver;
struct lm_lease_sql;

/* What luamig's own SQL needs to know of a database, connected or not
 * (db_dialect.c): the layers above ask it rather than branch on a name. */
struct lm_dialect {
  const char *name;              /* "sqlite", "postgresql" */
  const char *title;             /* "SQLite", "PostgreSQL": for messages */
  const char *table_exists_sql;  /* a row when the table named $1 is visible (PostgreSQL:
                                  * in the search path) */
  const char *serial_key_type;   /* a primary key numbered by the database (the log's id) */
  const char *timestamp_type;    /* a point in time (the log's applied_at) */
  const char *blob_open;         /* a blob literal: blob_open, lower-case hex digits, */
  const char *blob_close;        /*   blob_close: X'4142' or decode('4142', 'hex') */
  size_t name_max;               /* bytes of a name the database keeps (it cuts longer ones
                                  * silently, at a UTF-8 character boundary); 0: no limit */
  /* lock = "table": the lease row's statements (db_lease.c), {t} standing
   * for the quoted lease table; NULL where the lease is not offered (SQLite,
   * whose file lock is the only run lock it needs). Times are the server's. */
  const struct lm_lease_sql *lease;
};

struct lm_lease_sql {
  const char *create;   /* the table, if missing: one row, id = 1 */
  const char *acquire;  /* $1 host, $2 pid, $3 run id, $4 lease ms: a row (the new token)
                         * only when the lease was free or expired */
  const char *renew;    /* $1 token, $2 run id, $3 lease ms: a row only while still ours */
  const char *release;  /* $1 token, $2 run id */
  const char *read;     /* host, pid, run_id, acquired_at, expires_at, token, expired, ms left */
  const char *brk;      /* free it whoever holds it, the token moved on: a row if it was held */
  const char *bound;    /* $1 a time ("1000ms"): the transaction's lock and statement timeouts */
  const char *row_pid;  /* $1 the quoted table: the server pid of another session whose open
                         * transaction wrote the row, if any */
};

extern const struct lm_dialect lm_dialect_sqlite;
extern const struct lm_dialect lm_dialect_postgresql;
/* The dialect of that name, NULL if none. */
const struct lm_dialect *lm_dialect_find(const char *name);
/* sql with each $N replaced by the N-th value as a literal of dialect d,
 * outside double-quoted identifiers (offline SQL, where nothing is bound).
 * Caller frees; NULL with e set when a value cannot be rendered or $N has
 * no value. */
char *lm_sql_inline(const struct lm_dialect *d, const char *sql, int nparams,
                    const struct lm_value *params, struct lm_err *e);

/* A parsed database URL. All strings are owned (lm_url_release frees them).
 * A URL that does not parse is never shown: display exists only for one
 * that did, and it is rebuilt from the parsed fields, not copied from the
 * text, so no password can ride along in a part the parser read otherwise
 * than the user meant. */
struct lm_url {
  const struct lm_driver *driver;
  char *target;        /* SQLite: a file path or ":memory:"; PostgreSQL: the URL for libpq */
  char *display;       /* the URL for messages, every password shown as "***" */
  char **secrets;      /* NULL-terminated list (or NULL): each form of each password in the text */
};

/* Every driver's connection starts with this, so the layers above can hold
 * a struct lm_conn * and dispatch through c->driver. */
struct lm_conn {
  const struct lm_driver *driver;
  char *display;       /* owned copy of the URL's display form, for messages */
  char **secrets;      /* owned copy of the URL's secrets, redacted out of messages */
  /* Asked before each statement a migration sends through the Lua
   * connection object (NULL: none): the runner sets it while a step body
   * runs, so a run that lost its lease sends nothing more (runner_lock.c) */
  int (*guard)(void *ctx, struct lm_err *e);
  void *guard_ctx;
  /* The table a bulk load is streaming into (NULL: none): PostgreSQL's
   * COPY holds the connection until it ends, so a statement from the rows'
   * iterator would only abort the transaction with a message that hides why */
  const char *copying;
};

/* c's guard, if any: LM_OK, or LM_ERROR with e saying why nothing may be sent. */
static inline int lm_conn_guard(struct lm_conn *c, struct lm_err *e) {
  if (c->copying != NULL)
    return lm_err_set(e, LM_ERROR, "a statement was sent while bulk_insert into '%s' streams its "
                      "rows (COPY holds the connection until the last row): run it before or "
                      "after the bulk_insert, not from its rows' iterator", c->copying);
  return c->guard ? c->guard(c->guard_ctx, e) : LM_OK;
}

/* Every driver's cursor starts with this. */
struct lm_cursor {
  struct lm_conn *conn;
};

/* Every driver's bulk-load handle starts with this. */
struct lm_bulk {
  struct lm_conn *conn;
  int ncols;
  int64_t rows;        /* rows sent so far */
};

struct lm_driver {
  const char *name;    /* "sqlite", "postgresql": the dialect's name */
  const struct lm_dialect *dialect;
  /* The database's own reading of a decimal string misses the nearest
   * double now and then (SQLite: "0.0177214" by one ulp): bulk_insert
   * reads such a string for a number column itself, with strtod. */
  int inexact_decimals;

  /* Read u->target with the database's own parser, without connecting:
   * set u->display from the parsed fields and add to u->secrets every
   * password it holds. A string it cannot read is refused without being
   * quoted. Called for PostgreSQL URLs only (SQLite's are paths, parsed
   * by db.c), so a driver without URLs of its kind leaves it NULL. */
  int (*parse_url)(struct lm_url *u, struct lm_err *e);
  /* The URL u names with its database replaced by dbname, everything else
   * (hosts, user, password, sslmode, ...) as the parser read it; *out is
   * owned by the caller. NULL for a driver without server databases. */
  int (*with_dbname)(const struct lm_url *u, const char *dbname, char **out, struct lm_err *e);
  /* Open a connection; on success *out is owned by the caller, who closes
   * it with close. */
  int (*open)(const struct lm_url *url, struct lm_conn **out, struct lm_err *e);
  /* Close and free; NULL-safe. An open transaction is rolled back. */
  void (*close)(struct lm_conn *c);

  /* Run sql. With no parameters sql may hold several statements; with
   * parameters it must be one. *changes (may be NULL) gets the rows that
   * the last statement inserted, updated or deleted. */
  int (*exec)(struct lm_conn *c, const char *sql, int nparams,
              const struct lm_value *params, int64_t *changes, struct lm_err *e);
  /* Run one statement that returns rows; *out is owned by the caller, who
   * frees it with cursor_free. */
  int (*query)(struct lm_conn *c, const char *sql, int nparams,
               const struct lm_value *params, struct lm_cursor **out,
               struct lm_err *e);
  /* LM_ROW when a row is ready, LM_DONE at the end, LM_ERROR on failure. */
  int (*next)(struct lm_cursor *cur, struct lm_err *e);
  int (*column_count)(struct lm_cursor *cur);
  const char *(*column_name)(struct lm_cursor *cur, int i);      /* 0-based */
  void (*column_value)(struct lm_cursor *cur, int i, struct lm_value *out);
  void (*cursor_free)(struct lm_cursor *cur);                    /* NULL-safe */

  /* Bulk load into one table, inside the caller's transaction: SQLite
   * re-binds one prepared INSERT, PostgreSQL streams COPY FROM STDIN.
   * bulk_begin's table and columns are unquoted names. Each bulk_row takes
   * ncols values; its errors name the row. bulk_end finishes the load (or
   * abandons it when abort is set, leaving the connection usable) and frees
   * the handle; it reports errors the database raised at the end (a COPY's
   * bad value), naming the row. */
  int (*bulk_begin)(struct lm_conn *c, const char *table, int ncols,
                    const char *const *columns, struct lm_bulk **out, struct lm_err *e);
  int (*bulk_row)(struct lm_bulk *b, const struct lm_value *values, struct lm_err *e);
  int (*bulk_end)(struct lm_bulk *b, int abort, struct lm_err *e);

  /* Transactions. begin fails when one is already open. */
  int (*begin)(struct lm_conn *c, struct lm_err *e);
  int (*commit)(struct lm_conn *c, struct lm_err *e);
  int (*rollback)(struct lm_conn *c, struct lm_err *e);
  int (*in_transaction)(struct lm_conn *c);

  /* The run lock (runner.c holds it for a whole run, across transactions
   * and autocommit steps): one luamig run per database and name (the
   * version table) at a time, whether the other run is another process or
   * another connection of this one. lock asks once and never waits: *got
   * is 1 when this connection now holds it (a second lock counts, and
   * needs a second unlock); 0 when another holds it, and then *holder (may
   * be NULL) gets who, e.g. "server pid 123", caller frees; -1 when no run
   * lock can be had for this database (SQLite in a read-only directory,
   * where no step can write either): the caller relies on its other
   * defences. unlock releases one hold (returning 1; 0 when the lock is
   * not in this connection's session, which a pooler can cause: it stays
   * held); closing the connection releases them all. */
  int (*lock)(struct lm_conn *c, const char *name, int *got, char **holder, struct lm_err *e);
  int (*unlock)(struct lm_conn *c, const char *name);
  /* Whether this statement (and the transaction it is in) runs in the
   * server session that took the run lock: *why (caller frees) when not.
   * NULL: a connection is always one session. */
  int (*lock_session)(struct lm_conn *c, char **why, struct lm_err *e);
  /* End the run lock another session holds (`luamig lock break`): *what
   * says what was done, e.g. "terminated server pid 123"; NULL *what when
   * nobody held it. NULL where no process can break it (SQLite's file lock
   * goes only with the process holding it). */
  int (*lock_break)(struct lm_conn *c, const char *name, char **what, struct lm_err *e);
  /* Who holds the run lock, without taking it (`luamig lock status`):
   * *holder as lock's, NULL when free. NULL where lock then unlock asks
   * it harmlessly (SQLite). */
  int (*lock_holder)(struct lm_conn *c, const char *name, char **holder, struct lm_err *e);
  /* Whether this connection is one stable server session (lock =
   * "advisory" needs one): *stable 0 with *why (caller frees) when the
   * statements of one client reach different sessions or share one with
   * another client -- a transaction-pooling pooler; *stable 1 with *why
   * when the check could not be made (why not, for a warning). NULL:
   * always stable. */
  int (*session_stable)(struct lm_conn *c, int *stable, char **why, struct lm_err *e);
  /* Open a second connection to c's database with what c connected with
   * (the lease's heartbeat renews from it while c runs a long step). NULL
   * where there is no lease. */
  int (*clone)(struct lm_conn *c, struct lm_conn **out, struct lm_err *e);
  /* How long a statement waits for a lock another process holds on the
   * database before it fails, saying so and how long it waited (SQLite's
   * busy handler). NULL where the server has its own settings. */
  void (*set_busy_timeout)(struct lm_conn *c, long ms);
  /* Why the last transaction ended other than by the caller's own SQL, or
   * NULL: the connection to the server was lost (the server then rolls the
   * transaction back), or SQLite rolled it back itself after a disk-full,
   * I/O or out-of-memory error. Either way nothing of it was committed.
   * Valid until the next call on c. */
  const char *(*lost)(struct lm_conn *c);
  /* Ask the statement running on c, if any, to stop; it then fails (Ctrl-C
   * in the luamig command). Safe to call from a signal handler: SQLite's
   * sqlite3_interrupt, PostgreSQL's PQcancel with the cancel object made
   * when c was opened. */
  void (*interrupt)(struct lm_conn *c);
};

extern const struct lm_driver lm_driver_sqlite;
extern const struct lm_driver lm_driver_postgresql;
/* db_pg_lib.c: load libpq (once) before the PostgreSQL driver's first use;
 * fails with what to install when it cannot. */
int lm_pg_load(struct lm_err *e);

/* db.c: URL parsing and the dialect-aware quoting shared by both drivers. */
int lm_url_parse(const char *url, struct lm_url *out, struct lm_err *e);
void lm_url_release(struct lm_url *u);
/* url with its database name replaced (a PostgreSQL URL only); caller
 * frees *out. */
int lm_url_with_dbname(const char *url, const char *dbname, char **out, struct lm_err *e);
/* Open whatever the URL names. */
int lm_db_connect(const char *url, struct lm_conn **out, struct lm_err *e);
/* Process-wide settings for a program that owns the process (the luamig
 * command, before anything else): SQLite's memory statistics off, which
 * spares a global mutex per allocation. A library embedding luamig.core
 * leaves the host's settings alone and does not call it. */
void lm_db_tune_process(void);
/* Free the fields of struct lm_conn (not the struct); drivers call it. */
void lm_conn_release(struct lm_conn *c);

/* Secrets: a NULL-terminated list of owned strings (NULL is the empty
 * list). lm_secrets_add adds s (n bytes) with its percent-decoded and
 * percent-encoded forms, each once. */
void lm_secrets_add(char ***list, const char *s, size_t n);
char **lm_secrets_copy(char *const *list);
void lm_secrets_free(char **list);
/* Every secret that text may hold, whether or not it parses as a URL:
 * the parse's own (lm_url_parse) plus, as a safety net, what looks like a
 * password in it (userinfo, "password=" values). Caller frees with
 * lm_secrets_free. */
char **lm_url_secrets(const char *text);
/* Shorter secrets are not searched for in messages: "a" would turn every
 * "a" into "***". */
#define LM_SECRET_MIN_LEN 4
/* Replace each occurrence of each secret in *msg by "***", longest first. */
void lm_redact(char **msg, char *const *secrets);
/* lm_redact on e's message and statement. */
void lm_err_redact(struct lm_err *e, char *const *secrets);

/* "INSERT INTO "t" ("a", "b")" or "COPY "t" ("a", "b")": the statement head
 * both drivers' bulk loads start with; NULL (message in e) on a bad name.
 * Caller frees. */
char *lm_bulk_head(const char *verb, const char *table, int ncols,
                   const char *const *columns, struct lm_err *e);

/* Append one row of n values in PostgreSQL's COPY text format, newline
 * included (db_pg.c): what a bulk load sends, and the offline COPY block.
 * Returns 0, or the 1-based index of a text value holding a NUL byte, which
 * COPY cannot carry (nothing is appended then). */
int lm_copy_text_row(struct lm_buf *buf, int n, const struct lm_value *v);

/* Quote an identifier: always double-quoted, inner quotes doubled. Fails
 * (NULL, message in e) on an empty name or one holding a NUL byte. Caller
 * frees the result. */
char *lm_quote_ident(const char *name, size_t len, struct lm_err *e);
/* Quote a string as an SQL literal for the dialect ("sqlite" or
 * "postgresql"): '...' with quotes doubled; on PostgreSQL a string with a
 * backslash becomes E'...' with backslashes doubled, correct whatever
 * standard_conforming_strings says. Fails on a NUL byte. Caller frees. */
char *lm_quote_literal(const char *dialect, const char *s, size_t len,
                       struct lm_err *e);

#endif
