/* Tests of the `uring` VFS (vfs/uringvfs.c) through SQLite: mixed workloads in every journal
** mode x synchronous level x mmap on/off compared with the unix VFS and integrity-checked,
** backends sync/uring, read-ahead, two connections and two processes writing one database,
** SIGKILL of a writer mid-transaction (synchronous=FULL), injected IO errors (fio fault
** backend). The extension is loaded from $LSMVTAB_EXT; the test hooks are found with dlsym.
** Randomized parts print their seed on failure. LSMVTAB_LONG=1 runs more rounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../vfs/uringvfs.h"
#include "fio.h"
#include "vg_util.h"
#include "pc_util.h"

static int (*p_fault_set)(int, long, int);
static void (*p_fault_clear)(void);
static long (*p_fault_count)(int);
static int g_long;

/* ---- helpers ---------------------------------------------------------------------------------- */

static uint32_t rnd(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(*s >> 33);
}

static void exec_ok(sqlite3 *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) fail_msg("'%s' -> %d %s", sql, rc, err ? err : "");
}

static sqlite3_int64 q_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  sqlite3_int64 v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static void q_text(sqlite3 *db, const char *sql, char *out, size_t n) {
  sqlite3_stmt *st = NULL;
  out[0] = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    snprintf(out, n, "prepare: %s", sqlite3_errmsg(db));
    return;
  }
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
  else snprintf(out, n, "step %d: %s", rc, sqlite3_errmsg(db));
  sqlite3_finalize(st);
}

static void integrity_ok(sqlite3 *db, const char *what) {
  char buf[512];
  q_text(db, "PRAGMA integrity_check", buf, sizeof buf);
  if (strcmp(buf, "ok") != 0) fail_msg("%s: integrity_check: %s", what, buf);
}

/* Open `path` through vfs ("uring" or "unix"); io = uring_io URI parameter (NULL: default). */
static sqlite3 *open_db(const char *path, const char *vfs, const char *io) {
  char uri[512];
  snprintf(uri, sizeof uri, "file:%s?vfs=%s%s%s", path, vfs, io ? "&uring_io=" : "", io ? io : "");
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                           NULL);
  if (rc != SQLITE_OK) fail_msg("open %s: %s", uri, db ? sqlite3_errmsg(db) : "?");
  sqlite3_busy_timeout(db, 10000);
  return db;
}

static uringvfs_stats stats(sqlite3 *db, const char *schema) {
  uringvfs_stats s;
  memset(&s, 0, sizeof s);
  int rc = sqlite3_file_control(db, schema, URINGVFS_FCNTL_STATS, &s);
  if (rc != SQLITE_OK) fail_msg("URINGVFS_FCNTL_STATS: %d", rc);
  return s;
}

static void rm_db(const char *path) {
  const char *sfx[] = {"", "-journal", "-wal", "-shm"};
  char b[512];
  for (int i = 0; i < 4; i++) {
    snprintf(b, sizeof b, "%s%s", path, sfx[i]);
    unlink(b);
  }
}

