/* bench_engine — db_bench-style phases over the engine's C API (lsm.h), and the same phases on
** RocksDB and LevelDB through kv.h adapters when their headers were found at build time.
**
** Workload: 16-byte keys (decimal of 2*i, so the odd numbers are the missing keys), 100-byte
** values (half-compressible by default: 50 random bytes repeated, like db_bench's
** compression_ratio=0.5; -v random for incompressible), fixed seed. Each engine runs in a forked
** child on a fresh directory (own peak RSS, own /proc/self/io counters), phases in order:
**   fillseq      N puts, ascending keys, on a fresh database (then dropped)
**   fillrandom   N puts, every key once in a random order (a Feistel permutation) — fresh db
**   overwrite    N puts of random existing keys
**   (settle: flush + wait for compaction; write amp and space amp are measured here)
**   readrandom   R gets of random existing keys (every one must be found)
**   readmissing  R gets of random missing keys (none may be found)
**   seekrandom   R/4 x (seek to a random key + 10 next)
**   readseq      full forward scan (must see N keys)
**   readreverse  full backward scan
**   multiget     R keys in batches of 32 through the batched read path
**   deleterandom N deletes, every key once in another random order
** Metrics: ops/s, MB/s (key+value bytes moved), p50/p99 latency per op (per batch of 32 for
** multiget, per seek+10 next for seekrandom), write amplification = bytes the process wrote
** (/proc/self/io wchar: WAL, flushes, compactions, manifests) / user key+value bytes — the same
** measure for every engine — plus the engine's own figure (lsm_get_stats) for lsm, space
** amplification = directory bytes / (N * 116) after settle, peak RSS (VmHWM).
**
** Cold phase (lsm only, root only, else skipped with a message): a database of N keys, compacted
** whole (lsm_compact_range: every configuration reads the same tables), then for io in
** {sync, uring} x {buffered, direct_io}: echo 1 > /proc/sys/vm/drop_caches, reopen, C random
** gets; drop caches again, C keys by multiget in batches of 32. Files per level at each phase on
** stderr; CPU per key and each run's uring/sync multiget ratio in the output.
**
** Usage: bench_engine [-n N] [-r R] [-R runs] [-e lsm,rocksdb,leveldb] [-v half|random]
**                     [-z zstd|lz4|none] [-c cold_reads] [-C] (cold phase only) [-W] (warm phases
**                     only) [-p phase,...] (only these warm phases; any phase after fillrandom
**                     brings fillrandom, e.g. -p fillrandom,overwrite: the write phases and the
**                     write amp of what ran) [-V] (each engine's files, and lsm's statistics,
**                     on stderr)
** Environment defaults: BENCH_N (1000000), BENCH_READS (min(N, 1000000)), BENCH_RUNS (1).
** With runs > 1 every figure is the median over the runs. Output is Markdown.
*/
#include <errno.h>
#include <ftw.h>
#include <stddef.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kv.h"
#include "lsm.h"
#include "bench_util.h"
#include "mm.h"

#define KEY_LEN 16
#define VAL_LEN 100
#define MG_BATCH 32
#define SEEK_NEXT 10
#define MAX_RUNS 15
#define SEED 0x5eed1234abcdULL

enum { P_FILLSEQ, P_FILLRANDOM, P_OVERWRITE, P_READRANDOM, P_READMISSING, P_SEEKRANDOM,
       P_READSEQ, P_READREVERSE, P_MULTIGET, P_DELETERANDOM, NPHASE };
static const char *const phase_name[NPHASE] = {
    "fillseq", "fillrandom", "overwrite", "readrandom", "readmissing", "seekrandom",
    "readseq", "readreverse", "multiget", "deleterandom"};

/* Cold phase configurations. */
enum { NCOLD = 5 };
static const char *const cold_name[NCOLD] = {"sync buffered", "sync direct_io",
                                             "uring buffered", "uring direct_io",
                                             "uring direct_io, io_poll_us=1000"};

typedef struct phase_res {
  double ops_s, mb_s, p50_us, p99_us;
  double cpu_us; /* process CPU time (all threads, user+sys) per op: robust to a busy machine */
} phase_res;

typedef struct eng_res {
  int ok;
  phase_res ph[NPHASE];
  double wamp, own_wamp, samp, rss_mb, total_wamp, total_own_wamp;
  phase_res cold_get[NCOLD], cold_mg[NCOLD]; /* ops/s are keys/s */
} eng_res;

static uint64_t N, R, COLD_R = 20000;
static int half_compressible = 1, compress = 2 /* lz4, the engine's default */, verbose;
/* -p: the warm phases to run, one bit per phase (default all). Every phase after fillrandom
** reads or rewrites its database, so selecting any of them runs fillrandom too. */
static unsigned phases = (1u << NPHASE) - 1;
/* -o name=value: lsm options overriding the defaults (lsm only; for A/B runs of tuning knobs) */
static struct {
  const char *name;
  long long val;
  int set;
} lsm_opt[] = {{"l0_compaction_trigger", 0, 0}, {"level1_size", 0, 0}, {"target_file_size", 0, 0},
               {"memtable_size", 0, 0}, {"mmap_reads", 0, 0}};
#define NLSMOPT (int)(sizeof lsm_opt / sizeof lsm_opt[0])

static int parse_lsm_opt(const char *arg) {
  const char *eq = strchr(arg, '=');
  for (int i = 0; eq && i < NLSMOPT; i++)
    if (strlen(lsm_opt[i].name) == (size_t)(eq - arg) && !strncmp(arg, lsm_opt[i].name, (size_t)(eq - arg))) {
      lsm_opt[i].val = strtoll(eq + 1, NULL, 10);
      lsm_opt[i].set = 1;
      return 0;
    }
  return 1;
}
#define WANT(p) (phases & (1u << (p)))

