/* Tests of engine/sst.c: build / open / iterate both ways / seek, zstd on and off, point
** lookups (hit, miss, bloom skip), properties, the batched multiget path, read-ahead scans,
** direct IO, and a flipped byte in every block of a table (data, filter, properties, index,
** footer) reported as LSM_CORRUPT by open, get, iteration or verify, never returned as data.
** Every case runs on both fio backends (sync and uring). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bloom.h"
#include "cache.h"
#include "fio.h"
#include "ikey.h"
#include "mm.h"
#include "sst.h"
#include "status.h"
#include "mg_util.h"
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- the model: entries of a table, sorted by ikey_cmp ---- */

typedef struct ent {
  uint8_t k[32];
  size_t kn;
  uint8_t *v;
  size_t vn;
} ent;

typedef struct model {
  ent *e;
  size_t n;
} model;

/* The key and value sst_get returned equal the model's entry. */
static void expect_entry(const cd_buf *fk, const cd_buf *fv, const ent *want) {
  assert_int_equal(fk->n, want->kn);
  assert_memory_equal(fk->p, want->k, fk->n);
  assert_int_equal(fv->n, want->vn);
  if (fv->n) assert_memory_equal(fv->p, want->v, fv->n);
}

/* User keys "key%08d" of 3*i (gaps for misses); 1-3 versions each, newest first; every 7th
** key's newest version is a tombstone; values compressible, of varied length, some large. */
static void model_make(model *m, int nkeys, int big) {
  m->e = calloc((size_t)nkeys * 3, sizeof *m->e);
  m->n = 0;
  for (int i = 0; i < nkeys; i++) {
    char uk[16];
    int un = sprintf(uk, "key%08d", 3 * i);
    int nv = 1 + i % 3;
    for (int j = nv - 1; j >= 0; j--) {
      ent *e = &m->e[m->n++];
      int type = (i % 7 == 0 && j == nv - 1) ? IKEY_DEL : IKEY_VAL;
      e->kn = ikey_encode(e->k, (uint8_t *)uk, (size_t)un, (uint64_t)(4 * i + j + 1), type);
      size_t vn = type == IKEY_DEL ? 0 : (size_t)(10 + (i * 13) % 90);
      if (big && i % 500 == 1 && type == IKEY_VAL) vn = 100000; /* spans many block sizes */
      e->v = malloc(vn + 1);
      for (size_t x = 0; x < vn; x++) e->v[x] = (uint8_t)("abcdefgh"[(x + (size_t)i) % 8]);
      if (vn >= 8) memcpy(e->v, &i, sizeof i);
      e->vn = vn;
    }
  }
}

static void model_free(model *m) {
  for (size_t i = 0; i < m->n; i++) free(m->e[i].v);
  free(m->e);
}

/* Index of the first entry >= key, or m->n. */
static size_t model_lower(const model *m, const uint8_t *k, size_t kn) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (ikey_cmp(m->e[mid].k, m->e[mid].kn, k, kn) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* ---- environment per backend ---- */

static const int backends[] = {FIO_SYNC, FIO_URING};
#define NBACKENDS 2

static fio_env *env_for(int backend) {
  fio_env *env;
  int rc = fio_env_new(backend, &env);
  if (rc) fail_msg("fio_env_new(%d): %s", backend, st_errmsg());
  return env;
}

static void build(fio_env *env, const char *path, const model *m, const sst_options *o,
                  sst_props *props_copy) {
  fio_delete(env, path); /* may not exist */
  fio_file *f;
  assert_int_equal(fio_create(env, path, FIO_WRONLY, &f), LSM_OK);
  sst_builder *b;
  assert_int_equal(sst_builder_new(f, o, &b), LSM_OK);
  for (size_t i = 0; i < m->n; i++) {
    int rc = sst_builder_add(b, m->e[i].k, m->e[i].kn, m->e[i].v, m->e[i].vn);
    if (rc) fail_msg("add %zu: %s", i, st_errmsg());
  }
  sst_props p;
  assert_int_equal(sst_builder_finish(b, &p), LSM_OK);
  if (props_copy) *props_copy = p; /* key pointers die with the builder: compare now */
  assert_int_equal(p.entries, m->n);
  if (m->n) {
    assert_int_equal(p.smallest_n, m->e[0].kn);
    assert_memory_equal(p.smallest, m->e[0].k, p.smallest_n);
    assert_int_equal(p.largest_n, m->e[m->n - 1].kn);
    assert_memory_equal(p.largest, m->e[m->n - 1].k, p.largest_n);
  }
  uint64_t size;
  assert_int_equal(fio_size(f, &size), LSM_OK);
  assert_int_equal(size, p.file_size);
  sst_builder_free(b);
  assert_int_equal(fio_close(f), LSM_OK);
}

static void check_entry(it_iter *it, const ent *e) {
  assert_true(it_valid(it));
  const uint8_t *k, *v;
  size_t kn, vn;
  it_key(it, &k, &kn);
  it_value(it, &v, &vn);
  assert_int_equal(kn, e->kn);
  assert_memory_equal(k, e->k, kn);
  assert_int_equal(vn, e->vn);
  if (vn) assert_memory_equal(v, e->v, vn);
}

static void check_kv(const it_kv *kv, const ent *e) {
  assert_int_equal(kv->kn, e->kn);
  assert_memory_equal(kv->k, e->k, kv->kn);
  assert_int_equal(kv->vn, e->vn);
  if (kv->vn) assert_memory_equal(kv->v, e->v, kv->vn);
}

static void check_iter_all(sst_reader *r, const model *m, size_t readahead) {
  it_iter *it;
  assert_int_equal(sst_iter_new(r, readahead, &it), LSM_OK);
  assert_false(it_valid(it));
  assert_int_equal(it_seek_first(it), LSM_OK);
  for (size_t i = 0; i < m->n; i++) {
    check_entry(it, &m->e[i]);
    assert_int_equal(it_next(it), LSM_OK);
  }
  assert_false(it_valid(it));
  /* the same walk through next_kv (the per-row path of scans), across every block boundary */
  assert_int_equal(it_seek_first(it), LSM_OK);
  for (size_t i = 0; i < m->n; i++) {
    check_entry(it, &m->e[i]);
    it_kv buf;
    const it_kv *e = it_next_kv(it, &buf);
    assert_int_equal(e != NULL, i + 1 < m->n);
    assert_int_equal(e != NULL, it_valid(it));
    if (e) check_kv(e, &m->e[i + 1]);
  }
  assert_int_equal(it_status(it), LSM_OK);
  assert_int_equal(it_seek_last(it), LSM_OK);
  for (size_t i = m->n; i-- > 0;) {
    check_entry(it, &m->e[i]);
    assert_int_equal(it_prev(it), LSM_OK);
  }
  assert_false(it_valid(it));
  assert_int_equal(it_status(it), LSM_OK);
  /* seeks to present and absent keys at various snapshots, then a few steps both ways */
  unsigned seed = 42;
  for (int t = 0; t < 2000; t++) {
    uint8_t k[32];
    char uk[16];
    int ui = rand_r(&seed) % (int)(m->n + 10);
    int un = sprintf(uk, "key%08d", ui);
    size_t kn = ikey_seek_key(k, (uint8_t *)uk, (size_t)un, (uint64_t)(rand_r(&seed) % (m->n * 2)));
    assert_int_equal(it_seek(it, k, kn), LSM_OK);
    size_t want = model_lower(m, k, kn);
    if (want == m->n) {
      assert_false(it_valid(it));
      continue;
    }
    check_entry(it, &m->e[want]);
    if (t % 5 == 0) {
      if (want > 0) {
        assert_int_equal(it_prev(it), LSM_OK);
        check_entry(it, &m->e[want - 1]);
        assert_int_equal(it_next(it), LSM_OK);
      }
      check_entry(it, &m->e[want]);
      assert_int_equal(it_next(it), LSM_OK);
      if (want + 1 < m->n) check_entry(it, &m->e[want + 1]);
      else assert_false(it_valid(it));
    }
  }
  assert_int_equal(it_status(it), LSM_OK);
  it_free(it);
}

/* What sst_get must answer for seek key (uk, seq). */
static const ent *model_get(const model *m, const uint8_t *k, size_t kn) {
  size_t i = model_lower(m, k, kn);
  if (i == m->n) return NULL;
  if (it_bytes_cmp(m->e[i].k, m->e[i].kn - 8, k, kn - 8) != 0) return NULL;
  return &m->e[i];
}

/* sst_get_value (the point-read form) gives sst_get's answers: the type of the found key, the
** value only for a live one (copied with room for a terminator), nothing for val == NULL. */
static void check_get_values(sst_reader *r, const model *m, int nkeys) {
  cd_buf v = {0};
  for (int i = 0; i < 3 * nkeys + 3; i++) {
    uint8_t k[32];
    char uk[16];
    int un = sprintf(uk, "key%08d", i);
    size_t kn = ikey_seek_key(k, (uint8_t *)uk, (size_t)un, (uint64_t)((i * 7) % (4 * nkeys + 8)));
    const ent *want = model_get(m, k, kn);
    int type = -1, type2 = -1;
    cd_buf_clear(&v);
    int rc = sst_get_value(r, k, kn, &type, &v);
    int rc2 = sst_get_value(r, k, kn, &type2, NULL);
    assert_int_equal(rc, rc2);
    if (!want) {
      if (rc != LSM_NOTFOUND) fail_msg("key %d: rc %d (%s), want NOTFOUND", i, rc, st_errmsg());
      assert_int_equal(v.n, 0);
      continue;
    }
    if (rc) fail_msg("key %d: rc %d (%s)", i, rc, st_errmsg());
    int wt = ikey_type(want->k, want->kn);
    assert_int_equal(type, wt);
    assert_int_equal(type2, wt);
    if (wt != IKEY_VAL) {
      assert_int_equal(v.n, 0); /* a tombstone copies nothing */
      continue;
    }
    assert_int_equal(v.n, want->vn);
    assert_true(v.cap >= v.n + 1);
    if (v.n) assert_memory_equal(v.p, want->v, v.n);
  }
  cd_buf_free(&v);
}

static void check_gets(sst_reader *r, const model *m, int nkeys) {
  cd_buf fk = {0}, fv = {0};
  for (int i = 0; i < 3 * nkeys + 3; i++) {
    uint8_t k[32];
    char uk[16];
    int un = sprintf(uk, "key%08d", i);
    size_t kn = ikey_seek_key(k, (uint8_t *)uk, (size_t)un, (uint64_t)((i * 7) % (4 * nkeys + 8)));
    const ent *want = model_get(m, k, kn);
    int rc = sst_get(r, k, kn, &fk, &fv);
    if (!want) {
      if (rc != LSM_NOTFOUND) fail_msg("key %d: rc %d (%s), want NOTFOUND", i, rc, st_errmsg());
      continue;
    }
    if (rc) fail_msg("key %d: rc %d (%s)", i, rc, st_errmsg());
    expect_entry(&fk, &fv, want);
  }
  cd_buf_free(&fk);
  cd_buf_free(&fv);
  check_get_values(r, m, nkeys);
}

/* The index search (sst_locate through the reader's 8-byte key prefixes after the table's
** common prefix) on keys made to defeat it: prefixes equal far beyond 8 bytes, keys that
** differ only by trailing zero bytes (equal zero-padded prefixes), keys shorter than the
** common prefix, one user key in many versions spanning blocks; probes before, between and
** after every key, each at several sequence numbers, against the model. Tiny blocks: one
** index entry per few entries. */
static int cmp_ent(const void *a, const void *b) {
  const ent *x = a, *y = b;
  return ikey_cmp(x->k, x->kn, y->k, y->kn);
}

static void test_index_prefix_search(void **state) {
  (void)state;
  model m = {calloc(4000, sizeof(ent)), 0};
  static uint8_t none[1];
  uint64_t seq = 1;
#define ADD(uk, un, nv)                                                                \
  for (int v_ = 0; v_ < (nv); v_++) {                                                  \
    ent *e_ = &m.e[m.n++];                                                             \
    e_->kn = ikey_encode(e_->k, (const uint8_t *)(uk), (size_t)(un), seq++, IKEY_VAL); \
    e_->v = none;                                                                      \
    e_->vn = 0;                                                                        \
  }
  for (int i = 0; i < 300; i++) { /* "PQ" + 10 x 'x' + 3 digits: ties beyond 8 bytes */
    char uk[24];
    int un = sprintf(uk, "PQxxxxxxxxxx%03d", i);
    ADD(uk, un, 1 + i % 2);
    if (i % 10 == 0) ADD(uk, un - 3, 1); /* shorter: a prefix of others */
  }
  ADD("PQ", 2, 3);
  ADD("PQ\0", 3, 2);
  ADD("PQ\0\0", 4, 2);
  ADD("PQ\0\0\0\0\0\0\0\0\0", 11, 2);
  ADD("PQ\0\0\0\0\0\0\0\0\0\1", 12, 1);
  ADD("PQxxxxxxxxxx", 12, 200); /* one user key, many versions: separators of equal user key */
  ADD("PQz", 3, 1);
  ADD("PQzzzzzzzzzzzzzzzzzzzzz", 22, 1);
  qsort(m.e, m.n, sizeof *m.e, cmp_ent);
#undef ADD
  for (int b = 0; b < NBACKENDS; b++) {
    fio_env *env = env_for(backends[b]);
    sst_options o = {.block_size = 64, .bloom_bits = 0};
    build(env, "t.sst", &m, &o, NULL);
    sst_reader *r;
    assert_int_equal(sst_open(env, "t.sst", 1, NULL, &r), LSM_OK);
    /* several r->itop entries (IDX_TOP = 64 index entries each), the last one partial */
    assert_true(sst_reader_props(r)->data_blocks > 2 * 64 && sst_reader_props(r)->data_blocks % 64);
    cd_buf fk = {0}, fv = {0};
    uint64_t seqs[] = {IKEY_MAX_SEQ, seq / 2, seq / 3, 1, 0};
    for (size_t i = 0; i < m.n; i++) {
      uint8_t uk[32];
      size_t un = m.e[i].kn - 8;
      memcpy(uk, m.e[i].k, un);
      for (int var = 0; var < 5; var++) { /* the key, + "\0", + "\xff", one shorter, last+1 */
        size_t pn = un;
        uint8_t p[32];
        memcpy(p, uk, un);
        if (var == 1) p[pn++] = 0;
        if (var == 2) p[pn++] = 0xff;
        if (var == 3) {
          if (!pn) continue;
          pn--;
        }
        if (var == 4) {
          if (!pn || p[pn - 1] == 0xff) continue;
          p[pn - 1]++;
        }
        for (size_t s = 0; s < sizeof seqs / sizeof seqs[0]; s++) {
          uint8_t k[40];
          size_t kn = ikey_seek_key(k, p, pn, seqs[s]);
          const ent *want = model_get(&m, k, kn);
          int rc = sst_get(r, k, kn, &fk, &fv);
          if (!want) {
            if (rc != LSM_NOTFOUND) fail_msg("entry %zu var %d seq %zu: rc %d, want NOTFOUND", i, var, s, rc);
            continue;
          }
          if (rc) fail_msg("entry %zu var %d seq %zu: rc %d (%s)", i, var, s, rc, st_errmsg());
          assert_int_equal(fk.n, want->kn);
          assert_memory_equal(fk.p, want->k, fk.n);
        }
      }
    }
    /* The table iterator's seek goes through the same index search aid: one iterator re-seeked
    ** to every probe (forward, backward, into the block it holds, next to it), then a step
    ** each way from where it landed. */
    it_iter *it;
    assert_int_equal(sst_iter_new(r, 0, &it), LSM_OK);
    for (size_t t = 0; t < 4 * m.n; t++) {
      size_t i = t < 2 * m.n ? (t * 7919) % m.n : m.n - 1 - (t - 2 * m.n) / 2;
      uint8_t p[40], k[48];
      size_t pn = m.e[i].kn - 8;
      memcpy(p, m.e[i].k, pn);
      if (t % 3 == 1) p[pn++] = 0;
      if (t % 3 == 2 && pn) pn--;
      size_t kn = ikey_seek_key(k, p, pn, seqs[t % 5]), want = model_lower(&m, k, kn);
      assert_int_equal(it_seek(it, k, kn), LSM_OK);
      if (want == m.n) {
        assert_false(it_valid(it));
        continue;
      }
      check_entry(it, &m.e[want]);
      if (t % 2) {
        assert_int_equal(it_next(it), LSM_OK);
        if (want + 1 < m.n) check_entry(it, &m.e[want + 1]);
        else assert_false(it_valid(it));
      } else if (want) {
        assert_int_equal(it_prev(it), LSM_OK);
        check_entry(it, &m.e[want - 1]);
      }
    }
    const char *iprobes[] = {"", "A", "P", "PQ", "PQ\xff", "PR", "\xff\xff", "PQxxxxxxxxxx"};
    for (size_t i = 0; i < sizeof iprobes / sizeof iprobes[0]; i++) {
      uint8_t k[40];
      size_t kn = ikey_seek_key(k, (const uint8_t *)iprobes[i], strlen(iprobes[i]), IKEY_MAX_SEQ);
      size_t want = model_lower(&m, k, kn);
      assert_int_equal(it_seek(it, k, kn), LSM_OK);
      if (want == m.n) assert_false(it_valid(it));
      else check_entry(it, &m.e[want]);
    }
    assert_int_equal(it_status(it), LSM_OK);
    it_free(it);
    const char *probes[] = {"", "A", "P", "PQ", "PR", "\xff\xff"};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
      uint8_t k[40];
      size_t kn = ikey_seek_key(k, (const uint8_t *)probes[i], strlen(probes[i]), IKEY_MAX_SEQ);
      const ent *want = model_get(&m, k, kn);
      int rc = sst_get(r, k, kn, &fk, &fv);
      assert_int_equal(rc, want ? LSM_OK : LSM_NOTFOUND);
      if (want) assert_memory_equal(fk.p, want->k, want->kn);
    }
    cd_buf_free(&fk);
    cd_buf_free(&fv);
    sst_close(r);
    fio_delete(env, "t.sst");
    fio_env_free(env);
  }
  free(m.e);
}

