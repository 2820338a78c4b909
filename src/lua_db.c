/*
 * lua_db.c -- the connection and transaction objects of luamig.core.
 *
 *   local conn = core.connect(url [, {lock_timeout = s}])   -- raises on failure
 *   conn:exec(sql [, params])  -> changes  -- params: a list; nil holes allowed
 *   conn:query(sql [, params]) -> rows, columns   (rows[i].colname)
 *   local tx <close> = conn:begin()        -- rolls back unless tx:commit()
 *   conn:bulk_insert(table, columns, rows_or_iterator [, opts]) -> rows
 *   conn:dialect(), conn:quote_ident(s), conn:quote_literal(s), conn:close()
 *   core.binary(s), core.quote_ident(s), core.quote_literal(dialect, s)
 *   core.value_fits(kind, v), core.number_text(n), core.copy_text(row [, kinds]),
 *   core.inline_sql(dialect, sql [, params])    -- offline SQL, no connection
 *
 * conn:bulk_insert is lua_bulk.c's; the URL functions are lua_url.c's.
 * Placeholders are $1, $2, ... on both databases. A params list may hold
 * nil: its length is params.n when set, else its highest integer key.
 * Objects follow liolib: created closed, then the handle is acquired; one
 * accessor for methods (raises on a closed object) and one that accepts
 * it (for __gc, __close, __tostring).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lua_core.h"
#include "lua_db_int.h"
#include "value_kind.h"

#define CONN_MT "luamig.Conn"
#define TX_MT "luamig.Tx"

typedef struct {
  struct lm_conn *conn;   /* NULL once closed */
  lua_Integer tx_serial;  /* serial of the transaction begun last */
  int tx_open;            /* that transaction has not ended */
  int runs;               /* core.run calls using it now: it must stay open */
} LConn;

enum tx_state { TX_OPEN, TX_COMMITTED, TX_ROLLED_BACK };

typedef struct {
  lua_Integer serial;
  enum tx_state state;
} LTx;                    /* user value 1: its LConn userdata */

static LConn *toconn(lua_State *L, int idx) {
  LConn *c = luaL_checkudata(L, idx, CONN_MT);
  if (c->conn == NULL) luaL_error(L, "attempt to use a closed connection");
  return c;
}

struct lm_conn *lm_lua_checkconn(lua_State *L, int idx) { return toconn(L, idx)->conn; }

int lm_lua_conn_lend(lua_State *L, int idx, int delta) {
  LConn *c = toconn(L, idx);
  int before = c->runs;
  c->runs += delta;
  return before;
}

static int conn_raise(lua_State *L, struct lm_err *e) { return lm_lua_raise(L, e); }

#define BINARY_MT "luamig.Binary"

/* The bytes of a core.binary value at idx (NULL when it is not one); they
 * stay valid while the value is reachable (it holds the string). */
static const char *binary_bytes(lua_State *L, int idx, size_t *len) {
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return NULL;
  luaL_getmetatable(L, BINARY_MT);
  int is_binary = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!is_binary) return NULL;
  lua_getfield(L, idx, "bytes");
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
  lua_pop(L, 1);                                      /* the value still holds the string */
  return s;
}

/* Convert the Lua value at idx; 0 when its type cannot be bound. A string
 * points into Lua's copy, valid while that value is reachable. A
 * core.binary value is LM_BLOB: bytes stored as they are. */
int lm_lua_to_value(lua_State *L, int idx, struct lm_value *out) {
  *out = (struct lm_value){.type = LM_NULL};
  switch (lua_type(L, idx)) {
  case LUA_TTABLE:
    out->s = binary_bytes(L, idx, &out->len);
    out->type = out->s ? LM_BLOB : LM_NULL;
    return out->s != NULL;
  case LUA_TNIL: return 1;
  case LUA_TBOOLEAN: out->type = LM_BOOLEAN; out->i = lua_toboolean(L, idx); return 1;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) { out->type = LM_INTEGER; out->i = lua_tointeger(L, idx); }
    else { out->type = LM_FLOAT; out->f = lua_tonumber(L, idx); }
    return 1;
  case LUA_TSTRING: out->type = LM_TEXT; out->s = lua_tolstring(L, idx, &out->len); return 1;
  default: return 0;
  }
}

/* The length of the list at idx: list.n when set, else its highest integer
 * key (a list may hold nil). */
