#include "mm.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Allocations left before injected failure; negative = never fail. */
static _Atomic long mm_budget = -1;
static _Atomic long mm_failed = 0;

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

void *mm_malloc(size_t n) { return mm_should_fail() ? NULL : malloc(n ? n : 1); }

void *mm_calloc(size_t count, size_t size) {
  return mm_should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *mm_realloc(void *p, size_t n) { return mm_should_fail() ? NULL : realloc(p, n ? n : 1); }

void mm_free(void *p) { free(p); }

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
