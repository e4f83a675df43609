-- max_open_files: the table cache's limit (engine/version.h "Table cache") through SQL. A valid
-- value reaches the engine (lsm_stats shows it, and the tables open stay within it while rows
-- are written and read); a value out of range, malformed or given twice is a CREATE error that
-- names the option.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v, memtable_size='64KB', max_open_files=16);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
INSERT INTO t SELECT i, printf('%050d', i * 7) FROM c;
SELECT lsm_flush('t'), lsm_compact('t');
SELECT count(*), sum(k), min(v), max(v) FROM t;
SELECT count(*) FROM t WHERE k IN (1, 777, 5000, 19999, 20001);
SELECT json_extract(lsm_stats('t'), '$.engine.max_open_files'),
       json_extract(lsm_stats('t'), '$.engine.open_tables') BETWEEN 1 AND 16,
       json_extract(lsm_stats('t'), '$.engine.table_opens') >= 1;
CREATE VIRTUAL TABLE d USING lsm(a);
SELECT json_extract(lsm_stats('d'), '$.engine.max_open_files');
-- errors
CREATE VIRTUAL TABLE e1 USING lsm(a, max_open_files=15);
CREATE VIRTUAL TABLE e2 USING lsm(a, max_open_files=1000001);
CREATE VIRTUAL TABLE e3 USING lsm(a, max_open_files=many);
CREATE VIRTUAL TABLE e4 USING lsm(a, max_open_files='');
CREATE VIRTUAL TABLE e5 USING lsm(a, max_open_files=16, MAX_OPEN_FILES=32);
SELECT name FROM sqlite_schema ORDER BY name;
