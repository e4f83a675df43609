/* sql_phases.h — pieces shared by the SQL benchmarks (bench_sql, bench_sqlcold, bench_vfs,
** bench_vtfloor): error exits, and bench_sql's read phases, so that bench_vtfloor runs the same
** statements the same way (header-only: static functions; include after sqlite3.h).
**
** - sqlp_die(db, what), sqlp_ex(db, sql), sqlp_prep(db, sql): a failed statement ends the run
**   with what failed and SQLite's message, prefixed by sqlp_prog (each main sets it) and
**   followed by sqlp_note (bench_sql: its seed); sqlp_ex runs SQL text, sqlp_prep prepares one
**   statement (the caller finalizes it).
** - sqlp_scan100(st, k0, n): one scanrange statement (st = "SELECT k, v FROM t WHERE k >= ?
**   ORDER BY k LIMIT 100" over keys 2*i, i < n) from key 2*k0: steps it to the end and resets
**   it; NULL if the rows came back in key order and as many as expected, else what is wrong.
*/
#ifndef LSMVTAB_SQL_PHASES_H
#define LSMVTAB_SQL_PHASES_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const char *sqlp_prog __attribute__((unused)) = "bench";
static char sqlp_note[64] __attribute__((unused));

__attribute__((noreturn)) static inline void sqlp_die(sqlite3 *db, const char *what) {
  fprintf(stderr, "%s: %s%s%s%s\n", sqlp_prog, what, db ? ": " : "", db ? sqlite3_errmsg(db) : "",
          sqlp_note);
  exit(1);
}

static inline void sqlp_ex(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "%s: %s: %s%s\n", sqlp_prog, sql, err ? err : "?", sqlp_note);
    exit(1);
  }
}

static inline sqlite3_stmt *sqlp_prep(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) sqlp_die(db, sql);
  return st;
}

static inline const char *sqlp_scan100(sqlite3_stmt *st, uint64_t k0, uint64_t n) {
  uint64_t want = n - k0 < 100 ? n - k0 : 100, got = 0;
  const char *err = NULL;
  sqlite3_int64 prev = -1;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)(2 * k0));
  while (sqlite3_step(st) == SQLITE_ROW) {
    sqlite3_int64 k = sqlite3_column_int64(st, 0);
    if (k <= prev) err = "scanrange: keys out of order";
    prev = k;
    got++;
  }
  sqlite3_reset(st);
  return err ? err : got != want ? "scanrange: wrong number of rows" : NULL;
}

#endif
