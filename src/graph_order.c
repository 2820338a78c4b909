/*
 * graph_order.c -- orders of the whole graph that do not depend on a
 * target: every revision oldest first (the order listings and `verify`
 * report in), and the applied set of a version table in that order.
 */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

struct ranked {
  int rev;
  int depth;
  const char *id;
};

static int ranked_cmp(const void *a, const void *b) {
  const struct ranked *x = a, *y = b;
  if (x->depth != y->depth) return x->depth < y->depth ? -1 : 1;
  return strcmp(x->id, y->id);
}

/* depth[i]: the longest walk from revision i down to a base through
 * parents and dependencies; filled parents first, in topological order. */
static int *depths(const struct lm_graph *g) {
  size_t n = g->nrevs;
  int *by_topo = lm_malloc(n * sizeof *by_topo);
  int *depth = lm_malloc(n * sizeof *depth);
  for (size_t i = 0; i < n; i++) by_topo[g->revs[i].topo] = (int)i;
  for (size_t t = 0; t < n; t++) {
    int x = by_topo[t], d = 0;
    const struct lm_rev *r = &g->revs[x];
    for (size_t j = 0; j < r->ndown; j++)
      if (depth[r->down[j]] + 1 > d) d = depth[r->down[j]] + 1;
    for (size_t j = 0; j < r->deps.n; j++)
      if (depth[r->deps.v[j]] + 1 > d) d = depth[r->deps.v[j]] + 1;
    depth[x] = d;
  }
  free(by_topo);
  return depth;
}

void lm_graph_order(const struct lm_graph *g, struct lm_ilist *out) {
  size_t n = g->nrevs;
  if (n == 0) return;
  int *depth = depths(g);
  struct ranked *v = lm_malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = (struct ranked){(int)i, depth[i], g->revs[i].id};
  qsort(v, n, sizeof *v, ranked_cmp);
  for (size_t i = 0; i < n; i++) lm_ilist_push(out, v[i].rev);
  free(v);
  free(depth);
}

void lm_graph_applied(struct lm_graph *g, const int *rows, size_t n, struct lm_ilist *out) {
  uint32_t stamp = lm_graph_new_stamp(g);
  lm_graph_mark_ancestors(g, rows, n, 1, g->mark, stamp);
  struct lm_ilist order = LM_ILIST_INIT;
  lm_graph_order(g, &order);
  for (size_t i = 0; i < order.n; i++)
    if (g->mark[order.v[i]] == stamp) lm_ilist_push(out, order.v[i]);
  lm_ilist_release(&order);
}
