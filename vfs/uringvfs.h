/*
** uringvfs.h — the `uring` VFS: SQLite's own file IO through the file-IO layer (engine/fio.h).
**
** A shim over the default VFS (normally "unix"), found with sqlite3_vfs_find(NULL) at
** registration. The unix VFS opens every file, so locking, shared memory (WAL index), xAccess,
** xFullPathname, xDelete (after a flush), xDlOpen, xRandomness, xSleep, xCurrentTime and mmap
** (xFetch/xUnfetch) are unix's. This VFS takes over, on the descriptor unix opened (borrowed
** with fio_wrap_fd, never a second descriptor: closing one would drop the process's POSIX
** locks):
**   xWrite     queued (the data is copied) and written later in coalesced runs: the queue is
**              sorted, contiguous writes merge into vectored writes (pwritev) of at most
**              64 KiB each (see UV_RUN_BYTES in uringvfs.c for why not larger).
**   xRead      served after flushing any queued write it overlaps; a sequential pattern starts
**              a read-ahead: a window read as several requests in flight at once (fio batch,
**              io_uring on the uring backend), later reads are copied from that window.
**              Main database only, b-tree fan-out prefetch: when two children of the last
**              interior page read are read one after the other (a scan, integrity_check or
**              VACUUM walking that subtree, in either direction), the next children are read
**              with all requests in flight (a window that doubles while the walk goes on).
**              Both windows are dropped at every write to the file and every lock change.
**              When a window is worth it: a read that could start one but whose kind of
**              window was not well used last time (less than half of it handed to SQLite; the
**              sequential read-ahead always starts so) first asks the page cache alone
**              (fio_read_cached: one preadv2 RWF_NOWAIT, as cheap as unix's pread) and starts
**              the window only on a miss, i.e. for data the kernel does not have (a cold file,
**              pages the kernel's own read-ahead does not cover). Probes that keep hitting are
**              spaced out (1, 2, 4 .. 64 reads apart; reset by a miss, a new subtree, a lock
**              change). Children lying in file order (a table filled in key order) walked
**              forward are the exception: the kernel's read-ahead serves a cold walk as it
**              serves unix, so there a hit starts a (small) window and a miss is a plain read.
**              Every other read is one plain pread.
**   xSync      flush, then fdatasync through fio (and the directory once for a new journal or
**              WAL, as unix does). Returns only when the data is durable.
**   xFileSize  flush, then fstat through fio (so the size includes queued writes).
**   xTruncate  flush, then delegated to unix (unix keeps its mmap bookkeeping there).
**
** When queued writes are flushed (the ordering SQLite's recovery relies on):
**   - At most ONE file in the process has queued writes: queueing a write on file B, or a
**     truncate/sync/delete anywhere, first flushes the other file. So the kernel sees writes in
**     SQLite's order except inside one queue (e.g. journal records always reach the kernel
**     before the database pages that depend on them, even with synchronous=OFF, and a killed
**     process never leaves database pages without their journal).
**   - xSync, xTruncate, xFileSize, xClose (not for files without a name), xFetch, a read
**     overlapping the queue, the queue limit (2 MiB), the end of a WAL commit frame (so a
**     commit is in the kernel before SQLite publishes it in the WAL index), a rollback
**     journal's header write (PERSIST commits by zeroing it), lock releases and WAL-index
**     points (xUnlock, xShmLock, xShmBarrier, xShmUnmap) so other connections and processes
**     see the data, and the file controls SIZE_HINT, MMAP_SIZE and CKPT_DONE (end of a
**     checkpoint's copy loop).
**   - Errors: a flush error is returned by the call that flushed, and it is made sticky for
**     the whole database concerned (main file, journal, WAL): the queued data is lost, and the
**     call reporting it may belong to another file or be one whose result SQLite ignores
**     (xShmBarrier, CKPT_DONE, some unlocks). Every later read/write/sync/size/truncate on
**     those files in this process fails with it until all of them are closed (like a failed
**     fsync in fio). Nothing is dropped silently.
**
** Files without a name (temp databases and their journals, statement journals, sorter spill
** files: unix creates and at once unlinks them) go through fio like the others, their writes
** queued and coalesced (a sorter's page-sized spill writes become a few pwritev calls); at
** xClose their queue is dropped, not written (nobody can read an unlinked file after its last
** descriptor is closed). Their descriptor is trusted only once a named file has confirmed the
** unixFile layout, and only if it is an unlinked regular file.
** Delegated entirely to unix (no fio): files whose descriptor cannot be verified (see
** uringvfs.c: the unixFile layout is checked at open by comparing fstat of the candidate
** descriptor with stat of the path), and everything if the file-IO layer cannot be set up.
**
** Backend per file: URI parameter uring_io=sync|uring|fault on the database URI (journals and
** WAL inherit it), else environment variable LSMVTAB_VFS_IO, else FIO_AUTO (uring if usable).
** "fault" is the fio fault-injecting wrapper around the auto backend, steered with
** uringvfs_fault_set (tests only).
**
** Thread safety: as SQLite requires of a VFS (one thread at a time per file, any number of
** files and threads). One process-wide mutex guards every write queue (another thread may have
** to flush a file it does not use), the "file with queued writes" pointer and the database
** registry; flushes run under it (short pwritev calls; fsync runs outside it). Read-ahead and
** prefetch windows belong to the thread using the file. Threads writing different databases at
** once flush each other's queues, so they coalesce less (still correct).
** fork(): a child re-creates its rings at its first open; connections must not cross a fork.
*/
#ifndef LSMVTAB_URINGVFS_H
#define LSMVTAB_URINGVFS_H

#include "../ext/ext_version.h" /* LSMVTAB_EXPORT */

/* Register the VFS "uring" (not as the default). Idempotent: later calls return SQLITE_OK.
** Returns an SQLite result code. The VFS lives until the process ends (the extension is loaded
** permanently). */
int uringvfs_register(void);

/* File control opcode: sqlite3_file_control(db, "main", URINGVFS_FCNTL_STATS, &stats) fills a
** uringvfs_stats for the main database file (SQLITE_NOTFOUND if not a uring file). */
#define URINGVFS_FCNTL_STATS 0x75726e67 /* "urng" */

typedef struct uringvfs_stats {
  long long writes;     /* xWrite calls queued */
  long long runs;       /* vectored writes issued by flushes (one per contiguous run) */
  long long flushes;    /* non-empty queue flushes */
  long long reads;      /* xRead calls */
  long long ra_hits;    /* reads served from the read-ahead window */
  long long ra_batches; /* read-ahead windows read (each several requests in flight) */
  long long ra_missed;  /* cache-only probes of a sequential read that missed (each starts a
                        ** read-ahead window) */
  long long pf_hits;    /* reads served from the b-tree fan-out prefetch */
  long long pf_batches; /* fan-out prefetch windows read (each page a request, all in flight) */
  long long cached;     /* reads served by one page-cache-only read (fio_read_cached) */
  int direct;           /* 1: IO through fio; 0: delegated to unix */
  const char *backend;  /* fio env name, "unix" when delegated (static string) */
} uringvfs_stats;

/* Tests only (reach them with dlsym after loading the extension): arm / clear a fault on the
** "fault" backend shared by every file opened with uring_io=fault (fio_fault_set semantics).
** Return an LSM_* / SQLite code; LSM_MISUSE if the fault backend could not be created. */
LSMVTAB_EXPORT int uringvfs_fault_set(int ops, long nth, int kind);
LSMVTAB_EXPORT void uringvfs_fault_clear(void);
LSMVTAB_EXPORT long uringvfs_fault_count(int ops);

#endif
