#!/usr/bin/env bash
# The main job: the lsm extension in the sqlite3 shell.
set -euo pipefail
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mktemp -d /tmp/lsmvtab-demo.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
cd "$DIR"
sqlite3 -batch -echo -cmd ".load $ROOT/$BUILD/lsmvtab" demo.db < "$ROOT/scripts/demo.sql"
