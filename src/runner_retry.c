/*
 * runner_retry.c -- lock timeouts for a step's statements, and what a
 * retry of a step whose lock was not granted needs (runner.c decides and
 * runs it; see apply()'s lock_retry).
 *
 * On PostgreSQL each step with a script runs under the lock_timeout and
 * statement_timeout its settings resolve to (ddl_lock_timeout,
 * statement_timeout: run option, then the script's header, then the
 * project): SET LOCAL at the start of its transaction, so the values go
 * with the transaction, through a pooler too. Outside a transaction (a
 * transactional = false step, an op.autocommit_block) only the script's
 * own header values apply, as a session SET and a RESET after: such steps
 * run CREATE INDEX CONCURRENTLY and the like, which no retry can redo and
 * which a timeout leaves half done (an INVALID index). Offline the same
 * statements are written into the --sql script. SQLite has no such
 * settings: nothing is sent (its busy timeout, lock_timeout, is the wait).
 *
 * A statement that waited lock_timeout for its lock fails with SQLSTATE
 * 55P03 (lock_not_available); the message names the table, read from the
 * failed statement, since PostgreSQL's own ("canceling statement due to
 * lock timeout") does not. A serialization failure (40001) or a deadlock
 * (40P01) is retried by the same loop: PostgreSQL rolled the transaction
 * back, and the documented cure is to run it again (doc/safety.md).
 */
#include "runner_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_postgresql(const struct run *r) {
  return r->sink.dialect != NULL && strcmp(r->sink.dialect->name, "postgresql") == 0;
}

void lm_run_format_ms(long ms, char *buf, size_t n) {
  if (ms >= 60000 && ms % 60000 == 0) snprintf(buf, n, "%ldmin", ms / 60000);
  else if (ms >= 1000 && ms % 1000 == 0) snprintf(buf, n, "%lds", ms / 1000);
  else if (ms >= 1000 && ms % 100 == 0) snprintf(buf, n, "%ld.%lds", ms / 1000, (ms % 1000) / 100);
  else snprintf(buf, n, "%ldms", ms);
}

static const struct lm_run_script *script_of(const struct run *r, const struct lm_step *s) {
  return s->rev >= 0 && !s->stamp ? &r->scripts[s->rev] : NULL;
}

int lm_run_set_timeouts(struct run *r, const struct lm_step *s, int local, struct lm_err *e) {
  const struct lm_run_script *sc = script_of(r, s);
  if (sc == NULL || !is_postgresql(r)) return LM_OK;
  const char *names[2] = {"lock_timeout", "statement_timeout"};
  /* After an op.autocommit_block committed part of the transaction no
   * retry can redo it: a lock wait there runs under the script's own
   * ddl_lock_timeout only, as outside a transaction (a project or run
   * default would turn a wait into a half-applied step). */
  int own_lock = !local || r->tx_has_block;
  long values[2] = {own_lock ? sc->own_lock_timeout_ms : sc->ddl_lock_timeout_ms,
                    local ? sc->statement_timeout_ms : sc->own_statement_timeout_ms};
  for (int i = 0; i < 2; i++) {
    char v[32], sql[96];
    if (values[i] < 0) {
      /* With one transaction for several steps (transaction_per_migration
       * = false) an earlier step's SET LOCAL would still be in force: a
       * step that sets none gets the value the transaction began with. */
      if (!local || !(r->tx_timeouts_set & (1 << i))) continue;
      snprintf(sql, sizeof sql, "SET LOCAL %s TO DEFAULT", names[i]);
      if (lm_sink_exec(&r->sink, sql, 0, NULL, NULL, e) != LM_OK) return LM_ERROR;
      r->tx_timeouts_set &= ~(1 << i);
      continue;
    }
    if (r->conn == NULL && !r->timeout_note) {
      r->timeout_note = 1;
      r->h->emit(r->h->ctx, "-- A statement that runs into the lock_timeout or statement_timeout set "
                 "below fails, and\n-- nothing retries it offline. Run this script so that an error "
                 "stops it\n-- (psql -v ON_ERROR_STOP=1 -f FILE): else psql goes on with the next "
                 "step.");
    }
    lm_run_format_ms(values[i], v, sizeof v);
    snprintf(sql, sizeof sql, "SET %s%s = '%s'", local ? "LOCAL " : "", names[i], v);
    if (lm_sink_exec(&r->sink, sql, 0, NULL, NULL, e) != LM_OK) return LM_ERROR;
    if (local) r->tx_timeouts_set |= 1 << i;
  }
  return LM_OK;
}

