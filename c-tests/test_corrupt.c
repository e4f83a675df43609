/* Corruption campaign (issue 8, item 4). A database with SSTs (after flushes and a compaction),
** a WAL of 20 records, a MANIFEST and CURRENT is copied, one file of the copy is damaged (a bit
** flipped, a byte zeroed, or the file truncated at an offset), and the copy is opened, scanned,
** read key by key (lsm_get) and checked (lsm_check), with a 5 s limit. Outcomes:
**   right     the full acknowledged state and lsm_check ok
**   corrupt   some call returned LSM_CORRUPT, with a message naming the damaged file
**   prefix(c) the state after the first c batches (what a torn WAL tail recovers to)
**   wrong     anything else: rows that are not a state the database ever acknowledged, gets that
**             disagree with the scan, another error code, or a crash/hang (the test dies).
** The rules, from the formats in sst.h / wal.h / manifest.h:
**   SST       every byte is inside a checksummed block or the checksummed footer: every change
**             must be corrupt (a bit flip inside a checksummed block is always detected).
**   WAL       a change in the file header or in a record that is followed by a good record must
**             be corrupt; a change in the last record may also be a torn tail (prefix of all but
**             it); a truncation inside record i recovers exactly the records before i (a torn
**             tail recovers to a prefix).
**   MANIFEST  a change must be corrupt, except in the last record, which the format treats as
**             a possibly torn tail (see the counts printed; truncations likewise).
**   CURRENT   any change must be corrupt or harmless (right).
** An unchanged file (zeroing a zero byte) must give right. LSMVTAB_LONG=1 tries more offsets.
** The seed is printed; LSMVTAB_SEED sets it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>

#include "coding.h"
#include "wal.h"
#include "rel_util.h"
#include "test_util.h"

int sqlite3_lsmvtab_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

#define NB 100      /* batches in the base database */
#define WAL_FROM 80 /* batches WAL_FROM.. are in the WAL only */

enum { K_SST, K_WAL, K_MAN, K_CUR };
enum { M_FLIP, M_ZERO, M_TRUNC };
enum { O_RIGHT, O_CORRUPT, O_PREFIX, O_WRONG };
static const char *mut_name[] = {"flip", "zero", "truncate"};

static rel_model after[NB + 1]; /* after[c]: state after batches 0..c-1 */
static char cur_trial[512];
static char fail_first[12][700];
static long n_trials, n_bad, n_out[4], n_kind[4], n_man_tail_prefix;

static void on_alarm(int sig) {
  (void)sig;
  char m[700];
  int n = snprintf(m, sizeof m, "HANG (5 s) on corrupted database: %s\n", cur_trial);
  if (write(2, m, (size_t)n) < 0) {}
  _exit(1);
}

static lsm_options opts(void) {
  lsm_options o;
  lsm_options_default(&o);
  o.memtable_size = 1u << 20; /* only the explicit flushes: the WAL holds exactly WAL_FROM.. */
  o.sync = LSM_SYNC_FULL;
  o.io = LSM_IO_SYNC;
  o.block_size = 512;
  o.cache_size = 0;
  o.target_file_size = 64u << 10;
  return o;
}

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...) {
  if (n_bad < 12 || getenv("LSMVTAB_VERBOSE")) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fail_first[n_bad % 12], sizeof fail_first[0], fmt, ap);
    va_end(ap);
    print_message("VIOLATION: %s\n", fail_first[n_bad % 12]);
  }
  n_bad++;
}

/* Which acknowledged state `got` is: c with after[c] == got, else -1. */
static int state_of(const int *got) {
  for (int c = NB; c >= 0; c--) {
    int eq = 1;
    for (int i = 0; i < REL_NKEYS && eq; i++) eq = got[i] == after[c].val[i];
    if (eq) return c;
  }
  return -1;
}

