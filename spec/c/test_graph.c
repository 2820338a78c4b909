/*
 * test_graph.c -- the revision graph in C alone: no Lua, no database.
 *
 * Graphs are written one revision per entry as "id:parent,parent
 * ~dep,dep @label =replaced,replaced": e.g. "m:c1,c2" is a merge, "n ~auth"
 * a root that depends on auth, "s:a =b,c" a squash of b and c. Expectations are Alembic's (reference/alembic.md
 * sections 2 and 3); the Lua specs cover the whole grammar.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "testhelp.h"

/* Splits s at any of seps into at most max words (in place). */
static size_t split(char *s, const char *seps, char **out, size_t max) {
  size_t n = 0;
  for (char *tok = strtok(s, seps); tok && n < max; tok = strtok(NULL, seps)) out[n++] = tok;
  return n;
}

/* Adds the revisions of defs (NULL-terminated) and builds; returns the
 * graph, or NULL with e set. */
static struct lm_graph *make(const char *const *defs, struct lm_err *e) {
  struct lm_graph *g = lm_graph_new();
  for (size_t i = 0; defs[i]; i++) {
    char buf[256], down[128] = "", deps[128] = "", label[64] = "", repl[128] = "";
    snprintf(buf, sizeof buf, "%s", defs[i]);
    char *eq = strchr(buf, '=');
    if (eq) { snprintf(repl, sizeof repl, "%s", eq + 1); *eq = '\0'; }
    char *at = strchr(buf, '@'), *tilde = strchr(buf, '~'), *colon = strchr(buf, ':');
    if (at) { snprintf(label, sizeof label, "%s", at + 1); *at = '\0'; }
    if (tilde) { snprintf(deps, sizeof deps, "%s", tilde + 1); *tilde = '\0'; }
    if (colon) { snprintf(down, sizeof down, "%s", colon + 1); *colon = '\0'; }
    char *id = strtok(buf, " ");
    char *dv[8], *pv[8], *lv[1] = {label}, *rv[8];
    if (at) { char *sp = strchr(label, ' '); if (sp) *sp = '\0'; }
    struct lm_rev_spec spec = {0};
    spec.id = id ? id : "";
    spec.down = (const char *const *)dv;
    spec.ndown = split(down, ", ", dv, 8);
    spec.depends_on = (const char *const *)pv;
    spec.ndepends_on = split(deps, ", ", pv, 8);
    spec.labels = (const char *const *)lv;
    spec.nlabels = label[0] ? 1 : 0;
    spec.replaces = (const char *const *)rv;
    spec.nreplaces = split(repl, ", ", rv, 8);
    spec.has_downgrade = 1;
    if (lm_graph_add(g, &spec, e)) {
      lm_graph_free(g);
      return NULL;
    }
  }
  if (lm_graph_build(g, e)) {
    lm_graph_free(g);
    return NULL;
  }
  return g;
}

static const struct lm_graph *sort_graph;
static int by_id(const void *a, const void *b) {
  return strcmp(sort_graph->revs[*(const int *)a].id, sort_graph->revs[*(const int *)b].id);
}

/* "up a>b [rows, sorted]" per step, joined by " | ". Caller frees. */
static char *describe(const struct lm_graph *g, const struct lm_plan *p) {
  sort_graph = g;
  for (size_t i = 0; i < p->nsteps; i++)
    if (p->steps[i].rows.n > 1) qsort(p->steps[i].rows.v, p->steps[i].rows.n, sizeof(int), by_id);
  struct lm_buf b = LM_BUF_INIT;
  for (size_t i = 0; i < p->nsteps; i++) {
    const struct lm_step *s = &p->steps[i];
    if (i) lm_buf_adds(&b, " | ");
    lm_buf_adds(&b, s->stamp ? "stamp " : s->upgrade ? "up " : "down ");
    for (size_t j = 0; j < s->from.n; j++)
      lm_buf_printf(&b, "%s%s", j ? "," : "", g->revs[s->from.v[j]].id);
    lm_buf_adds(&b, ">");
    for (size_t j = 0; j < s->to.n; j++)
      lm_buf_printf(&b, "%s%s", j ? "," : "", g->revs[s->to.v[j]].id);
    lm_buf_adds(&b, " [");
    for (size_t j = 0; j < s->rows.n; j++)
      lm_buf_printf(&b, "%s%s", j ? " " : "", g->revs[s->rows.v[j]].id);
    lm_buf_adds(&b, "]");
  }
  return lm_buf_detach(&b);
}