static lua_Integer list_length(lua_State *L, int idx) {
  lua_Integer n = 0;
  if (lua_getfield(L, idx, "n") == LUA_TNUMBER) {
    n = lua_tointeger(L, -1);
  } else {
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      if (lua_isinteger(L, -2) && lua_tointeger(L, -2) > n) n = lua_tointeger(L, -2);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return n;
}

/* Read the optional params list at idx into values[]; strings point into
 * the Lua stack's strings, which the table keeps alive. Caller frees. */
static struct lm_value *check_params(lua_State *L, int idx, int *count) {
  *count = 0;
  if (lua_isnoneornil(L, idx)) return NULL;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Integer n = list_length(L, idx);
  luaL_argcheck(L, n >= 0 && n <= 65535, idx, "too many parameters (at most 65535)");
  struct lm_value *v = lm_malloc((size_t)n * sizeof *v);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, idx, i);
    if (!lm_lua_to_value(L, -1, &v[i - 1])) {
      free(v);
      const char *tn = luaL_typename(L, -1);
      lua_pushfstring(L, "bad parameter $%d: a %s cannot be bound (use nil, a boolean, a "
                      "number or a string)", (int)i, tn);
      return (lua_error(L), NULL);                    /* no position: the caller's line is added */
    }
    if (v[i - 1].type == LM_TEXT && memchr(v[i - 1].s, '\0', v[i - 1].len) != NULL) {
      free(v);                                        /* the same on both databases */
      lua_pushfstring(L, "bad parameter $%d: a string with a NUL byte cannot be bound as text "
                      "(PostgreSQL's text cannot hold NUL): for bytes use op.binary(s)", (int)i);
      return (lua_error(L), NULL);
    }
    lua_pop(L, 1);                                    /* the table still holds the string */
  }
  *count = (int)n;
  return v;
}

/* core.connect(url [, opts]) -> conn. opts.lock_timeout: seconds a
 * statement waits for a lock another process holds on the database
 * (SQLite; default 5) before it fails saying so. */
static int core_connect(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  long busy_ms = -1;
  if (lua_istable(L, 2)) {                            /* anything else: ignored, as before */
    if (lua_getfield(L, 2, "lock_timeout") != LUA_TNIL) {
      luaL_argcheck(L, lua_isnumber(L, -1), 2, "opts.lock_timeout must be a number of seconds");
      lua_Number seconds = lua_tonumber(L, -1);
      busy_ms = seconds > 0 ? (long)(seconds * 1000) : 0;
    }
    lua_pop(L, 1);
  }
  LConn *c = lua_newuserdatauv(L, sizeof *c, 0);
  c->conn = NULL;                                     /* closed until the handle exists */
  c->tx_serial = 0;
  c->tx_open = 0;
  c->runs = 0;
  luaL_setmetatable(L, CONN_MT);
  struct lm_err e = LM_ERR_INIT;
  if (lm_db_connect(url, &c->conn, &e) != LM_OK) return conn_raise(L, &e);
  if (busy_ms >= 0 && c->conn->driver->set_busy_timeout)
    c->conn->driver->set_busy_timeout(c->conn, busy_ms);
  return 1;
}

/* conn:exec(sql [, params]) -> number of rows changed by the last statement */
static int conn_exec(lua_State *L) {
  LConn *c = toconn(L, 1);
  const char *sql = luaL_checkstring(L, 2);
  int n;
  struct lm_value *params = check_params(L, 3, &n);
  struct lm_err e = LM_ERR_INIT;
  int64_t changes = 0;
  int rc = lm_conn_guard(c->conn, &e);
  if (rc == LM_OK) rc = c->conn->driver->exec(c->conn, sql, n, params, &changes, &e);
  free(params);
  if (rc != LM_OK) return conn_raise(L, &e);
  lua_pushinteger(L, (lua_Integer)changes);
  return 1;
}

static void push_value(lua_State *L, const struct lm_value *v) {
  switch (v->type) {
  case LM_NULL: lua_pushnil(L); break;
  case LM_INTEGER: lua_pushinteger(L, (lua_Integer)v->i); break;
  case LM_FLOAT: lua_pushnumber(L, v->f); break;
  case LM_BOOLEAN: lua_pushboolean(L, (int)v->i); break;
  case LM_TEXT:
  case LM_BLOB: lua_pushlstring(L, v->s, v->len); break;
  }
}

