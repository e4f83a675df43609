/*
** dbiter.c — user-key view of an internal-key iterator; see dbiter.h. A port of LevelDB's
** DBIter state machine:
**   forward: the internal iterator is AT the entry being yielded (key = its user key); its
**            entry (key and value) is `e`, returned by the move (it_next_kv), borrowed.
**   reverse: the internal iterator is positioned BEFORE all entries of the yielded user key,
**            whose key and value are copied in saved_key / saved_val.
*/
#include "dbiter.h"

#include "ikey.h"
#include "merge.h"
#include "mm.h"
#include "status.h"

typedef struct dbi {
  it_iter base;
  it_iter *in;
  uint64_t seq;      /* the snapshot; seeks land on versions <= seek_seq */
  uint64_t seek_seq; /* seq, or IKEY_MAX_SEQ once dbi_show_from made a range above seq visible */
  uint64_t hide_lo, hide_n; /* hidden: seq in [hide_lo, hide_lo + hide_n), as one unsigned
                            ** compare (visible(): no cost over seq <= d->seq) */
  int has_lower, has_upper;
  cd_buf lower, upper;
  cd_buf saved_key, saved_val; /* reverse: current entry; forward: scratch (skip key) */
  cd_buf tmp;                  /* seek keys */
  const it_kv *e;              /* forward: the internal entry `in` is at (NULL: not valid), */
  it_kv ebuf;                  /* borrowed from `in` or filled into ebuf */
  int in_merge;                /* `in` is a merge iterator: step it with merge_next_kv */
  int reverse, valid, rc;
  void (*release)(void *);
  void *arg;
} dbi;

static inline int ucmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  return it_bytes_cmp_inline(a, an, b, bn);
}

/* Versions newer than the snapshot are hidden, except those at or above dbi_show_from's mark. */
static inline int visible(const dbi *d, uint64_t seq) { return seq - d->hide_lo >= d->hide_n; }

/* Current internal entry's user key; sets rc and returns 0 on a malformed key. */
static int parse(dbi *d, const uint8_t **uk, size_t *un, uint64_t *seq, int *type) {
  const uint8_t *k;
  size_t n;
  it_key(d->in, &k, &n);
  if (!ikey_valid(k, n)) {
    d->rc = ST_CORRUPT("bad internal key of %zu bytes in iterator", n);
    return 0;
  }
  *uk = k;
  *un = ikey_user_len(n);
  *seq = ikey_seq(k, n);
  *type = ikey_type(k, n);
  return 1;
}

/* After an internal move left it invalid: was it an error? */
static int in_ok(dbi *d) {
  if (it_valid(d->in)) return 1;
  if (!d->rc) d->rc = it_status(d->in);
  return 0;
}

static int finish(dbi *d) {
  if (d->rc) d->valid = 0;
  return d->rc;
}

/* Copy p[0..n) into b: a plain memcpy, for the keys and values the reverse direction copies
** (byte copies there measured ~7 % slower) and a deleted key; the key a forward step yields goes
** through cd_buf_set_key. */
static inline int save(cd_buf *b, const uint8_t *p, size_t n) {
  if (n <= b->cap) {
    if (n) memcpy(b->p, p, n);
    b->n = n;
    return LSM_OK;
  }
  cd_buf_clear(b);
  return cd_buf_append(b, p, n);
}

static int above_upper(const dbi *d, const uint8_t *uk, size_t un) {
  return d->has_upper && ucmp(uk, un, d->upper.p, d->upper.n) >= 0;
}
static int below_lower(const dbi *d, const uint8_t *uk, size_t un) {
  return d->has_lower && ucmp(uk, un, d->lower.p, d->lower.n) < 0;
}

/* Step `in` forward and fetch its entry into e (1 = valid): a direct call for the merge. */
static inline const it_kv *in_next_kv(dbi *d) {
  return d->e = d->in_merge ? merge_next_kv(d->in) : it_next_kv(d->in, &d->ebuf);
}

