/*
 * lua_core.c -- luaopen_luamig_core: the module table, filled by each
 * binding file in turn. The helpers they share are lua_base.c's.
 */
#include "lua_core.h"

LUAMOD_API int luaopen_luamig_core(lua_State *L);

LUAMOD_API int luaopen_luamig_core(lua_State *L) {
  lua_newtable(L);
  lua_pushliteral(L, LUAMIG_VERSION);
  lua_setfield(L, -2, "version");
  lm_lua_base_open(L);                                  /* error */
  lm_lua_db_open(L);
  lm_lua_runner_open(L);
  lm_lua_lock_open(L);                                  /* lock_status, lock_break */
  lm_lua_graph_open(L);                                 /* graph, check_rev_id */
  lm_lua_script_open(L);                                /* load_scripts, call_script, ... */
  lm_lua_sys_open(L);
  return 1;
}
