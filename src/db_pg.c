/*
 * db_pg.c -- the PostgreSQL driver (its URLs are db_pg_url.c's): with
 * db_pg_url.c, the only file that includes <libpq-fe.h>.
 *
 * Parameters go as text with a type OID chosen from the Lua value
 * (int8, float8, bool; strings as "unknown" so the server infers the
 * column's type, as psql's literals do), so 64-bit integers and floats
 * cross exactly. Results come back as text and are converted by column
 * type: integers, floats and booleans to numbers and booleans, bytea
 * decoded, numeric kept as a string so no precision is lost.
 *
 * The run lock (db.h's lock/unlock; the runner polls it for a whole run)
 * is taken here, in pg_lock at "the run lock" below: a session advisory
 * lock, pg_try_advisory_lock on a bigint key that is FNV-1a of "luamig:"
 * and the version table's name, so runs on one database and version table
 * exclude each other whatever their client. Asked once and polled by the
 * runner, never waited for in the server, so a step running CREATE INDEX
 * CONCURRENTLY cannot deadlock against a waiting run; a session lock, so
 * it outlives each step's transaction and goes with a lost session.
 */
#include "db.h"
#include "db_pg_int.h"
#include "value_kind.h"

#include <libpq-fe.h>
#include <inttypes.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Type OIDs from pg_type.h (server headers are not a client dependency). */
enum {
  OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23,
  OID_OID = 26, OID_FLOAT4 = 700, OID_FLOAT8 = 701
};

#define CONNECT_TIMEOUT_S "10"

struct pg_conn {
  struct lm_conn base;   /* first: the layers above see only this */
  PGconn *pg;
  PGcancel *cancel;      /* made at open: PQgetCancel allocates, PQcancel may run in a signal handler */
  long lock_pid;         /* the server session that took the run lock; 0: none held */
};

struct pg_cursor {
  struct lm_cursor base;
  PGresult *res;
  int row, nrows;
  unsigned char *bytea;  /* the last decoded bytea value, freed on the next */
};

static PGconn *handle(struct lm_conn *c) { return ((struct pg_conn *)c)->pg; }

/* Fill e from a failed result (or from the connection when res is NULL). */
static int result_error(struct lm_conn *c, PGresult *res, const char *sql, struct lm_err *e) {
  const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (primary == NULL) {
    char *msg = lm_pg_trimmed(res ? PQresultErrorMessage(res) : PQerrorMessage(handle(c)));
    lm_err_set(e, LM_ERROR, "%s", *msg ? msg : "the server returned no result");
    free(msg);
  } else {
    struct lm_buf b = LM_BUF_INIT;
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    lm_buf_adds(&b, primary);
    if (detail) lm_buf_printf(&b, "\nDETAIL: %s", detail);
    if (hint) lm_buf_printf(&b, "\nHINT: %s", hint);
    lm_err_set(e, LM_ERROR, "%s", b.data);
    lm_buf_release(&b);
  }
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  snprintf(e->sqlstate, sizeof e->sqlstate, "%s", state ? state : "");
  /* class 23: integrity constraint violation */
  e->kind = state && strncmp(state, "23", 2) == 0 ? LM_CONSTRAINT : LM_ERR_OTHER;
  const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
  e->position = pos ? atoi(pos) : 0;
  lm_err_set_sql(e, sql);
  lm_err_redact(e, c->secrets);
  return LM_ERROR;
}

