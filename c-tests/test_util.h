/* test_util.h — small helpers shared by several c-tests (header-only: static, not linked into
** every test). Include after <stdint.h>.
**
** rnd(): xorshift64 (13, 7, 17) over the file-static state rng. Each test seeds rng itself
** (nonzero, e.g. seed | 1) and prints the seed on failure; the sequence is the one the tests
** had when each carried its own copy, so seeds reproduce the same runs.
** tu_count_files(): files of a directory with a given suffix. */
#ifndef LSMVTAB_TEST_UTIL_H
#define LSMVTAB_TEST_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <string.h>

__attribute__((unused)) static uint64_t rng;

static inline uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Files in directory dir whose names end with suffix (0 when dir cannot be read). */
__attribute__((unused)) static int tu_count_files(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  int n = 0;
  size_t sl = strlen(suffix);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len > sl && !strcmp(e->d_name + len - sl, suffix)) n++;
  }
  if (d) closedir(d);
  return n;
}

#endif
