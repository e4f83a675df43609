/* Tests of engine/fio*.c: every operation and error case on both real backends (sync, uring)
** from one table of cases, streamed 1 GiB write+read with checksum, batches (many in flight,
** per-request results, one failing request), O_DIRECT round trips, the fault wrapper (each
** kind), fio_write_atomic under injected faults, flock across processes, OOM.
** Randomized cases print their seed. Files are created in the cwd (a fresh scratch dir). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fio.h"
#include "pc_util.h"
#include "mm.h"
#include "status.h"

/* ---- fixture: one env per case, backend from the case table ---------------------------------- */

typedef struct {
  int backend;
  fio_env *env;
} ctx;

static int B_SYNC = FIO_SYNC, B_URING = FIO_URING;

/* Each case runs in its own fresh subdirectory of the scratch cwd. */
static int setup(void **state) {
  static int case_no;
  char dir[32];
  snprintf(dir, sizeof dir, "case%d", ++case_no);
  if (mkdir(dir, 0755) != 0 || chdir(dir) != 0) return -1;
  int backend = *(int *)*state;
  ctx *c = calloc(1, sizeof *c);
  c->backend = backend;
  int rc = fio_env_new(backend, &c->env);
  if (rc != LSM_OK) {
    print_message("backend %d unavailable: %s\n", backend, st_errmsg());
    free(c);
    *state = NULL;
    return 0; /* the case skips */
  }
  *state = c;
  return 0;
}

static int teardown(void **state) {
  ctx *c = *state;
  if (chdir("..") != 0) return -1;
  if (c) {
    fio_env_free(c->env);
    free(c);
  }
  return 0;
}

#define ENV(state)                                    \
  ({                                                  \
    ctx *c_ = *(state);                               \
    if (!c_) skip();                                  \
    c_->env;                                          \
  })

/* Deterministic content: byte at file offset o. */
static uint8_t pat(uint64_t o, unsigned salt) {
  return (uint8_t)(((o + salt) * 2654435761u) >> 13);
}
static void fill(uint8_t *p, uint64_t off, size_t n, unsigned salt) {
  for (size_t i = 0; i < n; i++) p[i] = pat(off + i, salt);
}
static int check(const uint8_t *p, uint64_t off, size_t n, unsigned salt) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != pat(off + i, salt)) return 0;
  return 1;
}

static int msg_has(const char *s) { return strstr(st_errmsg(), s) != NULL; }

static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static size_t read_whole(const char *path, uint8_t *buf, size_t cap) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return (size_t)-1;
  size_t n = fread(buf, 1, cap, fp);
  fclose(fp);
  return n;
}

/* ---- cases run on each backend --------------------------------------------------------------- */

static void t_env(void **state) {
  fio_env *env = ENV(state);
  ctx *c = *state;
  assert_int_equal(fio_env_backend(env), c->backend);
  assert_string_equal(fio_env_name(env), c->backend == FIO_URING ? "uring" : "sync");
  fio_env *f;
  assert_int_equal(fio_env_fault(env, &f), LSM_OK);
  assert_string_equal(fio_env_name(f), c->backend == FIO_URING ? "fault(uring)" : "fault(sync)");
  assert_int_equal(fio_env_backend(f), c->backend);
  fio_env_free(f);
  /* fault calls on a non-fault env */
  assert_int_equal(fio_fault_set(env, FIO_OP_ALL, 1, FIO_FAULT_ONCE), LSM_MISUSE);
  assert_int_equal(fio_fault_count(env, FIO_OP_ALL), 0);
}

static void t_open_errors(void **state) {
  fio_env *env = ENV(state);
  fio_file *f = NULL;
  assert_int_equal(fio_create(env, "a", FIO_RDWR, &f), LSM_OK);
  assert_int_equal(fio_close(f), LSM_OK);
  assert_int_equal(fio_create(env, "a", FIO_RDWR, &f), LSM_CANTOPEN);
  assert_null(f);
  assert_true(msg_has("already exists"));
  assert_int_equal(fio_open(env, "missing", FIO_RDONLY, &f), LSM_CANTOPEN);
  assert_true(msg_has("No such file"));
  assert_int_equal(fio_mkdir(env, "d"), LSM_OK);
  assert_int_equal(fio_mkdir(env, "d"), LSM_OK); /* exists as a directory: fine */
  assert_int_equal(fio_mkdir(env, "a"), LSM_CANTOPEN); /* exists as a file */
  assert_true(msg_has("not a directory"));
  assert_int_equal(fio_open(env, "d", FIO_RDONLY, &f), LSM_CANTOPEN);
  assert_true(msg_has("is a directory"));
  assert_int_equal(fio_open(env, "d", FIO_RDWR, &f), LSM_CANTOPEN);
  assert_true(msg_has("is a directory"));
  assert_int_equal(fio_open(env, "nodir/x", FIO_RDONLY, &f), LSM_CANTOPEN);
  assert_int_equal(fio_open(env, "a", 0, &f), LSM_MISUSE);
  assert_int_equal(fio_open(env, "a", FIO_RDWR | 64, &f), LSM_MISUSE);
  assert_int_equal(fio_close(NULL), LSM_OK);
}

static void t_rw(void **state) {
  fio_env *env = ENV(state);
  fio_file *f;
  uint8_t buf[20000], got_buf[20000];
  size_t got;
  uint64_t sz;
  assert_int_equal(fio_create(env, "f", FIO_RDWR, &f), LSM_OK);
  fill(buf, 0, sizeof buf, 1);
  assert_int_equal(fio_append(f, buf, 5000), LSM_OK);
  struct iovec v[3] = {{buf + 5000, 1}, {buf + 5001, 0}, {buf + 5001, 4999}};
  assert_int_equal(fio_appendv(f, v, 3), LSM_OK);
  assert_int_equal(fio_append(f, buf + 10000, 0), LSM_OK);
  assert_int_equal(fio_size(f, &sz), LSM_OK);
  assert_true(sz == 10000);
  assert_int_equal(fio_write_at(f, 10000, buf + 10000, 5000), LSM_OK); /* extends the end */
  struct iovec w[2] = {{buf + 15000, 3000}, {buf + 18000, 2000}};
  assert_int_equal(fio_writev_at(f, 15000, w, 2), LSM_OK);
  assert_int_equal(fio_sync(f), LSM_OK);
  assert_int_equal(fio_size(f, &sz), LSM_OK);
  assert_true(sz == 20000);
  memset(got_buf, 0, sizeof got_buf);
  assert_int_equal(fio_read_at(f, 0, got_buf, sizeof got_buf, &got), LSM_OK);
  assert_int_equal(got, 20000);
  assert_true(check(got_buf, 0, 20000, 1));
  /* short count at EOF, the rest of the buffer untouched */
  memset(got_buf, 0xAB, sizeof got_buf);
  assert_int_equal(fio_read_at(f, 19990, got_buf, 100, &got), LSM_OK);
  assert_int_equal(got, 10);
  assert_true(check(got_buf, 19990, 10, 1));
  for (int i = 10; i < 100; i++) assert_int_equal(got_buf[i], 0xAB);
  assert_int_equal(fio_read_at(f, 20000, got_buf, 100, &got), LSM_OK);
  assert_int_equal(got, 0);
  assert_int_equal(fio_read_at(f, 1u << 30, got_buf, 100, &got), LSM_OK);
  assert_int_equal(got, 0);
  /* vectored read across a hole in the iovec list */
  uint8_t a[7], b2[9000];
  struct iovec r[3] = {{a, 7}, {b2, 0}, {b2, 9000}};
  assert_int_equal(fio_readv_at(f, 11000, r, 3, &got), LSM_OK);
  assert_int_equal(got, 9000);
  assert_true(check(a, 11000, 7, 1));
  assert_true(check(b2, 11007, 8993, 1));
  /* an append after write_at goes at the new end */
  assert_int_equal(fio_append(f, buf, 10), LSM_OK);
  assert_int_equal(fio_read_at(f, 20000, got_buf, 10, &got), LSM_OK);
  assert_int_equal(got, 10);
  assert_memory_equal(got_buf, buf, 10);
  /* truncate moves the append offset */
  assert_int_equal(fio_truncate(f, 100), LSM_OK);
  assert_int_equal(fio_append(f, buf, 5), LSM_OK);
  assert_int_equal(fio_size(f, &sz), LSM_OK);
  assert_true(sz == 105);
  /* bad offsets */
  assert_int_equal(fio_write_at(f, (uint64_t)INT64_MAX, buf, 2), LSM_RANGE);
  assert_int_equal(fio_read_at(f, UINT64_MAX, got_buf, 1, &got), LSM_RANGE);
  assert_int_equal(fio_truncate(f, UINT64_MAX), LSM_RANGE);
  assert_int_equal(fio_readv_at(f, 0, r, 0, &got), LSM_MISUSE);
  assert_true(fio_fd(f) >= 0);
  assert_int_equal(fio_close(f), LSM_OK);
  /* open: the append offset starts at the size */
  assert_int_equal(fio_open(env, "f", FIO_WRONLY, &f), LSM_OK);
  assert_int_equal(fio_append(f, "xyz", 3), LSM_OK);
  assert_int_equal(fio_read_at(f, 0, got_buf, 1, &got), LSM_MISUSE); /* write-only */
  assert_int_equal(fio_close(f), LSM_OK);
  assert_int_equal(fio_open(env, "f", FIO_RDONLY, &f), LSM_OK);
  assert_int_equal(fio_read_at(f, 105, got_buf, 10, &got), LSM_OK);
  assert_int_equal(got, 3);
  assert_memory_equal(got_buf, "xyz", 3);
  assert_int_equal(fio_append(f, "q", 1), LSM_MISUSE); /* read-only */
  assert_true(msg_has("read-only"));
  assert_int_equal(fio_truncate(f, 0), LSM_MISUSE);
  assert_int_equal(fio_close(f), LSM_OK);
}

