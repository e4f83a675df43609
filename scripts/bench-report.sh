#!/usr/bin/env bash
# Regenerates the Engine and SQL figures of docs/BENCHMARKS.md: builds the bench binaries, runs
# bench_engine (lsm vs RocksDB vs LevelDB, then the cold phase if root) and bench_sql (native
# rowid / WITHOUT ROWID / lsm, then bench_vtfloor: the virtual-table interface alone) RUNS
# times each (medians; default 3), in a scratch directory on the real disk, and writes the
# Markdown to $OUT (default $BUILD/bench-report.md).
# With --docs it also replaces the text between the "bench-report" markers in
# docs/BENCHMARKS.md (only those two regions; the other sections are left alone).
#
#   scripts/bench-report.sh [--docs]          N=1M keys/rows, 3 runs (~40 min on 2 cores)
#   BENCH_N=10000000 BENCH_SQL_N=5000000 scripts/bench-report.sh   the issue's target sizes
# Environment: BUILD (build), BENCH_N (engine keys, 1000000), BENCH_SQL_N (SQL rows, = BENCH_N),
# BENCH_READS (reads per read phase, default min(N, 1M)), RUNS (3), BENCH_DIR (scratch dir),
# PARTS ("engine sql", the default, or one of them: only that region is run and spliced).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
N=${BENCH_N:-1000000}
SQL_N=${BENCH_SQL_N:-$N}
OUT=${OUT:-$BUILD/bench-report.md}
PARTS=${PARTS:-engine sql}
DOCS=0
[ "${1:-}" = "--docs" ] && DOCS=1

make --no-print-directory BUILD="$BUILD" "$BUILD/lsmvtab.so" "$BUILD/bench/bench_engine" \
  "$BUILD/bench/bench_sql" "$BUILD/bench/bench_vtfloor" >&2
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/lsmvtab-report.XXXXXX)}
trap 'rm -rf "$DIR"' EXIT
export LSMVTAB_EXT="$ROOT/$BUILD/lsmvtab"
unset BENCH_N BENCH_RUNS

machine() {
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')),"\
       "$(free -g | awk '/Mem:/{print $2}') GiB RAM, kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME"),"\
       "gcc $(gcc -dumpversion), SQLite $(sqlite3 --version | cut -d' ' -f1);"\
       "librocksdb $(dpkg-query -W -f='${Version}' librocksdb-dev 2>/dev/null || echo none),"\
       "libleveldb $(dpkg-query -W -f='${Version}' libleveldb-dev 2>/dev/null || echo none)."
  echo "Run $(date -u '+%F %H:%M UTC'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Page cache: $(reclaim)."
}

# Whether the guest evicts idle file pages by itself (a DAMON "pageout" scheme): such a machine
# drops a table's pages (and 2 MiB folios) between phases, which moves the read figures
# (docs/PERF-NOTES.md "Status after session 28").
reclaim() {
  local k a found=
  for k in /sys/kernel/mm/damon/admin/kdamonds/*; do
    [ "$(cat "$k/state" 2>/dev/null)" = on ] || continue
    for a in "$k"/contexts/*/schemes/*/action; do
      [ "$(cat "$a" 2>/dev/null)" = pageout ] && found=1
    done
  done
  if [ -n "$found" ]; then echo "a DAMON pageout scheme is on (idle file pages are evicted)"
  else echo "no DAMON pageout scheme"; fi
}

# The machine's CPU accounting over a part (all CPUs, from /proc/stat, in seconds): a host whose
# kernel time or steal is high runs every engine slower, native included, and changes the ratios.
cpu_ticks() { awk '/^cpu /{print $2+$3, $4, $8, $9}' /proc/stat; }
cpu_report() {
  local hz; hz=$(getconf CLK_TCK)
  set -- $1 $(cpu_ticks)
  echo "Machine CPU during this part (all CPUs): user $((($5 - $1) / hz)) s, system $((($6 - $2) / hz)) s," \
       "softirq $((($7 - $3) / hz)) s, steal $((($8 - $4) / hz)) s."
}

run_engine() {
  echo "<!-- bench-report engine begin -->"
  machine
  echo
  echo "Command: \`RUNS=$RUNS BENCH_N=$N scripts/bench-report.sh\` → \`bench_engine -n $N -R $RUNS\`"
  echo
  local t0; t0=$(cpu_ticks)
  (cd "$DIR" && "$ROOT/$BUILD/bench/bench_engine" -n "$N" -R "$RUNS")
  echo
  cpu_report "$t0"
  echo "<!-- bench-report engine end -->"
}
run_sql() {
  echo "<!-- bench-report sql begin -->"
  machine
  echo
  echo "Command: \`RUNS=$RUNS BENCH_SQL_N=$SQL_N scripts/bench-report.sh\` → \`bench_sql -n $SQL_N -R $RUNS\`"
  echo
  local t0; t0=$(cpu_ticks)
  (cd "$DIR" && "$ROOT/$BUILD/bench/bench_sql" -n "$SQL_N" -R "$RUNS")
  echo
  echo "The floor: SQLite's virtual-table interface alone (\`bench_vtfloor -n $SQL_N -R $RUNS\`: the"
  echo "same statements on a virtual table whose rows cost nothing; what lsm and native each pay above it is"
  echo "their own part):"
  echo
  (cd "$DIR" && "$ROOT/$BUILD/bench/bench_vtfloor" -n "$SQL_N" -R "$RUNS" | sed '1,2d')
  echo
  cpu_report "$t0"
  echo "<!-- bench-report sql end -->"
}
: > "$OUT"
for part in $PARTS; do
  case $part in
    engine) run_engine >> "$OUT" ;;
    sql) run_sql >> "$OUT" ;;
    *) echo "bench-report: unknown part '$part' in PARTS (engine, sql)" >&2; exit 2 ;;
  esac
done
echo "written: $OUT" >&2

if [ "$DOCS" = 1 ]; then
  # Splice each region into docs/BENCHMARKS.md between its markers (which must exist).
  python3 - "$OUT" docs/BENCHMARKS.md <<'EOF'
import re, sys
rep, doc = open(sys.argv[1]).read(), open(sys.argv[2]).read()
for part in ("engine", "sql"):
    pat = re.compile(r"<!-- bench-report %s begin -->.*?<!-- bench-report %s end -->" % (part, part), re.S)
    if not pat.search(rep):
        continue  # not run this time (PARTS)
    new = pat.search(rep).group(0)
    if not pat.search(doc):
        sys.exit("docs/BENCHMARKS.md has no bench-report %s markers" % part)
    doc = pat.sub(lambda m: new, doc)
open(sys.argv[2], "w").write(doc)
EOF
  echo "updated: docs/BENCHMARKS.md" >&2
fi
