#include "block.h"

#include <lz4.h>
#include <pthread.h>
#include <zstd.h>

#include "mm.h"
#include "status.h"

/* ---- building ---- */

void blk_builder_init(blk_builder *b, int interval) {
  memset(b, 0, sizeof *b);
  b->interval = interval < 1 ? 1 : interval;
}

void blk_builder_reset(blk_builder *b) {
  cd_buf_clear(&b->buf);
  cd_buf_clear(&b->restarts);
  cd_buf_clear(&b->last);
  b->counter = 0;
  b->finished = 0;
  b->entries = 0;
}

void blk_builder_free(blk_builder *b) {
  cd_buf_free(&b->buf);
  cd_buf_free(&b->restarts);
  cd_buf_free(&b->last);
}

/* cd_put_varint32's encoding, inlined for the per-entry path (most lengths take one byte). */
static inline uint8_t *put_v32(uint8_t *p, uint32_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

int blk_builder_add(blk_builder *b, const uint8_t *key, size_t kn, const uint8_t *val, size_t vn) {
  if (kn > UINT32_MAX || vn > UINT32_MAX) return st_err(LSM_TOOBIG, "block entry too large");
  size_t shared = 0;
  if (b->counter >= b->interval || b->entries == 0) {
    /* A restart point: the key is stored whole so seek can compare it directly. */
    if (b->buf.n > UINT32_MAX) return st_err(LSM_TOOBIG, "block over 4 GiB");
    int rc = cd_buf_put_fixed32(&b->restarts, (uint32_t)b->buf.n);
    if (rc) return rc;
    b->counter = 0;
  } else {
    size_t m = kn < b->last.n ? kn : b->last.n;
    while (shared < m && b->last.p[shared] == key[shared]) shared++;
  }
  /* one reserve for the whole entry, then plain stores (the per-entry path of every flush and
  ** compaction): the same bytes as cd_buf_put_varint32 x 3 + cd_buf_append x 2 */
  size_t need = 3 * 5 + (kn - shared) + vn;
  if (b->buf.cap - b->buf.n < need) {
    int rc = cd_buf_reserve(&b->buf, need);
    if (rc) return rc;
  }
  uint8_t *p = b->buf.p + b->buf.n;
  p = put_v32(p, (uint32_t)shared);
  p = put_v32(p, (uint32_t)(kn - shared));
  p = put_v32(p, (uint32_t)vn);
  memcpy(p, key + shared, kn - shared);
  p += kn - shared;
  if (vn) memcpy(p, val, vn);
  p += vn;
  b->buf.n = (size_t)(p - b->buf.p);
  int rc = cd_buf_set_key(&b->last, key, kn);
  if (rc) return rc;
  b->counter++;
  b->entries++;
  return LSM_OK;
}

size_t blk_builder_size(const blk_builder *b) {
  if (b->finished) return b->buf.n;
  return b->buf.n + b->restarts.n + 4;
}

int blk_builder_finish(blk_builder *b, const uint8_t **out, size_t *n) {
  if (!b->finished) {
    int rc = cd_buf_reserve(&b->buf, b->restarts.n + 4);
    if (rc) return rc;
    cd_buf_append(&b->buf, b->restarts.p, b->restarts.n);
    cd_buf_put_fixed32(&b->buf, (uint32_t)(b->restarts.n / 4));
    b->finished = 1;
  }
  *out = b->buf.p;
  *n = b->buf.n;
  return LSM_OK;
}

/* ---- stored form ---- */

struct blk_zctx {
  ZSTD_CCtx *cctx;
};

int blk_zctx_new(blk_zctx **out) {
  *out = NULL;
  blk_zctx *z = mm_calloc(1, sizeof *z);
  if (!z) return st_err(LSM_NOMEM, "out of memory (zstd context)");
  z->cctx = ZSTD_createCCtx();
  if (!z->cctx) {
    mm_free(z);
    return st_err(LSM_NOMEM, "out of memory (zstd context)");
  }
  *out = z;
  return LSM_OK;
}

void blk_zctx_free(blk_zctx *z) {
  if (!z) return;
  ZSTD_freeCCtx(z->cctx);
  mm_free(z);
}

static int blk_put_trailer(cd_buf *out, size_t start, int type) {
  int rc = cd_buf_reserve(out, BLK_TRAILER);
  if (rc) return rc;
  out->p[out->n++] = (uint8_t)type;
  uint32_t crc = cd_xxh3_32(out->p + start, out->n - start);
  cd_put_fixed32(out->p + out->n, crc);
  out->n += 4;
  return LSM_OK;
}

/* lz4's acceleration for every block written (1 = LZ4_compress_default). See PERF-NOTES
** "Compaction throughput, session 8". */
#define BLK_LZ4_ACCEL 2

/* Keep a compressed form only when it saves at least an eighth: otherwise the read-side cost
** of decompression buys too little. */
static int worth_it(size_t stored, size_t n) { return stored <= n - n / 8; }

int blk_seal(cd_buf *out, const uint8_t *raw, size_t n, int compression, int level,
             blk_zctx *z, size_t *stored_n) {
  size_t start = out->n;
  if (compression == BLK_LZ4 && n >= 64 && n <= LZ4_MAX_INPUT_SIZE) {
    size_t bound = (size_t)LZ4_compressBound((int)n);
    int rc = cd_buf_reserve(out, CD_MAX_VARINT64 + bound + BLK_TRAILER);
    if (rc) return rc;
    uint8_t *p = cd_put_varint64(out->p + start, n);
    size_t hdr = (size_t)(p - (out->p + start));
    int zn = LZ4_compress_fast((const char *)raw, (char *)p, (int)n, (int)bound, BLK_LZ4_ACCEL);
    if (zn > 0 && worth_it(hdr + (size_t)zn, n)) {
      out->n = start + hdr + (size_t)zn;
      *stored_n = hdr + (size_t)zn;
      return blk_put_trailer(out, start, BLK_LZ4);
    }
  }
  if (compression == BLK_ZSTD && n >= 64) {
    size_t bound = ZSTD_compressBound(n);
    int rc = cd_buf_reserve(out, CD_MAX_VARINT64 + bound + BLK_TRAILER);
    if (rc) return rc;
    uint8_t *p = cd_put_varint64(out->p + start, n);
    size_t hdr = (size_t)(p - (out->p + start));
    size_t zn = z ? ZSTD_compressCCtx(z->cctx, p, bound, raw, n, level)
                  : ZSTD_compress(p, bound, raw, n, level);
    if (ZSTD_isError(zn))
      return st_err(LSM_ERROR, "zstd compression failed: %s", ZSTD_getErrorName(zn));
    if (worth_it(hdr + zn, n)) {
      out->n = start + hdr + zn;
      *stored_n = hdr + zn;
      return blk_put_trailer(out, start, BLK_ZSTD);
    }
  }
  int rc = cd_buf_append(out, raw, n);
  if (rc) return rc;
  *stored_n = n;
  return blk_put_trailer(out, start, BLK_NONE);
}

/* Decompression contexts are pooled process-wide: creating one per block costs more than
** decompressing a 4 KiB block, and a reader is shared by many threads. Idle contexts beyond
** BLK_DPOOL are freed; the pooled ones live until exit. */
#define BLK_DPOOL 16
static pthread_mutex_t blk_dpool_mu = PTHREAD_MUTEX_INITIALIZER;
static ZSTD_DCtx *blk_dpool[BLK_DPOOL];
static int blk_dpool_n;

static ZSTD_DCtx *dctx_get(void) {
  ZSTD_DCtx *d = NULL;
  pthread_mutex_lock(&blk_dpool_mu);
  if (blk_dpool_n) d = blk_dpool[--blk_dpool_n];
  pthread_mutex_unlock(&blk_dpool_mu);
  return d ? d : ZSTD_createDCtx();
}

static void dctx_put(ZSTD_DCtx *d) {
  pthread_mutex_lock(&blk_dpool_mu);
  if (blk_dpool_n < BLK_DPOOL) {
    blk_dpool[blk_dpool_n++] = d;
    d = NULL;
  }
  pthread_mutex_unlock(&blk_dpool_mu);
  ZSTD_freeDCtx(d);
}

int blk_stored_info(const uint8_t *p, size_t n, int *type, size_t *rawn) {
  uint32_t want = cd_get_fixed32(p + n + 1);
  if (cd_xxh3_32(p, n + 1) != want) return ST_CORRUPT("block checksum mismatch (%zu bytes)", n);
  *type = p[n];
  if (*type == BLK_NONE) {
    *rawn = n;
    return LSM_OK;
  }
  if (*type != BLK_ZSTD && *type != BLK_LZ4)
    return ST_CORRUPT("unknown block compression type %d", *type);
  uint64_t size;
  if (!cd_get_varint64(p, p + n, &size)) return ST_CORRUPT("bad compressed block header");
  /* A block holds at most one maximal value past its target size; anything far beyond is a
  ** lie we must not allocate for. */
  if (size > ((uint64_t)1 << 31)) return ST_CORRUPT("compressed block claims %llu bytes",
                                                    (unsigned long long)size);
  *rawn = (size_t)size;
  return LSM_OK;
}

blk_dctx *blk_dctx_get(void) { return (blk_dctx *)dctx_get(); }
void blk_dctx_put(blk_dctx *d) {
  if (d) dctx_put((ZSTD_DCtx *)d);
}

int blk_decode_with(const uint8_t *p, size_t n, uint8_t *out, size_t rawn, blk_dctx *dctx) {
  if (p[n] == BLK_NONE) {
    if (rawn != n) return ST_CORRUPT("block size mismatch");
    if (n) memcpy(out, p, n);
    return LSM_OK;
  }
  uint64_t size;
  const uint8_t *q = cd_get_varint64(p, p + n, &size);
  if (!q || (p[n] != BLK_ZSTD && p[n] != BLK_LZ4) || size != rawn)
    return ST_CORRUPT("bad compressed block header");
  if (p[n] == BLK_LZ4) { /* LZ4_decompress_safe never reads or writes outside the buffers */
    size_t zn = (size_t)(p + n - q);
    if (rawn > LZ4_MAX_INPUT_SIZE || zn > (size_t)INT32_MAX ||
        LZ4_decompress_safe((const char *)q, (char *)out, (int)zn, (int)rawn) != (int)rawn)
      return ST_CORRUPT("lz4 block does not decompress to its %zu bytes", rawn);
    return LSM_OK;
  }
  if (!dctx) return st_err(LSM_MISUSE, "zstd block decoded without a context");
  size_t got = ZSTD_decompressDCtx((ZSTD_DCtx *)dctx, out, rawn, q, (size_t)(p + n - q));
  if (ZSTD_isError(got) || got != rawn)
    return ST_CORRUPT("zstd block does not decompress to its %zu bytes", rawn);
  return LSM_OK;
}

int blk_decode_into(const uint8_t *p, size_t n, uint8_t *out, size_t rawn) {
  if (p[n] != BLK_ZSTD) return blk_decode_with(p, n, out, rawn, NULL);
  ZSTD_DCtx *d = dctx_get();
  if (!d) return st_err(LSM_NOMEM, "out of memory (zstd context)");
  int rc = blk_decode_with(p, n, out, rawn, (blk_dctx *)d);
  dctx_put(d);
  return rc;
}

int blk_unseal(const uint8_t *p, size_t n, const uint8_t **raw, size_t *rawn, uint8_t **alloc) {
  *alloc = NULL;
  int type;
  size_t size;
  int rc = blk_stored_info(p, n, &type, &size);
  if (rc) return rc;
  if (type == BLK_NONE) {
    *raw = p;
    *rawn = n;
    return LSM_OK;
  }
  uint8_t *buf = mm_malloc(size ? size : 1);
  if (!buf) return st_err(LSM_NOMEM, "out of memory decompressing a block");
  if ((rc = blk_decode_into(p, n, buf, size))) {
    mm_free(buf);
    return rc;
  }
  *raw = *alloc = buf;
  *rawn = size;
  return LSM_OK;
}

/* ---- reading ---- */

int blk_parse(const uint8_t *data, size_t n, blk_block *b) {
  if (n < 4) return ST_CORRUPT("block too small (%zu bytes)", n);
  if (n > UINT32_MAX) return ST_CORRUPT("block too large (%zu bytes)", n);
  uint32_t nr = cd_get_fixed32(data + n - 4);
  if (nr > (n - 4) / 4) return ST_CORRUPT("block restart count %u too large", nr);
  uint32_t roff = (uint32_t)(n - 4 - (size_t)nr * 4);
  if (nr == 0 && roff != 0) return ST_CORRUPT("block with entries but no restart point");
  uint32_t prev = 0;
  for (uint32_t i = 0; i < nr; i++) {
    uint32_t r = cd_get_fixed32(data + roff + 4 * (size_t)i);
    if (r >= roff || (i == 0 && r != 0) || (i > 0 && r <= prev))
      return ST_CORRUPT("block restart point %u bad (%u, entries end at %u)", i, r, roff);
    prev = r;
  }
  b->data = data;
  b->size = n;
  b->restart_off = roff;
  b->nrestarts = nr;
  return LSM_OK;
}

static uint32_t blk_restart(const blk_block *b, uint32_t i) {
  return cd_get_fixed32(b->data + b->restart_off + 4 * (size_t)i);
}

/* Decode an entry header (shared, unshared, value length) at p, never reading at or past lim.
** Nearly every header is three one-byte varints (LevelDB's DecodeEntry fast path); the general
** decoder handles the rest. NULL when truncated or malformed. */
static inline const uint8_t *bi_header(const uint8_t *p, const uint8_t *lim, uint32_t *shared,
                                       uint32_t *unshared, uint32_t *vn) {
  if (lim - p >= 3 && ((p[0] | p[1] | p[2]) & 0x80) == 0) {
    *shared = p[0];
    *unshared = p[1];
    *vn = p[2];
    return p + 3;
  }
  if (!(p = cd_get_varint32(p, lim, shared)) || !(p = cd_get_varint32(p, lim, unshared)) ||
      !(p = cd_get_varint32(p, lim, vn)))
    return NULL;
  return p;
}

int blk_restart_entry(const blk_block *b, uint32_t i, const uint8_t **k, size_t *kn,
                      const uint8_t **v, size_t *vn) {
  uint32_t off = blk_restart(b, i), shared, unshared, n;
  const uint8_t *p = b->data + off, *lim = b->data + b->restart_off;
  if (!(p = bi_header(p, lim, &shared, &unshared, &n)) || shared != 0 ||
      (uint64_t)unshared + n > (uint64_t)(lim - p))
    return ST_CORRUPT("bad restart entry at block offset %u", off);
  *k = p;
  *kn = unshared;
  *v = p + unshared;
  *vn = n;
  return LSM_OK;
}

/* Enter restart region r (its end cached in rnext: the forward step tests one offset). */
static inline void bi_set_region(blk_iter *it, uint32_t r) {
  const blk_block *b = it->blk;
  it->rindex = r;
  it->rnext = r + 1 < b->nrestarts ? blk_restart(b, r + 1) : b->restart_off;
}

static void bi_invalidate(blk_iter *it) {
  it->cur = it->next = it->blk->restart_off;
  it->rindex = it->blk->nrestarts;
  it->rnext = it->blk->restart_off;
  it->kn = 0;
  it->pent_i = -1;
}

static int bi_fail(blk_iter *it, int rc) {
  it->rc = rc;
  bi_invalidate(it);
  return rc;
}

static void bi_to_restart(blk_iter *it, uint32_t i) {
  it->kn = 0; /* a restart entry must not share: shared > 0 is then caught as corrupt */
  bi_set_region(it, i);
  it->next = blk_restart(it->blk, i);
  it->pent_i = -1;
}

/* Make the current key = the first `shared` bytes of the current key + p[0..unshared). A key
** stored whole is used in place; otherwise it is materialised (kp may point into the block,
** kin, key or pkeys: the shared prefix is moved from wherever it is). */
static int bi_set_key(blk_iter *it, uint32_t shared, const uint8_t *p, uint32_t unshared) {
  if (shared == 0) {
    it->kp = p;
    it->kn = unshared;
    return LSM_OK;
  }
  size_t n = (size_t)shared + unshared;
  const uint8_t *src = it->kp;
  uint8_t *dst;
  /* The usual entry: the previous key already in kin, a short suffix. Copy a fixed 16 bytes
  ** (one vector move instead of a memcpy call of a few bytes); the bytes past the key are
  ** don't-cares in kin and still inside the block (p + 16 <= its end). */
  if (src == it->kin && unshared <= 16 && shared + 16 <= sizeof it->kin &&
      p + 16 <= it->blk->data + it->blk->size) {
    memcpy(it->kin + shared, p, 16);
    it->kn = n;
    return LSM_OK;
  }
  if (n <= sizeof it->kin) {
    dst = it->kin;
  } else {
    int in_key = it->key.p && src == it->key.p;
    it->key.n = 0;
    int rc = cd_buf_reserve(&it->key, n);
    if (rc) return rc;
    if (in_key) src = it->key.p; /* realloc moved the prefix along with the buffer */
    dst = it->key.p;
  }
  if (shared && src != dst) memmove(dst, src, shared);
  if (unshared) memcpy(dst + shared, p, unshared);
  it->kp = dst;
  it->kn = n;
  return LSM_OK;
}

/* Decode the entry at it->next into the current position. Returns LSM_OK (also when running
** off the end, which leaves the iterator invalid) or an error. */
static int bi_parse_next(blk_iter *it) {
  const blk_block *b = it->blk;
  it->pent_i = -1;
  if (it->next >= b->restart_off) {
    bi_invalidate(it);
    return LSM_OK;
  }
  const uint8_t *p = b->data + it->next, *lim = b->data + b->restart_off;
  uint32_t shared, unshared, vn;
  if (!(p = bi_header(p, lim, &shared, &unshared, &vn)))
    return bi_fail(it, ST_CORRUPT("block entry header truncated at offset %u", it->next));
  if ((uint64_t)unshared + vn > (uint64_t)(lim - p) || shared > it->kn)
    return bi_fail(it, ST_CORRUPT("block entry at offset %u overruns the block", it->next));
  if ((uint64_t)shared + unshared < it->min_key)
    return bi_fail(it, ST_CORRUPT("block key at offset %u too short", it->next));
  int rc = bi_set_key(it, shared, p, unshared);
  if (rc) return bi_fail(it, rc);
  it->cur = it->next;
  it->val = p + unshared;
  it->vn = vn;
  it->next = (uint32_t)(it->val + vn - b->data);
  if (it->cur >= it->rnext) { /* entered the next restart region (it starts exactly here) */
    uint32_t r = it->rindex + 1;
    while (r + 1 < b->nrestarts && blk_restart(b, r + 1) <= it->cur) r++;
    bi_set_region(it, r);
  }
  return LSM_OK;
}

static int bi_valid(const it_iter *i) {
  const blk_iter *it = (const blk_iter *)i;
  return it->rc == 0 && it->cur < it->blk->restart_off;
}

/* Position at entry j of the decoded interval. */
static void bi_use_pent(blk_iter *it, uint32_t j) {
  const blk_pent *e = &it->pent[j];
  it->pent_i = (int32_t)j;
  it->cur = e->cur;
  it->next = e->next;
  it->kp = it->pkeys.p + e->koff;
  it->kn = e->kn;
  it->val = it->blk->data + e->voff;
  it->vn = e->vn;
}

/* Decode every entry of restart region r that starts before offset `end` (an entry boundary:
** the current entry, or restart_off) into pent/pkeys, and position at the last of them. The
** same checks as bi_parse_next; the entries must chain exactly to `end`. */
static int bi_fill_prev(blk_iter *it, uint32_t r, uint32_t end) {
  const blk_block *b = it->blk;
  const uint8_t *lim = b->data + b->restart_off;
  uint32_t off = blk_restart(b, r), pk = 0, pkn = 0;
  it->pent_n = 0;
  it->pkeys.n = 0;
  while (off < end) {
    const uint8_t *p = b->data + off;
    uint32_t shared, unshared, vn;
    if (!(p = bi_header(p, lim, &shared, &unshared, &vn)))
      return bi_fail(it, ST_CORRUPT("block entry header truncated at offset %u", off));
    if ((uint64_t)unshared + vn > (uint64_t)(lim - p) || shared > pkn)
      return bi_fail(it, ST_CORRUPT("block entry at offset %u overruns the block", off));
    if ((uint64_t)shared + unshared < it->min_key)
      return bi_fail(it, ST_CORRUPT("block key at offset %u too short", off));
    if (it->pent_n == it->pent_cap) {
      uint32_t cap = it->pent_cap ? 2 * it->pent_cap : BLK_RESTART_INTERVAL;
      blk_pent *np = mm_realloc(it->pent, sizeof *np * cap);
      if (!np) return bi_fail(it, st_err(LSM_NOMEM, "out of memory (block iterator)"));
      it->pent = np;
      it->pent_cap = cap;
    }
    size_t kn = (size_t)shared + unshared, ko = it->pkeys.n;
    /* at least one byte: pkeys.p is never NULL once filled, even when every key is empty
    ** (bi_use_pent adds offsets to it; NULL + 0 is undefined) */
    int rc = cd_buf_reserve(&it->pkeys, kn ? kn : 1);
    if (rc) return bi_fail(it, rc);
    /* The previous key lives at pkeys.p + pk (offsets survive the reserve's realloc). */
    if (shared) memmove(it->pkeys.p + ko, it->pkeys.p + pk, shared);
    if (unshared) memcpy(it->pkeys.p + ko + shared, p, unshared);
    it->pkeys.n = ko + kn;
    blk_pent *e = &it->pent[it->pent_n++];
    e->cur = off;
    e->koff = (uint32_t)ko;
    e->kn = (uint32_t)kn;
    e->voff = (uint32_t)(p + unshared - b->data);
    e->vn = vn;
    e->next = off = e->voff + vn;
    pk = (uint32_t)ko;
    pkn = (uint32_t)kn;
  }
  if (off != end || it->pent_n == 0)
    return bi_fail(it, ST_CORRUPT("block entries do not chain to offset %u", end));
  bi_set_region(it, r);
  bi_use_pent(it, it->pent_n - 1);
  return LSM_OK;
}

static int bi_seek_first(it_iter *i) {
  blk_iter *it = (blk_iter *)i;
  if (it->rc) return it->rc;
  if (it->blk->nrestarts == 0) {
    bi_invalidate(it);
    return LSM_OK;
  }
  bi_to_restart(it, 0);
  return bi_parse_next(it);
}

static int bi_seek_last(it_iter *i) {
  blk_iter *it = (blk_iter *)i;
  if (it->rc) return it->rc;
  if (it->blk->nrestarts == 0) {
    bi_invalidate(it);
    return LSM_OK;
  }
  /* Through the prev cache: a backward scan continues from here with prev. */
  return bi_fill_prev(it, it->blk->nrestarts - 1, it->blk->restart_off);
}

static int bi_seek(it_iter *i, const uint8_t *k, size_t kn) {
  blk_iter *it = (blk_iter *)i;
  const blk_block *b = it->blk;
  if (it->rc) return it->rc;
  if (b->nrestarts == 0) {
    bi_invalidate(it);
    return LSM_OK;
  }
  /* Binary search for the last restart point whose key is < k. */
  uint32_t lo = 0, hi = b->nrestarts - 1;
  const uint8_t *lim = b->data + b->restart_off;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    uint32_t off = blk_restart(b, mid);
    const uint8_t *p = b->data + off;
    uint32_t shared, unshared, vn;
    if (!(p = bi_header(p, lim, &shared, &unshared, &vn)) || shared != 0 ||
        unshared > (size_t)(lim - p) || unshared < it->min_key)
      return bi_fail(it, ST_CORRUPT("bad restart entry at block offset %u", off));
    if (it->cmp(p, unshared, k, kn) < 0)
      lo = mid;
    else
      hi = mid - 1;
  }
  bi_to_restart(it, lo);
  for (;;) {
    int rc = bi_parse_next(it);
    if (rc || !bi_valid(i)) return rc;
    if (it->cmp(it->kp, it->kn, k, kn) >= 0) return LSM_OK;
  }
}

