/*
 * lua_runner.c -- core.run and core.current: the runner (runner.c) seen
 * from Lua.
 *
 * core.run(conn_or_nil, graph, records, opts) -> steps
 *   conn: a luamig.Conn, or nil with opts.dialect set for offline SQL.
 *   graph, records: core.graph(records) and the records it was built from
 *   (core.load_scripts' result): revision i of the graph is records[i].
 *   opts: kind = "upgrade" | "downgrade" | "stamp", target = "head",
 *     targets = {...} (stamp), purge, version_table, transaction_per_migration,
 *     lock_timeout (seconds), lock = "advisory" | "table" | "none", lock_lease
 *     (seconds), plan = true (compute only), dialect (offline),
 *     timeouts = {[i] = {ddl_lock_timeout_ms, statement_timeout_ms, lock_retries,
 *     own_lock_timeout_ms, own_statement_timeout_ms}}
 *     (revision i's, resolved: runner.h's lm_run_script),
 *     transactional = {[i] = true | false | "profile"} (revision i in a
 *     transaction; "profile": outside, by the profile's default: luamig.profile),
 *     outside_why (the words for "profile"), tx_setup (a statement run first in every
 *     transaction: luamig.profile's), who, and three functions:
 *       migrate(record, "upgrade" | "downgrade")  runs the script's body;
 *       log(level, message)                       "INFO" or "WARNING";
 *       emit(sql)                                 offline output.
 *   Returns the steps planned (and, unless opts.plan, run), each
 *   {revision = id or nil (stamp), direction = "upgrade" | "downgrade" |
 *   "stamp", from = {ids}, to = {ids}, rows = {ids after}}; steps.start and
 *   steps.rows are the version rows before and after.
 *   Errors: the error value of lm_lua_raise, with revision set to the
 *   revision whose step failed.
 * core.current(conn, version_table) -> {ids}, without creating anything.
 * core.interrupt(), core.interrupted(): Ctrl-C (runner.h).
 * core.autocommit_begin(), core.autocommit_end(n), core.step_in_transaction():
 *   op.autocommit_block's hold on the running step's transaction (runner.h).
 * core.ensure_version(conn, version_table): create the version table and log.
 * core.version_log_name(version_table) -> the log table's name.
 * core.logged_checksums(conn, version_table) -> {[revision] = checksum}: the
 *   applied checksum of each revision that has one (lm_version_checksums:
 *   none after a downgrade or a stamp until an upgrade or an accept); {}
 *   without a log. Creates nothing.
 * core.log_accept(conn, version_table, revision, checksum, who): records a
 *   script's checksum as accepted (`verify --accept`), creating the
 *   version table and its log when missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_core.h"
#include "runner.h"
#include "version.h"

/* Stack slots of core.run's arguments, used by the hooks. */
enum { ARG_CONN = 1, ARG_GRAPH, ARG_RECORDS, ARG_OPTS, SLOT_MIGRATE, SLOT_LOG, SLOT_EMIT };

struct hook_ctx {
  lua_State *L;
  int failed_rev;              /* the revision whose body failed, or -1 */
  /* The log and emit functions in the registry: they are also called from
   * inside a step (op.autocommit_block's core.autocommit_*), where the
   * stack slots of core.run are not the running frame's. */
  int ref_log, ref_emit;
};

/* Copy a Lua error value into e: its message (via __tostring) and, for an
 * error table, its sql, sqlstate and position. */
static void error_from_lua(lua_State *L, int idx, struct lm_err *e) {
  idx = lua_absindex(L, idx);
  if (lua_istable(L, idx)) {
    if (lua_getfield(L, idx, "message") == LUA_TSTRING) lm_err_set(e, LM_ERROR, "%s", lua_tostring(L, -1));
    else lm_err_set(e, LM_ERROR, "%s", luaL_tolstring(L, idx, NULL));
    lua_settop(L, idx);
    if (lua_getfield(L, idx, "sql") == LUA_TSTRING) lm_err_set_sql(e, lua_tostring(L, -1));
    if (lua_getfield(L, idx, "sqlstate") == LUA_TSTRING)
      strncpy(e->sqlstate, lua_tostring(L, -1), sizeof e->sqlstate - 1);
    if (lua_getfield(L, idx, "code") == LUA_TNUMBER) e->db_code = (int)lua_tointeger(L, -1);
    if (lua_getfield(L, idx, "position") == LUA_TNUMBER) e->position = (int)lua_tointeger(L, -1);
    lua_settop(L, idx);
  } else {
    lm_err_set(e, LM_ERROR, "%s", luaL_tolstring(L, idx, NULL));
    lua_settop(L, idx);
  }
}

