#include "coding.h"

#include "mm.h"
#include "status.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Long inputs go to libxxhash's dispatcher (xxh_x86dispatch.h declares these two; that header
** cannot be included next to XXH_INLINE_ALL, whose renamed inline copies serve short inputs).
** The state type is the inline build's, which has the library's layout: the same header. */
#if defined(__x86_64__)
#define CD_XXH_DISPATCH 1
XXH64_hash_t XXH3_64bits_dispatch(const void *input, size_t len);
XXH_errorcode XXH3_64bits_update_dispatch(XXH3_state_t *state, const void *input, size_t len);
#endif

/* Up to here XXH3 is a few multiplies, inlined; past it (XXH3_MIDSIZE_MAX) the stripe loop. */
#define CD_XXH_SHORT 240

uint8_t *cd_put_varint32(uint8_t *p, uint32_t v) { return cd_put_varint64(p, v); }

uint8_t *cd_put_varint64(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

int cd_varint_len(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

const uint8_t *cd_get_varint64(const uint8_t *p, const uint8_t *limit, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; shift <= 63 && p < limit; shift += 7) {
    uint64_t byte = *p++;
    if (shift == 63 && byte > 1) return NULL; /* overflow */
    r |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = r;
      return p;
    }
  }
  return NULL;
}

const uint8_t *cd_get_varint32(const uint8_t *p, const uint8_t *limit, uint32_t *v) {
  uint64_t r;
  const uint8_t *q = cd_get_varint64(p, limit, &r);
  if (!q || r > UINT32_MAX || q - p > CD_MAX_VARINT32) return NULL;
  *v = (uint32_t)r;
  return q;
}

uint64_t cd_xxh3(const void *p, size_t n) {
#ifdef CD_XXH_DISPATCH
  if (n > CD_XXH_SHORT) return XXH3_64bits_dispatch(p, n);
#endif
  return XXH3_64bits(p, n);
}

uint32_t cd_xxh3_32(const void *p, size_t n) {
  uint64_t h = cd_xxh3(p, n);
  return (uint32_t)(h ^ (h >> 32));
}

uint64_t cd_xxh3_cat(const void *a, size_t an, const void *b, size_t bn) {
  if (an + bn <= CD_XXH_SHORT) { /* one short input: copy it, hash inline */
    uint8_t t[CD_XXH_SHORT];
    if (an) memcpy(t, a, an);
    if (bn) memcpy(t + an, b, bn);
    return XXH3_64bits(t, an + bn);
  }
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
#ifdef CD_XXH_DISPATCH
  XXH3_64bits_update_dispatch(&st, a, an);
  if (bn) XXH3_64bits_update_dispatch(&st, b, bn);
#else
  XXH3_64bits_update(&st, a, an);
  if (bn) XXH3_64bits_update(&st, b, bn);
#endif
  return XXH3_64bits_digest(&st);
}

int cd_buf_reserve(cd_buf *b, size_t extra) {
  if (b->cap - b->n >= extra) return LSM_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->n < extra) {
    if (cap > SIZE_MAX / 2) return st_err(LSM_NOMEM, "buffer too large");
    cap *= 2;
  }
  uint8_t *p = mm_realloc(b->p, cap);
  if (!p) return st_err(LSM_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
  b->p = p;
  b->cap = cap;
  return LSM_OK;
}

int cd_buf_append(cd_buf *b, const void *p, size_t n) {
  int rc = cd_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
  return LSM_OK;
}

int cd_buf_put_varint32(cd_buf *b, uint32_t v) { return cd_buf_put_varint64(b, v); }

int cd_buf_put_varint64(cd_buf *b, uint64_t v) {
  int rc = cd_buf_reserve(b, CD_MAX_VARINT64);
  if (rc) return rc;
  b->n = (size_t)(cd_put_varint64(b->p + b->n, v) - b->p);
  return LSM_OK;
}

int cd_buf_put_fixed32(cd_buf *b, uint32_t v) {
  int rc = cd_buf_reserve(b, 4);
  if (rc) return rc;
  cd_put_fixed32(b->p + b->n, v);
  b->n += 4;
  return LSM_OK;
}

int cd_buf_put_fixed64(cd_buf *b, uint64_t v) {
  int rc = cd_buf_reserve(b, 8);
  if (rc) return rc;
  cd_put_fixed64(b->p + b->n, v);
  b->n += 8;
  return LSM_OK;
}

void cd_buf_free(cd_buf *b) {
  mm_free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}
