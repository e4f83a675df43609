/* Tests of engine/block.c: builder/iterator round trip with prefix compression and restart
** points, seek, next/prev in both directions, the stored form (zstd and raw, checksum), and
** malformed blocks reported as LSM_CORRUPT without reading past the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "block.h"
#include "ikey.h"
#include "mm.h"
#include "status.h"

#define NKEYS 1000

static void mk_key(int i, char *buf, size_t *n) { *n = (size_t)sprintf(buf, "key%06d", i * 2); }
static void mk_val(int i, char *buf, size_t *n) { *n = (size_t)sprintf(buf, "v%d", i * 7); }

/* Build a block of NKEYS keys "key000000", "key000002", ... (even numbers). */
static void build(blk_builder *b, int interval, int nkeys, uint8_t **out, size_t *n) {
  blk_builder_init(b, interval);
  for (int i = 0; i < nkeys; i++) {
    char k[32], v[32];
    size_t kn, vn;
    mk_key(i, k, &kn);
    mk_val(i, v, &vn);
    assert_int_equal(blk_builder_add(b, (uint8_t *)k, kn, (uint8_t *)v, vn), LSM_OK);
  }
  const uint8_t *p;
  size_t est = blk_builder_size(b);
  assert_int_equal(blk_builder_finish(b, &p, n), LSM_OK);
  assert_int_equal(*n, est);
  *out = malloc(*n);
  memcpy(*out, p, *n);
}

/* Finish b's block, parse it (borrowing the builder's bytes: b must outlive blk) and start an
** iterator over it. */
static void finish_iter(blk_builder *b, blk_block *blk, blk_iter *it) {
  const uint8_t *p;
  size_t n;
  assert_int_equal(blk_builder_finish(b, &p, &n), LSM_OK);
  assert_int_equal(blk_parse(p, n, blk), LSM_OK);
  blk_iter_init(it, blk, it_bytes_cmp, 0);
}

static void check_at(it_iter *it, int i) {
  char k[32], v[32];
  size_t kn, vn;
  mk_key(i, k, &kn);
  mk_val(i, v, &vn);
  assert_true(it_valid(it));
  const uint8_t *gk, *gv;
  size_t gkn, gvn;
  it_key(it, &gk, &gkn);
  it_value(it, &gv, &gvn);
  assert_int_equal(gkn, kn);
  assert_memory_equal(gk, k, kn);
  assert_int_equal(gvn, vn);
  assert_memory_equal(gv, v, vn);
}

static void test_roundtrip(void **state) {
  (void)state;
  int intervals[] = {1, 2, 16, 1000};
  for (size_t t = 0; t < sizeof intervals / sizeof intervals[0]; t++) {
    blk_builder b;
    uint8_t *data;
    size_t n;
    build(&b, intervals[t], NKEYS, &data, &n);
    /* Prefix compression: keys share "key00" mostly, so the block must be well under the
    ** size of the keys stored whole. */
    if (intervals[t] == 16) assert_true(n < (size_t)NKEYS * (9 + 6 + 3));
    blk_block blk;
    assert_int_equal(blk_parse(data, n, &blk), LSM_OK);
    assert_int_equal(blk.nrestarts, (NKEYS + intervals[t] - 1) / intervals[t]);
    it_iter *it;
    assert_int_equal(blk_iter_new(&blk, it_bytes_cmp, 0, &it), LSM_OK);
    assert_false(it_valid(it));
    /* forward */
    assert_int_equal(it_seek_first(it), LSM_OK);
    for (int i = 0; i < NKEYS; i++) {
      check_at(it, i);
      assert_int_equal(it_next(it), LSM_OK);
    }
    assert_false(it_valid(it));
    /* backward */
    assert_int_equal(it_seek_last(it), LSM_OK);
    for (int i = NKEYS - 1; i >= 0; i--) {
      check_at(it, i);
      assert_int_equal(it_prev(it), LSM_OK);
    }
    assert_false(it_valid(it));
    assert_int_equal(it_status(it), LSM_OK);
    /* seeks: exact, between (odd -> next even), before first, past last */
    for (int j = 0; j < 2 * NKEYS; j++) {
      char k[32];
      int kn = sprintf(k, "key%06d", j);
      assert_int_equal(it_seek(it, (uint8_t *)k, (size_t)kn), LSM_OK);
      if (j == 2 * NKEYS - 1) { /* past the last key */
        assert_false(it_valid(it));
        continue;
      }
      check_at(it, (j + 1) / 2);
      /* mixed direction after a seek */
      if (j % 97 == 0 && (j + 1) / 2 > 0) {
        assert_int_equal(it_prev(it), LSM_OK);
        check_at(it, (j + 1) / 2 - 1);
        assert_int_equal(it_next(it), LSM_OK);
        check_at(it, (j + 1) / 2);
      }
    }
    assert_int_equal(it_seek(it, (const uint8_t *)"a", 1), LSM_OK);
    check_at(it, 0);
    assert_int_equal(it_seek(it, (const uint8_t *)"key999999", 9), LSM_OK);
    assert_false(it_valid(it));
    assert_int_equal(it_seek(it, (const uint8_t *)"", 0), LSM_OK);
    check_at(it, 0);
    it_free(it);
    blk_builder_free(&b);
    free(data);
  }
}

