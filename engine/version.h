/*
** version.h — versions: immutable, refcounted sets of live SST files per level (LevelDB's
** Version / VersionSet), the table cache, point lookups and iterators over them.
**
** A version lists the files of levels 0..VER_LEVELS-1. Level-0 files may overlap and are kept
** NEWEST FIRST (by file number, descending: a flush always writes newer data than every older
** L0 file). Files of level >= 1 do not overlap and are kept by smallest key.
**
** Lifetimes and deletion. A ver_file (one SST) is refcounted: every version listing it holds a
** reference. A version is refcounted: the db holds the current one, and every get / iterator /
** compaction in flight holds the version it reads. When an edit removes a file, the db calls
** ver_mark_obsolete after the edit is durable; the file is deleted from disk (and its blocks
** dropped from the block cache) when its last reference goes, i.e. when no version — hence no
** reader — uses it any more. Files of a version dropped at close are not obsolete: kept.
**
** Table cache (LevelDB's TableCache with max_open_files): a ver_file opens its sst_reader
** (one descriptor, the pinned index + filter + index search aid: sst.h) on first use (for a
** flush's or compaction's outputs, the thread that wrote them makes that use: ver_preopen) and
** keeps it while it is used often enough; at most ctx->max_open readers of the db stay open.
** Every user of a reader holds a pin on its file: ver_file_acquire .. ver_file_release
** around a point lookup, a multiget's locate+fetch, a level iterator's current table (an SQL
** cursor may hold one for a long time), a compaction input's iterator, a verification.
** Opening a reader beyond the limit closes the least recently used UNPINNED readers (a clock:
** each acquire sets the file's `used` bit, the hand clears it once before closing); readers
** in use are never closed. If every open reader is pinned the limit is exceeded for as long as
** they are (no error, no wait), and the count goes back under it as pins are released (the
** release that drops a file's last pin closes readers while the db is over the limit).
** A closed reader is reopened on the next acquire, re-reading and re-verifying the footer,
** properties, index and filter (corruption found then is LSM_CORRUPT, as at a first open).
** Data blocks in the block cache are keyed by (file number, offset) of an immutable file:
** they stay valid across a close and reopen; they are dropped when the file is deleted.
** Cost of a cached acquire: one atomic add and one atomic subtract on the file (no lock);
** opening and closing take the ctx's tc_mu and the file's open_mu.
** Descriptors: at most max_open table readers + the pinned overshoot; memory: at most
** max_open x (index + filter + aid of one table) pinned, plus the overshoot (lsm.h "Memory").
**
** Thread safety: versions are immutable; ver_ref/ver_unref are atomic; lookups and iterators
** may run from any number of threads. ver_apply is called by one thread at a time (the db's
** version-changing thread, under its mutex).
*/
#ifndef LSMVTAB_VERSION_H
#define LSMVTAB_VERSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cache.h"
#include "coding.h"
#include "fio.h"
#include "iter.h"
#include "manifest.h"
#include "sst.h"

#define VER_LEVELS 7

/* Shared by all files of one db. Owned by the db; outlives every version. */
typedef struct ver_ctx {
  fio_env *env;
  const char *dir;
  sst_read_options ropt;   /* block cache, direct_io, shared counters */
  sst_counters counters;   /* ropt.counters points here */
  _Atomic uint64_t files_probed; /* SSTs searched by point lookups */
  _Atomic uint64_t deleted_files;
  /* Read-triggered L0 compaction (LevelDB's seek compaction, for level 0 only): the number of
  ** an L0 file whose allowed_seeks ran out, 0 if none (cleared by the compaction picker), and
  ** the db's hook, called once when it is set (wakes the compaction thread; never called with
  ** a lock of this module held; NULL: none). */
  _Atomic uint64_t l0_seek_file;
  void (*on_seek_file)(void *arg);
  void *seek_arg;
  /* Table cache (ver_ctx_init / ver_ctx_destroy). */
  int max_open;                 /* readers kept open at most (lsm_options.max_open_files) */
  pthread_mutex_t tc_mu;        /* guards the ring of files with an open reader */
  struct ver_file *tc_hand;     /* [tc_mu] clock hand: a file of the ring, NULL when empty */
  _Atomic int tc_open;          /* readers open (changed under tc_mu, read anywhere) */
  _Atomic uint64_t tc_opens;    /* readers opened since ver_ctx_init (reopens included) */
} ver_ctx;

/* Before the first reader opens: the table cache of ctx keeps at most max_open readers open
** (>= 1). ver_ctx_destroy after every version of ctx is gone (all readers closed). A ctx that
** never opens a reader (tests of version edits) may skip both. */
void ver_ctx_init(ver_ctx *ctx, int max_open);
void ver_ctx_destroy(ver_ctx *ctx);

