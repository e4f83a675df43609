/* Crash test: a forked writer with sync=full commits tagged batches (several keys each) and
** reports every acknowledged batch to the parent through a pipe; the parent SIGKILLs it at a
** random moment (also during open/recovery and during flushes: the memtable is tiny), reopens
** the database and checks that every acknowledged batch is fully present, that the one batch
** that may have been in flight is all-or-nothing, and that nothing later exists. The same
** database lives through all iterations, so recovery of recovered state is exercised too.
** LSMVTAB_CRASH_ITERS sets the iteration count (default 60; `make crash-test` runs 1000).
** The seed is printed on failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lsm.h"

/* Every fourth batch has 16..40 keys, in key order: the WAL replays it through the memtable's
** in-order batch path (batch.c apply_in_order); the others 1..7 keys (applied one by one). */
static int keys_of(uint64_t tag) { return tag % 4 == 0 ? 16 + (int)(tag % 25) : 1 + (int)(tag % 7); }

static size_t key_of(char *b, uint64_t tag, int j) {
  return (size_t)snprintf(b, 40, "b%010llu-%02d", (unsigned long long)tag, j);
}

static size_t val_of(char *b, uint64_t tag, int j) {
  size_t n = (size_t)snprintf(b, 40, "v%llu.%d.", (unsigned long long)tag, j);
  size_t len = 40 + (tag * 7919 + (uint64_t)j) % 2000; /* fills 64 KiB memtables quickly */
  for (size_t i = n; i < len; i++) b[i] = (char)('a' + i % 26);
  return len;
}

static lsm_options crash_opts(uint64_t seed) {
  lsm_options o;
  lsm_options_default(&o);
  o.memtable_size = 64u << 10;
  o.sync = LSM_SYNC_FULL;
  o.io = seed % 2 ? LSM_IO_URING : LSM_IO_SYNC;
  /* small files and levels: kills land in flushes and in L0->L1 and L1->L2 compactions too */
  o.target_file_size = 64u << 10;
  o.level1_size = 128u << 10;
  o.l0_compaction_trigger = 2;
  return o;
}

/* Engine internal (db_int.h): the manifest size that triggers a rotation. */
extern size_t db_manifest_rotate_bytes;

/* The child: write batches from `tag` on forever, acknowledging each through fd. */
static void child(const char *dir, uint64_t tag, int fd, uint64_t seed) {
  db_manifest_rotate_bytes = 4096; /* rotate often: kills land inside manifest switches too */
  lsm_options o = crash_opts(seed);
  lsm_db *db;
  if (lsm_open(dir, &o, &db)) {
    fprintf(stderr, "child: open: %s\n", lsm_errmsg());
    _exit(2);
  }
  char k[40], v[2100];
  for (;; tag++) {
    lsm_batch *b;
    if (lsm_batch_new(&b)) _exit(3);
    for (int j = 0; j < keys_of(tag); j++) {
      size_t kn = key_of(k, tag, j), vn = val_of(v, tag, j);
      if (lsm_batch_put(b, k, kn, v, vn)) _exit(3);
    }
    if (lsm_write(db, b)) {
      fprintf(stderr, "child: write: %s\n", lsm_errmsg());
      _exit(4);
    }
    lsm_batch_free(b);
    if (write(fd, &tag, sizeof tag) != sizeof tag) _exit(5);
  }
}

/* 1 if every key of the batch is present with its value, 0 if none is; fails otherwise. */
static int batch_state(lsm_db *db, uint64_t tag, uint64_t seed, int iter) {
  int present = 0;
  char k[40], v[2100];
  for (int j = 0; j < keys_of(tag); j++) {
    size_t kn = key_of(k, tag, j), vn = val_of(v, tag, j);
    void *got = NULL;
    size_t gn = 0;
    int rc = lsm_get(db, NULL, k, kn, &got, &gn);
    if (rc == LSM_OK) {
      if (gn != vn || memcmp(got, v, vn))
        fail_msg("seed %llu iter %d: batch %llu key %d has a wrong value", (unsigned long long)seed, iter,
                 (unsigned long long)tag, j);
      lsm_free(got);
      present++;
    } else if (rc != LSM_NOTFOUND) {
      fail_msg("seed %llu iter %d: get: %d %s", (unsigned long long)seed, iter, rc, lsm_errmsg());
    }
  }
  if (present != 0 && present != keys_of(tag))
    fail_msg("seed %llu iter %d: batch %llu partly visible (%d of %d keys)", (unsigned long long)seed, iter,
             (unsigned long long)tag, present, keys_of(tag));
  return present != 0;
}