/* A deterministic mixed workload: inserts, updates, range deletes, some rolled-back
** transactions, an index; small cache so pages spill mid-transaction. */
static void workload(sqlite3 *db, uint64_t seed, int ntx) {
  exec_ok(db, "PRAGMA cache_size=16");
  exec_ok(db, "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, b TEXT, c INT);"
              "CREATE INDEX IF NOT EXISTS tc ON t(c)");
  sqlite3_stmt *ins, *upd, *del;
  assert_int_equal(sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO t VALUES(?1, printf('%.*c', ?2, "
                                          "char(65 + ?1 % 26)), ?3)",
                                      -1, &ins, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "UPDATE t SET c = c + ?2, b = b || 'u' WHERE a >= ?1 "
                                          "AND a < ?1 + 40",
                                      -1, &upd, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "DELETE FROM t WHERE a >= ?1 AND a < ?1 + 25", -1, &del,
                                      NULL),
                   SQLITE_OK);
  for (int tx = 0; tx < ntx; tx++) {
    exec_ok(db, "BEGIN");
    int nops = 20 + (int)(rnd(&seed) % 60);
    for (int i = 0; i < nops; i++) {
      uint32_t r = rnd(&seed) % 10;
      sqlite3_stmt *st = r < 6 ? ins : r < 8 ? upd : del;
      sqlite3_bind_int(st, 1, (int)(rnd(&seed) % 5000));
      if (st == ins) {
        sqlite3_bind_int(st, 2, 20 + (int)(rnd(&seed) % 900));
        sqlite3_bind_int(st, 3, (int)(rnd(&seed) % 1000));
      } else if (st == upd) {
        sqlite3_bind_int(st, 2, (int)(rnd(&seed) % 7));
      }
      assert_int_equal(sqlite3_step(st), SQLITE_DONE);
      sqlite3_reset(st);
    }
    exec_ok(db, rnd(&seed) % 10 == 0 ? "ROLLBACK" : "COMMIT");
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(upd);
  sqlite3_finalize(del);
}

static const char *SIG_SQL =
    "SELECT printf('%d/%d/%d/%d', count(*), total(a), total(c), total(length(b))) FROM t";

/* Drop the file on fd from the kernel's page cache (a cold file) or read all of it into the
** cache (a warm one). fd is the test's own descriptor, kept open while connections use the
** file (closing it would drop the process's POSIX locks on the file). Returns 0 if the
** filesystem keeps evicted pages (tmpfs). A page can be briefly pinned (still in another CPU's
** LRU batch, or being read by the kernel) and POSIX_FADV_DONTNEED then skips it: the drop is
** retried a few times before that answer (one failed try seen under a loaded `make test`). */
static int cache_file(int fd, int warm) {
  if (warm) {
    char b[65536];
    for (off_t o = 0; pread(fd, b, sizeof b, o) > 0; o += (off_t)sizeof b) {
    }
    return 1;
  }
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  return st.st_size == 0 || pc_evict(fd, 0, st.st_size);
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_register(void **state) {
  (void)state;
  sqlite3_vfs *v = sqlite3_vfs_find("uring");
  assert_non_null(v);
  assert_ptr_not_equal(sqlite3_vfs_find(NULL), v); /* never made the default */
  rm_db("reg.db");
  sqlite3 *db = open_db("reg.db", "uring", NULL);
  exec_ok(db, "CREATE TABLE x(a); INSERT INTO x VALUES(1)");
  uringvfs_stats s = stats(db, "main");
  assert_int_equal(s.direct, 1); /* the descriptor was found and verified */
  assert_true(strcmp(s.backend, "uring") == 0 || strcmp(s.backend, "sync") == 0);
  char *name = NULL;
  assert_int_equal(sqlite3_file_control(db, "main", SQLITE_FCNTL_VFSNAME, &name), SQLITE_OK);
  assert_string_equal(name, "uring");
  sqlite3_free(name);
  sqlite3_close(db);
  db = open_db("reg.db", "uring", "sync");
  assert_string_equal(stats(db, "main").backend, "sync");
  assert_int_equal(q_int(db, "SELECT count(*) FROM x"), 1);
  sqlite3_close(db);
}

/* Every journal mode x synchronous level x mmap: a mixed workload (with spills, rollbacks, a
** checkpoint, a reopen) gives the same content as through unix, and integrity is ok. */
static void test_modes(void **state) {
  (void)state;
  const char *jm[] = {"DELETE", "TRUNCATE", "PERSIST", "WAL"};
  const char *sy[] = {"OFF", "NORMAL", "FULL"};
  int ntx = g_long ? 120 : 12;
  for (int j = 0; j < 4; j++)
    for (int s = 0; s < 3; s++)
      for (int m = 0; m < 2; m++) {
        uint64_t seed = 1000 + (uint64_t)(j * 100 + s * 10 + m);
        char what[128], pragmas[256], sig[2][256];
        snprintf(what, sizeof what, "journal=%s sync=%s mmap=%d seed=%llu", jm[j], sy[s], m,
                 (unsigned long long)seed);
        snprintf(pragmas, sizeof pragmas,
                 "PRAGMA journal_mode=%s; PRAGMA synchronous=%s; PRAGMA mmap_size=%d", jm[j],
                 sy[s], m ? 8 << 20 : 0);
        for (int u = 0; u < 2; u++) {
          const char *path = u ? "modes-uring.db" : "modes-unix.db";
          rm_db(path);
          sqlite3 *db = open_db(path, u ? "uring" : "unix", NULL);
          exec_ok(db, pragmas);
          workload(db, seed, ntx);
          exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
          workload(db, seed + 7, ntx / 3);
          sqlite3_close(db);
          db = open_db(path, u ? "uring" : "unix", NULL);
          integrity_ok(db, what);
          q_text(db, SIG_SQL, sig[u], sizeof sig[u]);
          sqlite3_close(db);
        }
        if (strcmp(sig[0], sig[1]) != 0) fail_msg("%s: unix %s != uring %s", what, sig[0], sig[1]);
      }
}

/* Stats of the journal or WAL file of `db` (through SQLITE_FCNTL_JOURNAL_POINTER). */
static uringvfs_stats journal_stats(sqlite3 *db) {
  sqlite3_file *jf = NULL;
  uringvfs_stats s;
  memset(&s, 0, sizeof s);
  assert_int_equal(sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &jf), SQLITE_OK);
  assert_non_null(jf);
  assert_non_null(jf->pMethods);
  assert_int_equal(jf->pMethods->xFileControl(jf, URINGVFS_FCNTL_STATS, &s), SQLITE_OK);
  return s;
}

/* Bulk writes reach the kernel as a few vectored writes, not one request per page: database
** pages at commit (rollback mode), journal records, WAL frames (header + page per frame). */
static void test_coalesce(void **state) {
  (void)state;
  const char *bulk = "BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE "
                     "x < 20000) INSERT INTO t SELECT x, printf('%.*c', 200, 'c') FROM c; COMMIT";
  rm_db("co.db");
  sqlite3 *db = open_db("co.db", "uring", NULL);
  exec_ok(db, "PRAGMA cache_size=-65536; PRAGMA journal_mode=PERSIST; PRAGMA locking_mode=EXCLUSIVE;"
              "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)");
  exec_ok(db, bulk);
  uringvfs_stats s = stats(db, "main");
  /* Database pages: runs are cut at 64 KiB (16 pages) in uv_flush. */
  if (!(s.writes > 1000 && s.runs * 12 < s.writes))
    fail_msg("db: %lld writes in %lld runs", s.writes, s.runs);
  exec_ok(db, "UPDATE t SET b = b || 'x'");
  uringvfs_stats j = journal_stats(db);
  if (!(j.writes > 1000 && j.runs * 20 < j.writes))
    fail_msg("journal: %lld writes in %lld runs", j.writes, j.runs);
  exec_ok(db, "PRAGMA locking_mode=NORMAL; SELECT count(*) FROM t;"
              "PRAGMA journal_mode=WAL; UPDATE t SET b = b || 'y'");
  uringvfs_stats w = journal_stats(db);
  if (!(w.writes > 1000 && w.runs * 20 < w.writes))
    fail_msg("wal: %lld writes in %lld runs", w.writes, w.runs);
  integrity_ok(db, "coalesce");
  sqlite3_close(db);
}

/* The same workload through the sync and the uring backend gives the same database. */
static void test_backends(void **state) {
  (void)state;
  const char *io[] = {"sync", "uring"};
  char sig[2][256];
  for (int i = 0; i < 2; i++) {
    rm_db("be.db");
    sqlite3 *db = open_db("be.db", "uring", io[i]);
    exec_ok(db, "PRAGMA journal_mode=WAL");
    workload(db, 42, 30);
    integrity_ok(db, io[i]);
    q_text(db, SIG_SQL, sig[i], sizeof sig[i]);
    sqlite3_close(db);
  }
  assert_string_equal(sig[0], sig[1]);
}

/* Scans and integrity_check of a database much larger than SQLite's cache are served by the
** read-ahead and b-tree fan-out prefetch windows, with the same results as unix; another
** connection's commit between two scans is seen (the windows are dropped at lock changes). */
static void test_readahead(void **state) {
  (void)state;
  const char *jm[] = {"DELETE", "WAL"};
  for (int j = 0; j < 2; j++) {
    rm_db("ra.db");
    sqlite3 *db = open_db("ra.db", "unix", NULL);
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=%s; CREATE TABLE r(a INTEGER PRIMARY KEY, b TEXT, c INT);"
             "CREATE INDEX rc ON r(c);" /* filled in random order: its pages are scattered */
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 30000) "
             "INSERT INTO r SELECT x, printf('%%.*c', 100 + x %% 300, 'q'), (x * 7919) %% 30011 FROM c",
             jm[j]);
    exec_ok(db, sql);
    char ref[128], ref2[128], got[128];
    const char *scan = "SELECT printf('%d/%d', count(*), total(length(b))) FROM r";
    const char *iscan = "SELECT printf('%d/%d', count(*), total(c)) FROM r INDEXED BY rc WHERE c >= 0";
    q_text(db, scan, ref, sizeof ref);
    q_text(db, iscan, ref2, sizeof ref2);
    sqlite3_close(db);
    int efd = open("ra.db", O_RDONLY);
    assert_true(efd >= 0);
    for (int io = 0; io < 2; io++) {
      /* Cold: read-ahead and prefetch windows start at cache misses. */
      if (!cache_file(efd, 0)) {
        print_message("readahead: evicted pages stay cached here (tmpfs?): cold part skipped\n");
        break;
      }
      db = open_db("ra.db", "uring", io ? "uring" : "sync");
      exec_ok(db, "PRAGMA cache_size=50");
      uringvfs_stats a = stats(db, "main");
      q_text(db, scan, got, sizeof got);
      uringvfs_stats b = stats(db, "main");
      assert_string_equal(ref, got);
      /* The table's pages lie in order in the file: the kernel's own read-ahead keeps ahead of
      ** the scan, so most cache probes hit and few or no windows are read. What must hold: the
      ** reads that could start a window asked the cache (or were served by windows). */
      long long reads = b.reads - a.reads, hits = b.ra_hits - a.ra_hits + b.pf_hits - a.pf_hits;
      if (reads < 500 || hits + b.cached - a.cached == 0)
        fail_msg("%s: table scan: no cache probe and no window: reads %lld", jm[j], reads);
      /* The table scan's kernel read-ahead also brought in the index pages between the table's:
      ** cold again for the index scan. */
      assert_true(cache_file(efd, 0));
      q_text(db, iscan, got, sizeof got);
      assert_string_equal(ref2, got);
      uringvfs_stats c = stats(db, "main");
      long long r2 = c.reads - b.reads, pf = c.pf_hits - b.pf_hits;
      if (r2 < 50 || pf * 10 < r2 * 8)
        fail_msg("%s: index scan: fan-out prefetch not used: reads %lld hits %lld", jm[j], r2, pf);
      integrity_ok(db, "readahead"); /* mostly random index probes with this tiny cache */
      /* Another connection changes every row; our next scans must see it. */
      sqlite3 *w = open_db("ra.db", "uring", NULL);
      exec_ok(w, "UPDATE r SET b = b || 'zz', c = c + 1");
      sqlite3_close(w);
      q_text(db, scan, got, sizeof got);
      long long cnt = 0, len = 0, rc_ = 0, rl = 0;
      sscanf(ref, "%lld/%lld", &cnt, &len);
      sscanf(got, "%lld/%lld", &rc_, &rl);
      if (rc_ != cnt || rl != len + 2 * cnt) fail_msg("%s: stale scan after update: %s vs %s", jm[j], got, ref);
      q_text(db, iscan, got, sizeof got);
      sscanf(ref2, "%lld/%lld", &cnt, &len);
      sscanf(got, "%lld/%lld", &rc_, &rl);
      if (rc_ != cnt || rl != len + cnt) fail_msg("%s: stale index scan after update: %s vs %s", jm[j], got, ref2);
      exec_ok(db, "UPDATE r SET b = substr(b, 1, length(b) - 2), c = c - 1");
      integrity_ok(db, "readahead after update");
      sqlite3_close(db);
      /* Warm (all in the page cache), a new connection: reads that could start a sequential
      ** read-ahead window ask the cache first and hit, so no such window is read; fan-out
      ** windows (cheaper than a pread per page while SQLite uses what they hold) are. */
      cache_file(efd, 1);
      db = open_db("ra.db", "uring", io ? "uring" : "sync");
      exec_ok(db, "PRAGMA cache_size=50");
      a = stats(db, "main");
      q_text(db, scan, got, sizeof got);
      assert_string_equal(ref, got);
      q_text(db, iscan, got, sizeof got);
      assert_string_equal(ref2, got);
      b = stats(db, "main");
      if (b.ra_batches != a.ra_batches)
        fail_msg("%s: warm scans: %lld read-ahead windows", jm[j], b.ra_batches - a.ra_batches);
      if (b.pf_hits - a.pf_hits < 1000)
        fail_msg("%s: warm scans: fan-out windows not used: %lld hits", jm[j], b.pf_hits - a.pf_hits);
      /* Windows SQLite does not use turn them off: short range queries (LIMIT 30: 3 leaves of
      ** a 16-page window) with another connection's write in between (so SQLite's own cache
      ** is reset and it walks the b-tree from the root again). After the first wasted window
      ** the walk only probes the cache, which hits: no more windows. */
      sqlite3 *w2 = open_db("ra.db", "uring", NULL);
      exec_ok(w2, "CREATE TABLE IF NOT EXISTS m(v); DELETE FROM m; INSERT INTO m VALUES(0)");
      a = stats(db, "main");
      for (int k = 0; k < 12; k++) {
        exec_ok(w2, "UPDATE m SET v = v + 1");
        char lim[128];
        snprintf(lim, sizeof lim, "SELECT count(*) FROM (SELECT b FROM r WHERE a > %d LIMIT 30)",
                 1000 + 2000 * k);
        assert_int_equal(q_int(db, lim), 30);
      }
      b = stats(db, "main");
      if (b.pf_batches - a.pf_batches > 2 || b.cached == a.cached)
        fail_msg("%s: unused fan-out windows kept being read: %lld windows, %lld cache probes",
                 jm[j], b.pf_batches - a.pf_batches, b.cached - a.cached);
      sqlite3_close(w2);
      sqlite3_close(db);
    }
    close(efd); /* no connection is open */
  }
}

