/*
** sst.h — SSTables: immutable sorted files of internal keys (ikey.h) and values.
**
** File format (all offsets in bytes from the start of the file; "stored block" = block
** contents + the 5-byte trailer of block.h: type byte + fixed32 xxh3_32 checksum):
**
**   data block 0 .. data block N-1   stored blocks (block.h entry format, restart interval 16,
**                                    keys = internal keys, values = values), each about
**                                    block_size raw bytes, zstd- or lz4-compressed when
**                                    that helps
**   filter block                     stored block (never compressed) holding the bloom filter
**                                    of bloom.h over the USER keys; absent (handle 0/0) when
**                                    bloom_bits = 0
**   properties block                 stored block (never compressed), fields in this order:
**       version          varint32   SST_PROPS_VERSION (1)
**       entries          varint64   number of entries
**       deletions        varint64   entries of type IKEY_DEL
**       raw_key_bytes    varint64   sum of internal key lengths
**       raw_value_bytes  varint64   sum of value lengths
**       min_seq, max_seq varint64   smallest / largest sequence number (0/0 when empty)
**       data_blocks      varint64   number of data blocks
**       data_bytes       varint64   bytes of data blocks as stored (with trailers)
**       compression      varint32   LSM_COMPRESS_* the table was built with
**       bloom_bits       varint32   bits per key of the filter (0 = none)
**       smallest_len     varint32   then smallest internal key (empty when no entries)
**       largest_len      varint32   then largest internal key
**     and nothing after (trailing bytes are corruption).
**   index block                      stored block (block.h format, restart interval 1, never
**                                    compressed): one entry per data block, in order:
**       key    a separator internal key S_i: last key of block i <= S_i < first key of block
**              i+1 (a shortened user key with seq IKEY_MAX_SEQ when that is shorter, else the
**              last key itself; the last block uses its last key)
**       value  block handle: varint64 offset, varint64 size (contents size, no trailer)
**   footer (SST_FOOTER = 64 bytes, at file_size - 64):
**       0   fixed64  index offset       8   fixed64  index size
**       16  fixed64  filter offset      24  fixed64  filter size   (0/0: no filter)
**       32  fixed64  props offset       40  fixed64  props size
**       48  fixed32  format version: SST_VERSION (1), or SST_VERSION_LZ4 (2) for a table
**                    built with lz4 (the only difference: its data blocks may be of type 2)
**       52  fixed32  cd_xxh3_32 of footer bytes 0..51
**       56  fixed64  magic SST_MAGIC
**
** Every block's checksum is verified when read; footer (magic, version, checksum, handles in
** range), properties, filter and index are verified at open. Any failure is LSM_CORRUPT with a
** message naming the file: corrupt bytes are never returned as data.
**
** Reading costs: sst_open reads the footer and then filter+properties+index in one read and
** pins them in the reader, so a point lookup that misses the cache costs one data-block read.
** At open the reader also builds a search aid over the index (12 bytes per data block): the 8
** bytes of every index key after the table's common key prefix, and the block offsets, so
** the index search is a binary search over a dense array that touches no index entry unless
** prefixes tie.
** Data blocks go through the block cache (cache.h), keyed by (file_number, block offset); the
** cached value is the raw (decompressed) block, held with its cache entry in one allocation
** (a miss reads into a stack buffer and allocates once; an eviction frees once).
**
** Thread safety: a builder is used by one thread. A reader is immutable after open and may be
** used by any number of threads at once (sst_get, iterators, batched lookups, verify); each
** iterator or sst_block is used by one thread at a time. Close a reader only when nothing uses
** it any more.
*/
#ifndef LSMVTAB_SST_H
#define LSMVTAB_SST_H

#include <stddef.h>
#include <stdint.h>

#include "block.h"
#include "cache.h"
#include "coding.h"
#include "fio.h"
#include "iter.h"

#define SST_MAGIC 0x4c534d5653535431ull /* "LSMVSST1" as a big-endian number */
#define SST_VERSION 1
#define SST_VERSION_LZ4 2 /* the same format; written for tables built with lz4 blocks */
#define SST_PROPS_VERSION 1
#define SST_FOOTER 64

