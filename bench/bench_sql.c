/* bench_sql — the engine workload through SQL prepared statements on three tables, same run:
**   rowid   CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)               (native, k is the rowid)
**   wr      CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB) WITHOUT ROWID (native)
**   lsm     CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v BLOB[, options])
** Each table lives in its own database file (journal_mode=WAL, synchronous=NORMAL for the native
** ones: their fast durable-on-checkpoint mode; lsm's own default is sync=normal too). Keys are
** the even integers 2*i (odd = missing), values 100-byte blobs, half-compressible by default
** (-v random: incompressible), fixed seed. Phases:
**   fillseq      N inserts, ascending keys, 10k rows per transaction (a separate database)
**   fillrandom   N inserts, every key once in random order, 10k rows per transaction
**   (size on disk: after a checkpoint / lsm_flush and the compactions it starts)
**   readrandom   R x SELECT v FROM t WHERE k=?            (every key must be found)
**   readseq      SELECT k, v FROM t                        (must return N rows; rows/s)
**   scanrange    R/10 x SELECT k, v FROM t WHERE k >= ? ORDER BY k LIMIT 100   (scans/s)
**   in32         R/32 x SELECT k, v FROM t WHERE k IN (32 ?s)                  (keys/s)
**   one32        the same keys, one SELECT v FROM t WHERE k=? each             (keys/s)
**                (in32 and one32 alternate in chunks of 32768 keys: see inlist)
**   updaterandom U x UPDATE t SET v=? WHERE k=?, 10k per transaction, U = R
**   deleterandom U x DELETE FROM t WHERE k=?, 10k per transaction, distinct keys
** The four read phases run twice (-S: once): right after the fill, and again, as the rows
** "..., settled", once the table has settled a second time (the settle below, after the first
** pass). An lsm table digests its fill during the first pass: the fill leaves L0 files below
** the compaction trigger, the first pass's point reads charge them (ver_seek_charge) and start
** an L0 -> L1 compaction and its L1 -> L2 cascade, which run under the following phases. The
** second pass reads the shape the table keeps when left alone (native tables: the same state
** twice). The first pass's rows are the figures the targets are judged on; the settled rows
** show how much of a gap is the reads themselves and how much the work running under them.
** Before each phase that reads the table (all but the fills) every file of that table is read
** once, start to end (the database and its -wal; an lsm table's directory), the same for all
** three kinds (-P: not). On a machine that keeps its page cache this changes nothing: the files
** were just written. Some virtual machines hand idle page-cache pages back to the host within
** ~30-60 s (the machine this project is benchmarked on does), and the time between a fill and the reads differs
** by kind (lsm's settle waits for its compactions), so without the pre-read the read phases
** would measure partly the disk and the host's reclaim, unequally.
** Printed: a Markdown table of rows/s per table and ratios lsm/rowid and lsm/wr; with runs > 1,
** medians. Usage: bench_sql [-n N] [-r R] [-R runs] [-v half|random] [-o 'lsm options'] [-t
** rowid,wr,lsm] [-p phases] [-K] [-P] [-S]. Env defaults BENCH_N (1000000), BENCH_READS (min(N, 200000)),
** BENCH_RUNS (1).
**   -p fillseq,fillrandom,readrandom,readseq,scanrange,in32,update,delete: run only these phases
**      (fillrandom runs anyway when the reads need a table that does not exist yet)
**   -K keep <kind>.db after the run and reuse it if it exists (no fill): A/B runs of two builds
**      on the same files. A run with the delete phase removes it (its keys are gone). A reused
**      lsm table keeps the options it was created with: -o with options its stored CREATE
**      lacks is an error.
**   -P no pre-read of the table's files before the read phases (see above)
**   -S no second, settled pass of the read phases
** (R is smaller than the engine bench's: native random updates/deletes run at ~10-35k rows/s.)
** Needs LSMVTAB_EXT (the extension path without .so; scripts/run-bench.sh sets it).
*/
#include <ftw.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "sql_phases.h"

#define VAL_LEN 100
#define TXN 10000
#define INN 32
#define MAX_RUNS 15
#define SEED 0x5eed5678ULL