static void test_crash(void **state) {
  (void)state;
  const char *e = getenv("LSMVTAB_CRASH_ITERS");
  int iters = e ? atoi(e) : 60;
  uint64_t seed = 1; /* timing makes every run differ anyway; the seed fixes the choices */
  const char *se = getenv("LSMVTAB_CRASH_SEED");
  if (se) seed = strtoull(se, NULL, 10);
  print_message("crash test: seed %llu, %d iterations\n", (unsigned long long)seed, iters);
  srand((unsigned)seed);
  const char *dir = "crashdb";
  uint64_t next = 1;  /* first tag the next child writes */
  uint64_t acked = 0; /* highest acknowledged tag overall (tags below are all acknowledged) */
  uint64_t (*ranges)[2] = calloc((size_t)iters + 1, sizeof *ranges); /* acknowledged [from, to] */
  int nranges = 0;
  for (int it = 0; it < iters; it++) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(p[0]);
      child(dir, next, p[1], seed + (uint64_t)it);
    }
    close(p[1]);
    /* let it run for a random while: 0..120 ms (early kills hit open/recovery) */
    struct timespec ts = {0, (long)(rand() % 120) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
      fail_msg("seed %llu iter %d: child exited on its own (status %d)", (unsigned long long)seed, it, status);
    uint64_t tag, last = 0;
    ssize_t r;
    while ((r = read(p[0], &tag, sizeof tag)) == sizeof tag) {
      if (tag != (last ? last + 1 : next))
        fail_msg("seed %llu iter %d: ack order %llu", (unsigned long long)seed, it, (unsigned long long)tag);
      last = tag;
    }
    close(p[0]);
    if (last) {
      acked = last;
      ranges[nranges][0] = next;
      ranges[nranges][1] = last;
      nranges++;
    }
    /* reopen and check */
    lsm_options o = crash_opts(seed);
    lsm_db *db;
    if (lsm_open(dir, &o, &db)) fail_msg("seed %llu iter %d: reopen: %s", (unsigned long long)seed, it, lsm_errmsg());
    /* every batch acknowledged in this run (and a sample of older ones) is fully there */
    uint64_t from = last ? next : acked + 1;
    for (uint64_t t = from; last && t <= last; t++)
      if (!batch_state(db, t, seed, it))
        fail_msg("seed %llu iter %d: acknowledged batch %llu lost", (unsigned long long)seed, it,
                 (unsigned long long)t);
    for (int s = 0; s < 50 && nranges; s++) {
      int ri = rand() % nranges;
      uint64_t t = ranges[ri][0] + (uint64_t)rand() % (ranges[ri][1] - ranges[ri][0] + 1);
      if (!batch_state(db, t, seed, it))
        fail_msg("seed %llu iter %d: old acknowledged batch %llu lost", (unsigned long long)seed, it,
                 (unsigned long long)t);
    }
    /* the batch in flight: all or nothing; nothing after it */
    uint64_t inflight = last ? last + 1 : next;
    batch_state(db, inflight, seed, it);
    if (batch_state(db, inflight + 1, seed, it) || batch_state(db, inflight + 2, seed, it))
      fail_msg("seed %llu iter %d: batch after the in-flight one exists", (unsigned long long)seed, it);
    char *rep;
    int rc = lsm_check(db, &rep);
    if (rc) fail_msg("seed %llu iter %d: check: %s", (unsigned long long)seed, it, rep);
    lsm_free(rep);
    assert_int_equal(lsm_close(db), LSM_OK);
    next = inflight + 1; /* never reuse a tag that might exist */
  }
  /* final: everything ever acknowledged is present (no background compaction in this session,
  ** so that the directory listing below is stable) */
  lsm_options o = crash_opts(seed);
  o.l0_compaction_trigger = o.l0_slowdown_trigger = o.l0_stop_trigger = 1000;
  o.level1_size = (size_t)1 << 40;
  lsm_db *db;
  assert_int_equal(lsm_open(dir, &o, &db), LSM_OK);
  for (int ri = 0; ri < nranges; ri++)
    for (uint64_t t = ranges[ri][0]; t <= ranges[ri][1]; t++)
      if (!batch_state(db, t, seed, iters))
        fail_msg("seed %llu: acknowledged batch %llu lost at the end", (unsigned long long)seed, (unsigned long long)t);
  /* no garbage: exactly the live tables, one WAL, one manifest (orphans of killed flushes and
  ** compactions were removed at open) */
  lsm_stats st;
  assert_int_equal(lsm_get_stats(db, &st), LSM_OK);
  uint64_t live = 0;
  for (int l = 0; l < LSM_MAX_LEVELS; l++) live += st.level_files[l];
  int nsst = 0, nlog = 0, nman = 0, nother = 0;
  DIR *d = opendir(dir);
  struct dirent *de;
  while ((de = readdir(d))) {
    const char *nm = de->d_name;
    size_t len = strlen(nm);
    if (!strcmp(nm, ".") || !strcmp(nm, "..") || !strcmp(nm, "LOCK") || !strcmp(nm, "CURRENT")) continue;
    if (len > 4 && !strcmp(nm + len - 4, ".sst")) nsst++;
    else if (len > 4 && !strcmp(nm + len - 4, ".log")) nlog++;
    else if (!strncmp(nm, "MANIFEST-", 9)) nman++;
    else nother++;
  }
  closedir(d);
  print_message("crash test: final directory: %d tables (%llu live), %d logs, %d manifests, %d others; %llu compactions\n",
                nsst, (unsigned long long)live, nlog, nman, nother, (unsigned long long)st.compactions);
  assert_int_equal((uint64_t)nsst, live);
  assert_int_equal(nlog, 1);
  assert_int_equal(nman, 1);
  assert_int_equal(nother, 0);
  assert_int_equal(lsm_close(db), LSM_OK);
  free(ranges);
  print_message("crash test: %llu batches acknowledged\n", (unsigned long long)acked);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
