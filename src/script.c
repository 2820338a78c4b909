/*
 * script.c -- finding migration files, running each in its own
 * environment, reading its metadata, and its SHA-256 checksum.
 *
 * One lua_State for every script (the caller's); each chunk gets a fresh
 * table as _ENV with a shared metatable whose __index is the globals
 * table, so a script reads print, string, os... but what it defines stays
 * in its own table.
 */
#define _DEFAULT_SOURCE   /* DT_DIR and DT_REG: readdir's d_type spares a stat per script */
#include "script.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <openssl/evp.h>

/* ---- finding files ---- */

struct paths {
  char **v;
  size_t n, cap;
};

static void paths_push(struct paths *p, char *s) {
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 64;
    p->v = lm_realloc(p->v, p->cap * sizeof *p->v);
  }
  p->v[p->n++] = s;
}

static int path_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with_lua(const char *name) {
  size_t n = strlen(name);
  return n > 4 && strcmp(name + n - 4, ".lua") == 0;
}

/* Appends the *.lua files under dir (recursively) to out. */
static int find_in(const char *dir, struct paths *out, int depth, struct lm_err *e) {
  if (depth > 32) return lm_err_set(e, LM_ERROR, "%s: directories nested too deeply", dir);
  DIR *d = opendir(dir);
  if (d == NULL) {
    if (errno == ENOENT && depth == 0)
      return lm_err_set(e, LM_ERROR, "Path doesn't exist: '%s'. Please use the 'init' command "
                        "to create a new scripts folder.", dir);
    return lm_err_set(e, LM_ERROR, "%s: %s", dir, strerror(errno));
  }
  int rc = LM_OK;
  struct dirent *ent;
  while (rc == LM_OK && (ent = readdir(d)) != NULL) {
    if (ent->d_name[0] == '.') continue;              /* ., .., hidden files and editors' */
    /* readdir's d_type spares a stat per file; links and filesystems
     * that do not fill it in get the stat. */
    int is_dir = 0, is_file = 0;
#ifdef DT_DIR
    if (ent->d_type == DT_DIR) is_dir = 1;
    else if (ent->d_type == DT_REG) is_file = 1;
#endif
    char *path = lm_asprintf("%s/%s", dir, ent->d_name);
    if (!is_dir && !is_file) {
      struct stat st;
      if (stat(path, &st) != 0) {
        free(path);                                   /* a dangling link: not a script */
        continue;
      }
      is_dir = S_ISDIR(st.st_mode);
      is_file = S_ISREG(st.st_mode);
    }
    if (is_dir) {
      rc = find_in(path, out, depth + 1, e);
      free(path);
    } else if (is_file && ends_with_lua(ent->d_name)) {
      paths_push(out, path);
    } else {
      free(path);
    }
  }
  closedir(d);
  return rc;
}

int lm_script_find(const char *dir, char ***paths, size_t *npaths, struct lm_err *e) {
  struct paths p = {NULL, 0, 0};
  size_t len = strlen(dir);
  char *root = lm_strdup(dir);
  while (len > 1 && root[len - 1] == '/') root[--len] = '\0';
  int rc = find_in(root, &p, 0, e);
  free(root);
  if (rc != LM_OK) {
    for (size_t i = 0; i < p.n; i++) free(p.v[i]);
    free(p.v);
    return rc;
  }
  if (p.n > 1) qsort(p.v, p.n, sizeof *p.v, path_cmp);
  *paths = p.v;
  *npaths = p.n;
  return LM_OK;
}

/* ---- checksum ---- */

int lm_script_sha256(const void *data, size_t len, char hex[65], struct lm_err *e) {
  /* One context for the process: creating one per file (as EVP_Digest
   * does) costs more than hashing a migration. */
  static EVP_MD_CTX *ctx;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
    return lm_err_set(e, LM_ERROR, "SHA-256 failed (libcrypto): out of memory");
  if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) || !EVP_DigestUpdate(ctx, data, len) ||
      !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32)
    return lm_err_set(e, LM_ERROR, "SHA-256 failed (libcrypto)");
  static const char digits[] = "0123456789abcdef";
  for (unsigned int i = 0; i < mdlen; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[64] = '\0';
  return LM_OK;
}

