#include "sst.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bloom.h"
#include "ikey.h"
#include "mapguard.h"
#include "mm.h"
#include "status.h"

#define SST_MAX_KEY (1u << 20)      /* sanity bound on keys read from properties */
#define IDX_TOP 64 /* index entries per r->itop entry: a range of 64 in ipfx is 8 cache lines */

/* ==== shared helpers ==== */

/* A block read into memory: `io` holds the bytes read (freed with fio_free_aligned when
** `aligned`, else mm_free), `z` (mm) the decompressed copy when the block was compressed, or a
** tight copy of a direct-IO block (then io is already freed). raw/rawn is the raw block,
** pointing into one of them. */
typedef struct rblock {
  void *io;
  int aligned;
} rblock;

static void rblock_free(rblock *b) {
  if (b->aligned) fio_free_aligned(b->io);
  else mm_free(b->io);
  memset(b, 0, sizeof *b);
}

/* What the cache (or a private holder) keeps: the parsed block, in ONE allocation laid out as
** [sst_cblock][cache entry bookkeeping, when there is a cache][raw block bytes], so a
** block-cache miss costs one allocation and its eviction one free. */
typedef struct sst_cblock {
  blk_block blk;
  size_t charge;
  void *centry; /* cache_insert_at memory inside this allocation, or NULL */
} sst_cblock;

#define CBLOCK_HDR ((sizeof(sst_cblock) + 15) & ~(size_t)15)

static void cblock_free(void *p) { mm_free(p); }

/* Re-tag the calling thread's corruption message with the file and place it was found in. The
** message is copied first: it lives in the buffer ST_CORRUPT writes to. */
static int corrupt_in(const char *name, const char *what, uint64_t off) {
  char m[400];
  snprintf(m, sizeof m, "%s", st_errmsg());
  return ST_CORRUPT("%s: %s at offset %llu: %s", name, what, (unsigned long long)off, m);
}

static int decode_handle(const uint8_t *p, size_t n, sst_bhandle *h) {
  const uint8_t *lim = p + n;
  if (!(p = cd_get_varint64(p, lim, &h->off)) || !(p = cd_get_varint64(p, lim, &h->size)) ||
      p != lim)
    return 0;
  return 1;
}

/* ==== builder ==== */

struct sst_builder {
  fio_file *f;
  sst_options o;
  int rc;            /* sticky error */
  uint64_t written;  /* bytes appended to the file */
  cd_buf out;        /* sealed blocks not yet appended */
  blk_builder data, index;
  bloom_builder bloom;
  blk_zctx *z;
  cd_buf last;       /* last key added */
  cd_buf first;      /* smallest key */
  int pending;       /* a finished data block awaits its index entry */
  sst_bhandle pending_h;
  cd_buf sep;        /* scratch for separators */
  sst_props props;
  int finished;
};

int sst_builder_new(fio_file *f, const sst_options *o, sst_builder **out) {
  *out = NULL;
  sst_builder *b = mm_calloc(1, sizeof *b);
  if (!b) return st_err(LSM_NOMEM, "out of memory (sst builder)");
  b->f = f;
  if (o) b->o = *o;
  if (b->o.block_size == 0) b->o.block_size = 4096;
  if (b->o.compression_level == 0) b->o.compression_level = 3;
  if (b->o.bloom_bits < 0) b->o.bloom_bits = 0;
  blk_builder_init(&b->data, BLK_RESTART_INTERVAL);
  blk_builder_init(&b->index, 1); /* every index entry is a restart point: plain binary search */
  bloom_builder_init(&b->bloom, b->o.bloom_bits ? b->o.bloom_bits : 1);
  if (b->o.compression == BLK_ZSTD) {
    int rc = blk_zctx_new(&b->z);
    if (rc) {
      sst_builder_free(b);
      return rc;
    }
  }
  *out = b;
  return LSM_OK;
}

void sst_builder_free(sst_builder *b) {
  if (!b) return;
  cd_buf_free(&b->out);
  blk_builder_free(&b->data);
  blk_builder_free(&b->index);
  bloom_builder_free(&b->bloom);
  blk_zctx_free(b->z);
  cd_buf_free(&b->last);
  cd_buf_free(&b->first);
  cd_buf_free(&b->sep);
  mm_free(b);
}

uint64_t sst_builder_size(const sst_builder *b) {
  return b->written + b->out.n + blk_builder_size(&b->data);
}

uint64_t sst_builder_entries(const sst_builder *b) { return b->props.entries; }

int sst_builder_expect_keys(sst_builder *b, size_t n) {
  if (b->rc) return b->rc;
  if (!b->o.bloom_bits) return LSM_OK;
  int rc = bloom_builder_reserve(&b->bloom, bloom_builder_count(&b->bloom) + n);
  return rc ? (b->rc = rc) : LSM_OK;
}

static size_t blk_builder_mem(const blk_builder *k) { return k->buf.cap + k->restarts.cap + k->last.cap; }

size_t sst_builder_mem(const sst_builder *b) {
  return sizeof *b + b->out.cap + blk_builder_mem(&b->data) + blk_builder_mem(&b->index) +
         bloom_builder_mem(&b->bloom) + b->last.cap + b->first.cap + b->sep.cap;
}

/* Append the sealed output: all of it (all = 1, at the end), else the whole SST_APPEND_CHUNKs
** buffered, keeping the rest (usually less than a block) for the next chunk. Invariant while
** building: written is a multiple of SST_APPEND_CHUNK. */
static int flush_out(sst_builder *b, int all) {
  size_t n = all ? b->out.n : b->out.n - b->out.n % SST_APPEND_CHUNK;
  if (n == 0) return LSM_OK;
  int rc = fio_append(b->f, b->out.p, n);
  if (rc) return b->rc = rc;
  b->written += n;
  memmove(b->out.p, b->out.p + n, b->out.n - n);
  b->out.n -= n;
  return LSM_OK;
}

/* Seal a raw block into the output buffer; *h is where it lands. */
static int emit(sst_builder *b, const uint8_t *raw, size_t n, int compression, sst_bhandle *h) {
  h->off = b->written + b->out.n;
  size_t sn;
  int rc = blk_seal(&b->out, raw, n, compression, b->o.compression_level, b->z, &sn);
  if (rc) return b->rc = rc;
  h->size = sn;
  return LSM_OK;
}

/* Shortest internal key S with a <= S < b (LevelDB's FindShortestSeparator on the user keys):
** bump the first differing byte of a's user key when that stays below b's. Falls back to a. */
static int separator(cd_buf *out, const uint8_t *a, size_t an, const uint8_t *bk, size_t bn) {
  size_t ua = an - IKEY_TRAILER, ub = bn - IKEY_TRAILER, m = ua < ub ? ua : ub, i = 0;
  while (i < m && a[i] == bk[i]) i++;
  cd_buf_clear(out);
  if (i < m && a[i] < 0xff && a[i] + 1 < bk[i]) {
    int rc = cd_buf_reserve(out, i + 1 + IKEY_TRAILER);
    if (rc) return rc;
    memcpy(out->p, a, i + 1);
    out->p[i]++;
    out->n = ikey_encode(out->p, out->p, i + 1, IKEY_MAX_SEQ, IKEY_SEEK);
    return LSM_OK;
  }
  return cd_buf_append(out, a, an);
}

static int add_index_entry(sst_builder *b, const uint8_t *sep, size_t sn) {
  uint8_t hv[2 * CD_MAX_VARINT64];
  uint8_t *p = cd_put_varint64(hv, b->pending_h.off);
  p = cd_put_varint64(p, b->pending_h.size);
  int rc = blk_builder_add(&b->index, sep, sn, hv, (size_t)(p - hv));
  if (rc) return b->rc = rc;
  b->pending = 0;
  return LSM_OK;
}

static int finish_data_block(sst_builder *b) {
  if (blk_builder_entries(&b->data) == 0) return LSM_OK;
  const uint8_t *raw;
  size_t n;
  int rc = blk_builder_finish(&b->data, &raw, &n);
  if (rc) return b->rc = rc;
  rc = emit(b, raw, n, b->o.compression, &b->pending_h);
  if (rc) return rc;
  b->pending = 1;
  b->props.data_blocks++;
  b->props.data_bytes += b->pending_h.size + BLK_TRAILER;
  blk_builder_reset(&b->data);
  if (b->out.n >= SST_APPEND_CHUNK) return flush_out(b, 0);
  return LSM_OK;
}

int sst_builder_add(sst_builder *b, const uint8_t *key, size_t kn, const uint8_t *val, size_t vn) {
  if (b->rc) return b->rc;
  if (b->finished) return st_err(LSM_MISUSE, "sst_builder_add after finish");
  if (!ikey_valid(key, kn)) return st_err(LSM_MISUSE, "sst_builder_add: not an internal key");
  if (b->props.entries && ikey_cmp(b->last.p, b->last.n, key, kn) >= 0)
    return st_err(LSM_MISUSE, "sst_builder_add: keys out of order");
  int rc;
  if (b->pending) { /* the first key of a new block fixes the previous block's separator */
    if ((rc = separator(&b->sep, b->last.p, b->last.n, key, kn))) return b->rc = rc;
    if ((rc = add_index_entry(b, b->sep.p, b->sep.n))) return rc;
  }
  if (b->o.bloom_bits && (rc = bloom_builder_add(&b->bloom, key, kn - IKEY_TRAILER)))
    return b->rc = rc;
  if ((rc = blk_builder_add(&b->data, key, kn, val, vn))) return b->rc = rc;
  b->last.n = 0; /* b->last = key: a plain copy unless it must grow */
  if (b->last.cap < kn && (rc = cd_buf_reserve(&b->last, kn))) return b->rc = rc;
  memcpy(b->last.p, key, kn);
  b->last.n = kn;
  if (b->props.entries == 0 && (rc = cd_buf_append(&b->first, key, kn))) return b->rc = rc;
  uint64_t seq = ikey_seq(key, kn);
  if (b->props.entries == 0 || seq < b->props.min_seq) b->props.min_seq = seq;
  if (seq > b->props.max_seq) b->props.max_seq = seq;
  b->props.entries++;
  b->props.deletions += ikey_type(key, kn) == IKEY_DEL;
  b->props.raw_key_bytes += kn;
  b->props.raw_value_bytes += vn;
  if (blk_builder_size(&b->data) >= b->o.block_size) return finish_data_block(b);
  return LSM_OK;
}

static int put_key(cd_buf *o, const uint8_t *k, size_t n) {
  int rc = cd_buf_put_varint32(o, (uint32_t)n);
  return rc ? rc : cd_buf_append(o, k, n);
}

static int encode_props(cd_buf *o, const sst_props *p) {
  int rc = 0;
  uint64_t v[] = {p->entries, p->deletions, p->raw_key_bytes, p->raw_value_bytes, p->min_seq,
                  p->max_seq, p->data_blocks, p->data_bytes};
  rc = cd_buf_put_varint32(o, SST_PROPS_VERSION);
  for (size_t i = 0; !rc && i < sizeof v / sizeof v[0]; i++) rc = cd_buf_put_varint64(o, v[i]);
  if (!rc) rc = cd_buf_put_varint32(o, p->compression);
  if (!rc) rc = cd_buf_put_varint32(o, p->bloom_bits);
  if (!rc) rc = put_key(o, p->smallest, p->smallest_n);
  if (!rc) rc = put_key(o, p->largest, p->largest_n);
  return rc;
}

int sst_builder_finish(sst_builder *b, sst_props *props) {
  if (b->rc) return b->rc;
  if (b->finished) return st_err(LSM_MISUSE, "sst_builder_finish twice");
  int rc = finish_data_block(b);
  if (rc) return rc;
  if (b->pending && (rc = add_index_entry(b, b->last.p, b->last.n))) return rc;
  sst_bhandle fh = {0, 0}, ph, ih;
  cd_buf tmp = {0};
  if (b->o.bloom_bits) {
    if ((rc = bloom_builder_finish(&b->bloom, &tmp)) || (rc = emit(b, tmp.p, tmp.n, BLK_NONE, &fh)))
      goto out;
    cd_buf_clear(&tmp);
  }
  b->props.compression = (uint32_t)b->o.compression;
  b->props.bloom_bits = (uint32_t)b->o.bloom_bits;
  b->props.smallest = b->first.p;
  b->props.smallest_n = b->first.n;
  b->props.largest = b->props.entries ? b->last.p : NULL;
  b->props.largest_n = b->props.entries ? b->last.n : 0;
  if ((rc = encode_props(&tmp, &b->props)) || (rc = emit(b, tmp.p, tmp.n, BLK_NONE, &ph))) goto out;
  const uint8_t *raw;
  size_t n;
  if ((rc = blk_builder_finish(&b->index, &raw, &n)) || (rc = emit(b, raw, n, BLK_NONE, &ih)))
    goto out;
  uint8_t ft[SST_FOOTER];
  cd_put_fixed64(ft + 0, ih.off);
  cd_put_fixed64(ft + 8, ih.size);
  cd_put_fixed64(ft + 16, fh.off);
  cd_put_fixed64(ft + 24, fh.size);
  cd_put_fixed64(ft + 32, ph.off);
  cd_put_fixed64(ft + 40, ph.size);
  /* lz4 blocks exist only in version-2 tables: an older reader then says "unknown format
  ** version" instead of finding corrupt blocks; every other table stays version 1 */
  cd_put_fixed32(ft + 48, b->o.compression == BLK_LZ4 ? SST_VERSION_LZ4 : SST_VERSION);
  cd_put_fixed32(ft + 52, cd_xxh3_32(ft, 52));
  cd_put_fixed64(ft + 56, SST_MAGIC);
  if ((rc = cd_buf_append(&b->out, ft, sizeof ft))) goto out;
  if ((rc = flush_out(b, 1))) goto out;
  if ((rc = fio_sync(b->f))) goto out;
  b->props.file_size = b->written;
  b->finished = 1;
  if (props) *props = b->props;
out:
  cd_buf_free(&tmp);
  if (rc) b->rc = rc;
  return rc;
}

