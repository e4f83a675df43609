/*
** uringvfs.c — the `uring` VFS (see uringvfs.h for the contract and the flush rules).
**
** Layout of one open file: our uv_file, then (8-byte aligned) the root VFS's file object. The
** root (unix) opens and owns the descriptor; we borrow it with fio_wrap_fd after checking that
** the int at unixFile.h (struct unixFile { pMethod; pVfs; pInode; int h; ... } in os_unix.c,
** unchanged for years) names the same inode as the path. If it does not, the file is delegated.
*/
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fio.h"
#include "status.h"
#include "uringvfs.h"

#define UV_QUEUE_BYTES (2u << 20) /* flush when the queue holds this much */
#define UV_IOV_MAX 1024           /* iovecs per vectored write (Linux IOV_MAX) */
#define UV_RUN_BYTES (64u << 10)  /* most bytes per vectored write (see uv_flush) */
#define UV_RA_MIN (64u << 10)     /* read-ahead: first window of a sequential run */
#define UV_RA_MAX (1u << 20)      /* read-ahead: window doubles up to this while used */
#define UV_RA_NCHUNK 8            /* read-ahead: requests in flight per window */
#define UV_RA_TRIGGER 2           /* adjacent reads in a row before reading ahead */
#define UV_PF_MIN 16              /* fan-out prefetch: first window, in child pages */
#define UV_PF_MAXB (1u << 20)     /* fan-out prefetch: most bytes per window */
#define UV_PF_RUN 32              /* fan-out prefetch: most pages per request */
#define UV_PROBE_GAP 64           /* most window-starting reads between two cache probes */
#define UV_PF_REARM 32            /* fan-out: walk steps without a window before eager again */

enum { UV_IO_AUTO = 0, UV_IO_SYNC = 1, UV_IO_FAULT = 2 };

/* The files of one database (main file, journal, WAL), keyed by the main file's path: carries
** the sticky error of a flush that failed where SQLite could not be told. */
typedef struct uv_db uv_db;
struct uv_db {
  uv_db *next;
  char *name;
  int refs;
  int err; /* 0 or the SQLite code every later IO on these files returns */
};

typedef struct uv_ent {
  uint64_t off;
  size_t len;
  size_t pos; /* offset of the data in qbuf */
} uv_ent;

typedef struct uv_file {
  sqlite3_file base;  /* must be first */
  sqlite3_file *real; /* the root VFS's file, right after this struct */
  fio_file *f;        /* NULL: everything delegated to `real` */
  fio_env *env;       /* f's backend */
  uv_db *db;          /* NULL for delegated files */
  const char *path;   /* valid until xClose (SQLite's guarantee) */
  int type;           /* SQLITE_OPEN_MAIN_DB, _MAIN_JOURNAL, _WAL, ... */
  int anon;           /* opened without a name (temp file, already unlinked): see uv_open */
  int dirsync;        /* fsync the directory at the next xSync (new journal/WAL, as unix) */
  /* write queue, under g.mu (another thread may flush it); its storage is g.q / g.qbuf */
  int nq;
  size_t qlen;
  uint64_t qlo, qhi; /* span of the queued writes */
  int qsorted;       /* entries are in increasing offset order */
  int wal_commit;    /* WAL: a commit frame header was queued; flush after its page */
  /* read-ahead window, used only by the thread using the file */
  unsigned char *ra; /* UV_RA_MAX bytes once used */
  uint64_t ra_off;
  size_t ra_len; /* 0: empty */
  size_t ra_win; /* size of the next window */
  size_t ra_used; /* bytes of the current window handed to SQLite */
  fio_batch *rab;
  uint64_t last_end; /* end of the previous read */
  int seq;           /* adjacent reads in a row */
  /* b-tree fan-out prefetch (main database file only), used only by the thread using the file:
  ** the children of the last interior page read; once two of them are read one after the
  ** other (a scan or integrity_check walking that subtree, either direction) the next window
  ** of children is read with all requests in flight and served from `pf`. */
  uint32_t *kids;  /* child page numbers in cell order, right-most child last */
  int nkids, ckids;
  int kid_last;    /* index of the last child read, -1: none yet */
  int kid_dir;     /* +1 / -1: direction of the walk, 0: unknown */
  unsigned char *pf;
  uint32_t *pf_pg; /* page held in each slot */
  int pf_n;        /* slots filled */
  int pf_k0, pf_k1; /* kid indices covered by the window (inclusive, in walk order) */
  int pf_win;      /* size of the next window, in pages */
  int pf_used;     /* slots of the current window handed to SQLite */
  /* Window policy, kept across uv_ra_drop. Eager (1): a read that fits the pattern reads the
  ** next window at once. Not eager (0): such a read first asks the page cache alone (one
  ** system call, as unix) and only a miss starts a window. A window judged when it is retired
  ** sets the flag: eager iff at least half (fan-out: a quarter, see uv_pf_end) of it was
  ** handed to SQLite; a window our own write made stale is not judged. Measured (bench_vfs,
  ** process CPU): a well-used window is cheaper than a pread per page even on page-cache hits
  ** (warm integrity_check / VACUUM 0.8-0.9x unix), a poorly used one dearer (warm WAL scans:
  ** sequential windows cut short by pages living in the WAL, 1.04-1.09x). Sequential
  ** read-ahead starts not eager (the kernel's own read-ahead already serves sequential reads
  ** of a warm or cold file), fan-out prefetch eager (its windows follow the b-tree walk). */
  int ra_eager, pf_eager;
  /* Cache probes skipped before the next one: each hit doubles the gap (up to UV_PROBE_GAP),
  ** a miss, a new subtree walk or a lock change resets it, so a warm file pays the probe's
  ** extra cost on few reads and a cold one is noticed within a few reads. (The other way
  ** round on a forward walk over children in file order, see kids_seq: there a miss doubles
  ** the gap and a hit resets it.) Only a heuristic: every path reads the same bytes. */
  int probe_skip, probe_gap;
  int walk_run; /* fan-out: children read one after the other since the walk began/broke */
  /* The children of the last interior page lie mostly in file order (a table filled in key
  ** order). Walked forward, the kernel's own read-ahead serves a cold walk as it serves unix,
  ** so a fan-out window (at most 32 pages) is read only when the cache probe HITS (a warm
  ** walk: one copy beats a pread per page) and a miss is a plain read. Measured (bench_vfs
  ** cold table scan, 56 MiB): eager windows over such children cost 0.9x-2x unix. */
  int kids_seq;
  size_t pf_psz;   /* page size of the slots */
  uringvfs_stats st;
} uv_file;

