/*
 * lua_core.h -- the C/Lua bridge shared by the binding files.
 *
 * luaopen_luamig_core (lua_core.c) builds the module table and lets each
 * binding file add its functions to it: lm_lua_base_open (lua_base.c) for
 * core.error, lm_lua_db_open (lua_db.c) for connections,
 * lm_lua_runner_open (lua_runner.c), lm_lua_graph_open (lua_graph.c) for
 * the revision graph, lm_lua_script_open (lua_script.c) for the scripts,
 * lm_lua_sys_open (lua_sys.c). The helpers every binding file uses (the
 * error bridge, argument helpers) are lua_base.c's and call none of them.
 * Only these files raise Lua errors; the layers below fill a struct lm_err.
 */
#ifndef LUAMIG_LUA_CORE_H
#define LUAMIG_LUA_CORE_H

#include <lua.h>
#include <lauxlib.h>

#include "luamig.h"

struct lm_conn;

struct lm_graph;

/* Each adds its functions to the module table at the top of the stack. */
void lm_lua_base_open(lua_State *L);
void lm_lua_db_open(lua_State *L);
void lm_lua_runner_open(lua_State *L);
/* lock_status, lock_break (lua_lock.c) */
void lm_lua_lock_open(lua_State *L);
void lm_lua_graph_open(lua_State *L);
void lm_lua_script_open(lua_State *L);
/* isatty, cwd, user, monotonic (lua_sys.c) */
void lm_lua_sys_open(lua_State *L);

/* The C graph of the luamig.Graph at idx (lua_graph.c); raises if it was
 * freed. */
struct lm_graph *lm_lua_checkgraph(lua_State *L, int idx);
/* Pushes a list of the ids of revisions v[0..n), negative entries
 * skipped, sorted by id when sorted is set. */
void lm_lua_push_ids(lua_State *L, const struct lm_graph *g, const int *v, size_t n, int sorted);

/* The open connection of the luamig.Conn at idx; raises if closed. */
struct lm_conn *lm_lua_checkconn(lua_State *L, int idx);
/* Lend the luamig.Conn at idx to a run (delta 1) or take it back (-1):
 * while lent, close() raises instead of freeing what the run uses.
 * Returns how many runs had it before. */
int lm_lua_conn_lend(lua_State *L, int idx, int delta);

/* Push an error value (a table with message, code, sqlstate, sql, position
 * and a __tostring) built from e, release e, and raise it. Never returns.
 * Nothing malloc'd by the caller may be live across this call. */
int lm_lua_raise(lua_State *L, struct lm_err *e);
/* Push the same error value without raising (for pcall-style returns). */
void lm_lua_push_error(lua_State *L, const struct lm_err *e);

/* The strings of the value at idx (nil, a string, or a list of strings;
 * else an error naming what) as a C array in a userdata pushed on the
 * stack; *n gets their number. The strings stay owned by the Lua value,
 * which must stay reachable. */
const char **lm_lua_string_array(lua_State *L, int idx, size_t *n, const char *what);

#endif