/* The read phases' slots twice: right after the fill, and again once the table has settled
** (SETTLED added to the first pass's slot). */
enum { S_FILLSEQ, S_FILLRANDOM, S_READRANDOM, S_READSEQ, S_SCANRANGE, S_IN32, S_ONE32,
       S_READRANDOM_SET, S_READSEQ_SET, S_SCANRANGE_SET, S_IN32_SET, S_ONE32_SET,
       S_UPDATE, S_DELETE, S_SIZE, NS };
#define SETTLED (S_READRANDOM_SET - S_READRANDOM)
static const char *const sname[NS] = {"fillseq", "fillrandom", "readrandom", "readseq",
                                      "scanrange (100 rows)", "IN-list of 32 (keys/s)",
                                      "32 single SELECTs (keys/s)", "readrandom, settled",
                                      "readseq, settled", "scanrange, settled",
                                      "IN-list of 32, settled", "32 single SELECTs, settled",
                                      "updaterandom", "deleterandom", "size on disk MiB"};
enum { K_ROWID, K_WR, K_LSM, NK };
static const char *const kname[NK] = {"rowid", "wr", "lsm"};
static const char *const klabel[NK] = {"native rowid", "native WITHOUT ROWID", "lsm"};

static uint64_t N, R;
static int half_compressible = 1;
static char lsm_opts[256] = "";
static int keep_db;
static int pre_read = 1;
static const char *const pname[] = {"fillseq", "fillrandom", "readrandom", "readseq", "scanrange",
                                    "in32", "update", "delete"};
static const int pphase[] = {S_FILLSEQ, S_FILLRANDOM, S_READRANDOM, S_READSEQ, S_SCANRANGE,
                             S_IN32, S_UPDATE, S_DELETE};
static int phase_on[NS] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}; /* S_ONE32, S_SIZE and
                                                                      ** the settled pass follow */
static int settled_pass = 1;

