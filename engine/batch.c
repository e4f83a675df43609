/* batch.c — write batches (lsm_batch_* from lsm.h, wb_* from batch.h). Format in batch.h. */
#include "batch.h"

#include <limits.h>
#include <stdlib.h>

#include "coding.h"
#include "ikey.h"
#include "iter.h"
#include "mm.h"
#include "status.h"

/* A rep must fit a WAL record, whose length field is a fixed32. */
#define WB_MAX_REP ((size_t)UINT32_MAX)
/* lsm_batch_count returns an int. */
#define WB_MAX_COUNT ((uint32_t)INT_MAX)

struct lsm_batch {
  cd_buf rep; /* always at least WB_HEADER bytes */
};

static uint32_t rep_count(const uint8_t *rep) { return cd_get_fixed32(rep + 8); }

int lsm_batch_new(lsm_batch **out) {
  *out = NULL;
  lsm_batch *b = mm_calloc(1, sizeof *b);
  if (!b) return st_err(LSM_NOMEM, "out of memory creating a batch");
  if (cd_buf_reserve(&b->rep, WB_HEADER)) {
    mm_free(b);
    return st_err(LSM_NOMEM, "out of memory creating a batch");
  }
  memset(b->rep.p, 0, WB_HEADER);
  b->rep.n = WB_HEADER;
  *out = b;
  return LSM_OK;
}

void lsm_batch_free(lsm_batch *b) {
  if (!b) return;
  cd_buf_free(&b->rep);
  mm_free(b);
}

void lsm_batch_clear(lsm_batch *b) {
  memset(b->rep.p, 0, WB_HEADER);
  b->rep.n = WB_HEADER;
}

int lsm_batch_count(const lsm_batch *b) { return (int)rep_count(b->rep.p); }
size_t lsm_batch_bytes(const lsm_batch *b) { return b->rep.n; }

/* Append one record; the batch is unchanged on any error. */
static int add_record(lsm_batch *b, int type, const void *k, size_t kn, const void *v, size_t vn) {
  if (kn == 0) return st_err(LSM_ERROR, "empty key: keys are 1 to %u bytes", LSM_MAX_KEY);
  if (!k) return st_err(LSM_MISUSE, "NULL key pointer with a length of %zu", kn);
  if (!v && vn) return st_err(LSM_MISUSE, "NULL value pointer with a length of %zu", vn);
  if (kn > LSM_MAX_KEY) return st_err(LSM_TOOBIG, "key of %zu bytes is over the limit of %u bytes", kn, LSM_MAX_KEY);
  if (vn > LSM_MAX_VALUE)
    return st_err(LSM_TOOBIG, "value of %zu bytes is over the limit of %u bytes", vn, LSM_MAX_VALUE);
  uint32_t count = rep_count(b->rep.p);
  if (count >= WB_MAX_COUNT) return st_err(LSM_TOOBIG, "batch has too many records (%u)", count);
  size_t need = 1 + CD_MAX_VARINT32 + kn + (type == IKEY_VAL ? CD_MAX_VARINT32 + vn : 0);
  if (b->rep.n + need > WB_MAX_REP)
    return st_err(LSM_TOOBIG, "batch would exceed %zu bytes", WB_MAX_REP);
  if (cd_buf_reserve(&b->rep, need)) return st_err(LSM_NOMEM, "out of memory growing a batch");
  uint8_t *p = b->rep.p + b->rep.n;
  *p++ = (uint8_t)type;
  p = cd_put_varint32(p, (uint32_t)kn);
  memcpy(p, k, kn);
  p += kn;
  if (type == IKEY_VAL) {
    p = cd_put_varint32(p, (uint32_t)vn);
    if (vn) memcpy(p, v, vn);
    p += vn;
  }
  b->rep.n = (size_t)(p - b->rep.p);
  cd_put_fixed32(b->rep.p + 8, count + 1);
  return LSM_OK;
}

int lsm_batch_put(lsm_batch *b, const void *k, size_t kn, const void *v, size_t vn) {
  return add_record(b, IKEY_VAL, k, kn, v, vn);
}

int lsm_batch_delete(lsm_batch *b, const void *k, size_t kn) {
  return add_record(b, IKEY_DEL, k, kn, NULL, 0);
}

void wb_rep(const lsm_batch *b, const uint8_t **p, size_t *n) {
  *p = b->rep.p;
  *n = b->rep.n;
}

