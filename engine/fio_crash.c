/*
** fio_crash.c — the power-loss simulating wrapper env (fio_crash.h). It plugs into fio.c as a
** backend (fio_int.h): an fio_env whose ops record what is not durable and forward to `inner`.
** Batches and streams have no hooks, so fio.c runs them request by request through these ops.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fio_crash.h"
#include "fio_int.h"
#include "mm.h"
#include "status.h"

typedef struct cr_write {
  dev_t dev;
  ino_t ino;
  uint64_t off;       /* start of the write (or the new size for a truncate) */
  uint64_t len;       /* bytes written (0 for a truncate) */
  uint64_t old_size;  /* file size before */
  uint8_t *old;       /* the bytes overwritten: [off, min(off + len, old_size)), or for a
                      ** truncate that shrank: [off, old_size) */
  size_t oldn;
} cr_write;

enum { CR_RENAME = 1, CR_UNLINK = 2 };
typedef struct cr_ns {
  int kind;
  char *from, *to; /* rename from -> to; unlink: from */
  char *backup;    /* hard link of the file `to` replaced / the deleted file, or NULL */
} cr_ns;

typedef struct crash_env {
  fio_env base; /* first: fio.c sees a plain fio_env */
  pthread_mutex_t cmu;
  uint64_t rng;
  long syncs, crash_at;
  int crashed;
  cr_write *w;
  int nw, wcap;
  cr_ns *ns;
  int nns, nscap;
  char *dir, *bak;
  char **durable; /* names at the last directory sync */
  int ndurable;
  long bakseq;
  char summary[256];
} crash_env;

static const fio_ops crash_ops;

static crash_env *ce(fio_env *e) { return (crash_env *)e; }

static uint64_t rnd(crash_env *c) {
  c->rng ^= c->rng << 13;
  c->rng ^= c->rng >> 7;
  c->rng ^= c->rng << 17;
  return c->rng;
}

/* ---- helpers ---- */

static int same_dir(crash_env *c, const char *path) {
  if (!c->dir) return 0;
  size_t n = strlen(c->dir);
  return strncmp(path, c->dir, n) == 0 && path[n] == '/' && !strchr(path + n + 1, '/');
}

static int snapshot_names(crash_env *c) {
  char **names = NULL;
  int n = 0;
  int rc = fio_list(c->base.inner, c->dir, &names, &n);
  if (rc) return rc;
  fio_list_free(c->durable, c->ndurable);
  c->durable = names;
  c->ndurable = n;
  return LSM_OK;
}

static int durable_has(crash_env *c, const char *name) {
  for (int i = 0; i < c->ndurable; i++)
    if (!strcmp(c->durable[i], name)) return 1;
  return 0;
}

/* Keep a hard link of `path` in the backup directory; NULL if there is no such file. */
static char *backup_of(crash_env *c, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return NULL;
  char b[4096];
  snprintf(b, sizeof b, "%s/%ld", c->bak, c->bakseq++);
  if (link(path, b) != 0) return NULL;
  return mm_strdup(b);
}

/* ---- ops ---- */

static int c_read(fio_env *env, fio_file *f, uint64_t off, const struct iovec *iov, int n, size_t *got) {
  return env->inner->ops->read(env->inner, f, off, iov, n, got);
}

/* Record the old contents of [off, off + len) of f (or of [off, end) for a truncate: len 0). */
static int remember(crash_env *c, fio_file *f, uint64_t off, uint64_t len, int trunc) {
  struct stat st;
  if (fstat(f->fd, &st) != 0) return -errno;
  uint64_t size = (uint64_t)st.st_size;
  uint64_t end = trunc ? size : off + len;
  if (end > size) end = size;
  size_t oldn = end > off ? (size_t)(end - off) : 0;
  uint8_t *old = NULL;
  if (oldn) {
    /* the file may be open write-only: read the old bytes through a second descriptor */
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", f->fd);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    old = mm_malloc(oldn);
    ssize_t r = old ? pread(fd, old, oldn, (off_t)off) : -1;
    close(fd);
    if (!old) return -ENOMEM;
    if (r != (ssize_t)oldn) {
      mm_free(old);
      return -EIO;
    }
  }
  if (c->nw == c->wcap) {
    int cap = c->wcap ? c->wcap * 2 : 64;
    cr_write *nw = mm_realloc(c->w, sizeof *nw * (size_t)cap);
    if (!nw) {
      mm_free(old);
      return -ENOMEM;
    }
    c->w = nw;
    c->wcap = cap;
  }
  c->w[c->nw++] = (cr_write){st.st_dev, st.st_ino, off, trunc ? 0 : len, size, old, oldn};
  return 0;
}