static void test_roundtrip(void **state) {
  (void)state;
  model m;
  model_make(&m, 5000, 1);
  for (int b = 0; b < NBACKENDS; b++) {
    fio_env *env = env_for(backends[b]);
    for (int comp = 0; comp < 3; comp++) { /* none, zstd, lz4 */
      sst_options o = {.block_size = 1024, .compression = comp, .compression_level = 3, .bloom_bits = 10};
      sst_props bp;
      build(env, "t.sst", &m, &o, &bp);
      { /* footer version: 2 only for a table with lz4 blocks (older readers refuse it) */
        FILE *fp = fopen("t.sst", "rb");
        uint8_t ft[SST_FOOTER];
        assert_non_null(fp);
        assert_int_equal(fseek(fp, -SST_FOOTER, SEEK_END), 0);
        assert_int_equal(fread(ft, 1, sizeof ft, fp), sizeof ft);
        fclose(fp);
        assert_int_equal(cd_get_fixed32(ft + 48), comp == BLK_LZ4 ? SST_VERSION_LZ4 : SST_VERSION);
      }
      cache *c;
      assert_int_equal(cache_new(1 << 20, &c), LSM_OK);
      sst_read_options ro = {.cache = c};
      sst_reader *r;
      int rc = sst_open(env, "t.sst", 7, &ro, &r);
      if (rc) fail_msg("open: %s", st_errmsg());
      const sst_props *p = sst_reader_props(r);
      assert_int_equal(p->entries, m.n);
      assert_int_equal(p->deletions, bp.deletions);
      assert_true(p->deletions > 0);
      assert_int_equal(p->raw_key_bytes, bp.raw_key_bytes);
      assert_int_equal(p->raw_value_bytes, bp.raw_value_bytes);
      assert_int_equal(p->min_seq, 1);
      assert_int_equal(p->max_seq, bp.max_seq);
      assert_int_equal(p->data_blocks, bp.data_blocks);
      assert_true(p->data_blocks > 100);
      assert_int_equal(p->compression, (uint32_t)comp);
      assert_int_equal(p->bloom_bits, 10);
      assert_int_equal(p->smallest_n, m.e[0].kn);
      assert_memory_equal(p->smallest, m.e[0].k, p->smallest_n);
      assert_memory_equal(p->largest, m.e[m.n - 1].k, p->largest_n);
      assert_int_equal(sst_reader_file_size(r), bp.file_size);
      assert_int_equal(sst_reader_file_number(r), 7);
      if (comp) assert_true(p->data_bytes < p->raw_key_bytes + p->raw_value_bytes);
      check_iter_all(r, &m, 0);
      check_iter_all(r, &m, 64 * 1024); /* read-ahead path */
      check_gets(r, &m, 5000);
      char *rep;
      assert_int_equal(sst_verify(r, &rep), LSM_OK);
      assert_string_equal(rep, "ok");
      mm_free(rep);
      cache_stats cs;
      cache_get_stats(c, &cs);
      assert_true(cs.hits > 0 && cs.misses > 0);
      sst_close(r);
      cache_erase_file(c, 7);
      cache_free(c);
    }
    fio_env_free(env);
  }
  model_free(&m);
}

/* A table built without compression: a miss reads the stored block straight into its cache
** entry (get_block_raw). Same answers with and without a cache, one read per miss. */
static void test_raw_blocks(void **state) {
  (void)state;
  model m;
  model_make(&m, 3000, 1);
  for (int b = 0; b < NBACKENDS; b++) {
    fio_env *env = env_for(backends[b]);
    sst_options o = {.block_size = 2048, .compression = 0, .bloom_bits = 10};
    build(env, "raw.sst", &m, &o, NULL);
    for (int with_cache = 0; with_cache < 2; with_cache++) {
      cache *c = NULL;
      if (with_cache) assert_int_equal(cache_new(8 << 20, &c), LSM_OK);
      sst_counters ctr = {0};
      sst_read_options ro = {.cache = c, .counters = &ctr};
      sst_reader *r;
      assert_int_equal(sst_open(env, "raw.sst", 3, &ro, &r), LSM_OK);
      check_gets(r, &m, 3000); /* sst_get and sst_get_value against the model */
      /* a live key twice: with a cache the second is a hit (no read), without one both read */
      size_t i = 0;
      while (ikey_type(m.e[i].k, m.e[i].kn) != IKEY_VAL) i++;
      uint64_t before = ctr.blocks_read, bytes = ctr.bytes_read;
      cd_buf v = {0};
      int type = -1;
      assert_int_equal(sst_get_value(r, m.e[i].k, m.e[i].kn, &type, &v), LSM_OK);
      assert_int_equal(sst_get_value(r, m.e[i].k, m.e[i].kn, &type, &v), LSM_OK);
      assert_int_equal(type, IKEY_VAL);
      assert_int_equal(v.n, m.e[i].vn);
      assert_memory_equal(v.p, m.e[i].v, v.n);
      uint64_t reads = ctr.blocks_read - before;
      if (with_cache) assert_true(reads <= 1); /* 0 when check_gets left it cached */
      else assert_int_equal(reads, 2);
      if (!with_cache) assert_true(ctr.bytes_read - bytes > 2 * v.n);
      cd_buf_free(&v);
      sst_close(r);
      cache_free(c);
    }
    fio_env_free(env);
  }
  model_free(&m);
}

