/*
** cache.h — the block cache: a sharded LRU of refcounted values keyed by (file, offset).
**
** 16 shards chosen by a hash of the key, each with its own mutex, hash table and LRU list, so
** concurrent readers rarely contend. Capacity is in bytes: each entry is charged what its
** inserter says (block size + overhead), and each shard holds capacity/16.
**
** Values are refcounted. cache_insert and a successful cache_lookup return a handle that pins
** the entry: a pinned entry is never evicted nor freed, and its value stays valid until
** cache_release. Only unpinned entries sit on the LRU list and are evicted (oldest first) when
** a shard is over capacity; pinned ones may push a shard over capacity temporarily. When an
** entry is replaced (insert of an existing key) or erased, it leaves the table at once and its
** value is freed (through the deleter) when the last handle is released.
**
** Capacity 0 keeps nothing: every lookup misses, and an inserted value lives only as long as
** its handle.
**
** Thread safety: every function may be called from any thread concurrently, except
** cache_free, which requires that no handle is outstanding and no other call is running.
*/
#ifndef LSMVTAB_CACHE_H
#define LSMVTAB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define CACHE_SHARDS 16

typedef struct cache cache;
typedef struct cache_handle cache_handle;

/* Releases a value when its entry dies; called with the value given to cache_insert, outside
** the cache's locks, from whichever thread drops the last reference. */
typedef void (*cache_deleter)(void *value);

/* New cache of `capacity` bytes; *out released with cache_free. LSM_NOMEM. */
int cache_new(size_t capacity, cache **out);

/* REQUIRES: no outstanding handles. Frees every value through its deleter. NULL ok. */
void cache_free(cache *c);

/* Insert value under (file, off) with `charge` bytes, replacing any existing entry, and return
** a pinning handle in *out. On LSM_OK the cache owns the value (it calls deleter(value) when
** the entry dies). On LSM_NOMEM nothing was inserted and the caller still owns the value. */
int cache_insert(cache *c, uint64_t file, uint64_t off, void *value, size_t charge,
                 cache_deleter deleter, cache_handle **out);

/* cache_insert without an allocation: the entry's bookkeeping lives in `mem`, which the
** caller carves out of the value's own allocation (cache_entry_size() bytes, 16-byte aligned).
** The deleter frees mem together with the value; the cache never touches mem after calling it.
** Cannot fail. Same replacement and pinning as cache_insert. */
size_t cache_entry_size(void);
void cache_insert_at(cache *c, void *mem, uint64_t file, uint64_t off, void *value,
                     size_t charge, cache_deleter deleter, cache_handle **out);

/* The pinned entry for (file, off), or NULL (counted as a miss; a hit otherwise). */
cache_handle *cache_lookup(cache *c, uint64_t file, uint64_t off);

/* cache_lookup that on a miss also says whether the caller should insert what it reads
** (admission by a "doorkeeper", as in TinyLFU): *admit = 1 when the same key missed recently,
** 0 on a first miss. Each shard remembers fingerprints of its recent misses in a small table
** (about one per KiB of capacity, in 4-way sets, oldest dropped), so a block asked for twice
** within roughly the time a cached block would survive gets in on its second read, and a block
** read once (uniform random reads over data many times the cache) costs no insertion, no
** eviction and no cache memory. A capacity-0 cache never admits. *admit is 0 on a hit. */
cache_handle *cache_lookup_admit(cache *c, uint64_t file, uint64_t off, int *admit);

/* The value of a handle; valid until cache_release(h). */
void *cache_value(const cache_handle *h);

/* Unpin. The handle must not be used afterwards. NULL h is a no-op. */
void cache_release(cache *c, cache_handle *h);

/* Drop every entry of `file` (a deleted table): unpinned ones are freed now, pinned ones when
** released. */
void cache_erase_file(cache *c, uint64_t file);

/* Drop one entry (as erase_file). */
void cache_erase(cache *c, uint64_t file, uint64_t off);

typedef struct cache_stats {
  uint64_t hits, misses;
  uint64_t usage;   /* bytes charged by entries in the table (pinned or not) */
  uint64_t entries; /* entries in the table */
  uint64_t capacity;
} cache_stats;
void cache_get_stats(cache *c, cache_stats *st);

/* Per-shard usage, for tests of the sharding. */
uint64_t cache_shard_usage(cache *c, int shard);
/* The shard a key maps to. */
int cache_shard_of(uint64_t file, uint64_t off);

#endif
