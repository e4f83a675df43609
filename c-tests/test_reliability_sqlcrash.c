/* SQL-level crash test (issue 8, item 1). A forked writer commits transactions through an `lsm`
** table with sync=full (each transaction: several rows tagged with its number; tiny memtables so
** flushes and compactions run; lsm_flush()/lsm_compact() now and then) and reports each
** acknowledged COMMIT to the parent through a pipe; the parent SIGKILLs it at a random moment
** (also during open, recovery, flush and compaction), then opens the table itself and checks:
** every acknowledged transaction is fully present, the one in flight is all or nothing, nothing
** later exists, and lsm_check() says ok. The same database lives through all kills.
** LSMVTAB_CRASH_ITERS sets the number of kills (default 25; `make crash-test-sql` runs 200).
** The seed is printed; LSMVTAB_CRASH_SEED sets it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>

#include "rel_util.h"

int sqlite3_lsmvtab_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

static char dbfile[4200], tdir[4200];

static int rows_of(long tag) { return 1 + (int)(tag % 5); }

static sqlite3 *open_db(void) {
  sqlite3 *db = NULL;
  if (sqlite3_open(dbfile, &db)) return NULL;
  sqlite3_busy_timeout(db, 5000);
  char sql[9000];
  snprintf(sql, sizeof sql,
           "CREATE VIRTUAL TABLE IF NOT EXISTS t USING lsm(k INTEGER PRIMARY KEY, tag INTEGER, v TEXT, "
           "dir='%s', sync=full, memtable_size='64KB', block_size=1024)", tdir);
  if (sqlite3_exec(db, sql, NULL, NULL, NULL)) {
    fprintf(stderr, "create: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return NULL;
  }
  return db;
}

static void child(long tag, int fd) {
  sqlite3 *db = open_db();
  if (!db) _exit(2);
  sqlite3_stmt *ins;
  if (sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?1, ?2, printf('%d.%d:%.*c', ?2, ?1, 200 + ?1 % 900, 'v'))", -1,
                         &ins, NULL))
    _exit(3);
  for (;; tag++) {
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) _exit(4);
    for (int j = 0; j < rows_of(tag); j++) {
      sqlite3_bind_int64(ins, 1, tag * 10 + j);
      sqlite3_bind_int64(ins, 2, tag);
      if (sqlite3_step(ins) != SQLITE_DONE) {
        fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db));
        _exit(5);
      }
      sqlite3_reset(ins);
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) {
      fprintf(stderr, "commit: %s\n", sqlite3_errmsg(db));
      _exit(6);
    }
    if (write(fd, &tag, sizeof tag) != sizeof tag) _exit(7);
    if (tag % 97 == 0) sqlite3_exec(db, "SELECT lsm_flush('t')", NULL, NULL, NULL);
    if (tag % 331 == 0) sqlite3_exec(db, "SELECT lsm_compact('t')", NULL, NULL, NULL);
  }
}

/* Count the rows of every transaction (checking their values) into cnt[0..cap); a row with a
** tag >= cap is counted in *beyond. */
static void count_rows(sqlite3 *db, int *cnt, long cap, long *beyond, long seed, int it) {
  memset(cnt, 0, sizeof *cnt * (size_t)cap);
  *beyond = 0;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT k, tag, v FROM t", -1, &st, NULL), SQLITE_OK);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    long k = (long)sqlite3_column_int64(st, 0), tag = (long)sqlite3_column_int64(st, 1);
    char want[48];
    snprintf(want, sizeof want, "%ld.%ld:", tag, k);
    if (k / 10 != tag || strncmp((const char *)sqlite3_column_text(st, 2), want, strlen(want)))
      fail_msg("seed %ld kill %d: transaction %ld has a wrong row (k %ld)", seed, it, tag, k);
    if (tag < 0 || tag >= cap) (*beyond)++;
    else cnt[tag]++;
  }
  if (rc != SQLITE_DONE) fail_msg("seed %ld kill %d: SELECT: %s", seed, it, sqlite3_errmsg(db));
  sqlite3_finalize(st);
}

static void test_sql_crash(void **state) {
  (void)state;
  sqlite3_auto_extension((void (*)(void))sqlite3_lsmvtab_init);
  const char *e = getenv("LSMVTAB_CRASH_ITERS");
  int iters = e ? atoi(e) : rel_stride() > 1 ? 4 : 25;
  const char *se = getenv("LSMVTAB_CRASH_SEED");
  long seed = se ? atol(se) : 7;
  print_message("SQL crash test: seed %ld, %d kills\n", seed, iters);
  srand((unsigned)seed);
  const char *root = rel_scratch("sqlcrash");
  snprintf(dbfile, sizeof dbfile, "%s/c.db", root);
  snprintf(tdir, sizeof tdir, "%s/cdir", root);
  long next = 1, acked = 0, max_seen = 0;
  (void)max_seen;
  int lost = 0, partial = 0;
  for (int it = 0; it < iters; it++) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(p[0]);
      child(next, p[1]);
    }
    close(p[1]);
    struct timespec ts = {0, (long)(rand() % 150) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
      fail_msg("seed %ld kill %d: the writer exited on its own (status 0x%x)", seed, it, status);
    long tag, last = 0;
    while (read(p[0], &tag, sizeof tag) == sizeof tag) last = tag;
    close(p[0]);
    if (last) acked = last;
    sqlite3 *db = open_db();
    if (!db) fail_msg("seed %ld kill %d: reopen failed", seed, it);
    /* every acknowledged transaction whole; the one in flight all or nothing; none after */
    long cap = acked + 2;
    int *cnt = malloc(sizeof *cnt * (size_t)cap);
    assert_non_null(cnt);
    long beyond;
    count_rows(db, cnt, cap, &beyond, seed, it);
    for (long t = 1; t <= acked; t++)
      if (cnt[t] != rows_of(t)) {
        if (lost + partial < 10)
          print_message("seed %ld kill %d: acknowledged transaction %ld has %d of %d rows\n", seed, it, t, cnt[t],
                        rows_of(t));
        if (cnt[t] == 0) lost++;
        else partial++;
      }
    int inflight = cnt[acked + 1];
    free(cnt);
    if (inflight != 0 && inflight != rows_of(acked + 1)) {
      print_message("seed %ld kill %d: transaction %ld in flight is partly visible (%d of %d)\n", seed, it,
                    acked + 1, inflight, rows_of(acked + 1));
      partial++;
    }
    if (beyond) fail_msg("seed %ld kill %d: %ld rows of transactions never committed", seed, it, beyond);
    if (inflight) acked++; /* it committed; the next writer continues after it */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT lsm_check('t'), count(*), max(tag) FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    if (strcmp((const char *)sqlite3_column_text(st, 0), "ok"))
      fail_msg("seed %ld kill %d: lsm_check: %s", seed, it, sqlite3_column_text(st, 0));
    max_seen = (long)sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    if (max_seen > acked) fail_msg("seed %ld kill %d: max tag %ld beyond the acknowledged %ld", seed, it, max_seen, acked);
    next = acked + 1;
  }
  print_message("SQL crash test: %d kills, %ld transactions acknowledged, %d lost, %d partial\n", iters, acked,
                lost, partial);
  if (lost || partial) fail_msg("seed %ld: %d acknowledged transactions lost, %d partial", seed, lost, partial);
  rel_rmdir_tree(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sql_crash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
