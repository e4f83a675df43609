/*
** memtable.h — the in-memory write buffer: a skiplist of internal keys (ikey.h) in an arena.
**
** Layout (LevelDB's skiplist): max height MEM_MAX_HEIGHT (12), a node gets height h with
** probability (1/4)^(h-1). Each node lives in the memtable's arena, pointer-aligned (RocksDB's
** InlineSkipList layout: no height or padding stored, the entry encoded as in LevelDB's memtable):
**   next   h atomic pointers, level h-1 first; a node is addressed by its level-0 pointer
**   klen   varint32     length of the internal key (user key + 8-byte trailer)
**   key    klen bytes   internal key (ikey.h)
**   vlen   varint32     length of the value (0 for a tombstone)
**   value  vlen bytes
** The arena rounds each node up to pointer size: a 16-byte key with a 100-byte value takes
** 136 bytes at height 1 (the memtable's size counts exactly these bytes, see mem_bytes).
** Entries are never removed or modified; the whole memtable is freed at once when its last
** reference goes. The writer keeps the previous insert's position at every level (a splice):
** ascending inserts (fillseq, sorted batches) start there instead of at head, O(1) instead of
** O(log n) cache misses.
**
** Concurrency: ONE writer at a time (mem_add and mem_reserve REQUIRE external synchronization:
** the db serialises writers), and any number of readers (mem_get, iterators, mem_bytes,
** mem_count) concurrently with that writer and each other, with no lock. A node is fully
** written before it is published with a release store into its predecessors' next pointers;
** readers follow next pointers with acquire loads, so a reader sees either the old list or the
** list with the complete new node. A reader may or may not see an entry added while it runs.
**
** Lifetime: mem_new returns a memtable with one reference (the caller's). mem_ref/mem_unref
** (thread-safe, atomic) add and drop references; the last mem_unref frees it. Every iterator
** holds a reference of its own. Key and value bytes returned by mem_get and by iterators are
** borrowed from the memtable and stay valid while the caller holds a reference.
*/
#ifndef LSMVTAB_MEMTABLE_H
#define LSMVTAB_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "iter.h"

#define MEM_MAX_HEIGHT 12

typedef struct mem mem;

/* New empty memtable with refcount 1. LSM_OK or LSM_NOMEM. */
int mem_new(mem **out);

/* The same with a whole-key filter of about filter_bytes bytes (RocksDB's
** memtable_whole_key_filtering): a blocked bloom filter over the user keys added, one 64-byte
** line per key, 6 bits per key inside it; 0 (or under 64) = no filter. mem_get answers a key
** the filter excludes without walking the skiplist. No false negatives; the false-positive rate
** depends on keys per byte (about 1 % at 2 bytes per key, 10 % at 0.5). The filter's memory is
** counted in mem_bytes / mem_reserved_bytes, so a memtable with a filter fills up earlier. */
int mem_new_filtered(size_t filter_bytes, mem **out);

/* 0 if no version of user key ukey was ever added (certain), 1 if one may have been (always 1
** without a filter). Lock-free like mem_get; sees every entry whose sequence number the reader
** learned through the db's published last sequence (or through an iterator/mem_get finding it). */
int mem_may_contain(const mem *m, const uint8_t *ukey, size_t kn);

/* A hint, no effect on the contents: start loading the memory a mem_add of user key ukey will
** miss on first (its whole-key filter line), so that the miss overlaps other work (the db
** calls it before the commit's WAL write). Safe from any thread at any time. */
void mem_prefetch(const mem *m, const uint8_t *ukey, size_t kn);

void mem_ref(mem *m);
/* Drop a reference; frees at 0. NULL is a no-op. */
void mem_unref(mem *m);

/* Add the entry (ukey, seq, type) -> val. type is IKEY_VAL or IKEY_DEL (val ignored, use
** vn = 0); seq <= IKEY_MAX_SEQ. REQUIRES external synchronization against other mem_add /
** mem_reserve calls. Returns LSM_OK, LSM_NOMEM (the list is unchanged), or LSM_MISUSE if this
** exact internal key (same user key, seq and type) is already present or an argument is bad.
** The bytes are copied. */
int mem_add(mem *m, uint64_t seq, int type, const uint8_t *ukey, size_t kn,
            const uint8_t *val, size_t vn);

/* One entry for mem_add_sorted (type, seq, key and value as for mem_add). */
typedef struct mem_ent {
  const uint8_t *k, *v;
  uint32_t kn, vn;
  uint64_t seq;
  int type;
} mem_ent;

/* The same as mem_add of e[0], e[1], ... e[n-1] in turn, for entries in strictly ascending
** internal-key order (user key ascending; for one user key the larger sequence number first),
** faster for many: the skiplist searches of a few entries run interleaved, so that their cache
** misses overlap. Same synchronization as mem_add. Errors: LSM_MISUSE (a bad type or sequence
** number, entries out of order) or LSM_TOOBIG with nothing added; LSM_MISUSE for an entry
** already present or LSM_NOMEM with the entries before the failing one added (as mem_add calls
** would). Readers see the entries exactly as if added one by one. */
int mem_add_sorted(mem *m, const mem_ent *e, size_t n);

/* Arena bytes mem_add needs, at most, for one entry with this key and value length. */
size_t mem_entry_bound(size_t kn, size_t vn);

/* Guarantee that the next mem_add calls totalling `bytes` (sum of mem_entry_bound) cannot fail
** with LSM_NOMEM: lets a write batch be applied entirely or not at all. LSM_OK or LSM_NOMEM.
** Same synchronization as mem_add. */
int mem_reserve(mem *m, size_t bytes);

/* Newest version of ukey with seq <= snapshot_seq. LSM_OK: *type is IKEY_VAL (then *val, *vn
** are the value, borrowed, see top) or IKEY_DEL (a tombstone; *val = NULL, *vn = 0), *seq_found
** its sequence number. LSM_NOTFOUND if the memtable holds no such version (no message).
** Any out-pointer except type may be NULL. */
int mem_get(mem *m, const uint8_t *ukey, size_t kn, uint64_t snapshot_seq, int *type,
            const uint8_t **val, size_t *vn, uint64_t *seq_found);

/* Approximate memory used (arena bytes handed out to entries, plus the filter): compare with the
** memtable size option to decide when it is full. The arena holds at most one chunk (<= 1 MiB) more. */
size_t mem_bytes(const mem *m);
/* Memory actually reserved by the arena (for stats). */
size_t mem_reserved_bytes(const mem *m);
/* Number of entries. */
uint64_t mem_count(const mem *m);

/* Iterator over the internal keys (key = internal key, value = value; tombstones included),
** forward and reverse, seek by internal key (a key shorter than 8 bytes is treated as a user key
** seeking its newest version). Holds a reference to m until freed with it_free. LSM_OK or
** LSM_NOMEM. The iterator never fails after creation (status() is always LSM_OK). */
int mem_iter_new(mem *m, it_iter **out);

#endif
