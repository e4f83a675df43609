/* Tests of the `lsm` virtual-table module (ext/): the transaction overlay (ext/overlay.c,
** compiled in) against a reference model with savepoints and snapshots; option parsing
** (ext/vtopts.c, compiled in); and, through the SQLite C API with the extension loaded from
** LSMVTAB_EXT: reopen, sharing between connections, another process getting SQLITE_BUSY, DROP
** removing the files, temporary directories removed at close, extended error codes, UPDATE over
** a range not revisiting rows, a large INSERT ... SELECT in one transaction, and a random
** differential run against a native WITHOUT ROWID table with savepoints; the single-key lookup
** path and the overlay's lookup hint; writes (UPDATE, DELETE, INSERT OR REPLACE, key-moving
** UPDATE OR REPLACE) while another statement's SELECT is left open, against a native twin and
** against the same statements without the reader; the direct_io and io_poll_us options reaching
** the engine (open flags, poll counts); the overlay's memory accounting (ov_bytes,
** ov_write_cost) and the max_txn_size bound on a transaction's writes. Seeds are fixed and
** printed on failure; LSMVTAB_LONG=1 makes the big cases bigger. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_util.h"
#include "../ext/keyenc.c"
#include "../ext/overlay.c"
#include "../ext/record.c"
#include "../ext/vtopts.c"
#include "test_util.h"
#include "vg_util.h"

static int is_long(void) { return getenv("LSMVTAB_LONG") != NULL; }


/* ------------------------------------------------------------------------------------------ */
/* Overlay against a model: keys 0..K-1, state per key = absent / put(value) / deleted; a stack
** of model copies for savepoints; snapshots remember a model copy. */
#define K 40
typedef struct model { int st[K]; int val[K]; } model;

static void ov_key(int k, char *b, size_t *n) { *n = (size_t)snprintf(b, 8, "k%02d", k); }

static void check_model(ov_overlay *o, uint64_t snap, const model *m, uint64_t seed, int it) {
  for (int k = 0; k < K; k++) {
    char kb[8];
    size_t kn;
    ov_key(k, kb, &kn);
    const void *v = NULL;
    size_t vn = 0;
    int st = ov_get(o, snap, kb, kn, &v, &vn);
    if (st != m->st[k]) fail_msg("seed %#llx it %d key %d: state %d, want %d",
                                 (unsigned long long)seed, it, k, st, m->st[k]);
    if (st == OV_PUT && (vn != sizeof(int) || memcmp(v, &m->val[k], sizeof(int))))
      fail_msg("seed %#llx it %d key %d: wrong value", (unsigned long long)seed, it, k);
  }
  /* forward and backward navigation see every key once, in order */
  int n = 0, prevk = -1;
  for (ov_node *x = ov_first(o); x; x = ov_next(x)) {
    const void *kp;
    size_t kn;
    ov_node_key(x, &kp, &kn);
    assert_int_equal(kn, 3); /* "kNN", not NUL-terminated */
    int k = (((const char *)kp)[1] - '0') * 10 + (((const char *)kp)[2] - '0');
    assert_true(k > prevk);
    prevk = k;
    n++;
  }
  int nb = 0;
  for (ov_node *x = ov_last(o); x; x = ov_prev(o, x)) nb++;
  assert_int_equal(n, nb);
}

static void test_overlay_model(void **state) {
  (void)state;
  const uint64_t seed = 0x0e1a0001;
  rng = seed;
  int rounds = is_long() ? 200 : 20;
  for (int r = 0; r < rounds; r++) {
    ov_overlay *o;
    assert_int_equal(ov_new(&o), LSM_OK);
    /* presized (the vtab's hint from the last transaction): none, some, over the cap */
    if (r % 3 == 1) assert_int_equal(ov_reserve(o, (size_t)r * 7), LSM_OK);
    if (r % 3 == 2) assert_int_equal(ov_reserve(o, SIZE_MAX), LSM_OK);
    model cur = {0}, sp[8];
    int nsp = 0;
    /* open snapshots: the overlay snapshot and the model as of then */
    uint64_t snaps[4];
    model snapm[4];
    int nsnap = 0;
    for (int it = 0; it < 400; it++) {
      int op = (int)(rnd() % 100);
      int k = (int)(rnd() % K);
      char kb[8];
      size_t kn;
      ov_key(k, kb, &kn);
      if (op < 45) {
        int val = (int)rnd();
        assert_int_equal(ov_put(o, kb, kn, &val, sizeof val), LSM_OK);
        cur.st[k] = OV_PUT;
        cur.val[k] = val;
      } else if (op < 65) {
        assert_int_equal(ov_del(o, kb, kn), LSM_OK);
        cur.st[k] = OV_DEL;
      } else if (op < 75 && nsp < 8) {
        assert_int_equal(ov_savepoint(o, nsp), LSM_OK);
        sp[nsp++] = cur;
      } else if (op < 82 && nsp > 0) {
        int i = (int)(rnd() % (uint64_t)nsp);
        ov_rollback_to(o, i);
        cur = sp[i];
        nsp = i + 1;
        /* snapshots taken after savepoint i may now see rolled-back data: forget them */
        nsnap = 0;
      } else if (op < 88 && nsp > 0) {
        int i = (int)(rnd() % (uint64_t)nsp);
        ov_release(o, i);
        nsp = i;
      } else if (op < 95 && nsnap < 4) {
        snaps[nsnap] = ov_snapshot(o);
        snapm[nsnap++] = cur;
      } else if (nsnap > 0) {
        nsnap--;
      }
      /* a reserve with nodes present rehashes them: every lookup below must still find them */
      if (it == 200) assert_int_equal(ov_reserve(o, 4096 + (size_t)r), LSM_OK);
      check_model(o, OV_LATEST, &cur, seed, it);
      for (int s = 0; s < nsnap; s++) check_model(o, snaps[s], &snapm[s], seed, it);
    }
    ov_unref(o);
  }
}

/* A write reuses the splice of the preceding lookup (ov_get / ov_written_since) when its key
** falls in the same gap (overlay.c hint_fits): random lookup/put pairs, same key, a neighbour
** or any key, checked against a model, and every skiplist level checked for order. */
static void test_overlay_hint(void **state) {
  (void)state;
  const uint64_t seed = 0x0e1a0002;
  rng = seed;
  enum { NK = 400, NRAND = 300 }; /* random phase on keys < NRAND, then ascending appends */
  int val[NK];
  for (int i = 0; i < NK; i++) val[i] = -1;
  ov_overlay *o;
  assert_int_equal(ov_new(&o), LSM_OK);
  for (int it = 0; it < 3000; it++) {
    char kb[16], gb[16];
    int pk = (int)(rnd() % NRAND), gk = rnd() % 2 ? pk : (int)(rnd() % NRAND);
    if (rnd() % 4 == 0) gk = pk + 1 < NRAND ? pk + 1 : pk; /* a neighbour: same gap or next */
    if (it >= 3000 - (NK - NRAND)) gk = pk = NRAND + it - (3000 - (NK - NRAND)); /* ascending */
    size_t kn = (size_t)snprintf(kb, sizeof kb, "k%03d", pk);
    size_t gn = (size_t)snprintf(gb, sizeof gb, "k%03d", gk);
    const void *v;
    size_t vn;
    if (rnd() % 3 == 0) { /* the other lookup that leaves a hint */
      if (ov_written_since(o, 0, gb, gn) != (val[gk] >= 0))
        fail_msg("seed %#llx it %d: written_since of k%03d", (unsigned long long)seed, it, gk);
    } else {
      int st = ov_get(o, OV_LATEST, gb, gn, &v, &vn);
      if (st != (val[gk] < 0 ? OV_ABSENT : OV_PUT))
        fail_msg("seed %#llx it %d: state of k%03d", (unsigned long long)seed, it, gk);
    }
    if (rnd() % 8 == 0) (void)ov_snapshot(o); /* forces a new version instead of in place */
    assert_int_equal(ov_put(o, kb, kn, &it, sizeof it), LSM_OK);
    val[pk] = it;
  }
  int prev = -1;
  size_t n = 0;
  for (ov_node *x = ov_first(o); x; x = ov_next(x), n++) {
    const void *kp, *v = NULL; /* (set by ov_node_state; gcc cannot see assert's exit) */
    size_t kn, vn = 0;
    ov_node_key(x, &kp, &kn);
    assert_int_equal(kn, 4); /* "kNNN", not NUL-terminated */
    const char *kc = kp;
    int k = (kc[1] - '0') * 100 + (kc[2] - '0') * 10 + (kc[3] - '0');
    if (k <= prev) fail_msg("seed %#llx: order broken at k%03d", (unsigned long long)seed, k);
    prev = k;
    assert_int_equal(ov_node_state(x, OV_LATEST, &v, &vn), OV_PUT);
    if (vn != sizeof(int) || memcmp(v, &val[k], sizeof(int)))
      fail_msg("seed %#llx: wrong value for k%03d", (unsigned long long)seed, k);
  }
  size_t want = 0;
  for (int i = 0; i < NK; i++) want += val[i] >= 0;
  assert_int_equal(n, want);
  assert_int_equal(ov_count(o), want);
  /* every level is a sorted sublist (a bad splice would break an upper level only) */
  for (int l = 0; l < MAX_H; l++) {
    const ov_node *a = o->head->next[l];
    while (a && a->next[l]) {
      assert_true(cmp(node_key(a), a->kn, node_key(a->next[l]), a->next[l]->kn) < 0);
      a = a->next[l];
    }
  }
  ov_unref(o);
}

/* A cursor-like walk (snapshot, then seek, then ov_next) while the transaction keeps writing new
** and old keys, and other "cursors" seek (which links the new nodes into the list): the walk
** sees exactly the keys visible at its snapshot, in order. Then allocation failures at every
** point of a write leave the overlay unchanged. */
/* Keys of the walk test: short ones (their first 8 bytes differ) or, every third round, ones
** that share their first 8 bytes (the sort's tie path); both sort like k. */
static size_t wkey(char *b, int round, int k) {
  return (size_t)snprintf(b, 16, round % 3 == 2 ? "key_pref%04d" : "k%04d", k);
}

static void test_overlay_walk_while_writing(void **state) {
  (void)state;
  const uint64_t seed = 0x0e1a0003;
  rng = seed;
  enum { NK = 2000 };
  static int cur[NK], at[NK]; /* value written last (-1: none), and as of the snapshot */
  for (int round = 0; round < 20; round++) {
    ov_overlay *o;
    assert_int_equal(ov_new(&o), LSM_OK);
    for (int i = 0; i < NK; i++) cur[i] = -1;
    int w = 0;
    for (int i = 0; i < 300 + round * 50; i++, w++) { /* some keys before the walk */
      int k = (int)(rnd() % NK);
      char kb[16];
      size_t kn = (size_t)wkey(kb, round, k);
      assert_int_equal(ov_put(o, kb, kn, &w, sizeof w), LSM_OK);
      cur[k] = w;
    }
    uint64_t snap = ov_snapshot(o);
    memcpy(at, cur, sizeof at);
    int from = (int)(rnd() % NK);
    char fb[16];
    size_t fn = (size_t)wkey(fb, round, from);
    ov_node *x = round % 2 ? ov_seek_ge(o, fb, fn) : ov_first(o);
    if (round % 2 == 0) from = 0;
    int want = from;
    for (;;) {
      /* writes between steps: new keys (pending nodes), old keys (new versions), deletes */
      for (int j = (int)(rnd() % 4); j > 0; j--, w++) {
        int k = (int)(rnd() % NK);
        char kb[16];
        size_t kn = (size_t)wkey(kb, round, k);
        if (rnd() % 5 == 0) {
          assert_int_equal(ov_del(o, kb, kn), LSM_OK);
          cur[k] = -2;
        } else {
          assert_int_equal(ov_put(o, kb, kn, &w, sizeof w), LSM_OK);
          cur[k] = w;
        }
      }
      if (rnd() % 7 == 0) { /* another cursor positions itself: links what is pending */
        char kb[16];
        size_t kn = (size_t)wkey(kb, round, (int)(rnd() % NK));
        (void)ov_seek_ge(o, kb, kn);
      }
      /* the walk's next visible node */
      const void *v = NULL;
      size_t vn = 0;
      int st = OV_ABSENT;
      while (x && (st = ov_node_state(x, snap, &v, &vn)) == OV_ABSENT) x = ov_next(x);
      while (want < NK && at[want] == -1) want++;
      if (!x || want == NK) {
        if (x || want != NK) fail_msg("seed %#llx round %d: walk ended wrongly (want k%04d)",
                                      (unsigned long long)seed, round, want);
        break;
      }
      const void *kp;
      size_t kn;
      ov_node_key(x, &kp, &kn);
      char wb[16];
      size_t wn = (size_t)wkey(wb, round, want);
      if (kn != wn || memcmp(kp, wb, kn))
        fail_msg("seed %#llx round %d: walk at %.*s, want %s", (unsigned long long)seed, round,
                 (int)kn, (const char *)kp, wb);
      assert_int_equal(st, at[want] == -2 ? OV_DEL : OV_PUT);
      if (st == OV_PUT) {
        assert_int_equal(vn, sizeof(int));
        assert_memory_equal(v, &at[want], sizeof(int));
      }
      x = ov_next(x);
      want++;
    }
    /* every key's latest state, and a full ordered walk of the latest state */
    int n = 0, prevk = -1;
    for (ov_node *y = ov_first(o); y; y = ov_next(y)) {
      const void *kp;
      size_t kn;
      ov_node_key(y, &kp, &kn);
      const char *kc = (const char *)kp + kn - 4; /* not NUL-terminated */
      int k = (kc[0] - '0') * 1000 + (kc[1] - '0') * 100 + (kc[2] - '0') * 10 + (kc[3] - '0');
      assert_true(k > prevk && k < NK && cur[k] != -1);
      prevk = k;
      n++;
    }
    int written = 0;
    for (int i = 0; i < NK; i++) written += cur[i] != -1;
    assert_int_equal(n, written);
    assert_int_equal(ov_count(o), (size_t)written);
    /* allocation failures: nothing changes */
    for (long f = 0; f < 4; f++) {
      int k = NK + (int)f; /* a new key */
      char kb[16];
      size_t kn = (size_t)wkey(kb, round, k);
      size_t before = ov_count(o);
      mm_fail_after(f);
      int rc = ov_put(o, kb, kn, &w, sizeof w);
      mm_fail_after(-1);
      const void *v;
      size_t vn;
      if (rc == LSM_OK) {
        assert_int_equal(ov_get(o, OV_LATEST, kb, kn, &v, &vn), OV_PUT);
      } else {
        assert_int_equal(rc, LSM_NOMEM);
        /* a node without a version may stay (harmless: reads as not written) */
        assert_int_equal(ov_get(o, OV_LATEST, kb, kn, &v, &vn), OV_ABSENT);
        assert_true(ov_count(o) <= before + 1);
      }
    }
    ov_unref(o);
  }
}

/* One key rewritten with values of changing sizes (small, over a chunk's quarter, in place or
** not), across snapshots and a savepoint rolled back: every read returns the right bytes; a
** failed allocation leaves the previous value. */
static void test_overlay_value_sizes(void **state) {
  (void)state;
  static const size_t sizes[] = {10, 20000, 5, 40000, 100, 100, 70000, 3, 0, 17000, 16};
  enum { NS = sizeof sizes / sizeof sizes[0] };
  static uint8_t buf[70000];
  ov_overlay *o;
  assert_int_equal(ov_new(&o), LSM_OK);
  uint64_t snap[NS];
  for (int i = 0; i < NS; i++) {
    memset(buf, 'a' + i, sizes[i]);
    if (i == 6) assert_int_equal(ov_savepoint(o, 0), LSM_OK);
    assert_int_equal(ov_put(o, "key", 3, buf, sizes[i]), LSM_OK);
    assert_int_equal(ov_put(o, "other", 5, buf, sizes[i] / 2), LSM_OK);
    const void *v;
    size_t vn;
    assert_int_equal(ov_get(o, OV_LATEST, "key", 3, &v, &vn), OV_PUT);
    assert_int_equal(vn, sizes[i]);
    for (size_t j = 0; j < vn; j++) assert_int_equal(((const uint8_t *)v)[j], 'a' + i);
    snap[i] = i % 3 == 0 ? ov_snapshot(o) : 0; /* every third value stays visible at a snapshot */
  }
  for (int i = 0; i < NS; i++) {
    if (!snap[i]) continue;
    const void *v;
    size_t vn;
    assert_int_equal(ov_get(o, snap[i], "key", 3, &v, &vn), OV_PUT);
    assert_int_equal(vn, sizes[i]);
    for (size_t j = 0; j < vn; j++) assert_int_equal(((const uint8_t *)v)[j], 'a' + i);
  }
  ov_rollback_to(o, 0); /* back to value 5 (written before the savepoint) */
  const void *v;
  size_t vn;
  assert_int_equal(ov_get(o, OV_LATEST, "key", 3, &v, &vn), OV_PUT);
  assert_int_equal(vn, sizes[5]);
  for (size_t j = 0; j < vn; j++) assert_int_equal(((const uint8_t *)v)[j], 'a' + 5);
  ov_release(o, 0);
  memset(buf, 'z', sizeof buf);
  for (long f = 0; f < 2; f++) { /* a value larger than anything before: a new allocation */
    mm_fail_after(f);
    int rc = ov_put(o, "key", 3, buf, sizeof buf);
    mm_fail_after(-1);
    assert_int_equal(ov_get(o, OV_LATEST, "key", 3, &v, &vn), OV_PUT);
    if (rc == LSM_OK) {
      assert_int_equal(vn, sizeof buf);
      assert_memory_equal(v, buf, vn);
    } else {
      assert_int_equal(rc, LSM_NOMEM);
      assert_int_equal(vn, sizes[5]);
    }
  }
  ov_unref(o);
}

/* What the overlay's blocks are, from its structure: their requested sizes (*req) and the C
** library's usable sizes (the return; what mm_live_bytes counts). */
static size_t ov_blocks(const ov_overlay *o, size_t *req) {
  const void *p[] = {o, o->head, o->tab, o->pend, o->undo, o->sp};
  size_t n[] = {sizeof *o, sizeof(ov_node) + MAX_H * sizeof(ov_node *), o->tabcap * sizeof(ov_slot),
                o->cappend * sizeof(ov_node *), o->capundo * sizeof(ov_node *),
                (size_t)o->capsp * sizeof *o->sp};
  size_t usable = 0;
  *req = 0;
  for (int i = 0; i < 6; i++) {
    if (!p[i]) continue;
    *req += n[i];
    usable += malloc_usable_size((void *)p[i]);
  }
  for (const ov_chunk *c = o->chunks; c; c = c->next) {
    *req += sizeof *c + c->cap;
    usable += malloc_usable_size((void *)c);
  }
  return usable;
}

