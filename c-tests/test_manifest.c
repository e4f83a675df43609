/* Tests of engine/manifest.c: version edit round trip, malformed edits rejected, the manifest
** log (many edits, torn tail at every length dropped, a flipped byte before the tail reported
** as corruption, bad header), CURRENT switch, on both fio backends where available. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <unistd.h>

#include "ikey.h"
#include "manifest.h"
#include "mm.h"
#include "status.h"

static void make_edit(man_edit *e, int i) {
  man_edit_init(e);
  if (i % 2) man_edit_set_log(e, 100 + i);
  man_edit_set_next_file(e, 200 + i);
  if (i % 3) man_edit_set_last_seq(e, (uint64_t)1 << (i % 50));
  for (int j = 0; j < i % 4; j++) assert_int_equal(man_edit_del(e, j % MAN_LEVELS, 1000 + j), LSM_OK);
  for (int j = 0; j < i % 5; j++) {
    uint8_t s[40], l[40];
    char k[24];
    int n = snprintf(k, sizeof k, "key-%d-%d", i, j);
    size_t sn = ikey_encode(s, (const uint8_t *)k, (size_t)n, 5, IKEY_VAL);
    size_t ln = ikey_encode(l, (const uint8_t *)k, (size_t)n, 3, IKEY_DEL);
    assert_int_equal(man_edit_add(e, j % MAN_LEVELS, 3000 + j, 4096 * (uint64_t)j, s, sn, l, ln), LSM_OK);
  }
}

static void check_equal(const man_edit *a, const man_edit *b) {
  assert_int_equal(a->has_log_number, b->has_log_number);
  if (a->has_log_number) assert_true(a->log_number == b->log_number);
  assert_int_equal(a->has_next_file, b->has_next_file);
  if (a->has_next_file) assert_true(a->next_file == b->next_file);
  assert_int_equal(a->has_last_seq, b->has_last_seq);
  if (a->has_last_seq) assert_true(a->last_seq == b->last_seq);
  assert_int_equal(a->ndel, b->ndel);
  for (int i = 0; i < a->ndel; i++) {
    assert_int_equal(a->dels[i].level, b->dels[i].level);
    assert_true(a->dels[i].number == b->dels[i].number);
  }
  assert_int_equal(a->nadd, b->nadd);
  for (int i = 0; i < a->nadd; i++) {
    const man_file *x = &a->adds[i], *y = &b->adds[i];
    assert_int_equal(x->level, y->level);
    assert_true(x->number == y->number && x->size == y->size);
    assert_memory_equal(x->smallest, y->smallest, x->smallest_n);
    assert_int_equal(x->smallest_n, y->smallest_n);
    assert_memory_equal(x->largest, y->largest, x->largest_n);
    assert_int_equal(x->largest_n, y->largest_n);
  }
}

static void test_edit_roundtrip(void **state) {
  (void)state;
  for (int i = 0; i < 40; i++) {
    man_edit e, d;
    make_edit(&e, i);
    cd_buf b = {0};
    assert_int_equal(man_edit_encode(&e, &b), LSM_OK);
    man_edit_init(&d);
    assert_int_equal(man_edit_decode(b.p, b.n, &d), LSM_OK);
    check_equal(&e, &d);
    man_edit_free(&d);
    /* every strict prefix that cuts a field is rejected, never read past */
    for (size_t cut = 0; cut < b.n; cut++) {
      uint8_t *copy = mm_dup(b.p, cut);
      man_edit_init(&d);
      int rc = man_edit_decode(copy, cut, &d);
      /* a cut on a field boundary is a valid shorter edit; otherwise corrupt */
      assert_true(rc == LSM_OK || rc == LSM_CORRUPT);
      man_edit_free(&d);
      mm_free(copy);
    }
    cd_buf_free(&b);
    man_edit_free(&e);
  }
  /* unknown tag and bad level */
  uint8_t bad1[] = {99, 1};
  uint8_t bad2[] = {4, 9, 1};
  man_edit d;
  man_edit_init(&d);
  assert_int_equal(man_edit_decode(bad1, sizeof bad1, &d), LSM_CORRUPT);
  assert_int_equal(man_edit_decode(bad2, sizeof bad2, &d), LSM_CORRUPT);
}

typedef struct collect {
  int n;
  int idx_base;
} collect;

static int check_cb(void *ctx, const man_edit *e) {
  collect *c = ctx;
  man_edit want;
  make_edit(&want, c->idx_base + c->n);
  check_equal(&want, e);
  man_edit_free(&want);
  c->n++;
  return LSM_OK;
}

static void write_manifest(fio_env *env, const char *path, int n, uint64_t *sizes) {
  man_writer *w;
  unlink(path);
  assert_int_equal(man_create(env, path, &w), LSM_OK);
  sizes[0] = man_size(w);
  for (int i = 0; i < n; i++) {
    man_edit e;
    make_edit(&e, i);
    assert_int_equal(man_append(w, &e), LSM_OK);
    man_edit_free(&e);
    sizes[i + 1] = man_size(w);
  }
  assert_int_equal(man_close(w), LSM_OK);
}

