/*
 * graph_path.c -- what to run and what the version table holds after each
 * step: Alembic's _collect_upgrade_revisions / _collect_downgrade_revisions
 * (which revisions), _topological_sort (in which order), HeadMaintainer
 * (which INSERT / UPDATE / DELETE on the version rows), _stamp_revs, and
 * walk_revisions for history.
 *
 * Sets are mark arrays over revision indices; the ordering keeps Alembic's
 * choice of which branch to finish first, but tests "is this revision below
 * another pending head" by counting pending children instead of recomputing
 * ancestor sets, so a full path over n revisions costs about O(n) for
 * chains and merges alike.
 */
#include "graph.h"

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
  free(p->warning);
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
  r->in = lm_malloc(n ? n : 1);
  memset(r->in, 0, n ? n : 1);
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
  r->applied = lm_malloc(n ? n : 1);
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

/* ---- walks with Alembic's overlap check ---- */

/* _iterate_related_revisions(check=True) for ancestors (kind WALK_NORM_DOWN)
 * or descendants (WALK_CHILDREN): marks everything reachable from targets
 * in m, and fails when one target's walk meets another target. */
static int walk_check(struct lm_graph *g, const int *targets, size_t n, int kind, uint32_t *m,
                      uint32_t stamp, struct lm_err *e) {
  uint32_t ts = lm_graph_new_stamp(g);          /* g->mark: the target set */
  for (size_t i = 0; i < n; i++)
    if (targets[i] >= 0) g->mark[targets[i]] = ts;
  int *stack = g->stack;
  for (size_t i = 0; i < n; i++) {
    int t = targets[i];
    if (t < 0 || m[t] == stamp) continue;
    struct lm_ilist overlaps = LM_ILIST_INIT;
    size_t top = 0;
    m[t] = stamp;
    stack[top++] = t;
    while (top) {
      struct lm_rev *r = &g->revs[stack[--top]];
      const struct lm_ilist *next = kind == WALK_NORM_DOWN ? &r->norm_down : &r->children;
      for (size_t j = 0; j < next->n; j++) {
        int y = next->v[j];
        if (g->mark[y] == ts && y != t) {
          size_t k = 0;
          while (k < overlaps.n && overlaps.v[k] != y) k++;
          if (k == overlaps.n) lm_ilist_push(&overlaps, y);
        }
        if (m[y] != stamp) {
          m[y] = stamp;
          stack[top++] = y;
        }
      }
    }
    if (overlaps.n) {
      /* Alembic lists them in hash order; luamig sorts them. */
      for (size_t a = 1; a < overlaps.n; a++) {
        for (size_t k = a; k > 0; k--) {
          int *v = overlaps.v;
          if (strcmp(g->revs[v[k - 1]].id, g->revs[v[k]].id) <= 0) break;
          int swap = v[k];
          v[k] = v[k - 1];
          v[k - 1] = swap;
        }
      }
      struct lm_buf b = LM_BUF_INIT;
      for (size_t k = 0; k < overlaps.n; k++)
        lm_buf_printf(&b, "%s%s", k ? ", " : "", g->revs[overlaps.v[k]].id);
      lm_graph_fail(g, e, LM_GERR_REVISION,
                    "Requested revision %s overlaps with other requested revisions %s",
                    g->revs[t].id, b.data);
      lm_buf_release(&b);
      lm_ilist_release(&overlaps);
      return LM_ERROR;
    }
    lm_ilist_release(&overlaps);
  }
  return LM_OK;
}

/* ---- _topological_sort ---- */

/* Orders the revisions with todo[i] set, children before parents, starting
 * from heads (taken in load order). Like Alembic, it follows one line down
 * until it reaches a revision some other pending line still needs, then
 * switches to the first such line. Appends to out. */
