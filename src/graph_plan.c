/*
 * graph_plan.c -- paths to plans: the upgrade, downgrade and stamp
 * commands, and what the version table holds after each step (Alembic's
 * HeadMaintainer: which INSERT / UPDATE / DELETE on the version rows, and
 * _stamp_revs). The revisions to run come from graph_path.c, their order
 * from graph_order.c.
 */
#include "graph_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- plans ---- */

static void step_release(struct lm_step *s) {
  lm_ilist_release(&s->from);
  lm_ilist_release(&s->to);
  lm_ilist_release(&s->rows);
  free(s->ops);
}

void lm_plan_release(struct lm_plan *p) {
  if (p == NULL) return;
  for (size_t i = 0; i < p->nsteps; i++) step_release(&p->steps[i]);
  free(p->steps);
  lm_ilist_release(&p->start);
  lm_ilist_release(&p->rows);
  *p = (struct lm_plan)LM_PLAN_INIT;
}

static struct lm_step *plan_add(struct lm_plan *p) {
  if (p->nsteps == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 16;
    p->steps = lm_realloc(p->steps, p->cap * sizeof *p->steps);
  }
  struct lm_step *s = &p->steps[p->nsteps++];
  memset(s, 0, sizeof *s);
  s->rev = -1;
  return s;
}

/* ---- the version rows (HeadMaintainer's set) ---- */

struct rows {
  struct lm_ilist list;      /* in the order they were written */
  unsigned char *in;         /* in[rev]: a row */
  unsigned char *applied;    /* applied[rev]: below or at a row; NULL if not kept */
};

static void rows_init(struct rows *r, size_t n) {
  r->list = (struct lm_ilist)LM_ILIST_INIT;
  r->in = lm_malloc(n);
  memset(r->in, 0, n);
  r->applied = NULL;
}

static void rows_release(struct rows *r) {
  lm_ilist_release(&r->list);
  free(r->in);
  free(r->applied);
}

/* Starts keeping applied[]: every ancestor of the rows, themselves
 * included. Each step then adds or removes exactly its own revision. */
static void rows_track_applied(struct lm_graph *g, struct rows *r) {
  size_t n = g->nrevs;
  r->applied = lm_malloc(n);
  uint32_t s = lm_graph_new_stamp(g);
  lm_graph_mark_ancestors(g, r->list.v, r->list.n, 1, g->mark, s);
  for (size_t i = 0; i < n; i++) r->applied[i] = g->mark[i] == s;
}

static void step_op(struct lm_step *s, int op, int from, int to) {
  s->ops = lm_realloc(s->ops, (s->nops + 1) * sizeof *s->ops);
  s->ops[s->nops++] = (struct lm_rowop){op, from, to};
}

static void row_insert(struct rows *r, struct lm_step *s, int rev) {
  if (r->in[rev]) return;
  r->in[rev] = 1;
  lm_ilist_push(&r->list, rev);
  step_op(s, LM_ROW_INSERT, -1, rev);
}

static void row_delete(struct rows *r, struct lm_step *s, int rev) {
  if (!r->in[rev]) return;
  r->in[rev] = 0;
  size_t k = 0;
  for (size_t i = 0; i < r->list.n; i++)
    if (r->list.v[i] != rev) r->list.v[k++] = r->list.v[i];
  r->list.n = k;
  step_op(s, LM_ROW_DELETE, rev, -1);
}

static void row_update(struct rows *r, struct lm_step *s, int from, int to) {
  if (!r->in[from] || r->in[to]) return;
  r->in[from] = 0;
  r->in[to] = 1;
  for (size_t i = 0; i < r->list.n; i++)
    if (r->list.v[i] == from) r->list.v[i] = to;
  step_op(s, LM_ROW_UPDATE, from, to);
}

static void step_snapshot(struct rows *r, struct lm_step *s) {
  for (size_t i = 0; i < r->list.n; i++) lm_ilist_push(&s->rows, r->list.v[i]);
}

/* Whether a revision marked as a target (g->mark2[i] == ts) is x or lies
 * above x along applied revisions. Every path from a row down to x runs
 * through applied revisions only, so the walk stays inside what is applied
 * and usually ends within a step or two. Uses g->mark. */
