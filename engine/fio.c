/*
** fio.c — the public file-IO functions: argument checks, dispatch to the env's backend ops,
** -errno -> LSM_* mapping with messages, and the backend-independent pieces (open/create/lock,
** atomic replace, directory listing, generic batch and stream runs).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fio_int.h"
#include "mm.h"
#include "status.h"

/* ---- environments ---------------------------------------------------------------------------- */

static int env_alloc(fio_env **out) {
  fio_env *e = mm_calloc(1, sizeof *e);
  if (!e) return st_err(LSM_NOMEM, "fio: out of memory");
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->f_cv, NULL);
  *out = e;
  return LSM_OK;
}

int fio_env_new(int backend, fio_env **out) {
  *out = NULL;
  if (backend != FIO_AUTO && backend != FIO_SYNC && backend != FIO_URING)
    return st_err(LSM_MISUSE, "fio_env_new: unknown backend %d", backend);
  int forced = backend != FIO_AUTO;
  if (backend == FIO_AUTO) {
    const char *v = getenv("LSMVTAB_IO");
    if (v && strcmp(v, "sync") == 0) backend = FIO_SYNC, forced = 1;
    else if (v && strcmp(v, "uring") == 0) backend = FIO_URING, forced = 1;
    else backend = FIO_URING; /* try it, fall back below */
  }
  fio_env *e = NULL;
  int rc = env_alloc(&e);
  if (rc) return rc;
  if (backend == FIO_URING) {
    int r = fio__uring_init(e);
    if (r == 0) {
      *out = e;
      return LSM_OK;
    }
    if (forced) {
      pthread_mutex_destroy(&e->mu);
      mm_free(e);
      if (r == -ENOMEM) return st_err(LSM_NOMEM, "fio: io_uring set-up: out of memory");
      return st_err(LSM_ERROR, "fio: io_uring unusable here: %s", strerror(-r));
    }
    /* AUTO: io_uring blocked or missing (seccomp, old kernel): plain system calls. */
  }
  e->ops = &fio__sync_ops;
  e->name = "sync";
  e->backend = FIO_SYNC;
  *out = e;
  return LSM_OK;
}

int fio_env_fault(fio_env *inner, fio_env **out) {
  *out = NULL;
  if (!inner) return st_err(LSM_MISUSE, "fio_env_fault: no inner env");
  fio_env *e = NULL;
  int rc = env_alloc(&e);
  if (rc) return rc;
  e->ops = &fio__fault_ops;
  e->inner = inner;
  e->backend = inner->backend;
  e->name = inner->backend == FIO_URING ? "fault(uring)" : "fault(sync)";
  *out = e;
  return LSM_OK;
}

const char *fio_env_name(const fio_env *env) { return env->name; }
int fio_env_backend(const fio_env *env) { return env->backend; }

void fio_env_set_poll(fio_env *env, unsigned us) { env->poll_us = us; }

void fio_env_poll_counts(const fio_env *env, uint64_t *polled, uint64_t *slept) {
  *polled = atomic_load_explicit(&env->n_polled, memory_order_relaxed);
  *slept = atomic_load_explicit(&env->n_slept, memory_order_relaxed);
}

void fio_env_free(fio_env *env) {
  if (!env) return;
  if (env->ops->destroy) env->ops->destroy(env);
  pthread_mutex_destroy(&env->mu);
  pthread_cond_destroy(&env->f_cv);
  mm_free(env);
}

/* ---- helpers --------------------------------------------------------------------------------- */

static int check_mode(int mode) {
  int acc = mode & 3;
  if (acc == 0 || (mode & ~(3 | FIO_DIRECT)))
    return st_err(LSM_MISUSE, "fio: bad open mode %d", mode);
  return LSM_OK;
}

static int open_flags(int mode) {
  int fl = O_CLOEXEC;
  switch (mode & 3) {
  case FIO_RDONLY: fl |= O_RDONLY; break;
  case FIO_WRONLY: fl |= O_WRONLY; break;
  default: fl |= O_RDWR; break;
  }
  if (mode & FIO_DIRECT) fl |= O_DIRECT;
  return fl;
}