static void topo_sort(struct lm_graph *g, unsigned char *todo, const int *heads, size_t nheads,
                      struct lm_ilist *out) {
  size_t n = g->nrevs;
  int *pending = lm_malloc((n ? n : 1) * sizeof *pending);   /* pending children */
  unsigned char *in_front = lm_malloc(n ? n : 1);
  memset(in_front, 0, n ? n : 1);
  memset(pending, 0, (n ? n : 1) * sizeof *pending);
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
          ac->mark = calloc(n ? n : 1, sizeof *ac->mark);
          if (!ac->mark) abort();
        }
        if (++ac->stamp == 0) {
          memset(ac->mark, 0, (n ? n : 1) * sizeof *ac->mark);
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

/* ---- collecting revisions ---- */

/* Alembic's _collect_upgrade_revisions. The lower end is lower (values:
 * the version rows) or, when that is NULL, the identifier lower_str
 * (history's START), resolved in Alembic's order: after the upper end.
 * Marks todo[i] = 1 for what must run; targets get the resolved upper end. */
static int collect_upgrade(struct lm_graph *g, const char *upper, const struct lm_ilist *lower,
                           const char *lower_str, int inclusive, int implicit_base,
                           int assert_length, unsigned char *todo, struct lm_ilist *targets,
                           struct lm_err *e) {
  size_t n = g->nrevs;
  int rc = upper ? lm_graph_parse_upgrade_target(g, lower, lower_str, upper, assert_length,
                                                 targets, e)
                 : LM_OK;                 /* targets resolved by the caller */
  if (rc) return rc;
  if (!lower && lower_str && strchr(lower_str, '@')) {
    /* A named lower end (branch@...) keeps only that branch's targets. */
    const char *at = strchr(lower_str, '@');
    char *branch = lm_strndup(lower_str, (size_t)(at - lower_str));
    int brev = LM_REV_NONE;
    rc = lm_graph_get_revision(g, branch, &brev, e);
    if (rc == LM_OK && brev >= 0 && strcmp(g->revs[brev].id, branch) == 0) {
      struct lm_rev *br = &g->revs[brev];
      if (br->labels.n != 1) {
        rc = lm_graph_fail(g, e, LM_GERR_REVISION,
                           "Revision %s is used as a branch in '%s' but carries %zu branch "
                           "labels; name the label instead", br->id, lower_str, br->labels.n);
      } else {
        free(branch);
        branch = lm_strdup(g->labels[br->labels.v[0]].name);
      }
    }
    if (rc == LM_OK) {
      size_t k = 0;
      for (size_t i = 0; i < targets->n; i++)
        if (targets->v[i] >= 0 && lm_graph_has_label(g, targets->v[i], branch))
          targets->v[k++] = targets->v[i];
      targets->n = k;
    }
    free(branch);
    if (rc) return rc;
  }
  uint32_t *req = calloc(n ? n : 1, sizeof *req);
  uint32_t *cur = calloc(n ? n : 1, sizeof *cur);
  struct lm_ilist current = LM_ILIST_INIT;
  if (!req || !cur) abort();
  rc = walk_check(g, targets->v, targets->n, WALK_NORM_DOWN, req, 1, e);
  if (rc == LM_OK && lower) {
    for (size_t i = 0; i < lower->n; i++) lm_ilist_push(&current, lower->v[i]);
  } else if (rc == LM_OK) {
    rc = lm_graph_get_revisions(g, lower_str ? lower_str : "base", &current, e);
  }
  if (rc == LM_OK && !implicit_base) {
    for (size_t i = 0; i < current.n; i++)
      if (current.v[i] == LM_REV_BASE || (current.v[i] >= 0 && req[current.v[i]] != 1)) {
        rc = lm_graph_fail(g, e, LM_GERR_RANGE, "Revision %s is not an ancestor of revision %s",
                           lower_str ? lower_str : "current", upper ? upper : "(targets)");
        break;
      }
  }
  if (rc == LM_OK && current.n && current.v[0] == LM_REV_NONE && !lower && lower_str) {
    /* The lower end was relative and walked off the graph: take it as a
     * downgrade target from the upper end. */
    struct lm_ilist up = LM_ILIST_INIT;
    int u = LM_REV_NONE, rev = LM_REV_NONE;
    char *branch = NULL;
    rc = lm_graph_get_revision(g, upper ? upper : "heads", &u, e);
    if (rc == LM_OK) {
      lm_ilist_push(&up, u);
      rc = lm_graph_parse_downgrade_target(g, &up, lower_str, assert_length, &branch, &rev, NULL, e);
    }
    free(branch);
    lm_ilist_release(&up);
    current.n = 0;
    if (rc == LM_OK && rev >= 0) lm_ilist_push(&current, rev);
  }
  if (rc == LM_OK) rc = walk_check(g, current.v, current.n, WALK_NORM_DOWN, cur, 1, e);
  if (rc == LM_OK) {
    for (size_t i = 0; i < n; i++) todo[i] = req[i] == 1 && cur[i] != 1;
    if (inclusive)
      for (size_t i = 0; i < current.n; i++)
        if (current.v[i] >= 0) todo[current.v[i]] = 1;
    if (current.n && !implicit_base) {
      memset(cur, 0, n * sizeof *cur);
      rc = walk_check(g, current.v, current.n, WALK_CHILDREN, cur, 1, e);
      for (size_t i = 0; rc == LM_OK && i < n; i++)
        if (cur[i] != 1) todo[i] = 0;
    }
  }
  lm_ilist_release(&current);
  free(req);
  free(cur);
  return rc;
}

/* Alembic's _collect_downgrade_revisions (inclusive and implicit_base
 * off, as the downgrade command uses it). */
static int collect_downgrade(struct lm_graph *g, const struct lm_ilist *heads, const char *target,
                             unsigned char *todo, char **warning, struct lm_err *e) {
  size_t n = g->nrevs;
  char *branch = NULL;
  int trev = LM_REV_NONE;
  int rc = lm_graph_parse_downgrade_target(g, heads, target, 1, &branch, &trev, warning, e);
  if (rc) {
    free(branch);
    return rc;
  }
  if (trev == LM_REV_BASE) trev = LM_REV_NONE;
  struct lm_ilist roots = LM_ILIST_INIT;
  if (trev == LM_REV_NONE) {
    for (size_t i = 0; i < n; i++)
      if (g->revs[i].ndown == 0) lm_ilist_push(&roots, (int)i);
  } else {
    struct lm_rev *t = &g->revs[trev];
    for (size_t i = 0; i < t->children.n; i++) lm_ilist_push(&roots, t->children.v[i]);
  }
  if (branch && roots.n > 1) {
    int brev;
    rc = lm_graph_resolve_branch(g, branch, &brev, e);
    if (rc == LM_OK) {
      uint32_t s = lm_graph_new_stamp(g);
      lm_graph_mark_ancestors(g, &brev, 1, 0, g->mark2, s);
      size_t k = 0;
      for (size_t i = 0; i < roots.n; i++)
        if (g->mark2[roots.v[i]] == s) roots.v[k++] = roots.v[i];
      roots.n = k;
      if (k == 0)
        rc = lm_graph_fail(g, e, LM_GERR_REVISION, "Not a valid downgrade target from current heads");
    }
  }
  free(branch);
  if (rc == LM_OK) {
    uint32_t s1 = lm_graph_new_stamp(g);
    lm_graph_mark_descendants(g, roots.v, roots.n, 1, g->mark2, s1);
    uint32_t s2 = lm_graph_new_stamp(g);
    lm_graph_mark_ancestors(g, heads->v, heads->n, 1, g->mark3, s2);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
      todo[i] = g->mark2[i] == s1 && g->mark3[i] == s2;
      count += todo[i];
    }
    int target_is_head = 0;
    for (size_t i = 0; i < heads->n; i++)
      if (heads->v[i] == trev) target_is_head = 1;
    if (trev >= 0 && count == 0 && !target_is_head)
      rc = lm_graph_fail(g, e, LM_GERR_RANGE, "Nothing to drop");
  }
  lm_ilist_release(&roots);
  return rc;
}

