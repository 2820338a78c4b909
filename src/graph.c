/*
 * graph.c -- the revision graph's storage and the queries every other
 * graph file is built on: the id and label maps, lookups, and the walks
 * up and down (ancestors, descendants, lineage). It calls no other graph
 * file; graph_build.c fills it.
 */
#include "graph_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- small containers ---- */

void lm_ilist_push(struct lm_ilist *l, int x) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 4;
    l->v = lm_realloc(l->v, l->cap * sizeof *l->v);
  }
  l->v[l->n++] = x;
}

void lm_ilist_release(struct lm_ilist *l) {
  free(l->v);
  *l = (struct lm_ilist)LM_ILIST_INIT;
}

int lm_ilist_has(const struct lm_ilist *l, int x) {
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i] == x) return 1;
  return 0;
}

static void strmap_grow(struct lm_strmap *m);

/* Returns the slot of key: its own if present, else the empty one where it
 * would go. */
static size_t strmap_slot(const struct lm_strmap *m, const char *key) {
  size_t mask = m->cap - 1, i = (size_t)lm_fnv1a64(LM_FNV1A64_BASIS, key, strlen(key)) & mask;
  while (m->keys[i] && strcmp(m->keys[i], key) != 0) i = (i + 1) & mask;
  return i;
}

int lm_strmap_get(const struct lm_strmap *m, const char *key) {
  if (m->cap == 0) return -1;
  size_t i = strmap_slot(m, key);
  return m->keys[i] ? m->vals[i] : -1;
}

/* key is borrowed: it must outlive the map. Replaces an existing value. */
void lm_strmap_put(struct lm_strmap *m, const char *key, int val) {
  if ((m->count + 1) * 2 > m->cap) strmap_grow(m);
  size_t i = strmap_slot(m, key);
  if (!m->keys[i]) m->count++;
  m->keys[i] = key;
  m->vals[i] = val;
}

static void strmap_grow(struct lm_strmap *m) {
  struct lm_strmap old = *m;
  m->cap = old.cap ? old.cap * 2 : 64;
  m->keys = lm_malloc(m->cap * sizeof *m->keys);
  memset(m->keys, 0, m->cap * sizeof *m->keys);
  m->vals = lm_malloc(m->cap * sizeof *m->vals);
  m->count = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (old.keys[i]) lm_strmap_put(m, old.keys[i], old.vals[i]);
  free(old.keys);
  free(old.vals);
}

