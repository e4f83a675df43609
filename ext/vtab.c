/*
** vtab.c — the `lsm` virtual-table module; see vtab.h.
**
** Pieces: table creation/connection (argument parsing in vtopts.c, engine sharing in
** registry.c), value conversion (declared-type affinity), planning (xBestIndex: idxNum bits
** below), cursors (a merge of an engine iterator with the transaction overlay, or a sorted list
** of point lookups), writes (xUpdate into the overlay), transactions (overlay -> one lsm_write).
*/
#include "vtab.h"
SQLITE_EXTENSION_INIT3

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "coding.h"
#include "dropmark.h"
#include "keyenc.h"
#include "lsm.h"
#include "mm.h"
#include "overlay.h"
#include "record.h"
#include "registry.h"
#include "vtopts.h"

/* ---------------------------------------------------------------------------------------------
** Per-connection state: open tables (for the SQL functions) and the temporary directories of
** in-memory/temp databases (kept until the connection closes or the table is dropped, since
** SQLite may disconnect and reconnect a table within one connection).
*/
typedef struct vt_tab vt_tab;
typedef struct vt_temp {
  struct vt_temp *next;
  char *schema, *name;
  reg_entry *eng;
  int dropped;       /* DROP TABLE ran inside a transaction: kept for a ROLLBACK */
  uint32_t dversion; /* that transaction's data version (drop_token) */
} vt_temp;

typedef struct vt_conn {
  vt_tab *tabs;
  vt_temp *temps;
  size_t max_txn_size; /* lsm_max_txn_size(): the bound for every table; 0 = each table's own */
} vt_conn;

struct vt_tab {
  sqlite3_vtab base; /* must be first */
  sqlite3 *db;
  vt_conn *conn;
  vt_tab *next;   /* in conn->tabs */
  char *schema, *name;
  opt_table t;    /* columns, key, options */
  int rowid_mode; /* no declared key: the key is the rowid */
  int nkeyc;      /* key parts: t.nkey, or 1 in rowid mode */
  int nval;       /* non-key columns */
  int *valcol;    /* valcol[i] = column index of the i-th non-key column */
  int *colval;    /* colval[c] = position among the non-key columns, or -1 */
  reg_entry *eng;
  lsm_db *ldb;
  char *noeng;    /* why there is no engine (ldb NULL), or NULL for a failed reopen */
  int temp;       /* directory is temporary (in-memory / temp database) */
  int default_dir;
  ov_overlay *ov; /* the open transaction's writes, or NULL */
  lsm_stage *stage; /* the transaction's writes spilled to disk (spill()), or NULL: reads go
                    ** through it (eng_get...), COMMIT applies it */
  /* Per savepoint level open in the overlay (SQLite's index; read for levels below
  ** ov_depth(v->ov) only): the first stage run holding writes made after the savepoint, or -1
  ** while all those writes are in the overlay (it was opened after the last spill). */
  int *sp_run;
  int sp_cap;
  int64_t next_rowid;
  int have_next_rowid;
  size_t ov_last; /* keys of the last transaction's overlay (a size hint for the next one) */
  cd_buf kb, vb, kb2; /* scratch for xUpdate */
  /* counters shown by lsm_stats (tests use them to prove plans touch few rows) */
  uint64_t rows_read, point_lookups, scans;
  struct vt_cur *curs; /* open cursors (xUpdate asks when the running scan started) */
  /* One closed cursor kept for the next xOpen (each execution of a statement opens and closes
  ** one): its arrays and buffers are reused instead of ~7 allocations per statement. */
  struct vt_cur *spare;
  /* Statement rollback (see keep_mode): the statement running our xUpdate calls, found at the
  ** first xUpdate after a statement boundary we saw (wr_known), compared with running
  ** statements only; whether it calls no function (so natively has no statement journal); and
  ** whether the last xUpdate allows its statement rollback to be ignored. */
  sqlite3_stmt *wr_stmt;
  int wr_armed; /* a savepoint opened since the last boundary: a statement rollback may come */
  int wr_known, wr_nofunc, keep;
};

/* idxNum layout. */
#define P_NEQ_MASK 0xFF   /* number of leading key columns bound by = (or IN) */
#define P_LO (1 << 8)     /* lower bound on the next key column */
#define P_LO_INCL (1 << 9)
#define P_HI (1 << 10)    /* upper bound on the next key column */
#define P_HI_INCL (1 << 11)
#define P_DESC (1 << 12)  /* produce rows in descending key order */
#define P_LIST (1 << 13)  /* the whole key is bound: a sorted list of point lookups */
#define P_LIMIT (1 << 14) /* a LIMIT value follows the bounds in argv */
#define P_OFFSET (1 << 15) /* an OFFSET value follows the LIMIT */
#define P_IN_SHIFT 16     /* bits 16..29: key positions bound by an all-at-once IN list */
#define P_IN_MAX 14
/* key position k bound by an all-at-once IN list (only the first P_IN_MAX can be: the bits
** above hold other flags, bit 31 included, so plan is shifted as unsigned) */
#define P_ISIN(plan, k) ((k) < P_IN_MAX && (((unsigned)(plan) >> P_IN_SHIFT) >> (k)) & 1u)
#define P_RECHECK (1 << 30) /* SQLite re-checks every constraint: xFilter may widen bounds */
#define P_HINT_ONLY INT_MIN /* bit 31: the LIMIT/OFFSET values only size the engine's reads
                            ** (lsm_iter_hint); SQLite applies them */

static int vt_err(vt_tab *v, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sqlite3_free(v->base.zErrMsg);
  v->base.zErrMsg = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  return rc;
}

/* A table without an engine (its database missing at connect, or a failed reopen in xRename):
** every access says why. */
#define VT_NEED_ENGINE(v)                                                                      \
  do {                                                                                         \
    if (!(v)->ldb) return vt_no_engine(v);                                                     \
  } while (0)

static int vt_no_engine(vt_tab *v) {
  if (v->noeng) return vt_err(v, SQLITE_CANTOPEN, "%s", v->noeng);
  return vt_err(v, SQLITE_CANTOPEN, "lsm: table %s has no open engine (reopening its directory "
                "failed)", v->name);
}

/* An engine error (LSM code == SQLite code) with the engine's message. */
static int vt_lsm_err(vt_tab *v, int rc) {
  if (rc == LSM_NOMEM) return SQLITE_NOMEM;
  return vt_err(v, rc, "lsm: %s", lsm_errmsg());
}

/* ---------------------------------------------------------------------------------------------
** Values and affinity.
*/

/* Parse text as SQLite's affinity does (sqlite3AtoF): optional whitespace, sign, digits with
** an optional '.', optional exponent, whitespace. Returns 0 (not a number), 1 (an integer
** literal that fits int64: *pi), 2 (a real: *pr). */
static int parse_number(const unsigned char *s, int n, int64_t *pi, double *pr) {
  int i = 0;
  while (i < n && isspace(s[i])) i++;
  int start = i, neg = 0;
  if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  int digits = 0, isreal = 0;
  uint64_t u = 0;
  int overflow = 0;
  while (i < n && isdigit(s[i])) {
    if (u > (UINT64_MAX - 9) / 10) overflow = 1;
    else u = u * 10 + (uint64_t)(s[i] - '0');
    i++;
    digits++;
  }
  if (i < n && s[i] == '.') {
    isreal = 1;
    i++;
    while (i < n && isdigit(s[i])) i++, digits++;
  }
  if (!digits) return 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    int j = i + 1;
    if (j < n && (s[j] == '+' || s[j] == '-')) j++;
    if (!(j < n && isdigit(s[j]))) return 0;
    while (j < n && isdigit(s[j])) j++;
    i = j;
    isreal = 1;
  }
  int end = i;
  while (i < n && isspace(s[i])) i++;
  if (i != n) return 0;
  if (!isreal && !overflow && (neg ? u <= (uint64_t)1 << 63 : u <= (uint64_t)INT64_MAX)) {
    *pi = neg ? (int64_t)((uint64_t)0 - u) : (int64_t)u;
    return 1;
  }
  char buf[400];
  int len = end - start;
  if (len >= (int)sizeof buf) {
    char *big = sqlite3_malloc(len + 1);
    if (!big) return 0;
    memcpy(big, s + start, (size_t)len);
    big[len] = 0;
    *pr = strtod(big, NULL);
    sqlite3_free(big);
  } else {
    memcpy(buf, s + start, (size_t)len);
    buf[len] = 0;
    *pr = strtod(buf, NULL);
  }
  return 2;
}

/* SQLite's sqlite3VdbeIntegerAffinity: a REAL that is exactly an integer strictly inside the
** int64 range becomes INTEGER. */
static void integer_affinity(ke_val *x) {
  if (x->type != KE_FLOAT) return;
  double r = x->r;
  if (!(r > -9223372036854775808.0 && r < 9223372036854775808.0)) return;
  int64_t ix = (int64_t)r;
  if (r == (double)ix && ix > INT64_MIN && ix < INT64_MAX) {
    x->type = KE_INT;
    x->i = ix;
  }
}

/* The value of an sqlite3_value as a ke_val (borrowed: valid until the value changes). */
static void value_kv(sqlite3_value *v, ke_val *x) {
  memset(x, 0, sizeof *x);
  switch (sqlite3_value_type(v)) {
  case SQLITE_INTEGER: x->type = KE_INT; x->i = sqlite3_value_int64(v); break;
  case SQLITE_FLOAT:
    x->type = KE_FLOAT;
    x->r = sqlite3_value_double(v);
    if (isnan(x->r)) x->type = KE_NULL;
    break;
  case SQLITE_TEXT:
    x->type = KE_TEXT;
    x->p = sqlite3_value_text(v);
    x->n = (size_t)sqlite3_value_bytes(v);
    if (!x->p) x->p = (const uint8_t *)"";
    break;
  case SQLITE_BLOB:
    x->type = KE_BLOB;
    x->p = sqlite3_value_blob(v);
    x->n = (size_t)sqlite3_value_bytes(v);
    if (!x->p) x->p = (const uint8_t *)"";
    break;
  default: x->type = KE_NULL; break;
  }
  x->raw_n = x->n;
}

/* Apply a column affinity to x (SQLite's applyAffinity) as done when a value is stored. TEXT
** affinity needs the text form of a number: it is taken from v (sqlite3_value_text formats
** numbers exactly as SQLite does). `store` = 1: REAL affinity turns INTEGER into REAL (how a
** native REAL column returns it); comparisons need not (1 and 1.0 are equal keys). */
static void apply_affinity(sqlite3_value *v, int aff, ke_val *x, int store) {
  if (aff == OPT_AFF_TEXT) {
    if (x->type == KE_INT || x->type == KE_FLOAT) {
      x->type = KE_TEXT;
      x->p = sqlite3_value_text(v);
      x->n = x->raw_n = (size_t)sqlite3_value_bytes(v);
      if (!x->p) x->type = KE_NULL; /* out of memory formatting: caller sees a NULL */
    }
    return;
  }
  if (aff < OPT_AFF_NUMERIC) return; /* BLOB: no conversion */
  if (x->type == KE_TEXT) {
    int64_t i;
    double r;
    int k = parse_number(x->p, (int)x->n, &i, &r);
    if (k == 1) {
      memset(x, 0, sizeof *x);
      x->type = KE_INT;
      x->i = i;
    } else if (k == 2) {
      memset(x, 0, sizeof *x);
      x->type = KE_FLOAT;
      x->r = r;
      integer_affinity(x);
    }
  } else if (x->type == KE_FLOAT) {
    integer_affinity(x);
  }
  if (store && aff == OPT_AFF_REAL && x->type == KE_INT) {
    x->type = KE_FLOAT;
    x->r = (double)x->i;
  }
}

static void result_kv(sqlite3_context *ctx, const ke_val *x, int as_real) {
  switch (x->type) {
  case KE_INT:
    if (as_real) sqlite3_result_double(ctx, (double)x->i);
    else sqlite3_result_int64(ctx, x->i);
    break;
  case KE_FLOAT: sqlite3_result_double(ctx, x->r); break;
  case KE_TEXT:
  case KE_BLOB: {
    if (x->raw_n == x->n) {
      if (x->type == KE_TEXT)
        sqlite3_result_text(ctx, (const char *)x->p, (int)x->n, SQLITE_TRANSIENT);
      else
        sqlite3_result_blob(ctx, x->p, (int)x->n, SQLITE_TRANSIENT);
      break;
    }
    uint8_t *b = sqlite3_malloc64(x->raw_n + 1);
    if (!b) {
      sqlite3_result_error_nomem(ctx);
      break;
    }
    ke_unescape(x, b);
    if (x->type == KE_TEXT) sqlite3_result_text(ctx, (const char *)b, (int)x->raw_n, sqlite3_free);
    else sqlite3_result_blob(ctx, b, (int)x->raw_n, sqlite3_free);
    break;
  }
  default: sqlite3_result_null(ctx); break;
  }
}

/* ---------------------------------------------------------------------------------------------
** Create / connect / disconnect / destroy.
*/


static char *build_schema(const opt_table *t, int rowid_mode) {
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendall(s, "CREATE TABLE x(");
  for (int i = 0; i < t->ncol; i++) {
    const opt_col *c = &t->cols[i];
    sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", c->name);
    if (c->type[0]) sqlite3_str_appendf(s, " %s", c->type);
    if (c->collate) sqlite3_str_appendf(s, " COLLATE \"%w\"", c->collate);
  }
  if (!rowid_mode) sqlite3_str_appendall(s, ", _lsm_key HIDDEN, PRIMARY KEY(_lsm_key)) WITHOUT ROWID");
  else sqlite3_str_appendall(s, ")");
  return sqlite3_str_finish(s);
}

static void cur_free(struct vt_cur *c);

/* Drop a table's engine reference (the engine closes with its last one). SQLite ignores what
** xDisconnect returns, and a failed xDestroy or xRename must still leave the table as SQLite
** believes it is, so an engine that fails to close (its last WAL sync, or a sticky error from a
** failed flush or compaction: what was acknowledged is recovered at the next open) is reported
** through SQLite's error log (sqlite3_log; applications see it with SQLITE_CONFIG_LOG). */
static void close_engine(reg_entry *e, const char *name) {
  if (!e) return;
  char *dir = sqlite3_mprintf("%s", reg_dir(e)); /* reg_dir is freed with the last reference */
  int rc = reg_close(e);
  if (rc)
    sqlite3_log(rc, "lsm: closing table %s (directory %s) failed: %s", name ? name : "?",
                dir ? dir : "?", st_errmsg());
  sqlite3_free(dir);
}

/* The engine's latest state as this transaction sees it: through the stage once the
** transaction spilled (its runs over the database), else the database's. Same contracts as
** lsm_get, lsm_exists, lsm_multiget and lsm_iter_new with s = NULL. */
static int eng_get(vt_tab *v, const void *k, size_t kn, void **val, size_t *vn) {
  return v->stage ? lsm_stage_get(v->stage, k, kn, val, vn) : lsm_get(v->ldb, NULL, k, kn, val, vn);
}
static int eng_exists(vt_tab *v, const void *k, size_t kn) {
  return v->stage ? lsm_stage_exists(v->stage, k, kn) : lsm_exists(v->ldb, NULL, k, kn);
}
static int eng_multiget(vt_tab *v, int n, const void *const *keys, const size_t *klens,
                        void **vals, size_t *vlens, int *rcs) {
  return v->stage ? lsm_stage_multiget(v->stage, n, keys, klens, vals, vlens, rcs)
                  : lsm_multiget(v->ldb, NULL, n, keys, klens, vals, vlens, rcs);
}
static int eng_iter_new(vt_tab *v, const void *lo, size_t lon, const void *hi, size_t hin,
                        lsm_iter **out) {
  return v->stage ? lsm_stage_iter_new(v->stage, lo, lon, hi, hin, out)
                  : lsm_iter_new(v->ldb, NULL, lo, lon, hi, hin, out);
}

