/*
** compact.c — leveled compaction; see compact.h.
*/
#include "compact.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ikey.h"
#include "merge.h"
#include "mm.h"
#include "status.h"

/* Read-ahead of one compaction: READAHEAD_TOTAL split over its input iterators (an L0
** compaction merges every L0 file: up to l0_stop_trigger of them), each between READAHEAD_MIN
** and READAHEAD_MAX. */
#define READAHEAD_MAX (512u << 10)
#define READAHEAD_MIN (64u << 10)
#define READAHEAD_TOTAL (4u << 20)

static size_t readahead_for(int iters) {
  size_t ra = READAHEAD_TOTAL / (size_t)(iters > 0 ? iters : 1);
  return ra > READAHEAD_MAX ? READAHEAD_MAX : ra < READAHEAD_MIN ? READAHEAD_MIN : ra;
}

size_t compact_output_max_keys(const lsm_options *o) {
  size_t k = o->target_file_size / COMPACT_BYTES_PER_KEY;
  return k < 1024 ? 1024 : k;
}

int compact_test_delay_us;

struct compaction {
  int level; /* inputs from level and level + 1; output to level + 1 */
  int manual;
  ver_version *v; /* pinned input version */
  ver_file **in[2];
  int nin[2];
  ver_file **gp; /* level + 2 files overlapping the inputs (grandparents) */
  int ngp;
};

static void c_free(compaction *c) {
  ver_unref(c->v);
  mm_free(c->in[0]);
  mm_free(c->in[1]);
  mm_free(c->gp);
  memset(c, 0, sizeof *c);
}

static int ucmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) { return it_bytes_cmp(a, an, b, bn); }
static int ikey_cmp_fn(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) { return ikey_cmp(a, an, b, bn); }

double compact_score(const ver_version *v, const lsm_options *o, int level) {
  if (level == 0) return (double)v->n[0] / (double)o->l0_compaction_trigger;
  double target = (double)o->level1_size;
  for (int l = 1; l < level; l++) target *= 10;
  return (double)ver_level_bytes(v, level) / target;
}

/* The level to compact (highest score >= 1), or -1. The last level never compacts. */
static int best_level(const ver_version *v, const lsm_options *o) {
  int best = -1;
  double bs = 1.0;
  for (int l = 0; l < VER_LEVELS - 1; l++) {
    double s = compact_score(v, o, l);
    if (s >= bs) {
      bs = s;
      best = l;
    }
  }
  return best;
}

/* [mu] Is the L0 file reads asked to compact (ver_seek_charge) still in the current version,
** with no L0 compaction running (that one takes every L0 file)? A stale request is dropped. */
static int l0_seek_wanted(lsm_db *db) {
  uint64_t num = atomic_load(&db->vctx.l0_seek_file);
  if (!num) return 0;
  const ver_version *v = db->cur;
  int j = 0;
  while (j < v->n[0] && v->f[0][j]->number != num) j++;
  if (j == v->n[0]) {
    atomic_store(&db->vctx.l0_seek_file, 0);
    return 0;
  }
  for (int r = 0; r < db->compacting; r++)
    if (db->running[r]->level == 0) return 0;
  return 1;
}

int compact_needed(lsm_db *db) { return best_level(db->cur, &db->o) >= 0 || l0_seek_wanted(db); }

/* Does f's user-key range intersect [lo, hi] (NULL = unbounded)? */
static int overlaps(const ver_file *f, const uint8_t *lo, size_t ln, const uint8_t *hi, size_t hn) {
  if (lo && ucmp(f->largest, ikey_user_len(f->largest_n), lo, ln) < 0) return 0;
  if (hi && ucmp(f->smallest, ikey_user_len(f->smallest_n), hi, hn) > 0) return 0;
  return 1;
}