static void test_empty_and_single(void **state) {
  (void)state;
  blk_builder b;
  uint8_t *data;
  size_t n;
  build(&b, 16, 0, &data, &n);
  assert_int_equal(n, 4);
  blk_block blk;
  assert_int_equal(blk_parse(data, n, &blk), LSM_OK);
  blk_iter it;
  blk_iter_init(&it, &blk, it_bytes_cmp, 0);
  assert_int_equal(it_seek_first(&it.base), LSM_OK);
  assert_false(it_valid(&it.base));
  assert_int_equal(it_seek_last(&it.base), LSM_OK);
  assert_false(it_valid(&it.base));
  assert_int_equal(it_seek(&it.base, (const uint8_t *)"x", 1), LSM_OK);
  assert_false(it_valid(&it.base));
  blk_iter_fini(&it);
  blk_builder_free(&b);
  free(data);

  build(&b, 16, 1, &data, &n);
  assert_int_equal(blk_parse(data, n, &blk), LSM_OK);
  blk_iter_init(&it, &blk, it_bytes_cmp, 0);
  assert_int_equal(it_seek_last(&it.base), LSM_OK);
  check_at(&it.base, 0);
  assert_int_equal(it_prev(&it.base), LSM_OK);
  assert_false(it_valid(&it.base));
  blk_iter_fini(&it);
  blk_builder_free(&b);
  free(data);
}

/* Empty keys (the engine never writes one, but a block must not care): walked backward, the
** decoded interval holds no key bytes at all, and the iterator still yields each entry. The
** fuzzer found the walk computing NULL + 0 there (undefined; now a test under make asan). */
static void test_empty_keys(void **state) {
  (void)state;
  blk_builder b;
  blk_builder_init(&b, 16);
  assert_int_equal(blk_builder_add(&b, (const uint8_t *)"", 0, (const uint8_t *)"v0", 2), LSM_OK);
  blk_block blk;
  blk_iter it;
  finish_iter(&b, &blk, &it);
  assert_int_equal(it_seek_last(&it.base), LSM_OK);
  assert_true(it_valid(&it.base));
  const uint8_t *k, *v;
  size_t kn, vn;
  it_key(&it.base, &k, &kn);
  it_value(&it.base, &v, &vn);
  assert_non_null(k);
  assert_int_equal(kn, 0);
  assert_int_equal(vn, 2);
  assert_memory_equal(v, "v0", 2);
  assert_int_equal(it_prev(&it.base), LSM_OK);
  assert_false(it_valid(&it.base));
  blk_iter_fini(&it);
  blk_builder_free(&b);
}

