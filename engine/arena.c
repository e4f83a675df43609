/* arena.c — see arena.h. */
#include "arena.h"

#include <stdint.h>

#include "mm.h"
#include "status.h"

struct arena_chunk {
  arena_chunk *next;
  size_t size; /* usable bytes after the header */
  /* data follows, aligned: the header is two pointer-sized words */
};

void arena_init(arena *a) {
  a->chunks = NULL;
  a->ptr = NULL;
  a->left = 0;
  a->next_chunk = ARENA_MIN_CHUNK;
  atomic_init(&a->reserved, 0);
  atomic_init(&a->used, 0);
}

static size_t round_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1); }

/* A new chunk with `size` usable bytes, linked into the list. NULL on OOM (message recorded). */
static unsigned char *new_chunk(arena *a, size_t size) {
  if (size > SIZE_MAX - sizeof(arena_chunk)) {
    st_err(LSM_NOMEM, "arena: allocation of %zu bytes too large", size);
    return NULL;
  }
  size_t total = sizeof(arena_chunk) + size;
  arena_chunk *c = total >= ARENA_MAP_MIN ? mm_map(total) : mm_malloc(total);
  if (!c) {
    st_err(LSM_NOMEM, "arena: out of memory allocating a %zu byte chunk", size);
    return NULL;
  }
  c->size = size;
  c->next = a->chunks;
  a->chunks = c;
  atomic_fetch_add_explicit(&a->reserved, sizeof(arena_chunk) + size, memory_order_relaxed);
  return (unsigned char *)(c + 1);
}

/* Make a fresh regular chunk of at least `min` bytes the current one. */
static int switch_chunk(arena *a, size_t min) {
  size_t size = a->next_chunk;
  if (size < min) size = round_up(min);
  unsigned char *p = new_chunk(a, size);
  if (!p) return LSM_NOMEM;
  a->ptr = p;
  a->left = size;
  if (a->next_chunk < ARENA_MAX_CHUNK) a->next_chunk *= 2;
  return LSM_OK;
}

int arena_alloc(arena *a, size_t n, void **out) {
  if (n == 0) n = 1;
  if (n > SIZE_MAX - ARENA_ALIGN) return st_err(LSM_NOMEM, "arena: allocation of %zu bytes too large", n);
  size_t need = round_up(n);
  if (need > a->left) {
    if (need > a->next_chunk / 4) {
      /* Oversized: its own chunk, the current chunk stays current. */
      unsigned char *p = new_chunk(a, need);
      if (!p) return LSM_NOMEM;
      atomic_fetch_add_explicit(&a->used, need, memory_order_relaxed);
      *out = p;
      return LSM_OK;
    }
    int rc = switch_chunk(a, need);
    if (rc) return rc;
  }
  *out = a->ptr;
  a->ptr += need;
  a->left -= need;
  atomic_fetch_add_explicit(&a->used, need, memory_order_relaxed);
  return LSM_OK;
}

int arena_reserve(arena *a, size_t n) {
  if (n > SIZE_MAX / 2) return st_err(LSM_NOMEM, "arena: reservation of %zu bytes too large", n);
  if (n <= a->left) return LSM_OK;
  /* The rest of the current chunk is abandoned: the next allocations come from the new one. */
  return switch_chunk(a, n);
}

size_t arena_bytes(const arena *a) {
  return atomic_load_explicit(&((arena *)a)->reserved, memory_order_relaxed);
}

size_t arena_used(const arena *a) {
  return atomic_load_explicit(&((arena *)a)->used, memory_order_relaxed);
}

void arena_free_all(arena *a) {
  arena_chunk *c = a->chunks;
  while (c) {
    arena_chunk *next = c->next;
    size_t total = sizeof(arena_chunk) + c->size;
    if (total >= ARENA_MAP_MIN) mm_unmap(c, total);
    else mm_free(c);
    c = next;
  }
  arena_init(a);
}
