/* mg_util.h — for tests of the mapped read paths (header-only). Include after <cmocka.h>.
**
** cmocka installs its own SIGBUS handler (with signal()) around every test and puts the one
** before back after it: that replaces the engine's mapguard handler, so inside a later test
** mg_ready() says 0 and tables open unmapped (pread), as they would in a host that replaced the
** handler. A test of the mapped paths calls mg_test_own() first: it makes the engine's handler
** (of the engine linked into the test binary, not of a loaded extension) the current one again,
** chaining to cmocka's. */
#ifndef LSMVTAB_MG_UTIL_H
#define LSMVTAB_MG_UTIL_H

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "mapguard.h"

static inline void mg_test_own(void) {
  static struct sigaction ours;
  static int saved;
  if (!saved) {
    assert_int_equal(mg_ready(), 1); /* installs it the first time */
    assert_int_equal(sigaction(SIGBUS, NULL, &ours), 0);
    saved = 1;
  } else {
    assert_int_equal(sigaction(SIGBUS, &ours, NULL), 0);
  }
  assert_int_equal(mg_ready(), 1);
}

/* Table files (.sst) of directory `dir` mapped into this process (/proc/self/maps), or -1. */
static inline int mg_mapped_tables(const char *dir) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return -1;
  char line[4096], want[64];
  snprintf(want, sizeof want, "/%s/", dir);
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, want) && strstr(line, ".sst")) n++;
  fclose(f);
  return n;
}

#endif
