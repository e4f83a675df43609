/*
** keyenc.h — order-preserving key encoding of SQLite values (prefix ke_).
**
** The encoded bytes of a tuple of values compare with memcmp (shorter prefix first) exactly as
** SQLite's ORDER BY compares the tuples column by column under BINARY collation:
**   NULL < numbers (INTEGER and REAL compared numerically, exactly) < TEXT (memcmp) < BLOB.
** 1 and 1.0 encode to the SAME bytes (a native PRIMARY KEY treats them as equal), so the stored
** type is kept elsewhere (record.h keeps a per-key-column REAL flag).
**
** Format: one self-delimiting item per value, items concatenated (so a composite key compares
** column by column, and no item is a proper prefix of another item of the same column):
**   0x05                      NULL (NaN is treated as NULL, as SQLite does)
**   0x10 E' M'                negative number; E' and M' are E and M below with every bit
**                             inverted, so larger magnitudes sort first
**   0x11                      zero (also -0.0)
**   0x12 E M                  positive number
**        E  2 bytes big endian: binary exponent e + 0x4000 (e = floor(log2(|x|)), -1074..1023;
**           |x| = (1 + frac) * 2^e); 0xFFFF with M = 0 is infinity
**        M  8 bytes big endian: the fraction bits below the leading 1, left aligned (int64
**           magnitudes need up to 63 bits, doubles 52), so numbers compare by (E, M) exactly
**   0x20 bytes 0x00 0x01      TEXT (UTF-8); every 0x00 byte inside is written 0x00 0xFF
**   0x30 bytes 0x00 0x01      BLOB; same escaping
** The escaping keeps memcmp order: at the first difference, the end of a string (0x00 0x01)
** sorts below an escaped 0x00 (0x00 0xFF), which sorts below any byte >= 0x01.
** There is no magic or checksum: keys live inside engine blocks that carry both.
**
** Decoding validates everything (tags, lengths, escapes, exponent range, canonical numbers) and
** returns LSM_CORRUPT for malformed input without reading past the limit.
** Thread safety: pure functions.
*/
#ifndef LSMVTAB_KEYENC_H
#define LSMVTAB_KEYENC_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"

/* Value types; the numbers equal SQLITE_INTEGER/FLOAT/TEXT/BLOB/NULL. */
enum { KE_INT = 1, KE_FLOAT = 2, KE_TEXT = 3, KE_BLOB = 4, KE_NULL = 5 };

/* A value, borrowed: for TEXT/BLOB p points at n bytes owned by someone else. After ke_decode,
** p points at the ESCAPED bytes inside the key: n is the escaped length, raw_n the length after
** unescaping (equal when there is nothing escaped); use ke_unescape to get the raw bytes. */
typedef struct ke_val {
  int type;
  int64_t i;
  double r;
  const uint8_t *p;
  size_t n;
  size_t raw_n;
} ke_val;

/* Maximum encoded size of a number item. */
#define KE_NUM_LEN 11

/* Append the encoding of v to b. LSM_OK or LSM_NOMEM. */
int ke_encode(cd_buf *b, const ke_val *v);

/* Decode one item from [p, limit): *v is filled (numbers: KE_INT if the value is an integer
** that fits int64, else KE_FLOAT), *next points after the item. LSM_CORRUPT if malformed. */
int ke_decode(const uint8_t *p, const uint8_t *limit, ke_val *v, const uint8_t **next);

/* ke_decode's fast path for the commonest key item, a positive integer 2 <= x < 2^63 (tag
** 0x12, exponent 1..62, no fraction bits below the integer): returns 1 with *v and *next set
** exactly as ke_decode would, 0 for any other item (call ke_decode: it decodes or rejects it). */
static inline int ke_decode_posint(const uint8_t *p, const uint8_t *limit, ke_val *v,
                                   const uint8_t **next) {
  if (limit - p < KE_NUM_LEN || p[0] != 0x12) return 0;
  int e = (int)((unsigned)p[1] << 8 | p[2]) - 0x4000;
  uint64_t frac = (uint64_t)p[3] << 56 | (uint64_t)p[4] << 48 | (uint64_t)p[5] << 40 |
                  (uint64_t)p[6] << 32 | (uint64_t)p[7] << 24 | (uint64_t)p[8] << 16 |
                  (uint64_t)p[9] << 8 | (uint64_t)p[10];
  if (e < 1 || e > 62 || (frac << e) != 0) return 0;
  v->type = KE_INT;
  v->i = (int64_t)(((uint64_t)1 << e) | (frac >> (64 - e)));
  v->r = (double)v->i;
  v->p = NULL;
  v->n = v->raw_n = 0;
  *next = p + KE_NUM_LEN;
  return 1;
}

/* Copy the raw (unescaped) bytes of a decoded TEXT/BLOB into dst (room for v->raw_n bytes). */
void ke_unescape(const ke_val *v, uint8_t *dst);

/* The smallest byte string greater than every string having `k` as a prefix: strips trailing
** 0xFF bytes and increments the last byte; *n is updated. Returns 0 if there is none (all
** bytes 0xFF or empty: no upper bound). Works in place. */
int ke_prefix_successor(uint8_t *k, size_t *n);

#endif