/* evict(x): if x is true, drops the test database from the page cache (a file going cold in
** the middle of a scan: the cache probes miss and windows start). Returns 0. */
static int g_evict_fd = -1;
static void fn_evict(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_int(argv[0]) && g_evict_fd >= 0)
    posix_fadvise(g_evict_fd, 0, 0, POSIX_FADV_DONTNEED);
  sqlite3_result_int(ctx, 0);
}

/* A scan whose file keeps going cold under it, in both journal modes and on both backends:
** the miss paths (read-ahead and fan-out windows started by a failed cache probe, the plain
** read of what the probe did not get) return the same rows as unix, and windows were read. */
static void test_cold_midscan(void **state) {
  (void)state;
  const char *jm[] = {"DELETE", "WAL"};
  long long ra_total = 0, ra_missed = 0;
  for (int j = 0; j < 2; j++) {
    rm_db("cm.db");
    sqlite3 *db = open_db("cm.db", "unix", NULL);
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=%s; CREATE TABLE r(a INTEGER PRIMARY KEY, b TEXT, c INT);"
             "CREATE INDEX rc ON r(c);"
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 20000) "
             "INSERT INTO r SELECT x, printf('%%.*c', 100 + x %% 900, 'm'), (x * 7919) %% 20011 "
             "FROM c; CREATE TABLE o(a INTEGER PRIMARY KEY, x BLOB);" /* overflow chains */
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 150) "
             "INSERT INTO o SELECT x, randomblob(30000 + x * 10) FROM c;"
             "PRAGMA wal_checkpoint(TRUNCATE)",
             jm[j]);
    exec_ok(db, sql);
    /* A table scan, an index scan (both mostly fan-out windows) and overflow chains (pages
    ** read in file order, not b-tree children: read-ahead windows). */
    const char *q[] = {
        "SELECT printf('%d/%d', count(*), total(length(b) + evict(a % 97 = 0))) FROM r",
        "SELECT printf('%d/%d', count(*), total(c + evict(a % 97 = 0))) FROM r "
        "INDEXED BY rc WHERE c >= 0",
        "SELECT printf('%d/%s', count(*), sum(length(hex(x)) + evict(a % 5 = 0))) FROM o"};
    char ref[3][128], got[128];
    assert_int_equal(sqlite3_create_function(db, "evict", 1, SQLITE_UTF8, NULL, fn_evict, NULL,
                                             NULL),
                     SQLITE_OK);
    for (int k = 0; k < 3; k++) q_text(db, q[k], ref[k], sizeof ref[k]);
    sqlite3_close(db);
    g_evict_fd = open("cm.db", O_RDONLY);
    assert_true(g_evict_fd >= 0);
    if (!cache_file(g_evict_fd, 0)) {
      print_message("cold_midscan: evicted pages stay cached here (tmpfs?): skipped\n");
      close(g_evict_fd);
      return;
    }
    for (int io = 0; io < 2; io++) {
      db = open_db("cm.db", "uring", io ? "uring" : "sync");
      exec_ok(db, "PRAGMA cache_size=20");
      assert_int_equal(sqlite3_create_function(db, "evict", 1, SQLITE_UTF8, NULL, fn_evict,
                                               NULL, NULL),
                       SQLITE_OK);
      uringvfs_stats a = stats(db, "main");
      for (int k = 0; k < 3; k++) {
        q_text(db, q[k], got, sizeof got);
        if (strcmp(got, ref[k]) != 0)
          fail_msg("%s/%s: query %d: %s, unix %s", jm[j], io ? "uring" : "sync", k, got, ref[k]);
      }
      uringvfs_stats b = stats(db, "main");
      long long win = b.ra_batches - a.ra_batches + b.pf_batches - a.pf_batches;
      long long served = b.ra_hits - a.ra_hits + b.pf_hits - a.pf_hits;
      print_message("cold_midscan %s/%s: read-ahead %lld windows %lld hits (%lld probes missed), "
                    "fan-out %lld / %lld, probe hits %lld, reads %lld\n",
                    jm[j], io ? "uring" : "sync", b.ra_batches - a.ra_batches, b.ra_hits - a.ra_hits,
                    b.ra_missed - a.ra_missed, b.pf_batches - a.pf_batches, b.pf_hits - a.pf_hits,
                    b.cached - a.cached, b.reads - a.reads);
      if (win == 0 || served == 0)
        fail_msg("%s/%s: no windows on a cold file: %lld windows, %lld reads served", jm[j],
                 io ? "uring" : "sync", win, served);
      /* Whether a chain's probe misses depends on how far the kernel's own read-ahead got:
      ** read-ahead windows are required over the four runs, not in each. */
      ra_total += b.ra_batches - a.ra_batches;
      ra_missed += b.ra_missed - a.ra_missed;
      integrity_ok(db, "cold_midscan");
      sqlite3_close(db);
    }
    close(g_evict_fd);
    g_evict_fd = -1;
  }
  /* Every probe of a chain that missed started a window. Whether any missed is timing: the
  ** kernel's own read-ahead can finish first in all four runs, so that every chain probe hits
  ** (seen under valgrind in session 11, "probe hits 111", and natively in session 33 on a host
  ** whose device completes a read inside the call that starts it, under a second job's load). */
  if (ra_total < ra_missed)
    fail_msg("%lld chain probes missed the page cache, but %lld read-ahead windows", ra_missed,
             ra_total);
  if (ra_missed == 0)
    print_message("cold_midscan: every chain probe hit (the kernel's read-ahead was first): "
                  "windows not asserted\n");
}

