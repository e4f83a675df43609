/* wal.c — write-ahead log writer and recovery reader; format and torn-tail rule in wal.h. */
#include "wal.h"

#include <stdio.h>
#include <string.h>

#include "coding.h"
#include "mm.h"
#include "status.h"

/* Checksum of a record: xxh3 of (4 length bytes + payload), the same value cd_xxh3 gives over
** the concatenation, computed without copying the payload. */
static uint64_t rec_sum(const uint8_t len[4], const void *p, size_t n) {
  return cd_xxh3_cat(len, 4, p, n);
}

/* ---- writer ------------------------------------------------------------------------------ */

struct wal_writer {
  fio_file *f;
  char *path;
  uint64_t log_number;
  uint64_t size;
  int err; /* sticky: set by the first failed append or sync */
  char msg[256]; /* the message of that failure */
};

static int sync_parent_dir(fio_env *env, const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return fio_sync_dir(env, ".");
  if (slash == path) return fio_sync_dir(env, "/");
  char *dir = mm_dup(path, (size_t)(slash - path));
  if (!dir) return st_err(LSM_NOMEM, "wal: out of memory");
  int rc = fio_sync_dir(env, dir);
  mm_free(dir);
  return rc;
}

int wal_create(fio_env *env, const char *path, uint64_t log_number, wal_writer **out) {
  *out = NULL;
  wal_writer *w = mm_calloc(1, sizeof *w);
  if (!w) return st_err(LSM_NOMEM, "wal: out of memory");
  w->path = mm_strdup(path);
  if (!w->path) {
    mm_free(w);
    return st_err(LSM_NOMEM, "wal: out of memory");
  }
  w->log_number = log_number;
  int rc = fio_create(env, path, FIO_WRONLY, &w->f);
  if (rc) {
    mm_free(w->path);
    mm_free(w);
    return rc;
  }
  uint8_t h[WAL_HEADER];
  cd_put_fixed32(h, WAL_MAGIC);
  cd_put_fixed32(h + 4, WAL_VERSION);
  cd_put_fixed64(h + 8, log_number);
  cd_put_fixed64(h + 16, cd_xxh3(h, 16));
  rc = fio_append(w->f, h, sizeof h);
  if (!rc) rc = fio_sync(w->f);
  if (!rc) rc = sync_parent_dir(env, path);
  if (rc) {
    /* Keep the first error's message; the clean-up is best effort. */
    char msg[256];
    snprintf(msg, sizeof msg, "%s", st_errmsg());
    fio_close(w->f);
    fio_delete(env, path);
    mm_free(w->path);
    mm_free(w);
    return st_err(rc, "wal %s: creating: %s", path, msg);
  }
  w->size = WAL_HEADER;
  *out = w;
  return LSM_OK;
}

static int refuse(const wal_writer *w) {
  return st_err(w->err, "wal %s: an earlier write or sync failed, no more writes until reopened: %s",
                w->path, w->msg);
}

static int disable(wal_writer *w, int rc) {
  w->err = rc;
  snprintf(w->msg, sizeof w->msg, "%s", st_errmsg());
  return rc;
}

int wal_add(wal_writer *w, const void *p, size_t n) {
  if (w->err) return refuse(w);
  if (n > UINT32_MAX) return st_err(LSM_TOOBIG, "wal %s: record of %zu bytes is over 4 GiB", w->path, n);
  uint8_t h[WAL_REC_HEADER];
  cd_put_fixed32(h, (uint32_t)n);
  cd_put_fixed32(h + 4, cd_xxh3_32(h, 4));
  cd_put_fixed64(h + 8, rec_sum(h, p, n));
  struct iovec iov[2] = {{h, sizeof h}, {(void *)p, n}};
  int rc = fio_appendv(w->f, iov, n ? 2 : 1);
  if (rc) return disable(w, rc); /* part of the record may be in the file: nothing may follow */
  w->size += sizeof h + n;
  return LSM_OK;
}

int wal_add_framed(wal_writer *w, uint8_t *rec, size_t n) {
  if (w->err) return refuse(w);
  if (n > UINT32_MAX) return st_err(LSM_TOOBIG, "wal %s: record of %zu bytes is over 4 GiB", w->path, n);
  /* The checksum covers the 4 length bytes followed by the payload: put a copy of the length
  ** just before the payload (in the checksum field's last 4 bytes) and hash the contiguous
  ** range, then fill in the real header over it. */
  cd_put_fixed32(rec + WAL_REC_HEADER - 4, (uint32_t)n);
  uint64_t sum = cd_xxh3(rec + WAL_REC_HEADER - 4, 4 + n);
  cd_put_fixed32(rec, (uint32_t)n);
  cd_put_fixed32(rec + 4, cd_xxh3_32(rec, 4));
  cd_put_fixed64(rec + 8, sum);
  int rc = fio_append(w->f, rec, WAL_REC_HEADER + n);
  if (rc) return disable(w, rc); /* part of the record may be in the file: nothing may follow */
  w->size += WAL_REC_HEADER + n;
  return LSM_OK;
}