/* ==== reader ==== */

struct sst_reader {
  fio_env *env;
  fio_file *f;
  int own_file;
  int direct;
  char *name;
  uint64_t number, size;
  cache *cache;
  sst_counters *ctr;
  sst_counters own_ctr;
  uint64_t data_end; /* data blocks lie in [0, data_end) */
  rblock meta;       /* filter + properties + index, read in one go and pinned */
  blk_block index;
  /* Index search aid (restart interval 1: entry i = restart i). Every index key's user key
  ** starts with the ilcp bytes at ilcp_key (the common prefix of the first and last ones);
  ** ipfx[i] = the next 8 bytes of index key i's user key, big-endian, zero-padded. Sorted like
  ** the keys, so a point lookup binary-searches this dense array and compares whole keys only
  ** among equal prefixes. NULL for an empty index.
  ** itop[j] = ipfx[IDX_TOP * j], j < ntop (in ipfx's allocation): the search's first steps run
  ** over this array, ~1/64 of ipfx's size, whose few lines stay cached across lookups (the
  ** first steps over ipfx itself missed memory: ~17 % of a multiget's samples). */
  uint64_t *ipfx, *itop;
  uint32_t ntop;
  /* Data block i = [ioff[i], ioff[i+1]) including its trailer (ioff[n] = data_end): the
  ** handles without touching the index entry. NULL unless the blocks lie back to back and
  ** data_end fits 32 bits (always so for tables of our builder up to 4 GiB). */
  uint32_t *ioff;
  const uint8_t *ilcp_key;
  size_t ilcp;
  const uint8_t *filter;
  size_t filter_n;
  sst_props props;
  const uint8_t *map; /* [0, data_end) mapped read-only (sst_read_options.mmap), or NULL */
  /* Did the last point read of a mapped block miss the block cache (get_block_point)? Shared
  ** by the reader's threads as a hint: relaxed, and stored only when it changes, so readers of
  ** a table whose reads all hit (or all miss) never write its line. */
  _Atomic uint8_t point_missed;
};

/* Read [off, off+n): *p points at the bytes, which live in out (free with rblock_free) or,
** when scratch (FIO_ALIGN aligned, scratch_n bytes; may be NULL) is big enough, in scratch
** (then out holds nothing): block reads on the point-lookup path allocate nothing. Direct IO
** needs an aligned offset, length and buffer. `aligned`: an allocated buffer is FIO_ALIGN
** aligned even for a buffered read (so *p is, when off is: see align_meta). */
static int read_range_into(sst_reader *r, uint64_t off, size_t n, uint8_t *scratch,
                           size_t scratch_n, int aligned, rblock *out, const uint8_t **p) {
  memset(out, 0, sizeof *out);
  uint64_t start = off, len = n;
  uint8_t *buf;
  if (r->direct) {
    start = off & ~(uint64_t)(FIO_ALIGN - 1);
    len = ((off + n + FIO_ALIGN - 1) & ~(uint64_t)(FIO_ALIGN - 1)) - start;
  }
  if (scratch && len <= scratch_n) {
    buf = scratch;
  } else if (r->direct || aligned) {
    buf = out->io = fio_alloc_aligned(len);
    out->aligned = 1;
  } else {
    buf = out->io = mm_malloc(n ? n : 1);
  }
  if (!buf) return st_err(LSM_NOMEM, "out of memory reading %zu bytes of %s", n, r->name);
  size_t got;
  int rc = fio_read_at(r->f, start, buf, (size_t)len, &got);
  if (rc) {
    rblock_free(out);
    return rc;
  }
  atomic_fetch_add_explicit(&r->ctr->bytes_read, got, memory_order_relaxed);
  if (got < off + n - start) {
    rblock_free(out);
    return ST_CORRUPT("%s: short read at offset %llu (file truncated?)", r->name,
                      (unsigned long long)off);
  }
  *p = buf + (off - start);
  return LSM_OK;
}

static int read_range(sst_reader *r, uint64_t off, size_t n, rblock *out, const uint8_t **p) {
  return read_range_into(r, off, n, NULL, 0, 0, out, p);
}

static int check_handle(sst_reader *r, sst_bhandle h, uint64_t limit, const char *what) {
  if (h.off > limit || h.size > limit - h.off || limit - h.off - h.size < BLK_TRAILER)
    return ST_CORRUPT("%s: %s block handle (%llu, %llu) out of range", r->name, what,
                      (unsigned long long)h.off, (unsigned long long)h.size);
  return LSM_OK;
}

/* A block of metadata inside r->meta (read from meta_off): verified, raw view returned. */
static int meta_block(sst_reader *r, const uint8_t *base, uint64_t meta_off, sst_bhandle h,
                      const char *what, const uint8_t **raw, size_t *rawn) {
  const uint8_t *p = base + (h.off - meta_off);
  uint8_t *z;
  int rc = blk_unseal(p, (size_t)h.size, raw, rawn, &z);
  if (rc == LSM_CORRUPT)
    return corrupt_in(r->name, what, h.off);
  if (rc) return rc;
  if (z) {
    mm_free(z);
    return ST_CORRUPT("%s: %s block is compressed", r->name, what);
  }
  return LSM_OK;
}

static int get_key(sst_reader *r, const uint8_t **p, const uint8_t *lim, const uint8_t **k,
                   size_t *n) {
  uint32_t len;
  if (!(*p = cd_get_varint32(*p, lim, &len)) || len > (size_t)(lim - *p) || len > SST_MAX_KEY ||
      (len && len < IKEY_TRAILER))
    return ST_CORRUPT("%s: bad key in properties", r->name);
  *k = len ? *p : NULL;
  *n = len;
  *p += len;
  return LSM_OK;
}

static int decode_props(sst_reader *r, const uint8_t *p, size_t n) {
  const uint8_t *lim = p + n;
  sst_props *pr = &r->props;
  uint32_t ver;
  uint64_t *v[] = {&pr->entries, &pr->deletions, &pr->raw_key_bytes, &pr->raw_value_bytes,
                   &pr->min_seq, &pr->max_seq, &pr->data_blocks, &pr->data_bytes};
  if (!(p = cd_get_varint32(p, lim, &ver)) || ver != SST_PROPS_VERSION)
    return ST_CORRUPT("%s: bad properties version", r->name);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (!(p = cd_get_varint64(p, lim, v[i]))) return ST_CORRUPT("%s: properties truncated", r->name);
  if (!(p = cd_get_varint32(p, lim, &pr->compression)) ||
      !(p = cd_get_varint32(p, lim, &pr->bloom_bits)))
    return ST_CORRUPT("%s: properties truncated", r->name);
  int rc = get_key(r, &p, lim, &pr->smallest, &pr->smallest_n);
  if (!rc) rc = get_key(r, &p, lim, &pr->largest, &pr->largest_n);
  if (rc) return rc;
  if (p != lim) return ST_CORRUPT("%s: trailing bytes in properties", r->name);
  if ((pr->entries == 0) != (pr->smallest_n == 0) || (pr->entries == 0) != (pr->largest_n == 0) ||
      pr->deletions > pr->entries || pr->data_bytes != r->data_end ||
      (pr->entries && ikey_cmp(pr->smallest, pr->smallest_n, pr->largest, pr->largest_n) > 0))
    return ST_CORRUPT("%s: inconsistent properties", r->name);
  pr->file_size = r->size;
  return LSM_OK;
}

/* The 8 bytes of p[0..n) as a big-endian number, zero-padded: a < b as numbers implies the
** byte strings compare a < b (shorter-is-less), and a > b implies >. */
static inline uint64_t key_pfx(const uint8_t *p, size_t n) {
  uint64_t x = 0;
  memcpy(&x, p, n < 8 ? n : 8);
  return __builtin_bswap64(x);
}

/* User key of index entry i (an internal key): LSM_CORRUPT if malformed. */
static int index_ukey(const sst_reader *r, uint32_t i, const uint8_t **k, size_t *kn,
                      const uint8_t **v, size_t *vn) {
  if (blk_restart_entry(&r->index, i, k, kn, v, vn) || *kn < IKEY_TRAILER)
    return ST_CORRUPT("%s: bad index entry %u", r->name, i);
  return LSM_OK;
}

/* Build r->ipfx and r->itop (see sst_reader), checking every index entry's shape and order of
** prefixes. */
static int build_index_aid(sst_reader *r) {
  uint32_t n = r->index.nrestarts;
  if (n == 0) return LSM_OK;
  const uint8_t *fk, *lk, *k, *v;
  size_t fn, ln, kn, vn;
  int rc;
  if ((rc = index_ukey(r, 0, &fk, &fn, &v, &vn)) || (rc = index_ukey(r, n - 1, &lk, &ln, &v, &vn)))
    return rc;
  size_t m = (fn < ln ? fn : ln) - IKEY_TRAILER, lcp = 0;
  while (lcp < m && fk[lcp] == lk[lcp]) lcp++;
  r->ntop = (n + IDX_TOP - 1) / IDX_TOP;
  if (!(r->ipfx = mm_malloc(sizeof *r->ipfx * ((size_t)n + r->ntop))))
    return st_err(LSM_NOMEM, "out of memory opening %s (index)", r->name);
  r->itop = r->ipfx + n;
  r->ilcp_key = fk;
  r->ilcp = lcp;
  for (uint32_t i = 0; i < n; i++) {
    if ((rc = index_ukey(r, i, &k, &kn, &v, &vn))) return rc;
    kn -= IKEY_TRAILER;
    if (kn < lcp || memcmp(k, fk, lcp)) return ST_CORRUPT("%s: index keys out of order", r->name);
    r->ipfx[i] = key_pfx(k + lcp, kn - lcp);
    if (i && r->ipfx[i] < r->ipfx[i - 1])
      return ST_CORRUPT("%s: index keys out of order", r->name);
    if (i % IDX_TOP == 0) r->itop[i / IDX_TOP] = r->ipfx[i];
  }
  if (r->data_end > UINT32_MAX) return LSM_OK;
  if (!(r->ioff = mm_malloc(sizeof *r->ioff * ((size_t)n + 1))))
    return st_err(LSM_NOMEM, "out of memory opening %s (index)", r->name);
  uint64_t end = 0;
  for (uint32_t i = 0; i < n; i++) {
    sst_bhandle h;
    if ((rc = index_ukey(r, i, &k, &kn, &v, &vn))) return rc;
    if (!decode_handle(v, vn, &h)) return ST_CORRUPT("%s: bad block handle in index", r->name);
    if (h.off != end || h.size > r->data_end - h.off || r->data_end - h.off - h.size < BLK_TRAILER)
      break; /* not back to back (or out of range: sst_locate's handle check reports it) */
    r->ioff[i] = (uint32_t)h.off;
    end = h.off + h.size + BLK_TRAILER;
    if (i == n - 1 && end == r->data_end) {
      r->ioff[n] = (uint32_t)end;
      return LSM_OK;
    }
  }
  mm_free(r->ioff);
  r->ioff = NULL;
  return LSM_OK;
}

/* Give r->meta (n bytes at *base, the filter first) a cache-line-aligned home if it has none,
** so that each of a cache-local filter's 64-byte blocks sits in ONE line: a probe then touches
** one line, which bloom_prefetch_hash's one prefetch loads. A large malloc'd buffer starts 16
** bytes into a line, so a block straddled two lines, the second of which the prefetch never
** loaded: the probe stalled on it (the filter test was ~70 % of sst_locate's samples in a
** multiget, after its prefetch). load reads the metadata into an aligned buffer, so only a
** direct read, whose bytes start at the block's offset within its page, needs this copy: a
** copy at open is not free here (the fresh pages of a second buffer were ~half of a table
** open's time, and a fresh process opens every table on its first reads). */
static int align_meta(sst_reader *r, size_t n, const uint8_t **base) {
  if (((uintptr_t)*base & (BLOOM_BLOCK - 1)) == 0) return LSM_OK;
  uint8_t *a = fio_alloc_aligned(n ? n : 1);
  if (!a) return st_err(LSM_NOMEM, "out of memory reading %zu bytes of %s", n, r->name);
  memcpy(a, *base, n);
  rblock_free(&r->meta);
  r->meta.io = a;
  r->meta.aligned = 1;
  *base = a;
  return LSM_OK;
}

