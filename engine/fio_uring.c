/*
** fio_uring.c — the io_uring backend. Single requests use the plain system calls (fio_sync.c;
** why: see fio.h). The ring is used for batches (every request in flight at once) and for
** stream read-ahead.
**
** Rings live in a per-env pool (fio_env.free_rings under fio_env.mu): a batch run or a stream
** takes one, uses it alone, and puts it back, so a ring is never shared between threads and
** needs no lock of its own. No SQPOLL (a polling kernel thread per ring would burn a core of this
** 2-core machine). Files are not registered: batches touch arbitrary files, and keeping a
** registered-file table in sync with opens/closes would cost more than the fd lookup it saves.
** Every function here returns 0 or -errno.
*/
#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fio_int.h"
#include "mm.h"

/* Valgrind does not see the kernel writing read data into our buffers through the ring; tell it
** (a few no-op instructions when not under valgrind). */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define MARK_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define MARK_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define RING_ENTRIES 128 /* max requests in flight per batch; more are submitted as slots free */


struct fio_ring {
  struct io_uring ring;
  fio_ring *next_free;
  fio_ring *next_all;
  pid_t pid;  /* process that created it */
  int idle;   /* in the free list */
};

/* ---- ring pool ------------------------------------------------------------------------------- */

static int ring_create(fio_env *env, fio_ring **out) {
  fio_ring *r = mm_calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  int rc = io_uring_queue_init(env->ring_entries, &r->ring, env->ring_flags);
  if (rc < 0) {
    mm_free(r);
    return rc;
  }
  r->pid = getpid();
  pthread_mutex_lock(&env->mu);
  r->next_all = env->all_rings;
  env->all_rings = r;
  pthread_mutex_unlock(&env->mu);
  *out = r;
  return 0;
}

/* After fork() the child holds copies of the parent's rings whose SQ/CQ memory is still shared
** with the parent: using one from both processes would corrupt it. So the first pool use in a
** new process forgets the inherited rings (unmapping this process's copies only) and starts a
** fresh pool. Rings taken before the fork are freed when put back. Called with env->mu held;
** returns the rings to release outside the lock. */
static fio_ring *pool_check_fork(fio_env *env) {
  pid_t me = getpid();
  if (env->ring_pid == me) return NULL;
  env->ring_pid = me;
  fio_ring *release = NULL;
  for (fio_ring *r = env->all_rings, *next; r; r = next) {
    next = r->next_all;
    if (r->idle) { /* taken ones are freed by ring_put */
      r->next_free = release;
      release = r;
    }
  }
  env->all_rings = env->free_rings = NULL;
  return release;
}

static void release_rings(fio_ring *r) {
  while (r) {
    fio_ring *next = r->next_free;
    io_uring_queue_exit(&r->ring);
    mm_free(r);
    r = next;
  }
}

static int ring_take(fio_env *env, fio_ring **out) {
  pthread_mutex_lock(&env->mu);
  fio_ring *old = pool_check_fork(env);
  fio_ring *r = env->free_rings;
  if (r) {
    env->free_rings = r->next_free;
    r->idle = 0;
  }
  pthread_mutex_unlock(&env->mu);
  release_rings(old);
  if (r) {
    *out = r;
    return 0;
  }
  return ring_create(env, out);
}

static void ring_put(fio_env *env, fio_ring *r) {
  pthread_mutex_lock(&env->mu);
  fio_ring *old = pool_check_fork(env);
  if (r->pid == env->ring_pid) {
    r->idle = 1;
    r->next_free = env->free_rings;
    env->free_rings = r;
  } else { /* inherited from the parent, already out of the pool */
    r->next_free = old;
    old = r;
  }
  pthread_mutex_unlock(&env->mu);
  release_rings(old);
}

