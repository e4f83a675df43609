#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One buffer per thread: messages never cross threads. */
static _Thread_local char st_buf[512];

/* Formats into a local buffer first: an argument may be st_errmsg() itself (a caller adding
** context to the previous message), which must not be overwritten while it is read. */
static void st_vset(const char *prefix, const char *fmt, va_list ap) {
  char tmp[sizeof st_buf];
  size_t n = 0;
  if (prefix) {
    int k = snprintf(tmp, sizeof tmp, "%s", prefix);
    n = k < 0 ? 0 : (size_t)k;
    if (n >= sizeof tmp) n = sizeof tmp - 1;
  }
  vsnprintf(tmp + n, sizeof tmp - n, fmt, ap);
  memcpy(st_buf, tmp, sizeof tmp);
}

int st_err(int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  st_vset(NULL, fmt, ap);
  va_end(ap);
  return rc;
}

const char *st_errmsg(void) { return st_buf; }

void st_clear(void) { st_buf[0] = 0; }

int st_corrupt_bkpt(const char *file, int line, const char *fmt, ...) {
  char prefix[96];
  const char *base = strrchr(file, '/');
  snprintf(prefix, sizeof prefix, "corrupt (%s:%d): ", base ? base + 1 : file, line);
  va_list ap;
  va_start(ap, fmt);
  st_vset(prefix, fmt, ap);
  va_end(ap);
  return LSM_CORRUPT;
}

int st_errno(int err, int ioerr, const char *what, ...) {
  int rc;
  switch (err) {
    case ENOSPC: case EDQUOT: case EFBIG: rc = LSM_FULL; break;
    case ENOENT: case EISDIR: case EACCES: case ENOTDIR: case EEXIST: case ENAMETOOLONG:
      rc = LSM_CANTOPEN; break;
    case ENOMEM: rc = LSM_NOMEM; break;
    case EPERM: rc = LSM_PERM; break;
    case EINVAL: rc = ioerr ? ioerr : LSM_ERROR; break;
    default: rc = ioerr ? ioerr : LSM_IOERR; break;
  }
  char head[384];
  va_list ap;
  va_start(ap, what);
  vsnprintf(head, sizeof head, what, ap);
  va_end(ap);
  return st_err(rc, "%s: %s", head, strerror(err));
}

const char *st_name(int rc) {
  switch (LSM_PRIMARY(rc)) {
    case LSM_OK: return "LSM_OK";
    case LSM_ERROR: return "LSM_ERROR";
    case LSM_INTERNAL: return "LSM_INTERNAL";
    case LSM_PERM: return "LSM_PERM";
    case LSM_ABORT: return "LSM_ABORT";
    case LSM_BUSY: return "LSM_BUSY";
    case LSM_LOCKED: return "LSM_LOCKED";
    case LSM_NOMEM: return "LSM_NOMEM";
    case LSM_READONLY: return "LSM_READONLY";
    case LSM_IOERR: return "LSM_IOERR";
    case LSM_CORRUPT: return "LSM_CORRUPT";
    case LSM_NOTFOUND: return "LSM_NOTFOUND";
    case LSM_FULL: return "LSM_FULL";
    case LSM_CANTOPEN: return "LSM_CANTOPEN";
    case LSM_TOOBIG: return "LSM_TOOBIG";
    case LSM_CONSTRAINT: return "LSM_CONSTRAINT";
    case LSM_MISUSE: return "LSM_MISUSE";
    case LSM_RANGE: return "LSM_RANGE";
    default: return "LSM_UNKNOWN";
  }
}