static void ignore_notice(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

/* The driver's connection around a connected PGconn (pg_open's, and the
 * lease heartbeat's second one). */
static struct lm_conn *wrap_conn(PGconn *pg, const char *display, char *const *secrets) {
  PQsetNoticeProcessor(pg, ignore_notice, NULL);
  struct pg_conn *pc = lm_malloc(sizeof *pc);
  pc->base.driver = &lm_driver_postgresql;
  pc->base.display = lm_strdup(display);
  pc->base.secrets = lm_secrets_copy(secrets);
  pc->base.guard = NULL;
  pc->base.guard_ctx = NULL;
  pc->base.copying = NULL;
  pc->pg = pg;
  pc->cancel = PQgetCancel(pg);
  pc->lock_pid = 0;
  return &pc->base;
}

static int pg_open(const struct lm_url *url, struct lm_conn **out, struct lm_err *e) {
  /* Keywords are applied in order and the URL (dbname, expanded) comes
   * last, so a connect_timeout written in the URL wins over ours. */
  const char *keys[] = {"connect_timeout", "fallback_application_name", "client_encoding",
                        "dbname", NULL};
  const char *values[] = {CONNECT_TIMEOUT_S, "luamig", "UTF8", url->target, NULL};
  PGconn *pg = PQconnectdbParams(keys, values, 1);
  if (pg == NULL) {                                   /* libpq itself: only out of memory */
    lm_pg_nothing("PQconnectdbParams", e);
    lm_err_prefix(e, "cannot connect to PostgreSQL at '%s'", url->display);
    return LM_ERROR;
  }
  if (PQstatus(pg) != CONNECTION_OK) {
    char *m = lm_pg_trimmed(PQerrorMessage(pg));
    lm_err_set(e, LM_ERROR, "cannot connect to PostgreSQL at '%s': %s", url->display, m);
    free(m);
    lm_err_redact(e, url->secrets);
    PQfinish(pg);
    return LM_ERROR;
  }
  *out = wrap_conn(pg, url->display, url->secrets);
  return LM_OK;
}

static void pg_interrupt(struct lm_conn *c) {
  struct pg_conn *pc = (struct pg_conn *)c;
  char why[256];                                      /* PQcancel's own words; nothing to do with them */
  if (pc && pc->cancel) PQcancel(pc->cancel, why, (int)sizeof why);
}

static void pg_close(struct lm_conn *c) {
  if (c == NULL) return;
  PQfreeCancel(((struct pg_conn *)c)->cancel);
  PQfinish(handle(c));   /* the server rolls back an open transaction */
  lm_conn_release(c);
  free(c);
}

/* Parameters in libpq's form; the text of numbers lives in owned buffers. */
struct pg_params {
  Oid *types;
  const char **values;
  int *lengths, *formats;
  char (*text)[40];
};

static void params_release(struct pg_params *p) {
  free(p->types);
  free(p->values);
  free(p->lengths);
  free(p->formats);
  free(p->text);
}

static void params_build(struct pg_params *p, int n, const struct lm_value *v) {
  size_t k = n > 0 ? (size_t)n : 0;                  /* lm_malloc takes 0 */
  p->types = lm_malloc(k * sizeof *p->types);
  p->values = lm_malloc(k * sizeof *p->values);
  p->lengths = lm_malloc(k * sizeof *p->lengths);
  p->formats = lm_malloc(k * sizeof *p->formats);
  p->text = lm_malloc(k * sizeof *p->text);
  for (int i = 0; i < n; i++) {
    p->types[i] = 0;
    p->lengths[i] = 0;
    p->formats[i] = 0;
    p->values[i] = p->text[i];
    switch (v[i].type) {
    case LM_NULL: p->values[i] = NULL; break;
    case LM_INTEGER:
      p->types[i] = OID_INT8;
      snprintf(p->text[i], sizeof p->text[i], "%" PRId64, v[i].i);
      break;
    case LM_FLOAT:
      p->types[i] = OID_FLOAT8;
      if (isnan(v[i].f)) snprintf(p->text[i], sizeof p->text[i], "NaN");
      else lm_number_text(&v[i], p->text[i]);      /* Infinity, -Infinity, shortest digits */
      break;
    case LM_BOOLEAN:
      p->types[i] = OID_BOOL;
      snprintf(p->text[i], sizeof p->text[i], "%s", v[i].i ? "t" : "f");
      break;
    case LM_BLOB:                                     /* the bytes as they are */
      p->values[i] = v[i].s;
      p->types[i] = OID_BYTEA;
      p->formats[i] = 1;
      p->lengths[i] = (int)v[i].len;
      break;
    case LM_TEXT: p->values[i] = v[i].s; break;     /* run refused one with a NUL byte */
    }
  }
}

static int command_ok(ExecStatusType st) {
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* Run sql; on success *res holds the result, owned by the caller. */
static int run(struct lm_conn *c, const char *sql, int nparams, const struct lm_value *params,
               PGresult **res, struct lm_err *e) {
  PGconn *pg = handle(c);
  if (nparams == 0) {
    *res = PQexec(pg, sql);                           /* may hold several statements */
  } else {
    for (int i = 0; i < nparams; i++)                 /* text cannot hold NUL: never bytes silently */
      if (params[i].type == LM_TEXT && memchr(params[i].s, '\0', params[i].len) != NULL) {
        *res = NULL;
        lm_err_set(e, LM_ERROR, "parameter $%d: a string with a NUL byte cannot be sent as "
                   "text (PostgreSQL's text cannot hold NUL); bind bytes as LM_BLOB", i + 1);
        lm_err_set_sql(e, sql);
        return LM_ERROR;
      }
    struct pg_params p;
    params_build(&p, nparams, params);
    *res = PQexecParams(pg, sql, nparams, p.types, p.values, p.lengths, p.formats, 0);
    params_release(&p);
  }
  if (*res == NULL || !command_ok(PQresultStatus(*res))) {
    result_error(c, *res, sql, e);
    PQclear(*res);
    *res = NULL;
    return LM_ERROR;
  }
  return LM_OK;
}

static int pg_exec(struct lm_conn *c, const char *sql, int nparams,
                   const struct lm_value *params, int64_t *changes, struct lm_err *e) {
  PGresult *res;
  if (run(c, sql, nparams, params, &res, e) != LM_OK) return LM_ERROR;
  if (changes) *changes = strtoll(PQcmdTuples(res), NULL, 10);
  PQclear(res);
  return LM_OK;
}

static int pg_query(struct lm_conn *c, const char *sql, int nparams,
                    const struct lm_value *params, struct lm_cursor **out, struct lm_err *e) {
  PGresult *res;
  *out = NULL;
  if (run(c, sql, nparams, params, &res, e) != LM_OK) return LM_ERROR;
  struct pg_cursor *cur = lm_malloc(sizeof *cur);
  cur->base.conn = c;
  cur->res = res;
  cur->row = -1;
  cur->nrows = PQntuples(res);
  cur->bytea = NULL;
  *out = &cur->base;
  return LM_OK;
}

static int pg_next(struct lm_cursor *cur, struct lm_err *e) {
  struct pg_cursor *pc = (struct pg_cursor *)cur;
  (void)e;
  if (pc->row + 1 >= pc->nrows) return LM_DONE;
  pc->row++;
  return LM_ROW;
}

static int pg_column_count(struct lm_cursor *cur) { return PQnfields(((struct pg_cursor *)cur)->res); }

static const char *pg_column_name(struct lm_cursor *cur, int i) {
  return PQfname(((struct pg_cursor *)cur)->res, i);
}

static void pg_column_value(struct lm_cursor *cur, int i, struct lm_value *out) {
  struct pg_cursor *pc = (struct pg_cursor *)cur;
  *out = (struct lm_value){.type = LM_NULL};
  if (PQgetisnull(pc->res, pc->row, i)) return;
  const char *text = PQgetvalue(pc->res, pc->row, i);
  switch (PQftype(pc->res, i)) {
  case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID:
    out->type = LM_INTEGER;
    out->i = strtoll(text, NULL, 10);
    break;
  case OID_FLOAT4: case OID_FLOAT8:
    out->type = LM_FLOAT;
    out->f = strtod(text, NULL);                      /* NaN, Infinity included */
    break;
  case OID_BOOL:
    out->type = LM_BOOLEAN;
    out->i = text[0] == 't';
    break;
  case OID_BYTEA: {
    size_t len = 0;
    PQfreemem(pc->bytea);
    pc->bytea = PQunescapeBytea((const unsigned char *)text, &len);
    out->type = LM_TEXT;
    out->s = pc->bytea ? (const char *)pc->bytea : "";
    out->len = pc->bytea ? len : 0;
    break;
  }
  default:
    out->type = LM_TEXT;
    out->s = text;
    out->len = (size_t)PQgetlength(pc->res, pc->row, i);
    break;
  }
}

static void pg_cursor_free(struct lm_cursor *cur) {
  if (cur == NULL) return;
  struct pg_cursor *pc = (struct pg_cursor *)cur;
  PQclear(pc->res);
  PQfreemem(pc->bytea);
  free(pc);
}

#define COPY_CHUNK 65536    /* bytes buffered before each PQputCopyData */

struct pg_bulk {
  struct lm_bulk base;
  struct lm_buf buf;     /* COPY text-format rows not yet sent */
  char *sql;             /* the COPY statement, for messages */
  int savepoint;         /* the load runs in SAVEPOINT luamig_bulk */
};

static int pg_in_transaction(struct lm_conn *c);
static int run_control(struct lm_conn *c, const char *sql, const char *want, struct lm_err *e);

/* Roll a failed load back to its savepoint, so that a migration catching
 * the error finds neither its rows nor an aborted transaction. */
static void drop_bulk_savepoint(struct lm_conn *c) {
  struct lm_err ignored = LM_ERR_INIT;                /* the load's error is what matters */
  if (run_control(c, "ROLLBACK TO SAVEPOINT luamig_bulk", "ROLLBACK", &ignored) == LM_OK)
    run_control(c, "RELEASE SAVEPOINT luamig_bulk", "RELEASE", &ignored);
  lm_err_release(&ignored);
}

static int pg_bulk_begin(struct lm_conn *c, const char *table, int ncols,
                         const char *const *columns, struct lm_bulk **out, struct lm_err *e) {
  *out = NULL;
  char *head = lm_bulk_head("COPY", table, ncols, columns, e);
  if (head == NULL) return LM_ERROR;
  char *sql = lm_asprintf("%s FROM STDIN", head);
  free(head);
  /* In a transaction the load runs in a savepoint, as on SQLite: a caught
   * failure leaves none of its rows and the transaction usable. Outside
   * one the COPY is atomic by itself. */
  int savepoint = pg_in_transaction(c);
  if (savepoint && run_control(c, "SAVEPOINT luamig_bulk", "SAVEPOINT", e) != LM_OK) {
    free(sql);
    return LM_ERROR;
  }
  PGresult *res = PQexec(handle(c), sql);
  if (res == NULL || PQresultStatus(res) != PGRES_COPY_IN) {
    result_error(c, res, sql, e);
    PQclear(res);
    free(sql);
    if (savepoint) drop_bulk_savepoint(c);
    return LM_ERROR;
  }
  PQclear(res);
  c->copying = table;                                 /* until pg_bulk_end: lm_conn_guard */
  struct pg_bulk *b = lm_malloc(sizeof *b);
  b->base = (struct lm_bulk){.conn = c, .ncols = ncols, .rows = 0};
  b->buf = (struct lm_buf)LM_BUF_INIT;
  b->sql = sql;
  b->savepoint = savepoint;
  *out = &b->base;
  return LM_OK;
}

/* Write s in COPY's text format at out (room for 2 * len): backslash,
 * newline, CR and tab escaped. Returns the end. */
static char *copy_escape(char *out, const char *s, size_t len) {
  for (const char *end = s + len; s < end; s++) {
    char c = *s;
    if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
      *out++ = '\\';
      c = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\';
    }
    *out++ = c;
  }
  return out;
}

/* Write the bytes as lower-case hex digits at out (room for 2 * len). */
static char *copy_hex(char *out, const char *s, size_t len) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    *out++ = digits[c >> 4];
    *out++ = digits[c & 15];
  }
  return out;
}

