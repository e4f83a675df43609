/* Tests of engine/batch.c: the lsm_batch_* API (limits, clear, count, bytes), the rep format
** round trip, malformed reps (every truncation, every flipped byte, hand-made bad fields)
** rejected as corrupt without reading out of bounds, wb_append for group commit, and
** wb_apply_to_memtable (sequence numbers, all-or-nothing under OOM). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "coding.h"
#include "ikey.h"
#include "lsm.h"
#include "memtable.h"
#include "mm.h"
#include "status.h"

/* Records collected by wb_iterate into a string like "5:V:a=1 6:D:b ". */
typedef struct collect {
  char s[4096];
  size_t n;
  int stop_after; /* >0: return LSM_ABORT after this many */
  int seen;
} collect;

static int collect_fn(void *ctx, uint64_t seq, int type, const uint8_t *k, size_t kn,
                      const uint8_t *v, size_t vn) {
  collect *c = ctx;
  if (type == IKEY_VAL)
    c->n += (size_t)snprintf(c->s + c->n, sizeof c->s - c->n, "%llu:V:%.*s=%.*s ", (unsigned long long)seq,
                             (int)kn, (const char *)k, (int)vn, (const char *)v);
  else {
    if (v != NULL || vn != 0) return LSM_ERROR;
    c->n += (size_t)snprintf(c->s + c->n, sizeof c->s - c->n, "%llu:D:%.*s ", (unsigned long long)seq,
                             (int)kn, (const char *)k);
  }
  c->seen++;
  if (c->stop_after && c->seen >= c->stop_after) return LSM_ABORT;
  return LSM_OK;
}

static const char *dump(const lsm_batch *b, collect *c) {
  const uint8_t *p;
  size_t n;
  wb_rep(b, &p, &n);
  memset(c, 0, sizeof *c);
  assert_int_equal(wb_iterate(p, n, collect_fn, c), LSM_OK);
  return c->s;
}

static void put(lsm_batch *b, const char *k, const char *v) {
  assert_int_equal(lsm_batch_put(b, k, strlen(k), v, strlen(v)), LSM_OK);
}
static void del(lsm_batch *b, const char *k) {
  assert_int_equal(lsm_batch_delete(b, k, strlen(k)), LSM_OK);
}

static void test_basic(void **state) {
  (void)state;
  lsm_batch *b;
  collect c;
  assert_int_equal(lsm_batch_new(&b), LSM_OK);
  assert_int_equal(lsm_batch_count(b), 0);
  assert_int_equal(lsm_batch_bytes(b), WB_HEADER);
  assert_string_equal(dump(b, &c), "");
  put(b, "a", "1");
  del(b, "b");
  put(b, "c", "");
  put(b, "a", "2"); /* same key twice: both kept, in order */
  assert_int_equal(lsm_batch_count(b), 4);
  assert_int_equal(wb_count(b), 4);
  /* header 12 + (1+1+1+1+1) + (1+1+1) + (1+1+1+1) + (1+1+1+1+1) */
  assert_int_equal(lsm_batch_bytes(b), 12 + 5 + 3 + 4 + 5);
  wb_set_seq(b, 100);
  assert_true(wb_seq(b) == 100);
  assert_string_equal(dump(b, &c), "100:V:a=1 101:D:b 102:V:c= 103:V:a=2 ");

  /* exact bytes of the format */
  const uint8_t *p;
  size_t n;
  wb_rep(b, &p, &n);
  assert_int_equal(cd_get_fixed64(p), 100);
  assert_int_equal(cd_get_fixed32(p + 8), 4);
  const uint8_t rec[] = {IKEY_VAL, 1, 'a', 1, '1', IKEY_DEL, 1, 'b'};
  assert_memory_equal(p + 12, rec, sizeof rec);

  /* a callback's non-zero result stops the walk and comes back */
  memset(&c, 0, sizeof c);
  c.stop_after = 2;
  assert_int_equal(wb_iterate(p, n, collect_fn, &c), LSM_ABORT);
  assert_int_equal(c.seen, 2);

  /* round trip through a copy of the rep (a WAL payload) */
  lsm_batch *b2;
  assert_int_equal(wb_from_rep(p, n, &b2), LSM_OK);
  assert_string_equal(dump(b2, &c), "100:V:a=1 101:D:b 102:V:c= 103:V:a=2 ");
  lsm_batch_free(b2);

  lsm_batch_clear(b);
  assert_int_equal(lsm_batch_count(b), 0);
  assert_int_equal(lsm_batch_bytes(b), WB_HEADER);
  assert_true(wb_seq(b) == 0);
  put(b, "x", "y");
  assert_string_equal(dump(b, &c), "0:V:x=y ");
  lsm_batch_free(b);
  lsm_batch_free(NULL);
}

