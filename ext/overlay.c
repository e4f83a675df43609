/*
** overlay.c — a transaction's pending writes: a versioned skiplist with an undo log.
** See overlay.h.
*/
#include "overlay.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "lsm.h"
#include "mm.h"
#include "status.h"

#define MAX_H 24

/* A version: a 33-byte header, then the value. Sizes fit 32 bits: values are at most
** LSM_MAX_VALUE (64 MiB) and a replaced version's room at most twice that. The header is packed
** because a bulk INSERT holds one version per row: each byte here is a byte per row. */
typedef struct ov_ver {
  struct ov_ver *older;
  uint64_t seq; /* overlay sequence when written (visibility for snapshots) */
  uint64_t gen; /* savepoint generation when written (may it be overwritten in place?) */
  uint32_t vn;
  uint32_t cap; /* bytes of v[] allocated (an in-place overwrite may reuse them) */
  uint8_t kind; /* OV_PUT or OV_DEL */
  uint8_t v[];
} ov_ver;

#define VER_HDR offsetof(ov_ver, v)

/* A node: a 24-byte header, h next pointers, then the key's kn bytes (node_key). Keys are at most
** LSM_MAX_KEY (64 KiB) bytes. */
struct ov_node {
  ov_ver *ver;   /* newest first; NULL = no change (after a rollback) */
  uint64_t hash; /* of the key (the hash index) */
  uint32_t kn;
  uint8_t h;
  ov_node *next[];
};

#define NODE_HDR offsetof(ov_node, next)

static inline const uint8_t *node_key(const ov_node *n) { return (const uint8_t *)&n->next[n->h]; }

/* A slot of the hash index: the key's hash and its node (NULL = empty). */
typedef struct ov_slot {
  uint64_t hash;
  ov_node *n;
} ov_slot;

struct ov_overlay {
  int refs;
  int height;
  uint64_t rnd;
  uint64_t seq, gen;
  ov_node *head;
  ov_node **undo; /* nodes whose newest version is to be popped on rollback */
  size_t nundo, capundo;
  struct ov_sp {
    size_t nundo; /* undo entries when savepoint i was opened */
    uint64_t seq; /* the snapshot it took: its state is what a reader at seq sees */
  } *sp;
  int nsp, capsp;
  /* Nodes and versions are carved from chunks (newest first), all freed at once with the
  ** overlay: no allocation call per write and no walk to free. A version replaced in place
  ** reuses its bytes when the new value fits; otherwise the old bytes stay unused until then. */
  struct ov_chunk *chunks;
  size_t nchunks;
  size_t count;
  size_t bytes; /* memory held: chunks, hash index, pend, undo and savepoint arrays (ov_bytes) */
  /* The splice (last node < key, per level) of the last walk or link, so that ascending links
  ** (link_pending) walk nothing. Valid while shape == hint_shape (shape counts node links;
  ** nothing else changes the links). */
  uint64_t shape, hint_shape;
  ov_node *hint[MAX_H];
  /* Every node is also in a hash index (open addressing, linear probing, at most half full),
  ** which answers the point lookups (ov_get, ov_written_since, a write's "is the key there")
  ** without a walk. A new node goes to `pend` first and is linked into the skiplist only when
  ** an ordered access needs it (link_pending: sorted, then inserted in order, each from the
  ** previous one's splice): a transaction of random INSERTs then sorts its keys once instead of
  ** walking the list per row. Pending nodes were created after every snapshot taken before the
  ** last ordered access, so a cursor walking the list cannot miss a node it could see. */
  ov_slot *tab;
  size_t tabcap; /* a power of two, or 0 */
  ov_node **pend;
  size_t npend, cappend;
};

int ov_new(ov_overlay **out) {
  ov_overlay *o = mm_calloc(1, sizeof *o);
  if (!o) return st_err(LSM_NOMEM, "out of memory");
  o->head = mm_calloc(1, sizeof(ov_node) + MAX_H * sizeof(ov_node *));
  if (!o->head) {
    mm_free(o);
    return st_err(LSM_NOMEM, "out of memory");
  }
  o->head->h = MAX_H;
  o->bytes = sizeof *o + sizeof(ov_node) + MAX_H * sizeof(ov_node *);
  o->height = 1;
  o->refs = 1;
  o->seq = 1;
  o->hint_shape = UINT64_MAX; /* no hint yet */
  o->rnd = 0x9E3779B97F4A7C15ull;
  *out = o;
  return LSM_OK;
}

