/*
** dropmark.c — the marker of a table dropped inside a transaction; see dropmark.h.
*/
#include "dropmark.h"

#include <stdio.h>
#include <string.h>

#include "coding.h"
#include "fio.h"
#include "mm.h"
#include "status.h"

static const uint8_t dm_magic[8] = {'L', 'S', 'M', 'D', 'R', 'O', 'P', 0};
#define DM_VERSION 1
#define DM_HEAD 36 /* magic, version, pid, conn, dversion, name_len */

int dm_encode(const dm_mark *m, uint8_t *buf, size_t cap, size_t *n) {
  size_t len = strlen(m->name);
  if (len > DM_NAME_MAX) return st_err(LSM_ERROR, "drop marker: table name too long");
  if (cap < DM_HEAD + len + 8) return st_err(LSM_ERROR, "drop marker: buffer too small");
  memcpy(buf, dm_magic, 8);
  cd_put_fixed32(buf + 8, DM_VERSION);
  cd_put_fixed64(buf + 12, m->pid);
  cd_put_fixed64(buf + 20, m->conn);
  cd_put_fixed32(buf + 28, m->dversion);
  cd_put_fixed32(buf + 32, (uint32_t)len);
  memcpy(buf + DM_HEAD, m->name, len);
  cd_put_fixed64(buf + DM_HEAD + len, cd_xxh3(buf, DM_HEAD + len));
  *n = DM_HEAD + len + 8;
  return LSM_OK;
}

int dm_decode(const uint8_t *buf, size_t n, dm_mark *m) {
  if (n < DM_HEAD + 8) return ST_CORRUPT("drop marker: %zu bytes, too short", n);
  if (memcmp(buf, dm_magic, 8)) return ST_CORRUPT("drop marker: bad magic");
  uint32_t ver = cd_get_fixed32(buf + 8), len = cd_get_fixed32(buf + 32);
  if (ver != DM_VERSION) return ST_CORRUPT("drop marker: unknown version %u", (unsigned)ver);
  if (len > DM_NAME_MAX || n != DM_HEAD + (size_t)len + 8)
    return ST_CORRUPT("drop marker: size %zu does not match a %u-byte name", n, (unsigned)len);
  if (cd_get_fixed64(buf + DM_HEAD + len) != cd_xxh3(buf, DM_HEAD + len))
    return ST_CORRUPT("drop marker: checksum mismatch");
  char *name = mm_malloc((size_t)len + 1);
  if (!name) return st_err(LSM_NOMEM, "out of memory");
  memcpy(name, buf + DM_HEAD, len);
  name[len] = 0;
  m->pid = cd_get_fixed64(buf + 12);
  m->conn = cd_get_fixed64(buf + 20);
  m->dversion = cd_get_fixed32(buf + 28);
  m->name = name;
  return LSM_OK;
}

static char *mark_path(const char *dir) {
  size_t n = strlen(dir) + sizeof DM_FILE + 1;
  char *p = mm_malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, DM_FILE);
  return p;
}

int dm_write(const char *dir, const dm_mark *m) {
  uint8_t buf[DM_HEAD + DM_NAME_MAX + 8];
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
    uint8_t buf[DM_HEAD + DM_NAME_MAX + 8 + 1]; /* one more: a longer file is corrupt */
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
  m->name = NULL;
}