static int load(sst_reader *r) {
  int rc = fio_size(r->f, &r->size);
  if (rc) return rc;
  if (r->size < SST_FOOTER)
    return ST_CORRUPT("%s: file too small for a table (%llu bytes)", r->name,
                      (unsigned long long)r->size);
  rblock fb;
  const uint8_t *ft;
  if ((rc = read_range(r, r->size - SST_FOOTER, SST_FOOTER, &fb, &ft))) return rc;
  sst_bhandle ih = {cd_get_fixed64(ft), cd_get_fixed64(ft + 8)};
  sst_bhandle fh = {cd_get_fixed64(ft + 16), cd_get_fixed64(ft + 24)};
  sst_bhandle ph = {cd_get_fixed64(ft + 32), cd_get_fixed64(ft + 40)};
  uint32_t ver = cd_get_fixed32(ft + 48), sum = cd_get_fixed32(ft + 52);
  uint64_t magic = cd_get_fixed64(ft + 56);
  int sum_ok = sum == cd_xxh3_32(ft, 52);
  rblock_free(&fb);
  if (magic != SST_MAGIC) return ST_CORRUPT("%s: not a table (bad magic)", r->name);
  if (!sum_ok) return ST_CORRUPT("%s: footer checksum mismatch", r->name);
  if (ver != SST_VERSION && ver != SST_VERSION_LZ4)
    return ST_CORRUPT("%s: unknown table format version %u", r->name, ver);
  uint64_t meta_end = r->size - SST_FOOTER;
  int has_filter = fh.off || fh.size;
  if ((rc = check_handle(r, ih, meta_end, "index")) || (rc = check_handle(r, ph, meta_end, "properties")) ||
      (has_filter && (rc = check_handle(r, fh, meta_end, "filter"))))
    return rc;
  /* Layout: [data][filter][props][index][footer]; read filter..index at once. */
  uint64_t meta_off = has_filter ? fh.off : ph.off;
  if (ph.off < meta_off || ih.off < ph.off || (has_filter && fh.off + fh.size + BLK_TRAILER > ph.off) ||
      ph.off + ph.size + BLK_TRAILER > ih.off || ih.off + ih.size + BLK_TRAILER != meta_end)
    return ST_CORRUPT("%s: metadata blocks out of place", r->name);
  r->data_end = meta_off;
  const uint8_t *base, *raw;
  size_t rawn;
  if ((rc = read_range_into(r, meta_off, (size_t)(meta_end - meta_off), NULL, 0, 1, &r->meta,
                            &base)) ||
      (has_filter && (rc = align_meta(r, (size_t)(meta_end - meta_off), &base))))
    return rc;
  if ((rc = meta_block(r, base, meta_off, ph, "properties", &raw, &rawn)) ||
      (rc = decode_props(r, raw, rawn)))
    return rc;
  if (has_filter) {
    if ((rc = meta_block(r, base, meta_off, fh, "filter", &r->filter, &r->filter_n))) return rc;
    if ((rc = bloom_check(r->filter, r->filter_n)))
      return corrupt_in(r->name, "filter", fh.off);
  }
  if ((rc = meta_block(r, base, meta_off, ih, "index", &raw, &rawn))) return rc;
  if ((rc = blk_parse(raw, rawn, &r->index)))
    return corrupt_in(r->name, "index", ih.off);
  if (r->index.nrestarts != r->props.data_blocks) /* restart interval 1: one per entry */
    return ST_CORRUPT("%s: index does not match properties", r->name);
  return build_index_aid(r);
}

/* Map the data area for point reads (sst_read_options.mmap) where that is safe to do: a plain
** buffered file of a real backend (the fault and crash envs must see every read), 64-bit
** address space, the mapguard SIGBUS handler in place. No mapping (and no error) otherwise or
** when mmap fails: reads use pread. */
static void map_data(sst_reader *r) {
  const char *env = fio_env_name(r->env);
  if (sizeof(void *) < 8 || r->direct || r->data_end == 0 || r->data_end > r->size ||
      (strcmp(env, "sync") && strcmp(env, "uring")))
    return;
  /* Reads from the mapping go through mg_copy, which needs the SIGBUS handler installed and
  ** still in place (a host that replaced it keeps its own handler: then no mapping). */
  if (!mg_ready()) return;
  void *m = mmap(NULL, (size_t)r->data_end, PROT_READ, MAP_SHARED, fio_fd(r->f), 0);
  if (m == MAP_FAILED) return;
  /* Point reads are random: a page fault reads only its page, not the default read-around
  ** window (RocksDB's advise_random_on_open). Pages already cached are still mapped around the
  ** fault (fault-around), so a warm table takes few faults. Advisory: failure changes nothing. */
  (void)madvise(m, (size_t)r->data_end, MADV_RANDOM);
  r->map = m;
}

int sst_open_file(fio_env *env, fio_file *f, const char *name, uint64_t file_number,
                  const sst_read_options *o, sst_reader **out) {
  *out = NULL;
  sst_reader *r = mm_calloc(1, sizeof *r);
  if (!r || !(r->name = mm_strdup(name ? name : "sst"))) {
    mm_free(r);
    return st_err(LSM_NOMEM, "out of memory opening %s", name ? name : "sst");
  }
  r->env = env;
  r->f = f;
  r->number = file_number;
  r->cache = o ? o->cache : NULL;
  r->direct = o ? o->direct_io : 0;
  r->ctr = o && o->counters ? o->counters : &r->own_ctr;
  int rc = load(r);
  if (rc) {
    sst_close(r);
    return rc;
  }
  if (o && o->mmap) map_data(r);
  *out = r;
  return LSM_OK;
}

int sst_open(fio_env *env, const char *path, uint64_t file_number, const sst_read_options *o,
             sst_reader **out) {
  *out = NULL;
  fio_file *f = NULL;
  int direct = o && o->direct_io;
  int rc = fio_open(env, path, FIO_RDONLY | (direct ? FIO_DIRECT : 0), &f);
  if (rc == LSM_CANTOPEN && direct) { /* tmpfs and friends refuse O_DIRECT */
    rc = fio_open(env, path, FIO_RDONLY, &f);
    direct = 0;
  }
  if (rc) return rc;
  sst_read_options ro = {0};
  if (o) ro = *o;
  ro.direct_io = direct;
  rc = sst_open_file(env, f, path, file_number, &ro, out);
  if (rc) {
    fio_close(f);
    return rc;
  }
  (*out)->own_file = 1;
  return LSM_OK;
}

void sst_close(sst_reader *r) {
  if (!r) return;
  if (r->map) munmap((void *)r->map, (size_t)r->data_end);
  if (r->own_file) fio_close(r->f);
  rblock_free(&r->meta);
  mm_free(r->ipfx);
  mm_free(r->ioff);
  mm_free(r->name);
  mm_free(r);
}

const sst_props *sst_reader_props(const sst_reader *r) { return &r->props; }
uint64_t sst_reader_file_number(const sst_reader *r) { return r->number; }
uint64_t sst_reader_file_size(const sst_reader *r) { return r->size; }
sst_counters *sst_reader_counters(sst_reader *r) { return r->ctr; }
int sst_reader_direct(const sst_reader *r) { return r->direct; }
int sst_reader_mapped(const sst_reader *r) { return r->map != NULL; }
const uint8_t *sst_reader_filter(const sst_reader *r, size_t *n) {
  *n = r->filter_n;
  return r->filter;
}

/* ---- data blocks ---- */

/* Free a cblock unless it lives in the caller's buffer `mem` (see get_block). */
static void cblock_drop(sst_cblock *c, const uint8_t *mem) {
  if ((const uint8_t *)c != mem) mm_free(c);
}

/* ---- blocks read straight from the mapping ----
** A compressed block of a mapped table is verified (XXH3 over the stored bytes and trailer)
** and decoded (lz4/zstd) straight from the mapping into memory the engine owns, with no copy
** of the stored bytes: both steps run under mapguard's mg_run, which turns a SIGBUS of a page
** that cannot be read (device IO error, file truncated underneath) into LSM_IOERR_READ naming
** the file and block offset. They are safe to jump out of (mapguard.h's contract): they read
** only [block, block + size + trailer), take no lock and allocate nothing (the destination is
** allocated between the two steps, outside the guard; zstd's context is taken from its pool
** before and given back after); a jump leaves only a half-written destination, which the
** caller frees or reuses, and no cache entry (inserted only after a whole decode and parse).
** An uncompressed block is not parsed in place in the mapping (parsing and iteration run
** outside the guard): it is copied under the guard into engine memory and verified there.
** Limit: the checksum is verified on the mapping and the decode reads the mapping again, so the
** bytes decoded are the bytes checked unless another process modifies the (immutable) table
** file between the two reads; then the decode is of unverified bytes. Both decoders are
** bounds-safe on any input and blk_parse validates the decoded block, so that can give wrong
** rows or LSM_CORRUPT, never a read or write outside the buffers. (A pread copy has the same
** exposure to a file modified before the read.) */

/* Prefetch the cache lines of [p, p + n) of the mapping. A prefetch never faults, so
** lines past the file's end or of an unmapped page cost nothing. */
static inline void prefetch_range(const uint8_t *p, size_t n) {
  uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, e = (uintptr_t)p + n;
  for (; a < e; a += 64) __builtin_prefetch((const void *)a);
}

/* p lies in the reader's mapping. */
static inline int in_map(const sst_reader *r, const uint8_t *p) {
  return r->map && (uintptr_t)p >= (uintptr_t)r->map &&
         (uintptr_t)p < (uintptr_t)r->map + (uintptr_t)r->data_end;
}

typedef struct map_dec {
  const uint8_t *p; /* the stored block in the mapping (n bytes, then the trailer) */
  size_t n;
  int type;
  size_t rawn;
  uint8_t *out;     /* decode: rawn bytes of engine memory */
  blk_dctx *dctx;   /* decode of a zstd block: a context taken before the guard */
} map_dec;

static int md_info(void *v) {
  map_dec *d = v;
  return blk_stored_info(d->p, d->n, &d->type, &d->rawn);
}

static int md_decode(void *v) {
  map_dec *d = v;
  return blk_decode_with(d->p, d->n, d->out, d->rawn, d->dctx);
}

/* blk_stored_info of the mapped stored block at p, under the guard. */
static int map_info(sst_reader *r, const uint8_t *p, sst_bhandle h, int *type, size_t *rawn) {
  map_dec d = {.p = p, .n = (size_t)h.size};
  int rc = mg_run(md_info, &d, p, (size_t)h.size + BLK_TRAILER, r->name, h.off);
  if (rc) return rc == LSM_CORRUPT ? corrupt_in(r->name, "block", h.off) : rc;
  *type = d.type;
  *rawn = d.rawn;
  return LSM_OK;
}

/* blk_decode_into of the mapped compressed block at p (REQUIRES map_info gave type, rawn)
** into out, under the guard. */
static int map_decode(sst_reader *r, const uint8_t *p, sst_bhandle h, int type, uint8_t *out,
                      size_t rawn) {
  map_dec d = {.p = p, .n = (size_t)h.size, .type = type, .rawn = rawn, .out = out};
  if (type == BLK_ZSTD && !(d.dctx = blk_dctx_get()))
    return st_err(LSM_NOMEM, "out of memory (zstd context)");
  int rc = mg_run(md_decode, &d, p, (size_t)h.size + BLK_TRAILER, r->name, h.off);
  blk_dctx_put(d.dctx);
  return rc == LSM_CORRUPT ? corrupt_in(r->name, "block", h.off) : rc;
}

/* Blocks up to this size (stored, with direct IO's alignment slack) are read into a stack
** buffer on a cache miss: no allocation besides the cache entry itself. */
#define SST_SCRATCH (4 * FIO_ALIGN)

static int make_cblock(sst_reader *r, const uint8_t *p, sst_bhandle h, int with_entry,
                       uint8_t *mem, size_t mem_n, sst_cblock **out);

/* make_cblock of an uncompressed block in the mapping: the stored bytes (block + trailer) are
** copied out under the guard, into a stack buffer when they fit, then verified and parsed from
** the copy. */
static int make_cblock_copy(sst_reader *r, const uint8_t *p, sst_bhandle h, int with_entry,
                            uint8_t *mem, size_t mem_n, sst_cblock **out) {
  size_t n = (size_t)h.size + BLK_TRAILER;
  _Alignas(16) uint8_t scratch[SST_SCRATCH];
  uint8_t *q = n <= sizeof scratch ? scratch : mm_malloc(n);
  if (!q) return st_err(LSM_NOMEM, "out of memory reading %zu bytes of %s", n, r->name);
  int rc = mg_copy(q, p, n, r->name, h.off);
  if (!rc) rc = make_cblock(r, q, h, with_entry, mem, mem_n, out);
  if (q != scratch) mm_free(q);
  return rc;
}

