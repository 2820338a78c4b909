/*
 * db_lease.h -- lock = "table": the migration lease, one row in the table
 * "<version_table>_lock" (layer 1: the statements are the dialect's,
 * struct lm_lease_sql). The runner (runner_lock.c) takes, renews and
 * releases it; `luamig lock status|break` read and break it.
 *
 * The row says who holds it (host, pid, run id), since and until when, and
 * a fencing token that grows by one at every taking. A run that holds it
 * renews it; a run whose renewal finds another token has lost it and stops
 * before writing anything (the runner renews inside each step's
 * transaction before its version write, so that write commits only under
 * a lease still held).
 */
#ifndef LUAMIG_DB_LEASE_H
#define LUAMIG_DB_LEASE_H

#include "db.h"

/* The lease row as read; strings owned (lm_lease_clear). */
struct lm_lease {
  int exists;            /* the table and its row exist */
  int held;              /* expires_at is set: held, or expired and not yet taken over
                          * (free: the run id and host are the last holder's, if any) */
  int expired;           /* held, but past expires_at: any run may take it */
  char *host, *run_id, *acquired_at, *expires_at;
  long pid;
  int64_t token;
  int64_t ms_left;       /* until expires_at (negative once expired) */
};

/* "<version_table>_lock". Caller frees. */
char *lm_lease_table(const char *version_table);
/* Whether c's database offers the lease. */
int lm_lease_supported(const struct lm_conn *c);
/* The longest version_table whose "<version_table>_lock" c's database
 * keeps whole (0: no limit). A longer one is refused by the run, by
 * `lock status` and by `lock break` alike: a cut name could be another
 * table's, and two spellings of one limit would disagree. */
size_t lm_lease_version_table_max(const struct lm_conn *c);
/* Whether version_table is longer than that. */
int lm_lease_version_table_too_long(const struct lm_conn *c, const char *version_table);
/* Create the table if missing (a concurrent creation by another run is
 * not an error). */
int lm_lease_ensure(struct lm_conn *c, const char *version_table, struct lm_err *e);
/* Take the lease for lease_ms if it is free or expired: *token > 0 then,
 * else 0 (another run holds it, or another transaction holds its row
 * longer than wait_ms). */
int lm_lease_acquire(struct lm_conn *c, const char *version_table, const char *host, long pid,
                     const char *run_id, long lease_ms, long wait_ms, int64_t *token,
                     struct lm_err *e);
/* The server pid of another session whose open transaction holds the
 * lease row (a run with transaction_per_migration = false); 0: none. */
long lm_lease_row_pid(struct lm_conn *c, const char *version_table);
/* Extend the lease held under token and run_id by lease_ms from now:
 * *kept 0 when it is no longer ours (taken over or broken). Inside a
 * transaction it also locks the row until the transaction ends. */
int lm_lease_renew(struct lm_conn *c, const char *version_table, int64_t token,
                   const char *run_id, long lease_ms, int *kept, struct lm_err *e);
/* Free the lease if still ours; errors are ignored (it expires anyway). */
void lm_lease_release(struct lm_conn *c, const char *version_table, int64_t token,
                      const char *run_id);
/* Read the row (out->exists 0 when there is no table or row). */
int lm_lease_read(struct lm_conn *c, const char *version_table, struct lm_lease *out,
                  struct lm_err *e);
void lm_lease_clear(struct lm_lease *l);
/* Free the lease whoever holds it, moving the token on so the holder's
 * next renewal or version write fails: *broken 1 when it was held. */
int lm_lease_break(struct lm_conn *c, const char *version_table, int *broken, struct lm_err *e);

#endif