static int put_copy(struct pg_bulk *b, struct lm_err *e) {
  if (b->buf.len == 0) return LM_OK;
  if (PQputCopyData(handle(b->base.conn), b->buf.data, (int)b->buf.len) != 1) {
    result_error(b->base.conn, NULL, b->sql, e);
    return LM_ERROR;
  }
  b->buf.len = 0;
  return LM_OK;
}

/* Append one row of n values in COPY's text format, newline included: what
 * pg_bulk_row sends and core.copy_text returns (the offline COPY block).
 * Returns 0, or the 1-based index of a text value holding a NUL byte,
 * which COPY cannot carry (nothing of the row is appended then). */
int lm_copy_text_row(struct lm_buf *buf, int n, const struct lm_value *v) {
  size_t room = (size_t)n;                            /* the tabs and the newline */
  for (int i = 0; i < n; i++) {
    if (v[i].type == LM_TEXT && memchr(v[i].s, '\0', v[i].len) != NULL) return i + 1;
    room += v[i].type == LM_TEXT || v[i].type == LM_BLOB ? 4 + 2 * v[i].len : LM_NUMBER_TEXT_MAX;
  }
  char *start = lm_buf_reserve(buf, room), *out = start;  /* written in place: one grow a row */
  for (int i = 0; i < n; i++) {
    if (i > 0) *out++ = '\t';
    switch (v[i].type) {
    case LM_NULL: *out++ = '\\'; *out++ = 'N'; break;
    case LM_INTEGER: out += lm_int_text(v[i].i, out); break;
    case LM_BOOLEAN: *out++ = v[i].i ? 't' : 'f'; break;
    case LM_FLOAT:                                    /* the same text offline (core.copy_text) */
      if (isnan(v[i].f)) {
        memcpy(out, "NaN", 3);
        out += 3;
      } else {
        out += lm_number_text(&v[i], out);
      }
      break;
    case LM_TEXT: out = copy_escape(out, v[i].s, v[i].len); break;
    case LM_BLOB:                                     /* bytea's hex form: \x then two digits */
      memcpy(out, "\\\\x", 3);                       /* \x, its backslash doubled for COPY */
      out = copy_hex(out + 3, v[i].s, v[i].len);
      break;
    }
  }
  *out++ = '\n';
  buf->len += (size_t)(out - start);
  buf->data[buf->len] = '\0';
  return 0;
}