/* ---- loading ---- */

/* The whole file in one allocation (caller frees *data): name opened in
 * the directory dirfd (AT_FDCWD: relative to the working directory);
 * path is for messages. */
static int read_file(int dirfd, const char *name, const char *path, char **data, size_t *len,
                     struct lm_err *e) {
  int fd = openat(dirfd, name, O_RDONLY);
  if (fd < 0) return lm_err_set(e, LM_ERROR, "%s: %s", path, strerror(errno));
  struct stat st;
  size_t size = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
  size_t cap = size ? size + 1 : 4096;
  char *buf = lm_malloc(cap);
  size_t n = 0;
  for (;;) {
    if (size && n == size) break;                     /* all of it: no read just to see EOF */
    if (n + 1 >= cap) buf = lm_realloc(buf, cap *= 2);
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r == 0) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      free(buf);
      return lm_err_set(e, LM_ERROR, "%s: %s", path, strerror(err));
    }
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return LM_OK;
}

/* Normalises the value at the top of the stack (nil, a string, or a list
 * of strings) into a new list, replacing it. Returns 0 when the value has
 * another shape. */
static int to_list(lua_State *L) {
  int t = lua_type(L, -1);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    return 1;
  }
  if (t == LUA_TSTRING) {
    lua_createtable(L, 1, 0);
    lua_insert(L, -2);
    lua_rawseti(L, -2, 1);
    return 1;
  }
  if (t != LUA_TTABLE) return 0;
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -2, i) != LUA_TSTRING) return 0;
    lua_rawseti(L, -2, i);
  }
  /* every key must be one of 1..n: a table with other keys is a mistake */
  lua_pushnil(L);
  while (lua_next(L, -3)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
      lua_pop(L, 1);
      return 0;
    }
  }
  lua_remove(L, -2);
  return 1;
}

/* The field named name of the environment (at env) as a list, stored in
 * the record (at rec) as field out. */
static int list_field(lua_State *L, int env, int rec, const char *name, const char *out,
                      const char *path, struct lm_err *e) {
  lua_pushstring(L, name);
  lua_rawget(L, env);
  if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) == 0) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  if (!to_list(L)) {
    lua_pop(L, 1);
    return lm_err_set(e, LM_ERROR, "%s: %s must be nil, a string or a list of strings", path,
                      name);
  }
  lua_setfield(L, rec, out);
  return LM_OK;
}

/* How Lua names the chunk of path in messages: at most LUA_IDSIZE - 1
 * characters, the end of a long path kept behind "..." (luaO_chunkid). */
static void chunk_id(const char *path, struct lm_buf *id) {
  size_t len = strlen(path), room = LUA_IDSIZE - 1;
  if (len <= room) {
    lm_buf_adds(id, path);
  } else {
    lm_buf_adds(id, "...");
    lm_buf_adds(id, path + len - (room - 3));
  }
}

char *lm_script_message(const char *msg, const char *path) {
  struct lm_buf id = LM_BUF_INIT, out = LM_BUF_INIT;
  chunk_id(path, &id);
  const char *p = msg;
  for (const char *hit; (hit = strstr(p, id.data)) != NULL; p = hit + id.len) {
    lm_buf_add(&out, p, (size_t)(hit - p));
    lm_buf_adds(&out, hit[id.len] == ':' ? path : id.data);
  }
  lm_buf_adds(&out, p);
  lm_buf_release(&id);
  /* Lua's own words say what went wrong but not what to do */
  static const char *const yields[] = {"attempt to yield from outside a coroutine",
                                       "attempt to yield across a C-call boundary", NULL};
  for (int i = 0; yields[i]; i++) {
    size_t n = strlen(yields[i]);
    if (out.len >= n && strcmp(out.data + out.len - n, yields[i]) == 0)
      lm_buf_adds(&out, " (coroutine.yield works only inside a coroutine the script makes "
                  "with coroutine.wrap or coroutine.create: upgrade, downgrade and the "
                  "script's top level are plain calls)");
  }
  return lm_buf_detach(&out);
}