static void t_wrap_fd(void **state) {
  fio_env *env = ENV(state);
  int fd = open("w", O_RDWR | O_CREAT, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "hello", 5), 5);
  fio_file *f;
  assert_int_equal(fio_wrap_fd(env, -1, FIO_RDWR, &f), LSM_MISUSE);
  assert_int_equal(fio_wrap_fd(env, fd, FIO_RDWR, &f), LSM_OK);
  assert_int_equal(fio_fd(f), fd);
  assert_int_equal(fio_append(f, " world", 6), LSM_OK); /* append offset = size at wrap */
  assert_int_equal(fio_sync(f), LSM_OK);
  assert_int_equal(fio_close(f), LSM_OK);
  /* the fd is still the caller's and still open */
  assert_true(fcntl(fd, F_GETFD) >= 0);
  char b[16] = {0};
  assert_int_equal(pread(fd, b, sizeof b, 0), 11);
  assert_string_equal(b, "hello world");
  close(fd);
}

static void t_paths(void **state) {
  fio_env *env = ENV(state);
  int ex;
  assert_int_equal(fio_mkdir(env, "p"), LSM_OK);
  assert_int_equal(fio_write_atomic(env, "p/c", "3", 1), LSM_OK);
  assert_int_equal(fio_write_atomic(env, "p/a", "1", 1), LSM_OK);
  assert_int_equal(fio_write_atomic(env, "p/b", "2", 1), LSM_OK);
  assert_int_equal(fio_mkdir(env, "p/sub"), LSM_OK);
  char **names;
  int n;
  assert_int_equal(fio_list(env, "p", &names, &n), LSM_OK);
  assert_int_equal(n, 4);
  assert_string_equal(names[0], "a");
  assert_string_equal(names[1], "b");
  assert_string_equal(names[2], "c");
  assert_string_equal(names[3], "sub");
  fio_list_free(names, n);
  assert_int_equal(fio_list(env, "nope", &names, &n), LSM_CANTOPEN);
  assert_int_equal(fio_list(env, "p/a", &names, &n), LSM_CANTOPEN);
  assert_int_equal(fio_exists(env, "p/a", &ex), LSM_OK);
  assert_int_equal(ex, 1);
  assert_int_equal(fio_exists(env, "p/zz", &ex), LSM_OK);
  assert_int_equal(ex, 0);
  assert_int_equal(fio_exists(env, "p/a/zz", &ex), LSM_OK);
  assert_int_equal(ex, 0);
  assert_int_equal(fio_rename(env, "p/a", "p/b"), LSM_OK); /* replaces */
  assert_int_equal(fio_exists(env, "p/a", &ex), LSM_OK);
  assert_int_equal(ex, 0);
  uint8_t b[8];
  assert_int_equal(read_whole("p/b", b, sizeof b), 1);
  assert_int_equal(b[0], '1');
  assert_int_equal(fio_rename(env, "p/a", "p/x"), LSM_CANTOPEN);
  assert_int_equal(fio_delete(env, "p/b"), LSM_OK);
  assert_int_equal(fio_delete(env, "p/b"), LSM_CANTOPEN);
  assert_int_equal(fio_sync_dir(env, "p"), LSM_OK);
  assert_int_equal(fio_sync_dir(env, "."), LSM_OK);
  assert_int_equal(fio_sync_dir(env, "nope"), LSM_CANTOPEN);
  assert_int_equal(fio_list(env, "p", &names, &n), LSM_OK);
  assert_int_equal(n, 2); /* c, sub: no temp files left by write_atomic */
  fio_list_free(names, n);
  /* write_atomic replaces existing content whole, also a bigger and an empty one */
  uint8_t big[100000], rb[100001];
  fill(big, 0, sizeof big, 7);
  assert_int_equal(fio_write_atomic(env, "p/c", big, sizeof big), LSM_OK);
  assert_int_equal(read_whole("p/c", rb, sizeof rb), sizeof big);
  assert_memory_equal(rb, big, sizeof big);
  assert_int_equal(fio_write_atomic(env, "p/c", big, 0), LSM_OK);
  assert_int_equal(read_whole("p/c", rb, sizeof rb), 0);
  assert_false(file_exists("p/c.tmp"));
  /* into a missing directory: error, nothing left behind */
  assert_int_equal(fio_write_atomic(env, "nodir/c", big, 10), LSM_CANTOPEN);
}

static void t_direct(void **state) {
  fio_env *env = ENV(state);
  fio_file *f;
  int rc = fio_create(env, "dio", FIO_RDWR | FIO_DIRECT, &f);
  if (rc == LSM_CANTOPEN && msg_has("O_DIRECT not supported")) skip();
  assert_int_equal(rc, LSM_OK);
  size_t n = 64 * 1024;
  uint8_t *buf = fio_alloc_aligned(n), *rb = fio_alloc_aligned(n);
  assert_non_null(buf);
  assert_true(((uintptr_t)buf % FIO_ALIGN) == 0);
  fill(buf, 0, n, 3);
  assert_int_equal(fio_append(f, buf, n), LSM_OK);
  assert_int_equal(fio_write_at(f, n, buf, FIO_ALIGN), LSM_OK);
  assert_int_equal(fio_sync(f), LSM_OK);
  size_t got;
  assert_int_equal(fio_read_at(f, 0, rb, n, &got), LSM_OK);
  assert_int_equal(got, n);
  assert_memory_equal(rb, buf, n);
  assert_int_equal(fio_read_at(f, n, rb, 2 * FIO_ALIGN, &got), LSM_OK); /* short at EOF */
  assert_int_equal(got, FIO_ALIGN);
  assert_int_equal(fio_read_at(f, n + FIO_ALIGN, rb, FIO_ALIGN, &got), LSM_OK);
  assert_int_equal(got, 0);
  /* misaligned: offset, length, buffer */
  assert_int_equal(fio_read_at(f, 512, rb, FIO_ALIGN, &got), LSM_RANGE);
  assert_true(msg_has("aligned"));
  assert_int_equal(fio_read_at(f, 0, rb, 100, &got), LSM_RANGE);
  assert_int_equal(fio_read_at(f, 0, rb + 1, FIO_ALIGN, &got), LSM_RANGE);
  assert_int_equal(fio_write_at(f, 100, buf, FIO_ALIGN), LSM_RANGE);
  assert_int_equal(fio_append(f, buf, 10), LSM_RANGE);
  fio_stream *s;
  assert_int_equal(fio_stream_open(f, 1000, &s), LSM_RANGE);
  /* streamed read of the direct file, whole pages */
  assert_int_equal(fio_stream_open(f, 3 * FIO_ALIGN, &s), LSM_OK);
  const void *d;
  size_t dn, total = 0;
  for (;;) {
    assert_int_equal(fio_stream_next(s, &d, &dn), LSM_OK);
    if (!dn) break;
    assert_memory_equal(d, buf + (total % n), dn > n - total % n ? n - total % n : dn);
    total += dn;
  }
  assert_int_equal(total, n + FIO_ALIGN);
  fio_stream_close(s);
  fio_free_aligned(buf);
  fio_free_aligned(rb);
  fio_free_aligned(NULL);
  assert_int_equal(fio_close(f), LSM_OK);
}

