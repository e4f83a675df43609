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

#endif
