/* test_version.c — the table cache of version.c (version.h "Table cache"): a database of many
** more tables than max_open_files keeps at most max_open_files readers open (so descriptors
** and pinned index/filter memory stay bounded), readers in use by iterators are never closed
** (the limit is exceeded while they are pinned, and restored when they are released), closed
** readers are reopened and re-verified, and every answer equals a model — with compactions
** and writers running meanwhile on other threads.
**
** The database: 36000 keys of ~110 bytes, no compression, 64 KiB memtables and 64 KiB target
** files: about 58 tables after a full compaction, max_open_files = 16 (the minimum); built
** once for the read-only parts (group setup), and again by the parts that change it.
** Randomized parts print their seed on failure (LSMVTAB_SEED overrides it).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lsm.h"
#include "test_util.h"
#include "vg_util.h"

#define NKEYS 36000
#define MAXOPEN 16
#define FD_SLACK 12 /* LOCK, WAL, manifest, io_uring, a compaction's or flush's output, ... */

static uint64_t seed;
static uint32_t gen[NKEYS]; /* model: value generation per key, 0 = deleted */
static uint32_t shared_gen[NKEYS]; /* the model of the shared database */
static lsm_db *shared;
static int shared_fd0; /* descriptors before it was opened */

#define OK(x)                                                                                   \
  do {                                                                                          \
    int rc_ = (x);                                                                              \
    if (rc_) fail_msg("%s: rc %d: %s (seed %llu)", #x, rc_, lsm_errmsg(), (unsigned long long)seed); \
  } while (0)

static size_t key_of(char *k, int i) { return (size_t)snprintf(k, 16, "k%07d", i); }

/* "v<key>.<gen>" padded to 100 bytes: a value names its key and generation */
static size_t val_of(char *v, int i, uint32_t g) {
  int n = snprintf(v, 128, "v%07d.%08u.", i, g);
  for (int j = n; j < 100; j++) v[j] = (char)('a' + (i + j) % 26);
  return 100;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) fail_msg("opendir /proc/self/fd");
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

static lsm_stats stats(lsm_db *db) {
  lsm_stats s;
  OK(lsm_get_stats(db, &s));
  return s;
}

static uint64_t tables(lsm_db *db) {
  lsm_stats s = stats(db);
  uint64_t n = 0;
  for (int l = 0; l < LSM_MAX_LEVELS; l++) n += s.level_files[l];
  return n;
}

static void options(lsm_options *o) {
  lsm_options_default(o);
  o->memtable_size = 64u << 10;
  o->target_file_size = 64u << 10;
  o->cache_size = 256u << 10;
  o->compression = LSM_COMPRESS_NONE;
  o->max_open_files = MAXOPEN;
}

static void write_key(lsm_db *db, int i, uint32_t g) {
  char k[16], v[128];
  size_t kn = key_of(k, i);
  if (g) OK(lsm_put(db, k, kn, v, val_of(v, i, g)));
  else OK(lsm_delete(db, k, kn));
}

/* Load every key (1 in 10 then deleted), overwrite some, compact everything: ~55 tables. */
static lsm_db *build(const char *dir) {
  lsm_destroy(dir);
  lsm_options o;
  options(&o);
  lsm_db *db;
  OK(lsm_open(dir, &o, &db));
  memset(gen, 0, sizeof gen);
  lsm_batch *b;
  OK(lsm_batch_new(&b));
  char k[16], v[128];
  for (int i = 0; i < NKEYS; i++) {
    gen[i] = 1;
    OK(lsm_batch_put(b, k, key_of(k, i), v, val_of(v, i, 1)));
    if (lsm_batch_count(b) == 200) {
      OK(lsm_write(db, b));
      lsm_batch_clear(b);
    }
  }
  OK(lsm_write(db, b));
  lsm_batch_free(b);
  for (int n = 0; n < NKEYS / 5; n++) {
    int i = (int)(rnd() % NKEYS);
    gen[i] = n % 2 ? 0 : gen[i] + 1;
    write_key(db, i, gen[i]);
  }
  OK(lsm_flush(db, 1));
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  uint64_t nt = tables(db);
  print_message("%llu tables, max_open_files %d\n", (unsigned long long)nt, MAXOPEN);
  assert_true(nt >= 3 * MAXOPEN); /* without the limit, every one would be open */
  return db;
}

static void expect_get(lsm_db *db, int i) {
  char k[16], v[128];
  size_t kn = key_of(k, i);
  void *got = NULL;
  size_t gn = 0;
  int rc = lsm_get(db, NULL, k, kn, &got, &gn);
  if (!gen[i]) {
    if (rc != LSM_NOTFOUND) fail_msg("key %d: rc %d, expected absent (seed %llu)", i, rc, (unsigned long long)seed);
    return;
  }
  if (rc) fail_msg("key %d: rc %d %s (seed %llu)", i, rc, lsm_errmsg(), (unsigned long long)seed);
  size_t vn = val_of(v, i, gen[i]);
  if (gn != vn || memcmp(got, v, vn)) fail_msg("key %d: wrong value (seed %llu)", i, (unsigned long long)seed);
  lsm_free(got);
}

/* next live key index after i in direction dir (+1/-1), or -1 / NKEYS at the ends */
static int next_live(int i, int dir) {
  for (i += dir; i >= 0 && i < NKEYS; i += dir)
    if (gen[i]) return i;
  return i;
}

/* The iterator is at key index i (which must be live): check key and value. */
static void expect_at(lsm_iter *it, int i) {
  if (i < 0 || i >= NKEYS) {
    if (lsm_iter_valid(it)) fail_msg("iterator valid past the end (seed %llu)", (unsigned long long)seed);
    OK(lsm_iter_status(it));
    return;
  }
  if (!lsm_iter_valid(it)) fail_msg("iterator ended before key %d: %d %s (seed %llu)", i, lsm_iter_status(it), lsm_errmsg(), (unsigned long long)seed);
  char k[16], v[128];
  size_t kn = key_of(k, i), vn = val_of(v, i, gen[i]);
  const void *p, *q;
  size_t pn, qn;
  lsm_iter_key(it, &p, &pn);
  lsm_iter_value(it, &q, &qn);
  if (pn != kn || memcmp(p, k, kn)) fail_msg("iterator at %.*s, expected %s (seed %llu)", (int)pn, (const char *)p, k, (unsigned long long)seed);
  if (qn != vn || memcmp(q, v, vn)) fail_msg("key %d: wrong value from iterator (seed %llu)", i, (unsigned long long)seed);
}

static void full_scan(lsm_db *db, int dir) {
  lsm_iter *it;
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
  OK(dir > 0 ? lsm_iter_seek_first(it) : lsm_iter_seek_last(it));
  int i = next_live(dir > 0 ? -1 : NKEYS, dir);
  for (;;) {
    expect_at(it, i);
    if (i < 0 || i >= NKEYS) break;
    OK(dir > 0 ? lsm_iter_next(it) : lsm_iter_prev(it));
    i = next_live(i, dir);
  }
  lsm_iter_free(it);
}

static void setup_seed(void) {
  const char *e = getenv("LSMVTAB_SEED");
  seed = e ? strtoull(e, NULL, 10) : (uint64_t)time(NULL);
  rng = seed | 1;
  print_message("seed %llu\n", (unsigned long long)seed);
}

/* Gets, multigets and full scans both ways over ~55 tables with 16 open at most: right answers,
** at most 16 readers and 16 + slack descriptors afterwards, and readers were closed and
** reopened (table_opens well above the number of tables). */
static void test_bounded(void **state) {
  (void)state;
  lsm_db *db = shared;
  memcpy(gen, shared_gen, sizeof gen);
  int fd0 = shared_fd0;
  for (long n = 0; n < vg_scale(5000, 10); n++) expect_get(db, (int)(rnd() % NKEYS));
  lsm_stats s = stats(db);
  assert_true(s.open_tables <= MAXOPEN);
  assert_int_equal(s.max_open_files, MAXOPEN);
  /* multiget: 32 keys spread over the whole range, so most tables at once */
  for (int round = 0; round < 50; round++) {
    const void *keys[32];
    size_t kl[32], vl[32];
    void *vals[32];
    int rcs[32], idx[32];
    char kb[32][16];
    for (int j = 0; j < 32; j++) {
      idx[j] = (int)(rnd() % NKEYS);
      kl[j] = key_of(kb[j], idx[j]);
      keys[j] = kb[j];
    }
    OK(lsm_multiget(db, NULL, 32, keys, kl, vals, vl, rcs));
    for (int j = 0; j < 32; j++) {
      char v[128];
      if (!gen[idx[j]]) {
        assert_int_equal(rcs[j], LSM_NOTFOUND);
        continue;
      }
      assert_int_equal(rcs[j], LSM_OK);
      size_t vn = val_of(v, idx[j], gen[idx[j]]);
      assert_true(vl[j] == vn && !memcmp(vals[j], v, vn));
      lsm_free(vals[j]);
    }
  }
  full_scan(db, 1);
  full_scan(db, -1);
  s = stats(db);
  print_message("open tables %llu, table opens %llu, descriptors %d over the start\n",
                (unsigned long long)s.open_tables, (unsigned long long)s.table_opens, count_fds() - fd0);
  assert_true(s.open_tables <= MAXOPEN);
  assert_true(s.table_opens > tables(db) + 2 * MAXOPEN); /* closed and reopened */
  assert_true(count_fds() - fd0 <= MAXOPEN + FD_SLACK);
}

/* More iterators than max_open_files, each positioned in a different part of the key space:
** their tables stay open (the limit is exceeded while they are pinned) and stay right while
** gets open and close other tables around them; once freed, the count is back under the
** limit. */
static void test_many_iterators(void **state) {
  (void)state;
  lsm_db *db = shared;
  memcpy(gen, shared_gen, sizeof gen);
  int fd0 = shared_fd0;
  enum { NIT = 40 };
  lsm_iter *its[NIT];
  int pos[NIT], dir[NIT];
  for (int j = 0; j < NIT; j++) {
    OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &its[j]));
    int i = j * (NKEYS / NIT) + (int)(rnd() % 100);
    char k[16];
    size_t kn = key_of(k, i);
    dir[j] = j % 2 ? -1 : 1;
    if (dir[j] > 0) {
      OK(lsm_iter_seek(its[j], k, kn));
      pos[j] = gen[i] ? i : next_live(i, 1);
    } else {
      OK(lsm_iter_seek_for_prev(its[j], k, kn));
      pos[j] = gen[i] ? i : next_live(i, -1);
    }
    expect_at(its[j], pos[j]);
  }
  lsm_stats s = stats(db);
  print_message("%d iterators: %llu tables open (limit %d)\n", NIT, (unsigned long long)s.open_tables, MAXOPEN);
  assert_true(s.open_tables > MAXOPEN); /* pinned readers are not closed */
  for (long step = 0; step < vg_scale(3000, 10); step++) {
    int j = (int)(rnd() % NIT);
    if (pos[j] >= 0 && pos[j] < NKEYS) {
      OK(dir[j] > 0 ? lsm_iter_next(its[j]) : lsm_iter_prev(its[j]));
      pos[j] = next_live(pos[j], dir[j]);
      expect_at(its[j], pos[j]);
    }
    expect_get(db, (int)(rnd() % NKEYS)); /* opens and closes other tables */
  }
  for (int j = 0; j < NIT; j++) lsm_iter_free(its[j]);
  s = stats(db);
  print_message("after freeing them: %llu open, %d descriptors over the start\n",
                (unsigned long long)s.open_tables, count_fds() - fd0);
  assert_true(s.open_tables <= MAXOPEN);
  assert_true(count_fds() - fd0 <= MAXOPEN + FD_SLACK);
}