/* Files of `level` in v overlapping [lo, hi], in level order, into a new array. */
static int collect(ver_version *v, int level, const uint8_t *lo, size_t ln, const uint8_t *hi, size_t hn,
                   ver_file ***out, int *n) {
  *n = 0;
  *out = mm_malloc(sizeof(ver_file *) * (size_t)(v->n[level] + 1));
  if (!*out) return st_err(LSM_NOMEM, "compaction: out of memory");
  for (int j = 0; j < v->n[level]; j++)
    if (overlaps(v->f[level][j], lo, ln, hi, hn)) (*out)[(*n)++] = v->f[level][j];
  return LSM_OK;
}

/* User-key range covered by files[0..n). */
static void range_of(ver_file **f, int n, const uint8_t **lo, size_t *ln, const uint8_t **hi, size_t *hn) {
  *lo = *hi = NULL;
  *ln = *hn = 0;
  for (int i = 0; i < n; i++) {
    const uint8_t *s = f[i]->smallest, *l = f[i]->largest;
    size_t sn = ikey_user_len(f[i]->smallest_n), lln = ikey_user_len(f[i]->largest_n);
    if (!*lo || ucmp(s, sn, *lo, *ln) < 0) *lo = s, *ln = sn;
    if (!*hi || ucmp(l, lln, *hi, *hn) > 0) *hi = l, *hn = lln;
  }
}

/* May the inputs of c move down as they are? Not when that would carry the upper levels' own
** codec (l1_compression, L0 and L1) below L1: what they hold in it stays bounded (lsm.h). L0 ->
** L1 moves are unaffected (the two levels share the codec). So an L1
** table moves into L2 only if it is known (written by this process: ver_file.codec) to have
** L2's codec; otherwise it is rewritten. Moves between levels of one codec are unaffected. */
static int movable(const lsm_db *db, const compaction *c) {
  int to = c->level + 1, want = db_level_codec(&db->o, to);
  if (to == 1 || want == db_level_codec(&db->o, c->level)) return 1;
  for (int j = 0; j < c->nin[0]; j++)
    if (c->in[0][j]->codec != want) return 0;
  return 1;
}

/* 1 if no two of files[0..n) share a user key (their user-key ranges are disjoint). */
static int disjoint(ver_file **f, int n) {
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (overlaps(f[j], f[i]->smallest, ikey_user_len(f[i]->smallest_n), f[i]->largest,
                   ikey_user_len(f[i]->largest_n)))
        return 0;
  return 1;
}

/* [mu] Fill c->in[1] with the files of level+1 overlapping c->in[0], and c->gp with the files
** of level+2 overlapping all inputs. */
static int add_next_level(compaction *c) {
  const uint8_t *lo, *hi, *lo2, *hi2;
  size_t ln, hn, ln2, hn2;
  range_of(c->in[0], c->nin[0], &lo, &ln, &hi, &hn);
  int rc = collect(c->v, c->level + 1, lo, ln, hi, hn, &c->in[1], &c->nin[1]);
  if (rc || c->level + 2 >= VER_LEVELS) return rc;
  range_of(c->in[1], c->nin[1], &lo2, &ln2, &hi2, &hn2);
  if (lo2 && ucmp(lo2, ln2, lo, ln) < 0) lo = lo2, ln = ln2;
  if (hi2 && ucmp(hi2, hn2, hi, hn) > 0) hi = hi2, hn = hn2;
  return collect(c->v, c->level + 2, lo, ln, hi, hn, &c->gp, &c->ngp);
}

/* [mu] Is f an input of a running compaction? */
static int busy(const lsm_db *db, const ver_file *f) {
  for (int r = 0; r < db->compacting; r++)
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < db->running[r]->nin[i]; j++)
        if (db->running[r]->in[i][j] == f) return 1;
  return 0;
}

