/*
 * graph.h -- the revision graph: revisions, parents, dependencies, branch
 * labels; heads, bases, target resolution, and the upgrade / downgrade /
 * stamp paths with the version rows Alembic would keep after each step.
 *
 * Pure C: no Lua, no database. Behaviour follows Alembic's RevisionMap
 * (alembic/script/revision.py) and HeadMaintainer (runtime/migration.py),
 * see shared/reference/alembic.md sections 2, 3 and 10, but every walk is
 * over integer indices with mark arrays, so loading and resolving stay
 * near-linear in the number of revisions.
 *
 * Lifecycle: lm_graph_new, lm_graph_add for each revision (in load order;
 * the order breaks ties the way Alembic's ordered revision map does),
 * lm_graph_build once, then any number of queries, then lm_graph_free.
 *
 * Files, in the order a target flows through them (each calls only the
 * ones above it; graph_int.h holds what they share):
 *   graph.c         storage, lookups, ancestry queries (calls no other)
 *   graph_build.c   lm_graph_add / lm_graph_build: the id grammar, checks,
 *                   labels, the indices
 *   graph_squash.c  squashes (replaces): which of a squash and its chain is
 *                   in the graph for a database's rows (lm_graph_select)
 *   graph_target.c  the target grammar (head, heads, base, ids, prefixes,
 *                   labels, @, +N/-N) to revision sets
 *   graph_order.c   orders: Alembic's topological sort, lm_graph_order
 *   graph_path.c    sets to paths: the revisions between rows and a target;
 *                   history
 *   graph_plan.c    paths to plans: upgrade, downgrade, stamp and the
 *                   version rows after each step
 */
#ifndef LUAMIG_GRAPH_H
#define LUAMIG_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "luamig.h"

/* A growable list of revision indices. */
struct lm_ilist {
  int *v;
  size_t n, cap;
};
#define LM_ILIST_INIT {NULL, 0, 0}
void lm_ilist_push(struct lm_ilist *l, int x);
void lm_ilist_release(struct lm_ilist *l);

/* What a loaded script declares; strings are copied by lm_graph_add. */
struct lm_rev_spec {
  const char *id;                   /* revision */
  const char *const *down;          /* down_revision: 0, 1 or more (a merge) */
  size_t ndown;
  const char *const *depends_on;    /* ids or branch labels */
  size_t ndepends_on;
  const char *const *labels;        /* branch_labels */
  size_t nlabels;
  const char *path;                 /* the file, for messages; may be NULL */
  int has_downgrade;                /* 0: a downgrade through it is refused */
  const char *const *replaces;      /* a squash: the chain it replaces, oldest first */
  size_t nreplaces;
  int ghost;                        /* 1: a replaced id whose file is gone (no script) */
};

struct lm_rev {
  char *id;
  char *path;                       /* owned; NULL if unknown */
  int has_downgrade;
  char **down_names;                /* down_revision as written */
  size_t ndown_names;
  size_t ndown;                     /* parents linked: ndown_names, 0 while hidden */
  char **dep_names;                 /* depends_on as written */
  size_t ndep_names;
  char **own_labels;                /* branch_labels as written */
  size_t nown_labels;
  char **replace_names;             /* replaces as written (a squash) */
  size_t nreplaces;
  int ghost;                        /* a replaced id with no file */
  /* Squashes (graph_squash.c): set once by lm_graph_build. */
  int squash;                       /* a replaced revision: its squash's index; else -1 */
  int *replaced;                    /* a squash: its replaced revisions, oldest first */
  int complete;                     /* a squash: every replaced revision has its file */
  int in_effect;                    /* a squash: 1 it stands for the chain, 0 the chain runs */
  int hidden;                       /* out of the graph in the current view (see graph_squash.c) */
  /* Filled by lm_graph_build. */
  int *down;                        /* parents, ndown of them, in written order */
  struct lm_ilist deps;             /* depends_on resolved to revisions, deduplicated */
  struct lm_ilist norm_down;        /* parents + deps not already deps of an ancestor */
  struct lm_ilist children;         /* revisions naming this one in down_revision */
  struct lm_ilist all_children;     /* ... in down_revision or depends_on */
  struct lm_ilist norm_children;    /* ... in norm_down */
  struct lm_ilist labels;           /* indices into graph->labels, own and propagated */
  int topo;                         /* position in a topological order (parents first) */
};

