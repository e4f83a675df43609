/* memtable.c — arena skiplist of internal keys; see memtable.h for the layout and the
** lock-free reader protocol (LevelDB's db/skiplist.h). */
#include "memtable.h"

#include <stdatomic.h>
#include <string.h>

#include "arena.h"
#include "ikey.h"
#include "mm.h"
#include "status.h"

/* A node is addressed by its level-0 next pointer (see memtable.h "Layout"): the pointers of
** the higher levels lie below that address, the encoded entry right after it. */
typedef struct mem_node mem_node;
struct mem_node {
  _Atomic(mem_node *) next0;
  /* then: klen varint32, klen key bytes, vlen varint32, vlen value bytes */
};

struct mem {
  arena arena;
  mem_node *head;          /* MEM_MAX_HEIGHT levels, no key */
  _Atomic int max_height;  /* levels in use; only grows (relaxed: see mem_add) */
  uint64_t rnd;            /* writer-only PRNG state for node heights */
  _Atomic uint64_t count;
  _Atomic int refs;
  /* Writer-only insert splice (RocksDB's InlineSkipList splice): sp_prev[i] < the last key
  ** inserted <= ... and sp_next[i] = nx(sp_prev[i], i) at every level (tight). sp_prev[0] is
  ** the node inserted last (or head). An ascending insert starts from the lowest level whose
  ** pair still brackets the new key instead of from head. */
  mem_node *sp_prev[MEM_MAX_HEIGHT], *sp_next[MEM_MAX_HEIGHT];
  /* Whole-key filter (see memtable.h): filter_lines cache lines of 8 words; NULL = none. */
  _Atomic uint64_t *filter;
  void *filter_mem; /* the allocation filter points into (aligned to a cache line) */
  size_t filter_lines, filter_bytes;
};

/* What a search compares against: a user key and a trailer (seq << 8 | type). */
typedef struct target {
  const uint8_t *uk;
  size_t ukn;
  uint64_t trailer;
} target;

/* The next pointer of node n at `level` (< n's height). */
static inline _Atomic(mem_node *) *link_of(const mem_node *n, int level) {
  return (_Atomic(mem_node *) *)((uintptr_t)n - (uintptr_t)level * sizeof(_Atomic(mem_node *)));
}

/* A length varint written by mem_add (trusted: at most 5 bytes); returns the end. */
static inline const uint8_t *get_len(const uint8_t *p, uint32_t *v) {
  if (p[0] < 0x80) {
    *v = p[0];
    return p + 1;
  }
  return cd_get_varint32(p, p + 5, v);
}

/* The internal key of node n and its length. */
static inline uint8_t *node_key(const mem_node *n, uint32_t *klen) {
  return (uint8_t *)get_len((const uint8_t *)(n + 1), klen);
}

/* The value of node n (after its key of klen bytes) and its length. */
static inline uint8_t *node_val(const mem_node *n, uint32_t *vlen) {
  uint32_t kl;
  const uint8_t *k = node_key(n, &kl);
  return (uint8_t *)get_len(k + kl, vlen);
}

static inline mem_node *nx(mem_node *n, int level) {
  return atomic_load_explicit(link_of(n, level), memory_order_acquire);
}

static inline int ucmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  return it_bytes_cmp_inline(a, an, b, bn);
}

/* Internal-key order of node n against t (ikey_cmp without building a key). */
static inline int cmp_node(const mem_node *n, const target *t) {
  uint32_t klen;
  const uint8_t *k = node_key(n, &klen);
  size_t kn = klen - IKEY_TRAILER;
  int c = ucmp(k, kn, t->uk, t->ukn);
  if (c) return c;
  uint64_t tr = cd_get_fixed64(k + kn);
  return tr > t->trailer ? -1 : tr < t->trailer ? 1 : 0; /* larger trailer = newer = first */
}

/* Target of an internal key; a key shorter than a trailer is taken as a bare user key seeking
** its newest version (the largest trailer sorts first). */
static target target_of(const uint8_t *k, size_t n) {
  target t;
  if (n < IKEY_TRAILER) {
    t.uk = k;
    t.ukn = n;
    t.trailer = UINT64_MAX;
  } else {
    t.uk = k;
    t.ukn = n - IKEY_TRAILER;
    t.trailer = cd_get_fixed64(k + n - IKEY_TRAILER);
  }
  return t;
}

