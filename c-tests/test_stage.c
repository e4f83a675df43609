/* Tests of staged writes (engine/stage.c, lsm.h "Staged writes").
** - test_stage_model: random runs of puts and deletes over a database that also takes direct
**   writes (tiny memtables: data in memtables, L0 and deeper levels), checked after every run
**   against a model through every read path of the stage (get, exists, multiget, iterators
**   forward, backward, seeks, bounds), that the database itself does not see the stage, then
**   a commit (the database equals the model, also after reopen) or a discard (unchanged). On
**   both IO backends; LSMVTAB_LONG=1 runs more rounds.
** - test_stage_misuse: unsorted keys, over-long keys, a commit with a run unsealed, NULLs.
** - test_stage_lifetime: an iterator outlives the commit and the stage; run files are deleted
**   when nothing uses them, and a reopen deletes the ones a crash left.
** - test_stage_concurrent: commits racing a writer and a reader (all or nothing per commit).
** The power-loss case of the commit is in test_powerloss.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsm.h"
#include "test_util.h"
#include "vg_util.h"

#define OK(x)                                                                                 \
  do {                                                                                        \
    int rc_ = (x);                                                                            \
    if (rc_ != LSM_OK) fail_msg("%s -> %d (%s)", #x, rc_, lsm_errmsg());                      \
  } while (0)

/* OK as an expression (for loop headers) */
static void ok_(int rc, const char *what) {
  if (rc != LSM_OK) fail_msg("%s -> %d (%s)", what, rc, lsm_errmsg());
}
#define OKE(x) ok_((x), #x)

#define NK 1500

/* model: value of key i (NULL: absent); the database's and the stage's view */
typedef struct model {
  char *v[NK];
} model;

static void m_set(model *m, int i, const char *v) {
  free(m->v[i]);
  m->v[i] = v ? strdup(v) : NULL;
}
static void m_copy(model *to, const model *from) {
  for (int i = 0; i < NK; i++) m_set(to, i, from->v[i]);
}
static void m_free(model *m) {
  for (int i = 0; i < NK; i++) m_set(m, i, NULL);
}

static size_t key_of(char *b, int i) { return (size_t)snprintf(b, 16, "k%05d", i); }

static void val_of(char *b, int i, uint64_t r) {
  int len = (int)(r % 300);
  int n = snprintf(b, 400, "v%d.%llu.", i, (unsigned long long)(r % 100000));
  for (int j = n; j < n + len; j++) b[j] = (char)('a' + j % 26);
  b[n + len] = 0;
}

static lsm_options opts(int io) {
  lsm_options o;
  lsm_options_default(&o);
  o.memtable_size = 64u << 10;
  o.cache_size = 256u << 10;
  o.io = io;
  return o;
}

