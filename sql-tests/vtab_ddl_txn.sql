-- DDL inside transactions: a DROP is undone by ROLLBACK and ROLLBACK TO (the files are kept,
-- marked DROPPED, until the DROP is known to have committed); a CREATE of the dropped name in
-- the same transaction and a RENAME inside a transaction are refused with a message; once the
-- DROP commits, re-creating the name gives an empty table.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v);
INSERT INTO t VALUES (1, 'a'), (2, 'b');
SELECT lsm_flush('t');
INSERT INTO t VALUES (3, 'c');
BEGIN;
DROP TABLE t;
SELECT count(*) FROM sqlite_schema WHERE name = 't';
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v);
ROLLBACK;
SELECT group_concat(k || v) FROM t;
.print -- savepoint
SAVEPOINT s;
DROP TABLE t;
ROLLBACK TO s;
RELEASE s;
INSERT INTO t VALUES (4, 'd');
SELECT group_concat(k || v) FROM t;
.print -- rename inside a transaction
BEGIN;
ALTER TABLE t RENAME TO u;
ROLLBACK;
SELECT group_concat(k || v) FROM t;
.print -- committed, then created again: empty
BEGIN;
DROP TABLE t;
COMMIT;
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v);
SELECT count(*) FROM t;
DROP TABLE t;