struct lm_label {
  char *name;
  int rev;                          /* the revision that declares it */
};

/* Open-addressing hash from a string to an int. */
struct lm_strmap {
  const char **keys;                /* borrowed; NULL = empty slot */
  int *vals;
  size_t cap, count;
};

struct lm_key {                     /* an entry of the sorted prefix index */
  const char *key;                  /* a revision id or a branch label */
  int rev;
};

struct lm_graph {
  struct lm_rev *revs;              /* load order */
  size_t nrevs, cap;
  struct lm_label *labels;
  size_t nlabels, labels_cap;
  struct lm_strmap ids;             /* id -> revision index */
  struct lm_strmap label_map;       /* label -> label index */
  struct lm_key *keys;              /* ids and labels, sorted, for prefixes */
  size_t nkeys;
  struct lm_ilist heads;            /* no child through down_revision (Alembic's heads) */
  struct lm_ilist real_heads;       /* no child at all, dependencies included */
  struct lm_ilist bases;            /* down_revision empty */
  struct lm_ilist real_bases;       /* down_revision and depends_on empty */
  int built;
  int ekind;                        /* enum lm_graph_ekind of the last failure */
  char *emh_arg;                    /* LM_GERR_MULTIPLE_HEADS: the argument */
  int enotfound;                    /* the last failure was "names nothing" */
  /* Scratch for walks: mark[i] == stamp means "in the current set". */
  uint32_t *mark, *mark2, *mark3;
  uint32_t stamp;
  int *stack;                       /* nrevs entries */
  int nsquashes;                    /* revisions declaring replaces */
  struct lm_ilist alias;            /* pairs (squash, row): a stored row naming a replaced id */
};

/* The longest revision id: the version table's version_num is VARCHAR(64). */
#define LM_REV_ID_MAX 64

/* What lm_rev_id_check found wrong with an id. */
enum lm_rev_id_problem { LM_REV_ID_OK, LM_REV_ID_EMPTY, LM_REV_ID_CHARACTERS, LM_REV_ID_LENGTH };
/* The revision-id grammar (the checks lm_graph_add makes): id is len
 * bytes. Returns LM_REV_ID_OK, or the problem with e's message: "revision
 * id is empty", "Character(s) '+, -' not allowed in revision identifier
 * 'x'", or the version table's width. file_safe also refuses "/" and
 * control characters (for an id that becomes part of a file name), shown
 * as \ddd in the message. */
int lm_rev_id_check(const char *id, size_t len, int file_safe, struct lm_err *e);

struct lm_graph *lm_graph_new(void);
/* Frees everything the graph owns; NULL-safe. */
void lm_graph_free(struct lm_graph *g);
/* Adds a revision (before lm_graph_build). Checks the id itself: empty,
 * illegal characters, self-loops, duplicates (both files named). */
int lm_graph_add(struct lm_graph *g, const struct lm_rev_spec *spec, struct lm_err *e);
/* Links parents and dependencies, checks for missing revisions, duplicate
 * labels and cycles, propagates branch labels. */
int lm_graph_build(struct lm_graph *g, struct lm_err *e);

/* Exact id lookup; -1 when absent. */
int lm_graph_find(const struct lm_graph *g, const char *id);
/* A version row's revision: lm_graph_find, except that a replaced id
 * whose squash is in effect gives the squash; -1 when absent. */