/* Verify the stored block at p (h.size + trailer bytes) and make a cblock of it (one
** allocation; the bytes at p are not kept). with_entry: leave room for the cache's entry.
** Without it, a block that fits the caller's buffer mem (mem_n bytes, 16-byte aligned; NULL
** for none) is made there instead of in an allocation (*out == (void *)mem). p may lie in the
** reader's mapping: then a compressed block is verified and decoded from it under the guard,
** an uncompressed one copied out first (see "blocks read straight from the mapping"). */
static int make_cblock(sst_reader *r, const uint8_t *p, sst_bhandle h, int with_entry,
                       uint8_t *mem, size_t mem_n, sst_cblock **out) {
  *out = NULL;
  int mapped = in_map(r, p);
  int type;
  size_t rawn;
  int rc = mapped ? map_info(r, p, h, &type, &rawn) : blk_stored_info(p, (size_t)h.size, &type, &rawn);
  if (rc) return rc == LSM_CORRUPT && !mapped ? corrupt_in(r->name, "block", h.off) : rc;
  if (mapped && type == BLK_NONE) return make_cblock_copy(r, p, h, with_entry, mem, mem_n, out);
  size_t hdr = CBLOCK_HDR + (with_entry ? cache_entry_size() : 0);
  sst_cblock *c;
  if (!with_entry && mem && hdr + rawn <= mem_n) c = (sst_cblock *)mem;
  else if (!(c = mm_malloc(hdr + (rawn ? rawn : 1)))) return st_err(LSM_NOMEM, "out of memory (block)");
  uint8_t *data = (uint8_t *)c + hdr;
  if (mapped) rc = map_decode(r, p, h, type, data, rawn);
  else if ((rc = blk_decode_into(p, (size_t)h.size, data, rawn)) == LSM_CORRUPT)
    rc = corrupt_in(r->name, "block", h.off);
  if (rc) {
    cblock_drop(c, mem);
    return rc;
  }
  if (blk_parse(data, rawn, &c->blk)) {
    cblock_drop(c, mem);
    return corrupt_in(r->name, "data block", h.off);
  }
  c->centry = with_entry ? (uint8_t *)c + CBLOCK_HDR : NULL;
  c->charge = hdr + rawn;
  *out = c;
  return LSM_OK;
}

/* Hand a freshly made cblock to the cache when it has room for the cache's entry, else keep
** it privately (or, when it lives in the caller's buffer mem, borrow it), and pin it in *b. */
static void adopt(sst_reader *r, sst_bhandle h, sst_cblock *c, const uint8_t *mem, sst_block *b) {
  b->r = r;
  b->blk = &c->blk;
  if (r->cache && c->centry)
    cache_insert_at(r->cache, c->centry, r->number, h.off, c, c->charge, cblock_free, &b->h);
  else if ((const uint8_t *)c != mem)
    b->own = c;
}

static int check_data_handle(sst_reader *r, sst_bhandle h) {
  if (h.off >= r->data_end || h.size > r->data_end - h.off ||
      r->data_end - h.off - h.size < BLK_TRAILER)
    return ST_CORRUPT("%s: data block handle (%llu, %llu) out of range", r->name,
                      (unsigned long long)h.off, (unsigned long long)h.size);
  return LSM_OK;
}

static int cache_hit(sst_reader *r, sst_bhandle h, sst_block *b) {
  if (!r->cache) return 0;
  cache_handle *ch = cache_lookup(r->cache, r->number, h.off);
  if (!ch) return 0;
  b->r = r;
  b->h = ch;
  b->blk = &((sst_cblock *)cache_value(ch))->blk;
  return 1;
}

/* cache_hit that on a miss says whether to insert the block read (cache_lookup_admit). */
static int cache_probe(sst_reader *r, sst_bhandle h, sst_block *b, int *admit) {
  *admit = 0;
  if (!r->cache) return 0;
  cache_handle *ch = cache_lookup_admit(r->cache, r->number, h.off, admit);
  if (!ch) return 0;
  b->r = r;
  b->h = ch;
  b->blk = &((sst_cblock *)cache_value(ch))->blk;
  return 1;
}

/* A block that missed the cache, from the mapping (check_data_handle: within data_end):
** verified and decoded straight from the mapping under the guard (make_cblock). */
static int map_cblock(sst_reader *r, sst_bhandle h, int admit, uint8_t *mem, size_t mem_n,
                      sst_cblock **out) {
  atomic_fetch_add_explicit(&r->ctr->blocks_read, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&r->ctr->bytes_read, (size_t)h.size + BLK_TRAILER, memory_order_relaxed);
  return make_cblock(r, r->map + h.off, h, admit, mem, mem_n, out);
}

/* A miss on a table built without compression, whose blocks are all stored raw: the stored
** block is read (or copied from the mapping, under the guard) straight into its cblock
** allocation and parsed in place, so the bytes are not
** copied from a read buffer (the checksum and trailer stay, charged). A block that is not raw
** after all (only a damaged or foreign table) takes the general path from the bytes read. */
static int get_block_raw(sst_reader *r, sst_bhandle h, int admit, uint8_t *mem, size_t mem_n,
                         sst_block *b) {
  size_t hdr = CBLOCK_HDR + (admit ? cache_entry_size() : 0);
  size_t sn = (size_t)h.size + BLK_TRAILER;
  sst_cblock *c;
  if (!admit && mem && hdr + sn <= mem_n) c = (sst_cblock *)mem;
  else if (!(c = mm_malloc(hdr + sn))) return st_err(LSM_NOMEM, "out of memory (block)");
  uint8_t *data = (uint8_t *)c + hdr;
  size_t got = sn;
  int rc = r->map ? mg_copy(data, r->map + h.off, sn, r->name, h.off)
                  : fio_read_at(r->f, h.off, data, sn, &got);
  if (!rc) {
    atomic_fetch_add_explicit(&r->ctr->bytes_read, got, memory_order_relaxed);
    if (got < sn)
      rc = ST_CORRUPT("%s: short read at offset %llu (file truncated?)", r->name,
                      (unsigned long long)h.off);
  }
  if (rc) {
    cblock_drop(c, mem);
    return rc;
  }
  atomic_fetch_add_explicit(&r->ctr->blocks_read, 1, memory_order_relaxed);
  int type;
  size_t rawn;
  if ((rc = blk_stored_info(data, (size_t)h.size, &type, &rawn))) {
    cblock_drop(c, mem);
    return rc == LSM_CORRUPT ? corrupt_in(r->name, "block", h.off) : rc;
  }
  if (type != BLK_NONE || rawn != h.size) {
    sst_cblock *c2;
    rc = make_cblock(r, data, h, admit, NULL, 0, &c2);
    cblock_drop(c, mem);
    if (rc) return rc;
    adopt(r, h, c2, NULL, b);
    return LSM_OK;
  }
  if (blk_parse(data, rawn, &c->blk)) {
    cblock_drop(c, mem);
    return corrupt_in(r->name, "data block", h.off);
  }
  c->centry = admit ? (uint8_t *)c + CBLOCK_HDR : NULL;
  c->charge = hdr + sn;
  adopt(r, h, c, mem, b);
  return LSM_OK;
}

static int get_block_read(sst_reader *r, sst_bhandle h, int admit, uint8_t *mem, size_t mem_n,
                          sst_block *b);

/* get_block's miss (the cache probed, admit as it said): the block from the mapping or one
** read, adopted into the cache or held privately (see get_block). */
static inline int get_block_miss(sst_reader *r, sst_bhandle h, int admit, uint8_t *mem,
                                 size_t mem_n, sst_block *b) {
  /* direct IO needs aligned buffers and offsets: the general path below handles that */
  if (r->props.compression == BLK_NONE && !r->direct) return get_block_raw(r, h, admit, mem, mem_n, b);
  if (!r->map) return get_block_read(r, h, admit, mem, mem_n, b);
  sst_cblock *c;
  int rc;
  if ((rc = map_cblock(r, h, admit, mem, mem_n, &c))) return rc;
  adopt(r, h, c, mem, b);
  return LSM_OK;
}

/* Pin data block h: from the cache, else one read, inserted into the cache when the cache
** admits it (cache_lookup_admit: on its second miss), else held privately: in the caller's
** buffer mem (mem_n bytes, 16-byte aligned, e.g. on the stack of a point lookup that releases
** the block before it returns; NULL for none) when it fits, else in an allocation. */
static int get_block(sst_reader *r, sst_bhandle h, uint8_t *mem, size_t mem_n, sst_block *b) {
  memset(b, 0, sizeof *b);
  int rc = check_data_handle(r, h);
  if (rc) return rc;
  int admit;
  if (cache_probe(r, h, b, &admit)) return LSM_OK;
  return get_block_miss(r, h, admit, mem, mem_n, b);
}

/* get_block for a point read of a mapped table (REQUIRES r->map). All the block's lines are
** prefetched at once, so the checksum and the decode find them in flight rather than waiting
** for the hardware stream to ramp up: before the cache probe (overlapping it) when the table's
** last point read missed the cache, else after a miss, so that a cache hit pays nothing
** (prefetched before every probe, a cached workload's point reads measured ~7 % slower). Not
** for multiget, which prefetches its blocks' first lines two requests ahead itself. Measured on
** SQL readrandom at 5M rows (2 KiB blocks, ~2 % of them cached): PERF-NOTES, session 26. */
static int get_block_point(sst_reader *r, sst_bhandle h, uint8_t *mem, size_t mem_n, sst_block *b) {
  memset(b, 0, sizeof *b);
  int rc = check_data_handle(r, h);
  if (rc) return rc;
  int admit, missed = atomic_load_explicit(&r->point_missed, memory_order_relaxed);
  if (missed) prefetch_range(r->map + h.off, (size_t)h.size + BLK_TRAILER);
  if (cache_probe(r, h, b, &admit)) {
    if (missed) atomic_store_explicit(&r->point_missed, 0, memory_order_relaxed);
    return LSM_OK;
  }
  if (!missed) {
    atomic_store_explicit(&r->point_missed, 1, memory_order_relaxed);
    prefetch_range(r->map + h.off, (size_t)h.size + BLK_TRAILER);
  }
  return get_block_miss(r, h, admit, mem, mem_n, b);
}

/* get_block's read of a missed block with a pread, through a 16 KiB stack buffer aligned for
** direct IO. Kept out of get_block (noinline) so that the mapped and raw paths, which every
** SQL point read and every block of a mapped multiget take, do not set up that frame: with it
** inlined, the engine's point get and multiget measured ~7 % slower per key (a 5M-row
** table, 2 KiB blocks, alternating builds). */
static __attribute__((noinline)) int get_block_read(sst_reader *r, sst_bhandle h, int admit,
                                                    uint8_t *mem, size_t mem_n, sst_block *b) {
  int rc;
  sst_cblock *c;
  _Alignas(FIO_ALIGN) uint8_t scratch[SST_SCRATCH];
  rblock rb;
  const uint8_t *p;
  if ((rc = read_range_into(r, h.off, (size_t)h.size + BLK_TRAILER, scratch, sizeof scratch, 0, &rb,
                            &p)))
    return rc;
  atomic_fetch_add_explicit(&r->ctr->blocks_read, 1, memory_order_relaxed);
  rc = make_cblock(r, p, h, admit, mem, mem_n, &c);
  rblock_free(&rb);
  if (rc) return rc;
  adopt(r, h, c, mem, b);
  return LSM_OK;
}

static void block_release(sst_block *b) {
  if (b->h) cache_release(b->r->cache, b->h);
  cblock_free(b->own);
  memset(b, 0, sizeof *b);
}

/* ---- point lookups ---- */

/* A point lookup decodes a block the cache does not admit into a buffer of this size on its
** stack (larger blocks: an allocation), so a one-time read allocates nothing. */
#define SST_GET_MEM 8192


/* The first i in [lo, lo + len) with a[i] >= pk (a sorted), lo + len if none. */
static inline uint32_t u64_lower_bound(const uint64_t *a, uint32_t lo, uint32_t len, uint64_t pk) {
  while (len > 0) {
    uint32_t half = len / 2;
    if (a[lo + half] < pk) {
      lo += half + 1;
      len -= half + 1;
    } else {
      len = half;
    }
  }
  return lo;
}

/* Index search through r->ipfx for a key whose user key starts with the common prefix
** (REQUIRES index_aid_usable): the first index entry >= key, n (the entry count) when key is
** past the last one. Same answer as a seek of the index block, without decoding an index entry
** except among equal 8-byte prefixes. In two steps (sst_locate_begin/_end):
** index_search_begin searches r->itop, which leaves a range of < IDX_TOP entries of ipfx, and
** starts loading that range's 8-9 lines together with the block offsets the answer will be
** read from (index_find: ioff[lo], ioff[lo + 1]; 4-5 lines); index_search_end searches the
** range. A caller locating many keys begins them all before it ends any, so their misses
** overlap. */
static void index_search_begin(const sst_reader *r, const uint8_t *key, size_t kn,
                               sst_locating *l) {
  const uint64_t *t = r->itop;
  uint64_t pk = key_pfx(key + r->ilcp, kn - IKEY_TRAILER - r->ilcp);
  uint32_t n = r->index.nrestarts, j = u64_lower_bound(t, 0, r->ntop, pk);
  /* ipfx[IDX_TOP * (j - 1)] < pk <= ipfx[IDX_TOP * j] (as far as they exist): the answer is in
  ** (IDX_TOP * (j - 1), hi], hi = IDX_TOP * j or n; hi itself when none before it is >= pk. */
  uint32_t lo = j ? IDX_TOP * (j - 1) + 1 : 0, hi = j < r->ntop ? IDX_TOP * j : n, len = hi - lo;
  const uint64_t *a = r->ipfx;
  for (uint32_t i = 0; i < len; i += 8) __builtin_prefetch(a + lo + i);
  if (len) __builtin_prefetch(a + lo + len - 1);
  if (r->ioff) {
    for (uint32_t i = 0; i <= len; i += 16) __builtin_prefetch(r->ioff + lo + i);
    __builtin_prefetch(r->ioff + lo + len);
  }
  l->pk = pk;
  l->lo = lo;
  l->len = len;
}

