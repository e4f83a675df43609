/* Tests of engine/merge.c (k-way merge, newest source wins on equal keys, direction switches,
** error propagation) and engine/dbiter.c (snapshot filtering, tombstones, bounds, forward and
** reverse, seek_for_prev), both against a brute-force model over random data. Seeds are fixed
** and printed on failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "dbiter.h"
#include "ikey.h"
#include "merge.h"
#include "status.h"
#include "vec_iter.h"

static uint64_t rng_state;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}

static void fmt_key(char *b, int k) { snprintf(b, 8, "k%04d", k % 10000); }

/* ---- merge ---------------------------------------------------------------------------------- */

#define MK 200
static void merge_round(uint64_t seed) {
  rng_state = seed * 2654435761u + 1;
  int ns = 1 + (int)(rnd() % 5);
  int exp_src[MK]; /* newest source holding key i, or -1 */
  for (int i = 0; i < MK; i++) exp_src[i] = -1;
  it_iter *src[5];
  for (int s = 0; s < ns; s++) {
    vec_kv *kv = malloc(sizeof(vec_kv) * MK);
    int n = 0, density = (int)(rnd() % 100);
    /* clustered: the source holds runs of consecutive keys (one source then stays the merge's
    ** current one for many steps: its fast path) */
    int clustered = rnd() % 2, in = 0;
    for (int i = 0; i < MK; i++) {
      if (clustered) {
        if (rnd() % 12 == 0) in = !in;
        if (!in) continue;
      } else if ((int)(rnd() % 100) >= density) {
        continue;
      }
      char k[8], v[16];
      fmt_key(k, i);
      snprintf(v, sizeof v, "s%d", s);
      vec_set(&kv[n++], k, 5, v, 2);
      if (exp_src[i] < 0) exp_src[i] = s;
    }
    src[s] = vec_iter_new(it_bytes_cmp, kv, n);
    vec_iter_use_kv(src[s], (seed >> s) & 1); /* a mix of sources with and without next_kv */
  }
  int ek[MK], en = 0;
  for (int i = 0; i < MK; i++)
    if (exp_src[i] >= 0) ek[en++] = i;
  it_iter *m;
  assert_int_equal(merge_new(it_bytes_cmp, src, ns, &m), LSM_OK);
  int pos = -1;
  for (int op = 0; op < 3000; op++) {
    int r = (int)(rnd() % 10);
    char k[8];
    if (r == 0) {
      int t = (int)(rnd() % (MK + 2)) - 1;
      fmt_key(k, t < 0 ? 0 : t);
      assert_int_equal(it_seek(m, (const uint8_t *)k, t < 0 ? 0 : 5), LSM_OK);
      pos = 0;
      while (pos < en && ek[pos] < t) pos++;
      if (pos == en) pos = -1;
    } else if (r == 1) {
      it_seek_first(m);
      pos = en ? 0 : -1;
    } else if (r == 2) {
      it_seek_last(m);
      pos = en - 1;
    } else if (pos >= 0 && r < 4) {
      assert_int_equal(it_next(m), LSM_OK);
      pos = pos + 1 < en ? pos + 1 : -1;
    } else if (pos >= 0 && r < 6) { /* the merge's own next_kv: its entry = key and value */
      it_kv buf;
      const it_kv *e = it_next_kv(m, &buf);
      pos = pos + 1 < en ? pos + 1 : -1;
      assert_int_equal(e != NULL, pos >= 0);
      if (e) {
        const uint8_t *kk, *vv;
        size_t kn, vn;
        it_key(m, &kk, &kn);
        it_value(m, &vv, &vn);
        assert_true(e->k == kk && e->kn == kn && e->v == vv && e->vn == vn);
      }
    } else if (pos >= 0) {
      assert_int_equal(it_prev(m), LSM_OK);
      pos = pos - 1;
    }
    if (pos < 0) {
      if (it_valid(m)) fail_msg("seed %llu op %d: valid, expected end", (unsigned long long)seed, op);
      continue;
    }
    if (!it_valid(m)) fail_msg("seed %llu op %d: not valid, expected k%04d", (unsigned long long)seed, op, ek[pos]);
    const uint8_t *kk, *vv;
    size_t kn, vn;
    it_key(m, &kk, &kn);
    it_value(m, &vv, &vn);
    fmt_key(k, ek[pos]);
    char v[16];
    snprintf(v, sizeof v, "s%d", exp_src[ek[pos]]);
    if (kn != 5 || memcmp(kk, k, 5) || vn != 2 || memcmp(vv, v, 2))
      fail_msg("seed %llu op %d: got %.*s=%.*s want %s=%s", (unsigned long long)seed, op, (int)kn,
               (const char *)kk, (int)vn, (const char *)vv, k, v);
  }
  assert_int_equal(it_status(m), LSM_OK);
  it_free(m);
}


