/* Tests of compaction (engine/compact.c through the lsm.h API): space is reclaimed after a
** delete-everything + full compaction; snapshots taken before a compaction still read their
** data after it (versions/tombstones they need are kept); an open iterator keeps reading files
** a compaction replaced (they are deleted only after it is freed); L0 stays bounded by the stop
** trigger under a write burst; concurrent readers during compactions see consistent data; the
** tables of each level are written with that level's codec (l1_compression). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compact.h" /* test hook: compact_test_delay_us */
#include "db_int.h"  /* test hooks: read-ahead counters, compaction concurrency */
#include "ikey.h"
#include "lsm.h"
#include "manifest.h"
#include "version.h"
#include "vg_util.h"

#define OK(x)                                                                                 \
  do {                                                                                        \
    int rc_ = (x);                                                                            \
    if (rc_ != LSM_OK) fail_msg("%s -> %d (%s)", #x, rc_, lsm_errmsg());                      \
  } while (0)

static lsm_options opts(void) {
  lsm_options o;
  lsm_options_default(&o);
  o.memtable_size = 64u << 10;
  o.target_file_size = 64u << 10;
  o.level1_size = 256u << 10;
  o.compression = LSM_COMPRESS_NONE;
  o.sync = LSM_SYNC_OFF;
  return o;
}

/* Bytes and count of the .sst files in dir. */
static uint64_t sst_bytes(const char *dir, int *count) {
  DIR *d = opendir(dir);
  uint64_t total = 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 4 || strcmp(e->d_name + len - 4, ".sst")) continue;
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (stat(p, &sb) == 0) total += (uint64_t)sb.st_size, n++;
  }
  closedir(d);
  if (count) *count = n;
  return total;
}

static size_t key(char *b, int i) { return (size_t)snprintf(b, 32, "key%07d", i); }
static size_t val(char *b, int i, int ver) {
  int n = snprintf(b, 128, "v%d-%d-", ver, i);
  for (; n < 100; n++) b[n] = (char)('a' + (i + n) % 26);
  return (size_t)n;
}

/* Wait (at most 30 s) until no memtable waits for a flush and no level's score asks for a
** compaction; *st is the last statistics read. */
static void settle_scores(lsm_db *db, lsm_stats *st) {
  for (int t = 0; t < 3000; t++) {
    OK(lsm_get_stats(db, st));
    int busy = st->immutables > 0;
    for (int l = 0; l < LSM_MAX_LEVELS; l++) busy |= st->level_score[l] >= 1.0;
    if (!busy) break;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
}

static void expect(lsm_db *db, const lsm_snapshot *s, int i, int ver) {
  char k[32], v[128];
  size_t kn = key(k, i);
  void *got = NULL;
  size_t gn;
  int rc = lsm_get(db, s, k, kn, &got, &gn);
  if (ver < 0) {
    if (rc != LSM_NOTFOUND) fail_msg("key %d: rc %d, expected absent", i, rc);
    return;
  }
  size_t vn = val(v, i, ver);
  if (rc != LSM_OK) fail_msg("key %d: rc %d (%s), expected version %d", i, rc, lsm_errmsg(), ver);
  if (gn != vn || memcmp(got, v, vn)) fail_msg("key %d: wrong value, expected version %d", i, ver);
  lsm_free(got);
}

#define N 20000

static void test_space_reclaimed(void **state) {
  (void)state;
  lsm_options o = opts();
  lsm_db *db;
  OK(lsm_open("space", &o, &db));
  char k[32], v[128];
  for (int i = 0; i < N; i++) OK(lsm_put(db, k, key(k, i), v, val(v, i, 1)));
  /* a partial range first: data intact, the range's tables pushed to the last level */
  char lo[32], hi[32];
  size_t lon = key(lo, 5000), hin = key(hi, 6000);
  OK(lsm_compact_range(db, lo, lon, hi, hin));
  lsm_stats pst;
  OK(lsm_get_stats(db, &pst));
  assert_true(pst.level_files[LSM_MAX_LEVELS - 1] > 0);
  for (int i = 0; i < N; i += 11) expect(db, NULL, i, 1);
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  int files;
  uint64_t full = sst_bytes("space", &files);
  print_message("after writing %d keys: %llu bytes in %d tables\n", N, (unsigned long long)full, files);
  assert_true(full > (uint64_t)N * 100);
  for (int i = 0; i < N; i++) OK(lsm_delete(db, k, key(k, i)));
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  uint64_t after = sst_bytes("space", &files);
  print_message("after deleting all and a full compaction: %llu bytes in %d tables\n", (unsigned long long)after,
                files);
  assert_true(after < full / 50);
  lsm_stats st;
  OK(lsm_get_stats(db, &st));
  assert_true(st.compactions > 0);
  assert_true(st.compact_bytes_written > 0);
  lsm_iter *it;
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
  OK(lsm_iter_seek_first(it));
  assert_false(lsm_iter_valid(it));
  lsm_iter_free(it);
  OK(lsm_close(db));
}

static void test_snapshot_survives_compaction(void **state) {
  (void)state;
  lsm_options o = opts();
  lsm_db *db;
  OK(lsm_open("snapc", &o, &db));
  char k[32], v[128];
  for (int i = 0; i < N; i++) OK(lsm_put(db, k, key(k, i), v, val(v, i, 1)));
  lsm_snapshot *s;
  OK(lsm_snapshot_new(db, &s));
  lsm_iter *it;
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it)); /* implicit snapshot, pins its files */
  for (int i = 0; i < N; i++) {
    if (i % 3 == 0) OK(lsm_delete(db, k, key(k, i)));
    else OK(lsm_put(db, k, key(k, i), v, val(v, i, 2)));
  }
  int before_files;
  sst_bytes("snapc", &before_files);
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  for (int i = 0; i < N; i += 7) {
    expect(db, s, i, 1);
    expect(db, NULL, i, i % 3 == 0 ? -1 : 2);
  }
  /* the iterator reads the old files (replaced by the compaction, not yet deleted) */
  int n = 0;
  OK(lsm_iter_seek_first(it));
  for (; lsm_iter_valid(it); n++) {
    const void *vv;
    size_t vn;
    lsm_iter_value(it, &vv, &vn);
    if (vn < 2 || memcmp(vv, "v1", 2)) fail_msg("iterator entry %d: not version 1", n);
    OK(lsm_iter_next(it));
  }
  OK(lsm_iter_status(it));
  assert_int_equal(n, N);
  int pinned_files;
  sst_bytes("snapc", &pinned_files);
  lsm_iter_free(it);
  int after_files;
  sst_bytes("snapc", &after_files);
  print_message("tables: %d before compaction, %d while the iterator lives, %d after it is freed\n", before_files,
                pinned_files, after_files);
  assert_true(after_files < pinned_files);
  lsm_snapshot_free(db, s);
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  for (int i = 0; i < N; i += 5) expect(db, NULL, i, i % 3 == 0 ? -1 : 2);
  char *rep;
  OK(lsm_check(db, &rep));
  lsm_free(rep);
  OK(lsm_close(db));
  /* and after reopen */
  OK(lsm_open("snapc", &o, &db));
  for (int i = 0; i < N; i += 3) expect(db, NULL, i, i % 3 == 0 ? -1 : 2);
  OK(lsm_close(db));
}

