/* vec_iter.h — a test-only it_iter over a sorted in-memory array of (key, value) pairs, used
** as a source for the merge and dbiter tests. Header-only (static functions) so that it is not
** linked into every test binary. Keys are copied; the array must be sorted by `cmp`. */
#ifndef LSMVTAB_VEC_ITER_H
#define LSMVTAB_VEC_ITER_H

#include <stdlib.h>
#include <string.h>

#include "iter.h"
#include "mm.h"

typedef struct vec_kv {
  uint8_t *k, *v;
  size_t kn, vn;
} vec_kv;

typedef struct vec_iter {
  it_iter base;
  it_cmp_fn cmp;
  vec_kv *kv;
  int n, pos; /* pos in [0, n) when valid */
  int fail_at; /* >= 0: moving onto this index reports an error (test of error paths) */
  int rc;
  /* scratch_key: key() returns a copy made at each move, poisoned and freed at the next move
  ** (as a block iterator's materialised key is overwritten): a caller that keeps a key past a
  ** move reads garbage, or a freed block under ASan. */
  int scratch_key;
  uint8_t *kbuf;
  size_t kbn;
  it_kv e; /* vec_next_kv's entry */
} vec_iter;

static void vec_drop_kbuf(vec_iter *v) {
  if (v->kbuf) {
    memset(v->kbuf, 0xEE, v->kbn);
    free(v->kbuf);
    v->kbuf = NULL;
  }
}

static int vec_check(vec_iter *v) {
  if (v->fail_at >= 0 && v->pos == v->fail_at) {
    v->rc = 11; /* LSM_CORRUPT */
    v->pos = -1;
  }
  if (v->scratch_key) {
    vec_drop_kbuf(v);
    if (!v->rc && v->pos >= 0) {
      size_t n = v->kv[v->pos].kn;
      v->kbuf = malloc(n ? n : 1);
      memcpy(v->kbuf, v->kv[v->pos].k, n);
      v->kbn = n;
    }
  }
  return v->rc;
}
static int vec_seek(it_iter *it, const uint8_t *k, size_t n) {
  vec_iter *v = (vec_iter *)it;
  int lo = 0, hi = v->n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (v->cmp(v->kv[mid].k, v->kv[mid].kn, k, n) < 0) lo = mid + 1;
    else hi = mid;
  }
  v->pos = lo < v->n ? lo : -1;
  return vec_check(v);
}
static int vec_first(it_iter *it) {
  vec_iter *v = (vec_iter *)it;
  v->pos = v->n ? 0 : -1;
  return vec_check(v);
}
static int vec_last(it_iter *it) {
  vec_iter *v = (vec_iter *)it;
  v->pos = v->n - 1;
  return vec_check(v);
}
static int vec_next(it_iter *it) {
  vec_iter *v = (vec_iter *)it;
  if (++v->pos >= v->n) v->pos = -1;
  return vec_check(v);
}
static int vec_prev(it_iter *it) {
  vec_iter *v = (vec_iter *)it;
  v->pos--;
  return vec_check(v);
}
static int vec_valid(const it_iter *it) {
  const vec_iter *v = (const vec_iter *)it;
  return !v->rc && v->pos >= 0;
}
static void vec_key(const it_iter *it, const uint8_t **k, size_t *n) {
  const vec_iter *v = (const vec_iter *)it;
  *k = v->scratch_key ? v->kbuf : v->kv[v->pos].k;
  *n = v->kv[v->pos].kn;
}
static void vec_value(const it_iter *it, const uint8_t **p, size_t *n) {
  const vec_iter *v = (const vec_iter *)it;
  *p = v->kv[v->pos].v;
  *n = v->kv[v->pos].vn;
}
static int vec_status(const it_iter *it) { return ((const vec_iter *)it)->rc; }
static void vec_destroy(it_iter *it) {
  vec_iter *v = (vec_iter *)it;
  vec_drop_kbuf(v);
  for (int i = 0; i < v->n; i++) {
    free(v->kv[i].k);
    free(v->kv[i].v);
  }
  free(v->kv);
  free(v);
}
static const it_ops vec_ops = {vec_seek, vec_first, vec_last, vec_next, vec_prev,
                               vec_valid, vec_key, vec_value, vec_status, vec_destroy, NULL};

/* The optional next_kv (iter.h), for sources that offer it: vec_iter_use_kv switches it on. */
static const it_kv *vec_next_kv(it_iter *it) {
  vec_iter *v = (vec_iter *)it;
  vec_next(it);
  if (!vec_valid(it)) return NULL;
  vec_key(it, &v->e.k, &v->e.kn);
  vec_value(it, &v->e.v, &v->e.vn);
  return &v->e;
}
static const it_ops vec_ops_kv = {vec_seek,  vec_first, vec_last,  vec_next,   vec_prev,
                                  vec_valid, vec_key,   vec_value, vec_status, vec_destroy,
                                  vec_next_kv};
static inline void vec_iter_use_kv(it_iter *it, int on) { it->ops = on ? &vec_ops_kv : &vec_ops; }

static const it_cmp_fn *vec_sort_cmp;
static int vec_qsort_cmp(const void *a, const void *b) {
  const vec_kv *x = a, *y = b;
  return (*vec_sort_cmp)(x->k, x->kn, y->k, y->kn);
}

/* Takes ownership of kv (malloc'ed array of malloc'ed keys/values); sorts it. */
static inline it_iter *vec_iter_new(it_cmp_fn cmp, vec_kv *kv, int n) {
  vec_iter *v = calloc(1, sizeof *v);
  v->base.ops = &vec_ops;
  v->cmp = cmp;
  v->kv = kv;
  v->n = n;
  v->pos = -1;
  v->fail_at = -1;
  vec_sort_cmp = &v->cmp;
  qsort(kv, (size_t)n, sizeof *kv, vec_qsort_cmp);
  return &v->base;
}

static inline void vec_set(vec_kv *e, const void *k, size_t kn, const void *val, size_t vn) {
  e->k = malloc(kn ? kn : 1);
  memcpy(e->k, k, kn);
  e->kn = kn;
  e->v = malloc(vn ? vn : 1);
  memcpy(e->v, val, vn);
  e->vn = vn;
}

#endif
