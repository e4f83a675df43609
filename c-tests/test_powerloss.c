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
** point are printed on failure; LSMVTAB_POWERLOSS="<seed> <N>" reruns one point, files kept.
** A second case runs an SQL workload through an `lsm` table on the crash env (every crash
** point, 1 seed; 3 with LSMVTAB_LONG) and checks with a fresh connection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>

#include "rel_util.h"
#include "test_util.h"

int sqlite3_lsmvtab_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

#define BASE_BATCHES 30

static int run_batches = 300;
static char cur_run[256];
static long total_runs, total_bad, total_crashed;

static void on_alarm(int sig) {
  (void)sig;
  rel_hang_exit("power-loss", cur_run);
}

#define bad(...) rel_bad(&total_bad, __VA_ARGS__) /* rel_util.h */

/* Returns the batch whose commit failed (-1 none); m gets every acknowledged batch. */
static int workload(const char *dir, rel_model *m) {
  lsm_options o = rel_opts();
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
  lsm_options o = rel_opts();
  char why[600] = "";
  if (rel_verify(dir, &o, &m, unc, why, sizeof why)) bad("%s (%s): %s", cur_run, summary, why);
  else if (keep) print_message("%s: ok (%s)\n", cur_run, summary);
  alarm(0);
}

/* The base database every crash point starts from (<scratch>/base): BASE_BATCHES batches, a
** flush halfway. Returns the scratch root. */
static const char *make_base(const char *tag, rel_model *base) {
  const char *root = rel_scratch(tag);
  char bdir[4200];
  snprintf(bdir, sizeof bdir, "%s/base", root);
  rel_model_init(base);
  lsm_options o = rel_opts();
  lsm_db *db;
  rel_rmdir(bdir);
  if (lsm_open(bdir, &o, &db)) fail_msg("open: %s", lsm_errmsg());
  for (int b = 0; b < BASE_BATCHES; b++) {
    assert_int_equal(rel_write_batch(db, b), LSM_OK);
    rel_model_apply(base, b);
    if (b == BASE_BATCHES / 2) assert_int_equal(lsm_flush(db, 1), LSM_OK);
  }
  assert_int_equal(lsm_close(db), LSM_OK);
  return root;
}

static void test_power_loss(void **state) {
  (void)state;
  signal(SIGALRM, on_alarm);
  int lng = getenv("LSMVTAB_LONG") != NULL;
  if (lng) run_batches = 2000;
  rel_model base;
  const char *root = make_base("powerloss", &base);

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

/* ---- SQL level: the same through an `lsm` table (the vtab's commit path under power loss) ---- */
static char sqlfile[4200], tdir[4200], tbase[4200];

/* Transaction b (the rel_util batch b as SQL). SQLite status. */
static int sql_txn(sqlite3 *db, int b) {
  int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
  rel_op ops[4];
  int n = rel_batch_ops(b, ops);
  char v[1024];
  for (int j = 0; j < n && !rc; j++) {
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db, ops[j].del ? "DELETE FROM t WHERE k = ?1" : "INSERT OR REPLACE INTO t VALUES(?1, ?2)",
                            -1, &st, NULL);
    if (!rc) {
      sqlite3_bind_int(st, 1, ops[j].key);
      if (!ops[j].del) {
        rel_val(v, b, ops[j].key, ops[j].len);
        sqlite3_bind_text(st, 2, v, ops[j].len, SQLITE_TRANSIENT);
      }
      rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
  }
  if (!rc) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  if (rc && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static void sql_one(const rel_model *base, long n, uint64_t seed) {
  snprintf(cur_run, sizeof cur_run, "SQL: seed %llu, power fails at sync %ld", (unsigned long long)seed, n);
  assert_int_equal(rel_copy_dir(tbase, tdir), 0);
  rel_model m = *base;
  int unc = -1;
  alarm(30);
  rel_hook_crash(tdir, n, seed);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(sqlfile, &db), SQLITE_OK);
  for (int b = BASE_BATCHES; b < BASE_BATCHES + 120; b++) {
    if (sql_txn(db, b)) {
      unc = b;
      break;
    }
    rel_model_apply(&m, b);
    if (b == BASE_BATCHES + 60 && sqlite3_exec(db, "SELECT lsm_flush('t')", NULL, NULL, NULL)) break;
  }
  sqlite3_close(db); /* the last reference: the engine closes, the crash env is kept */
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
  /* a fresh connection must see every acknowledged transaction, all or nothing of the failed one */
  assert_int_equal(sqlite3_open(sqlfile, &db), SQLITE_OK);
  int got[REL_NKEYS];
  for (int i = 0; i < REL_NKEYS; i++) got[i] = -1;
  char why[600] = "";
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "SELECT k, v FROM t", -1, &st, NULL)) {
    snprintf(why, sizeof why, "reopen: %s", sqlite3_errmsg(db));
  } else {
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      int k = sqlite3_column_int(st, 0);
      if (k < 0 || k >= REL_NKEYS) {
        snprintf(why, sizeof why, "unexpected row %d", k);
        break;
      }
      got[k] = rel_val_batch(sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1), k);
    }
    if (!why[0] && rc != SQLITE_DONE) snprintf(why, sizeof why, "SELECT after reopen: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
  }
  if (!why[0]) rel_check_state(&m, unc, got, why, sizeof why);
  if (!why[0] && sqlite3_prepare_v2(db, "SELECT lsm_check('t')", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "ok"))
      snprintf(why, sizeof why, "lsm_check(): %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  if (why[0]) bad("%s (%s): %s", cur_run, summary, why);
  alarm(0);
}