typedef struct rd_arg {
  lsm_db *db;
  atomic_int stop;
  int bad;
} rd_arg;

/* Readers during compactions: each key's two halves are written in one batch with the same
** version, so any snapshot must see them equal. */
static void *reader(void *p) {
  rd_arg *a = p;
  unsigned seed = 7;
  /* valgrind runs one thread at a time and its lock is not fair: two readers in a tight loop
  ** can starve the writer and the compaction thread for many minutes, so there they yield. */
  const int vg = vg_running();
  while (!atomic_load(&a->stop)) {
    if (vg) sched_yield();
    lsm_snapshot *s;
    if (lsm_snapshot_new(a->db, &s)) {
      a->bad = 1;
      break;
    }
    int i = (int)(rand_r(&seed) % 2000);
    char k1[32], k2[32];
    snprintf(k1, sizeof k1, "a%05d", i);
    snprintf(k2, sizeof k2, "b%05d", i);
    void *v1 = NULL, *v2 = NULL;
    size_t n1 = 0, n2 = 0;
    int r1 = lsm_get(a->db, s, k1, strlen(k1), &v1, &n1);
    int r2 = lsm_get(a->db, s, k2, strlen(k2), &v2, &n2);
    if (r1 != r2 || (r1 == LSM_OK && (n1 != n2 || memcmp(v1, v2, n1)))) a->bad = 2;
    lsm_free(v1);
    lsm_free(v2);
    lsm_snapshot_free(a->db, s);
  }
  return NULL;
}

static void test_l0_bounded_and_readers(void **state) {
  (void)state;
  lsm_options o = opts();
  o.l0_compaction_trigger = 2;
  o.l0_slowdown_trigger = 4;
  o.l0_stop_trigger = 6;
  lsm_db *db;
  OK(lsm_open("burst", &o, &db));
  rd_arg a = {.db = db, .bad = 0};
  atomic_init(&a.stop, 0);
  pthread_t th[2];
  for (int t = 0; t < 2; t++) pthread_create(&th[t], NULL, reader, &a);
  uint64_t max_l0 = 0;
  char v[200];
  const int rounds = vg_running() ? 10 : 40; /* memcheck: ~50x slower */
  for (int round = 0; round < rounds; round++) {
    for (int i = 0; i < 2000; i++) {
      lsm_batch *b;
      OK(lsm_batch_new(&b));
      char k[32];
      int vn = snprintf(v, sizeof v, "r%d-i%d-", round, i);
      while (vn < 60) v[vn++] = 'x';
      snprintf(k, sizeof k, "a%05d", i);
      OK(lsm_batch_put(b, k, strlen(k), v, (size_t)vn));
      snprintf(k, sizeof k, "b%05d", i);
      OK(lsm_batch_put(b, k, strlen(k), v, (size_t)vn));
      OK(lsm_write(db, b));
      lsm_batch_free(b);
      if (i % 200 == 0) {
        lsm_stats st;
        OK(lsm_get_stats(db, &st));
        if (st.level_files[0] > max_l0) max_l0 = st.level_files[0];
      }
    }
  }
  atomic_store(&a.stop, 1);
  for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
  assert_int_equal(a.bad, 0);
  lsm_stats st;
  OK(lsm_get_stats(db, &st));
  print_message("max L0 files seen %llu (stop trigger %d); %llu compactions, %llu slowdowns, %llu stalls\n",
                (unsigned long long)max_l0, o.l0_stop_trigger, (unsigned long long)st.compactions,
                (unsigned long long)st.slowdowns, (unsigned long long)st.stalls);
  /* a flush may land while the writer waits at the trigger: at most one over */
  assert_true(max_l0 <= (uint64_t)o.l0_stop_trigger + 1);
  assert_true(st.compactions > 0);
  char *rep;
  OK(lsm_check(db, &rep));
  lsm_free(rep);
  OK(lsm_close(db));
}

/* Ascending keys with l0_compaction_trigger=1: every flushed table overlaps nothing below, so
** compactions are trivial moves (no bytes rewritten); the moved files stay readable, also
** after reopen (a moved file must not be deleted as obsolete). */
static void test_trivial_move(void **state) {
  (void)state;
  lsm_options o = opts();
  o.l0_compaction_trigger = 1;
  o.l0_slowdown_trigger = 8;
  o.l0_stop_trigger = 12;
  o.level1_size = 1u << 30; /* L1 never over its target: no L1 -> L2 compactions */
  lsm_db *db;
  OK(lsm_open("trivial", &o, &db));
  char k[32], v[128];
  for (int batch = 0; batch < 10; batch++) {
    for (int i = batch * 1000; i < (batch + 1) * 1000; i++) OK(lsm_put(db, k, key(k, i), v, val(v, i, 1)));
    OK(lsm_flush(db, 1));
  }
  /* let the compaction thread catch up: wait until L0 is empty (up to 60 s: a loaded CI machine) */
  lsm_stats st;
  for (int tries = 0; tries < 12000; tries++) {
    OK(lsm_get_stats(db, &st));
    if (st.level_files[0] == 0) break;
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  print_message("trivial moves: %llu compactions, %llu bytes rewritten, L0 %llu, L1 %llu files\n",
                (unsigned long long)st.compactions, (unsigned long long)st.compact_bytes_written,
                (unsigned long long)st.level_files[0], (unsigned long long)st.level_files[1]);
  /* One move may take several L0 files at once when the compaction thread runs late (they
  ** overlap neither each other nor L1), so the count of compactions depends on timing; every
  ** flushed table (ten flushes, one or more tables each) arriving in L1 unrewritten does not. */
  assert_int_equal(st.level_files[0], 0);
  assert_true(st.level_files[1] >= 10);
  assert_int_equal(st.level_files[2], 0);
  assert_true(st.compactions >= 1);
  assert_true(st.compact_bytes_written == 0);
  for (int i = 0; i < 10000; i += 3) expect(db, NULL, i, 1);
  OK(lsm_close(db));
  OK(lsm_open("trivial", &o, &db));
  for (int i = 0; i < 10000; i += 3) expect(db, NULL, i, 1);
  char *rep;
  OK(lsm_check(db, &rep));
  lsm_free(rep);
  OK(lsm_close(db));
}

/* The manifest is rotated when it grows past db_manifest_rotate_bytes (engine internal, lowered
** here): many flushes and compactions with a 2 KiB limit leave one small manifest, with a new
** number, and a reopen finds everything. */
extern size_t db_manifest_rotate_bytes;

static int manifests(const char *dir, char *name, size_t nn) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, "MANIFEST-", 9)) {
      n++;
      snprintf(name, nn, "%s", e->d_name);
    }
  closedir(d);
  return n;
}