/* Every read path of the stage (st, or the database alone when st is NULL) against m. */
static void check_view(lsm_db *db, lsm_stage *st, const model *m, const char *what) {
  char k[16];
  /* get / exists on a sample, multiget on batches of 32 */
  for (int i = 0; i < NK; i += 1 + (int)(rnd() % 7)) {
    size_t kn = key_of(k, i);
    void *v = NULL;
    size_t vn = 0;
    int rc = st ? lsm_stage_get(st, k, kn, &v, &vn) : lsm_get(db, NULL, k, kn, &v, &vn);
    if (!m->v[i]) {
      if (rc != LSM_NOTFOUND) fail_msg("%s: get %s: rc %d, want absent", what, k, rc);
    } else {
      if (rc != LSM_OK) fail_msg("%s: get %s: rc %d (%s)", what, k, rc, lsm_errmsg());
      if (vn != strlen(m->v[i]) || memcmp(v, m->v[i], vn)) fail_msg("%s: get %s: wrong value", what, k);
      assert_int_equal(((char *)v)[vn], 0);
    }
    lsm_free(v);
    rc = st ? lsm_stage_exists(st, k, kn) : lsm_exists(db, NULL, k, kn);
    if (rc != (m->v[i] ? LSM_OK : LSM_NOTFOUND)) fail_msg("%s: exists %s: rc %d", what, k, rc);
  }
  for (int base = 0; base < NK; base += 32 + (int)(rnd() % 200)) {
    enum { B = 32 };
    char kb[B][16];
    const void *keys[B];
    size_t kl[B], vl[B];
    void *vals[B];
    int rcs[B], n = 0;
    for (int j = 0; j < B && base + j * 3 < NK; j++, n++) {
      kl[j] = key_of(kb[j], base + j * 3);
      keys[j] = kb[j];
    }
    int rc = st ? lsm_stage_multiget(st, n, keys, kl, vals, vl, rcs)
                : lsm_multiget(db, NULL, n, keys, kl, vals, vl, rcs);
    if (rc) fail_msg("%s: multiget: %d (%s)", what, rc, lsm_errmsg());
    for (int j = 0; j < n; j++) {
      const char *want = m->v[base + j * 3];
      if (!want) {
        if (rcs[j] != LSM_NOTFOUND) fail_msg("%s: multiget %s: rc %d, want absent", what, kb[j], rcs[j]);
        continue;
      }
      if (rcs[j] != LSM_OK) fail_msg("%s: multiget %s: rc %d", what, kb[j], rcs[j]);
      if (vl[j] != strlen(want) || memcmp(vals[j], want, vl[j])) fail_msg("%s: multiget %s: wrong value", what, kb[j]);
      lsm_free(vals[j]);
    }
  }
  /* iterators: a bounded range, forward then backward, and a seek inside it */
  int lo = (int)(rnd() % NK), hi = lo + (int)(rnd() % (NK - lo + 1));
  char lk[16], hk[16];
  size_t lkn = key_of(lk, lo), hkn = key_of(hk, hi);
  int bounded = rnd() % 2;
  if (!bounded) lo = 0, hi = NK;
  lsm_iter *it;
  if (st) OK(lsm_stage_iter_new(st, bounded ? lk : NULL, lkn, bounded ? hk : NULL, hkn, &it));
  else OK(lsm_iter_new(db, NULL, bounded ? lk : NULL, lkn, bounded ? hk : NULL, hkn, &it));
  int i = lo;
  for (OKE(lsm_iter_seek_first(it)); lsm_iter_valid(it); OKE(lsm_iter_next(it)), i++) {
    while (i < hi && !m->v[i]) i++;
    const void *kk, *vv;
    size_t kkn, vvn;
    lsm_iter_key(it, &kk, &kkn);
    lsm_iter_value(it, &vv, &vvn);
    size_t want_kn = key_of(k, i);
    if (i >= hi || kkn != want_kn || memcmp(kk, k, kkn)) fail_msg("%s: scan: got %.*s, want %s", what, (int)kkn, (const char *)kk, i >= hi ? "end" : k);
    if (vvn != strlen(m->v[i]) || memcmp(vv, m->v[i], vvn)) fail_msg("%s: scan %s: wrong value", what, k);
  }
  OK(lsm_iter_status(it));
  while (i < hi && !m->v[i]) i++;
  if (i != hi) fail_msg("%s: scan ended before key %d", what, i);
  i = hi - 1;
  for (OKE(lsm_iter_seek_last(it)); lsm_iter_valid(it); OKE(lsm_iter_prev(it)), i--) {
    while (i >= lo && !m->v[i]) i--;
    const void *kk;
    size_t kkn;
    lsm_iter_key(it, &kk, &kkn);
    size_t want_kn = key_of(k, i);
    if (i < lo || kkn != want_kn || memcmp(kk, k, kkn)) fail_msg("%s: reverse scan: got %.*s", what, (int)kkn, (const char *)kk);
  }
  while (i >= lo && !m->v[i]) i--;
  if (i >= lo) fail_msg("%s: reverse scan ended before key %d", what, i);
  if (hi > lo) {
    int s = lo + (int)(rnd() % (hi - lo));
    size_t sn = key_of(k, s);
    OK(lsm_iter_seek(it, k, sn));
    int want = s;
    while (want < hi && !m->v[want]) want++;
    if (want < hi) {
      assert_true(lsm_iter_valid(it));
      const void *kk;
      size_t kkn;
      lsm_iter_key(it, &kk, &kkn);
      key_of(k, want);
      if (kkn != strlen(k) || memcmp(kk, k, kkn)) fail_msg("%s: seek: wrong key", what);
    } else {
      assert_false(lsm_iter_valid(it));
    }
    key_of(k, s);
    OK(lsm_iter_seek_for_prev(it, k, sn));
    want = s;
    while (want >= lo && !m->v[want]) want--;
    if (want >= lo) {
      assert_true(lsm_iter_valid(it));
      const void *kk;
      size_t kkn;
      lsm_iter_key(it, &kk, &kkn);
      key_of(k, want);
      if (kkn != strlen(k) || memcmp(kk, k, kkn)) fail_msg("%s: seek_for_prev: wrong key", what);
    } else {
      assert_false(lsm_iter_valid(it));
    }
  }
  lsm_iter_free(it);
}

