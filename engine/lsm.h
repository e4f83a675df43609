/*
** lsm.h — the engine's public API: a persistent, ordered key-value store (an LSM tree).
**
** Keys and values are arbitrary bytes; keys are ordered bytewise (memcmp, shorter prefix
** first). Keys are 1 byte .. LSM_MAX_KEY bytes, values 0 .. LSM_MAX_VALUE bytes; larger ones
** are refused with LSM_TOOBIG.
**
** Status: every function returns LSM_OK (0) or an LSM_* code (status.h, equal to SQLite's
** codes); the calling thread's message is in lsm_errmsg().
**
** Thread safety: an lsm_db is shared by any number of threads at once: put/delete/write/get/
** multiget/iterators/snapshots/flush/stats may be called concurrently. An lsm_iter and an
** lsm_batch are used by one thread at a time (each thread makes its own). An lsm_snapshot may
** be shared read-only between threads.
**
** Durability: a write returns after its batch is in the WAL; with sync=LSM_SYNC_FULL also
** after the WAL is fsync'ed (concurrent committers share one fsync: group commit).
*/
#ifndef LSMVTAB_LSM_H
#define LSMVTAB_LSM_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define LSM_MAX_KEY (64u * 1024u)
#define LSM_MAX_VALUE (64u * 1024u * 1024u)

typedef struct lsm_db lsm_db;
typedef struct lsm_iter lsm_iter;
typedef struct lsm_batch lsm_batch;
typedef struct lsm_snapshot lsm_snapshot;

enum { LSM_SYNC_OFF = 0, LSM_SYNC_NORMAL = 1, LSM_SYNC_FULL = 2 };
enum { LSM_COMPRESS_SAME = -1, LSM_COMPRESS_NONE = 0, LSM_COMPRESS_ZSTD = 1, LSM_COMPRESS_LZ4 = 2 };
enum { LSM_IO_AUTO = 0, LSM_IO_SYNC = 1, LSM_IO_URING = 2 }; /* = FIO_AUTO/SYNC/URING */