static struct {
  sqlite3_vfs vfs;
  sqlite3_vfs *root;
  int root_is_unix;
  int layout_ok;       /* uv_probe_fd verified unixFile.h once (atomic: read without g.mu) */
  pthread_mutex_t mu;  /* guards everything below and every file's queue */
  uv_file *dirty;      /* the one file with queued writes, or NULL */
  /* The storage of that file's queue: entries and data. Only one file has queued writes at a
  ** time, so one buffer serves all files. Kept for the life of the process (at most about
  ** UV_QUEUE_BYTES): a rollback journal (one per transaction) or a sorter's spill file would
  ** otherwise fault in fresh memory for its queue at every open. */
  uv_ent *q;
  int cq;
  unsigned char *qbuf;
  size_t qcap;
  uv_db *dbs;
  fio_env *env[3];     /* by UV_IO_*, created on first use */
  fio_env *env_parent[3]; /* after fork(): the parent's envs, left untouched */
  int env_tried[3];
  pid_t pid;           /* process that created env[]: a forked child makes its own rings */
  int dflt_io;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

#define REAL(p) ((p)->real)
#define RM(p) ((p)->real->pMethods)

/* ---- helpers ----------------------------------------------------------------------------------- */

/* An LSM status from fio -> the SQLite code for operation `ioerr`. LSM codes equal SQLite's; keep
** the ones SQLite understands for IO (IOERR_*, FULL, NOMEM), everything else becomes `ioerr`. */
static int uv_rc(int rc, int ioerr) {
  if (rc == LSM_OK) return SQLITE_OK;
  if (rc == LSM_FULL || rc == LSM_NOMEM) return rc;
  if (LSM_PRIMARY(rc) == LSM_IOERR && rc != LSM_IOERR_RENAME) return rc;
  return ioerr;
}

/* In a forked child: the queued writes are the parent's to write; forget them (the file keeps no
** entries pointing into the shared queue storage, which the child may reuse). */
static void uv_forget_parent_queue(void) {
  if (g.dirty) {
    g.dirty->nq = 0;
    g.dirty->qlen = 0;
    g.dirty = NULL;
  }
}

static fio_env *uv_env(int kind) {
  /* under g.mu */
  if (g.pid != getpid()) {
    /* A forked child must not share the parent's io_uring rings (nor flush the parent's
    ** queue). The inherited envs are kept (reachable, not freed): files the parent had open
    ** may still point at them. */
    memcpy(g.env_parent, g.env, sizeof g.env);
    memset(g.env, 0, sizeof g.env);
    memset(g.env_tried, 0, sizeof g.env_tried);
    uv_forget_parent_queue();
    g.pid = getpid();
  }
  if (!g.env_tried[kind]) {
    g.env_tried[kind] = 1;
    if (kind == UV_IO_SYNC) {
      if (fio_env_new(FIO_SYNC, &g.env[kind])) g.env[kind] = NULL;
    } else {
      fio_env *a = uv_env(UV_IO_AUTO);
      if (kind == UV_IO_AUTO) {
        if (fio_env_new(FIO_AUTO, &g.env[kind])) g.env[kind] = NULL;
      } else if (a && fio_env_fault(a, &g.env[kind])) {
        g.env[kind] = NULL;
      }
    }
  }
  return g.env[kind];
}

static int uv_io_kind(const char *s, int dflt) {
  if (!s) return dflt;
  if (strcmp(s, "sync") == 0) return UV_IO_SYNC;
  if (strcmp(s, "fault") == 0) return UV_IO_FAULT;
  if (strcmp(s, "uring") == 0 || strcmp(s, "auto") == 0) return UV_IO_AUTO;
  return dflt;
}

/* under g.mu */
static uv_db *uv_db_ref(const char *name) {
  for (uv_db *d = g.dbs; d; d = d->next)
    if (strcmp(d->name, name) == 0) {
      d->refs++;
      return d;
    }
  uv_db *d = sqlite3_malloc64(sizeof *d + strlen(name) + 1);
  if (!d) return NULL;
  d->name = (char *)(d + 1);
  strcpy(d->name, name);
  d->refs = 1;
  d->err = 0;
  d->next = g.dbs;
  g.dbs = d;
  return d;
}

/* A registry entry of its own, in no list (an anonymous temp file: no name, no siblings). */
static uv_db *uv_db_private(void) {
  uv_db *d = sqlite3_malloc64(sizeof *d + 1);
  if (!d) return NULL;
  d->name = (char *)(d + 1);
  d->name[0] = 0;
  d->refs = 1;
  d->err = 0;
  d->next = NULL;
  return d;
}

/* under g.mu */
static void uv_db_unref(uv_db *d) {
  if (!d || --d->refs > 0) return;
  for (uv_db **pp = &g.dbs; *pp; pp = &(*pp)->next)
    if (*pp == d) {
      *pp = d->next;
      break;
    }
  sqlite3_free(d);
}

/* The descriptor inside the unix file, verified against the path; -1 if not trustworthy. */
static int uv_probe_fd(sqlite3_file *real, const char *path) {
  if (!g.root_is_unix || g.root->szOsFile < (int)(3 * sizeof(void *) + sizeof(int))) return -1;
  int fd;
  memcpy(&fd, (char *)real + 3 * sizeof(void *), sizeof fd);
  struct stat a, b;
  if (fd < 0 || fstat(fd, &a) != 0 || stat(path, &b) != 0) return -1;
  if (a.st_dev != b.st_dev || a.st_ino != b.st_ino || !S_ISREG(a.st_mode)) return -1;
  __atomic_store_n(&g.layout_ok, 1, __ATOMIC_RELEASE);
  return fd;
}

/* The same for a file unix opened without a name (it made up a name, opened and unlinked it):
** no path to compare with, so only once uv_probe_fd has confirmed the unixFile layout, and
** only if the descriptor is an unlinked regular file. -1 if not trustworthy. */
static int uv_probe_anon_fd(sqlite3_file *real) {
  if (!__atomic_load_n(&g.layout_ok, __ATOMIC_ACQUIRE)) return -1;
  int fd;
  memcpy(&fd, (char *)real + 3 * sizeof(void *), sizeof fd);
  struct stat a;
  if (fd < 0 || fstat(fd, &a) != 0 || !S_ISREG(a.st_mode) || a.st_nlink != 0) return -1;
  return fd;
}

/* Retire the read-ahead window: judge how well it was used (see ra_eager) unless a write
** cut it short, then empty it. */
static void uv_ra_end(uv_file *p, int judge) {
  if (p->ra_len && judge) p->ra_eager = p->ra_used * 2 >= p->ra_len;
  p->ra_len = 0;
  p->ra_used = 0;
}

/* The same for the fan-out window. Its bar is lower: its pages are exactly the walk's next
** children, and what it misses are mostly pages SQLite still had in its own cache, or the
** rest of the walk when the statement stopped early (an unused page costs a copy, ~1/3 of
** the pread it saves when used). */
static void uv_pf_end(uv_file *p, int judge) {
  if (p->pf_n && judge) p->pf_eager = p->pf_used * 4 >= p->pf_n;
  p->pf_n = 0;
  p->pf_used = 0;
}

/* Forget both windows and the access pattern (a lock change: others may have written; or our
** own write, judge = 0: the windows did not fail, the write made them stale). */
static void uv_ra_drop(uv_file *p, int judge) {
  uv_ra_end(p, judge);
  p->probe_skip = p->probe_gap = 0; /* a new transaction may meet a colder file */
  p->seq = 0;
  p->ra_win = UV_RA_MIN;
  uv_pf_end(p, judge);
  p->nkids = 0;
  p->kid_last = -1;
  p->kid_dir = 0;
  p->pf_win = UV_PF_MIN;
}

/* ---- the write queue ----------------------------------------------------------------------------- */

static int uv_ent_cmp(const void *a, const void *b) {
  const uv_ent *x = a, *y = b;
  return x->off < y->off ? -1 : x->off > y->off;
}

static void uv_queue_clear(uv_file *p) {
  p->nq = 0;
  p->qlen = 0;
  p->qsorted = 1;
  p->wal_commit = 0;
  if (g.dirty == p) g.dirty = NULL;
}

/* Write out p's queue: sorted, each contiguous run as vectored writes of at most UV_RUN_BYTES.
** The queue is emptied whatever happens (a failed flush is reported to the caller; the data
** is gone). Under g.mu. */
static int uv_flush(uv_file *p) {
  if (p->nq == 0) return SQLITE_OK;
  if (!p->qsorted) qsort(g.q, p->nq, sizeof *g.q, uv_ent_cmp);
  struct iovec iov[64];
  struct iovec *v = iov;
  int cap = (int)(sizeof iov / sizeof iov[0]);
  int rc = SQLITE_OK;
  if (p->nq > cap) {
    int want = p->nq < UV_IOV_MAX ? p->nq : UV_IOV_MAX;
    struct iovec *big = sqlite3_malloc64(sizeof *big * (size_t)want);
    if (big) v = big, cap = want;
  }
  for (int i = 0; i < p->nq && rc == SQLITE_OK;) {
    uint64_t off = g.q[i].off, end = off;
    int n = 0;
    /* Runs are cut at UV_RUN_BYTES: the page cache sizes the folios it allocates for a write
    ** by the write's length, and on this VM (virtio-balloon free page reporting) large
    ** folios come from free memory the host has taken back, so the first copy into them
    ** faults on the host. Measured (bench_vfs sort and VACUUM, DELETE/FULL, process CPU, 8+6
    ** runs): 2 MiB requests 23.5 / 45.9 ms with a spread of +-4 / +-7 ms; 64 KiB requests
    ** 18.0-18.5 / 34.2-35.2 ms; unix 22.3 / 43.2 ms. 16 pages per call still amortize it. */
    while (i < p->nq && n < cap && g.q[i].off == end &&
           (n == 0 || end - off + g.q[i].len <= UV_RUN_BYTES)) {
      v[n].iov_base = g.qbuf + g.q[i].pos;
      v[n].iov_len = g.q[i].len;
      end += g.q[i].len;
      n++, i++;
    }
    rc = uv_rc(n == 1 ? fio_write_at(p->f, off, v[0].iov_base, v[0].iov_len)
                      : fio_writev_at(p->f, off, v, n),
               SQLITE_IOERR_WRITE);
    p->st.runs++;
  }
  if (v != iov) sqlite3_free(v);
  p->st.flushes++;
  uv_queue_clear(p);
  /* The queued data is lost, and the call that reports this may belong to another file (or
  ** to a point where SQLite ignores results): refuse all later IO on this database until it
  ** is closed, so nothing goes on as if the writes had happened. */
  if (rc && p->db && !p->db->err) p->db->err = rc;
  return rc;
}

/* Flush whichever file has queued writes (at most one does). Under g.mu. */
static int uv_flush_dirty(void) { return g.dirty ? uv_flush(g.dirty) : SQLITE_OK; }


static int uv_overlaps(const uv_file *p, uint64_t off, size_t n) {
  if (p->nq == 0 || off >= p->qhi || off + n <= p->qlo) return 0;
  for (int i = 0; i < p->nq; i++)
    if (off < g.q[i].off + g.q[i].len && g.q[i].off < off + n) return 1;
  return 0;
}

/* Queue a copy of buf[0..n) at off. Under g.mu. */
static int uv_queue(uv_file *p, const void *buf, size_t n, uint64_t off) {
  int rc;
  if (g.dirty && g.dirty != p && (rc = uv_flush_dirty())) return rc;
  if (uv_overlaps(p, off, n) || p->qlen + n > UV_QUEUE_BYTES) {
    if ((rc = uv_flush(p))) return rc;
  }
  if (n > UV_QUEUE_BYTES / 2) /* too big to be worth a copy */
    return uv_rc(fio_write_at(p->f, off, buf, n), SQLITE_IOERR_WRITE);
  if (p->nq == g.cq) {
    int nc = g.cq ? 2 * g.cq : 64;
    uv_ent *q = sqlite3_realloc64(g.q, sizeof *q * (size_t)nc);
    if (!q) return SQLITE_IOERR_NOMEM;
    g.q = q, g.cq = nc;
  }
  if (p->qlen + n > g.qcap) {
    size_t nc = g.qcap ? g.qcap : 64u << 10;
    while (nc < p->qlen + n) nc *= 2;
    unsigned char *b = sqlite3_realloc64(g.qbuf, nc);
    if (!b) return SQLITE_IOERR_NOMEM;
    g.qbuf = b, g.qcap = nc;
  }
  memcpy(g.qbuf + p->qlen, buf, n);
  if (p->nq == 0) {
    p->qlo = off, p->qhi = off + n, p->qsorted = 1;
  } else {
    const uv_ent *last = &g.q[p->nq - 1];
    if (off < last->off + last->len) p->qsorted = 0;
    if (off < p->qlo) p->qlo = off;
    if (off + n > p->qhi) p->qhi = off + n;
  }
  g.q[p->nq++] = (uv_ent){off, n, p->qlen};
  p->qlen += n;
  g.dirty = p;
  p->st.writes++;
  return SQLITE_OK;
}

/* ---- io methods ----------------------------------------------------------------------------------- */

static int uv_close(sqlite3_file *pf) {
  uv_file *p = (uv_file *)pf;
  int rc = SQLITE_OK;
  if (p->f) {
    pthread_mutex_lock(&g.mu);
    /* An anonymous file is already unlinked and this is its last descriptor: what is still
    ** queued can never be read, so it is dropped instead of written. */
    if (g.dirty == p && p->anon) uv_queue_clear(p);
    if (g.dirty == p) rc = uv_flush(p);
    uv_db_unref(p->db);
    pthread_mutex_unlock(&g.mu);
    fio_close(p->f); /* borrowed descriptor: not closed */
    fio_batch_free(p->rab);
    sqlite3_free(p->ra);
    sqlite3_free(p->kids);
    sqlite3_free(p->pf);
    sqlite3_free(p->pf_pg);
  }
  int rc2 = RM(p)->xClose(REAL(p));
  return rc ? rc : rc2;
}

/* Fill the read-ahead window from `off`: p->ra_win bytes as UV_RA_NCHUNK requests in flight
** at once (one ring submission on the uring backend). */
static int uv_ra_fill(uv_file *p, uint64_t off) {
  uv_ra_end(p, 1);
  if (!p->ra && !(p->ra = sqlite3_malloc64(UV_RA_MAX))) return SQLITE_IOERR_NOMEM;
  if (!p->rab) {
    if (fio_batch_new(p->env, &p->rab)) return SQLITE_IOERR_NOMEM;
  } else {
    fio_batch_reset(p->rab);
  }
  size_t chunk = p->ra_win / UV_RA_NCHUNK;
  for (int i = 0; i < UV_RA_NCHUNK; i++)
    if (fio_batch_read(p->rab, p->f, off + (uint64_t)i * chunk, p->ra + i * chunk, chunk) < 0)
      return SQLITE_IOERR_READ;
  int rc = fio_batch_run(p->rab);
  if (rc) return uv_rc(rc, SQLITE_IOERR_READ);
  size_t len = 0;
  for (int i = 0; i < UV_RA_NCHUNK; i++) {
    size_t done = 0;
    fio_batch_result(p->rab, i, &done);
    len += done;
    if (done < chunk) break; /* end of file: later chunks read nothing */
  }
  p->ra_off = off;
  p->ra_len = len;
  p->st.ra_batches++;
  return SQLITE_OK;
}

static uint32_t uv_be16(const unsigned char *b) { return (uint32_t)b[0] << 8 | b[1]; }
static uint32_t uv_be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* If page `pg` (n bytes in buf) is a b-tree interior page, remember its children. Only a hint:
** a malformed page just yields no (or useless) children, never a wrong read. */
static void uv_pf_parse(uv_file *p, uint32_t pg, const unsigned char *buf, size_t n) {
  size_t h = pg == 1 ? 100 : 0;
  if (n < h + 12 || (buf[h] != 0x02 && buf[h] != 0x05)) return; /* not an interior page */
  uint32_t ncell = uv_be16(buf + h + 3);
  if (h + 12 + 2 * (size_t)ncell > n) return;
  if ((int)ncell + 1 > p->ckids) {
    uint32_t *k = sqlite3_realloc64(p->kids, sizeof *k * (ncell + 1));
    if (!k) return;
    p->kids = k, p->ckids = (int)ncell + 1;
  }
  int m = 0, adj = 0;
  for (uint32_t i = 0; i < ncell; i++) {
    uint32_t cp = uv_be16(buf + h + 12 + 2 * i);
    if (cp + 4 > n) return;
    p->kids[m++] = uv_be32(buf + cp);
    if (m > 1 && p->kids[m - 1] == p->kids[m - 2] + 1) adj++;
  }
  p->kids[m++] = uv_be32(buf + h + 8);
  if (p->kids[m - 1] == p->kids[m - 2] + 1) adj++;
  p->nkids = m;
  p->kids_seq = adj * 4 >= (m - 1) * 3;
  p->walk_run = 0;
  p->probe_skip = p->probe_gap = 0; /* a new subtree may be colder than the last one */
  p->kid_last = -1;
  p->kid_dir = 0;
}

static int uv_u32_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Read the window of children after kid index i (direction kid_dir) into pf, all requests in
** flight at once. */
static void uv_pf_fill(uv_file *p, int i, size_t n) {
  int win = p->pf_win, maxw = (int)(UV_PF_MAXB / n);
  if (win > maxw) win = maxw;
  if (p->kids_seq && win > UV_PF_MIN * 2) win = UV_PF_MIN * 2; /* see uv_read */
  if (win < 1) return;
  if (p->pf_psz != n || !p->pf) {
    sqlite3_free(p->pf);
    sqlite3_free(p->pf_pg);
    p->pf = sqlite3_malloc64((size_t)maxw * n);
    p->pf_pg = sqlite3_malloc64(sizeof *p->pf_pg * (size_t)maxw);
    p->pf_psz = n;
    uv_pf_end(p, 1);
    if (!p->pf || !p->pf_pg) {
      sqlite3_free(p->pf), sqlite3_free(p->pf_pg);
      p->pf = NULL, p->pf_pg = NULL;
      return;
    }
  }
  if (!p->rab && fio_batch_new(p->env, &p->rab)) return;
  fio_batch_reset(p->rab);
  uv_pf_end(p, 1);
  /* The window's pages, sorted: children that are neighbours on disk (a table filled in key
  ** order) become one larger request, which the device and the kernel's readahead like far
  ** better than many 4 KiB ones; runs are cut at UV_PF_RUN pages so several stay in flight. */
  int k = i + p->kid_dir, first = k, last = k, cnt = 0;
  for (; cnt < win && k >= 0 && k < p->nkids && p->kids[k] != 0; cnt++, k += p->kid_dir) {
    p->pf_pg[cnt] = p->kids[k];
    last = k;
  }
  if (cnt == 0) return;
  qsort(p->pf_pg, (size_t)cnt, sizeof *p->pf_pg, uv_u32_cmp);
  int req_first[UV_PF_MAXB / 512], nreq = 0; /* first slot of each request */
  for (int c = 0; c < cnt;) {
    int e = c + 1;
    while (e < cnt && e - c < UV_PF_RUN && p->pf_pg[e] == p->pf_pg[e - 1] + 1) e++;
    if (fio_batch_read(p->rab, p->f, (uint64_t)(p->pf_pg[c] - 1) * n, p->pf + (size_t)c * n,
                       (size_t)(e - c) * n) < 0)
      return;
    req_first[nreq++] = c;
    c = e;
  }
  if (fio_batch_run(p->rab) != LSM_OK) return;
  for (int r = 0; r < nreq; r++) {
    size_t done = 0;
    if (fio_batch_result(p->rab, r, &done) != LSM_OK) done = 0;
    int end = r + 1 < nreq ? req_first[r + 1] : cnt;
    for (int c = req_first[r]; c < end; c++)
      if ((size_t)(c - req_first[r] + 1) * n > done) p->pf_pg[c] = 0; /* not read: unusable */
  }
  p->pf_n = cnt;
  p->pf_k0 = first, p->pf_k1 = last;
  p->st.pf_batches++;
  if (p->pf_win < maxw) p->pf_win *= 2;
}

/* 1 if reading page pg continues a walk over the children of the last interior page (the
** case in which uv_pf_track reads a window). */
static int uv_pf_walking(const uv_file *p, uint32_t pg) {
  if (p->kid_last < 0) return 0;
  int a = p->kid_last + 1, b = p->kid_last - 1;
  return (a < p->nkids && p->kids[a] == pg) || (b >= 0 && p->kids[b] == pg);
}

/* Fan-out prefetch bookkeeping after page pg was read into buf. nofill: do not read a window now
** (writes are queued, or the page was a page-cache hit: the walk is served by the kernel's
** cache, and prefetching would only copy). */
static void uv_pf_track(uv_file *p, uint32_t pg, const unsigned char *buf, size_t n, int nofill) {
  int i = -1;
  if (p->nkids) {
    if (p->kid_last >= 0 && p->kid_dir && p->kid_last + p->kid_dir >= 0 &&
        p->kid_last + p->kid_dir < p->nkids && p->kids[p->kid_last + p->kid_dir] == pg) {
      i = p->kid_last + p->kid_dir; /* the common case: the walk goes on */
    } else {
      for (int k = 0; k < p->nkids; k++)
        if (p->kids[k] == pg) {
          i = k;
          break;
        }
    }
  }
  if (i < 0) {
    uv_pf_parse(p, pg, buf, n); /* maybe the parent of what comes next */
    return;
  }
  if (p->kid_last >= 0 && (i == p->kid_last + 1 || i == p->kid_last - 1)) {
    int dir = i - p->kid_last;
    if (dir != p->kid_dir) p->pf_win = UV_PF_MIN;
    p->kid_dir = dir;
    int next = i + dir;
    int covered = p->pf_n && (dir > 0 ? next >= p->pf_k0 && next <= p->pf_k1
                                      : next <= p->pf_k0 && next >= p->pf_k1);
    if (!covered && next >= 0 && next < p->nkids && !nofill) uv_pf_fill(p, i, n);
    /* Not eager, yet the walk goes on and on (served by the page cache): a window would be
    ** well used after all, so be eager again (a warm file never misses to prove it). */
    if (!p->pf_eager && ++p->walk_run >= UV_PF_REARM) p->pf_eager = 1;
  } else {
    p->walk_run = 0;
  }
  p->kid_last = i;
  /* A child may itself be an interior page: its children are tracked from its own read
  ** (the parent's remaining children stay prefetched in pf). */
  if (buf[pg == 1 ? 100 : 0] == 0x02 || buf[pg == 1 ? 100 : 0] == 0x05) {
    uv_pf_parse(p, pg, buf, n);
  }
}

static int uv_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 ofs) {
  uv_file *p = (uv_file *)pf;
  if (!p->f) return RM(p)->xRead(REAL(p), buf, amt, ofs);
  uint64_t off = (uint64_t)ofs;
  size_t n = (size_t)amt;
  int rc = SQLITE_OK, queued;
  pthread_mutex_lock(&g.mu);
  if (p->db->err) rc = p->db->err;
  else if (uv_overlaps(p, off, n)) rc = uv_flush(p);
  queued = p->nq;
  pthread_mutex_unlock(&g.mu);
  if (rc) return rc;
  p->st.reads++;

  /* Whole b-tree pages of the main database: served from / tracked for fan-out prefetch. */
  uint32_t pg = 0;
  if (p->type == SQLITE_OPEN_MAIN_DB && n >= 512 && (n & (n - 1)) == 0 && off % n == 0 &&
      off / n < UINT32_MAX) {
    pg = (uint32_t)(off / n) + 1;
    if (p->pf_n && p->pf_psz == n) {
      for (int c = 0; c < p->pf_n; c++)
        if (p->pf_pg[c] == pg) {
          memcpy(buf, p->pf + (size_t)c * n, n);
          p->st.pf_hits++;
          p->pf_used++;
          p->last_end = off + n;
          uv_pf_track(p, pg, buf, n, queued || p->kids_seq);
          return SQLITE_OK;
        }
    }
  }

  /* Read-ahead. A run of adjacent reads (at most one page skipped) starts a window; a read
  ** continuing right after a window's end doubles the next one (the scan is real); a read
  ** elsewhere drops the window and starts over small, so random access costs no extra IO. */
  /* Adjacent: right after the previous read, or one same-sized block further (a b-tree scan
  ** stepping over an interior page). Not a WAL frame walk (24-byte frame headers between
  ** pages; a checkpoint reads frames in page order, which read-ahead would only waste). */
  int adjacent = off >= p->last_end && (off - p->last_end) % n == 0 && off <= p->last_end + n;
  int in_ra = p->ra_len && off >= p->ra_off && off + n <= p->ra_off + p->ra_len;
  p->last_end = off + n;
  if (in_ra) {
    memcpy(buf, p->ra + (off - p->ra_off), n);
    p->st.ra_hits++;
    p->ra_used += n;
    if (pg) uv_pf_track(p, pg, buf, n, queued || p->kids_seq);
    return SQLITE_OK;
  }
  int cont = p->ra_len && off >= p->ra_off + p->ra_len && adjacent;
  uv_ra_end(p, 1);
  if (cont) {
    if (p->ra_win < UV_RA_MAX) p->ra_win *= 2;
  } else if (!adjacent) {
    p->ra_win = UV_RA_MIN;
  }
  p->seq = adjacent ? p->seq + 1 : 0;

  /* Outside the windows. A read that would start a read-ahead or prefetch window first asks
  ** the page cache only (unless that kind of window is eager, see uv_file): a hit costs one
  ** system call, as through unix, and starts no window (copying data SQLite may never ask for
  ** would only cost); only a miss (a cold file) pays for a window with many requests in
  ** flight. Every other read is one plain pread, exactly unix's cost (a cache-only read is
  ** ~0.1 us dearer: preadv2 takes the readv path). */
  int want_ra = p->seq >= UV_RA_TRIGGER && !queued && n <= UV_RA_MIN / 2;
  int want_pf = pg && !queued && uv_pf_walking(p, pg);
  /* While probes keep hitting, most such reads skip the probe and are plain reads that start
  ** nothing (their data is most likely cached too); a miss makes every read probe again. */
  size_t got = 0;
  if (want_pf && p->kids_seq && p->kid_last + 1 < p->nkids && p->kids[p->kid_last + 1] == pg) {
    /* Children in file order, walked forward: a cold walk is the kernel's read-ahead's (as
    ** for unix); a window pays only over cached pages (one copy instead of a pread per page).
    ** So: cache hit -> window; miss -> plain read, and ask again later (1, 2, 4 .. 64 reads
    ** on). Walked backward (integrity_check), the kernel reads nothing ahead: as below. */
    want_ra = want_pf = 0;
    if (p->probe_skip > 0) {
      p->probe_skip--;
    } else {
      rc = fio_read_cached(p->f, off, buf, n, &got);
      if (rc) return uv_rc(rc, SQLITE_IOERR_READ);
      if (got == n) {
        p->st.cached++;
        p->probe_gap = 0;
        uv_pf_track(p, pg, buf, n, !p->pf_eager); /* unless windows went unused lately */
        return SQLITE_OK;
      }
      p->probe_gap = p->probe_gap ? (p->probe_gap * 2 > UV_PROBE_GAP ? UV_PROBE_GAP
                                                                       : p->probe_gap * 2)
                                  : 1;
      p->probe_skip = p->probe_gap - 1;
    }
  } else if (want_pf && p->pf_eager) {
    /* eager: the fan-out window is read below, without asking the cache */
  } else if ((want_ra && !p->ra_eager) || want_pf) {
    if (p->probe_skip > 0) {
      p->probe_skip--;
      want_ra = want_pf = 0;
    } else {
      rc = fio_read_cached(p->f, off, buf, n, &got);
      if (rc) return uv_rc(rc, SQLITE_IOERR_READ);
      if (got == n) {
        p->st.cached++;
        p->probe_gap = p->probe_gap ? (p->probe_gap * 2 > UV_PROBE_GAP ? UV_PROBE_GAP
                                                                         : p->probe_gap * 2)
                                    : 1;
        p->probe_skip = p->probe_gap - 1;
        if (pg) uv_pf_track(p, pg, buf, n, 1);
        return SQLITE_OK;
      }
      p->probe_gap = 0;
      if (want_ra && !want_pf) p->st.ra_missed++;
    }
  }
  if (want_pf) want_ra = 0; /* the fan-out window covers the walk; no second window */
  if (want_ra) {
    if (p->ra_win < UV_RA_MIN) p->ra_win = UV_RA_MIN;
    if (uv_ra_fill(p, off) != SQLITE_OK) uv_ra_end(p, 1); /* the plain read below reports */
    in_ra = p->ra_len && off + n <= p->ra_off + p->ra_len;
  }
  if (in_ra) {
    memcpy(buf, p->ra + (off - p->ra_off), n);
    p->st.ra_hits++;
    p->ra_used += n;
  } else {
    /* The rest after what the cache had (the plain read waits for the device). */
    size_t more = 0;
    rc = fio_read_at(p->f, off + got, (char *)buf + got, n - got, &more);
    if (rc) return uv_rc(rc, SQLITE_IOERR_READ);
    got += more;
    if (got < n) {
      /* As unix: zero the rest, SQLite relies on it for reads past the end. */
      memset((char *)buf + got, 0, n - got);
      return SQLITE_IOERR_SHORT_READ;
    }
  }
  if (pg) uv_pf_track(p, pg, buf, n, queued || (!want_ra && !want_pf));
  return SQLITE_OK;
}

