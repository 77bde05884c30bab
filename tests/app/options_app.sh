#!/usr/bin/env bash
# Every program's malformed or out-of-range option values end in a usage
# error: exit status 64, one message on stderr naming the program, nothing
# written, no crash. One table drives it: PROGRAM | ARGUMENTS | a piece of
# the expected message. Each row runs as a one-rank MPI job; a valid
# input file and output path are filled in where a row needs them, so the
# only thing wrong is the option under test. Then launch mistakes: a program
# that is one of several one-rank worlds (SLURM_STEP_NUM_TASKS=4) refuses to
# write.
# usage: options_app.sh BIN_DIR
set -euo pipefail
bin=$1
work=$(mktemp -d /tmp/mpimr-options-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"  # run NP PROGRAM ARGS...
printf 'some words\n' > "$work/in.txt"
in=$work/in.txt

# PROGRAM | ARGUMENTS (IN and OUT stand for a valid input and output) | expected message piece
table=$(cat <<'EOF'
wordcount | --round-size 0 -o OUT IN | --round-size must be a size
wordcount | --round-size 2G -o OUT IN | --round-size must be a size
wordcount | --round-size 12Q -o OUT IN | --round-size must be a size
wordcount | --rounds-in-flight 0 -o OUT IN | --rounds-in-flight must be an integer
wordcount | --rounds-in-flight 9 -o OUT IN | --rounds-in-flight must be an integer
wordcount | --rounds-in-flight two -o OUT IN | --rounds-in-flight must be an integer
wordcount | --transport carrier-pigeon -o OUT IN | --transport must be
wordcount | --peer-window 0 -o OUT IN | --peer-window must be an integer
wordcount | --peer-window -3 -o OUT IN | --peer-window must be an integer
wordcount | --ranks-per-node -1 -o OUT IN | --ranks-per-node must be an integer
wordcount | --ranks-per-node many -o OUT IN | --ranks-per-node must be an integer
wordcount | --read-size 1K -o OUT IN | --read-size must be a size
wordcount | --memory 1M -o OUT IN | --memory must be a size
wordcount | --memory 99999999999999999999 -o OUT IN | --memory must be a size
wordcount | --spill-dir= -o OUT IN | --spill-dir must name a directory
wordcount | --pin sideways -o OUT IN | --pin must be
wordcount | --format xml -o OUT IN | --format must be
wordcount | --combine-size 1 -o OUT IN | --combine-size must be a size
wordcount | --combine-size 5G -o OUT IN | --combine-size must be a size
wordcount | --stall-warning -1 -o OUT IN | --stall-warning must be a number of seconds
wordcount | --stall-warning nan -o OUT IN | --stall-warning must be a number of seconds
wordcount | --stall-warning soon -o OUT IN | --stall-warning must be a number of seconds
wordcount | --stall-timeout -5 -o OUT IN | --stall-timeout must be a number of seconds
wordcount | --stall-timeout inf -o OUT IN | --stall-timeout must be a number of seconds
wordcount | --stall-timeout 1e10 -o OUT IN | --stall-timeout must be a number of seconds
wordcount | --bogus -o OUT IN | unknown option
wordcount | -o OUT | no INPUT
wordcount | IN | -o OUTDIR is required
wordcount | IN -o | needs a value
invindex | --postings-per-line 0 -o OUT IN | --postings-per-line must be an integer
invindex | --postings-per-line 1000001 -o OUT IN | --postings-per-line must be an integer
invindex | --postings-per-line x -o OUT IN | --postings-per-line must be an integer
invindex | --memory 0 -o OUT IN | --memory must be a size
invindex | IN | -o OUTDIR is required
sort | --memory 15M -o OUT IN | --memory must be a size
sort | --lines=yes -o OUT IN | unknown option
sort | --transport -o OUT IN | --transport must be
sort | --stall-timeout 10s -o OUT IN | --stall-timeout must be a number of seconds
sort | -o OUT | no INPUT
sort | IN | -o OUTDIR is required
gentext | -o OUT --size -1 | size
gentext | -o OUT --size 1Z | size
gentext | -o OUT --size 1M --vocab 0 | vocab
gentext | -o OUT --size 1M --vocab 10000001 | vocab
gentext | -o OUT --size 1M --zipf -1 | zipf
gentext | -o OUT --size 1M --zipf nan | zipf
gentext | -o OUT --size 1M --words-per-line 0 | words-per-line
gentext | -o OUT --size 1M --seed -5 | seed
gentext | --size 1M | required
gentext | -o OUT | required
gentext | -o OUT --size 1M extra | unexpected argument
gensort | -n -1 OUT | records
gensort | -n 1125899906842625 OUT | records
gensort | --size 1X OUT | size
gensort | -n 10 --keys sorted OUT | keys
gensort | -n 10 --keys skewed --distinct 0 OUT | distinct
gensort | -n 10 --distinct 10000001 OUT | distinct
gensort | -n 10 -b -1 OUT | start-row
gensort | -n 10 --size 1K OUT | once
gensort | OUT | once
gensort | -n 10 | FILE
gensort | -n 10 OUT OUT | FILE
valsort | --expect-records x IN | expect-records
valsort | --expect-checksum xyz IN | expect-checksum
valsort | --expect-checksum 123456789012345678901234567890123 IN | expect-checksum
valsort | --lines | INPUT
valsort | --bogus IN | unrecognized option
shuffle-bench | --pattern diagonal | --pattern
shuffle-bench | --min-size 0 | min-size
shuffle-bench | --min-size 8K --max-size 4K | max-size
shuffle-bench | --iterations 0 | iterations
shuffle-bench | --repeat 0 | repeat
shuffle-bench | --transport telepathy | transport
shuffle-bench | --sparse-peers 0 | sparse-peers
shuffle-bench | --zipf-exponent 9 | zipf-exponent
shuffle-bench | --idle napping | idle
shuffle-bench | --stat mode | stat
shuffle-bench | --bogus | option
large-round | --transport shared-memory | transport
large-round | --value-size 2G | value-size
large-round | --round-size 2G | round-size
large-round | --bogus | option
EOF
)

# mpirun waits a second before killing the ranks of a job that exited non-zero; they have exited.
export OMPI_MCA_odls_base_sigkill_timeout=0

# Runs row N (program, arguments, expected piece) and writes what is wrong with it, if anything, to
# $work/problem.N. Rows run four at a time: each is mostly MPI start-up.
check_row() {
  local n=$1 program=$2 arguments=$3 expected=$4
  local dir=$work/row.$n
  mkdir "$dir"
  # shellcheck disable=SC2206  # the table's arguments are split on spaces on purpose
  local args=($arguments) i status problem=""
  for i in "${!args[@]}"; do
    case ${args[$i]} in IN) args[$i]=$in ;; OUT) args[$i]=$dir/out ;; esac
  done
  set +e
  run 1 "$bin/mpimr-$program" "${args[@]}" > "$dir/stdout" 2> "$dir/stderr"
  status=$?
  set -e
  [ "$status" -eq 64 ] || problem="exit status $status, not 64"
  grep -q "mpimr-$program" "$dir/stderr" || problem="${problem:+$problem; }stderr does not name the program"
  grep -qF -- "$expected" "$dir/stderr" || problem="${problem:+$problem; }stderr lacks '$expected'"
  if grep -qE "Segmentation|core dumped|Sanitizer|runtime error|on signal" "$dir/stderr"; then
    problem="${problem:+$problem; }it crashed"
  fi
  [ ! -e "$dir/out" ] || problem="${problem:+$problem; }it wrote its output"
  if [ -n "$problem" ]; then
    { echo "FAIL: mpimr-$program $arguments: $problem"; sed 's/^/    /' "$dir/stderr"; } > "$work/problem.$n"
  fi
  : > "$work/checked.$n"
}