/* [mu] Complete c (level and in[0] set, c->v pinned) with its next-level inputs; LSM_BUSY (no
** message) when one of them is busy. On any error c is freed. */
static int complete(lsm_db *db, compaction *c) {
  int rc = add_next_level(c);
  for (int j = 0; j < c->nin[1] && !rc; j++)
    if (busy(db, c->in[1][j])) rc = LSM_BUSY;
  if (rc) c_free(c);
  return rc;
}

/* A level-l file as a compaction candidate: its index and how much of level l+1 it would
** rewrite per byte of its own (RocksDB's kMinOverlappingRatio). Picking the smallest ratio
** first moves the most data down per byte written, which lowers write amplification against
** plain round robin; `rr` (position in round-robin order) breaks ties so equal files still
** take turns. */
typedef struct pick_cand {
  double ratio;
  int j, rr;
} pick_cand;

static int cmp_cand(const void *a, const void *b) {
  const pick_cand *x = a, *y = b;
  if (x->ratio != y->ratio) return x->ratio < y->ratio ? -1 : 1;
  return x->rr - y->rr;
}

/* Fill cand[0..v->n[l]) for level l (>= 1; its files and those of l+1 are sorted and
** disjoint, so one merge-like pass finds every overlap). */
static void overlap_ratios(const ver_version *v, int l, int j0, pick_cand *cand) {
  int n = v->n[l], m = l + 1 < VER_LEVELS ? v->n[l + 1] : 0, k = 0;
  for (int j = 0; j < n; j++) {
    const ver_file *f = v->f[l][j];
    const uint8_t *lo = f->smallest, *hi = f->largest;
    size_t ln = ikey_user_len(f->smallest_n), hn = ikey_user_len(f->largest_n);
    /* next-level files ending before f can end before no later file either */
    while (k < m && ucmp(v->f[l + 1][k]->largest, ikey_user_len(v->f[l + 1][k]->largest_n), lo, ln) < 0) k++;
    uint64_t bytes = 0;
    for (int q = k; q < m && overlaps(v->f[l + 1][q], lo, ln, hi, hn); q++) bytes += v->f[l + 1][q]->size;
    cand[j].j = j;
    cand[j].rr = (j - j0 + n) % n;
    cand[j].ratio = (double)bytes / (double)(f->size ? f->size : 1);
  }
}

int compact_pick_order(const ver_version *v, int l, int j0, int *order) {
  int n = v->n[l];
  pick_cand *cand = mm_malloc(sizeof *cand * (size_t)(n ? n : 1));
  if (!cand) return st_err(LSM_NOMEM, "compaction: out of memory");
  overlap_ratios(v, l, j0, cand);
  qsort(cand, (size_t)n, sizeof *cand, cmp_cand);
  for (int t = 0; t < n; t++) order[t] = cand[t].j;
  mm_free(cand);
  return LSM_OK;
}

/* [mu] No level needs compacting, but reads have paid enough for an L0 file (ver_seek_charge):
** compact L0 (all of it, as at the trigger) into L1. The request is cleared once taken; while
** L1 inputs are busy it stays, and the next finished compaction wakes the picker again. */
static int pick_l0_seek(lsm_db *db, compaction *c) {
  if (!l0_seek_wanted(db)) return LSM_NOTFOUND;
  ver_version *v = db->cur;
  c->level = 0;
  c->v = v;
  ver_ref(v);
  int rc = collect(v, 0, NULL, 0, NULL, 0, &c->in[0], &c->nin[0]);
  if (rc) {
    c_free(c);
    return rc;
  }
  rc = complete(db, c);
  if (rc == LSM_BUSY) return LSM_NOTFOUND;
  if (!rc) atomic_store(&db->vctx.l0_seek_file, 0);
  return rc;
}