static void test_limits(void **state) {
  (void)state;
  lsm_batch *b;
  assert_int_equal(lsm_batch_new(&b), LSM_OK);
  uint8_t *big = calloc(1, LSM_MAX_KEY + 1);
  assert_non_null(big);
  assert_int_equal(lsm_batch_put(b, "", 0, "v", 1), LSM_ERROR);
  assert_int_equal(lsm_batch_delete(b, "", 0), LSM_ERROR);
  assert_int_equal(lsm_batch_put(b, big, LSM_MAX_KEY + 1, "v", 1), LSM_TOOBIG);
  assert_non_null(strstr(st_errmsg(), "key"));
  assert_int_equal(lsm_batch_delete(b, big, LSM_MAX_KEY + 1), LSM_TOOBIG);
  /* the value is never read when it is over the limit */
  assert_int_equal(lsm_batch_put(b, "k", 1, big, (size_t)LSM_MAX_VALUE + 1), LSM_TOOBIG);
  assert_non_null(strstr(st_errmsg(), "value"));
  assert_int_equal(lsm_batch_count(b), 0);
  assert_int_equal(lsm_batch_bytes(b), WB_HEADER);
  /* exactly at the limits */
  assert_int_equal(lsm_batch_put(b, big, LSM_MAX_KEY, "v", 1), LSM_OK);
  assert_int_equal(lsm_batch_delete(b, big, LSM_MAX_KEY), LSM_OK);
  uint8_t *bigv = malloc(LSM_MAX_VALUE);
  assert_non_null(bigv);
  memset(bigv, 0x5a, LSM_MAX_VALUE);
  assert_int_equal(lsm_batch_put(b, "k", 1, bigv, LSM_MAX_VALUE), LSM_OK);
  const uint8_t *p;
  size_t n;
  wb_rep(b, &p, &n);
  assert_int_equal(wb_validate(p, n), LSM_OK);
  assert_int_equal(lsm_batch_count(b), 3);
  free(bigv);
  free(big);
  lsm_batch_free(b);
}

/* A varied valid rep in an exact-size heap buffer (so ASan sees any over-read). */
static uint8_t *sample_rep(size_t *n) {
  lsm_batch *b;
  assert_int_equal(lsm_batch_new(&b), LSM_OK);
  put(b, "alpha", "one");
  del(b, "beta");
  put(b, "gamma", "");
  char v[300];
  memset(v, 'x', sizeof v - 1);
  v[sizeof v - 1] = 0;
  put(b, "delta", v); /* 2-byte varint length */
  put(b, "e", "5");
  wb_set_seq(b, 77);
  const uint8_t *p;
  wb_rep(b, &p, n);
  uint8_t *copy = malloc(*n);
  assert_non_null(copy);
  memcpy(copy, p, *n);
  lsm_batch_free(b);
  return copy;
}

static int nop_fn(void *ctx, uint64_t seq, int type, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn) {
  (void)seq, (void)type, (void)k, (void)kn, (void)v, (void)vn;
  (*(int *)ctx)++;
  return LSM_OK;
}

