-- Duplicate keys: SQLITE_CONSTRAINT_PRIMARYKEY with the native message, and every ON CONFLICT
-- mode for INSERT and UPDATE (also of key columns), each compared with a native twin.
CREATE VIRTUAL TABLE t USING lsm(a, b, v, PRIMARY KEY(a, b));
CREATE TABLE n(a, b, v, PRIMARY KEY(a, b)) WITHOUT ROWID;
INSERT INTO t VALUES (1, 1, 'x'), (1, 2, 'y'), (2, 1, 'z');
INSERT INTO n VALUES (1, 1, 'x'), (1, 2, 'y'), (2, 1, 'z');
.print -- plain duplicate (ABORT)
INSERT INTO t VALUES (1, 1, 'dup');
INSERT INTO n VALUES (1, 1, 'dup');
.print -- ABORT: a multi-row statement failing half-way leaves nothing behind
INSERT INTO t VALUES (3, 3, 'new'), (1, 2, 'dup');
INSERT INTO n VALUES (3, 3, 'new'), (1, 2, 'dup');
SELECT 'same', (SELECT group_concat(a||b||v) FROM t) IS (SELECT group_concat(a||b||v) FROM n), (SELECT group_concat(a||b||v) FROM t);
.print -- FAIL: rows before the failing one stay
INSERT OR FAIL INTO t VALUES (4, 4, 'kept'), (1, 2, 'dup'), (5, 5, 'never');
INSERT OR FAIL INTO n VALUES (4, 4, 'kept'), (1, 2, 'dup'), (5, 5, 'never');
SELECT 'same', (SELECT group_concat(a||b||v) FROM t) IS (SELECT group_concat(a||b||v) FROM n), (SELECT group_concat(a||b||v) FROM t);
.print -- IGNORE: the conflicting row is skipped, the rest inserted
INSERT OR IGNORE INTO t VALUES (6, 6, 'six'), (1, 2, 'dup'), (7, 7, 'seven');
INSERT OR IGNORE INTO n VALUES (6, 6, 'six'), (1, 2, 'dup'), (7, 7, 'seven');
SELECT 'same', (SELECT group_concat(a||b||v) FROM t) IS (SELECT group_concat(a||b||v) FROM n), (SELECT group_concat(a||b||v) FROM t);
.print -- REPLACE: the old row is replaced
INSERT OR REPLACE INTO t VALUES (1, 2, 'replaced');
INSERT OR REPLACE INTO n VALUES (1, 2, 'replaced');
REPLACE INTO t VALUES (2, 1, 'replaced2');
REPLACE INTO n VALUES (2, 1, 'replaced2');
SELECT 'same', (SELECT group_concat(a||b||v) FROM t) IS (SELECT group_concat(a||b||v) FROM n), (SELECT group_concat(a||b||v) FROM t);
.print -- ROLLBACK: the whole transaction goes
BEGIN;
INSERT INTO t VALUES (8, 8, 'in txn');
INSERT OR ROLLBACK INTO t VALUES (1, 1, 'dup');
COMMIT;
SELECT count(*) FROM t WHERE a = 8;
.print -- UPDATE of key columns onto an existing key: ABORT, IGNORE, REPLACE, FAIL
UPDATE t SET b = 1 WHERE a = 1 AND b = 2;
UPDATE n SET b = 1 WHERE a = 1 AND b = 2;
UPDATE OR IGNORE t SET b = 1 WHERE a = 1 AND b = 2;
UPDATE OR IGNORE n SET b = 1 WHERE a = 1 AND b = 2;
SELECT 'same', (SELECT group_concat(a||b||v) FROM t) IS (SELECT group_concat(a||b||v) FROM n), (SELECT group_concat(a||b||v) FROM t);
UPDATE OR REPLACE t SET b = 1 WHERE a = 1 AND b = 2;
UPDATE OR REPLACE n SET b = 1 WHERE a = 1 AND b = 2;
SELECT 'same', (SELECT group_concat(a||b||v) FROM t) IS (SELECT group_concat(a||b||v) FROM n), (SELECT group_concat(a||b||v) FROM t);
UPDATE OR FAIL t SET a = 9 WHERE a >= 4;
UPDATE OR FAIL n SET a = 9 WHERE a >= 4;
UPDATE OR FAIL t SET b = 1 WHERE a = 9;
UPDATE OR FAIL n SET b = 1 WHERE a = 9;
UPDATE t SET b = 2 WHERE a = 9;
UPDATE n SET b = 2 WHERE a = 9;
SELECT 'same', (SELECT group_concat(a||b||v) FROM t) IS (SELECT group_concat(a||b||v) FROM n), (SELECT group_concat(a||b||v) FROM t);
.print -- key change without conflict, to a key ahead of the scan (no row visited twice)
UPDATE t SET a = a + 100;
UPDATE n SET a = a + 100;
SELECT 'same', (SELECT group_concat(a||b||v) FROM t) IS (SELECT group_concat(a||b||v) FROM n), (SELECT group_concat(a||b||v) FROM t);
.print -- rowid tables
CREATE VIRTUAL TABLE r USING lsm(v);
CREATE TABLE rn(v);
INSERT INTO r(rowid, v) VALUES (5, 'five');
INSERT INTO r(rowid, v) VALUES (5, 'again');
INSERT INTO rn(rowid, v) VALUES (5, 'five');
INSERT INTO rn(rowid, v) VALUES (5, 'again');
INSERT OR REPLACE INTO r(rowid, v) VALUES (5, 'replaced');
SELECT rowid, v FROM r;
