-- mmap_reads: block-cache misses of point reads come from a read-only mapping of the table
-- files (engine lsm.h). On by default for SQL tables (ext/vtopts.h OPT_MMAP_READS); lsm_stats
-- shows the value in use (q: the default). The same rows and answers either way: point SELECTs, IN lists, UPDATE and
-- DELETE by key over rows in a lower level, in L0 and in the memtable; a bad value or one given
-- twice is a CREATE error that names the option.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v, memtable_size='64KB', cache_size='64KB', mmap_reads=1);
CREATE VIRTUAL TABLE q USING lsm(k INTEGER PRIMARY KEY, v);
CREATE VIRTUAL TABLE p USING lsm(k INTEGER PRIMARY KEY, v, memtable_size='64KB', cache_size='64KB', mmap_reads=0);
SELECT json_extract(lsm_stats('t'), '$.engine.mmap_reads'), json_extract(lsm_stats('p'), '$.engine.mmap_reads'),
       json_extract(lsm_stats('q'), '$.engine.mmap_reads');
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
INSERT INTO t SELECT i, printf('%050d', i * 7) FROM c;
INSERT INTO p SELECT k, v FROM t;
SELECT lsm_flush('t'), lsm_compact('t'), lsm_flush('p'), lsm_compact('p');
UPDATE t SET v = v || 'x' WHERE k % 5 = 0;
UPDATE p SET v = v || 'x' WHERE k % 5 = 0;
SELECT lsm_flush('t'), lsm_flush('p');
DELETE FROM t WHERE k % 7 = 0;
DELETE FROM p WHERE k % 7 = 0;
INSERT INTO t VALUES (30000, 'mem');
INSERT INTO p VALUES (30000, 'mem');
SELECT k, v FROM t WHERE k IN (1, 5, 7, 35, 19999, 20000, 20001, 30000) ORDER BY k;
SELECT (SELECT v FROM t WHERE k = 35), (SELECT v FROM t WHERE k = 10), (SELECT v FROM t WHERE k = 11),
       (SELECT v FROM t WHERE k = 30000);
UPDATE t SET v = 'u' WHERE k = 11;
SELECT changes();
UPDATE t SET v = 'u' WHERE k = 14;
SELECT changes();
SELECT count(*), sum(length(v)) FROM t;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
SELECT sum((SELECT v FROM t WHERE k = i) IS NOT (SELECT v FROM p WHERE k = i)) FROM c;
UPDATE p SET v = 'u' WHERE k = 11;
SELECT count(*) FROM (SELECT k, v FROM t EXCEPT SELECT k, v FROM p);
-- errors
CREATE VIRTUAL TABLE e1 USING lsm(a, mmap_reads=2);
CREATE VIRTUAL TABLE e2 USING lsm(a, mmap_reads=yes);
CREATE VIRTUAL TABLE e3 USING lsm(a, mmap_reads=0, MMAP_READS=1);
SELECT name FROM sqlite_schema ORDER BY name;
