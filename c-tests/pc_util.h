/* pc_util.h — page-cache helpers shared by c-tests (header-only: static). Include after
** <cmocka.h> (the helpers assert) and <sys/types.h>.
**
** Eviction is confirmed with mincore on a mapping, never with a cache-only read: a
** preadv2(RWF_NOWAIT) that misses starts the kernel's read of what it missed, which re-warms the
** file, and on a VM whose device completes inside the call it returns the bytes (no miss seen). */
#ifndef LSMVTAB_PC_UTIL_H
#define LSMVTAB_PC_UTIL_H

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether no page of [off, off + n) is in the page cache (mincore through a mapping); drop:
** ask the kernel to drop them first. */
static int pc_gone(int fd, off_t off, off_t n, int drop) {
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  assert_true(m != MAP_FAILED);
  if (drop) {
    assert_int_equal(fdatasync(fd), 0);
    assert_int_equal(posix_fadvise(fd, off, n, POSIX_FADV_DONTNEED), 0);
  }
  size_t pg = (size_t)sysconf(_SC_PAGESIZE), np = ((size_t)st.st_size + pg - 1) / pg;
  unsigned char *v = malloc(np);
  assert_int_equal(mincore(m, (size_t)st.st_size, v), 0);
  int gone = 1;
  for (size_t i = (size_t)off / pg; i < ((size_t)(off + n) + pg - 1) / pg && i < np; i++)
    if (v[i] & 1) gone = 0;
  free(v);
  munmap(m, (size_t)st.st_size);
  return gone;
}

/* Drop [off, off+n) of fd's file from the page cache (clean pages: the file was synced). Returns 1 if
** mincore confirms every page of the range is gone, 0 if the pages stay (tmpfs keeps them; on a
** disk filesystem a page can be briefly pinned, e.g. still in another CPU's LRU batch or read
** by the kernel, and POSIX_FADV_DONTNEED skips it: retried a few times before giving up).
** The file is mapped (for mincore) before the pages are dropped: valgrind reads the head of every
** file mapped, to look for debug info, which would bring pages back in after the drop. */
static int pc_evict(int fd, off_t off, off_t n) {
  for (int i = 0; i < 50; i++) {
    if (pc_gone(fd, off, n, 1)) return 1;
    usleep(2000);
  }
  return 0;
}

#endif
