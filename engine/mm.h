/*
** mm.h — the engine's one allocation hook.
**
** Every engine allocation goes through mm_malloc/mm_calloc/mm_realloc/mm_free, so tests can
** make the N-th allocation fail and check that LSM_NOMEM comes back with nothing leaked.
** Out of memory is always returned as LSM_NOMEM to the caller; the engine never aborts.
**
** Thread safety: all functions are thread-safe. mm_fail_after() is a test hook; set it while
** no other thread allocates.
*/
#ifndef LSMVTAB_MM_H
#define LSMVTAB_MM_H

#include <stddef.h>

/* Like malloc/calloc/realloc/free; NULL on failure (or injected failure). mm_free(NULL) is a
** no-op. Memory from these is released with mm_free only. */
void *mm_malloc(size_t n);
void *mm_calloc(size_t count, size_t size);
void *mm_realloc(void *p, size_t n);
void mm_free(void *p);

/* Copy of n bytes (plus a NUL after them, so text can be used as a C string); NULL on OOM. */
void *mm_dup(const void *p, size_t n);
/* Copy of a C string; NULL on OOM. */
char *mm_strdup(const char *s);

/* Large blocks straight from the OS (anonymous mmap), zero-filled, page-aligned; NULL on failure
** (or injected failure). For big buffers that live long and are freed in bulk (the memtable's
** arena chunks): unmapping gives the pages back at once, so the C library can neither keep
** them (a freed 64 MiB memtable stayed resident in malloc's heap, ready for reuse only by
** allocations that fit its holes) nor interleave small long-lived allocations with them.
** mm_unmap takes the size given to mm_map; mm_unmap(NULL, n) is a no-op. Counted in
** mm_live_bytes (rounded up to pages). */
void *mm_map(size_t n);
void mm_unmap(void *p, size_t n);

/* Bytes currently held by mm allocations, process-wide (all databases): mm_map blocks always;
** mm_malloc'd ones (as the C library sizes them, malloc_usable_size) only after
** mm_count_heap(). Relaxed: exact when no other thread allocates. For statistics, debugging
** (bench_engine BENCH_RSS=1) and tests of memory bounds. */
size_t mm_live_bytes(void);
/* Debug hook: count mm_malloc'd bytes in mm_live_bytes from now on (costs an atomic add per
** allocation and free). REQUIRES: called once, before anything was allocated with mm
** (a block allocated before would be subtracted when freed without having been added). */
void mm_count_heap(void);

/* Test hook: after `n` more successful allocations, every allocation fails until reset with
** n < 0 (the default). Returns the number of allocations that failed since the last call. */
long mm_fail_after(long n);

#endif
