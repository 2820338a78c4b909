/*
 * lua_graph.c -- the revision graph in luamig.core (the scripts are
 * lua_script.c's). Everything returns plain Lua tables; failures raise the
 * error value of lm_lua_raise, whose message is the text shown to users
 * as "FAILED: <message>".
 *
 * core.graph(records) -> Graph
 *   records: load_scripts' result, or plain tables with revision,
 *   down_revision (or parents), depends_on, branch_labels, path. A record
 *   with an upgrade function and no downgrade cannot be downgraded through;
 *   a plain table can unless it says has_downgrade = false.
 *   Errors name the files: "path: Character(s) '-' not allowed in revision
 *   identifier 'a-b'", "path: revision id is empty", "Revision X is
 *   present more than once: p1 and p2", "path: revision X: down_revision
 *   'Y' is not present", "path: revision X: depends_on 'Y' is not
 *   present", "path: Self-loop is detected in revisions (X)", "path:
 *   Dependency self-loop is detected in revisions (X)", "Cycle is detected
 *   in revisions (a, b, c); files: ...", "Dependency cycle is detected in
 *   revisions (...); files: ...", "path: Branch name 'L' in revision X
 *   already used by revision Y (path)".
 *
 * Graph methods (ids are strings; lists are sequences):
 *   g:revisions()            ids in load order
 *   g:revision(id)           nil, or { revision, index (into records),
 *                            path, down_revision = {parents}, depends_on,
 *                            dependents, children, branch_labels (own and
 *                            propagated, sorted), is_head, is_effective_head,
 *                            is_base, is_branch_point, is_merge_point }
 *   g:heads{resolve_dependencies = bool}  Alembic's heads, load order
 *   g:bases()                ids with no down_revision
 *   g:branch_points()        ids with more than one child
 *   g:resolve(ident)         the ids ident denotes ("base": {})
 *   g:resolve_one(ident)     one id, or nil for base
 *   g:upgrade_path(rows, target)    -> plan (target: one identifier, or a
 *                            list of them to reach all at once)
 *   g:downgrade_path(rows, target)  -> plan
 *   g:stamp_path(rows, targets, {purge = bool})  -> plan (targets: id or list)
 *   g:current(rows)          what `current` shows: the rows plus the
 *                            dependencies they absorbed (Alembic's
 *                            get_all_current), load order
 *   g:order()                every id, oldest first: by depth through parents
 *                            and dependencies, then by id
 *   g:applied(rows)          the rows and their ancestors through parents and
 *                            dependencies, in g:order()'s order
 *   g:history(range, rows)   ids newest first; range "start:end", either
 *                            side may be empty or "current" (= rows)
 *   g:drawing(range, rows)   the same revisions as nodes for luamig.graph_draw:
 *                            { id, parents = {ids}, dependencies = {ids} | nil,
 *                              labels = {sorted} | nil, head = true | nil,
 *                              effective_head = true | nil }
 *   g:listing_text(range, rows, records [, current])
 *                            the same revisions as history's plain lines
 *   rows: the version table's rows (list of ids); target may be
 *   "START:END" (offline), then rows are ignored.
 *   plan = { start = {rows before}, rows = {rows after},
 *            steps = { { revision = id (nil for a stamp step),
 *                        direction = "up" | "down", stamp = bool,
 *                        from = {ids}, to = {ids},   -- as logged
 *                        change = "insert" | "update" | "delete" |
 *                                 "merge" | "unmerge",
 *                        ops = { {op = "insert", to = id},
 *                                {op = "delete", from = id},
 *                                {op = "update", from = id, to = id} },
 *                        rows = {rows after this step} }, ... } }
 *   Row lists are sorted. Errors follow Alembic's command-level texts
 *   (reference section 2), made specific where Alembic says only "Can't
 *   locate revision identified by ...":
 *     "Can't locate revision identified by 'zzzz'" (+ "; please ensure at
 *       least four characters are present for partial revision identifier
 *       matches" under four), "... (a row of the version table)"
 *     "Multiple revisions start with '9999': '99990001', '99990002'"
 *     "Revision b is not a member of branch 'ebranch'", "No such branch: 'x'"
 *     "Multiple head revisions are present for given argument 'head'; ..."
 *     "Ambiguous walk", "Ambiguous upgrade from multiple current revisions",
 *     "Relative revision +2 didn't produce 2 migrations", "Walked too far",
 *     "Destination X is not a valid downgrade target from current head(s)",
 *     "Requested range A:B does not refer to ancestor/descendant revisions
 *       along the same branch", "History range requires [start]:[end],
 *       [start]:, or :[end]", "Multiple heads are present; please specify a
 *       single target revision" (stamp), "path: revision X has no downgrade
 *       function; cannot downgrade through it".
 *
 * core.first_paragraph(message) -> up to the first empty line, trimmed
 * core.check_rev_id(id [, file_safe]) -> true | nil, message, reason
 *   The id grammar core.graph checks (reason "empty", "characters" or
 *   "length"); file_safe also refuses "/" and control characters.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "lua_core.h"

#define GRAPH_MT "luamig.Graph"
#define SCRATCH_MT "luamig.GraphScratch"

/* ---- scratch: C-side results owned by a userdata, so an error raised
 * while converting them (memory) cannot leak them ---- */