static int reach_up(struct lm_graph *g, const struct rows *r, int x, uint32_t ts) {
  if (g->mark2[x] == ts) return 1;
  uint32_t s = lm_graph_new_stamp(g);
  int *stack = g->stack;
  size_t top = 0;
  g->mark[x] = s;
  stack[top++] = x;
  while (top) {
    struct lm_rev *rv = &g->revs[stack[--top]];
    for (size_t j = 0; j < rv->norm_children.n; j++) {
      int y = rv->norm_children.v[j];
      if (!r->applied[y] || g->mark[y] == s) continue;
      if (g->mark2[y] == ts) return 1;
      g->mark[y] = s;
      stack[top++] = y;
    }
  }
  return 0;
}

/* Whether x is an ancestor of (or one of) the rows other than skip,
 * through parents and normalized dependencies. */
static int covered(struct lm_graph *g, int x, const struct rows *r, const int *skip,
                   size_t nskip) {
  uint32_t ts = lm_graph_new_stamp(g);
  for (size_t i = 0; i < r->list.n; i++) g->mark2[r->list.v[i]] = ts;
  for (size_t i = 0; i < nskip; i++)
    if (g->mark2[skip[i]] == ts) g->mark2[skip[i]] = 0;
  return reach_up(g, r, x, ts);
}

/* Whether x is a strict ancestor of one of v (other than x itself); the v
 * are applied (parents of a row). */
static int below_any(struct lm_graph *g, const struct rows *r, int x, const int *v, size_t n) {
  uint32_t ts = lm_graph_new_stamp(g);
  for (size_t i = 0; i < n; i++)
    if (v[i] != x) g->mark2[v[i]] = ts;
  if (g->mark2[x] == ts) g->mark2[x] = 0;
  return reach_up(g, r, x, ts);
}

/* HeadMaintainer.update_to_step for a revision step. */
static void apply_revision_step(struct lm_graph *g, struct rows *rows, struct lm_step *s) {
  int rev = s->rev;
  struct lm_rev *r = &g->revs[rev];
  const int *down = r->norm_down.v;
  size_t ndown = r->norm_down.n;
  if (s->upgrade) {
    size_t present = 0;
    for (size_t i = 0; i < ndown; i++) present += rows->in[down[i]];
    if (ndown == 0 || present == 0) {
      s->change = LM_CHANGE_INSERT;
      row_insert(rows, s, rev);
    } else if (ndown > 1 && present > 1) {
      /* Merge: of the parents that are rows and not below another row,
       * delete all but the last and move the last up. */
      struct lm_ilist from = LM_ILIST_INIT;
      for (size_t i = 0; i < ndown; i++)
        if (rows->in[down[i]] && !covered(g, down[i], rows, down, ndown))
          lm_ilist_push(&from, down[i]);
      s->change = LM_CHANGE_MERGE;
      if (from.n == 0) {
        row_insert(rows, s, rev);
      } else {
        for (size_t i = 0; i + 1 < from.n; i++) row_delete(rows, s, from.v[i]);
        row_update(rows, s, from.v[from.n - 1], rev);
      }
      lm_ilist_release(&from);
    } else {
      int parent = -1;
      for (size_t i = 0; i < ndown && parent < 0; i++)
        if (rows->in[down[i]]) parent = down[i];
      s->change = LM_CHANGE_UPDATE;
      row_update(rows, s, parent, rev);
    }
    return;
  }
  if (!rows->in[rev]) {               /* not a row: nothing to write */
    s->change = LM_CHANGE_UPDATE;
    return;
  }
  /* _unmerge_to_revisions: the parents not already represented. */
  struct lm_ilist to = LM_ILIST_INIT;
  int others = rows->list.n > 1;
  for (size_t i = 0; i < ndown; i++) {
    int keep = others ? !covered(g, down[i], rows, &rev, 1)
                      : !below_any(g, rows, down[i], down, ndown);
    if (keep) lm_ilist_push(&to, down[i]);
  }
  if (ndown == 0 || to.n == 0) {
    s->change = LM_CHANGE_DELETE;
    row_delete(rows, s, rev);
  } else if (ndown > 1) {
    s->change = to.n > 1 ? LM_CHANGE_UNMERGE : LM_CHANGE_UPDATE;
    for (size_t i = 0; i + 1 < to.n; i++) row_insert(rows, s, to.v[i]);
    row_update(rows, s, rev, to.v[to.n - 1]);
  } else {
    s->change = LM_CHANGE_UPDATE;
    row_update(rows, s, rev, down[0]);
  }
  lm_ilist_release(&to);
}