/* Stream a file of `size` bytes (content pat(salt)) with chunk `chunk` and check every byte. */
static void stream_check(fio_file *f, size_t chunk, uint64_t size, unsigned salt) {
  fio_stream *s;
  assert_int_equal(fio_stream_open(f, chunk, &s), LSM_OK);
  uint64_t off = 0;
  const void *d;
  size_t n;
  for (;;) {
    assert_int_equal(fio_stream_next(s, &d, &n), LSM_OK);
    if (n == 0) break;
    assert_true(n == chunk || off + n == size);
    assert_true(check(d, off, n, salt));
    off += n;
  }
  assert_true(off == size);
  assert_int_equal(fio_stream_next(s, &d, &n), LSM_OK); /* stays at the end */
  assert_int_equal(n, 0);
  fio_stream_close(s);
}

static void t_stream(void **state) {
  fio_env *env = ENV(state);
  fio_file *f;
  assert_int_equal(fio_create(env, "s", FIO_RDWR, &f), LSM_OK);
  stream_check(f, 4096, 0, 5); /* empty */
  size_t size = 3 * 1024 * 1024 + 123;
  uint8_t *buf = malloc(size);
  fill(buf, 0, size, 5);
  assert_int_equal(fio_append(f, buf, size), LSM_OK);
  size_t chunks[] = {1, 4096, 65536, 1 << 20, size, size + 1, 3 * 1024 * 1024 + 100};
  for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
    if (chunks[i] == 1) { /* byte by byte is slow: a small file */
      fio_file *g;
      assert_int_equal(fio_create(env, "s1", FIO_RDWR, &g), LSM_OK);
      assert_int_equal(fio_append(g, buf, 1000), LSM_OK);
      stream_check(g, 1, 1000, 5);
      fio_close(g);
      continue;
    }
    stream_check(f, chunks[i], size, 5);
  }
  /* close mid-stream with a read-ahead in flight */
  fio_stream *s;
  const void *d;
  size_t n;
  assert_int_equal(fio_stream_open(f, 4096, &s), LSM_OK);
  assert_int_equal(fio_stream_next(s, &d, &n), LSM_OK);
  assert_int_equal(n, 4096);
  fio_stream_close(s);
  fio_stream_close(NULL);
  assert_int_equal(fio_stream_open(f, 0, &s), LSM_MISUSE);
  free(buf);
  fio_close(f);
}

