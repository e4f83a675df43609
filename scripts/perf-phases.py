#!/usr/bin/env python3
"""Split a perf profile of bench_engine or bench_sql by benchmark phase.

  perf record -F 499 --call-graph dwarf,16384 -o perf.data build-prof/bench/bench_engine -e lsm -W
  perf script -i perf.data -F comm,tid,ip,sym | scripts/perf-phases.py

(build-prof: make BUILD=build-prof OPT="-O2 -fno-omit-frame-pointer" ...). Each sample is tagged
by the bench function on its stack (do_read, do_scan, ... / readrandom, scanrange, ...) or the
engine's background thread (flush_main, compact_main); prints per phase the share of samples,
the top self symbols and the top inclusive symbols.
"""
import collections
import re
import sys

TAGS = [  # checked in this order; the first function found anywhere on the stack wins
    ("do_fill", "fill"), ("do_overwrite", "overwrite"), ("do_read", "readrandom+readmissing"),
    ("do_seekrandom", "seekrandom"), ("do_multiget", "multiget"), ("do_delete", "deleterandom"),
    ("fill", "sql fill"), ("readrandom", "sql readrandom"), ("readseq", "sql readseq"),
    ("scanrange", "sql scanrange"), ("inlist", "sql IN-list + single"),
    ("modify", "sql update/delete"),
    ("flush_main", "background flush"), ("compact_main", "background compaction"),
]

flat = collections.defaultdict(collections.Counter)
incl = collections.defaultdict(collections.Counter)
tot = collections.Counter()


def account(stack):
    if not stack:
        return
    ss = set(stack)
    tag = next((t for f, t in TAGS if f in ss), None)
    if tag is None and "do_scan" in ss:
        tag = "readreverse" if ("m_prev" in ss or "m_last" in ss) else "readseq"
    tag = tag or "other"
    tot[tag] += 1
    flat[tag][stack[0]] += 1
    for s in ss:
        incl[tag][s] += 1


stack = []
for line in sys.stdin:
    if not line.strip():
        account(stack)
        stack = []
    elif not line[0].isspace():
        stack = []  # a sample header
    else:
        m = re.match(r"\s+[0-9a-f]+\s+(\S+)", line)
        if m:
            stack.append(re.sub(r"\+0x[0-9a-f]+$", "", m.group(1)))
account(stack)

total = sum(tot.values()) or 1
for tag, n in tot.most_common():
    print("== %s: %d samples (%.1f%%)" % (tag, n, 100.0 * n / total))
    print("   self: " + ", ".join("%s %.1f%%" % (s, 100.0 * c / n) for s, c in flat[tag].most_common(12)))
    print("   incl: " + ", ".join("%s %.1f%%" % (s, 100.0 * c / n) for s, c in incl[tag].most_common(24)))
