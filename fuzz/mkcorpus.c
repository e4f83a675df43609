/* Seed corpus generator for the fuzz targets: writes valid inputs of every format into
** fuzz/corpus/<target>/seed-*. Run from the repository root after `make`:
**   gcc -std=c11 -D_GNU_SOURCE -Iengine -o /tmp/mkcorpus fuzz/mkcorpus.c build/ext/keyenc.o \
**       build/ext/record.o build/ext/dropmark.o build/libengine.a -luring -lzstd -llz4 -lxxhash \
**       -lpthread -lm && /tmp/mkcorpus
** The seeds are committed; rerun only when a format changes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../ext/dropmark.h"
#include "../ext/keyenc.h"
#include "../ext/record.h"
#include "block.h"
#include "lsm.h"

static int seq;

static void put(const char *target, uint8_t prefix, int use_prefix, const void *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "fuzz/corpus/%s", target);
  mkdir("fuzz/corpus", 0755);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "fuzz/corpus/%s/seed-%03d", target, seq++);
  FILE *f = fopen(path, "wb");
  if (!f) exit(1);
  if (use_prefix) fputc(prefix, f);
  fwrite(p, 1, n, f);
  fclose(f);
}

static void put_file(const char *target, uint8_t prefix, int use_prefix, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return;
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  put(target, prefix, use_prefix, buf, n);
}

static void blocks(void) {
  for (int variant = 0; variant < 3; variant++) {
    blk_builder b;
    blk_builder_init(&b, variant == 0 ? 1 : 16);
    char k[32], v[64];
    for (int i = 0; i < 5 + variant * 40; i++) {
      int kn = snprintf(k, sizeof k, "key%05d", i), vn = snprintf(v, sizeof v, "value-%d-%s", i, "abcabcabc");
      blk_builder_add(&b, (uint8_t *)k, (size_t)kn, (uint8_t *)v, (size_t)vn);
    }
    const uint8_t *raw;
    size_t n;
    blk_builder_finish(&b, &raw, &n);
    put("block", 0, 1, raw, n);
    for (int comp = 0; comp < 2; comp++) {
      cd_buf out = {0};
      size_t sn;
      if (blk_seal(&out, raw, n, comp ? BLK_ZSTD : BLK_NONE, 3, NULL, &sn) == LSM_OK)
        put("block", 1, 1, out.p, out.n);
      cd_buf_free(&out);
    }
    blk_builder_free(&b);
  }
}

static void db_files(void) {
  const char *dir = "/tmp/lsmvtab-mkcorpus";
  lsm_destroy(dir);
  for (int comp = 0; comp < 2; comp++) {
    lsm_options o;
    lsm_options_default(&o);
    o.memtable_size = 64u << 10;
    o.block_size = 256;
    o.compression = comp ? LSM_COMPRESS_ZSTD : LSM_COMPRESS_NONE;
    o.bloom_bits = comp ? 10 : 0;
    lsm_db *db;
    if (lsm_open(dir, &o, &db)) exit(2);
    char k[32], v[128];
    for (int i = 0; i < 60; i++) {
      int kn = snprintf(k, sizeof k, "k%04d", i * 7 % 50);
      int vn = snprintf(v, sizeof v, "value %d of the seed corpus %s", i, comp ? "zstd zstd zstd" : "");
      if (i % 9 == 8) lsm_delete(db, k, (size_t)kn);
      else lsm_put(db, k, (size_t)kn, v, (size_t)vn);
      if (i == 30) lsm_flush(db, 1);
    }
    lsm_flush(db, 1);
    for (int i = 0; i < 10; i++) lsm_put(db, "wal-only", 8, "x", 1);
    /* copy the files while the db is open: the live WAL has records */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
      char p[600];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      if (strstr(e->d_name, ".sst")) put_file("sst", 0, 0, p);
      else if (strstr(e->d_name, ".log")) put_file("wal", 0, 0, p);
      else if (!strncmp(e->d_name, "MANIFEST-", 9)) put_file("manifest", 1, 1, p);
    }
    closedir(d);
    lsm_close(db);
    lsm_destroy(dir);
  }
}

