/*
** iter.h — the engine's internal iterator interface.
**
** Every ordered source (block, SSTable, memtable, level, merge, and the DB iterator on top)
** implements it_ops, so merge and level iterators compose any of them. Keys seen through this
** interface are whatever the source orders by: inside the engine they are internal keys
** (ikey.h); comparisons are done by the comparator the creator of a composing iterator passes.
**
** Contract (as LevelDB's Iterator):
** - A new iterator is not valid until a seek.
** - seek(k): position at the first entry with key >= k. seek_first / seek_last: first / last.
** - next / prev: REQUIRES valid(). After moving past either end, valid() is false.
** - key / value: REQUIRES valid(). The returned bytes are borrowed from the iterator and stay
**   valid only until the next call that moves it (seek*, next, prev) or destroys it.
** - Errors (IO, corruption) are returned by the moving call and remembered: valid() becomes
**   false and status() returns the code (message in st_errmsg of the thread that hit it).
**   An iterator that ran off the end is not an error.
** - destroy releases the iterator and anything it owns (it_free(NULL) is a no-op).
** - next_kv (optional, NULL = not provided; callers use it_next_kv): next, then valid, key
**   and value in one call, for the per-row path of composed iterators (merge -> level ->
**   table) where three more indirect calls per layer were a third of a scan's iteration
**   cost. Same contract as next; returns the new current entry, a pointer to the iterator's
**   own it_kv (no copy: a caller re-reading a struct just written field by field stalls on
**   store forwarding), or NULL when not valid after the step (status() then tells an error
**   from the end). The entry and its bytes live as key/value's do.
**
** Thread safety: an iterator is used by one thread at a time.
*/
#ifndef LSMVTAB_ITER_H
#define LSMVTAB_ITER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct it_iter it_iter;

/* A borrowed entry: key and value of an iterator's current position. */
typedef struct it_kv {
  const uint8_t *k, *v;
  size_t kn, vn;
} it_kv;

typedef struct it_ops {
  int (*seek)(it_iter *it, const uint8_t *key, size_t n);
  int (*seek_first)(it_iter *it);
  int (*seek_last)(it_iter *it);
  int (*next)(it_iter *it);
  int (*prev)(it_iter *it);
  int (*valid)(const it_iter *it);
  void (*key)(const it_iter *it, const uint8_t **key, size_t *n);
  void (*value)(const it_iter *it, const uint8_t **val, size_t *n);
  int (*status)(const it_iter *it);
  void (*destroy)(it_iter *it);
  const it_kv *(*next_kv)(it_iter *it); /* optional: see the contract above */
} it_ops;

/* Base struct: the first member of every concrete iterator. */
struct it_iter {
  const it_ops *ops;
};

static inline int it_seek(it_iter *it, const uint8_t *k, size_t n) { return it->ops->seek(it, k, n); }
static inline int it_seek_first(it_iter *it) { return it->ops->seek_first(it); }
static inline int it_seek_last(it_iter *it) { return it->ops->seek_last(it); }
static inline int it_next(it_iter *it) { return it->ops->next(it); }
static inline int it_prev(it_iter *it) { return it->ops->prev(it); }
static inline int it_valid(const it_iter *it) { return it->ops->valid(it); }
static inline void it_key(const it_iter *it, const uint8_t **k, size_t *n) { it->ops->key(it, k, n); }
static inline void it_value(const it_iter *it, const uint8_t **v, size_t *n) { it->ops->value(it, v, n); }
static inline int it_status(const it_iter *it) { return it->ops->status(it); }
/* The current entry, when valid: 1 and *e filled, else 0. */
static inline int it_cur_kv(const it_iter *it, it_kv *e) {
  if (!it->ops->valid(it)) return 0;
  it->ops->key(it, &e->k, &e->kn);
  it->ops->value(it, &e->v, &e->vn);
  return 1;
}
/* next, then the current entry (NULL when not valid): the iterator's own through its next_kv
** when it has one, else filled into *buf. REQUIRES valid(). */
static inline const it_kv *it_next_kv(it_iter *it, it_kv *buf) {
  if (it->ops->next_kv) return it->ops->next_kv(it);
  it->ops->next(it);
  return it_cur_kv(it, buf) ? buf : NULL;
}
static inline void it_free(it_iter *it) {
  if (it) it->ops->destroy(it);
}

/* A key comparator: <0, 0, >0 like memcmp. */
typedef int (*it_cmp_fn)(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);

/* Plain bytewise comparison (shorter prefix first). */
int it_bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);

/* The same, inline, for hot loops (skiplist walks, key comparisons of merges and block
** searches): the first 32 bytes are compared 8 at a time as big-endian words (keys mostly
** differ there, and fixed-width keys such as "%016d" or encoded integers often share their
** first word, which made the old one-word version call memcmp for nearly every compare),
** the rest with memcmp. */
static inline int it_bytes_cmp_word(uint64_t x, uint64_t y) {
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
  x = __builtin_bswap64(x);
  y = __builtin_bswap64(y);
#endif
  return x < y ? -1 : 1;
}
static inline int it_bytes_cmp_inline(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  size_t m = an < bn ? an : bn, off = 0;
  for (; off + 8 <= m && off < 32; off += 8) {
    uint64_t x, y;
    memcpy(&x, a + off, 8);
    memcpy(&y, b + off, 8);
    if (x != y) return it_bytes_cmp_word(x, y);
  }
  if (m > off) {
    int c = memcmp(a + off, b + off, m - off);
    if (c) return c;
  }
  return an < bn ? -1 : an > bn;
}

#endif
