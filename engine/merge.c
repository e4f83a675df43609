/*
** merge.c — k-way heap merge of it_iter sources; see merge.h.
**
** State: `cur` is the source whose entry is yielded (kept OUT of the heap); the heap holds every
** other valid source. Invariant when forward: every heap source is at a key > cur's key;
** reverse: < cur's key. (Strict, because sources at a key equal to cur's are older duplicates
** and are moved past it as soon as cur is chosen.) A direction switch repositions every
** non-current source on the other side of cur's key, as LevelDB's MergingIterator does.
** Fast path: after cur moves, if it is still strictly before the heap's top it stays cur with
** one comparison and no heap work (scans where one source holds a run of keys); otherwise the
** top becomes cur and the moved source replaces it with one sift-down (step_cur).
** Entry cache: a source's current key and value are fetched once after it moves (kv[i]: the
** source's own entry returned by the move when it has next_kv, else filled into buf[i]) and
** reused by every heap comparison and by m_key / m_value: a source does not move while it
** sits in the heap or is cur, so the borrowed entry stays valid, and each row saves calls
** down the level/table/block chain.
*/
#include "merge.h"

#include "ikey.h"
#include "mm.h"
#include "status.h"

typedef struct merge_it {
  it_iter base;
  it_cmp_fn cmp;
  int n;
  it_iter **src;
  const it_kv **kv; /* kv[i]: source i's current entry, valid while i is in the heap or cur */
  it_kv *buf;       /* buf[i]: where kv[i] points for a source without next_kv */
  int *heap, hn; /* source indices */
  int cur;       /* -1 = not valid */
  int reverse;
  int rc;        /* sticky first error */
} merge_it;

/* Source i's cached key (see the entry cache above). */
static inline void src_key(const merge_it *m, int i, const uint8_t **k, size_t *n) {
  *k = m->kv[i]->k;
  *n = m->kv[i]->kn;
}

/* The comparator; the engine's own internal-key order (every merge the db builds) is inlined
** here instead of called through the pointer. Same result as ikey_cmp. */
static inline int mcmp(const merge_it *m, const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  if (m->cmp != ikey_cmp) return m->cmp(a, an, b, bn);
  int c = it_bytes_cmp_inline(a, an - IKEY_TRAILER, b, bn - IKEY_TRAILER);
  if (c) return c;
  uint64_t ta = cd_get_fixed64(a + an - 8), tb = cd_get_fixed64(b + bn - 8);
  return ta > tb ? -1 : ta < tb ? 1 : 0; /* newer (larger seq, then type) first */
}

/* Fetch source i's entry after it moved. REQUIRES it valid. */
static void load_kv(merge_it *m, int i) {
  it_cur_kv(m->src[i], &m->buf[i]);
  m->kv[i] = &m->buf[i];
}

/* Heap order: forward = smaller key first, reverse = larger key first; ties: newer (lower
** index) first, so the newest of equal keys is popped first and the others are skipped. */
static int before(const merge_it *m, int a, int b) {
  const uint8_t *ka, *kb;
  size_t na, nb;
  src_key(m, a, &ka, &na);
  src_key(m, b, &kb, &nb);
  int c = mcmp(m, ka, na, kb, nb);
  if (m->reverse) c = -c;
  return c < 0 || (c == 0 && a < b);
}

static void heap_down(merge_it *m, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, s = i;
    if (l < m->hn && before(m, m->heap[l], m->heap[s])) s = l;
    if (r < m->hn && before(m, m->heap[r], m->heap[s])) s = r;
    if (s == i) return;
    int t = m->heap[i];
    m->heap[i] = m->heap[s];
    m->heap[s] = t;
    i = s;
  }
}

/* Push a valid source whose entry is in kv[src]. */
static void heap_add(merge_it *m, int src) {
  int i = m->hn++;
  m->heap[i] = src;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!before(m, m->heap[i], m->heap[p])) break;
    int t = m->heap[i];
    m->heap[i] = m->heap[p];
    m->heap[p] = t;
    i = p;
  }
}

/* Push a valid source; its entry is fetched here (it has just moved or been positioned). */
static void heap_push(merge_it *m, int src) {
  load_kv(m, src);
  heap_add(m, src);
}