/* [mu] Choose the inputs of an automatic compaction: the levels with score >= 1, highest score
** first, skipping choices that touch a busy file. LSM_NOTFOUND if none is needed or possible. */
static int pick(lsm_db *db, compaction *c) {
  memset(c, 0, sizeof *c);
  ver_version *v = db->cur;
  double score[VER_LEVELS];
  int tried[VER_LEVELS] = {0};
  for (int l = 0; l < VER_LEVELS - 1; l++) score[l] = compact_score(v, &db->o, l);
  for (;;) {
    int l = -1; /* the untried level with the highest score >= 1 (as best_level) */
    for (int i = 0; i < VER_LEVELS - 1; i++)
      if (!tried[i] && score[i] >= 1.0 && (l < 0 || score[i] >= score[l])) l = i;
    if (l < 0) return pick_l0_seek(db, c);
    tried[l] = 1;
    int rc;
    if (l == 0) {
      int l0busy = 0; /* an L0 compaction runs (it took every L0 file there was) */
      for (int r = 0; r < db->compacting; r++) l0busy |= db->running[r]->level == 0;
      if (l0busy) continue;
      c->level = 0;
      c->v = v;
      ver_ref(v);
      rc = collect(v, 0, NULL, 0, NULL, 0, &c->in[0], &c->nin[0]);
      if (rc) {
        c_free(c);
        return rc;
      }
      rc = complete(db, c);
      if (rc != LSM_BUSY) return rc;
      continue;
    }
    /* Least rewrite first: files in order of (overlapping bytes in l+1) / (own size), ties in
    ** round-robin order after the previous compaction's largest key. */
    int j0 = 0, n = v->n[l];
    const cd_buf *p = &db->compact_ptr[l];
    if (p->n)
      while (j0 < n && ikey_cmp(v->f[l][j0]->largest, v->f[l][j0]->largest_n, p->p, p->n) <= 0) j0++;
    int *cand = mm_malloc(sizeof *cand * (size_t)(n ? n : 1));
    if (!cand) return st_err(LSM_NOMEM, "compaction: out of memory");
    if ((rc = compact_pick_order(v, l, j0, cand))) {
      mm_free(cand);
      return rc;
    }
    for (int t = 0; t < n; t++) {
      ver_file *f = v->f[l][cand[t]];
      if (busy(db, f)) continue;
      c->level = l;
      c->v = v;
      ver_ref(v);
      c->in[0] = mm_malloc(sizeof(ver_file *));
      if (!c->in[0]) {
        c_free(c);
        mm_free(cand);
        return st_err(LSM_NOMEM, "compaction: out of memory");
      }
      c->in[0][0] = f;
      c->nin[0] = 1;
      rc = complete(db, c);
      if (rc != LSM_BUSY) {
        mm_free(cand);
        return rc;
      }
    }
    mm_free(cand);
  }
}

