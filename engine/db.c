/*
** db.c — the database: open/recovery, the write path with group commit, reads (get, multiget,
** iterators, snapshots), memtable switch and the flush thread. Design in db_int.h.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bloom.h"
#include "compact.h"
#include "db_int.h"
#include "dbiter.h"
#include "ikey.h"
#include "merge.h"
#include "mm.h"
#include "sst.h"
#include "status.h"

void db_path_of(char *buf, size_t size, const char *dir, uint64_t n, const char *ext) {
  snprintf(buf, size, "%s/%06llu.%s", dir, (unsigned long long)n, ext);
}
#define path_of db_path_of


static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* [mu] Record a sticky background error (the first one wins). */
static void set_bg_error(lsm_db *db, int rc, const char *msg) {
  if (db->bg_error) return;
  db->bg_error = rc;
  snprintf(db->bg_msg, sizeof db->bg_msg, "%s", msg);
  pthread_cond_broadcast(&db->done_cv);
}

/* [mu] */
static int bg_err(lsm_db *db) {
  return st_err(db->bg_error, "database refuses writes after an earlier error (reopen it): %s", db->bg_msg);
}

/* ---- tables -------------------------------------------------------------------------------- */

int db_level_codec(const lsm_options *o, int level) {
  return level <= 1 && o->l1_compression != LSM_COMPRESS_SAME ? o->l1_compression : o->compression;
}

void db_sst_options(const lsm_db *db, int level, sst_options *so) {
  so->block_size = db->o.block_size;
  so->compression = db_level_codec(&db->o, level);
  so->compression_level = db->o.compression_level;
  so->bloom_bits = db->o.bloom_bits;
}

/* Write memtable m as table `number`; on LSM_OK *added says whether a file was made (an empty
** memtable makes none) and the file is recorded in e at level 0. Runs without db->mu. */
static int write_table(lsm_db *db, mem *m, uint64_t number, man_edit *e, int *added) {
  *added = 0;
  if (mem_count(m) == 0) return LSM_OK;
  char path[4096];
  path_of(path, sizeof path, db->dir, number, "sst");
  fio_file *f;
  int rc = fio_create(db->env, path, FIO_WRONLY, &f);
  if (rc) return rc;
  sst_options so;
  db_sst_options(db, 0, &so);
  sst_builder *b = NULL;
  it_iter *it = NULL;
  rc = sst_builder_new(f, &so, &b);
  if (!rc) rc = sst_builder_expect_keys(b, mem_count(m)); /* one hash array, no doubling */
  if (!rc) rc = mem_iter_new(m, &it);
  if (!rc) {
    for (it_seek_first(it); it_valid(it) && !rc; it_next(it)) {
      const uint8_t *k, *v;
      size_t kn, vn;
      it_key(it, &k, &kn);
      it_value(it, &v, &vn);
      rc = sst_builder_add(b, k, kn, v, vn);
    }
    if (!rc) rc = it_status(it);
  }
  sst_props props;
  if (!rc) rc = sst_builder_finish(b, &props);
  if (!rc) rc = man_edit_add(e, 0, number, props.file_size, props.smallest, props.smallest_n,
                             props.largest, props.largest_n);
  if (!rc) e->adds[e->nadd - 1].codec = (int)props.compression;
  if (!rc) atomic_fetch_add_explicit(&db->st_flush_bytes, props.file_size, memory_order_relaxed);
  it_free(it);
  sst_builder_free(b);
  int crc = fio_close(f);
  if (!rc) rc = crc;
  /* the new directory entry must be durable before the manifest refers to it */
  if (!rc) rc = fio_sync_dir(db->env, db->dir);
  if (rc) {
    int keep = rc;
    const char *msg = st_errmsg();
    char save[256];
    snprintf(save, sizeof save, "%s", msg);
    fio_delete(db->env, path);
    return st_err(keep, "%s", save);
  }
  *added = 1;
  return LSM_OK;
}

size_t db_manifest_rotate_bytes = 8u << 20;

/* [mu held, man_busy; released during IO] A manifest that grew past db_manifest_rotate_bytes is
** replaced by a new one holding a snapshot of the current state (the same steps as at open:
** create, write, sync directory, switch CURRENT), so it does not grow while the db stays open.
** A failure before CURRENT is switched keeps the old manifest (tried again at the next edit);
** a failed switch leaves CURRENT naming either manifest, both describing the current state,
** so further edits are refused (bg_error). */
static void maybe_rotate_manifest(lsm_db *db) {
  if (man_size(db->man) < db_manifest_rotate_bytes) return;
  man_edit snap;
  man_edit_init(&snap);
  uint64_t num = db->next_file++;
  int rc = ver_snapshot_edit(db->cur, &snap);
  man_edit_set_log(&snap, db->log_number);
  man_edit_set_next_file(&snap, db->next_file);
  man_edit_set_last_seq(&snap, atomic_load(&db->last_seq));
  pthread_mutex_unlock(&db->mu);
  man_writer *w = NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/MANIFEST-%06llu", db->dir, (unsigned long long)num);
  int switching = 0;
  if (!rc) rc = man_create(db->env, path, &w);
  if (!rc) rc = man_append(w, &snap);
  if (!rc) rc = fio_sync_dir(db->env, db->dir);
  if (!rc) {
    switching = 1;
    rc = man_set_current(db->env, db->dir, num);
  }
  pthread_mutex_lock(&db->mu);
  if (rc && !switching) {
    if (w) {
      man_close(w);
      fio_delete(db->env, path);
    }
  } else if (rc) {
    set_bg_error(db, rc, st_errmsg());
    man_close(w);
  } else {
    char old[4096];
    snprintf(old, sizeof old, "%s/MANIFEST-%06llu", db->dir, (unsigned long long)db->man_number);
    man_close(db->man);
    db->man = w;
    db->man_number = num;
    fio_delete(db->env, old); /* a leftover would be removed at the next open */
  }
  man_edit_free(&snap);
}

int db_log_and_apply(lsm_db *db, man_edit *e, int *unknown) {
  *unknown = 0;
  while (db->man_busy) pthread_cond_wait(&db->done_cv, &db->mu);
  db->man_busy = 1;
  ver_version *nv;
  man_edit_set_next_file(e, db->next_file);
  man_edit_set_last_seq(e, atomic_load(&db->last_seq));
  int rc = ver_apply(db->cur, e, &nv);
  if (!rc) {
    pthread_mutex_unlock(&db->mu);
    rc = man_append(db->man, e);
    pthread_mutex_lock(&db->mu);
    if (rc) {
      /* The record may be in the file (e.g. the write went through, the fdatasync failed), so
      ** the manifest's state is unknown: no more edits, and nothing e names may be deleted. */
      *unknown = 1;
      set_bg_error(db, rc, st_errmsg());
      ver_unref(nv);
    } else {
      ver_version *old = db->cur;
      db->cur = nv;
      ver_mark_obsolete(old, e);
      if (e->has_log_number) db->log_number = e->log_number;
      maybe_rotate_manifest(db);
      db->man_busy = 0;
      pthread_cond_broadcast(&db->done_cv);
      /* The last reference to the old version deletes the files the edit made obsolete
      ** (truncating their page cache, erasing their cache entries): not under mu, which every
      ** writer takes. */
      pthread_mutex_unlock(&db->mu);
      ver_unref(old);
      pthread_mutex_lock(&db->mu);
      return rc;
    }
  }
  db->man_busy = 0;
  pthread_cond_broadcast(&db->done_cv);
  return rc;
}

uint64_t db_oldest_snapshot(lsm_db *db) {
  return db->nsnaps ? db->snaps.next->seq : atomic_load(&db->last_seq);
}

/* Delete WAL files numbered below `below` (no lock needed: obsolete files are used by no one). */
static void delete_old_logs(lsm_db *db, uint64_t below) {
  char **names;
  int n;
  if (fio_list(db->env, db->dir, &names, &n)) return;
  for (int i = 0; i < n; i++) {
    unsigned long long num;
    char tail[8];
    if (sscanf(names[i], "%llu.%7s", &num, tail) == 2 && !strcmp(tail, "log") && num < below) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", db->dir, names[i]);
      fio_delete(db->env, path);
    }
  }
  fio_list_free(names, n);
}

