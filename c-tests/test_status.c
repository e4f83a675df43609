/* Tests of engine/status.c: messages, corruption site, errno mapping, per-thread isolation,
** and that a message may quote the previous one (st_err(rc, "...%s", st_errmsg())). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

static void test_message(void **state) {
  (void)state;
  assert_int_equal(st_err(LSM_ERROR, "bad option %s=%d", "block_size", 7), LSM_ERROR);
  assert_string_equal(st_errmsg(), "bad option block_size=7");
  st_clear();
  assert_string_equal(st_errmsg(), "");
}

static void test_message_quotes_previous(void **state) {
  (void)state;
  st_err(LSM_IOERR, "read failed");
  st_err(LSM_IOERR, "open table 12: %s", st_errmsg());
  assert_string_equal(st_errmsg(), "open table 12: read failed");
}

static void test_corrupt_site(void **state) {
  (void)state;
  int line = __LINE__ + 1;
  assert_int_equal(ST_CORRUPT("block %d", 3), LSM_CORRUPT);
  char want[64];
  snprintf(want, sizeof want, "corrupt (test_status.c:%d): block 3", line);
  assert_string_equal(st_errmsg(), want);
}

static void test_errno_map(void **state) {
  (void)state;
  assert_int_equal(st_errno(ENOSPC, LSM_IOERR_WRITE, "write %s", "x"), LSM_FULL);
  assert_non_null(strstr(st_errmsg(), "write x: "));
  assert_int_equal(st_errno(ENOENT, LSM_IOERR_READ, "open"), LSM_CANTOPEN);
  assert_int_equal(st_errno(EISDIR, LSM_IOERR_READ, "open"), LSM_CANTOPEN);
  assert_int_equal(st_errno(ENOMEM, LSM_IOERR_READ, "x"), LSM_NOMEM);
  assert_int_equal(st_errno(EIO, LSM_IOERR_FSYNC, "sync"), LSM_IOERR_FSYNC);
  assert_int_equal(LSM_PRIMARY(LSM_IOERR_FSYNC), LSM_IOERR);
  assert_string_equal(st_name(LSM_IOERR_FSYNC), "LSM_IOERR");
  assert_string_equal(st_name(LSM_CORRUPT), "LSM_CORRUPT");
}

static void *other_thread(void *arg) {
  st_err(LSM_BUSY, "from the other thread");
  *(int *)arg = strcmp(st_errmsg(), "from the other thread") == 0;
  return NULL;
}

static void test_per_thread(void **state) {
  (void)state;
  st_err(LSM_ERROR, "mine");
  int ok = 0;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, other_thread, &ok), 0);
  pthread_join(t, NULL);
  assert_true(ok);
  assert_string_equal(st_errmsg(), "mine");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_message),   cmocka_unit_test(test_message_quotes_previous),
      cmocka_unit_test(test_corrupt_site), cmocka_unit_test(test_errno_map),
      cmocka_unit_test(test_per_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