/* Two connections in one process: each sees the other's commits (flush before unlock / WAL
** index publication), in rollback and WAL mode. */
static void test_two_connections(void **state) {
  (void)state;
  const char *jm[] = {"DELETE", "WAL"};
  for (int j = 0; j < 2; j++) {
    rm_db("two.db");
    sqlite3 *a = open_db("two.db", "uring", NULL), *b = open_db("two.db", "uring", NULL);
    char pr[64];
    snprintf(pr, sizeof pr, "PRAGMA journal_mode=%s", jm[j]);
    exec_ok(a, pr);
    /* No xSync at commit: visibility must come from the flushes at lock/WAL-index points. */
    exec_ok(a, j ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=OFF");
    exec_ok(b, j ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=OFF");
    exec_ok(a, "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)");
    for (int i = 0; i < 200; i++) {
      char sql[128];
      snprintf(sql, sizeof sql, "INSERT INTO t VALUES(%d, printf('%%.*c', 500, 'z'))", i);
      exec_ok(i % 2 ? a : b, sql);
      assert_int_equal(q_int(i % 2 ? b : a, "SELECT count(*) FROM t"), i + 1);
    }
    integrity_ok(b, jm[j]);
    sqlite3_close(a);
    sqlite3_close(b);
  }
}

/* Threads writing different databases at once: each queue is flushed by the other thread's
** writes (at most one file has queued writes), under the VFS mutex. */
typedef struct {
  const char *path, *mode;
  int n, ok;
} thr_arg;

static void *thr_writer(void *arg) {
  thr_arg *a = arg;
  sqlite3 *db = NULL;
  char uri[128];
  snprintf(uri, sizeof uri, "file:%s?vfs=uring", a->path);
  if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL))
    return NULL;
  sqlite3_busy_timeout(db, 10000);
  if (sqlite3_exec(db, a->mode, NULL, NULL, NULL) ||
      sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, b TEXT)", NULL, NULL, NULL))
    goto out;
  for (int i = 0; i < a->n; i++) {
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT INTO t VALUES(%d, printf('%%.*c', %d, 't'))", i, 50 + i % 3000);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL)) goto out;
    if (i % 50 == 49 && sqlite3_exec(db, "SELECT count(*) FROM t", NULL, NULL, NULL)) goto out;
  }
  a->ok = 1;
out:
  sqlite3_close(db);
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  thr_arg a[3] = {{"th1.db", "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF", 300, 0},
                  {"th2.db", "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF", 300, 0},
                  {"th3.db", "PRAGMA journal_mode=PERSIST; PRAGMA synchronous=NORMAL", 300, 0}};
  pthread_t t[3];
  for (int i = 0; i < 3; i++) {
    rm_db(a[i].path);
    assert_int_equal(pthread_create(&t[i], NULL, thr_writer, &a[i]), 0);
  }
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 3; i++) {
    if (!a[i].ok) fail_msg("thread %d (%s) failed", i, a[i].mode);
    sqlite3 *db = open_db(a[i].path, "uring", NULL);
    integrity_ok(db, a[i].mode);
    assert_int_equal(q_int(db, "SELECT count(*) FROM t"), a[i].n);
    sqlite3_close(db);
  }
}

