/* Tests of engine/mapguard.c: a guarded copy from a mapping of a truncated file returns
** LSM_IOERR_READ (again and again in one thread: SIGBUS is unblocked after each), in several
** threads at once; a SIGBUS that is not ours reaches the handler installed before ours (plain
** or SA_SIGINFO); with SIG_DFL or SIG_IGN before ours a fault, or a SIGBUS sent by kill, still
** kills the process with SIGBUS; a handler installed after ours makes mg_ready report 0.
**
** The install-order cases run in fork()ed children (the handler is installed once per process:
** each child installs its own handler first), before any case installs ours in this process.
** A child reports through its exit code (0 = all checks passed, else the failing check's
** number), never through cmocka. cmocka replaces SIGBUS handlers around each test: the cases
** in this process restore ours first (mg_util.h).
**
** mg_run (a function run under the guard): its result passes through; a fault in its source
** range abandons it half-way and returns LSM_IOERR_READ (also from inside real lz4 and zstd
** decodes of a block that runs into the lost part); a fault outside its range during it is
** chained like any other; several threads at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lz4.h>
#include <zstd.h>

#include "block.h"
#include "mapguard.h"
#include "mg_util.h"
#include "status.h"
#include "vg_util.h"

static size_t pg;

/* A file of 3 pages (byte i = i % 251) mapped whole, then truncated to 1 page: bytes past the
** first page of the mapping raise SIGBUS. */
static uint8_t *truncated_map(const char *path) {
  pg = (size_t)sysconf(_SC_PAGESIZE);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  uint8_t *b = malloc(3 * pg);
  assert_non_null(b);
  for (size_t i = 0; i < 3 * pg; i++) b[i] = (uint8_t)(i % 251);
  assert_int_equal(write(fd, b, 3 * pg), (ssize_t)(3 * pg));
  free(b);
  void *m = mmap(NULL, 3 * pg, PROT_READ, MAP_SHARED, fd, 0);
  assert_true(m != MAP_FAILED);
  assert_int_equal(ftruncate(fd, (off_t)pg), 0); /* as another process would */
  close(fd);
  return m;
}

/* ---- handlers installed before ours (in children) ---- */

static sigjmp_buf child_env;
static void *volatile child_addr;
static volatile sig_atomic_t child_hits;

static void own_siginfo(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  if (sig == SIGBUS) child_addr = si->si_addr;
  child_hits++;
  siglongjmp(child_env, 1);
}

static void own_plain(int sig) {
  (void)sig;
  child_hits++;
  siglongjmp(child_env, 1);
}

/* Run body(m) in a child after installing `sa` as the SIGBUS handler; the child's wait status. */
static int in_child(const struct sigaction *sa, int (*body)(uint8_t *m)) {
  uint8_t *m = truncated_map("c.map");
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (sigaction(SIGBUS, sa, NULL)) _exit(90);
    _exit(body(m));
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  munmap(m, 3 * pg);
  return status;
}

/* Ours installed over the child's handler: guarded copies are ours, the rest is chained. */
static int body_chain(uint8_t *m) {
  uint8_t buf[64];
  if (!mg_ready()) return 1;
  if (mg_copy(buf, m, sizeof buf, "c.map", 0) != LSM_OK || buf[7] != 7) return 2;
  if (mg_copy(buf, m + pg + 8, sizeof buf, "c.map", pg + 8) != LSM_IOERR_READ) return 3;
  if (child_hits != 0) return 4; /* ours: the earlier handler saw nothing */
  if (sigsetjmp(child_env, 1) == 0) {
    volatile uint8_t x = m[2 * pg + 5]; /* outside any guard: the earlier handler's */
    (void)x;
    return 5;
  }
  if (child_hits != 1) return 6;
  if (child_addr != NULL && child_addr != (void *)(m + 2 * pg + 5)) return 7;
  /* and ours still works after a chained one */
  if (mg_copy(buf, m + pg, sizeof buf, "c.map", pg) != LSM_IOERR_READ) return 8;
  if (mg_copy(buf, m + 64, sizeof buf, "c.map", 64) != LSM_OK || buf[0] != 64) return 9;
  return 0;
}

/* A guarded run whose function touches a bad page outside its declared range: not ours, the
** earlier handler gets it; ours still works afterwards. */
typedef struct touch_ctx {
  const volatile uint8_t *at;
} touch_ctx;

static int fn_touch(void *v) {
  touch_ctx *t = v;
  return t->at[0] + 1000;
}