static int pg_bulk_row(struct lm_bulk *base, const struct lm_value *v, struct lm_err *e) {
  struct pg_bulk *b = (struct pg_bulk *)base;
  base->rows++;
  int bad = lm_copy_text_row(&b->buf, base->ncols, v);
  if (bad != 0)
    return lm_err_set(e, LM_ERROR, "row %" PRId64 ", value %d: a string with a NUL byte "
                      "cannot be copied into PostgreSQL", base->rows, bad);
  return b->buf.len >= COPY_CHUNK ? put_copy(b, e) : LM_OK;
}

/* COPY reports a bad value at the end, with "COPY t, line N, column c: ..."
 * as its context: lead the message with the row (the line) and column. */
static void name_copy_row(PGresult *res, struct lm_err *e) {
  const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
  const char *line = ctx ? strstr(ctx, ", line ") : NULL;
  if (line == NULL) return;
  long row = strtol(line + 7, NULL, 10);
  const char *col = strstr(line, ", column ");
  if (col != NULL) {
    col += 9;
    lm_err_prefix(e, "row %ld, column %.*s", row, (int)strcspn(col, ":"), col);
  } else {
    lm_err_prefix(e, "row %ld", row);
  }
}

static int pg_bulk_end(struct lm_bulk *base, int abort, struct lm_err *e) {
  if (base == NULL) return LM_OK;
  struct pg_bulk *b = (struct pg_bulk *)base;
  PGconn *pg = handle(base->conn);
  base->conn->copying = NULL;
  int rc = abort ? LM_OK : put_copy(b, e);
  int failed = abort || rc != LM_OK;
  if (PQputCopyEnd(pg, failed ? "bulk_insert abandoned" : NULL) != 1 && rc == LM_OK && !abort)
    rc = result_error(base->conn, NULL, b->sql, e);
  PGresult *res;
  while ((res = PQgetResult(pg)) != NULL) {           /* drain, so the connection is usable */
    if (rc == LM_OK && !abort && PQresultStatus(res) != PGRES_COMMAND_OK) {
      rc = result_error(base->conn, res, b->sql, e);
      name_copy_row(res, e);
    }
    PQclear(res);
  }
  if (b->savepoint) {
    if (rc == LM_OK && !abort)
      rc = run_control(base->conn, "RELEASE SAVEPOINT luamig_bulk", "RELEASE", e);
    else
      drop_bulk_savepoint(base->conn);
  }
  lm_buf_release(&b->buf);
  free(b->sql);
  free(b);
  return rc;
}

