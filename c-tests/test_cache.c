/* Tests of engine/cache.c: hit/miss, eviction by bytes in LRU order, pinned entries never
** evicted nor freed, replacement, erase by file, capacity 0, sharding, admission on a second
** miss, and threads hammering one cache concurrently. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "cache.h"
#include "mm.h"
#include "status.h"

static _Atomic long live; /* values alive */

typedef struct val {
  uint64_t file, off;
  uint64_t magic;
} val;

static val *mkval(uint64_t file, uint64_t off) {
  val *v = malloc(sizeof *v);
  v->file = file;
  v->off = off;
  v->magic = 0xC0FFEE;
  atomic_fetch_add(&live, 1);
  return v;
}

static void delval(void *p) {
  val *v = p;
  if (v->magic != 0xC0FFEE) { /* freed twice; may run on a worker thread: no cmocka here */
    fprintf(stderr, "cache value freed twice\n");
    abort();
  }
  v->magic = 0;
  free(v);
  atomic_fetch_sub(&live, 1);
}

static void put(cache *c, uint64_t f, uint64_t o, size_t charge) {
  cache_handle *h;
  assert_int_equal(cache_insert(c, f, o, mkval(f, o), charge, delval, &h), LSM_OK);
  cache_release(c, h);
}

static int has(cache *c, uint64_t f, uint64_t o) {
  cache_handle *h = cache_lookup(c, f, o);
  if (!h) return 0;
  val *v = cache_value(h);
  assert_true(v->file == f && v->off == o && v->magic == 0xC0FFEE);
  cache_release(c, h);
  return 1;
}

static void test_basic(void **state) {
  (void)state;
  cache *c;
  assert_int_equal(cache_new(1 << 20, &c), LSM_OK);
  assert_false(has(c, 1, 0));
  put(c, 1, 0, 100);
  put(c, 1, 4096, 100);
  put(c, 2, 0, 100);
  assert_true(has(c, 1, 0));
  assert_true(has(c, 1, 4096));
  assert_true(has(c, 2, 0));
  assert_false(has(c, 2, 4096));
  cache_stats st;
  cache_get_stats(c, &st);
  assert_int_equal(st.hits, 3);
  assert_int_equal(st.misses, 2);
  assert_int_equal(st.usage, 300);
  assert_int_equal(st.entries, 3);
  /* replacement: the new value wins, the old one is freed */
  put(c, 1, 0, 50);
  assert_int_equal(live, 3);
  cache_get_stats(c, &st);
  assert_int_equal(st.usage, 250);
  /* erase by file */
  cache_erase_file(c, 1);
  assert_false(has(c, 1, 0));
  assert_false(has(c, 1, 4096));
  assert_true(has(c, 2, 0));
  assert_int_equal(live, 1);
  cache_erase(c, 2, 0);
  assert_false(has(c, 2, 0));
  assert_int_equal(live, 0);
  cache_free(c);
}

/* With one key per shard budget, eviction must follow bytes and LRU order within a shard. */
static void test_eviction_by_bytes(void **state) {
  (void)state;
  size_t cap = 16 * 1000; /* 1000 bytes per shard */
  cache *c;
  assert_int_equal(cache_new(cap, &c), LSM_OK);
  for (uint64_t i = 0; i < 10000; i++) {
    put(c, 7, i * 4096, 100);
    cache_stats st;
    cache_get_stats(c, &st);
    assert_true(st.usage <= cap);
    for (int s = 0; s < CACHE_SHARDS; s++) assert_true(cache_shard_usage(c, s) <= 1000);
  }
  cache_stats st;
  cache_get_stats(c, &st);
  assert_int_equal(st.entries, st.usage / 100);
  assert_true(st.usage >= cap - 16 * 100); /* and it is actually used */
  assert_int_equal(live, (long)st.entries);
  /* The survivors are the newest of each shard: the last 10 keys of a shard are all there. */
  int seen[CACHE_SHARDS] = {0};
  for (int64_t i = 9999; i >= 0; i--) {
    int s = cache_shard_of(7, (uint64_t)i * 4096);
    if (seen[s] < 10) {
      assert_true(has(c, 7, (uint64_t)i * 4096));
      seen[s]++;
    }
  }
  /* LRU: touching an old entry keeps it alive over newer ones of its shard. */
  int s0 = cache_shard_of(7, 9999 * 4096);
  uint64_t oldest = 0;
  int found = 0;
  for (int64_t i = 9999, k = 0; i >= 0; i--)
    if (cache_shard_of(7, (uint64_t)i * 4096) == s0 && ++k == 10) {
      oldest = (uint64_t)i * 4096;
      found = 1;
      break;
    }
  assert_true(found);
  assert_true(has(c, 7, oldest)); /* now the most recent */
  for (uint64_t i = 20000, added = 0; added < 5; i++)
    if (cache_shard_of(7, i * 4096) == s0) {
      put(c, 7, i * 4096, 100);
      added++;
    }
  assert_true(has(c, 7, oldest));
  cache_free(c);
  assert_int_equal(live, 0);
}

