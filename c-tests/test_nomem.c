/* Allocation-failure campaign (issue 8, item 6). A small SQL workload on an `lsm` table (open,
** CREATE VIRTUAL TABLE, a transaction of inserts, UPDATE, DELETE, aggregate and range SELECTs,
** lsm_flush(), close) runs once per allocation N:
**   A. SQLite's allocator (sqlite3_config(SQLITE_CONFIG_MALLOC) wrapper): the N-th allocation
**      fails once (transient), and, for every 5th N, every allocation from the N-th on fails;
**   B. the engine's allocator (mm_fail_after(N)): every engine allocation from the N-th on fails.
** Each statement must succeed or fail with SQLITE_NOMEM (or SQLITE_IOERR_NOMEM); nothing may
** crash; every connection closes; afterwards (allocations working again) a fresh connection reads
** the table and lsm_check() says ok. Leaks are caught by LeakSanitizer in `make asan` and by
** valgrind in `make valgrind` (the harness frees everything it allocates). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>
#include <limits.h>
#include <stdatomic.h>

#include "mm.h"
#include "rel_util.h"

int sqlite3_lsmvtab_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

/* ---- SQLite allocator with failure injection ---- */
static sqlite3_mem_methods orig;
static _Atomic long n_allocs;   /* allocations seen while armed */
static _Atomic long fail_at;    /* 0: off */
static _Atomic int persistent;  /* fail every allocation from fail_at on */
static _Atomic long n_failed;

static int should_fail(void) {
  long at = atomic_load(&fail_at);
  if (!at) return 0;
  long n = atomic_fetch_add(&n_allocs, 1) + 1;
  if (n == at || (atomic_load(&persistent) && n > at)) {
    atomic_fetch_add(&n_failed, 1);
    return 1;
  }
  return 0;
}
static void *w_malloc(int n) { return should_fail() ? NULL : orig.xMalloc(n); }
static void w_free(void *p) { orig.xFree(p); }
static void *w_realloc(void *p, int n) { return should_fail() ? NULL : orig.xRealloc(p, n); }
static int w_size(void *p) { return orig.xSize(p); }
static int w_roundup(int n) { return orig.xRoundup(n); }
static int w_init(void *a) { return orig.xInit(a); }
static void w_shutdown(void *a) { orig.xShutdown(a); }

/* ---- the workload ---- */
static char dbfile[4200], tdir[4200], cur_run[128];
static long total_runs, total_nomem, total_bad;

static void on_alarm(int sig) {
  (void)sig;
  rel_hang_exit("allocation-failure", cur_run);
}

#define bad(...) rel_bad(&total_bad, __VA_ARGS__) /* rel_util.h */

static int is_nomem(int rc) { return (rc & 0xff) == SQLITE_NOMEM || rc == SQLITE_IOERR_NOMEM; }

static const char *stmts[] = {
    "CREATE VIRTUAL TABLE IF NOT EXISTS t USING lsm(k INTEGER PRIMARY KEY, v TEXT, dir='%s', "
    "memtable_size='64KB', io=sync)",
    "BEGIN; WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 40) "
    "INSERT OR REPLACE INTO t SELECT x, printf('v%%d-%%.*c', x, x * 7, 'x') FROM s; COMMIT",
    "UPDATE t SET v = v || 'u' WHERE k < 8",
    "DELETE FROM t WHERE k %% 5 = 0",
    "SELECT count(*), sum(length(v)) FROM t",
    "SELECT lsm_flush('t')",
    "SELECT k, v FROM t WHERE k BETWEEN 3 AND 17 ORDER BY k DESC",
    "INSERT OR REPLACE INTO t VALUES(1000, zeroblob(3000))",
};
#define NSTMT (int)(sizeof stmts / sizeof stmts[0])

/* Returns the number of statements that failed with NOMEM. */
static int workload(void) {
  sqlite3 *db = NULL;
  int nomem = 0;
  int rc = sqlite3_open(dbfile, &db);
  if (rc) {
    if (!is_nomem(rc)) bad("%s: sqlite3_open: %d", cur_run, rc);
    sqlite3_close(db);
    return 1;
  }
  for (int i = 0; i < NSTMT; i++) {
    char *sql = NULL;
    char buf[9000];
    snprintf(buf, sizeof buf, stmts[i], tdir);
    sql = buf;
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc) {
      int ext = sqlite3_extended_errcode(db);
      if (!is_nomem(rc) && !is_nomem(ext)) bad("%s: statement %d: %d/%d %s", cur_run, i, rc, ext, sqlite3_errmsg(db));
      nomem++;
      if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      break; /* later statements depend on this one (the table may not exist) */
    }
  }
  rc = sqlite3_close(db);
  if (rc) bad("%s: sqlite3_close: %d (statements left open?)", cur_run, rc);
  return nomem;
}

