/*
** vtopts.h — parsing the arguments of CREATE VIRTUAL TABLE ... USING lsm(...) (prefix opt_).
**
** Arguments (SQLite splits them at top-level commas) are, in any order:
**   column definitions   name [type] [NOT NULL | NULL | PRIMARY KEY [ASC|DESC] | COLLATE BINARY]
**   PRIMARY KEY(a, b...) the key (at most one key declaration in total)
**   name=value           options: dir, memtable_size, cache_size, block_size, compression
**                        (zstd|lz4|none), l1_compression (auto|zstd|lz4|none),
**                        compression_level, bloom_bits, sync (full|normal|off),
**                        io (uring|sync|auto), max_open_files (16..1000000),
**                        l0_compaction_trigger (2..20), mmap_reads (0|1), direct_io (0|1),
**                        io_poll_us (0..100000; engine lsm.h says what each does),
**                        max_txn_size (64KB..4GB: OPT_MAX_TXN_SIZE below). Sizes take
**                        suffixes k/kb/kib, m/mb/mib, g/gb/gib (all binary: 64MB = 64 MiB).
**                        Values may be quoted with '' or "".
** Unsupported column constraints (UNIQUE, CHECK, DEFAULT, REFERENCES, GENERATED, COLLATE other
** than BINARY on a key column) are errors rather than silently ignored.
** The declared type gives the column affinity by SQLite's rules (datatype3.html, 3.1).
**
** Errors: LSM_ERROR with a message naming the bad argument or option (st_errmsg()), LSM_NOMEM.
** Thread safety: pure functions; opt_table is owned by the caller (opt_free).
*/
#ifndef LSMVTAB_VTOPTS_H
#define LSMVTAB_VTOPTS_H

#include "lsm.h"

/* The default block_size of a table: 2 KiB, half the engine's default. A SQL table is read
** mostly by key (point statements, IN lists, UPDATE/DELETE by key), and a point read that
** misses the block cache reads and decodes one whole block: with 2 KiB blocks a point read
** costs ~20 % less CPU (bench_sql at 1M rows: readrandom 8.4 -> 6.5 us, IN-list per key 5.5 ->
** 3.9, UPDATE 8.2 -> 6.7) for ~3 % more bytes on disk (zstd compresses 2 KiB blocks almost
** as well) and ~3 % more CPU per range scan. block_size=4KB gives the engine's. */
#define OPT_BLOCK_SIZE 2048

/* The default l0_compaction_trigger of a table: 4, where the engine's default is 6. Merging 6
** flushed L0 tables per L0 compaction instead of 4 lowers write amplification (engine, 10M keys:
** ~4.4 -> ~4.0), but every L0 file left is one more block read for each range seek, and a
** SQL table is read by ranges (ORDER BY k LIMIT n) more than a key-value store: bench_sql at 5M
** rows (one pair, session 5) scanrange 21.9k -> 32.1k scans/s (bench thread 39.6 -> 31.1 us per
** scan) with 4, fillrandom 565k -> 533k rows/s. l0_compaction_trigger=6 gives the engine's. */
#define OPT_L0_COMPACTION_TRIGGER 4

/* The default mmap_reads of a table: 1, where the engine's is 0 (lsm.h: its peak-RSS target
** counts mapped file pages). A point statement that misses the block cache (8 MiB over a table
** of hundreds of MiB: nearly all of them) checksums and decodes its block straight from a
** read-only mapping of the table file instead of a pread: no system call, no copy of the stored
** bytes. bench_sql 5M rows, bench thread, 3 alternating pairs (session 6, pread vs a copy out of
** the mapping): readrandom 6.80/6.84/6.85 -> 5.42/5.49/5.61 us, UPDATE by key 5.85/5.79/5.74 ->
** 4.48/4.04/4.62. A device IO error on a mapped page, or a table file shrunk by another process,
** is a SIGBUS; the engine's mapguard (engine/mapguard.h) turns it into SQLITE_IOERR_READ for the
** statement (every read of the mapping runs under a guard; its SIGBUS handler chains to any
** the host installed before). Limit: a host that installs its own SIGBUS handler after a table
** was mapped (SQLite installs none) gets those SIGBUS; tables opened after that are read with
** pread. mmap_reads=0 reads every table with pread. */
#define OPT_MMAP_READS 1

