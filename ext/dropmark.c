/*
** dropmark.c — the marker of a table dropped inside a transaction; see dropmark.h.
*/
#include "dropmark.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coding.h"
#include "fio.h"
#include "mm.h"
#include "status.h"

static const uint8_t dm_magic[8] = {'L', 'S', 'M', 'D', 'R', 'O', 'P', 0};
#define DM_VERSION 2
#define DM_HEAD1 36 /* version 1: magic, version, pid, conn, dversion, name_len */
#define DM_HEAD 40  /* version 2: ... name_len, db_len */

int dm_encode(const dm_mark *m, uint8_t *buf, size_t cap, size_t *n) {
  size_t len = strlen(m->name), dlen = m->db ? strlen(m->db) : 0;
  if (len > DM_NAME_MAX) return st_err(LSM_ERROR, "drop marker: table name too long");
  if (dlen > DM_NAME_MAX) return st_err(LSM_ERROR, "drop marker: database path too long");
  if (cap < DM_HEAD + len + dlen + 8) return st_err(LSM_ERROR, "drop marker: buffer too small");
  memcpy(buf, dm_magic, 8);
  cd_put_fixed32(buf + 8, DM_VERSION);
  cd_put_fixed64(buf + 12, m->pid);
  cd_put_fixed64(buf + 20, m->conn);
  cd_put_fixed32(buf + 28, m->dversion);
  cd_put_fixed32(buf + 32, (uint32_t)len);
  cd_put_fixed32(buf + 36, (uint32_t)dlen);
  memcpy(buf + DM_HEAD, m->name, len);
  if (dlen) memcpy(buf + DM_HEAD + len, m->db, dlen);
  size_t body = DM_HEAD + len + dlen;
  cd_put_fixed64(buf + body, cd_xxh3(buf, body));
  *n = body + 8;
  return LSM_OK;
}

static char *dup_bytes(const uint8_t *p, size_t n) {
  char *s = mm_malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = 0;
  }
  return s;
}

int dm_decode(const uint8_t *buf, size_t n, dm_mark *m) {
  if (n < DM_HEAD1 + 8) return ST_CORRUPT("drop marker: %zu bytes, too short", n);
  if (memcmp(buf, dm_magic, 8)) return ST_CORRUPT("drop marker: bad magic");
  uint32_t ver = cd_get_fixed32(buf + 8), len = cd_get_fixed32(buf + 32), dlen = 0;
  if (ver != 1 && ver != DM_VERSION) return ST_CORRUPT("drop marker: unknown version %u", (unsigned)ver);
  size_t head = ver == 1 ? DM_HEAD1 : DM_HEAD;
  if (ver != 1) {
    if (n < DM_HEAD + 8) return ST_CORRUPT("drop marker: %zu bytes, too short", n);
    dlen = cd_get_fixed32(buf + 36);
  }
  if (len > DM_NAME_MAX || dlen > DM_NAME_MAX || n != head + (size_t)len + dlen + 8)
    return ST_CORRUPT("drop marker: size %zu does not match a %u-byte name and a %u-byte path", n,
                      (unsigned)len, (unsigned)dlen);
  size_t body = head + len + dlen;
  if (cd_get_fixed64(buf + body) != cd_xxh3(buf, body))
    return ST_CORRUPT("drop marker: checksum mismatch");
  if (memchr(buf + head, 0, (size_t)len + dlen)) /* never written: names are C strings */
    return ST_CORRUPT("drop marker: NUL byte in the table name or database path");
  char *name = dup_bytes(buf + head, len), *db = ver == 1 ? NULL : dup_bytes(buf + head + len, dlen);
  if (!name || (ver != 1 && !db)) {
    mm_free(name);
    mm_free(db);
    return st_err(LSM_NOMEM, "out of memory");
  }
  m->pid = cd_get_fixed64(buf + 12);
  m->conn = cd_get_fixed64(buf + 20);
  m->dversion = cd_get_fixed32(buf + 28);
  m->name = name;
  m->db = db;
  return LSM_OK;
}

