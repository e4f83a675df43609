/*
** vtopts.c — CREATE VIRTUAL TABLE argument parsing; see vtopts.h.
*/
#include "vtopts.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mm.h"
#include "status.h"

/* A token of an argument: an identifier (bare or quoted; unquoted into buf), a parenthesized
** group, or a single other character. */
typedef struct tok {
  const char *s; /* start in the argument */
  size_t n;      /* length in the argument */
  int kind;      /* 'i' identifier/word, '(' group, 's' string literal, 'o' other char */
} tok;

static const char *skip_ws(const char *p) {
  while (*p && isspace((unsigned char)*p)) p++;
  return p;
}

/* Next token at *pp; 0 at end of text. */
static int next_tok(const char **pp, tok *t) {
  const char *p = skip_ws(*pp);
  if (!*p) return 0;
  t->s = p;
  if (*p == '"' || *p == '`' || *p == '[' || *p == '\'') {
    char close = *p == '[' ? ']' : *p;
    p++;
    for (;;) {
      if (!*p) break; /* unterminated: take the rest */
      if (*p == close) {
        if (close != ']' && p[1] == close) { p += 2; continue; }
        p++;
        break;
      }
      p++;
    }
    t->kind = *t->s == '\'' ? 's' : 'i';
  } else if (*p == '(') {
    int depth = 0;
    do {
      if (*p == '(') depth++;
      else if (*p == ')') depth--;
      p++;
    } while (*p && depth > 0);
    t->kind = '(';
  } else if (isalnum((unsigned char)*p) || *p == '_' || *p == '$' || (unsigned char)*p >= 0x80 ||
             *p == '.' || *p == '+' || *p == '-') {
    while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '$' ||
                  (unsigned char)*p >= 0x80 || *p == '.' || *p == '+' || *p == '-'))
      p++;
    t->kind = 'i';
  } else {
    p++;
    t->kind = 'o';
  }
  t->n = (size_t)(p - t->s);
  *pp = p;
  return 1;
}

static int tok_is(const tok *t, const char *word) {
  return t->kind == 'i' && strlen(word) == t->n && strncasecmp(t->s, word, t->n) == 0;
}

/* Unquoted copy of an identifier or string token (mm-allocated). */
static char *unquote(const char *s, size_t n) {
  char *o = mm_malloc(n + 1);
  if (!o) return NULL;
  if (n >= 2 && (s[0] == '"' || s[0] == '`' || s[0] == '\'' || s[0] == '[')) {
    char close = s[0] == '[' ? ']' : s[0];
    size_t j = 0;
    for (size_t i = 1; i < n; i++) {
      if (s[i] == close) {
        if (close != ']' && i + 1 < n && s[i + 1] == close) { o[j++] = close; i++; continue; }
        break;
      }
      o[j++] = s[i];
    }
    o[j] = 0;
  } else {
    memcpy(o, s, n);
    o[n] = 0;
  }
  return o;
}

int opt_affinity(const char *type) {
  /* SQLite's rules, in order: INT -> INTEGER; CHAR, CLOB, TEXT -> TEXT; BLOB or no type ->
  ** BLOB; REAL, FLOA, DOUB -> REAL; otherwise NUMERIC. Case-insensitive substring matches. */
  if (!type || !*type) return OPT_AFF_BLOB;
  if (strcasestr(type, "INT")) return OPT_AFF_INTEGER;
  if (strcasestr(type, "CHAR") || strcasestr(type, "CLOB") || strcasestr(type, "TEXT"))
    return OPT_AFF_TEXT;
  if (strcasestr(type, "BLOB")) return OPT_AFF_BLOB;
  if (strcasestr(type, "REAL") || strcasestr(type, "FLOA") || strcasestr(type, "DOUB"))
    return OPT_AFF_REAL;
  return OPT_AFF_NUMERIC;
}