/* Internal keys with many versions of one user key, ordered by ikey_cmp. */
static void test_internal_keys(void **state) {
  (void)state;
  blk_builder b;
  blk_builder_init(&b, 16);
  uint8_t k[64];
  for (int u = 0; u < 50; u++)
    for (int s = 100; s > 0; s -= 10) {
      char uk[16];
      int un = sprintf(uk, "u%03d", u);
      size_t kn = ikey_encode(k, (uint8_t *)uk, (size_t)un, (uint64_t)s, IKEY_VAL);
      assert_int_equal(blk_builder_add(&b, k, kn, k, 1), LSM_OK);
    }
  const uint8_t *p;
  size_t n;
  assert_int_equal(blk_builder_finish(&b, &p, &n), LSM_OK);
  blk_block blk;
  assert_int_equal(blk_parse(p, n, &blk), LSM_OK);
  blk_iter it;
  blk_iter_init(&it, &blk, ikey_cmp, IKEY_TRAILER);
  /* seek to (u010, seq 55) lands on (u010, 50) */
  size_t kn = ikey_seek_key(k, (const uint8_t *)"u010", 4, 55);
  assert_int_equal(it_seek(&it.base, k, kn), LSM_OK);
  const uint8_t *gk;
  size_t gn;
  it_key(&it.base, &gk, &gn);
  assert_int_equal(gn, 12);
  assert_memory_equal(gk, "u010", 4);
  assert_int_equal(ikey_seq(gk, gn), 50);
  /* seek below every version of u010 lands on u011's newest */
  kn = ikey_seek_key(k, (const uint8_t *)"u010", 4, 5);
  assert_int_equal(it_seek(&it.base, k, kn), LSM_OK);
  it_key(&it.base, &gk, &gn);
  assert_memory_equal(gk, "u011", 4);
  assert_int_equal(ikey_seq(gk, gn), 100);
  blk_iter_fini(&it);
  blk_builder_free(&b);
}

/* The builder's entry encoding (one reserve, inlined varints, key copy for the next prefix)
** against a reference written with the coding module's buffer functions: keys and values whose
** lengths take 1, 2 and 3 varint bytes, empty values, shared prefixes of every length, restart
** points and buffer growth; the bytes must be identical and read back. */
static void test_encoding_reference(void **state) {
  (void)state;
  static const size_t vlens[] = {0, 1, 127, 128, 300, 16383, 16384, 70000};
  static const size_t klens[] = {1, 5, 127, 128, 129, 200, 16384, 16400};
  uint8_t *val = malloc(70000);
  for (size_t i = 0; i < 70000; i++) val[i] = (uint8_t)(i * 31 + 7);
  for (int interval = 1; interval <= 4; interval += 3) {
    blk_builder b;
    blk_builder_init(&b, interval);
    cd_buf ref = {0}, rst = {0}, last = {0};
    uint8_t *key = calloc(1, 16400 + 8);
    int n = 0;
    for (size_t ki = 0; ki < sizeof klens / sizeof klens[0]; ki++)
      for (size_t vi = 0; vi < sizeof vlens / sizeof vlens[0]; vi++, n++) {
        size_t kn = klens[ki];
        memset(key, 'a' + (int)ki, kn); /* increasing: a run of one letter per length, then a last
                                         ** byte that grows (shared prefixes up to kn - 1) */
        key[kn - 1] = (uint8_t)('b' + vi);
        assert_int_equal(blk_builder_add(&b, key, kn, val, vlens[vi]), LSM_OK);
        size_t shared = 0;
        if (n % interval == 0) {
          assert_int_equal(cd_buf_put_fixed32(&rst, (uint32_t)ref.n), LSM_OK);
        } else {
          while (shared < kn && shared < last.n && last.p[shared] == key[shared]) shared++;
        }
        assert_int_equal(cd_buf_put_varint32(&ref, (uint32_t)shared), LSM_OK);
        assert_int_equal(cd_buf_put_varint32(&ref, (uint32_t)(kn - shared)), LSM_OK);
        assert_int_equal(cd_buf_put_varint32(&ref, (uint32_t)vlens[vi]), LSM_OK);
        assert_int_equal(cd_buf_append(&ref, key + shared, kn - shared), LSM_OK);
        assert_int_equal(cd_buf_append(&ref, val, vlens[vi]), LSM_OK);
        cd_buf_clear(&last);
        assert_int_equal(cd_buf_append(&last, key, kn), LSM_OK);
      }
    assert_int_equal(cd_buf_append(&ref, rst.p, rst.n), LSM_OK);
    assert_int_equal(cd_buf_put_fixed32(&ref, (uint32_t)(rst.n / 4)), LSM_OK);
    const uint8_t *raw;
    size_t rawn;
    assert_int_equal(blk_builder_size(&b), ref.n);
    assert_int_equal(blk_builder_finish(&b, &raw, &rawn), LSM_OK);
    assert_int_equal(rawn, ref.n);
    assert_memory_equal(raw, ref.p, rawn);
    blk_block blk;
    assert_int_equal(blk_parse(raw, rawn, &blk), LSM_OK);
    it_iter *it;
    assert_int_equal(blk_iter_new(&blk, it_bytes_cmp, 1, &it), LSM_OK);
    int m = 0;
    for (it_seek_first(it); it_valid(it); it_next(it), m++) {
      const uint8_t *v;
      size_t vn;
      it_value(it, &v, &vn);
      assert_int_equal(vn, vlens[m % 8]);
      if (vn) assert_memory_equal(v, val, vn);
    }
    assert_int_equal(it_status(it), LSM_OK);
    assert_int_equal(m, n);
    it_free(it);
    free(key);
    cd_buf_free(&ref);
    cd_buf_free(&rst);
    cd_buf_free(&last);
    blk_builder_free(&b);
  }
  free(val);
}