/* ov_bytes is the memory the overlay holds, and ov_write_cost bounds each write's growth: random
** puts and deletes (new and existing keys, values from 0 to 70000 bytes: in place, replaced,
** chunks of their own), snapshots, savepoints and rollbacks, ordered walks (pend emptied).
** After every step ov_bytes is the sum of the overlay's blocks, and those blocks are all the
** live heap it has (mm_live_bytes, counting since main); after every write the growth is at most
** the cost asked before it; everything is returned at ov_unref. */
static void test_overlay_bytes(void **state) {
  (void)state;
  const uint64_t seed = 0x0b17e5;
  rng = seed;
  static const size_t vsizes[] = {0, 5, 100, 100, 3000, 20000, 70000};
  static uint8_t val[70000];
  memset(val, 'v', sizeof val);
  size_t base = mm_live_bytes();
  ov_overlay *o;
  assert_int_equal(ov_new(&o), LSM_OK);
  size_t exact = 0; /* writes whose cost was exactly their growth */
  for (int it = 0; it < 6000; it++) {
    char kb[48];
    size_t kn = (size_t)snprintf(kb, sizeof kb, "key%0*d", (int)(rnd() % 30), (int)(rnd() % 2000));
    size_t vn = vsizes[rnd() % (sizeof vsizes / sizeof *vsizes)];
    int op = (int)(rnd() % 100);
    if (op < 3) {
      assert_int_equal(ov_savepoint(o, ov_depth(o)), LSM_OK);
    } else if (op < 5 && ov_depth(o)) {
      ov_rollback_to(o, (int)(rnd() % (unsigned)ov_depth(o)));
    } else if (op < 6) {
      ov_release(o, (int)(rnd() % (unsigned)(ov_depth(o) + 1)));
    } else if (op < 8) {
      (void)ov_snapshot(o);
    } else if (op < 9) {
      (void)ov_first(o); /* links the pending nodes */
    } else {
      size_t before = ov_bytes(o), cost = ov_write_cost(o, kb, kn, op < 25 ? 0 : vn);
      if (op < 25) assert_int_equal(ov_del(o, kb, kn), LSM_OK);
      else assert_int_equal(ov_put(o, kb, kn, val, vn), LSM_OK);
      size_t grew = ov_bytes(o) - before;
      if (grew > cost)
        fail_msg("seed %#llx it %d: grew %zu, cost said %zu", (unsigned long long)seed, it, grew, cost);
      exact += grew == cost;
    }
    size_t req, usable = ov_blocks(o, &req);
    if (ov_bytes(o) != req || mm_live_bytes() - base != usable)
      fail_msg("seed %#llx it %d: ov_bytes %zu, blocks %zu (usable %zu), live %zu",
               (unsigned long long)seed, it, ov_bytes(o), req, usable, mm_live_bytes() - base);
  }
  assert_true(exact > 1000); /* the bound is the growth itself most of the time */
  ov_unref(o);
  assert_int_equal(mm_live_bytes(), base);
}

/* Keys and values over the engine's limits are refused before anything is allocated (a node
** and a version keep their sizes in 32 bits). */
static void test_overlay_limits(void **state) {
  (void)state;
  static uint8_t big[LSM_MAX_KEY + 1];
  ov_overlay *o;
  assert_int_equal(ov_new(&o), LSM_OK);
  assert_int_equal(ov_put(o, "a", 1, "x", 1), LSM_OK);
  size_t bytes = ov_bytes(o);
  assert_int_equal(ov_put(o, big, sizeof big, "x", 1), LSM_TOOBIG);
  assert_int_equal(ov_del(o, big, sizeof big), LSM_TOOBIG);
  /* the value is not read before the check: its length alone is refused */
  assert_int_equal(ov_put(o, "b", 1, big, (size_t)LSM_MAX_VALUE + 1), LSM_TOOBIG);
  assert_int_equal(ov_count(o), 1);
  assert_int_equal(ov_bytes(o), bytes);
  const void *v;
  size_t vn;
  assert_int_equal(ov_get(o, OV_LATEST, "b", 1, &v, &vn), OV_ABSENT);
  assert_int_equal(ov_put(o, big, LSM_MAX_KEY, "y", 1), LSM_OK); /* the limit itself is fine */
  assert_int_equal(ov_get(o, OV_LATEST, big, LSM_MAX_KEY, &v, &vn), OV_PUT);
  assert_int_equal(vn, 1);
  assert_memory_equal(v, "y", 1);
  ov_unref(o);
}

/* State of key k at snapshot s as text: "1" (the value), "del" or "absent". */
static const char *ov_state_at(ov_overlay *o, uint64_t s, const char *k) {
  static char buf[64];
  const void *v;
  size_t vn;
  int st = ov_get(o, s, k, strlen(k), &v, &vn);
  if (st != OV_PUT) return st == OV_DEL ? "del" : "absent";
  snprintf(buf, sizeof buf, "%.*s", (int)vn, (const char *)v);
  return buf;
}

/* A savepoint is a snapshot too: the state as of its opening stays readable at
** ov_savepoint_seq (what a spill writes as the run before the savepoint's cut), whatever is
** written after it, and ov_node_seq tells in which interval of snapshots a key's visible
** version was written. */
static void test_overlay_savepoint_seq(void **state) {
  (void)state;
  ov_overlay *o;
  assert_int_equal(ov_new(&o), LSM_OK);
  assert_int_equal(ov_put(o, "a", 1, "1", 1), LSM_OK);
  assert_int_equal(ov_savepoint(o, 0), LSM_OK);
  uint64_t s0 = ov_savepoint_seq(o, 0);
  assert_true(s0 >= 1);
  assert_int_equal(ov_put(o, "a", 1, "2", 1), LSM_OK);
  assert_int_equal(ov_put(o, "a", 1, "3", 1), LSM_OK); /* in place: over "2", not over "1" */
  assert_int_equal(ov_put(o, "b", 1, "1", 1), LSM_OK);
  assert_int_equal(ov_savepoint(o, 2), LSM_OK); /* opens 1 too, at the same snapshot */
  uint64_t s1 = ov_savepoint_seq(o, 1);
  assert_true(s1 > s0);
  assert_int_equal(ov_savepoint_seq(o, 2), s1);
  assert_int_equal(ov_savepoint_seq(o, 3), 0); /* not open */
  assert_int_equal(ov_del(o, "a", 1), LSM_OK);
  assert_string_equal(ov_state_at(o, s0, "a"), "1");
  assert_string_equal(ov_state_at(o, s1, "a"), "3");
  assert_string_equal(ov_state_at(o, OV_LATEST, "a"), "del");
  assert_string_equal(ov_state_at(o, s0, "b"), "absent");
  ov_node *a = ov_seek_ge(o, "a", 1), *b = ov_seek_ge(o, "b", 1);
  assert_non_null(a);
  assert_non_null(b);
  assert_true(ov_node_seq(a, s0) >= 1 && ov_node_seq(a, s0) <= s0);
  assert_true(ov_node_seq(a, s1) > s0 && ov_node_seq(a, s1) <= s1);
  assert_true(ov_node_seq(a, OV_LATEST) > s1);
  assert_int_equal(ov_node_seq(b, s0), 0);
  assert_true(ov_node_seq(b, s1) > s0);
  ov_rollback_to(o, 1);
  assert_string_equal(ov_state_at(o, OV_LATEST, "a"), "3");
  assert_int_equal(ov_savepoint_seq(o, 1), s1);
  assert_int_equal(ov_savepoint_seq(o, 2), 0); /* closed by the rollback to 1 */
  ov_rollback_to(o, 0);
  assert_string_equal(ov_state_at(o, OV_LATEST, "a"), "1");
  assert_string_equal(ov_state_at(o, OV_LATEST, "b"), "absent");
  assert_int_equal(ov_node_seq(b, OV_LATEST), 0);
  ov_release(o, 0);
  assert_int_equal(ov_savepoint_seq(o, 0), 0);
  ov_unref(o);
}

static void test_overlay_refcount(void **state) {
  (void)state;
  ov_overlay *o;
  assert_int_equal(ov_new(&o), LSM_OK);
  int v = 7;
  assert_int_equal(ov_put(o, "a", 1, &v, sizeof v), LSM_OK);
  ov_ref(o);   /* a cursor */
  ov_unref(o); /* the transaction ends */
  const void *p;
  size_t n;
  assert_int_equal(ov_get(o, OV_LATEST, "a", 1, &p, &n), OV_PUT); /* still readable */
  assert_int_equal(ov_count(o), 1);
  assert_true(ov_bytes(o) > 0);
  ov_unref(o);
}

static void test_options(void **state) {
  (void)state;
  size_t sz;
  assert_int_equal(opt_parse_size("64MB", &sz), LSM_OK);
  assert_true(sz == 64u << 20);
  assert_int_equal(opt_parse_size("8 k", &sz), LSM_OK);
  assert_true(sz == 8192);
  assert_int_equal(opt_parse_size("2GiB", &sz), LSM_OK);
  assert_true(sz == (size_t)2 << 30);
  assert_int_equal(opt_parse_size("12", &sz), LSM_OK);
  assert_true(sz == 12);
  assert_int_not_equal(opt_parse_size("MB", &sz), LSM_OK);
  assert_int_not_equal(opt_parse_size("1XB", &sz), LSM_OK);
  assert_int_not_equal(opt_parse_size("-1", &sz), LSM_OK);
  assert_int_equal(opt_affinity("INTEGER"), OPT_AFF_INTEGER);
  assert_int_equal(opt_affinity("BIGINT"), OPT_AFF_INTEGER);
  assert_int_equal(opt_affinity("VARCHAR(10)"), OPT_AFF_TEXT);
  assert_int_equal(opt_affinity("CHARINT"), OPT_AFF_INTEGER); /* INT wins, as in SQLite */
  assert_int_equal(opt_affinity(""), OPT_AFF_BLOB);
  assert_int_equal(opt_affinity("DOUBLE PRECISION"), OPT_AFF_REAL);
  assert_int_equal(opt_affinity("DECIMAL(10,2)"), OPT_AFF_NUMERIC);
  const char *args[] = {"a TEXT NOT NULL", "\"b c\" INT", "PRIMARY KEY(\"b c\", a)",
                        "memtable_size='1MB'", "sync=full"};
  opt_table t;
  assert_int_equal(opt_parse(5, args, &t), LSM_OK);
  assert_int_equal(t.ncol, 2);
  assert_string_equal(t.cols[1].name, "b c");
  assert_int_equal(t.nkey, 2);
  assert_int_equal(t.key[0], 1);
  assert_int_equal(t.key[1], 0);
  assert_true(t.lo.memtable_size == 1u << 20);
  assert_int_equal(t.lo.sync, LSM_SYNC_FULL);
  assert_true(t.lo.block_size == 2048); /* the module's default (OPT_BLOCK_SIZE), not 4096 */
  opt_free(&t);
  const char *bs[] = {"a", "block_size='4KB'"};
  assert_int_equal(opt_parse(2, bs, &t), LSM_OK);
  assert_true(t.lo.block_size == 4096);
  assert_true(t.max_txn_size == (size_t)256 << 20); /* the default, OPT_MAX_TXN_SIZE */
  opt_free(&t);
  const char *mt[] = {"a", "max_txn_size='64KB'"};
  assert_int_equal(opt_parse(2, mt, &t), LSM_OK);
  assert_true(t.max_txn_size == 65536);
  opt_free(&t);
  const char *badmt[][2] = {{"a", "max_txn_size=65535"}, {"a", "max_txn_size='5GB'"},
                            {"a", "max_txn_size=lots"}};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(opt_parse(2, badmt[i], &t), LSM_ERROR);
    assert_non_null(strstr(st_errmsg(), "bad value for option max_txn_size"));
  }
  const char *twice[] = {"a", "max_txn_size='1MB'", "MAX_TXN_SIZE='2MB'"};
  assert_int_equal(opt_parse(3, twice, &t), LSM_ERROR);
  assert_non_null(strstr(st_errmsg(), "max_txn_size given twice"));
  const char *bad[] = {"a", "frobnicate=1"};
  assert_int_equal(opt_parse(2, bad, &t), LSM_ERROR);
  assert_non_null(strstr(st_errmsg(), "frobnicate"));
}

/* ------------------------------------------------------------------------------------------ */
/* Through SQLite. */

static sqlite3 *open_db(const char *path) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_enable_load_extension(db, 1);
  const char *ext = getenv("LSMVTAB_EXT");
  if (!ext) fail_msg("LSMVTAB_EXT is not set (the path of the extension without .so)");
  char *err = NULL;
  if (sqlite3_load_extension(db, ext, 0, &err) != SQLITE_OK) fail_msg("load: %s", err);
  sqlite3_busy_timeout(db, 2000);
  return db;
}

/* lsmvtab.so exports its entry point and the VFS's test hooks, nothing else (ext_version.h:
** SQLite loads extensions RTLD_GLOBAL, so an exported engine name could bind to or capture a
** host's same-named symbol). Names from modules of the engine, the SQL module and the VFS, and
** the extension's sqlite3_api pointer (every extension defines one), must not resolve. */
static void test_exports_only_entry_points(void **state) {
  (void)state;
  sqlite3 *db = open_db(":memory:");
  char so[1024];
  snprintf(so, sizeof so, "%s.so", getenv("LSMVTAB_EXT"));
  void *h = dlopen(so, RTLD_NOW | RTLD_NOLOAD);
  if (!h) fail_msg("dlopen %s: %s", so, dlerror());
  assert_non_null(dlsym(h, "sqlite3_lsmvtab_init"));
  assert_non_null(dlsym(h, "uringvfs_fault_set"));
  static const char *const hidden[] = {"sqlite3_api", "cache_new",  "mm_malloc",  "st_err",
                                       "lsm_open",    "sst_open",   "blk_parse",  "ver_get",
                                       "fio_open",    "ov_new",     "ke_decode",  "opt_parse",
                                       "vt_register", "uringvfs_register"};
  for (size_t i = 0; i < sizeof hidden / sizeof *hidden; i++)
    if (dlsym(h, hidden[i])) fail_msg("lsmvtab.so exports %s", hidden[i]);
  dlclose(h);
  sqlite3_close(db);
}

static void exec_ok(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
}

/* First column of the first row as text (static buffer), "" if none. */
static const char *q1(sqlite3 *db, const char *sql) {
  static char buf[4096];
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  buf[0] = 0;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
    snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(st, 0));
  else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return buf;
}

static long long qi(sqlite3 *db, const char *sql) { return atoll(q1(db, sql)); }


/* A table file truncated by another process while the table has it mapped (mmap_reads, the
** default): statements that need a block from the lost part fail with SQLITE_IOERR and a
** message naming the file (the engine's mapguard), again and again; the connection goes on.
** First in the group: the loaded extension installs its SIGBUS handler once per process,
** over cmocka's, and cmocka removes it after each test (then later tables open unmapped). */
static void test_mmap_truncated_sql(void **state) {
  (void)state;
  vg_grow_stack(); /* the SIGBUS is delivered deep inside sqlite3_step */
  if (sizeof(void *) < 8) return;
  sqlite3 *db = open_db("mtr.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v, dir='mtr', cache_size='64KB');"
              "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)"
              " INSERT INTO t SELECT i, printf('%050d', i * 7) FROM c;"
              "SELECT lsm_flush('t'), lsm_compact('t');");
  assert_int_equal(qi(db, "SELECT json_extract(lsm_stats('t'), '$.engine.mmap_reads')"), 1);
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 5"), "00000000000000000000000000000000000000000000000035");
  if (mg_mapped_tables("mtr") < 1) fail_msg("the table files are not mapped: the test tests nothing");
  DIR *d = opendir("mtr");
  assert_non_null(d);
  struct dirent *de;
  while ((de = readdir(d))) {
    char path[300];
    snprintf(path, sizeof path, "mtr/%s", de->d_name);
    if (strstr(de->d_name, ".sst")) assert_int_equal(truncate(path, 4096), 0);
  }
  closedir(d);
  exec_ok(db, "INSERT INTO t VALUES (30000, 'mem')");
  const char *bad[] = {"SELECT v FROM t WHERE k = 15000", "SELECT k FROM t WHERE k IN (12000, 19000)",
                       "UPDATE t SET v = 'x' WHERE k = 17000", "SELECT v FROM t WHERE k = 15001"};
  for (int rep = 0; rep < 2; rep++) {
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      sqlite3_stmt *st;
      assert_int_equal(sqlite3_prepare_v2(db, bad[i], -1, &st, NULL), SQLITE_OK);
      int rc = sqlite3_step(st);
      if ((rc & 0xff) != SQLITE_IOERR) fail_msg("%s: rc %d (%s), want SQLITE_IOERR", bad[i], rc, sqlite3_errmsg(db));
      sqlite3_finalize(st);
    }
    assert_non_null(strstr(sqlite3_errmsg(db), ".sst"));
    assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 30000"), "mem");
  }
  sqlite3_close(db);
}

/* Table files (".sst" under dir/) this process has open, and how many of them carry O_DIRECT in
** their open flags (/proc/self/fdinfo). */
static int sst_fds(const char *dir, int *direct) {
  char want[64], link[512], path[300];
  snprintf(want, sizeof want, "/%s/", dir);
  int n = 0;
  *direct = 0;
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  struct dirent *de;
  while ((de = readdir(d))) {
    snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
    ssize_t ln = readlink(path, link, sizeof link - 1);
    if (ln <= 0) continue;
    link[ln] = 0;
    if (!strstr(link, want) || !strstr(link, ".sst")) continue;
    snprintf(path, sizeof path, "/proc/self/fdinfo/%s", de->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    char line[128];
    unsigned long flags = 0;
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "flags: %lo", &flags) == 1) break;
    fclose(f);
    n++;
    if (flags & O_DIRECT) (*direct)++;
  }
  closedir(d);
  return n;
}