/* ---- building ---- */

typedef struct sst_options {
  size_t block_size;     /* target raw data block size; 0 = 4096 */
  int compression;       /* LSM_COMPRESS_NONE (0) / LSM_COMPRESS_ZSTD (1) / LSM_COMPRESS_LZ4 (2) */
  int compression_level; /* zstd level 1..22; 0 = 3 */
  int bloom_bits;        /* bits per key of the filter, 0 = no filter */
} sst_options;

/* Properties of a table (builder result or reader accessor). The key bytes are owned by the
** builder/reader and live as long as it. */
typedef struct sst_props {
  uint64_t entries, deletions, raw_key_bytes, raw_value_bytes;
  uint64_t min_seq, max_seq;
  uint64_t data_blocks, data_bytes;
  uint32_t compression, bloom_bits;
  const uint8_t *smallest, *largest; /* internal keys (NULL, 0 when empty) */
  size_t smallest_n, largest_n;
  uint64_t file_size;
} sst_props;

typedef struct sst_builder sst_builder;

/* Start a table in `f`: a new, empty file opened for writing (not owned: the caller closes it
** after sst_builder_finish or on abandon). o == NULL means defaults. LSM_NOMEM. */
int sst_builder_new(fio_file *f, const sst_options *o, sst_builder **out);

/* Add an entry. REQUIRES key is a valid internal key greater (ikey_cmp) than the previous one:
** violations give LSM_MISUSE. Blocks are written in large appends (aligned 2 MiB); an IO error is
** returned and remembered (every later call fails with it). */
int sst_builder_add(sst_builder *b, const uint8_t *key, size_t kn, const uint8_t *val, size_t vn);

/* Bytes the file will have if finished now (without the metadata): for output splitting. */
uint64_t sst_builder_size(const sst_builder *b);
uint64_t sst_builder_entries(const sst_builder *b);

/* A builder's output is appended in chunks of exactly SST_APPEND_CHUNK at offsets that are
** multiples of it (the last one shorter). Why 2 MiB, aligned: a write covering a whole aligned
** 2 MiB range lets the page cache keep it as one 2 MiB folio (seen on Linux 6.18, ext4; the
** unaligned ~1 MiB appends before got small folios), and a read-only mapping of the table
** (mmap_reads) then maps it with one huge-page TLB entry, so a random point read's first touch
** of a mapped block skips most of a page walk (docs/PERF-NOTES.md "Status after session 13").
** Kernels or file systems without large folios keep small pages. The price seen on this VM:
** copies into new 2 MiB folios were slower until the guest's memory was warm (a flush ~10 %). */
#define SST_APPEND_CHUNK (2u << 20)

/* Memory. A builder holds: the output buffer (blocks sealed but not yet appended: up to
** SST_APPEND_CHUNK plus one block), the data block being built, the index block (about 30
** bytes per data block) and the bloom filter's key hashes, 8 bytes per distinct user key so
** far (the filter is sized from the final key count, so it is built in sst_builder_finish).
** The hashes dominate and grow with the number of keys, not with the file's size: a caller
** bounds them by bounding the keys per table (compaction cuts outputs at a key count; a
** flush's count is its memtable's, which it announces with sst_builder_expect_keys). */

/* Hint: about n more distinct user keys will be added; the filter's hash array is allocated
** once for them (no doubling slack). LSM_OK or LSM_NOMEM (sticky, as for sst_builder_add). */
int sst_builder_expect_keys(sst_builder *b, size_t n);

/* Bytes of heap the builder holds now (buffers' capacities, see above; zstd's context, a few
** hundred KiB allocated by libzstd, is not included). */
size_t sst_builder_mem(const sst_builder *b);

/* Write filter, properties, index and footer, then fio_sync the file. On LSM_OK *props (if not
** NULL) describes the table; its key pointers live until sst_builder_free. */
int sst_builder_finish(sst_builder *b, sst_props *props);

/* Free (abandoning the table if not finished: the caller deletes the file). NULL ok. */
void sst_builder_free(sst_builder *b);

/* ---- reading ---- */

