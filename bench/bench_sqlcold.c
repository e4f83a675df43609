/* bench_sqlcold — cold point reads through SQL: what an lsm table's `io`, `direct_io` and
** `io_poll_us` options do for statements whose rows no cache holds, beside a native rowid table
** read through SQLite's default VFS. Two tables of N rows (keys 2*i, 100-byte half-compressible
** values, inserted in key order):
**   rowid  CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB) in rowid.db (journal_mode=WAL)
**   lsm    CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v BLOB, dir='cold-lsm') in
**          build.db, flushed and compacted whole (lsm_compact): every configuration reads the
**          same table files
** Then per configuration (rowid; lsm with io sync|uring x direct_io 0|1; lsm uring with
** mmap_reads=0; lsm uring + direct_io + io_poll_us=1000), two phases over the same C random keys (fixed seed, every key present):
**   single  C x SELECT v FROM t WHERE k = ?
**   in32    C/32 x SELECT k, v FROM t WHERE k IN (32 ?s)  (lsm: one lsm_multiget per statement)
** Before each phase: sync, echo 1 > /proc/sys/vm/drop_caches, and a new connection (lsm: a new
** database file whose table names the same dir with the configuration's options; lsm_stats is
** checked to show them in use), closed after the phase: the table's metadata (index, filter) is
** read cold too. Root only; otherwise it prints that it skipped.
** Printed (Markdown): keys/s, p50/p99 µs per statement, CPU µs per key (process: all threads),
** and the ratios of in32 on uring + direct_io (with and without polling) over sync + direct_io
** and over rowid. With runs > 1 every figure is the median over the runs. On stderr, per lsm
** phase: how many statements' batches were read as cold (lsm_stats mmap_cold_batches).
** Usage: bench_sqlcold [-n N] [-c C] [-R runs]. Env defaults BENCH_N (1000000), BENCH_RUNS (1).
** Needs LSMVTAB_EXT (the extension path without .so; scripts/run-bench.sh sets it).
*/
#include <getopt.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "sql_phases.h"

#define VAL_LEN 100
#define INN 32
#define MAX_RUNS 15
#define SEED 0x5eedc01dULL

/* The configurations: the lsm table's options, and what lsm_stats must show for them
** (direct_io, io_backend, io_poll_us, mmap_reads). */
enum { C_ROWID, C_SYNC, C_SYNC_DIRECT, C_URING, C_URING_NOMMAP, C_URING_DIRECT, C_URING_DIRECT_POLL, NCONF };
static const struct {
  const char *name, *opts, *stats;
} conf[NCONF] = {
    {"rowid (native)", NULL, NULL},
    {"lsm sync", "io=sync", "0sync01"},
    {"lsm sync direct_io", "io=sync, direct_io=1", "1sync01"},
    {"lsm uring", "io=uring", "0uring01"},
    {"lsm uring mmap_reads=0", "io=uring, mmap_reads=0", "0uring00"},
    {"lsm uring direct_io", "io=uring, direct_io=1", "1uring01"},
    {"lsm uring direct_io io_poll_us=1000", "io=uring, direct_io=1, io_poll_us=1000", "1uring10001"},
};

typedef struct {
  double keys_s, p50, p99, cpu_us;
} res;

static uint64_t N = 1000000, C = 20000;
static char lsm_dir[4096];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_secs(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void drop_caches(void) {
  sync();
  FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
  if (!f || fputs("1\n", f) < 0 || fclose(f) != 0) sqlp_die(NULL, "cannot drop caches");
}

static sqlite3 *open_db(const char *file) {
  sqlite3 *db;
  if (sqlite3_open(file, &db) != SQLITE_OK) sqlp_die(db, file);
  const char *ext = getenv("LSMVTAB_EXT");
  if (!ext) sqlp_die(NULL, "LSMVTAB_EXT is not set");
  sqlite3_enable_load_extension(db, 1);
  char *err = NULL;
  if (sqlite3_load_extension(db, ext, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "bench_sqlcold: load %s: %s\n", ext, err ? err : "?");
    exit(1);
  }
  return db;
}

/* Value of key i: 50 bytes from a seeded mix, then the same 50 again (half-compressible). */
static void make_val(uint64_t i, char *v) {
  uint64_t s = SEED ^ (i * 0x9e3779b97f4a7c15ULL);
  for (int j = 0; j < VAL_LEN / 2; j++) s = mix(s + (uint64_t)j), v[j] = (char)s;
  memcpy(v + VAL_LEN / 2, v, VAL_LEN / 2);
}

static void fill(sqlite3 *db) {
  char v[VAL_LEN];
  sqlite3_stmt *st = sqlp_prep(db, "INSERT INTO t VALUES (?, ?)");
  for (uint64_t i = 0; i < N; i++) {
    if (i % 10000 == 0) sqlp_ex(db, i ? "COMMIT; BEGIN" : "BEGIN");
    make_val(i, v);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(2 * i));
    sqlite3_bind_blob(st, 2, v, VAL_LEN, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) sqlp_die(db, "insert");
    sqlite3_reset(st);
  }
  sqlp_ex(db, "COMMIT");
  sqlite3_finalize(st);
}