typedef struct ver_file {
  _Atomic int refs;
  _Atomic int obsolete;
  /* Point lookups that may still search this file, when it is in L0, without finding their
  ** key before it has to go (see ver_seek_charge). */
  _Atomic int64_t allowed_seeks;
  uint64_t number, size;
  uint8_t *smallest, *largest; /* internal keys (mm) */
  size_t smallest_n, largest_n;
  int codec;                   /* man_file.codec: LSM_COMPRESS_* if written by this process, else -1 */
  ver_ctx *ctx;
  /* Table cache: */
  pthread_mutex_t open_mu;  /* serialises opening and closing rd */
  sst_reader *_Atomic rd;   /* the open reader, or NULL */
  _Atomic int pins;         /* holders of rd (acquire .. release), plus VER_CLOSING while an
                            ** eviction closes it (a fast acquire seeing that backs off) */
  _Atomic int used;         /* clock bit: acquired since the hand last passed */
  struct ver_file *tc_prev, *tc_next; /* [ctx->tc_mu] the ring, while rd is open */
} ver_file;

typedef struct ver_version {
  _Atomic int refs;
  ver_ctx *ctx;
  int n[VER_LEVELS];
  ver_file **f[VER_LEVELS];
} ver_version;

/* "<dir>/<number 6 digits>.sst" into buf (size >= strlen(dir) + 32). */
void ver_table_path(char *buf, size_t size, const char *dir, uint64_t number);

/* An empty version with one reference. */
int ver_new_empty(ver_ctx *ctx, ver_version **out);
void ver_ref(ver_version *v);
void ver_unref(ver_version *v); /* NULL ok */

/* New version (one reference) = base with e's deleted files removed and added files added.
** A deleted file not in base, or an added file already present, is LSM_CORRUPT. */
int ver_apply(const ver_version *base, const man_edit *e, ver_version **out);

/* After the edit that removed them is durable: the files e deletes from `base` are deleted from
** disk once unreferenced. */
void ver_mark_obsolete(const ver_version *base, const man_edit *e);

/* An edit that recreates v from empty (new manifests start with it). */
int ver_snapshot_edit(const ver_version *v, man_edit *e);

/* Pin f's reader (opening it if closed) into *out: it stays open and valid until the matching
** ver_file_release(f). Every successful acquire needs exactly one release. The caller holds
** a version listing f. Opening may close other, unpinned readers (the table cache's limit).
** Errors of sst_open (LSM_CANTOPEN, LSM_IOERR_*, LSM_CORRUPT, LSM_NOMEM): nothing pinned.
** Thread safe; lock-free when the reader is open. */
int ver_file_acquire(ver_file *f, sst_reader **out);
void ver_file_release(ver_file *f);

/* Readers open now (for stats and tests). */
int ver_open_readers(ver_ctx *ctx);

/* Open the readers of the files e added to v (a flush's or a compaction's outputs, v the version
** that installed them), as the first acquire of each would. Called by the thread that built
** them, right after the install: otherwise the first read of each new table pays its open
** (the metadata's read and parse, its fresh memory), and after a flush or compaction that is a
** foreground read or the INSERT's existence check. Skipped when the table cache has no room
** for them all (opening them would close the readers of tables being read, for tables nobody
** has asked for yet).
** Best effort: a table that fails to open is left closed; the read that needs it gets the
** error. Thread safe; v must stay referenced by the caller. */
void ver_preopen(ver_version *v, const man_edit *e);

/* Point lookup of user key ukey at snapshot seq over the files of v: LSM_OK with *type set
** (IKEY_VAL: value copied into *val, with room for one more byte; IKEY_DEL: a tombstone), or
** LSM_NOTFOUND, or an error. val may be NULL: existence only, nothing copied, and no L0 file
** is charged (ver_seek_charge). Existence checks come from writes (lsm_exists: the SQL INSERT's
** PRIMARY KEY check) and are answered by the filters; charging them made a random fill compact
** each new L0 file into L1 alone, within a few thousand inserts of its flush, instead of at the
** file-count trigger (each time rewriting the L1 data it overlaps: all of it for random keys).
** It walks the files as ver_exists below (the same queue: every candidate's filter line is
** loading before the first is probed). With three L0 files left after a fill, that made a
** point read ~5 % cheaper (bench_sql at 5M rows, bench thread, 4 of 4 pairs: median 5.80 ->
** 5.50 us); with none, it is even (session 10). */
int ver_get(ver_version *v, const uint8_t *ukey, size_t kn, uint64_t seq, int *type, cd_buf *val);