/* The default l1_compression of a table, `auto`: level-0 and level-1 tables stored raw when
** compression is lz4 (the default), as `compression` otherwise (zstd is asked for by size; none is
** none anyway). The engine's default is its `compression` on every level (lsm.h: l1_compression,
** which says why L0 and L1 are the levels to leave raw: bounded by settings, rewritten by every
** L0 compaction). Raw L0 since session 27 (docs/PERF-NOTES.md "Status after session 27"): the
** flushes skip lz4, the L0 -> L1 compaction decodes nothing, and reads served from L0 (the reads
** right after a bulk load) skip the decode; bench_sql 5M, 3 alternating full flows, medians:
** first-pass readrandom 222.9k -> 240.6k rows/s, readseq 5.11M -> 5.39M, scanrange 26.4k ->
** 31.4k, fillrandom 575k -> 593k, updaterandom 246k -> 258k, settled phases alike; size on disk
** at the end 529.0 -> 560.8 MiB (the L0 tables left by the last writes, raw).
** Raw L1 since session 9:
** bench_sql at 5M rows, lsm only, 6 alternating pairs (session 9; docs/PERF-NOTES.md "Level 1's
** codec ..."): readseq 4.50 -> 6.00M rows/s (bench thread 0.206 -> 0.162 us per row), scanrange
** +4 %, UPDATE +5 %, DELETE +3 %, fillrandom equal, readrandom -14 %: the read-triggered L0 -> L1
** compaction after the fill neither compresses its ~256 MiB of L1 output nor decodes L1's input,
** so it now ends inside readrandom (before: it ran on through readseq) and, moving its bytes at
** memory speed, slows the reader beside it more while it runs. Size on disk 473.3 -> 529.0 MiB
** (native SQLite: 606.8), bounded by ~level1_size x 0.3 whatever the table's size (an L1 table
** is rewritten, not moved, into L2: compact.c movable). l1_compression=lz4 gives the engine's
** behaviour (lz4 on L0 and L1 too). */
#define OPT_L1_AUTO (-2)

/* The default max_txn_size of a table: 256 MiB. A transaction's writes to a table are held in
** memory until COMMIT (ext/overlay.h), and COMMIT copies them once more into one engine batch
** (one WAL record), so without a bound one INSERT ... SELECT of many rows grows the process until
** the kernel kills it (1M rows of ~110 bytes in one INSERT ... SELECT: 547 MB peak RSS in session
** 33, before the bound). A write that
** could take the table's pending writes (lsm_stats' pending_bytes: the overlay's allocations,
** keys and values and ~130 bytes per key) past the bound spills them to disk (a sorted run of
** the transaction's lsm_stage; savepoints and open cursors keep what they need of the history as
** cuts between runs). Only a single write larger than the bound by itself fails, with
** SQLITE_FULL, as a native write past PRAGMA max_page_count does, and SQLite rolls back that
** statement, or the whole transaction when the statement has no journal (ext/README.md
** "Transaction size"). 256 MiB is
** ~1.04M such rows: a bulk load's usual transactions (thousands to a few hundred thousand rows)
** fit many times over, and the peak at COMMIT, about twice the bound (overlay, batch, and the
** memtable the batch goes into: 1M rows, 237 MB pending, 506 MB RSS), stays within a few times the engine's
** own memory (lsm.h "Memory").
** The CREATE option sets a table's bound; lsm_max_txn_size() overrides it for a connection.
** At most 4 GiB: the engine's batch (one WAL record) is at most 4 GiB, and a batch is always
** smaller than the pending bytes it comes from. */
#define OPT_MAX_TXN_SIZE ((size_t)256 << 20)
#define OPT_MAX_TXN_SIZE_MIN ((size_t)64 << 10)
#define OPT_MAX_TXN_SIZE_MAX ((size_t)4 << 30)

/* Affinities, with SQLite's SQLITE_AFF_* letters. */
enum { OPT_AFF_BLOB = 'A', OPT_AFF_TEXT = 'B', OPT_AFF_NUMERIC = 'C', OPT_AFF_INTEGER = 'D',
       OPT_AFF_REAL = 'E' };

typedef struct opt_col {
  char *name;    /* unquoted */
  char *type;    /* declared type text as written ("" if none) */
  char *collate; /* NULL or the COLLATE name */
  int aff;       /* OPT_AFF_* */
  int notnull;   /* NOT NULL declared, or a key column */
  int keypos;    /* position in the key, -1 if not a key column */
} opt_col;

typedef struct opt_table {
  int ncol;
  opt_col *cols;
  int nkey;      /* 0: no declared key (a hidden integer rowid is the key) */
  int *key;      /* key[i] = index in cols of the i-th key column */
  char *dir;     /* the dir option, or NULL for the default */
  size_t max_txn_size; /* bound on a transaction's pending writes to the table, bytes */
  lsm_options lo;
  unsigned seen; /* options given so far (bit per option name), to refuse repeats */
} opt_table;

/* Parse argv[0..argc) (the module arguments, i.e. SQLite's argv[3..]). On error *t is left
** empty (nothing to free). */
int opt_parse(int argc, const char *const *argv, opt_table *t);
void opt_free(opt_table *t);

/* Affinity of a declared type by SQLite's rules. */
int opt_affinity(const char *type);

/* Parse a size such as "64MB"; LSM_ERROR if malformed. */
int opt_parse_size(const char *s, size_t *out);

#endif