/* One run of random puts and deletes (ascending keys), applied to the stage model too. */
static void add_run(lsm_stage *st, model *sm, char *own) {
  char k[16], v[400];
  int step = 1 + (int)(rnd() % 8);
  for (int i = (int)(rnd() % step); i < NK; i += 1 + (int)(rnd() % step)) {
    size_t kn = key_of(k, i);
    own[i] = 1;
    if (rnd() % 4 == 0) {
      OK(lsm_stage_delete(st, k, kn));
      m_set(sm, i, NULL);
    } else {
      val_of(v, i, rnd());
      OK(lsm_stage_put(st, k, kn, v, strlen(v)));
      m_set(sm, i, v);
    }
  }
  OK(lsm_stage_run_end(st));
}

/* Direct writes to the database: a batch of puts/deletes, applied to both models (the stage's
** view is the database's with the stage's own writes on top: `own` marks keys the stage wrote). */
static void db_writes(lsm_db *db, model *dm, model *sm, const char *own) {
  char k[16], v[400];
  for (int n = 0; n < 200; n++) {
    int i = (int)(rnd() % NK);
    size_t kn = key_of(k, i);
    if (rnd() % 5 == 0) {
      OK(lsm_delete(db, k, kn));
      m_set(dm, i, NULL);
      if (!own[i]) m_set(sm, i, NULL);
    } else {
      val_of(v, i, rnd());
      OK(lsm_put(db, k, kn, v, strlen(v)));
      m_set(dm, i, v);
      if (!own[i]) m_set(sm, i, v);
    }
  }
}

static void model_round(int io, uint64_t seed, int rounds) {
  rng = seed | 1;
  char dir[64];
  snprintf(dir, sizeof dir, "stage-%d", io);
  lsm_destroy(dir);
  lsm_options o = opts(io);
  lsm_db *db;
  OK(lsm_open(dir, &o, &db));
  static model dm, sm;
  char own[NK];
  for (int r = 0; r < rounds; r++) {
    memset(own, 0, sizeof own);
    db_writes(db, &dm, &sm, own);
    m_copy(&sm, &dm);
    lsm_stage *st;
    OK(lsm_stage_new(db, &st));
    check_view(db, st, &sm, "empty stage");
    int runs = 1 + (int)(rnd() % 4);
    for (int j = 0; j < runs; j++) {
      add_run(st, &sm, own);
      check_view(db, st, &sm, "stage");
      check_view(db, NULL, &dm, "database under a stage");
      if (rnd() % 2) {
        db_writes(db, &dm, &sm, own);
        check_view(db, st, &sm, "stage after direct writes");
      }
      if (rnd() % 3 == 0) OK(lsm_flush(db, 1));
    }
    assert_int_equal(lsm_stage_runs(st), runs);
    assert_int_equal(tu_count_files(dir, ".stage"), runs);
    if (rnd() % 4 == 0) {
      lsm_stage_free(st);
      check_view(db, NULL, &dm, "after discard");
    } else {
      OK(lsm_stage_commit(st));
      assert_int_equal(lsm_stage_runs(st), 0);
      m_copy(&dm, &sm);
      check_view(db, NULL, &dm, "after commit");
      lsm_stage_free(st);
    }
    assert_int_equal(tu_count_files(dir, ".stage"), 0);
    if (rnd() % 3 == 0) {
      OK(lsm_close(db));
      OK(lsm_open(dir, &o, &db));
      check_view(db, NULL, &dm, "after reopen");
    }
  }
  char *report = NULL;
  OK(lsm_check(db, &report));
  lsm_free(report);
  OK(lsm_close(db));
  lsm_destroy(dir);
  m_free(&dm);
  m_free(&sm);
}