void ov_ref(ov_overlay *o) { o->refs++; }

typedef struct ov_chunk {
  struct ov_chunk *next;
  size_t used, cap;
  _Alignas(16) uint8_t mem[];
} ov_chunk;

#define OV_CHUNK_MIN 4096
#define OV_CHUNK_MAX 65536

/* Chunks grow from 4 KiB (a one-row transaction) to 64 KiB; a request over a quarter of that
** gets a chunk of its own, linked behind the current one so that the current one keeps filling.
** The size of the chunk a request of n (aligned) bytes takes when the current one is too small,
** and whether it is a chunk of its own. */
static size_t chunk_cap(size_t nchunks, size_t n, int *own) {
  size_t cap = nchunks < 5 ? OV_CHUNK_MIN << nchunks : OV_CHUNK_MAX;
  *own = n > OV_CHUNK_MAX / 4;
  return *own || n > cap ? n : cap;
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* n bytes, 8-byte aligned (nodes and versions hold pointers and 64-bit numbers), that live until
** the overlay is freed, or NULL (LSM_NOMEM). */
static void *ov_alloc(ov_overlay *o, size_t n) {
  n = align8(n);
  ov_chunk *c = o->chunks;
  if (!c || c->cap - c->used < n) {
    int own;
    size_t cap = chunk_cap(o->nchunks, n, &own);
    if (!(c = mm_malloc(sizeof *c + cap))) return NULL;
    o->bytes += sizeof *c + cap;
    c->used = 0;
    c->cap = cap;
    o->nchunks++;
    if (own && o->chunks) {
      c->next = o->chunks->next;
      o->chunks->next = c;
    } else {
      c->next = o->chunks;
      o->chunks = c;
    }
  }
  void *p = c->mem + c->used;
  c->used += n;
  return p;
}

void ov_unref(ov_overlay *o) {
  if (!o || --o->refs > 0) return;
  for (ov_chunk *c = o->chunks, *nx; c; c = nx) {
    nx = c->next;
    mm_free(c);
  }
  mm_free(o->tab);
  mm_free(o->pend);
  mm_free(o->head);
  mm_free(o->undo);
  mm_free(o->sp);
  mm_free(o);
}

static inline uint64_t load_be64(const uint8_t *p) {
  return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
         (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
         (uint64_t)p[6] << 8 | (uint64_t)p[7];
}

/* memcmp order, shorter prefix first. Most keys have >= 8 bytes (a number key has 11) and
** differ in the first 8: compared as one big-endian integer, without a memcmp call (this is
** most of the cost of a skiplist walk). */
static int cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  if (an >= 8 && bn >= 8) {
    uint64_t x = load_be64(a), y = load_be64(b);
    if (x != y) return x < y ? -1 : 1;
    a += 8, b += 8, an -= 8, bn -= 8;
  }
  size_t m = an < bn ? an : bn;
  int c = m ? memcmp(a, b, m) : 0;
  if (c) return c;
  return an < bn ? -1 : an > bn;
}

/* Fill prev[] with the last node < k at each level; return the first node >= k. */
static ov_node *find_ge(ov_overlay *o, const void *k, size_t kn, ov_node **prev) {
  ov_node *x = o->head;
  for (int l = o->height - 1; l >= 0; l--) {
    while (x->next[l] && cmp(node_key(x->next[l]), x->next[l]->kn, k, kn) < 0) x = x->next[l];
    if (prev) prev[l] = x;
  }
  return x->next[0];
}

static int rand_height(ov_overlay *o) {
  int h = 1;
  for (;;) {
    o->rnd ^= o->rnd << 13;
    o->rnd ^= o->rnd >> 7;
    o->rnd ^= o->rnd << 17;
    if (h >= MAX_H || (o->rnd & 3)) break; /* p = 1/4 */
    h++;
  }
  return h;
}

/* Can the hint serve key k? It is the splice of some key k' in the current list (computed
** with no insertion since, or set by the insertion itself), so its level-0 gap
** (hint[0], hint[0]->next[0]] is a gap of the list. If k falls in the same gap, the nodes < k
** are exactly the nodes < k' (those up to hint[0]), so every level's "last node < k" is the
** hint's. */
static int hint_fits(ov_overlay *o, const void *k, size_t kn) {
  if (o->hint_shape != o->shape) return 0;
  ov_node *p = o->hint[0], *nx = p->next[0];
  if (p != o->head && cmp(node_key(p), p->kn, k, kn) >= 0) return 0;
  return !nx || cmp(node_key(nx), nx->kn, k, kn) >= 0;
}

/* The first node >= k, with o->hint set to k's splice (from the hint itself when it fits). */
static ov_node *locate(ov_overlay *o, const void *k, size_t kn) {
  if (!hint_fits(o, k, kn)) {
    find_ge(o, k, kn, o->hint);
    o->hint_shape = o->shape;
  }
  return o->hint[0]->next[0];
}

static inline uint64_t key_hash(const void *k, size_t kn) { return cd_xxh3(k, kn); }

/* The node of key k (hash h), or NULL. */
static ov_node *lookup(const ov_overlay *o, uint64_t h, const void *k, size_t kn) {
  if (!o->tabcap) return NULL;
  size_t mask = o->tabcap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    const ov_slot *s = &o->tab[i];
    if (!s->n) return NULL;
    if (s->hash == h && s->n->kn == kn && memcmp(node_key(s->n), k, kn) == 0) return s->n;
  }
}