enum { UP, DOWN, STAMP };

/* Runs one plan and compares its description (or error) with want. */
static int plan_is(struct lm_graph *g, int kind, const char *rows_csv, const char *target,
                   const char *want) {
  char rbuf[256];
  char *rows[16];
  snprintf(rbuf, sizeof rbuf, "%s", rows_csv);
  size_t nrows = split(rbuf, ", ", rows, 16);
  struct lm_plan p = LM_PLAN_INIT;
  struct lm_err e = LM_ERR_INIT;
  int rc;
  if (kind == UP) rc = lm_graph_upgrade(g, (const char *const *)rows, nrows, target, &p, &e);
  else if (kind == DOWN) rc = lm_graph_downgrade(g, (const char *const *)rows, nrows, target, &p, &e);
  else rc = lm_graph_stamp(g, (const char *const *)rows, nrows, &target, 1, 0, &p, &e);
  char *got = rc ? lm_strdup(e.message) : describe(g, &p);
  int same = strcmp(got, want) == 0;
  if (!same) printf("#   got:  %s\n#   want: %s\n", got, want);
  free(got);
  lm_plan_release(&p);
  lm_err_release(&e);
  return same;
}

static int error_is(const char *const *defs, const char *want) {
  struct lm_err e = LM_ERR_INIT;
  struct lm_graph *g = make(defs, &e);
  int same = g == NULL && e.message && strcmp(e.message, want) == 0;
  if (!same) printf("#   got:  %s\n#   want: %s\n", g ? "(built)" : e.message, want);
  lm_graph_free(g);
  lm_err_release(&e);
  return same;
}

static int resolves_to(struct lm_graph *g, const char *ident, const char *want) {
  struct lm_ilist out = LM_ILIST_INIT;
  struct lm_err e = LM_ERR_INIT;
  struct lm_buf b = LM_BUF_INIT;
  if (lm_graph_resolve(g, ident, &out, &e)) {
    lm_buf_adds(&b, e.message);
  } else {
    for (size_t i = 0; i < out.n; i++) lm_buf_printf(&b, "%s%s", i ? " " : "", g->revs[out.v[i]].id);
  }
  int same = strcmp(b.data ? b.data : "", want) == 0;
  if (!same) printf("#   got:  %s\n#   want: %s\n", b.data ? b.data : "", want);
  lm_buf_release(&b);
  lm_ilist_release(&out);
  lm_err_release(&e);
  return same;
}

/* Graph G of reference section 2 (dddd4444 loaded before cccc3333, as in
 * the verified run). */
static const char *const G[] = {
  "aaaa1111", "bbbb2222:aaaa1111", "dddd4444:bbbb2222", "cccc3333:bbbb2222",
  "eeee5555:dddd4444,cccc3333", "ffff6666 @networking", "99990001:ffff6666",
  "99990002:99990001", "99990003:99990002 ~bbbb2222", NULL
};

