/* Fuzz target: CREATE VIRTUAL TABLE ... USING lsm(...) arguments (ext/vtopts.h). The input is
** split at '\n' into the module arguments (what SQLite hands xCreate after splitting at
** top-level commas); opt_parse must accept or reject every list with a message, never crash,
** and an accepted table must be self-consistent. */
#include <string.h>

#include "../ext/vtopts.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = 0;
  const char *argv[64];
  int argc = 0;
  char *p = s;
  while (argc < 64) {
    argv[argc++] = p;
    char *nl = strchr(p, '\n');
    if (!nl) break;
    *nl = 0;
    p = nl + 1;
  }
  opt_table t;
  if (opt_parse(argc, argv, &t) == LSM_OK) {
    if (t.ncol < 1 || t.nkey < 0 || t.nkey > t.ncol) abort();
    for (int i = 0; i < t.nkey; i++)
      if (t.key[i] < 0 || t.key[i] >= t.ncol || t.cols[t.key[i]].keypos != i) abort();
    for (int i = 0; i < t.ncol; i++)
      if (!t.cols[i].name || !t.cols[i].type) abort();
    if (lsm_options_validate(&t.lo) != LSM_OK) abort();
    opt_free(&t);
  }
  free(s);
  return 0;
}