static int hook_migrate(void *ctx, int rev, int upgrade, struct lm_err *e) {
  struct hook_ctx *h = ctx;
  lua_State *L = h->L;
  int top = lua_gettop(L);
  h->failed_rev = -1;                                 /* a lock retry runs a step again */
  lua_pushvalue(L, SLOT_MIGRATE);
  lua_rawgeti(L, ARG_RECORDS, rev + 1);
  lua_pushstring(L, upgrade ? "upgrade" : "downgrade");
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    error_from_lua(L, -1, e);
    lua_settop(L, top);
    h->failed_rev = rev;
    return LM_ERROR;
  }
  lua_settop(L, top);
  return LM_OK;
}

/* Call a (level, message) or (sql) hook; an error in it is reported, not fatal. */
static void call_hook(lua_State *L, int ref, const char *a, const char *b) {
  int top = lua_gettop(L);
  if (lua_rawgeti(L, LUA_REGISTRYINDEX, ref) == LUA_TNIL) {
    lua_settop(L, top);
    return;
  }
  lua_pushstring(L, a);
  if (b) lua_pushstring(L, b);
  if (lua_pcall(L, b ? 2 : 1, 0, 0) != LUA_OK)
    fprintf(stderr, "luamig: a log or emit hook failed: %s\n", luaL_tolstring(L, -1, NULL));
  lua_settop(L, top);
}

static void hook_log(void *ctx, const char *level, const char *message) {
  struct hook_ctx *h = ctx;
  call_hook(h->L, h->ref_log, level, message);
}

static void hook_emit(void *ctx, const char *sql) {
  struct hook_ctx *h = ctx;
  call_hook(h->L, h->ref_emit, sql, NULL);
}