/* "fillrandom,overwrite" -> a phase mask; 0 if a name is unknown. */
static unsigned parse_phases(const char *list) {
  char buf[256];
  unsigned m = 0;
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
    int p = 0;
    while (p < NPHASE && strcmp(s, phase_name[p]) != 0) p++;
    if (p == NPHASE) return 0;
    m |= 1u << p;
  }
  if (m >> (P_FILLRANDOM + 1)) m |= 1u << P_FILLRANDOM;
  return m;
}

/* ---------------------------------------------------------------- helpers */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, const char *a) {
  fprintf(stderr, "bench_engine: ");
  fprintf(stderr, fmt, a);
  fprintf(stderr, " (seed %#llx)\n", (unsigned long long)SEED);
  exit(1);
}

static uint64_t rng_state = SEED;
static uint64_t rnd(void) { return bench_rnd(&rng_state); }

static void key_of(char *k, uint64_t v) { /* 16 decimal digits, zero padded */
  for (int i = KEY_LEN - 1; i >= 0; i--) {
    k[i] = (char)('0' + v % 10);
    v /= 10;
  }
}

/* Values: a 1 MiB pool; value j is VAL_LEN bytes at a rolling offset. */
#define POOL (1u << 20)
static char *pool;
static size_t pool_pos;
static void pool_init(void) {
  pool = malloc(POOL + VAL_LEN);
  if (!pool) die("%s", "out of memory");
  uint64_t s = SEED ^ 0xabcdef;
  for (size_t i = 0; i < POOL + VAL_LEN; i += VAL_LEN) {
    size_t rand_n = half_compressible ? VAL_LEN / 2 : VAL_LEN;
    for (size_t j = 0; j < rand_n && i + j < POOL + VAL_LEN; j++) {
      s = mix(s + j);
      pool[i + j] = (char)s;
    }
    for (size_t j = rand_n; j < VAL_LEN && i + j < POOL + VAL_LEN; j++)
      pool[i + j] = pool[i + j - rand_n];
  }
}
static const char *next_val(void) {
  pool_pos += VAL_LEN + 7; /* not a multiple of VAL_LEN: values differ from run to run */
  if (pool_pos >= POOL) pool_pos -= POOL;
  return pool + pool_pos;
}

/* Latency histogram: 16 linear sub-buckets per power of two (~6 % resolution). */
#define HB 1024
typedef struct hist {
  uint64_t b[HB], n;
} hist;
static int hbucket(uint64_t ns) {
  if (ns < 16) return (int)ns;
  int msb = 63 - __builtin_clzll(ns);
  return (msb - 3) * 16 + (int)((ns >> (msb - 4)) & 15);
}
static double hvalue(int b) {
  if (b < 16) return b;
  int msb = b / 16 + 3;
  double lo = (double)((16u + (unsigned)(b % 16)) * (1ULL << (msb - 4)));
  return lo + (double)(1ULL << (msb - 4)) / 2;
}
static void hadd(hist *h, uint64_t ns) {
  h->b[hbucket(ns)]++;
  h->n++;
}
static double hpct(const hist *h, double p) {
  uint64_t want = (uint64_t)(p * (double)h->n), c = 0;
  for (int i = 0; i < HB; i++) {
    c += h->b[i];
    if (c > want) return hvalue(i);
  }
  return 0;
}

/* /proc/self/io wchar: every byte this process (all threads) passed to write-type calls. */
static uint64_t proc_wchar(void) {
  FILE *f = fopen("/proc/self/io", "r");
  char line[128];
  uint64_t v = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "wchar: %lu", &v) == 1) break;
  fclose(f);
  return v;
}

static double peak_rss_mb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  double kb = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %lf", &kb) == 1) break;
  fclose(f);
  return kb / 1024;
}

/* Wait until the process stops writing (background compaction idle): wchar unchanged for
** 300 ms, at most 120 s. */
static void wait_quiet(void) {
  uint64_t last = proc_wchar();
  int still = 0;
  for (int i = 0; i < 1200 && still < 3; i++) {
    usleep(100000);
    uint64_t w = proc_wchar();
    still = w == last ? still + 1 : 0;
    last = w;
  }
}

static void drop_caches(void) {
  sync();
  FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
  if (!f || fputs("1\n", f) < 0 || fclose(f) != 0) die("%s", "cannot drop caches");
}

/* ---------------------------------------------------------------- the lsm adapter */

struct kv {
  lsm_db *db;
};
struct kv_it {
  lsm_iter *it;
  int rc;
};

static int lsm_fail(const char *what, int rc) {
  fprintf(stderr, "lsm: %s: rc=%d %s\n", what, rc, lsm_errmsg());
  return 1;
}