static void test_power_loss_sql(void **state) {
  (void)state;
  signal(SIGALRM, on_alarm);
  sqlite3_auto_extension((void (*)(void))sqlite3_lsmvtab_init);
  const char *root = rel_scratch("sqlpowerloss");
  snprintf(sqlfile, sizeof sqlfile, "%s/p.db", root);
  snprintf(tdir, sizeof tdir, "%s/tdir", root);
  snprintf(tbase, sizeof tbase, "%s/tbase", root);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(sqlfile, &db), SQLITE_OK);
  char sql[9000];
  snprintf(sql, sizeof sql,
           "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT, dir='%s', sync=full, "
           "memtable_size='64KB', block_size=1024, io=sync)", tdir);
  if (sqlite3_exec(db, sql, NULL, NULL, NULL)) fail_msg("%s", sqlite3_errmsg(db));
  rel_model base;
  rel_model_init(&base);
  for (int b = 0; b < BASE_BATCHES; b++) {
    assert_int_equal(sql_txn(db, b), SQLITE_OK);
    rel_model_apply(&base, b);
  }
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
  assert_int_equal(rel_copy_dir(tdir, tbase), 0);
  total_runs = total_crashed = total_bad = 0;
  sql_one(&base, 0, 1); /* counts the syncs */
  long syncs = rel_last_syncs;
  assert_true(syncs > 50);
  int seeds = getenv("LSMVTAB_LONG") ? 3 : 1;
  total_runs = total_crashed = 0;
  for (int s = 1; s <= seeds; s++)
    for (long n = 1; n <= syncs; n += rel_stride()) sql_one(&base, n, (uint64_t)s * 7000003u + (uint64_t)n);
  print_message("SQL power loss: %ld crash points x %d seed(s) = %ld runs (%ld crashed), %ld violations\n", syncs,
                seeds, total_runs, total_crashed, total_bad);
  if (!getenv("LSMVTAB_KEEP")) rel_rmdir_tree(root);
  if (total_bad) fail_msg("%ld SQL power-loss runs lost committed transactions (first above)", total_bad);
}

/* ---- staged writes: lsm_stage_commit (lsm.h "Staged writes") under power loss ----
** The workload opens the base database, commits STAGE_NORMAL batches one by one, then stages
** STAGE_RUNS runs of STAGE_PER_RUN batches each (every run: the batches' last writes per key, in
** key order) and commits the stage. After the crash the database must hold the acknowledged
** batches (the one in flight all or nothing) and the stage all or nothing, and all of it when
** lsm_stage_commit returned LSM_OK; no run file may survive the reopen. */
#define STAGE_NORMAL 4
#define STAGE_RUNS 3
#define STAGE_PER_RUN 4
#define STAGE_FIRST 5000 /* batch numbers of the staged writes */

static int stage_run(lsm_stage *st, int r) {
  rel_model part;
  rel_model_init(&part);
  int touched[REL_NKEYS] = {0};
  for (int b = STAGE_FIRST + r * STAGE_PER_RUN; b < STAGE_FIRST + (r + 1) * STAGE_PER_RUN; b++) {
    rel_op ops[4];
    int n = rel_batch_ops(b, ops);
    for (int j = 0; j < n; j++) touched[ops[j].key] = 1;
    rel_model_apply(&part, b);
  }
  char k[16], v[1024];
  int rc = LSM_OK;
  for (int key = 0; key < REL_NKEYS && !rc; key++) {
    if (!touched[key]) continue;
    size_t kn = rel_key(k, key);
    if (part.val[key] < 0) {
      rc = lsm_stage_delete(st, k, kn);
    } else {
      rel_val(v, part.val[key], key, part.len[key]);
      rc = lsm_stage_put(st, k, kn, v, (size_t)part.len[key]);
    }
  }
  int erc = lsm_stage_run_end(st);
  return rc ? rc : erc;
}

