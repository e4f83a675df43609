-- SQL functions: lsm_version, lsm_stats (JSON), lsm_flush, lsm_compact, lsm_check, and their
-- errors for a missing table or a table that is not an lsm table.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v, io=sync);
CREATE TABLE plain(x);
WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 2000)
INSERT INTO t SELECT x, printf('%050d', x) FROM i;
SELECT typeof(lsm_version()), lsm_version() = (SELECT lsm_version());
SELECT json_valid(lsm_stats('t'));
SELECT json_extract(lsm_stats('t'), '$.table'), json_extract(lsm_stats('t'), '$.key'),
  json_extract(lsm_stats('t'), '$.engine.io_backend'),
  json_type(lsm_stats('t'), '$.engine.levels'), json_type(lsm_stats('t'), '$.engine.write_amp');
SELECT lsm_flush('t');
SELECT json_extract(lsm_stats('t'), '$.engine.flushes') >= 1,
  (SELECT sum(value ->> 'files') FROM json_each(lsm_stats('t'), '$.engine.levels')) >= 1;
SELECT count(*), sum(k), min(v), max(v) FROM t;
SELECT v FROM t WHERE k = 1234;
UPDATE t SET v = 'updated' WHERE k % 100 = 0;
DELETE FROM t WHERE k % 100 = 1;
SELECT lsm_flush('t');
SELECT lsm_compact('t');
SELECT lsm_check('t');
SELECT count(*), sum(v = 'updated') FROM t;
SELECT v FROM t WHERE k = 1200;
-- pending writes of an open transaction show in lsm_stats
BEGIN;
INSERT INTO t VALUES (5000, 'pending');
SELECT json_extract(lsm_stats('t'), '$.pending_keys');
COMMIT;
SELECT json_extract(lsm_stats('t'), '$.pending_keys');
-- errors
SELECT lsm_stats('nosuch');
SELECT lsm_flush('plain');
SELECT lsm_check(NULL);
SELECT lsm_compact('main.t');
SELECT lsm_stats('temp.t');
