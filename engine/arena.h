/*
** arena.h — bump allocator for the memtable: many small allocations, freed all at once.
**
** Memory comes in chunks from mm_malloc or, from ARENA_MAP_MIN bytes on, mm_map. Chunks start small (ARENA_MIN_CHUNK) and double up to
** ARENA_MAX_CHUNK, so a tiny memtable does not reserve a megabyte up front while a big one pays
** at most one chunk of slack. An allocation larger than a quarter of the current chunk size gets
** a chunk of its own (the current chunk keeps serving small requests, so little is wasted).
** Every pointer returned is aligned to sizeof(void *) (enough for the atomic pointers inside
** skiplist nodes).
**
** arena_reserve() guarantees that the next allocations, up to a total of n bytes including their
** alignment padding, succeed: the memtable uses it to apply a whole write batch or nothing.
**
** Thread safety: arena_alloc/arena_reserve/arena_free_all REQUIRE external synchronization
** (one writer). arena_bytes/arena_used may be called from any thread at any time (relaxed
** atomic counters).
*/
#ifndef LSMVTAB_ARENA_H
#define LSMVTAB_ARENA_H

#include <stdatomic.h>
#include <stddef.h>

#define ARENA_MIN_CHUNK (16u * 1024u)
#define ARENA_MAX_CHUNK (1024u * 1024u)
#define ARENA_ALIGN (sizeof(void *))
/* Chunks of at least this many bytes (header included) come from mm_map, smaller ones from
** mm_malloc: a big memtable's memory (all of it but its first 240 KiB) goes back to the OS
** when the memtable is freed; tiny memtables (transactions' overlays) cost no system call. */
#define ARENA_MAP_MIN (256u * 1024u)

typedef struct arena_chunk arena_chunk;

typedef struct arena {
  arena_chunk *chunks;     /* singly linked list of every chunk (the owner of the memory) */
  unsigned char *ptr;      /* next free byte of the current chunk */
  size_t left;             /* bytes left in the current chunk */
  size_t next_chunk;       /* size of the next regular chunk (doubles up to ARENA_MAX_CHUNK) */
  _Atomic size_t reserved; /* bytes obtained from mm_malloc (chunks + their headers) */
  _Atomic size_t used;     /* bytes handed out by arena_alloc, padding included */
} arena;

/* Initialise an empty arena (no allocation, cannot fail). */
void arena_init(arena *a);

/* Allocate n bytes (n > 0), aligned to ARENA_ALIGN, into *out. LSM_OK or LSM_NOMEM (message
** recorded; the arena is unchanged). The memory lives until arena_free_all. */
int arena_alloc(arena *a, size_t n, void **out);

/* Make sure allocations totalling n bytes (each rounded up to ARENA_ALIGN) will succeed without
** calling mm_malloc. LSM_OK or LSM_NOMEM (arena unchanged). */
int arena_reserve(arena *a, size_t n);

/* Bytes of memory held (what the arena costs). */
size_t arena_bytes(const arena *a);
/* Bytes handed out (what the entries use); <= arena_bytes. */
size_t arena_used(const arena *a);

/* Free every chunk; the arena is empty again (re-usable). */
void arena_free_all(arena *a);

#endif