static void test_get_bloom_cache(void **state) {
  (void)state;
  model m;
  model_make(&m, 3000, 0);
  for (int b = 0; b < NBACKENDS; b++) {
    fio_env *env = env_for(backends[b]);
    sst_options o = {.block_size = 4096, .compression = 1, .bloom_bits = 10};
    build(env, "g.sst", &m, &o, NULL);
    cache *c;
    assert_int_equal(cache_new(8 << 20, &c), LSM_OK);
    sst_counters ctr = {0};
    sst_read_options ro = {.cache = c, .counters = &ctr};
    sst_reader *r;
    assert_int_equal(sst_open(env, "g.sst", 1, &ro, &r), LSM_OK);
    assert_ptr_equal(sst_reader_counters(r), &ctr);
    /* misses on absent user keys: the bloom filter answers nearly all without IO */
    cd_buf fk = {0}, fv = {0};
    uint64_t br0 = ctr.blocks_read;
    for (int i = 0; i < 3000; i++) {
      uint8_t k[32];
      char uk[16];
      int un = sprintf(uk, "key%08d", 3 * i + 1);
      size_t kn = ikey_seek_key(k, (uint8_t *)uk, (size_t)un, IKEY_MAX_SEQ);
      assert_int_equal(sst_get(r, k, kn, &fk, &fv), LSM_NOTFOUND);
    }
    assert_int_equal(ctr.bloom_checked, 3000);
    assert_true(ctr.bloom_useful >= 2900);
    assert_true(ctr.blocks_read - br0 <= 100);
    /* hits: first pass reads blocks, second pass is served by the cache */
    check_gets(r, &m, 3000);
    uint64_t br1 = ctr.blocks_read;
    check_gets(r, &m, 3000);
    assert_int_equal(ctr.blocks_read, br1);
    /* a present key found, an older snapshot sees the older version, a too-old one nothing */
    uint8_t k[32];
    size_t kn = ikey_seek_key(k, (const uint8_t *)"key00000006", 11, IKEY_MAX_SEQ); /* i=2: seqs 9,10,11 */
    assert_int_equal(sst_get(r, k, kn, &fk, &fv), LSM_OK);
    assert_int_equal(ikey_seq(fk.p, fk.n), 11);
    kn = ikey_seek_key(k, (const uint8_t *)"key00000006", 11, 10);
    assert_int_equal(sst_get(r, k, kn, &fk, &fv), LSM_OK);
    assert_int_equal(ikey_seq(fk.p, fk.n), 10);
    kn = ikey_seek_key(k, (const uint8_t *)"key00000006", 11, 8);
    assert_int_equal(sst_get(r, k, kn, &fk, &fv), LSM_NOTFOUND);
    /* a tombstone is returned as such: the caller interprets it */
    kn = ikey_seek_key(k, (const uint8_t *)"key00000000", 11, IKEY_MAX_SEQ);
    assert_int_equal(sst_get(r, k, kn, &fk, &fv), LSM_OK);
    assert_int_equal(ikey_type(fk.p, fk.n), IKEY_DEL);
    cd_buf_free(&fk);
    cd_buf_free(&fv);
    sst_close(r);
    /* no cache and no filter work too */
    o.bloom_bits = 0;
    build(env, "g.sst", &m, &o, NULL);
    assert_int_equal(sst_open(env, "g.sst", 2, NULL, &r), LSM_OK);
    check_gets(r, &m, 3000);
    check_iter_all(r, &m, 0);
    assert_int_equal(sst_reader_counters(r)->bloom_checked, 0);
    sst_close(r);
    /* capacity-0 cache */
    cache *c0;
    assert_int_equal(cache_new(0, &c0), LSM_OK);
    ro.cache = c0;
    assert_int_equal(sst_open(env, "g.sst", 3, &ro, &r), LSM_OK);
    check_gets(r, &m, 3000);
    check_iter_all(r, &m, 0);
    sst_close(r);
    cache_free(c0);
    cache_free(c);
    fio_env_free(env);
  }
  model_free(&m);
}

/* What an sst_fetch_fn saw of each request of one sst_fetch_blocks call: how often it was
** called, the request's rc, the block it was handed (borrowed: only compared), whether that was a
** cache entry, and sst_fetch_value's answer for the request's key. */
enum { FL_MAX = 600 };
typedef struct fetch_log {
  const sst_fetch *base;
  const uint8_t *key[FL_MAX]; /* in: each request's internal seek key */
  size_t kn[FL_MAX];
  int calls[FL_MAX], rc[FL_MAX], cached[FL_MAX], vrc[FL_MAX], type[FL_MAX];
  const void *blk[FL_MAX];
  cd_buf val[FL_MAX];
} fetch_log;

static void log_fetch(void *arg, const sst_fetch *f) {
  fetch_log *l = arg;
  int j = (int)(f - l->base);
  l->calls[j]++;
  l->rc[j] = f->rc;
  l->cached[j] = f->blk.h != NULL;
  l->blk[j] = f->blk.blk;
  l->vrc[j] = f->rc ? f->rc : sst_fetch_value(f, l->key[j], l->kn[j], &l->type[j], &l->val[j]);
}

/* sst_fetch_blocks(q, n) through log_fetch into *l (reset first; keys set by the caller). */
static int fetch_logged(sst_fetch *q, int n, fetch_log *l) {
  assert_true(n <= FL_MAX);
  l->base = q;
  for (int j = 0; j < n; j++) {
    l->calls[j] = 0;
    l->blk[j] = NULL;
    cd_buf_clear(&l->val[j]);
  }
  int rc = sst_fetch_blocks(q, n, log_fetch, l);
  for (int j = 0; j < n; j++) {
    assert_int_equal(l->calls[j], 1);   /* every request exactly once */
    assert_int_equal(l->rc[j], q[j].rc); /* the status fn saw is the one left behind */
    assert_null(q[j].blk.blk);          /* released after fn */
  }
  return rc;
}

/* fetch_logged of the two requests q[0..1] with keys k0 and k1. */
static int fetch2_logged(sst_fetch *q, const uint8_t *k0, size_t n0, const uint8_t *k1, size_t n1,
                         fetch_log *l) {
  l->key[0] = k0;
  l->kn[0] = n0;
  l->key[1] = k1;
  l->kn[1] = n1;
  return fetch_logged(q, 2, l);
}

/* The answer fn got for request j is sst_get_value's for the same key and table. */
static void check_logged(fetch_log *l, sst_reader *r, int j) {
  int type = -1;
  cd_buf v = {0};
  int rc = sst_get_value(r, l->key[j], l->kn[j], &type, &v);
  assert_int_equal(l->vrc[j], rc);
  if (rc == LSM_OK) {
    assert_int_equal(l->type[j], type);
    assert_int_equal(l->val[j].n, v.n);
    if (v.n) assert_memory_equal(l->val[j].p, v.p, v.n);
  }
  cd_buf_free(&v);
}

static void fetch_log_free(fetch_log *l) {
  for (int j = 0; j < FL_MAX; j++) cd_buf_free(&l->val[j]);
}

static void test_multiget(void **state) {
  (void)state;
  mg_test_own(); /* the mapped cases map (mg_util.h) */
  model m1, m2;
  model_make(&m1, 4000, 0);
  model_make(&m2, 1000, 0);
  for (int b = 0; b < NBACKENDS; b++) {
    fio_env *env = env_for(backends[b]);
    for (int mode = 0; mode < 3; mode++) { /* buffered raw, direct zstd, mapped lz4 */
      int direct = mode == 1, mapped = mode == 2;
      sst_options o = {.block_size = 2048, .compression = mode, .bloom_bits = 10};
      build(env, "a.sst", &m1, &o, NULL);
      build(env, "b.sst", &m2, &o, NULL);
      cache *c;
      assert_int_equal(cache_new(4 << 20, &c), LSM_OK);
      sst_read_options ro = {.cache = c, .direct_io = direct, .mmap = mapped};
      sst_reader *ra, *rb;
      assert_int_equal(sst_open(env, "a.sst", 1, &ro, &ra), LSM_OK);
      assert_int_equal(sst_open(env, "b.sst", 2, &ro, &rb), LSM_OK);
      /* the filters lie cache-line aligned in every read mode (the multiget's one prefetch
      ** per key loads the whole of its filter block) */
      for (int t = 0; t < 2; t++) {
        size_t fn;
        const uint8_t *f = sst_reader_filter(t ? rb : ra, &fn);
        assert_non_null(f);
        assert_true(fn > 0);
        assert_int_equal((uintptr_t)f % BLOOM_BLOCK, 0);
      }
      /* 300 keys: some in both tables, some absent, some repeated (same block twice) */
      enum { N = 300 };
      uint8_t keys[N][32];
      size_t kns[N];
      sst_fetch req[2 * N];
      int nreq = 0, which[2 * N];
      unsigned seed = 99;
      for (int i = 0; i < N; i++) {
        char uk[16];
        int ui = i < 20 ? 30 : rand_r(&seed) % 12100;
        int un = sprintf(uk, "key%08d", ui);
        kns[i] = ikey_seek_key(keys[i], (uint8_t *)uk, (size_t)un, IKEY_MAX_SEQ);
        sst_reader *rs[2] = {ra, rb};
        for (int t = 0; t < 2; t++) {
          sst_bhandle h;
          int rc = sst_locate(rs[t], keys[i], kns[i], &h);
          if (rc == LSM_NOTFOUND) continue;
          assert_int_equal(rc, LSM_OK);
          req[nreq].r = rs[t];
          req[nreq].h = h;
          which[nreq++] = i;
        }
      }
      assert_true(nreq > N / 2);
      /* warm one block so the batch mixes hits and misses (read twice: the cache admits a
      ** block on its second miss) */
      cd_buf fk = {0}, fv = {0};
      int warm = -1;
      for (int j = 0; j < nreq && warm < 0; j++)
        if (which[j] >= 20 && req[j].r == ra) warm = j;
      assert_true(warm >= 0);
      for (int twice = 0; twice < 2; twice++)
        assert_int_equal(sst_get(ra, keys[which[warm]], kns[which[warm]], &fk, &fv), LSM_OK);
      cache_stats cs0, cs1;
      cache_get_stats(c, &cs0);
      static fetch_log l;
      for (int j = 0; j < nreq; j++) {
        l.key[j] = keys[which[j]];
        l.kn[j] = kns[which[j]];
      }
      assert_int_equal(fetch_logged(req, nreq, &l), LSM_OK);
      /* the 20 requests for key 30 in a.sst share one read of its block (handed to each in
      ** turn); blocks missed once are not cached (the warmed one is a hit) */
      cache_get_stats(c, &cs1);
      const void *dup = NULL;
      int ndup = 0;
      for (int j = 0; j < nreq; j++) {
        assert_int_equal(req[j].rc, LSM_OK);
        check_logged(&l, req[j].r, j);
        if (which[j] == which[warm] && req[j].r == ra) assert_true(l.cached[j]);
        if (which[j] >= 20 || req[j].r != ra) continue;
        if (!dup) dup = l.blk[j];
        assert_ptr_equal(l.blk[j], dup);
        ndup++;
      }
      assert_int_equal(ndup, 20);
      assert_true(cs1.entries - cs0.entries < (uint64_t)nreq / 4);
      /* without a cache: the same answers */
      sst_close(ra);
      sst_read_options nro = {.mmap = mapped};
      assert_int_equal(sst_open(env, "a.sst", 1, &nro, &ra), LSM_OK);
      assert_int_equal(sst_reader_mapped(ra), mapped && sizeof(void *) >= 8 ? 1 : 0);
      int na = 0;
      for (int j = 0; j < nreq; j++)
        if (req[j].r != rb) {
          req[na] = req[j];
          req[na].r = ra;
          which[na] = which[j];
          l.key[na] = keys[which[j]];
          l.kn[na++] = kns[which[j]];
        }
      assert_int_equal(fetch_logged(req, na, &l), LSM_OK);
      for (int j = 0; j < na; j++) check_logged(&l, ra, j);
      /* a bad handle fails its own request only */
      req[0].r = ra;
      req[0].h.off = 1ull << 40;
      req[1].r = ra;
      assert_int_equal(fetch2_logged(req, l.key[0], l.kn[0], l.key[1], l.kn[1], &l), LSM_CORRUPT);
      assert_int_equal(req[0].rc, LSM_CORRUPT);
      assert_int_equal(req[1].rc, LSM_OK);
      check_logged(&l, ra, 1);
      fetch_log_free(&l);
      cd_buf_free(&fk);
      cd_buf_free(&fv);
      sst_close(ra);
      sst_close(rb);
      cache_free(c);
    }
    fio_env_free(env);
  }
  model_free(&m1);
  model_free(&m2);
}