/* Memory. Everything the engine allocates goes through mm.h (mm_live_bytes counts it); an
** open database holds at most about
**   (1 + max_immutables) x (memtable_size x 1.02 + 1 MiB)   memtables (with their whole-key
**                                 filters, memtable_size / 64) and arena slack; one immutable
**                                 by default, so 2 x memtable_size
** + cache_size x 1.004            block cache and its admission table (plus blocks pinned
**                                 by live iterators)
** + table readers                 index + filter of every OPEN table, pinned: bloom_bits / 8
**                                 bytes per key + ~40 bytes per data block of index and
**                                 12 of index search aid (sst.h) (~31 MiB at 10M keys of 116
**                                 bytes, 4 KiB blocks, all tables open): at most
**                                 max_open_files x that of one table (~0.6 MiB for a 16 MiB
**                                 table of such keys), plus tables pinned beyond the limit by
**                                 live iterators (version.h "Table cache")
** + flush                         one table builder: 8 bytes per memtable key + ~2 MiB
** + background_threads x (target_file_size / 8 + 6 MiB)   compactions (compact.h "Memory")
** + 256 KiB WAL buffer, zstd contexts (~1 MiB per thread that compresses), and per open
**   iterator one block per table (and a 16 KiB block buffer per table it has read a block
**   the cache did not take from) plus read-ahead of up to 256 KiB per table on long scans.
** With the defaults and 10M keys that is 130 + 8 + 31 + 4 + 8 + ~2 = ~183 MiB at the worst
** moment (measured peak: 144 MiB RSS, bench_engine -n 10000000); the C library adds its own
** overhead on top (memtable memory is mmapped: a flushed memtable goes back to the OS). */
typedef struct lsm_options {
  size_t memtable_size;      /* bytes per memtable before it is frozen; default 64 MiB; >= 64 KiB */
  int max_immutables;        /* frozen memtables awaiting flush before writers wait; default 1
                             ** (RocksDB's max_write_buffer_number = 2): memory above */
  size_t cache_size;         /* block cache capacity in bytes; default 8 MiB; 0 = no data cache */
  size_t block_size;         /* target SST data block size; default 4096; 256 .. 1 MiB */
  int compression;           /* LSM_COMPRESS_*; default LSM_COMPRESS_LZ4: decodes a block ~3.5x
                             ** and compresses ~7x faster than zstd 3, for ~3 % more bytes on
                             ** the bench's data (block-cache misses on reads and scans cost
                             ** 30-40 % less CPU at 3M keys); its tables need this version or
                             ** later to read. LSM_COMPRESS_ZSTD: the smallest files. */
  int compression_level;     /* zstd level 1..22; default 3 (unused by lz4) */
  int l1_compression;        /* codec of the tables written into levels 0 and 1 (flushes and
                             ** compactions into L1): LSM_COMPRESS_SAME (the default: as
                             ** `compression`) or an LSM_COMPRESS_* of its own. L0 and L1 are
                             ** the levels whose sizes settings bound (l0_stop_trigger flushes of
                             ** memtable_size; level1_size) and whose tables every L0
                             ** compaction rewrites (random keys), so storing them raw costs at
                             ** most ~(their bound) x (1 - the codec's ratio) of disk whatever the
                             ** data size, and saves the compression of every flush and L0
                             ** compaction's output and the decode of every L0 compaction's input
                             ** and of every read served from L0 or L1 (SQL tables default to raw
                             ** L0 and L1 under lz4: ext/vtopts.h). Deeper levels use
                             ** `compression`. A table moved down unrewritten keeps its codec,
                             ** but an L1 table of l1_compression is rewritten rather than moved
                             ** into L2, so the bound holds. */
  int bloom_bits;            /* bloom filter bits per key, 0 = none; default 10; <= 32 */
  int sync;                  /* LSM_SYNC_*; default LSM_SYNC_NORMAL */
  int io;                    /* LSM_IO_*; default LSM_IO_AUTO (uring if available) */
  int direct_io;             /* read SST blocks with O_DIRECT (cache owns caching); default 0 */
  int io_poll_us;            /* uring only: a thread waiting for a batch of reads (lsm_multiget's
                             ** block reads) polls the ring's completions for up to this many
                             ** microseconds before it sleeps; 0..100000, default 0 (sleep at
                             ** once). Trades CPU for latency where waking a sleeping thread is
                             ** slow: on the 2-vCPU VM of docs/BENCHMARKS.md a completion that
                             ** wakes a sleeper arrives ~100-150 us late per batch, and a cold
                             ** 32-key multiget polled for 1000 us reads ~30 % more keys/s at
                             ** ~2x the CPU per key. No effect on the sync backend */
  int mmap_reads;            /* 1: block-cache misses of point reads (and scans' read-ahead
                             ** windows) read from a read-only mapping of the table file instead
                             ** of a pread (no system call: ~20 % less CPU per SQL point read or
                             ** UPDATE by key at 5M rows when the file is in the page cache).
                             ** Mapped pages count in RSS as file pages (reclaimable). A device IO
                             ** error while a page is faulted in, or a table file shrunk by
                             ** someone else while open, is LSM_IOERR_READ (mapguard.h turns the
                             ** SIGBUS of the guarded read into an error code; its SIGBUS handler
                             ** is installed once per process and chains to the one before).
                             ** Limit: a SIGBUS handler the host installs after a table was mapped
                             ** takes those faults (tables opened after that use pread). A
                             ** multiget batch whose mapped blocks are out of the page cache (a
                             ** mincore probe of up to 3 of them) reads them in one batch of
                             ** reads instead of faulting them in one by one (stats:
                             ** mmap_cold_batches). Ignored with direct_io. Default 0 (SQL
                             ** tables: 1) */
  int create_if_missing;     /* default 1 */
  int error_if_exists;       /* default 0 */
  /* Compaction (engine compaction issue): */
  size_t target_file_size;   /* SST output size of compactions; default 16 MiB */
  int l0_compaction_trigger; /* default 6: an L0 compaction rewrites all of L1 (random keys),
                             ** so merging 6 flushed tables at once instead of 4 rewrites L1
                             ** a third less often (write amp at 10M keys ~4.4 -> ~3.9). Point
                             ** gets and iterator seeks compact L0 early when its files cost
                             ** them (version.h ver_seek_charge, ver_iter_charge); existence
                             ** checks do not */
  int l0_slowdown_trigger;   /* default 20 */
  int l0_stop_trigger;       /* default 36 */
  size_t level1_size;        /* target bytes of L1 (Li = L1 * 10^(i-1)); default 256 MiB */
  int background_threads;    /* compaction threads (1..16), default 1: up to this many
                             ** compactions of disjoint files run at once (plus one flush thread) */
  int max_open_files;        /* table files kept open at most (LevelDB's max_open_files; each
                             ** holds a descriptor and its table's index + filter); default
                             ** 1000; 16 .. 1000000. The least recently used idle table is
                             ** closed when one more is needed (reopened when read again);
                             ** tables in use by iterators, lookups or compactions stay open,
                             ** so the count may exceed it while they are (version.h "Table
                             ** cache"). The db's other files (WALs, manifest, LOCK, a
                             ** compaction's or flush's output) are not counted: a few more. */
} lsm_options;

