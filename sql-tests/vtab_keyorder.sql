-- Key order with mixed types (numbers < TEXT < BLOB, 1 = 1.0, exact int/real comparison) and
-- composite keys, ASC and DESC, ranges and prefixes: every query compared with a native
-- WITHOUT ROWID twin.
CREATE VIRTUAL TABLE t USING lsm(k PRIMARY KEY, v);
CREATE TABLE n(k PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE src(k, v);
INSERT INTO src VALUES (1, 'i1'), (1.5, 'r1.5'), (-1, 'i-1'), (-0.5, 'r-0.5'), (0, 'i0'),
  (9223372036854775807, 'imax'), (-9223372036854775808, 'imin'), (9.3e18, 'rbig'),
  (-9.3e18, 'rsmall'), (1e308, 'rhuge'), (4.9e-324, 'rtiny'), ('', 't0'), ('a', 'ta'),
  ('a' || char(0) || 'b', 'ta0b'), ('ab', 'tab'), ('b', 'tb'), (x'', 'b0'), (x'00', 'b00'),
  (x'0001', 'b0001'), (x'01', 'b01'), (x'ff', 'bff'), (9007199254740993, 'i2^53+1'),
  (9007199254740992.0, 'r2^53');
INSERT INTO t SELECT * FROM src;
INSERT INTO n SELECT * FROM src;
SELECT group_concat(v, ' ') FROM (SELECT v FROM t ORDER BY k);
SELECT group_concat(v, ' ') FROM (SELECT v FROM n ORDER BY k);
SELECT group_concat(v, ' ') FROM (SELECT v FROM t ORDER BY k DESC);
SELECT group_concat(v, ' ') FROM (SELECT v FROM n ORDER BY k DESC);
SELECT group_concat(v, ' ') FROM t;
-- ranges across types: a numeric bound includes all TEXT/BLOB above it, etc.
SELECT 'k > 0', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k > 0 ORDER BY k)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k > 0 ORDER BY k)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k > 0 ORDER BY k));
SELECT 'k >= 1', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k >= 1 ORDER BY k)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k >= 1 ORDER BY k)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k >= 1 ORDER BY k));
SELECT 'k < 1.5 desc', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k < 1.5 ORDER BY k DESC)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k < 1.5 ORDER BY k DESC)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k < 1.5 ORDER BY k DESC));
SELECT 'k <= -0.5', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k <= -0.5 ORDER BY k)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k <= -0.5 ORDER BY k)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k <= -0.5 ORDER BY k));
SELECT 'k > 1 AND k < b', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k > 1 AND k < 'b' ORDER BY k)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k > 1 AND k < 'b' ORDER BY k)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k > 1 AND k < 'b' ORDER BY k));
SELECT 'between', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k BETWEEN -1 AND 1 ORDER BY k DESC)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k BETWEEN -1 AND 1 ORDER BY k DESC)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k BETWEEN -1 AND 1 ORDER BY k DESC));
SELECT 'k > a', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k > 'a' ORDER BY k)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k > 'a' ORDER BY k)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k > 'a' ORDER BY k));
SELECT 'k >= x00', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k >= x'00' ORDER BY k)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k >= x'00' ORDER BY k)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k >= x'00' ORDER BY k));
SELECT 'k < x01', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k < x'01' ORDER BY k)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k < x'01' ORDER BY k)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k < x'01' ORDER BY k));
SELECT 'k > imax', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k > 9223372036854775807 ORDER BY k)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k > 9223372036854775807 ORDER BY k)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k > 9223372036854775807 ORDER BY k));
SELECT 'k >= 2^63 real', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k >= 9.223372036854775807e18 ORDER BY k)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k >= 9.223372036854775807e18 ORDER BY k)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k >= 9.223372036854775807e18 ORDER BY k));
SELECT 'k = 1.0', (SELECT group_concat(v) FROM t WHERE k = 1.0), (SELECT group_concat(v) FROM t WHERE k = 1.0) IS (SELECT group_concat(v) FROM n WHERE k = 1.0);
SELECT 'k = 2^53 int', (SELECT group_concat(v) FROM t WHERE k = 9007199254740992), (SELECT group_concat(v) FROM t WHERE k = 9007199254740992) IS (SELECT group_concat(v) FROM n WHERE k = 9007199254740992);
SELECT 'in', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k IN (1, 'a', x'00', 2, 1.0) ORDER BY k DESC)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k IN (1, 'a', x'00', 2, 1.0) ORDER BY k DESC)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k IN (1, 'a', x'00', 2, 1.0) ORDER BY k DESC));
SELECT 'k > 1e400', (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k > 1e400 ORDER BY k)), (SELECT group_concat(v) FROM (SELECT v FROM t WHERE k > 1e400 ORDER BY k)) IS (SELECT group_concat(v) FROM (SELECT v FROM n WHERE k > 1e400 ORDER BY k));
SELECT 'k < -1e400', (SELECT count(*) FROM t WHERE k < -1e400) = (SELECT count(*) FROM n WHERE k < -1e400);
SELECT 'k > NULL', (SELECT count(*) FROM t WHERE k > NULL), (SELECT count(*) FROM t WHERE k = NULL);
SELECT 'empty range', (SELECT count(*) FROM t WHERE k > 0 AND k < 0);
-- composite keys: (a, b) with mixed types, prefix equality and range on the second column
CREATE VIRTUAL TABLE c USING lsm(a, b, v, PRIMARY KEY(a, b));
CREATE TABLE cn(a, b, v, PRIMARY KEY(a, b)) WITHOUT ROWID;
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x < 59)
INSERT OR IGNORE INTO c SELECT CASE x % 4 WHEN 0 THEN x % 5 WHEN 1 THEN 'a' || (x % 3) WHEN 2 THEN (x % 5) + 0.5 ELSE x'00' || char(x % 3) END,
  CASE x % 3 WHEN 0 THEN x WHEN 1 THEN 'b' || x ELSE x'ab' END, x FROM i;