/* Child: insert `n` rows id = base + i, one transaction each (interleaving with the other). */
static void child_writer(const char *path, int base, int n, const char *sync) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, NULL)) _exit(2);
  sqlite3_busy_timeout(db, 20000);
  if (sqlite3_exec(db, sync, NULL, NULL, NULL)) _exit(5);
  for (int i = 0; i < n; i++) {
    char sql[160];
    snprintf(sql, sizeof sql,
             "BEGIN IMMEDIATE; INSERT INTO t VALUES(%d, printf('%%.*c', %d, 'w')); COMMIT", base + i,
             100 + i % 2000);
    int rc;
    while ((rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) == SQLITE_BUSY) {
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      usleep(1000);
    }
    if (rc != SQLITE_OK) _exit(3);
  }
  sqlite3_close(db);
  _exit(0);
}

static void test_two_processes(void **state) {
  (void)state;
  const char *jm[] = {"DELETE", "WAL"};
  int n = g_long ? 1000 : 150;
  for (int j = 0; j < 2; j++) {
    rm_db("procs.db");
    sqlite3 *db = open_db("procs.db", "uring", NULL);
    char pr[64];
    snprintf(pr, sizeof pr, "PRAGMA journal_mode=%s", jm[j]);
    exec_ok(db, pr);
    exec_ok(db, "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)");
    sqlite3_close(db);
    pid_t kid[2];
    for (int k = 0; k < 2; k++) {
      kid[k] = fork();
      assert_true(kid[k] >= 0);
      if (kid[k] == 0) child_writer("file:procs.db?vfs=uring", (k + 1) * 1000000, n,
                                 j ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=OFF");
    }
    for (int k = 0; k < 2; k++) {
      int st = 0;
      assert_int_equal(waitpid(kid[k], &st, 0), kid[k]);
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("%s: writer %d status %d", jm[j], k, st);
    }
    db = open_db("procs.db", "uring", NULL);
    integrity_ok(db, jm[j]);
    assert_int_equal(q_int(db, "SELECT count(*) FROM t"), 2 * n);
    assert_int_equal(q_int(db, "SELECT count(*) FROM t WHERE a >= 1000000 AND a < 1000000 + 150"),
                     n < 150 ? n : 150);
    assert_int_equal(q_int(db, "SELECT max(a) FROM t"), 2000000 + n - 1);
    sqlite3_close(db);
  }
}

/* SIGKILL a writer at a random moment, repeatedly: the database opens, integrity ok, every
** transaction the child reported committed is there, and transactions are atomic (each inserts
** a block of 10 rows). synchronous=FULL in rollback and WAL mode; also lower levels, since
** SQLite promises durability across an application crash (not a power loss) even with OFF. */
#define NCFG 6
static const char *cfg[NCFG] = {
    "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL",
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
    "PRAGMA journal_mode=PERSIST; PRAGMA locking_mode=EXCLUSIVE; PRAGMA synchronous=OFF",
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    "PRAGMA journal_mode=TRUNCATE; PRAGMA synchronous=OFF",
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF",
};
static void test_sigkill(void **state) {
  (void)state;
  int rounds = g_long ? 120 : 30;
  uint64_t seed = (uint64_t)time(NULL);
  rm_db("kill.db");
  for (int r = 0; r < rounds; r++) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      sqlite3 *db = NULL;
      if (sqlite3_open_v2("file:kill.db?vfs=uring", &db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL))
        _exit(2);
      sqlite3_exec(db, cfg[r % NCFG], NULL, NULL, NULL);
      sqlite3_exec(db, "PRAGMA cache_size=10;"
                       "CREATE TABLE IF NOT EXISTS k(a INTEGER PRIMARY KEY, b TEXT)",
                   NULL, NULL, NULL);
      int base = (int)q_int(db, "SELECT coalesce(max(a), 0) FROM k") + 1;
      for (int tx = 0;; tx++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "BEGIN; WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x+1 FROM c WHERE x<9) "
                 "INSERT INTO k SELECT %d + x, printf('%%.*c', 300 + x * 200, 'k') FROM c; COMMIT",
                 base + tx * 10);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) _exit(3);
        int last = base + tx * 10 + 9;
        if (write(fds[1], &last, sizeof last) != (ssize_t)sizeof last) _exit(4);
      }
    }
    close(fds[1]);
    int want = 1 + (int)(rnd(&seed) % 25), seen = 0, last = 0, v;
    while (seen < want && read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) last = v, seen++;
    usleep(rnd(&seed) % 3000); /* let it get into the middle of the next transaction */
    kill(pid, SIGKILL);
    while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) last = v; /* reported before death */
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
      fail_msg("round %d (seed %llu): child ended with status %d before the kill", r,
               (unsigned long long)seed, st);
    sqlite3 *db = open_db("kill.db", "uring", NULL);
    char what[160];
    snprintf(what, sizeof what, "round %d (%s)", r, cfg[r % NCFG]);
    integrity_ok(db, what);
    sqlite3_int64 max = q_int(db, "SELECT coalesce(max(a), 0) FROM k");
    sqlite3_int64 cnt = q_int(db, "SELECT count(*) FROM k");
    if (max < last || cnt != max || max % 10 != 0)
      fail_msg("%s: reported committed up to %d, found max %lld count %lld", what, last,
               (long long)max, (long long)cnt);
    sqlite3_close(db);
  }
}