static int heap_pop(merge_it *m) {
  int top = m->heap[0];
  m->heap[0] = m->heap[--m->hn];
  if (m->hn) heap_down(m, 0);
  return top;
}

/* After moving source i: remember its error, if any. Returns the sticky status. */
static int check(merge_it *m, int i) {
  if (!m->rc && !it_valid(m->src[i])) m->rc = it_status(m->src[i]);
  return m->rc;
}

static int fail(merge_it *m) {
  m->cur = -1;
  m->hn = 0;
  return m->rc;
}

/* Move every older source sitting at cur's key past it (they are at the heap's top). */
static int skip_dups(merge_it *m) {
  const uint8_t *ck, *k;
  size_t cn, n;
  src_key(m, m->cur, &ck, &cn);
  while (m->hn) {
    int j = m->heap[0];
    src_key(m, j, &k, &n);
    if (mcmp(m, k, n, ck, cn) != 0) break;
    heap_pop(m);
    if (m->reverse) {
      it_prev(m->src[j]);
      if (check(m, j)) return fail(m);
      if (it_valid(m->src[j])) heap_push(m, j);
    } else if ((m->kv[j] = it_next_kv(m->src[j], &m->buf[j]))) {
      heap_add(m, j);
    } else if (check(m, j)) {
      return fail(m);
    }
  }
  return LSM_OK;
}

/* Take the best source as cur and move every older source sitting at an equal key past it. */
static int pick(merge_it *m) {
  if (m->rc) return fail(m);
  if (m->hn == 0) {
    m->cur = -1;
    return LSM_OK;
  }
  m->cur = heap_pop(m);
  return skip_dups(m);
}

/* Source c (cur, just moved and still valid, key loaded) against the heap: it stays cur when
** it is still first (strictly before the top: one comparison, no heap work; the usual case
** while one source holds a run of keys, e.g. the biggest level in a scan), else the top
** becomes cur and c takes its place in one sift-down (instead of a push and a pop). Equal keys:
** the newer source (lower index) is cur, the older ones are moved past it. */
static int step_cur(merge_it *m, int c) {
  if (m->hn == 0) return LSM_OK;
  int top = m->heap[0];
  const uint8_t *kc, *kt;
  size_t nc, nt;
  src_key(m, c, &kc, &nc);
  src_key(m, top, &kt, &nt);
  int r = mcmp(m, kc, nc, kt, nt);
  if (m->reverse) r = -r;
  if (r < 0) return LSM_OK;
  if (r > 0 || top < c) {
    m->cur = top;
    m->heap[0] = c;
    heap_down(m, 0);
  }
  return skip_dups(m);
}

/* Rebuild the heap from every valid source (all positioned already). */
static int rebuild(merge_it *m) {
  m->hn = 0;
  for (int i = 0; i < m->n; i++) {
    if (check(m, i)) return fail(m);
    if (it_valid(m->src[i])) heap_push(m, i);
  }
  return pick(m);
}

static int m_seek(it_iter *it, const uint8_t *k, size_t n) {
  merge_it *m = (merge_it *)it;
  if (m->rc) return fail(m);
  m->reverse = 0;
  for (int i = 0; i < m->n; i++) it_seek(m->src[i], k, n);
  return rebuild(m);
}

static int m_seek_first(it_iter *it) {
  merge_it *m = (merge_it *)it;
  if (m->rc) return fail(m);
  m->reverse = 0;
  for (int i = 0; i < m->n; i++) it_seek_first(m->src[i]);
  return rebuild(m);
}

static int m_seek_last(it_iter *it) {
  merge_it *m = (merge_it *)it;
  if (m->rc) return fail(m);
  m->reverse = 1;
  for (int i = 0; i < m->n; i++) it_seek_last(m->src[i]);
  return rebuild(m);
}

