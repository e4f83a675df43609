/*
** block.h — SSTable blocks: building, parsing and iterating sorted key/value blocks, and the
** on-disk wrapping of a block (optional zstd or lz4 compression + checksum trailer).
**
** Block contents (the "raw" form, LevelDB's format), written by blk_builder:
**
**   entry*       one per key/value pair, keys in increasing comparator order:
**     shared     varint32   bytes shared with the previous key (0 at a restart point)
**     unshared   varint32   bytes of key that follow
**     value_len  varint32   bytes of value
**     key_delta  unshared   key[shared .. shared+unshared)
**     value      value_len  the value
**   restart[i]   fixed32    offset of the i-th restart entry (one every `interval` entries,
**                           the first at 0); a restart entry stores its key whole (shared=0)
**   nrestarts    fixed32    number of restart[] entries (>= 1 when there are entries)
**
** Restart points let seek binary-search full keys and let prev step back without a back
** pointer per entry. A block with no entries is just nrestarts = 0 (4 bytes).
**
** Stored form (what a block handle points at), written by blk_seal:
**
**   contents     n bytes    type 0: the raw block
**                           type 1: varint64 raw size, then one zstd frame of the raw block
**                           type 2: varint64 raw size, then one lz4 block (LZ4's block format,
**                                   no frame; written with acceleration 2 since session 8,
**                                   1 before: the same format) of the raw block
**   type         1 byte     0 = none, 1 = zstd, 2 = lz4 (type 2 only in tables of format
**                           version 2: sst.h)
**   checksum     fixed32    cd_xxh3_32 over contents and the type byte
**
** The trailer (BLK_TRAILER = 5 bytes) is not counted in a handle's size. A block is stored
** compressed only when the codec saves at least 1/8 of its raw size (blocks under 64 bytes are not
** tried), so blocks are never inflated nor pay decompression for nothing. On read the checksum is verified before anything
** is decompressed, and the decompressed size must equal the stored raw size.
**
** Every decoder is defensive: any length or offset that would read past the block's limit is
** reported as LSM_CORRUPT (ST_CORRUPT), never followed.
**
** Thread safety: a builder or an iterator is used by one thread at a time. A parsed blk_block
** is immutable and may be shared by any number of iterators in any threads.
*/
#ifndef LSMVTAB_BLOCK_H
#define LSMVTAB_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"
#include "iter.h"

#define BLK_TRAILER 5
#define BLK_NONE 0
#define BLK_ZSTD 1
#define BLK_LZ4 2
#define BLK_RESTART_INTERVAL 16

/* ---- building ---- */

typedef struct blk_builder {
  cd_buf buf;      /* entries so far, then the restart array once finished */
  cd_buf restarts; /* fixed32 offsets */
  cd_buf last;     /* previous key (for prefix compression) */
  int interval;    /* entries between restart points */
  int counter;     /* entries since the last restart */
  int finished;
  uint64_t entries;
} blk_builder;

/* Initialise an empty builder with a restart interval (>= 1). Cannot fail. */
void blk_builder_init(blk_builder *b, int interval);

/* Append an entry. REQUIRES: key > every key added since the last reset (the caller's order;
** not checked here), not finished. LSM_OK or LSM_NOMEM (the builder is then unusable until
** reset). */
int blk_builder_add(blk_builder *b, const uint8_t *key, size_t kn, const uint8_t *val, size_t vn);

/* Size the finished block would have if finished now. */
size_t blk_builder_size(const blk_builder *b);

/* Number of entries added since the last reset. */
static inline uint64_t blk_builder_entries(const blk_builder *b) { return b->entries; }

/* Append the restart array; *out and *n give the raw block, borrowed from the builder until the
** next reset/free. LSM_OK or LSM_NOMEM. */
int blk_builder_finish(blk_builder *b, const uint8_t **out, size_t *n);

/* Forget all entries (keeps the memory). */
void blk_builder_reset(blk_builder *b);

void blk_builder_free(blk_builder *b);

/* ---- stored form ---- */