static void test_manifest_rotation(void **state) {
  (void)state;
  size_t saved = db_manifest_rotate_bytes;
  db_manifest_rotate_bytes = 2048;
  lsm_options o = opts();
  lsm_db *db;
  OK(lsm_open("rotate", &o, &db));
  char first[300], last[300];
  assert_int_equal(manifests("rotate", first, sizeof first), 1);
  char k[32], v[128];
  for (int i = 0; i < N; i++) OK(lsm_put(db, k, key(k, (i * 7919) % N), v, val(v, (i * 7919) % N, 1)));
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  assert_int_equal(manifests("rotate", last, sizeof last), 1);
  print_message("manifest %s at open, %s at the end\n", first, last);
  assert_string_not_equal(first, last);
  struct stat sb;
  char p[400];
  snprintf(p, sizeof p, "rotate/%s", last);
  assert_int_equal(stat(p, &sb), 0);
  assert_true(sb.st_size < 2048 + 16384); /* one snapshot plus at most a few edits */
  OK(lsm_close(db));
  db_manifest_rotate_bytes = saved;
  OK(lsm_open("rotate", &o, &db));
  for (int i = 0; i < N; i += 7) expect(db, NULL, i, 1);
  char *rep;
  OK(lsm_check(db, &rep));
  lsm_free(rep);
  OK(lsm_close(db));
}

/* LSMVTAB_LONG=1: 10M random writes keep L0 bounded by the stop trigger, and after a full
** compaction the tables take at most 1.5x the live data (keys + values). */
static void test_long_10m_writes(void **state) {
  (void)state;
  lsm_options o;
  lsm_options_default(&o);
  o.memtable_size = 4u << 20;
  o.target_file_size = 2u << 20;
  o.level1_size = 8u << 20;
  o.compression = LSM_COMPRESS_NONE;
  o.sync = LSM_SYNC_OFF;
  lsm_db *db;
  OK(lsm_open("tenm", &o, &db));
  enum { KEYS = 1000000, WRITES = 10000000 };
  uint8_t *seen = calloc(KEYS, 1);
  uint64_t x = 88172645463325252ull, max_l0 = 0;
  long live = 0;
  for (long i = 0; i < WRITES; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int kidx = (int)(x % KEYS);
    char k[17], v[33];
    snprintf(k, sizeof k, "%016d", kidx);
    snprintf(v, sizeof v, "%032ld", i);
    OK(lsm_put(db, k, 16, v, 32));
    if (!seen[kidx]) seen[kidx] = 1, live++;
    if (i % 10000 == 0) {
      lsm_stats st;
      OK(lsm_get_stats(db, &st));
      if (st.level_files[0] > max_l0) max_l0 = st.level_files[0];
    }
  }
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  uint64_t bytes = sst_bytes("tenm", NULL);
  print_message("10M writes: max L0 %llu (stop %d); %ld live keys = %ld bytes; tables %llu bytes (%.2fx)\n",
                (unsigned long long)max_l0, o.l0_stop_trigger, live, live * 48, (unsigned long long)bytes,
                (double)bytes / (double)(live * 48));
  assert_true(max_l0 <= (uint64_t)o.l0_stop_trigger + 1);
  assert_true((double)bytes <= 1.5 * (double)(live * 48));
  free(seen);
  OK(lsm_close(db));
}

/* Compaction reads its inputs ahead through fio batches (several chunk reads per refill, all in
** flight at once on uring), and the result is the same on both backends, buffered or direct: every key holds its
** last version, deleted keys are gone. */
static void test_readahead_batched(void **state) {
  (void)state;
  static const int ios[2] = {LSM_IO_SYNC, LSM_IO_URING};
  for (int b = 0; b < 4; b++) { /* sync, uring, then both with O_DIRECT (aligned chunk reads) */
    lsm_options o = opts();
    o.io = ios[b % 2];
    o.direct_io = b / 2;
    o.l0_compaction_trigger = 1000; /* no background compaction: the manual one does it all */
    o.l0_slowdown_trigger = o.l0_stop_trigger = 1000;
    char dir[32];
    snprintf(dir, sizeof dir, "ra%d", b);
    lsm_db *db;
    OK(lsm_open(dir, &o, &db));
    char k[32], v[128];
    const int n = 6000;
    for (int ver = 1; ver <= 2; ver++)
      for (int i = 0; i < n; i++) OK(lsm_put(db, k, key(k, (i * 7919) % n), v, val(v, (i * 7919) % n, ver)));
    for (int i = 0; i < n; i += 5) OK(lsm_delete(db, k, key(k, i)));
    uint64_t b0 = atomic_load(&db->vctx.counters.ra_batches);
    uint64_t r0 = atomic_load(&db->vctx.counters.ra_requests);
    OK(lsm_compact_range(db, NULL, 0, NULL, 0));
    uint64_t nb = atomic_load(&db->vctx.counters.ra_batches) - b0;
    uint64_t nr = atomic_load(&db->vctx.counters.ra_requests) - r0;
    print_message("%s%s: %llu read-ahead batches, %llu chunk reads\n", b % 2 ? "uring" : "sync",
                  b / 2 ? " direct" : "", (unsigned long long)nb, (unsigned long long)nr);
    assert_true(nb > 0);
    assert_true(nr >= 2 * nb); /* several requests per refill */
    lsm_stats st;
    OK(lsm_get_stats(db, &st));
    assert_true(st.compact_bytes_read > 0);
    for (int i = 0; i < n; i++) expect(db, NULL, i, i % 5 == 0 ? -1 : 2);
    lsm_iter *it;
    OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
    int count = 0;
    OK(lsm_iter_seek_first(it));
    while (lsm_iter_valid(it)) {
      count++;
      OK(lsm_iter_next(it));
    }
    lsm_iter_free(it);
    assert_int_equal(count, n - n / 5);
    OK(lsm_close(db));
  }
}