static void test_shape(void) {
  struct lm_err e = LM_ERR_INIT;
  struct lm_graph *g = make(G, &e);
  test_cond("G builds", g != NULL);
  if (!g) return;
  test_cond("heads are eeee5555 and 99990003", g->heads.n == 2 &&
            strcmp(g->revs[g->heads.v[0]].id, "eeee5555") == 0 &&
            strcmp(g->revs[g->heads.v[1]].id, "99990003") == 0);
  test_cond("bases are aaaa1111 and ffff6666", g->bases.n == 2);
  test_cond("bbbb2222 is a branch point", lm_graph_is_branch_point(g, lm_graph_find(g, "bbbb2222")));
  test_cond("eeee5555 is a merge point", lm_graph_is_merge_point(g, lm_graph_find(g, "eeee5555")));
  test_cond("the label covers the line", lm_graph_has_label(g, lm_graph_find(g, "99990002"), "networking"));
  test_cond("the label stays off the other tree", !lm_graph_has_label(g, lm_graph_find(g, "bbbb2222"), "networking"));
  test_cond("resolve head-less heads", resolves_to(g, "heads", "eeee5555 99990003"));
  test_cond("resolve a label prefix", resolves_to(g, "netw", "ffff6666"));
  test_cond("resolve label@-1", resolves_to(g, "networking@-1", "99990002"));
  test_cond("an ambiguous prefix lists its candidates",
            resolves_to(g, "9999", "Multiple revisions start with '9999': '99990001', '99990002', '99990003'"));
  test_cond("outside the branch", resolves_to(g, "networking@aaaa1111",
            "Revision aaaa1111 is not a member of branch 'networking'"));
  test_cond("upgrade networking@head pulls the dependency first",
            plan_is(g, UP, "", "networking@head",
                    "up >aaaa1111 [aaaa1111] | up aaaa1111>bbbb2222 [bbbb2222] | "
                    "up >ffff6666 [bbbb2222 ffff6666] | up ffff6666>99990001 [99990001 bbbb2222] | "
                    "up 99990001>99990002 [99990002 bbbb2222] | up 99990002>99990003 [99990003]"));
  test_cond("downgrade bbbb2222@-1 takes the dependent down first",
            plan_is(g, DOWN, "99990003", "bbbb2222@-1",
                    "down 99990003>99990002 [99990002 bbbb2222] | down bbbb2222>aaaa1111 [99990002 aaaa1111]"));
  test_cond("from the branch point to the merge: cccc3333, dddd4444 (a new row), the merge",
            plan_is(g, UP, "bbbb2222", "eeee5555",
                    "up bbbb2222>cccc3333 [cccc3333] | up bbbb2222>dddd4444 [cccc3333 dddd4444] | "
                    "up dddd4444,cccc3333>eeee5555 [eeee5555]"));
  test_cond("current rows that overlap", plan_is(g, UP, "bbbb2222, 99990003", "eeee5555",
            "Requested revision 99990003 overlaps with other requested revisions bbbb2222"));
  test_cond("unmerge", plan_is(g, DOWN, "eeee5555", "dddd4444",
                               "down eeee5555>dddd4444,cccc3333 [cccc3333 dddd4444]"));
  test_cond("head with two heads",
            plan_is(g, UP, "", "head",
                    "Multiple head revisions are present for given argument 'head'; please specify a "
                    "specific target revision, '<branchname>@head' to narrow to a specific head, or "
                    "'heads' for all heads"));
  test_cond("+1 through a branch point", plan_is(g, UP, "bbbb2222", "+1", "Ambiguous walk"));
  test_cond("overshoot", plan_is(g, UP, "cccc3333", "+2", "Relative revision +2 didn't produce 2 migrations"));
  test_cond("not a downgrade target", plan_is(g, DOWN, "cccc3333", "dddd4444",
            "Destination dddd4444 is not a valid downgrade target from current head(s)"));
  test_cond("stamp up across a merge", plan_is(g, STAMP, "cccc3333, dddd4444", "eeee5555",
                                                "stamp cccc3333,dddd4444>eeee5555 [eeee5555]"));
  test_cond("stamp base", plan_is(g, STAMP, "eeee5555", "base", "stamp eeee5555> []"));
  test_cond("an unknown row", plan_is(g, UP, "deadbeef", "heads",
            "Can't locate revision identified by 'deadbeef' (a row of the version table)"));
  lm_graph_free(g);
}

static void test_errors(void) {
  test_cond("self-loop", error_is((const char *const[]){"a:a", NULL},
                                  "Self-loop is detected in revisions (a)"));
  test_cond("dependency self-loop", error_is((const char *const[]){"a ~a", NULL},
                                             "Dependency self-loop is detected in revisions (a)"));
  test_cond("cycle", error_is((const char *const[]){"a:c", "b:a", "c:b", "d", NULL},
                              "Cycle is detected in revisions (a, b, c)"
                              ". Each is the down_revision of the next, and c is the down_revision of a"
                              ": set one of these down_revisions to a revision outside the cycle (or nil) to break it"));
  test_cond("dependency cycle", error_is((const char *const[]){"a ~c", "b:a", "c:b", NULL},
                                         "Dependency cycle is detected in revisions (a, b, c)"
                                         ". Each is in the down_revision or depends_on of the next, and c is in a's"
                                         ": remove one of these links to break the cycle"));
  test_cond("missing parent", error_is((const char *const[]){"a", "b:x", NULL},
                                       "revision b: down_revision 'x' is not present"));
  test_cond("missing dependency", error_is((const char *const[]){"a", "b:a ~zz", NULL},
                                           "revision b: depends_on 'zz' is not present"));
  test_cond("duplicate id", error_is((const char *const[]){"a", "a", NULL},
                                     "Revision a is present more than once"));
  test_cond("duplicate label", error_is((const char *const[]){"a @x", "b:a @x", NULL},
                                        "Branch name 'x' in revision b already used by revision a"));
  test_cond("a label named like a revision", error_is((const char *const[]){"a", "b @a", NULL},
                                                      "Branch name 'a' in revision b already used by revision a"));
  test_cond("illegal characters", error_is((const char *const[]){"a-b", NULL},
                                           "Character(s) '-' not allowed in revision identifier 'a-b'"));
  struct lm_err e = LM_ERR_INIT;
  struct lm_graph *g = make((const char *const[]){NULL}, &e);
  test_cond("an empty graph builds, with no heads", g && g->heads.n == 0);
  test_cond("an empty graph upgrades to heads in no steps", g && plan_is(g, UP, "", "heads", ""));
  lm_graph_free(g);
}

