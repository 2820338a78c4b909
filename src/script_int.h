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

/* script.c: the whole file in one allocation (caller frees *data): name
 * opened in the directory dirfd (AT_FDCWD: relative to the working
 * directory); path is for messages. */
int lm_script_read(int dirfd, const char *name, const char *path, char **data, size_t *len,
                   struct lm_err *e);

#endif
