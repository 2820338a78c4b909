/*
 * script.c -- loading a migration script into its record: the file read
 * once, its SHA-256 checksum (on first read), its code run in its own environment
 * (script_guard.c bounds what that code may do), its metadata read and
 * checked; and the messages that name the file. Finding the files is
 * script_find.c's, reading a header without running it script_scan.c's.
 *
 * One lua_State for every script (the caller's); each chunk gets a fresh
 * table as _ENV with a shared metatable whose __index is the globals
 * table, so a script reads print, string, os... but what it defines stays
 * in its own table.
 */
#include "script_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

/* ---- loading ---- */

/* The whole file in one allocation; see script_int.h. */
int lm_script_read(int dirfd, const char *name, const char *path, char **data, size_t *len,
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

/* replaces, when set, is a squash's chain: a list of two or more revision
 * ids (a string, an empty list or a list of one replace nothing). */
static int check_replaces(lua_State *L, int env, const char *path, struct lm_err *e) {
  lua_pushliteral(L, "replaces");
  int t = lua_rawget(L, env);
  size_t n = t == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
  int rc = LM_OK;
  if (t == LUA_TSTRING)
    rc = lm_err_set(e, LM_ERROR, "%s: replaces must be a list of at least two revision ids (the "
                    "chain the squash stands for, oldest first), not a string ('%s'): write "
                    "replaces = {\"%s\", ...}", path, lua_tostring(L, -1), lua_tostring(L, -1));
  else if (t == LUA_TTABLE && n < 2) {
    if (n == 1 && lua_rawgeti(L, -1, 1) == LUA_TSTRING)
      rc = lm_err_set(e, LM_ERROR, "%s: replaces lists one revision (%s); a squash replaces a "
                      "chain of two or more, oldest first (a single revision needs no squash)",
                      path, lua_tostring(L, -1));
    else if (n == 0)
      rc = lm_err_set(e, LM_ERROR, "%s: replaces is an empty list; a squash replaces a chain of "
                      "two or more revisions, oldest first (leave replaces out in a revision "
                      "that is not a squash)", path);
    if (n == 1) lua_pop(L, 1);
  } else if (t != LUA_TNIL && t != LUA_TTABLE)
    rc = lm_err_set(e, LM_ERROR, "%s: replaces must be a list of at least two revision ids, not "
                    "a %s", path, luaL_typename(L, -1));
  lua_pop(L, 1);
  return rc;
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
 * message, transactional, ddl_lock_timeout, statement_timeout, lock_retries. */
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
  if (check_replaces(L, env, path, e)) return LM_ERROR;
  if (list_field(L, env, rec, "replaces", "replaces", path, e)) return LM_ERROR;

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
  lua_pushboolean(L, tt != LUA_TNIL);                 /* a profile's default decides when not */
  lua_setfield(L, rec, "transactional_given");
  /* lock timeouts and retries (luamig.lock_retry checks their forms before a run) */
  static const char *const timeouts[] = {"ddl_lock_timeout", "statement_timeout", "lock_retries"};
  for (int i = 0; i < 3; i++) {
    lua_pushstring(L, timeouts[i]);
    int t = lua_rawget(L, env);
    if (t != LUA_TNIL && t != LUA_TNUMBER && t != LUA_TSTRING && t != LUA_TBOOLEAN) {
      lua_pop(L, 1);
      return lm_err_set(e, LM_ERROR, "%s: %s must be %s, not a %s", path, timeouts[i],
                        i < 2 ? "a number of seconds or a string such as \"2s\", \"500ms\", \"1min\""
                              : "a whole number of attempts", lua_typename(L, t));
    }
    lua_setfield(L, rec, timeouts[i]);
  }
  lua_pushstring(L, path);
  lua_setfield(L, rec, "path");
  return LM_OK;
}

static int raise_message(lua_State *L, struct lm_err *e) {
  lua_pushstring(L, e->message);
  lm_err_release(e);                                  /* nothing owned survives the longjmp */
  return lua_error(L);
}

/* __index of a loaded record (upvalue 1: the FNV-1a of the text that ran):
 * the checksum on its first read. Listings never read it, so they need no
 * libcrypto; a run reads it before its first step. The file is read again
 * and must still be the text that ran. */
static int lazy_checksum(lua_State *L) {
  const char *key = lua_tostring(L, 2);
  if (key == NULL || strcmp(key, "checksum") != 0) return 0;
  lua_getfield(L, 1, "path");
  const char *path = lua_tostring(L, -1);
  char *data = NULL, hex[65];
  size_t len = 0;
  struct lm_err e = LM_ERR_INIT;
  if (lm_script_read(AT_FDCWD, path, path, &data, &len, &e)) return raise_message(L, &e);
  int same = lm_fnv1a64(LM_FNV1A64_BASIS, data, len) == (uint64_t)lua_tointeger(L, lua_upvalueindex(1));
  int rc = same ? lm_script_sha256(data, len, hex, &e) : LM_OK;
  free(data);
  if (!same)
    return luaL_error(L, "%s: the file changed after it was loaded (its text differs from the "
                      "code that ran): run the command again", path);
  if (rc) return raise_message(L, &e);
  lua_pushstring(L, hex);
  lua_pushvalue(L, -1);
  lua_setfield(L, 1, "checksum");                     /* rawset: the record has no __newindex */
  return 1;
}

/* Where the code starts, as lua5.4's own loader of files (luaL_loadfilex)
 * reads one: after a UTF-8 byte-order mark, and past a first line that
 * starts with '#' ("#!/usr/bin/env lua"), whose newline stays so that line
 * numbers are the file's. */
static size_t code_start(const char *data, size_t len) {
  size_t at = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  if (at < len && data[at] == '#')
    while (at < len && data[at] != '\n') at++;
  return at;
}

/* Runs the script whose text is data[0..len) and pushes its record (see
 * lm_script_load_at); data stays the caller's. */
static int load_data(lua_State *L, const char *data, size_t len, const char *path, int env_mt,
                     struct lm_err *e) {
  int top = lua_gettop(L);
  env_mt = lua_absindex(L, env_mt);
  char *chunkname = lm_asprintf("@%s", path);
  size_t skip = code_start(data, len);
  int status = luaL_loadbufferx(L, data + skip, len - skip, chunkname, "t");
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
  if (lm_script_run_top_level(L, path) != LUA_OK) {
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
  lua_createtable(L, 0, 1);                           /* the checksum on first read */
  lua_pushinteger(L, (lua_Integer)lm_fnv1a64(LM_FNV1A64_BASIS, data, len));
  lua_pushcclosure(L, lazy_checksum, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, rec);
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
  if (lm_script_read(dirfd, name, path, &data, &len, e)) return LM_ERROR;
  int rc = load_data(L, data, len, path, env_mt, e);
  free(data);
  return rc;
}

int lm_script_load_text(lua_State *L, const char *data, size_t len, const char *path, int env_mt,
                        struct lm_err *e) {
  return load_data(L, data, len, path, env_mt, e);
}

/* The record from the header scan, else from the full load of the same
 * text: each file is read once; see script.h. */
int lm_script_scan_text(lua_State *L, const char *data, size_t len, const char *path,
                        const struct lm_scan *parsed, int scanned_mt, int env_mt,
                        struct lm_err *e) {
  int top = lua_gettop(L);
  scanned_mt = lua_absindex(L, scanned_mt);
  env_mt = lua_absindex(L, env_mt);
  if (!(parsed ? parsed->accepted && lm_script_scan_push(L, parsed)
              : lm_script_scan_header(L, data, len)))
    return load_data(L, data, len, path, env_mt, e);
  int env = lua_gettop(L);
  lua_createtable(L, 0, 12);
  int rec = lua_gettop(L);
  struct lm_err ignored = LM_ERR_INIT;                /* the full load will say it */
  if (read_metadata(L, env, rec, path, &ignored) != LM_OK) {
    lm_err_release(&ignored);
    lua_settop(L, top);
    return load_data(L, data, len, path, env_mt, e);  /* rare: wrong metadata */
  }
  lua_getfield(L, env, "\001has_downgrade");
  lua_setfield(L, rec, "has_downgrade");
  lua_pushvalue(L, scanned_mt);
  lua_setmetatable(L, rec);
  lua_replace(L, env);
  lua_settop(L, top + 1);
  return LM_OK;
}