static void tab_free(vt_tab *v) {
  if (!v) return;
  cur_free(v->spare);
  if (v->conn) {
    for (vt_tab **pp = &v->conn->tabs; *pp; pp = &(*pp)->next)
      if (*pp == v) {
        *pp = v->next;
        break;
      }
  }
  ov_unref(v->ov);
  lsm_stage_free(v->stage); /* before its engine closes */
  close_engine(v->eng, v->name);
  opt_free(&v->t);
  sqlite3_free(v->schema);
  sqlite3_free(v->name);
  sqlite3_free(v->noeng);
  sqlite3_free(v->valcol);
  sqlite3_free(v->colval);
  sqlite3_free(v->sp_run);
  cd_buf_free(&v->kb);
  cd_buf_free(&v->kb2);
  cd_buf_free(&v->vb);
  sqlite3_free(v->base.zErrMsg);
  sqlite3_free(v);
}

static vt_temp *temp_find(vt_conn *c, const char *schema, const char *name) {
  for (vt_temp *t = c->temps; t; t = t->next)
    if (!sqlite3_stricmp(t->schema, schema) && !sqlite3_stricmp(t->name, name)) return t;
  return NULL;
}

static void temp_drop(vt_conn *c, vt_temp *t) {
  for (vt_temp **pp = &c->temps; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  close_engine(t->eng, t->name);
  sqlite3_free(t->schema);
  sqlite3_free(t->name);
  sqlite3_free(t);
}

/* The default directory of a table in a file database. */
static char *default_dir(const char *dbfile, const char *name) {
  char *n = sqlite3_mprintf("%s", name);
  if (!n) return NULL;
  for (char *p = n; *p; p++)
    if (*p == '/') *p = '_';
  char *d = sqlite3_mprintf("%s-lsm/%s", dbfile, n);
  sqlite3_free(n);
  return d;
}

/* ---------------------------------------------------------------------------------------------
** DROP TABLE inside a transaction (dropmark.h; the rules are in ext/README.md). SQLite's ROLLBACK
** cannot restore files, so a table dropped inside BEGIN ... COMMIT keeps its directory, marked
** DROPPED with the dropping transaction's token. Whether that DROP committed is read from the
** schema later, and only inside xCreate and xDestroy: their statements hold the database's write
** lock, so no other connection can have a DROP pending then.
*/

/* The token of the transaction running now: this process, this connection, and the data version
** of the schema's database, which SQLite advances at every commit and never inside a transaction:
** a different token means the dropping transaction has ended. */
static void drop_token(sqlite3 *db, const char *schema, dm_mark *m) {
  unsigned dv = 0;
  (void)sqlite3_file_control(db, schema, SQLITE_FCNTL_DATA_VERSION, &dv);
  m->pid = (uint64_t)getpid();
  m->conn = (uint64_t)(uintptr_t)db;
  m->dversion = dv;
}

static int same_txn(const dm_mark *a, const dm_mark *b) {
  return a->pid == b->pid && a->conn == b->conn && a->dversion == b->dversion;
}

/* Does the schema, as this connection's transaction sees it, hold a table or view named name?
** 1, 0, or a negated SQLite error code. */
static int schema_has(sqlite3 *db, const char *schema, const char *name) {
  char *sql = sqlite3_mprintf("SELECT 1 FROM \"%w\".sqlite_schema WHERE type IN ('table', 'view') "
                              "AND name = ?1 COLLATE NOCASE", schema);
  sqlite3_stmt *st = NULL;
  int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &st, NULL) : SQLITE_NOMEM;
  sqlite3_free(sql);
  if (rc) return -rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -rc;
}

/* Was marker m written by a DROP in this database (file dbfile; "" for a TEMP database, whose
** schema is its connection's)? A version 1 marker does not name its database: only its own
** default directory (dir) ties it to one. */
static int mark_of_db(const dm_mark *m, const dm_mark *now, const char *dbfile, const char *dir) {
  if (!dbfile[0]) return m->db && !m->db[0] && m->pid == now->pid && m->conn == now->conn;
  if (m->db && m->db[0]) return !strcmp(m->db, dbfile);
  char *own = default_dir(dbfile, m->name);
  int r = own && !strcmp(own, dir);
  sqlite3_free(own);
  return r;
}

/* The part of the sweep for a table with the dir option: `link` (dropmark.h) points at its
** directory. Its files go when its marker is of this database, of an ended transaction, and its
** name is not in the schema; the link goes once nothing is left to decide (no marker, another
** database's, or the files gone). A rolled-back DROP's (its name in the schema) is left, as a
** default directory's is. */
static void sweep_link(sqlite3 *db, const char *schema, const char *dbfile, const char *link,
                       const dm_mark *now) {
  char target[PATH_MAX];
  ssize_t tn = readlink(link, target, sizeof target - 1);
  if (tn <= 0) return; /* not a symbolic link: not ours */
  target[tn] = 0;
  dm_mark m = {0};
  int present = 0, deferred = 0, keep = 1;
  int rc = dm_read(target, &m, &present);
  if (!rc && !present) {
    keep = 0;
  } else if (!rc && !mark_of_db(&m, now, dbfile, target)) {
    keep = 0;
  } else if (!rc && !same_txn(&m, now) && schema_has(db, schema, m.name) == 0) {
    rc = reg_discard(target, &deferred);
    keep = rc || deferred;
  }
  if (rc && rc != LSM_NOMEM)
    sqlite3_log(rc, "lsm: removing the files of a dropped table in %s: %s", target, st_errmsg());
  if (!keep) unlink(link);
  dm_clear(&m);
}

/* Remove the directories of tables whose DROP committed: marked by an ended transaction of this
** database, and no table of that name in the schema (a name in the schema means the DROP was
** rolled back: the marker is left, harmless). Default directories are listed in <db>-lsm; those
** named with the dir option are reached through the links there (sweep_link). A failure is
** logged, not returned: the files wait for the next sweep. */
static void sweep_dropped(sqlite3 *db, const char *schema) {
  const char *dbfile = sqlite3_db_filename(db, schema);
  if (!dbfile || !dbfile[0]) return;
  char *parent = sqlite3_mprintf("%s-lsm", dbfile);
  DIR *d = parent ? opendir(parent) : NULL;
  if (!d) {
    sqlite3_free(parent);
    return;
  }
  dm_mark now;
  drop_token(db, schema, &now);
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char *dir = sqlite3_mprintf("%s/%s", parent, de->d_name), *own = NULL;
    if (dir && dm_is_link_name(de->d_name)) {
      sweep_link(db, schema, dbfile, dir, &now);
      sqlite3_free(dir);
      continue;
    }
    dm_mark m = {0};
    int present = 0, deferred = 0;
    int rc = dir ? dm_read(dir, &m, &present) : LSM_NOMEM;
    if (!rc && present && !same_txn(&m, &now) && (own = default_dir(dbfile, m.name)) &&
        !strcmp(own, dir) && mark_of_db(&m, &now, dbfile, dir) &&
        schema_has(db, schema, m.name) == 0)
      rc = reg_discard(dir, &deferred);
    if (rc && rc != LSM_NOMEM)
      sqlite3_log(rc, "lsm: removing the files of a dropped table in %s: %s", dir, st_errmsg());
    dm_clear(&m);
    sqlite3_free(own);
    sqlite3_free(dir);
  }
  closedir(d);
  rmdir(parent); /* only succeeds when the sweep removed its last entry (a link) */
  sqlite3_free(parent);
}

/* The refusal of a CREATE of `name` over the files of table `dropped`, dropped by the transaction
** still running. */
static char *dropped_here(const char *name, const char *dropped) {
  return sqlite3_mprintf("lsm: cannot create %s: table %s, dropped in this transaction, keeps its "
                         "files until COMMIT (a ROLLBACK needs them)", name, dropped);
}

/* xCreate of table `name` over directory dir: a DROPPED marker there means the files of a table
** dropped inside a transaction. If that transaction is the one running, its ROLLBACK still needs
** them: refuse. A marker of another database (a directory named with the dir option can be
** opened from several) cannot be decided from this schema: refuse rather than risk another
** database's rows. Otherwise the transaction has ended; unless the marker's table is in the
** schema (its DROP was rolled back: only possible for another name, through the dir option) it
** committed, and the files are wiped. */
static int create_over_dropped(sqlite3 *db, const char *schema, const char *name,
                               const char *dir, char **pzErr) {
  dm_mark m = {0}, now;
  int present = 0, deferred = 0;
  int rc = dm_read(dir, &m, &present);
  if (rc) {
    *pzErr = sqlite3_mprintf("lsm: %s", st_errmsg());
    return rc == LSM_NOMEM ? SQLITE_NOMEM : rc;
  }
  if (!present) return SQLITE_OK;
  drop_token(db, schema, &now);
  const char *dbfile = sqlite3_db_filename(db, schema);
  if (same_txn(&m, &now)) {
    *pzErr = dropped_here(name, m.name);
    rc = SQLITE_ERROR;
  } else if (!mark_of_db(&m, &now, dbfile ? dbfile : "", dir)) {
    *pzErr = sqlite3_mprintf("lsm: cannot create %s: %s holds the files of table %s of %s%s, "
                             "dropped there inside a transaction (if that DROP committed, that "
                             "database's next CREATE or DROP of an lsm table removes them); "
                             "remove the directory to reuse it now", name, dir, m.name,
                             m.db && m.db[0] ? "database " : "another database",
                             m.db && m.db[0] ? m.db : "");
    rc = SQLITE_ERROR;
  } else if (sqlite3_stricmp(m.name, name) && schema_has(db, schema, m.name) > 0) {
    *pzErr = sqlite3_mprintf("lsm: cannot create %s: %s holds the files of table %s", name, dir,
                             m.name);
    rc = SQLITE_ERROR;
  } else if ((rc = reg_discard(dir, &deferred)) != LSM_OK) {
    *pzErr = sqlite3_mprintf("lsm: %s", st_errmsg());
  } else if (deferred) {
    *pzErr = sqlite3_mprintf("lsm: cannot create %s yet: the files of dropped table %s in %s are "
                             "still open in another connection", name, m.name, dir);
    rc = SQLITE_BUSY;
  }
  dm_clear(&m);
  return rc;
}

/* A marker in dir left by a DROP of table `name` of this database: that DROP was rolled back,
** since the table is here (whatever its token says: a ROLLBACK does not change it). A RENAME
** clears it, since under the new name a later CREATE over the directory would take it for a
** committed DROP's. 0 or an engine error (message set). */
static int clear_stale_mark(sqlite3 *db, const char *schema, const char *name, const char *dir) {
  dm_mark m = {0}, now;
  int present = 0;
  int rc = dm_read(dir, &m, &present);
  if (!rc && present) {
    drop_token(db, schema, &now);
    const char *dbfile = sqlite3_db_filename(db, schema);
    if (mark_of_db(&m, &now, dbfile ? dbfile : "", dir) && !sqlite3_stricmp(m.name, name))
      rc = dm_remove(dir);
  }
  dm_clear(&m);
  return rc;
}

static int dir_nonempty(const char *dir) {
  char *f = sqlite3_mprintf("%s/.", dir);
  int exists = f && access(f, F_OK) == 0;
  sqlite3_free(f);
  if (!exists) return 0;
  /* any entry other than . and .. */
  int nonempty = 0;
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d)))
      if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
        nonempty = 1;
        break;
      }
    closedir(d);
  }
  return nonempty;
}

static int vt_init(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **pp,
                   char **pzErr, int create) {
  vt_conn *conn = aux;
  int rc = SQLITE_OK;
  vt_tab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->db = db;
  v->schema = sqlite3_mprintf("%s", argv[1]);
  v->name = sqlite3_mprintf("%s", argv[2]);
  if (!v->schema || !v->name) {
    tab_free(v);
    return SQLITE_NOMEM;
  }
  int prc = opt_parse(argc - 3, argv + 3, &v->t);
  if (prc != LSM_OK) {
    *pzErr = sqlite3_mprintf("%s", st_errmsg());
    tab_free(v);
    return prc == LSM_NOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
  }
  v->rowid_mode = v->t.nkey == 0;
  v->nkeyc = v->rowid_mode ? 1 : v->t.nkey;
  v->valcol = sqlite3_malloc64(sizeof(int) * (size_t)(v->t.ncol + 1));
  v->colval = sqlite3_malloc64(sizeof(int) * (size_t)(v->t.ncol + 1));
  if (!v->valcol || !v->colval) {
    tab_free(v);
    return SQLITE_NOMEM;
  }
  for (int i = 0; i < v->t.ncol; i++) {
    v->colval[i] = -1;
    if (v->t.cols[i].keypos < 0) {
      v->colval[i] = v->nval;
      v->valcol[v->nval++] = i;
    }
  }

  /* The directory. */
  const char *dbfile = sqlite3_db_filename(db, argv[1]);
  v->temp = !dbfile || !dbfile[0];
  char *dir = NULL;
  if (v->t.dir) {
    /* A relative dir is relative to the database file, not to the process's cwd. */
    const char *slash = v->temp || v->t.dir[0] == '/' ? NULL : strrchr(dbfile, '/');
    if (slash) dir = sqlite3_mprintf("%.*s/%s", (int)(slash - dbfile), dbfile, v->t.dir);
    else dir = sqlite3_mprintf("%s", v->t.dir);
  } else if (!v->temp) {
    dir = default_dir(dbfile, argv[2]);
    v->default_dir = 1;
  }
  if (v->temp && !v->t.dir) {
    vt_temp *t = temp_find(conn, argv[1], argv[2]);
    if (t && create && t->dropped && !sqlite3_get_autocommit(db)) {
      dm_mark now;
      drop_token(db, argv[1], &now);
      if (now.dversion == t->dversion) { /* dropped in this transaction: ROLLBACK needs it */
        *pzErr = dropped_here(argv[2], argv[2]);
        tab_free(v);
        return SQLITE_ERROR;
      }
    }
    if (t && create) { /* a leftover of a table of the same name: start afresh */
      reg_mark_remove(t->eng);
      temp_drop(conn, t);
      t = NULL;
    }
    if (t) t->dropped = 0; /* connected again: a DROP of it was rolled back */
    if (!t && !create) {
      /* SQLite's temp schema has a table whose files this connection no longer holds (a DROP
      ** whose COMMIT failed): an error at every access, not a silently empty table. */
      v->noeng = sqlite3_mprintf("lsm: table %s: its temporary files are gone", argv[2]);
      if (!v->noeng) {
        tab_free(v);
        return SQLITE_NOMEM;
      }
    } else if (!t) {
      const char *tmp = getenv("TMPDIR");
      char *tmpl = sqlite3_mprintf("%s/lsmvtab-XXXXXX", tmp && *tmp ? tmp : "/tmp");
      if (!tmpl || !mkdtemp(tmpl)) {
        *pzErr = sqlite3_mprintf("lsm: cannot create a temporary directory: %s",
                                 tmpl ? strerror(errno) : "out of memory");
        sqlite3_free(tmpl);
        tab_free(v);
        return SQLITE_CANTOPEN;
      }
      t = sqlite3_malloc(sizeof *t);
      if (t) memset(t, 0, sizeof *t);
      if (!t || !(t->schema = sqlite3_mprintf("%s", argv[1])) ||
          !(t->name = sqlite3_mprintf("%s", argv[2]))) {
        if (t) { sqlite3_free(t->schema); sqlite3_free(t); }
        rmdir(tmpl);
        sqlite3_free(tmpl);
        tab_free(v);
        return SQLITE_NOMEM;
      }
      rc = reg_open(tmpl, &v->t.lo, &t->eng);
      if (rc) {
        *pzErr = sqlite3_mprintf("lsm: %s", st_errmsg());
        reg_remove_dir(tmpl);
        sqlite3_free(tmpl);
        sqlite3_free(t->schema);
        sqlite3_free(t->name);
        sqlite3_free(t);
        tab_free(v);
        return rc;
      }
      sqlite3_free(tmpl);
      reg_mark_remove(t->eng);
      t->next = conn->temps;
      conn->temps = t;
    }
    dir = sqlite3_mprintf("%s", t ? reg_dir(t->eng) : "");
  }
  if (!dir) {
    tab_free(v);
    return SQLITE_NOMEM;
  }
  int own_dir = !(v->temp && !v->t.dir); /* not a temporary directory of this connection */
  if (own_dir && !create) {
    /* A table of the schema: its database must be where it was. Missing, it is an error at every
    ** access (DROP TABLE still works), never a new empty table. */
    v->t.lo.create_if_missing = 0;
    char *cur = sqlite3_mprintf("%s/CURRENT", dir);
    if (!cur) rc = SQLITE_NOMEM;
    else if (access(cur, F_OK) != 0 && errno == ENOENT &&
             !(v->noeng = sqlite3_mprintf("lsm: table %s: no database in %s (its directory was "
                                          "moved or deleted, or the database file was copied "
                                          "without it); DROP TABLE %s removes the table",
                                          argv[2], dir, argv[2])))
      rc = SQLITE_NOMEM;
    sqlite3_free(cur);
  } else if (own_dir) {
    rc = create_over_dropped(db, argv[1], argv[2], dir, pzErr);
  }
  int existed = !rc && create && v->default_dir && dir_nonempty(dir);
  if (!rc && !v->noeng) {
    rc = reg_open(dir, &v->t.lo, &v->eng);
    if (rc) *pzErr = sqlite3_mprintf("lsm: %s", st_errmsg());
  }
  sqlite3_free(dir);
  if (rc) {
    tab_free(v);
    return rc;
  }
  v->ldb = v->eng ? reg_db(v->eng) : NULL;
  if (existed) {
    /* A new table over a default directory holding rows (a table of this name whose files
    ** outlived it, e.g. a DROP rolled back... or a copied database) would silently show old
    ** rows: refuse. An empty leftover (a CREATE rolled back) is simply reused. */
    lsm_iter *it = NULL;
    int has_rows = 1;
    if (lsm_iter_new(v->ldb, NULL, NULL, 0, NULL, 0, &it) == LSM_OK &&
        lsm_iter_seek_first(it) == LSM_OK)
      has_rows = lsm_iter_valid(it);
    lsm_iter_free(it);
    if (has_rows) {
      /* (only the last two path components: the message stays the same wherever the db is) */
      const char *base = strrchr(dbfile, '/');
      *pzErr = sqlite3_mprintf("lsm: directory %s-lsm/%s already holds rows (remove it, or name "
                               "it with the dir option to use its data)",
                               base ? base + 1 : dbfile, argv[2]);
      tab_free(v);
      return SQLITE_ERROR;
    }
  }

  char *sql = build_schema(&v->t, v->rowid_mode);
  if (!sql) {
    tab_free(v);
    return SQLITE_NOMEM;
  }
  rc = sqlite3_declare_vtab(db, sql);
  sqlite3_free(sql);
  if (rc) {
    *pzErr = sqlite3_mprintf("lsm: %s", sqlite3_errmsg(db));
    tab_free(v);
    return rc;
  }
  sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
  v->conn = conn;
  v->next = conn->tabs;
  conn->tabs = v;
  *pp = &v->base;
  if (create && !v->temp) sweep_dropped(db, v->schema);
  return SQLITE_OK;
}