static int body_chain_run(uint8_t *m) {
  if (!mg_ready()) return 1;
  touch_ctx t = {m + 5};
  if (mg_run(fn_touch, &t, m, 64, "c.map", 0) != 1005) return 2;
  t.at = m + 2 * pg + 5; /* a bad page, outside the range declared below */
  if (sigsetjmp(child_env, 1) == 0) {
    (void)mg_run(fn_touch, &t, m + pg, 64, "c.map", pg);
    return 3; /* the earlier handler jumps out */
  }
  if (child_hits != 1) return 4;
  if (child_addr != NULL && child_addr != (void *)(m + 2 * pg + 5)) return 5;
  t.at = m + pg + 9; /* inside the range: ours */
  if (mg_run(fn_touch, &t, m + pg, 64, "c.map", pg) != LSM_IOERR_READ) return 6;
  if (child_hits != 1) return 7;
  return 0;
}

static void test_chain_siginfo(void **state) {
  (void)state;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = own_siginfo;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  int st = in_child(&sa, body_chain);
  if (!WIFEXITED(st) || WEXITSTATUS(st)) fail_msg("child status %#x (exit %d)", st, WEXITSTATUS(st));
  child_hits = 0;
  st = in_child(&sa, body_chain_run);
  if (!WIFEXITED(st) || WEXITSTATUS(st)) fail_msg("run: child status %#x (exit %d)", st, WEXITSTATUS(st));
}

static void test_chain_plain(void **state) {
  (void)state;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = own_plain;
  sigemptyset(&sa.sa_mask);
  int st = in_child(&sa, body_chain);
  if (!WIFEXITED(st) || WEXITSTATUS(st)) fail_msg("child status %#x (exit %d)", st, WEXITSTATUS(st));
}

/* With the default action before ours: a guarded copy is still an error code, an unguarded
** touch of a bad page kills the child with SIGBUS. */
static int body_die_fault(uint8_t *m) {
  uint8_t buf[64];
  if (!mg_ready()) return 1;
  if (mg_copy(buf, m + pg, sizeof buf, "c.map", pg) != LSM_IOERR_READ) return 2;
  volatile uint8_t x = m[2 * pg + 1];
  (void)x;
  return 3; /* survived */
}

static int body_die_kill(uint8_t *m) {
  (void)m;
  if (!mg_ready()) return 1;
  kill(getpid(), SIGBUS);
  return 3; /* survived */
}

static void expect_sigbus_death(int st, const char *what) {
  if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGBUS)
    fail_msg("%s: child status %#x (exited %d, signal %d), want death by SIGBUS", what, st,
             WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : -1);
}

static void test_default_action(void **state) {
  (void)state;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = SIG_DFL;
  /* valgrind does not re-execute a faulting load after a SIGBUS handler returns (the child
  ** "survives" its fault), so the fault cases only run natively and under ASan. */
  int faults = !vg_running();
  if (!faults) fprintf(stderr, "test_default_action: fault cases skipped under valgrind\n");
  if (faults) expect_sigbus_death(in_child(&sa, body_die_fault), "SIG_DFL, fault");
  expect_sigbus_death(in_child(&sa, body_die_kill), "SIG_DFL, kill");
  sa.sa_handler = SIG_IGN; /* a fault's SIGBUS cannot be ignored */
  if (faults) expect_sigbus_death(in_child(&sa, body_die_fault), "SIG_IGN, fault");
}

/* ---- in this process ---- */

static int sigbus_blocked(void) {
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, NULL, &cur);
  return sigismember(&cur, SIGBUS);
}

static void test_copy_fault(void **state) {
  (void)state;
  mg_test_own();
  uint8_t *m = truncated_map("t.map");
  uint8_t buf[3 * 4096 + 64];
  assert_true(3 * pg <= sizeof buf);
  assert_int_equal(mg_copy(buf, m, pg, "t.map", 0), LSM_OK);
  for (size_t i = 0; i < pg; i++) assert_int_equal(buf[i], i % 251);
  for (int round = 0; round < 5; round++) { /* the same thread, again: SIGBUS unblocked each time */
    assert_int_equal(mg_copy(buf, m + pg + 100, 50, "t.map", pg + 100), LSM_IOERR_READ);
    assert_non_null(strstr(st_errmsg(), "t.map"));
    assert_non_null(strstr(st_errmsg(), "truncated under the mapping"));
    char off[32];
    snprintf(off, sizeof off, "offset %zu", pg + 100);
    assert_non_null(strstr(st_errmsg(), off));
    assert_false(sigbus_blocked());
    /* a copy that starts in the good page and runs into the bad one */
    assert_int_equal(mg_copy(buf, m + pg - 10, 20, "t.map", pg - 10), LSM_IOERR_READ);
    assert_int_equal(mg_copy(buf, m, 3 * pg, "t.map", 0), LSM_IOERR_READ);
    assert_false(sigbus_blocked());
    assert_int_equal(mg_copy(buf, m + 10, 30, "t.map", 10), LSM_OK);
    assert_int_equal(buf[0], 10);
  }
  assert_int_equal(mg_copy(buf, m, 0, "t.map", 0), LSM_OK); /* nothing to copy */
  assert_int_equal(mg_ready(), 1);
  munmap(m, 3 * pg);
}

