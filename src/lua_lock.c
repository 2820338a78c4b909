/*
 * lua_lock.c -- `luamig lock status|break`'s core functions:
 *
 * core.lock_status(conn, version_table) -> {advisory = {held, holder}, lease_offered,
 *   lease = {held, expired, host, pid, run_id, acquired_at, expires_at,
 *   token, ms_left} or nil (no lease table, or none on this database)}
 * core.lock_break(conn, version_table, "advisory" | "table") -> what was
 *   done, or nil when nothing was held; raises where it cannot be broken.
 */
#include <stdlib.h>
#include <string.h>

#include "db_lease.h"
#include "lua_core.h"

static void set_string(lua_State *L, const char *key, const char *v) {
  if (v == NULL) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, key);
}

/* The driver's run lock: who holds it, asked without keeping it. */
static void push_advisory(lua_State *L, struct lm_conn *c, const char *vt) {
  const struct lm_driver *d = c->driver;
  struct lm_err e = LM_ERR_INIT;
  char *holder = NULL;
  int got = 0;
  if (d->lock_holder) {
    if (d->lock_holder(c, vt, &holder, &e) != LM_OK) lm_lua_raise(L, &e);
  } else {
    if (d->lock(c, vt, &got, &holder, &e) != LM_OK) lm_lua_raise(L, &e);
    if (got == 1) d->unlock(c, vt);
  }
  lua_createtable(L, 0, 2);
  lua_pushboolean(L, holder != NULL);
  lua_setfield(L, -2, "held");
  set_string(L, "holder", holder);
  free(holder);
}

static int core_lock_status(lua_State *L) {
  struct lm_conn *c = lm_lua_checkconn(L, 1);
  const char *vt = luaL_checkstring(L, 2);
  lua_createtable(L, 0, 2);
  push_advisory(L, c, vt);
  lua_setfield(L, -2, "advisory");
  lua_pushboolean(L, lm_lease_supported(c));
  lua_setfield(L, -2, "lease_offered");
  if (!lm_lease_supported(c)) return 1;
  if (lm_lease_version_table_too_long(c, vt)) {                   /* cut, it could name the log table */
    lua_pushinteger(L, (lua_Integer)lm_lease_version_table_max(c));
    lua_setfield(L, -2, "lease_version_table_max");   /* the longest version_table it takes */
    return 1;
  }
  struct lm_lease l;
  struct lm_err e = LM_ERR_INIT;
  if (lm_lease_read(c, vt, &l, &e) != LM_OK) {
    lm_lease_clear(&l);
    return lm_lua_raise(L, &e);
  }
  if (l.exists) {
    lua_createtable(L, 0, 9);
    lua_pushboolean(L, l.held);
    lua_setfield(L, -2, "held");
    lua_pushboolean(L, l.expired);
    lua_setfield(L, -2, "expired");
    set_string(L, "host", l.host);
    set_string(L, "run_id", l.run_id);
    set_string(L, "acquired_at", l.acquired_at);
    set_string(L, "expires_at", l.expires_at);
    if (l.run_id) {
      lua_pushinteger(L, l.pid);
      lua_setfield(L, -2, "pid");
    }
    if (l.held) {
      lua_pushinteger(L, l.ms_left);
      lua_setfield(L, -2, "ms_left");
    }
    /* expired, but an open transaction holds the row: its run (one
     * transaction, transaction_per_migration = false) may be alive, its
     * heartbeat waiting on that very row */
    long row_pid = l.expired ? lm_lease_row_pid(c, vt) : 0;
    if (row_pid) {
      lua_pushinteger(L, row_pid);
      lua_setfield(L, -2, "row_locked_by");
    }
    lua_pushinteger(L, l.token);
    lua_setfield(L, -2, "token");
    lua_setfield(L, -2, "lease");
  }
  lm_lease_clear(&l);
  return 1;
}

static int core_lock_break(lua_State *L) {
  struct lm_conn *c = lm_lua_checkconn(L, 1);
  const char *vt = luaL_checkstring(L, 2);
  static const char *const kinds[] = {"advisory", "table", NULL};
  int kind = luaL_checkoption(L, 3, NULL, kinds);
  struct lm_err e = LM_ERR_INIT;
  if (kind == 0) {
    char *what = NULL;
    if (c->driver->lock_break == NULL)
    {                                                 /* an error value: no file:line */
      lm_err_set(&e, LM_ERROR, "%s's run lock is a file lock held by a running process and cannot "
                 "be broken from here: stop that process (`luamig lock status` shows the lock "
                 "file; `fuser` on it names the process)", c->driver->dialect->title);
      return lm_lua_raise(L, &e);
    }
    if (c->driver->lock_break(c, vt, &what, &e) != LM_OK) return lm_lua_raise(L, &e);
    if (what) lua_pushstring(L, what);
    else lua_pushnil(L);
    free(what);
    return 1;
  }
  if (!lm_lease_supported(c))
  {
    lm_err_set(&e, LM_ERROR, "lock = \"table\" is not offered on %s: there is no lease to break",
               c->driver->dialect->title);
    return lm_lua_raise(L, &e);
  }
  if (lm_lease_version_table_too_long(c, vt)) {
    lm_err_set(&e, LM_ERROR, "version_table \"%s\" is too long for lock = \"table\" (%zu bytes "
               "or fewer on %s), so it has no lease to break", vt, lm_lease_version_table_max(c),
               c->driver->dialect->title);
    return lm_lua_raise(L, &e);
  }
  struct lm_lease l;
  int broken = 0;
  if (lm_lease_read(c, vt, &l, &e) != LM_OK ||
      (l.exists && lm_lease_break(c, vt, &broken, &e) != LM_OK)) {
    lm_lease_clear(&l);
    return lm_lua_raise(L, &e);
  }
  if (broken)
    lua_pushfstring(L, "freed the lease of run %s (%s pid %d, token %d); its holder's next "
                    "renewal or version write fails", l.run_id ? l.run_id : "?",
                    l.host ? l.host : "?", (int)l.pid, (int)l.token);
  else
    lua_pushnil(L);
  lm_lease_clear(&l);
  return 1;
}

static const luaL_Reg lock_funcs[] = {
  {"lock_status", core_lock_status},
  {"lock_break", core_lock_break},
  {NULL, NULL}
};

void lm_lua_lock_open(lua_State *L) { luaL_setfuncs(L, lock_funcs, 0); }
