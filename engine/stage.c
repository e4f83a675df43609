/*
** stage.c — staged writes (lsm.h "Staged writes"): runs of a transaction too large for memory,
** read under the database's state, applied at commit through db_ingest.
**
** A run is an SST (sst.h format) named "<n>.stage" whose entries are internal keys with
** sequence number STAGE_SEQ + (run index): above every sequence number the database assigns
** (checked at lsm_stage_new), so a newer run's version of a key sorts before an older run's and
** before the database's. Reads through the stage merge the runs' iterators with the database's
** (db_iter_new, whose dbiter shows versions >= STAGE_SEQ besides its snapshot), or probe the
** runs newest first before the database's point lookups.
**
** Commit (db_ingest's build callback) merges the runs, keeps each key's newest version (a put
** or a tombstone: the database below may hold the key), and writes them as level-0 tables at
** the commit's one sequence number, cut at the memtable size as flushes are.
**
** Lifetime: runs are refcounted (the stage, and iterators made through it, hold references);
** the last reference closes the reader, erases its blocks from the block cache, and deletes
** the file. Refcounts are atomic since an iterator may be freed by another thread than the
** stage's owner.
*/
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "db_int.h"
#include "dbiter.h"
#include "ikey.h"
#include "merge.h"
#include "mm.h"
#include "sst.h"
#include "status.h"

#define STAGE_SEQ (IKEY_MAX_SEQ - LSM_STAGE_MAX_RUNS)

typedef struct stage_run {
  _Atomic int refs;
  lsm_db *db;
  sst_reader *r;
  uint64_t number, bytes, entries;
} stage_run;

struct lsm_stage {
  lsm_db *db;
  stage_run **runs; /* oldest first; runs[i] has seq STAGE_SEQ + i */
  int nruns, cap;
  uint64_t bytes, entries;
  /* the run being written */
  fio_file *f;
  sst_builder *b;
  uint64_t number;
  int rc; /* its first error (sticky until lsm_stage_run_end) */
  char msg[256];
  cd_buf ikey;
};

static void run_unref(stage_run *r) {
  if (!r || atomic_fetch_sub(&r->refs, 1) > 1) return;
  lsm_db *db = r->db;
  sst_close(r->r);
  if (db->bcache) cache_erase_file(db->bcache, r->number);
  char path[4096];
  db_path_of(path, sizeof path, db->dir, r->number, "stage");
  fio_delete(db->env, path);
  mm_free(r);
}

/* A new table file "<n>.<ext>" (n from the db's file counter) and its builder, with the
** options of a level-0 table. On failure nothing is left open (the file may exist: the caller
** deletes it by *number). */
static int table_create(lsm_db *db, const char *ext, uint64_t *number, fio_file **f,
                        sst_builder **b) {
  pthread_mutex_lock(&db->mu);
  *number = db->next_file++;
  pthread_mutex_unlock(&db->mu);
  char path[4096];
  db_path_of(path, sizeof path, db->dir, *number, ext);
  *f = NULL;
  *b = NULL;
  int rc = fio_create(db->env, path, FIO_WRONLY, f);
  if (rc) {
    *f = NULL;
    return rc;
  }
  sst_options so;
  db_sst_options(db, 0, &so);
  if ((rc = sst_builder_new(*f, &so, b))) {
    fio_close(*f);
    *f = NULL;
  }
  return rc;
}

int lsm_stage_new(lsm_db *db, lsm_stage **out) {
  if (!db || !out) return st_err(LSM_MISUSE, "lsm_stage_new: NULL argument");
  if (atomic_load(&db->last_seq) >= STAGE_SEQ)
    return st_err(LSM_FULL, "stage: sequence numbers exhausted");
  lsm_stage *st = mm_calloc(1, sizeof *st);
  if (!st) return st_err(LSM_NOMEM, "stage: out of memory");
  st->db = db;
  *out = st;
  return LSM_OK;
}

/* Abandon the run being written: its file goes. */
static void run_abandon(lsm_stage *st) {
  if (!st->f) return;
  sst_builder_free(st->b);
  fio_close(st->f);
  char path[4096];
  db_path_of(path, sizeof path, st->db->dir, st->number, "stage");
  fio_delete(st->db->env, path);
  st->b = NULL;
  st->f = NULL;
}