int opt_parse_size(const char *s, size_t *out) {
  const char *p = skip_ws(s);
  if (!isdigit((unsigned char)*p)) return LSM_ERROR;
  errno = 0;
  char *e;
  unsigned long long v = strtoull(p, &e, 10);
  if (errno) return LSM_ERROR;
  e = (char *)skip_ws(e);
  unsigned long long mul = 1;
  static const struct { const char *suf; unsigned long long mul; } sufs[] = {
      {"", 1},
      {"b", 1},
      {"k", 1ull << 10}, {"kb", 1ull << 10}, {"kib", 1ull << 10},
      {"m", 1ull << 20}, {"mb", 1ull << 20}, {"mib", 1ull << 20},
      {"g", 1ull << 30}, {"gb", 1ull << 30}, {"gib", 1ull << 30}};
  size_t sl = strlen(e);
  while (sl > 0 && isspace((unsigned char)e[sl - 1])) sl--;
  int found = 0;
  for (size_t i = 0; i < sizeof sufs / sizeof sufs[0]; i++) {
    if (strlen(sufs[i].suf) == sl && strncasecmp(e, sufs[i].suf, sl) == 0) {
      mul = sufs[i].mul;
      found = 1;
      break;
    }
  }
  if (!found || v > SIZE_MAX / mul) return LSM_ERROR;
  *out = (size_t)(v * mul);
  return LSM_OK;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
  const char *p = skip_ws(s);
  char *e;
  errno = 0;
  long v = strtol(p, &e, 10);
  if (e == p || errno || *skip_ws(e) || v < lo || v > hi) return LSM_ERROR;
  *out = (int)v;
  return LSM_OK;
}

static int set_option(opt_table *t, const char *name, const char *val) {
  static const char *const names[] = {"dir",         "memtable_size",     "cache_size",
                                      "block_size",  "compression",       "compression_level",
                                      "bloom_bits",  "sync",              "io",
                                      "max_open_files", "l0_compaction_trigger", "mmap_reads",
                                      "l1_compression", "direct_io",       "io_poll_us",
                                      "max_txn_size"};
  lsm_options *o = &t->lo;
  size_t sz;
  /* An option given twice is ambiguous (which one holds?): refuse it. */
  for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcasecmp(name, names[i])) continue;
    if (t->seen & (1u << i)) return st_err(LSM_ERROR, "lsm: option %s given twice", names[i]);
    t->seen |= 1u << i;
  }
  if (!strcasecmp(name, "dir")) {
    if (!*val) return st_err(LSM_ERROR, "lsm: bad value for option dir: empty");
    mm_free(t->dir);
    t->dir = mm_strdup(val);
    return t->dir ? LSM_OK : st_err(LSM_NOMEM, "out of memory");
  }
  if (!strcasecmp(name, "memtable_size") || !strcasecmp(name, "cache_size") ||
      !strcasecmp(name, "block_size")) {
    if (opt_parse_size(val, &sz))
      return st_err(LSM_ERROR, "lsm: bad value for option %s: '%s' (expected a size such as 64MB)",
                    name, val);
    if (!strcasecmp(name, "memtable_size")) o->memtable_size = sz;
    else if (!strcasecmp(name, "cache_size")) o->cache_size = sz;
    else o->block_size = sz;
    return LSM_OK;
  }
  if (!strcasecmp(name, "max_txn_size")) {
    if (opt_parse_size(val, &sz) || sz < OPT_MAX_TXN_SIZE_MIN || sz > OPT_MAX_TXN_SIZE_MAX)
      return st_err(LSM_ERROR,
                    "lsm: bad value for option max_txn_size: '%s' (a size from 64KB to 4GB)", val);
    t->max_txn_size = sz;
    return LSM_OK;
  }
  if (!strcasecmp(name, "compression")) {
    if (!strcasecmp(val, "zstd")) o->compression = LSM_COMPRESS_ZSTD;
    else if (!strcasecmp(val, "lz4")) o->compression = LSM_COMPRESS_LZ4;
    else if (!strcasecmp(val, "none")) o->compression = LSM_COMPRESS_NONE;
    else return st_err(LSM_ERROR, "lsm: bad value for option compression: '%s' (zstd, lz4 or none)", val);
    return LSM_OK;
  }
  if (!strcasecmp(name, "l1_compression")) {
    if (!strcasecmp(val, "zstd")) o->l1_compression = LSM_COMPRESS_ZSTD;
    else if (!strcasecmp(val, "lz4")) o->l1_compression = LSM_COMPRESS_LZ4;
    else if (!strcasecmp(val, "none")) o->l1_compression = LSM_COMPRESS_NONE;
    else if (!strcasecmp(val, "auto")) o->l1_compression = OPT_L1_AUTO;
    else
      return st_err(LSM_ERROR, "lsm: bad value for option l1_compression: '%s' (auto, zstd, lz4 or none)",
                    val);
    return LSM_OK;
  }
  /* integer options: name, field, range (l0_compaction_trigger at most the engine's default
  ** l0_slowdown_trigger, 20, which must not be below it) */
  static const struct {
    const char *name;
    size_t off;
    int lo, hi;
  } ints[] = {
      {"compression_level", offsetof(lsm_options, compression_level), 1, 22},
      {"bloom_bits", offsetof(lsm_options, bloom_bits), 0, 32},
      {"max_open_files", offsetof(lsm_options, max_open_files), 16, 1000000},
      {"l0_compaction_trigger", offsetof(lsm_options, l0_compaction_trigger), 2, 20},
      {"mmap_reads", offsetof(lsm_options, mmap_reads), 0, 1},
      {"direct_io", offsetof(lsm_options, direct_io), 0, 1},
      {"io_poll_us", offsetof(lsm_options, io_poll_us), 0, 100000},
  };
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
    if (strcasecmp(name, ints[i].name)) continue;
    if (!parse_int(val, ints[i].lo, ints[i].hi, (int *)((char *)o + ints[i].off))) return LSM_OK;
    if (ints[i].lo == 0 && ints[i].hi == 1)
      return st_err(LSM_ERROR, "lsm: bad value for option %s: '%s' (0 or 1)", ints[i].name, val);
    return st_err(LSM_ERROR, "lsm: bad value for option %s: '%s' (%d..%d)", ints[i].name, val,
                  ints[i].lo, ints[i].hi);
  }
  if (!strcasecmp(name, "sync")) {
    if (!strcasecmp(val, "full")) o->sync = LSM_SYNC_FULL;
    else if (!strcasecmp(val, "normal")) o->sync = LSM_SYNC_NORMAL;
    else if (!strcasecmp(val, "off")) o->sync = LSM_SYNC_OFF;
    else return st_err(LSM_ERROR, "lsm: bad value for option sync: '%s' (full, normal or off)", val);
    return LSM_OK;
  }
  if (!strcasecmp(name, "io")) {
    if (!strcasecmp(val, "uring")) o->io = LSM_IO_URING;
    else if (!strcasecmp(val, "sync")) o->io = LSM_IO_SYNC;
    else if (!strcasecmp(val, "auto")) o->io = LSM_IO_AUTO;
    else return st_err(LSM_ERROR, "lsm: bad value for option io: '%s' (uring, sync or auto)", val);
    return LSM_OK;
  }
  return st_err(LSM_ERROR, "lsm: unknown option '%s'", name);
}

