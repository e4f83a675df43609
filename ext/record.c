/*
** record.c — the row record; see record.h for the format.
*/
#include "record.h"

#include <string.h>

#include "status.h"

int rec_encode(cd_buf *b, int nkey, const uint8_t *key_real, int ncol, const ke_val *vals) {
  int rc = cd_buf_append(b, "\x01", 1);
  if (!rc) rc = cd_buf_put_varint32(b, (uint32_t)nkey);
  for (int i = 0; !rc && i < nkey; i++) {
    uint8_t f = key_real[i] ? 1 : 0;
    rc = cd_buf_append(b, &f, 1);
  }
  if (!rc) rc = cd_buf_put_varint32(b, (uint32_t)ncol);
  for (int i = 0; !rc && i < ncol; i++) {
    const ke_val *v = &vals[i];
    uint8_t t;
    switch (v->type) {
    case KE_NULL: t = 0; rc = cd_buf_append(b, &t, 1); break;
    case KE_INT:
      t = 1;
      rc = cd_buf_append(b, &t, 1);
      if (!rc) rc = cd_buf_put_varint64(b, ((uint64_t)v->i << 1) ^ (uint64_t)(v->i >> 63));
      break;
    case KE_FLOAT: {
      uint64_t bits;
      memcpy(&bits, &v->r, 8);
      t = 2;
      rc = cd_buf_append(b, &t, 1);
      if (!rc) rc = cd_buf_put_fixed64(b, bits);
      break;
    }
    case KE_TEXT:
    case KE_BLOB:
      if (v->n > UINT32_MAX) return st_err(LSM_TOOBIG, "record: value too large");
      t = v->type == KE_TEXT ? 3 : 4;
      rc = cd_buf_append(b, &t, 1);
      if (!rc) rc = cd_buf_put_varint32(b, (uint32_t)v->n);
      if (!rc) rc = cd_buf_append(b, v->p, v->n);
      break;
    default: return st_err(LSM_MISUSE, "rec_encode: bad value type %d", v->type);
    }
  }
  return rc;
}

int rec_decode(const uint8_t *p, size_t n, int nkey, uint8_t *key_real, int ncol, ke_val *vals) {
  const uint8_t *end = p + n;
  uint32_t cnt;
  if (n < 1 || p[0] != REC_VERSION)
    return ST_CORRUPT("record: bad version %d", n ? p[0] : -1);
  p++;
  if (!(p = cd_get_varint32(p, end, &cnt)) || cnt != (uint32_t)nkey)
    return ST_CORRUPT("record: bad key column count");
  if ((size_t)(end - p) < cnt) return ST_CORRUPT("record: truncated key flags");
  for (int i = 0; i < nkey; i++) {
    if (p[i] > 1) return ST_CORRUPT("record: bad key flag %d", p[i]);
    key_real[i] = p[i];
  }
  p += nkey;
  if (!(p = cd_get_varint32(p, end, &cnt)) || cnt != (uint32_t)ncol)
    return ST_CORRUPT("record: bad column count");
  for (int i = 0; i < ncol; i++) {
    ke_val *v = &vals[i];
    memset(v, 0, sizeof *v);
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
      if (!(p = cd_get_varint32(p, end, &len))) return ST_CORRUPT("record: bad length");
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