/* Scans without a fixed readahead switch to reading ahead themselves after a few adjacent
** blocks: the blocks then come from the iterator's window, not the cache (a long scan must
** leave the cache as it was), blocks already cached are still taken from the cache, and the
** content is exactly the model's in both directions, buffered and direct, raw and zstd, with
** values larger than a window. Also: one-block sst_fetch_blocks (the plain-read path). */
static void test_auto_readahead(void **state) {
  (void)state;
  model m;
  model_make(&m, 12000, 1);
  fio_env *env = env_for(FIO_URING);
  for (int t = 0; t < 6; t++) {
    int comp = t % 3, direct = t / 3; /* none, zstd, lz4; buffered, direct */
    sst_options o = {.block_size = 2048, .compression = comp, .bloom_bits = 10};
    build(env, "ra.sst", &m, &o, NULL);
    cache *c;
    assert_int_equal(cache_new(64 << 20, &c), LSM_OK);
    sst_counters ctr = {0};
    sst_read_options ro = {.cache = c, .counters = &ctr, .direct_io = direct};
    sst_reader *r;
    assert_int_equal(sst_open(env, "ra.sst", 7, &ro, &r), LSM_OK);
    uint64_t nblocks = sst_reader_props(r)->data_blocks;
    assert_true(nblocks > 200);
    /* a full forward scan: every block read, almost none cached */
    it_iter *it;
    assert_int_equal(sst_iter_new(r, 0, &it), LSM_OK);
    assert_int_equal(it_seek_first(it), LSM_OK);
    for (size_t i = 0; i < m.n; i++) {
      check_entry(it, &m.e[i]);
      assert_int_equal(it_next(it), LSM_OK);
    }
    assert_false(it_valid(it));
    cache_stats st;
    cache_get_stats(c, &st);
    if (st.entries > 4)
      fail_msg("t=%d: forward scan cached %llu of %llu blocks", t, (unsigned long long)st.entries,
               (unsigned long long)nblocks);
    assert_true(ctr.blocks_read >= nblocks);
    /* automatic windows: one read each when buffered, chunk batches with O_DIRECT */
    if (sst_reader_direct(r)) assert_true(ctr.ra_batches > 0 && ctr.ra_requests >= 2 * ctr.ra_batches);
    else assert_int_equal(ctr.ra_batches, 0);
    /* the same backward */
    assert_int_equal(it_seek_last(it), LSM_OK);
    for (size_t i = m.n; i-- > 0;) {
      check_entry(it, &m.e[i]);
      assert_int_equal(it_prev(it), LSM_OK);
    }
    assert_false(it_valid(it));
    assert_int_equal(it_status(it), LSM_OK);
    cache_get_stats(c, &st);
    if (st.entries > 8) fail_msg("t=%d: backward scan cached %llu blocks", t, (unsigned long long)st.entries);
    /* cache every third key's block through point reads (twice: the cache admits a block on
    ** its second miss), then scan again both ways: a mix of cached blocks and window blocks,
    ** the cached ones not read again */
    cd_buf fk = {0}, fv = {0};
    for (size_t i = 0; i < m.n; i += 3 * 40)
      for (int twice = 0; twice < 2; twice++) sst_get(r, m.e[i].k, m.e[i].kn, &fk, &fv);
    cache_get_stats(c, &st);
    uint64_t cached = st.entries, hits0 = st.hits;
    assert_true(cached > 20);
    assert_int_equal(it_seek_first(it), LSM_OK);
    for (size_t i = 0; i < m.n; i++) {
      check_entry(it, &m.e[i]);
      assert_int_equal(it_next(it), LSM_OK);
    }
    assert_int_equal(it_seek_last(it), LSM_OK);
    for (size_t i = m.n; i-- > 0;) {
      check_entry(it, &m.e[i]);
      assert_int_equal(it_prev(it), LSM_OK);
    }
    assert_int_equal(it_status(it), LSM_OK);
    cache_get_stats(c, &st);
    assert_true(st.entries <= cached + 8);
    assert_true(st.hits - hits0 >= 2 * (cached - 8)); /* cached blocks served from the cache */
    it_free(it);
    /* short scans and seeks through a fresh iterator still agree with the model */
    check_iter_all(r, &m, 0);
    /* one-block fetches: the plain read path, with and without the cache */
    for (int pass = 0; pass < 2; pass++) {
      for (size_t i = 1; i < m.n; i += 997) {
        sst_fetch f = {.r = r};
        assert_int_equal(sst_locate(r, m.e[i].k, m.e[i].kn, &f.h), LSM_OK);
        if (pass == 0) cache_erase(c, 7, f.h.off); /* a miss */
        static fetch_log l;
        l.key[0] = m.e[i].k;
        l.kn[0] = m.e[i].kn;
        assert_int_equal(fetch_logged(&f, 1, &l), LSM_OK);
        assert_int_equal(f.rc, LSM_OK);
        assert_int_equal(l.vrc[0], LSM_OK);
        assert_int_equal(l.type[0], ikey_type(m.e[i].k, m.e[i].kn));
        if (l.type[0] == IKEY_VAL) {
          assert_int_equal(l.val[0].n, m.e[i].vn);
          if (l.val[0].n) assert_memory_equal(l.val[0].p, m.e[i].v, l.val[0].n);
        }
        fetch_log_free(&l);
      }
    }
    cd_buf_free(&fk);
    cd_buf_free(&fv);
    sst_close(r);
    cache_free(c);
  }
  fio_env_free(env);
  model_free(&m);
}

/* sst_iter_hint: a hinted forward seek reads the blocks the hinted entries span in one read
** (counted by a fault env's read counter), where an unhinted one reads block by block; a scan
** past the hint, hints far larger or smaller than the data, 0, backward moves after a hinted
** seek, raw and lz4 blocks, buffered and direct: always exactly the model's entries. A hot
** range repeated ends up read from the cache alone. */
static void test_iter_hint(void **state) {
  (void)state;
  model m;
  model_make(&m, 12000, 0);
  fio_env *inner = env_for(FIO_SYNC), *env;
  assert_int_equal(fio_env_fault(inner, &env), LSM_OK);
  for (int t = 0; t < 4; t++) {
    int comp = t % 2 ? BLK_LZ4 : BLK_NONE, direct = t / 2; /* none, lz4; buffered, direct */
    sst_options o = {.block_size = 2048, .compression = comp, .bloom_bits = 10};
    build(env, "h.sst", &m, &o, NULL);
    cache *c;
    assert_int_equal(cache_new(64 << 20, &c), LSM_OK);
    sst_read_options ro = {.cache = c, .direct_io = direct};
    sst_reader *r;
    assert_int_equal(sst_open(env, "h.sst", 9, &ro, &r), LSM_OK);
    uint64_t hint = 0;
    it_iter *it;
    assert_int_equal(sst_iter_new(r, 0, &it), LSM_OK);
    sst_iter_hint(it, &hint, 1.0);
    static const uint64_t hints[] = {0, 1, 10, 100, 400, 1000000};
    unsigned seed = 4242u + (unsigned)t;
    long one_read = 0, unhinted_multi = 0;
    for (int trial = 0; trial < 600; trial++) {
      hint = hints[trial % 6];
      size_t start = (size_t)rand_r(&seed) % m.n;
      /* entries to read: within the hint (half of it), the hint, well past it */
      size_t want = (trial / 6) % 3 == 0 ? (hint ? hint / 2 : 50)
                    : (trial / 6) % 3 == 1 ? (hint ? hint : 200) : 3 * hint + 300;
      if (want == 0) want = 1;
      long r0 = fio_fault_count(env, FIO_OP_READ);
      assert_int_equal(it_seek(it, m.e[start].k, m.e[start].kn), LSM_OK);
      size_t i = start;
      for (; i < m.n && i < start + want; i++) {
        if (i > start) assert_int_equal(it_next(it), LSM_OK);
        check_entry(it, &m.e[i]);
      }
      long reads = fio_fault_count(env, FIO_OP_READ) - r0;
      if (i == m.n) {
        assert_int_equal(it_next(it), LSM_OK);
        assert_false(it_valid(it));
      } else if (trial % 4 == 0) { /* backward from a hinted position */
        for (size_t j = i - 1; j-- > start && j + 20 > i;) { /* (at entry i - 1) */
          assert_int_equal(it_prev(it), LSM_OK);
          check_entry(it, &m.e[j]);
        }
      }
      if (!direct && (hint == 100 || hint == 400) && want == hint / 2) {
        if (reads > 1)
          fail_msg("seed %u trial %d: hint %llu, %zu entries read in %ld reads", 4242u + (unsigned)t,
                   trial, (unsigned long long)hint, want, reads);
        one_read++;
      }
      if (!direct && hint == 0 && want == 200 && reads >= 2) unhinted_multi++;
      assert_int_equal(it_status(it), LSM_OK);
    }
    if (!direct) {
      assert_true(one_read > 50);
      assert_true(unhinted_multi > 10); /* without the hint the same ranges take several reads */
    }
    /* backward (SST_HINT_BACKWARD: a seek or seek_last that positions a backward scan): the
    ** window ends with the block landed in; half the hint's entries walked back in one read */
    long back_one_read = 0;
    for (int trial = 0; trial < 300; trial++) {
      uint64_t n = hints[trial % 6];
      hint = n | SST_HINT_BACKWARD;
      size_t start = (size_t)rand_r(&seed) % m.n, want = n ? (trial / 6 % 2 ? n / 2 : 2 * n + 5) : 50;
      if (want == 0) want = 1;
      long r0 = fio_fault_count(env, FIO_OP_READ);
      if (trial % 7 == 0) {
        start = m.n - 1;
        assert_int_equal(it_seek_last(it), LSM_OK);
      } else {
        assert_int_equal(it_seek(it, m.e[start].k, m.e[start].kn), LSM_OK);
      }
      size_t i = start, got = 0;
      for (; got < want; got++, i--) {
        if (got) assert_int_equal(it_prev(it), LSM_OK);
        check_entry(it, &m.e[i]);
        if (i == 0) break;
      }
      long reads = fio_fault_count(env, FIO_OP_READ) - r0;
      if (i == 0 && got < want) {
        assert_int_equal(it_prev(it), LSM_OK);
        assert_false(it_valid(it));
      }
      if (!direct && (n == 100 || n == 400) && want == n / 2 && start > want) {
        if (reads > 1)
          fail_msg("seed %u back trial %d: hint %llu, %zu entries read back in %ld reads",
                   4242u + (unsigned)t, trial, (unsigned long long)n, want, reads);
        back_one_read++;
      }
      assert_int_equal(it_status(it), LSM_OK);
    }
    if (!direct) assert_true(back_one_read > 20);
    /* the same short hinted range again and again (a hot range): its blocks end up in the
    ** cache (admitted on a second miss, one more block per pair of runs) and it reads nothing */
    {
      hint = 100;
      size_t start = m.n / 3;
      long reads = -1;
      for (int run = 0; run < 40; run++) {
        long r0 = fio_fault_count(env, FIO_OP_READ);
        assert_int_equal(it_seek(it, m.e[start].k, m.e[start].kn), LSM_OK);
        for (size_t i = start; i < start + 50; i++) {
          if (i > start) assert_int_equal(it_next(it), LSM_OK);
          check_entry(it, &m.e[i]);
        }
        reads = fio_fault_count(env, FIO_OP_READ) - r0;
      }
      assert_int_equal(reads, 0);
    }
    /* a full scan after a hinted seek_first is the whole table */
    hint = 10;
    assert_int_equal(it_seek_first(it), LSM_OK);
    for (size_t i = 0; i < m.n; i++) {
      check_entry(it, &m.e[i]);
      assert_int_equal(it_next(it), LSM_OK);
    }
    assert_false(it_valid(it));
    assert_int_equal(it_status(it), LSM_OK);
    it_free(it);
    sst_close(r);
    cache_free(c);
  }
  fio_env_free(env);
  fio_env_free(inner);
  model_free(&m);
}

static void test_direct_io(void **state) {
  (void)state;
  model m;
  model_make(&m, 3000, 1);
  for (int b = 0; b < NBACKENDS; b++) {
    fio_env *env = env_for(backends[b]);
    sst_options o = {.block_size = 4096, .compression = 1, .bloom_bits = 10};
    build(env, "d.sst", &m, &o, NULL);
    cache *c;
    assert_int_equal(cache_new(1 << 20, &c), LSM_OK);
    sst_read_options ro = {.cache = c, .direct_io = 1};
    sst_reader *r;
    assert_int_equal(sst_open(env, "d.sst", 5, &ro, &r), LSM_OK);
    if (!sst_reader_direct(r)) { /* only legitimate where the filesystem refuses O_DIRECT */
      fio_file *df;
      assert_int_not_equal(fio_open(env, "d.sst", FIO_RDONLY | FIO_DIRECT, &df), LSM_OK);
      print_message("O_DIRECT unsupported here: buffered fallback tested\n");
    }
    check_iter_all(r, &m, 0);
    check_iter_all(r, &m, 100 * 1000); /* unaligned read-ahead size */
    check_gets(r, &m, 3000);
    char *rep;
    assert_int_equal(sst_verify(r, &rep), LSM_OK);
    mm_free(rep);
    sst_close(r);
    cache_free(c);
    fio_env_free(env);
  }
  model_free(&m);
}

/* sst_read_options.mmap: block-cache misses of point reads come from the mapping, with the
** same answers (gets, sst_get_value, iterators, multiget) for raw, zstd and lz4 blocks; the
** mapping is refused for direct IO and for a fault env (whose reads must all be seen). */
static void test_mmap_reads(void **state) {
  (void)state;
  mg_test_own(); /* the mapped cases map (mg_util.h) */
  model m;
  model_make(&m, 3000, 1);
  for (int b = 0; b < NBACKENDS; b++) {
    fio_env *env = env_for(backends[b]);
    for (int comp = 0; comp < 3; comp++) {
      sst_options o = {.block_size = 2048, .compression = comp, .bloom_bits = 10};
      build(env, "m.sst", &m, &o, NULL);
      for (int withc = 0; withc < 2; withc++) {
        cache *c = NULL;
        if (withc) assert_int_equal(cache_new(1 << 20, &c), LSM_OK);
        sst_read_options ro = {.cache = c, .mmap = 1};
        sst_reader *r;
        assert_int_equal(sst_open(env, "m.sst", 7, &ro, &r), LSM_OK);
        assert_int_equal(sst_reader_mapped(r), sizeof(void *) >= 8 ? 1 : 0);
        uint64_t before = atomic_load(&sst_reader_counters(r)->blocks_read);
        check_gets(r, &m, 3000);
        check_gets(r, &m, 3000); /* again: cache hits where admitted */
        assert_true(atomic_load(&sst_reader_counters(r)->blocks_read) > before);
        check_iter_all(r, &m, 0);
        char *rep;
        assert_int_equal(sst_verify(r, &rep), LSM_OK);
        mm_free(rep);
        sst_close(r);
        cache_free(c);
      }
    }
    /* direct IO wins over mmap (the cache owns caching there) */
    sst_read_options dro = {.direct_io = 1, .mmap = 1};
    sst_reader *r;
    assert_int_equal(sst_open(env, "m.sst", 8, &dro, &r), LSM_OK);
    if (sst_reader_direct(r)) assert_int_equal(sst_reader_mapped(r), 0);
    check_gets(r, &m, 3000);
    sst_close(r);
    /* a fault env is never bypassed */
    fio_env *fe;
    assert_int_equal(fio_env_fault(env, &fe), LSM_OK);
    sst_read_options fro = {.mmap = 1};
    assert_int_equal(sst_open(fe, "m.sst", 9, &fro, &r), LSM_OK);
    assert_int_equal(sst_reader_mapped(r), 0);
    sst_close(r);
    fio_env_free(fe);
    fio_env_free(env);
  }
  model_free(&m);
}

