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

int bloom_builder_finish(bloom_builder *b, cd_buf *out) {
  uint64_t nbits = (uint64_t)b->n * (uint64_t)b->bits_per_key;
  if (nbits < 64) nbits = 64; /* tiny sets would otherwise see a high false positive rate */
  size_t bytes = (size_t)((nbits + 7) / 8);
  nbits = (uint64_t)bytes * 8;
  int rc = cd_buf_reserve(out, bytes + 1);
  if (rc) return rc;
  uint8_t *bits = out->p + out->n;
  memset(bits, 0, bytes);
  int k = bloom_k(b->bits_per_key);
  for (size_t i = 0; i < b->n; i++) {
    uint64_t h1 = (uint32_t)b->hashes[i], h2 = b->hashes[i] >> 32;
    for (int j = 0; j < k; j++) {
      uint64_t bit = (h1 + (uint64_t)j * h2) % nbits;
      bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
  }
  bits[bytes] = (uint8_t)k;
  out->n += bytes + 1;
  return LSM_OK;
}

int bloom_check(const uint8_t *f, size_t n) {
  if (n < 9) return ST_CORRUPT("bloom filter too small (%zu bytes)", n);
  int k = f[n - 1];
  if (k < 1 || k > BLOOM_MAX_K) return ST_CORRUPT("bloom filter with k=%d", k);
  return LSM_OK;
}

int bloom_may_contain_hash(const uint8_t *f, size_t n, uint64_t h) {
  if (n < 9) return 1; /* not a filter: never exclude */
  uint64_t nbits = (uint64_t)(n - 1) * 8;
  int k = f[n - 1];
  if (k < 1 || k > BLOOM_MAX_K) return 1;
  uint64_t h1 = (uint32_t)h, h2 = h >> 32;
  for (int j = 0; j < k; j++) {
    uint64_t bit = (h1 + (uint64_t)j * h2) % nbits;
    if (!(f[bit / 8] & (1u << (bit % 8)))) return 0;
  }
  return 1;
}

int bloom_may_contain(const uint8_t *f, size_t n, const uint8_t *key, size_t kn) {
  return bloom_may_contain_hash(f, n, bloom_hash(key, kn));
}
