/*
 * script_guard.c -- running a script's own top-level code the way a
 * listing can survive it: os.exit refused (also for upgrade and downgrade,
 * through lm_script_guard_on), debug.sethook refused, at most
 * LM_SCRIPT_LOAD_SECONDS of CPU time, and every error value turned into a
 * positioned message.
 */
#include "script_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

/* ---- what a script's own code may not do ---- */

/* os.exit while a script's code runs: an error at the caller's line. */
static int refused_exit(lua_State *L) {
  return luaL_error(L, "os.exit is refused in a migration script: ending the process there "
                    "could leave a step half done. Raise an error instead (error(\"why\")): "
                    "luamig rolls the step back and stops");
}

/* Replaces lib.field, in the library table of the globals and in the one
 * require(lib) returns (one table, unless a host replaced either), by
 * refuser. Pushes four slots: those two tables (the second nil when it is
 * the first) and their functions as they were; returns the first slot.
 * Raw accesses only: no metamethod runs, and storing into an existing
 * field cannot fail for memory. */
static int guard_field_on(lua_State *L, const char *lib, const char *field, lua_CFunction refuser) {
  luaL_checkstack(L, 8, "guarding a migration script");
  int base = lua_gettop(L) + 1;
  lua_pushglobaltable(L);
  lua_pushstring(L, lib);
  lua_rawget(L, -2);
  lua_remove(L, -2);                                  /* base: _G[lib] */
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushstring(L, lib);
  lua_rawget(L, -2);
  lua_remove(L, -2);                                  /* base + 1: package.loaded[lib] */
  if (lua_rawequal(L, base, base + 1)) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  for (int i = 0; i < 2; i++) {                       /* base + 2, base + 3: their functions */
    if (lua_istable(L, base + i)) {
      lua_pushstring(L, field);
      lua_rawget(L, base + i);
    } else {
      lua_pushnil(L);
    }
  }
  for (int i = 0; i < 2; i++) {
    if (lua_isnil(L, base + 2 + i)) continue;         /* nothing there: nothing to refuse */
    lua_pushstring(L, field);
    lua_pushcfunction(L, refuser);
    lua_rawset(L, base + i);
  }
  return base;
}

/* Puts back what guard_field_on replaced. */
static void guard_field_off(lua_State *L, int base, const char *field) {
  for (int i = 0; i < 2; i++) {
    if (lua_isnil(L, base + 2 + i)) continue;
    lua_pushstring(L, field);
    lua_pushvalue(L, base + 2 + i);
    lua_rawset(L, base + i);
  }
}

/* See script.h: os.exit, wherever a script can reach it. */
int lm_script_guard_on(lua_State *L) {
  return guard_field_on(L, "os", "exit", refused_exit);
}

void lm_script_guard_off(lua_State *L, int base) {
  guard_field_off(L, base, "exit");
}

/* debug.sethook while a script's top level runs: removing the budget's
 * hook would let a loop hang every listing. */
static int refused_sethook(lua_State *L) {
  return luaL_error(L, "debug.sethook is refused while a migration script loads: its top-level "
                    "code has a time budget. Set hooks inside upgrade(op) or downgrade(op)");
}

/* The budget of a script's top-level code: a count hook looks at the
 * thread's CPU time every LOAD_HOOK_COUNT instructions. Once the budget is
 * spent, every instruction raises, so a pcall inside the script cannot
 * keep it running; the load fails even if the script swallowed the error.
 * A hook runs only between Lua instructions: one long C call (a huge
 * string.rep) finishes first. */
#define LOAD_HOOK_COUNT 1000

struct load_budget {
  double start;                /* the thread's CPU seconds when the chunk started */
  int spent;
  char where[LUA_IDSIZE + 24]; /* "chunk:line" of the first instruction over budget */
};

static const char budget_key = 0;  /* registry[&budget_key]: the active load_budget */

