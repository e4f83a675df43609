/* Concurrency (issue 8, item 7): readers on their own threads while one writer commits and
** flushes/compactions run in the background; built with ThreadSanitizer by `make tsan`.
** Engine level: every batch b sets all NK keys to the same value "b" (one atomic batch), tiny
** memtables flush every few batches, l0_compaction_trigger 2 keeps compactions running, a third
** thread runs manual compactions. Readers take snapshots and check that a snapshot sees all NK
** keys with one value (an iterator, forward and backward, point gets and a multiget at the
** snapshot all agree), and that values never go back in time.
** SQL level: the same through an `lsm` table, every thread with its own connection: the writer
** UPDATEs every row in one transaction, readers check SELECT count(*), min(v), max(v) (one
** scan = one snapshot: min == max). The duration is LSMVTAB_CONC_MS (default 1500 ms per part).
** Cleanup: obsolete files are deleted without the db mutex (a held delete holds up no writer).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <time.h>

#include "rel_util.h"

int sqlite3_lsmvtab_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

#define NK 40
#define NREADERS 3

static lsm_db *gdb;
static _Atomic int stop;
static _Atomic long writes_done, reads_done, compactions_done;
static char errbuf[512];
static _Atomic int failed;

static void fail_async(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_async(const char *fmt, ...) {
  if (atomic_exchange(&failed, 1)) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  atomic_store(&stop, 1);
}

static long ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static long run_ms(void) {
  const char *e = getenv("LSMVTAB_CONC_MS");
  return e ? atol(e) : 1500;
}

static size_t ckey(char *k, int i) { return (size_t)snprintf(k, 16, "c%03d", i); }

/* value of batch b: "b" then padding, so memtables fill */
static size_t cval(char *v, long b) {
  int n = snprintf(v, 300, "%ld:", b);
  for (int i = n; i < 200; i++) v[i] = (char)('a' + (b + i) % 26);
  return 200;
}

static void *writer(void *arg) {
  (void)arg;
  char k[16], v[300];
  for (long b = 1; !atomic_load(&stop); b++) {
    lsm_batch *bt;
    if (lsm_batch_new(&bt)) return NULL;
    size_t vn = cval(v, b);
    for (int i = 0; i < NK; i++) lsm_batch_put(bt, k, ckey(k, i), v, vn);
    int rc = lsm_write(gdb, bt);
    lsm_batch_free(bt);
    if (rc) {
      fail_async("write %ld: %s", b, lsm_errmsg());
      return NULL;
    }
    atomic_fetch_add(&writes_done, 1);
  }
  return NULL;
}