/* index_search_begin's search finished: *pos. LSM_OK or LSM_CORRUPT. */
static int index_search_end(const sst_reader *r, const uint8_t *key, size_t kn,
                            const sst_locating *l, uint32_t *pos) {
  const uint64_t *a = r->ipfx;
  uint64_t pk = l->pk;
  uint32_t n = r->index.nrestarts, lo = u64_lower_bound(a, l->lo, l->len, pk), len, hi;
  for (hi = lo; hi < n && a[hi] == pk && hi - lo < 4; hi++) {}
  if (hi < n && a[hi] == pk) { /* many equal prefixes: hi = first i with a[i] > pk */
    len = n - hi;
    while (len > 0) {
      uint32_t half = len / 2;
      if (a[hi + half] <= pk) {
        hi += half + 1;
        len -= half + 1;
      } else {
        len = half;
      }
    }
  }
  const uint8_t *k, *v;
  size_t kn2, vn;
  int rc;
  while (lo < hi) { /* among equal prefixes: first entry >= key, comparing whole keys */
    uint32_t mid = lo + (hi - lo) / 2;
    if ((rc = index_ukey(r, mid, &k, &kn2, &v, &vn))) return rc;
    if (ikey_cmp(k, kn2, key, kn) < 0) lo = mid + 1;
    else hi = mid;
  }
  *pos = lo;
  return LSM_OK;
}

static int index_search(const sst_reader *r, const uint8_t *key, size_t kn, uint32_t *pos) {
  sst_locating l;
  index_search_begin(r, key, kn, &l);
  return index_search_end(r, key, kn, &l, pos);
}

/* Whether index_search applies to internal key `key` (kn >= IKEY_TRAILER): the table has the
** aid and the key's user key starts with the index keys' common prefix. */
static inline int index_aid_usable(const sst_reader *r, const uint8_t *key, size_t kn) {
  return r->ipfx && kn - IKEY_TRAILER >= r->ilcp && memcmp(key, r->ilcp_key, r->ilcp) == 0;
}

/* sst_locate_end's search through the index aid: the handle of the first index entry >= key. */
static int index_find(sst_reader *r, const uint8_t *key, size_t kn, const sst_locating *l,
                      sst_bhandle *h) {
  uint32_t lo;
  int rc = index_search_end(r, key, kn, l, &lo);
  if (rc) return rc;
  if (lo == r->index.nrestarts) return LSM_NOTFOUND; /* past the last key */
  if (r->ioff) {
    h->off = r->ioff[lo];
    h->size = r->ioff[lo + 1] - r->ioff[lo] - BLK_TRAILER;
    return LSM_OK;
  }
  const uint8_t *k, *v;
  size_t kn2, vn;
  if ((rc = index_ukey(r, lo, &k, &kn2, &v, &vn))) return rc;
  if (!decode_handle(v, vn, h)) return ST_CORRUPT("%s: bad block handle in index", r->name);
  return LSM_OK;
}

void sst_prefetch_filter(const sst_reader *r, uint64_t h) {
  if (r->filter) bloom_prefetch_hash(r->filter, r->filter_n, h);
}

int sst_locate_begin(sst_reader *r, const uint8_t *key, size_t kn, uint64_t hash,
                     sst_locating *l) {
  if (kn < IKEY_TRAILER) return st_err(LSM_MISUSE, "sst_locate: not an internal key");
  if (r->filter) {
    atomic_fetch_add_explicit(&r->ctr->bloom_checked, 1, memory_order_relaxed);
    if (!bloom_may_contain_hash(r->filter, r->filter_n, hash)) {
      atomic_fetch_add_explicit(&r->ctr->bloom_useful, 1, memory_order_relaxed);
      return LSM_NOTFOUND;
    }
  }
  l->aid = index_aid_usable(r, key, kn);
  if (l->aid) index_search_begin(r, key, kn, l);
  return LSM_OK;
}

int sst_locate_end(sst_reader *r, const uint8_t *key, size_t kn, const sst_locating *l,
                   sst_bhandle *h) {
  if (l->aid) return index_find(r, key, kn, l, h);
  /* A key outside the table's common prefix: the general search (rare: callers pick tables
  ** by key range). */
  blk_iter it;
  blk_iter_init(&it, &r->index, ikey_cmp, IKEY_TRAILER);
  int rc = it_seek(&it.base, key, kn);
  if (!rc && !it_valid(&it.base)) rc = LSM_NOTFOUND; /* past the last key */
  if (!rc) {
    const uint8_t *v;
    size_t vn;
    it_value(&it.base, &v, &vn);
    if (!decode_handle(v, vn, h)) rc = ST_CORRUPT("%s: bad block handle in index", r->name);
  }
  if (rc == LSM_CORRUPT) rc = corrupt_in(r->name, "index", 0);
  blk_iter_fini(&it);
  return rc;
}

int sst_locate(sst_reader *r, const uint8_t *key, size_t kn, sst_bhandle *h) {
  if (kn < IKEY_TRAILER) return st_err(LSM_MISUSE, "sst_locate: not an internal key");
  sst_locating l;
  int rc = sst_locate_begin(r, key, kn, bloom_hash(key, kn - IKEY_TRAILER), &l);
  return rc ? rc : sst_locate_end(r, key, kn, &l, h);
}

/* Position *it (initialised here; the caller finis it) on the entry of block b for internal
** key `key` and fetch its key: LSM_OK if that entry has the same user key (*k, *n set),
** LSM_NOTFOUND if not, LSM_CORRUPT (naming the table and offset) on a bad block. */
static int block_find(const sst_block *b, uint64_t off, const uint8_t *key, size_t kn,
                      blk_iter *it, const uint8_t **k, size_t *n) {
  blk_iter_init(it, b->blk, ikey_cmp, IKEY_TRAILER);
  int rc = it_seek(&it->base, key, kn);
  if (rc == LSM_CORRUPT) return corrupt_in(b->r->name, "data block", off);
  if (rc) return rc;
  if (!it_valid(&it->base)) return LSM_NOTFOUND;
  it_key(&it->base, k, n);
  return it_bytes_cmp(*k, *n - IKEY_TRAILER, key, kn - IKEY_TRAILER) == 0 ? LSM_OK : LSM_NOTFOUND;
}

static int block_get(const sst_block *b, const uint8_t *key, size_t kn, cd_buf *fkey, cd_buf *fval) {
  blk_iter it;
  const uint8_t *k, *v;
  size_t n, vn;
  int rc = block_find(b, 0, key, kn, &it, &k, &n);
  if (!rc) {
    it_value(&it.base, &v, &vn);
    cd_buf_clear(fkey);
    cd_buf_clear(fval);
    rc = cd_buf_append(fkey, k, n);
    if (!rc) rc = cd_buf_append(fval, v, vn);
  }
  blk_iter_fini(&it);
  return rc;
}


/* sst_get_value's search of pinned block b (at offset off of its table, for messages). */
static int block_value(const sst_block *b, uint64_t off, const uint8_t *key, size_t kn, int *type,
                       cd_buf *val) {
  blk_iter it;
  const uint8_t *k, *v;
  size_t n, vn;
  int rc = block_find(b, off, key, kn, &it, &k, &n);
  /* the found key is read in place (no copy): checked here, as the caller would */
  if (!rc && !ikey_valid(k, n)) rc = corrupt_in(b->r->name, "internal key in data block", off);
  if (!rc) {
    *type = ikey_type(k, n);
    if (val && *type == IKEY_VAL) {
      it_value(&it.base, &v, &vn);
      cd_buf_clear(val);
      /* one allocation of the final size, with room for the caller's terminator */
      rc = cd_buf_reserve(val, vn + 1);
      if (!rc) rc = cd_buf_append(val, v, vn);
    }
  }
  blk_iter_fini(&it);
  return rc;
}

/* sst_get (fkey != NULL: block_get into fkey, fval) and sst_get_value (fkey == NULL:
** block_value into type, fval): locate, pin the block (in a buffer on this stack when the cache
** does not take it), search it, release it. */
static int point_read(sst_reader *r, const uint8_t *key, size_t kn, const char *fn, cd_buf *fkey,
                      int *type, cd_buf *fval) {
  if (kn < IKEY_TRAILER) return st_err(LSM_MISUSE, "%s: not an internal key", fn);
  sst_bhandle h;
  int rc = sst_locate(r, key, kn, &h);
  if (rc) return rc;
  _Alignas(16) uint8_t mem[SST_GET_MEM];
  sst_block b;
  rc = r->map ? get_block_point(r, h, mem, sizeof mem, &b) : get_block(r, h, mem, sizeof mem, &b);
  if (rc) return rc;
  rc = fkey ? block_get(&b, key, kn, fkey, fval) : block_value(&b, h.off, key, kn, type, fval);
  block_release(&b);
  return rc;
}

int sst_get(sst_reader *r, const uint8_t *key, size_t kn, cd_buf *fkey, cd_buf *fval) {
  if (!fkey) return st_err(LSM_MISUSE, "sst_get: NULL fkey");
  return point_read(r, key, kn, "sst_get", fkey, NULL, fval);
}

int sst_get_value(sst_reader *r, const uint8_t *key, size_t kn, int *type, cd_buf *val) {
  return point_read(r, key, kn, "sst_get_value", NULL, type, val);
}

int sst_fetch_value(const sst_fetch *req, const uint8_t *key, size_t kn, int *type, cd_buf *val) {
  if (kn < IKEY_TRAILER) return st_err(LSM_MISUSE, "sst_fetch_value: not an internal key");
  return block_value(&req->blk, req->h.off, key, kn, type, val);
}

/* ---- batched fetch ---- */

typedef struct pending_read {
  int k;          /* position in the serving order of the first request wanting this block */
  uint64_t start; /* file offset read from (aligned down for direct IO) */
  size_t len;     /* bytes read (aligned up for direct IO) */
  size_t boff;    /* where in the round's one buffer */
  int bidx;       /* fio_batch request index */
  int admit;      /* insert into the cache (else the block lives in the serving buffer) */
} pending_read;

static int cmp_req(const void *a, const void *b, void *arg) {
  const sst_fetch *q = arg;
  const sst_fetch *x = &q[*(const int *)a], *y = &q[*(const int *)b];
  if (x->r != y->r) return (uintptr_t)x->r < (uintptr_t)y->r ? -1 : 1;
  if (x->h.off != y->h.off) return x->h.off < y->h.off ? -1 : 1;
  return *(const int *)a - *(const int *)b;
}

static inline int same_block(const sst_fetch *x, const sst_fetch *y) {
  return x->r == y->r && x->h.off == y->h.off;
}

/* A block read that came back short. A mapped table read this way (a cold batch: see
** batch_cold) was shrunk after it was opened, which its mapped reads report as an IO error
** (mapguard), so the same code here; any other table's short block is corrupt. */
static int short_block(const sst_fetch *f) {
  if (f->r->map)
    return st_err(LSM_IOERR_READ, "%s: short read at offset %llu: the file was truncated under the mapping",
                  f->r->name, (unsigned long long)f->h.off);
  return ST_CORRUPT("%s: short read at offset %llu (file truncated?)", f->r->name,
                    (unsigned long long)f->h.off);
}

/* Read the np pending blocks into buf: one plain read for a single block (cheaper than a
** batch round trip), else one fio_batch with all of them in flight. Sets each request's rc to
** -1 when its bytes are ready, else to its error. */
static void fetch_pending(sst_fetch *q, const int *order, pending_read *pr, int np, uint8_t *buf) {
  if (np == 1) {
    sst_fetch *f = &q[order[pr[0].k]];
    size_t got = 0;
    int rc = fio_read_at(f->r->f, pr[0].start, buf + pr[0].boff, pr[0].len, &got);
    if (!rc) {
      atomic_fetch_add_explicit(&f->r->ctr->bytes_read, got, memory_order_relaxed);
      if (got < (size_t)(f->h.off - pr[0].start) + f->h.size + BLK_TRAILER) rc = short_block(f);
    }
    f->rc = rc ? rc : -1;
    return;
  }
  fio_batch *batch = NULL;
  int rc = fio_batch_new(q[order[pr[0].k]].r->env, &batch);
  for (int j = 0; j < np; j++) {
    sst_fetch *f = &q[order[pr[j].k]];
    if (rc) {
      f->rc = rc;
      continue;
    }
    pr[j].bidx = fio_batch_read(batch, f->r->f, pr[j].start, buf + pr[j].boff, pr[j].len);
    if (pr[j].bidx < 0) f->rc = -pr[j].bidx;
  }
  if (rc) return;
  fio_batch_run(batch); /* per-request results below */
  for (int j = 0; j < np; j++) {
    pending_read *p = &pr[j];
    sst_fetch *f = &q[order[p->k]];
    if (p->bidx < 0) continue;
    size_t done = 0;
    rc = fio_batch_result(batch, p->bidx, &done);
    if (!rc) {
      atomic_fetch_add_explicit(&f->r->ctr->bytes_read, done, memory_order_relaxed);
      if (done < p->len && done < (size_t)(f->h.off - p->start) + f->h.size + BLK_TRAILER)
        rc = short_block(f);
    }
    f->rc = rc ? rc : -1;
  }
  fio_batch_free(batch);
}