static int vt_create(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **pp,
                     char **pzErr) {
  return vt_init(db, aux, argc, argv, pp, pzErr, 1);
}

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                      sqlite3_vtab **pp, char **pzErr) {
  return vt_init(db, aux, argc, argv, pp, pzErr, 0);
}

static int vt_disconnect(sqlite3_vtab *pv) {
  tab_free((vt_tab *)pv);
  return SQLITE_OK;
}

/* DROP TABLE. In autocommit mode the files go with the engine's last reference. Inside a
** transaction they stay for a ROLLBACK (see "DROP TABLE inside a transaction" above): a
** temporary table's are kept by its connection, marked dropped; a file table's directory gets a
** DROPPED marker first, and if that cannot be written the DROP fails (SQLite reports the code
** only, so the reason goes to sqlite3_log) and the table is intact. */
static int vt_destroy(sqlite3_vtab *pv) {
  vt_tab *v = (vt_tab *)pv;
  int in_txn = !sqlite3_get_autocommit(v->db);
  dm_mark m;
  drop_token(v->db, v->schema, &m);
  /* Writes of this transaction live in this table's overlay, which goes with it. A ROLLBACK
  ** discards them anyway, but a ROLLBACK TO a savepoint opened after them would bring the table
  ** back without them. SQLite opens one savepoint of its own for the DROP statement, the highest;
  ** any below it is the user's. */
  if (in_txn && v->ov && (ov_count(v->ov) > 0 || v->stage) && ov_depth(v->ov) >= 2) {
    sqlite3_log(SQLITE_ERROR, "lsm: DROP TABLE %s refused: this transaction wrote to it before an "
                "open SAVEPOINT, and a ROLLBACK TO could not restore those writes; RELEASE the "
                "savepoint or COMMIT first", v->name);
    return SQLITE_ERROR;
  }
  if (v->temp && !v->t.dir) {
    vt_temp *t = temp_find(v->conn, v->schema, v->name);
    if (t && in_txn) {
      t->dropped = 1;
      t->dversion = m.dversion;
    } else if (t) {
      temp_drop(v->conn, t);
    }
  } else if (v->eng && in_txn) {
    const char *dbfile = sqlite3_db_filename(v->db, v->schema);
    m.name = v->name;
    m.db = (char *)(dbfile ? dbfile : "");
    /* A directory outside <db>-lsm gets a link there first, for the sweep to find it. */
    int linked = !v->default_dir && !v->temp;
    char *parent = linked ? sqlite3_mprintf("%s-lsm", dbfile) : NULL;
    int rc = !linked ? 0 : parent ? dm_link(parent, reg_dir(v->eng)) : st_err(LSM_NOMEM, "out of memory");
    if (!rc) rc = dm_write(reg_dir(v->eng), &m);
    if (rc) {
      sqlite3_log(rc, "lsm: DROP TABLE %s failed: cannot mark %s dropped: %s", v->name,
                  reg_dir(v->eng), st_errmsg());
      if (parent) {
        dm_unlink(parent, reg_dir(v->eng));
        rmdir(parent);
      }
      sqlite3_free(parent);
      return rc;
    }
    sqlite3_free(parent);
  } else if (v->eng) {
    reg_mark_remove(v->eng);
  }
  /* The sweep runs after the table's engine is released, so that an autocommit DROP's link
  ** (its files are gone by then) is removed at once. */
  sqlite3 *db = v->db;
  char *schema = v->temp ? NULL : sqlite3_mprintf("%s", v->schema);
  tab_free(v);
  if (schema) sweep_dropped(db, schema); /* also removes <db>-lsm once no table is left */
  sqlite3_free(schema);
  return SQLITE_OK;
}

static int vt_rename(sqlite3_vtab *pv, const char *zNew) {
  vt_tab *v = (vt_tab *)pv;
  VT_NEED_ENGINE(v);
  /* A rename moves files (or the name a connection finds them by), which a ROLLBACK of the
  ** schema change would not move back: the table would come back without its rows. */
  if ((v->default_dir || (v->temp && !v->t.dir)) && !sqlite3_get_autocommit(v->db))
    return vt_err(v, SQLITE_ERROR, "lsm: cannot rename %s inside a transaction (a ROLLBACK would "
                  "not move its files back); rename it outside BEGIN ... COMMIT", v->name);
  if (v->temp && !v->t.dir) {
    vt_temp *t = temp_find(v->conn, v->schema, v->name);
    char *n = sqlite3_mprintf("%s", zNew), *n2 = sqlite3_mprintf("%s", zNew);
    if (!n || !n2) {
      sqlite3_free(n);
      sqlite3_free(n2);
      return SQLITE_NOMEM;
    }
    if (t) {
      sqlite3_free(t->name);
      t->name = n2;
    } else {
      sqlite3_free(n2);
    }
    sqlite3_free(v->name);
    v->name = n;
    return SQLITE_OK;
  }
  if (!v->default_dir) { /* an explicit dir does not depend on the name */
    if (clear_stale_mark(v->db, v->schema, v->name, reg_dir(v->eng)))
      return vt_err(v, SQLITE_ERROR, "lsm: cannot rename %s: %s", v->name, st_errmsg());
    char *n = sqlite3_mprintf("%s", zNew);
    if (!n) return SQLITE_NOMEM;
    sqlite3_free(v->name);
    v->name = n;
    return SQLITE_OK;
  }
  if ((v->ov && ov_count(v->ov) > 0) || v->stage)
    return vt_err(v, SQLITE_ERROR, "lsm: cannot rename %s with uncommitted changes", v->name);
  if (v->curs)
    return vt_err(v, SQLITE_BUSY, "lsm: cannot rename %s while statements read it", v->name);
  if (reg_refs(v->eng) > 1)
    return vt_err(v, SQLITE_BUSY, "lsm: cannot rename %s while other connections use it", v->name);
  const char *dbfile = sqlite3_db_filename(v->db, v->schema);
  char *from = default_dir(dbfile, v->name), *to = default_dir(dbfile, zNew);
  char *n = sqlite3_mprintf("%s", zNew);
  if (!from || !to || !n) {
    sqlite3_free(from);
    sqlite3_free(to);
    sqlite3_free(n);
    return SQLITE_NOMEM;
  }
  int rc = SQLITE_OK;
  /* Autocommit: a marker in our directory is left by a DROP that was rolled back (the table is
  ** here), one in the target's by a committed DROP (no table has the new name); neither may travel
  ** or stay: the sweep would read them under the wrong name. */
  char *err = NULL;
  if (create_over_dropped(v->db, v->schema, zNew, to, &err) != SQLITE_OK || dm_remove(from)) {
    rc = vt_err(v, SQLITE_ERROR, "lsm: cannot rename %s: %s", v->name, err ? err : st_errmsg());
  } else if (access(to, F_OK) == 0) {
    rc = vt_err(v, SQLITE_ERROR, "lsm: cannot rename: %s already exists", to);
  } else {
    close_engine(v->eng, v->name);
    v->eng = NULL;
    v->ldb = NULL;
    const char *open_dir = to;
    if (rename(from, to) != 0) {
      rc = vt_err(v, SQLITE_IOERR, "lsm: cannot rename %s to %s: %s", from, to, strerror(errno));
      open_dir = from;
    }
    int rc2 = reg_open(open_dir, &v->t.lo, &v->eng);
    if (rc2) {
      v->eng = NULL;
      rc = vt_err(v, rc2, "lsm: reopening after rename: %s", st_errmsg());
    } else {
      v->ldb = reg_db(v->eng);
      if (!rc) {
        sqlite3_free(v->name);
        v->name = n;
        n = NULL;
      }
    }
  }
  sqlite3_free(err);
  sqlite3_free(from);
  sqlite3_free(to);
  sqlite3_free(n);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
** Planning.
*/

static int key_pos_of_col(const vt_tab *v, int icol) {
  if (v->rowid_mode) return icol == -1 ? 0 : -1;
  if (icol < 0 || icol >= v->t.ncol) return -1;
  return v->t.cols[icol].keypos;
}

static double est_rows(vt_tab *v) {
  lsm_stats st;
  double n = 0;
  if (v->ldb && lsm_get_stats(v->ldb, &st) == LSM_OK) {
    double bytes = (double)st.memtable_bytes;
    for (int i = 0; i < LSM_MAX_LEVELS; i++) bytes += (double)st.level_bytes[i];
    n = bytes / 48; /* a rough row size: the engine does not count entries */
  }
  if (v->ov) n += (double)ov_count(v->ov);
  /* Never tiny: on an empty table a full scan must still look worse than a lookup. */
  return n < 1000 ? 1000 : n;
}

static int vt_best_index(sqlite3_vtab *pv, sqlite3_index_info *info) {
  vt_tab *v = (vt_tab *)pv;
  int eq[64], lo = -1, hi = -1, in_mask = 0;
  int nk = v->nkeyc < 64 ? v->nkeyc : 64;
  for (int k = 0; k < nk; k++) eq[k] = -1;
  /* Find, per key position, an equality; on the first unbound position, range bounds. */
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if (!c->usable) continue;
    int kp = key_pos_of_col(v, c->iColumn);
    if (kp < 0 || kp >= nk) continue;
    const char *coll = sqlite3_vtab_collation(info, i);
    if (coll && sqlite3_stricmp(coll, "BINARY")) continue;
    if (c->op == SQLITE_INDEX_CONSTRAINT_EQ && eq[kp] < 0) eq[kp] = i;
  }
  int neq = 0;
  while (neq < nk && eq[neq] >= 0) neq++;
  if (neq < nk) {
    for (int i = 0; i < info->nConstraint; i++) {
      const struct sqlite3_index_constraint *c = &info->aConstraint[i];
      if (!c->usable || key_pos_of_col(v, c->iColumn) != neq) continue;
      const char *coll = sqlite3_vtab_collation(info, i);
      if (coll && sqlite3_stricmp(coll, "BINARY")) continue;
      if ((c->op == SQLITE_INDEX_CONSTRAINT_GT || c->op == SQLITE_INDEX_CONSTRAINT_GE) && lo < 0)
        lo = i;
      if ((c->op == SQLITE_INDEX_CONSTRAINT_LT || c->op == SQLITE_INDEX_CONSTRAINT_LE) && hi < 0)
        hi = i;
    }
  }
  int plan = neq, argi = 1;
  int list = neq == v->nkeyc;
  /* Constraints on a TEXT or untyped key column compare by rules that depend on the affinity of
  ** the other side, which only a constant (no affinity) lets us know. With any other right-hand
  ** side the plan is marked P_RECHECK: no constraint is omitted, and xFilter widens a bound
  ** whose value could compare differently (see ambiguous()). */
  int recheck = 0;
  for (int k = 0; k <= neq && k < nk; k++) {
    int aff = v->rowid_mode ? OPT_AFF_INTEGER : v->t.cols[v->t.key[k]].aff;
    if (aff >= OPT_AFF_NUMERIC) continue;
    int cs[3] = {k < neq ? eq[k] : -1, k == neq ? lo : -1, k == neq ? hi : -1};
    for (int j = 0; j < 3; j++) {
      sqlite3_value *rv = NULL;
      if (cs[j] >= 0 && sqlite3_vtab_rhs_value(info, cs[j], &rv) != SQLITE_OK) recheck = 1;
    }
  }
  if (recheck) plan |= P_RECHECK;
  sqlite3_str *desc = sqlite3_str_new(NULL);
  for (int k = 0; k < neq; k++) {
    info->aConstraintUsage[eq[k]].argvIndex = argi++;
    info->aConstraintUsage[eq[k]].omit = !recheck;
    /* An IN list on a fully bound key is fetched as one batch (sqlite3_vtab_in). */
    if (list && k < P_IN_MAX && sqlite3_vtab_in(info, eq[k], -1) && sqlite3_vtab_in(info, eq[k], 1))
      in_mask |= 1 << k;
  }
  if (lo >= 0) {
    info->aConstraintUsage[lo].argvIndex = argi++;
    info->aConstraintUsage[lo].omit = !recheck;
    plan |= P_LO | (info->aConstraint[lo].op == SQLITE_INDEX_CONSTRAINT_GE ? P_LO_INCL : 0);
  }
  if (hi >= 0) {
    info->aConstraintUsage[hi].argvIndex = argi++;
    info->aConstraintUsage[hi].omit = !recheck;
    plan |= P_HI | (info->aConstraint[hi].op == SQLITE_INDEX_CONSTRAINT_LE ? P_HI_INCL : 0);
  }
  if (list) plan |= P_LIST;
  plan |= in_mask << P_IN_SHIFT;

  /* ORDER BY consumed? Terms must follow the key columns in order (key columns bound by = may
  ** be skipped), all in one direction; after the whole key anything may follow (unique). */
  if (info->nOrderBy > 0) {
    int ok = 1, kp = 0, dir = info->aOrderBy[0].desc;
    for (int j = 0; j < info->nOrderBy && ok; j++) {
      if (kp >= v->nkeyc) break;
      int want = info->aOrderBy[j].iColumn;
      if (info->aOrderBy[j].desc != dir) { ok = 0; break; }
      while (kp < neq && key_pos_of_col(v, want) != kp) kp++;
      if (key_pos_of_col(v, want) != kp) ok = 0;
      kp++;
    }
    if (ok) {
      info->orderByConsumed = 1;
      if (dir) plan |= P_DESC;
    }
  }

  double n = est_rows(v), rows, cost;
  if (list && !in_mask) {
    rows = 1;
    cost = 10;
    info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
    sqlite3_str_appendall(desc, "point");
  } else if (list) {
    rows = 10;
    cost = 40;
    sqlite3_str_appendall(desc, "in-batch");
  } else if (neq || lo >= 0 || hi >= 0) {
    rows = n;
    for (int k = 0; k < neq; k++) rows /= 10;
    if (lo >= 0) rows /= 4;
    if (hi >= 0) rows /= 4;
    if (rows < 2) rows = 2;
    cost = 20 + rows;
    sqlite3_str_appendf(desc, "range eq=%d%s%s", neq,
                        lo >= 0 ? (plan & P_LO_INCL ? " >=" : " >") : "",
                        hi >= 0 ? (plan & P_HI_INCL ? " <=" : " <") : "");
  } else {
    rows = n;
    cost = 100 + n;
    sqlite3_str_appendall(desc, "scan");
  }
  if (plan & P_DESC) sqlite3_str_appendall(desc, " desc");
  if (recheck) sqlite3_str_appendall(desc, " recheck");
  /* LIMIT/OFFSET (SQLite >= 3.38 offers them): only when the rows we return are exactly the
  ** result, i.e. every other constraint is applied by us (omit) and the order is ours.
  ** Not with any range constraint either: SQLite 3.40 hands a row-value comparison such as
  ** (a, b) < (3, 'c') to xBestIndex as a plain `a <= 3` and still offers LIMIT/OFFSET, but
  ** evaluates the full row-value comparison itself after xFilter, so rows skipped or cut by
  ** us could be ones SQLite would have dropped. The cursor is lazy, so without the pushdown
  ** SQLite still stops stepping at the LIMIT; only OFFSET skipping stays with SQLite.
  ** Otherwise, when the order is ours, the values are still taken, not omitted, as a hint only
  ** (P_HINT_ONLY: SQLite applies them): a range scan reads about as many rows as LIMIT +
  ** OFFSET, and the engine sizes its reads to that (lsm_iter_hint). */
  {
    int lim = -1, off = -1, ordered = info->nOrderBy == 0 || info->orderByConsumed;
    int all_ours = ordered;
    for (int i = 0; i < info->nConstraint; i++) {
      int op = info->aConstraint[i].op;
      if (op == SQLITE_INDEX_CONSTRAINT_LIMIT) lim = info->aConstraint[i].usable ? i : lim;
      else if (op == SQLITE_INDEX_CONSTRAINT_OFFSET) off = info->aConstraint[i].usable ? i : off;
      else if (!info->aConstraintUsage[i].omit) all_ours = 0;
      else if (op == SQLITE_INDEX_CONSTRAINT_GT || op == SQLITE_INDEX_CONSTRAINT_GE ||
               op == SQLITE_INDEX_CONSTRAINT_LT || op == SQLITE_INDEX_CONSTRAINT_LE)
        all_ours = 0;
    }
    if (ordered && lim >= 0) {
      info->aConstraintUsage[lim].argvIndex = argi++;
      info->aConstraintUsage[lim].omit = (unsigned char)all_ours;
      plan |= P_LIMIT | (all_ours ? 0 : P_HINT_ONLY);
      sqlite3_str_appendall(desc, all_ours ? " limit" : " limit-hint");
      if (off >= 0) {
        info->aConstraintUsage[off].argvIndex = argi++;
        info->aConstraintUsage[off].omit = (unsigned char)all_ours;
        plan |= P_OFFSET;
        sqlite3_str_appendall(desc, " offset");
      }
    }
  }
  info->idxNum = plan;
  info->idxStr = sqlite3_str_finish(desc);
  info->needToFreeIdxStr = 1;
  info->estimatedRows = (sqlite3_int64)rows;
  info->estimatedCost = cost;
  return SQLITE_OK;
}

