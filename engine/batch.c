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

/* buf holds WB_ROOM bytes of room for the WAL record header (wal_add_framed), then the rep:
** always at least WB_ROOM + WB_HEADER bytes. */
struct lsm_batch {
  cd_buf buf;
};

static inline uint8_t *rep_of(const lsm_batch *b) { return b->buf.p + WB_ROOM; }
static inline size_t rep_len(const lsm_batch *b) { return b->buf.n - WB_ROOM; }

static uint32_t rep_count(const uint8_t *rep) { return cd_get_fixed32(rep + 8); }

int lsm_batch_new(lsm_batch **out) {
  *out = NULL;
  lsm_batch *b = mm_calloc(1, sizeof *b);
  if (!b) return st_err(LSM_NOMEM, "out of memory creating a batch");
  /* room for a small record too: one allocation for a typical single-record batch */
  if (cd_buf_reserve(&b->buf, WB_ROOM + WB_HEADER + 160)) {
    mm_free(b);
    return st_err(LSM_NOMEM, "out of memory creating a batch");
  }
  memset(b->buf.p, 0, WB_ROOM + WB_HEADER);
  b->buf.n = WB_ROOM + WB_HEADER;
  *out = b;
  return LSM_OK;
}

void lsm_batch_free(lsm_batch *b) {
  if (!b) return;
  cd_buf_free(&b->buf);
  mm_free(b);
}

void lsm_batch_clear(lsm_batch *b) {
  memset(rep_of(b), 0, WB_HEADER);
  b->buf.n = WB_ROOM + WB_HEADER;
}

int lsm_batch_count(const lsm_batch *b) { return (int)rep_count(rep_of(b)); }
size_t lsm_batch_bytes(const lsm_batch *b) { return rep_len(b); }

int wb_check_record(int type, const void *k, size_t kn, const void *v, size_t vn) {
  if (type != IKEY_VAL && type != IKEY_DEL) return st_err(LSM_MISUSE, "bad record type %d", type);
  if (kn == 0) return st_err(LSM_ERROR, "empty key: keys are 1 to %u bytes", LSM_MAX_KEY);
  if (!k) return st_err(LSM_MISUSE, "NULL key pointer with a length of %zu", kn);
  if (!v && vn) return st_err(LSM_MISUSE, "NULL value pointer with a length of %zu", vn);
  if (kn > LSM_MAX_KEY) return st_err(LSM_TOOBIG, "key of %zu bytes is over the limit of %u bytes", kn, LSM_MAX_KEY);
  if (vn > LSM_MAX_VALUE)
    return st_err(LSM_TOOBIG, "value of %zu bytes is over the limit of %u bytes", vn, LSM_MAX_VALUE);
  return LSM_OK;
}

/* Encode one record at p (room: wb_record_bound); returns the end. */
static uint8_t *put_record(uint8_t *p, int type, const void *k, size_t kn, const void *v, size_t vn) {
  *p++ = (uint8_t)type;
  p = cd_put_varint32(p, (uint32_t)kn);
  memcpy(p, k, kn);
  p += kn;
  if (type == IKEY_VAL) {
    p = cd_put_varint32(p, (uint32_t)vn);
    if (vn) memcpy(p, v, vn);
    p += vn;
  }
  return p;
}

size_t wb_one(uint8_t *rep, int type, const void *k, size_t kn, const void *v, size_t vn) {
  memset(rep, 0, 8);
  cd_put_fixed32(rep + 8, 1);
  return (size_t)(put_record(rep + WB_HEADER, type, k, kn, v, vn) - rep);
}

/* Append one record; the batch is unchanged on any error. */
static int add_record(lsm_batch *b, int type, const void *k, size_t kn, const void *v, size_t vn) {
  int rc = wb_check_record(type, k, kn, v, vn);
  if (rc) return rc;
  uint32_t count = rep_count(rep_of(b));
  if (count >= WB_MAX_COUNT) return st_err(LSM_TOOBIG, "batch has too many records (%u)", count);
  size_t need = wb_record_bound(type, kn, vn);
  if (rep_len(b) + need > WB_MAX_REP)
    return st_err(LSM_TOOBIG, "batch would exceed %zu bytes", WB_MAX_REP);
  if (cd_buf_reserve(&b->buf, need)) return st_err(LSM_NOMEM, "out of memory growing a batch");
  uint8_t *p = put_record(b->buf.p + b->buf.n, type, k, kn, v, vn);
  b->buf.n = (size_t)(p - b->buf.p);
  cd_put_fixed32(rep_of(b) + 8, count + 1);
  return LSM_OK;
}

