/*
** fio.h — the file-IO layer under the engine (SSTables, WAL, manifest) and the uring VFS.
**
** Backends. A fio_env is one backend instance:
**   FIO_SYNC   plain pread/pwrite/fdatasync system calls.
**   FIO_URING  io_uring (liburing), no SQPOLL. Measured on ext4 (see docs/BENCHMARKS.md): a
**              buffered io_uring write is punted to a kernel worker and costs 5-50 us against
**              ~1.8 us for pwrite, and a one-request ring round trip costs more than pread.
**              So on this backend every SINGLE request (fio_read_at, fio_append, fio_sync, ...,
**              buffered or O_DIRECT) still goes through the plain system call, and the ring is
**              used where it wins: fio_batch_run puts all its reads and O_DIRECT writes in flight
**              at once (the big win: O_DIRECT random reads), while its buffered writes and its
**              syncs run inline (an fsync blocks, so io_uring would punt it to a worker too);
**              and fio_stream reads the next chunk ahead while the caller works on the current
**              one. The uring backend is thus never slower than sync for single requests.
**   FIO_AUTO   uring if io_uring works here (a ring can be set up and a NOP round-trips; not
**              the case under some seccomp profiles or old kernels), else sync. Environment
**              variable LSMVTAB_IO=sync|uring overrides AUTO (uring then fails if unusable).
**   fio_env_fault() wraps another env and injects errors (tests).
**
** Errors. Every function returning int gives LSM_OK (0) or an LSM_* code and records a message
** (st_errmsg()). Internally the backends return -errno; the public functions map it with
** st_errno(): missing file/directory, or opening a directory -> LSM_CANTOPEN (distinct
** messages); create of an existing path -> LSM_CANTOPEN "already exists"; no space -> LSM_FULL;
** offset beyond INT64_MAX or misaligned O_DIRECT IO -> LSM_RANGE; other failures ->
** LSM_IOERR_READ / _WRITE / _FSYNC / _DIR_FSYNC / _TRUNCATE / _DELETE / _RENAME / _FSTAT;
** writing to a file opened FIO_RDONLY -> LSM_MISUSE; out of memory -> LSM_NOMEM.
**
** Sticky sync failure: after fio_sync (or a batch sync) fails on a file, the file's state on
** disk is unknown (a failed fsync may have dropped dirty pages), so every later write and sync
** on that fio_file fails with LSM_IOERR_FSYNC until it is closed and reopened.
**
** Thread safety:
**   - A fio_env may be used by any number of threads at once (readers, flush thread, VFS).
**     On uring, rings come from a per-env pool: a batch run or a stream takes a ring from the
**     pool (creating one if none is free) and returns it when done, so no ring is ever used by
**     two threads at once and no per-ring lock is needed. All rings are torn down by
**     fio_env_free. The pool grows to the peak number of concurrent batches/streams.
**   - A fio_file may be read (fio_read_at, fio_readv_at, batches of reads) by many threads at
**     once. Writes (append, write_at, truncate, sync) to one file are single-writer: the caller
**     serialises them, and must not close a file other threads still use.
**   - fio_stream and fio_batch objects are used by one thread at a time.
**   - fork(): a child may keep using an env it inherited (the uring pool notices the new
**     process and sets up its own rings; the parent's are never touched from the child). A
**     stream open across the fork must not be continued in the child.
**   - fio_fault_* calls are thread-safe (counters under a mutex).
**
** Paths are used as given (relative to the process cwd if relative). Files are opened
** O_CLOEXEC; new files get mode 0644, directories 0755.
*/
#ifndef LSMVTAB_FIO_H
#define LSMVTAB_FIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct fio_env fio_env;       /* a backend instance */
typedef struct fio_file fio_file;     /* an open file */
typedef struct fio_stream fio_stream; /* a chunked whole-file reader */
typedef struct fio_batch fio_batch;   /* a set of queued requests run together */

/* Open modes (fio_create, fio_open, fio_wrap_fd). */
#define FIO_RDONLY 1
#define FIO_WRONLY 2
#define FIO_RDWR   3
#define FIO_DIRECT 8 /* O_DIRECT: offsets, lengths and buffer addresses must be FIO_ALIGN aligned,
                     ** else LSM_RANGE. A filesystem without O_DIRECT (tmpfs) gives LSM_CANTOPEN. */
