/*
** compact.h — leveled compaction (LevelDB style).
**
** Levels: L0 holds flushed memtables (files overlap); each level >= 1 holds files with disjoint
** USER-key ranges (outputs are only cut between different user keys, so all versions of a key
** live in one file per level). Scores: L0 = files / l0_compaction_trigger; Li (i >= 1) =
** bytes / (level1_size * 10^(i-1)). The level with the highest score >= 1 is compacted:
**   L0: ALL level-0 files (so no older L0 file can be left above newer data moved down) plus
**       the L1 files overlapping their key range, merged into L1;
**   Li: one file, the one with the fewest overlapping bytes in Li+1 per byte of its own
**       (RocksDB's kMinOverlappingRatio: least rewritten per byte moved down; ties round-robin
**       after the largest key of the previous Li compaction), plus the overlapping files of
**       Li+1, merged into Li+1. A single input file that overlaps
**       nothing in Li+1 is moved by a manifest edit alone (trivial move, no IO); so are
**       several inputs (all of L0) when they overlap neither Li+1 nor each other.
** While merging, an entry is dropped when a newer entry of the same user key is visible to the
** oldest live snapshot (it can never be read again), and a tombstone is dropped when it is
** visible to every snapshot and no level below the output holds its user key (nothing older
** can be uncovered). Outputs are cut at target_file_size or at compact_output_max_keys entries,
** whichever comes first (at a user-key boundary). Inputs are read ahead in large chunks
** (sst_iter_new readahead) and outputs are written with large appends by the sst builder.
**
** Memory of one running compaction (besides the readers of its input and output files, whose
** pinned index and filter blocks belong to the version, see version.h):
**   - read-ahead: at most 4 MiB in all (READAHEAD_TOTAL split over the input iterators, each
**     64 .. 512 KiB; an L0 compaction has one iterator per L0 file), plus one decoded block
**     per iterator;
**   - one output builder (sst.h "Memory"): about 2 MiB of output buffer, the index block, and
**     8 bytes of filter hash per key. The key cap makes the hashes <= target_file_size / 8
**     (2 MiB for the default 16 MiB files) even for tiny entries: without it a file of
**     tombstones (24-byte entries that compress well) of 64 MiB held ~4M keys, 32 MiB of
**     hashes (64 MiB after doubling).
** So a compaction holds about target_file_size / 8 + 6 MiB, whatever the size of its inputs.
**
** Threads: background_threads compaction threads each run compact_auto; up to that many
** compactions run at once when their inputs do not conflict. A running compaction's input
** files are busy (db->running, under db->mu) and pick() skips any choice that would touch a
** busy file: at most one L0 compaction at a time (it takes all of L0), and Li -> Li+1
** compactions of different files run in parallel when they share no Li+1 file. Their outputs
** then cannot overlap (each one's key range is covered by its own inputs), and a tombstone
** dropped on the pinned version's evidence stays correct (a concurrent compaction only moves
** keys that are not in this one's inputs, and only downward). lsm_compact_range runs on the
** caller's thread and alone: it stops new automatic compactions (db->manual) and waits for
** the running ones. Readers are never blocked (they keep reading the version they pinned;
** replaced files are deleted once no version uses them).
*/
#ifndef LSMVTAB_COMPACT_H
#define LSMVTAB_COMPACT_H

#include "db_int.h"

/* Outputs are cut at one key per COMPACT_BYTES_PER_KEY bytes of target_file_size (entries
** smaller than this on average make files smaller than the target). */
#define COMPACT_BYTES_PER_KEY 64

/* The most entries one compaction output file gets: target_file_size / COMPACT_BYTES_PER_KEY,
** at least 1024. */
size_t compact_output_max_keys(const lsm_options *o);

/* Score of `level` in v (see above). */
double compact_score(const ver_version *v, const lsm_options *o, int level);

/* The order in which an automatic compaction of level l (1 <= l < VER_LEVELS) tries v's
** files: order[0..v->n[l]) gets indexes into v->f[l], fewest overlapping bytes in l+1 per
** byte of the file first, ties in round-robin order starting at index j0. Exposed for tests.
** LSM_OK or LSM_NOMEM. */
int compact_pick_order(const ver_version *v, int l, int j0, int *order);

/* [mu] 1 if some level's score is >= 1. */
int compact_needed(lsm_db *db);

/* [mu held; released while working] Pick and run one compaction if one is needed, fewer than
** background_threads run and no manual compaction is pending. LSM_OK (ran one), LSM_NOTFOUND
** (nothing to do now, or every needed compaction conflicts with a running one: wait for
** bg_cv), or an error. */
int compact_auto(lsm_db *db);

/* Test hook: sleep this many microseconds in every merging compaction (widens the window in
** which compactions overlap). 0 by default; set only while no database is open. */
extern int compact_test_delay_us;

/* Compact every file overlapping the user-key range [begin, end] (NULL = unbounded) down the
** levels, level by level, waiting for each. Called without db->mu. */
int compact_range(lsm_db *db, const uint8_t *begin, size_t bn, const uint8_t *end, size_t en);

#endif
