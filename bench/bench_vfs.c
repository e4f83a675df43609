/* bench_vfs — the `uring` VFS against the default `unix` VFS, same binary, same run.
**
** A workload in the spirit of SQLite's speedtest1 (inserts in transactions, indexed lookups,
** updates, deletes, full scans, a large sort, VACUUM, a checkpoint) in WAL and rollback
** (DELETE) mode, synchronous NORMAL and FULL. Each configuration runs 5 times per VFS
** (alternating, fresh database each time); per test the median of each VFS, their ratio
** uring/unix (< 1: uring faster), and the ratio of the best runs (the least disturbed ones on a
** shared machine).
** Wall-clock ms and process CPU ms are both printed (CPU is the steadier one on a busy machine).
** Cold-cache phase (root only: echo 1 > /proc/sys/vm/drop_caches before each run): full scans
** and PRAGMA integrity_check of a database several times SQLite's cache.
** Usage: bench_vfs [scale] (default 1; rows = 20000 * scale). Needs LSMVTAB_EXT.
** BENCH_VFS_ONLY=warm|cold runs one phase; BENCH_VFS_ONE=WAL:NORMAL:uring runs the workload
** once in one configuration (for strace -c / perf).
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "sql_phases.h"

#define NREP 5
#define MAXT 12

static int scale = 1;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Process CPU time (user + system, all threads: io_uring workers included). Steadier than
** wall-clock time on a shared machine: what another process takes from us does not count. */
static double cpu_now(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

static void rm_db(const char *p) {
  const char *sfx[] = {"", "-journal", "-wal", "-shm"};
  char b[256];
  for (int i = 0; i < 4; i++) {
    snprintf(b, sizeof b, "%s%s", p, sfx[i]);
    unlink(b);
  }
}

static sqlite3 *open_vfs(const char *path, const char *vfs) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK)
    sqlp_die(db, "open");
  return db;
}

static void drop_caches(void) {
  sync();
  FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
  if (f) {
    fputs("1\n", f);
    fclose(f);
  }
}

/* Rows with a text key that sorts in a scrambled order. */
static void run_steps(sqlite3 *db, int wal, const char *names[], double t[], double c[],
                      int *nt) {
  int n = 20000 * scale, k = 0;
  sqlite3_stmt *st;
  double t0, c0;
  sqlp_ex(db, "CREATE TABLE t(a INTEGER PRIMARY KEY, b INT, c TEXT); CREATE INDEX tb ON t(b)");

  t0 = now(), c0 = cpu_now();
  if (sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?1, ?2, printf('%08x-%.*c', ?2, 100 + ?1 % 200, 'x'))",
                         -1, &st, NULL))
    sqlp_die(db, "prepare");
  for (int tx = 0; tx < 20; tx++) {
    sqlp_ex(db, "BEGIN");
    for (int i = 0; i < n / 20; i++) {
      int a = tx * (n / 20) + i + 1;
      sqlite3_bind_int(st, 1, a);
      sqlite3_bind_int(st, 2, (int)(((unsigned)a * 2654435761u) % 1000000u));
      if (sqlite3_step(st) != SQLITE_DONE) sqlp_die(db, "insert");
      sqlite3_reset(st);
    }
    sqlp_ex(db, "COMMIT");
  }
  sqlite3_finalize(st);
  names[k] = "insert (20 tx)", c[k] = cpu_now() - c0, t[k++] = now() - t0;

  t0 = now(), c0 = cpu_now();
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t WHERE b BETWEEN ?1 AND ?1 + 100", -1, &st, NULL))
    sqlp_die(db, "prepare");
  for (int i = 0; i < n; i++) {
    sqlite3_bind_int(st, 1, (int)(((unsigned)i * 7919u) % 1000000u));
    if (sqlite3_step(st) != SQLITE_ROW) sqlp_die(db, "lookup");
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  names[k] = "indexed lookups", c[k] = cpu_now() - c0, t[k++] = now() - t0;

  t0 = now(), c0 = cpu_now();
  for (int tx = 0; tx < 10; tx++) {
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE t SET b = b + 1, c = c || 'u' WHERE a %% 10 = %d", tx);
    sqlp_ex(db, sql);
  }
  names[k] = "updates (10 tx)", c[k] = cpu_now() - c0, t[k++] = now() - t0;

  t0 = now(), c0 = cpu_now();
  for (int tx = 0; tx < 5; tx++) {
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM t WHERE a %% 25 = %d", tx);
    sqlp_ex(db, sql);
  }
  names[k] = "deletes (5 tx)", c[k] = cpu_now() - c0, t[k++] = now() - t0;

  t0 = now(), c0 = cpu_now();
  for (int i = 0; i < 5; i++) sqlp_ex(db, "SELECT sum(length(c)), max(b) FROM t");
  names[k] = "full scans x5", c[k] = cpu_now() - c0, t[k++] = now() - t0;

  t0 = now(), c0 = cpu_now();
  sqlp_ex(db, "CREATE TABLE s AS SELECT * FROM t ORDER BY c");
  names[k] = "large sort", c[k] = cpu_now() - c0, t[k++] = now() - t0;

  if (wal) {
    t0 = now(), c0 = cpu_now();
    sqlp_ex(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    names[k] = "checkpoint", c[k] = cpu_now() - c0, t[k++] = now() - t0;
  }
  t0 = now(), c0 = cpu_now();
  sqlp_ex(db, "VACUUM");
  names[k] = "vacuum", c[k] = cpu_now() - c0, t[k++] = now() - t0;

  t0 = now(), c0 = cpu_now();
  sqlp_ex(db, "PRAGMA integrity_check");
  names[k] = "integrity_check", c[k] = cpu_now() - c0, t[k++] = now() - t0;
  *nt = k;
}

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, n, sizeof *v, cmpd);
  return v[n / 2];
}