/* conn:query(sql [, params]) -> rows, columns */
static int conn_query(lua_State *L) {
  LConn *c = toconn(L, 1);
  const struct lm_driver *d = c->conn->driver;
  const char *sql = luaL_checkstring(L, 2);
  int n;
  struct lm_value *params = check_params(L, 3, &n);
  struct lm_err e = LM_ERR_INIT;
  struct lm_cursor *cur = NULL;
  int rc = lm_conn_guard(c->conn, &e);
  if (rc == LM_OK) rc = d->query(c->conn, sql, n, params, &cur, &e);
  free(params);
  if (rc != LM_OK) return conn_raise(L, &e);
  int ncols = d->column_count(cur);
  lua_settop(L, 2);
  lua_createtable(L, ncols, 0);                       /* 3: columns */
  for (int i = 0; i < ncols; i++) {
    lua_pushstring(L, d->column_name(cur, i));
    lua_rawseti(L, 3, i + 1);
  }
  lua_newtable(L);                                    /* 4: rows */
  lua_Integer nrows = 0;
  while ((rc = d->next(cur, &e)) == LM_ROW) {
    lua_createtable(L, 0, ncols);
    for (int i = 0; i < ncols; i++) {
      struct lm_value v;
      d->column_value(cur, i, &v);
      push_value(L, &v);
      lua_rawgeti(L, 3, i + 1);                       /* row[name] = value */
      lua_insert(L, -2);
      lua_rawset(L, -3);
    }
    lua_rawseti(L, 4, ++nrows);
  }
  d->cursor_free(cur);
  if (rc != LM_DONE) return conn_raise(L, &e);
  lua_insert(L, 3);                                   /* rows, columns */
  return 2;
}

/* conn:begin() -> tx, a to-be-closed value that rolls back unless committed */
static int conn_begin(lua_State *L) {
  LConn *c = toconn(L, 1);
  if (c->runs > 0 && c->conn->driver->in_transaction(c->conn))
    return luaL_error(L, "cannot begin a transaction: luamig runs this step in its own "
                      "transaction on this connection (op.get_bind()); mark the migration "
                      "transactional = false to manage transactions yourself");
  struct lm_err e = LM_ERR_INIT;
  LTx *tx = lua_newuserdatauv(L, sizeof *tx, 1);
  tx->state = TX_ROLLED_BACK;                         /* ended until BEGIN succeeds */
  tx->serial = 0;
  luaL_setmetatable(L, TX_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);                        /* tx keeps its conn alive */
  if (lm_conn_guard(c->conn, &e) != LM_OK || c->conn->driver->begin(c->conn, &e) != LM_OK)
    return conn_raise(L, &e);
  tx->serial = ++c->tx_serial;
  tx->state = TX_OPEN;
  c->tx_open = 1;
  return 1;
}

static int conn_dialect(lua_State *L) {
  lua_pushstring(L, toconn(L, 1)->conn->driver->name);
  return 1;
}

static int conn_in_transaction(lua_State *L) {
  LConn *c = toconn(L, 1);
  lua_pushboolean(L, c->conn->driver->in_transaction(c->conn));
  return 1;
}

static int push_quoted(lua_State *L, char *quoted, struct lm_err *e) {
  if (quoted == NULL) return lm_lua_raise(L, e);
  lua_pushstring(L, quoted);
  free(quoted);
  return 1;
}

static int quote_ident_at(lua_State *L, int idx) {
  size_t len;
  const char *name = luaL_checklstring(L, idx, &len);
  struct lm_err e = LM_ERR_INIT;
  return push_quoted(L, lm_quote_ident(name, len, &e), &e);
}

static int quote_literal_as(lua_State *L, const char *dialect, int idx) {
  size_t len;
  const char *s = luaL_checklstring(L, idx, &len);
  struct lm_err e = LM_ERR_INIT;
  return push_quoted(L, lm_quote_literal(dialect, s, len, &e), &e);
}

static int conn_quote_ident(lua_State *L) {
  toconn(L, 1);
  return quote_ident_at(L, 2);
}

static int conn_quote_literal(lua_State *L) {
  return quote_literal_as(L, toconn(L, 1)->conn->driver->name, 2);
}