/* Injected IO errors: the failing statement reports an error, and after reopening the database
** is intact: integrity ok, the base rows there, the failed transaction all-or-nothing. */
static void test_faults(void **state) {
  (void)state;
  if (!p_fault_set) skip();
  struct {
    int ops, kind;
  } f[] = {{FIO_OP_WRITE, FIO_FAULT_ONCE}, {FIO_OP_WRITE, FIO_FAULT_FROM},
           {FIO_OP_SYNC, FIO_FAULT_ONCE},  {FIO_OP_WRITE, FIO_FAULT_TORN},
           {FIO_OP_WRITE, FIO_FAULT_SHORT}, {FIO_OP_READ, FIO_FAULT_ONCE}};
  const char *jm[] = {"DELETE", "WAL", "PERSIST"};
  int nfired = 0;
  for (int j = 0; j < 3; j++)
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
      for (long nth = 1; nth <= 7; nth += 3) {
        char what[128];
        snprintf(what, sizeof what, "journal=%s ops=%d kind=%d nth=%ld", jm[j], f[k].ops, f[k].kind,
                 nth);
        rm_db("fault.db");
        sqlite3 *db = open_db("fault.db", "uring", "fault");
        char pr[96];
        snprintf(pr, sizeof pr, "PRAGMA journal_mode=%s; PRAGMA synchronous=FULL", jm[j]);
        exec_ok(db, pr);
        exec_ok(db, "PRAGMA cache_size=10; CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);"
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<300) "
                    "INSERT INTO t SELECT x, printf('%.*c', 400, 'b') FROM c");
        long before = p_fault_count(f[k].ops);
        assert_int_equal(p_fault_set(f[k].ops, nth, f[k].kind), 0);
        int rc = sqlite3_exec(db,
                              "BEGIN; UPDATE t SET b = b || 'x' WHERE a % 2 = 0;"
                              "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE "
                              "x<300) INSERT INTO t SELECT 1000 + x, printf('%.*c', 400, 'n') FROM c;"
                              "COMMIT; SELECT count(*) FROM t",
                              NULL, NULL, NULL);
        int fired = p_fault_count(f[k].ops) - before >= nth;
        p_fault_clear();
        if (fired) {
          nfired++;
          /* The error may surface at the statement or be absorbed by a rollback SQLite did
          ** itself; either way SQLite must not have reported success for lost data. */
          (void)rc;
        } else if (rc != SQLITE_OK) {
          fail_msg("%s: error %d without a fault", what, rc);
        }
        sqlite3_close(db);
        db = open_db("fault.db", "uring", "fault");
        integrity_ok(db, what);
        sqlite3_int64 n = q_int(db, "SELECT count(*) FROM t");
        sqlite3_int64 x = q_int(db, "SELECT count(*) FROM t WHERE b LIKE '%x'");
        if (!((n == 300 && x == 0) || (n == 600 && x == 150)))
          fail_msg("%s (rc %d): not atomic: %lld rows, %lld updated", what, rc, (long long)n,
                   (long long)x);
        if (rc == SQLITE_OK && n != 600) fail_msg("%s: commit reported ok but lost", what);
        sqlite3_close(db);
      }
  assert_true(nfired > 20); /* the faults really fired */
}