/* ---------------------------------------------------------------------------------------------
** Cursors.
*/
typedef struct vt_row {
  uint8_t *k, *val;
  size_t kn, vn;
} vt_row;

typedef struct vt_cur {
  sqlite3_vtab_cursor base; /* must be first */
  struct vt_cur *next_cur;  /* in vt_tab.curs */
  lsm_iter *it;
  ov_overlay *ov; /* referenced while the cursor reads it */
  uint64_t ovs;   /* overlay snapshot */
  /* The statement run that started this read (see scan_snapshot): the one busy writer at
  ** xFilter and its SQLITE_STMTSTATUS_RUN count, or NULL: no overlay then, no busy writer (a
  ** read of another statement), or several (owner_amb). */
  sqlite3_stmt *owner;
  int owner_run, owner_amb;
  /* Its transaction went on past a spill (or a rollback that replaced the overlay) since this
  ** read began: the first stage run holding writes made after it began (every write in the
  ** current overlay came after it too); else -1. The cursor keeps reading its own overlay, if
  ** it still needs it, and the runs its iterator pinned. */
  int since_run;
  ov_node *on;
  int desc, eof;
  cd_buf lo, hi; /* bounds: lo inclusive, hi exclusive; n == 0 and !has = none */
  int has_lo, has_hi;
  /* list mode: rows is one sqlite3_malloc'd block holding the row array and then the rows' keys
  ** (filter_list), or &one for a single-key lookup (filter_one), whose key is in key1 and whose
  ** value is lsm_get's copy (one_owned) or borrowed from the overlay */
  int list;
  vt_row *rows;
  int nrows, irow;
  vt_row one;
  int one_owned;
  cd_buf key1;
  /* current row */
  int64_t left; /* rows still to return (LIMIT), or -1 */
  int from_it, from_ov;
  const uint8_t *k, *val;
  size_t kn, vn;
  int decoded;   /* DEC_KEY | DEC_VAL: the halves of the current row decoded so far */
  size_t vhdr;   /* with DEC_KEY: length of the record's header (the values follow it) */
  ke_val *kv, *vv;
  uint8_t *kreal;
} vt_cur;

static int busy_writers(sqlite3 *db, sqlite3_stmt **one);

static int vt_open(sqlite3_vtab *pv, sqlite3_vtab_cursor **pp) {
  vt_tab *v = (vt_tab *)pv;
  vt_cur *c = v->spare;
  if (c) { /* as new, keeping the allocations (cur_reset released everything else) */
    v->spare = NULL;
    vt_cur keep = *c;
    memset(c, 0, sizeof *c);
    c->lo = keep.lo;
    c->hi = keep.hi;
    c->key1 = keep.key1;
    cd_buf_clear(&c->lo);
    cd_buf_clear(&c->hi);
    cd_buf_clear(&c->key1);
    c->kv = keep.kv;
    c->kreal = keep.kreal;
    c->vv = keep.vv;
    c->eof = 1;
    c->since_run = -1;
    c->next_cur = v->curs;
    v->curs = c;
    *pp = &c->base;
    return SQLITE_OK;
  }
  c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->kv = sqlite3_malloc64(sizeof(ke_val) * (size_t)v->nkeyc);
  c->kreal = sqlite3_malloc64((size_t)v->nkeyc + 1);
  c->vv = sqlite3_malloc64(sizeof(ke_val) * (size_t)(v->nval + 1));
  if (!c->kv || !c->kreal || !c->vv) {
    sqlite3_free(c->kv);
    sqlite3_free(c->kreal);
    sqlite3_free(c->vv);
    sqlite3_free(c);
    return SQLITE_NOMEM;
  }
  c->eof = 1;
  c->since_run = -1;
  c->next_cur = v->curs;
  v->curs = c;
  *pp = &c->base;
  return SQLITE_OK;
}

static void cur_reset(vt_cur *c) {
  lsm_iter_free(c->it);
  c->it = NULL;
  ov_unref(c->ov);
  c->ov = NULL;
  c->owner = NULL;
  c->owner_run = c->owner_amb = 0;
  c->since_run = -1;
  c->on = NULL;
  if (c->rows == &c->one) {
    if (c->one_owned) lsm_free(c->one.val);
    c->one_owned = 0;
  } else {
    for (int i = 0; i < c->nrows; i++) lsm_free(c->rows[i].val);
    sqlite3_free(c->rows); /* and the keys, which filter_list put in the same block */
  }
  c->rows = NULL;
  c->nrows = c->irow = 0;
  c->list = 0;
  c->eof = 1;
  cd_buf_clear(&c->lo);
  cd_buf_clear(&c->hi);
  c->has_lo = c->has_hi = 0;
}

static void cur_free(vt_cur *c) {
  if (!c) return;
  cd_buf_free(&c->lo);
  cd_buf_free(&c->hi);
  cd_buf_free(&c->key1);
  sqlite3_free(c->kv);
  sqlite3_free(c->kreal);
  sqlite3_free(c->vv);
  sqlite3_free(c);
}

static int vt_close(sqlite3_vtab_cursor *pc) {
  vt_cur *c = (vt_cur *)pc;
  vt_tab *v = (vt_tab *)pc->pVtab;
  for (vt_cur **pp = &v->curs; *pp; pp = &(*pp)->next_cur)
    if (*pp == c) {
      *pp = c->next_cur;
      break;
    }
  cur_reset(c);
  /* keep one for the next xOpen, unless it holds big buffers (a huge key) */
  if (!v->spare && c->lo.cap + c->hi.cap + c->key1.cap <= 4096) v->spare = c;
  else cur_free(c);
  return SQLITE_OK;
}

static int bcmp_(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  size_t m = an < bn ? an : bn;
  int r = m ? memcmp(a, b, m) : 0;
  if (r) return r;
  return an < bn ? -1 : an > bn;
}

/* Is the overlay node inside the cursor's bounds? */
static int on_in_bounds(vt_cur *c) {
  if (!c->on) return 0;
  const void *k;
  size_t kn;
  ov_node_key(c->on, &k, &kn);
  if (c->has_lo && bcmp_(k, kn, c->lo.p, c->lo.n) < 0) return 0;
  if (c->has_hi && bcmp_(k, kn, c->hi.p, c->hi.n) >= 0) return 0;
  return 1;
}

static void on_step(vt_cur *c) { c->on = c->desc ? ov_prev(c->ov, c->on) : ov_next(c->on); }

static int it_step(vt_cur *c) { return c->desc ? lsm_iter_prev(c->it) : lsm_iter_next(c->it); }

/* Find the next visible row at or after the current positions (merge of engine + overlay). */
static int cur_settle(vt_cur *c) {
  vt_tab *v = (vt_tab *)c->base.pVtab;
  c->decoded = 0;
  if (!c->ov && c->it) { /* no transaction writes: the engine's row as it is */
    if (!lsm_iter_valid(c->it)) {
      int rc = lsm_iter_status(c->it);
      if (rc) return vt_lsm_err(v, rc);
      c->eof = 1;
      return SQLITE_OK;
    }
    const void *k, *val;
    lsm_iter_key(c->it, &k, &c->kn);
    lsm_iter_value(c->it, &val, &c->vn);
    c->k = k;
    c->val = val;
    c->from_it = 1;
    c->from_ov = 0;
    return SQLITE_OK;
  }
  for (;;) {
    int ev = c->it && lsm_iter_valid(c->it);
    if (c->it && !ev) {
      int rc = lsm_iter_status(c->it);
      if (rc) return vt_lsm_err(v, rc);
    }
    int ovv = c->ov && on_in_bounds(c);
    if (!ev && !ovv) {
      c->eof = 1;
      return SQLITE_OK;
    }
    const void *ek = NULL, *ok = NULL;
    size_t ekn = 0, okn = 0;
    if (ev) lsm_iter_key(c->it, &ek, &ekn);
    if (ovv) ov_node_key(c->on, &ok, &okn);
    int cmp; /* < 0: the engine's row comes first */
    if (!ovv) cmp = -1;
    else if (!ev) cmp = 1;
    else {
      cmp = bcmp_(ek, ekn, ok, okn);
      if (c->desc) cmp = -cmp;
    }
    if (cmp < 0) {
      c->from_it = 1;
      c->from_ov = 0;
      c->k = ek;
      c->kn = ekn;
      const void *val;
      lsm_iter_value(c->it, &val, &c->vn);
      c->val = val;
      return SQLITE_OK;
    }
    const void *val = NULL;
    size_t vn = 0;
    int st = ov_node_state(c->on, c->ovs, &val, &vn);
    if (st == OV_ABSENT) { /* not changed as of our snapshot: the engine decides */
      on_step(c);
      continue;
    }
    if (st == OV_DEL) {
      on_step(c);
      if (cmp == 0) {
        int rc = it_step(c);
        if (rc) return vt_lsm_err(v, rc);
      }
      continue;
    }
    c->from_ov = 1;
    c->from_it = cmp == 0;
    c->k = ok;
    c->kn = okn;
    c->val = val;
    c->vn = vn;
    return SQLITE_OK;
  }
}

static int cur_step(sqlite3_vtab_cursor *pc) {
  vt_cur *c = (vt_cur *)pc;
  vt_tab *v = (vt_tab *)pc->pVtab;
  if (c->eof) return SQLITE_OK;
  if (c->list) {
    if (++c->irow >= c->nrows) c->eof = 1;
    else {
      c->k = c->rows[c->irow].k;
      c->kn = c->rows[c->irow].kn;
      c->val = c->rows[c->irow].val;
      c->vn = c->rows[c->irow].vn;
      c->decoded = 0;
      v->rows_read++;
    }
    return SQLITE_OK;
  }
  if (!c->ov && c->it) { /* no transaction writes: the engine's next row as it is */
    const void *k, *val;
    int rc = c->desc ? lsm_iter_prev_row(c->it, &k, &c->kn, &val, &c->vn)
                     : lsm_iter_next_row(c->it, &k, &c->kn, &val, &c->vn);
    if (rc) return vt_lsm_err(v, rc);
    c->decoded = 0;
    if (!k) {
      c->eof = 1;
      return SQLITE_OK;
    }
    c->k = k;
    c->val = val;
    v->rows_read++;
    return SQLITE_OK;
  }
  if (c->from_ov) on_step(c);
  if (c->from_it) {
    int rc = it_step(c);
    if (rc) return vt_lsm_err(v, rc);
  }
  int rc = cur_settle(c);
  if (!rc && !c->eof) v->rows_read++;
  return rc;
}

static int vt_next(sqlite3_vtab_cursor *pc) {
  vt_cur *c = (vt_cur *)pc;
  if (c->left > 0 && --c->left == 0) { /* the LIMIT-th row was the last */
    c->eof = 1;
    return SQLITE_OK;
  }
  return cur_step(pc);
}

/* Could value x (already converted as for a constant) compare with key column kp differently
** when the right-hand side has an affinity of its own? Only asked under P_RECHECK.
**   TEXT key: a number on the other side compares numerically if it has numeric affinity.
**   untyped key: numbers (other side numeric: numeric-looking text keys compare as numbers);
**   text that looks numeric (other side TEXT: number keys compare as their text), and for
**   ranges any text. BLOBs and NULLs compare the same either way.
** (A numeric key column converts the other side the same way whatever its affinity.) */
static int ambiguous(vt_tab *v, int kp, sqlite3_value *val, int is_eq) {
  int aff = v->rowid_mode ? OPT_AFF_INTEGER : v->t.cols[v->t.key[kp]].aff;
  if (aff >= OPT_AFF_NUMERIC) return 0;
  int t = sqlite3_value_type(val);
  if (t == SQLITE_INTEGER || t == SQLITE_FLOAT) return 1;
  if (t != SQLITE_TEXT || aff == OPT_AFF_TEXT) return 0;
  if (!is_eq) return 1;
  int64_t i;
  double r;
  return parse_number(sqlite3_value_text(val), sqlite3_value_bytes(val), &i, &r) != 0;
}

/* Encode a filter value for key position kp (affinity of the column applied as in a
** comparison). Returns 0 if the value is NULL (nothing can match), 1 if appended, or -errcode. */
static int enc_filter_val(vt_tab *v, int kp, sqlite3_value *val, cd_buf *b) {
  ke_val x;
  value_kv(val, &x);
  int aff = v->rowid_mode ? OPT_AFF_INTEGER : v->t.cols[v->t.key[kp]].aff;
  apply_affinity(val, aff, &x, 0);
  if (x.type == KE_NULL) return 0;
  int rc = ke_encode(b, &x);
  return rc ? -SQLITE_NOMEM : 1;
}

static int row_cmp(const void *a, const void *b) {
  const vt_row *x = a, *y = b;
  return bcmp_(x->k, x->kn, y->k, y->kn);
}

