/*
** ikey.h — internal keys: what the memtable, WAL replay, SSTables and merge iterators order by.
**
** Format (the same in memory and on disk):
**
**   field      size      encoding
**   user_key   n bytes   raw bytes, compared bytewise (memcmp, shorter prefix first)
**   trailer    8 bytes   fixed64 little-endian: (seq << 8) | type
**
** seq is the sequence number of the write (56 bits, IKEY_MAX_SEQ at most); type is
** IKEY_DEL (tombstone) or IKEY_VAL (a value). Ordering: user_key ascending, then seq
** DESCENDING (newest first), then type descending, so a seek to (k, snapshot_seq, IKEY_SEEK)
** lands on the newest version of k visible at that snapshot.
**
** Thread safety: pure functions.
*/
#ifndef LSMVTAB_IKEY_H
#define LSMVTAB_IKEY_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"

#define IKEY_DEL 0
#define IKEY_VAL 1
#define IKEY_SEEK IKEY_VAL /* the highest type: seeks use it */
#define IKEY_TRAILER 8
#define IKEY_MAX_SEQ ((UINT64_C(1) << 56) - 1)

static inline uint64_t ikey_pack(uint64_t seq, int type) { return (seq << 8) | (uint64_t)type; }

/* Write user key + trailer into dst (room for n + 8 bytes); returns n + 8. */
static inline size_t ikey_encode(uint8_t *dst, const uint8_t *ukey, size_t n, uint64_t seq, int type) {
  if (n) memcpy(dst, ukey, n);
  cd_put_fixed64(dst + n, ikey_pack(seq, type));
  return n + IKEY_TRAILER;
}

/* Parts of an internal key. REQUIRES n >= 8 (check with ikey_valid first on untrusted data). */
static inline size_t ikey_user_len(size_t n) { return n - IKEY_TRAILER; }
static inline uint64_t ikey_seq(const uint8_t *k, size_t n) { return cd_get_fixed64(k + n - 8) >> 8; }
static inline int ikey_type(const uint8_t *k, size_t n) { return (int)(k[n - 8] & 0xff); }

/* 1 if n is long enough and the type is known. */
static inline int ikey_valid(const uint8_t *k, size_t n) {
  return n >= IKEY_TRAILER && ikey_type(k, n) <= IKEY_VAL;
}

/* Internal-key order (see above). Both keys must be valid. */
int ikey_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);

/* Build the seek key for (ukey, seq) in a cd_buf-free way: caller passes a buffer of n + 8. */
static inline size_t ikey_seek_key(uint8_t *dst, const uint8_t *ukey, size_t n, uint64_t seq) {
  return ikey_encode(dst, ukey, n, seq, IKEY_SEEK);
}

#endif
