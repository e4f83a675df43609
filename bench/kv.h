/*
** kv.h — the small key-value interface bench_engine drives (prefix kv_), so the same phase code
** runs on lsmvtab's engine (lsm.h), RocksDB (rocksdb/c.h) and LevelDB (leveldb/c.h).
**
** Adapters: kv_lsm (bench_engine.c, always), kv_rocksdb (kv_rocksdb.c, compiled with
** -DHAVE_ROCKSDB when /usr/include/rocksdb/c.h exists) and kv_leveldb (kv_leveldb.c,
** -DHAVE_LEVELDB). Bench-only code: errors print a message and return nonzero; the caller exits.
**
** Equal settings across engines (issue 7): write buffer, block cache, bloom bits/key, block
** size, WAL on, no sync per write. Compression: zstd where the engine has it (lsm, RocksDB);
** LevelDB only has snappy, so it gets snappy when compression is on.
*/
#ifndef LSMVTAB_BENCH_KV_H
#define LSMVTAB_BENCH_KV_H

#include <stddef.h>

typedef struct kv_conf {
  size_t write_buffer; /* memtable bytes */
  size_t cache;        /* block cache bytes */
  size_t block_size;
  int bloom_bits;
  int compress;        /* 1 = zstd, 2 = lz4 (snappy for LevelDB either way), 0 = none */
  int io;              /* lsm only: LSM_IO_* */
  int direct_io;       /* lsm only */
  int io_poll_us;      /* lsm only: lsm_options.io_poll_us */
} kv_conf;

typedef struct kv kv;           /* an open database (adapter-private) */
typedef struct kv_it kv_it;     /* an iterator (adapter-private) */

typedef struct kv_ops {
  const char *name;
  int (*open)(const char *dir, const kv_conf *c, kv **out);
  void (*close)(kv *db);
  int (*put)(kv *db, const char *k, size_t kn, const char *v, size_t vn);
  int (*del)(kv *db, const char *k, size_t kn);
  /* *found = 1 and *vn = value length if present; the value is read (copied) and dropped. */
  int (*get)(kv *db, const char *k, size_t kn, int *found, size_t *vn);
  /* n lookups at once through the engine's batched read path (a loop of gets if it has none);
  ** *nfound += number found. */
  int (*multiget)(kv *db, int n, const char *const *keys, const size_t *klens, int *nfound);
  int (*it_new)(kv *db, kv_it **out);
  void (*it_seek)(kv_it *it, const char *k, size_t kn);
  void (*it_first)(kv_it *it);
  void (*it_last)(kv_it *it);
  void (*it_next)(kv_it *it);
  void (*it_prev)(kv_it *it);
  int (*it_valid)(kv_it *it);
  /* Borrowed until the iterator moves. */
  void (*it_kv)(kv_it *it, const char **k, size_t *kn, const char **v, size_t *vn);
  int (*it_free)(kv_it *it); /* nonzero if the iterator ended on an error */
  /* Flush the memtable and wait until background compaction is idle (bounded wait). */
  void (*settle)(kv *db);
  /* The engine's own write-amplification figure, < 0 if it has none. */
  double (*own_wamp)(kv *db);
} kv_ops;

extern const kv_ops kv_lsm;
#ifdef HAVE_ROCKSDB
extern const kv_ops kv_rocksdb;
#endif
#ifdef HAVE_LEVELDB
extern const kv_ops kv_leveldb;
#endif

#endif
