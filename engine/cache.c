#include "cache.h"

#include <pthread.h>
#include <string.h>

#include "mm.h"
#include "status.h"

/* An entry; handed out as the handle. refs = outstanding handles + 1 while in the table. */
struct cache_handle {
  uint64_t file, off, hash;
  void *value;
  cache_deleter del;
  size_t charge;
  uint32_t refs;
  int in_table;
  int embedded;                 /* lives inside the value's allocation (cache_insert_at) */
  cache_handle *hnext;          /* hash chain (or a local free list once out of the table) */
  cache_handle *lprev, *lnext;  /* LRU list: only entries in the table with refs == 1 */
};

typedef struct shard {
  pthread_mutex_t mu;
  cache_handle **buckets;
  size_t nbuckets, count;
  size_t usage, capacity;
  cache_handle lru; /* dummy head: lru.lnext is the oldest */
  uint64_t hits, misses;
  uint32_t *door;     /* admission: fingerprints of recent misses (cache_lookup_admit), */
  uint32_t door_mask; /* in sets of DOOR_WAYS; sets - 1 (a power of two) */
} shard;

struct cache {
  size_t capacity;
  shard shards[CACHE_SHARDS];
};

static uint64_t cache_hash(uint64_t file, uint64_t off) {
  /* splitmix64 finaliser over a combination of both: cheap and well mixed in every bit. */
  uint64_t z = file * 0x9E3779B97F4A7C15ull ^ (off + 0x632BE59BD9B4E019ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int cache_shard_of(uint64_t file, uint64_t off) { return (int)(cache_hash(file, off) >> 60); }

/* Admission table per shard: sets of DOOR_WAYS fingerprints, newest first (a miss shifts the
** others along, so a fingerprint lives until DOOR_WAYS later first misses land in its set: two
** keys sharing a set do not push each other out). About one fingerprint per KiB of the shard's
** capacity (a 2-4 KiB block charges 2-4 KiB: two to four per entry the shard holds). */
#define DOOR_WAYS 4
#define DOOR_MIN_SETS 16
#define DOOR_MAX_SETS (1u << 14)

static uint32_t door_sets(size_t shard_capacity) {
  uint32_t n = DOOR_MIN_SETS;
  while (n < DOOR_MAX_SETS && (size_t)n * DOOR_WAYS * 1024 < shard_capacity) n *= 2;
  return n;
}

int cache_new(size_t capacity, cache **out) {
  *out = NULL;
  cache *c = mm_calloc(1, sizeof *c);
  if (!c) return st_err(LSM_NOMEM, "out of memory (block cache)");
  c->capacity = capacity;
  for (int i = 0; i < CACHE_SHARDS; i++) {
    shard *s = &c->shards[i];
    s->capacity = (capacity + CACHE_SHARDS - 1) / CACHE_SHARDS;
    s->nbuckets = 64;
    s->buckets = mm_calloc(s->nbuckets, sizeof *s->buckets);
    uint32_t nd = capacity ? door_sets(s->capacity) : 0;
    s->door = nd ? mm_calloc((size_t)nd * DOOR_WAYS, sizeof *s->door) : NULL;
    s->door_mask = nd ? nd - 1 : 0;
    if (!s->buckets || (nd && !s->door)) {
      for (int j = 0; j <= i; j++) {
        mm_free(c->shards[j].buckets);
        mm_free(c->shards[j].door);
        if (j < i) pthread_mutex_destroy(&c->shards[j].mu);
      }
      mm_free(c);
      return st_err(LSM_NOMEM, "out of memory (block cache)");
    }
    pthread_mutex_init(&s->mu, NULL);
    s->lru.lnext = s->lru.lprev = &s->lru;
  }
  *out = c;
  return LSM_OK;
}

static void entry_free(cache_handle *e) {
  /* An embedded entry is freed by the deleter along with its value: read e first. */
  int embedded = e->embedded;
  if (e->del) e->del(e->value);
  if (!embedded) mm_free(e);
}

void cache_free(cache *c) {
  if (!c) return;
  for (int i = 0; i < CACHE_SHARDS; i++) {
    shard *s = &c->shards[i];
    for (size_t b = 0; b < s->nbuckets; b++) {
      cache_handle *e = s->buckets[b];
      while (e) {
        cache_handle *n = e->hnext;
        entry_free(e);
        e = n;
      }
    }
    mm_free(s->buckets);
    mm_free(s->door);
    pthread_mutex_destroy(&s->mu);
  }
  mm_free(c);
}

static shard *shard_for(cache *c, uint64_t h) { return &c->shards[h >> 60]; }

static void lru_remove(cache_handle *e) {
  e->lnext->lprev = e->lprev;
  e->lprev->lnext = e->lnext;
  e->lnext = e->lprev = NULL;
}

static void lru_append(shard *s, cache_handle *e) { /* newest at the tail */
  e->lnext = &s->lru;
  e->lprev = s->lru.lprev;
  e->lprev->lnext = e;
  s->lru.lprev = e;
}

static cache_handle **find(shard *s, uint64_t file, uint64_t off, uint64_t h) {
  cache_handle **pp = &s->buckets[h & (s->nbuckets - 1)];
  while (*pp && ((*pp)->file != file || (*pp)->off != off)) pp = &(*pp)->hnext;
  return pp;
}

/* Buckets per entry the table keeps at least (a power of two). Why sparse: most probes of a point
** read on a table much larger than the cache miss, and a miss walks its bucket's chain, loading
** each entry (it lives inside its cached block: a memory miss) to compare. At one entry per
** bucket ~63 % of buckets hold a chain; at four buckets per entry ~22 %, so most misses end at
** an empty bucket (8 bytes per bucket: 32 per entry, ~1 % of a 2 KiB block's charge). */
#define CACHE_BUCKETS_PER_ENTRY 4

/* Double the table when chains grow long; on allocation failure keep the old one (longer
** chains, still correct). */
static void maybe_grow(shard *s) {
  if (s->count * CACHE_BUCKETS_PER_ENTRY <= s->nbuckets) return;
  size_t nb = s->nbuckets * 2;
  cache_handle **b = mm_calloc(nb, sizeof *b);
  if (!b) return;
  for (size_t i = 0; i < s->nbuckets; i++) {
    cache_handle *e = s->buckets[i];
    while (e) {
      cache_handle *n = e->hnext;
      cache_handle **slot = &b[e->hash & (nb - 1)];
      e->hnext = *slot;
      *slot = e;
      e = n;
    }
  }
  mm_free(s->buckets);
  s->buckets = b;
  s->nbuckets = nb;
}

/* Take e out of the table (caller holds the lock and has unlinked it from its chain). Drops
** the table's reference; returns e if it is now dead (to be freed outside the lock). */
static cache_handle *detach(shard *s, cache_handle *e) {
  e->in_table = 0;
  s->count--;
  s->usage -= e->charge;
  if (e->lnext) lru_remove(e);
  if (--e->refs == 0) return e;
  return NULL;
}

/* Evict oldest unpinned entries until within capacity; returns the dead ones chained. */
static cache_handle *evict(shard *s) {
  cache_handle *dead = NULL;
  while (s->usage > s->capacity && s->lru.lnext != &s->lru) {
    cache_handle *e = s->lru.lnext;
    cache_handle **pp = find(s, e->file, e->off, e->hash);
    *pp = e->hnext;
    if (detach(s, e)) {
      e->hnext = dead;
      dead = e;
    }
  }
  return dead;
}

static void free_chain(cache_handle *e) {
  while (e) {
    cache_handle *n = e->hnext;
    entry_free(e);
    e = n;
  }
}

size_t cache_entry_size(void) { return (sizeof(cache_handle) + 15) & ~(size_t)15; }

/* Link a filled entry (refs = 1, the caller's) into its shard, replacing any entry of the
** same key. */
static void insert_entry(cache *c, cache_handle *e) {
  if (c->capacity == 0) return; /* kept by nobody but the handle */
  shard *s = shard_for(c, e->hash);
  cache_handle *dead = NULL;
  pthread_mutex_lock(&s->mu);
  cache_handle **pp = find(s, e->file, e->off, e->hash);
  if (*pp) { /* replace */
    cache_handle *old = *pp;
    *pp = old->hnext;
    if (detach(s, old)) {
      old->hnext = NULL;
      dead = old;
    }
    pp = find(s, e->file, e->off, e->hash);
  }
  e->hnext = *pp;
  *pp = e;
  e->in_table = 1;
  e->refs++;
  s->count++;
  s->usage += e->charge;
  cache_handle *ev = evict(s);
  maybe_grow(s);
  pthread_mutex_unlock(&s->mu);
  free_chain(dead);
  free_chain(ev);
}

static void fill_entry(cache_handle *e, uint64_t file, uint64_t off, void *value, size_t charge,
                       cache_deleter deleter) {
  e->file = file;
  e->off = off;
  e->hash = cache_hash(file, off);
  e->value = value;
  e->del = deleter;
  e->charge = charge;
  e->refs = 1; /* the caller's handle */
}

int cache_insert(cache *c, uint64_t file, uint64_t off, void *value, size_t charge,
                 cache_deleter deleter, cache_handle **out) {
  *out = NULL;
  cache_handle *e = mm_calloc(1, sizeof *e);
  if (!e) return st_err(LSM_NOMEM, "out of memory (cache entry)");
  fill_entry(e, file, off, value, charge, deleter);
  *out = e;
  insert_entry(c, e);
  return LSM_OK;
}

void cache_insert_at(cache *c, void *mem, uint64_t file, uint64_t off, void *value,
                     size_t charge, cache_deleter deleter, cache_handle **out) {
  cache_handle *e = mem;
  memset(e, 0, sizeof *e);
  fill_entry(e, file, off, value, charge, deleter);
  e->embedded = 1;
  *out = e;
  insert_entry(c, e);
}

/* [s->mu] Admission of a missed key of hash h: 1 when it missed recently (and is forgotten),
** else 0 and it is remembered. The set from bits above the fingerprint (the shard took the top
** 4); the fingerprint from the low half, never 0 (0 = an empty way). */
static int door_admit(shard *s, uint64_t h) {
  if (!s->door) return 0;
  uint32_t *set = &s->door[((h >> 32) & s->door_mask) * DOOR_WAYS];
  uint32_t fp = (uint32_t)h | 1;
  int w = 0;
  while (w < DOOR_WAYS && set[w] != fp) w++;
  if (w < DOOR_WAYS) {
    for (; w + 1 < DOOR_WAYS; w++) set[w] = set[w + 1];
    set[DOOR_WAYS - 1] = 0;
    return 1;
  }
  for (w = DOOR_WAYS - 1; w > 0; w--) set[w] = set[w - 1];
  set[0] = fp;
  return 0;
}

/* cache_lookup, and with admit != NULL cache_lookup_admit. */
static cache_handle *lookup(cache *c, uint64_t file, uint64_t off, int *admit) {
  uint64_t h = cache_hash(file, off);
  shard *s = shard_for(c, h);
  if (admit) *admit = 0;
  pthread_mutex_lock(&s->mu);
  cache_handle *e = *find(s, file, off, h);
  if (e) {
    if (e->refs == 1) lru_remove(e); /* now pinned */
    e->refs++;
    s->hits++;
  } else {
    s->misses++;
    if (admit) *admit = door_admit(s, h);
  }
  pthread_mutex_unlock(&s->mu);
  return e;
}

cache_handle *cache_lookup(cache *c, uint64_t file, uint64_t off) { return lookup(c, file, off, NULL); }

cache_handle *cache_lookup_admit(cache *c, uint64_t file, uint64_t off, int *admit) {
  return lookup(c, file, off, admit);
}

void *cache_value(const cache_handle *h) { return h->value; }

void cache_release(cache *c, cache_handle *e) {
  if (!e) return;
  shard *s = shard_for(c, e->hash);
  cache_handle *dead = NULL, *ev = NULL;
  pthread_mutex_lock(&s->mu);
  if (--e->refs == 0) {
    dead = e;
    e->hnext = NULL;
  } else if (e->refs == 1 && e->in_table) {
    lru_append(s, e);
    ev = evict(s); /* pinned entries may have held the shard over capacity */
  }
  pthread_mutex_unlock(&s->mu);
  free_chain(dead);
  free_chain(ev);
}

void cache_erase_file(cache *c, uint64_t file) {
  for (int i = 0; i < CACHE_SHARDS; i++) {
    shard *s = &c->shards[i];
    cache_handle *dead = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t b = 0; b < s->nbuckets; b++) {
      cache_handle **pp = &s->buckets[b];
      while (*pp) {
        cache_handle *e = *pp;
        if (e->file == file) {
          *pp = e->hnext;
          if (detach(s, e)) {
            e->hnext = dead;
            dead = e;
          }
        } else {
          pp = &e->hnext;
        }
      }
    }
    pthread_mutex_unlock(&s->mu);
    free_chain(dead);
  }
}

void cache_erase(cache *c, uint64_t file, uint64_t off) {
  uint64_t h = cache_hash(file, off);
  shard *s = shard_for(c, h);
  cache_handle *dead = NULL;
  pthread_mutex_lock(&s->mu);
  cache_handle **pp = find(s, file, off, h), *e = *pp;
  if (e) {
    *pp = e->hnext;
    if (detach(s, e)) {
      e->hnext = NULL;
      dead = e;
    }
  }
  pthread_mutex_unlock(&s->mu);
  free_chain(dead);
}

void cache_get_stats(cache *c, cache_stats *st) {
  memset(st, 0, sizeof *st);
  st->capacity = c->capacity;
  for (int i = 0; i < CACHE_SHARDS; i++) {
    shard *s = &c->shards[i];
    pthread_mutex_lock(&s->mu);
    st->hits += s->hits;
    st->misses += s->misses;
    st->usage += s->usage;
    st->entries += s->count;
    pthread_mutex_unlock(&s->mu);
  }
}

uint64_t cache_shard_usage(cache *c, int i) {
  shard *s = &c->shards[i];
  pthread_mutex_lock(&s->mu);
  uint64_t u = s->usage;
  pthread_mutex_unlock(&s->mu);
  return u;
}