/* ---- commands ---- */

/* Splits "START:END" (offline ranges); *start is NULL without a colon. */
static int split_range(const char *target, char **start, char **end) {
  const char *colon = strchr(target, ':');
  if (!colon) {
    *start = NULL;
    *end = lm_strdup(target);
    return 0;
  }
  *start = lm_strndup(target, (size_t)(colon - target));
  *end = lm_strdup(colon + 1);
  return 1;
}

/* The starting rows of an offline range: its START, one revision or none. */
static int range_start(struct lm_graph *g, const char *start, struct lm_ilist *out,
                       struct lm_err *e) {
  if (start[0] == '\0' || strcmp(start, "base") == 0) return LM_OK;
  int stored = lm_graph_find(g, start), r = lm_graph_find_row(g, start);
  if (stored >= 0 && g->revs[stored].hidden && r >= 0 && !g->revs[r].hidden) {
    lm_ilist_push(out, r);                            /* a stored row read as its squash */
    lm_ilist_push(&g->alias, r);
    lm_ilist_push(&g->alias, stored);
    return LM_OK;
  }
  if (lm_graph_get_revision(g, start, &r, e)) return LM_ERROR;
  if (r >= 0) lm_ilist_push(out, r);
  return LM_OK;
}

static int run_steps(struct lm_graph *g, struct lm_plan *plan, const struct lm_ilist *order,
                     int upgrade) {
  struct rows rows;
  rows_init(&rows, g->nrevs);
  for (size_t i = 0; i < plan->start.n; i++) {
    rows.in[plan->start.v[i]] = 1;
    lm_ilist_push(&rows.list, plan->start.v[i]);
  }
  rows_track_applied(g, &rows);
  for (size_t k = 0; k < order->n; k++) {
    size_t i = upgrade ? order->n - 1 - k : k;
    struct lm_step *s = plan_add(plan);
    s->rev = order->v[i];
    s->upgrade = upgrade;
    struct lm_rev *r = &g->revs[s->rev];
    if (upgrade) {
      for (size_t j = 0; j < r->ndown; j++) lm_ilist_push(&s->from, r->down[j]);
      lm_ilist_push(&s->to, s->rev);
    } else {
      lm_ilist_push(&s->from, s->rev);
      for (size_t j = 0; j < r->ndown; j++) lm_ilist_push(&s->to, r->down[j]);
    }
    apply_revision_step(g, &rows, s);
    rows.applied[s->rev] = (unsigned char)upgrade;
    step_snapshot(&rows, s);
  }
  for (size_t i = 0; i < rows.list.n; i++) lm_ilist_push(&plan->rows, rows.list.v[i]);
  rows_release(&rows);
  return LM_OK;
}

int lm_graph_upgrade(struct lm_graph *g, const char *const *rows, size_t nrows,
                     const char *target, struct lm_plan *plan, struct lm_err *e) {
  if (!g->built) return lm_err_set(e, LM_ERROR, "the revision graph is not built");
  char *start, *end;
  int offline = split_range(target, &start, &end);
  unsigned char *todo = lm_malloc(g->nrevs);
  struct lm_ilist targets = LM_ILIST_INIT, order = LM_ILIST_INIT;
  g->ekind = 0;
  int rc = offline ? lm_graph_select(g, (const char *const *)&start, start[0] != '\0', e)
                   : lm_graph_select(g, rows, nrows, e);
  if (rc == LM_OK)
    rc = offline ? range_start(g, start, &plan->start, e)
                 : lm_graph_resolve_rows(g, rows, nrows, &plan->start, e);
  if (rc == LM_OK)
    rc = lm_graph_collect_upgrade(g, end, &plan->start, NULL, 0, 1, 1, todo, &targets, e);
  if (rc == LM_OK) {
    lm_graph_topo_sort(g, todo, targets.v, targets.n, &order);
    run_steps(g, plan, &order, 1);
    lm_graph_plan_aliases(g, plan);
  } else {
    lm_graph_reword(g, e, LM_CMD_UPGRADE, start, end);
  }
  lm_ilist_release(&targets);
  lm_ilist_release(&order);
  free(todo);
  free(start);
  free(end);
  return rc;
}

