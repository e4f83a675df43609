/* Fuzz target: manifest replay (manifest.h + version.h). Byte 0 bit 0 selects: 0 = one edit
** payload (man_edit_decode, then encode/decode round trip must agree), 1 = a whole MANIFEST file
** read with man_read, each edit applied to a version (ver_apply) as recovery does. */
#include <string.h>

#include "fuzz_common.h"
#include "manifest.h"
#include "mm.h"
#include "version.h"

typedef struct fm_ctx {
  ver_ctx vc;
  ver_version *v;
} fm_ctx;

static int fm_apply(void *arg, const man_edit *e) {
  fm_ctx *c = arg;
  ver_version *nv = NULL;
  int rc = ver_apply(c->v, e, &nv);
  if (rc) return rc;
  ver_unref(c->v);
  c->v = nv;
  return LSM_OK;
}

/* Repair the header checksum and every record's lencheck and checksum (manifest.h layout:
** 16-byte header, records of fixed32 length, fixed32 lencheck, fixed64 xxh3(payload)). */
static void fm_fix(uint8_t *p, size_t n) {
  if (n < 16) return;
  cd_put_fixed32(p + 12, cd_xxh3_32(p, 12));
  size_t off = 16;
  while (off + 16 <= n) {
    uint32_t len = cd_get_fixed32(p + off);
    if (len > n - off - 16) break;
    cd_put_fixed32(p + off + 4, cd_xxh3_32(p + off, 4));
    cd_put_fixed64(p + off + 8, cd_xxh3(p + off + 16, len));
    off += 16 + (size_t)len;
  }
}

static void fm_file(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int file = data[0] & 1;
  data++, size--;
  if (!file) {
    uint8_t *p = malloc(size ? size : 1);
    if (!p) return 0;
    memcpy(p, data, size);
    man_edit e;
    man_edit_init(&e);
    if (man_edit_decode(p, size, &e) == LSM_OK) {
      cd_buf b = {0};
      if (man_edit_encode(&e, &b) == LSM_OK) {
        man_edit e2;
        man_edit_init(&e2);
        /* what was decoded must encode to something that decodes to the same edit */
        /* (an empty edit encodes to no bytes, and b.p is then NULL: nothing to decode) */
        if ((b.n && man_edit_decode(b.p, b.n, &e2) != LSM_OK) || e2.nadd != e.nadd || e2.ndel != e.ndel ||
            e2.log_number != e.log_number || e2.next_file != e.next_file || e2.last_seq != e.last_seq)
          abort();
        man_edit_free(&e2);
      }
      cd_buf_free(&b);
    }
    man_edit_free(&e);
    free(p);
    return 0;
  }
  fm_file(data, size);
  uint8_t *fixed = malloc(size ? size : 1);
  if (!fixed) return 0;
  memcpy(fixed, data, size);
  fm_fix(fixed, size);
  if (memcmp(fixed, data, size)) fm_file(fixed, size);
  free(fixed);
  return 0;
}

static void fm_file(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fz_memfile(data, size, path, sizeof path);
  if (fd < 0) return;
  fm_ctx c;
  memset(&c, 0, sizeof c);
  c.vc.env = fz_env();
  c.vc.dir = "/nonexistent-fuzz-dir";
  if (ver_new_empty(&c.vc, &c.v) == LSM_OK) {
    uint64_t dropped = 0;
    man_read(fz_env(), path, fm_apply, &c, &dropped);
    ver_unref(c.v);
  }
  close(fd);
}