/* A multiget batch (sst_fetch_blocks) over a mapped table whose blocks are out of the page
** cache reads them as misses, in one fio batch, instead of faulting them in one after the other
** (counters.cold_batches); once two probes in a row found their batches cached, the thread's
** next 7 batches take the mapped path unprobed, and the 8th is probed again. The cold batches
** take no major page fault (the thread's getrusage), the unprobed ones do. The answers are
** sst_get_value's in every case. Raw and lz4 blocks, both backends. The pages are evicted with
** POSIX_FADV_DONTNEED once, after the table is opened and mapped; every batch but one reads
** blocks no earlier batch touched, checked with mincore on a mapping of the test's own. The
** probe's skip count is per thread and earlier tests leave it anywhere: batches over fresh
** blocks run until one is found cold (within 8), which leaves it at 0. */
static int page_cached(const uint8_t *map, uint64_t off) {
  uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)(map + off) & ~(pg - 1);
  unsigned char in = 0;
  assert_int_equal(mincore((void *)a, 1, &in), 0);
  return in & 1;
}

/* Major page faults of the calling thread so far. */
static long major_faults(void) {
  struct rusage ru;
  assert_int_equal(getrusage(RUSAGE_THREAD, &ru), 0);
  return ru.ru_majflt;
}

enum { CK = 2 }; /* keys per batch */

/* One batch of CK keys of group g over r (keys 600 apart, each group 1250 keys from the next,
** none in the file's first page: pages far enough apart that the kernel's read-ahead of the
** misses, which reads more at a file's start or after the page before, caches no other's):
** checks the answers, returns the major faults the batch itself took. fresh: every block must
** be out of the page cache before (chk: the test's mapping of the file). */
static long cold_batch(sst_reader *r, const uint8_t *chk, int g, int fresh) {
  static fetch_log l;
  uint8_t keys[CK][32];
  sst_fetch req[CK];
  for (int j = 0; j < CK; j++) {
    char uk[16];
    int un = sprintf(uk, "key%08d", 3 * (g * 1250 + j * 600 + 137));
    size_t kn = ikey_seek_key(keys[j], (uint8_t *)uk, (size_t)un, IKEY_MAX_SEQ);
    assert_int_equal(sst_locate(r, keys[j], kn, &req[j].h), LSM_OK);
    req[j].r = r;
    l.key[j] = keys[j];
    l.kn[j] = kn;
    if (fresh && page_cached(chk, req[j].h.off)) /* else the batch tests nothing */
      fail_msg("group %d: block at %llu already cached", g, (unsigned long long)req[j].h.off);
  }
  long f0 = major_faults();
  assert_int_equal(fetch_logged(req, CK, &l), LSM_OK);
  long faults = major_faults() - f0;
  for (int j = 0; j < CK; j++) {
    assert_int_equal(l.vrc[j], LSM_OK);
    check_logged(&l, r, j);
  }
  fetch_log_free(&l);
  return faults;
}

static void test_multiget_cold_mapped(void **state) {
  (void)state;
  if (sizeof(void *) < 8) return; /* no mapping */
  mg_test_own();
  model m;
  model_make(&m, 20000, 0);
  for (int b = 0; b < NBACKENDS; b++)
    for (int comp = 0; comp < 3; comp += 2) { /* none, lz4 */
      fio_env *env = env_for(backends[b]);
      sst_options o = {.block_size = 2048, .compression = comp, .bloom_bits = 10};
      build(env, "cold.sst", &m, &o, NULL);
      int fd = open("cold.sst", O_RDONLY);
      assert_true(fd >= 0);
      off_t fsz = lseek(fd, 0, SEEK_END);
      const uint8_t *chk = mmap(NULL, (size_t)fsz, PROT_READ, MAP_SHARED, fd, 0);
      assert_true(chk != MAP_FAILED);
      sst_counters ctr = {0};
      sst_read_options ro = {.mmap = 1, .counters = &ctr};
      sst_reader *r;
      assert_int_equal(sst_open(env, "cold.sst", 1, &ro, &r), LSM_OK);
      assert_int_equal(sst_reader_mapped(r), 1);
      /* evicted after both mappings exist: valgrind reads the head of every file mapped (its
      ** ELF probe), which caches the first pages again */
      assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
      int g = 0;
      while (atomic_load(&ctr.cold_batches) == 0) { /* sync: a probed cold batch, skip now 0 */
        if (g == 8) fail_msg("backend %d comp %d: 8 cold batches, none probed cold", backends[b], comp);
        long faults = cold_batch(r, chk, g++, 1);
        if (atomic_load(&ctr.cold_batches)) assert_int_equal(faults, 0); /* read as misses */
        else assert_true(faults >= 1);                                     /* faulted in */
      }
      /* the same blocks again, now cached, twice: the first probe cached after a cold one
      ** leaves the next batch probed, the second makes the next 7 batches go unprobed */
      assert_int_equal(cold_batch(r, chk, g - 1, 0), 0);
      assert_int_equal(cold_batch(r, chk, g - 1, 0), 0);
      for (int i = 0; i < 7; i++) {
        assert_true(cold_batch(r, chk, g++, 1) >= 1);
        assert_int_equal(atomic_load(&ctr.cold_batches), 1);
      }
      assert_int_equal(cold_batch(r, chk, g++, 1), 0); /* probed again: cold */
      assert_int_equal(atomic_load(&ctr.cold_batches), 2);
      sst_close(r);
      munmap((void *)chk, (size_t)fsz);
      close(fd);
      fio_env_free(env);
    }
  model_free(&m);
}

/* Step a positioned iterator (rc: the positioning's status) to its end or first error:
** the final status, *rows = the rows it was valid on. */
static int scan_rows(it_iter *it, int rc, int *rows) {
  *rows = 0;
  while (!rc && it_valid(it)) {
    (*rows)++;
    rc = it_next(it);
  }
  return rc ? rc : it_status(it);
}

/* A table file truncated (as by another process) while its reader has it mapped: gets,
** sst_get_value, multiget and an iterator's seek into the lost part return LSM_IOERR_READ
** naming the file (mapguard: the SIGBUS of the guarded copy, checksum or decode becomes an
** error code), again and again in this thread, as does a scan running into it (read-ahead
** windows are views of the mapping: each block verified and decoded from it under the guard),
** a hinted scan forward into it, a hinted backward seek landing in the block cut by the new
** end, and a get of that block (its first bytes readable, the rest lost: the fault comes in
** the middle of the checksum of the mapped bytes); what lies before the new end still reads.
** Raw blocks (copied out), zstd and lz4 ones (verified and decoded from the mapping), both
** backends, without a cache and with one (blocks admitted on their second miss: made from the
** mapping into a cache entry, which must not be inserted when the decode faults). */
static void test_mmap_truncated(void **state) {
  (void)state;
  mg_test_own();
  model m;
  const int nkeys = 3000;
  model_make(&m, nkeys, 0);
  for (int b = 0; b < NBACKENDS; b++) {
    fio_env *env = env_for(backends[b]);
    for (int cc = 0; cc < 6; cc++) {
      int comp = cc % 3, withc = cc / 3;
      sst_options o = {.block_size = 2048, .compression = comp, .bloom_bits = 10};
      build(env, "tr.sst", &m, &o, NULL);
      cache *c = NULL;
      if (withc) assert_int_equal(cache_new(1 << 20, &c), LSM_OK);
      sst_read_options ro = {.mmap = 1, .cache = c};
      sst_reader *r;
      assert_int_equal(sst_open(env, "tr.sst", 1, &ro, &r), LSM_OK);
      if (sizeof(void *) < 8) {
        sst_close(r);
        cache_free(c);
        continue;
      }
      assert_int_equal(sst_reader_mapped(r), 1);
      assert_true(sst_reader_props(r)->data_bytes > 64 * 1024);
      assert_int_equal(truncate("tr.sst", 8192), 0);
      uint8_t lk[32], mk[32], fk0[32];
      char uk[16];
      int un = sprintf(uk, "key%08d", 3 * (nkeys - 1)); /* in the last block */
      size_t lkn = ikey_seek_key(lk, (uint8_t *)uk, (size_t)un, UINT64_MAX >> 8);
      un = sprintf(uk, "key%08d", 3 * (nkeys / 2));
      size_t mkn = ikey_seek_key(mk, (uint8_t *)uk, (size_t)un, UINT64_MAX >> 8);
      un = sprintf(uk, "key%08d", 3); /* in the first block: before the new end */
      size_t fkn = ikey_seek_key(fk0, (uint8_t *)uk, (size_t)un, UINT64_MAX >> 8);
      cd_buf fk = {0}, fv = {0};
      /* the first key of the block cut by the new end (8192 falls inside its stored bytes) */
      int cut = -1;
      uint8_t ck[32];
      size_t ckn = 0;
      for (int i = 0; i < nkeys && cut < 0; i++) {
        un = sprintf(uk, "key%08d", 3 * i);
        ckn = ikey_seek_key(ck, (uint8_t *)uk, (size_t)un, UINT64_MAX >> 8);
        sst_bhandle h;
        assert_int_equal(sst_locate(r, ck, ckn, &h), LSM_OK);
        if (h.off + h.size + BLK_TRAILER > 8192) {
          if (h.off < 8192) cut = i;
          else break;
        }
      }
      un = sprintf(uk, "key%08d", 3); /* (uk again: the first block's key) */
      for (int rep = 0; rep < 3; rep++) {
        if (cut >= 0) { /* twice: with a cache, the second miss is admitted (cache entry) */
          for (int k = 0; k < 2; k++) {
            assert_int_equal(sst_get(r, ck, ckn, &fk, &fv), LSM_IOERR_READ);
            assert_non_null(strstr(st_errmsg(), "under the mapping"));
            sst_fetch q[2] = {{.r = r}, {.r = r}}; /* the cut block and one before the end */
            assert_int_equal(sst_locate(r, ck, ckn, &q[0].h), LSM_OK);
            assert_int_equal(sst_locate(r, fk0, fkn, &q[1].h), LSM_OK);
            static fetch_log l;
            assert_int_equal(fetch2_logged(q, ck, ckn, fk0, fkn, &l), LSM_IOERR_READ);
            assert_int_equal(q[0].rc, LSM_IOERR_READ);
            assert_int_equal(q[1].rc, LSM_OK);
            assert_int_equal(l.vrc[1], LSM_OK);
            fetch_log_free(&l);
          }
          /* a backward hinted seek landing in it: the window ends with that block */
          it_iter *bt;
          uint64_t bh = 40 | SST_HINT_BACKWARD;
          assert_int_equal(sst_iter_new(r, 0, &bt), LSM_OK);
          sst_iter_hint(bt, &bh, 1.0);
          assert_int_equal(it_seek(bt, ck, ckn), LSM_IOERR_READ);
          assert_false(it_valid(bt));
          it_free(bt);
        }
        /* a hinted scan from the first block on: its window (a view of the mapping, up to
        ** 32 KiB) reaches past the new end; the blocks before it read, then the error */
        {
          it_iter *ht;
          uint64_t hn = 1000;
          assert_int_equal(sst_iter_new(r, 0, &ht), LSM_OK);
          sst_iter_hint(ht, &hn, 1.0);
          int rows, rc = scan_rows(ht, it_seek(ht, fk0, fkn), &rows);
          if (rc != LSM_IOERR_READ) fail_msg("hinted scan: rc %d after %d rows (%s)", rc, rows, st_errmsg());
          assert_true(rows > 0);
          it_free(ht);
        }
        assert_int_equal(sst_get(r, lk, lkn, &fk, &fv), LSM_IOERR_READ);
        assert_non_null(strstr(st_errmsg(), "tr.sst"));
        assert_non_null(strstr(st_errmsg(), "under the mapping"));
        int type;
        assert_int_equal(sst_get_value(r, mk, mkn, &type, &fv), LSM_IOERR_READ);
        sst_fetch q[2] = {{.r = r}, {.r = r}};
        assert_int_equal(sst_locate(r, lk, lkn, &q[0].h), LSM_OK);
        assert_int_equal(sst_locate(r, mk, mkn, &q[1].h), LSM_OK);
        static fetch_log l;
        assert_int_equal(fetch2_logged(q, lk, lkn, mk, mkn, &l), LSM_IOERR_READ);
        assert_int_equal(q[0].rc, LSM_IOERR_READ);
        assert_int_equal(q[1].rc, LSM_IOERR_READ);
        fetch_log_free(&l);
        it_iter *it;
        assert_int_equal(sst_iter_new(r, 0, &it), LSM_OK);
        assert_int_equal(it_seek(it, mk, mkn), LSM_IOERR_READ);
        assert_false(it_valid(it));
        assert_int_equal(it_status(it), LSM_IOERR_READ);
        it_free(it);
        /* a scan from the first block (before the new end) on into the lost part: its
        ** read-ahead windows are read from the mapping under the guard too, so the error is
        ** the same */
        assert_int_equal(sst_iter_new(r, 0, &it), LSM_OK);
        int rows, rc = scan_rows(it, it_seek_first(it), &rows);
        if (rc != LSM_IOERR_READ) fail_msg("scan: rc %d after %d rows (%s)", rc, rows, st_errmsg());
        assert_true(rows > 0);
        it_free(it);
        /* the bytes before the new end are still there */
        assert_int_equal(sst_get(r, fk0, fkn, &fk, &fv), LSM_OK);
        assert_int_equal(fk.n, fkn);
        assert_memory_equal(fk.p, uk, (size_t)un);
      }
      cd_buf_free(&fk);
      cd_buf_free(&fv);
      sst_close(r);
      cache_free(c);
    }
    fio_env_free(env);
  }
  model_free(&m);
}