static void strmap_release(struct lm_strmap *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

/* ---- lifecycle ---- */

struct lm_graph *lm_graph_new(void) {
  struct lm_graph *g = lm_malloc(sizeof *g);
  memset(g, 0, sizeof *g);
  return g;
}
static void free_strings(char **s, size_t n) {
  for (size_t i = 0; i < n; i++) free(s[i]);
  free(s);
}

/* Frees what linking made (graph_build.c's links, labels, heads and
 * bases), leaving the revisions' own fields, so that a view can be
 * linked again; lm_graph_free ends with it. */
void lm_graph_unlink(struct lm_graph *g) {
  for (size_t i = 0; i < g->nrevs; i++) {
    struct lm_rev *r = &g->revs[i];
    free(r->down);
    r->down = NULL;
    lm_ilist_release(&r->deps);
    lm_ilist_release(&r->norm_down);
    lm_ilist_release(&r->children);
    lm_ilist_release(&r->all_children);
    lm_ilist_release(&r->norm_children);
    lm_ilist_release(&r->labels);
    r->topo = 0;
  }
  for (size_t i = 0; i < g->nlabels; i++) free(g->labels[i].name);
  g->nlabels = 0;
  strmap_release(&g->label_map);
  free(g->keys);
  g->keys = NULL;
  g->nkeys = 0;
  lm_ilist_release(&g->heads);
  lm_ilist_release(&g->real_heads);
  lm_ilist_release(&g->bases);
  lm_ilist_release(&g->real_bases);
}

void lm_graph_free(struct lm_graph *g) {
  if (g == NULL) return;
  lm_graph_unlink(g);
  for (size_t i = 0; i < g->nrevs; i++) {
    struct lm_rev *r = &g->revs[i];
    free(r->id);
    free(r->path);
    free_strings(r->down_names, r->ndown_names);
    free_strings(r->replace_names, r->nreplaces);
    free(r->replaced);
    free_strings(r->dep_names, r->ndep_names);
    free_strings(r->own_labels, r->nown_labels);
  }
  free(g->revs);
  free(g->labels);
  strmap_release(&g->ids);
  free(g->mark);
  free(g->mark2);
  free(g->mark3);
  free(g->stack);
  free(g->emh_arg);
  lm_ilist_release(&g->alias);
  free(g);
}

/* ---- lookups ---- */

int lm_graph_find(const struct lm_graph *g, const char *id) { return lm_strmap_get(&g->ids, id); }

int lm_graph_find_row(const struct lm_graph *g, const char *id) {
  int r = lm_strmap_get(&g->ids, id);
  if (r >= 0 && g->revs[r].squash >= 0 && g->revs[g->revs[r].squash].in_effect)
    return g->revs[r].squash;
  if (r >= 0 && g->revs[r].nreplaces && !g->revs[r].in_effect)    /* the chain's last */
    return g->revs[r].replaced[g->revs[r].nreplaces - 1];
  return r;
}

int lm_graph_lookup(const struct lm_graph *g, const char *key) {
  int r = lm_strmap_get(&g->ids, key);
  if (r >= 0 && g->revs[r].hidden) return -1;     /* out of this view: targets say so */
  if (r >= 0) return r;
  int l = lm_strmap_get(&g->label_map, key);
  return l >= 0 ? g->labels[l].rev : -1;
}

int lm_graph_has_label(const struct lm_graph *g, int rev, const char *label) {
  int l = lm_strmap_get(&g->label_map, label);
  return l >= 0 && lm_ilist_has(&g->revs[rev].labels, l);
}

int lm_graph_is_branch_point(const struct lm_graph *g, int rev) {
  return g->revs[rev].children.n > 1;
}

int lm_graph_is_merge_point(const struct lm_graph *g, int rev) { return g->revs[rev].ndown > 1; }

int lm_graph_is_effective_head(const struct lm_graph *g, int rev) {
  return g->revs[rev].children.n == 0 && g->revs[rev].all_children.n > 0;
}

void lm_graph_sort_by_id(const struct lm_graph *g, int *v, size_t n) {
  if (n < 2) return;
  int *tmp = lm_malloc(n * sizeof *tmp);              /* bottom-up merge sort: stable */
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi)
        tmp[k++] = strcmp(g->revs[v[j]].id, g->revs[v[i]].id) < 0 ? v[j++] : v[i++];
      while (i < mid) tmp[k++] = v[i++];
      while (j < hi) tmp[k++] = v[j++];
    }
    memcpy(v, tmp, n * sizeof *v);
  }
  free(tmp);
}

/* ---- walks ---- */

uint32_t *lm_graph_marks_new(size_t n) {
  uint32_t *m = lm_malloc(n * sizeof *m);
  memset(m, 0, n * sizeof *m);
  return m;
}

uint32_t lm_graph_new_stamp(struct lm_graph *g) {
  if (++g->stamp == 0) {             /* wrapped: clear every mark array */
    memset(g->mark, 0, g->nrevs * sizeof *g->mark);
    memset(g->mark2, 0, g->nrevs * sizeof *g->mark2);
    memset(g->mark3, 0, g->nrevs * sizeof *g->mark3);
    g->stamp = 1;
  }
  return g->stamp;
}

/* Depth-first over one adjacency kind, marking as it goes; appends each
 * revision reached to seen when given. The stack holds each revision at
 * most once because it is marked when pushed. */
