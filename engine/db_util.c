/*
** db_util.c — options, statistics, consistency check, destroy, manual compaction entry point.
*/
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "compact.h"
#include "db_int.h"
#include "mm.h"
#include "status.h"

void lsm_options_default(lsm_options *o) {
  memset(o, 0, sizeof *o);
  o->memtable_size = 64u << 20;
  o->max_immutables = 1;
  o->cache_size = 8u << 20;
  o->block_size = 4096;
  o->compression = LSM_COMPRESS_LZ4;
  o->compression_level = 3;
  o->l1_compression = LSM_COMPRESS_SAME;
  o->bloom_bits = 10;
  o->sync = LSM_SYNC_NORMAL;
  o->io = LSM_IO_AUTO;
  o->direct_io = 0;
  o->io_poll_us = 0;
  o->mmap_reads = 0;
  o->create_if_missing = 1;
  o->error_if_exists = 0;
  o->target_file_size = 16u << 20;
  o->l0_compaction_trigger = 6; /* 4 -> 6: lsm.h */
  o->l0_slowdown_trigger = 20;
  o->l0_stop_trigger = 36;
  o->level1_size = 256u << 20;
  o->background_threads = 1;
  o->max_open_files = 1000;
}

#define RANGE(name, v, lo, hi)                                                                  \
  do {                                                                                          \
    if ((long long)(v) < (long long)(lo) || (long long)(v) > (long long)(hi))                                                          \
      return st_err(LSM_ERROR, "bad option " #name "=%lld: must be between %lld and %lld",      \
                    (long long)(v), (long long)(lo), (long long)(hi));                          \
  } while (0)

int lsm_options_validate(const lsm_options *o) {
  if (!o) return st_err(LSM_MISUSE, "lsm_options_validate: NULL options");
  RANGE(memtable_size, o->memtable_size, 64u << 10, (size_t)1 << 40);
  RANGE(max_immutables, o->max_immutables, 1, DB_MAX_IMM);
  RANGE(cache_size, o->cache_size, 0, (size_t)1 << 44);
  RANGE(block_size, o->block_size, 256, 1u << 20);
  RANGE(compression, o->compression, LSM_COMPRESS_NONE, LSM_COMPRESS_LZ4);
  RANGE(compression_level, o->compression_level, 1, 22);
  RANGE(l1_compression, o->l1_compression, LSM_COMPRESS_SAME, LSM_COMPRESS_LZ4);
  RANGE(bloom_bits, o->bloom_bits, 0, 32);
  RANGE(sync, o->sync, LSM_SYNC_OFF, LSM_SYNC_FULL);
  RANGE(io, o->io, LSM_IO_AUTO, LSM_IO_URING);
  RANGE(direct_io, o->direct_io, 0, 1);
  RANGE(io_poll_us, o->io_poll_us, 0, 100000);
  RANGE(mmap_reads, o->mmap_reads, 0, 1);
  RANGE(create_if_missing, o->create_if_missing, 0, 1);
  RANGE(error_if_exists, o->error_if_exists, 0, 1);
  RANGE(target_file_size, o->target_file_size, 64u << 10, (size_t)1 << 40);
  RANGE(l0_compaction_trigger, o->l0_compaction_trigger, 1, 1000);
  RANGE(l0_slowdown_trigger, o->l0_slowdown_trigger, o->l0_compaction_trigger, 1000);
  RANGE(l0_stop_trigger, o->l0_stop_trigger, o->l0_slowdown_trigger, 1000);
  RANGE(level1_size, o->level1_size, 64u << 10, (size_t)1 << 44);
  RANGE(background_threads, o->background_threads, 1, 16);
  RANGE(max_open_files, o->max_open_files, 16, 1000000);
  return LSM_OK;
}

static const char *codec_name(int c) {
  return c == LSM_COMPRESS_ZSTD ? "zstd" : c == LSM_COMPRESS_LZ4 ? "lz4" : "none";
}

