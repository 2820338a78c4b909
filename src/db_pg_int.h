/*
 * db_pg_int.h -- what the PostgreSQL driver's files share (db_pg.c, the
 * connection; db_pg_url.c, its URLs; db_pg_lib.c, libpq loaded).
 */
#ifndef LUAMIG_DB_PG_INT_H
#define LUAMIG_DB_PG_INT_H

#include <libpq-fe.h>

#include "db.h"

/* libpq's message without its trailing newline; caller frees. */
char *lm_pg_trimmed(const char *msg);
/* The driver's parse_url and with_dbname (db.h). */
int lm_pg_parse_url(struct lm_url *u, struct lm_err *e);
int lm_pg_with_dbname(const struct lm_url *u, const char *dbname, char **out, struct lm_err *e);
/* e says that libpq's fn returned nothing where only a lack of memory
 * would make libpq itself do so (db_pg_lib.c: names the file loaded). */
int lm_pg_nothing(const char *fn, struct lm_err *e);

#endif