/* __close and close(): idempotent. A connection a luamig run is using
 * (the one op.get_bind() lends a migration) stays open: the run still
 * needs it, and would otherwise use freed memory. */
static int conn_close(lua_State *L) {
  LConn *c = luaL_checkudata(L, 1, CONN_MT);
  if (c->runs > 0)
    return luaL_error(L, "cannot close this connection: a luamig run is using it (a migration "
                      "borrows it through op.get_bind() and must leave it open; luamig closes "
                      "it when the run ends)");
  if (c->conn != NULL) {
    c->conn->driver->close(c->conn);                  /* rolls back an open transaction */
    c->conn = NULL;
    c->tx_open = 0;
  }
  return 0;
}

/* __gc: nothing can be using an unreachable connection. */
static int conn_gc(lua_State *L) {
  LConn *c = luaL_checkudata(L, 1, CONN_MT);
  c->runs = 0;
  return conn_close(L);
}

static int conn_tostring(lua_State *L) {
  LConn *c = luaL_checkudata(L, 1, CONN_MT);
  if (c->conn == NULL) lua_pushliteral(L, "luamig.Conn (closed)");
  else lua_pushfstring(L, "luamig.Conn (%s)", c->conn->display);
  return 1;
}

/* The connection a transaction belongs to, left on the stack; raises if
 * the connection was closed. */
static LConn *tx_conn(lua_State *L) {
  lua_getiuservalue(L, 1, 1);
  return toconn(L, lua_gettop(L));
}

static const char *tx_state_name(enum tx_state s) {
  return s == TX_COMMITTED ? "committed" : "rolled back";
}

static LTx *check_open_tx(lua_State *L, LConn **conn, const char *verb) {
  LTx *tx = luaL_checkudata(L, 1, TX_MT);
  *conn = tx_conn(L);
  if (tx->state != TX_OPEN)
    luaL_error(L, "cannot %s: the transaction was already %s", verb, tx_state_name(tx->state));
  if ((*conn)->tx_serial != tx->serial || !(*conn)->tx_open)
    luaL_error(L, "cannot %s: the transaction has already ended", verb);
  return tx;
}

/* After a failed COMMIT or ROLLBACK the database may or may not still be in
 * the transaction; the object stays open only if it is. */
static void tx_settle(LConn *c, LTx *tx, enum tx_state ended) {
  if (!c->conn->driver->in_transaction(c->conn)) {
    tx->state = ended;
    c->tx_open = 0;
  }
}

static int tx_commit(lua_State *L) {
  LConn *c;
  LTx *tx = check_open_tx(L, &c, "commit");
  struct lm_err e = LM_ERR_INIT;
  int rc = c->conn->driver->commit(c->conn, &e);
  if (rc == LM_OK) {
    tx->state = TX_COMMITTED;
    c->tx_open = 0;
    return 0;
  }
  tx_settle(c, tx, TX_ROLLED_BACK);
  return lm_lua_raise(L, &e);
}

static int tx_rollback(lua_State *L) {
  LConn *c;
  LTx *tx = check_open_tx(L, &c, "roll back");
  struct lm_err e = LM_ERR_INIT;
  int rc = c->conn->driver->rollback(c->conn, &e);
  if (rc == LM_OK) {
    tx->state = TX_ROLLED_BACK;
    c->tx_open = 0;
    return 0;
  }
  tx_settle(c, tx, TX_ROLLED_BACK);
  return lm_lua_raise(L, &e);
}

/* __close and __gc: roll back what was not committed. Never raises: it may
 * run while another error unwinds, and that error is the one to report. */
static int tx_close(lua_State *L) {
  LTx *tx = luaL_checkudata(L, 1, TX_MT);
  if (tx->state != TX_OPEN) return 0;
  tx->state = TX_ROLLED_BACK;
  lua_getiuservalue(L, 1, 1);
  LConn *c = luaL_testudata(L, -1, CONN_MT);
  if (c == NULL || c->conn == NULL || c->tx_serial != tx->serial || !c->tx_open) return 0;
  struct lm_err e = LM_ERR_INIT;
  c->conn->driver->rollback(c->conn, &e);
  lm_err_release(&e);
  c->tx_open = 0;
  return 0;
}