/* Files without a name (temp database, statement journal, sorter spill files: unix creates and
** unlinks them) go through fio too: their page writes are queued and coalesced, reads that
** overlap the queue see the queued data, and what is queued at close is dropped. Results equal
** unix's: a temp table larger than its cache, a sort spilling to many sorted runs (multi-level
** merge), and a statement rolled back from a spilled statement journal. */
static void test_anon_files(void **state) {
  (void)state;
  char sig[2][256];
  for (int u = 0; u < 2; u++) {
    const char *path = u ? "anon-uring.db" : "anon-unix.db";
    rm_db(path);
    sqlite3 *db = open_db(path, u ? "uring" : "unix", NULL);
    exec_ok(db, "PRAGMA temp_store=FILE; PRAGMA cache_size=20; PRAGMA temp.cache_size=20;"
                "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, u INT UNIQUE);"
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 20000) "
                "INSERT INTO t SELECT x, printf('%08x-%.*c', (x * 2654435761) % 1000003, 150, 'b'), x "
                "FROM c;"
                "CREATE TEMP TABLE tt AS SELECT * FROM t");
    if (u) {
      uringvfs_stats s = stats(db, "temp");
      if (!(s.direct && s.writes > 500 && s.runs * 10 < s.writes))
        fail_msg("temp db: direct %d, %lld writes in %lld runs", s.direct, s.writes, s.runs);
    }
    assert_int_equal(q_int(db, "SELECT count(*) FROM tt WHERE u = a"), 20000);
    /* The sort spills: cache_size=20 gives the sorter ~80 KiB of memory per sorted run. */
    exec_ok(db, "CREATE TABLE s AS SELECT * FROM t ORDER BY b");
    assert_int_equal(q_int(db, "SELECT count(*) FROM s"), 20000);
    assert_int_equal(q_int(db, "SELECT count(*) FROM s x JOIN s y ON y.rowid = x.rowid + 1 "
                               "WHERE y.b < x.b"),
                     0);
    /* A statement journal of several MiB (spilled to a file), then read back: the second
    ** UPDATE fails on its last row and is rolled back alone. */
    exec_ok(db, "BEGIN; UPDATE t SET b = b || 'z'");
    int rc = sqlite3_exec(db, "UPDATE t SET b = b || 'y', u = CASE WHEN a = 20000 THEN 1 ELSE u END",
                          NULL, NULL, NULL);
    assert_int_equal(rc, SQLITE_CONSTRAINT);
    exec_ok(db, "COMMIT");
    assert_int_equal(q_int(db, "SELECT count(*) FROM t WHERE b LIKE '%z'"), 20000);
    integrity_ok(db, path);
    q_text(db, "SELECT sum(length(b)) || '/' || sum(u) || '/' || "
               "(SELECT group_concat(a) FROM (SELECT a FROM s LIMIT 50)) FROM t",
           sig[u], sizeof sig[u]);
    sqlite3_close(db); /* queued temp writes still pending here are dropped */
    rm_db(path);
  }
  assert_string_equal(sig[0], sig[1]);
}

