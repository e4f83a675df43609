/* Fuzz target: key and record encoding of the SQL layer (ext/keyenc.h, ext/record.h). Byte 0
** picks the record shape (nkey 0..3, ncol 1..8). The rest is decoded as a sequence of key items
** (each decoded item must re-encode to exactly its input bytes: the encoding is canonical, so
** memcmp order is value order) and as a record. Nothing may be read past the input. */
#include <string.h>

#include "../ext/keyenc.h"
#include "../ext/record.h"
#include "fuzz_common.h"
#include "mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int nkey = data[0] & 3, ncol = 1 + ((data[0] >> 2) & 7);
  data++, size--;
  uint8_t *p = malloc(size ? size : 1);
  if (!p) return 0;
  memcpy(p, data, size);
  const uint8_t *q = p, *end = p + size;
  cd_buf b = {0};
  for (int items = 0; q < end && items < 1000; items++) {
    ke_val v;
    const uint8_t *next;
    if (ke_decode(q, end, &v, &next) != LSM_OK) break;
    if (next <= q || next > end) abort();
    if (v.type == KE_TEXT || v.type == KE_BLOB) {
      uint8_t *raw = malloc(v.raw_n ? v.raw_n : 1);
      if (!raw) break;
      ke_unescape(&v, raw);
      ke_val w = v;
      w.p = raw;
      w.n = v.raw_n;
      cd_buf_clear(&b);
      if (ke_encode(&b, &w) == LSM_OK && (b.n != (size_t)(next - q) || memcmp(b.p, q, b.n))) abort();
      free(raw);
    } else {
      cd_buf_clear(&b);
      if (ke_encode(&b, &v) == LSM_OK && (b.n != (size_t)(next - q) || memcmp(b.p, q, b.n))) abort();
    }
    q = next;
  }
  uint8_t kr[4];
  ke_val vals[8];
  if (rec_decode(p, size, nkey, kr, ncol, vals) == LSM_OK) {
    cd_buf_clear(&b);
    if (rec_encode(&b, nkey, kr, ncol, vals) == LSM_OK) {
      ke_val again[8];
      uint8_t kr2[4];
      if (rec_decode(b.p, b.n, nkey, kr2, ncol, again) != LSM_OK) abort();
    }
  }
  cd_buf_free(&b);
  free(p);
  return 0;
}