/* Counters; shareable by all readers of a db (pass the same struct in sst_read_options). */
typedef struct sst_counters {
  _Atomic uint64_t bloom_checked; /* point lookups that consulted a filter */
  _Atomic uint64_t bloom_useful;  /* ... and were answered "absent" by it (no block read) */
  _Atomic uint64_t blocks_read;   /* data blocks read from the file (cache misses) */
  _Atomic uint64_t bytes_read;    /* bytes read from files, metadata included */
  _Atomic uint64_t ra_batches;    /* read-ahead refills (sst_iter readahead > 0) run as one
                                  ** fio_batch of several chunk reads */
  _Atomic uint64_t ra_requests;   /* ... and the chunk reads they queued */
  _Atomic uint64_t cold_batches;  /* sst_fetch_blocks calls whose mapped blocks were read as
                                  ** misses, in one fio_batch, because their pages were found
                                  ** out of the page cache (see sst_fetch_blocks) */
} sst_counters;

typedef struct sst_read_options {
  cache *cache;           /* block cache for data blocks; NULL = none (each access reads) */
  int direct_io;          /* open with FIO_DIRECT (falls back to buffered where the filesystem
                          ** refuses O_DIRECT, e.g. tmpfs); reads aligned ranges */
  sst_counters *counters; /* NULL = the reader's own (sst_reader_counters) */
  int mmap;               /* point lookups (get_block: sst_get, sst_get_value, the blocks of
                          ** iterators and multiget that take it) and iterators' automatic and
                          ** hinted read-ahead windows (not fixed ones) read data blocks from a
                          ** read-only shared mapping of the data area instead of a pread: no
                          ** system call for a block in the page cache. Only for buffered files of
                          ** the "sync" and "uring" envs on 64-bit hosts, with the mapguard SIGBUS
                          ** handler in place (mg_ready; fault and crash envs, direct IO, a host's
                          ** own SIGBUS handler: ignored; a failed mmap falls back to pread). A
                          ** compressed block is checksummed and decoded straight from the
                          ** mapping, an uncompressed one copied out and checked on the copy,
                          ** all under mapguard (mg_run / mg_copy): an IO error of the device
                          ** while a page is faulted in, or the file shrinking while open, is
                          ** LSM_IOERR_READ naming the file and offset; damage stays
                          ** LSM_CORRUPT (sst.c, "blocks read straight from the mapping", for
                          ** what that checksum covers). Default 0. */
} sst_read_options;

typedef struct sst_reader sst_reader;

/* Open table `path` (file_number = its cache identity: unique among live tables sharing the
** cache). o == NULL means no cache, buffered IO. On LSM_OK the reader owns the file; close
** with sst_close. LSM_CANTOPEN, LSM_IOERR_*, LSM_CORRUPT (message names the file), LSM_NOMEM. */
int sst_open(fio_env *env, const char *path, uint64_t file_number, const sst_read_options *o,
             sst_reader **out);

/* The same over an already open file (FIO_RDONLY or FIO_RDWR, FIO_DIRECT if o->direct_io); the
** reader borrows f, which must outlive it. `name` is used in messages. */
int sst_open_file(fio_env *env, fio_file *f, const char *name, uint64_t file_number,
                  const sst_read_options *o, sst_reader **out);

/* Close and free; NULL ok. Does not touch the cache: on deleting the file call
** cache_erase_file(cache, file_number). */
void sst_close(sst_reader *r);

const sst_props *sst_reader_props(const sst_reader *r);
uint64_t sst_reader_file_number(const sst_reader *r);
uint64_t sst_reader_file_size(const sst_reader *r);
sst_counters *sst_reader_counters(sst_reader *r);
/* 1 if blocks are read with O_DIRECT (asked for and supported by the filesystem). */
int sst_reader_direct(const sst_reader *r);
/* 1 if the reader reads data blocks through a mapping (sst_read_options.mmap took effect). */
int sst_reader_mapped(const sst_reader *r);
/* The table's filter (borrowed from the reader; NULL and *n = 0 without one). Its start is
** BLOOM_BLOCK-aligned whatever the read mode, so each of a cache-local filter's blocks lies in
** one cache line (for tests). */
const uint8_t *sst_reader_filter(const sst_reader *r, size_t *n);

