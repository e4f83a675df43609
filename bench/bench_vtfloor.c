/*
** bench_vtfloor.c — the floor under bench_sql's lsm figures: what SQLite's virtual-table
** interface costs by itself.
**
** A virtual table `floor` whose rows cost nothing (row i has k = 2*i and v = one fixed 100-byte
** blob, bench_sql's shape) is read with bench_sql's own statements and loops, on a WAL-mode
** database opened as bench_sql opens its tables (journal_mode=WAL, synchronous=NORMAL, the table
** in the main schema, so every statement takes SQLite's WAL read lock as an lsm statement does):
**   readseq    SELECT k, v FROM t                                     (CPU us per row)
**   readrandom R x SELECT v FROM t WHERE k = ?                        (CPU us per statement)
**   scanrange  R/10 x SELECT k, v FROM t WHERE k >= ? ORDER BY k LIMIT 100   (CPU us per scan)
** The bench thread's CPU time is reported. An lsm table can be no faster than this; what an
** lsm figure costs above it is the engine's and the lsm module's part, to be set against what
** native SQLite pays above its own (native rowid figures minus these).
**
** Usage: bench_vtfloor [-n N] [-r R] [-R runs]   (defaults N 5000000, R 200000, runs 3; medians)
** Scratch database: vtfloor.db in the current directory (removed at the end).
*/
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sql_phases.h"

static int64_t nrows = 5000000;
static unsigned char blob[100];

typedef struct {
  sqlite3_vtab_cursor base;
  int64_t i, end;
} fl_cur;

static int fl_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **pp,
                      char **err) {
  (void)aux, (void)argc, (void)argv, (void)err;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(k INTEGER PRIMARY KEY, v BLOB)");
  if (rc) return rc;
  if (!(*pp = sqlite3_malloc(sizeof **pp))) return SQLITE_NOMEM;
  memset(*pp, 0, sizeof **pp);
  return SQLITE_OK;
}

static int fl_disconnect(sqlite3_vtab *p) {
  sqlite3_free(p);
  return SQLITE_OK;
}

/* idxNum 0: full scan; 1: k = ?; 2: k >= ?. ORDER BY k is always the row order. */
static int fl_best_index(sqlite3_vtab *p, sqlite3_index_info *ii) {
  (void)p;
  ii->idxNum = 0;
  ii->estimatedCost = (double)nrows;
  for (int i = 0; i < ii->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &ii->aConstraint[i];
    if (!c->usable || c->iColumn != 0) continue;
    if (c->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      ii->aConstraintUsage[i].argvIndex = 1;
      ii->aConstraintUsage[i].omit = 1;
      ii->idxNum = 1;
      ii->estimatedCost = 1;
      ii->estimatedRows = 1;
      ii->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
      break;
    }
    if (c->op == SQLITE_INDEX_CONSTRAINT_GE) {
      ii->aConstraintUsage[i].argvIndex = 1;
      ii->aConstraintUsage[i].omit = 1;
      ii->idxNum = 2;
      ii->estimatedCost = 100;
      break;
    }
  }
  if (ii->nOrderBy == 1 && ii->aOrderBy[0].iColumn <= 0 && !ii->aOrderBy[0].desc) ii->orderByConsumed = 1;
  return SQLITE_OK;
}

static int fl_open(sqlite3_vtab *p, sqlite3_vtab_cursor **pc) {
  (void)p;
  fl_cur *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *pc = &c->base;
  return SQLITE_OK;
}

static int fl_close(sqlite3_vtab_cursor *c) {
  sqlite3_free(c);
  return SQLITE_OK;
}

static int fl_filter(sqlite3_vtab_cursor *pc, int idx, const char *s, int argc, sqlite3_value **argv) {
  (void)s, (void)argc;
  fl_cur *c = (fl_cur *)pc;
  c->i = idx ? (sqlite3_value_int64(argv[0]) + 1) / 2 : 0;
  c->end = idx == 1 ? (sqlite3_value_int64(argv[0]) % 2 ? c->i : c->i + 1) : nrows;
  if (c->i < 0) c->i = 0;
  if (c->end > nrows) c->end = nrows;
  return SQLITE_OK;
}

static int fl_next(sqlite3_vtab_cursor *pc) {
  ((fl_cur *)pc)->i++;
  return SQLITE_OK;
}

static int fl_eof(sqlite3_vtab_cursor *pc) { return ((fl_cur *)pc)->i >= ((fl_cur *)pc)->end; }

/* As the lsm module: an integer key, and the value copied (SQLITE_TRANSIENT). */
static int fl_column(sqlite3_vtab_cursor *pc, sqlite3_context *ctx, int i) {
  if (i == 0) sqlite3_result_int64(ctx, 2 * ((fl_cur *)pc)->i);
  else sqlite3_result_blob(ctx, blob, (int)sizeof blob, SQLITE_TRANSIENT);
  return SQLITE_OK;
}