struct scratch {
  struct lm_plan plan;
  struct lm_ilist list;
  const char **strs;           /* string pointers borrowed from Lua values */
  size_t nstrs, cap;
  struct lm_buf text;          /* g:listing_text's lines */
};

static int scratch_gc(lua_State *L) {
  struct scratch *s = luaL_checkudata(L, 1, SCRATCH_MT);
  lm_plan_release(&s->plan);
  lm_ilist_release(&s->list);
  lm_buf_release(&s->text);
  free(s->strs);
  s->strs = NULL;
  s->nstrs = s->cap = 0;
  return 0;
}

static struct scratch *push_scratch(lua_State *L) {
  struct scratch *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  s->plan = (struct lm_plan)LM_PLAN_INIT;
  s->list = (struct lm_ilist)LM_ILIST_INIT;
  s->text = (struct lm_buf)LM_BUF_INIT;
  luaL_setmetatable(L, SCRATCH_MT);
  return s;
}

/* ---- the Graph userdata ---- */

struct graph_ud {
  struct lm_graph *g;          /* NULL once freed */
};

static int graph_gc(lua_State *L) {
  struct graph_ud *u = luaL_checkudata(L, 1, GRAPH_MT);
  lm_graph_free(u->g);
  u->g = NULL;
  return 0;
}

struct lm_graph *lm_lua_checkgraph(lua_State *L, int idx) {
  struct graph_ud *u = luaL_checkudata(L, idx, GRAPH_MT);
  if (u->g == NULL) luaL_error(L, "attempt to use a freed graph");
  return u->g;
}

static struct lm_graph *to_graph(lua_State *L) { return lm_lua_checkgraph(L, 1); }

static int graph_tostring(lua_State *L) {
  struct graph_ud *u = luaL_checkudata(L, 1, GRAPH_MT);
  if (u->g) lua_pushfstring(L, "luamig.Graph (%d revisions)", (int)u->g->nrevs);
  else lua_pushliteral(L, "luamig.Graph (freed)");
  return 1;
}

/* Appends the strings of the value at idx (nil, a string, or a list of
 * strings) to s->strs; returns how many. The pointers stay valid while the
 * value is reachable (it is, from the records table). */
static size_t collect_strings(lua_State *L, int idx, struct scratch *s, const char *what) {
  int t = lua_type(L, idx);
  if (t == LUA_TNIL || t == LUA_TNONE) return 0;
  size_t len = t == LUA_TSTRING ? 1 : t == LUA_TTABLE ? lua_rawlen(L, idx) : 0;
  if (t != LUA_TSTRING && t != LUA_TTABLE)
    luaL_error(L, "%s must be nil, a string or a list of strings", what);
  if (s->nstrs + len > s->cap) {
    s->cap = (s->nstrs + len) * 2 + 16;
    s->strs = lm_realloc(s->strs, s->cap * sizeof *s->strs);
  }
  if (t == LUA_TSTRING) {
    s->strs[s->nstrs++] = lua_tostring(L, idx);
    return 1;
  }
  for (size_t i = 0; i < len; i++) {
    if (lua_rawgeti(L, idx, (lua_Integer)i + 1) != LUA_TSTRING)
      luaL_error(L, "%s must be a list of strings (item %d is a %s)", what, (int)i + 1,
                 luaL_typename(L, -1));
    s->strs[s->nstrs++] = lua_tostring(L, -1);
    lua_pop(L, 1);                       /* still anchored by the table */
  }
  return len;
}

