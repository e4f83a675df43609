/*
** wal.h — the write-ahead log: one record per committed write batch, replayed on open.
** The same framing can carry any sequence of checksummed records (the manifest may reuse it).
**
** File format (all integers little-endian, via coding.h):
**
**   file header, 24 bytes:
**     magic       4 bytes   fixed32 WAL_MAGIC (the bytes "LSMW")
**     version     4 bytes   fixed32 WAL_VERSION (1)
**     log_number  8 bytes   fixed64: the file number the db gave this log
**     checksum    8 bytes   fixed64: xxh3 (cd_xxh3) of the 16 bytes above
**   then records, back to back until the end of the file:
**     length      4 bytes   fixed32: payload bytes (0 .. UINT32_MAX)
**     lcheck      4 bytes   fixed32: cd_xxh3_32 of the 4 length bytes
**     checksum    8 bytes   fixed64: xxh3 of (the 4 length bytes + the payload)
**     payload     length bytes (for the db: one write batch rep, batch.h)
**
** Why lcheck (beyond "length + xxh3"): it lets the reader tell a record boundary from garbage in
** O(1) without hashing a payload of unknown, possibly garbage, length. That makes the torn-tail
** decision below linear in the file size, and a corrupted length field is detected as such
** instead of silently swallowing the rest of the log. An all-zero header never passes it.
**
** Writing: each record is ONE vectored append (header + payload), so a crash leaves at most the
** last record incomplete. wal_create writes the header, fdatasyncs it and fsyncs the directory,
** so a log that exists after wal_create returned always has a complete, durable header.
**
** Reading (recovery) — the rule, precisely. Let size be the file size. A record at offset X is
** GOOD if its 16-byte header is inside the file, lcheck matches, X + 16 + length <= size and
** the checksum matches. Records are read from offset 24 while they are good. At the first
** record X that is not good:
**   (a) X == size: clean end.
**   (b) header complete, lcheck ok, but the record runs past the end of the file: TORN TAIL
**       (the last append was cut short: a crash mid-write).
**   (c) header complete, lcheck ok, record inside the file, checksum bad: look for a good record
**       starting at X + 16 + length (the next boundary); none there or after -> TORN TAIL
**       (a crash that lost part of the last record's pages); otherwise CORRUPTION.
**   (d) header incomplete or lcheck bad: look for a good record starting at ANY offset in
**       (X, size) (the length is not trustworthy) -> none: TORN TAIL (this is how zero-filled
**       tails after a power loss look: zeros never pass lcheck); some: CORRUPTION.
** TORN TAIL: the records before X are the log; wal_dropped() = size - X bytes are ignored and
** reading ends normally (LSM_NOTFOUND). CORRUPTION: LSM_CORRUPT "wal <path>: corrupt record at
** offset X (a valid record follows at offset P)" — a good record after a bad one means data the
** log acknowledged would be lost. Note: under sync=off/normal an OS crash (not a process crash)
** may write back pages out of order and leave a hole before later records; that is reported as
** corruption too (conservative: never silently skip data that is there).
** File header: a file of at most 24 bytes whose header is short or invalid, or a file that is
** zero throughout, is a crash inside wal_create (the header is made durable before any record
** is appended, so no acknowledged record can be in it; after a power loss its unsynced header
** may read back garbled) -> an empty log (all bytes dropped). A longer file without a valid
** header (magic, version, checksum) -> LSM_CORRUPT naming the file.
** Records returned before an error are genuine (checksummed), but a log that ends in an error
** must be treated as failed as a whole.
**
** Thread safety: a writer and a reader are each used by one thread at a time (the db serialises
** writers). All file IO goes through fio (either backend, or the fault env in tests).
*/
#ifndef LSMVTAB_WAL_H
#define LSMVTAB_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "fio.h"

#define WAL_MAGIC 0x574d534cu /* "LSMW" */
#define WAL_VERSION 1
#define WAL_HEADER 24
#define WAL_REC_HEADER 16

typedef struct wal_writer wal_writer;
typedef struct wal_reader wal_reader;

/* ---- writer ------------------------------------------------------------------------------ */

/* Create the new log `path` (LSM_CANTOPEN if it exists), write its header, make the header and
** the directory entry durable. On error nothing is left behind (the file is removed). *out is
** released with wal_close. */
int wal_create(fio_env *env, const char *path, uint64_t log_number, wal_writer **out);

/* Append one record with payload p[0..n) (one vectored append; not synced). n > UINT32_MAX ->
** LSM_TOOBIG (nothing written). A failed append makes the writer unusable: this and every later
** wal_add / wal_sync returns the error (sticky, the file's tail is unknown) until wal_close. */
int wal_add(wal_writer *w, const void *p, size_t n);

/* The same record as wal_add(w, rec + WAL_REC_HEADER, n), written from a buffer that already
** holds the payload after WAL_REC_HEADER bytes of room: rec[0 .. WAL_REC_HEADER) is overwritten
** with the record header and rec[0 .. WAL_REC_HEADER + n) goes to the file as ONE contiguous
** append (no copy, no iovec, one-shot checksum: the cheap path for every commit). The file
** bytes are identical to wal_add's. Same errors and stickiness as wal_add. */
int wal_add_framed(wal_writer *w, uint8_t *rec, size_t n);

/* fdatasync the log: every record added before is durable. Failure is sticky as for wal_add. */
int wal_sync(wal_writer *w);

/* Bytes written to the file so far (header + records). */
uint64_t wal_size(const wal_writer *w);
uint64_t wal_log_number(const wal_writer *w);
/* LSM_OK, or the sticky error that disabled the writer. */
int wal_error(const wal_writer *w);

/* Close and free (does NOT sync: call wal_sync first if the data must be durable). Returns the
** close status; the writer is freed in every case. NULL is a no-op. */
int wal_close(wal_writer *w);

/* ---- reader (recovery) ---------------------------------------------------------------------- */

/* Open `path` for reading and check its header (see the top comment). LSM_OK, LSM_CANTOPEN,
** LSM_CORRUPT, IO errors, LSM_NOMEM. The file must not be appended to while it is read. */
int wal_open_read(fio_env *env, const char *path, wal_reader **out);

/* Next record: LSM_OK with *p, *n = the payload (borrowed: valid until the next wal_next or
** wal_close_read); LSM_NOTFOUND at the end (clean or after a dropped torn tail; no message);
** LSM_CORRUPT (mid-file corruption) or an IO error, after which every call returns it again. */
int wal_next(wal_reader *r, const uint8_t **p, size_t *n);

/* The header's log number (0 for an empty log without a header). */
uint64_t wal_reader_log_number(const wal_reader *r);
/* Bytes of torn tail (or torn header) ignored; meaningful once wal_next returned LSM_NOTFOUND. */
uint64_t wal_dropped(const wal_reader *r);
/* Offset just after the last good record returned (WAL_HEADER before the first, 0 for an
** empty log without a header). */
uint64_t wal_good_end(const wal_reader *r);

/* NULL is a no-op. */
void wal_close_read(wal_reader *r);

#endif