/* [mu held; released while the table is written, and after it while the flushed memtable is
** freed, the WALs it made obsolete are deleted and the new table is opened] Flush the oldest
** immutable memtable. */
static int flush_one(lsm_db *db) {
  mem *m = db->imm[0].m;
  uint64_t number = db->next_file++;
  pthread_mutex_unlock(&db->mu);
  man_edit e;
  man_edit_init(&e);
  int added;
  int rc = write_table(db, m, number, &e, &added);
  pthread_mutex_lock(&db->mu);
  if (!rc) {
    uint64_t next_log = db->nimm > 1 ? db->imm[1].log : db->mem_log;
    man_edit_set_log(&e, next_log);
    int unknown;
    rc = db_log_and_apply(db, &e, &unknown);
    if (!rc) {
      db->log_number = next_log;
      db->nimm--;
      memmove(&db->imm[0], &db->imm[1], sizeof(db_imm) * (size_t)db->nimm);
      db->flushed++;
      atomic_fetch_add(&db->st_flushes, 1);
      pthread_cond_broadcast(&db->done_cv);
      pthread_cond_broadcast(&db->bg_cv); /* a new L0 file may call for a compaction */
      ver_version *v = db->cur;
      ver_ref(v);
      pthread_mutex_unlock(&db->mu);
      mem_unref(m);
      delete_old_logs(db, next_log);
      ver_preopen(v, &e); /* the flush thread opens the table, not the first read of it */
      ver_unref(v);
      pthread_mutex_lock(&db->mu);
    } else if (added && !unknown) {
      char path[4096];
      path_of(path, sizeof path, db->dir, number, "sst");
      fio_delete(db->env, path);
    }
  }
  man_edit_free(&e);
  return rc;
}

static void *flush_main(void *arg) {
  lsm_db *db = arg;
  pthread_mutex_lock(&db->mu);
  for (;;) {
    while (!db->shutting_down && (db->bg_error || db->nimm == 0)) pthread_cond_wait(&db->bg_cv, &db->mu);
    if (db->shutting_down) break;
    int rc = flush_one(db);
    if (rc) set_bg_error(db, rc, st_errmsg());
    pthread_cond_broadcast(&db->done_cv);
    pthread_cond_broadcast(&db->bg_cv); /* a new L0 file may call for a compaction */
  }
  pthread_mutex_unlock(&db->mu);
  return NULL;
}

/* ver_ctx hook: reads asked for an L0 compaction (ver_seek_charge; called without db->mu). */
static void seek_file_wake(void *arg) {
  lsm_db *db = arg;
  pthread_mutex_lock(&db->mu);
  pthread_cond_broadcast(&db->bg_cv);
  pthread_mutex_unlock(&db->mu);
}

/* A compaction thread (background_threads of them): separate from the flush thread so that a
** long compaction never keeps a memtable from being flushed (writers wait for flushes, not for
** compactions, unless L0 reaches the stop trigger). */
static void *compact_main(void *arg) {
  lsm_db *db = arg;
  pthread_mutex_lock(&db->mu);
  for (;;) {
    while (!db->shutting_down && (db->bg_error || db->manual || db->compacting >= db->o.background_threads ||
                                  !compact_needed(db)))
      pthread_cond_wait(&db->bg_cv, &db->mu);
    if (db->shutting_down) break;
    int rc = compact_auto(db);
    if (rc == LSM_NOTFOUND) { /* what is needed conflicts with running compactions: wait for one */
      pthread_cond_wait(&db->bg_cv, &db->mu);
      continue;
    }
    if (rc == LSM_ABORT && db->shutting_down) rc = LSM_OK;
    if (rc) set_bg_error(db, rc, st_errmsg());
    pthread_cond_broadcast(&db->done_cv);
    pthread_cond_broadcast(&db->bg_cv);
  }
  pthread_mutex_unlock(&db->mu);
  return NULL;
}

/* ---- write path ----------------------------------------------------------------------------- */

/* A new mutable memtable: with a whole-key filter of memtable_size / 64 bytes (1 MiB for the
** 64 MiB default; about 1.5 % of the memtable), so point reads and existence checks of keys it
** does not hold skip the skiplist walk (a cache miss per level) with one cache-line probe. */
static int new_memtable(lsm_db *db, mem **m) { return mem_new_filtered(db->o.memtable_size / 64, m); }

/* [mu held; released during the file work] Freeze the memtable and start a new one with a new
** WAL. Called by the write leader only (make_room), which alone writes db->mem and db->wal: while
** it creates the new WAL (a file, its header, two fsyncs) and, under sync=normal, syncs the old
** one (up to memtable_size of dirty pages), nothing else can change what it swaps, and nothing
** else has to wait. Readers and the background threads would otherwise block on db->mu for the
** whole IO at every switch. The old memtable is frozen only after its WAL is durable. */
static int switch_memtable(lsm_db *db) {
  uint64_t number = db->next_file++;
  wal_writer *old = db->wal;
  int sync_old = db->o.sync == LSM_SYNC_NORMAL;
  pthread_mutex_unlock(&db->mu);
  mem *m = NULL;
  wal_writer *w = NULL;
  char path[4096];
  path_of(path, sizeof path, db->dir, number, "log");
  int rc = new_memtable(db, &m);
  if (!rc && (rc = wal_create(db->env, path, number, &w))) {
    mem_unref(m);
  } else if (!rc && sync_old && (rc = wal_sync(old))) {
    /* sync=normal: the WAL of a memtable is made durable when the memtable is frozen; a failed
    ** sync leaves the durability of committed writes unknown: stop writing */
    char msg[256];
    snprintf(msg, sizeof msg, "%s", st_errmsg());
    wal_close(w);
    fio_delete(db->env, path);
    mem_unref(m);
    pthread_mutex_lock(&db->mu);
    set_bg_error(db, rc, msg);
    return st_err(rc, "%s", msg);
  }
  if (!rc) wal_close(old); /* nobody else uses it: only the leader writes the WAL */
  pthread_mutex_lock(&db->mu);
  if (rc) return rc;
  db->imm[db->nimm].m = db->mem;
  db->imm[db->nimm].log = db->mem_log;
  db->nimm++;
  db->frozen++;
  db->mem = m;
  db->mem_log = number;
  db->wal = w;
  pthread_cond_broadcast(&db->bg_cv);
  return LSM_OK;
}

/* [mu held; released during a switch] Make sure the memtable has room (or, with force, freeze a
** non-empty memtable). Waits while too many immutable memtables are pending. */
static int make_room(lsm_db *db, int force) {
  int slowed = 0;
  for (;;) {
    if (db->bg_error) return bg_err(db);
    if (!force && !slowed && db->cur->n[0] >= db->o.l0_slowdown_trigger) {
      /* Many L0 files: delay each write by 1 ms (once) so compaction keeps up, rather than
      ** stopping all writes for a long time at the stop trigger (LevelDB's approach). */
      slowed = 1;
      atomic_fetch_add(&db->st_slowdowns, 1);
      pthread_mutex_unlock(&db->mu);
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
      pthread_mutex_lock(&db->mu);
      continue;
    }
    if (!force && mem_bytes(db->mem) < db->o.memtable_size) return LSM_OK;
    if (force && mem_count(db->mem) == 0) return LSM_OK;
    if (db->cur->n[0] >= db->o.l0_stop_trigger) {
      uint64_t t0 = now_us();
      atomic_fetch_add(&db->st_stalls, 1);
      pthread_cond_broadcast(&db->bg_cv);
      pthread_cond_wait(&db->done_cv, &db->mu);
      atomic_fetch_add(&db->st_stall_us, now_us() - t0);
      continue;
    }
    if (db->nimm >= db->o.max_immutables) {
      uint64_t t0 = now_us();
      atomic_fetch_add(&db->st_stalls, 1);
      pthread_cond_wait(&db->done_cv, &db->mu);
      atomic_fetch_add(&db->st_stall_us, now_us() - t0);
      continue;
    }
    int rc = switch_memtable(db);
    if (rc) return rc;
    force = 0;
  }
}

#define GROUP_MAX (1u << 20)