/* Remove a ring that failed (its state is unknown) from the env and free it. */
static void ring_drop(fio_env *env, fio_ring *r) {
  pthread_mutex_lock(&env->mu);
  for (fio_ring **p = &env->all_rings; *p; p = &(*p)->next_all)
    if (*p == r) {
      *p = r->next_all;
      break;
    }
  pthread_mutex_unlock(&env->mu);
  io_uring_queue_exit(&r->ring);
  mm_free(r);
}

static void u_destroy(fio_env *env) {
  fio_ring *r = env->all_rings;
  while (r) {
    fio_ring *next = r->next_all;
    io_uring_queue_exit(&r->ring);
    mm_free(r);
    r = next;
  }
  env->all_rings = env->free_rings = NULL;
}

/* Wait for one completion: 0 and its result in *res, or -errno (EINTR retried). */
static int wait_one(struct io_uring *ring, int *res, uint64_t *udata) {
  struct io_uring_cqe *cqe;
  int r;
  do {
    r = io_uring_wait_cqe(ring, &cqe);
  } while (r == -EINTR || r == -EAGAIN);
  if (r < 0) return r;
  *res = cqe->res;
  if (udata) *udata = cqe->user_data;
  io_uring_cqe_seen(ring, cqe);
  return 0;
}

/* Submit what is queued, then wait for `want` completions: by polling for up to env->poll_us,
** then by sleeping. Each poll enters the kernel (io_uring_get_events), which runs the
** completions' task work; without it nothing reaches the completion queue. Why poll at all: on a
** VM a sleeping thread can be woken long after its completion arrives (lsm.h io_poll_us).
** Returns >= 0, or -errno as io_uring_submit_and_wait does. */
static int submit_and_poll(fio_env *env, struct io_uring *ring, unsigned want) {
  int r = io_uring_submit(ring);
  if (r < 0) return r;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int64_t budget = (int64_t)env->poll_us * 1000;
  for (;;) {
    if (io_uring_cq_ready(ring) >= want) {
      atomic_fetch_add_explicit(&env->n_polled, 1, memory_order_relaxed);
      return 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((int64_t)(t.tv_sec - t0.tv_sec) * 1000000000 + (t.tv_nsec - t0.tv_nsec) >= budget) break;
    r = io_uring_get_events(ring);
    if (r < 0 && r != -EINTR && r != -EAGAIN) return r;
  }
  atomic_fetch_add_explicit(&env->n_slept, 1, memory_order_relaxed);
  struct io_uring_cqe *cqe;
  do {
    r = io_uring_wait_cqe_nr(ring, &cqe, want);
  } while (r == -EINTR);
  return r < 0 ? r : 0;
}

/* ---- batches ----------------------------------------------------------------------------------
** What goes on the ring: reads (buffered or O_DIRECT) and O_DIRECT writes. What does not:
**   - buffered writes: io_uring punts them to a kernel worker (5-50 us each on ext4, measured)
**     while pwrite copies into the page cache in ~1.8 us, so they run inline, at once;
**   - syncs: an fsync always blocks, so io_uring also punts it to a worker; inline fdatasync is
**     cheaper. A sync is a barrier: the run first waits until every earlier request (with its
**     resubmitted remainders) has completed, then calls fdatasync, then goes on. That gives the
**     documented order without IOSQE_IO_DRAIN, and a short write resubmitted after a drained
**     fsync can never slip past it. */

typedef struct {
  fio_batch *b;
  int head, tail; /* FIFO of requests to resubmit, linked by rnext */
} run_state;

static void push_retry(run_state *rs, int i) {
  fio_req *r = &rs->b->req[i];
  r->state = FIO_ST_RETRY;
  r->rnext = -1;
  if (rs->tail >= 0) rs->b->req[rs->tail].rnext = i;
  else rs->head = i;
  rs->tail = i;
}

static int pop_retry(run_state *rs) {
  int i = rs->head;
  if (i >= 0) {
    rs->head = rs->b->req[i].rnext;
    if (rs->head < 0) rs->tail = -1;
  }
  return i;
}

static void prep(struct io_uring_sqe *sqe, fio_req *r, int idx) {
  struct iovec *iov = fio__req_iov(r);
  int cnt = r->niov;
  uint64_t off = r->off + r->done;
  /* Skip what is done: the request's own iovec copy is advanced in place on short transfers
  ** (safe: IORING_FEAT_SUBMIT_STABLE, the kernel keeps its own copy once submitted). */
  while (cnt > 1 && iov->iov_len == 0) {
    iov++;
    cnt--;
  }
  if (r->op == FIO_REQ_READ) {
    if (cnt == 1) io_uring_prep_read(sqe, r->f->fd, iov->iov_base, (unsigned)iov->iov_len, off);
    else io_uring_prep_readv(sqe, r->f->fd, iov, (unsigned)cnt, off);
  } else {
    if (cnt == 1) io_uring_prep_write(sqe, r->f->fd, iov->iov_base, (unsigned)iov->iov_len, off);
    else io_uring_prep_writev(sqe, r->f->fd, iov, (unsigned)cnt, off);
  }
  io_uring_sqe_set_data64(sqe, (uint64_t)idx);
}

static void complete(run_state *rs, int i, int res) {
  fio_req *r = &rs->b->req[i];
  if (res == -EAGAIN || res == -EINTR) {
    push_retry(rs, i);
    return;
  }
  if (res < 0) {
    r->err = res;
    r->state = FIO_ST_DONE;
    return;
  }
  if (res == 0) { /* read: end of file; write: no progress, never loop on it */
    if (r->op == FIO_REQ_WRITE) r->err = -EIO;
    r->state = FIO_ST_DONE;
    return;
  }
  if (r->op == FIO_REQ_READ) { /* the res bytes just read, across the remaining iovecs */
    struct iovec *v = fio__req_iov(r);
    size_t left = (size_t)res;
    for (int k = 0; k < r->niov && left; k++) {
      size_t m = v[k].iov_len < left ? v[k].iov_len : left;
      MARK_DEFINED(v[k].iov_base, m);
      left -= m;
    }
  }
  r->done += (size_t)res;
  if (r->done >= r->len ||
      (r->op == FIO_REQ_READ && (r->f->mode & FIO_DIRECT) && (r->done % FIO_ALIGN))) {
    r->state = FIO_ST_DONE; /* complete, or an O_DIRECT read cut short by EOF */
    return;
  }
  /* Short transfer: consume res bytes from the request's own iovec copy in place (emptied
  ** entries stay, with length 0, and prep skips them), then resubmit the remainder. */
  struct iovec *v = fio__req_iov(r);
  size_t left = (size_t)res;
  for (int k = 0; k < r->niov && left; k++) {
    size_t m = v[k].iov_len < left ? v[k].iov_len : left;
    v[k].iov_base = (char *)v[k].iov_base + m;
    v[k].iov_len -= m;
    left -= m;
  }
  push_retry(rs, i);
}

/* Run request r without the ring (buffered write, sync). */
static void run_inline(fio_env *env, fio_req *r) {
  if (r->op == FIO_REQ_SYNC) {
    r->err = fio__sys_sync(env, r->f);
  } else {
    r->err = fio__sys_write(env, r->f, r->off, fio__req_iov(r), r->niov);
    r->done = r->err ? 0 : r->len;
  }
  r->state = FIO_ST_DONE;
}

static int u_batch_run(fio_env *env, fio_batch *b) {
  fio_ring *rg;
  int rc = ring_take(env, &rg);
  if (rc) return rc; /* fio.c runs the requests one by one instead */
  struct io_uring *ring = &rg->ring;
  run_state rs = {b, -1, -1};
  unsigned inflight = 0; /* prepared and not yet completed */
  int next = 0, barrier = 0;
  for (;;) {
    while (inflight < env->ring_entries) {
      int i = pop_retry(&rs);
      if (i < 0) {
        if (next >= b->n) break;
        fio_req *r = &b->req[next];
        if (r->state == FIO_ST_DONE) { /* failed before the run (sticky file) */
          next++;
          continue;
        }
        if (r->op == FIO_REQ_SYNC) {
          if (inflight) {
            barrier = 1; /* wait for everything before it */
            break;
          }
          run_inline(env, r);
          next++;
          continue;
        }
        if (r->len == 0) {
          r->state = FIO_ST_DONE;
          next++;
          continue;
        }
        if (r->op == FIO_REQ_WRITE && !(r->f->mode & FIO_DIRECT)) {
          run_inline(env, r);
          next++;
          continue;
        }
        i = next++;
      }
      struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
      if (!sqe) { /* cannot happen while inflight < entries; be safe */
        push_retry(&rs, i);
        break;
      }
      prep(sqe, &b->req[i], i);
      b->req[i].state = FIO_ST_INFLIGHT;
      inflight++;
    }
    if (inflight == 0) break; /* nothing in flight, nothing left to queue */
    /* With nothing more to queue, wait for all in one system call. */
    unsigned want = barrier || (rs.head < 0 && next >= b->n) ? inflight : 1;
    barrier = 0;
    int r = env->poll_us ? submit_and_poll(env, ring, want) : io_uring_submit_and_wait(ring, want);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
      rc = r;
      break;
    }
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(ring, head, cqe) {
      complete(&rs, (int)cqe->user_data, cqe->res);
      seen++;
    }
    io_uring_cq_advance(ring, seen);
    inflight -= seen;
  }
  if (!rc) {
    ring_put(env, rg);
    return 0;
  }
  /* The ring failed: wait for what the kernel holds (it may still write our buffers), fail
  ** every request that was started, leave untouched ones to fio.c's one-by-one run, and throw
  ** the ring away. */
  unsigned kernel = inflight - io_uring_sq_ready(ring);
  for (unsigned k = 0; k < kernel; k++) {
    int res;
    if (wait_one(ring, &res, NULL) < 0) break;
  }
  for (int i = 0; i < b->n; i++) {
    fio_req *q = &b->req[i];
    if (q->state == FIO_ST_INFLIGHT || q->state == FIO_ST_RETRY) {
      q->err = rc;
      q->state = FIO_ST_DONE;
    }
  }
  ring_drop(env, rg);
  return rc;
}