/* List mode with one key (every key column bound by =, no IN list: `WHERE k = ?`, and the
** UPDATE/DELETE by key): the overlay, else one lsm_get, with no allocation of ours. */
static int filter_one(vt_cur *c, vt_tab *v, sqlite3_value **argv) {
  cd_buf *kb = &c->key1;
  cd_buf_clear(kb);
  for (int k = 0; k < v->nkeyc; k++) {
    int r = enc_filter_val(v, k, argv[k], kb);
    if (r < 0) return -r;
    if (r == 0) return SQLITE_OK; /* = NULL matches nothing */
  }
  /* A key over the limit can never have been written (xUpdate refuses it): not found. */
  if (kb->n == 0 || kb->n > LSM_MAX_KEY) return SQLITE_OK;
  c->one.k = kb->p;
  c->one.kn = kb->n;
  if (c->ov) {
    const void *val;
    size_t vn;
    int st = ov_get(c->ov, c->ovs, kb->p, kb->n, &val, &vn);
    if (st == OV_DEL) return SQLITE_OK;
    if (st == OV_PUT) {
      /* borrowed: overlay versions live until the overlay is freed, and the cursor holds a
      ** reference to it; later writes make new versions (seq > c->ovs), never this one */
      c->one.val = (uint8_t *)val;
      c->one.vn = vn;
      c->rows = &c->one;
      c->nrows = 1;
      return SQLITE_OK;
    }
  }
  v->point_lookups++;
  void *got = NULL;
  size_t gn = 0;
  /* The latest state now, i.e. at this xFilter: the snapshot a multi-key list would take. */
  int rc = eng_get(v, kb->p, kb->n, &got, &gn);
  if (rc == LSM_NOTFOUND) return SQLITE_OK;
  if (rc) return vt_lsm_err(v, rc);
  c->one.val = got;
  c->one.vn = gn;
  c->one_owned = 1;
  c->rows = &c->one;
  c->nrows = 1;
  return SQLITE_OK;
}

/* List mode: every combination of the bound values (IN lists expanded), sorted, deduplicated,
** looked up in the overlay, the rest in one lsm_multiget batch.
** Allocation is per statement, not per key: one block for the per-position bookkeeping, one
** for the rows and their keys (c->rows; the keys live after the row array, so cur_reset frees
** the block, not each key) and one for the batch's arrays. An IN list of 32 keys made ~45
** sqlite3_malloc/free pairs before, each taking SQLite's memory-statistics mutex: ~7 % of
** the statement's time. */
static int filter_list(vt_cur *c, vt_tab *v, int plan, sqlite3_value **argv) {
  int nk = v->nkeyc;
  if (!(((unsigned)plan >> P_IN_SHIFT) & ((1u << P_IN_MAX) - 1))) return filter_one(c, v, argv);
  /* Per key position k: its encoded values back to back in enc[k], value i at
  ** enc[k].p + offs[k][i] .. offs[k][i + 1]; cnt[k] of them. */
  void *bk = sqlite3_malloc64((sizeof(cd_buf) + sizeof(size_t *) + sizeof(int)) * (size_t)nk);
  if (!bk) return SQLITE_NOMEM;
  memset(bk, 0, (sizeof(cd_buf) + sizeof(size_t *) + sizeof(int)) * (size_t)nk);
  cd_buf *enc = bk;
  size_t **offs = (size_t **)(enc + nk);
  int *cnt = (int *)(offs + nk);
  int rc = SQLITE_OK;
  size_t total = 1, keybytes = 0;
  for (int k = 0; k < nk && !rc; k++) {
    int cap = 0;
    sqlite3_value *x = NULL;
    int isin = P_ISIN(plan, k);
    int src = isin ? sqlite3_vtab_in_first(argv[k], &x) : SQLITE_OK;
    if (!isin) x = argv[k];
    while (src == SQLITE_OK && x) {
      if (cnt[k] + 2 > cap) {
        cap = cap ? cap * 2 : 64;
        size_t *o = mm_realloc(offs[k], sizeof(size_t) * (size_t)cap);
        if (!o) { rc = SQLITE_NOMEM; break; }
        offs[k] = o;
      }
      size_t before = enc[k].n;
      int r = enc_filter_val(v, k, x, &enc[k]);
      if (r < 0) { rc = -r; break; }
      if (r == 1) offs[k][cnt[k]++] = before;
      if (!isin) break;
      src = sqlite3_vtab_in_next(argv[k], &x);
    }
    if (!rc && src != SQLITE_OK && src != SQLITE_DONE) rc = src;
    if (!rc && offs[k]) offs[k][cnt[k]] = enc[k].n;
    total *= (size_t)cnt[k];
    if (total > 10000000) rc = vt_err(v, SQLITE_TOOBIG, "lsm: too many key combinations in IN lists");
  }
  /* Every value of position k is in total / cnt[k] of the combinations. */
  for (int k = 0; k < nk && !rc && total > 0; k++) {
    size_t part;
    if (__builtin_mul_overflow(enc[k].n, total / (size_t)cnt[k], &part) ||
        __builtin_add_overflow(keybytes, part, &keybytes))
      rc = vt_err(v, SQLITE_TOOBIG, "lsm: IN lists' keys too large");
  }
  if (!rc && total > 0) {
    c->rows = sqlite3_malloc64(sizeof(vt_row) * total + keybytes);
    if (!c->rows) rc = SQLITE_NOMEM;
  }
  /* Cartesian product, odometer style; each key written back to front. */
  uint8_t *kp = c->rows ? (uint8_t *)(c->rows + total) : NULL;
  for (size_t r = 0; !rc && r < total; r++) {
    size_t q = r, len = 0;
    for (int k = nk - 1; k >= 0; k--) {
      size_t i = q % (size_t)cnt[k];
      q /= (size_t)cnt[k];
      len += offs[k][i + 1] - offs[k][i];
    }
    q = r;
    size_t at = len;
    for (int k = nk - 1; k >= 0; k--) {
      size_t i = q % (size_t)cnt[k];
      q /= (size_t)cnt[k];
      size_t n = offs[k][i + 1] - offs[k][i];
      at -= n;
      memcpy(kp + at, enc[k].p + offs[k][i], n);
    }
    c->rows[r] = (vt_row){.k = kp, .kn = len};
    kp += len;
    c->nrows++;
  }
  for (int k = 0; k < nk; k++) {
    cd_buf_free(&enc[k]);
    mm_free(offs[k]);
  }
  sqlite3_free(bk);
  if (rc) return rc;
  /* Sort and deduplicate (1 and 1.0, or repeated IN values, are one key). */
  if (c->nrows > 1) qsort(c->rows, (size_t)c->nrows, sizeof(vt_row), row_cmp);
  int w = 0;
  for (int r = 0; r < c->nrows; r++)
    if (w == 0 || row_cmp(&c->rows[w - 1], &c->rows[r]) != 0) c->rows[w++] = c->rows[r];
  c->nrows = w;
  /* Overlay first; the rest in one batch. */
  size_t na = (size_t)w + 1;
  void *ba = sqlite3_malloc64((2 * sizeof(void *) + 2 * sizeof(size_t) + 3 * sizeof(int)) * na);
  if (!ba) return SQLITE_NOMEM;
  const void **keys = ba;
  void **vals = (void **)(keys + na);
  size_t *klens = (size_t *)(vals + na), *vlens = klens + na;
  int *idx = (int *)(vlens + na), *rcs = idx + na, *found = rcs + na;
  int nget = 0;
  for (int r = 0; !rc && r < w; r++) {
    found[r] = 0;
    /* A key over the limit can never have been written (xUpdate refuses it): not found. */
    if (c->rows[r].kn == 0 || c->rows[r].kn > LSM_MAX_KEY) continue;
    if (c->ov) {
      const void *val;
      size_t vn;
      int st = ov_get(c->ov, c->ovs, c->rows[r].k, c->rows[r].kn, &val, &vn);
      if (st == OV_DEL) continue;
      if (st == OV_PUT) {
        /* copied with the engine's allocator so every row value is freed the same way */
        void *cp = mm_dup(val, vn);
        if (!cp) { rc = SQLITE_NOMEM; break; }
        c->rows[r].val = cp;
        c->rows[r].vn = vn;
        found[r] = 1;
        continue;
      }
    }
    keys[nget] = c->rows[r].k;
    klens[nget] = c->rows[r].kn;
    idx[nget++] = r;
  }
  if (!rc && nget > 0) {
    v->point_lookups += (uint64_t)nget;
    /* NULL: one read view of the latest state for the whole batch, taken now */
    int lrc = eng_multiget(v, nget, keys, klens, vals, vlens, rcs);
    for (int g = 0; g < nget; g++) {
      if (rcs[g] == LSM_OK) {
        if (lrc == LSM_OK) {
          c->rows[idx[g]].val = vals[g];
          c->rows[idx[g]].vn = vlens[g];
          found[idx[g]] = 1;
        } else {
          lsm_free(vals[g]);
        }
      }
    }
    if (lrc) rc = vt_lsm_err(v, lrc);
  }
  if (!rc) {
    /* keep found rows, in order (reversed for DESC); a row not found has no value to free */
    int n = 0;
    for (int r = 0; r < w; r++)
      if (found[r]) c->rows[n++] = c->rows[r];
    c->nrows = n;
    if (c->desc)
      for (int a = 0, b = n - 1; a < b; a++, b--) {
        vt_row t = c->rows[a];
        c->rows[a] = c->rows[b];
        c->rows[b] = t;
      }
  }
  sqlite3_free(ba);
  return rc;
}

/* hint: the rows the statement is expected to read (LIMIT + OFFSET), 0 when unknown: sizes the
** engine iterator's reads (lsm_iter_hint). */
static int filter_inner(sqlite3_vtab_cursor *pc, int plan, int argc, sqlite3_value **argv,
                        uint64_t hint) {
  vt_cur *c = (vt_cur *)pc;
  vt_tab *v = (vt_tab *)pc->pVtab;
  cur_reset(c);
  VT_NEED_ENGINE(v);
  c->desc = (plan & P_DESC) != 0;
  int neq = plan & P_NEQ_MASK;
  int need = neq + !!(plan & P_LO) + !!(plan & P_HI);
  if (argc < need) return vt_err(v, SQLITE_INTERNAL, "lsm: bad plan");
  /* No lsm_snapshot: the engine reads below (one lsm_get, one lsm_multiget, or an iterator's
  ** implicit snapshot) each see the state as of this xFilter, which is the cursor's snapshot. */
  int rc;
  if (v->ov) {
    c->ov = v->ov;
    ov_ref(c->ov);
    c->ovs = ov_snapshot(c->ov);
    /* Which statement run reads: xUpdate needs the snapshot of its own statement's scan
    ** (scan_snapshot). A statement that writes is the one busy non-read-only statement while
    ** its scan runs (readers of other statements are read-only). Only inside a transaction
    ** that wrote this table: without an overlay there is nothing to tell apart. */
    c->owner_amb = busy_writers(v->db, &c->owner) > 1;
    c->owner_run = c->owner ? sqlite3_stmt_status(c->owner, SQLITE_STMTSTATUS_RUN, 0) : 0;
  }
  if ((plan & P_LIST) && (plan & P_RECHECK)) {
    /* any ambiguous value: read everything, SQLite filters */
    for (int k = 0; k < neq && (plan & P_LIST); k++) {
      sqlite3_value *x = NULL;
      int isin = P_ISIN(plan, k);
      int src = isin ? sqlite3_vtab_in_first(argv[k], &x) : SQLITE_OK;
      if (!isin) x = argv[k];
      for (; src == SQLITE_OK && x; src = isin ? sqlite3_vtab_in_next(argv[k], &x) : SQLITE_DONE) {
        if (ambiguous(v, k, x, 1)) {
          plan &= ~(P_LIST | P_NEQ_MASK | P_LO | P_HI);
          neq = 0;
          break;
        }
        if (!isin) break;
      }
    }
  }
  if (plan & P_LIST) {
    c->list = 1;
    rc = filter_list(c, v, plan, argv);
    if (rc) return rc;
    c->eof = c->nrows == 0;
    if (!c->eof) {
      c->k = c->rows[0].k;
      c->kn = c->rows[0].kn;
      c->val = c->rows[0].val;
      c->vn = c->rows[0].vn;
      c->decoded = 0;
      v->rows_read++;
    }
    return SQLITE_OK;
  }
  /* Bounds (lo inclusive, hi exclusive): P = the encoded bound prefix;
  **   lo = P + enc(x) for >= x, successor(P + enc(x)) for > x, else P;
  **   hi = P + enc(y) for < y, successor(P + enc(y)) for <= y, else successor(P). */
  cd_buf *pre = &c->hi; /* built in hi, copied to lo */
  int lo_arg = neq, hi_arg = neq + !!(plan & P_LO);
  if (plan & P_RECHECK) {
    /* widen: cut the prefix at the first ambiguous value (the range then no longer applies),
    ** drop an ambiguous range bound */
    for (int k = 0; k < neq; k++)
      if (ambiguous(v, k, argv[k], 1)) {
        neq = k;
        plan &= ~(P_LO | P_HI);
        break;
      }
    if ((plan & P_LO) && ambiguous(v, neq, argv[lo_arg], 0)) plan &= ~P_LO;
    if ((plan & P_HI) && ambiguous(v, neq, argv[hi_arg], 0)) plan &= ~P_HI;
  }
  for (int k = 0; k < neq; k++) {
    int r = enc_filter_val(v, k, argv[k], pre);
    if (r < 0) return -r;
    if (r == 0) return SQLITE_OK; /* = NULL matches nothing */
  }
  if (cd_buf_append(&c->lo, pre->p, pre->n)) return SQLITE_NOMEM;
  c->has_lo = neq > 0;
  if (plan & P_LO) {
    int r = enc_filter_val(v, neq, argv[lo_arg], &c->lo);
    if (r < 0) return -r;
    if (r == 0) return SQLITE_OK; /* > NULL matches nothing */
    c->has_lo = 1;
    if (!(plan & P_LO_INCL) && !ke_prefix_successor(c->lo.p, &c->lo.n)) return SQLITE_OK;
  }
  if (plan & P_HI) {
    int r = enc_filter_val(v, neq, argv[hi_arg], &c->hi);
    if (r < 0) return -r;
    if (r == 0) return SQLITE_OK;
    c->has_hi = 1;
    if ((plan & P_HI_INCL) && !ke_prefix_successor(c->hi.p, &c->hi.n)) c->has_hi = 0;
  } else {
    c->has_hi = neq > 0 && ke_prefix_successor(c->hi.p, &c->hi.n);
  }
  if (c->has_lo && c->has_hi && bcmp_(c->lo.p, c->lo.n, c->hi.p, c->hi.n) >= 0)
    return SQLITE_OK; /* empty range */
  v->scans++;
  rc = eng_iter_new(v, c->has_lo ? c->lo.p : NULL, c->has_lo ? c->lo.n : 0,
                    c->has_hi ? c->hi.p : NULL, c->has_hi ? c->hi.n : 0, &c->it);
  if (rc) return vt_lsm_err(v, rc);
  /* Not when the range ends on the side the scan moves to: its rows may be far fewer than the
  ** LIMIT, and the engine's tables cannot see that bound. */
  lsm_iter_hint(c->it, (c->desc ? c->has_lo : c->has_hi) ? 0 : hint);
  rc = c->desc ? lsm_iter_seek_last(c->it) : lsm_iter_seek_first(c->it);
  if (rc) return vt_lsm_err(v, rc);
  if (c->ov) {
    if (!c->desc) {
      c->on = c->has_lo ? ov_seek_ge(c->ov, c->lo.p, c->lo.n) : ov_first(c->ov);
    } else if (c->has_hi) {
      c->on = ov_seek_le(c->ov, c->hi.p, c->hi.n);
      if (c->on) {
        const void *k;
        size_t kn;
        ov_node_key(c->on, &k, &kn);
        if (bcmp_(k, kn, c->hi.p, c->hi.n) == 0) c->on = ov_prev(c->ov, c->on);
      }
    } else {
      c->on = ov_last(c->ov);
    }
  }
  c->eof = 0;
  rc = cur_settle(c);
  if (!rc && !c->eof) v->rows_read++;
  return rc;
}

