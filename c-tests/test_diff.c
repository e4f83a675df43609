/* Differential test of the `lsm` virtual table (issue 5).
**
** Random SQL statements run on two databases: A holds the table under test (an lsm virtual
** table, optionally opened through the `uring` VFS), B holds the oracle, the equivalent native
** table (WITHOUT ROWID when there is a declared key, a rowid table otherwise). Both tables are
** named t, so error messages must match byte for byte. For every statement we compare: return
** code and extended code, the error message, changes(), the autocommit state, last_insert_rowid
** (rowid shape), and the result rows (in order when ORDER BY fixes a total order, else sorted).
** After every data change the whole table is compared too (every 16 statements once it is big),
** so a divergence is reported at the statement that caused it. Databases are closed and reopened
** at random points (also mid-transaction: close rolls back) and the contents re-compared. Some
** statements go through a second connection to each database (the lsm side shares one engine
** between connections); on the lsm side lsm_flush/lsm_compact run at random, lsm_check at the
** end, and DROP TABLE must remove the table's directory.
**
** Statements: INSERT (multi-row, column subsets, every ON CONFLICT mode, INSERT ... SELECT from a
** recursive CTE and from t itself), UPDATE (also of key columns, e.g. k = k + 1 which collides
** row by row), DELETE, SELECT with =, IN (with duplicates and NULL), ranges, BETWEEN, composite
** key prefixes, row values, non-key filters, COLLATE NOCASE, LIKE, subqueries, self-joins,
** ORDER BY ASC/DESC with LIMIT/OFFSET; BEGIN/COMMIT/ROLLBACK, SAVEPOINT/RELEASE/ROLLBACK TO; a
** SELECT left open (stepped, not reset) while the following statements run (reader_step).
** Values: integers, reals (1 vs 1.0), text ('12' into INTEGER columns), blobs, NULLs, int64 edges,
** text with quotes, NULs and UTF-8, a few big values (up to 70 KB).
** Not generated, on purpose (SQLite itself treats virtual tables differently; see the comments at
** gen_update and lit_rowid): key-changing UPDATE OR REPLACE, rowids that fail with "datatype
** mismatch". Keys over the engine's 64 KiB limit are refused by the module by design.
**
** Cases: harness_native (A = native too: proves the harness has no false positives, and runs the
** uring VFS against the unix one when registered), harness_mutant (A differs on purpose: the
** harness must notice), spill (every shape with the transactions' writes spilled to disk
** whenever 3 keys are pending, under savepoints and open cursors too: LSMVTAB_TEST_SPILL_KEYS=3),
** lsm_<shape> and, if the `uring` VFS is registered, uring_<shape>.
**
** Environment: LSMVTAB_TEST_SPILL_KEYS=n (every case spills at n pending keys; the spill case
** uses 3 when it is not set), LSMVTAB_EXT (extension path without .so; required), LSMVTAB_LONG=1 (more seeds
** and statements), LSMVTAB_DIFF_SEED=n (run only that seed), LSMVTAB_DIFF_SEEDS=n and
** LSMVTAB_DIFF_SEED_BASE=b (the lsm cases run seeds b+1 .. b+n per shape: a campaign beyond the
** fixed seeds 1..n that `make test` runs), LSMVTAB_DIFF_STMTS=n (statements per seed),
** LSMVTAB_DIFF_SHAPE=name (only that shape), LSMVTAB_DIFF_LOG=prefix (each run writes
** its statements to <prefix>.<shape>_<mode>[u]_<seed>.sql, a script for the sqlite3 shell that
** replays side A: `sqlite3 -cmd ".load build/lsmvtab" x.db < that.sql`). A failure prints the seed,
** the shape, the statement number and text, both results, and the statements leading to it.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vg_util.h"

#include <sqlite3.h>

/* ---------------------------------------------------------------- random numbers (splitmix64) */

typedef struct Rng {
  uint64_t s;
} Rng;