/* Point lookup: find the first entry >= the internal seek key `key`; if its user key equals
** key's user key, copy its internal key into *fkey and its value into *fval (cleared first)
** and return LSM_OK; otherwise LSM_NOTFOUND (no message). The filter is consulted first. A
** data block read from the file enters the cache only when the cache admits it (its second
** miss, cache_lookup_admit); otherwise it is decoded into a buffer on this call's stack
** (8 KiB; larger blocks into an allocation) and dropped before returning.
** Errors: LSM_CORRUPT, LSM_IOERR_*, LSM_NOMEM. The caller interprets type and seq of *fkey. */
int sst_get(sst_reader *r, const uint8_t *key, size_t kn, cd_buf *fkey, cd_buf *fval);

/* The point-read form of sst_get: on a match sets *type (IKEY_VAL / IKEY_DEL; a found key that
** is not a valid internal key is LSM_CORRUPT) and, when val != NULL and *type == IKEY_VAL,
** copies the value into *val (cleared first) with one allocation holding at least vn + 1
** bytes (room for a terminator); nothing else is copied. val == NULL: existence only. Same
** errors as sst_get. */
int sst_get_value(sst_reader *r, const uint8_t *key, size_t kn, int *type, cd_buf *val);

/* ---- batched lookups (multiget) ----
** 1. sst_locate(r, key): filter check + index seek, no data IO: gives the block handle that
**    would hold key, or LSM_NOTFOUND.
** 2. sst_fetch_blocks(reqs, n, fn, ctx): serves every request: cache hits at once, blocks of
**    mapped tables as they come (those out of the page cache are read as misses when a probe of
**    up to three of the batch's blocks finds one out: sst.c batch_cold), and all other misses (any mix of tables of one fio_env)
**    read with ONE fio_batch (all in flight on uring), then verified. Each request is handed to fn
**    as soon as its block is ready, and the block is released when fn returns: a block the
**    cache does not admit (cache_lookup_admit: a block missed before) lives in a buffer on
**    sst_fetch_blocks' stack that the next request reuses, as a point lookup's does, so a
**    batch allocates nothing per block. Requests for one block are served one after the other
**    from one read.
** 3. sst_fetch_value(req, key): in fn, sst_get_value's answer, searching only req's block. */
typedef struct sst_bhandle {
  uint64_t off, size; /* stored contents size, trailer excluded */
} sst_bhandle;

typedef struct sst_block {
  sst_reader *r;
  cache_handle *h;   /* pinned cache entry, or */
  struct sst_cblock *own; /* a block held privately (no cache) */
  const blk_block *blk;
} sst_block;

typedef struct sst_fetch {
  sst_reader *r;  /* in */
  sst_bhandle h;  /* in: from sst_locate */
  sst_block blk;  /* pinned while fn runs with rc == LSM_OK; zeroed after */
  int rc;         /* out: LSM_OK or this request's error (also set when fn runs) */
} sst_fetch;

int sst_locate(sst_reader *r, const uint8_t *key, size_t kn, sst_bhandle *h);

/* sst_locate in two steps, for a caller that locates many keys at once (lsm_multiget): begin
** tests the filter (hash = bloom_hash of the user key; its line best already loading:
** sst_prefetch_filter) and narrows the index search to its last few cache lines, which start
** loading; end finishes the search. Beginning every key before ending any lets their memory
** misses overlap. begin: LSM_NOTFOUND (the filter excludes the key), LSM_OK (call end with the
** same r, key and *l), or an error; end: as sst_locate. The state is the caller's (no
** allocation, nothing to release); r stays pinned between the steps. */
typedef struct sst_locating {
  uint64_t pk;      /* the key's 8-byte index prefix */
  uint32_t lo, len; /* the search's remaining range */
  int aid;          /* through the index aid (else the general index seek at end) */
} sst_locating;
int sst_locate_begin(sst_reader *r, const uint8_t *key, size_t kn, uint64_t hash,
                     sst_locating *l);
int sst_locate_end(sst_reader *r, const uint8_t *key, size_t kn, const sst_locating *l,
                   sst_bhandle *h);

