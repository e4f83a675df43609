/*
** mapguard.h — copies out of read-only file mappings that return an error code instead of
** killing the process (prefix mg_).
**
** A page of a MAP_SHARED file mapping that cannot be read (a device IO error while it is
** faulted in, or the file truncated by another process below the mapped range) raises SIGBUS
** in the thread touching it. The engine reads a mapping only through mg_copy: a plain memcpy
** into the caller's buffer under a per-thread guard. The process's SIGBUS handler (installed
** once by mg_ready) jumps out of a guarded copy whose source range holds the faulting address,
** and mg_copy returns LSM_IOERR_READ; every checksum, decode and parse then runs on the copy.
**
** Contract:
** - mg_ready() before mapping a file: installs the handler on the first call (pthread_once),
**   then reports whether it is still the process's SIGBUS handler. If it returns 0, do not map
**   (read with pread instead): a host that installed its own SIGBUS handler after ours would
**   otherwise get our faults.
** - mg_copy(dst, src, n, ...) copies [src, src+n) (which must lie in a mapping the caller
**   keeps alive) into dst. Nothing but that memcpy runs under the guard: no allocation, no
**   lock, so a jump out of it leaves no state behind. On a fault the thread's SIGBUS is
**   unblocked again (sigsetjmp saves no mask, and the handler ran with SIGBUS blocked), so
**   the next fault in the same thread is caught too.
** - Chaining: a SIGBUS that is not ours (no guarded copy in the faulting thread, or an address
**   outside its source range, or one sent by kill) goes to the handler installed before ours
**   (SA_SIGINFO or plain, called as it expects). If that was SIG_DFL or SIG_IGN, SIG_DFL is
**   restored and the signal re-raised (a fault re-executes its instruction; a sent signal is
**   raised again), so the process dies of SIGBUS as it would have without us.
**
** Limits (what the guard cannot do):
** - A host that replaces the SIGBUS handler after a table was mapped (and does not chain to
**   ours) gets the SIGBUS of a bad mapped page in that table: mg_ready only protects mappings
**   made after it is called. SQLite itself installs no signal handlers.
** - The handler is process-wide and stays installed (chained) until exit; it is never removed,
**   and the object holding it (e.g. the extension) is pinned (RTLD_NODELETE) so that it is never
**   unloaded under it.
** - A handler installed before ours with SA_RESETHAND or SA_NODEFER is called without those
**   semantics being emulated (it runs with SIGBUS blocked, and stays the chained one).
**
** Thread safety: all functions are thread-safe; each thread has its own guard (a thread-local
** pointer to the record on mg_copy's stack, so the handler reads only that thread's state).
*/
#ifndef LSMVTAB_MAPGUARD_H
#define LSMVTAB_MAPGUARD_H

#include <stddef.h>
#include <stdint.h>

/* Install the SIGBUS handler once per process; 1 if it is the current SIGBUS handler (mapping
** is safe), 0 if it could not be installed or the host replaced it since (read with pread). */
int mg_ready(void);

/* Copy n bytes from the mapping at src into dst under the guard. LSM_OK, or LSM_IOERR_READ
** with a message naming `name` and file offset `off` (of src) when a page could not be read.
** REQUIRES mg_ready() returned 1 before the mapping was made. */
int mg_copy(void *dst, const void *src, size_t n, const char *name, uint64_t off);

#endif
