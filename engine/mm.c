#include "mm.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Allocations left before injected failure; negative = never fail. */
static _Atomic long mm_budget = -1;
static _Atomic long mm_failed = 0;
/* Bytes held by live allocations, as the C library counts them (malloc_usable_size). */
static _Atomic size_t mm_live = 0;
/* Count malloc'd bytes too (mm_count_heap): off by default, as the shared counter costs an
** atomic add per allocation and free (~4 % of a seek+10 next, which allocates ~20 times). */
static int mm_heap_on = 0;

static void *mm_count(void *p) {
  if (p && mm_heap_on) atomic_fetch_add_explicit(&mm_live, malloc_usable_size(p), memory_order_relaxed);
  return p;
}

void mm_count_heap(void) { mm_heap_on = 1; }

static int mm_should_fail(void) {
  long b = atomic_load_explicit(&mm_budget, memory_order_relaxed);
  if (b < 0) return 0;
  if (b == 0) {
    atomic_fetch_add(&mm_failed, 1);
    return 1;
  }
  atomic_fetch_sub(&mm_budget, 1);
  return 0;
}

void *mm_malloc(size_t n) { return mm_should_fail() ? NULL : mm_count(malloc(n ? n : 1)); }

void *mm_calloc(size_t count, size_t size) {
  return mm_should_fail() ? NULL : mm_count(calloc(count ? count : 1, size ? size : 1));
}

void *mm_realloc(void *p, size_t n) {
  if (mm_should_fail()) return NULL;
  if (!mm_heap_on) return realloc(p, n ? n : 1);
  size_t old = p ? malloc_usable_size(p) : 0;
  void *q = realloc(p, n ? n : 1);
  if (!q) return NULL;
  atomic_fetch_sub_explicit(&mm_live, old, memory_order_relaxed);
  return mm_count(q);
}

void mm_free(void *p) {
  if (!p) return;
  if (mm_heap_on) atomic_fetch_sub_explicit(&mm_live, malloc_usable_size(p), memory_order_relaxed);
  free(p);
}

static size_t page_round(size_t n) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  return n > SIZE_MAX - pg ? 0 : (n + pg - 1) & ~(pg - 1);
}

void *mm_map(size_t n) {
  size_t len = page_round(n ? n : 1);
  if (!len || mm_should_fail()) return NULL;
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  atomic_fetch_add_explicit(&mm_live, len, memory_order_relaxed);
  return p;
}

void mm_unmap(void *p, size_t n) {
  if (!p) return;
  size_t len = page_round(n ? n : 1);
  atomic_fetch_sub_explicit(&mm_live, len, memory_order_relaxed);
  munmap(p, len);
}

size_t mm_live_bytes(void) { return atomic_load_explicit(&mm_live, memory_order_relaxed); }

void *mm_dup(const void *p, size_t n) {
  char *q = mm_malloc(n + 1);
  if (!q) return NULL;
  if (n) memcpy(q, p, n);
  q[n] = 0;
  return q;
}

char *mm_strdup(const char *s) { return mm_dup(s, strlen(s)); }

long mm_fail_after(long n) {
  atomic_store(&mm_budget, n);
  return atomic_exchange(&mm_failed, 0);
}