static int shared_setup(void **state) {
  (void)state;
  setup_seed();
  shared_fd0 = count_fds();
  shared = build("db_shared");
  memcpy(shared_gen, gen, sizeof gen);
  return 0;
}

static int shared_teardown(void **state) {
  (void)state;
  if (lsm_close(shared)) return -1;
  shared = NULL;
  if (count_fds() != shared_fd0) { /* every descriptor released on close */
    fprintf(stderr, "%d descriptors left open after lsm_close\n", count_fds() - shared_fd0);
    return -1;
  }
  return lsm_destroy("db_shared") ? -1 : 0;
}

/* Wait (at most ~10 s) until every table of db has an open reader: a flush or compaction opens
** its outputs on its own thread after installing them (ver_preopen), so they are open a moment
** after lsm_flush / lsm_compact_range return, with no read having run. */
static void wait_all_open(lsm_db *db, const char *after) {
  lsm_stats s = stats(db);
  for (int i = 0; i < 1000 && s.open_tables != tables(db); i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    s = stats(db);
  }
  if (s.open_tables != tables(db))
    fail_msg("after %s: %llu of %llu tables open without a read", after,
             (unsigned long long)s.open_tables, (unsigned long long)tables(db));
}

/* The tables a flush or a compaction writes are opened by the thread that wrote them, not by
** the first read of each (which, right after a load, is a foreground read or an INSERT's
** existence check): no read runs before every table is open, and gets of every table after
** that open none. */
static void test_new_tables_opened(void **state) {
  (void)state;
  lsm_destroy("db_preopen");
  lsm_options o;
  options(&o);
  o.max_open_files = 1000; /* room for all: the preopen is skipped without it */
  lsm_db *db;
  OK(lsm_open("db_preopen", &o, &db));
  memset(gen, 0, sizeof gen);
  enum { N = 200 }; /* well under one 64 KiB memtable: one table, written by lsm_flush */
  for (int i = 0; i < N; i++) write_key(db, i * (NKEYS / N), gen[i * (NKEYS / N)] = 1);
  assert_int_equal(stats(db).table_opens, 0);
  OK(lsm_flush(db, 1));
  assert_int_equal(tables(db), 1);
  wait_all_open(db, "a flush");
  for (int i = N; i < NKEYS / 4; i++) write_key(db, i, gen[i] = 1);
  OK(lsm_compact_range(db, NULL, 0, NULL, 0)); /* every table is now a compaction's output */
  assert_true(tables(db) > 10);
  wait_all_open(db, "a compaction");
  uint64_t opens = stats(db).table_opens;
  for (int i = 0; i < NKEYS; i += 7) expect_get(db, i);
  assert_int_equal(stats(db).table_opens, opens);
  OK(lsm_close(db));
  OK(lsm_destroy("db_preopen"));
}