/* fork() while the parent has queued writes: the child's own writes (into the one queue storage
** it inherited) neither reach the parent's file nor disturb the parent, whose commit after the
** fork is complete and intact. */
static void test_fork_queued(void **state) {
  (void)state;
  rm_db("fq-parent.db");
  rm_db("fq-child.db");
  sqlite3 *db = open_db("fq-parent.db", "uring", NULL);
  exec_ok(db, "PRAGMA cache_size=10; CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);"
              "BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 3000) "
              "INSERT INTO t SELECT x, printf('%.*c', 300, 'p') FROM c");
  /* Pages spilled from the small cache sit in the queue now (nothing syncs before COMMIT). */
  if (stats(db, "main").writes == 0) fail_msg("no queued writes before the fork");
  pid_t kid = fork();
  assert_true(kid >= 0);
  if (kid == 0) {
    sqlite3 *c = NULL;
    int ok = sqlite3_open_v2("file:fq-child.db?vfs=uring", &c,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                             NULL) == SQLITE_OK &&
             sqlite3_exec(c, "PRAGMA cache_size=10; CREATE TABLE u(a INTEGER PRIMARY KEY, b TEXT);"
                             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE "
                             "x < 3000) INSERT INTO u SELECT x, printf('%.*c', 300, 'k') FROM c",
                          NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(c);
    _exit(ok ? 0 : 1);
  }
  int st = 0;
  assert_int_equal(waitpid(kid, &st, 0), kid);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("child status %d", st);
  exec_ok(db, "COMMIT");
  sqlite3_close(db);
  db = open_db("fq-parent.db", "uring", NULL);
  integrity_ok(db, "parent");
  assert_int_equal(q_int(db, "SELECT count(*) FROM t WHERE b = printf('%.*c', 300, 'p')"), 3000);
  sqlite3_close(db);
  db = open_db("fq-child.db", "uring", NULL);
  integrity_ok(db, "child");
  assert_int_equal(q_int(db, "SELECT count(*) FROM u WHERE b = printf('%.*c', 300, 'k')"), 3000);
  sqlite3_close(db);
  rm_db("fq-parent.db");
  rm_db("fq-child.db");
}

static int setup(void **state) {
  (void)state;
  const char *ext = getenv("LSMVTAB_EXT");
  if (!ext) {
    fprintf(stderr, "LSMVTAB_EXT not set\n");
    return -1;
  }
  g_long = getenv("LSMVTAB_LONG") != NULL;
  sqlite3 *db = NULL;
  sqlite3_open(":memory:", &db);
  sqlite3_enable_load_extension(db, 1);
  char *err = NULL;
  if (sqlite3_load_extension(db, ext, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "load %s: %s\n", ext, err ? err : "?");
    return -1;
  }
  sqlite3_close(db); /* loaded permanently: the VFS stays */
  char so[1024];
  snprintf(so, sizeof so, "%s.so", ext);
  void *h = dlopen(so, RTLD_NOW | RTLD_NOLOAD);
  if (h) {
    p_fault_set = (int (*)(int, long, int))dlsym(h, "uringvfs_fault_set");
    p_fault_clear = (void (*)(void))dlsym(h, "uringvfs_fault_clear");
    p_fault_count = (long (*)(int))dlsym(h, "uringvfs_fault_count");
    if (!p_fault_clear || !p_fault_count) p_fault_set = NULL;
  }
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register),        cmocka_unit_test(test_modes),
      cmocka_unit_test(test_coalesce),        cmocka_unit_test(test_anon_files),
      cmocka_unit_test(test_backends),        cmocka_unit_test(test_readahead),
      cmocka_unit_test(test_cold_midscan),
      cmocka_unit_test(test_two_connections), cmocka_unit_test(test_threads),
      cmocka_unit_test(test_two_processes),   cmocka_unit_test(test_fork_queued),
      cmocka_unit_test(test_sigkill),         cmocka_unit_test(test_faults),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