static int rounds(void) { return getenv("LSMVTAB_LONG") ? 60 : vg_scale(12, 3); }

static void test_stage_model_sync(void **state) {
  (void)state;
  model_round(LSM_IO_SYNC, 1001, rounds());
}

static void test_stage_model_uring(void **state) {
  (void)state;
  model_round(LSM_IO_AUTO, 2002, rounds());
}

static void test_stage_misuse(void **state) {
  (void)state;
  lsm_destroy("misuse");
  lsm_options o = opts(LSM_IO_SYNC);
  lsm_db *db;
  OK(lsm_open("misuse", &o, &db));
  lsm_stage *st;
  assert_int_equal(lsm_stage_new(NULL, &st), LSM_MISUSE);
  OK(lsm_stage_new(db, &st));
  OK(lsm_stage_commit(st)); /* no runs: nothing to do */
  OK(lsm_stage_put(st, "b", 1, "1", 1));
  assert_int_equal(lsm_stage_commit(st), LSM_MISUSE); /* the run is not sealed */
  assert_int_equal(lsm_stage_put(st, "a", 1, "1", 1), LSM_MISUSE); /* descending */
  assert_non_null(strstr(lsm_errmsg(), "ascending"));
  /* the failed run was abandoned: its error comes back once from run_end, nothing staged */
  assert_int_equal(lsm_stage_run_end(st), LSM_MISUSE);
  assert_int_equal(lsm_stage_runs(st), 0);
  assert_int_equal(tu_count_files("misuse", ".stage"), 0);
  OK(lsm_stage_put(st, "a", 1, "1", 1));
  assert_int_equal(lsm_stage_put(st, "a", 1, "2", 1), LSM_MISUSE); /* equal keys */
  assert_int_equal(lsm_stage_run_end(st), LSM_MISUSE);
  static char big[LSM_MAX_KEY + 1];
  memset(big, 'x', sizeof big);
  assert_int_equal(lsm_stage_put(st, big, sizeof big, "1", 1), LSM_TOOBIG);
  assert_int_equal(lsm_stage_delete(st, "", 0), LSM_TOOBIG);
  assert_int_equal(lsm_stage_put(st, NULL, 1, "1", 1), LSM_MISUSE);
  OK(lsm_stage_put(st, big, LSM_MAX_KEY, "1", 1)); /* at the limit */
  OK(lsm_stage_run_end(st));
  OK(lsm_stage_run_end(st)); /* no run started: a no-op */
  assert_int_equal(lsm_stage_runs(st), 1);
  void *v;
  size_t vn;
  OK(lsm_stage_get(st, big, LSM_MAX_KEY, &v, &vn));
  lsm_free(v);
  assert_int_equal(lsm_stage_get(st, big, sizeof big, &v, &vn), LSM_NOTFOUND);
  assert_int_equal(lsm_get(db, NULL, big, LSM_MAX_KEY, &v, &vn), LSM_NOTFOUND);
  OK(lsm_stage_commit(st));
  OK(lsm_get(db, NULL, big, LSM_MAX_KEY, &v, &vn));
  lsm_free(v);
  lsm_stage_free(st);
  lsm_stage_free(NULL);
  OK(lsm_close(db));
  lsm_destroy("misuse");
}

