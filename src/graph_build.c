/*
 * graph_build.c -- filling the graph: adding revisions (the id grammar),
 * linking parents and dependencies, the checks Alembic makes (and the ones
 * it only warns about, made errors here), cycles, branch-label
 * propagation, and the indices the queries use (topological positions,
 * the sorted prefix index).
 */
#include "graph_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char **copy_strings(const char *const *s, size_t n) {
  if (n == 0) return NULL;
  char **out = lm_malloc(n * sizeof *out);
  for (size_t i = 0; i < n; i++) out[i] = lm_strdup(s[i]);
  return out;
}


/* Alembic's verify_rev_id, plus the version table's width. The grammar's
 * characters are listed sorted, as Alembic lists them; file_safe adds "/"
 * and control characters (shown as \ddd, in the list and the id). */
int lm_rev_id_check(const char *id, size_t len, int file_safe, struct lm_err *e) {
  if (len == 0) {
    lm_err_set(e, LM_ERROR, "revision id is empty");
    return LM_REV_ID_EMPTY;
  }
  unsigned char seen[256] = {0};
  int any = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)id[i];
    int grammar = c && strchr("+-:@", c) != NULL;
    int unsafe = file_safe && (c == '/' || c < 32 || c == 127);
    if (grammar || unsafe) {
      seen[c] = 1;
      any = 1;
    }
  }
  if (any) {
    struct lm_buf list = LM_BUF_INIT, shown = LM_BUF_INIT;
    for (int c = 0; c < 256; c++) {
      if (!seen[c]) continue;
      if (list.len) lm_buf_adds(&list, ", ");
      if (c < 32 || c == 127) lm_buf_printf(&list, "\\%03d", c);
      else lm_buf_addc(&list, (char)c);
    }
    for (size_t i = 0; i < len; i++) {
      unsigned char c = (unsigned char)id[i];
      if (file_safe && (c < 32 || c == 127)) lm_buf_printf(&shown, "\\%03d", c);
      else lm_buf_addc(&shown, (char)c);
    }
    lm_err_set(e, LM_ERROR, "Character(s) '%s' not allowed in revision identifier '%s'",
               list.data, shown.data);
    lm_buf_release(&list);
    lm_buf_release(&shown);
    return LM_REV_ID_CHARACTERS;
  }
  if (len > LM_REV_ID_MAX) {                         /* version_num is VARCHAR(64) */
    lm_err_set(e, LM_ERROR, "revision id '%s' is %zu characters long; the version table "
               "holds ids of at most %d (use a shorter revision)", id, len, LM_REV_ID_MAX);
    return LM_REV_ID_LENGTH;
  }
  return LM_REV_ID_OK;
}

/* Prefixes the message with "path: " when the file is known, so messages
 * name it. Returns LM_ERROR. */
static int in_file(struct lm_err *e, const char *path) {
  if (path) lm_err_prefix(e, "%s", path);
  return LM_ERROR;
}