/* ---- streams --------------------------------------------------------------------------------- */

/* Submit the (rest of the) read-ahead into buf[pbuf]. */
static int stream_submit(fio_stream *s) {
  struct io_uring *ring = &s->ring->ring;
  struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
  if (!sqe) return -EBUSY;
  io_uring_prep_read(sqe, s->f->fd, (char *)s->buf[s->pbuf] + s->pgot,
                     (unsigned)(s->chunk - s->pgot), s->poff + s->pgot);
  int r;
  do {
    r = io_uring_submit(ring);
  } while (r == -EINTR || r == -EAGAIN);
  if (r < 0) return r;
  s->pending = 1;
  return 0;
}

static int u_stream_open(fio_env *env, fio_stream *s) {
  if (ring_take(env, &s->ring) != 0) {
    s->ring = NULL; /* no ring: plain reads (u_stream_next) */
    return 0;
  }
  s->pbuf = 0;
  s->poff = 0;
  s->pgot = 0;
  return stream_submit(s);
}

static int u_stream_next(fio_env *env, fio_stream *s, void **data, size_t *n) {
  *data = NULL;
  *n = 0;
  if (!s->ring) { /* fallback without a ring */
    if (s->eof) return 0;
    struct iovec v = {s->buf[0], s->chunk};
    size_t got;
    int r = fio__sys_read(env, s->f, s->off, &v, 1, &got);
    if (r) return r;
    s->off += got;
    if (got < s->chunk) s->eof = 1;
    *data = s->buf[0];
    *n = got;
    return 0;
  }
  if (!s->pending) return 0; /* end reached */
  for (;;) {
    int res, r = wait_one(&s->ring->ring, &res, NULL);
    if (r) return r; /* the ring is broken: pending stays set, close will drop it */
    s->pending = 0;
    if (res == -EAGAIN || res == -EINTR) {
      if ((r = stream_submit(s))) return r;
      continue;
    }
    if (res < 0) return res;
    if (res == 0) break;
    MARK_DEFINED((char *)s->buf[s->pbuf] + s->pgot, (size_t)res);
    s->pgot += (size_t)res;
    if (s->pgot == s->chunk || ((s->f->mode & FIO_DIRECT) && (s->pgot % FIO_ALIGN))) break;
    if ((r = stream_submit(s))) return r; /* short read: the rest */
  }
  size_t got = s->pgot;
  if (got == 0) return 0;
  *data = s->buf[s->pbuf];
  *n = got;
  s->off = s->poff + got;
  if (got == s->chunk) { /* read ahead into the other buffer while the caller works */
    s->pbuf ^= 1;
    s->poff = s->off;
    s->pgot = 0;
    int r = stream_submit(s);
    if (r) return r;
  }
  return 0;
}

