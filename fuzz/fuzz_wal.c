/* Fuzz target: WAL recovery (wal.h + batch.h + memtable.h): a log file is read record by record
** with the torn-tail / corruption rules, and every payload is applied to a memtable the way
** recovery replays it. Everything malformed must end in LSM_CORRUPT (or a dropped torn tail). */
#include "batch.h"
#include "fuzz_common.h"
#include "memtable.h"
#include "wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fz_memfile(data, size, path, sizeof path);
  if (fd < 0) return 0;
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
  return 0;
}