typedef struct blk_zctx blk_zctx; /* see blk_zctx_new below */

/* Append the stored form of raw block `raw` (n bytes) to `out`: compressed with zstd at
** `level` when `compression` is BLK_ZSTD, with lz4 when it is BLK_LZ4 (level unused), when
** that saves >= n/8, then the 5-byte trailer.
** *stored_n is the size of the contents (what the block handle records; excludes trailer).
** z: a context from blk_zctx_new, or NULL. LSM_OK, LSM_NOMEM, or LSM_ERROR if zstd fails. */
int blk_seal(cd_buf *out, const uint8_t *raw, size_t n, int compression, int level,
             blk_zctx *z, size_t *stored_n);

/* Verify and open a stored block: p points at `n` contents bytes followed by the 5-byte
** trailer (n + BLK_TRAILER readable bytes). On LSM_OK, *raw and *rawn are the raw block: for an
** uncompressed block it points into p (and *alloc is NULL); for a compressed one it is a new
** mm buffer that is also returned in *alloc (caller frees *alloc with mm_free).
** LSM_CORRUPT on a bad checksum, unknown type or size mismatch; LSM_NOMEM. */
int blk_unseal(const uint8_t *p, size_t n, const uint8_t **raw, size_t *rawn, uint8_t **alloc);

/* The two halves of blk_unseal, for callers that place the raw block themselves (one
** allocation for a cache entry and its bytes, or a reused buffer):
** blk_stored_info verifies the checksum and gives the type (BLK_NONE / BLK_ZSTD / BLK_LZ4) and the raw
** size; LSM_CORRUPT as blk_unseal. blk_decode_into then writes the rawn raw bytes to out
** (decompressing or copying); REQUIRES blk_stored_info(p, n) succeeded with that rawn.
** LSM_CORRUPT when the frame does not decompress to exactly rawn bytes, LSM_NOMEM. */
int blk_stored_info(const uint8_t *p, size_t n, int *type, size_t *rawn);
int blk_decode_into(const uint8_t *p, size_t n, uint8_t *out, size_t rawn);

/* blk_decode_into with the zstd context supplied by the caller, so that the decode itself
** takes no lock and allocates nothing (it may run under mapguard's mg_run, reading a mapped
** block): dctx from blk_dctx_get (NULL on out of memory; needed only for BLK_ZSTD blocks:
** LSM_MISUSE without one), given back with blk_dctx_put (NULL ok) after the decode, also after
** a decode abandoned half-way (zstd resets the context at the start of every decode).
** Contexts come from a process-wide pool (a mutex); any thread may use one at a time. */
typedef struct blk_dctx blk_dctx;
blk_dctx *blk_dctx_get(void);
void blk_dctx_put(blk_dctx *d);
int blk_decode_with(const uint8_t *p, size_t n, uint8_t *out, size_t rawn, blk_dctx *dctx);

/* Optional reusable zstd compression context for blk_seal (saves a context set-up per
** block). Used by one thread at a time. */
int blk_zctx_new(blk_zctx **out); /* LSM_NOMEM */
void blk_zctx_free(blk_zctx *z);  /* NULL ok */

/* ---- reading ---- */

/* A parsed raw block. data is borrowed: it must outlive the blk_block and its iterators. */
typedef struct blk_block {
  const uint8_t *data;
  size_t size;
  uint32_t restart_off; /* entries end here; restart array starts here */
  uint32_t nrestarts;
} blk_block;

/* Check the restart array (count, bounds, increasing offsets) and fill *b.
** LSM_CORRUPT if malformed. */
int blk_parse(const uint8_t *data, size_t n, blk_block *b);

/* Restart entry i of a parsed block (its key is stored whole): key and value, bounds-checked
** like an iterator's decode. Pointers are into b's data. REQUIRES i < b->nrestarts.
** LSM_OK or LSM_CORRUPT (shared != 0, truncated or overrunning entry). */
int blk_restart_entry(const blk_block *b, uint32_t i, const uint8_t **k, size_t *kn,
                      const uint8_t **v, size_t *vn);