/* Sums bytes [p, p+n) one at a time, recording how far it got (to see where a jump left it). */
typedef struct sum_ctx {
  const uint8_t *p;
  size_t n;
  volatile size_t done;
  uint64_t sum;
} sum_ctx;

static int fn_sum(void *v) {
  sum_ctx *c = v;
  c->sum = 0;
  for (c->done = 0; c->done < c->n; c->done++) c->sum += c->p[c->done];
  return c->sum == 0 ? LSM_CORRUPT : LSM_OK;
}

static uint64_t want_sum(size_t off, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; i++) s += (off + i) % 251;
  return s;
}

static void test_run_fault(void **state) {
  (void)state;
  mg_test_own();
  uint8_t *m = truncated_map("r.map");
  for (int round = 0; round < 5; round++) {
    sum_ctx c = {.p = m + 3, .n = pg - 3};
    assert_int_equal(mg_run(fn_sum, &c, c.p, c.n, "r.map", 3), LSM_OK);
    assert_int_equal(c.sum, want_sum(3, pg - 3));
    c = (sum_ctx){.p = m + 251, .n = 1}; /* byte 0: fn's own error passes through */
    assert_int_equal(mg_run(fn_sum, &c, c.p, c.n, "r.map", 251), LSM_CORRUPT);
    /* starts in the good page, runs into the lost one: abandoned exactly there */
    c = (sum_ctx){.p = m + pg - 100, .n = 300};
    assert_int_equal(mg_run(fn_sum, &c, c.p, c.n, "r.map", pg - 100), LSM_IOERR_READ);
    assert_int_equal(c.done, 100);
    assert_non_null(strstr(st_errmsg(), "r.map"));
    char off[32];
    snprintf(off, sizeof off, "offset %zu", pg - 100);
    assert_non_null(strstr(st_errmsg(), off));
    assert_false(sigbus_blocked());
    c = (sum_ctx){.p = m + 2 * pg, .n = 10};
    assert_int_equal(mg_run(fn_sum, &c, c.p, c.n, "r.map", 2 * pg), LSM_IOERR_READ);
    assert_int_equal(c.done, 0);
    assert_false(sigbus_blocked());
  }
  munmap(m, 3 * pg);
}

/* Real block decoders under the guard: an lz4 and a zstd block written so that their stored
** bytes cross from the first page of a file into the second, then the file truncated to one
** page: the checksum and the decode of the mapped bytes fault half-way -> LSM_IOERR_READ; the
** same block wholly inside the good page decodes. */
typedef struct dec_ctx {
  const uint8_t *p;
  size_t n, rawn;
  int type;
  uint8_t *out;
  blk_dctx *dctx;
  int step; /* 0: blk_stored_info, 1: blk_decode_with */
} dec_ctx;

static int fn_dec(void *v) {
  dec_ctx *d = v;
  return d->step ? blk_decode_with(d->p, d->n, d->out, d->rawn, d->dctx)
                 : blk_stored_info(d->p, d->n, &d->type, &d->rawn);
}

