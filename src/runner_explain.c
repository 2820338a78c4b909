/*
 * runner_explain.c -- what a run says: its progress lines and, when a step
 * fails, is interrupted or loses its transaction, what that leaves behind
 * and the way out (run again, undo or finish by hand, `luamig stamp`).
 *
 * Every message reads the version table again rather than trust what the
 * run believes, so it never states rows the table does not hold. Called by
 * runner.c and runner_lock.c; calls nothing of theirs.
 */
#include "runner_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A log line through the caller's hook. */
void lm_run_say(struct run *r, const char *level, const char *fmt, ...) {
  if (r->h->log == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  struct lm_err tmp = LM_ERR_INIT;                    /* borrow lm_err's formatter */
  lm_err_setv(&tmp, LM_ERROR, fmt, ap);
  va_end(ap);
  r->h->log(r->h->ctx, level, tmp.message);
  lm_err_release(&tmp);
}

/* "a, b" from a list of revision indices. Caller frees. */
char *lm_run_join_ids(struct run *r, const struct lm_ilist *l) {
  struct lm_buf b = LM_BUF_INIT;
  for (size_t i = 0; i < l->n; i++) lm_buf_printf(&b, "%s%s", i ? ", " : "", rev_id(r, l->v[i]));
  return lm_buf_detach(&b);
}

/* What `luamig stamp` takes to record step s as done: the revisions it
 * leads to (a downgrade's parents, not the revision it reverts), "base"
 * when none. */
static char *stamp_args(struct run *r, const struct lm_step *s) {
  struct lm_buf b = LM_BUF_INIT;
  for (size_t i = 0; i < s->to.n; i++) lm_buf_printf(&b, "%s%s", i ? " " : "", rev_id(r, s->to.v[i]));
  if (s->to.n == 0) lm_buf_adds(&b, "base");
  return lm_buf_detach(&b);
}

const char *lm_run_direction(const struct lm_step *s) {
  return s->stamp ? LM_LOG_STAMP : s->upgrade ? LM_LOG_UPGRADE : LM_LOG_DOWNGRADE;
}

/* "upgrade 3f2a9c1d8e7b (create users)": the step, for messages. */
char *lm_run_step_label(struct run *r, const struct lm_step *s) {
  if (s->rev < 0) {
    char *to = lm_run_join_ids(r, &s->to);
    char *label = lm_asprintf("stamp %s", *to ? to : "base");
    free(to);
    return label;
  }
  const char *msg = r->scripts[s->rev].message;
  return msg && *msg ? lm_asprintf("%s %s (%s)", lm_run_direction(s), rev_id(r, s->rev), msg)
                     : lm_asprintf("%s %s", lm_run_direction(s), rev_id(r, s->rev));
}

const char *lm_run_outside_why(const struct run *r, const struct lm_step *s) {
  if (s->rev >= 0 && r->scripts[s->rev].tx_by_profile && r->o->outside_why) return r->o->outside_why;
  return "transactional = false";
}

void lm_run_announce(struct run *r, const struct lm_step *s) {
  char *from = lm_run_join_ids(r, &s->from), *to = lm_run_join_ids(r, &s->to);
  const char *msg = s->rev >= 0 ? r->scripts[s->rev].message : NULL;
  const char *fn = s->stamp ? "stamp_revision" : s->upgrade ? "upgrade" : "downgrade";
  if (r->conn == NULL) {
    struct lm_buf b = LM_BUF_INIT;
    lm_buf_printf(&b, "-- Running %s %s -> %s", fn, from, to);
    r->h->emit(r->h->ctx, b.data);
    lm_buf_release(&b);
  }
  if (msg && *msg) lm_run_say(r, "INFO", "Running %s %s -> %s, %s", fn, from, to, msg);
  else lm_run_say(r, "INFO", "Running %s %s -> %s", fn, from, to);
  if (s->rev >= 0 && !s->stamp && !r->scripts[s->rev].transactional)
    lm_run_say(r, "INFO", "%s %s runs outside a transaction (%s)",
               s->upgrade ? "Upgrade" : "Downgrade", rev_id(r, s->rev), lm_run_outside_why(r, s));
  free(from);
  free(to);
}

/* The version rows as the database holds them now, for messages ("a, b",
 * "base"); NULL when they cannot be read (a lost connection). Caller frees. */
static char *rows_now(struct run *r) {
  if (r->conn == NULL) return NULL;
  char **rows;
  size_t n;
  struct lm_err ignored = LM_ERR_INIT;
  int rc = lm_version_read(r->conn, r->o->version_table, &rows, &n, &ignored);
  lm_err_release(&ignored);
  if (rc != LM_OK) return NULL;
  struct lm_buf b = LM_BUF_INIT;
  for (size_t i = 0; i < n; i++) lm_buf_printf(&b, "%s%s", i ? ", " : "", rows[i]);
  if (n == 0) lm_buf_adds(&b, "base");
  lm_version_rows_free(rows, n);
  return lm_buf_detach(&b);
}

/* "the version table still says X": what it says now, read again, so a
 * message never states rows the table does not hold. expected: the rows
 * luamig last committed. */
static void say_rows(struct run *r, struct lm_buf *b, const struct lm_ilist *expected) {
  char *want = lm_run_join_ids(r, expected), *now = rows_now(r);
  if (*want == '\0') {
    free(want);
    want = lm_strdup("base");
  }
  if (now == NULL)
    lm_buf_printf(b, "the version table said %s at luamig's last commit (it cannot be read "
                  "now)", want);
  else if (strcmp(now, want) == 0)
    lm_buf_printf(b, "the version table still says %s", now);
  else
    lm_buf_printf(b, "the version table says %s (another run changed it from %s)", now, want);
  free(want);
  free(now);
}

/* The way out of a step that ran outside a transaction and stopped half
 * way: undo or finish by hand, then run again or record it with stamp. */
static void advise_by_hand(struct run *r, const struct lm_step *s, struct lm_buf *b) {
  char *done = stamp_args(r, s);
  lm_buf_printf(b, ". Check the database, then either undo that part by hand and run again, "
                "or finish it by hand and `luamig stamp %s`.", done);
  free(done);
}

/* The database ended the step's transaction itself (driver's lost(): the
 * connection went, or SQLite rolled back after a full disk): nothing of
 * the step was committed, nor of any step since luamig's last commit --
 * unless the step used op.autocommit_block, which committed what came
 * before it and ran its own statements outside a transaction. at commit:
 * the failure came from COMMIT, whose fate the client may not know. */
void lm_run_explain_lost(struct run *r, const struct lm_step *s, const char *why, int at_commit,
                         const struct lm_ilist *committed, struct lm_err *e) {
  char *label = lm_run_step_label(r, s);
  char *now = rows_now(r);
  char *last = lm_run_join_ids(r, committed);
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_printf(&b, "%s: %s\n%s. ", label, e->message ? e->message : "failed", why);
  if (at_commit) {
    /* the COMMIT was sent: the server may have committed before the
     * connection went, and only the version table can tell */
    char *target = lm_run_join_ids(r, &s->rows);
    if (now != NULL)
      lm_buf_printf(&b, "This happened during COMMIT; the version table now says %s (%s if the "
                    "step was committed, %s if not). ", *now ? now : "base",
                    *target ? target : "base", *last ? last : "base");
    else
      lm_buf_printf(&b, "This happened during COMMIT, so luamig cannot tell whether the step was "
                    "committed: the database is at %s if it was, or at %s if it was not; "
                    "`luamig current` says which. ", *target ? target : "base", *last ? last : "base");
    if (r->step_partial) {
      /* the step's start and its block stay either way: running it again repeats them */
      char *done = stamp_args(r, s);
      lm_buf_printf(&b, "If it was not, what this step did before its op.autocommit_block and in "
                    "it stays applied: check the database, then either undo that part by hand and "
                    "run again, or finish it by hand and `luamig stamp %s`.", done);
      free(done);
    } else {
      lm_buf_printf(&b, "Either way running the same command again is safe: it starts from where "
                    "the database is.");
    }
    free(target);
  } else if (r->step_partial) {
    lm_buf_printf(&b, "The database rolled the open transaction back: this step used "
                  "op.autocommit_block, so what it did before the block is committed and the "
                  "block's statements ran outside a transaction, so they stay applied (what ran "
                  "after the block was rolled back), and ");
    say_rows(r, &b, committed);
    advise_by_hand(r, s, &b);
  } else {
    lm_buf_printf(&b, "The database rolled the open transaction back: nothing of this step was "
                  "committed, and the database is at %s%s. ", now ? (*now ? now : "base")
                  : (*last ? last : "base"), now ? "" : " (luamig's last commit)");
    char *done = stamp_args(r, s);
    lm_buf_printf(&b, "Running the same command again is safe: it starts from where the database "
                  "is. Do not `luamig stamp %s`: the step did not run.", done);
    free(done);
  }
  lm_err_set(e, LM_ERROR, "%s", b.data);
  lm_buf_release(&b);
  free(label);
  free(now);
  free(last);
  r->explained = 1;
}

/* The driver's reason when the database itself ended the transaction. */
const char *lm_run_lost_reason(struct run *r) {
  return r->conn && r->conn->driver->lost ? r->conn->driver->lost(r->conn) : NULL;
}

/* Say what a failure inside a step leaves behind. */
void lm_run_explain_failure(struct run *r, const struct lm_step *s, int transactional,
                            const struct lm_ilist *committed, struct lm_err *e) {
  char *label = lm_run_step_label(r, s);
  lm_err_prefix(e, "%s", label);
  if (!transactional || r->step_partial) {
    struct lm_buf b = LM_BUF_INIT;
    r->explained = 1;                                 /* say_rows says where */
    const char *why = lm_run_lost_reason(r);
    lm_buf_printf(&b, "%s\n", e->message);
    if (why) lm_buf_printf(&b, "%s.\n", why);
    if (!transactional)
      lm_buf_printf(&b, "This step ran outside a transaction (%s): what it did "
                    "before the error stays applied, and ", lm_run_outside_why(r, s));
    else if (r->block_failed)
      lm_buf_printf(&b, "This step failed inside op.autocommit_block: what it did before the block "
                    "is already committed and the block's statements before the error ran outside a "
                    "transaction, so they stay applied (nothing after the error ran), and ");
    else
      lm_buf_printf(&b, "This step used op.autocommit_block: what it did before the block is "
                    "already committed and the block's statements ran outside a transaction, so "
                    "they stay applied (what ran after the block was rolled back), and ");
    say_rows(r, &b, committed);
    advise_by_hand(r, s, &b);
    free(e->message);
    e->message = lm_buf_detach(&b);
  }
  free(label);
}

/* Ctrl-C during a step: its transaction is rolled back (the caller's
 * tx_rollback); outside one, what it did stays. */
void lm_run_explain_interrupt(struct run *r, const struct lm_step *s, int transactional,
                              const struct lm_ilist *committed, struct lm_err *e) {
  char *label = lm_run_step_label(r, s);
  if (transactional && !r->step_partial) {
    lm_err_set(e, LM_ERROR, "interrupted (Ctrl-C) during %s: the step was rolled back", label);
  } else {
    struct lm_buf b = LM_BUF_INIT;
    if (!transactional)
      lm_buf_printf(&b, "interrupted (Ctrl-C) during %s: this step ran outside a transaction "
                    "(%s): what it did before the interruption stays applied, "
                    "and ", label, lm_run_outside_why(r, s));
    else
      lm_buf_printf(&b, "interrupted (Ctrl-C) during %s: this step used op.autocommit_block: what "
                    "it did before the block and in it stays applied, and ", label);
    say_rows(r, &b, committed);
    advise_by_hand(r, s, &b);
    lm_err_set(e, LM_ERROR, "%s", b.data);
    lm_buf_release(&b);
    r->explained = 1;
  }
  free(label);
}

/* A step whose SQL ended the transaction luamig opened for it: nothing is
 * recorded, and the message says what may have stayed. body: the step's
 * own result (its error, if any, is kept in front). */
void lm_run_explain_ended_transaction(struct run *r, const struct lm_step *s, int body,
                                      const struct lm_ilist *committed, struct lm_err *e) {
  char *label = lm_run_step_label(r, s);
  struct lm_buf b = LM_BUF_INIT;
  lm_buf_printf(&b, "%s: ", label);
  r->explained = 1;                                   /* say_rows says where */
  if (body != LM_OK) lm_buf_printf(&b, "%s\n", e->message);
  lm_buf_printf(&b, "its SQL ended the transaction luamig opened for it (a COMMIT or ROLLBACK): "
                "what ran before that may be committed or undone, what ran after it was committed "
                "statement by statement, and ");
  say_rows(r, &b, committed);
  char *done = stamp_args(r, s);
  lm_buf_printf(&b, ", so this revision is not recorded. Mark a step that must manage its own "
                "transactions with transactional = false; check the database, then fix the step "
                "and run again, or finish it by hand and `luamig stamp %s`.", done);
  free(done);
  lm_err_set(e, LM_ERROR, "%s", b.data);
  lm_buf_release(&b);
  free(label);
}

/* The last words of a run that failed in a step: what of it is committed
 * and where the database is, read again (luamig's last commit when the
 * table cannot be read). */
void lm_run_say_where(struct run *r, struct lm_err *e) {
  if (r->conn == NULL || !r->step_started || r->explained) return;
  char *now = rows_now(r);
  char *last = lm_run_join_ids(r, r->committed);
  const char *at = now ? (*now ? now : "base") : (*last ? last : "base");
  const char *note = now ? "" : " (luamig's last commit; the table cannot be read now)";
  struct lm_buf b = LM_BUF_INIT;
  size_t n = r->steps_committed, rolled = r->steps_done - n;
  char *rolled_text = rolled == 1 ? lm_strdup("the step")   /* or "the 3 steps" */
                                  : lm_asprintf("the %zu steps", rolled);
  const struct lm_step *bs = r->tx_block_step;
  if (r->tx_has_block && bs != NULL && bs != r->step) {
    /* one transaction for the run, and an earlier step's op.autocommit_block
     * committed it: that step is half applied, not rolled back */
    char *blabel = lm_run_step_label(r, bs), *done = stamp_args(r, bs);
    lm_buf_printf(&b, "Part of this run is committed: %s used op.autocommit_block, which committed "
                  "the run's transaction (transaction_per_migration = false), so the steps before "
                  "it, what it did before the block and the block's statements stay applied; what "
                  "ran after the block, and the steps after it, rolled back, and ", blabel);
    say_rows(r, &b, r->committed);
    lm_buf_printf(&b, ". Check the database, then either undo that part of %s by hand and run "
                  "again, or finish it by hand, `luamig stamp %s`, and run again.", blabel, done);
    free(blabel);
    free(done);
  } else if (n == 0 && rolled == 0)
    lm_buf_printf(&b, "Nothing of this run is committed: the database is at %s%s, as before the run.",
                  at, note);
  else if (n == 0)
    lm_buf_printf(&b, "Nothing of this run is committed (transaction_per_migration = false: %s "
                  "before it rolled back with it): the database is at %s%s, as before the run.",
                  rolled_text, at, note);
  else if (n == 1)
    lm_buf_printf(&b, "The step before it is committed: the database is at %s%s.", at, note);
  else
    lm_buf_printf(&b, "The %zu steps before it are committed: the database is at %s%s.", n, at, note);
  if (n > 0 && rolled > 0)
    lm_buf_printf(&b, " %c%s after those rolled back with it (transaction_per_migration = false).",
                  'T', rolled_text + 1);
  lm_err_set(e, e->code ? e->code : LM_ERROR, "%s\n%s", e->message ? e->message : "failed", b.data);
  lm_buf_release(&b);
  free(rolled_text);
  free(now);
  free(last);
}
