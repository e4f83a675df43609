/*
** fio_fault.c — a fault-injecting wrapper env (tests). Every op is counted by class, checked
** against the one armed fault (fio_fault_set), and otherwise forwarded to the inner env's ops.
** Batches and streams have no backend hooks here, so fio.c runs them request by request through
** these ops: each request meets the fault checks.
*/
#include <errno.h>
#include <string.h>

#include "fio_int.h"
#include "mm.h"
#include "status.h"

static int cls_index(int cls) { return __builtin_ctz((unsigned)cls); }

int fio__fault_check(fio_env *env, int cls) {
  int fire = 0;
  pthread_mutex_lock(&env->mu);
  env->f_count[cls_index(cls)]++;
  if (env->f_ops & cls) {
    env->f_seen++;
    if (env->f_kind == FIO_FAULT_FROM ? env->f_seen >= env->f_nth : env->f_seen == env->f_nth)
      fire = env->f_kind;
  }
  if (fire == FIO_FAULT_HOLD) { /* wait for fio_fault_clear, then run normally */
    while (env->f_ops) pthread_cond_wait(&env->f_cv, &env->mu);
    fire = 0;
  }
  pthread_mutex_unlock(&env->mu);
  return fire;
}

static int f_read(fio_env *env, fio_file *f, uint64_t off, const struct iovec *iov, int n,
                  size_t *got) {
  *got = 0;
  if (fio__fault_check(env, FIO_OP_READ)) return -EIO;
  return env->inner->ops->read(env->inner, f, off, iov, n, got);
}

/* A cached-only read is a READ: a fault fires on it like on any read (the caller sees the
** error, not a miss). */
static int f_read_cached(fio_env *env, fio_file *f, uint64_t off, void *buf, size_t n,
                         size_t *got) {
  *got = 0;
  if (fio__fault_check(env, FIO_OP_READ)) return -EIO;
  if (!env->inner->ops->read_cached) return 0;
  return env->inner->ops->read_cached(env->inner, f, off, buf, n, got);
}

static int f_write(fio_env *env, fio_file *f, uint64_t off, const struct iovec *iov, int n) {
  int kind = fio__fault_check(env, FIO_OP_WRITE);
  if (!kind) return env->inner->ops->write(env->inner, f, off, iov, n);
  if (kind != FIO_FAULT_SHORT && kind != FIO_FAULT_TORN) return -EIO;
  /* Store a prefix of the data, then fail. */
  size_t total = 0;
  for (int i = 0; i < n; i++) total += iov[i].iov_len;
  size_t keep = total / 2;
  if (kind == FIO_FAULT_TORN && total >= 1024) keep &= ~(size_t)511;
  if (f->mode & FIO_DIRECT) keep &= ~(size_t)(FIO_ALIGN - 1); /* the kernel could not do less */
  if (keep) {
    struct iovec *c = mm_malloc(sizeof *c * (size_t)n);
    if (!c) return -ENOMEM;
    int cnt = 0;
    size_t left = keep;
    for (int i = 0; i < n && left; i++, cnt++) {
      c[i] = iov[i];
      if (c[i].iov_len > left) c[i].iov_len = left;
      left -= c[i].iov_len;
    }
    int r = env->inner->ops->write(env->inner, f, off, c, cnt);
    mm_free(c);
    if (r) return r;
  }
  return kind == FIO_FAULT_SHORT ? -ENOSPC : -EIO;
}

static int f_sync(fio_env *env, fio_file *f) {
  if (fio__fault_check(env, FIO_OP_SYNC)) return -EIO;
  return env->inner->ops->sync(env->inner, f);
}

static int f_truncate(fio_env *env, fio_file *f, uint64_t size) {
  if (fio__fault_check(env, FIO_OP_TRUNCATE)) return -EIO;
  return env->inner->ops->truncate(env->inner, f, size);
}

static int f_rename(fio_env *env, const char *from, const char *to) {
  if (fio__fault_check(env, FIO_OP_RENAME)) return -EIO;
  return env->inner->ops->rename(env->inner, from, to);
}

static int f_unlink(fio_env *env, const char *path) {
  if (fio__fault_check(env, FIO_OP_DELETE)) return -EIO;
  return env->inner->ops->unlink(env->inner, path);
}

static int f_sync_dir(fio_env *env, const char *dir) {
  if (fio__fault_check(env, FIO_OP_SYNC)) return -EIO;
  return env->inner->ops->sync_dir(env->inner, dir);
}

const fio_ops fio__fault_ops = {
    .read = f_read,
    .write = f_write,
    .read_cached = f_read_cached,
    .sync = f_sync,
    .truncate = f_truncate,
    .rename = f_rename,
    .unlink = f_unlink,
    .sync_dir = f_sync_dir,
};

int fio_fault_set(fio_env *env, int ops, long nth, int kind) {
  if (env->ops != &fio__fault_ops) return st_err(LSM_MISUSE, "fio_fault_set: not a fault env");
  if (!(ops & FIO_OP_ALL) || (ops & ~FIO_OP_ALL) || nth < 1 || kind < FIO_FAULT_ONCE ||
      kind > FIO_FAULT_HOLD)
    return st_err(LSM_MISUSE, "fio_fault_set: bad arguments (ops %d, nth %ld, kind %d)", ops, nth,
                  kind);
  pthread_mutex_lock(&env->mu);
  env->f_ops = ops;
  env->f_nth = nth;
  env->f_kind = kind;
  env->f_seen = 0;
  pthread_mutex_unlock(&env->mu);
  return LSM_OK;
}

void fio_fault_clear(fio_env *env) {
  if (env->ops != &fio__fault_ops) return;
  pthread_mutex_lock(&env->mu);
  env->f_ops = 0;
  env->f_seen = 0;
  pthread_cond_broadcast(&env->f_cv);
  pthread_mutex_unlock(&env->mu);
}

long fio_fault_count(fio_env *env, int ops) {
  if (env->ops != &fio__fault_ops) return 0;
  long n = 0;
  pthread_mutex_lock(&env->mu);
  for (int i = 0; i < 6; i++)
    if (ops & (1 << i)) n += env->f_count[i];
  pthread_mutex_unlock(&env->mu);
  return n;
}
