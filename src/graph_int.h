/*
 * graph_int.h -- what the graph files share and nobody else needs: the
 * values a resolution yields besides revisions, the failure kinds the
 * command-level wording reads, and each file's entry points for the files
 * below it in the flow (graph.h lists the files).
 */
#ifndef LUAMIG_GRAPH_INT_H
#define LUAMIG_GRAPH_INT_H

#include "graph.h"

/* ---- graph.c ---- */

int lm_ilist_has(const struct lm_ilist *l, int x);
/* The string maps: -1 when absent; put borrows key (it must outlive the map). */
int lm_strmap_get(const struct lm_strmap *m, const char *key);
void lm_strmap_put(struct lm_strmap *m, const char *key, int val);
/* A zeroed mark array of n entries; caller frees. */
uint32_t *lm_graph_marks_new(size_t n);

/* Revision values in resolution results: an index, or one of these. */
#define LM_REV_NONE (-1)            /* Alembic's None: nothing, or "before base" */
#define LM_REV_BASE (-2)            /* Alembic's "base" symbol from a walk down */

/* The kind of the last failure, so the command-level functions can word it
 * the way Alembic's _catch_revision_errors does. */
enum lm_graph_ekind {
  LM_GERR_REVISION = 1,             /* RevisionError: the message stands */
  LM_GERR_MULTIPLE_HEADS,           /* MultipleHeads: reworded per command */
  LM_GERR_RESOLUTION,               /* an identifier that names nothing (kept specific) */
  LM_GERR_RANGE                     /* RangeNotAncestorError: reworded per command */
};
int lm_graph_fail(struct lm_graph *g, struct lm_err *e, int kind, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));

/* ---- graph_build.c ---- */

/* Links the graph again for the squashes' current in_effect flags. */
int lm_graph_relink(struct lm_graph *g, struct lm_err *e);

/* Frees what linking made, so that a view can be linked again (graph.c). */
void lm_graph_unlink(struct lm_graph *g);

/* ---- graph_squash.c ---- */

/* After a plan for rows that name a replaced revision read as its squash
 * (g->alias, set by lm_graph_resolve_rows): the version-table writes and
 * rows name the stored row until a step replaces it, so that the
 * compare-and-set writes find it. */
void lm_graph_plan_aliases(struct lm_graph *g, struct lm_plan *plan);
/* The message for a target naming a revision out of the current view. */
int lm_graph_hidden_error(struct lm_graph *g, int rev, struct lm_err *e);

/* ---- graph_target.c: Alembic's RevisionMap internals, over revision values ---- */
int lm_graph_get_revisions(struct lm_graph *g, const char *ident, struct lm_ilist *out,
                           struct lm_err *e);
int lm_graph_get_revision(struct lm_graph *g, const char *ident, int *out, struct lm_err *e);
int lm_graph_revision_for_ident(struct lm_graph *g, const char *ident, const char *branch,
                                int *out, struct lm_err *e);
int lm_graph_resolve_branch(struct lm_graph *g, const char *branch, int *out,
                            struct lm_err *e);
/* Keeps the values of in that share a lineage with what check names. */
int lm_graph_filter_lineage(struct lm_graph *g, const int *in, size_t n, const char *check,
                            int deps, struct lm_ilist *out, struct lm_err *e);
int lm_graph_walk(struct lm_graph *g, int start, long steps, const char *branch,
                  int no_overwalk, int *out, struct lm_err *e);
/* current: values, or (when NULL) the identifier current_str, resolved
 * only if the target is relative to it. Upgrade targets are appended to out. */
int lm_graph_parse_upgrade_target(struct lm_graph *g, const struct lm_ilist *current,
                                  const char *current_str, const char *target, int assert_length,
                                  struct lm_ilist *out, struct lm_err *e);
/* *branch: malloc'd or NULL, caller frees. */
int lm_graph_parse_downgrade_target(struct lm_graph *g, const struct lm_ilist *current,
                                    const char *target, int assert_length, char **branch,
                                    int *out, struct lm_err *e);

/* ---- graph_order.c ---- */

/* Alembic's _topological_sort: orders the revisions with todo[i] == 1,
 * children before parents, from heads; marks each emitted one todo[i] = 2
 * and appends it to out. */
void lm_graph_topo_sort(struct lm_graph *g, unsigned char *todo, const int *heads, size_t nheads,
                        struct lm_ilist *out);

/* ---- graph_path.c ---- */

/* Alembic's _collect_upgrade_revisions: todo[i] = 1 for what lies between
 * the lower end (the values lower, or when NULL the identifier lower_str)
 * and upper (NULL: targets already holds the resolved upper end). */
int lm_graph_collect_upgrade(struct lm_graph *g, const char *upper, const struct lm_ilist *lower,
                             const char *lower_str, int inclusive, int implicit_base,
                             int assert_length, unsigned char *todo, struct lm_ilist *targets,
                             struct lm_err *e);
/* Alembic's _collect_downgrade_revisions from heads down to target. */
int lm_graph_collect_downgrade(struct lm_graph *g, const struct lm_ilist *heads,
                               const char *target, unsigned char *todo, struct lm_err *e);
/* The version rows, as stored, to revisions (deduplicated); each must be known. */
int lm_graph_resolve_rows(struct lm_graph *g, const char *const *rows, size_t nrows,
                          struct lm_ilist *out, struct lm_err *e);
enum lm_graph_cmd { LM_CMD_UPGRADE, LM_CMD_DOWNGRADE, LM_CMD_STAMP, LM_CMD_HISTORY };
/* Alembic's _catch_revision_errors: rewords e by g->ekind for command cmd
 * (start, end: the range as written, or NULL). Returns LM_ERROR. */
int lm_graph_reword(struct lm_graph *g, struct lm_err *e, int cmd, const char *start,
                    const char *end);

#endif
