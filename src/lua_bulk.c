/*
 * lua_bulk.c -- conn:bulk_insert, luamig.core's hot path for loading rows:
 * each value converted and checked against its column's kind (value_kind.c)
 * in C, then handed to the driver's bulk load (db.h: one prepared INSERT
 * re-bound per row on SQLite, COPY FROM STDIN on PostgreSQL), in constant
 * memory for an iterator source. The connection object is lua_db.c's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lua_core.h"
#include "lua_db_int.h"
#include "value_kind.h"

/* The state of one bulk_insert, shared with the protected loop. */
struct bulk_run {
  struct lm_bulk *bulk;
  const struct lm_driver *driver;
  const char *table;
  int ncols;
  const char **names;          /* the column names, as the columns list holds them */
  const unsigned char *kinds;  /* enum lm_kind per column, or NULL: any bindable value */
  int gc_mode;                 /* the collector's mode before the load, or -1 */
  int read_decimals;           /* a decimal string for a number column is read here (lm_driver) */
  struct lm_err err;
};

#define BULK_PROGRESS_EVERY 10000
/* A long load makes a row table and its strings per row, all garbage at
 * once: the generational collector handles that for less. Switching costs
 * a full collection, so only loads this long switch. */
#define BULK_GENERATIONAL_AFTER 10000

/* Stack slots of bulk_loop. */
enum { B_SOURCE = 1, B_FIRST, B_PROGRESS, B_EXPLAIN, B_LOOKUP, B_COLUMNS, B_RUN, B_VALUES,
       B_ROW, B_KEY, B_VALUE };

/* The index (1-based) of the column named by the string key at idx, 0 if
 * none. Short strings are interned, so a key is usually the very string
 * the columns list holds: compared by address first, from the column
 * after the last one found (rows list their keys in the same order). */
static int column_index(lua_State *L, struct bulk_run *run, int idx, int *last) {
  const char *key = lua_tostring(L, idx);
  for (int i = 0; i < run->ncols; i++) {
    int c = (*last + i) % run->ncols;
    if (run->names[c] == key) {
      *last = c + 1;
      return c + 1;
    }
  }
  lua_pushvalue(L, idx);                              /* a long name: by value */
  lua_rawget(L, B_LOOKUP);
  int found = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return found;
}

/* A bad row: explain(row, n) raises the caller's message when there is an
 * explain function; otherwise (or if it returns) the C message follows. */
static void explain_row(lua_State *L, lua_Integer n) {
  if (lua_isnil(L, B_EXPLAIN)) return;
  lua_pushvalue(L, B_EXPLAIN);
  lua_pushvalue(L, B_ROW);
  lua_pushinteger(L, n);
  lua_call(L, 2, 0);
}

static int unknown_column(lua_State *L, struct bulk_run *run, lua_Integer n) {
  explain_row(L, n);
  const char *key = luaL_tolstring(L, B_KEY, NULL);
  luaL_Buffer known;                                  /* the columns, for the message */
  luaL_buffinit(L, &known);
  for (int i = 1; i <= run->ncols; i++) {
    if (i > 1) luaL_addstring(&known, ", ");
    lua_geti(L, B_COLUMNS, i);
    luaL_addvalue(&known);
  }
  luaL_pushresult(&known);
  return luaL_error(L, "bulk_insert into '%s': row %I: unknown column '%s' (the columns "
                    "are %s)", run->table, n, key, lua_tostring(L, -1));
}

/* Convert the value at stack index vidx for column col (0-based) into
 * v[col], checked against the column's kind; raises naming row n and the
 * column for a value that cannot be stored. */
static void take_value(lua_State *L, struct bulk_run *run, int col, int vidx, lua_Integer n,
                       struct lm_value *v, char (*number_text)[LM_NUMBER_TEXT_MAX]) {
  struct lm_value *val = &v[col];
  const char *name = run->names[col];
  if (!lm_lua_to_value(L, vidx, val)) {
    explain_row(L, n);
    luaL_error(L, "bulk_insert into '%s': row %I, column '%s': a %s cannot be inserted (use "
               "nil, a boolean, a number or a string)", run->table, n, name, luaL_typename(L, vidx));
  }
  if (val->type == LM_FLOAT && isnan(val->f)) {
    explain_row(L, n);
    luaL_error(L, "bulk_insert into '%s': row %I, column '%s': NaN cannot be inserted (SQLite "
               "would store NULL, PostgreSQL NaN): use nil for no value", run->table, n, name);
  }
  if (run->kinds && val->type != LM_NULL) {
    enum lm_kind kind = run->kinds[col];
    if (!lm_kind_accepts(kind, val)) {
      explain_row(L, n);
      luaL_error(L, "bulk_insert into '%s': row %I, column '%s': wrong type for the column: "
                 "expected %s, got %s", run->table, n, name, lm_kind_names[kind],
                 luaL_typename(L, vidx));
    }
    if (kind == LM_KIND_BINARY) {
      val->type = LM_BLOB;                            /* the bytes as they are */
    } else if (kind == LM_KIND_TEXT && val->type != LM_TEXT) {
      val->len = lm_number_text(val, number_text[col]);  /* the same text on both databases */
      val->s = number_text[col];
      val->type = LM_TEXT;
    } else if (kind == LM_KIND_NUMBER && val->type == LM_TEXT && run->read_decimals &&
               strpbrk(val->s, ".eE") != NULL) {
      /* the driver's inexact_decimals: strtod's double, not the database's
       * reading. An integer string stays text: read exactly, past 2^53 too */
      val->f = strtod(val->s, NULL);
      val->type = LM_FLOAT;
    }
  }
}