/* The keys an iterator shows, joined ("a,c,d"). */
static void iter_keys(lsm_iter *it, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  for (OKE(lsm_iter_seek_first(it)); lsm_iter_valid(it); OKE(lsm_iter_next(it))) {
    const void *k;
    size_t kn;
    lsm_iter_key(it, &k, &kn);
    n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "," : "", (int)kn, (const char *)k);
    assert_true(n < cap);
  }
}

/* lsm_stage_truncate drops the runs after the first n (what a rollback to a savepoint does),
** while iterators made before keep reading them; lsm_stage_written tells whether a run from n
** on holds a key (puts and deletes alike), without reading the database. */
static void test_stage_truncate_written(void **state) {
  (void)state;
  lsm_destroy("trunc");
  lsm_options o = opts(LSM_IO_SYNC);
  lsm_db *db;
  OK(lsm_open("trunc", &o, &db));
  OK(lsm_put(db, "a", 1, "db", 2));
  OK(lsm_put(db, "z", 1, "db", 2));
  lsm_stage *st;
  OK(lsm_stage_new(db, &st));
  OK(lsm_stage_put(st, "a", 1, "0", 1));
  OK(lsm_stage_put(st, "b", 1, "0", 1));
  OK(lsm_stage_run_end(st));
  OK(lsm_stage_delete(st, "b", 1));
  OK(lsm_stage_put(st, "c", 1, "1", 1));
  OK(lsm_stage_run_end(st));
  OK(lsm_stage_put(st, "d", 1, "2", 1));
  OK(lsm_stage_run_end(st));
  assert_int_equal(lsm_stage_runs(st), 3);
  assert_int_equal(lsm_stage_entries(st), 5);
  uint64_t bytes3 = lsm_stage_bytes(st);
  /* written: from run n on */
  assert_int_equal(lsm_stage_written(st, 0, "a", 1), LSM_OK);
  assert_int_equal(lsm_stage_written(st, 1, "a", 1), LSM_NOTFOUND);
  assert_int_equal(lsm_stage_written(st, 1, "b", 1), LSM_OK); /* a delete */
  assert_int_equal(lsm_stage_written(st, 2, "b", 1), LSM_NOTFOUND);
  assert_int_equal(lsm_stage_written(st, 2, "d", 1), LSM_OK);
  assert_int_equal(lsm_stage_written(st, 3, "d", 1), LSM_NOTFOUND);
  assert_int_equal(lsm_stage_written(st, 0, "z", 1), LSM_NOTFOUND); /* only the database has it */
  assert_int_equal(lsm_stage_written(st, 0, "", 0), LSM_NOTFOUND);
  assert_int_equal(lsm_stage_written(st, -1, "a", 1), LSM_MISUSE);
  assert_int_equal(lsm_stage_written(NULL, 0, "a", 1), LSM_MISUSE);
  /* an iterator made before the truncation keeps its runs (and their files) */
  lsm_iter *old;
  OK(lsm_stage_iter_new(st, NULL, 0, NULL, 0, &old));
  OK(lsm_stage_truncate(st, 1));
  assert_int_equal(lsm_stage_runs(st), 1);
  assert_int_equal(lsm_stage_entries(st), 2);
  assert_true(lsm_stage_bytes(st) < bytes3 && lsm_stage_bytes(st) > 0);
  assert_int_equal(tu_count_files("trunc", ".stage"), 3);
  char keys[64];
  iter_keys(old, keys, sizeof keys);
  assert_string_equal(keys, "a,c,d,z");
  lsm_iter_free(old);
  assert_int_equal(tu_count_files("trunc", ".stage"), 1);
  void *v;
  size_t vn;
  assert_int_equal(lsm_stage_get(st, "c", 1, &v, &vn), LSM_NOTFOUND);
  OK(lsm_stage_get(st, "b", 1, &v, &vn)); /* run 0's put, its delete dropped */
  assert_memory_equal(v, "0", 1);
  lsm_free(v);
  assert_int_equal(lsm_stage_written(st, 1, "d", 1), LSM_NOTFOUND);
  /* the next run takes index 1: it wins over run 0 */
  OK(lsm_stage_put(st, "a", 1, "1", 1));
  OK(lsm_stage_put(st, "e", 1, "1", 1));
  assert_int_equal(lsm_stage_truncate(st, 0), LSM_MISUSE); /* a run is being written */
  OK(lsm_stage_run_end(st));
  OK(lsm_stage_truncate(st, 5)); /* nothing after 5: a no-op */
  assert_int_equal(lsm_stage_truncate(st, -1), LSM_MISUSE);
  assert_int_equal(lsm_stage_runs(st), 2);
  assert_int_equal(lsm_stage_written(st, 1, "e", 1), LSM_OK);
  assert_int_equal(lsm_stage_written(st, 1, "b", 1), LSM_NOTFOUND);
  lsm_iter *it;
  OK(lsm_stage_iter_new(st, NULL, 0, NULL, 0, &it));
  iter_keys(it, keys, sizeof keys);
  assert_string_equal(keys, "a,b,e,z");
  lsm_iter_free(it);
  OK(lsm_stage_commit(st));
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
  iter_keys(it, keys, sizeof keys);
  assert_string_equal(keys, "a,b,e,z");
  lsm_iter_free(it);
  OK(lsm_get(db, NULL, "a", 1, &v, &vn));
  assert_memory_equal(v, "1", 1);
  lsm_free(v);
  lsm_stage_free(st);
  assert_int_equal(tu_count_files("trunc", ".stage"), 0);
  OK(lsm_close(db));
  lsm_destroy("trunc");
}

