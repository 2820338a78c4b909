/*
 * lua_script.c -- the migration scripts in luamig.core: loading them,
 * calling their functions, and what scaffold reads without loading them.
 * Failures raise the error value of lm_lua_raise.
 *
 * core.load_scripts(dirs [, {scan = true}]) -> records
 *   dirs: a directory or a list of them (script_location/versions, then
 *   any version_locations). Every *.lua below each, sorted by path within
 *   a directory, runs in its own environment (reads fall through to the
 *   globals). With scan, a script in the plain form `luamig revision`
 *   writes is not run: its record comes from the header scan
 *   (script_scan.c) with has_downgrade, and upgrade, downgrade, env and
 *   checksum are filled in by the full load on the first read of any of
 *   them, which also checks that the scan read what Lua does. A checksum
 *   is computed on its first read (the file read again, and required to
 *   be the text that ran): listings need no libcrypto. A record is
 *     { revision = "3f2a9c1d8e7b", down_revision = nil | "id" | {"a", "b"},
 *       parents = {...}, depends_on = {...}, branch_labels = {...},
 *       replaces = {...} (a squash: the revisions it replaces),
 *       message = "create users" | nil, transactional = true,
 *       path = "migrations/versions/3f2a_create_users.lua",
 *       checksum = "<64 hex digits of SHA-256>",
 *       upgrade = function, downgrade = function | nil, env = {...} }
 *   Errors: "path:line: message" (syntax or runtime; the line of the
 *   script's innermost frame when the error has none of its own: a C
 *   function's, error(x, 0), an error value that is not a string), "path:
 *   line: loading the script took more than 2 seconds of CPU time ...",
 *   "path: no revision id (set the global 'revision')", "path: revision X
 *   has no upgrade function", "path: down_revision must be nil, a revision
 *   id or a list of revision ids", "Path doesn't exist: 'dir'. ...".
 *
 * core.load_script(path) -> record
 *   One script loaded again, fully, in a fresh environment (a retried
 *   step's new attempt runs from it: no top-level state of the last one).
 *
 * core.call_script(f, handler, ...) -> xpcall(f, handler, ...)
 *   How a step calls a script's upgrade or downgrade: os.exit is refused
 *   (an error at the caller's line) until f returns or raises, then the
 *   host's is back. A script's top level gets the same guard, and at most
 *   LM_SCRIPT_LOAD_SECONDS of CPU time (script.h), in load_scripts.
 *
 * core.sha256(string) -> 64 lowercase hex digits
 * core.script_message(message, path) -> message
 *   Lua shortens a chunk name longer than 59 characters in messages
 *   ("...ns/3f2a9c1d8e7b_a_long_slug.lua:12: ..."); this puts the full path
 *   back, for errors raised inside upgrade/downgrade (load errors already
 *   carry it).
 *
 * core.find_scripts(dir) -> the *.lua paths load_scripts would load, sorted
 * core.scan_header(text) -> header | nil, first_revision
 *   header: the plain form's metadata (script_scan.c) and has_downgrade;
 *   first_revision: the id of the first `revision = "id"` line, whatever
 *   the form (how scaffold finds the ids already taken).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua_core.h"
#include "script.h"

#define SCRATCH_MT "luamig.ScriptScratch"

/* C-side results owned by a userdata, so an error raised while
 * converting them (memory) cannot leak them. */
struct scratch {
  char **paths;
  size_t npaths;
  struct lm_prefetch *prefetch;  /* reading paths ahead, or NULL */
  char *data;                    /* the text of the file being loaded */
  struct lm_scan *parsed;        /* and its header parsed, or NULL */
  char *str;                     /* a C string on its way to Lua */
};

static void release_parsed(struct scratch *s) {
  if (s->parsed == NULL) return;
  lm_script_scan_release(s->parsed);
  free(s->parsed);
  s->parsed = NULL;
}

static void scratch_release_paths(struct scratch *s) {
  lm_prefetch_stop(s->prefetch);                      /* before the paths it reads */
  s->prefetch = NULL;
  free(s->data);
  s->data = NULL;
  release_parsed(s);
  for (size_t i = 0; i < s->npaths; i++) free(s->paths[i]);
  free(s->paths);
  s->paths = NULL;
  s->npaths = 0;
}