static int pg_in_transaction(struct lm_conn *c) {
  PGTransactionStatusType st = PQtransactionStatus(handle(c));
  return st == PQTRANS_INTRANS || st == PQTRANS_INERROR || st == PQTRANS_ACTIVE;
}

/* Run a transaction-control statement and check the tag the server sends
 * back: COMMIT of an aborted transaction answers "ROLLBACK", not an error. */
static int run_control(struct lm_conn *c, const char *sql, const char *want, struct lm_err *e) {
  PGresult *res = PQexec(handle(c), sql);
  if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
    result_error(c, res, sql, e);
    PQclear(res);
    return LM_ERROR;
  }
  int ok = strcmp(PQcmdStatus(res), want) == 0;
  PQclear(res);
  if (!ok)
    return lm_err_set(e, LM_ERROR, "%s did not take effect: the transaction was aborted by an "
                      "earlier error and has been rolled back", sql);
  return LM_OK;
}

static int pg_begin(struct lm_conn *c, struct lm_err *e) {
  if (pg_in_transaction(c))
    return lm_err_set(e, LM_ERROR, "cannot begin: a transaction is already open");
  return run_control(c, "BEGIN", "BEGIN", e);
}

static int pg_commit(struct lm_conn *c, struct lm_err *e) {
  if (!pg_in_transaction(c))
    return lm_err_set(e, LM_ERROR, "cannot commit: no transaction is open");
  return run_control(c, "COMMIT", "COMMIT", e);
}

static int pg_rollback(struct lm_conn *c, struct lm_err *e) {
  if (!pg_in_transaction(c)) return LM_OK;            /* nothing left to undo */
  return run_control(c, "ROLLBACK", "ROLLBACK", e);
}

/* ---- the run lock: a session advisory lock (see the top of this file) ---- */

/* The advisory lock's key for a name: FNV-1a of "luamig:" + name. */
static int64_t lock_key_for(const char *name) {
  uint64_t h = lm_fnv1a64(LM_FNV1A64_BASIS, "luamig:", 7);
  h = lm_fnv1a64(h, name, strlen(name));
  return (int64_t)(h >> 1);                           /* a non-negative bigint */
}

