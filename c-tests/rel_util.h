/*
** rel_util.h — shared by the reliability tests (c-tests/test_faults.c, test_powerloss.c, ...).
** Header-only (static functions) so it is not linked into every other test.
**
** 1. Putting a test env under lsm_open. The engine makes its own env (fio_env_new in db.c) and
**    has no hook to pass one in, so these tests are linked with
**      -Wl,--wrap=fio_env_new -Wl,--wrap=fio_env_free   (Makefile, "reliability tests")
**    and the wrappers below, when rel_hook is set, hand the engine a fault env (fio_env_fault)
**    over a sync env, with the fault armed from rel_arm_* at creation (so open and recovery are
**    inside the campaign; rel_env is the last wrapper made, for fio_fault_* calls), or a crash
**    env (fio_env_crash) that is kept at lsm_close for fio_crash_apply (rel_crash_env).
**    (A proper hook in fio/db would be cleaner: see /work/notes/request-rel-to-fio.md.)
** 2. A deterministic batch workload with an in-memory model of what was acknowledged, and a
**    checker that a reopened database holds exactly the acknowledged state, give or take the
**    one batch whose commit returned an error (all of it or none of it).
*/
#ifndef LSMVTAB_REL_UTIL_H
#define LSMVTAB_REL_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fio.h"
#include "fio_crash.h"
#include "fio_int.h"
#include "lsm.h"

/* ---- env hook (see 1. above) --------------------------------------------------------------- */

enum { REL_HOOK_NONE = 0, REL_HOOK_FAULT = 1, REL_HOOK_CRASH = 2 };
static int rel_hook;                 /* REL_HOOK_*: what the next fio_env_new hands out */
static int rel_arm_ops, rel_arm_kind; /* fault to arm on the next hooked env (ops 0: none) */
static long rel_arm_nth;
static fio_env *rel_env;             /* the last hooked wrapper env */
static fio_env *rel_wrapped[64];     /* live hooked wrappers (freed with their inner env) */
static long rel_last_ops[6];         /* op counts per class of the last hooked env freed */
/* crash hook: the env handed out crashes at sync rel_crash_at (0 never), models rel_crash_dir;
** at lsm_close it is kept (not freed) in rel_crash_env for fio_crash_apply + rel_crash_release */
static long rel_crash_at, rel_last_syncs;
static uint64_t rel_crash_seed;
static const char *rel_crash_dir;
static fio_env *rel_crash_env;
static pthread_mutex_t rel_mu = PTHREAD_MUTEX_INITIALIZER;

int __real_fio_env_new(int backend, fio_env **out);
void __real_fio_env_free(fio_env *env);

int __wrap_fio_env_new(int backend, fio_env **out);
void __wrap_fio_env_free(fio_env *env);

int __wrap_fio_env_new(int backend, fio_env **out) {
  if (rel_hook == REL_HOOK_NONE) return __real_fio_env_new(backend, out);
  fio_env *in = NULL, *w = NULL;
  /* sync: every op goes through the fault layer one by one, and runs are reproducible */
  int rc = __real_fio_env_new(FIO_SYNC, &in);
  if (rc) return rc;
  if (rel_hook == REL_HOOK_CRASH) {
    rc = fio_env_crash(in, rel_crash_at, rel_crash_seed, &w);
    if (!rc && (rc = fio_crash_track_dir(w, rel_crash_dir))) __real_fio_env_free(w);
  } else {
    rc = fio_env_fault(in, &w);
  }
  if (rc) {
    __real_fio_env_free(in);
    return rc;
  }
  if (rel_hook == REL_HOOK_FAULT && rel_arm_ops) fio_fault_set(w, rel_arm_ops, rel_arm_nth, rel_arm_kind);
  pthread_mutex_lock(&rel_mu);
  for (int i = 0; i < 64; i++)
    if (!rel_wrapped[i]) {
      rel_wrapped[i] = w;
      break;
    }
  rel_env = w;
  pthread_mutex_unlock(&rel_mu);
  *out = w;
  return LSM_OK;
}

