/*
 * lua_sys.c -- the few facts about the process that Lua's standard library
 * cannot give: whether a descriptor is a terminal (progress lines, colour),
 * the real working directory (not an inherited $PWD), the user from the
 * password database (not $USER, which may be unset), and a monotonic clock
 * for rates and elapsed times.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lua_core.h"

/* core.isatty(fd) -> boolean */
static int sys_isatty(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  lua_pushboolean(L, fd >= 0 && fd <= 1024 && isatty((int)fd));
  return 1;
}

/* core.cwd() -> path | nil, message */
static int sys_cwd(lua_State *L) {
  size_t size = 256;
  for (;;) {
    char *buf = malloc(size);
    if (!buf) return luaL_error(L, "out of memory");
    if (getcwd(buf, size)) {
      lua_pushstring(L, buf);
      free(buf);
      return 1;
    }
    int err = errno;
    free(buf);
    if (err != ERANGE || size > (1u << 20)) {
      lua_pushnil(L);
      lua_pushstring(L, strerror(err));
      return 2;
    }
    size *= 2;
  }
}

/* core.user() -> login name of the real uid from the password database,
 * or nil when it has no entry (a container running as an unnamed uid). */
static int sys_user(lua_State *L) {
  struct passwd pw, *found = NULL;
  char buf[4096];
  if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found && found->pw_name[0]) {
    lua_pushstring(L, found->pw_name);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

/* core.monotonic() -> seconds (float) since an arbitrary fixed point */
static int sys_monotonic(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

void lm_lua_sys_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"isatty", sys_isatty}, {"cwd", sys_cwd}, {"user", sys_user}, {"monotonic", sys_monotonic},
    {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
