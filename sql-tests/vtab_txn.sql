-- Transactions: own writes visible before COMMIT, ROLLBACK discards, SAVEPOINT / RELEASE /
-- ROLLBACK TO (nested), statement rollback inside a transaction, and rowid tables.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v);
INSERT INTO t VALUES (1, 'one'), (2, 'two');
BEGIN;
INSERT INTO t VALUES (3, 'three');
UPDATE t SET v = 'TWO' WHERE k = 2;
DELETE FROM t WHERE k = 1;
SELECT 'in txn', group_concat(k || v) FROM t;
SELECT 'in txn desc', group_concat(k || v) FROM (SELECT * FROM t ORDER BY k DESC);
SELECT 'in txn point', v FROM t WHERE k = 3;
SELECT 'in txn deleted', count(*) FROM t WHERE k = 1;
SELECT 'in txn in', group_concat(v) FROM t WHERE k IN (1, 2, 3);
ROLLBACK;
SELECT 'after rollback', group_concat(k || v) FROM t;
BEGIN;
INSERT INTO t VALUES (3, 'three');
DELETE FROM t WHERE k = 1;
COMMIT;
SELECT 'after commit', group_concat(k || v) FROM t;
.print -- savepoints
BEGIN;
INSERT INTO t VALUES (10, 'a');
SAVEPOINT s1;
INSERT INTO t VALUES (11, 'b');
UPDATE t SET v = 'A' WHERE k = 10;
SAVEPOINT s2;
DELETE FROM t WHERE k = 2;
INSERT INTO t VALUES (12, 'c');
SELECT 's2', group_concat(k || v) FROM t;
ROLLBACK TO s2;
SELECT 'rolled back to s2', group_concat(k || v) FROM t;
INSERT INTO t VALUES (13, 'd');
RELEASE s2;
SELECT 'released s2', group_concat(k || v) FROM t;
ROLLBACK TO s1;
SELECT 'rolled back to s1', group_concat(k || v) FROM t;
UPDATE t SET v = 'AA' WHERE k = 10;
RELEASE s1;
COMMIT;
SELECT 'committed', group_concat(k || v) FROM t;
.print -- savepoint outside BEGIN acts as a transaction
SAVEPOINT outer_sp;
INSERT INTO t VALUES (20, 'x');
SAVEPOINT inner_sp;
INSERT INTO t VALUES (21, 'y');
ROLLBACK TO inner_sp;
RELEASE outer_sp;
SELECT 'outer released', group_concat(k || v) FROM t;
.print -- a failing statement in a transaction is undone alone; the transaction continues
BEGIN;
INSERT INTO t VALUES (30, 'p');
INSERT INTO t VALUES (31, 'q'), (32, 'r'), (2, 'dup'), (33, 's');
UPDATE t SET k = k + 1 WHERE k >= 30;
SELECT 'after failed statements', group_concat(k || v) FROM t;
COMMIT;
SELECT 'committed', group_concat(k || v) FROM t;
.print -- a big transaction with a rollback in the middle
BEGIN;
WITH RECURSIVE i(x) AS (SELECT 1000 UNION ALL SELECT x + 1 FROM i WHERE x < 5999)
INSERT INTO t SELECT x, 'bulk' || x FROM i;
SAVEPOINT sp;
DELETE FROM t WHERE k BETWEEN 2000 AND 2999;
UPDATE t SET v = 'changed' WHERE k BETWEEN 3000 AND 3099;
SELECT count(*), sum(v = 'changed') FROM t WHERE k >= 1000;
ROLLBACK TO sp;
SELECT count(*), sum(v = 'changed') FROM t WHERE k >= 1000;
COMMIT;
SELECT count(*), min(k), max(k) FROM t WHERE k >= 1000;
.print -- rowid table: rowids assigned like SQLite (max + 1), also after rollback
CREATE VIRTUAL TABLE r USING lsm(v);
INSERT INTO r VALUES ('a'), ('b');
SELECT last_insert_rowid();
BEGIN;
INSERT INTO r VALUES ('c');
ROLLBACK;
INSERT INTO r VALUES ('d');
INSERT INTO r(rowid, v) VALUES (100, 'e');
INSERT INTO r VALUES ('f');
UPDATE r SET rowid = 50 WHERE v = 'a';
DELETE FROM r WHERE rowid = 2;
SELECT rowid, v FROM r;
SELECT rowid, v FROM r WHERE rowid = 101;
SELECT rowid, v FROM r WHERE rowid > 3 ORDER BY rowid DESC;