/* Open, scan, get every key, check. Returns O_RIGHT/O_CORRUPT/O_PREFIX/O_WRONG; *c = the state
** for O_PREFIX; msg = the error message or what is wrong. */
static int probe(const char *dir, int *c, char *msg, size_t msgn) {
  lsm_options o = opts();
  lsm_db *db;
  msg[0] = 0;
  int rc = lsm_open(dir, &o, &db);
  if (rc) {
    snprintf(msg, msgn, "open: %s: %s", st_name(rc), lsm_errmsg());
    return LSM_PRIMARY(rc) == LSM_CORRUPT ? O_CORRUPT : O_WRONG;
  }
  int got[REL_NKEYS], out = O_RIGHT;
  char why[256] = "";
  rc = rel_read_all(db, got, why, sizeof why);
  if (rc == LSM_ERROR && why[0]) {
    snprintf(msg, msgn, "scan: %s", why);
    out = O_WRONG;
  } else if (rc) {
    snprintf(msg, msgn, "scan: %s: %s", st_name(rc), lsm_errmsg());
    out = LSM_PRIMARY(rc) == LSM_CORRUPT ? O_CORRUPT : O_WRONG;
  }
  for (int k = 0; k < REL_NKEYS && out == O_RIGHT; k++) {
    char kb[16];
    void *v = NULL;
    size_t vn = 0;
    rc = lsm_get(db, NULL, kb, rel_key(kb, k), &v, &vn);
    int b = rc == LSM_OK ? rel_val_batch(v, vn, k) : -1;
    lsm_free(v);
    if (rc && rc != LSM_NOTFOUND) {
      snprintf(msg, msgn, "get k%03d: %s: %s", k, st_name(rc), lsm_errmsg());
      out = LSM_PRIMARY(rc) == LSM_CORRUPT ? O_CORRUPT : O_WRONG;
    } else if (b != got[k]) {
      snprintf(msg, msgn, "get k%03d gives batch %d, the scan %d", k, b, got[k]);
      out = O_WRONG;
    }
  }
  if (out == O_RIGHT) {
    char *rep = NULL;
    rc = lsm_check(db, &rep);
    if (rc) {
      snprintf(msg, msgn, "lsm_check: %s: %.300s", st_name(rc), rep ? rep : lsm_errmsg());
      out = LSM_PRIMARY(rc) == LSM_CORRUPT ? O_CORRUPT : O_WRONG;
    }
    lsm_free(rep);
  }
  lsm_close(db);
  if (out == O_RIGHT) {
    *c = state_of(got);
    if (*c == NB) return O_RIGHT;
    if (*c >= 0) return O_PREFIX;
    snprintf(msg, msgn, "the rows are no state the database ever acknowledged");
    return O_WRONG;
  }
  return out;
}

/* WAL record layout of the base log: rec_start[i], rec_end[i]. */
static long wal_rec_start[256], wal_rec_end[256];
static int wal_nrec;

static void parse_wal(const uint8_t *p, size_t n) {
  size_t off = WAL_HEADER;
  wal_nrec = 0;
  while (off + WAL_REC_HEADER <= n && wal_nrec < 256) {
    uint32_t len = cd_get_fixed32(p + off);
    wal_rec_start[wal_nrec] = (long)off;
    off += WAL_REC_HEADER + len;
    wal_rec_end[wal_nrec++] = (long)off;
  }
}

static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *p = malloc((size_t)sz + 1);
  *n = 0;
  if (p) *n = fread(p, 1, (size_t)sz, f);
  fclose(f);
  return p;
}

