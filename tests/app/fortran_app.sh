#!/usr/bin/env bash
# The Fortran example end to end: mpimr-wordcount-fortran (map and reduce in
# Fortran, through the module mpimr) counts generated corpora and a file of
# tabs, CRLF line ends and empty lines; wc_oracle checks the parts against its
# own count, and they must equal mpimr-wordcount's byte for byte. Also: a
# missing input fails on every rank with its name, usage errors exit 64, and
# --help prints the manual.
# usage: fortran_app.sh BIN_DIR ORACLE NP
set -euo pipefail
bin=$1 oracle=$2 np=$3
work=$(mktemp -d /tmp/mpimr-fortran-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"  # run NP PROGRAM ARGS...
fail() { echo "FAIL: $*"; exit 1; }

seed=$(( $(date +%s%N) % 1000000 + np ))
run "$np" "$bin/mpimr-gentext" -o "$work/zipf.txt" --size 6M --vocab 100000 --zipf 1.0 --seed "$seed"
printf 'alpha\tbeta  gamma\r\n\r\n\t\tdelta alpha\nlast line without end' > "$work/tabs.txt"
run "$np" "$bin/mpimr-wordcount-fortran" -o "$work/out" "$work/zipf.txt" "$work/tabs.txt"
"$oracle" "$work/out" "$np" "$work/zipf.txt" "$work/tabs.txt"
[ -e "$work/out/_SUCCESS" ] || fail "no _SUCCESS"
run "$np" "$bin/mpimr-wordcount" -q -o "$work/c" "$work/zipf.txt" "$work/tabs.txt"
cmp <(LC_ALL=C sort "$work"/out/part-*) <(LC_ALL=C sort "$work"/c/part-*) || fail "differs from mpimr-wordcount"

set +e
run "$np" "$bin/mpimr-wordcount-fortran" -o "$work/missing" "$work/no-such.txt" 2> "$work/err"
status=$?
set -e
[ "$status" -ne 0 ] && grep -q "rank 0: input '$work/no-such.txt': No such file or directory" "$work/err" ||
  fail "a missing input: status $status, $(cat "$work/err")"
[ ! -e "$work/missing/_SUCCESS" ] || fail "_SUCCESS after a failure"
set +e
run 1 "$bin/mpimr-wordcount-fortran" -o "$work/x" 2> "$work/err"
status=$?
set -e
[ "$status" -eq 64 ] && grep -q "no INPUT" "$work/err" || fail "usage error: status $status"
run 1 "$bin/mpimr-wordcount-fortran" --help > "$work/help"
grep -q SYNOPSIS "$work/help" || fail "--help prints no manual"
echo "fortran_app np=$np: ok"
