#!/usr/bin/env bash
# `make fuzz`: build every fuzz/fuzz_*.c as a libFuzzer target (clang -fsanitize=fuzzer,address,
# undefined; the engine and the ext decoders compiled with the same sanitizers) and run each for
# FUZZ_SECONDS (default 60) starting from its committed seed corpus fuzz/corpus/<target>/.
# New interesting inputs go to build-fuzz/corpus/<target>/ (not committed); a crash is written to
# fuzz/findings/<target>-crash-* : fix the bug, then move the file into fuzz/corpus/<target>/ so
# `make test` replays it forever (c-tests/test_fuzz_replay.c).
# Environment: FUZZ_SECONDS, FUZZ_TARGETS="block sst ..." (default: all), FUZZ_BUILD (build-fuzz).
# Prints one line per target (executions, corpus size, findings); exits non-zero on any finding.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=${FUZZ_SECONDS:-60}
OUT=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFL="-std=c11 -O1 -g -D_GNU_SOURCE -fno-omit-frame-pointer -Iengine"
mkdir -p "$OUT/obj" fuzz/findings
objs=()
for src in engine/*.c ext/keyenc.c ext/record.c ext/vtopts.c ext/dropmark.c; do
  o="$OUT/obj/$(echo "$src" | tr / _).o"
  if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find engine ext -name '*.h' -newer "$o" 2>/dev/null | head -1)" ]; then
    $CC $CFL $SAN -fsanitize=fuzzer-no-link -c "$src" -o "$o" || exit 1
  fi
  objs+=("$o")
done
targets=${FUZZ_TARGETS:-$(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_||; s|\.c$||')}
bad=0
summary=()
for t in $targets; do
  bin="$OUT/fuzz_$t"
  $CC $CFL $SAN -fsanitize=fuzzer "fuzz/fuzz_$t.c" "${objs[@]}" -o "$bin" -luring -lzstd -llz4 -lxxhash -lpthread -lm || exit 1
  mkdir -p "$OUT/corpus/$t"
  log="$OUT/fuzz_$t.log"
  before=$(ls fuzz/findings | grep -c "^$t-" || true)
  "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="fuzz/findings/$t-" "$OUT/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  after=$(ls fuzz/findings | grep -c "^$t-" || true)
  found=$((after - before))
  ncorp=$(ls "$OUT/corpus/$t" | wc -l)
  line="fuzz_$t: ${execs:-?} executions in ${SECS}s, corpus $ncorp new + $(ls fuzz/corpus/$t | wc -l) seeds, $found finding(s)"
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    bad=1
    line="$line — FAILED (exit $rc), see $log"
    grep -m3 -E 'ERROR|SUMMARY|==[0-9]+==' "$log"
  fi
  echo "$line"
  summary+=("$line")
done
echo "---"
printf '%s\n' "${summary[@]}"
exit $bad