static void host_bus_handler(int sig) { (void)sig; }

/* A host that installed its own SIGBUS handler after the engine's: the next table opens
** unmapped (pread, no error) and reads the same; with the engine's handler back it maps again. */
static void test_mmap_replaced_handler(void **state) {
  (void)state;
  mg_test_own();
  model m;
  model_make(&m, 2000, 0);
  fio_env *env = env_for(FIO_SYNC);
  sst_options o = {.block_size = 2048, .compression = 2, .bloom_bits = 10};
  build(env, "rh.sst", &m, &o, NULL);
  struct sigaction sa, saved;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = host_bus_handler;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGBUS, &sa, &saved), 0);
  sst_read_options ro = {.mmap = 1};
  sst_reader *r;
  assert_int_equal(sst_open(env, "rh.sst", 1, &ro, &r), LSM_OK);
  assert_int_equal(sst_reader_mapped(r), 0);
  check_gets(r, &m, 2000);
  sst_close(r);
  assert_int_equal(sigaction(SIGBUS, &saved, NULL), 0);
  assert_int_equal(sst_open(env, "rh.sst", 2, &ro, &r), LSM_OK);
  assert_int_equal(sst_reader_mapped(r), sizeof(void *) >= 8 ? 1 : 0);
  check_gets(r, &m, 2000);
  sst_close(r);
  fio_env_free(env);
  model_free(&m);
}

static void test_empty_and_misuse(void **state) {
  (void)state;
  fio_env *env = env_for(FIO_SYNC);
  model m = {0};
  sst_options o = {.bloom_bits = 10, .compression = 1};
  build(env, "e.sst", &m, &o, NULL);
  sst_reader *r;
  assert_int_equal(sst_open(env, "e.sst", 1, NULL, &r), LSM_OK);
  assert_int_equal(sst_reader_props(r)->entries, 0);
  it_iter *it;
  assert_int_equal(sst_iter_new(r, 0, &it), LSM_OK);
  assert_int_equal(it_seek_first(it), LSM_OK);
  assert_false(it_valid(it));
  assert_int_equal(it_seek_last(it), LSM_OK);
  assert_false(it_valid(it));
  uint8_t k[32];
  size_t kn = ikey_seek_key(k, (const uint8_t *)"a", 1, 5);
  assert_int_equal(it_seek(it, k, kn), LSM_OK);
  assert_false(it_valid(it));
  it_free(it);
  cd_buf fk = {0}, fv = {0};
  assert_int_equal(sst_get(r, k, kn, &fk, &fv), LSM_NOTFOUND);
  char *rep;
  assert_int_equal(sst_verify(r, &rep), LSM_OK);
  mm_free(rep);
  sst_close(r);
  /* out-of-order and invalid keys are refused */
  fio_file *f;
  fio_delete(env, "x.sst");
  assert_int_equal(fio_create(env, "x.sst", FIO_WRONLY, &f), LSM_OK);
  sst_builder *b;
  assert_int_equal(sst_builder_new(f, NULL, &b), LSM_OK);
  uint8_t k2[32];
  size_t kn2 = ikey_encode(k2, (const uint8_t *)"b", 1, 5, IKEY_VAL);
  assert_int_equal(sst_builder_add(b, k2, kn2, NULL, 0), LSM_OK);
  assert_int_equal(sst_builder_add(b, k, kn, NULL, 0), LSM_MISUSE); /* "a" < "b" */
  assert_int_equal(sst_builder_add(b, k2, kn2, NULL, 0), LSM_MISUSE); /* equal */
  assert_int_equal(sst_builder_add(b, k2, 3, NULL, 0), LSM_MISUSE);   /* too short */
  sst_builder_free(b);
  fio_close(f);
  /* not a table */
  assert_int_equal(sst_open(env, "x.sst", 1, NULL, &r), LSM_CORRUPT);
  assert_int_equal(sst_open(env, "missing.sst", 1, NULL, &r), LSM_CANTOPEN);
  cd_buf_free(&fk);
  cd_buf_free(&fv);
  fio_env_free(env);
}

/* ---- corruption ---- */

typedef struct region {
  uint64_t off, len; /* stored block incl. trailer, or the footer */
  const char *what;
} region;

/* Find every block of the (intact) table: data blocks from the index, metadata from the
** footer. */
static int regions_of(const uint8_t *file, size_t n, region *out, int max) {
  const uint8_t *ft = file + n - SST_FOOTER;
  uint64_t io = cd_get_fixed64(ft), is = cd_get_fixed64(ft + 8);
  uint64_t fo = cd_get_fixed64(ft + 16), fs = cd_get_fixed64(ft + 24);
  uint64_t po = cd_get_fixed64(ft + 32), ps = cd_get_fixed64(ft + 40);
  int k = 0;
  out[k++] = (region){n - SST_FOOTER, SST_FOOTER, "footer"};
  out[k++] = (region){io, is + BLK_TRAILER, "index"};
  out[k++] = (region){po, ps + BLK_TRAILER, "properties"};
  if (fs) out[k++] = (region){fo, fs + BLK_TRAILER, "filter"};
  blk_block ib;
  assert_int_equal(blk_parse(file + io, (size_t)is, &ib), LSM_OK);
  blk_iter it;
  blk_iter_init(&it, &ib, ikey_cmp, 8);
  for (it_seek_first(&it.base); it_valid(&it.base) && k < max; it_next(&it.base)) {
    const uint8_t *v;
    size_t vn;
    it_value(&it.base, &v, &vn);
    uint64_t off, sz;
    const uint8_t *p = cd_get_varint64(v, v + vn, &off);
    cd_get_varint64(p, v + vn, &sz);
    out[k++] = (region){off, sz + BLK_TRAILER, "data"};
  }
  blk_iter_fini(&it);
  return k;
}

/* Open + full scans + every get + verify on the corrupted file. Returns 1 if any reported
** LSM_CORRUPT; fails the test if wrong data comes back or another error appears. */
static int probe(fio_env *env, const model *m, int nkeys, cache *c, uint64_t fileno, int mapped) {
  sst_read_options ro = {.cache = c, .mmap = mapped};
  sst_reader *r;
  int rc = sst_open(env, "c.sst", fileno, &ro, &r);
  if (rc == LSM_CORRUPT) {
    assert_non_null(strstr(st_errmsg(), "c.sst"));
    return 1;
  }
  assert_int_equal(rc, LSM_OK);
  int corrupt = 0;
  for (int ra = 0; ra < 2; ra++) {
    it_iter *it;
    assert_int_equal(sst_iter_new(r, ra ? 8192 : 0, &it), LSM_OK);
    size_t i = 0;
    for (rc = it_seek_first(it); !rc && it_valid(it); rc = it_next(it)) {
      assert_true(i < m->n);
      check_entry(it, &m->e[i++]); /* never wrong data */
    }
    if (rc == LSM_CORRUPT) corrupt = 1;
    else assert_int_equal(i, m->n);
    assert_int_equal(rc, it_status(it));
    size_t j = m->n;
    for (rc = it_seek_last(it); !rc && it_valid(it); rc = it_prev(it)) check_entry(it, &m->e[--j]);
    if (rc == LSM_CORRUPT) corrupt = 1;
    /* next_kv: the same entries, and a stop before the end only with LSM_CORRUPT */
    i = 0;
    if ((rc = it_seek_first(it)) == LSM_OK && it_valid(it)) {
      check_entry(it, &m->e[i++]);
      it_kv buf;
      const it_kv *e;
      while ((e = it_next_kv(it, &buf))) {
        assert_true(i < m->n);
        check_kv(e, &m->e[i]);
        check_entry(it, &m->e[i++]);
      }
      rc = it_status(it);
    }
    if (rc == LSM_CORRUPT) corrupt = 1;
    else assert_int_equal(i, m->n);
    it_free(it);
  }
  /* hinted seeks (sst_iter_hint): a damaged block inside a hinted window is LSM_CORRUPT too */
  {
    uint64_t hint = 40;
    it_iter *it;
    assert_int_equal(sst_iter_new(r, 0, &it), LSM_OK);
    sst_iter_hint(it, &hint, 1.0);
    for (size_t s = 0; s < m->n; s += 29) {
      size_t i = s;
      for (rc = it_seek(it, m->e[s].k, m->e[s].kn); !rc && it_valid(it) && i < s + 30; rc = it_next(it))
        check_entry(it, &m->e[i++]); /* never wrong data */
      if (rc == LSM_CORRUPT) corrupt = 1;
      else assert_int_equal(rc, LSM_OK);
      if (rc) break; /* the error is sticky */
    }
    it_free(it);
  }
  cd_buf fk = {0}, fv = {0};
  for (int i = 0; i < 3 * nkeys; i += 3) {
    uint8_t k[32];
    char uk[16];
    int un = sprintf(uk, "key%08d", i);
    size_t kn = ikey_seek_key(k, (uint8_t *)uk, (size_t)un, IKEY_MAX_SEQ);
    rc = sst_get(r, k, kn, &fk, &fv);
    const ent *want = model_get(m, k, kn);
    {
      /* the point-read form reads the same bytes: the same verdict, never wrong data */
      cd_buf gv = {0};
      int type = -1, rc2 = sst_get_value(r, k, kn, &type, &gv);
      assert_int_equal(rc2, rc);
      if (!rc2 && type == IKEY_VAL) {
        assert_int_equal(gv.n, fv.n);
        if (gv.n) assert_memory_equal(gv.p, fv.p, gv.n);
      }
      cd_buf_free(&gv);
    }
    if (rc == LSM_CORRUPT) {
      corrupt = 1;
      continue;
    }
    if (rc == LSM_NOTFOUND) {
      /* a damaged filter may only say "absent" if it is detected elsewhere; count it */
      if (want) corrupt |= 2;
      continue;
    }
    assert_int_equal(rc, LSM_OK);
    assert_non_null(want);
    assert_int_equal(fv.n, want->vn);
    if (fv.n) assert_memory_equal(fv.p, want->v, fv.n);
  }
  cd_buf_free(&fk);
  cd_buf_free(&fv);
  char *rep = NULL;
  rc = sst_verify(r, &rep);
  if (rc == LSM_CORRUPT) {
    corrupt = 1;
    assert_non_null(strstr(rep, "c.sst"));
  } else {
    assert_int_equal(rc, LSM_OK);
  }
  mm_free(rep);
  sst_close(r);
  cache_erase_file(c, fileno);
  if (corrupt & 2) fail_msg("a present key was reported absent and nothing flagged corruption");
  return corrupt;
}