static void test_truncations(void **state) {
  (void)state;
  size_t n;
  uint8_t *rep = sample_rep(&n);
  assert_int_equal(wb_validate(rep, n), LSM_OK);
  for (size_t t = 0; t < n; t++) {
    uint8_t *cut = malloc(t ? t : 1);
    assert_non_null(cut);
    memcpy(cut, rep, t);
    if (wb_validate(cut, t) != LSM_CORRUPT) fail_msg("truncation to %zu of %zu bytes accepted", t, n);
    int calls = 0;
    assert_int_equal(wb_iterate(cut, t, nop_fn, &calls), LSM_CORRUPT);
    assert_int_equal(calls, 0); /* nothing delivered from a corrupt rep */
    lsm_batch *b = (lsm_batch *)1;
    assert_int_equal(wb_from_rep(cut, t, &b), LSM_CORRUPT);
    assert_null(b);
    free(cut);
  }
  /* a trailing byte is corrupt too */
  uint8_t *longer = malloc(n + 1);
  memcpy(longer, rep, n);
  longer[n] = 0;
  assert_int_equal(wb_validate(longer, n + 1), LSM_CORRUPT);
  free(longer);
  free(rep);
}

/* Flip every bit of every byte: each result is either valid or LSM_CORRUPT, never a crash or an
** out-of-bounds read (run under ASan). */
static void test_bitflips(void **state) {
  (void)state;
  size_t n;
  uint8_t *rep = sample_rep(&n);
  int corrupt = 0, ok = 0;
  for (size_t i = 0; i < n; i++) {
    for (int bit = 0; bit < 8; bit++) {
      rep[i] ^= (uint8_t)(1 << bit);
      int calls = 0;
      int rc = wb_iterate(rep, n, nop_fn, &calls);
      if (rc == LSM_OK) {
        ok++;
        assert_true(calls >= 0);
      } else {
        assert_int_equal(rc, LSM_CORRUPT);
        assert_int_equal(calls, 0);
        corrupt++;
      }
      rep[i] ^= (uint8_t)(1 << bit);
    }
  }
  /* flips in the header's count, types and lengths must be caught */
  assert_true(corrupt > 0);
  printf("bit flips: %d still valid (key/value bytes, seq), %d corrupt\n", ok, corrupt);
  free(rep);
}

static void test_malformed_fields(void **state) {
  (void)state;
  uint8_t r[64];
  size_t n;
#define HDR(seq, cnt) (cd_put_fixed64(r, (seq)), cd_put_fixed32(r + 8, (cnt)), n = 12)
  HDR(1, 0);
  assert_int_equal(wb_validate(r, n), LSM_OK); /* empty batch */
  HDR(1, 1);
  assert_int_equal(wb_validate(r, n), LSM_CORRUPT); /* count says 1, nothing there */
  HDR(1, 1);
  r[n++] = 7; /* unknown type */
  r[n++] = 1;
  r[n++] = 'k';
  assert_int_equal(wb_validate(r, n), LSM_CORRUPT);
  HDR(1, 1);
  r[n++] = IKEY_DEL;
  r[n++] = 0; /* empty key */
  assert_int_equal(wb_validate(r, n), LSM_CORRUPT);
  HDR(1, 1);
  r[n++] = IKEY_DEL;
  n = (size_t)(cd_put_varint32(r + n, LSM_MAX_KEY + 1) - r); /* key too long */
  assert_int_equal(wb_validate(r, n), LSM_CORRUPT);
  HDR(1, 1);
  r[n++] = IKEY_VAL;
  r[n++] = 1;
  r[n++] = 'k';
  n = (size_t)(cd_put_varint32(r + n, LSM_MAX_VALUE + 1) - r); /* value too long */
  assert_int_equal(wb_validate(r, n), LSM_CORRUPT);
  HDR(1, 1);
  r[n++] = IKEY_DEL;
  memset(r + n, 0xff, 6); /* varint never ends */
  n += 6;
  assert_int_equal(wb_validate(r, n), LSM_CORRUPT);
  HDR(IKEY_MAX_SEQ, 2); /* second record's seq would overflow 56 bits */
  for (int i = 0; i < 2; i++) {
    r[n++] = IKEY_DEL;
    r[n++] = 1;
    r[n++] = 'k';
  }
  assert_int_equal(wb_validate(r, n), LSM_CORRUPT);
  cd_put_fixed64(r, IKEY_MAX_SEQ - 1);
  assert_int_equal(wb_validate(r, n), LSM_OK);
  cd_put_fixed32(r + 8, 1); /* count too small: trailing record */
  assert_int_equal(wb_validate(r, n), LSM_CORRUPT);
  assert_non_null(strstr(st_errmsg(), "batch"));
#undef HDR
}