/* Puts a load error into e as "path:line: message" however deep the file
 * is, or "path: message" when Lua gives no position (a binary chunk,
 * error(x, 0)). */
static void set_load_error(struct lm_err *e, const char *msg, const char *path) {
  struct lm_buf id = LM_BUF_INIT;
  chunk_id(path, &id);
  int positioned = strncmp(msg, id.data, id.len) == 0 && msg[id.len] == ':';
  lm_buf_release(&id);
  char *full = lm_script_message(msg, path);
  if (positioned) lm_err_set(e, LM_ERROR, "%s", full);
  else lm_err_set(e, LM_ERROR, "%s: %s", path, full);
  free(full);
}

int lm_script_load(lua_State *L, const char *path, int env_mt, struct lm_err *e) {
  return lm_script_load_at(L, AT_FDCWD, path, path, env_mt, e);
}

/* The metadata fields of the record at rec, from the script's globals
 * at env: revision, down_revision, parents, branch_labels, depends_on,
 * message, transactional. */
static int read_metadata(lua_State *L, int env, int rec, const char *path, struct lm_err *e) {
  lua_pushliteral(L, "revision");
  if (lua_rawget(L, env) != LUA_TSTRING) {
    int rc = lua_isnil(L, -1)
               ? lm_err_set(e, LM_ERROR, "%s: no revision id (set the global 'revision')", path)
               : lm_err_set(e, LM_ERROR, "%s: revision must be a string, not a %s", path,
                            luaL_typename(L, -1));
    lua_pop(L, 1);
    return rc;
  }
  lua_setfield(L, rec, "revision");

  lua_pushliteral(L, "down_revision");
  lua_rawget(L, env);
  if (lua_istable(L, -1) && lua_rawlen(L, -1) == 0) {
    lua_pop(L, 1);
    lua_pushnil(L);                                   /* {} means no parent, as () does */
  } else if (lua_istable(L, -1) && lua_rawlen(L, -1) == 1) {
    lua_rawgeti(L, -1, 1);                            /* a one-element list is that id */
    lua_remove(L, -2);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, rec, "down_revision");
  if (!to_list(L)) {
    lua_pop(L, 1);
    return lm_err_set(e, LM_ERROR, "%s: down_revision must be nil, a revision id or a list of "
                      "revision ids", path);
  }
  lua_setfield(L, rec, "parents");
  if (list_field(L, env, rec, "branch_labels", "branch_labels", path, e)) return LM_ERROR;
  if (list_field(L, env, rec, "depends_on", "depends_on", path, e)) return LM_ERROR;

  lua_pushliteral(L, "message");
  int mt = lua_rawget(L, env);
  if (mt != LUA_TNIL && mt != LUA_TSTRING) {
    lua_pop(L, 1);
    return lm_err_set(e, LM_ERROR, "%s: message must be a string", path);
  }
  lua_setfield(L, rec, "message");

  lua_pushliteral(L, "transactional");
  int tt = lua_rawget(L, env);
  if (tt == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  } else if (tt != LUA_TBOOLEAN) {
    lua_pop(L, 1);
    return lm_err_set(e, LM_ERROR, "%s: transactional must be true or false", path);
  }
  lua_setfield(L, rec, "transactional");
  lua_pushstring(L, path);
  lua_setfield(L, rec, "path");
  return LM_OK;
}

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

/* Calls the chunk at the top (loaded as "@path") with os.exit refused
 * and its CPU time bounded; on failure leaves a string message, positioned
 * when Lua knows where, on the stack and returns non-zero. */