static int m_open(const char *dir, const kv_conf *c, kv **out) {
  lsm_options o;
  lsm_options_default(&o);
  o.memtable_size = c->write_buffer;
  o.cache_size = c->cache;
  o.block_size = c->block_size;
  o.bloom_bits = c->bloom_bits;
  o.compression = c->compress == 2 ? LSM_COMPRESS_LZ4 : c->compress ? LSM_COMPRESS_ZSTD : LSM_COMPRESS_NONE;
  o.sync = LSM_SYNC_NORMAL;
  o.io = c->io;
  o.direct_io = c->direct_io;
  o.io_poll_us = c->io_poll_us;
  if (lsm_opt[0].set) o.l0_compaction_trigger = (int)lsm_opt[0].val;
  if (lsm_opt[1].set) o.level1_size = (size_t)lsm_opt[1].val;
  if (lsm_opt[2].set) o.target_file_size = (size_t)lsm_opt[2].val;
  if (lsm_opt[3].set) o.memtable_size = (size_t)lsm_opt[3].val;
  if (lsm_opt[4].set) o.mmap_reads = (int)lsm_opt[4].val;
  kv *d = calloc(1, sizeof *d);
  if (!d) return 1;
  int rc = lsm_open(dir, &o, &d->db);
  if (rc) {
    free(d);
    return lsm_fail("open", rc);
  }
  *out = d;
  return 0;
}
static void m_close(kv *d) {
  int rc = lsm_close(d->db);
  if (rc) lsm_fail("close", rc);
  free(d);
}
static int m_put(kv *d, const char *k, size_t kn, const char *v, size_t vn) {
  int rc = lsm_put(d->db, k, kn, v, vn);
  return rc ? lsm_fail("put", rc) : 0;
}
static int m_del(kv *d, const char *k, size_t kn) {
  int rc = lsm_delete(d->db, k, kn);
  return rc ? lsm_fail("delete", rc) : 0;
}
static int m_get(kv *d, const char *k, size_t kn, int *found, size_t *vn) {
  void *v = NULL;
  int rc = lsm_get(d->db, NULL, k, kn, &v, vn);
  *found = rc == LSM_OK;
  if (rc == LSM_OK) lsm_free(v);
  return rc == LSM_OK || rc == LSM_NOTFOUND ? 0 : lsm_fail("get", rc);
}
static int m_multiget(kv *d, int n, const char *const *keys, const size_t *klens, int *nfound) {
  void *vals[MG_BATCH];
  size_t vlens[MG_BATCH];
  int rcs[MG_BATCH];
  if (n > MG_BATCH) return 1;
  int rc = lsm_multiget(d->db, NULL, n, (const void *const *)keys, klens, vals, vlens, rcs);
  for (int i = 0; i < n; i++)
    if (rcs[i] == LSM_OK) {
      ++*nfound;
      lsm_free(vals[i]);
    }
  return rc ? lsm_fail("multiget", rc) : 0;
}
static int m_it_new(kv *d, kv_it **out) {
  kv_it *it = calloc(1, sizeof *it);
  if (!it) return 1;
  int rc = lsm_iter_new(d->db, NULL, NULL, 0, NULL, 0, &it->it);
  if (rc) {
    free(it);
    return lsm_fail("iter_new", rc);
  }
  *out = it;
  return 0;
}
#define KEEP(it, call)                 \
  do {                                 \
    int rc_ = (call);                  \
    if (rc_ && !(it)->rc) (it)->rc = rc_; \
  } while (0)
static void m_seek(kv_it *it, const char *k, size_t kn) { KEEP(it, lsm_iter_seek(it->it, k, kn)); }
static void m_first(kv_it *it) { KEEP(it, lsm_iter_seek_first(it->it)); }
static void m_last(kv_it *it) { KEEP(it, lsm_iter_seek_last(it->it)); }
static void m_next(kv_it *it) { KEEP(it, lsm_iter_next(it->it)); }
static void m_prev(kv_it *it) { KEEP(it, lsm_iter_prev(it->it)); }
static int m_valid(kv_it *it) { return lsm_iter_valid(it->it); }
static void m_kv(kv_it *it, const char **k, size_t *kn, const char **v, size_t *vn) {
  lsm_iter_key(it->it, (const void **)k, kn);
  lsm_iter_value(it->it, (const void **)v, vn);
}
static int m_it_free(kv_it *it) {
  int rc = it->rc ? it->rc : lsm_iter_status(it->it);
  lsm_iter_free(it->it);
  free(it);
  return rc ? lsm_fail("iterator", rc) : 0;
}
static void m_settle(kv *d) {
  int rc = lsm_flush(d->db, 1);
  if (rc) lsm_fail("flush", rc);
  for (int i = 0; i < 1200; i++) { /* at most 120 s */
    lsm_stats st;
    if (lsm_get_stats(d->db, &st)) break;
    int busy = st.immutables > 0;
    for (int l = 0; l < LSM_MAX_LEVELS; l++) busy |= st.level_score[l] >= 1.0;
    if (!busy) break;
    usleep(100000);
  }
}
static double m_own_wamp(kv *d) {
  lsm_stats st;
  return lsm_get_stats(d->db, &st) ? -1 : st.write_amp;
}

const kv_ops kv_lsm = {"lsm", m_open, m_close, m_put, m_del, m_get, m_multiget,
                       m_it_new, m_seek, m_first, m_last, m_next, m_prev, m_valid, m_kv,
                       m_it_free, m_settle, m_own_wamp};

/* ---------------------------------------------------------------- phases */

typedef struct run {
  const kv_ops *ops;
  kv *db;
  hist h;
  uint64_t t0, bytes, nops;
  double cpu0;
} run;