int lm_graph_upgrade_to(struct lm_graph *g, const char *const *rows, size_t nrows,
                        const char *const *targets, size_t ntargets, struct lm_plan *plan,
                        struct lm_err *e) {
  if (!g->built) return lm_err_set(e, LM_ERROR, "the revision graph is not built");
  if (ntargets == 1) return lm_graph_upgrade(g, rows, nrows, targets[0], plan, e);
  unsigned char *todo = lm_malloc(g->nrevs);
  struct lm_ilist tv = LM_ILIST_INIT, order = LM_ILIST_INIT;
  g->ekind = 0;
  int rc = lm_graph_select(g, rows, nrows, e);
  if (rc == LM_OK) rc = lm_graph_resolve_rows(g, rows, nrows, &plan->start, e);
  for (size_t i = 0; rc == LM_OK && i < ntargets; i++)
    rc = lm_graph_get_revisions(g, targets[i], &tv, e);
  if (rc == LM_OK) rc = lm_graph_collect_upgrade(g, NULL, &plan->start, NULL, 0, 1, 1, todo, &tv, e);
  if (rc == LM_OK) {
    lm_graph_topo_sort(g, todo, tv.v, tv.n, &order);
    run_steps(g, plan, &order, 1);
    lm_graph_plan_aliases(g, plan);
  } else {
    lm_graph_reword(g, e, LM_CMD_UPGRADE, NULL, ntargets ? targets[0] : "heads");
  }
  lm_ilist_release(&tv);
  lm_ilist_release(&order);
  free(todo);
  return rc;
}

int lm_graph_downgrade(struct lm_graph *g, const char *const *rows, size_t nrows,
                       const char *target, struct lm_plan *plan, struct lm_err *e) {
  if (!g->built) return lm_err_set(e, LM_ERROR, "the revision graph is not built");
  char *start, *end;
  int offline = split_range(target, &start, &end);
  unsigned char *todo = lm_malloc(g->nrevs);
  struct lm_ilist order = LM_ILIST_INIT;
  g->ekind = 0;
  int rc = offline ? lm_graph_select(g, (const char *const *)&start, start[0] != '\0', e)
                   : lm_graph_select(g, rows, nrows, e);
  if (rc == LM_OK)
    rc = offline ? range_start(g, start, &plan->start, e)
                 : lm_graph_resolve_rows(g, rows, nrows, &plan->start, e);
  if (rc == LM_OK) rc = lm_graph_collect_downgrade(g, &plan->start, end, todo, e);
  if (rc == LM_OK) {
    lm_graph_topo_sort(g, todo, plan->start.v, plan->start.n, &order);
    for (size_t i = 0; i < order.n && rc == LM_OK; i++) {
      struct lm_rev *r = &g->revs[order.v[i]];
      if (!r->has_downgrade) {
        rc = lm_err_set(e, LM_ERROR, "revision %s has no downgrade function; cannot downgrade "
                        "through it", r->id);
        if (r->path) lm_err_prefix(e, "%s", r->path);
      }
    }
    if (rc == LM_OK) {
      run_steps(g, plan, &order, 0);
      lm_graph_plan_aliases(g, plan);
    }
  } else {
    lm_graph_reword(g, e, LM_CMD_DOWNGRADE, start, end);
  }
  lm_ilist_release(&order);
  free(todo);
  free(start);
  free(end);
  return rc;
}

/* ---- stamp ---- */

/* One StampStep and HeadMaintainer's handling of it: a branch delete, a
 * new-branch insert, a merge of several rows into to, or an update. */
static void stamp_step(struct lm_plan *plan, struct rows *rows,
                       const int *from, size_t nfrom, int to, int upgrade, int branch_move) {
  struct lm_step *s = plan_add(plan);
  s->stamp = 1;
  s->upgrade = upgrade;
  for (size_t i = 0; i < nfrom; i++) lm_ilist_push(&s->from, from[i]);
  if (to >= 0) lm_ilist_push(&s->to, to);
  if (!upgrade && branch_move) {
    s->change = LM_CHANGE_DELETE;
    row_delete(rows, s, from[0]);
  } else if (upgrade && to >= 0 && !rows->in[to]) {
    int missing_from = 0;
    for (size_t i = 0; i < nfrom; i++) missing_from |= !rows->in[from[i]];
    if (branch_move || missing_from) {
      s->change = LM_CHANGE_INSERT;
      row_insert(rows, s, to);
    }
  }
  if (s->nops == 0 && !(s->change == LM_CHANGE_DELETE)) {
    if (nfrom > 1) {
      s->change = LM_CHANGE_MERGE;
      for (size_t i = 0; i + 1 < nfrom; i++) row_delete(rows, s, from[i]);
      row_update(rows, s, from[nfrom - 1], to);
    } else if (nfrom == 1 && to >= 0) {
      s->change = LM_CHANGE_UPDATE;
      row_update(rows, s, from[0], to);
    }
  }
  step_snapshot(rows, s);
}

