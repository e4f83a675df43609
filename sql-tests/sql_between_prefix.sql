-- BETWEEN and ranges on composite key prefixes (issue 5: equality on a key prefix and/or a range
-- on the next key column is one bounded range scan). Expected output: the same script on a
-- native WITHOUT ROWID table, read and checked by hand.
CREATE VIRTUAL TABLE c USING lsm(a INTEGER, b TEXT, c REAL, v, PRIMARY KEY(a, b, c));
WITH RECURSIVE x(i) AS (VALUES(0) UNION ALL SELECT i+1 FROM x WHERE i<26)
  INSERT INTO c SELECT i / 9, char(97 + (i / 3) % 3), i % 3, i FROM x;
SELECT '-- a BETWEEN 1 AND 1';
SELECT a, b, c, v FROM c WHERE a BETWEEN 1 AND 1;
SELECT '-- a BETWEEN 0 AND 1, desc, limit';
SELECT a, b, c FROM c WHERE a BETWEEN 0 AND 1 ORDER BY a DESC, b DESC, c DESC LIMIT 4;
SELECT '-- a = 2 AND b BETWEEN ''b'' AND ''c''';
SELECT a, b, c FROM c WHERE a = 2 AND b BETWEEN 'b' AND 'c';
SELECT '-- a = 0 AND b = ''a'' AND c BETWEEN 0.5 AND 2';
SELECT a, b, c FROM c WHERE a = 0 AND b = 'a' AND c BETWEEN 0.5 AND 2;
SELECT '-- a = 1 AND b BETWEEN ''a'' AND ''az'' (prefix of text)';
SELECT a, b, c FROM c WHERE a = 1 AND b BETWEEN 'a' AND 'az';
SELECT '-- reversed bounds: empty';
SELECT count(*) FROM c WHERE a = 1 AND b BETWEEN 'c' AND 'a';
SELECT '-- NULL bound: empty';
SELECT count(*) FROM c WHERE a BETWEEN NULL AND 2;
SELECT '-- open ranges on the second column';
SELECT a, b, c FROM c WHERE a = 1 AND b > 'b';
SELECT a, b, c FROM c WHERE a = 1 AND b <= 'a' ORDER BY b DESC, c DESC;
SELECT '-- range on the second column without the first (not a prefix: scan + filter)';
SELECT a, b, c FROM c WHERE b BETWEEN 'b' AND 'b' AND c = 1;
SELECT '-- prefix equality with a range on the third column skipping the second';
SELECT a, b, c FROM c WHERE a = 2 AND c >= 2;
SELECT '-- NOT BETWEEN on the prefix';
SELECT count(*) FROM c WHERE a NOT BETWEEN 1 AND 1;
SELECT '-- BETWEEN with text bounds on the INTEGER column (affinity: ''1'' -> 1)';
SELECT count(*) FROM c WHERE a BETWEEN '1' AND '2';
SELECT '-- row-value range over the whole key';
SELECT a, b, c FROM c WHERE (a, b, c) > (1, 'c', 1) AND (a, b, c) <= (2, 'a', 1);
SELECT '-- a range after changes in the same transaction (overlay + stored rows)';
BEGIN;
DELETE FROM c WHERE a = 1 AND b = 'b';
INSERT INTO c VALUES(1, 'bb', 0, 'new');
UPDATE c SET v = 'upd' WHERE a = 1 AND b = 'c' AND c = 0;
SELECT a, b, c, v FROM c WHERE a = 1 AND b BETWEEN 'b' AND 'c' ORDER BY a DESC, b DESC, c DESC;
COMMIT;
SELECT a, b, c, v FROM c WHERE a = 1 AND b BETWEEN 'b' AND 'c';