static void test_seal(void **state) {
  (void)state;
  blk_builder b;
  uint8_t *data;
  size_t n;
  build(&b, 16, NKEYS, &data, &n);
  blk_zctx *z;
  assert_int_equal(blk_zctx_new(&z), LSM_OK);
  static const int codecs[3] = {BLK_NONE, BLK_ZSTD, BLK_LZ4};
  for (int ci = 0; ci < 3; ci++) {
    int comp = codecs[ci];
    for (int withz = 0; withz < 2; withz++) {
      cd_buf out = {0};
      assert_int_equal(cd_buf_append(&out, "xx", 2), LSM_OK); /* sealing appends */
      size_t sn;
      assert_int_equal(blk_seal(&out, data, n, comp, 3, withz ? z : NULL, &sn), LSM_OK);
      assert_int_equal(out.n, 2 + sn + BLK_TRAILER);
      if (comp) assert_true(sn < n - n / 8); /* text keys compress well */
      else assert_int_equal(sn, n);
      assert_int_equal(out.p[2 + sn], comp);
      const uint8_t *raw;
      size_t rawn;
      uint8_t *alloc;
      assert_int_equal(blk_unseal(out.p + 2, sn, &raw, &rawn, &alloc), LSM_OK);
      assert_int_equal(rawn, n);
      assert_memory_equal(raw, data, n);
      assert_true(comp ? alloc != NULL : alloc == NULL);
      mm_free(alloc);
      /* the two halves used by the cache path */
      int type;
      size_t rn;
      assert_int_equal(blk_stored_info(out.p + 2, sn, &type, &rn), LSM_OK);
      assert_int_equal(type, comp);
      assert_int_equal(rn, n);
      uint8_t *dst = malloc(rn);
      assert_int_equal(blk_decode_into(out.p + 2, sn, dst, rn), LSM_OK);
      assert_memory_equal(dst, data, n);
      if (comp) assert_int_equal(blk_decode_into(out.p + 2, sn, dst, rn - 1), LSM_CORRUPT);
      if (comp) {
        /* damaged compressed bytes under a valid checksum (a bug, not bit rot): the decoder
        ** itself must refuse a truncated stream and never write past rawn bytes */
        uint8_t *cp = malloc(sn + BLK_TRAILER);
        for (size_t cut = 1; cut <= 3; cut++) {
          size_t cn = sn - cut;
          memcpy(cp, out.p + 2, cn);
          cp[cn] = (uint8_t)comp;
          cd_put_fixed32(cp + cn + 1, cd_xxh3_32(cp, cn + 1));
          assert_int_equal(blk_stored_info(cp, cn, &type, &rn), LSM_OK);
          assert_int_equal(rn, n);
          assert_int_equal(blk_decode_into(cp, cn, dst, rn), LSM_CORRUPT);
        }
        for (size_t i = 2; i < sn; i += 7) { /* flipped bytes: refused or decoded in bounds */
          memcpy(cp, out.p + 2, sn);
          cp[i] ^= 0x5a;
          cd_put_fixed32(cp + sn + 1, cd_xxh3_32(cp, sn + 1));
          if (blk_stored_info(cp, sn, &type, &rn) == LSM_OK) {
            int rc = blk_decode_into(cp, sn, dst, rn);
            assert_true(rc == LSM_OK || rc == LSM_CORRUPT);
          }
        }
        free(cp);
      }
      free(dst);
      /* every single-byte flip in contents or trailer is caught */
      for (size_t i = 2; i < out.n; i++) {
        out.p[i] ^= 0x20;
        int rc = blk_unseal(out.p + 2, sn, &raw, &rawn, &alloc);
        assert_int_equal(rc, LSM_CORRUPT);
        assert_int_equal(blk_stored_info(out.p + 2, sn, &type, &rn), LSM_CORRUPT);
        assert_null(alloc);
        out.p[i] ^= 0x20;
      }
      cd_buf_free(&out);
    }
  }
  /* incompressible data is kept raw */
  uint8_t rnd[4096];
  srand(7);
  for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (uint8_t)rand();
  cd_buf out = {0};
  size_t sn;
  assert_int_equal(blk_seal(&out, rnd, sizeof rnd, BLK_ZSTD, 3, z, &sn), LSM_OK);
  assert_int_equal(sn, sizeof rnd);
  assert_int_equal(out.p[sn], BLK_NONE);
  cd_buf_clear(&out);
  assert_int_equal(blk_seal(&out, rnd, sizeof rnd, BLK_LZ4, 0, NULL, &sn), LSM_OK);
  assert_int_equal(sn, sizeof rnd);
  assert_int_equal(out.p[sn], BLK_NONE);
  cd_buf_free(&out);
  blk_zctx_free(z);
  blk_builder_free(&b);
  free(data);
}

