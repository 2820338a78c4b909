/*
 * lua_sys.h -- the process's signal trap (lua_sys.c), for the luamig
 * command; the Lua-facing functions are registered by lm_lua_sys_open.
 */
#ifndef LUAMIG_LUA_SYS_H
#define LUAMIG_LUA_SYS_H

#include <lua.h>

/* The luamig command's Ctrl-C (main.c, before anything runs): the first
 * marks the runs interrupted (runner.h's lm_run_interrupt), stops the
 * statement running in a step and the Lua code running now, which fails
 * with "interrupted (Ctrl-C)"; a second ends the process. */
void lm_lua_trap_ctrl_c(lua_State *L);

#endif