static int run_fail(lsm_stage *st, int rc) {
  if (!st->rc) {
    st->rc = rc;
    snprintf(st->msg, sizeof st->msg, "%s", st_errmsg());
  }
  run_abandon(st);
  return rc;
}

static int run_add(lsm_stage *st, int type, const void *k, size_t kn, const void *v, size_t vn) {
  if (!st || (!k && kn) || (!v && vn)) return st_err(LSM_MISUSE, "lsm_stage_put: NULL argument");
  if (kn == 0 || kn > LSM_MAX_KEY) return st_err(LSM_TOOBIG, "stage: key of %zu bytes", kn);
  if (vn > LSM_MAX_VALUE) return st_err(LSM_TOOBIG, "stage: value of %zu bytes", vn);
  if (st->rc) return st_err(st->rc, "%s", st->msg);
  lsm_db *db = st->db;
  if (!st->f) {
    if (st->nruns >= LSM_STAGE_MAX_RUNS)
      return st_err(LSM_FULL, "stage: %d runs already (the most a stage holds)", st->nruns);
    int rc = table_create(db, "stage", &st->number, &st->f, &st->b);
    if (rc) {
      char path[4096];
      db_path_of(path, sizeof path, db->dir, st->number, "stage");
      fio_delete(db->env, path);
      return run_fail(st, rc);
    }
  }
  cd_buf_clear(&st->ikey);
  if (cd_buf_reserve(&st->ikey, kn + IKEY_TRAILER)) return run_fail(st, st_err(LSM_NOMEM, "stage: out of memory"));
  st->ikey.n = ikey_encode(st->ikey.p, k, kn, STAGE_SEQ + (uint64_t)st->nruns, type);
  int rc = sst_builder_add(st->b, st->ikey.p, st->ikey.n, v, vn);
  if (rc == LSM_MISUSE) rc = st_err(LSM_MISUSE, "stage: keys of a run must be strictly ascending");
  return rc ? run_fail(st, rc) : LSM_OK;
}

int lsm_stage_put(lsm_stage *st, const void *k, size_t kn, const void *v, size_t vn) {
  return run_add(st, IKEY_VAL, k, kn, v, vn);
}

int lsm_stage_delete(lsm_stage *st, const void *k, size_t kn) {
  return run_add(st, IKEY_DEL, k, kn, NULL, 0);
}

int lsm_stage_run_end(lsm_stage *st) {
  if (!st) return st_err(LSM_MISUSE, "lsm_stage_run_end: NULL argument");
  if (st->rc) {
    int rc = st->rc;
    st->rc = 0;
    return st_err(rc, "%s", st->msg);
  }
  if (!st->f) return LSM_OK;
  lsm_db *db = st->db;
  stage_run *r = NULL;
  int rc = LSM_OK;
  if (st->nruns == st->cap) {
    int cap = st->cap ? 2 * st->cap : 8;
    stage_run **p = mm_realloc(st->runs, (size_t)cap * sizeof *p);
    if (!p) rc = st_err(LSM_NOMEM, "stage: out of memory");
    else st->runs = p, st->cap = cap;
  }
  sst_props props;
  if (!rc) rc = sst_builder_finish(st->b, &props); /* syncs: a run is read back from the file */
  uint64_t entries = props.entries, bytes = props.file_size;
  sst_builder_free(st->b);
  st->b = NULL;
  int crc = fio_close(st->f);
  st->f = NULL;
  if (!rc) rc = crc;
  if (!rc && !(r = mm_calloc(1, sizeof *r))) rc = st_err(LSM_NOMEM, "stage: out of memory");
  char path[4096];
  db_path_of(path, sizeof path, db->dir, st->number, "stage");
  if (!rc) rc = sst_open(db->env, path, st->number, &db->vctx.ropt, &r->r);
  if (rc) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", st_errmsg());
    mm_free(r);
    fio_delete(db->env, path);
    return st_err(rc, "%s", msg);
  }
  atomic_init(&r->refs, 1);
  r->db = db;
  r->number = st->number;
  r->bytes = bytes;
  r->entries = entries;
  st->runs[st->nruns++] = r;
  st->bytes += bytes;
  st->entries += entries;
  return LSM_OK;
}

