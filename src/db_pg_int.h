/*
 * db_pg_int.h -- what the PostgreSQL driver's two files share (db_pg.c,
 * the connection; db_pg_url.c, its URLs).
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

#endif
