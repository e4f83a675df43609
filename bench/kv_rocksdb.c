/* kv_rocksdb.c — the kv.h adapter for RocksDB's C API (bench only; built with -DHAVE_ROCKSDB). */
#ifdef HAVE_ROCKSDB
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv.h"

struct kv {
  rocksdb_t *db;
  rocksdb_options_t *o;
  rocksdb_block_based_table_options_t *bbo;
  rocksdb_cache_t *cache;
  rocksdb_readoptions_t *ro;
  rocksdb_writeoptions_t *wo;
  rocksdb_column_family_handle_t *cf;
};
struct kv_it {
  rocksdb_iterator_t *it;
};

static int fail(const char *what, char *err) {
  fprintf(stderr, "rocksdb: %s: %s\n", what, err ? err : "?");
  free(err);
  return 1;
}

static int r_open(const char *dir, const kv_conf *c, kv **out) {
  kv *d = calloc(1, sizeof *d);
  if (!d) return 1;
  d->o = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(d->o, 1);
  rocksdb_options_set_write_buffer_size(d->o, c->write_buffer);
  rocksdb_options_set_compression(d->o, c->compress == 2 ? rocksdb_lz4_compression
                                        : c->compress ? rocksdb_zstd_compression
                                                      : rocksdb_no_compression);
  d->bbo = rocksdb_block_based_options_create();
  d->cache = rocksdb_cache_create_lru(c->cache);
  rocksdb_block_based_options_set_block_cache(d->bbo, d->cache);
  rocksdb_block_based_options_set_block_size(d->bbo, c->block_size);
  if (c->bloom_bits > 0)
    rocksdb_block_based_options_set_filter_policy(d->bbo,
                                                  rocksdb_filterpolicy_create_bloom(c->bloom_bits));
  rocksdb_options_set_block_based_table_factory(d->o, d->bbo);
  d->ro = rocksdb_readoptions_create();
  d->wo = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(d->wo, 0); /* WAL on, no sync per write */
  const char *names[1] = {"default"};
  const rocksdb_options_t *opts[1] = {d->o};
  char *err = NULL;
  d->db = rocksdb_open_column_families(d->o, dir, 1, names, opts, &d->cf, &err);
  if (err) {
    free(d);
    return fail("open", err);
  }
  *out = d;
  return 0;
}

static void r_close(kv *d) {
  rocksdb_column_family_handle_destroy(d->cf);
  rocksdb_close(d->db);
  rocksdb_readoptions_destroy(d->ro);
  rocksdb_writeoptions_destroy(d->wo);
  rocksdb_options_destroy(d->o);
  rocksdb_block_based_options_destroy(d->bbo);
  rocksdb_cache_destroy(d->cache);
  free(d);
}

static int r_put(kv *d, const char *k, size_t kn, const char *v, size_t vn) {
  char *err = NULL;
  rocksdb_put(d->db, d->wo, k, kn, v, vn, &err);
  return err ? fail("put", err) : 0;
}

static int r_del(kv *d, const char *k, size_t kn) {
  char *err = NULL;
  rocksdb_delete(d->db, d->wo, k, kn, &err);
  return err ? fail("delete", err) : 0;
}

static int r_get(kv *d, const char *k, size_t kn, int *found, size_t *vn) {
  char *err = NULL;
  size_t n = 0;
  char *v = rocksdb_get(d->db, d->ro, k, kn, &n, &err);
  if (err) return fail("get", err);
  *found = v != NULL;
  *vn = n;
  free(v);
  return 0;
}

/* The batched MultiGet (block-based tables with full filters: what we configure). */
static int r_multiget(kv *d, int n, const char *const *keys, const size_t *klens, int *nfound) {
  rocksdb_pinnableslice_t *vals[n];
  char *errs[n];
  memset(errs, 0, sizeof errs);
  rocksdb_batched_multi_get_cf(d->db, d->ro, d->cf, n, keys, klens, vals, errs, 0);
  int rc = 0;
  for (int i = 0; i < n; i++) {
    if (errs[i]) rc = fail("multiget", errs[i]);
    if (vals[i]) {
      size_t vn;
      if (rocksdb_pinnableslice_value(vals[i], &vn)) ++*nfound;
      rocksdb_pinnableslice_destroy(vals[i]);
    }
  }
  return rc;
}

static int r_it_new(kv *d, kv_it **out) {
  kv_it *it = malloc(sizeof *it);
  if (!it) return 1;
  it->it = rocksdb_create_iterator(d->db, d->ro);
  *out = it;
  return 0;
}
static void r_seek(kv_it *it, const char *k, size_t kn) { rocksdb_iter_seek(it->it, k, kn); }
static void r_first(kv_it *it) { rocksdb_iter_seek_to_first(it->it); }
static void r_last(kv_it *it) { rocksdb_iter_seek_to_last(it->it); }
static void r_next(kv_it *it) { rocksdb_iter_next(it->it); }
static void r_prev(kv_it *it) { rocksdb_iter_prev(it->it); }
static int r_valid(kv_it *it) { return rocksdb_iter_valid(it->it); }
static void r_kv(kv_it *it, const char **k, size_t *kn, const char **v, size_t *vn) {
  *k = rocksdb_iter_key(it->it, kn);
  *v = rocksdb_iter_value(it->it, vn);
}
static int r_it_free(kv_it *it) {
  char *err = NULL;
  rocksdb_iter_get_error(it->it, &err);
  rocksdb_iter_destroy(it->it);
  free(it);
  return err ? fail("iterator", err) : 0;
}

static int prop_zero(kv *d, const char *name) {
  char *v = rocksdb_property_value(d->db, name);
  int z = v && strcmp(v, "0") == 0;
  free(v);
  return z;
}

static void r_settle(kv *d) {
  rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
  rocksdb_flushoptions_set_wait(fo, 1);
  char *err = NULL;
  rocksdb_flush(d->db, fo, &err);
  rocksdb_flushoptions_destroy(fo);
  if (err) fail("flush", err);
  for (int i = 0; i < 6000; i++) { /* at most 60 s */
    if (prop_zero(d, "rocksdb.compaction-pending") &&
        prop_zero(d, "rocksdb.num-running-compactions") &&
        prop_zero(d, "rocksdb.num-running-flushes"))
      break;
    usleep(10000);
  }
}

static double r_own_wamp(kv *d) {
  (void)d;
  return -1; /* its "W-Amp" excludes the WAL; the bench's /proc figure is the comparable one */
}

const kv_ops kv_rocksdb = {"rocksdb", r_open, r_close, r_put, r_del, r_get, r_multiget,
                           r_it_new, r_seek, r_first, r_last, r_next, r_prev, r_valid, r_kv,
                           r_it_free, r_settle, r_own_wamp};
#else
typedef int kv_rocksdb_unused; /* ISO C wants a non-empty translation unit */
#endif