/* it_bytes_cmp / ikey_cmp (word-at-a-time fast path over the first 32 bytes, memcmp after)
** against a byte loop: random strings of 0..44 bytes over a tiny alphabet with high bytes, so
** equal prefixes of every length (inside each word, across word boundaries, past 32) occur. */
static int naive_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  for (size_t i = 0; i < an && i < bn; i++)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return an < bn ? -1 : an > bn;
}
static int sgn(int x) { return (x > 0) - (x < 0); }

static void test_bytes_cmp(void **state) {
  (void)state;
  uint64_t seed = 77;
  rng_state = seed;
  static const uint8_t alpha[4] = {0x00, 0x01, 0x7f, 0xff};
  for (int t = 0; t < 200000; t++) {
    uint8_t a[48], b[48];
    size_t an = rnd() % 45, bn = rnd() % 45;
    for (size_t i = 0; i < an; i++) a[i] = alpha[rnd() % 4];
    for (size_t i = 0; i < bn; i++) b[i] = rnd() % 3 ? (i < an ? a[i] : alpha[rnd() % 4]) : alpha[rnd() % 4];
    int want = naive_cmp(a, an, b, bn);
    if (sgn(it_bytes_cmp(a, an, b, bn)) != want)
      fail_msg("seed %llu case %d: it_bytes_cmp lengths %zu/%zu wrong", (unsigned long long)seed, t, an, bn);
    /* as internal keys with equal trailers: the user keys decide */
    uint8_t ia[56], ib[56];
    size_t ian = ikey_encode(ia, a, an, 5, IKEY_VAL), ibn = ikey_encode(ib, b, bn, 5, IKEY_VAL);
    if (sgn(ikey_cmp(ia, ian, ib, ibn)) != want)
      fail_msg("seed %llu case %d: ikey_cmp lengths %zu/%zu wrong", (unsigned long long)seed, t, an, bn);
  }
}