int lsm_stage_truncate(lsm_stage *st, int n) {
  if (!st || n < 0) return st_err(LSM_MISUSE, "lsm_stage_truncate: bad argument");
  if (st->f) return st_err(LSM_MISUSE, "lsm_stage_truncate: a run is being written");
  while (st->nruns > n) {
    stage_run *r = st->runs[--st->nruns];
    st->bytes -= r->bytes;
    st->entries -= r->entries;
    run_unref(r); /* an iterator may keep it a while; a later run gets its index, not its file */
  }
  return LSM_OK;
}

int lsm_stage_runs(const lsm_stage *st) { return st ? st->nruns : 0; }
uint64_t lsm_stage_bytes(const lsm_stage *st) { return st ? st->bytes : 0; }
uint64_t lsm_stage_entries(const lsm_stage *st) { return st ? st->entries : 0; }

/* The version of key k in the newest of runs [from, nruns) that has it: LSM_OK with *type (and
** the value in *val when val != NULL and it is a put), LSM_NOTFOUND when none has k, or an
** error. */
static int runs_get(lsm_stage *st, int from, const void *k, size_t kn, int *type, cd_buf *val) {
  if (st->nruns <= from) return LSM_NOTFOUND;
  uint8_t stackkey[256], *seek = kn + IKEY_TRAILER <= sizeof stackkey ? stackkey : mm_malloc(kn + IKEY_TRAILER);
  if (!seek) return st_err(LSM_NOMEM, "stage: out of memory");
  size_t sn = ikey_seek_key(seek, k, kn, IKEY_MAX_SEQ);
  int rc = LSM_NOTFOUND;
  for (int i = st->nruns - 1; i >= from && rc == LSM_NOTFOUND; i--)
    rc = sst_get_value(st->runs[i]->r, seek, sn, type, val);
  if (seek != stackkey) mm_free(seek);
  return rc;
}

int lsm_stage_get(lsm_stage *st, const void *k, size_t kn, void **v, size_t *vn) {
  if (!st || !v || !vn || (!k && kn)) return st_err(LSM_MISUSE, "lsm_stage_get: NULL argument");
  if (kn == 0 || kn > LSM_MAX_KEY) return LSM_NOTFOUND;
  cd_buf val = {0};
  int type, rc = runs_get(st, 0, k, kn, &type, &val);
  if (rc == LSM_NOTFOUND) return lsm_get(st->db, NULL, k, kn, v, vn);
  if (!rc && type != IKEY_VAL) rc = LSM_NOTFOUND;
  /* sst_get_value left room for the terminator */
  if (!rc && cd_buf_append(&val, "", 1)) rc = st_err(LSM_NOMEM, "get: out of memory");
  if (rc) {
    cd_buf_free(&val);
    return rc;
  }
  *v = val.p;
  *vn = val.n - 1;
  return LSM_OK;
}

int lsm_stage_exists(lsm_stage *st, const void *k, size_t kn) {
  if (!st || (!k && kn)) return st_err(LSM_MISUSE, "lsm_stage_exists: NULL argument");
  if (kn == 0 || kn > LSM_MAX_KEY) return LSM_NOTFOUND;
  int type, rc = runs_get(st, 0, k, kn, &type, NULL);
  if (rc == LSM_NOTFOUND) return lsm_exists(st->db, NULL, k, kn);
  if (rc) return rc;
  return type == IKEY_VAL ? LSM_OK : LSM_NOTFOUND;
}

int lsm_stage_written(lsm_stage *st, int from, const void *k, size_t kn) {
  if (!st || from < 0 || (!k && kn)) return st_err(LSM_MISUSE, "lsm_stage_written: bad argument");
  if (kn == 0 || kn > LSM_MAX_KEY) return LSM_NOTFOUND;
  int type;
  return runs_get(st, from, k, kn, &type, NULL);
}