void __wrap_fio_env_free(fio_env *env) {
  fio_env *inner = NULL;
  if (env && !strcmp(fio_env_name(env), "crash") && env != rel_crash_env) {
    rel_last_syncs = fio_crash_syncs(env);
    rel_crash_env = env; /* kept for fio_crash_apply; rel_crash_release frees it */
    return;
  }
  pthread_mutex_lock(&rel_mu);
  for (int i = 0; i < 64; i++)
    if (env && rel_wrapped[i] == env) {
      rel_wrapped[i] = NULL;
      inner = env->inner;
      for (int c = 0; c < 6; c++) rel_last_ops[c] = fio_fault_count(env, 1 << c);
    }
  if (rel_env == env) rel_env = NULL;
  pthread_mutex_unlock(&rel_mu);
  __real_fio_env_free(env);
  if (inner) __real_fio_env_free(inner);
}

static inline void rel_hook_fault(int ops, long nth, int kind) {
  rel_hook = REL_HOOK_FAULT;
  rel_arm_ops = ops;
  rel_arm_nth = nth;
  rel_arm_kind = kind;
}

static inline void rel_hook_crash(const char *dir, long crash_at, uint64_t seed) {
  rel_hook = REL_HOOK_CRASH;
  rel_crash_dir = dir;
  rel_crash_at = crash_at;
  rel_crash_seed = seed;
}

/* Free the crash env kept at lsm_close (and its inner env). */
static inline void rel_crash_release(void) {
  fio_env *e = rel_crash_env;
  if (e) __wrap_fio_env_free(e);
  rel_crash_env = NULL;
}

static inline void rel_hook_off(void) {
  rel_hook = REL_HOOK_NONE;
  rel_arm_ops = 0;
}

/* ---- files ----------------------------------------------------------------------------------- */

/* rm -rf of a flat directory (database directories have no subdirectories). */
static inline void rel_rmdir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[8400];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p) unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static inline int rel_copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY), out = -1, ok = 0;
  if (in < 0) return -1;
  out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out >= 0) {
    char buf[65536];
    ssize_t n;
    ok = 1;
    while ((n = read(in, buf, sizeof buf)) > 0)
      if (write(out, buf, (size_t)n) != n) ok = 0;
    if (n < 0) ok = 0;
    close(out);
  }
  close(in);
  return ok ? 0 : -1;
}

/* Copy the flat directory `from` to a fresh `to` (removed first). */
static inline int rel_copy_dir(const char *from, const char *to) {
  rel_rmdir(to);
  if (mkdir(to, 0755)) return -1;
  DIR *d = opendir(from);
  if (!d) return -1;
  struct dirent *e;
  char a[8400], b[8400];
  int rc = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (snprintf(a, sizeof a, "%s/%s", from, e->d_name) >= (int)sizeof a ||
        snprintf(b, sizeof b, "%s/%s", to, e->d_name) >= (int)sizeof b || rel_copy_file(a, b))
      rc = -1;
  }
  closedir(d);
  return rc;
}

/* A scratch root for many small databases: tmpfs (/dev/shm) when there is one, because the
** campaigns fsync thousands of times and fsync on tmpfs is free; else the cwd (the runner's
** scratch directory). LSMVTAB_REL_DIR overrides. Returns a new directory; rel_rmdir_tree it. */
static char rel_root[4096];
static inline const char *rel_scratch(const char *tag) {
  const char *base = getenv("LSMVTAB_REL_DIR");
  struct stat st;
  if (!base) base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
                        ? "/dev/shm" : ".";
  snprintf(rel_root, sizeof rel_root, "%s/lsmrel-%s-%d", base, tag, (int)getpid());
  mkdir(rel_root, 0755);
  return rel_root;
}

/* Remove root/<each subdir>/<files> and root. */
static inline void rel_rmdir_tree(const char *root) {
  DIR *d = opendir(root);
  if (!d) return;
  struct dirent *e;
  char p[8400];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (snprintf(p, sizeof p, "%s/%s", root, e->d_name) >= (int)sizeof p) continue;
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rel_rmdir(p);
    else unlink(p);
  }
  closedir(d);
  rmdir(root);
}

/* Under valgrind (the runner exports VALGRIND=1) everything runs ~30x slower: the campaigns
** then try every rel_stride()-th point instead of all of them. */
static inline int rel_stride(void) { return getenv("VALGRIND") && strcmp(getenv("VALGRIND"), "0") ? 12 : 1; }

/* ---- status classes ------------------------------------------------------------------------ */