/* direct_io and io_poll_us reach the engine from the CREATE statement: with direct_io=1 every
** open table file is opened O_DIRECT (fdinfo), with 0 none is; an IN list over blocks no cache
** holds goes to the engine as one lsm_multiget, whose batch wait polls (io_poll_us > 0) or does
** not (0) by lsm_stats' counts; the answers are the rows written. Skipped (with a message) where
** io_uring or O_DIRECT is unavailable. */
static void test_direct_io_sql(void **state) {
  (void)state;
  sqlite3 *db = open_db("dio.db");
  const char *opts[3] = {"io=uring, direct_io=1, io_poll_us=100000", "io=uring, direct_io=1",
                         "io=uring, direct_io=0, io_poll_us=100000"};
  const char *dirs[3] = {"dio_p", "dio_n", "dio_b"};
  for (int t = 0; t < 3; t++) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE VIRTUAL TABLE t%d USING lsm(k INTEGER PRIMARY KEY, v, dir='%s', cache_size='64KB', %s);"
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)"
             " INSERT INTO t%d SELECT i, printf('%%050d', i * 7) FROM c;"
             "SELECT lsm_flush('t%d'), lsm_compact('t%d');",
             t, dirs[t], opts[t], t, t, t);
    exec_ok(db, sql);
  }
  if (strcmp(q1(db, "SELECT json_extract(lsm_stats('t0'), '$.engine.io_backend')"), "uring")) {
    print_message("test_direct_io_sql: io_uring unavailable here, skipped\n");
    sqlite3_close(db);
    return;
  }
  int fd = open("dio_p/probe", O_CREAT | O_RDWR | O_DIRECT, 0644);
  if (fd < 0) {
    print_message("test_direct_io_sql: this filesystem refuses O_DIRECT, skipped\n");
    sqlite3_close(db);
    return;
  }
  close(fd);
  unlink("dio_p/probe");
  int want_direct[3] = {1, 1, 0}, want_poll[3] = {100000, 0, 100000};
  for (int t = 0; t < 3; t++) {
    char sql[512], in[400] = "";
    snprintf(sql, sizeof sql, "SELECT json_extract(lsm_stats('t%d'), '$.engine.direct_io')", t);
    assert_int_equal(qi(db, sql), want_direct[t]);
    snprintf(sql, sizeof sql, "SELECT json_extract(lsm_stats('t%d'), '$.engine.io_poll_us')", t);
    assert_int_equal(qi(db, sql), want_poll[t]);
    int direct, n = sst_fds(dirs[t], &direct);
    if (n < 1) fail_msg("t%d: no table file open: the test tests nothing", t);
    assert_int_equal(direct, want_direct[t] ? n : 0);
    /* 32 keys 617 apart: one per block or so, none cached (64 KiB cache, just compacted) */
    for (int i = 0; i < 32; i++)
      snprintf(in + strlen(in), sizeof in - strlen(in), "%s%d", i ? "," : "", 1 + i * 617);
    snprintf(sql, sizeof sql, "SELECT count(*) * 1000 + sum(v = printf('%%050d', k * 7)) FROM t%d WHERE k IN (%s)",
             t, in);
    assert_int_equal(qi(db, sql), 32032); /* 32 rows, each its value */
    snprintf(sql, sizeof sql,
             "SELECT json_extract(lsm_stats('t%d'), '$.engine.io_polled') + "
             "json_extract(lsm_stats('t%d'), '$.engine.io_poll_slept')", t, t);
    if (want_poll[t]) assert_true(qi(db, sql) >= 1);
    else assert_int_equal(qi(db, sql), 0);
  }
  sqlite3_close(db);
}

static int dir_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_reopen(void **state) {
  (void)state;
  sqlite3 *db = open_db("reopen.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(a TEXT, b REAL, c, PRIMARY KEY(a, b));"
              "CREATE VIRTUAL TABLE r USING lsm(x);"
              "INSERT INTO t VALUES ('x', 1, 'one'), ('y', 2.5, x'00ff'), ('x', 0, NULL);"
              "INSERT INTO r VALUES (10), (20);");
  exec_ok(db, "SELECT lsm_flush('t')");
  exec_ok(db, "INSERT INTO t VALUES ('z', 3, 3)"); /* this one only in the WAL */
  exec_ok(db, "BEGIN; INSERT INTO t VALUES ('uncommitted', 0, 0);");
  sqlite3_close(db); /* closing with an open transaction rolls it back */
  db = open_db("reopen.db");
  assert_string_equal(q1(db, "SELECT group_concat(a || ':' || typeof(b) || b || ':' || quote(c), ' ')"
                             " FROM t"),
                      "x:real0.0:NULL x:real1.0:'one' y:real2.5:X'00FF' z:real3.0:3");
  assert_string_equal(q1(db, "SELECT group_concat(rowid || '=' || x) FROM r"), "1=10,2=20");
  exec_ok(db, "INSERT INTO r VALUES (30)");
  assert_int_equal(qi(db, "SELECT max(rowid) FROM r"), 3);
  sqlite3_close(db);
}

static void test_two_connections(void **state) {
  (void)state;
  sqlite3 *a = open_db("share.db");
  exec_ok(a, "CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v)");
  sqlite3 *b = open_db("share.db");
  exec_ok(a, "INSERT INTO t VALUES (1, 'from a')");
  assert_string_equal(q1(b, "SELECT v FROM t WHERE k = 1"), "from a");
  /* uncommitted writes of a are invisible to b */
  exec_ok(a, "BEGIN; INSERT INTO t VALUES (2, 'pending')");
  assert_int_equal(qi(b, "SELECT count(*) FROM t"), 1);
  exec_ok(a, "COMMIT");
  assert_int_equal(qi(b, "SELECT count(*) FROM t"), 2);
  /* one engine: both see the same directory; closing one keeps the other working */
  char dir_a[1024];
  snprintf(dir_a, sizeof dir_a, "%s", q1(a, "SELECT json_extract(lsm_stats('t'), '$.dir')"));
  assert_string_equal(q1(b, "SELECT json_extract(lsm_stats('t'), '$.dir')"), dir_a);
  sqlite3_close(a);
  exec_ok(b, "INSERT INTO t VALUES (3, 'from b')");
  assert_int_equal(qi(b, "SELECT count(*) FROM t"), 3);
  /* b cannot rename while a shares it... a is closed now, so the rename works */
  exec_ok(b, "ALTER TABLE t RENAME TO t2");
  assert_int_equal(qi(b, "SELECT count(*) FROM t2"), 3);
  sqlite3_close(b);
}

static void test_other_process_busy(void **state) {
  (void)state;
  sqlite3 *db = open_db("busy.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v); INSERT INTO t VALUES (1, 2)");
  /* another process (the sqlite3 shell) opening the same table gets SQLITE_BUSY */
  char cmd[2048];
  /* An ASan-built extension needs the ASan runtime preloaded into the plain sqlite3 shell. */
#if defined(__SANITIZE_ADDRESS__)
  const char *pre = "LD_PRELOAD=$(${CC:-gcc} -print-file-name=libasan.so) ";
#else
  const char *pre = "";
#endif
  snprintf(cmd, sizeof cmd,
           "%ssqlite3 -batch -cmd '.load %s' busy.db 'SELECT * FROM t' 2>&1; echo \"exit=$?\"",
           pre, getenv("LSMVTAB_EXT"));
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char out[4096] = {0};
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = 0;
  pclose(p);
  if (!strstr(out, "locked by another process")) fail_msg("child said: %s", out);
  if (strstr(out, "exit=0")) fail_msg("child succeeded: %s", out);
  sqlite3_close(db);
  /* once closed, the other process can open it */
  p = popen(cmd, "r");
  n = fread(out, 1, sizeof out - 1, p);
  out[n] = 0;
  pclose(p);
  if (!strstr(out, "1|2")) fail_msg("child said: %s", out);
}

static void test_drop_removes_files(void **state) {
  (void)state;
  sqlite3 *db = open_db("drop.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY); INSERT INTO t VALUES (1);"
              "CREATE VIRTUAL TABLE u USING lsm(k PRIMARY KEY); SELECT lsm_flush('t');");
  assert_true(dir_exists("drop.db-lsm/t"));
  exec_ok(db, "DROP TABLE t");
  assert_false(dir_exists("drop.db-lsm/t"));
  assert_true(dir_exists("drop.db-lsm/u"));
  exec_ok(db, "DROP TABLE u");
  assert_false(dir_exists("drop.db-lsm")); /* the last table takes the parent with it */
  sqlite3_close(db);
}

/* SQLite error code of sql, with its message containing want (NULL: any). */
static void exec_fails(sqlite3 *db, const char *sql, int code, const char *want) {
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (rc != code || (want && (!err || !strstr(err, want))))
    fail_msg("%s: rc %d (want %d), message \"%s\" (want \"%s\")", sql, rc, code, err ? err : "",
             want ? want : "");
  sqlite3_free(err);
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

/* DROP TABLE inside a transaction: files kept for ROLLBACK (BEGIN and SAVEPOINT), removed once
** the DROP has committed (at the next CREATE or DROP of an lsm table of the database, or when a
** table of that name is created), and a CREATE of the same name in the dropping transaction
** refused rather than wiping what a ROLLBACK needs. Rows both flushed and in the memtable. */
static void test_drop_in_transaction(void **state) {
  (void)state;
  sqlite3 *db = open_db("dropx.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v);"
              "INSERT INTO t VALUES (1, 'a'), (2, 'b'); SELECT lsm_flush('t');"
              "INSERT INTO t VALUES (3, 'c')");
  exec_ok(db, "BEGIN; DROP TABLE t");
  assert_int_equal(qi(db, "SELECT count(*) FROM sqlite_schema WHERE name = 't'"), 0);
  assert_true(file_exists("dropx.db-lsm/t/DROPPED"));
  exec_fails(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v)", SQLITE_ERROR,
             "dropped in this transaction");
  exec_ok(db, "ROLLBACK");
  assert_string_equal(q1(db, "SELECT group_concat(k || v) FROM t"), "1a,2b,3c");
  exec_ok(db, "INSERT INTO t VALUES (4, 'd')"); /* and writable */
  exec_ok(db, "SAVEPOINT s; DROP TABLE t; ROLLBACK TO s; RELEASE s");
  assert_string_equal(q1(db, "SELECT group_concat(k || v) FROM t"), "1a,2b,3c,4d");
  /* the transaction's writes go with the dropped table: refused when a ROLLBACK TO could bring
  ** the table back without them (written before an open SAVEPOINT); fine otherwise */
  exec_ok(db, "BEGIN; INSERT INTO t VALUES (5, 'e'); SAVEPOINT s");
  exec_fails(db, "DROP TABLE t", SQLITE_ERROR, NULL);
  exec_ok(db, "ROLLBACK TO s; RELEASE s; COMMIT");
  assert_string_equal(q1(db, "SELECT group_concat(k || v) FROM t"), "1a,2b,3c,4d,5e");
  exec_ok(db, "BEGIN; SAVEPOINT s; INSERT INTO t VALUES (6, 'f'); RELEASE s; DROP TABLE t; ROLLBACK");
  assert_string_equal(q1(db, "SELECT group_concat(k || v) FROM t"), "1a,2b,3c,4d,5e");
  exec_ok(db, "DELETE FROM t WHERE k = 5");
  /* the marker of a rolled-back DROP is harmless: another table's CREATE keeps the files */
  exec_ok(db, "CREATE VIRTUAL TABLE u USING lsm(k PRIMARY KEY)");
  assert_int_equal(qi(db, "SELECT count(*) FROM t"), 4);
  /* committed: the directory stays, marked, until the next CREATE or DROP sweeps it */
  exec_ok(db, "BEGIN; DROP TABLE t; COMMIT");
  assert_true(file_exists("dropx.db-lsm/t/DROPPED"));
  exec_ok(db, "CREATE VIRTUAL TABLE w USING lsm(k PRIMARY KEY)");
  assert_false(dir_exists("dropx.db-lsm/t"));
  assert_true(dir_exists("dropx.db-lsm/u"));
  /* committed, then a table of the same name created in a later transaction: a fresh table */
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (9, 'z');"
              "BEGIN; DROP TABLE t; COMMIT;"
              "BEGIN; CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v); COMMIT");
  assert_int_equal(qi(db, "SELECT count(*) FROM t"), 0);
  assert_false(file_exists("dropx.db-lsm/t/DROPPED"));
  /* a damaged marker is reported as corrupt, and its directory is left alone */
  exec_ok(db, "CREATE VIRTUAL TABLE c USING lsm(k PRIMARY KEY); BEGIN; DROP TABLE c; COMMIT");
  FILE *f = fopen("dropx.db-lsm/c/DROPPED", "r+b");
  assert_non_null(f);
  fseek(f, 20, SEEK_SET);
  fputc(0x5a, f);
  fclose(f);
  exec_fails(db, "CREATE VIRTUAL TABLE c USING lsm(k PRIMARY KEY)", SQLITE_CORRUPT, "DROPPED");
  exec_ok(db, "CREATE VIRTUAL TABLE c2 USING lsm(k PRIMARY KEY); DROP TABLE c2"); /* sweeps */
  assert_true(file_exists("dropx.db-lsm/c/DROPPED"));
  if (system("rm -r dropx.db-lsm/c") != 0) fail_msg("rm -r dropx.db-lsm/c failed");
  /* a DROP in autocommit mode removes the files at once, and sweeps */
  exec_ok(db, "BEGIN; DROP TABLE w; COMMIT; DROP TABLE u");
  assert_false(dir_exists("dropx.db-lsm/u"));
  assert_false(dir_exists("dropx.db-lsm/w"));
  sqlite3_close(db);
  /* survives a reopen: the rolled-back DROP's table reads back */
  db = open_db("dropx.db");
  exec_ok(db, "INSERT INTO t VALUES (1, 'x'); BEGIN; DROP TABLE t; ROLLBACK");
  sqlite3_close(db);
  db = open_db("dropx.db");
  assert_string_equal(q1(db, "SELECT group_concat(k || v) FROM t"), "1x");
  exec_ok(db, "DROP TABLE t");
  sqlite3_close(db);
  assert_false(dir_exists("dropx.db-lsm"));
}

/* A second connection keeps reading a table another one dropped in a pending transaction (WAL:
** its snapshot still has the table); after the COMMIT the table is gone for it too, and the
** files are removed once no connection holds them. */
static void test_drop_in_transaction_shared(void **state) {
  (void)state;
  sqlite3 *a = open_db("drops.db"), *b = open_db("drops.db");
  exec_ok(a, "PRAGMA journal_mode=WAL; CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v);"
             "INSERT INTO t VALUES (1, 2), (3, 4)");
  assert_int_equal(qi(b, "SELECT sum(v) FROM t"), 6);
  exec_ok(a, "BEGIN; DROP TABLE t");
  assert_int_equal(qi(b, "SELECT sum(v) FROM t"), 6);
  exec_ok(a, "COMMIT");
  exec_fails(b, "SELECT * FROM t", SQLITE_ERROR, "no such table");
  exec_ok(a, "CREATE VIRTUAL TABLE u USING lsm(k PRIMARY KEY)"); /* sweeps t */
  assert_false(dir_exists("drops.db-lsm/t"));
  sqlite3_close(b);
  sqlite3_close(a);
}

/* RENAME moves a table's files (or, for a temporary table, the name its connection finds them
** by), which a ROLLBACK would not undo: refused inside a transaction, with the rows intact.
** Outside one it works, and leaves no marker of a rolled-back DROP behind to be misread. */
static void test_rename_in_transaction(void **state) {
  (void)state;
  sqlite3 *db = open_db("renx.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v); INSERT INTO t VALUES (1, 2);"
              "CREATE VIRTUAL TABLE temp.tt USING lsm(k PRIMARY KEY, v); INSERT INTO tt VALUES (5, 6);"
              "CREATE VIRTUAL TABLE d USING lsm(k PRIMARY KEY, v, dir='renx-dir');"
              "INSERT INTO d VALUES (7, 8)");
  exec_ok(db, "BEGIN");
  exec_fails(db, "ALTER TABLE t RENAME TO t2", SQLITE_ERROR, "cannot rename t inside a transaction");
  exec_fails(db, "ALTER TABLE tt RENAME TO tt2", SQLITE_ERROR, "inside a transaction");
  exec_ok(db, "ALTER TABLE d RENAME TO d2"); /* dir= names its files: nothing moves */
  exec_ok(db, "ROLLBACK");
  assert_int_equal(qi(db, "SELECT v FROM t WHERE k = 1"), 2);
  assert_int_equal(qi(db, "SELECT v FROM tt WHERE k = 5"), 6);
  assert_int_equal(qi(db, "SELECT v FROM d WHERE k = 7"), 8);
  exec_ok(db, "BEGIN; DROP TABLE t; ROLLBACK; ALTER TABLE t RENAME TO t2; ALTER TABLE tt RENAME TO tt2");
  assert_false(file_exists("renx.db-lsm/t2/DROPPED"));
  exec_ok(db, "CREATE VIRTUAL TABLE x USING lsm(k PRIMARY KEY)"); /* a sweep: t2 stays */
  assert_int_equal(qi(db, "SELECT v FROM t2 WHERE k = 1"), 2);
  assert_int_equal(qi(db, "SELECT v FROM tt2 WHERE k = 5"), 6);
  exec_ok(db, "DROP TABLE t2; DROP TABLE x; DROP TABLE d");
  sqlite3_close(db);
}

/* Entries of directory p whose name starts with prefix (-1: p cannot be listed). */
static int count_prefixed(const char *p, const char *prefix) {
  DIR *d = opendir(p);
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (!strncmp(de->d_name, prefix, strlen(prefix))) n++;
  closedir(d);
  return n;
}