int lsm_stage_multiget(lsm_stage *st, int n, const void *const *keys, const size_t *klens,
                       void **vals, size_t *vlens, int *rcs) {
  if (!st || n < 0 || (n && (!keys || !klens || !vals || !vlens || !rcs)))
    return st_err(LSM_MISUSE, "lsm_stage_multiget: NULL argument");
  if (!st->nruns) return lsm_multiget(st->db, NULL, n, keys, klens, vals, vlens, rcs);
  /* The runs answer first; the keys none of them has go to the database in one batch
  ** (sub-arrays: map[j] = the caller's index of the j-th). */
  int *map = mm_malloc((size_t)(n ? n : 1) * (sizeof(int) * 2 + sizeof(void *) * 2 + sizeof(size_t) * 2));
  if (!map) return st_err(LSM_NOMEM, "stage: out of memory");
  int *srcs = map + n;
  const void **skeys = (const void **)(srcs + n);
  void **svals = (void **)(skeys + n);
  size_t *sklens = (size_t *)(svals + n), *svlens = sklens + n;
  int m = 0, first = LSM_OK;
  for (int i = 0; i < n; i++) {
    vals[i] = NULL;
    int type = IKEY_DEL, rc = LSM_NOTFOUND;
    cd_buf val = {0};
    if (klens[i] && klens[i] <= LSM_MAX_KEY && keys[i]) rc = runs_get(st, 0, keys[i], klens[i], &type, &val);
    if (rc == LSM_NOTFOUND && klens[i] && klens[i] <= LSM_MAX_KEY && keys[i]) {
      map[m] = i;
      skeys[m] = keys[i];
      sklens[m++] = klens[i];
      continue;
    }
    if (!rc && type != IKEY_VAL) rc = LSM_NOTFOUND;
    if (!rc && cd_buf_append(&val, "", 1)) rc = st_err(LSM_NOMEM, "get: out of memory");
    if (rc) {
      cd_buf_free(&val);
    } else {
      vals[i] = val.p;
      vlens[i] = val.n - 1;
    }
    rcs[i] = rc;
    if (rc && rc != LSM_NOTFOUND && !first) first = rc;
  }
  if (m) {
    int rc = lsm_multiget(st->db, NULL, m, skeys, sklens, svals, svlens, srcs);
    for (int j = 0; j < m; j++) {
      int i = map[j];
      rcs[i] = srcs[j];
      vals[i] = srcs[j] ? NULL : svals[j];
      vlens[i] = srcs[j] ? 0 : svlens[j];
    }
    if (rc && !first) first = rc;
  }
  mm_free(map);
  return first;
}

/* ---- iterators -------------------------------------------------------------------------- */

typedef struct stage_pin {
  int n;
  stage_run *runs[];
} stage_pin;

static void pin_release(void *arg) {
  stage_pin *p = arg;
  for (int i = 0; i < p->n; i++) run_unref(p->runs[i]);
  mm_free(p);
}

int lsm_stage_iter_new(lsm_stage *st, const void *lower, size_t lower_n, const void *upper,
                       size_t upper_n, lsm_iter **out) {
  if (!st || !out) return st_err(LSM_MISUSE, "lsm_stage_iter_new: NULL argument");
  int n = st->nruns;
  if (!n) return lsm_iter_new(st->db, NULL, lower, lower_n, upper, upper_n, out);
  stage_pin *pin = mm_malloc(sizeof *pin + (size_t)n * sizeof pin->runs[0]);
  it_iter **its = mm_calloc((size_t)n, sizeof *its);
  if (!pin || !its) {
    mm_free(pin);
    mm_free(its);
    return st_err(LSM_NOMEM, "iterator: out of memory");
  }
  int rc = LSM_OK, k = 0;
  /* newest run first (the order does not matter to the merge: sequence numbers differ) */
  for (; k < n; k++)
    if ((rc = sst_iter_new(st->runs[n - 1 - k]->r, 0, &its[k]))) break;
  if (rc) {
    for (int i = 0; i < k; i++) it_free(its[i]);
    mm_free(its);
    mm_free(pin);
    return rc;
  }
  pin->n = n;
  for (int i = 0; i < n; i++) {
    pin->runs[i] = st->runs[i];
    atomic_fetch_add(&st->runs[i]->refs, 1);
  }
  rc = db_iter_new(st->db, its, n, STAGE_SEQ, pin_release, pin, lower, lower_n, upper, upper_n, out);
  mm_free(its);
  return rc;
}

/* ---- commit ----------------------------------------------------------------------------- */

/* An output table of the commit: written to completion, or deleted. */
typedef struct out_table {
  fio_file *f;
  sst_builder *b;
  uint64_t number;
} out_table;

static int out_open(lsm_db *db, out_table *o) {
  int rc = table_create(db, "sst", &o->number, &o->f, &o->b);
  if (rc) {
    char path[4096];
    db_path_of(path, sizeof path, db->dir, o->number, "sst");
    fio_delete(db->env, path);
  }
  return rc;
}

