/* Fuzz target: a whole SST file (sst.h): footer, index, filter and properties at open, then
** iteration both ways, point lookups of a few keys, and sst_verify. Every failure must be
** LSM_CORRUPT (or IO/NOMEM), never a crash or a read outside the buffers. */
#include "fuzz_common.h"
#include "ikey.h"
#include "mm.h"
#include "sst.h"

#include <string.h>

/* Recompute the checksum of the stored block at off (contents sz bytes + trailer), if inside. */
static void fs_fix_block(uint8_t *p, size_t n, uint64_t off, uint64_t sz) {
  if ((off == 0 && sz == 0) || off > n || sz > n - off || n - off - sz < BLK_TRAILER) return; /* 0/0: absent */
  cd_put_fixed32(p + off + sz + 1, cd_xxh3_32(p + off, (size_t)sz + 1));
}

/* Repair every checksum of an SST image: the meta blocks named by the footer, every data block
** named by the index, and the footer's own. */
static void fs_fix(uint8_t *p, size_t n) {
  if (n < SST_FOOTER) return;
  uint8_t *f = p + n - SST_FOOTER;
  for (int h = 0; h < 3; h++) fs_fix_block(p, n - SST_FOOTER, cd_get_fixed64(f + 16 * h), cd_get_fixed64(f + 16 * h + 8));
  uint64_t ioff = cd_get_fixed64(f), isz = cd_get_fixed64(f + 8);
  if (ioff <= n - SST_FOOTER && isz <= n - SST_FOOTER - ioff && n - SST_FOOTER - ioff - isz >= BLK_TRAILER &&
      p[ioff + isz] == BLK_NONE) {
    blk_block b;
    if (blk_parse(p + ioff, (size_t)isz, &b) == LSM_OK) {
      blk_iter it;
      blk_iter_init(&it, &b, it_bytes_cmp, 0);
      int k = 0;
      for (it_seek_first(&it.base); it_valid(&it.base) && k < 100000; it_next(&it.base), k++) {
        const uint8_t *v;
        size_t vn;
        it_value(&it.base, &v, &vn);
        uint64_t off, sz;
        const uint8_t *q = cd_get_varint64(v, v + vn, &off);
        if (q && cd_get_varint64(q, v + vn, &sz)) fs_fix_block(p, n - SST_FOOTER, off, sz);
      }
      blk_iter_fini(&it);
    }
  }
  cd_put_fixed32(f + 52, cd_xxh3_32(f, 52));
}

static void fs_run(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fs_run(data, size);
  uint8_t *fixed = malloc(size ? size : 1);
  if (!fixed) return 0;
  memcpy(fixed, data, size);
  fs_fix(fixed, size);
  if (memcmp(fixed, data, size)) fs_run(fixed, size);
  free(fixed);
  return 0;
}

static void fs_run(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fz_memfile(data, size, path, sizeof path);
  if (fd < 0) return;
  sst_reader *r = NULL;
  if (sst_open(fz_env(), path, 1, NULL, &r) == LSM_OK) {
    it_iter *it = NULL;
    unsigned h = 0;
    cd_buf keys[3];
    int nk = 0;
    if (sst_iter_new(r, size & 1 ? 4096 : 0, &it) == LSM_OK) {
      int n = 0;
      for (it_seek_first(it); it_valid(it) && n < 100000; it_next(it), n++) {
        const uint8_t *k, *v;
        size_t kn, vn;
        it_key(it, &k, &kn);
        it_value(it, &v, &vn);
        h += fz_touch(k, kn) + fz_touch(v, vn);
        if (nk < 3 && (n == 0 || n == 5 || n == 50)) {
          memset(&keys[nk], 0, sizeof keys[nk]);
          if (cd_buf_append(&keys[nk], k, kn)) cd_buf_free(&keys[nk]);
          else nk++;
        }
      }
      n = 0;
      for (it_seek_last(it); it_valid(it) && n < 100000; it_prev(it), n++) {
        const uint8_t *k;
        size_t kn;
        it_key(it, &k, &kn);
        h += fz_touch(k, kn);
      }
      it_free(it);
    }
    for (int i = 0; i < nk; i++) {
      cd_buf fk = {0}, fv = {0};
      if (keys[i].n >= IKEY_TRAILER) sst_get(r, keys[i].p, keys[i].n, &fk, &fv);
      cd_buf_free(&fk);
      cd_buf_free(&fv);
      cd_buf_free(&keys[i]);
    }
    char *rep = NULL;
    sst_verify(r, &rep);
    mm_free(rep);
    sst_close(r);
    (void)h;
  }
  close(fd);
}