static void test_stage_lifetime(void **state) {
  (void)state;
  lsm_destroy("life");
  lsm_options o = opts(LSM_IO_SYNC);
  lsm_db *db;
  OK(lsm_open("life", &o, &db));
  OK(lsm_put(db, "a", 1, "db", 2));
  OK(lsm_put(db, "c", 1, "db", 2));
  lsm_stage *st;
  OK(lsm_stage_new(db, &st));
  OK(lsm_stage_put(st, "b", 1, "st", 2));
  OK(lsm_stage_delete(st, "c", 1));
  OK(lsm_stage_run_end(st));
  lsm_iter *it;
  OK(lsm_stage_iter_new(st, NULL, 0, NULL, 0, &it));
  OK(lsm_stage_commit(st));
  lsm_stage_free(st);
  /* the iterator still reads the run it was made over, whose file waits for it */
  assert_int_equal(tu_count_files("life", ".stage"), 1);
  OK(lsm_iter_seek_first(it));
  const char *want[] = {"a", "b"};
  int n = 0;
  for (; lsm_iter_valid(it); OKE(lsm_iter_next(it)), n++) {
    const void *k;
    size_t kn;
    lsm_iter_key(it, &k, &kn);
    assert_true(n < 2 && kn == 1 && !memcmp(k, want[n], 1));
  }
  assert_int_equal(n, 2);
  lsm_iter_free(it);
  assert_int_equal(tu_count_files("life", ".stage"), 0);
  /* a run left by a crash (a stage never freed: here a copy of a table file) goes at open */
  OK(lsm_close(db));
  FILE *f = fopen("life/999999.stage", "w");
  assert_non_null(f);
  fputs("left over", f);
  fclose(f);
  assert_int_equal(tu_count_files("life", ".stage"), 1);
  OK(lsm_open("life", &o, &db));
  assert_int_equal(tu_count_files("life", ".stage"), 0);
  void *v;
  size_t vn;
  OK(lsm_get(db, NULL, "b", 1, &v, &vn));
  assert_true(vn == 2 && !memcmp(v, "st", 2));
  lsm_free(v);
  assert_int_equal(lsm_get(db, NULL, "c", 1, &v, &vn), LSM_NOTFOUND);
  OK(lsm_close(db));
  lsm_destroy("life");
}

