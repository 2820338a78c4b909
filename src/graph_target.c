/*
 * graph_target.c -- Alembic's target grammar over the revision graph:
 *
 *   ident    := [branch "@"] atom [reldelta] | [branch "@"] reldelta
 *   atom     := head | heads | base | id | id prefix | branch label
 *   reldelta := ("+" | "-") digits
 *
 * Each function mirrors one of RevisionMap's (get_revisions, get_revision,
 * _revision_for_ident, filter_for_lineage, _walk, _parse_upgrade_target,
 * _parse_downgrade_target) so that every form resolves as in Alembic, but
 * the messages stay specific where Alembic's command layer folds them into
 * "Can't locate revision identified by ...": an ambiguous prefix lists its
 * candidates, a revision outside a branch says so.
 *
 * Values in lists are revision indices, LM_REV_NONE (Alembic's None) or
 * LM_REV_BASE (the "base" a walk down past a root yields).
 */
#include "graph_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* "X@head", "X@heads": when X names nothing, say it is no branch (Alembic
 * reports the lookup of X instead). */
static int check_branch_name(struct lm_graph *g, const char *branch, struct lm_err *e) {
  int rev;
  g->enotfound = 0;
  if (lm_graph_lookup(g, branch) >= 0) return LM_OK;
  int rc = lm_graph_revision_for_ident(g, branch, NULL, &rev, e);
  if (rc && g->enotfound) rc = lm_graph_fail(g, e, LM_GERR_RESOLUTION, "No such branch: '%s'", branch);
  return rc;
}

/* ---- _resolve_revision_number ---- */

struct rnum {
  char *branch;          /* the part before the first '@'; malloc'd, NULL if none */
  const char *raw;       /* the identifier to look up, when not symbolic */
  struct lm_ilist ids;   /* head / heads / base: the revisions they denote */
};

static void rnum_release(struct rnum *r) {
  free(r->branch);
  lm_ilist_release(&r->ids);
}

static void join_ids(struct lm_graph *g, const int *v, size_t n, struct lm_buf *b) {
  for (size_t i = 0; i < n; i++) {
    if (i) lm_buf_adds(b, ", ");
    lm_buf_adds(b, v[i] >= 0 ? g->revs[v[i]].id : "base");
  }
}

static int multiple_heads(struct lm_graph *g, struct lm_err *e, const int *v, size_t n,
                          const char *argument) {
  struct lm_buf b = LM_BUF_INIT;
  join_ids(g, v, n, &b);
  lm_graph_fail(g, e, LM_GERR_MULTIPLE_HEADS,
                "Multiple heads are present for given argument '%s'; %s", argument, b.data);
  lm_buf_release(&b);
  free(g->emh_arg);
  g->emh_arg = lm_strdup(argument);
  return LM_ERROR;
}

/* Alembic's get_current_head: the one head (in branch's lineage). */
static int current_head(struct lm_graph *g, const char *branch, struct lm_ilist *out,
                        struct lm_err *e) {
  struct lm_ilist heads = LM_ILIST_INIT;
  int rc = LM_OK;
  if (branch) {
    rc = lm_graph_filter_lineage(g, g->heads.v, g->heads.n, branch, 0, &heads, e);
  } else {
    for (size_t i = 0; i < g->heads.n; i++) lm_ilist_push(&heads, g->heads.v[i]);
  }
  if (rc == LM_OK && heads.n > 1) {
    char *arg = branch ? lm_asprintf("%s@head", branch) : lm_strdup("head");
    rc = multiple_heads(g, e, heads.v, heads.n, arg);
    free(arg);
  }
  if (rc == LM_OK && heads.n == 1) lm_ilist_push(out, heads.v[0]);
  lm_ilist_release(&heads);
  return rc;
}