/* A hint, no effect: start loading the filter line a point lookup of a user key whose
** bloom_hash is h will probe first (lsm_exists fetches the lines of every candidate table before
** probing any, so that their misses overlap). REQUIRES r pinned. */
void sst_prefetch_filter(const sst_reader *r, uint64_t h);

/* Called once for every request, in the order sst_fetch_blocks serves them (by table and
** offset, not the array's), with req->rc set. req->blk is valid only until fn returns. */
typedef void (*sst_fetch_fn)(void *ctx, const sst_fetch *req);

/* Returns the first failing request's status in the array's order (each has its own rc), else
** LSM_OK. All readers must belong to one fio_env. */
int sst_fetch_blocks(sst_fetch *reqs, int n, sst_fetch_fn fn, void *ctx);

/* sst_get_value of the internal seek key `key` within the block req pinned (REQUIRES: called
** from fn, req->rc == LSM_OK): LSM_OK with *type (and *val as sst_get_value sets it),
** LSM_NOTFOUND when the block does not hold key's user key, LSM_CORRUPT naming the table and
** block. */
int sst_fetch_value(const sst_fetch *req, const uint8_t *key, size_t kn, int *type, cd_buf *val);

/* ---- iteration ---- */

/* Iterator over the table's internal keys (it_ops contract, ordered by ikey_cmp), forward and
** backward. readahead == 0: data blocks come through the cache (inserted when it admits them,
** see cache_lookup_admit; else held by the iterator alone, decoded into a 16 KiB buffer the
** iterator makes on its first such block and reuses, larger blocks allocated) until the iterator has loaded
** a few adjacent blocks in a row (a scan); from then on blocks not in the cache are read ahead
** in a window growing from 16 KiB to 256 KiB and kept private to the iterator (not inserted
** into the cache), blocks already cached are still taken from the cache; any seek elsewhere
** goes back to the cache path. readahead > 0 (sequential
** scans such as compaction): blocks are read `readahead` bytes at a time and served from that
** buffer, bypassing the cache (a scan does not evict the working set). A fixed window, or any
** window of a direct-IO reader, of at least 2 * FIO_ALIGN is read as up to 4 chunk requests
** submitted as one fio_batch, all in flight at once on the uring backend (counted in
** ra_batches / ra_requests); an automatic window of a buffered reader is one read. Checksums are verified per
** block as ever. The window extends forward from the block needed, or backward when the iterator moves with prev.
** The iterator must be freed (it_free) before the reader is closed. LSM_NOMEM. */
int sst_iter_new(sst_reader *r, size_t readahead, it_iter **out);

/* Size the reads of each following forward seek (seek, seek_first) of an automatic iterator
** (readahead == 0) for *nentries entries (read at each seek; 0 = no hint), of which this table is
** expected to hold the fraction `share`: the first block loaded after the seek that is not in
** the cache (probed with admission, as without a hint) is read in one read together with the
** blocks that many entries are expected to span (the table's data bytes per entry, plus a
** margin; at most that block plus SST_HINT_RA_MAX, 32 KiB: the iterator does not know the
** range's upper bound). The blocks in that window are decoded from it
** without a cache lookup (nor insertion: a hot range's blocks still enter the cache one by one,
** each as the first miss of a later run); blocks past it load as without a hint.
** nentries must outlive the iterator. Only IO sizing: what the iterator yields is unchanged.
** *nentries | SST_HINT_BACKWARD: the seeks position a backward scan (seek then prev, or
** seek_last; seek_first is not hinted): the window read ends with the block loaded. */
#define SST_HINT_BACKWARD ((uint64_t)1 << 63)
void sst_iter_hint(it_iter *it, const uint64_t *nentries, double share);

/* ---- verification ---- */

/* Read every data block from the file (not the cache), verify checksums, block structure,
** strict key order within and across blocks, index separators, and the entry/block counts of
** the properties. *report (mm-allocated, caller frees with mm_free) is "ok" or one line per
** problem, each naming the file. Returns LSM_OK, LSM_CORRUPT, or an IO error / LSM_NOMEM. */
int sst_verify(sst_reader *r, char **report);

#endif
