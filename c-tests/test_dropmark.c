/* Tests of ext/dropmark.c (compiled in): the DROPPED marker's encode/decode round trip, every
** damaged byte, a short or long file, a wrong magic or version, an over-long name refused; and
** write/read/remove in a directory (missing marker: present = 0; remove of none is fine). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../ext/dropmark.c"

static const dm_mark sample = {.pid = 0x1122334455667788ull, .conn = 0x0102030405060708ull,
                               .dversion = 0xdeadbeef, .name = (char *)"my \"table\" é"};

static void test_roundtrip(void **state) {
  (void)state;
  uint8_t buf[DM_NAME_MAX + 64];
  size_t n = 0;
  assert_int_equal(dm_encode(&sample, buf, sizeof buf, &n), LSM_OK);
  assert_int_equal(n, 36 + strlen(sample.name) + 8);
  assert_memory_equal(buf, "LSMDROP", 8);
  assert_int_equal(cd_get_fixed32(buf + 8), 1);
  dm_mark m = {0};
  assert_int_equal(dm_decode(buf, n, &m), LSM_OK);
  assert_true(m.pid == sample.pid && m.conn == sample.conn && m.dversion == sample.dversion);
  assert_string_equal(m.name, sample.name);
  dm_clear(&m);
  assert_null(m.name);
}

/* Every single flipped bit, every truncation and one trailing byte: corrupt, never a marker. */
static void test_damage(void **state) {
  (void)state;
  uint8_t buf[DM_NAME_MAX + 64];
  size_t n = 0;
  assert_int_equal(dm_encode(&sample, buf, sizeof buf, &n), LSM_OK);
  dm_mark m = {0};
  for (size_t i = 0; i < n; i++)
    for (int bit = 0; bit < 8; bit++) {
      buf[i] ^= (uint8_t)(1 << bit);
      int rc = dm_decode(buf, n, &m);
      if (rc != LSM_CORRUPT) fail_msg("byte %zu bit %d: rc %d", i, bit, rc);
      buf[i] ^= (uint8_t)(1 << bit);
    }
  for (size_t len = 0; len < n; len++) assert_int_equal(dm_decode(buf, len, &m), LSM_CORRUPT);
  buf[n] = 0;
  assert_int_equal(dm_decode(buf, n + 1, &m), LSM_CORRUPT);
  assert_int_equal(dm_decode(buf, n, &m), LSM_OK);
  dm_clear(&m);
}

/* A marker of another version, correctly checksummed, is refused by its version. */
static void test_version(void **state) {
  (void)state;
  uint8_t buf[DM_NAME_MAX + 64];
  size_t n = 0;
  assert_int_equal(dm_encode(&sample, buf, sizeof buf, &n), LSM_OK);
  cd_put_fixed32(buf + 8, 2);
  cd_put_fixed64(buf + n - 8, cd_xxh3(buf, n - 8));
  dm_mark m = {0};
  assert_int_equal(dm_decode(buf, n, &m), LSM_CORRUPT);
  assert_non_null(strstr(st_errmsg(), "version 2"));
}

static void test_name_limits(void **state) {
  (void)state;
  char *big = malloc(DM_NAME_MAX + 2);
  memset(big, 'x', DM_NAME_MAX + 1);
  big[DM_NAME_MAX + 1] = 0;
  dm_mark m = sample;
  m.name = big;
  uint8_t buf[DM_NAME_MAX + 64];
  size_t n = 0;
  assert_int_equal(dm_encode(&m, buf, sizeof buf, &n), LSM_ERROR);
  big[DM_NAME_MAX] = 0; /* the longest allowed */
  assert_int_equal(dm_encode(&m, buf, sizeof buf, &n), LSM_OK);
  dm_mark back = {0};
  assert_int_equal(dm_decode(buf, n, &back), LSM_OK);
  assert_int_equal(strlen(back.name), DM_NAME_MAX);
  dm_clear(&back);
  assert_int_equal(dm_encode(&m, buf, 100, &n), LSM_ERROR); /* buffer too small */
  free(big);
}

static void test_files(void **state) {
  (void)state;
  char dir[] = "/tmp/test_dropmark-XXXXXX";
  assert_non_null(mkdtemp(dir));
  dm_mark m = {0};
  int present = 1;
  assert_int_equal(dm_read(dir, &m, &present), LSM_OK);
  assert_int_equal(present, 0);
  assert_int_equal(dm_remove(dir), LSM_OK); /* none: fine */
  assert_int_equal(dm_write(dir, &sample), LSM_OK);
  assert_int_equal(dm_read(dir, &m, &present), LSM_OK);
  assert_int_equal(present, 1);
  assert_string_equal(m.name, sample.name);
  assert_int_equal(m.dversion, sample.dversion);
  dm_clear(&m);
  /* damaged on disk: LSM_CORRUPT naming the file */
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, DM_FILE);
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  fseek(f, 40, SEEK_SET);
  fputc('!', f);
  fclose(f);
  assert_int_equal(dm_read(dir, &m, &present), LSM_CORRUPT);
  assert_non_null(strstr(st_errmsg(), DM_FILE));
  assert_int_equal(dm_remove(dir), LSM_OK);
  assert_int_equal(access(path, F_OK), -1);
  assert_int_equal(dm_read(dir, &m, &present), LSM_OK);
  assert_int_equal(present, 0);
  assert_int_equal(rmdir(dir), 0); /* no temp file left behind */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_version),
      cmocka_unit_test(test_damage),    cmocka_unit_test(test_name_limits),
      cmocka_unit_test(test_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