/* The backend holding the advisory lock of key, for messages; 0 if unknown. */
static long lock_holder(struct lm_conn *c, const struct lm_value *key) {
  struct lm_cursor *cur = NULL;
  struct lm_err ignored = LM_ERR_INIT;
  long pid = 0;
  /* advisory locks are per database: the same key in another database of
   * the server is another project's lock (a fleet's tenant databases) */
  if (pg_query(c, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
               "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
               "AND classid = (($1::bigint >> 32) & 4294967295)::bigint::oid "
               "AND objid = ($1::bigint & 4294967295)::bigint::oid AND objsubid = 1",
               1, key, &cur, &ignored) == LM_OK) {
    if (pg_next(cur, &ignored) == LM_ROW) {
      struct lm_value v;
      pg_column_value(cur, 0, &v);
      if (v.type == LM_INTEGER) pid = (long)v.i;
    }
    pg_cursor_free(cur);
  }
  lm_err_release(&ignored);
  return pid;
}

/* pg_try_advisory_lock, asked once: polling it (rather than waiting in
 * pg_advisory_lock) means a step running CREATE INDEX CONCURRENTLY cannot
 * deadlock against a waiting run. A session lock: it outlives
 * transactions and goes with the session. pg_backend_pid() in the same
 * statement (one transaction, so one server session even through a
 * pooler) names the session that holds it, which pg_lock_session then
 * checks each step's transaction against. */
static int pg_lock(struct lm_conn *c, const char *name, int *got, char **holder,
                   struct lm_err *e) {
  struct lm_value key = {.type = LM_INTEGER, .i = lock_key_for(name)};
  struct lm_cursor *cur = NULL;
  *got = 0;
  if (holder) *holder = NULL;
  /* PostgreSQL 14+: notice a vanished client within a second even during a
   * long statement, so a killed run's session (and its lock) goes then.
   * Older servers do not know the setting; that is not an error here. */
  struct lm_err ignored = LM_ERR_INIT;
  pg_exec(c, "SET client_connection_check_interval = 1000", 0, NULL, NULL, &ignored);
  lm_err_release(&ignored);
  if (pg_query(c, "SELECT pg_try_advisory_lock($1), pg_backend_pid()", 1, &key, &cur, e) != LM_OK)
    return LM_ERROR;
  struct lm_value v = {.type = LM_NULL}, pid = {.type = LM_NULL};
  if (pg_next(cur, e) == LM_ROW) {
    pg_column_value(cur, 0, &v);
    pg_column_value(cur, 1, &pid);
  }
  *got = v.type == LM_BOOLEAN && v.i;
  pg_cursor_free(cur);
  if (*got && pid.type == LM_INTEGER) ((struct pg_conn *)c)->lock_pid = (long)pid.i;
  if (!*got && holder) {
    long hp = lock_holder(c, &key);
    *holder = hp ? lm_asprintf("server pid %ld", hp) : lm_strdup("server pid unknown");
  }
  return LM_OK;
}

/* Through a pooler the unlock may land in another server session, where
 * pg_advisory_unlock says false; a few more tries may reach the one that
 * holds it (a round-robin pool cycles through them). 0: it stays held. */
static int pg_unlock(struct lm_conn *c, const char *name) {
  struct lm_value key = {.type = LM_INTEGER, .i = lock_key_for(name)};
  struct lm_err ignored = LM_ERR_INIT;
  int done = 1;
  if (PQstatus(handle(c)) == CONNECTION_OK) {         /* a lost session took its locks along */
    pg_rollback(c, &ignored);                         /* an aborted transaction blocks it */
    done = 0;
    for (int try = 0; try < 8 && !done && PQstatus(handle(c)) == CONNECTION_OK; try++) {
      struct lm_cursor *cur = NULL;
      if (pg_query(c, "SELECT pg_advisory_unlock($1)", 1, &key, &cur, &ignored) != LM_OK) break;
      struct lm_value v = {.type = LM_NULL};
      if (pg_next(cur, &ignored) == LM_ROW) pg_column_value(cur, 0, &v);
      pg_cursor_free(cur);
      done = v.type == LM_BOOLEAN && v.i;
    }
    if (PQstatus(handle(c)) != CONNECTION_OK) done = 1;
  }
  lm_err_release(&ignored);
  ((struct pg_conn *)c)->lock_pid = 0;
  return done;
}

static long backend_pid(struct lm_conn *c, struct lm_err *e);

/* One cheap statement, run inside each step's transaction: its server
 * session must be the one pg_lock took the lock in. */
static int pg_lock_session(struct lm_conn *c, char **why, struct lm_err *e) {
  long held = ((struct pg_conn *)c)->lock_pid;
  *why = NULL;
  if (held == 0) return LM_OK;
  long now = backend_pid(c, e);
  if (now < 0) return LM_ERROR;
  if (now != held)
    *why = lm_asprintf("this connection's statements ran in two server sessions (the lock was "
                       "taken in server pid %ld, a later statement ran in %ld)", held, now);
  return LM_OK;
}

/* `luamig lock break` on the advisory lock: the session that holds it is
 * the lock, so ending the lock is ending that session (its open
 * transaction is rolled back by the server). */
