/*
 * script.h -- finding and loading migration scripts.
 *
 * Every *.lua file under each versions directory (recursively, hidden
 * entries skipped, sorted by path within a directory) runs once in the
 * caller's lua_State, in its own environment table whose reads fall
 * through to the standard globals; its globals are the revision's
 * metadata. Loading never touches a database: work happens only when the
 * runner later calls upgrade/downgrade.
 */
#ifndef LUAMIG_SCRIPT_H
#define LUAMIG_SCRIPT_H

#include <lua.h>

#include "luamig.h"

/* Lists the *.lua files under dir into *paths (caller frees each and the
 * array with free()), sorted. A missing directory is an error. */
int lm_script_find(const char *dir, char ***paths, size_t *npaths, struct lm_err *e);

/* SHA-256 of data as 64 lowercase hex digits plus NUL into hex. */
int lm_script_sha256(const void *data, size_t len, char hex[65], struct lm_err *e);

/* Runs the script at path and pushes its record table:
 *   revision, down_revision (nil, a string, or a list for a merge),
 *   parents, depends_on, branch_labels, replaces (lists, possibly empty), message,
 *   transactional (boolean), path, checksum, upgrade, downgrade, env.
 * On failure pushes nothing and fills e with "path:line: message" or
 * "path: what is wrong". The top-level code runs with os.exit refused and
 * at most LM_SCRIPT_LOAD_SECONDS of CPU time (see below). env_mt: index of a metatable whose __index is the
 * globals table, shared by every script's environment. */
int lm_script_load(lua_State *L, const char *path, int env_mt, struct lm_err *e);
/* The same, opening name relative to the directory dirfd (an open
 * directory, or AT_FDCWD); path names the file in the record and messages.
 * Saves the kernel a path walk per file when loading thousands. */
int lm_script_load_at(lua_State *L, int dirfd, const char *name, const char *path, int env_mt,
                      struct lm_err *e);

/* A script's top-level code (what runs when it is loaded) may use this
 * many seconds of CPU time; past them the load fails with "path:line:
 * loading the script took more than N seconds of CPU time ...". Loading
 * happens on every listing (history, heads, current), so a loop that never
 * ends must not hang them; upgrade and downgrade have no limit. */
#define LM_SCRIPT_LOAD_SECONDS 2

/* While a script's own code runs (its top level in lm_script_load_at, its
 * upgrade or downgrade in a step), os.exit raises an error at the caller's
 * line instead of ending the process with a step half done. guard_on
 * replaces it in the os table of the globals and in package.loaded.os,
 * pushes four values that remember what was there, and returns the index
 * of the first; guard_off(L, that index) puts the originals back (the
 * caller pops the four values). A host's os.exit is changed only for the
 * duration. */
int lm_script_guard_on(lua_State *L);
void lm_script_guard_off(lua_State *L, int base);

/* The header scan (script_scan.c): when data has the plain form
 * `luamig revision` writes, pushes a table of the metadata globals the
 * script sets, plus "\001has_downgrade" (a boolean), and returns 1;
 * otherwise pushes nothing and returns 0. */
int lm_script_scan_header(lua_State *L, const char *data, size_t len);

/* The same in two halves: parse reads the text into sc, without Lua (so a
 * thread that read the file can do it); push makes the table from sc on
 * the Lua thread, while the text sc points into is still there. */
enum { LM_SCAN_NIL, LM_SCAN_TRUE, LM_SCAN_FALSE, LM_SCAN_STRING, LM_SCAN_NUMBER, LM_SCAN_LIST };
enum { LM_SCAN_NAMES = 10, LM_SCAN_NUMBER_MAX = 31 };
struct lm_scan_slice {
  const char *s;
  size_t len;
};
struct lm_scan_value {
  int kind;
  struct lm_scan_slice text;   /* a string's (without quotes) or a number's */
  size_t first, n;             /* a list: its strings in items[first .. first + n) */
};
struct lm_scan {
  int accepted;                /* the text has the plain form (parse's result) */
  unsigned seen;               /* bit k: the k-th metadata name is set */
  struct lm_scan_value v[LM_SCAN_NAMES];
  struct lm_scan_slice *items;
  size_t nitems, cap;
  int has_downgrade;
};
#define LM_SCAN_INIT {0}
int lm_script_scan_parse(const char *data, size_t len, struct lm_scan *sc);  /* 1: the plain form */
int lm_script_scan_push(lua_State *L, const struct lm_scan *sc);         /* 0: declined after all */
void lm_script_scan_release(struct lm_scan *sc);

/* The id of the first line of data of the form `revision = "id"` (or
 * 'id'; blanks allowed before and around "="; the id without quotes or
 * backslashes; anything may follow): how `luamig revision` finds the ids
 * already taken without running any script, whatever the script's form.
 * Sets *id (into data) and *idlen and returns 1, or returns 0. */
int lm_script_first_revision(const char *data, size_t len, const char **id, size_t *idlen);

/* A record from the header scan, without compiling or running the
 * script: the metadata fields of lm_script_load_at's record, path, and
 * has_downgrade, but no upgrade, downgrade, env or checksum; its
 * metatable is scanned_mt (whose __index completes it with the full
 * load). When the script needs the full load (the scan declined, or the
 * metadata is wrong: the full load gives the message), pushes
 * lm_script_load_at's record instead, from the text already read (env_mt
 * as there). parsed: lm_script_scan_parse's result for data (NULL: parse
 * here). Returns LM_OK with a record pushed, or
 * LM_ERROR with e filled and nothing pushed. */
int lm_script_scan_text(lua_State *L, const char *data, size_t len, const char *path,
                        const struct lm_scan *parsed, int scanned_mt, int env_mt,
                        struct lm_err *e);

/* lm_script_load_at from the file's text already read (data stays the caller's). */
int lm_script_load_text(lua_State *L, const char *data, size_t len, const char *path, int env_mt,
                        struct lm_err *e);

/* The files at paths[0..n) read ahead by a second thread while the caller
 * works on the one before (below 64 files the caller reads each itself
 * when it takes it); with scan, their headers parsed there too. take(i),
 * for i = 0, 1, ... in order, gives file i's text (the caller frees it)
 * and, with scan, its parse in *parsed (the caller releases and frees it;
 * else NULL), or LM_ERROR with e filled; stop ends
 * the thread and frees what was not taken. paths must outlive the
 * prefetch. */
struct lm_prefetch;
struct lm_prefetch *lm_prefetch_start(char *const *paths, size_t n, int scan);
int lm_prefetch_take(struct lm_prefetch *p, size_t i, char **data, size_t *len,
                     struct lm_scan **parsed, struct lm_err *e);
void lm_prefetch_stop(struct lm_prefetch *p);

/* The first metadata field in which a scanned record (at scanned) and the
 * same script's loaded record (at loaded) differ ("revision", "parents",
 * ..., "downgrade function"), or NULL when they agree. The metadata
 * fields are read with lua_getfield; a scanned record's metatable
 * completes only upgrade, downgrade, env and checksum. */
const char *lm_script_scan_differs(lua_State *L, int scanned, int loaded);

/* msg with every mention of path's chunk as Lua shortens it in messages
 * ("...rsions/3f2a_a_long_name.lua:12:") replaced by the full path: for
 * errors raised later inside upgrade/downgrade. Lua's own messages that
 * do not say what to do (coroutine.yield outside a coroutine) get a hint
 * after them. Caller frees. */
char *lm_script_message(const char *msg, const char *path);

#endif