static int file_new(fio_env *env, int fd, int mode, int owns, const char *path, fio_file **out) {
  fio_file *f = mm_calloc(1, sizeof *f);
  char *p = NULL;
  if (f) {
    if (path) {
      p = mm_strdup(path);
    } else {
      char tmp[32];
      snprintf(tmp, sizeof tmp, "fd %d", fd);
      p = mm_strdup(tmp);
    }
  }
  if (!f || !p) {
    mm_free(f);
    mm_free(p);
    return st_err(LSM_NOMEM, "fio: out of memory");
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int rc = st_errno(errno, LSM_IOERR_FSTAT, "fstat %s", p);
    mm_free(p);
    mm_free(f);
    return rc;
  }
  f->env = env;
  f->fd = fd;
  f->mode = mode;
  f->owns_fd = owns;
  f->end = (uint64_t)st.st_size;
  f->path = p;
  *out = f;
  return LSM_OK;
}

/* open(2) with fio's messages; on success the fd is wrapped into *out (and owned). */
static int open_common(fio_env *env, const char *path, int mode, int extra, fio_file **out) {
  *out = NULL;
  int rc = check_mode(mode);
  if (rc) return rc;
  int fd;
  do {
    fd = open(path, open_flags(mode) | extra, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST) return st_err(LSM_CANTOPEN, "%s: already exists", path);
    if (e == EISDIR) return st_err(LSM_CANTOPEN, "%s: is a directory", path);
    if (e == EINVAL && (mode & FIO_DIRECT))
      return st_err(LSM_CANTOPEN, "%s: O_DIRECT not supported by this filesystem", path);
    return st_errno(e, LSM_CANTOPEN, "open %s", path);
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    return st_err(LSM_CANTOPEN, "%s: is a directory", path);
  }
  rc = file_new(env, fd, mode, 1, path, out);
  if (rc) close(fd);
  return rc;
}

/* Offset/length range: the kernel takes off_t, so off+len must fit in int64. */
static int check_range(const fio_file *f, uint64_t off, size_t len, const char *what) {
  if (off > (uint64_t)INT64_MAX || (uint64_t)len > (uint64_t)INT64_MAX - off)
    return st_err(LSM_RANGE, "%s %s: offset %llu + %zu out of range", what, f->path,
                  (unsigned long long)off, len);
  return LSM_OK;
}

/* Checks shared by every read/write: range, O_DIRECT alignment, access mode. Sums the iovec
** lengths into *total. */
static int check_io(const fio_file *f, int write, uint64_t off, const struct iovec *iov, int n,
                    size_t *total) {
  const char *what = write ? "write" : "read";
  if (n < 1 || n > IOV_MAX)
    return st_err(LSM_MISUSE, "%s %s: bad iovec count %d", what, f->path, n);
  size_t t = 0;
  for (int i = 0; i < n; i++) {
    if (iov[i].iov_len > SIZE_MAX - t)
      return st_err(LSM_RANGE, "%s %s: total length overflows", what, f->path);
    t += iov[i].iov_len;
    if ((f->mode & FIO_DIRECT) &&
        (((uintptr_t)iov[i].iov_base % FIO_ALIGN) || (iov[i].iov_len % FIO_ALIGN)))
      return st_err(LSM_RANGE, "%s %s: O_DIRECT buffer %d not %d-byte aligned (address or length)",
                    what, f->path, i, FIO_ALIGN);
  }
  if ((f->mode & FIO_DIRECT) && (off % FIO_ALIGN))
    return st_err(LSM_RANGE, "%s %s: O_DIRECT offset %llu not %d-byte aligned", what, f->path,
                  (unsigned long long)off, FIO_ALIGN);
  int rc = check_range(f, off, t, what);
  if (rc) return rc;
  if (write && (f->mode & 3) == FIO_RDONLY)
    return st_err(LSM_MISUSE, "write %s: file opened read-only", f->path);
  if (!write && (f->mode & 3) == FIO_WRONLY)
    return st_err(LSM_MISUSE, "read %s: file opened write-only", f->path);
  if (write && f->sticky)
    return st_err(LSM_IOERR_FSYNC, "write %s: an earlier sync failed; reopen the file", f->path);
  *total = t;
  return LSM_OK;
}