static inline int rel_is_io(int rc) { return LSM_PRIMARY(rc) == LSM_IOERR || rc == LSM_FULL; }

/* ---- model workload -------------------------------------------------------------------------
** Keys "k000".."k<REL_NKEYS-1>"; batch number b touches 1..4 keys; a put's value names its batch,
** so every (key, value) pair tells which batch wrote it. */
#define REL_NKEYS 96
typedef struct rel_model {
  int val[REL_NKEYS]; /* batch that last wrote the key (acknowledged), -1 = absent */
  int len[REL_NKEYS]; /* that value's length */
} rel_model;

typedef struct rel_op {
  int key, del, len;
} rel_op;

static inline int rel_batch_ops(int b, rel_op *ops) {
  int n = 1 + (b * 7 + 3) % 4;
  for (int j = 0; j < n; j++) {
    ops[j].key = (b * 37 + j * 11) % REL_NKEYS;
    ops[j].del = (b + j) % 6 == 5;
    ops[j].len = 16 + (b * 131 + j * 71) % 900;
  }
  return n;
}

static inline size_t rel_key(char *k, int key) { return (size_t)snprintf(k, 16, "k%03d", key); }

static inline void rel_val(char *v, int b, int key, int len) {
  int n = snprintf(v, 64, "b%d.k%d:", b, key);
  for (int i = n; i < len; i++) v[i] = (char)('a' + (b + i) % 26);
}

static inline void rel_model_init(rel_model *m) {
  for (int i = 0; i < REL_NKEYS; i++) m->val[i] = -1, m->len[i] = 0;
}

static inline void rel_model_apply(rel_model *m, int b) {
  rel_op ops[4];
  int n = rel_batch_ops(b, ops);
  for (int j = 0; j < n; j++) {
    m->val[ops[j].key] = ops[j].del ? -1 : b;
    m->len[ops[j].key] = ops[j].del ? 0 : ops[j].len;
  }
}

/* Commit batch b. */
static inline int rel_write_batch(lsm_db *db, int b) {
  rel_op ops[4];
  int n = rel_batch_ops(b, ops);
  lsm_batch *bt;
  int rc = lsm_batch_new(&bt);
  if (rc) return rc;
  char k[16], v[1024];
  for (int j = 0; j < n && !rc; j++) {
    size_t kn = rel_key(k, ops[j].key);
    if (ops[j].del) rc = lsm_batch_delete(bt, k, kn);
    else {
      rel_val(v, b, ops[j].key, ops[j].len);
      rc = lsm_batch_put(bt, k, kn, v, (size_t)ops[j].len);
    }
  }
  if (!rc) rc = lsm_write(db, bt);
  lsm_batch_free(bt);
  return rc;
}

/* Parse a stored value back into its batch number (-2 if it is not a value of ours). */
static inline int rel_val_batch(const void *v, size_t vn, int key) {
  char buf[64];
  size_t n = vn < 63 ? vn : 63;
  memcpy(buf, v, n);
  buf[n] = 0;
  int b, k;
  if (sscanf(buf, "b%d.k%d:", &b, &k) != 2 || k != key) return -2;
  rel_op ops[4];
  int cnt = rel_batch_ops(b, ops);
  for (int j = 0; j < cnt; j++)
    if (ops[j].key == key && !ops[j].del) {
      char want[1024];
      if ((size_t)ops[j].len != vn) return -2;
      rel_val(want, b, key, ops[j].len);
      return memcmp(want, v, vn) ? -2 : b;
    }
  return -2;
}

/* Read the whole db (an iterator) into got[] (batch per key, -1 absent). LSM status; *why set on
** a content problem (a foreign value, unknown key). */
static inline int rel_read_all(lsm_db *db, int *got, char *why, size_t whyn) {
  for (int i = 0; i < REL_NKEYS; i++) got[i] = -1;
  lsm_iter *it;
  int rc = lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it);
  if (rc) return rc;
  for (rc = lsm_iter_seek_first(it); !rc && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
    const void *k, *v;
    size_t kn, vn;
    lsm_iter_key(it, &k, &kn);
    lsm_iter_value(it, &v, &vn);
    int key = -1;
    if (kn == 4 && ((const char *)k)[0] == 'k') key = atoi((const char *)k + 1) % 1000;
    if (key < 0 || key >= REL_NKEYS) {
      snprintf(why, whyn, "unexpected key of %zu bytes", kn);
      rc = LSM_ERROR;
      break;
    }
    got[key] = rel_val_batch(v, vn, key);
    if (got[key] == -2) {
      snprintf(why, whyn, "key k%03d holds a value no batch wrote", key);
      rc = LSM_ERROR;
      break;
    }
  }
  if (!rc) rc = lsm_iter_status(it);
  lsm_iter_free(it);
  return rc;
}