static int vt_filter(sqlite3_vtab_cursor *pc, int plan, const char *idxStr, int argc,
                     sqlite3_value **argv) {
  (void)idxStr;
  vt_cur *c = (vt_cur *)pc;
  c->left = -1;
  int ai = (plan & P_NEQ_MASK) + !!(plan & P_LO) + !!(plan & P_HI);
  int64_t lim = -1, off = 0;
  if ((plan & P_LIMIT) && ai < argc) {
    lim = sqlite3_value_int64(argv[ai]);
    if ((plan & P_OFFSET) && ai + 1 < argc) off = sqlite3_value_int64(argv[ai + 1]);
  }
  /* the rows the engine is expected to yield: LIMIT + OFFSET (none for LIMIT < 0: no limit) */
  uint64_t hint = lim > 0 ? (uint64_t)lim + (uint64_t)(off > 0 ? off : 0) : 0;
  int rc = filter_inner(pc, plan, argc, argv, hint);
  if (rc || !(plan & P_LIMIT) || (plan & P_HINT_ONLY) || ai >= argc) return rc;
  for (; off > 0 && !c->eof && !rc; off--) rc = cur_step(pc);
  if (lim >= 0) c->left = lim;
  if (lim == 0) c->eof = 1;
  return rc;
}

static int vt_eof(sqlite3_vtab_cursor *pc) { return ((vt_cur *)pc)->eof; }

/* The current row is decoded lazily, in two halves, each at most once per row (c->decoded is
** cleared whenever the cursor moves): the key columns (ke_decode of the engine key, and the
** REAL flags of the record's header), and the non-key columns (the rest of the record). A read of
** key columns alone (`SELECT k`, the rowid) never decodes the values; a read of values always
** validates the key as well, so a malformed key is reported whatever is read. */
#define DEC_KEY 1
#define DEC_VAL 2

static int cur_decode_key(vt_cur *c) {
  vt_tab *v = (vt_tab *)c->base.pVtab;
  const uint8_t *p = c->k, *end = c->k + c->kn;
  for (int k = 0; k < v->nkeyc; k++) {
    if (!ke_decode_posint(p, end, &c->kv[k], &p) && ke_decode(p, end, &c->kv[k], &p))
      return vt_err(v, SQLITE_CORRUPT, "lsm: %s", st_errmsg());
  }
  if (p != end) return vt_err(v, SQLITE_CORRUPT, "lsm: key has trailing bytes");
  if (v->rowid_mode && c->kv[0].type != KE_INT)
    return vt_err(v, SQLITE_CORRUPT, "lsm: rowid key is not an integer");
  if (rec_key_flags(c->val, c->vn, v->rowid_mode ? 0 : v->nkeyc, c->kreal, &c->vhdr))
    return vt_err(v, SQLITE_CORRUPT, "lsm: %s", st_errmsg());
  c->decoded |= DEC_KEY;
  return SQLITE_OK;
}

static int cur_decode_val(vt_cur *c) {
  vt_tab *v = (vt_tab *)c->base.pVtab;
  if (!(c->decoded & DEC_KEY)) {
    int rc = cur_decode_key(c);
    if (rc) return rc;
  }
  if (rec_decode_values(c->val + c->vhdr, c->vn - c->vhdr, v->nval, c->vv))
    return vt_err(v, SQLITE_CORRUPT, "lsm: %s", st_errmsg());
  c->decoded |= DEC_VAL;
  return SQLITE_OK;
}

static int vt_column(sqlite3_vtab_cursor *pc, sqlite3_context *ctx, int i) {
  vt_cur *c = (vt_cur *)pc;
  vt_tab *v = (vt_tab *)pc->pVtab;
  if (i == v->t.ncol) { /* the hidden key column: SQLite hands it back to xUpdate */
    sqlite3_result_blob(ctx, c->k, (int)c->kn, SQLITE_TRANSIENT);
    return SQLITE_OK;
  }
  int kp = v->t.cols[i].keypos, rc;
  if (kp >= 0) {
    if (!(c->decoded & DEC_KEY) && (rc = cur_decode_key(c))) return rc;
    result_kv(ctx, &c->kv[kp], c->kreal[kp]);
  } else {
    if (!(c->decoded & DEC_VAL) && (rc = cur_decode_val(c))) return rc;
    result_kv(ctx, &c->vv[v->colval[i]], 0);
  }
  return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *pc, sqlite3_int64 *out) {
  vt_cur *c = (vt_cur *)pc;
  vt_tab *v = (vt_tab *)pc->pVtab;
  if (!v->rowid_mode) return vt_err(v, SQLITE_ERROR, "lsm: table %s has no rowid", v->name);
  int rc;
  if (!(c->decoded & DEC_KEY) && (rc = cur_decode_key(c))) return rc;
  *out = c->kv[0].i;
  return SQLITE_OK;
}

/* ---------------------------------------------------------------------------------------------
** Writes and transactions.
*/

/* The bound on the transaction's pending writes to this table (vtopts.h OPT_MAX_TXN_SIZE). */
static size_t max_txn(const vt_tab *v) {
  return v->conn && v->conn->max_txn_size ? v->conn->max_txn_size : v->t.max_txn_size;
}

static int overlay_new(vt_tab *v, int depth, ov_overlay **out);

static int ensure_txn(vt_tab *v) { return v->ov ? SQLITE_OK : overlay_new(v, 0, &v->ov); }

/* Does key exist (overlay, then the engine's latest state)? 1/0 or -errcode. */
static int key_exists(vt_tab *v, const uint8_t *k, size_t kn) {
  const void *val;
  size_t vn;
  int st = v->ov ? ov_get(v->ov, OV_LATEST, k, kn, &val, &vn) : OV_ABSENT;
  if (st == OV_PUT) return 1;
  if (st == OV_DEL) return 0;
  /* No value copy; for a fresh key the engine can answer from its filters. */
  int rc = eng_exists(v, k, kn);
  if (rc == LSM_OK) return 1;
  if (rc == LSM_NOTFOUND) return 0;
  return -vt_lsm_err(v, rc);
}

/* The largest rowid in the table (engine + overlay), or 0. */
static int max_rowid(vt_tab *v, int64_t *out) {
  /* Largest rowid in the table as this transaction sees it; 0 for an empty table, so the first
  ** automatic rowid is 1 as natively (a table holding only -1 gives 0 next). */
  *out = 0;
  int found = 0;
  lsm_iter *it;
  int rc = eng_iter_new(v, NULL, 0, NULL, 0, &it);
  if (rc) return vt_lsm_err(v, rc);
  rc = lsm_iter_seek_last(it);
  for (; !rc && lsm_iter_valid(it); rc = lsm_iter_prev(it)) {
    const void *k;
    size_t kn;
    lsm_iter_key(it, &k, &kn);
    /* keys written by this transaction and deleted are handled by the overlay scan below */
    const void *ov_v;
    size_t ov_n;
    if (v->ov && ov_get(v->ov, OV_LATEST, k, kn, &ov_v, &ov_n) == OV_DEL) continue;
    ke_val x;
    const uint8_t *e;
    if (ke_decode(k, (const uint8_t *)k + kn, &x, &e) == LSM_OK && x.type == KE_INT) {
      *out = x.i;
      found = 1;
    }
    break;
  }
  if (!rc) rc = lsm_iter_status(it);
  lsm_iter_free(it);
  if (rc) return vt_lsm_err(v, rc);
  if (v->ov) {
    for (ov_node *n = ov_last(v->ov); n; n = ov_prev(v->ov, n)) {
      const void *val, *k;
      size_t vn, kn;
      if (ov_node_state(n, OV_LATEST, &val, &vn) != OV_PUT) continue;
      ov_node_key(n, &k, &kn);
      ke_val x;
      const uint8_t *e;
      if (ke_decode(k, (const uint8_t *)k + kn, &x, &e) == LSM_OK && x.type == KE_INT &&
          (!found || x.i > *out))
        *out = x.i;
      break;
    }
  }
  return SQLITE_OK;
}

static int constraint_pk(vt_tab *v) {
  /* Under OR IGNORE SQLite drops the row and goes on: a message would linger and be reported
  ** by a later, unrelated error of the statement (native tables set none). */
  if (sqlite3_vtab_on_conflict(v->db) == SQLITE_IGNORE)
    return v->rowid_mode ? SQLITE_CONSTRAINT_ROWID : SQLITE_CONSTRAINT_PRIMARYKEY;
  if (v->rowid_mode)
    return vt_err(v, SQLITE_CONSTRAINT_ROWID, "UNIQUE constraint failed: %s.rowid", v->name);
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendf(s, "UNIQUE constraint failed: ");
  for (int k = 0; k < v->t.nkey; k++)
    sqlite3_str_appendf(s, "%s%s.%s", k ? ", " : "", v->name, v->t.cols[v->t.key[k]].name);
  char *m = sqlite3_str_finish(s);
  if (!m) return SQLITE_NOMEM;
  sqlite3_free(v->base.zErrMsg);
  v->base.zErrMsg = m;
  return SQLITE_CONSTRAINT_PRIMARYKEY;
}

/* Is cursor c's read part of the open transaction (its overlay, or spilled since)? */
static int in_txn(const vt_tab *v, const vt_cur *c) { return c->ov == v->ov || c->since_run >= 0; }

/* Order of the start of two reads of the transaction: a spilled one (since_run) began before
** every read of the current overlay; among spilled ones by run, among current ones by snapshot. */
static int read_older(const vt_cur *a, const vt_cur *b) {
  if ((a->since_run >= 0) != (b->since_run >= 0)) return a->since_run >= 0;
  return a->since_run >= 0 ? a->since_run < b->since_run : a->ovs < b->ovs;
}

/* Where the scan of the statement running xUpdate began: 1, or 0 when that statement has no
** cursor on this table open in this transaction. *since = -1 and *snap = its overlay snapshot
** when it reads the current overlay; else (the transaction spilled since) *since = the first
** stage run holding writes made after it began.
** SQLite gives a virtual table's multi-row UPDATE all its rows before the first xUpdate (two
** passes), and its cursors stay open meanwhile; each started before the statement's first
** write. A single-row UPDATE (one pass) closes its cursor before xUpdate: nothing to skip then.
** Cursors of other statements of the connection (a SELECT stepped, not reset) may be older: a
** key written after they started, by an earlier statement, is not "replaced by this one" (using
** the oldest open cursor silently skipped plain UPDATEs). So only the running writer's cursors
** of this run count (owner, owner_run), tagged at xFilter: no other statement can start or
** finish between its scan and its writes, except ones nested in it (a function running SQL),
** and those start after its scan and before its writes. When several writers are busy (nested
** writes, an unfinished RETURNING) the running one cannot be told: the newest of the cursors
** filtered in such a state (owner_amb) stands for it. Costs a walk over the connection's
** statements, only when a cursor of the transaction is open. */
static int scan_snapshot(vt_tab *v, uint64_t *snap, int *since) {
  int any = 0;
  for (vt_cur *c = v->curs; c && !any; c = c->next_cur) any = in_txn(v, c);
  if (!any) return 0;
  sqlite3_stmt *w = NULL;
  int nw = busy_writers(v->db, &w), run = w ? sqlite3_stmt_status(w, SQLITE_STMTSTATUS_RUN, 0) : 0;
  const vt_cur *best = NULL;
  for (vt_cur *c = v->curs; c; c = c->next_cur) {
    if (!in_txn(v, c)) continue;
    if (nw == 1 && (c->owner != w || c->owner_run != run)) continue;
    if (nw > 1 && !c->owner_amb) continue;
    /* the writer's own cursors: the oldest (its scan); ambiguous ones: the newest */
    if (!best || (nw == 1 ? read_older(c, best) : read_older(best, c))) best = c;
  }
  if (nw < 1 || !best) return 0;
  *since = best->since_run;
  *snap = best->ovs;
  return 1;
}

/* Was key k written after the read scan_snapshot found began? 0 with *out = 1 / 0, or an error. */
static int written_since(vt_tab *v, uint64_t snap, int since, const void *k, size_t kn, int *out) {
  *out = ov_written_since(v->ov, since < 0 ? snap : 0, k, kn);
  if (*out || since < 0 || !v->stage) return SQLITE_OK;
  int rc = lsm_stage_written(v->stage, since, k, kn);
  if (rc && rc != LSM_NOTFOUND) return vt_lsm_err(v, rc);
  *out = rc == LSM_OK;
  return SQLITE_OK;
}

/* Room for savepoint levels [0, n) in v->sp_run. */
static int sp_room(vt_tab *v, int n) {
  if (n <= v->sp_cap) return SQLITE_OK;
  int cap = n + 8;
  int *p = sqlite3_realloc64(v->sp_run, (size_t)cap * sizeof *p);
  if (!p) return SQLITE_NOMEM;
  v->sp_run = p;
  v->sp_cap = cap;
  return SQLITE_OK;
}

/* A new, empty overlay with savepoint levels [0, depth) open, sized by the last one's keys. */
static int overlay_new(vt_tab *v, int depth, ov_overlay **out) {
  if (ov_new(out)) return SQLITE_NOMEM;
  /* a hint (a bulk load's transactions are alike): a failure leaves the index to grow. At most
  ** a quarter of the table's max_txn_size (a reserved key: <= 4 hash slots of 16 bytes and 8
  ** bytes of pend), so that a small bound is not taken by the hint before the first write. */
  size_t n = v->ov_last, most = max_txn(v) / (4 * 72);
  if (n) (void)ov_reserve(*out, n < most ? n : most);
  if (depth > 0 && ov_savepoint(*out, depth - 1)) {
    ov_unref(*out);
    *out = NULL;
    return SQLITE_NOMEM;
  }
  return SQLITE_OK;
}

/* Write the overlay's latest state as runs of the transaction's stage and start an empty
** overlay, with the same savepoints open. What the overlay's history is still needed for is
** kept apart, as cuts between runs:
**   - each savepoint opened since the last spill: a ROLLBACK TO it drops the runs after its cut
**     (sp_run) and the overlay;
**   - each cursor reading the overlay: UPDATE OR REPLACE asks which keys were written after
**     its scan began (scan_snapshot, written_since), i.e. in the runs after its cut
**     (since_run) or in the new overlay. The cursor keeps its reference to the old overlay and
**     reads it at its snapshot (its iterator pinned the runs it reads); one at its end needs
**     neither any more and drops them, which frees the old overlay when no other reads it.
** With the cuts s1 < s2 < ... (overlay snapshots), run t holds each key written in (s_t,
** s_t+1] in its state at s_t+1 (the last run: its latest state); empty runs are not made. On
** failure the overlay is unchanged and the stage keeps its earlier runs. */
static int spill(vt_tab *v) {
  int rc = v->stage ? LSM_OK : lsm_stage_new(v->ldb, &v->stage);
  if (rc) return vt_lsm_err(v, rc);
  int depth = ov_depth(v->ov), ncur = 0;
  for (vt_cur *c = v->curs; c; c = c->next_cur) ncur += c->ov == v->ov;
  uint64_t stackcut[9], *cut = stackcut;
  int after_st[9], *after = after_st;
  size_t ncap = (size_t)depth + (size_t)ncur + 1;
  if (ncap > 9) {
    cut = sqlite3_malloc64(ncap * (sizeof *cut + sizeof *after));
    if (!cut) return SQLITE_NOMEM;
    after = (int *)(cut + ncap);
  }
  int ncut = 0;
  for (int j = 0; j < depth; j++)
    if (v->sp_run[j] < 0) cut[ncut++] = ov_savepoint_seq(v->ov, j);
  for (vt_cur *c = v->curs; c; c = c->next_cur)
    if (c->ov == v->ov) cut[ncut++] = c->ovs;
  for (int a = 1; a < ncut; a++) /* insertion sort: a handful */
    for (int b = a; b > 0 && cut[b - 1] > cut[b]; b--) {
      uint64_t t = cut[b];
      cut[b] = cut[b - 1];
      cut[b - 1] = t;
    }
  int w = 0;
  for (int a = 0; a < ncut; a++)
    if (w == 0 || cut[w - 1] != cut[a]) cut[w++] = cut[a];
  ncut = w;
  int runs0 = lsm_stage_runs(v->stage);
  ov_overlay *fresh = NULL;
  for (int t = 0; t <= ncut && !rc; t++) {
    uint64_t lo = t ? cut[t - 1] : 0, hi = t < ncut ? cut[t] : OV_LATEST;
    for (ov_node *n = ov_first(v->ov); n && !rc; n = ov_next(n)) {
      if (ov_node_seq(n, hi) <= lo) continue; /* not written in (lo, hi] */
      const void *k, *val = NULL;
      size_t kn, vn = 0;
      ov_node_key(n, &k, &kn);
      if (ov_node_state(n, hi, &val, &vn) == OV_PUT) rc = lsm_stage_put(v->stage, k, kn, val, vn);
      else rc = lsm_stage_delete(v->stage, k, kn);
    }
    int erc = lsm_stage_run_end(v->stage);
    if (!rc) rc = erc;
    after[t] = lsm_stage_runs(v->stage);
  }
  if (rc) rc = vt_lsm_err(v, rc);
  else rc = overlay_new(v, depth, &fresh);
  if (rc) {
    (void)lsm_stage_truncate(v->stage, runs0); /* no run is being written now */
  } else {
    for (int j = 0; j < depth; j++)
      if (v->sp_run[j] < 0)
        for (int t = 0; t < ncut; t++)
          if (cut[t] == ov_savepoint_seq(v->ov, j)) v->sp_run[j] = after[t];
    for (vt_cur *c = v->curs; c; c = c->next_cur) {
      if (c->ov != v->ov) continue;
      for (int t = 0; t < ncut; t++)
        if (cut[t] == c->ovs) c->since_run = after[t];
      if (c->eof) {
        lsm_iter_free(c->it);
        c->it = NULL;
        ov_unref(c->ov);
        c->ov = NULL;
      }
    }
    v->ov_last = ov_count(v->ov);
    ov_unref(v->ov);
    v->ov = fresh;
  }
  if (cut != stackcut) sqlite3_free(cut);
  return rc;
}

