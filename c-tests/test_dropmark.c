/* Tests of ext/dropmark.c (compiled in): the DROPPED marker's encode/decode round trip, every
** damaged byte, a short or long file, a wrong magic or version, an over-long name or path refused,
** a version 1 marker (no database) still read; write/read/remove in a directory (missing marker:
** present = 0; remove of none is fine); and the sweep's link (made with its parent, durable name,
** target read back, kept when it exists, removed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../ext/dropmark.c"

static const dm_mark sample = {.pid = 0x1122334455667788ull, .conn = 0x0102030405060708ull,
                               .dversion = 0xdeadbeef, .name = (char *)"my \"table\" é",
                               .db = (char *)"/data/my db.sqlite"};

static void test_roundtrip(void **state) {
  (void)state;
  uint8_t buf[DM_ENCODED_MAX];
  size_t n = 0;
  assert_int_equal(dm_encode(&sample, buf, sizeof buf, &n), LSM_OK);
  assert_int_equal(n, 40 + strlen(sample.name) + strlen(sample.db) + 8);
  assert_memory_equal(buf, "LSMDROP", 8);
  assert_int_equal(cd_get_fixed32(buf + 8), 2);
  assert_int_equal(cd_get_fixed32(buf + 36), strlen(sample.db));
  assert_memory_equal(buf + 40 + strlen(sample.name), sample.db, strlen(sample.db));
  dm_mark m = {0};
  assert_int_equal(dm_decode(buf, n, &m), LSM_OK);
  assert_true(m.pid == sample.pid && m.conn == sample.conn && m.dversion == sample.dversion);
  assert_string_equal(m.name, sample.name);
  assert_string_equal(m.db, sample.db);
  dm_clear(&m);
  assert_null(m.name);
  assert_null(m.db);
  /* no database: written as an empty path, read back as one */
  dm_mark nodb = sample;
  nodb.db = NULL;
  assert_int_equal(dm_encode(&nodb, buf, sizeof buf, &n), LSM_OK);
  assert_int_equal(dm_decode(buf, n, &m), LSM_OK);
  assert_string_equal(m.db, "");
  dm_clear(&m);
}

/* A version 1 marker (sessions 32-36: no db_len, no path), built by hand, is read with an
** unknown database; damaged, it is corrupt like a version 2 one. */
static void test_version1(void **state) {
  (void)state;
  uint8_t buf[128];
  size_t len = strlen(sample.name), n = 36 + len + 8;
  memcpy(buf, "LSMDROP", 8);
  cd_put_fixed32(buf + 8, 1);
  cd_put_fixed64(buf + 12, sample.pid);
  cd_put_fixed64(buf + 20, sample.conn);
  cd_put_fixed32(buf + 28, sample.dversion);
  cd_put_fixed32(buf + 32, (uint32_t)len);
  memcpy(buf + 36, sample.name, len);
  cd_put_fixed64(buf + 36 + len, cd_xxh3(buf, 36 + len));
  dm_mark m = {0};
  assert_int_equal(dm_decode(buf, n, &m), LSM_OK);
  assert_true(m.pid == sample.pid && m.conn == sample.conn && m.dversion == sample.dversion);
  assert_string_equal(m.name, sample.name);
  assert_null(m.db);
  dm_clear(&m);
  buf[40] ^= 1;
  assert_int_equal(dm_decode(buf, n, &m), LSM_CORRUPT);
}

/* A NUL byte inside the name or the path, even correctly checksummed, is corrupt: it would cut
** the name short. */
static void test_nul(void **state) {
  (void)state;
  uint8_t buf[DM_ENCODED_MAX];
  size_t n = 0;
  assert_int_equal(dm_encode(&sample, buf, sizeof buf, &n), LSM_OK);
  for (size_t at = 40; at < n - 8; at++) {
    uint8_t was = buf[at];
    buf[at] = 0;
    cd_put_fixed64(buf + n - 8, cd_xxh3(buf, n - 8));
    dm_mark m = {0};
    assert_int_equal(dm_decode(buf, n, &m), LSM_CORRUPT);
    assert_non_null(strstr(st_errmsg(), "NUL byte"));
    buf[at] = was;
  }
  cd_put_fixed64(buf + n - 8, cd_xxh3(buf, n - 8));
  dm_mark m = {0};
  assert_int_equal(dm_decode(buf, n, &m), LSM_OK);
  dm_clear(&m);
}

