/* bench_util.h — helpers shared by bench/bench_engine.c and bench/bench_sql.c (header-only:
** static functions, each benchmark is one translation unit).
**
** - bench_rnd(&state): xorshift64* step; each benchmark keeps its own state and seeds it.
** - mix(): the splitmix64 finalizer.
** - perm: a permutation of [0, n) without a table (a 10 MiB-key table would show in peak RSS):
**   a 4-round Feistel network over the next even power of two, cycle-walking into range.
** - du_cb / rm_cb: nftw callbacks summing regular file sizes into du_bytes / removing each entry;
**   dir_bytes(), rm_rf() wrap them for a directory tree.
** - warm_cb: nftw callback reading each regular file once, start to end (bench_sql's pre-read).
*/
#ifndef LSMVTAB_BENCH_UTIL_H
#define LSMVTAB_BENCH_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

static inline uint64_t bench_rnd(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t mix(uint64_t x) { /* splitmix64 finalizer */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

typedef struct perm {
  uint64_t n, seed;
  int half;
} perm;
static inline void perm_init(perm *p, uint64_t n, uint64_t seed) {
  int bits = 2;
  while ((1ULL << bits) < n) bits++;
  bits += bits & 1;
  p->n = n;
  p->seed = seed;
  p->half = bits / 2;
}
static inline uint64_t perm_at(const perm *p, uint64_t i) {
  uint64_t mask = (1ULL << p->half) - 1, x = i;
  do {
    uint64_t l = x >> p->half, r = x & mask;
    for (int k = 0; k < 4; k++) {
      uint64_t t = l ^ (mix(r ^ (p->seed + (uint64_t)k * 0x9e3779b97f4a7c15ULL)) & mask);
      l = r;
      r = t;
    }
    x = (l << p->half) | r;
  } while (x >= p->n);
  return x;
}

static uint64_t du_bytes;
static inline int du_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)p, (void)f;
  if (flag == FTW_F) du_bytes += (uint64_t)st->st_size;
  return 0;
}
static inline uint64_t dir_bytes(const char *dir) {
  du_bytes = 0;
  nftw(dir, du_cb, 16, FTW_PHYS);
  return du_bytes;
}
static inline int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st, (void)flag, (void)f;
  remove(p);
  return 0;
}
static inline void rm_rf(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static inline int warm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st, (void)f;
  if (flag != FTW_F) return 0;
  static char buf[1 << 20];
  FILE *fp = fopen(p, "rb");
  if (!fp) return 0; /* a file a compaction just deleted: nothing to read */
  while (fread(buf, 1, sizeof buf, fp) == sizeof buf) {
  }
  fclose(fp);
  return 0;
}

#endif