/* Damage run/name and judge the outcome. */
static void trial(const char *root, const char *name, int kind, const uint8_t *orig, size_t size, int mut,
                  size_t off, int bit) {
  char base[4200], run[4200], path[8400];
  snprintf(base, sizeof base, "%s/base", root);
  snprintf(run, sizeof run, "%s/run", root);
  assert_int_equal(rel_copy_dir(base, run), 0);
  snprintf(path, sizeof path, "%s/%s", run, name);
  snprintf(cur_trial, sizeof cur_trial, "%s %s at offset %zu bit %d (size %zu), seed in the header", name,
           mut_name[mut], off, bit, size);
  int changed = 1;
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  if (mut == M_TRUNC) {
    assert_int_equal(ftruncate(fd, (off_t)off), 0);
  } else {
    uint8_t b = orig[off];
    uint8_t nb = mut == M_FLIP ? (uint8_t)(b ^ (1u << bit)) : 0;
    changed = nb != b;
    assert_int_equal(pwrite(fd, &nb, 1, (off_t)off), 1);
  }
  close(fd);
  alarm(5);
  int c = -1;
  char msg[600];
  int out = probe(run, &c, msg, sizeof msg);
  alarm(0);
  n_trials++;
  n_out[out]++;
  n_kind[kind]++;
  if (out == O_WRONG) {
    bad("%s: %s", cur_trial, msg);
    return;
  }
  /* a damaged manifest may also be reported through what it names ("table file N.sst of the
  ** manifest is missing") */
  if (out == O_CORRUPT && !strstr(msg, name) && !(kind == K_MAN && strstr(msg, "manifest"))) {
    bad("%s: LSM_CORRUPT does not name the file: %s", cur_trial, msg);
    return;
  }
  if (!changed) {
    if (out != O_RIGHT) bad("%s: unchanged file, outcome %d: %s", cur_trial, out, msg);
    return;
  }
  switch (kind) {
  case K_SST:
    if (out != O_CORRUPT) bad("%s: damaged table not detected (outcome %s)", cur_trial, out == O_RIGHT ? "right" : "prefix");
    break;
  case K_CUR:
    if (out == O_PREFIX) bad("%s: damaged CURRENT gives an older state (%d batches)", cur_trial, c);
    break;
  case K_MAN: {
    /* the last record of the manifest may be taken for a torn tail: allowed, but counted */
    if (out == O_PREFIX) n_man_tail_prefix++;
    break;
  }
  case K_WAL: {
    int rec = -1; /* the record holding off */
    for (int i = 0; i < wal_nrec; i++)
      if ((long)off >= wal_rec_start[i] && (long)off < wal_rec_end[i]) rec = i;
    if (mut == M_TRUNC) {
      int keep = 0;
      for (int i = 0; i < wal_nrec; i++)
        if (wal_rec_end[i] <= (long)off) keep++;
      int want = WAL_FROM + keep;
      if (out == O_CORRUPT) bad("%s: a torn WAL tail must recover to a prefix: %s", cur_trial, msg);
      else if ((out == O_RIGHT ? NB : c) != want)
        bad("%s: torn WAL recovered %d batches, expected %d", cur_trial, out == O_RIGHT ? NB : c, want);
    } else if (rec < 0 || rec < wal_nrec - 1) {
      if (out != O_CORRUPT) bad("%s: damaged WAL %s not detected (%s)", cur_trial, rec < 0 ? "header" : "record",
                                out == O_RIGHT ? "right" : "prefix");
    } else if (out == O_RIGHT) {
      bad("%s: damaged last WAL record not detected", cur_trial);
    } else if (out == O_PREFIX && c != NB - 1) {
      bad("%s: damaged last WAL record: recovered %d batches, expected %d", cur_trial, c, NB - 1);
    }
    break;
  }
  }
}