/* Walk the whole block both ways and seek; report the first error. */
static int exercise(const uint8_t *data, size_t n) {
  blk_block blk;
  int rc = blk_parse(data, n, &blk);
  if (rc) return rc;
  blk_iter it;
  blk_iter_init(&it, &blk, it_bytes_cmp, 0);
  int steps = 0;
  rc = it_seek_first(&it.base);
  while (!rc && it_valid(&it.base) && steps++ < 100000) rc = it_next(&it.base);
  if (!rc) {
    rc = it_seek_last(&it.base);
    while (!rc && it_valid(&it.base) && steps++ < 200000) rc = it_prev(&it.base);
  }
  for (int j = 0; !rc && j < 2 * NKEYS; j += 37) {
    char k[32];
    int kn = sprintf(k, "key%06d", j);
    rc = it_seek(&it.base, (uint8_t *)k, (size_t)kn);
  }
  if (!rc) rc = it_status(&it.base);
  blk_iter_fini(&it);
  return rc;
}

static void test_malformed(void **state) {
  (void)state;
  blk_builder b;
  uint8_t *data;
  size_t n;
  build(&b, 16, 200, &data, &n);
  assert_int_equal(exercise(data, n), LSM_OK);
  /* Truncations: each copy lives in an exact-size heap buffer so ASan catches an overread. */
  int corrupt = 0;
  for (size_t m = 0; m < n; m++) {
    uint8_t *c = malloc(m ? m : 1);
    memcpy(c, data, m);
    int rc = exercise(c, m);
    assert_true(rc == LSM_OK || rc == LSM_CORRUPT);
    corrupt += rc == LSM_CORRUPT;
    free(c);
  }
  assert_true(corrupt > (int)n / 2);
  /* Byte corruptions: every result is OK or CORRUPT, never a crash/overread. */
  unsigned seed = 12345;
  srand(seed);
  int seen_corrupt = 0;
  for (int t = 0; t < 3000; t++) {
    uint8_t *c = malloc(n);
    memcpy(c, data, n);
    size_t pos = (size_t)rand() % n;
    c[pos] = (uint8_t)rand();
    if (t % 3 == 0) c[(size_t)rand() % n] = 0xff;
    int rc = exercise(c, n);
    if (rc != LSM_OK && rc != LSM_CORRUPT) fail_msg("seed %u trial %d: rc %d", seed, t, rc);
    seen_corrupt += rc == LSM_CORRUPT;
    free(c);
  }
  assert_true(seen_corrupt > 0);
  /* Specific malformations. */
  uint8_t bad[8];
  cd_put_fixed32(bad, 0);
  cd_put_fixed32(bad + 4, 5); /* 5 restarts in 8 bytes */
  assert_int_equal(exercise(bad, 8), LSM_CORRUPT);
  cd_put_fixed32(bad, 3); /* restart offset past entries (roff = 0) */
  cd_put_fixed32(bad + 4, 1);
  assert_int_equal(exercise(bad, 8), LSM_CORRUPT);
  /* an entry whose value length runs past the end */
  uint8_t e[16] = {0, 1, 100, 'a'};
  cd_put_fixed32(e + 8, 0);
  cd_put_fixed32(e + 12, 1);
  assert_int_equal(exercise(e, 16), LSM_CORRUPT);
  /* a restart entry that claims a shared prefix */
  uint8_t s[16] = {3, 1, 0, 'a'};
  cd_put_fixed32(s + 8, 0);
  cd_put_fixed32(s + 12, 1);
  assert_int_equal(exercise(s, 16), LSM_CORRUPT);
  assert_true(strstr(st_errmsg(), "corrupt") != NULL);
  blk_builder_free(&b);
  free(data);
}