/* Memory bound of a compaction (compact.h "Memory"): the output builder keeps 8 bytes of filter
** hash per key, so outputs are cut at compact_output_max_keys even when their entries are tiny.
** Tombstones of keys that live in the last level are kept by L0 -> L1 compactions: ~14-byte
** entries, ~4.6k of them in a 64 KiB file without the cap; with it no output has more than
** target_file_size / 64 = 1024. */
static void test_output_keys_capped(void **state) {
  (void)state;
  lsm_options o = opts();
  lsm_db *db;
  OK(lsm_open("keycap", &o, &db));
  char k[32], v[128];
  const int n = 20000;
  for (int i = 0; i < n; i++) OK(lsm_put(db, k, key(k, i), v, val(v, i, 1)));
  OK(lsm_compact_range(db, NULL, 0, NULL, 0)); /* all data in the last level */
  /* in a scattered order: L0 files overlap, so every L0 -> L1 compaction merges (a trivial
  ** move would carry a flushed file, capped by the memtable's size instead) */
  for (int i = 0; i < n; i++) OK(lsm_delete(db, k, key(k, (int)(((long)i * 7919) % n))));
  OK(lsm_flush(db, 1));
  lsm_stats st;
  settle_scores(db, &st);
  size_t cap = compact_output_max_keys(&o);
  assert_int_equal(cap, 1024);
  uint64_t most = 0;
  int files = 0;
  pthread_mutex_lock(&db->mu);
  ver_version *cur = db->cur;
  ver_ref(cur);
  pthread_mutex_unlock(&db->mu);
  for (int l = 1; l < VER_LEVELS - 1; l++)
    for (int j = 0; j < cur->n[l]; j++) {
      sst_reader *r;
      OK(ver_file_acquire(cur->f[l][j], &r));
      uint64_t e = sst_reader_props(r)->entries;
      ver_file_release(cur->f[l][j]);
      if (e > cap) fail_msg("L%d file %llu: %llu entries > cap %zu", l, (unsigned long long)cur->f[l][j]->number,
                            (unsigned long long)e, cap);
      if (e > most) most = e;
      files++;
    }
  ver_unref(cur);
  print_message("%d tombstone files above the last level, at most %llu entries each\n", files,
                (unsigned long long)most);
  assert_true(files > 0);
  assert_true(most > cap / 2); /* the workload reaches the cap */
  for (int i = 0; i < n; i += 97) expect(db, NULL, i, -1);
  OK(lsm_close(db));
}

/* Codecs of the tables written at each level (db_level_codec): flushes (L0) and compactions into
** L1 use `l1_compression` unless it is LSM_COMPRESS_SAME; the levels below L1 use `compression`.
** Scattered keys with l0_compaction_trigger 2 make every L0 compaction merge two or more
** overlapping tables, so no L1 table is a moved one; an L1 table is rewritten, not moved, into L2
** when the two codecs differ (compact.c movable), so deeper levels hold `compression` only (with
** the same scattered keys an L1 table often overlaps nothing in L2: the zstd/none cases moved
** tables before this rule). A manual compaction then rewrites
** every table into the last level with `compression`. Every key reads back, before and after
** reopening, and lsm_check verifies every block. */
static void check_level_codecs(int compression, int l1, int want_l0, int want_l1) {
  lsm_options o = opts();
  o.compression = compression;
  o.l1_compression = l1;
  o.l0_compaction_trigger = 2;
  o.l0_slowdown_trigger = 8;
  o.l0_stop_trigger = 12;
  lsm_db *db;
  OK(lsm_open("codecs", &o, &db));
  char k[32], v[128];
  const int n = 40000; /* L1 (256 KiB) spills into L2 whatever the codec */
  for (int i = 0; i < n; i++) {
    int j = (int)(((long)i * 7919) % n);
    OK(lsm_put(db, k, key(k, j), v, val(v, j, 1)));
  }
  OK(lsm_flush(db, 1));
  lsm_stats st;
  settle_scores(db, &st);
  const char *names[] = {"none", "zstd", "lz4"};
  assert_string_equal(st.compression, names[compression]);
  assert_string_equal(st.l1_compression, names[want_l1]);
  int count[VER_LEVELS][3] = {{0}};
  pthread_mutex_lock(&db->mu);
  ver_version *cur = db->cur;
  ver_ref(cur);
  pthread_mutex_unlock(&db->mu);
  for (int l = 0; l < VER_LEVELS; l++)
    for (int j = 0; j < cur->n[l]; j++) {
      sst_reader *r;
      OK(ver_file_acquire(cur->f[l][j], &r));
      uint32_t c = sst_reader_props(r)->compression;
      ver_file_release(cur->f[l][j]);
      assert_true(c <= 2);
      count[l][c]++;
    }
  ver_unref(cur);
  int deeper[3] = {0};
  for (int l = 2; l < VER_LEVELS; l++)
    for (int c = 0; c < 3; c++) deeper[c] += count[l][c];
  print_message("compression %s, l1 %s: L0 %d/%d/%d, L1 %d/%d/%d, L2+ %d/%d/%d (none/zstd/lz4)\n",
                names[compression], names[want_l1], count[0][0], count[0][1], count[0][2], count[1][0],
                count[1][1], count[1][2], deeper[0], deeper[1], deeper[2]);
  for (int c = 0; c < 3; c++) {
    if (c != want_l0) assert_int_equal(count[0][c], 0);
    if (c != want_l1) assert_int_equal(count[1][c], 0);
    if (c != compression) assert_int_equal(deeper[c], 0); /* L1's codec is not moved down */
  }
  assert_true(count[1][want_l1] > 0);  /* L1 was written by compactions */
  assert_true(deeper[compression] > 0); /* and spilled into L2 */
  for (int i = 0; i < n; i += 7) expect(db, NULL, i, 1);
  char *rep;
  OK(lsm_check(db, &rep));
  lsm_free(rep);
  /* a manual compaction rewrites everything into the last level: `compression` throughout */
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  pthread_mutex_lock(&db->mu);
  cur = db->cur;
  ver_ref(cur);
  pthread_mutex_unlock(&db->mu);
  assert_true(cur->n[VER_LEVELS - 1] > 0);
  for (int l = 0; l < VER_LEVELS; l++)
    for (int j = 0; j < cur->n[l]; j++) {
      sst_reader *r;
      OK(ver_file_acquire(cur->f[l][j], &r));
      assert_int_equal(sst_reader_props(r)->compression, (uint32_t)compression);
      ver_file_release(cur->f[l][j]);
    }
  ver_unref(cur);
  OK(lsm_close(db));
  OK(lsm_open("codecs", &o, &db));
  for (int i = 3; i < n; i += 7) expect(db, NULL, i, 1);
  OK(lsm_close(db));
  OK(lsm_destroy("codecs"));
}

