/*
 * script_int.h -- what the script files share and nobody else needs.
 */
#ifndef LUAMIG_SCRIPT_INT_H
#define LUAMIG_SCRIPT_INT_H

#include "script.h"

/* script_guard.c: calls the chunk at the top of the stack (loaded as
 * "@path") with os.exit and debug.sethook refused and its CPU time
 * bounded. LUA_OK: the chunk is popped. Otherwise the chunk is replaced by
 * a string message, positioned when Lua knows where. */
int lm_script_run_top_level(lua_State *L, const char *path);

#endif
