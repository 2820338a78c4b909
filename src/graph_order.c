/*
 * graph_order.c -- in which order: Alembic's _topological_sort of the
 * revisions a path runs (which branch to finish first), and the orders of
 * the whole graph that depend on no target: every revision oldest first
 * (the order listings and `verify` report in), and the applied set of a
 * version table in that order.
 *
 * The topological sort keeps Alembic's choice of which branch to finish
 * first, but tests "is this revision below another pending head" by
 * counting pending children instead of recomputing ancestor sets, so a
 * full path over n revisions costs about O(n) for chains and merges alike.
 */
#include "graph_int.h"

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
  size_t k = 0;
  for (size_t i = 0; i < n; i++)                   /* out of the view: not in the graph */
    if (!g->revs[i].hidden) v[k++] = (struct ranked){(int)i, depth[i], g->revs[i].id};
  qsort(v, k, sizeof *v, ranked_cmp);
  for (size_t i = 0; i < k; i++) lm_ilist_push(out, v[i].rev);
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

/* ---- _topological_sort ---- */

/* Orders the revisions with todo[i] set, children before parents, starting
 * from heads (taken in load order). Like Alembic, it follows one line down
 * until it reaches a revision some other pending line still needs, then
 * switches to the first such line. Appends to out. */
void lm_graph_topo_sort(struct lm_graph *g, unsigned char *todo, const int *heads, size_t nheads,
                      struct lm_ilist *out) {
  size_t n = g->nrevs;
  int *pending = lm_malloc(n * sizeof *pending);   /* pending children */
  unsigned char *in_front = lm_malloc(n);
  memset(in_front, 0, n);
  memset(pending, 0, n * sizeof *pending);
  for (size_t i = 0; i < n; i++) {
    if (todo[i] != 1) continue;
    struct lm_rev *r = &g->revs[i];
    for (size_t j = 0; j < r->norm_down.n; j++)
      if (todo[r->norm_down.v[j]] == 1) pending[r->norm_down.v[j]]++;
  }
  /* The starting heads: in todo, once each, in load order. */
  struct lm_ilist front = LM_ILIST_INIT;
  for (size_t i = 0; i < nheads; i++) {
    int h = heads[i];
    if (h >= 0 && todo[h] == 1 && !in_front[h]) {
      in_front[h] = 1;
      lm_ilist_push(&front, h);
    }
  }
  for (size_t i = 1; i < front.n; i++) {          /* insertion sort by index */
    int x = front.v[i];
    size_t j = i;
    while (j > 0 && front.v[j - 1] > x) {
      front.v[j] = front.v[j - 1];
      j--;
    }
    front.v[j] = x;
  }
  size_t idx = 0;
  struct lm_ilist reach = LM_ILIST_INIT;
  /* The revisions still pending above a blocked candidate only shrink as
   * the sort goes on, so the walk that finds them is kept for the last few
   * candidates: a fork point blocked again and again (a long line waiting
   * above it) is then walked once, not once per visit. */
  struct above_cache { int cand; uint32_t *mark; uint32_t stamp; size_t used; } cache[4];
  memset(cache, 0, sizeof cache);
  for (int c = 0; c < 4; c++) cache[c].cand = -1;
  size_t clock = 0;
  while (front.n) {
    int cand = front.v[idx];
    if (pending[cand] > 0) {
      /* Another line still needs cand: switch to the first line (in front
       * order) whose head has cand below it. */
      struct above_cache *ac = NULL;
      for (int c = 0; c < 4 && !ac; c++)
        if (cache[c].cand == cand) ac = &cache[c];
      if (!ac) {
        ac = &cache[0];
        for (int c = 1; c < 4; c++)
          if (cache[c].used < ac->used) ac = &cache[c];
        if (!ac->mark) {
          ac->mark = lm_graph_marks_new(n);
        }
        if (++ac->stamp == 0) {
          memset(ac->mark, 0, n * sizeof *ac->mark);
          ac->stamp = 1;
        }
        ac->cand = cand;
        uint32_t s = ac->stamp;
        size_t top = 0;
        int *stack = g->stack;
        ac->mark[cand] = s;
        stack[top++] = cand;
        while (top) {
          struct lm_rev *r = &g->revs[stack[--top]];
          for (size_t j = 0; j < r->norm_children.n; j++) {
            int y = r->norm_children.v[j];
            if (todo[y] == 1 && ac->mark[y] != s) {
              ac->mark[y] = s;
              stack[top++] = y;
            }
          }
        }
      }
      ac->used = ++clock;
      size_t found = front.n;
      for (size_t j = 0; j < front.n && found == front.n; j++)
        if (j != idx && ac->mark[front.v[j]] == ac->stamp) found = j;
      if (found < front.n) {
        idx = found;
        continue;
      }
      pending[cand] = 0;                            /* not reachable: emit anyway */
    }
    if (todo[cand] == 1) {
      todo[cand] = 2;
      lm_ilist_push(out, cand);
      struct lm_rev *r = &g->revs[cand];
      for (size_t j = 0; j < r->norm_down.n; j++)
        if (todo[r->norm_down.v[j]] == 1) pending[r->norm_down.v[j]]--;
    }
    struct lm_rev *r = &g->revs[cand];
    reach.n = 0;
    for (size_t j = 0; j < r->norm_down.n; j++) {
      int p = r->norm_down.v[j];
      if (todo[p] == 1 && !in_front[p]) {
        size_t k = 0;
        while (k < reach.n && reach.v[k] != p) k++;
        if (k == reach.n) lm_ilist_push(&reach, p);
      }
    }
    in_front[cand] = 0;
    if (reach.n == 0) {
      memmove(front.v + idx, front.v + idx + 1, (front.n - idx - 1) * sizeof *front.v);
      front.n--;
      idx = idx > 0 ? idx - 1 : 0;
    } else {
      front.v[idx] = reach.v[0];
      in_front[reach.v[0]] = 1;
      for (size_t k = 1; k < reach.n; k++) {
        lm_ilist_push(&front, reach.v[k]);
        in_front[reach.v[k]] = 1;
      }
    }
  }
  for (int c = 0; c < 4; c++) free(cache[c].mark);
  lm_ilist_release(&reach);
  lm_ilist_release(&front);
  free(pending);
  free(in_front);
}