static void test_append(void **state) {
  (void)state;
  lsm_batch *a, *b, *e;
  collect c;
  assert_int_equal(lsm_batch_new(&a), LSM_OK);
  assert_int_equal(lsm_batch_new(&b), LSM_OK);
  assert_int_equal(lsm_batch_new(&e), LSM_OK);
  put(a, "k1", "v1");
  del(a, "k2");
  put(b, "k3", "v3");
  put(b, "k1", "v1b");
  wb_set_seq(b, 999); /* src's seq is ignored */
  wb_set_seq(a, 10);
  size_t an = lsm_batch_bytes(a), bn = lsm_batch_bytes(b);
  assert_int_equal(wb_append(a, b), LSM_OK);
  assert_int_equal(wb_append(a, e), LSM_OK); /* empty: no-op */
  assert_int_equal(lsm_batch_count(a), 4);
  assert_int_equal(lsm_batch_bytes(a), an + bn - WB_HEADER);
  assert_string_equal(dump(a, &c), "10:V:k1=v1 11:D:k2 12:V:k3=v3 13:V:k1=v1b ");
  assert_int_equal(wb_append(e, a), LSM_OK); /* into an empty one */
  wb_set_seq(e, 1);
  assert_string_equal(dump(e, &c), "1:V:k1=v1 2:D:k2 3:V:k3=v3 4:V:k1=v1b ");
  /* OOM leaves dst unchanged */
  size_t before = lsm_batch_bytes(b);
  for (int i = 0; i < 20; i++) put(e, "padding-key", "padding-value-padding-value");
  mm_fail_after(0);
  int rc = wb_append(b, e);
  mm_fail_after(-1);
  assert_int_equal(rc, LSM_NOMEM);
  assert_int_equal(lsm_batch_bytes(b), before);
  assert_int_equal(lsm_batch_count(b), 2);
  lsm_batch_free(a);
  lsm_batch_free(b);
  lsm_batch_free(e);
}

