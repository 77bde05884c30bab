#!/usr/bin/env bash
# mpimr-gentext --trace end to end: the timeline is valid trace-event JSON with
# a track per rank and the spans the manual lists (one generate and one write
# per block, the setup and commit spans once per rank, in order on each
# track); tracing does not change a byte of the text; a trace that cannot be
# written fails the run with a message naming it, and leaves no file.
# usage: gentext_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
work=$(mktemp -d /tmp/mpimr-gentext-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"  # run NP PROGRAM ARGS...
check_trace() { python3 "$(dirname "$0")/../tools/check_trace.py" "$@"; }

# 5 MiB and a bit: six blocks, the last one short.
size=$((5 * 1024 * 1024 + 4321))
run "$np" "$bin/mpimr-gentext" -o "$work/traced.txt" --size "$size" --vocab 5000 --seed 11 --trace "$work/trace.json"
check_trace "$work/trace.json" --ranks "$np" --label mpimr-gentext \
  --once "build model" --once open --once close --once wait --once commit --each generate --each write \
  --total generate=6 --total write=6 --only --sequential

# The same text without a trace, at another rank count.
run 1 "$bin/mpimr-gentext" -o "$work/plain.txt" --size "$size" --vocab 5000 --seed 11
cmp "$work/traced.txt" "$work/plain.txt"
leftovers=$(find "$work" -name '*.tmp.*')
[ -z "$leftovers" ] || { echo "temporary files left: $leftovers"; exit 1; }

# A trace that cannot be written: status 1 and a message naming it; no trace file, the text is committed.
set +e
run "$np" "$bin/mpimr-gentext" -o "$work/again.txt" --size 1M --trace "$work/missing/trace.json" 2> "$work/err"
status=$?
set -e
[ "$status" -eq 1 ] && grep -q "$work/missing/trace.json" "$work/err" ||
  { echo "unwritable trace not reported (status $status)"; cat "$work/err"; exit 1; }
[ ! -e "$work/missing" ] && [ -s "$work/again.txt" ] || { echo "unexpected files after a failed trace"; exit 1; }

# Usage: an empty file name is a usage error; --help documents the option.
set +e
run "$np" "$bin/mpimr-gentext" -o "$work/x.txt" --size 1K --trace "" 2> "$work/err"
status=$?
set -e
[ "$status" -eq 64 ] && grep -q -- "--trace" "$work/err" || { echo "empty --trace accepted (status $status)"; exit 1; }
# (Into a file: grep -q would stop reading early and mpirun would see SIGPIPE.)
run 1 "$bin/mpimr-gentext" --help > "$work/help"
grep -q -- "--trace FILE" "$work/help"
echo "gentext_app np=$np: ok"