static void *compactor(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    int rc = lsm_compact_range(gdb, NULL, 0, NULL, 0);
    if (rc) {
      fail_async("compact: %s", lsm_errmsg());
      return NULL;
    }
    atomic_fetch_add(&compactions_done, 1);
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static long val_batch(const void *v, size_t vn) {
  if (vn != 200) return -1;
  return atol((const char *)v);
}

static void *reader(void *arg) {
  (void)arg;
  long last = 0;
  char k[16];
  while (!atomic_load(&stop)) {
    lsm_snapshot *s;
    if (lsm_snapshot_new(gdb, &s)) {
      fail_async("snapshot: %s", lsm_errmsg());
      return NULL;
    }
    lsm_iter *it;
    long seen = -2;
    int n = 0;
    if (lsm_iter_new(gdb, s, NULL, 0, NULL, 0, &it)) {
      fail_async("iter: %s", lsm_errmsg());
      lsm_snapshot_free(gdb, s);
      return NULL;
    }
    int backward = (int)(atomic_load(&reads_done) & 1);
    for (backward ? lsm_iter_seek_last(it) : lsm_iter_seek_first(it); lsm_iter_valid(it);
         backward ? lsm_iter_prev(it) : lsm_iter_next(it)) {
      const void *v;
      size_t vn;
      lsm_iter_value(it, &v, &vn);
      long b = val_batch(v, vn);
      if (seen == -2) seen = b;
      else if (b != seen) fail_async("snapshot sees batches %ld and %ld at once", seen, b);
      n++;
    }
    if (lsm_iter_status(it)) fail_async("iter status: %s", lsm_errmsg());
    lsm_iter_free(it);
    if (n != 0 && n != NK) fail_async("snapshot sees %d keys of %d", n, NK);
    if (n && seen < last) fail_async("time went back: batch %ld after %ld", seen, last);
    if (n) last = seen;
    /* point gets and a multiget at the same snapshot agree with the scan */
    int i = (int)(ms_now() % NK);
    void *v = NULL;
    size_t vn = 0;
    int rc = lsm_get(gdb, s, k, ckey(k, i), &v, &vn);
    if (rc == LSM_OK) {
      if (val_batch(v, vn) != seen) fail_async("get at snapshot: batch %ld, scan saw %ld", val_batch(v, vn), seen);
      lsm_free(v);
    } else if (rc != LSM_NOTFOUND || n) {
      fail_async("get at snapshot: %s", lsm_errmsg());
    }
    char kb[4][16];
    const void *keys[4];
    size_t kl[4], vl[4];
    void *vals[4];
    int rcs[4];
    for (int j = 0; j < 4; j++) {
      kl[j] = ckey(kb[j], (i + j * 7) % NK);
      keys[j] = kb[j];
    }
    rc = lsm_multiget(gdb, s, 4, keys, kl, vals, vl, rcs);
    if (rc) fail_async("multiget: %s", lsm_errmsg());
    for (int j = 0; j < 4 && !rc; j++)
      if (rcs[j] == LSM_OK) {
        if (val_batch(vals[j], vl[j]) != seen) fail_async("multiget at snapshot disagrees with the scan");
        lsm_free(vals[j]);
      }
    lsm_snapshot_free(gdb, s);
    atomic_fetch_add(&reads_done, 1);
  }
  return NULL;
}

/* A scratch root (returned; rel_rmdir_tree it) with the database directory <root>/db in dir,
** and default options with 64 KiB memtables (flushes every few dozen batches). */
static const char *scratch_db(const char *tag, char *dir, size_t cap, lsm_options *o) {
  const char *root = rel_scratch(tag);
  snprintf(dir, cap, "%s/db", root);
  lsm_options_default(o);
  o->memtable_size = 64u << 10;
  return root;
}

/* Open dir with options o through a fault-injecting env (rel_util.h), handed back in *env for
** fio_fault_* calls. */
static lsm_db *open_fault_db(const char *dir, const lsm_options *o, fio_env **env) {
  rel_hook_fault(0, 0, 0);
  lsm_db *db;
  if (lsm_open(dir, o, &db)) fail_msg("open: %s", lsm_errmsg());
  *env = rel_env;
  rel_hook_off();
  return db;
}

static void test_engine_concurrency(void **state) {
  (void)state;
  char dir[4200];
  lsm_options o;
  const char *root = scratch_db("conc", dir, sizeof dir, &o);
  o.l0_compaction_trigger = 2;
  o.target_file_size = 64u << 10;
  o.level1_size = 256u << 10;
  o.cache_size = 256u << 10;
  o.block_size = 1024;
  if (lsm_open(dir, &o, &gdb)) fail_msg("open: %s", lsm_errmsg());
  atomic_store(&stop, 0);
  pthread_t w, c, r[NREADERS];
  pthread_create(&w, NULL, writer, NULL);
  pthread_create(&c, NULL, compactor, NULL);
  for (int i = 0; i < NREADERS; i++) pthread_create(&r[i], NULL, reader, NULL);
  long end = ms_now() + run_ms();
  while (ms_now() < end && !atomic_load(&stop)) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  atomic_store(&stop, 1);
  pthread_join(w, NULL);
  pthread_join(c, NULL);
  for (int i = 0; i < NREADERS; i++) pthread_join(r[i], NULL);
  lsm_stats st;
  lsm_get_stats(gdb, &st);
  char *rep = NULL;
  int crc = lsm_check(gdb, &rep);
  print_message("engine concurrency: %ld batches written, %ld snapshot reads, %ld manual compactions, %llu "
                "flushes, %llu compactions\n", atomic_load(&writes_done), atomic_load(&reads_done),
                atomic_load(&compactions_done), (unsigned long long)st.flushes, (unsigned long long)st.compactions);
  assert_int_equal(lsm_close(gdb), LSM_OK);
  if (atomic_load(&failed)) fail_msg("%s", errbuf);
  if (crc) fail_msg("lsm_check: %s", rep);
  lsm_free(rep);
  assert_true(atomic_load(&writes_done) > 10 && atomic_load(&reads_done) > 10);
  rel_rmdir_tree(root);
}

/* ---- obsolete files are deleted outside the db mutex ---- */

static _Atomic int late_done;

static void *late_puts(void *arg) {
  lsm_db *db = arg;
  char k[32];
  for (int i = 0; i < 50; i++) {
    int kn = snprintf(k, sizeof k, "late%04d", i);
    if (lsm_put(db, k, (size_t)kn, "late", 4)) {
      fail_async("late put: %s", lsm_errmsg());
      break;
    }
  }
  atomic_store(&late_done, 1);
  return NULL;
}

static void *compact_all(void *arg) {
  if (lsm_compact_range(arg, NULL, 0, NULL, 0)) fail_async("compact: %s", lsm_errmsg());
  return NULL;
}

/* A held delete blocks whoever deletes; if that is a thread holding the db mutex (the failure
** this test is about), the test's own puts would block too: the watchdog then lets the delete go
** after 60 s and says so, so the test fails instead of hanging. */
static _Atomic int watchdog_fired, watchdog_stop;

static void *watchdog(void *arg) {
  for (int i = 0; i < 60000 && !atomic_load(&watchdog_stop); i++) usleep(1000);
  if (!atomic_load(&watchdog_stop)) {
    atomic_store(&watchdog_fired, 1);
    fio_fault_clear(arg);
  }
  return NULL;
}

/* Run `late_puts` while the delete that fio_fault_count(DELETE) > d0 shows to be held waits:
** 1 if the puts finished within 5 s (nobody held the db mutex over the delete). */
static int puts_pass_held_delete(lsm_db *db, fio_env *env, long d0) {
  for (int i = 0; i < 10000 && fio_fault_count(env, FIO_OP_DELETE) == d0; i++) usleep(1000);
  if (fio_fault_count(env, FIO_OP_DELETE) == d0) fail_msg("no delete started");
  atomic_store(&late_done, 0);
  pthread_t t;
  pthread_create(&t, NULL, late_puts, db);
  for (int i = 0; i < 5000 && !atomic_load(&late_done); i++) usleep(1000);
  int passed = atomic_load(&late_done);
  fio_fault_clear(env); /* the delete goes on */
  pthread_join(t, NULL);
  return passed;
}

static int count_logs(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir(d))) n += strstr(e->d_name, ".log") != NULL;
  if (d) closedir(d);
  return n;
}