/* DROP inside a transaction of tables named with the dir option, whose files are outside
** <db>-lsm: a committed DROP's files are swept through the link it leaves there; a rolled-back
** DROP's marker, cleared by a RENAME, is not taken later for a committed DROP's (a CREATE over
** the directory uses its rows); and another database's marker is never decided from this
** schema: its CREATE over the directory is refused until the dropping database sweeps it. */
static void test_drop_dir_option_in_transaction(void **state) {
  (void)state;
  sqlite3 *db = open_db("dropo.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v, dir='dropo-a');"
              "INSERT INTO t VALUES (1, 2), (3, 4); BEGIN; DROP TABLE t; COMMIT");
  assert_true(file_exists("dropo-a/DROPPED"));
  assert_int_equal(count_prefixed("dropo.db-lsm", ".dropped-"), 1);
  exec_ok(db, "CREATE VIRTUAL TABLE w USING lsm(k PRIMARY KEY)"); /* sweeps */
  assert_false(dir_exists("dropo-a"));
  assert_int_equal(count_prefixed("dropo.db-lsm", ".dropped-"), 0);
  assert_true(dir_exists("dropo.db-lsm/w"));

  /* rolled back: the files and the link stay through a sweep; a RENAME clears the marker */
  exec_ok(db, "CREATE VIRTUAL TABLE t2 USING lsm(k PRIMARY KEY, v, dir='dropo-b');"
              "INSERT INTO t2 VALUES (5, 6), (7, 8); BEGIN; DROP TABLE t2; ROLLBACK;"
              "CREATE VIRTUAL TABLE x USING lsm(k PRIMARY KEY)");
  assert_int_equal(qi(db, "SELECT sum(v) FROM t2"), 14);
  assert_true(file_exists("dropo-b/DROPPED"));
  exec_ok(db, "ALTER TABLE t2 RENAME TO t3");
  assert_false(file_exists("dropo-b/DROPPED"));
  exec_ok(db, "DROP TABLE x"); /* sweeps: the link has nothing left to decide */
  assert_int_equal(count_prefixed("dropo.db-lsm", ".dropped-"), 0);
  /* another database names the directory to use its rows: they are there */
  sqlite3 *db2 = open_db("dropo2.db");
  exec_ok(db2, "CREATE VIRTUAL TABLE y USING lsm(k PRIMARY KEY, v, dir='dropo-b')");
  assert_int_equal(qi(db2, "SELECT sum(v) FROM y"), 14);
  exec_ok(db2, "DROP TABLE y"); /* (the files go: both tables used them) */
  sqlite3_close(db2);
  exec_ok(db, "DROP TABLE t3");

  /* another database's pending or committed DROP: refused there, swept here */
  exec_ok(db, "CREATE VIRTUAL TABLE t4 USING lsm(k PRIMARY KEY, v, dir='dropo-c');"
              "INSERT INTO t4 VALUES (9, 10); BEGIN; DROP TABLE t4");
  db2 = open_db("dropo2.db");
  exec_fails(db2, "CREATE VIRTUAL TABLE y2 USING lsm(k PRIMARY KEY, v, dir='dropo-c')", SQLITE_ERROR,
             "holds the files of table t4 of database");
  exec_ok(db, "COMMIT");
  exec_fails(db2, "CREATE VIRTUAL TABLE y2 USING lsm(k PRIMARY KEY, v, dir='dropo-c')", SQLITE_ERROR,
             "dropo.db, dropped there inside a transaction");
  assert_true(file_exists("dropo-c/DROPPED"));
  exec_ok(db, "CREATE VIRTUAL TABLE v USING lsm(k PRIMARY KEY)"); /* sweeps dropo-c */
  assert_false(dir_exists("dropo-c"));
  exec_ok(db2, "CREATE VIRTUAL TABLE y2 USING lsm(k PRIMARY KEY, v, dir='dropo-c')");
  assert_int_equal(qi(db2, "SELECT count(*) FROM y2"), 0);
  exec_ok(db2, "DROP TABLE y2");
  sqlite3_close(db2);
  exec_ok(db, "DROP TABLE v; DROP TABLE w");
  sqlite3_close(db);
  assert_false(dir_exists("dropo.db-lsm"));
}

/* A temporary table dropped inside a transaction: its connection keeps the files for a ROLLBACK
** and refuses a CREATE of the same name until the COMMIT. */
static void test_temp_drop_in_transaction(void **state) {
  (void)state;
  sqlite3 *db = open_db(":memory:");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v); INSERT INTO t VALUES (1, 2)");
  exec_ok(db, "BEGIN; DROP TABLE t");
  exec_fails(db, "CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v)", SQLITE_ERROR,
             "dropped in this transaction");
  exec_ok(db, "ROLLBACK");
  assert_int_equal(qi(db, "SELECT v FROM t WHERE k = 1"), 2);
  exec_ok(db, "BEGIN; DROP TABLE t; COMMIT;"
              "BEGIN; CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v); COMMIT");
  assert_int_equal(qi(db, "SELECT count(*) FROM t"), 0);
  sqlite3_close(db);
}

/* A table of the schema whose directory is gone (moved, deleted, or the database file copied
** without it) is an error at every access, SQLITE_CANTOPEN naming the directory, never a new
** empty table; nothing is created on disk; DROP TABLE removes it. */
static void test_missing_directory(void **state) {
  (void)state;
  sqlite3 *db = open_db("miss.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v); INSERT INTO t VALUES (1, 2)");
  sqlite3_close(db);
  assert_int_equal(rename("miss.db-lsm/t", "miss-moved"), 0);
  db = open_db("miss.db");
  const char *const stmts[] = {"SELECT * FROM t", "SELECT v FROM t WHERE k = 1",
                               "INSERT INTO t VALUES (3, 4)", "SELECT lsm_stats('t')",
                               "ALTER TABLE t RENAME TO t2"};
  for (size_t i = 0; i < sizeof stmts / sizeof *stmts; i++)
    exec_fails(db, stmts[i], i == 3 ? SQLITE_ERROR : SQLITE_CANTOPEN, "no database in");
  assert_false(dir_exists("miss.db-lsm/t"));
  exec_ok(db, "DROP TABLE t");
  assert_int_equal(qi(db, "SELECT count(*) FROM sqlite_schema"), 0);
  sqlite3_close(db);
}

static void test_temp_dir_removed(void **state) {
  (void)state;
  sqlite3 *db = open_db(":memory:");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v); INSERT INTO t VALUES (1, 2)");
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", q1(db, "SELECT json_extract(lsm_stats('t'), '$.dir')"));
  assert_true(dir_exists(dir));
  exec_ok(db, "SELECT lsm_flush('t')");
  assert_int_equal(qi(db, "SELECT v FROM t WHERE k = 1"), 2);
  sqlite3_close(db);
  if (dir_exists(dir)) fail_msg("%s still exists", dir);
}

static void test_error_codes(void **state) {
  (void)state;
  sqlite3 *db = open_db("codes.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v NOT NULL); INSERT INTO t VALUES (1, 1)");
  assert_int_equal(sqlite3_exec(db, "INSERT INTO t VALUES (1, 2)", NULL, NULL, NULL),
                   SQLITE_CONSTRAINT);
  assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_PRIMARYKEY);
  assert_string_equal(sqlite3_errmsg(db), "UNIQUE constraint failed: t.k");
  assert_int_equal(sqlite3_exec(db, "INSERT INTO t VALUES (2, NULL)", NULL, NULL, NULL),
                   SQLITE_CONSTRAINT);
  assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_NOTNULL);
  assert_string_equal(sqlite3_errmsg(db), "NOT NULL constraint failed: t.v");
  /* a rowid must be an integer */
  exec_ok(db, "CREATE VIRTUAL TABLE r USING lsm(x)");
  assert_int_equal(sqlite3_exec(db, "INSERT INTO r(rowid, x) VALUES ('abc', 1)", NULL, NULL, NULL),
                   SQLITE_MISMATCH);
  exec_ok(db, "INSERT INTO r(rowid, x) VALUES ('7', 1)");
  assert_int_equal(qi(db, "SELECT rowid FROM r"), 7);
  sqlite3_close(db);
}

/* max_txn_size bounds a transaction's pending writes to a table (the overlay's memory,
** lsm_stats' pending_bytes). Past it the writes spill to disk (test_txn_spill); what is still
** refused, with SQLITE_FULL and nothing of it kept, is one write larger than the bound by itself.
** SQLite then rolls back the statement (inside BEGIN a multi-row statement has a journal: the
** statements before it stay, and so do the runs they spilled, and COMMIT works), or the whole
** transaction where the statement has no journal (a single-row INSERT, an autocommit
** statement), as after a native SQLITE_FULL. lsm_max_txn_size() overrides the tables' option for
** the connection, and NULL gives it back. */
static void test_max_txn_size(void **state) {
  (void)state;
  sqlite3 *db = open_db("txnsize.db");
  const char *bound = "SELECT json_extract(lsm_stats('t'), '$.max_txn_size')";
  const char *runs = "SELECT json_extract(lsm_stats('t'), '$.spilled_runs')";
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v BLOB, max_txn_size='256KB');"
              "CREATE TABLE n(x)");
  assert_int_equal(qi(db, bound), 262144);
  /* rows 1..%d, then one larger than the bound */
  const char *fill = "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
                     " INSERT INTO t SELECT i, CASE WHEN i < %d THEN randomblob(100) ELSE"
                     " zeroblob(300000) END FROM c";
  char sql[512];
  /* a single-row statement has no journal: the transaction is gone */
  exec_ok(db, "BEGIN; INSERT INTO n VALUES (1); INSERT INTO t VALUES (0, 'x')");
  exec_fails(db, "INSERT INTO t VALUES (1, zeroblob(300000))", SQLITE_FULL,
             "transaction too large for table t: its pending writes hold");
  assert_non_null(strstr(sqlite3_errmsg(db), "over max_txn_size (262144); commit in smaller transactions"));
  assert_true(sqlite3_get_autocommit(db));
  assert_int_equal(qi(db, "SELECT count(*) FROM t"), 0);
  assert_int_equal(qi(db, "SELECT count(*) FROM n"), 0);

  /* a statement with a journal (inside BEGIN): only it is undone, with the runs it spilled;
  ** the earlier statement's runs stay */
  exec_ok(db, "BEGIN; INSERT INTO n VALUES (2)");
  snprintf(sql, sizeof sql, fill, 1, 3000, 99999);
  exec_ok(db, sql);
  long long before = qi(db, runs);
  assert_true(before >= 1);
  snprintf(sql, sizeof sql, fill, 3001, 8000, 8000);
  exec_fails(db, sql, SQLITE_FULL, "max_txn_size");
  assert_false(sqlite3_get_autocommit(db));
  /* (the earlier statement's writes still in the overlay made a run of their own) */
  assert_true(qi(db, runs) >= before && qi(db, runs) <= before + 1);
  assert_int_equal(tu_count_files("txnsize.db-lsm/t", ".stage"), qi(db, runs));
  assert_string_equal(q1(db, "SELECT count(*) || ' ' || max(k) FROM t"), "3000 3000");
  exec_ok(db, "COMMIT");
  assert_string_equal(q1(db, "SELECT count(*) || ' ' || max(k) FROM t"), "3000 3000");
  assert_int_equal(qi(db, "SELECT count(*) FROM n"), 1);
  assert_int_equal(tu_count_files("txnsize.db-lsm/t", ".stage"), 0);

  /* the connection's bound: the 300000-byte row fits under 4MB */
  assert_string_equal(q1(db, "SELECT lsm_max_txn_size() IS NULL"), "1");
  assert_int_equal(qi(db, "SELECT lsm_max_txn_size('4MB')"), 4 << 20);
  assert_int_equal(qi(db, "SELECT lsm_max_txn_size()"), 4 << 20);
  assert_int_equal(qi(db, bound), 4 << 20);
  exec_ok(db, sql);
  assert_string_equal(q1(db, "SELECT count(*) || ' ' || max(length(v)) FROM t"), "8000 300000");
  assert_string_equal(q1(db, "SELECT lsm_max_txn_size(NULL) IS NULL"), "1");
  assert_int_equal(qi(db, bound), 262144);
  /* keys moved (a delete and a put each), one of them into a row over the bound: the statement
  ** is undone as a whole, the runs it spilled before included */
  exec_ok(db, "BEGIN");
  exec_fails(db, "UPDATE t SET k = k + 1000000, v = CASE WHEN k = 7000 THEN zeroblob(300000) "
                 "ELSE zeroblob(100) END", SQLITE_FULL, "max_txn_size");
  assert_false(sqlite3_get_autocommit(db));
  assert_int_equal(qi(db, runs), 0);
  exec_ok(db, "COMMIT");
  assert_string_equal(q1(db, "SELECT count(*) || ' ' || max(k) || ' ' || sum(length(v)) FROM t"),
                      "8000 8000 1099900");

  exec_fails(db, "SELECT lsm_max_txn_size('lots')", SQLITE_ERROR, "lsm_max_txn_size: bad size 'lots'");
  exec_fails(db, "SELECT lsm_max_txn_size(65535)", SQLITE_ERROR, "(bytes from 64KB to 4GB, or NULL)");
  exec_fails(db, "SELECT lsm_max_txn_size(-1)", SQLITE_ERROR, "bad size '-1'");
  exec_fails(db, "SELECT lsm_max_txn_size('5GB')", SQLITE_ERROR, "bad size '5GB'");
  exec_fails(db, "SELECT lsm_max_txn_size(1.5e6)", SQLITE_ERROR, "bad size '1500000.0'");
  exec_fails(db, "SELECT lsm_max_txn_size(x'00ff')", SQLITE_ERROR, "bad size: a blob");
  assert_string_equal(q1(db, "SELECT lsm_max_txn_size() IS NULL"), "1"); /* unchanged */
  exec_fails(db, "CREATE VIRTUAL TABLE u USING lsm(k, max_txn_size=1)", SQLITE_ERROR,
             "bad value for option max_txn_size: '1'");
  sqlite3_close(db);
}

/* Past max_txn_size, with no savepoint and no cursor of the table open, the pending writes
** spill to disk (lsm.h "Staged writes"): memory stays bounded, the transaction sees all of its
** writes through every read path, other connections see none until COMMIT, which applies all
** of them at once; ROLLBACK leaves nothing (no run file either). */
/* Run sql (one ? parameter) for each of from..to, one statement each: what the shell's .import
** does. With pending != NULL, the table's pending bytes (that query) must stay <= bound. */
static void rows_one_by_one(sqlite3 *db, const char *sql, int from, int to, const char *pending,
                            long long bound) {
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  for (int i = from; i <= to; i++) {
    sqlite3_bind_int(st, 1, i);
    if (sqlite3_step(st) != SQLITE_DONE) fail_msg("%s, %d: %s", sql, i, sqlite3_errmsg(db));
    sqlite3_reset(st);
    if (pending && qi(db, pending) > bound) fail_msg("row %d: %lld pending bytes", i, qi(db, pending));
  }
  sqlite3_finalize(st);
}

static void test_txn_spill(void **state) {
  (void)state;
  sqlite3 *db = open_db("spill.db"), *db2 = open_db("spill.db");
  const char *pending = "SELECT json_extract(lsm_stats('t'), '$.pending_bytes')";
  const char *runs = "SELECT json_extract(lsm_stats('t'), '$.spilled_runs')";
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v BLOB, max_txn_size='64KB');"
              "CREATE VIRTUAL TABLE r USING lsm(a TEXT, b, max_txn_size='64KB')");
  /* autocommit INSERT ... SELECT: no statement journal */
  exec_ok(db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000)"
              " INSERT INTO t SELECT i, randomblob(100) FROM c");
  assert_string_equal(q1(db2, "SELECT count(*) || ' ' || max(k) || ' ' || sum(length(v)) FROM t"),
                      "5000 5000 500000");
  assert_int_equal(tu_count_files("spill.db-lsm/t", ".stage"), 0);

  /* row by row inside BEGIN (what the shell's .import does) */
  exec_ok(db, "BEGIN");
  const char *ins_t = "INSERT INTO t VALUES (?, zeroblob(200))";
  rows_one_by_one(db, ins_t, 5001, 8000, pending, 65536);
  long long nruns = qi(db, runs);
  assert_true(nruns >= 5);
  assert_int_equal(tu_count_files("spill.db-lsm/t", ".stage"), nruns);
  /* a key that only a run holds: a duplicate insert is a constraint error (the statement only) */
  exec_fails(db, "INSERT INTO t VALUES (5002, 'dup')", SQLITE_CONSTRAINT, "UNIQUE constraint failed: t.k");
  assert_false(sqlite3_get_autocommit(db));
  /* single-row UPDATE and DELETE by key of rows in runs; every read path sees the stage */
  exec_ok(db, "UPDATE t SET v = 'moved' WHERE k = 5003");
  exec_ok(db, "DELETE FROM t WHERE k = 5004");
  exec_ok(db, "DELETE FROM t WHERE k = 17");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 5003"), "moved");
  assert_string_equal(q1(db, "SELECT count(*) FROM t WHERE k IN (17, 5003, 5004, 6000, 9999)"), "2");
  assert_string_equal(q1(db, "SELECT group_concat(k) FROM (SELECT k FROM t WHERE k >= 5002 LIMIT 3)"),
                      "5002,5003,5005");
  assert_string_equal(q1(db, "SELECT group_concat(k) FROM (SELECT k FROM t WHERE k BETWEEN 15 AND 19 "
                             "ORDER BY k DESC)"), "19,18,16,15");
  assert_string_equal(q1(db, "SELECT count(*) || ' ' || max(k) FROM t"), "7998 8000");
  /* rowids continue after the largest rowid in the runs */
  rows_one_by_one(db, "INSERT INTO r(rowid, a, b) VALUES (? * 2, 'x', zeroblob(200))", 1, 1000, NULL, 0);
  assert_true(qi(db, "SELECT json_extract(lsm_stats('r'), '$.spilled_runs')") >= 2);
  exec_ok(db, "INSERT INTO r(a) VALUES ('auto')");
  assert_string_equal(q1(db, "SELECT rowid FROM r WHERE a = 'auto'"), "2001");
  assert_string_equal(q1(db, "SELECT count(*) FROM r"), "1001");
  /* other connections see none of it */
  assert_string_equal(q1(db2, "SELECT count(*) || ' ' || max(k) FROM t"), "5000 5000");
  exec_ok(db, "ROLLBACK");
  assert_int_equal(tu_count_files("spill.db-lsm/t", ".stage"), 0);
  assert_int_equal(qi(db, runs), 0);
  assert_string_equal(q1(db, "SELECT count(*) || ' ' || max(k) FROM t"), "5000 5000");

  /* a SAVEPOINT that began the transaction before the table joined it: a ROLLBACK TO it drops
  ** everything of ours, runs included */
  exec_ok(db, "SAVEPOINT s");
  rows_one_by_one(db, ins_t, 5001, 6000, NULL, 0);
  assert_true(qi(db, runs) >= 2);
  assert_string_equal(q1(db, "SELECT count(*) FROM t"), "6000");
  exec_ok(db, "ROLLBACK TO s");
  assert_int_equal(qi(db, runs), 0);
  assert_int_equal(tu_count_files("spill.db-lsm/t", ".stage"), 0);
  assert_string_equal(q1(db, "SELECT count(*) FROM t"), "5000");
  exec_ok(db, "INSERT INTO t VALUES (5001, 'kept'); RELEASE s");
  assert_string_equal(q1(db2, "SELECT count(*) || ' ' || max(k) FROM t"), "5001 5001");
  exec_ok(db, "DELETE FROM t WHERE k = 5001");

  /* again, committed: in one step (the other connection sees all or nothing) */
  exec_ok(db, "BEGIN; DELETE FROM t WHERE k = 1");
  rows_one_by_one(db, ins_t, 5001, 8000, NULL, 0);
  assert_true(qi(db, runs) >= 5);
  /* inside BEGIN a multi-row statement has a statement journal (a savepoint): it spills too */
  exec_ok(db, "WITH RECURSIVE c(i) AS (SELECT 9001 UNION ALL SELECT i + 1 FROM c WHERE i < 9500)"
              " INSERT INTO r SELECT i, zeroblob(200) FROM c");
  assert_true(qi(db, "SELECT json_extract(lsm_stats('r'), '$.spilled_runs')") >= 2);
  assert_false(sqlite3_get_autocommit(db));
  assert_string_equal(q1(db2, "SELECT count(*) || ' ' || min(k) || ' ' || max(k) FROM t"), "5000 1 5000");
  exec_ok(db, "COMMIT");
  assert_string_equal(q1(db2, "SELECT count(*) || ' ' || min(k) || ' ' || max(k) FROM t"),
                      "7999 2 8000");
  assert_int_equal(tu_count_files("spill.db-lsm/t", ".stage"), 0);
  sqlite3_close(db2);
  sqlite3_close(db);
  db = open_db("spill.db");
  assert_string_equal(q1(db, "SELECT count(*) || ' ' || min(k) || ' ' || max(k) FROM t"), "7999 2 8000");
  assert_string_equal(q1(db, "SELECT count(*) || ' ' || min(a) || ' ' || max(a) FROM r"), "500 9001 9500");
  sqlite3_close(db);
}