/* Fill *o with the defaults above. */
void lsm_options_default(lsm_options *o);

/* Check every option; LSM_ERROR with a message naming the bad option, e.g.
** "bad option block_size=100: must be between 256 and 1048576". */
int lsm_options_validate(const lsm_options *o);

/* Open (creating if allowed) the database in directory `dir`. A directory held by another
** process gives LSM_BUSY ("locked by another process"). On success *out is owned by the caller
** and released with lsm_close. o == NULL means defaults. */
int lsm_open(const char *dir, const lsm_options *o, lsm_db **out);

/* Close: waits for background work, flushes nothing more than durability requires (the WAL is
** kept), releases files, threads and memory. All iterators and snapshots must be released
** first (LSM_MISUSE otherwise, and the db stays open). lsm_close(NULL) is a no-op.
** Returns the failure of that last sync, or the database's sticky error if a flush, compaction
** or sync failed before or during the close (the db is closed all the same; reopening recovers
** what was acknowledged). */
int lsm_close(lsm_db *db);

/* The calling thread's last error message (never NULL). */
const char *lsm_errmsg(void);

/* Single writes (each an atomic batch of one). */
int lsm_put(lsm_db *db, const void *k, size_t kn, const void *v, size_t vn);
int lsm_delete(lsm_db *db, const void *k, size_t kn);

/* Write batches: puts and deletes applied atomically (one WAL record), in order. */
int lsm_batch_new(lsm_batch **out);
int lsm_batch_put(lsm_batch *b, const void *k, size_t kn, const void *v, size_t vn);
int lsm_batch_delete(lsm_batch *b, const void *k, size_t kn);
int lsm_batch_count(const lsm_batch *b);
size_t lsm_batch_bytes(const lsm_batch *b);
void lsm_batch_clear(lsm_batch *b);
void lsm_batch_free(lsm_batch *b);
/* Apply the batch (the batch is not consumed). An empty batch is a no-op. */
int lsm_write(lsm_db *db, lsm_batch *b);

/* Snapshots: reads at a snapshot see exactly the writes committed before it. */
int lsm_snapshot_new(lsm_db *db, lsm_snapshot **out);
void lsm_snapshot_free(lsm_db *db, lsm_snapshot *s);