/* core.graph(records) */
/* The record fields core.graph reads, in this order: pushed once as keys
 * and read raw (records are plain tables: a scanned record's __index only
 * completes fields read here never), a tenth of the graph's cost at
 * 10,000 revisions in getfield's key lookups. */
static const char *const record_keys[] = {"revision", "path", "parents", "down_revision",
                                          "depends_on", "branch_labels", "replaces", "ghost",
                                          "has_downgrade", "upgrade", "downgrade"};
enum { K_REVISION, K_PATH, K_PARENTS, K_DOWN, K_DEPENDS, K_LABELS, K_REPLACES, K_GHOST,
       K_HAS_DOWNGRADE, K_UPGRADE, K_DOWNGRADE, NKEYS };

static int core_graph(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  struct scratch *s = push_scratch(L);
  struct graph_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->g = NULL;
  luaL_setmetatable(L, GRAPH_MT);
  int ud = lua_gettop(L);
  u->g = lm_graph_new();
  for (int k = 0; k < NKEYS; k++) lua_pushstring(L, record_keys[k]);
  int keys = ud + 1, base = ud + NKEYS;               /* keys + k: record_keys[k] */
  struct lm_err e = LM_ERR_INIT;
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, 1, i) != LUA_TTABLE)
      return luaL_error(L, "records[%d] is a %s, not a table", (int)i, luaL_typename(L, -1));
    int rec = lua_gettop(L);
#define FIELD(k) (lua_pushvalue(L, keys + (k)), lua_rawget(L, rec))
    struct lm_rev_spec spec;
    memset(&spec, 0, sizeof spec);
    FIELD(K_REVISION);                                  /* rec+1 */
    spec.id = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    FIELD(K_PATH);                                      /* rec+2 */
    spec.path = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (FIELD(K_PARENTS) == LUA_TNIL) {                 /* rec+3 */
      lua_pop(L, 1);
      FIELD(K_DOWN);
    }
    FIELD(K_DEPENDS);                                   /* rec+4 */
    FIELD(K_LABELS);                                    /* rec+5 */
    FIELD(K_REPLACES);                                  /* rec+6 */
    s->nstrs = 0;
    spec.ndown = collect_strings(L, rec + 3, s, "down_revision");
    spec.ndepends_on = collect_strings(L, rec + 4, s, "depends_on");
    spec.nlabels = collect_strings(L, rec + 5, s, "branch_labels");
    spec.nreplaces = collect_strings(L, rec + 6, s, "replaces");
    spec.down = s->strs;
    spec.depends_on = s->strs + spec.ndown;
    spec.labels = s->strs + spec.ndown + spec.ndepends_on;
    spec.replaces = s->strs + spec.ndown + spec.ndepends_on + spec.nlabels;
    FIELD(K_GHOST);                                     /* rec+7 */
    spec.ghost = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (FIELD(K_HAS_DOWNGRADE) == LUA_TBOOLEAN) {       /* rec+7: said, or scanned: not loaded */
      spec.has_downgrade = lua_toboolean(L, -1);
    } else {
      int is_script = FIELD(K_UPGRADE) == LUA_TFUNCTION;   /* rec+8 */
      spec.has_downgrade = is_script ? FIELD(K_DOWNGRADE) == LUA_TFUNCTION : 1;
    }
#undef FIELD
    if (lm_graph_add(u->g, &spec, &e) != LM_OK) return lm_lua_raise(L, &e);
    lua_settop(L, base);
  }
  lua_settop(L, ud);
  if (lm_graph_build(u->g, &e) != LM_OK) return lm_lua_raise(L, &e);
  return 1;
}

/* ---- converting results ---- */