/* -> -1 all acknowledged, else the batch in flight; *committed: the stage's commit returned OK */
static int stage_workload(const char *dir, rel_model *m, int *committed) {
  *committed = 0;
  lsm_options o = rel_opts();
  lsm_db *db;
  if (lsm_open(dir, &o, &db)) return -1;
  int unc = -1;
  for (int b = BASE_BATCHES; b < BASE_BATCHES + STAGE_NORMAL; b++) {
    if (rel_write_batch(db, b)) {
      unc = b;
      break;
    }
    rel_model_apply(m, b);
  }
  lsm_stage *st = NULL;
  if (unc < 0 && !lsm_stage_new(db, &st)) {
    int rc = LSM_OK;
    for (int r = 0; r < STAGE_RUNS && !rc; r++) rc = stage_run(st, r);
    if (!rc && !lsm_stage_commit(st)) *committed = 1;
  }
  lsm_stage_free(st);
  lsm_close(db);
  return unc;
}

static void stage_one(const char *root, const rel_model *base, long n, uint64_t seed) {
  char bdir[4200], dir[4200];
  snprintf(bdir, sizeof bdir, "%s/base", root);
  snprintf(dir, sizeof dir, "%s/run", root);
  snprintf(cur_run, sizeof cur_run, "stage: seed %llu, power fails at sync %ld", (unsigned long long)seed, n);
  assert_int_equal(rel_copy_dir(bdir, dir), 0);
  rel_model m = *base;
  alarm(30);
  rel_hook_crash(dir, n, seed);
  int committed;
  int unc = stage_workload(dir, &m, &committed);
  rel_hook_off();
  assert_non_null(rel_crash_env);
  int crashed = fio_crash_crashed(rel_crash_env);
  const char *sum = "";
  int rc = fio_crash_apply(rel_crash_env, &sum);
  rel_crash_release();
  if (rc) fail_msg("%s: %s", cur_run, lsm_errmsg());
  total_runs++;
  if (crashed) total_crashed++;
  /* the states allowed: m (+ the batch in flight), and, when no batch was in flight, m + stage */
  lsm_options o = rel_opts();
  lsm_db *db;
  if (lsm_open(dir, &o, &db)) {
    bad("%s: reopen: %s", cur_run, lsm_errmsg());
    alarm(0);
    return;
  }
  int got[REL_NKEYS];
  char why[600] = "";
  if (rel_read_all(db, got, why, sizeof why)) {
    bad("%s: %s %s", cur_run, why, lsm_errmsg());
  } else {
    rel_model with = m;
    for (int b = STAGE_FIRST; b < STAGE_FIRST + STAGE_RUNS * STAGE_PER_RUN; b++) rel_model_apply(&with, b);
    int eq_with = 1, eq_without = 0;
    for (int i = 0; i < REL_NKEYS; i++) eq_with &= got[i] == with.val[i];
    eq_without = !rel_check_state(&m, unc, got, why, sizeof why);
    if (committed && !eq_with) bad("%s: the stage's commit returned OK but it is not all there", cur_run);
    else if (!eq_with && !eq_without) bad("%s: neither the state before the stage nor after it: %s", cur_run, why);
    else if (eq_with && unc >= 0) bad("%s: staged writes present though they were never committed", cur_run);
  }
  char *rep = NULL;
  if (lsm_check(db, &rep)) bad("%s: lsm_check: %.300s", cur_run, rep ? rep : lsm_errmsg());
  lsm_free(rep);
  lsm_close(db);
  if (tu_count_files(dir, ".stage")) bad("%s: %d run files left after reopen", cur_run, tu_count_files(dir, ".stage"));
  alarm(0);
}

static void test_power_loss_stage(void **state) {
  (void)state;
  signal(SIGALRM, on_alarm);
  rel_model base;
  const char *root = make_base("powerloss-stage", &base);
  total_runs = total_crashed = total_bad = 0;
  stage_one(root, &base, 0, 7); /* no crash: counts the syncs, and the commit works */
  long syncs = rel_last_syncs;
  print_message("power loss (stage): the workload does %ld syncs\n", syncs);
  assert_true(syncs > 10);
  int seeds = getenv("LSMVTAB_LONG") ? 5 : 2;
  for (int s = 1; s <= seeds; s++)
    for (long n = 1; n <= syncs; n++) stage_one(root, &base, n, (uint64_t)s * 7919u + (uint64_t)n);
  print_message("power loss (stage): %ld runs (%ld crashed), %ld violations\n", total_runs, total_crashed,
                total_bad);
  rel_rmdir_tree(root);
  if (total_bad) fail_msg("%ld power-loss runs broke the stage's all-or-nothing commit (first above)", total_bad);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_power_loss),
      cmocka_unit_test(test_power_loss_sql),
      cmocka_unit_test(test_power_loss_stage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