_Static_assert(WB_ROOM == WAL_REC_HEADER, "a rep's room must fit the WAL record header");

/* [mu] The leader `w` (queue head) builds its commit group: its own rep alone, or merged with
** the reps queued behind it into db->group (up to GROUP_MAX bytes). Returns the group's frame
** (WB_ROOM bytes of room, then the rep) and *n its rep length; *last = the last writer included. */
static uint8_t *build_group(lsm_db *db, db_writer *w, db_writer **last, size_t *n) {
  *last = w;
  *n = w->n;
  db_writer *x = w->next;
  if (!x || !x->frame) return w->frame;
  size_t size = w->n;
  lsm_batch_clear(db->group);
  if (wb_append_rep(db->group, w->frame + WB_ROOM, w->n)) return w->frame;
  for (; x && x->frame; x = x->next) {
    size += x->n;
    if (size > GROUP_MAX) break;
    if (wb_append_rep(db->group, x->frame + WB_ROOM, x->n)) break; /* out of memory: commit what we have */
    *last = x;
  }
  *n = lsm_batch_bytes(db->group);
  return wb_frame(db->group);
}

/* A single-record commit: let the memtable start its first cache miss for the key (the filter
** line) before the WAL write's system call, so the miss is paid in the meantime. */
static void prefetch_one(mem *m, const uint8_t *rep, size_t n) {
  uint32_t kn;
  const uint8_t *end = rep + n, *k = cd_get_varint32(rep + WB_HEADER + 1, end, &kn);
  if (k && kn <= (size_t)(end - k)) mem_prefetch(m, k, kn);
}

/* [mu held; released while the tables are built and logged] The leader's part of db_ingest. */
static int ingest_lead(lsm_db *db, int (*build)(void *, uint64_t, man_edit *), void *ctx) {
  int rc = make_room(db, 1);
  /* Every memtable flushed: a point read searches memtables before tables and stops at the
  ** first version it finds, so none may hold an older version of a key the new tables write. */
  while (!rc && db->nimm > 0) {
    if (db->bg_error) return bg_err(db);
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_wait(&db->done_cv, &db->mu);
  }
  if (rc) return rc;
  if (db->bg_error) return bg_err(db);
  uint64_t seq = atomic_load(&db->last_seq) + 1;
  pthread_mutex_unlock(&db->mu);
  man_edit e;
  man_edit_init(&e);
  rc = build(ctx, seq, &e);
  pthread_mutex_lock(&db->mu);
  int unknown = 0;
  if (!rc) {
    /* Readers at seq see nothing new until the version naming the tables is installed. */
    atomic_store(&db->last_seq, seq);
    rc = db_log_and_apply(db, &e, &unknown);
  }
  if (!rc) {
    pthread_cond_broadcast(&db->bg_cv); /* new L0 files may call for a compaction */
  } else if (!unknown) {
    for (int i = 0; i < e.nadd; i++) {
      char path[4096];
      path_of(path, sizeof path, db->dir, e.adds[i].number, "sst");
      fio_delete(db->env, path);
    }
  }
  man_edit_free(&e);
  return rc;
}

/* Commit the rep at frame + WB_ROOM (n bytes; frame NULL: a memtable switch request, or the
** ingest `build` when not NULL). */
static int db_write(lsm_db *db, uint8_t *frame, size_t n, int force,
                    int (*build)(void *, uint64_t, man_edit *), void *ctx) {
  db_writer w;
  w.frame = frame;
  w.n = n;
  w.force = force;
  w.done = w.rc = 0;
  w.next = NULL;
  pthread_cond_init(&w.cv, NULL);
  pthread_mutex_lock(&db->mu);
  if (db->wq_tail) db->wq_tail->next = &w;
  else db->wq_head = &w;
  db->wq_tail = &w;
  while (!w.done && db->wq_head != &w) pthread_cond_wait(&w.cv, &db->mu);
  if (w.done) {
    pthread_mutex_unlock(&db->mu);
    pthread_cond_destroy(&w.cv);
    if (w.rc) st_err(w.rc, "%s", w.msg);
    return w.rc;
  }
  /* leader */
  int rc = build ? ingest_lead(db, build, ctx) : make_room(db, force);
  db_writer *last = &w;
  if (!rc && frame) {
    size_t gn;
    uint8_t *g = build_group(db, &w, &last, &gn);
    uint8_t *rep = g + WB_ROOM;
    uint64_t seq = atomic_load(&db->last_seq) + 1;
    uint32_t count = cd_get_fixed32(rep + 8);
    cd_put_fixed64(rep, seq);
    mem *m = db->mem;
    wal_writer *wal = db->wal;
    int sync = db->o.sync == LSM_SYNC_FULL;
    pthread_mutex_unlock(&db->mu);
    if (count == 1) prefetch_one(m, rep, gn);
    rc = wal_add_framed(wal, g, gn);
    if (!rc && sync) rc = wal_sync(wal);
    if (!rc) rc = wb_apply_to_memtable(rep, gn, m);
    pthread_mutex_lock(&db->mu);
    if (rc) {
      /* The WAL's state is unknown, or it holds a batch the memtable lacks: stop writing. */
      set_bg_error(db, rc, st_errmsg());
    } else {
      atomic_store(&db->last_seq, seq + count - 1);
      atomic_fetch_add_explicit(&db->st_wal_bytes, gn + WAL_REC_HEADER, memory_order_relaxed);
      atomic_fetch_add_explicit(&db->st_user_bytes, gn - WB_HEADER, memory_order_relaxed);
    }
  }
  const char *msg = rc ? st_errmsg() : "";
  for (;;) {
    db_writer *r = db->wq_head;
    db->wq_head = r->next;
    if (!db->wq_head) db->wq_tail = NULL;
    if (r != &w) {
      r->rc = rc;
      snprintf(r->msg, sizeof r->msg, "%s", msg);
      r->done = 1;
      pthread_cond_signal(&r->cv);
    }
    if (r == last) break;
  }
  if (db->wq_head) pthread_cond_signal(&db->wq_head->cv);
  pthread_mutex_unlock(&db->mu);
  pthread_cond_destroy(&w.cv);
  return rc;
}

int lsm_write(lsm_db *db, lsm_batch *b) {
  if (!db || !b) return st_err(LSM_MISUSE, "lsm_write: NULL argument");
  if (lsm_batch_count(b) == 0) return LSM_OK;
  return db_write(db, wb_frame(b), lsm_batch_bytes(b), 0, NULL, NULL);
}

/* A single put or delete: its one-record rep is built on the stack (no batch allocated) when
** small, else in a batch. */
#define ONE_STACK 512

static int write_one(lsm_db *db, int type, const void *k, size_t kn, const void *v, size_t vn) {
  int rc = wb_check_record(type, k, kn, v, vn);
  if (rc) return rc;
  if (!db) return st_err(LSM_MISUSE, "lsm_write: NULL argument");
  if (WB_ROOM + WB_HEADER + wb_record_bound(type, kn, vn) <= ONE_STACK) {
    uint8_t frame[ONE_STACK];
    size_t n = wb_one(frame + WB_ROOM, type, k, kn, v, vn);
    return db_write(db, frame, n, 0, NULL, NULL);
  }
  lsm_batch *b;
  rc = lsm_batch_new(&b);
  if (rc) return rc;
  rc = type == IKEY_VAL ? lsm_batch_put(b, k, kn, v, vn) : lsm_batch_delete(b, k, kn);
  if (!rc) rc = lsm_write(db, b);
  lsm_batch_free(b);
  return rc;
}

int lsm_put(lsm_db *db, const void *k, size_t kn, const void *v, size_t vn) {
  return write_one(db, IKEY_VAL, k, kn, v, vn);
}

int lsm_delete(lsm_db *db, const void *k, size_t kn) { return write_one(db, IKEY_DEL, k, kn, NULL, 0); }

int lsm_flush(lsm_db *db, int wait) {
  if (!db) return st_err(LSM_MISUSE, "lsm_flush: NULL db");
  int rc = db_write(db, NULL, 0, 1, NULL, NULL);
  if (rc || !wait) return rc;
  pthread_mutex_lock(&db->mu);
  uint64_t target = db->frozen;
  while (db->flushed < target && !db->bg_error) pthread_cond_wait(&db->done_cv, &db->mu);
  if (db->flushed < target) rc = bg_err(db);
  pthread_mutex_unlock(&db->mu);
  return rc;
}