/* e = `in`'s current entry after a seek (NULL when not valid). */
static inline const it_kv *in_cur_kv(dbi *d) {
  return d->e = it_cur_kv(d->in, &d->ebuf) ? &d->ebuf : NULL;
}

/* Forward: from the current internal position (e: `in`'s entry, NULL when it is not valid),
** find the next visible live entry. With `skipping`, user keys <= saved_key are hidden
** (already yielded or deleted). */
static int find_next(dbi *d, const it_kv *e, int skipping) {
  d->valid = 0;
  for (; e; e = in_next_kv(d)) {
    const uint8_t *uk = e->k;
    size_t n = e->kn;
    if (!ikey_valid(uk, n)) {
      d->rc = ST_CORRUPT("bad internal key of %zu bytes in iterator", n);
      break;
    }
    size_t un = ikey_user_len(n);
    if (above_upper(d, uk, un)) break;
    if (visible(d, ikey_seq(uk, n))) {
      if (ikey_type(uk, n) == IKEY_DEL) {
        if (save(&d->saved_key, uk, un)) return d->rc = st_err(LSM_NOMEM, "iterator: out of memory");
        skipping = 1;
      } else if (!skipping || ucmp(uk, un, d->saved_key.p, d->saved_key.n) > 0) {
        d->valid = 1;
        return LSM_OK;
      }
    }
  }
  if (!e && !d->rc) d->rc = it_status(d->in);
  return finish(d);
}

/* Reverse: from the current internal position walk back to the previous visible live key;
** leaves the internal iterator before all of its entries and copies the entry. */
static int find_prev(dbi *d) {
  int vtype = IKEY_DEL;
  d->valid = 0;
  cd_buf_clear(&d->saved_key);
  while (in_ok(d)) {
    const uint8_t *uk;
    size_t un;
    uint64_t seq;
    int type;
    if (!parse(d, &uk, &un, &seq, &type)) break;
    if (vtype != IKEY_DEL && ucmp(uk, un, d->saved_key.p, d->saved_key.n) < 0) break;
    if (below_lower(d, uk, un)) break;
    if (visible(d, seq)) {
      vtype = type;
      if (type == IKEY_DEL) {
        cd_buf_clear(&d->saved_key);
        cd_buf_clear(&d->saved_val);
      } else {
        const uint8_t *v;
        size_t vn;
        it_value(d->in, &v, &vn);
        if (save(&d->saved_key, uk, un) || save(&d->saved_val, v, vn))
          return d->rc = st_err(LSM_NOMEM, "iterator: out of memory");
      }
    }
    it_prev(d->in);
  }
  if (d->rc) return finish(d);
  if (vtype == IKEY_DEL) {
    d->valid = 0;
    d->reverse = 0;
    return LSM_OK;
  }
  d->valid = 1;
  return LSM_OK;
}

/* Internal seek to the first entry of user key k visible at the snapshot. */
static int in_seek(dbi *d, const uint8_t *k, size_t n, uint64_t seq) {
  cd_buf_clear(&d->tmp);
  if (cd_buf_reserve(&d->tmp, n + IKEY_TRAILER)) return d->rc = st_err(LSM_NOMEM, "iterator: out of memory");
  d->tmp.n = ikey_seek_key(d->tmp.p, k, n, seq);
  it_seek(d->in, d->tmp.p, d->tmp.n);
  return LSM_OK;
}

static int d_seek(it_iter *it, const uint8_t *k, size_t n) {
  dbi *d = (dbi *)it;
  if (d->rc) return finish(d);
  d->reverse = 0;
  if (below_lower(d, k, n)) {
    k = d->lower.p;
    n = d->lower.n;
  }
  if (in_seek(d, k, n, d->seek_seq)) return finish(d);
  return find_next(d, in_cur_kv(d), 0);
}

static int d_seek_first(it_iter *it) {
  dbi *d = (dbi *)it;
  if (d->rc) return finish(d);
  d->reverse = 0;
  if (d->has_lower) {
    if (in_seek(d, d->lower.p, d->lower.n, IKEY_MAX_SEQ)) return finish(d);
  } else {
    it_seek_first(d->in);
  }
  return find_next(d, in_cur_kv(d), 0);
}

