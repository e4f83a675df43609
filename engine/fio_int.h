/*
** fio_int.h — private to engine/fio*.c: the backend operation table and the shared structs.
**
** Layering: the public functions (fio.c) check arguments, call env->ops, and map the -errno the
** ops return to LSM_* codes with st_errno. A backend is one fio_ops table:
**   fio_sync.c   plain system calls (also used by the uring backend for single requests),
**   fio_uring.c  batches and streams on pooled io_uring rings,
**   fio_fault.c  a wrapper that counts ops, injects faults, and forwards to the inner env.
** Ops take the env they are called on (not f->env), so a wrapper can forward f unchanged.
*/
#ifndef LSMVTAB_FIO_INT_H
#define LSMVTAB_FIO_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "fio.h"

/* Request kinds of a batch, and the states of a request during a run. */
enum { FIO_REQ_READ = 1, FIO_REQ_WRITE = 2, FIO_REQ_SYNC = 3 };
enum { FIO_ST_QUEUED = 0, FIO_ST_INFLIGHT = 1, FIO_ST_DONE = 2, FIO_ST_RETRY = 3 };

typedef struct fio_ops {
  /* Read into iov[0..n) at off until full or EOF: 0 and *got, or -errno. */
  int (*read)(fio_env *env, fio_file *f, uint64_t off, const struct iovec *iov, int n,
              size_t *got);
  /* Write all of iov[0..n) at off: 0 or -errno (short transfers continued inside). */
  int (*write)(fio_env *env, fio_file *f, uint64_t off, const struct iovec *iov, int n);
  /* Read from the page cache only (RWF_NOWAIT): 0 and *got (0 if nothing was cached), or
  ** -errno; -EOPNOTSUPP: not possible on this file. Optional (NULL: *got = 0). */
  int (*read_cached)(fio_env *env, fio_file *f, uint64_t off, void *buf, size_t n,
                     size_t *got);
  int (*sync)(fio_env *env, fio_file *f); /* fdatasync */
  int (*truncate)(fio_env *env, fio_file *f, uint64_t size);
  int (*rename)(fio_env *env, const char *from, const char *to);
  int (*unlink)(fio_env *env, const char *path);
  int (*sync_dir)(fio_env *env, const char *dir);
  /* Optional (NULL: generic request-by-request run / plain chunk reads in fio.c). */
  int (*batch_run)(fio_env *env, fio_batch *b);   /* sets each request's err/done; 0 or -errno
                                                   ** if the ring itself failed (then fio.c falls
                                                   ** back to the generic run for what is left) */
  int (*stream_open)(fio_env *env, fio_stream *s); /* start read-ahead: 0 or -errno */
  int (*stream_next)(fio_env *env, fio_stream *s, void **data, size_t *n); /* 0 or -errno */
  void (*stream_close)(fio_env *env, fio_stream *s);
  void (*destroy)(fio_env *env); /* free backend state (not the env struct) */
} fio_ops;

typedef struct fio_ring fio_ring; /* fio_uring.c */

struct fio_env {
  const fio_ops *ops;
  const char *name;
  int backend;     /* FIO_SYNC / FIO_URING in use */
  fio_env *inner;  /* fault wrapper: the env it forwards to (not owned) */
  /* uring: pool of rings (see fio.h "Thread safety") */
  pthread_mutex_t mu;
  fio_ring *free_rings; /* idle rings */
  fio_ring *all_rings;  /* every ring, for teardown */
  pid_t ring_pid;        /* process owning the pool (see fio_uring.c: fork) */
  unsigned ring_entries;
  unsigned ring_flags;
  unsigned poll_us;                    /* fio_env_set_poll */
  _Atomic uint64_t n_polled, n_slept;  /* fio_env_poll_counts */
  /* fault wrapper state, under mu */
  int f_ops, f_kind; /* armed fault (f_ops == 0: none) */
  pthread_cond_t f_cv; /* FIO_FAULT_HOLD: a held op waits here until the fault is cleared */
  long f_nth, f_seen;
  long f_count[6]; /* per op class (bit index), since creation */
};

struct fio_file {
  fio_env *env;
  int fd;
  int mode;      /* FIO_* mode bits */
  int owns_fd;   /* 0 for fio_wrap_fd */
  int sticky;    /* status of a failed sync: later writes/syncs fail with it */
  int no_cached; /* fio_read_cached is not possible here (RWF_NOWAIT refused): always *got 0 */
  uint64_t end;  /* append offset */
  char *path;    /* for messages; "fd N" for wrapped fds */
};

typedef struct fio_req {
  int op;                /* FIO_REQ_* */
  fio_file *f;
  uint64_t off;          /* start offset (the original; resubmits add done) */
  struct iovec one;      /* the single buffer of read/write */
  struct iovec *iov;     /* writev: owned copy (mm); NULL: use `one` */
  int niov;
  size_t len;            /* total bytes asked */
  size_t done;           /* bytes transferred */
  int err;               /* 0 or -errno */
  int state;             /* ST_*: what is left to do */
  int rnext;             /* uring: retry list link */
} fio_req;

struct fio_batch {
  fio_env *env;
  fio_req *req;
  int n, cap;
  int ran;
};

struct fio_stream {
  fio_file *f;
  size_t chunk;
  uint64_t off;     /* offset of the next byte to hand out / read */
  void *buf[2];     /* FIO_ALIGN-aligned, chunk bytes each */
  int err;          /* sticky status after an error */
  int eof;          /* nothing more to read */
  /* uring read-ahead state */
  fio_ring *ring;
  int pending;      /* a read into buf[pbuf] is in flight */
  int pbuf;
  uint64_t poff;    /* its file offset */
  size_t pgot;      /* bytes of it completed so far */
};

/* The request's iovec array (its own copy, or the single buffer). */
static inline struct iovec *fio__req_iov(fio_req *r) { return r->iov ? r->iov : &r->one; }

/* Plain system-call ops (fio_sync.c), shared with the uring backend. */
int fio__sys_read(fio_env *env, fio_file *f, uint64_t off, const struct iovec *iov, int n,
                  size_t *got);
int fio__sys_write(fio_env *env, fio_file *f, uint64_t off, const struct iovec *iov, int n);
int fio__sys_read_cached(fio_env *env, fio_file *f, uint64_t off, void *buf, size_t n,
                         size_t *got);
int fio__sys_sync(fio_env *env, fio_file *f);
int fio__sys_truncate(fio_env *env, fio_file *f, uint64_t size);
int fio__sys_rename(fio_env *env, const char *from, const char *to);
int fio__sys_unlink(fio_env *env, const char *path);
int fio__sys_sync_dir(fio_env *env, const char *dir);

extern const fio_ops fio__sync_ops;
/* uring: set up env (probe) -> 0 or -errno; fio.c falls back to sync on failure for AUTO. */
int fio__uring_init(fio_env *env);
/* fault wrapper set-up (fio_fault.c) */
extern const fio_ops fio__fault_ops;
/* fault: count an op of class `cls` and decide: 0 = pass, else the kind that fires. */
int fio__fault_check(fio_env *env, int cls);

#endif