/* ---- files ----------------------------------------------------------------------------------- */

int fio_create(fio_env *env, const char *path, int mode, fio_file **out) {
  return open_common(env, path, mode, O_CREAT | O_EXCL, out);
}

int fio_open(fio_env *env, const char *path, int mode, fio_file **out) {
  return open_common(env, path, mode, 0, out);
}

int fio_wrap_fd(fio_env *env, int fd, int mode, fio_file **out) {
  *out = NULL;
  int rc = check_mode(mode);
  if (rc) return rc;
  if (fd < 0) return st_err(LSM_MISUSE, "fio_wrap_fd: bad fd %d", fd);
  return file_new(env, fd, mode, 0, NULL, out);
}

int fio_close(fio_file *f) {
  if (!f) return LSM_OK;
  int rc = LSM_OK;
  /* No EINTR retry: on Linux the fd is released even when close reports EINTR. */
  if (f->owns_fd && close(f->fd) != 0 && errno != EINTR)
    rc = st_errno(errno, LSM_IOERR_CLOSE, "close %s", f->path);
  mm_free(f->path);
  mm_free(f);
  return rc;
}

static int do_write(fio_file *f, uint64_t off, const struct iovec *iov, int n) {
  size_t total;
  int rc = check_io(f, 1, off, iov, n, &total);
  if (rc) return rc;
  if (total == 0) return LSM_OK;
  int r = f->env->ops->write(f->env, f, off, iov, n);
  if (r) return st_errno(-r, LSM_IOERR_WRITE, "write %s at %llu (%zu bytes)", f->path,
                         (unsigned long long)off, total);
  if (off + total > f->end) f->end = off + total;
  return LSM_OK;
}

int fio_append(fio_file *f, const void *buf, size_t n) {
  struct iovec v = {(void *)buf, n};
  return do_write(f, f->end, &v, 1);
}

int fio_appendv(fio_file *f, const struct iovec *iov, int n) {
  return do_write(f, f->end, iov, n);
}

int fio_write_at(fio_file *f, uint64_t off, const void *buf, size_t n) {
  struct iovec v = {(void *)buf, n};
  return do_write(f, off, &v, 1);
}

int fio_writev_at(fio_file *f, uint64_t off, const struct iovec *iov, int n) {
  return do_write(f, off, iov, n);
}

int fio_readv_at(fio_file *f, uint64_t off, const struct iovec *iov, int n, size_t *got) {
  *got = 0;
  size_t total;
  int rc = check_io(f, 0, off, iov, n, &total);
  if (rc) return rc;
  if (total == 0) return LSM_OK;
  int r = f->env->ops->read(f->env, f, off, iov, n, got);
  if (r) return st_errno(-r, LSM_IOERR_READ, "read %s at %llu (%zu bytes)", f->path,
                         (unsigned long long)off, total);
  return LSM_OK;
}

int fio_read_at(fio_file *f, uint64_t off, void *buf, size_t n, size_t *got) {
  struct iovec v = {buf, n};
  return fio_readv_at(f, off, &v, 1, got);
}

int fio_read_cached(fio_file *f, uint64_t off, void *buf, size_t n, size_t *got) {
  *got = 0;
  if (f->no_cached || (f->mode & FIO_DIRECT) || !f->env->ops->read_cached) return LSM_OK;
  struct iovec v = {buf, n};
  size_t total;
  int rc = check_io(f, 0, off, &v, 1, &total);
  if (rc) return rc;
  if (total == 0) return LSM_OK;
  int r = f->env->ops->read_cached(f->env, f, off, buf, n, got);
  if (r == -EOPNOTSUPP || r == -EINVAL || r == -ENOSYS) { /* no RWF_NOWAIT reads here */
    f->no_cached = 1;
    *got = 0;
    return LSM_OK;
  }
  if (r) return st_errno(-r, LSM_IOERR_READ, "read %s at %llu (%zu bytes)", f->path,
                         (unsigned long long)off, n);
  return LSM_OK;
}

int fio_size(fio_file *f, uint64_t *size) {
  struct stat st;
  *size = 0;
  if (fstat(f->fd, &st) != 0) return st_errno(errno, LSM_IOERR_FSTAT, "fstat %s", f->path);
  *size = (uint64_t)st.st_size;
  return LSM_OK;
}