/* ---- command-level wording (Alembic's _catch_revision_errors) ---- */

enum { CMD_UPGRADE, CMD_DOWNGRADE, CMD_STAMP, CMD_HISTORY };

static int reword(struct lm_graph *g, struct lm_err *e, int cmd, const char *start,
                  const char *end) {
  if (g->ekind == LM_GERR_RANGE) {
    if (cmd == CMD_UPGRADE)
      lm_err_set(e, LM_ERROR, "Destination %s is not a valid upgrade target from current head(s)",
                 end ? end : "head");
    else if (cmd == CMD_DOWNGRADE)
      lm_err_set(e, LM_ERROR, "Destination %s is not a valid downgrade target from current head(s)",
                 end ? end : "base");
    else
      lm_err_set(e, LM_ERROR, "Requested range %s:%s does not refer to ancestor/descendant "
                 "revisions along the same branch", start ? start : "base", end ? end : "heads");
  } else if (g->ekind == LM_GERR_MULTIPLE_HEADS) {
    if (cmd == CMD_STAMP) {
      lm_err_set(e, LM_ERROR, "Multiple heads are present; please specify a single target revision");
    } else {
      const char *arg = end ? end : g->emh_arg ? g->emh_arg : "head";
      lm_err_set(e, LM_ERROR, "Multiple head revisions are present for given argument '%s'; please "
                 "specify a specific target revision, '<branchname>@%s' to narrow to a "
                 "specific head, or 'heads' for all heads", arg, arg);
    }
  }
  return LM_ERROR;
}