static int uv_write(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 ofs) {
  uv_file *p = (uv_file *)pf;
  int rc;
  pthread_mutex_lock(&g.mu);
  if (!p->f) {
    /* Delegated: keep the process-wide write order (queued writes of others go first). */
    rc = uv_flush_dirty();
    pthread_mutex_unlock(&g.mu);
    return rc ? rc : RM(p)->xWrite(REAL(p), buf, amt, ofs);
  }
  uv_ra_drop(p, 0);
  rc = p->db->err;
  if (!rc) {
    int commit_body = p->wal_commit;
    rc = uv_queue(p, buf, (size_t)amt, (uint64_t)ofs);
    if (!rc && (commit_body || (p->type == SQLITE_OPEN_MAIN_JOURNAL && ofs == 0))) {
      /* The page of a WAL commit frame: SQLite publishes the commit in the WAL index next,
      ** without another call that could report an error, so it must reach the kernel now.
      ** A rollback journal's header: in PERSIST mode zeroing it IS the commit, and with
      ** synchronous=OFF in exclusive locking mode no sync or unlock follows. */
      rc = uv_flush(p);
    } else if (!rc && p->type == SQLITE_OPEN_WAL && amt == 24) {
      /* A WAL frame header (24 bytes); bytes 4..7 = database size after commit, 0 if this
      ** frame is not a commit. Big-endian, but only zero/non-zero matters. */
      const unsigned char *h = buf;
      p->wal_commit = (h[4] | h[5] | h[6] | h[7]) != 0;
    }
  }
  pthread_mutex_unlock(&g.mu);
  return rc;
}

