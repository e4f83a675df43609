/*
** keyenc.c — order-preserving key encoding; see keyenc.h for the format.
*/
#include "keyenc.h"

#include <math.h>
#include <string.h>

#include "status.h"

#define TAG_NULL 0x05
#define TAG_NEG 0x10
#define TAG_ZERO 0x11
#define TAG_POS 0x12
#define TAG_TEXT 0x20
#define TAG_BLOB 0x30
#define EXP_BIAS 0x4000
#define EXP_INF 0xFFFF

/* Append a number given as sign, exponent and left-aligned fraction bits. */
static int put_num(cd_buf *b, int neg, int e, uint64_t frac) {
  int rc = cd_buf_reserve(b, KE_NUM_LEN);
  if (rc) return rc;
  uint8_t *p = b->p + b->n;
  uint16_t ex = e == EXP_INF ? (uint16_t)EXP_INF : (uint16_t)(e + EXP_BIAS);
  p[0] = neg ? TAG_NEG : TAG_POS;
  p[1] = (uint8_t)(ex >> 8);
  p[2] = (uint8_t)ex;
  for (int i = 0; i < 8; i++) p[3 + i] = (uint8_t)(frac >> (56 - 8 * i));
  if (neg)
    for (int i = 1; i < KE_NUM_LEN; i++) p[i] = (uint8_t)~p[i];
  b->n += KE_NUM_LEN;
  return LSM_OK;
}

static int put_int(cd_buf *b, int64_t v) {
  if (v == 0) return cd_buf_append(b, "\x11", 1);
  int neg = v < 0;
  /* magnitude as unsigned: -INT64_MIN overflows int64 but not uint64 */
  uint64_t m = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  int e = 63 - __builtin_clzll(m);
  uint64_t frac = e == 0 ? 0 : m << (64 - e); /* drops the leading 1 */
  return put_num(b, neg, e, frac);
}

static int put_real(cd_buf *b, double d) {
  if (isnan(d)) return cd_buf_append(b, "\x05", 1);
  if (d == 0) return cd_buf_append(b, "\x11", 1);
  int neg = d < 0;
  if (isinf(d)) return put_num(b, neg, EXP_INF, 0);
  int ex;
  double f = frexp(fabs(d), &ex); /* |d| = f * 2^ex, f in [0.5, 1) */
  /* 53 significant bits as an integer in [2^52, 2^53): exact, even for subnormals (which just
  ** have trailing zeros here) */
  uint64_t m = (uint64_t)ldexp(f, 53);
  uint64_t frac = m << 12; /* bit 52 (the leading 1) shifts out; 52 fraction bits left aligned */
  return put_num(b, neg, ex - 1, frac);
}

static int put_bytes(cd_buf *b, int tag, const uint8_t *p, size_t n) {
  size_t zeros = 0;
  for (size_t i = 0; i < n; i++) zeros += p[i] == 0;
  int rc = cd_buf_reserve(b, 1 + n + zeros + 2);
  if (rc) return rc;
  uint8_t *o = b->p + b->n;
  *o++ = (uint8_t)tag;
  if (zeros == 0) {
    if (n) memcpy(o, p, n);
    o += n;
  } else {
    for (size_t i = 0; i < n; i++) {
      *o++ = p[i];
      if (p[i] == 0) *o++ = 0xFF;
    }
  }
  *o++ = 0x00;
  *o++ = 0x01;
  b->n = (size_t)(o - b->p);
  return LSM_OK;
}

int ke_encode(cd_buf *b, const ke_val *v) {
  switch (v->type) {
  case KE_INT: return put_int(b, v->i);
  case KE_FLOAT: return put_real(b, v->r);
  case KE_TEXT: return put_bytes(b, TAG_TEXT, v->p, v->n);
  case KE_BLOB: return put_bytes(b, TAG_BLOB, v->p, v->n);
  case KE_NULL: return cd_buf_append(b, "\x05", 1);
  default: return st_err(LSM_MISUSE, "ke_encode: bad value type %d", v->type);
  }
}