#define FIO_ALIGN 4096

enum { FIO_AUTO = 0, FIO_SYNC = 1, FIO_URING = 2 };

/* ---- environments ------------------------------------------------------------------------- */

/* New backend instance (see the top comment for FIO_AUTO). Free with fio_env_free. Asking for
** FIO_URING where io_uring does not work gives LSM_ERROR with the reason. */
int fio_env_new(int backend, fio_env **out);

/* A fault-injecting wrapper around `inner` (for tests): every operation goes to `inner` unless a
** fault set with fio_fault_set fires. Does NOT take ownership: `inner` must outlive the wrapper;
** free the wrapper first. Batches and streams on the wrapper run request by request (through the
** fault checks), not on inner's ring. */
int fio_env_fault(fio_env *inner, fio_env **out);

/* "sync", "uring", "fault(sync)", "fault(uring)". Static string. */
const char *fio_env_name(const fio_env *env);

/* FIO_SYNC or FIO_URING: the backend actually in use (for a fault env: inner's backend). */
int fio_env_backend(const fio_env *env);

/* Batch waits on a uring env (fio_batch_run) poll the ring's completion queue for up to `us`
** microseconds before sleeping; 0, the default, sleeps at once (lsm_options.io_poll_us says
** when polling pays). Each wait of a batch polls afresh; a wait still unsatisfied when its
** budget ends sleeps. Set it before other threads use the env (a plain store). No effect on the
** sync backend, on streams, or on a fault wrapper (its batches run request by request). */
void fio_env_set_poll(fio_env *env, unsigned us);

/* The uring backend's batch waits that polled (budget > 0), since the env was made: how many
** were satisfied within the budget, and how many slept after it ran out. For tests and tuning. */
void fio_env_poll_counts(const fio_env *env, uint64_t *polled, uint64_t *slept);

/* Free the env and its rings. All files, streams and batches of this env must be gone first.
** NULL is a no-op. */
void fio_env_free(fio_env *env);

/* ---- files ----------------------------------------------------------------------------------- */

/* Create a new file (O_CREAT|O_EXCL): LSM_CANTOPEN "already exists" if the path exists. */
int fio_create(fio_env *env, const char *path, int mode, fio_file **out);

/* Open an existing file. Missing -> LSM_CANTOPEN "...: No such file or directory"; a directory
** -> LSM_CANTOPEN "...: is a directory". The append offset starts at the file's size. */
int fio_open(fio_env *env, const char *path, int mode, fio_file **out);

/* Borrow an fd the caller keeps owning (the VFS keeps SQLite's own fd): fio_close frees the
** fio_file but does not close fd. `mode` must describe how fd was opened (FIO_DIRECT if it has
** O_DIRECT). */
int fio_wrap_fd(fio_env *env, int fd, int mode, fio_file **out);

/* Close (and free) the file; for fio_lock files this releases the lock. NULL is a no-op (LSM_OK).
** Returns LSM_IOERR_CLOSE if close(2) fails; the fio_file is freed in every case. */
int fio_close(fio_file *f);

/* Write all n bytes at the file's append offset, then advance it: all bytes or an error (short
** transfers are continued). The append offset starts at the size at open/create and is moved by
** appends, by writes that end beyond it, and by fio_truncate. Single writer per file. */
int fio_append(fio_file *f, const void *buf, size_t n);

/* Append consecutive buffers as one vectored request (pwritev). n <= IOV_MAX. */
int fio_appendv(fio_file *f, const struct iovec *iov, int n);

/* Write all n bytes at `off` (short transfers are continued). */
int fio_write_at(fio_file *f, uint64_t off, const void *buf, size_t n);
int fio_writev_at(fio_file *f, uint64_t off, const struct iovec *iov, int n);

/* Read up to n bytes at `off` into buf; *got = bytes read. Short only at end of file (then the
** rest of buf is untouched, never garbage); *got == 0 at or past the end. Safe from many
** threads at once. */
int fio_read_at(fio_file *f, uint64_t off, void *buf, size_t n, size_t *got);
int fio_readv_at(fio_file *f, uint64_t off, const struct iovec *iov, int n, size_t *got);