static int uv_truncate(sqlite3_file *pf, sqlite3_int64 size) {
  uv_file *p = (uv_file *)pf;
  pthread_mutex_lock(&g.mu);
  int rc = p->db ? p->db->err : 0;
  if (!rc) rc = uv_flush_dirty();
  pthread_mutex_unlock(&g.mu);
  if (rc) return rc;
  if (p->f) uv_ra_drop(p, 0);
  /* unix's xTruncate also rounds to its chunk size and shrinks its mmap bookkeeping. */
  return RM(p)->xTruncate(REAL(p), size);
}

static int uv_sync(sqlite3_file *pf, int flags) {
  uv_file *p = (uv_file *)pf;
  pthread_mutex_lock(&g.mu);
  int rc = p->db ? p->db->err : 0;
  if (!rc) rc = uv_flush_dirty();
  pthread_mutex_unlock(&g.mu);
  if (rc) return rc;
  if (!p->f) return RM(p)->xSync(REAL(p), flags);
  rc = uv_rc(fio_sync(p->f), SQLITE_IOERR_FSYNC);
  if (rc == SQLITE_OK && p->dirsync) {
    /* A new journal or WAL: its directory entry must be durable too. Like unix, a failure
    ** to open/sync the directory is not an error (some filesystems refuse it). */
    p->dirsync = 0;
    char *dir = sqlite3_mprintf("%s", p->path);
    if (dir) {
      char *slash = strrchr(dir, '/');
      if (slash) {
        *(slash == dir ? slash + 1 : slash) = 0;
        (void)fio_sync_dir(p->env, dir);
      }
      sqlite3_free(dir);
    }
  }
  return rc;
}