static void test_corruption(void **state) {
  (void)state;
  mg_test_own(); /* the mapped cases map (mg_util.h) */
  const int nkeys = 600;
  model m;
  model_make(&m, nkeys, 0);
  for (int b = 0; b < NBACKENDS; b++) {
    fio_env *env = env_for(backends[b]);
    for (int comp = 0; comp < 3; comp++) { /* none, zstd, lz4 */
      sst_options o = {.block_size = 1024, .compression = comp, .bloom_bits = 10};
      build(env, "c.sst", &m, &o, NULL);
      fio_file *f;
      assert_int_equal(fio_open(env, "c.sst", FIO_RDWR, &f), LSM_OK);
      uint64_t n;
      assert_int_equal(fio_size(f, &n), LSM_OK);
      uint8_t *file = malloc(n);
      size_t got;
      assert_int_equal(fio_read_at(f, 0, file, n, &got), LSM_OK);
      assert_int_equal(got, n);
      region reg[512];
      int nr = regions_of(file, (size_t)n, reg, 512);
      assert_true(nr > 10);
      cache *c;
      assert_int_equal(cache_new(1 << 20, &c), LSM_OK);
      uint64_t fileno = 100;
      int flips = 0;
      for (int i = 0; i < nr; i++) {
        /* first byte, a middle byte, last content byte, the type byte, a checksum byte */
        uint64_t pos[5] = {0, reg[i].len / 2, reg[i].len - 6, reg[i].len - 5, reg[i].len - 1};
        for (int p = 0; p < 5; p++) {
          uint64_t at = reg[i].off + pos[p];
          uint8_t orig = file[at], bad = (uint8_t)(orig ^ (1u << (p + i) % 8));
          assert_int_equal(fio_write_at(f, at, &bad, 1), LSM_OK);
          int rc = probe(env, &m, nkeys, c, fileno++, 0);
          if (!rc || !probe(env, &m, nkeys, c, fileno++, 1))
            fail_msg("backend %d comp %d: flip of byte %llu of %s block at %llu not detected", b, comp,
                     (unsigned long long)pos[p], reg[i].what, (unsigned long long)reg[i].off);
          assert_int_equal(fio_write_at(f, at, &orig, 1), LSM_OK);
          flips++;
        }
      }
      /* Random single-byte damage anywhere: every byte of a table is covered by a checksum
      ** (blocks and footer have no padding), so each one must be reported. */
      unsigned seed = 2024u + (unsigned)(b * 3 + comp);
      int nrand = getenv("LSMVTAB_LONG") ? 2000 : 150;
      for (int t = 0; t < nrand; t++) {
        uint64_t at = (uint64_t)rand_r(&seed) % n;
        uint8_t orig = file[at], bad = (uint8_t)(orig ^ (1 + rand_r(&seed) % 255));
        assert_int_equal(fio_write_at(f, at, &bad, 1), LSM_OK);
        if (!probe(env, &m, nkeys, c, fileno++, t % 2))
          fail_msg("seed %u trial %d: damage at byte %llu not detected", 2024u + (unsigned)(b * 3 + comp), t,
                   (unsigned long long)at);
        assert_int_equal(fio_write_at(f, at, &orig, 1), LSM_OK);
      }
      /* and intact again */
      assert_int_equal(probe(env, &m, nkeys, c, fileno++, 0), 0);
      assert_int_equal(probe(env, &m, nkeys, c, fileno++, 1), 0);
      /* truncated files */
      for (uint64_t cut = 0; cut < n; cut += n / 7 + 1) {
        assert_int_equal(fio_truncate(f, cut), LSM_OK);
        int rc = probe(env, &m, nkeys, c, fileno++, 0);
        assert_int_equal(rc, 1);
        assert_int_equal(probe(env, &m, nkeys, c, fileno++, 1), 1);
        assert_int_equal(fio_write_at(f, 0, file, (size_t)n), LSM_OK);
      }
      print_message("backend %s comp %d: %d blocks, %d flips detected\n", fio_env_name(env), comp,
                    nr, flips);
      cache_free(c);
      free(file);
      fio_close(f);
    }
    fio_env_free(env);
  }
  model_free(&m);
}

/* Point reads and the block cache's admission (cache_lookup_admit): a block read once by
** sst_get / sst_get_value is decoded on the lookup's stack (or, too large for it, into an
** allocation) and not cached; read again, it is cached; a third read is a hit. zstd and raw
** tables (the raw read-in-place path), blocks below and above the stack buffer, both backends;
** the answers are always the model's. A damaged data block is LSM_CORRUPT on every read and
** never cached. */
static void get_check(sst_reader *r, const model *m, const uint8_t *k, size_t kn, int value_form) {
  const ent *want = model_get(m, k, kn);
  assert_non_null(want);
  if (value_form) {
    cd_buf v = {0};
    int type = -1;
    assert_int_equal(sst_get_value(r, k, kn, &type, &v), LSM_OK);
    assert_int_equal(type, ikey_type(want->k, want->kn));
    if (type == IKEY_VAL) {
      assert_int_equal(v.n, want->vn);
      if (v.n) assert_memory_equal(v.p, want->v, v.n);
    }
    cd_buf_free(&v);
    return;
  }
  cd_buf fk = {0}, fv = {0};
  assert_int_equal(sst_get(r, k, kn, &fk, &fv), LSM_OK);
  expect_entry(&fk, &fv, want);
  cd_buf_free(&fk);
  cd_buf_free(&fv);
}

static void test_get_admission(void **state) {
  (void)state;
  mg_test_own(); /* the mapped cases map (mg_util.h) */
  model m;
  model_make(&m, 3000, 1); /* key i%500==1 holds a 100000-byte value: a block > the stack buffer */
  const int idx[] = {1, 100, 250, 501, 777, 1001, 1400, 1501, 2100, 2501, 2990};
  const int nidx = (int)(sizeof idx / sizeof idx[0]);
  uint64_t fileno = 1;
  for (int b = 0; b < NBACKENDS; b++) {
    fio_env *env = env_for(backends[b]);
    for (int comp = 0; comp < 2 * 2; comp++) {
      /* comp 2, 3: the same from a mapping (sst.c get_block_point: the table's last point
      ** read missed or hit the cache decides when the block is prefetched; every transition
      ** is taken below: miss after hit, miss after miss, hit after miss) */
      int mapped = comp / 2;
      sst_options o = {.block_size = 2048, .compression = comp % 2, .bloom_bits = 10};
      build(env, "adm.sst", &m, &o, NULL);
      cache *c;
      assert_int_equal(cache_new(8 << 20, &c), LSM_OK);
      sst_counters ctr = {0};
      sst_read_options ro = {.cache = c, .counters = &ctr, .mmap = mapped};
      sst_reader *r;
      assert_int_equal(sst_open(env, "adm.sst", fileno++, &ro, &r), LSM_OK);
      assert_int_equal(sst_reader_mapped(r), mapped && sizeof(void *) >= 8);
      for (int t = 0; t < nidx; t++) {
        uint8_t k[32];
        char uk[16];
        int un = sprintf(uk, "key%08d", 3 * idx[t]);
        size_t kn = ikey_seek_key(k, (uint8_t *)uk, (size_t)un, IKEY_MAX_SEQ);
        cache_stats s0, s1;
        cache_get_stats(c, &s0);
        uint64_t br = ctr.blocks_read;
        get_check(r, &m, k, kn, t % 2); /* first read: not admitted */
        cache_get_stats(c, &s1);
        assert_int_equal(ctr.blocks_read, br + 1);
        assert_int_equal(s1.entries, s0.entries);
        assert_int_equal(s1.usage, s0.usage);
        get_check(r, &m, k, kn, !(t % 2)); /* second: read again and cached */
        cache_get_stats(c, &s1);
        assert_int_equal(ctr.blocks_read, br + 2);
        assert_int_equal(s1.entries, s0.entries + 1);
        get_check(r, &m, k, kn, t % 2); /* third: a hit */
        cache_get_stats(c, &s1);
        assert_int_equal(ctr.blocks_read, br + 2);
        assert_int_equal(s1.hits, s0.hits + 1);
      }
      /* every key, twice over: the model's answers whether a block came from the stack, an
      ** allocation or the cache */
      check_gets(r, &m, 3000);
      check_get_values(r, &m, 3000);
      sst_close(r);
      cache_erase_file(c, fileno - 1);
      /* a damaged data block: LSM_CORRUPT on the uncached and the admitted read, never cached */
      assert_int_equal(sst_open(env, "adm.sst", fileno++, &ro, &r), LSM_OK);
      uint8_t k[32];
      size_t kn = ikey_seek_key(k, (const uint8_t *)"key00000300", 11, IKEY_MAX_SEQ);
      sst_bhandle h;
      assert_int_equal(sst_locate(r, k, kn, &h), LSM_OK);
      sst_close(r);
      fio_file *f;
      assert_int_equal(fio_open(env, "adm.sst", FIO_RDWR, &f), LSM_OK);
      uint8_t byte;
      size_t got;
      assert_int_equal(fio_read_at(f, h.off + h.size / 2, &byte, 1, &got), LSM_OK);
      byte ^= 0x10;
      assert_int_equal(fio_write_at(f, h.off + h.size / 2, &byte, 1), LSM_OK);
      assert_int_equal(fio_close(f), LSM_OK);
      assert_int_equal(sst_open(env, "adm.sst", fileno++, &ro, &r), LSM_OK);
      cache_stats s0, s1;
      cache_get_stats(c, &s0);
      cd_buf fk = {0}, fv = {0}, v = {0};
      int type;
      for (int i = 0; i < 4; i++) {
        int rc = i % 2 ? sst_get_value(r, k, kn, &type, &v) : sst_get(r, k, kn, &fk, &fv);
        assert_int_equal(rc, LSM_CORRUPT);
        assert_non_null(strstr(st_errmsg(), "adm.sst"));
      }
      cache_get_stats(c, &s1);
      assert_int_equal(s1.entries, s0.entries);
      cd_buf_free(&fk);
      cd_buf_free(&fv);
      cd_buf_free(&v);
      sst_close(r);
      cache_erase_file(c, fileno - 1);
      cache_get_stats(c, &s1);
      assert_int_equal(s1.entries, 0);
      cache_free(c);
    }
    fio_delete(env, "adm.sst");
    fio_env_free(env);
  }
  model_free(&m);
}

/* Read errors surface as IO errors, never as data. */
static void test_io_faults(void **state) {
  (void)state;
  model m;
  model_make(&m, 2000, 0);
  fio_env *inner = env_for(FIO_SYNC), *env;
  assert_int_equal(fio_env_fault(inner, &env), LSM_OK);
  sst_options o = {.block_size = 1024, .compression = 1, .bloom_bits = 10};
  build(env, "f.sst", &m, &o, NULL);
  sst_reader *r;
  /* open: footer read fails, then metadata read fails */
  for (long nth = 1; nth <= 2; nth++) {
    fio_fault_set(env, FIO_OP_READ, nth, FIO_FAULT_ONCE);
    int rc = sst_open(env, "f.sst", 1, NULL, &r);
    assert_int_equal(LSM_PRIMARY(rc), LSM_IOERR);
  }
  fio_fault_clear(env);
  assert_int_equal(sst_open(env, "f.sst", 1, NULL, &r), LSM_OK);
  fio_fault_set(env, FIO_OP_READ, 3, FIO_FAULT_ONCE);
  it_iter *it;
  assert_int_equal(sst_iter_new(r, 0, &it), LSM_OK);
  size_t i = 0;
  int rc;
  for (rc = it_seek_first(it); !rc && it_valid(it); rc = it_next(it)) check_entry(it, &m.e[i++]);
  assert_int_equal(LSM_PRIMARY(rc), LSM_IOERR);
  assert_false(it_valid(it));
  assert_int_equal(it_next(it), rc); /* sticky */
  it_free(it);
  /* a batch with one failing read */
  uint8_t k[32];
  size_t kn = ikey_seek_key(k, (const uint8_t *)"key00000000", 11, IKEY_MAX_SEQ);
  sst_fetch req[2] = {{.r = r}, {.r = r}};
  assert_int_equal(sst_locate(r, k, kn, &req[0].h), LSM_OK);
  kn = ikey_seek_key(k, (const uint8_t *)"key00004998", 11, IKEY_MAX_SEQ);
  assert_int_equal(sst_locate(r, k, kn, &req[1].h), LSM_OK);
  assert_true(req[0].h.off != req[1].h.off);
  fio_fault_set(env, FIO_OP_READ, 1, FIO_FAULT_ONCE);
  static fetch_log l; /* (only the successful request's answer is looked at: found or not) */
  rc = fetch2_logged(req, k, kn, k, kn, &l);
  assert_int_equal(LSM_PRIMARY(rc), LSM_IOERR);
  assert_true((req[0].rc == LSM_OK) != (req[1].rc == LSM_OK));
  int ok = req[0].rc == LSM_OK ? 0 : 1;
  assert_int_equal(LSM_PRIMARY(l.vrc[1 - ok]), LSM_IOERR);
  assert_true(l.vrc[ok] == LSM_OK || l.vrc[ok] == LSM_NOTFOUND);
  fetch_log_free(&l);
  fio_fault_clear(env);
  sst_close(r);
  /* the builder: a failed append or sync is returned and sticky */
  for (int kind = 0; kind < 2; kind++) {
    fio_file *f;
    fio_delete(env, "w.sst");
    assert_int_equal(fio_create(env, "w.sst", FIO_WRONLY, &f), LSM_OK);
    sst_builder *b;
    assert_int_equal(sst_builder_new(f, &o, &b), LSM_OK);
    fio_fault_set(env, kind ? FIO_OP_SYNC : FIO_OP_WRITE, 1, FIO_FAULT_ONCE);
    rc = LSM_OK;
    for (size_t j = 0; j < m.n && !rc; j++) rc = sst_builder_add(b, m.e[j].k, m.e[j].kn, m.e[j].v, m.e[j].vn);
    if (!rc) rc = sst_builder_finish(b, NULL);
    assert_int_equal(LSM_PRIMARY(rc), LSM_IOERR);
    assert_int_equal(sst_builder_finish(b, NULL), rc);
    fio_fault_clear(env);
    sst_builder_free(b);
    fio_close(f);
  }
  fio_env_free(env);
  fio_env_free(inner);
  model_free(&m);
}