/* Point lookup at snapshot s (NULL = latest). LSM_NOTFOUND if absent (no message needed); a key
** outside 1..LSM_MAX_KEY bytes can never have been written, so it is simply absent (also in
** lsm_multiget).
** On LSM_OK *v is a new mm-allocated copy (NUL-terminated beyond *vn) that the caller frees
** with lsm_free. */
int lsm_get(lsm_db *db, const lsm_snapshot *s, const void *k, size_t kn, void **v, size_t *vn);

/* Existence check at snapshot s (NULL = latest): LSM_OK if the key has a live value, LSM_NOTFOUND
** if not, or an error. No value is copied. Meant for uniqueness checks before an insert, where
** most keys are new: a new key is answered "absent" by the memtables' whole-key filters and the
** tables' bloom filters, without a skiplist walk or a data block read (only a filter false
** positive, about 1 %, costs a real lookup). Unlike lsm_get it never counts towards the
** read-triggered compaction of L0 files (an existence check is a write's, not a read load). */
int lsm_exists(lsm_db *db, const lsm_snapshot *s, const void *k, size_t kn);

/* Batched point lookups: n keys at once; the data-block reads of all keys that miss the cache
** are submitted together (on the uring backend they are in flight at once), and the keys'
** filter lines load together before any is probed. rcs[i] is LSM_OK
** (vals[i]/vlens[i] set, free with lsm_free), LSM_NOTFOUND, or an error. Returns the first
** error other than LSM_NOTFOUND, else LSM_OK. n == 1 takes lsm_get's path (one pread for a
** missed block, no batch). */
int lsm_multiget(lsm_db *db, const lsm_snapshot *s, int n, const void *const *keys,
                 const size_t *klens, void **vals, size_t *vlens, int *rcs);

void lsm_free(void *p);

/* Iterators over user keys, newest visible version only, tombstones hidden. Optional bounds:
** lower (inclusive) and upper (exclusive), NULL for none; the bound bytes are copied.
** s == NULL reads at an implicit snapshot taken at creation. */
int lsm_iter_new(lsm_db *db, const lsm_snapshot *s, const void *lower, size_t lower_n,
                 const void *upper, size_t upper_n, lsm_iter **out);
int lsm_iter_seek(lsm_iter *it, const void *k, size_t kn);      /* first key >= k */
int lsm_iter_seek_for_prev(lsm_iter *it, const void *k, size_t kn); /* last key <= k */
int lsm_iter_seek_first(lsm_iter *it);
int lsm_iter_seek_last(lsm_iter *it);
int lsm_iter_next(lsm_iter *it);
int lsm_iter_prev(lsm_iter *it);
int lsm_iter_valid(const lsm_iter *it);
/* Borrowed until the iterator next moves or is freed. REQUIRES valid. */
void lsm_iter_key(const lsm_iter *it, const void **k, size_t *kn);
void lsm_iter_value(const lsm_iter *it, const void **v, size_t *vn);
int lsm_iter_status(const lsm_iter *it);
/* lsm_iter_next (lsm_iter_prev) and then, while the iterator is still valid, lsm_iter_key and
** lsm_iter_value, in one call: the per-row path of a scan. On LSM_OK *k is NULL when the step
** ran off the end (not valid, not an error), else *k, *kn and *v, *vn are the new current key and
** value, borrowed as lsm_iter_key's. On an error *k is NULL and the iterator is not valid.
** REQUIRES valid (else LSM_MISUSE, or the error that ended the iteration, as lsm_iter_next). */
int lsm_iter_next_row(lsm_iter *it, const void **k, size_t *kn, const void **v, size_t *vn);
int lsm_iter_prev_row(lsm_iter *it, const void **k, size_t *kn, const void **v, size_t *vn);
void lsm_iter_free(lsm_iter *it);
/* Tell the iterator how many entries the caller expects to read from each following seek
** (forward from lsm_iter_seek / lsm_iter_seek_first, backward from lsm_iter_seek_last /
** lsm_iter_seek_for_prev): a LIMIT. Each table then reads the blocks it is
** expected to need (its share of the entries, from its own bytes per entry) in one read when it
** positions, instead of a block at a time (a block found in the cache first is used). Only IO
** sizing: any number of entries can still be read (past the hint at the usual cost of automatic
** read-ahead), and a wrong hint never changes what the iterator yields; a hint far above the
** entries a bounded range holds costs up to ~32 KiB of extra reading per table (the tables do
** not see the bounds). 0 (the default) = unknown. */
void lsm_iter_hint(lsm_iter *it, uint64_t nentries);