static int uv_file_size(sqlite3_file *pf, sqlite3_int64 *pSize) {
  uv_file *p = (uv_file *)pf;
  if (!p->f) return RM(p)->xFileSize(REAL(p), pSize);
  pthread_mutex_lock(&g.mu);
  int rc = p->db->err;
  if (!rc && g.dirty == p) rc = uv_flush(p);
  pthread_mutex_unlock(&g.mu);
  if (rc) return rc;
  uint64_t sz = 0;
  rc = uv_rc(fio_size(p->f, &sz), SQLITE_IOERR_FSTAT);
  if (rc) return rc;
  /* As unix: a 1-byte file is reported as empty (unix may write one byte into an empty
  ** database to work around an old OS X msdos-filesystem bug). */
  *pSize = sz == 1 ? 0 : (sqlite3_int64)sz;
  return SQLITE_OK;
}

static int uv_lock(sqlite3_file *pf, int lock) {
  uv_file *p = (uv_file *)pf;
  if (p->f) uv_ra_drop(p, 1); /* others may have written while we held no lock */
  return RM(p)->xLock(REAL(p), lock);
}

static int uv_unlock(sqlite3_file *pf, int lock) {
  uv_file *p = (uv_file *)pf;
  /* Before a lock is given up, other connections must be able to read what we wrote. */
  pthread_mutex_lock(&g.mu);
  int rc = uv_flush_dirty();
  pthread_mutex_unlock(&g.mu);
  if (p->f) uv_ra_drop(p, 1);
  int rc2 = RM(p)->xUnlock(REAL(p), lock);
  return rc ? rc : rc2;
}

