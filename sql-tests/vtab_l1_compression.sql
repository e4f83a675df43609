-- l1_compression through SQL: the codec of the tables written into levels 0 and 1 (flushes and
-- compactions into L1). A SQL table defaults to `auto` (vtopts.h OPT_L1_AUTO): raw L0 and L1 under lz4 (the default compression),
-- the table's own compression otherwise; an explicit value holds whatever compression is; the
-- engine reports the resolved codec in lsm_stats. Rows compacted into a raw L1 read back the
-- same, and a bad or repeated value is a CREATE error that names the option.
CREATE VIRTUAL TABLE d USING lsm(k INTEGER PRIMARY KEY, v);
SELECT json_extract(lsm_stats('d'), '$.engine.compression'), json_extract(lsm_stats('d'), '$.engine.l1_compression');
CREATE VIRTUAL TABLE z USING lsm(k INTEGER PRIMARY KEY, v, compression=zstd);
SELECT json_extract(lsm_stats('z'), '$.engine.compression'), json_extract(lsm_stats('z'), '$.engine.l1_compression');
CREATE VIRTUAL TABLE n USING lsm(k INTEGER PRIMARY KEY, v, compression=none, l1_compression=auto);
SELECT json_extract(lsm_stats('n'), '$.engine.compression'), json_extract(lsm_stats('n'), '$.engine.l1_compression');
CREATE VIRTUAL TABLE l USING lsm(k INTEGER PRIMARY KEY, v, L1_COMPRESSION='LZ4');
SELECT json_extract(lsm_stats('l'), '$.engine.compression'), json_extract(lsm_stats('l'), '$.engine.l1_compression');
CREATE VIRTUAL TABLE r USING lsm(k INTEGER PRIMARY KEY, v, l1_compression=none, compression=zstd);
SELECT json_extract(lsm_stats('r'), '$.engine.compression'), json_extract(lsm_stats('r'), '$.engine.l1_compression');
-- rows through L0 -> L1 compactions (trigger 2: the second flush starts one) and back
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT, l0_compaction_trigger=2, block_size=1024);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
INSERT INTO t SELECT (i * 7919) % 3001, printf('value %d', i) FROM c;
SELECT lsm_flush('t');
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
INSERT OR REPLACE INTO t SELECT (i * 104729) % 3001, printf('second %d', i) FROM c WHERE i % 3 = 0;
SELECT lsm_flush('t');
SELECT count(*), sum(k), sum(length(v)) FROM t;
SELECT k, v FROM t WHERE k BETWEEN 1000 AND 1003;
SELECT lsm_check('t');
-- errors
CREATE VIRTUAL TABLE e1 USING lsm(a, l1_compression=snappy);
CREATE VIRTUAL TABLE e2 USING lsm(a, l1_compression='');
CREATE VIRTUAL TABLE e3 USING lsm(a, l1_compression=none, l1_compression=lz4);
SELECT name FROM sqlite_schema ORDER BY name;