/* The merge with ikey_cmp itself (its inlined internal-key comparison and the key cache):
** internal keys with long shared prefixes (0..40 bytes over a 2-letter alphabet) spread over
** 4 sources, some written to two sources (a flushed memtable and its table), walked forward
** and back, against a sorted, deduplicated model. */
#define LK 300
typedef struct lkey {
  uint8_t k[48];
  size_t n;
} lkey;
static int lkey_ref_cmp(const void *x, const void *y) {
  const lkey *a = x, *b = y;
  int c = naive_cmp(a->k, a->n - 8, b->k, b->n - 8);
  if (c) return c;
  uint64_t ta = cd_get_fixed64(a->k + a->n - 8), tb = cd_get_fixed64(b->k + b->n - 8);
  return ta > tb ? -1 : ta < tb;
}
static void test_merge_ikey_long(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    rng_state = seed * 6364136223846793005ull + 3;
    static lkey all[LK];
    vec_kv *kv[4];
    int kn[4] = {0, 0, 0, 0};
    for (int s = 0; s < 4; s++) kv[s] = malloc(sizeof(vec_kv) * LK);
    for (int i = 0; i < LK; i++) {
      uint8_t u[40];
      size_t un = rnd() % 41;
      for (size_t j = 0; j < un; j++) u[j] = rnd() % 8 ? 'a' : 'b';
      all[i].n = ikey_encode(all[i].k, u, un, (uint64_t)i + 1, rnd() % 2 ? IKEY_VAL : IKEY_DEL);
    }
    /* distinct by construction (distinct seqs); each to one or two sources */
    for (int i = 0; i < LK; i++) {
      int s = (int)(rnd() % 4), t = rnd() % 5 == 0 ? (int)(rnd() % 4) : s;
      vec_set(&kv[s][kn[s]++], all[i].k, all[i].n, "v", 1);
      if (t != s) vec_set(&kv[t][kn[t]++], all[i].k, all[i].n, "v", 1);
    }
    it_iter *src[4];
    for (int s = 0; s < 4; s++) {
      /* sources must be sorted: sort their entries by the model order */
      for (int a = 1; a < kn[s]; a++)
        for (int b = a; b > 0; b--) {
          lkey x, y;
          memcpy(x.k, kv[s][b - 1].k, kv[s][b - 1].kn);
          x.n = kv[s][b - 1].kn;
          memcpy(y.k, kv[s][b].k, kv[s][b].kn);
          y.n = kv[s][b].kn;
          if (lkey_ref_cmp(&x, &y) <= 0) break;
          vec_kv tmp = kv[s][b - 1];
          kv[s][b - 1] = kv[s][b];
          kv[s][b] = tmp;
        }
      src[s] = vec_iter_new(ikey_cmp, kv[s], kn[s]);
    }
    qsort(all, LK, sizeof all[0], lkey_ref_cmp);
    it_iter *m;
    assert_int_equal(merge_new(ikey_cmp, src, 4, &m), LSM_OK);
    int i = 0;
    for (it_seek_first(m); it_valid(m); it_next(m), i++) {
      const uint8_t *k;
      size_t n;
      it_key(m, &k, &n);
      if (i >= LK || n != all[i].n || memcmp(k, all[i].k, n))
        fail_msg("seed %llu: forward entry %d wrong", (unsigned long long)seed, i);
    }
    if (i != LK) fail_msg("seed %llu: forward gave %d entries, want %d", (unsigned long long)seed, i, LK);
    i = LK - 1;
    for (it_seek_last(m); it_valid(m); it_prev(m), i--) {
      const uint8_t *k;
      size_t n;
      it_key(m, &k, &n);
      if (i < 0 || n != all[i].n || memcmp(k, all[i].k, n))
        fail_msg("seed %llu: backward entry %d wrong", (unsigned long long)seed, i);
    }
    if (i != -1) fail_msg("seed %llu: backward stopped at %d", (unsigned long long)seed, i);
    /* seek to every model key, then a direction switch each way */
    for (int j = 0; j < LK; j += 7) {
      const uint8_t *k;
      size_t n;
      assert_int_equal(it_seek(m, all[j].k, all[j].n), LSM_OK);
      assert_true(it_valid(m));
      if (j > 0) {
        assert_int_equal(it_prev(m), LSM_OK);
        assert_true(it_valid(m));
        it_key(m, &k, &n);
        if (n != all[j - 1].n || memcmp(k, all[j - 1].k, n))
          fail_msg("seed %llu: prev after seek to %d wrong", (unsigned long long)seed, j);
        assert_int_equal(it_next(m), LSM_OK);
      }
      it_key(m, &k, &n);
      if (n != all[j].n || memcmp(k, all[j].k, n))
        fail_msg("seed %llu: seek to %d wrong", (unsigned long long)seed, j);
    }
    assert_int_equal(it_status(m), LSM_OK);
    it_free(m);
  }
}

static void test_merge_random(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 300; seed++) merge_round(seed);
}

static void test_merge_empty(void **state) {
  (void)state;
  it_iter *m;
  assert_int_equal(merge_new(it_bytes_cmp, NULL, 0, &m), LSM_OK);
  it_seek_first(m);
  assert_false(it_valid(m));
  it_seek_last(m);
  assert_false(it_valid(m));
  it_free(m);
}

