/*
 * db_pg_lib.c -- libpq, loaded with dlopen when the first PostgreSQL URL
 * is read (lm_pg_load, from db.c's URL parser), not by the dynamic loader
 * at every start: libpq brings 20-odd libraries (Kerberos, LDAP, TLS)
 * whose relocation was ~8 M instructions, a tenth of `history` at 1,000
 * revisions, on every command, SQLite's and database-less ones included.
 *
 * The driver (db_pg.c, db_pg_url.c) calls PQ* as usual: this file defines
 * each function it uses, hidden from other objects' lookups, forwarding to
 * the loaded library. Every path to them starts at a parsed PostgreSQL
 * URL, so the library is loaded before the first call; a call before that
 * (an embedder's own PQ* call through libluamig.a) loads it then, and if it
 * cannot be loaded there is no value to return: the process stops with the
 * message. The lease heartbeat's thread starts after its connection is
 * open, so it only reads what the main thread wrote before.
 *
 * LUAMIG_LIBPQ names another file to load (lib_load.c).
 */
#include "db_pg_int.h"
#include "lib_load.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#define LIBPQ_SONAME "libpq.so.5"                     /* libpq's soname since PostgreSQL 8.2 */
#define HIDDEN __attribute__((visibility("hidden")))

/* X(return type, name, parameters, arguments): the functions the driver
 * uses; XV the same for those that return nothing. */
#define PQ_FUNCTIONS(X, XV) \
  X(int, PQcancel, (PGcancel *a, char *b, int c), (a, b, c)) \
  XV(PQclear, (PGresult *a), (a)) \
  X(char *, PQcmdStatus, (PGresult *a), (a)) \
  X(char *, PQcmdTuples, (PGresult *a), (a)) \
  X(PGconn *, PQconnectdbParams, (const char *const *a, const char *const *b, int c), (a, b, c)) \
  X(PQconninfoOption *, PQconninfo, (PGconn *a), (a)) \
  XV(PQconninfoFree, (PQconninfoOption *a), (a)) \
  X(PQconninfoOption *, PQconninfoParse, (const char *a, char **b), (a, b)) \
  X(int, PQconsumeInput, (PGconn *a), (a)) \
  X(char *, PQerrorMessage, (const PGconn *a), (a)) \
  X(PGresult *, PQexec, (PGconn *a, const char *b), (a, b)) \
  X(PGresult *, PQexecParams, (PGconn *a, const char *b, int c, const Oid *d, \
                               const char *const *f, const int *g, const int *h, int i), \
    (a, b, c, d, f, g, h, i)) \
  XV(PQfinish, (PGconn *a), (a)) \
  X(char *, PQfname, (const PGresult *a, int b), (a, b)) \
  XV(PQfreeCancel, (PGcancel *a), (a)) \
  XV(PQfreemem, (void *a), (a)) \
  X(Oid, PQftype, (const PGresult *a, int b), (a, b)) \
  X(PGcancel *, PQgetCancel, (PGconn *a), (a)) \
  X(PGresult *, PQgetResult, (PGconn *a), (a)) \
  X(int, PQgetisnull, (const PGresult *a, int b, int c), (a, b, c)) \
  X(int, PQgetlength, (const PGresult *a, int b, int c), (a, b, c)) \
  X(char *, PQgetvalue, (const PGresult *a, int b, int c), (a, b, c)) \
  X(int, PQisBusy, (PGconn *a), (a)) \
  X(int, PQnfields, (const PGresult *a), (a)) \
  X(int, PQntuples, (const PGresult *a), (a)) \
  X(int, PQputCopyData, (PGconn *a, const char *b, int c), (a, b, c)) \
  X(int, PQputCopyEnd, (PGconn *a, const char *b), (a, b)) \
  X(char *, PQresultErrorField, (const PGresult *a, int b), (a, b)) \
  X(char *, PQresultErrorMessage, (const PGresult *a), (a)) \
  X(ExecStatusType, PQresultStatus, (const PGresult *a), (a)) \
  X(int, PQsendQuery, (PGconn *a, const char *b), (a, b)) \
  X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *a, PQnoticeProcessor b, void *c), (a, b, c)) \
  X(int, PQsocket, (const PGconn *a), (a)) \
  X(ConnStatusType, PQstatus, (const PGconn *a), (a)) \
  X(PGTransactionStatusType, PQtransactionStatus, (const PGconn *a), (a)) \
  X(unsigned char *, PQunescapeBytea, (const unsigned char *a, size_t *b), (a, b))

#define POINTER(ret, name, params, args) static ret (*p_##name) params;
#define POINTER_V(name, params, args) static void (*p_##name) params;
PQ_FUNCTIONS(POINTER, POINTER_V)

static int loaded;

static struct lm_lib libpq = {
  .name = "libpq", .soname = LIBPQ_SONAME, .env = "LUAMIG_LIBPQ",
  .needed = ", PostgreSQL's client library, which a PostgreSQL URL needs",
  .package = "libpq5", .version = " (libpq 10 or later is needed)",
};

int lm_pg_load(struct lm_err *e) {
  if (loaded) return LM_OK;
#define NAME(ret, name, params, args) #name,
#define NAME_V(name, params, args) #name,
#define SLOT(ret, name, params, args) &p_##name,
#define SLOT_V(name, params, args) &p_##name,
  static const char *const names[] = {PQ_FUNCTIONS(NAME, NAME_V)};
  void *const slots[] = {PQ_FUNCTIONS(SLOT, SLOT_V)};
  if (lm_lib_open(&libpq, names, slots, sizeof names / sizeof names[0], e) != LM_OK) return LM_ERROR;
  loaded = 1;
  return LM_OK;
}

int lm_pg_nothing(const char *fn, struct lm_err *e) {
  return lm_lib_nothing(&libpq, fn, e);
}

/* A PQ* call before any PostgreSQL URL was read (see the top). */
static void need(void) {
  if (loaded) return;
  struct lm_err e = LM_ERR_INIT;
  if (lm_pg_load(&e) == LM_OK) return;
  fprintf(stderr, "luamig: %s\n", e.message);
  exit(1);
}

#define FORWARD(ret, name, params, args) \
  HIDDEN ret name params { need(); return p_##name args; }
#define FORWARD_V(name, params, args) \
  HIDDEN void name params { need(); p_##name args; }
PQ_FUNCTIONS(FORWARD, FORWARD_V)