static double cpu_secs(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void ph_begin(run *r) {
  memset(&r->h, 0, sizeof r->h);
  r->bytes = r->nops = 0;
  r->cpu0 = cpu_secs();
  r->t0 = now_ns();
}
static phase_res ph_end(run *r, int timed) {
  double secs = (double)(now_ns() - r->t0) / 1e9;
  phase_res p;
  p.cpu_us = (cpu_secs() - r->cpu0) * 1e6 / (double)(r->nops ? r->nops : 1);
  p.ops_s = (double)r->nops / secs;
  p.mb_s = (double)r->bytes / secs / 1e6;
  p.p50_us = timed ? hpct(&r->h, 0.50) / 1000 : 0;
  p.p99_us = timed ? hpct(&r->h, 0.99) / 1000 : 0;
  return p;
}
#define TIMED(r, stmt)                \
  do {                                \
    uint64_t t_ = now_ns();           \
    stmt;                             \
    hadd(&(r)->h, now_ns() - t_);     \
  } while (0)

static void check(int rc, const char *what) {
  if (rc) die("%s failed", what);
}

static phase_res do_fill(run *r, int random, uint64_t seed) {
  perm p;
  perm_init(&p, N, seed);
  char k[KEY_LEN];
  ph_begin(r);
  for (uint64_t i = 0; i < N; i++) {
    key_of(k, 2 * (random ? perm_at(&p, i) : i));
    const char *v = next_val();
    int rc;
    TIMED(r, rc = r->ops->put(r->db, k, KEY_LEN, v, VAL_LEN));
    check(rc, "put");
  }
  r->nops = N;
  r->bytes = N * (KEY_LEN + VAL_LEN);
  return ph_end(r, 1);
}

static phase_res do_overwrite(run *r) {
  char k[KEY_LEN];
  ph_begin(r);
  for (uint64_t i = 0; i < N; i++) {
    key_of(k, 2 * (rnd() % N));
    const char *v = next_val();
    int rc;
    TIMED(r, rc = r->ops->put(r->db, k, KEY_LEN, v, VAL_LEN));
    check(rc, "put");
  }
  r->nops = N;
  r->bytes = N * (KEY_LEN + VAL_LEN);
  return ph_end(r, 1);
}

static phase_res do_read(run *r, uint64_t count, int missing, const char *name) {
  char k[KEY_LEN];
  uint64_t found = 0;
  ph_begin(r);
  for (uint64_t i = 0; i < count; i++) {
    key_of(k, 2 * (rnd() % N) + (missing ? 1 : 0));
    int f, rc;
    size_t vn = 0;
    TIMED(r, rc = r->ops->get(r->db, k, KEY_LEN, &f, &vn));
    check(rc, "get");
    if (f && vn != VAL_LEN) die("%s: wrong value length", name);
    found += (uint64_t)f;
  }
  r->nops = count;
  r->bytes = count * KEY_LEN + found * VAL_LEN;
  phase_res p = ph_end(r, 1);
  if (found != (missing ? 0 : count)) {
    fprintf(stderr, "%s %s: found %llu of %llu\n", r->ops->name, name,
            (unsigned long long)found, (unsigned long long)count);
    die("%s: wrong number of keys found", name);
  }
  return p;
}

static phase_res do_seekrandom(run *r, uint64_t count) {
  char k[KEY_LEN];
  kv_it *it;
  check(r->ops->it_new(r->db, &it), "iterator");
  ph_begin(r);
  for (uint64_t i = 0; i < count; i++) {
    key_of(k, 2 * (rnd() % N));
    uint64_t t = now_ns();
    r->ops->it_seek(it, k, KEY_LEN);
    for (int j = 0; j <= SEEK_NEXT && r->ops->it_valid(it); j++) {
      const char *kk, *vv;
      size_t kn, vn;
      r->ops->it_kv(it, &kk, &kn, &vv, &vn);
      if (j == 0 && (kn != KEY_LEN || memcmp(kk, k, KEY_LEN) != 0))
        die("%s", "seekrandom: seek did not land on an existing key");
      r->bytes += kn + vn;
      if (j < SEEK_NEXT) r->ops->it_next(it);
    }
    hadd(&r->h, now_ns() - t);
  }
  r->nops = count;
  phase_res p = ph_end(r, 1);
  check(r->ops->it_free(it), "iterator");
  return p;
}

static phase_res do_scan(run *r, int reverse) {
  kv_it *it;
  uint64_t n = 0;
  check(r->ops->it_new(r->db, &it), "iterator");
  ph_begin(r);
  if (reverse) r->ops->it_last(it);
  else r->ops->it_first(it);
  for (; r->ops->it_valid(it); reverse ? r->ops->it_prev(it) : r->ops->it_next(it)) {
    const char *kk, *vv;
    size_t kn, vn;
    r->ops->it_kv(it, &kk, &kn, &vv, &vn);
    r->bytes += kn + vn;
    n++;
  }
  r->nops = n;
  phase_res p = ph_end(r, 0); /* per-next timing would cost as much as a next */
  check(r->ops->it_free(it), "iterator");
  if (n != N) {
    fprintf(stderr, "%s %s: %llu keys, expected %llu\n", r->ops->name,
            reverse ? "readreverse" : "readseq", (unsigned long long)n, (unsigned long long)N);
    die("%s", "scan saw the wrong number of keys");
  }
  return p;
}

static phase_res do_multiget(run *r, uint64_t count, uint64_t *found_out) {
  char kbuf[MG_BATCH][KEY_LEN];
  const char *keys[MG_BATCH];
  size_t klens[MG_BATCH];
  for (int j = 0; j < MG_BATCH; j++) keys[j] = kbuf[j], klens[j] = KEY_LEN;
  int found = 0;
  ph_begin(r);
  for (uint64_t i = 0; i < count; i += MG_BATCH) {
    int n = count - i < MG_BATCH ? (int)(count - i) : MG_BATCH;
    for (int j = 0; j < n; j++) key_of(kbuf[j], 2 * (rnd() % N));
    int rc;
    TIMED(r, rc = r->ops->multiget(r->db, n, keys, klens, &found));
    check(rc, "multiget");
  }
  r->nops = count;
  r->bytes = count * KEY_LEN + (uint64_t)found * VAL_LEN;
  phase_res p = ph_end(r, 1);
  *found_out = (uint64_t)found;
  return p;
}

static phase_res do_delete(run *r, uint64_t seed) {
  perm p;
  perm_init(&p, N, seed);
  char k[KEY_LEN];
  ph_begin(r);
  for (uint64_t i = 0; i < N; i++) {
    key_of(k, 2 * perm_at(&p, i));
    int rc;
    TIMED(r, rc = r->ops->del(r->db, k, KEY_LEN));
    check(rc, "delete");
  }
  r->nops = N;
  r->bytes = N * KEY_LEN;
  return ph_end(r, 1);
}

static kv_conf base_conf(void) {
  kv_conf c = {64u << 20, 8u << 20, 4096, 10, compress, LSM_IO_AUTO, 0, 0};
  return c;
}

/* -V: the directory's files and, for lsm, its statistics, on stderr. */
static int ls_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)f;
  if (flag == FTW_F) fprintf(stderr, "  %10lld %s\n", (long long)st->st_size, p);
  return 0;
}
static void dump(const kv_ops *ops, kv *db, const char *dir, const char *when) {
  fprintf(stderr, "--- %s %s:\n", ops->name, when);
  nftw(dir, ls_cb, 16, FTW_PHYS);
  char *json = NULL;
  if (ops == &kv_lsm && lsm_stats_json(db->db, &json) == LSM_OK) {
    fprintf(stderr, "  %s\n", json);
    lsm_free(json);
  }
}