/* Sets the message and names the file (in_file). Returns LM_ERROR. */
static int file_error(struct lm_err *e, const char *path, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static int file_error(struct lm_err *e, const char *path, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lm_err_setv(e, LM_ERROR, fmt, ap);
  va_end(ap);
  return in_file(e, path);
}

int lm_graph_add(struct lm_graph *g, const struct lm_rev_spec *spec, struct lm_err *e) {
  const char *id = spec->id;
  if (g->built)
    return lm_err_set(e, LM_ERROR, "revision %s added after the graph was built", id);
  if (lm_rev_id_check(id ? id : "", id ? strlen(id) : 0, 0, e) != LM_REV_ID_OK)
    return in_file(e, spec->path);
  for (size_t i = 0; i < spec->ndown; i++)
    if (strcmp(spec->down[i], id) == 0)
      return file_error(e, spec->path, "Self-loop is detected in revisions (%s)", id);
  for (size_t i = 0; i < spec->ndepends_on; i++)
    if (strcmp(spec->depends_on[i], id) == 0)
      return file_error(e, spec->path, "Dependency self-loop is detected in revisions (%s)", id);
  for (size_t i = 0; i < spec->ndown; i++)
    if (spec->down[i][0] == '\0')
      return file_error(e, spec->path, "revision %s has an empty down_revision", id);
  int dup = lm_strmap_get(&g->ids, id);
  if (dup >= 0 && g->revs[dup].path && spec->path)
    return lm_err_set(e, LM_ERROR, "Revision %s is present more than once: %s and %s", id,
                      g->revs[dup].path, spec->path);
  if (dup >= 0)
    return lm_err_set(e, LM_ERROR, "Revision %s is present more than once", id);
  if (g->nrevs == g->cap) {
    g->cap = g->cap ? g->cap * 2 : 64;
    g->revs = lm_realloc(g->revs, g->cap * sizeof *g->revs);
  }
  struct lm_rev *r = &g->revs[g->nrevs];
  memset(r, 0, sizeof *r);
  r->id = lm_strdup(id);
  r->path = spec->path ? lm_strdup(spec->path) : NULL;
  r->has_downgrade = spec->has_downgrade;
  r->down_names = copy_strings(spec->down, spec->ndown);
  r->ndown_names = r->ndown = spec->ndown;
  r->replace_names = copy_strings(spec->replaces, spec->nreplaces);
  r->nreplaces = spec->nreplaces;
  r->ghost = spec->ghost;
  r->squash = -1;
  if (spec->nreplaces) g->nsquashes++;
  r->dep_names = copy_strings(spec->depends_on, spec->ndepends_on);
  r->ndep_names = spec->ndepends_on;
  r->own_labels = copy_strings(spec->labels, spec->nlabels);
  r->nown_labels = spec->nlabels;
  /* The map borrows r->id; revs may move on realloc, so rebuild pointers
   * into it are not kept: the id string itself never moves. */
  lm_strmap_put(&g->ids, r->id, (int)g->nrevs);
  g->nrevs++;
  return LM_OK;
}


/* ---- building ---- */

static int key_cmp(const void *a, const void *b) {
  return strcmp(((const struct lm_key *)a)->key, ((const struct lm_key *)b)->key);
}

/* The revisions of one cycle as "(a, b, c); files: ..." (at most 20
 * files shown), for cycle errors. */
static char *describe_cycle(struct lm_graph *g, const int *v, size_t n) {
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_adds(&b, "(");
  for (size_t i = 0; i < n; i++) {
    if (i) lm_buf_adds(&b, ", ");
    lm_buf_adds(&b, g->revs[v[i]].id);
  }
  lm_buf_adds(&b, ")");
  size_t shown = 0;
  for (size_t i = 0; i < n && shown < 20; i++) {
    if (!g->revs[v[i]].path) continue;
    lm_buf_adds(&b, shown ? ", " : "; files: ");
    lm_buf_adds(&b, g->revs[v[i]].path);
    shown++;
  }
  if (shown == 20 && n > 20) lm_buf_printf(&b, ", ... (%zu revisions)", n);
  return lm_buf_detach(&b);
}

/* Finds one cycle and reports exactly its revisions, in the order they
 * would run (each is a parent of the next, the last one of the first),
 * starting at the smallest id, with their files; deps selects the links
 * through depends_on too. Alembic's own check (every revision both an
 * ancestor of a head and a descendant of a base) lists revisions that
 * merely hang from a cycle, and misses a cycle that a base leads into and
 * a head leads out of; a depth-first search does neither. Revisions are
 * tried in load order, so the cycle reported is always the same one. */
static int detect_cycles(struct lm_graph *g, int deps, struct lm_err *e) {
  enum { WHITE, GREY, BLACK };
  size_t n = g->nrevs;
  unsigned char *colour = lm_malloc(n);
  int *path = lm_malloc(n * sizeof *path);    /* the grey revisions, root first */
  size_t *next = lm_malloc(n * sizeof *next); /* path[i]'s next child to try */
  memset(colour, WHITE, n);
  size_t depth = 0, cycle_at = 0, cycle_len = 0;
  for (size_t root = 0; root < n && cycle_len == 0; root++) {
    if (colour[root] != WHITE) continue;
    colour[root] = GREY;
    path[0] = (int)root;
    next[0] = 0;
    depth = 1;
    while (depth > 0 && cycle_len == 0) {
      const struct lm_rev *r = &g->revs[path[depth - 1]];
      const struct lm_ilist *kids = deps ? &r->all_children : &r->children;
      if (next[depth - 1] == kids->n) {
        colour[path[--depth]] = BLACK;
        continue;
      }
      int c = kids->v[next[depth - 1]++];
      if (colour[c] == WHITE) {
        colour[c] = GREY;
        path[depth] = c;
        next[depth++] = 0;
      } else if (colour[c] == GREY) {                  /* back to the path: a cycle */
        cycle_at = depth - 1;
        while (path[cycle_at] != c) cycle_at--;
        cycle_len = depth - cycle_at;
      }
    }
  }
  int rc = LM_OK;
  if (cycle_len > 0) {
    int *cycle = path + cycle_at;
    size_t first = 0;                                  /* rotate: smallest id first */
    for (size_t i = 1; i < cycle_len; i++)
      if (strcmp(g->revs[cycle[i]].id, g->revs[cycle[first]].id) < 0) first = i;
    int *ordered = lm_malloc(cycle_len * sizeof *ordered);
    for (size_t i = 0; i < cycle_len; i++) ordered[i] = cycle[(first + i) % cycle_len];
    char *set = describe_cycle(g, ordered, cycle_len);
    const char *head = g->revs[ordered[0]].id, *last = g->revs[ordered[cycle_len - 1]].id;
    if (deps)
      rc = lm_err_set(e, LM_ERROR, "Dependency cycle is detected in revisions %s. Each is in the "
                      "down_revision or depends_on of the next, and %s is in %s's: remove one "
                      "of these links to break the cycle", set, last, head);
    else
      rc = lm_err_set(e, LM_ERROR, "Cycle is detected in revisions %s. Each is the down_revision "
                      "of the next, and %s is the down_revision of %s: set one of these "
                      "down_revisions to a revision outside the cycle (or nil) to break it", set,
                      last, head);
    free(set);
    free(ordered);
  }
  free(colour);
  free(path);
  free(next);
  return rc;
}

/* Alembic's _add_branches: a label covers the labelled revision, all its
 * descendants, and -- when the line above it is a plain chain -- its
 * ancestors down to the previous branch point or merge point. */
static void propagate_label(struct lm_graph *g, int rev, int label) {
  uint32_t s = lm_graph_new_stamp(g);
  struct lm_ilist seen = LM_ILIST_INIT;
  lm_graph_mark_walk(g, &rev, 1, WALK_CHILDREN, g->mark, s, &seen);
  for (size_t i = 0; i < seen.n; i++)
    if (!lm_ilist_has(&g->revs[seen.v[i]].labels, label))
      lm_ilist_push(&g->revs[seen.v[i]].labels, label);
  lm_ilist_release(&seen);
  /* Alembic walks down from the last descendant it visited. Only when the
   * descendants form a single chain is that walk deterministic and able to
   * pass below rev; find that chain's tip and check the chain. */
  int tip = rev;
  while (g->revs[tip].children.n == 1) tip = g->revs[tip].children.v[0];
  if (g->revs[tip].children.n > 1) return;
  int p = tip;
  for (;;) {
    struct lm_rev *r = &g->revs[p];
    if (r->all_children.n > 1 || r->ndown > 1) return;
    if (!lm_ilist_has(&r->labels, label)) lm_ilist_push(&r->labels, label);
    if (r->ndown == 0) return;
    p = r->down[0];
  }
}

/* Alembic's _normalize_depends_on: drop the dependencies an ancestor
 * (through down_revision) already depends on. The walk down stops as soon
 * as every dependency is accounted for, so a line whose revisions all
 * depend on the same thing costs one step per revision, not its length. */
static void normalize_deps(struct lm_graph *g, int rev) {
  struct lm_rev *r = &g->revs[rev];
  for (size_t i = 0; i < r->ndown; i++) lm_ilist_push(&r->norm_down, r->down[i]);
  if (r->deps.n == 0) return;
  uint32_t want = lm_graph_new_stamp(g), found = lm_graph_new_stamp(g);
  size_t left = r->deps.n;
  for (size_t i = 0; i < r->deps.n; i++) g->mark3[r->deps.v[i]] = want;
  uint32_t seen = lm_graph_new_stamp(g);
  int *stack = g->stack;
  size_t top = 0;
  for (size_t i = 0; i < r->ndown; i++)
    if (g->mark[r->down[i]] != seen) {
      g->mark[r->down[i]] = seen;
      stack[top++] = r->down[i];
    }
  while (top && left) {
    struct lm_rev *a = &g->revs[stack[--top]];
    for (size_t j = 0; j < a->deps.n; j++)
      if (g->mark3[a->deps.v[j]] == want) {
        g->mark3[a->deps.v[j]] = found;
        left--;
      }
    for (size_t j = 0; j < a->ndown; j++)
      if (g->mark[a->down[j]] != seen) {
        g->mark[a->down[j]] = seen;
        stack[top++] = a->down[j];
      }
  }
  for (size_t i = 0; i < r->deps.n; i++) {
    int d = r->deps.v[i];
    if (g->mark3[d] == want && !lm_ilist_has(&r->norm_down, d)) lm_ilist_push(&r->norm_down, d);
  }
}

/* ---- squashes: the chains they replace ---- */

/* A parent's name as the graph reads it: the last revision of a squashed
 * chain and its squash are one parent (a child may name either, as the
 * graph's views link them), so both read as the squash. */
static const char *parent_key(const struct lm_graph *g, const char *name) {
  int x = lm_strmap_get(&g->ids, name);
  if (x < 0 || g->revs[x].squash < 0) return name;
  const struct lm_rev *S = &g->revs[g->revs[x].squash];
  return S->replaced[S->nreplaces - 1] == x ? S->id : name;
}

/* Whether two down_revision lists name the same parents, in order. */
static int same_parents(const struct lm_graph *g, char **a, size_t na, char **b, size_t nb) {
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++)
    if (strcmp(parent_key(g, a[i]), parent_key(g, b[i])) != 0) return 0;
  return 1;
}

