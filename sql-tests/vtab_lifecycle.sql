-- Lifecycle: ALTER TABLE RENAME keeps the data (the default directory moves with the name),
-- DROP TABLE removes the files (re-creating the name gives an empty table), tables in TEMP and
-- attached in-memory databases (temporary directories), and an explicit dir option.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v);
INSERT INTO t VALUES (1, 'a'), (2, 'b');
ALTER TABLE t RENAME TO u;
SELECT * FROM u;
SELECT json_extract(lsm_stats('u'), '$.dir') LIKE '%test.db-lsm/u';
INSERT INTO u VALUES (3, 'c');
SELECT group_concat(k || v) FROM u;
SELECT lsm_flush('u');
ALTER TABLE u RENAME TO "w x";
SELECT group_concat(k || v) FROM "w x";
SELECT * FROM t;
.print -- drop and re-create
DROP TABLE "w x";
CREATE VIRTUAL TABLE "w x" USING lsm(k INTEGER PRIMARY KEY, v);
SELECT count(*) FROM "w x";
DROP TABLE "w x";
.print -- a CREATE rolled back leaves an empty directory, which a new CREATE reuses
BEGIN;
CREATE VIRTUAL TABLE rb USING lsm(k PRIMARY KEY);
ROLLBACK;
CREATE VIRTUAL TABLE rb USING lsm(k PRIMARY KEY);
SELECT count(*) FROM rb;
.print -- a table created over a leftover default directory holding rows is refused
CREATE VIRTUAL TABLE x1 USING lsm(k PRIMARY KEY, dir='test.db-lsm/leftover');
INSERT INTO x1 VALUES (1);
CREATE VIRTUAL TABLE leftover USING lsm(k PRIMARY KEY);
.print -- two tables naming one directory share its engine and data
CREATE VIRTUAL TABLE x2 USING lsm(k PRIMARY KEY, dir='test.db-lsm/leftover');
SELECT 'shared engine', count(*) FROM x2;
.print -- an explicit dir keeps working after a rename
CREATE VIRTUAL TABLE d USING lsm(k PRIMARY KEY, dir='data/d1');
INSERT INTO d VALUES ('x');
ALTER TABLE d RENAME TO d2;
SELECT k, json_extract(lsm_stats('d2'), '$.dir') LIKE '%data/d1' FROM d2;
.print -- temp and in-memory databases
CREATE VIRTUAL TABLE temp.tt USING lsm(k INTEGER PRIMARY KEY, v);
INSERT INTO tt VALUES (1, 'temp');
SELECT * FROM temp.tt;
ATTACH ':memory:' AS mem;
CREATE VIRTUAL TABLE mem.m USING lsm(a, b, PRIMARY KEY(b, a));
INSERT INTO mem.m VALUES (1, 2), (3, 1);
SELECT * FROM mem.m;
ALTER TABLE mem.m RENAME TO m2;
SELECT * FROM mem.m2 WHERE b = 2;
SELECT lsm_flush('mem.m2');
DROP TABLE mem.m2;
CREATE VIRTUAL TABLE mem.m2 USING lsm(a, b, PRIMARY KEY(b, a));
SELECT count(*) FROM mem.m2;
DETACH mem;
SELECT * FROM sqlite_temp_schema;
