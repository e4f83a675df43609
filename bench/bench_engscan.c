/*
** bench_engscan.c — the engine's part of an lsm table's scans: what bench_sql's readseq row and
** scanrange scan cost below the virtual-table module.
**
** Opens an lsm table's directory through engine/lsm.h (the same files the module reads, with a table's
** defaults where they bear on reading: mapped reads, an 8 MiB cache) and walks every row forward with
** lsm_iter_next_row, the call the module's cursor makes per row; nothing is decoded or copied.
** Set beside bench_vtfloor (SQLite's own part of a row, the floor) and bench_sql's readseq on the
** same table, it splits an SQL row into floor + engine + the rest (the module and interference).
**
** With -s SCANS it measures bench_sql's scanrange instead: SCANS range scans of 100 rows (-l: other
** lengths, to split a scan's fixed cost from its rows'), each
** a new iterator from a random start key (one of every 64th key of a first full walk, fixed
** seed), hinted with its length, sought and walked that many rows, as the module's xFilter and
** cursor do for `WHERE k >= ? ORDER BY k LIMIT 100`.
**
** Usage: bench_engscan [-R runs] [-s scans [-l rows]] DIR   (DIR: a table's directory, e.g.
**        db-lsm/t; runs default 3). Prints each run's rows and bench-thread CPU µs per row (per
**        scan with -s), then the median.
**        bench_engscan [-R runs] [-n N]   (what `make bench` runs: no DIR) builds its own table
**        in ./engscan-db with a SQL table's defaults (lz4, raw levels 0 and 1, 2 KiB blocks, L0
**        trigger 4): N (default 1000000) random 16-byte keys with 100-byte half-compressible
**        values, flushed and compacted whole (one sorted run); then both measures (full scans,
**        and 20000 range scans of 100 rows per run unless -s says otherwise); the directory is
**        removed at the end.
*/
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
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

/* Every 64th key of a full walk, copied (the start keys of the range scans). */
typedef struct keys {
  char **k;
  size_t *n;
  long count, cap;
} keys;

static int sample_keys(lsm_db *db, keys *ks) {
  lsm_iter *it;
  int rc = lsm_iter_new(db, NULL, NULL, 0, NULL, 0, &it);
  if (rc) return rc;
  long i = 0;
  for (rc = lsm_iter_seek_first(it); !rc && lsm_iter_valid(it); rc = lsm_iter_next(it), i++) {
    if (i % 64) continue;
    if (ks->count == ks->cap) {
      ks->cap = ks->cap ? 2 * ks->cap : 1024;
      ks->k = realloc(ks->k, (size_t)ks->cap * sizeof *ks->k);
      ks->n = realloc(ks->n, (size_t)ks->cap * sizeof *ks->n);
      if (!ks->k || !ks->n) abort();
    }
    const void *k;
    size_t kn;
    lsm_iter_key(it, &k, &kn);
    if (!(ks->k[ks->count] = malloc(kn ? kn : 1))) abort();
    memcpy(ks->k[ks->count], k, kn);
    ks->n[ks->count++] = kn;
  }
  lsm_iter_free(it);
  return rc;
}

/* `scans` range scans of up to `len` rows from random sampled keys: *rows and CPU µs per scan. */
static int ranges(lsm_db *db, const keys *ks, long scans, int len, uint64_t *seed, long *rows,
                  double *us) {
  double t0 = thread_cpu();
  long n = 0;
  uint64_t sum = 0;
  int rc = LSM_OK;
  for (long s = 0; s < scans && !rc; s++) {
    uint64_t x = *seed;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    *seed = x;
    long j = (long)(x % (uint64_t)ks->count);
    lsm_iter *it;
    if ((rc = lsm_iter_new(db, NULL, ks->k[j], ks->n[j], NULL, 0, &it))) break;
    lsm_iter_hint(it, (uint64_t)len);
    rc = lsm_iter_seek_first(it);
    if (!rc && lsm_iter_valid(it)) {
      const void *k, *v;
      size_t kn, vn;
      lsm_iter_value(it, &v, &vn);
      for (int r = 1;; r++) {
        n++;
        sum += vn ? *(const uint8_t *)v : 0;
        if (r == len || (rc = lsm_iter_next_row(it, &k, &kn, &v, &vn)) || !k) break;
      }
    }
    lsm_iter_free(it);
  }
  *rows = n;
  *us = (thread_cpu() - t0) * 1e6 / (double)(scans ? scans : 1);
  if (sum == 1) fputc(' ', stderr);
  return rc;
}

/* `runs` full scans (ks NULL) or runs of `scans` range scans of `len` rows; prints each run
** and the median. 0 or the engine's status. */
static int measure(lsm_db *db, const char *dir, int runs, const keys *ks, long scans, int len) {
  double us[100];
  uint64_t seed = 0x5eed5678;
  if (ks) printf("%ld range scans of %d rows per run:\n", scans, len);
  else printf("full scans:\n");
  for (int r = 0; r < runs; r++) {
    long rows;
    int rc = ks ? ranges(db, ks, scans, len, &seed, &rows, &us[r]) : scan(db, &rows, &us[r]);
    if (rc) {
      fprintf(stderr, "bench_engscan: %s of %s failed: %s\n", ks ? "range scans" : "scan", dir,
              lsm_errmsg());
      return rc;
    }
    if (ks) printf("  run %d: %ld rows, %.3f us per scan (bench thread CPU)\n", r + 1, rows, us[r]);
    else printf("  run %d: %ld rows, %.4f us per row (bench thread CPU)\n", r + 1, rows, us[r]);
  }
  qsort(us, (size_t)runs, sizeof us[0], cmp_double);
  printf("  median of %d: %.4f us per %s\n", runs, us[runs / 2], ks ? "scan" : "row");
  return LSM_OK;
}

