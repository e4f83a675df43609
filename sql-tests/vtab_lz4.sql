-- compression=lz4: rows written to lz4 tables (flushed, then compacted) read back the same by
-- point reads, forward and reverse range scans, and a full scan; lsm_check verifies every block.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT, compression=lz4, block_size=1024);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO t SELECT i, printf('value %d %s', i, substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 20)) FROM n;
SELECT lsm_flush('t');
UPDATE t SET v = 'new ' || v WHERE k % 7 = 0;
DELETE FROM t WHERE k % 11 = 0;
SELECT lsm_flush('t');
SELECT count(*), sum(k), sum(length(v)) FROM t;
SELECT k, v FROM t WHERE k >= 2300 ORDER BY k LIMIT 4;
SELECT k, v FROM t WHERE k < 4405 ORDER BY k DESC LIMIT 3;
SELECT v FROM t WHERE k = 4998;
SELECT lsm_compact('t');
SELECT count(*), sum(k), sum(length(v)) FROM t;
SELECT k, v FROM t WHERE k BETWEEN 1540 AND 1543;
SELECT lsm_check('t');
