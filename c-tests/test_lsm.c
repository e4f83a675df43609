/* Tests of the engine API (engine/lsm.h, implemented by engine/db.c): basic put/get/delete,
** batches, iterators, snapshots, persistence across reopen (WAL replay and flushed tables),
** option validation, the lock file (a forked child gets LSM_BUSY), concurrent writers (group
** commit), multiget, stats, corruption reporting, and the MODEL TEST: random operations checked
** against an in-memory ordered map, with random reopens and tiny memtables, on both IO
** backends. Seeds are fixed and printed on failure; LSMVTAB_LONG=1 runs longer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lsm.h"
#include "mg_util.h"
#include "vg_util.h"

#define OK(x)                                                                                 \
  do {                                                                                        \
    int rc_ = (x);                                                                            \
    if (rc_ != LSM_OK) fail_msg("%s -> %d (%s)", #x, rc_, lsm_errmsg());                      \
  } while (0)

static lsm_options small_opts(int io) {
  lsm_options o;
  lsm_options_default(&o);
  o.memtable_size = 64u << 10;
  o.io = io;
  o.cache_size = 1u << 20;
  return o;
}

static void get_expect(lsm_db *db, const lsm_snapshot *s, const char *k, const char *want) {
  void *v = NULL;
  size_t vn = 0;
  int rc = lsm_get(db, s, k, strlen(k), &v, &vn);
  if (!want) {
    if (rc != LSM_NOTFOUND) fail_msg("get %s: rc %d, want NOTFOUND", k, rc);
    return;
  }
  if (rc != LSM_OK) fail_msg("get %s: rc %d (%s), want %s", k, rc, lsm_errmsg(), want);
  if (vn != strlen(want) || memcmp(v, want, vn)) fail_msg("get %s: %.*s, want %s", k, (int)vn, (char *)v, want);
  assert_int_equal(((char *)v)[vn], 0);
  lsm_free(v);
}

static int count_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

static void test_basic(void **state) {
  (void)state;
  int fds_before = count_fds();
  lsm_db *db;
  lsm_options o = small_opts(LSM_IO_AUTO);
  OK(lsm_open("basic", &o, &db));
  get_expect(db, NULL, "a", NULL);
  OK(lsm_put(db, "a", 1, "1", 1));
  OK(lsm_put(db, "b", 1, "2", 1));
  OK(lsm_put(db, "c", 1, "", 0));
  get_expect(db, NULL, "a", "1");
  get_expect(db, NULL, "c", "");
  OK(lsm_delete(db, "b", 1));
  get_expect(db, NULL, "b", NULL);
  assert_int_equal(lsm_put(db, "", 0, "x", 1), LSM_ERROR); /* keys are 1.. bytes */
  lsm_batch *b;
  OK(lsm_batch_new(&b));
  OK(lsm_batch_put(b, "d", 1, "4", 1));
  OK(lsm_batch_delete(b, "a", 1));
  OK(lsm_batch_put(b, "d", 1, "5", 1)); /* later record of a batch wins */
  OK(lsm_write(db, b));
  lsm_batch_free(b);
  get_expect(db, NULL, "a", NULL);
  get_expect(db, NULL, "d", "5");
  /* iterate */
  lsm_iter *it;
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
  const char *want[] = {"c", "d"};
  int i = 0;
  for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++) {
    const void *k;
    size_t kn;
    lsm_iter_key(it, &k, &kn);
    assert_true(i < 2);
    assert_int_equal(kn, 1);
    assert_memory_equal(k, want[i], 1);
  }
  assert_int_equal(i, 2);
  OK(lsm_iter_status(it));
  assert_int_equal(lsm_close(db), LSM_MISUSE); /* iterator still open */
  lsm_iter_free(it);
  OK(lsm_close(db));
  /* reopen: WAL replay */
  OK(lsm_open("basic", &o, &db));
  get_expect(db, NULL, "c", "");
  get_expect(db, NULL, "d", "5");
  get_expect(db, NULL, "a", NULL);
  OK(lsm_flush(db, 1));
  OK(lsm_put(db, "e", 1, "6", 1));
  OK(lsm_close(db));
  OK(lsm_open("basic", &o, &db));
  get_expect(db, NULL, "d", "5");
  get_expect(db, NULL, "e", "6");
  lsm_stats st;
  OK(lsm_get_stats(db, &st));
  assert_true(st.level_files[0] >= 1);
  char *json;
  OK(lsm_stats_json(db, &json));
  assert_non_null(strstr(json, "\"io_backend\""));
  lsm_free(json);
  char *rep;
  OK(lsm_check(db, &rep));
  assert_string_equal(rep, "ok");
  lsm_free(rep);
  OK(lsm_close(db));
  assert_int_equal(count_fds(), fds_before); /* every file (and ring) closed */
  OK(lsm_destroy("basic"));
  struct stat sb;
  assert_int_not_equal(stat("basic", &sb), 0);
}

/* Bad arguments get a clear error, never a crash. */
static void test_bad_arguments(void **state) {
  (void)state;
  lsm_options o;
  lsm_options_default(&o);
  o.create_if_missing = 0;
  lsm_db *db = NULL;
  assert_int_equal(lsm_open("no-such-db", &o, &db), LSM_CANTOPEN);
  assert_non_null(strstr(lsm_errmsg(), "no database here"));
  assert_null(db);
  OK(lsm_open("badargs", NULL, &db));
  assert_int_equal(lsm_put(db, NULL, 3, "v", 1), LSM_MISUSE);
  assert_int_equal(lsm_put(db, "k", 1, NULL, 4), LSM_MISUSE);
  assert_int_equal(lsm_put(NULL, "k", 1, "v", 1), LSM_MISUSE);
  assert_int_equal(lsm_put(db, "", 0, "v", 1), LSM_ERROR);
  OK(lsm_put(db, "k", 1, NULL, 0)); /* an empty value may come with a NULL pointer */
  void *v;
  size_t vn;
  OK(lsm_get(db, NULL, "k", 1, &v, &vn));
  assert_int_equal(vn, 0);
  lsm_free(v);
  OK(lsm_close(db));
}

static void test_options(void **state) {
  (void)state;
  lsm_options o;
  lsm_options_default(&o);
  OK(lsm_options_validate(&o));
  assert_int_equal(o.compression, LSM_COMPRESS_LZ4); /* measured default: lsm.h */
  o.compression = 3;
  assert_int_equal(lsm_options_validate(&o), LSM_ERROR);
  lsm_options_default(&o);
  o.block_size = 100;
  assert_int_equal(lsm_options_validate(&o), LSM_ERROR);
  assert_non_null(strstr(lsm_errmsg(), "block_size=100"));
  lsm_db *db;
  assert_int_equal(lsm_open("opts", &o, &db), LSM_ERROR);
  lsm_options_default(&o);
  o.memtable_size = 1000;
  assert_int_equal(lsm_open("opts", &o, &db), LSM_ERROR);
  assert_non_null(strstr(lsm_errmsg(), "memtable_size"));
  lsm_options_default(&o);
  assert_int_equal(o.io_poll_us, 0);
  o.io_poll_us = -1;
  assert_int_equal(lsm_open("opts", &o, &db), LSM_ERROR);
  assert_non_null(strstr(lsm_errmsg(), "io_poll_us=-1"));
  o.io_poll_us = 100001;
  assert_int_equal(lsm_options_validate(&o), LSM_ERROR);
  assert_non_null(strstr(lsm_errmsg(), "io_poll_us=100001"));
  o.io_poll_us = 100000;
  OK(lsm_options_validate(&o));
  lsm_options_default(&o);
  o.sync = 7;
  assert_int_equal(lsm_options_validate(&o), LSM_ERROR);
  assert_non_null(strstr(lsm_errmsg(), "sync"));
  lsm_options_default(&o);
  o.create_if_missing = 0;
  assert_int_not_equal(lsm_open("nothere", &o, &db), LSM_OK);
  lsm_options_default(&o);
  OK(lsm_open("exists", &o, &db));
  OK(lsm_close(db));
  o.error_if_exists = 1;
  assert_int_equal(lsm_open("exists", &o, &db), LSM_ERROR);
}

