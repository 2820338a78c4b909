/*
 * floor_sqlite.c -- the C floor on SQLite: the database work of the
 * benchmark's migrations, done directly through the sqlite3 API.
 *
 *   floor_sqlite DBFILE tables|columns|bulk N tx|step
 *
 * The statements are the ones luamig renders for the generated projects
 * (bench/gen.lua), issued one by one:
 *   - CREATE TABLE "luamig_version" (the version table, as luamig makes it);
 *   - per revision its DDL, then the version row: INSERT for the first,
 *     UPDATE ... WHERE version_num = <previous> for the others;
 *   - tx: BEGIN before the first revision and COMMIT after the last;
 *     step: BEGIN/COMMIT around each revision (each commit syncs, as the
 *     connection's defaults say: journal_mode DELETE, synchronous FULL).
 * bulk: one revision: CREATE TABLE "items" (no key, as gen.lua's), then N
 * rows through one prepared INSERT re-bound per row, (i, 'name <i>',
 * i * 0.5), in the revision's transaction; the name is bound
 * SQLITE_STATIC (not copied), as luamig binds it: the tightest the sqlite3
 * API allows.
 * Revision ids are gen.lua's. Exits 1 with the database's message on error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

static sqlite3 *db;

static void die(const char *what) {
  fprintf(stderr, "floor_sqlite: %s: %s\n", what, sqlite3_errmsg(db));
  exit(1);
}

static void exec(const char *sql) {
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) die(sql);
}

/* gen.lua's revision id of revision i (1-based). */
static void rev_id(char out[24], long i) {
  snprintf(out, 24, "%012lx", 0xbe9c0000000L + i * 104729L);
}

/* The version row after revision i: prepared once, re-bound per revision,
 * as a migration runner that keeps its statements would. */
static sqlite3_stmt *insert_version, *update_version;

static void write_version(long i) {
  char to[24], from[24];
  rev_id(to, i);
  sqlite3_stmt *st;
  if (i == 1) {
    st = insert_version;
    sqlite3_bind_text(st, 1, to, -1, SQLITE_TRANSIENT);
  } else {
    rev_id(from, i - 1);
    st = update_version;
    sqlite3_bind_text(st, 1, to, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, from, -1, SQLITE_TRANSIENT);
  }
  if (sqlite3_step(st) != SQLITE_DONE) die("version row");
  if (sqlite3_changes(db) != 1) {
    fprintf(stderr, "floor_sqlite: version row: expected one row\n");
    exit(1);
  }
  sqlite3_reset(st);
}

static void bulk(long n) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "INSERT INTO \"items\" (\"id\", \"name\", \"value\") VALUES (?1, ?2, ?3)",
                         -1, &st, NULL) != SQLITE_OK)
    die("prepare INSERT");
  char name[32];
  for (long i = 1; i <= n; i++) {
    int len = snprintf(name, sizeof name, "name %ld", i);
    sqlite3_bind_int64(st, 1, i);
    sqlite3_bind_text(st, 2, name, len, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, (double)i * 0.5);
    if (sqlite3_step(st) != SQLITE_DONE) die("INSERT");
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fputs("usage: floor_sqlite DBFILE tables|columns|bulk N tx|step\n", stderr);
    return 2;
  }
  const char *kind = argv[2];
  long n = strtol(argv[3], NULL, 10);
  int per_step = strcmp(argv[4], "step") == 0;
  /* opened as luamig opens its connections (db_sqlite.c, main.c), so the
   * ratio measures luamig's own work, not a connection setting */
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK)
    die("open");

  exec("CREATE TABLE IF NOT EXISTS \"luamig_version\" (version_num VARCHAR(64) NOT NULL, "
       "CONSTRAINT \"luamig_version_pkc\" PRIMARY KEY (version_num))");
  if (sqlite3_prepare_v2(db, "INSERT INTO \"luamig_version\" (version_num) VALUES (?1)", -1,
                         &insert_version, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "UPDATE \"luamig_version\" SET version_num = ?1 WHERE version_num = ?2",
                         -1, &update_version, NULL) != SQLITE_OK)
    die("prepare version statements");

  char sql[512];
  if (!per_step) exec("BEGIN");
  if (strcmp(kind, "bulk") == 0) {
    if (per_step) exec("BEGIN");
    exec("CREATE TABLE \"items\" (\n    \"id\" INTEGER,\n    \"name\" VARCHAR(50),\n"
         "    \"value\" FLOAT\n)");
    bulk(n);
    write_version(1);
    if (per_step) exec("COMMIT");
  } else {
    for (long i = 1; i <= n; i++) {
      if (per_step) exec("BEGIN");
      if (strcmp(kind, "tables") == 0)
        snprintf(sql, sizeof sql,
                 "CREATE TABLE \"t%05ld\" (\n    \"id\" INTEGER NOT NULL,\n    \"name\" VARCHAR(50),\n"
                 "    \"value\" FLOAT,\n    CONSTRAINT \"pk_t%05ld\" PRIMARY KEY (\"id\")\n)", i, i);
      else if (i == 1)
        snprintf(sql, sizeof sql, "CREATE TABLE \"wide\" (\n    \"id\" INTEGER NOT NULL,\n"
                 "    CONSTRAINT \"pk_wide\" PRIMARY KEY (\"id\")\n)");
      else
        snprintf(sql, sizeof sql, "ALTER TABLE \"wide\" ADD COLUMN \"c%05ld\" INTEGER", i);
      exec(sql);
      write_version(i);
      if (per_step) exec("COMMIT");
    }
  }
  if (!per_step) exec("COMMIT");
  sqlite3_finalize(insert_version);
  sqlite3_finalize(update_version);
  if (sqlite3_close(db) != SQLITE_OK) die("close");
  return 0;
}