/* Position the internal iterator at the last entry with user key < k (exclusive), or at the
** last entry overall if k is NULL. */
static int in_before(dbi *d, const uint8_t *k, size_t n) {
  if (k) {
    if (in_seek(d, k, n, IKEY_MAX_SEQ)) return d->rc;
    if (it_valid(d->in)) it_prev(d->in);
    else if (!it_status(d->in)) it_seek_last(d->in);
  } else {
    it_seek_last(d->in);
  }
  return LSM_OK;
}

static int d_seek_last(it_iter *it) {
  dbi *d = (dbi *)it;
  if (d->rc) return finish(d);
  d->reverse = 1;
  if (in_before(d, d->has_upper ? d->upper.p : NULL, d->upper.n)) return finish(d);
  return find_prev(d);
}

int dbi_seek_for_prev(it_iter *it, const uint8_t *k, size_t n) {
  dbi *d = (dbi *)it;
  if (d->rc) return finish(d);
  if (above_upper(d, k, n)) return d_seek_last(it);
  d->reverse = 1;
  /* The smallest user key > k is k + "\0": position before its entries. */
  cd_buf kk = {0};
  if (cd_buf_reserve(&kk, n + 1)) return d->rc = st_err(LSM_NOMEM, "iterator: out of memory");
  if (n) memcpy(kk.p, k, n);
  kk.p[n] = 0;
  int rc = in_before(d, kk.p, n + 1);
  cd_buf_free(&kk);
  if (rc) return finish(d);
  return find_prev(d);
}

int dbi_next(it_iter *it) {
  dbi *d = (dbi *)it;
  if (d->rc || !d->valid) return finish(d);
  if (d->reverse) {
    /* The internal iterator is before the current key's entries: step into them; saved_key
    ** holds the key to skip past. */
    d->reverse = 0;
    if (it_valid(d->in)) it_next(d->in);
    else if (!it_status(d->in)) it_seek_first(d->in);
    return find_next(d, in_cur_kv(d), 1);
  }
  if (cd_buf_set_key(&d->saved_key, d->e->k, ikey_user_len(d->e->kn)))
    return d->rc = st_err(LSM_NOMEM, "iterator: out of memory");
  return find_next(d, in_next_kv(d), 1);
}

static int d_prev(it_iter *it) {
  dbi *d = (dbi *)it;
  if (d->rc || !d->valid) return finish(d);
  if (!d->reverse) {
    /* Walk back past every entry of the current user key. */
    const uint8_t *k;
    size_t n;
    it_key(d->in, &k, &n);
    if (save(&d->saved_key, k, ikey_user_len(n))) return d->rc = st_err(LSM_NOMEM, "iterator: out of memory");
    for (;;) {
      it_prev(d->in);
      if (!in_ok(d)) {
        d->valid = 0;
        return finish(d);
      }
      it_key(d->in, &k, &n);
      if (ucmp(k, ikey_user_len(n), d->saved_key.p, d->saved_key.n) < 0) break;
    }
    d->reverse = 1;
  }
  return find_prev(d);
}

int dbi_next_row(it_iter *it, it_kv *row) {
  dbi *d = (dbi *)it;
  int rc;
  if (d->valid && !d->rc && !d->reverse) { /* dbi_next's forward step, without its checks */
    if (cd_buf_set_key(&d->saved_key, d->e->k, ikey_user_len(d->e->kn)))
      return d->rc = st_err(LSM_NOMEM, "iterator: out of memory");
    rc = find_next(d, in_next_kv(d), 1);
  } else {
    rc = dbi_next(it);
  }
  if (rc || !d->valid) {
    row->k = NULL;
    return rc;
  }
  row->k = d->e->k; /* dbi_next leaves the iterator forward */
  row->kn = ikey_user_len(d->e->kn);
  row->v = d->e->v;
  row->vn = d->e->vn;
  return LSM_OK;
}