/* The lsm table t and its native twin n hold the same rows (k, v). */
static void same_as_twin(sqlite3 *db, const char *where) {
  const char *cmp = "SELECT (SELECT count(*) || ':' || group_concat(k || '=' || quote(v), ',') FROM "
                    "(SELECT * FROM t ORDER BY k)) IS (SELECT count(*) || ':' || group_concat(k || '=' || "
                    "quote(v), ',') FROM (SELECT * FROM n ORDER BY k))";
  if (qi(db, cmp) != 1)
    fail_msg("%s: t has %s rows, n %s", where, q1(db, "SELECT count(*) FROM t"),
             q1(db, "SELECT count(*) FROM n"));
}

/* Run sql on t, then on its native twin n (the same text with the table named n: the statements
** here name it as " t " or " t(" or last), expecting both to end with rc. */
static void on_both(sqlite3 *db, const char *sql, int rc) {
  char twin[1024];
  snprintf(twin, sizeof twin, "%s", sql);
  for (char *p = twin; (p = strstr(p, " t")) != NULL; p++)
    if (p[2] == ' ' || p[2] == '(' || p[2] == ';' || p[2] == '\0') p[1] = 'n';
  int a = sqlite3_exec(db, sql, NULL, NULL, NULL);
  char ma[512];
  snprintf(ma, sizeof ma, "%s", sqlite3_errmsg(db));
  int b = strcmp(twin, sql) ? sqlite3_exec(db, twin, NULL, NULL, NULL) : a;
  if (a != rc || b != rc)
    fail_msg("%s: lsm %d (%s), native %d (%s); expected %d", sql, a, ma, b, sqlite3_errmsg(db), rc);
}

/* Savepoints stay exact across spills: a write past the bound under open savepoints spills the
** state at each savepoint apart, so that ROLLBACK TO (a user's, or SQLite's statement rollback)
** drops the runs made after it. Checked against a native twin at every step. */
static void test_txn_spill_savepoints(void **state) {
  (void)state;
  sqlite3 *db = open_db("spsave.db");
  const char *runs = "SELECT json_extract(lsm_stats('t'), '$.spilled_runs')";
  const char *pending = "SELECT json_extract(lsm_stats('t'), '$.pending_bytes')";
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v, max_txn_size='64KB');"
              "CREATE TABLE n(k INTEGER PRIMARY KEY, v)");
  const char *fill = "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
                     " INSERT OR REPLACE INTO t SELECT i, '%s' || i FROM c";
  char sql[512];
  exec_ok(db, "BEGIN");
  snprintf(sql, sizeof sql, fill, 1, 1000, "a");
  on_both(db, sql, SQLITE_OK);
  exec_ok(db, "SAVEPOINT s1");
  snprintf(sql, sizeof sql, fill, 501, 2000, "b"); /* overwrites 501..1000 */
  on_both(db, sql, SQLITE_OK);
  on_both(db, "DELETE FROM t WHERE k BETWEEN 100 AND 199", SQLITE_OK);
  long long r1 = qi(db, runs);
  assert_true(r1 >= 3);
  assert_true(qi(db, pending) <= 65536);
  exec_ok(db, "SAVEPOINT s2");
  snprintf(sql, sizeof sql, fill, 1501, 3000, "c");
  on_both(db, sql, SQLITE_OK);
  on_both(db, "UPDATE t SET v = 'u' || k WHERE k BETWEEN 10 AND 900", SQLITE_OK);
  same_as_twin(db, "under s2");
  assert_true(qi(db, runs) > r1 + 1);
  exec_ok(db, "ROLLBACK TO s2");
  same_as_twin(db, "rolled back to s2");
  assert_true(qi(db, runs) <= r1 + 1); /* what s2 began with: the cut at s2 at most */
  snprintf(sql, sizeof sql, fill, 2001, 2500, "d");
  on_both(db, sql, SQLITE_OK);
  exec_ok(db, "RELEASE s2");
  same_as_twin(db, "s2 released");
  exec_ok(db, "ROLLBACK TO s1");
  same_as_twin(db, "rolled back to s1");
  assert_int_equal(qi(db, "SELECT count(*) FROM t"), 1000);
  /* a statement rollback after spills: a multi-row statement failing on its last row */
  on_both(db, "INSERT INTO t SELECT k + 5000, v FROM t WHERE k <= 990", SQLITE_OK);
  on_both(db, "INSERT INTO t SELECT k + 10000, v FROM t WHERE k <= 5990 UNION ALL SELECT 1, 'dup'",
          SQLITE_CONSTRAINT);
  same_as_twin(db, "after the statement rollback");
  exec_ok(db, "COMMIT");
  same_as_twin(db, "committed");
  assert_int_equal(tu_count_files("spsave.db-lsm/t", ".stage"), 0);
  sqlite3_close(db);
  db = open_db("spsave.db");
  same_as_twin(db, "reopened");
  sqlite3_close(db);
}

/* A statement reading the table it writes (a cursor open) spills too: DELETE and UPDATE over many
** rows, and UPDATE OR REPLACE moving keys onto rows its scan has not reached yet (the module
** skips such a row when the scan reaches it, ext/README "UPDATE OR REPLACE that moves keys",
** though the write that replaced it is in a run by then). The twin n is an lsm table whose
** bound is never reached (test_diff checks that one against native tables), so every result
** must be the same with and without spills. */
static void test_txn_spill_cursor(void **state) {
  (void)state;
  sqlite3 *db = open_db("spcur.db");
  const char *runs = "SELECT json_extract(lsm_stats('t'), '$.spilled_runs')";
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v, max_txn_size='64KB');"
              "CREATE VIRTUAL TABLE n USING lsm(k INTEGER PRIMARY KEY, v, max_txn_size='64MB')");
  on_both(db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 6000)"
              " INSERT INTO t SELECT i, printf('%050d', i) FROM c", SQLITE_OK);
  /* autocommit: no journal */
  on_both(db, "UPDATE t SET v = v || 'x' WHERE k > 1000", SQLITE_OK);
  same_as_twin(db, "update");
  on_both(db, "DELETE FROM t WHERE k % 3 = 0", SQLITE_OK);
  same_as_twin(db, "delete");
  /* inside BEGIN: with a statement journal and the cursor both */
  exec_ok(db, "BEGIN");
  on_both(db, "UPDATE OR REPLACE t SET k = k + 1", SQLITE_OK);
  assert_true(qi(db, runs) >= 3);
  assert_int_equal(qi(db, "SELECT json_extract(lsm_stats('n'), '$.spilled_runs')"), 0);
  same_as_twin(db, "moved up by one");
  on_both(db, "UPDATE OR REPLACE t SET k = k - 2, v = 'm' || v WHERE k > 2", SQLITE_OK);
  same_as_twin(db, "moved down by two");
  /* onto keys the scan reaches after several spills: the replacing write is in a run then */
  on_both(db, "UPDATE OR REPLACE t SET k = k + 1500, v = 'f' || v", SQLITE_OK);
  same_as_twin(db, "moved far ahead");
  on_both(db, "DELETE FROM t WHERE k > 100", SQLITE_OK);
  same_as_twin(db, "deleted in the transaction");
  exec_ok(db, "ROLLBACK");
  same_as_twin(db, "rolled back");
  assert_int_equal(tu_count_files("spcur.db-lsm/t", ".stage"), 0);
  exec_ok(db, "BEGIN");
  on_both(db, "UPDATE OR REPLACE t SET k = k + 1", SQLITE_OK);
  on_both(db, "DELETE FROM t WHERE k % 2 = 0", SQLITE_OK);
  exec_ok(db, "COMMIT");
  same_as_twin(db, "committed");
  on_both(db, "DELETE FROM t", SQLITE_OK);
  same_as_twin(db, "all deleted");
  sqlite3_close(db);
}

static void test_update_range_once(void **state) {
  (void)state;
  sqlite3 *db = open_db("upd.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, n INTEGER);"
              "WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 500)"
              " INSERT INTO t SELECT x, 0 FROM i;");
  /* moving every key forward, into the range being scanned: each row moves exactly once */
  exec_ok(db, "UPDATE t SET k = k + 1000, n = n + 1 WHERE k > 0");
  assert_int_equal(qi(db, "SELECT count(*) FROM t"), 500);
  assert_int_equal(qi(db, "SELECT max(n) FROM t"), 1);
  assert_int_equal(qi(db, "SELECT min(n) FROM t"), 1);
  assert_int_equal(qi(db, "SELECT min(k) FROM t"), 1001);
  /* the same inside a transaction, over uncommitted rows, forward then backward */
  exec_ok(db, "BEGIN; UPDATE t SET k = k + 1000 WHERE k BETWEEN 1100 AND 1300;"
              "UPDATE t SET k = k - 5000, n = n + 1 WHERE k > 0; COMMIT;");
  assert_int_equal(qi(db, "SELECT count(*) FROM t"), 500);
  assert_int_equal(qi(db, "SELECT max(n) FROM t"), 2);
  assert_int_equal(qi(db, "SELECT min(n) FROM t"), 2);
  assert_int_equal(qi(db, "SELECT max(k) FROM t"), 2300 - 5000);
  sqlite3_close(db);
}

static void test_big_insert(void **state) {
  (void)state;
  sqlite3 *db = open_db("big.db");
  long long n = is_long() ? 2000000 : 200000;
  /* (LSMVTAB_LONG's 2M rows in one transaction need more than the default max_txn_size) */
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT, memtable_size='4MB',"
              " max_txn_size='1GB')");
  char sql[512];
  snprintf(sql, sizeof sql,
           "BEGIN; WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < %lld)"
           " INSERT INTO t SELECT x, printf('value %%d', x) FROM i; COMMIT;", n);
  exec_ok(db, sql);
  snprintf(sql, sizeof sql, "%lld", n);
  assert_string_equal(q1(db, "SELECT count(*) FROM t"), sql);
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 12345"), "value 12345");
  exec_ok(db, "SELECT lsm_flush('t')");
  sqlite3_close(db);
  db = open_db("big.db");
  assert_string_equal(q1(db, "SELECT count(*) FROM t"), sql);
  assert_string_equal(q1(db, "SELECT group_concat(k) FROM t WHERE k IN (1, 77777, 199999)"),
                      "1,77777,199999");
  sqlite3_close(db);
}

static void compare_twins(sqlite3 *db, uint64_t seed, int it, const char *after) {
  if (getenv("LSMVTAB_TRACE")) fprintf(stderr, "%d: %s\n", it, after);
  const char *cmp =
      "SELECT (SELECT group_concat(quote(a)||quote(b)||quote(v), ' ') FROM (SELECT * FROM t ORDER BY a, b)) IS "
      "(SELECT group_concat(quote(a)||quote(b)||quote(v), ' ') FROM (SELECT * FROM n ORDER BY a, b))";
  if (qi(db, cmp) != 1) {
    char got[2048];
    snprintf(got, sizeof got, "%s",
             q1(db, "SELECT group_concat(quote(a)||quote(b)||quote(v), ' ') FROM t"));
    fail_msg("seed %#llx step %d after %s:\n lsm:    %s\n native: %s", (unsigned long long)seed,
             it, after, got, q1(db, "SELECT group_concat(quote(a)||quote(b)||quote(v), ' ') FROM n"));
  }
  const char *cmp_desc =
      "SELECT (SELECT group_concat(quote(a)||quote(b), ' ') FROM (SELECT * FROM t WHERE a > 1 ORDER BY a DESC, b DESC)) IS "
      "(SELECT group_concat(quote(a)||quote(b), ' ') FROM (SELECT * FROM n WHERE a > 1 ORDER BY a DESC, b DESC))";
  if (qi(db, cmp_desc) != 1)
    fail_msg("seed %#llx step %d after %s: DESC range differs", (unsigned long long)seed, it, after);
}

/* A read cursor open across its own connection's COMMIT keeps reading its snapshot. */
static void test_cursor_across_commit(void **state) {
  (void)state;
  sqlite3 *db = open_db("cur.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY);"
              "INSERT INTO t VALUES (1), (2), (3);");
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT k FROM t", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 1);
  exec_ok(db, "BEGIN; INSERT INTO t VALUES (10); DELETE FROM t WHERE k = 2; COMMIT;");
  int n = 1, sum = 1;
  while (sqlite3_step(st) == SQLITE_ROW) {
    n++;
    sum += sqlite3_column_int(st, 0);
  }
  assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
  assert_int_equal(n, 3); /* 1, 2, 3 as of the snapshot */
  assert_int_equal(sum, 6);
  assert_string_equal(q1(db, "SELECT group_concat(k) FROM t"), "1,3,10");
  sqlite3_close(db);
}

/* Damaged rows (written behind the module's back) give SQLITE_CORRUPT, never a crash. */
static void test_corrupt_rows(void **state) {
  (void)state;
  sqlite3 *db = open_db("corrupt.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT);"
              "INSERT INTO t VALUES (1, 'ok');");
  sqlite3_close(db);
  lsm_db *l;
  assert_int_equal(lsm_open("corrupt.db-lsm/t", NULL, &l), LSM_OK);
  /* a good key with a bad record; a malformed key with a good record */
  cd_buf k = {0}, r = {0};
  ke_val two = {.type = KE_INT, .i = 2}, text = {.type = KE_TEXT, .p = (const uint8_t *)"x", .n = 1};
  assert_int_equal(ke_encode(&k, &two), LSM_OK);
  assert_int_equal(lsm_put(l, k.p, k.n, "\x07garbage", 8), LSM_OK);
  uint8_t flag = 0;
  assert_int_equal(rec_encode(&r, 0, &flag, 1, &text), LSM_OK);
  assert_int_equal(lsm_put(l, "\x42", 1, r.p, r.n), LSM_OK);
  assert_int_equal(lsm_close(l), LSM_OK);
  cd_buf_free(&k);
  cd_buf_free(&r);
  db = open_db("corrupt.db");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 1"), "ok"); /* good rows still read */
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k = 2", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_CORRUPT);
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(v) FROM t", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_CORRUPT);
  assert_non_null(strstr(sqlite3_errmsg(db), "lsm:"));
  sqlite3_finalize(st);
  /* The row is decoded in halves (vt_column): reading key columns alone looks at the key and
  ** the record's header only; reading a value decodes the whole record and the key. Key 3 has
  ** a good header and a bad body; key "\x43" is malformed, with a good record. */
  exec_ok(db, "CREATE VIRTUAL TABLE u USING lsm(k INTEGER PRIMARY KEY, v TEXT);"
              "INSERT INTO u VALUES (1, 'ok');");
  sqlite3_close(db);
  assert_int_equal(lsm_open("corrupt.db-lsm/u", NULL, &l), LSM_OK);
  ke_val three = {.type = KE_INT, .i = 3};
  assert_int_equal(ke_encode(&k, &three), LSM_OK);
  assert_int_equal(lsm_put(l, k.p, k.n, "\x01\x01\x00\x01\x07", 5), LSM_OK); /* type 7 */
  assert_int_equal(rec_encode(&r, 1, &flag, 1, &text), LSM_OK);
  assert_int_equal(lsm_put(l, "\x43", 1, r.p, r.n), LSM_OK);
  assert_int_equal(lsm_close(l), LSM_OK);
  cd_buf_free(&k);
  cd_buf_free(&r);
  db = open_db("corrupt.db");
  assert_string_equal(q1(db, "SELECT group_concat(k) FROM u WHERE k < 10"), "1,3");
  assert_string_equal(q1(db, "SELECT k FROM u WHERE k = 3"), "3");
  const char *bad[] = {"SELECT v FROM u WHERE k = 3", "SELECT v FROM u WHERE k >= 3",
                       "SELECT k, v FROM u WHERE k > 3", "SELECT v FROM u WHERE k > 3",
                       "SELECT count(k) FROM u"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(sqlite3_prepare_v2(db, bad[i], -1, &st, NULL), SQLITE_OK);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
    if (rc != SQLITE_CORRUPT) fail_msg("%s: %d, want SQLITE_CORRUPT", bad[i], rc);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
}

/* Scan cursors (filter_inner, cur_settle, the lazy key/value decode of vt_column) against a
** native twin, through prepared statements re-run with new bounds (each run reuses the table's
** spare cursor): runs without transaction writes (no overlay) alternate with runs inside a
** transaction that has written (the overlay merged in: uncommitted INSERT/DELETE/UPDATE seen by
** the next run), ASC and DESC with LIMIT/OFFSET, NULL and typed bounds, key-only, value-only and
** reordered column lists, REAL keys (the REAL flag comes from the record header when only the
** key is read), and aggregates that keep a value across rows (max/min/group_concat of v: a
** value handed to SQLite must stay valid after the cursor moves); rows in the memtable and,
** after lsm_flush, in table files. */
static void bind_pool(sqlite3_stmt *st, int i, int which) {
  static const uint8_t blob[] = {0, 1, 0xff};
  switch (which) {
  case 0: sqlite3_bind_null(st, i); break;
  case 1: sqlite3_bind_int64(st, i, (sqlite3_int64)(rnd() % 40) - 5); break;
  case 2: sqlite3_bind_double(st, i, (double)(rnd() % 80) / 2 - 5); break;
  case 3: sqlite3_bind_text(st, i, rnd() % 2 ? "k1" : "k", -1, SQLITE_TRANSIENT); break;
  default: sqlite3_bind_blob(st, i, blob, 1 + (int)(rnd() % 3), SQLITE_TRANSIENT); break;
  }
}

static void rows_text(sqlite3_stmt *st, char *out, size_t cap) {
  size_t n = 0;
  out[0] = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(st); c++) {
      const char *t = (const char *)sqlite3_column_text(st, c);
      n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", c ? "|" : "", t ? t : "~");
    }
    n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "; ");
  }
  n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "rc=%d", rc);
  sqlite3_reset(st);
  assert_true(n < cap);
}