static void test_level_codecs(void **state) {
  (void)state;
  check_level_codecs(LSM_COMPRESS_LZ4, LSM_COMPRESS_NONE, LSM_COMPRESS_NONE, LSM_COMPRESS_NONE);
  check_level_codecs(LSM_COMPRESS_LZ4, LSM_COMPRESS_SAME, LSM_COMPRESS_LZ4, LSM_COMPRESS_LZ4);
  check_level_codecs(LSM_COMPRESS_NONE, LSM_COMPRESS_ZSTD, LSM_COMPRESS_ZSTD, LSM_COMPRESS_ZSTD);
  check_level_codecs(LSM_COMPRESS_ZSTD, LSM_COMPRESS_LZ4, LSM_COMPRESS_LZ4, LSM_COMPRESS_LZ4);
}

/* The codec of a flush's tables: l1_compression when set, else `compression` (L0 stays: no
** compaction runs). */
static void check_flush_codec(int compression, int l1, int want) {
  lsm_options o = opts();
  o.compression = compression;
  o.l1_compression = l1;
  o.l0_compaction_trigger = o.l0_slowdown_trigger = o.l0_stop_trigger = 1000; /* L0 stays */
  lsm_db *fdb;
  OK(lsm_open("flushcodec", &o, &fdb));
  char k[32], v[128];
  for (int i = 0; i < 500; i++) OK(lsm_put(fdb, k, key(k, i), v, val(v, i, 1)));
  OK(lsm_flush(fdb, 1));
  pthread_mutex_lock(&fdb->mu);
  ver_version *cur = fdb->cur;
  ver_ref(cur);
  pthread_mutex_unlock(&fdb->mu);
  assert_true(cur->n[0] >= 1);
  for (int j = 0; j < cur->n[0]; j++) {
    sst_reader *r;
    OK(ver_file_acquire(cur->f[0][j], &r));
    assert_int_equal(sst_reader_props(r)->compression, (uint32_t)want);
    assert_int_equal(cur->f[0][j]->codec, want); /* recorded for compact.c movable */
    ver_file_release(cur->f[0][j]);
  }
  for (int l = 1; l < VER_LEVELS; l++) assert_int_equal(cur->n[l], 0);
  ver_unref(cur);
  for (int i = 0; i < 500; i += 37) expect(fdb, NULL, i, 1);
  OK(lsm_close(fdb));
  OK(lsm_destroy("flushcodec"));
}

/* A flush writes L0 with l1_compression when it is set, else with `compression`; a bad
** l1_compression is refused by name. */
static void test_level_codec_option(void **state) {
  (void)state;
  check_flush_codec(LSM_COMPRESS_ZSTD, LSM_COMPRESS_NONE, LSM_COMPRESS_NONE);
  check_flush_codec(LSM_COMPRESS_ZSTD, LSM_COMPRESS_SAME, LSM_COMPRESS_ZSTD);
  check_flush_codec(LSM_COMPRESS_NONE, LSM_COMPRESS_LZ4, LSM_COMPRESS_LZ4);
  lsm_options o;
  o = opts();
  o.l1_compression = 3;
  lsm_db *db = NULL;
  assert_int_equal(lsm_open("badcodec", &o, &db), LSM_ERROR);
  assert_non_null(strstr(lsm_errmsg(), "l1_compression"));
  o.l1_compression = -2;
  assert_int_equal(lsm_options_validate(&o), LSM_ERROR);
}

/* background_threads = 2 under a write-heavy load with tiny files and levels: at some point two
** compactions run at once (db->max_compacting), and every key holds what a model says, before
** and after a manual compaction racing the background ones and after reopening. Close while
** compactions run must not hang. */
static void test_parallel_compactions(void **state) {
  (void)state;
  const unsigned seed = 4242;
  srand(seed);
  lsm_options o = opts();
  o.background_threads = 2;
  o.l0_compaction_trigger = 2;
  o.level1_size = 128u << 10;
  compact_test_delay_us = 2000; /* each merge lasts >= 2 ms: overlaps become likely */
  lsm_db *db;
  OK(lsm_open("par", &o, &db));
  enum { NK = 8000 };
  static int model[NK]; /* version of each key, -1 = absent */
  for (int i = 0; i < NK; i++) model[i] = -1;
  char k[32], v[128];
  for (int round = 1; round <= 12; round++) {
    for (int j = 0; j < 4000; j++) {
      int i = rand() % NK;
      if (rand() % 10 == 0) {
        OK(lsm_delete(db, k, key(k, i)));
        model[i] = -1;
      } else {
        OK(lsm_put(db, k, key(k, i), v, val(v, i, round)));
        model[i] = round;
      }
    }
    if (round == 6) OK(lsm_compact_range(db, NULL, 0, NULL, 0)); /* manual vs background */
  }
  pthread_mutex_lock(&db->mu);
  int maxc = db->max_compacting;
  pthread_mutex_unlock(&db->mu);
  lsm_stats st;
  OK(lsm_get_stats(db, &st));
  print_message("seed %u: %llu compactions, at most %d at once\n", seed, (unsigned long long)st.compactions, maxc);
  if (maxc < 2) fail_msg("seed %u: never two compactions at once (max %d)", seed, maxc);
  assert_true(maxc <= o.background_threads);
  for (int i = 0; i < NK; i++) expect(db, NULL, i, model[i]);
  OK(lsm_close(db)); /* background compactions may still run: close waits for / abandons them */
  OK(lsm_open("par", &o, &db));
  for (int i = 0; i < NK; i++) expect(db, NULL, i, model[i]);
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  int live = 0;
  for (int i = 0; i < NK; i++) {
    expect(db, NULL, i, model[i]);
    live += model[i] >= 0;
  }
  lsm_iter *it;
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
  int count = 0;
  OK(lsm_iter_seek_first(it));
  while (lsm_iter_valid(it)) {
    count++;
    OK(lsm_iter_next(it));
  }
  lsm_iter_free(it);
  assert_int_equal(count, live);
  OK(lsm_close(db));
  compact_test_delay_us = 0;
}