int dbi_prev_row(it_iter *it, it_kv *row) {
  int rc = d_prev(it);
  if (rc || !dbi_valid(it)) {
    row->k = NULL;
    return rc;
  }
  dbi_key(it, &row->k, &row->kn);
  dbi_value(it, &row->v, &row->vn);
  return LSM_OK;
}

void dbi_bounds(const it_iter *it, const uint8_t **lo, size_t *lon, const uint8_t **hi, size_t *hin) {
  const dbi *d = (const dbi *)it;
  static const uint8_t empty[1];
  *lo = d->has_lower ? (d->lower.p ? d->lower.p : empty) : NULL;
  *lon = d->lower.n;
  *hi = d->has_upper ? (d->upper.p ? d->upper.p : empty) : NULL;
  *hin = d->upper.n;
}

int dbi_valid(const it_iter *it) {
  const dbi *d = (const dbi *)it;
  return d->valid && !d->rc;
}

void dbi_key(const it_iter *it, const uint8_t **k, size_t *n) {
  const dbi *d = (const dbi *)it;
  if (d->reverse) {
    *k = d->saved_key.p;
    *n = d->saved_key.n;
  } else {
    *k = d->e->k;
    *n = ikey_user_len(d->e->kn);
  }
}

void dbi_value(const it_iter *it, const uint8_t **v, size_t *n) {
  const dbi *d = (const dbi *)it;
  if (d->reverse) {
    /* never NULL, even for an empty value (callers may pass it to memcmp or SQLite) */
    *v = d->saved_val.p ? d->saved_val.p : (const uint8_t *)"";
    *n = d->saved_val.n;
  } else {
    *v = d->e->v;
    *n = d->e->vn;
  }
}

static int d_status(const it_iter *it) { return ((const dbi *)it)->rc; }

static void d_destroy(it_iter *it) {
  dbi *d = (dbi *)it;
  it_free(d->in);
  if (d->release) d->release(d->arg);
  cd_buf_free(&d->lower);
  cd_buf_free(&d->upper);
  cd_buf_free(&d->saved_key);
  cd_buf_free(&d->saved_val);
  cd_buf_free(&d->tmp);
  mm_free(d);
}

static const it_ops dbi_ops = {d_seek,    d_seek_first, d_seek_last, dbi_next, d_prev,
                               dbi_valid, dbi_key,      dbi_value,   d_status, d_destroy,
                               NULL};

int dbi_new(it_iter *internal, uint64_t seq, const uint8_t *lower, size_t lower_n,
            const uint8_t *upper, size_t upper_n, void (*release)(void *), void *arg,
            it_iter **out) {
  dbi *d = mm_calloc(1, sizeof *d);
  int rc = d ? LSM_OK : LSM_NOMEM;
  if (d && lower) {
    d->has_lower = 1;
    rc = cd_buf_append(&d->lower, lower, lower_n);
  }
  if (d && !rc && upper) {
    d->has_upper = 1;
    rc = cd_buf_append(&d->upper, upper, upper_n);
  }
  /* cd_buf with n == 0 may have p == NULL; comparisons with n == 0 never touch p. */
  if (rc) {
    if (d) {
      cd_buf_free(&d->lower);
      cd_buf_free(&d->upper);
      mm_free(d);
    }
    it_free(internal);
    if (release) release(arg);
    return st_err(LSM_NOMEM, "iterator: out of memory");
  }
  d->base.ops = &dbi_ops;
  d->in = internal;
  d->in_merge = merge_is(internal);
  d->seq = d->seek_seq = seq;
  d->hide_lo = seq + 1;
  d->hide_n = IKEY_MAX_SEQ - seq; /* everything above seq, up to IKEY_MAX_SEQ */
  d->release = release;
  d->arg = arg;
  *out = &d->base;
  return LSM_OK;
}

void dbi_show_from(it_iter *it, uint64_t from) {
  dbi *d = (dbi *)it;
  if (from <= d->seq) return;
  d->hide_n = from - d->hide_lo;
  d->seek_seq = IKEY_MAX_SEQ;
}