int wal_sync(wal_writer *w) {
  if (w->err) return refuse(w);
  int rc = fio_sync(w->f);
  if (rc) return disable(w, rc); /* a failed fsync may have dropped dirty pages: state unknown */
  return LSM_OK;
}

uint64_t wal_size(const wal_writer *w) { return w->size; }
uint64_t wal_log_number(const wal_writer *w) { return w->log_number; }
int wal_error(const wal_writer *w) { return w->err; }

int wal_close(wal_writer *w) {
  if (!w) return LSM_OK;
  int rc = fio_close(w->f);
  mm_free(w->path);
  mm_free(w);
  return rc;
}

/* ---- reader ------------------------------------------------------------------------------ */

#define WAL_CHUNK (256u * 1024u)

struct wal_reader {
  fio_file *f;
  char *path;
  uint64_t size;       /* file size at open */
  uint64_t off;        /* next record offset */
  uint64_t log_number;
  uint64_t dropped;
  int err;             /* sticky error */
  char msg[256];       /* its message, repeated by later calls */
  int done;            /* end reached */
  /* read window: file bytes [woff, woff + wn) are in buf */
  uint8_t *buf;
  size_t cap, wn;
  uint64_t woff;
};

/* Point *out at file bytes [off, off + n). REQUIRES off + n <= r->size. */
static int window(wal_reader *r, uint64_t off, size_t n, const uint8_t **out) {
  if (off >= r->woff && off + n <= r->woff + r->wn) {
    *out = r->buf + (off - r->woff);
    return LSM_OK;
  }
  size_t want = n > WAL_CHUNK ? n : WAL_CHUNK;
  if (want > r->size - off) want = (size_t)(r->size - off);
  if (want > r->cap) {
    uint8_t *nb = mm_realloc(r->buf, want);
    if (!nb) return st_err(LSM_NOMEM, "wal %s: out of memory for a %zu byte read", r->path, want);
    r->buf = nb;
    r->cap = want;
  }
  r->wn = 0; /* the window is invalid until the read succeeds */
  size_t got;
  int rc = fio_read_at(r->f, off, r->buf, want, &got);
  if (rc) return rc;
  if (got < want)
    return st_err(LSM_IOERR_SHORT_READ, "wal %s: file shrank while being read (offset %llu)", r->path,
                  (unsigned long long)(off + got));
  r->woff = off;
  r->wn = want;
  *out = r->buf + (off - r->woff);
  return LSM_OK;
}

enum { REC_GOOD, REC_SHORT_HDR, REC_BAD_LCHECK, REC_PAST_END, REC_BAD_SUM };

/* Classify the record at off; for GOOD, *payload and *len are set (window-borrowed). For PAST_END
** and BAD_SUM, *len is the (lcheck-verified) length. */
static int probe(wal_reader *r, uint64_t off, int *kind, const uint8_t **payload, uint32_t *len) {
  if (r->size - off < WAL_REC_HEADER) {
    *kind = REC_SHORT_HDR;
    return LSM_OK;
  }
  const uint8_t *h;
  int rc = window(r, off, 8, &h);
  if (rc) return rc;
  uint32_t n = cd_get_fixed32(h);
  if (cd_get_fixed32(h + 4) != cd_xxh3_32(h, 4)) {
    *kind = REC_BAD_LCHECK;
    return LSM_OK;
  }
  *len = n;
  if ((uint64_t)n > r->size - off - WAL_REC_HEADER) {
    *kind = REC_PAST_END;
    return LSM_OK;
  }
  rc = window(r, off, WAL_REC_HEADER + (size_t)n, &h);
  if (rc) return rc;
  if (cd_get_fixed64(h + 8) != rec_sum(h, h + WAL_REC_HEADER, n)) {
    *kind = REC_BAD_SUM;
    return LSM_OK;
  }
  *kind = REC_GOOD;
  *payload = h + WAL_REC_HEADER;
  return LSM_OK;
}

/* First offset in [from, size) where a good record starts, or size if none. */
static int find_good(wal_reader *r, uint64_t from, uint64_t *found) {
  for (uint64_t p = from; p + WAL_REC_HEADER <= r->size; p++) {
    int kind;
    const uint8_t *payload;
    uint32_t len;
    int rc = probe(r, p, &kind, &payload, &len);
    if (rc) return rc;
    if (kind == REC_GOOD) {
      *found = p;
      return LSM_OK;
    }
  }
  *found = r->size;
  return LSM_OK;
}