/* background_threads must be 1..16; the message names the option. */
static void test_background_threads_option(void **state) {
  (void)state;
  lsm_options o = opts();
  o.background_threads = 0;
  assert_int_equal(lsm_options_validate(&o), LSM_ERROR);
  assert_non_null(strstr(lsm_errmsg(), "background_threads"));
  o.background_threads = 17;
  assert_int_equal(lsm_options_validate(&o), LSM_ERROR);
  o.background_threads = 16;
  OK(lsm_options_validate(&o));
}


/* The file picker of level >= 1 compactions: least overlapping bytes in the next level per byte
** of the file first (kMinOverlappingRatio), ties round robin from the previous position. Built
** on a version of metadata only (no tables are opened). */
static void pk_add(man_edit *e, int level, uint64_t num, uint64_t size, const char *lo, const char *hi) {
  uint8_t a[32], b[32];
  size_t an = ikey_encode(a, (const uint8_t *)lo, strlen(lo), 5, IKEY_VAL);
  size_t bn = ikey_encode(b, (const uint8_t *)hi, strlen(hi), 5, IKEY_VAL);
  assert_int_equal(man_edit_add(e, level, num, size, a, an, b, bn), LSM_OK);
}

static void test_pick_min_overlap(void **state) {
  (void)state;
  ver_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ver_version *v0, *v;
  assert_int_equal(ver_new_empty(&ctx, &v0), LSM_OK);
  man_edit e;
  man_edit_init(&e);
  /* L1: four files; L2 files under them: */
  pk_add(&e, 1, 10, 100, "a", "c"); /* overlaps L2 "b".."d" (500): ratio 5 */
  pk_add(&e, 1, 11, 100, "e", "g"); /* overlaps nothing: ratio 0 */
  pk_add(&e, 1, 12, 200, "h", "k"); /* overlaps "i".."j" (100) and "k".."m" (100): ratio 1 */
  pk_add(&e, 1, 13, 100, "n", "p"); /* overlaps "k".."m"? no ("m" < "n"); nothing: ratio 0 */
  pk_add(&e, 2, 20, 500, "b", "d");
  pk_add(&e, 2, 21, 100, "i", "j");
  pk_add(&e, 2, 22, 100, "k", "m");
  pk_add(&e, 2, 23, 900, "q", "z");
  assert_int_equal(ver_apply(v0, &e, &v), LSM_OK);
  man_edit_free(&e);
  assert_int_equal(v->n[1], 4);
  int order[4];
  /* ties (files 11 and 13, ratio 0) in round-robin order from j0 */
  assert_int_equal(compact_pick_order(v, 1, 0, order), LSM_OK);
  int want0[4] = {1, 3, 2, 0};
  assert_memory_equal(order, want0, sizeof order);
  assert_int_equal(compact_pick_order(v, 1, 2, order), LSM_OK);
  int want2[4] = {3, 1, 2, 0};
  assert_memory_equal(order, want2, sizeof order);
  /* the last level with data: nothing below, all ratios 0, pure round robin */
  int o2[4];
  assert_int_equal(compact_pick_order(v, 2, 3, o2), LSM_OK);
  int want_l2[4] = {3, 0, 1, 2};
  assert_memory_equal(o2, want_l2, sizeof o2);
  ver_unref(v);
  ver_unref(v0);
}

/* Level scores for a given shape: L0 counts files against l0_compaction_trigger, Li (i >= 1)
** bytes against level1_size * 10^(i-1); the defaults give 16 MiB compaction outputs. */
static void test_level_scores(void **state) {
  (void)state;
  lsm_options o;
  lsm_options_default(&o);
  assert_int_equal(o.target_file_size, 16u << 20);
  o.l0_compaction_trigger = 4;
  o.level1_size = 1000;
  ver_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ver_version *v0, *v;
  assert_int_equal(ver_new_empty(&ctx, &v0), LSM_OK);
  man_edit e;
  man_edit_init(&e);
  pk_add(&e, 0, 1, 50, "a", "z");
  pk_add(&e, 0, 2, 50, "a", "z");
  pk_add(&e, 0, 3, 50, "a", "z");
  pk_add(&e, 1, 10, 600, "a", "m");
  pk_add(&e, 1, 11, 900, "n", "z");
  pk_add(&e, 2, 20, 2500, "a", "z");
  pk_add(&e, 3, 30, 250000, "a", "z");
  assert_int_equal(ver_apply(v0, &e, &v), LSM_OK);
  man_edit_free(&e);
  assert_true(compact_score(v, &o, 0) == 0.75);  /* 3 of 4 files */
  assert_true(compact_score(v, &o, 1) == 1.5);   /* 1500 of 1000 bytes */
  assert_true(compact_score(v, &o, 2) == 0.25);  /* 2500 of 10000 */
  assert_true(compact_score(v, &o, 3) == 2.5);   /* 250000 of 100000 */
  assert_true(compact_score(v, &o, 4) == 0.0);   /* empty */
  ver_unref(v);
  ver_unref(v0);
}

