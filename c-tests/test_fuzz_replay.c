/* Fuzz regression replay (issue 8, item 5): every file of fuzz/corpus/<target>/ (seeds, and each
** input that ever crashed a target, kept as a regression seed) runs once through its target's
** LLVMFuzzerTestOneInput, compiled here without libFuzzer (the sources are included with the
** entry point renamed). A crash, a sanitizer report (make asan) or an abort() from a target's
** own consistency checks fails the test. One case per target; the corpus is found through
** LSMVTAB_ROOT (set by the runner; default: the cwd's ../../..). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>

#include "rel_util.h" /* the link wraps fio_env_new (Makefile REL_TESTS); unused here */

#define LLVMFuzzerTestOneInput fuzz_block_one
#include "../fuzz/fuzz_block.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_sst_one
#include "../fuzz/fuzz_sst.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_wal_one
#include "../fuzz/fuzz_wal.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_manifest_one
#include "../fuzz/fuzz_manifest.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_keyenc_one
#include "../fuzz/fuzz_keyenc.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_vtopts_one
#include "../fuzz/fuzz_vtopts.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_dropmark_one
#include "../fuzz/fuzz_dropmark.c"
#undef LLVMFuzzerTestOneInput

static void replay(const char *target, int (*one)(const uint8_t *, size_t)) {
  const char *root = getenv("LSMVTAB_ROOT");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", root ? root : "../../..", target);
  DIR *d = opendir(dir);
  if (!d) fail_msg("no corpus directory %s (set LSMVTAB_ROOT to the repository)", dir);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(sz > 0 ? (size_t)sz : 1);
    assert_non_null(p);
    size_t got = fread(p, 1, (size_t)sz, f);
    fclose(f);
    one(p, got);
    free(p);
    n++;
  }
  closedir(d);
  print_message("%s: %d corpus inputs replayed\n", target, n);
  assert_true(n > 0);
}

static void test_block(void **s) { (void)s; replay("block", fuzz_block_one); }
static void test_sst(void **s) { (void)s; replay("sst", fuzz_sst_one); }
static void test_wal(void **s) { (void)s; replay("wal", fuzz_wal_one); }
static void test_manifest(void **s) { (void)s; replay("manifest", fuzz_manifest_one); }
static void test_keyenc(void **s) { (void)s; replay("keyenc", fuzz_keyenc_one); }
static void test_vtopts(void **s) { (void)s; replay("vtopts", fuzz_vtopts_one); }
static void test_dropmark(void **s) { (void)s; replay("dropmark", fuzz_dropmark_one); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_block),   cmocka_unit_test(test_sst),    cmocka_unit_test(test_wal),
      cmocka_unit_test(test_manifest), cmocka_unit_test(test_keyenc), cmocka_unit_test(test_vtopts),
      cmocka_unit_test(test_dropmark),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