/* Keys of mixed lengths (3..300 bytes: some share long prefixes, some need the materialised
** key buffer beyond the inline one, some have multi-byte varint headers) and values of 0..300
** bytes; a random walk of seek / seek_first / seek_last / next / prev checked against the
** model at every step. Covers the fast one-byte header path, the in-place restart keys and the
** prev interval cache (including mixing directions inside one interval). */
#define RW_KEYS 600
static void rw_key(int i, uint8_t *k, size_t *kn) {
  /* groups of 7 share a long prefix, whose length varies by group */
  unsigned u = (unsigned)i, g = u / 7;
  size_t plen = (size_t)(g % 5) * 60, n = plen + 5; /* 0, 60, 120, 180, 240 */
  memset(k, (int)('a' + g % 26), plen);
  for (size_t d = 5, x = u; d-- > 0; x /= 10) k[plen + d] = (uint8_t)('0' + x % 10);
  if (u % 11 == 0) { /* a long tail */
    memset(k + n, 'z', 50);
    n += 50;
  }
  *kn = n;
}
static size_t rw_val(int i, uint8_t *v) {
  size_t n = (size_t)((i * 37) % 301);
  for (size_t j = 0; j < n; j++) v[j] = (uint8_t)(i + j);
  return n;
}
/* Model keys sorted bytewise (the generator is not in byte order across groups). */
static uint8_t rw_k[RW_KEYS][400];
static size_t rw_kn[RW_KEYS];
static int rw_id[RW_KEYS];
static int rw_cmp_idx(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return it_bytes_cmp(rw_k[x], rw_kn[x], rw_k[y], rw_kn[y]);
}
static void rw_check(it_iter *it, int pos, unsigned seed, int step) {
  if (pos < 0 || pos >= RW_KEYS) {
    if (it_valid(it)) fail_msg("seed %u step %d: valid at end", seed, step);
    return;
  }
  if (!it_valid(it)) fail_msg("seed %u step %d: invalid, want %d", seed, step, pos);
  const uint8_t *k, *v;
  size_t kn, vn;
  uint8_t want[400];
  it_key(it, &k, &kn);
  it_value(it, &v, &vn);
  int i = rw_id[pos];
  size_t wn = rw_val(i, want);
  if (kn != rw_kn[i] || memcmp(k, rw_k[i], kn) || vn != wn || memcmp(v, want, wn))
    fail_msg("seed %u step %d: wrong entry at %d", seed, step, pos);
}