/* Links each squash to the revisions it replaces (a ghost, a revision with
 * no file, stands for each one gone), and checks what replaces may say: a
 * linear chain, oldest first, whose first revision has the squash's
 * down_revision, no revision replaced twice, no squash of a squash, and
 * either all of the chain's files or none (a missing id beside present
 * ones is a mistake in replaces, not a deleted file). */
static int setup_squashes(struct lm_graph *g, struct lm_err *e) {
  size_t loaded = g->nrevs;
  for (size_t i = 0; i < loaded; i++) {
    if (g->revs[i].nreplaces == 0) continue;
    g->revs[i].replaced = lm_malloc(g->revs[i].nreplaces * sizeof *g->revs[i].replaced);
    g->revs[i].complete = 1;
    for (size_t j = 0; j < g->revs[i].nreplaces; j++) {
      const char *name = g->revs[i].replace_names[j];
      if (strcmp(name, g->revs[i].id) == 0)
        return file_error(e, g->revs[i].path, "revision %s replaces itself", name);
      int x = lm_strmap_get(&g->ids, name);
      if (x < 0) {                                     /* its file is gone */
        struct lm_rev_spec ghost = {.id = name, .has_downgrade = 1, .ghost = 1};
        if (lm_graph_add(g, &ghost, e) != LM_OK) return in_file(e, g->revs[i].path);
        x = (int)g->nrevs - 1;
      }
      struct lm_rev *S = &g->revs[i], *r = &g->revs[x];   /* after the add: revs may move */
      if (r->nreplaces)
        return file_error(e, S->path, "revision %s replaces %s, which is itself a squash "
                          "(replaces %s...): squash the original revisions instead", S->id,
                          r->id, r->replace_names[0]);
      if (r->squash == (int)i)
        return file_error(e, S->path, "revision %s lists %s twice in replaces", S->id, name);
      if (r->squash >= 0)
        return file_error(e, S->path, "revision %s is replaced by both %s and %s: a revision "
                          "may be squashed only once", name, g->revs[r->squash].id, S->id);
      r->squash = (int)i;
      S->replaced[j] = x;
      if (r->ghost) S->complete = 0;
    }
  }
  for (size_t i = 0; i < loaded; i++) {                /* every squash linked: check */
    struct lm_rev *S = &g->revs[i];
    if (S->nreplaces == 0) continue;
    if (!S->complete) {                                /* the chain can no longer be checked */
      const struct lm_rev *gone = NULL, *there = NULL;
      for (size_t j = 0; j < S->nreplaces; j++) {
        const struct lm_rev *r = &g->revs[S->replaced[j]];
        if (r->ghost && !gone) gone = r;
        if (!r->ghost && !there) there = r;
      }
      if (there)
        return file_error(e, S->path, "revision %s replaces %s, which no script defines, while "
                          "%s, also in its replaces, is there: correct the id in replaces (the "
                          "files of a squashed chain are deleted all together, once every "
                          "database is past it)", S->id, gone->id, there->id);
      continue;
    }
    struct lm_rev *first = &g->revs[S->replaced[0]];
    if (!same_parents(g, first->down_names, first->ndown_names, S->down_names, S->ndown_names))
      return file_error(e, S->path, "revision %s replaces %s..., but its down_revision differs "
                        "from %s's: a squash has the down_revision of the first revision it "
                        "replaces", S->id, first->id, first->id);
    for (size_t j = 1; j < S->nreplaces; j++) {
      struct lm_rev *r = &g->revs[S->replaced[j]], *prev = &g->revs[S->replaced[j - 1]];
      if (r->ndown_names != 1 || strcmp(r->down_names[0], prev->id) != 0)
        return file_error(e, S->path, "revision %s: replaces must list a linear chain, oldest "
                          "first, but the down_revision of %s is not %s (the revision before "
                          "it in replaces)", S->id, r->id, prev->id);
    }
  }
  return LM_OK;
}