static double cpu_seconds(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void budget_message(lua_State *L) {
  lua_pushfstring(L, "loading the script took more than %d seconds of CPU time: its top-level "
                  "code runs whenever luamig reads the scripts (history, heads, current, "
                  "upgrade ...), so it must end quickly. Does a loop never end? Put the work "
                  "in upgrade(op) or downgrade(op), which have no time limit",
                  LM_SCRIPT_LOAD_SECONDS);
}

static void budget_hook(lua_State *L, lua_Debug *ar) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &budget_key);
  struct load_budget *b = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (b == NULL) {                    /* a coroutine the script made, resumed after its load */
    lua_sethook(L, NULL, 0, 0);
    return;
  }
  if (!b->spent && cpu_seconds() - b->start < LM_SCRIPT_LOAD_SECONDS) return;
  if (!b->spent) {
    b->spent = 1;
    lua_getinfo(L, "Sl", ar);
    snprintf(b->where, sizeof b->where, "%s:%d", ar->short_src, ar->currentline);
  }
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);      /* from now on, every instruction */
  lua_pushfstring(L, "%s: ", b->where);
  budget_message(L);
  lua_concat(L, 2);
  lua_error(L);
}

/* The message handler of a load (upvalue 1: the chunk name "@path"): an
 * error value of any type becomes a string, and one that does not already
 * start with the script's position (an error raised by a C function such as
 * coroutine.yield, error(x, 0), error(non-string)) gets the line of the
 * script's innermost frame in front. */
static int load_message(lua_State *L) {
  const char *chunkname = lua_tostring(L, lua_upvalueindex(1));
  if (lua_type(L, 1) == LUA_TSTRING) {
    lua_settop(L, 1);
  } else if (lua_type(L, 1) == LUA_TNUMBER || lua_type(L, 1) == LUA_TBOOLEAN) {
    lua_pushfstring(L, "error object is a %s value (%s)", luaL_typename(L, 1),
                    luaL_tolstring(L, 1, NULL));
    lua_replace(L, 1);
    lua_settop(L, 1);
  } else if (luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL) {
    lua_pushvalue(L, 1);                                /* __tostring(value), protected */
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
      lua_replace(L, 1);
    } else {
      lua_pushfstring(L, "error object is a %s value (its __tostring failed)",
                      luaL_typename(L, 1));
      lua_replace(L, 1);
    }
    lua_settop(L, 1);
  } else {
    lua_pushfstring(L, "error object is a %s value", luaL_typename(L, 1));
    lua_replace(L, 1);
    lua_settop(L, 1);
  }
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar) || strcmp(ar.source, chunkname) != 0) continue;
    size_t n = strlen(ar.short_src);
    const char *msg = lua_tostring(L, 1);
    if (strncmp(msg, ar.short_src, n) == 0 && msg[n] == ':') break;   /* positioned */
    if (ar.currentline > 0) lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
    else lua_pushfstring(L, "%s: ", ar.short_src);
    lua_pushvalue(L, 1);
    lua_concat(L, 2);
    return 1;
  }
  return 1;
}

/* See script_int.h. */
int lm_script_run_top_level(lua_State *L, const char *path) {
  int chunk = lua_gettop(L);
  lua_pushfstring(L, "@%s", path);
  lua_pushcclosure(L, load_message, 1);
  lua_insert(L, chunk);                               /* handler below the chunk */
  int guard = lm_script_guard_on(L);
  int hook_guard = guard_field_on(L, "debug", "sethook", refused_sethook);
  lua_pushvalue(L, chunk + 1);                        /* the chunk, above the guards' slots */
  struct load_budget budget = {cpu_seconds(), 0, ""};
  lua_rawgetp(L, LUA_REGISTRYINDEX, &budget_key);     /* an enclosing load's, or nil */
  void *outer = lua_touserdata(L, -1);
  lua_pop(L, 1);
  lua_Hook old_hook = lua_gethook(L);
  int old_mask = lua_gethookmask(L), old_count = lua_gethookcount(L);
  lua_pushlightuserdata(L, &budget);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &budget_key);
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, LOAD_HOOK_COUNT);
  int status = lua_pcall(L, 0, 0, chunk);
  lua_sethook(L, old_hook, old_mask, old_count);
  if (outer) lua_pushlightuserdata(L, outer);
  else lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &budget_key);
  guard_field_off(L, hook_guard, "sethook");
  lm_script_guard_off(L, guard);
  if (budget.spent) {                                 /* even if the script caught it */
    lua_pushfstring(L, "%s: ", budget.where);
    budget_message(L);
    lua_concat(L, 2);
    status = LUA_ERRRUN;
  } else if (status != LUA_OK && lua_type(L, -1) != LUA_TSTRING) {
    lua_pushliteral(L, "error object is not a string");  /* a memory error, or the like */
  }
  if (status != LUA_OK) {
    lua_replace(L, chunk);
    lua_settop(L, chunk);
  } else {
    lua_settop(L, chunk - 1);
  }
  return status;
}