static void test_random_walk(void **state) {
  (void)state;
  for (int i = 0; i < RW_KEYS; i++) {
    rw_key(i, rw_k[i], &rw_kn[i]);
    rw_id[i] = i;
  }
  qsort(rw_id, RW_KEYS, sizeof rw_id[0], rw_cmp_idx);
  int intervals[] = {1, 3, 16};
  for (size_t t = 0; t < 3; t++) {
    blk_builder b;
    blk_builder_init(&b, intervals[t]);
    uint8_t v[400];
    for (int p = 0; p < RW_KEYS; p++) {
      int i = rw_id[p];
      size_t vn = rw_val(i, v);
      assert_int_equal(blk_builder_add(&b, rw_k[i], rw_kn[i], v, vn), LSM_OK);
    }
    blk_block blk;
    blk_iter it;
    finish_iter(&b, &blk, &it);
    unsigned seed = 0xb10c + (unsigned)t;
    srand(seed);
    int pos = -1;
    for (int step = 0; step < 20000; step++) {
      int op = rand() % 10;
      if (pos < 0 || pos >= RW_KEYS) op = op < 5 ? 7 : 8; /* re-enter */
      if (op <= 3) { /* next, in runs */
        assert_int_equal(it_next(&it.base), LSM_OK);
        pos++;
      } else if (op <= 6) { /* prev */
        assert_int_equal(it_prev(&it.base), LSM_OK);
        pos = pos == 0 ? -1 : pos - 1;
      } else if (op == 7) {
        if (rand() % 2) {
          assert_int_equal(it_seek_last(&it.base), LSM_OK);
          pos = RW_KEYS - 1;
        } else {
          assert_int_equal(it_seek_first(&it.base), LSM_OK);
          pos = 0;
        }
      } else { /* seek to an existing key or just past one */
        int p = rand() % RW_KEYS, i = rw_id[p];
        uint8_t k[401];
        memcpy(k, rw_k[i], rw_kn[i]);
        size_t kn = rw_kn[i];
        if (rand() % 2) {
          k[kn++] = 0; /* sorts right after key p: lands on p + 1 */
          p++;
        }
        assert_int_equal(it_seek(&it.base, k, kn), LSM_OK);
        pos = p;
      }
      if (pos >= RW_KEYS) pos = RW_KEYS;
      rw_check(&it.base, pos, seed, step);
    }
    /* a full backward walk, the readreverse pattern */
    assert_int_equal(it_seek_last(&it.base), LSM_OK);
    for (int p = RW_KEYS - 1; p >= 0; p--) {
      rw_check(&it.base, p, seed, -p);
      assert_int_equal(it_prev(&it.base), LSM_OK);
    }
    assert_false(it_valid(&it.base));
    assert_int_equal(it_status(&it.base), LSM_OK);
    /* out of memory while decoding an interval backwards is a sticky LSM_NOMEM */
    blk_iter_fini(&it);
    blk_iter_init(&it, &blk, it_bytes_cmp, 0);
    mm_fail_after(0);
    int rc = it_seek_last(&it.base);
    mm_fail_after(-1);
    assert_int_equal(rc, LSM_NOMEM);
    assert_false(it_valid(&it.base));
    assert_int_equal(it_status(&it.base), LSM_NOMEM);
    blk_iter_fini(&it);
    blk_builder_free(&b);
  }
}