/* Deleting obsolete files (a flushed memtable's WAL; a compaction's inputs) truncates their page
** cache, milliseconds for big files: it happens outside the db mutex, so writers never wait for
** it. With that delete held (FIO_FAULT_HOLD), puts on another thread still complete. */
static void test_cleanup_unlocked(void **state) {
  (void)state;
  char dir[4200];
  lsm_options o;
  const char *root = scratch_db("cleanup", dir, sizeof dir, &o);
  o.l0_compaction_trigger = 8; /* no automatic compaction: the deletes below are the ones meant */
  fio_env *env;
  lsm_db *db = open_fault_db(dir, &o, &env);
  pthread_t wd;
  pthread_create(&wd, NULL, watchdog, env);
  char k[32], v[100];
  memset(v, 'v', sizeof v);
  /* the flush thread deleting the WAL its flush made obsolete */
  long d0 = fio_fault_count(env, FIO_OP_DELETE);
  assert_int_equal(fio_fault_set(env, FIO_OP_DELETE, 1, FIO_FAULT_HOLD), LSM_OK);
  int i = 0;
  for (; i < 20000 && fio_fault_count(env, FIO_OP_DELETE) == d0; i++) {
    int kn = snprintf(k, sizeof k, "k%06d", (i * 7919) % 20000);
    if (lsm_put(db, k, (size_t)kn, v, sizeof v)) fail_msg("put: %s", lsm_errmsg());
    if (i % 100 == 99) usleep(1000);
  }
  if (!puts_pass_held_delete(db, env, d0) || atomic_load(&watchdog_fired))
    fail_msg("puts waited for the flush's WAL delete");
  /* a manual compaction deleting its inputs (overlapping L0 tables: merged, not moved) */
  for (int j = 0; j < 1500; j++, i++) {
    int kn = snprintf(k, sizeof k, "k%06d", (i * 7919) % 20000);
    if (lsm_put(db, k, (size_t)kn, v, sizeof v)) fail_msg("put: %s", lsm_errmsg());
  }
  if (lsm_flush(db, 1)) fail_msg("flush: %s", lsm_errmsg());
  for (int j = 0; j < 5000 && count_logs(dir) != 1; j++) usleep(1000); /* its WAL delete done */
  assert_int_equal(count_logs(dir), 1);
  lsm_stats st;
  assert_int_equal(lsm_get_stats(db, &st), LSM_OK);
  assert_true(st.level_files[0] >= 2);
  d0 = fio_fault_count(env, FIO_OP_DELETE);
  assert_int_equal(fio_fault_set(env, FIO_OP_DELETE, 1, FIO_FAULT_HOLD), LSM_OK);
  pthread_t c;
  pthread_create(&c, NULL, compact_all, db);
  int passed = puts_pass_held_delete(db, env, d0);
  pthread_join(c, NULL);
  atomic_store(&watchdog_stop, 1);
  pthread_join(wd, NULL);
  if (atomic_load(&watchdog_fired)) fail_msg("a writer waited for a held delete (the watchdog let it go)");
  if (!passed) fail_msg("puts waited for the compaction's input deletes");
  if (atomic_load(&failed)) fail_msg("%s", errbuf);
  assert_int_equal(lsm_get_stats(db, &st), LSM_OK);
  assert_int_equal(st.level_files[0], 0);
  char *rep = NULL;
  if (lsm_check(db, &rep)) fail_msg("lsm_check: %s", rep);
  lsm_free(rep);
  assert_int_equal(lsm_close(db), LSM_OK);
  rel_rmdir_tree(root);
}

