/* Fuzz target: block decoding (block.h). Byte 0 bit 0 selects the input form: 0 = a raw block
** (blk_parse + iterate), 1 = a stored block, contents + 5-byte trailer (blk_unseal: checksum,
** type, zstd; then the same). The iterator walks forward and backward and seeks to a key made of
** the last 8 input bytes. Malformed input must give LSM_CORRUPT, never a bad read. */
#include "block.h"
#include "fuzz_common.h"
#include "mm.h"

#include <string.h>

static void fb_walk(const blk_block *b) {
  blk_iter it;
  blk_iter_init(&it, b, it_bytes_cmp, 0);
  unsigned h = 0;
  int n = 0;
  for (it_seek_first(&it.base); it_valid(&it.base) && n < 100000; it_next(&it.base), n++) {
    const uint8_t *k, *v;
    size_t kn, vn;
    it_key(&it.base, &k, &kn);
    it_value(&it.base, &v, &vn);
    h += fz_touch(k, kn) + fz_touch(v, vn);
  }
  n = 0;
  for (it_seek_last(&it.base); it_valid(&it.base) && n < 100000; it_prev(&it.base), n++) {
    const uint8_t *k;
    size_t kn;
    it_key(&it.base, &k, &kn);
    h += fz_touch(k, kn);
  }
  size_t sk = b->size < 8 ? b->size : 8;
  it_seek(&it.base, b->data + b->size - sk, sk);
  if (it_valid(&it.base)) it_next(&it.base);
  (void)it_status(&it.base);
  blk_iter_fini(&it);
  (void)h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int stored = data[0] & 1;
  data++, size--;
  /* copy: the decoder must not read past the end of exactly this many bytes */
  uint8_t *p = malloc(size ? size : 1);
  if (!p) return 0;
  memcpy(p, data, size);
  const uint8_t *raw = p;
  size_t rawn = size;
  uint8_t *alloc = NULL;
  int rc = LSM_OK;
  if (stored) rc = size >= BLK_TRAILER ? blk_unseal(p, size - BLK_TRAILER, &raw, &rawn, &alloc) : LSM_CORRUPT;
  blk_block b;
  if (!rc && blk_parse(raw, rawn, &b) == LSM_OK) fb_walk(&b);
  mm_free(alloc);
  free(p);
  return 0;
}
