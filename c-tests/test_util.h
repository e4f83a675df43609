/* test_util.h — small helpers shared by several c-tests (header-only: static, not linked into
** every test). Include after <stdint.h>.
**
** rnd(): xorshift64 (13, 7, 17) over the file-static state rng. Each test seeds rng itself
** (nonzero, e.g. seed | 1) and prints the seed on failure; the sequence is the one the tests
** had when each carried its own copy, so seeds reproduce the same runs. */
#ifndef LSMVTAB_TEST_UTIL_H
#define LSMVTAB_TEST_UTIL_H

#include <stdint.h>

static uint64_t rng;

static inline uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

#endif