/* ---- concurrency ---- */

static lsm_db *cdb;
static _Atomic int stop, failed;
/* per key: the generation the writer is writing (set before its put) and the one written
** (set after it returns): a read overlapping a put may see either */
static _Atomic uint32_t cstart[NKEYS], cdone[NKEYS];
static char errbuf[512];

static void fail_async(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_async(const char *fmt, ...) {
  if (atomic_exchange(&failed, 1)) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  atomic_store(&stop, 1);
}

/* A value read for key i must be "v<i>.<g>" with g between the generation written before the
** read began (lo) and the one being written when it ended (hi). */
static void check_val(int i, const void *p, size_t n, uint32_t lo, uint32_t hi) {
  unsigned ki, g;
  char buf[32];
  memcpy(buf, p, n < 31 ? n : 31);
  buf[n < 31 ? n : 31] = 0;
  if (n != 100 || sscanf(buf, "v%7u.%8u.", &ki, &g) != 2 || (int)ki != i || g < lo || g > hi)
    fail_async("key %d: bad value '%.20s' (generations %u..%u)", i, buf, lo, hi);
}

static void *c_writer(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    int i = (int)(rnd() % NKEYS); /* rnd() only here: the other threads use their own */
    uint32_t g = atomic_load(&cdone[i]) + 1;
    char k[16], v[128];
    size_t kn = key_of(k, i);
    atomic_store(&cstart[i], g);
    if (lsm_put(cdb, k, kn, v, val_of(v, i, g))) {
      fail_async("put: %s", lsm_errmsg());
      break;
    }
    atomic_store(&cdone[i], g);
  }
  return NULL;
}