/* Hand the request at serving position k (rc set, its block pinned when LSM_OK) to fn, then
** each request after it for the same block, sharing the block; then release the block. */
static void serve(sst_fetch *q, const int *order, int n, int k, sst_fetch_fn fn, void *ctx) {
  sst_fetch *f = &q[order[k]];
  fn(ctx, f);
  for (int d = k + 1; d < n && same_block(&q[order[d]], f); d++) {
    sst_fetch *g = &q[order[d]];
    g->rc = f->rc;
    g->blk = f->blk; /* borrowed from f for the call */
    fn(ctx, g);
    memset(&g->blk, 0, sizeof g->blk);
  }
  block_release(&f->blk);
}

#define SST_FETCH_STACK 32 /* requests whose bookkeeping fits on the stack */

/* Is every page of mapped block f in the page cache? 1 also when mincore fails (the mapped
** path, as without the check). */
static int block_cached(const sst_fetch *f) {
  const sst_reader *r = f->r;
  if (f->h.off >= r->data_end) return 1; /* a bad handle: get_block reports it */
  uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = (uintptr_t)(r->map + f->h.off) & ~(pg - 1);
  uintptr_t e = (uintptr_t)(r->map + f->h.off) + (uintptr_t)f->h.size + BLK_TRAILER;
  unsigned char in[64];
  size_t np = (e - a + pg - 1) / pg;
  if (np > sizeof in) np = sizeof in; /* a huge block: its first 64 pages stand for it */
  if (mincore((void *)a, np * pg, in)) return 1;
  for (size_t i = 0; i < np; i++)
    if (!(in[i] & 1)) return 0;
  return 1;
}

/* Are the batch's mapped blocks out of the page cache? A mapped block is read by touching it:
** a page fault per block, one after the other, each waiting for the device when a page is not
** cached. Blocks out of the page cache are better read like an unmapped table's, all at once
** (one fio_batch: in flight together on uring), which also puts them in the page cache for the
** mapped reads after. Up to three blocks stand for the batch, the first, middle and last in
** serving order; when one of them is out, the batch is cold (1): sst_fetch_blocks then checks
** each mapped block (block_cached) and reads the uncached ones as misses. A mincore costs ~0.4
** us on the benchmark VM, so a warm 32-key batch pays at most three (~2 %), and after two
** probes in a row find their batches cached the thread's next BATCH_PROBE_SKIP batches take the
** mapped path unprobed (a workload turning cold is noticed within that many batches). A cold
** workload, where a mincore per block is small beside the reads, is probed every batch; one
** that is warming up (its pages half cached: three probes all cached ~1 time in 8) is not left
** unprobed after a single cached probe. bench_sqlcold, 20k random keys of a 1M-row table as
** cold IN lists of 32: skipping after one cached probe read 291 of the 625 batches as cold,
** 26-30k keys/s. 0: the mapped path. */
#define BATCH_PROBE_SKIP 7
static _Thread_local unsigned probe_skip;
static _Thread_local int probe_was_cold; /* the thread's last probe found its batch cold */

static int batch_cold(const sst_fetch *q, const int *order, int n) {
  if (probe_skip) {
    probe_skip--;
    return 0;
  }
  const int at[3] = {0, n / 2, n - 1};
  int probed = 0;
  for (int i = 0; i < 3; i++) {
    if (i && at[i] == at[i - 1]) continue;
    const sst_fetch *f = &q[order[at[i]]];
    if (!f->r->map) continue;
    if (!block_cached(f)) {
      atomic_fetch_add_explicit(&f->r->ctr->cold_batches, 1, memory_order_relaxed);
      probe_was_cold = 1;
      return 1;
    }
    probed = 1;
  }
  if (probed) {
    if (!probe_was_cold) probe_skip = BATCH_PROBE_SKIP;
    probe_was_cold = 0;
  }
  return 0;
}

int sst_fetch_blocks(sst_fetch *q, int n, sst_fetch_fn fn, void *ctx) {
  if (n <= 0) return LSM_OK;
  int order_s[SST_FETCH_STACK];
  pending_read pr_s[SST_FETCH_STACK];
  int *order = order_s;
  pending_read *pr = pr_s;
  if (n > SST_FETCH_STACK) {
    order = mm_malloc(sizeof *order * (size_t)n);
    pr = mm_malloc(sizeof *pr * (size_t)n);
  }
  for (int i = 0; i < n; i++) {
    if (order) order[i] = i;
    memset(&q[i].blk, 0, sizeof q[i].blk);
    q[i].rc = -1; /* not decided yet */
  }
  if (!order || !pr) {
    int rc = st_err(LSM_NOMEM, "out of memory (multiget)");
    for (int i = 0; i < n; i++) {
      q[i].rc = rc;
      fn(ctx, &q[i]);
    }
    mm_free(order);
    mm_free(pr);
    return rc;
  }
  if (n > 1) qsort_r(order, (size_t)n, sizeof *order, cmp_req, q);
  /* The buffer a block the cache does not take is made in (as a point lookup's), reused by
  ** every request: each block is released before the next is made. */
  _Alignas(16) uint8_t mem[SST_GET_MEM];
  /* Cache hits and mapped blocks now; one read per distinct missing block of the others, all
  ** into one buffer (slices aligned for direct IO). */
  int np = 0, direct = 0, cold = n > 1 && batch_cold(q, order, n);
  size_t total = 0;
  for (int k = 0; k < n; k++) {
    sst_fetch *f = &q[order[k]];
    if (k + 2 < n) { /* a mapped block two requests on: its first and last lines start loading */
      const sst_fetch *g = &q[order[k + 2]];
      const sst_reader *gr = g->r;
      if (gr->map && !gr->direct && g->h.off <= gr->data_end &&
          g->h.size + BLK_TRAILER <= gr->data_end - g->h.off) { /* (a bad handle: checked below) */
        const uint8_t *b = gr->map + g->h.off;
        prefetch_range(b, 128);
        __builtin_prefetch(b + g->h.size + BLK_TRAILER - 1);
      }
    }
    if (k > 0 && same_block(&q[order[k - 1]], f)) continue; /* served with the first */
    int admit;
    if (f->r->map && (!cold || block_cached(f))) { /* mapped, cached: a point lookup's path */
      f->rc = get_block(f->r, f->h, mem, sizeof mem, &f->blk);
    } else if ((f->rc = check_data_handle(f->r, f->h))) {
    } else if (cache_probe(f->r, f->h, &f->blk, &admit)) {
      f->rc = LSM_OK;
    } else {
      pending_read *p = &pr[np++];
      p->admit = admit;
      uint64_t off = f->h.off;
      size_t len = (size_t)f->h.size + BLK_TRAILER;
      p->k = k;
      p->start = off;
      p->len = len;
      p->bidx = -1;
      if (f->r->direct) {
        direct = 1;
        p->start = off & ~(uint64_t)(FIO_ALIGN - 1);
        p->len = (size_t)(((off + len + FIO_ALIGN - 1) & ~(uint64_t)(FIO_ALIGN - 1)) - p->start);
        total = (total + FIO_ALIGN - 1) & ~(size_t)(FIO_ALIGN - 1);
      }
      p->boff = total;
      total += p->len;
      f->rc = LSM_OK; /* replaced by fetch_pending */
      continue;
    }
    serve(q, order, n, k, fn, ctx);
  }
  _Alignas(FIO_ALIGN) uint8_t scratch[SST_SCRATCH];
  uint8_t *buf = NULL;
  rblock rb = {0};
  if (np) {
    if (total <= sizeof scratch) {
      buf = scratch;
    } else {
      buf = rb.io = direct ? fio_alloc_aligned(total) : mm_malloc(total);
      rb.aligned = direct;
    }
    if (!buf) {
      int rc = st_err(LSM_NOMEM, "out of memory (multiget)");
      for (int j = 0; j < np; j++) q[order[pr[j].k]].rc = rc;
    } else {
      fetch_pending(q, order, pr, np, buf);
    }
  }
  for (int j = 0; j < np; j++) {
    pending_read *p = &pr[j];
    sst_fetch *f = &q[order[p->k]];
    if (f->rc == -1) {
      atomic_fetch_add_explicit(&f->r->ctr->blocks_read, 1, memory_order_relaxed);
      sst_cblock *c;
      const uint8_t *at = buf + p->boff + (f->h.off - p->start);
      if (!(f->rc = make_cblock(f->r, at, f->h, p->admit, mem, sizeof mem, &c)))
        adopt(f->r, f->h, c, mem, &f->blk);
    }
    serve(q, order, n, p->k, fn, ctx);
  }
  rblock_free(&rb);
  int first_rc = LSM_OK;
  for (int i = 0; i < n; i++)
    if (q[i].rc && !first_rc) first_rc = q[i].rc;
  if (order != order_s) mm_free(order);
  if (pr != pr_s) mm_free(pr);
  return first_rc;
}

/* ==== iterator ==== */

/* Scans without an explicit readahead switch to reading ahead by themselves once they have
** loaded SST_AUTO_RA_AFTER blocks in a row, each adjacent to the last in the direction of
** travel (RocksDB's automatic readahead): the window starts at SST_AUTO_RA_MIN and doubles on
** every refill up to SST_AUTO_RA_MAX, so a short range scan reads little extra while a long
** scan pays one read per 256 KiB. Blocks found in the cache are still taken from there; the
** others are served from the window and kept private to the iterator (not inserted in the
** cache), so a long scan does not evict the point-lookup working set. */
#define SST_AUTO_RA_AFTER 2
#define SST_AUTO_RA_MIN (16u << 10)
#define SST_AUTO_RA_MAX (256u << 10)
/* The window of a hinted seek (sst_iter_hint) is at most this: the hint counts entries but not
** the range's upper bound, which only the DB iterator applies (WHERE k BETWEEN a AND b LIMIT
** 1000000 ends after a few rows): a wrong hint costs at most this copy per table; a scan that
** goes on past it continues with automatic read-ahead. 32 KiB holds ~300 rows of 100 bytes. */
#define SST_HINT_RA_MAX (32u << 10)

typedef struct sst_iter {
  it_iter base;
  sst_reader *r;
  blk_iter index;
  blk_iter data;
  it_kv e;           /* the entry si_next_kv returns */
  sst_block blk;     /* current data block (blk.blk == NULL: none) */
  sst_bhandle cur_h; /* its handle (kept after the block is dropped, for the adjacency test) */
  int have_h;        /* cur_h is set */
  int rc;
  size_t readahead;  /* fixed window (sst_iter_new), 0 = automatic */
  uint32_t seq;      /* blocks loaded in a row, each adjacent to the previous one */
  size_t auto_win;   /* current automatic window */
  rblock ra;         /* read-ahead buffer (ra_cap bytes) holding file bytes [ra_off, +ra_len) */
  size_t ra_cap;
  uint64_t ra_off;
  size_t ra_len;
  const uint8_t *ra_p; /* NULL: the window holds nothing */
  fio_batch *batch;  /* read-ahead requests (made on first use) */
  int backward;      /* moving backward: read ahead toward the start of the file */
  blk_block pblk;    /* a block served from the window (blk.blk == &pblk) */
  cd_buf zbuf;       /* its decompressed bytes, reused block after block */
  uint8_t *bmem;     /* SST_ITER_MEM bytes (made on the first miss) for a block read but not
                     ** admitted to the cache: get_block's mem, reused block after block */
  const uint64_t *hint; /* entries expected per seek (sst_iter_hint), or NULL */
  double hint_share;    /* this table's level's share of them */
  int hint_armed;       /* a hinted seek ran: the next block missed starts the hinted range,
                        ** read forward (1) or, for a backward scan, backward (2) */
  int ra_hinted;        /* the window was read for a hinted range (not looked up block by block) */
} sst_iter;

/* A block the cache does not admit is decoded into the iterator's own buffer of this size
** (larger blocks: an allocation each), so a seek that misses allocates nothing for it. */
#define SST_ITER_MEM (16u << 10)

static int si_fail(sst_iter *it, int rc) {
  if (!it->rc) it->rc = rc;
  return rc;
}

static void si_drop_block(sst_iter *it) {
  block_release(&it->blk);
}