/* ---- the memtable switch's file work runs outside the db mutex ---- */

static _Atomic int reads_ok;

static void *switch_reads(void *arg) {
  lsm_db *db = arg;
  char k[32];
  for (int i = 0; i < 100; i++) {
    int kn = snprintf(k, sizeof k, "r%04d", i);
    void *v = NULL;
    size_t vn = 0;
    if (lsm_get(db, NULL, k, (size_t)kn, &v, &vn) || vn != 4 || memcmp(v, "read", 4)) {
      fail_async("read %s during the switch: %s", k, lsm_errmsg());
      lsm_free(v);
      return NULL;
    }
    lsm_free(v);
  }
  atomic_store(&reads_ok, 1);
  return NULL;
}

static _Atomic int filler_done;

/* Puts until the first memtable switch has happened (its syncs are held or fail in the tests). */
static void *switch_filler(void *arg) {
  lsm_db *db = arg;
  char k[32], v[100];
  memset(v, 'v', sizeof v);
  lsm_stats st;
  for (int i = 0; i < 20000; i++) {
    int kn = snprintf(k, sizeof k, "w%06d", i);
    int rc = lsm_put(db, k, (size_t)kn, v, sizeof v);
    if (rc) break; /* the failing-sync test expects this */
    if (lsm_get_stats(db, &st) == LSM_OK && st.immutables + st.flushes > 0) break;
  }
  atomic_store(&filler_done, 1);
  return NULL;
}

/* A memtable switch creates the new WAL (a file, its header, two fsyncs) and, under sync=normal,
** syncs the old WAL (up to memtable_size of dirty pages): milliseconds to a second on a slow disk.
** It does so without the db mutex, so readers never wait for it. With the switch's first sync
** held (FIO_FAULT_HOLD), gets on another thread still complete. */
static void test_switch_unlocked(void **state) {
  (void)state;
  char dir[4200];
  lsm_options o;
  const char *root = scratch_db("switch", dir, sizeof dir, &o);
  o.sync = LSM_SYNC_NORMAL;
  fio_env *env;
  lsm_db *db = open_fault_db(dir, &o, &env);
  char k[32];
  for (int i = 0; i < 100; i++) {
    int kn = snprintf(k, sizeof k, "r%04d", i);
    if (lsm_put(db, k, (size_t)kn, "read", 4)) fail_msg("put: %s", lsm_errmsg());
  }
  atomic_store(&watchdog_stop, 0);
  atomic_store(&watchdog_fired, 0);
  pthread_t wd, f, r;
  pthread_create(&wd, NULL, watchdog, env);
  /* before the first switch nothing syncs (sync=normal, no flush yet): the first sync is the
  ** switch's */
  long s0 = fio_fault_count(env, FIO_OP_SYNC);
  assert_int_equal(fio_fault_set(env, FIO_OP_SYNC, 1, FIO_FAULT_HOLD), LSM_OK);
  atomic_store(&filler_done, 0);
  pthread_create(&f, NULL, switch_filler, db);
  for (int i = 0; i < 10000 && fio_fault_count(env, FIO_OP_SYNC) == s0; i++) usleep(1000);
  if (fio_fault_count(env, FIO_OP_SYNC) == s0) fail_msg("no sync started");
  assert_false(atomic_load(&filler_done)); /* the writer is the one held */
  atomic_store(&reads_ok, 0);
  pthread_create(&r, NULL, switch_reads, db);
  for (int i = 0; i < 5000 && !atomic_load(&reads_ok); i++) usleep(1000);
  int passed = atomic_load(&reads_ok);
  fio_fault_clear(env); /* the switch goes on */
  pthread_join(r, NULL);
  pthread_join(f, NULL);
  atomic_store(&watchdog_stop, 1);
  pthread_join(wd, NULL);
  if (atomic_load(&failed)) fail_msg("%s", errbuf);
  if (!passed || atomic_load(&watchdog_fired)) fail_msg("gets waited for the memtable switch's sync");
  lsm_stats st;
  assert_int_equal(lsm_get_stats(db, &st), LSM_OK);
  assert_true(st.immutables + st.flushes >= 1);
  assert_int_equal(lsm_close(db), LSM_OK);
  rel_rmdir_tree(root);
}