static void push_steps(lua_State *L, const struct lm_graph *g, const struct lm_plan *p) {
  lua_createtable(L, (int)p->nsteps, 2);
  for (size_t i = 0; i < p->nsteps; i++) {
    const struct lm_step *s = &p->steps[i];
    lua_createtable(L, 0, 5);
    if (s->rev >= 0) {
      lua_pushstring(L, g->revs[s->rev].id);
      lua_setfield(L, -2, "revision");
    }
    lua_pushstring(L, s->stamp ? "stamp" : s->upgrade ? "upgrade" : "downgrade");
    lua_setfield(L, -2, "direction");
    lm_lua_push_ids(L, g, s->from.v, s->from.n, 0);
    lua_setfield(L, -2, "from");
    lm_lua_push_ids(L, g, s->to.v, s->to.n, 0);
    lua_setfield(L, -2, "to");
    lm_lua_push_ids(L, g, s->rows.v, s->rows.n, 0);
    lua_setfield(L, -2, "rows");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lm_lua_push_ids(L, g, p->start.v, p->start.n, 0);
  lua_setfield(L, -2, "start");
  lm_lua_push_ids(L, g, p->rows.v, p->rows.n, 0);
  lua_setfield(L, -2, "rows");
}

/* Owns what core.run allocates, so an error raised by Lua cannot leak it. */
struct run_scratch {
  struct lm_plan plan;
  struct lm_run_script *scripts;
  const char **targets;
};

static int scratch_gc(lua_State *L) {
  struct run_scratch *s = lua_touserdata(L, 1);
  lm_plan_release(&s->plan);
  s->plan = (struct lm_plan)LM_PLAN_INIT;
  free(s->scripts);
  free(s->targets);
  s->scripts = NULL;
  s->targets = NULL;
  return 0;
}

/* opts[key] as a string, or def when absent. Only a real string is taken:
 * the pointer must stay valid after the pop, which holds because opts keeps
 * that very string (a number converted here would be a fresh, unanchored one). */
static const char *opt_string(lua_State *L, const char *key, const char *def) {
  int t = lua_getfield(L, ARG_OPTS, key);
  if (t != LUA_TNIL && t != LUA_TSTRING)
    luaL_error(L, "core.run: opts.%s must be a string, not a %s", key, lua_typename(L, t));
  const char *s = t == LUA_TNIL ? def : lua_tostring(L, -1);
  lua_pop(L, 1);
  return s;
}

static int opt_bool(lua_State *L, const char *key, int def) {
  lua_getfield(L, ARG_OPTS, key);
  int b = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return b;
}

static int core_run(lua_State *L) {
  struct lm_conn *conn = lua_isnil(L, ARG_CONN) ? NULL : lm_lua_checkconn(L, ARG_CONN);
  struct lm_graph *g = lm_lua_checkgraph(L, ARG_GRAPH);
  luaL_checktype(L, ARG_RECORDS, LUA_TTABLE);
  luaL_checktype(L, ARG_OPTS, LUA_TTABLE);
  lua_settop(L, ARG_OPTS);
  if (conn && !opt_bool(L, "plan", 0) && lm_lua_conn_lend(L, ARG_CONN, 0) > 0)
    return luaL_error(L, "a luamig run is already using this connection: a migration cannot start "
                      "another run (upgrade, downgrade, stamp) on the connection it borrows");
  lua_getfield(L, ARG_OPTS, "migrate");               /* SLOT_MIGRATE */
  lua_getfield(L, ARG_OPTS, "log");                   /* SLOT_LOG */
  lua_getfield(L, ARG_OPTS, "emit");                  /* SLOT_EMIT */
  if (!lua_isfunction(L, SLOT_MIGRATE) && !opt_bool(L, "plan", 0))
    return luaL_error(L, "core.run: opts.migrate must be a function");

  static const char *const kinds[] = {"upgrade", "downgrade", "stamp", NULL};
  lua_getfield(L, ARG_OPTS, "kind");
  int kind = luaL_checkoption(L, -1, NULL, kinds);
  lua_pop(L, 1);

  struct run_scratch *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  s->plan = (struct lm_plan)LM_PLAN_INIT;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, scratch_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  int scratch = lua_gettop(L);

  /* A plan only computes: it must not ask a scanned record for its
   * checksum, which would load (read again) every script. Offline SQL and
   * a stamp log none, so they need no checksum (nor libcrypto) either. */
  int plan = opt_bool(L, "plan", 0);
  int checksums = !plan && conn != NULL && kind != LM_RUN_STAMP;
  /* opts.transactional[i]: whether revision i runs in a transaction, as
   * luamig.profile.transactional decides it (false, "profile": outside, by
   * the profile's default); absent: the record's own `transactional`. */
  int tx_given = lua_getfield(L, ARG_OPTS, "transactional") == LUA_TTABLE;
  int tx_table = lua_gettop(L);
  s->scripts = lm_calloc(g->nrevs, sizeof *s->scripts);
  for (size_t i = 0; i < g->nrevs; i++) {             /* strings stay in the records */
    lua_rawgeti(L, ARG_RECORDS, (lua_Integer)i + 1);
    lua_getfield(L, -1, "message");
    s->scripts[i].message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (!checksums) lua_pushnil(L);
    else lua_getfield(L, -2, "checksum");
    s->scripts[i].checksum = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (tx_given) lua_rawgeti(L, tx_table, (lua_Integer)i + 1);
    else lua_getfield(L, -3, "transactional");
    s->scripts[i].tx_by_profile = lua_type(L, -1) == LUA_TSTRING;
    s->scripts[i].transactional = lua_isnil(L, -1) || lua_toboolean(L, -1);
    if (s->scripts[i].tx_by_profile) s->scripts[i].transactional = 0;
    lua_settop(L, tx_table);
    s->scripts[i].ddl_lock_timeout_ms = s->scripts[i].statement_timeout_ms = -1;
    s->scripts[i].own_lock_timeout_ms = s->scripts[i].own_statement_timeout_ms = -1;
    s->scripts[i].lock_retries = 1;
  }
  /* opts.timeouts[i]: revision i's {ddl_lock_timeout_ms, statement_timeout_ms,
   * lock_retries}, resolved by the caller (luamig.lock_retry); absent: none. */
  if (lua_getfield(L, ARG_OPTS, "timeouts") == LUA_TTABLE) {
    static const char *const keys[] = {"ddl_lock_timeout_ms", "statement_timeout_ms", "lock_retries",
                                       "own_lock_timeout_ms", "own_statement_timeout_ms"};
    for (size_t i = 0; i < g->nrevs; i++) {
      if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        continue;
      }
      for (int k = 0; k < 5; k++) {
        lua_getfield(L, -1, keys[k]);
        int isnum, ms = k != 2;
        lua_Integer v = lua_tointegerx(L, -1, &isnum);
        if (!lua_isnil(L, -1) && (!isnum || v < (ms ? -1 : 1) || v > 2147483647))
          return luaL_error(L, "core.run: opts.timeouts[%d].%s must be a whole number %s", (int)i + 1,
                            keys[k], ms ? "of milliseconds (-1: not set)" : "of attempts >= 1");
        if (isnum) {
          if (k == 0) s->scripts[i].ddl_lock_timeout_ms = (long)v;
          else if (k == 1) s->scripts[i].statement_timeout_ms = (long)v;
          else if (k == 2) s->scripts[i].lock_retries = (int)v;
          else if (k == 3) s->scripts[i].own_lock_timeout_ms = (long)v;
          else s->scripts[i].own_statement_timeout_ms = (long)v;
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, scratch);

  struct lm_run_opts o = {
    .kind = kind,
    .target = opt_string(L, "target", kind == LM_RUN_UPGRADE ? "head" : NULL),
    .purge = opt_bool(L, "purge", 0),
    .version_table = opt_string(L, "version_table", "luamig_version"),
    .transaction_per_migration = opt_bool(L, "transaction_per_migration", 1),
    .plan_only = opt_bool(L, "plan", 0),
    .offline_dialect = NULL,
    .who = opt_string(L, "who", NULL),
    .tx_setup = opt_string(L, "tx_setup", NULL),
    .outside_why = opt_string(L, "outside_why", NULL),
    .lock_timeout_ms = 300000,
  };
  if (lua_getfield(L, ARG_OPTS, "lock_timeout") != LUA_TNIL) {
    if (!lua_isnumber(L, -1))
      return luaL_error(L, "core.run: opts.lock_timeout must be a number of seconds");
    o.lock_timeout_ms = (long)(lua_tonumber(L, -1) * 1000);
  }
  lua_pop(L, 1);
  const char *lock = opt_string(L, "lock", "advisory");
  if (strcmp(lock, "table") == 0) o.lock_strategy = LM_LOCK_TABLE;
  else if (strcmp(lock, "none") == 0) o.lock_strategy = LM_LOCK_NONE;
  else if (strcmp(lock, "advisory") == 0) o.lock_strategy = LM_LOCK_ADVISORY;
  else return luaL_error(L, "core.run: opts.lock must be \"advisory\", \"table\" or \"none\", not \"%s\"", lock);
  o.lock_lease_ms = 30000;
  if (lua_getfield(L, ARG_OPTS, "lock_lease") != LUA_TNIL) {
    if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) < 0.1 || lua_tonumber(L, -1) > 86400)
      return luaL_error(L, "core.run: opts.lock_lease must be a number of seconds from 0.1 to 86400");
    o.lock_lease_ms = (long)(lua_tonumber(L, -1) * 1000);
  }
  lua_pop(L, 1);
  if (kind == LM_RUN_STAMP) {
    lua_getfield(L, ARG_OPTS, "targets");
    luaL_argcheck(L, lua_istable(L, -1), ARG_OPTS, "opts.targets must be a list for a stamp");
    size_t n = (size_t)lua_rawlen(L, -1);
    s->targets = lm_calloc(n, sizeof *s->targets);
    for (size_t i = 0; i < n; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      if (lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "core.run: opts.targets[%d] must be a string", (int)i + 1);
      s->targets[i] = lua_tostring(L, -1);
      lua_pop(L, 1);                                  /* the list keeps it */
    }
    lua_pop(L, 1);
    o.targets = s->targets;
    o.ntargets = n;
  }
  const char *dialect = opt_string(L, "dialect", NULL);
  if (conn == NULL && dialect == NULL)
    return luaL_error(L, "core.run: give a connection, or opts.dialect for offline SQL");
  if (conn == NULL && (o.offline_dialect = lm_dialect_find(dialect)) == NULL)
    return luaL_error(L, "core.run: opts.dialect must be \"sqlite\" or \"postgresql\", not \"%s\"",
                      dialect);
  if (kind != LM_RUN_UPGRADE && kind != LM_RUN_STAMP && o.target == NULL)
    return luaL_error(L, "core.run: opts.target is required for a downgrade");

  struct hook_ctx ctx = {L, -1, LUA_NOREF, LUA_NOREF};
  struct lm_run_hooks hooks = {&ctx, hook_migrate, hook_log, hook_emit};
  struct lm_err e = LM_ERR_INIT;
  lua_pushvalue(L, SLOT_LOG);
  ctx.ref_log = luaL_ref(L, LUA_REGISTRYINDEX);       /* LUA_REFNIL for nil */
  lua_pushvalue(L, SLOT_EMIT);
  ctx.ref_emit = luaL_ref(L, LUA_REGISTRYINDEX);
  /* The hooks run the migrations, which may reach the connection
   * (op.get_bind()): it must not be closed under lm_run. Nothing raises
   * between lend and take back: the hooks call Lua under lua_pcall. */
  if (conn) lm_lua_conn_lend(L, ARG_CONN, 1);
  int rc = lm_run(conn, g, s->scripts, &o, &hooks, &s->plan, &e);
  if (conn) lm_lua_conn_lend(L, ARG_CONN, -1);
  luaL_unref(L, LUA_REGISTRYINDEX, ctx.ref_log);
  luaL_unref(L, LUA_REGISTRYINDEX, ctx.ref_emit);
  /* Ctrl-C seen by the run: its message says where the database is. The
   * hook main.c set to stop Lua code would replace it with a bare
   * "interrupted" at the caller's next instruction. */
  if (rc != LM_OK && lm_run_interrupted()) lua_sethook(L, NULL, 0, 0);
  if (rc != LM_OK) {
    lm_lua_push_error(L, &e);
    lm_err_release(&e);
    if (ctx.failed_rev >= 0) {
      lua_pushstring(L, g->revs[ctx.failed_rev].id);
      lua_setfield(L, -2, "revision");
    }
    return lua_error(L);
  }
  push_steps(L, g, &s->plan);
  return 1;
}

/* core.current(conn, version_table) -> {ids}; creates nothing */
static int core_current(lua_State *L) {
  struct lm_conn *conn = lm_lua_checkconn(L, 1);
  const char *table = luaL_optstring(L, 2, "luamig_version");
  char **rows;
  size_t n;
  struct lm_err e = LM_ERR_INIT;
  if (lm_run_current(conn, table, &rows, &n, &e) != LM_OK) return lm_lua_raise(L, &e);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, rows[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lm_version_rows_free(rows, n);
  return 1;
}

/* core.ensure_version(conn, version_table): create the version table and log */
static int core_ensure_version(lua_State *L) {
  struct lm_conn *conn = lm_lua_checkconn(L, 1);
  const char *table = luaL_optstring(L, 2, "luamig_version");
  struct lm_sink sink = {.conn = conn, .dialect = conn->driver->dialect};
  struct lm_err e = LM_ERR_INIT;
  if (lm_version_ensure(&sink, table, &e) != LM_OK) return lm_lua_raise(L, &e);
  return 0;
}

/* core.version_log_name(version_table) -> the log table's name */
static int core_version_log_name(lua_State *L) {
  char *name = lm_version_log_name(luaL_checkstring(L, 1));
  lua_pushstring(L, name);
  free(name);
  return 1;
}

/* core.interrupt(): Ctrl-C's effect (runner.h's lm_run_interrupt), for a
 * host that handles SIGINT itself. core.interrupted() -> whether it came. */
static int core_interrupt(lua_State *L) {
  (void)L;
  lm_run_interrupt();
  return 0;
}

static int core_interrupted(lua_State *L) {
  lua_pushboolean(L, lm_run_interrupted());
  return 1;
}

/* core.logged_checksums(conn, version_table) -> {[revision] = checksum} */
static int core_logged_checksums(lua_State *L) {
  struct lm_conn *conn = lm_lua_checkconn(L, 1);
  const char *table = luaL_optstring(L, 2, "luamig_version");
  char **revisions, **checksums;
  size_t n;
  struct lm_err e = LM_ERR_INIT;
  if (lm_version_checksums(conn, table, &revisions, &checksums, &n, &e) != LM_OK)
    return lm_lua_raise(L, &e);
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {                    /* oldest first: the latest row wins */
    lua_pushstring(L, checksums[i]);
    lua_setfield(L, -2, revisions[i]);
  }
  lm_version_rows_free(revisions, n);
  lm_version_rows_free(checksums, n);
  return 1;
}

/* core.log_accept(conn, version_table, revision, checksum, who) */
static int core_log_accept(lua_State *L) {
  struct lm_conn *conn = lm_lua_checkconn(L, 1);
  const char *table = luaL_checkstring(L, 2);
  const char *revision = luaL_checkstring(L, 3);
  const char *checksum = luaL_checkstring(L, 4);
  const char *who = luaL_optstring(L, 5, NULL);
  struct lm_sink sink = {.conn = conn, .dialect = conn->driver->dialect};
  struct lm_err e = LM_ERR_INIT;
  if (lm_version_ensure(&sink, table, &e) != LM_OK ||
      lm_version_log(&sink, table, revision, LM_LOG_ACCEPT, checksum, -1, who, &e) != LM_OK)
    return lm_lua_raise(L, &e);
  return 0;
}

/* core.autocommit_begin() -> whether it ended the step's transaction;
 * core.autocommit_end(nstatements, failed); core.step_in_transaction() -> true,
 * false, or nil when no step runs: op.autocommit_block (runner.h). */
static int core_autocommit_begin(lua_State *L) {
  struct lm_err e = LM_ERR_INIT;
  int ended;
  if (lm_run_autocommit_begin(&ended, &e) != LM_OK) return lm_lua_raise(L, &e);
  lua_pushboolean(L, ended);
  return 1;
}

static int core_autocommit_end(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  struct lm_err e = LM_ERR_INIT;
  int failed = lua_toboolean(L, 2);
  if (lm_run_autocommit_end((long)n, failed, &e) != LM_OK) return lm_lua_raise(L, &e);
  return 0;
}

static int core_step_in_transaction(lua_State *L) {
  int in = lm_run_step_in_transaction();
  if (in < 0) lua_pushnil(L);
  else lua_pushboolean(L, in);
  return 1;
}

static const luaL_Reg runner_funcs[] = {
  {"autocommit_begin", core_autocommit_begin},
  {"autocommit_end", core_autocommit_end},
  {"step_in_transaction", core_step_in_transaction},
  {"logged_checksums", core_logged_checksums},
  {"log_accept", core_log_accept},
  {"version_log_name", core_version_log_name},
  {"interrupt", core_interrupt},
  {"interrupted", core_interrupted},
  {"run", core_run},
  {"ensure_version", core_ensure_version},
  {"current", core_current},
  {NULL, NULL}
};

void lm_lua_runner_open(lua_State *L) { luaL_setfuncs(L, runner_funcs, 0); }