int lsm_compact_range(lsm_db *db, const void *begin, size_t bn, const void *end, size_t en) {
  if (!db) return st_err(LSM_MISUSE, "lsm_compact_range: NULL db");
  return compact_range(db, begin, bn, end, en);
}

/* ---- reads ---------------------------------------------------------------------------------- */

/* What a read needs, pinned: memtables newest first, the version, the sequence number. */
typedef struct readview {
  mem *mems[1 + DB_MAX_IMM];
  int nmem;
  ver_version *v;
  uint64_t seq;
} readview;

static void rv_grab(lsm_db *db, const lsm_snapshot *s, readview *rv) {
  pthread_mutex_lock(&db->mu);
  rv->nmem = 0;
  mem_ref(db->mem);
  rv->mems[rv->nmem++] = db->mem;
  for (int i = db->nimm - 1; i >= 0; i--) {
    mem_ref(db->imm[i].m);
    rv->mems[rv->nmem++] = db->imm[i].m;
  }
  ver_ref(db->cur);
  rv->v = db->cur;
  rv->seq = s ? s->seq : atomic_load(&db->last_seq);
  pthread_mutex_unlock(&db->mu);
}

static void rv_release(readview *rv) {
  for (int i = 0; i < rv->nmem; i++) mem_unref(rv->mems[i]);
  rv->nmem = 0;
  ver_unref(rv->v);
  rv->v = NULL;
}

/* Lookup in the pinned view: LSM_OK with *val (mm, NUL-terminated) or LSM_NOTFOUND. v == NULL:
** existence only (nothing copied out). The memtables' whole-key filters and the tables' bloom
** filters answer most absent keys without a skiplist walk or a data block read. */
static int rv_get(readview *rv, const uint8_t *k, size_t kn, void **v, size_t *vn) {
  for (int i = 0; i < rv->nmem; i++) {
    int type;
    const uint8_t *p;
    size_t n;
    if (mem_get(rv->mems[i], k, kn, rv->seq, &type, &p, &n, NULL) != LSM_OK) continue;
    if (type != IKEY_VAL) return LSM_NOTFOUND;
    if (!v) return LSM_OK;
    if (!(*v = mm_dup(p, n))) return st_err(LSM_NOMEM, "get: out of memory");
    *vn = n;
    return LSM_OK;
  }
  cd_buf val = {0};
  int type;
  int rc = ver_get(rv->v, k, kn, rv->seq, &type, v ? &val : NULL);
  if (rc == LSM_OK && type != IKEY_VAL) rc = LSM_NOTFOUND;
  /* ver_get left room for the terminator: no reallocation here */
  if (rc == LSM_OK && v && cd_buf_append(&val, "", 1)) rc = st_err(LSM_NOMEM, "get: out of memory");
  if (rc || !v) {
    cd_buf_free(&val);
    return rc;
  }
  *v = val.p;
  *vn = val.n - 1;
  return LSM_OK;
}

int lsm_get(lsm_db *db, const lsm_snapshot *s, const void *k, size_t kn, void **v, size_t *vn) {
  if (!db || !v || !vn || (!k && kn)) return st_err(LSM_MISUSE, "lsm_get: NULL argument");
  /* a key outside 1..LSM_MAX_KEY bytes can never have been written: simply absent */
  if (kn == 0 || kn > LSM_MAX_KEY) return LSM_NOTFOUND;
  int rc;
  readview rv;
  rv_grab(db, s, &rv);
  atomic_fetch_add_explicit(&db->st_gets, 1, memory_order_relaxed);
  rc = rv_get(&rv, k, kn, v, vn);
  rv_release(&rv);
  return rc;
}

int lsm_exists(lsm_db *db, const lsm_snapshot *s, const void *k, size_t kn) {
  if (!db || (!k && kn)) return st_err(LSM_MISUSE, "lsm_exists: NULL argument");
  if (kn == 0 || kn > LSM_MAX_KEY) return LSM_NOTFOUND;
  readview rv;
  rv_grab(db, s, &rv);
  atomic_fetch_add_explicit(&db->st_gets, 1, memory_order_relaxed);
  /* The answer of rv_get(k, NULL), with every filter line it may need (each memtable's, each
  ** candidate table's) loading at once before the first probe: for a new key (a SQL INSERT's
  ** PRIMARY KEY check) each is a cache miss, and they overlap instead of coming one by one. */
  for (int i = 0; i < rv.nmem; i++) mem_prefetch(rv.mems[i], k, kn);
  ver_exists_q q;
  ver_exists_start(&q, rv.v, k, kn, rv.seq);
  int rc = LSM_NOTFOUND, type, in_mem = 0;
  for (int i = 0; i < rv.nmem && !in_mem; i++)
    if (mem_get(rv.mems[i], k, kn, rv.seq, &type, NULL, NULL, NULL) == LSM_OK) in_mem = 1;
  if (!in_mem) rc = ver_exists(&q, &type);
  if (rc == LSM_OK || in_mem) rc = type == IKEY_VAL ? LSM_OK : LSM_NOTFOUND;
  ver_exists_end(&q);
  rv_release(&rv);
  return rc;
}

/* Per-key state of a multiget. */
typedef struct mg_key {
  uint8_t *seek; /* internal seek key (in the multiget's one allocation) */
  size_t sn;
  ver_cursor cur;
  int pending;
  int probed;        /* files returned by the cursor so far */
  ver_file *first_l0; /* the first of them, if in L0 and not charged yet (ver_seek_charge) */
  ver_file *pinned;   /* the table of this round's request, pinned until its block is released */
  ver_file *cand;     /* the next table to locate the key in, pinned, its filter line loading */
  sst_reader *cand_r;
  sst_locating loc;   /* the candidate's locate, begun (mg_begin) */
  uint64_t h;         /* bloom_hash of the user key */
} mg_key;

/* One round of a multiget: what sst_fetch_blocks' callback needs to settle each request's key. */
typedef struct mg_round {
  const sst_fetch *reqs;
  const int *map; /* request -> key */
  mg_key *mk;
  void **vals;
  size_t *vlens;
  int *rcs;
} mg_round;

/* sst_fetch_fn: search the fetched block for the key of request f and settle the key (found,
** deleted, failed), or leave it pending for its next table (not in this block). */
static void mg_serve(void *arg, const sst_fetch *f) {
  mg_round *m = arg;
  int i = m->map[f - m->reqs], rc = f->rc, type;
  if (!rc) {
    cd_buf val = {0};
    rc = sst_fetch_value(f, m->mk[i].seek, m->mk[i].sn, &type, &val);
    if (rc == LSM_NOTFOUND) return; /* stays pending: its next table next round */
    if (!rc && type != IKEY_VAL) rc = LSM_NOTFOUND;
    if (!rc) { /* sst_fetch_value left room for the terminator: no reallocation */
      val.p[val.n] = 0;
      m->vals[i] = val.p;
      m->vlens[i] = val.n;
    } else {
      cd_buf_free(&val);
    }
  }
  m->rcs[i] = rc;
  m->mk[i].pending = 0;
}

/* A multiget pass, step 1: key k (pending, no request this round, no candidate) takes its next
** table, pinned, and its filter line starts loading; or the key is settled (no table left:
** LSM_NOTFOUND; a table that cannot be opened: its error). Returns 1 if it has a candidate. */
static int mg_advance(lsm_db *db, const readview *rv, mg_key *k, const void *key, size_t kn,
                      int *rc_out) {
  ver_file *f = ver_next_file(rv->v, &k->cur, key, kn, k->seek, k->sn);
  if (f && k->probed++ == 0) {
    k->first_l0 = k->cur.level == 0 ? f : NULL;
  } else if (f && k->first_l0) { /* as ver_get: the first file did not answer */
    ver_seek_charge(k->first_l0);
    k->first_l0 = NULL;
  }
  sst_reader *r;
  int rc = f ? ver_file_acquire(f, &r) : LSM_NOTFOUND;
  if (rc) {
    *rc_out = rc;
    k->pending = 0;
    return 0;
  }
  atomic_fetch_add_explicit(&db->vctx.files_probed, 1, memory_order_relaxed);
  sst_prefetch_filter(r, k->h);
  k->cand = f;
  k->cand_r = r;
  return 1;
}