/* >= 1 GiB streamed write + read with an XXH3 checksum over all bytes; times printed. */
static void t_stream_1g(void **state) {
  fio_env *env = ENV(state);
  const size_t chunk = 4u << 20;
  const uint64_t total = (uint64_t)1 << 30;
  uint8_t *buf = fio_alloc_aligned(chunk);
  assert_non_null(buf);
  fill(buf, 0, chunk, 11);
  fio_file *f;
  assert_int_equal(fio_create(env, "big", FIO_RDWR, &f), LSM_OK);
  XXH3_state_t *hw = XXH3_createState(), *hr = XXH3_createState();
  XXH3_64bits_reset(hw);
  XXH3_64bits_reset(hr);
  struct timespec t0, t1, t2;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (uint64_t off = 0; off < total; off += chunk) {
    /* vary the content per chunk so misplaced chunks change the checksum */
    memcpy(buf, &off, sizeof off);
    XXH3_64bits_update(hw, buf, chunk);
    assert_int_equal(fio_append(f, buf, chunk), LSM_OK);
  }
  assert_int_equal(fio_sync(f), LSM_OK);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  fio_stream *s;
  /* a chunk size unlike the write size, so reads straddle the writes */
  assert_int_equal(fio_stream_open(f, 3u << 20, &s), LSM_OK);
  uint64_t seen = 0;
  const void *d;
  size_t n;
  for (;;) {
    assert_int_equal(fio_stream_next(s, &d, &n), LSM_OK);
    if (!n) break;
    XXH3_64bits_update(hr, d, n);
    seen += n;
  }
  fio_stream_close(s);
  clock_gettime(CLOCK_MONOTONIC, &t2);
  assert_true(seen == total);
  assert_true(XXH3_64bits_digest(hw) == XXH3_64bits_digest(hr));
  print_message("%s: 1 GiB streamed write+fdatasync %.2f s, streamed read %.2f s\n",
                fio_env_name(env), (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
                (t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9);
  XXH3_freeState(hw);
  XXH3_freeState(hr);
  fio_free_aligned(buf);
  assert_int_equal(fio_close(f), LSM_OK);
  assert_int_equal(fio_delete(env, "big"), LSM_OK);
}

static void t_batch(void **state) {
  fio_env *env = ENV(state);
  unsigned seed = (unsigned)time(NULL);
  print_message("seed %u\n", seed);
  srand(seed);
  const size_t size = 1 << 20;
  uint8_t *buf = malloc(size);
  fill(buf, 0, size, 9);
  fio_file *f;
  assert_int_equal(fio_create(env, "b", FIO_RDWR, &f), LSM_OK);
  assert_int_equal(fio_append(f, buf, size), LSM_OK);
  fio_batch *b;
  assert_int_equal(fio_batch_new(env, &b), LSM_OK);
  /* 300 reads (more than a ring holds) at random offsets, some straddling or past the end */
  enum { N = 300 };
  static uint8_t out[N][5000];
  uint64_t offs[N];
  size_t lens[N];
  for (int i = 0; i < N; i++) {
    offs[i] = (uint64_t)rand() % (size + 6000);
    lens[i] = 1 + (size_t)rand() % 5000;
    memset(out[i], 0xEE, sizeof out[i]);
    assert_int_equal(fio_batch_read(b, f, offs[i], out[i], lens[i]), i);
  }
  assert_int_equal(fio_batch_count(b), N);
  assert_int_equal(fio_batch_run(b), LSM_OK);
  for (int i = 0; i < N; i++) {
    size_t done;
    assert_int_equal(fio_batch_result(b, i, &done), LSM_OK);
    size_t want = offs[i] >= size ? 0 : (offs[i] + lens[i] > size ? size - offs[i] : lens[i]);
    assert_int_equal(done, want);
    assert_true(check(out[i], offs[i], done, 9));
    if (done < sizeof out[i]) assert_int_equal(out[i][done], 0xEE);
  }
  assert_int_equal(fio_batch_run(b), LSM_MISUSE); /* runs once */
  assert_int_equal(fio_batch_result(b, N, NULL), LSM_RANGE);
  /* writes, writev and a sync in one batch, then read back */
  fio_batch_reset(b);
  assert_int_equal(fio_batch_count(b), 0);
  uint8_t w[8][4096];
  for (int i = 0; i < 8; i++) {
    fill(w[i], size + (uint64_t)i * 4096, 4096, 21);
    if (i < 6) {
      assert_int_equal(fio_batch_write(b, f, size + (uint64_t)i * 4096, w[i], 4096), i);
    }
  }
  struct iovec v[2] = {{w[6], 4096}, {w[7], 4096}};
  assert_int_equal(fio_batch_writev(b, f, size + 6 * 4096, v, 2), 6);
  assert_int_equal(fio_batch_sync(b, f), 7);
  assert_int_equal(fio_batch_write(b, f, 0, w[0], 0), 8); /* empty write */
  assert_int_equal(fio_batch_run(b), LSM_OK);
  for (int i = 0; i < 9; i++) {
    size_t done;
    assert_int_equal(fio_batch_result(b, i, &done), LSM_OK);
    assert_int_equal(done, i < 6 ? 4096 : i == 6 ? 8192 : 0);
  }
  uint8_t rb[8 * 4096];
  size_t got;
  assert_int_equal(fio_read_at(f, size, rb, sizeof rb, &got), LSM_OK);
  assert_int_equal(got, sizeof rb);
  assert_true(check(rb, size, sizeof rb, 21));
  uint64_t sz;
  assert_int_equal(fio_size(f, &sz), LSM_OK);
  assert_true(sz == size + sizeof rb);
  assert_int_equal(fio_append(f, "z", 1), LSM_OK); /* batch writes moved the append offset */
  assert_int_equal(fio_size(f, &sz), LSM_OK);
  assert_true(sz == size + sizeof rb + 1);
  /* a sync orders the batch: a read queued after it sees a write queued before it */
  fio_batch_reset(b);
  uint8_t nw[3000], after[3000];
  fill(nw, 0, sizeof nw, 99);
  assert_int_equal(fio_batch_write(b, f, 70000, nw, sizeof nw), 0);
  for (int i = 0; i < 40; i++)
    assert_int_equal(fio_batch_read(b, f, (uint64_t)i * 1000, out[i], 1000), i + 1);
  assert_int_equal(fio_batch_sync(b, f), 41);
  assert_int_equal(fio_batch_read(b, f, 70000, after, sizeof after), 42);
  assert_int_equal(fio_batch_run(b), LSM_OK);
  assert_memory_equal(after, nw, sizeof nw);
  for (int i = 0; i < 40; i++) assert_true(check(out[i], (uint64_t)i * 1000, 1000, 9));
  /* one failing request reported on its own: a read on an fd that is really write-only */
  int wfd = open("b", O_WRONLY);
  assert_true(wfd >= 0);
  fio_file *wf;
  assert_int_equal(fio_wrap_fd(env, wfd, FIO_RDWR, &wf), LSM_OK);
  fio_batch_reset(b);
  for (int i = 0; i < 10; i++) {
    fio_file *t = i == 4 ? wf : f;
    assert_int_equal(fio_batch_read(b, t, (uint64_t)i * 1000, out[i], 1000), i);
  }
  assert_int_equal(fio_batch_run(b), LSM_IOERR_READ);
  assert_true(msg_has("read"));
  for (int i = 0; i < 10; i++) {
    size_t done;
    int rc = fio_batch_result(b, i, &done);
    if (i == 4) {
      assert_int_equal(rc, LSM_IOERR_READ);
      assert_int_equal(done, 0);
    } else {
      assert_int_equal(rc, LSM_OK);
      assert_int_equal(done, 1000);
      assert_true(check(out[i], (uint64_t)i * 1000, 1000, 9));
    }
  }
  /* queue-time errors */
  fio_batch_reset(b);
  fio_file *ro;
  assert_int_equal(fio_open(env, "b", FIO_RDONLY, &ro), LSM_OK);
  assert_int_equal(fio_batch_write(b, ro, 0, w[0], 10), -LSM_MISUSE);
  assert_int_equal(fio_batch_read(b, f, UINT64_MAX - 5, out[0], 10), -LSM_RANGE);
  assert_int_equal(fio_batch_count(b), 0);
  assert_int_equal(fio_batch_run(b), LSM_OK); /* empty */
  fio_close(ro);
  fio_close(wf);
  close(wfd);
  fio_batch_free(b);
  fio_batch_free(NULL);
  free(buf);
  fio_close(f);
}

static void t_batch_direct(void **state) {
  fio_env *env = ENV(state);
  fio_file *f;
  int rc = fio_create(env, "bd", FIO_RDWR | FIO_DIRECT, &f);
  if (rc == LSM_CANTOPEN && msg_has("O_DIRECT not supported")) skip();
  assert_int_equal(rc, LSM_OK);
  const size_t pages = 256;
  uint8_t *buf = fio_alloc_aligned(pages * FIO_ALIGN);
  fill(buf, 0, pages * FIO_ALIGN, 13);
  fio_batch *b;
  assert_int_equal(fio_batch_new(env, &b), LSM_OK);
  /* batch write of every page, then a sync */
  for (size_t i = 0; i < pages; i++)
    assert_true(fio_batch_write(b, f, i * FIO_ALIGN, buf + i * FIO_ALIGN, FIO_ALIGN) >= 0);
  assert_true(fio_batch_sync(b, f) >= 0);
  assert_int_equal(fio_batch_run(b), LSM_OK);
  fio_batch_reset(b);
  /* 64 reads of random pages in flight at once, plus one at EOF */
  unsigned seed = (unsigned)time(NULL) ^ 77;
  print_message("seed %u\n", seed);
  srand(seed);
  uint8_t *rb = fio_alloc_aligned(65 * FIO_ALIGN);
  size_t pg[64];
  for (int i = 0; i < 64; i++) {
    pg[i] = (size_t)rand() % pages;
    assert_int_equal(fio_batch_read(b, f, pg[i] * FIO_ALIGN, rb + i * FIO_ALIGN, FIO_ALIGN), i);
  }
  assert_int_equal(fio_batch_read(b, f, pages * FIO_ALIGN, rb + 64 * FIO_ALIGN, FIO_ALIGN), 64);
  assert_int_equal(fio_batch_read(b, f, 1, rb, FIO_ALIGN), -LSM_RANGE); /* misaligned */
  assert_int_equal(fio_batch_write(b, f, 0, buf + 1, FIO_ALIGN), -LSM_RANGE);
  assert_int_equal(fio_batch_run(b), LSM_OK);
  for (int i = 0; i < 65; i++) {
    size_t done;
    assert_int_equal(fio_batch_result(b, i, &done), LSM_OK);
    assert_int_equal(done, i < 64 ? FIO_ALIGN : 0);
    if (i < 64) assert_true(check(rb + i * FIO_ALIGN, pg[i] * FIO_ALIGN, FIO_ALIGN, 13));
  }
  /* direct writev, sync, then a read of it in the same batch (the sync orders them) */
  fio_batch_reset(b);
  uint8_t *nw = fio_alloc_aligned(2 * FIO_ALIGN);
  fill(nw, 0, 2 * FIO_ALIGN, 14);
  struct iovec v[2] = {{nw, FIO_ALIGN}, {nw + FIO_ALIGN, FIO_ALIGN}};
  assert_int_equal(fio_batch_writev(b, f, 8 * FIO_ALIGN, v, 2), 0);
  assert_int_equal(fio_batch_sync(b, f), 1);
  assert_int_equal(fio_batch_read(b, f, 8 * FIO_ALIGN, rb, 2 * FIO_ALIGN), 2);
  assert_int_equal(fio_batch_run(b), LSM_OK);
  assert_memory_equal(rb, nw, 2 * FIO_ALIGN);
  fio_free_aligned(nw);
  fio_batch_free(b);
  fio_free_aligned(rb);
  fio_free_aligned(buf);
  fio_close(f);
}

/* A read that cannot complete before another process writes: one end of a pipe, read through a
** uring batch (the ring reads a pipe at offset 0 as a stream). The writer is a child process,
** not a thread: valgrind runs one thread of a process at a time and holds its lock through
** io_uring_enter, so a writer thread would never run while the batch waits. */
static const char late_msg[] = "late bytes";

/* The budget runs out and the wait sleeps: a batch whose read completes only 20 ms after its
** submission, polled for 1 us, is counted as slept (and not as polled), and its data arrives. */
static void batch_poll_sleeps(fio_env *env) {
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  fio_file *pf;
  assert_int_equal(fio_wrap_fd(env, pfd[0], FIO_RDONLY, &pf), LSM_OK);
  fio_batch *b;
  assert_int_equal(fio_batch_new(env, &b), LSM_OK);
  fio_env_set_poll(env, 1);
  uint64_t p0, s0, polled, slept;
  fio_env_poll_counts(env, &p0, &s0);
  char got[sizeof late_msg] = {0};
  const size_t n = sizeof late_msg - 1;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    usleep(20000);
    _exit(write(pfd[1], late_msg, n) == (ssize_t)n ? 0 : 1);
  }
  assert_int_equal(fio_batch_read(b, pf, 0, got, n), 0);
  assert_int_equal(fio_batch_run(b), LSM_OK);
  int wst;
  assert_int_equal(waitpid(pid, &wst, 0), pid);
  assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
  size_t done;
  assert_int_equal(fio_batch_result(b, 0, &done), LSM_OK);
  assert_int_equal(done, n);
  assert_string_equal(got, late_msg);
  fio_env_poll_counts(env, &polled, &slept);
  assert_int_equal(polled, p0);
  assert_true(slept > s0);
  fio_env_set_poll(env, 0);
  fio_batch_free(b);
  assert_int_equal(fio_close(pf), LSM_OK);
  close(pfd[0]);
  close(pfd[1]);
}

/* fio_env_set_poll: batch waits poll first on uring (counted), never on sync; the data is the
** same either way. A budget far shorter than a device read runs out and the wait sleeps. */
static void t_batch_poll(void **state) {
  fio_env *env = ENV(state);
  ctx *c = *state;
  fio_file *f;
  assert_int_equal(fio_create(env, "bp", FIO_RDWR, &f), LSM_OK);
  const size_t n = 64 * 1024;
  uint8_t *buf = malloc(n), out[16][512];
  fill(buf, 0, n, 21);
  size_t done;
  assert_int_equal(fio_write_at(f, 0, buf, n), LSM_OK);
  uint64_t polled, slept, p0, s0;
  fio_env_poll_counts(env, &polled, &slept);
  assert_true(polled == 0 && slept == 0);
  fio_batch *b;
  assert_int_equal(fio_batch_new(env, &b), LSM_OK);
  for (int round = 0; round < 3; round++) { /* budget 0 (no polling), 100 ms, 0 again */
    fio_env_set_poll(env, round == 1 ? 100000 : 0);
    fio_env_poll_counts(env, &p0, &s0);
    fio_batch_reset(b);
    for (int i = 0; i < 16; i++)
      assert_int_equal(fio_batch_read(b, f, (uint64_t)i * 4001, out[i], 512), i);
    assert_int_equal(fio_batch_run(b), LSM_OK);
    for (int i = 0; i < 16; i++) {
      assert_int_equal(fio_batch_result(b, i, &done), LSM_OK);
      assert_int_equal(done, 512);
      assert_true(check(out[i], (uint64_t)i * 4001, 512, 21));
    }
    fio_env_poll_counts(env, &polled, &slept);
    assert_int_equal(slept, s0); /* cached pages: never a sleep after 100 ms of polling */
    if (round == 1 && c->backend == FIO_URING) assert_true(polled > p0);
    else assert_int_equal(polled, p0);
  }
  fio_batch_free(b);
  fio_close(f);
  free(buf);
  /* O_DIRECT reads take a device round trip, far longer than a 1 us budget: waits sleep. */
  int rc = fio_create(env, "bpd", FIO_RDWR | FIO_DIRECT, &f);
  if (rc == LSM_CANTOPEN && msg_has("O_DIRECT not supported")) return;
  assert_int_equal(rc, LSM_OK);
  uint8_t *al = fio_alloc_aligned(16 * FIO_ALIGN);
  fill(al, 0, 16 * FIO_ALIGN, 22);
  assert_int_equal(fio_write_at(f, 0, al, 16 * FIO_ALIGN), LSM_OK);
  memset(al, 0, 16 * FIO_ALIGN);
  fio_env_set_poll(env, 1);
  fio_env_poll_counts(env, &p0, &s0);
  assert_int_equal(fio_batch_new(env, &b), LSM_OK);
  for (int i = 0; i < 16; i++)
    assert_int_equal(fio_batch_read(b, f, (uint64_t)(15 - i) * FIO_ALIGN, al + i * FIO_ALIGN, FIO_ALIGN), i);
  assert_int_equal(fio_batch_run(b), LSM_OK);
  for (int i = 0; i < 16; i++) {
    assert_int_equal(fio_batch_result(b, i, &done), LSM_OK);
    assert_int_equal(done, FIO_ALIGN);
    assert_true(check(al + i * FIO_ALIGN, (uint64_t)(15 - i) * FIO_ALIGN, FIO_ALIGN, 22));
  }
  fio_env_poll_counts(env, &polled, &slept);
  /* Each wait is counted once, as polled or slept. Which one is the device's: on a VM whose
  ** disk completes a request while the submitting call is still in the kernel (seen on one
  ** Firecracker host), all 16 are done at the first look, inside the 1 us budget. */
  if (c->backend == FIO_URING) assert_true(polled + slept > p0 + s0);
  else assert_true(polled == p0 && slept == s0);
  fio_batch_free(b);
  fio_free_aligned(al);
  fio_close(f);
  if (c->backend == FIO_URING) batch_poll_sleeps(env);
}

/* Many threads sharing one env (ring pool on uring): batches and single reads at once. */
typedef struct {
  fio_env *env;
  fio_file *f;
  int id, ok;
} thr_arg;

static void *thr_main(void *p) {
  thr_arg *a = p;
  fio_batch *b;
  uint8_t out[16][512];
  a->ok = 0;
  if (fio_batch_new(a->env, &b)) return NULL;
  for (int round = 0; round < 50; round++) {
    fio_batch_reset(b);
    for (int i = 0; i < 16; i++)
      if (fio_batch_read(b, a->f, (uint64_t)(a->id * 997 + round * 131 + i * 4099) % 60000,
                         out[i], 512) != i)
        goto out;
    if (fio_batch_run(b)) goto out;
    for (int i = 0; i < 16; i++) {
      size_t done;
      uint64_t off = (uint64_t)(a->id * 997 + round * 131 + i * 4099) % 60000;
      if (fio_batch_result(b, i, &done) || done != 512 || !check(out[i], off, 512, 17)) goto out;
    }
    size_t got;
    uint8_t one[100];
    if (fio_read_at(a->f, (uint64_t)round * 100, one, 100, &got) || got != 100 ||
        !check(one, (uint64_t)round * 100, 100, 17))
      goto out;
  }
  a->ok = 1;
out:
  fio_batch_free(b);
  return NULL;
}

static void t_threads(void **state) {
  fio_env *env = ENV(state);
  fio_file *f;
  uint8_t buf[65536];
  fill(buf, 0, sizeof buf, 17);
  assert_int_equal(fio_create(env, "t", FIO_RDWR, &f), LSM_OK);
  assert_int_equal(fio_append(f, buf, sizeof buf), LSM_OK);
  pthread_t th[6];
  thr_arg a[6];
  for (int i = 0; i < 6; i++) {
    a[i] = (thr_arg){env, f, i, 0};
    assert_int_equal(pthread_create(&th[i], NULL, thr_main, &a[i]), 0);
  }
  for (int i = 0; i < 6; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(a[i].ok, 1);
  }
  fio_close(f);
}

/* Batches of 64 reads of f (content salt 17) at offsets from `seed`; 0 if all correct. */
static int batch_reads_ok(fio_env *env, fio_file *f, unsigned seed) {
  fio_batch *b;
  static uint8_t out[64][700];
  uint64_t off[64];
  if (fio_batch_new(env, &b)) return 0;
  int ok = 1;
  for (int round = 0; round < 20 && ok; round++) {
    fio_batch_reset(b);
    for (int i = 0; i < 64; i++) {
      off[i] = (seed * 7919u + (unsigned)round * 104729u + (unsigned)i * 613u) % 60000;
      if (fio_batch_read(b, f, off[i], out[i], 700) != i) ok = 0;
    }
    if (!ok || fio_batch_run(b)) ok = 0;
    for (int i = 0; i < 64 && ok; i++) {
      size_t done;
      if (fio_batch_result(b, i, &done) || done != 700 || !check(out[i], off[i], 700, 17)) ok = 0;
    }
  }
  fio_batch_free(b);
  return ok;
}

/* A child keeps using the env it inherited while the parent does too (the uring pool must not
** share the parent's rings with the child). */
static void t_fork(void **state) {
  fio_env *env = ENV(state);
  fio_file *f;
  uint8_t buf[65536];
  fill(buf, 0, sizeof buf, 17);
  assert_int_equal(fio_create(env, "fk", FIO_RDWR, &f), LSM_OK);
  assert_int_equal(fio_append(f, buf, sizeof buf), LSM_OK);
  assert_true(batch_reads_ok(env, f, 1)); /* the pool now holds a used ring */
  alarm(120); /* a corrupted ring could hang instead of failing */
  for (int concurrent = 0; concurrent < 2; concurrent++) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      /* an odd number of requests, so a ring shared with the parent would end out of step */
      fio_batch *b;
      uint8_t one[10];
      int ok = fio_batch_new(env, &b) == LSM_OK && fio_batch_read(b, f, 0, one, 10) == 0 &&
               fio_batch_run(b) == LSM_OK && check(one, 0, 10, 17);
      fio_batch_free(b);
      _exit(ok && batch_reads_ok(env, f, 2) && batch_reads_ok(env, f, 3) ? 0 : 1);
    }
    /* first the child alone then the parent (a shared ring would now be out of step, a
    ** deterministic failure), then both at once */
    int parent_ok = concurrent ? batch_reads_ok(env, f, 4) : 1;
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(parent_ok);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(batch_reads_ok(env, f, 5));
  }
  alarm(0);
  fio_close(f);
}