static void u_stream_close(fio_env *env, fio_stream *s) {
  if (!s->ring) return;
  if (s->pending) {
    int res;
    if (wait_one(&s->ring->ring, &res, NULL) != 0) {
      ring_drop(env, s->ring); /* tears down in-flight requests before the buffers are freed */
      s->ring = NULL;
      return;
    }
  }
  ring_put(env, s->ring);
  s->ring = NULL;
}

static const fio_ops uring_ops = {
    .read = fio__sys_read,
    .write = fio__sys_write,
    .read_cached = fio__sys_read_cached,
    .sync = fio__sys_sync,
    .truncate = fio__sys_truncate,
    .rename = fio__sys_rename,
    .unlink = fio__sys_unlink,
    .sync_dir = fio__sys_sync_dir,
    .batch_run = u_batch_run,
    .stream_open = u_stream_open,
    .stream_next = u_stream_next,
    .stream_close = u_stream_close,
    .destroy = u_destroy,
};

/* Probe: a ring can be set up, the opcodes we use exist, and a NOP round-trips (seccomp
** filters can allow io_uring_setup yet block io_uring_enter). The probe ring joins the pool. */
int fio__uring_init(fio_env *env) {
  env->ring_pid = getpid();
  env->ring_entries = RING_ENTRIES;
  env->ring_flags = IORING_SETUP_COOP_TASKRUN; /* no IPI per completion; we always wait */
  fio_ring *rg;
  int r = ring_create(env, &rg);
  if (r == -EINVAL) { /* kernel < 5.19 */
    env->ring_flags = 0;
    r = ring_create(env, &rg);
  }
  if (r) return r;
  struct io_uring *ring = &rg->ring;
  if (!(ring->features & IORING_FEAT_SUBMIT_STABLE)) r = -ENOSYS;
  struct io_uring_probe *p = r ? NULL : io_uring_get_probe_ring(ring);
  if (!r && p) {
    int ops[] = {IORING_OP_READ, IORING_OP_WRITE, IORING_OP_READV, IORING_OP_WRITEV,
                 IORING_OP_FSYNC, IORING_OP_NOP};
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++)
      if (!io_uring_opcode_supported(p, ops[i])) r = -ENOSYS;
    io_uring_free_probe(p);
  } else if (!r) {
    r = -ENOSYS;
  }
  if (!r) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    io_uring_prep_nop(sqe);
    int res = 0;
    r = io_uring_submit(ring);
    if (r >= 0) r = wait_one(ring, &res, NULL);
    if (!r && res < 0) r = res;
  }
  if (r) {
    ring_drop(env, rg);
    return r < 0 ? r : -EIO;
  }
  ring_put(env, rg);
  env->ops = &uring_ops;
  env->name = "uring";
  env->backend = FIO_URING;
  return 0;
}