/* An existence check (ver_get with val NULL) in three steps, so that the filter lines of all
** candidate tables are loading at once, while the caller probes its memtables (lsm_exists):
** ver_exists_start pins the readers of the first VER_EXQ_MAX files ver_next_file returns and
** prefetches the key's line of each one's filter; ver_exists then searches them in that order,
** the next window after them, and answers exactly as ver_get(v, ukey, kn, seq, type, NULL)
** (LSM_OK with *type, LSM_NOTFOUND, or an error; a table that cannot be opened, or a seek key
** that cannot be allocated, is an error only if no file before it answered; nothing charged);
** ver_exists_end releases every pin and must always follow ver_exists_start (ver_exists may
** be skipped). REQUIRES v pinned from start to end; q is used by one thread. */
#define VER_EXQ_MAX 16
typedef struct ver_cursor {
  int level, idx;
} ver_cursor;
typedef struct ver_exists_q {
  ver_version *v;
  const uint8_t *ukey;
  size_t kn;
  uint8_t *seek; /* the internal seek key: small, or an allocation */
  size_t sn;
  uint64_t h;    /* bloom_hash(ukey) */
  ver_cursor c;
  int n, next;   /* files pinned in f/r, index of the next to search */
  int done;      /* the cursor has no more files after f[n - 1] */
  int rc;        /* error met after f[n - 1], or LSM_OK */
  ver_file *f[VER_EXQ_MAX];
  sst_reader *r[VER_EXQ_MAX];
  uint8_t l0[VER_EXQ_MAX]; /* f[i] is in L0 (ver_seek_charge) */
  uint8_t small[256];
} ver_exists_q;
void ver_exists_start(ver_exists_q *q, ver_version *v, const uint8_t *ukey, size_t kn, uint64_t seq);
int ver_exists(ver_exists_q *q, int *type);
void ver_exists_end(ver_exists_q *q);

/* Walking the files a point lookup must search, in order (L0 newest first, then one file per
** level): start with a cursor {0, -1}; each call returns the next file whose range may hold
** ukey (seek = the internal seek key of ukey), or NULL when there is none. */
ver_file *ver_next_file(const ver_version *v, ver_cursor *c, const uint8_t *ukey, size_t kn,
                        const uint8_t *seek, size_t sn);

/* Charge L0 file f for a point lookup that searched it without an answer and went on to the
** next file (LevelDB's allowed_seeks: a file starts with max(100, size / 16 KiB)). When its
** allowance runs out, its number goes to f->ctx->l0_seek_file and the ctx's hook is called:
** the db then compacts L0 below its file-count trigger. Every L0 file costs each iterator seek
** a block read and each get a filter probe, and nothing but reads would ever remove it.
** Thread safe (atomics); may be called from any reader. */
void ver_seek_charge(ver_file *f);

/* Charge for an iterator seek (lsm_iter_seek and the like) that positions in the files of v
** at user key ukey (NULL: at the start, or with back at the end), forward or, with back,
** backward: the newest L0 file the seek positions in (forward: its largest key >= ukey;
** backward: its smallest <= ukey) is charged as ver_seek_charge charges a get's, when another
** file of v is positioned too. Each such file costs the seek a block read and a search, and
** nothing else would ever remove it: without this a table read only by ranges after a load
** kept the load's last L0 files for good (bench_sql at 5M rows, three L0 files left by the
** fill: ~34 us per 100-row range scan against ~24 once compacted). LevelDB charges the same
** way from its iterators (DBIter's read sampling). Thread safe; v pinned by the caller. */
void ver_iter_charge(const ver_version *v, const uint8_t *ukey, size_t kn, int back);

/* Append to its[*n..] iterators over every file of v (L0 one per file, newest first, then one
** concatenating iterator per non-empty level >= 1); `cap` must be >= ver_iter_count(v) + *n.
** The iterators need v alive (the caller holds a reference until they are freed).
** hint (may be NULL): the caller's expected number of entries per seek (lsm_iter_hint), read at
** each seek and passed to each table's iterator with the share expected from its level
** (sst_iter_hint). It must outlive the iterators. */
int ver_iter_count(const ver_version *v);
int ver_add_iters(ver_version *v, it_iter **its, int *n, const uint64_t *hint);

/* A concatenating iterator over non-overlapping sorted files (a level >= 1, or one L0 file).
** files[] must stay alive while it is used. It pins the reader of the one file it is
** positioned in (ver_file_acquire), none before the first seek nor once past either end. */
int ver_level_iter_new(ver_file **files, int n, size_t readahead, it_iter **out);

/* Bytes of the files of a level. */
uint64_t ver_level_bytes(const ver_version *v, int level);

/* Verify every file (sst_verify) and that files of each level >= 1 are ordered without overlap;
** problems appended to *report as lines. LSM_OK or LSM_CORRUPT (or an IO error). */
int ver_check(ver_version *v, cd_buf *report);

#endif
