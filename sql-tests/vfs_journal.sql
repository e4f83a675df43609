-- The uring VFS in every rollback-journal mode (the runner runs this file once through the
-- default VFS and once through uring; output must be identical). Small cache: pages spill.
PRAGMA cache_size=20;
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c INT);
CREATE INDEX tc ON t(c);
PRAGMA journal_mode=DELETE;
WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM s WHERE x<3000)
  INSERT INTO t SELECT x, printf('%.*c', 50 + x % 400, 'a'), x % 97 FROM s;
SELECT count(*), sum(c), sum(length(b)) FROM t;
BEGIN; UPDATE t SET b = b || 'z' WHERE a % 3 = 0; DELETE FROM t WHERE a % 5 = 0; ROLLBACK;
SELECT count(*), sum(c), sum(length(b)) FROM t;
PRAGMA journal_mode=TRUNCATE;
UPDATE t SET b = b || 'y', c = c + 1 WHERE a % 4 = 0;
DELETE FROM t WHERE a % 7 = 0;
SELECT count(*), sum(c), sum(length(b)) FROM t;
PRAGMA journal_mode=PERSIST;
PRAGMA synchronous=OFF;
INSERT INTO t SELECT a + 10000, b, c FROM t WHERE a < 1000;
SAVEPOINT s1; DELETE FROM t WHERE a > 10000; ROLLBACK TO s1; RELEASE s1;
SELECT count(*), sum(c), sum(length(b)) FROM t;
PRAGMA synchronous=FULL;
PRAGMA mmap_size=4194304;
UPDATE t SET c = c * 2 WHERE a % 2 = 1;
SELECT count(*), sum(c), sum(length(b)) FROM t;
PRAGMA integrity_check;
VACUUM;
SELECT count(*), sum(c), sum(length(b)) FROM t;
SELECT c, count(*) FROM t WHERE c < 5 GROUP BY c ORDER BY c;
PRAGMA integrity_check;
