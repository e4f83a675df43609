#!/usr/bin/env bash
# Runs every C test binary in $BUILD/tests and every sql-tests/NAME.sql, then prints one
# summary line "N passed, N failed" and exits non-zero if anything failed.
#
# C tests use cmocka: each test case counts once ("[       OK ]" = pass; a RUN without OK =
# fail; a binary that dies without any case result counts as one failure).
# SQL tests: NAME.sql runs through the real sqlite3 shell, in a fresh temporary directory, with
# the extension loaded; stdout+stderr are compared with NAME.expected, a diff shown on mismatch.
# Environment: BUILD (default build), VALGRIND=1 (C tests under valgrind memcheck; exports
# LSMVTAB_VALGRIND=1 so the tests scale their long loops down, see c-tests/vg_util.h; with
# --fair-sched=yes: valgrind runs one thread at a time, and its default hand-off let
# test_concurrency's readers starve the writer, 1 batch against 1.48M reads in session 12),
# ONLY=regex (run only tests whose name matches), SQL_VFS=uring (open the SQL tests' database
# through that VFS; sql-tests are run once plain and once through uring when the VFS exists).
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ABSBUILD=$(cd "$ROOT/$BUILD" && pwd)
export LSMVTAB_EXT="$ABSBUILD/lsmvtab"
export LSMVTAB_ROOT="$ROOT"
passed=0; failed=0; failures=()
[ "${VALGRIND:-0}" = 1 ] && export LSMVTAB_VALGRIND=1
TMPROOT=$(mktemp -d /tmp/lsmvtab-test.XXXXXX)
trap 'rm -rf "$TMPROOT"' EXIT

# An ASan-built extension loaded into the plain sqlite3 shell needs the runtime preloaded.
PRELOAD=""
if nm -D "$ABSBUILD/lsmvtab.so" 2>/dev/null | grep -q __asan_init; then
  PRELOAD=$(${CC:-gcc} -print-file-name=libasan.so)
fi
# Leak checking stays on for the C tests; the sqlite3 shell and python (not built with ASan)
# leak on exit by design, so their runs turn it off.
HOSTASAN=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

run_c() {
  local bin=$1 name out rc ok run
  name=$(basename "$bin")
  out="$TMPROOT/$name.out"
  local wrap=()
  [ "${VALGRIND:-0}" = 1 ] && wrap=(valgrind -q --fair-sched=yes --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite)
  local t0=$SECONDS
  ( cd "$TMPROOT" && mkdir -p "w-$name" && cd "w-$name" && timeout 900 "${wrap[@]}" "$bin" ) >"$out" 2>&1
  rc=$?
  local secs=""
  [ "${VALGRIND:-0}" = 1 ] && secs=", $((SECONDS - t0)) s"
  ok=$(grep -c '^\[       OK \]' "$out")
  run=$(grep -c '^\[ RUN      \]' "$out")
  passed=$((passed + ok))
  local bad=$((run - ok))
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
  if [ "$bad" -gt 0 ]; then
    failed=$((failed + bad)); failures+=("$name")
    echo "FAIL $name (exit $rc$secs)"; tail -n 40 "$out"
  else
    echo "ok   $name ($ok cases$secs)"
  fi
}

run_sql() {
  local sql=$1 vfs=${2:-} name dir out
  name=$(basename "$sql" .sql)${vfs:+@$vfs}
  dir="$TMPROOT/sql-$name"; mkdir -p "$dir"
  out="$dir/out"
  # The VFS exists only once the extension is loaded, and .open makes a new connection that
  # needs the extension loaded again.
  local open=(-cmd ".load $LSMVTAB_EXT" test.db)
  [ -n "$vfs" ] && open=(-cmd ".load $LSMVTAB_EXT" -cmd ".open file:test.db?vfs=$vfs" -cmd ".load $LSMVTAB_EXT")
  ( cd "$dir" && LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$HOSTASAN" timeout 600 sqlite3 -batch "${open[@]}" < "$sql" ) >"$out" 2>&1
  if diff -u "${sql%.sql}.expected" "$out" >"$dir/diff"; then
    passed=$((passed + 1)); echo "ok   sql/$name"
  else
    failed=$((failed + 1)); failures+=("sql/$name"); echo "FAIL sql/$name"; head -n 60 "$dir/diff"
  fi
}

for bin in "$ABSBUILD"/tests/test_*; do
  [ -x "$bin" ] || continue
  [ -n "${ONLY:-}" ] && ! [[ $(basename "$bin") =~ $ONLY ]] && continue
  run_c "$bin"
done
# Tests in other languages: c-tests/test_*.py run with Debian's python3 (exit 0 = pass).
for py in "$ROOT"/c-tests/test_*.py; do
  [ -f "$py" ] || continue
  [ -n "${ONLY:-}" ] && ! [[ $(basename "$py") =~ $ONLY ]] && continue
  name=$(basename "$py"); out="$TMPROOT/$name.out"; mkdir -p "$TMPROOT/w-$name"
  if ( cd "$TMPROOT/w-$name" && LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$HOSTASAN" timeout 600 /usr/bin/python3 "$py" ) >"$out" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name"; tail -n 40 "$out"
  fi
done
vfslist=("")
# (asked of the loaded extension: lsmvtab.so exports no symbol but its entry points)
if LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$HOSTASAN" sqlite3 -batch :memory: -cmd ".load $LSMVTAB_EXT" .vfslist 2>/dev/null |
  grep -q '^vfs.zName *= *"uring"'; then vfslist+=(uring); fi
for sql in "$ROOT"/sql-tests/*.sql; do
  [ -f "$sql" ] || continue
  [ -n "${ONLY:-}" ] && ! [[ $(basename "$sql") =~ $ONLY ]] && continue
  for v in "${vfslist[@]}"; do run_sql "$sql" "$v"; done
done
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