static void keys(void) {
  ke_val vals[5];
  memset(vals, 0, sizeof vals);
  vals[0].type = KE_INT, vals[0].i = -123456789;
  vals[1].type = KE_FLOAT, vals[1].r = 3.25;
  vals[2].type = KE_TEXT, vals[2].p = (const uint8_t *)"te\0xt", vals[2].n = 5;
  vals[3].type = KE_BLOB, vals[3].p = (const uint8_t *)"\xff\x00\x01", vals[3].n = 3;
  vals[4].type = KE_NULL;
  cd_buf b = {0};
  for (int i = 0; i < 5; i++) {
    cd_buf_clear(&b);
    ke_encode(&b, &vals[i]);
    put("keyenc", 0x04, 1, b.p, b.n);
  }
  cd_buf_clear(&b);
  for (int i = 0; i < 5; i++) ke_encode(&b, &vals[i]);
  put("keyenc", 0x10, 1, b.p, b.n);
  uint8_t kr[2] = {0, 1};
  cd_buf_clear(&b);
  rec_encode(&b, 2, kr, 5, vals);
  put("keyenc", (uint8_t)(2 | (4 << 2)), 1, b.p, b.n);
  cd_buf_free(&b);
}

static void vtopts(void) {
  const char *s[] = {
      "k INTEGER PRIMARY KEY\nv TEXT NOT NULL\nw",
      "a TEXT\n\"b c\" VARCHAR(10)\nd DECIMAL(10, 2)\nPRIMARY KEY(a, \"b c\")",
      "x\ny\nmemtable_size='1MB'\ncache_size='16 MiB'\nblock_size=8 k\ncompression=none\ncompression_level=5\n"
      "bloom_bits=12\nsync=full\nio=sync",
      "x PRIMARY KEY\ncompression=zstd\nsync=off\nio=uring\nmemtable_size=65536\ndir='/tmp/x y'",
      "x COLLATE BINARY PRIMARY KEY\ny TEXT COLLATE NOCASE",
      "a\nnosuch=1",
      "a\nPRIMARY KEY(b)",
      "a UNIQUE",
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) put("vtopts", 0, 0, s[i], strlen(s[i]));
}

/* DROPPED markers (ext/dropmark.h): version 2 with and without a database path, and a version 1
** one built by hand (the decoder still reads it). */
static void dropmarks(void) {
  uint8_t buf[DM_ENCODED_MAX];
  size_t n;
  dm_mark m = {.pid = 4242, .conn = 0x55d0c0ffee00ull, .dversion = 7, .name = (char *)"t",
               .db = (char *)"/var/lib/app/main.db"};
  if (dm_encode(&m, buf, sizeof buf, &n)) exit(1);
  put("dropmark", 0, 0, buf, n);
  m.name = (char *)"a \"quoted\" é";
  m.db = NULL;
  if (dm_encode(&m, buf, sizeof buf, &n)) exit(1);
  put("dropmark", 0, 0, buf, n);
  memcpy(buf, "LSMDROP", 8);
  cd_put_fixed32(buf + 8, 1);
  cd_put_fixed64(buf + 12, 4242);
  cd_put_fixed64(buf + 20, 1);
  cd_put_fixed32(buf + 28, 3);
  cd_put_fixed32(buf + 32, 2);
  memcpy(buf + 36, "t1", 2);
  cd_put_fixed64(buf + 38, cd_xxh3(buf, 38));
  put("dropmark", 0, 0, buf, 46);
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "dropmark")) { /* one target's seeds (numbered after all) */
    seq = 1000;
    dropmarks();
    return 0;
  }
  blocks();
  db_files();
  keys();
  vtopts();
  seq = 1000;
  dropmarks();
  printf("wrote %d seeds\n", seq);
  return 0;
}