static void t_lock(void **state) {
  fio_env *env = ENV(state);
  fio_file *l, *l2;
  assert_int_equal(fio_lock(env, "LOCK", &l), LSM_OK);
  /* the same process, another open: busy as well (flock is per open file) */
  assert_int_equal(fio_lock(env, "LOCK", &l2), LSM_BUSY);
  assert_true(msg_has("locked by another process"));
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    fio_file *c;
    int rc = fio_lock(env, "LOCK", &c);
    _exit(rc == LSM_BUSY && strstr(st_errmsg(), "locked by another process") ? 0 : 1);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_int_equal(fio_close(l), LSM_OK);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    fio_file *c;
    int rc = fio_lock(env, "LOCK", &c);
    _exit(rc == LSM_OK ? 0 : 1);
  }
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_int_equal(fio_lock(env, "LOCK", &l), LSM_OK);
  fio_close(l);
}

/* Short writes for real: RLIMIT_FSIZE makes the kernel write only up to the limit (a short
** count), then fail the rest with EFBIG (LSM_FULL). Checks the continue-the-remainder paths of
** the single call and of the batch (on uring: an O_DIRECT writev resubmitted on the ring). In a
** child, so the limit stays there. */
static void t_short_write(void **state) {
  ENV(state);
  ctx *c = *state;
  for (int direct = 0; direct < 2; direct++) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      fio_env *env;
      fio_file *f;
      if (fio_env_new(c->backend, &env)) _exit(10);
      int rc = fio_create(env, direct ? "swd" : "sw", FIO_RDWR | (direct ? FIO_DIRECT : 0), &f);
      if (rc == LSM_CANTOPEN && direct) _exit(0); /* no O_DIRECT here */
      if (rc) _exit(11);
      signal(SIGXFSZ, SIG_IGN);
      struct rlimit rl = {2 * FIO_ALIGN, 2 * FIO_ALIGN};
      if (setrlimit(RLIMIT_FSIZE, &rl)) _exit(12);
      uint8_t *buf = fio_alloc_aligned(3 * FIO_ALIGN), *rb = fio_alloc_aligned(3 * FIO_ALIGN);
      fill(buf, 0, 3 * FIO_ALIGN, 55);
      struct iovec v[3] = {{buf, FIO_ALIGN}, {buf + FIO_ALIGN, FIO_ALIGN},
                           {buf + 2 * FIO_ALIGN, FIO_ALIGN}};
      if (fio_writev_at(f, 0, v, 3) != LSM_FULL) _exit(13);
      uint64_t sz;
      size_t got, done;
      if (fio_size(f, &sz) || sz != 2 * FIO_ALIGN) _exit(14);
      if (fio_read_at(f, 0, rb, 3 * FIO_ALIGN, &got) || got != 2 * FIO_ALIGN ||
          !check(rb, 0, got, 55))
        _exit(15);
      if (fio_truncate(f, 0)) _exit(16);
      fio_batch *b;
      if (fio_batch_new(env, &b) || fio_batch_writev(b, f, 0, v, 3) != 0) _exit(17);
      if (fio_batch_run(b) != LSM_FULL) _exit(18);
      if (fio_batch_result(b, 0, &done) != LSM_FULL) _exit(19);
      if (direct && c->backend == FIO_URING && done != 2 * FIO_ALIGN) _exit(20);
      memset(rb, 0, 3 * FIO_ALIGN);
      if (fio_read_at(f, 0, rb, 3 * FIO_ALIGN, &got) || got != 2 * FIO_ALIGN ||
          !check(rb, 0, got, 55))
        _exit(21);
      /* under the limit everything works */
      if (fio_truncate(f, 0) || fio_writev_at(f, 0, v, 2)) _exit(22);
      fio_batch_free(b);
      fio_free_aligned(buf);
      fio_free_aligned(rb);
      fio_close(f);
      fio_env_free(env);
      _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st)) fail_msg("direct=%d: child check %d failed", direct, WEXITSTATUS(st));
  }
}