/* Fill the read-ahead buffer with file bytes [off, off+n): as up to SST_RA_CHUNKS chunk reads
** queued in one fio_batch when the window is large (on the uring backend they are all in
** flight at once: several device requests outstanding instead of one 512 KiB read at a time),
** else one read. Chunk boundaries are FIO_ALIGN multiples so the same split works for
** O_DIRECT. The batch is for the fixed windows (compaction) and for direct IO: the automatic
** window of a buffered scan is one read (the kernel's own read-ahead keeps the device busy,
** and a ring round trip of 4 page-cache copies costs more than one pread: 18 % of a 100-row
** SQL range scan went there). The buffer is kept and reused while big enough. */
#define SST_RA_CHUNKS 4
#define SST_MAP_WILLNEED (64u << 10) /* a window copied from the mapping: madvise from here on */
static int si_ra_fill(sst_iter *it, uint64_t off, size_t n) {
  sst_reader *r = it->r;
  it->ra_p = NULL;
  uint64_t start = off, len = n;
  if (r->direct) {
    start = off & ~(uint64_t)(FIO_ALIGN - 1);
    len = ((off + n + FIO_ALIGN - 1) & ~(uint64_t)(FIO_ALIGN - 1)) - start;
  }
  if (r->map && !it->readahead && off + n <= r->data_end) {
    /* A scan's automatic or hinted window of a mapped table: a view of the mapping, no copy
    ** and no system call (si_block_readahead verifies and decodes each block from it under
    ** the guard). The mapping is MADV_RANDOM (a cold page faulted in reads only itself), so
    ** a large window (a long scan's) first asks for its pages in one go (MADV_WILLNEED: the
    ** kernel reads the missing ones at once, as pread's read-ahead would; advisory). Fixed
    ** windows (compaction) keep pread. */
    if (n >= SST_MAP_WILLNEED) {
      uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)(r->map + off) & ~(pg - 1);
      (void)madvise((void *)a, (uintptr_t)(r->map + off + n) - a, MADV_WILLNEED);
    }
    atomic_fetch_add_explicit(&r->ctr->bytes_read, n, memory_order_relaxed);
    it->ra_p = r->map + off;
    it->ra_off = off;
    it->ra_len = n;
    return LSM_OK;
  }
  if (len > it->ra_cap) {
    rblock_free(&it->ra);
    it->ra_cap = 0;
    it->ra.io = r->direct ? fio_alloc_aligned(len) : mm_malloc(len);
    it->ra.aligned = r->direct;
    if (!it->ra.io)
      return st_err(LSM_NOMEM, "out of memory reading %zu bytes of %s", n, r->name);
    it->ra_cap = len;
  }
  uint8_t *buf = it->ra.io;
  uint64_t need_end = off + n - start; /* bytes that must arrive (direct IO's tail may not) */
  uint64_t chunk = (len / SST_RA_CHUNKS + FIO_ALIGN - 1) & ~(uint64_t)(FIO_ALIGN - 1);
  int rc = LSM_OK;
  if (len < 2 * FIO_ALIGN || chunk == 0 || chunk >= len || (!it->readahead && !r->direct)) {
    size_t got;
    if ((rc = fio_read_at(r->f, start, buf, (size_t)len, &got))) return rc;
    atomic_fetch_add_explicit(&r->ctr->bytes_read, got, memory_order_relaxed);
    if (got < need_end)
      return ST_CORRUPT("%s: short read at offset %llu (file truncated?)", r->name,
                        (unsigned long long)(start + got));
  } else {
    if (!it->batch) rc = fio_batch_new(r->env, &it->batch);
    else fio_batch_reset(it->batch);
    int nreq = 0;
    for (uint64_t o = 0; o < len && !rc; o += chunk, nreq++) {
      uint64_t cn = len - o < chunk ? len - o : chunk;
      int i = fio_batch_read(it->batch, r->f, start + o, buf + o, (size_t)cn);
      if (i < 0) rc = -i;
    }
    if (!rc) rc = fio_batch_run(it->batch);
    /* every chunk must be complete up to the bytes asked for */
    uint64_t total = 0;
    for (int i = 0; i < nreq && !rc; i++) {
      size_t got;
      uint64_t co = (uint64_t)i * chunk, cn = len - co < chunk ? len - co : chunk;
      if ((rc = fio_batch_result(it->batch, i, &got))) break;
      total += got;
      if (got < cn && co + got < need_end)
        return ST_CORRUPT("%s: short read at offset %llu (file truncated?)", r->name,
                          (unsigned long long)(start + co + got));
    }
    if (rc) return rc;
    atomic_fetch_add_explicit(&r->ctr->bytes_read, total, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->ctr->ra_batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->ctr->ra_requests, (uint64_t)nreq, memory_order_relaxed);
  }
  it->ra_p = buf + (off - start);
  it->ra_off = off;
  it->ra_len = n;
  return LSM_OK;
}

/* A block of a window that is a view of the mapping, private to the iterator (it->blk): a
** compressed block verified and decoded from the mapping into zbuf under the guard; an
** uncompressed one (or any block of a table stored without compression) copied into zbuf
** under the guard and verified and parsed there (parsing and iteration run outside the
** guard). */
static int si_map_private(sst_iter *it, const uint8_t *p, sst_bhandle h) {
  sst_reader *r = it->r;
  size_t sn = (size_t)h.size + BLK_TRAILER, rawn;
  int type = BLK_NONE, rc;
  it->zbuf.n = 0;
  if (r->props.compression != BLK_NONE) {
    if ((rc = map_info(r, p, h, &type, &rawn))) return rc;
    if (type != BLK_NONE) {
      if ((rc = cd_buf_reserve(&it->zbuf, rawn ? rawn : 1))) return rc;
      if ((rc = map_decode(r, p, h, type, it->zbuf.p, rawn))) return rc;
    }
  }
  if (type == BLK_NONE) {
    if ((rc = cd_buf_reserve(&it->zbuf, sn))) return rc;
    if ((rc = mg_copy(it->zbuf.p, p, sn, r->name, h.off))) return rc;
    if ((rc = blk_stored_info(it->zbuf.p, (size_t)h.size, &type, &rawn)))
      return rc == LSM_CORRUPT ? corrupt_in(r->name, "block", h.off) : rc;
    if (type != BLK_NONE) { /* compressed in a table stored raw (damaged or foreign): held
                            ** privately, decoded from the copy */
      sst_cblock *c;
      if ((rc = make_cblock(r, it->zbuf.p, h, 0, NULL, 0, &c))) return rc;
      adopt(r, h, c, NULL, &it->blk);
      return LSM_OK;
    }
  }
  if (blk_parse(it->zbuf.p, rawn, &it->pblk)) return corrupt_in(r->name, "data block", h.off);
  it->blk.r = r;
  it->blk.blk = &it->pblk;
  return LSM_OK;
}

/* A data block through the read-ahead window (`win` bytes when it must be refilled, extending
** forward from the block, or backward when `back`: the window then ends with it). admit:
** the cache admitted the block on its probe (cache_probe), it is inserted as get_block would;
** else the block is private to the iterator: a raw block is used in place in the window, a compressed
** one is decompressed into zbuf; no allocation per block (a window of the mapping:
** si_map_private). REQUIRES the current block dropped (it may live in the window or zbuf). */
static int si_block_readahead(sst_iter *it, sst_bhandle h, size_t win, int admit, int back) {
  sst_reader *r = it->r;
  size_t need = (size_t)h.size + BLK_TRAILER;
  if (!it->ra_p || h.off < it->ra_off || h.off + need > it->ra_off + it->ra_len) {
    uint64_t len = win > need ? win : need, start = h.off;
    if (back) { /* the window ends with this block */
      start = h.off + need > len ? h.off + need - len : 0;
      len = h.off + need - start;
    } else if (len > r->data_end - h.off) {
      len = r->data_end - h.off;
    }
    int rc = si_ra_fill(it, start, (size_t)len);
    if (rc) return rc;
  }
  atomic_fetch_add_explicit(&r->ctr->blocks_read, 1, memory_order_relaxed);
  const uint8_t *p = it->ra_p + (h.off - it->ra_off), *raw = p;
  if (admit && r->cache) { /* as get_block would: a copy goes into the cache */
    sst_cblock *c;
    int rc = make_cblock(r, p, h, 1, NULL, 0, &c);
    if (rc) return rc;
    adopt(r, h, c, NULL, &it->blk);
    return LSM_OK;
  }
  if (in_map(r, p)) {
    /* The next block of the scan's direction (about this one's size), as far as the window
    ** reaches: its first touch overlaps this block's copy or decode and its rows. */
    size_t before = (size_t)(p - it->ra_p), after = it->ra_len - before - need;
    if (back) prefetch_range(p - (before < need ? before : need), before < need ? before : need);
    else prefetch_range(p + need, after < need ? after : need);
    return si_map_private(it, p, h);
  }
  int type;
  size_t rawn;
  int rc = blk_stored_info(p, (size_t)h.size, &type, &rawn);
  if (!rc && type != BLK_NONE) {
    it->zbuf.n = 0;
    if (!(rc = cd_buf_reserve(&it->zbuf, rawn ? rawn : 1)))
      rc = blk_decode_into(p, (size_t)h.size, it->zbuf.p, rawn);
    raw = it->zbuf.p;
  }
  if (rc) return rc == LSM_CORRUPT ? corrupt_in(r->name, "block", h.off) : rc;
  if (blk_parse(raw, rawn, &it->pblk)) return corrupt_in(r->name, "data block", h.off);
  it->blk.r = r;
  it->blk.blk = &it->pblk;
  return LSM_OK;
}

/* Bytes past its first block a forward scan of the hinted number of entries is expected to
** read from this table: its level's share of the entries plus an eighth and two, at the
** table's own stored bytes per entry (a range the hint underestimates goes on as a scan). */
static uint64_t si_hint_bytes(const sst_iter *it) {
  const sst_props *p = &it->r->props;
  if (!p->entries) return 0;
  double e = (double)(*it->hint & ~SST_HINT_BACKWARD) * it->hint_share;
  e += e / 8 + 2;
  double b = e * ((double)p->data_bytes / (double)p->entries);
  return b >= (double)it->r->data_end ? it->r->data_end + 1 : (uint64_t)b;
}

/* Load data block h: the fixed read-ahead, else the cache (or one read), switching to
** automatic read-ahead once the iterator has moved block to block sequentially. After a
** hinted forward seek (sst_iter_hint), the first block not in the cache is read together with
** the bytes the hinted entries are expected to span; blocks inside a window already read are
** served from it (cache first, admitting as get_block does while the run is short). */
static int si_load(sst_iter *it, sst_bhandle h) {
  if (it->readahead) return si_block_readahead(it, h, it->readahead, 0, it->backward);
  uint64_t end = it->cur_h.off + it->cur_h.size + BLK_TRAILER;
  int adjacent = it->have_h && (it->backward ? h.off + h.size + BLK_TRAILER == it->cur_h.off
                                             : h.off == end);
  if (!adjacent) {
    it->seq = 0;
    it->auto_win = SST_AUTO_RA_MIN;
  } else if (it->seq < UINT32_MAX) {
    it->seq++;
  }
  uint64_t need = h.size + BLK_TRAILER;
  int inside = it->ra_p && h.off >= it->ra_off && h.off + need <= it->ra_off + it->ra_len;
  /* A hinted window's blocks are decoded from it without a cache lookup: on a table larger
  ** than the cache a lookup (a shard mutex and two cache misses, ~4 % of a 100-row scan)
  ** rarely finds the block, and the read is paid already. */
  if (inside && it->ra_hinted) return si_block_readahead(it, h, 0, 0, 0);
  int armed = it->hint_armed == 2 || (it->hint_armed == 1 && !it->backward);
  if (it->seq < SST_AUTO_RA_AFTER || armed) {
    if (inside || armed) {
      int admit; /* the cache, admitting as get_block does, else the window */
      if (cache_probe(it->r, h, &it->blk, &admit)) return LSM_OK;
      size_t win = 0;
      if (!inside) { /* the hinted range starts here: this block and the rest, one read */
        uint64_t b = si_hint_bytes(it);
        win = (size_t)(b < SST_HINT_RA_MAX ? need + b : need + SST_HINT_RA_MAX);
      }
      int rc = si_block_readahead(it, h, win, admit, win && it->hint_armed == 2);
      if (!inside) it->hint_armed = 0;
      if (!rc && !inside) it->ra_hinted = 1;
      return rc;
    }
    /* (the current block, which may live in bmem, was dropped by the caller) */
    if (!it->bmem && !(it->bmem = mm_malloc(SST_ITER_MEM)))
      return st_err(LSM_NOMEM, "out of memory (sst iterator)");
    return get_block(it->r, h, it->bmem, SST_ITER_MEM, &it->blk);
  }
  if (cache_hit(it->r, h, &it->blk)) return LSM_OK;
  int rc = si_block_readahead(it, h, it->auto_win, 0, it->backward);
  if (!rc && !inside) {
    it->ra_hinted = 0;
    if (it->auto_win < SST_AUTO_RA_MAX) it->auto_win *= 2; /* refilled */
  }
  return rc;
}