void wb_set_seq(lsm_batch *b, uint64_t seq) { cd_put_fixed64(b->rep.p, seq); }
uint64_t wb_seq(const lsm_batch *b) { return cd_get_fixed64(b->rep.p); }
uint32_t wb_count(const lsm_batch *b) { return rep_count(b->rep.p); }

/* ---- decoding ---------------------------------------------------------------------------- */

typedef struct wb_rec {
  int type;
  const uint8_t *k, *v;
  size_t kn, vn;
} wb_rec;

/* Decode the record at *pp (start of rep = base, for messages). Advances *pp. */
static int parse_record(const uint8_t *base, const uint8_t **pp, const uint8_t *end, wb_rec *r) {
  const uint8_t *p = *pp;
  size_t off = (size_t)(p - base);
  if (p >= end) return ST_CORRUPT("batch: record truncated at offset %zu", off);
  r->type = *p++;
  if (r->type != IKEY_VAL && r->type != IKEY_DEL)
    return ST_CORRUPT("batch: unknown record type %d at offset %zu", r->type, off);
  uint32_t kn;
  p = cd_get_varint32(p, end, &kn);
  if (!p) return ST_CORRUPT("batch: bad key length at offset %zu", off + 1);
  if (kn == 0 || kn > LSM_MAX_KEY) return ST_CORRUPT("batch: key length %u out of range at offset %zu", kn, off);
  if ((size_t)(end - p) < kn) return ST_CORRUPT("batch: key truncated at offset %zu", off);
  r->k = p;
  r->kn = kn;
  p += kn;
  r->v = NULL;
  r->vn = 0;
  if (r->type == IKEY_VAL) {
    uint32_t vn;
    const uint8_t *q = cd_get_varint32(p, end, &vn);
    if (!q) return ST_CORRUPT("batch: bad value length at offset %zu", (size_t)(p - base));
    if (vn > LSM_MAX_VALUE) return ST_CORRUPT("batch: value length %u out of range at offset %zu", vn, off);
    if ((size_t)(end - q) < vn) return ST_CORRUPT("batch: value truncated at offset %zu", off);
    r->v = q;
    r->vn = vn;
    p = q + vn;
  }
  *pp = p;
  return LSM_OK;
}

int wb_validate(const uint8_t *p, size_t n) {
  if (n < WB_HEADER) return ST_CORRUPT("batch: %zu bytes, shorter than its %d-byte header", n, WB_HEADER);
  uint64_t seq = cd_get_fixed64(p);
  uint32_t count = rep_count(p);
  if (count > 0 && (seq > IKEY_MAX_SEQ || count - 1 > IKEY_MAX_SEQ - seq))
    return ST_CORRUPT("batch: sequence numbers %llu + %u out of range", (unsigned long long)seq, count);
  const uint8_t *q = p + WB_HEADER, *end = p + n;
  for (uint32_t i = 0; i < count; i++) {
    wb_rec r;
    int rc = parse_record(p, &q, end, &r);
    if (rc) return rc;
  }
  if (q != end)
    return ST_CORRUPT("batch: %zu bytes after the %u records it counts", (size_t)(end - q), count);
  return LSM_OK;
}

int wb_from_rep(const uint8_t *p, size_t n, lsm_batch **out) {
  *out = NULL;
  int rc = wb_validate(p, n);
  if (rc) return rc;
  lsm_batch *b = mm_calloc(1, sizeof *b);
  if (!b) return st_err(LSM_NOMEM, "out of memory creating a batch");
  if (cd_buf_append(&b->rep, p, n)) {
    mm_free(b);
    return st_err(LSM_NOMEM, "out of memory creating a batch");
  }
  *out = b;
  return LSM_OK;
}

int wb_iterate(const uint8_t *p, size_t n, wb_fn fn, void *ctx) {
  int rc = wb_validate(p, n); /* first, so a corrupt rep delivers nothing */
  if (rc) return rc;
  uint64_t seq = cd_get_fixed64(p);
  uint32_t count = rep_count(p);
  const uint8_t *q = p + WB_HEADER, *end = p + n;
  for (uint32_t i = 0; i < count; i++) {
    wb_rec r;
    rc = parse_record(p, &q, end, &r);
    if (rc) return rc; /* cannot happen after validation */
    rc = fn(ctx, seq + i, r.type, r.k, r.kn, r.v, r.vn);
    if (rc) return rc;
  }
  return LSM_OK;
}

