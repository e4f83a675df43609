/*
** db_int.h — the lsm_db object, shared by db.c (open/recovery, write path, flush, reads) and
** db_util.c (options, stats, check, destroy). Private to the engine.
**
** Files in a database directory:
**   LOCK                 flock'ed while open (fio_lock): a second opener gets LSM_BUSY
**   CURRENT              "MANIFEST-<n>\n" (manifest.h)
**   MANIFEST-<n>         version edits (manifest.h)
**   <n>.log              a WAL (wal.h): the writes of one memtable (recovery may replay several)
**   <n>.sst              a table (sst.h)
**   <n>.stage            a run of an uncommitted stage (lsm.h "Staged writes"; sst.h format):
**                        deleted when the stage drops it, and at every open
** All numbers come from one counter (next_file).
**
** Locking. db->mu protects every field marked [mu]. Lock order: db->mu is taken first; while
** holding it the code may take a ver_file's open_mu, then the table cache's tc_mu (version.h;
** never the reverse: an eviction holding tc_mu only trylocks an open_mu), and the block
** cache's shard locks (leaves). No db->mu while waiting on IO except recovery at open
** (single-threaded) and close (the last WAL sync). The memtable switch creates the new WAL and
** syncs the old one (sync=normal) without it: the leader alone writes db->mem and db->wal.
** Waiting is only on condition variables: a writer's own cv (group commit queue), db->bg_cv
** (the flush thread waits for work), db->done_cv (flush progress: writers waiting for room,
** lsm_flush(wait=1), close).
**
** Write path (LevelDB's DBImpl::Write): writers queue; the head of the queue is the leader: it
** makes room (switching memtables), merges the batches of the writers queued behind it into one
** group, assigns sequence numbers, appends ONE WAL record, fsyncs once under sync=full, inserts
** into the memtable (the leader is the only memtable writer, so mem_add's single-writer rule
** holds), publishes last_seq, and wakes the followers with the shared result. The WAL append and
** memtable insert run WITHOUT db->mu: readers never wait for a commit. A batch becomes visible
** atomically because readers read at last_seq, published only after the whole group is in.
**
** Background: the flush thread takes the oldest immutable memtable, writes it to a new L0 table
** without db->mu, then logs the edit (file added, log_number advanced) to the manifest, installs
** the new version, drops the memtable and deletes WALs no longer needed. The compaction threads
** (background_threads) run compactions whenever a level's score is >= 1 (compact.h). All wait
** on bg_cv.
** Version changes (flush, compaction, manual compaction from a user thread) are serialised by
** db->man_busy. Up to background_threads compactions run at once on disjoint input files
** (db->running, compact.h); a manual one runs alone.
*/
#ifndef LSMVTAB_DB_INT_H
#define LSMVTAB_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "batch.h"
#include "cache.h"
#include "fio.h"
#include "lsm.h"
#include "manifest.h"
#include "memtable.h"
#include "version.h"
#include "wal.h"

#define DB_MAX_IMM 16
#define DB_MAX_BG 16 /* most compaction threads (lsm_options.background_threads) */

typedef struct compaction compaction; /* compact.c */

typedef struct db_writer {
  uint8_t *frame;   /* WB_ROOM bytes of room, then the rep (batch.h); NULL: a memtable switch
                    ** request (lsm_flush) or an ingest (db_ingest), never grouped with others.
                    ** The leader writes into the room and the rep's seq. */
  size_t n;         /* rep bytes */
  int force;
  int done, rc;
  char msg[256]; /* the leader's error message for a follower */
  pthread_cond_t cv;
  struct db_writer *next;
} db_writer;

struct lsm_snapshot {
  uint64_t seq;
  lsm_snapshot *prev, *next;
};

typedef struct db_imm {
  mem *m;
  uint64_t log; /* its WAL */
} db_imm;

struct lsm_db {
  char *dir;
  lsm_options o;
  fio_env *env;
  fio_file *lock;
  cache *bcache;
  ver_ctx vctx;

  pthread_mutex_t mu;
  pthread_cond_t bg_cv, done_cv;

