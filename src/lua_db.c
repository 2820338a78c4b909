/*
 * lua_db.c -- the connection and transaction objects of luamig.core.
 *
 *   local conn = core.connect(url)         -- raises an error value on failure
 *   conn:exec(sql [, params])  -> changes  -- params: a list; nil holes allowed
 *   conn:query(sql [, params]) -> rows, columns   (rows[i].colname)
 *   local tx <close> = conn:begin()        -- rolls back unless tx:commit()
 *   conn:dialect(), conn:quote_ident(s), conn:quote_literal(s), conn:close()
 *
 * Placeholders are $1, $2, ... on both databases. A params list may hold
 * nil: its length is params.n when set, else its highest integer key.
 * Objects follow liolib: created closed, then the handle is acquired; one
 * accessor for methods (raises on a closed object) and one that accepts
 * it (for __gc, __close, __tostring).
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lua_core.h"

#define CONN_MT "luamig.Conn"
#define TX_MT "luamig.Tx"

typedef struct {
  struct lm_conn *conn;   /* NULL once closed */
  lua_Integer tx_serial;  /* serial of the transaction begun last */
  int tx_open;            /* that transaction has not ended */
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

static int conn_raise(lua_State *L, struct lm_err *e) { return lm_lua_raise(L, e); }

/* Read the optional params list at idx into values[]; strings point into
 * the Lua stack's strings, which the table keeps alive. Caller frees. */
static struct lm_value *check_params(lua_State *L, int idx, int *count) {
  *count = 0;
  if (lua_isnoneornil(L, idx)) return NULL;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Integer n = 0;
  if (lua_getfield(L, idx, "n") == LUA_TNUMBER) {
    n = lua_tointeger(L, -1);
  } else {
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {                   /* highest integer key */
      if (lua_isinteger(L, -2) && lua_tointeger(L, -2) > n) n = lua_tointeger(L, -2);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  luaL_argcheck(L, n >= 0 && n <= 65535, idx, "too many parameters (at most 65535)");
  struct lm_value *v = lm_malloc(((size_t)n + 1) * sizeof *v);
  for (lua_Integer i = 1; i <= n; i++) {
    struct lm_value *p = &v[i - 1];
    *p = (struct lm_value){.type = LM_NULL};
    int t = lua_geti(L, idx, i);
    switch (t) {
    case LUA_TNIL: break;
    case LUA_TBOOLEAN: p->type = LM_BOOLEAN; p->i = lua_toboolean(L, -1); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, -1)) { p->type = LM_INTEGER; p->i = lua_tointeger(L, -1); }
      else { p->type = LM_FLOAT; p->f = lua_tonumber(L, -1); }
      break;
    case LUA_TSTRING: p->type = LM_TEXT; p->s = lua_tolstring(L, -1, &p->len); break;
    default: {
      free(v);
      const char *tn = luaL_typename(L, -1);
      return (luaL_error(L, "bad parameter $%d: a %s cannot be bound "
                         "(use nil, a boolean, a number or a string)", (int)i, tn), NULL);
    }
    }
    lua_pop(L, 1);                                    /* the table still holds the string */
  }
  *count = (int)n;
  return v;
}

/* core.connect(url) -> conn */
static int core_connect(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  LConn *c = lua_newuserdatauv(L, sizeof *c, 0);
  c->conn = NULL;                                     /* closed until the handle exists */
  c->tx_serial = 0;
  c->tx_open = 0;
  luaL_setmetatable(L, CONN_MT);
  struct lm_err e = LM_ERR_INIT;
  if (lm_db_connect(url, &c->conn, &e) != LM_OK) return conn_raise(L, &e);
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
  int rc = c->conn->driver->exec(c->conn, sql, n, params, &changes, &e);
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
  case LM_TEXT: lua_pushlstring(L, v->s, v->len); break;
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
  int rc = d->query(c->conn, sql, n, params, &cur, &e);
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
  struct lm_err e = LM_ERR_INIT;
  LTx *tx = lua_newuserdatauv(L, sizeof *tx, 1);
  tx->state = TX_ROLLED_BACK;                         /* ended until BEGIN succeeds */
  tx->serial = 0;
  luaL_setmetatable(L, TX_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);                        /* tx keeps its conn alive */
  if (c->conn->driver->begin(c->conn, &e) != LM_OK) return conn_raise(L, &e);
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

/* __gc, __close and close(): idempotent */
static int conn_close(lua_State *L) {
  LConn *c = luaL_checkudata(L, 1, CONN_MT);
  if (c->conn != NULL) {
    c->conn->driver->close(c->conn);                  /* rolls back an open transaction */
    c->conn = NULL;
    c->tx_open = 0;
  }
  return 0;
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

/* core.quote_ident(name): the same on both databases */
static int core_quote_ident(lua_State *L) { return quote_ident_at(L, 1); }

/* core.quote_literal(dialect, s): for offline SQL, without a connection */
static int core_quote_literal(lua_State *L) {
  static const char *const dialects[] = {"sqlite", "postgresql", NULL};
  int d = luaL_checkoption(L, 1, NULL, dialects);
  return quote_literal_as(L, dialects[d], 2);
}

/* core.parse_url(url) -> {dialect=, display=, path= (SQLite)}; raises on a
 * bad URL with the same message connect would give. */
static int core_parse_url(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  struct lm_url u;
  struct lm_err e = LM_ERR_INIT;
  if (lm_url_parse(url, &u, &e) != LM_OK) return lm_lua_raise(L, &e);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, u.driver->name);
  lua_setfield(L, -2, "dialect");
  lua_pushstring(L, u.display);
  lua_setfield(L, -2, "display");
  if (u.driver == &lm_driver_sqlite) {                /* a PostgreSQL target may hold the password */
    lua_pushstring(L, u.target);
    lua_setfield(L, -2, "path");
  }
  lm_url_release(&u);
  return 1;
}

static const luaL_Reg conn_methods[] = {
  {"exec", conn_exec},
  {"query", conn_query},
  {"begin", conn_begin},
  {"dialect", conn_dialect},
  {"in_transaction", conn_in_transaction},
  {"quote_ident", conn_quote_ident},
  {"quote_literal", conn_quote_literal},
  {"close", conn_close},
  {NULL, NULL}
};

static const luaL_Reg conn_meta[] = {
  {"__gc", conn_close},
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
  {"parse_url", core_parse_url},
  {"quote_ident", core_quote_ident},
  {"quote_literal", core_quote_literal},
  {NULL, NULL}
};

void lm_lua_db_open(lua_State *L) {
  create_meta(L, CONN_MT, conn_meta, conn_methods);
  create_meta(L, TX_MT, tx_meta, tx_methods);
  luaL_setfuncs(L, core_funcs, 0);
}