/* ---- Staged writes: a transaction larger than memory ----
** A stage collects writes that no reader of the database sees until lsm_stage_commit applies
** all of them at once: atomically (a crash before the commit's manifest record loses all of
** them, after it none) and durably (the tables it adds are synced before that record). The
** writes live in runs: sorted tables of their own, files "<n>.stage" in the database directory,
** deleted when the stage no longer needs them and, after a crash, at the next lsm_open. Their
** format is sst.h's, with sequence numbers in a range the database never assigns (stage.c).
** Memory: while a run is written, a table builder (sst.h "Memory": 8 bytes per key for its
** filter); per sealed run, its reader's pinned index and bloom filter (~30 bytes per data
** block, 1.25 bytes per key at 10 bits), so a stage of 10M keys pins ~20 MB, not its data.
**
** A run is added as one sorted stream: lsm_stage_put / lsm_stage_delete with strictly
** ascending keys (LSM_MISUSE otherwise), then lsm_stage_run_end; a later run's writes win over
** an earlier one's. Reads through the stage (lsm_stage_get, _exists, _multiget, _iter_new) see
** the database's latest committed state with the stage's finished runs on top; a run being
** written is not visible. Their results follow lsm_get, lsm_exists, lsm_multiget and
** lsm_iter_new (s = NULL).
**
** lsm_stage_commit merges the runs into new level-0 tables whose writes all carry one new
** sequence number, after freezing and flushing the memtables (other writers wait meanwhile),
** and logs them to the manifest; the stage is then empty and may take new runs. On failure
** the runs are kept (nothing was applied). A stage holds up to LSM_STAGE_MAX_RUNS runs
** (LSM_FULL beyond: commit, or merge the data into fewer, larger runs).
**
** Ownership and threads: a stage belongs to its creator and is used by one thread at a time;
** iterators made through it may outlive lsm_stage_free or a commit (they keep the runs they
** read) but, like the stage, must be freed before lsm_close. */
typedef struct lsm_stage lsm_stage;
#define LSM_STAGE_MAX_RUNS 65536

int lsm_stage_new(lsm_db *db, lsm_stage **out);
int lsm_stage_put(lsm_stage *st, const void *k, size_t kn, const void *v, size_t vn);
int lsm_stage_delete(lsm_stage *st, const void *k, size_t kn);
/* Seal the run being written (no-op when none was started). An error while writing a run
** abandons it (its file is deleted) and is returned by this call too; earlier runs remain. */
int lsm_stage_run_end(lsm_stage *st);
/* Sealed runs, their bytes on disk, and the entries (puts + deletes) in them. */
int lsm_stage_runs(const lsm_stage *st);
/* Drop the runs after the first n (a rollback to a savepoint: runs are numbered 0.. in the order
** they were sealed, so n is an earlier lsm_stage_runs). LSM_MISUSE while a run is being written.
** Iterators made before keep reading the dropped runs; the next run sealed takes index n. */
int lsm_stage_truncate(lsm_stage *st, int n);
/* Does run from or a later one hold key k (a put or a delete)? LSM_OK yes, LSM_NOTFOUND no, or
** an error. The database is not read: "written by the stage since run from was started". */
int lsm_stage_written(lsm_stage *st, int from, const void *k, size_t kn);
uint64_t lsm_stage_bytes(const lsm_stage *st);
uint64_t lsm_stage_entries(const lsm_stage *st);
int lsm_stage_get(lsm_stage *st, const void *k, size_t kn, void **v, size_t *vn);
int lsm_stage_exists(lsm_stage *st, const void *k, size_t kn);
int lsm_stage_multiget(lsm_stage *st, int n, const void *const *keys, const size_t *klens,
                       void **vals, size_t *vlens, int *rcs);
