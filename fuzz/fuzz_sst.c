/* Fuzz target: a whole SST file (sst.h): footer, index, filter and properties at open, then
** iteration both ways, point lookups of a few keys, and sst_verify. Every failure must be
** LSM_CORRUPT (or IO/NOMEM), never a crash or a read outside the buffers. */
#include "fuzz_common.h"
#include "ikey.h"
#include "mm.h"
#include "sst.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fz_memfile(data, size, path, sizeof path);
  if (fd < 0) return 0;
  sst_reader *r = NULL;
  if (sst_open(fz_env(), path, 1, NULL, &r) == LSM_OK) {
    it_iter *it = NULL;
    unsigned h = 0;
    cd_buf keys[3];
    int nk = 0;
    if (sst_iter_new(r, data[0] & 1 ? 4096 : 0, &it) == LSM_OK) {
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
  return 0;
}