/* Decode a number item body (after the tag). */
static int get_num(const uint8_t *p, int neg, ke_val *v) {
  /* big-endian loads written out so the compiler makes them single loads + byte swaps (this
  ** runs for every numeric key column of every row a scan returns) */
  unsigned ex = (unsigned)p[0] << 8 | p[1];
  uint64_t frac = (uint64_t)p[2] << 56 | (uint64_t)p[3] << 48 | (uint64_t)p[4] << 40 |
                  (uint64_t)p[5] << 32 | (uint64_t)p[6] << 24 | (uint64_t)p[7] << 16 |
                  (uint64_t)p[8] << 8 | (uint64_t)p[9];
  if (neg) {
    ex ^= 0xFFFF;
    frac = ~frac;
  }
  if (ex == EXP_INF) {
    if (frac) return ST_CORRUPT("key: bad infinity");
    v->type = KE_FLOAT;
    v->r = neg ? -INFINITY : INFINITY;
    return LSM_OK;
  }
  int e = (int)ex - EXP_BIAS;
  if (e < -1074 || e > 1023) return ST_CORRUPT("key: number exponent %d out of range", e);
  /* An integer that fits int64? (|x| < 2^63, or exactly 2^63 when negative.) */
  if (e >= 0 && e <= 63 && (e == 0 ? frac == 0 : (frac << e) == 0) &&
      (e < 63 || (neg && frac == 0))) {
    uint64_t m = ((uint64_t)1 << e) | (e == 0 ? 0 : frac >> (64 - e));
    v->type = KE_INT;
    v->i = neg ? (int64_t)((uint64_t)0 - m) : (int64_t)m;
    v->r = (double)v->i;
    return LSM_OK;
  }
  /* Otherwise it must be a double, exactly: at most 52 fraction bits, fewer for subnormals. */
  if (frac & 0xFFF) return ST_CORRUPT("key: number not representable");
  uint64_t m = ((uint64_t)1 << 52) | (frac >> 12);
  if (e < -1022) {
    int lost = -1022 - e; /* low bits a subnormal cannot hold */
    if (lost > 52 || (m & (((uint64_t)1 << lost) - 1))) return ST_CORRUPT("key: bad subnormal");
  }
  double d = ldexp((double)m, e - 52);
  v->type = KE_FLOAT;
  v->r = neg ? -d : d;
  return LSM_OK;
}

int ke_decode(const uint8_t *p, const uint8_t *limit, ke_val *v, const uint8_t **next) {
  memset(v, 0, sizeof *v);
  if (p >= limit) return ST_CORRUPT("key: truncated");
  int tag = *p++;
  switch (tag) {
  case TAG_NULL: v->type = KE_NULL; break;
  case TAG_ZERO: v->type = KE_INT; v->i = 0; break;
  case TAG_NEG:
  case TAG_POS: {
    if (limit - p < KE_NUM_LEN - 1) return ST_CORRUPT("key: truncated number");
    int rc = get_num(p, tag == TAG_NEG, v);
    if (rc) return rc;
    p += KE_NUM_LEN - 1;
    break;
  }
  case TAG_TEXT:
  case TAG_BLOB: {
    const uint8_t *s = p;
    size_t raw = 0;
    for (;;) {
      if (p >= limit) return ST_CORRUPT("key: unterminated string");
      if (*p != 0) { p++; raw++; continue; }
      if (limit - p < 2) return ST_CORRUPT("key: truncated escape");
      if (p[1] == 0x01) break;
      if (p[1] != 0xFF) return ST_CORRUPT("key: bad escape 0x%02x", p[1]);
      p += 2;
      raw++;
    }
    v->type = tag == TAG_TEXT ? KE_TEXT : KE_BLOB;
    v->p = s;
    v->n = (size_t)(p - s);
    v->raw_n = raw;
    p += 2;
    break;
  }
  default: return ST_CORRUPT("key: unknown tag 0x%02x", tag);
  }
  *next = p;
  return LSM_OK;
}

void ke_unescape(const ke_val *v, uint8_t *dst) {
  if (v->raw_n == v->n) {
    if (v->n) memcpy(dst, v->p, v->n);
    return;
  }
  for (size_t i = 0; i < v->n; i++) {
    *dst++ = v->p[i];
    if (v->p[i] == 0) i++; /* skip the 0xFF of the escape */
  }
}

int ke_prefix_successor(uint8_t *k, size_t *n) {
  size_t m = *n;
  while (m > 0 && k[m - 1] == 0xFF) m--;
  if (m == 0) return 0;
  k[m - 1]++;
  *n = m;
  return 1;
}