static int height_now(mem *m) { return atomic_load_explicit(&m->max_height, memory_order_relaxed); }

/* First node >= t (NULL if none). If prev is given, prev[i] = last node < t at level i for
** every level below the current height. */
static mem_node *find_ge(mem *m, const target *t, mem_node **prev) {
  mem_node *x = m->head, *bigger = NULL;
  int level = height_now(m) - 1;
  for (;;) {
    mem_node *next = nx(x, level);
    if (next && next != bigger) {
      /* Start the cache misses of both possible next steps while next's key is compared: its
      ** successor at this level (next < t) or x's successor one level down (next >= t). */
      __builtin_prefetch(atomic_load_explicit(link_of(next, level), memory_order_relaxed));
      if (level) __builtin_prefetch(atomic_load_explicit(link_of(x, level - 1), memory_order_relaxed));
    }
    /* next == bigger: already known to be >= t from the level above (skip the compare) */
    if (next && next != bigger && cmp_node(next, t) < 0) {
      x = next;
    } else {
      if (prev) prev[level] = x;
      if (level == 0) return next;
      bigger = next;
      level--;
    }
  }
}

/* mem_add's search: prev[i] = last node < t at every level i < MEM_MAX_HEIGHT (head above the
** current height); returns the first node >= t. Starts from the splice when t sorts after the
** last inserted key: climb while the splice's next node at a level is still < t (the levels
** where it brackets t need no search at all), then search down from there. Otherwise (t before
** the last key) a normal search from head. Either way the same prev[] as find_ge. */
static mem_node *find_splice(mem *m, const target *t, mem_node **prev) {
  int top = MEM_MAX_HEIGHT; /* first level whose splice pair brackets t */
  mem_node *last = m->sp_prev[0];
  if (last != m->head && cmp_node(last, t) < 0) {
    /* last < t, so sp_prev[i] (<= last) < t at every level: find where sp_next[i] >= t. */
    int r = 0;
    while (r < MEM_MAX_HEIGHT) {
      mem_node *n = m->sp_next[r];
      if (nx(m->sp_prev[r], r) != n) break; /* not tight: cannot happen (one writer); be safe */
      if (n == NULL || cmp_node(n, t) >= 0) {
        top = r;
        break;
      }
      /* n < t: every level where n is the next node fails the same way */
      do r++;
      while (r < MEM_MAX_HEIGHT && m->sp_next[r] == n);
    }
  }
  if (top == MEM_MAX_HEIGHT) {
    mem_node *x = find_ge(m, t, prev);
    for (int i = height_now(m); i < MEM_MAX_HEIGHT; i++) prev[i] = m->head;
    return x;
  }
  for (int i = top; i < MEM_MAX_HEIGHT; i++) prev[i] = m->sp_prev[i];
  mem_node *x = m->sp_prev[top], *next = m->sp_next[top];
  for (int level = top - 1; level >= 0; level--) {
    mem_node *bigger = next;
    for (;;) {
      next = nx(x, level);
      if (next && next != bigger) { /* as in find_ge: start both possible next misses */
        __builtin_prefetch(atomic_load_explicit(link_of(next, level), memory_order_relaxed));
        if (level) __builtin_prefetch(atomic_load_explicit(link_of(x, level - 1), memory_order_relaxed));
      }
      if (next && next != bigger && cmp_node(next, t) < 0) x = next;
      else break;
    }
    prev[level] = x;
  }
  return top == 0 ? m->sp_next[0] : next;
}

/* Last node < t, or head if none. */
static mem_node *find_lt(mem *m, const target *t) {
  mem_node *x = m->head;
  int level = height_now(m) - 1;
  for (;;) {
    mem_node *next = nx(x, level);
    if (next == NULL || cmp_node(next, t) >= 0) {
      if (level == 0) return x;
      level--;
    } else {
      x = next;
    }
  }
}

/* Last node, or head if empty. */
static mem_node *find_last(mem *m) {
  mem_node *x = m->head;
  int level = height_now(m) - 1;
  for (;;) {
    mem_node *next = nx(x, level);
    if (next) {
      x = next;
    } else {
      if (level == 0) return x;
      level--;
    }
  }
}