int lm_graph_stamp(struct lm_graph *g, const char *const *rows_in, size_t nrows,
                   const char *const *targets_in, size_t ntargets, int purge,
                   struct lm_plan *plan, struct lm_err *e) {
  if (!g->built) return lm_err_set(e, LM_ERROR, "the revision graph is not built");
  g->ekind = 0;
  /* Offline, "START:END" stamps from START: the rows are what START names. */
  const char **targets = lm_malloc(ntargets * sizeof *targets);
  const char *start = NULL;
  size_t start_len = 0;
  int rc = LM_OK;
  for (size_t t = 0; t < ntargets; t++) {
    const char *colon = targets_in[t] ? strchr(targets_in[t], ':') : NULL;
    targets[t] = colon ? colon + 1 : targets_in[t];
    if (!colon) continue;
    size_t len = (size_t)(colon - targets_in[t]);
    if (start && (len != start_len || strncmp(start, targets_in[t], len) != 0))
      rc = lm_err_set(e, LM_ERROR, "Stamp operation with --sql only supports a single starting "
                      "revision at a time");
    start = targets_in[t];
    start_len = len;
  }
  if (rc == LM_OK && start) {
    char *s0 = lm_strndup(start, start_len);
    rc = lm_graph_select(g, (const char *const *)&s0, 1, e);
    if (rc == LM_OK) rc = range_start(g, s0, &plan->start, e);
    free(s0);
  } else if (rc == LM_OK && !purge) {
    rc = lm_graph_select(g, rows_in, nrows, e);
    if (rc == LM_OK) rc = lm_graph_resolve_rows(g, rows_in, nrows, &plan->start, e);
  } else if (rc == LM_OK) {
    /* --purge: the rows become the targets, so they choose between a squash
     * and the chain it replaces (stamp --purge R, R replaced: the chain) */
    for (size_t t = 0; rc == LM_OK && t < ntargets; t++) {
      int x = targets[t] ? lm_graph_find(g, targets[t]) : -1;
      const struct lm_rev *S = x >= 0 && g->revs[x].squash >= 0 ? &g->revs[g->revs[x].squash] : NULL;
      if (S && !S->complete && x != S->replaced[S->nreplaces - 1]) {
        rc = lm_err_set(e, LM_ERROR, "stamp --purge %s: %s is part-way through the revisions "
                        "squashed into %s, whose files are gone, so a database stamped there "
                        "could not upgrade: restore them (from version control) first, or stamp "
                        "%s if all of %s..%s are applied", targets[t], targets[t], S->id, S->id,
                        S->replace_names[0], S->replace_names[S->nreplaces - 1]);
        g->ekind = LM_GERR_REVISION;
      }
    }
    if (rc == LM_OK) rc = lm_graph_select(g, targets, ntargets, e);
    /* a target still out of view is the last of a chain its squash stands
     * for (all of it applied): the row written is the squash's */
    for (size_t t = 0; rc == LM_OK && t < ntargets; t++) {
      int x = targets[t] ? lm_graph_find(g, targets[t]) : -1;
      if (x >= 0 && g->revs[x].hidden && g->revs[x].squash >= 0)
        targets[t] = g->revs[g->revs[x].squash].id;
    }
  }
  struct lm_ilist filtered = LM_ILIST_INIT, dests = LM_ILIST_INIT;
  for (size_t t = 0; rc == LM_OK && t < ntargets; t++) {
    if (!targets[t] || !targets[t][0]) continue;
    struct lm_ilist f = LM_ILIST_INIT;
    rc = lm_graph_filter_lineage(g, plan->start.v, plan->start.n, targets[t], 1, &f, e);
    for (size_t i = 0; i < f.n; i++) {
      size_t k = 0;
      while (k < filtered.n && filtered.v[k] != f.v[i]) k++;
      if (k == filtered.n) lm_ilist_push(&filtered, f.v[i]);
    }
    lm_ilist_release(&f);
  }
  for (size_t t = 0; rc == LM_OK && t < ntargets; t++)
    rc = lm_graph_get_revisions(g, targets[t] && targets[t][0] ? targets[t] : "base", &dests, e);
  if (rc == LM_OK) {
    struct rows rows;
    rows_init(&rows, g->nrevs);
    for (size_t i = 0; i < plan->start.n; i++) {
      rows.in[plan->start.v[i]] = 1;
      lm_ilist_push(&rows.list, plan->start.v[i]);
    }
    if (dests.n == 0) lm_ilist_push(&dests, LM_REV_NONE);
    struct lm_ilist moved = LM_ILIST_INIT;
    uint32_t *desc = lm_graph_marks_new(g->nrevs);
    uint32_t *anc = lm_graph_marks_new(g->nrevs);
    for (size_t d = 0; d < dests.n; d++) {
      int dest = dests.v[d];
      if (dest < 0) {
        for (size_t i = 0; i < filtered.n; i++)
          stamp_step(plan, &rows, &filtered.v[i], 1, -1, 0, 1);
        continue;
      }
      /* Alembic compares each destination with the heads as they were
       * before the stamp; after an earlier destination moved one of them
       * (stamp A B from their merge M: M became A) that row is gone, and
       * Alembic's UPDATE of M to B matches nothing. Here each destination
       * is compared with the rows as the earlier steps left them: those
       * heads still present, and the destinations that took a head's
       * place (moved[]); a destination inserted as a new branch is left
       * out, as Alembic leaves it. */
      struct lm_ilist now = LM_ILIST_INIT;
      for (size_t i = 0; i < filtered.n; i++)
        if (rows.in[filtered.v[i]]) lm_ilist_push(&now, filtered.v[i]);
      for (size_t i = 0; i < moved.n; i++)
        if (rows.in[moved.v[i]]) {
          size_t k = 0;
          while (k < now.n && now.v[k] != moved.v[i]) k++;
          if (k == now.n) lm_ilist_push(&now, moved.v[i]);
        }
      int present = 0;
      for (size_t i = 0; i < now.n; i++) present |= now.v[i] == dest;
      if (present) {
        lm_ilist_release(&now);
        continue;
      }
      uint32_t s = (uint32_t)d + 1;
      lm_graph_mark_descendants(g, &dest, 1, 1, desc, s);
      lm_graph_mark_ancestors(g, &dest, 1, 1, anc, s);
      struct lm_ilist above = LM_ILIST_INIT, below = LM_ILIST_INIT;
      for (size_t i = 0; i < now.n; i++) {
        if (desc[now.v[i]] == s) lm_ilist_push(&above, now.v[i]);
        else if (anc[now.v[i]] == s) lm_ilist_push(&below, now.v[i]);
      }
      if (above.n)
        stamp_step(plan, &rows, above.v, above.n, dest, 0, 0);
      else if (below.n)
        stamp_step(plan, &rows, below.v, below.n, dest, 1, 0);
      else
        stamp_step(plan, &rows, NULL, 0, dest, 1, 1);
      if (above.n || below.n) lm_ilist_push(&moved, dest);
      lm_ilist_release(&now);
      lm_ilist_release(&above);
      lm_ilist_release(&below);
      if (!rows.in[dest]) {
        /* never silently: a step that leaves its destination unrecorded */
        rc = lm_err_set(e, LM_ERROR, "stamp %s: the planned version-table writes do not record "
                        "it (a luamig bug; please report it with `luamig heads` and `luamig "
                        "current`)", g->revs[dest].id);
        break;
      }
    }
    free(desc);
    free(anc);
    lm_ilist_release(&moved);
    for (size_t i = 0; i < rows.list.n; i++) lm_ilist_push(&plan->rows, rows.list.v[i]);
    rows_release(&rows);
    if (rc == LM_OK) lm_graph_plan_aliases(g, plan);
  } else {
    lm_graph_reword(g, e, LM_CMD_STAMP, NULL, NULL);
  }
  free(targets);
  lm_ilist_release(&filtered);
  lm_ilist_release(&dests);
  return rc;
}
