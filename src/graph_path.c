/*
 * graph_path.c -- revision sets to paths: which revisions lie between a
 * target and the version rows (Alembic's _collect_upgrade_revisions and
 * _collect_downgrade_revisions, with _iterate_related_revisions' overlap
 * check), the command-level wording of their failures, and history's walk.
 * Targets are resolved by graph_target.c; the plans built on these paths
 * are graph_plan.c's.
 */
#include "graph_int.h"

#include <stdlib.h>
#include <string.h>

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
      lm_graph_sort_by_id(g, overlaps.v, overlaps.n);
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

/* ---- collecting revisions ---- */

/* Alembic's _collect_upgrade_revisions. The lower end is lower (values:
 * the version rows) or, when that is NULL, the identifier lower_str
 * (history's START), resolved in Alembic's order: after the upper end.
 * Marks todo[i] = 1 for what must run; targets get the resolved upper end. */
int lm_graph_collect_upgrade(struct lm_graph *g, const char *upper, const struct lm_ilist *lower,
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
  uint32_t *req = lm_graph_marks_new(n);
  uint32_t *cur = lm_graph_marks_new(n);
  struct lm_ilist current = LM_ILIST_INIT;
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
      rc = lm_graph_parse_downgrade_target(g, &up, lower_str, assert_length, &branch, &rev, e);
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
int lm_graph_collect_downgrade(struct lm_graph *g, const struct lm_ilist *heads, const char *target,
                             unsigned char *todo, struct lm_err *e) {
  size_t n = g->nrevs;
  char *branch = NULL;
  int trev = LM_REV_NONE;
  int rc = lm_graph_parse_downgrade_target(g, heads, target, 1, &branch, &trev, e);
  if (rc) {
    free(branch);
    return rc;
  }
  if (trev == LM_REV_BASE) trev = LM_REV_NONE;
  struct lm_ilist roots = LM_ILIST_INIT;
  if (trev == LM_REV_NONE) {
    for (size_t i = 0; i < n; i++)
      if (g->revs[i].ndown == 0 && !g->revs[i].hidden) lm_ilist_push(&roots, (int)i);
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

int lm_graph_reword(struct lm_graph *g, struct lm_err *e, int cmd, const char *start,
                  const char *end) {
  if (g->ekind == LM_GERR_RANGE) {
    if (cmd == LM_CMD_UPGRADE)
      lm_err_set(e, LM_ERROR, "Destination %s is not a valid upgrade target from current head(s)",
                 end ? end : "head");
    else if (cmd == LM_CMD_DOWNGRADE)
      lm_err_set(e, LM_ERROR, "Destination %s is not a valid downgrade target from current head(s)",
                 end ? end : "base");
    else
      lm_err_set(e, LM_ERROR, "Requested range %s:%s does not refer to ancestor/descendant "
                 "revisions along the same branch", start ? start : "base", end ? end : "heads");
  } else if (g->ekind == LM_GERR_MULTIPLE_HEADS) {
    if (cmd == LM_CMD_STAMP) {
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
int lm_graph_resolve_rows(struct lm_graph *g, const char *const *rows, size_t nrows,
                        struct lm_ilist *out, struct lm_err *e) {
  for (size_t i = 0; i < nrows; i++) {
    int r = lm_graph_find_row(g, rows[i]), stored = lm_graph_find(g, rows[i]);
    if (r < 0)
      return lm_graph_fail(g, e, LM_GERR_RESOLUTION,
                           "Can't locate revision identified by '%s' (a row of the version table)",
                           rows[i]);
    if (g->revs[r].hidden) return lm_graph_hidden_error(g, r, e);
    if (stored != r) {                                 /* read as its squash (or chain) */
      lm_ilist_push(&g->alias, r);
      lm_ilist_push(&g->alias, stored);
    }
    size_t k = 0;
    while (k < out->n && out->v[k] != r) k++;
    if (k == out->n) lm_ilist_push(out, r);
  }
  return LM_OK;
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
  unsigned char *todo = lm_malloc(g->nrevs);
  int rc = LM_OK;
  int lower_current = strcmp(base, "current") == 0, upper_current = strcmp(head, "current") == 0;
  /* always: the view (squash or chain) is the rows', never the one the
   * previous call left; without rows every squash is in effect */
  rc = lm_graph_select(g, rows, nrows, e);
  if (rc == LM_OK && (lower_current || upper_current)) {
    struct lm_ilist cur = LM_ILIST_INIT;
    rc = lm_graph_resolve_rows(g, rows, nrows, &cur, e);
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
    rc = lm_graph_collect_upgrade(g, upper_current == 2 ? NULL : head, lower_current == 2 ? &lower : NULL,
                         lower_current == 2 ? NULL : base, 1, 0, 0, todo, &targets, e);
  if (rc == LM_OK) {
    lm_graph_topo_sort(g, todo, targets.v, targets.n, out);
  } else {
    lm_graph_reword(g, e, LM_CMD_HISTORY, start && start[0] ? start : "base", head);
  }
  lm_ilist_release(&lower);
  lm_ilist_release(&targets);
  free(todo);
  free(start);
  free(end);
  return rc;
}

