#!/usr/bin/python3
"""The lsm virtual table used from another language (issue 5): Debian's /usr/bin/python3 and its
sqlite3 module load the extension and run a small workload: inserts in a transaction, point,
range, IN and ORDER BY DESC queries with bound parameters, update, delete, rollback, savepoints,
a second connection (shared engine), another process (SQLITE_BUSY), reopening the database,
lsm_stats, DROP TABLE. Every result is checked; any failure exits non-zero with a
message. Environment: LSMVTAB_EXT = extension path without .so; cwd is a scratch directory.
"""
import json
import os
import random
import sqlite3
import subprocess
import sys

SEED = 5


def fail(msg):
    print("test_python FAILED (seed %d): %s" % (SEED, msg), file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def connect(path):
    # isolation_level=None: the test issues BEGIN/COMMIT itself, so what runs is what we wrote.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(os.environ["LSMVTAB_EXT"])
    conn.enable_load_extension(False)
    return conn


def rows(conn, sql, params=()):
    return conn.execute(sql, params).fetchall()


def main():
    if "LSMVTAB_EXT" not in os.environ:
        fail("LSMVTAB_EXT is not set")
    rng = random.Random(SEED)
    conn = connect("py.db")
    check(isinstance(rows(conn, "SELECT lsm_version()")[0][0], str), "lsm_version() is not text")

    conn.execute("CREATE VIRTUAL TABLE kv USING lsm(id INTEGER, name TEXT, score REAL, data BLOB,"
                 " PRIMARY KEY(id))")
    conn.execute("CREATE VIRTUAL TABLE pair USING lsm(a TEXT, b INTEGER, v, PRIMARY KEY(a, b))")

    # The model: what the table must contain.
    model = {}
    conn.execute("BEGIN")
    for i in range(2000):
        k = rng.randrange(0, 5000)
        row = ("n%d" % k, k / 4.0, bytes([k % 256, 7]) if k % 3 else None)
        conn.execute("INSERT OR REPLACE INTO kv VALUES(?, ?, ?, ?)", (k,) + row)
        model[k] = row
    conn.execute("COMMIT")
    check(rows(conn, "SELECT count(*) FROM kv")[0][0] == len(model), "count after insert")

    def expect_all(when):
        got = rows(conn, "SELECT id, name, score, data FROM kv ORDER BY id")
        want = [(k,) + model[k] for k in sorted(model)]
        if got != want:
            diff = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), None)
            fail("%s: table differs from the model (%d vs %d rows; first difference at %s: %r vs %r)"
                 % (when, len(got), len(want), diff, got[diff] if diff is not None else None,
                    want[diff] if diff is not None else None))

    expect_all("after the insert transaction")

    # point lookups, present and absent, with bound parameters of several types
    for _ in range(200):
        k = rng.randrange(0, 5000)
        got = rows(conn, "SELECT name, score, data FROM kv WHERE id = ?", (k,))
        check(got == ([model[k]] if k in model else []), "point lookup id=%d: %r" % (k, got))
    some = sorted(model)[len(model) // 2]
    check(rows(conn, "SELECT id FROM kv WHERE id = ?", (str(some),)) == [(some,)],
          "text parameter '%d' must find the integer key (INTEGER affinity)" % some)
    check(rows(conn, "SELECT id FROM kv WHERE id = ?", (float(some),)) == [(some,)],
          "real parameter %d.0 must find the integer key" % some)

    # ranges, both directions, with LIMIT/OFFSET
    for _ in range(50):
        lo = rng.randrange(0, 5000)
        hi = lo + rng.randrange(0, 300)
        want = [k for k in sorted(model) if lo <= k < hi]
        got = [r[0] for r in rows(conn, "SELECT id FROM kv WHERE id >= ? AND id < ? ORDER BY id",
                                  (lo, hi))]
        check(got == want, "range [%d, %d): %d rows, want %d" % (lo, hi, len(got), len(want)))
        got = [r[0] for r in rows(conn, "SELECT id FROM kv WHERE id BETWEEN ? AND ? "
                                  "ORDER BY id DESC LIMIT 5 OFFSET 2", (lo, hi))]
        want = [k for k in sorted(model, reverse=True) if lo <= k <= hi][2:7]
        check(got == want, "range [%d, %d] DESC LIMIT 5 OFFSET 2: %r, want %r" % (lo, hi, got, want))

    # IN with duplicates and a NULL
    keys = [rng.randrange(0, 5000) for _ in range(30)]
    keys += keys[:5]
    sql = "SELECT id FROM kv WHERE id IN (%s) ORDER BY id" % ", ".join(["?"] * (len(keys) + 1))
    got = [r[0] for r in rows(conn, sql, keys + [None])]
    check(got == sorted(set(k for k in keys if k in model)), "IN list: %r" % got)

    # ORDER BY ... DESC LIMIT
    got = [r[0] for r in rows(conn, "SELECT id FROM kv ORDER BY id DESC LIMIT 10")]
    check(got == sorted(model, reverse=True)[:10], "ORDER BY id DESC LIMIT 10: %r" % got)

    # update and delete (autocommit), checked against the model
    conn.execute("UPDATE kv SET score = score * 2, name = name || '!' WHERE id < 1000")
    for k in list(model):
        if k < 1000:
            n, s, d = model[k]
            model[k] = (n + "!", s * 2, d)
    cur = conn.execute("DELETE FROM kv WHERE id % 7 = 0")
    gone = [k for k in model if k % 7 == 0]
    check(cur.rowcount == len(gone), "DELETE rowcount %d, want %d" % (cur.rowcount, len(gone)))
    for k in gone:
        del model[k]
    expect_all("after update and delete")

    # a duplicate key: the native message and error class
    k = next(iter(model))
    try:
        conn.execute("INSERT INTO kv(id, name) VALUES(?, 'dup')", (k,))
        fail("duplicate key %d was accepted" % k)
    except sqlite3.IntegrityError as e:
        check(str(e) == "UNIQUE constraint failed: kv.id", "duplicate key message: %r" % str(e))

    # rollback discards everything the transaction did
    conn.execute("BEGIN")
    conn.execute("DELETE FROM kv WHERE id < 2500")
    conn.execute("INSERT INTO kv(id, name) VALUES(100000, 'rolled back')")
    check(rows(conn, "SELECT count(*) FROM kv WHERE id < 2500")[0][0] == 0,
          "a transaction must see its own delete")
    check(rows(conn, "SELECT name FROM kv WHERE id = 100000") == [("rolled back",)],
          "a transaction must see its own insert")
    conn.execute("ROLLBACK")
    expect_all("after rollback")

    # savepoints, composite keys
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO pair VALUES(?, ?, ?)",
                     [(a, b, a * b) for a in ("x", "y", "z") for b in range(5)])
    conn.execute("SAVEPOINT sp")
    conn.execute("DELETE FROM pair WHERE a = 'y'")
    conn.execute("ROLLBACK TO sp")
    conn.execute("UPDATE pair SET v = NULL WHERE a = 'z' AND b >= 3")
    conn.execute("RELEASE sp")
    conn.execute("COMMIT")
    got = rows(conn, "SELECT a, b, v FROM pair WHERE a = 'z' ORDER BY b DESC")
    check(got == [("z", 4, None), ("z", 3, None), ("z", 2, "zz"), ("z", 1, "z"), ("z", 0, "")],
          "composite key after savepoints: %r" % got)
    got = rows(conn, "SELECT count(*) FROM pair WHERE a = 'y' AND b BETWEEN 1 AND 3")
    check(got == [(3,)], "composite prefix + range: %r" % got)

    # lsm_stats is JSON
    stats = rows(conn, "SELECT lsm_stats('kv')")[0][0]
    try:
        json.loads(stats)
    except ValueError as e:
        fail("lsm_stats('kv') is not JSON (%s): %r" % (e, stats[:200]))

    # a second connection of this process shares the table (one engine): it sees the commits
    # of the first, and the first sees its writes
    conn2 = connect("py.db")
    check(rows(conn2, "SELECT count(*) FROM kv")[0][0] == len(model), "2nd connection: count")
    conn2.execute("INSERT INTO kv(id, name) VALUES(200000, 'from conn2')")
    check(rows(conn, "SELECT name FROM kv WHERE id = 200000") == [("from conn2",)],
          "1st connection must see the 2nd connection's commit")
    conn.execute("DELETE FROM kv WHERE id = 200000")
    check(rows(conn2, "SELECT count(*) FROM kv WHERE id = 200000")[0][0] == 0,
          "2nd connection must see the 1st connection's delete")
    conn2.close()

    # another process: SQLITE_BUSY with a message saying the table is locked by another process
    child = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect('py.db', isolation_level=None)\n"
        "c.enable_load_extension(True)\n"
        "c.load_extension(sys.argv[1])\n"
        "try:\n"
        "    c.execute('SELECT count(*) FROM kv').fetchall()\n"
        "    print('NO ERROR')\n"
        "except sqlite3.Error as e:\n"
        "    print(getattr(e, 'sqlite_errorname', '?'), e)\n")
    r = subprocess.run([sys.executable, "-c", child, os.environ["LSMVTAB_EXT"]],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout.strip()
    check(r.returncode == 0, "child process failed: %r %r" % (out, r.stderr[-500:]))
    check(out.startswith("SQLITE_BUSY") and "locked by another process" in out,
          "another process must get SQLITE_BUSY 'locked by another process', got %r" % out)

    # close and reopen: the data is still there
    conn.close()
    conn = connect("py.db")
    expect_all("after reopen")
    check(rows(conn, "SELECT count(*) FROM pair")[0][0] == 15, "pair after reopen")

    # DROP TABLE removes the table
    conn.execute("DROP TABLE pair")
    check(not os.path.exists("py.db-lsm/pair"), "py.db-lsm/pair still exists after DROP TABLE")
    conn.close()
    print("test_python: ok")


if __name__ == "__main__":
    try:
        main()
    except sqlite3.Error as e:
        fail("unexpected sqlite3 error: %s: %s" % (type(e).__name__, e))