static int scratch_gc(lua_State *L) {
  struct scratch *s = luaL_checkudata(L, 1, SCRATCH_MT);
  scratch_release_paths(s);
  free(s->str);
  s->str = NULL;
  return 0;
}

static struct scratch *push_scratch(lua_State *L) {
  struct scratch *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, SCRATCH_MT);
  return s;
}

/* __index of a scanned record (upvalue 1: the scripts' env metatable):
 * on the first read of a field only the full load gives, load the script,
 * check that the scan read the same metadata, and complete the record. */
static int complete_scanned(lua_State *L) {
  static const char *const loaded[] = {"upgrade", "downgrade", "env", "checksum", NULL};
  const char *key = lua_tostring(L, 2);
  int wanted = 0;
  for (int i = 0; key && loaded[i]; i++) wanted |= strcmp(key, loaded[i]) == 0;
  if (!wanted) return 0;
  lua_getfield(L, 1, "path");
  const char *path = lua_tostring(L, -1);
  struct lm_err e = LM_ERR_INIT;
  if (lm_script_load(L, path, lua_upvalueindex(1), &e)) return lm_lua_raise(L, &e);
  int full = lua_gettop(L);
  const char *differs = lm_script_scan_differs(L, 1, full);
  if (differs)
    return luaL_error(L, "%s: running the script gives another %s than its header did when "
                      "it was listed: was the file edited since? (If not, this is a luamig "
                      "bug: please report it with the file.)", path, differs);
  for (int i = 0; loaded[i]; i++) {
    lua_pushstring(L, loaded[i]);
    lua_rawget(L, full);                                /* the checksum stays lazy */
    lua_setfield(L, 1, loaded[i]);
  }
  lua_getmetatable(L, full);                            /* complete: the full record's own */
  lua_setmetatable(L, 1);
  lua_getfield(L, 1, key);
  return 1;
}

/* core.load_scripts(dirs [, opts]) */
static int core_load_scripts(lua_State *L) {
  int scan = 0;
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_getfield(L, 2, "scan");
    scan = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  size_t ndirs;
  const char **dirs = lm_lua_string_array(L, 1, &ndirs, "dirs");
  struct scratch *s = push_scratch(L);
  struct lm_err e = LM_ERR_INIT;
  lua_createtable(L, 0, 1);                             /* env metatable: __index = _G */
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  int mt = lua_gettop(L);
  lua_createtable(L, 0, 1);                             /* scanned records' metatable */
  lua_pushvalue(L, mt);
  lua_pushcclosure(L, complete_scanned, 1);
  lua_setfield(L, -2, "__index");
  int scanned_mt = lua_gettop(L);
  lua_newtable(L);
  int out = lua_gettop(L);
  lua_Integer k = 0;
  /* Thousands of small chunks, closures and tables that all stay alive:
   * collecting while they are made is wasted work. The collector restarts
   * before every return and every raise below (only a memory error inside
   * the Lua API could leave it stopped). */
  int was_running = lua_gc(L, LUA_GCISRUNNING);
  lua_gc(L, LUA_GCSTOP);
  for (size_t d = 0; d < ndirs; d++) {
    if (lm_script_find(dirs[d], &s->paths, &s->npaths, &e)) {
      if (was_running) lua_gc(L, LUA_GCRESTART);
      return lm_lua_raise(L, &e);
    }
    s->prefetch = lm_prefetch_start(s->paths, s->npaths, scan);
    for (size_t i = 0; i < s->npaths; i++) {
      const char *path = s->paths[i];
      size_t len;
      int rc = lm_prefetch_take(s->prefetch, i, &s->data, &len, &s->parsed, &e);
      if (rc == LM_OK)
        rc = scan ? lm_script_scan_text(L, s->data, len, path, s->parsed, scanned_mt, mt, &e)
                  : lm_script_load_text(L, s->data, len, path, mt, &e);
      free(s->data);
      s->data = NULL;
      release_parsed(s);
      if (rc != LM_OK) {
        scratch_release_paths(s);                       /* the reading thread ends now */
        if (was_running) lua_gc(L, LUA_GCRESTART);
        return lm_lua_raise(L, &e);
      }
      lua_rawseti(L, out, ++k);
    }
    scratch_release_paths(s);
  }
  if (was_running) lua_gc(L, LUA_GCRESTART);
  return 1;
}

