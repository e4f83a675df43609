/* sql_phases.h — pieces of bench_sql's read phases shared with bench_vtfloor, so that both run
** the same statements the same way (header-only: static functions; include after sqlite3.h).
**
** - sqlp_scan100(st, k0, n): one scanrange statement (st = "SELECT k, v FROM t WHERE k >= ?
**   ORDER BY k LIMIT 100" over keys 2*i, i < n) from key 2*k0: steps it to the end and resets
**   it; NULL if the rows came back in key order and as many as expected, else what is wrong.
*/
#ifndef LSMVTAB_SQL_PHASES_H
#define LSMVTAB_SQL_PHASES_H

#include <sqlite3.h>
#include <stdint.h>

static const char *sqlp_scan100(sqlite3_stmt *st, uint64_t k0, uint64_t n) {
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
