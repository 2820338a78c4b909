/*
 * fuzz_script.c -- libFuzzer target for loading a migration script's
 * metadata (script.c's lm_script_load) and adding it to a revision graph
 * (graph.c's lm_graph_add and lm_graph_build).
 *
 * The input is the text of a script. It runs in a sandboxed lua_State
 * (base, string, table, math and utf8 libraries only, no file or process
 * access, an instruction budget and a memory cap), so that whatever the
 * fuzzer writes, a run ends. When the script loads, its record goes into
 * a graph beside three fixed revisions (r1 <- r2 <- r3, label "main"),
 * which is then built and asked for its heads. Every failure must carry a
 * message; a loaded record must have the fields script.h promises; and
 * when the header scan (script_scan.c) accepts a script that loads, it
 * must have read the same metadata as running it.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "graph.h"
#include "script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEMORY_CAP (64u << 20)
#define INSTRUCTION_BUDGET 2000000

static size_t in_use;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (ptr == NULL) osize = 0;
  if (nsize == 0) {
    free(ptr);
    in_use -= osize;
    return NULL;
  }
  if (nsize > osize && in_use + (nsize - osize) > MEMORY_CAP) return NULL;
  void *p = realloc(ptr, nsize);
  if (p != NULL) in_use = in_use - osize + nsize;
  return p;
}

static void budget_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  luaL_error(L, "instruction budget exhausted");
}

static lua_State *new_state(void) {
  lua_State *L = lua_newstate(capped_alloc, NULL);
  static const luaL_Reg libs[] = {
    {LUA_GNAME, luaopen_base}, {LUA_STRLIBNAME, luaopen_string},
    {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8}, {NULL, NULL}};
  for (const luaL_Reg *l = libs; l->func; l++) {
    luaL_requiref(L, l->name, l->func, 1);
    lua_pop(L, 1);
  }
  static const char *const banned[] = {"dofile", "loadfile", "print", "collectgarbage", NULL};
  for (const char *const *b = banned; *b; b++) {
    lua_pushnil(L);
    lua_setglobal(L, *b);
  }
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, INSTRUCTION_BUDGET);
  return L;
}

/* The strings of the list at field name of the table at idx. Caller frees
 * the array (the strings stay owned by Lua). */
static const char **strings_of(lua_State *L, int idx, const char *name, size_t *n) {
  lua_getfield(L, idx, name);
  if (!lua_istable(L, -1)) abort();                  /* script.h: always a list */
  size_t len = (size_t)lua_rawlen(L, -1);
  const char **v = calloc(len + 1, sizeof *v);
  for (size_t i = 0; i < len; i++) {
    if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TSTRING) abort();
    v[i] = lua_tostring(L, -1);
    lua_pop(L, 1);                                   /* still referenced by the list */
  }
  lua_pop(L, 1);                                     /* the list stays in the record */
  *n = len;
  return v;
}

/* The script may have taken the id already: that is its error to report. */
static int add_fixed(struct lm_graph *g, const char *id, const char *down, const char *label,
                     struct lm_err *e) {
  const char *d[1] = {down}, *l[1] = {label};
  struct lm_rev_spec s = {id, d, down ? 1 : 0, NULL, 0, l, label ? 1 : 0, id, 1};
  return lm_graph_add(g, &s, e);
}

static void require_message(struct lm_err *e) {
  if (e->message == NULL || e->message[0] == '\0') abort();
}

/* The scan of the file at path, when it accepts it, against the loaded
 * record at rec. */
static void check_scan(lua_State *L, const char *file, const uint8_t *data, size_t size, int rec,
                       int env_mt) {
  int top = lua_gettop(L);
  lua_newtable(L);                   /* completes the scanned record from the loaded one, */
  lua_pushvalue(L, rec);              /* as core.load_scripts' metatable does by loading */
  lua_setfield(L, -2, "__index");
  struct lm_err e = LM_ERR_INIT;
  /* the scanned record (its metatable the one above), or the full load's
   * when the scan declines */
  if (lm_script_scan_text(L, (const char *)data, size, file, NULL, lua_gettop(L), env_mt, &e) != LM_OK)
    abort();                                         /* the load just read the same text */
  int scanned = lua_getmetatable(L, -1) && lua_rawequal(L, -1, top + 1);  /* not the full load's */
  if (scanned) lua_pop(L, 1);
  if (scanned && lm_script_scan_differs(L, -1, rec) != NULL) abort();
  lm_err_release(&e);
  lua_settop(L, top);
}

static char path[64];                /* the one file each input is written to */

static void remove_script(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (path[0] == '\0') {
    snprintf(path, sizeof path, "/tmp/luamig-fuzz-script-%d.lua", (int)getpid());
    atexit(remove_script);
  }
  if (size > 65536) return 0;
  FILE *f = fopen(path, "wb");
  if (f == NULL) abort();
  if (size > 0 && fwrite(data, 1, size, f) != size) abort();
  fclose(f);

  lua_State *L = new_state();
  lua_createtable(L, 0, 1);                          /* the environments' metatable */
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  int env_mt = lua_gettop(L);
  struct lm_err e = LM_ERR_INIT;
  if (lm_script_load(L, path, env_mt, &e) != LM_OK) {
    require_message(&e);
    if (lua_gettop(L) != env_mt) abort();            /* pushes nothing on failure */
    lm_err_release(&e);
    lua_close(L);
    return 0;
  }
  int rec = lua_gettop(L);
  if (rec != env_mt + 1) abort();
  check_scan(L, path, data, size, rec, env_mt);
  lua_getfield(L, rec, "checksum");
  if (lua_rawlen(L, -1) != 64) abort();
  lua_pop(L, 1);
  lua_getfield(L, rec, "revision");
  const char *id = lua_tostring(L, -1);
  if (id == NULL) abort();
  lua_pop(L, 1);
  size_t nd, ndep, nl;
  const char **down = strings_of(L, rec, "parents", &nd);
  const char **deps = strings_of(L, rec, "depends_on", &ndep);
  const char **labels = strings_of(L, rec, "branch_labels", &nl);
  lua_getfield(L, rec, "downgrade");
  int has_downgrade = lua_isfunction(L, -1);
  lua_pop(L, 1);

  struct lm_graph *g = lm_graph_new();
  if (add_fixed(g, "r1", NULL, "main", &e) || add_fixed(g, "r2", "r1", NULL, &e)) abort();
  struct lm_rev_spec s = {id, down, nd, deps, ndep, labels, nl, path, has_downgrade};
  int rc = lm_graph_add(g, &s, &e);
  if (rc == LM_OK) rc = add_fixed(g, "r3", "r2", NULL, &e);
  if (rc == LM_OK) rc = lm_graph_build(g, &e);
  if (rc != LM_OK) {
    require_message(&e);
  } else {
    struct lm_ilist heads = LM_ILIST_INIT;
    if (lm_graph_resolve(g, "heads", &heads, &e) != LM_OK) require_message(&e);
    lm_ilist_release(&heads);
    struct lm_plan plan = LM_PLAN_INIT;
    if (lm_graph_upgrade(g, NULL, 0, "heads", &plan, &e) != LM_OK) require_message(&e);
    lm_plan_release(&plan);
  }
  lm_err_release(&e);
  lm_graph_free(g);
  free(down);
  free(deps);
  free(labels);
  lua_close(L);
  return 0;
}