/* Arena bytes of a node (before the arena's rounding): its next pointers and its entry. */
static size_t node_size(int height, size_t klen, size_t vlen) {
  return (size_t)height * sizeof(_Atomic(mem_node *)) + (size_t)cd_varint_len(klen) + klen +
         (size_t)cd_varint_len(vlen) + vlen;
}

/* Lay out a node of height h in the arena memory p (node_size bytes; the entry is written by
** the caller after the lengths). Returns the node; its next pointers are not initialised. */
static mem_node *node_at(void *p, int h, uint32_t klen, uint8_t **key) {
  mem_node *n = (mem_node *)((uintptr_t)p + (uintptr_t)(h - 1) * sizeof(_Atomic(mem_node *)));
  *key = cd_put_varint32((uint8_t *)(n + 1), klen);
  return n;
}

#define FILTER_LINE 64 /* bytes: one cache line, 8 words */

int mem_new(mem **out) { return mem_new_filtered(0, out); }

int mem_new_filtered(size_t filter_bytes, mem **out) {
  *out = NULL;
  mem *m = mm_calloc(1, sizeof *m);
  if (!m) return st_err(LSM_NOMEM, "memtable: out of memory");
  size_t lines = filter_bytes / FILTER_LINE;
  if (lines > ((size_t)1 << 31)) lines = (size_t)1 << 31; /* fastrange below takes 32 bits */
  if (lines) {
    m->filter_mem = mm_calloc(1, lines * FILTER_LINE + FILTER_LINE);
    if (!m->filter_mem) {
      mm_free(m);
      return st_err(LSM_NOMEM, "memtable: out of memory (filter of %zu bytes)", lines * FILTER_LINE);
    }
    uintptr_t a = ((uintptr_t)m->filter_mem + FILTER_LINE - 1) & ~(uintptr_t)(FILTER_LINE - 1);
    m->filter = (_Atomic uint64_t *)a;
    m->filter_lines = lines;
    m->filter_bytes = lines * FILTER_LINE + FILTER_LINE;
  }
  arena_init(&m->arena);
  void *p;
  int rc = arena_alloc(&m->arena, node_size(MEM_MAX_HEIGHT, 0, 0), &p);
  if (rc) {
    mm_free(m->filter_mem);
    mm_free(m);
    return rc;
  }
  uint8_t *hk;
  m->head = node_at(p, MEM_MAX_HEIGHT, 0, &hk);
  cd_put_varint32(hk, 0); /* head: empty key and value, never compared */
  for (int i = 0; i < MEM_MAX_HEIGHT; i++) atomic_init(link_of(m->head, i), NULL);
  atomic_init(&m->max_height, 1);
  m->rnd = 0x9e3779b97f4a7c15ull; /* fixed: heights are reproducible run to run */
  atomic_init(&m->count, 0);
  atomic_init(&m->refs, 1);
  for (int i = 0; i < MEM_MAX_HEIGHT; i++) {
    m->sp_prev[i] = m->head;
    m->sp_next[i] = NULL;
  }
  *out = m;
  return LSM_OK;
}

void mem_ref(mem *m) { atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); }

void mem_unref(mem *m) {
  if (!m) return;
  /* acq_rel: every use by other holders happens before the free. */
  if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
    arena_free_all(&m->arena);
    mm_free(m->filter_mem);
    mm_free(m);
  }
}

/* Height with P(h) = (1/4)^(h-1) (1/4 branching), capped at MEM_MAX_HEIGHT. */
static int random_height(mem *m) {
  int h = 1;
  while (h < MEM_MAX_HEIGHT) {
    m->rnd ^= m->rnd << 13; /* xorshift64 */
    m->rnd ^= m->rnd >> 7;
    m->rnd ^= m->rnd << 17;
    if ((m->rnd >> 32) % 4 != 0) break;
    h++;
  }
  return h;
}

/* ---- whole-key filter -------------------------------------------------------------------------
** A blocked bloom filter (one cache line per key: a probe costs one cache miss, not k): the
** line is chosen from the high 32 bits of h = XXH3-64(user key) (fastrange), and FILTER_K bits
** inside the line's 512 from 9-bit slices of a remix of h. Bits are set with relaxed atomics
** by the one writer BEFORE the entry is linked and before the db publishes its sequence
** number, so a reader whose snapshot includes the entry also sees its bits (the acquire load of
** the sequence number / the next pointer orders them). */
#define FILTER_K 6

