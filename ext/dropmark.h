/*
** dropmark.h — the marker of a table dropped inside a transaction (prefix dm_).
**
** Why: a table's rows live in its directory, outside the database file, so SQLite's ROLLBACK
** cannot bring back files that DROP TABLE deleted. Inside an explicit transaction (BEGIN or
** SAVEPOINT) the module therefore keeps the files and writes this marker into the directory;
** whether the DROP committed is decided later from the schema, which SQLite keeps transactional
** (ext/README.md "DROP TABLE inside a transaction" has the rules). The marker also says which
** transaction wrote it, so that a CREATE of the same name in that same transaction is refused
** instead of wiping the files a ROLLBACK would need.
**
** The marker also names the database file whose schema decides: a directory given with the dir
** option can be opened from several databases, and only the dropping one can tell whether its
** DROP committed.
**
** On-disk format: file "DROPPED" in the table's directory, written whole and atomically
** (fio_write_atomic: temp file, fdatasync, rename, directory fsync). Integers little-endian
** (coding.h). Version 2 (written):
**   offset    size  field
**   0         8     magic      "LSMDROP\0"
**   8         4     version    fixed32, 2
**   12        8     pid        fixed64, the process that ran the DROP
**   20        8     conn       fixed64, its connection (the sqlite3 pointer as an integer)
**   28        4     dversion   fixed32, SQLITE_FCNTL_DATA_VERSION of the table's database then
**   32        4     name_len   fixed32, at most DM_NAME_MAX
**   36        4     db_len     fixed32, at most DM_NAME_MAX
**   40        n     name       the table's name at the DROP (UTF-8, not NUL-terminated)
**   40+n      d     db         the database file (sqlite3_db_filename), not NUL-terminated
**   40+n+d    8     checksum   fixed64, XXH3-64 of bytes [0, 40+n+d)
** Version 1 (read, never written; sessions 32-36) has no db_len and no db: name at 36, checksum
** at 36+n; its database is unknown (m->db = NULL).
** A marker of any other size, magic, version or checksum, or with a NUL byte in name or db, is
** corrupt (LSM_CORRUPT from dm_read).
**
** The link. A table with the dir option keeps its files outside `<db>-lsm`, which is the only
** directory the sweep of committed DROPs lists; so its DROP inside a transaction also leaves a
** symbolic link there, named DM_LINK_PREFIX followed by 16 lowercase hex digits (XXH3-64 of the
** target path), whose target is the table's directory (absolute). The link is made before the
** marker and is durable (directory fsync); a link whose target has no marker means nothing and is
** removed by the sweep.
**
** Ownership: dm_read fills a caller-owned dm_mark whose name and db it allocates (mm_malloc);
** dm_clear frees them. Thread safety: none needed (one file per call).
*/
#ifndef LSMVTAB_DROPMARK_H
#define LSMVTAB_DROPMARK_H

#include <stddef.h>
#include <stdint.h>

#define DM_FILE "DROPPED"
#define DM_NAME_MAX 4096

typedef struct dm_mark {
  uint64_t pid;      /* process that dropped the table */
  uint64_t conn;     /* its connection */
  uint32_t dversion; /* its database's data version inside the dropping transaction */
  char *name;        /* table name, NUL-terminated (dm_read allocates it) */
  char *db;          /* the database file, NUL-terminated (dm_read allocates it); NULL: unknown
                     ** (a version 1 marker). dm_encode writes NULL as "" */
} dm_mark;

/* Encode m into buf (cap bytes); *n = the encoded size. LSM_ERROR if the name or db is too long
** or cap too small (DM_ENCODED_MAX always suffices). */
#define DM_ENCODED_MAX (48 + 2 * DM_NAME_MAX)
int dm_encode(const dm_mark *m, uint8_t *buf, size_t cap, size_t *n);

/* Decode buf[0..n) into *m (m->name allocated). LSM_CORRUPT naming what is wrong. */
int dm_decode(const uint8_t *buf, size_t n, dm_mark *m);

/* Write the marker into directory dir, durably. LSM_OK or an IO error with a message. */
int dm_write(const char *dir, const dm_mark *m);

/* Read dir's marker: *present = 0 (LSM_OK, *m untouched) when there is none; else *m is filled.
** LSM_CORRUPT for a damaged marker, an IO error when it cannot be read. */
int dm_read(const char *dir, dm_mark *m, int *present);

/* Remove dir's marker (none is fine) and make the removal durable. */
int dm_remove(const char *dir);

void dm_clear(dm_mark *m);

#define DM_LINK_PREFIX ".dropped-"

/* Make the link to directory target (absolute) in directory parent, creating parent if missing;
** an existing link of that name is kept. Durable. LSM_OK or an IO error with a message. */
int dm_link(const char *parent, const char *target);

/* Remove parent's link to target, if any (best effort: a link left behind is removed by a later
** sweep). */
void dm_unlink(const char *parent, const char *target);

/* Is name (an entry of parent) a link made by dm_link? */
int dm_is_link_name(const char *name);

#endif