static void test_busy(void **state) {
  (void)state;
  lsm_db *db;
  OK(lsm_open("busy", NULL, &db));
  pid_t pid = fork();
  if (pid == 0) {
    lsm_db *d2;
    int rc = lsm_open("busy", NULL, &d2);
    _exit(rc == LSM_BUSY && strstr(lsm_errmsg(), "locked by another process") ? 0 : 1);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  OK(lsm_close(db));
  /* released at close */
  OK(lsm_open("busy", NULL, &db));
  OK(lsm_close(db));
}

static void test_snapshot(void **state) {
  (void)state;
  lsm_db *db;
  lsm_options o = small_opts(LSM_IO_AUTO);
  OK(lsm_open("snap", &o, &db));
  OK(lsm_put(db, "k", 1, "old", 3));
  lsm_snapshot *s;
  OK(lsm_snapshot_new(db, &s));
  OK(lsm_put(db, "k", 1, "new", 3));
  OK(lsm_put(db, "j", 1, "x", 1));
  get_expect(db, s, "k", "old");
  get_expect(db, s, "j", NULL);
  OK(lsm_flush(db, 1));
  OK(lsm_delete(db, "k", 1));
  get_expect(db, s, "k", "old");
  get_expect(db, NULL, "k", NULL);
  lsm_iter *it;
  OK(lsm_iter_new(db, s, NULL, 0, NULL, 0, &it));
  OK(lsm_iter_seek_first(it));
  assert_true(lsm_iter_valid(it));
  const void *v;
  size_t vn;
  lsm_iter_value(it, &v, &vn);
  assert_int_equal(vn, 3);
  assert_memory_equal(v, "old", 3);
  OK(lsm_iter_next(it));
  assert_false(lsm_iter_valid(it));
  lsm_iter_free(it);
  assert_int_equal(lsm_close(db), LSM_MISUSE);
  lsm_snapshot_free(db, s);
  OK(lsm_close(db));
}

/* The largest key and value the API allows survive memtable, WAL replay, flush and compaction;
** one byte more is refused. */
static void test_big_values(void **state) {
  (void)state;
  lsm_options o = small_opts(LSM_IO_AUTO);
  lsm_db *db;
  OK(lsm_open("big", &o, &db));
  size_t n = LSM_MAX_VALUE;
  char *v = malloc(n + 1);
  for (size_t i = 0; i <= n; i++) v[i] = (char)(i * 7 + i / 4096);
  static char k[LSM_MAX_KEY + 1];
  memset(k, 'k', sizeof k);
  assert_int_equal(lsm_put(db, k, LSM_MAX_KEY + 1, "x", 1), LSM_TOOBIG);
  assert_int_equal(lsm_put(db, "a", 1, v, n + 1), LSM_TOOBIG);
  OK(lsm_put(db, k, LSM_MAX_KEY, v, n));
  for (int round = 0; round < 3; round++) {
    void *g;
    size_t gn;
    OK(lsm_get(db, NULL, k, LSM_MAX_KEY, &g, &gn));
    assert_int_equal(gn, n);
    assert_true(memcmp(g, v, n) == 0);
    lsm_free(g);
    if (round == 0) { /* replayed from the WAL */
      OK(lsm_close(db));
      OK(lsm_open("big", &o, &db));
    } else if (round == 1) {
      OK(lsm_compact_range(db, NULL, 0, NULL, 0));
    }
  }
  char *rep;
  OK(lsm_check(db, &rep));
  lsm_free(rep);
  OK(lsm_close(db));
  free(v);
}

/* lsm_put/lsm_delete build small records on the stack and larger ones in a batch: sizes on
** both sides of the limit (512 bytes with the WAL room) commit, read back, and replay from the
** WAL after a reopen; a group of them interleaved with lsm_write batches keeps its order. */
static void test_single_sizes(void **state) {
  (void)state;
  lsm_options o = small_opts(LSM_IO_AUTO);
  lsm_db *db;
  OK(lsm_open("single", &o, &db));
  static char v[1200];
  for (size_t i = 0; i < sizeof v; i++) v[i] = (char)('a' + i % 23);
  char k[64];
  for (int round = 0; round < 2; round++) {
    for (int vn = 380; vn <= 560; vn++) {
      int kn = snprintf(k, sizeof k, "key-%04d", vn);
      v[0] = (char)('A' + round);
      OK(lsm_put(db, k, (size_t)kn, v, (size_t)vn));
    }
    /* a large key pushes a delete past the stack limit too */
    char big[700];
    memset(big, 'z', sizeof big);
    OK(lsm_put(db, big, sizeof big, v, 10));
    OK(lsm_delete(db, big, sizeof big));
    OK(lsm_delete(db, "key-0400", 8));
    lsm_batch *b;
    OK(lsm_batch_new(&b));
    OK(lsm_batch_put(b, "key-0401", 8, "batch", 5));
    OK(lsm_write(db, b));
    lsm_batch_free(b);
    for (int pass = 0; pass < 2; pass++) {
      for (int vn = 380; vn <= 560; vn++) {
        int kn = snprintf(k, sizeof k, "key-%04d", vn);
        void *g = NULL;
        size_t gn = 0;
        int rc = lsm_get(db, NULL, k, (size_t)kn, &g, &gn);
        if (vn == 400) {
          assert_int_equal(rc, LSM_NOTFOUND);
          continue;
        }
        OK(rc);
        if (vn == 401) {
          assert_int_equal(gn, 5);
          assert_memory_equal(g, "batch", 5);
        } else {
          assert_int_equal(gn, (size_t)vn);
          assert_int_equal(((char *)g)[0], 'A' + round);
          assert_memory_equal((char *)g + 1, v + 1, (size_t)vn - 1);
        }
        lsm_free(g);
      }
      void *g = NULL;
      size_t gn = 0;
      assert_int_equal(lsm_get(db, NULL, big, sizeof big, &g, &gn), LSM_NOTFOUND);
      OK(lsm_close(db)); /* the second pass reads what the WAL replay rebuilt */
      OK(lsm_open("single", &o, &db));
    }
  }
  OK(lsm_close(db));
}

/* ---- concurrency: writers share commits; readers always see whole batches ---- */

typedef struct thr_arg {
  lsm_db *db;
  int id, n;
} thr_arg;

static void *writer_main(void *p) {
  thr_arg *a = p;
  for (int i = 0; i < a->n; i++) {
    char k[32], v[32];
    lsm_batch *b;
    if (lsm_batch_new(&b)) return (void *)1;
    /* two keys per batch with the same value: a reader must never see them differ */
    snprintf(v, sizeof v, "%d-%d", a->id, i);
    snprintf(k, sizeof k, "t%d-a", a->id);
    lsm_batch_put(b, k, strlen(k), v, strlen(v));
    snprintf(k, sizeof k, "t%d-b", a->id);
    lsm_batch_put(b, k, strlen(k), v, strlen(v));
    int rc = lsm_write(a->db, b);
    lsm_batch_free(b);
    if (rc) return (void *)2;
  }
  return NULL;
}

static void *reader_main(void *p) {
  thr_arg *a = p;
  for (int i = 0; i < a->n; i++) {
    lsm_snapshot *s;
    if (lsm_snapshot_new(a->db, &s)) return (void *)1;
    for (int t = 0; t < 4; t++) {
      char k[32];
      void *v1 = NULL, *v2 = NULL;
      size_t n1 = 0, n2 = 0;
      snprintf(k, sizeof k, "t%d-a", t);
      int r1 = lsm_get(a->db, s, k, strlen(k), &v1, &n1);
      snprintf(k, sizeof k, "t%d-b", t);
      int r2 = lsm_get(a->db, s, k, strlen(k), &v2, &n2);
      int bad = r1 != r2 || (r1 == LSM_OK && (n1 != n2 || memcmp(v1, v2, n1)));
      lsm_free(v1);
      lsm_free(v2);
      if (bad) {
        lsm_snapshot_free(a->db, s);
        return (void *)3;
      }
    }
    lsm_snapshot_free(a->db, s);
  }
  return NULL;
}

static void test_concurrent(void **state) {
  (void)state;
  lsm_db *db;
  lsm_options o = small_opts(LSM_IO_AUTO);
  o.sync = LSM_SYNC_FULL;
  OK(lsm_open("conc", &o, &db));
  pthread_t th[6];
  thr_arg args[6];
  for (int i = 0; i < 6; i++) {
    args[i] = (thr_arg){db, i, i < 4 ? 300 : 600};
    pthread_create(&th[i], NULL, i < 4 ? writer_main : reader_main, &args[i]);
  }
  for (int i = 0; i < 6; i++) {
    void *r;
    pthread_join(th[i], &r);
    assert_null(r);
  }
  for (int t = 0; t < 4; t++) {
    char k[32], v[32];
    snprintf(k, sizeof k, "t%d-b", t);
    snprintf(v, sizeof v, "%d-%d", t, 299);
    get_expect(db, NULL, k, v);
  }
  OK(lsm_close(db));
}

static void test_multiget(void **state) {
  (void)state;
  lsm_db *db;
  lsm_options o = small_opts(LSM_IO_AUTO);
  OK(lsm_open("mget", &o, &db));
  char k[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(k, sizeof k, "key%05d", i);
    if (i % 3) OK(lsm_put(db, k, strlen(k), k, strlen(k)));
    if (i == 1000) OK(lsm_flush(db, 1));
  }
  const void *keys[100];
  size_t kl[100], vl[100];
  void *vals[100];
  int rcs[100];
  char kb[100][32];
  for (int i = 0; i < 100; i++) {
    snprintf(kb[i], 32, "key%05d", i * 20 + 1);
    keys[i] = kb[i];
    kl[i] = strlen(kb[i]);
  }
  OK(lsm_multiget(db, NULL, 100, keys, kl, vals, vl, rcs));
  /* keys no write could have used are simply absent, not errors */
  {
    static char big[LSM_MAX_KEY + 10];
    const void *bk[2] = {big, "x"};
    size_t bl[2] = {sizeof big, 0};
    void *bv[2];
    size_t bvl[2];
    int brc[2];
    OK(lsm_multiget(db, NULL, 2, bk, bl, bv, bvl, brc));
    assert_int_equal(brc[0], LSM_NOTFOUND);
    assert_int_equal(brc[1], LSM_NOTFOUND);
    /* the same through the one-key path */
    for (int j = 0; j < 2; j++) {
      brc[0] = -1;
      OK(lsm_multiget(db, NULL, 1, &bk[j], &bl[j], bv, bvl, brc));
      assert_int_equal(brc[0], LSM_NOTFOUND);
      assert_null(bv[0]);
    }
    const void *nk = NULL;
    size_t nl = 3;
    assert_int_equal(lsm_multiget(db, NULL, 1, &nk, &nl, bv, bvl, brc), LSM_MISUSE);
    assert_int_equal(brc[0], LSM_MISUSE);
    void *v;
    size_t vn;
    assert_int_equal(lsm_get(db, NULL, big, sizeof big, &v, &vn), LSM_NOTFOUND);
  }
  for (int i = 0; i < 100; i++) {
    int n = i * 20 + 1;
    /* one key at a time (the n == 1 path) must give the same answer */
    void *v1 = NULL;
    size_t vl1 = 0;
    int rc1 = -1;
    OK(lsm_multiget(db, NULL, 1, &keys[i], &kl[i], &v1, &vl1, &rc1));
    if (n % 3) {
      assert_int_equal(rcs[i], LSM_OK);
      assert_int_equal(vl[i], kl[i]);
      assert_memory_equal(vals[i], kb[i], kl[i]);
      lsm_free(vals[i]);
      assert_int_equal(rc1, LSM_OK);
      assert_int_equal(vl1, kl[i]);
      assert_memory_equal(v1, kb[i], kl[i]);
      lsm_free(v1);
    } else {
      assert_int_equal(rcs[i], LSM_NOTFOUND);
      assert_int_equal(rc1, LSM_NOTFOUND);
      assert_null(v1);
    }
  }
  OK(lsm_close(db));
}

/* io_poll_us: a multiget whose block reads go to the ring (uring, direct_io, no cache) returns
** the same values whether its waits poll or sleep; the stats show which waits polled. */
static void test_multiget_polled(void **state) {
  (void)state;
  for (int poll = 0; poll <= 1; poll++) {
    lsm_options o = small_opts(LSM_IO_URING);
    o.direct_io = 1;
    o.cache_size = 0;
    o.io_poll_us = poll ? 100000 : 0;
    char dir[32];
    snprintf(dir, sizeof dir, "mgpoll%d", poll);
    lsm_db *db;
    int rc = lsm_open(dir, &o, &db);
    if (rc == LSM_ERROR && strstr(lsm_errmsg(), "io_uring")) skip();
    OK(rc);
    char k[32], v[64];
    for (int i = 0; i < 3000; i++) {
      snprintf(k, sizeof k, "key%05d", i);
      snprintf(v, sizeof v, "value-%05d-%d", i, i * 7);
      OK(lsm_put(db, k, strlen(k), v, strlen(v)));
    }
    OK(lsm_flush(db, 1));
    const void *keys[64];
    size_t kl[64], vl[64];
    void *vals[64];
    int rcs[64];
    char kb[64][32];
    for (int i = 0; i < 64; i++) {
      snprintf(kb[i], 32, "key%05d", i * 47);
      keys[i] = kb[i];
      kl[i] = strlen(kb[i]);
    }
    OK(lsm_multiget(db, NULL, 64, keys, kl, vals, vl, rcs));
    for (int i = 0; i < 64; i++) {
      assert_int_equal(rcs[i], LSM_OK);
      snprintf(v, sizeof v, "value-%05d-%d", i * 47, i * 47 * 7);
      assert_int_equal(vl[i], strlen(v));
      assert_memory_equal(vals[i], v, vl[i]);
      lsm_free(vals[i]);
    }
    lsm_stats st;
    OK(lsm_get_stats(db, &st));
    assert_string_equal(st.io_backend, "uring");
    assert_int_equal(st.io_poll_us, o.io_poll_us);
    if (poll) assert_true(st.io_polled + st.io_poll_slept >= 1);
    else assert_true(st.io_polled == 0 && st.io_poll_slept == 0);
    char *json;
    OK(lsm_stats_json(db, &json));
    assert_non_null(strstr(json, poll ? "\"io_poll_us\":100000" : "\"io_poll_us\":0"));
    lsm_free(json);
    OK(lsm_close(db));
  }
}

/* A flipped byte in a table is reported (LSM_CORRUPT) by get, iteration and check; no get ever
** returns wrong data. */
static void test_corruption(void **state) {
  (void)state;
  mg_test_own(); /* the mapped rounds map (mg_util.h) */
  lsm_options o = small_opts(LSM_IO_AUTO);
  o.compression = LSM_COMPRESS_NONE;
  o.cache_size = 0;
  for (int round = 0; round < 6; round++) { /* rounds 3..5: the same through mmap_reads */
    o.mmap_reads = round >= 3;
    lsm_db *db;
    char dir[32];
    snprintf(dir, sizeof dir, "corrupt%d", round);
    OK(lsm_open(dir, &o, &db));
    char k[32], v[64];
    for (int i = 0; i < 500; i++) {
      snprintf(k, sizeof k, "key%05d", i);
      snprintf(v, sizeof v, "value-%05d-xxxxxxxxxxxxxxxxxxxxxxxx", i);
      OK(lsm_put(db, k, strlen(k), v, strlen(v)));
    }
    OK(lsm_flush(db, 1));
    OK(lsm_close(db));
    /* find the table and flip a byte: in a data block (round 0), the middle, near the end */
    char path[96] = "";
    for (int n = 1; n < 100 && !path[0]; n++) {
      char p[96];
      snprintf(p, sizeof p, "%s/%06d.sst", dir, n);
      if (access(p, F_OK) == 0) snprintf(path, sizeof path, "%s", p);
    }
    assert_true(path[0] != 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    long off = round % 3 == 0 ? 100 : round % 3 == 1 ? sb.st_size / 2 : sb.st_size - 200;
    FILE *f = fopen(path, "r+b");
    fseek(f, off, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(ch ^ 0x10, f);
    fclose(f);
    int orc = lsm_open(dir, &o, &db);
    if (orc != LSM_OK) {
      /* tables open lazily, so open itself succeeds; anything else must be corruption */
      assert_int_equal(LSM_PRIMARY(orc), LSM_CORRUPT);
      continue;
    }
    int corrupt = 0;
    for (int i = 0; i < 500; i++) {
      snprintf(k, sizeof k, "key%05d", i);
      snprintf(v, sizeof v, "value-%05d-xxxxxxxxxxxxxxxxxxxxxxxx", i);
      void *got;
      size_t gn;
      int rc = lsm_get(db, NULL, k, strlen(k), &got, &gn);
      if (rc == LSM_OK) {
        assert_int_equal(gn, strlen(v));
        assert_memory_equal(got, v, gn);
        lsm_free(got);
      } else {
        assert_int_equal(LSM_PRIMARY(rc), LSM_CORRUPT);
        corrupt++;
      }
    }
    assert_true(corrupt > 0);
    lsm_iter *it;
    int irc = lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it); /* may already fail: table metadata */
    if (irc == LSM_OK) {
      lsm_iter_seek_first(it);
      while (lsm_iter_valid(it)) lsm_iter_next(it);
      irc = lsm_iter_status(it);
      lsm_iter_free(it);
    }
    assert_int_equal(LSM_PRIMARY(irc), LSM_CORRUPT);
    /* The same through lsm_iter_next_row / lsm_iter_prev_row: every row before the bad block
    ** in order and right, then the step that reaches it fails with k NULL, and so does the next
    ** call. */
    for (int back = 0; back < 2; back++) {
      irc = lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it);
      if (irc) {
        assert_int_equal(LSM_PRIMARY(irc), LSM_CORRUPT);
        continue;
      }
      irc = back ? lsm_iter_seek_last(it) : lsm_iter_seek_first(it);
      const void *rk = NULL, *rv = NULL;
      size_t rkn = 0, rvn = 0;
      if (!irc && lsm_iter_valid(it)) {
        lsm_iter_key(it, &rk, &rkn);
        lsm_iter_value(it, &rv, &rvn);
      }
      for (int i = back ? 499 : 0; !irc && rk; i += back ? -1 : 1) {
        assert_true(i >= 0 && i < 500);
        snprintf(k, sizeof k, "key%05d", i);
        snprintf(v, sizeof v, "value-%05d-xxxxxxxxxxxxxxxxxxxxxxxx", i);
        assert_true(rkn == strlen(k) && !memcmp(rk, k, rkn));
        assert_true(rvn == strlen(v) && !memcmp(rv, v, rvn));
        irc = back ? lsm_iter_prev_row(it, &rk, &rkn, &rv, &rvn) : lsm_iter_next_row(it, &rk, &rkn, &rv, &rvn);
        if (irc) assert_null(rk);
      }
      if (!irc) irc = lsm_iter_status(it);
      assert_int_equal(LSM_PRIMARY(irc), LSM_CORRUPT);
      assert_false(lsm_iter_valid(it));
      rk = "x";
      assert_int_equal(LSM_PRIMARY(lsm_iter_next_row(it, &rk, &rkn, &rv, &rvn)), LSM_CORRUPT);
      assert_null(rk);
      lsm_iter_free(it);
    }
    char *rep;
    assert_int_equal(LSM_PRIMARY(lsm_check(db, &rep)), LSM_CORRUPT);
    assert_non_null(strstr(rep, ".sst") ? rep : strstr(rep, "table"));
    lsm_free(rep);
    OK(lsm_close(db));
  }
}

/* ---- the model test ------------------------------------------------------------------------- */

/* The model: a sorted array of (key, value) plus a history of snapshot states (copies). */
typedef struct mkv {
  char *k, *v;
  size_t kn, vn;
} mkv;
typedef struct model {
  mkv *a;
  int n, cap;
} model;

static int mcmp(const char *a, size_t an, const char *b, size_t bn) {
  size_t m = an < bn ? an : bn;
  int c = memcmp(a, b, m);
  return c ? c : an < bn ? -1 : an > bn;
}
/* first index with key >= k */
static int mfind(const model *m, const char *k, size_t kn) {
  int lo = 0, hi = m->n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (mcmp(m->a[mid].k, m->a[mid].kn, k, kn) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
static void mput(model *m, const char *k, size_t kn, const char *v, size_t vn) {
  int i = mfind(m, k, kn);
  if (i < m->n && !mcmp(m->a[i].k, m->a[i].kn, k, kn)) {
    free(m->a[i].v);
  } else {
    if (m->n == m->cap) {
      m->cap = m->cap ? 2 * m->cap : 64;
      m->a = realloc(m->a, sizeof(mkv) * (size_t)m->cap);
    }
    memmove(&m->a[i + 1], &m->a[i], sizeof(mkv) * (size_t)(m->n - i));
    m->n++;
    m->a[i].k = malloc(kn);
    memcpy(m->a[i].k, k, kn);
    m->a[i].kn = kn;
  }
  m->a[i].v = malloc(vn ? vn : 1);
  memcpy(m->a[i].v, v, vn);
  m->a[i].vn = vn;
}
static void mdel(model *m, const char *k, size_t kn) {
  int i = mfind(m, k, kn);
  if (i < m->n && !mcmp(m->a[i].k, m->a[i].kn, k, kn)) {
    free(m->a[i].k);
    free(m->a[i].v);
    memmove(&m->a[i], &m->a[i + 1], sizeof(mkv) * (size_t)(m->n - i - 1));
    m->n--;
  }
}
static void mcopy(model *dst, const model *src) {
  dst->n = dst->cap = src->n;
  dst->a = malloc(sizeof(mkv) * (size_t)(src->n ? src->n : 1));
  for (int i = 0; i < src->n; i++) {
    dst->a[i].kn = src->a[i].kn;
    dst->a[i].vn = src->a[i].vn;
    dst->a[i].k = malloc(src->a[i].kn);
    memcpy(dst->a[i].k, src->a[i].k, src->a[i].kn);
    dst->a[i].v = malloc(src->a[i].vn ? src->a[i].vn : 1);
    memcpy(dst->a[i].v, src->a[i].v, src->a[i].vn);
  }
}
static void mfree(model *m) {
  for (int i = 0; i < m->n; i++) {
    free(m->a[i].k);
    free(m->a[i].v);
  }
  free(m->a);
  memset(m, 0, sizeof *m);
}

static uint64_t rs;
static uint32_t rnd(void) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (uint32_t)(rs >> 16);
}

#define NKEYS 10000
static size_t mk_key(char *b, uint32_t i) { return (size_t)snprintf(b, 24, "%08u", i * 2654435761u % 100000007u); }
static size_t mk_val(char *b, uint64_t op) {
  /* mostly small values (many entries per 64 KiB memtable), some large ones */
  size_t n = rnd() % 50 == 0 ? 300 + rnd() % 700 : rnd() % 16;
  for (size_t i = 0; i < n; i++) b[i] = (char)('a' + (op + i) % 26);
  if (n >= 8) snprintf(b, 9, "%08llu", (unsigned long long)(op % 100000000));
  return n;
}

typedef struct msnap {
  lsm_snapshot *s;
  model m;
} msnap;

/* Compare an iterator over [lo, hi) bounds with the model: a scan of up to `len` entries in the
** given direction from a random start. */
static void check_scan(lsm_db *db, const lsm_snapshot *s, const model *m, uint64_t seed, long op, int reverse) {
  char lo[24], hi[24];
  size_t lon = 0, hin = 0;
  int has_lo = rnd() % 3 == 0, has_hi = rnd() % 3 == 0;
  if (has_lo) lon = mk_key(lo, rnd() % NKEYS);
  if (has_hi) hin = mk_key(hi, rnd() % NKEYS);
  lsm_iter *it;
  OK(lsm_iter_new(db, s, has_lo ? lo : NULL, lon, has_hi ? hi : NULL, hin, &it));
  /* model range */
  int mlo = has_lo ? mfind(m, lo, lon) : 0;
  int mhi = has_hi ? mfind(m, hi, hin) : m->n; /* exclusive */
  char start[24];
  size_t sn = mk_key(start, rnd() % NKEYS);
  int pos;
  int how = (int)(rnd() % 3);
  if (!reverse) {
    if (how == 0) {
      OK(lsm_iter_seek_first(it));
      pos = mlo;
    } else {
      OK(lsm_iter_seek(it, start, sn));
      pos = mfind(m, start, sn);
      if (pos < mlo) pos = mlo;
    }
  } else {
    if (how == 0) {
      OK(lsm_iter_seek_last(it));
      pos = mhi - 1;
    } else {
      OK(lsm_iter_seek_for_prev(it, start, sn));
      pos = mfind(m, start, sn);
      if (!(pos < m->n && !mcmp(m->a[pos].k, m->a[pos].kn, start, sn))) pos--;
      if (pos > mhi - 1) pos = mhi - 1;
    }
  }
  int len = (int)(rnd() % 50);
  for (int step = 0; step <= len; step++) {
    int in = pos >= mlo && pos < mhi;
    if (!in) {
      if (lsm_iter_valid(it)) {
        const void *k;
        size_t kn;
        lsm_iter_key(it, &k, &kn);
        fail_msg("seed %llu op %ld: scan (rev %d) valid at %.*s, model at end", (unsigned long long)seed, op,
                 reverse, (int)kn, (const char *)k);
      }
      OK(lsm_iter_status(it));
      break;
    }
    if (!lsm_iter_valid(it))
      fail_msg("seed %llu op %ld: scan (rev %d) ended (status %d), model has %.*s", (unsigned long long)seed, op,
               reverse, lsm_iter_status(it), (int)m->a[pos].kn, m->a[pos].k);
    const void *k, *v;
    size_t kn, vn;
    lsm_iter_key(it, &k, &kn);
    lsm_iter_value(it, &v, &vn);
    if (mcmp(k, kn, m->a[pos].k, m->a[pos].kn) || vn != m->a[pos].vn || memcmp(v, m->a[pos].v, vn))
      fail_msg("seed %llu op %ld: scan (rev %d) at %.*s, model %.*s", (unsigned long long)seed, op, reverse,
               (int)kn, (const char *)k, (int)m->a[pos].kn, m->a[pos].k);
    /* occasionally switch direction for one step and back */
    if (rnd() % 8 == 0) {
      if (reverse) {
        OK(lsm_iter_next(it));
        if (pos + 1 < mhi) {
          assert_true(lsm_iter_valid(it));
          OK(lsm_iter_prev(it));
        } else {
          assert_false(lsm_iter_valid(it));
          break;
        }
      } else {
        OK(lsm_iter_prev(it));
        if (pos - 1 >= mlo) {
          assert_true(lsm_iter_valid(it));
          OK(lsm_iter_next(it));
        } else {
          assert_false(lsm_iter_valid(it));
          break;
        }
      }
    }
    if (rnd() % 2) { /* the one-call form: the row it returns is the iterator's new entry */
      const void *rk, *rv;
      size_t rkn, rvn;
      OK(reverse ? lsm_iter_prev_row(it, &rk, &rkn, &rv, &rvn) : lsm_iter_next_row(it, &rk, &rkn, &rv, &rvn));
      pos += reverse ? -1 : 1;
      if (!rk) {
        assert_false(lsm_iter_valid(it));
      } else {
        assert_true(lsm_iter_valid(it));
        lsm_iter_key(it, &k, &kn);
        lsm_iter_value(it, &v, &vn);
        assert_true(k == rk && kn == rkn && v == rv && vn == rvn);
      }
    } else if (reverse) {
      OK(lsm_iter_prev(it));
      pos--;
    } else {
      OK(lsm_iter_next(it));
      pos++;
    }
  }
  lsm_iter_free(it);
}

/* One iterator re-seeked several times: the level iterator keeps the file it is in from one
** seek to the next and the table iterator its block, so a stale position would show here.
** Each round: seek (or seek_for_prev) to a random key, some steps forward, then back past the
** start, all against the model. */
static void check_reseek(lsm_db *db, const lsm_snapshot *s, const model *m, uint64_t seed, long op) {
  lsm_iter *it;
  OK(lsm_iter_new(db, s, NULL, 0, NULL, 0, &it));
  for (int round = 0; round < 8; round++) {
    char start[24];
    size_t sn = mk_key(start, rnd() % NKEYS);
    int pos = mfind(m, start, sn), for_prev = rnd() % 4 == 0;
    if (for_prev) {
      OK(lsm_iter_seek_for_prev(it, start, sn));
      if (!(pos < m->n && !mcmp(m->a[pos].k, m->a[pos].kn, start, sn))) pos--;
    } else {
      OK(lsm_iter_seek(it, start, sn));
    }
    int fwd = (int)(rnd() % 12), back = (int)(rnd() % 16);
    for (int step = 0; step <= fwd + back; step++) {
      if (pos < 0 || pos >= m->n) {
        if (lsm_iter_valid(it))
          fail_msg("seed %llu op %ld: reseek round %d step %d: valid, model at end",
                   (unsigned long long)seed, op, round, step);
        OK(lsm_iter_status(it));
        break;
      }
      if (!lsm_iter_valid(it))
        fail_msg("seed %llu op %ld: reseek round %d step %d (for_prev %d): ended (status %d), model has %.*s",
                 (unsigned long long)seed, op, round, step, for_prev, lsm_iter_status(it),
                 (int)m->a[pos].kn, m->a[pos].k);
      const void *k, *v;
      size_t kn, vn;
      lsm_iter_key(it, &k, &kn);
      lsm_iter_value(it, &v, &vn);
      if (mcmp(k, kn, m->a[pos].k, m->a[pos].kn) || vn != m->a[pos].vn || memcmp(v, m->a[pos].v, vn))
        fail_msg("seed %llu op %ld: reseek round %d step %d at %.*s, model %.*s", (unsigned long long)seed, op,
                 round, step, (int)kn, (const char *)k, (int)m->a[pos].kn, m->a[pos].k);
      if (step < fwd) {
        OK(lsm_iter_next(it));
        pos++;
      } else {
        OK(lsm_iter_prev(it));
        pos--;
      }
    }
  }
  lsm_iter_free(it);
}

static void check_get(lsm_db *db, const lsm_snapshot *s, const model *m, uint64_t seed, long op) {
  char k[24];
  size_t kn = mk_key(k, rnd() % NKEYS);
  int i = mfind(m, k, kn);
  int present = i < m->n && !mcmp(m->a[i].k, m->a[i].kn, k, kn);
  void *v = NULL;
  size_t vn = 0;
  int rc = lsm_get(db, s, k, kn, &v, &vn);
  /* lsm_exists must agree with lsm_get (memtable filters, table filters, tombstones, snapshots) */
  int erc = lsm_exists(db, s, k, kn);
  if (erc != (present ? LSM_OK : LSM_NOTFOUND))
    fail_msg("seed %llu op %ld: exists %s rc %d, model %s", (unsigned long long)seed, op, k, erc,
             present ? "has it" : "has none");
  if (present) {
    if (rc != LSM_OK) fail_msg("seed %llu op %ld: get %s rc %d (%s), model has it", (unsigned long long)seed, op, k, rc, lsm_errmsg());
    if (vn != m->a[i].vn || memcmp(v, m->a[i].v, vn))
      fail_msg("seed %llu op %ld: get %s value differs", (unsigned long long)seed, op, k);
    lsm_free(v);
  } else if (rc != LSM_NOTFOUND) {
    fail_msg("seed %llu op %ld: get %s rc %d, model has none", (unsigned long long)seed, op, k, rc);
  }
}

static void check_multiget(lsm_db *db, const lsm_snapshot *s, const model *m, uint64_t seed, long op) {
  enum { MAXN = 40 };
  /* n == 1 is a separate fast path (the plain get): test it as often as the batched one */
  int n = rnd() % 2 ? 1 : 1 + (int)(rnd() % MAXN);
  char kb[MAXN][24];
  const void *keys[MAXN];
  size_t kl[MAXN], vl[MAXN];
  void *vals[MAXN];
  int rcs[MAXN];
  for (int i = 0; i < n; i++) {
    kl[i] = mk_key(kb[i], rnd() % NKEYS);
    keys[i] = kb[i];
  }
  OK(lsm_multiget(db, s, n, keys, kl, vals, vl, rcs));
  for (int i = 0; i < n; i++) {
    int j = mfind(m, kb[i], kl[i]);
    int present = j < m->n && !mcmp(m->a[j].k, m->a[j].kn, kb[i], kl[i]);
    if (present != (rcs[i] == LSM_OK) || (!present && rcs[i] != LSM_NOTFOUND))
      fail_msg("seed %llu op %ld: multiget %s rc %d, model %s", (unsigned long long)seed, op, kb[i], rcs[i],
               present ? "has it" : "has none");
    if (present) {
      if (vl[i] != m->a[j].vn || memcmp(vals[i], m->a[j].v, vl[i]))
        fail_msg("seed %llu op %ld: multiget %s value differs", (unsigned long long)seed, op, kb[i]);
      lsm_free(vals[i]);
    }
  }
}

static void model_run(int io, uint64_t seed, long nops) {
  rs = seed * 0x9E3779B97F4A7C15ull + 1;
  char dir[64];
  snprintf(dir, sizeof dir, "model-%d-%llu", io, (unsigned long long)seed);
  lsm_options o = small_opts(io);
  o.compression = (int)(seed % 3); /* none, zstd, lz4 */
  o.block_size = 512 + 512 * (seed % 4);
  o.sync = LSM_SYNC_OFF;
  /* the smallest files and levels allowed, a compaction after every flush: over a thousand
  ** compactions per backend over several levels, trivial moves included */
  o.target_file_size = 64u << 10; /* the smallest allowed */
  o.level1_size = 64u << 10;
  o.l0_compaction_trigger = 1;
  lsm_db *db;
  OK(lsm_open(dir, &o, &db));
  model m = {0};
  uint64_t total_compactions = 0, total_flushes = 0;
  msnap snaps[4];
  int nsnap = 0;
  char k[24], v[1100];
  for (long op = 0; op < nops; op++) {
    uint32_t r = rnd() % 1000;
    if (r < 450) {
      size_t kn = mk_key(k, rnd() % NKEYS), vn = mk_val(v, (uint64_t)op);
      OK(lsm_put(db, k, kn, v, vn));
      mput(&m, k, kn, v, vn);
    } else if (r < 600) {
      size_t kn = mk_key(k, rnd() % NKEYS);
      OK(lsm_delete(db, k, kn));
      mdel(&m, k, kn);
    } else if (r < 640) {
      lsm_batch *b;
      OK(lsm_batch_new(&b));
      int cnt = 1 + (int)(rnd() % 20);
      for (int j = 0; j < cnt; j++) {
        size_t kn = mk_key(k, rnd() % NKEYS);
        if (rnd() % 4) {
          size_t vn = mk_val(v, (uint64_t)op + (uint64_t)j);
          OK(lsm_batch_put(b, k, kn, v, vn));
          mput(&m, k, kn, v, vn);
        } else {
          OK(lsm_batch_delete(b, k, kn));
          mdel(&m, k, kn);
        }
      }
      OK(lsm_write(db, b));
      lsm_batch_free(b);
    } else if (r < 880) {
      int si = nsnap && rnd() % 3 == 0 ? (int)(rnd() % (uint32_t)nsnap) : -1;
      check_get(db, si < 0 ? NULL : snaps[si].s, si < 0 ? &m : &snaps[si].m, seed, op);
    } else if (r < 900) {
      int si = nsnap && rnd() % 3 == 0 ? (int)(rnd() % (uint32_t)nsnap) : -1;
      check_multiget(db, si < 0 ? NULL : snaps[si].s, si < 0 ? &m : &snaps[si].m, seed, op);
    } else if (r < 940) {
      int si = nsnap && rnd() % 3 == 0 ? (int)(rnd() % (uint32_t)nsnap) : -1;
      check_scan(db, si < 0 ? NULL : snaps[si].s, si < 0 ? &m : &snaps[si].m, seed, op, 0);
      if (rnd() % 2) check_reseek(db, si < 0 ? NULL : snaps[si].s, si < 0 ? &m : &snaps[si].m, seed, op);
    } else if (r < 980) {
      int si = nsnap && rnd() % 3 == 0 ? (int)(rnd() % (uint32_t)nsnap) : -1;
      check_scan(db, si < 0 ? NULL : snaps[si].s, si < 0 ? &m : &snaps[si].m, seed, op, 1);
    } else if (r < 992) {
      /* take or drop a snapshot */
      if (nsnap < 4 && rnd() % 2) {
        OK(lsm_snapshot_new(db, &snaps[nsnap].s));
        mcopy(&snaps[nsnap].m, &m);
        nsnap++;
      } else if (nsnap) {
        int si = (int)(rnd() % (uint32_t)nsnap);
        lsm_snapshot_free(db, snaps[si].s);
        mfree(&snaps[si].m);
        snaps[si] = snaps[--nsnap];
      }
    } else if (r < 996) {
      if (rnd() % 16 == 0) OK(lsm_flush(db, rnd() % 2)); /* most flushes come from full memtables */
    } else if (rnd() % 40 == 0) {
      /* reopen (snapshots die with the db) */
      while (nsnap) {
        nsnap--;
        lsm_snapshot_free(db, snaps[nsnap].s);
        mfree(&snaps[nsnap].m);
      }
      lsm_stats cs;
      OK(lsm_get_stats(db, &cs));
      total_compactions += cs.compactions;
      total_flushes += cs.flushes;
      OK(lsm_close(db));
      OK(lsm_open(dir, &o, &db));
    }
  }
  while (nsnap) {
    nsnap--;
    lsm_snapshot_free(db, snaps[nsnap].s);
    mfree(&snaps[nsnap].m);
  }
  lsm_stats st;
  OK(lsm_get_stats(db, &st));
  char levels[200] = "";
  for (int l = 0; l < LSM_MAX_LEVELS; l++)
    snprintf(levels + strlen(levels), sizeof levels - strlen(levels), " %llu", (unsigned long long)st.level_files[l]);
  total_compactions += st.compactions;
  total_flushes += st.flushes;
  print_message("model io=%s seed %llu: %ld ops, %d keys live; %llu flushes, %llu compactions; "
                "files per level%s\n", st.io_backend, (unsigned long long)seed, nops, m.n,
                (unsigned long long)total_flushes, (unsigned long long)total_compactions, levels);
  /* full comparison at the end, after a reopen */
  OK(lsm_close(db));
  OK(lsm_open(dir, &o, &db));
  lsm_iter *it;
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
  int i = 0;
  OK(lsm_iter_seek_first(it));
  for (; lsm_iter_valid(it); i++) {
    const void *kk, *vv;
    size_t kn, vn;
    lsm_iter_key(it, &kk, &kn);
    lsm_iter_value(it, &vv, &vn);
    if (i >= m.n || mcmp(kk, kn, m.a[i].k, m.a[i].kn) || vn != m.a[i].vn || memcmp(vv, m.a[i].v, vn))
      fail_msg("seed %llu: final scan differs at entry %d", (unsigned long long)seed, i);
    OK(lsm_iter_next(it));
  }
  OK(lsm_iter_status(it));
  assert_int_equal(i, m.n);
  /* again through lsm_iter_next_row and, backward, lsm_iter_prev_row */
  for (int back = 0; back < 2; back++) {
    const void *kk = NULL, *vv = NULL;
    size_t kn = 0, vn = 0;
    OK(back ? lsm_iter_seek_last(it) : lsm_iter_seek_first(it));
    if (lsm_iter_valid(it)) {
      lsm_iter_key(it, &kk, &kn);
      lsm_iter_value(it, &vv, &vn);
    }
    int cnt = 0;
    for (i = back ? m.n - 1 : 0; kk; i += back ? -1 : 1, cnt++) {
      if (i < 0 || i >= m.n || mcmp(kk, kn, m.a[i].k, m.a[i].kn) || vn != m.a[i].vn ||
          memcmp(vv, m.a[i].v, vn))
        fail_msg("seed %llu: final %s row scan differs at entry %d", (unsigned long long)seed,
                 back ? "backward" : "forward", i);
      OK(back ? lsm_iter_prev_row(it, &kk, &kn, &vv, &vn) : lsm_iter_next_row(it, &kk, &kn, &vv, &vn));
    }
    assert_int_equal(cnt, m.n);
    assert_false(lsm_iter_valid(it));
    assert_int_equal(lsm_iter_next_row(it, &kk, &kn, &vv, &vn), LSM_MISUSE); /* not valid */
  }
  lsm_iter_free(it);
  char *rep;
  OK(lsm_check(db, &rep));
  lsm_free(rep);
  OK(lsm_close(db));
  OK(lsm_destroy(dir));
  mfree(&m);
}

static long model_ops(void) {
  const char *n = getenv("LSMVTAB_MODEL_OPS"); /* debugging: a chosen count */
  if (n) return atol(n);
  const char *l = getenv("LSMVTAB_LONG");
  if (l && *l == '1') return 5000000;
  if (vg_running()) return 100000; /* memcheck: ~100 s for both backends (make valgrind) */
#if defined(__SANITIZE_ADDRESS__)
  return 150000;
#else
  return 1000000;
#endif
}

/* Iterator walk over many small files on several levels plus L0 and the memtable: random
** seeks, next/prev runs and direction switches against a model array. Keys share their
** first 8 bytes and more ("walk-key-000123"), so comparisons go past the first words. Checks
** the per-entry fast paths of the level, table and block iterators (file and block
** boundaries in both directions) and the merge's cached keys. */
#define WK 20000
static void walk_key(char *b, int i) { snprintf(b, 24, "walk-key-%06d", i); }

/* mmap_reads (both backends, lz4 and raw blocks): lsm_get and lsm_exists answer the same for
** a row in a lower level, in an L0 table, only in the memtable, overwritten (old version
** below, new one in L0), and deleted (tombstone in L0 or the memtable over a row below). */
static void test_mmap_reads(void **state) {
  (void)state;
  mg_test_own(); /* the mapped rounds map (mg_util.h) */
  const int n = 3000;
  for (int round = 0; round < 4; round++) {
    lsm_options o = small_opts(round % 2 ? LSM_IO_URING : LSM_IO_SYNC);
    o.mmap_reads = 1;
    o.memtable_size = 8u << 20; /* flushes only when asked */
    o.compression = round < 2 ? LSM_COMPRESS_LZ4 : LSM_COMPRESS_NONE;
    o.block_size = 1024;
    char dir[32], k[32], v[64];
    snprintf(dir, sizeof dir, "mmap%d", round);
    lsm_db *db;
    OK(lsm_open(dir, &o, &db));
    for (int i = 0; i < n; i++) { /* every key, compacted below L0 */
      snprintf(k, sizeof k, "key%06d", i);
      snprintf(v, sizeof v, "base-%06d-xxxxxxxxxxxxxxxxxxxx", i);
      OK(lsm_put(db, k, strlen(k), v, strlen(v)));
    }
    OK(lsm_flush(db, 1));
    OK(lsm_compact_range(db, NULL, 0, NULL, 0));
    for (int i = 0; i < n; i += 3) { /* L0: overwrite i % 6 == 0, delete i % 6 == 3 */
      snprintf(k, sizeof k, "key%06d", i);
      snprintf(v, sizeof v, "l0-%06d", i);
      if (i % 6 == 0) OK(lsm_put(db, k, strlen(k), v, strlen(v)));
      else OK(lsm_delete(db, k, strlen(k)));
    }
    for (int i = n; i < n + 200; i++) { /* new keys in L0 */
      snprintf(k, sizeof k, "key%06d", i);
      snprintf(v, sizeof v, "l0-%06d", i);
      OK(lsm_put(db, k, strlen(k), v, strlen(v)));
    }
    OK(lsm_flush(db, 1));
    for (int i = 1; i < n; i += 7) { /* memtable: deletes over rows below, new rows */
      snprintf(k, sizeof k, "key%06d", i);
      OK(lsm_delete(db, k, strlen(k)));
    }
    for (int i = n + 200; i < n + 300; i++) {
      snprintf(k, sizeof k, "key%06d", i);
      snprintf(v, sizeof v, "mem-%06d", i);
      OK(lsm_put(db, k, strlen(k), v, strlen(v)));
    }
    lsm_stats st;
    OK(lsm_get_stats(db, &st));
    assert_true(st.level_files[0] >= 1);
    uint64_t below = 0;
    for (int l = 1; l < LSM_MAX_LEVELS; l++) below += st.level_files[l];
    assert_true(below >= 1);
    for (int pass = 0; pass < 3; pass++) { /* the block cache admits on the second miss */
      for (int i = 0; i < n + 310; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        const char *want = v;
        if (i >= n + 300) want = NULL;
        else if (i >= n + 200) snprintf(v, sizeof v, "mem-%06d", i);
        else if (i >= n) snprintf(v, sizeof v, "l0-%06d", i);
        else if (i % 7 == 1) want = NULL;
        else if (i % 6 == 0) snprintf(v, sizeof v, "l0-%06d", i);
        else if (i % 6 == 3) want = NULL;
        else snprintf(v, sizeof v, "base-%06d-xxxxxxxxxxxxxxxxxxxx", i);
        get_expect(db, NULL, k, want);
        int rc = lsm_exists(db, NULL, k, strlen(k));
        if (rc != (want ? LSM_OK : LSM_NOTFOUND)) fail_msg("exists %s: rc %d", k, rc);
      }
    }
    /* the option reached the table readers: their files are mapped (and unmapped at close) */
    if (sizeof(void *) >= 8) assert_true(mg_mapped_tables(dir) >= 2);
    OK(lsm_close(db));
    assert_int_equal(mg_mapped_tables(dir), 0);
  }
  /* and without the option nothing is mapped */
  lsm_options o = small_opts(LSM_IO_AUTO);
  lsm_db *db;
  OK(lsm_open("nomap", &o, &db));
  for (int i = 0; i < 500; i++) {
    char k[32];
    snprintf(k, sizeof k, "key%06d", i);
    OK(lsm_put(db, k, strlen(k), "v", 1));
  }
  OK(lsm_flush(db, 1));
  get_expect(db, NULL, "key000007", "v");
  assert_int_equal(mg_mapped_tables("nomap"), 0);
  OK(lsm_close(db));
}

/* mmap_reads over a table file truncated by someone else while the db has it open and mapped:
** lsm_get, lsm_multiget, an iterator's seek, scans from the first key running into it (with
** automatic read-ahead windows and with a hinted one: blocks decoded straight from the
** mapping) and a hinted backward seek that need a block from the lost part return LSM_IOERR
** (mapguard: an error code, not a SIGBUS), again and again; rows in the memtable still read
** and the db closes. */
/* Touch `kib` KiB of this thread's stack below the caller's frame. Valgrind pushes a signal's
** frame only where the client's stack can be extended, and for the SIGBUS test_mmap_truncated
** provokes that failed ("Can't extend stack ... during signal delivery", the run killed by
** SIGSEGV) once a lookup's frames first went deeper than the stack had been touched; touched
** first, the test no longer depends on frame sizes. Natively the kernel grows the stack for the
** frame and this changes nothing. */
static __attribute__((noinline)) void stack_touch(size_t kib) {
  volatile char buf[512 << 10];
  size_t n = kib << 10 < sizeof buf ? kib << 10 : sizeof buf;
  for (size_t i = 0; i < n; i += 4096) buf[i] = 0;
}

static void test_mmap_truncated(void **state) {
  (void)state;
  stack_touch(512);
  mg_test_own();
  if (sizeof(void *) < 8) return;
  lsm_options o = small_opts(LSM_IO_SYNC);
  o.mmap_reads = 1;
  o.memtable_size = 8u << 20;
  o.cache_size = 0; /* every get reads its block */
  o.block_size = 1024;
  o.compression = LSM_COMPRESS_LZ4;
  lsm_db *db;
  OK(lsm_open("mtrunc", &o, &db));
  char k[32], v[64];
  for (int i = 0; i < 3000; i++) {
    snprintf(k, sizeof k, "key%06d", i);
    snprintf(v, sizeof v, "value-%06d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
    OK(lsm_put(db, k, strlen(k), v, strlen(v)));
  }
  OK(lsm_flush(db, 1));
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  get_expect(db, NULL, "key000010", "value-000010-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  assert_true(mg_mapped_tables("mtrunc") >= 1);
  DIR *d = opendir("mtrunc");
  assert_non_null(d);
  struct dirent *de;
  int ntrunc = 0;
  while ((de = readdir(d))) {
    if (!strstr(de->d_name, ".sst")) continue;
    char path[300];
    snprintf(path, sizeof path, "mtrunc/%s", de->d_name);
    assert_int_equal(truncate(path, 4096), 0); /* as another process would */
    ntrunc++;
  }
  closedir(d);
  assert_true(ntrunc >= 1);
  OK(lsm_put(db, "zmem", 4, "m", 1));
  for (int rep = 0; rep < 3; rep++) {
    void *val = NULL;
    size_t vn = 0;
    int rc = lsm_get(db, NULL, "key002500", 9, &val, &vn);
    if ((rc & 0xff) != LSM_IOERR) fail_msg("get: rc %d (%s), want LSM_IOERR", rc, lsm_errmsg());
    assert_null(val);
    const void *keys[2] = {"key002000", "key002999"};
    size_t kl[2] = {9, 9};
    void *vals[2] = {NULL, NULL};
    size_t vl[2];
    int rcs[2];
    rc = lsm_multiget(db, NULL, 2, keys, kl, vals, vl, rcs);
    if ((rc & 0xff) != LSM_IOERR || (rcs[0] & 0xff) != LSM_IOERR || (rcs[1] & 0xff) != LSM_IOERR)
      fail_msg("multiget: rc %d, rcs %d %d (%s)", rc, rcs[0], rcs[1], lsm_errmsg());
    lsm_free(vals[0]);
    lsm_free(vals[1]);
    lsm_iter *it;
    OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
    rc = lsm_iter_seek(it, "key001500", 9);
    if (!rc) rc = lsm_iter_status(it);
    if ((rc & 0xff) != LSM_IOERR) fail_msg("seek: rc %d (%s), want LSM_IOERR", rc, lsm_errmsg());
    assert_false(lsm_iter_valid(it));
    lsm_iter_free(it);
    /* scans from the first key into the lost part: automatic windows, then a hinted one
    ** (views of the mapping, blocks decoded from it under the guard); a hinted backward seek
    ** into the lost part */
    for (int hinted = 0; hinted < 2; hinted++) {
      OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
      if (hinted) lsm_iter_hint(it, 1000);
      int rows = 0;
      rc = lsm_iter_seek_first(it);
      while (!rc && lsm_iter_valid(it)) {
        rows++;
        rc = lsm_iter_next(it);
      }
      if (!rc) rc = lsm_iter_status(it);
      if ((rc & 0xff) != LSM_IOERR || rows == 0)
        fail_msg("scan (hinted %d): rc %d after %d rows (%s), want LSM_IOERR", hinted, rc, rows, lsm_errmsg());
      lsm_iter_free(it);
    }
    OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
    lsm_iter_hint(it, 50);
    rc = lsm_iter_seek_for_prev(it, "key002500", 9);
    if (!rc) rc = lsm_iter_status(it);
    if ((rc & 0xff) != LSM_IOERR) fail_msg("backward seek: rc %d (%s), want LSM_IOERR", rc, lsm_errmsg());
    lsm_iter_free(it);
    get_expect(db, NULL, "zmem", "m");
  }
  lsm_close(db); /* whatever it says about the damaged files: it returns */
}

/* lsm_exists fetches the filter lines of every candidate table before probing any, in windows
** of VER_EXQ_MAX (16) files: it must still answer exactly as lsm_get for keys only in the
** memtable, only in an L0 file (the oldest ones are past the first window), only deep, deleted
** (a tombstone newer than the value, in the memtable or in a newer table), resurrected, under a
** snapshot, longer than the stack seek key, and absent (with bloom false positives: bloom_bits 1,
** and without filters), with more L0 files than one window and a table cache that must reopen. */
static void exists_agrees(lsm_db *db, const lsm_snapshot *s, const char *k, size_t kn, int want) {
  void *v = NULL;
  size_t vn = 0;
  int grc = lsm_get(db, s, k, kn, &v, &vn);
  if (grc == LSM_OK) lsm_free(v);
  int erc = lsm_exists(db, s, k, kn);
  if (erc != grc || erc != (want ? LSM_OK : LSM_NOTFOUND))
    fail_msg("key %.*s: exists %d, get %d, want %s", (int)(kn > 40 ? 40 : kn), k, erc, grc,
             want ? "present" : "absent");
}

static void exists_layers_run(int bloom_bits) {
  char dir[32], k[400];
  snprintf(dir, sizeof dir, "exists-%d", bloom_bits);
  lsm_options o = small_opts(LSM_IO_SYNC);
  o.bloom_bits = bloom_bits;
  o.l0_compaction_trigger = 30; /* keep every flushed table in L0 */
  o.l0_slowdown_trigger = 40;
  o.l0_stop_trigger = 50;
  o.max_open_files = 16; /* fewer than the tables: acquiring reopens some */
  lsm_db *db;
  OK(lsm_open(dir, &o, &db));
  enum { NL0 = 20, PER = 20 };
  /* deep: "deep-*" and "del-*" values, compacted below L0 */
  for (int i = 0; i < 200; i++) {
    int n = snprintf(k, sizeof k, "deep-%04d", i * 2);
    OK(lsm_put(db, k, (size_t)n, "v", 1));
    n = snprintf(k, sizeof k, "del-%04d", i);
    OK(lsm_put(db, k, (size_t)n, "v", 1));
  }
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  lsm_snapshot *snap;
  OK(lsm_snapshot_new(db, &snap));
  /* NL0 flushed L0 tables "l0-FF-*", all overlapping; file 5 deletes the even "del-*",
  ** file 10 puts back del-0000, file 2 holds a long key */
  memset(k, 'L', sizeof k);
  for (int f = 0; f < NL0; f++) {
    for (int i = 0; i < PER; i++) {
      int n = snprintf(k, sizeof k, "l0-%02d-%04d", f, i * 2);
      OK(lsm_put(db, k, (size_t)n, "v", 1));
    }
    if (f == 5)
      for (int i = 0; i < 200; i += 2) {
        int n = snprintf(k, sizeof k, "del-%04d", i);
        OK(lsm_delete(db, k, (size_t)n));
      }
    /* every table spans all keys: each lookup has every L0 file as a candidate */
    OK(lsm_put(db, "A", 1, "v", 1));
    OK(lsm_put(db, "zz", 2, "v", 1));
    if (f == 10) OK(lsm_put(db, "del-0000", 8, "w", 1));
    if (f == 2) {
      memset(k, 'L', sizeof k);
      OK(lsm_put(db, k, 300, "v", 1));
    }
    OK(lsm_flush(db, 1));
  }
  lsm_stats st;
  OK(lsm_get_stats(db, &st));
  if (st.level_files[0] <= 16) fail_msg("only %llu L0 files", (unsigned long long)st.level_files[0]);
  /* memtable: "mem-*", and tombstones over an L0 key and a deep key */
  for (int i = 0; i < 50; i++) {
    int n = snprintf(k, sizeof k, "mem-%04d", i * 2);
    OK(lsm_put(db, k, (size_t)n, "v", 1));
  }
  OK(lsm_delete(db, "l0-03-0002", 10));
  OK(lsm_delete(db, "deep-0004", 9));
  for (int i = 0; i < 100; i++) { /* present (even) and absent (odd) in each layer */
    int n = snprintf(k, sizeof k, "mem-%04d", i);
    exists_agrees(db, NULL, k, (size_t)n, i % 2 == 0);
  }
  for (int f = 0; f < NL0; f++)
    for (int i = 0; i < 2 * PER; i++) {
      int n = snprintf(k, sizeof k, "l0-%02d-%04d", f, i);
      int live = i % 2 == 0 && !(f == 3 && i == 2);
      exists_agrees(db, NULL, k, (size_t)n, live);
      if (f == 3 && i == 2) exists_agrees(db, snap, k, (size_t)n, 0); /* not yet written */
    }
  for (int i = 0; i < 400; i++) {
    int n = snprintf(k, sizeof k, "deep-%04d", i);
    exists_agrees(db, NULL, k, (size_t)n, i % 2 == 0 && i != 4);
    exists_agrees(db, snap, k, (size_t)n, i % 2 == 0); /* before the memtable's tombstone */
  }
  for (int i = 0; i < 200; i++) {
    int n = snprintf(k, sizeof k, "del-%04d", i);
    exists_agrees(db, NULL, k, (size_t)n, i % 2 == 1 || i == 0);
    exists_agrees(db, snap, k, (size_t)n, 1); /* before the tombstones */
  }
  memset(k, 'L', sizeof k);
  exists_agrees(db, NULL, k, 300, 1);
  exists_agrees(db, snap, k, 300, 0);
  exists_agrees(db, NULL, k, 299, 0);
  exists_agrees(db, NULL, k, 301, 0);
  lsm_snapshot_free(db, snap);
  OK(lsm_close(db));
}

static void test_exists_layers(void **state) {
  (void)state;
  exists_layers_run(10);
  exists_layers_run(1); /* many false positives: a may-contain answer reads the block */
  exists_layers_run(0); /* no filters */
}

static void test_iter_walk(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 2; seed++) {
    rs = seed * 0x9E3779B97F4A7C15ull + 5;
    char dir[32];
    snprintf(dir, sizeof dir, "walk-%llu", (unsigned long long)seed);
    lsm_options o = small_opts(seed % 2 ? LSM_IO_SYNC : LSM_IO_URING);
    o.compression = (int)(seed % 3); /* none, zstd, lz4 */
    o.block_size = 512;
    o.sync = LSM_SYNC_OFF;
    o.target_file_size = 64u << 10;
    o.level1_size = 64u << 10;
    lsm_db *db;
    OK(lsm_open(dir, &o, &db));
    static int ver[WK]; /* 0 = absent, else the value's version */
    memset(ver, 0, sizeof ver);
    char k[24], v[80];
    for (int op = 1; op <= 4 * WK; op++) {
      int i = (int)(rnd() % WK);
      walk_key(k, i);
      if (rnd() % 6 == 0) {
        OK(lsm_delete(db, k, strlen(k)));
        ver[i] = 0;
      } else {
        snprintf(v, sizeof v, "value-%d-%0*d", op, (int)(rnd() % 60), 0);
        OK(lsm_put(db, k, strlen(k), v, strlen(v)));
        ver[i] = op;
      }
      /* most data pushed down the levels, some in L0, the rest in the memtable */
      if (op == 2 * WK) OK(lsm_compact_range(db, NULL, 0, NULL, 0));
      if (op == 3 * WK) OK(lsm_flush(db, 1));
    }
    lsm_stats st;
    OK(lsm_get_stats(db, &st));
    int deep = 0;
    for (int l = 1; l < LSM_MAX_LEVELS; l++) deep += st.level_files[l] > 1;
    char levels[128] = "";
    for (int l = 0; l < LSM_MAX_LEVELS; l++)
      snprintf(levels + strlen(levels), sizeof levels - strlen(levels), " %llu", (unsigned long long)st.level_files[l]);
    print_message("walk seed %llu: files per level%s\n", (unsigned long long)seed, levels);
    if (!deep) fail_msg("seed %llu: no level with several files", (unsigned long long)seed);
    int live[WK], nl = 0;
    for (int i = 0; i < WK; i++)
      if (ver[i]) live[nl++] = i;
    lsm_iter *it;
    OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
    int pos = -1; /* index into live[], -1 = not valid */
    for (int op = 0; op < 6000; op++) {
      int r = (int)(rnd() % 100);
      if (r < 4) {
        int t = (int)(rnd() % (WK + 1));
        walk_key(k, t);
        OK(lsm_iter_seek(it, k, strlen(k)));
        for (pos = 0; pos < nl && live[pos] < t; pos++) {}
        if (pos == nl) pos = -1;
      } else if (r < 5) {
        OK(lsm_iter_seek_first(it));
        pos = nl ? 0 : -1;
      } else if (r < 6) {
        OK(lsm_iter_seek_last(it));
        pos = nl - 1;
      } else if (pos < 0) {
        continue;
      } else if ((op / 50) % 2 == 0 ? r < 80 : r < 25) { /* runs of mostly one direction */
        OK(lsm_iter_next(it));
        pos = pos + 1 < nl ? pos + 1 : -1;
      } else {
        OK(lsm_iter_prev(it));
        pos--;
      }
      if (pos < 0) {
        if (lsm_iter_valid(it)) fail_msg("seed %llu op %d: valid, want end", (unsigned long long)seed, op);
        continue;
      }
      if (!lsm_iter_valid(it))
        fail_msg("seed %llu op %d: not valid, want key %d", (unsigned long long)seed, op, live[pos]);
      const void *kk, *vv;
      size_t kn, vn;
      lsm_iter_key(it, &kk, &kn);
      lsm_iter_value(it, &vv, &vn);
      walk_key(k, live[pos]);
      int vl = snprintf(v, sizeof v, "value-%d-", ver[live[pos]]);
      if (kn != strlen(k) || memcmp(kk, k, kn) || vn < (size_t)vl || memcmp(vv, v, (size_t)vl))
        fail_msg("seed %llu op %d: got %.*s=%.*s, want %s=%s...", (unsigned long long)seed, op, (int)kn,
                 (const char *)kk, (int)vn, (const char *)vv, k, v);
    }
    OK(lsm_iter_status(it));
    lsm_iter_free(it);
    OK(lsm_close(db));
  }
}

static void test_model_sync(void **state) {
  (void)state;
  model_run(LSM_IO_SYNC, 1, model_ops());
}

static void test_model_uring(void **state) {
  (void)state;
  model_run(LSM_IO_URING, 2, model_ops());
}

/* lsm_iter_hint: iterators over a multi-file level (64 KiB tables), L0 files and the memtable,
** hinted with 0, 1, 7, 100, 5000 and 10^9 entries, read 1..3x as many entries as hinted from
** random seeks (and on past the end, and backward after a hinted seek; hinted seek_last and
** seek_for_prev walking back): exactly what an unhinted iterator yields, with overwritten and deleted keys across the levels. Both IO backends, direct
** IO on and off. */
/* Step h and p back together up to max times: the same keys, and both end together. */
static void walk_back_same(lsm_iter *h, lsm_iter *p, int max) {
  for (int j = 0; j < max && lsm_iter_valid(p); j++) {
    assert_true(lsm_iter_valid(h));
    const void *a, *b;
    size_t an, bn;
    lsm_iter_key(h, &a, &an);
    lsm_iter_key(p, &b, &bn);
    assert_true(an == bn && !memcmp(a, b, an));
    OK(lsm_iter_prev(h));
    OK(lsm_iter_prev(p));
  }
  assert_int_equal(lsm_iter_valid(h), lsm_iter_valid(p));
}

static void test_iter_hint(void **state) {
  (void)state;
  for (int t = 0; t < 4; t++) {
    lsm_options o = small_opts(t % 2 ? LSM_IO_URING : LSM_IO_SYNC);
    o.target_file_size = 64u << 10;
    o.block_size = 1024;
    o.direct_io = t / 2;
    char dir[32];
    snprintf(dir, sizeof dir, "hint%d", t);
    lsm_db *db;
    OK(lsm_open(dir, &o, &db));
    char k[32], v[300];
    unsigned seed = 977u + (unsigned)t;
    for (int round = 0; round < 3; round++) { /* older rounds end up below newer ones */
      for (int i = 0; i < 3000; i++) {
        int key = (int)((unsigned)rand_r(&seed) % 9000u);
        int kn = snprintf(k, sizeof k, "k%06d", key);
        if (rand_r(&seed) % 10 == 0) {
          OK(lsm_delete(db, k, (size_t)kn));
          continue;
        }
        int vn = snprintf(v, sizeof v, "r%d-%0*d", round, 1 + rand_r(&seed) % 250, key);
        OK(lsm_put(db, k, (size_t)kn, v, (size_t)vn));
      }
      OK(lsm_flush(db, 1));
      if (round == 0) OK(lsm_compact_range(db, NULL, 0, NULL, 0));
    }
    for (int i = 0; i < 50; i++) { /* and some in the memtable */
      int kn = snprintf(k, sizeof k, "k%06d", i * 170);
      OK(lsm_put(db, k, (size_t)kn, "mem", 3));
    }
    lsm_iter *h, *p;
    OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &h));
    OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &p));
    static const uint64_t hints[] = {0, 1, 7, 100, 5000, 1000000000};
    for (int trial = 0; trial < 200; trial++) {
      uint64_t hint = hints[trial % 6];
      lsm_iter_hint(h, hint);
      int kn = snprintf(k, sizeof k, "k%06d", (int)((unsigned)rand_r(&seed) % 9100u));
      if (trial % 10 == 5 || trial % 10 == 7) { /* backward positioning, hinted: walk back */
        if (trial % 10 == 5) {
          OK(lsm_iter_seek_last(h));
          OK(lsm_iter_seek_last(p));
        } else {
          OK(lsm_iter_seek_for_prev(h, k, (size_t)kn));
          OK(lsm_iter_seek_for_prev(p, k, (size_t)kn));
        }
        walk_back_same(h, p, 200);
        continue;
      }
      if (trial % 10 == 0) {
        OK(lsm_iter_seek_first(h));
        OK(lsm_iter_seek_first(p));
      } else {
        OK(lsm_iter_seek(h, k, (size_t)kn));
        OK(lsm_iter_seek(p, k, (size_t)kn));
      }
      uint64_t want = (hint ? hint : 50) * (1 + (uint64_t)(trial / 6) % 3);
      if (want > 20000) want = 20000;
      uint64_t n = 0;
      for (; n < want && lsm_iter_valid(p); n++) {
        if (!lsm_iter_valid(h)) fail_msg("seed %u trial %d: hinted iterator ended early", 977u + (unsigned)t, trial);
        const void *a, *b, *av, *bv;
        size_t an, bn, avn, bvn;
        lsm_iter_key(h, &a, &an);
        lsm_iter_key(p, &b, &bn);
        lsm_iter_value(h, &av, &avn);
        lsm_iter_value(p, &bv, &bvn);
        if (an != bn || memcmp(a, b, an) || avn != bvn || memcmp(av, bv, avn))
          fail_msg("seed %u trial %d hint %llu: entry %llu differs", 977u + (unsigned)t, trial,
                   (unsigned long long)hint, (unsigned long long)n);
        OK(lsm_iter_next(h));
        OK(lsm_iter_next(p));
      }
      assert_int_equal(lsm_iter_valid(h), lsm_iter_valid(p));
      if (trial % 4 == 1 && lsm_iter_valid(h)) { /* backward after a hinted seek */
        walk_back_same(h, p, 30);
      }
      OK(lsm_iter_status(h));
    }
    lsm_iter_free(h);
    lsm_iter_free(p);
    OK(lsm_close(db));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),      cmocka_unit_test(test_options), cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_busy),       cmocka_unit_test(test_snapshot),
      cmocka_unit_test(test_concurrent), cmocka_unit_test(test_multiget),
      cmocka_unit_test(test_multiget_polled),
      cmocka_unit_test(test_corruption), cmocka_unit_test(test_big_values),
      cmocka_unit_test(test_mmap_reads), cmocka_unit_test(test_mmap_truncated),
      cmocka_unit_test(test_exists_layers),
      cmocka_unit_test(test_iter_walk),  cmocka_unit_test(test_single_sizes),
      cmocka_unit_test(test_iter_hint),
      cmocka_unit_test(test_model_sync), cmocka_unit_test(test_model_uring),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