static int m_next(it_iter *it) {
  merge_it *m = (merge_it *)it;
  if (m->rc || m->cur < 0) return fail(m);
  int c = m->cur;
  if (m->reverse) {
    /* Every other source is below cur's key: put each at the first key > cur's key. */
    const uint8_t *ck, *k;
    size_t cn, n;
    src_key(m, c, &ck, &cn);
    for (int i = 0; i < m->n; i++) {
      if (i == c) continue;
      it_seek(m->src[i], ck, cn);
      if (it_valid(m->src[i])) {
        it_key(m->src[i], &k, &n);
        if (mcmp(m, k, n, ck, cn) == 0) it_next(m->src[i]);
      }
      if (check(m, i)) return fail(m);
    }
    m->reverse = 0;
    it_next(m->src[c]);
    return rebuild(m);
  }
  if ((m->kv[c] = it_next_kv(m->src[c], &m->buf[c]))) return step_cur(m, c); /* (m->rc is 0) */
  if (check(m, c)) return fail(m);
  return pick(m);
}

/* next_kv: m_next, then cur's cached entry. */
const it_kv *merge_next_kv(it_iter *it) {
  merge_it *m = (merge_it *)it;
  if (m_next(it) || m->cur < 0) return NULL;
  return m->kv[m->cur];
}

static int m_prev(it_iter *it) {
  merge_it *m = (merge_it *)it;
  if (m->rc || m->cur < 0) return fail(m);
  int c = m->cur;
  if (!m->reverse) {
    /* Every other source is above cur's key: put each at the last key < cur's key. */
    const uint8_t *ck;
    size_t cn;
    src_key(m, c, &ck, &cn);
    for (int i = 0; i < m->n; i++) {
      if (i == c) continue;
      it_seek(m->src[i], ck, cn);
      if (it_valid(m->src[i])) it_prev(m->src[i]);
      else if (!it_status(m->src[i])) it_seek_last(m->src[i]);
      if (check(m, i)) return fail(m);
    }
    m->reverse = 1;
    it_prev(m->src[c]);
    return rebuild(m);
  }
  it_prev(m->src[c]);
  if (it_valid(m->src[c])) { /* (m->rc is 0 here: checked on entry) */
    load_kv(m, c);
    return step_cur(m, c);
  }
  if (check(m, c)) return fail(m);
  return pick(m);
}

static int m_valid(const it_iter *it) {
  const merge_it *m = (const merge_it *)it;
  return !m->rc && m->cur >= 0;
}

static void m_key(const it_iter *it, const uint8_t **k, size_t *n) {
  const merge_it *m = (const merge_it *)it;
  src_key(m, m->cur, k, n);
}

static void m_value(const it_iter *it, const uint8_t **v, size_t *n) {
  const merge_it *m = (const merge_it *)it;
  *v = m->kv[m->cur]->v;
  *n = m->kv[m->cur]->vn;
}

static int m_status(const it_iter *it) { return ((const merge_it *)it)->rc; }

static void m_destroy(it_iter *it) {
  merge_it *m = (merge_it *)it;
  for (int i = 0; i < m->n; i++) it_free(m->src[i]);
  mm_free(m->src);
  mm_free(m->heap);
  mm_free(m->kv);
  mm_free(m->buf);
  mm_free(m);
}

static const it_ops merge_ops = {m_seek,  m_seek_first, m_seek_last, m_next,    m_prev,
                                 m_valid, m_key,        m_value,     m_status,  m_destroy,
                                 merge_next_kv};

int merge_is(const it_iter *it) { return it->ops == &merge_ops; }

int merge_new(it_cmp_fn cmp, it_iter **src, int n, it_iter **out) {
  merge_it *m = mm_calloc(1, sizeof *m);
  if (m) {
    m->src = mm_malloc(sizeof(it_iter *) * (size_t)(n ? n : 1));
    m->heap = mm_malloc(sizeof(int) * (size_t)(n ? n : 1));
    m->kv = mm_calloc((size_t)(n ? n : 1), sizeof(it_kv *));
    m->buf = mm_calloc((size_t)(n ? n : 1), sizeof(it_kv));
  }
  if (!m || !m->src || !m->heap || !m->kv || !m->buf) {
    for (int i = 0; i < n; i++) it_free(src[i]);
    if (m) {
      mm_free(m->src);
      mm_free(m->heap);
      mm_free(m->kv);
      mm_free(m->buf);
      mm_free(m);
    }
    return st_err(LSM_NOMEM, "merge iterator: out of memory");
  }
  m->base.ops = &merge_ops;
  m->cmp = cmp;
  m->n = n;
  for (int i = 0; i < n; i++) m->src[i] = src[i];
  m->cur = -1;
  *out = &m->base;
  return LSM_OK;
}