/* Random puts and deletes with tiny memtables, files and levels, so data spreads over several
** levels and more than a thousand compactions run: every key holds what a model
** says (after the load, after reopening and after a full compaction); L0 stays within the stop
** trigger; once compactions settle no level scores >= 1. */
/* Wait (up to ~20 s) until no compaction is needed or running. */
static void settle(lsm_db *db) {
  for (int tries = 0; tries < 10000; tries++) {
    pthread_mutex_lock(&db->mu);
    int busy = compact_needed(db) || db->compacting;
    pthread_mutex_unlock(&db->mu);
    if (!busy) return;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
}

static void test_many_compactions_model(void **state) {
  (void)state;
  const unsigned seed = 777;
  srand(seed);
  lsm_options o = opts(); /* 64 KiB memtables and files */
  o.l0_compaction_trigger = 1; /* a compaction after every flush: many small ones */
  o.level1_size = 128u << 10;
  lsm_db *db;
  OK(lsm_open("dynm", &o, &db));
  enum { NK = 40000 };
  static int model[NK];
  for (int i = 0; i < NK; i++) model[i] = -1;
  char k[32], v[128];
  uint64_t max_l0 = 0;
  for (int round = 1; round <= 10; round++) {
    for (int j = 0; j < 30000; j++) {
      int i = rand() % NK;
      if (rand() % 8 == 0) {
        OK(lsm_delete(db, k, key(k, i)));
        model[i] = -1;
      } else {
        OK(lsm_put(db, k, key(k, i), v, val(v, i, round)));
        model[i] = round;
      }
      if (j % 500 == 0) {
        lsm_stats st;
        OK(lsm_get_stats(db, &st));
        if (st.level_files[0] > max_l0) max_l0 = st.level_files[0];
      }
      if (j % 2000 == 1999) settle(db); /* compactions keep up: many small ones, not a few huge */
    }
  }
  lsm_stats st;
  OK(lsm_flush(db, 1));
  settle(db);
  OK(lsm_get_stats(db, &st));
  int deepest = 0;
  for (int l = 1; l < LSM_MAX_LEVELS && l < VER_LEVELS; l++)
    if (st.level_files[l]) deepest = l;
  print_message("seed %u: %llu compactions, written %llu of read %llu bytes, max L0 %llu, deepest level %d\n",
                seed, (unsigned long long)st.compactions, (unsigned long long)st.compact_bytes_written,
                (unsigned long long)st.compact_bytes_read, (unsigned long long)max_l0, deepest);
  if (st.compactions <= 1000) fail_msg("seed %u: only %llu compactions", seed, (unsigned long long)st.compactions);
  if (deepest < 3) fail_msg("seed %u: data reached only L%d", seed, deepest);
  assert_true(max_l0 <= (uint64_t)o.l0_stop_trigger + 1);
  for (int l = 0; l < VER_LEVELS - 1; l++)
    if (st.level_score[l] >= 1.0) fail_msg("seed %u: L%d scores %.3f after settling", seed, l, st.level_score[l]);
  for (int i = 0; i < NK; i++) expect(db, NULL, i, model[i]);
  OK(lsm_close(db));
  OK(lsm_open("dynm", &o, &db));
  for (int i = 0; i < NK; i++) expect(db, NULL, i, model[i]);
  OK(lsm_compact_range(db, NULL, 0, NULL, 0));
  for (int i = 0; i < NK; i++) expect(db, NULL, i, model[i]);
  OK(lsm_close(db));
}

/* Wait (at most 10 s) until L0 is empty; *st is the last statistics read. */
static void wait_l0_empty(lsm_db *db, lsm_stats *st) {
  for (int t = 0; t < 500; t++) { /* up to 10 s */
    OK(lsm_get_stats(db, st));
    if (st->level_files[0] == 0) return;
    usleep(20000);
  }
  fail_msg("L0 still has %llu files", (unsigned long long)st->level_files[0]);
}

/* Read-triggered L0 compaction (ver_seek_charge): two L0 files, below the trigger, stay
** while gets are few; gets that search the newer file in vain before finding their key in the
** older one use up its allowance (100 for a small file) and L0 is then compacted into L1,
** every key still reading its value. With `multiget`, the second half of the lookups goes
** through lsm_multiget (which charges the same way). */
/* A db in dir with two L0 files of interleaved key sets: even keys 0..398 (older, value
** version 1), odd keys (newer, version 2). Returns the compaction count so far. */
static uint64_t open_two_l0_files(const char *dir, lsm_db **db) {
  lsm_options o = opts();
  OK(lsm_open(dir, &o, db));
  char k[32], v[128];
  for (int i = 0; i < 400; i += 2) OK(lsm_put(*db, k, key(k, i), v, val(v, i, 1)));
  OK(lsm_flush(*db, 1));
  for (int i = 1; i < 400; i += 2) OK(lsm_put(*db, k, key(k, i), v, val(v, i, 2)));
  OK(lsm_flush(*db, 1));
  lsm_stats st;
  OK(lsm_get_stats(*db, &st));
  assert_int_equal(st.level_files[0], 2);
  return st.compactions;
}

static void read_triggered_l0_compaction(int multiget) {
  lsm_db *db;
  uint64_t c0 = open_two_l0_files("seekc", &db);
  char k[32], v[128];
  lsm_stats st;
  /* 60 gets of even keys: each searches the newer file first, below its allowance of 100 */
  for (int i = 0; i < 120; i += 2) expect(db, NULL, i, 1);
  usleep(200000);
  OK(lsm_get_stats(db, &st));
  assert_int_equal(st.level_files[0], 2);
  assert_int_equal(st.compactions, c0);
  /* 60 more: the allowance runs out, L0 goes to L1 */
  if (!multiget) {
    for (int i = 120; i < 240; i += 2) expect(db, NULL, i, 1);
  } else {
    char kb[60][32];
    const void *ks[60];
    size_t kns[60], vns[60];
    void *vs[60];
    int rcs[60];
    for (int j = 0; j < 60; j++) {
      kns[j] = key(kb[j], 120 + 2 * j);
      ks[j] = kb[j];
    }
    OK(lsm_multiget(db, NULL, 60, ks, kns, vs, vns, rcs));
    for (int j = 0; j < 60; j++) {
      OK(rcs[j]);
      size_t vn = val(v, 120 + 2 * j, 1);
      assert_int_equal(vns[j], vn);
      assert_memory_equal(vs[j], v, vn);
      lsm_free(vs[j]);
    }
  }
  wait_l0_empty(db, &st);
  assert_true(st.compactions > c0);
  assert_true(st.level_files[1] > 0);
  for (int i = 0; i < 400; i++) expect(db, NULL, i, i % 2 ? 2 : 1);
  lsm_iter *it;
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
  int n = 0;
  OK(lsm_iter_seek_first(it));
  while (lsm_iter_valid(it)) {
    const void *kk;
    size_t kn;
    lsm_iter_key(it, &kk, &kn);
    assert_int_equal(kn, key(k, n));
    assert_memory_equal(kk, k, kn);
    n++;
    OK(lsm_iter_next(it));
  }
  OK(lsm_iter_status(it));
  assert_int_equal(n, 400);
  lsm_iter_free(it);
  OK(lsm_close(db));
  OK(lsm_destroy("seekc"));
}
/* lsm_exists does not charge: as many existence checks as the gets above, and more, leave L0
** alone (a random fill's PRIMARY KEY checks must not compact each new L0 file into L1). */
static void test_exists_does_not_trigger_l0_compaction(void **state) {
  (void)state;
  lsm_db *db;
  uint64_t c0 = open_two_l0_files("seeke", &db);
  char k[32];
  lsm_stats st;
  for (int r = 0; r < 5; r++) /* 1000 checks of keys in the older file: each searches both */
    for (int i = 0; i < 400; i += 2) assert_int_equal(lsm_exists(db, NULL, k, key(k, i)), LSM_OK);
  usleep(200000);
  OK(lsm_get_stats(db, &st));
  assert_int_equal(st.level_files[0], 2);
  assert_int_equal(st.compactions, c0);
  OK(lsm_close(db));
  OK(lsm_destroy("seeke"));
}
/* Iterator seeks charge too (ver_iter_charge): a table read only by ranges must not keep its
** L0 files for good. Each seek positions in both L0 files of open_two_l0_files and charges the
** newer (allowance 100). Seeks that position in no L0 file (past both files' keys), and seeks
** with a single L0 file as the only file, charge nothing; 60 seeks in range are below the
** allowance; 60 more of every kind (seek, seek_first, seek_for_prev, seek_last) use it up and L0
** is compacted into L1 without any get. */
static void test_iterator_seeks_trigger_l0_compaction(void **state) {
  (void)state;
  char k[32];
  lsm_stats st;
  lsm_iter *it;
  /* one L0 file and nothing else: compacting it would not spare any seek a file */
  lsm_options o = opts();
  lsm_db *db;
  OK(lsm_open("seeki1", &o, &db));
  for (int i = 0; i < 400; i++) OK(lsm_put(db, k, key(k, i), "v", 1));
  OK(lsm_flush(db, 1));
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
  for (int i = 0; i < 300; i++) OK(lsm_iter_seek(it, k, key(k, i % 400)));
  for (int i = 0; i < 300; i++) OK(lsm_iter_seek_first(it));
  lsm_iter_free(it);
  usleep(200000);
  OK(lsm_get_stats(db, &st));
  assert_int_equal(st.level_files[0], 1);
  assert_int_equal(st.compactions, 0);
  OK(lsm_close(db));
  OK(lsm_destroy("seeki1"));

  uint64_t c0 = open_two_l0_files("seeki", &db);
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
  for (int i = 0; i < 300; i++) { /* past the last key of both files */
    OK(lsm_iter_seek(it, k, key(k, 400 + i)));
    assert_false(lsm_iter_valid(it));
  }
  lsm_iter_free(it);
  /* a lower bound past both files: seek_first positions in neither */
  OK(lsm_iter_new(db, NULL, k, key(k, 500), NULL, 0, &it));
  for (int i = 0; i < 300; i++) OK(lsm_iter_seek_first(it));
  lsm_iter_free(it);
  OK(lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it));
  for (int i = 0; i < 60; i++) {
    OK(lsm_iter_seek(it, k, key(k, 3 * i)));
    assert_true(lsm_iter_valid(it));
  }
  usleep(200000);
  OK(lsm_get_stats(db, &st));
  assert_int_equal(st.level_files[0], 2);
  assert_int_equal(st.compactions, c0);
  for (int i = 0; i < 15; i++) {
    OK(lsm_iter_seek_first(it));
    OK(lsm_iter_seek_last(it));
    OK(lsm_iter_seek_for_prev(it, k, key(k, 7 * i)));
    assert_true(lsm_iter_valid(it));
    OK(lsm_iter_seek(it, k, key(k, 11 * i)));
  }
  lsm_iter_free(it);
  wait_l0_empty(db, &st);
  assert_true(st.compactions > c0);
  assert_true(st.level_files[1] > 0);
  for (int i = 0; i < 400; i++) expect(db, NULL, i, i % 2 ? 2 : 1);
  OK(lsm_close(db));
  OK(lsm_destroy("seeki"));
}

