/*
** bloom.h — the SSTable's bloom filter: one full filter per table over USER keys.
**
** Filter format (the contents of the table's filter block; the block's own checksum trailer,
** see block.h, protects it):
**
**   bits      m bytes   the bit array, m*8 bits; bit i is byte i/8, mask 1 << (i%8)
**   k         1 byte    number of probes, 1..30
**
** Probing: h = XXH3-64(user key); h1 = low 32 bits, h2 = high 32 bits; probe j (0 <= j < k)
** tests bit (h1 + j*h2) mod (m*8), computed in 64-bit arithmetic (double hashing, Kirsch &
** Mitzenmacher). k = round(bits_per_key * ln 2), clamped to 1..30. m*8 >= 64.
**
** The builder dedups consecutive equal keys (many versions of one user key arrive together in
** a table), so they cost one slot. A malformed filter (under 9 bytes, k outside 1..30) is
** rejected by bloom_check (the table reader checks at open: LSM_CORRUPT); bloom_may_contain
** on such bytes never excludes anything.
**
** False positives at 10 bits/key: about 1% (tested <= 2% on 1M keys). No false negatives.
**
** Thread safety: a builder is used by one thread; bloom_may_contain is a pure function.
*/
#ifndef LSMVTAB_BLOOM_H
#define LSMVTAB_BLOOM_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"

#define BLOOM_MAX_K 30

typedef struct bloom_builder {
  uint64_t *hashes; /* one per distinct consecutive key */
  size_t n, cap;
  int bits_per_key;
} bloom_builder;

/* bits_per_key >= 1. Cannot fail. */
void bloom_builder_init(bloom_builder *b, int bits_per_key);

/* Record a user key. LSM_OK or LSM_NOMEM. */
int bloom_builder_add(bloom_builder *b, const uint8_t *key, size_t n);

/* Number of hashes recorded (distinct consecutive keys). */
static inline size_t bloom_builder_count(const bloom_builder *b) { return b->n; }

/* Append the filter for every key added so far to `out`. LSM_OK or LSM_NOMEM. */
int bloom_builder_finish(bloom_builder *b, cd_buf *out);

void bloom_builder_free(bloom_builder *b);

/* LSM_OK if f/n is a well-formed filter, else LSM_CORRUPT (message set). */
int bloom_check(const uint8_t *f, size_t n);

/* 0 if the key is certainly not in the set, 1 if it may be. REQUIRES bloom_check passed. */
int bloom_may_contain(const uint8_t *f, size_t n, const uint8_t *key, size_t kn);

/* The same from a precomputed XXH3-64 of the key (probe many tables with one hash). */
int bloom_may_contain_hash(const uint8_t *f, size_t n, uint64_t h);
static inline uint64_t bloom_hash(const uint8_t *key, size_t kn) { return cd_xxh3(key, kn); }

#endif
