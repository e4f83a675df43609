/*
** record.c — the row record; see record.h for the format.
*/
#include "record.h"

#include <string.h>

#include "status.h"

int rec_encode(cd_buf *b, int nkey, const uint8_t *key_real, int ncol, const ke_val *vals) {
  /* One reservation for the worst case, then plain stores: this runs for every written row. */
  size_t need = 1 + CD_MAX_VARINT32 + (size_t)nkey + CD_MAX_VARINT32;
  for (int i = 0; i < ncol; i++) {
    const ke_val *v = &vals[i];
    switch (v->type) {
    case KE_NULL:
    case KE_INT:
    case KE_FLOAT: need += 1 + CD_MAX_VARINT64; break;
    case KE_TEXT:
    case KE_BLOB:
      if (v->n > UINT32_MAX) return st_err(LSM_TOOBIG, "record: value too large");
      need += 1 + CD_MAX_VARINT32 + v->n;
      break;
    default: return st_err(LSM_MISUSE, "rec_encode: bad value type %d", v->type);
    }
  }
  int rc = cd_buf_reserve(b, need);
  if (rc) return rc;
  uint8_t *p = b->p + b->n;
  *p++ = REC_VERSION;
  p = cd_put_varint32(p, (uint32_t)nkey);
  for (int i = 0; i < nkey; i++) *p++ = key_real[i] ? 1 : 0;
  p = cd_put_varint32(p, (uint32_t)ncol);
  for (int i = 0; i < ncol; i++) {
    const ke_val *v = &vals[i];
    switch (v->type) {
    case KE_NULL: *p++ = 0; break;
    case KE_INT:
      *p++ = 1;
      p = cd_put_varint64(p, ((uint64_t)v->i << 1) ^ (uint64_t)(v->i >> 63));
      break;
    case KE_FLOAT: {
      uint64_t bits;
      memcpy(&bits, &v->r, 8);
      *p++ = 2;
      cd_put_fixed64(p, bits);
      p += 8;
      break;
    }
    default: /* KE_TEXT, KE_BLOB (checked above) */
      *p++ = v->type == KE_TEXT ? 3 : 4;
      p = cd_put_varint32(p, (uint32_t)v->n);
      if (v->n) memcpy(p, v->p, v->n);
      p += v->n;
      break;
    }
  }
  b->n = (size_t)(p - b->p);
  return LSM_OK;
}

/* A varint32 whose one-byte form (every count and most lengths) needs no call. */
static inline const uint8_t *get_v32(const uint8_t *p, const uint8_t *end, uint32_t *v) {
  if (p < end && *p < 0x80) {
    *v = *p;
    return p + 1;
  }
  return cd_get_varint32(p, end, v);
}

/* The header: version, key flags; returns the position of the column count, or NULL. */
static const uint8_t *rec_header(const uint8_t *p, const uint8_t *end, int nkey, uint8_t *key_real,
                                 int *rc) {
  uint32_t cnt;
  if (p >= end || p[0] != REC_VERSION) {
    *rc = ST_CORRUPT("record: bad version %d", p < end ? p[0] : -1);
    return NULL;
  }
  p++;
  if (!(p = get_v32(p, end, &cnt)) || cnt != (uint32_t)nkey) {
    *rc = ST_CORRUPT("record: bad key column count");
    return NULL;
  }
  if ((size_t)(end - p) < cnt) {
    *rc = ST_CORRUPT("record: truncated key flags");
    return NULL;
  }
  for (int i = 0; i < nkey; i++) {
    if (p[i] > 1) {
      *rc = ST_CORRUPT("record: bad key flag %d", p[i]);
      return NULL;
    }
    key_real[i] = p[i];
  }
  return p + nkey;
}

int rec_key_flags(const uint8_t *p, size_t n, int nkey, uint8_t *key_real, size_t *hdr) {
  int rc = LSM_OK;
  const uint8_t *q = rec_header(p, p + n, nkey, key_real, &rc);
  if (!q) return rc;
  *hdr = (size_t)(q - p);
  return LSM_OK;
}

int rec_decode(const uint8_t *p, size_t n, int nkey, uint8_t *key_real, int ncol, ke_val *vals) {
  int rc = LSM_OK;
  const uint8_t *q = rec_header(p, p + n, nkey, key_real, &rc);
  if (!q) return rc;
  return rec_decode_values(q, n - (size_t)(q - p), ncol, vals);
}

int rec_decode_values(const uint8_t *p, size_t n, int ncol, ke_val *vals) {
  const uint8_t *end = p + n;
  uint32_t cnt;
  if (!(p = get_v32(p, end, &cnt)) || cnt != (uint32_t)ncol)
    return ST_CORRUPT("record: bad column count");
  for (int i = 0; i < ncol; i++) {
    ke_val *v = &vals[i];
    if (p >= end) return ST_CORRUPT("record: truncated");
    int t = *p++;
    switch (t) {
    case 0: v->type = KE_NULL; break;
    case 1: {
      uint64_t z;
      if (!(p = cd_get_varint64(p, end, &z))) return ST_CORRUPT("record: bad integer");
      v->type = KE_INT;
      v->i = (int64_t)((z >> 1) ^ (0 - (z & 1)));
      break;
    }
    case 2: {
      if (end - p < 8) return ST_CORRUPT("record: truncated real");
      uint64_t bits = cd_get_fixed64(p);
      memcpy(&v->r, &bits, 8);
      v->type = KE_FLOAT;
      p += 8;
      break;
    }
    case 3:
    case 4: {
      uint32_t len;
      if (!(p = get_v32(p, end, &len))) return ST_CORRUPT("record: bad length");
      if ((size_t)(end - p) < len) return ST_CORRUPT("record: truncated string");
      v->type = t == 3 ? KE_TEXT : KE_BLOB;
      v->p = p;
      v->n = v->raw_n = len;
      p += len;
      break;
    }
    default: return ST_CORRUPT("record: bad value type %d", t);
    }
  }
  if (p != end) return ST_CORRUPT("record: %zu trailing bytes", (size_t)(end - p));
  return LSM_OK;
}
