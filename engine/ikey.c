#include "ikey.h"

#include "iter.h"

int it_bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  return it_bytes_cmp_inline(a, an, b, bn);
}

int ikey_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  int c = it_bytes_cmp_inline(a, an - IKEY_TRAILER, b, bn - IKEY_TRAILER);
  if (c) return c;
  uint64_t ta = cd_get_fixed64(a + an - 8), tb = cd_get_fixed64(b + bn - 8);
  /* newer (larger seq, then larger type) first */
  return ta > tb ? -1 : ta < tb ? 1 : 0;
}