void lm_run_reset_timeouts(struct run *r, const struct lm_step *s) {
  const struct lm_run_script *sc = script_of(r, s);
  if (sc == NULL || !is_postgresql(r)) return;
  if (r->conn && r->conn->driver->lost && r->conn->driver->lost(r->conn)) return;
  struct lm_err ignored = LM_ERR_INIT;                /* the step's outcome is what matters */
  if (sc->own_lock_timeout_ms >= 0) lm_sink_exec(&r->sink, "RESET lock_timeout", 0, NULL, NULL, &ignored);
  if (sc->own_statement_timeout_ms >= 0)
    lm_sink_exec(&r->sink, "RESET statement_timeout", 0, NULL, NULL, &ignored);
  lm_err_release(&ignored);
}

int lm_run_retry_kind(const struct lm_err *e) {
  if (strcmp(e->sqlstate, "55P03") == 0) return LM_RETRY_LOCK;
  if (strcmp(e->sqlstate, "40001") == 0) return LM_RETRY_SERIALIZATION;
  if (strcmp(e->sqlstate, "40P01") == 0) return LM_RETRY_DEADLOCK;
  return 0;
}

char *lm_run_conflict_words(int kind) {
  struct lm_buf b = LM_BUF_INIT;
  if (kind == LM_RETRY_SERIALIZATION)
    lm_buf_adds(&b, "serialization failure (SQLSTATE 40001: a concurrent transaction's change "
                "conflicts with the step's)");
  else
    lm_buf_adds(&b, "deadlock (SQLSTATE 40P01: the step and another transaction each waited for "
                "the other's lock; PostgreSQL ended the step's)");
  return lm_buf_detach(&b);
}

/* ---- the table of a statement ---- */

struct tok {
  const char *p;
  size_t n;
  int quoted;
};

static const char *skip_space(const char *p) {
  for (;;) {
    while (*p && isspace((unsigned char)*p)) p++;
    if (p[0] == '-' && p[1] == '-') {
      while (*p && *p != '\n') p++;
    } else if (p[0] == '/' && p[1] == '*') {
      int depth = 0;                                  /* PostgreSQL's comments nest */
      do {
        if (p[0] == '/' && p[1] == '*') depth++, p += 2;
        else if (p[0] == '*' && p[1] == '/') depth--, p += 2;
        else if (*p) p++;
        else return p;
      } while (depth > 0);
    } else {
      return p;
    }
  }
}

static int ident_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '$' || (c & 0x80); }

/* The next word or quoted name at *pp; 0 at anything else. */
static int next_tok(const char **pp, struct tok *t) {
  const char *p = skip_space(*pp);
  if (*p == '"') {
    const char *q = p + 1;
    for (;;) {
      if (*q == '\0') return 0;
      if (q[0] == '"' && q[1] == '"') q += 2;
      else if (*q == '"') break;
      else q++;
    }
    *t = (struct tok){p + 1, (size_t)(q - p - 1), 1};
    *pp = q + 1;
    return 1;
  }
  if (!ident_char(*p) || isdigit((unsigned char)*p)) return 0;
  const char *q = p;
  while (ident_char(*q)) q++;
  *t = (struct tok){p, (size_t)(q - p), 0};
  *pp = q;
  return 1;
}