/* A multiget pass, step 2: key k's locate in its candidate table begins (sst_locate_begin:
** the filter test, and the index lines it will search start loading). The filter excludes the
** key: the pin is dropped and the next pass advances the key; an error settles the key. */
static void mg_begin(mg_key *k, int *rc_out) {
  int rc = sst_locate_begin(k->cand_r, k->seek, k->sn, k->h, &k->loc);
  if (!rc) return;
  ver_file_release(k->cand);
  k->cand = NULL;
  if (rc != LSM_NOTFOUND) {
    *rc_out = rc;
    k->pending = 0;
  }
}

/* Step 3: the locate ends. Found: the request goes into *req and the table stays pinned
** (k->pinned) until its block is served; not in the table: as in step 2. Returns 1 if a request
** was made. */
static int mg_probe(mg_key *k, sst_fetch *req, int *rc_out) {
  ver_file *f = k->cand;
  k->cand = NULL;
  memset(req, 0, sizeof *req);
  req->r = k->cand_r;
  int rc = sst_locate_end(k->cand_r, k->seek, k->sn, &k->loc, &req->h);
  if (!rc) {
    k->pinned = f;
    return 1;
  }
  ver_file_release(f);
  if (rc != LSM_NOTFOUND) {
    *rc_out = rc;
    k->pending = 0;
  }
  return 0;
}

/* Memtables first (no IO); then, round by round, every pending key's next candidate table is
** located (bloom + index, no IO), and the data blocks of all of them are fetched with one
** batched request (sst_fetch_blocks: on uring all misses are in flight at once). A key not in
** its block moves on to its next table in the next round.
** The locate goes in passes over the keys, so that their memory misses overlap as the blocks'
** reads do: a pass first takes every still-looking key's next table and starts loading the
** key's line of its filter (mg_advance), then tests every filter and starts loading the index
** lines each search will end in (mg_begin), then ends the searches (mg_probe); a key its
** table's filter excludes takes its next table in the next pass. Each key still visits its tables in
** ver_next_file's order, one at a time, as a get does. */
int lsm_multiget(lsm_db *db, const lsm_snapshot *s, int n, const void *const *keys,
                 const size_t *klens, void **vals, size_t *vlens, int *rcs) {
  if (!db || n < 0 || (n && (!keys || !klens || !vals || !vlens || !rcs)))
    return st_err(LSM_MISUSE, "lsm_multiget: bad argument");
  if (n == 0) return LSM_OK;
  if (n == 1) {
    /* One key (a SQL point statement): the plain get path — no per-key arrays, and one pread
    ** for a missed block instead of a batch round trip. The same answers as the batched path. */
    vals[0] = NULL;
    vlens[0] = 0;
    rcs[0] = LSM_NOTFOUND;
    if (!keys[0] && klens[0]) return rcs[0] = st_err(LSM_MISUSE, "lsm_multiget: NULL key");
    if (klens[0] == 0 || klens[0] > LSM_MAX_KEY) return LSM_OK;
    readview rv;
    rv_grab(db, s, &rv);
    atomic_fetch_add_explicit(&db->st_gets, 1, memory_order_relaxed);
    int rc = rv_get(&rv, keys[0], klens[0], &vals[0], &vlens[0]);
    rv_release(&rv);
    rcs[0] = rc;
    if (rc && rc != LSM_NOTFOUND) {
      vals[0] = NULL;
      vlens[0] = 0;
      return rc; /* the message is the lookup's own */
    }
    return LSM_OK;
  }
  /* ONE allocation for the per-key state, the fetch requests, the map and every seek key */
  size_t keybytes = 0;
  for (int i = 0; i < n; i++)
    if (klens[i] && klens[i] <= LSM_MAX_KEY) keybytes += klens[i] + IKEY_TRAILER;
  size_t n_ = (size_t)n;
  char *mem_all = mm_calloc(1, n_ * (sizeof(sst_fetch) + sizeof(mg_key) + sizeof(int)) + keybytes);
  if (!mem_all) return st_err(LSM_NOMEM, "multiget: out of memory");
  sst_fetch *reqs = (sst_fetch *)mem_all;
  mg_key *mk = (mg_key *)(mem_all + n_ * sizeof(sst_fetch));
  int *map = (int *)(mem_all + n_ * (sizeof(sst_fetch) + sizeof(mg_key)));
  uint8_t *kp = (uint8_t *)(mem_all + n_ * (sizeof(sst_fetch) + sizeof(mg_key) + sizeof(int)));
  readview rv;
  rv_grab(db, s, &rv);
  atomic_fetch_add_explicit(&db->st_gets, (uint64_t)n, memory_order_relaxed);
  for (int i = 0; i < n; i++) {
    const uint8_t *k = keys[i];
    size_t kn = klens[i];
    vals[i] = NULL;
    vlens[i] = 0;
    rcs[i] = LSM_NOTFOUND;
    if (kn == 0 || kn > LSM_MAX_KEY) continue; /* can never have been written: absent */
    int in_mem = 0;
    for (int j = 0; j < rv.nmem && !in_mem; j++) {
      int type;
      const uint8_t *p;
      size_t pn;
      if (mem_get(rv.mems[j], k, kn, rv.seq, &type, &p, &pn, NULL) != LSM_OK) continue;
      in_mem = 1;
      if (type == IKEY_VAL) {
        if ((vals[i] = mm_dup(p, pn))) {
          vlens[i] = pn;
          rcs[i] = LSM_OK;
        } else {
          rcs[i] = st_err(LSM_NOMEM, "multiget: out of memory");
        }
      }
    }
    if (in_mem) continue;
    mk[i].seek = kp;
    mk[i].sn = ikey_seek_key(kp, k, kn, rv.seq);
    kp += mk[i].sn;
    mk[i].cur = (ver_cursor){0, -1};
    mk[i].probed = 0;
    mk[i].first_l0 = NULL;
    mk[i].h = bloom_hash(k, kn);
    mk[i].pending = 1;
  }
  for (;;) {
    int nreq = 0;
    for (int more = 1; more;) { /* passes (see above) until every pending key has a request */
      more = 0;
      for (int i = 0; i < n; i++)
        if (mk[i].pending && !mk[i].pinned) more |= mg_advance(db, &rv, &mk[i], keys[i], klens[i], &rcs[i]);
      for (int i = 0; more && i < n; i++)
        if (mk[i].cand) mg_begin(&mk[i], &rcs[i]);
      for (int i = 0; more && i < n; i++)
        if (mk[i].cand && mg_probe(&mk[i], &reqs[nreq], &rcs[i])) map[nreq++] = i;
    }
    if (nreq == 0) break;
    mg_round round = {reqs, map, mk, vals, vlens, rcs};
    sst_fetch_blocks(reqs, nreq, mg_serve, &round); /* per-request status through mg_serve */
    for (int j = 0; j < nreq; j++) { /* the blocks are released: their tables may go now */
      ver_file_release(mk[map[j]].pinned);
      mk[map[j]].pinned = NULL;
    }
  }
  rv_release(&rv);
  int first = LSM_OK;
  for (int i = 0; i < n; i++)
    if (rcs[i] && rcs[i] != LSM_NOTFOUND && !first) first = rcs[i];
  mm_free(mem_all);
  if (first) return st_err(first, "multiget: a lookup failed (see the per-key codes)");
  return LSM_OK;
}

void lsm_free(void *p) { mm_free(p); }

/* ---- snapshots ------------------------------------------------------------------------------ */

int lsm_snapshot_new(lsm_db *db, lsm_snapshot **out) {
  if (!db || !out) return st_err(LSM_MISUSE, "lsm_snapshot_new: NULL argument");
  lsm_snapshot *s = mm_calloc(1, sizeof *s);
  if (!s) return st_err(LSM_NOMEM, "snapshot: out of memory");
  pthread_mutex_lock(&db->mu);
  s->seq = atomic_load(&db->last_seq);
  s->prev = db->snaps.prev;
  s->next = &db->snaps;
  s->prev->next = s;
  db->snaps.prev = s;
  db->nsnaps++;
  pthread_mutex_unlock(&db->mu);
  *out = s;
  return LSM_OK;
}

