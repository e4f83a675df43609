/* Tests of engine/arena.c and engine/memtable.c: arena alignment/accounting/reserve, skiplist
** order with many versions per user key, gets at snapshots, tombstones, the iterator in both
** directions and seek (against a sorted reference), lock-free readers racing a writer, large
** values, and OOM injection (LSM_NOMEM, list still consistent, nothing leaked under ASan). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ikey.h"
#include "memtable.h"
#include "mm.h"
#include "status.h"

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s ? s : 1; }
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* ---- arena ------------------------------------------------------------------------------- */

static void test_arena(void **state) {
  (void)state;
  arena a;
  arena_init(&a);
  assert_int_equal(arena_bytes(&a), 0);
  size_t total = 0;
  for (int i = 1; i < 3000; i++) {
    void *p;
    size_t n = (size_t)(i % 97) + 1;
    assert_int_equal(arena_alloc(&a, n, &p), LSM_OK);
    assert_int_equal((uintptr_t)p % ARENA_ALIGN, 0);
    memset(p, 0xab, n);
    total += (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
  }
  assert_int_equal(arena_used(&a), total);
  assert_true(arena_bytes(&a) >= total);
  /* oversized: own chunk, and the bytes are usable */
  void *big;
  assert_int_equal(arena_alloc(&a, 3u << 20, &big), LSM_OK);
  memset(big, 1, 3u << 20);
  assert_true(arena_bytes(&a) >= total + (3u << 20));
  /* reserve: then no allocation may reach mm_malloc */
  assert_int_equal(arena_reserve(&a, 200 * 64), LSM_OK);
  mm_fail_after(0);
  for (int i = 0; i < 200; i++) {
    void *p;
    assert_int_equal(arena_alloc(&a, 60, &p), LSM_OK);
  }
  void *p;
  assert_int_equal(arena_alloc(&a, 5u << 20, &p), LSM_NOMEM); /* needs a chunk: fails */
  mm_fail_after(-1);
  arena_free_all(&a);
  assert_int_equal(arena_bytes(&a), 0);
  assert_int_equal(arena_used(&a), 0);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static void add(mem *m, const char *k, uint64_t seq, int type, const char *v) {
  int rc = mem_add(m, seq, type, (const uint8_t *)k, strlen(k), (const uint8_t *)v, v ? strlen(v) : 0);
  assert_int_equal(rc, LSM_OK);
}

/* get as a string: "V:value", "D" (tombstone) or "-" (not found) */
static const char *get(mem *m, const char *k, uint64_t snap, uint64_t *seq) {
  static char buf[256];
  int type;
  const uint8_t *v;
  size_t vn;
  int rc = mem_get(m, (const uint8_t *)k, strlen(k), snap, &type, &v, &vn, seq);
  if (rc == LSM_NOTFOUND) return "-";
  assert_int_equal(rc, LSM_OK);
  if (type == IKEY_DEL) {
    assert_null(v);
    assert_int_equal(vn, 0);
    return "D";
  }
  assert_int_equal(type, IKEY_VAL);
  snprintf(buf, sizeof buf, "V:%.*s", (int)vn, (const char *)v);
  return buf;
}

/* ---- basic semantics --------------------------------------------------------------------- */

static void test_get_snapshots(void **state) {
  (void)state;
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  assert_int_equal(mem_count(m), 0);
  assert_string_equal(get(m, "a", IKEY_MAX_SEQ, NULL), "-");
  add(m, "b", 10, IKEY_VAL, "b10");
  add(m, "b", 20, IKEY_DEL, NULL);
  add(m, "b", 30, IKEY_VAL, "b30");
  add(m, "a", 15, IKEY_VAL, "a15");
  add(m, "c", 5, IKEY_VAL, "");
  add(m, "ba", 25, IKEY_VAL, "ba25"); /* "b" is a prefix: must not be confused */
  assert_int_equal(mem_count(m), 6);
  uint64_t seq = 0;
  assert_string_equal(get(m, "b", 9, NULL), "-");
  assert_string_equal(get(m, "b", 10, &seq), "V:b10");
  assert_int_equal(seq, 10);
  assert_string_equal(get(m, "b", 19, NULL), "V:b10");
  assert_string_equal(get(m, "b", 20, &seq), "D");
  assert_int_equal(seq, 20);
  assert_string_equal(get(m, "b", 29, NULL), "D");
  assert_string_equal(get(m, "b", 30, NULL), "V:b30");
  assert_string_equal(get(m, "b", IKEY_MAX_SEQ, NULL), "V:b30");
  assert_string_equal(get(m, "b", UINT64_MAX, NULL), "V:b30"); /* clamped */
  assert_string_equal(get(m, "a", 14, NULL), "-");
  assert_string_equal(get(m, "a", 15, NULL), "V:a15");
  assert_string_equal(get(m, "c", 100, NULL), "V:");
  assert_string_equal(get(m, "ba", 24, NULL), "-");
  assert_string_equal(get(m, "ba", 25, NULL), "V:ba25");
  assert_string_equal(get(m, "bb", 100, NULL), "-");
  assert_string_equal(get(m, "", 100, NULL), "-");
  assert_string_equal(get(m, "d", 100, NULL), "-");
  /* duplicate internal key and bad arguments are refused, list unchanged */
  assert_int_equal(mem_add(m, 20, IKEY_DEL, (const uint8_t *)"b", 1, NULL, 0), LSM_MISUSE);
  assert_int_equal(mem_add(m, 1, 7, (const uint8_t *)"x", 1, NULL, 0), LSM_MISUSE);
  assert_int_equal(mem_add(m, IKEY_MAX_SEQ + 1, IKEY_VAL, (const uint8_t *)"x", 1, NULL, 0), LSM_MISUSE);
  assert_int_equal(mem_count(m), 6);
  /* same seq, different type is a different internal key (not produced by the db, but legal) */
  add(m, "z", 7, IKEY_DEL, NULL);
  add(m, "z", 7, IKEY_VAL, "z7");
  assert_string_equal(get(m, "z", 7, NULL), "V:z7");
  assert_true(mem_bytes(m) > 0);
  assert_true(mem_reserved_bytes(m) >= mem_bytes(m));
  mem_unref(m);
}

/* ---- ordering and iteration against a sorted reference ------------------------------------ */

typedef struct ent {
  uint8_t k[32];
  size_t kn; /* internal key length */
  uint64_t vid;
} ent;

static int ent_cmp(const void *a, const void *b) {
  const ent *x = a, *y = b;
  return ikey_cmp(x->k, x->kn, y->k, y->kn);
}

/* Random entries: few distinct user keys (many versions each), unique sequence numbers. */
static ent *make_entries(mem *m, int n, int nkeys) {
  ent *e = calloc((size_t)n, sizeof *e);
  assert_non_null(e);
  for (int i = 0; i < n; i++) {
    char uk[24];
    int ukn = snprintf(uk, sizeof uk, "key%05d", (int)(rng() % (uint64_t)nkeys));
    if (rng() % 8 == 0) ukn = 3 + (int)(rng() % 4); /* prefixes of other keys */
    uint64_t seq = (uint64_t)i + 1;
    int type = rng() % 4 == 0 ? IKEY_DEL : IKEY_VAL;
    e[i].kn = ikey_encode(e[i].k, (const uint8_t *)uk, (size_t)ukn, seq, type);
    e[i].vid = seq;
    char v[32];
    int vn = snprintf(v, sizeof v, "v%llu", (unsigned long long)seq);
    assert_int_equal(mem_add(m, seq, type, (const uint8_t *)uk, (size_t)ukn, (const uint8_t *)v,
                             type == IKEY_VAL ? (size_t)vn : 0),
                     LSM_OK);
  }
  qsort(e, (size_t)n, sizeof *e, ent_cmp);
  return e;
}

static void check_at(it_iter *it, const ent *e) {
  assert_true(it_valid(it));
  const uint8_t *k, *v;
  size_t kn, vn;
  it_key(it, &k, &kn);
  assert_int_equal(kn, e->kn);
  assert_memory_equal(k, e->k, kn);
  it_value(it, &v, &vn);
  if (ikey_type(k, kn) == IKEY_VAL) {
    char want[32];
    int wn = snprintf(want, sizeof want, "v%llu", (unsigned long long)e->vid);
    assert_int_equal(vn, (size_t)wn);
    assert_memory_equal(v, want, vn);
  } else {
    assert_int_equal(vn, 0);
  }
}

static void test_iterate(void **state) {
  (void)state;
  uint64_t seed = 12345;
  printf("seed=%llu\n", (unsigned long long)seed);
  rng_seed(seed);
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  const int n = 5000;
  ent *e = make_entries(m, n, 300);
  assert_int_equal(mem_count(m), (uint64_t)n);
  it_iter *it;
  assert_int_equal(mem_iter_new(m, &it), LSM_OK);
  assert_false(it_valid(it));
  assert_int_equal(it_status(it), LSM_OK);

  /* forward */
  assert_int_equal(it_seek_first(it), LSM_OK);
  for (int i = 0; i < n; i++) {
    check_at(it, &e[i]);
    assert_int_equal(it_next(it), LSM_OK);
  }
  assert_false(it_valid(it));
  /* backward */
  assert_int_equal(it_seek_last(it), LSM_OK);
  for (int i = n - 1; i >= 0; i--) {
    check_at(it, &e[i]);
    assert_int_equal(it_prev(it), LSM_OK);
  }
  assert_false(it_valid(it));

  /* seeks: to every existing key, and to random keys between; then step both ways */
  for (int r = 0; r < 3000; r++) {
    ent probe;
    if (r % 2 == 0) {
      probe = e[rng() % (uint64_t)n];
    } else {
      char uk[24];
      int ukn = snprintf(uk, sizeof uk, "key%05d", (int)(rng() % 320));
      if (rng() % 5 == 0) ukn = (int)(rng() % 9);
      probe.kn = ikey_encode(probe.k, (const uint8_t *)uk, (size_t)ukn, rng() % (uint64_t)(n + 10),
                             (int)(rng() % 2));
    }
    /* lower bound in the reference */
    int lo = 0, hi = n;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (ikey_cmp(e[mid].k, e[mid].kn, probe.k, probe.kn) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    assert_int_equal(it_seek(it, probe.k, probe.kn), LSM_OK);
    if (lo == n) {
      assert_false(it_valid(it));
      continue;
    }
    check_at(it, &e[lo]);
    if (r % 3 == 0) {
      it_prev(it);
      if (lo == 0)
        assert_false(it_valid(it));
      else
        check_at(it, &e[lo - 1]);
    } else if (lo + 1 < n) {
      it_next(it);
      check_at(it, &e[lo + 1]);
    }
  }
  /* a bare user key (shorter than a trailer) seeks its newest version */
  assert_int_equal(it_seek(it, (const uint8_t *)"key", 3), LSM_OK);
  assert_true(it_valid(it));

  /* the iterator keeps the memtable alive after the owner's reference is gone */
  mem_unref(m);
  assert_int_equal(it_seek_first(it), LSM_OK);
  check_at(it, &e[0]);
  it_free(it);
  free(e);
}

/* A random walk of seek/next/prev/seek_first/seek_last (direction switches included) follows
** the reference position exactly. */
static void test_random_walk(void **state) {
  (void)state;
  uint64_t seed = 99;
  printf("seed=%llu\n", (unsigned long long)seed);
  rng_seed(seed);
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  const int n = 3000;
  ent *e = make_entries(m, n, 150);
  it_iter *it;
  assert_int_equal(mem_iter_new(m, &it), LSM_OK);
  int pos = -1; /* reference position; -1 or n = not valid */
  for (int step = 0; step < 100000; step++) {
    int op = (int)(rng() % 10);
    if (pos < 0 || pos >= n) op = op % 3; /* only repositioning ops when not valid */
    switch (op) {
      case 0:
        it_seek_first(it);
        pos = 0;
        break;
      case 1:
        it_seek_last(it);
        pos = n - 1;
        break;
      case 2: {
        int t = (int)(rng() % (uint64_t)n);
        it_seek(it, e[t].k, e[t].kn);
        pos = t;
        break;
      }
      case 3: case 4: case 5:
        it_next(it);
        pos++;
        break;
      default:
        it_prev(it);
        pos--;
        break;
    }
    if (pos < 0 || pos >= n) {
      if (it_valid(it)) fail_msg("step %d: valid past the end (seed %llu)", step, (unsigned long long)seed);
    } else {
      check_at(it, &e[pos]);
    }
  }
  it_free(it);
  mem_unref(m);
  free(e);
}

/* Every user key's versions come newest first and get() at every snapshot agrees with a scan. */
static void test_versions_newest_first(void **state) {
  (void)state;
  uint64_t seed = 777;
  printf("seed=%llu\n", (unsigned long long)seed);
  rng_seed(seed);
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  const int n = 2000;
  ent *e = make_entries(m, n, 20); /* ~100 versions per key */
  for (int i = 0; i < n; i++) {
    const uint8_t *uk = e[i].k;
    size_t ukn = ikey_user_len(e[i].kn);
    if (i > 0 && it_bytes_cmp(e[i - 1].k, ikey_user_len(e[i - 1].kn), uk, ukn) == 0)
      assert_true(ikey_seq(e[i - 1].k, e[i - 1].kn) > ikey_seq(e[i].k, e[i].kn));
    /* at snapshot = this version's seq, get returns exactly this version */
    uint64_t s = ikey_seq(e[i].k, e[i].kn);
    int type;
    const uint8_t *v;
    size_t vn;
    uint64_t found;
    assert_int_equal(mem_get(m, uk, ukn, s, &type, &v, &vn, &found), LSM_OK);
    assert_int_equal(found, s);
    assert_int_equal(type, ikey_type(e[i].k, e[i].kn));
    /* one below: the next older version of the same key, or nothing */
    int rc = mem_get(m, uk, ukn, s - 1, &type, &v, &vn, &found);
    if (i + 1 < n && it_bytes_cmp(e[i + 1].k, ikey_user_len(e[i + 1].kn), uk, ukn) == 0) {
      assert_int_equal(rc, LSM_OK);
      assert_int_equal(found, ikey_seq(e[i + 1].k, e[i + 1].kn));
    } else {
      assert_int_equal(rc, LSM_NOTFOUND);
    }
  }
  free(e);
  mem_unref(m);
}

/* ---- large values ------------------------------------------------------------------------- */

static void test_large_values(void **state) {
  (void)state;
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  size_t sizes[] = {0, 1, 4000, 300000, 1u << 20, (5u << 20) + 3};
  int ns = (int)(sizeof sizes / sizeof sizes[0]);
  uint8_t *buf = malloc(sizes[ns - 1]);
  assert_non_null(buf);
  uint8_t key[1000];
  memset(key, 'k', sizeof key);
  for (int i = 0; i < ns; i++) {
    for (size_t j = 0; j < sizes[i]; j++) buf[j] = (uint8_t)(j * 31 + (size_t)i);
    key[999] = (uint8_t)('0' + i); /* long keys too */
    assert_int_equal(mem_add(m, (uint64_t)i + 1, IKEY_VAL, key, sizeof key, buf, sizes[i]), LSM_OK);
  }
  size_t total = 0;
  for (int i = 0; i < ns; i++) total += sizes[i];
  assert_true(mem_bytes(m) >= total);
  assert_true(mem_bytes(m) < total + (1u << 20));
  for (int i = 0; i < ns; i++) {
    key[999] = (uint8_t)('0' + i);
    int type;
    const uint8_t *v;
    size_t vn;
    assert_int_equal(mem_get(m, key, sizeof key, 100, &type, &v, &vn, NULL), LSM_OK);
    assert_int_equal(vn, sizes[i]);
    for (size_t j = 0; j < sizes[i]; j++)
      if (v[j] != (uint8_t)(j * 31 + (size_t)i)) fail_msg("value %d differs at byte %zu", i, j);
  }
  free(buf);
  mem_unref(m);
}

/* ---- concurrency: readers race the writer ------------------------------------------------- */

#define CONC_N 60000
typedef struct conc {
  mem *m;
  _Atomic int published; /* entries [0, published) are in the memtable */
  _Atomic int done;
  uint32_t keys[CONC_N];
  _Atomic int errors;
  _Atomic long passes;
} conc;

static void conc_key(uint32_t id, uint8_t *k) {
  for (int i = 0; i < 4; i++) k[i] = (uint8_t)(id >> (24 - 8 * i)); /* big endian: sorts numerically */
}

static void *reader(void *arg) {
  conc *c = arg;
  it_iter *it;
  if (mem_iter_new(c->m, &it)) {
    atomic_fetch_add(&c->errors, 1);
    return NULL;
  }
  uint64_t last_count = 0;
  unsigned seed = (unsigned)(uintptr_t)&it;
  int round = 0;
  while (!atomic_load(&c->done) || round < 2) {
    if (atomic_load(&c->done)) round++;
    int pub = atomic_load_explicit(&c->published, memory_order_acquire);
    /* every published key must be found */
    for (int j = 0; j < 50 && pub > 0; j++) {
      int idx = (int)((unsigned)rand_r(&seed) % (unsigned)pub);
      uint8_t k[4];
      conc_key(c->keys[idx], k);
      int type;
      if (mem_get(c->m, k, 4, IKEY_MAX_SEQ, &type, NULL, NULL, NULL) != LSM_OK) atomic_fetch_add(&c->errors, 1);
    }
    /* a full scan is sorted and never shrinks */
    uint64_t cnt = 0;
    const uint8_t *prev = NULL;
    size_t prevn = 0;
    it_seek_first(it);
    while (it_valid(it)) {
      const uint8_t *k;
      size_t kn;
      it_key(it, &k, &kn);
      if (prev && ikey_cmp(prev, prevn, k, kn) >= 0) atomic_fetch_add(&c->errors, 1);
      prev = k;
      prevn = kn;
      cnt++;
      it_next(it);
    }
    if (cnt < last_count || cnt < (uint64_t)pub) atomic_fetch_add(&c->errors, 1);
    last_count = cnt;
    /* a backward walk over a stretch is sorted too */
    it_seek_last(it);
    prev = NULL;
    for (int j = 0; j < 200 && it_valid(it); j++) {
      const uint8_t *k;
      size_t kn;
      it_key(it, &k, &kn);
      if (prev && ikey_cmp(k, kn, prev, prevn) >= 0) atomic_fetch_add(&c->errors, 1);
      prev = k;
      prevn = kn;
      it_prev(it);
    }
    atomic_fetch_add(&c->passes, 1);
  }
  it_free(it);
  return NULL;
}

/* The writer adds CONC_N keys one by one (batch 0) or as sorted runs of `batch` keys through
** mem_add_sorted, publishing each run after it is added. */
static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void concurrent_round(uint64_t seed, int batch) {
  printf("seed=%llu\n", (unsigned long long)seed);
  rng_seed(seed);
  conc *c = calloc(1, sizeof *c);
  assert_non_null(c);
  for (int i = 0; i < CONC_N; i++) c->keys[i] = (uint32_t)rng();
  assert_int_equal(mem_new(&c->m), LSM_OK);
  pthread_t th[3];
  for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&th[i], NULL, reader, c), 0);
  if (batch) /* distinct keys: each run sorted, runs in random places */
    for (int i = 0; i < CONC_N; i += batch)
      qsort(&c->keys[i], (size_t)(CONC_N - i < batch ? CONC_N - i : batch), sizeof c->keys[0], cmp_u32);
  static uint8_t kb[CONC_N][4];
  static mem_ent e[CONC_N];
  for (int i = 0; i < CONC_N; i++) {
    conc_key(c->keys[i], kb[i]);
    if (!batch) {
      int rc = mem_add(c->m, (uint64_t)i + 1, IKEY_VAL, kb[i], 4, kb[i], 4);
      assert_int_equal(rc, LSM_OK);
      atomic_store_explicit(&c->published, i + 1, memory_order_release);
      continue;
    }
    e[i] = (mem_ent){kb[i], kb[i], 4, 4, (uint64_t)i + 1, IKEY_VAL};
    if ((i + 1) % batch == 0 || i == CONC_N - 1) {
      int first = i / batch * batch;
      assert_int_equal(mem_add_sorted(c->m, &e[first], (size_t)(i + 1 - first)), LSM_OK);
      atomic_store_explicit(&c->published, i + 1, memory_order_release);
    }
  }
  atomic_store(&c->done, 1);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  printf("reader passes: %ld\n", atomic_load(&c->passes));
  assert_int_equal(atomic_load(&c->errors), 0);
  assert_int_equal(mem_count(c->m), CONC_N);
  mem_unref(c->m);
  free(c);
}

/* LSMVTAB_LONG=1 runs many rounds with different seeds. */
static void test_concurrent_readers(void **state) {
  (void)state;
  const char *longrun = getenv("LSMVTAB_LONG");
  int rounds = longrun && *longrun && strcmp(longrun, "0") ? 50 : 1;
  for (int r = 0; r < rounds; r++) {
    concurrent_round(4242 + (uint64_t)r, 0);
    concurrent_round(5252 + (uint64_t)r, (int[]){100, 1, 37}[r % 3]); /* runs of sorted keys */
  }
}

/* ---- OOM injection ------------------------------------------------------------------------ */

static void test_oom(void **state) {
  (void)state;
  /* mem_new itself */
  for (long n = 0; n < 3; n++) {
    mem *m = NULL;
    mm_fail_after(n);
    int rc = mem_new(&m);
    mm_fail_after(-1);
    if (rc == LSM_OK) {
      mem_unref(m);
      continue;
    }
    assert_int_equal(rc, LSM_NOMEM);
    assert_null(m);
  }
  /* adds until the allocator fails: NOMEM, the list stays sorted and complete */
  for (long n = 1; n < 12; n++) {
    mem *m;
    assert_int_equal(mem_new(&m), LSM_OK);
    mm_fail_after(n);
    int added = 0, rc = LSM_OK;
    for (int i = 0; i < 100000; i++) {
      char k[16];
      int kn = snprintf(k, sizeof k, "%08d", (i * 7919) % 100000);
      uint8_t v[3000];
      memset(v, 'v', sizeof v);
      rc = mem_add(m, (uint64_t)i + 1, IKEY_VAL, (const uint8_t *)k, (size_t)kn, v, sizeof v);
      if (rc) break;
      added++;
    }
    mm_fail_after(-1);
    assert_int_equal(rc, LSM_NOMEM);
    assert_int_equal(mem_count(m), (uint64_t)added);
    it_iter *it;
    assert_int_equal(mem_iter_new(m, &it), LSM_OK);
    int cnt = 0;
    const uint8_t *pk = NULL;
    size_t pn = 0;
    for (it_seek_first(it); it_valid(it); it_next(it)) {
      const uint8_t *k;
      size_t kn;
      it_key(it, &k, &kn);
      if (pk) assert_true(ikey_cmp(pk, pn, k, kn) < 0);
      pk = k;
      pn = kn;
      cnt++;
    }
    assert_int_equal(cnt, added);
    /* and it keeps working once memory is back */
    assert_int_equal(mem_add(m, 999999, IKEY_DEL, (const uint8_t *)"zz", 2, NULL, 0), LSM_OK);
    it_free(it);
    mem_unref(m);
  }
  /* iterator creation */
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  it_iter *it = (it_iter *)1;
  mm_fail_after(0);
  assert_int_equal(mem_iter_new(m, &it), LSM_NOMEM);
  mm_fail_after(-1);
  assert_null(it);
  /* reserve makes a run of adds immune to allocation failure */
  size_t need = 0;
  for (int i = 0; i < 500; i++) need += mem_entry_bound(6, 100);
  assert_int_equal(mem_reserve(m, need), LSM_OK);
  mm_fail_after(0);
  for (int i = 0; i < 500; i++) {
    char k[16];
    snprintf(k, sizeof k, "%06d", i);
    uint8_t v[100] = {0};
    assert_int_equal(mem_add(m, (uint64_t)i + 1, IKEY_VAL, (const uint8_t *)k, 6, v, sizeof v), LSM_OK);
  }
  mm_fail_after(-1);
  assert_int_equal(mem_count(m), 500);
  mem_unref(m);
}


/* ---- insert orders (the splice) and the whole-key filter --------------------------------- */

/* Keys built so that many share their first 8 bytes (the inlined compare's word) and some are
** prefixes of others. */
static size_t order_key(uint8_t *b, uint32_t i) {
  return (size_t)snprintf((char *)b, 40, "%s%08u%s", i % 3 ? "prefix__" : "", i, i % 5 ? "" : "_tail");
}

/* Insert nkeys user keys in the given order pattern (several versions each), then check the
** whole list against a sorted reference: a full scan, a seek to every entry, and mem_get of every
** user key at a snapshot between versions. A splice that linked a node in the wrong place at any
** level makes one of these fail. */
static void run_order(int pattern, uint64_t seed, int use_filter) {
  rng_seed(seed);
  mem *m;
  assert_int_equal(use_filter ? mem_new_filtered(1024, &m) : mem_new(&m), LSM_OK);
  const int nkeys = 3000, n = 6000;
  ent *e = calloc((size_t)n, sizeof *e);
  assert_non_null(e);
  uint32_t cur = 0;
  for (int i = 0; i < n; i++) {
    uint32_t ki;
    switch (pattern) {
      case 0: ki = (uint32_t)(i % nkeys); break;                 /* ascending, twice */
      case 1: ki = (uint32_t)(nkeys - 1 - i % nkeys); break;     /* descending, twice */
      case 2:                                                    /* ascending runs, random jumps */
        cur = rng() % 16 == 0 ? (uint32_t)(rng() % nkeys) : (cur + 1 + (uint32_t)(rng() % 3)) % (uint32_t)nkeys;
        ki = cur;
        break;
      default: ki = (uint32_t)(i / 4); break;                    /* 4 versions in a row (each sorts first) */
    }
    uint8_t uk[40];
    size_t ukn = order_key(uk, ki);
    uint64_t seq = (uint64_t)i + 1;
    int type = rng() % 5 == 0 ? IKEY_DEL : IKEY_VAL;
    e[i].kn = ikey_encode(e[i].k, uk, ukn, seq, type);
    e[i].vid = seq;
    char v[32];
    int vn = snprintf(v, sizeof v, "v%llu", (unsigned long long)seq);
    if (mem_add(m, seq, type, uk, ukn, (const uint8_t *)v, type == IKEY_VAL ? (size_t)vn : 0) != LSM_OK)
      fail_msg("pattern %d seed %llu: add %d failed: %s", pattern, (unsigned long long)seed, i, st_errmsg());
    /* an exact duplicate must be refused wherever the splice stands */
    if (rng() % 50 == 0) {
      int j = rng() % 2 ? i : (int)(rng() % (uint64_t)(i + 1));
      size_t jn = e[j].kn - IKEY_TRAILER;
      assert_int_equal(mem_add(m, e[j].vid, ikey_type(e[j].k, e[j].kn), e[j].k, jn, NULL, 0), LSM_MISUSE);
    }
  }
  qsort(e, (size_t)n, sizeof *e, ent_cmp);
  assert_int_equal(mem_count(m), n);
  it_iter *it;
  assert_int_equal(mem_iter_new(m, &it), LSM_OK);
  it_seek_first(it);
  for (int i = 0; i < n; i++) {
    if (!it_valid(it)) fail_msg("pattern %d seed %llu: scan ended at %d of %d", pattern, (unsigned long long)seed, i, n);
    check_at(it, &e[i]);
    it_next(it);
  }
  assert_false(it_valid(it));
  for (int i = 0; i < n; i++) {
    it_seek(it, e[i].k, e[i].kn);
    check_at(it, &e[i]);
  }
  it_free(it);
  /* newest version of each user key at snapshot (its seq): the entry itself */
  for (int i = 0; i < n; i++) {
    int type;
    uint64_t sf;
    size_t ukn = e[i].kn - IKEY_TRAILER;
    if (mem_get(m, e[i].k, ukn, e[i].vid, &type, NULL, NULL, &sf) != LSM_OK || sf != e[i].vid)
      fail_msg("pattern %d seed %llu: get of entry %d (seq %llu) wrong", pattern, (unsigned long long)seed, i,
               (unsigned long long)e[i].vid);
    assert_int_equal(type, ikey_type(e[i].k, e[i].kn));
  }
  mem_unref(m);
  free(e);
}

static void test_insert_orders(void **state) {
  (void)state;
  for (int p = 0; p < 4; p++)
    for (int f = 0; f < 2; f++) run_order(p, 1000 + (uint64_t)p, f);
}

/* ---- mem_add_sorted against mem_add ------------------------------------------------------- */

/* Everything a reader can see of the two memtables is the same: the full scan (keys, values),
** seeks to every key, and mem_get of every user key at every snapshot of interest. */
static void same_contents(mem *a, mem *b, uint64_t seed) {
  assert_int_equal(mem_count(a), mem_count(b));
  it_iter *ia, *ib;
  assert_int_equal(mem_iter_new(a, &ia), LSM_OK);
  assert_int_equal(mem_iter_new(b, &ib), LSM_OK);
  it_seek_first(ia);
  it_seek_first(ib);
  uint64_t n = 0;
  for (; it_valid(ia); it_next(ia), it_next(ib), n++) {
    if (!it_valid(ib)) fail_msg("seed %llu: sorted insert lost entries after %llu", (unsigned long long)seed, (unsigned long long)n);
    const uint8_t *ka, *kb, *va, *vb;
    size_t kan, kbn, van, vbn;
    it_key(ia, &ka, &kan);
    it_key(ib, &kb, &kbn);
    it_value(ia, &va, &van);
    it_value(ib, &vb, &vbn);
    if (kan != kbn || memcmp(ka, kb, kan) || van != vbn || memcmp(va, vb, van))
      fail_msg("seed %llu: entry %llu differs", (unsigned long long)seed, (unsigned long long)n);
    /* the same entry found by a seek (the upper levels lead there too) and by mem_get */
    it_seek(ib, ka, kan);
    assert_true(it_valid(ib));
    it_key(ib, &kb, &kbn);
    assert_true(kbn == kan && memcmp(ka, kb, kan) == 0);
    int ta, tb;
    uint64_t sa, sb;
    const uint8_t *ga = NULL, *gb = NULL;
    size_t gan = 0, gbn = 0;
    uint64_t snap = ikey_seq(ka, kan);
    assert_int_equal(mem_get(a, ka, kan - IKEY_TRAILER, snap, &ta, &ga, &gan, &sa), LSM_OK);
    assert_int_equal(mem_get(b, ka, kan - IKEY_TRAILER, snap, &tb, &gb, &gbn, &sb), LSM_OK);
    assert_int_equal(ta, tb);
    assert_int_equal(sa, snap);
    assert_int_equal(sb, snap);
    assert_true(gan == gbn && (gan == 0 || memcmp(ga, gb, gan) == 0));
  }
  assert_false(it_valid(ib));
  assert_int_equal(n, mem_count(a));
  it_free(ia);
  it_free(ib);
}

typedef struct sent {
  uint8_t k[40];
  uint32_t kn;
  uint64_t seq;
  int type;
  char v[24];
} sent;

static int sent_cmp(const void *x, const void *y) {
  const sent *a = x, *b = y;
  size_t m = a->kn < b->kn ? a->kn : b->kn;
  int c = memcmp(a->k, b->k, m);
  if (c) return c;
  if (a->kn != b->kn) return a->kn < b->kn ? -1 : 1;
  return a->seq > b->seq ? -1 : a->seq < b->seq; /* newer first */
}

/* Random batches (sizes around the interleave window and larger; the same user key several
** times in one batch; keys equal to, between and prefixes of keys already present), each given
** to mem_add_sorted on one memtable and as single mem_adds in random order on another, with
** single adds in between (the single-insert splice after a sorted insert). */
static void sorted_model(uint64_t seed, int use_filter) {
  printf("seed=%llu\n", (unsigned long long)seed);
  rng_seed(seed);
  mem *a, *b;
  assert_int_equal(use_filter ? mem_new_filtered(4096, &a) : mem_new(&a), LSM_OK);
  assert_int_equal(use_filter ? mem_new_filtered(4096, &b) : mem_new(&b), LSM_OK);
  static const int sizes[] = {1, 2, 15, 16, 17, 31, 32, 33, 64, 100, 1000, 3000};
  static sent e[3000];
  static mem_ent me[3000];
  uint64_t seq = 1;
  for (int round = 0; round < 40; round++) {
    int n = sizes[rng() % (sizeof sizes / sizeof sizes[0])];
    for (int i = 0; i < n; i++) {
      sent *x = &e[i];
      uint32_t ki = (uint32_t)(rng() % 2000);
      if (i > 0 && rng() % 6 == 0) { /* the same user key again in this batch */
        memcpy(x->k, e[i - 1].k, e[i - 1].kn);
        x->kn = e[i - 1].kn;
      } else {
        x->kn = (uint32_t)order_key(x->k, ki);
        if (rng() % 10 == 0) x->kn = 3 + (uint32_t)(rng() % 6); /* a prefix of other keys */
      }
      x->seq = seq++;
      x->type = rng() % 5 == 0 ? IKEY_DEL : IKEY_VAL;
      snprintf(x->v, sizeof x->v, "v%llu", (unsigned long long)x->seq);
    }
    for (int i = 0; i < n; i++) { /* b: one by one, in batch order */
      sent *x = &e[i];
      assert_int_equal(mem_add(b, x->seq, x->type, x->k, x->kn, (const uint8_t *)x->v,
                               x->type == IKEY_VAL ? strlen(x->v) : 0), LSM_OK);
    }
    qsort(e, (size_t)n, sizeof e[0], sent_cmp);
    for (int i = 0; i < n; i++)
      me[i] = (mem_ent){e[i].k, (const uint8_t *)e[i].v, e[i].kn, (uint32_t)strlen(e[i].v), e[i].seq, e[i].type};
    if (mem_add_sorted(a, me, (size_t)n) != LSM_OK)
      fail_msg("seed %llu round %d: mem_add_sorted of %d: %s", (unsigned long long)seed, round, n, st_errmsg());
    if (rng() % 3 == 0) { /* a single add after a sorted insert, in both */
      uint8_t k[40];
      size_t kn = order_key(k, (uint32_t)(rng() % 2000));
      assert_int_equal(mem_add(a, seq, IKEY_VAL, k, kn, (const uint8_t *)"s", 1), LSM_OK);
      assert_int_equal(mem_add(b, seq, IKEY_VAL, k, kn, (const uint8_t *)"s", 1), LSM_OK);
      seq++;
    }
  }
  same_contents(b, a, seed);
  mem_unref(a);
  mem_unref(b);
}

static void test_sorted_insert(void **state) {
  (void)state;
  for (int f = 0; f < 2; f++) sorted_model(777 + (uint64_t)f, f);
}

static int ment_cmp(const void *x, const void *y) {
  const mem_ent *a = x, *b = y;
  size_t m = a->kn < b->kn ? a->kn : b->kn;
  int c = memcmp(a->k, b->k, m);
  if (c) return c;
  if (a->kn != b->kn) return a->kn < b->kn ? -1 : 1;
  return a->seq > b->seq ? -1 : a->seq < b->seq;
}

/* The memtable holds exactly e[0..n) (in this order). */
static void holds_prefix(mem *m, const mem_ent *e, int n) {
  assert_int_equal(mem_count(m), (uint64_t)n);
  it_iter *it;
  assert_int_equal(mem_iter_new(m, &it), LSM_OK);
  it_seek_first(it);
  for (int i = 0; i < n; i++, it_next(it)) {
    assert_true(it_valid(it));
    const uint8_t *k;
    size_t kn;
    it_key(it, &k, &kn);
    assert_int_equal(kn, e[i].kn + IKEY_TRAILER);
    assert_memory_equal(k, e[i].k, e[i].kn);
    assert_int_equal(ikey_seq(k, kn), e[i].seq);
  }
  assert_false(it_valid(it));
  it_free(it);
}

/* Errors: bad order and bad arguments add nothing; an entry already present and allocation
** failure leave exactly the entries before it added, and the list consistent and usable. */
static void test_sorted_insert_errors(void **state) {
  (void)state;
  enum { N = 300 };
  static uint8_t k[N][40], v[3000];
  static mem_ent e[N];
  memset(v, 'v', sizeof v);
  for (int i = 0; i < N; i++) {
    uint32_t kn = (uint32_t)order_key(k[i], (uint32_t)i);
    e[i] = (mem_ent){k[i], v, kn, sizeof v, 1000 + (uint64_t)i, IKEY_VAL};
  }
  qsort(e, N, sizeof e[0], ment_cmp);
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  assert_int_equal(mem_add_sorted(m, e, 0), LSM_OK); /* nothing to add */
  assert_int_equal(mem_count(m), 0);
  mem_ent t = e[10]; /* out of order */
  e[10] = e[11];
  e[11] = t;
  assert_int_equal(mem_add_sorted(m, e, N), LSM_MISUSE);
  e[11] = e[10];
  e[10] = t;
  mem_ent d = e[20]; /* the same entry twice */
  e[20] = e[19];
  assert_int_equal(mem_add_sorted(m, e, N), LSM_MISUSE);
  e[20] = d;
  e[150].type = 7; /* a bad type */
  assert_int_equal(mem_add_sorted(m, e, N), LSM_MISUSE);
  e[150].type = IKEY_VAL;
  assert_int_equal(mem_count(m), 0);
  /* e[77] already present: 0..76 are added, then LSM_MISUSE */
  assert_int_equal(mem_add(m, e[77].seq, e[77].type, e[77].k, e[77].kn, e[77].v, e[77].vn), LSM_OK);
  assert_int_equal(mem_add_sorted(m, e, N), LSM_MISUSE);
  holds_prefix(m, e, 78);
  mem_unref(m);
  /* allocation failures at every point of the first few arena chunks: a prefix is added */
  for (long f = 0; f < 6; f++) {
    assert_int_equal(mem_new(&m), LSM_OK);
    mm_fail_after(f);
    int rc = mem_add_sorted(m, e, N);
    mm_fail_after(-1);
    int added = (int)mem_count(m);
    if (rc == LSM_OK) {
      assert_int_equal(added, N);
    } else {
      assert_int_equal(rc, LSM_NOMEM);
      assert_true(added < N);
    }
    holds_prefix(m, e, added);
    if (added < N) { /* the rest goes in once memory is back */
      assert_int_equal(mem_add_sorted(m, e + added, (size_t)(N - added)), LSM_OK);
      holds_prefix(m, e, N);
    }
    mem_unref(m);
  }
}

static void test_filter(void **state) {
  (void)state;
  uint64_t seed = 4242;
  printf("seed=%llu\n", (unsigned long long)seed);
  rng_seed(seed);
  mem *m, *plain;
  assert_int_equal(mem_new_filtered(8192, &m), LSM_OK);
  assert_int_equal(mem_new(&plain), LSM_OK);
  assert_true(mem_bytes(m) >= 8192); /* the filter counts as memtable memory */
  int ty0;
  assert_int_equal(mem_get(m, (const uint8_t *)"K", 1, IKEY_MAX_SEQ, &ty0, NULL, NULL, NULL), LSM_NOTFOUND);
  assert_true(mem_reserved_bytes(m) >= mem_bytes(m));
  const int n = 4000; /* 2 bytes per key: a few % false positives at most */
  uint8_t keys[4000][24];
  size_t kl[4000];
  for (int i = 0; i < n; i++) {
    kl[i] = 3 + rng() % 21;
    for (size_t j = 0; j < kl[i]; j++) keys[i][j] = (uint8_t)(rng() % 4 ? 'a' + rng() % 26 : rng());
    keys[i][0] = 'K'; /* never equal to a probe below */
    keys[i][1] = (uint8_t)(i >> 8); /* distinct keys */
    keys[i][2] = (uint8_t)i;
    int type = i % 7 == 0 ? IKEY_DEL : IKEY_VAL;
    mem_prefetch(m, keys[i], kl[i]); /* a hint: changes nothing (also without a filter) */
    mem_prefetch(plain, keys[i], kl[i]);
    assert_int_equal(mem_add(m, (uint64_t)i + 1, type, keys[i], kl[i], (const uint8_t *)"v", 1), LSM_OK);
  }
  for (int i = 0; i < n; i++) { /* no false negatives: every key is found */
    if (!mem_may_contain(m, keys[i], kl[i])) fail_msg("seed %llu: key %d excluded by the filter", (unsigned long long)seed, i);
    int type;
    assert_int_equal(mem_get(m, keys[i], kl[i], IKEY_MAX_SEQ, &type, NULL, NULL, NULL), LSM_OK);
    assert_int_equal(type, i % 7 == 0 ? IKEY_DEL : IKEY_VAL);
  }
  int fp = 0, probes = 20000;
  for (int i = 0; i < probes; i++) {
    uint8_t k[24];
    size_t kn = 1 + rng() % 23;
    for (size_t j = 0; j < kn; j++) k[j] = (uint8_t)rng();
    k[0] = 'P';
    fp += mem_may_contain(m, k, kn);
    int type;
    assert_int_equal(mem_get(m, k, kn, IKEY_MAX_SEQ, &type, NULL, NULL, NULL), LSM_NOTFOUND);
    assert_int_equal(mem_may_contain(plain, k, kn), 1); /* no filter: never excludes */
  }
  print_message("memtable filter: %d false positives in %d probes (4000 keys, 8 KiB)\n", fp, probes);
  if (fp > probes / 20) fail_msg("seed %llu: %d false positives of %d: the filter does not filter", (unsigned long long)seed, fp, probes);
  mem_unref(m);
  mem_unref(plain);
}

/* The memtable's charged size (mem_bytes) is what its nodes really take: for the bench's
** entries (16-byte key, 100-byte value) a node is its next pointers + the encoded entry
** (1 + 24 + 1 + 100 bytes) rounded to 8: 136 bytes at height 1, 138.7 on average over the
** heights (the old layout, with a 16-byte header, took ~154). The arena holds at most one
** chunk more than it charges. */
static void test_node_bytes(void **state) {
  (void)state;
  uint64_t seed = 777;
  printf("seed=%llu\n", (unsigned long long)seed);
  rng_seed(seed);
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  size_t b0 = mem_bytes(m); /* the head node */
  assert_int_equal(b0, MEM_MAX_HEIGHT * sizeof(void *) + 8);
  const int n = 20000;
  uint8_t val[100];
  memset(val, 'v', sizeof val);
  for (int i = 0; i < n; i++) {
    char k[17];
    snprintf(k, sizeof k, "%016llu", (unsigned long long)(rng() % 100000000000ull));
    assert_int_equal(mem_add(m, (uint64_t)i + 1, IKEY_VAL, (const uint8_t *)k, 16, val, sizeof val), LSM_OK);
  }
  double per = (double)(mem_bytes(m) - b0) / n;
  print_message("memtable: %.2f bytes per 16+100-byte entry\n", per);
  if (per < 136.0 || per > 141.0) fail_msg("seed %llu: %.2f bytes per entry (expected ~138.7)", (unsigned long long)seed, per);
  assert_true(mem_reserved_bytes(m) >= mem_bytes(m));
  assert_true(mem_reserved_bytes(m) - mem_bytes(m) <= ARENA_MAX_CHUNK + 64 * 64); /* + chunk headers */
  assert_true(mem_entry_bound(16, 100) >= 136 + (MEM_MAX_HEIGHT - 1) * sizeof(void *));
  mem_unref(m);
}

/* Key and value lengths around the varint boundaries (127/128, 16383/16384 bytes), through
** mem_get and the iterator in both directions. */
static void test_length_encoding(void **state) {
  (void)state;
  static const size_t kls[] = {1, 119, 120, 127, 128, 200, 16375, 16376, 16383, 16384, 20000};
  static const size_t vls[] = {0, 1, 127, 128, 16383, 16384, 100000};
  const int nk = (int)(sizeof kls / sizeof kls[0]), nv = (int)(sizeof vls / sizeof vls[0]);
  uint8_t *key = malloc(20000), *val = malloc(100000);
  assert_non_null(key);
  assert_non_null(val);
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  /* key i: kls[i] bytes of 'a' + i (distinct first bytes: iteration order = i); value i: vls[i % nv] */
  for (int i = 0; i < nk; i++) {
    memset(key, 'a' + i, kls[i]);
    size_t vn = vls[i % nv];
    for (size_t j = 0; j < vn; j++) val[j] = (uint8_t)(j * 7 + (size_t)i);
    assert_int_equal(mem_add(m, (uint64_t)i + 1, IKEY_VAL, key, kls[i], val, vn), LSM_OK);
  }
  it_iter *it;
  assert_int_equal(mem_iter_new(m, &it), LSM_OK);
  for (int pass = 0; pass < 2; pass++) {
    int i = pass ? nk - 1 : 0;
    for (pass ? it_seek_last(it) : it_seek_first(it); it_valid(it); pass ? it_prev(it) : it_next(it), i += pass ? -1 : 1) {
      const uint8_t *k, *v;
      size_t kn, vn;
      it_key(it, &k, &kn);
      it_value(it, &v, &vn);
      assert_true(i >= 0 && i < nk);
      assert_int_equal(kn, kls[i] + IKEY_TRAILER);
      assert_int_equal(k[0], 'a' + i);
      assert_int_equal(k[kls[i] - 1], 'a' + i);
      assert_int_equal(ikey_seq(k, kn), (uint64_t)i + 1);
      assert_int_equal(vn, vls[i % nv]);
      for (size_t j = 0; j < vn; j++)
        if (v[j] != (uint8_t)(j * 7 + (size_t)i)) fail_msg("entry %d: value differs at byte %zu", i, j);
    }
    assert_int_equal(i, pass ? -1 : nk);
  }
  it_free(it);
  for (int i = 0; i < nk; i++) {
    memset(key, 'a' + i, kls[i]);
    int type;
    const uint8_t *v;
    size_t vn;
    uint64_t seq;
    assert_int_equal(mem_get(m, key, kls[i], IKEY_MAX_SEQ, &type, &v, &vn, &seq), LSM_OK);
    assert_int_equal(type, IKEY_VAL);
    assert_int_equal(seq, (uint64_t)i + 1);
    assert_int_equal(vn, vls[i % nv]);
    if (vn) assert_int_equal(v[vn - 1], (uint8_t)((vn - 1) * 7 + (size_t)i));
  }
  mem_unref(m);
  free(key);
  free(val);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_insert_orders),
      cmocka_unit_test(test_sorted_insert),
      cmocka_unit_test(test_sorted_insert_errors),
      cmocka_unit_test(test_filter),
      cmocka_unit_test(test_arena),
      cmocka_unit_test(test_get_snapshots),
      cmocka_unit_test(test_iterate),
      cmocka_unit_test(test_random_walk),
      cmocka_unit_test(test_versions_newest_first),
      cmocka_unit_test(test_large_values),
      cmocka_unit_test(test_concurrent_readers),
      cmocka_unit_test(test_oom),
      cmocka_unit_test(test_node_bytes),
      cmocka_unit_test(test_length_encoding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