static void tab_insert(ov_slot *tab, size_t cap, ov_node *n) {
  size_t mask = cap - 1, i = (size_t)n->hash & mask;
  while (tab[i].n) i = (i + 1) & mask;
  tab[i].hash = n->hash;
  tab[i].n = n;
}

/* Rehash into a table of cap slots (a power of two, > tabcap). LSM_OK or LSM_NOMEM (nothing
** changed). */
static int tab_grow(ov_overlay *o, size_t cap) {
  ov_slot *t = mm_calloc(cap, sizeof *t);
  if (!t) return st_err(LSM_NOMEM, "out of memory");
  for (size_t i = 0; i < o->tabcap; i++)
    if (o->tab[i].n) tab_insert(t, cap, o->tab[i].n);
  o->bytes += (cap - o->tabcap) * sizeof *t;
  mm_free(o->tab);
  o->tab = t;
  o->tabcap = cap;
  return LSM_OK;
}

/* Room for one more node in the hash index and in pend. LSM_OK or LSM_NOMEM (nothing changed). */
static int reserve_node(ov_overlay *o) {
  if (o->npend == o->cappend) {
    size_t cap = o->cappend ? o->cappend * 2 : 64;
    ov_node **p = mm_realloc(o->pend, cap * sizeof *p);
    if (!p) return st_err(LSM_NOMEM, "out of memory");
    o->bytes += (cap - o->cappend) * sizeof *p;
    o->pend = p;
    o->cappend = cap;
  }
  if ((o->count + 1) * 2 > o->tabcap) return tab_grow(o, o->tabcap ? o->tabcap * 2 : 64);
  return LSM_OK;
}

int ov_reserve(ov_overlay *o, size_t n) {
  if (n > OV_RESERVE_MAX) n = OV_RESERVE_MAX;
  if (n > o->cappend) {
    ov_node **p = mm_realloc(o->pend, n * sizeof *p);
    if (!p) return st_err(LSM_NOMEM, "out of memory");
    o->bytes += (n - o->cappend) * sizeof *p;
    o->pend = p;
    o->cappend = n;
  }
  size_t cap = o->tabcap ? o->tabcap : 64;
  while (cap < 2 * n) cap *= 2;
  return cap > o->tabcap ? tab_grow(o, cap) : LSM_OK;
}

static int pend_cmp(const void *a, const void *b) {
  const ov_node *x = *(ov_node *const *)a, *y = *(ov_node *const *)b;
  return cmp(node_key(x), x->kn, node_key(y), y->kn);
}

/* A node with the first 8 bytes of its key as a big-endian number (zero-padded): prefixes that
** differ order as the keys do; equal prefixes need the full compare. */
typedef struct ov_pk {
  uint64_t p;
  ov_node *n;
} ov_pk;

static int pk_cmp(const void *a, const void *b) {
  const ov_node *x = ((const ov_pk *)a)->n, *y = ((const ov_pk *)b)->n;
  return cmp(node_key(x), x->kn, node_key(y), y->kn);
}