int blk_iter_next(blk_iter *it) {
  if (it->rc) return it->rc;
  return bi_parse_next(it);
}

static int bi_next(it_iter *i) { return blk_iter_next((blk_iter *)i); }

int blk_iter_seek_restart(blk_iter *it, uint32_t i) {
  if (it->rc) return it->rc;
  if (i >= it->blk->nrestarts) {
    bi_invalidate(it);
    return LSM_OK;
  }
  bi_to_restart(it, i);
  return bi_parse_next(it);
}

static int bi_prev(it_iter *i) {
  blk_iter *it = (blk_iter *)i;
  if (it->rc) return it->rc;
  if (it->pent_i > 0) { /* still inside the decoded interval */
    bi_use_pent(it, (uint32_t)it->pent_i - 1);
    return LSM_OK;
  }
  uint32_t orig = it->cur;
  /* Back to the restart region that starts before the current entry, decode it up to the
  ** current entry, and stand on the last entry decoded. */
  while (blk_restart(it->blk, it->rindex) >= orig) {
    if (it->rindex == 0) {
      bi_invalidate(it);
      return LSM_OK;
    }
    it->rindex--;
  }
  return bi_fill_prev(it, it->rindex, orig);
}

static void bi_key(const it_iter *i, const uint8_t **k, size_t *n) {
  const blk_iter *it = (const blk_iter *)i;
  *k = it->kp;
  *n = it->kn;
}