/* The builder appends whole SST_APPEND_CHUNKs at multiples of it, the rest once at the end
** (sst.h: why). Counted through the fault env: the number of writes of a finished table, and the
** file a build failing at its third write leaves behind (exactly two chunks). */
static void test_aligned_appends(void **state) {
  (void)state;
  model m;
  model_make(&m, 30000, 1); /* ~5 MiB of entries (60 values of 100000 bytes) */
  fio_env *inner = env_for(FIO_SYNC), *env;
  assert_int_equal(fio_env_fault(inner, &env), LSM_OK);
  sst_options o = {.block_size = 4096, .compression = 0, .bloom_bits = 10};
  long w0 = fio_fault_count(env, FIO_OP_WRITE);
  sst_props p;
  build(env, "a.sst", &m, &o, &p);
  long writes = fio_fault_count(env, FIO_OP_WRITE) - w0;
  assert_true(p.file_size > 2 * (uint64_t)SST_APPEND_CHUNK);
  assert_int_equal(writes, (long)((p.file_size + SST_APPEND_CHUNK - 1) / SST_APPEND_CHUNK));
  /* the third write fails: what reached the file is the first two, whole and aligned */
  fio_file *f;
  fio_delete(env, "b.sst");
  assert_int_equal(fio_create(env, "b.sst", FIO_WRONLY, &f), LSM_OK);
  sst_builder *b;
  assert_int_equal(sst_builder_new(f, &o, &b), LSM_OK);
  fio_fault_set(env, FIO_OP_WRITE, 3, FIO_FAULT_FROM);
  int rc = LSM_OK;
  for (size_t j = 0; j < m.n && !rc; j++) rc = sst_builder_add(b, m.e[j].k, m.e[j].kn, m.e[j].v, m.e[j].vn);
  if (!rc) rc = sst_builder_finish(b, NULL);
  assert_int_equal(LSM_PRIMARY(rc), LSM_IOERR);
  fio_fault_clear(env);
  uint64_t size;
  assert_int_equal(fio_size(f, &size), LSM_OK);
  assert_int_equal(size, 2 * (uint64_t)SST_APPEND_CHUNK);
  sst_builder_free(b);
  fio_close(f);
  /* a block larger than two chunks: both whole chunks go out in one write, still aligned */
  size_t bigv = 5u << 20;
  uint8_t *big = malloc(bigv);
  assert_non_null(big);
  for (size_t x = 0; x < bigv; x++) big[x] = (uint8_t)(x * 7 + x / 4096);
  uint8_t k1[32], k2[32];
  size_t k1n = ikey_encode(k1, (const uint8_t *)"big", 3, 2, IKEY_VAL);
  size_t k2n = ikey_encode(k2, (const uint8_t *)"small", 5, 1, IKEY_VAL);
  fio_delete(env, "c.sst");
  assert_int_equal(fio_create(env, "c.sst", FIO_WRONLY, &f), LSM_OK);
  assert_int_equal(sst_builder_new(f, &o, &b), LSM_OK);
  w0 = fio_fault_count(env, FIO_OP_WRITE);
  assert_int_equal(sst_builder_add(b, k1, k1n, big, bigv), LSM_OK);
  assert_int_equal(sst_builder_add(b, k2, k2n, (const uint8_t *)"v", 1), LSM_OK);
  fio_fault_set(env, FIO_OP_WRITE, 1, FIO_FAULT_FROM); /* the next (final) write fails */
  assert_int_equal(LSM_PRIMARY(sst_builder_finish(b, NULL)), LSM_IOERR);
  fio_fault_clear(env);
  assert_int_equal(fio_fault_count(env, FIO_OP_WRITE) - w0, 2);
  assert_int_equal(fio_size(f, &size), LSM_OK);
  assert_int_equal(size, 2 * (uint64_t)SST_APPEND_CHUNK);
  sst_builder_free(b);
  fio_close(f);
  free(big);
  /* the finished table reads back whole */
  sst_reader *r;
  assert_int_equal(sst_open(env, "a.sst", 1, NULL, &r), LSM_OK);
  it_iter *it;
  assert_int_equal(sst_iter_new(r, 0, &it), LSM_OK);
  size_t i = 0;
  for (rc = it_seek_first(it); !rc && it_valid(it); rc = it_next(it)) check_entry(it, &m.e[i++]);
  assert_int_equal(rc, LSM_OK);
  assert_int_equal(i, m.n);
  it_free(it);
  sst_close(r);
  fio_env_free(env);
  fio_env_free(inner);
  model_free(&m);
}

/* Out-of-memory anywhere in build/open/get/iterate is LSM_NOMEM, never a crash or a leak. */
static void test_nomem(void **state) {
  (void)state;
  model m;
  model_make(&m, 300, 0);
  fio_env *env = env_for(FIO_SYNC);
  sst_options o = {.block_size = 512, .compression = 1, .bloom_bits = 10};
  build(env, "n.sst", &m, &o, NULL);
  cache *c;
  assert_int_equal(cache_new(1 << 20, &c), LSM_OK);
  int ok = 0;
  for (long k = 0; k < 400 && !ok; k += 3) {
    sst_read_options ro = {.cache = c};
    sst_reader *r = NULL;
    it_iter *it = NULL;
    cd_buf fk = {0}, fv = {0};
    mm_fail_after(k);
    int rc = sst_open(env, "n.sst", 1, &ro, &r);
    if (!rc) rc = sst_iter_new(r, 0, &it);
    if (!rc) {
      size_t i = 0;
      for (rc = it_seek_first(it); !rc && it_valid(it); rc = it_next(it)) i++;
      if (!rc && i != m.n) rc = -1;
    }
    if (!rc) rc = sst_get(r, m.e[5].k, m.e[5].kn, &fk, &fv);
    mm_fail_after(-1);
    if (rc != LSM_OK && rc != LSM_NOMEM) fail_msg("k=%ld: rc %d (%s)", k, rc, st_errmsg());
    ok = rc == LSM_OK;
    it_free(it);
    sst_close(r);
    cd_buf_free(&fk);
    cd_buf_free(&fv);
    cache_erase_file(c, 1);
  }
  assert_true(ok);
  cache_free(c);
  fio_env_free(env);
  model_free(&m);
}

/* Many threads share one reader and a small cache (constant eviction): every answer right. */
typedef struct thr_arg {
  sst_reader *r;
  const model *m;
  unsigned seed;
  int err;
} thr_arg;

static void *thr_main(void *p) {
  thr_arg *a = p;
  cd_buf fk = {0}, fv = {0};
  for (int round = 0; round < 4 && !a->err; round++) {
    it_iter *it;
    if (sst_iter_new(a->r, round % 2 ? 16384 : 0, &it)) {
      a->err = 1;
      break;
    }
    size_t i = 0;
    int rc;
    for (rc = it_seek_first(it); !rc && it_valid(it); rc = it_next(it), i++) {
      const uint8_t *k, *v;
      size_t kn, vn;
      it_key(it, &k, &kn);
      it_value(it, &v, &vn);
      const ent *e = &a->m->e[i];
      if (i >= a->m->n || kn != e->kn || memcmp(k, e->k, kn) || vn != e->vn || (vn && memcmp(v, e->v, vn))) {
        a->err = 2;
        break;
      }
    }
    if (rc || (!a->err && i != a->m->n)) a->err = 3;
    it_free(it);
    for (int t = 0; t < 2000 && !a->err; t++) {
      size_t j = (size_t)rand_r(&a->seed) % a->m->n;
      const ent *e = &a->m->e[j];
      rc = sst_get(a->r, e->k, e->kn, &fk, &fv);
      if (rc || fk.n != e->kn || memcmp(fk.p, e->k, fk.n) || fv.n != e->vn) a->err = 4;
    }
  }
  cd_buf_free(&fk);
  cd_buf_free(&fv);
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  model m;
  model_make(&m, 3000, 0);
  fio_env *env = env_for(FIO_AUTO);
  sst_options o = {.block_size = 1024, .compression = 1, .bloom_bits = 10};
  build(env, "t.sst", &m, &o, NULL);
  cache *c;
  assert_int_equal(cache_new(32 * 1024, &c), LSM_OK);
  sst_read_options ro = {.cache = c};
  sst_reader *r;
  assert_int_equal(sst_open(env, "t.sst", 1, &ro, &r), LSM_OK);
  enum { NT = 4 };
  pthread_t th[NT];
  thr_arg args[NT];
  for (int i = 0; i < NT; i++) {
    args[i] = (thr_arg){r, &m, (unsigned)i + 1, 0};
    pthread_create(&th[i], NULL, thr_main, &args[i]);
  }
  for (int i = 0; i < NT; i++) {
    pthread_join(th[i], NULL);
    if (args[i].err) fail_msg("thread %d (seed %d) failed: %d", i, i + 1, args[i].err);
  }
  sst_close(r);
  cache_free(c);
  fio_env_free(env);
  model_free(&m);
}

/* The builder under out-of-memory: LSM_NOMEM, no crash, no leak. */
static void test_builder_nomem(void **state) {
  (void)state;
  model m;
  model_make(&m, 300, 0);
  fio_env *env = env_for(FIO_SYNC);
  sst_options o = {.block_size = 512, .compression = 1, .bloom_bits = 10};
  int ok = 0;
  for (long k = 0; k < 400 && !ok; k += 2) {
    fio_file *f;
    fio_delete(env, "bn.sst");
    assert_int_equal(fio_create(env, "bn.sst", FIO_WRONLY, &f), LSM_OK);
    sst_builder *b = NULL;
    mm_fail_after(k);
    int rc = sst_builder_new(f, &o, &b);
    for (size_t i = 0; !rc && i < m.n; i++) rc = sst_builder_add(b, m.e[i].k, m.e[i].kn, m.e[i].v, m.e[i].vn);
    if (!rc) rc = sst_builder_finish(b, NULL);
    mm_fail_after(-1);
    if (rc != LSM_OK && rc != LSM_NOMEM) fail_msg("k=%ld: rc %d (%s)", k, rc, st_errmsg());
    ok = rc == LSM_OK;
    sst_builder_free(b);
    fio_close(f);
  }
  assert_true(ok);
  sst_reader *r;
  assert_int_equal(sst_open(env, "bn.sst", 1, NULL, &r), LSM_OK);
  check_iter_all(r, &m, 0);
  sst_close(r);
  fio_env_free(env);
  model_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),       cmocka_unit_test(test_get_bloom_cache),
      cmocka_unit_test(test_multiget),        cmocka_unit_test(test_direct_io),
      cmocka_unit_test(test_empty_and_misuse), cmocka_unit_test(test_corruption),
      cmocka_unit_test(test_io_faults),       cmocka_unit_test(test_aligned_appends),
      cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_threads),         cmocka_unit_test(test_builder_nomem),
      cmocka_unit_test(test_auto_readahead),  cmocka_unit_test(test_raw_blocks),
      cmocka_unit_test(test_index_prefix_search), cmocka_unit_test(test_get_admission),
      cmocka_unit_test(test_mmap_reads),
      cmocka_unit_test(test_multiget_cold_mapped),
      cmocka_unit_test(test_mmap_truncated),
      cmocka_unit_test(test_mmap_replaced_handler),
      cmocka_unit_test(test_iter_hint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
