#!/usr/bin/env bash
# Runs every benchmark binary in $BUILD/bench in a scratch directory (BENCH_DIR, default a
# temporary directory under /var/tmp so it is on the real disk).
set -euo pipefail
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/lsmvtab-bench.XXXXXX)}
export LSMVTAB_EXT="$ROOT/$BUILD/lsmvtab"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), $(date -u +%F)"
for b in "$ROOT/$BUILD"/bench/bench_*; do
  [ -x "$b" ] || continue
  [ -n "${ONLY:-}" ] && ! [[ $(basename "$b") =~ $ONLY ]] && continue
  echo "== $(basename "$b")"
  (cd "$DIR" && "$b" ${BENCH_ARGS:-})
done
rm -rf "$DIR"