/* Sort o->pend by key (for speed only: link_pending places a node right in any order, but in
** ascending order each one starts from the previous one's splice): an LSD radix sort of the prefixes (the bytes in which all prefixes agree
** are skipped), then each run of equal prefixes by full compare. Falls back to qsort without
** memory for the two work arrays (sorting is an optimisation of linking, which cannot fail). */
static void sort_pending(ov_overlay *o) {
  size_t n = o->npend;
  ov_pk *a = n >= 64 ? mm_malloc(2 * n * sizeof *a) : NULL;
  if (!a) {
    qsort(o->pend, n, sizeof *o->pend, pend_cmp);
    return;
  }
  ov_pk *b = a + n;
  uint64_t any_diff = 0;
  for (size_t i = 0; i < n; i++) {
    const ov_node *x = o->pend[i];
    uint8_t pb[8] = {0};
    memcpy(pb, node_key(x), x->kn < 8 ? x->kn : 8);
    a[i].p = load_be64(pb);
    a[i].n = o->pend[i];
    any_diff |= a[i].p ^ a[0].p;
  }
  for (int byte = 0; byte < 8; byte++) {
    int shift = 8 * byte;
    if (!((any_diff >> shift) & 0xff)) continue; /* every prefix has the same byte here */
    size_t cnt[256] = {0};
    for (size_t i = 0; i < n; i++) cnt[(a[i].p >> shift) & 0xff]++;
    size_t sum = 0;
    for (int d = 0; d < 256; d++) {
      size_t c = cnt[d];
      cnt[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++) b[cnt[(a[i].p >> shift) & 0xff]++] = a[i];
    ov_pk *t = a;
    a = b;
    b = t;
  }
  for (size_t i = 0, j; i < n; i = j) {
    for (j = i + 1; j < n && a[j].p == a[i].p; j++) {}
    if (j - i > 1) qsort(a + i, j - i, sizeof *a, pk_cmp);
  }
  for (size_t i = 0; i < n; i++) o->pend[i] = a[i].n;
  mm_free(a < b ? a : b); /* the allocation starts at the lower of the two halves */
}

/* Link the pending nodes into the skiplist (before any ordered access). Cannot fail. */
static void link_pending(ov_overlay *o) {
  if (!o->npend) return;
  sort_pending(o);
  for (size_t i = 0; i < o->npend; i++) {
    ov_node *n = o->pend[i];
    /* ascending: the key usually falls in the gap just after the previous one (the hint) */
    (void)locate(o, node_key(n), n->kn);
    ov_node **prev = o->hint;
    int h = n->h;
    for (int l = o->height; l < h; l++) prev[l] = o->head;
    if (h > o->height) o->height = h;
    for (int l = 0; l < h; l++) {
      n->next[l] = prev[l]->next[l];
      prev[l]->next[l] = n;
    }
    o->shape++;
    /* the splice of the gap just after n (n at its levels, prev above them) */
    for (int l = 0; l < h; l++) o->hint[l] = n;
    o->hint_shape = o->shape;
  }
  o->npend = 0;
}

static ov_node *find_or_insert(ov_overlay *o, const void *k, size_t kn) {
  uint64_t hash = key_hash(k, kn);
  ov_node *n = lookup(o, hash, k, kn);
  if (n) return n;
  if (reserve_node(o)) return NULL;
  int h = rand_height(o);
  n = ov_alloc(o, NODE_HDR + (size_t)h * sizeof(ov_node *) + kn);
  if (!n) return NULL;
  n->ver = NULL;
  n->h = (uint8_t)h;
  n->kn = (uint32_t)kn;
  n->hash = hash;
  memcpy((uint8_t *)&n->next[h], k, kn);
  for (int l = 0; l < h; l++) n->next[l] = NULL;
  tab_insert(o->tab, o->tabcap, n);
  o->pend[o->npend++] = n;
  o->count++;
  return n;
}

static int ov_write(ov_overlay *o, const void *k, size_t kn, int kind, const void *v, size_t vn) {
  if (kn > LSM_MAX_KEY || vn > LSM_MAX_VALUE) /* the 32-bit sizes of nodes and versions */
    return st_err(LSM_TOOBIG, "overlay: key of %zu or value of %zu bytes over the limit", kn, vn);
  if (o->nsp > 0 && o->nundo == o->capundo) {
    size_t cap = o->capundo ? o->capundo * 2 : 256;
    ov_node **u = mm_realloc(o->undo, cap * sizeof *u);
    if (!u) return st_err(LSM_NOMEM, "out of memory");
    o->bytes += (cap - o->capundo) * sizeof *u;
    o->undo = u;
    o->capundo = cap;
  }
  ov_node *n = find_or_insert(o, k, kn);
  if (!n) return st_err(LSM_NOMEM, "out of memory");
  ov_ver *h = n->ver;
  if (h && h->seq == o->seq && h->gen == o->gen && h->cap >= vn) {
    /* No snapshot can see h (it is newer than every snapshot) and no savepoint was opened
    ** since it was written (a rollback pops the newest version): overwrite it in place. */
    h->kind = (uint8_t)kind;
    h->vn = (uint32_t)vn;
    if (vn) memcpy(h->v, v, vn);
    return LSM_OK;
  }
  /* replacing h, which is too small: room for twice h, so that a key rewritten with ever
  ** longer values leaves at most as many unused bytes behind as its longest value */
  int replace = h && h->seq == o->seq && h->gen == o->gen;
  size_t cap = replace && vn < 2 * h->cap ? 2 * h->cap : vn;
  ov_ver *x = ov_alloc(o, VER_HDR + cap);
  if (!x) return st_err(LSM_NOMEM, "out of memory"); /* an empty node is harmless */
  x->seq = o->seq;
  x->gen = o->gen;
  x->kind = (uint8_t)kind;
  x->vn = (uint32_t)vn;
  x->cap = (uint32_t)cap;
  if (vn) memcpy(x->v, v, vn);
  if (replace) { /* as above, but the value did not fit in h */
    x->older = h->older;
    n->ver = x;
    return LSM_OK;
  }
  x->older = h;
  n->ver = x;
  if (o->nsp > 0) o->undo[o->nundo++] = n;
  return LSM_OK;
}

int ov_put(ov_overlay *o, const void *k, size_t kn, const void *v, size_t vn) {
  return ov_write(o, k, kn, OV_PUT, v, vn);
}

int ov_del(ov_overlay *o, const void *k, size_t kn) { return ov_write(o, k, kn, OV_DEL, NULL, 0); }

uint64_t ov_snapshot(ov_overlay *o) { return o->seq++; }

int ov_node_state(const ov_node *n, uint64_t s, const void **v, size_t *vn) {
  const ov_ver *x = n->ver;
  while (x && x->seq > s) x = x->older;
  if (!x) return OV_ABSENT;
  if (x->kind == OV_PUT) {
    *v = x->v;
    *vn = x->vn;
  }
  return x->kind;
}

uint64_t ov_node_seq(const ov_node *n, uint64_t s) {
  const ov_ver *x = n->ver;
  while (x && x->seq > s) x = x->older;
  return x ? x->seq : 0;
}

int ov_get(ov_overlay *o, uint64_t s, const void *k, size_t kn, const void **v, size_t *vn) {
  ov_node *n = lookup(o, key_hash(k, kn), k, kn);
  if (!n) return OV_ABSENT;
  return ov_node_state(n, s, v, vn);
}

int ov_written_since(ov_overlay *o, uint64_t s, const void *k, size_t kn) {
  ov_node *n = lookup(o, key_hash(k, kn), k, kn);
  return n && n->ver && n->ver->seq > s;
}

ov_node *ov_first(ov_overlay *o) {
  link_pending(o);
  return o->head->next[0];
}

ov_node *ov_last(ov_overlay *o) {
  link_pending(o);
  ov_node *x = o->head;
  for (int l = o->height - 1; l >= 0; l--)
    while (x->next[l]) x = x->next[l];
  return x == o->head ? NULL : x;
}

ov_node *ov_seek_ge(ov_overlay *o, const void *k, size_t kn) {
  link_pending(o);
  return find_ge(o, k, kn, NULL);
}

/* Last node with key < k (strict) or <= k. */
static ov_node *find_before(ov_overlay *o, const void *k, size_t kn, int inclusive) {
  link_pending(o);
  ov_node *x = o->head;
  for (int l = o->height - 1; l >= 0; l--) {
    while (x->next[l]) {
      int c = cmp(node_key(x->next[l]), x->next[l]->kn, k, kn);
      if (c < 0 || (inclusive && c == 0)) x = x->next[l];
      else break;
    }
  }
  return x == o->head ? NULL : x;
}

ov_node *ov_seek_le(ov_overlay *o, const void *k, size_t kn) { return find_before(o, k, kn, 1); }
ov_node *ov_next(ov_node *n) { return n->next[0]; }
ov_node *ov_prev(ov_overlay *o, ov_node *n) { return find_before(o, node_key(n), n->kn, 0); }

void ov_node_key(const ov_node *n, const void **k, size_t *kn) {
  *k = node_key(n);
  *kn = n->kn;
}

int ov_savepoint(ov_overlay *o, int i) {
  if (i < 0) return st_err(LSM_MISUSE, "bad savepoint %d", i);
  if (i >= o->capsp) {
    int cap = i + 8;
    struct ov_sp *sp = mm_realloc(o->sp, (size_t)cap * sizeof *sp);
    if (!sp) return st_err(LSM_NOMEM, "out of memory");
    o->bytes += (size_t)(cap - o->capsp) * sizeof *sp;
    o->sp = sp;
    o->capsp = cap;
  }
  /* A snapshot: later writes carry a higher seq, so the state at the savepoint stays readable
  ** (ov_savepoint_seq) until a rollback to it pops them. */
  uint64_t s = ov_snapshot(o);
  for (int j = o->nsp; j < i; j++) o->sp[j] = (struct ov_sp){o->nundo, s};
  o->sp[i] = (struct ov_sp){o->nundo, s};
  o->nsp = i + 1;
  o->gen++;
  return LSM_OK;
}

int ov_depth(const ov_overlay *o) { return o->nsp; }

uint64_t ov_savepoint_seq(const ov_overlay *o, int i) {
  return i >= 0 && i < o->nsp ? o->sp[i].seq : 0;
}

void ov_release(ov_overlay *o, int i) {
  if (i < 0) i = 0;
  if (i < o->nsp) o->nsp = i;
  if (o->nsp == 0) o->nundo = 0; /* nothing can be rolled back partially any more */
  o->gen++;
}

void ov_rollback_to(ov_overlay *o, int i) {
  if (i < 0 || i >= o->nsp) return;
  while (o->nundo > o->sp[i].nundo) {
    ov_node *n = o->undo[--o->nundo];
    n->ver = n->ver->older; /* the popped version stays in its chunk (a cursor may hold it) */
  }
  o->nsp = i + 1;
  o->gen++;
}

size_t ov_count(const ov_overlay *o) { return o->count; }
size_t ov_bytes(const ov_overlay *o) { return o->bytes; }

/* Replays ov_write's allocations on the overlay's current state without making them: the node
** (a new key: of the greatest height, and the growth of the hash index and pend array), the
** version (none when overwritten in place; a replaced version that did not fit gets room for
** twice its size), the undo array's growth, and the chunks these take. */
size_t ov_write_cost(const ov_overlay *o, const void *k, size_t kn, size_t vn) {
  size_t cost = 0, req[2] = {0, 0};
  const ov_node *n = lookup(o, key_hash(k, kn), k, kn);
  if (o->nsp > 0 && o->nundo == o->capundo) cost += (o->capundo ? o->capundo : 256) * sizeof(ov_node *);
  if (!n) {
    req[0] = align8(NODE_HDR + MAX_H * sizeof(ov_node *) + kn);
    if ((o->count + 1) * 2 > o->tabcap) cost += (o->tabcap ? o->tabcap : 64) * sizeof(ov_slot);
    if (o->npend == o->cappend) cost += (o->cappend ? o->cappend : 64) * sizeof(ov_node *);
  }
  const ov_ver *h = n ? n->ver : NULL;
  int current = h && h->seq == o->seq && h->gen == o->gen;
  if (!(current && h->cap >= vn))
    req[1] = align8(VER_HDR + (current && vn < 2 * h->cap ? 2 * h->cap : vn));
  int cur = o->chunks != NULL; /* a current chunk exists */
  size_t avail = cur ? o->chunks->cap - o->chunks->used : 0, nchunks = o->nchunks;
  for (int i = 0; i < 2; i++) {
    if (!req[i] || (cur && req[i] <= avail)) {
      avail -= req[i];
      continue;
    }
    int own;
    size_t cap = chunk_cap(nchunks++, req[i], &own);
    cost += sizeof(ov_chunk) + cap;
    if (!own || !cur) avail = cap - req[i]; /* it becomes the current chunk */
    cur = 1;
  }
  return cost;
}
