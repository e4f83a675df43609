-- Query plans (xBestIndex): point lookup, IN batch, prefix + range, ORDER BY consumed both ways,
-- LIMIT/OFFSET pushed down (with a range: as a hint for the engine's reads only), anything else
-- a scan; and lsm_stats' row counters proving that a point lookup or a range reads only the
-- rows it returns.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v);
CREATE VIRTUAL TABLE c USING lsm(a TEXT, b INTEGER, v, PRIMARY KEY(a, b));
WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 1000)
INSERT INTO t SELECT x, 'v' || x FROM i;
INSERT INTO c SELECT char(97 + k % 5), k, v FROM t;
EXPLAIN QUERY PLAN SELECT * FROM t WHERE k = 5;
EXPLAIN QUERY PLAN SELECT * FROM t WHERE k IN (5, 7, 9);
EXPLAIN QUERY PLAN SELECT * FROM t WHERE k > 5 AND k <= 10;
EXPLAIN QUERY PLAN SELECT * FROM t WHERE k BETWEEN 5 AND 10 ORDER BY k DESC;
EXPLAIN QUERY PLAN SELECT * FROM t ORDER BY k DESC LIMIT 3;
EXPLAIN QUERY PLAN SELECT * FROM t LIMIT 3 OFFSET 10;
EXPLAIN QUERY PLAN SELECT * FROM t WHERE k >= 5 ORDER BY k LIMIT 3 OFFSET 1;
EXPLAIN QUERY PLAN SELECT * FROM t WHERE v = 'v5';
EXPLAIN QUERY PLAN SELECT * FROM t ORDER BY v;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 'b' AND b = 6;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 'b' AND b IN (1, 6, 11);
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 'b' AND b >= 100 ORDER BY b DESC;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a > 'b' ORDER BY a, b;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE b = 6;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 'b' COLLATE NOCASE;
.print -- joins: the lsm table is probed by key
CREATE TABLE probe(x INTEGER);
INSERT INTO probe VALUES (3), (30), (300);
EXPLAIN QUERY PLAN SELECT probe.x, t.v FROM probe JOIN t ON t.k = probe.x;
SELECT probe.x, t.v FROM probe JOIN t ON t.k = probe.x;
.print -- rows read (lsm_stats counters), per query
CREATE TEMP TABLE s(n);
CREATE TEMP VIEW rr AS SELECT json_extract(lsm_stats('t'), '$.rows_read') AS n;
INSERT INTO s SELECT n FROM rr;
SELECT v FROM t WHERE k = 500;
SELECT 'point read', (SELECT n FROM rr) - (SELECT max(n) FROM s);
INSERT INTO s SELECT n FROM rr;
SELECT count(*) FROM t WHERE k > 100 AND k <= 110;
SELECT 'range read', (SELECT n FROM rr) - (SELECT max(n) FROM s);
INSERT INTO s SELECT n FROM rr;
SELECT group_concat(v) FROM t WHERE k IN (1, 2, 999, 5000);
SELECT 'in read', (SELECT n FROM rr) - (SELECT max(n) FROM s);
INSERT INTO s SELECT n FROM rr;
SELECT group_concat(k) FROM (SELECT k FROM t ORDER BY k DESC LIMIT 3);
SELECT 'limit read', (SELECT n FROM rr) - (SELECT max(n) FROM s);
INSERT INTO s SELECT n FROM rr;
SELECT count(*) FROM t WHERE v = 'v7';
SELECT 'scan read', (SELECT n FROM rr) - (SELECT max(n) FROM s);
