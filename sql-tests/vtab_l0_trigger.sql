-- l0_compaction_trigger through SQL: a SQL table defaults to 4 (vtopts.h
-- OPT_L0_COMPACTION_TRIGGER; the engine's own default is 6), the option reaches the engine
-- (lsm_stats shows it), L0 keeps fewer flushed tables than the trigger without compacting, and a
-- value out of range, malformed or given twice is a CREATE error that names the option.
CREATE VIRTUAL TABLE d USING lsm(k INTEGER PRIMARY KEY, v);
SELECT json_extract(lsm_stats('d'), '$.engine.l0_compaction_trigger');
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v, l0_compaction_trigger=3);
SELECT json_extract(lsm_stats('t'), '$.engine.l0_compaction_trigger');
INSERT INTO t VALUES (1, 'a'), (2, 'b');
SELECT lsm_flush('t');
INSERT INTO t VALUES (3, 'c');
SELECT lsm_flush('t');
SELECT json_extract(lsm_stats('t'), '$.engine.levels[0].files');
SELECT count(*), group_concat(v, '') FROM t;
CREATE VIRTUAL TABLE s USING lsm(a, L0_COMPACTION_TRIGGER = '6');
SELECT json_extract(lsm_stats('s'), '$.engine.l0_compaction_trigger');
-- errors
CREATE VIRTUAL TABLE e1 USING lsm(a, l0_compaction_trigger=1);
CREATE VIRTUAL TABLE e2 USING lsm(a, l0_compaction_trigger=21);
CREATE VIRTUAL TABLE e3 USING lsm(a, l0_compaction_trigger=four);
CREATE VIRTUAL TABLE e4 USING lsm(a, l0_compaction_trigger=4, l0_compaction_trigger=5);
SELECT name FROM sqlite_schema ORDER BY name;