INSERT INTO cn SELECT * FROM c;
SELECT count(*) FROM c;
SELECT 'all', (SELECT group_concat(v) FROM (SELECT v FROM c ORDER BY a, b)), (SELECT group_concat(v) FROM (SELECT v FROM c ORDER BY a, b)) IS (SELECT group_concat(v) FROM (SELECT v FROM cn ORDER BY a, b));
SELECT 'desc', (SELECT group_concat(v) FROM (SELECT v FROM c ORDER BY a DESC, b DESC)), (SELECT group_concat(v) FROM (SELECT v FROM c ORDER BY a DESC, b DESC)) IS (SELECT group_concat(v) FROM (SELECT v FROM cn ORDER BY a DESC, b DESC));
SELECT 'prefix', (SELECT group_concat(v) FROM (SELECT v FROM c WHERE a = 'a1' ORDER BY b)), (SELECT group_concat(v) FROM (SELECT v FROM c WHERE a = 'a1' ORDER BY b)) IS (SELECT group_concat(v) FROM (SELECT v FROM cn WHERE a = 'a1' ORDER BY b));
SELECT 'prefix+range', (SELECT group_concat(v) FROM (SELECT v FROM c WHERE a = 2 AND b > 10 ORDER BY b DESC)), (SELECT group_concat(v) FROM (SELECT v FROM c WHERE a = 2 AND b > 10 ORDER BY b DESC)) IS (SELECT group_concat(v) FROM (SELECT v FROM cn WHERE a = 2 AND b > 10 ORDER BY b DESC));
SELECT 'range first col', (SELECT group_concat(v) FROM (SELECT v FROM c WHERE a >= 1 AND a < 'a2' ORDER BY a, b)), (SELECT group_concat(v) FROM (SELECT v FROM c WHERE a >= 1 AND a < 'a2' ORDER BY a, b)) IS (SELECT group_concat(v) FROM (SELECT v FROM cn WHERE a >= 1 AND a < 'a2' ORDER BY a, b));
SELECT 'point', (SELECT v FROM c WHERE a = 4 AND b = 24), (SELECT v FROM c WHERE a = 4 AND b = 24) IS (SELECT v FROM cn WHERE a = 4 AND b = 24);
SELECT 'in both', (SELECT group_concat(v) FROM (SELECT v FROM c WHERE a IN (0, 4, 'a1') AND b IN (0, 'b1', 24, 40) ORDER BY a, b)), (SELECT group_concat(v) FROM (SELECT v FROM c WHERE a IN (0, 4, 'a1') AND b IN (0, 'b1', 24, 40) ORDER BY a, b)) IS (SELECT group_concat(v) FROM (SELECT v FROM cn WHERE a IN (0, 4, 'a1') AND b IN (0, 'b1', 24, 40) ORDER BY a, b));
SELECT 'order by b only', (SELECT group_concat(v) FROM (SELECT v FROM c ORDER BY b, a)), (SELECT group_concat(v) FROM (SELECT v FROM c ORDER BY b, a)) IS (SELECT group_concat(v) FROM (SELECT v FROM cn ORDER BY b, a));