int fio_sync(fio_file *f) {
  if (f->sticky)
    return st_err(LSM_IOERR_FSYNC, "sync %s: an earlier sync failed; reopen the file", f->path);
  int r = f->env->ops->sync(f->env, f);
  if (r) {
    int rc = st_errno(-r, LSM_IOERR_FSYNC, "fdatasync %s", f->path);
    f->sticky = rc;
    return rc;
  }
  return LSM_OK;
}

int fio_truncate(fio_file *f, uint64_t size) {
  int rc = check_range(f, size, 0, "truncate");
  if (rc) return rc;
  if ((f->mode & 3) == FIO_RDONLY)
    return st_err(LSM_MISUSE, "truncate %s: file opened read-only", f->path);
  if (f->sticky)
    return st_err(LSM_IOERR_FSYNC, "truncate %s: an earlier sync failed; reopen the file",
                  f->path);
  int r = f->env->ops->truncate(f->env, f, size);
  if (r) return st_errno(-r, LSM_IOERR_TRUNCATE, "truncate %s to %llu", f->path,
                         (unsigned long long)size);
  f->end = size;
  return LSM_OK;
}

int fio_fd(const fio_file *f) { return f->fd; }

/* ---- paths ----------------------------------------------------------------------------------- */

/* The directory part of path ("." if none) into buf. */
static int dir_of(const char *path, char *buf, size_t cap) {
  const char *slash = strrchr(path, '/');
  size_t n;
  if (!slash) {
    n = 1;
    path = ".";
  } else {
    n = slash == path ? 1 : (size_t)(slash - path);
  }
  if (n + 1 > cap) return st_err(LSM_RANGE, "fio: path too long: %s", path);
  memcpy(buf, path, n);
  buf[n] = 0;
  return LSM_OK;
}

int fio_write_atomic(fio_env *env, const char *path, const void *buf, size_t n) {
  char dir[PATH_MAX];
  int rc = dir_of(path, dir, sizeof dir);
  if (rc) return rc;
  size_t plen = strlen(path);
  char *tmp = mm_malloc(plen + 5);
  if (!tmp) return st_err(LSM_NOMEM, "fio: out of memory");
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);
  /* O_TRUNC, not O_EXCL: a temp left by a crash is garbage to overwrite. */
  fio_file *f;
  rc = open_common(env, tmp, FIO_WRONLY, O_CREAT | O_TRUNC, &f);
  if (rc) {
    mm_free(tmp);
    return rc;
  }
  rc = fio_write_at(f, 0, buf, n);
  if (!rc) rc = fio_sync(f);
  int crc = fio_close(f);
  if (!rc) rc = crc;
  if (!rc) rc = fio_rename(env, tmp, path);
  if (rc) {
    /* Clean up with the raw call: the temp must go even when the env is failing deletes
    ** (fault tests); if even this fails the leftover is overwritten next time. */
    unlink(tmp);
    mm_free(tmp);
    return rc;
  }
  mm_free(tmp);
  int r = env->ops->sync_dir(env, dir);
  if (r) return st_errno(-r, LSM_IOERR_DIR_FSYNC, "fsync directory %s", dir);
  return LSM_OK;
}

int fio_delete(fio_env *env, const char *path) {
  int r = env->ops->unlink(env, path);
  if (r) return st_errno(-r, LSM_IOERR_DELETE, "delete %s", path);
  return LSM_OK;
}

int fio_rename(fio_env *env, const char *from, const char *to) {
  int r = env->ops->rename(env, from, to);
  if (r) return st_errno(-r, LSM_IOERR_RENAME, "rename %s -> %s", from, to);
  return LSM_OK;
}

int fio_sync_dir(fio_env *env, const char *dir) {
  int r = env->ops->sync_dir(env, dir);
  if (r) return st_errno(-r, LSM_IOERR_DIR_FSYNC, "fsync directory %s", dir);
  return LSM_OK;
}

