/*
** overlay.h — a transaction's pending writes (prefix ov_): an ordered map from key bytes to
** "put value" / "deleted", layered over the engine, with
**   - versions, so a cursor reads the overlay as of the moment it started (an UPDATE scanning a
**     range never sees the rows it wrote itself), and
**   - an undo log, so savepoints (and SQLite's statement rollback) can be rolled back.
**
** Structure: a skiplist of nodes (one per key ever written in the transaction; nodes are never
** removed before the overlay is freed, so a cursor's node pointer stays valid), plus a hash
** index for point lookups; a new node is linked into the skiplist lazily, at the next ordered
** access (ov_first, ov_last, ov_seek_*, ov_prev), so a transaction of random writes sorts its
** keys once instead of walking the list per write. ov_next from a node never sees a node created
** after the ordered access that found it (such a node holds only versions newer than any
** snapshot taken before that access, so no reader of that snapshot needs it). Each node holds
** a chain of versions, newest first; an empty chain means "not written: read the engine".
** Each write carries the overlay's current sequence number; ov_snapshot() returns the current
** number and starts a new one, and a reader at snapshot s sees, per key, the newest version with
** seq <= s. A write overwrites the newest version in place when no reader and no savepoint can
** see the old one, so a plain bulk INSERT keeps one version per key.
** Versions removed by a rollback are parked until ov_free (a cursor may still point at them).
**
** Memory: everything written in the transaction is held here until commit (a multi-million row
** INSERT holds all its rows in memory). ov_bytes() is the memory held (every allocation the
** overlay has made and not freed); ov_write_cost() bounds what one more write adds, so a caller
** can keep ov_bytes() under a bound by refusing a write before it is made.
**
** Lifetime: refcounted (ov_ref/ov_unref); the vtab holds one ref while the transaction is open,
** each cursor reading it holds one. Thread safety: none; used by one connection's thread.
** Errors: LSM_NOMEM, LSM_TOOBIG (nothing changed).
*/
#ifndef LSMVTAB_OVERLAY_H
#define LSMVTAB_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct ov_overlay ov_overlay;
typedef struct ov_node ov_node;

enum { OV_ABSENT = 0, OV_PUT = 1, OV_DEL = 2 };

int ov_new(ov_overlay **out);
/* A hint: make room for n keys in all up front (n is capped at OV_RESERVE_MAX), so that a
** transaction about the size of the previous one does not grow its hash index by doubling
** (each step a rehash of every node). LSM_OK or LSM_NOMEM (nothing changed, still usable). */
#define OV_RESERVE_MAX 16384
int ov_reserve(ov_overlay *o, size_t n);
void ov_ref(ov_overlay *o);
void ov_unref(ov_overlay *o); /* frees at zero; NULL is a no-op */

/* Record a put (val != NULL) or a delete (val == NULL) of key k: LSM_OK, LSM_NOMEM, or
** LSM_TOOBIG for a key over LSM_MAX_KEY or a value over LSM_MAX_VALUE bytes (nothing changed). */
int ov_put(ov_overlay *o, const void *k, size_t kn, const void *v, size_t vn);
int ov_del(ov_overlay *o, const void *k, size_t kn);

/* Current sequence for readers: returns s; later writes are invisible at s. */
uint64_t ov_snapshot(ov_overlay *o);
#define OV_LATEST UINT64_MAX

/* State of key k at snapshot s: OV_ABSENT (read the engine), OV_PUT (v and vn set; borrowed,
** valid until ov_free) or OV_DEL. */
int ov_get(ov_overlay *o, uint64_t s, const void *k, size_t kn, const void **v, size_t *vn);

/* 1 if key k was written after snapshot s (a version newer than s exists), else 0. */
int ov_written_since(ov_overlay *o, uint64_t s, const void *k, size_t kn);

/* Node navigation (for merging with an engine iterator). NULL = none. */
ov_node *ov_first(ov_overlay *o);
ov_node *ov_last(ov_overlay *o);
ov_node *ov_seek_ge(ov_overlay *o, const void *k, size_t kn);  /* first node with key >= k */
ov_node *ov_seek_le(ov_overlay *o, const void *k, size_t kn);  /* last node with key <= k */
ov_node *ov_next(ov_node *n);
ov_node *ov_prev(ov_overlay *o, ov_node *n);
void ov_node_key(const ov_node *n, const void **k, size_t *kn);
/* State of node n at snapshot s, like ov_get. */
int ov_node_state(const ov_node *n, uint64_t s, const void **v, size_t *vn);
/* The seq of the version of node n a reader at snapshot s sees (its write came after every
** snapshot below it), or 0 when it sees none. Versions carry seqs >= 1. */
uint64_t ov_node_seq(const ov_node *n, uint64_t s);

/* Savepoints: ov_savepoint(i) opens savepoint i (and every lower one not open yet);
** ov_release(i) forgets savepoints >= i (their changes stay); ov_rollback_to(i) undoes every
** change made since savepoint i was opened (savepoint i stays open). */
int ov_savepoint(ov_overlay *o, int i);
void ov_release(ov_overlay *o, int i);
void ov_rollback_to(ov_overlay *o, int i);
/* Number of savepoints open (the highest open index + 1; 0 for none). */
int ov_depth(const ov_overlay *o);
/* Opening a savepoint takes a snapshot (ov_snapshot): a reader at ov_savepoint_seq(o, i) sees
** the state as of savepoint i's opening, which is what ov_rollback_to(i) returns to (a spill
** writes the state at each savepoint apart, so that the runs after it can be dropped). 0 for a
** savepoint not open. */
uint64_t ov_savepoint_seq(const ov_overlay *o, int i);

/* Number of keys with a pending change, and the bytes of memory the overlay holds (its chunks of
** nodes and versions, hash index, and arrays; not the C library's own overhead per block). */
size_t ov_count(const ov_overlay *o);
size_t ov_bytes(const ov_overlay *o);
/* How much ov_bytes() grows by an ov_put of key k and a value of vn bytes (ov_del: vn = 0) made
** now (an upper bound: a new key's node is counted at the skiplist's greatest height). */
size_t ov_write_cost(const ov_overlay *o, const void *k, size_t kn, size_t vn);

#endif
