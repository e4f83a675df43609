/* Fuzz target: the DROPPED marker (ext/dropmark.h). dm_decode must accept or reject every input
** (LSM_CORRUPT with a message), never crash; an accepted marker must encode back to the same
** bytes when it is a version 2 one, and any accepted marker must decode again, after encoding, to
** the same fields. Each input runs twice, as given and with its checksum repaired (where the
** header's lengths place it), so mutations also reach the checks behind the checksum. */
#include <string.h>

#include "../ext/dropmark.h"
#include "coding.h"
#include "fuzz_common.h"

static void one(const uint8_t *data, size_t size) {
  dm_mark m = {0};
  int rc = dm_decode(data, size, &m);
  if (rc != LSM_OK) {
    if (rc != LSM_CORRUPT || m.name || m.db) abort();
    return;
  }
  static uint8_t buf[DM_ENCODED_MAX];
  size_t n = 0;
  if (dm_encode(&m, buf, sizeof buf, &n) != LSM_OK) abort();
  if (cd_get_fixed32(data + 8) == 2 && (n != size || memcmp(buf, data, n))) abort();
  dm_mark back = {0};
  if (dm_decode(buf, n, &back) != LSM_OK) abort();
  if (back.pid != m.pid || back.conn != m.conn || back.dversion != m.dversion ||
      strcmp(back.name, m.name) || strcmp(back.db, m.db ? m.db : ""))
    abort();
  dm_clear(&back);
  dm_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > DM_ENCODED_MAX + 16) return 0;
  one(data, size);
  if (size < 44) return 0;
  uint32_t ver = cd_get_fixed32(data + 8);
  uint64_t body = ver == 1 ? 36 + (uint64_t)cd_get_fixed32(data + 32)
                           : size < 48 ? 0
                                       : 40 + (uint64_t)cd_get_fixed32(data + 32) + cd_get_fixed32(data + 36);
  if (body < 36 || body + 8 != size) return 0;
  uint8_t *copy = malloc(size);
  if (!copy) return 0;
  memcpy(copy, data, size);
  cd_put_fixed64(copy + body, cd_xxh3(copy, (size_t)body));
  one(copy, size);
  free(copy);
  return 0;
}
