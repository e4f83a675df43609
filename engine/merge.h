/*
** merge.h — k-way merging iterator over it_iter sources (LevelDB's MergingIterator).
**
** Yields the union of the sources in comparator order, forward and reverse, with free direction
** switches. Sources are given NEWEST FIRST (index 0 = newest: mutable memtable, then immutable
** memtables, then L0 files newest first, then levels). When several sources hold keys that
** compare EQUAL, only the newest source's entry is yielded; the older equal entries are skipped.
** (Inside the engine keys are internal keys that carry their sequence number, so equal keys
** are the same write seen twice, e.g. a memtable and the SST it was just flushed to.)
**
** A min-heap (forward) or max-heap (reverse) of the valid sources gives O(log k) per step.
**
** Errors: the first error of any source is remembered: the merge iterator becomes invalid and
** status() returns it (LevelDB would keep going; we stop, so corruption is never skipped over).
**
** Ownership: merge_new takes ownership of the sources (on success and on failure: they are
** freed if merge_new fails). Thread safety: one thread at a time, like every it_iter.
*/
#ifndef LSMVTAB_MERGE_H
#define LSMVTAB_MERGE_H

#include "iter.h"

/* New merging iterator over src[0..n) (newest first); n may be 0 (always invalid). The array
** itself is copied. LSM_OK or LSM_NOMEM. */
int merge_new(it_cmp_fn cmp, it_iter **src, int n, it_iter **out);

/* 1 if it was made by merge_new. merge_next_kv is its it_ops.next_kv as a direct call (for
** the dbiter's per-row step); REQUIRES merge_is(it), same contract as it_next_kv. */
int merge_is(const it_iter *it);
const it_kv *merge_next_kv(it_iter *it);

#endif
