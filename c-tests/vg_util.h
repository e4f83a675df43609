/* vg_util.h: is this test binary running under valgrind?
**
** Under valgrind memcheck (make valgrind) a test runs ~30-50x slower, so tests scale their long
** loops down when vg_running() says so, the way they already do under ASan. Detection: the
** client request RUNNING_ON_VALGRIND when <valgrind/valgrind.h> is installed (it is a no-op
** instruction sequence natively), and in any case the env var LSMVTAB_VALGRIND=1 that
** scripts/run-tests.sh exports when VALGRIND=1. Natively, without that variable, vg_running()
** is 0 and every test behaves exactly as before.
**
** Valgrind also computes `long double` at 64-bit (double) precision, while SQLite compares an
** integer with a real by converting the integer to long double (80-bit on x86-64, exact for
** every int64). Under valgrind that comparison is wrong when both magnitudes are >= 2^53, so
** oracles built on it skip such pairs there (and say how many they skipped). */
#ifndef VG_UTIL_H
#define VG_UTIL_H

#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define VG_HAVE_CLIENT_REQ 1
#endif
#endif

static inline int vg_running(void) {
  const char *e = getenv("LSMVTAB_VALGRIND");
  if (e && *e && strcmp(e, "0") != 0) return 1;
#ifdef VG_HAVE_CLIENT_REQ
  if (RUNNING_ON_VALGRIND) return 1;
#endif
  return 0;
}

/* Under valgrind, touch the next 256 KiB of this thread's stack first: valgrind grows a stack
** on the faults of ordinary accesses but cannot grow it while it delivers a signal ("Can't
** extend stack ... during signal delivery"), so a test whose code takes a SIGBUS deep in a call
** chain (the mapguard's) calls this at its start. No-op natively. */
__attribute__((unused, noinline)) static void vg_grow_stack(void) {
  if (!vg_running()) return;
  volatile char pad[256 << 10];
  for (size_t i = 0; i < sizeof pad; i += 1024) pad[i] = 0;
}

/* n scaled down by div under valgrind (at least 1); n unchanged otherwise. */
static inline long vg_scale(long n, long div) {
  if (!vg_running()) return n;
  n /= div;
  return n > 0 ? n : 1;
}

#endif