void lsm_snapshot_free(lsm_db *db, lsm_snapshot *s) {
  if (!db || !s) return;
  pthread_mutex_lock(&db->mu);
  s->prev->next = s->next;
  s->next->prev = s->prev;
  db->nsnaps--;
  pthread_mutex_unlock(&db->mu);
  mm_free(s);
}

/* ---- iterators ------------------------------------------------------------------------------ */

struct lsm_iter {
  it_iter *d;      /* dbiter */
  uint64_t hint;   /* lsm_iter_hint: read by the table iterators at each seek */
  ver_version *v;  /* the files it reads (borrowed: pinned by the dbiter's iter_pin) */
};

/* Every seek charges the newest L0 file it positions in (ver_iter_charge), with the key the
** dbiter will seek to: k clamped to the bounds; NULL k seeks to the bound (or the end). */
static void iter_charge(lsm_iter *it, const void *k, size_t kn, int back) {
  const uint8_t *lo, *hi, *uk = k;
  size_t lon, hin;
  dbi_bounds(it->d, &lo, &lon, &hi, &hin);
  if (!back && lo && (!uk || it_bytes_cmp(uk, kn, lo, lon) < 0)) uk = lo, kn = lon;
  if (back && hi && (!uk || it_bytes_cmp(uk, kn, hi, hin) > 0)) uk = hi, kn = hin;
  ver_iter_charge(it->v, uk, kn, back);
}

typedef struct iter_pin {
  lsm_db *db;
  ver_version *v;
  void (*release)(void *); /* db_iter_new's extra sources */
  void *arg;
} iter_pin;

static void iter_unpin(void *arg) {
  iter_pin *p = arg;
  ver_unref(p->v);
  if (p->release) p->release(p->arg);
  pthread_mutex_lock(&p->db->mu);
  p->db->niters--;
  pthread_mutex_unlock(&p->db->mu);
  mm_free(p);
}

static void free_iters(it_iter **its, int n) {
  for (int i = 0; i < n; i++) it_free(its[i]);
}

static int iter_open(lsm_db *db, const lsm_snapshot *s, it_iter **extra, int nextra,
                     uint64_t show_from, void (*release)(void *), void *arg, const void *lower,
                     size_t lower_n, const void *upper, size_t upper_n, lsm_iter **out) {
  lsm_iter *li = mm_calloc(1, sizeof *li);
  iter_pin *pin = mm_calloc(1, sizeof *pin);
  if (!li || !pin) {
    mm_free(li);
    mm_free(pin);
    free_iters(extra, nextra);
    if (release) release(arg);
    return st_err(LSM_NOMEM, "iterator: out of memory");
  }
  readview rv;
  rv_grab(db, s, &rv);
  int cap = nextra + rv.nmem + ver_iter_count(rv.v), n = 0, rc = LSM_OK;
  it_iter **its = mm_calloc((size_t)cap, sizeof *its);
  if (!its) rc = st_err(LSM_NOMEM, "iterator: out of memory");
  if (its)
    for (; n < nextra; n++) its[n] = extra[n];
  else
    free_iters(extra, nextra);
  for (int i = 0; i < rv.nmem && !rc; i++)
    if (!(rc = mem_iter_new(rv.mems[i], &its[n]))) n++;
  if (!rc) rc = ver_add_iters(rv.v, its, &n, &li->hint);
  it_iter *m = NULL;
  if (!rc) rc = merge_new(ikey_cmp, its, n, &m);
  else if (its)
    free_iters(its, n);
  mm_free(its);
  /* the memtable iterators hold their own references; the version stays pinned by the dbiter */
  for (int i = 0; i < rv.nmem; i++) mem_unref(rv.mems[i]);
  if (rc) {
    ver_unref(rv.v);
    if (release) release(arg);
    mm_free(li);
    mm_free(pin);
    return rc;
  }
  pin->db = db;
  pin->v = rv.v;
  pin->release = release;
  pin->arg = arg;
  pthread_mutex_lock(&db->mu);
  db->niters++;
  pthread_mutex_unlock(&db->mu);
  rc = dbi_new(m, rv.seq, lower, lower_n, upper, upper_n, iter_unpin, pin, &li->d);
  if (rc) {
    mm_free(li);
    return rc;
  }
  if (nextra) dbi_show_from(li->d, show_from);
  li->v = rv.v;
  *out = li;
  return LSM_OK;
}

int lsm_iter_new(lsm_db *db, const lsm_snapshot *s, const void *lower, size_t lower_n,
                 const void *upper, size_t upper_n, lsm_iter **out) {
  if (!db || !out) return st_err(LSM_MISUSE, "lsm_iter_new: NULL argument");
  return iter_open(db, s, NULL, 0, 0, NULL, NULL, lower, lower_n, upper, upper_n, out);
}

int db_iter_new(lsm_db *db, it_iter **extra, int nextra, uint64_t show_from,
                void (*release)(void *), void *arg, const void *lower, size_t lower_n,
                const void *upper, size_t upper_n, lsm_iter **out) {
  return iter_open(db, NULL, extra, nextra, show_from, release, arg, lower, lower_n, upper,
                   upper_n, out);
}

int lsm_iter_seek(lsm_iter *it, const void *k, size_t kn) {
  iter_charge(it, k, kn, 0);
  return it_seek(it->d, k, kn);
}
/* Backward positioning seeks the tables forward, then steps back: the tables are told
** (SST_HINT_BACKWARD) to read their hinted window backward from the block they land in. */
int lsm_iter_seek_for_prev(lsm_iter *it, const void *k, size_t kn) {
  iter_charge(it, k, kn, 1);
  uint64_t h = it->hint;
  if (h) it->hint = h | SST_HINT_BACKWARD;
  int rc = dbi_seek_for_prev(it->d, k, kn);
  it->hint = h;
  return rc;
}
int lsm_iter_seek_first(lsm_iter *it) {
  iter_charge(it, NULL, 0, 0);
  return it_seek_first(it->d);
}
int lsm_iter_seek_last(lsm_iter *it) {
  iter_charge(it, NULL, 0, 1);
  uint64_t h = it->hint;
  if (h) it->hint = h | SST_HINT_BACKWARD;
  int rc = it_seek_last(it->d);
  it->hint = h;
  return rc;
}
int lsm_iter_next(lsm_iter *it) {
  if (!dbi_valid(it->d)) return it_status(it->d) ? it_status(it->d) : st_err(LSM_MISUSE, "lsm_iter_next: not valid");
  return dbi_next(it->d);
}
int lsm_iter_prev(lsm_iter *it) {
  if (!it_valid(it->d)) return it_status(it->d) ? it_status(it->d) : st_err(LSM_MISUSE, "lsm_iter_prev: not valid");
  return it_prev(it->d);
}
int lsm_iter_valid(const lsm_iter *it) { return dbi_valid(it->d); }
void lsm_iter_key(const lsm_iter *it, const void **k, size_t *kn) {
  const uint8_t *p;
  dbi_key(it->d, &p, kn);
  *k = p;
}
void lsm_iter_value(const lsm_iter *it, const void **v, size_t *vn) {
  const uint8_t *p;
  dbi_value(it->d, &p, vn);
  *v = p;
}
int lsm_iter_status(const lsm_iter *it) { return it_status(it->d); }
static int iter_row(lsm_iter *it, int back, const void **k, size_t *kn, const void **v,
                    size_t *vn) {
  *k = NULL;
  if (!dbi_valid(it->d))
    return it_status(it->d) ? it_status(it->d)
                            : st_err(LSM_MISUSE, "lsm_iter_%s_row: not valid", back ? "prev" : "next");
  it_kv e;
  int rc = back ? dbi_prev_row(it->d, &e) : dbi_next_row(it->d, &e);
  if (rc || !e.k) return rc;
  *k = e.k;
  *kn = e.kn;
  *v = e.v;
  *vn = e.vn;
  return LSM_OK;
}
int lsm_iter_next_row(lsm_iter *it, const void **k, size_t *kn, const void **v, size_t *vn) {
  return iter_row(it, 0, k, kn, v, vn);
}
int lsm_iter_prev_row(lsm_iter *it, const void **k, size_t *kn, const void **v, size_t *vn) {
  return iter_row(it, 1, k, kn, v, vn);
}
void lsm_iter_hint(lsm_iter *it, uint64_t nentries) {
  it->hint = nentries & ~SST_HINT_BACKWARD; /* (2^63 entries or more: as many) */
}
void lsm_iter_free(lsm_iter *it) {
  if (!it) return;
  it_free(it->d);
  mm_free(it);
}