static int tx_active(lua_State *L) {
  LTx *tx = luaL_checkudata(L, 1, TX_MT);
  lua_getiuservalue(L, 1, 1);
  LConn *c = luaL_testudata(L, -1, CONN_MT);
  lua_pushboolean(L, tx->state == TX_OPEN && c && c->conn && c->tx_open &&
                  c->tx_serial == tx->serial);
  return 1;
}

/* core.binary(s) -> a value that binds as bytes (LM_BLOB: bytea, BLOB) in
 * conn:exec, conn:query and conn:bulk_insert, where a plain string binds as
 * text. A table {bytes = s} with the metatable luamig.Binary. */
static int core_binary(lua_State *L) {
  luaL_checktype(L, 1, LUA_TSTRING);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "bytes");
  luaL_setmetatable(L, BINARY_MT);
  return 1;
}

static int binary_tostring(lua_State *L) {
  size_t len = 0;
  binary_bytes(L, 1, &len);
  lua_pushfstring(L, "luamig.Binary (%I bytes)", (lua_Integer)len);
  return 1;
}

/* core.quote_ident(name): the same on both databases */
static int core_quote_ident(lua_State *L) { return quote_ident_at(L, 1); }

/* core.quote_literal(dialect, s): for offline SQL, without a connection */
static int core_quote_literal(lua_State *L) {
  static const char *const dialects[] = {"sqlite", "postgresql", NULL};
  int d = luaL_checkoption(L, 1, NULL, dialects);
  return quote_literal_as(L, dialects[d], 2);
}

/* core.value_fits(kind, v) -> true, or false and "kind" | "range":
 * whether bulk_insert takes v for a column of that kind (value_kind.c's
 * rule; kinds are lm_kind_names), and if not whether v is of the wrong
 * kind or a number written right whose value is out of range. nil fits
 * every kind; a value that cannot be bound fits none. */
static int core_value_fits(lua_State *L) {
  enum lm_kind kind = (enum lm_kind)luaL_checkoption(L, 1, NULL, lm_kind_names);
  luaL_checkany(L, 2);
  struct lm_value v;
  enum lm_misfit why = !lm_lua_to_value(L, 2, &v) ? LM_WRONG_KIND
                     : v.type == LM_NULL ? LM_FITS : lm_kind_check(kind, &v);
  lua_pushboolean(L, why == LM_FITS);
  if (why == LM_FITS) return 1;
  lua_pushstring(L, why == LM_OUT_OF_RANGE ? "range" : "kind");
  return 2;
}

/* core.number_text(n) -> string: the text a number is stored as in a text
 * column, online and offline (value_kind.c's lm_number_text): an integer in
 * decimal, a float in the fewest of 15-17 digits that read back as the same
 * double, the infinities as "Infinity" and "-Infinity". */
static int core_number_text(lua_State *L) {
  luaL_checktype(L, 1, LUA_TNUMBER);
  struct lm_value v = {.type = lua_isinteger(L, 1) ? LM_INTEGER : LM_FLOAT};
  if (v.type == LM_INTEGER) v.i = lua_tointeger(L, 1);
  else v.f = lua_tonumber(L, 1);
  char text[LM_NUMBER_TEXT_MAX];
  lua_pushlstring(L, text, lm_number_text(&v, text));
  return 1;
}

/* core.copy_text(row [, kinds]) -> line, or nil and i: one row (a list of
 * values, nil holes allowed) in PostgreSQL's COPY text format, the newline
 * included, exactly as conn:bulk_insert sends it online. kinds (optional,
 * one per value, lm_kind_names) converts as bulk_insert does: a string for
 * a binary column is bytes, a number for a text column is its text. nil
 * and i when value i is a string with a NUL byte, which COPY cannot carry
 * (the caller words the message). */
