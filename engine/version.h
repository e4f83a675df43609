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
** Table cache: each ver_file opens its sst_reader lazily on first use (under a per-file mutex)
** and keeps it open until the file's last reference goes: one descriptor and one pinned index +
** filter per live table, no eviction. A database of S bytes holds about S / target_file_size
** of them (16 MiB default: 64 per GiB), so a database beyond ~15 GiB needs a descriptor limit
** above the common soft default of 1024 (`ulimit -n`), and the pinned index/filter memory
** grows with S (lsm.h "Memory"). A bounded table cache (LevelDB's max_open_files) would need
** readers refcounted by their iterators; not built.
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
} ver_ctx;

typedef struct ver_file {
  _Atomic int refs;
  _Atomic int obsolete;
  /* Point lookups that may still search this file, when it is in L0, without finding their
  ** key before it has to go (see ver_seek_charge). */
  _Atomic int64_t allowed_seeks;
  uint64_t number, size;
  uint8_t *smallest, *largest; /* internal keys (mm) */
  size_t smallest_n, largest_n;
  ver_ctx *ctx;
  pthread_mutex_t open_mu;
  sst_reader *_Atomic rd;
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

/* The file's reader (opened on first use; owned by the file). */
int ver_file_reader(ver_file *f, sst_reader **out);

/* Point lookup of user key ukey at snapshot seq over the files of v: LSM_OK with *type set
** (IKEY_VAL: value copied into *val, with room for one more byte; IKEY_DEL: a tombstone), or
** LSM_NOTFOUND, or an error. val may be NULL: existence only, nothing copied, and no L0 file
** is charged (ver_seek_charge). Existence checks come from writes (lsm_exists: the SQL INSERT's
** PRIMARY KEY check) and are answered by the filters; charging them made a random fill compact
** each new L0 file into L1 alone, within a few thousand inserts of its flush, instead of at the
** file-count trigger (each time rewriting the L1 data it overlaps: all of it for random keys). */
int ver_get(ver_version *v, const uint8_t *ukey, size_t kn, uint64_t seq, int *type, cd_buf *val);

/* Walking the files a point lookup must search, in order (L0 newest first, then one file per
** level): start with a cursor {0, -1}; each call returns the next file whose range may hold
** ukey (seek = the internal seek key of ukey), or NULL when there is none. */
typedef struct ver_cursor {
  int level, idx;
} ver_cursor;
ver_file *ver_next_file(const ver_version *v, ver_cursor *c, const uint8_t *ukey, size_t kn,
                        const uint8_t *seek, size_t sn);

/* Charge L0 file f for a point lookup that searched it without an answer and went on to the
** next file (LevelDB's allowed_seeks: a file starts with max(100, size / 16 KiB)). When its
** allowance runs out, its number goes to f->ctx->l0_seek_file and the ctx's hook is called:
** the db then compacts L0 below its file-count trigger. Every L0 file costs each iterator seek
** a block read and each get a filter probe, and nothing but reads would ever remove it.
** Thread safe (atomics); may be called from any reader. */
void ver_seek_charge(ver_file *f);

/* Append to its[*n..] iterators over every file of v (L0 one per file, newest first, then one
** concatenating iterator per non-empty level >= 1); `cap` must be >= ver_iter_count(v) + *n.
** The iterators need v alive (the caller holds a reference until they are freed). */
int ver_iter_count(const ver_version *v);
int ver_add_iters(ver_version *v, it_iter **its, int *n);

/* A concatenating iterator over non-overlapping sorted files (a level >= 1). files[] must stay
** alive while it is used. */
int ver_level_iter_new(ver_file **files, int n, size_t readahead, it_iter **out);

/* Bytes of the files of a level. */
uint64_t ver_level_bytes(const ver_version *v, int level);

/* Verify every file (sst_verify) and that files of each level >= 1 are ordered without overlap;
** problems appended to *report as lines. LSM_OK or LSM_CORRUPT (or an IO error). */
int ver_check(ver_version *v, cd_buf *report);

#endif