int lsm_batch_put(lsm_batch *b, const void *k, size_t kn, const void *v, size_t vn) {
  return add_record(b, IKEY_VAL, k, kn, v, vn);
}

int lsm_batch_delete(lsm_batch *b, const void *k, size_t kn) {
  return add_record(b, IKEY_DEL, k, kn, NULL, 0);
}

void wb_rep(const lsm_batch *b, const uint8_t **p, size_t *n) {
  *p = rep_of(b);
  *n = rep_len(b);
}

uint8_t *wb_frame(lsm_batch *b) { return b->buf.p; }

void wb_set_seq(lsm_batch *b, uint64_t seq) { cd_put_fixed64(rep_of(b), seq); }
uint64_t wb_seq(const lsm_batch *b) { return cd_get_fixed64(rep_of(b)); }
uint32_t wb_count(const lsm_batch *b) { return rep_count(rep_of(b)); }

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

/* wb_validate; with need, also add up mem_entry_bound of every record into *need and set
** *sorted to whether the records are in internal-key order already (user keys strictly
** ascending: records of one key have ascending sequence numbers, so a repeated key is out of
** the order's newest-first). */
static int scan_rep(const uint8_t *p, size_t n, size_t *need, int *sorted) {
  if (n < WB_HEADER) return ST_CORRUPT("batch: %zu bytes, shorter than its %d-byte header", n, WB_HEADER);
  uint64_t seq = cd_get_fixed64(p);
  uint32_t count = rep_count(p);
  if (count > 0 && (seq > IKEY_MAX_SEQ || count - 1 > IKEY_MAX_SEQ - seq))
    return ST_CORRUPT("batch: sequence numbers %llu + %u out of range", (unsigned long long)seq, count);
  const uint8_t *q = p + WB_HEADER, *end = p + n, *pk = NULL;
  size_t pkn = 0;
  int in_order = 1;
  for (uint32_t i = 0; i < count; i++) {
    wb_rec r;
    int rc = parse_record(p, &q, end, &r);
    if (rc) return rc;
    if (need) {
      *need += mem_entry_bound(r.kn, r.vn);
      if (in_order && pk && it_bytes_cmp_inline(pk, pkn, r.k, r.kn) >= 0) in_order = 0;
      pk = r.k, pkn = r.kn;
    }
  }
  if (sorted) *sorted = in_order;
  if (q != end)
    return ST_CORRUPT("batch: %zu bytes after the %u records it counts", (size_t)(end - q), count);
  return LSM_OK;
}

int wb_validate(const uint8_t *p, size_t n) { return scan_rep(p, n, NULL, NULL); }

int wb_from_rep(const uint8_t *p, size_t n, lsm_batch **out) {
  *out = NULL;
  int rc = wb_validate(p, n);
  if (rc) return rc;
  lsm_batch *b = mm_calloc(1, sizeof *b);
  if (!b) return st_err(LSM_NOMEM, "out of memory creating a batch");
  if (cd_buf_reserve(&b->buf, WB_ROOM + n)) {
    mm_free(b);
    return st_err(LSM_NOMEM, "out of memory creating a batch");
  }
  memset(b->buf.p, 0, WB_ROOM);
  memcpy(b->buf.p + WB_ROOM, p, n);
  b->buf.n = WB_ROOM + n;
  *out = b;
  return LSM_OK;
}

