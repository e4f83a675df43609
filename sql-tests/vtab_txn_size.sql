-- max_txn_size: a transaction's pending writes to a table are bounded (the memory they hold
-- until COMMIT). A write that would pass the bound fails with SQLITE_FULL (13) and SQLite
-- rolls back the statement (inside BEGIN, for a statement with a journal such as INSERT ...
-- SELECT) or the whole transaction (autocommit; a single-row statement), as after a native
-- SQLITE_FULL. lsm_max_txn_size() sets the connection's bound over every table's option.
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v BLOB, max_txn_size='128KB');
SELECT json_extract(lsm_stats('t'), '$.max_txn_size');
-- too large in autocommit mode: nothing is written
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
INSERT INTO t SELECT i, zeroblob(100) FROM c;
SELECT count(*) FROM t;
-- inside a transaction: the failing statement is undone, the one before it commits
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200)
INSERT INTO t SELECT i, zeroblob(100) FROM c;
SELECT json_extract(lsm_stats('t'), '$.pending_bytes') <= 131072;
WITH RECURSIVE c(i) AS (SELECT 201 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
INSERT INTO t SELECT i, zeroblob(100) FROM c;
SELECT json_extract(lsm_stats('t'), '$.pending_bytes') <= 131072;
COMMIT;
SELECT count(*), max(k) FROM t;
-- the connection's bound, then back to the table's
SELECT lsm_max_txn_size(), lsm_max_txn_size('1MB'), json_extract(lsm_stats('t'), '$.max_txn_size');
WITH RECURSIVE c(i) AS (SELECT 201 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
INSERT INTO t SELECT i, zeroblob(100) FROM c;
SELECT count(*), max(k) FROM t;
SELECT lsm_max_txn_size(NULL), json_extract(lsm_stats('t'), '$.max_txn_size');
-- errors
SELECT lsm_max_txn_size('lots');
SELECT lsm_max_txn_size(1024);
CREATE VIRTUAL TABLE u USING lsm(k, max_txn_size='8GB');