static int find_col(const opt_table *t, const char *name) {
  for (int i = 0; i < t->ncol; i++)
    if (!strcasecmp(t->cols[i].name, name)) return i;
  return -1;
}

static int add_key(opt_table *t, int col) {
  if (t->cols[col].keypos >= 0)
    return st_err(LSM_ERROR, "lsm: column %s appears twice in the PRIMARY KEY", t->cols[col].name);
  int *k = mm_realloc(t->key, (size_t)(t->nkey + 1) * sizeof *k);
  if (!k) return st_err(LSM_NOMEM, "out of memory");
  t->key = k;
  t->cols[col].keypos = t->nkey;
  t->cols[col].notnull = 1;
  t->key[t->nkey++] = col;
  return LSM_OK;
}

/* PRIMARY KEY ( a [ASC|DESC], ... ) — p is after "PRIMARY KEY". Names are resolved later. */
static int parse_pk_list(const char *p, char ***names, int *n) {
  tok t;
  if (!next_tok(&p, &t) || t.kind != '(')
    return st_err(LSM_ERROR, "lsm: expected a column list after PRIMARY KEY");
  if (next_tok(&p, &(tok){0})) return st_err(LSM_ERROR, "lsm: unexpected text after PRIMARY KEY(...)");
  const char *q = t.s + 1;
  const char *end = t.s + t.n - 1; /* the closing ')' */
  for (;;) {
    tok c;
    if (!next_tok(&q, &c) || c.s >= end) break;
    if (c.kind != 'i') return st_err(LSM_ERROR, "lsm: bad PRIMARY KEY column list");
    char **nn = mm_realloc(*names, (size_t)(*n + 1) * sizeof *nn);
    if (!nn) return st_err(LSM_NOMEM, "out of memory");
    *names = nn;
    if (!(nn[*n] = unquote(c.s, c.n))) return st_err(LSM_NOMEM, "out of memory");
    (*n)++;
    /* optional ASC/DESC (order of storage is irrelevant to results), then ',' */
    tok d = {0};
    if (!next_tok(&q, &d)) break;
    if (d.s < end && (tok_is(&d, "ASC") || tok_is(&d, "DESC")))
      if (!next_tok(&q, &d)) break;
    if (d.s >= end) break;
    if (!(d.kind == 'o' && *d.s == ',')) return st_err(LSM_ERROR, "lsm: bad PRIMARY KEY column list");
  }
  if (*n == 0) return st_err(LSM_ERROR, "lsm: empty PRIMARY KEY");
  return LSM_OK;
}