/* The reopened state `got` must equal the model, except that batch `unc` (-1: none) may be
** applied as a whole. 0 = consistent, else *why says what is wrong. */
static inline int rel_check_state(const rel_model *m, int unc, const int *got, char *why, size_t whyn) {
  rel_model with = *m;
  if (unc >= 0) rel_model_apply(&with, unc);
  int eq_without = 1, eq_with = 1;
  for (int i = 0; i < REL_NKEYS; i++) {
    if (got[i] != m->val[i]) eq_without = 0;
    if (got[i] != with.val[i]) eq_with = 0;
  }
  if (eq_without || eq_with) return 0;
  for (int i = 0; i < REL_NKEYS; i++)
    if (got[i] != m->val[i] && got[i] != with.val[i]) {
      snprintf(why, whyn, "key k%03d: found batch %d, acknowledged state has %d%s", i, got[i],
               m->val[i], unc >= 0 ? " (and the uncertain batch differs too)" : "");
      return 1;
    }
  snprintf(why, whyn, "uncertain batch %d is partly visible", unc);
  return 1;
}

/* Open `dir` with no hook, check contents against (m, unc) and lsm_check. 0 = fine. */
static inline int rel_verify(const char *dir, const lsm_options *o, const rel_model *m, int unc, char *why,
                      size_t whyn) {
  int hook = rel_hook;
  rel_hook = REL_HOOK_NONE;
  lsm_db *db;
  int rc = lsm_open(dir, o, &db);
  rel_hook = hook;
  if (rc) {
    snprintf(why, whyn, "reopen: %s: %s", st_name(rc), lsm_errmsg());
    return 1;
  }
  int got[REL_NKEYS];
  int bad = 0;
  rc = rel_read_all(db, got, why, whyn);
  if (rc == LSM_ERROR) bad = 1;
  else if (rc) {
    snprintf(why, whyn, "scan after reopen: %s: %s", st_name(rc), lsm_errmsg());
    bad = 1;
  } else bad = rel_check_state(m, unc, got, why, whyn);
  if (!bad) {
    char *rep = NULL;
    rc = lsm_check(db, &rep);
    if (rc) {
      snprintf(why, whyn, "lsm_check: %s: %.300s", st_name(rc), rep ? rep : lsm_errmsg());
      bad = 1;
    }
    lsm_free(rep);
  }
  rc = lsm_close(db);
  if (!bad && rc) {
    snprintf(why, whyn, "close after verify: %s", lsm_errmsg());
    bad = 1;
  }
  return bad;
}

/* Options of the fault and power-loss campaigns: small memtable, files and levels so a short
** workload goes through flushes and compactions; sync IO (the fault/crash envs wrap it). */
static inline lsm_options rel_opts(void) {
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

/* 3. Campaign reporting, shared by the fault/power-loss/allocation-failure campaigns. */

/* Body of their SIGALRM handlers: says which run hung, then exits (the runner sees the failure
** instead of waiting forever). Only snprintf of strings, write and _exit. */
static inline void rel_hang_exit(const char *campaign, const char *run) {
  char m[400];
  int n = snprintf(m, sizeof m, "HANG (30 s) in %s run: %s\n", campaign, run);
  if (write(2, m, (size_t)n) < 0) {}
  _exit(1);
}

/* Record a violation in *count; the campaign goes on (so one bug does not hide the others) and
** fails at the end. The first 12 are printed. Needs <cmocka.h> included before this header
** (print_message). Each test binds it to its counter: #define bad(...) rel_bad(&total_bad, ...). */
static void rel_bad(long *count, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void rel_bad(long *count, const char *fmt, ...) {
  if ((*count)++ >= 12) return;
  va_list ap;
  va_start(ap, fmt);
  char m[1200];
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  print_message("VIOLATION: %s\n", m);
}

#endif
