-- The INSERT's PRIMARY KEY check (lsm_exists: the filter lines of every candidate table are
-- fetched before any probe, in windows of 16 tables) for keys in every layer: deep (compacted),
-- each of 18 overlapping L0 tables (the oldest past the first window), the memtable, the
-- transaction's own writes; deleted keys (a newer tombstone) are absent. bloom_bits=1: most
-- absent keys are bloom false positives (their block is read).
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v, l0_compaction_trigger=20, bloom_bits=1, io=sync);
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 398)
INSERT INTO t SELECT x, 'deep' FROM i;
SELECT lsm_compact('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 10000 + x, 'l0-0' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 10100 + x, 'l0-1' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 10200 + x, 'l0-2' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 10300 + x, 'l0-3' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 10400 + x, 'l0-4' FROM i;
DELETE FROM t WHERE k IN (10, 12, 10202);
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 10500 + x, 'l0-5' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 10600 + x, 'l0-6' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 10700 + x, 'l0-7' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 10800 + x, 'l0-8' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 10900 + x, 'l0-9' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 11000 + x, 'l0-10' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 11100 + x, 'l0-11' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 11200 + x, 'l0-12' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 11300 + x, 'l0-13' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 11400 + x, 'l0-14' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 11500 + x, 'l0-15' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 11600 + x, 'l0-16' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
INSERT OR REPLACE INTO t VALUES (-1, 'lo'), (999999, 'hi');
WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 2 FROM i WHERE x < 38) INSERT INTO t SELECT 11700 + x, 'l0-17' FROM i;
SELECT lsm_flush('t') IS NOT NULL;
SELECT json_extract(lsm_stats('t'), '$.engine.levels[0].files') > 16;
INSERT INTO t VALUES (50000, 'mem'), (50002, 'mem');
.print -- duplicates in every layer: deep, oldest L0, newest L0, memtable
INSERT INTO t VALUES (20, 'dup');
INSERT INTO t VALUES (10004, 'dup');
INSERT INTO t VALUES (11704, 'dup');
INSERT INTO t VALUES (50002, 'dup');
INSERT INTO t VALUES (-1, 'dup');
.print -- OR IGNORE: nothing changes; OR REPLACE: replaced
INSERT OR IGNORE INTO t VALUES (20, 'x'), (10004, 'x'), (11704, 'x'), (50002, 'x');
SELECT changes();
INSERT OR REPLACE INTO t VALUES (22, 'r'), (10006, 'r'), (11706, 'r'), (50000, 'r');
SELECT changes();
SELECT k, v FROM t WHERE k IN (20, 22, 10004, 10006, 11704, 11706, 50000, 50002) ORDER BY k;
.print -- absent keys (odd, between the present ones) insert; deleted keys (tombstone in L0) insert
INSERT INTO t VALUES (21, 'new'), (10005, 'new'), (11705, 'new'), (50001, 'new'), (10, 'back'), (10202, 'back');
SELECT changes();
INSERT INTO t VALUES (12, 'back');
INSERT INTO t VALUES (10, 'dup');
.print -- a transaction's own writes and deletes
BEGIN;
INSERT INTO t VALUES (77777, 'txn');
INSERT INTO t VALUES (77777, 'dup');
DELETE FROM t WHERE k IN (24, 10008);
INSERT INTO t VALUES (24, 'again'), (10008, 'again');
INSERT INTO t VALUES (10008, 'dup');
COMMIT;
SELECT k, v FROM t WHERE k IN (10, 12, 21, 24, 10005, 10008, 10202, 11705, 50001, 77777) ORDER BY k;
.print -- deleted in a committed transaction (tombstone in the memtable), then inserted
DELETE FROM t WHERE k IN (26, 10010, 11710);
INSERT INTO t VALUES (26, 'm'), (10010, 'm'), (11710, 'm');
INSERT INTO t VALUES (26, 'dup');
SELECT count(*), sum(k) FROM t;