int lm_graph_find_row(const struct lm_graph *g, const char *id);
/* Squashes (graph_squash.c): chooses, for each revision declaring
 * replaces, whether it or the chain it replaces is in the graph for a
 * database holding these version rows (Django's squashmigrations rule: the
 * chain while the database is part-way through it, the squash otherwise),
 * and relinks the graph if that changed. Without rows (nrows 0) every
 * squash is in effect. Rows the graph does not know are skipped. Fails
 * when a database is part-way through a chain whose files are gone. The
 * planning functions below call it themselves. */
int lm_graph_select(struct lm_graph *g, const char *const *rows, size_t nrows, struct lm_err *e);
/* Alembic's exact map lookup: a revision id, else the revision declaring
 * that branch label; -1 when neither. */
int lm_graph_lookup(const struct lm_graph *g, const char *key);
/* Whether revision rev carries label (own or propagated). */
int lm_graph_has_label(const struct lm_graph *g, int rev, const char *label);
int lm_graph_is_branch_point(const struct lm_graph *g, int rev);
int lm_graph_is_merge_point(const struct lm_graph *g, int rev);
/* True when a head through down_revision has a dependent: Alembic's
 * "effective head". */
int lm_graph_is_effective_head(const struct lm_graph *g, int rev);
/* Sorts the revision indices v (none negative) by id, as strcmp orders them. */
void lm_graph_sort_by_id(const struct lm_graph *g, int *v, size_t n);

/* ---- target resolution (graph_target.c; lm_graph_all_current: graph.c) ---- */

/* Alembic's get_revisions for one identifier: "heads", "head", "base",
 * ids, prefixes, labels, "X@Y", "X@-N" and "-N" (down from the heads).
 * Appends indices to out; "base" appends nothing. */
int lm_graph_resolve(struct lm_graph *g, const char *ident, struct lm_ilist *out,
                     struct lm_err *e);
/* The single revision ident names (Alembic's get_revision); *rev = -1 for
 * base. More than one is the multiple-heads error. */
int lm_graph_resolve_one(struct lm_graph *g, const char *ident, int *rev,
                         struct lm_err *e);

/* Alembic's get_all_current (what `current` prints): the rows and
 * everything below them, reduced to the revisions with no child among
 * them, so a dependency absorbed by a row shows again. Load order. */
void lm_graph_all_current(struct lm_graph *g, const int *revs, size_t n, struct lm_ilist *out);

/* ---- whole-graph orders (graph_order.c) ---- */

/* Every revision, oldest first: by depth (the longest walk down to a base
 * through parents and dependencies), then by id (strcmp). */
void lm_graph_order(const struct lm_graph *g, struct lm_ilist *out);
/* The revisions applied when the version table holds rows (indices,
 * negative entries skipped): the rows and every ancestor through parents
 * and dependencies, in lm_graph_order's order. Uses g->mark. */
void lm_graph_applied(struct lm_graph *g, const int *rows, size_t n, struct lm_ilist *out);

/* ---- plans (graph_plan.c; lm_graph_history: graph_path.c) ---- */

enum lm_row_op { LM_ROW_INSERT, LM_ROW_DELETE, LM_ROW_UPDATE };

struct lm_rowop {
  int op;                           /* enum lm_row_op */
  int from;                         /* DELETE, UPDATE: the row removed */
  int to;                           /* INSERT, UPDATE: the row written */
};

enum lm_change {                    /* what a step does to the version table */
  LM_CHANGE_INSERT, LM_CHANGE_UPDATE, LM_CHANGE_DELETE, LM_CHANGE_MERGE,
  LM_CHANGE_UNMERGE
};

struct lm_step {
  int rev;                          /* the revision run; -1 for a stamp step */
  int upgrade;                      /* 1 up, 0 down */
  int stamp;                        /* 1: a stamp step (no migration runs) */
  struct lm_ilist from, to;         /* as logged: "from -> to" (no dependencies) */
  int change;                       /* enum lm_change */
  struct lm_rowop *ops;             /* version-table writes, in order */
  size_t nops;
  struct lm_ilist rows;             /* the version rows after this step */
};