/* A sync of the switch failing (the new WAL's file or directory, or the old WAL's under
** sync=normal) fails the put that switched; a failed sync of the old WAL also makes the engine
** refuse writes until reopened (the durability of what it holds is unknown). Every write
** acknowledged before is there after a reopen. */
static void test_switch_sync_fails(void **state) {
  (void)state;
  int refused_runs = 0;
  for (long nth = 1; nth <= 3; nth++) {
    char dir[4200];
    lsm_options o;
    const char *root = scratch_db("switchfail", dir, sizeof dir, &o);
    o.sync = LSM_SYNC_NORMAL;
    fio_env *env;
    lsm_db *db = open_fault_db(dir, &o, &env);
    assert_int_equal(fio_fault_set(env, FIO_OP_SYNC, nth, FIO_FAULT_ONCE), LSM_OK);
    char k[32], v[100];
    memset(v, 'v', sizeof v);
    int acked = 0, rc = LSM_OK;
    for (; acked < 20000; acked++) {
      int kn = snprintf(k, sizeof k, "w%06d", acked);
      if ((rc = lsm_put(db, k, (size_t)kn, v, sizeof v))) break;
    }
    if (rc == LSM_OK) fail_msg("sync %ld of the switch failed, yet every put succeeded", nth);
    int kn = snprintf(k, sizeof k, "late");
    int later = lsm_put(db, k, (size_t)kn, "x", 1);
    if (later != LSM_OK && !strstr(lsm_errmsg(), "refuses writes")) fail_msg("sync %ld: %s", nth, lsm_errmsg());
    int crc = lsm_close(db);
    if (later != LSM_OK) {
      refused_runs++;
      if (!strstr(lsm_errmsg(), "had failed")) fail_msg("sync %ld: close: %s", nth, lsm_errmsg());
      /* the engine stopped with the old WAL's durability unknown and skipped close's own sync:
      ** close must say so, not return LSM_OK */
      if (!rel_is_io(crc)) fail_msg("sync %ld: close after a sticky error returned %s", nth, st_name(crc));
    }
    if (lsm_open(dir, &o, &db)) fail_msg("reopen: %s", lsm_errmsg());
    for (int i = 0; i < acked; i++) {
      kn = snprintf(k, sizeof k, "w%06d", i);
      void *got = NULL;
      size_t gn = 0;
      if (lsm_get(db, NULL, k, (size_t)kn, &got, &gn) || gn != sizeof v)
        fail_msg("sync %ld: acknowledged %s lost after reopen: %s", nth, k, lsm_errmsg());
      lsm_free(got);
    }
    assert_int_equal(lsm_close(db), LSM_OK);
    rel_rmdir_tree(root);
  }
  /* one of the three is the old WAL's sync */
  assert_int_equal(refused_runs, 1);
}

/* ---- SQL level ---- */
static char sqlfile[4200];