/* core.load_script(path) -> record: the script run again from its file in
 * a fresh environment (reads fall through to the globals), as
 * load_scripts' full load makes it: how a step retried after a lock
 * timeout gets a first run's top-level state (lock_retry). */
static int core_load_script(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct lm_err e = LM_ERR_INIT;
  lua_createtable(L, 0, 1);                             /* env metatable: __index = _G */
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  if (lm_script_load(L, path, -1, &e)) return lm_lua_raise(L, &e);
  return 1;
}

/* core.call_script(f, handler, ...) -> xpcall(f, handler, ...) with
 * os.exit refused while f runs (lm_script_guard_on): how a step calls a
 * script's upgrade or downgrade. The host's os.exit is back on return. */
static int core_call_script(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 2;
  lm_script_guard_on(L);                              /* its four slots on top */
  lua_rotate(L, 1, 4);                                /* ... now at 1..4: f 5, handler 6 */
  lua_pushvalue(L, 5);
  lua_remove(L, 5);                                   /* handler 5, args, f */
  lua_insert(L, 6);                                   /* handler 5, f 6, args 7.. */
  int status = lua_pcall(L, nargs, LUA_MULTRET, 5);
  lm_script_guard_off(L, 1);
  lua_pushboolean(L, status == LUA_OK);
  lua_replace(L, 5);                                  /* handler's slot: the status */
  return lua_gettop(L) - 4;
}

/* core.script_message(message, path) -> message with the full path */
static int core_script_message(lua_State *L) {
  const char *msg = luaL_checkstring(L, 1), *path = luaL_checkstring(L, 2);
  struct scratch *s = push_scratch(L);
  s->str = lm_script_message(msg, path);  /* freed by the scratch, even if the push raises */
  lua_pushstring(L, s->str);
  return 1;
}

/* core.scan_header(text) -> header | nil, first_revision
 * header: the metadata the header scan reads (revision, down_revision,
 * branch_labels, depends_on, replaces, message, transactional, as written) and
 * has_downgrade, when text has the plain form `luamig revision` writes;
 * first_revision: lm_script_first_revision's id, or nil. */
static int core_scan_header(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  if (lm_script_scan_header(L, text, len)) {
    lua_getfield(L, -1, "\001has_downgrade");
    lua_setfield(L, -2, "has_downgrade");
    lua_pushnil(L);
    lua_setfield(L, -2, "\001has_downgrade");
  } else {
    lua_pushnil(L);
  }
  const char *id;
  size_t idlen;
  if (lm_script_first_revision(text, len, &id, &idlen)) lua_pushlstring(L, id, idlen);
  else lua_pushnil(L);
  return 2;
}

/* core.find_scripts(dir) -> the *.lua paths below dir, as load_scripts
 * finds them (hidden names skipped at every depth, links followed), sorted. */
static int core_find_scripts(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  struct scratch *s = push_scratch(L);
  struct lm_err e = LM_ERR_INIT;
  if (lm_script_find(dir, &s->paths, &s->npaths, &e)) return lm_lua_raise(L, &e);
  lua_createtable(L, (int)s->npaths, 0);
  for (size_t i = 0; i < s->npaths; i++) {
    lua_pushstring(L, s->paths[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* core.sha256(string) -> hex */
static int core_sha256(lua_State *L) {
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  char hex[65];
  struct lm_err e = LM_ERR_INIT;
  if (lm_script_sha256(data, len, hex, &e)) return lm_lua_raise(L, &e);
  lua_pushstring(L, hex);
  return 1;
}

static const luaL_Reg script_functions[] = {
  {"load_scripts", core_load_scripts},
  {"load_script", core_load_script},
  {"find_scripts", core_find_scripts},
  {"scan_header", core_scan_header},
  {"sha256", core_sha256},
  {"script_message", core_script_message},
  {"call_script", core_call_script},
  {NULL, NULL}
};

void lm_lua_script_open(lua_State *L) {
  luaL_newmetatable(L, SCRATCH_MT);
  lua_pushcfunction(L, scratch_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_setfuncs(L, script_functions, 0);               /* into the module table */
}
