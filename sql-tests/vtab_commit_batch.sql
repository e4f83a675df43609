-- COMMIT's batch (vtab.c vt_sync; batch.c wb_apply_to_memtable): a transaction's overlay is
-- sorted, so its batch is applied to the memtable in runs without a sort (apply_in_order).
-- Big and small commits, one after a rolled-back and an empty transaction, updates written in
-- random key order: every commit lands whole and nothing carries into the next one.
-- Expected output: the same script on a native WITHOUT ROWID table.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER, v, PRIMARY KEY(k));
SELECT '-- a 10k-row commit';
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10000)
INSERT INTO t SELECT i * 2, printf('v%d', i) FROM c;
COMMIT;
SELECT count(*), sum(k), min(v), max(v) FROM t;
SELECT '-- a 5 MB commit';
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000)
INSERT INTO t SELECT i * 2 + 1, zeroblob(1000) FROM c;
COMMIT;
SELECT count(*), sum(length(v)) FROM t;
SELECT '-- small commit after it: only its own rows';
BEGIN;
UPDATE t SET v = 'u' WHERE k IN (2, 4, 6);
DELETE FROM t WHERE k = 8;
COMMIT;
SELECT k, v FROM t WHERE k <= 10 ORDER BY k;
SELECT count(*) FROM t;
SELECT '-- rolled back, then a transaction that writes nothing, then one row';
BEGIN;
DELETE FROM t WHERE k < 100;
ROLLBACK;
BEGIN;
UPDATE t SET v = 'none' WHERE k = -1;
COMMIT;
INSERT INTO t VALUES(-5, 'neg');
SELECT count(*), min(k) FROM t;
SELECT k, v FROM t WHERE k <= 10 ORDER BY k;
SELECT '-- updates in random key order in one commit';
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
UPDATE t SET v = printf('r%d', k) WHERE k IN (SELECT (i * 7919) % 20000 + 2 FROM c);
COMMIT;
SELECT count(*) FROM t WHERE v LIKE 'r%';
SELECT k, v FROM t WHERE k BETWEEN 7919 * 3 % 20000 AND 7919 * 3 % 20000 + 4 ORDER BY k;