/* The forward step's short-suffix key copy (a fixed 16 bytes into the inline key): keys of
** 1..70 bytes over a two-letter alphabet (shared prefixes of every length, around the inline
** buffer's 64 bytes), values of 0..2 bytes, so entries end right before the restart array. The
** block is copied into a buffer of its exact size: ASan reports any read past it. */
static int tiny_cmp(const void *a, const void *b) {
  const uint8_t *x = a, *y = b;
  return it_bytes_cmp(x + 1, x[0], y + 1, y[0]);
}
static void test_short_suffix_keys(void **state) {
  (void)state;
  enum { NK = 400 };
  static uint8_t keys[NK][72]; /* keys[i][0] = length */
  for (unsigned seed = 1; seed <= 40; seed++) {
    srand(seed);
    for (int i = 0; i < NK; i++) {
      int n = 1 + rand() % 70;
      keys[i][0] = (uint8_t)n;
      for (int j = 0; j < n; j++) keys[i][1 + j] = (uint8_t)(rand() % 8 ? 'a' : 'b');
    }
    qsort(keys, NK, sizeof keys[0], tiny_cmp);
    int interval = seed % 2 ? 1000 : 16;
    blk_builder b;
    blk_builder_init(&b, interval);
    int nk = 0;
    static int kept[NK];
    for (int i = 0; i < NK; i++) {
      if (i && !tiny_cmp(keys[i], keys[i - 1])) continue; /* duplicates */
      assert_int_equal(blk_builder_add(&b, keys[i] + 1, keys[i][0], (const uint8_t *)"vv", (size_t)(i % 3)),
                       LSM_OK);
      kept[nk++] = i;
    }
    const uint8_t *data;
    size_t n;
    assert_int_equal(blk_builder_finish(&b, &data, &n), LSM_OK);
    uint8_t *exact = malloc(n);
    memcpy(exact, data, n);
    blk_block blk;
    assert_int_equal(blk_parse(exact, n, &blk), LSM_OK);
    blk_iter it;
    blk_iter_init(&it, &blk, it_bytes_cmp, 0);
    int j = 0;
    for (assert_int_equal(it_seek_first(&it.base), LSM_OK); it_valid(&it.base); j++) {
      const uint8_t *k, *v;
      size_t kn, vn;
      it_key(&it.base, &k, &kn);
      it_value(&it.base, &v, &vn);
      assert_true(j < nk);
      int i = kept[j];
      if (kn != keys[i][0] || memcmp(k, keys[i] + 1, kn) || vn != (size_t)(i % 3))
        fail_msg("seed %u entry %d: wrong key or value", seed, j);
      assert_int_equal(blk_iter_next(&it), LSM_OK);
    }
    assert_int_equal(j, nk);
    assert_int_equal(it_status(&it.base), LSM_OK);
    blk_iter_fini(&it);
    free(exact);
    blk_builder_free(&b);
  }
}

static void test_nomem(void **state) {
  (void)state;
  for (long k = 0; k < 50; k++) {
    blk_builder b;
    blk_builder_init(&b, 4);
    mm_fail_after(k);
    int rc = LSM_OK;
    for (int i = 0; i < 100 && !rc; i++) {
      char kb[32], vb[32];
      size_t kn, vn;
      mk_key(i, kb, &kn);
      mk_val(i, vb, &vn);
      rc = blk_builder_add(&b, (uint8_t *)kb, kn, (uint8_t *)vb, vn);
    }
    const uint8_t *p;
    size_t n;
    if (!rc) rc = blk_builder_finish(&b, &p, &n);
    mm_fail_after(-1);
    assert_true(rc == LSM_OK || rc == LSM_NOMEM);
    blk_builder_free(&b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_empty_and_single),
      cmocka_unit_test(test_internal_keys),  cmocka_unit_test(test_seal),
      cmocka_unit_test(test_malformed),      cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_random_walk),
      cmocka_unit_test(test_short_suffix_keys), cmocka_unit_test(test_encoding_reference),
      cmocka_unit_test(test_empty_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