/* Prepare each query of qs (a format with one %s for the table) on the lsm table t (into
** lsm[]) and on its native twin n (into nat[]). */
static void prepare_twins(sqlite3 *db, const char *const *qs, int nq, sqlite3_stmt **lsm,
                          sqlite3_stmt **nat) {
  char sql[512];
  for (int q = 0; q < nq; q++)
    for (int w = 0; w < 2; w++) {
      snprintf(sql, sizeof sql, qs[q], w ? "n" : "t");
      if (sqlite3_prepare_v2(db, sql, -1, w ? &nat[q] : &lsm[q], NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    }
}

static void scan_vs_native(const char *file, const char *keydecl, uint64_t seed) {
  rng = seed;
  sqlite3 *db = open_db(file);
  char sql[1024];
  for (int w = 0; w < 2; w++) {
    snprintf(sql, sizeof sql, w ? "CREATE TABLE n(k %s PRIMARY KEY, v, w INTEGER) WITHOUT ROWID"
                                : "CREATE VIRTUAL TABLE t USING lsm(k %s PRIMARY KEY, v, w INTEGER)",
             keydecl);
    exec_ok(db, sql);
    /* keys: integers, whole REALs, halves, text, blobs; values of every type and length */
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(x) AS (VALUES(-5) UNION ALL SELECT x+1 FROM c WHERE x<400) "
             "INSERT INTO %s SELECT CASE x %% 4 WHEN 0 THEN x WHEN 1 THEN x + 0.5 "
             "WHEN 2 THEN x * 1.0 ELSE 'k' || x END, "
             "CASE x %% 3 WHEN 0 THEN printf('%%0*d', x + 6, x) WHEN 1 THEN x * 2.5 "
             "ELSE CAST(printf('b%%d', x) AS BLOB) END, x FROM c;"
             "INSERT INTO %s VALUES (x'0001', 'blobkey', NULL), (x'', NULL, 0);",
             w ? "n" : "t", w ? "n" : "t");
    exec_ok(db, sql);
  }
  static const char *const qs[] = {
      "SELECT quote(k), quote(v) FROM %s WHERE k >= ?1 ORDER BY k LIMIT ?2",
      "SELECT quote(v), typeof(k), quote(k) FROM %s WHERE k < ?1 ORDER BY k DESC LIMIT ?2 OFFSET ?3",
      "SELECT quote(k), typeof(k) FROM %s WHERE k > ?1 ORDER BY k LIMIT 5",
      "SELECT quote(v), w FROM %s WHERE k >= ?1 AND k < ?2 ORDER BY k",
      "SELECT w, quote(k), quote(v), quote(k) FROM %s WHERE k <= ?1 ORDER BY k DESC",
      "SELECT quote(max(v)), quote(min(v)), group_concat(quote(v)), count(k) FROM %s WHERE k >= ?1",
      "SELECT quote(k), length(v) FROM %s ORDER BY k DESC LIMIT ?2 OFFSET ?3",
      "SELECT typeof(k), quote(k) FROM %s ORDER BY k LIMIT ?2 OFFSET ?3",
  };
  enum { NQ = sizeof qs / sizeof qs[0] };
  sqlite3_stmt *st[2][NQ];
  prepare_twins(db, qs, NQ, st[0], st[1]);
  static char a[1 << 16], b[1 << 16];
  int steps = is_long() ? 20000 : 2000;
  for (int it = 0; it < steps; it++) {
    int op = (int)(rnd() % 100);
    if (op < 70) { /* a query, the same bindings on both twins */
      int q = (int)(rnd() % NQ);
      uint64_t save = rng;
      for (int w = 0; w < 2; w++) {
        rng = save;
        int which = (int)(rnd() % 5), which2 = (int)(rnd() % 5);
        if (strstr(qs[q], "?1")) bind_pool(st[w][q], 1, rnd() % 8 == 0 ? 0 : which);
        if (q == 3) bind_pool(st[w][q], 2, which2);
        else if (strstr(qs[q], "?2")) sqlite3_bind_int64(st[w][q], 2, (sqlite3_int64)(rnd() % 12) - 1);
        if (strstr(qs[q], "?3")) sqlite3_bind_int64(st[w][q], 3, (sqlite3_int64)(rnd() % 4));
        rows_text(st[w][q], w ? b : a, sizeof a);
      }
      if (strcmp(a, b))
        fail_msg("seed %#llx step %d (%s): %s\n lsm:    %s\n native: %s", (unsigned long long)seed,
                 it, keydecl, qs[q], a, b);
      continue;
    }
    if (op >= 95) {
      exec_ok(db, sqlite3_get_autocommit(db) ? "BEGIN" : rnd() % 2 ? "COMMIT" : "ROLLBACK");
      continue;
    }
    if (op >= 93) { /* committed rows move from the memtable into a table file */
      exec_ok(db, "SELECT lsm_flush('t')");
      continue;
    }
    char k[64];
    switch (rnd() % 4) {
    case 0: snprintf(k, sizeof k, "%d", (int)(rnd() % 40) - 5); break;
    case 1: snprintf(k, sizeof k, "%d.5", (int)(rnd() % 40) - 5); break;
    case 2: snprintf(k, sizeof k, "%d.0", (int)(rnd() % 40) - 5); break;
    default: snprintf(k, sizeof k, "'k%d'", (int)(rnd() % 40) - 5); break;
    }
    for (int w = 0; w < 2; w++) {
      const char *tb = w ? "n" : "t";
      if (op < 80)
        snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO %s VALUES (%s, 'new%d', %d)", tb, k, it, it);
      else if (op < 90)
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE k = %s", tb, k);
      else
        snprintf(sql, sizeof sql, "UPDATE %s SET v = substr(v, 1, 12) || '+%d' WHERE k >= %s", tb, it, k);
      exec_ok(db, sql);
    }
  }
  if (!sqlite3_get_autocommit(db)) exec_ok(db, "COMMIT");
  for (int q = 0; q < NQ; q++)
    for (int w = 0; w < 2; w++) sqlite3_finalize(st[w][q]);
  sqlite3_close(db);
}

static void test_scan_reuse_vs_native(void **state) {
  (void)state;
  scan_vs_native("scan_real.db", "REAL", 0x5ca70001);   /* numeric key: bounds pushed down */
  scan_vs_native("scan_any.db", "", 0x5ca70002);        /* untyped key: SQLite re-checks */
  scan_vs_native("scan_int.db", "INTEGER", 0x5ca70003);
}

/* Range scans with a LIMIT that SQLite applies itself (a range constraint: the LIMIT/OFFSET
** values are taken as a hint only, plan "limit-hint", which sizes the engine's reads): against a
** native twin, on a table of 512-byte blocks spread over a compacted level, L0 files, the
** memtable and (inside a transaction) the overlay; LIMIT 0, 1, a few blocks' worth, more than
** the table; OFFSET; ASC and DESC; a filter SQLite applies after us (more rows read than the
** hint says); values of every length, changing between rows. */
static void test_limit_hint_vs_native(void **state) {
  (void)state;
  rng = 0x11a1701;
  sqlite3 *db = open_db("limit_hint.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v, block_size=512);"
              "CREATE TABLE n(k INTEGER PRIMARY KEY, v) WITHOUT ROWID;");
  char sql[512];
  for (int round = 0; round < 4; round++) {
    for (int w = 0; w < 2; w++) {
      snprintf(sql, sizeof sql,
               "WITH RECURSIVE c(x) AS (VALUES(0) UNION ALL SELECT x+1 FROM c WHERE x<1499) "
               "INSERT OR REPLACE INTO %s SELECT (x * 7 + %d) %% 3000, "
               "CASE (x + %d) %% 4 WHEN 0 THEN randomblob((x * 13) %% 400) WHEN 1 THEN x * 1.5 "
               "WHEN 2 THEN printf('r%d-%%.*c', (x * 7) %% 300, 'z') ELSE NULL END FROM c",
               w ? "n" : "t", round * 11, round, round);
      exec_ok(db, sql);
    }
    /* the same random blobs on both sides: copy t's values over */
    exec_ok(db, "UPDATE n SET v = (SELECT v FROM t WHERE t.k = n.k) WHERE typeof(v) = 'blob'");
    exec_ok(db, round == 0 ? "SELECT lsm_flush('t'), lsm_compact('t')" : "SELECT lsm_flush('t')");
  }
  exec_ok(db, "INSERT OR REPLACE INTO t VALUES (5, 'mem5'), (2999, 'mem2999');"
              "INSERT OR REPLACE INTO n VALUES (5, 'mem5'), (2999, 'mem2999');");
  {
    sqlite3_stmt *e;
    assert_int_equal(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT k, v FROM t WHERE k >= 1 "
                                            "ORDER BY k LIMIT 10", -1, &e, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(e), SQLITE_ROW);
    const char *detail = (const char *)sqlite3_column_text(e, 3);
    if (!detail || !strstr(detail, "limit-hint")) fail_msg("plan: %s", detail ? detail : "(null)");
    sqlite3_finalize(e);
  }
  static const char *const qs[] = {
      "SELECT k, quote(v) FROM %s WHERE k >= ?1 ORDER BY k LIMIT ?2",
      "SELECT k, quote(v) FROM %s WHERE k > ?1 ORDER BY k LIMIT ?2 OFFSET ?3",
      "SELECT k, length(v) FROM %s WHERE k >= ?1 AND k < ?1 + 500 ORDER BY k LIMIT ?2",
      "SELECT k, quote(v) FROM %s WHERE k <= ?1 ORDER BY k DESC LIMIT ?2 OFFSET ?3",
      "SELECT k FROM %s WHERE k >= ?1 AND typeof(v) = 'text' ORDER BY k LIMIT ?2",
      "SELECT quote(max(v)), count(*) FROM (SELECT v FROM %s WHERE k >= ?1 ORDER BY k LIMIT ?2)",
  };
  enum { NQ = sizeof qs / sizeof qs[0] };
  static const int limits[] = {0, 1, 3, 40, 100, 250, 5000, -1};
  sqlite3_stmt *st[2][NQ];
  prepare_twins(db, qs, NQ, st[0], st[1]);
  static char a[1 << 20], b[1 << 20];
  for (int it = 0; it < 600; it++) {
    if (it == 300) { /* the second half inside a transaction that wrote: the overlay merged in */
      exec_ok(db, "BEGIN");
      for (int w = 0; w < 2; w++) {
        snprintf(sql, sizeof sql,
                 "DELETE FROM %s WHERE k BETWEEN 100 AND 400;"
                 "INSERT OR REPLACE INTO %s VALUES (250, 'tx250'), (1000, 'tx1000'), (3500, 'tx');"
                 "UPDATE %s SET v = 'u' || k WHERE k BETWEEN 2000 AND 2100;",
                 w ? "n" : "t", w ? "n" : "t", w ? "n" : "t");
        exec_ok(db, sql);
      }
    }
    int q = (int)(rnd() % NQ);
    sqlite3_int64 lo = (sqlite3_int64)(rnd() % 3200) - 100;
    int lim = limits[rnd() % 8], off = (int)(rnd() % 4) * 7;
    for (int w = 0; w < 2; w++) {
      sqlite3_bind_int64(st[w][q], 1, lo);
      sqlite3_bind_int(st[w][q], 2, lim);
      if (strstr(qs[q], "?3")) sqlite3_bind_int(st[w][q], 3, off);
      rows_text(st[w][q], w ? b : a, sizeof a);
    }
    if (strcmp(a, b))
      fail_msg("step %d: %s [%lld, %d, %d]\n lsm:    %.300s\n native: %.300s", it, qs[q],
               (long long)lo, lim, off, a, b);
  }
  exec_ok(db, "COMMIT");
  for (int q = 0; q < NQ; q++)
    for (int w = 0; w < 2; w++) sqlite3_finalize(st[w][q]);
  sqlite3_close(db);
}

/* Whole-table and range scans row by row (the engine's one-call row step when the transaction
** has not written, the overlay merge when it has): against a native twin, on a table of
** 512-byte blocks over a compacted level, an L0 file with overwrites and deletes, and the
** memtable; values NULL, integer, real, text, blob; ASC and DESC, LIMIT/OFFSET, ranges; two
** scans of the same table stepped alternately (ASC and DESC) in one result. */
static void test_full_scans_vs_native(void **state) {
  (void)state;
  sqlite3 *db = open_db("full_scans.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, a, b, block_size=512);"
              "CREATE TABLE n(k INTEGER PRIMARY KEY, a, b) WITHOUT ROWID;");
  char sql[1024];
  for (int round = 0; round < 3; round++) {
    for (int w = 0; w < 2; w++) {
      const char *tb = w ? "n" : "t";
      snprintf(sql, sizeof sql,
               "WITH RECURSIVE c(x) AS (VALUES(0) UNION ALL SELECT x+1 FROM c WHERE x<1999) "
               "INSERT OR REPLACE INTO %s SELECT (x * 3 + %d) %% 4000 - 100, "
               "CASE x %% 5 WHEN 0 THEN NULL WHEN 1 THEN x * %d WHEN 2 THEN x / 4.0 "
               "WHEN 3 THEN printf('t%d-%%.*c', x %% 90, 'q') ELSE CAST(printf('b%%d', x) AS BLOB) END, "
               "x + %d FROM c;"
               "DELETE FROM %s WHERE k %% 17 = %d;",
               tb, round * 7, round + 1, round, round * 100000, tb, round);
      exec_ok(db, sql);
    }
    if (round < 2) exec_ok(db, round == 0 ? "SELECT lsm_flush('t'), lsm_compact('t')" : "SELECT lsm_flush('t')");
  }
  static const char *const qs[] = {
      "SELECT k, quote(a), b FROM %s",
      "SELECT k, quote(a), b FROM %s ORDER BY k DESC",
      "SELECT count(*), sum(k), sum(length(a)), quote(max(a)) FROM %s",
      "SELECT k, quote(a) FROM %s ORDER BY k DESC LIMIT 250 OFFSET 1000",
      "SELECT k, b FROM %s WHERE k >= 1000 AND k < 2500",
      "SELECT k, quote(a) FROM %s WHERE k < 3000 ORDER BY k DESC",
      "SELECT x.k, y.k, quote(y.a) FROM (SELECT k FROM %1$s ORDER BY k) x "
      "JOIN (SELECT k, a FROM %1$s ORDER BY k DESC) y ON x.k = -y.k + 3800",
  };
  enum { NQ = sizeof qs / sizeof qs[0] };
  sqlite3_stmt *st[2][NQ];
  prepare_twins(db, qs, NQ, st[0], st[1]);
  static char a[1 << 20], b[1 << 20];
  for (int txn = 0; txn < 2; txn++) {
    if (txn) { /* uncommitted inserts, updates and deletes inside the scanned ranges */
      exec_ok(db, "BEGIN");
      for (int w = 0; w < 2; w++) {
        const char *tb = w ? "n" : "t";
        snprintf(sql, sizeof sql,
                 "INSERT OR REPLACE INTO %s VALUES (1001, 'tx', NULL), (-500, 1, 2), (5000, x'00', 3);"
                 "UPDATE %s SET a = 'u' || k WHERE k BETWEEN 2000 AND 2100;"
                 "DELETE FROM %s WHERE k BETWEEN 1200 AND 1300 OR k %% 13 = 0;",
                 tb, tb, tb);
        exec_ok(db, sql);
      }
    }
    for (int q = 0; q < NQ; q++) {
      for (int w = 0; w < 2; w++) rows_text(st[w][q], w ? b : a, sizeof a);
      if (strcmp(a, b)) fail_msg("txn %d: %s\n lsm:    %.300s\n native: %.300s", txn, qs[q], a, b);
    }
    /* two scans of t open at once, stepped alternately: neither disturbs the other */
    sqlite3_stmt *up, *down;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT k, quote(a) FROM t", -1, &up, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT k, quote(a) FROM t ORDER BY k DESC", -1, &down, NULL), SQLITE_OK);
    size_t an = 0;
    int r1 = SQLITE_ROW, r2 = SQLITE_ROW;
    while (r1 == SQLITE_ROW || r2 == SQLITE_ROW) {
      if (r1 == SQLITE_ROW && (r1 = sqlite3_step(up)) == SQLITE_ROW)
        an += (size_t)snprintf(a + an, sizeof a - an, "%lld|%s; ", sqlite3_column_int64(up, 0),
                               (const char *)sqlite3_column_text(up, 1));
      if (r2 == SQLITE_ROW && (r2 = sqlite3_step(down)) == SQLITE_ROW)
        an += (size_t)snprintf(a + an, sizeof a - an, "%lld|%s; ", sqlite3_column_int64(down, 0),
                               (const char *)sqlite3_column_text(down, 1));
      assert_true(an < sizeof a);
    }
    assert_int_equal(r1, SQLITE_DONE);
    assert_int_equal(r2, SQLITE_DONE);
    sqlite3_finalize(up);
    sqlite3_finalize(down);
    /* the same interleaving from the native twin's rows */
    sqlite3_stmt *nu, *nd;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT k, quote(a) FROM n ORDER BY k", -1, &nu, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT k, quote(a) FROM n ORDER BY k DESC", -1, &nd, NULL), SQLITE_OK);
    size_t bn = 0;
    r1 = r2 = SQLITE_ROW;
    while (r1 == SQLITE_ROW || r2 == SQLITE_ROW) {
      if (r1 == SQLITE_ROW && (r1 = sqlite3_step(nu)) == SQLITE_ROW)
        bn += (size_t)snprintf(b + bn, sizeof b - bn, "%lld|%s; ", sqlite3_column_int64(nu, 0),
                               (const char *)sqlite3_column_text(nu, 1));
      if (r2 == SQLITE_ROW && (r2 = sqlite3_step(nd)) == SQLITE_ROW)
        bn += (size_t)snprintf(b + bn, sizeof b - bn, "%lld|%s; ", sqlite3_column_int64(nd, 0),
                               (const char *)sqlite3_column_text(nd, 1));
      assert_true(bn < sizeof b);
    }
    sqlite3_finalize(nu);
    sqlite3_finalize(nd);
    if (an != bn || memcmp(a, b, an)) fail_msg("txn %d: alternating scans differ\n lsm:    %.300s\n native: %.300s", txn, a, b);
  }
  exec_ok(db, "COMMIT");
  for (int q = 0; q < NQ; q++)
    for (int w = 0; w < 2; w++) sqlite3_finalize(st[w][q]);
  sqlite3_close(db);
}

/* Single-key lookups (`WHERE k = ?`, UPDATE/DELETE by key) take a path of their own (filter_one:
** the overlay, else one lsm_get): committed rows in an SST and in the memtable, absent keys, NULL
** and converted values, rows changed/deleted/re-inserted in the open transaction, a cursor that
** keeps the row it found while the same key is written again (its value is borrowed from the
** overlay), savepoint rollback under an open cursor, composite keys next to IN lists, a key over
** the engine's limit; and UPDATE/DELETE by key read the row once (engine gets). */
static long long eng_gets(sqlite3 *db) {
  return qi(db, "SELECT json_extract(lsm_stats('t'), '$.engine.gets')");
}