/* CPU seconds of the process (all threads): per-row CPU cost is steadier than rows/s when the
** machine is shared. cpu_us[phase] is set by each phase. */
static double cpu_us[NS];
static double cpu_secs(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
/* The same for the bench's own thread only: leaves out the engine's background flushes and
** compactions (a compaction still running after a fill lands in whichever phase follows). */
static double thr_us[NS], thr0;
static double thr_secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static void cpu_note(int phase, double c0, uint64_t n) {
  cpu_us[phase] = (cpu_secs() - c0) * 1e6 / (double)(n ? n : 1);
  double t = thr_secs();
  thr_us[phase] = (t - thr0) * 1e6 / (double)(n ? n : 1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void step_done(sqlite3 *db, sqlite3_stmt *st) {
  if (sqlite3_step(st) != SQLITE_DONE) sqlp_die(db, sqlite3_sql(st));
  sqlite3_reset(st);
}

static uint64_t rng_state;
static uint64_t rnd(void) { return bench_rnd(&rng_state); }

#define POOL (1u << 20)
static char *pool;
static size_t pool_pos;
static void pool_init(void) {
  pool = malloc(POOL + VAL_LEN);
  if (!pool) sqlp_die(NULL, "out of memory");
  uint64_t s = SEED;
  size_t rn = half_compressible ? VAL_LEN / 2 : VAL_LEN;
  for (size_t i = 0; i < POOL + VAL_LEN; i += VAL_LEN)
    for (size_t j = 0; j < VAL_LEN && i + j < POOL + VAL_LEN; j++) {
      if (j < rn) s = mix(s + j), pool[i + j] = (char)s;
      else pool[i + j] = pool[i + j - rn];
    }
}
static const char *next_val(void) {
  pool_pos += VAL_LEN + 7;
  if (pool_pos >= POOL) pool_pos -= POOL;
  return pool + pool_pos;
}

/* Remove file, its -wal/-shm/-journal and the lsm tables' directory file-lsm/. */
static void rm_db(const char *file) {
  const char *sfx[] = {"", "-wal", "-shm", "-journal"};
  char b[256];
  for (int i = 0; i < 4; i++) {
    snprintf(b, sizeof b, "%s%s", file, sfx[i]);
    unlink(b);
  }
  snprintf(b, sizeof b, "%s-lsm", file);
  nftw(b, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}
static uint64_t db_bytes(const char *file) {
  du_bytes = 0;
  const char *sfx[] = {"", "-wal", "-lsm"};
  char b[256];
  for (int i = 0; i < 3; i++) {
    snprintf(b, sizeof b, "%s%s", file, sfx[i]);
    nftw(b, du_cb, 16, FTW_PHYS);
  }
  return du_bytes;
}

static sqlite3 *open_db(const char *file, int kind, const char *table, int reuse) {
  sqlite3 *db;
  if (!reuse) rm_db(file);
  if (sqlite3_open(file, &db) != SQLITE_OK) sqlp_die(db, "open");
  sqlp_ex(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  char sql[512];
  if (kind == K_LSM) {
    const char *ext = getenv("LSMVTAB_EXT");
    char *err = NULL;
    if (!ext) sqlp_die(NULL, "LSMVTAB_EXT is not set (path of the extension without .so)");
    sqlite3_enable_load_extension(db, 1);
    if (sqlite3_load_extension(db, ext, NULL, &err) != SQLITE_OK) {
      fprintf(stderr, "bench_sql: load %s: %s\n", ext, err ? err : "?");
      exit(1);
    }
    /* A kept table (-K) keeps the options it was created with: CREATE ... IF NOT EXISTS below
    ** does nothing then, so an -o that the stored CREATE lacks would be silently ignored. */
    if (reuse && lsm_opts[0]) {
      sqlite3_stmt *q = sqlp_prep(db, "SELECT sql FROM sqlite_schema WHERE name = ?1");
      sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
      if (sqlite3_step(q) == SQLITE_ROW) {
        const char *stored = (const char *)sqlite3_column_text(q, 0);
        if (!stored || !strstr(stored, lsm_opts)) {
          fprintf(stderr, "bench_sql: -K reuses %s as created (%s); -o '%s' would not apply\n",
                  file, stored ? stored : "?", lsm_opts);
          exit(1);
        }
      }
      sqlite3_finalize(q);
    }
    snprintf(sql, sizeof sql,
             "CREATE VIRTUAL TABLE IF NOT EXISTS %s USING lsm(k INTEGER PRIMARY KEY, v BLOB%s%s)",
             table, lsm_opts[0] ? ", " : "", lsm_opts);
  } else {
    snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS %s(k INTEGER PRIMARY KEY, v BLOB)%s", table,
             kind == K_WR ? " WITHOUT ROWID" : "");
  }
  sqlp_ex(db, sql);
  return db;
}

/* Read every file of the table at `file` once (see the header: pre-read). */
static void warm(const char *file) {
  if (!pre_read) return;
  const char *sfx[] = {"", "-wal", "-lsm"};
  char b[256];
  for (int i = 0; i < 3; i++) {
    snprintf(b, sizeof b, "%s%s", file, sfx[i]);
    nftw(b, warm_cb, 16, FTW_PHYS);
  }
}

/* Inserts of n keys (key(i) = 2*perm(i) or 2*i), TXN rows per transaction; rows/s. */
static double fill(sqlite3 *db, int random, uint64_t seed) {
  perm p;
  perm_init(&p, N, seed);
  sqlite3_stmt *st = sqlp_prep(db, "INSERT INTO t VALUES(?, ?)");
  double t0 = now(), c0 = cpu_secs();
  thr0 = thr_secs();
  for (uint64_t i = 0; i < N; i++) {
    if (i % TXN == 0) sqlp_ex(db, "BEGIN");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(2 * (random ? perm_at(&p, i) : i)));
    sqlite3_bind_blob(st, 2, next_val(), VAL_LEN, SQLITE_STATIC);
    step_done(db, st);
    if (i % TXN == TXN - 1 || i == N - 1) sqlp_ex(db, "COMMIT");
  }
  double r = (double)N / (now() - t0);
  cpu_note(random ? S_FILLRANDOM : S_FILLSEQ, c0, N);
  sqlite3_finalize(st);
  return r;
}

/* The read phases take `off`: 0 for the first pass, SETTLED for the settled one (their slots). */
static double readrandom(sqlite3 *db, int off) {
  sqlite3_stmt *st = sqlp_prep(db, "SELECT v FROM t WHERE k = ?");
  uint64_t found = 0;
  double t0 = now(), c0 = cpu_secs();
  thr0 = thr_secs();
  for (uint64_t i = 0; i < R; i++) {
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(2 * (rnd() % N)));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == VAL_LEN) found++;
    sqlite3_reset(st);
  }
  double r = (double)R / (now() - t0);
  cpu_note(S_READRANDOM + off, c0, R);
  sqlite3_finalize(st);
  if (found != R) sqlp_die(db, "readrandom: a key was not found");
  return r;
}

static double readseq(sqlite3 *db, int off) {
  sqlite3_stmt *st = sqlp_prep(db, "SELECT k, v FROM t");
  uint64_t n = 0, bytes = 0;
  double t0 = now(), c0 = cpu_secs();
  thr0 = thr_secs();
  while (sqlite3_step(st) == SQLITE_ROW) {
    bytes += (uint64_t)sqlite3_column_bytes(st, 1);
    n++;
  }
  double r = (double)n / (now() - t0);
  cpu_note(S_READSEQ + off, c0, n);
  sqlite3_finalize(st);
  if (n != N || bytes != N * VAL_LEN) sqlp_die(db, "readseq: wrong number of rows");
  return r;
}

static double scanrange(sqlite3 *db, uint64_t count, int off) {
  sqlite3_stmt *st = sqlp_prep(db, "SELECT k, v FROM t WHERE k >= ? ORDER BY k LIMIT 100");
  double t0 = now(), c0 = cpu_secs();
  thr0 = thr_secs();
  for (uint64_t i = 0; i < count; i++) {
    const char *err = sqlp_scan100(st, rnd() % N, N);
    if (err) sqlp_die(db, err);
  }
  double r = (double)count / (now() - t0);
  cpu_note(S_SCANRANGE + off, c0, count);
  sqlite3_finalize(st);
  return r;
}

/* IN-list of 32 keys vs the same keys one statement at a time; keys/s for both. The two sides
** are compared with each other, so they are measured under the same conditions: in alternating
** chunks of INCHUNK lists (the IN-lists of a chunk, then the same keys one statement at a time),
** each side's time summed over its chunks. Run one after the other, the side that ran first took all of whatever background work ran early in the phase
** (on lsm's first pass, the L1 -> L2 cascade of the read-triggered L0 compaction: up to -17 % on
** the IN-lists while the singles after them ran beside nothing). A chunk is 32768 keys, so a
** key's single comes 32768 lookups after its IN-list, and the singles find no more cached than
** when each side ran over all the keys in one go: far beyond lsm's block cache (8 MiB, ~2k
** blocks) and what its admission table remembers (a block missed twice within ~8k misses is
** admitted on the second: with 8192-key chunks the singles paid that insertion, +8 % per key),
** SQLite's page cache (2 MiB) and the CPU's caches. */
#define INCHUNK 1024
static void inlist(sqlite3 *db, uint64_t batches, double *in_rate, double *one_rate, int off) {
  char sql[512] = "SELECT k, v FROM t WHERE k IN (?";
  for (int i = 1; i < INN; i++) strcat(sql, ",?");
  strcat(sql, ")");
  sqlite3_stmt *in = sqlp_prep(db, sql), *one = sqlp_prep(db, "SELECT v FROM t WHERE k = ?");
  uint64_t found = 0;
  double wall[2] = {0, 0}, cpu[2] = {0, 0}, thr[2] = {0, 0}; /* [0] IN-lists, [1] singles */
  for (uint64_t b0 = 0; b0 < batches; b0 += INCHUNK) {
    uint64_t nb = batches - b0 < INCHUNK ? batches - b0 : INCHUNK, save = rng_state;
    double t0 = now(), c0 = cpu_secs(), h0 = thr_secs();
    for (uint64_t b = 0; b < nb; b++) {
      for (int i = 0; i < INN; i++) sqlite3_bind_int64(in, i + 1, (sqlite3_int64)(2 * (rnd() % N)));
      while (sqlite3_step(in) == SQLITE_ROW) found++;
      sqlite3_reset(in);
    }
    double t1 = now(), c1 = cpu_secs(), h1 = thr_secs();
    rng_state = save; /* the same keys again */
    for (uint64_t b = 0; b < nb; b++)
      for (int i = 0; i < INN; i++) {
        sqlite3_bind_int64(one, 1, (sqlite3_int64)(2 * (rnd() % N)));
        if (sqlite3_step(one) != SQLITE_ROW) sqlp_die(db, "one32: key not found");
        sqlite3_reset(one);
      }
    double t2 = now(), c2 = cpu_secs(), h2 = thr_secs();
    wall[0] += t1 - t0, cpu[0] += c1 - c0, thr[0] += h1 - h0;
    wall[1] += t2 - t1, cpu[1] += c2 - c1, thr[1] += h2 - h1;
  }
  double keys = (double)(batches * INN);
  *in_rate = keys / wall[0];
  *one_rate = keys / wall[1];
  cpu_us[S_IN32 + off] = cpu[0] * 1e6 / keys, thr_us[S_IN32 + off] = thr[0] * 1e6 / keys;
  cpu_us[S_ONE32 + off] = cpu[1] * 1e6 / keys, thr_us[S_ONE32 + off] = thr[1] * 1e6 / keys;
  sqlite3_finalize(in);
  sqlite3_finalize(one);
  /* duplicates inside a list come back once, so found <= batches*32; a big shortfall is a bug */
  if (found < batches * INN * 9 / 10) sqlp_die(db, "in32: too few rows");
}

/* UPDATE or DELETE of count distinct random keys, TXN per transaction; rows/s. */
static double modify(sqlite3 *db, int del, uint64_t count, uint64_t seed) {
  perm p;
  perm_init(&p, N, seed);
  sqlite3_stmt *st = sqlp_prep(db, del ? "DELETE FROM t WHERE k = ?" : "UPDATE t SET v = ? WHERE k = ?");
  double t0 = now(), c0 = cpu_secs();
  thr0 = thr_secs();
  for (uint64_t i = 0; i < count; i++) {
    if (i % TXN == 0) sqlp_ex(db, "BEGIN");
    if (!del) sqlite3_bind_blob(st, 1, next_val(), VAL_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, del ? 1 : 2, (sqlite3_int64)(2 * perm_at(&p, i)));
    step_done(db, st);
    if (sqlite3_changes(db) != 1) sqlp_die(db, del ? "deleterandom: row missing" : "updaterandom: row missing");
    if (i % TXN == TXN - 1 || i == count - 1) sqlp_ex(db, "COMMIT");
  }
  double r = (double)count / (now() - t0);
  cpu_note(del ? S_DELETE : S_UPDATE, c0, count);
  sqlite3_finalize(st);
  return r;
}

/* Before the size is taken: native tables checkpoint; lsm flushes and then waits (at most 120 s)
** until no level needs compacting and no memtable waits for a flush, as bench_engine's settle,
** and then until the files stop changing for half a second: a compaction in flight (also one
** no level score asks for: the read-triggered L0 compaction) has its inputs and part of its
** outputs on disk at once, which would make the size depend on timing. */
static void settle(sqlite3 *db, int kind, const char *file) {
  if (kind != K_LSM) {
    sqlp_ex(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    return;
  }
  sqlp_ex(db, "SELECT lsm_flush('t')");
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db,
                         "SELECT coalesce((SELECT max(json_extract(value, '$.score')) FROM "
                         "json_each(lsm_stats('t'), '$.engine.levels')) >= 1, 1) OR "
                         "json_extract(lsm_stats('t'), '$.engine.immutables') > 0",
                         -1, &st, NULL) != SQLITE_OK)
    sqlp_die(db, "settle");
  for (int i = 0; i < 1200; i++) {
    if (sqlite3_step(st) != SQLITE_ROW) sqlp_die(db, "settle");
    int busy = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    if (!busy) break;
    usleep(100000);
  }
  sqlite3_finalize(st);
  for (int i = 0; i < 240; i++) {
    uint64_t a = db_bytes(file);
    usleep(500000);
    if (db_bytes(file) == a) break;
  }
}

