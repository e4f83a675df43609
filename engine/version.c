/*
** version.c — see version.h.
*/
#include "version.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "bloom.h"
#include "ikey.h"
#include "mm.h"
#include "status.h"

void ver_table_path(char *buf, size_t size, const char *dir, uint64_t number) {
  snprintf(buf, size, "%s/%06llu.sst", dir, (unsigned long long)number);
}

/* ---- files ---------------------------------------------------------------------------------- */

static int file_new(ver_ctx *ctx, const man_file *m, ver_file **out) {
  ver_file *f = mm_calloc(1, sizeof *f);
  if (!f) return st_err(LSM_NOMEM, "version: out of memory");
  f->smallest = mm_dup(m->smallest, m->smallest_n);
  f->largest = mm_dup(m->largest, m->largest_n);
  if (!f->smallest || !f->largest) {
    mm_free(f->smallest);
    mm_free(f->largest);
    mm_free(f);
    return st_err(LSM_NOMEM, "version: out of memory");
  }
  atomic_init(&f->refs, 1);
  atomic_init(&f->obsolete, 0);
  f->number = m->number;
  f->size = m->size;
  atomic_init(&f->allowed_seeks, m->size / 16384 > 100 ? (int64_t)(m->size / 16384) : 100);
  f->smallest_n = m->smallest_n;
  f->largest_n = m->largest_n;
  f->codec = m->codec;
  f->ctx = ctx;
  pthread_mutex_init(&f->open_mu, NULL);
  atomic_init(&f->rd, NULL);
  atomic_init(&f->pins, 0);
  atomic_init(&f->used, 0);
  *out = f;
  return LSM_OK;
}

/* ---- table cache (version.h) ---------------------------------------------------------------- */

/* Added to a file's pins while an eviction closes its reader: a fast acquire then sees a
** negative count and takes the slow path, which waits for open_mu. */
#define VER_CLOSING (INT_MIN / 2)

void ver_ctx_init(ver_ctx *ctx, int max_open) {
  ctx->max_open = max_open > 0 ? max_open : 1;
  pthread_mutex_init(&ctx->tc_mu, NULL);
  ctx->tc_hand = NULL;
  atomic_init(&ctx->tc_open, 0);
  atomic_init(&ctx->tc_opens, 0);
}

void ver_ctx_destroy(ver_ctx *ctx) { pthread_mutex_destroy(&ctx->tc_mu); }

int ver_open_readers(ver_ctx *ctx) { return atomic_load(&ctx->tc_open); }

/* [tc_mu] Add f (its reader just opened) to the ring, just behind the hand: the hand reaches
** it last. */
static void tc_link(ver_ctx *ctx, ver_file *f) {
  ver_file *h = ctx->tc_hand;
  if (!h) {
    f->tc_prev = f->tc_next = f;
    ctx->tc_hand = f;
  } else {
    f->tc_next = h;
    f->tc_prev = h->tc_prev;
    h->tc_prev->tc_next = f;
    h->tc_prev = f;
  }
  atomic_fetch_add(&ctx->tc_open, 1);
}

/* [tc_mu] Remove f (its reader is being closed) from the ring. */
static void tc_unlink(ver_ctx *ctx, ver_file *f) {
  if (f->tc_next == f) {
    ctx->tc_hand = NULL;
  } else {
    f->tc_prev->tc_next = f->tc_next;
    f->tc_next->tc_prev = f->tc_prev;
    if (ctx->tc_hand == f) ctx->tc_hand = f->tc_next;
  }
  f->tc_prev = f->tc_next = NULL;
  atomic_fetch_sub(&ctx->tc_open, 1);
}