static char *mark_path(const char *dir) {
  size_t n = strlen(dir) + sizeof DM_FILE + 1;
  char *p = mm_malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, DM_FILE);
  return p;
}

int dm_write(const char *dir, const dm_mark *m) {
  uint8_t buf[DM_ENCODED_MAX];
  size_t n;
  int rc = dm_encode(m, buf, sizeof buf, &n);
  if (rc) return rc;
  char *path = mark_path(dir);
  fio_env *env = NULL;
  if (!path) rc = st_err(LSM_NOMEM, "out of memory");
  if (!rc) rc = fio_env_new(FIO_SYNC, &env);
  if (!rc) rc = fio_write_atomic(env, path, buf, n);
  fio_env_free(env);
  mm_free(path);
  return rc;
}

int dm_read(const char *dir, dm_mark *m, int *present) {
  *present = 0;
  char *path = mark_path(dir);
  if (!path) return st_err(LSM_NOMEM, "out of memory");
  fio_env *env = NULL;
  fio_file *f = NULL;
  int there = 0;
  int rc = fio_env_new(FIO_SYNC, &env);
  if (!rc) rc = fio_exists(env, path, &there);
  if (!rc && there) rc = fio_open(env, path, FIO_RDONLY, &f);
  if (!rc && there) {
    uint8_t buf[DM_ENCODED_MAX + 1]; /* one more: a longer file is corrupt */
    size_t got = 0;
    rc = fio_read_at(f, 0, buf, sizeof buf, &got);
    if (!rc) rc = dm_decode(buf, got, m);
    if (rc == LSM_CORRUPT) rc = ST_CORRUPT("%s: %s", path, st_errmsg());
    if (!rc) *present = 1;
  }
  if (f) fio_close(f);
  fio_env_free(env);
  mm_free(path);
  return rc;
}

int dm_remove(const char *dir) {
  char *path = mark_path(dir);
  if (!path) return st_err(LSM_NOMEM, "out of memory");
  fio_env *env = NULL;
  int there = 0;
  int rc = fio_env_new(FIO_SYNC, &env);
  if (!rc) rc = fio_exists(env, path, &there);
  if (!rc && there) rc = fio_delete(env, path);
  if (!rc && there) rc = fio_sync_dir(env, dir);
  fio_env_free(env);
  mm_free(path);
  return rc;
}

void dm_clear(dm_mark *m) {
  mm_free(m->name);
  mm_free(m->db);
  m->name = NULL;
  m->db = NULL;
}

static char *link_path(const char *parent, const char *target) {
  size_t n = strlen(parent) + sizeof DM_LINK_PREFIX + 18;
  char *p = mm_malloc(n);
  if (p)
    snprintf(p, n, "%s/" DM_LINK_PREFIX "%016llx", parent,
             (unsigned long long)cd_xxh3(target, strlen(target)));
  return p;
}

int dm_link(const char *parent, const char *target) {
  char *path = link_path(parent, target);
  if (!path) return st_err(LSM_NOMEM, "out of memory");
  int rc = LSM_OK;
  if (mkdir(parent, 0777) != 0 && errno != EEXIST)
    rc = st_err(LSM_IOERR, "cannot create %s: %s", parent, strerror(errno));
  else if (symlink(target, path) != 0 && errno != EEXIST)
    rc = st_err(LSM_IOERR, "cannot link %s to %s: %s", path, target, strerror(errno));
  fio_env *env = NULL;
  if (!rc) rc = fio_env_new(FIO_SYNC, &env);
  if (!rc) rc = fio_sync_dir(env, parent);
  fio_env_free(env);
  mm_free(path);
  return rc;
}

void dm_unlink(const char *parent, const char *target) {
  char *path = link_path(parent, target);
  if (path) unlink(path);
  mm_free(path);
}

int dm_is_link_name(const char *name) {
  return strncmp(name, DM_LINK_PREFIX, sizeof DM_LINK_PREFIX - 1) == 0;
}