int lsm_get_stats(lsm_db *db, lsm_stats *st) {
  if (!db || !st) return st_err(LSM_MISUSE, "lsm_get_stats: NULL argument");
  memset(st, 0, sizeof *st);
  pthread_mutex_lock(&db->mu);
  for (int l = 0; l < LSM_MAX_LEVELS && l < VER_LEVELS; l++) {
    st->level_files[l] = (uint64_t)db->cur->n[l];
    st->level_bytes[l] = ver_level_bytes(db->cur, l);
  }
  for (int l = 0; l < LSM_MAX_LEVELS && l < VER_LEVELS; l++) st->level_score[l] = compact_score(db->cur, &db->o, l);
  st->memtable_bytes = mem_bytes(db->mem);
  for (int i = 0; i < db->nimm; i++) st->memtable_bytes += mem_bytes(db->imm[i].m);
  st->immutables = (uint64_t)db->nimm;
  st->last_seq = atomic_load(&db->last_seq);
  pthread_mutex_unlock(&db->mu);
  st->user_bytes_written = atomic_load(&db->st_user_bytes);
  st->wal_bytes = atomic_load(&db->st_wal_bytes);
  st->flush_bytes = atomic_load(&db->st_flush_bytes);
  st->compact_bytes_written = atomic_load(&db->st_compact_written);
  st->write_amp = st->user_bytes_written
                      ? (double)(st->wal_bytes + st->flush_bytes + st->compact_bytes_written) /
                            (double)st->user_bytes_written
                      : 0.0;
  st->gets = atomic_load(&db->st_gets);
  st->get_files_probed = atomic_load(&db->vctx.files_probed);
  st->bloom_checked = atomic_load(&db->vctx.counters.bloom_checked);
  st->bloom_useful = atomic_load(&db->vctx.counters.bloom_useful);
  st->mmap_cold_batches = atomic_load(&db->vctx.counters.cold_batches);
  cache_stats cs;
  cache_get_stats(db->bcache, &cs);
  st->cache_hits = cs.hits;
  st->cache_misses = cs.misses;
  st->cache_bytes = cs.usage;
  st->open_tables = (uint64_t)ver_open_readers(&db->vctx);
  st->table_opens = atomic_load(&db->vctx.tc_opens);
  st->max_open_files = (uint64_t)db->o.max_open_files;
  st->l0_compaction_trigger = (uint64_t)db->o.l0_compaction_trigger;
  st->mmap_reads = (uint64_t)db->o.mmap_reads;
  st->direct_io = (uint64_t)db->o.direct_io;
  st->compression = codec_name(db->o.compression);
  st->l1_compression = codec_name(db_level_codec(&db->o, 1));
  st->stalls = atomic_load(&db->st_stalls);
  st->stall_micros = atomic_load(&db->st_stall_us);
  st->flushes = atomic_load(&db->st_flushes);
  st->slowdowns = atomic_load(&db->st_slowdowns);
  st->compactions = atomic_load(&db->st_compactions);
  st->compact_bytes_read = atomic_load(&db->st_compact_read);
  st->compact_bytes_written = atomic_load(&db->st_compact_written);
  st->io_backend = fio_env_backend(db->env) == FIO_URING ? "uring" : "sync";
  st->io_poll_us = (uint64_t)db->o.io_poll_us;
  fio_env_poll_counts(db->env, &st->io_polled, &st->io_poll_slept);
  return LSM_OK;
}

