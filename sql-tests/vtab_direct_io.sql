-- direct_io and io_poll_us through SQL (engine lsm.h): the options reach the engine (lsm_stats
-- shows them; both default to 0), a table read with O_DIRECT answers point SELECTs, IN lists
-- (one lsm_multiget batch), range scans, UPDATE and DELETE by key exactly as the same rows read
-- through the page cache (on a filesystem that refuses O_DIRECT the engine reads buffered, so the
-- answers are the same there too), and a bad value or one given twice is a CREATE error that
-- names the option.
CREATE VIRTUAL TABLE q USING lsm(k INTEGER PRIMARY KEY, v);
CREATE VIRTUAL TABLE d USING lsm(k INTEGER PRIMARY KEY, v, memtable_size='64KB', cache_size='64KB',
                                 io=uring, direct_io=1, io_poll_us=1000);
CREATE VIRTUAL TABLE b USING lsm(k INTEGER PRIMARY KEY, v, memtable_size='64KB', cache_size='64KB',
                                 DIRECT_IO = '0', io_poll_us=100000);
SELECT json_extract(lsm_stats('q'), '$.engine.direct_io'), json_extract(lsm_stats('q'), '$.engine.io_poll_us'),
       json_extract(lsm_stats('d'), '$.engine.direct_io'), json_extract(lsm_stats('d'), '$.engine.io_poll_us'),
       json_extract(lsm_stats('b'), '$.engine.direct_io'), json_extract(lsm_stats('b'), '$.engine.io_poll_us');
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
INSERT INTO d SELECT i, printf('%050d', i * 7) FROM c;
INSERT INTO b SELECT k, v FROM d;
SELECT lsm_flush('d'), lsm_compact('d'), lsm_flush('b'), lsm_compact('b');
UPDATE d SET v = v || 'x' WHERE k % 5 = 0;
UPDATE b SET v = v || 'x' WHERE k % 5 = 0;
SELECT lsm_flush('d'), lsm_flush('b');
DELETE FROM d WHERE k % 7 = 0;
DELETE FROM b WHERE k % 7 = 0;
SELECT k, v FROM d WHERE k IN (1, 5, 7, 35, 19999, 20000, 20001) ORDER BY k;
SELECT (SELECT v FROM d WHERE k = 35), (SELECT v FROM d WHERE k = 10), (SELECT v FROM d WHERE k = 11);
SELECT group_concat(k) FROM (SELECT k FROM d WHERE k >= 9990 ORDER BY k LIMIT 12);
SELECT count(*), sum(length(v)) FROM d;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
SELECT sum((SELECT v FROM d WHERE k = i) IS NOT (SELECT v FROM b WHERE k = i)) FROM c;
SELECT count(*) FROM (SELECT k, v FROM d EXCEPT SELECT k, v FROM b);
SELECT count(*) FROM (SELECT k, v FROM b EXCEPT SELECT k, v FROM d);
SELECT lsm_check('d');
-- errors
CREATE VIRTUAL TABLE e1 USING lsm(a, direct_io=2);
CREATE VIRTUAL TABLE e2 USING lsm(a, direct_io=on);
CREATE VIRTUAL TABLE e3 USING lsm(a, direct_io=0, DIRECT_IO=1);
CREATE VIRTUAL TABLE e4 USING lsm(a, io_poll_us=-1);
CREATE VIRTUAL TABLE e5 USING lsm(a, io_poll_us=100001);
CREATE VIRTUAL TABLE e6 USING lsm(a, io_poll_us='1ms');
CREATE VIRTUAL TABLE e7 USING lsm(a, io_poll_us=5, io_poll_us=5);
SELECT name FROM sqlite_schema ORDER BY name;