static int run_top_level(lua_State *L, const char *path) {
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

/* Runs the script whose text is data[0..len) and pushes its record (see
 * lm_script_load_at); data stays the caller's. */
static int load_data(lua_State *L, const char *data, size_t len, const char *path, int env_mt,
                     struct lm_err *e) {
  char hex[65];
  int top = lua_gettop(L);
  env_mt = lua_absindex(L, env_mt);
  if (lm_script_sha256(data, len, hex, e)) return LM_ERROR;
  char *chunkname = lm_asprintf("@%s", path);
  int status = luaL_loadbufferx(L, data, len, chunkname, "t");
  free(chunkname);
  if (status != LUA_OK) {
    set_load_error(e, lua_tostring(L, -1), path);
    lua_settop(L, top);
    return LM_ERROR;
  }
  lua_newtable(L);                                    /* the script's _ENV */
  lua_pushvalue(L, env_mt);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setupvalue(L, -3, 1);                           /* chunk's first upvalue is _ENV */
  int env = lua_gettop(L);
  lua_pushvalue(L, env - 1);
  if (run_top_level(L, path) != LUA_OK) {
    set_load_error(e, lua_tostring(L, -1), path);
    lua_settop(L, top);
    return LM_ERROR;
  }
  lua_createtable(L, 0, 16);                          /* the record */
  int rec = lua_gettop(L);
  int rc = read_metadata(L, env, rec, path, e);
  if (rc != LM_OK) goto cleanup;

  lua_pushliteral(L, "upgrade");
  if (lua_rawget(L, env) != LUA_TFUNCTION) {
    lua_getfield(L, rec, "revision");
    rc = lm_err_set(e, LM_ERROR, "%s: revision %s has no upgrade function", path,
                    lua_tostring(L, -1));
    goto cleanup;
  }
  lua_setfield(L, rec, "upgrade");
  lua_pushliteral(L, "downgrade");
  int dt = lua_rawget(L, env);
  if (dt != LUA_TNIL && dt != LUA_TFUNCTION) {
    rc = lm_err_set(e, LM_ERROR, "%s: downgrade must be a function", path);
    goto cleanup;
  }
  lua_setfield(L, rec, "downgrade");
  lua_pushstring(L, hex);
  lua_setfield(L, rec, "checksum");
  lua_pushvalue(L, env);
  lua_setfield(L, rec, "env");

cleanup:
  if (rc != LM_OK) {
    lua_settop(L, top);
    return rc;
  }
  lua_settop(L, rec);                                 /* chunk, env, record */
  lua_replace(L, top + 1);                            /* record where the chunk was */
  lua_settop(L, top + 1);
  return LM_OK;
}

/* Runs the chunk and builds the record; see script.h. */
int lm_script_load_at(lua_State *L, int dirfd, const char *name, const char *path, int env_mt,
                      struct lm_err *e) {
  char *data = NULL;
  size_t len = 0;
  if (read_file(dirfd, name, path, &data, &len, e)) return LM_ERROR;
  int rc = load_data(L, data, len, path, env_mt, e);
  free(data);
  return rc;
}

/* The record from the header scan, else from the full load of the same
 * text: each file is read once; see script.h. */
int lm_script_scan_at(lua_State *L, int dirfd, const char *name, const char *path, int scanned_mt,
                      int env_mt, struct lm_err *e) {
  char *data = NULL;
  size_t len = 0;
  int top = lua_gettop(L);
  scanned_mt = lua_absindex(L, scanned_mt);
  env_mt = lua_absindex(L, env_mt);
  if (read_file(dirfd, name, path, &data, &len, e)) return LM_ERROR;
  if (!lm_script_scan_header(L, data, len)) {
    int rc = load_data(L, data, len, path, env_mt, e);
    free(data);
    return rc;
  }
  free(data);
  int env = lua_gettop(L);
  lua_createtable(L, 0, 12);
  int rec = lua_gettop(L);
  struct lm_err ignored = LM_ERR_INIT;                /* the full load will say it */
  if (read_metadata(L, env, rec, path, &ignored) != LM_OK) {
    lm_err_release(&ignored);
    lua_settop(L, top);
    return lm_script_load_at(L, dirfd, name, path, env_mt, e);  /* rare: wrong metadata */
  }
  lua_getfield(L, env, "\001has_downgrade");
  lua_setfield(L, rec, "has_downgrade");
  lua_pushvalue(L, scanned_mt);
  lua_setmetatable(L, rec);
  lua_replace(L, env);
  lua_settop(L, top + 1);
  return LM_OK;
}