static void run_log(int backend) {
  fio_env *env;
  if (fio_env_new(backend, &env) != LSM_OK) {
    print_message("backend %d unavailable: %s\n", backend, st_errmsg());
    return;
  }
  const char *path = "MANIFEST-000001";
  uint64_t sizes[21];
  write_manifest(env, path, 20, sizes);
  collect c = {0, 0};
  uint64_t dropped = 1;
  assert_int_equal(man_read(env, path, check_cb, &c, &dropped), LSM_OK);
  assert_int_equal(c.n, 20);
  assert_true(dropped == 0);

  /* torn tail: every truncation inside the last record drops exactly that record */
  for (uint64_t t = sizes[19]; t < sizes[20]; t++) {
    assert_int_equal(truncate(path, (off_t)t), 0);
    c.n = 0;
    assert_int_equal(man_read(env, path, check_cb, &c, &dropped), LSM_OK);
    assert_int_equal(c.n, 19);
    assert_true(dropped == t - sizes[19]);
  }
  /* zero-filled tail (a crash after the size grew but before the data landed) */
  write_manifest(env, path, 20, sizes);
  {
    FILE *f = fopen(path, "r+b");
    fseek(f, (long)sizes[19], SEEK_SET);
    for (uint64_t i = sizes[19]; i < sizes[20] + 100; i++) fputc(0, f);
    fclose(f);
    c.n = 0;
    assert_int_equal(man_read(env, path, check_cb, &c, &dropped), LSM_OK);
    assert_int_equal(c.n, 19);
  }
  /* garbage over the last record (unsynced pages after a power loss): a torn tail too */
  for (int variant = 0; variant < 3; variant++) {
    write_manifest(env, path, 20, sizes);
    FILE *f = fopen(path, "r+b");
    fseek(f, (long)sizes[19] + (variant == 2 ? 3 : 0), SEEK_SET);
    uint32_t x = 12345u + (uint32_t)variant;
    for (uint64_t i = sizes[19]; i < sizes[20] - (variant == 1 ? 5 : 0); i++) {
      x = x * 1103515245u + 12345u;
      fputc((int)(x >> 24), f);
    }
    fclose(f);
    c.n = 0;
    assert_int_equal(man_read(env, path, check_cb, &c, &dropped), LSM_OK);
    assert_int_equal(c.n, 19);
  }
  /* a flipped byte in any earlier record is corruption, never silently dropped */
  for (int r = 0; r < 19; r++) {
    write_manifest(env, path, 20, sizes);
    FILE *f = fopen(path, "r+b");
    long off = (long)(sizes[r] + (sizes[r + 1] - sizes[r]) / 2);
    fseek(f, off, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(ch ^ 0x40, f);
    fclose(f);
    c.n = 0;
    int rc = man_read(env, path, check_cb, &c, NULL);
    if (rc != LSM_CORRUPT) fail_msg("record %d (offset %ld): rc %d, %d edits read", r, off, rc, c.n);
    assert_int_equal(c.n, r);
  }
  /* bad header */
  write_manifest(env, path, 2, sizes);
  {
    FILE *f = fopen(path, "r+b");
    fputc('X', f);
    fclose(f);
    c.n = 0;
    assert_int_equal(man_read(env, path, check_cb, &c, NULL), LSM_CORRUPT);
  }
  unlink(path);
  fio_env_free(env);
}

static void test_log_sync(void **state) {
  (void)state;
  run_log(FIO_SYNC);
}
static void test_log_uring(void **state) {
  (void)state;
  run_log(FIO_URING);
}

static void test_current(void **state) {
  (void)state;
  fio_env *env;
  assert_int_equal(fio_env_new(FIO_SYNC, &env), LSM_OK);
  assert_int_equal(fio_mkdir(env, "cdir"), LSM_OK);
  uint64_t n = 0;
  assert_int_equal(man_get_current(env, "cdir", &n), LSM_CANTOPEN);
  assert_int_equal(man_set_current(env, "cdir", 7), LSM_OK);
  assert_int_equal(man_get_current(env, "cdir", &n), LSM_OK);
  assert_true(n == 7);
  assert_int_equal(man_set_current(env, "cdir", 1234567), LSM_OK);
  assert_int_equal(man_get_current(env, "cdir", &n), LSM_OK);
  assert_true(n == 1234567);
  FILE *f = fopen("cdir/CURRENT", "w");
  fputs("MANIFEST-12x\n", f);
  fclose(f);
  assert_int_equal(man_get_current(env, "cdir", &n), LSM_CORRUPT);
  f = fopen("cdir/CURRENT", "w");
  fputs("MANIFEST-000012", f); /* no newline: a torn write is impossible with write_atomic */
  fclose(f);
  assert_int_equal(man_get_current(env, "cdir", &n), LSM_CORRUPT);
  fio_env_free(env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_edit_roundtrip),
      cmocka_unit_test(test_log_sync),
      cmocka_unit_test(test_log_uring),
      cmocka_unit_test(test_current),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