static int pg_lock_break(struct lm_conn *c, const char *name, char **what, struct lm_err *e) {
  struct lm_value key = {.type = LM_INTEGER, .i = lock_key_for(name)};
  *what = NULL;
  long pid = lock_holder(c, &key);
  if (pid == 0) return LM_OK;
  struct lm_value p = {.type = LM_INTEGER, .i = pid};
  struct lm_cursor *cur = NULL;
  if (pg_query(c, "SELECT pg_terminate_backend($1::integer)", 1, &p, &cur, e) != LM_OK) return LM_ERROR;
  struct lm_value v = {.type = LM_NULL};
  int rc = pg_next(cur, e);
  if (rc == LM_ROW) pg_column_value(cur, 0, &v);
  pg_cursor_free(cur);
  if (rc == LM_ERROR) return LM_ERROR;
  if (!(v.type == LM_BOOLEAN && v.i))
    return lm_err_set(e, LM_ERROR, "could not terminate server pid %ld, which holds the migration "
                      "lock (it ended meanwhile, or this role may not signal it)", pid);
  *what = lm_asprintf("terminated server pid %ld, which held the advisory lock", pid);
  return LM_OK;
}

static int pg_lock_holder(struct lm_conn *c, const char *name, char **holder, struct lm_err *e) {
  struct lm_value key = {.type = LM_INTEGER, .i = lock_key_for(name)};
  (void)e;
  long pid = lock_holder(c, &key);
  *holder = pid ? lm_asprintf("server pid %ld", pid) : NULL;
  return LM_OK;
}

/* The server session a statement of c runs in. */
static long backend_pid(struct lm_conn *c, struct lm_err *e) {
  struct lm_cursor *cur = NULL;
  if (pg_query(c, "SELECT pg_backend_pid()", 0, NULL, &cur, e) != LM_OK) return -1;
  struct lm_value v = {.type = LM_NULL};
  if (pg_next(cur, e) == LM_ROW) pg_column_value(cur, 0, &v);
  pg_cursor_free(cur);
  return v.type == LM_INTEGER ? (long)v.i : -1;
}

/* A new connection with what c connected with (PQconninfo), or NULL;
 * connect_timeout_s, when not NULL, over c's own. */
static PGconn *connect_like(struct lm_conn *c, const char *connect_timeout_s) {
  PQconninfoOption *info = PQconninfo(handle(c));
  if (info == NULL) return NULL;
  size_t n = 0;
  for (PQconninfoOption *o = info; o->keyword; o++) n++;
  const char **keys = lm_malloc((n + 2) * sizeof *keys), **values = lm_malloc((n + 2) * sizeof *values);
  size_t k = 0;
  for (PQconninfoOption *o = info; o->keyword; o++)
    if (o->val && *o->val && !(connect_timeout_s && strcmp(o->keyword, "connect_timeout") == 0))
      keys[k] = o->keyword, values[k++] = o->val;
  if (connect_timeout_s) keys[k] = "connect_timeout", values[k++] = connect_timeout_s;
  keys[k] = values[k] = NULL;
  PGconn *other = PQconnectdbParams(keys, values, 0);
  free(keys);
  free(values);
  PQconninfoFree(info);
  return other;
}

/* pg_backend_pid() of other, waited for at most ms (a pooler with no free
 * server session queues the statement for its query_wait_timeout): -2
 * when no answer came. */
static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long other_pid(PGconn *other, int ms) {
  if (!PQsendQuery(other, "SELECT pg_backend_pid()")) return -2;
  int64_t until = mono_ms() + ms;
  while (PQisBusy(other)) {
    int64_t left = until - mono_ms();
    if (left <= 0) return -2;
    struct pollfd p = {.fd = PQsocket(other), .events = POLLIN};
    if (poll(&p, 1, (int)left) < 0 && errno != EINTR) return -2;
    if (!PQconsumeInput(other)) return -2;
  }
  long pid = -2;
  PGresult *res;
  while ((res = PQgetResult(other)) != NULL) {
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
      pid = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
  }
  return pid;
}

/* c's session search_path (the schema setting sets it after connecting)
 * given to pg: the lease's table is named unqualified. NULL, or why not. */
static char *copy_search_path(PGconn *from, PGconn *pg) {
  PGresult *got = PQexec(from, "SELECT current_setting('search_path')");
  if (PQresultStatus(got) != PGRES_TUPLES_OK || PQntuples(got) != 1) {
    char *m = lm_pg_trimmed(PQresultErrorMessage(got));
    PQclear(got);
    return m;
  }
  const char *values[1] = {PQgetvalue(got, 0, 0)};
  PGresult *set = PQexecParams(pg, "SELECT pg_catalog.set_config('search_path', $1, false)", 1, NULL,
                               values, NULL, NULL, 0);
  char *m = PQresultStatus(set) == PGRES_TUPLES_OK ? NULL : lm_pg_trimmed(PQresultErrorMessage(set));
  PQclear(set);
  PQclear(got);
  return m;
}