/* Read up to n bytes at `off` ONLY from the kernel's page cache, never waiting for the device
** (preadv2 with RWF_NOWAIT): *got = bytes read, n when all of them were cached. *got < n when
** the rest is not cached, or the file ends there (the two are not told apart: read the rest
** with fio_read_at). A miss starts the kernel's read of the missing pages (it does not wait for
** it; the caller's next read finds them sooner), and when that read completes before the call
** looks again the bytes are returned too: *got counts whatever the cache held by then. *got == 0
** is LSM_OK too (nothing cached; also for FIO_DIRECT files, where the backend has no such call,
** or where the filesystem refuses RWF_NOWAIT — the file then stops asking). Real IO errors as fio_read_at. The point: a page-cache hit costs exactly one
** system call, so a caller can try this first and start read-ahead only on a miss. */
int fio_read_cached(fio_file *f, uint64_t off, void *buf, size_t n, size_t *got);

/* Current size on disk (fstat). */
int fio_size(fio_file *f, uint64_t *size);

/* Make the written data durable (fdatasync). On failure the file turns sticky (see top). */
int fio_sync(fio_file *f);

/* Set the size to `size` (ftruncate); the append offset becomes `size`. */
int fio_truncate(fio_file *f, uint64_t size);

/* The descriptor (for flock/fstat by callers that must). Owned by the fio_file unless wrapped. */
int fio_fd(const fio_file *f);

/* ---- paths ----------------------------------------------------------------------------------- */

/* Replace `path` atomically with buf[0..n): write "<path>.tmp", fdatasync it, rename over path,
** fsync the directory. After a crash or an error the path holds either the whole old content or
** the whole new content. An error leaves no temp file behind (it is unlinked). If the error
** comes from the final directory fsync the new content is in place but maybe not durable; the
** return is still an error (LSM_IOERR_DIR_FSYNC). One writer per path at a time; a "<path>.tmp"
** left by a crash is simply overwritten by the next call. */
int fio_write_atomic(fio_env *env, const char *path, const void *buf, size_t n);

int fio_delete(fio_env *env, const char *path);                 /* missing -> LSM_CANTOPEN */
int fio_rename(fio_env *env, const char *from, const char *to); /* rename(2): replaces `to` */
int fio_sync_dir(fio_env *env, const char *dir);                /* fsync a directory */
int fio_mkdir(fio_env *env, const char *path);  /* ok if it already exists as a directory */
int fio_exists(fio_env *env, const char *path, int *exists); /* *exists = 0/1 (any file type) */

/* Names in `dir` (without "." and ".."), sorted by strcmp. Caller frees with fio_list_free. */
int fio_list(fio_env *env, const char *dir, char ***names, int *count);
void fio_list_free(char **names, int count);

/* Create/open `path` and take flock(LOCK_EX|LOCK_NB) on it. Held elsewhere (another process, or
** another fio_lock on the same path in this process) -> LSM_BUSY "...: locked by another
** process". Release with fio_close(*lock). */
int fio_lock(fio_env *env, const char *path, fio_file **lock);

/* FIO_ALIGN-aligned memory for FIO_DIRECT buffers (through mm: NULL on OOM). Free with
** fio_free_aligned (NULL is a no-op). */
void *fio_alloc_aligned(size_t n);
void fio_free_aligned(void *p);

/* ---- streamed whole-file read ---------------------------------------------------------------- */

/* Read f from offset 0 to its end, `chunk` bytes at a time (chunk > 0; a multiple of FIO_ALIGN
** for FIO_DIRECT files). On uring the next chunk is read ahead while the caller works on the
** current one. The stream does not own f; close the stream before the file. */
int fio_stream_open(fio_file *f, size_t chunk, fio_stream **out);

/* Next chunk: *data and *n; *n == chunk except for the last one; *n == 0 at the end. *data stays
** valid until the next fio_stream_next or fio_stream_close. After an error the stream can only
** be closed. */
int fio_stream_next(fio_stream *s, const void **data, size_t *n);

/* Waits for any read-ahead in flight, then frees. NULL is a no-op. */
void fio_stream_close(fio_stream *s);

/* ---- batched requests -------------------------------------------------------------------------
** Queue reads/writes/syncs, then run them all and look at per-request results. On uring all
** requests are in flight at once (one submission per ring-full; short transfers and -EAGAIN
** are resubmitted for the remainder); on sync they are done one by one in queue order.
** Requests without a sync between them have no ordering among each other (like the kernel's),
** so do not queue overlapping writes, or a read of a range written in the same batch, without
** a sync between them. Buffers and iovec arrays must stay valid until fio_batch_run returns
** (the iovec array is copied at queue time; the buffers are not). */
int fio_batch_new(fio_env *env, fio_batch **out);

