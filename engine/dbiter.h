/*
** dbiter.h — the user-key iterator on top of the merged internal-key iterator (LevelDB DBIter).
**
** Input: an it_iter over INTERNAL keys (ikey.h order), normally merge_new() of memtables and
** SSTs. Output: an it_iter over USER keys: for each user key the newest version with
** seq <= the snapshot sequence, keys whose newest visible version is a tombstone hidden,
** restricted to the bounds [lower, upper) (either may be absent). Forward and reverse, with
** direction switches, plus dbi_seek_for_prev (last key <= target).
**
** key/value returned are borrowed: valid until the iterator next moves or is destroyed.
** Errors of the internal iterator end the iteration (valid() false) and are kept in status().
**
** Ownership: dbi_new takes the internal iterator (freed by destroy, and on failure). `release`
** (may be NULL) is called with `arg` once when the dbiter is destroyed — the db uses it to unpin
** the version and memtables the internal iterator reads. Bound bytes are copied.
** Thread safety: one thread at a time.
*/
#ifndef LSMVTAB_DBITER_H
#define LSMVTAB_DBITER_H

#include "iter.h"

int dbi_new(it_iter *internal, uint64_t seq, const uint8_t *lower, size_t lower_n,
            const uint8_t *upper, size_t upper_n, void (*release)(void *), void *arg,
            it_iter **out);

/* Make versions with seq >= from visible too (besides those <= the snapshot): the stage's
** runs (lsm.h "Staged writes") carry sequence numbers above any the database assigns. Call
** before the first positioning. */
void dbi_show_from(it_iter *it, uint64_t from);

/* Position at the last user key <= k (within bounds). it must come from dbi_new. */
int dbi_seek_for_prev(it_iter *it, const uint8_t *k, size_t n);

/* The bounds given to dbi_new (borrowed, valid while it lives): *lo / *hi NULL when absent. */
void dbi_bounds(const it_iter *it, const uint8_t **lo, size_t *lon, const uint8_t **hi, size_t *hin);

/* Direct (non-virtual) forms of it_next / it_valid / it_key / it_value for an iterator from
** dbi_new (the db's lsm_iter calls these once per row); same contracts as it_ops. */
int dbi_next(it_iter *it);
int dbi_valid(const it_iter *it);
void dbi_key(const it_iter *it, const uint8_t **k, size_t *n);
void dbi_value(const it_iter *it, const uint8_t **v, size_t *n);

/* A step and the new current entry in one call (the per-row path of lsm_iter_next_row /
** lsm_iter_prev_row): dbi_next (d_prev), then on LSM_OK row->k is NULL when the iterator is no
** longer valid (the end: not an error), else row holds dbi_key and dbi_value, borrowed as
** theirs. Returns the step's error (row->k NULL). dbi_next_row's forward step is dbi_next's
** without its checks when the iterator is valid and forward. */
int dbi_next_row(it_iter *it, it_kv *row);
int dbi_prev_row(it_iter *it, it_kv *row);

#endif
