/*
 * bench_graph.c -- the revision graph alone (no Lua, no files): build,
 * heads, a full upgrade path, history, a full downgrade, for the shapes of
 * bench.lua. Prints CPU seconds per phase.
 *
 *   bench/graph/run            (builds this against build/obj/*.o and runs both benches)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graph.h"

struct def {
  char id[16];
  char down[4][16];
  int ndown;
  char dep[16];
  char label[16];
};

static double now(void) { return (double)clock() / CLOCKS_PER_SEC; }

static struct def *defs;
static size_t ndefs, capdefs;

static struct def *add(void) {
  if (ndefs == capdefs) {
    capdefs = capdefs ? capdefs * 2 : 1024;
    defs = realloc(defs, capdefs * sizeof *defs);
    if (!defs) abort();
  }
  struct def *d = &defs[ndefs];
  memset(d, 0, sizeof *d);
  snprintf(d->id, sizeof d->id, "%012zx", (size_t)0x5eed0000 + (ndefs + 1) * 7919);
  ndefs++;
  return d;
}

static void shape_linear(size_t n) {
  for (size_t i = 0; i < n; i++) {
    struct def *d = add();
    if (i) { strcpy(d->down[0], defs[i - 1].id); d->ndown = 1; }
  }
}

/* A trunk forking into 4 lines of 5 and merging, every 21 revisions, plus
 * 8 labelled side lines (as bench.lua). */
static void shape_branchy(size_t n) {
  char trunk[16] = "", side[8][16];
  memset(side, 0, sizeof side);
  while (ndefs < n) {
    struct def *d = add();
    if (trunk[0]) { strcpy(d->down[0], trunk); d->ndown = 1; }
    strcpy(trunk, d->id);
    char tips[4][16];
    for (int b = 0; b < 4; b++) {
      char p[16];
      strcpy(p, trunk);
      for (int k = 0; k < 5; k++) {
        d = add();
        strcpy(d->down[0], p);
        d->ndown = 1;
        strcpy(p, d->id);
      }
      strcpy(tips[b], p);
    }
    d = add();
    for (int b = 0; b < 4; b++) strcpy(d->down[b], tips[b]);
    d->ndown = 4;
    strcpy(trunk, d->id);
    for (int s = 0; s < 8; s++) {
      if (side[s][0]) {
        d = add();
        strcpy(d->down[0], side[s]);
        d->ndown = 1;
        strcpy(side[s], d->id);
      } else if (ndefs > 100) {
        d = add();
        strcpy(d->down[0], trunk);
        d->ndown = 1;
        strcpy(d->dep, trunk);
        snprintf(d->label, sizeof d->label, "side%d", s + 1);
        strcpy(side[s], d->id);
      }
    }
  }
}

/* 100 independent labelled lines, every 10th revision depending on the
 * previous line's tip. */
static void shape_forest(size_t n) {
  size_t per = n / 100 ? n / 100 : 1;
  char prev_tip[16] = "";
  for (int root = 1; root <= 100 && ndefs < n; root++) {
    char p[16] = "";
    for (size_t k = 1; k <= per && ndefs < n; k++) {
      struct def *d = add();
      if (p[0]) { strcpy(d->down[0], p); d->ndown = 1; }
      if (k == 1) snprintf(d->label, sizeof d->label, "tree%d", root);
      if (k % 10 == 0 && prev_tip[0]) strcpy(d->dep, prev_tip);
      strcpy(p, d->id);
    }
    strcpy(prev_tip, p);
  }
}

static void run(const char *name, void (*shape)(size_t), size_t n) {
  ndefs = 0;
  shape(n);
  struct lm_err e = LM_ERR_INIT;
  double t0 = now();
  struct lm_graph *g = lm_graph_new();
  for (size_t i = 0; i < ndefs; i++) {
    struct def *d = &defs[i];
    const char *down[4] = {d->down[0], d->down[1], d->down[2], d->down[3]};
    const char *dep = d->dep, *label = d->label;
    struct lm_rev_spec spec = {d->id, down, (size_t)d->ndown, &dep, dep[0] ? 1 : 0,
                               &label, label[0] ? 1 : 0, NULL, 1};
    if (lm_graph_add(g, &spec, &e)) { fprintf(stderr, "%s\n", e.message); exit(1); }
  }
  if (lm_graph_build(g, &e)) { fprintf(stderr, "%s\n", e.message); exit(1); }
  double t1 = now();
  size_t nheads = g->heads.n;
  double t2 = now();
  struct lm_plan up = LM_PLAN_INIT, down = LM_PLAN_INIT;
  if (lm_graph_upgrade(g, NULL, 0, "heads", &up, &e)) { fprintf(stderr, "%s\n", e.message); exit(1); }
  double t3 = now();
  struct lm_ilist hist = LM_ILIST_INIT;
  if (lm_graph_history(g, NULL, NULL, 0, &hist, &e)) { fprintf(stderr, "%s\n", e.message); exit(1); }
  double t4 = now();
  const char **rows = malloc((up.rows.n ? up.rows.n : 1) * sizeof *rows);
  for (size_t i = 0; i < up.rows.n; i++) rows[i] = g->revs[up.rows.v[i]].id;
  if (lm_graph_downgrade(g, rows, up.rows.n, "base", &down, &e)) { fprintf(stderr, "%s\n", e.message); exit(1); }
  double t5 = now();
  printf("%-8s %7zu %8.3f %8.4f %8.3f %8.3f %8.3f %7zu %6zu\n", name, ndefs, t1 - t0, t2 - t1,
         t3 - t2, t4 - t3, t5 - t4, up.nsteps, nheads);
  if (up.nsteps != ndefs || hist.n != ndefs || down.nsteps != ndefs || down.rows.n != 0) {
    fprintf(stderr, "unexpected plan sizes\n");
    exit(1);
  }
  free(rows);
  lm_plan_release(&up);
  lm_plan_release(&down);
  lm_ilist_release(&hist);
  lm_graph_free(g);
}

int main(int argc, char **argv) {
  size_t sizes[8] = {1000, 10000, 50000};
  int nsizes = 3;
  if (argc > 1) {
    nsizes = 0;
    for (int i = 1; i < argc && nsizes < 8; i++) sizes[nsizes++] = (size_t)strtoul(argv[i], NULL, 10);
  }
  printf("%-8s %7s %8s %8s %8s %8s %8s %7s %6s\n", "shape", "revs", "build", "heads", "upgrade",
         "history", "down", "steps", "heads");
  for (int i = 0; i < nsizes; i++) {
    run("linear", shape_linear, sizes[i]);
    run("branchy", shape_branchy, sizes[i]);
    run("forest", shape_forest, sizes[i]);
  }
  free(defs);
  return 0;
}
