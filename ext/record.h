/*
** record.h — the row record: the value stored in the engine for one row (prefix rec_).
**
** The key columns live in the engine key (keyenc.h); the record holds the other columns, plus,
** per key column, whether the stored value is REAL (the key encoding maps 1 and 1.0 to the same
** bytes, so without this flag a REAL key would come back as INTEGER).
**
** Format (version 1), all varints from coding.h (LEB128-style, little endian groups):
**   byte     version = 0x01
**   varint   nkey: number of key columns
**   nkey x   byte: 0 = key value is as decoded from the key, 1 = key value is REAL
**   varint   ncol: number of non-key columns that follow, in table order
**   ncol x   one value:
**     0x00                     NULL
**     0x01 varint64            INTEGER, zigzag encoded ((v << 1) ^ (v >> 63))
**     0x02 8 bytes             REAL, IEEE-754 bits, little endian
**     0x03 varint32 len, bytes TEXT (UTF-8)
**     0x04 varint32 len, bytes BLOB
** The record must end exactly after the last value. No magic or checksum of its own: records
** are engine values, inside engine blocks that carry both.
**
** Decoding validates everything and returns LSM_CORRUPT (never reads past the end).
** Thread safety: pure functions.
*/
#ifndef LSMVTAB_RECORD_H
#define LSMVTAB_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "coding.h"
#include "keyenc.h"

#define REC_VERSION 1

/* Append the record of `nkey` key-column REAL flags (key_real[i] != 0) and `ncol` values to b.
** TEXT/BLOB values are vals[i].p/n (raw bytes). LSM_OK or LSM_NOMEM. */
int rec_encode(cd_buf *b, int nkey, const uint8_t *key_real, int ncol, const ke_val *vals);

/* Decode a record that must have exactly nkey key flags and ncol values: key_real[0..nkey) and
** vals[0..ncol) are filled (only the fields of each value's type: NULL/INT/FLOAT leave p, n and
** raw_n as they were); TEXT/BLOB vals point into [p, p+n) (raw bytes, raw_n == n), valid as
** long as those bytes are. LSM_CORRUPT if malformed or the counts differ. */
int rec_decode(const uint8_t *p, size_t n, int nkey, uint8_t *key_real, int ncol, ke_val *vals);

/* Only the header: the version and the nkey key flags into key_real[0..nkey) (what a read of
** key columns alone needs), and its length in *hdr; the values are not looked at. LSM_CORRUPT
** if the header is bad. */
int rec_key_flags(const uint8_t *p, size_t n, int nkey, uint8_t *key_real, size_t *hdr);

/* The rest of a record after its header (p + *hdr of rec_key_flags, n - *hdr bytes): exactly
** ncol values, as rec_decode. rec_decode = rec_key_flags + rec_decode_values. */
int rec_decode_values(const uint8_t *p, size_t n, int ncol, ke_val *vals);

#endif