static void test_read_triggered_l0_compaction(void **state) {
  (void)state;
  read_triggered_l0_compaction(0);
}
static void test_read_triggered_l0_compaction_multiget(void **state) {
  (void)state;
  read_triggered_l0_compaction(1);
}

/* The default L0 trigger (6, lsm.h): five overlapping flushed tables stay in L0 (no
** compaction, no reads to trigger one), the sixth starts an L0 compaction that takes all six
** into L1; every key keeps its newest value. */
static void test_default_l0_trigger(void **state) {
  (void)state;
  lsm_options o;
  lsm_options_default(&o);
  assert_int_equal(o.l0_compaction_trigger, 6);
  o.memtable_size = 1u << 20; /* only the explicit flushes below */
  o.sync = LSM_SYNC_OFF;
  lsm_db *db;
  OK(lsm_open("l0trig", &o, &db));
  char k[32], v[128];
  lsm_stats st;
  for (int t = 1; t <= 6; t++) {
    for (int i = 0; i < 300; i++) OK(lsm_put(db, k, key(k, i * 7 % 300), v, val(v, i * 7 % 300, t)));
    OK(lsm_flush(db, 1));
    if (t < 6) {
      usleep(t == 5 ? 300000 : 10000); /* time for a (wrong) compaction to start */
      OK(lsm_get_stats(db, &st));
      assert_int_equal(st.level_files[0], (uint64_t)t);
      assert_int_equal(st.compactions, 0);
    }
  }
  for (int w = 0; w < 500; w++) { /* up to 10 s */
    OK(lsm_get_stats(db, &st));
    if (st.level_files[0] == 0) break;
    usleep(20000);
  }
  assert_int_equal(st.level_files[0], 0);
  assert_true(st.compactions >= 1);
  assert_true(st.level_files[1] >= 1);
  for (int i = 0; i < 300; i++) expect(db, NULL, i, 6);
  OK(lsm_close(db));
  OK(lsm_destroy("l0trig"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_space_reclaimed),
      cmocka_unit_test(test_exists_does_not_trigger_l0_compaction),
      cmocka_unit_test(test_snapshot_survives_compaction),
      cmocka_unit_test(test_l0_bounded_and_readers),
      cmocka_unit_test(test_trivial_move),
      cmocka_unit_test(test_manifest_rotation),
      cmocka_unit_test(test_readahead_batched),
      cmocka_unit_test(test_output_keys_capped),
      cmocka_unit_test(test_level_codecs),
      cmocka_unit_test(test_level_codec_option),
      cmocka_unit_test(test_parallel_compactions),
      cmocka_unit_test(test_background_threads_option),
      cmocka_unit_test(test_pick_min_overlap),
      cmocka_unit_test(test_level_scores),
      cmocka_unit_test(test_default_l0_trigger),
      cmocka_unit_test(test_read_triggered_l0_compaction),
      cmocka_unit_test(test_read_triggered_l0_compaction_multiget),
      cmocka_unit_test(test_iterator_seeks_trigger_l0_compaction),
      cmocka_unit_test(test_many_compactions_model),
      cmocka_unit_test(test_long_10m_writes),
  };
  /* the last case only with LSMVTAB_LONG=1 (minutes); not registered otherwise, so the runner
  ** does not count a skipped case as a failure */
  const char *l = getenv("LSMVTAB_LONG");
  size_t n = sizeof tests / sizeof tests[0] - (l && *l == '1' ? 0 : 1);
  return _cmocka_run_group_tests("test_compact", tests, n, NULL, NULL);
}
