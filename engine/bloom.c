#include "bloom.h"

#include "mm.h"
#include "status.h"

void bloom_builder_init(bloom_builder *b, int bits_per_key) {
  memset(b, 0, sizeof *b);
  b->bits_per_key = bits_per_key < 1 ? 1 : bits_per_key;
}

void bloom_builder_free(bloom_builder *b) {
  mm_free(b->hashes);
  b->hashes = NULL;
  b->n = b->cap = 0;
}

int bloom_builder_reserve(bloom_builder *b, size_t n) {
  if (n <= b->cap) return LSM_OK;
  if (n > SIZE_MAX / sizeof *b->hashes) return st_err(LSM_NOMEM, "out of memory (bloom filter of %zu keys)", n);
  uint64_t *p = mm_realloc(b->hashes, n * sizeof *p);
  if (!p) return st_err(LSM_NOMEM, "out of memory (bloom filter of %zu keys)", n);
  b->hashes = p;
  b->cap = n;
  return LSM_OK;
}

int bloom_builder_add(bloom_builder *b, const uint8_t *key, size_t n) {
  uint64_t h = bloom_hash(key, n);
  if (b->n && b->hashes[b->n - 1] == h) return LSM_OK; /* another version of the same key */
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    uint64_t *p = mm_realloc(b->hashes, cap * sizeof *p);
    if (!p) return st_err(LSM_NOMEM, "out of memory (bloom filter of %zu keys)", b->n);
    b->hashes = p;
    b->cap = cap;
  }
  b->hashes[b->n++] = h;
  return LSM_OK;
}

static int bloom_k(int bits_per_key) {
  int k = (int)(bits_per_key * 0.69 + 0.5); /* ln 2 minimises the false positive rate */
  return k < 1 ? 1 : k > BLOOM_MAX_K ? BLOOM_MAX_K : k;
}

/* Cache-local probing (see bloom.h): the block from the low half of h by multiply-shift (no
** division), then k bit positions of 9 bits from the high half, remixed per probe. */
static inline const uint8_t *local_block(const uint8_t *bits, uint64_t nblocks, uint64_t h) {
  return bits + ((((uint64_t)(uint32_t)h * nblocks) >> 32) * BLOOM_BLOCK);
}
#define LOCAL_NEXT(h2) ((h2) * 0x9E3779B9u)

int bloom_builder_finish(bloom_builder *b, cd_buf *out) {
  uint64_t nbits = (uint64_t)b->n * (uint64_t)b->bits_per_key;
  uint64_t nblocks = (nbits + BLOOM_BLOCK * 8 - 1) / (BLOOM_BLOCK * 8);
  if (nblocks == 0) nblocks = 1;
  if (nblocks > UINT32_MAX) return st_err(LSM_TOOBIG, "bloom filter of %zu keys too large", b->n);
  size_t bytes = (size_t)nblocks * BLOOM_BLOCK;
  int rc = cd_buf_reserve(out, bytes + 1);
  if (rc) return rc;
  uint8_t *bits = out->p + out->n;
  memset(bits, 0, bytes);
  int k = bloom_k(b->bits_per_key);
  for (size_t i = 0; i < b->n; i++) {
    uint8_t *blk = (uint8_t *)local_block(bits, nblocks, b->hashes[i]);
    uint32_t h2 = (uint32_t)(b->hashes[i] >> 32);
    for (int j = 0; j < k; j++, h2 = LOCAL_NEXT(h2)) {
      uint32_t bit = h2 >> 23; /* 0..511 */
      blk[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
  }
  bits[bytes] = (uint8_t)(BLOOM_LOCAL | k);
  out->n += bytes + 1;
  return LSM_OK;
}

int bloom_check(const uint8_t *f, size_t n) {
  if (n < 9) return ST_CORRUPT("bloom filter too small (%zu bytes)", n);
  int k = f[n - 1] & ~BLOOM_LOCAL;
  if (k < 1 || k > BLOOM_MAX_K) return ST_CORRUPT("bloom filter with k=%d", k);
  if ((f[n - 1] & BLOOM_LOCAL) && (n - 1) % BLOOM_BLOCK != 0)
    return ST_CORRUPT("cache-local bloom filter of %zu bytes", n);
  return LSM_OK;
}

int bloom_may_contain_hash(const uint8_t *f, size_t n, uint64_t h) {
  if (n < 9) return 1; /* not a filter: never exclude */
  int k = f[n - 1] & ~BLOOM_LOCAL;
  if (k < 1 || k > BLOOM_MAX_K) return 1;
  if (f[n - 1] & BLOOM_LOCAL) {
    if ((n - 1) % BLOOM_BLOCK != 0) return 1;
    const uint8_t *blk = local_block(f, (n - 1) / BLOOM_BLOCK, h);
    uint32_t h2 = (uint32_t)(h >> 32);
    for (int j = 0; j < k; j++, h2 = LOCAL_NEXT(h2)) {
      uint32_t bit = h2 >> 23;
      if (!(blk[bit / 8] & (1u << (bit % 8)))) return 0;
    }
    return 1;
  }
  /* the original layout: probes spread over the whole array */
  uint64_t nbits = (uint64_t)(n - 1) * 8;
  uint64_t h1 = (uint32_t)h, h2 = h >> 32;
  for (int j = 0; j < k; j++) {
    uint64_t bit = (h1 + (uint64_t)j * h2) % nbits;
    if (!(f[bit / 8] & (1u << (bit % 8)))) return 0;
  }
  return 1;
}

void bloom_prefetch_hash(const uint8_t *f, size_t n, uint64_t h) {
  if (n < 9 || !(f[n - 1] & BLOOM_LOCAL) || (n - 1) % BLOOM_BLOCK != 0) return;
  __builtin_prefetch(local_block(f, (n - 1) / BLOOM_BLOCK, h));
}

int bloom_may_contain(const uint8_t *f, size_t n, const uint8_t *key, size_t kn) {
  return bloom_may_contain_hash(f, n, bloom_hash(key, kn));
}
