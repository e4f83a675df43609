-- Declared-type affinity applied on write exactly as on a native table (compared with a native
-- WITHOUT ROWID twin), and NOT NULL enforced with the native message.
CREATE VIRTUAL TABLE t USING lsm(a NUMERIC, b INTEGER, c REAL, d TEXT, e BLOB, f, g VARCHAR(10),
  h DECIMAL(10,2), PRIMARY KEY(f));
CREATE TABLE n(a NUMERIC, b INTEGER, c REAL, d TEXT, e BLOB, f, g VARCHAR(10), h DECIMAL(10,2),
  PRIMARY KEY(f)) WITHOUT ROWID;
CREATE TABLE src(a, b, c, d, e, f, g, h);
INSERT INTO src VALUES
  (1.0, 2.0, 3, 4, 5, 1, 6, '7.0'),
  ('1e2', '  7 ', '8', 'x', ' 9', 2, 1.5, ' 12 '),
  (4503599627370497.0, 9.3e18, '1.5', 1.5, 1.5, 3, x'01', 'abc'),
  (2251799813685248.0, '2251799813685248.0', 'x', 1e100, x'00', 4, NULL, '9223372036854775808'),
  ('0x10', '-0', -0.0, -0.0, '', 5, '', '1e400'),
  ('12abc', '9223372036854775807', '-9223372036854775808', 12, '12', 6, ' 1.5e3 ', '.5'),
  ('+5', '5.', 9223372036854775807, -7, 'é', 7, 'é', '-1E-2');
INSERT INTO t SELECT * FROM src;
INSERT INTO n SELECT * FROM src;
SELECT f, typeof(a), a, typeof(b), b, typeof(c), c, typeof(d), d, typeof(e), quote(e),
  typeof(g), quote(g), typeof(h), h FROM t ORDER BY f;
SELECT 'rows differing from native:', count(*) FROM (
  SELECT f, typeof(a), a, typeof(b), b, typeof(c), c, typeof(d), d, typeof(e), quote(e),
    typeof(g), quote(g), typeof(h), h FROM t
  EXCEPT SELECT f, typeof(a), a, typeof(b), b, typeof(c), c, typeof(d), d, typeof(e), quote(e),
    typeof(g), quote(g), typeof(h), h FROM n);
-- UPDATE applies affinity too
UPDATE t SET b = '42', c = 1, d = 2.5 WHERE f = 1;
UPDATE n SET b = '42', c = 1, d = 2.5 WHERE f = 1;
SELECT typeof(b), b, typeof(c), c, typeof(d), d FROM t WHERE f = 1;
SELECT typeof(b), b, typeof(c), c, typeof(d), d FROM n WHERE f = 1;
-- key column affinity: '10' into an INTEGER key is the key 10
CREATE VIRTUAL TABLE ki USING lsm(k INTEGER PRIMARY KEY, v);
INSERT INTO ki VALUES('10', 'a');
SELECT typeof(k), k FROM ki WHERE k = 10;
SELECT typeof(k), k FROM ki WHERE k = '10';
INSERT INTO ki VALUES(10.0, 'dup');
-- a REAL key keeps its type (1.0 and 1 are the same key, the stored type is returned)
CREATE VIRTUAL TABLE kr USING lsm(k PRIMARY KEY, v);
INSERT INTO kr VALUES(1.0, 'real'), (2, 'int'), (2.5, 'frac');
SELECT typeof(k), k, v FROM kr ORDER BY k;
SELECT v FROM kr WHERE k = 1;
SELECT v FROM kr WHERE k = 2.0;
INSERT INTO kr VALUES(1, 'dup');
-- NOT NULL
CREATE VIRTUAL TABLE nn USING lsm(k TEXT PRIMARY KEY, a NOT NULL, b);
CREATE TABLE nnn(k TEXT PRIMARY KEY, a NOT NULL, b) WITHOUT ROWID;
INSERT INTO nn VALUES('x', NULL, 1);
INSERT INTO nnn VALUES('x', NULL, 1);
INSERT INTO nn VALUES(NULL, 1, 1);
INSERT INTO nnn VALUES(NULL, 1, 1);
INSERT INTO nn VALUES('y', 1, NULL);
UPDATE nn SET a = NULL;
INSERT OR IGNORE INTO nn VALUES('z', NULL, 1), ('w', 2, 2);
INSERT OR REPLACE INTO nn VALUES('v', NULL, 1);
SELECT * FROM nn;
-- comparisons with a TEXT key column apply TEXT affinity to the other side, as natively
CREATE VIRTUAL TABLE kt USING lsm(k TEXT PRIMARY KEY, v);
CREATE TABLE ktn(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO kt VALUES (5, 'five'), ('10', 'ten'), (2.5, 'x'), (x'35', 'blob');
INSERT INTO ktn VALUES (5, 'five'), ('10', 'ten'), (2.5, 'x'), (x'35', 'blob');
SELECT group_concat(typeof(k) || ':' || k) FROM (SELECT k FROM kt ORDER BY k);
SELECT group_concat(typeof(k) || ':' || k) FROM (SELECT k FROM ktn ORDER BY k);
SELECT (SELECT group_concat(v) FROM kt WHERE k = 5), (SELECT group_concat(v) FROM ktn WHERE k = 5);
SELECT (SELECT group_concat(v) FROM kt WHERE k > 3), (SELECT group_concat(v) FROM ktn WHERE k > 3);
SELECT (SELECT group_concat(v) FROM kt WHERE k IN (10, 2.5, '5')), (SELECT group_concat(v) FROM ktn WHERE k IN (10, 2.5, '5'));
SELECT (SELECT group_concat(v) FROM kt WHERE k = x'35'), (SELECT group_concat(v) FROM ktn WHERE k = x'35');
