/*
** mapguard.h — reads of read-only file mappings that return an error code instead of killing
** the process (prefix mg_).
**
** A page of a MAP_SHARED file mapping that cannot be read (a device IO error while it is
** faulted in, or the file truncated by another process below the mapped range) raises SIGBUS
** in the thread touching it. The engine reads a mapping only under a per-thread guard: mg_copy
** (a plain memcpy into the caller's buffer) or mg_run (a small function that only reads the
** source range and writes memory its caller owns: the engine's block checksum and lz4/zstd
** decode). The process's SIGBUS handler (installed once by mg_ready) jumps out of a guarded
** call whose source range holds the faulting address, and the call returns LSM_IOERR_READ.
** Everything that keeps pointers into the data it read (block parsing, iteration) runs after
** the guarded call, on memory the caller owns (a copy or the decoded block), never on the
** mapping.
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
** - mg_run(fn, ctx, src, n, ...) calls fn(ctx) under the guard for [src, src+n) and returns
**   its result. A jump can leave fn at any of its loads from the source range, so fn must be
**   safe to abandon there: REQUIRES that it takes no lock, allocates and frees nothing, changes
**   no shared state, and writes only memory its caller owns and treats as garbage after an
**   error (a jump leaves such output half-written); that it reads the mapping only inside
**   [src, src+n) (a fault elsewhere is not ours: it is chained as below); that it does not call
**   mg_copy or mg_run (no nesting). Recording an error message (st_err / ST_CORRUPT: a
**   thread-local buffer) is fine: it reads no mapped byte, so it cannot be jumped out of. The
**   block checksum (XXH3: pure computation) and decoders (LZ4_decompress_safe; zstd's single
**   decode into the caller's buffer with a context the caller took from its pool beforehand
**   and returns afterwards, reset at the start of every decode) satisfy this.
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

/* A function run under the guard by mg_run (see the contract above). */
typedef int (*mg_fn)(void *ctx);

/* fn(ctx) under the guard for the mapped source range [src, src+n): fn's return value, or
** LSM_IOERR_READ (message naming `name` and offset `off`) when a page of the range could not be
** read while fn ran (fn's output is then undefined). REQUIRES mg_ready() returned 1 before the
** mapping was made; fn as in the contract above. */
int mg_run(mg_fn fn, void *ctx, const void *src, size_t n, const char *name, uint64_t off);

#endif
