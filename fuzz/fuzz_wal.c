/* Fuzz target: WAL recovery (wal.h + batch.h + memtable.h): a log file is read record by record
** with the torn-tail / corruption rules, and every payload is applied to a memtable the way
** recovery replays it. Everything malformed must end in LSM_CORRUPT (or a dropped torn tail). */
#include "batch.h"
#include "coding.h"
#include "fuzz_common.h"
#include "memtable.h"
#include "wal.h"

#include <string.h>

/* Repair the header checksum and every record's lcheck and checksum (as far as the lengths
** chain inside the file). */
static void fw_fix(uint8_t *p, size_t n) {
  if (n < WAL_HEADER) return;
  cd_put_fixed64(p + 16, cd_xxh3(p, 16));
  size_t off = WAL_HEADER;
  while (off + WAL_REC_HEADER <= n) {
    uint32_t len = cd_get_fixed32(p + off);
    if (len > n - off - WAL_REC_HEADER) break;
    cd_put_fixed32(p + off + 4, cd_xxh3_32(p + off, 4));
    /* xxh3 of (the 4 length bytes + the payload): hash a contiguous copy */
    uint8_t *tmp = malloc((size_t)len + 4);
    if (!tmp) break;
    memcpy(tmp, p + off, 4);
    memcpy(tmp + 4, p + off + WAL_REC_HEADER, len);
    cd_put_fixed64(p + off + 8, cd_xxh3(tmp, (size_t)len + 4));
    free(tmp);
    off += WAL_REC_HEADER + len;
  }
}

static void fw_run(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fw_run(data, size);
  uint8_t *fixed = malloc(size ? size : 1);
  if (!fixed) return 0;
  memcpy(fixed, data, size);
  fw_fix(fixed, size);
  if (memcmp(fixed, data, size)) fw_run(fixed, size);
  free(fixed);
  return 0;
}

static void fw_run(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fz_memfile(data, size, path, sizeof path);
  if (fd < 0) return;
  wal_reader *r = NULL;
  mem *m = NULL;
  if (wal_open_read(fz_env(), path, &r) == LSM_OK && mem_new(&m) == LSM_OK) {
    const uint8_t *p;
    size_t n;
    int recs = 0;
    while (recs < 10000 && wal_next(r, &p, &n) == LSM_OK) {
      recs++;
      if (wb_apply_to_memtable(p, n, m) != LSM_OK) break;
    }
    (void)wal_dropped(r);
    (void)wal_good_end(r);
    it_iter *it = NULL;
    if (mem_iter_new(m, &it) == LSM_OK) {
      unsigned h = 0;
      for (it_seek_first(it); it_valid(it); it_next(it)) {
        const uint8_t *k;
        size_t kn;
        it_key(it, &k, &kn);
        h += fz_touch(k, kn);
      }
      it_free(it);
      (void)h;
    }
  }
  mem_unref(m);
  wal_close_read(r);
  close(fd);
}