/* A second connection to c's database, for the lease's heartbeat, in the
 * same search_path. */
static int pg_clone(struct lm_conn *c, struct lm_conn **out, struct lm_err *e) {
  PGconn *pg = connect_like(c, NULL);
  char *m = NULL;
  if (pg == NULL || PQstatus(pg) != CONNECTION_OK) m = lm_pg_trimmed(pg ? PQerrorMessage(pg) : "out of memory");
  else m = copy_search_path(handle(c), pg);
  if (m) {
    lm_err_set(e, LM_ERROR, "cannot open a second connection to PostgreSQL at '%s': %s",
               c->display, m);
    free(m);
    lm_err_redact(e, c->secrets);
    PQfinish(pg);
    return LM_ERROR;
  }
  *out = wrap_conn(pg, c->display, c->secrets);
  return LM_OK;
}

/* A second client of the same URL (PQconninfo: what c connected with),
 * asked for its session between two questions of c: connected directly,
 * c keeps one session and the other client has its own. Through a
 * transaction-pooling pooler (PgBouncer pool_mode=transaction), which
 * hands the most recently freed server session to the next transaction,
 * c's statements may land in different sessions, or the other client in
 * c's. Either makes a session advisory lock worthless. */
static int pg_session_stable(struct lm_conn *c, int *stable, char **why, struct lm_err *e) {
  *stable = 1;
  *why = NULL;
  PGconn *other = connect_like(c, "3");
  if (other == NULL || PQstatus(other) != CONNECTION_OK) {
    char *m = lm_pg_trimmed(other ? PQerrorMessage(other) : "out of memory");
    *why = lm_asprintf("a second connection could not be opened (%s)", m);
    free(m);
    PQfinish(other);
    return LM_OK;
  }
  int rc = LM_OK;
  for (int round = 0; round < 3 && *stable; round++) {
    long mine = backend_pid(c, e);
    long theirs = mine < 0 ? -1 : other_pid(other, 3000);
    if (theirs == -2) {
      *why = lm_strdup("a second connection's statement got no answer within 3 s (a pool with "
                       "no free server session?)");
      break;
    }
    long again = mine < 0 ? -1 : backend_pid(c, e);
    if (mine < 0 || again < 0) {
      rc = LM_ERROR;
      break;
    }
    if (mine != again)
      *why = lm_asprintf("this connection's statements ran in two server sessions (pid %ld, "
                         "then %ld)", mine, again);
    else if (theirs == mine)
      *why = lm_asprintf("a second connection's statement ran in this connection's server "
                         "session (pid %ld)", mine);
    *stable = *why == NULL;
  }
  PQfinish(other);
  return rc;
}

/* A connection the server ended (pg_terminate_backend, a restart,
 * idle_in_transaction_session_timeout) is CONNECTION_BAD from the first
 * call that notices; the server rolled its transaction back. */
static const char *pg_lost(struct lm_conn *c) {
  if (PQstatus(handle(c)) != CONNECTION_BAD) return NULL;
  return "the connection to the PostgreSQL server was lost (the server ended the session: "
         "terminated by an administrator, restarted, or a timeout such as "
         "idle_in_transaction_session_timeout)";
}

const struct lm_driver lm_driver_postgresql = {
  .name = "postgresql",
  .dialect = &lm_dialect_postgresql,
  .parse_url = lm_pg_parse_url,
  .with_dbname = lm_pg_with_dbname,
  .open = pg_open,
  .close = pg_close,
  .exec = pg_exec,
  .query = pg_query,
  .next = pg_next,
  .column_count = pg_column_count,
  .column_name = pg_column_name,
  .column_value = pg_column_value,
  .cursor_free = pg_cursor_free,
  .bulk_begin = pg_bulk_begin,
  .bulk_row = pg_bulk_row,
  .bulk_end = pg_bulk_end,
  .begin = pg_begin,
  .commit = pg_commit,
  .rollback = pg_rollback,
  .in_transaction = pg_in_transaction,
  .lock = pg_lock,
  .unlock = pg_unlock,
  .lock_session = pg_lock_session,
  .lock_break = pg_lock_break,
  .lock_holder = pg_lock_holder,
  .session_stable = pg_session_stable,
  .clone = pg_clone,
  .set_busy_timeout = NULL,
  .lost = pg_lost,
  .interrupt = pg_interrupt,
};
