/* Tests of engine/wal.c on both fio backends: round trip of many records (empty, small, larger
** than the reader's chunk), the exact record format, torn tails at every byte offset of the last
** record (and torn/zero headers, zero-filled tails) dropped with the prefix recovered, a flipped
** byte anywhere in an earlier record reported as corruption naming file and offset, bad file
** headers, and sticky errors after injected append/fsync failures (fio fault env). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "coding.h"
#include "fio.h"
#include "mm.h"
#include "status.h"
#include "wal.h"

typedef struct ctx {
  int backend;
  fio_env *env;
} ctx;

static int setup(void **state) {
  ctx *c = *state;
  int rc = fio_env_new(c->backend, &c->env);
  if (rc) {
    print_error("fio_env_new(%d): %s\n", c->backend, st_errmsg());
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  ctx *c = *state;
  fio_env_free(c->env);
  c->env = NULL;
  return 0;
}

static const char *fname(ctx *c, const char *base) {
  static char buf[128];
  snprintf(buf, sizeof buf, "%s-%s.wal", base, c->backend == FIO_URING ? "uring" : "sync");
  return buf;
}

/* Deterministic payload of record i. */
static size_t rec_len(int i) {
  if (i == 7) return 0;
  if (i == 100) return 300000;   /* more than the reader's 256 KiB chunk */
  if (i == 101) return 1u << 20; /* spans chunk boundaries */
  return (size_t)((i * 2654435761u) % 3000u);
}
static void rec_fill(int i, uint8_t *p, size_t n) {
  for (size_t j = 0; j < n; j++) p[j] = (uint8_t)(i * 131 + j * 7 + (j >> 8));
}

static void write_log(ctx *c, const char *path, int nrec, uint64_t lognum) {
  wal_writer *w;
  unlink(path);
  assert_int_equal(wal_create(c->env, path, lognum, &w), LSM_OK);
  uint8_t *buf = malloc(1u << 20);
  assert_non_null(buf);
  for (int i = 0; i < nrec; i++) {
    size_t n = rec_len(i);
    rec_fill(i, buf, n);
    assert_int_equal(wal_add(w, buf, n), LSM_OK);
    if (i % 500 == 0) assert_int_equal(wal_sync(w), LSM_OK);
  }
  assert_int_equal(wal_sync(w), LSM_OK);
  assert_int_equal(wal_error(w), LSM_OK);
  assert_int_equal(wal_log_number(w), lognum);
  assert_int_equal(wal_close(w), LSM_OK);
  free(buf);
}

/* Read the whole log; returns the number of records (checked against rec_fill for the first
** `expect` records), the final status in *rc. */
static int read_log(ctx *c, const char *path, int *final_rc, uint64_t *dropped) {
  wal_reader *r;
  int rc = wal_open_read(c->env, path, &r);
  if (rc) {
    *final_rc = rc;
    return -1;
  }
  int i = 0;
  uint8_t *want = malloc(1u << 20);
  assert_non_null(want);
  const uint8_t *p;
  size_t n;
  while ((rc = wal_next(r, &p, &n)) == LSM_OK) {
    assert_int_equal(n, rec_len(i));
    rec_fill(i, want, n);
    if (n && memcmp(p, want, n) != 0) fail_msg("record %d differs", i);
    i++;
  }
  if (rc == LSM_NOTFOUND) {
    *dropped = wal_dropped(r);
    /* the end is sticky too */
    assert_int_equal(wal_next(r, &p, &n), LSM_NOTFOUND);
  } else {
    assert_int_equal(wal_next(r, &p, &n), rc); /* errors are sticky */
  }
  *final_rc = rc;
  free(want);
  wal_close_read(r);
  return i;
}

static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)sz + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
  fclose(f);
  *n = (size_t)sz;
  return b;
}

