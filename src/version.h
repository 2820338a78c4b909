/*
 * version.h -- the version table (luamig_version: one row per applied head,
 * Alembic's semantics) and its append-only log (luamig_log), through the
 * driver vtable only.
 *
 * Every write goes through a sink: online it runs on the connection,
 * offline (--sql) it is rendered with its values as literals and handed to
 * an emit callback, so one code path writes both.
 */
#ifndef LUAMIG_VERSION_H
#define LUAMIG_VERSION_H

#include "db.h"

struct lm_sink {
  struct lm_conn *conn;                         /* online; NULL offline */
  const struct lm_dialect *dialect;             /* what the SQL may use (offline: --sql's) */
  void (*emit)(void *ctx, const char *sql);     /* offline: one statement, ";"-terminated */
  void *ctx;
};

/* Run (or emit) one statement with $N parameters. */
int lm_sink_exec(struct lm_sink *s, const char *sql, int nparams,
                 const struct lm_value *params, int64_t *changes, struct lm_err *e);

/* A transaction through the sink: the driver's begin and commit online,
 * BEGIN; and COMMIT; offline. A rollback is online only (an offline script
 * that fails is not written on) and its own error is dropped: the
 * caller's is what matters. */
int lm_sink_begin(struct lm_sink *s, struct lm_err *e);
int lm_sink_commit(struct lm_sink *s, struct lm_err *e);
void lm_sink_rollback(struct lm_sink *s);

/* The log table's name for a version table: "x_version" -> "x_log", else
 * "<name>_log". Caller frees. */
char *lm_version_log_name(const char *version_table);

/* Whether the version table exists (read-only commands must not create it). */
int lm_version_exists(struct lm_conn *c, const char *table, int *exists, struct lm_err *e);
/* The version rows, sorted; an absent table has none. *rows: caller frees
 * with lm_version_rows_free. */
int lm_version_read(struct lm_conn *c, const char *table, char ***rows, size_t *n,
                    struct lm_err *e);
/* The same when the table is known to exist (one query fewer: the
 * runner's re-read before each step). */
int lm_version_read_rows(struct lm_conn *c, const char *table, char ***rows, size_t *n,
                         struct lm_err *e);
void lm_version_rows_free(char **rows, size_t n);
/* CREATE TABLE IF NOT EXISTS for the version table and the log. */
int lm_version_ensure(struct lm_sink *s, const char *table, struct lm_err *e);

enum lm_version_op { LM_VERSION_INSERT, LM_VERSION_DELETE, LM_VERSION_UPDATE };
/* One compare-and-set write: an INSERT fails if the row exists, a DELETE or
 * UPDATE must find exactly the expected old row; otherwise the error says
 * another run changed the table. from/to may be NULL where unused. */
int lm_version_write(struct lm_sink *s, const char *table, int op, const char *from,
                     const char *to, struct lm_err *e);

/* Delete every row (stamp --purge). */
int lm_version_purge(struct lm_sink *s, const char *table, struct lm_err *e);

/* The log's directions. A checksum is recorded by an upgrade (the script as
 * it ran) and by an accept (`verify --accept`: the script as reviewed
 * later); a stamp and a downgrade record none that counts. */
#define LM_LOG_UPGRADE "upgrade"
#define LM_LOG_DOWNGRADE "downgrade"
#define LM_LOG_STAMP "stamp"
#define LM_LOG_ACCEPT "accept"

/* Append one row to the log. checksum may be NULL (a stamp); duration_ms
 * < 0 records none (an accept runs nothing). */
int lm_version_log(struct lm_sink *s, const char *table, const char *revision,
                   const char *direction, const char *checksum, int64_t duration_ms,
                   const char *who, struct lm_err *e);

/* The applied checksum of each revision that has one: its latest log row
 * among those that change whether or how it is applied (upgrade, accept,
 * downgrade, stamp), when that row is an upgrade or an accept with a
 * checksum. After a downgrade or a stamp a revision has none until an
 * upgrade or an accept. One entry per revision, oldest first. An absent
 * log has none. Caller frees both lists with lm_version_rows_free(list, *n). */
int lm_version_checksums(struct lm_conn *c, const char *table, char ***revisions,
                         char ***checksums, size_t *n, struct lm_err *e);

#endif