/* One decoded entry of the restart interval cached for prev (see blk_iter). */
typedef struct blk_pent {
  uint32_t cur, next; /* entry offset and the offset just past it */
  uint32_t koff, kn;  /* key bytes at pkeys.p + koff */
  uint32_t voff, vn;  /* value bytes at data + voff */
} blk_pent;

#define BLK_KEY_INLINE 64

/* Iterator over a parsed block (exposed so other iterators can embed it without an
** allocation; fields are private). Implements it_ops; keys are ordered by `cmp`.
**
** The current key is (kp, kn): it points straight into the block when the entry stores its
** key whole (every restart entry, so index blocks and seeks that land on a restart point
** copy nothing), else at a materialised copy (kin for short keys, key beyond that).
** Backward steps decode the whole restart interval before the current entry once into pent[]
** / pkeys (RocksDB's prev_entries_) and then walk that array back: each entry is decoded once
** per interval instead of once per step. */
typedef struct blk_iter {
  it_iter base;
  const blk_block *blk;
  it_cmp_fn cmp;
  uint32_t cur;     /* offset of the current entry; == restart_off when invalid */
  uint32_t next;    /* offset just past the current entry */
  uint32_t rindex;  /* restart region containing cur */
  uint32_t rnext;   /* offset where region rindex + 1 starts (restart_off after the last) */
  const uint8_t *kp; /* current key */
  size_t kn;
  uint8_t kin[BLK_KEY_INLINE]; /* materialised key when it fits */
  cd_buf key;       /* materialised key otherwise */
  const uint8_t *val;
  uint32_t vn;
  uint32_t min_key; /* keys shorter than this are corrupt (8 for internal keys) */
  int rc;           /* sticky error */
  int heap;         /* allocated by blk_iter_new: destroy frees the struct */
  blk_pent *pent;   /* the decoded interval for prev; pent_i = current entry's index in it */
  uint32_t pent_n, pent_cap;
  int32_t pent_i;   /* -1: the current entry was not reached through pent */
  cd_buf pkeys;     /* the interval's keys, materialised back to back */
} blk_iter;

/* Initialise an embedded iterator over b (b must outlive it). Keys shorter than min_key are
** reported as corrupt (so a comparator like ikey_cmp never sees a key it cannot handle).
** Release memory with blk_iter_fini (or it_free on one from blk_iter_new). Cannot fail. */
void blk_iter_init(blk_iter *it, const blk_block *b, it_cmp_fn cmp, size_t min_key);
/* Repoint at another block (keeps the key buffer); the iterator becomes invalid. */
void blk_iter_reset(blk_iter *it, const blk_block *b);
void blk_iter_fini(blk_iter *it);

/* Heap iterator over b (b must outlive it); *out is released with it_free. LSM_NOMEM. */
int blk_iter_new(const blk_block *b, it_cmp_fn cmp, size_t min_key, it_iter **out);

/* Direct (non-virtual) forms of it_valid / it_key / it_value / it_next for a caller that
** embeds a blk_iter (the table iterator's per-entry path); same contracts as it_ops. */
static inline int blk_iter_valid(const blk_iter *it) { return it->rc == 0 && it->cur < it->blk->restart_off; }
static inline void blk_iter_key(const blk_iter *it, const uint8_t **k, size_t *n) {
  *k = it->kp;
  *n = it->kn;
}
static inline void blk_iter_value(const blk_iter *it, const uint8_t **v, size_t *n) {
  *v = it->val;
  *n = it->vn;
}
int blk_iter_next(blk_iter *it);

/* Position at restart entry i: the first entry of restart region i, which for a block built
** with restart interval 1 (an index block) is entry i. i >= nrestarts leaves the iterator
** invalid (past the end), as a seek past the last key would. LSM_OK or LSM_CORRUPT. For a
** caller that found the entry by other means (the table's index search aid). */
int blk_iter_seek_restart(blk_iter *it, uint32_t i);

#endif
