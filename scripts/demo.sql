-- lsmvtab demo: an LSM-tree table inside SQLite (run by scripts/demo.sh, `make demo`).
.headers on
.mode box
.print
.print ================================================================
.print  lsmvtab: an LSM-backed virtual table for SQLite
.print ================================================================
.echo on
SELECT lsm_version() AS version, sqlite_version() AS sqlite;

-- A table stored in an LSM tree (files under demo.db-lsm/users/), declared like a native table.
CREATE VIRTUAL TABLE users USING lsm(
  id INTEGER, name TEXT, email TEXT, score REAL,
  PRIMARY KEY(id)
);
.echo off
.print
.print ---- 1. Insert 1,000,000 rows in one transaction (one atomic write batch) ----
.timer on
.echo on
BEGIN;
INSERT INTO users
  SELECT value, 'user' || value, printf('user%d@example.com', value), (value * 7919) % 1000 / 10.0
  FROM generate_series(1, 1000000);
COMMIT;
.echo off
.timer off
.print
.print ---- 2. Queries (each is planned by the module's xBestIndex) ----
.timer on
.echo on
-- Point lookup: equality on the whole key -> one LSM get.
SELECT * FROM users WHERE id = 500000;

-- Range: a bounded scan between two keys.
SELECT count(*) AS n, round(avg(score), 2) AS avg_score FROM users WHERE id BETWEEN 250000 AND 260000;

-- IN list: all lookups as one batch (duplicates once; a missing key is simply absent).
SELECT id, name FROM users WHERE id IN (7, 700000, 70000, 999999, 7, 12345678);

-- ORDER BY the key DESC with LIMIT: a reverse scan that stops after 5 rows.
SELECT id, email FROM users ORDER BY id DESC LIMIT 5;

-- A filter on a non-key column: a full scan, SQLite filters.
SELECT count(*) AS top_scores FROM users WHERE score >= 99.5;
.echo off
.timer off
.print
.print ---- 3. How SQLite runs them ----
.echo on
EXPLAIN QUERY PLAN SELECT * FROM users WHERE id = 500000;
EXPLAIN QUERY PLAN SELECT id FROM users WHERE id BETWEEN 1 AND 9 ORDER BY id DESC;
.echo off
.print
.print ---- 4. Changes, rollback, and the same lookups after a flush to disk ----
.timer on
.echo on
UPDATE users SET score = 100.0 WHERE id BETWEEN 10 AND 12;
BEGIN;
DELETE FROM users WHERE id <= 100000;
SELECT count(*) AS during_txn FROM users;
ROLLBACK;
SELECT count(*) AS after_rollback FROM users;
SELECT lsm_flush('users') AS flush;
SELECT id, score FROM users WHERE id IN (10, 11, 12, 13);
.echo off
.timer off
.print
.print ---- 5. lsm_stats('users'): JSON, shown here as tables ----
.echo on
-- The table:
SELECT key, value FROM json_each(lsm_stats('users')) WHERE key <> 'engine';
-- The LSM tree's levels that hold files:
SELECT json_extract(value, '$.level') AS level, json_extract(value, '$.files') AS files,
       json_extract(value, '$.bytes') AS bytes
  FROM json_each(lsm_stats('users'), '$.engine.levels') WHERE json_extract(value, '$.files') > 0;
-- The engine's counters (write amplification, cache, IO backend, ...):
SELECT key, value FROM json_each(lsm_stats('users'), '$.engine') WHERE key <> 'levels';
.echo off
