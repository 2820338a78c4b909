/*
 * graph_squash.c -- squashed revisions (a revision declaring replaces =
 * {r1, ..., rn}, the chain it stands for) and Django's squashmigrations
 * rule for which one is in the graph for a database:
 *
 *   - nothing of the chain applied: the squash (fresh databases take it);
 *   - all of it applied: the squash, counted as applied (a version row
 *     naming rn is read as the squash, and the first step that moves that
 *     row writes from rn, the value stored);
 *   - part of it applied: the chain, so the database finishes the old
 *     revisions (then a row naming the squash is read as rn).
 *
 * In each view the other side is hidden: out of the heads, bases, prefix
 * index and orders, unlinked, and a down_revision or depends_on naming it
 * is read as the side in effect (graph_build.c links the views). When the
 * chain's files are gone (ghosts), only the squash can be in effect.
 * Calls graph.c and graph_build.c.
 */
#include "graph_int.h"

#include <stdlib.h>
#include <string.h>

/* Where x stands in its squash's chain (0 .. nreplaces - 1). */
static size_t chain_pos(const struct lm_graph *g, int x) {
  const struct lm_rev *S = &g->revs[g->revs[x].squash];
  size_t k = 0;
  while (S->replaced[k] != x) k++;
  return k;
}

/* Rows naming both a squash and a revision it replaces: the database is at
 * one or the other, never both, and no reading of such rows is true, so
 * every command that reads them refuses the same way (the rows must be
 * rewritten with stamp --purge, which reads none). */
static int refuse_overlap(struct lm_graph *g, const char *const *rows, size_t nrows,
                          struct lm_err *e) {
  for (size_t i = 0; i < nrows; i++) {
    int x = rows[i] ? lm_graph_find(g, rows[i]) : -1;
    if (x < 0 || g->revs[x].squash < 0) continue;
    const struct lm_rev *S = &g->revs[g->revs[x].squash];
    for (size_t j = 0; j < nrows; j++) {
      if (!rows[j] || lm_graph_find(g, rows[j]) != g->revs[x].squash) continue;
      struct lm_buf others = LM_BUF_INIT;
      for (size_t k = 0; k < nrows; k++)
        if (k != i && k != j) lm_buf_printf(&others, "%s ", rows[k]);
      const char *o = others.data ? others.data : "";
      int rc = lm_err_set(e, LM_ERROR, "the version table holds both '%s' and '%s', which %s "
                          "replaces (%s is a squash of %s..%s): a database is at one or the "
                          "other, so nothing was done; rewrite the rows with `luamig stamp "
                          "--purge %s%s` if all of %s..%s are applied, or `luamig stamp --purge "
                          "%s%s` if the database is at %s", S->id, rows[i], S->id, S->id,
                          S->replace_names[0], S->replace_names[S->nreplaces - 1], o, S->id,
                          S->replace_names[0], S->replace_names[S->nreplaces - 1], o, rows[i],
                          rows[i]);
      lm_buf_release(&others);
      g->ekind = LM_GERR_REVISION;
      return rc;
    }
  }
  return LM_OK;
}