/* Close unpinned readers, least recently used first (the clock), while more than max_open are
** open; stop when none can be closed (all pinned or being opened). One reader per lock hold;
** the close itself runs without locks. */
static void tc_evict(ver_ctx *ctx) {
  for (;;) {
    sst_reader *victim = NULL;
    pthread_mutex_lock(&ctx->tc_mu);
    int n = atomic_load(&ctx->tc_open);
    /* two turns of the hand: the first may only clear used bits */
    for (int step = 0; n > ctx->max_open && step < 2 * n && !victim; step++) {
      ver_file *f = ctx->tc_hand;
      ctx->tc_hand = f->tc_next;
      if (atomic_load_explicit(&f->pins, memory_order_relaxed) != 0) continue;
      if (atomic_load_explicit(&f->used, memory_order_relaxed)) {
        atomic_store_explicit(&f->used, 0, memory_order_relaxed);
        continue;
      }
      if (pthread_mutex_trylock(&f->open_mu)) continue; /* lock order: open_mu before tc_mu */
      int zero = 0;
      if (atomic_compare_exchange_strong(&f->pins, &zero, VER_CLOSING)) {
        victim = atomic_load(&f->rd);
        atomic_store(&f->rd, NULL);
        atomic_fetch_sub(&f->pins, VER_CLOSING); /* acquires from now on see rd == NULL */
        tc_unlink(ctx, f);
      }
      pthread_mutex_unlock(&f->open_mu);
    }
    pthread_mutex_unlock(&ctx->tc_mu);
    if (!victim) return;
    sst_close(victim);
  }
}

static int over_limit(ver_ctx *ctx) {
  return atomic_load_explicit(&ctx->tc_open, memory_order_relaxed) > ctx->max_open;
}