/* wb_iterate over a rep already validated. */
static int each_record(const uint8_t *p, size_t n, wb_fn fn, void *ctx) {
  int rc;
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

int wb_iterate(const uint8_t *p, size_t n, wb_fn fn, void *ctx) {
  int rc = wb_validate(p, n); /* first, so a corrupt rep delivers nothing */
  if (rc) return rc;
  return each_record(p, n, fn, ctx);
}

int wb_append(lsm_batch *dst, const lsm_batch *src) { return wb_append_rep(dst, rep_of(src), rep_len(src)); }

int wb_append_rep(lsm_batch *dst, const uint8_t *rep, size_t n) {
  uint32_t dc = rep_count(rep_of(dst)), sc = rep_count(rep);
  if (sc == 0) return LSM_OK;
  if (sc > WB_MAX_COUNT - dc) return st_err(LSM_TOOBIG, "merged batch would have too many records");
  size_t body = n - WB_HEADER;
  if (body > WB_MAX_REP - rep_len(dst)) return st_err(LSM_TOOBIG, "merged batch would exceed %zu bytes", WB_MAX_REP);
  if (cd_buf_append(&dst->buf, rep + WB_HEADER, body))
    return st_err(LSM_NOMEM, "out of memory merging batches");
  cd_put_fixed32(rep_of(dst) + 8, dc + sc);
  return LSM_OK;
}

/* ---- applying to a memtable -------------------------------------------------------------- */

static int add_one(void *ctx, uint64_t seq, int type, const uint8_t *k, size_t kn,
                   const uint8_t *v, size_t vn) {
  return mem_add((mem *)ctx, seq, type, k, kn, v, vn);
}

/* Sorted apply: a batch's records in internal-key order (user key ascending, then newest
** first), handed to mem_add_sorted, whose skiplist searches overlap their cache misses. The
** order of inserts does not change what the memtable holds (every record has its own sequence
** number, so the same key twice in a batch gives two entries, the later record the newer), and
** readers see none of the batch before the db publishes its last sequence number. */
typedef struct wb_sorter {
  mem_ent *e;
  uint32_t n;
  int sorted; /* records arrived in order already */
} wb_sorter;

static int ent_cmp(const void *a, const void *b) {
  const mem_ent *x = a, *y = b;
  int c = it_bytes_cmp_inline(x->k, x->kn, y->k, y->kn);
  if (c) return c;
  return x->seq > y->seq ? -1 : x->seq < y->seq; /* newer first */
}

static int collect_one(void *ctx, uint64_t seq, int type, const uint8_t *k, size_t kn,
                       const uint8_t *v, size_t vn) {
  wb_sorter *s = ctx;
  mem_ent *e = &s->e[s->n++];
  e->k = k, e->kn = (uint32_t)kn, e->v = v, e->vn = (uint32_t)vn, e->seq = seq, e->type = type;
  if (s->n > 1 && ent_cmp(e - 1, e) > 0) s->sorted = 0;
  return LSM_OK;
}

#define WB_SORT_MIN 16 /* smaller batches: sorting is not worth an allocation */
#define WB_RUN 128     /* entries of an in-order rep handed to mem_add_sorted at a time */

/* A validated rep whose records are in order already (the vtab's commits: its overlay is
** sorted): parsed WB_RUN records at a time into an array on the stack, each run handed to
** mem_add_sorted; the same inserts as one call with every record, without a heap array. */
static int apply_in_order(const uint8_t *p, size_t n, mem *m) {
  mem_ent e[WB_RUN];
  uint64_t seq = cd_get_fixed64(p);
  uint32_t count = rep_count(p);
  const uint8_t *q = p + WB_HEADER, *end = p + n;
  for (uint32_t i = 0; i < count;) {
    uint32_t k = 0;
    for (; k < WB_RUN && i < count; k++, i++) {
      wb_rec r;
      int rc = parse_record(p, &q, end, &r);
      if (rc) return rc; /* cannot happen after validation */
      e[k] = (mem_ent){r.k, r.v, (uint32_t)r.kn, (uint32_t)r.vn, seq + i, r.type};
    }
    int rc = mem_add_sorted(m, e, k);
    if (rc) return rc;
  }
  return LSM_OK;
}

int wb_apply_to_memtable(const uint8_t *p, size_t n, mem *m) {
  size_t need = 0;
  int sorted;
  int rc = scan_rep(p, n, &need, &sorted); /* validates: the records below are parsed without checks */
  if (rc) return rc;
  if (need == 0) return LSM_OK;
  rc = mem_reserve(m, need);
  if (rc) return rc;
  /* Validated and reserved: mem_add can only fail on a duplicate sequence number now. */
  uint32_t count = rep_count(p);
  if (count >= WB_SORT_MIN && sorted) return apply_in_order(p, n, m);
  wb_sorter s = {NULL, 0, 1};
  /* the sort array is an optimisation: without memory for it, apply in batch order */
  if (count >= WB_SORT_MIN && (s.e = mm_malloc(sizeof *s.e * count))) {
    if ((rc = each_record(p, n, collect_one, &s)) == LSM_OK) {
      if (!s.sorted) qsort(s.e, s.n, sizeof *s.e, ent_cmp);
      rc = mem_add_sorted(m, s.e, s.n);
    }
    mm_free(s.e);
    return rc;
  }
  return each_record(p, n, add_one, m);
}