/* BENCH_RSS=1 (lsm only, a debugging aid): a thread samples VmRSS every 20 ms with the engine's
** own figures (mm live bytes, memtables, block cache) and, at each phase boundary, prints the
** phase's highest sample and what was live then, on stderr. */
typedef struct rss_sample {
  double rss, live, mem, cache;
  int imm;
} rss_sample;
static struct {
  pthread_t t;
  pthread_mutex_t mu;
  int on, stop;
  lsm_db *db;
  const char *phase;
  rss_sample peak;
} rs = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double cur_rss_mb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long sz = 0, res = 0;
  if (!f) return 0;
  if (fscanf(f, "%lu %lu", &sz, &res) != 2) res = 0;
  fclose(f);
  return (double)res * (double)sysconf(_SC_PAGESIZE) / 1048576;
}
static void *rss_thread(void *arg) {
  (void)arg;
  for (;;) {
    usleep(20000);
    pthread_mutex_lock(&rs.mu);
    if (rs.stop) break;
    rss_sample x = {cur_rss_mb(), (double)mm_live_bytes() / 1048576, 0, 0, 0};
    lsm_stats st;
    if (rs.db && lsm_get_stats(rs.db, &st) == LSM_OK) {
      x.mem = (double)st.memtable_bytes / 1048576;
      x.cache = (double)st.cache_bytes / 1048576;
      x.imm = (int)st.immutables;
    }
    if (x.rss > rs.peak.rss) rs.peak = x;
    pthread_mutex_unlock(&rs.mu);
  }
  pthread_mutex_unlock(&rs.mu);
  return NULL;
}
/* End the current phase's record (print it) and start `next` (NULL: stop the sampler). */
static void rss_phase(lsm_db *db, const char *next) {
  if (!rs.on) return;
  pthread_mutex_lock(&rs.mu);
  if (rs.phase) {
    struct mallinfo2 mi = mallinfo2();
    fprintf(stderr, "rss %-22s peak %6.1f MiB: mm live %6.1f, memtables %6.1f (%d imm), cache %5.1f"
                    " | now rss %6.1f live %6.1f; malloc in use %6.1f free %6.1f mmap %6.1f\n",
            rs.phase, rs.peak.rss, rs.peak.live, rs.peak.mem, rs.peak.imm, rs.peak.cache, cur_rss_mb(),
            (double)mm_live_bytes() / 1048576, (double)mi.uordblks / 1048576,
            (double)mi.fordblks / 1048576, (double)mi.hblkhd / 1048576);
  }
  memset(&rs.peak, 0, sizeof rs.peak);
  rs.db = db;
  rs.phase = next;
  pthread_mutex_unlock(&rs.mu);
}