rows=0
while IFS='|' read -r program arguments expected; do
  program=$(echo "$program" | xargs) expected=$(echo "$expected" | sed -e 's/^ *//' -e 's/ *$//')
  [ -n "$program" ] || continue
  rows=$((rows + 1))
  while [ "$(jobs -rp | wc -l)" -ge 4 ]; do wait -n || true; done
  check_row "$rows" "$program" "$arguments" "$expected" &
done <<< "$table"
wait
failed=0
for problem in "$work"/problem.*; do
  [ -e "$problem" ] || continue
  failed=$((failed + 1))
  cat "$problem" >&2
done
# Launch mistakes: srun (or a launcher without MPI support) started several processes that each
# became a one-rank world. Every program that writes stops with exit status 1 naming the cause,
# and writes nothing (run directly, without mpirun: a singleton world).
launch=0
for row in "wordcount|-o $work/l-wc $in" "sort|-o $work/l-sort $in" "gentext|-o $work/l-gen.txt --size 1K" \
           "pagerank|-o $work/l-pr --rmat-scale 3" "cc|-o $work/l-cc $in"; do
  program=${row%%|*}
  read -r -a arguments <<<"${row#*|}"
  set +e
  SLURM_STEP_NUM_TASKS=4 "$bin/mpimr-$program" "${arguments[@]}" >/dev/null 2>"$work/launch.err"
  status=$?
  set -e
  if [ "$status" -ne 1 ] || ! grep -q "one-rank MPI world, but srun started 4 tasks" "$work/launch.err" ||
     [ -n "$(find "$work" -maxdepth 1 -name 'l-*' -print -quit)" ]; then
    echo "mpimr-$program as one of 4 one-rank worlds: status $status, wrote: $(ls "$work" | grep '^l-')" >&2
    cat "$work/launch.err" >&2
    failed=$((failed + 1))
  fi
  launch=$((launch + 1))
done
# A bad MPIMR_MESSAGE_LIMIT (the test knob that cuts messages small) fails the job, naming it.
for value in 0 12x -5 3000000000; do
  set +e
  MPIMR_MESSAGE_LIMIT=$value run 1 "$bin/mpimr-wordcount" -o "$work/k-wc" "$in" >/dev/null 2>"$work/knob.err"
  status=$?
  set -e
  if [ "$status" -eq 0 ] || ! grep -qF "MPIMR_MESSAGE_LIMIT=$value: not a message size in bytes" "$work/knob.err" ||
     [ -e "$work/k-wc/_SUCCESS" ]; then
    echo "MPIMR_MESSAGE_LIMIT=$value: status $status:" >&2
    cat "$work/knob.err" >&2
    failed=$((failed + 1))
  fi
  rm -rf "$work/k-wc"
done
checked=$(find "$work" -maxdepth 1 -name 'checked.*' | wc -l)
echo "options_app: $rows rows, $checked checked, $launch launch mistakes, $failed failed"
[ "$failed" -eq 0 ] && [ "$checked" -eq "$rows" ] && [ "$rows" -gt 60 ]