/* Load the block the index iterator points at (keeping the current one if it is the same). */
static int si_init_block(sst_iter *it) {
  if (!it_valid(&it->index.base)) {
    si_drop_block(it);
    int rc = it_status(&it->index.base);
    if (rc == LSM_CORRUPT) rc = corrupt_in(it->r->name, "index", 0);
    return rc ? si_fail(it, rc) : LSM_OK;
  }
  const uint8_t *v;
  size_t vn;
  it_value(&it->index.base, &v, &vn);
  sst_bhandle h;
  if (!decode_handle(v, vn, &h)) return si_fail(it, ST_CORRUPT("%s: bad block handle in index", it->r->name));
  if (it->blk.blk && h.off == it->cur_h.off) return LSM_OK;
  si_drop_block(it);
  int rc = check_data_handle(it->r, h);
  if (!rc) rc = si_load(it, h);
  if (rc) return si_fail(it, rc);
  it->cur_h = h;
  it->have_h = 1;
  blk_iter_reset(&it->data, it->blk.blk);
  return LSM_OK;
}

static int si_data_rc(sst_iter *it, int rc) {
  if (rc == LSM_CORRUPT)
    rc = corrupt_in(it->r->name, "data block", it->cur_h.off);
  return rc ? si_fail(it, rc) : LSM_OK;
}

static int si_skip_forward(sst_iter *it) {
  it->backward = 0;
  while (!it->rc && (!it->blk.blk || !blk_iter_valid(&it->data))) {
    if (it->blk.blk && it_status(&it->data.base)) return si_data_rc(it, it_status(&it->data.base));
    if (!it_valid(&it->index.base)) {
      si_drop_block(it);
      return LSM_OK;
    }
    int rc = it_next(&it->index.base);
    if (!rc) rc = si_init_block(it);
    if (rc) return si_fail(it, rc);
    if (it->blk.blk && (rc = it_seek_first(&it->data.base))) return si_data_rc(it, rc);
  }
  return it->rc;
}

static int si_skip_backward(sst_iter *it) {
  it->backward = 1;
  while (!it->rc && (!it->blk.blk || !it_valid(&it->data.base))) {
    if (it->blk.blk && it_status(&it->data.base)) return si_data_rc(it, it_status(&it->data.base));
    if (!it_valid(&it->index.base)) {
      si_drop_block(it);
      return LSM_OK;
    }
    int rc = it_prev(&it->index.base);
    if (!rc) rc = si_init_block(it);
    if (rc) return si_fail(it, rc);
    if (it->blk.blk && (rc = it_seek_last(&it->data.base))) return si_data_rc(it, rc);
  }
  return it->rc;
}

/* Seek the index iterator to the first entry >= k: through the reader's index search aid
** (a binary search of a dense prefix array, no entry decoded but the one landed on) when k
** shares the index keys' common prefix, else a seek of the index block. */
static int si_index_seek(sst_iter *it, const uint8_t *k, size_t n) {
  const sst_reader *r = it->r;
  if (n >= IKEY_TRAILER && index_aid_usable(r, k, n)) {
    uint32_t pos;
    int rc = index_search(r, k, n, &pos);
    return rc ? rc : blk_iter_seek_restart(&it->index, pos);
  }
  return it_seek(&it->index.base, k, n);
}

/* A forward seek starts a new hinted range (if the caller gave a hint). */
static void si_arm_hint(sst_iter *it) {
  uint64_t v = it->hint ? *it->hint : 0;
  it->hint_armed = !(v & ~SST_HINT_BACKWARD) ? 0 : v & SST_HINT_BACKWARD ? 2 : 1;
}

static int si_seek(it_iter *i, const uint8_t *k, size_t n) {
  sst_iter *it = (sst_iter *)i;
  if (it->rc) return it->rc;
  it->backward = 0;
  si_arm_hint(it);
  int rc = si_index_seek(it, k, n);
  if (!rc) rc = si_init_block(it);
  if (rc) return si_fail(it, rc);
  if (it->blk.blk && (rc = it_seek(&it->data.base, k, n))) return si_data_rc(it, rc);
  return si_skip_forward(it);
}

static int si_seek_first(it_iter *i) {
  sst_iter *it = (sst_iter *)i;
  if (it->rc) return it->rc;
  it->backward = 0;
  si_arm_hint(it);
  if (it->hint_armed != 1) it->hint_armed = 0; /* a backward hint is for backward seeks */
  int rc = it_seek_first(&it->index.base);
  if (!rc) rc = si_init_block(it);
  if (rc) return si_fail(it, rc);
  if (it->blk.blk && (rc = it_seek_first(&it->data.base))) return si_data_rc(it, rc);
  return si_skip_forward(it);
}

static int si_seek_last(it_iter *i) {
  sst_iter *it = (sst_iter *)i;
  if (it->rc) return it->rc;
  it->backward = 1;
  si_arm_hint(it);
  if (it->hint_armed != 2) it->hint_armed = 0; /* a forward hint is for forward seeks */
  int rc = it_seek_last(&it->index.base);
  if (!rc) rc = si_init_block(it);
  if (rc) return si_fail(it, rc);
  if (it->blk.blk && (rc = it_seek_last(&it->data.base))) return si_data_rc(it, rc);
  return si_skip_backward(it);
}

static int si_next(it_iter *i) {
  sst_iter *it = (sst_iter *)i;
  if (it->rc) return it->rc;
  int rc = blk_iter_next(&it->data);
  if (rc) return si_data_rc(it, rc);
  if (blk_iter_valid(&it->data)) { /* still inside the block (it->blk.blk is set: we were valid) */
    it->backward = 0;
    return LSM_OK;
  }
  return si_skip_forward(it);
}

/* next + valid + key + value (it_ops.next_kv): the per-row path of a scan. */
static const it_kv *si_next_kv(it_iter *i) {
  sst_iter *it = (sst_iter *)i;
  if (it->rc) return NULL;
  int rc = blk_iter_next(&it->data);
  if (rc) {
    si_data_rc(it, rc);
    return NULL;
  }
  if (!blk_iter_valid(&it->data)) { /* off the block's end: the next block, if any */
    if (si_skip_forward(it) || !it->blk.blk || !blk_iter_valid(&it->data)) return NULL;
  }
  it->backward = 0;
  blk_iter_key(&it->data, &it->e.k, &it->e.kn);
  blk_iter_value(&it->data, &it->e.v, &it->e.vn);
  return &it->e;
}

static int si_prev(it_iter *i) {
  sst_iter *it = (sst_iter *)i;
  if (it->rc) return it->rc;
  int rc = it_prev(&it->data.base);
  if (rc) return si_data_rc(it, rc);
  return si_skip_backward(it);
}

static int si_valid(const it_iter *i) {
  const sst_iter *it = (const sst_iter *)i;
  return !it->rc && it->blk.blk && blk_iter_valid(&it->data);
}

static void si_key(const it_iter *i, const uint8_t **k, size_t *n) {
  blk_iter_key(&((const sst_iter *)i)->data, k, n);
}

static void si_value(const it_iter *i, const uint8_t **v, size_t *n) {
  blk_iter_value(&((const sst_iter *)i)->data, v, n);
}

static int si_status(const it_iter *i) { return ((const sst_iter *)i)->rc; }

static void si_destroy(it_iter *i) {
  sst_iter *it = (sst_iter *)i;
  si_drop_block(it);
  rblock_free(&it->ra);
  cd_buf_free(&it->zbuf);
  mm_free(it->bmem);
  fio_batch_free(it->batch);
  blk_iter_fini(&it->index);
  blk_iter_fini(&it->data);
  mm_free(it);
}

static const it_ops sst_iter_ops = {
    .seek = si_seek,
    .seek_first = si_seek_first,
    .seek_last = si_seek_last,
    .next = si_next,
    .prev = si_prev,
    .valid = si_valid,
    .key = si_key,
    .value = si_value,
    .status = si_status,
    .destroy = si_destroy,
    .next_kv = si_next_kv,
};

int sst_iter_new(sst_reader *r, size_t readahead, it_iter **out) {
  *out = NULL;
  sst_iter *it = mm_calloc(1, sizeof *it);
  if (!it) return st_err(LSM_NOMEM, "out of memory (sst iterator)");
  it->base.ops = &sst_iter_ops;
  it->r = r;
  it->readahead = readahead;
  blk_iter_init(&it->index, &r->index, ikey_cmp, IKEY_TRAILER);
  static const blk_block empty = {NULL, 0, 0, 0};
  blk_iter_init(&it->data, &empty, ikey_cmp, IKEY_TRAILER);
  *out = &it->base;
  return LSM_OK;
}

void sst_iter_hint(it_iter *i, const uint64_t *nentries, double share) {
  sst_iter *it = (sst_iter *)i;
  it->hint = nentries;
  it->hint_share = share;
}

/* ==== verify ==== */

static void report(cd_buf *rep, int *nprob, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(cd_buf *rep, int *nprob, const char *fmt, ...) {
  char line[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  (*nprob)++;
  if (*nprob <= 100 && !cd_buf_append(rep, line, strlen(line))) cd_buf_append(rep, "\n", 1);
}

int sst_verify(sst_reader *r, char **out) {
  *out = NULL;
  cd_buf rep = {0}, prev = {0};
  int nprob = 0, rc = LSM_OK;
  uint64_t entries = 0, blocks = 0;
  blk_iter ix, dx;
  blk_iter_init(&ix, &r->index, ikey_cmp, IKEY_TRAILER);
  static const blk_block empty = {NULL, 0, 0, 0};
  blk_iter_init(&dx, &empty, ikey_cmp, IKEY_TRAILER);
  int irc = it_seek_first(&ix.base);
  for (; !irc && it_valid(&ix.base); irc = it_next(&ix.base)) {
    const uint8_t *sep, *v;
    size_t sepn, vn;
    it_key(&ix.base, &sep, &sepn);
    it_value(&ix.base, &v, &vn);
    sst_bhandle h;
    blocks++;
    if (!decode_handle(v, vn, &h)) {
      report(&rep, &nprob, "%s: bad block handle in index entry %llu", r->name,
             (unsigned long long)blocks);
      continue;
    }
    sst_block b = {0};
    int brc = check_data_handle(r, h);
    if (!brc) {
      rblock rb;
      const uint8_t *p;
      sst_cblock *c;
      brc = read_range(r, h.off, (size_t)h.size + BLK_TRAILER, &rb, &p);
      if (!brc) {
        brc = make_cblock(r, p, h, 0, NULL, 0, &c);
        rblock_free(&rb);
      }
      if (!brc) {
        b.r = r;
        b.own = c;
        b.blk = &c->blk;
      }
    }
    if (brc) {
      if (brc != LSM_CORRUPT) {
        rc = brc;
        break;
      }
      report(&rep, &nprob, "%s", st_errmsg());
      continue;
    }
    blk_iter_reset(&dx, b.blk);
    int drc = it_seek_first(&dx.base), n = 0;
    for (; !drc && it_valid(&dx.base); drc = it_next(&dx.base), n++) {
      const uint8_t *k;
      size_t kn;
      it_key(&dx.base, &k, &kn);
      entries++;
      if (!ikey_valid(k, kn)) {
        report(&rep, &nprob, "%s: block at %llu: invalid internal key", r->name,
               (unsigned long long)h.off);
        break;
      }
      if (prev.n && ikey_cmp(prev.p, prev.n, k, kn) >= 0)
        report(&rep, &nprob, "%s: block at %llu: keys out of order", r->name,
               (unsigned long long)h.off);
      if (ikey_cmp(k, kn, sep, sepn) > 0)
        report(&rep, &nprob, "%s: block at %llu: key beyond its index separator", r->name,
               (unsigned long long)h.off);
      cd_buf_clear(&prev);
      if ((drc = cd_buf_append(&prev, k, kn))) break;
    }
    if (drc == LSM_NOMEM) rc = drc;
    else if (drc) report(&rep, &nprob, "%s: data block at %llu: %s", r->name, (unsigned long long)h.off, st_errmsg());
    else if (n == 0) report(&rep, &nprob, "%s: empty data block at %llu", r->name, (unsigned long long)h.off);
    block_release(&b);
    if (rc) break;
  }
  if (!rc && irc) {
    if (irc == LSM_CORRUPT) report(&rep, &nprob, "%s: index: %s", r->name, st_errmsg());
    else rc = irc;
  }
  if (!rc) {
    if (blocks != r->props.data_blocks)
      report(&rep, &nprob, "%s: %llu data blocks, properties say %llu", r->name,
             (unsigned long long)blocks, (unsigned long long)r->props.data_blocks);
    if (entries != r->props.entries)
      report(&rep, &nprob, "%s: %llu entries, properties say %llu", r->name,
             (unsigned long long)entries, (unsigned long long)r->props.entries);
  }
  blk_iter_fini(&ix);
  blk_iter_fini(&dx);
  cd_buf_free(&prev);
  if (rc) {
    cd_buf_free(&rep);
    return rc;
  }
  if (nprob == 0) cd_buf_append(&rep, "ok", 2);
  else if (rep.n && rep.p[rep.n - 1] == '\n') rep.n--;
  char *s = mm_dup(rep.p ? (const char *)rep.p : "", rep.n);
  cd_buf_free(&rep);
  if (!s) return st_err(LSM_NOMEM, "out of memory (verify report)");
  *out = s;
  if (nprob) return st_err(LSM_CORRUPT, "%s: %d problem(s) found", r->name, nprob);
  return LSM_OK;
}
