-- CREATE VIRTUAL TABLE ... USING lsm(...): columns, keys, options, and every kind of bad input
-- rejected with a message naming it. (SQLite's tokenizer rejects 1MB unquoted: sizes are written
-- '1MB', "1MB" or 1 MB.)
CREATE VIRTUAL TABLE ok1 USING lsm(k INTEGER PRIMARY KEY, v TEXT NOT NULL, w);
CREATE VIRTUAL TABLE ok2 USING lsm(a TEXT, "b c" VARCHAR(10), d DECIMAL(10, 2), PRIMARY KEY(a, "b c"));
CREATE VIRTUAL TABLE ok3 USING lsm(x, y, memtable_size='1MB', cache_size='16 MiB', block_size=8 k,
  compression=none, compression_level=5, bloom_bits=12, sync=full, io=sync);
CREATE VIRTUAL TABLE ok4 USING lsm(x PRIMARY KEY, compression=zstd, sync=off, io=uring, memtable_size=65536);
CREATE VIRTUAL TABLE ok5 USING lsm(x COLLATE BINARY PRIMARY KEY, y TEXT COLLATE NOCASE);
INSERT INTO ok2 VALUES('a', 'b', 1.5);
INSERT INTO ok3 VALUES(1, 2);
INSERT INTO ok4 VALUES(1);
INSERT INTO ok5 VALUES('k', 'ABC');
SELECT * FROM ok2;
SELECT rowid, * FROM ok3;
SELECT * FROM ok4;
SELECT x FROM ok5 WHERE y = 'abc';
-- errors
CREATE VIRTUAL TABLE e1 USING lsm(a, nosuch=1);
CREATE VIRTUAL TABLE e2 USING lsm(a, memtable_size=abc);
CREATE VIRTUAL TABLE e3 USING lsm(a, memtable_size='12XB');
CREATE VIRTUAL TABLE e4 USING lsm(a, compression=snappy);
CREATE VIRTUAL TABLE e5 USING lsm(a, compression_level=99);
CREATE VIRTUAL TABLE e6 USING lsm(a, bloom_bits=-1);
CREATE VIRTUAL TABLE e7 USING lsm(a, sync=sometimes);
CREATE VIRTUAL TABLE e8 USING lsm(a, io=aio);
CREATE VIRTUAL TABLE e9 USING lsm(a, block_size=100);
CREATE VIRTUAL TABLE e10 USING lsm(a, dir=);
CREATE VIRTUAL TABLE e11 USING lsm(a, a);
CREATE VIRTUAL TABLE e12 USING lsm(a, PRIMARY KEY(b));
CREATE VIRTUAL TABLE e13 USING lsm(a PRIMARY KEY, b, PRIMARY KEY(b));
CREATE VIRTUAL TABLE e14 USING lsm(a UNIQUE);
CREATE VIRTUAL TABLE e15 USING lsm(a DEFAULT 3);
CREATE VIRTUAL TABLE e16 USING lsm(a, CHECK(a > 0));
CREATE VIRTUAL TABLE e17 USING lsm(rowid, b);
CREATE VIRTUAL TABLE e18 USING lsm(_lsm_key);
CREATE VIRTUAL TABLE e19 USING lsm(a TEXT COLLATE NOCASE PRIMARY KEY);
CREATE VIRTUAL TABLE e20 USING lsm(memtable_size='1MB');
CREATE VIRTUAL TABLE e21 USING lsm(a, PRIMARY KEY(a, a));
CREATE VIRTUAL TABLE e22 USING lsm();
SELECT name FROM sqlite_schema ORDER BY name;
-- an option given twice is refused (which one would hold?)
CREATE VIRTUAL TABLE dup USING lsm(k PRIMARY KEY, sync=full, SYNC=off);
