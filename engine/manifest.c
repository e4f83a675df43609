/*
** manifest.c — version edit encoding, the MANIFEST log, CURRENT. Formats in manifest.h.
*/
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>

#include "mm.h"
#include "status.h"

enum { T_LOG = 1, T_NEXT = 2, T_SEQ = 3, T_DEL = 4, T_ADD = 5 };
#define MAN_HDR 16
#define REC_HDR 16

/* ---- edits ---------------------------------------------------------------------------------- */

void man_edit_init(man_edit *e) { memset(e, 0, sizeof *e); }

void man_edit_free(man_edit *e) {
  for (int i = 0; i < e->nadd; i++) {
    mm_free(e->adds[i].smallest);
    mm_free(e->adds[i].largest);
  }
  mm_free(e->adds);
  mm_free(e->dels);
  memset(e, 0, sizeof *e);
}

void man_edit_set_log(man_edit *e, uint64_t n) {
  e->has_log_number = 1;
  e->log_number = n;
}
void man_edit_set_next_file(man_edit *e, uint64_t n) {
  e->has_next_file = 1;
  e->next_file = n;
}
void man_edit_set_last_seq(man_edit *e, uint64_t s) {
  e->has_last_seq = 1;
  e->last_seq = s;
}

int man_edit_add(man_edit *e, int level, uint64_t number, uint64_t size, const uint8_t *smallest,
                 size_t sn, const uint8_t *largest, size_t ln) {
  if (e->nadd == e->acap) {
    int cap = e->acap ? 2 * e->acap : 4;
    man_file *a = mm_realloc(e->adds, sizeof *a * (size_t)cap);
    if (!a) return st_err(LSM_NOMEM, "version edit: out of memory");
    e->adds = a;
    e->acap = cap;
  }
  man_file *f = &e->adds[e->nadd];
  f->level = level;
  f->number = number;
  f->size = size;
  f->codec = -1;
  f->smallest = mm_dup(smallest, sn);
  f->largest = mm_dup(largest, ln);
  if (!f->smallest || !f->largest) {
    mm_free(f->smallest);
    mm_free(f->largest);
    return st_err(LSM_NOMEM, "version edit: out of memory");
  }
  f->smallest_n = sn;
  f->largest_n = ln;
  e->nadd++;
  return LSM_OK;
}

int man_edit_del(man_edit *e, int level, uint64_t number) {
  if (e->ndel == e->dcap) {
    int cap = e->dcap ? 2 * e->dcap : 4;
    man_del *a = mm_realloc(e->dels, sizeof *a * (size_t)cap);
    if (!a) return st_err(LSM_NOMEM, "version edit: out of memory");
    e->dels = a;
    e->dcap = cap;
  }
  e->dels[e->ndel].level = level;
  e->dels[e->ndel].number = number;
  e->ndel++;
  return LSM_OK;
}

static int put_bytes(cd_buf *b, const uint8_t *p, size_t n) {
  int rc = cd_buf_put_varint32(b, (uint32_t)n);
  return rc ? rc : cd_buf_append(b, p, n);
}

int man_edit_encode(const man_edit *e, cd_buf *b) {
  int rc = LSM_OK;
  if (e->has_log_number && !rc) {
    rc = cd_buf_put_varint32(b, T_LOG);
    if (!rc) rc = cd_buf_put_varint64(b, e->log_number);
  }
  if (e->has_next_file && !rc) {
    rc = cd_buf_put_varint32(b, T_NEXT);
    if (!rc) rc = cd_buf_put_varint64(b, e->next_file);
  }
  if (e->has_last_seq && !rc) {
    rc = cd_buf_put_varint32(b, T_SEQ);
    if (!rc) rc = cd_buf_put_varint64(b, e->last_seq);
  }
  for (int i = 0; i < e->ndel && !rc; i++) {
    rc = cd_buf_put_varint32(b, T_DEL);
    if (!rc) rc = cd_buf_put_varint32(b, (uint32_t)e->dels[i].level);
    if (!rc) rc = cd_buf_put_varint64(b, e->dels[i].number);
  }
  for (int i = 0; i < e->nadd && !rc; i++) {
    const man_file *f = &e->adds[i];
    rc = cd_buf_put_varint32(b, T_ADD);
    if (!rc) rc = cd_buf_put_varint32(b, (uint32_t)f->level);
    if (!rc) rc = cd_buf_put_varint64(b, f->number);
    if (!rc) rc = cd_buf_put_varint64(b, f->size);
    if (!rc) rc = put_bytes(b, f->smallest, f->smallest_n);
    if (!rc) rc = put_bytes(b, f->largest, f->largest_n);
  }
  return rc ? st_err(LSM_NOMEM, "version edit: out of memory") : LSM_OK;
}