/* The warm phases on one engine, in this (child) process. */
static void engine_run(const kv_ops *ops, eng_res *er) {
  char dir[64];
  snprintf(dir, sizeof dir, "%s.db", ops->name);
  kv_conf c = base_conf();
  run r = {ops, NULL, {{0}, 0}, 0, 0, 0, 0};
  rng_state = SEED;

  rm_rf(dir);
  const char *e = getenv("BENCH_RSS");
  rs.on = ops == &kv_lsm && e && *e == '1';
  if (rs.on) mm_count_heap(); /* in this fresh child, before the engine allocates anything */
  if (rs.on && pthread_create(&rs.t, NULL, rss_thread, NULL)) rs.on = 0;
#define PHASE(name) rss_phase(rs.on ? r.db->db : NULL, name)
  if (WANT(P_FILLSEQ)) {
    check(ops->open(dir, &c, &r.db), "open");
    PHASE("fillseq");
    er->ph[P_FILLSEQ] = do_fill(&r, 0, 0);
    rss_phase(NULL, "close");
    ops->close(r.db);
    rm_rf(dir);
  }
  if (!WANT(P_FILLRANDOM)) goto done;

  uint64_t w0 = proc_wchar();
  check(ops->open(dir, &c, &r.db), "open");
  PHASE("fillrandom");
  er->ph[P_FILLRANDOM] = do_fill(&r, 1, SEED + 1);
  if (WANT(P_OVERWRITE)) {
    PHASE("overwrite");
    er->ph[P_OVERWRITE] = do_overwrite(&r);
  }
  PHASE("settle");
  ops->settle(r.db);
  wait_quiet();
  uint64_t user = (WANT(P_OVERWRITE) ? 2 : 1) * N * (KEY_LEN + VAL_LEN);
  er->wamp = (double)(proc_wchar() - w0) / (double)user;
  er->own_wamp = ops->own_wamp(r.db);
  er->samp = (double)dir_bytes(dir) / (double)(N * (KEY_LEN + VAL_LEN));
  if (verbose) dump(ops, r.db, dir, "after fillrandom+overwrite+settle");

  if (WANT(P_READRANDOM)) {
    PHASE("readrandom");
    er->ph[P_READRANDOM] = do_read(&r, R, 0, "readrandom");
  }
  if (WANT(P_READMISSING)) {
    PHASE("readmissing");
    er->ph[P_READMISSING] = do_read(&r, R, 1, "readmissing");
  }
  if (WANT(P_SEEKRANDOM)) {
    PHASE("seekrandom");
    er->ph[P_SEEKRANDOM] = do_seekrandom(&r, R / 4 ? R / 4 : 1);
  }
  if (WANT(P_READSEQ)) {
    PHASE("readseq");
    er->ph[P_READSEQ] = do_scan(&r, 0);
  }
  if (WANT(P_READREVERSE)) {
    PHASE("readreverse");
    er->ph[P_READREVERSE] = do_scan(&r, 1);
  }
  if (WANT(P_MULTIGET)) {
    uint64_t found;
    PHASE("multiget");
    er->ph[P_MULTIGET] = do_multiget(&r, R, &found);
    if (found != R) die("%s", "multiget: not every key found");
  }
  if (WANT(P_DELETERANDOM)) {
    PHASE("deleterandom");
    er->ph[P_DELETERANDOM] = do_delete(&r, SEED + 2);
    PHASE("settle2");
    ops->settle(r.db);
    wait_quiet();
    user += N * KEY_LEN;
  }
  er->total_wamp = (double)(proc_wchar() - w0) / (double)user;
  er->total_own_wamp = ops->own_wamp(r.db);
  if (verbose) dump(ops, r.db, dir, "at the end");
  rss_phase(NULL, "close");
  ops->close(r.db);
done:
  rss_phase(NULL, NULL);
  if (rs.on) {
    pthread_mutex_lock(&rs.mu);
    rs.stop = 1;
    pthread_mutex_unlock(&rs.mu);
    pthread_join(rs.t, NULL);
  }
#undef PHASE
  er->rss_mb = peak_rss_mb();
  rm_rf(dir);
  er->ok = 1;
}

static void cold_levels(run *r, const char *io, const char *phase) {
  lsm_stats st;
  if (lsm_get_stats(((kv *)r->db)->db, &st)) return;
  fprintf(stderr, "cold %s %s: files per level", io, phase);
  for (int l = 0; l < LSM_MAX_LEVELS; l++)
    fprintf(stderr, " %llu", (unsigned long long)st.level_files[l]);
  fprintf(stderr, "\n");
}

/* The cold phase: lsm only. */
static void cold_run(eng_res *er) {
  const char *dir = "cold.db";
  kv_conf c = base_conf();
  run r = {&kv_lsm, NULL, {{0}, 0}, 0, 0, 0, 0};
  rm_rf(dir);
  check(kv_lsm.open(dir, &c, &r.db), "open");
  do_fill(&r, 1, SEED + 3);
  kv_lsm.settle(r.db);
  /* One layout for all four configurations: without this the first one's reads charge the
  ** flushed L0 tables and start a compaction into L1 under it (ver_seek_charge). */
  int rc = lsm_compact_range(((kv *)r.db)->db, NULL, 0, NULL, 0);
  if (rc) lsm_fail("compact_range", rc);
  kv_lsm.close(r.db);
  fprintf(stderr, "cold: database %.1f MiB, block cache %zu MiB\n",
          (double)dir_bytes(dir) / 1048576, c.cache >> 20);
  for (int i = 0; i < NCOLD; i++) {
    c.io = i < 2 ? LSM_IO_SYNC : LSM_IO_URING;
    c.direct_io = i == 1 || i >= 3;
    c.io_poll_us = i == 4 ? 1000 : 0; /* polls through a batch's ~0.4 ms of device time */
    rng_state = SEED + 10 + (uint64_t)i;
    drop_caches();
    check(kv_lsm.open(dir, &c, &r.db), "open");
    cold_levels(&r, cold_name[i], "readrandom");
    er->cold_get[i] = do_read(&r, COLD_R, 0, "cold readrandom");
    drop_caches();
    uint64_t found;
    cold_levels(&r, cold_name[i], "multiget");
    er->cold_mg[i] = do_multiget(&r, COLD_R, &found);
    if (found != COLD_R) die("%s", "cold multiget: not every key found");
    kv_lsm.close(r.db);
  }
  rm_rf(dir);
  er->ok = 1;
}