static int parse_column(opt_table *t, const char *arg, int *inline_pk) {
  const char *p = arg;
  tok nm;
  next_tok(&p, &nm);
  if (nm.kind != 'i') return st_err(LSM_ERROR, "lsm: bad column definition: %s", arg);
  opt_col *cols = mm_realloc(t->cols, (size_t)(t->ncol + 1) * sizeof *cols);
  if (!cols) return st_err(LSM_NOMEM, "out of memory");
  t->cols = cols;
  opt_col *c = &cols[t->ncol];
  memset(c, 0, sizeof *c);
  c->keypos = -1;
  t->ncol++;
  if (!(c->name = unquote(nm.s, nm.n))) return st_err(LSM_NOMEM, "out of memory");
  if (!strcasecmp(c->name, "_lsm_key") || !strcasecmp(c->name, "rowid") ||
      !strcasecmp(c->name, "oid") || !strcasecmp(c->name, "_rowid_"))
    return st_err(LSM_ERROR, "lsm: column name %s is reserved", c->name);
  /* the type: every token up to the first constraint keyword */
  static const char *const kw[] = {"CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK",
                                   "DEFAULT", "COLLATE", "REFERENCES", "GENERATED", "AS", "HIDDEN"};
  const char *ts = skip_ws(p), *te = ts;
  tok k;
  for (;;) {
    const char *save = p;
    if (!next_tok(&p, &k)) break;
    int iskw = 0;
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) iskw |= tok_is(&k, kw[i]);
    if (iskw) { p = save; break; }
    te = p;
  }
  if (!(c->type = unquote(ts, (size_t)(te - ts)))) return st_err(LSM_NOMEM, "out of memory");
  c->aff = opt_affinity(c->type);
  while (next_tok(&p, &k)) {
    if (tok_is(&k, "NOT")) {
      if (!next_tok(&p, &k) || !tok_is(&k, "NULL"))
        return st_err(LSM_ERROR, "lsm: column %s: expected NULL after NOT", c->name);
      c->notnull = 1;
    } else if (tok_is(&k, "NULL")) {
      /* explicit NULL: allowed, nothing to do */
    } else if (tok_is(&k, "PRIMARY")) {
      if (!next_tok(&p, &k) || !tok_is(&k, "KEY"))
        return st_err(LSM_ERROR, "lsm: column %s: expected KEY after PRIMARY", c->name);
      const char *save = p;
      if (next_tok(&p, &k) && !(tok_is(&k, "ASC") || tok_is(&k, "DESC"))) p = save;
      if (*inline_pk) return st_err(LSM_ERROR, "lsm: more than one PRIMARY KEY");
      *inline_pk = 1;
      int rc = add_key(t, t->ncol - 1);
      if (rc) return rc;
    } else if (tok_is(&k, "COLLATE")) {
      if (!next_tok(&p, &k) || k.kind != 'i')
        return st_err(LSM_ERROR, "lsm: column %s: expected a collation name", c->name);
      mm_free(c->collate);
      if (!(c->collate = unquote(k.s, k.n))) return st_err(LSM_NOMEM, "out of memory");
    } else {
      return st_err(LSM_ERROR, "lsm: column %s: unsupported constraint '%.*s'", c->name,
                    (int)k.n, k.s);
    }
  }
  return LSM_OK;
}