int lm_graph_select(struct lm_graph *g, const char *const *rows, size_t nrows, struct lm_err *e) {
  g->alias.n = 0;
  if (!g->built || g->nsquashes == 0) return LM_OK;
  if (refuse_overlap(g, rows, nrows, e) != LM_OK) return LM_ERROR;
  size_t n = g->nrevs;
  unsigned char *partial = lm_malloc(n);
  memset(partial, 0, n);
  const char **partial_row = lm_calloc(n, sizeof *partial_row);
  struct lm_ilist start = LM_ILIST_INIT;
  for (size_t i = 0; i < nrows; i++) {
    int x = rows[i] ? lm_graph_find(g, rows[i]) : -1;
    if (x < 0) continue;
    const struct lm_rev *r = &g->revs[x];
    if (r->hidden && r->squash >= 0 && g->revs[r->squash].in_effect) {
      const struct lm_rev *S = &g->revs[r->squash];
      if (chain_pos(g, x) + 1 < S->nreplaces) {       /* part-way, seen from the squash's view */
        partial[r->squash] = 1;
        partial_row[r->squash] = rows[i];
        for (size_t j = 0; j < S->ndown; j++) lm_ilist_push(&start, S->down[j]);
        continue;
      }
    }
    lm_ilist_push(&start, lm_graph_find_row(g, rows[i]));
  }
  uint32_t s = lm_graph_new_stamp(g);
  lm_graph_mark_ancestors(g, start.v, start.n, 1, g->mark3, s);
  int changed = 0, rc = LM_OK;
  for (size_t i = 0; i < n && rc == LM_OK; i++) {
    struct lm_rev *S = &g->revs[i];
    if (S->nreplaces == 0) continue;
    int want = 1;
    if (!S->in_effect) {                                 /* the chain's view: count */
      size_t applied = 0;
      for (size_t j = 0; j < S->nreplaces; j++) applied += g->mark3[S->replaced[j]] == s;
      want = applied == 0 || applied == S->nreplaces;
    } else if (partial[i]) {
      want = 0;
    }
    if (!want && !S->complete) {
      struct lm_buf gone = LM_BUF_INIT;
      for (size_t j = 0; j < S->nreplaces; j++)
        if (g->revs[S->replaced[j]].ghost)
          lm_buf_printf(&gone, "%s%s", gone.len ? ", " : "", g->revs[S->replaced[j]].id);
      rc = lm_err_set(e, LM_ERROR, "the database is at %s, part-way through the revisions "
                      "squashed into %s, but the files of %s are gone: restore them (from "
                      "version control), upgrade past %s, then delete them again",
                      partial_row[i] ? partial_row[i] : "a revision", S->id, gone.data,
                      S->replace_names[S->nreplaces - 1]);
      lm_buf_release(&gone);
      g->ekind = LM_GERR_REVISION;
      break;
    }
    if (want != S->in_effect) {
      S->in_effect = want;
      changed = 1;
    }
  }
  lm_ilist_release(&start);
  free(partial);
  free(partial_row);
  if (rc == LM_OK && changed) rc = lm_graph_relink(g, e);
  return rc;
}

void lm_graph_plan_aliases(struct lm_graph *g, struct lm_plan *plan) {
  for (size_t a = 0; a + 1 < g->alias.n; a += 2) {
    int S = g->alias.v[a], phys = g->alias.v[a + 1];
    for (size_t i = 0; i < plan->start.n; i++)
      if (plan->start.v[i] == S) plan->start.v[i] = phys;
    int live = 1;                                      /* the stored row is still phys */
    for (size_t k = 0; k < plan->nsteps && live; k++) {
      struct lm_step *st = &plan->steps[k];
      for (size_t j = 0; j < st->nops && live; j++) {
        struct lm_rowop *op = &st->ops[j];
        if (op->op != LM_ROW_INSERT && op->from == S) {
          op->from = phys;
          live = 0;
        }
      }
      if (live)
        for (size_t i = 0; i < st->rows.n; i++)
          if (st->rows.v[i] == S) st->rows.v[i] = phys;
    }
    if (live)
      for (size_t i = 0; i < plan->rows.n; i++)
        if (plan->rows.v[i] == S) plan->rows.v[i] = phys;
  }
}

int lm_graph_hidden_error(struct lm_graph *g, int rev, struct lm_err *e) {
  const struct lm_rev *r = &g->revs[rev];
  if (r->nreplaces)
    return lm_graph_fail(g, e, LM_GERR_RESOLUTION, "Revision %s is a squash of %s..%s, which "
                         "this database is part-way through: it finishes those revisions "
                         "first; name one of them, or a revision after %s", r->id,
                         r->replace_names[0], r->replace_names[r->nreplaces - 1],
                         r->replace_names[r->nreplaces - 1]);
  if (r->squash >= 0)
    return lm_graph_fail(g, e, LM_GERR_RESOLUTION, "Revision %s is squashed into %s%s, which "
                         "stands for it on this database (none or all of the revisions it "
                         "replaces are applied): name %s or a revision outside the squash",
                         r->id, g->revs[r->squash].id, r->ghost ? " (its file is gone)" : "",
                         g->revs[r->squash].id);
  return lm_graph_fail(g, e, LM_GERR_RESOLUTION, "Can't locate revision identified by '%s'",
                       r->id);
}