/* The version-table writes of a plan: "U d>e", "D x", "I y", joined by " ". */
static char *ops_of(const struct lm_graph *g, const struct lm_plan *p) {
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_adds(&b, "");
  for (size_t i = 0; i < p->nsteps; i++)
    for (size_t j = 0; j < p->steps[i].nops; j++) {
      const struct lm_rowop *op = &p->steps[i].ops[j];
      if (b.len) lm_buf_adds(&b, " ");
      if (op->op == LM_ROW_UPDATE)
        lm_buf_printf(&b, "U %s>%s", g->revs[op->from].id, g->revs[op->to].id);
      else if (op->op == LM_ROW_DELETE) lm_buf_printf(&b, "D %s", g->revs[op->from].id);
      else lm_buf_printf(&b, "I %s", g->revs[op->to].id);
    }
  return lm_buf_detach(&b);
}

static int writes_are(struct lm_graph *g, int kind, const char *row, const char *target,
                      const char *want) {
  struct lm_plan p = LM_PLAN_INIT;
  struct lm_err e = LM_ERR_INIT;
  const char *rows[1] = {row};
  size_t nrows = row ? 1 : 0;
  int rc = kind == UP ? lm_graph_upgrade(g, rows, nrows, target, &p, &e)
                      : lm_graph_downgrade(g, rows, nrows, target, &p, &e);
  char *got = rc ? lm_strdup(e.message) : ops_of(g, &p);
  int same = strcmp(got, want) == 0;
  if (!same) printf("#   got:  %s\n#   want: %s\n", got, want);
  free(got);
  lm_plan_release(&p);
  lm_err_release(&e);
  return same;
}

static int order_is(struct lm_graph *g, const char *want) {
  struct lm_ilist o = LM_ILIST_INIT;
  lm_graph_order(g, &o);
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_adds(&b, "");
  for (size_t i = 0; i < o.n; i++) lm_buf_printf(&b, "%s%s", i ? " " : "", g->revs[o.v[i]].id);
  int same = strcmp(b.data, want) == 0;
  if (!same) printf("#   got:  %s\n#   want: %s\n", b.data, want);
  lm_buf_release(&b);
  lm_ilist_release(&o);
  return same;
}