static void test_point_lookup_paths(void **state) {
  (void)state;
  sqlite3 *db = open_db("point.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT);"
              "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20) "
              "INSERT INTO t SELECT i, 'v' || i FROM c;"
              "SELECT lsm_flush('t');" /* rows 1..20 in an SST */
              "INSERT INTO t VALUES (21, 'v21'), (22, 'v22');"); /* in the memtable */
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 5"), "v5");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 22"), "v22");
  assert_string_equal(q1(db, "SELECT count(*) FROM t WHERE k = 1000"), "0");
  assert_string_equal(q1(db, "SELECT count(*) FROM t WHERE k = NULL"), "0");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 5.0"), "v5");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = '6'"), "v6");
  assert_string_equal(q1(db, "SELECT count(*) FROM t WHERE k = 5.5"), "0");

  /* Inside a transaction: the overlay answers first. */
  exec_ok(db, "BEGIN; UPDATE t SET v = 'new5' WHERE k = 5; DELETE FROM t WHERE k = 6;"
              "INSERT INTO t VALUES (100, 'v100'); DELETE FROM t WHERE k = 7;"
              "INSERT INTO t VALUES (7, 'again');");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 5"), "new5");
  assert_string_equal(q1(db, "SELECT count(*) FROM t WHERE k = 6"), "0");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 100"), "v100");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 7"), "again");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 8"), "v8"); /* not in the overlay */

  /* A cursor keeps what it found at xFilter while the key is written again. From the engine: */
  sqlite3_stmt *a, *b;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k = 8", -1, &a, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(a), SQLITE_ROW);
  exec_ok(db, "UPDATE t SET v = 'x8' WHERE k = 8");
  assert_string_equal((const char *)sqlite3_column_text(a, 0), "v8");
  assert_int_equal(sqlite3_step(a), SQLITE_DONE);
  /* from the overlay (the value is borrowed from the overlay's version): */
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k = 8", -1, &b, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(b), SQLITE_ROW);
  exec_ok(db, "UPDATE t SET v = 'y8' WHERE k = 8");
  assert_string_equal((const char *)sqlite3_column_text(b, 0), "x8");
  assert_int_equal(sqlite3_step(b), SQLITE_DONE);
  sqlite3_finalize(b);
  assert_int_equal(sqlite3_reset(a), SQLITE_OK);
  assert_int_equal(sqlite3_step(a), SQLITE_ROW); /* a new xFilter sees the latest write */
  assert_string_equal((const char *)sqlite3_column_text(a, 0), "y8");
  sqlite3_finalize(a);
  /* (An UPDATE while another statement's cursor on t is open is skipped when its key was
  ** written after that cursor's snapshot: a known problem of update_row's REPLACE check, which
  ** looks at every open cursor; reported. Not exercised here.) */
  exec_ok(db, "UPDATE t SET v = 'z8' WHERE k = 8");

  /* A savepoint rolled back under an open cursor that found the rolled-back version. */
  exec_ok(db, "SAVEPOINT s; UPDATE t SET v = 'p9' WHERE k = 9;");
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k = 9", -1, &a, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(a), SQLITE_ROW);
  int rb = sqlite3_exec(db, "ROLLBACK TO s", NULL, NULL, NULL);
  assert_string_equal((const char *)sqlite3_column_text(a, 0), "p9");
  sqlite3_finalize(a);
  if (rb == SQLITE_OK) assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 9"), "v9");
  exec_ok(db, "RELEASE s");

  /* UPDATE and DELETE by key read the row once (xFilter), not again in xUpdate. */
  long long g0 = eng_gets(db);
  exec_ok(db, "UPDATE t SET v = 'u10' WHERE k = 10");
  assert_int_equal(eng_gets(db) - g0, 1);
  g0 = eng_gets(db);
  exec_ok(db, "DELETE FROM t WHERE k = 11");
  assert_int_equal(eng_gets(db) - g0, 1);
  assert_int_equal(sqlite3_changes(db), 1);
  exec_ok(db, "COMMIT");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 5"), "new5");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 8"), "z8");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 10"), "u10");
  assert_string_equal(q1(db, "SELECT count(*) FROM t WHERE k = 11"), "0");
  exec_ok(db, "BEGIN; DELETE FROM t WHERE k = 12; ROLLBACK;");
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 12"), "v12");

  /* Composite key: the whole key bound by = (single lookup) and by IN (batched). */
  exec_ok(db, "CREATE VIRTUAL TABLE c USING lsm(a TEXT, b REAL, v, PRIMARY KEY (a, b));"
              "INSERT INTO c VALUES ('x', 1, 'x1'), ('x', 2.5, 'x2.5'), ('y', 1, 'y1');");
  assert_string_equal(q1(db, "SELECT v FROM c WHERE a = 'x' AND b = 2.5"), "x2.5");
  assert_string_equal(q1(db, "SELECT typeof(b) || b FROM c WHERE a = 'x' AND b = 1"), "real1.0");
  assert_string_equal(q1(db, "SELECT count(*) FROM c WHERE a = 'x' AND b = 3"), "0");
  assert_string_equal(q1(db, "SELECT group_concat(v) FROM c WHERE a IN ('x', 'y') AND b IN (1, 1)"),
                      "x1,y1");
  /* A key over the engine's limit can never exist: no row, no error. */
  exec_ok(db, "CREATE VIRTUAL TABLE s USING lsm(k TEXT PRIMARY KEY, v)");
  assert_string_equal(q1(db, "SELECT count(*) FROM s WHERE k = printf('%.70000c', 'a')"), "0");
  sqlite3_close(db);
}

/* Random statements with savepoints, on an lsm table and a native twin, compared after each. */
static void test_random_vs_native(void **state) {
  (void)state;
  const uint64_t seed = 0xd1ff0001;
  rng = seed;
  sqlite3 *db = open_db("rand.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(a, b INTEGER, v, PRIMARY KEY(a, b));"
              "CREATE TABLE n(a, b INTEGER, v, PRIMARY KEY(a, b)) WITHOUT ROWID;");
  const char *vals[] = {"1", "2", "1.0", "2.5", "'a'", "'b'", "x'00'", "-3", "'1'"};
  int nv = (int)(sizeof vals / sizeof vals[0]);
  int depth = 0;
  int steps = is_long() ? 20000 : 2000;
  for (int it = 0; it < steps; it++) {
    char body[512], sql[1200];
    int inside = !sqlite3_get_autocommit(db);
    if (!inside) depth = 0; /* no transaction: no savepoints either */
    const char *A = vals[rnd() % (uint64_t)nv], *B = vals[rnd() % 4];
    int op = (int)(rnd() % 100);
    const char *mode[] = {"", "OR IGNORE ", "OR REPLACE ", "OR FAIL ", "OR ABORT "};
    const char *m = mode[rnd() % 5];
    body[0] = 0;
    if (op < 35) snprintf(body, sizeof body, "INSERT %sINTO %%s VALUES (%s, %s, %d), (%s, %s, %d)",
                          m, A, B, it, vals[rnd() % (uint64_t)nv], B, -it);
    /* (no OR REPLACE here: when b = b + 1 moves a row onto a key the scan has yet to reach,
    ** a native table visits the moved row again (its scan is live, one pass), an lsm table
    ** reads a snapshot and visits every row once; both are "right", they differ) */
    else if (op < 50) snprintf(body, sizeof body, "UPDATE %s%%s SET b = b + 1 WHERE a >= %s",
                               strcmp(m, "OR REPLACE ") ? m : "", A);
    else if (op < 60) snprintf(body, sizeof body, "UPDATE %s%%s SET a = %s WHERE b = %s", m, A, B);
    else if (op < 70) snprintf(body, sizeof body, "DELETE FROM %%s WHERE a = %s", A);
    else if (op < 76 && !inside) { exec_ok(db, "BEGIN"); if (getenv("LSMVTAB_TRACE")) fprintf(stderr, "%d: BEGIN\n", it); continue; }
    else if (op < 80 && inside) {
      snprintf(sql, sizeof sql, "%s", rnd() % 3 ? "COMMIT" : "ROLLBACK");
      exec_ok(db, sql);
      compare_twins(db, seed, it, sql);
      continue;
    } else if (op < 88) {
      snprintf(sql, sizeof sql, "SAVEPOINT s%d", depth++);
      exec_ok(db, sql);
      if (getenv("LSMVTAB_TRACE")) fprintf(stderr, "%d: %s\n", it, sql);
      continue;
    } else if (op < 94 && depth > 0) {
      int to = (int)(rnd() % (uint64_t)depth);
      snprintf(sql, sizeof sql, "ROLLBACK TO s%d", to);
      exec_ok(db, sql);
      depth = to + 1;
      compare_twins(db, seed, it, sql);
      continue;
    } else if (depth > 0) {
      int to = (int)(rnd() % (uint64_t)depth);
      snprintf(sql, sizeof sql, "RELEASE s%d", to);
      exec_ok(db, sql);
      depth = to;
      compare_twins(db, seed, it, sql);
      continue;
    } else {
      continue;
    }
    char s1[600], s2[600];
    snprintf(s1, sizeof s1, body, "t");
    snprintf(s2, sizeof s2, body, "n");
    int r1 = sqlite3_exec(db, s1, NULL, NULL, NULL);
    char e1[256];
    snprintf(e1, sizeof e1, "%s", sqlite3_errmsg(db));
    int r2 = sqlite3_exec(db, s2, NULL, NULL, NULL);
    if (r1 != r2) fail_msg("seed %#llx step %d: %s -> %d (%s), native %d (%s)",
                           (unsigned long long)seed, it, s1, r1, e1, r2, sqlite3_errmsg(db));
    compare_twins(db, seed, it, s1);
  }
  if (!sqlite3_get_autocommit(db)) exec_ok(db, "COMMIT");
  sqlite3_close(db);
}

/* IN lists (filter_list: the overlay first, the rest in one lsm_multiget) against a native
** twin, inside transactions with savepoints: lists with duplicates, NULLs, absent keys, mixed
** types, keys only in the overlay or deleted there, lists of every size, ASC and DESC. Then an
** open IN cursor across writes and ROLLBACK TO, and a key of 17 columns. */
static void in_compare(sqlite3 *db, const char *list, const char *dir, uint64_t seed, int it) {
  char a[4096], b[4096], q[3000];
  snprintf(q, sizeof q, "SELECT group_concat(k || ':' || v, ' ') FROM "
                        "(SELECT k, v FROM t WHERE k IN (%s) ORDER BY k %s)", list, dir);
  snprintf(a, sizeof a, "%s", q1(db, q));
  snprintf(q, sizeof q, "SELECT group_concat(k || ':' || v, ' ') FROM "
                        "(SELECT k, v FROM n WHERE k IN (%s) ORDER BY k %s)", list, dir);
  snprintf(b, sizeof b, "%s", q1(db, q));
  if (strcmp(a, b))
    fail_msg("seed %#llx step %d: IN (%s) %s\n lsm:    %s\n native: %s",
             (unsigned long long)seed, it, list, dir, a, b);
}

static void test_in_list_vs_native(void **state) {
  (void)state;
  const uint64_t seed = 0x1a1157;
  rng = seed;
  sqlite3 *db = open_db("inlist.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v);"
              "CREATE TABLE n(k INTEGER PRIMARY KEY, v) WITHOUT ROWID;"
              "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 150) "
              "INSERT INTO t SELECT 2 * i, 'e' || i FROM c;"
              "INSERT INTO n SELECT k, v FROM t; SELECT lsm_flush('t');"
              "INSERT INTO t VALUES (1, 'm1'), (3, 'm3'); INSERT INTO n VALUES (1, 'm1'), (3, 'm3');");
  int depth = 0, steps = is_long() ? 20000 : 3000;
  for (int it = 0; it < steps; it++) {
    int op = (int)(rnd() % 100);
    char sql[256];
    if (sqlite3_get_autocommit(db)) depth = 0;
    if (op < 45) { /* a query */
      char list[2048];
      size_t at = 0;
      int nkeys = (int)(rnd() % 4 == 0 ? rnd() % 120 + 1 : rnd() % 40 + 1);
      for (int i = 0; i < nkeys; i++) {
        int r = (int)(rnd() % 20), k = (int)(rnd() % 330) - 5;
        const char *sep = i ? "," : "";
        if (r == 0) at += (size_t)snprintf(list + at, sizeof list - at, "%sNULL", sep);
        else if (r == 1) at += (size_t)snprintf(list + at, sizeof list - at, "%s'%d'", sep, k);
        else if (r == 2) at += (size_t)snprintf(list + at, sizeof list - at, "%s%d.0", sep, k);
        else if (r == 3) at += (size_t)snprintf(list + at, sizeof list - at, "%s%d.5", sep, k);
        else at += (size_t)snprintf(list + at, sizeof list - at, "%s%d", sep, k);
      }
      in_compare(db, list, rnd() % 2 ? "ASC" : "DESC", seed, it);
      continue;
    }
    int k = (int)(rnd() % 330) - 5;
    if (op < 60) snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO %%s VALUES (%d, 'w%d')", k, it);
    else if (op < 70) snprintf(sql, sizeof sql, "DELETE FROM %%s WHERE k = %d", k);
    else if (op < 78) snprintf(sql, sizeof sql, "UPDATE %%s SET v = 'u%d' WHERE k = %d", it, k);
    else if (op < 83) snprintf(sql, sizeof sql, "DELETE FROM %%s WHERE k IN (%d, %d, %d)", k, k + 1,
                               k + 7);
    else {
      if (op < 87 && sqlite3_get_autocommit(db)) exec_ok(db, "BEGIN");
      else if (op < 90 && !sqlite3_get_autocommit(db)) exec_ok(db, rnd() % 3 ? "COMMIT" : "ROLLBACK");
      else if (op < 94) {
        snprintf(sql, sizeof sql, "SAVEPOINT s%d", depth++);
        exec_ok(db, sql);
      } else if (depth > 0) {
        int to = (int)(rnd() % (uint64_t)depth);
        snprintf(sql, sizeof sql, "ROLLBACK TO s%d", to);
        exec_ok(db, sql);
        depth = to + 1;
      }
      continue;
    }
    char s1[300], s2[300];
    snprintf(s1, sizeof s1, sql, "t");
    snprintf(s2, sizeof s2, sql, "n");
    int r1 = sqlite3_exec(db, s1, NULL, NULL, NULL), r2 = sqlite3_exec(db, s2, NULL, NULL, NULL);
    if (r1 != r2) fail_msg("seed %#llx step %d: %s -> %d, native %d", (unsigned long long)seed, it, s1, r1, r2);
  }
  if (!sqlite3_get_autocommit(db)) exec_ok(db, "COMMIT");

  /* An IN cursor keeps the values it found (overlay ones borrowed) across writes and a
  ** ROLLBACK TO that removes those versions. */
  exec_ok(db, "DELETE FROM t; INSERT INTO t VALUES (10, 'a'), (20, 'b'), (30, 'c');"
              "BEGIN; UPDATE t SET v = 'x' WHERE k = 10; SAVEPOINT s; "
              "UPDATE t SET v = 'y' WHERE k = 20; INSERT INTO t VALUES (40, 'd'); DELETE FROM t WHERE k = 30;");
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT k, v FROM t WHERE k IN (40, 30, 20, 10, 20, 50)",
                                      -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 1), "x");
  exec_ok(db, "UPDATE t SET v = 'z' WHERE k = 20; UPDATE t SET v = 'zz' WHERE k = 40;");
  int rb = sqlite3_exec(db, "ROLLBACK TO s", NULL, NULL, NULL);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 1), "y");
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 40);
  assert_string_equal((const char *)sqlite3_column_text(st, 1), "d");
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  if (rb == SQLITE_OK)
    assert_string_equal(q1(db, "SELECT group_concat(k || v) FROM t WHERE k IN (10, 20, 30, 40)"),
                        "10x,20b,30c");
  exec_ok(db, "COMMIT");

  /* A key of 17 columns, IN on two of them. */
  char cols[600] = "", pk[300] = "", vals[300] = "";
  for (int i = 0; i < 17; i++) {
    size_t n1 = strlen(cols), n2 = strlen(pk), n3 = strlen(vals);
    snprintf(cols + n1, sizeof cols - n1, "c%d INTEGER, ", i);
    snprintf(pk + n2, sizeof pk - n2, "%sc%d", i ? ", " : "", i);
    snprintf(vals + n3, sizeof vals - n3, "%s%d", i ? ", " : "", i);
  }
  char sql[2000];
  snprintf(sql, sizeof sql, "CREATE VIRTUAL TABLE w USING lsm(%sv, PRIMARY KEY(%s));"
           "INSERT INTO w VALUES (%s, 'r1');", cols, pk, vals);
  exec_ok(db, sql);
  exec_ok(db, "UPDATE w SET c16 = 99, v = 'r2'; INSERT INTO w SELECT c0, c1, c2, c3, c4, c5, c6, "
              "c7, c8, c9, c10, c11, c12, c13, c14, c15, 16, 'r1' FROM w;");
  assert_string_equal(q1(db, "SELECT group_concat(v) FROM (SELECT v FROM w WHERE c0 = 0 AND c1 IN "
                             "(1, 7, 1) AND c2 = 2 AND c3 = 3 AND c4 = 4 AND c5 = 5 AND c6 = 6 AND "
                             "c7 = 7 AND c8 = 8 AND c9 = 9 AND c10 = 10 AND c11 = 11 AND c12 = 12 "
                             "AND c13 = 13 AND c14 = 14 AND c15 = 15 AND c16 IN (99, 5, 16, NULL) "
                             "ORDER BY c16 DESC)"),
                      "r2,r1");
  sqlite3_close(db);
}

/* Statement rollback through the C API (bugs-vtab 8): a prepared INSERT OR FAIL, reused with
** other bindings, whose last row has a rowid that is not an integer. Inside a transaction a
** native rowid table keeps the rows written before the bad one (no statement journal); so must
** the lsm table, also while a read of it is in progress; OR ABORT undoes them, and a user's
** ROLLBACK TO still rolls back everything after its savepoint. Native table n and lsm table t
** get the same statements and must hold the same rowids after each. */
static void both_step(sqlite3 *db, sqlite3_stmt *sn, sqlite3_stmt *st, const char *json,
                      int want) {
  sqlite3_stmt *s[2] = {sn, st};
  for (int i = 0; i < 2; i++) {
    assert_int_equal(sqlite3_bind_text(s[i], 1, json, -1, SQLITE_STATIC), SQLITE_OK);
    int rc = sqlite3_step(s[i]);
    if (rc != want) fail_msg("%s with %s: rc %d (%s), want %d", i ? "lsm" : "native", json, rc,
                             sqlite3_errmsg(db), want);
    if (want == SQLITE_MISMATCH) assert_string_equal(sqlite3_errmsg(db), "datatype mismatch");
    sqlite3_reset(s[i]);
  }
}