static void test_merge_error(void **state) {
  (void)state;
  vec_kv *a = malloc(sizeof(vec_kv) * 3), *b = malloc(sizeof(vec_kv) * 3);
  vec_set(&a[0], "a", 1, "1", 1);
  vec_set(&a[1], "c", 1, "1", 1);
  vec_set(&a[2], "e", 1, "1", 1);
  vec_set(&b[0], "b", 1, "2", 1);
  vec_set(&b[1], "d", 1, "2", 1);
  vec_set(&b[2], "f", 1, "2", 1);
  it_iter *src[2] = {vec_iter_new(it_bytes_cmp, a, 3), vec_iter_new(it_bytes_cmp, b, 3)};
  ((vec_iter *)src[1])->fail_at = 1; /* "d" is unreadable */
  it_iter *m;
  assert_int_equal(merge_new(it_bytes_cmp, src, 2, &m), LSM_OK);
  assert_int_equal(it_seek_first(m), LSM_OK);
  assert_int_equal(it_next(m), LSM_OK); /* at "b" */
  assert_int_equal(it_next(m), LSM_CORRUPT); /* moving b onto "d" fails */
  assert_false(it_valid(m));
  assert_int_equal(it_status(m), LSM_CORRUPT);
  assert_int_equal(it_seek_first(m), LSM_CORRUPT); /* sticky */
  it_free(m);
}

/* ---- dbiter --------------------------------------------------------------------------------- */

#define DK 40
#define DN 400

static int ikey_cmp_fn(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) { return ikey_cmp(a, an, b, bn); }

