/* bench_fio — the file-IO layer on the sync and uring backends, same run, same files.
**
**   seq append      1 MiB fio_append x 256 (256 MiB) + fio_sync, MB/s
**   rand read QD1   4 KiB fio_read_at at random offsets: page-cache hits (64 MiB file, warm)
**                   and O_DIRECT misses (1 GiB file), IOPS
**   rand read QD32  the same through fio_batch, 32 reads per batch run, IOPS
**   rand write+sync 4 KiB fio_write_at + fio_sync each (QD1), and 32 fio_batch writes + one
**                   batch sync, IOPS (writes per second)
**
** Every figure is the median of 3 runs; backends alternate run by run so drift hits both.
** Runs in the cwd (scripts/run-bench.sh: a scratch dir on the real disk). Total ~1-2 minutes.
** Usage: bench_fio [quick]   ("quick": smaller counts, for a smoke run) */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fio.h"
#include "status.h"

#define MiB (1024u * 1024u)
#define PAGE 4096u

static int quick;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_fio: %s: %s (%s)\n", what, st_name(rc), st_errmsg());
  exit(1);
}
#define CK(what, call)                \
  do {                                \
    int rc_ = (call);                 \
    if (rc_) die(what, rc_);          \
  } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) { /* xorshift64*: fixed seed, same offsets every run */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ull;
}

/* Write a file of `size` bytes with big appends (content irrelevant but not zero). */
static void make_file(fio_env *env, const char *path, uint64_t size) {
  int ex;
  CK("exists", fio_exists(env, path, &ex));
  if (ex) CK("delete", fio_delete(env, path));
  fio_file *f;
  CK("create", fio_create(env, path, FIO_WRONLY, &f));
  size_t chunk = 4 * MiB;
  char *buf = fio_alloc_aligned(chunk);
  memset(buf, 0x5A, chunk);
  for (uint64_t off = 0; off < size; off += chunk) {
    memcpy(buf, &off, sizeof off);
    CK("append", fio_append(f, buf, chunk));
  }
  CK("sync", fio_sync(f));
  fio_free_aligned(buf);
  CK("close", fio_close(f));
}

/* ---- the measurements: each returns one figure ----------------------------------------------- */

static double b_seq_append(fio_env *env) {
  int n = quick ? 32 : 256;
  char *buf = fio_alloc_aligned(MiB);
  memset(buf, 0x33, MiB);
  fio_file *f;
  int ex;
  CK("exists", fio_exists(env, "seq.dat", &ex));
  if (ex) CK("delete", fio_delete(env, "seq.dat"));
  CK("create", fio_create(env, "seq.dat", FIO_WRONLY, &f));
  double t0 = now();
  for (int i = 0; i < n; i++) CK("append", fio_append(f, buf, MiB));
  CK("sync", fio_sync(f));
  double t = now() - t0;
  CK("close", fio_close(f));
  CK("delete", fio_delete(env, "seq.dat"));
  fio_free_aligned(buf);
  return n / t; /* MiB/s */
}

static const char *rd_path;
static uint64_t rd_size;
static int rd_mode;

static double b_read_qd1(fio_env *env) {
  int n = (rd_mode & FIO_DIRECT) ? (quick ? 1000 : 4000) : (quick ? 20000 : 200000);
  fio_file *f;
  CK("open", fio_open(env, rd_path, rd_mode, &f));
  char *buf = fio_alloc_aligned(PAGE);
  uint64_t pages = rd_size / PAGE;
  double t0 = now();
  for (int i = 0; i < n; i++) {
    size_t got;
    CK("read", fio_read_at(f, (next_rand() % pages) * PAGE, buf, PAGE, &got));
    if (got != PAGE) die("short read", LSM_IOERR_SHORT_READ);
  }
  double t = now() - t0;
  fio_free_aligned(buf);
  CK("close", fio_close(f));
  return n / t;
}

static double b_read_qd32(fio_env *env) {
  int n = (rd_mode & FIO_DIRECT) ? (quick ? 4000 : 32000) : (quick ? 20000 : 200000);
  fio_file *f;
  CK("open", fio_open(env, rd_path, rd_mode, &f));
  char *buf = fio_alloc_aligned(32 * PAGE);
  uint64_t pages = rd_size / PAGE;
  fio_batch *b;
  CK("batch", fio_batch_new(env, &b));
  double t0 = now();
  for (int i = 0; i < n; i += 32) {
    fio_batch_reset(b);
    for (int j = 0; j < 32; j++)
      if (fio_batch_read(b, f, (next_rand() % pages) * PAGE, buf + j * PAGE, PAGE) < 0)
        die("batch_read", LSM_NOMEM);
    CK("batch_run", fio_batch_run(b));
  }
  double t = now() - t0;
  fio_batch_free(b);
  fio_free_aligned(buf);
  CK("close", fio_close(f));
  return n / t;
}