/* Which revisions are out of the graph: ghosts always, a squash's chain
 * while the squash is in effect, a squash while its chain runs. */
static void set_hidden(struct lm_graph *g) {
  for (size_t i = 0; i < g->nrevs; i++) {
    struct lm_rev *r = &g->revs[i];
    r->hidden = r->ghost || (r->squash >= 0 && g->revs[r->squash].in_effect) ||
                (r->nreplaces && !r->in_effect);
    r->ndown = r->hidden ? 0 : r->ndown_names;
  }
}

/* A name in down_revision or depends_on to the revision it stands for in
 * this view (a replaced id to its squash, a squash out of effect to the
 * chain's last revision); -1 when absent. Naming a revision in the middle
 * of a chain whose squash is in effect is an error. */
static int link_name(struct lm_graph *g, const struct lm_rev *from, const char *what,
                     const char *name, int *out, struct lm_err *e) {
  int x = lm_strmap_get(&g->ids, name);
  *out = x;
  if (x < 0) return LM_OK;
  const struct lm_rev *r = &g->revs[x];
  if (r->squash >= 0 && g->revs[r->squash].in_effect) {
    const struct lm_rev *S = &g->revs[r->squash];
    if (S->replaced[S->nreplaces - 1] != x)
      return file_error(e, from->path, "revision %s: %s '%s' is inside the chain squashed "
                        "into %s, where only its last revision (%s) or %s may be named",
                        from->id, what, name, S->id, g->revs[S->replaced[S->nreplaces - 1]].id,
                        S->id);
  }
  *out = lm_graph_find_row(g, name);
  return LM_OK;
}