/* Every single flipped bit, every truncation and one trailing byte: corrupt, never a marker. */
static void test_damage(void **state) {
  (void)state;
  uint8_t buf[DM_ENCODED_MAX];
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
  uint8_t buf[DM_ENCODED_MAX];
  size_t n = 0;
  assert_int_equal(dm_encode(&sample, buf, sizeof buf, &n), LSM_OK);
  cd_put_fixed32(buf + 8, 3);
  cd_put_fixed64(buf + n - 8, cd_xxh3(buf, n - 8));
  dm_mark m = {0};
  assert_int_equal(dm_decode(buf, n, &m), LSM_CORRUPT);
  assert_non_null(strstr(st_errmsg(), "version 3"));
}

static void test_name_limits(void **state) {
  (void)state;
  char *big = malloc(DM_NAME_MAX + 2);
  memset(big, 'x', DM_NAME_MAX + 1);
  big[DM_NAME_MAX + 1] = 0;
  dm_mark m = sample;
  m.name = big;
  uint8_t buf[DM_ENCODED_MAX];
  size_t n = 0;
  assert_int_equal(dm_encode(&m, buf, sizeof buf, &n), LSM_ERROR);
  big[DM_NAME_MAX] = 0; /* the longest allowed */
  assert_int_equal(dm_encode(&m, buf, sizeof buf, &n), LSM_OK);
  dm_mark back = {0};
  assert_int_equal(dm_decode(buf, n, &back), LSM_OK);
  assert_int_equal(strlen(back.name), DM_NAME_MAX);
  dm_clear(&back);
  assert_int_equal(dm_encode(&m, buf, 100, &n), LSM_ERROR); /* buffer too small */
  /* the database path: the same bound; both at their longest fit DM_ENCODED_MAX */
  m.db = big;
  uint8_t *both = malloc(DM_ENCODED_MAX);
  assert_int_equal(dm_encode(&m, both, DM_ENCODED_MAX, &n), LSM_OK);
  assert_int_equal(dm_decode(both, n, &back), LSM_OK);
  assert_int_equal(strlen(back.db), DM_NAME_MAX);
  dm_clear(&back);
  big[DM_NAME_MAX] = 'x';
  m.name = (char *)"t";
  assert_int_equal(dm_encode(&m, both, DM_ENCODED_MAX, &n), LSM_ERROR);
  assert_non_null(strstr(st_errmsg(), "path too long"));
  free(both);
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

/* dm_link makes its parent when missing and a link named DM_LINK_PREFIX + 16 hex digits whose
** target is the directory; a second call keeps it; dm_unlink removes it. */
static void test_link(void **state) {
  (void)state;
  char base[] = "/tmp/test_dropmark-XXXXXX";
  assert_non_null(mkdtemp(base));
  char parent[128], target[128];
  snprintf(parent, sizeof parent, "%s/db-lsm", base);
  snprintf(target, sizeof target, "%s/elsewhere", base);
  assert_int_equal(dm_link(parent, target), LSM_OK);
  assert_int_equal(dm_link(parent, target), LSM_OK); /* exists: kept */
  DIR *d = opendir(parent);
  assert_non_null(d);
  struct dirent *de;
  int links = 0;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    links++;
    assert_true(dm_is_link_name(de->d_name));
    assert_int_equal(strlen(de->d_name), strlen(DM_LINK_PREFIX) + 16);
    char path[512], got[300];
    snprintf(path, sizeof path, "%s/%s", parent, de->d_name);
    ssize_t n = readlink(path, got, sizeof got - 1);
    assert_true(n > 0);
    got[n] = 0;
    assert_string_equal(got, target);
  }
  closedir(d);
  assert_int_equal(links, 1);
  assert_false(dm_is_link_name("t"));
  assert_false(dm_is_link_name(".dropped"));
  dm_unlink(parent, target);
  assert_int_equal(rmdir(parent), 0); /* the link was its only entry */
  /* a parent that cannot be made: an IO error naming it */
  snprintf(parent, sizeof parent, "%s/missing/db-lsm", base);
  assert_int_equal(dm_link(parent, target), LSM_IOERR);
  assert_non_null(strstr(st_errmsg(), "missing/db-lsm"));
  assert_int_equal(rmdir(base), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_version),
      cmocka_unit_test(test_damage),    cmocka_unit_test(test_name_limits),
      cmocka_unit_test(test_files),     cmocka_unit_test(test_version1),
      cmocka_unit_test(test_link),      cmocka_unit_test(test_nul),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
