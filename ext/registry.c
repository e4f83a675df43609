/*
** registry.c — process-wide registry of shared engines; see registry.h.
*/
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mm.h"

struct reg_entry {
  reg_entry *next;
  char *path;
  lsm_db *db;
  int refs;
  int remove;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static reg_entry *reg_list;

int reg_mkdirs(const char *dir) {
  char *p = mm_strdup(dir);
  if (!p) return st_err(LSM_NOMEM, "out of memory");
  int rc = LSM_OK;
  for (char *s = p + 1;; s++) {
    if (*s == '/' || *s == 0) {
      char c = *s;
      *s = 0;
      if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        rc = st_errno(errno, LSM_IOERR, "cannot create directory %s", p);
        break;
      }
      *s = c;
      if (!c) break;
    }
  }
  mm_free(p);
  return rc;
}

int reg_remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? LSM_OK : st_errno(errno, LSM_IOERR_DELETE, "opendir %s", dir);
  struct dirent *de;
  int rc = LSM_OK;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    size_t n = strlen(dir) + strlen(de->d_name) + 2;
    char *f = mm_malloc(n);
    if (!f) { rc = st_err(LSM_NOMEM, "out of memory"); break; }
    snprintf(f, n, "%s/%s", dir, de->d_name);
    struct stat st;
    if (lstat(f, &st) == 0 && S_ISDIR(st.st_mode)) rc = reg_remove_dir(f);
    else if (unlink(f) != 0 && errno != ENOENT)
      rc = st_errno(errno, LSM_IOERR_DELETE, "unlink %s", f);
    mm_free(f);
    if (rc) break;
  }
  closedir(d);
  if (!rc && rmdir(dir) != 0 && errno != ENOENT)
    rc = st_errno(errno, LSM_IOERR_DELETE, "rmdir %s", dir);
  return rc;
}

int reg_open(const char *dir, const lsm_options *o, reg_entry **out) {
  *out = NULL;
  int rc = o->create_if_missing ? reg_mkdirs(dir) : LSM_OK;
  if (rc) return rc;
  char *real = realpath(dir, NULL);
  if (!real) return st_errno(errno, LSM_CANTOPEN, "cannot resolve %s", dir);
  pthread_mutex_lock(&reg_mu);
  reg_entry *e;
  for (e = reg_list; e; e = e->next)
    if (!strcmp(e->path, real)) break;
  if (e) {
    e->refs++;
  } else if (!(e = mm_calloc(1, sizeof *e)) || !(e->path = mm_strdup(real))) {
    mm_free(e);
    e = NULL;
    rc = st_err(LSM_NOMEM, "out of memory");
  } else if ((rc = lsm_open(real, o, &e->db)) != LSM_OK) {
    /* (other errors keep the engine's message) */
    if (LSM_PRIMARY(rc) == LSM_BUSY)
      st_err(rc, "table directory %s is locked by another process", real);
    mm_free(e->path);
    mm_free(e);
    e = NULL;
  } else {
    e->refs = 1;
    e->next = reg_list;
    reg_list = e;
  }
  pthread_mutex_unlock(&reg_mu);
  free(real);
  *out = e;
  return rc;
}

int reg_close(reg_entry *e) {
  if (!e) return LSM_OK;
  int rc = LSM_OK;
  pthread_mutex_lock(&reg_mu);
  if (--e->refs == 0) {
    for (reg_entry **pp = &reg_list; *pp; pp = &(*pp)->next)
      if (*pp == e) { *pp = e->next; break; }
    rc = lsm_close(e->db);
    if (e->remove) {
      int rc2 = reg_remove_dir(e->path);
      if (!rc) rc = rc2;
    }
    mm_free(e->path);
    mm_free(e);
  }
  pthread_mutex_unlock(&reg_mu);
  return rc;
}

lsm_db *reg_db(const reg_entry *e) { return e->db; }
const char *reg_dir(const reg_entry *e) { return e->path; }

int reg_refs(reg_entry *e) {
  pthread_mutex_lock(&reg_mu);
  int n = e->refs;
  pthread_mutex_unlock(&reg_mu);
  return n;
}

void reg_mark_remove(reg_entry *e) {
  pthread_mutex_lock(&reg_mu);
  e->remove = 1;
  pthread_mutex_unlock(&reg_mu);
}

int reg_discard(const char *dir, int *deferred) {
  *deferred = 0;
  char *real = realpath(dir, NULL);
  if (!real) return errno == ENOENT ? LSM_OK : st_errno(errno, LSM_IOERR, "cannot resolve %s", dir);
  int rc = LSM_OK;
  pthread_mutex_lock(&reg_mu);
  reg_entry *e;
  for (e = reg_list; e; e = e->next)
    if (!strcmp(e->path, real)) break;
  if (e) {
    e->remove = 1;
    *deferred = 1;
  } else {
    rc = reg_remove_dir(real);
  }
  pthread_mutex_unlock(&reg_mu);
  free(real);
  return rc;
}