/* Is there any file below `out_level` whose user range holds ukey? (then a tombstone must stay) */
static int key_below(const ver_version *v, int out_level, const uint8_t *uk, size_t kn) {
  for (int l = out_level + 1; l < VER_LEVELS; l++) {
    int lo = 0, hi = v->n[l];
    while (lo < hi) { /* first file whose largest user key >= uk */
      int mid = (lo + hi) / 2;
      const ver_file *f = v->f[l][mid];
      if (ucmp(f->largest, ikey_user_len(f->largest_n), uk, kn) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < v->n[l] && ucmp(v->f[l][lo]->smallest, ikey_user_len(v->f[l][lo]->smallest_n), uk, kn) <= 0)
      return 1;
  }
  return 0;
}

typedef struct out_state {
  lsm_db *db;
  int level;
  man_edit *e;
  fio_file *f;
  sst_builder *b;
  uint64_t number;
  uint64_t *made; /* numbers of finished outputs (for cleanup on failure) */
  int nmade, capmade;
  uint64_t written;
} out_state;

static void out_path(const lsm_db *db, uint64_t n, char *buf, size_t size) { ver_table_path(buf, size, db->dir, n); }

static int out_open(out_state *o) {
  pthread_mutex_lock(&o->db->mu);
  o->number = o->db->next_file++;
  pthread_mutex_unlock(&o->db->mu);
  if (o->nmade == o->capmade) {
    int cap = o->capmade ? 2 * o->capmade : 8;
    uint64_t *m = mm_realloc(o->made, sizeof *m * (size_t)cap);
    if (!m) return st_err(LSM_NOMEM, "compaction: out of memory");
    o->made = m;
    o->capmade = cap;
  }
  o->made[o->nmade++] = o->number; /* recorded first: removed on failure whatever happens */
  char path[4096];
  out_path(o->db, o->number, path, sizeof path);
  int rc = fio_create(o->db->env, path, FIO_WRONLY, &o->f);
  if (rc) return rc;
  sst_options so;
  db_sst_options(o->db, o->level, &so);
  return sst_builder_new(o->f, &so, &o->b);
}

static int out_finish(out_state *o) {
  sst_props props;
  int rc = sst_builder_finish(o->b, &props);
  if (!rc) rc = man_edit_add(o->e, o->level, o->number, props.file_size, props.smallest, props.smallest_n,
                             props.largest, props.largest_n);
  if (!rc) o->e->adds[o->e->nadd - 1].codec = (int)props.compression;
  if (!rc) o->written += props.file_size;
  sst_builder_free(o->b);
  o->b = NULL;
  int crc = fio_close(o->f);
  o->f = NULL;
  return rc ? rc : crc;
}

/* Merge the inputs of c into new files at c->level + 1, recorded in e. Without db->mu. */
static int merge_inputs(lsm_db *db, compaction *c, uint64_t smallest_snap, out_state *o) {
  int n = 0, rc = LSM_OK;
  it_iter **its = mm_calloc((size_t)c->nin[0] + 2, sizeof *its);
  if (!its) return st_err(LSM_NOMEM, "compaction: out of memory");
  size_t ra = readahead_for((c->level == 0 ? c->nin[0] : 1) + (c->nin[1] ? 1 : 0));
  if (c->level == 0) {
    for (int i = 0; i < c->nin[0] && !rc; i++) { /* newest first, as L0 is kept */
      rc = ver_level_iter_new(&c->in[0][i], 1, ra, &its[n]); /* pins the file while used */
      if (!rc) n++;
    }
  } else {
    rc = ver_level_iter_new(c->in[0], c->nin[0], ra, &its[n]);
    if (!rc) n++;
  }
  if (!rc && c->nin[1]) {
    rc = ver_level_iter_new(c->in[1], c->nin[1], ra, &its[n]);
    if (!rc) n++;
  }
  it_iter *m = NULL;
  if (rc) {
    for (int i = 0; i < n; i++) it_free(its[i]);
  } else {
    rc = merge_new(ikey_cmp_fn, its, n, &m);
  }
  mm_free(its);
  if (rc) return rc;

  cd_buf cur = {0}, last_added = {0};
  int has_cur = 0, has_added = 0;
  /* LevelDB's ShouldStopBefore: cut an output once it overlaps more than 10 target files' worth
  ** of the grandparent level, so that compacting it later down stays cheap */
  int gp_idx = 0;
  uint64_t gp_overlap = 0, gp_limit = 10 * (uint64_t)db->o.target_file_size;
  uint64_t max_keys = compact_output_max_keys(&db->o);
  uint64_t last_seq_for_key = 0;
  int out_level = c->level + 1;
  uint64_t steps = 0;
  for (it_seek_first(m); it_valid(m) && !rc; it_next(m)) {
    const uint8_t *k, *v;
    size_t kn, vn;
    if (++steps % 1024 == 0 && atomic_load_explicit(&db->closing, memory_order_relaxed)) {
      /* lsm_close: give up; the outputs are deleted and the inputs stay live */
      rc = st_err(LSM_ABORT, "compaction abandoned: the database is closing");
      break;
    }
    it_key(m, &k, &kn);
    it_value(m, &v, &vn);
    if (!ikey_valid(k, kn)) {
      rc = ST_CORRUPT("compaction: bad internal key of %zu bytes", kn);
      break;
    }
    size_t un = ikey_user_len(kn);
    uint64_t seq = ikey_seq(k, kn);
    if (!has_cur || ucmp(k, un, cur.p, cur.n) != 0) {
      if ((rc = cd_buf_set_key(&cur, k, un))) break;
      has_cur = 1;
      last_seq_for_key = UINT64_MAX;
    }
    int drop = 0;
    if (last_seq_for_key <= smallest_snap) drop = 1; /* shadowed for every reader */
    else if (ikey_type(k, kn) == IKEY_DEL && seq <= smallest_snap && !key_below(c->v, out_level, k, un))
      drop = 1; /* nothing older below to hide */
    last_seq_for_key = seq;
    if (drop) continue;
    while (gp_idx < c->ngp && ikey_cmp(k, kn, c->gp[gp_idx]->largest, c->gp[gp_idx]->largest_n) > 0) {
      if (o->b) gp_overlap += c->gp[gp_idx]->size;
      gp_idx++;
    }
    if (o->b && has_added && ucmp(k, un, last_added.p, last_added.n) != 0 &&
        (sst_builder_size(o->b) >= db->o.target_file_size || gp_overlap > gp_limit ||
         sst_builder_entries(o->b) >= max_keys)) {
      if ((rc = out_finish(o))) break;
      gp_overlap = 0;
    }
    if (!o->b && (rc = out_open(o))) break;
    if ((rc = sst_builder_add(o->b, k, kn, v, vn))) break;
    if ((rc = cd_buf_set_key(&last_added, k, un))) break;
    has_added = 1;
  }
  if (!rc) rc = it_status(m);
  if (!rc && o->b) rc = out_finish(o);
  if (!rc && o->nmade) rc = fio_sync_dir(db->env, db->dir);
  cd_buf_free(&cur);
  cd_buf_free(&last_added);
  it_free(m);
  return rc;
}

/* [mu held; released while merging, and at the end while the inputs are deleted] Run compaction
** c (consumed); its inputs are busy until it ends. */
static int run(lsm_db *db, compaction *c) {
  db->running[db->compacting++] = c;
  if (db->compacting > db->max_compacting) db->max_compacting = db->compacting;
  uint64_t smallest_snap = db_oldest_snapshot(db);
  man_edit e;
  man_edit_init(&e);
  ver_version *made = NULL; /* the version that installed a merge's outputs */
  int rc = LSM_OK;
  for (int i = 0; i < 2 && !rc; i++)
    for (int j = 0; j < c->nin[i] && !rc; j++) rc = man_edit_del(&e, c->level + i, c->in[i][j]->number);
  uint64_t bytes_in = 0;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < c->nin[i]; j++) bytes_in += c->in[i][j]->size;
  out_state o;
  memset(&o, 0, sizeof o);
  o.db = db;
  o.level = c->level + 1;
  o.e = &e;
  if (!rc && !c->manual && c->nin[1] == 0 && disjoint(c->in[0], c->nin[0]) && movable(db, c)) {
    /* trivial move: the inputs overlap nothing in level + 1 nor each other (e.g. several L0
    ** files of a sequential load), so they can move down as they are */
    for (int j = 0; j < c->nin[0] && !rc; j++) {
      ver_file *f = c->in[0][j];
      rc = man_edit_add(&e, c->level + 1, f->number, f->size, f->smallest, f->smallest_n, f->largest,
                        f->largest_n);
    }
    int unknown;
    if (!rc) rc = db_log_and_apply(db, &e, &unknown); /* ver_apply keeps the ver_file: not obsolete */
  } else if (!rc) {
    pthread_mutex_unlock(&db->mu);
    if (compact_test_delay_us) {
      struct timespec ts = {0, (long)compact_test_delay_us * 1000};
      nanosleep(&ts, NULL);
    }
    rc = merge_inputs(db, c, smallest_snap, &o);
    if (o.b) { /* failed mid-file */
      sst_builder_free(o.b);
      fio_close(o.f);
    }
    pthread_mutex_lock(&db->mu);
    int unknown = 0;
    if (!rc) rc = db_log_and_apply(db, &e, &unknown);
    if (!rc) {
      made = db->cur; /* lists the outputs, opened below (ver_preopen) */
      ver_ref(made);
    }
    if (rc && !unknown) {
      for (int i = 0; i < o.nmade; i++) {
        char path[4096];
        out_path(db, o.made[i], path, sizeof path);
        fio_delete(db->env, path);
      }
    } else if (!rc) {
      atomic_fetch_add(&db->st_compact_read, bytes_in);
      atomic_fetch_add(&db->st_compact_written, o.written);
    }
  }
  if (!rc) {
    atomic_fetch_add(&db->st_compactions, 1);
    if (c->level > 0) {
      const ver_file *last = c->in[0][c->nin[0] - 1];
      cd_buf_clear(&db->compact_ptr[c->level]);
      cd_buf_append(&db->compact_ptr[c->level], last->largest, last->largest_n); /* a hint only */
    }
  }
  mm_free(o.made);
  for (int r = 0; r < db->compacting; r++)
    if (db->running[r] == c) {
      db->running[r] = db->running[--db->compacting];
      break;
    }
  ver_version *pinned = c->v; /* released below, after mu: it may delete the inputs */
  c->v = NULL;
  c_free(c);
  pthread_cond_broadcast(&db->done_cv);
  pthread_cond_broadcast(&db->bg_cv); /* the compaction thread may have waited for this one */
  pthread_mutex_unlock(&db->mu);
  ver_unref(pinned);
  if (made) { /* the thread that wrote the outputs opens them, not the first reads of them */
    ver_preopen(made, &e);
    ver_unref(made);
  }
  man_edit_free(&e);
  pthread_mutex_lock(&db->mu);
  return rc;
}