/* Pushes a list of the ids of v (skipping negative values); sorted if asked. */
void lm_lua_push_ids(lua_State *L, const struct lm_graph *g, const int *v, size_t n, int sorted) {
  lua_createtable(L, (int)n, 0);
  int *copy = NULL;
  if (sorted && n > 1) {
    copy = lua_newuserdatauv(L, n * sizeof *copy, 0);
    memcpy(copy, v, n * sizeof *copy);
    lm_graph_sort_by_id(g, copy, n);
    v = copy;
  }
  lua_Integer k = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < 0) continue;
    lua_pushstring(L, g->revs[v[i]].id);
    lua_rawseti(L, copy ? -3 : -2, ++k);
  }
  if (copy) lua_pop(L, 1);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of a revision's labels, sorted. */
static void push_labels(lua_State *L, const struct lm_graph *g, const struct lm_ilist *labels) {
  lua_createtable(L, (int)labels->n, 0);
  if (labels->n == 0) return;
  const char **names = lua_newuserdatauv(L, labels->n * sizeof *names, 0);
  for (size_t j = 0; j < labels->n; j++) names[j] = g->labels[labels->v[j]].name;
  qsort(names, labels->n, sizeof *names, by_name);
  for (size_t j = 0; j < labels->n; j++) {
    lua_pushstring(L, names[j]);
    lua_rawseti(L, -3, (lua_Integer)j + 1);
  }
  lua_pop(L, 1);
}

static const char *const change_names[] = {"insert", "update", "delete", "merge", "unmerge"};

static void push_plan(lua_State *L, const struct lm_graph *g, const struct lm_plan *p) {
  lua_createtable(L, 0, 4);
  lm_lua_push_ids(L, g, p->start.v, p->start.n, 1);
  lua_setfield(L, -2, "start");
  lm_lua_push_ids(L, g, p->rows.v, p->rows.n, 1);
  lua_setfield(L, -2, "rows");
  lua_createtable(L, (int)p->nsteps, 0);
  for (size_t i = 0; i < p->nsteps; i++) {
    const struct lm_step *s = &p->steps[i];
    lua_createtable(L, 0, 8);
    if (s->rev >= 0) {
      lua_pushstring(L, g->revs[s->rev].id);
      lua_setfield(L, -2, "revision");
    }
    lua_pushstring(L, s->upgrade ? "up" : "down");
    lua_setfield(L, -2, "direction");
    lua_pushboolean(L, s->stamp);
    lua_setfield(L, -2, "stamp");
    lm_lua_push_ids(L, g, s->from.v, s->from.n, 0);
    lua_setfield(L, -2, "from");
    lm_lua_push_ids(L, g, s->to.v, s->to.n, 0);
    lua_setfield(L, -2, "to");
    lua_pushstring(L, change_names[s->change]);
    lua_setfield(L, -2, "change");
    lua_createtable(L, (int)s->nops, 0);
    for (size_t j = 0; j < s->nops; j++) {
      const struct lm_rowop *op = &s->ops[j];
      lua_createtable(L, 0, 3);
      lua_pushstring(L, op->op == LM_ROW_INSERT ? "insert" : op->op == LM_ROW_DELETE ? "delete"
                                                                                      : "update");
      lua_setfield(L, -2, "op");
      if (op->from >= 0) {
        lua_pushstring(L, g->revs[op->from].id);
        lua_setfield(L, -2, "from");
      }
      if (op->to >= 0) {
        lua_pushstring(L, g->revs[op->to].id);
        lua_setfield(L, -2, "to");
      }
      lua_rawseti(L, -2, (lua_Integer)j + 1);
    }
    lua_setfield(L, -2, "ops");
    lm_lua_push_ids(L, g, s->rows.v, s->rows.n, 1);
    lua_setfield(L, -2, "rows");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "steps");
}

/* ---- methods ---- */