/* A row with a metatable (an object whose fields come from __index): the
 * columns its own keys did not give are read through it, as the offline
 * path's row[c] reads them. Each value stays on the stack (above B_VALUE)
 * until the row is sent. */
static void take_inherited(lua_State *L, struct bulk_run *run, lua_Integer n, struct lm_value *v,
                           char (*number_text)[LM_NUMBER_TEXT_MAX]) {
  if (!lua_getmetatable(L, B_ROW)) return;
  lua_pop(L, 1);
  luaL_checkstack(L, run->ncols, "bulk_insert: a row's columns");
  for (int c = 0; c < run->ncols; c++) {
    if (v[c].type != LM_NULL) continue;
    lua_getfield(L, B_ROW, run->names[c]);            /* kept: v[c] may point into it */
    take_value(L, run, c, lua_gettop(L), n, v, number_text);
  }
}

/* Protected part of bulk_insert (slots above; B_RUN is light userdata).
 * Raises on the first bad row; the caller then ends the load. */
static int bulk_loop(lua_State *L) {
  struct bulk_run *run = lua_touserdata(L, B_RUN);
  size_t ncols = (size_t)run->ncols;
  /* B_VALUES: the row's values, then per column the text of a number bound
   * to a text column */
  struct lm_value *v = lua_newuserdatauv(L, (sizeof *v + LM_NUMBER_TEXT_MAX) * ncols, 0);
  char (*number_text)[LM_NUMBER_TEXT_MAX] = (void *)(v + ncols);
  int is_function = lua_isfunction(L, B_SOURCE), has_first = !lua_isnil(L, B_FIRST);
  lua_Integer count = is_function ? 0 : luaL_len(L, B_SOURCE);
  int last = 0;
  for (lua_Integer n = 1; is_function || n <= count; n++) {
    if (n == BULK_GENERATIONAL_AFTER) run->gc_mode = lua_gc(L, LUA_GCGEN, 0, 0);
    lua_settop(L, B_VALUES);
    if (n == 1 && has_first) {
      lua_pushvalue(L, B_FIRST);                      /* taken from the iterator already */
    } else if (is_function) {
      lua_pushvalue(L, B_SOURCE);
      lua_call(L, 0, 1);                              /* the next row, nil at the end */
      if (lua_isnil(L, B_ROW)) break;
    } else {
      lua_geti(L, B_SOURCE, n);
    }
    if (!lua_istable(L, B_ROW)) {
      explain_row(L, n);
      return luaL_error(L, "bulk_insert into '%s': row %I is a %s, not a table of column "
                        "values", run->table, n, luaL_typename(L, B_ROW));
    }
    for (int i = 0; i < run->ncols; i++) v[i] = (struct lm_value){.type = LM_NULL};
    lua_pushnil(L);
    while (lua_next(L, B_ROW) != 0) {                 /* B_KEY, B_VALUE */
      int idx = lua_type(L, B_KEY) == LUA_TSTRING ? column_index(L, run, B_KEY, &last) : 0;
      if (idx == 0) return unknown_column(L, run, n);
      take_value(L, run, idx - 1, B_VALUE, n, v, number_text);
      lua_pop(L, 1);                                  /* keep the key; the row keeps values */
    }
    take_inherited(L, run, n, v, number_text);
    if (run->driver->bulk_row(run->bulk, v, &run->err) != LM_OK) {
      lm_err_prefix(&run->err, "bulk_insert into '%s'", run->table);
      lm_lua_push_error(L, &run->err);
      lm_err_release(&run->err);
      return lua_error(L);
    }
    if (!lua_isnil(L, B_PROGRESS) && n % BULK_PROGRESS_EVERY == 0) {
      lua_pushvalue(L, B_PROGRESS);
      lua_pushinteger(L, n);
      lua_call(L, 1, 0);
    }
  }
  return 0;
}