static uint64_t rng_next(Rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static int rnd(Rng *r, int n) { return (int)(rng_next(r) % (uint64_t)n); }
static int pct(Rng *r, int p) { return rnd(r, 100) < p; }
#define PICK(r, arr) ((arr)[rnd((r), (int)(sizeof(arr) / sizeof((arr)[0])))])

/* ---------------------------------------------------------------- table shapes */

/* Value domains: what literals a column gets. Key domains are small so keys collide. */
enum { D_TEXT, D_INT, D_SMALL, D_MIXED, D_ANY };

typedef struct Col {
  const char *name;
  const char *type; /* declared type ("" = none) */
  int dom;
  int notnull; /* NOT NULL on a non-key column */
} Col;

typedef struct Shape {
  const char *name;
  int ncol;
  int nkey; /* the first nkey columns are the PRIMARY KEY; 0 = no declared key (rowid) */
  Col col[6];
  const char *opts; /* extra lsm options, appended after the column list */
  int bulk;         /* max rows of one INSERT ... SELECT from a recursive CTE (0 = none) */
} Shape;

/* sync=off where the engine's default durability is not the point: fsyncs dominate the run time.
** int_key keeps the default. */
static const Shape shapes[] = {
    {"text_key", 3, 1, {{"k", "TEXT", D_TEXT, 0}, {"v", "INTEGER", D_ANY, 0}, {"w", "", D_ANY, 0}},
     ", sync=off", 50},
    /* A small memtable so that flushes happen and reads go through SSTs. */
    {"int_key", 3, 1, {{"k", "INTEGER", D_INT, 0}, {"v", "TEXT", D_ANY, 0}, {"w", "REAL", D_ANY, 0}},
     ", memtable_size='64KB', block_size=512", 600},
    {"mixed_key", 2, 1, {{"k", "", D_MIXED, 0}, {"v", "", D_ANY, 0}}, ", sync=off", 40},
    {"composite", 4, 2,
     {{"a", "INT", D_SMALL, 0}, {"b", "TEXT", D_TEXT, 0}, {"v", "NUMERIC", D_ANY, 0},
      {"w", "BLOB", D_ANY, 0}},
     ", compression=none, sync=off", 200},
    {"rowid", 3, 0, {{"v", "INTEGER", D_ANY, 0}, {"w", "TEXT", D_ANY, 0}, {"x", "", D_ANY, 0}},
     ", sync=off", 100},
    {"affinity", 6, 1,
     {{"k", "NUMERIC", D_MIXED, 0}, {"i", "INTEGER", D_ANY, 0}, {"r", "REAL", D_ANY, 0},
      {"t", "TEXT", D_ANY, 1}, {"n", "NUMERIC", D_ANY, 0}, {"b", "BLOB", D_ANY, 0}},
     ", sync=off", 0},
};
#define NSHAPE ((int)(sizeof shapes / sizeof shapes[0]))

/* How table t of database A is made. */
enum { M_LSM, M_NATIVE, M_MUTANT };

/* ---------------------------------------------------------------- statement results */

typedef struct Res {
  int rc, xrc;     /* SQLITE_OK or the error; extended code */
  char *err;       /* message when rc != SQLITE_OK */
  int changes;     /* sqlite3_changes() after the statement */
  int autocommit;  /* sqlite3_get_autocommit() after the statement */
  sqlite3_int64 lastrowid;
  char **rows;     /* each row as "type+value|type+value|..." */
  int nrow, cap;
} Res;

static void res_free(Res *r) {
  for (int i = 0; i < r->nrow; i++) sqlite3_free(r->rows[i]);
  free(r->rows);
  free(r->err);
  memset(r, 0, sizeof *r);
}

/* FNV-1a: long values are compared by length and hash, not printed whole (70 KB blobs in every
** row of a full-table compare cost more than the statements under test). */
static uint64_t fnv(const unsigned char *p, int n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/* One value with its type, so 1 and 1.0 and '1' all differ. */
static void fmt_value(sqlite3_str *s, sqlite3_stmt *st, int i) {
  switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: sqlite3_str_appendall(s, "N"); break;
    case SQLITE_INTEGER: sqlite3_str_appendf(s, "i%lld", sqlite3_column_int64(st, i)); break;
    case SQLITE_FLOAT: sqlite3_str_appendf(s, "r%!.17g", sqlite3_column_double(st, i)); break;
    case SQLITE_TEXT: { /* the length too: text with a NUL in it prints only up to the NUL */
      const unsigned char *p = sqlite3_column_text(st, i);
      int n = sqlite3_column_bytes(st, i);
      if (n > 64) sqlite3_str_appendf(s, "t%d#%016llx", n, (unsigned long long)fnv(p, n));
      else sqlite3_str_appendf(s, "t%d'%s'", n, (const char *)p);
      break;
    }
    default: {
      const unsigned char *p = sqlite3_column_blob(st, i);
      int n = sqlite3_column_bytes(st, i);
      if (n > 64) {
        sqlite3_str_appendf(s, "x%d#%016llx", n, (unsigned long long)fnv(p, n));
        break;
      }
      sqlite3_str_appendall(s, "x'");
      for (int j = 0; j < n; j++) sqlite3_str_appendf(s, "%02x", p[j]);
      sqlite3_str_appendall(s, "'");
    }
  }
}

/* Run one statement to completion; everything observable goes into *r. */
static void run_sql(sqlite3 *db, const char *sql, Res *r) {
  memset(r, 0, sizeof *r);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK && st) {
    int nc = sqlite3_column_count(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      sqlite3_str *s = sqlite3_str_new(NULL);
      for (int i = 0; i < nc; i++) {
        if (i) sqlite3_str_appendchar(s, 1, '|');
        fmt_value(s, st, i);
      }
      if (r->nrow == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->rows = realloc(r->rows, (size_t)r->cap * sizeof *r->rows);
        if (!r->rows) abort(); /* test code: out of memory is not a result to compare */
      }
      r->rows[r->nrow++] = sqlite3_str_finish(s);
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  r->rc = rc & 0xff;
  r->xrc = rc ? sqlite3_extended_errcode(db) : 0;
  r->err = rc ? strdup(sqlite3_errmsg(db)) : NULL;
  sqlite3_finalize(st);
  r->changes = sqlite3_changes(db);
  r->autocommit = sqlite3_get_autocommit(db);
  r->lastrowid = sqlite3_last_insert_rowid(db);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compare two results; on a difference write what differs into why and return 0. */
static int res_same(Res *a, Res *b, int ordered, int cmp_rowid, char *why, size_t n) {
  if (a->rc != b->rc || a->xrc != b->xrc) {
    snprintf(why, n, "return code: A %d (ext %d) \"%s\", B %d (ext %d) \"%s\"", a->rc, a->xrc,
             a->err ? a->err : "", b->rc, b->xrc, b->err ? b->err : "");
    return 0;
  }
  if (a->rc && strcmp(a->err, b->err) != 0) {
    snprintf(why, n, "error message: A \"%s\", B \"%s\"", a->err, b->err);
    return 0;
  }
  if (a->changes != b->changes) {
    snprintf(why, n, "changes(): A %d, B %d", a->changes, b->changes);
    return 0;
  }
  if (a->autocommit != b->autocommit) {
    snprintf(why, n, "autocommit: A %d, B %d", a->autocommit, b->autocommit);
    return 0;
  }
  if (cmp_rowid && a->lastrowid != b->lastrowid) {
    snprintf(why, n, "last_insert_rowid(): A %lld, B %lld", a->lastrowid, b->lastrowid);
    return 0;
  }
  if (!ordered) {
    if (a->nrow > 1) qsort(a->rows, (size_t)a->nrow, sizeof *a->rows, cmp_str);
    if (b->nrow > 1) qsort(b->rows, (size_t)b->nrow, sizeof *b->rows, cmp_str);
  }
  for (int i = 0; i < a->nrow && i < b->nrow; i++) {
    if (strcmp(a->rows[i], b->rows[i]) != 0) {
      snprintf(why, n, "%s row %d: A [%s], B [%s] (A has %d rows, B %d)",
               ordered ? "ordered" : "sorted", i, a->rows[i], b->rows[i], a->nrow, b->nrow);
      return 0;
    }
  }
  if (a->nrow != b->nrow) {
    int i = a->nrow < b->nrow ? a->nrow : b->nrow;
    snprintf(why, n, "row count: A %d, B %d; first extra row: %s [%s]", a->nrow, b->nrow,
             a->nrow > b->nrow ? "A" : "B", a->nrow > b->nrow ? a->rows[i] : b->rows[i]);
    return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------- one differential run */

#define HIST 30

typedef struct Diff {
  const Shape *sh;
  int mode, uring;
  char fa[96], fb[96];
  sqlite3 *a, *b;
  sqlite3 *a2, *b2;     /* second connections to the same files (shared engine in A) */
  int on2;              /* the statement being run goes through the second connections */
  Rng rng;
  uint64_t seed;
  long nstmt;           /* statements run so far */
  char *hist[HIST];     /* the last statements, for the failure report */
  int nsp;              /* savepoints open (as the generator believes) */
  int in_txn;
  int big;              /* the table had many rows at the last full compare */
  int since_verify;
  sqlite3_stmt *rda, *rdb; /* an open reader of t, the same SELECT on A and B, or NULL */
  int rd_left;             /* statements until it is finalized */
  FILE *log;
  char why[2048];
} Diff;

static const char *ext_path(void) { return getenv("LSMVTAB_EXT"); }

static void hist_push(Diff *d, const char *sql) {
  char *h = malloc(strlen(sql) + 32);
  if (!h) abort();
  sprintf(h, "%s%s", d->on2 ? "/* 2nd connection */ " : "", sql);
  free(d->hist[0]);
  memmove(d->hist, d->hist + 1, (HIST - 1) * sizeof d->hist[0]);
  d->hist[HIST - 1] = h;
  if (d->log) fprintf(d->log, "%s;\n", h);
}

static void report(Diff *d, const char *sql, const char *what) {
  fprintf(stderr, "---- statements before the failure (most recent last):\n");
  for (int i = 0; i < HIST; i++)
    if (d->hist[i] && (i < HIST - 1 || !strstr(d->hist[i], sql))) fprintf(stderr, "  %s;\n", d->hist[i]);
  fprintf(stderr, "DIFF FAILURE shape=%s mode=%s%s seed=%llu statement #%ld:\n  %s%s;\n  %s\n",
          d->sh->name, d->mode == M_LSM ? "lsm" : d->mode == M_NATIVE ? "native" : "mutant",
          d->uring ? "+uring" : "", (unsigned long long)d->seed, d->nstmt,
          d->on2 ? "/* 2nd connection */ " : "", sql, what);
  fprintf(stderr, "  rerun: LSMVTAB_DIFF_SHAPE=%s LSMVTAB_DIFF_SEED=%llu LSMVTAB_DIFF_LOG=/tmp/diff"
          " (writes /tmp/diff.%.*s.sql)\n", d->sh->name, (unsigned long long)d->seed,
          (int)strlen(d->fa) - 5, d->fa);
  fflush(stderr);
}

/* CREATE statements for A and B. */
static char *ddl(const Shape *sh, int lsm, int mutant) {
  sqlite3_str *s = sqlite3_str_new(NULL);
  if (lsm)
    sqlite3_str_appendall(s, "CREATE VIRTUAL TABLE t USING lsm(");
  else
    sqlite3_str_appendall(s, "CREATE TABLE t(");
  for (int i = 0; i < sh->ncol; i++) {
    const Col *c = &sh->col[i];
    sqlite3_str_appendf(s, "%s%s%s%s", i ? ", " : "", c->name, c->type[0] ? " " : "", c->type);
    if (c->notnull) sqlite3_str_appendall(s, " NOT NULL");
    if (mutant && i == 0) sqlite3_str_appendall(s, " COLLATE NOCASE");
  }
  if (sh->nkey) {
    sqlite3_str_appendall(s, ", PRIMARY KEY(");
    for (int i = 0; i < sh->nkey; i++) sqlite3_str_appendf(s, "%s%s", i ? ", " : "", sh->col[i].name);
    sqlite3_str_appendall(s, ")");
  }
  if (lsm) sqlite3_str_appendall(s, sh->opts);
  sqlite3_str_appendall(s, ")");
  if (!lsm && sh->nkey) sqlite3_str_appendall(s, " WITHOUT ROWID");
  return sqlite3_str_finish(s);
}

static int open_db(Diff *d, const char *file, int uring, sqlite3 **out) {
  char name[160];
  snprintf(name, sizeof name, uring ? "file:%s?vfs=uring" : "%s", file);
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(name, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL);
  if (rc != SQLITE_OK) {
    snprintf(d->why, sizeof d->why, "open %s: %s", name, db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_close(db);
    return -1;
  }
  const char *ext = ext_path();
  if (ext) {
    char *err = NULL;
    sqlite3_enable_load_extension(db, 1);
    if (sqlite3_load_extension(db, ext, NULL, &err) != SQLITE_OK) {
      snprintf(d->why, sizeof d->why, "load extension %s: %s", ext, err ? err : "?");
      sqlite3_free(err);
      sqlite3_close(db);
      return -1;
    }
  }
  /* No fsync: the test is about behaviour, not durability; close/reopen still checks that data
  ** reaches the files. */
  sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
  *out = db;
  return 0;
}

static int open_both(Diff *d) {
  if (open_db(d, d->fa, d->uring, &d->a)) return -1;
  if (open_db(d, d->fb, 0, &d->b)) return -1;
  if (open_db(d, d->fa, d->uring, &d->a2)) return -1;
  if (open_db(d, d->fb, 0, &d->b2)) return -1;
  return 0;
}

static void close_both(Diff *d) {
  sqlite3_close_v2(d->a);
  sqlite3_close_v2(d->b);
  sqlite3_close_v2(d->a2);
  sqlite3_close_v2(d->b2);
  d->a = d->b = d->a2 = d->b2 = NULL;
  d->nsp = 0;
  d->in_txn = 0;
}

/* Run sql on A and B and compare. Returns 0 when the same, -1 (after a report) when not. */
static int both(Diff *d, const char *sql, int ordered) {
  Res ra, rb;
  d->nstmt++;
  hist_push(d, sql);
  run_sql(d->a, sql, &ra);
  run_sql(d->b, sql, &rb);
  int ok = res_same(&ra, &rb, ordered, d->sh->nkey == 0, d->why, sizeof d->why);
  if (!ok) report(d, sql, d->why);
  /* keep the generator's idea of the transaction state honest (OR ROLLBACK ends it, etc.) */
  if (rb.autocommit) d->nsp = 0, d->in_txn = 0;
  res_free(&ra);
  res_free(&rb);
  return ok ? 0 : -1;
}

/* Compare the whole table, in key order. */
static int verify(Diff *d, const char *when) {
  char sql[160];
  const Shape *sh = d->sh;
  if (sh->nkey == 0)
    snprintf(sql, sizeof sql, "SELECT rowid, * FROM t ORDER BY rowid");
  else if (sh->nkey == 1)
    snprintf(sql, sizeof sql, "SELECT * FROM t ORDER BY %s", sh->col[0].name);
  else
    snprintf(sql, sizeof sql, "SELECT * FROM t ORDER BY %s, %s", sh->col[0].name, sh->col[1].name);
  Res ra, rb;
  run_sql(d->a, sql, &ra);
  run_sql(d->b, sql, &rb);
  ra.changes = rb.changes; /* a read: changes() is compared with the statements themselves */
  ra.lastrowid = rb.lastrowid;
  int ok = res_same(&ra, &rb, 1, 0, d->why, sizeof d->why);
  if (!ok) {
    char what[2200];
    snprintf(what, sizeof what, "table contents differ %s: %s", when, d->why);
    report(d, d->hist[HIST - 1] ? d->hist[HIST - 1] : sql, what);
  }
  d->big = rb.nrow > 300;
  d->since_verify = 0;
  res_free(&ra);
  res_free(&rb);
  return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- literal generators */

static const char *ANY_SPECIAL[] = {
    "NULL", "NULL", "NULL", "0", "1", "2", "-1", "7", "12", "100", "9223372036854775807",
    "-9223372036854775808", "0.5", "1.0", "2.0", "-2.5", "1e100", "3.0e0", "'12'", "'1.5'",
    "' 7'", "'1e3'", "'0x1F'", "'abc'", "''", "'1.0'", "x''", "x'3132'", "x'00ff'", "'12abc'",
    "9.2233720368547758e18", "'-0'", "'+5'", "'1.'", "'it''s'", "'\xc3\xa9t\xc3\xa9'"};
/* big values, rarely: records spanning SST blocks (block_size=512 in int_key) */
static const char *BIG[] = {"zeroblob(70000)", "hex(zeroblob(3000))", "printf('%.5000c', 'v')"};
static const char *TEXT_SPECIAL[] = {"1",     "10",    "9",     "'1'",   "'10'", "'9'",
                                     "2.5",   "x'61'", "x'62'", "'1.0'", "' 2'", "NULL", "1.0",
                                     "'it''s'", "'a' || char(0) || 'b'", "printf('%.3000c', 'b')"};
static const char *INT_SPECIAL[] = {"'7'", "' 8 '", "3.0", "2.5", "'x'", "x'00'",
                                    "9223372036854775807", "-9223372036854775808",
                                    "9.2233720368547758e18", "'12'", "NULL", "-0.0", "'1e1'", "1e1"};
static const char *SMALL_SPECIAL[] = {"'3'", "2.0", "1.5", "'q'", "NULL", "x'01'"};
static const char *REALS[] = {"0.5", "1.0", "2.0", "1.5", "-1.0", "10.0", "1e10", "-0.0"};
static const char *BLOBS[] = {"x''", "x'00'", "x'61'", "x'6162'", "x'ff'"};
static const char *MIXED_SPECIAL[] = {"'1'", "'1.0'", "NULL", "9223372036854775807",
                                      "-9223372036854775808", "9.2233720368547758e18", "''"};

/* Under valgrind only: the oracle (native SQLite) compares an integer with a real through a long
** double, which valgrind computes at double precision, so comparisons between values of magnitude
** >= 2^53 come out wrong there (e.g. 9223372036854775807 < 9.2233720368547758e18 says "equal").
** Under valgrind the literals of such magnitude (and the integer-overflow-to-real they lead to)
** are replaced by ones just below 2^53, and the run reports how many; natively nothing changes. */
static long n_vg_subst;
static const char *exact_lit(const char *l) {
  static const char *big[][2] = {{"9223372036854775807", "9007199254740991"},
                                 {"-9223372036854775808", "-9007199254740991"},
                                 {"9.2233720368547758e18", "9007199254740990.0"}};
  if (!vg_running()) return l;
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
    if (!strcmp(l, big[i][0])) return n_vg_subst++, big[i][1];
  return l;
}

static void lit_str(Diff *d, sqlite3_str *s) {
  static const char al[] = "abcB";
  char buf[8];
  int n = rnd(&d->rng, 4);
  for (int i = 0; i < n; i++) buf[i] = al[rnd(&d->rng, 4)];
  buf[n] = 0;
  sqlite3_str_appendf(s, "'%s'", buf);
}

static void lit(Diff *d, sqlite3_str *s, int dom) {
  Rng *r = &d->rng;
  switch (dom) {
    case D_TEXT:
      if (pct(r, 85)) lit_str(d, s);
      else sqlite3_str_appendall(s, PICK(r, TEXT_SPECIAL));
      break;
    case D_INT:
      if (pct(r, 80)) sqlite3_str_appendf(s, "%d", rnd(r, 44) - 3);
      else sqlite3_str_appendall(s, exact_lit(PICK(r, INT_SPECIAL)));
      break;
    case D_SMALL:
      if (pct(r, 88)) sqlite3_str_appendf(s, "%d", rnd(r, 5));
      else sqlite3_str_appendall(s, PICK(r, SMALL_SPECIAL));
      break;
    case D_MIXED: {
      int x = rnd(r, 100);
      if (x < 30) sqlite3_str_appendf(s, "%d", rnd(r, 11));
      else if (x < 50) sqlite3_str_appendall(s, PICK(r, REALS));
      else if (x < 75) lit_str(d, s);
      else if (x < 90) sqlite3_str_appendall(s, PICK(r, BLOBS));
      else sqlite3_str_appendall(s, exact_lit(PICK(r, MIXED_SPECIAL)));
      break;
    }
    default: {
      int x = rnd(r, 100);
      if (x < 1) sqlite3_str_appendall(s, PICK(r, BIG));
      else if (x < 50) sqlite3_str_appendall(s, exact_lit(PICK(r, ANY_SPECIAL)));
      else if (x < 75) sqlite3_str_appendf(s, "%d", rnd(r, 20) - 2);
      else lit_str(d, s);
    }
  }
}

/* A literal for column i (key columns use their domain, the rowid shape's key is the rowid). */
static void lit_col(Diff *d, sqlite3_str *s, int i) { lit(d, s, d->sh->col[i].dom); }

static void lit_rowid(Diff *d, sqlite3_str *s) {
  /* 'abc' and 2.5 fail with "datatype mismatch", which is not a constraint error: a native table
  ** under OR IGNORE/REPLACE/FAIL/ROLLBACK inside a transaction then keeps the statement's earlier
  ** rows (it has no statement journal); the module copies that. */
  static const char *sp[] = {"'5'", "2.0", "2.5", "'abc'", "NULL", "-1", "1000000", "0"};
  if (pct(&d->rng, 90)) sqlite3_str_appendf(s, "%d", 1 + rnd(&d->rng, 30));
  else sqlite3_str_appendall(s, PICK(&d->rng, sp));
}

/* The key's first column (or rowid) and a literal for it. */
static const char *k0(Diff *d) { return d->sh->nkey ? d->sh->col[0].name : "rowid"; }
static void lit_k0(Diff *d, sqlite3_str *s) {
  if (d->sh->nkey) lit_col(d, s, 0);
  else lit_rowid(d, s);
}
static const char *nonkey(Diff *d) {
  const Shape *sh = d->sh;
  return sh->col[sh->nkey + rnd(&d->rng, sh->ncol - sh->nkey)].name;
}

static void in_list(Diff *d, sqlite3_str *s, void (*gen)(Diff *, sqlite3_str *)) {
  int n = 1 + rnd(&d->rng, 5);
  char *prev = NULL;
  sqlite3_str_appendall(s, "(");
  for (int i = 0; i < n; i++) {
    if (i) sqlite3_str_appendall(s, ", ");
    if (prev && pct(&d->rng, 25)) {
      sqlite3_str_appendall(s, prev); /* a duplicate */
      continue;
    }
    if (pct(&d->rng, 6)) {
      sqlite3_str_appendall(s, "NULL");
      continue;
    }
    sqlite3_str *one = sqlite3_str_new(NULL);
    gen(d, one);
    sqlite3_free(prev);
    prev = sqlite3_str_finish(one);
    sqlite3_str_appendall(s, prev);
  }
  sqlite3_free(prev);
  sqlite3_str_appendall(s, ")");
}

static void lit_b(Diff *d, sqlite3_str *s) { lit_col(d, s, 1); }
static void lit_a(Diff *d, sqlite3_str *s) { lit_col(d, s, 0); }

static const char *CMP[] = {"<", "<=", ">", ">="};

/* A WHERE clause (possibly empty) with a leading space. */
static void gen_where(Diff *d, sqlite3_str *s) {
  Rng *r = &d->rng;
  const Shape *sh = d->sh;
  const char *k = k0(d);
  if (sh->nkey == 2 && pct(r, 45)) {
    const char *a = sh->col[0].name, *b = sh->col[1].name;
    switch (rnd(r, 9)) {
      case 0: sqlite3_str_appendf(s, " WHERE %s = ", a); lit_a(d, s);
              sqlite3_str_appendf(s, " AND %s %s ", b, PICK(r, CMP)); lit_b(d, s); break;
      case 1: sqlite3_str_appendf(s, " WHERE %s = ", a); lit_a(d, s);
              sqlite3_str_appendf(s, " AND %s BETWEEN ", b); lit_b(d, s);
              sqlite3_str_appendall(s, " AND "); lit_b(d, s); break;
      case 2: sqlite3_str_appendf(s, " WHERE %s IN ", a); in_list(d, s, lit_a);
              sqlite3_str_appendf(s, " AND %s = ", b); lit_b(d, s); break;
      case 3: sqlite3_str_appendf(s, " WHERE %s = ", a); lit_a(d, s);
              sqlite3_str_appendf(s, " AND %s IN ", b); in_list(d, s, lit_b); break;
      case 4: sqlite3_str_appendf(s, " WHERE (%s, %s) %s (", a, b, PICK(r, CMP)); lit_a(d, s);
              sqlite3_str_appendall(s, ", "); lit_b(d, s); sqlite3_str_appendall(s, ")"); break;
      case 5: sqlite3_str_appendf(s, " WHERE %s BETWEEN ", a); lit_a(d, s);
              sqlite3_str_appendall(s, " AND "); lit_a(d, s); break;
      case 6: sqlite3_str_appendf(s, " WHERE %s = ", b); lit_b(d, s); break;
      case 7: sqlite3_str_appendf(s, " WHERE %s = ", a); lit_a(d, s);
              sqlite3_str_appendf(s, " AND %s = ", b); lit_b(d, s); break;
      default: sqlite3_str_appendf(s, " WHERE %s = ", a); lit_a(d, s); break;
    }
    return;
  }
  switch (rnd(r, 16)) {
    case 0: case 1: return; /* everything */
    case 2: case 3: sqlite3_str_appendf(s, " WHERE %s = ", k); lit_k0(d, s); break;
    case 4: sqlite3_str_appendf(s, " WHERE %s IN ", k); in_list(d, s, lit_k0); break;
    case 5: sqlite3_str_appendf(s, " WHERE %s %s ", k, PICK(r, CMP)); lit_k0(d, s); break;
    case 6: sqlite3_str_appendf(s, " WHERE %s BETWEEN ", k); lit_k0(d, s);
            sqlite3_str_appendall(s, " AND "); lit_k0(d, s); break;
    case 7: sqlite3_str_appendf(s, " WHERE %s > ", k); lit_k0(d, s);
            sqlite3_str_appendf(s, " AND %s <= ", k); lit_k0(d, s); break;
    case 8: {
      const char *v = nonkey(d);
      if (pct(r, 40)) sqlite3_str_appendf(s, " WHERE %s IS NULL", v);
      else { sqlite3_str_appendf(s, " WHERE %s %s ", v, PICK(r, CMP)); lit(d, s, D_ANY); }
      break;
    }
    case 9: sqlite3_str_appendf(s, " WHERE %s = ", k); lit_k0(d, s);
            sqlite3_str_appendf(s, " OR %s IS NULL", nonkey(d)); break;
    case 10: sqlite3_str_appendf(s, " WHERE %s >= ", k); lit_k0(d, s);
             sqlite3_str_appendf(s, " AND %s IS NOT NULL", nonkey(d)); break;
    case 11: sqlite3_str_appendf(s, " WHERE %s %s ", k, PICK(r, CMP)); lit_k0(d, s);
             sqlite3_str_appendall(s, " COLLATE NOCASE"); break;
    case 12: sqlite3_str_appendf(s, " WHERE NOT (%s < ", k); lit_k0(d, s); sqlite3_str_appendall(s, ")"); break;
    case 13: sqlite3_str_appendf(s, " WHERE %s IN (SELECT %s FROM t WHERE %s IS NOT NULL)", k,
                                 nonkey(d), k); break;
    case 14: sqlite3_str_appendf(s, " WHERE %s LIKE 'b%%'", k); break;
    default:
      /* two ranges OR-ed: SQLite runs one xFilter per branch and de-duplicates by key */
      sqlite3_str_appendf(s, " WHERE %s < ", k); lit_k0(d, s);
      sqlite3_str_appendf(s, " OR %s > ", k); lit_k0(d, s); break;
  }
}

/* ORDER BY clause; returns 1 if it fixes a total order (then LIMIT/OFFSET may follow). */
static int gen_order(Diff *d, sqlite3_str *s) {
  Rng *r = &d->rng;
  const Shape *sh = d->sh;
  const char *dir1 = pct(r, 50) ? " DESC" : "", *dir2 = pct(r, 70) ? dir1 : pct(r, 50) ? " DESC" : "";
  int x = rnd(r, 10);
  if (x < 4) return 0;
  if (x == 4) { sqlite3_str_appendf(s, " ORDER BY %s%s", nonkey(d), dir1); return 0; }
  if (x == 5) sqlite3_str_appendf(s, " ORDER BY %s%s, ", nonkey(d), dir2);
  /* a non-BINARY collation on the key: the module must not claim this order */
  else if (x == 6) sqlite3_str_appendf(s, " ORDER BY %s COLLATE NOCASE%s, ", k0(d), dir2);
  else sqlite3_str_appendall(s, " ORDER BY ");
  if (sh->nkey == 2) sqlite3_str_appendf(s, "%s%s, %s%s", sh->col[0].name, dir1, sh->col[1].name, dir2);
  else sqlite3_str_appendf(s, "%s%s", k0(d), dir1);
  if (pct(r, 45)) {
    sqlite3_str_appendf(s, " LIMIT %d", rnd(r, 6));
    if (pct(r, 50)) sqlite3_str_appendf(s, " OFFSET %d", rnd(r, 5));
  }
  return 1;
}

/* The column list of a SELECT over t. */
static void gen_cols(Diff *d, sqlite3_str *s) {
  const Shape *sh = d->sh;
  switch (rnd(&d->rng, 6)) {
    case 0: sqlite3_str_appendall(s, sh->nkey ? "*" : "rowid, *"); break;
    case 1: sqlite3_str_appendf(s, "typeof(%s), %s, quote(%s)", k0(d), k0(d), nonkey(d)); break;
    case 2: sqlite3_str_appendf(s, "%s", k0(d)); break;
    default: sqlite3_str_appendall(s, sh->nkey ? "*" : "rowid, *"); break;
  }
}

static int gen_select(Diff *d) {
  Rng *r = &d->rng;
  sqlite3_str *s = sqlite3_str_new(NULL);
  int ordered = 0;
  int x = rnd(r, 12);
  if (x == 0) {
    sqlite3_str_appendall(s, "SELECT count(*), count(");
    sqlite3_str_appendf(s, "%s) FROM t", nonkey(d));
    gen_where(d, s);
  } else if (x == 1) {
    /* self-join: the inner side looked up by key per outer row (xFilter called many times);
    ** comparing a key column with another column exercises comparison affinity. */
    const char *k = k0(d);
    if (pct(r, 50))
      sqlite3_str_appendf(s, "SELECT x.%s, y.%s FROM t AS x JOIN t AS y ON y.%s = x.%s", k, k, k, k);
    else
      sqlite3_str_appendf(s, "SELECT x.%s, y.%s FROM t AS x JOIN t AS y ON y.%s = x.%s", k, k, k, nonkey(d));
  } else if (x == 3) {
    /* grouping and DISTINCT (sqlite3_vtab_distinct): the module may claim the order only if
    ** its rows really come grouped. A non-key column can hold equal values of two types (2 and
    ** 2.0); which of them DISTINCT or max() keeps is the first one met, which depends on the
    ** plan's row order, not on the table (seed 31027: native scanned its key backwards, the
    ** module's plan met the rows forward). So the type is made part of DISTINCT's row, and max()
    ** of a number is compared as a REAL. */
    const char *g = k0(d), *v = nonkey(d);
    int y = rnd(r, 4);
    if (y == 0) sqlite3_str_appendf(s, "SELECT DISTINCT %s FROM t", g);
    else if (y == 1) sqlite3_str_appendf(s, "SELECT DISTINCT %s, typeof(%s) FROM t", v, v);
    else
      sqlite3_str_appendf(s,
                          "SELECT %s, count(*), CASE WHEN typeof(max(%s)) = 'integer' THEN "
                          "max(%s) * 1.0 ELSE max(%s) END FROM t",
                          g, v, v, v);
    gen_where(d, s);
    if (y >= 2) sqlite3_str_appendf(s, " GROUP BY %s", g);
    if (y == 3) {
      sqlite3_str_appendf(s, " ORDER BY %s%s", g, pct(r, 50) ? " DESC" : "");
      ordered = 1; /* one row per group: a total order */
    }
  } else if (x == 2) {
    sqlite3_str_appendf(s, "SELECT %s FROM t WHERE %s > ", k0(d), k0(d));
    lit_k0(d, s);
    sqlite3_str_appendf(s, " ORDER BY %s DESC LIMIT %d", k0(d), 1 + rnd(r, 3));
    ordered = d->sh->nkey < 2;
  } else {
    sqlite3_str_appendall(s, "SELECT ");
    gen_cols(d, s);
    sqlite3_str_appendall(s, " FROM t");
    gen_where(d, s);
    ordered = gen_order(d, s);
  }
  char *sql = sqlite3_str_finish(s);
  int rc = both(d, sql, ordered);
  sqlite3_free(sql);
  return rc;
}

static const char *CONFLICT[] = {"", "", "", " OR REPLACE", " OR IGNORE", " OR ABORT", " OR FAIL",
                                 " OR ROLLBACK"};

static int gen_insert(Diff *d) {
  Rng *r = &d->rng;
  const Shape *sh = d->sh;
  sqlite3_str *s = sqlite3_str_new(NULL);
  int x = rnd(r, 100);
  if (x < 6 && sh->bulk) {
    /* INSERT ... SELECT of a range from a recursive CTE */
    int lo = rnd(r, 60), n = 1 + rnd(r, sh->bulk);
    sqlite3_str_appendf(s, "WITH RECURSIVE c(x) AS (VALUES(%d) UNION ALL SELECT x+1 FROM c WHERE x<%d) "
                           "INSERT%s INTO t SELECT ", lo, lo + n - 1, PICK(r, CONFLICT));
    if (sh->nkey == 0) sqlite3_str_appendall(s, "x * 3, 'w' || x, NULL");
    for (int i = 0; i < sh->ncol && sh->nkey; i++) {
      if (i) sqlite3_str_appendall(s, ", ");
      if (i >= sh->nkey) sqlite3_str_appendall(s, i % 2 ? "x * 2" : "printf('v%d', x)");
      else if (sh->col[i].dom == D_TEXT) sqlite3_str_appendall(s, "printf('%04d', x)");
      else if (sh->col[i].dom == D_SMALL) sqlite3_str_appendall(s, "x % 5");
      else if (sh->col[i].dom == D_MIXED) sqlite3_str_appendall(s, "CASE x % 3 WHEN 0 THEN x WHEN 1 THEN x + 0.5 ELSE 'm' || x END");
      else sqlite3_str_appendall(s, "x");
    }
    sqlite3_str_appendall(s, " FROM c");
  } else if (x < 10) {
    /* INSERT ... SELECT from t itself (SQLite reads it all before writing) */
    sqlite3_str_appendf(s, "INSERT%s INTO t SELECT ", PICK(r, CONFLICT));
    if (sh->nkey == 0) sqlite3_str_appendall(s, "v, w || 'c', x");
    for (int i = 0; i < sh->ncol && sh->nkey; i++) {
      const Col *c = &sh->col[i];
      if (i) sqlite3_str_appendall(s, ", ");
      if (i == sh->nkey - 1 && pct(r, 70))
        sqlite3_str_appendf(s, c->dom == D_TEXT ? "%s || 'c'" : "%s + 1", c->name);
      else sqlite3_str_appendall(s, c->name);
    }
    sqlite3_str_appendall(s, " FROM t");
    gen_where(d, s);
  } else {
    /* INSERT ... VALUES, with a random column subset/order */
    int order[8], n = sh->ncol;
    for (int i = 0; i < n; i++) order[i] = i;
    int explicit_cols = pct(r, 50), rowid_col = sh->nkey == 0 && pct(r, 40);
    if (explicit_cols) {
      for (int i = n - 1; i > 0; i--) {
        int j = rnd(r, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
      if (pct(r, 20)) n = 1 + rnd(r, n); /* some columns left out (NULL) */
    }
    sqlite3_str_appendf(s, pct(r, 8) ? "REPLACE INTO t" : "INSERT%s INTO t", PICK(r, CONFLICT));
    if (explicit_cols || rowid_col) {
      sqlite3_str_appendall(s, "(");
      if (rowid_col) sqlite3_str_appendf(s, "rowid%s", n ? ", " : "");
      for (int i = 0; i < n; i++) sqlite3_str_appendf(s, "%s%s", i ? ", " : "", sh->col[order[i]].name);
      sqlite3_str_appendall(s, ")");
    }
    sqlite3_str_appendall(s, " VALUES");
    int nrow = pct(r, 60) ? 1 : 2 + rnd(r, 4);
    for (int j = 0; j < nrow; j++) {
      sqlite3_str_appendall(s, j ? ", (" : "(");
      if (rowid_col) {
        lit_rowid(d, s);
        if (n) sqlite3_str_appendall(s, ", ");
      }
      for (int i = 0; i < n; i++) {
        if (i) sqlite3_str_appendall(s, ", ");
        lit_col(d, s, order[i]);
      }
      sqlite3_str_appendall(s, ")");
    }
  }
  char *sql = sqlite3_str_finish(s);
  int rc = both(d, sql, 0);
  sqlite3_free(sql);
  return rc;
}

static int gen_update(Diff *d) {
  Rng *r = &d->rng;
  const Shape *sh = d->sh;
  sqlite3_str *s = sqlite3_str_new(NULL);
  const char *conflict = PICK(r, CONFLICT);
  sqlite3_str_appendf(s, "UPDATE%s t SET ", conflict);
  /* No key change under OR REPLACE: when a row moves onto a key that the same statement visits
  ** later, a native table re-reads that key (and updates the moved row again), while SQLite
  ** gives a virtual table's xUpdate the new values it computed before the first change. That
  ** divergence is SQLite's, not the module's: it cannot be matched, so it is not generated. */
  int keyok = strcmp(conflict, " OR REPLACE") != 0;
  int n = 1 + rnd(r, 2), xs[2], keychange = 0;
  for (int j = 0; j < n; j++) {
    xs[j] = keyok ? rnd(r, 10) : 3 + rnd(r, 7);
    keychange |= xs[j] < 3;
  }
  for (int j = 0; j < n; j++) {
    if (j) sqlite3_str_appendall(s, ", ");
    int x = xs[j];
    if (x < 3) {
      /* the key (or rowid) changes: collisions, moves ahead of the scan */
      int i = sh->nkey ? rnd(r, sh->nkey) : -1;
      const char *c = i >= 0 ? sh->col[i].name : "rowid";
      int dom = i >= 0 ? sh->col[i].dom : D_INT;
      if (pct(r, 30)) {
        sqlite3_str_appendf(s, "%s = ", c);
        if (i >= 0) lit_col(d, s, i);
        else lit_rowid(d, s);
      } else if (dom == D_TEXT) sqlite3_str_appendf(s, "%s = %s || '%c'", c, c, "ab"[rnd(r, 2)]);
      else if (dom == D_MIXED && pct(r, 50)) sqlite3_str_appendf(s, "%s = %s + 0.5", c, c);
      else sqlite3_str_appendf(s, "%s = %s + %d", c, c, pct(r, 70) ? 1 : 7);
    } else {
      const char *v = nonkey(d);
      if (x < 7) { sqlite3_str_appendf(s, "%s = ", v); lit(d, s, D_ANY); }
      else if (x < 8) sqlite3_str_appendf(s, "%s = %s + 1", v, v);
      else if (x < 9) sqlite3_str_appendf(s, "%s = %s || 'u'", v, v);
      else if (!d->big && !keychange && pct(r, 50))
        /* a correlated subquery reading t while t is being updated: only its keys, and only when
        ** this UPDATE leaves the keys alone (natively the subquery would see keys already moved
        ** by the statement, while SQLite computes a virtual table's new rows before the first
        ** change); quadratic, so only while t is small */
        sqlite3_str_appendf(s, "%s = (SELECT count(*) FROM t AS z WHERE z.%s < t.%s)", v, k0(d), k0(d));
      else sqlite3_str_appendf(s, "%s = NULL", v);
    }
  }
  gen_where(d, s);
  char *sql = sqlite3_str_finish(s);
  int rc = both(d, sql, 0);
  sqlite3_free(sql);
  return rc;
}

static int gen_delete(Diff *d) {
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendall(s, "DELETE FROM t");
  gen_where(d, s);
  if (!strstr(sqlite3_str_value(s), "WHERE") && pct(&d->rng, 70)) {
    sqlite3_str_appendf(s, " WHERE %s < ", k0(d)); /* rarely empty the whole table */
    lit_k0(d, s);
  }
  char *sql = sqlite3_str_finish(s);
  int rc = both(d, sql, 0);
  sqlite3_free(sql);
  return rc;
}

static int gen_txn(Diff *d) {
  Rng *r = &d->rng;
  char sql[64];
  int x = rnd(r, 10);
  if (!d->in_txn && d->nsp == 0) {
    if (x < 7) snprintf(sql, sizeof sql, "BEGIN");
    else snprintf(sql, sizeof sql, "SAVEPOINT s%d", d->nsp);
  } else if (x < 3) {
    snprintf(sql, sizeof sql, "SAVEPOINT s%d", d->nsp);
  } else if (x < 5 && d->nsp) {
    snprintf(sql, sizeof sql, "RELEASE s%d", rnd(r, d->nsp));
  } else if (x < 7 && d->nsp) {
    snprintf(sql, sizeof sql, "ROLLBACK TO s%d", rnd(r, d->nsp));
  } else if (x < 9) {
    snprintf(sql, sizeof sql, "COMMIT");
  } else {
    snprintf(sql, sizeof sql, "ROLLBACK");
  }
  int rc = both(d, sql, 0);
  if (rc) return rc;
  /* track the state the statement left */
  if (!strncmp(sql, "BEGIN", 5)) d->in_txn = 1;
  else if (!strncmp(sql, "SAVEPOINT", 9)) d->nsp++, d->in_txn = 1;
  else if (!strncmp(sql, "RELEASE", 7)) d->nsp = atoi(sql + 9);
  else if (!strncmp(sql, "ROLLBACK TO", 11)) d->nsp = atoi(sql + 13) + 1;
  if (sqlite3_get_autocommit(d->b)) d->in_txn = 0, d->nsp = 0;
  return 0;
}

/* A-only engine functions (lsm mode): flushes and compactions in the middle of the workload. */
static int lsm_call(Diff *d, const char *fn) {
  char sql[64];
  snprintf(sql, sizeof sql, "SELECT %s('t')", fn);
  hist_push(d, sql);
  char *err = NULL;
  int rc = sqlite3_exec(d->a, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    char what[600];
    snprintf(what, sizeof what, "%s failed on A: %d %s", fn, rc, err ? err : "");
    report(d, sql, what);
  }
  sqlite3_free(err);
  return rc == SQLITE_OK ? 0 : -1;
}

/* Interleaved cursors: a SELECT of t stepped a few rows and left open (not reset) on both sides
** while the next statements run on the same connections; stepped again now and then. Its rows
** are not compared (the lsm cursor reads its snapshot, a native one reads live), but the
** statements around it are: nothing may depend on it. (The module once silently skipped an
** UPDATE of a key written after such a reader started.) Finalized after a few statements, and
** before anything that needs the connection idle (reopen, the second connections, DROP). */
static void reader_close(Diff *d) {
  if (!d->rda && !d->rdb) return;
  hist_push(d, "-- the open reader is finalized");
  sqlite3_finalize(d->rda);
  sqlite3_finalize(d->rdb);
  d->rda = d->rdb = NULL;
  d->rd_left = 0;
}

static int reader_step(Diff *d) {
  Rng *r = &d->rng;
  int steps = 1;
  if (!d->rda) {
    sqlite3_str *s = sqlite3_str_new(NULL);
    int x = rnd(r, 3);
    if (x == 0) sqlite3_str_appendall(s, "SELECT * FROM t");
    else {
      sqlite3_str_appendf(s, "SELECT * FROM t WHERE %s %s ", k0(d), x == 1 ? "=" : ">=");
      lit_k0(d, s);
      if (x == 2) sqlite3_str_appendf(s, " ORDER BY %s DESC", k0(d));
    }
    char *sql = sqlite3_str_finish(s);
    char h[600];
    snprintf(h, sizeof h, "-- open a reader, left open: %.500s", sql);
    hist_push(d, h);
    int pa = sqlite3_prepare_v2(d->a, sql, -1, &d->rda, NULL);
    int pb = sqlite3_prepare_v2(d->b, sql, -1, &d->rdb, NULL);
    sqlite3_free(sql);
    if (pa != pb) {
      report(d, h, "prepare of the reader: different result on A and B");
      return -1;
    }
    if (pa != SQLITE_OK) { /* e.g. a literal the shape cannot take: not the point here */
      reader_close(d);
      return 0;
    }
    d->rd_left = 3 + rnd(r, 40);
    steps = 1 + rnd(r, 3);
  } else {
    hist_push(d, "-- step the open reader");
  }
  for (int i = 0; i < steps; i++) {
    /* after SQLITE_DONE a step starts the SELECT again: a reader starting mid-transaction */
    int ra = sqlite3_step(d->rda), rb = sqlite3_step(d->rdb);
    int erra = ra != SQLITE_ROW && ra != SQLITE_DONE, errb = rb != SQLITE_ROW && rb != SQLITE_DONE;
    if (erra && !errb) {
      char what[600];
      snprintf(what, sizeof what, "the open reader failed on A: %d %s", ra, sqlite3_errmsg(d->a));
      report(d, "-- step the open reader", what);
      return -1;
    }
  }
  return 0;
}

static int reopen(Diff *d) {
  reader_close(d);
  hist_push(d, "-- close and reopen both databases (shell: .open FILE then .load the extension)");
  close_both(d);
  if (open_both(d)) {
    report(d, "-- reopen", d->why);
    return -1;
  }
  return verify(d, "after reopen");
}

/* One statement through the second connections, when the first ones have no transaction open
** (native locking would make the two sides incomparable otherwise): it must see what the first
** connection committed, and the first must see its changes. */
static int other_conn(Diff *d) {
  if (!sqlite3_get_autocommit(d->a) || !sqlite3_get_autocommit(d->b)) return gen_select(d);
  reader_close(d); /* it holds a read lock: native writers of the other connection get BUSY */
  sqlite3 *a = d->a, *b = d->b;
  d->a = d->a2, d->b = d->b2, d->on2 = 1;
  int x = rnd(&d->rng, 10);
  int rc = x < 5 ? gen_select(d) : x < 7 ? gen_insert(d) : x < 9 ? gen_update(d) : gen_delete(d);
  d->a = a, d->b = b, d->on2 = 0;
  return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f) {
  (void)st, (void)flag, (void)f;
  remove(path);
  return 0;
}

/* Remove a database file and what belongs to it (journal, the lsm tables' directory). */
static void rm_db(const char *file) {
  char p[160];
  unlink(file);
  snprintf(p, sizeof p, "%s-journal", file);
  unlink(p);
  snprintf(p, sizeof p, "%s-lsm", file);
  nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One seed: fresh databases, nstmt random statements. Returns 0 or -1 (reported). */
static int diff_run(const Shape *sh, int mode, int uring, uint64_t seed, long nstmt) {
  Diff *d = calloc(1, sizeof *d);
  if (!d) return -1;
  d->sh = sh;
  d->mode = mode;
  d->uring = uring;
  d->seed = seed;
  d->rng.s = seed * 0x2545F4914F6CDD1Dull + (uint64_t)(sh - shapes);
  snprintf(d->fa, sizeof d->fa, "%s_%d%s_%llu_a.db", sh->name, mode, uring ? "u" : "",
           (unsigned long long)seed);
  snprintf(d->fb, sizeof d->fb, "%s_%d%s_%llu_b.db", sh->name, mode, uring ? "u" : "",
           (unsigned long long)seed);
  rm_db(d->fa); /* a rerun in the same directory starts from scratch too */
  rm_db(d->fb);
  const char *logf = getenv("LSMVTAB_DIFF_LOG");
  if (logf && *logf) {
    char path[400];
    snprintf(path, sizeof path, "%s.%.*s.sql", logf, (int)strlen(d->fa) - 5, d->fa); /* no _a.db */
    d->log = fopen(path, "w");
  }
  int rc = -1;
  if (open_both(d)) {
    report(d, "-- open", d->why);
    goto out;
  }
  char *da = ddl(sh, mode == M_LSM, mode == M_MUTANT), *db = ddl(sh, 0, 0);
  if (d->log) fprintf(d->log, "-- test_diff shape %s seed %llu: side A (B, the oracle: %s)\n%s;\n",
                      sh->name, (unsigned long long)seed, db, da);
  char *err = NULL;
  if (sqlite3_exec(d->a, da, NULL, NULL, &err) != SQLITE_OK) {
    char what[600];
    snprintf(what, sizeof what, "CREATE on A failed: %s", err ? err : "?");
    report(d, da, what);
  } else if (sqlite3_exec(d->b, db, NULL, NULL, &err) != SQLITE_OK) {
    report(d, db, err ? err : "?");
  } else {
    rc = 0;
  }
  if (rc) rc = -2; /* setup failed: no use trying more seeds */
  sqlite3_free(err);
  sqlite3_free(da);
  sqlite3_free(db);
  if (rc) goto out;

  for (long i = 0; i < nstmt && rc == 0; i++) {
    if (d->rda && --d->rd_left <= 0) reader_close(d);
    int x = rnd(&d->rng, 1000), changed = 1;
    if (x < 300) rc = gen_insert(d);
    else if (x < 430) rc = gen_update(d);
    else if (x < 510) rc = gen_delete(d);
    else if (x < 820) rc = gen_select(d), changed = 0;
    else if (x < 860) rc = reader_step(d), changed = 0;
    else if (x < 950) rc = gen_txn(d);
    else if (x < 956) rc = reopen(d), changed = 0;
    else if (x < 980) rc = other_conn(d);
    else if (mode == M_LSM && x < 993) rc = lsm_call(d, "lsm_flush");
    else if (mode == M_LSM && x < 996) rc = lsm_call(d, "lsm_compact");
    else rc = gen_select(d), changed = 0;
    if (rc == 0 && changed && (!d->big || ++d->since_verify >= 16)) rc = verify(d, "after it");
  }
  reader_close(d);
  if (rc == 0 && !sqlite3_get_autocommit(d->b)) rc = both(d, "COMMIT", 0);
  if (rc == 0) rc = verify(d, "at the end");
  if (rc == 0) rc = reopen(d);
  if (rc == 0 && mode == M_LSM) rc = lsm_call(d, "lsm_check");
  if (rc == 0) {
    /* DROP TABLE removes the lsm table's files (default dir: <db file>-lsm/t) */
    rc = both(d, "DROP TABLE t", 0);
    close_both(d); /* the second connection may hold the engine until it closes */
    char dir[200];
    struct stat stb;
    snprintf(dir, sizeof dir, "%s-lsm/t", d->fa);
    if (rc == 0 && mode == M_LSM && stat(dir, &stb) == 0) {
      report(d, "DROP TABLE t", "the table's directory still exists after DROP TABLE and close");
      rc = -1;
    }
  }
out:
  reader_close(d);
  close_both(d);
  for (int i = 0; i < HIST; i++) free(d->hist[i]);
  if (d->log) fclose(d->log);
  free(d);
  return rc;
}

/* ---------------------------------------------------------------- cases */

static long env_long(const char *name, long dflt) {
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 10) : dflt;
}

static int is_long(void) { return env_long("LSMVTAB_LONG", 0) != 0; }

/* Statements per seed: dflt, or LSMVTAB_DIFF_STMTS. */
static long stmts(long dflt) { return env_long("LSMVTAB_DIFF_STMTS", dflt); }

/* Run the seeds of one (shape, mode), seeds off+1 .. off+nseed (plus LSMVTAB_DIFF_SEED_BASE);
** stop after 3 failing seeds. Returns the failure count. */
static int run_seeds(const Shape *sh, int mode, int uring, int nseed, long nstmt, long off) {
  const char *only = getenv("LSMVTAB_DIFF_SHAPE");
  if (only && *only && strcmp(only, sh->name) != 0) return 0;
  long one = env_long("LSMVTAB_DIFF_SEED", -1);
  long base = off + env_long("LSMVTAB_DIFF_SEED_BASE", 0); /* campaigns: base+1 .. base+nseed */
  int fails = 0;
  for (int i = 1; i <= nseed && fails < 3; i++) {
    uint64_t seed = one >= 0 ? (uint64_t)one : (uint64_t)(base + i);
    int rc = diff_run(sh, mode, uring, seed, nstmt);
    if (rc) fails++;
    if (one >= 0 || rc == -2) break;
  }
  return fails;
}

static int have_uring;

static void test_harness_native(void **state) {
  (void)state;
  int fails = 0;
  for (int i = 0; i < NSHAPE; i++) {
    fails += run_seeds(&shapes[i], M_NATIVE, 0, 1, stmts(800), 0);
    /* the uring VFS against the unix VFS, with native tables: VFS bugs apart from vtab bugs */
    if (have_uring) fails += run_seeds(&shapes[i], M_NATIVE, 1, 1, stmts(800), 0);
  }
  if (fails) fail_msg("%d native-vs-native runs differed: harness or VFS bug (see above)", fails);
}

/* The harness must notice a real difference: key COLLATE NOCASE in A. */
static void test_harness_mutant(void **state) {
  (void)state;
  int found = 0;
  for (uint64_t seed = 1; seed <= 3 && !found; seed++) {
    fprintf(stderr, "(harness_mutant: the failure report below is expected)\n");
    found = diff_run(&shapes[0], M_MUTANT, 0, seed, 1500) == -1; /* -2: setup failed */
  }
  if (!found) fail_msg("the harness did not notice a COLLATE NOCASE key in 3 seeds");
}

static void lsm_case(int shape, int uring) {
  const char *ext = ext_path();
  if (!ext) fail_msg("LSMVTAB_EXT is not set (path of the extension without .so)");
  /* default: 2 seeds x 800 statements per shape (+1 x 600 through uring): ~25 s at -O2, most of
  ** it waiting for the engine's fsyncs; LSMVTAB_LONG=1: 10 x 5000 (+4 x 5000 through uring) */
  int nseed = is_long() ? 10 : 2;
  long nstmt = is_long() ? 5000 : 800;
  if (uring) nseed = is_long() ? 4 : 1, nstmt = is_long() ? nstmt : 600;
  nseed = (int)env_long("LSMVTAB_DIFF_SEEDS", nseed);
  nstmt = stmts(nstmt);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  n_vg_subst = 0;
  int fails = run_seeds(&shapes[shape], M_LSM, uring, nseed, nstmt, 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("  %s%s: %d seed(s) x %ld statements, %.1f s\n", uring ? "uring_" : "lsm_",
         shapes[shape].name, nseed, nstmt, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
  if (vg_running())
    printf("  (valgrind: %ld literal(s) of magnitude >= 2^53 replaced by ones below 2^53, where the "
           "oracle's long double comparison is wrong under valgrind)\n", n_vg_subst);
  if (fails) fail_msg("%d seed(s) of shape %s%s differ from the native table (see above)", fails,
                      shapes[shape].name, uring ? " through the uring VFS" : "");
}

/* Every shape with the transactions' writes spilled to disk (ext/README.md "Transaction size")
** whenever the module may and the overlay holds 3 keys (LSMVTAB_TEST_SPILL_KEYS, read when a
** connection registers the module): reads through the stage's runs, commits through
** lsm_stage_commit, rollbacks dropping runs, all against the native table. 1 seed x 600
** statements per shape (LSMVTAB_LONG=1: 3 x 3000), seeds 1001.. (other than lsm_*'s). */
static void test_spill(void **state) {
  (void)state;
  if (!ext_path()) fail_msg("LSMVTAB_EXT is not set (path of the extension without .so)");
  int nseed = (int)env_long("LSMVTAB_DIFF_SEEDS", is_long() ? 3 : 1);
  long nstmt = stmts(is_long() ? 3000 : 600);
  /* a campaign's own setting (every case spilling) stays in force after this case */
  const char *was = getenv("LSMVTAB_TEST_SPILL_KEYS");
  char keep[32] = "";
  if (was) snprintf(keep, sizeof keep, "%s", was);
  setenv("LSMVTAB_TEST_SPILL_KEYS", was ? keep : "3", 1);
  int fails = 0;
  for (int i = 0; i < NSHAPE; i++) fails += run_seeds(&shapes[i], M_LSM, 0, nseed, nstmt, 1000);
  if (!was) unsetenv("LSMVTAB_TEST_SPILL_KEYS");
  printf("  spill: %d shapes x %d seed(s) x %ld statements\n", NSHAPE, nseed, nstmt);
  if (fails) fail_msg("%d run(s) with spilled transactions differ from the native table (see above)", fails);
}

#define LSM_CASE(i)                                                    \
  static void test_lsm_##i(void **state) { (void)state; lsm_case(i, 0); } \
  static void test_uring_##i(void **state) { (void)state; lsm_case(i, 1); }
LSM_CASE(0)
LSM_CASE(1)
LSM_CASE(2)
LSM_CASE(3)
LSM_CASE(4)
LSM_CASE(5)

/* Load the extension once in a scratch connection: registers the uring VFS if it exists. */
static void probe_extension(void) {
  const char *ext = ext_path();
  if (!ext) return;
  sqlite3 *db = NULL;
  if (sqlite3_open(":memory:", &db) == SQLITE_OK) {
    char *err = NULL;
    sqlite3_enable_load_extension(db, 1);
    if (sqlite3_load_extension(db, ext, NULL, &err) != SQLITE_OK)
      fprintf(stderr, "test_diff: cannot load %s: %s\n", ext, err ? err : "?");
    sqlite3_free(err);
  }
  sqlite3_close(db);
  have_uring = sqlite3_vfs_find("uring") != NULL;
}

int main(void) {
  probe_extension();
  struct CMUnitTest tests[3 + 2 * NSHAPE];
  int n = 0;
  tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_harness_native);
  tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_harness_mutant);
  void (*lsm[])(void **) = {test_lsm_0, test_lsm_1, test_lsm_2, test_lsm_3, test_lsm_4, test_lsm_5};
  void (*ur[])(void **) = {test_uring_0, test_uring_1, test_uring_2, test_uring_3, test_uring_4,
                           test_uring_5};
  tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_spill);
  static char names[2 * NSHAPE][48];
  for (int i = 0; i < NSHAPE; i++) {
    snprintf(names[i], sizeof names[i], "lsm_%s", shapes[i].name);
    tests[n++] = (struct CMUnitTest){names[i], lsm[i], NULL, NULL, NULL};
  }
  /* uring cases only when the VFS is registered (issue 6 may not have landed) */
  for (int i = 0; i < NSHAPE && have_uring; i++) {
    snprintf(names[NSHAPE + i], sizeof names[0], "uring_%s", shapes[i].name);
    tests[n++] = (struct CMUnitTest){names[NSHAPE + i], ur[i], NULL, NULL, NULL};
  }
  return _cmocka_run_group_tests("test_diff", tests, (size_t)n, NULL, NULL);
}