/* ---- fault wrapper --------------------------------------------------------------------------- */

typedef struct hold_arg {
  fio_env *env;
  _Atomic int done;
  int rc;
} hold_arg;

static void *hold_delete(void *p) {
  hold_arg *a = p;
  a->rc = fio_delete(a->env, "fh");
  atomic_store(&a->done, 1);
  return NULL;
}

/* HOLD: the nth matching op waits (other ops go on) until fio_fault_clear, then runs normally. */
static void t_fault_hold(void **state) {
  fio_env *inner = ENV(state), *env;
  assert_int_equal(fio_env_fault(inner, &env), LSM_OK);
  fio_file *f;
  assert_int_equal(fio_create(env, "fh", FIO_RDWR, &f), LSM_OK);
  assert_int_equal(fio_append(f, "abc", 3), LSM_OK);
  assert_int_equal(fio_close(f), LSM_OK);
  assert_int_equal(fio_fault_set(env, FIO_OP_DELETE, 1, FIO_FAULT_HOLD), LSM_OK);
  long before = fio_fault_count(env, FIO_OP_DELETE);
  hold_arg a = {env, 0, -1};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, hold_delete, &a), 0);
  while (fio_fault_count(env, FIO_OP_DELETE) == before) usleep(1000);
  usleep(50000);
  assert_int_equal(atomic_load(&a.done), 0); /* held */
  assert_true(file_exists("fh"));
  size_t got;
  char rb[3];
  assert_int_equal(fio_open(env, "fh", FIO_RDONLY, &f), LSM_OK); /* other ops are not held */
  assert_int_equal(fio_read_at(f, 0, rb, 3, &got), LSM_OK);
  assert_int_equal(fio_close(f), LSM_OK);
  fio_fault_clear(env);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(a.rc, LSM_OK);
  assert_false(file_exists("fh"));
  fio_env_free(env);
}

