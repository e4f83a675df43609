/* Power-loss campaign (issue 8, item 2), through the crash-simulating backend (fio_crash.h).
** A workload (open + recovery of a small database, sync=full batch commits, tiny memtables so
** flushes, WAL switches, manifest edits and compactions happen, an explicit flush and a manual
** compaction, close) runs once per sync N: at the N-th sync (file or directory) the power fails;
** the unsynced writes are then kept, dropped or garbled at random, renames/deletes since the last
** directory sync partly undone, and files created since may vanish (seeded). Reopening the
** database (plain env) must give every batch acknowledged before the crash, all or nothing of
** the batch in flight, nothing else, and lsm_check must be clean.
** Default (make test): every crash point of the workload, 1 seed. LSMVTAB_LONG=1 (make
** powerloss-test): a longer workload (>= 2,000 crash points) x 3 seeds. The seed and the crash
** point are printed on failure; LSMVTAB_POWERLOSS="<seed> <N>" reruns one point, files kept. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>

#include "rel_util.h"

#define BASE_BATCHES 30

static int run_batches = 300;
static char cur_run[256];
static long total_runs, total_bad, total_crashed;

static void on_alarm(int sig) {
  (void)sig;
  char m[400];
  int n = snprintf(m, sizeof m, "HANG (30 s) in power-loss run: %s\n", cur_run);
  if (write(2, m, (size_t)n) < 0) {}
  _exit(1);
}

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...) {
  if (total_bad++ >= 12) return;
  va_list ap;
  va_start(ap, fmt);
  char m[1200];
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  print_message("VIOLATION: %s\n", m);
}

static lsm_options opts(void) {
  lsm_options o;
  lsm_options_default(&o);
  o.memtable_size = 64u << 10;
  o.sync = LSM_SYNC_FULL;
  o.io = LSM_IO_SYNC;
  o.block_size = 1024;
  o.cache_size = 64u << 10;
  o.l0_compaction_trigger = 2;
  o.target_file_size = 64u << 10;
  o.level1_size = 128u << 10;
  return o;
}

/* Returns the batch whose commit failed (-1 none); m gets every acknowledged batch. */
static int workload(const char *dir, rel_model *m) {
  lsm_options o = opts();
  lsm_db *db;
  if (lsm_open(dir, &o, &db)) return -1;
  int unc = -1;
  for (int b = BASE_BATCHES; b < BASE_BATCHES + run_batches; b++) {
    if (rel_write_batch(db, b)) {
      unc = b;
      break;
    }
    rel_model_apply(m, b);
    if (b == BASE_BATCHES + run_batches / 2 && lsm_flush(db, 1)) break;
  }
  if (unc < 0) lsm_compact_range(db, NULL, 0, NULL, 0);
  lsm_close(db);
  return unc;
}

static void one(const char *root, const rel_model *base, long n, uint64_t seed, int keep) {
  char bdir[4200], dir[4200];
  snprintf(bdir, sizeof bdir, "%s/base", root);
  snprintf(dir, sizeof dir, "%s/run", root);
  snprintf(cur_run, sizeof cur_run, "seed %llu, power fails at sync %ld", (unsigned long long)seed, n);
  assert_int_equal(rel_copy_dir(bdir, dir), 0);
  rel_model m = *base;
  alarm(30);
  rel_hook_crash(dir, n, seed);
  int unc = workload(dir, &m);
  rel_hook_off();
  assert_non_null(rel_crash_env);
  int crashed = fio_crash_crashed(rel_crash_env);
  const char *sum = "";
  int rc = fio_crash_apply(rel_crash_env, &sum);
  char summary[300];
  snprintf(summary, sizeof summary, "%s", sum);
  rel_crash_release();
  if (rc) fail_msg("%s: %s", cur_run, lsm_errmsg());
  total_runs++;
  if (crashed) total_crashed++;
  lsm_options o = opts();
  char why[600] = "";
  if (rel_verify(dir, &o, &m, unc, why, sizeof why)) bad("%s (%s): %s", cur_run, summary, why);
  else if (keep) print_message("%s: ok (%s)\n", cur_run, summary);
  alarm(0);
}

static void test_power_loss(void **state) {
  (void)state;
  signal(SIGALRM, on_alarm);
  int lng = getenv("LSMVTAB_LONG") != NULL;
  if (lng) run_batches = 2000;
  const char *root = rel_scratch("powerloss");
  char bdir[4200];
  snprintf(bdir, sizeof bdir, "%s/base", root);
  rel_model base;
  rel_model_init(&base);
  lsm_options o = opts();
  lsm_db *db;
  rel_rmdir(bdir);
  if (lsm_open(bdir, &o, &db)) fail_msg("open: %s", lsm_errmsg());
  for (int b = 0; b < BASE_BATCHES; b++) {
    assert_int_equal(rel_write_batch(db, b), LSM_OK);
    rel_model_apply(&base, b);
    if (b == BASE_BATCHES / 2) assert_int_equal(lsm_flush(db, 1), LSM_OK);
  }
  assert_int_equal(lsm_close(db), LSM_OK);

  const char *only = getenv("LSMVTAB_POWERLOSS");
  if (only) {
    unsigned long long seed;
    long n;
    assert_int_equal(sscanf(only, "%llu %ld", &seed, &n), 2);
    one(root, &base, n, seed, 1);
    print_message("files in %s/run\n", root);
    if (total_bad) fail_msg("violation");
    return;
  }
  one(root, &base, 0, 1, 0); /* no crash: counts the syncs */
  long syncs = rel_last_syncs;
  print_message("power loss: the workload does %ld syncs (file + directory)\n", syncs);
  assert_true(syncs > 100);
  int seeds = lng ? 3 : 1;
  total_runs = total_crashed = 0;
  for (int s = 1; s <= seeds; s++)
    for (long n = 1; n <= syncs; n += rel_stride()) one(root, &base, n, (uint64_t)s * 1000003u + (uint64_t)n, 0);
  print_message("power loss: %ld crash points x %d seed(s) = %ld runs (%ld crashed), %ld violations\n", syncs,
                seeds, total_runs, total_crashed, total_bad);
  if (!getenv("LSMVTAB_KEEP")) rel_rmdir_tree(root); /* LSMVTAB_KEEP=1 keeps the files */
  if (total_bad) fail_msg("%ld power-loss runs lost acknowledged data or broke the database (first above)", total_bad);
  rel_rmdir_tree(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_power_loss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
