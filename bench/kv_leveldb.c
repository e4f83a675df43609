/* kv_leveldb.c — the kv.h adapter for LevelDB's C API (bench only; built with -DHAVE_LEVELDB).
** LevelDB has no zstd (snappy when compression is on), no batched read (multiget is a loop of
** gets), and no flush call (settle only waits for background writes to stop). */
#ifdef HAVE_LEVELDB
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

struct kv {
  leveldb_t *db;
  leveldb_options_t *o;
  leveldb_cache_t *cache;
  leveldb_filterpolicy_t *fp;
  leveldb_readoptions_t *ro;
  leveldb_writeoptions_t *wo;
};
struct kv_it {
  leveldb_iterator_t *it;
};

static int fail(const char *what, char *err) {
  fprintf(stderr, "leveldb: %s: %s\n", what, err ? err : "?");
  leveldb_free(err);
  return 1;
}

static int l_open(const char *dir, const kv_conf *c, kv **out) {
  kv *d = calloc(1, sizeof *d);
  if (!d) return 1;
  d->o = leveldb_options_create();
  leveldb_options_set_create_if_missing(d->o, 1);
  leveldb_options_set_write_buffer_size(d->o, c->write_buffer);
  d->cache = leveldb_cache_create_lru(c->cache);
  leveldb_options_set_cache(d->o, d->cache);
  leveldb_options_set_block_size(d->o, c->block_size);
  leveldb_options_set_max_open_files(d->o, 10000);
  if (c->bloom_bits > 0) {
    d->fp = leveldb_filterpolicy_create_bloom(c->bloom_bits);
    leveldb_options_set_filter_policy(d->o, d->fp);
  }
  leveldb_options_set_compression(d->o, c->compress ? leveldb_snappy_compression
                                                    : leveldb_no_compression);
  d->ro = leveldb_readoptions_create();
  d->wo = leveldb_writeoptions_create();
  leveldb_writeoptions_set_sync(d->wo, 0);
  char *err = NULL;
  d->db = leveldb_open(d->o, dir, &err);
  if (err) {
    free(d);
    return fail("open", err);
  }
  *out = d;
  return 0;
}

static void l_close(kv *d) {
  leveldb_close(d->db);
  leveldb_readoptions_destroy(d->ro);
  leveldb_writeoptions_destroy(d->wo);
  leveldb_options_destroy(d->o);
  leveldb_cache_destroy(d->cache);
  if (d->fp) leveldb_filterpolicy_destroy(d->fp);
  free(d);
}

static int l_put(kv *d, const char *k, size_t kn, const char *v, size_t vn) {
  char *err = NULL;
  leveldb_put(d->db, d->wo, k, kn, v, vn, &err);
  return err ? fail("put", err) : 0;
}

static int l_del(kv *d, const char *k, size_t kn) {
  char *err = NULL;
  leveldb_delete(d->db, d->wo, k, kn, &err);
  return err ? fail("delete", err) : 0;
}

static int l_get(kv *d, const char *k, size_t kn, int *found, size_t *vn) {
  char *err = NULL;
  size_t n = 0;
  char *v = leveldb_get(d->db, d->ro, k, kn, &n, &err);
  if (err) return fail("get", err);
  *found = v != NULL;
  *vn = n;
  leveldb_free(v);
  return 0;
}

static int l_multiget(kv *d, int n, const char *const *keys, const size_t *klens, int *nfound) {
  for (int i = 0; i < n; i++) {
    int f;
    size_t vn;
    if (l_get(d, keys[i], klens[i], &f, &vn)) return 1;
    *nfound += f;
  }
  return 0;
}

static int l_it_new(kv *d, kv_it **out) {
  kv_it *it = malloc(sizeof *it);
  if (!it) return 1;
  it->it = leveldb_create_iterator(d->db, d->ro);
  *out = it;
  return 0;
}
static void l_seek(kv_it *it, const char *k, size_t kn) { leveldb_iter_seek(it->it, k, kn); }
static void l_first(kv_it *it) { leveldb_iter_seek_to_first(it->it); }
static void l_last(kv_it *it) { leveldb_iter_seek_to_last(it->it); }
static void l_next(kv_it *it) { leveldb_iter_next(it->it); }
static void l_prev(kv_it *it) { leveldb_iter_prev(it->it); }
static int l_valid(kv_it *it) { return leveldb_iter_valid(it->it); }
static void l_kv(kv_it *it, const char **k, size_t *kn, const char **v, size_t *vn) {
  *k = leveldb_iter_key(it->it, kn);
  *v = leveldb_iter_value(it->it, vn);
}
static int l_it_free(kv_it *it) {
  char *err = NULL;
  leveldb_iter_get_error(it->it, &err);
  leveldb_iter_destroy(it->it);
  free(it);
  return err ? fail("iterator", err) : 0;
}

static void l_settle(kv *d) { (void)d; /* the bench also waits for writes to stop */ }
static double l_own_wamp(kv *d) {
  (void)d;
  return -1;
}

const kv_ops kv_leveldb = {"leveldb", l_open, l_close, l_put, l_del, l_get, l_multiget,
                           l_it_new, l_seek, l_first, l_last, l_next, l_prev, l_valid, l_kv,
                           l_it_free, l_settle, l_own_wamp};
#else
typedef int kv_leveldb_unused; /* ISO C wants a non-empty translation unit */
#endif