int opt_parse(int argc, const char *const *argv, opt_table *t) {
  memset(t, 0, sizeof *t);
  lsm_options_default(&t->lo);
  t->lo.block_size = OPT_BLOCK_SIZE;
  t->lo.l0_compaction_trigger = OPT_L0_COMPACTION_TRIGGER;
  t->lo.mmap_reads = OPT_MMAP_READS;
  t->lo.l1_compression = OPT_L1_AUTO;
  t->max_txn_size = OPT_MAX_TXN_SIZE;
  char **pk = NULL;
  int npk = 0, inline_pk = 0, rc = LSM_OK;
  for (int a = 0; a < argc && !rc; a++) {
    const char *arg = argv[a], *p = arg;
    tok t1, t2;
    if (!next_tok(&p, &t1)) {
      rc = st_err(LSM_ERROR, "lsm: empty argument");
      break;
    }
    const char *after1 = p;
    if (t1.kind == 'i' && next_tok(&p, &t2) && t2.kind == 'o' && *t2.s == '=') {
      char *name = unquote(t1.s, t1.n);
      const char *v = skip_ws(p);
      size_t vn = strlen(v);
      while (vn > 0 && isspace((unsigned char)v[vn - 1])) vn--;
      char *val = unquote(v, vn);
      if (!name || !val) rc = st_err(LSM_NOMEM, "out of memory");
      else rc = set_option(t, name, val);
      mm_free(name);
      mm_free(val);
      continue;
    }
    p = after1;
    if (tok_is(&t1, "PRIMARY")) {
      if (!next_tok(&p, &t2) || !tok_is(&t2, "KEY")) {
        rc = st_err(LSM_ERROR, "lsm: expected KEY after PRIMARY");
        break;
      }
      if (pk || inline_pk) {
        rc = st_err(LSM_ERROR, "lsm: more than one PRIMARY KEY");
        break;
      }
      rc = parse_pk_list(p, &pk, &npk);
      if (!rc && !pk) rc = st_err(LSM_ERROR, "lsm: empty PRIMARY KEY");
      continue;
    }
    if (tok_is(&t1, "UNIQUE") || tok_is(&t1, "CHECK") || tok_is(&t1, "FOREIGN") ||
        tok_is(&t1, "CONSTRAINT")) {
      rc = st_err(LSM_ERROR, "lsm: table constraint not supported: %s", arg);
      break;
    }
    rc = parse_column(t, arg, &inline_pk);
  }
  for (int i = 0; !rc && i < t->ncol; i++)
    for (int j = 0; j < i; j++)
      if (!strcasecmp(t->cols[i].name, t->cols[j].name)) {
        rc = st_err(LSM_ERROR, "lsm: duplicate column name: %s", t->cols[i].name);
        break;
      }
  if (!rc && t->ncol == 0) rc = st_err(LSM_ERROR, "lsm: no columns");
  for (int i = 0; !rc && i < npk; i++) {
    int c = find_col(t, pk[i]);
    if (c < 0) rc = st_err(LSM_ERROR, "lsm: PRIMARY KEY column %s does not exist", pk[i]);
    else rc = add_key(t, c);
  }
  for (int i = 0; !rc && i < t->nkey; i++) {
    const opt_col *c = &t->cols[t->key[i]];
    if (c->collate && strcasecmp(c->collate, "BINARY"))
      rc = st_err(LSM_ERROR, "lsm: key column %s: only BINARY collation is supported", c->name);
  }
  if (t->lo.l1_compression == OPT_L1_AUTO) /* after every option: compression may come later */
    t->lo.l1_compression = t->lo.compression == LSM_COMPRESS_LZ4 ? LSM_COMPRESS_NONE : LSM_COMPRESS_SAME;
  if (!rc && lsm_options_validate(&t->lo) != LSM_OK) {
    char msg[256]; /* the engine's message lives in the buffer st_err writes to */
    snprintf(msg, sizeof msg, "%s", lsm_errmsg());
    rc = st_err(LSM_ERROR, "lsm: %s", msg);
  }
  for (int i = 0; i < npk; i++) mm_free(pk[i]);
  mm_free(pk);
  if (rc) opt_free(t);
  return rc;
}

void opt_free(opt_table *t) {
  for (int i = 0; i < t->ncol; i++) {
    mm_free(t->cols[i].name);
    mm_free(t->cols[i].type);
    mm_free(t->cols[i].collate);
  }
  mm_free(t->cols);
  mm_free(t->key);
  mm_free(t->dir);
  memset(t, 0, sizeof *t);
}