static int link_graph(struct lm_graph *g, struct lm_err *e);

int lm_graph_relink(struct lm_graph *g, struct lm_err *e) {
  lm_graph_unlink(g);
  set_hidden(g);
  return link_graph(g, e);
}

int lm_graph_build(struct lm_graph *g, struct lm_err *e) {
  if (g->built) return LM_OK;
  if (g->nsquashes && setup_squashes(g, e) != LM_OK) return LM_ERROR;
  size_t n = g->nrevs;
  g->mark = lm_graph_marks_new(n);
  g->mark2 = lm_graph_marks_new(n);
  g->mark3 = lm_graph_marks_new(n);
  g->stack = lm_malloc(n * sizeof *g->stack);
  if (g->nsquashes) {                 /* check the chains' view too, then the squashes' */
    for (size_t i = 0; i < n; i++) g->revs[i].in_effect = !g->revs[i].complete;
    set_hidden(g);
    if (link_graph(g, e) != LM_OK) return LM_ERROR;
    lm_graph_unlink(g);
  }
  for (size_t i = 0; i < n; i++) g->revs[i].in_effect = 1;
  set_hidden(g);
  if (link_graph(g, e) != LM_OK) return LM_ERROR;
  g->built = 1;
  return LM_OK;
}

/* Links the revisions that are in the graph (not hidden) in the current
 * view: labels, parents, dependencies, children, heads and bases, cycles,
 * topological positions, label propagation, the prefix index. */