static void *c_reader(void *arg) {
  uint64_t r = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull | 1;
  long n = 0;
  while (!atomic_load(&stop)) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    int i = (int)(r % NKEYS);
    char k[16];
    size_t kn = key_of(k, i);
    if (n++ % 50) { /* a get */
      uint32_t lo = atomic_load(&cdone[i]);
      void *v;
      size_t vn;
      int rc = lsm_get(cdb, NULL, k, kn, &v, &vn);
      if (rc) {
        fail_async("get %d: rc %d %s", i, rc, lsm_errmsg());
        break;
      }
      check_val(i, v, vn, lo, atomic_load(&cstart[i]));
      lsm_free(v);
    } else { /* a scan of 500 keys, every key there (none is ever deleted here) */
      lsm_iter *it;
      if (lsm_iter_new(cdb, NULL, NULL, 0, NULL, 0, &it)) {
        fail_async("iter: %s", lsm_errmsg());
        break;
      }
      lsm_iter_seek(it, k, kn);
      for (int j = i; j < i + 500 && j < NKEYS && !atomic_load(&failed); j++) {
        char kk[16];
        size_t kkn = key_of(kk, j);
        const void *p, *q;
        size_t pn, qn;
        if (!lsm_iter_valid(it)) {
          fail_async("scan from %d ended at %d: %s", i, j, lsm_errmsg());
          break;
        }
        lsm_iter_key(it, &p, &pn);
        lsm_iter_value(it, &q, &qn);
        if (pn != kkn || memcmp(p, kk, kkn)) fail_async("scan from %d: key %.*s, expected %s", i, (int)pn, (const char *)p, kk);
        else check_val(j, q, qn, 1, atomic_load(&cstart[j])); /* the iterator's snapshot */
        lsm_iter_next(it);
      }
      lsm_iter_free(it);
    }
  }
  return NULL;
}

