/*
 * lua_core.c -- luaopen_luamig_core and the C/Lua error bridge.
 *
 * The module table is filled by each binding file (lua_db.c, lua_graph.c).
 * Errors cross into Lua as a value, not a string: a table with message,
 * code, sqlstate, sql and position fields and a __tostring, so a caller can
 * inspect what failed (as redis.pcall returns an error table).
 */
#include "lua_core.h"

#define ERROR_MT "luamig.Error"

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  if (!lua_isstring(L, -1)) lua_pushliteral(L, "unknown luamig error");
  return 1;
}

static void push_error_mt(lua_State *L) {
  if (luaL_newmetatable(L, ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "luamig.Error");
    lua_setfield(L, -2, "__name");
  }
}

void lm_lua_push_error(lua_State *L, const struct lm_err *e) {
  lua_createtable(L, 0, 5);
  lua_pushstring(L, e->message ? e->message : "unknown error");
  lua_setfield(L, -2, "message");
  if (e->sqlstate[0]) {
    lua_pushstring(L, e->sqlstate);
    lua_setfield(L, -2, "sqlstate");
    lua_pushstring(L, e->sqlstate);                   /* code: SQLSTATE on PostgreSQL */
    lua_setfield(L, -2, "code");
  } else if (e->db_code) {
    lua_pushinteger(L, e->db_code);                   /* code: SQLite's extended code */
    lua_setfield(L, -2, "code");
  }
  if (e->sql) {
    lua_pushstring(L, e->sql);
    lua_setfield(L, -2, "sql");
  }
  if (e->position > 0) {
    lua_pushinteger(L, e->position);
    lua_setfield(L, -2, "position");
  }
  push_error_mt(L);
  lua_setmetatable(L, -2);
}

int lm_lua_raise(lua_State *L, struct lm_err *e) {
  lm_lua_push_error(L, e);
  lm_err_release(e);                                  /* nothing owned survives the longjmp */
  return lua_error(L);
}

/* core.error(fields): an error value like the ones the core raises, for
 * the Lua layers that add context (revision, file) to a failure. */
static int core_error(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  push_error_mt(L);
  lua_setmetatable(L, 1);
  return 1;
}

LUAMOD_API int luaopen_luamig_core(lua_State *L);

LUAMOD_API int luaopen_luamig_core(lua_State *L) {
  lua_newtable(L);
  lua_pushliteral(L, LUAMIG_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushcfunction(L, core_error);
  lua_setfield(L, -2, "error");
  lm_lua_db_open(L);
  lm_lua_runner_open(L);
  lm_lua_graph_open(L);
  lm_lua_sys_open(L);
  return 1;
}