/* wb_one (lsm_put/lsm_delete's batch-free rep) encodes exactly what lsm_batch_put/delete do;
** wb_frame is WB_ROOM bytes before the rep; wb_check_record refuses what the batch refuses. */
static void test_one_and_frame(void **state) {
  (void)state;
  static uint8_t val[3000];
  for (size_t i = 0; i < sizeof val; i++) val[i] = (uint8_t)(i * 13);
  size_t kns[] = {1, 16, 127, 128, 300};
  size_t vns[] = {0, 1, 100, 127, 128, 500, 3000};
  uint8_t key[300];
  memset(key, 'q', sizeof key);
  for (size_t a = 0; a < sizeof kns / sizeof *kns; a++)
    for (size_t b = 0; b < sizeof vns / sizeof *vns; b++)
      for (int type = IKEY_DEL; type <= IKEY_VAL; type++) {
        size_t kn = kns[a], vn = type == IKEY_VAL ? vns[b] : 0;
        lsm_batch *x;
        assert_int_equal(lsm_batch_new(&x), LSM_OK);
        if (type == IKEY_VAL) assert_int_equal(lsm_batch_put(x, key, kn, val, vn), LSM_OK);
        else assert_int_equal(lsm_batch_delete(x, key, kn), LSM_OK);
        const uint8_t *p;
        size_t n;
        wb_rep(x, &p, &n);
        assert_ptr_equal(wb_frame(x) + WB_ROOM, p);
        assert_true(n <= WB_HEADER + wb_record_bound(type, kn, vn));
        uint8_t *one = malloc(WB_HEADER + wb_record_bound(type, kn, vn));
        memset(one, 0xee, WB_HEADER + wb_record_bound(type, kn, vn));
        assert_int_equal(wb_one(one, type, key, kn, val, vn), n);
        assert_memory_equal(one, p, n);
        assert_int_equal(wb_validate(one, n), LSM_OK);
        free(one);
        lsm_batch_free(x);
      }
  assert_int_equal(wb_check_record(IKEY_VAL, "k", 1, "v", 1), LSM_OK);
  assert_int_equal(wb_check_record(IKEY_DEL, "k", 1, NULL, 0), LSM_OK);
  assert_int_equal(wb_check_record(IKEY_VAL, "", 0, "v", 1), LSM_ERROR);
  assert_int_equal(wb_check_record(IKEY_VAL, NULL, 1, "v", 1), LSM_MISUSE);
  assert_int_equal(wb_check_record(IKEY_VAL, "k", 1, NULL, 1), LSM_MISUSE);
  assert_int_equal(wb_check_record(7, "k", 1, "v", 1), LSM_MISUSE);
  assert_int_equal(wb_check_record(IKEY_VAL, "k", LSM_MAX_KEY + 1, "v", 1), LSM_TOOBIG);
  assert_int_equal(wb_check_record(IKEY_VAL, "k", 1, "v", (size_t)LSM_MAX_VALUE + 1), LSM_TOOBIG);
  /* a rep copied from elsewhere (WAL replay) gets its room too */
  lsm_batch *x, *y;
  assert_int_equal(lsm_batch_new(&x), LSM_OK);
  put(x, "a", "1");
  del(x, "b");
  const uint8_t *p;
  size_t n;
  wb_rep(x, &p, &n);
  assert_int_equal(wb_from_rep(p, n, &y), LSM_OK);
  const uint8_t *q;
  size_t qn;
  wb_rep(y, &q, &qn);
  assert_ptr_equal(wb_frame(y) + WB_ROOM, q);
  assert_int_equal(qn, n);
  assert_memory_equal(p, q, n);
  assert_int_equal(wb_append_rep(y, p, n), LSM_OK);
  assert_int_equal(lsm_batch_count(y), 4);
  collect c;
  assert_string_equal(dump(y, &c), "0:V:a=1 1:D:b 2:V:a=1 3:D:b ");
  lsm_batch_free(x);
  lsm_batch_free(y);
}

static void test_oom_put(void **state) {
  (void)state;
  lsm_batch *b = (lsm_batch *)1;
  mm_fail_after(0);
  assert_int_equal(lsm_batch_new(&b), LSM_NOMEM);
  assert_null(b);
  mm_fail_after(1);
  assert_int_equal(lsm_batch_new(&b), LSM_NOMEM);
  mm_fail_after(-1);
  assert_int_equal(lsm_batch_new(&b), LSM_OK);
  char v[2000];
  memset(v, 'v', sizeof v);
  int added = 0, rc = LSM_OK;
  mm_fail_after(3);
  for (int i = 0; i < 10000 && rc == LSM_OK; i++) {
    rc = lsm_batch_put(b, "key", 3, v, sizeof v);
    if (rc == LSM_OK) added++;
  }
  mm_fail_after(-1);
  assert_int_equal(rc, LSM_NOMEM);
  assert_int_equal(lsm_batch_count(b), added);
  const uint8_t *p;
  size_t n;
  wb_rep(b, &p, &n);
  assert_int_equal(wb_validate(p, n), LSM_OK); /* the failed put left no partial record */
  lsm_batch_free(b);
}