/* Tests only: LSMVTAB_TEST_SPILL_KEYS=n (read at each connection's registration) spills whenever
** the overlay holds n keys, whatever the bound, so that a differential campaign
** (c-tests/test_diff.c) runs its transactions through the stage. 0: off. */
static _Atomic size_t test_spill_keys; /* atomic: connections register from any thread */

/* Room in the overlay for a write of key k and a vn-byte value (0 for a delete)? When it could
** take the pending bytes past the bound the overlay spills if it may (can_spill), else
** SQLITE_FULL (nothing written). Checked
** before each overlay write. A move (UPDATE of the key) is a delete and a put: if the put is
** refused after the delete was made, SQLite's rollback of the statement (or, without a
** statement journal, of the transaction: what it does after SQLITE_FULL) undoes the delete. */
static int txn_room(vt_tab *v, const void *k, size_t kn, size_t vn) {
  if (test_spill_keys && ov_count(v->ov) >= test_spill_keys) {
    int rc = spill(v);
    if (rc) return rc;
  }
  size_t have = ov_bytes(v->ov), max = max_txn(v), n = ov_write_cost(v->ov, k, kn, vn);
  if (have <= max && n <= max - have) return SQLITE_OK;
  if (ov_count(v->ov) > 0) {
    int rc = spill(v);
    if (rc) return rc;
    have = ov_bytes(v->ov);
    n = ov_write_cost(v->ov, k, kn, vn);
    if (have <= max && n <= max - have) return SQLITE_OK;
  }
  return vt_err(v, SQLITE_FULL,
                "lsm: transaction too large for table %s: its pending writes hold %llu bytes and "
                "the next write needs up to %llu more, over max_txn_size (%llu); commit in smaller "
                "transactions, or raise it (CREATE option max_txn_size, or SELECT "
                "lsm_max_txn_size(bytes))",
                v->name, (unsigned long long)have, (unsigned long long)n,
                (unsigned long long)max);
}

static int update_row(vt_tab *v, int argc, sqlite3_value **argv, sqlite3_int64 *pRowid) {
  VT_NEED_ENGINE(v);
  int rc = ensure_txn(v);
  if (rc) return rc;
  cd_buf *ok = &v->kb2, *nk = &v->kb, *val = &v->vb;
  cd_buf_clear(ok);
  cd_buf_clear(nk);
  cd_buf_clear(val);
  int has_old = sqlite3_value_type(argv[0]) != SQLITE_NULL;
  if (has_old) { /* the old key: the rowid, or our hidden key column */
    if (v->rowid_mode) {
      ke_val x = {.type = KE_INT, .i = sqlite3_value_int64(argv[0])};
      if (ke_encode(ok, &x)) return SQLITE_NOMEM;
    } else {
      if (sqlite3_value_type(argv[0]) != SQLITE_BLOB)
        return vt_err(v, SQLITE_MISMATCH, "lsm: bad _lsm_key value");
      if (cd_buf_append(ok, sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0])))
        return SQLITE_NOMEM;
    }
    /* An UPDATE of a row that this statement has already replaced (an earlier row of the same
    ** UPDATE OR REPLACE moved onto its key): natively that row is gone, so there is nothing to
    ** do. "Already replaced" = written after this statement's scan started. */
    uint64_t snap = 0;
    int since = -1, w = 0;
    if (argc > 1 && v->ov && scan_snapshot(v, &snap, &since)) {
      if ((rc = written_since(v, snap, since, ok->p, ok->n, &w))) return rc;
      if (w) return SQLITE_OK;
    }
  }
  /* Rowids are max + 1 like SQLite's: a DELETE or UPDATE may lower the max, so recompute. */
  if (has_old) v->have_next_rowid = 0;
  if (argc == 1) { /* DELETE */
    if ((rc = txn_room(v, ok->p, ok->n, 0))) return rc;
    if (ov_del(v->ov, ok->p, ok->n)) return SQLITE_NOMEM;
    return SQLITE_OK;
  }
  int ncol = v->t.ncol;
  if (argc < ncol + 2) return vt_err(v, SQLITE_INTERNAL, "lsm: bad xUpdate arguments");
  /* New values with affinity; NOT NULL. */
  ke_val stackv[16];
  ke_val *vals = ncol <= 16 ? stackv : sqlite3_malloc64(sizeof(ke_val) * (size_t)ncol);
  if (!vals) return SQLITE_NOMEM;
  for (int i = 0; i < ncol; i++) {
    const opt_col *col = &v->t.cols[i];
    value_kv(argv[2 + i], &vals[i]);
    apply_affinity(argv[2 + i], col->aff, &vals[i], 1);
    if (vals[i].type == KE_NULL && col->notnull) {
      if (sqlite3_vtab_on_conflict(v->db) == SQLITE_IGNORE) rc = SQLITE_CONSTRAINT_NOTNULL;
      else rc = vt_err(v, SQLITE_CONSTRAINT_NOTNULL, "NOT NULL constraint failed: %s.%s", v->name,
                       col->name);
      goto done;
    }
  }
  /* The new key. */
  uint8_t kreal[64];
  uint8_t *kr = v->nkeyc <= 64 ? kreal : sqlite3_malloc64((size_t)v->nkeyc);
  if (!kr) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  int auto_rowid = 0;
  if (v->rowid_mode) {
    ke_val r;
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL && has_old) {
      /* NULL asks for a new rowid only in an INSERT; natively `SET rowid = NULL` fails. */
      rc = vt_err(v, SQLITE_MISMATCH, "datatype mismatch");
      goto done_kr;
    }
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
      if (!v->have_next_rowid) {
        int64_t m;
        if ((rc = max_rowid(v, &m))) goto done_kr;
        if (m == INT64_MAX) {
          rc = vt_err(v, SQLITE_FULL, "lsm: rowid space exhausted in %s", v->name);
          goto done_kr;
        }
        v->next_rowid = m + 1;
        v->have_next_rowid = 1;
      }
      r.type = KE_INT;
      r.i = v->next_rowid;
      auto_rowid = 1;
    } else {
      value_kv(argv[1], &r);
      apply_affinity(argv[1], OPT_AFF_INTEGER, &r, 0);
      if (r.type != KE_INT) {
        rc = vt_err(v, SQLITE_MISMATCH, "datatype mismatch");
        goto done_kr;
      }
    }
    *pRowid = r.i;
    if (ke_encode(nk, &r)) { rc = SQLITE_NOMEM; goto done_kr; }
    if (v->have_next_rowid && r.i >= v->next_rowid) {
      if (r.i == INT64_MAX) v->have_next_rowid = 0; /* next auto rowid will report FULL */
      else v->next_rowid = r.i + 1;
    }
  } else {
    for (int k = 0; k < v->t.nkey; k++) {
      ke_val *x = &vals[v->t.key[k]];
      kr[k] = x->type == KE_FLOAT;
      if (ke_encode(nk, x)) { rc = SQLITE_NOMEM; goto done_kr; }
    }
  }
  if (nk->n > LSM_MAX_KEY) {
    rc = vt_err(v, SQLITE_TOOBIG, "lsm: key too large (%llu bytes)",
                (unsigned long long)nk->n);
    goto done_kr;
  }
  /* The record: non-key columns. */
  {
    ke_val stackr[16];
    ke_val *rv = v->nval <= 16 ? stackr : sqlite3_malloc64(sizeof(ke_val) * (size_t)v->nval);
    if (!rv) { rc = SQLITE_NOMEM; goto done_kr; }
    for (int j = 0; j < v->nval; j++) rv[j] = vals[v->valcol[j]];
    if (rec_encode(val, v->rowid_mode ? 0 : v->nkeyc, kr, v->nval, rv)) rc = SQLITE_NOMEM;
    if (rv != stackr) sqlite3_free(rv);
    if (rc) goto done_kr;
  }
  if (val->n > LSM_MAX_VALUE) {
    rc = vt_err(v, SQLITE_TOOBIG, "lsm: row too large (%llu bytes)",
                (unsigned long long)val->n);
    goto done_kr;
  }
  int same = has_old && ok->n == nk->n && memcmp(ok->p, nk->p, nk->n) == 0;
  if (!same && !auto_rowid) {
    int ex = key_exists(v, nk->p, nk->n);
    if (ex < 0) { rc = -ex; goto done_kr; }
    /* Constraint errors are returned before any change (SQLITE_VTAB_CONSTRAINT_SUPPORT). */
    if (ex && sqlite3_vtab_on_conflict(v->db) != SQLITE_REPLACE) {
      rc = constraint_pk(v);
      goto done_kr;
    }
  }
  /* REPLACE simply overwrites the conflicting row (a put on the same key). */
  if (has_old && !same) {
    if ((rc = txn_room(v, ok->p, ok->n, 0))) goto done_kr;
    if (ov_del(v->ov, ok->p, ok->n)) { rc = SQLITE_NOMEM; goto done_kr; }
  }
  if ((rc = txn_room(v, nk->p, nk->n, val->n))) goto done_kr;
  if (ov_put(v->ov, nk->p, nk->n, val->p, val->n)) rc = SQLITE_NOMEM;
done_kr:
  if (kr != kreal) sqlite3_free(kr);
done:
  if (vals != stackv) sqlite3_free(vals);
  return rc;
}

/* The number of statements of the connection that are running and may write (0, 1, or 2 for
** "more than one"); *one = the only one, else NULL. */
static int busy_writers(sqlite3 *db, sqlite3_stmt **one) {
  int n = 0;
  *one = NULL;
  for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s)) {
    if (!sqlite3_stmt_busy(s) || sqlite3_stmt_readonly(s)) continue;
    if (n++) {
      *one = NULL;
      return 2;
    }
    *one = s;
  }
  return n;
}

/* The one statement of the connection that is running and may write, or NULL (none, or more
** than one: then we cannot tell which one is failing). */
static sqlite3_stmt *running_writer(sqlite3 *db) {
  sqlite3_stmt *s;
  busy_writers(db, &s);
  return s;
}

/* Statement rollback after an error that is not a constraint error (bugs-vtab 8).
** A native table has a statement journal only if the statement may ABORT: its constraint
** handling says ABORT, or it calls a function (which may raise an error). So under OR FAIL,
** OR IGNORE, OR ROLLBACK (and OR REPLACE on a rowid table without NOT NULL columns) a statement
** that stops with e.g. "datatype mismatch" (a rowid 'abc', raised by SQLite before xUpdate, or
** by xUpdate for SET rowid = NULL) keeps the rows it changed before, inside a transaction (in
** autocommit mode everything is rolled back either way). For a virtual table SQLite always opens
** a statement savepoint and rolls it back for any such error, whatever the ON CONFLICT mode:
** xUpdate notes (here) the running statement when its mode would have no journal natively, and
** xRollbackTo ignores that statement's own rollback. Constraint errors need nothing: SQLite
** keeps the changes under FAIL (xRelease only) and ends the transaction under ROLLBACK.
** A statement that calls a function has a journal natively (SQLite counts on a function raising
** an error): the statement's EXPLAIN tells (stmt_calls_function). */
static int keep_mode(vt_tab *v, int rc) {
  int prim = rc & 0xff;
  /* A constraint error: SQLite itself handles the mode. Other errors after which SQLite rolls
  ** back the statement or more also natively. */
  if (prim == SQLITE_CONSTRAINT || prim == SQLITE_NOMEM || prim == SQLITE_IOERR ||
      prim == SQLITE_FULL || prim == SQLITE_INTERRUPT || prim == SQLITE_CORRUPT)
    return 0;
  switch (sqlite3_vtab_on_conflict(v->db)) {
  case SQLITE_FAIL:
  case SQLITE_IGNORE:
  case SQLITE_ROLLBACK: return 1;
  case SQLITE_REPLACE:
    /* NOT NULL under REPLACE (no defaults here) ABORTs natively: a journal exists. */
    if (!v->rowid_mode) return 0;
    for (int i = 0; i < v->t.ncol; i++)
      if (v->t.cols[i].notnull) return 0;
    return 1;
  default: return 0; /* ABORT: the statement leaves no partial effect */
  }
}

/* Does the program of stmt call an SQL function? 1 when it cannot be told. */
static int stmt_calls_function(sqlite3 *db, sqlite3_stmt *stmt) {
  const char *sql = sqlite3_sql(stmt);
  char *q = sql ? sqlite3_mprintf("EXPLAIN %s", sql) : NULL;
  if (!q) return 1;
  sqlite3_stmt *ex = NULL;
  int found = 1;
  if (sqlite3_prepare_v2(db, q, -1, &ex, NULL) == SQLITE_OK && ex) {
    int rc = SQLITE_DONE;
    found = 0;
    while (!found && (rc = sqlite3_step(ex)) == SQLITE_ROW) {
      const char *op = (const char *)sqlite3_column_text(ex, 1);
      if (op && strstr(op, "Func")) found = 1; /* Function, PureFunc */
    }
    if (!found && rc != SQLITE_DONE) found = 1;
  }
  sqlite3_finalize(ex);
  sqlite3_free(q);
  return found;
}

/* A statement boundary: forget the running statement. */
static void wr_reset(vt_tab *v) {
  v->wr_stmt = NULL;
  v->wr_armed = v->wr_known = v->wr_nofunc = v->keep = 0;
}

static int vt_update(sqlite3_vtab *pv, int argc, sqlite3_value **argv, sqlite3_int64 *pRowid) {
  vt_tab *v = (vt_tab *)pv;
  int rc = update_row(v, argc, argv, pRowid);
  /* Under OR IGNORE a constraint error only skips this row and the statement goes on: what
  ** its rollback should do is decided by its other rows (bugs-vtab 11). */
  if ((rc & 0xff) == SQLITE_CONSTRAINT && sqlite3_vtab_on_conflict(v->db) == SQLITE_IGNORE)
    return rc;
  v->keep = 0;
  /* Only a statement that opened a savepoint gets a statement rollback (single-row statements
  ** and autocommit ones do not): look at it once, at its first xUpdate. */
  if (v->wr_armed && keep_mode(v, rc)) {
    if (!v->wr_known) {
      v->wr_known = 1;
      v->wr_stmt = running_writer(v->db);
      if (v->wr_stmt) {
        /* Preparing the EXPLAIN runs xBestIndex, after which SQLite clears zErrMsg. */
        char *msg = v->base.zErrMsg;
        v->base.zErrMsg = NULL;
        v->wr_nofunc = !stmt_calls_function(v->db, v->wr_stmt);
        sqlite3_free(v->base.zErrMsg);
        v->base.zErrMsg = msg;
      }
    }
    v->keep = v->wr_nofunc;
  }
  return rc;
}