/* Pushes opts[name] (nil without opts), raising unless it is nil or of type. */
static void push_opt(lua_State *L, int opts, const char *name, int type) {
  if (lua_isnil(L, opts)) {
    lua_pushnil(L);
    return;
  }
  int t = lua_getfield(L, opts, name);
  if (t != LUA_TNIL && t != type)
    luaL_error(L, "bulk_insert: opts.%s must be a %s, not a %s", name, lua_typename(L, type),
               luaL_typename(L, -1));
}

/* conn:bulk_insert(table, columns, rows_or_iterator [, opts]) -> rows
 * In the caller's transaction; constant memory for an iterator source.
 * opts: progress = function(rows_done) (every 10,000 rows); kinds = {kind
 * per column} (value_kind.h's names: a value of another kind fails the
 * row); explain = function(row, n) raising the message for a bad row;
 * first = a row already taken from the iterator, sent as row 1. */
int lm_lua_conn_bulk_insert(lua_State *L) {
  struct lm_conn *conn = lm_lua_checkconn(L, 1);
  struct lm_err guard = LM_ERR_INIT;
  if (lm_conn_guard(conn, &guard) != LM_OK) return lm_lua_raise(L, &guard);
  const char *table = luaL_checkstring(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_argexpected(L, lua_istable(L, 4) || lua_isfunction(L, 4), 4, "table or function");
  if (!lua_isnoneornil(L, 5)) luaL_checktype(L, 5, LUA_TTABLE);
  lua_settop(L, 5);
  int ncols = (int)luaL_len(L, 3);
  luaL_argcheck(L, ncols > 0, 3, "at least one column is needed");
  const char **names = lua_newuserdatauv(L, sizeof *names * (size_t)ncols, 0);  /* 6 */
  lua_createtable(L, 0, ncols);                       /* 7: name -> index */
  for (int i = 1; i <= ncols; i++) {
    if (lua_geti(L, 3, i) != LUA_TSTRING)
      return luaL_argerror(L, 3, "column names must be strings");
    names[i - 1] = lua_tostring(L, -1);               /* the columns table keeps it */
    lua_pushinteger(L, i);
    lua_rawset(L, 7);
  }
  push_opt(L, 5, "kinds", LUA_TTABLE);               /* 8 */
  unsigned char *kinds = NULL;
  if (!lua_isnil(L, 8)) {
    kinds = lua_newuserdatauv(L, (size_t)ncols, 0);   /* 9 */
    for (int i = 1; i <= ncols; i++) {
      lua_geti(L, 8, i);
      kinds[i - 1] = (unsigned char)luaL_checkoption(L, -1, "any", lm_kind_names);
      lua_pop(L, 1);
    }
  }
  int top = lua_gettop(L);
  lua_pushcfunction(L, bulk_loop);
  lua_pushvalue(L, 4);                                /* B_SOURCE */
  push_opt(L, 5, "first", LUA_TTABLE);               /* B_FIRST: iterators only */
  luaL_argcheck(L, lua_isnil(L, -1) || lua_isfunction(L, 4), 5, "opts.first goes with an iterator");
  push_opt(L, 5, "progress", LUA_TFUNCTION);         /* B_PROGRESS */
  push_opt(L, 5, "explain", LUA_TFUNCTION);          /* B_EXPLAIN */
  lua_pushvalue(L, 7);                                /* B_LOOKUP */
  lua_pushvalue(L, 3);                                /* B_COLUMNS */
  struct bulk_run run = {NULL, conn->driver, table, ncols, names, kinds, -1,
                         conn->driver->inexact_decimals, LM_ERR_INIT};
  lua_pushlightuserdata(L, &run);                     /* B_RUN */
  if (run.driver->bulk_begin(conn, table, ncols, names, &run.bulk, &run.err) != LM_OK) {
    lm_err_prefix(&run.err, "bulk_insert into '%s'", table);
    return lm_lua_raise(L, &run.err);
  }
  int status = lua_pcall(L, B_RUN, 0, 0);
  if (run.gc_mode == LUA_GCINC) lua_gc(L, LUA_GCINC, 0, 0, 0);   /* as it was */
  int64_t rows = run.bulk->rows;
  struct lm_err end_err = LM_ERR_INIT;
  int rc = run.driver->bulk_end(run.bulk, status != LUA_OK, &end_err);  /* always ends COPY */
  if (status != LUA_OK) {
    lm_err_release(&end_err);
    return lua_error(L);                              /* the loop's error value */
  }
  if (rc != LM_OK) {
    lm_err_prefix(&end_err, "bulk_insert into '%s'", table);
    return lm_lua_raise(L, &end_err);
  }
  lua_settop(L, top);
  lua_pushinteger(L, (lua_Integer)rows);
  return 1;
}