/* Table t of `file`, made by `create`, unless a previous run left it (same N: the count is
** checked); a new one is filled, then `settle` runs. */
static void build_one(const char *file, const char *create, const char *settle) {
  sqlite3 *db = open_db(file);
  sqlp_ex(db, create);
  sqlite3_stmt *st = sqlp_prep(db, "SELECT count(*) FROM t");
  if (sqlite3_step(st) != SQLITE_ROW) sqlp_die(db, "count");
  uint64_t have = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (have && have != N) sqlp_die(NULL, "a table of another N is there: remove rowid.db, build.db and cold-lsm/");
  if (!have) {
    fill(db);
    sqlp_ex(db, settle);
  }
  sqlite3_close(db);
}

static void build(void) {
  build_one("rowid.db", "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB)",
            "PRAGMA wal_checkpoint(TRUNCATE)");
  build_one("build.db",
            "CREATE VIRTUAL TABLE IF NOT EXISTS t USING lsm(k INTEGER PRIMARY KEY, v BLOB, dir='cold-lsm')",
            "SELECT lsm_flush('t'), lsm_compact('t')");
  if (!realpath("cold-lsm", lsm_dir)) sqlp_die(NULL, "realpath cold-lsm");
}

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* One phase of configuration c: C keys, one per statement or INN per statement. */
static res phase(int c, int in32) {
  drop_caches();
  sqlite3 *db;
  if (c == C_ROWID) {
    db = open_db("rowid.db");
  } else {
    unlink("cfg.db");
    db = open_db("cfg.db");
    char sql[4608];
    snprintf(sql, sizeof sql, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v BLOB, dir='%s', %s)",
             lsm_dir, conf[c].opts);
    sqlp_ex(db, sql);
    /* the options are in use: this connection opened the engine (nothing else has it open) */
    snprintf(sql, sizeof sql,
             "SELECT json_extract(s, '$.engine.direct_io') || json_extract(s, '$.engine.io_backend') || "
             "json_extract(s, '$.engine.io_poll_us') || json_extract(s, '$.engine.mmap_reads') "
             "FROM (SELECT lsm_stats('t') AS s)");
    sqlite3_stmt *st = sqlp_prep(db, sql);
    if (sqlite3_step(st) != SQLITE_ROW) sqlp_die(db, "lsm_stats");
    if (strcmp((const char *)sqlite3_column_text(st, 0), conf[c].stats))
      sqlp_die(NULL, "the table does not run with the configuration's options (io_uring unavailable?)");
    sqlite3_finalize(st);
  }
  char sql[512] = "SELECT k, v FROM t WHERE k IN (";
  for (int i = 0; i < INN; i++) strcat(sql, i ? ",?" : "?");
  strcat(sql, ")");
  sqlite3_stmt *st = sqlp_prep(db, in32 ? sql : "SELECT k, v FROM t WHERE k = ?");
  uint64_t per = in32 ? INN : 1, nst = C / per, rng = SEED + 1;
  double *lat = malloc(sizeof(double) * nst);
  if (!lat) sqlp_die(NULL, "out of memory");
  char want[VAL_LEN];
  double t0 = now(), c0 = cpu_secs();
  for (uint64_t s = 0; s < nst; s++) {
    double s0 = now();
    for (uint64_t j = 0; j < per; j++)
      sqlite3_bind_int64(st, (int)j + 1, (sqlite3_int64)(2 * (bench_rnd(&rng) % N)));
    uint64_t got = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      uint64_t k = (uint64_t)sqlite3_column_int64(st, 0);
      make_val(k / 2, want);
      if (sqlite3_column_bytes(st, 1) != VAL_LEN || memcmp(sqlite3_column_blob(st, 1), want, VAL_LEN))
        sqlp_die(db, "wrong value");
      got++;
    }
    if (rc != SQLITE_DONE) sqlp_die(db, "read");
    /* an IN list of random keys may repeat one: it comes back once */
    if (got == 0 || got > per) sqlp_die(db, "a key was not found");
    sqlite3_reset(st);
    lat[s] = (now() - s0) * 1e6;
  }
  double t = now() - t0, cpu = cpu_secs() - c0;
  sqlite3_finalize(st);
  if (c != C_ROWID) { /* how the mapped table's batches were read (stderr) */
    st = sqlp_prep(db, "SELECT json_extract(lsm_stats('t'), '$.engine.mmap_cold_batches')");
    if (sqlite3_step(st) == SQLITE_ROW)
      fprintf(stderr, "  %s %s: %lld of %llu statements' batches read as cold\n", conf[c].name,
              in32 ? "in32" : "single", (long long)sqlite3_column_int64(st, 0), (unsigned long long)nst);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  qsort(lat, nst, sizeof *lat, dcmp);
  res r = {(double)(nst * per) / t, lat[nst / 2], lat[nst * 99 / 100], cpu * 1e6 / (double)(nst * per)};
  free(lat);
  return r;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, dcmp);
  return v[n / 2];
}