/* Make path hold exactly p[0..n). Overwrite in place + ftruncate rather than O_TRUNC: ext4
** flushes a file truncated to zero on close (auto_da_alloc), which would make the thousands of
** rewrites below disk-bound. */
static void spit(const char *path, const uint8_t *p, size_t n) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(fd, p + done, n - done, (off_t)done);
    assert_true(w > 0);
    done += (size_t)w;
  }
  assert_int_equal(ftruncate(fd, (off_t)n), 0);
  close(fd);
}

/* Offsets of the records in a log image. */
static int record_offsets(const uint8_t *img, size_t n, uint64_t *offs, int max) {
  int k = 0;
  size_t off = WAL_HEADER;
  while (off < n && k < max) {
    offs[k++] = off;
    off += WAL_REC_HEADER + cd_get_fixed32(img + off);
  }
  assert_int_equal(off, n);
  return k;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_roundtrip(void **state) {
  ctx *c = *state;
  const char *path = fname(c, "rt");
  const int N = 2000;
  write_log(c, path, N, 42);
  int rc;
  uint64_t dropped = 99;
  assert_int_equal(read_log(c, path, &rc, &dropped), N);
  assert_int_equal(rc, LSM_NOTFOUND);
  assert_int_equal(dropped, 0);

  /* the exact format: header fields, and record 0's framing */
  size_t n;
  uint8_t *img = slurp(path, &n);
  assert_int_equal(cd_get_fixed32(img), WAL_MAGIC);
  assert_memory_equal(img, "LSMW", 4);
  assert_int_equal(cd_get_fixed32(img + 4), WAL_VERSION);
  assert_int_equal(cd_get_fixed64(img + 8), 42);
  assert_true(cd_get_fixed64(img + 16) == cd_xxh3(img, 16));
  const uint8_t *rec = img + WAL_HEADER;
  uint32_t len = cd_get_fixed32(rec);
  assert_int_equal(len, rec_len(0));
  assert_int_equal(cd_get_fixed32(rec + 4), cd_xxh3_32(rec, 4));
  uint8_t *cat = malloc(4 + len);
  memcpy(cat, rec, 4);
  memcpy(cat + 4, rec + 16, len);
  assert_true(cd_get_fixed64(rec + 8) == cd_xxh3(cat, 4 + len));
  free(cat);

  wal_reader *r;
  assert_int_equal(wal_open_read(c->env, path, &r), LSM_OK);
  assert_int_equal(wal_reader_log_number(r), 42);
  assert_int_equal(wal_good_end(r), WAL_HEADER);
  const uint8_t *p;
  size_t pn;
  while (wal_next(r, &p, &pn) == LSM_OK) {
  }
  assert_int_equal(wal_good_end(r), n);
  wal_close_read(r);
  free(img);

  /* creating over an existing file is refused and leaves it alone */
  wal_writer *w;
  assert_int_equal(wal_create(c->env, path, 1, &w), LSM_CANTOPEN);
  assert_int_equal(read_log(c, path, &rc, &dropped), N);
  /* missing file */
  assert_int_equal(wal_open_read(c->env, "nope.wal", &r), LSM_CANTOPEN);
  /* a log with a header and no records */
  const char *empty = fname(c, "empty");
  write_log(c, empty, 0, 5);
  assert_int_equal(read_log(c, empty, &rc, &dropped), 0);
  assert_int_equal(rc, LSM_NOTFOUND);
}

/* Cut the file at every byte offset from the start of the last record to its end: the last
** record is dropped, everything before is recovered. Also cuts inside the file header. */
static void test_torn_tail(void **state) {
  ctx *c = *state;
  const char *path = fname(c, "torn"), *cut = fname(c, "torn-cut");
  const int N = 30;
  write_log(c, path, N, 7);
  size_t n;
  uint8_t *img = slurp(path, &n);
  uint64_t offs[64];
  assert_int_equal(record_offsets(img, n, offs, 64), N);
  uint64_t last = offs[N - 1];
  assert_true(n - last > 100); /* a record with a payload */
  for (size_t t = last; t < n; t++) {
    spit(cut, img, t);
    int rc;
    uint64_t dropped = 0;
    int got = read_log(c, cut, &rc, &dropped);
    if (got != N - 1 || rc != LSM_NOTFOUND) fail_msg("cut at %zu: %d records, rc %d (%s)", t, got, rc, st_errmsg());
    assert_int_equal(dropped, t - last);
  }
  /* cuts of the whole log inside an earlier record: the prefix up to it */
  for (int k = 1; k < N; k += 5) {
    size_t t = offs[k] + 9;
    spit(cut, img, t);
    int rc;
    uint64_t dropped;
    assert_int_equal(read_log(c, cut, &rc, &dropped), k);
    assert_int_equal(rc, LSM_NOTFOUND);
    assert_int_equal(dropped, 9);
  }
  /* inside the file header: an empty log (a crash inside wal_create) */
  for (size_t t = 0; t < WAL_HEADER; t++) {
    spit(cut, img, t);
    int rc;
    uint64_t dropped;
    assert_int_equal(read_log(c, cut, &rc, &dropped), 0);
    assert_int_equal(rc, LSM_NOTFOUND);
    assert_int_equal(dropped, t);
  }
  /* a zero-filled tail after the records (size extended, data never written) */
  uint8_t *z = calloc(1, n + 8192);
  memcpy(z, img, n);
  spit(cut, z, n + 8192);
  int rc;
  uint64_t dropped;
  assert_int_equal(read_log(c, cut, &rc, &dropped), N);
  assert_int_equal(rc, LSM_NOTFOUND);
  assert_int_equal(dropped, 8192);
  /* the last record's payload zeroed (pages lost, size kept) */
  memset(z + last + WAL_REC_HEADER, 0, n - last - WAL_REC_HEADER);
  spit(cut, z, n);
  assert_int_equal(read_log(c, cut, &rc, &dropped), N - 1);
  assert_int_equal(rc, LSM_NOTFOUND);
  assert_int_equal(dropped, n - last);
  /* the last record's header zeroed too, plus trailing zeros */
  memset(z + last, 0, n + 8192 - last);
  spit(cut, z, n + 8192);
  assert_int_equal(read_log(c, cut, &rc, &dropped), N - 1);
  assert_int_equal(rc, LSM_NOTFOUND);
  assert_int_equal(dropped, n + 8192 - last);
  /* 2 MiB of random garbage after the records: no record boundary in it, so a torn tail; the
  ** byte-by-byte search for a later record must stay linear (lcheck rejects in O(1)) */
  {
    size_t g = 2u << 20;
    uint8_t *gb = malloc(n + g);
    assert_non_null(gb);
    memcpy(gb, img, n);
    uint64_t x = 0x1234567;
    printf("garbage seed=0x1234567\n");
    for (size_t i = 0; i < g; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      gb[n + i] = (uint8_t)x;
    }
    spit(cut, gb, n + g);
    assert_int_equal(read_log(c, cut, &rc, &dropped), N);
    assert_int_equal(rc, LSM_NOTFOUND);
    assert_int_equal(dropped, g);
    free(gb);
  }
  /* zeros never pass the length check (the torn-tail rule relies on it) */
  uint8_t zero4[4] = {0};
  assert_int_not_equal(cd_xxh3_32(zero4, 4), 0);
  /* an all-zero file (header never written) */
  memset(z, 0, n);
  spit(cut, z, 4096);
  assert_int_equal(read_log(c, cut, &rc, &dropped), 0);
  assert_int_equal(rc, LSM_NOTFOUND);
  assert_int_equal(dropped, 4096);
  free(z);
  free(img);
}

/* A flipped byte anywhere in an earlier record (length, lcheck, checksum, payload) is reported
** as corruption naming the file and the record's offset; records before it are delivered. */
static void test_mid_file_corruption(void **state) {
  ctx *c = *state;
  const char *path = fname(c, "mid"), *bad = fname(c, "mid-bad");
  const int N = 12;
  write_log(c, path, N, 9);
  size_t n;
  uint8_t *img = slurp(path, &n);
  uint64_t offs[64];
  assert_int_equal(record_offsets(img, n, offs, 64), N);
  int k = 3; /* a record with a payload, not the last */
  assert_true(rec_len(k) > 0);
  uint64_t end = offs[k + 1];
  for (uint64_t i = offs[k]; i < end; i++) {
    for (int bit = (int)(i % 8); bit < 8; bit += 8) { /* one bit per byte, rotating */
      img[i] ^= (uint8_t)(1 << bit);
      spit(bad, img, n);
      img[i] ^= (uint8_t)(1 << bit);
      int rc;
      uint64_t dropped;
      int got = read_log(c, bad, &rc, &dropped);
      if (rc != LSM_CORRUPT) fail_msg("flip at %llu bit %d: rc %d, %d records", (unsigned long long)i, bit, rc, got);
      assert_int_equal(got, k);
      char want[64];
      snprintf(want, sizeof want, "offset %llu", (unsigned long long)offs[k]);
      if (!strstr(st_errmsg(), want) || !strstr(st_errmsg(), bad)) fail_msg("message: %s", st_errmsg());
    }
  }
  /* a flip inside the LAST record is a torn tail, not corruption */
  img[offs[N - 1] + WAL_REC_HEADER] ^= 1;
  spit(bad, img, n);
  int rc;
  uint64_t dropped;
  assert_int_equal(read_log(c, bad, &rc, &dropped), N - 1);
  assert_int_equal(rc, LSM_NOTFOUND);
  assert_int_equal(dropped, n - offs[N - 1]);
  img[offs[N - 1] + WAL_REC_HEADER] ^= 1;
  /* a zeroed (lost) page in the middle followed by good records is corruption */
  memset(img + offs[2], 0, offs[4] - offs[2]);
  spit(bad, img, n);
  assert_int_equal(read_log(c, bad, &rc, &dropped), 2);
  assert_int_equal(rc, LSM_CORRUPT);
  free(img);
}

/* Random damage (flips, zeroed runs, cuts) anywhere after the header: the reader never crashes,
** every record it returns is an original one in order (read_log checks the contents), and it
** ends with LSM_NOTFOUND (torn tail) or LSM_CORRUPT, never anything else. */
static void test_random_damage(void **state) {
  ctx *c = *state;
  const char *path = fname(c, "dmg"), *bad = fname(c, "dmg-bad");
  const int N = 40;
  write_log(c, path, N, 13);
  size_t n;
  uint8_t *img = slurp(path, &n);
  uint8_t *work = malloc(n);
  assert_non_null(work);
  uint64_t seed = 2024, x = seed;
  printf("seed=%llu\n", (unsigned long long)seed);
  int corrupt = 0, torn = 0;
  for (int iter = 0; iter < 300; iter++) {
    memcpy(work, img, n);
    size_t len = n;
    int kinds = 1 + (int)(iter % 3);
    for (int d = 0; d < kinds; d++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      size_t at = WAL_HEADER + (size_t)(x % (len - WAL_HEADER));
      switch ((x >> 40) % 3) {
        case 0: work[at] ^= (uint8_t)(1u << ((x >> 50) % 8)); break;
        case 1: memset(work + at, 0, (len - at) < 600 ? len - at : 600); break;
        default: len = at; break;
      }
      if (len <= WAL_HEADER) break;
    }
    spit(bad, work, len);
    int rc;
    uint64_t dropped;
    int got = read_log(c, bad, &rc, &dropped);
    if (rc != LSM_NOTFOUND && rc != LSM_CORRUPT) fail_msg("iter %d: rc %d (seed %llu)", iter, rc, (unsigned long long)seed);
    assert_true(got >= 0 && got <= N);
    if (rc == LSM_CORRUPT) corrupt++; else torn++;
  }
  printf("random damage: %d torn tails, %d corruptions\n", torn, corrupt);
  assert_true(corrupt > 0 && torn > 0);
  free(work);
  free(img);
}

static void test_bad_header(void **state) {
  ctx *c = *state;
  const char *path = fname(c, "hdr"), *bad = fname(c, "hdr-bad");
  write_log(c, path, 3, 11);
  size_t n;
  uint8_t *img = slurp(path, &n);
  for (int i = 0; i < WAL_HEADER; i++) {
    img[i] ^= 0x10;
    spit(bad, img, n);
    img[i] ^= 0x10;
    wal_reader *r = (wal_reader *)1;
    int rc = wal_open_read(c->env, bad, &r);
    if (rc != LSM_CORRUPT) fail_msg("header byte %d flipped: rc %d", i, rc);
    assert_null(r);
    assert_non_null(strstr(st_errmsg(), bad));
  }
  /* not a log at all */
  memset(img, 'x', n);
  spit(bad, img, n);
  wal_reader *r;
  assert_int_equal(wal_open_read(c->env, bad, &r), LSM_CORRUPT);
  /* a zero header followed by data */
  memset(img, 0, WAL_HEADER);
  spit(bad, img, n);
  assert_int_equal(wal_open_read(c->env, bad, &r), LSM_CORRUPT);
  free(img);
}

/* Sticky errors: after a failed append or fsync every later write/sync fails, even when the
** underlying fault was one-shot; what was appended before is recoverable. */
static void test_sticky_errors(void **state) {
  ctx *c = *state;
  fio_env *fe;
  assert_int_equal(fio_env_fault(c->env, &fe), LSM_OK);
  const char *path = fname(c, "sticky");
  uint8_t buf[3000]; /* rec_len(i) < 3000 for the small records used here */
  rec_fill(0, buf, rec_len(0));

  /* fsync failure */
  unlink(path);
  wal_writer *w;
  assert_int_equal(wal_create(fe, path, 1, &w), LSM_OK);
  assert_int_equal(wal_add(w, buf, rec_len(0)), LSM_OK);
  assert_int_equal(fio_fault_set(fe, FIO_OP_SYNC, 1, FIO_FAULT_ONCE), LSM_OK);
  int rc = wal_sync(w);
  assert_int_equal(LSM_PRIMARY(rc), LSM_IOERR);
  assert_int_equal(wal_error(w), rc);
  assert_int_equal(wal_add(w, buf, 10), rc);
  assert_non_null(strstr(st_errmsg(), "earlier"));
  assert_int_equal(wal_sync(w), rc);
  fio_fault_clear(fe);
  assert_int_equal(wal_add(w, buf, 10), rc); /* still refused */
  wal_close(w);
  uint64_t dropped;
  int frc;
  assert_int_equal(read_log(c, path, &frc, &dropped), 1);
  assert_int_equal(frc, LSM_NOTFOUND);

  /* torn append: the record is half written, then nothing more */
  unlink(path);
  assert_int_equal(wal_create(fe, path, 2, &w), LSM_OK);
  for (int i = 0; i < 3; i++) {
    rec_fill(i, buf, rec_len(i));
    assert_int_equal(wal_add(w, buf, rec_len(i)), LSM_OK);
  }
  assert_int_equal(fio_fault_set(fe, FIO_OP_WRITE, 1, FIO_FAULT_TORN), LSM_OK);
  rec_fill(3, buf, rec_len(3));
  rc = wal_add(w, buf, rec_len(3));
  assert_int_not_equal(rc, LSM_OK);
  fio_fault_clear(fe);
  assert_int_equal(wal_add(w, buf, rec_len(3)), rc);
  assert_int_equal(wal_sync(w), rc);
  wal_close(w);
  assert_int_equal(read_log(c, path, &frc, &dropped), 3);
  assert_int_equal(frc, LSM_NOTFOUND);
  assert_true(dropped > 0);

  /* disk full mid-append */
  unlink(path);
  assert_int_equal(wal_create(fe, path, 3, &w), LSM_OK);
  assert_int_equal(fio_fault_set(fe, FIO_OP_WRITE, 1, FIO_FAULT_SHORT), LSM_OK);
  rec_fill(0, buf, rec_len(0));
  assert_int_equal(wal_add(w, buf, rec_len(0)), LSM_FULL);
  fio_fault_clear(fe);
  assert_int_equal(wal_add(w, buf, 1), LSM_FULL);
  wal_close(w);
  assert_int_equal(read_log(c, path, &frc, &dropped), 0);
  assert_int_equal(frc, LSM_NOTFOUND);

  /* a failure inside wal_create leaves no file behind */
  unlink(path);
  for (int ops = FIO_OP_WRITE; ops <= FIO_OP_SYNC; ops *= 2) {
    assert_int_equal(fio_fault_set(fe, ops, 1, FIO_FAULT_ONCE), LSM_OK);
    w = (wal_writer *)1;
    rc = wal_create(fe, path, 4, &w);
    fio_fault_clear(fe);
    assert_int_not_equal(rc, LSM_OK);
    assert_null(w);
    assert_int_equal(access(path, F_OK), -1);
  }
  /* the directory fsync is the second sync */
  assert_int_equal(fio_fault_set(fe, FIO_OP_SYNC, 2, FIO_FAULT_ONCE), LSM_OK);
  assert_int_not_equal(wal_create(fe, path, 4, &w), LSM_OK);
  fio_fault_clear(fe);
  assert_int_equal(access(path, F_OK), -1);

  /* a read error during recovery is returned and sticky */
  write_log(c, path, 120, 6); /* bigger than one read window: reads continue after open */
  wal_reader *r;
  assert_int_equal(fio_fault_set(fe, FIO_OP_READ, 1, FIO_FAULT_ONCE), LSM_OK);
  assert_int_equal(LSM_PRIMARY(wal_open_read(fe, path, &r)), LSM_IOERR); /* the header read */
  assert_int_equal(wal_open_read(fe, path, &r), LSM_OK);
  assert_int_equal(fio_fault_set(fe, FIO_OP_READ, 1, FIO_FAULT_ONCE), LSM_OK);
  const uint8_t *p;
  size_t pn;
  int cnt = 0;
  while ((rc = wal_next(r, &p, &pn)) == LSM_OK) cnt++;
  fio_fault_clear(fe);
  assert_int_equal(LSM_PRIMARY(rc), LSM_IOERR);
  assert_true(cnt > 0 && cnt < 120);
  assert_int_equal(wal_next(r, &p, &pn), rc);
  wal_close_read(r);
  fio_env_free(fe);
}

/* Out of memory anywhere: LSM_NOMEM (or an IO code wrapping it), never a crash or a leak. */
static void test_oom(void **state) {
  ctx *c = *state;
  const char *path = fname(c, "oom");
  write_log(c, path, 120, 3); /* includes the 300 KB and 1 MB records */
  int ok = 0;
  for (long f = 0; f < 40 && !ok; f++) {
    mm_fail_after(f);
    wal_reader *r = NULL;
    int rc = wal_open_read(c->env, path, &r);
    int cnt = 0;
    if (!rc) {
      const uint8_t *p;
      size_t n;
      while ((rc = wal_next(r, &p, &n)) == LSM_OK) cnt++;
      wal_close_read(r);
    }
    mm_fail_after(-1);
    if (rc == LSM_NOTFOUND) {
      assert_int_equal(cnt, 120);
      ok = 1;
    } else {
      assert_true(rc == LSM_NOMEM || LSM_PRIMARY(rc) == LSM_IOERR);
    }
  }
  assert_true(ok);
  const char *wp = fname(c, "oom-w");
  for (long f = 0; f < 10; f++) {
    unlink(wp);
    mm_fail_after(f);
    wal_writer *w = NULL;
    int rc = wal_create(c->env, wp, 1, &w);
    if (!rc) rc = wal_add(w, "abc", 3);
    mm_fail_after(-1);
    if (w) wal_close(w);
    if (rc == LSM_OK) break;
    assert_true(rc == LSM_NOMEM || LSM_PRIMARY(rc) == LSM_IOERR);
  }
}

/* wal_add_framed (the commit path: payload after WAL_REC_HEADER bytes of room, one contiguous
** append) writes exactly the bytes wal_add writes, for every record size including 0 and ones
** larger than the reader's chunk; its errors are sticky like wal_add's. */
static void test_framed(void **state) {
  ctx *c = *state;
  const int N = 300;
  char plain[128];
  snprintf(plain, sizeof plain, "%s", fname(c, "framed-plain")); /* fname's buffer is reused */
  write_log(c, plain, N, 77);
  const char *path = fname(c, "framed");
  unlink(path);
  wal_writer *w;
  assert_int_equal(wal_create(c->env, path, 77, &w), LSM_OK);
  uint8_t *buf = malloc(WAL_REC_HEADER + (1u << 20));
  assert_non_null(buf);
  for (int i = 0; i < N; i++) {
    size_t n = rec_len(i);
    memset(buf, 0xa5, WAL_REC_HEADER); /* the room's old contents must not matter */
    rec_fill(i, buf + WAL_REC_HEADER, n);
    assert_int_equal(wal_add_framed(w, buf, n), LSM_OK);
    /* the payload is left as it was */
    uint8_t *want = malloc(n + 1);
    rec_fill(i, want, n);
    if (n && memcmp(buf + WAL_REC_HEADER, want, n) != 0) fail_msg("payload %d changed", i);
    free(want);
  }
  assert_int_equal(wal_sync(w), LSM_OK);
  assert_int_equal(wal_close(w), LSM_OK);
  size_t na, nb;
  uint8_t *a = slurp(plain, &na), *b = slurp(path, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  free(a);
  free(b);
  int rc;
  uint64_t dropped = 1;
  assert_int_equal(read_log(c, path, &rc, &dropped), N);
  assert_int_equal(rc, LSM_NOTFOUND);
  assert_int_equal(dropped, 0);

  /* a failed framed append disables the writer for both kinds of append */
  fio_env *fe;
  assert_int_equal(fio_env_fault(c->env, &fe), LSM_OK);
  unlink(path);
  assert_int_equal(wal_create(fe, path, 78, &w), LSM_OK);
  rec_fill(0, buf + WAL_REC_HEADER, rec_len(0));
  assert_int_equal(wal_add_framed(w, buf, rec_len(0)), LSM_OK);
  assert_int_equal(fio_fault_set(fe, FIO_OP_WRITE, 1, FIO_FAULT_TORN), LSM_OK);
  rec_fill(1, buf + WAL_REC_HEADER, rec_len(1));
  rc = wal_add_framed(w, buf, rec_len(1));
  assert_int_not_equal(rc, LSM_OK);
  fio_fault_clear(fe);
  assert_int_equal(wal_add_framed(w, buf, rec_len(1)), rc);
  assert_int_equal(wal_add(w, buf, 1), rc);
  wal_close(w);
  assert_int_equal(read_log(c, path, &rc, &dropped), 1);
  assert_int_equal(rc, LSM_NOTFOUND);
  free(buf);
  fio_env_free(fe);
}

int main(void) {
  static ctx sync_ctx = {FIO_SYNC, NULL}, uring_ctx = {FIO_URING, NULL};
#define BOTH(t) cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &sync_ctx), \
                cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &uring_ctx)
  const struct CMUnitTest tests[] = {
      BOTH(test_roundtrip),   BOTH(test_torn_tail),     BOTH(test_mid_file_corruption),
      BOTH(test_random_damage), BOTH(test_bad_header),  BOTH(test_sticky_errors), BOTH(test_oom),
      BOTH(test_framed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