static int uv_check_reserved(sqlite3_file *pf, int *pResOut) {
  uv_file *p = (uv_file *)pf;
  return RM(p)->xCheckReservedLock(REAL(p), pResOut);
}

static int uv_file_control(sqlite3_file *pf, int op, void *pArg) {
  uv_file *p = (uv_file *)pf;
  int rc = SQLITE_OK;
  switch (op) {
  case URINGVFS_FCNTL_STATS: {
    uringvfs_stats *s = pArg;
    *s = p->st;
    s->direct = p->f != NULL;
    s->backend = p->f ? fio_env_name(p->env) : "unix";
    return SQLITE_OK;
  }
  case SQLITE_FCNTL_VFSNAME:
    *(char **)pArg = sqlite3_mprintf("uring");
    return SQLITE_OK;
  case SQLITE_FCNTL_SIZE_HINT:
  case SQLITE_FCNTL_MMAP_SIZE:
  case SQLITE_FCNTL_CKPT_DONE:
    /* unix looks at the file size (fstat) and may remap; a checkpoint's copies must be in
    ** the kernel before SQLite publishes them in the WAL index (it ignores our result). */
    pthread_mutex_lock(&g.mu);
    rc = uv_flush_dirty();
    pthread_mutex_unlock(&g.mu);
    if (p->f) uv_ra_drop(p, 1);
    if (rc) return rc;
    break;
  default:
    break;
  }
  return RM(p)->xFileControl(REAL(p), op, pArg);
}