/* stderr only: the lsm table's files per level and the compaction work finished so far (a job
** still running is counted neither in the jobs nor in the bytes), so a run's read figures can be
** told apart by the shape they ran on (the read-triggered L0 compaction may run during any read
** phase, or not at all). */
static void shape_note(sqlite3 *db, int kind, const char *when) {
  if (kind != K_LSM) return;
  sqlite3_stmt *st = sqlp_prep(db,
                          "SELECT (SELECT group_concat(json_extract(value, '$.files'), '/') FROM "
                          "json_each(lsm_stats('t'), '$.engine.levels')), "
                          "json_extract(lsm_stats('t'), '$.engine.compactions'), "
                          "json_extract(lsm_stats('t'), '$.engine.compact_bytes_written') / 1048576.0");
  if (sqlite3_step(st) == SQLITE_ROW)
    fprintf(stderr, "    %-12s files per level %s, compactions finished %d (%.0f MiB written)\n", when,
            (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1), sqlite3_column_double(st, 2));
  sqlite3_finalize(st);
}

/* The read phases, into the slots at `off` (0, or SETTLED for the pass after settle). */
static void read_phases(sqlite3 *db, int kind, const char *file, double *res, int off) {
  const char *tag = off ? "settled " : "";
  char what[32];
  if (phase_on[S_READRANDOM + off]) {
    warm(file), res[S_READRANDOM + off] = readrandom(db, off);
    snprintf(what, sizeof what, "%sreadrandom", tag), shape_note(db, kind, what);
  }
  if (phase_on[S_READSEQ + off]) {
    warm(file), res[S_READSEQ + off] = readseq(db, off);
    snprintf(what, sizeof what, "%sreadseq", tag), shape_note(db, kind, what);
  }
  if (phase_on[S_SCANRANGE + off]) {
    warm(file), res[S_SCANRANGE + off] = scanrange(db, R / 10 ? R / 10 : 1, off);
    snprintf(what, sizeof what, "%sscanrange", tag), shape_note(db, kind, what);
  }
  if (phase_on[S_IN32 + off]) {
    warm(file), inlist(db, R / INN ? R / INN : 1, &res[S_IN32 + off], &res[S_ONE32 + off], off);
    snprintf(what, sizeof what, "%sin32", tag), shape_note(db, kind, what);
  }
}