static int core_copy_text(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_Integer n = list_length(L, 1);
  luaL_argcheck(L, n >= 0 && n <= 65535, 1, "too many values (at most 65535)");
  /* the values, then per value the text of a number for a text column;
   * a userdata, so an error below frees it */
  struct lm_value *v = lua_newuserdatauv(L, (sizeof *v + LM_NUMBER_TEXT_MAX) * (size_t)n, 0);
  char (*number_text)[LM_NUMBER_TEXT_MAX] = (void *)(v + n);
  for (int i = 0; i < n; i++) {
    lua_geti(L, 1, i + 1);
    if (!lm_lua_to_value(L, -1, &v[i]))
      return luaL_error(L, "copy_text: value %d: a %s cannot be copied (use nil, a boolean, "
                        "a number, a string or core.binary)", i + 1, luaL_typename(L, -1));
    lua_pop(L, 1);                                    /* the row still holds the string */
    if (lua_isnil(L, 2)) continue;
    lua_geti(L, 2, i + 1);
    enum lm_kind kind = (enum lm_kind)luaL_checkoption(L, -1, "any", lm_kind_names);
    lua_pop(L, 1);
    if (kind == LM_KIND_BINARY && v[i].type == LM_TEXT) {
      v[i].type = LM_BLOB;
    } else if (kind == LM_KIND_TEXT && (v[i].type == LM_INTEGER ||
                                        (v[i].type == LM_FLOAT && !isnan(v[i].f)))) {
      v[i].len = lm_number_text(&v[i], number_text[i]);
      v[i].s = number_text[i];
      v[i].type = LM_TEXT;
    }
  }
  struct lm_buf line = LM_BUF_INIT;
  int bad = lm_copy_text_row(&line, (int)n, v);
  if (bad != 0) {
    lua_pushnil(L);
    lua_pushinteger(L, bad);
    return 2;
  }
  lua_pushlstring(L, line.data, line.len);
  lm_buf_release(&line);
  return 1;
}

/* core.inline_sql(dialect, sql [, params]) -> sql with each $N replaced by
 * its value as a literal of the dialect (outside double-quoted names), as
 * the offline version-table statements are written (lm_sql_inline).
 * params as conn:exec's; raises when a value cannot be rendered. */
static int core_inline_sql(lua_State *L) {
  static const char *const dialects[] = {"sqlite", "postgresql", NULL};
  const struct lm_dialect *d = lm_dialect_find(dialects[luaL_checkoption(L, 1, NULL, dialects)]);
  size_t len;
  const char *sql = luaL_checklstring(L, 2, &len);
  luaL_argcheck(L, strlen(sql) == len, 2, "the SQL holds a NUL byte");
  int n;
  struct lm_value *params = check_params(L, 3, &n);
  struct lm_err e = LM_ERR_INIT;
  char *text = lm_sql_inline(d, sql, n, params, &e);
  free(params);
  if (text == NULL) return lm_lua_raise(L, &e);
  lua_pushstring(L, text);
  free(text);
  return 1;
}

static const luaL_Reg conn_methods[] = {
  {"exec", conn_exec},
  {"query", conn_query},
  {"begin", conn_begin},
  {"bulk_insert", lm_lua_conn_bulk_insert},
  {"dialect", conn_dialect},
  {"in_transaction", conn_in_transaction},
  {"quote_ident", conn_quote_ident},
  {"quote_literal", conn_quote_literal},
  {"close", conn_close},
  {NULL, NULL}
};

static const luaL_Reg conn_meta[] = {
  {"__gc", conn_gc},
  {"__close", conn_close},
  {"__tostring", conn_tostring},
  {"__index", NULL},                                  /* placeholder for methods */
  {NULL, NULL}
};

static const luaL_Reg tx_methods[] = {
  {"commit", tx_commit},
  {"rollback", tx_rollback},
  {"active", tx_active},
  {NULL, NULL}
};

static const luaL_Reg tx_meta[] = {
  {"__gc", tx_close},
  {"__close", tx_close},
  {"__index", NULL},
  {NULL, NULL}
};

static void create_meta(lua_State *L, const char *name, const luaL_Reg *meta,
                        const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");                     /* mt.__index = methods */
  lua_pop(L, 1);
}

static const luaL_Reg core_funcs[] = {
  {"connect", core_connect},
  {"quote_ident", core_quote_ident},
  {"quote_literal", core_quote_literal},
  {"binary", core_binary},
  {"value_fits", core_value_fits},
  {"number_text", core_number_text},
  {"copy_text", core_copy_text},
  {"inline_sql", core_inline_sql},
  {NULL, NULL}
};

void lm_lua_db_open(lua_State *L) {
  create_meta(L, CONN_MT, conn_meta, conn_methods);
  create_meta(L, TX_MT, tx_meta, tx_methods);
  luaL_newmetatable(L, BINARY_MT);
  lua_pushcfunction(L, binary_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_setfuncs(L, core_funcs, 0);
  lm_lua_url_open(L);
}