static void test_apply_to_memtable(void **state) {
  (void)state;
  lsm_batch *b;
  assert_int_equal(lsm_batch_new(&b), LSM_OK);
  put(b, "a", "1");
  put(b, "b", "2");
  del(b, "a");
  put(b, "c", "3");
  char fill[1000];
  memset(fill, 'f', sizeof fill - 1);
  fill[sizeof fill - 1] = 0;
  for (int i = 0; i < 40; i++) { /* more than any arena chunk has left: reserve must allocate */
    char k[16];
    snprintf(k, sizeof k, "f%02d", i);
    put(b, k, fill);
  }
  wb_set_seq(b, 50);
  const uint8_t *p;
  size_t n;
  wb_rep(b, &p, &n);

  /* OOM at every point: either everything or nothing is applied */
  int applied = 0, failed = 0;
  for (long f = 0; f < 10 && !applied; f++) {
    mem *m;
    assert_int_equal(mem_new(&m), LSM_OK);
    /* fill the first arena chunk so the batch needs a new one */
    char big[2000] = {0};
    for (int i = 0; i < 8; i++) {
      char k[16];
      snprintf(k, sizeof k, "z%d", i);
      assert_int_equal(mem_add(m, (uint64_t)i + 1, IKEY_VAL, (const uint8_t *)k, strlen(k), (const uint8_t *)big, sizeof big), LSM_OK);
    }
    uint64_t before = mem_count(m);
    mm_fail_after(f);
    int rc = wb_apply_to_memtable(p, n, m);
    mm_fail_after(-1);
    if (rc == LSM_OK) {
      applied = 1;
      assert_int_equal(mem_count(m), before + 44);
      int type;
      const uint8_t *v;
      size_t vn;
      uint64_t seq;
      assert_int_equal(mem_get(m, (const uint8_t *)"a", 1, 50, &type, &v, &vn, &seq), LSM_OK);
      assert_int_equal(type, IKEY_VAL);
      assert_int_equal(seq, 50);
      assert_int_equal(mem_get(m, (const uint8_t *)"a", 1, 100, &type, &v, &vn, &seq), LSM_OK);
      assert_int_equal(type, IKEY_DEL);
      assert_int_equal(seq, 52);
      assert_int_equal(mem_get(m, (const uint8_t *)"c", 1, 100, &type, &v, &vn, &seq), LSM_OK);
      assert_int_equal(seq, 53);
      assert_memory_equal(v, "3", 1);
      assert_int_equal(mem_get(m, (const uint8_t *)"b", 1, 50, &type, &v, &vn, &seq), LSM_NOTFOUND);
      /* applying the same sequence numbers again is a caller bug */
      assert_int_equal(wb_apply_to_memtable(p, n, m), LSM_MISUSE);
    } else {
      assert_int_equal(rc, LSM_NOMEM);
      assert_int_equal(mem_count(m), before);
      failed++;
    }
    mem_unref(m);
  }
  assert_true(applied);
  assert_true(failed > 0);
  /* a corrupt rep is refused before anything is applied */
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  assert_int_equal(wb_apply_to_memtable(p, n - 1, m), LSM_CORRUPT);
  assert_int_equal(mem_count(m), 0);
  mem_unref(m);
  lsm_batch_free(b);
}

/* Walk memtable m: its internal keys strictly ascending, as many as mem_count; returns it. */
static uint64_t check_mem_order(mem *m) {
  it_iter *it;
  assert_int_equal(mem_iter_new(m, &it), LSM_OK);
  uint8_t prev[64];
  size_t pn = 0;
  uint64_t cnt = 0;
  for (it_seek_first(it); it_valid(it); it_next(it), cnt++) {
    const uint8_t *k;
    size_t kn;
    it_key(it, &k, &kn);
    if (cnt) assert_true(ikey_cmp(prev, pn, k, kn) < 0);
    memcpy(prev, k, kn);
    pn = kn;
  }
  assert_int_equal(cnt, mem_count(m));
  it_free(it);
  return cnt;
}