/* Commits racing other writers and readers: a reader's iterator sees every key of a committed
** stage at one generation (all of a commit or none of it), writers between commits go on, and
** the direct writes all survive. */
#define CC_KEYS 400
#define CC_GENS 12
typedef struct cc_state {
  lsm_db *db;
  _Atomic int done, bad, writes;
  char why[200];
} cc_state;

static void *cc_writer(void *arg) {
  cc_state *s = arg;
  char k[32];
  for (int i = 0; !s->done; i++) {
    size_t kn = (size_t)snprintf(k, sizeof k, "w%06d", i % 5000);
    if (lsm_put(s->db, k, kn, "direct", 6)) {
      s->bad = 1;
      snprintf(s->why, sizeof s->why, "put: %s", lsm_errmsg());
      break;
    }
    s->writes++;
  }
  return NULL;
}

static void *cc_reader(void *arg) {
  cc_state *s = arg;
  while (!s->done && !s->bad) {
    lsm_iter *it;
    if (lsm_iter_new(s->db, NULL, "s", 1, "t", 1, &it)) {
      s->bad = 1;
      snprintf(s->why, sizeof s->why, "iter: %s", lsm_errmsg());
      break;
    }
    int n = 0, gen = -1;
    for (int rc = lsm_iter_seek_first(it); !rc && lsm_iter_valid(it); rc = lsm_iter_next(it), n++) {
      const void *v;
      size_t vn;
      lsm_iter_value(it, &v, &vn);
      int g = atoi((const char *)v + 3);
      if (gen < 0) gen = g;
      if (g != gen) {
        s->bad = 1;
        snprintf(s->why, sizeof s->why, "a scan saw generations %d and %d together", gen, g);
      }
    }
    if (n != 0 && n != CC_KEYS && !s->bad) {
      s->bad = 1;
      snprintf(s->why, sizeof s->why, "a scan saw %d of a stage's %d keys", n, CC_KEYS);
    }
    lsm_iter_free(it);
  }
  return NULL;
}

static void test_stage_concurrent(void **state) {
  (void)state;
  lsm_destroy("conc");
  lsm_options o = opts(LSM_IO_AUTO);
  cc_state s;
  memset(&s, 0, sizeof s);
  OK(lsm_open("conc", &o, &s.db));
  pthread_t w, r;
  pthread_create(&w, NULL, cc_writer, &s);
  pthread_create(&r, NULL, cc_reader, &s);
  char k[32], v[64];
  for (int g = 1; g <= CC_GENS && !s.bad; g++) {
    lsm_stage *st;
    OK(lsm_stage_new(s.db, &st));
    for (int half = 0; half < 2; half++) { /* two runs: even keys, then odd ones */
      for (int i = half; i < CC_KEYS; i += 2) {
        size_t kn = (size_t)snprintf(k, sizeof k, "s%05d", i);
        int vn = snprintf(v, sizeof v, "gen%d.", g);
        OK(lsm_stage_put(st, k, kn, v, (size_t)vn));
      }
      OK(lsm_stage_run_end(st));
    }
    int before = s.writes;
    OK(lsm_stage_commit(st));
    lsm_stage_free(st);
    while (s.writes == before && !s.bad) sched_yield(); /* writers went on after the commit */
  }
  s.done = 1;
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  if (s.bad) fail_msg("%s", s.why);
  void *val;
  size_t vn;
  OK(lsm_get(s.db, NULL, "w000000", 7, &val, &vn));
  lsm_free(val);
  OK(lsm_get(s.db, NULL, "s00001", 6, &val, &vn));
  assert_int_equal(atoi((char *)val + 3), CC_GENS);
  lsm_free(val);
  OK(lsm_close(s.db));
  lsm_destroy("conc");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stage_model_sync),
      cmocka_unit_test(test_stage_model_uring),
      cmocka_unit_test(test_stage_misuse),
      cmocka_unit_test(test_stage_lifetime),
      cmocka_unit_test(test_stage_truncate_written),
      cmocka_unit_test(test_stage_concurrent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