static const uint8_t *get_key(const uint8_t *p, const uint8_t *lim, const uint8_t **k, size_t *n) {
  uint32_t len;
  p = cd_get_varint32(p, lim, &len);
  if (!p || len > (size_t)(lim - p) || len < 8) return NULL;
  *k = p;
  *n = len;
  return p + len;
}

int man_edit_decode(const uint8_t *p, size_t n, man_edit *e) {
  const uint8_t *lim = p + n;
  int rc = LSM_OK;
  while (p && p < lim && !rc) {
    uint32_t tag, level;
    uint64_t a, b;
    const uint8_t *sk, *lk;
    size_t sn, ln;
    const uint8_t *start = p;
    p = cd_get_varint32(p, lim, &tag);
    if (!p) break;
    switch (tag) {
      case T_LOG:
        if ((p = cd_get_varint64(p, lim, &a))) man_edit_set_log(e, a);
        break;
      case T_NEXT:
        if ((p = cd_get_varint64(p, lim, &a))) man_edit_set_next_file(e, a);
        break;
      case T_SEQ:
        if ((p = cd_get_varint64(p, lim, &a))) man_edit_set_last_seq(e, a);
        break;
      case T_DEL:
        if ((p = cd_get_varint32(p, lim, &level)) && (p = cd_get_varint64(p, lim, &a))) {
          if (level >= MAN_LEVELS) p = NULL;
          else rc = man_edit_del(e, (int)level, a);
        }
        break;
      case T_ADD:
        if ((p = cd_get_varint32(p, lim, &level)) && (p = cd_get_varint64(p, lim, &a)) &&
            (p = cd_get_varint64(p, lim, &b)) && (p = get_key(p, lim, &sk, &sn)) &&
            (p = get_key(p, lim, &lk, &ln))) {
          if (level >= MAN_LEVELS) p = NULL;
          else rc = man_edit_add(e, (int)level, a, b, sk, sn, lk, ln);
        }
        break;
      default:
        man_edit_free(e);
        return ST_CORRUPT("version edit: unknown tag %u at byte %zu", tag, (size_t)(start - (lim - n)));
    }
  }
  if (rc) {
    man_edit_free(e);
    return rc;
  }
  if (p != lim) {
    man_edit_free(e);
    return ST_CORRUPT("version edit: malformed or truncated field");
  }
  return LSM_OK;
}

/* ---- the log -------------------------------------------------------------------------------- */

struct man_writer {
  fio_file *f;
  uint64_t size;
  int failed; /* sticky */
  cd_buf buf;
};

int man_create(fio_env *env, const char *path, man_writer **out) {
  man_writer *w = mm_calloc(1, sizeof *w);
  if (!w) return st_err(LSM_NOMEM, "manifest: out of memory");
  int rc = fio_create(env, path, FIO_WRONLY, &w->f);
  if (rc) {
    mm_free(w);
    return rc;
  }
  uint8_t h[MAN_HDR];
  cd_put_fixed64(h, MAN_MAGIC);
  cd_put_fixed32(h + 8, MAN_VERSION);
  cd_put_fixed32(h + 12, cd_xxh3_32(h, 12));
  rc = fio_append(w->f, h, sizeof h);
  if (!rc) rc = fio_sync(w->f);
  if (rc) {
    fio_close(w->f);
    fio_delete(env, path);
    mm_free(w);
    return rc;
  }
  w->size = MAN_HDR;
  *out = w;
  return LSM_OK;
}

int man_append(man_writer *w, const man_edit *e) {
  if (w->failed) return st_err(LSM_IOERR_WRITE, "manifest: an earlier write failed; reopen the database");
  cd_buf_clear(&w->buf);
  int rc = cd_buf_reserve(&w->buf, REC_HDR);
  if (rc) return st_err(LSM_NOMEM, "manifest: out of memory");
  w->buf.n = REC_HDR;
  if ((rc = man_edit_encode(e, &w->buf))) return rc;
  size_t len = w->buf.n - REC_HDR;
  if (len > MAN_MAX_RECORD) return st_err(LSM_TOOBIG, "manifest: edit of %zu bytes too large", len);
  cd_put_fixed32(w->buf.p, (uint32_t)len);
  cd_put_fixed32(w->buf.p + 4, cd_xxh3_32(w->buf.p, 4));
  cd_put_fixed64(w->buf.p + 8, cd_xxh3(w->buf.p + REC_HDR, len));
  rc = fio_append(w->f, w->buf.p, w->buf.n);
  if (!rc) rc = fio_sync(w->f);
  if (rc) {
    w->failed = 1;
    return rc;
  }
  w->size += w->buf.n;
  return LSM_OK;
}

uint64_t man_size(const man_writer *w) { return w->size; }