static int vt_begin(sqlite3_vtab *pv) {
  vt_tab *v = (vt_tab *)pv;
  wr_reset(v);
  v->have_next_rowid = 0; /* other connections may have committed since */
  return ensure_txn(v);
}

/* Apply the transaction's writes as one batch (one WAL record), or, once it spilled, its stage
** with the overlay as the last run (lsm_stage_commit: one manifest record). */
static int vt_sync(sqlite3_vtab *pv) {
  vt_tab *v = (vt_tab *)pv;
  if (v->stage) {
    VT_NEED_ENGINE(v);
    int rc = v->ov && ov_count(v->ov) > 0 ? spill(v) : SQLITE_OK;
    if (rc) return rc;
    if ((rc = lsm_stage_commit(v->stage))) return vt_lsm_err(v, rc);
    lsm_stage_free(v->stage);
    v->stage = NULL;
    ov_unref(v->ov);
    v->ov = NULL;
    return SQLITE_OK;
  }
  if (!v->ov || ov_count(v->ov) == 0) return SQLITE_OK;
  VT_NEED_ENGINE(v);
  lsm_batch *b;
  int rc = lsm_batch_new(&b);
  if (rc) return vt_lsm_err(v, rc);
  for (ov_node *n = ov_first(v->ov); n && !rc; n = ov_next(n)) {
    const void *k, *val = NULL;
    size_t kn, vn = 0;
    ov_node_key(n, &k, &kn);
    int st = ov_node_state(n, OV_LATEST, &val, &vn);
    if (st == OV_PUT) rc = lsm_batch_put(b, k, kn, val, vn);
    else if (st == OV_DEL) rc = lsm_batch_delete(b, k, kn);
  }
  if (!rc) rc = lsm_write(v->ldb, b);
  lsm_batch_free(b);
  if (rc) return vt_lsm_err(v, rc);
  /* Applied: a later xCommit only drops the overlay. */
  v->ov_last = ov_count(v->ov);
  ov_unref(v->ov);
  v->ov = NULL;
  return SQLITE_OK;
}

/* The transaction ended: no cursor's read is part of the next one. */
static void txn_end(vt_tab *v) {
  for (vt_cur *c = v->curs; c; c = c->next_cur) c->since_run = -1;
}

static int vt_commit(sqlite3_vtab *pv) {
  vt_tab *v = (vt_tab *)pv;
  wr_reset(v);
  txn_end(v);
  int rc = vt_sync(pv); /* no-op if xSync already applied it */
  if (v->ov) v->ov_last = ov_count(v->ov); /* a transaction that wrote nothing: hint 0 */
  ov_unref(v->ov);
  v->ov = NULL;
  lsm_stage_free(v->stage); /* a failed commit: nothing of it was applied */
  v->stage = NULL;
  v->have_next_rowid = 0;
  return rc;
}

static int vt_rollback(sqlite3_vtab *pv) {
  vt_tab *v = (vt_tab *)pv;
  wr_reset(v);
  txn_end(v);
  if (v->ov) v->ov_last = ov_count(v->ov);
  ov_unref(v->ov);
  v->ov = NULL;
  lsm_stage_free(v->stage);
  v->stage = NULL;
  v->have_next_rowid = 0;
  return SQLITE_OK;
}

static int vt_savepoint(sqlite3_vtab *pv, int i) {
  vt_tab *v = (vt_tab *)pv;
  wr_reset(v);
  v->wr_armed = 1;
  int rc = ensure_txn(v);
  if (!rc && i >= 0) rc = sp_room(v, i + 1);
  if (rc) return rc;
  int d = ov_depth(v->ov);
  if (ov_savepoint(v->ov, i)) return SQLITE_NOMEM;
  /* levels [min(d, i), i] open now, in the overlay (no run holds their later writes) */
  for (int j = d < i ? d : i; j <= i; j++) v->sp_run[j] = -1;
  return SQLITE_OK;
}

static int vt_release(sqlite3_vtab *pv, int i) {
  vt_tab *v = (vt_tab *)pv;
  wr_reset(v);
  if (v->ov) ov_release(v->ov, i);
  return SQLITE_OK;
}

static int vt_rollback_to(sqlite3_vtab *pv, int i) {
  vt_tab *v = (vt_tab *)pv;
  sqlite3_stmt *keep = v->keep ? v->wr_stmt : NULL;
  wr_reset(v);
  /* The statement rollback of the statement that ran our xUpdate calls (it is still running;
  ** a user's ROLLBACK TO runs after it ended, in a read-only statement): see keep_mode. */
  if (keep && i >= 0 && running_writer(v->db) == keep) return SQLITE_OK;
  if (i < 0) {
    /* SQLite numbers the savepoint that began the transaction (SAVEPOINT outside BEGIN) -1 when
    ** the table joined later: every change of ours is after it, so all of them go. */
    for (vt_cur *c = v->curs; c; c = c->next_cur)
      if (in_txn(v, c)) c->since_run = 0; /* every write from now on is after it */
    ov_unref(v->ov);
    v->ov = NULL;
    lsm_stage_free(v->stage);
    v->stage = NULL;
    v->have_next_rowid = 0;
    return ensure_txn(v);
  }
  v->have_next_rowid = 0;
  if (!v->ov) return SQLITE_OK;
  if (i < ov_depth(v->ov) && v->sp_run[i] >= 0) {
    /* Savepoint i is older than the last spill: what was written after it is the runs from
    ** sp_run[i] on, and the whole overlay, which began with savepoint i open (so the rollback
    ** below empties it; nothing here allocates, a ROLLBACK TO cannot fail). */
    int nkeep = v->sp_run[i];
    (void)lsm_stage_truncate(v->stage, nkeep); /* no run is being written between statements */
    for (vt_cur *c = v->curs; c; c = c->next_cur)
      if (c->since_run > nkeep) c->since_run = nkeep;
  }
  ov_rollback_to(v->ov, i);
  return SQLITE_OK;
}

static const sqlite3_module vt_module = {
    /* iVersion    */ 3,
    /* xCreate     */ vt_create,     /* CREATE VIRTUAL TABLE: parse, open (new) directory */
    /* xConnect    */ vt_connect,    /* reopen: the CREATE arguments come from sqlite_schema */
    /* xBestIndex  */ vt_best_index, /* point / IN batch / prefix+range / scan; ORDER BY */
    /* xDisconnect */ vt_disconnect, /* release the shared engine */
    /* xDestroy    */ vt_destroy,    /* DROP TABLE: remove the directory */
    /* xOpen       */ vt_open,
    /* xClose      */ vt_close,
    /* xFilter     */ vt_filter,     /* snapshot + bounded iterator or batched lookups */
    /* xNext       */ vt_next,
    /* xEof        */ vt_eof,
    /* xColumn     */ vt_column,
    /* xRowid      */ vt_rowid,      /* rowid tables only */
    /* xUpdate     */ vt_update,     /* into the transaction overlay */
    /* xBegin      */ vt_begin,
    /* xSync       */ vt_sync,       /* the overlay as one lsm_write batch */
    /* xCommit     */ vt_commit,
    /* xRollback   */ vt_rollback,   /* drop the overlay */
    /* xFindFunction */ NULL,
    /* xRename     */ vt_rename,     /* move the default directory */
    /* xSavepoint  */ vt_savepoint,
    /* xRelease    */ vt_release,
    /* xRollbackTo */ vt_rollback_to,
    /* xShadowName */ NULL,          /* no shadow tables: data lives in the directory */
};

/* ---------------------------------------------------------------------------------------------
** SQL functions: lsm_stats / lsm_flush / lsm_compact / lsm_check ('table' or 'schema.table').
*/

static vt_tab *find_tab(vt_conn *conn, const char *schema, const char *name) {
  for (vt_tab *t = conn->tabs; t; t = t->next)
    if (!sqlite3_stricmp(t->name, name) && (!schema || !sqlite3_stricmp(t->schema, schema)))
      return t;
  return NULL;
}

/* The table named by argv[0], connecting it if needed; NULL with an error set on ctx. */
static vt_tab *func_tab(sqlite3_context *ctx, sqlite3_value *arg, const char *fname) {
  vt_conn *conn = sqlite3_user_data(ctx);
  const char *full = (const char *)sqlite3_value_text(arg);
  if (!full) {
    char *m = sqlite3_mprintf("%s: expected a table name", fname);
    sqlite3_result_error(ctx, m, -1);
    sqlite3_free(m);
    return NULL;
  }
  char *schema = NULL;
  const char *name = full, *dot = strchr(full, '.');
  if (dot) {
    schema = sqlite3_mprintf("%.*s", (int)(dot - full), full);
    name = dot + 1;
  }
  vt_tab *t = find_tab(conn, schema, name);
  if (!t) {
    /* Not connected yet in this connection: preparing a statement on it connects it. */
    sqlite3 *db = sqlite3_context_db_handle(ctx);
    char *sql = schema ? sqlite3_mprintf("SELECT 1 FROM \"%w\".\"%w\" LIMIT 0", schema, name)
                       : sqlite3_mprintf("SELECT 1 FROM \"%w\" LIMIT 0", name);
    sqlite3_stmt *st = NULL;
    int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &st, NULL) : SQLITE_NOMEM;
    sqlite3_finalize(st);
    sqlite3_free(sql);
    if (rc == SQLITE_OK) t = find_tab(conn, schema, name);
    if (!t) {
      char *m = rc == SQLITE_OK ? sqlite3_mprintf("%s: %s is not an lsm table", fname, full)
                                : sqlite3_mprintf("%s: no such table: %s", fname, full);
      sqlite3_result_error(ctx, m, -1);
      sqlite3_free(m);
    }
  }
  sqlite3_free(schema);
  if (t && !t->ldb) {
    sqlite3_result_error_code(ctx, vt_no_engine(t));
    sqlite3_result_error(ctx, t->base.zErrMsg, -1);
    return NULL;
  }
  return t;
}

static void func_lsm_error(sqlite3_context *ctx, const char *fname, int rc) {
  char *m = sqlite3_mprintf("%s: %s", fname, lsm_errmsg());
  sqlite3_result_error(ctx, m, -1);
  sqlite3_result_error_code(ctx, rc);
  sqlite3_free(m);
}

static void f_stats(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  vt_tab *t = func_tab(ctx, argv[0], "lsm_stats");
  if (!t) return;
  char *json = NULL;
  int rc = lsm_stats_json(t->ldb, &json);
  if (rc) {
    func_lsm_error(ctx, "lsm_stats", rc);
    return;
  }
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendf(s, "{\"table\":\"%w\",\"dir\":\"%w\",\"key\":\"%s\",", t->name,
                      reg_dir(t->eng), t->rowid_mode ? "rowid" : "declared");
  sqlite3_str_appendf(s, "\"pending_keys\":%llu,\"pending_bytes\":%llu,\"max_txn_size\":%llu,",
                      (unsigned long long)(t->ov ? ov_count(t->ov) : 0),
                      (unsigned long long)(t->ov ? ov_bytes(t->ov) : 0),
                      (unsigned long long)max_txn(t));
  sqlite3_str_appendf(s, "\"spilled_runs\":%d,\"spilled_entries\":%llu,\"spilled_bytes\":%llu,",
                      lsm_stage_runs(t->stage), (unsigned long long)lsm_stage_entries(t->stage),
                      (unsigned long long)lsm_stage_bytes(t->stage));
  sqlite3_str_appendf(s, "\"rows_read\":%llu,\"point_lookups\":%llu,\"scans\":%llu,",
                      (unsigned long long)t->rows_read, (unsigned long long)t->point_lookups,
                      (unsigned long long)t->scans);
  sqlite3_str_appendf(s, "\"engine\":%s}", json);
  lsm_free(json);
  char *out = sqlite3_str_finish(s);
  if (!out) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, out, -1, sqlite3_free);
  sqlite3_result_subtype(ctx, 'J'); /* JSON, as the json1 functions mark it */
}

static void f_flush(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  vt_tab *t = func_tab(ctx, argv[0], "lsm_flush");
  if (!t) return;
  int rc = lsm_flush(t->ldb, 1);
  if (rc) func_lsm_error(ctx, "lsm_flush", rc);
  else sqlite3_result_text(ctx, "ok", -1, SQLITE_STATIC);
}

static void f_compact(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  vt_tab *t = func_tab(ctx, argv[0], "lsm_compact");
  if (!t) return;
  int rc = lsm_compact_range(t->ldb, NULL, 0, NULL, 0);
  if (rc) func_lsm_error(ctx, "lsm_compact", rc);
  else sqlite3_result_text(ctx, "ok", -1, SQLITE_STATIC);
}

static void f_check(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  vt_tab *t = func_tab(ctx, argv[0], "lsm_check");
  if (!t) return;
  char *report = NULL;
  int rc = lsm_check(t->ldb, &report);
  if (rc && rc != LSM_CORRUPT) {
    lsm_free(report);
    func_lsm_error(ctx, "lsm_check", rc);
    return;
  }
  /* Problems are the result (one line each), not an SQL error: the caller wants to read them. */
  sqlite3_result_text(ctx, report ? report : "ok", -1, SQLITE_TRANSIENT);
  lsm_free(report);
}

/* lsm_max_txn_size([size]): the connection's bound on a transaction's pending writes to each
** lsm table, overriding the tables' max_txn_size option (vtopts.h OPT_MAX_TXN_SIZE). With an
** argument (bytes as an integer, or a size such as '1GB'; NULL: back to each table's option)
** sets it; returns the connection's value in bytes, NULL when none is set. */
static void f_max_txn_size(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  vt_conn *conn = sqlite3_user_data(ctx);
  if (argc == 1) {
    size_t sz = 0;
    int t = sqlite3_value_type(argv[0]), ok = 1;
    if (t == SQLITE_INTEGER) {
      sqlite3_int64 i = sqlite3_value_int64(argv[0]);
      ok = i >= 0 && (uint64_t)i <= OPT_MAX_TXN_SIZE_MAX;
      sz = ok ? (size_t)i : 0;
    } else if (t == SQLITE_TEXT) {
      ok = opt_parse_size((const char *)sqlite3_value_text(argv[0]), &sz) == LSM_OK;
    } else if (t != SQLITE_NULL) {
      ok = 0;
    }
    if (!ok || (t != SQLITE_NULL && (sz < OPT_MAX_TXN_SIZE_MIN || sz > OPT_MAX_TXN_SIZE_MAX))) {
      char *m = t == SQLITE_BLOB
                    ? sqlite3_mprintf("lsm_max_txn_size: bad size: a blob (bytes from 64KB to 4GB, or NULL)")
                    : sqlite3_mprintf("lsm_max_txn_size: bad size '%s' (bytes from 64KB to 4GB, or NULL)",
                                      sqlite3_value_text(argv[0]));
      sqlite3_result_error(ctx, m ? m : "lsm_max_txn_size: bad size", -1);
      sqlite3_free(m);
      return;
    }
    conn->max_txn_size = t == SQLITE_NULL ? 0 : sz;
  }
  if (conn->max_txn_size) sqlite3_result_int64(ctx, (sqlite3_int64)conn->max_txn_size);
  else sqlite3_result_null(ctx);
}

static void conn_free(void *p) {
  vt_conn *c = p;
  while (c->temps) temp_drop(c, c->temps);
  sqlite3_free(c);
}

int vt_register(sqlite3 *db) {
  const char *tsk = getenv("LSMVTAB_TEST_SPILL_KEYS");
  test_spill_keys = tsk ? (size_t)strtoull(tsk, NULL, 10) : 0;
  vt_conn *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  /* The module owns c: conn_free runs when the connection closes (or on failure here). */
  int rc = sqlite3_create_module_v2(db, "lsm", &vt_module, c, conn_free);
  if (rc) return rc;
  static const struct {
    const char *name;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
  } fns[] = {{"lsm_stats", f_stats}, {"lsm_flush", f_flush}, {"lsm_compact", f_compact},
             {"lsm_check", f_check}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0] && !rc; i++)
    rc = sqlite3_create_function(db, fns[i].name, 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, c,
                                 fns[i].fn, NULL, NULL);
  for (int n = 0; n <= 1 && !rc; n++)
    rc = sqlite3_create_function(db, "lsm_max_txn_size", n, SQLITE_UTF8 | SQLITE_DIRECTONLY, c,
                                 f_max_txn_size, NULL, NULL);
  return rc;
}