int main(int argc, char **argv) {
  sqlp_prog = "bench_sqlcold";
  int runs = getenv("BENCH_RUNS") ? atoi(getenv("BENCH_RUNS")) : 1, opt;
  if (getenv("BENCH_N")) N = strtoull(getenv("BENCH_N"), NULL, 10);
  while ((opt = getopt(argc, argv, "n:c:R:")) != -1) {
    if (opt == 'n') N = strtoull(optarg, NULL, 10);
    else if (opt == 'c') C = strtoull(optarg, NULL, 10);
    else if (opt == 'R') runs = atoi(optarg);
    else {
      fprintf(stderr, "usage: bench_sqlcold [-n N] [-c C] [-R runs]\n");
      return 2;
    }
  }
  if (N < 1000 || C < INN || runs < 1 || runs > MAX_RUNS) {
    fprintf(stderr, "bench_sqlcold: N >= 1000, C >= %d, 1 <= runs <= %d\n", INN, MAX_RUNS);
    return 2;
  }
  C -= C % INN;
  if (geteuid() != 0) {
    printf("bench_sqlcold skipped: not root (needs echo 1 > /proc/sys/vm/drop_caches)\n");
    return 0;
  }
  build();
  static res r[MAX_RUNS][NCONF][2];
  for (int run = 0; run < runs; run++)
    for (int c = 0; c < NCONF; c++)
      for (int in32 = 0; in32 < 2; in32++) {
        fprintf(stderr, "run %d/%d: %s %s\n", run + 1, runs, conf[c].name, in32 ? "in32" : "single");
        r[run][c][in32] = phase(c, in32);
      }
  unlink("cfg.db");
  res m[NCONF][2];
  double col[MAX_RUNS];
  for (int c = 0; c < NCONF; c++)
    for (int p = 0; p < 2; p++) {
#define MED(f)                                             \
  do {                                                     \
    for (int run = 0; run < runs; run++) col[run] = r[run][c][p].f; \
    m[c][p].f = median(col, runs);                         \
  } while (0)
      MED(keys_s);
      MED(p50);
      MED(p99);
      MED(cpu_us);
#undef MED
    }
  printf("### bench_sqlcold: N=%llu rows, %llu cold keys per phase, 100-byte half-compressible values, "
         "runs %d (medians)\n\n",
         (unsigned long long)N, (unsigned long long)C, runs);
  printf("Page cache dropped and a new connection before each phase; lsm table: default options plus "
         "the row's.\n\n");
  printf("| configuration | single keys/s | p50 us | p99 us | CPU us/key | in32 keys/s | p50 us/stmt | "
         "p99 us/stmt | CPU us/key |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int c = 0; c < NCONF; c++)
    printf("| %s | %.0f | %.0f | %.0f | %.1f | %.0f | %.0f | %.0f | %.1f |\n", conf[c].name, m[c][0].keys_s,
           m[c][0].p50, m[c][0].p99, m[c][0].cpu_us, m[c][1].keys_s, m[c][1].p50, m[c][1].p99, m[c][1].cpu_us);
  printf("\nin32 lsm uring+direct_io / lsm sync+direct_io: %.2fx; with io_poll_us=1000: %.2fx\n",
         m[C_URING_DIRECT][1].keys_s / m[C_SYNC_DIRECT][1].keys_s,
         m[C_URING_DIRECT_POLL][1].keys_s / m[C_SYNC_DIRECT][1].keys_s);
  printf("in32 lsm uring+direct_io / rowid in32: %.2fx; with io_poll_us=1000: %.2fx; rowid in32 / rowid "
         "single: %.2fx\n",
         m[C_URING_DIRECT][1].keys_s / m[C_ROWID][1].keys_s, m[C_URING_DIRECT_POLL][1].keys_s / m[C_ROWID][1].keys_s,
         m[C_ROWID][1].keys_s / m[C_ROWID][0].keys_s);
  if (runs > 1) {
    printf("each run's in32 uring+direct_io / sync+direct_io:");
    for (int run = 0; run < runs; run++)
      printf("%s %.2fx", run ? "," : "", r[run][C_URING_DIRECT][1].keys_s / r[run][C_SYNC_DIRECT][1].keys_s);
    printf("\n");
  }
  return 0;
}