static int uv_sector_size(sqlite3_file *pf) {
  uv_file *p = (uv_file *)pf;
  return RM(p)->xSectorSize(REAL(p));
}

static int uv_device_characteristics(sqlite3_file *pf) {
  uv_file *p = (uv_file *)pf;
  return RM(p)->xDeviceCharacteristics(REAL(p));
}

static int uv_shm_map(sqlite3_file *pf, int iPg, int pgsz, int bExtend, void volatile **pp) {
  uv_file *p = (uv_file *)pf;
  if (RM(p)->iVersion < 2 || !RM(p)->xShmMap) return SQLITE_IOERR_SHMMAP;
  return RM(p)->xShmMap(REAL(p), iPg, pgsz, bExtend, pp);
}

static int uv_shm_lock(sqlite3_file *pf, int offset, int n, int flags) {
  uv_file *p = (uv_file *)pf;
  /* WAL read/write transactions begin and end here: publish our writes, forget read-ahead. */
  pthread_mutex_lock(&g.mu);
  int rc = uv_flush_dirty();
  pthread_mutex_unlock(&g.mu);
  if (p->f) uv_ra_drop(p, 1);
  if (rc && (flags & SQLITE_SHM_LOCK)) return rc;
  int rc2 = RM(p)->xShmLock(REAL(p), offset, n, flags);
  return rc ? rc : rc2;
}

static void uv_shm_barrier(sqlite3_file *pf) {
  uv_file *p = (uv_file *)pf;
  pthread_mutex_lock(&g.mu);
  (void)uv_flush_dirty(); /* no way to report here: uv_flush made it sticky */
  pthread_mutex_unlock(&g.mu);
  RM(p)->xShmBarrier(REAL(p));
}

static int uv_shm_unmap(sqlite3_file *pf, int deleteFlag) {
  uv_file *p = (uv_file *)pf;
  pthread_mutex_lock(&g.mu);
  int rc = uv_flush_dirty();
  pthread_mutex_unlock(&g.mu);
  int rc2 = RM(p)->xShmUnmap(REAL(p), deleteFlag);
  return rc ? rc : rc2;
}

static int uv_fetch(sqlite3_file *pf, sqlite3_int64 ofs, int amt, void **pp) {
  uv_file *p = (uv_file *)pf;
  *pp = NULL;
  if (RM(p)->iVersion < 3 || !RM(p)->xFetch) return SQLITE_OK;
  /* The mapping shows the kernel's page cache: queued writes must be there first. */
  pthread_mutex_lock(&g.mu);
  int rc = p->db ? p->db->err : 0;
  if (!rc && p->f && g.dirty == p) rc = uv_flush(p);
  pthread_mutex_unlock(&g.mu);
  if (rc) return rc;
  return RM(p)->xFetch(REAL(p), ofs, amt, pp);
}

static int uv_unfetch(sqlite3_file *pf, sqlite3_int64 ofs, void *ptr) {
  uv_file *p = (uv_file *)pf;
  if (RM(p)->iVersion < 3 || !RM(p)->xUnfetch) return SQLITE_OK;
  return RM(p)->xUnfetch(REAL(p), ofs, ptr);
}

static const sqlite3_io_methods uv_methods = {
    3,                         /* iVersion */
    uv_close,                  /* xClose: flush, forget fio file, unix closes the fd */
    uv_read,                   /* xRead: flush overlap, read-ahead window, else fio read */
    uv_write,                  /* xWrite: queued */
    uv_truncate,               /* xTruncate: flush, then unix */
    uv_sync,                   /* xSync: flush, fio fdatasync (+dir once) */
    uv_file_size,              /* xFileSize: flush, fio fstat */
    uv_lock,                   /* xLock: unix (drops read-ahead) */
    uv_unlock,                 /* xUnlock: flush, unix */
    uv_check_reserved,         /* xCheckReservedLock: unix */
    uv_file_control,           /* xFileControl: stats, flush points, else unix */
    uv_sector_size,            /* xSectorSize: unix */
    uv_device_characteristics, /* xDeviceCharacteristics: unix */
    uv_shm_map,                /* xShmMap: unix */
    uv_shm_lock,               /* xShmLock: flush, unix */
    uv_shm_barrier,            /* xShmBarrier: flush, unix */
    uv_shm_unmap,              /* xShmUnmap: flush, unix */
    uv_fetch,                  /* xFetch: flush, unix mmap */
    uv_unfetch,                /* xUnfetch: unix */
};

/* ---- vfs methods --------------------------------------------------------------------------------- */

/* Our struct rounded up so the root's file object after it is 8-byte aligned. */
#define UV_SZ ((sizeof(uv_file) + 7) & ~(size_t)7)

static int uv_open(sqlite3_vfs *vfs, sqlite3_filename zName, sqlite3_file *pf, int flags,
                   int *pOutFlags) {
  (void)vfs;
  uv_file *p = (uv_file *)pf;
  memset(p, 0, sizeof *p);
  p->real = (sqlite3_file *)((char *)p + UV_SZ);
  int rc = g.root->xOpen(g.root, zName, p->real, flags, pOutFlags);
  if (p->real->pMethods) p->base.pMethods = &uv_methods;
  if (rc != SQLITE_OK) return rc;
  /* No name: a temp database, its journal, a statement journal or a sorter's spill file. unix
  ** made up a name and unlinked it at once (DELETEONCLOSE). Such a file needs no durability,
  ** no ordering against other files' writes and no visibility to other processes, but its
  ** writes (e.g. a sorter's page-sized PMA writes) gain from coalescing like any other:
  ** queued too, and whatever is still queued at close is dropped. */
  p->anon = !zName;
  if (p->anon && !(flags & SQLITE_OPEN_DELETEONCLOSE)) return SQLITE_OK;

  p->type = flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL |
                     SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL |
                     SQLITE_OPEN_SUBJOURNAL | SQLITE_OPEN_SUPER_JOURNAL |
                     SQLITE_OPEN_TRANSIENT_DB);
  int dbfile = p->type == SQLITE_OPEN_MAIN_DB || p->type == SQLITE_OPEN_MAIN_JOURNAL ||
               p->type == SQLITE_OPEN_WAL;
  int fd = p->anon ? uv_probe_anon_fd(p->real) : uv_probe_fd(p->real, zName);
  if (fd < 0) return SQLITE_OK; /* delegated */
  int acc = fcntl(fd, F_GETFL);
  if (acc < 0) return SQLITE_OK;
  int mode = (acc & O_ACCMODE) == O_RDONLY ? FIO_RDONLY : FIO_RDWR;
  int kind = uv_io_kind(dbfile ? sqlite3_uri_parameter(zName, "uring_io") : NULL, g.dflt_io);

  pthread_mutex_lock(&g.mu);
  fio_env *env = uv_env(kind);
  if (env) {
    p->db = p->anon ? uv_db_private()
                    : uv_db_ref(dbfile ? sqlite3_filename_database(zName) : zName);
    p->env = env;
    if (p->db && fio_wrap_fd(env, fd, mode, &p->f) != LSM_OK) {
      uv_db_unref(p->db);
      p->db = NULL;
      p->f = NULL;
    }
  }
  pthread_mutex_unlock(&g.mu);
  if (!p->f) return SQLITE_OK; /* delegated */
  p->path = zName;
  p->qsorted = 1;
  uv_ra_drop(p, 1); /* read-ahead and prefetch state: empty, first window sizes */
  p->pf_eager = 1; /* see uv_file: fan-out windows follow the walk exactly, so start eager */
  /* unix fsyncs the directory once after creating a journal, super-journal or WAL. */
  p->dirsync = (flags & SQLITE_OPEN_CREATE) &&
               (p->type == SQLITE_OPEN_MAIN_JOURNAL || p->type == SQLITE_OPEN_WAL ||
                p->type == SQLITE_OPEN_SUPER_JOURNAL);
  return SQLITE_OK;
}

