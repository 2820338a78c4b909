/*
 * lua_db_int.h -- what lua_db.c (the connection object, values) shares
 * with lua_bulk.c (conn:bulk_insert) and lua_url.c (URLs, redaction).
 */
#ifndef LUAMIG_LUA_DB_INT_H
#define LUAMIG_LUA_DB_INT_H

#include <lua.h>

#include "db.h"

/* Convert the Lua value at idx; 0 when its type cannot be bound (see
 * lua_db.c). */
int lm_lua_to_value(lua_State *L, int idx, struct lm_value *out);
/* conn:bulk_insert (lua_bulk.c), a method of luamig.Conn. */
int lm_lua_conn_bulk_insert(lua_State *L);
/* Register lua_url.c's functions (parse_url, url_with_dbname, url_secrets,
 * redact) in the table on top of the stack. */
void lm_lua_url_open(lua_State *L);

#endif