/* Apply a batch of nk ascending keys "io%05d" (every 7th a delete) at seq base, with key
** `swap` (>= 0) and key swap + 1 exchanged (out of order) or, with `twice`, key `swap` written
** again right after itself (a repeated key: not in order); then check every key's newest
** version at base + count. */
static void apply_keys(mem *m, int nk, int swap, int twice, uint64_t base) {
  lsm_batch *b;
  assert_int_equal(lsm_batch_new(&b), LSM_OK);
  int order[1200], nops = 0;
  for (int i = 0; i < nk; i++) {
    order[nops++] = i;
    if (twice && i == swap) order[nops++] = i;
  }
  if (swap >= 0 && !twice) order[swap] = swap + 1, order[swap + 1] = swap;
  for (int j = 0; j < nops; j++) {
    char kb[16], vb[24];
    snprintf(kb, sizeof kb, "io%05d", order[j]);
    snprintf(vb, sizeof vb, "v%d.%d", order[j], j);
    if (order[j] % 7 == 3) assert_int_equal(lsm_batch_delete(b, kb, strlen(kb)), LSM_OK);
    else assert_int_equal(lsm_batch_put(b, kb, strlen(kb), vb, strlen(vb)), LSM_OK);
  }
  wb_set_seq(b, base);
  const uint8_t *p;
  size_t n;
  wb_rep(b, &p, &n);
  uint64_t before = mem_count(m);
  assert_int_equal(wb_apply_to_memtable(p, n, m), LSM_OK);
  assert_int_equal(mem_count(m), before + (uint64_t)nops);
  for (int j = 0; j < nops; j++) {
    if (j + 1 < nops && order[j + 1] == order[j]) continue; /* the later record is the newest */
    char kb[16], vb[24];
    snprintf(kb, sizeof kb, "io%05d", order[j]);
    snprintf(vb, sizeof vb, "v%d.%d", order[j], j);
    int type;
    const uint8_t *v;
    size_t vn;
    uint64_t seq;
    assert_int_equal(mem_get(m, (const uint8_t *)kb, strlen(kb), base + (uint64_t)nops, &type, &v, &vn, &seq), LSM_OK);
    assert_int_equal(seq, base + (uint64_t)j);
    if (order[j] % 7 == 3) {
      assert_int_equal(type, IKEY_DEL);
    } else {
      assert_int_equal(type, IKEY_VAL);
      assert_int_equal(vn, strlen(vb));
      assert_memory_equal(v, vb, vn);
    }
  }
  /* the same sequence numbers again: refused before anything is added */
  before = mem_count(m);
  assert_int_equal(wb_apply_to_memtable(p, n, m), LSM_MISUSE);
  assert_int_equal(mem_count(m), before);
  lsm_batch_free(b);
}

/* A rep whose records are in key order already (the vtab's commits) is applied run by run
** without a sort array; one with a repeated key or a pair out of order anywhere (also after
** the first run of WB_RUN records) must take the sorting path and give the same result. */
static void test_apply_in_order(void **state) {
  (void)state;
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  apply_keys(m, 1000, -1, 0, 1000);  /* in order: 8 runs */
  apply_keys(m, 1000, 700, 0, 3000); /* out of order in the 6th run */
  apply_keys(m, 1000, 300, 1, 5000); /* a repeated key */
  apply_keys(m, 20, 18, 0, 7000);    /* out of order at the end */
  apply_keys(m, 15, -1, 0, 8000);    /* below WB_SORT_MIN: one by one */
  apply_keys(m, 128, -1, 0, 9000);   /* exactly one run */
  apply_keys(m, 129, -1, 0, 10000);  /* one run and one record */
  check_mem_order(m);
  /* out of memory: all or nothing on the in-order path too */
  int applied = 0, failed = 0;
  for (long f = 0; f < 10 && !applied; f++) {
    mem *m2;
    assert_int_equal(mem_new(&m2), LSM_OK);
    lsm_batch *b;
    assert_int_equal(lsm_batch_new(&b), LSM_OK);
    char val[300];
    memset(val, 'x', sizeof val);
    for (int i = 0; i < 500; i++) {
      char kb[16];
      snprintf(kb, sizeof kb, "o%05d", i);
      assert_int_equal(lsm_batch_put(b, kb, strlen(kb), val, sizeof val), LSM_OK);
    }
    wb_set_seq(b, 1);
    const uint8_t *p;
    size_t n;
    wb_rep(b, &p, &n);
    mm_fail_after(f);
    int rc = wb_apply_to_memtable(p, n, m2);
    mm_fail_after(-1);
    if (rc == LSM_OK) {
      applied = 1;
      assert_int_equal(mem_count(m2), 500);
    } else {
      assert_int_equal(rc, LSM_NOMEM);
      assert_int_equal(mem_count(m2), 0);
      failed++;
    }
    lsm_batch_free(b);
    mem_unref(m2);
  }
  assert_true(applied);
  assert_true(failed > 0);
  mem_unref(m);
}