static int fl_rowid(sqlite3_vtab_cursor *pc, sqlite3_int64 *out) {
  *out = 2 * ((fl_cur *)pc)->i;
  return SQLITE_OK;
}

static sqlite3_module fl_module = {
    .xCreate = fl_connect, .xConnect = fl_connect, .xBestIndex = fl_best_index,
    .xDisconnect = fl_disconnect, .xDestroy = fl_disconnect, .xOpen = fl_open, .xClose = fl_close,
    .xFilter = fl_filter, .xNext = fl_next, .xEof = fl_eof, .xColumn = fl_column, .xRowid = fl_rowid};

static double thr_secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x5eed5678;
static uint64_t rnd(void) { /* xorshift64 */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static double readseq(sqlite3 *db) {
  sqlite3_stmt *st = sqlp_prep(db, "SELECT k, v FROM t");
  int64_t n = 0, bytes = 0;
  double t0 = thr_secs();
  while (sqlite3_step(st) == SQLITE_ROW) {
    bytes += sqlite3_column_bytes(st, 1);
    n++;
  }
  double us = (thr_secs() - t0) * 1e6 / (double)(n ? n : 1);
  sqlite3_finalize(st);
  if (n != nrows || bytes != nrows * (int64_t)sizeof blob) sqlp_die(db, "readseq: wrong rows");
  return us;
}

static double readrandom(sqlite3 *db, int64_t r) {
  sqlite3_stmt *st = sqlp_prep(db, "SELECT v FROM t WHERE k = ?");
  int64_t found = 0;
  double t0 = thr_secs();
  for (int64_t i = 0; i < r; i++) {
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(2 * (rnd() % (uint64_t)nrows)));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == (int)sizeof blob) found++;
    sqlite3_reset(st);
  }
  double us = (thr_secs() - t0) * 1e6 / (double)r;
  sqlite3_finalize(st);
  if (found != r) sqlp_die(db, "readrandom: a key was not found");
  return us;
}

static double scanrange(sqlite3 *db, int64_t count) {
  sqlite3_stmt *st = sqlp_prep(db, "SELECT k, v FROM t WHERE k >= ? ORDER BY k LIMIT 100");
  double t0 = thr_secs();
  for (int64_t i = 0; i < count; i++) {
    const char *err = sqlp_scan100(st, rnd() % (uint64_t)nrows, (uint64_t)nrows);
    if (err) sqlp_die(db, err);
  }
  double us = (thr_secs() - t0) * 1e6 / (double)count;
  sqlite3_finalize(st);
  return us;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  sqlp_prog = "bench_vtfloor";
  int64_t r = 200000;
  int runs = 3, opt;
  while ((opt = getopt(argc, argv, "n:r:R:")) != -1) {
    if (opt == 'n') nrows = atoll(optarg);
    else if (opt == 'r') r = atoll(optarg);
    else if (opt == 'R') runs = atoi(optarg);
    else {
      fprintf(stderr, "usage: bench_vtfloor [-n N] [-r R] [-R runs]\n");
      return 2;
    }
  }
  if (nrows < 100 || r < 10 || runs < 1 || runs > 99) {
    fprintf(stderr, "bench_vtfloor: need N >= 100, R >= 10, 1 <= runs <= 99\n");
    return 2;
  }
  for (size_t i = 0; i < sizeof blob; i++) blob[i] = (unsigned char)(i < 50 ? rnd() : 'x');
  const char *file = "vtfloor.db";
  unlink(file);
  sqlite3 *db;
  if (sqlite3_open(file, &db) != SQLITE_OK) sqlp_die(db, "open");
  if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL, NULL) ||
      sqlite3_create_module(db, "floor", &fl_module, NULL) ||
      sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING floor", NULL, NULL, NULL))
    sqlp_die(db, "setup");
  double rs[99], rr[99], sc[99];
  for (int i = 0; i < runs; i++) {
    rs[i] = readseq(db);
    rr[i] = readrandom(db, r);
    sc[i] = scanrange(db, r / 10 ? r / 10 : 1);
  }
  sqlite3_close(db);
  unlink(file);
  qsort(rs, (size_t)runs, sizeof *rs, cmp_d);
  qsort(rr, (size_t)runs, sizeof *rr, cmp_d);
  qsort(sc, (size_t)runs, sizeof *sc, cmp_d);
  printf("### bench_vtfloor: N=%lld rows, %lld reads, SQLite %s, WAL + synchronous=NORMAL, runs %d (medians)\n\n",
         (long long)nrows, (long long)r, sqlite3_libversion(), runs);
  printf("CPU time of the bench's thread, us, of a virtual table whose rows cost nothing:\n\n");
  printf("| phase | floor |\n|---|---:|\n");
  printf("| readseq (per row) | %.4f |\n", rs[runs / 2]);
  printf("| readrandom (per statement) | %.3f |\n", rr[runs / 2]);
  printf("| scanrange (100 rows, per scan) | %.2f |\n", sc[runs / 2]);
  return 0;
}