int compact_auto(lsm_db *db) {
  if (db->manual || db->compacting >= db->o.background_threads) return LSM_NOTFOUND;
  compaction c;
  int rc = pick(db, &c);
  if (rc) return rc;
  return run(db, &c);
}

int compact_range(lsm_db *db, const uint8_t *begin, size_t bn, const uint8_t *end, size_t en) {
  int rc = lsm_flush(db, 1);
  for (int l = 0; l < VER_LEVELS - 1 && !rc; l++) {
    pthread_mutex_lock(&db->mu);
    db->manual++; /* no new automatic compaction; wait for the running ones (and other manual) */
    while (db->compacting && !db->bg_error) pthread_cond_wait(&db->done_cv, &db->mu);
    if (db->bg_error) {
      rc = st_err(db->bg_error, "compaction: database failed earlier: %s", db->bg_msg);
      db->manual--;
      pthread_cond_broadcast(&db->bg_cv);
      pthread_mutex_unlock(&db->mu);
      break;
    }
    compaction c;
    memset(&c, 0, sizeof c);
    c.level = l;
    c.manual = 1;
    c.v = db->cur;
    ver_ref(c.v);
    rc = collect(c.v, l, begin, bn, end, en, &c.in[0], &c.nin[0]);
    if (!rc && l == 0 && c.nin[0]) { /* L0 files overlap each other: take them all */
      mm_free(c.in[0]);
      rc = collect(c.v, 0, NULL, 0, NULL, 0, &c.in[0], &c.nin[0]);
    }
    if (!rc && c.nin[0]) rc = add_next_level(&c);
    if (!rc && c.nin[0]) {
      rc = run(db, &c);
    } else {
      c_free(&c);
    }
    db->manual--;
    pthread_cond_broadcast(&db->bg_cv); /* automatic compactions may start again */
    pthread_mutex_unlock(&db->mu);
  }
  return rc;
}