int fio_mkdir(fio_env *env, const char *path) {
  (void)env;
  if (mkdir(path, 0755) == 0) return LSM_OK;
  int e = errno;
  if (e == EEXIST) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return LSM_OK;
    return st_err(LSM_CANTOPEN, "mkdir %s: exists and is not a directory", path);
  }
  return st_errno(e, LSM_CANTOPEN, "mkdir %s", path);
}

int fio_exists(fio_env *env, const char *path, int *exists) {
  (void)env;
  struct stat st;
  *exists = 0;
  if (stat(path, &st) == 0) {
    *exists = 1;
    return LSM_OK;
  }
  if (errno == ENOENT || errno == ENOTDIR) return LSM_OK;
  return st_errno(errno, LSM_IOERR_ACCESS, "stat %s", path);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int fio_list(fio_env *env, const char *dir, char ***names, int *count) {
  (void)env;
  *names = NULL;
  *count = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOTDIR) return st_err(LSM_CANTOPEN, "list %s: not a directory", dir);
    return st_errno(errno, LSM_CANTOPEN, "list %s", dir);
  }
  char **v = NULL;
  int n = 0, cap = 0, rc = LSM_OK;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (n == cap) {
      int ncap = cap ? cap * 2 : 16;
      char **nv = mm_realloc(v, sizeof *nv * (size_t)ncap);
      if (!nv) {
        rc = st_err(LSM_NOMEM, "fio: out of memory");
        break;
      }
      v = nv;
      cap = ncap;
    }
    if (!(v[n] = mm_strdup(de->d_name))) {
      rc = st_err(LSM_NOMEM, "fio: out of memory");
      break;
    }
    n++;
    errno = 0;
  }
  if (!rc && errno) rc = st_errno(errno, LSM_IOERR_READ, "readdir %s", dir);
  closedir(d);
  if (rc) {
    fio_list_free(v, n);
    return rc;
  }
  if (n) qsort(v, (size_t)n, sizeof *v, cmp_names);
  *names = v;
  *count = n;
  return LSM_OK;
}

void fio_list_free(char **names, int count) {
  if (!names) return;
  for (int i = 0; i < count; i++) mm_free(names[i]);
  mm_free(names);
}

int fio_lock(fio_env *env, const char *path, fio_file **lock) {
  fio_file *f;
  int rc = open_common(env, path, FIO_RDWR, O_CREAT, &f);
  *lock = NULL;
  if (rc) return rc;
  while (flock(f->fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EINTR) continue;
    fio_close(f);
    if (e == EWOULDBLOCK) return st_err(LSM_BUSY, "%s: locked by another process", path);
    return st_errno(e, LSM_IOERR_LOCK, "flock %s", path);
  }
  *lock = f;
  return LSM_OK;
}

/* mm has no aligned allocation, so over-allocate and keep the raw pointer just below the
** aligned block. */
void *fio_alloc_aligned(size_t n) {
  if (n > SIZE_MAX - FIO_ALIGN - sizeof(void *)) return NULL;
  char *raw = mm_malloc(n + FIO_ALIGN + sizeof(void *));
  if (!raw) return NULL;
  uintptr_t a = ((uintptr_t)raw + sizeof(void *) + FIO_ALIGN - 1) & ~(uintptr_t)(FIO_ALIGN - 1);
  ((void **)a)[-1] = raw;
  return (void *)a;
}

void fio_free_aligned(void *p) {
  if (p) mm_free(((void **)p)[-1]);
}

/* ---- streams --------------------------------------------------------------------------------- */

