/*
 * fuzz_target.c -- libFuzzer target for the target grammar (graph_target.c
 * and the plans of graph_path.c): head, heads, base, ids and prefixes,
 * labels, X@Y, +N/-N, REV+N, head-N, base+N, START:END ranges.
 *
 * The graph is fixed: the reference's graph G (a branch, a merge, a
 * labelled second root with depends_on) plus a long line, so that walks
 * and prefixes have somewhere to go. The input is
 *   ROWS '\n' TARGET
 * where ROWS is a comma-separated list of version rows (ids, possibly
 * unknown); without a newline every byte is the target and the rows are
 * empty. Each target goes through upgrade, downgrade, stamp, history and
 * resolve. Every call must either succeed or fail with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lm_graph *graph;

static void add(const char *id, const char *d1, const char *d2, const char *dep,
                const char *label) {
  const char *down[2], *deps[1], *labels[1];
  size_t nd = 0;
  if (d1) down[nd++] = d1;
  if (d2) down[nd++] = d2;
  if (dep) deps[0] = dep;
  if (label) labels[0] = label;
  struct lm_rev_spec s = {id, down, nd, deps, dep ? 1 : 0, labels, label ? 1 : 0, id, 1};
  struct lm_err e = LM_ERR_INIT;
  if (lm_graph_add(graph, &s, &e) != LM_OK) abort();
}

static void build(void) {
  graph = lm_graph_new();
  add("aaaa1111", NULL, NULL, NULL, NULL);
  add("bbbb2222", "aaaa1111", NULL, NULL, NULL);
  add("cccc3333", "bbbb2222", NULL, NULL, NULL);
  add("dddd4444", "bbbb2222", NULL, NULL, NULL);
  add("eeee5555", "dddd4444", "cccc3333", NULL, NULL);
  add("ffff6666", NULL, NULL, NULL, "networking");
  add("99990001", "ffff6666", NULL, NULL, NULL);
  add("99990002", "99990001", NULL, NULL, NULL);
  add("99990003", "99990002", NULL, "bbbb2222", NULL);
  char id[16], prev[16];
  for (int i = 0; i < 40; i++) {            /* a long line with shared prefixes */
    snprintf(id, sizeof id, "ab%02dcd", i);
    add(id, i ? prev : NULL, NULL, i == 20 ? "aaaa1111" : NULL, i == 0 ? "line" : NULL);
    memcpy(prev, id, sizeof id);
  }
  struct lm_err e = LM_ERR_INIT;
  if (lm_graph_build(graph, &e) != LM_OK) abort();
}

/* A failure must carry a message; success must leave none behind. */
static void check(int rc, struct lm_err *e) {
  if (rc != LM_OK && (e->message == NULL || e->message[0] == '\0')) abort();
  lm_err_release(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (graph == NULL) build();
  if (size > 4096) return 0;
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  char *target = text;
  const char *rows[16];
  size_t nrows = 0;
  char *nl = strchr(text, '\n');
  if (nl != NULL) {
    *nl = '\0';
    target = nl + 1;
    for (char *p = text; *p && nrows < 16; ) {
      size_t n = strcspn(p, ",");
      rows[nrows++] = p;
      if (p[n] == '\0') break;
      p[n] = '\0';
      p += n + 1;
    }
  }
  struct lm_err e = LM_ERR_INIT;
  struct lm_plan plan = LM_PLAN_INIT;
  check(lm_graph_upgrade(graph, rows, nrows, target, &plan, &e), &e);
  lm_plan_release(&plan);
  plan = (struct lm_plan)LM_PLAN_INIT;
  check(lm_graph_downgrade(graph, rows, nrows, target, &plan, &e), &e);
  lm_plan_release(&plan);
  plan = (struct lm_plan)LM_PLAN_INIT;
  const char *targets[1] = {target};
  check(lm_graph_stamp(graph, rows, nrows, targets, 1, 0, &plan, &e), &e);
  lm_plan_release(&plan);
  plan = (struct lm_plan)LM_PLAN_INIT;
  check(lm_graph_upgrade_to(graph, rows, nrows, targets, 1, &plan, &e), &e);
  lm_plan_release(&plan);
  struct lm_ilist out = LM_ILIST_INIT;
  check(lm_graph_history(graph, target, rows, nrows, &out, &e), &e);
  lm_ilist_release(&out);
  out = (struct lm_ilist)LM_ILIST_INIT;
  check(lm_graph_resolve(graph, target, &out, &e), &e);
  for (size_t i = 0; i < out.n; i++)
    if (out.v[i] < 0 || (size_t)out.v[i] >= graph->nrevs) abort();
  lm_ilist_release(&out);
  int one = 0;
  check(lm_graph_resolve_one(graph, target, &one, &e), &e);
  free(text);
  return 0;
}
