/*
** fio_sync.c — the plain system-call backend. Every op returns 0 or -errno; short transfers are
** continued here, EINTR retried. The uring backend uses these for single requests (fio.h).
*/
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fio_int.h"
#include "mm.h"

/* Drop the first n bytes of the iovec array (a private copy): moves *iov and *cnt past emptied
** entries and trims the first partial one. */
static void iov_advance(struct iovec **iov, int *cnt, size_t n) {
  while (*cnt > 0 && n >= (*iov)->iov_len) {
    n -= (*iov)->iov_len;
    (*iov)++;
    (*cnt)--;
  }
  if (*cnt > 0 && n > 0) {
    (*iov)->iov_base = (char *)(*iov)->iov_base + n;
    (*iov)->iov_len -= n;
  }
}

/* A mutable copy of iov (stack for small arrays) so short transfers can advance it. */
#define FIO_STACK_IOV 16
static struct iovec *iov_copy(const struct iovec *iov, int n, struct iovec *stack) {
  struct iovec *c = n <= FIO_STACK_IOV ? stack : mm_malloc(sizeof *c * (size_t)n);
  if (c) memcpy(c, iov, sizeof *c * (size_t)n);
  return c;
}

int fio__sys_read(fio_env *env, fio_file *f, uint64_t off, const struct iovec *iov, int n,
                  size_t *got) {
  (void)env;
  struct iovec stack[FIO_STACK_IOV], *base = NULL, *cur;
  int cnt = n, rc = 0;
  size_t total = 0;
  *got = 0;
  if (n == 1) { /* the common case: no copy */
    while (total < iov[0].iov_len) {
      ssize_t r = pread(f->fd, (char *)iov[0].iov_base + total, iov[0].iov_len - total,
                        (off_t)(off + total));
      if (r < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      if (r == 0) break;
      total += (size_t)r;
      /* O_DIRECT reads are short only at EOF, and a retry at an unaligned offset would
      ** fail with EINVAL: stop. */
      if ((f->mode & FIO_DIRECT) && (total % FIO_ALIGN)) break;
    }
    *got = total;
    return 0;
  }
  base = cur = iov_copy(iov, n, stack);
  if (!base) return -ENOMEM;
  while (cnt > 0) {
    ssize_t r = preadv(f->fd, cur, cnt, (off_t)(off + total));
    if (r < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
    if (r == 0) break;
    total += (size_t)r;
    if ((f->mode & FIO_DIRECT) && (total % FIO_ALIGN)) break;
    iov_advance(&cur, &cnt, (size_t)r);
  }
  if (base != stack) mm_free(base);
  *got = total;
  return rc;
}

int fio__sys_read_cached(fio_env *env, fio_file *f, uint64_t off, void *buf, size_t n,
                         size_t *got) {
  (void)env;
  struct iovec v = {buf, n};
  *got = 0;
  for (;;) {
    /* One call, no continuation: a short result means "the rest is not cached (or EOF)". */
    ssize_t r = preadv2(f->fd, &v, 1, (off_t)off, RWF_NOWAIT);
    if (r >= 0) {
      *got = (size_t)r;
      return 0;
    }
    if (errno == EINTR) continue;
    return errno == EAGAIN ? 0 : -errno;
  }
}

int fio__sys_write(fio_env *env, fio_file *f, uint64_t off, const struct iovec *iov, int n) {
  (void)env;
  struct iovec stack[FIO_STACK_IOV], *base, *cur;
  int cnt = n, rc = 0;
  size_t total = 0;
  if (n == 1) {
    while (total < iov[0].iov_len) {
      ssize_t r = pwrite(f->fd, (const char *)iov[0].iov_base + total, iov[0].iov_len - total,
                         (off_t)(off + total));
      if (r < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      if (r == 0) return -EIO; /* no progress for a non-empty write: never loop forever */
      total += (size_t)r;
    }
    return 0;
  }
  base = cur = iov_copy(iov, n, stack);
  if (!base) return -ENOMEM;
  while (cnt > 0 && cur->iov_len == 0) { cur++; cnt--; }
  while (cnt > 0) {
    ssize_t r = pwritev(f->fd, cur, cnt, (off_t)(off + total));
    if (r < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
    if (r == 0) {
      rc = -EIO;
      break;
    }
    total += (size_t)r;
    iov_advance(&cur, &cnt, (size_t)r);
    while (cnt > 0 && cur->iov_len == 0) { cur++; cnt--; }
  }
  if (base != stack) mm_free(base);
  return rc;
}

int fio__sys_sync(fio_env *env, fio_file *f) {
  (void)env;
  while (fdatasync(f->fd) != 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

int fio__sys_truncate(fio_env *env, fio_file *f, uint64_t size) {
  (void)env;
  while (ftruncate(f->fd, (off_t)size) != 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

int fio__sys_rename(fio_env *env, const char *from, const char *to) {
  (void)env;
  return rename(from, to) == 0 ? 0 : -errno;
}

int fio__sys_unlink(fio_env *env, const char *path) {
  (void)env;
  return unlink(path) == 0 ? 0 : -errno;
}

int fio__sys_sync_dir(fio_env *env, const char *dir) {
  (void)env;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = 0;
  while (fsync(fd) != 0) {
    if (errno != EINTR) {
      rc = -errno;
      break;
    }
  }
  close(fd);
  return rc;
}

const fio_ops fio__sync_ops = {
    .read = fio__sys_read,
    .write = fio__sys_write,
    .read_cached = fio__sys_read_cached,
    .sync = fio__sys_sync,
    .truncate = fio__sys_truncate,
    .rename = fio__sys_rename,
    .unlink = fio__sys_unlink,
    .sync_dir = fio__sys_sync_dir,
};