/* The reader is closed (or being closed): open it under open_mu, and pin it. */
static int acquire_slow(ver_file *f, sst_reader **out) {
  ver_ctx *ctx = f->ctx;
  int rc = LSM_OK, opened = 0;
  pthread_mutex_lock(&f->open_mu); /* no eviction is half done while we hold it */
  sst_reader *r = atomic_load_explicit(&f->rd, memory_order_acquire);
  if (!r) {
    char path[4096];
    ver_table_path(path, sizeof path, ctx->dir, f->number);
    rc = sst_open(ctx->env, path, f->number, &ctx->ropt, &r);
    if (!rc) {
      atomic_store_explicit(&f->rd, r, memory_order_release);
      pthread_mutex_lock(&ctx->tc_mu);
      tc_link(ctx, f);
      pthread_mutex_unlock(&ctx->tc_mu);
      atomic_fetch_add_explicit(&ctx->tc_opens, 1, memory_order_relaxed);
      opened = 1;
    }
  }
  if (!rc) {
    atomic_fetch_add(&f->pins, 1);
    atomic_store_explicit(&f->used, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&f->open_mu);
  if (opened && over_limit(ctx)) tc_evict(ctx);
  if (!rc) *out = r;
  return rc;
}

int ver_file_acquire(ver_file *f, sst_reader **out) {
  /* Pin first, then look: an eviction only closes a reader whose pin count it swings from 0 to
  ** VER_CLOSING, and it clears rd before it restores the count. */
  if (atomic_fetch_add(&f->pins, 1) >= 0) {
    sst_reader *r = atomic_load_explicit(&f->rd, memory_order_acquire);
    if (r) {
      if (!atomic_load_explicit(&f->used, memory_order_relaxed))
        atomic_store_explicit(&f->used, 1, memory_order_relaxed);
      *out = r;
      return LSM_OK;
    }
  }
  atomic_fetch_sub(&f->pins, 1); /* not a release: the reader was not handed out */
  return acquire_slow(f, out);
}

void ver_file_release(ver_file *f) {
  if (atomic_fetch_sub_explicit(&f->pins, 1, memory_order_release) == 1 && over_limit(f->ctx))
    tc_evict(f->ctx);
}

void ver_preopen(ver_version *v, const man_edit *e) {
  if (atomic_load(&v->ctx->tc_open) + e->nadd > v->ctx->max_open) return;
  for (int i = 0; i < e->nadd; i++) {
    const man_file *a = &e->adds[i];
    if (a->level < 0 || a->level >= VER_LEVELS) continue;
    for (int j = 0; j < v->n[a->level]; j++) {
      ver_file *f = v->f[a->level][j];
      sst_reader *r;
      if (f->number != a->number) continue;
      if (ver_file_acquire(f, &r) == LSM_OK) ver_file_release(f);
      break;
    }
  }
}

static void file_unref(ver_file *f) {
  if (atomic_fetch_sub(&f->refs, 1) != 1) return;
  /* No version lists f: nothing can acquire it, nothing pins it. An eviction may be closing
  ** its reader right now; it touches f only while holding open_mu, so taking it here waits
  ** for that to end. */
  pthread_mutex_lock(&f->open_mu);
  sst_reader *r = atomic_exchange(&f->rd, NULL);
  if (r) {
    pthread_mutex_lock(&f->ctx->tc_mu);
    tc_unlink(f->ctx, f);
    pthread_mutex_unlock(&f->ctx->tc_mu);
  }
  pthread_mutex_unlock(&f->open_mu);
  sst_close(r);
  if (atomic_load(&f->obsolete)) {
    char path[4096];
    ver_table_path(path, sizeof path, f->ctx->dir, f->number);
    if (f->ctx->ropt.cache) cache_erase_file(f->ctx->ropt.cache, f->number);
    /* Failure to delete leaves an orphan, removed at the next open; nothing to report to. */
    if (fio_delete(f->ctx->env, path) == LSM_OK) atomic_fetch_add(&f->ctx->deleted_files, 1);
  }
  pthread_mutex_destroy(&f->open_mu);
  mm_free(f->smallest);
  mm_free(f->largest);
  mm_free(f);
}

/* ---- versions ------------------------------------------------------------------------------- */

int ver_new_empty(ver_ctx *ctx, ver_version **out) {
  ver_version *v = mm_calloc(1, sizeof *v);
  if (!v) return st_err(LSM_NOMEM, "version: out of memory");
  atomic_init(&v->refs, 1);
  v->ctx = ctx;
  *out = v;
  return LSM_OK;
}

void ver_ref(ver_version *v) { atomic_fetch_add(&v->refs, 1); }

void ver_unref(ver_version *v) {
  if (!v || atomic_fetch_sub(&v->refs, 1) != 1) return;
  for (int l = 0; l < VER_LEVELS; l++) {
    for (int i = 0; i < v->n[l]; i++) file_unref(v->f[l][i]);
    mm_free(v->f[l]);
  }
  mm_free(v);
}

static int cmp_l0(const void *a, const void *b) {
  const ver_file *x = *(ver_file *const *)a, *y = *(ver_file *const *)b;
  return x->number > y->number ? -1 : x->number < y->number ? 1 : 0;
}

static int cmp_smallest(const void *a, const void *b) {
  const ver_file *x = *(ver_file *const *)a, *y = *(ver_file *const *)b;
  return ikey_cmp(x->smallest, x->smallest_n, y->smallest, y->smallest_n);
}

static int deleted(const man_edit *e, int level, uint64_t number) {
  for (int i = 0; i < e->ndel; i++)
    if (e->dels[i].level == level && e->dels[i].number == number) return 1;
  return 0;
}

int ver_apply(const ver_version *base, const man_edit *e, ver_version **out) {
  ver_version *v = NULL;
  int rc = ver_new_empty(base->ctx, &v);
  if (rc) return rc;
  for (int i = 0; i < e->ndel && !rc; i++) {
    int found = 0, l = e->dels[i].level;
    for (int j = 0; j < base->n[l]; j++) found |= base->f[l][j]->number == e->dels[i].number;
    if (!found)
      rc = ST_CORRUPT("version edit deletes file %llu not in level %d",
                      (unsigned long long)e->dels[i].number, l);
  }
  for (int l = 0; l < VER_LEVELS && !rc; l++) {
    int cap = base->n[l];
    for (int i = 0; i < e->nadd; i++) cap += e->adds[i].level == l;
    if (!cap) continue;
    v->f[l] = mm_malloc(sizeof(ver_file *) * (size_t)cap);
    if (!v->f[l]) {
      rc = st_err(LSM_NOMEM, "version: out of memory");
      break;
    }
    for (int j = 0; j < base->n[l]; j++) {
      ver_file *f = base->f[l][j];
      if (deleted(e, l, f->number)) continue;
      atomic_fetch_add(&f->refs, 1);
      v->f[l][v->n[l]++] = f;
    }
    for (int i = 0; i < e->nadd && !rc; i++) {
      if (e->adds[i].level != l) continue;
      for (int j = 0; j < v->n[l]; j++)
        if (v->f[l][j]->number == e->adds[i].number)
          rc = ST_CORRUPT("version edit adds file %llu twice", (unsigned long long)e->adds[i].number);
      if (rc) break;
      /* a file moved between levels (deleted and added by the same edit) keeps its ver_file,
      ** open reader included */
      ver_file *moved = NULL;
      for (int ml = 0; ml < VER_LEVELS && !moved; ml++)
        for (int j = 0; j < base->n[ml]; j++)
          if (base->f[ml][j]->number == e->adds[i].number && deleted(e, ml, e->adds[i].number)) {
            moved = base->f[ml][j];
            break;
          }
      if (moved) {
        atomic_fetch_add(&moved->refs, 1);
        v->f[l][v->n[l]++] = moved;
      } else if (!(rc = file_new(base->ctx, &e->adds[i], &v->f[l][v->n[l]]))) {
        v->n[l]++;
      }
    }
    qsort(v->f[l], (size_t)v->n[l], sizeof(ver_file *), l == 0 ? cmp_l0 : cmp_smallest);
  }
  if (rc) {
    ver_unref(v);
    return rc;
  }
  *out = v;
  return LSM_OK;
}

void ver_mark_obsolete(const ver_version *base, const man_edit *e) {
  for (int i = 0; i < e->ndel; i++) {
    int l = e->dels[i].level, moved = 0;
    for (int a = 0; a < e->nadd; a++) moved |= e->adds[a].number == e->dels[i].number;
    if (moved) continue; /* still live at another level */
    for (int j = 0; j < base->n[l]; j++)
      if (base->f[l][j]->number == e->dels[i].number) atomic_store(&base->f[l][j]->obsolete, 1);
  }
}

int ver_snapshot_edit(const ver_version *v, man_edit *e) {
  for (int l = 0; l < VER_LEVELS; l++)
    for (int j = 0; j < v->n[l]; j++) {
      const ver_file *f = v->f[l][j];
      int rc = man_edit_add(e, l, f->number, f->size, f->smallest, f->smallest_n, f->largest,
                            f->largest_n);
      if (rc) return rc;
    }
  return LSM_OK;
}

uint64_t ver_level_bytes(const ver_version *v, int level) {
  uint64_t s = 0;
  for (int j = 0; j < v->n[level]; j++) s += v->f[level][j]->size;
  return s;
}

/* ---- lookups -------------------------------------------------------------------------------- */

static int user_in_range(const ver_file *f, const uint8_t *uk, size_t kn) {
  return it_bytes_cmp(uk, kn, f->smallest, ikey_user_len(f->smallest_n)) >= 0 &&
         it_bytes_cmp(uk, kn, f->largest, ikey_user_len(f->largest_n)) <= 0;
}

ver_file *ver_next_file(const ver_version *v, ver_cursor *c, const uint8_t *ukey, size_t kn,
                        const uint8_t *seek, size_t sn) {
  if (c->level == 0) {
    while (++c->idx < v->n[0])
      if (user_in_range(v->f[0][c->idx], ukey, kn)) return v->f[0][c->idx];
    c->level = 1;
    c->idx = -1;
  }
  for (; c->level < VER_LEVELS; c->level++, c->idx = -1) {
    if (c->idx >= 0) continue; /* this level's one candidate was returned already */
    int l = c->level, lo = 0, hi = v->n[l];
    while (lo < hi) { /* first file whose largest key >= the seek key */
      int mid = (lo + hi) / 2;
      const ver_file *f = v->f[l][mid];
      if (ikey_cmp(f->largest, f->largest_n, seek, sn) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < v->n[l] && user_in_range(v->f[l][lo], ukey, kn)) {
      c->idx = lo;
      return v->f[l][lo];
    }
  }
  return NULL;
}

void ver_seek_charge(ver_file *f) {
  if (atomic_fetch_sub_explicit(&f->allowed_seeks, 1, memory_order_relaxed) != 1) return;
  ver_ctx *ctx = f->ctx;
  uint64_t none = 0;
  if (atomic_compare_exchange_strong(&ctx->l0_seek_file, &none, f->number) && ctx->on_seek_file)
    ctx->on_seek_file(ctx->seek_arg);
}

/* Does a seek to ukey (NULL: an end) position in f? Forward: f holds a key >= ukey; backward:
** a key <= ukey. */
static int seek_reaches(const ver_file *f, const uint8_t *uk, size_t kn, int back) {
  if (!uk) return 1;
  return back ? it_bytes_cmp(uk, kn, f->smallest, ikey_user_len(f->smallest_n)) >= 0
              : it_bytes_cmp(uk, kn, f->largest, ikey_user_len(f->largest_n)) <= 0;
}

void ver_iter_charge(const ver_version *v, const uint8_t *ukey, size_t kn, int back) {
  ver_file *first = NULL;
  int others = 0;
  for (int i = 0; i < v->n[0] && !others; i++)
    if (seek_reaches(v->f[0][i], ukey, kn, back)) {
      if (first) others = 1;
      else first = v->f[0][i];
    }
  if (!first) return;
  for (int l = 1; l < VER_LEVELS && !others; l++) /* a level's first or last file decides */
    others = v->n[l] > 0 && seek_reaches(v->f[l][back ? 0 : v->n[l] - 1], ukey, kn, back);
  if (others) ver_seek_charge(first);
}

/* Pin and prefetch the next window of candidate files (see ver_exists_q). */
static void exq_fill(ver_exists_q *q) {
  q->n = q->next = 0;
  ver_file *f;
  while (q->n < VER_EXQ_MAX) {
    if (!(f = ver_next_file(q->v, &q->c, q->ukey, q->kn, q->seek, q->sn))) {
      q->done = 1;
      return;
    }
    sst_reader *r;
    int rc = ver_file_acquire(f, &r);
    if (rc) { /* reported only if the files before it do not answer */
      q->rc = rc;
      q->done = 1;
      return;
    }
    sst_prefetch_filter(r, q->h);
    q->l0[q->n] = q->c.level == 0;
    q->f[q->n] = f;
    q->r[q->n++] = r;
  }
}

static void exq_release(ver_exists_q *q) {
  for (int i = 0; i < q->n; i++) ver_file_release(q->f[i]);
  q->n = q->next = 0;
}

void ver_exists_start(ver_exists_q *q, ver_version *v, const uint8_t *ukey, size_t kn, uint64_t seq) {
  q->v = v;
  q->ukey = ukey;
  q->kn = kn;
  q->n = q->next = q->done = 0;
  q->rc = LSM_OK;
  q->c = (ver_cursor){0, -1};
  q->seek = q->small;
  if (kn + IKEY_TRAILER > sizeof q->small && !(q->seek = mm_malloc(kn + IKEY_TRAILER))) {
    q->rc = st_err(LSM_NOMEM, "get: out of memory");
    q->done = 1;
    return;
  }
  q->sn = ikey_seek_key(q->seek, ukey, kn, seq);
  q->h = bloom_hash(ukey, kn);
  exq_fill(q);
}

/* Search the queued files in order (see ver_get and ver_exists in version.h). val NULL: an
** existence check, nothing copied and nothing charged. */
static int exq_search(ver_exists_q *q, int *type, cd_buf *val) {
  ver_file *first_l0 = NULL;
  int probed = 0;
  for (;;) {
    while (q->next < q->n) {
      ver_file *f = q->f[q->next];
      sst_reader *r = q->r[q->next];
      int l0 = q->l0[q->next++];
      if (probed++ == 0) first_l0 = l0 && val ? f : NULL;
      else if (first_l0) { /* the first file searched did not answer: charge it */
        ver_seek_charge(first_l0);
        first_l0 = NULL;
      }
      atomic_fetch_add_explicit(&f->ctx->files_probed, 1, memory_order_relaxed);
      int rc = sst_get_value(r, q->seek, q->sn, type, val);
      if (rc != LSM_NOTFOUND) return rc;
    }
    if (q->done) return q->rc ? q->rc : LSM_NOTFOUND;
    exq_release(q);
    exq_fill(q);
  }
}

int ver_exists(ver_exists_q *q, int *type) { return exq_search(q, type, NULL); }

int ver_get(ver_version *v, const uint8_t *ukey, size_t kn, uint64_t seq, int *type, cd_buf *val) {
  ver_exists_q q;
  ver_exists_start(&q, v, ukey, kn, seq);
  int rc = exq_search(&q, type, val);
  ver_exists_end(&q);
  return rc;
}

void ver_exists_end(ver_exists_q *q) {
  exq_release(q);
  if (q->seek != q->small) mm_free(q->seek);
  q->seek = q->small;
}

/* ---- level iterator ------------------------------------------------------------------------- */

typedef struct lvl_it {
  it_iter base;
  ver_file **files;
  it_kv e; /* lvl_next_kv's entry when cur does not give its own */
  int n, idx;
  size_t readahead;
  it_iter *cur; /* iterator of files[idx], or NULL */
  int rc;
  const uint64_t *hint; /* entries expected per seek (ver_add_iters), or NULL */
  double share;         /* the share of them expected from this level (lvl_set_hint) */
} lvl_it;

/* Make files[idx]'s iterator current (unpositioned: the caller seeks it). The iterator of
** the file already open is kept: a re-seek landing in the same file (every seek in a level of
** one file) then costs no allocation, and the table iterator keeps its block if the seek
** lands in it again. */
static void lvl_close(lvl_it *l) {
  if (!l->cur) return;
  it_free(l->cur);
  l->cur = NULL;
  ver_file_release(l->files[l->idx]); /* the pin taken with cur */
}

static int lvl_open(lvl_it *l, int idx) {
  if (l->cur && idx == l->idx) return LSM_OK;
  lvl_close(l);
  l->idx = idx;
  if (idx < 0 || idx >= l->n) return LSM_OK;
  sst_reader *r;
  int rc = ver_file_acquire(l->files[idx], &r);
  if (!rc && (rc = sst_iter_new(r, l->readahead, &l->cur))) ver_file_release(l->files[idx]);
  if (rc) l->rc = rc;
  else if (l->hint) sst_iter_hint(l->cur, l->hint, l->share);
  return rc;
}

static int lvl_err(lvl_it *l) {
  if (!l->rc && l->cur && !it_valid(l->cur)) l->rc = it_status(l->cur);
  return l->rc;
}

static int lvl_skip_fwd(lvl_it *l) {
  while (!lvl_err(l) && l->cur && !it_valid(l->cur)) {
    if (lvl_open(l, l->idx + 1)) break;
    if (l->cur) it_seek_first(l->cur);
  }
  return l->rc;
}

static int lvl_skip_back(lvl_it *l) {
  while (!lvl_err(l) && l->cur && !it_valid(l->cur)) {
    if (lvl_open(l, l->idx - 1)) break;
    if (l->cur) it_seek_last(l->cur);
  }
  return l->rc;
}

static int lvl_seek(it_iter *it, const uint8_t *k, size_t n) {
  lvl_it *l = (lvl_it *)it;
  if (l->rc) return l->rc;
  int lo = 0, hi = l->n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (ikey_cmp(l->files[mid]->largest, l->files[mid]->largest_n, k, n) < 0) lo = mid + 1;
    else hi = mid;
  }
  if (lvl_open(l, lo)) return l->rc;
  if (l->cur) it_seek(l->cur, k, n);
  return lvl_skip_fwd(l);
}

static int lvl_seek_first(it_iter *it) {
  lvl_it *l = (lvl_it *)it;
  if (l->rc || lvl_open(l, 0)) return l->rc;
  if (l->cur) it_seek_first(l->cur);
  return lvl_skip_fwd(l);
}

static int lvl_seek_last(it_iter *it) {
  lvl_it *l = (lvl_it *)it;
  if (l->rc || lvl_open(l, l->n - 1)) return l->rc;
  if (l->cur) it_seek_last(l->cur);
  return lvl_skip_back(l);
}

static int lvl_next(it_iter *it) {
  lvl_it *l = (lvl_it *)it;
  if (l->rc || !l->cur) return l->rc;
  it_next(l->cur);
  if (it_valid(l->cur)) return LSM_OK; /* still inside the file: nothing to skip */
  return lvl_skip_fwd(l);
}

/* next_kv: forwards to the table iterator's own next_kv; files are changed only at their ends. */
static const it_kv *lvl_next_kv(it_iter *it) {
  lvl_it *l = (lvl_it *)it;
  if (l->rc || !l->cur) return NULL;
  const it_kv *e = it_next_kv(l->cur, &l->e);
  if (e) return e;
  return !lvl_skip_fwd(l) && l->cur && it_cur_kv(l->cur, &l->e) ? &l->e : NULL;
}

static int lvl_prev(it_iter *it) {
  lvl_it *l = (lvl_it *)it;
  if (l->rc || !l->cur) return l->rc;
  it_prev(l->cur);
  if (it_valid(l->cur)) return LSM_OK;
  return lvl_skip_back(l);
}

static int lvl_valid(const it_iter *it) {
  const lvl_it *l = (const lvl_it *)it;
  return !l->rc && l->cur && it_valid(l->cur);
}
static void lvl_key(const it_iter *it, const uint8_t **k, size_t *n) { it_key(((const lvl_it *)it)->cur, k, n); }
static void lvl_value(const it_iter *it, const uint8_t **v, size_t *n) { it_value(((const lvl_it *)it)->cur, v, n); }
static int lvl_status(const it_iter *it) { return ((const lvl_it *)it)->rc; }
static void lvl_destroy(it_iter *it) {
  lvl_it *l = (lvl_it *)it;
  lvl_close(l);
  mm_free(l);
}

static const it_ops lvl_ops = {lvl_seek, lvl_seek_first, lvl_seek_last, lvl_next, lvl_prev,
                               lvl_valid, lvl_key,  lvl_value,      lvl_status, lvl_destroy,
                               lvl_next_kv};

int ver_level_iter_new(ver_file **files, int n, size_t readahead, it_iter **out) {
  lvl_it *l = mm_calloc(1, sizeof *l);
  if (!l) return st_err(LSM_NOMEM, "level iterator: out of memory");
  l->base.ops = &lvl_ops;
  l->files = files;
  l->n = n;
  l->idx = -1;
  l->readahead = readahead;
  *out = &l->base;
  return LSM_OK;
}

int ver_iter_count(const ver_version *v) {
  int c = v->n[0];
  for (int l = 1; l < VER_LEVELS; l++) c += v->n[l] > 0;
  return c;
}

/* The share of a seek's entries a level's iterator is told to expect (sst_iter_hint): an L0
** file (a flush: keys spread like the writes) its share of the version's bytes; a level >= 1
** all of them, as its share varies along the key space (compactions move one key range down
** at a time: 100-row ranges of a 5M-row table split 0/100, 20/80 or 80/20 between L1 and L2). */
static void lvl_set_hint(it_iter *it, const uint64_t *hint, double share) {
  lvl_it *l = (lvl_it *)it;
  l->hint = hint;
  l->share = share;
}

int ver_add_iters(ver_version *v, it_iter **its, int *n, const uint64_t *hint) {
  uint64_t total = 0;
  for (int l = 0; l < VER_LEVELS; l++)
    for (int j = 0; j < v->n[l]; j++) total += v->f[l][j]->size;
  for (int j = 0; j < v->n[0]; j++) { /* a one-file "level": it pins its reader while used */
    int rc = ver_level_iter_new(&v->f[0][j], 1, 0, &its[*n]);
    if (rc) return rc;
    lvl_set_hint(its[*n], hint, total ? (double)v->f[0][j]->size / (double)total : 1.0);
    (*n)++;
  }
  for (int l = 1; l < VER_LEVELS; l++) {
    if (!v->n[l]) continue;
    int rc = ver_level_iter_new(v->f[l], v->n[l], 0, &its[*n]);
    if (rc) return rc;
    lvl_set_hint(its[*n], hint, 1.0);
    (*n)++;
  }
  return LSM_OK;
}

/* ---- check ---------------------------------------------------------------------------------- */

static int add_line(cd_buf *b, const char *s) {
  int rc = cd_buf_append(b, s, strlen(s));
  return rc ? rc : cd_buf_append(b, "\n", 1);
}

int ver_check(ver_version *v, cd_buf *report) {
  int result = LSM_OK;
  char line[512];
  for (int l = 0; l < VER_LEVELS; l++)
    for (int j = 0; j < v->n[l]; j++) {
      ver_file *f = v->f[l][j];
      sst_reader *r;
      char *rep = NULL;
      int rc = ver_file_acquire(f, &r);
      if (!rc) {
        rc = sst_verify(r, &rep);
        ver_file_release(f);
      }
      if (rc) {
        snprintf(line, sizeof line, "table %06llu (level %d): %s", (unsigned long long)f->number, l,
                 rep ? rep : st_errmsg());
        if (add_line(report, line)) result = LSM_NOMEM;
        if (!result) result = rc;
      }
      mm_free(rep);
      if (l > 0 && j > 0) {
        const ver_file *p = v->f[l][j - 1];
        if (ikey_cmp(p->largest, p->largest_n, f->smallest, f->smallest_n) >= 0) {
          snprintf(line, sizeof line, "level %d: tables %06llu and %06llu overlap", l,
                   (unsigned long long)p->number, (unsigned long long)f->number);
          if (add_line(report, line)) result = LSM_NOMEM;
          result = ST_CORRUPT("%s", line);
        }
      }
    }
  return result;
}