static void test_pinned(void **state) {
  (void)state;
  cache *c;
  assert_int_equal(cache_new(16 * 1000, &c), LSM_OK);
  cache_handle *pin;
  val *pv = mkval(9, 0);
  assert_int_equal(cache_insert(c, 9, 0, pv, 600, delval, &pin), LSM_OK);
  int s = cache_shard_of(9, 0);
  /* flood its shard */
  for (uint64_t i = 1, added = 0; added < 50; i++)
    if (cache_shard_of(9, i) == s) {
      put(c, 9, i, 300);
      added++;
    }
  /* still there and valid (only this and at most one 300-byte entry fit in 1000 bytes) */
  assert_true(pv->magic == 0xC0FFEE);
  assert_true(has(c, 9, 0));
  /* erase while pinned: gone from the table, value still valid until release */
  cache_erase_file(c, 9);
  assert_false(has(c, 9, 0));
  assert_true(((val *)cache_value(pin))->magic == 0xC0FFEE);
  assert_int_equal(live, 1);
  cache_release(c, pin);
  assert_int_equal(live, 0);
  /* a pinned entry over capacity is evicted once released */
  assert_int_equal(cache_insert(c, 5, 0, mkval(5, 0), 5000, delval, &pin), LSM_OK);
  assert_true(has(c, 5, 0));
  cache_release(c, pin);
  assert_false(has(c, 5, 0));
  assert_int_equal(live, 0);
  cache_free(c);
}

static void test_capacity_zero(void **state) {
  (void)state;
  cache *c;
  assert_int_equal(cache_new(0, &c), LSM_OK);
  cache_handle *h;
  assert_int_equal(cache_insert(c, 1, 2, mkval(1, 2), 10, delval, &h), LSM_OK);
  assert_true(((val *)cache_value(h))->off == 2);
  assert_false(has(c, 1, 2));
  assert_int_equal(live, 1);
  cache_release(c, h);
  assert_int_equal(live, 0);
  cache_stats st;
  cache_get_stats(c, &st);
  assert_int_equal(st.entries, 0);
  assert_int_equal(st.misses, 1);
  cache_free(c);
}

static void test_sharding(void **state) {
  (void)state;
  int count[CACHE_SHARDS] = {0};
  for (uint64_t f = 1; f <= 10; f++)
    for (uint64_t o = 0; o < 1600; o++) count[cache_shard_of(f, o * 4096)]++;
  for (int s = 0; s < CACHE_SHARDS; s++) assert_in_range(count[s], 800, 1200); /* ~1000 each */
  cache *c;
  assert_int_equal(cache_new(1 << 30, &c), LSM_OK);
  for (uint64_t o = 0; o < 1600; o++) put(c, 3, o * 4096, 10);
  for (int s = 0; s < CACHE_SHARDS; s++) assert_true(cache_shard_usage(c, s) > 0);
  cache_free(c);
}

static void test_nomem(void **state) {
  (void)state;
  cache *c;
  mm_fail_after(3);
  int rc = cache_new(100, &c);
  mm_fail_after(-1);
  assert_int_equal(rc, LSM_NOMEM);
  assert_int_equal(cache_new(100, &c), LSM_OK);
  cache_handle *h;
  val *v = mkval(1, 1);
  mm_fail_after(0);
  rc = cache_insert(c, 1, 1, v, 10, delval, &h);
  mm_fail_after(-1);
  assert_int_equal(rc, LSM_NOMEM);
  delval(v); /* still ours */
  cache_free(c);
}