int fio_stream_open(fio_file *f, size_t chunk, fio_stream **out) {
  *out = NULL;
  if (chunk == 0 || chunk > ((size_t)1 << 30))
    return st_err(LSM_MISUSE, "stream %s: bad chunk size %zu", f->path, chunk);
  if ((f->mode & FIO_DIRECT) && chunk % FIO_ALIGN)
    return st_err(LSM_RANGE, "stream %s: O_DIRECT chunk %zu not %d-byte aligned", f->path, chunk,
                  FIO_ALIGN);
  if ((f->mode & 3) == FIO_WRONLY)
    return st_err(LSM_MISUSE, "stream %s: file opened write-only", f->path);
  fio_stream *s = mm_calloc(1, sizeof *s);
  if (!s) return st_err(LSM_NOMEM, "fio: out of memory");
  s->f = f;
  s->chunk = chunk;
  fio_env *env = f->env;
  int two = env->ops->stream_open != NULL; /* read-ahead needs a second buffer */
  s->buf[0] = fio_alloc_aligned(chunk);
  if (two) s->buf[1] = fio_alloc_aligned(chunk);
  if (!s->buf[0] || (two && !s->buf[1])) {
    fio_stream_close(s);
    return st_err(LSM_NOMEM, "fio: out of memory");
  }
  if (two) {
    int r = env->ops->stream_open(env, s);
    if (r) {
      fio_stream_close(s);
      return st_errno(-r, LSM_IOERR_READ, "stream %s", f->path);
    }
  }
  *out = s;
  return LSM_OK;
}

int fio_stream_next(fio_stream *s, const void **data, size_t *n) {
  *data = NULL;
  *n = 0;
  if (s->err) return st_err(s->err, "stream %s: an earlier read failed", s->f->path);
  fio_env *env = s->f->env;
  void *d = NULL;
  size_t got = 0;
  int r;
  if (env->ops->stream_next) {
    r = env->ops->stream_next(env, s, &d, &got);
  } else {
    if (s->eof) return LSM_OK;
    struct iovec v = {s->buf[0], s->chunk};
    r = env->ops->read(env, s->f, s->off, &v, 1, &got);
    d = s->buf[0];
    if (!r) {
      s->off += got;
      if (got < s->chunk) s->eof = 1;
    }
  }
  if (r) {
    s->err = st_errno(-r, LSM_IOERR_READ, "stream %s at %llu", s->f->path,
                      (unsigned long long)s->off);
    return s->err;
  }
  if (got) {
    *data = d;
    *n = got;
  }
  return LSM_OK;
}

void fio_stream_close(fio_stream *s) {
  if (!s) return;
  fio_env *env = s->f->env;
  if (env->ops->stream_close) env->ops->stream_close(env, s);
  fio_free_aligned(s->buf[0]);
  fio_free_aligned(s->buf[1]);
  mm_free(s);
}

/* ---- batches --------------------------------------------------------------------------------- */

int fio_batch_new(fio_env *env, fio_batch **out) {
  *out = mm_calloc(1, sizeof **out);
  if (!*out) return st_err(LSM_NOMEM, "fio: out of memory");
  (*out)->env = env;
  return LSM_OK;
}

static int batch_add(fio_batch *b, fio_req **out) {
  if (b->ran) return st_err(LSM_MISUSE, "fio batch: already run; reset it first");
  if (b->n == b->cap) {
    int ncap = b->cap ? b->cap * 2 : 16;
    fio_req *nr = mm_realloc(b->req, sizeof *nr * (size_t)ncap);
    if (!nr) return st_err(LSM_NOMEM, "fio: out of memory");
    b->req = nr;
    b->cap = ncap;
  }
  fio_req *r = &b->req[b->n];
  memset(r, 0, sizeof *r);
  *out = r;
  return LSM_OK;
}

static int batch_io(fio_batch *b, int op, fio_file *f, uint64_t off, const struct iovec *iov,
                    int n) {
  size_t total;
  int rc = check_io(f, op == FIO_REQ_WRITE, off, iov, n, &total);
  if (rc) return -rc;
  fio_req *r = NULL;
  if ((rc = batch_add(b, &r))) return -rc;
  r->op = op;
  r->f = f;
  r->off = off;
  r->len = total;
  r->niov = n;
  if (n == 1) {
    r->one = iov[0];
  } else {
    r->iov = mm_malloc(sizeof *r->iov * (size_t)n);
    if (!r->iov) return -st_err(LSM_NOMEM, "fio: out of memory");
    memcpy(r->iov, iov, sizeof *r->iov * (size_t)n);
  }
  return b->n++;
}

int fio_batch_read(fio_batch *b, fio_file *f, uint64_t off, void *buf, size_t n) {
  struct iovec v = {buf, n};
  return batch_io(b, FIO_REQ_READ, f, off, &v, 1);
}