static void same_rowids(sqlite3 *db, const char *want) {
  char n[1024];
  snprintf(n, sizeof n, "%s", q1(db, "SELECT group_concat(rowid) FROM (SELECT rowid FROM n ORDER BY 1)"));
  const char *t = q1(db, "SELECT group_concat(rowid) FROM (SELECT rowid FROM t ORDER BY 1)");
  assert_string_equal(n, want);
  assert_string_equal(t, want);
}

static void test_stmt_rollback_modes(void **state) {
  (void)state;
  sqlite3 *db = open_db("stmtrb.db");
  exec_ok(db, "CREATE TABLE n(v); CREATE VIRTUAL TABLE t USING lsm(v)");
  sqlite3_stmt *fn, *ft, *an, *at, *rd;
  const char *ins = "INSERT OR %s INTO %s(rowid, v) SELECT value, 1 FROM json_each(?)";
  char sql[256];
  snprintf(sql, sizeof sql, ins, "FAIL", "n");
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &fn, NULL), SQLITE_OK);
  snprintf(sql, sizeof sql, ins, "FAIL", "t");
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &ft, NULL), SQLITE_OK);
  snprintf(sql, sizeof sql, ins, "ABORT", "n");
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &an, NULL), SQLITE_OK);
  snprintf(sql, sizeof sql, ins, "ABORT", "t");
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &at, NULL), SQLITE_OK);

  both_step(db, fn, ft, "[1, 2, \"x\"]", SQLITE_MISMATCH); /* autocommit: all undone */
  same_rowids(db, "");
  exec_ok(db, "BEGIN");
  both_step(db, fn, ft, "[1, 2, \"x\"]", SQLITE_MISMATCH);
  same_rowids(db, "1,2");
  both_step(db, fn, ft, "[3, 4]", SQLITE_DONE);
  both_step(db, fn, ft, "[5, 6, \"y\", 7]", SQLITE_MISMATCH);
  same_rowids(db, "1,2,3,4,5,6");
  both_step(db, an, at, "[8, 9, \"z\"]", SQLITE_MISMATCH);
  same_rowids(db, "1,2,3,4,5,6");
  /* a read of t in progress: not a writer, the statement is still told apart */
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT rowid FROM t", -1, &rd, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(rd), SQLITE_ROW);
  both_step(db, fn, ft, "[10, 11, \"x\"]", SQLITE_MISMATCH);
  sqlite3_finalize(rd);
  same_rowids(db, "1,2,3,4,5,6,10,11");
  /* a user's ROLLBACK TO right after a failed OR FAIL statement */
  exec_ok(db, "SAVEPOINT a");
  both_step(db, fn, ft, "[20, 21, \"x\"]", SQLITE_MISMATCH);
  same_rowids(db, "1,2,3,4,5,6,10,11,20,21");
  exec_ok(db, "ROLLBACK TO a; RELEASE a");
  same_rowids(db, "1,2,3,4,5,6,10,11");
  exec_ok(db, "COMMIT");
  same_rowids(db, "1,2,3,4,5,6,10,11");
  sqlite3_finalize(fn);
  sqlite3_finalize(ft);
  sqlite3_finalize(an);
  sqlite3_finalize(at);
  sqlite3_close(db);
  db = open_db("stmtrb.db"); /* and it was committed to the engine */
  same_rowids(db, "1,2,3,4,5,6,10,11");
  sqlite3_close(db);
}

/* Writes while another statement of the same connection has a cursor on the table open
** (stepped, not reset). The check in update_row that skips rows an UPDATE OR REPLACE replaced
** earlier in the same statement used the oldest open cursor's snapshot, whichever statement
** owned it: every UPDATE of a key written after the reader started was then silently skipped.
** Each scenario runs on the lsm table t and on a native twin n (same statements, a reader open on
** each); changes() and the contents must match, and the lsm reader must go on returning its
** snapshot. Within BEGIN, within SAVEPOINT (also nested, with ROLLBACK TO), and in autocommit. */
static const char *rd_sql[] = {"SELECT v FROM %s WHERE k = 8", "SELECT k FROM %s",
                               "SELECT k FROM %s WHERE k > 3 ORDER BY k DESC",
                               "SELECT k FROM %s WHERE k IN (2, 8, 20)"};

static void open_reader(sqlite3 *db, const char *fmt, const char *tab, sqlite3_stmt **st) {
  char sql[200];
  snprintf(sql, sizeof sql, fmt, tab);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(*st), SQLITE_ROW);
}

/* Run one write statement (a %s for the table) on t and on n; same rc and changes(). */
static void both_write(sqlite3 *db, const char *fmt, const char *ctx) {
  int rc[2], ch[2];
  const char *tab[2] = {"t", "n"};
  for (int i = 0; i < 2; i++) {
    char sql[300];
    snprintf(sql, sizeof sql, fmt, tab[i], tab[i], tab[i]);
    rc[i] = sqlite3_exec(db, sql, NULL, NULL, NULL);
    ch[i] = sqlite3_changes(db);
  }
  if (rc[0] != rc[1] || ch[0] != ch[1])
    fail_msg("%s: %s: lsm rc %d changes %d, native rc %d changes %d", ctx, fmt, rc[0], ch[0],
             rc[1], ch[1]);
  const char *all = "SELECT group_concat(k || '=' || v, ' ') FROM (SELECT * FROM %s ORDER BY k)";
  char q[200], want[4096];
  snprintf(q, sizeof q, all, "n");
  snprintf(want, sizeof want, "%s", q1(db, q));
  snprintf(q, sizeof q, all, "t");
  const char *got = q1(db, q);
  if (strcmp(got, want)) fail_msg("%s: after %s:\n lsm:    %s\n native: %s", ctx, fmt, got, want);
}

static void test_write_under_open_reader(void **state) {
  (void)state;
  sqlite3 *db = open_db("rdw.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT);"
              "CREATE TABLE n(k INTEGER PRIMARY KEY, v TEXT);");
  /* the statement sequence: every later statement touches keys written by earlier ones */
  static const char *seq[] = {
      "UPDATE %s SET v = 'x8' WHERE k = 8",
      "UPDATE %s SET v = 'y8' WHERE k = 8", /* the original repro: was skipped */
      "INSERT OR REPLACE INTO %s VALUES (8, 'r8'), (20, 'r20')",
      "UPDATE %s SET v = v || '+' WHERE k = 20",
      "UPDATE %s SET v = v || '!' WHERE k > 5",
      "DELETE FROM %s WHERE k = 2",
      "INSERT INTO %s VALUES (2, 'back2')",
      "UPDATE %s SET v = v || '#' WHERE k IN (2, 8, 20)",
      "UPDATE %s SET k = k + 100 WHERE k = 2",
      "UPDATE %s SET v = 'moved' WHERE k = 102",
      "UPDATE OR REPLACE %s SET k = 8 WHERE k = 102",
      "UPDATE %s SET v = v || '@' WHERE k = 8",
      "DELETE FROM %s WHERE k = 20",
      "UPDATE %s SET v = 'gone?' WHERE k = 20",
      "REPLACE INTO %s VALUES (20, 'again')",
      "UPDATE %s SET v = v || '%%' WHERE k >= 8",
  };
  const int nseq = (int)(sizeof seq / sizeof seq[0]);
  /* modes: 0 BEGIN..COMMIT, 1 SAVEPOINT..RELEASE, 2 nested savepoints with a ROLLBACK TO in the
  ** middle, 3 autocommit */
  for (int mode = 0; mode < 4; mode++)
    for (int r = 0; r < (int)(sizeof rd_sql / sizeof rd_sql[0]); r++) {
      char ctx[100];
      snprintf(ctx, sizeof ctx, "mode %d reader %d", mode, r);
      exec_ok(db, "DELETE FROM t; DELETE FROM n;"
                  "WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 10)"
                  " INSERT INTO t SELECT x, 'v' || x FROM i;"
                  "INSERT INTO n SELECT * FROM t;");
      /* what the lsm reader must return: its snapshot, taken now */
      char want[1024] = "", got[1024] = "";
      {
        sqlite3_stmt *st;
        open_reader(db, rd_sql[r], "t", &st);
        do snprintf(want + strlen(want), sizeof want - strlen(want), "%s,",
                    (const char *)sqlite3_column_text(st, 0));
        while (sqlite3_step(st) == SQLITE_ROW);
        sqlite3_finalize(st);
      }
      if (mode == 0) exec_ok(db, "BEGIN");
      if (mode == 1 || mode == 2) exec_ok(db, "SAVEPOINT a");
      /* a write first, so that the transaction's overlay exists when the readers start */
      both_write(db, "UPDATE %s SET v = v WHERE k = 1", ctx);
      sqlite3_stmt *rt, *rn;
      open_reader(db, rd_sql[r], "t", &rt);
      open_reader(db, rd_sql[r], "n", &rn);
      snprintf(got, sizeof got, "%s,", (const char *)sqlite3_column_text(rt, 0));
      int rt_done = 0, rn_done = 0; /* stepping again after SQLITE_DONE would restart it */
      for (int i = 0; i < nseq; i++) {
        if (mode == 2 && i == 4) exec_ok(db, "SAVEPOINT b; SAVEPOINT c");
        both_write(db, seq[i], ctx);
        if (mode == 2 && i == 6) exec_ok(db, "RELEASE c");
        if (mode == 2 && i == 9) exec_ok(db, "ROLLBACK TO b; RELEASE b");
        if (i % 5 == 4) { /* the readers move on between writes */
          if (!rt_done && sqlite3_step(rt) == SQLITE_ROW)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s,",
                     (const char *)sqlite3_column_text(rt, 0));
          else rt_done = 1;
          if (!rn_done) rn_done = sqlite3_step(rn) != SQLITE_ROW;
        }
      }
      while (!rt_done && sqlite3_step(rt) == SQLITE_ROW)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s,",
                 (const char *)sqlite3_column_text(rt, 0));
      if (strcmp(got, want))
        fail_msg("%s: the open reader returned %s, its snapshot holds %s", ctx, got, want);
      assert_int_equal(sqlite3_finalize(rt), SQLITE_OK);
      sqlite3_finalize(rn);
      if (mode == 0) exec_ok(db, "COMMIT");
      if (mode == 1 || mode == 2) exec_ok(db, "RELEASE a");
      both_write(db, "UPDATE %s SET v = v WHERE k = 0", ctx); /* compare after commit */
    }
  sqlite3_close(db);
}

/* UPDATE OR REPLACE moving keys onto keys its own scan has not reached: the rows it replaced
** earlier are skipped (update_row). That must not depend on another statement's cursor being
** open, nor on when that cursor started: the same statements with and without an open reader
** give the same table. */
static void test_replace_move_under_open_reader(void **state) {
  (void)state;
  sqlite3 *db = open_db("rdmv.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT);"
              "CREATE VIRTUAL TABLE u USING lsm(k INTEGER PRIMARY KEY, v TEXT);");
  static const char *seq[] = {
      "UPDATE %s SET v = 'w' || k WHERE k BETWEEN 3 AND 6",
      "UPDATE OR REPLACE %s SET k = k + 1 WHERE k BETWEEN 2 AND 7",
      "UPDATE OR REPLACE %s SET k = k - 1, v = v || '-' WHERE k > 4",
      "INSERT INTO %s VALUES (50, 'a'), (51, 'b'), (52, 'c')",
      "UPDATE OR REPLACE %s SET k = k + 1 WHERE k >= 50",
      "UPDATE OR REPLACE %s SET k = 51 WHERE k = 53",
      "UPDATE %s SET v = v || '.' WHERE k >= 50",
  };
  const int nseq = (int)(sizeof seq / sizeof seq[0]);
  for (int mode = 0; mode < 3; mode++) {
    exec_ok(db, "DELETE FROM t; DELETE FROM u;"
                "WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 10)"
                " INSERT INTO t SELECT x, 'v' || x FROM i;"
                "INSERT INTO u SELECT * FROM t;");
    exec_ok(db, mode == 1 ? "SAVEPOINT a" : "BEGIN");
    /* a first write: the overlay exists when the reader starts */
    exec_ok(db, "UPDATE t SET v = v WHERE k = 1; UPDATE u SET v = v WHERE k = 1");
    sqlite3_stmt *rt;
    open_reader(db, mode == 2 ? "SELECT k FROM %s WHERE k = 3" : "SELECT k FROM %s", "t", &rt);
    for (int i = 0; i < nseq; i++) {
      char a[200], b[200];
      snprintf(a, sizeof a, seq[i], "t");
      snprintf(b, sizeof b, seq[i], "u");
      exec_ok(db, a);
      int ct = sqlite3_changes(db);
      exec_ok(db, b);
      int cu = sqlite3_changes(db);
      char wt[2048];
      snprintf(wt, sizeof wt, "%s", q1(db, "SELECT group_concat(k || '=' || v, ' ') FROM t"));
      const char *wu = q1(db, "SELECT group_concat(k || '=' || v, ' ') FROM u");
      if (ct != cu || strcmp(wt, wu))
        fail_msg("mode %d after %s: with a reader open %d changes, %s; without %d, %s", mode, a,
                 ct, wt, cu, wu);
    }
    assert_int_equal(sqlite3_finalize(rt), SQLITE_OK);
    exec_ok(db, mode == 1 ? "RELEASE a" : "COMMIT");
  }
  /* and the known result of a key-moving statement (README, known limitations: every original
  ** row once, a row replaced earlier by the statement skipped), with and without a reader that
  ** started after the transaction's first write */
  for (int rd = 0; rd < 2; rd++) {
    exec_ok(db, "DELETE FROM u; INSERT INTO u VALUES (1, 'a'), (2, 'b'), (3, 'c');"
                "BEGIN; UPDATE u SET v = v WHERE k = 3;");
    sqlite3_stmt *rt = NULL;
    if (rd) open_reader(db, "SELECT k FROM %s WHERE k = 2", "u", &rt);
    exec_ok(db, "UPDATE OR REPLACE u SET k = k + 1");
    sqlite3_finalize(rt);
    exec_ok(db, "COMMIT");
    assert_string_equal(q1(db, "SELECT group_concat(k || '=' || v) FROM u"), "2=a,4=c");
  }
  sqlite3_close(db);
}

/* The same while two write statements are busy, so the running one cannot be told: an INSERT
** ... RETURNING into a native table stepped once (scan_snapshot's fallback: the cursors opened
** in that state). The repro, a range UPDATE over keys written after the reader started, and a
** key-moving UPDATE OR REPLACE (compared with the result without any other statement open). */
static void test_update_with_two_busy_writers(void **state) {
  (void)state;
  sqlite3 *db = open_db("rdbusy.db");
  exec_ok(db, "CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT);"
              "CREATE TABLE o(x);"
              "WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 10)"
              " INSERT INTO t SELECT x, 'v' || x FROM i;");
  exec_ok(db, "BEGIN; UPDATE t SET v = v WHERE k = 1");
  sqlite3_stmt *rd, *ret;
  open_reader(db, "SELECT k FROM %s", "t", &rd);
  assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO o VALUES (1), (2) RETURNING x", -1, &ret,
                                      NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(ret), SQLITE_ROW); /* busy until stepped to its end */
  exec_ok(db, "UPDATE t SET v = 'x8' WHERE k = 8");
  exec_ok(db, "UPDATE t SET v = 'y8' WHERE k = 8");
  assert_int_equal(sqlite3_changes(db), 1);
  assert_string_equal(q1(db, "SELECT v FROM t WHERE k = 8"), "y8");
  exec_ok(db, "UPDATE t SET v = v || '!' WHERE k >= 8");
  assert_string_equal(q1(db, "SELECT group_concat(v) FROM t WHERE k >= 8"), "y8!,v9!,v10!");
  /* rows 2..4 move up by one: 2 replaces 3, 3 (replaced) is skipped, 4 moves to 5 */
  exec_ok(db, "UPDATE OR REPLACE t SET k = k + 1 WHERE k BETWEEN 2 AND 4");
  assert_string_equal(q1(db, "SELECT group_concat(k || '=' || v) FROM t WHERE k BETWEEN 2 AND 6"),
                      "3=v2,5=v4,6=v6");
  assert_int_equal(sqlite3_step(ret), SQLITE_ROW);
  assert_int_equal(sqlite3_step(ret), SQLITE_DONE);
  sqlite3_finalize(ret);
  assert_int_equal(sqlite3_finalize(rd), SQLITE_OK);
  exec_ok(db, "COMMIT");
  assert_string_equal(q1(db, "SELECT group_concat(k || '=' || v) FROM t"),
                      "1=v1,3=v2,5=v4,6=v6,7=v7,8=y8!,9=v9!,10=v10!");
  sqlite3_close(db);
}

int main(void) {
  mm_count_heap(); /* test_overlay_bytes compares ov_bytes with the live heap */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mmap_truncated_sql), /* first: see there */
      cmocka_unit_test(test_overlay_model), cmocka_unit_test(test_overlay_hint), cmocka_unit_test(test_overlay_walk_while_writing), cmocka_unit_test(test_overlay_value_sizes),     cmocka_unit_test(test_overlay_bytes),     cmocka_unit_test(test_overlay_limits), cmocka_unit_test(test_overlay_refcount), cmocka_unit_test(test_overlay_savepoint_seq),
      cmocka_unit_test(test_exports_only_entry_points),
      cmocka_unit_test(test_options),           cmocka_unit_test(test_reopen),
      cmocka_unit_test(test_direct_io_sql),
      cmocka_unit_test(test_two_connections),   cmocka_unit_test(test_other_process_busy),
      cmocka_unit_test(test_drop_removes_files), cmocka_unit_test(test_temp_dir_removed),
      cmocka_unit_test(test_drop_in_transaction), cmocka_unit_test(test_drop_in_transaction_shared),
      cmocka_unit_test(test_rename_in_transaction), cmocka_unit_test(test_temp_drop_in_transaction),
      cmocka_unit_test(test_drop_dir_option_in_transaction),
      cmocka_unit_test(test_missing_directory),
      cmocka_unit_test(test_error_codes),       cmocka_unit_test(test_max_txn_size), cmocka_unit_test(test_txn_spill),
      cmocka_unit_test(test_txn_spill_savepoints), cmocka_unit_test(test_txn_spill_cursor),
      cmocka_unit_test(test_update_range_once),
      cmocka_unit_test(test_big_insert),        cmocka_unit_test(test_random_vs_native),
      cmocka_unit_test(test_cursor_across_commit), cmocka_unit_test(test_corrupt_rows),
      cmocka_unit_test(test_stmt_rollback_modes),
      cmocka_unit_test(test_point_lookup_paths),
      cmocka_unit_test(test_in_list_vs_native),
      cmocka_unit_test(test_write_under_open_reader),
      cmocka_unit_test(test_replace_move_under_open_reader),
      cmocka_unit_test(test_update_with_two_busy_writers),
      cmocka_unit_test(test_scan_reuse_vs_native),
      cmocka_unit_test(test_limit_hint_vs_native),
      cmocka_unit_test(test_full_scans_vs_native),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