/* Two readers (gets, 500-key scans) and a writer whose puts keep flushes and compactions
** running, 16 tables open at most: every value read is one the key had during the read;
** afterwards everything equals the model and the limit holds again. */
static void test_concurrent(void **state) {
  (void)state;
  setup_seed();
  lsm_destroy("db_conc");
  lsm_options o;
  options(&o);
  OK(lsm_open("db_conc", &o, &cdb));
  char k[16], v[128];
  for (int i = 0; i < NKEYS; i++) {
    OK(lsm_put(cdb, k, key_of(k, i), v, val_of(v, i, 1)));
    atomic_store(&cstart[i], 1);
    atomic_store(&cdone[i], 1);
  }
  OK(lsm_compact_range(cdb, NULL, 0, NULL, 0));
  assert_true(tables(cdb) >= 3 * MAXOPEN);
  pthread_t w, rd[2];
  pthread_create(&w, NULL, c_writer, NULL);
  for (int t = 0; t < 2; t++) pthread_create(&rd[t], NULL, c_reader, (void *)(uintptr_t)(seed + (uint64_t)t + 1));
  long until = (long)time(NULL) + 3;
  while (!atomic_load(&stop) && time(NULL) < until) usleep(20000);
  atomic_store(&stop, 1);
  pthread_join(w, NULL);
  for (int t = 0; t < 2; t++) pthread_join(rd[t], NULL);
  if (atomic_load(&failed)) fail_msg("%s (seed %llu)", errbuf, (unsigned long long)seed);
  lsm_stats s = stats(cdb);
  print_message("%llu tables, %llu compactions, %llu table opens\n", (unsigned long long)tables(cdb),
                (unsigned long long)s.compactions, (unsigned long long)s.table_opens);
  assert_true(s.compactions > 0);
  for (int i = 0; i < NKEYS; i++) gen[i] = atomic_load(&cdone[i]);
  for (int i = 0; i < NKEYS; i += 7) expect_get(cdb, i);
  full_scan(cdb, 1);
  OK(lsm_compact_range(cdb, NULL, 0, NULL, 0)); /* no compaction holds inputs afterwards */
  full_scan(cdb, -1);
  s = stats(cdb);
  assert_true(s.open_tables <= MAXOPEN);
  OK(lsm_close(cdb));
  OK(lsm_destroy("db_conc"));
}