/* The version rows, as stored, to revisions: each must be known. */
static int resolve_rows(struct lm_graph *g, const char *const *rows, size_t nrows,
                        struct lm_ilist *out, struct lm_err *e) {
  for (size_t i = 0; i < nrows; i++) {
    int r = lm_graph_find(g, rows[i]);
    if (r < 0)
      return lm_graph_fail(g, e, LM_GERR_RESOLUTION,
                           "Can't locate revision identified by '%s' (a row of the version table)",
                           rows[i]);
    size_t k = 0;
    while (k < out->n && out->v[k] != r) k++;
    if (k == out->n) lm_ilist_push(out, r);
  }
  return LM_OK;
}

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
  int r;
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
  unsigned char *todo = lm_malloc(g->nrevs ? g->nrevs : 1);
  struct lm_ilist targets = LM_ILIST_INIT, order = LM_ILIST_INIT;
  g->ekind = 0;
  int rc = offline ? range_start(g, start, &plan->start, e)
                   : resolve_rows(g, rows, nrows, &plan->start, e);
  if (rc == LM_OK)
    rc = collect_upgrade(g, end, &plan->start, NULL, 0, 1, 1, todo, &targets, e);
  if (rc == LM_OK) {
    topo_sort(g, todo, targets.v, targets.n, &order);
    run_steps(g, plan, &order, 1);
  } else {
    reword(g, e, CMD_UPGRADE, start, end);
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
  unsigned char *todo = lm_malloc(g->nrevs ? g->nrevs : 1);
  struct lm_ilist tv = LM_ILIST_INIT, order = LM_ILIST_INIT;
  g->ekind = 0;
  int rc = resolve_rows(g, rows, nrows, &plan->start, e);
  for (size_t i = 0; rc == LM_OK && i < ntargets; i++)
    rc = lm_graph_get_revisions(g, targets[i], &tv, e);
  if (rc == LM_OK) rc = collect_upgrade(g, NULL, &plan->start, NULL, 0, 1, 1, todo, &tv, e);
  if (rc == LM_OK) {
    topo_sort(g, todo, tv.v, tv.n, &order);
    run_steps(g, plan, &order, 1);
  } else {
    reword(g, e, CMD_UPGRADE, NULL, ntargets ? targets[0] : "heads");
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
  unsigned char *todo = lm_malloc(g->nrevs ? g->nrevs : 1);
  struct lm_ilist order = LM_ILIST_INIT;
  g->ekind = 0;
  int rc = offline ? range_start(g, start, &plan->start, e)
                   : resolve_rows(g, rows, nrows, &plan->start, e);
  if (rc == LM_OK) rc = collect_downgrade(g, &plan->start, end, todo, &plan->warning, e);
  if (rc == LM_OK) {
    topo_sort(g, todo, plan->start.v, plan->start.n, &order);
    for (size_t i = 0; i < order.n && rc == LM_OK; i++) {
      struct lm_rev *r = &g->revs[order.v[i]];
      if (!r->has_downgrade) {
        rc = lm_err_set(e, LM_ERROR, "revision %s has no downgrade function; cannot downgrade "
                        "through it", r->id);
        if (r->path) lm_err_prefix(e, "%s", r->path);
      }
    }
    if (rc == LM_OK) run_steps(g, plan, &order, 0);
  } else {
    reword(g, e, CMD_DOWNGRADE, start, end);
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
  const char **targets = lm_malloc((ntargets ? ntargets : 1) * sizeof *targets);
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
    rc = range_start(g, s0, &plan->start, e);
    free(s0);
  } else if (rc == LM_OK && !purge) {
    rc = resolve_rows(g, rows_in, nrows, &plan->start, e);
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
    uint32_t *desc = calloc(g->nrevs ? g->nrevs : 1, sizeof *desc);
    uint32_t *anc = calloc(g->nrevs ? g->nrevs : 1, sizeof *anc);
    if (!desc || !anc) abort();
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
  } else {
    reword(g, e, CMD_STAMP, NULL, NULL);
  }
  free(targets);
  lm_ilist_release(&filtered);
  lm_ilist_release(&dests);
  return rc;
}

/* ---- history ---- */

int lm_graph_history(struct lm_graph *g, const char *range, const char *const *rows,
                     size_t nrows, struct lm_ilist *out, struct lm_err *e) {
  if (!g->built) return lm_err_set(e, LM_ERROR, "the revision graph is not built");
  g->ekind = 0;
  char *start = NULL, *end = NULL;
  if (range) {
    const char *colon = strchr(range, ':');
    if (!colon || strchr(colon + 1, ':'))
      return lm_err_set(e, LM_ERROR, "History range requires [start]:[end], [start]:, or :[end]");
    start = lm_strndup(range, (size_t)(colon - range));
    end = lm_strdup(colon + 1);
  }
  const char *base = start && start[0] ? start : "base";
  const char *head = end && end[0] ? end : "heads";
  struct lm_ilist lower = LM_ILIST_INIT, targets = LM_ILIST_INIT;
  unsigned char *todo = lm_malloc(g->nrevs ? g->nrevs : 1);
  int rc = LM_OK;
  int lower_current = strcmp(base, "current") == 0, upper_current = strcmp(head, "current") == 0;
  if (lower_current || upper_current) {
    struct lm_ilist cur = LM_ILIST_INIT;
    rc = resolve_rows(g, rows, nrows, &cur, e);
    if (rc == LM_OK && upper_current && cur.n == 0) head = "heads";
    if (rc == LM_OK && upper_current && cur.n > 0) {
      /* history -r X:current: up to the current rows, all of them (Alembic
       * passes the tuple of rows as the upper end). */
      for (size_t i = 0; i < cur.n; i++) lm_ilist_push(&targets, cur.v[i]);
      upper_current = 2;
    }
    if (rc == LM_OK && lower_current) {
      for (size_t i = 0; i < cur.n; i++) lm_ilist_push(&lower, cur.v[i]);
      base = "base";
      if (cur.n) lower_current = 2;
    }
    lm_ilist_release(&cur);
  }
  if (rc == LM_OK)
    rc = collect_upgrade(g, upper_current == 2 ? NULL : head, lower_current == 2 ? &lower : NULL,
                         lower_current == 2 ? NULL : base, 1, 0, 0, todo, &targets, e);
  if (rc == LM_OK) {
    topo_sort(g, todo, targets.v, targets.n, out);
  } else {
    reword(g, e, CMD_HISTORY, start && start[0] ? start : "base", head);
  }
  lm_ilist_release(&lower);
  lm_ilist_release(&targets);
  free(todo);
  free(start);
  free(end);
  return rc;
}