int fio_batch_write(fio_batch *b, fio_file *f, uint64_t off, const void *buf, size_t n) {
  struct iovec v = {(void *)buf, n};
  return batch_io(b, FIO_REQ_WRITE, f, off, &v, 1);
}

int fio_batch_writev(fio_batch *b, fio_file *f, uint64_t off, const struct iovec *iov, int n) {
  return batch_io(b, FIO_REQ_WRITE, f, off, iov, n);
}

int fio_batch_sync(fio_batch *b, fio_file *f) {
  fio_req *r = NULL;
  int rc = batch_add(b, &r);
  if (rc) return -rc;
  r->op = FIO_REQ_SYNC;
  r->f = f;
  return b->n++;
}

/* One request through the plain ops (sync backend, fault wrapper, or uring fallback). */
static void req_run_plain(fio_env *env, fio_req *r) {
  if (r->state == FIO_ST_DONE) return;
  switch (r->op) {
  case FIO_REQ_READ:
    r->err = r->len ? env->ops->read(env, r->f, r->off, fio__req_iov(r), r->niov, &r->done) : 0;
    break;
  case FIO_REQ_WRITE:
    r->err = r->len ? env->ops->write(env, r->f, r->off, fio__req_iov(r), r->niov) : 0;
    r->done = r->err ? 0 : r->len;
    break;
  default:
    r->err = env->ops->sync(env, r->f);
    break;
  }
  r->state = FIO_ST_DONE;
}

static int req_status(const fio_req *r) {
  if (!r->err) return LSM_OK;
  switch (r->op) {
  case FIO_REQ_READ:
    return st_errno(-r->err, LSM_IOERR_READ, "read %s at %llu (%zu bytes)", r->f->path,
                    (unsigned long long)r->off, r->len);
  case FIO_REQ_WRITE:
    return st_errno(-r->err, LSM_IOERR_WRITE, "write %s at %llu (%zu bytes)", r->f->path,
                    (unsigned long long)r->off, r->len);
  default:
    return st_errno(-r->err, LSM_IOERR_FSYNC, "fdatasync %s", r->f->path);
  }
}

int fio_batch_run(fio_batch *b) {
  if (b->ran) return st_err(LSM_MISUSE, "fio batch: already run; reset it first");
  b->ran = 1;
  fio_env *env = b->env;
  /* Files already sticky fail at once; the rest runs. */
  for (int i = 0; i < b->n; i++) {
    fio_req *r = &b->req[i];
    if (r->op != FIO_REQ_READ && r->f->sticky) {
      r->err = -EIO;
      r->state = FIO_ST_DONE;
    }
  }
  if (env->ops->batch_run && b->n > 0) {
    /* A failing ring (can't be created, submission error) leaves the unfinished requests
    ** queued: finish them one by one below. */
    (void)env->ops->batch_run(env, b);
  }
  for (int i = 0; i < b->n; i++) req_run_plain(env, &b->req[i]);
  int first = -1;
  for (int i = 0; i < b->n; i++) {
    fio_req *r = &b->req[i];
    if (!r->err) {
      if (r->op == FIO_REQ_WRITE && r->off + r->len > r->f->end) r->f->end = r->off + r->len;
      continue;
    }
    if (r->op == FIO_REQ_SYNC) r->f->sticky = req_status(r);
    if (first < 0) first = i;
  }
  return first < 0 ? LSM_OK : req_status(&b->req[first]); /* the first failure's message */
}

int fio_batch_result(fio_batch *b, int i, size_t *done) {
  if (done) *done = 0;
  if (i < 0 || i >= b->n) return st_err(LSM_RANGE, "fio batch: no request %d", i);
  fio_req *r = &b->req[i];
  if (!b->ran) return st_err(LSM_MISUSE, "fio batch: not run yet");
  if (done) *done = r->done;
  return req_status(r);
}

int fio_batch_count(fio_batch *b) { return b->n; }

void fio_batch_reset(fio_batch *b) {
  for (int i = 0; i < b->n; i++) mm_free(b->req[i].iov);
  b->n = 0;
  b->ran = 0;
}

void fio_batch_free(fio_batch *b) {
  if (!b) return;
  fio_batch_reset(b);
  mm_free(b->req);
  mm_free(b);
}
