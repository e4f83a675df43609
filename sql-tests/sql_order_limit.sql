-- ORDER BY the key ASC/DESC with LIMIT/OFFSET, alone and with ranges (issue 5: ORDER BY
-- consumed, reverse scans, LIMIT/OFFSET). Expected output: the same script on a native
-- WITHOUT ROWID table, read and checked by hand.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER, v TEXT, PRIMARY KEY(k));
WITH RECURSIVE c(x) AS (VALUES(1) UNION ALL SELECT x+1 FROM c WHERE x<20) INSERT INTO t SELECT x*10, 'v'||x FROM c;
SELECT '-- desc limit 3';
SELECT k FROM t ORDER BY k DESC LIMIT 3;
SELECT '-- desc limit 3 offset 2';
SELECT k, v FROM t ORDER BY k DESC LIMIT 3 OFFSET 2;
SELECT '-- asc limit 2 offset 18 (runs off the end)';
SELECT k FROM t ORDER BY k LIMIT 2 OFFSET 18;
SELECT '-- offset past the end';
SELECT count(*) FROM (SELECT k FROM t ORDER BY k DESC LIMIT 5 OFFSET 100);
SELECT '-- limit 0';
SELECT count(*) FROM (SELECT k FROM t ORDER BY k LIMIT 0);
SELECT '-- limit -1 offset 17 (no limit)';
SELECT k FROM t ORDER BY k DESC LIMIT -1 OFFSET 17;
SELECT '-- range, desc';
SELECT k FROM t WHERE k > 45 AND k <= 100 ORDER BY k DESC;
SELECT '-- range, desc, limit/offset';
SELECT k FROM t WHERE k BETWEEN 50 AND 150 ORDER BY k DESC LIMIT 4 OFFSET 1;
SELECT '-- range with bounds not on existing keys, asc';
SELECT k FROM t WHERE k >= 41 AND k < 79 ORDER BY k;
SELECT '-- empty range';
SELECT count(*) FROM t WHERE k > 100 AND k < 100;
SELECT '-- max and min';
SELECT max(k), min(k) FROM t;
SELECT '-- desc with a non-key filter';
SELECT k FROM t WHERE v LIKE 'v1%' ORDER BY k DESC LIMIT 4;
SELECT '-- limit and offset as expressions';
SELECT k FROM t ORDER BY k DESC LIMIT (SELECT 2) OFFSET 1 + 1;
SELECT '-- order by a non-key column (SQLite sorts)';
SELECT k, v FROM t WHERE k <= 110 ORDER BY v DESC LIMIT 3;

-- composite key
CREATE VIRTUAL TABLE c USING lsm(a INTEGER, b TEXT, v, PRIMARY KEY(a, b));
INSERT INTO c VALUES(1,'x',1),(1,'y',2),(1,'z',3),(2,'x',4),(2,'y',5),(3,'a',6),(3,'b',7);
SELECT '-- composite desc, desc';
SELECT a, b FROM c ORDER BY a DESC, b DESC;
SELECT '-- composite desc limit 2 offset 1';
SELECT a, b FROM c ORDER BY a DESC, b DESC LIMIT 2 OFFSET 1;
SELECT '-- prefix equality, desc on the second column';
SELECT a, b FROM c WHERE a = 1 ORDER BY b DESC LIMIT 2;
SELECT '-- mixed directions (SQLite sorts)';
SELECT a, b FROM c ORDER BY a, b DESC;
SELECT '-- order by the first column only, desc';
SELECT a FROM c ORDER BY a DESC LIMIT 3;
SELECT '-- desc on text keys';
CREATE VIRTUAL TABLE s USING lsm(k TEXT, PRIMARY KEY(k));
INSERT INTO s VALUES('b'),('a'),('ab'),(''),('B'),('ba'),('a b');
SELECT quote(k) FROM s ORDER BY k DESC;
SELECT quote(k) FROM s WHERE k < 'b' ORDER BY k DESC LIMIT 3;