static inline void filter_pos(const mem *m, uint64_t h, size_t *line, uint64_t *g) {
  *line = (size_t)(((h >> 32) * (uint64_t)m->filter_lines) >> 32);
  *g = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull; /* splitmix64 step: bits independent of line */
}

static void filter_add(mem *m, const uint8_t *ukey, size_t kn) {
  size_t line;
  uint64_t g;
  filter_pos(m, cd_xxh3(ukey, kn), &line, &g);
  _Atomic uint64_t *w = m->filter + line * 8;
  for (int j = 0; j < FILTER_K; j++) {
    unsigned bit = (unsigned)(g >> (j * 9)) & 511;
    uint64_t mask = (uint64_t)1 << (bit & 63);
    uint64_t old = atomic_load_explicit(&w[bit >> 6], memory_order_relaxed);
    /* one writer: a plain read-modify-write through relaxed atomics suffices */
    if (!(old & mask)) atomic_store_explicit(&w[bit >> 6], old | mask, memory_order_relaxed);
  }
}

static int filter_may_contain(const mem *m, const uint8_t *ukey, size_t kn) {
  if (!m->filter) return 1;
  size_t line;
  uint64_t g;
  filter_pos(m, cd_xxh3(ukey, kn), &line, &g);
  _Atomic uint64_t *w = m->filter + line * 8;
  for (int j = 0; j < FILTER_K; j++) {
    unsigned bit = (unsigned)(g >> (j * 9)) & 511;
    if (!(atomic_load_explicit(&w[bit >> 6], memory_order_relaxed) & ((uint64_t)1 << (bit & 63)))) return 0;
  }
  return 1;
}

int mem_may_contain(const mem *m, const uint8_t *ukey, size_t kn) { return filter_may_contain(m, ukey, kn); }

void mem_prefetch(const mem *m, const uint8_t *ukey, size_t kn) {
  if (!m->filter) return;
  size_t line;
  uint64_t g;
  filter_pos(m, cd_xxh3(ukey, kn), &line, &g);
  __builtin_prefetch(m->filter + line * 8, 1);
}