static int uv_delete(sqlite3_vfs *vfs, const char *zName, int syncDir) {
  (void)vfs;
  /* Deleting a journal commits a transaction: the database pages go first. */
  pthread_mutex_lock(&g.mu);
  int rc = uv_flush_dirty();
  pthread_mutex_unlock(&g.mu);
  if (rc) return rc;
  return g.root->xDelete(g.root, zName, syncDir);
}

static int uv_access(sqlite3_vfs *v, const char *z, int flags, int *out) {
  (void)v;
  return g.root->xAccess(g.root, z, flags, out);
}
static int uv_full_pathname(sqlite3_vfs *v, const char *z, int n, char *out) {
  (void)v;
  return g.root->xFullPathname(g.root, z, n, out);
}
static void *uv_dlopen(sqlite3_vfs *v, const char *z) {
  (void)v;
  return g.root->xDlOpen(g.root, z);
}
static void uv_dlerror(sqlite3_vfs *v, int n, char *z) {
  (void)v;
  g.root->xDlError(g.root, n, z);
}
static void (*uv_dlsym(sqlite3_vfs *v, void *h, const char *z))(void) {
  (void)v;
  return g.root->xDlSym(g.root, h, z);
}
static void uv_dlclose(sqlite3_vfs *v, void *h) {
  (void)v;
  g.root->xDlClose(g.root, h);
}
static int uv_randomness(sqlite3_vfs *v, int n, char *z) {
  (void)v;
  return g.root->xRandomness(g.root, n, z);
}
static int uv_sleep(sqlite3_vfs *v, int us) {
  (void)v;
  return g.root->xSleep(g.root, us);
}
static int uv_current_time(sqlite3_vfs *v, double *t) {
  (void)v;
  return g.root->xCurrentTime(g.root, t);
}
static int uv_get_last_error(sqlite3_vfs *v, int n, char *z) {
  (void)v;
  return g.root->xGetLastError ? g.root->xGetLastError(g.root, n, z) : 0;
}
static int uv_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *t) {
  (void)v;
  if (g.root->iVersion >= 2 && g.root->xCurrentTimeInt64)
    return g.root->xCurrentTimeInt64(g.root, t);
  double d = 0;
  int rc = g.root->xCurrentTime(g.root, &d);
  *t = (sqlite3_int64)(d * 86400000.0);
  return rc;
}
static int uv_set_system_call(sqlite3_vfs *v, const char *z, sqlite3_syscall_ptr f) {
  (void)v;
  if (g.root->iVersion < 3 || !g.root->xSetSystemCall) return SQLITE_NOTFOUND;
  return g.root->xSetSystemCall(g.root, z, f);
}
static sqlite3_syscall_ptr uv_get_system_call(sqlite3_vfs *v, const char *z) {
  (void)v;
  if (g.root->iVersion < 3 || !g.root->xGetSystemCall) return NULL;
  return g.root->xGetSystemCall(g.root, z);
}
static const char *uv_next_system_call(sqlite3_vfs *v, const char *z) {
  (void)v;
  if (g.root->iVersion < 3 || !g.root->xNextSystemCall) return NULL;
  return g.root->xNextSystemCall(g.root, z);
}

/* fork(): the child starts with no queued writes of its own (the parent's queue is the
** parent's to write) and a fresh mutex (another parent thread may have held it). */
static void uv_atfork_child(void) {
  pthread_mutex_init(&g.mu, NULL);
  uv_forget_parent_queue();
}

int uringvfs_register(void) {
  pthread_mutex_lock(&g.mu);
  if (g.root || sqlite3_vfs_find("uring")) {
    pthread_mutex_unlock(&g.mu);
    return SQLITE_OK;
  }
  sqlite3_vfs *root = sqlite3_vfs_find(NULL);
  if (!root) {
    pthread_mutex_unlock(&g.mu);
    return SQLITE_ERROR;
  }
  g.root = root;
  g.root_is_unix = strncmp(root->zName, "unix", 4) == 0;
  g.dflt_io = uv_io_kind(getenv("LSMVTAB_VFS_IO"), UV_IO_AUTO);
  g.vfs = (sqlite3_vfs){
      .iVersion = 3,
      .szOsFile = (int)(UV_SZ + (size_t)root->szOsFile),
      .mxPathname = root->mxPathname,
      .zName = "uring",
      .xOpen = uv_open,
      .xDelete = uv_delete,
      .xAccess = uv_access,
      .xFullPathname = uv_full_pathname,
      .xDlOpen = uv_dlopen,
      .xDlError = uv_dlerror,
      .xDlSym = uv_dlsym,
      .xDlClose = uv_dlclose,
      .xRandomness = uv_randomness,
      .xSleep = uv_sleep,
      .xCurrentTime = uv_current_time,
      .xGetLastError = uv_get_last_error,
      .xCurrentTimeInt64 = uv_current_time_int64,
      .xSetSystemCall = uv_set_system_call,
      .xGetSystemCall = uv_get_system_call,
      .xNextSystemCall = uv_next_system_call,
  };
  int rc = sqlite3_vfs_register(&g.vfs, 0);
  if (rc) g.root = NULL;
  else pthread_atfork(NULL, NULL, uv_atfork_child);
  pthread_mutex_unlock(&g.mu);
  return rc;
}

/* ---- test hooks ----------------------------------------------------------------------------------- */

int uringvfs_fault_set(int ops, long nth, int kind) {
  pthread_mutex_lock(&g.mu);
  fio_env *e = uv_env(UV_IO_FAULT);
  pthread_mutex_unlock(&g.mu);
  return e ? fio_fault_set(e, ops, nth, kind) : LSM_MISUSE;
}

void uringvfs_fault_clear(void) {
  pthread_mutex_lock(&g.mu);
  fio_env *e = uv_env(UV_IO_FAULT);
  pthread_mutex_unlock(&g.mu);
  if (e) fio_fault_clear(e);
}

long uringvfs_fault_count(int ops) {
  pthread_mutex_lock(&g.mu);
  fio_env *e = uv_env(UV_IO_FAULT);
  pthread_mutex_unlock(&g.mu);
  return e ? fio_fault_count(e, ops) : 0;
}