void lm_graph_mark_walk(struct lm_graph *g, const int *start, size_t n, int kind, uint32_t *m,
                        uint32_t stamp, struct lm_ilist *seen) {
  size_t top = 0;
  int *stack = g->stack;
  for (size_t i = 0; i < n; i++) {
    if (start[i] < 0 || m[start[i]] == stamp) continue;
    m[start[i]] = stamp;
    stack[top++] = start[i];
  }
  while (top) {
    int x = stack[--top];
    struct lm_rev *r = &g->revs[x];
    if (seen) lm_ilist_push(seen, x);
    const int *next = NULL, *next2 = NULL;
    size_t nn = 0, nn2 = 0;
    switch (kind) {
    case WALK_DOWN: next = r->down; nn = r->ndown; break;
    case WALK_NORM_DOWN: next = r->norm_down.v; nn = r->norm_down.n; break;
    case WALK_ALL_DOWN:
      next = r->down; nn = r->ndown;
      next2 = r->deps.v; nn2 = r->deps.n;
      break;
    case WALK_CHILDREN: next = r->children.v; nn = r->children.n; break;
    default: next = r->all_children.v; nn = r->all_children.n; break;
    }
    for (size_t j = 0; j < nn + nn2; j++) {
      int y = j < nn ? next[j] : next2[j - nn];
      if (m[y] != stamp) {
        m[y] = stamp;
        stack[top++] = y;
      }
    }
  }
}

void lm_graph_mark_ancestors(struct lm_graph *g, const int *start, size_t n, int deps,
                             uint32_t *m, uint32_t stamp) {
  lm_graph_mark_walk(g, start, n, deps ? WALK_NORM_DOWN : WALK_DOWN, m, stamp, NULL);
}

void lm_graph_mark_descendants(struct lm_graph *g, const int *start, size_t n, int deps,
                               uint32_t *m, uint32_t stamp) {
  lm_graph_mark_walk(g, start, n, deps ? WALK_ALL_CHILDREN : WALK_CHILDREN, m, stamp, NULL);
}

/* Alembic's _shares_lineage for one pair: b is among a's ancestors or
 * descendants (a itself included). Uses g->mark. */
int lm_graph_shares_lineage(struct lm_graph *g, int a, int b, int deps) {
  if (a == b) return 1;
  struct lm_rev *ra = &g->revs[a], *rb = &g->revs[b];
  /* An ancestor has a smaller topological position: walk only one way. */
  uint32_t s = lm_graph_new_stamp(g);
  if (rb->topo < ra->topo) {
    lm_graph_mark_ancestors(g, &a, 1, deps, g->mark, s);
  } else {
    lm_graph_mark_descendants(g, &a, 1, deps, g->mark, s);
  }
  return g->mark[b] == s;
}

/* Alembic's _get_all_current: the revisions and their ancestors, reduced
 * to those with no descendant (through down_revision) among them. The set
 * holds every parent of its members, so a member has a descendant in it
 * exactly when one of its children is in it. */
void lm_graph_all_current(struct lm_graph *g, const int *revs, size_t n, struct lm_ilist *out) {
  struct lm_ilist set = LM_ILIST_INIT;
  uint32_t s = lm_graph_new_stamp(g);
  lm_graph_mark_walk(g, revs, n, WALK_NORM_DOWN, g->mark2, s, &set);
  for (size_t i = 0; i < g->nrevs; i++) {
    if (g->mark2[i] != s) continue;                  /* load order, not walk order */
    struct lm_rev *r = &g->revs[i];
    int covered = 0;
    for (size_t j = 0; j < r->children.n && !covered; j++) covered = g->mark2[r->children.v[j]] == s;
    if (!covered) lm_ilist_push(out, (int)i);
  }
  lm_ilist_release(&set);
}

/* ---- failures ---- */

int lm_graph_fail(struct lm_graph *g, struct lm_err *e, int kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lm_err_setv(e, LM_ERROR, fmt, ap);
  va_end(ap);
  g->ekind = kind;
  return LM_ERROR;
}