/* Allocations working: the table must be readable and consistent. */
static void verify(void) {
  sqlite3 *db = NULL;
  if (sqlite3_open(dbfile, &db)) {
    bad("%s: reopen failed", cur_run);
    sqlite3_close(db);
    return;
  }
  sqlite3_stmt *st = NULL;
  /* the table may not exist if CREATE failed every time; that is fine */
  if (sqlite3_prepare_v2(db, "SELECT lsm_check('t'), (SELECT count(*) FROM t)", -1, &st, NULL) == SQLITE_OK) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) bad("%s: after the run: %s", cur_run, sqlite3_errmsg(db));
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok"))
      bad("%s: lsm_check after the run: %.200s", cur_run, sqlite3_column_text(st, 0));
  } else if (!strstr(sqlite3_errmsg(db), "no such table")) {
    bad("%s: after the run: %s", cur_run, sqlite3_errmsg(db));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static void fresh(void) {
  unlink(dbfile);
  rel_rmdir(tdir);
}

static void test_sqlite_alloc_failures(void **state) {
  (void)state;
  signal(SIGALRM, on_alarm);
  int lng = getenv("LSMVTAB_LONG") != NULL;
  /* count the allocations of a clean run */
  fresh();
  atomic_store(&n_allocs, 0);
  atomic_store(&fail_at, LONG_MAX);
  snprintf(cur_run, sizeof cur_run, "clean run");
  assert_int_equal(workload(), 0);
  long total = atomic_load(&n_allocs);
  atomic_store(&fail_at, 0);
  print_message("SQLite allocations in the workload: %ld\n", total);
  assert_true(total > 100);
  long stride = (lng ? 1 : total > 3000 ? total / 1500 : 1) * rel_stride();
  for (long n = 1; n <= total + 5; n += stride) {
    for (int pers = 0; pers < 2; pers++) {
      if (pers && n % (5 * stride)) continue;
      fresh();
      snprintf(cur_run, sizeof cur_run, "SQLite allocation %ld fails%s", n, pers ? " and all later" : " once");
      alarm(30);
      atomic_store(&n_allocs, 0);
      atomic_store(&n_failed, 0);
      atomic_store(&persistent, pers);
      atomic_store(&fail_at, n);
      if (workload()) total_nomem++;
      atomic_store(&fail_at, 0);
      verify();
      alarm(0);
      total_runs++;
    }
  }
  print_message("SQLite allocation failures: %ld runs (stride %ld), %ld with SQLITE_NOMEM, %ld violations\n",
                total_runs, stride, total_nomem, total_bad);
  if (total_bad) fail_msg("%ld allocation-failure runs went wrong (first ones above)", total_bad);
}

static void test_engine_alloc_failures(void **state) {
  (void)state;
  signal(SIGALRM, on_alarm);
  total_runs = total_nomem = total_bad = 0;
  long n;
  for (n = 0; n < 200000; n++) {
    fresh();
    snprintf(cur_run, sizeof cur_run, "engine allocation %ld and all later fail", n);
    alarm(30);
    mm_fail_after(n);
    int nomem = workload();
    long failed = mm_fail_after(-1);
    verify();
    alarm(0);
    total_runs++;
    if (nomem) total_nomem++;
    if (!failed) break; /* n is past the workload's last engine allocation */
    if (n > 300) n += n / 50;
    n += rel_stride() - 1; /* the later points are alike (each statement fails early) */
  }
  print_message("engine allocation failures: %ld runs (up to %ld), %ld with SQLITE_NOMEM, %ld violations\n",
                total_runs, n, total_nomem, total_bad);
  if (total_bad) fail_msg("%ld engine allocation-failure runs went wrong (first ones above)", total_bad);
}

static int setup(void **state) {
  (void)state;
  sqlite3_shutdown();
  sqlite3_config(SQLITE_CONFIG_GETMALLOC, &orig);
  static sqlite3_mem_methods w;
  w = orig;
  w.xMalloc = w_malloc;
  w.xFree = w_free;
  w.xRealloc = w_realloc;
  w.xSize = w_size;
  w.xRoundup = w_roundup;
  w.xInit = w_init;
  w.xShutdown = w_shutdown;
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &w) != SQLITE_OK) return -1;
  sqlite3_initialize();
  sqlite3_auto_extension((void (*)(void))sqlite3_lsmvtab_init);
  const char *root = rel_scratch("nomem");
  snprintf(dbfile, sizeof dbfile, "%s/nm.db", root);
  snprintf(tdir, sizeof tdir, "%s/nmdir", root);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rel_rmdir_tree(rel_root);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sqlite_alloc_failures),
      cmocka_unit_test(test_engine_alloc_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