static sqlite3 *conn(void) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(sqlfile, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL)) {
    fail_async("open: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

/* Connections are opened on the main thread and handed to the threads (one each): opening them
** concurrently would run the extension's init, which stores the API pointer in a global
** (SQLITE_EXTENSION_INIT2), from several threads at once: a benign race TSan reports anyway. */
static void *sql_writer(void *arg) {
  sqlite3 *db = arg;
  if (!db) return NULL;
  sqlite3_stmt *up;
  if (sqlite3_prepare_v2(db, "UPDATE t SET v = printf('%08d', ?1)", -1, &up, NULL)) {
    fail_async("prepare: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return NULL;
  }
  for (long b = 1; !atomic_load(&stop); b++) {
    sqlite3_bind_int64(up, 1, b);
    int rc = sqlite3_step(up);
    sqlite3_reset(up);
    if (rc != SQLITE_DONE) {
      fail_async("UPDATE %ld: %s", b, sqlite3_errmsg(db));
      break;
    }
    atomic_fetch_add(&writes_done, 1);
    if (b % 50 == 0) sqlite3_exec(db, "SELECT lsm_flush('t')", NULL, NULL, NULL);
  }
  sqlite3_finalize(up);
  sqlite3_close(db);
  return NULL;
}

static void *sql_reader(void *arg) {
  sqlite3 *db = arg;
  if (!db) return NULL;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "SELECT count(*), min(v), max(v) FROM t", -1, &st, NULL)) {
    fail_async("prepare: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return NULL;
  }
  char last[32] = "";
  while (!atomic_load(&stop)) {
    if (sqlite3_step(st) != SQLITE_ROW) {
      fail_async("SELECT: %s", sqlite3_errmsg(db));
      break;
    }
    int n = sqlite3_column_int(st, 0);
    const char *mn = (const char *)sqlite3_column_text(st, 1), *mx = (const char *)sqlite3_column_text(st, 2);
    if (n != NK) fail_async("SELECT sees %d rows of %d", n, NK);
    else if (strcmp(mn, mx)) fail_async("one SELECT sees two transactions: %s and %s", mn, mx);
    else if (strcmp(mn, last) < 0) fail_async("time went back: %s after %s", mn, last);
    else snprintf(last, sizeof last, "%s", mn);
    sqlite3_reset(st);
    atomic_fetch_add(&reads_done, 1);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return NULL;
}

static void test_sql_concurrency(void **state) {
  (void)state;
  sqlite3_auto_extension((void (*)(void))sqlite3_lsmvtab_init);
  const char *root = rel_scratch("sqlconc");
  snprintf(sqlfile, sizeof sqlfile, "%s/c.db", root);
  sqlite3 *db = conn();
  assert_non_null(db);
  char sql[9000];
  snprintf(sql, sizeof sql,
           "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT, dir='%s/tdir', memtable_size='64KB', "
           "block_size=1024);"
           "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < %d) "
           "INSERT INTO t SELECT x, '00000000' FROM s;", root, NK);
  if (sqlite3_exec(db, sql, NULL, NULL, NULL)) fail_msg("%s", sqlite3_errmsg(db));
  atomic_store(&stop, 0);
  atomic_store(&writes_done, 0);
  atomic_store(&reads_done, 0);
  pthread_t w, r[NREADERS];
  sqlite3 *wc = conn(), *rc[NREADERS];
  for (int i = 0; i < NREADERS; i++) rc[i] = conn();
  pthread_create(&w, NULL, sql_writer, wc);
  for (int i = 0; i < NREADERS; i++) pthread_create(&r[i], NULL, sql_reader, rc[i]);
  long end = ms_now() + run_ms();
  while (ms_now() < end && !atomic_load(&stop)) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  atomic_store(&stop, 1);
  pthread_join(w, NULL);
  for (int i = 0; i < NREADERS; i++) pthread_join(r[i], NULL);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT lsm_check('t')", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  char chk[300];
  snprintf(chk, sizeof chk, "%s", sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  print_message("SQL concurrency: %ld UPDATE transactions, %ld SELECTs by %d reader connections\n",
                atomic_load(&writes_done), atomic_load(&reads_done), NREADERS);
  if (atomic_load(&failed)) fail_msg("%s", errbuf);
  if (strcmp(chk, "ok")) fail_msg("lsm_check: %s", chk);
  assert_true(atomic_load(&writes_done) > 5 && atomic_load(&reads_done) > 5);
  rel_rmdir_tree(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_engine_concurrency),
      cmocka_unit_test(test_sql_concurrency),
      cmocka_unit_test(test_cleanup_unlocked),
      cmocka_unit_test(test_switch_unlocked),
      cmocka_unit_test(test_switch_sync_fails),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