static int c_write(fio_env *env, fio_file *f, uint64_t off, const struct iovec *iov, int n) {
  crash_env *c = ce(env);
  uint64_t len = 0;
  for (int i = 0; i < n; i++) len += iov[i].iov_len;
  pthread_mutex_lock(&c->cmu);
  int r = c->crashed ? -EIO : remember(c, f, off, len, 0);
  pthread_mutex_unlock(&c->cmu);
  if (r) return r;
  return env->inner->ops->write(env->inner, f, off, iov, n);
}

static int c_truncate(fio_env *env, fio_file *f, uint64_t size) {
  crash_env *c = ce(env);
  pthread_mutex_lock(&c->cmu);
  int r = c->crashed ? -EIO : remember(c, f, size, 0, 1);
  pthread_mutex_unlock(&c->cmu);
  if (r) return r;
  return env->inner->ops->truncate(env->inner, f, size);
}

/* Count a sync; 1 if it is the one the power fails at (or the power is already off). */
static int sync_fails(crash_env *c) {
  if (c->crashed) return 1;
  c->syncs++;
  if (c->crash_at && c->syncs == c->crash_at) c->crashed = 1;
  return c->crashed;
}

static int c_sync(fio_env *env, fio_file *f) {
  crash_env *c = ce(env);
  pthread_mutex_lock(&c->cmu);
  if (sync_fails(c)) {
    pthread_mutex_unlock(&c->cmu);
    return -EIO;
  }
  /* the file's writes are durable now: forget them (the real fdatasync is not needed: the
  ** simulation decides durability, and skipping it keeps thousands of runs fast) */
  struct stat st;
  if (fstat(f->fd, &st) == 0) {
    int k = 0;
    for (int i = 0; i < c->nw; i++) {
      if (c->w[i].dev == st.st_dev && c->w[i].ino == st.st_ino) mm_free(c->w[i].old);
      else c->w[k++] = c->w[i];
    }
    c->nw = k;
  }
  pthread_mutex_unlock(&c->cmu);
  return 0;
}

static int add_ns(crash_env *c, int kind, const char *from, const char *to, char *backup) {
  if (c->nns == c->nscap) {
    int cap = c->nscap ? c->nscap * 2 : 16;
    cr_ns *nn = mm_realloc(c->ns, sizeof *nn * (size_t)cap);
    if (!nn) return -ENOMEM;
    c->ns = nn;
    c->nscap = cap;
  }
  cr_ns *e = &c->ns[c->nns];
  e->kind = kind;
  e->from = mm_strdup(from);
  e->to = to ? mm_strdup(to) : NULL;
  e->backup = backup;
  if (!e->from || (to && !e->to)) {
    mm_free(e->from);
    mm_free(e->to);
    return -ENOMEM;
  }
  c->nns++;
  return 0;
}

static int c_rename(fio_env *env, const char *from, const char *to) {
  crash_env *c = ce(env);
  pthread_mutex_lock(&c->cmu);
  if (c->crashed) {
    pthread_mutex_unlock(&c->cmu);
    return -EIO;
  }
  int r = 0;
  if (same_dir(c, to)) {
    char *b = backup_of(c, to);
    r = add_ns(c, CR_RENAME, from, to, b);
    if (r) mm_free(b);
  }
  pthread_mutex_unlock(&c->cmu);
  if (r) return r;
  return env->inner->ops->rename(env->inner, from, to);
}

static int c_unlink(fio_env *env, const char *path) {
  crash_env *c = ce(env);
  pthread_mutex_lock(&c->cmu);
  if (c->crashed) {
    pthread_mutex_unlock(&c->cmu);
    return -EIO;
  }
  int r = 0;
  if (same_dir(c, path)) {
    char *b = backup_of(c, path);
    if (b) {
      r = add_ns(c, CR_UNLINK, path, NULL, b);
      if (r) mm_free(b);
    }
  }
  pthread_mutex_unlock(&c->cmu);
  if (r) return r;
  return env->inner->ops->unlink(env->inner, path);
}