struct lm_plan {
  struct lm_step *steps;
  size_t nsteps, cap;
  struct lm_ilist start;            /* the version rows before the first step */
  struct lm_ilist rows;             /* the version rows after the last step */
};
#define LM_PLAN_INIT {NULL, 0, 0, LM_ILIST_INIT, LM_ILIST_INIT}
void lm_plan_release(struct lm_plan *p);

/* rows: the version table's rows (ids, as stored), nrows of them.
 * target: any identifier; "START:END" takes the rows from START (offline).
 * Fills plan, or fails with Alembic's message, made specific. */
int lm_graph_upgrade(struct lm_graph *g, const char *const *rows, size_t nrows,
                     const char *target, struct lm_plan *plan, struct lm_err *e);
/* Several targets at once (Alembic accepts a tuple): each resolved as by
 * lm_graph_resolve, then one path to all of them. */
int lm_graph_upgrade_to(struct lm_graph *g, const char *const *rows, size_t nrows,
                        const char *const *targets, size_t ntargets, struct lm_plan *plan,
                        struct lm_err *e);
/* Dependents first, cascading; fails before any step when the path passes
 * a revision added with has_downgrade = 0. (Alembic's warning for
 * "downgrade -1" from several heads is an error here: graph_target.c.) */
int lm_graph_downgrade(struct lm_graph *g, const char *const *rows, size_t nrows,
                       const char *target, struct lm_plan *plan, struct lm_err *e);
/* Alembic's _stamp_revs: targets may be several identifiers; purge starts
 * from an empty table; "START:END" (offline) starts from what START names. */
int lm_graph_stamp(struct lm_graph *g, const char *const *rows, size_t nrows,
                   const char *const *targets, size_t ntargets, int purge,
                   struct lm_plan *plan, struct lm_err *e);
/* history -r START:END (either side may be empty): revisions newest first.
 * "current" on either side stands for rows. */
int lm_graph_history(struct lm_graph *g, const char *range, const char *const *rows,
                     size_t nrows, struct lm_ilist *out, struct lm_err *e);

/* ---- ancestry queries (graph.c) ---- */

/* Fresh mark generation: mark[i] == g->stamp tests membership. */
uint32_t lm_graph_new_stamp(struct lm_graph *g);
enum lm_walk_kind {
  WALK_DOWN,                        /* down_revision */
  WALK_NORM_DOWN,                   /* down_revision + normalized dependencies */
  WALK_ALL_DOWN,                    /* down_revision + every dependency */
  WALK_CHILDREN,                    /* the reverse of WALK_DOWN */
  WALK_ALL_CHILDREN                 /* the reverse of WALK_ALL_DOWN */
};
/* Marks m[i] = stamp for every revision reachable from start (start
 * included, negative entries skipped) along kind; appends each to seen
 * (when not NULL) in visiting order. Revisions already marked are not
 * entered. Uses g->stack. */
void lm_graph_mark_walk(struct lm_graph *g, const int *start, size_t n, int kind, uint32_t *m,
                        uint32_t stamp, struct lm_ilist *seen);
/* Marks (with stamp in the mark array m) every ancestor of the start
 * revisions, themselves included; deps: follow norm_down, else down only. */
void lm_graph_mark_ancestors(struct lm_graph *g, const int *start, size_t n, int deps,
                             uint32_t *m, uint32_t stamp);
/* Marks every descendant, themselves included; deps: all_children, else children. */
void lm_graph_mark_descendants(struct lm_graph *g, const int *start, size_t n, int deps,
                               uint32_t *m, uint32_t stamp);
/* Whether a and b are on one line: one is an ancestor of the other. */
int lm_graph_shares_lineage(struct lm_graph *g, int a, int b, int deps);

#endif