/* Run fn in a child; its eng_res comes back through a pipe. */
static int in_child(const kv_ops *ops, eng_res *out) {
  int fd[2];
  if (pipe(fd)) return 1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    close(fd[0]);
    eng_res er;
    memset(&er, 0, sizeof er);
    if (ops) engine_run(ops, &er);
    else cold_run(&er);
    ssize_t w = write(fd[1], &er, sizeof er);
    _exit(w == (ssize_t)sizeof er ? 0 : 1);
  }
  close(fd[1]);
  memset(out, 0, sizeof *out);
  size_t got = 0;
  while (got < sizeof *out) {
    ssize_t n = read(fd[0], (char *)out + got, sizeof *out - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd[0]);
  int status;
  waitpid(pid, &status, 0);
  return got == sizeof *out && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- medians and printing */

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
/* Median of field at byte offset off of a double inside each eng_res. */
static double med(eng_res *rs, int n, size_t off) {
  double v[MAX_RUNS];
  for (int i = 0; i < n; i++) memcpy(&v[i], (char *)&rs[i] + off, sizeof(double));
  qsort(v, (size_t)n, sizeof(double), cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
static void median_res(eng_res *rs, int n, eng_res *m) {
  memset(m, 0, sizeof *m);
  m->ok = 1;
  /* eng_res is an int followed by doubles: take the median of every double slot. */
  for (size_t off = offsetof(eng_res, ph); off + sizeof(double) <= sizeof(eng_res);
       off += sizeof(double)) {
    double v = med(rs, n, off);
    memcpy((char *)m + off, &v, sizeof v);
  }
}

static void fmt_ops(char *b, size_t bn, double v) {
  if (v >= 1e6) snprintf(b, bn, "%.2fM", v / 1e6);
  else if (v >= 1e3) snprintf(b, bn, "%.0fk", v / 1e3);
  else snprintf(b, bn, "%.0f", v);
}

int main(int argc, char **argv) {
  const char *e;
  N = (e = getenv("BENCH_N")) ? strtoull(e, NULL, 10) : 1000000;
  R = (e = getenv("BENCH_READS")) ? strtoull(e, NULL, 10) : 0;
  int runs = (e = getenv("BENCH_RUNS")) ? atoi(e) : 1;
  char engines[128] = "lsm,rocksdb,leveldb";
  int warm = 1, cold = 1, opt;
  while ((opt = getopt(argc, argv, "n:r:R:e:v:z:c:p:o:CWV")) != -1) {
    switch (opt) {
    case 'n': N = strtoull(optarg, NULL, 10); break;
    case 'r': R = strtoull(optarg, NULL, 10); break;
    case 'R': runs = atoi(optarg); break;
    case 'e': snprintf(engines, sizeof engines, "%s", optarg); break;
    case 'v': half_compressible = strcmp(optarg, "random") != 0; break;
    case 'z': compress = !strcmp(optarg, "none") ? 0 : !strcmp(optarg, "lz4") ? 2 : 1; break;
    case 'V': verbose = 1; break;
    case 'c': COLD_R = strtoull(optarg, NULL, 10); break;
    case 'C': warm = 0; break;
    case 'W': cold = 0; break;
    case 'o':
      if (parse_lsm_opt(optarg)) {
        fprintf(stderr, "bench_engine: -o: unknown lsm option in %s\n", optarg);
        return 2;
      }
      break;
    case 'p':
      if (!(phases = parse_phases(optarg))) {
        fprintf(stderr, "bench_engine: -p: unknown phase in %s\n", optarg);
        return 2;
      }
      break;
    default:
      fprintf(stderr, "usage: bench_engine [-n N] [-r reads] [-R runs] [-e lsm,rocksdb,leveldb] "
                      "[-v half|random] [-z zstd|lz4|none] [-c cold_reads] [-C cold only] [-W warm only] "
                      "[-p phase,phase,... (warm phases to run; default all: fillseq,fillrandom,overwrite,"
                      "readrandom,readmissing,seekrandom,readseq,readreverse,multiget,deleterandom)] "
                      "[-V (files and lsm stats on stderr)] [-o lsm_option=value (l0_compaction_trigger, "
                      "level1_size, target_file_size, memtable_size, mmap_reads)]\n");
      return 2;
    }
  }
  if (N < 64) N = 64;
  if (!R) R = N < 1000000 ? N : 1000000;
  if (runs < 1) runs = 1;
  if (runs > MAX_RUNS) runs = MAX_RUNS;
  pool_init();

  const kv_ops *all[3];
  int ne = 0;
  for (char *s = strtok(engines, ","); s; s = strtok(NULL, ",")) {
    if (!strcmp(s, "lsm")) all[ne++] = &kv_lsm;
#ifdef HAVE_ROCKSDB
    else if (!strcmp(s, "rocksdb")) all[ne++] = &kv_rocksdb;
#endif
#ifdef HAVE_LEVELDB
    else if (!strcmp(s, "leveldb")) all[ne++] = &kv_leveldb;
#endif
    else fprintf(stderr, "bench_engine: engine %s not built in, skipped\n", s);
    if (ne == 3) break;
  }

  printf("### bench_engine: N=%llu keys, %llu reads (seekrandom %llu), %d-byte keys, "
         "%d-byte %s values, seed %#llx, runs %d (medians)\n\n",
         (unsigned long long)N, (unsigned long long)R, (unsigned long long)(R / 4 ? R / 4 : 1),
         KEY_LEN, VAL_LEN, half_compressible ? "half-compressible" : "random", (unsigned long long)SEED,
         runs);
  printf("Settings for every engine: 64 MiB write buffer, 8 MiB block cache, bloom 10 bits/key, "
         "4 KiB blocks, WAL on, no sync per write, compression %s.\n\n",
         compress == 2 ? "lz4 (LevelDB: snappy)" : compress ? "zstd (LevelDB: snappy)" : "none");

  static eng_res rs[3][MAX_RUNS], med_r[3];
  if (warm && ne > 0) {
    for (int run = 0; run < runs; run++)
      for (int i = 0; i < ne; i++) {
        fprintf(stderr, "run %d/%d: %s ...\n", run + 1, runs, all[i]->name);
        if (in_child(all[i], &rs[i][run])) die("%s: run failed", all[i]->name);
      }
    for (int i = 0; i < ne; i++) median_res(rs[i], runs, &med_r[i]);

    for (int i = 0; i < ne; i++) {
      printf("#### %s\n\n| phase | ops/s | MB/s | p50 us | p99 us | CPU us/op |\n"
             "|---|---:|---:|---:|---:|---:|\n",
             all[i]->name);
      for (int p = 0; p < NPHASE; p++) {
        if (!WANT(p)) continue;
        phase_res *ph = &med_r[i].ph[p];
        char ob[32];
        fmt_ops(ob, sizeof ob, ph->ops_s);
        if (ph->p50_us > 0)
          printf("| %s | %s | %.1f | %.1f | %.1f | %.2f |\n", phase_name[p], ob, ph->mb_s,
                 ph->p50_us, ph->p99_us, ph->cpu_us);
        else
          printf("| %s | %s | %.1f | - | - | %.2f |\n", phase_name[p], ob, ph->mb_s, ph->cpu_us);
      }
      printf("\nwrite amp (process bytes written / user bytes) after fillrandom+overwrite+settle: "
             "%.2f, after the phases run: %.2f",
             med_r[i].wamp, med_r[i].total_wamp);
      if (med_r[i].own_wamp >= 0)
        printf("; engine's own figure: %.2f, %.2f", med_r[i].own_wamp, med_r[i].total_own_wamp);
      printf("\nspace amp (dir bytes / N*116) after settle: %.2f; peak RSS %.0f MiB\n\n",
             med_r[i].samp, med_r[i].rss_mb);
    }

    /* Ratio table: lsm against the better of the others. */
    printf("#### ops/s side by side (ratio = lsm / best other; CPU ratio = best other's CPU "
           "time per op / lsm's)\n\n| phase |");
    for (int i = 0; i < ne; i++) printf(" %s |", all[i]->name);
    printf(" ratio | CPU ratio |\n|---|");
    for (int i = 0; i <= ne + 1; i++) printf("---:|");
    printf("\n");
    for (int p = 0; p < NPHASE; p++) {
      if (!WANT(p)) continue;
      printf("| %s |", phase_name[p]);
      double best = 0, best_cpu = 0;
      for (int i = 0; i < ne; i++) {
        char ob[32];
        fmt_ops(ob, sizeof ob, med_r[i].ph[p].ops_s);
        printf(" %s |", ob);
        if (all[i] != &kv_lsm && med_r[i].ph[p].ops_s > best) best = med_r[i].ph[p].ops_s;
        if (all[i] != &kv_lsm && (best_cpu == 0 || med_r[i].ph[p].cpu_us < best_cpu))
          best_cpu = med_r[i].ph[p].cpu_us;
      }
      if (all[0] == &kv_lsm && best > 0)
        printf(" %.2fx | %.2fx |\n", med_r[0].ph[p].ops_s / best, best_cpu / med_r[0].ph[p].cpu_us);
      else printf(" - | - |\n");
    }
    printf("| write amp |");
    for (int i = 0; i < ne; i++) printf(" %.2f |", med_r[i].wamp);
    printf(" | |\n| space amp |");
    for (int i = 0; i < ne; i++) printf(" %.2f |", med_r[i].samp);
    printf(" | |\n| peak RSS MiB |");
    for (int i = 0; i < ne; i++) printf(" %.0f |", med_r[i].rss_mb);
    printf(" | |\n\n");
  }

  if (cold) {
    if (geteuid() != 0) {
      printf("cold phase skipped: not root (needs echo 1 > /proc/sys/vm/drop_caches)\n");
    } else {
      static eng_res cr[MAX_RUNS], cm;
      for (int run = 0; run < runs; run++) {
        fprintf(stderr, "run %d/%d: cold ...\n", run + 1, runs);
        if (in_child(NULL, &cr[run])) die("%s", "cold run failed");
      }
      median_res(cr, runs, &cm);
      printf("#### cold reads, lsm (page cache dropped before each phase; %llu keys, db of N keys)"
             "\n\n| io | readrandom keys/s | p50 us | p99 us | CPU us/key | multiget keys/s | p50 "
             "us/batch | p99 us/batch | CPU us/key |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
             (unsigned long long)COLD_R);
      for (int i = 0; i < NCOLD; i++)
        printf("| %s | %.0f | %.0f | %.0f | %.1f | %.0f | %.0f | %.0f | %.1f |\n", cold_name[i],
               cm.cold_get[i].ops_s, cm.cold_get[i].p50_us, cm.cold_get[i].p99_us,
               cm.cold_get[i].cpu_us, cm.cold_mg[i].ops_s, cm.cold_mg[i].p50_us,
               cm.cold_mg[i].p99_us, cm.cold_mg[i].cpu_us);
      printf("\nmultiget uring+direct_io / sync+direct_io: %.2fx (of the medians; each run's own:",
             cm.cold_mg[3].ops_s / cm.cold_mg[1].ops_s);
      for (int run = 0; run < runs; run++)
        printf("%s %.2fx", run ? "," : "", cr[run].cold_mg[3].ops_s / cr[run].cold_mg[1].ops_s);
      printf("); multiget / readrandom on uring+direct_io: %.2fx\n",
             cm.cold_mg[3].ops_s / cm.cold_get[3].ops_s);
      printf("multiget uring+direct_io+io_poll_us=1000 / sync+direct_io: %.2fx (of the medians; each "
             "run's own:", cm.cold_mg[4].ops_s / cm.cold_mg[1].ops_s);
      for (int run = 0; run < runs; run++)
        printf("%s %.2fx", run ? "," : "", cr[run].cold_mg[4].ops_s / cr[run].cold_mg[1].ops_s);
      printf(")\n\n");
    }
  }
  return 0;
}
