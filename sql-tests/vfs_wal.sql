-- The uring VFS in WAL mode: commits, checkpoints (passive, truncate), mmap, vacuum,
-- a temp table (temp files are delegated to unix), an attached database.
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
PRAGMA cache_size=20;
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);
WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM s WHERE x<4000)
  INSERT INTO t SELECT x, printf('%.*c', 30 + x % 500, 'w') FROM s;
SELECT count(*), sum(length(b)) FROM t;
PRAGMA wal_checkpoint(PASSIVE);
UPDATE t SET b = b || 'u' WHERE a % 2 = 0;
DELETE FROM t WHERE a % 9 = 0;
SELECT count(*), sum(length(b)) FROM t;
PRAGMA mmap_size=8388608;
SELECT count(*), sum(length(b)) FROM t WHERE a > 2000;
PRAGMA wal_checkpoint(TRUNCATE);
PRAGMA synchronous=FULL;
BEGIN; INSERT INTO t SELECT a + 100000, b FROM t WHERE a < 500; COMMIT;
CREATE TEMP TABLE tt AS SELECT a, length(b) AS n FROM t ORDER BY b DESC, a LIMIT 1000;
SELECT count(*), sum(n) FROM tt;
ATTACH 'other.db' AS o;
CREATE TABLE o.x AS SELECT * FROM t WHERE a % 10 = 1;
SELECT count(*), sum(length(b)) FROM o.x;
DETACH o;
PRAGMA integrity_check;
VACUUM;
SELECT count(*), sum(length(b)) FROM t;
PRAGMA wal_checkpoint(TRUNCATE);
PRAGMA integrity_check;