/* Squashes (replaces): Django's squashmigrations rule per version rows. */
static void test_squash(void) {
  struct lm_err e = LM_ERR_INIT;
  struct lm_graph *g = make((const char *const[]){"a", "b:a", "c:b", "d:c", "e:d",
                                                   "s:a =b,c,d", NULL}, &e);
  test_cond("a squash builds", g != NULL);
  if (!g) { printf("# %s\n", e.message); lm_err_release(&e); return; }
  test_cond("without rows the squash stands for its chain", order_is(g, "a s e"));
  test_cond("the squash's child is the head", g->heads.n == 1 && strcmp(g->revs[g->heads.v[0]].id, "e") == 0);
  test_cond("a fresh database takes the squash",
            plan_is(g, UP, "", "heads", "up >a [a] | up a>s [s] | up s>e [e]"));
  test_cond("part-way (at c) finishes the old revisions",
            plan_is(g, UP, "c", "heads", "up c>d [d] | up d>e [e]"));
  test_cond("then the chain is the graph's view", order_is(g, "a b c d e"));
  test_cond("part-way (at b) too", plan_is(g, UP, "b", "heads", "up b>c [c] | up c>d [d] | up d>e [e]"));
  test_cond("at the chain's end (d) the squash counts as applied",
            plan_is(g, UP, "d", "heads", "up s>e [e]"));
  test_cond("the first write moves the stored row d", writes_are(g, UP, "d", "heads", "U d>e"));
  test_cond("offline from the chain's end: the squash, the row moved by name",
            writes_are(g, UP, NULL, "d:heads", "U d>e"));
  test_cond("past the range nothing runs", plan_is(g, UP, "e", "heads", ""));
  test_cond("downgrading past the range runs the squash's downgrade",
            plan_is(g, DOWN, "e", "a", "down e>s [s] | down s>a [a]"));
  test_cond("a downgrade from the stored row d deletes d's row by name",
            writes_are(g, DOWN, "d", "base", "U d>a D a"));
  test_cond("a target inside the squash says so",
            plan_is(g, UP, "", "c", "Revision c is squashed into s, which stands for it on this "
                    "database (none or all of the revisions it replaces are applied): name s or "
                    "a revision outside the squash"));
  test_cond("part-way, the squash as a target says so",
            plan_is(g, UP, "b", "s", "Revision s is a squash of b..d, which this database is "
                    "part-way through: it finishes those revisions first; name one of them, or "
                    "a revision after d"));
  test_cond("stamp part-way", plan_is(g, STAMP, "b", "d", "stamp b>d [d]"));
  {
    /* issue 16 leftovers: a history without rows is the squash's view
     * whatever view the previous call (part-way at c: the chain) left */
    test_cond("part-way (at c) again", plan_is(g, UP, "c", "heads", "up c>d [d] | up d>e [e]"));
    struct lm_ilist h = LM_ILIST_INIT;
    struct lm_buf b = LM_BUF_INIT;
    lm_buf_adds(&b, "");
    int ok = lm_graph_history(g, NULL, NULL, 0, &h, &e) == LM_OK;
    for (size_t i = 0; ok && i < h.n; i++) lm_buf_printf(&b, "%s%s", i ? " " : "", g->revs[h.v[i]].id);
    test_cond("a history without rows after a part-way plan: the squash's view", ok && strcmp(b.data, "e s a") == 0);
    if (strcmp(b.data, "e s a") != 0) printf("#   got:  %s\n", b.data);
    lm_buf_release(&b);
    lm_ilist_release(&h);
  }
  lm_graph_free(g);

  g = make((const char *const[]){"a", "s:a =b,c,d", "e:d", NULL}, &e);
  test_cond("files gone: ghosts stand for them", g != NULL && order_is(g, "a s e"));
  if (g) {
    test_cond("files gone: a row naming the chain's end reads as the squash",
              writes_are(g, UP, "d", "heads", "U d>e"));
    test_cond("files gone: part-way is refused",
              plan_is(g, UP, "c", "heads", "the database is at c, part-way through the revisions "
                      "squashed into s, but the files of b, c, d are gone: restore them (from "
                      "version control), upgrade past d, then delete them again"));
    test_cond("files gone: a fresh database", plan_is(g, UP, "", "heads", "up >a [a] | up a>s [s] | up s>e [e]"));
  }
  lm_graph_free(g);
  lm_err_release(&e);

  test_cond("a branch from inside the chain", error_is((const char *const[]){"a", "b:a", "c:b", "d:c",
            "f:b", "s:a =b,c,d", NULL}, "revision f: down_revision 'b' is inside the chain squashed "
            "into s, where only its last revision (d) or s may be named"));
  test_cond("not a chain", error_is((const char *const[]){"a", "b:a", "c:a", "s:a =b,c", NULL},
            "revision s: replaces must list a linear chain, oldest first, but the down_revision "
            "of c is not b (the revision before it in replaces)"));
  test_cond("not the first's parent", error_is((const char *const[]){"a", "b:a", "s =b", NULL},
            "revision s replaces b..., but its down_revision differs from b's: a squash has the "
            "down_revision of the first revision it replaces"));
  test_cond("replaced twice", error_is((const char *const[]){"a", "b:a", "s:a =b", "t:a =b", NULL},
            "revision b is replaced by both s and t: a revision may be squashed only once"));
  test_cond("a squash of a squash", error_is((const char *const[]){"a", "b:a", "s:a =b", "t:a =s", NULL},
            "revision t replaces s, which is itself a squash (replaces b...): squash the original "
            "revisions instead"));
  test_cond("replaces itself", error_is((const char *const[]){"a", "s:a =s", NULL},
            "revision s replaces itself"));
  /* attack B 12: an unknown id beside present ones is a mistake, not a deleted file */
  test_cond("an unknown id in replaces", error_is((const char *const[]){"a1", "a2:a1", "a3:a2",
            "q:a1 =a1,zz", NULL}, "revision q replaces zz, which no script defines, while a1, "
            "also in its replaces, is there: correct the id in replaces (the files of a squashed "
            "chain are deleted all together, once every database is past it)"));
  /* attack B 9: a squash right above another names its parent by either alias */
  for (int v = 0; v < 4; v++) {
    const char *h4 = v & 1 ? "h4:qh" : "h4:h3", *q2 = v & 2 ? "qm2:qh =h4,h5" : "qm2:h3 =h4,h5";
    g = make((const char *const[]){"h1", "h2:h1", "h3:h2", h4, "h5:h4", "h6:h5",
                                   "qh:h1 =h2,h3", q2, NULL}, &e);
    char name[96];
    snprintf(name, sizeof name, "a squash above a squash (%s, %s)", h4, q2);
    test_cond(name, g != NULL && order_is(g, "h1 qh qm2 h6"));
    if (g) {
      test_cond("  a fresh database takes both squashes",
                plan_is(g, UP, "", "heads", "up >h1 [h1] | up h1>qh [qh] | up qh>qm2 [qm2] | up qm2>h6 [h6]"));
      test_cond("  part-way through the first finishes it, then takes the second",
                plan_is(g, UP, "h2", "heads", "up h2>h3 [h3] | up h3>qm2 [qm2] | up qm2>h6 [h6]"));
      test_cond("  part-way through the second finishes it",
                plan_is(g, UP, "h4", "heads", "up h4>h5 [h5] | up h5>h6 [h6]"));
    } else {
      printf("# %s\n", e.message);
    }
    lm_graph_free(g);
    lm_err_release(&e);
  }
  g = make((const char *const[]){"a", "b:a @lab", "c:b", "s:a @lab =b,c", "e:c", NULL}, &e);
  test_cond("a label carried by the squash and a replaced revision", g != NULL);
  if (g) test_cond("the label resolves in each view", resolves_to(g, "lab@head", "e"));
  lm_graph_free(g);
  lm_err_release(&e);
}