/* ---- open / recovery ------------------------------------------------------------------------ */

typedef struct recover_state {
  lsm_db *db;
  int has_log, has_next, has_seq;
  uint64_t log_number, next_file, last_seq;
} recover_state;

static int recover_edit(void *ctx, const man_edit *e) {
  recover_state *rs = ctx;
  ver_version *nv;
  int rc = ver_apply(rs->db->cur, e, &nv);
  if (rc) return rc;
  ver_unref(rs->db->cur);
  rs->db->cur = nv;
  if (e->has_log_number) rs->log_number = e->log_number, rs->has_log = 1;
  if (e->has_next_file) rs->next_file = e->next_file, rs->has_next = 1;
  if (e->has_last_seq) rs->last_seq = e->last_seq, rs->has_seq = 1;
  return LSM_OK;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Replay one WAL into *m (flushing full memtables to L0 tables recorded in e). */
static int replay_log(lsm_db *db, uint64_t number, mem **m, man_edit *e, uint64_t *max_seq, uint64_t *first_seq) {
  char path[4096];
  path_of(path, sizeof path, db->dir, number, "log");
  wal_reader *r;
  int rc = wal_open_read(db->env, path, &r);
  if (rc) return rc;
  const uint8_t *p;
  size_t n;
  while ((rc = wal_next(r, &p, &n)) == LSM_OK) {
    if ((rc = wb_validate(p, n))) break;
    uint64_t seq = cd_get_fixed64(p);
    uint32_t count = cd_get_fixed32(p + 8);
    if (!*first_seq) *first_seq = seq;
    if ((rc = wb_apply_to_memtable(p, n, *m))) break;
    if (count && seq + count - 1 > *max_seq) *max_seq = seq + count - 1;
    if (mem_bytes(*m) >= db->o.memtable_size) {
      int added;
      if ((rc = write_table(db, *m, db->next_file++, e, &added))) break;
      mem_unref(*m);
      *m = NULL;
      if ((rc = mem_new(m))) break;
    }
  }
  if (rc == LSM_NOTFOUND) rc = LSM_OK;
  if (rc && LSM_PRIMARY(rc) == LSM_CORRUPT) {
    char save[512]; /* st_err formats into the buffer st_errmsg() returns: copy it first */
    snprintf(save, sizeof save, "%s", st_errmsg());
    rc = st_err(rc, "recovering %s: %s", path, save);
  }
  wal_close_read(r);
  return rc;
}

static int parse_name(const char *name, uint64_t *num, char *kind) {
  unsigned long long v;
  char tail[16];
  int len;
  if (sscanf(name, "MANIFEST-%llu%n", &v, &len) == 1 && name[len] == 0) {
    *num = v;
    *kind = 'm';
    return 1;
  }
  if (sscanf(name, "%llu.%15s", &v, tail) == 2 && name[0] >= '0' && name[0] <= '9') {
    *num = v;
    if (!strcmp(tail, "log")) *kind = 'l';
    else if (!strcmp(tail, "sst")) *kind = 's';
    else if (!strcmp(tail, "stage")) *kind = 'x'; /* a stage's run (stage.c): never kept */
    else return 0;
    return 1;
  }
  return 0;
}

static int in_version(const ver_version *v, uint64_t number) {
  for (int l = 0; l < VER_LEVELS; l++)
    for (int j = 0; j < v->n[l]; j++)
      if (v->f[l][j]->number == number) return 1;
  return 0;
}

/* Open-time recovery: read the manifest, replay the WALs, write everything replayed to L0,
** start a new manifest and WAL, remove obsolete and orphan files. Single-threaded. */
static int recover(lsm_db *db) {
  recover_state rs;
  memset(&rs, 0, sizeof rs);
  rs.db = db;
  char path[4096];
  uint64_t cur_man = 0;
  int rc = man_get_current(db->env, db->dir, &cur_man);
  int exists = rc == LSM_OK;
  if (rc == LSM_CANTOPEN) {
    int e = 0;
    snprintf(path, sizeof path, "%s/CURRENT", db->dir);
    if (fio_exists(db->env, path, &e) == LSM_OK && !e) rc = LSM_OK; /* a new database */
  }
  if (rc) return rc;
  if (exists && db->o.error_if_exists) return st_err(LSM_ERROR, "%s: database exists (error_if_exists=1)", db->dir);
  if (!exists && !db->o.create_if_missing)
    return st_err(LSM_CANTOPEN, "%s: no database here (create_if_missing=0)", db->dir);
  if (exists) {
    snprintf(path, sizeof path, "%s/MANIFEST-%06llu", db->dir, (unsigned long long)cur_man);
    rc = man_read(db->env, path, recover_edit, &rs, NULL);
    if (rc == LSM_CANTOPEN) {
      int e = 1;
      if (fio_exists(db->env, path, &e) == LSM_OK && !e)
        return ST_CORRUPT("%s/CURRENT names MANIFEST-%06llu, which does not exist", db->dir, (unsigned long long)cur_man);
    }
    if (rc) return rc;
    if (!rs.has_next || !rs.has_log || !rs.has_seq)
      return ST_CORRUPT("%s: manifest lacks next-file, log or sequence number", path);
  } else {
    rs.next_file = 1;
  }
  /* what is in the directory */
  char **names;
  int n;
  if ((rc = fio_list(db->env, db->dir, &names, &n))) return rc;
  uint64_t *logs = mm_calloc((size_t)n + 1, sizeof *logs);
  int nlogs = 0;
  uint64_t max_num = 0;
  if (!logs) rc = st_err(LSM_NOMEM, "open: out of memory");
  for (int i = 0; i < n && !rc; i++) {
    uint64_t num;
    char kind;
    if (!parse_name(names[i], &num, &kind)) continue;
    if (num > max_num) max_num = num;
    if (kind == 'l' && num >= rs.log_number) logs[nlogs++] = num;
  }
  for (int l = 0; l < VER_LEVELS && !rc; l++)
    for (int j = 0; j < db->cur->n[l] && !rc; j++) {
      int found = 0;
      char want[32];
      snprintf(want, sizeof want, "%06llu.sst", (unsigned long long)db->cur->f[l][j]->number);
      for (int i = 0; i < n; i++) found |= !strcmp(names[i], want);
      if (!found) rc = ST_CORRUPT("%s: table file %s of the manifest is missing", db->dir, want);
    }
  db->next_file = rs.next_file > max_num + 1 ? rs.next_file : max_num + 1;
  atomic_store(&db->last_seq, rs.last_seq);
  if (nlogs > 1) qsort(logs, (size_t)nlogs, sizeof *logs, cmp_u64);

  /* replay */
  man_edit e;
  man_edit_init(&e);
  mem *m = NULL;
  uint64_t max_seq = rs.last_seq;
  if (!rc) rc = mem_new(&m);
  uint64_t first_seq = 0;
  for (int i = 0; i < nlogs && !rc; i++) rc = replay_log(db, logs[i], &m, &e, &max_seq, &first_seq);
  /* Continuity: the WALs must continue exactly where the tables end. A crash never makes a gap
  ** (an edit is durable before the WALs it replaces are deleted), so a gap means edits of the
  ** manifest were lost (e.g. its last record damaged and taken for a torn tail). */
  if (!rc && first_seq > rs.last_seq + 1)
    rc = ST_CORRUPT("MANIFEST-%06llu: edits missing (tables end at sequence %llu, the oldest WAL starts at %llu)",
                    (unsigned long long)cur_man, (unsigned long long)rs.last_seq, (unsigned long long)first_seq);
  if (!rc) {
    int added;
    rc = write_table(db, m, db->next_file++, &e, &added);
  }
  mem_unref(m);
  atomic_store(&db->last_seq, max_seq);

  /* new WAL, then a new manifest pointing at it */
  uint64_t log = db->next_file++;
  if (!rc) {
    path_of(path, sizeof path, db->dir, log, "log");
    rc = wal_create(db->env, path, log, &db->wal);
  }
  if (!rc) rc = new_memtable(db, &db->mem);
  db->mem_log = log;
  if (!rc) {
    ver_version *nv;
    if (!(rc = ver_apply(db->cur, &e, &nv))) {
      ver_unref(db->cur);
      db->cur = nv;
    }
  }
  man_edit snap;
  man_edit_init(&snap);
  db->man_number = db->next_file++;
  if (!rc) rc = ver_snapshot_edit(db->cur, &snap);
  man_edit_set_log(&snap, log);
  man_edit_set_next_file(&snap, db->next_file);
  man_edit_set_last_seq(&snap, max_seq);
  if (!rc) {
    snprintf(path, sizeof path, "%s/MANIFEST-%06llu", db->dir, (unsigned long long)db->man_number);
    rc = man_create(db->env, path, &db->man);
  }
  if (!rc) rc = man_append(db->man, &snap);
  /* the manifest's directory entry must be durable before CURRENT names it */
  if (!rc) rc = fio_sync_dir(db->env, db->dir);
  if (!rc) rc = man_set_current(db->env, db->dir, db->man_number);
  man_edit_free(&snap);
  man_edit_free(&e);
  db->log_number = log;

  /* obsolete and orphan files: old WALs and manifests, tables no version uses, temp files */
  for (int i = 0; i < n && !rc; i++) {
    uint64_t num;
    char kind;
    size_t len = strlen(names[i]);
    int del = 0;
    if (parse_name(names[i], &num, &kind)) {
      if (kind == 'l') del = num < log;
      else if (kind == 'm') del = num != db->man_number;
      else if (kind == 's') del = !in_version(db->cur, num);
      else if (kind == 'x') del = 1;
    } else if (len > 4 && !strcmp(names[i] + len - 4, ".tmp")) {
      del = 1;
    }
    if (del) {
      snprintf(path, sizeof path, "%s/%s", db->dir, names[i]);
      fio_delete(db->env, path);
    }
  }
  fio_list_free(names, n);
  mm_free(logs);
  return rc;
}

/* Stop and join the background threads (a job running finishes or aborts first). Idempotent. */
static void db_stop(lsm_db *db) {
  if (!db->flush_started) return;
  pthread_mutex_lock(&db->mu);
  db->shutting_down = 1;
  atomic_store(&db->closing, 1);
  pthread_cond_broadcast(&db->bg_cv);
  pthread_mutex_unlock(&db->mu);
  pthread_join(db->flush_thread, NULL);
  for (int i = 0; i < db->ncompact_started; i++) pthread_join(db->compact_threads[i], NULL);
  db->flush_started = 0;
  db->ncompact_started = 0;
}

static void db_free(lsm_db *db) {
  db_stop(db);
  for (int i = 0; i < db->nimm; i++) mem_unref(db->imm[i].m);
  mem_unref(db->mem);
  ver_unref(db->cur);
  wal_close(db->wal);
  man_close(db->man);
  lsm_batch_free(db->group);
  for (int l = 0; l < VER_LEVELS; l++) cd_buf_free(&db->compact_ptr[l]);
  cache_free(db->bcache);
  fio_close(db->lock);
  fio_env_free(db->env);
  pthread_mutex_destroy(&db->mu);
  ver_ctx_destroy(&db->vctx); /* every version is gone: no reader open */
  pthread_cond_destroy(&db->bg_cv);
  pthread_cond_destroy(&db->done_cv);
  mm_free(db->dir);
  mm_free(db);
}

int lsm_open(const char *dir, const lsm_options *o, lsm_db **out) {
  if (!dir || !out) return st_err(LSM_MISUSE, "lsm_open: NULL argument");
  lsm_options def;
  if (!o) {
    lsm_options_default(&def);
    o = &def;
  }
  int rc = lsm_options_validate(o);
  if (rc) return rc;
  lsm_db *db = mm_calloc(1, sizeof *db);
  if (!db) return st_err(LSM_NOMEM, "open: out of memory");
  db->o = *o;
  pthread_mutex_init(&db->mu, NULL);
  ver_ctx_init(&db->vctx, o->max_open_files);
  pthread_cond_init(&db->bg_cv, NULL);
  pthread_cond_init(&db->done_cv, NULL);
  db->snaps.next = db->snaps.prev = &db->snaps;
  if (!(db->dir = mm_strdup(dir))) rc = st_err(LSM_NOMEM, "open: out of memory");
  if (!rc) rc = fio_env_new(o->io, &db->env);
  if (!rc) fio_env_set_poll(db->env, (unsigned)o->io_poll_us);
  if (!rc && o->create_if_missing) rc = fio_mkdir(db->env, dir);
  if (!rc && !o->create_if_missing) {
    int there = 0;
    rc = fio_exists(db->env, dir, &there);
    if (!rc && !there) rc = st_err(LSM_CANTOPEN, "%s: no database here (create_if_missing=0)", dir);
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/LOCK", dir);
  if (!rc) rc = fio_lock(db->env, path, &db->lock);
  if (!rc) rc = cache_new(o->cache_size, &db->bcache);
  if (!rc) rc = lsm_batch_new(&db->group);
  if (!rc) {
    db->vctx.env = db->env;
    db->vctx.dir = db->dir;
    db->vctx.ropt.cache = db->bcache;
    db->vctx.ropt.direct_io = o->direct_io;
    db->vctx.ropt.mmap = o->mmap_reads;
    db->vctx.ropt.counters = &db->vctx.counters;
    db->vctx.on_seek_file = seek_file_wake;
    db->vctx.seek_arg = db;
    rc = ver_new_empty(&db->vctx, &db->cur);
  }
  if (!rc) rc = recover(db);
  if (!rc) {
    if (pthread_create(&db->flush_thread, NULL, flush_main, db)) rc = st_err(LSM_ERROR, "open: cannot start the flush thread");
    else db->flush_started = 1;
  }
  for (int i = 0; i < o->background_threads && i < DB_MAX_BG && !rc; i++) {
    if (pthread_create(&db->compact_threads[i], NULL, compact_main, db)) rc = st_err(LSM_ERROR, "open: cannot start a compaction thread");
    else db->ncompact_started++;
  }
  if (rc) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", st_errmsg());
    db_free(db);
    return st_err(rc, "%s", msg);
  }
  *out = db;
  return LSM_OK;
}

int lsm_close(lsm_db *db) {
  if (!db) return LSM_OK;
  pthread_mutex_lock(&db->mu);
  if (db->nsnaps || db->niters) {
    int s = db->nsnaps, i = db->niters;
    pthread_mutex_unlock(&db->mu);
    return st_err(LSM_MISUSE, "lsm_close: %d snapshot(s) and %d iterator(s) still open", s, i);
  }
  /* sync=normal promises durability at memtable switch; closing is the last switch */
  int rc = LSM_OK;
  if (db->o.sync != LSM_SYNC_OFF && !db->bg_error) rc = wal_sync(db->wal);
  pthread_mutex_unlock(&db->mu);
  db_stop(db);
  /* A sticky error (a failed flush, compaction, manifest or WAL sync: before close, or in a job
  ** close waited for) is returned, not swallowed: close skipped the last WAL sync then, and the
  ** caller must learn that the database stopped in a failed state (what was acknowledged is
  ** recovered at the next open). No thread is left to set it: read without the lock. */
  if (!rc && db->bg_error)
    rc = st_err(db->bg_error, "close: the database had failed (reopen it to recover): %s", db->bg_msg);
  db_free(db);
  return rc;
}

const char *lsm_errmsg(void) { return st_errmsg(); }

int db_ingest(lsm_db *db, int (*build)(void *ctx, uint64_t seq, man_edit *e), void *ctx) {
  return db_write(db, NULL, 0, 0, build, ctx);
}
