/*
 * main.c -- the luamig command: creates the Lua state, makes luamig.core
 * available in it, and runs the command under lua_pcall so that every
 * failure is reported as one line (lua.c's pmain and report).
 *
 * The command table and the commands themselves arrive with the runner;
 * until then the binary answers --version and --help.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "luamig.h"

LUAMOD_API int luaopen_luamig_core(lua_State *L);

static const char usage[] =
  "usage: luamig [-h | --help] [--version] COMMAND [options]\n";

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_luamig_core);
  lua_setfield(L, -2, "luamig.core");                 /* package.preload["luamig.core"] */
  lua_pop(L, 1);
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    fputs(usage, argc < 2 ? stderr : stdout);
    lua_pushinteger(L, argc < 2 ? 2 : 0);
    return 1;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("luamig %s (%s)\n", LUAMIG_VERSION, LUA_RELEASE);
    lua_pushinteger(L, 0);
    return 1;
  }
  fprintf(stderr, "luamig: unknown command '%s'\n%s", argv[1], usage);
  lua_pushinteger(L, 2);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fputs("luamig: cannot create the Lua state: not enough memory\n", stderr);
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int code = 1;
  if (status != LUA_OK) {
    const char *msg = luaL_tolstring(L, -1, NULL);
    fprintf(stderr, "FAILED: %s\n", msg);
  } else {
    code = (int)lua_tointeger(L, -1);
  }
  lua_close(L);
  if (code == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
    fputs("luamig: error writing to standard output\n", stderr);
    code = 1;
  }
  return code;
}
