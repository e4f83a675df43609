#!/usr/bin/env bash
# The main job (`make demo`): the lsm extension in the sqlite3 shell. A fresh database in a
# temporary directory; scripts/demo.sql creates an lsm table, inserts 1M rows, runs point,
# range, IN and ORDER BY ... DESC LIMIT queries with timings and prints lsm_stats.
set -euo pipefail
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EXT="$ROOT/$BUILD/lsmvtab"
DIR=$(mktemp -d /tmp/lsmvtab-demo.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
cd "$DIR"
# Before the `lsm` module is built into the extension there is nothing to demo but the version.
if [ "$(sqlite3 -batch -cmd ".load $EXT" :memory: \
        "SELECT count(*) FROM pragma_module_list WHERE name = 'lsm'")" != 1 ]; then
  echo "The extension has no 'lsm' module yet; it loads and reports:"
  sqlite3 -batch -cmd ".load $EXT" :memory: "SELECT 'lsm_version() = ' || lsm_version();"
  exit 0
fi
# -bail: a failing statement ends the demo with an error instead of scrolling past it.
sqlite3 -batch -bail -cmd ".load $EXT" demo.db < "$ROOT/scripts/demo.sql"
echo
echo "Files of the table (demo.db-lsm/users):"
du -sh demo.db-lsm/users 2>/dev/null || ls -la demo.db-lsm 2>/dev/null || true