static int resolve_number(struct lm_graph *g, const char *id, struct rnum *r, struct lm_err *e) {
  memset(r, 0, sizeof *r);
  const char *at = strchr(id, '@');
  if (at) {
    if (at > id) r->branch = lm_strndup(id, (size_t)(at - id));
    id = at + 1;
  }
  if (r->branch && (strcmp(id, "heads") == 0 || strcmp(id, "head") == 0) &&
      check_branch_name(g, r->branch, e))
    return LM_ERROR;
  if (strcmp(id, "heads") == 0) {
    if (r->branch)
      return lm_graph_filter_lineage(g, g->heads.v, g->heads.n, r->branch, 0, &r->ids, e);
    for (size_t i = 0; i < g->real_heads.n; i++) lm_ilist_push(&r->ids, g->real_heads.v[i]);
    return LM_OK;
  }
  if (strcmp(id, "head") == 0) return current_head(g, r->branch, &r->ids, e);
  if (strcmp(id, "base") == 0) return LM_OK;
  r->raw = id;
  return LM_OK;
}

/* ---- lookups ---- */

/* First entry of the sorted key index not less than prefix. */
static size_t lower_bound(const struct lm_graph *g, const char *prefix) {
  size_t lo = 0, hi = g->nkeys;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(g->keys[mid].key, prefix) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

int lm_graph_resolve_branch(struct lm_graph *g, const char *branch, int *out, struct lm_err *e) {
  int r = lm_graph_lookup(g, branch);
  if (r >= 0) {
    *out = r;
    return LM_OK;
  }
  if (lm_graph_revision_for_ident(g, branch, NULL, out, e) == LM_OK) return LM_OK;
  return lm_graph_fail(g, e, LM_GERR_RESOLUTION, "No such branch: '%s'", branch);
}

/* Alembic's _revision_for_ident: an exact id or label, else a unique
 * prefix (of ids and labels longer than three characters); with branch,
 * the revision must be in that branch's lineage. */
int lm_graph_revision_for_ident(struct lm_graph *g, const char *ident, const char *branch,
                                int *out, struct lm_err *e) {
  int branch_rev = -1;
  if (branch && lm_graph_resolve_branch(g, branch, &branch_rev, e)) return LM_ERROR;
  int rev = lm_graph_lookup(g, ident);
  if (rev < 0) {
    size_t plen = strlen(ident), nmatch = 0;
    struct lm_ilist cands = LM_ILIST_INIT;         /* indices into g->keys */
    uint32_t s_anc = 0, s_desc = 0;
    if (branch_rev >= 0) {                         /* the branch's line, once */
      s_anc = lm_graph_new_stamp(g);
      lm_graph_mark_ancestors(g, &branch_rev, 1, 0, g->mark2, s_anc);
      s_desc = lm_graph_new_stamp(g);
      lm_graph_mark_descendants(g, &branch_rev, 1, 0, g->mark3, s_desc);
    }
    for (size_t k = lower_bound(g, ident); k < g->nkeys; k++) {
      const char *key = g->keys[k].key;
      if (strncmp(key, ident, plen) != 0) break;
      if (strlen(key) <= 3) continue;
      int r = g->keys[k].rev;
      if (branch_rev >= 0 && g->mark2[r] != s_anc && g->mark3[r] != s_desc) continue;
      lm_ilist_push(&cands, (int)k);
      nmatch++;
    }
    if (plen == 0) {                               /* an empty prefix names nothing */
      nmatch = 0;
      cands.n = 0;
    }
    if (nmatch == 0) {
      lm_ilist_release(&cands);
      int hidden = lm_graph_find(g, ident);
      if (hidden >= 0) return lm_graph_hidden_error(g, hidden, e);
      if (branch_rev >= 0 && plen > 0) {
        /* The prefix may exist outside the branch: say so. */
        size_t k = lower_bound(g, ident);
        if (k < g->nkeys && strncmp(g->keys[k].key, ident, plen) == 0 &&
            strlen(g->keys[k].key) > 3)
          return lm_graph_fail(g, e, LM_GERR_RESOLUTION,
                               "Revision %s is not a member of branch '%s'", g->keys[k].key,
                               branch);
      }
      g->enotfound = 1;
      if (plen < 4)
        return lm_graph_fail(g, e, LM_GERR_RESOLUTION,
                             "Can't locate revision identified by '%s'; please ensure at "
                             "least four characters are present for partial revision "
                             "identifier matches", ident);
      return lm_graph_fail(g, e, LM_GERR_RESOLUTION, "Can't locate revision identified by '%s'",
                           ident);
    }
    if (nmatch > 1) {
      struct lm_buf b = LM_BUF_INIT;
      for (size_t i = 0; i < cands.n && i < 10; i++)
        lm_buf_printf(&b, "%s'%s'", i ? ", " : "", g->keys[cands.v[i]].key);
      if (cands.n > 10) lm_buf_printf(&b, ", ... (%zu in all)", cands.n);
      lm_graph_fail(g, e, LM_GERR_RESOLUTION, "Multiple revisions start with '%s': %s", ident,
                    b.data);
      lm_buf_release(&b);
      lm_ilist_release(&cands);
      return LM_ERROR;
    }
    rev = g->keys[cands.v[0]].rev;
    lm_ilist_release(&cands);
  }
  if (branch_rev >= 0 && !lm_graph_shares_lineage(g, rev, branch_rev, 0))
    return lm_graph_fail(g, e, LM_GERR_RESOLUTION, "Revision %s is not a member of branch '%s'",
                         g->revs[rev].id, branch);
  *out = rev;
  return LM_OK;
}

/* Python's int() on the identifier: [+-]digits, nothing else. */
static int parse_int(const char *s, long *out) {
  const char *p = s;
  if (*p == '+' || *p == '-') p++;
  if (!isdigit((unsigned char)*p)) return 0;
  for (const char *q = p; *q; q++)
    if (!isdigit((unsigned char)*q)) return 0;
  errno = 0;
  long v = strtol(s, NULL, 10);
  if (errno == ERANGE) v = (*s == '-') ? -LONG_MAX : LONG_MAX;
  *out = v;
  return 1;
}

int lm_graph_get_revisions(struct lm_graph *g, const char *ident, struct lm_ilist *out,
                           struct lm_err *e) {
  struct rnum r;
  int rc = resolve_number(g, ident, &r, e);
  long n;
  if (rc == LM_OK && r.raw && parse_int(r.raw, &n) && n < 0) {
    /* branch@-n: n steps down from each head (in that branch). */
    for (size_t i = 0; rc == LM_OK && i < g->real_heads.n; i++) {
      int h = g->real_heads.v[i], to;
      if (r.branch && !lm_graph_has_label(g, h, r.branch)) continue;
      rc = lm_graph_walk(g, h, n, NULL, 1, &to, e);
      if (rc == LM_OK) lm_ilist_push(out, to);
    }
  } else if (rc == LM_OK && r.raw) {
    int rev;
    rc = lm_graph_revision_for_ident(g, r.raw, r.branch, &rev, e);
    if (rc == LM_OK) lm_ilist_push(out, rev);
  } else if (rc == LM_OK) {
    for (size_t i = 0; i < r.ids.n; i++) lm_ilist_push(out, r.ids.v[i]);
  }
  rnum_release(&r);
  return rc;
}

int lm_graph_get_revision(struct lm_graph *g, const char *ident, int *out, struct lm_err *e) {
  struct rnum r;
  int rc = resolve_number(g, ident, &r, e);
  if (rc == LM_OK && r.raw) {
    rc = lm_graph_revision_for_ident(g, r.raw, r.branch, out, e);
  } else if (rc == LM_OK && r.ids.n > 1) {
    rc = multiple_heads(g, e, r.ids.v, r.ids.n, ident);
  } else if (rc == LM_OK && r.ids.n == 1) {
    *out = r.ids.v[0];
  } else if (rc == LM_OK) {
    int ignored;
    if (r.branch) rc = lm_graph_resolve_branch(g, r.branch, &ignored, e);
    *out = LM_REV_NONE;
  }
  rnum_release(&r);
  return rc;
}

/* Alembic's filter_for_lineage: keeps the revisions of in that are an
 * ancestor or a descendant of what check names. Uses mark2/mark3. */
int lm_graph_filter_lineage(struct lm_graph *g, const int *in, size_t n, const char *check,
                            int deps, struct lm_ilist *out, struct lm_err *e) {
  struct rnum r;
  struct lm_ilist shares = LM_ILIST_INIT;
  int rc = resolve_number(g, check, &r, e);
  if (rc == LM_OK && n == 0) {        /* Alembic resolves the names per target only */
    rnum_release(&r);
    return LM_OK;
  }
  if (rc == LM_OK && r.branch) {
    int rev;
    rc = lm_graph_revision_for_ident(g, r.branch, NULL, &rev, e);
    if (rc == LM_OK) lm_ilist_push(&shares, rev);
  }
  if (rc == LM_OK && r.raw) {
    int rev;
    rc = lm_graph_revision_for_ident(g, r.raw, NULL, &rev, e);
    if (rc == LM_OK) lm_ilist_push(&shares, rev);
  }
  for (size_t i = 0; rc == LM_OK && i < r.ids.n; i++) lm_ilist_push(&shares, r.ids.v[i]);
  if (rc == LM_OK) {
    /* Copy first: in may alias g->heads etc., out may not alias in. */
    uint32_t s1 = lm_graph_new_stamp(g);
    lm_graph_mark_ancestors(g, shares.v, shares.n, deps, g->mark2, s1);
    uint32_t s2 = lm_graph_new_stamp(g);
    lm_graph_mark_descendants(g, shares.v, shares.n, deps, g->mark3, s2);
    for (size_t i = 0; i < n && rc == LM_OK; i++) {
      int x = in[i];
      if (x == LM_REV_BASE && shares.n)       /* Alembic looks "base" up as a name */
        rc = lm_graph_fail(g, e, LM_GERR_RESOLUTION, "Can't locate revision identified by 'base'");
      if (x < 0) continue;
      if (shares.n == 0 || g->mark2[x] == s1 || g->mark3[x] == s2) lm_ilist_push(out, x);
    }
  }
  lm_ilist_release(&shares);
  rnum_release(&r);
  return rc;
}

/* ---- _walk ---- */

int lm_graph_walk(struct lm_graph *g, int start, long steps, const char *branch,
                  int no_overwalk, int *out, struct lm_err *e) {
  int initial = start;
  long count = steps < 0 ? -steps : steps;
  struct lm_ilist cands = LM_ILIST_INIT;
  int rc = LM_OK;
  for (long k = 0; k < count; k++) {
    cands.n = 0;
    if (steps > 0) {
      const int *up;
      size_t nup;
      if (initial < 0) {
        up = g->bases.v;
        nup = g->bases.n;
      } else {
        up = g->revs[initial].children.v;
        nup = g->revs[initial].children.n;
      }
      if (branch) {
        rc = lm_graph_filter_lineage(g, up, nup, branch, 0, &cands, e);
        if (rc) break;
      } else {
        for (size_t i = 0; i < nup; i++) lm_ilist_push(&cands, up[i]);
      }
    } else if (initial != LM_REV_BASE) {
      if (initial == LM_REV_NONE) {
        for (size_t i = 0; i < g->heads.n; i++) lm_ilist_push(&cands, g->heads.v[i]);
      } else {
        struct lm_rev *r = &g->revs[initial];
        for (size_t i = 0; i < r->ndown; i++) lm_ilist_push(&cands, r->down[i]);
      }
      if (cands.n == 0) lm_ilist_push(&cands, LM_REV_BASE);
    }
    if (cands.n == 0) {
      *out = no_overwalk ? LM_REV_NONE : initial;
      lm_ilist_release(&cands);
      return LM_OK;
    }
    if (cands.n > 1) {
      rc = lm_graph_fail(g, e, LM_GERR_REVISION, "Ambiguous walk");
      break;
    }
    initial = cands.v[0];
  }
  lm_ilist_release(&cands);
  if (rc == LM_OK) *out = initial;
  return rc;
}

/* ---- relative targets ---- */

/* Alembic's _relative_destination, r"(?:(.+?)@)?(\w+)?((?:\+|-)\d+)",
 * matched at the start of s (trailing text is ignored, as re.match does). */
struct relative {
  char *branch;          /* malloc'd or NULL */
  char *symbol;          /* malloc'd or NULL */
  char *text;            /* the signed number as written, malloc'd */
  long value;
};

static int is_word(unsigned char c) { return isalnum(c) || c == '_' || c >= 0x80; }

static int match_tail(const char *t, struct relative *m) {
  size_t i = 0;
  while (t[i] && is_word((unsigned char)t[i])) i++;
  if ((t[i] != '+' && t[i] != '-') || !isdigit((unsigned char)t[i + 1])) return 0;
  size_t j = i + 1;
  while (isdigit((unsigned char)t[j])) j++;
  m->symbol = i ? lm_strndup(t, i) : NULL;
  m->text = lm_strndup(t + i, j - i);
  errno = 0;
  m->value = strtol(m->text, NULL, 10);
  if (errno == ERANGE) m->value = m->text[0] == '-' ? -LONG_MAX : LONG_MAX;
  return 1;
}

static int match_relative(const char *s, struct relative *m) {
  memset(m, 0, sizeof *m);
  for (const char *at = strchr(s, '@'); at; at = strchr(at + 1, '@')) {
    if (at > s && match_tail(at + 1, m)) {
      m->branch = lm_strndup(s, (size_t)(at - s));
      return 1;
    }
  }
  return match_tail(s, m);
}

static void relative_release(struct relative *m) {
  free(m->branch);
  free(m->symbol);
  free(m->text);
}

static int didnt_produce(struct lm_graph *g, struct lm_err *e, const char *text, long value) {
  return lm_graph_fail(g, e, LM_GERR_REVISION, "Relative revision %s didn't produce %ld migrations",
                       text, value < 0 ? -value : value);
}

/* get_revision("branch@symbol"), or get_revision(symbol) without branch. */
static int get_in_branch(struct lm_graph *g, const char *branch, const char *symbol, int *out,
                         struct lm_err *e) {
  if (!branch) return lm_graph_get_revision(g, symbol, out, e);
  char *s = lm_asprintf("%s@%s", branch, symbol);
  int rc = lm_graph_get_revision(g, s, out, e);
  free(s);
  return rc;
}

int lm_graph_parse_upgrade_target(struct lm_graph *g, const struct lm_ilist *current,
                                  const char *current_str, const char *target, int assert_length,
                                  struct lm_ilist *out, struct lm_err *e) {
  struct relative m;
  if (!match_relative(target, &m)) return lm_graph_get_revisions(g, target, out, e);
  int rc = LM_OK, rev = LM_REV_NONE;
  struct lm_ilist resolved = LM_ILIST_INIT;
  if (m.value > 0 && m.symbol == NULL && current == NULL) {
    /* The lower end is an identifier: Alembic resolves it only now, to
     * one revision when walking, to all it names when filtering by branch. */
    if (m.branch) {
      rc = lm_graph_get_revisions(g, current_str ? current_str : "base", &resolved, e);
    } else {
      int one = LM_REV_NONE;
      rc = lm_graph_get_revision(g, current_str ? current_str : "base", &one, e);
      lm_ilist_push(&resolved, one);
    }
    current = &resolved;
  }
  if (rc == LM_OK && m.value > 0 && m.symbol == NULL) {
    /* +N from the current revision(s), within branch if given. */
    struct lm_ilist start = LM_ILIST_INIT;
    if (m.branch) {
      rc = lm_graph_filter_lineage(g, current->v, current->n, m.branch, 0, &start, e);
      if (rc == LM_OK && start.n == 0) {
        /* Not a head of that branch yet: the tips of the applied part of it. */
        struct lm_ilist anc = LM_ILIST_INIT, active = LM_ILIST_INIT;
        uint32_t s = lm_graph_new_stamp(g);
        lm_graph_mark_walk(g, current->v, current->n, WALK_NORM_DOWN, g->mark, s, &anc);
        rc = lm_graph_filter_lineage(g, anc.v, anc.n, m.branch, 0, &active, e);
        if (rc == LM_OK) {
          uint32_t s2 = lm_graph_new_stamp(g), s3 = lm_graph_new_stamp(g);
          for (size_t i = 0; i < active.n; i++) g->mark[active.v[i]] = s2;
          for (size_t i = 0; i < active.n; i++) {
            struct lm_rev *r = &g->revs[active.v[i]];
            for (size_t j = 0; j < r->norm_down.n; j++) g->mark[r->norm_down.v[j]] = s3;
          }
          for (size_t i = 0; i < active.n; i++)
            if (g->mark[active.v[i]] == s2) lm_ilist_push(&start, active.v[i]);
        }
        lm_ilist_release(&anc);
        lm_ilist_release(&active);
      }
    } else {
      for (size_t i = 0; i < current->n; i++) lm_ilist_push(&start, current->v[i]);
    }
    if (rc == LM_OK && start.n > 1)
      rc = lm_graph_fail(g, e, LM_GERR_REVISION, "Ambiguous upgrade from multiple current revisions");
    if (rc == LM_OK)
      rc = lm_graph_walk(g, start.n ? start.v[0] : LM_REV_NONE, m.value, m.branch, assert_length,
                         &rev, e);
    if (rc == LM_OK && rev == LM_REV_NONE) rc = didnt_produce(g, e, m.text, m.value);
    lm_ilist_release(&start);
  } else if (rc == LM_OK && m.value > 0) {
    int from;
    rc = lm_graph_get_revision(g, m.symbol, &from, e);
    if (rc == LM_OK) rc = lm_graph_walk(g, from, m.value, m.branch, assert_length, &rev, e);
    if (rc == LM_OK && rev == LM_REV_NONE && assert_length)
      rc = lm_graph_fail(g, e, LM_GERR_REVISION, "Walked too far");
  } else if (rc == LM_OK && m.symbol == NULL) {
    rc = didnt_produce(g, e, m.text, m.value);
  } else if (rc == LM_OK) {
    int from;
    rc = get_in_branch(g, m.branch, m.symbol, &from, e);
    if (rc == LM_OK) rc = lm_graph_walk(g, from, m.value, NULL, assert_length, &rev, e);
    if (rc == LM_OK && rev == LM_REV_NONE && assert_length)
      rc = lm_graph_fail(g, e, LM_GERR_REVISION, "Walked too far");
  }
  if (rc == LM_OK) lm_ilist_push(out, rev);
  lm_ilist_release(&resolved);
  relative_release(&m);
  return rc;
}

/* downgrade -N from several current heads: Alembic warns and steps back
 * the first row; luamig refuses and names each head's own spelling.
 * HEAD@-N (or LABEL@-N) walks that head's branch only, where HEAD-N names
 * a revision whose downgrade also undoes every other branch above it. */
static int ambiguous_downgrade(struct lm_graph *g, const struct lm_ilist *current,
                               const char *text, struct lm_err *e) {
  struct lm_buf heads = LM_BUF_INIT, ways = LM_BUF_INIT;
  for (size_t i = 0; i < current->n; i++) {
    struct lm_rev *r = &g->revs[current->v[i]];
    lm_buf_printf(&heads, "%s%s", i ? ", " : "", r->id);
    const char *name = r->nown_labels ? r->own_labels[0] : r->id;
    lm_buf_adds(&ways, i == 0 ? "" : i + 1 == current->n ? " or " : ", ");
    if (r->ndown > 1) {                               /* HEAD@-1 from a merge: an ambiguous walk */
      lm_buf_printf(&ways, "not %s, a merge with no single step back", r->id);
    } else {
      lm_buf_printf(&ways, "`luamig downgrade %s@%s`", name, text);
    }
  }
  int rc = lm_graph_fail(g, e, LM_GERR_REVISION, "downgrade %s is ambiguous: the database has "
                         "%zu current heads (%s); name the head to step back, e.g. %s (HEAD@%s "
                         "or LABEL@%s steps back that branch only)", text, current->n, heads.data,
                         ways.data, text, text);
  lm_buf_release(&heads);
  lm_buf_release(&ways);
  return rc;
}

int lm_graph_parse_downgrade_target(struct lm_graph *g, const struct lm_ilist *current,
                                    const char *target, int assert_length, char **branch,
                                    int *out, struct lm_err *e) {
  *branch = NULL;
  struct relative m;
  if (!match_relative(target, &m)) {
    /* Absolute: the branch (before the last '@') only narrows the roots. */
    const char *at = strrchr(target, '@');
    if (at && at > target) *branch = lm_strndup(target, (size_t)(at - target));
    return lm_graph_get_revision(g, at ? at + 1 : target, out, e);
  }
  int rc = LM_OK, rev = LM_REV_NONE;
  if (m.value >= 0) {
    if (m.symbol == NULL) {
      rc = didnt_produce(g, e, m.text, m.value);
    } else {
      int from;
      rc = lm_graph_get_revision(g, m.symbol, &from, e);
      if (rc == LM_OK) rc = lm_graph_walk(g, from, m.value, m.branch, assert_length, &rev, e);
      if (rc == LM_OK && rev == LM_REV_NONE)
        rc = lm_graph_fail(g, e, LM_GERR_REVISION, "Walked too far");
    }
  } else {
    int relative_to_current = m.symbol == NULL;
    char *symbol_owned = NULL;
    const char *symbol = m.symbol;
    const char *walk_branch = m.branch;
    if (relative_to_current && m.branch) {
      struct lm_ilist on_branch = LM_ILIST_INIT;
      rc = lm_graph_filter_lineage(g, current->v, current->n, m.branch, 0, &on_branch, e);
      if (rc == LM_OK && on_branch.n == 0) {
        /* The branch's head may be absorbed by a dependent head. */
        struct lm_ilist all = LM_ILIST_INIT;
        lm_graph_all_current(g, current->v, current->n, &all);
        rc = lm_graph_filter_lineage(g, all.v, all.n, m.branch, 0, &on_branch, e);
        lm_ilist_release(&all);
      }
      if (rc == LM_OK && on_branch.n == 0)
        rc = lm_graph_fail(g, e, LM_GERR_REVISION,
                           "Relative revision %s didn't produce %ld migrations: no current "
                           "revision is on branch '%s'", m.text, -m.value, m.branch);
      else if (rc == LM_OK && on_branch.n > 1)
        rc = lm_graph_fail(g, e, LM_GERR_REVISION,
                           "Ambiguous downgrade from multiple current revisions on branch '%s'",
                           m.branch);
      if (rc == LM_OK) symbol = symbol_owned = lm_strdup(g->revs[on_branch.v[0]].id);
      lm_ilist_release(&on_branch);
    } else if (relative_to_current) {
      if (current->n == 0) {
        rc = didnt_produce(g, e, m.text, m.value);
      } else {
        int distinct = 0;
        for (size_t i = 1; i < current->n; i++)
          if (current->v[i] != current->v[0]) distinct = 1;
        if (distinct) {
          rc = ambiguous_downgrade(g, current, m.text, e);
        } else if (current->v[0] < 0) {
          rc = didnt_produce(g, e, m.text, m.value);
        } else {
          symbol = symbol_owned = lm_strdup(g->revs[current->v[0]].id);
          walk_branch = symbol;       /* restrict to the selected revision's line */
        }
      }
    }
    if (rc == LM_OK) {
      int from;
      rc = get_in_branch(g, walk_branch, symbol, &from, e);
      int walked = rc == LM_OK;
      if (walked) rc = lm_graph_walk(g, from, m.value, NULL, assert_length, &rev, e);
      if (walked && rc != LM_OK && relative_to_current && g->revs[from].ndown > 1) {
        /* the database is at a merge: downgrading to a parent undoes the
         * merge alone, whichever parent is named */
        const struct lm_rev *mr = &g->revs[from];
        struct lm_buf parents = LM_BUF_INIT;
        for (size_t j = 0; j < mr->ndown; j++)
          lm_buf_printf(&parents, "%s%s", j ? ", " : "", g->revs[mr->down[j]].id);
        rc = lm_graph_fail(g, e, LM_GERR_REVISION, "Ambiguous walk: the database is at %s, a merge "
                           "of %s; `luamig downgrade %s` undoes the merge alone (the database is "
                           "then at %s)", mr->id, parents.data, g->revs[mr->down[0]].id, parents.data);
        lm_buf_release(&parents);
      }
      if (rc == LM_OK && rev == LM_REV_NONE) {
        if (relative_to_current) rc = didnt_produce(g, e, m.text, m.value);
        else rc = lm_graph_fail(g, e, LM_GERR_REVISION, "Walked too far");
      }
    }
    if (rc == LM_OK && walk_branch) *branch = lm_strdup(walk_branch);
    free(symbol_owned);
  }
  if (rc == LM_OK && m.value >= 0 && m.branch) *branch = lm_strdup(m.branch);
  if (rc == LM_OK) *out = rev;
  relative_release(&m);
  return rc;
}

/* ---- public ---- */

/* ScriptDirectory's wording of a multiple-heads failure. */
static int reword_heads(struct lm_graph *g, struct lm_err *e) {
  if (g->ekind == LM_GERR_MULTIPLE_HEADS) {
    const char *arg = g->emh_arg ? g->emh_arg : "head";
    lm_err_set(e, LM_ERROR, "Multiple head revisions are present for given argument '%s'; please "
               "specify a specific target revision, '<branchname>@%s' to narrow to a "
               "specific head, or 'heads' for all heads", arg, arg);
  }
  return LM_ERROR;
}

int lm_graph_resolve(struct lm_graph *g, const char *ident, struct lm_ilist *out,
                     struct lm_err *e) {
  if (!g->built) return lm_err_set(e, LM_ERROR, "the revision graph is not built");
  size_t before = out->n;
  g->ekind = 0;
  int rc = lm_graph_get_revisions(g, ident, out, e);
  if (rc) return reword_heads(g, e);
  /* Drop what a walk past the ends produced; "base" denotes nothing. */
  size_t k = before;
  for (size_t i = before; i < out->n; i++)
    if (out->v[i] >= 0) out->v[k++] = out->v[i];
  out->n = k;
  return LM_OK;
}

int lm_graph_resolve_one(struct lm_graph *g, const char *ident, int *rev, struct lm_err *e) {
  if (!g->built) return lm_err_set(e, LM_ERROR, "the revision graph is not built");
  g->ekind = 0;
  int rc = lm_graph_get_revision(g, ident, rev, e);
  if (rc) return reword_heads(g, e);
  if (*rev < 0) *rev = -1;
  return LM_OK;
}