  mem *mem;                 /* [mu] the mutable memtable */
  uint64_t mem_log;         /* [mu] its WAL number */
  db_imm imm[DB_MAX_IMM];   /* [mu] frozen memtables, oldest first */
  int nimm;                 /* [mu] */
  wal_writer *wal;          /* [mu] the WAL of mem (used by the leader without mu; a switch
                            ** syncs and closes the old one without mu, then swaps under it) */
  ver_version *cur;         /* [mu] current version */
  man_writer *man;          /* flush thread / open only */
  uint64_t man_number;
  uint64_t next_file;       /* [mu] */
  uint64_t log_number;      /* [mu] WALs below this are obsolete */
  _Atomic uint64_t last_seq; /* [mu] to write; published after a commit group is applied */
  db_writer *wq_head, *wq_tail; /* [mu] writer queue */
  lsm_batch *group;         /* leader's scratch batch for merging a group */
  lsm_snapshot snaps;       /* [mu] list sentinel (oldest first) */
  int nsnaps, niters;       /* [mu] live snapshots / iterators */
  int bg_error;             /* [mu] sticky: writes refused after a failed WAL/flush/manifest */
  char bg_msg[256];         /* [mu] */
  int shutting_down;        /* [mu] */
  _Atomic int closing;      /* set with shutting_down; read without mu by a running compaction */
  uint64_t frozen, flushed; /* [mu] memtables frozen / flushed since open */
  pthread_t flush_thread, compact_threads[DB_MAX_BG];
  int flush_started, ncompact_started;
  int man_busy;             /* [mu] a version change is being logged (they are serialised) */
  int compacting;           /* [mu] compactions running (their inputs are in running[]) */
  compaction *running[DB_MAX_BG]; /* [mu] the running compactions: their input files are busy */
  int manual;               /* [mu] lsm_compact_range callers: no automatic compaction starts */
  int max_compacting;       /* [mu] most compactions seen running at once (tests, stats) */
  cd_buf compact_ptr[VER_LEVELS]; /* [mu] largest key of the last compaction per level */

  /* statistics (relaxed atomics) */
  _Atomic uint64_t st_user_bytes, st_wal_bytes, st_flush_bytes, st_gets, st_stalls,
      st_stall_us, st_flushes, st_slowdowns, st_compact_read, st_compact_written, st_compactions;
};

/* db.c */
/* [mu held; released while the manifest is written, and after a success while the old version
** is dropped (which may delete the files e made obsolete): the caller must not rely on state
** read under mu before the call] Log edit e (next file number and last
** sequence are filled in) and install the version it makes. Version changes are serialised.
** On failure *unknown = 1 when the manifest write itself failed: the record may or may not be
** durable, so the caller must not delete files e adds (bg_error is set; the next open's cleanup
** removes whatever the recovered manifest does not name). */
int db_log_and_apply(lsm_db *db, man_edit *e, int *unknown);
/* Apply externally built tables as the newest data, atomically (lsm.h "Staged writes"): as the
** write leader (other writers wait), freeze and flush every memtable, so that no memtable holds
** a version newer in search order than the new tables, then call build(ctx, seq, e) without
** db->mu: it writes tables whose every entry has sequence number `seq` (one past last_seq),
** syncs them and their directory, and records them in e at level 0. Then last_seq = seq and e
** is logged: the manifest record is the commit point. On failure the tables e names are
** deleted (unless the manifest write's outcome is unknown: bg_error, see db_log_and_apply).
** No db->mu held by the caller. */
int db_ingest(lsm_db *db, int (*build)(void *ctx, uint64_t seq, man_edit *e), void *ctx);

/* lsm_iter_new over the database's latest state plus `extra` (nextra internal-key iterators,
** taken: freed on failure too) whose entries carry sequence numbers >= show_from, all of them
** visible (dbi_show_from). release(arg) (may be NULL) is called once when the iterator is freed,
** or on failure: the caller's pin on what the extra iterators read. */
int db_iter_new(lsm_db *db, it_iter **extra, int nextra, uint64_t show_from,
                void (*release)(void *), void *arg, const void *lower, size_t lower_n,
                const void *upper, size_t upper_n, lsm_iter **out);

/* "<dir>/<n, 6 digits>.<ext>" */
void db_path_of(char *buf, size_t size, const char *dir, uint64_t n, const char *ext);

/* [mu] Sequence number of the oldest live snapshot (last_seq if none). */
uint64_t db_oldest_snapshot(lsm_db *db);
/* A manifest larger than this is replaced by a fresh snapshot manifest (default 8 MiB). A global
** so that tests can make rotations frequent; set it only while no database is open. */
extern size_t db_manifest_rotate_bytes;

/* The codec of the tables written into `level` (o->compression, or o->l1_compression for
** levels 0 and 1 when it is not LSM_COMPRESS_SAME). */
int db_level_codec(const lsm_options *o, int level);
/* The build options of a table written into `level` (flushes: 0; compactions: their output level). */
void db_sst_options(const lsm_db *db, int level, sst_options *so);

/* db_util.c */
int db_validate_options(const lsm_options *o);

#endif