static void bi_value(const it_iter *i, const uint8_t **v, size_t *n) {
  const blk_iter *it = (const blk_iter *)i;
  *v = it->val;
  *n = it->vn;
}

static int bi_status(const it_iter *i) { return ((const blk_iter *)i)->rc; }

static void bi_destroy(it_iter *i) {
  blk_iter *it = (blk_iter *)i;
  int heap = it->heap;
  blk_iter_fini(it);
  if (heap) mm_free(it);
}

static const it_ops blk_iter_ops = {
    .seek = bi_seek,
    .seek_first = bi_seek_first,
    .seek_last = bi_seek_last,
    .next = bi_next,
    .prev = bi_prev,
    .valid = bi_valid,
    .key = bi_key,
    .value = bi_value,
    .status = bi_status,
    .destroy = bi_destroy,
};

void blk_iter_init(blk_iter *it, const blk_block *b, it_cmp_fn cmp, size_t min_key) {
  memset(it, 0, sizeof *it);
  it->base.ops = &blk_iter_ops;
  it->cmp = cmp;
  it->min_key = (uint32_t)min_key;
  blk_iter_reset(it, b);
}

void blk_iter_reset(blk_iter *it, const blk_block *b) {
  it->blk = b;
  it->rc = 0;
  it->kp = NULL;
  it->val = NULL;
  it->vn = 0;
  bi_invalidate(it);
}

void blk_iter_fini(blk_iter *it) {
  cd_buf_free(&it->key);
  cd_buf_free(&it->pkeys);
  mm_free(it->pent);
  it->pent = NULL;
  it->pent_n = it->pent_cap = 0;
}

int blk_iter_new(const blk_block *b, it_cmp_fn cmp, size_t min_key, it_iter **out) {
  *out = NULL;
  blk_iter *it = mm_malloc(sizeof *it);
  if (!it) return st_err(LSM_NOMEM, "out of memory (block iterator)");
  blk_iter_init(it, b, cmp, min_key);
  it->heap = 1;
  *out = &it->base;
  return LSM_OK;
}