/* The standalone table: N keys "%016llu" of 2*perm(i), values of 100 bytes whose second half
** repeats the first (half-compressible), written in batches of 1000, then flushed and compacted
** whole (lsm_compact_range): a shape no read can change (L0 files left by a settle would be
** compacted by the scans' seek charge in the middle of a run), one sorted run, the best case;
** a table's own shape is measured through DIR. */
static int build(const char *dir, const lsm_options *o, long n) {
  lsm_db *db;
  lsm_batch *b;
  int rc = lsm_open(dir, o, &db);
  if (rc) return rc;
  if ((rc = lsm_batch_new(&b))) {
    lsm_close(db);
    return rc;
  }
  perm p;
  perm_init(&p, (uint64_t)n, 0x5eed5678);
  char k[32], v[100];
  for (long i = 0; i < n && !rc; i++) {
    snprintf(k, sizeof k, "%016llu", (unsigned long long)(2 * perm_at(&p, (uint64_t)i)));
    uint64_t x = mix((uint64_t)i);
    for (int j = 0; j < 50; j++) v[j] = (char)(x = mix(x + (uint64_t)j));
    memcpy(v + 50, v, 50);
    rc = lsm_batch_put(b, k, 16, v, sizeof v);
    if (!rc && (lsm_batch_count(b) == 1000 || i == n - 1)) {
      rc = lsm_write(db, b);
      lsm_batch_clear(b);
    }
  }
  lsm_batch_free(b);
  if (!rc) rc = lsm_flush(db, 1);
  if (!rc) rc = lsm_compact_range(db, NULL, 0, NULL, 0);
  int rc2 = lsm_close(db);
  return rc ? rc : rc2;
}

/* The value of numeric option opt ("-R", "-s", "-n", "-l") from text v, in its range; 0 after a
** message when it is not a number in range. */
static int num_arg(const char *opt, const char *v, long *out) {
  static const struct {
    char o;
    long lo, hi;
    const char *what;
  } r[] = {{'R', 1, 100, "runs"},
           {'s', 1, 1000000000, "scans"},
           {'n', 1000, 1000000000, "keys"},
           {'l', 1, 1000000, "rows per scan"}};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
    if (r[i].o != opt[1]) continue;
    char *end;
    errno = 0;
    *out = strtol(v, &end, 10);
    if (end != v && !*end && !errno && *out >= r[i].lo && *out <= r[i].hi) return 1;
    fprintf(stderr, "bench_engscan: %s wants %ld..%ld %s, not '%s'\n", opt, r[i].lo, r[i].hi, r[i].what, v);
    return 0;
  }
  return 0;
}

int main(int argc, char **argv) {
  int runs = 3;
  long scans = 0, n = 1000000;
  int len = 100;
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    long x;
    int num = i + 1 < argc && argv[i][0] == '-' && argv[i][1] && strchr("Rsnl", argv[i][1]) && !argv[i][2];
    if (num && !num_arg(argv[i], argv[i + 1], &x)) return 2;
    if (num) {
      switch (argv[i++][1]) {
      case 'R': runs = (int)x; break;
      case 's': scans = x; break;
      case 'n': n = x; break;
      default: len = (int)x; break;
      }
    } else if (argv[i][0] != '-' && !dir) {
      dir = argv[i];
    } else {
      fprintf(stderr, "usage: bench_engscan [-R runs] [-s scans [-l rows]] DIR\n"
                      "       bench_engscan [-R runs] [-n N] [-s scans [-l rows]]\n");
      return 2;
    }
  }
  /* A SQL table's defaults where they bear on the layout and on reading (ext/vtopts.h). */
  lsm_options o;
  lsm_options_default(&o);
  o.mmap_reads = 1;
  o.l0_compaction_trigger = 4;
  o.block_size = 2048;
  o.compression = LSM_COMPRESS_LZ4;
  o.l1_compression = LSM_COMPRESS_NONE;
  int own = !dir, rc;
  if (own) {
    dir = "engscan-db";
    rm_rf(dir);
    if ((rc = build(dir, &o, n))) {
      fprintf(stderr, "bench_engscan: building %s: %s\n", dir, lsm_errmsg());
      rm_rf(dir);
      return 1;
    }
  }
  o.create_if_missing = 0;
  lsm_db *db;
  rc = lsm_open(dir, &o, &db);
  if (rc) {
    fprintf(stderr, "bench_engscan: cannot open %s: %s\n", dir, lsm_errmsg());
    return 1;
  }
  lsm_stats st;
  if (!lsm_get_stats(db, &st)) {
    printf("### bench_engscan: %s, files per level", dir);
    for (int l = 0; l < LSM_MAX_LEVELS; l++) printf("%c%llu", l ? '/' : ' ', (unsigned long long)st.level_files[l]);
    printf(", codecs %s (levels 0-1: %s)\n", st.compression, st.l1_compression);
  }
  if (own && !scans) scans = 20000;
  rc = (!own && scans) ? 0 : measure(db, dir, runs, NULL, 0, 0);
  if (!rc && scans) {
    keys ks = {0};
    if ((rc = sample_keys(db, &ks)) || !ks.count) {
      fprintf(stderr, "bench_engscan: %s: %s\n", dir, rc ? lsm_errmsg() : "the table is empty");
      rc = rc ? rc : 1;
    } else {
      rc = measure(db, dir, runs, &ks, scans, len);
    }
    for (long i = 0; i < ks.count; i++) free(ks.k[i]);
    free(ks.k);
    free(ks.n);
  }
  int rc2 = lsm_close(db);
  if (own) rm_rf(dir);
  return rc || rc2 ? 1 : 0;
}
