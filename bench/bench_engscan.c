/*
** bench_engscan.c — the engine's part of an lsm table's full scan: what bench_sql's readseq row
** costs below the virtual-table module.
**
** Opens an lsm table's directory through engine/lsm.h (the same files the module reads, with a table's
** defaults where they bear on reading: mapped reads, an 8 MiB cache) and walks every row forward with
** lsm_iter_next_row, the call the module's cursor makes per row; nothing is decoded or copied.
** Set beside bench_vtfloor (SQLite's own part of a row, the floor) and bench_sql's readseq on the
** same table, it splits an SQL row into floor + engine + the rest (the module and interference).
**
** Usage: bench_engscan [-R runs] DIR    (DIR: a table's directory, e.g. db-lsm/t; runs default 3)
** Prints each run's rows and bench-thread CPU µs per row, then the median.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsm.h"

static double thread_cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* One full scan: *rows and CPU µs per row. 0 or the engine's status. */
static int scan(lsm_db *db, long *rows, double *us) {
  lsm_iter *it;
  int rc = lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it);
  if (rc) return rc;
  double t0 = thread_cpu();
  long n = 0;
  uint64_t sum = 0; /* touches each value's first byte, as a reader would */
  rc = lsm_iter_seek_first(it);
  if (!rc && lsm_iter_valid(it)) {
    const void *k, *v;
    size_t kn, vn;
    lsm_iter_value(it, &v, &vn);
    for (n = 1;; n++) {
      sum += vn ? *(const uint8_t *)v : 0;
      if ((rc = lsm_iter_next_row(it, &k, &kn, &v, &vn)) || !k) break;
    }
  }
  double t1 = thread_cpu();
  lsm_iter_free(it);
  *rows = n;
  *us = n ? (t1 - t0) * 1e6 / (double)n : 0;
  if (sum == 1) fputc(' ', stderr); /* keeps the reads */
  return rc;
}

int main(int argc, char **argv) {
  int runs = 3;
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-R") && i + 1 < argc) {
      char *end;
      long r = strtol(argv[++i], &end, 10);
      if (*end || r < 1 || r > 100) {
        fprintf(stderr, "bench_engscan: -R wants 1..100 runs, not '%s'\n", argv[i]);
        return 2;
      }
      runs = (int)r;
    } else if (argv[i][0] != '-' && !dir) {
      dir = argv[i];
    } else {
      fprintf(stderr, "usage: bench_engscan [-R runs] DIR\n");
      return 2;
    }
  }
  if (!dir) {
    fprintf(stderr, "usage: bench_engscan [-R runs] DIR\n");
    return 2;
  }
  lsm_options o;
  lsm_options_default(&o);
  o.create_if_missing = 0;
  o.mmap_reads = 1;
  o.l0_compaction_trigger = 4; /* a table's default (ext/vtopts.h): the same compactions, if any */
  lsm_db *db;
  int rc = lsm_open(dir, &o, &db);
  if (rc) {
    fprintf(stderr, "bench_engscan: cannot open %s: %s\n", dir, lsm_errmsg());
    return 1;
  }
  double us[100];
  for (int r = 0; r < runs; r++) {
    long rows;
    if ((rc = scan(db, &rows, &us[r]))) {
      fprintf(stderr, "bench_engscan: scan of %s failed: %s\n", dir, lsm_errmsg());
      lsm_close(db);
      return 1;
    }
    printf("run %d: %ld rows, %.4f us per row (bench thread CPU)\n", r + 1, rows, us[r]);
  }
  qsort(us, (size_t)runs, sizeof us[0], cmp_double);
  printf("median of %d: %.4f us per row\n", runs, us[runs / 2]);
  return lsm_close(db) ? 1 : 0;
}