static void t_fault_kinds(void **state) {
  fio_env *inner = ENV(state), *env;
  assert_int_equal(fio_env_fault(inner, &env), LSM_OK);
  fio_file *f;
  uint8_t buf[4096], rb[4096];
  size_t got;
  uint64_t sz;
  fill(buf, 0, sizeof buf, 31);
  assert_int_equal(fio_create(env, "ft", FIO_RDWR, &f), LSM_OK);
  assert_int_equal(fio_fault_set(env, 0, 1, FIO_FAULT_ONCE), LSM_MISUSE);
  assert_int_equal(fio_fault_set(env, FIO_OP_WRITE, 0, FIO_FAULT_ONCE), LSM_MISUSE);
  assert_int_equal(fio_fault_set(env, FIO_OP_WRITE, 1, 9), LSM_MISUSE);
  /* ONCE: the 2nd write fails, the 3rd works */
  assert_int_equal(fio_fault_set(env, FIO_OP_WRITE, 2, FIO_FAULT_ONCE), LSM_OK);
  assert_int_equal(fio_append(f, buf, 100), LSM_OK);
  assert_int_equal(fio_append(f, buf + 100, 100), LSM_IOERR_WRITE);
  assert_int_equal(fio_append(f, buf + 100, 100), LSM_OK); /* the failed append left no gap */
  assert_int_equal(fio_read_at(f, 0, rb, 200, &got), LSM_OK);
  assert_int_equal(got, 200);
  assert_true(check(rb, 0, 200, 31));
  /* FROM: the 1st read and all later fail; other op classes unaffected */
  assert_int_equal(fio_fault_set(env, FIO_OP_READ, 1, FIO_FAULT_FROM), LSM_OK);
  for (int i = 0; i < 3; i++) assert_int_equal(fio_read_at(f, 0, rb, 10, &got), LSM_IOERR_READ);
  assert_int_equal(fio_append(f, buf, 10), LSM_OK);
  fio_fault_clear(env);
  assert_int_equal(fio_read_at(f, 0, rb, 10, &got), LSM_OK);
  assert_int_equal(fio_truncate(f, 0), LSM_OK);
  /* SHORT: half stored, LSM_FULL */
  assert_int_equal(fio_fault_set(env, FIO_OP_WRITE, 1, FIO_FAULT_SHORT), LSM_OK);
  assert_int_equal(fio_append(f, buf, 3000), LSM_FULL);
  assert_int_equal(fio_size(f, &sz), LSM_OK);
  assert_true(sz == 1500);
  assert_int_equal(fio_read_at(f, 0, rb, 3000, &got), LSM_OK);
  assert_int_equal(got, 1500);
  assert_true(check(rb, 0, 1500, 31));
  /* TORN: a 512-rounded prefix, then an IO error; the retry overwrites it */
  assert_int_equal(fio_truncate(f, 0), LSM_OK);
  assert_int_equal(fio_fault_set(env, FIO_OP_WRITE, 1, FIO_FAULT_TORN), LSM_OK);
  struct iovec v[2] = {{buf, 1000}, {buf + 1000, 2000}};
  assert_int_equal(fio_appendv(f, v, 2), LSM_IOERR_WRITE);
  assert_int_equal(fio_size(f, &sz), LSM_OK);
  assert_true(sz == 1024);
  assert_int_equal(fio_appendv(f, v, 2), LSM_OK);
  assert_int_equal(fio_size(f, &sz), LSM_OK);
  assert_true(sz == 3000);
  /* TRUNCATE, RENAME, DELETE */
  assert_int_equal(fio_fault_set(env, FIO_OP_TRUNCATE, 1, FIO_FAULT_ONCE), LSM_OK);
  assert_int_equal(fio_truncate(f, 10), LSM_IOERR_TRUNCATE);
  assert_int_equal(fio_fault_set(env, FIO_OP_RENAME, 1, FIO_FAULT_ONCE), LSM_OK);
  assert_int_equal(fio_rename(env, "ft", "ft2"), LSM_IOERR_RENAME);
  assert_true(file_exists("ft"));
  assert_int_equal(fio_fault_set(env, FIO_OP_DELETE, 1, FIO_FAULT_ONCE), LSM_OK);
  assert_int_equal(fio_delete(env, "ft"), LSM_IOERR_DELETE);
  assert_true(file_exists("ft"));
  /* SYNC: a failed sync makes the file sticky */
  assert_int_equal(fio_fault_set(env, FIO_OP_SYNC, 1, FIO_FAULT_ONCE), LSM_OK);
  assert_int_equal(fio_sync_dir(env, "."), LSM_IOERR_DIR_FSYNC);
  assert_int_equal(fio_fault_set(env, FIO_OP_SYNC, 1, FIO_FAULT_ONCE), LSM_OK);
  assert_int_equal(fio_sync(f), LSM_IOERR_FSYNC);
  assert_int_equal(fio_sync(f), LSM_IOERR_FSYNC); /* sticky, though the fault is spent */
  assert_int_equal(fio_append(f, buf, 1), LSM_IOERR_FSYNC);
  assert_true(msg_has("earlier sync failed"));
  assert_int_equal(fio_read_at(f, 0, rb, 10, &got), LSM_OK); /* reads still work */
  fio_close(f);
  assert_int_equal(fio_open(env, "ft", FIO_RDWR, &f), LSM_OK); /* reopened: usable again */
  assert_int_equal(fio_append(f, buf, 1), LSM_OK);
  assert_int_equal(fio_sync(f), LSM_OK);
  /* counts per class */
  long w = fio_fault_count(env, FIO_OP_WRITE), r = fio_fault_count(env, FIO_OP_READ);
  assert_int_equal(fio_read_at(f, 0, rb, 10, &got), LSM_OK);
  assert_int_equal(fio_fault_count(env, FIO_OP_READ), r + 1);
  assert_int_equal(fio_fault_count(env, FIO_OP_WRITE), w);
  assert_int_equal(fio_fault_count(env, FIO_OP_READ | FIO_OP_WRITE), r + 1 + w);
  assert_true(fio_fault_count(env, FIO_OP_ALL) > r + 1 + w);
  /* batch on the fault env: the 3rd read fails alone */
  fio_batch *b;
  uint8_t out[5][10];
  assert_int_equal(fio_batch_new(env, &b), LSM_OK);
  for (int i = 0; i < 5; i++) assert_int_equal(fio_batch_read(b, f, (uint64_t)i, out[i], 10), i);
  assert_int_equal(fio_fault_set(env, FIO_OP_READ, 3, FIO_FAULT_ONCE), LSM_OK);
  assert_int_equal(fio_batch_run(b), LSM_IOERR_READ);
  for (int i = 0; i < 5; i++)
    assert_int_equal(fio_batch_result(b, i, NULL), i == 2 ? LSM_IOERR_READ : LSM_OK);
  /* a failed batch sync is sticky too */
  fio_batch_reset(b);
  assert_int_equal(fio_batch_write(b, f, 0, buf, 10), 0);
  assert_int_equal(fio_batch_sync(b, f), 1);
  assert_int_equal(fio_fault_set(env, FIO_OP_SYNC, 1, FIO_FAULT_ONCE), LSM_OK);
  assert_int_equal(fio_batch_run(b), LSM_IOERR_FSYNC);
  assert_int_equal(fio_batch_result(b, 0, NULL), LSM_OK);
  assert_int_equal(fio_sync(f), LSM_IOERR_FSYNC);
  fio_batch_free(b);
  /* streams see read faults */
  fio_fault_clear(env);
  fio_stream *s;
  const void *d;
  size_t n;
  assert_int_equal(fio_stream_open(f, 1000, &s), LSM_OK);
  assert_int_equal(fio_fault_set(env, FIO_OP_READ, 2, FIO_FAULT_ONCE), LSM_OK);
  assert_int_equal(fio_stream_next(s, &d, &n), LSM_OK);
  assert_int_equal(n, 1000);
  assert_int_equal(fio_stream_next(s, &d, &n), LSM_IOERR_READ);
  assert_int_equal(fio_stream_next(s, &d, &n), LSM_IOERR_READ); /* stays failed */
  fio_stream_close(s);
  fio_close(f);
  fio_env_free(env);
}

/* fio_write_atomic with each op failing in turn, for each kind: the path holds the whole old or
** the whole new content, and no temp file is left. */
static void t_atomic_faults(void **state) {
  fio_env *inner = ENV(state), *env;
  assert_int_equal(fio_env_fault(inner, &env), LSM_OK);
  uint8_t oldc[5000], newc[9000], rb[10000];
  fill(oldc, 0, sizeof oldc, 41);
  fill(newc, 0, sizeof newc, 42);
  int kinds[] = {FIO_FAULT_ONCE, FIO_FAULT_FROM, FIO_FAULT_SHORT, FIO_FAULT_TORN};
  int fails = 0, successes = 0;
  for (unsigned k = 0; k < 4; k++) {
    for (long nth = 1;; nth++) {
      assert_int_equal(fio_write_atomic(inner, "m", oldc, sizeof oldc), LSM_OK);
      assert_int_equal(fio_fault_set(env, FIO_OP_ALL, nth, kinds[k]), LSM_OK);
      int rc = fio_write_atomic(env, "m", newc, sizeof newc);
      fio_fault_clear(env);
      size_t n = read_whole("m", rb, sizeof rb);
      if (rc == LSM_OK) {
        assert_int_equal(n, sizeof newc);
        assert_memory_equal(rb, newc, n);
      } else {
        fails++;
        /* old, or (failure of the final directory fsync only) the new content */
        if (n == sizeof oldc) {
          assert_memory_equal(rb, oldc, n);
        } else {
          assert_int_equal(rc, LSM_IOERR_DIR_FSYNC);
          assert_int_equal(n, sizeof newc);
          assert_memory_equal(rb, newc, n);
        }
      }
      assert_false(file_exists("m.tmp"));
      char **names;
      int cnt;
      assert_int_equal(fio_list(inner, ".", &names, &cnt), LSM_OK);
      for (int i = 0; i < cnt; i++)
        if (strstr(names[i], "m."))
          fail_msg("leftover %s (kind %d nth %ld)", names[i], kinds[k], nth);
      fio_list_free(names, cnt);
      if (rc == LSM_OK) {
        successes++;
        break;
      }
      assert_true(nth < 20);
    }
  }
  assert_int_equal(successes, 4);
  assert_true(fails >= 4 * 3); /* write, sync, rename, dir sync each failed once per kind */
  fio_env_free(env);
}

/* Allocation failures: every injected OOM gives LSM_NOMEM and leaks nothing (ASan checks). */
static void t_oom(void **state) {
  fio_env *env = ENV(state);
  fio_file *f;
  assert_int_equal(fio_create(env, "o1", FIO_RDWR, &f), LSM_OK);
  fio_close(f);
  fio_create(env, "o2", FIO_RDWR, &f);
  fio_close(f);
  int done = 0;
  for (long n = 0; n < 50 && !done; n++) {
    mm_fail_after(n);
    char **names = NULL;
    int cnt = 0;
    fio_file *g = NULL;
    fio_batch *b = NULL;
    fio_stream *s = NULL;
    uint8_t buf[64];
    int rc = fio_list(env, ".", &names, &cnt);
    if (!rc) rc = fio_open(env, "o1", FIO_RDWR, &g);
    if (!rc) rc = fio_stream_open(g, 4096, &s);
    if (!rc) rc = fio_batch_new(env, &b);
    if (!rc) rc = fio_batch_read(b, g, 0, buf, sizeof buf) < 0 ? LSM_NOMEM : 0;
    if (!rc) rc = fio_write_atomic(env, "o3", "x", 1);
    mm_fail_after(-1);
    if (rc) assert_int_equal(rc, LSM_NOMEM);
    else done = 1;
    fio_list_free(names, cnt);
    fio_stream_close(s);
    fio_batch_free(b);
    fio_close(g);
  }
  assert_true(done);
}

