#!/usr/bin/env bash
# Runs every benchmark binary in $BUILD/bench, each with no arguments (a benchmark must run
# standalone), in a scratch directory (BENCH_DIR, default a temporary directory under /var/tmp
# so it is on the real disk). A benchmark that fails does not stop the others; the script exits
# non-zero and names the failed ones at the end.
set -uo pipefail
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/lsmvtab-bench.XXXXXX)}
export LSMVTAB_EXT="$ROOT/$BUILD/lsmvtab"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), $(date -u +%F)"
failed=()
for b in "$ROOT/$BUILD"/bench/bench_*; do
  [ -x "$b" ] || continue
  [ -n "${ONLY:-}" ] && ! [[ $(basename "$b") =~ $ONLY ]] && continue
  echo "== $(basename "$b")"
  rc=0
  # shellcheck disable=SC2086 # BENCH_ARGS is a word list on purpose
  (cd "$DIR" && "$b" ${BENCH_ARGS:-}) || rc=$?
  [ "$rc" -eq 0 ] || failed+=("$(basename "$b") (exit $rc)")
done
rm -rf "$DIR"
if [ ${#failed[@]} -gt 0 ]; then
  echo "run-bench: failed: ${failed[*]}" >&2
  exit 1
fi