/* Queue a read of up to n bytes at off into buf (short at EOF, see fio_read_at). Returns the
** request index (>= 0, in queue order), or a negative status: -LSM_NOMEM, or -LSM_RANGE /
** -LSM_MISUSE for a bad offset, misaligned direct IO or a read-only file (message recorded). */
int fio_batch_read(fio_batch *b, fio_file *f, uint64_t off, void *buf, size_t n);
int fio_batch_write(fio_batch *b, fio_file *f, uint64_t off, const void *buf, size_t n);
int fio_batch_writev(fio_batch *b, fio_file *f, uint64_t off, const struct iovec *iov, int n);

/* Queue an fdatasync of f that runs only after every earlier request of the batch has fully
** completed (short transfers included); later requests start after it. On uring it is a
** barrier: the run waits for the ring to empty, then calls fdatasync (cheaper than an io_uring
** fsync, which the kernel punts to a worker thread, and immune to resubmitted remainders
** slipping past a drained fsync). */
int fio_batch_sync(fio_batch *b, fio_file *f);

/* Run all queued requests and wait for all of them. Returns the first failing request's status
** (in queue order), or LSM_OK. A batch runs once; fio_batch_reset to reuse it. */
int fio_batch_run(fio_batch *b);

/* Status of request i after fio_batch_run (records its message if failed) and *done = bytes
** transferred (may be NULL). i out of range -> LSM_RANGE. */
int fio_batch_result(fio_batch *b, int i, size_t *done);

int fio_batch_count(fio_batch *b);  /* requests queued */
void fio_batch_reset(fio_batch *b); /* forget all requests, keep the memory, reuse */
void fio_batch_free(fio_batch *b);  /* NULL is a no-op */

/* ---- fault injection (only on an env from fio_env_fault; LSM_MISUSE elsewhere) -----------------
** Op classes: READ = read_at/readv/read_cached/stream/batch reads, WRITE = append/write_at/
** writev/batch writes, SYNC = fio_sync/fio_sync_dir/batch syncs, RENAME, TRUNCATE, DELETE.
** Kinds:
**   FIO_FAULT_ONCE   the nth matching op fails with EIO (-> LSM_IOERR_*), later ones succeed.
**   FIO_FAULT_FROM   the nth matching op and every later one fails with EIO.
**   FIO_FAULT_SHORT  the nth matching write stores only its first half, then fails with ENOSPC
**                    (-> LSM_FULL): what a disk filling up mid-write looks like. Non-write ops
**                    fail with EIO.
**   FIO_FAULT_TORN   the nth matching write stores only a prefix (half, rounded down to 512
**                    bytes when n >= 1024), then fails with EIO: a torn write. Non-write ops
**                    fail with EIO.
**   (SHORT/TORN on a FIO_DIRECT file round the stored prefix down to FIO_ALIGN.)
**   FIO_FAULT_HOLD   the nth matching op waits until fio_fault_clear, then runs normally: a
**                    slow disk at a chosen moment (fio_fault_count tells when it has begun).
** Counting is of ops that reach the fault layer, 1-based, from the fio_fault_set call. */
enum {
  FIO_OP_READ = 1, FIO_OP_WRITE = 2, FIO_OP_SYNC = 4, FIO_OP_RENAME = 8, FIO_OP_TRUNCATE = 16,
  FIO_OP_DELETE = 32, FIO_OP_ALL = 63
};
enum { FIO_FAULT_ONCE = 1, FIO_FAULT_FROM = 2, FIO_FAULT_SHORT = 3, FIO_FAULT_TORN = 4, FIO_FAULT_HOLD = 5 };

/* Arm one fault (replacing any armed one): the nth (1-based) op matching `ops` from now. */
int fio_fault_set(fio_env *env, int ops, long nth, int kind);
/* Disarm (and let a held op go on). */
void fio_fault_clear(fio_env *env);
/* Number of ops of the classes in `ops` seen since the fault env was created (0 elsewhere). */
long fio_fault_count(fio_env *env, int ops);

#endif