int lsm_stats_json(lsm_db *db, char **json) {
  if (!json) return st_err(LSM_MISUSE, "lsm_stats_json: NULL argument");
  lsm_stats s;
  int rc = lsm_get_stats(db, &s);
  if (rc) return rc;
  cd_buf b = {0};
  char tmp[256];
#define ADD(...)                                                  \
  do {                                                            \
    int n_ = snprintf(tmp, sizeof tmp, __VA_ARGS__);              \
    if (!rc) rc = cd_buf_append(&b, tmp, (size_t)n_);             \
  } while (0)
  ADD("{\"levels\":[");
  for (int l = 0; l < LSM_MAX_LEVELS; l++)
    ADD("%s{\"level\":%d,\"files\":%llu,\"bytes\":%llu,\"score\":%.3f}", l ? "," : "", l,
        (unsigned long long)s.level_files[l], (unsigned long long)s.level_bytes[l], s.level_score[l]);
  ADD("],\"memtable_bytes\":%llu,\"immutables\":%llu,\"last_seq\":%llu,",
      (unsigned long long)s.memtable_bytes, (unsigned long long)s.immutables, (unsigned long long)s.last_seq);
  ADD("\"user_bytes_written\":%llu,\"wal_bytes\":%llu,\"flush_bytes\":%llu,",
      (unsigned long long)s.user_bytes_written, (unsigned long long)s.wal_bytes, (unsigned long long)s.flush_bytes);
  ADD("\"compact_bytes_read\":%llu,\"compact_bytes_written\":%llu,\"write_amp\":%.3f,",
      (unsigned long long)s.compact_bytes_read, (unsigned long long)s.compact_bytes_written, s.write_amp);
  ADD("\"gets\":%llu,\"get_files_probed\":%llu,\"bloom_checked\":%llu,\"bloom_useful\":%llu,",
      (unsigned long long)s.gets, (unsigned long long)s.get_files_probed, (unsigned long long)s.bloom_checked,
      (unsigned long long)s.bloom_useful);
  ADD("\"cache_hits\":%llu,\"cache_misses\":%llu,\"cache_bytes\":%llu,", (unsigned long long)s.cache_hits,
      (unsigned long long)s.cache_misses, (unsigned long long)s.cache_bytes);
  ADD("\"open_tables\":%llu,\"table_opens\":%llu,\"max_open_files\":%llu,",
      (unsigned long long)s.open_tables, (unsigned long long)s.table_opens,
      (unsigned long long)s.max_open_files);
  ADD("\"l0_compaction_trigger\":%llu,\"mmap_reads\":%llu,\"mmap_cold_batches\":%llu,\"direct_io\":%llu,",
      (unsigned long long)s.l0_compaction_trigger, (unsigned long long)s.mmap_reads,
      (unsigned long long)s.mmap_cold_batches, (unsigned long long)s.direct_io);
  ADD("\"compression\":\"%s\",\"l1_compression\":\"%s\",", s.compression, s.l1_compression);
  ADD("\"stalls\":%llu,\"stall_micros\":%llu,\"slowdowns\":%llu,\"flushes\":%llu,\"compactions\":%llu,",
      (unsigned long long)s.stalls, (unsigned long long)s.stall_micros, (unsigned long long)s.slowdowns,
      (unsigned long long)s.flushes, (unsigned long long)s.compactions);
  ADD("\"io_backend\":\"%s\",\"io_poll_us\":%llu,\"io_polled\":%llu,\"io_poll_slept\":%llu}",
      s.io_backend, (unsigned long long)s.io_poll_us, (unsigned long long)s.io_polled,
      (unsigned long long)s.io_poll_slept);
#undef ADD
  if (!rc) rc = cd_buf_append(&b, "", 1);
  if (rc) {
    cd_buf_free(&b);
    return st_err(LSM_NOMEM, "stats: out of memory");
  }
  *json = (char *)b.p;
  return LSM_OK;
}

int lsm_check(lsm_db *db, char **report) {
  if (!db || !report) return st_err(LSM_MISUSE, "lsm_check: NULL argument");
  pthread_mutex_lock(&db->mu);
  ver_version *v = db->cur;
  ver_ref(v);
  pthread_mutex_unlock(&db->mu);
  cd_buf b = {0};
  int rc = ver_check(v, &b);
  ver_unref(v);
  if (!rc && b.n == 0 && cd_buf_append(&b, "ok", 2)) rc = LSM_NOMEM;
  if (cd_buf_append(&b, "", 1)) {
    cd_buf_free(&b);
    return st_err(LSM_NOMEM, "check: out of memory");
  }
  *report = (char *)b.p;
  if (rc && LSM_PRIMARY(rc) == LSM_CORRUPT) return ST_CORRUPT("%s", *report);
  return rc;
}

int lsm_destroy(const char *dir) {
  if (!dir) return st_err(LSM_MISUSE, "lsm_destroy: NULL dir");
  fio_env *env;
  int rc = fio_env_new(FIO_SYNC, &env);
  if (rc) return rc;
  char path[4096];
  snprintf(path, sizeof path, "%s/LOCK", dir);
  int exists = 0;
  fio_exists(env, dir, &exists);
  if (!exists) {
    fio_env_free(env);
    return LSM_OK;
  }
  fio_file *lock;
  if ((rc = fio_lock(env, path, &lock))) {
    fio_env_free(env);
    return rc;
  }
  char **names;
  int n;
  if (!(rc = fio_list(env, dir, &names, &n))) {
    for (int i = 0; i < n && !rc; i++) {
      const char *s = names[i];
      size_t len = strlen(s);
      int ours = !strcmp(s, "CURRENT") || !strncmp(s, "MANIFEST-", 9) ||
                 (len > 4 && (!strcmp(s + len - 4, ".log") || !strcmp(s + len - 4, ".sst") ||
                              !strcmp(s + len - 4, ".tmp")));
      if (!ours) continue;
      snprintf(path, sizeof path, "%s/%s", dir, s);
      rc = fio_delete(env, path);
    }
    fio_list_free(names, n);
  }
  snprintf(path, sizeof path, "%s/LOCK", dir);
  if (!rc) fio_delete(env, path);
  fio_close(lock);
  if (!rc) rmdir(dir); /* only if nothing else lives there (ENOTEMPTY is fine) */
  fio_env_free(env);
  return rc;
}