static void test_corruption_campaign(void **state) {
  (void)state;
  signal(SIGALRM, on_alarm);
  const char *se = getenv("LSMVTAB_SEED");
  uint64_t seed = se ? strtoull(se, NULL, 10) : 20261120;
  rng = seed | 1;
  print_message("corruption campaign: seed %llu\n", (unsigned long long)seed);
  int lng = getenv("LSMVTAB_LONG") != NULL;
  const char *root = rel_scratch("corrupt");
  char base[4200];
  snprintf(base, sizeof base, "%s/base", root);
  rel_model_init(&after[0]);
  for (int b = 0; b < NB; b++) {
    after[b + 1] = after[b];
    rel_model_apply(&after[b + 1], b);
  }
  lsm_options o = opts();
  lsm_db *db;
  rel_rmdir(base);
  if (lsm_open(base, &o, &db)) fail_msg("open: %s", lsm_errmsg());
  for (int b = 0; b < NB; b++) {
    assert_int_equal(rel_write_batch(db, b), LSM_OK);
    if (b == 29 || b == WAL_FROM - 1) assert_int_equal(lsm_flush(db, 1), LSM_OK);
    if (b == 59) assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0), LSM_OK);
  }
  assert_int_equal(lsm_close(db), LSM_OK);
  int c;
  char msg[600];
  char run[4200];
  snprintf(run, sizeof run, "%s/run", root);
  assert_int_equal(rel_copy_dir(base, run), 0); /* probe a copy: opening recovers (rewrites) */
  if (probe(run, &c, msg, sizeof msg) != O_RIGHT) fail_msg("the undamaged base is not right: %s", msg);

  char **names;
  int nn;
  fio_env *env;
  assert_int_equal(fio_env_new(FIO_SYNC, &env), LSM_OK);
  assert_int_equal(fio_list(env, base, &names, &nn), LSM_OK);
  fio_env_free(env);
  int per_file = (lng ? 4000 : 1300) / rel_stride();
  for (int i = 0; i < nn; i++) {
    int kind;
    if (strstr(names[i], ".sst")) kind = K_SST;
    else if (strstr(names[i], ".log")) kind = K_WAL;
    else if (!strncmp(names[i], "MANIFEST-", 9)) kind = K_MAN;
    else if (!strcmp(names[i], "CURRENT")) kind = K_CUR;
    else continue;
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", base, names[i]);
    size_t size = 0;
    uint8_t *orig = slurp(path, &size);
    assert_non_null(orig);
    if (kind == K_WAL) {
      parse_wal(orig, size);
      if (wal_nrec != NB - WAL_FROM || wal_rec_end[wal_nrec - 1] != (long)size)
        fail_msg("%s: expected %d records, parsed %d", names[i], NB - WAL_FROM, wal_nrec);
    }
    long before = n_trials;
    /* small files: every bit / byte / cut; large ones: random offsets, plus every record
    ** boundary of the WAL and the footer/ends of every file */
    if ((long)size * 8 <= per_file && rel_stride() == 1) {
      for (size_t off = 0; off < size; off++) {
        for (int bit = 0; bit < 8; bit++) trial(root, names[i], kind, orig, size, M_FLIP, off, bit);
        trial(root, names[i], kind, orig, size, M_ZERO, off, 0);
        trial(root, names[i], kind, orig, size, M_TRUNC, off, 0);
      }
    } else {
      for (int t = 0; t < per_file; t++) {
        size_t off = (size_t)(rnd() % size);
        int r = (int)(rnd() % 10);
        int mut = r < 7 ? M_FLIP : r < 9 ? M_ZERO : M_TRUNC;
        trial(root, names[i], kind, orig, size, mut, off, (int)(rnd() % 8));
      }
      for (size_t off = size > 80 ? size - 80 : 0; off < size; off++)
        trial(root, names[i], kind, orig, size, M_FLIP, off, (int)(rnd() % 8));
      if (kind == K_WAL)
        for (int r = 0; r < wal_nrec; r++) {
          trial(root, names[i], kind, orig, size, M_TRUNC, (size_t)wal_rec_start[r], 0);
          trial(root, names[i], kind, orig, size, M_TRUNC, (size_t)wal_rec_start[r] + 1, 0);
          trial(root, names[i], kind, orig, size, M_TRUNC, (size_t)wal_rec_end[r] - 1, 0);
        }
    }
    print_message("  %-16s %7zu bytes: %ld damaged copies\n", names[i], size, n_trials - before);
    free(orig);
  }
  fio_list_free(names, nn);
  print_message("corruption campaign: %ld damaged copies (sst %ld, wal %ld, manifest %ld, current %ld); "
                "outcomes: right %ld, corrupt %ld, prefix %ld (of which manifest tail %ld), wrong %ld; "
                "%ld violations\n",
                n_trials, n_kind[K_SST], n_kind[K_WAL], n_kind[K_MAN], n_kind[K_CUR], n_out[O_RIGHT],
                n_out[O_CORRUPT], n_out[O_PREFIX], n_man_tail_prefix, n_out[O_WRONG], n_bad);
  if (rel_stride() == 1) assert_true(n_trials >= 5000);
  if (!getenv("LSMVTAB_KEEP")) rel_rmdir_tree(root); /* LSMVTAB_KEEP=1 keeps the files */
  if (n_bad) fail_msg("%ld damaged copies were handled wrongly (first ones above; seed %llu)", n_bad,
                      (unsigned long long)seed);
  rel_rmdir_tree(root);
}