static int graph_revisions(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  lua_createtable(L, (int)g->nrevs, 0);
  for (size_t i = 0; i < g->nrevs; i++) {
    lua_pushstring(L, g->revs[i].id);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int graph_revision(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  int i = lm_graph_find(g, luaL_checkstring(L, 2));
  if (i < 0) {
    lua_pushnil(L);
    return 1;
  }
  const struct lm_rev *r = &g->revs[i];
  lua_createtable(L, 0, 14);
  lua_pushstring(L, r->id);
  lua_setfield(L, -2, "revision");
  lua_pushinteger(L, i + 1);
  lua_setfield(L, -2, "index");
  if (r->path) {
    lua_pushstring(L, r->path);
    lua_setfield(L, -2, "path");
  }
  lm_lua_push_ids(L, g, r->down, r->ndown, 0);
  lua_setfield(L, -2, "down_revision");
  lm_lua_push_ids(L, g, r->deps.v, r->deps.n, 0);
  lua_setfield(L, -2, "depends_on");
  lm_lua_push_ids(L, g, r->children.v, r->children.n, 0);
  lua_setfield(L, -2, "children");
  lua_createtable(L, 0, 0);                               /* dependents: not children */
  lua_Integer k = 0;
  for (size_t j = 0; j < r->all_children.n; j++) {
    int c = r->all_children.v[j], child = 0;
    for (size_t m = 0; m < r->children.n; m++) child |= r->children.v[m] == c;
    if (child) continue;
    lua_pushstring(L, g->revs[c].id);
    lua_rawseti(L, -2, ++k);
  }
  lua_setfield(L, -2, "dependents");
  push_labels(L, g, &r->labels);
  lua_setfield(L, -2, "branch_labels");
  lua_pushboolean(L, r->children.n == 0 && !r->hidden);
  lua_setfield(L, -2, "is_head");
  if (r->nreplaces) {                                     /* a squash */
    lua_createtable(L, (int)r->nreplaces, 0);
    for (size_t j = 0; j < r->nreplaces; j++) {
      lua_pushstring(L, r->replace_names[j]);
      lua_rawseti(L, -2, (lua_Integer)j + 1);
    }
    lua_setfield(L, -2, "replaces");
  }
  if (r->squash >= 0) {
    lua_pushstring(L, g->revs[r->squash].id);
    lua_setfield(L, -2, "replaced_by");
  }
  lua_pushboolean(L, r->hidden);                          /* out of the graph's current view */
  lua_setfield(L, -2, "hidden");
  lua_pushboolean(L, lm_graph_is_effective_head(g, i));
  lua_setfield(L, -2, "is_effective_head");
  lua_pushboolean(L, r->ndown == 0 && !r->hidden);
  lua_setfield(L, -2, "is_base");
  lua_pushboolean(L, lm_graph_is_branch_point(g, i));
  lua_setfield(L, -2, "is_branch_point");
  lua_pushboolean(L, lm_graph_is_merge_point(g, i));
  lua_setfield(L, -2, "is_merge_point");
  return 1;
}

static int graph_heads(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  int real = 0;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "resolve_dependencies");
    real = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  const struct lm_ilist *h = real ? &g->real_heads : &g->heads;
  lm_lua_push_ids(L, g, h->v, h->n, 0);
  return 1;
}

static int graph_bases(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  lm_lua_push_ids(L, g, g->bases.v, g->bases.n, 0);
  return 1;
}

static int graph_branch_points(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  lua_newtable(L);
  lua_Integer k = 0;
  for (size_t i = 0; i < g->nrevs; i++) {
    if (!lm_graph_is_branch_point(g, (int)i)) continue;
    lua_pushstring(L, g->revs[i].id);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

static int graph_resolve(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  const char *ident = luaL_checkstring(L, 2);
  struct scratch *s = push_scratch(L);
  struct lm_err e = LM_ERR_INIT;
  if (lm_graph_resolve(g, ident, &s->list, &e)) return lm_lua_raise(L, &e);
  lm_lua_push_ids(L, g, s->list.v, s->list.n, 0);
  return 1;
}

static int graph_resolve_one(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  const char *ident = luaL_checkstring(L, 2);
  struct lm_err e = LM_ERR_INIT;
  int rev;
  if (lm_graph_resolve_one(g, ident, &rev, &e)) return lm_lua_raise(L, &e);
  if (rev < 0) lua_pushnil(L);
  else lua_pushstring(L, g->revs[rev].id);
  return 1;
}

typedef int (*path_fn)(struct lm_graph *, const char *const *, size_t, const char *,
                       struct lm_plan *, struct lm_err *);

static int path_method(lua_State *L, path_fn fn) {
  struct lm_graph *g = to_graph(L);
  size_t nrows;
  const char **rows = lm_lua_string_array(L, 2, &nrows, "rows");
  const char *target = luaL_checkstring(L, 3);
  struct scratch *s = push_scratch(L);
  struct lm_err e = LM_ERR_INIT;
  if (fn(g, rows, nrows, target, &s->plan, &e)) return lm_lua_raise(L, &e);
  push_plan(L, g, &s->plan);
  return 1;
}

static int graph_upgrade_path(lua_State *L) {
  if (!lua_istable(L, 3)) return path_method(L, lm_graph_upgrade);
  struct lm_graph *g = to_graph(L);
  size_t nrows, ntargets;
  const char **rows = lm_lua_string_array(L, 2, &nrows, "rows");
  const char **targets = lm_lua_string_array(L, 3, &ntargets, "targets");
  struct scratch *s = push_scratch(L);
  struct lm_err e = LM_ERR_INIT;
  if (lm_graph_upgrade_to(g, rows, nrows, targets, ntargets, &s->plan, &e))
    return lm_lua_raise(L, &e);
  push_plan(L, g, &s->plan);
  return 1;
}
static int graph_downgrade_path(lua_State *L) { return path_method(L, lm_graph_downgrade); }

static int graph_stamp_path(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  size_t nrows, ntargets;
  const char **rows = lm_lua_string_array(L, 2, &nrows, "rows");
  const char **targets = lm_lua_string_array(L, 3, &ntargets, "targets");
  int purge = 0;
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "purge");
    purge = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  struct scratch *s = push_scratch(L);
  struct lm_err e = LM_ERR_INIT;
  if (lm_graph_stamp(g, rows, nrows, targets, ntargets, purge, &s->plan, &e))
    return lm_lua_raise(L, &e);
  push_plan(L, g, &s->plan);
  return 1;
}

static int graph_current(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  size_t nrows;
  const char **rows = lm_lua_string_array(L, 2, &nrows, "rows");
  struct scratch *s = push_scratch(L);
  struct lm_err se = LM_ERR_INIT;
  if (lm_graph_select(g, rows, nrows, &se) != LM_OK) return lm_lua_raise(L, &se);
  for (size_t i = 0; i < nrows; i++) {
    int r = lm_graph_find_row(g, rows[i]);
    if (r < 0) {
      struct lm_err e = LM_ERR_INIT;
      lm_err_set(&e, LM_ERROR, "Can't locate revision identified by '%s' (a row of the "
                 "version table)", rows[i]);
      return lm_lua_raise(L, &e);
    }
    lm_ilist_push(&s->plan.start, r);
  }
  lm_graph_all_current(g, s->plan.start.v, s->plan.start.n, &s->list);
  lm_lua_push_ids(L, g, s->list.v, s->list.n, 0);
  return 1;
}

/* g:order(): every id, oldest first (depth through parents and
 * dependencies, then id). */
static int graph_order(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  struct scratch *s = push_scratch(L);
  lm_graph_order(g, &s->list);
  lm_lua_push_ids(L, g, s->list.v, s->list.n, 0);
  return 1;
}

/* g:applied(rows): every id applied when the version table holds rows (the
 * rows and their ancestors through parents and dependencies), in
 * g:order()'s order; rows the graph does not know are ignored. */
static int graph_applied(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  size_t nrows;
  const char **rows = lm_lua_string_array(L, 2, &nrows, "rows");
  struct scratch *s = push_scratch(L);
  struct lm_err e = LM_ERR_INIT;
  if (lm_graph_select(g, rows, nrows, &e) != LM_OK) return lm_lua_raise(L, &e);
  for (size_t i = 0; i < nrows; i++) lm_ilist_push(&s->plan.start, lm_graph_find_row(g, rows[i]));
  lm_graph_applied(g, s->plan.start.v, s->plan.start.n, &s->list);
  lm_lua_push_ids(L, g, s->list.v, s->list.n, 0);
  return 1;
}

/* The revisions of g:history(range, rows) and g:drawing(range, rows), in
 * the scratch it pushes; raises on a bad range. */
static struct scratch *history_of(lua_State *L, struct lm_graph *g) {
  const char *range = luaL_optstring(L, 2, NULL);
  size_t nrows;
  const char **rows = lm_lua_string_array(L, 3, &nrows, "rows");
  struct scratch *s = push_scratch(L);
  struct lm_err e = LM_ERR_INIT;
  if (lm_graph_history(g, range, rows, nrows, &s->list, &e)) lm_lua_raise(L, &e);
  return s;
}

static int graph_history(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  struct scratch *s = history_of(L, g);
  lm_lua_push_ids(L, g, s->list.v, s->list.n, 0);
  return 1;
}

/* g:drawing(range, rows): history's revisions as the nodes luamig.graph_draw
 * draws, in one call (history --graph at 10,000 revisions spent most of its
 * time building g:revision's full tables). Fields: id, parents (all, written
 * order), dependencies (resolved, only when any), labels (sorted, only when
 * any), head (a head nothing depends on), effective_head. */
static int graph_drawing(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  struct scratch *s = history_of(L, g);
  lua_createtable(L, (int)s->list.n, 0);
  for (size_t i = 0; i < s->list.n; i++) {
    int r = s->list.v[i];
    const struct lm_rev *rev = &g->revs[r];
    lua_createtable(L, 0, 6);
    lua_pushstring(L, rev->id);
    lua_setfield(L, -2, "id");
    lm_lua_push_ids(L, g, rev->down, rev->ndown, 0);
    lua_setfield(L, -2, "parents");
    if (rev->deps.n) {
      lm_lua_push_ids(L, g, rev->deps.v, rev->deps.n, 0);
      lua_setfield(L, -2, "dependencies");
    }
    if (rev->labels.n) {
      push_labels(L, g, &rev->labels);
      lua_setfield(L, -2, "labels");
    }
    if (rev->children.n == 0) {
      int effective = lm_graph_is_effective_head(g, r);
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, effective ? "effective_head" : "head");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* A message's first paragraph, as Alembic's one-line listings show it:
 * up to the first empty line (blanks and tabs only), without trailing
 * white space (Lua's %s: isspace in the C locale). */
static void add_first_paragraph(struct lm_buf *b, const char *m, size_t len) {
  size_t end = len;
  for (size_t i = 0; i < len; i++) {
    if (m[i] != '\n') continue;
    size_t j = i + 1;
    while (j < len && (m[j] == ' ' || m[j] == '\t')) j++;
    if (j < len && m[j] == '\n') {
      end = i;
      break;
    }
  }
  while (end > 0 && strchr(" \t\n\v\f\r", m[end - 1]) != NULL && m[end - 1] != '\0') end--;
  lm_buf_add(b, m, end);
}

/* The strings of the list at idx joined by ", " (non-strings skipped). */
static void add_joined(lua_State *L, struct lm_buf *b, int idx) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  for (lua_Integer k = 1; k <= n; k++) {
    size_t len;
    if (lua_rawgeti(L, idx, k) == LUA_TSTRING) {
      const char *str = lua_tolstring(L, -1, &len);
      if (k > 1) lm_buf_adds(b, ", ");
      lm_buf_add(b, str, len);
    }
    lua_pop(L, 1);
  }
}

/* g:listing_text(range, rows, records [, current]) -> text: history's plain
 * listing in Alembic's format, a line a revision, joined by newlines:
 * "parents (depends_on) -> id (labels) (head) (effective head) (current)
 * (branchpoint) (mergepoint), first paragraph of the message". records:
 * the graph's records, indexed alike (message, depends_on as written);
 * current: a set of ids. One C pass: these lines built in Lua were a fifth
 * of `history` at 10,000 revisions. */
static int graph_listing_text(lua_State *L) {
  struct lm_graph *g = to_graph(L);
  luaL_checktype(L, 4, LUA_TTABLE);
  int current = lua_istable(L, 5);
  struct scratch *s = history_of(L, g);
  struct lm_buf *b = &s->text;
  int top = lua_gettop(L);
  for (size_t i = 0; i < s->list.n; i++) {
    int r = s->list.v[i];
    const struct lm_rev *rev = &g->revs[r];
    if (i > 0) lm_buf_addc(b, '\n');
    size_t parents = 0;
    for (size_t k = 0; k < rev->ndown; k++) {
      if (rev->down[k] < 0) continue;
      if (parents++) lm_buf_adds(b, ", ");
      lm_buf_adds(b, g->revs[rev->down[k]].id);
    }
    if (parents == 0) lm_buf_adds(b, "<base>");
    lua_rawgeti(L, 4, (lua_Integer)r + 1);            /* top + 1: the record */
    if (lua_getfield(L, top + 1, "depends_on") == LUA_TTABLE && lua_rawlen(L, -1) > 0) {
      lm_buf_adds(b, " (");
      add_joined(L, b, top + 2);
      lm_buf_addc(b, ')');
    }
    lm_buf_adds(b, " -> ");
    lm_buf_adds(b, rev->id);
    if (rev->labels.n) {
      push_labels(L, g, &rev->labels);               /* top + 3: sorted */
      lm_buf_adds(b, " (");
      add_joined(L, b, top + 3);
      lm_buf_addc(b, ')');
      lua_pop(L, 1);
    }
    int head = rev->children.n == 0 && !rev->hidden, effective = lm_graph_is_effective_head(g, r);
    if (head && !effective) lm_buf_adds(b, " (head)");
    if (effective) lm_buf_adds(b, " (effective head)");
    if (current) {
      if (lua_getfield(L, 5, rev->id) != LUA_TNIL && lua_toboolean(L, -1)) lm_buf_adds(b, " (current)");
      lua_pop(L, 1);
    }
    if (lm_graph_is_branch_point(g, r)) lm_buf_adds(b, " (branchpoint)");
    if (lm_graph_is_merge_point(g, r)) lm_buf_adds(b, " (mergepoint)");
    if (lua_getfield(L, top + 1, "message") == LUA_TSTRING) {
      size_t len;
      const char *m = lua_tolstring(L, -1, &len);
      lm_buf_adds(b, ", ");
      add_first_paragraph(b, m, len);
    }
    lua_settop(L, top);
  }
  lua_pushlstring(L, b->data ? b->data : "", b->len);
  return 1;
}

/* ---- the id grammar ---- */

/* core.first_paragraph(message) -> its first paragraph, as the one-line
 * listings show it (history's lines, branches -v). */
static int core_first_paragraph(lua_State *L) {
  size_t len;
  const char *m = luaL_checklstring(L, 1, &len);
  struct scratch *s = push_scratch(L);
  add_first_paragraph(&s->text, m, len);
  lua_pushlstring(L, s->text.data ? s->text.data : "", s->text.len);
  return 1;
}

/* core.check_rev_id(id [, file_safe]) -> true | nil, message, reason
 * reason: "empty", "characters" or "length" (lm_rev_id_check). */
static int core_check_rev_id(lua_State *L) {
  static const char *const reasons[] = {"ok", "empty", "characters", "length"};
  size_t len;
  const char *id = luaL_checklstring(L, 1, &len);
  int file_safe = lua_toboolean(L, 2);
  struct lm_err e = LM_ERR_INIT;
  int problem = lm_rev_id_check(id, len, file_safe, &e);
  if (problem == LM_REV_ID_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, e.message);
  lm_err_release(&e);
  lua_pushstring(L, reasons[problem]);
  return 3;
}

static const luaL_Reg graph_methods[] = {
  {"revisions", graph_revisions},
  {"revision", graph_revision},
  {"heads", graph_heads},
  {"bases", graph_bases},
  {"branch_points", graph_branch_points},
  {"resolve", graph_resolve},
  {"resolve_one", graph_resolve_one},
  {"upgrade_path", graph_upgrade_path},
  {"downgrade_path", graph_downgrade_path},
  {"stamp_path", graph_stamp_path},
  {"history", graph_history},
  {"drawing", graph_drawing},
  {"listing_text", graph_listing_text},
  {"current", graph_current},
  {"order", graph_order},
  {"applied", graph_applied},
  {NULL, NULL}
};

static const luaL_Reg graph_meta[] = {
  {"__gc", graph_gc},
  {"__close", graph_gc},
  {"__tostring", graph_tostring},
  {NULL, NULL}
};

static const luaL_Reg core_functions[] = {
  {"graph", core_graph},
  {"check_rev_id", core_check_rev_id},
  {"first_paragraph", core_first_paragraph},
  {NULL, NULL}
};

void lm_lua_graph_open(lua_State *L) {
  luaL_newmetatable(L, GRAPH_MT);
  luaL_setfuncs(L, graph_meta, 0);
  luaL_newlib(L, graph_methods);
  lua_setfield(L, -2, "__index");                       /* mt.__index = methods */
  lua_pop(L, 1);
  luaL_newmetatable(L, SCRATCH_MT);
  lua_pushcfunction(L, scratch_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_setfuncs(L, core_functions, 0);                  /* into the module table */
}
