/*
 * lua_base.c -- what every binding file shares: the C/Lua error bridge and
 * the argument helpers. Errors cross into Lua as a value, not a string: a
 * table with message, code, sqlstate, sql and position fields and a
 * __tostring, so a caller can inspect what failed (as redis.pcall returns
 * an error table). Adds core.error to the module table.
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

/* Strings of the value at idx (nil, a string, or a list of strings) as a
 * C array kept in a userdata pushed on the stack; the strings stay owned
 * by the Lua value, which must stay reachable. */
const char **lm_lua_string_array(lua_State *L, int idx, size_t *n, const char *what) {
  idx = lua_absindex(L, idx);
  int t = lua_type(L, idx);
  if (t == LUA_TNIL || t == LUA_TNONE) {
    *n = 0;
    return lua_newuserdatauv(L, sizeof(char *), 0);
  }
  if (t == LUA_TSTRING) {
    const char **v = lua_newuserdatauv(L, sizeof(char *), 0);
    v[0] = lua_tostring(L, idx);
    *n = 1;
    return v;
  }
  if (t != LUA_TTABLE) luaL_error(L, "%s must be nil, a string or a list of strings", what);
  size_t len = lua_rawlen(L, idx);
  const char **v = lua_newuserdatauv(L, (len ? len : 1) * sizeof(char *), 0);
  for (size_t i = 0; i < len; i++) {
    if (lua_rawgeti(L, idx, (lua_Integer)i + 1) != LUA_TSTRING)
      luaL_error(L, "%s must be a list of strings (item %d is a %s)", what, (int)i + 1,
                 luaL_typename(L, -1));
    v[i] = lua_tostring(L, -1);
    lua_pop(L, 1);                       /* still anchored by the table */
  }
  *n = len;
  return v;
}

void lm_lua_base_open(lua_State *L) {
  lua_pushcfunction(L, core_error);
  lua_setfield(L, -2, "error");
}