static int fail(wal_reader *r, int rc) {
  r->err = rc;
  snprintf(r->msg, sizeof r->msg, "%s", st_errmsg());
  return rc;
}

/* 1 if file bytes [from, size) are all zero. */
static int all_zero(wal_reader *r, uint64_t from, int *zero) {
  *zero = 1;
  for (uint64_t off = from; off < r->size;) {
    size_t n = r->size - off > WAL_CHUNK ? WAL_CHUNK : (size_t)(r->size - off);
    const uint8_t *p;
    int rc = window(r, off, n, &p);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++)
      if (p[i]) {
        *zero = 0;
        return LSM_OK;
      }
    off += n;
  }
  return LSM_OK;
}

int wal_open_read(fio_env *env, const char *path, wal_reader **out) {
  *out = NULL;
  wal_reader *r = mm_calloc(1, sizeof *r);
  if (!r) return st_err(LSM_NOMEM, "wal: out of memory");
  r->path = mm_strdup(path);
  int rc = r->path ? LSM_OK : st_err(LSM_NOMEM, "wal: out of memory");
  if (!rc) rc = fio_open(env, path, FIO_RDONLY, &r->f);
  if (!rc) rc = fio_size(r->f, &r->size);
  if (rc) goto fail;
  /* A crash inside wal_create: the header is written and synced before any record, so a file
  ** that holds no more than a header (short, or exactly WAL_HEADER bytes that do not form a
  ** valid header: unsynced bytes may come back garbled after a power loss) cannot hold an
  ** acknowledged record. Such a log is empty. */
  const uint8_t *h = NULL;
  const char *bad = NULL;
  if (r->size >= WAL_HEADER) {
    rc = window(r, 0, WAL_HEADER, &h);
    if (rc) goto fail;
    if (cd_get_fixed32(h) != WAL_MAGIC)
      bad = "bad magic (not a log file)";
    else if (cd_get_fixed64(h + 16) != cd_xxh3(h, 16))
      bad = "header checksum mismatch";
    else if (cd_get_fixed32(h + 4) != WAL_VERSION)
      bad = "unsupported format version";
  }
  int empty = r->size <= WAL_HEADER && (r->size < WAL_HEADER || bad);
  if (!empty && bad) {
    /* A header never made durable, over a file extended with zeros, is the same crash. */
    int zero;
    rc = all_zero(r, 0, &zero);
    if (rc) goto fail;
    empty = zero;
  }
  if (empty) {
    r->dropped = r->size;
    r->done = 1;
    *out = r;
    return LSM_OK;
  }
  if (bad) {
    rc = ST_CORRUPT("wal %s: %s (magic 0x%08x, version %u)", path, bad, cd_get_fixed32(h),
                    cd_get_fixed32(h + 4));
    goto fail;
  }
  r->log_number = cd_get_fixed64(h + 8);
  r->off = WAL_HEADER;
  *out = r;
  return LSM_OK;
fail:
  wal_close_read(r);
  return rc;
}

int wal_next(wal_reader *r, const uint8_t **p, size_t *n) {
  if (r->err) return st_err(r->err, "%s", r->msg);
  if (r->done || r->off == r->size) {
    r->done = 1;
    return LSM_NOTFOUND;
  }
  int kind;
  const uint8_t *payload = NULL;
  uint32_t len = 0;
  int rc = probe(r, r->off, &kind, &payload, &len);
  if (rc) return fail(r, rc);
  if (kind == REC_GOOD) {
    *p = payload;
    *n = len;
    r->off += WAL_REC_HEADER + (uint64_t)len;
    return LSM_OK;
  }
  /* The first bad record: torn tail or corruption (rule in wal.h). */
  uint64_t x = r->off, found = r->size;
  if (kind == REC_BAD_SUM)
    rc = find_good(r, x + WAL_REC_HEADER + len, &found);
  else if (kind == REC_SHORT_HDR || kind == REC_BAD_LCHECK)
    rc = find_good(r, x + 1, &found);
  /* REC_PAST_END: the record claims everything to the end of the file. */
  if (rc) return fail(r, rc);
  if (found < r->size)
    return fail(r, ST_CORRUPT("wal %s: corrupt record at offset %llu (a valid record follows at offset %llu)",
                              r->path, (unsigned long long)x, (unsigned long long)found));
  r->dropped = r->size - x;
  r->done = 1;
  return LSM_NOTFOUND;
}

uint64_t wal_reader_log_number(const wal_reader *r) { return r->log_number; }
uint64_t wal_dropped(const wal_reader *r) { return r->dropped; }
uint64_t wal_good_end(const wal_reader *r) { return r->off; }

void wal_close_read(wal_reader *r) {
  if (!r) return;
  fio_close(r->f);
  mm_free(r->buf);
  mm_free(r->path);
  mm_free(r);
}
