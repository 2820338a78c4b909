/*
 * lua_url.c -- database URLs and secrets for luamig.core, without a
 * connection: parse a URL as connect would, name another database on the
 * same server, find every form of a password in a text and redact it
 * (db.c's lm_url_* and lm_redact).
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lua_core.h"
#include "lua_db_int.h"

/* core.parse_url(url) -> {dialect=, display=, path= (SQLite)}; raises on a
 * bad URL with the same message connect would give. */
static int core_parse_url(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  struct lm_url u;
  struct lm_err e = LM_ERR_INIT;
  if (lm_url_parse(url, &u, &e) != LM_OK) return lm_lua_raise(L, &e);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, u.driver->name);
  lua_setfield(L, -2, "dialect");
  lua_pushstring(L, u.display);
  lua_setfield(L, -2, "display");
  if (u.driver == &lm_driver_sqlite) {                /* a PostgreSQL target may hold the password */
    lua_pushstring(L, u.target);
    lua_setfield(L, -2, "path");
  }
  lm_url_release(&u);
  return 1;
}

/* core.url_with_dbname(url, dbname) -> the URL of database dbname on the
 * same server, with the same user, password and options (PostgreSQL). */
static int core_url_with_dbname(lua_State *L) {
  const char *url = luaL_checkstring(L, 1), *dbname = luaL_checkstring(L, 2);
  char *out = NULL;
  struct lm_err e = LM_ERR_INIT;
  if (lm_url_with_dbname(url, dbname, &out, &e) != LM_OK) return lm_lua_raise(L, &e);
  lua_pushstring(L, out);
  free(out);
  return 1;
}

/* core.url_secrets(text) -> {secret, ...}: every form of every password
 * text may hold (lm_url_secrets), whether or not it is a valid URL; never
 * raises on a bad one. For the redactor of a run (luamig/redact.lua). */
static int core_url_secrets(lua_State *L) {
  const char *text = luaL_checkstring(L, 1);
  char **list = lm_url_secrets(text);
  lua_createtable(L, 0, 0);
  for (int i = 0; list != NULL && list[i] != NULL; i++) {
    lua_pushstring(L, list[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lm_secrets_free(list);
  return 1;
}

/* core.redact(text, {secret, ...}) -> text with each secret (of at least
 * LM_SECRET_MIN_LEN bytes) replaced by "***": the drivers' redaction
 * (lm_redact), for the Lua side. */
static int core_redact(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 2);
  luaL_argcheck(L, n < 10000, 2, "too many secrets");
  luaL_checkstack(L, (int)n, "too many secrets");
  for (lua_Integer i = 1; i <= n; i++)                /* check all before allocating */
    luaL_argcheck(L, lua_rawgeti(L, 2, i) == LUA_TSTRING, 2, "a list of strings expected");
  if (n == 0) {
    lua_settop(L, 1);
    return 1;
  }
  /* the strings stay on the stack, so the list may point into them */
  char **list = lm_malloc(((size_t)n + 1) * sizeof *list);
  for (lua_Integer i = 1; i <= n; i++) list[i - 1] = (char *)lua_tostring(L, 2 + (int)i);
  list[n] = NULL;
  struct lm_buf out = LM_BUF_INIT;
  for (size_t off = 0; off <= len; ) {                /* each NUL-separated piece */
    size_t plen = strlen(text + off);
    char *piece = lm_strndup(text + off, plen);
    lm_redact(&piece, list);
    lm_buf_adds(&out, piece);
    free(piece);
    off += plen + 1;
    if (off <= len) lm_buf_addc(&out, '\0');
  }
  free(list);
  lua_pushlstring(L, out.data ? out.data : "", out.len);
  lm_buf_release(&out);
  return 1;
}

static const luaL_Reg url_funcs[] = {
  {"parse_url", core_parse_url},
  {"url_with_dbname", core_url_with_dbname},
  {"url_secrets", core_url_secrets},
  {"redact", core_redact},
  {NULL, NULL}
};

void lm_lua_url_open(lua_State *L) { luaL_setfuncs(L, url_funcs, 0); }