/* A long chain and a wide fan: paths stay correct and the sanitizers see
 * every walk. */
static void test_scale(void) {
  enum { N = 20000 };
  struct lm_graph *g = lm_graph_new();
  struct lm_err e = LM_ERR_INIT;
  char id[32], parent[32];
  int ok = 1;
  for (int i = 0; i < N && ok; i++) {
    snprintf(id, sizeof id, "c%06d", i);
    snprintf(parent, sizeof parent, "c%06d", i - 1);
    const char *down[1] = {parent};
    struct lm_rev_spec spec = {id, down, i ? 1 : 0, NULL, 0, NULL, 0, NULL, 1, NULL, 0, 0};
    ok = lm_graph_add(g, &spec, &e) == LM_OK;
  }
  ok = ok && lm_graph_build(g, &e) == LM_OK;
  test_cond("20,000 revisions build", ok);
  struct lm_plan p = LM_PLAN_INIT;
  ok = ok && lm_graph_upgrade(g, NULL, 0, "heads", &p, &e) == LM_OK;
  test_cond("a full upgrade has 20,000 steps, first c000000, last row c019999",
            ok && p.nsteps == N && strcmp(g->revs[p.steps[0].rev].id, "c000000") == 0 &&
            p.rows.n == 1 && strcmp(g->revs[p.rows.v[0]].id, "c019999") == 0);
  lm_plan_release(&p);
  const char *row = "c019999";
  ok = ok && lm_graph_downgrade(g, &row, 1, "base", &p, &e) == LM_OK;
  test_cond("a full downgrade ends with no rows", ok && p.nsteps == N && p.rows.n == 0);
  lm_plan_release(&p);
  struct lm_ilist h = LM_ILIST_INIT;
  ok = ok && lm_graph_history(g, "c000100:c000110", NULL, 0, &h, &e) == LM_OK;
  test_cond("a history range", ok && h.n == 11 && strcmp(g->revs[h.v[0]].id, "c000110") == 0);
  lm_ilist_release(&h);
  lm_graph_free(g);
  lm_err_release(&e);
}

int main(void) {
  test_shape();
  test_errors();
  test_squash();
  test_scale();
  test_report();
  return 0;
}