size_t mem_entry_bound(size_t kn, size_t vn) {
  return (node_size(MEM_MAX_HEIGHT, kn + IKEY_TRAILER, vn) + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

int mem_reserve(mem *m, size_t bytes) { return arena_reserve(&m->arena, bytes); }

/* Argument checks of mem_add for one entry. */
static int check_entry(uint64_t seq, int type, size_t kn, size_t vn) {
  if (type != IKEY_VAL && type != IKEY_DEL) return st_err(LSM_MISUSE, "memtable: bad entry type %d", type);
  if (seq > IKEY_MAX_SEQ) return st_err(LSM_MISUSE, "memtable: sequence number %llu too large",
                                        (unsigned long long)seq);
  if (kn > UINT32_MAX - IKEY_TRAILER || vn > UINT32_MAX)
    return st_err(LSM_TOOBIG, "memtable: key or value too large");
  return LSM_OK;
}

/* A new node of height h for the entry (arguments checked; vn 0 for a tombstone), with its
** filter bits set and counted, not linked yet. LSM_OK or LSM_NOMEM (nothing changed). */
static int new_node(mem *m, int h, uint64_t seq, int type, const uint8_t *ukey, size_t kn,
                    const uint8_t *val, size_t vn, mem_node **out) {
  void *p;
  int rc = arena_alloc(&m->arena, node_size(h, kn + IKEY_TRAILER, vn), &p);
  if (rc) return rc; /* nothing linked yet: the list is unchanged */
  uint8_t *key;
  mem_node *n = node_at(p, h, (uint32_t)(kn + IKEY_TRAILER), &key);
  ikey_encode(key, ukey, kn, seq, type);
  uint8_t *v = cd_put_varint32(key + kn + IKEY_TRAILER, (uint32_t)vn);
  if (vn) memcpy(v, val, vn);
  if (m->filter) filter_add(m, ukey, kn); /* before n is published (see the filter above) */
  /* counted before it is linked too: mem_get takes count == 0 as "empty", so whoever can reach
  ** n (through the release stores of link_node) must see count > 0 */
  atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
  *out = n;
  return LSM_OK;
}

/* Link n (height h) after prev[i] at every level i < h: prev[i] is the last node < n at level
** i, head for levels at or above the current height. */
static void link_node(mem *m, mem_node *n, int h, mem_node *const *prev) {
  if (h > height_now(m)) {
    /* Relaxed is enough (as LevelDB): a reader that sees the new height before the node is
    ** linked finds NULL in head's new levels and simply drops down a level. */
    atomic_store_explicit(&m->max_height, h, memory_order_relaxed);
  }
  for (int i = 0; i < h; i++) {
    /* n is not published yet, so its own next pointers need no ordering; the release store
    ** into prev[i] publishes n with its key, value and next pointers. */
    atomic_init(link_of(n, i), atomic_load_explicit(link_of(prev[i], i), memory_order_relaxed));
    atomic_store_explicit(link_of(prev[i], i), n, memory_order_release);
  }
}

int mem_add(mem *m, uint64_t seq, int type, const uint8_t *ukey, size_t kn,
            const uint8_t *val, size_t vn) {
  if (type == IKEY_DEL) vn = 0;
  int rc = check_entry(seq, type, kn, vn);
  if (rc) return rc;
  target t = {ukey, kn, ikey_pack(seq, type)};
  mem_node *prev[MEM_MAX_HEIGHT];
  mem_node *x = find_splice(m, &t, prev);
  if (x && cmp_node(x, &t) == 0)
    return st_err(LSM_MISUSE, "memtable: duplicate entry (sequence number %llu)", (unsigned long long)seq);

  int h = random_height(m);
  mem_node *n;
  if ((rc = new_node(m, h, seq, type, ukey, kn, val, vn, &n))) return rc; /* list unchanged */
  link_node(m, n, h, prev); /* prev[i] is head above the height already (find_splice) */
  /* the splice for the next insert: n and its successors where n is linked, the unchanged
  ** (still tight) pairs above */
  for (int i = 0; i < MEM_MAX_HEIGHT; i++) {
    if (i < h) {
      m->sp_prev[i] = n;
      m->sp_next[i] = atomic_load_explicit(link_of(n, i), memory_order_relaxed);
    } else {
      m->sp_prev[i] = prev[i];
      m->sp_next[i] = atomic_load_explicit(link_of(prev[i], i), memory_order_relaxed);
    }
  }
  return LSM_OK;
}

/* ---- sorted insert of many entries ------------------------------------------------------------
** mem_add_sorted works through the entries in windows of SW. Phase 1 searches the list as it is
** (the list S before the window) for every entry of the window at once: SW searches from head,
** advanced round-robin one node each, every step prefetching the node the search reads next, so
** SW cache misses are in flight instead of one (the walk is memory-bound: a node visited is a
** miss). It records each entry's predecessors in S at every level. Phase 2 links the entries in
** order. The predecessor of entry i at level l in S + the entries linked before it is either its
** predecessor in S, op, or the last entry linked at level l, last[l], whichever is larger; and
** last[l] is larger exactly when its own predecessor in S at level l was op too (the same gap of
** S): if last[l]'s predecessor in S is an earlier node p < op, then op, a node of S at level l
** after p, is also after last[l] (last[l] lies in the gap that starts at p). So no key compare. */
#define SW 32

typedef struct sw_search {
  target t;
  mem_node *x, *next, *bigger; /* the walk: at x on level, next = x->next[level] */
  int level;
  mem_node *prev[MEM_MAX_HEIGHT]; /* predecessors in S; head at and above the height */
  mem_node *succ;                 /* first node >= t in S (level 0) */
} sw_search;

/* The lines of n a compare reads: its level-0 link with the key right after it (the key may run
** into the next line). Its higher links sit below n, in the line before when the search is
** above level 0; that line is read after the compare, so it is not fetched here. */
static inline void sw_prefetch(const mem_node *n) {
  __builtin_prefetch(n);
  __builtin_prefetch((const char *)n + 48);
}

static void sw_run(mem *m, sw_search *s, int n) {
  int top = height_now(m) - 1, active = n;
  for (int i = 0; i < n; i++) {
    for (int l = top + 1; l < MEM_MAX_HEIGHT; l++) s[i].prev[l] = m->head;
    s[i].x = m->head;
    s[i].level = top;
    s[i].bigger = NULL;
    s[i].next = nx(m->head, top);
    if (s[i].next) sw_prefetch(s[i].next);
  }
  while (active) {
    for (int i = 0; i < n; i++) {
      sw_search *q = &s[i];
      if (q->level < 0) continue; /* done */
      mem_node *next = q->next;
      /* next == bigger: already known to be >= t from the level above (skip the compare) */
      if (next && next != q->bigger && cmp_node(next, &q->t) < 0) {
        q->x = next;
      } else {
        q->prev[q->level] = q->x;
        if (q->level == 0) {
          q->succ = next;
          q->level = -1;
          active--;
          continue;
        }
        q->bigger = next;
        q->level--;
      }
      q->next = nx(q->x, q->level);
      if (q->next && q->next != q->bigger) sw_prefetch(q->next);
    }
  }
}

static int ent_cmp(const mem_ent *a, const mem_ent *b) {
  int c = ucmp(a->k, a->kn, b->k, b->kn);
  if (c) return c;
  uint64_t x = ikey_pack(a->seq, a->type), y = ikey_pack(b->seq, b->type);
  return x > y ? -1 : x < y; /* larger trailer first */
}

int mem_add_sorted(mem *m, const mem_ent *e, size_t n) {
  int rc = LSM_OK;
  for (size_t i = 0; i < n; i++) { /* everything checked before anything is added */
    if ((rc = check_entry(e[i].seq, e[i].type, e[i].kn, e[i].type == IKEY_DEL ? 0 : e[i].vn)))
      return rc;
    if (i > 0 && ent_cmp(&e[i - 1], &e[i]) >= 0)
      return st_err(LSM_MISUSE, "memtable: sorted insert out of order (sequence number %llu)",
                    (unsigned long long)e[i].seq);
  }
  sw_search s[SW];
  mem_node *last[MEM_MAX_HEIGHT], *last_op[MEM_MAX_HEIGHT];
  for (size_t w = 0; w < n && !rc; w += SW) {
    int wn = n - w < SW ? (int)(n - w) : SW;
    for (int i = 0; i < wn; i++) {
      const mem_ent *x = &e[w + i];
      s[i].t = (target){x->k, x->kn, ikey_pack(x->seq, x->type)};
      mem_prefetch(m, x->k, x->kn); /* the filter line filter_add will write */
    }
    sw_run(m, s, wn);
    for (int l = 0; l < MEM_MAX_HEIGHT; l++) last[l] = last_op[l] = NULL;
    for (int i = 0; i < wn; i++) {
      const mem_ent *x = &e[w + i];
      if (s[i].succ && cmp_node(s[i].succ, &s[i].t) == 0) {
        rc = st_err(LSM_MISUSE, "memtable: duplicate entry (sequence number %llu)",
                    (unsigned long long)x->seq);
        break;
      }
      int h = random_height(m);
      mem_node *node, *prev[MEM_MAX_HEIGHT];
      if ((rc = new_node(m, h, x->seq, x->type, x->k, x->kn, x->v,
                         x->type == IKEY_DEL ? 0 : x->vn, &node)))
        break;
      for (int l = 0; l < h; l++) {
        mem_node *op = s[i].prev[l];
        prev[l] = last[l] && last_op[l] == op ? last[l] : op;
        last[l] = node;
        last_op[l] = op;
      }
      link_node(m, node, h, prev);
    }
  }
  /* the single-insert splice no longer brackets anything known: back to head (tight pairs) */
  for (int i = 0; i < MEM_MAX_HEIGHT; i++) {
    m->sp_prev[i] = m->head;
    m->sp_next[i] = nx(m->head, i);
  }
  return rc;
}

int mem_get(mem *m, const uint8_t *ukey, size_t kn, uint64_t snapshot_seq, int *type,
            const uint8_t **val, size_t *vn, uint64_t *seq_found) {
  if (snapshot_seq > IKEY_MAX_SEQ) snapshot_seq = IKEY_MAX_SEQ;
  /* An empty memtable (the usual state after a flush) needs no filter probe (a cache miss);
  ** mem_add raises count before linking the node (and before the db publishes its sequence
  ** number), so a reader that can see an entry also sees count > 0. */
  if (atomic_load_explicit(&m->count, memory_order_relaxed) == 0) return LSM_NOTFOUND;
  if (!filter_may_contain(m, ukey, kn)) return LSM_NOTFOUND; /* no skiplist walk */
  target t = {ukey, kn, ikey_pack(snapshot_seq, IKEY_SEEK)};
  mem_node *x = find_ge(m, &t, NULL);
  if (!x) return LSM_NOTFOUND;
  uint32_t klen, vlen;
  const uint8_t *k = node_key(x, &klen);
  if (ucmp(k, klen - IKEY_TRAILER, ukey, kn) != 0) return LSM_NOTFOUND;
  int ty = ikey_type(k, klen);
  *type = ty;
  const uint8_t *v = get_len(k + klen, &vlen);
  if (val) *val = ty == IKEY_VAL ? v : NULL;
  if (vn) *vn = ty == IKEY_VAL ? vlen : 0;
  if (seq_found) *seq_found = ikey_seq(k, klen);
  return LSM_OK;
}

size_t mem_bytes(const mem *m) { return arena_used(&m->arena) + m->filter_bytes; }
size_t mem_reserved_bytes(const mem *m) { return arena_bytes(&m->arena) + m->filter_bytes; }
uint64_t mem_count(const mem *m) {
  return atomic_load_explicit(&((mem *)m)->count, memory_order_relaxed);
}

/* ---- iterator ---------------------------------------------------------------------------- */

typedef struct mem_iter {
  it_iter base;
  mem *m;
  mem_node *node; /* NULL = not valid */
} mem_iter;

static int mi_seek(it_iter *it, const uint8_t *k, size_t n) {
  mem_iter *mi = (mem_iter *)it;
  target t = target_of(k, n);
  mi->node = find_ge(mi->m, &t, NULL);
  return LSM_OK;
}

static int mi_seek_first(it_iter *it) {
  mem_iter *mi = (mem_iter *)it;
  mi->node = nx(mi->m->head, 0);
  return LSM_OK;
}

static int mi_seek_last(it_iter *it) {
  mem_iter *mi = (mem_iter *)it;
  mem_node *x = find_last(mi->m);
  mi->node = x == mi->m->head ? NULL : x;
  return LSM_OK;
}

static int mi_next(it_iter *it) {
  mem_iter *mi = (mem_iter *)it;
  if (mi->node) mi->node = nx(mi->node, 0);
  return LSM_OK;
}

static int mi_prev(it_iter *it) {
  mem_iter *mi = (mem_iter *)it;
  if (!mi->node) return LSM_OK;
  /* No back pointers: search for the last node before this one (as LevelDB). */
  uint32_t klen;
  const uint8_t *k = node_key(mi->node, &klen);
  target t = target_of(k, klen);
  mem_node *x = find_lt(mi->m, &t);
  mi->node = x == mi->m->head ? NULL : x;
  return LSM_OK;
}

static int mi_valid(const it_iter *it) { return ((const mem_iter *)it)->node != NULL; }

static void mi_key(const it_iter *it, const uint8_t **k, size_t *n) {
  uint32_t klen;
  *k = node_key(((const mem_iter *)it)->node, &klen);
  *n = klen;
}

static void mi_value(const it_iter *it, const uint8_t **v, size_t *n) {
  uint32_t vlen;
  *v = node_val(((const mem_iter *)it)->node, &vlen);
  *n = vlen;
}

static int mi_status(const it_iter *it) {
  (void)it;
  return LSM_OK;
}

static void mi_destroy(it_iter *it) {
  mem_iter *mi = (mem_iter *)it;
  mem_unref(mi->m);
  mm_free(mi);
}

static const it_ops mem_iter_ops = {
    .seek = mi_seek,
    .seek_first = mi_seek_first,
    .seek_last = mi_seek_last,
    .next = mi_next,
    .prev = mi_prev,
    .valid = mi_valid,
    .key = mi_key,
    .value = mi_value,
    .status = mi_status,
    .destroy = mi_destroy,
};

int mem_iter_new(mem *m, it_iter **out) {
  *out = NULL;
  mem_iter *mi = mm_malloc(sizeof *mi);
  if (!mi) return st_err(LSM_NOMEM, "memtable: out of memory creating an iterator");
  mi->base.ops = &mem_iter_ops;
  mi->m = m;
  mi->node = NULL;
  mem_ref(m);
  *out = &mi->base;
  return LSM_OK;
}