static int c_sync_dir(fio_env *env, const char *dir) {
  crash_env *c = ce(env);
  pthread_mutex_lock(&c->cmu);
  if (sync_fails(c)) {
    pthread_mutex_unlock(&c->cmu);
    return -EIO;
  }
  int r = 0;
  if (c->dir && !strcmp(dir, c->dir)) {
    for (int i = 0; i < c->nns; i++) {
      if (c->ns[i].backup) unlink(c->ns[i].backup);
      mm_free(c->ns[i].from);
      mm_free(c->ns[i].to);
      mm_free(c->ns[i].backup);
    }
    c->nns = 0;
    r = snapshot_names(c) ? -EIO : 0;
  }
  pthread_mutex_unlock(&c->cmu);
  return r;
}

static void c_destroy(fio_env *env) {
  crash_env *c = ce(env);
  for (int i = 0; i < c->nw; i++) mm_free(c->w[i].old);
  mm_free(c->w);
  for (int i = 0; i < c->nns; i++) {
    if (c->ns[i].backup) unlink(c->ns[i].backup);
    mm_free(c->ns[i].from);
    mm_free(c->ns[i].to);
    mm_free(c->ns[i].backup);
  }
  mm_free(c->ns);
  fio_list_free(c->durable, c->ndurable);
  if (c->bak) rmdir(c->bak);
  mm_free(c->dir);
  mm_free(c->bak);
  pthread_mutex_destroy(&c->cmu);
}

static const fio_ops crash_ops = {
    .read = c_read,
    .write = c_write,
    .sync = c_sync,
    .truncate = c_truncate,
    .rename = c_rename,
    .unlink = c_unlink,
    .sync_dir = c_sync_dir,
    .destroy = c_destroy,
};

/* ---- public ---- */

int fio_env_crash(fio_env *inner, long crash_at, uint64_t seed, fio_env **out) {
  *out = NULL;
  if (!inner) return st_err(LSM_MISUSE, "fio_env_crash: no inner env");
  crash_env *c = mm_calloc(1, sizeof *c);
  if (!c) return st_err(LSM_NOMEM, "fio_env_crash: out of memory");
  pthread_mutex_init(&c->base.mu, NULL);
  pthread_mutex_init(&c->cmu, NULL);
  c->base.ops = &crash_ops;
  c->base.name = "crash";
  c->base.backend = inner->backend;
  c->base.inner = inner;
  c->crash_at = crash_at;
  c->rng = seed * 0x9E3779B97F4A7C15ull + 1;
  *out = &c->base;
  return LSM_OK;
}

int fio_crash_track_dir(fio_env *env, const char *dir) {
  if (env->ops != &crash_ops) return st_err(LSM_MISUSE, "fio_crash_track_dir: not a crash env");
  crash_env *c = ce(env);
  if (c->dir) return st_err(LSM_MISUSE, "fio_crash_track_dir: a directory is already tracked");
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  c->dir = mm_dup(dir, n);
  c->bak = mm_malloc(n + 16);
  if (!c->dir || !c->bak) return st_err(LSM_NOMEM, "fio_crash_track_dir: out of memory");
  snprintf(c->bak, n + 16, "%s.crashbak", c->dir);
  if (mkdir(c->bak, 0755) != 0 && errno != EEXIST)
    return st_errno(errno, LSM_IOERR, "fio_crash_track_dir: mkdir %s", c->bak);
  return snapshot_names(c);
}

long fio_crash_syncs(fio_env *env) {
  if (env->ops != &crash_ops) return 0;
  crash_env *c = ce(env);
  pthread_mutex_lock(&c->cmu);
  long n = c->syncs;
  pthread_mutex_unlock(&c->cmu);
  return n;
}

int fio_crash_crashed(fio_env *env) {
  if (env->ops != &crash_ops) return 0;
  crash_env *c = ce(env);
  pthread_mutex_lock(&c->cmu);
  int n = c->crashed;
  pthread_mutex_unlock(&c->cmu);
  return n;
}

/* Path of the file with inode (dev, ino) in the tracked or backup directory, or 0. */
static int find_inode(crash_env *c, dev_t dev, ino_t ino, char *path, size_t n) {
  const char *dirs[2] = {c->dir, c->bak};
  for (int d = 0; d < 2; d++) {
    DIR *dh = opendir(dirs[d]);
    if (!dh) continue;
    struct dirent *e;
    while ((e = readdir(dh))) {
      if (e->d_name[0] == '.') continue;
      struct stat st;
      snprintf(path, n, "%s/%s", dirs[d], e->d_name);
      if (stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
        closedir(dh);
        return 1;
      }
    }
    closedir(dh);
  }
  return 0;
}

