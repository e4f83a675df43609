#include "ikey.h"

#include "iter.h"

int it_bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  size_t m = an < bn ? an : bn;
  int c = m ? memcmp(a, b, m) : 0;
  if (c) return c;
  return an < bn ? -1 : an > bn ? 1 : 0;
}

int ikey_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  int c = it_bytes_cmp(a, an - IKEY_TRAILER, b, bn - IKEY_TRAILER);
  if (c) return c;
  uint64_t ta = cd_get_fixed64(a + an - 8), tb = cd_get_fixed64(b + bn - 8);
  /* newer (larger seq, then larger type) first */
  return ta > tb ? -1 : ta < tb ? 1 : 0;
}