static void config(const char *jm, const char *sync) {
  const char *vfs[2] = {"unix", "uring"};
  const char *names[MAXT];
  double t[2][NREP][MAXT], c[2][NREP][MAXT], tot[2][NREP], ctot[2][NREP];
  int nt = 0, wal = strcmp(jm, "WAL") == 0;
  for (int r = 0; r < NREP; r++)
    for (int v = 0; v < 2; v++) {
      rm_db("bench.db");
      sqlite3 *db = open_vfs("bench.db", vfs[v]);
      char sql[128];
      snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s; PRAGMA synchronous=%s", jm, sync);
      sqlp_ex(db, sql);
      double t0 = now(), c0 = cpu_now();
      run_steps(db, wal, names, t[v][r], c[v][r], &nt);
      sqlite3_close(db);
      tot[v][r] = now() - t0;
      ctot[v][r] = cpu_now() - c0;
    }
  printf("\n-- journal_mode=%s synchronous=%s (wall ms, median of %d; ratio of medians; ratio of "
         "bests; CPU: process CPU ms, medians, and their ratio)\n",
         jm, sync, NREP);
  printf("%-18s %10s %10s %8s %8s %9s %9s %8s\n", "test", "unix", "uring", "ratio", "best",
         "cpu unix", "cpu uring", "cpu rat");
  for (int i = 0; i <= nt; i++) {
    double m[2], lo[2], cm[2];
    for (int v = 0; v < 2; v++) {
      double x[NREP], y[NREP];
      for (int r = 0; r < NREP; r++) {
        x[r] = i < nt ? t[v][r][i] : tot[v][r];
        y[r] = i < nt ? c[v][r][i] : ctot[v][r];
      }
      m[v] = median(x, NREP);
      lo[v] = x[0]; /* sorted by median() */
      cm[v] = median(y, NREP);
    }
    printf("%-18s %10.1f %10.1f %8.2f %8.2f %9.1f %9.1f %8.2f\n", i < nt ? names[i] : "total",
           m[0] * 1e3, m[1] * 1e3, m[1] / m[0], lo[1] / lo[0], cm[0] * 1e3, cm[1] * 1e3,
           cm[1] / cm[0]);
  }
  fflush(stdout);
}

