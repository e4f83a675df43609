/*
** fio_crash.h — a power-loss simulating fio backend for tests (prefix fio_crash_).
**
** Like SQLite's crash VFS (test6.c) and Pebble's crashable MemFS: a wrapper around another env
** that passes every operation through but remembers what is NOT yet durable:
**   - each write (and truncate) since the file's last fio_sync, with the bytes it overwrote;
**   - each rename and delete since the last fio_sync_dir of the directory (the replaced or
**     deleted file is kept as a hard link in "<dir>.crashbak/" so it can come back);
**   - the names present at the last directory sync (files created since may vanish).
** At the N-th sync (fio_sync or fio_sync_dir, counted from creation; N = crash_at) the power
** "fails": that sync does not happen and it and every later write, sync, truncate, rename and
** delete fail with EIO (nothing more reaches the disk; reads still work). The owner then closes
** what it has open and calls fio_crash_apply, which turns the files into one state the disk
** could hold after the power loss, choosing at random (seeded):
**   - every write not yet synced is kept, dropped (old bytes back; a dropped append at the end
**     of the file is cut off, one below kept data becomes zeros) or garbled (random bytes);
**     they are undone newest first;
**   - the renames/deletes since the last directory sync are undone newest first down to a
**     random point (the journal keeps metadata in order);
**   - files created since the last directory sync vanish, each with probability 1/2.
** Only the directory registered with fio_crash_track_dir is modelled (the db directory).
**
** Thread safety: the env may be used by many threads (state under a mutex), like any env.
** fio_crash_apply runs when nothing uses the env any more.
*/
#ifndef LSMVTAB_FIO_CRASH_H
#define LSMVTAB_FIO_CRASH_H

#include <stdint.h>

#include "fio.h"

/* A crash-simulating wrapper around `inner` (not owned; it must outlive the wrapper). crash_at:
** the 1-based sync that fails (0 = never). seed: the random choices of fio_crash_apply. */
int fio_env_crash(fio_env *inner, long crash_at, uint64_t seed, fio_env **out);

/* Model directory `dir` (existing, flat): its current names are taken as durable. Call before
** the first operation on the directory. One directory per env. */
int fio_crash_track_dir(fio_env *env, const char *dir);

/* Syncs seen so far (file and directory syncs, the failed one included). */
long fio_crash_syncs(fio_env *env);

/* 1 once the power has failed. */
int fio_crash_crashed(fio_env *env);

/* Make the on-disk state one the power loss could leave (see the top). Call once, after the
** crash, with every file of the env closed; the env is useless afterwards (free it).
** *summary (may be NULL) gets a static-buffer text of the choices made, for messages. */
int fio_crash_apply(fio_env *env, const char **summary);

#endif