/* SQL level: a bit flipped in a table file of an `lsm` table gives SQLITE_CORRUPT naming the
** file (or lsm_check() reporting it), never wrong rows. 300 damaged copies. */
static void test_sql_corruption(void **state) {
  (void)state;
  signal(SIGALRM, on_alarm);
  sqlite3_auto_extension((void (*)(void))sqlite3_lsmvtab_init);
  const char *root = rel_scratch("sqlcorrupt");
  char dbfile[4200], tdir[4200], tbase[4200];
  snprintf(dbfile, sizeof dbfile, "%s/c.db", root);
  snprintf(tdir, sizeof tdir, "%s/tdir", root);
  snprintf(tbase, sizeof tbase, "%s/tbase", root);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(dbfile, &db), SQLITE_OK);
  char sql[9000];
  snprintf(sql, sizeof sql,
           "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT, dir='%s', block_size=512, "
           "compression=none);"
           "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 400) "
           "INSERT INTO t SELECT x, printf('row %%d %%.*c', x, x %% 50, 'r') FROM s;"
           "SELECT lsm_flush('t');", tdir);
  if (sqlite3_exec(db, sql, NULL, NULL, NULL)) fail_msg("%s", sqlite3_errmsg(db));
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
  assert_int_equal(rel_copy_dir(tdir, tbase), 0);
  char **names;
  int nn;
  fio_env *env;
  assert_int_equal(fio_env_new(FIO_SYNC, &env), LSM_OK);
  assert_int_equal(fio_list(env, tbase, &names, &nn), LSM_OK);
  fio_env_free(env);
  char sst[64] = "";
  for (int i = 0; i < nn; i++)
    if (strstr(names[i], ".sst")) snprintf(sst, sizeof sst, "%s", names[i]);
  fio_list_free(names, nn);
  assert_true(sst[0]);
  char path[8400];
  snprintf(path, sizeof path, "%s/%s", tdir, sst);
  long detected = 0, trials = 300 / rel_stride();
  for (long t = 0; t < trials; t++) {
    assert_int_equal(rel_copy_dir(tbase, tdir), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    off_t off = (off_t)(rnd() % (uint64_t)st.st_size);
    int fd = open(path, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= (uint8_t)(1u << (rnd() % 8));
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
    snprintf(cur_trial, sizeof cur_trial, "SQL: %s flip at offset %lld", sst, (long long)off);
    alarm(5);
    assert_int_equal(sqlite3_open(dbfile, &db), SQLITE_OK);
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db, "SELECT k, v FROM t", -1, &q, NULL);
    int rows = 0, bad_row = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
      char want[128];
      int k = sqlite3_column_int(q, 0);
      /* SQLite printf %.*c with precision 0 still prints the character once */
      snprintf(want, sizeof want, "row %d %.*s", k, k % 50 ? k % 50 : 1, "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr");
      if (strcmp(want, (const char *)sqlite3_column_text(q, 1))) bad_row = 1;
      rows++;
      rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(db));
    int ext = sqlite3_extended_errcode(db);
    sqlite3_finalize(q);
    if (bad_row) fail_msg("%s: a wrong row was returned", cur_trial);
    if (rc) {
      if ((ext & 0xff) != SQLITE_CORRUPT) fail_msg("%s: SELECT gave %d (%s), expected SQLITE_CORRUPT", cur_trial, ext, msg);
      if (!strstr(msg, sst)) fail_msg("%s: SQLITE_CORRUPT does not name the file: %s", cur_trial, msg);
      detected++;
    } else {
      if (rows != 400) fail_msg("%s: %d rows instead of 400 and no error", cur_trial, rows);
      assert_int_equal(sqlite3_prepare_v2(db, "SELECT lsm_check('t')", -1, &q, NULL), SQLITE_OK);
      if (sqlite3_step(q) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(q, 0);
        if (!strcmp(r, "ok")) fail_msg("%s: the flip was not detected (right rows, lsm_check ok)", cur_trial);
        if (!strstr(r, sst)) fail_msg("%s: lsm_check does not name the file: %.200s", cur_trial, r);
      } else if ((sqlite3_extended_errcode(db) & 0xff) != SQLITE_CORRUPT) {
        fail_msg("%s: lsm_check(): %s", cur_trial, sqlite3_errmsg(db));
      }
      sqlite3_finalize(q);
      detected++;
    }
    sqlite3_close(db);
    alarm(0);
  }
  print_message("SQL corruption: %ld single-bit flips in %s, %ld detected (SQLITE_CORRUPT or lsm_check)\n", trials,
                sst, detected);
  rel_rmdir_tree(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corruption_campaign),
      cmocka_unit_test(test_sql_corruption),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
