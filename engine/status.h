/*
** status.h — engine status codes and per-thread error messages.
**
** The engine never includes sqlite3.h, yet its codes equal SQLite's primary result codes one to
** one (LSM_CORRUPT == SQLITE_CORRUPT == 11, ...), so ext/ and vfs/ pass them through unchanged.
** Extended IO codes use SQLite's extended numbering too (LSM_IOERR_READ == SQLITE_IOERR_READ).
**
** Every fallible function returns an int status: LSM_OK (0) or one of the codes below. A failing
** function records a human-readable message with st_err() before returning; st_errmsg() gives
** the calling thread's last message (a thread-local buffer, like errno), so concurrent threads
** never see each other's messages.
**
** Thread safety: all functions are safe from any thread.
*/
#ifndef LSMVTAB_STATUS_H
#define LSMVTAB_STATUS_H

#include <stddef.h>

#define LSM_OK         0
#define LSM_ERROR      1   /* generic error, bad argument or option (SQLITE_ERROR) */
#define LSM_INTERNAL   2
#define LSM_PERM       3
#define LSM_ABORT      4
#define LSM_BUSY       5   /* e.g. directory locked by another process */
#define LSM_LOCKED     6
#define LSM_NOMEM      7   /* allocation failed */
#define LSM_READONLY   8
#define LSM_IOERR     10   /* IO error; see extended codes below */
#define LSM_CORRUPT   11   /* a checksum, magic or structural check failed */
#define LSM_NOTFOUND  12   /* key or file does not exist (SQLITE_NOTFOUND) */
#define LSM_FULL      13   /* no space left on device */
#define LSM_CANTOPEN  14   /* file missing, or a directory, or no permission */
#define LSM_CONSTRAINT 19
#define LSM_TOOBIG    18   /* key or value over the limit */
#define LSM_MISUSE    21
#define LSM_RANGE     25   /* offset out of range */

/* Extended IO codes (values of SQLite's SQLITE_IOERR_*). */
#define LSM_IOERR_READ       (LSM_IOERR | (1 << 8))
#define LSM_IOERR_SHORT_READ (LSM_IOERR | (2 << 8))
#define LSM_IOERR_WRITE      (LSM_IOERR | (3 << 8))
#define LSM_IOERR_FSYNC      (LSM_IOERR | (4 << 8))
#define LSM_IOERR_DIR_FSYNC  (LSM_IOERR | (5 << 8))
#define LSM_IOERR_TRUNCATE   (LSM_IOERR | (6 << 8))
#define LSM_IOERR_FSTAT      (LSM_IOERR | (7 << 8))
#define LSM_IOERR_DELETE     (LSM_IOERR | (10 << 8))
#define LSM_IOERR_NOMEM      (LSM_IOERR | (12 << 8))
#define LSM_IOERR_ACCESS     (LSM_IOERR | (13 << 8))
#define LSM_IOERR_LOCK       (LSM_IOERR | (15 << 8))
#define LSM_IOERR_CLOSE      (LSM_IOERR | (16 << 8))
#define LSM_IOERR_SEEK       (LSM_IOERR | (22 << 8))
#define LSM_IOERR_RENAME     (LSM_IOERR | (29 << 8)) /* not in SQLite; chosen unused value */
#define LSM_CORRUPT_SEQUENCE (LSM_CORRUPT | (2 << 8))

/* Primary code of an extended code. */
#define LSM_PRIMARY(rc) ((rc) & 0xff)

/* Record a formatted message for the calling thread and return rc (so: `return st_err(...)`). */
int st_err(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last message; never NULL ("" if none). Valid until the next st_err()
** on this thread. */
const char *st_errmsg(void);

/* Forget the calling thread's message. */
void st_clear(void);

/* Short name of a code: "LSM_CORRUPT", ... (static string). */
const char *st_name(int rc);

/* Every corruption return goes through this: records file:line of the detection site in the
** message, and is a single place for a debugger breakpoint (st_corrupt_bkpt). */
int st_corrupt_bkpt(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define ST_CORRUPT(...) st_corrupt_bkpt(__FILE__, __LINE__, __VA_ARGS__)

/* Errno from a failed system call mapped to a code (ENOSPC -> LSM_FULL, ENOENT/EISDIR/EACCES ->
** LSM_CANTOPEN, ENOMEM -> LSM_NOMEM, others -> `ioerr`), with the message
** "<what>: <strerror>". Returns the code. */
int st_errno(int err, int ioerr, const char *what, ...) __attribute__((format(printf, 3, 4)));

#endif
