/*
** batch.h — write batches: the internal side of the lsm_batch_* API (declared in lsm.h).
**
** A batch is kept as its "rep", the exact bytes that become one WAL record's payload:
**
**   field     size          encoding
**   seq       8 bytes       fixed64: sequence number of the first record (0 until the db
**                           assigns it at commit); record i gets seq + i
**   count     4 bytes       fixed32: number of records
**   records   count times:
**     type    1 byte        IKEY_VAL (1) or IKEY_DEL (0)
**     klen    varint32      key length, 1 .. LSM_MAX_KEY
**     key     klen bytes
**     vlen    varint32      only for IKEY_VAL: value length, 0 .. LSM_MAX_VALUE
**     value   vlen bytes    only for IKEY_VAL
**
** No checksum of its own: the WAL record around it carries one. A rep read back from a WAL is
** untrusted: wb_validate / wb_from_rep / wb_iterate check every field against the limits above
** and the count against the records present, and never read past the end (ST_CORRUPT).
**
** Thread safety: an lsm_batch is used by one thread at a time; the wb_ functions on a rep are
** pure (wb_apply_to_memtable has mem_add's single-writer requirement).
*/
#ifndef LSMVTAB_BATCH_H
#define LSMVTAB_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"
#include "ikey.h"
#include "lsm.h"
#include "memtable.h"

#define WB_HEADER 12
/* Bytes of room kept in front of every rep held in memory for the write path: the WAL record
** header is written there (wal_add_framed, equal to WAL_REC_HEADER), so the record goes to the
** log in one contiguous write without copying the rep. */
#define WB_ROOM 16

/* The rep (borrowed: valid until the batch is next modified or freed). */
void wb_rep(const lsm_batch *b, const uint8_t **p, size_t *n);
/* The rep's WB_ROOM bytes of room followed by the rep (the committing leader writes the WAL
** record header into the room). */
uint8_t *wb_frame(lsm_batch *b);

/* The argument checks of lsm_batch_put/lsm_batch_delete for one record (type IKEY_VAL or
** IKEY_DEL): LSM_OK, or LSM_ERROR / LSM_MISUSE / LSM_TOOBIG with a message. */
int wb_check_record(int type, const void *k, size_t kn, const void *v, size_t vn);
/* Most bytes one record takes in a rep. */
static inline size_t wb_record_bound(int type, size_t kn, size_t vn) {
  return 1 + CD_MAX_VARINT32 + kn + (type == IKEY_VAL ? CD_MAX_VARINT32 + vn : 0);
}
/* Encode a rep of one record (seq 0, count 1) at rep, which has room for WB_HEADER +
** wb_record_bound bytes; the record must have passed wb_check_record. Returns the rep's length.
** (lsm_put/lsm_delete: a single write without a heap-allocated batch.) */
size_t wb_one(uint8_t *rep, int type, const void *k, size_t kn, const void *v, size_t vn);

/* Sequence number of the first record (stored in the rep). */
void wb_set_seq(lsm_batch *b, uint64_t seq);
uint64_t wb_seq(const lsm_batch *b);
uint32_t wb_count(const lsm_batch *b);

/* Check a rep completely (header, every record, count, no trailing bytes, seq + count - 1 <=
** IKEY_MAX_SEQ). LSM_OK or LSM_CORRUPT with a message saying what and at which offset. */
int wb_validate(const uint8_t *p, size_t n);

/* A new batch holding a copy of the validated rep p[0..n) (e.g. a WAL payload). LSM_OK,
** LSM_CORRUPT, or LSM_NOMEM. Caller frees with lsm_batch_free. */
int wb_from_rep(const uint8_t *p, size_t n, lsm_batch **out);

/* Called per record with its sequence number; v is NULL and vn 0 for IKEY_DEL. The bytes point
** into the rep. A non-zero return stops the iteration and is returned by wb_iterate. */
typedef int (*wb_fn)(void *ctx, uint64_t seq, int type, const uint8_t *k, size_t kn,
                     const uint8_t *v, size_t vn);

/* Validate the rep, then call fn for every record in order. LSM_OK, LSM_CORRUPT (nothing was
** passed to fn), or fn's non-zero result. */
int wb_iterate(const uint8_t *p, size_t n, wb_fn fn, void *ctx);

/* Append src's records to dst (group commit merges the batches of several writers; dst keeps
** its seq). LSM_OK, LSM_NOMEM (dst unchanged) or LSM_TOOBIG (count would overflow). */
int wb_append(lsm_batch *dst, const lsm_batch *src);
/* The same with src given as a valid rep p[0..n). */
int wb_append_rep(lsm_batch *dst, const uint8_t *p, size_t n);

/* Insert every record of the rep into the memtable with consecutive sequence numbers. All or
** nothing: the arena room is reserved first, so LSM_NOMEM leaves the memtable unchanged.
** LSM_OK, LSM_CORRUPT, LSM_NOMEM, or LSM_MISUSE (a sequence number already present in m: a
** bug in the caller; then a prefix of the batch may have been applied). REQUIRES mem_add's
** external synchronization. */
int wb_apply_to_memtable(const uint8_t *p, size_t n, mem *m);

#endif