static int is_kw(const struct tok *t, const char *kw) {
  size_t n = strlen(kw);
  if (t->quoted || t->n != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (tolower((unsigned char)t->p[i]) != kw[i]) return 0;
  return 1;
}

/* Skip the words of kws that come next, in order, each if present. */
static void skip_words(const char **pp, const char *const *kws) {
  for (; *kws; kws++) {
    const char *save = *pp;
    struct tok t;
    if (next_tok(pp, &t) && is_kw(&t, *kws)) continue;
    *pp = save;
  }
}

/* A name, schema-qualified as written, into b: quoted parts as they are
 * ("" read as "), the others in lower case. */
static int read_name(const char **pp, struct lm_buf *b) {
  struct tok t;
  if (!next_tok(pp, &t)) return 0;
  for (;;) {
    for (size_t i = 0; i < t.n; i++) {
      char c = t.p[i];
      if (t.quoted && c == '"') i++;
      lm_buf_printf(b, "%c", t.quoted ? c : (char)tolower((unsigned char)c));
    }
    const char *p = skip_space(*pp);
    if (*p != '.') return 1;
    *pp = p + 1;
    lm_buf_adds(b, ".");
    if (!next_tok(pp, &t)) return 0;
  }
}

/* Move past the next word kw at the top level (outside parentheses and
 * literals); 0 when there is none. */
static int find_word(const char **pp, const char *kw) {
  const char *p = *pp;
  int depth = 0;
  while (*(p = skip_space(p))) {
    struct tok t;
    if (*p == '(') depth++, p++;
    else if (*p == ')') depth--, p++;
    else if (*p == '\'') {
      for (p++; *p && !(*p == '\'' && p[1] != '\''); p += *p == '\'' ? 2 : 1) {}
      if (*p) p++;
    } else if (next_tok(&p, &t)) {
      if (depth == 0 && is_kw(&t, kw)) {
        *pp = p;
        return 1;
      }
    } else {
      p++;
    }
  }
  return 0;
}

char *lm_run_locked_table(const char *sql) {
  if (sql == NULL) return NULL;
  const char *p = sql;
  struct tok a, b;
  static const char *const if_exists[] = {"if", "exists", "only", NULL};
  static const char *const only[] = {"only", NULL};
  if (!next_tok(&p, &a)) return NULL;
  int found = 0;
  if (is_kw(&a, "alter") || is_kw(&a, "drop")) {      /* ALTER/DROP TABLE|INDEX [IF EXISTS] [ONLY] x */
    if (!next_tok(&p, &b)) return NULL;
    if (is_kw(&b, "index")) skip_words(&p, (const char *const[]){"concurrently", NULL});
    found = is_kw(&b, "table") || is_kw(&b, "index") || is_kw(&b, "view") || is_kw(&b, "sequence");
    if (found) skip_words(&p, if_exists);
  } else if (is_kw(&a, "create")) {                   /* CREATE ... INDEX|TRIGGER|RULE ... ON x */
    found = find_word(&p, "on");
    if (found) skip_words(&p, only);
    else {                                            /* CREATE TABLE ... REFERENCES x */
      p = sql;
      next_tok(&p, &a);
      found = find_word(&p, "references");
    }
  } else if (is_kw(&a, "lock") || is_kw(&a, "truncate")) {
    skip_words(&p, (const char *const[]){"table", "only", NULL});
    found = 1;
  } else if (is_kw(&a, "copy")) {                     /* COPY x (cols) FROM STDIN (bulk_insert) */
    found = 1;
  } else if (is_kw(&a, "insert") || is_kw(&a, "delete")) {
    found = next_tok(&p, &b) && (is_kw(&b, "into") || is_kw(&b, "from"));
    if (found) skip_words(&p, only);
  } else if (is_kw(&a, "update") || is_kw(&a, "vacuum") || is_kw(&a, "analyze") ||
             is_kw(&a, "cluster") || is_kw(&a, "reindex")) {
    skip_words(&p, (const char *const[]){"only", "table", "full", "verbose", NULL});
    found = 1;
  } else if (is_kw(&a, "comment")) {                  /* COMMENT ON TABLE|COLUMN x */
    found = next_tok(&p, &b) && is_kw(&b, "on") && next_tok(&p, &b) &&
            (is_kw(&b, "table") || is_kw(&b, "column"));
  }
  if (!found) return NULL;
  struct lm_buf name = LM_BUF_INIT;
  if (!read_name(&p, &name) || name.len == 0) {
    lm_buf_release(&name);
    return NULL;
  }
  return lm_buf_detach(&name);
}

/* `"orders"` with any " doubled, into b. */
static void quote_name(struct lm_buf *b, const char *name) {
  lm_buf_adds(b, "\"");
  for (const char *c = name; *c; c++) lm_buf_printf(b, *c == '"' ? "\"\"" : "%c", *c);
  lm_buf_adds(b, "\"");
}

char *lm_run_lock_words(const char *sql, long lock_ms) {
  struct lm_buf b = LM_BUF_INIT;
  char *table = lm_run_locked_table(sql);
  lm_buf_adds(&b, "lock ");
  if (table) {
    lm_buf_adds(&b, "on ");
    quote_name(&b, table);
    const char *p = sql;                              /* ALTER TABLE a ... REFERENCES b */
    if (find_word(&p, "references")) {
      struct lm_buf ref = LM_BUF_INIT;
      if (read_name(&p, &ref) && strcmp(ref.data, table) != 0) {
        lm_buf_adds(&b, " or ");
        quote_name(&b, ref.data);
        lm_buf_adds(&b, ", which it references,");
      }
      lm_buf_release(&ref);
    }
    struct tok first;                                 /* DML: a row lock, as likely */
    const char *q = sql;
    if (next_tok(&q, &first) && (is_kw(&first, "insert") || is_kw(&first, "update") ||
                                 is_kw(&first, "delete") || is_kw(&first, "copy") ||
                                 is_kw(&first, "merge")))
      lm_buf_adds(&b, " (the table's, or a row's that another transaction holds)");
    lm_buf_adds(&b, " ");
  }
  int named = table != NULL;
  free(table);
  if (lock_ms > 0) {
    char v[32];
    lm_run_format_ms(lock_ms, v, sizeof v);
    lm_buf_printf(&b, "not granted in %s", v);
  } else {
    lm_buf_adds(&b, "not granted (lock_not_available)");
  }
  if (!named && sql) {                                /* say which statement, then */
    const char *p = skip_space(sql);
    size_t n = strcspn(p, "\n");
    lm_buf_printf(&b, " to the statement %.*s%s", (int)(n > 60 ? 60 : n), p, n > 60 ? "..." : "");
  }
  return lm_buf_detach(&b);
}

/* ---- back-off ---- */

long lm_run_backoff_ms(long lock_ms, int attempt) {
  double base = lock_ms > 0 ? lock_ms / 2.0 : 1000.0;
  double d = base;
  for (int i = 1; i < attempt && d < 60000.0; i++) d *= 2;
  static uint64_t x;                                  /* xorshift: no global rand() state */
  if (x == 0) x = ((uint64_t)now_ms() * 6364136223846793005ULL) ^ (uint64_t)(uintptr_t)&x ^ 1;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  d *= 0.75 + 0.5 * ((double)(x >> 11) / 9007199254740992.0);   /* jitter: +-25% */
  if (d > 60000.0) d = 60000.0;                       /* the cap, jitter included */
  return d < 1 ? 1 : (long)d;
}

int lm_run_backoff_sleep(long ms) {
  int64_t end = now_ms() + ms;
  for (;;) {
    if (lm_run_interrupted()) return 0;
    int64_t left = end - now_ms();
    if (left <= 0) return 1;
    if (left > 50) left = 50;                         /* Ctrl-C is seen within 50 ms */
    struct timespec ts = {0, (long)left * 1000000L};
    nanosleep(&ts, NULL);
  }
}
