#!/usr/bin/env bash
# Smoke test of mpimr-job-overhead: a few jobs with and without a combiner, pinning once and every
# job, at the given rank count. The program checks every key's sum against a closed form itself
# (exit status 1 if one is wrong); here: it succeeds, prints one row per phase with numbers, writes
# a timeline that parses, and refuses bad options with status 64. --help succeeds.
# usage: job_overhead_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
work=$(mktemp -d /tmp/mpimr-job-overhead-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"
program="$bin/mpimr-job-overhead"

"$program" --help | grep -q '^SYNOPSIS'
for options in "--jobs 5 --warm-up 1" "--jobs 4 --warm-up 0 --no-combine --pairs 1000" \
  "--jobs 3 --pin-every-job --pairs 1"; do
  # shellcheck disable=SC2086  # the options are words
  run "$np" "$program" $options --trace "$work/trace.json" > "$work/out.txt"
  for phase in mpimr_job_create mpimr_job_run mpimr_job_free "of which map" "of which reduce"; do
    grep -Eq "^ *$phase +[0-9]+[.][0-9]" "$work/out.txt" || {
      echo "job_overhead_app: no figure for '$phase' with $options:" >&2
      cat "$work/out.txt" >&2
      exit 1
    }
  done
  /usr/bin/python3 -c 'import json, sys; events = json.load(open(sys.argv[1]))["traceEvents"]; assert any(e.get("name") == "reduce" for e in events)' "$work/trace.json"
done
status=0
"$program" --jobs 0 > /dev/null 2>&1 || status=$?
[ "$status" -eq 64 ] || { echo "job_overhead_app: --jobs 0 exited $status, not 64" >&2; exit 1; }
status=0
"$program" --bogus > /dev/null 2>&1 || status=$?
[ "$status" -eq 64 ] || { echo "job_overhead_app: --bogus exited $status, not 64" >&2; exit 1; }
echo "job_overhead_app: np $np passed"