int man_close(man_writer *w) {
  if (!w) return LSM_OK;
  int rc = fio_close(w->f);
  cd_buf_free(&w->buf);
  mm_free(w);
  return rc;
}

/* Does a complete record with a valid length check and payload checksum start at r? */
static int good_record(const uint8_t *r, size_t left, uint32_t *len) {
  if (left < REC_HDR || cd_get_fixed32(r + 4) != cd_xxh3_32(r, 4)) return 0;
  *len = cd_get_fixed32(r);
  if (*len > left - REC_HDR) return 0;
  return cd_xxh3(r + REC_HDR, *len) == cd_get_fixed64(r + 8);
}

int man_read(fio_env *env, const char *path, int (*cb)(void *ctx, const man_edit *e), void *ctx,
             uint64_t *dropped) {
  fio_file *f;
  uint64_t size;
  int rc = fio_open(env, path, FIO_RDONLY, &f);
  if (rc) return rc;
  if ((rc = fio_size(f, &size))) {
    fio_close(f);
    return rc;
  }
  if (size > (uint64_t)1 << 32) {
    fio_close(f);
    return ST_CORRUPT("manifest %s: implausible size %llu", path, (unsigned long long)size);
  }
  uint8_t *buf = mm_malloc(size ? size : 1);
  size_t got = 0;
  if (!buf) rc = st_err(LSM_NOMEM, "manifest: out of memory");
  else rc = fio_read_at(f, 0, buf, size, &got);
  fio_close(f);
  if (!rc && got != size) rc = st_err(LSM_IOERR_SHORT_READ, "manifest %s: short read", path);
  if (!rc && (size < MAN_HDR || cd_get_fixed64(buf) != MAN_MAGIC ||
              cd_get_fixed32(buf + 12) != cd_xxh3_32(buf, 12)))
    rc = ST_CORRUPT("manifest %s: bad header", path);
  if (!rc && cd_get_fixed32(buf + 8) != MAN_VERSION)
    rc = ST_CORRUPT("manifest %s: unsupported version %u", path, cd_get_fixed32(buf + 8));
  size_t off = MAN_HDR;
  if (dropped) *dropped = 0;
  while (!rc && off < size) {
    size_t left = size - off;
    const uint8_t *r = buf + off;
    uint32_t len = 0;
    if (good_record(r, left, &len)) {
      man_edit e;
      man_edit_init(&e);
      rc = man_edit_decode(r + REC_HDR, len, &e);
      if (rc) {
        char save[512]; /* ST_CORRUPT formats into st_errmsg()'s buffer: copy it first */
        snprintf(save, sizeof save, "%s", st_errmsg());
        rc = ST_CORRUPT("manifest %s: bad edit at offset %zu: %s", path, off, save);
        break;
      }
      rc = cb(ctx, &e);
      man_edit_free(&e);
      off += REC_HDR + len;
      continue;
    }
    /* A bad record: a torn tail if no good record starts anywhere after it (a crash tears only
    ** the last, unsynced record; its bytes may be cut, zeroed or garbage), else corruption. */
    size_t later = 0;
    for (size_t p = off + 1; p + REC_HDR <= size && !later; p++) {
      uint32_t l2;
      if (good_record(buf + p, size - p, &l2)) later = p;
    }
    if (!later) {
      if (dropped) *dropped = left;
      break;
    }
    rc = ST_CORRUPT("manifest %s: corrupt record at offset %zu (a valid record follows at offset %zu)", path, off,
                    later);
  }
  mm_free(buf);
  return rc;
}

/* ---- CURRENT -------------------------------------------------------------------------------- */

int man_set_current(fio_env *env, const char *dir, uint64_t number) {
  char path[4096], text[64];
  int n = snprintf(text, sizeof text, "MANIFEST-%06llu\n", (unsigned long long)number);
  snprintf(path, sizeof path, "%s/CURRENT", dir);
  return fio_write_atomic(env, path, text, (size_t)n);
}

int man_get_current(fio_env *env, const char *dir, uint64_t *number) {
  char path[4096], text[65];
  snprintf(path, sizeof path, "%s/CURRENT", dir);
  fio_file *f;
  int rc = fio_open(env, path, FIO_RDONLY, &f);
  if (rc) return rc;
  size_t got = 0;
  rc = fio_read_at(f, 0, text, sizeof text - 1, &got);
  fio_close(f);
  if (rc) return rc;
  text[got] = 0;
  char *end;
  if (got < 11 || memcmp(text, "MANIFEST-", 9) || text[got - 1] != '\n')
    return ST_CORRUPT("%s: malformed CURRENT file", path);
  unsigned long long v = strtoull(text + 9, &end, 10);
  if (end != text + got - 1 || end == text + 9) return ST_CORRUPT("%s: malformed CURRENT file", path);
  *number = v;
  return LSM_OK;
}