int lsm_stage_iter_new(lsm_stage *st, const void *lower, size_t lower_n, const void *upper,
                       size_t upper_n, lsm_iter **out);
/* A run still being written: LSM_MISUSE (seal it first). No runs: LSM_OK, nothing done. */
int lsm_stage_commit(lsm_stage *st);
/* Discard what is not committed; NULL ok. */
void lsm_stage_free(lsm_stage *st);


/* Freeze the memtable and write it to an L0 SST; wait=1 blocks until it is durable. */
int lsm_flush(lsm_db *db, int wait);

/* Compact the key range [begin, end] (NULL = unbounded) down the levels; waits. */
int lsm_compact_range(lsm_db *db, const void *begin, size_t bn, const void *end, size_t en);

/* Statistics. */
#define LSM_MAX_LEVELS 7
typedef struct lsm_stats {
  uint64_t level_files[LSM_MAX_LEVELS];
  uint64_t level_bytes[LSM_MAX_LEVELS];
  double level_score[LSM_MAX_LEVELS];
  uint64_t memtable_bytes, immutables;
  uint64_t last_seq;
  uint64_t user_bytes_written;        /* keys + values passed to writes */
  uint64_t wal_bytes, flush_bytes, compact_bytes_read, compact_bytes_written;
  double write_amp;                   /* (wal + flush + compaction written) / user bytes */
  uint64_t gets, get_files_probed;    /* files probed per get = probed / gets */
  uint64_t bloom_checked, bloom_useful;
  uint64_t mmap_cold_batches;         /* multiget batches over mapped tables (mmap_reads) whose
                                      ** blocks were out of the page cache, so read in one batch
                                      ** of reads (all in flight on uring) rather than faulted
                                      ** in one after the other */
  uint64_t cache_hits, cache_misses, cache_bytes;
  uint64_t open_tables, table_opens;  /* table readers open now / opened since lsm_open
                                      ** (reopens after max_open_files closed one included) */
  uint64_t max_open_files;            /* the option: open_tables stays at or below it unless
                                      ** iterators pin more (version.h "Table cache") */
  uint64_t l0_compaction_trigger;     /* the option (L0 files that start an L0 compaction) */
  uint64_t mmap_reads;                /* the option (point reads through mappings: 0/1) */
  uint64_t direct_io;                 /* the option (0/1; a table on a filesystem that refuses
                                      ** O_DIRECT, such as tmpfs, is still read buffered) */
  const char *compression;            /* the option: "none", "zstd" or "lz4" (static string) */
  const char *l1_compression;         /* the codec level-1 tables are written with (the same
                                      ** names; l1_compression resolved) */
  uint64_t stalls, stall_micros, slowdowns;
  uint64_t flushes, compactions;
  const char *io_backend;             /* "uring" or "sync" (static string) */
  uint64_t io_poll_us;                /* the option */
  uint64_t io_polled, io_poll_slept;  /* batch waits that polled (io_poll_us > 0, uring): done
                                      ** within the budget / slept after it (tuning the option) */
} lsm_stats;
int lsm_get_stats(lsm_db *db, lsm_stats *st);
/* The same as JSON text; *json is mm-allocated, free with lsm_free. */
int lsm_stats_json(lsm_db *db, char **json);

/* Verify every block checksum and the key order of every file; *report is mm-allocated text
** ("ok" or one line per problem), free with lsm_free. Returns LSM_CORRUPT if any problem. */
int lsm_check(lsm_db *db, char **report);

/* Remove a database directory's files (the db must be closed). */
int lsm_destroy(const char *dir);

#endif