/* Finish o into e (rc == 0), or abandon it (its file deleted). */
static int out_close(lsm_db *db, out_table *o, man_edit *e, int rc) {
  if (!o->f) return rc;
  sst_props props;
  if (!rc) rc = sst_builder_finish(o->b, &props);
  if (!rc) rc = man_edit_add(e, 0, o->number, props.file_size, props.smallest, props.smallest_n,
                             props.largest, props.largest_n);
  if (!rc) e->adds[e->nadd - 1].codec = (int)props.compression;
  sst_builder_free(o->b);
  int crc = fio_close(o->f);
  if (!rc) rc = crc;
  if (rc) {
    char path[4096], msg[256];
    snprintf(msg, sizeof msg, "%s", st_errmsg());
    db_path_of(path, sizeof path, db->dir, o->number, "sst");
    fio_delete(db->env, path);
    st_err(rc, "%s", msg);
  }
  o->f = NULL;
  o->b = NULL;
  return rc;
}

/* db_ingest's build: the runs merged, each key's newest version at `seq`. */
static int commit_build(void *ctx, uint64_t seq, man_edit *e) {
  lsm_stage *st = ctx;
  lsm_db *db = st->db;
  it_iter **its = mm_calloc((size_t)st->nruns, sizeof *its), *m = NULL;
  if (!its) return st_err(LSM_NOMEM, "stage: out of memory");
  int rc = LSM_OK, n = 0;
  for (; n < st->nruns && !rc; n++)
    if ((rc = sst_iter_new(st->runs[n]->r, 1u << 20, &its[n]))) break;
  if (!rc) rc = merge_new(ikey_cmp, its, n, &m);
  else
    for (int i = 0; i < n; i++) it_free(its[i]);
  mm_free(its);
  if (rc) return rc;
  out_table o = {0};
  cd_buf prev = {0}, key = {0};
  int have_prev = 0;
  for (it_seek_first(m); it_valid(m) && !rc; it_next(m)) {
    const uint8_t *k, *v;
    size_t kn, vn;
    it_key(m, &k, &kn);
    it_value(m, &v, &vn);
    if (!ikey_valid(k, kn)) {
      rc = ST_CORRUPT("stage: bad internal key of %zu bytes in a run", kn);
      break;
    }
    size_t un = ikey_user_len(kn);
    /* the first version of a user key is its newest run's */
    if (have_prev && it_bytes_cmp(k, un, prev.p, prev.n) == 0) continue;
    if (cd_buf_set_key(&prev, k, un)) rc = st_err(LSM_NOMEM, "stage: out of memory");
    have_prev = 1;
    /* tables of a flush's size; the key count bounds the builder's filter hashes (8 B/key) */
    if (!rc && o.f && (sst_builder_size(o.b) >= db->o.memtable_size ||
                       sst_builder_entries(o.b) >= (1u << 22)))
      rc = out_close(db, &o, e, 0);
    if (!rc && !o.f) rc = out_open(db, &o);
    cd_buf_clear(&key);
    if (!rc && cd_buf_reserve(&key, kn)) rc = st_err(LSM_NOMEM, "stage: out of memory");
    if (!rc) {
      key.n = ikey_encode(key.p, k, un, seq, ikey_type(k, kn));
      rc = sst_builder_add(o.b, key.p, key.n, v, vn);
    }
  }
  if (!rc) rc = it_status(m);
  it_free(m);
  rc = out_close(db, &o, e, rc);
  cd_buf_free(&prev);
  cd_buf_free(&key);
  /* the new directory entries must be durable before the manifest names them */
  if (!rc && e->nadd) rc = fio_sync_dir(db->env, db->dir);
  return rc;
}

int lsm_stage_commit(lsm_stage *st) {
  if (!st) return st_err(LSM_MISUSE, "lsm_stage_commit: NULL argument");
  if (st->f || st->rc) return st_err(LSM_MISUSE, "lsm_stage_commit: a run is not sealed");
  if (!st->nruns) return LSM_OK;
  int rc = db_ingest(st->db, commit_build, st);
  if (rc) return rc;
  for (int i = 0; i < st->nruns; i++) run_unref(st->runs[i]);
  st->nruns = 0;
  st->bytes = st->entries = 0;
  return LSM_OK;
}

void lsm_stage_free(lsm_stage *st) {
  if (!st) return;
  run_abandon(st);
  for (int i = 0; i < st->nruns; i++) run_unref(st->runs[i]);
  mm_free(st->runs);
  cd_buf_free(&st->ikey);
  mm_free(st);
}