/* cache_insert_at: the entry lives inside the value's allocation (what sst.c does for data
** blocks). The deleter frees both; eviction, replacement, erase, pinning, capacity 0 and
** cache_free must each free it exactly once (ASan/live count check) and never touch it after. */
typedef struct emb {
  val v; /* first: cache_value is the allocation */
  _Alignas(16) uint8_t entry[];
} emb;
static void delemb(void *p) {
  emb *e = p;
  if (e->v.magic != 0xC0FFEE) {
    fprintf(stderr, "embedded cache value freed twice\n");
    abort();
  }
  e->v.magic = 0;
  free(e);
  atomic_fetch_sub(&live, 1);
}
static cache_handle *put_at(cache *c, uint64_t f, uint64_t o, size_t charge) {
  emb *e = malloc(sizeof *e + cache_entry_size());
  e->v.file = f;
  e->v.off = o;
  e->v.magic = 0xC0FFEE;
  atomic_fetch_add(&live, 1);
  cache_handle *h;
  cache_insert_at(c, e->entry, f, o, e, charge, delemb, &h);
  assert_ptr_equal(cache_value(h), e);
  return h;
}

static void test_insert_at(void **state) {
  (void)state;
  cache *c;
  assert_int_equal(cache_new(16 * 1000, &c), LSM_OK); /* 1000 bytes per shard */
  /* many more than fit: the oldest are evicted and freed */
  for (uint64_t o = 0; o < 2000; o++) cache_release(c, put_at(c, 1, o, 100));
  cache_stats st;
  cache_get_stats(c, &st);
  assert_true(st.usage <= 16 * 1000);
  assert_int_equal(live, (long)st.entries);
  assert_true(has(c, 1, 1999));
  /* pinned survives eviction pressure and erase until released */
  cache_handle *pin = put_at(c, 2, 0, 900);
  for (uint64_t o = 0; o < 500; o++) cache_release(c, put_at(c, 3, o, 100));
  cache_erase_file(c, 2);
  assert_true(((val *)cache_value(pin))->magic == 0xC0FFEE);
  long before = live;
  cache_release(c, pin);
  assert_int_equal(live, before - 1);
  /* replacement: mixes an embedded entry with an allocated one under the same key */
  cache_release(c, put_at(c, 4, 0, 10));
  put(c, 4, 0, 10);
  assert_true(has(c, 4, 0));
  cache_release(c, put_at(c, 4, 0, 10));
  assert_true(has(c, 4, 0));
  cache_free(c);
  assert_int_equal(live, 0);
  /* capacity 0: lives as long as its handle */
  assert_int_equal(cache_new(0, &c), LSM_OK);
  cache_handle *h = put_at(c, 1, 2, 10);
  assert_int_equal(live, 1);
  assert_false(has(c, 1, 2));
  cache_release(c, h);
  assert_int_equal(live, 0);
  cache_free(c);
}

