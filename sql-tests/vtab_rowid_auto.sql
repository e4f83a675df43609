-- Automatic rowids match a native rowid table: 1 in an empty table, max + 1 otherwise,
-- also when the maximum is negative and lives only in the open transaction (bug 12).
CREATE VIRTUAL TABLE t USING lsm(v);
CREATE TABLE n(v);
BEGIN;
INSERT INTO t(rowid, v) VALUES(-1, 'a');
INSERT INTO n(rowid, v) VALUES(-1, 'a');
INSERT INTO t(v) VALUES('b');
INSERT INTO n(v) VALUES('b');
SELECT 'lsm', rowid, v FROM t;
SELECT 'native', rowid, v FROM n;
COMMIT;
CREATE VIRTUAL TABLE e USING lsm(v);
INSERT INTO e(v) VALUES('first');
SELECT 'empty', rowid, v FROM e;
CREATE VIRTUAL TABLE m USING lsm(v);
INSERT INTO m(rowid, v) VALUES(-5, 'a');
BEGIN; INSERT INTO m(v) VALUES('b'); SELECT 'committed max', rowid, v FROM m; COMMIT;
