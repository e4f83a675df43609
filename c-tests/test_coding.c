/* Tests of engine/coding.c: fixed-width and varint round trips, truncated and malformed
** varints rejected without reading past the limit, the byte buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "status.h"

#include <stdlib.h>

/* The reference: the inlined portable XXH3 (cd_xxh3 hands long inputs to libxxhash's dispatched
** code; the on-disk checksums must not depend on which one ran). */
#define XXH_INLINE_ALL
#include <xxhash.h>

static void test_fixed(void **state) {
  (void)state;
  uint8_t b[8];
  cd_put_fixed32(b, 0x04030201u);
  assert_int_equal(b[0], 1);
  assert_int_equal(b[3], 4);
  assert_int_equal(cd_get_fixed32(b), 0x04030201u);
  cd_put_fixed64(b, 0x0807060504030201ull);
  assert_int_equal(b[7], 8);
  assert_true(cd_get_fixed64(b) == 0x0807060504030201ull);
  cd_put_fixed16(b, 0xbeef);
  assert_int_equal(cd_get_fixed16(b), 0xbeef);
}

static void test_varint_roundtrip(void **state) {
  (void)state;
  uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, (uint64_t)1 << 35,
                     UINT64_MAX - 1, UINT64_MAX};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    uint8_t b[CD_MAX_VARINT64];
    uint8_t *e = cd_put_varint64(b, vals[i]);
    assert_int_equal(e - b, cd_varint_len(vals[i]));
    uint64_t v = 0;
    const uint8_t *q = cd_get_varint64(b, e, &v);
    assert_ptr_equal(q, e);
    assert_true(v == vals[i]);
    /* every truncation is rejected */
    for (uint8_t *lim = b; lim < e; lim++) assert_null(cd_get_varint64(b, lim, &v));
  }
  uint8_t b[CD_MAX_VARINT64];
  uint8_t *e = cd_put_varint32(b, UINT32_MAX);
  uint32_t v32;
  assert_ptr_equal(cd_get_varint32(b, e, &v32), e);
  assert_int_equal(v32, UINT32_MAX);
  e = cd_put_varint64(b, (uint64_t)UINT32_MAX + 1);
  assert_null(cd_get_varint32(b, e, &v32)); /* too large for 32 bits */
}

static void test_varint_malformed(void **state) {
  (void)state;
  uint8_t b[11];
  memset(b, 0xff, sizeof b);
  uint64_t v;
  assert_null(cd_get_varint64(b, b + sizeof b, &v)); /* never terminates */
  memset(b, 0x80, 9);
  b[9] = 0x02; /* 64-bit overflow in the 10th byte */
  assert_null(cd_get_varint64(b, b + 10, &v));
}

static void test_buf(void **state) {
  (void)state;
  cd_buf b = {0};
  for (int i = 0; i < 1000; i++) assert_int_equal(cd_buf_put_varint32(&b, (uint32_t)i * 1000), LSM_OK);
  const uint8_t *p = b.p, *lim = b.p + b.n;
  for (int i = 0; i < 1000; i++) {
    uint32_t v;
    p = cd_get_varint32(p, lim, &v);
    assert_non_null(p);
    assert_int_equal(v, (uint32_t)i * 1000);
  }
  assert_ptr_equal(p, lim);
  cd_buf_free(&b);
  assert_null(b.p);
}

/* cd_buf_set_key: the buffer holds exactly the key afterwards, whatever it held before, on the
** byte-copy path (<= 64 bytes with room), the growth path and the memcpy path (> 64 bytes). */
static void test_buf_set_key(void **state) {
  (void)state;
  uint8_t key[216]; /* every case reads key[t .. t + n), at most 206 bytes */
  for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 7 + 1);
  cd_buf b = {0};
  const size_t lens[] = {0, 1, 16, 5, 64, 65, 200, 3, 64, 0};
  for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
    size_t n = lens[t];
    assert_int_equal(cd_buf_set_key(&b, key + t, n), LSM_OK);
    assert_int_equal(b.n, n);
    assert_true(b.cap >= n);
    if (n) assert_memory_equal(b.p, key + t, n);
  }
  cd_buf_free(&b);
}

static void test_xxh3(void **state) {
  (void)state;
  const char *s = "hello";
  assert_true(cd_xxh3(s, 5) == cd_xxh3("hello", 5));
  assert_true(cd_xxh3(s, 5) != cd_xxh3("hellp", 5));
  assert_int_not_equal(cd_xxh3_32("a", 1), cd_xxh3_32("b", 1));
  assert_true(cd_xxh3("", 0) == 0x2D06800538D394C2ull); /* XXH3-64 of nothing, seed 0 */
}

/* cd_xxh3 equals the portable XXH3 at every length around the short/long switch (240) and the
** stripe and block sizes, and on a large input; cd_xxh3_cat equals cd_xxh3 of the concatenation
** for every kind of split (both short, short + long, long + long, empty halves). */
static void test_xxh3_reference(void **state) {
  (void)state;
  size_t big = 1u << 20;
  uint8_t *p = malloc(big);
  assert_non_null(p);
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < big; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    p[i] = (uint8_t)x;
  }
  for (size_t n = 0; n <= 4200; n++) {
    assert_true(cd_xxh3(p + (n & 7), n) == XXH3_64bits(p + (n & 7), n));
    uint64_t h = XXH3_64bits(p, n);
    assert_int_equal(cd_xxh3_32(p, n), (uint32_t)(h ^ (h >> 32)));
  }
  assert_true(cd_xxh3(p, big) == XXH3_64bits(p, big));
  size_t lens[] = {0, 1, 4, 100, 236, 240, 241, 1000, 2048, 70000};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++)
    for (size_t j = 0; j < sizeof lens / sizeof *lens; j++) {
      size_t a = lens[i], b = lens[j];
      assert_true(cd_xxh3_cat(p, a, p + a, b) == XXH3_64bits(p, a + b));
    }
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixed),          cmocka_unit_test(test_varint_roundtrip),
      cmocka_unit_test(test_varint_malformed), cmocka_unit_test(test_buf), cmocka_unit_test(test_buf_set_key),
      cmocka_unit_test(test_xxh3),           cmocka_unit_test(test_xxh3_reference),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