#define NTHREADS 4
static cache *shared;
static void *hammer(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  for (int i = 0; i < 200000; i++) {
    uint64_t f = (uint64_t)(rand_r(&seed) % 4), o = (uint64_t)(rand_r(&seed) % 2000);
    int op = rand_r(&seed) % 100;
    if (op < 60) {
      cache_handle *h = cache_lookup(shared, f, o);
      if (h) {
        val *v = cache_value(h);
        if (v->file != f || v->off != o || v->magic != 0xC0FFEE) return (void *)1;
        cache_release(shared, h);
      }
    } else if (op < 99) {
      cache_handle *h;
      val *v = mkval(f, o);
      if (cache_insert(shared, f, o, v, 64 + o % 64, delval, &h)) return (void *)2;
      if (((val *)cache_value(h))->magic != 0xC0FFEE) return (void *)3;
      cache_release(shared, h);
    } else {
      cache_erase_file(shared, f);
    }
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  assert_int_equal(cache_new(64 * 1024, &shared), LSM_OK);
  pthread_t t[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < NTHREADS; i++) {
    void *r;
    pthread_join(t[i], &r);
    if (r) fail_msg("thread %d (seed %d) failed: %ld", i, i + 1, (long)(intptr_t)r);
  }
  cache_stats st;
  cache_get_stats(shared, &st);
  assert_true(st.usage <= 64 * 1024);
  assert_true(st.hits > 0 && st.misses > 0);
  assert_int_equal(live, (long)st.entries);
  cache_free(shared);
  assert_int_equal(live, 0);
}

/* Admission (cache_lookup_admit): a first miss says "do not insert", a second miss of the same
** key soon after says "insert"; a hit says neither; the decision is per key (another key's miss
** in between does not admit this one); a capacity-0 cache never admits. A workload that only
** inserts what is admitted stays within capacity and keeps its twice-read keys. */
static void test_admit(void **state) {
  (void)state;
  cache *c;
  assert_int_equal(cache_new(1 << 20, &c), LSM_OK);
  int admit = -1;
  assert_null(cache_lookup_admit(c, 7, 4096, &admit));
  assert_int_equal(admit, 0);
  assert_null(cache_lookup_admit(c, 7, 8192, &admit)); /* another key: its own first miss */
  assert_int_equal(admit, 0);
  assert_null(cache_lookup_admit(c, 7, 4096, &admit));
  assert_int_equal(admit, 1);
  put(c, 7, 4096, 100);
  cache_handle *h = cache_lookup_admit(c, 7, 4096, &admit);
  assert_non_null(h);
  assert_int_equal(admit, 0);
  cache_release(c, h);
  assert_null(cache_lookup_admit(c, 7, 8192, &admit)); /* its second miss */
  assert_int_equal(admit, 1);
  cache_stats st;
  cache_get_stats(c, &st);
  assert_int_equal(st.hits, 1);
  assert_int_equal(st.misses, 4);
  /* uniform reads of 20000 keys of 1 KiB each through a 1 MiB cache, inserting only what is
  ** admitted: far fewer insertions than misses, usage within capacity; then a small set read
  ** over and over gets in (second miss) and stays (hits) */
  unsigned seed = 5;
  long inserted = 0, misses = 0;
  for (int i = 0; i < 100000; i++) {
    uint64_t off = (uint64_t)(rand_r(&seed) % 20000) * 4096;
    h = cache_lookup_admit(c, 9, off, &admit);
    if (h) {
      assert_int_equal(admit, 0);
      cache_release(c, h);
      continue;
    }
    misses++;
    if (admit) {
      put(c, 9, off, 1024);
      inserted++;
    }
  }
  cache_get_stats(c, &st);
  assert_true(st.usage <= (1 << 20));
  if (inserted * 4 > misses) fail_msg("admitted %ld of %ld one-time misses", inserted, misses);
  int second = 0; /* admitted on the second miss (a slot shared with another key can delay it) */
  for (int round = 0; round < 6; round++)
    for (uint64_t k = 0; k < 50; k++) {
      h = cache_lookup_admit(c, 10, k * 4096, &admit);
      if (h) {
        assert_true(round > 0);
        cache_release(c, h);
      } else {
        if (round == 0) assert_int_equal(admit, 0);
        second += round == 1 && admit;
        if (admit) put(c, 10, k * 4096, 1024);
      }
    }
  assert_true(second >= 40);
  for (uint64_t k = 0; k < 50; k++) assert_true(has(c, 10, k * 4096));
  cache_free(c);
  /* capacity 0 keeps nothing and never admits */
  assert_int_equal(cache_new(0, &c), LSM_OK);
  for (int i = 0; i < 3; i++) {
    assert_null(cache_lookup_admit(c, 1, 0, &admit));
    assert_int_equal(admit, 0);
  }
  cache_free(c);
  assert_int_equal(atomic_load(&live), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),         cmocka_unit_test(test_eviction_by_bytes),
      cmocka_unit_test(test_pinned),        cmocka_unit_test(test_capacity_zero),
      cmocka_unit_test(test_sharding),      cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_threads),       cmocka_unit_test(test_insert_at),
      cmocka_unit_test(test_admit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