static void dbi_round(uint64_t seed) {
  rng_state = seed * 11400714819323198485ull + 7;
  int nops = 1 + (int)(rnd() % DN);
  int key[DN + 1], type[DN + 1];
  for (int s = 1; s <= nops; s++) {
    key[s] = (int)(rnd() % DK);
    type[s] = rnd() % 10 < 7 ? IKEY_VAL : IKEY_DEL;
  }
  uint64_t snap = rnd() % 3 == 0 ? (uint64_t)nops : rnd() % (uint64_t)(nops + 1);
  /* model: newest version <= snap per key */
  int vis_seq[DK];
  for (int i = 0; i < DK; i++) vis_seq[i] = 0;
  for (int s = 1; s <= (int)snap; s++) vis_seq[key[s]] = type[s] == IKEY_VAL ? s : 0;
  int lo = rnd() % 3 == 0 ? (int)(rnd() % DK) : -1;
  int hi = rnd() % 3 == 0 ? (int)(rnd() % (DK + 1)) : -1;
  int ek[DK], en = 0;
  for (int i = 0; i < DK; i++)
    if (vis_seq[i] && (lo < 0 || i >= lo) && (hi < 0 || i < hi)) ek[en++] = i;

  /* the versions, spread over 3 sources */
  int ns = 3;
  vec_kv *kv[3];
  int kn[3] = {0, 0, 0};
  for (int s = 0; s < ns; s++) kv[s] = malloc(sizeof(vec_kv) * (DN + 1));
  for (int s = 1; s <= nops; s++) {
    int which = seed % 5 == 0 ? 0 : (int)(rnd() % 3); /* seeds 0 mod 5: one source, no merge */
    char k[8];
    uint8_t ik[16];
    fmt_key(k, key[s]);
    size_t n = ikey_encode(ik, (const uint8_t *)k, 5, (uint64_t)s, type[s]);
    char v[12];
    int vn = snprintf(v, sizeof v, "v%d", s);
    vec_set(&kv[which][kn[which]++], ik, n, v, type[s] == IKEY_VAL ? (size_t)vn : 0);
  }
  it_iter *src[3];
  for (int s = 0; s < ns; s++) {
    src[s] = vec_iter_new(ikey_cmp_fn, kv[s], kn[s]);
    /* seeds 3 mod 4: keys that die at the next move, like a block iterator's */
    ((vec_iter *)src[s])->scratch_key = seed % 4 == 3;
    vec_iter_use_kv(src[s], ((seed >> 2) + (uint64_t)s) % 3 != 0); /* mostly with next_kv */
  }
  it_iter *m, *d;
  /* odd seeds: ikey_cmp itself, which the merge compares inline; even: through a pointer */
  if (seed % 5 == 0) { /* the dbiter straight over one source (its it_next_kv path) */
    it_free(src[1]);
    it_free(src[2]);
    m = src[0];
  } else {
    assert_int_equal(merge_new(seed % 2 ? ikey_cmp : ikey_cmp_fn, src, ns, &m), LSM_OK);
  }
  char lob[8], hib[8];
  fmt_key(lob, lo);
  fmt_key(hib, hi);
  assert_int_equal(dbi_new(m, snap, lo >= 0 ? (uint8_t *)lob : NULL, 5, hi >= 0 ? (uint8_t *)hib : NULL,
                           5, NULL, NULL, &d),
                   LSM_OK);
  int pos = -1;
  for (int op = 0; op < 400; op++) {
    int r = (int)(rnd() % 12);
    char k[8];
    int t = (int)(rnd() % (DK + 2)) - 1;
    fmt_key(k, t < 0 ? 0 : t);
    if (r == 0) {
      assert_int_equal(it_seek(d, (const uint8_t *)k, t < 0 ? 0 : 5), LSM_OK);
      pos = 0;
      while (pos < en && ek[pos] < t) pos++;
      if (pos == en) pos = -1;
    } else if (r == 1) {
      assert_int_equal(dbi_seek_for_prev(d, (const uint8_t *)k, t < 0 ? 0 : 5), LSM_OK);
      pos = en - 1;
      while (pos >= 0 && ek[pos] > t) pos--;
    } else if (r == 2) {
      it_seek_first(d);
      pos = en ? 0 : -1;
    } else if (r == 3) {
      it_seek_last(d);
      pos = en - 1;
    } else if (pos >= 0 && r < 8) {
      assert_int_equal(it_next(d), LSM_OK);
      pos = pos + 1 < en ? pos + 1 : -1;
    } else if (pos >= 0) {
      assert_int_equal(it_prev(d), LSM_OK);
      pos = pos - 1;
    }
    if (pos < 0) {
      if (it_valid(d)) fail_msg("seed %llu op %d r %d: valid, expected end", (unsigned long long)seed, op, r);
      continue;
    }
    if (!it_valid(d))
      fail_msg("seed %llu op %d r %d: not valid, expected k%04d", (unsigned long long)seed, op, r, ek[pos]);
    const uint8_t *kk, *vv;
    size_t kl, vl;
    it_key(d, &kk, &kl);
    it_value(d, &vv, &vl);
    char v[12];
    fmt_key(k, ek[pos]);
    int vn = snprintf(v, sizeof v, "v%d", vis_seq[ek[pos]]);
    if (kl != 5 || memcmp(kk, k, 5) || vl != (size_t)vn || memcmp(vv, v, vl))
      fail_msg("seed %llu op %d r %d: got %.*s=%.*s want %s=%s", (unsigned long long)seed, op, r,
               (int)kl, (const char *)kk, (int)vl, (const char *)vv, k, v);
  }
  it_free(d);
}

static void test_dbiter_random(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 1000; seed++) dbi_round(seed);
}

static int released;
static void on_release(void *arg) { released += *(int *)arg; }

static void test_dbiter_release(void **state) {
  (void)state;
  it_iter *m, *d;
  assert_int_equal(merge_new(ikey_cmp_fn, NULL, 0, &m), LSM_OK);
  int one = 1;
  released = 0;
  assert_int_equal(dbi_new(m, 5, NULL, 0, NULL, 0, on_release, &one, &d), LSM_OK);
  it_seek_first(d);
  assert_false(it_valid(d));
  it_free(d);
  assert_int_equal(released, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bytes_cmp), cmocka_unit_test(test_merge_random),
      cmocka_unit_test(test_merge_ikey_long),
      cmocka_unit_test(test_merge_empty),
      cmocka_unit_test(test_merge_error),
      cmocka_unit_test(test_dbiter_random),
      cmocka_unit_test(test_dbiter_release),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
