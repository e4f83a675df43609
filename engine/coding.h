/*
** coding.h — the one place where integers meet bytes.
**
** Fixed-width integers are little-endian. Varints are LEB128 style (7 bits per byte, low
** group first, high bit = "more"): a varint32 takes at most 5 bytes, a varint64 at most 10.
** Decoders take (p, limit), never read at or past `limit`, and return the position after
** the value, or NULL when the input is truncated or malformed (too long, or overflowing).
**
** Checksums: cd_xxh3() is XXH3-64 of a byte range, the checksum every on-disk format uses;
** cd_xxh3_32() folds it to 32 bits for 4-byte checksum fields; cd_xxh3_cat() is cd_xxh3 of two
** ranges concatenated, without copying them. Inputs up to 240 bytes (keys, headers) are hashed
** by the inlined XXH3; longer ones (blocks, WAL records) on x86-64 by libxxhash's runtime-
** dispatched XXH3 (AVX2/AVX-512 where the CPU has them: 5-8x faster than the SSE2 code the
** inline build gets at -O2 for 2 KiB and larger). The same function, so the same values.
**
** Thread safety: pure functions.
*/
#ifndef LSMVTAB_CODING_H
#define LSMVTAB_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CD_MAX_VARINT32 5
#define CD_MAX_VARINT64 10

static inline void cd_put_fixed16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void cd_put_fixed32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void cd_put_fixed64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t cd_get_fixed16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t cd_get_fixed32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t cd_get_fixed64(const uint8_t *p) {
  return (uint64_t)cd_get_fixed32(p) | ((uint64_t)cd_get_fixed32(p + 4) << 32);
}

/* Write a varint at p (room for CD_MAX_VARINT* bytes required); returns the end. */
uint8_t *cd_put_varint32(uint8_t *p, uint32_t v);
uint8_t *cd_put_varint64(uint8_t *p, uint64_t v);
/* Bytes a varint of v takes. */
int cd_varint_len(uint64_t v);

/* Decode; NULL if truncated at limit or malformed. */
const uint8_t *cd_get_varint32(const uint8_t *p, const uint8_t *limit, uint32_t *v);
const uint8_t *cd_get_varint64(const uint8_t *p, const uint8_t *limit, uint64_t *v);

/* XXH3-64 checksum of n bytes. */
uint64_t cd_xxh3(const void *p, size_t n);
/* XXH3-64 folded to 32 bits (high ^ low). */
uint32_t cd_xxh3_32(const void *p, size_t n);
/* XXH3-64 of the concatenation a[0..an) b[0..bn) (equal to cd_xxh3 over one copy of both). */
uint64_t cd_xxh3_cat(const void *a, size_t an, const void *b, size_t bn);

/* A growable byte buffer (mm_ allocated). Owner: whoever embeds it; release with cd_buf_free. */
typedef struct cd_buf {
  uint8_t *p;
  size_t n, cap;
} cd_buf;

/* Ensure room for `extra` more bytes. LSM_OK or LSM_NOMEM. */
int cd_buf_reserve(cd_buf *b, size_t extra);
int cd_buf_append(cd_buf *b, const void *p, size_t n);
int cd_buf_put_varint32(cd_buf *b, uint32_t v);
int cd_buf_put_varint64(cd_buf *b, uint64_t v);
int cd_buf_put_fixed32(cd_buf *b, uint32_t v);
int cd_buf_put_fixed64(cd_buf *b, uint64_t v);
static inline void cd_buf_clear(cd_buf *b) { b->n = 0; }
/* Make b hold exactly key[0..n) (0 or LSM_NOMEM), for a key an iterator has just assembled in
** place (the previous key's prefix stored earlier, a suffix stored over it): up to 64 bytes are
** copied one byte at a time. memcpy's wide loads of such a key span two stores; measured on an
** Intel Xeon guest (session 12), a forward scan of 16-byte keys ran 2.3-2.9x slower with memcpy
** in dbiter's per-row save, likely because such a load cannot be forwarded from the store
** buffer and waits for both stores to commit, behind every cache miss still outstanding. A
** single-byte load is always served by the one store that wrote its byte. */
static inline int cd_buf_set_key(cd_buf *b, const uint8_t *key, size_t n) {
  if (n > 64 || n > b->cap) {
    b->n = 0;
    return cd_buf_append(b, key, n);
  }
  for (size_t i = 0; i < n; i++) b->p[i] = key[i];
  b->n = n;
  return 0;
}
void cd_buf_free(cd_buf *b);

#endif
