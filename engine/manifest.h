/*
** manifest.h — version edits, the MANIFEST log that stores them, and the CURRENT file.
**
** The database state (which SST files are live at which level, the next file number, the last
** sequence number, the oldest WAL still needed) is the result of applying every version edit of
** the live manifest in order (version.h applies them). A new manifest is started at each open
** with a snapshot edit of the whole state; CURRENT names it and is replaced atomically
** (fio_write_atomic), so a crash leaves either the old or the new manifest live.
**
** ---- MANIFEST-<number> file --------------------------------------------------------------
**   header (16 bytes):
**     magic     fixed64  MAN_MAGIC ("LSMVMANF" little-endian)
**     version   fixed32  MAN_VERSION (1)
**     checksum  fixed32  cd_xxh3_32 of the 12 bytes above
**   then records, one per version edit:
**     length    fixed32  payload bytes (<= MAN_MAX_RECORD)
**     lencheck  fixed32  cd_xxh3_32 of the 4 length bytes (a damaged length is detected, not
**                        mistaken for a record cut short by a crash)
**     checksum  fixed64  cd_xxh3 of the payload
**     payload   length bytes: an encoded edit (below)
**   Every record is fdatasync'ed before the edit takes effect, so at most the LAST record can
**   be torn by a crash (cut short, zero-filled or garbage after a power loss). Rule on read (the
**   WAL's rule, wal.h): a record is GOOD if its header is complete, lencheck matches, the
**   payload fits in the file and its checksum matches. At the first record that is not good:
**   if no good record starts at ANY later offset, it is a torn tail and is dropped; otherwise
**   it is corruption (LSM_CORRUPT naming the file and offset). Damage to the last record thus
**   looks like a torn tail; the db catches the case where that loses data with a sequence
**   continuity check at recovery (db.c recover()).
**
** ---- edit payload: a sequence of tagged fields ----------------------------------------------
**   tag varint32, then:
**     1 LOG_NUMBER   varint64  WALs numbered below this are no longer needed
**     2 NEXT_FILE    varint64  next unused file number
**     3 LAST_SEQ     varint64  last sequence number written to an SST
**     4 DEL_FILE     varint32 level, varint64 file number
**     5 ADD_FILE     varint32 level, varint64 number, varint64 size,
**                    varint32 len + smallest internal key, varint32 len + largest internal key
**   Unknown tags, bad levels (>= MAN_LEVELS), truncation or keys < 8 bytes -> LSM_CORRUPT.
**
** ---- CURRENT ---------------------------------------------------------------------------------
**   text "MANIFEST-<number, 6+ decimal digits>\n".
**
** Thread safety: a man_writer is used by one thread at a time (the db serialises edits under its
** mutex / manifest lock); everything else is pure or works on caller-owned objects.
*/
#ifndef LSMVTAB_MANIFEST_H
#define LSMVTAB_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"
#include "fio.h"

#define MAN_MAGIC UINT64_C(0x464e414d56534d4c) /* "LSMVMANF" */
#define MAN_VERSION 1
#define MAN_LEVELS 7
#define MAN_MAX_RECORD (64u << 20)

typedef struct man_file {
  int level;
  uint64_t number, size;
  uint8_t *smallest, *largest; /* internal keys, owned by the edit (mm) */
  size_t smallest_n, largest_n;
  int codec; /* in memory only, not encoded: the LSM_COMPRESS_* the table was just built with
             ** (its writer sets it after man_edit_add), or -1 (man_edit_add's value, and every
             ** decoded record's): unknown without reading the table */
} man_file;

typedef struct man_del {
  int level;
  uint64_t number;
} man_del;

/* A version edit. Zero-initialise ({0}) or man_edit_init; release with man_edit_free. */
typedef struct man_edit {
  int has_log_number, has_next_file, has_last_seq;
  uint64_t log_number, next_file, last_seq;
  man_del *dels;
  int ndel, dcap;
  man_file *adds;
  int nadd, acap;
} man_edit;

void man_edit_init(man_edit *e);
void man_edit_free(man_edit *e); /* frees the contents; e may be reused after man_edit_init */
void man_edit_set_log(man_edit *e, uint64_t n);
void man_edit_set_next_file(man_edit *e, uint64_t n);
void man_edit_set_last_seq(man_edit *e, uint64_t s);
/* Keys are copied. LSM_OK or LSM_NOMEM. */
int man_edit_add(man_edit *e, int level, uint64_t number, uint64_t size, const uint8_t *smallest,
                 size_t sn, const uint8_t *largest, size_t ln);
int man_edit_del(man_edit *e, int level, uint64_t number);

/* Append the encoding of e to b. */
int man_edit_encode(const man_edit *e, cd_buf *b);
/* Decode p[0..n) into *e (which must be initialised and empty). LSM_CORRUPT on malformed input
** (e is then freed/emptied). */
int man_edit_decode(const uint8_t *p, size_t n, man_edit *e);

/* ---- the manifest log ---- */
typedef struct man_writer man_writer;

/* Create a new manifest file at path (must not exist) and write its header (synced). */
int man_create(fio_env *env, const char *path, man_writer **out);
/* Append one edit as one record and fdatasync it. After a failure the writer refuses further
** edits (sticky: the file state is unknown); the db must stop writing. */
int man_append(man_writer *w, const man_edit *e);
uint64_t man_size(const man_writer *w); /* bytes written so far */
int man_close(man_writer *w);           /* NULL is a no-op */

/* Read every edit of the manifest at path in order, calling cb(ctx, edit) for each (the edit is
** freed after the call; a non-zero return from cb stops and is returned). A torn tail is
** dropped (see the rule above); *dropped (may be NULL) = bytes dropped. */
int man_read(fio_env *env, const char *path, int (*cb)(void *ctx, const man_edit *e), void *ctx,
             uint64_t *dropped);

/* CURRENT in directory dir: point it at MANIFEST-<number> (atomic replace), or read it.
** man_get_current: missing CURRENT -> LSM_CANTOPEN; malformed -> LSM_CORRUPT. */
int man_set_current(fio_env *env, const char *dir, uint64_t number);
int man_get_current(fio_env *env, const char *dir, uint64_t *number);

#endif