/* fio_read_cached: served from the page cache only, never waiting for the device; short where
** the cache ends (0 on a miss, unless the read the miss started has already completed), at EOF
** and for O_DIRECT files; a fault fires on it like on any read. */
static void t_read_cached(void **state) {
  fio_env *env = ENV(state);
  enum { N = 16 * 4096 };
  uint8_t *w = malloc(N), *r = malloc(N);
  fill(w, 0, N, 11);
  fio_file *f;
  assert_int_equal(fio_create(env, "rc.dat", FIO_RDWR, &f), LSM_OK);
  assert_int_equal(fio_write_at(f, 0, w, N), LSM_OK);
  size_t got = 99;
  /* Just written: all cached. */
  memset(r, 0, N);
  assert_int_equal(fio_read_cached(f, 4096, r, 3 * 4096, &got), LSM_OK);
  assert_int_equal(got, 3 * 4096);
  assert_true(check(r, 4096, 3 * 4096, 11));
  /* Across EOF: up to EOF; at and past EOF: nothing. */
  assert_int_equal(fio_read_cached(f, N - 100, r, 4096, &got), LSM_OK);
  assert_int_equal(got, 100);
  assert_true(check(r, N - 100, 100, 11));
  assert_int_equal(fio_read_cached(f, N, r, 4096, &got), LSM_OK);
  assert_int_equal(got, 0);
  assert_int_equal(fio_read_cached(f, (uint64_t)INT64_MAX + 1, r, 10, &got), LSM_RANGE);
  struct statfs sf;
  assert_int_equal(fstatfs(fio_fd(f), &sf), 0);
  if (pc_evict(fio_fd(f), 0, N)) {
    /* Not cached: a miss, and nothing read (the buffer untouched past *got). A RWF_NOWAIT miss
    ** starts the kernel's read of the missing pages without waiting for it, and on some VMs
    ** that read completes before the call looks at the pages again (a Firecracker host did so
    ** in 1 run in 3 of this test alone, and in all 20 tries of some runs with two copies of
    ** the test at once): then their bytes come back too. So evict and ask again until a miss
    ** shows; every answer must hold the file's bytes and nothing else past them. */
    int missed = 0;
    for (int t = 0; t < 20 && !missed; t++) {
      if (t) assert_true(pc_evict(fio_fd(f), 0, N));
      memset(r, 0xAB, N);
      got = 99;
      assert_int_equal(fio_read_cached(f, 0, r, N, &got), LSM_OK);
      assert_true(got <= N);
      assert_true(check(r, 0, got, 11));
      if (got < N) {
        assert_int_equal(r[got], 0xAB);
        missed = 1;
      }
    }
    if (!missed)
      print_message("t_read_cached: every cache-only read of an evicted range was served by the\n"
                    "  read it started (the device completed inside the call); no miss seen\n");
    /* Cache it all again, then drop only the second page: a 2-page read stops after page 1. */
    assert_int_equal(fio_read_at(f, 0, r, N, &got), LSM_OK);
    assert_int_equal(got, N);
    if (pc_evict(fio_fd(f), 4096, 4096)) {
      memset(r, 0, N);
      assert_int_equal(fio_read_cached(f, 0, r, 2 * 4096, &got), LSM_OK);
      /* The read of page 0 may start the kernel's asynchronous readahead, which can bring
      ** page 1 back before the copy reaches it (seen under a loaded `make test`): then both
      ** pages come, and page 1 is resident again. */
      if (got != 4096) {
        assert_int_equal(got, 2 * 4096);
        assert_false(pc_gone(fio_fd(f), 4096, 4096, 0));
      }
      assert_true(check(r, 0, got, 11));
    }
  } else {
    print_message("t_read_cached: filesystem 0x%lx keeps evicted pages; miss cases skipped\n",
                  (long)sf.f_type);
    assert_true(sf.f_type == 0x01021994); /* only tmpfs is expected to do that */
  }
  /* Fault wrapper: counted as a READ, an armed fault fires on it. */
  fio_env *fe;
  assert_int_equal(fio_env_fault(env, &fe), LSM_OK);
  fio_file *ff;
  assert_int_equal(fio_open(fe, "rc.dat", FIO_RDONLY, &ff), LSM_OK);
  long before = fio_fault_count(fe, FIO_OP_READ);
  assert_int_equal(fio_read_at(ff, 0, r, N, &got), LSM_OK); /* cache it */
  assert_int_equal(fio_read_cached(ff, 0, r, 4096, &got), LSM_OK);
  assert_int_equal(got, 4096);
  assert_int_equal(fio_fault_count(fe, FIO_OP_READ), before + 2);
  assert_int_equal(fio_fault_set(fe, FIO_OP_READ, 1, FIO_FAULT_ONCE), LSM_OK);
  got = 99;
  assert_int_equal(fio_read_cached(ff, 0, r, 4096, &got), LSM_IOERR_READ);
  assert_int_equal(got, 0);
  assert_int_equal(fio_read_cached(ff, 0, r, 4096, &got), LSM_OK);
  assert_int_equal(got, 4096);
  fio_fault_clear(fe);
  assert_int_equal(fio_close(ff), LSM_OK);
  fio_env_free(fe);
  /* O_DIRECT: no page cache to ask, always a miss. */
  fio_file *fd_;
  if (fio_open(env, "rc.dat", FIO_RDONLY | FIO_DIRECT, &fd_) == LSM_OK) {
    uint8_t *a = fio_alloc_aligned(4096);
    assert_int_equal(fio_read_cached(fd_, 0, a, 4096, &got), LSM_OK);
    assert_int_equal(got, 0);
    fio_free_aligned(a);
    assert_int_equal(fio_close(fd_), LSM_OK);
  }
  assert_int_equal(fio_close(f), LSM_OK);
  free(w);
  free(r);
}

/* ---- not per backend ------------------------------------------------------------------------ */

static void t_auto(void **state) {
  (void)state;
  fio_env *e;
  setenv("LSMVTAB_IO", "sync", 1);
  assert_int_equal(fio_env_new(FIO_AUTO, &e), LSM_OK);
  assert_string_equal(fio_env_name(e), "sync");
  assert_int_equal(fio_env_backend(e), FIO_SYNC);
  fio_env_free(e);
  unsetenv("LSMVTAB_IO");
  assert_int_equal(fio_env_new(FIO_AUTO, &e), LSM_OK);
  int b = fio_env_backend(e);
  assert_true(b == FIO_SYNC || b == FIO_URING);
  print_message("AUTO picked %s\n", fio_env_name(e));
  fio_env_free(e);
  if (b == FIO_URING) {
    setenv("LSMVTAB_IO", "uring", 1);
    assert_int_equal(fio_env_new(FIO_AUTO, &e), LSM_OK);
    assert_string_equal(fio_env_name(e), "uring");
    fio_env_free(e);
    unsetenv("LSMVTAB_IO");
  }
  assert_int_equal(fio_env_new(7, &e), LSM_MISUSE);
  fio_env_free(NULL);
}

/* Each case once per backend, named "<case>/<backend>". */
/* AUTO falls back to sync where io_uring is blocked: a child process forbids io_uring_setup
** with a seccomp filter (as container runtimes do) and checks the choice. */
static void t_auto_fallback(void **state) {
  (void)state;
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct sock_filter filt[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filt / sizeof filt[0], filt};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
      _exit(2);
    fio_env *e;
    unsetenv("LSMVTAB_IO");
    if (fio_env_new(FIO_AUTO, &e) != LSM_OK || fio_env_backend(e) != FIO_SYNC) _exit(3);
    fio_env_free(e);
    if (fio_env_new(FIO_URING, &e) != LSM_ERROR || !strstr(st_errmsg(), "io_uring")) _exit(4);
    setenv("LSMVTAB_IO", "uring", 1);
    if (fio_env_new(FIO_AUTO, &e) != LSM_ERROR) _exit(5);
    _exit(0);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

#define BOTH(fn)                                        \
  {#fn "/sync", fn, setup, teardown, &B_SYNC},          \
  {#fn "/uring", fn, setup, teardown, &B_URING}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_auto),
      cmocka_unit_test(t_auto_fallback),
      BOTH(t_env),
      BOTH(t_open_errors),
      BOTH(t_rw),
      BOTH(t_wrap_fd),
      BOTH(t_paths),
      BOTH(t_direct),
      BOTH(t_stream),
      BOTH(t_stream_1g),
      BOTH(t_batch),
      BOTH(t_batch_direct),
      BOTH(t_batch_poll),
      BOTH(t_threads),
      BOTH(t_fork),
      BOTH(t_lock),
      BOTH(t_short_write),
      BOTH(t_fault_kinds), BOTH(t_fault_hold),
      BOTH(t_atomic_faults),
      BOTH(t_oom),
      BOTH(t_read_cached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