int wb_append(lsm_batch *dst, const lsm_batch *src) {
  uint32_t dc = rep_count(dst->rep.p), sc = rep_count(src->rep.p);
  if (sc == 0) return LSM_OK;
  if (sc > WB_MAX_COUNT - dc) return st_err(LSM_TOOBIG, "merged batch would have too many records");
  size_t body = src->rep.n - WB_HEADER;
  if (body > WB_MAX_REP - dst->rep.n) return st_err(LSM_TOOBIG, "merged batch would exceed %zu bytes", WB_MAX_REP);
  if (cd_buf_append(&dst->rep, src->rep.p + WB_HEADER, body))
    return st_err(LSM_NOMEM, "out of memory merging batches");
  cd_put_fixed32(dst->rep.p + 8, dc + sc);
  return LSM_OK;
}

/* ---- applying to a memtable -------------------------------------------------------------- */

static int sum_bound(void *ctx, uint64_t seq, int type, const uint8_t *k, size_t kn,
                     const uint8_t *v, size_t vn) {
  (void)seq, (void)type, (void)k, (void)v;
  *(size_t *)ctx += mem_entry_bound(kn, vn);
  return LSM_OK;
}

static int add_one(void *ctx, uint64_t seq, int type, const uint8_t *k, size_t kn,
                   const uint8_t *v, size_t vn) {
  return mem_add((mem *)ctx, seq, type, k, kn, v, vn);
}

/* Sorted apply: a batch's records in internal-key order (user key ascending, then newest
** first), so that each insert starts from the previous one's position in the skiplist (the
** memtable's splice) instead of from its head: for a batch of random keys that turns most of
** the O(log n) cache-missing walk per insert into a short hop. The order of inserts does not
** change what the memtable holds (every record has its own sequence number), and readers see
** none of the batch before the db publishes its last sequence number. */
typedef struct wb_ent {
  const uint8_t *k, *v;
  uint32_t kn, vn;
  uint64_t seq;
  int type;
} wb_ent;

typedef struct wb_sorter {
  wb_ent *e;
  uint32_t n;
  int sorted; /* records arrived in order already */
} wb_sorter;

static int ent_cmp(const void *a, const void *b) {
  const wb_ent *x = a, *y = b;
  int c = it_bytes_cmp_inline(x->k, x->kn, y->k, y->kn);
  if (c) return c;
  return x->seq > y->seq ? -1 : x->seq < y->seq; /* newer first */
}

static int collect_one(void *ctx, uint64_t seq, int type, const uint8_t *k, size_t kn,
                       const uint8_t *v, size_t vn) {
  wb_sorter *s = ctx;
  wb_ent *e = &s->e[s->n++];
  e->k = k, e->kn = (uint32_t)kn, e->v = v, e->vn = (uint32_t)vn, e->seq = seq, e->type = type;
  if (s->n > 1 && ent_cmp(e - 1, e) > 0) s->sorted = 0;
  return LSM_OK;
}

#define WB_SORT_MIN 16 /* smaller batches: sorting is not worth an allocation */

int wb_apply_to_memtable(const uint8_t *p, size_t n, mem *m) {
  size_t need = 0;
  int rc = wb_iterate(p, n, sum_bound, &need);
  if (rc) return rc;
  if (need == 0) return LSM_OK;
  rc = mem_reserve(m, need);
  if (rc) return rc;
  /* Validated and reserved: mem_add can only fail on a duplicate sequence number now. The
  ** second validation inside wb_iterate is cheap next to the inserts. */
  uint32_t count = rep_count(p);
  wb_sorter s = {NULL, 0, 1};
  /* the sort array is an optimisation: without memory for it, apply in batch order */
  if (count >= WB_SORT_MIN && (s.e = mm_malloc(sizeof *s.e * count))) {
    if ((rc = wb_iterate(p, n, collect_one, &s)) == LSM_OK) {
      if (!s.sorted) qsort(s.e, s.n, sizeof *s.e, ent_cmp);
      for (uint32_t i = 0; i < s.n && !rc; i++)
        rc = mem_add(m, s.e[i].seq, s.e[i].type, s.e[i].k, s.e[i].kn, s.e[i].v, s.e[i].vn);
    }
    mm_free(s.e);
    return rc;
  }
  return wb_iterate(p, n, add_one, m);
}
