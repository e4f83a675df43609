/* bench_rww — readers' latency while a writer fills memtables (db_bench's readwhilewriting,
** lsm only, through the engine's C API).
**
** A database of N keys (16 bytes, 100-byte values, the engine's default options: 64 MiB
** memtables, sync=normal, lz4) is loaded and flushed; then, per run, one thread overwrites random
** keys as fast as it can while the main thread reads random keys for S seconds, timing each
** lsm_get. Every 64 MiB of writes the memtable is switched (a new WAL created, the old one
** synced) and flushed, and compactions follow: the tail of the read latency shows whether any
** of that work makes readers wait (docs/PERF-NOTES.md, "Status after session 16"). On 2 cores
** the three busy threads (writer, flush or compaction, reader) share the CPUs, so the reader is
** also descheduled for whole scheduler slices (a few ms): those set p99.99; a lock held across
** IO shows as max.
**
** Printed: one Markdown row per run (reads/s, puts/s, the reads' p50, p99, p99.9, p99.99, max,
** reads over 1 ms and over 10 ms, the slowest put and puts over 10 ms, memtables flushed during
** the run) and the medians.
** Usage: bench_rww [-n N] [-s seconds] [-R runs]. Env defaults BENCH_N (1000000), BENCH_RUNS (3);
** 10 s per run. Runs in the current directory (rww.db, removed at the end).
*/
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "lsm.h"

#define KEY_LEN 16
#define VAL_LEN 100
#define MAX_RUNS 15
#define NCOL 12

static lsm_db *db;
static uint64_t N;
static atomic_int stop;
static _Atomic uint64_t nputs;
static double put_max, put_over10; /* the writer's own tail: written by it, read after the join */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void key_of(char *k, uint64_t i) {
  char b[24]; /* the keys are < N, 16 digits */
  snprintf(b, sizeof b, "%016llu", (unsigned long long)i);
  memcpy(k, b, KEY_LEN);
}

static void die(const char *what) {
  fprintf(stderr, "bench_rww: %s: %s\n", what, lsm_errmsg());
  exit(1);
}

static void *writer(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg;
  char k[KEY_LEN], v[VAL_LEN];
  while (!atomic_load(&stop)) {
    uint64_t x = bench_rnd(&s);
    key_of(k, x % N);
    memset(v, (int)(x >> 32), sizeof v);
    double a = now();
    if (lsm_put(db, k, KEY_LEN, v, VAL_LEN)) die("put");
    double d = now() - a;
    if (d > put_max) put_max = d;
    put_over10 += d > 1e-2;
    atomic_fetch_add_explicit(&nputs, 1, memory_order_relaxed);
  }
  return NULL;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
  const char *e;
  N = (e = getenv("BENCH_N")) ? strtoull(e, NULL, 10) : 1000000;
  int runs = (e = getenv("BENCH_RUNS")) ? atoi(e) : 3, opt;
  double secs = 10;
  while ((opt = getopt(argc, argv, "n:s:R:")) != -1) {
    switch (opt) {
    case 'n': N = strtoull(optarg, NULL, 10); break;
    case 's': secs = atof(optarg); break;
    case 'R': runs = atoi(optarg); break;
    default: fprintf(stderr, "usage: bench_rww [-n N] [-s seconds] [-R runs]\n"); return 2;
    }
  }
  if (N < 1000) N = 1000;
  if (runs < 1) runs = 1;
  if (runs > MAX_RUNS) runs = MAX_RUNS;
  if (secs <= 0) secs = 10;
  const char *dir = "rww.db";
  rm_rf(dir);
  lsm_options o;
  lsm_options_default(&o);
  if (lsm_open(dir, &o, &db)) die("open");
  char k[KEY_LEN], v[VAL_LEN];
  memset(v, 'v', sizeof v);
  for (uint64_t i = 0; i < N; i++) {
    key_of(k, i);
    if (lsm_put(db, k, KEY_LEN, v, VAL_LEN)) die("load");
  }
  if (lsm_flush(db, 1)) die("flush");

  static const char *const col[NCOL] = {"reads/s", "puts/s", "p50 µs", "p99 µs", "p99.9 µs",
                                        "p99.99 µs", "max ms", "reads > 1 ms", "reads > 10 ms",
                                        "put max ms", "puts > 10 ms",
                                        "memtables flushed"};
  static double res[NCOL][MAX_RUNS];
  size_t cap = 64u << 20;
  double *lat = malloc(cap * sizeof *lat);
  if (!lat) return 1;
  uint64_t rs = 0x5eedf00dULL;
  for (int run = 0; run < runs; run++) {
    lsm_stats st0, st1;
    if (lsm_get_stats(db, &st0)) die("stats");
    atomic_store(&stop, 0);
    atomic_store(&nputs, 0);
    put_max = put_over10 = 0;
    pthread_t w;
    pthread_create(&w, NULL, writer, (void *)(uintptr_t)(0x9e3779b97f4a7c15ULL + (uint64_t)run));
    size_t n = 0;
    double t0 = now(), end = t0 + secs;
    while (n < cap) {
      key_of(k, bench_rnd(&rs) % N);
      void *got;
      size_t gn;
      double a = now();
      if (lsm_get(db, NULL, k, KEY_LEN, &got, &gn)) die("get");
      double b = now();
      lsm_free(got);
      lat[n++] = b - a;
      if (b >= end) break;
    }
    double el = now() - t0;
    atomic_store(&stop, 1);
    pthread_join(w, NULL);
    if (lsm_get_stats(db, &st1)) die("stats");
    qsort(lat, n, sizeof *lat, cmp_d);
    double over1 = 0, over10 = 0;
    for (size_t i = 0; i < n; i++) over1 += lat[i] > 1e-3, over10 += lat[i] > 1e-2;
    double row[NCOL] = {(double)n / el, (double)atomic_load(&nputs) / el, lat[n / 2] * 1e6,
                        lat[n * 99 / 100] * 1e6, lat[n * 999 / 1000] * 1e6, lat[n * 9999 / 10000] * 1e6,
                        lat[n - 1] * 1e3, over1, over10, put_max * 1e3, put_over10,
                        (double)(st1.flushes - st0.flushes)};
    for (int c = 0; c < NCOL; c++) res[c][run] = row[c];
  }
  free(lat);
  if (lsm_close(db)) die("close");
  rm_rf(dir);

  printf("### bench_rww: N=%llu keys, 1 writer (random overwrites) + 1 reader (random gets), "
         "%.0f s per run, runs %d, engine defaults (64 MiB memtables, sync=normal)\n\n| run |",
         (unsigned long long)N, secs, runs);
  for (int c = 0; c < NCOL; c++) printf(" %s |", col[c]);
  printf("\n|---|");
  for (int c = 0; c < NCOL; c++) printf("---:|");
  printf("\n");
  for (int run = 0; run <= runs; run++) {
    if (run < runs) printf("| %d |", run + 1);
    else printf("| median |");
    for (int c = 0; c < NCOL; c++) {
      double x = run < runs ? res[c][run] : median(res[c], runs);
      if (c < 2) printf(" %.0fk |", x / 1e3);
      else if (c < 6) printf(" %.1f |", x);
      else if (c == 6 || c == 9) printf(" %.2f |", x);
      else printf(" %.0f |", x);
    }
    printf("\n");
  }
  printf("\n");
  return 0;
}