static int link_graph(struct lm_graph *g, struct lm_err *e) {
  size_t n = g->nrevs;

  /* Branch labels: each name once, and never an existing revision id. */
  for (size_t i = 0; i < n; i++) {
    struct lm_rev *r = &g->revs[i];
    if (r->hidden) continue;
    for (size_t j = 0; j < r->nown_labels; j++) {
      const char *name = r->own_labels[j];
      int other = lm_strmap_get(&g->ids, name);
      int lab = lm_strmap_get(&g->label_map, name);
      if (lab >= 0) other = g->labels[lab].rev;
      if (other >= 0 && g->revs[other].path)
        return file_error(e, r->path,
                          "Branch name '%s' in revision %s already used by revision %s (%s)",
                          name, r->id, g->revs[other].id, g->revs[other].path);
      if (other >= 0)
        return file_error(e, r->path,
                          "Branch name '%s' in revision %s already used by revision %s", name,
                          r->id, g->revs[other].id);
      if (name[0] == '\0')
        return file_error(e, r->path, "revision %s has an empty branch label", r->id);
      if (g->nlabels == g->labels_cap) {
        g->labels_cap = g->labels_cap ? g->labels_cap * 2 : 16;
        g->labels = lm_realloc(g->labels, g->labels_cap * sizeof *g->labels);
      }
      g->labels[g->nlabels].name = lm_strdup(name);
      g->labels[g->nlabels].rev = (int)i;
      lm_strmap_put(&g->label_map, g->labels[g->nlabels].name, (int)g->nlabels);
      g->nlabels++;
    }
  }

  /* Parents and dependencies (a dependency may name a label). */
  for (size_t i = 0; i < n; i++) {
    struct lm_rev *r = &g->revs[i];
    if (r->hidden) continue;
    r->down = lm_malloc(r->ndown * sizeof *r->down);
    for (size_t j = 0; j < r->ndown; j++) {
      int p;
      if (link_name(g, r, "down_revision", r->down_names[j], &p, e) != LM_OK) return LM_ERROR;
      if (p < 0)
        return file_error(e, r->path, "revision %s: down_revision '%s' is not present", r->id,
                          r->down_names[j]);
      r->down[j] = p;
    }
    for (size_t j = 0; j < r->ndep_names; j++) {
      int d;
      if (link_name(g, r, "depends_on", r->dep_names[j], &d, e) != LM_OK) return LM_ERROR;
      if (d < 0) {
        int lab = lm_strmap_get(&g->label_map, r->dep_names[j]);
        if (lab >= 0) d = g->labels[lab].rev;
      }
      if (d < 0)
        return file_error(e, r->path, "revision %s: depends_on '%s' is not present", r->id,
                          r->dep_names[j]);
      if (d == (int)i)
        return file_error(e, r->path, "Dependency self-loop is detected in revisions (%s)",
                          r->id);
      if (!lm_ilist_has(&r->deps, d)) lm_ilist_push(&r->deps, d);
    }
  }
  /* Children: through down_revision, and through either. */
  for (size_t i = 0; i < n; i++) {
    struct lm_rev *r = &g->revs[i];
    for (size_t j = 0; j < r->ndown; j++) {
      struct lm_rev *p = &g->revs[r->down[j]];
      if (!lm_ilist_has(&p->children, (int)i)) lm_ilist_push(&p->children, (int)i);
      if (!lm_ilist_has(&p->all_children, (int)i)) lm_ilist_push(&p->all_children, (int)i);
    }
    for (size_t j = 0; j < r->deps.n; j++) {
      struct lm_rev *p = &g->revs[r->deps.v[j]];
      if (!lm_ilist_has(&p->all_children, (int)i)) lm_ilist_push(&p->all_children, (int)i);
    }
  }
  for (size_t i = 0; i < n; i++) {
    struct lm_rev *r = &g->revs[i];
    if (r->hidden) continue;
    if (r->children.n == 0) lm_ilist_push(&g->heads, (int)i);
    if (r->all_children.n == 0) lm_ilist_push(&g->real_heads, (int)i);
    if (r->ndown == 0) lm_ilist_push(&g->bases, (int)i);
    if (r->ndown == 0 && r->ndep_names == 0) lm_ilist_push(&g->real_bases, (int)i);
  }
  if (n > 0) {
    if (detect_cycles(g, 0, e) || detect_cycles(g, 1, e)) return LM_ERROR;
  }

  /* A topological position (Kahn over parents and dependencies, ties in
   * load order): an ancestor always has a smaller one. */
  {
    int *indeg = lm_malloc(n * sizeof *indeg);
    int *queue = lm_malloc(n * sizeof *queue);
    size_t qh = 0, qt = 0;
    memset(indeg, 0, n * sizeof *indeg);
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < g->revs[i].all_children.n; j++) indeg[g->revs[i].all_children.v[j]]++;
    for (size_t i = 0; i < n; i++)
      if (indeg[i] == 0) queue[qt++] = (int)i;
    int pos = 0;
    while (qh < qt) {
      int x = queue[qh++];
      g->revs[x].topo = pos++;
      struct lm_rev *r = &g->revs[x];
      for (size_t j = 0; j < r->all_children.n; j++)
        if (--indeg[r->all_children.v[j]] == 0) queue[qt++] = r->all_children.v[j];
    }
    free(indeg);
    free(queue);
  }

  for (size_t i = 0; i < n; i++) normalize_deps(g, (int)i);
  for (size_t i = 0; i < n; i++) {
    struct lm_rev *r = &g->revs[i];
    for (size_t j = 0; j < r->norm_down.n; j++)
      lm_ilist_push(&g->revs[r->norm_down.v[j]].norm_children, (int)i);
  }
  for (size_t l = 0; l < g->nlabels; l++) {
    int rev = g->labels[l].rev;
    if (!lm_ilist_has(&g->revs[rev].labels, (int)l)) lm_ilist_push(&g->revs[rev].labels, (int)l);
  }
  for (size_t l = 0; l < g->nlabels; l++) propagate_label(g, g->labels[l].rev, (int)l);

  /* The prefix index: every id in the graph and every label, sorted. */
  g->keys = lm_malloc((n + g->nlabels) * sizeof *g->keys);
  g->nkeys = 0;
  for (size_t i = 0; i < n; i++)
    if (!g->revs[i].hidden) g->keys[g->nkeys++] = (struct lm_key){g->revs[i].id, (int)i};
  for (size_t l = 0; l < g->nlabels; l++)
    g->keys[g->nkeys++] = (struct lm_key){g->labels[l].name, g->labels[l].rev};
  if (g->nkeys > 1) qsort(g->keys, g->nkeys, sizeof *g->keys, key_cmp);
  return LM_OK;
}