static void one_kind(int kind, double *res, double *cpu, double *thr) {
  char file[64];
  rng_state = SEED;
  pool_pos = 0;
  memset(cpu_us, 0, sizeof cpu_us);
  memset(thr_us, 0, sizeof thr_us);
  if (phase_on[S_FILLSEQ]) {
    snprintf(file, sizeof file, "seq_%s.db", kname[kind]);
    fprintf(stderr, "  %s fillseq\n", kname[kind]);
    sqlite3 *db = open_db(file, kind, "t", 0);
    res[S_FILLSEQ] = fill(db, 0, 0);
    sqlite3_close(db);
    rm_db(file);
  }

  snprintf(file, sizeof file, "%s.db", kname[kind]);
  int reuse = keep_db && access(file, F_OK) == 0;
  sqlite3 *db = open_db(file, kind, "t", reuse);
  if (!reuse) {
    fprintf(stderr, "  %s fillrandom\n", kname[kind]);
    res[S_FILLRANDOM] = fill(db, 1, SEED + 1);
    settle(db, kind, file);
    res[S_SIZE] = (double)db_bytes(file) / 1048576;
  } else {
    fprintf(stderr, "  %s: reusing %s\n", kname[kind], file);
  }
  fprintf(stderr, "  %s reads\n", kname[kind]);
  shape_note(db, kind, "before reads");
  read_phases(db, kind, file, res, 0);
  if (settled_pass && phase_on[S_READRANDOM_SET] + phase_on[S_READSEQ_SET] +
                          phase_on[S_SCANRANGE_SET] + phase_on[S_IN32_SET]) {
    double t0 = now();
    settle(db, kind, file);
    fprintf(stderr, "    settle before the second pass: %.1f s\n", now() - t0);
    shape_note(db, kind, "settled");
    read_phases(db, kind, file, res, SETTLED);
  }
  uint64_t u = R;
  fprintf(stderr, "  %s update/delete\n", kname[kind]);
  if (phase_on[S_UPDATE]) warm(file), res[S_UPDATE] = modify(db, 0, u, SEED + 2);
  if (phase_on[S_DELETE]) warm(file), res[S_DELETE] = modify(db, 1, u, SEED + 3);
  sqlite3_close(db);
  if (!keep_db || phase_on[S_DELETE]) rm_db(file);
  memcpy(cpu, cpu_us, sizeof cpu_us);
  memcpy(thr, thr_us, sizeof thr_us);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void fmt(char *b, size_t bn, double v, int phase) {
  if (phase == S_SIZE) snprintf(b, bn, "%.1f", v);
  else if (v >= 1e6) snprintf(b, bn, "%.2fM", v / 1e6);
  else if (v >= 1e3) snprintf(b, bn, "%.1fk", v / 1e3);
  else snprintf(b, bn, "%.1f", v);
}

int main(int argc, char **argv) {
  sqlp_prog = "bench_sql";
  snprintf(sqlp_note, sizeof sqlp_note, " (seed %#llx)", (unsigned long long)SEED);
  const char *e;
  N = (e = getenv("BENCH_N")) ? strtoull(e, NULL, 10) : 1000000;
  R = (e = getenv("BENCH_READS")) ? strtoull(e, NULL, 10) : 0;
  int runs = (e = getenv("BENCH_RUNS")) ? atoi(e) : 1, opt;
  int use[NK] = {1, 1, 1};
  while ((opt = getopt(argc, argv, "n:r:R:v:o:t:p:KPS")) != -1) {
    switch (opt) {
    case 'n': N = strtoull(optarg, NULL, 10); break;
    case 'r': R = strtoull(optarg, NULL, 10); break;
    case 'R': runs = atoi(optarg); break;
    case 'v': half_compressible = strcmp(optarg, "random") != 0; break;
    case 'o': snprintf(lsm_opts, sizeof lsm_opts, "%s", optarg); break;
    case 't':
      for (int k = 0; k < NK; k++) use[k] = strstr(optarg, kname[k]) != NULL;
      break;
    case 'p':
      for (size_t i = 0; i < sizeof pname / sizeof pname[0]; i++)
        phase_on[pphase[i]] = strstr(optarg, pname[i]) != NULL;
      phase_on[S_ONE32] = phase_on[S_IN32];
      phase_on[S_SIZE] = phase_on[S_FILLRANDOM];
      break;
    case 'K': keep_db = 1; break;
    case 'P': pre_read = 0; break;
    case 'S': settled_pass = 0; break;
    default:
      fprintf(stderr, "usage: bench_sql [-n N] [-r reads] [-R runs] [-v half|random] "
                      "[-o 'lsm options'] [-t rowid,wr,lsm] [-p phases] [-K] [-P] [-S]\n");
      return 2;
    }
  }
  for (int s = S_READRANDOM; s <= S_ONE32; s++) phase_on[s + SETTLED] = settled_pass && phase_on[s];
  if (N < 200) N = 200;
  if (!R) R = N < 200000 ? N : 200000;
  if (R > N) R = N;
  if (runs < 1) runs = 1;
  if (runs > MAX_RUNS) runs = MAX_RUNS;
  pool_init();

  static double res[NK][MAX_RUNS][NS], m[NK][NS], cpu[NK][MAX_RUNS][NS], mc[NK][NS];
  static double thr[NK][MAX_RUNS][NS], mt[NK][NS];
  for (int run = 0; run < runs; run++)
    for (int k = 0; k < NK; k++)
      if (use[k]) {
        fprintf(stderr, "run %d/%d: %s\n", run + 1, runs, kname[k]);
        one_kind(k, res[k][run], cpu[k][run], thr[k][run]);
      }
  for (int k = 0; k < NK; k++)
    for (int s = 0; s < NS; s++) {
      double v[MAX_RUNS];
      for (int r = 0; r < runs; r++) v[r] = res[k][r][s];
      qsort(v, (size_t)runs, sizeof(double), cmp_d);
      m[k][s] = runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
      for (int r = 0; r < runs; r++) v[r] = cpu[k][r][s];
      qsort(v, (size_t)runs, sizeof(double), cmp_d);
      mc[k][s] = runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
      for (int r = 0; r < runs; r++) v[r] = thr[k][r][s];
      qsort(v, (size_t)runs, sizeof(double), cmp_d);
      mt[k][s] = runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
    }

  printf("### bench_sql: N=%llu rows, %llu reads, keys 2*i, %d-byte %s blobs, seed %#llx, "
         "runs %d (medians), SQLite %s, native: WAL + synchronous=NORMAL, lsm options: '%s', "
         "%s\n\n",
         (unsigned long long)N, (unsigned long long)R, VAL_LEN,
         half_compressible ? "half-compressible" : "random", (unsigned long long)SEED, runs,
         sqlite3_libversion(), lsm_opts,
         pre_read ? "files pre-read before each read phase" : "no pre-read (-P)");
  printf("| phase (rows/s unless said) |");
  for (int k = 0; k < NK; k++) if (use[k]) printf(" %s |", klabel[k]);
  int ratios = use[K_LSM] && (use[K_ROWID] || use[K_WR]);
  if (ratios) printf(" lsm/rowid | lsm/wr |");
  printf("\n|---|");
  for (int k = 0; k < NK; k++) if (use[k]) printf("---:|");
  if (ratios) printf("---:|---:|");
  printf("\n");
  for (int s = 0; s < NS; s++) {
    if (!phase_on[s]) continue;
    printf("| %s |", sname[s]);
    for (int k = 0; k < NK; k++)
      if (use[k]) {
        char b[32];
        fmt(b, sizeof b, m[k][s], s);
        printf(" %s |", b);
      }
    if (ratios) {
      for (int k = K_ROWID; k <= K_WR; k++)
        if (use[k] && m[k][s] > 0) printf(" %.2fx |", m[K_LSM][s] / m[k][s]);
        else printf(" - |");
    }
    printf("\n");
  }
  for (int off = 0; off <= SETTLED; off += SETTLED)
    for (int k = 0; k < NK; k++)
      if (use[k] && m[k][S_ONE32 + off] > 0)
        printf("\n%s: IN-list of 32 / 32 single SELECTs%s = %.2fx", klabel[k], off ? ", settled" : "",
               m[k][S_IN32 + off] / m[k][S_ONE32 + off]);
  printf("\n\nCPU time per row (per scan for scanrange, per key for the IN rows), all threads, us "
         "— steadier than rows/s on a shared machine:\n\n| phase |");
  for (int k = 0; k < NK; k++) if (use[k]) printf(" %s |", klabel[k]);
  if (ratios) printf(" rowid/lsm | wr/lsm |");
  printf("\n|---|");
  for (int k = 0; k < NK; k++) if (use[k]) printf("---:|");
  if (ratios) printf("---:|---:|");
  printf("\n");
  for (int s = 0; s < S_SIZE; s++) {
    if (!phase_on[s]) continue;
    printf("| %s |", sname[s]);
    for (int k = 0; k < NK; k++)
      if (use[k]) printf(mc[k][s] < 1 ? " %.3f |" : " %.2f |", mc[k][s]);
    for (int k = K_ROWID; ratios && k <= K_WR; k++) {
      if (use[k] && mc[K_LSM][s] > 0) printf(" %.2fx |", mc[k][s] / mc[K_LSM][s]);
      else printf(" - |");
    }
    printf("\n");
  }
  /* The statements' own cost, without the background threads' work (flush, compaction). */
  printf("\nCPU time per row of the bench's thread only (no background flush/compaction), us:\n\n"
         "| phase |");
  for (int k = 0; k < NK; k++) if (use[k]) printf(" %s |", klabel[k]);
  printf("\n|---|");
  for (int k = 0; k < NK; k++) if (use[k]) printf("---:|");
  printf("\n");
  for (int s = 0; s < S_SIZE; s++) {
    if (!phase_on[s]) continue;
    printf("| %s |", sname[s]);
    for (int k = 0; k < NK; k++)
      if (use[k]) printf(mt[k][s] < 1 ? " %.3f |" : " %.2f |", mt[k][s]);
    printf("\n");
  }
  for (int off = 0; off <= SETTLED; off += SETTLED)
    for (int k = 0; k < NK; k++)
      if (use[k] && mt[k][S_IN32 + off] > 0)
        printf("\n%s: 32 single SELECTs / IN-list of 32%s, CPU of the bench's thread = %.2fx",
               klabel[k], off ? ", settled" : "", mt[k][S_ONE32 + off] / mt[k][S_IN32 + off]);
  printf("\n\n");
  return 0;
}
