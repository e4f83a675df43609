/*
** registry.h — the process-wide registry of open engines (prefix reg_).
**
** Every connection of this process that opens the same table directory shares one lsm_db:
** entries are keyed by the directory's realpath and reference counted; the engine is closed
** when the last reference goes. Another process holding the directory makes lsm_open fail with
** LSM_BUSY ("locked by another process"), which is passed through.
** An entry can be marked for removal (DROP TABLE, or a temporary directory): its files and the
** directory are removed when the last reference goes.
**
** Thread safety: all functions are safe from any thread (one global mutex). The lsm_db itself
** is thread-safe (lsm.h).
*/
#ifndef LSMVTAB_REGISTRY_H
#define LSMVTAB_REGISTRY_H

#include "lsm.h"

typedef struct reg_entry reg_entry;

/* Open (or share) the engine of directory `dir`, creating the directory and its parents if
** missing when o->create_if_missing (otherwise a missing database is the engine's LSM_CANTOPEN).
** `o` is used only by the first opener. On success *out holds one reference (else NULL). */
int reg_open(const char *dir, const lsm_options *o, reg_entry **out);

/* Drop one reference; at zero close the engine (and remove the files if marked). The status is
** that of lsm_close/removal; the reference is dropped in any case. NULL is a no-op. */
int reg_close(reg_entry *e);

lsm_db *reg_db(const reg_entry *e);
const char *reg_dir(const reg_entry *e); /* the realpath; valid while referenced */
int reg_refs(reg_entry *e);

/* Remove the directory and its files when the last reference goes. */
void reg_mark_remove(reg_entry *e);

/* Remove directory `dir` and its files now, or, while an engine of this process has it open,
** when that engine's last reference goes (*deferred = 1). Atomic with respect to reg_open: no
** engine can open the directory between the check and the removal. A missing dir is LSM_OK. */
int reg_discard(const char *dir, int *deferred);

/* mkdir -p. LSM_OK if it exists afterwards. */
int reg_mkdirs(const char *dir);

/* Remove a directory tree's files (one level: the engine keeps its files flat) and the dir. */
int reg_remove_dir(const char *dir);

#endif
