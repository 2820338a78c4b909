/*
 * db_dialect.c -- what luamig's own SQL needs to know of each database,
 * with or without a connection (--sql renders offline, where there is
 * none): the catalog query, the log table's column types, literals.
 *
 * The layers above (version.c, runner*.c) ask the dialect and never branch
 * on a database's name; a driver points at its dialect (lm_driver.dialect).
 */
#include "db.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "value_kind.h"

const struct lm_dialect lm_dialect_sqlite = {
  .name = "sqlite",
  .title = "SQLite",
  .table_exists_sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1",
  /* the log only grows: the rowid suffices, and AUTOINCREMENT would rewrite
   * sqlite_sequence at every step */
  .serial_key_type = "INTEGER PRIMARY KEY",
  .timestamp_type = "TIMESTAMP",
  .blob_open = "X'",
  .blob_close = "'",
  .name_max = 0,
};

/* The lease of lock = "table" (db_lease.c): one row, held while expires_at
 * is set (a release clears it and keeps the last holder for messages; a
 * break clears the holder too), taken only when free or expired by a
 * single statement (the row lock makes concurrent takers
 * queue, and each sees the winner's row), its token one more at every
 * taking. Times are the server's clock_timestamp(), so clients' clocks do
 * not matter; renew is the fencing check too (a row only while the token
 * and run id are still ours). */
static const struct lm_lease_sql pg_lease = {
  .create = "CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY CHECK (id = 1), host TEXT, "
            "pid BIGINT, run_id TEXT, acquired_at TIMESTAMPTZ, expires_at TIMESTAMPTZ, "
            "token BIGINT NOT NULL DEFAULT 0)",
  .acquire = "INSERT INTO {t} AS l (id, host, pid, run_id, acquired_at, expires_at, token) "
             "VALUES (1, $1, $2, $3, clock_timestamp(), clock_timestamp() + ($4::float8 * "
             "interval '1 millisecond'), 1) ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, "
             "pid = EXCLUDED.pid, run_id = EXCLUDED.run_id, acquired_at = EXCLUDED.acquired_at, "
             "expires_at = EXCLUDED.expires_at, token = l.token + 1 "
             "WHERE l.expires_at IS NULL OR l.expires_at < clock_timestamp() RETURNING l.token",
  .renew = "UPDATE {t} SET expires_at = clock_timestamp() + ($3::float8 * interval '1 millisecond') "
           "WHERE id = 1 AND token = $1 AND run_id = $2 RETURNING token",
  .release = "UPDATE {t} SET expires_at = NULL WHERE id = 1 AND token = $1 AND run_id = $2",
  .read = "SELECT host, pid, run_id, acquired_at::text, expires_at::text, token, "
          "expires_at < clock_timestamp(), "
          "(extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint FROM {t} WHERE id = 1",
  .brk = "UPDATE {t} SET host = NULL, pid = NULL, run_id = NULL, acquired_at = NULL, "
         "expires_at = NULL, token = token + 1 WHERE id = 1 AND expires_at IS NOT NULL RETURNING token",
  .bound = "SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $1, true)",
  .row_pid = "SELECT pid::bigint FROM pg_locks WHERE locktype = 'relation' AND granted AND "
             "database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND "
             "relation = to_regclass($1) AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid() "
             "ORDER BY pid LIMIT 1",
};

const struct lm_dialect lm_dialect_postgresql = {
  .name = "postgresql",
  .title = "PostgreSQL",
  .table_exists_sql = "SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = $1 "
                      "AND schemaname = ANY (current_schemas(false))",
  .serial_key_type = "BIGSERIAL PRIMARY KEY",
  .timestamp_type = "TIMESTAMPTZ",
  .blob_open = "decode('",
  .blob_close = "', 'hex')",
  .name_max = 63,                                     /* NAMEDATALEN - 1 */
  .lease = &pg_lease,
};

const struct lm_dialect *lm_dialect_find(const char *name) {
  static const struct lm_dialect *const all[] = {&lm_dialect_sqlite, &lm_dialect_postgresql};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    if (name != NULL && strcmp(all[i]->name, name) == 0) return all[i];
  return NULL;
}

char *lm_sql_inline(const struct lm_dialect *d, const char *sql, int nparams,
                    const struct lm_value *params, struct lm_err *e) {
  struct lm_buf b = LM_BUF_INIT;
  char quote = 0;                       /* inside '...' or "...": no placeholders there */
  for (const char *p = sql; *p; p++) {
    if (*p == '"' || *p == '\'') quote = quote == 0 ? *p : quote == *p ? 0 : quote;
    if (quote || *p != '$' || p[1] < '1' || p[1] > '9') {
      lm_buf_addc(&b, *p);
      continue;
    }
    char *end;
    long n = strtol(p + 1, &end, 10);
    if (n > nparams) {
      lm_buf_release(&b);
      lm_err_set(e, LM_ERROR, "statement uses $%ld but has %d values", n, nparams);
      return NULL;
    }
    const struct lm_value *v = &params[n - 1];
    char *lit, text[LM_NUMBER_TEXT_MAX];
    switch (v->type) {
    case LM_NULL: lm_buf_adds(&b, "NULL"); break;
    case LM_BOOLEAN: lm_buf_adds(&b, v->i ? "TRUE" : "FALSE"); break;
    case LM_INTEGER:
    case LM_FLOAT:                      /* negative in parentheses: "x-$1" must not read "x--1" */
      if (v->type == LM_FLOAT && !isfinite(v->f)) {
        lm_buf_release(&b);
        lm_err_set(e, LM_ERROR, "$%ld: %s cannot be written as an SQL literal", n,
                   isnan(v->f) ? "NaN" : v->f > 0 ? "inf" : "-inf");
        return NULL;
      }
      lm_number_text(v, text);
      lm_buf_printf(&b, text[0] == '-' ? "(%s)" : "%s", text);
      break;
    case LM_BLOB:
      lm_buf_adds(&b, d->blob_open);
      for (size_t i = 0; i < v->len; i++) lm_buf_printf(&b, "%02x", (unsigned char)v->s[i]);
      lm_buf_adds(&b, d->blob_close);
      break;
    case LM_TEXT:
      if ((lit = lm_quote_literal(d->name, v->s, v->len, e)) == NULL) {
        lm_buf_release(&b);
        return NULL;
      }
      lm_buf_adds(&b, lit);
      free(lit);
      break;
    }
    p = end - 1;
  }
  return lm_buf_detach(&b);
}