static void test_run_decoders(void **state) {
  (void)state;
  mg_test_own();
  pg = (size_t)sysconf(_SC_PAGESIZE);
  enum { RAW = 3000 };
  uint8_t raw[RAW], out[RAW];
  for (int i = 0; i < RAW; i++) raw[i] = (uint8_t)(i % 61 == 0 ? i * 13 : i / 50);
  for (int comp = 1; comp <= 2; comp++) {
    cd_buf sb = {0};
    size_t sn;
    assert_int_equal(blk_seal(&sb, raw, RAW, comp, 1, NULL, &sn), LSM_OK);
    assert_int_equal(sb.p[sn], comp == 1 ? BLK_ZSTD : BLK_LZ4);
    assert_true(sn + BLK_TRAILER < pg / 2);
    int fd = open("d.map", O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    uint8_t *file = calloc(1, 2 * pg);
    assert_non_null(file);
    size_t good = 16, bad = pg - (sn + BLK_TRAILER) / 2; /* bad: crosses into page 2 */
    memcpy(file + good, sb.p, sn + BLK_TRAILER);
    memcpy(file + bad, sb.p, sn + BLK_TRAILER);
    assert_int_equal(write(fd, file, 2 * pg), (ssize_t)(2 * pg));
    free(file);
    uint8_t *m = mmap(NULL, 2 * pg, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(ftruncate(fd, (off_t)pg), 0);
    close(fd);
    for (int round = 0; round < 3; round++) {
      dec_ctx d = {.p = m + good, .n = sn, .out = out};
      assert_int_equal(mg_run(fn_dec, &d, d.p, sn + BLK_TRAILER, "d.map", good), LSM_OK);
      assert_int_equal(d.rawn, RAW);
      d.step = 1;
      d.dctx = blk_dctx_get();
      assert_true(comp != 1 || d.dctx);
      memset(out, 0, sizeof out);
      assert_int_equal(mg_run(fn_dec, &d, d.p, sn + BLK_TRAILER, "d.map", good), LSM_OK);
      assert_memory_equal(out, raw, RAW);
      /* the checksum runs into the lost page */
      dec_ctx e = {.p = m + bad, .n = sn, .out = out};
      assert_int_equal(mg_run(fn_dec, &e, e.p, sn + BLK_TRAILER, "d.map", bad), LSM_IOERR_READ);
      assert_false(sigbus_blocked());
      /* the decoder runs into it (given the good copy's header: as if the page went away
      ** between the checksum and the decode) */
      e.step = 1;
      e.rawn = RAW;
      e.dctx = d.dctx;
      assert_int_equal(mg_run(fn_dec, &e, e.p, sn + BLK_TRAILER, "d.map", bad), LSM_IOERR_READ);
      assert_non_null(strstr(st_errmsg(), "d.map"));
      assert_false(sigbus_blocked());
      /* the context abandoned half-way decodes the next block right */
      memset(out, 0, sizeof out);
      assert_int_equal(mg_run(fn_dec, &d, d.p, sn + BLK_TRAILER, "d.map", good), LSM_OK);
      assert_memory_equal(out, raw, RAW);
      blk_dctx_put(d.dctx);
    }
    /* zstd without a context: refused, not a crash */
    if (comp == 1) assert_int_equal(blk_decode_with(sb.p, sn, out, RAW, NULL), LSM_MISUSE);
    munmap(m, 2 * pg);
    cd_buf_free(&sb);
  }
}

static uint8_t *shared_map;

static void *copier(void *arg) {
  uintptr_t t = (uintptr_t)arg;
  uint8_t buf[256];
  for (int i = 0; i < 2000; i++) {
    size_t bad = pg + (size_t)((i * 37 + t * 11) % (2 * pg - sizeof buf));
    if (mg_copy(buf, shared_map + bad, sizeof buf, "s.map", bad) != LSM_IOERR_READ) return (void *)1;
    if (!strstr(st_errmsg(), "s.map")) return (void *)2;
    size_t good = (size_t)((i * 13 + t) % (pg - sizeof buf));
    if (mg_copy(buf, shared_map + good, sizeof buf, "s.map", good) != LSM_OK) return (void *)3;
    for (size_t j = 0; j < sizeof buf; j++)
      if (buf[j] != (good + j) % 251) return (void *)4;
    sum_ctx c = {.p = shared_map + bad, .n = sizeof buf};
    if (mg_run(fn_sum, &c, c.p, c.n, "s.map", bad) != LSM_IOERR_READ) return (void *)6;
    c = (sum_ctx){.p = shared_map + good, .n = sizeof buf};
    if (mg_run(fn_sum, &c, c.p, c.n, "s.map", good) != LSM_OK || c.sum != want_sum(good, sizeof buf))
      return (void *)7;
  }
  return sigbus_blocked() ? (void *)5 : NULL;
}

static void test_threads(void **state) {
  (void)state;
  mg_test_own();
  shared_map = truncated_map("s.map");
  enum { NT = 4 };
  pthread_t th[NT];
  for (uintptr_t t = 0; t < NT; t++) assert_int_equal(pthread_create(&th[t], NULL, copier, (void *)t), 0);
  for (int t = 0; t < NT; t++) {
    void *res;
    assert_int_equal(pthread_join(th[t], &res), 0);
    if (res) fail_msg("thread %d: check %d failed", t, (int)(uintptr_t)res);
  }
  munmap(shared_map, 3 * pg);
}

/* A handler installed after ours: mg_ready says 0 (no new mappings) until ours is back. */
static void test_replaced(void **state) {
  (void)state;
  mg_test_own();
  struct sigaction sa, saved;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = own_siginfo;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGBUS, &sa, &saved), 0);
  assert_int_equal(mg_ready(), 0);
  sa.sa_handler = SIG_DFL;
  sa.sa_flags = 0;
  assert_int_equal(sigaction(SIGBUS, &sa, NULL), 0);
  assert_int_equal(mg_ready(), 0);
  assert_int_equal(sigaction(SIGBUS, &saved, NULL), 0);
  assert_int_equal(mg_ready(), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      /* first: the children must install their handler before ours is in this process */
      cmocka_unit_test(test_chain_siginfo),
      cmocka_unit_test(test_chain_plain),
      cmocka_unit_test(test_default_action),
      cmocka_unit_test(test_copy_fault),
      cmocka_unit_test(test_run_fault),
      cmocka_unit_test(test_run_decoders),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_replaced),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