/* A reader closed by the limit is reopened from the file, which is verified again: with every
** table's footer damaged on disk, each lookup either answers right (its table still open,
** reading data blocks only) or fails with LSM_CORRUPT (its table reopened) — never wrong
** data — and some do fail. */
static void test_reopen_verifies(void **state) {
  (void)state;
  setup_seed();
  lsm_db *db = build("db_reopen");
  DIR *d = opendir("db_reopen");
  assert_non_null(d);
  struct dirent *e;
  int damaged = 0;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 4 || strcmp(e->d_name + n - 4, ".sst")) continue;
    char path[300];
    snprintf(path, sizeof path, "db_reopen/%s", e->d_name);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t end = lseek(fd, 0, SEEK_END);
    uint8_t junk[8] = {0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef};
    assert_int_equal(pwrite(fd, junk, 8, end - 8), 8); /* the magic */
    close(fd);
    damaged++;
  }
  closedir(d);
  assert_true(damaged >= 3 * MAXOPEN);
  int corrupt = 0;
  for (int i = 0; i < NKEYS; i += 3) {
    char k[16], v[128];
    size_t kn = key_of(k, i);
    void *got = NULL;
    size_t gn;
    int rc = lsm_get(db, NULL, k, kn, &got, &gn);
    if (rc == LSM_CORRUPT) {
      corrupt++;
      continue;
    }
    if (!gen[i]) {
      assert_int_equal(rc, LSM_NOTFOUND);
      continue;
    }
    OK(rc);
    size_t vn = val_of(v, i, gen[i]);
    assert_true(gn == vn && !memcmp(got, v, vn));
    lsm_free(got);
  }
  print_message("%d of %d lookups LSM_CORRUPT\n", corrupt, NKEYS / 3);
  assert_true(corrupt > 0);
  assert_true(stats(db).open_tables <= MAXOPEN);
  OK(lsm_close(db));
  OK(lsm_destroy("db_reopen"));
}

static void test_option(void **state) {
  (void)state;
  lsm_options o;
  lsm_options_default(&o);
  assert_int_equal(o.max_open_files, 1000);
  OK(lsm_options_validate(&o));
  o.max_open_files = 16;
  OK(lsm_options_validate(&o));
  int bad[] = {15, 0, -1, 1000001};
  for (unsigned j = 0; j < sizeof bad / sizeof bad[0]; j++) {
    o.max_open_files = bad[j];
    assert_int_equal(lsm_options_validate(&o), LSM_ERROR);
    assert_non_null(strstr(lsm_errmsg(), "max_open_files"));
    lsm_db *db = NULL;
    assert_int_equal(lsm_open("db_bad", &o, &db), LSM_ERROR);
    assert_null(db);
  }
}

int main(void) {
  const struct CMUnitTest on_shared[] = {
      cmocka_unit_test(test_bounded),
      cmocka_unit_test(test_many_iterators),
  };
  const struct CMUnitTest own[] = {
      cmocka_unit_test(test_option),
      cmocka_unit_test(test_new_tables_opened),
      cmocka_unit_test(test_concurrent),
      cmocka_unit_test(test_reopen_verifies),
  };
  int failures = cmocka_run_group_tests(on_shared, shared_setup, shared_teardown);
  return failures + cmocka_run_group_tests(own, NULL, NULL);
}