/* A big batch of random puts and deletes (many records per key) is applied in sorted order
** (and a small one in batch order): at every sequence number, every key's newest visible
** version must be the model's, and a full scan must be in strict internal-key order. */
static void test_apply_sorted(void **state) {
  (void)state;
  uint64_t seed = 31337, r = seed;
  printf("seed=%llu\n", (unsigned long long)seed);
#define NK 300
#define NOPS 3000
  static int hist[NK][NOPS]; /* hist[k][i]: op index of i-th record of key k */
  static int nh[NK];
  static int optype[NOPS];
  memset(nh, 0, sizeof nh);
  mem *m;
  assert_int_equal(mem_new(&m), LSM_OK);
  /* some entries already there, older than the batch */
  for (int i = 0; i < 100; i++) {
    char k[16];
    snprintf(k, sizeof k, "key%03d", i * 3);
    assert_int_equal(mem_add(m, (uint64_t)i + 1, IKEY_VAL, (const uint8_t *)k, strlen(k), (const uint8_t *)"old", 3), LSM_OK);
  }
  for (int part = 0; part < 2; part++) { /* part 0: one big batch (sorted); part 1: small batches */
    int base = 1000 + part * 10000;
    int nops = part ? 12 : NOPS;
    lsm_batch *b;
    assert_int_equal(lsm_batch_new(&b), LSM_OK);
    memset(nh, 0, sizeof nh);
    for (int i = 0; i < nops; i++) {
      r ^= r << 13, r ^= r >> 7, r ^= r << 17;
      int k = (int)(r % NK);
      char kb[16], vb[16];
      snprintf(kb, sizeof kb, "key%03d", k);
      snprintf(vb, sizeof vb, "v%d", base + i);
      optype[i] = (r >> 20) % 4 == 0 ? IKEY_DEL : IKEY_VAL;
      if (optype[i] == IKEY_DEL) assert_int_equal(lsm_batch_delete(b, kb, strlen(kb)), LSM_OK);
      else assert_int_equal(lsm_batch_put(b, kb, strlen(kb), vb, strlen(vb)), LSM_OK);
      hist[k][nh[k]++] = i;
    }
    wb_set_seq(b, (uint64_t)base);
    const uint8_t *p;
    size_t n;
    wb_rep(b, &p, &n);
    assert_int_equal(wb_apply_to_memtable(p, n, m), LSM_OK);
    /* at every sequence number inside the batch, each touched key's newest visible record */
    for (int at = 0; at < nops; at += part ? 1 : 37) {
      for (int k = 0; k < NK; k++) {
        int want = -1;
        for (int j = 0; j < nh[k] && hist[k][j] <= at; j++) want = hist[k][j];
        if (want < 0) continue;
        char kb[16];
        snprintf(kb, sizeof kb, "key%03d", k);
        int type;
        const uint8_t *v;
        size_t vn;
        uint64_t seq;
        assert_int_equal(mem_get(m, (const uint8_t *)kb, strlen(kb), (uint64_t)(base + at), &type, &v, &vn, &seq), LSM_OK);
        if (seq != (uint64_t)(base + want) || type != optype[want])
          fail_msg("seed %llu part %d: key %s at seq %d: got seq %llu, want %d", (unsigned long long)seed, part, kb,
                   base + at, (unsigned long long)seq, base + want);
        if (type == IKEY_VAL) {
          char vb[16];
          snprintf(vb, sizeof vb, "v%d", base + want);
          assert_int_equal(vn, strlen(vb));
          assert_memory_equal(v, vb, vn);
        }
      }
    }
    lsm_batch_free(b);
  }
  assert_int_equal(check_mem_order(m), 100 + NOPS + 12);
  mem_unref(m);
#undef NK
#undef NOPS
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_truncations),
      cmocka_unit_test(test_bitflips),
      cmocka_unit_test(test_malformed_fields),
      cmocka_unit_test(test_append),
      cmocka_unit_test(test_oom_put),
      cmocka_unit_test(test_one_and_frame),
      cmocka_unit_test(test_apply_to_memtable),
      cmocka_unit_test(test_apply_sorted),
      cmocka_unit_test(test_apply_in_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