static int undo_write(crash_env *c, const cr_write *w, int how, int *failed) {
  char path[4096];
  if (!find_inode(c, w->dev, w->ino, path, sizeof path)) return 0; /* deleted for good */
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return (*failed = 1), 0;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return (*failed = 1), 0;
  }
  uint64_t size = (uint64_t)st.st_size;
  int ok = 1;
  if (w->len == 0) { /* a truncate: put the old size and the cut-off bytes back */
    if (how != 0) {
      if (size < w->old_size && ftruncate(fd, (off_t)w->old_size) != 0) ok = 0;
      if (w->oldn && pwrite(fd, w->old, w->oldn, (off_t)w->off) != (ssize_t)w->oldn) ok = 0;
    }
  } else if (how == 2) { /* garble */
    uint64_t end = w->off + w->len;
    if (end > size) end = size;
    for (uint64_t o = w->off; o < end && ok; o += 512) {
      uint8_t buf[512];
      size_t k = end - o < 512 ? (size_t)(end - o) : 512;
      for (size_t i = 0; i < k; i++) buf[i] = (uint8_t)rnd(c);
      if (pwrite(fd, buf, k, (off_t)o) != (ssize_t)k) ok = 0;
    }
  } else if (how == 1) { /* drop */
    if (w->oldn && pwrite(fd, w->old, w->oldn, (off_t)w->off) != (ssize_t)w->oldn) ok = 0;
    uint64_t end = w->off + w->len;
    if (end > w->old_size) {
      uint64_t from = w->off > w->old_size ? w->off : w->old_size;
      if (end >= size) { /* nothing kept beyond: the file ends before this write again */
        if (ftruncate(fd, (off_t)(from < size ? from : size)) != 0) ok = 0;
      } else { /* kept data beyond it: a hole of zeros */
        static const uint8_t zero[512];
        for (uint64_t o = from; o < end && ok; o += 512) {
          size_t k = end - o < 512 ? (size_t)(end - o) : 512;
          if (pwrite(fd, zero, k, (off_t)o) != (ssize_t)k) ok = 0;
        }
      }
    }
  }
  close(fd);
  if (!ok) *failed = 1;
  return 1;
}

int fio_crash_apply(fio_env *env, const char **summary) {
  if (env->ops != &crash_ops) return st_err(LSM_MISUSE, "fio_crash_apply: not a crash env");
  crash_env *c = ce(env);
  pthread_mutex_lock(&c->cmu);
  c->crashed = 1;
  int failed = 0, kept = 0, dropped = 0, garbled = 0, undone = 0, vanished = 0;
  /* 1. unsynced writes, newest first */
  for (int i = c->nw - 1; i >= 0; i--) {
    int how = (int)(rnd(c) % 3); /* 0 keep, 1 drop, 2 garble */
    if (undo_write(c, &c->w[i], how, &failed)) {
      if (how == 0) kept++;
      else if (how == 1) dropped++;
      else garbled++;
    }
  }
  /* 2. renames / deletes since the last directory sync: undo the newest k */
  int k = c->nns ? (int)(rnd(c) % (uint64_t)(c->nns + 1)) : 0;
  for (int i = c->nns - 1; i >= c->nns - k; i--) {
    cr_ns *e = &c->ns[i];
    if (e->kind == CR_RENAME) {
      if (rename(e->to, e->from) != 0) failed = 1;
      if (e->backup && link(e->backup, e->to) != 0) failed = 1;
    } else if (e->backup && link(e->backup, e->from) != 0) {
      failed = 1;
    }
    undone++;
  }
  /* 3. files created since the last directory sync may vanish */
  char **names = NULL;
  int n = 0;
  if (c->dir && fio_list(env->inner, c->dir, &names, &n) == LSM_OK) {
    for (int i = 0; i < n; i++) {
      if (durable_has(c, names[i]) || !(rnd(c) & 1)) continue;
      char p[4096];
      snprintf(p, sizeof p, "%s/%s", c->dir, names[i]);
      if (unlink(p) == 0) vanished++;
    }
    fio_list_free(names, n);
  }
  snprintf(c->summary, sizeof c->summary,
           "after sync %ld: %d unsynced writes kept, %d dropped, %d garbled; %d of %d renames/deletes "
           "undone; %d new files vanished", c->syncs, kept, dropped, garbled, undone, c->nns, vanished);
  if (summary) *summary = c->summary;
  pthread_mutex_unlock(&c->cmu);
  if (failed) return st_err(LSM_IOERR, "fio_crash_apply: could not rewrite the files (%s)", c->summary);
  return LSM_OK;
}