/* Cold cache: a database ~16x SQLite's cache, page cache dropped before each run. */
static void cold(void) {
  if (geteuid() != 0) {
    printf("\n-- cold cache: skipped (needs root for drop_caches)\n");
    return;
  }
  rm_db("cold.db");
  sqlite3 *db = open_vfs("cold.db", "unix");
  sqlp_ex(db, "PRAGMA journal_mode=DELETE; CREATE TABLE t(a INTEGER PRIMARY KEY, b INT, c TEXT);"
         "CREATE INDEX tb ON t(b)");
  char sql[256];
  snprintf(sql, sizeof sql,
           "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM s WHERE x < %d) "
           "INSERT INTO t SELECT x, (x * 2654435761) %% 1000000, printf('%%.*c', 200 + x %% 300, 'c') FROM s",
           150000 * scale);
  sqlp_ex(db, sql);
  sqlite3_close(db);
  const char *vfs[2] = {"unix", "uring"};
  const char *what[3] = {"scan table", "scan index", "integrity_check"};
  const char *q[3] = {"SELECT sum(length(c)) FROM t", "SELECT count(*), sum(b) FROM t INDEXED BY tb WHERE b >= 0",
                      "PRAGMA integrity_check"};
  double t[2][3][NREP], c[2][3][NREP];
  for (int r = 0; r < NREP; r++)
    for (int v = 0; v < 2; v++)
      for (int i = 0; i < 3; i++) {
        drop_caches();
        db = open_vfs("cold.db", vfs[v]);
        sqlp_ex(db, "PRAGMA cache_size=2000"); /* 8 MiB: the database is many times larger */
        double t0 = now(), c0 = cpu_now();
        sqlp_ex(db, q[i]);
        t[v][i][r] = now() - t0;
        c[v][i][r] = cpu_now() - c0;
        sqlite3_close(db);
      }
  long long sz = 0;
  FILE *f = fopen("cold.db", "rb");
  if (f) {
    fseek(f, 0, SEEK_END);
    sz = ftell(f);
    fclose(f);
  }
  printf("\n-- cold cache (drop_caches before each run), %lld MiB database, cache 8 MiB, median of %d, ms\n",
         sz >> 20, NREP);
  printf("%-18s %10s %10s %8s %8s %9s %9s %8s\n", "test", "unix", "uring", "ratio", "best",
         "cpu unix", "cpu uring", "cpu rat");
  for (int i = 0; i < 3; i++) {
    double a = median(t[0][i], NREP), b = median(t[1][i], NREP);
    double ca = median(c[0][i], NREP), cb = median(c[1][i], NREP);
    printf("%-18s %10.1f %10.1f %8.2f %8.2f %9.1f %9.1f %8.2f\n", what[i], a * 1e3, b * 1e3,
           b / a, t[1][i][0] / t[0][i][0], ca * 1e3, cb * 1e3, cb / ca);
  }
  rm_db("cold.db");
}

int main(int argc, char **argv) {
  sqlp_prog = "bench_vfs";
  if (argc > 1) scale = atoi(argv[1]) > 0 ? atoi(argv[1]) : 1;
  const char *ext = getenv("LSMVTAB_EXT");
  if (!ext) {
    fprintf(stderr, "bench_vfs: set LSMVTAB_EXT (path of lsmvtab without .so)\n");
    return 1;
  }
  sqlite3 *db = NULL;
  sqlite3_open(":memory:", &db);
  sqlite3_enable_load_extension(db, 1);
  char *err = NULL;
  if (sqlite3_load_extension(db, ext, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "bench_vfs: load %s: %s\n", ext, err ? err : "?");
    return 1;
  }
  sqlite3_close(db);
  const char *one = getenv("BENCH_VFS_ONE"); /* "JOURNAL:SYNC:VFS": one run, for strace -c */
  if (one) {
    char jm[32], sy[32], vfs[32];
    if (sscanf(one, "%31[^:]:%31[^:]:%31s", jm, sy, vfs) != 3) return 1;
    rm_db("bench.db");
    db = open_vfs("bench.db", vfs);
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s; PRAGMA synchronous=%s", jm, sy);
    sqlp_ex(db, sql);
    const char *names[MAXT];
    double t[MAXT], c[MAXT];
    int nt = 0;
    run_steps(db, strcmp(jm, "WAL") == 0, names, t, c, &nt);
    sqlite3_close(db);
    for (int i = 0; i < nt; i++)
      printf("%-18s %10.1f ms  (CPU %.1f ms)\n", names[i], t[i] * 1e3, c[i] * 1e3);
    rm_db("bench.db");
    return 0;
  }
  const char *only = getenv("BENCH_VFS_ONLY"); /* "cold", "warm" or unset (both) */
  printf("bench_vfs: scale %d (%d rows), backend %s\n", scale, 20000 * scale,
         getenv("LSMVTAB_VFS_IO") ? getenv("LSMVTAB_VFS_IO") : "auto");
  if (!only || strcmp(only, "warm") == 0) {
    const char *jm[2] = {"WAL", "DELETE"}, *sy[2] = {"NORMAL", "FULL"};
    for (int j = 0; j < 2; j++)
      for (int s = 0; s < 2; s++) config(jm[j], sy[s]);
  }
  if (!only || strcmp(only, "cold") == 0) cold();
  rm_db("bench.db");
  return 0;
}