#define WFILE_SIZE (64 * MiB)

static double b_write_sync_qd1(fio_env *env) {
  int n = quick ? 50 : 300;
  fio_file *f;
  CK("open", fio_open(env, "w.dat", FIO_RDWR, &f));
  char buf[PAGE];
  memset(buf, 0x77, sizeof buf);
  double t0 = now();
  for (int i = 0; i < n; i++) {
    CK("write", fio_write_at(f, (next_rand() % (WFILE_SIZE / PAGE)) * PAGE, buf, PAGE));
    CK("sync", fio_sync(f));
  }
  double t = now() - t0;
  CK("close", fio_close(f));
  return n / t;
}

static double b_write_sync_batch(fio_env *env) {
  int rounds = quick ? 10 : 60;
  fio_file *f;
  CK("open", fio_open(env, "w.dat", FIO_RDWR, &f));
  static char buf[32][PAGE];
  memset(buf, 0x78, sizeof buf);
  fio_batch *b;
  CK("batch", fio_batch_new(env, &b));
  double t0 = now();
  for (int r = 0; r < rounds; r++) {
    fio_batch_reset(b);
    for (int j = 0; j < 32; j++)
      if (fio_batch_write(b, f, (next_rand() % (WFILE_SIZE / PAGE)) * PAGE, buf[j], PAGE) < 0)
        die("batch_write", LSM_NOMEM);
    if (fio_batch_sync(b, f) < 0) die("batch_sync", LSM_NOMEM);
    CK("batch_run", fio_batch_run(b));
  }
  double t = now() - t0;
  fio_batch_free(b);
  CK("close", fio_close(f));
  return rounds * 32 / t;
}

/* ---- driver ---------------------------------------------------------------------------------- */

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static fio_env *envs[2];

static void row(const char *name, const char *unit, double (*fn)(fio_env *)) {
  double v[2][3];
  for (int r = 0; r < 3; r++)
    for (int e = 0; e < 2; e++) v[e][r] = fn(envs[e]);
  qsort(v[0], 3, sizeof(double), cmpd);
  qsort(v[1], 3, sizeof(double), cmpd);
  printf("| %-34s | %-5s | %10.0f | %10.0f | %6.2fx |\n", name, unit, v[0][1], v[1][1],
         v[1][1] / v[0][1]);
  fflush(stdout);
}

int main(int argc, char **argv) {
  quick = argc > 1 && strcmp(argv[1], "quick") == 0;
  CK("env sync", fio_env_new(FIO_SYNC, &envs[0]));
  if (fio_env_new(FIO_URING, &envs[1]) != LSM_OK) {
    printf("io_uring unavailable here (%s): nothing to compare\n", st_errmsg());
    fio_env_free(envs[0]);
    return 0;
  }
  double t0 = now();
  printf("File-IO layer, median of 3 runs%s; ratio = uring / sync\n\n", quick ? " (quick)" : "");
  printf("| %-34s | %-5s | %10s | %10s | %7s |\n", "benchmark", "unit", "sync", "uring", "ratio");
  printf("|%s|%s|%s|%s|%s|\n", "------------------------------------", "-------", "------------",
         "------------", "---------");
  row("seq append 1 MiB + fdatasync", "MiB/s", b_seq_append);

  make_file(envs[0], "cache.dat", 64 * MiB);
  rd_path = "cache.dat";
  rd_size = 64 * MiB;
  rd_mode = FIO_RDONLY;
  b_read_qd1(envs[0]); /* warm the page cache */
  row("rand read 4 KiB QD1, cached", "IOPS", b_read_qd1);
  row("rand read 4 KiB QD32 batch, cached", "IOPS", b_read_qd32);

  uint64_t big = quick ? 256 * (uint64_t)MiB : 1024 * (uint64_t)MiB;
  make_file(envs[0], "direct.dat", big);
  rd_path = "direct.dat";
  rd_size = big;
  rd_mode = FIO_RDONLY | FIO_DIRECT;
  row("rand read 4 KiB QD1, O_DIRECT", "IOPS", b_read_qd1);
  row("rand read 4 KiB QD32 batch, O_DIRECT", "IOPS", b_read_qd32);

  make_file(envs[0], "w.dat", WFILE_SIZE);
  row("rand write 4 KiB + fdatasync, QD1", "IOPS", b_write_sync_qd1);
  row("rand write 4 KiB x32 batch + sync", "IOPS", b_write_sync_batch);

  CK("delete", fio_delete(envs[0], "cache.dat"));
  CK("delete", fio_delete(envs[0], "direct.dat"));
  CK("delete", fio_delete(envs[0], "w.dat"));
  printf("\ntotal %.0f s\n", now() - t0);
  fio_env_free(envs[0]);
  fio_env_free(envs[1]);
  return 0;
}
