#!/usr/bin/env bash
# Failures as users of the programs meet them. Each case must end within
# its time limit with a non-zero exit status from mpirun, print a message
# that names the rank, the path and the cause, and leave no result: no
# _SUCCESS, no part, no temporary file, and no output directory the job made.
# A rerun into the same path (without --overwrite) must then succeed.
#  - input: a missing file, a directory and a file without read permission,
#    an empty input list, a record longer than the largest record buffer;
#  - output: a parent that does not exist, a parent without write permission,
#    a disk that fills while parts are written (a 1 MiB tmpfs);
#  - a rank killed with SIGKILL, or calling abort(), in the middle of the
#    shuffle (tests/tools/crash_job.c): mpirun ends the job within seconds;
#  - an MPI call failing on one rank (tests/tools/mpi_fault.c, preloaded):
#    the message carries the MPI error string and every rank stops; a round
#    header that arrives corrupt at one rank stops every rank too. These
#    use the pairwise transport: the default one (shared memory) makes no
#    MPI call in a round when every rank is on one node. At 3 ranks and
#    more, also the release barrier of shared memory across nodes, with the
#    node cut into groups of two ranks (--ranks-per-node 2).
# Permission cases run with CAP_DAC_OVERRIDE dropped (root ignores modes),
# the tmpfs case needs mount; each is skipped where that is not possible.
# (NUL and non-UTF-8 bytes as data: app.wordcount's every-byte corpus and
# test_job. Files truncated or deleted during a job, and failing map and
# reduce functions: test_failures.)
# usage: failures_app.sh BIN_DIR TEST_TOOLS_DIR NP
set -euo pipefail
bin=$1 tools=$2 np=$3
work=$(mktemp -d /tmp/mpimr-failures-XXXXXX)
mounted=""
cleanup() {
  [ -z "$mounted" ] || umount "$mounted" 2>/dev/null || true
  chmod -R u+rwx "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export TMPDIR=$work/tmp # spill directories of killed ranks stay in here
mkdir -p "$TMPDIR"
run() { mpirun --oversubscribe -np "$1" "${@:2}" < /dev/null; }
mpi=(mpirun --oversubscribe -np "$np") # for commands run under timeout, which cannot call run()
fail() { echo "FAIL ($1): $2"; [ -f "$work/log" ] && cat "$work/log"; exit 1; }
unprivileged=(setpriv --bounding-set=-dac_override,-dac_read_search)
can_drop_privileges=0
"${unprivileged[@]}" true 2> /dev/null && can_drop_privileges=1

# expect_failure NAME OUTDIR LIMIT_S NEEDLE... -- COMMAND...: fails within LIMIT_S, every NEEDLE
# (an extended regular expression) is in its output, and OUTDIR holds no result afterwards.
expect_failure() {
  local name=$1 out=$2 limit=$3
  shift 3
  local needles=()
  while [ "$1" != "--" ]; do needles+=("$1"); shift; done
  shift
  local started=$SECONDS status=0
  timeout -k 5 "$limit" "$@" < /dev/null > "$work/log" 2>&1 || status=$?
  [ "$status" -ne 0 ] || fail "$name" "the job succeeded"
  # (137 alone is no timeout: mpirun exits 137 itself when a rank was killed by SIGKILL)
  [ "$status" -ne 124 ] && [ $((SECONDS - started)) -lt "$limit" ] || fail "$name" "still running after ${limit} s"
  for needle in "${needles[@]}"; do
    grep -Eq -- "$needle" "$work/log" || fail "$name" "no message matches '$needle'"
  done
  if [ -e "$out" ]; then
    [ ! -e "$out/_SUCCESS" ] || fail "$name" "_SUCCESS written"
    if compgen -G "$out/part-*" > /dev/null || compgen -G "$out/.part-*" > /dev/null; then
      fail "$name" "parts left: $(ls -A "$out")"
    fi
  fi
  echo "ok: $name (status $status, $((SECONDS - started)) s)"
}

# The job must leave no trace where it was told to write.
expect_no_output_dir() { [ ! -e "$1" ] || fail "$2" "the failed job left $1: $(ls -A "$1")"; }

wc=$bin/mpimr-wordcount
run "$np" "$bin/mpimr-gentext" -o "$work/text.txt" --size 4M --vocab 300000 --zipf 0.8 --seed 11
out=$work/out

# ---- input ----
expect_failure "missing input" "$out" 60 "rank [0-9]+: .*$work/no-such.txt'?: No such file or directory" -- \
  "${mpi[@]}" "$wc" -q -o "$out" "$work/text.txt" "$work/no-such.txt"
expect_no_output_dir "$out" "missing input"
expect_failure "empty input list" "$out" 60 "no INPUT" -- "${mpi[@]}" "$wc" -q -o "$out"
expect_no_output_dir "$out" "empty input list"

# A record longer than a quarter of a 16 MiB budget: mpimr-sort --lines reads records one by one.
python3 - "$work/long.txt" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"short line\n" * 1000 + b"x" * (5 << 20) + b"\n" + b"tail\n" * 1000)
PY
expect_failure "record longer than the largest buffer" "$out" 60 \
  "rank [0-9]+: input '$work/long.txt': the record at byte 11000 is longer than the largest record buffer" -- \
  "${mpi[@]}" "$bin/mpimr-sort" --lines --memory 16M -q -o "$out" "$work/long.txt"
expect_no_output_dir "$out" "record too long"

if [ "$can_drop_privileges" = 1 ]; then
  mkdir -p "$work/locked/inner" && cp "$work/text.txt" "$work/locked/inner/a.txt" && chmod 000 "$work/locked/inner"
  expect_failure "directory without permission" "$out" 60 "$work/locked/inner'?: Permission denied" -- \
    "${unprivileged[@]}" "${mpi[@]}" "$wc" -q -o "$out" "$work/locked"
  expect_no_output_dir "$out" "directory without permission"
  cp "$work/text.txt" "$work/unreadable.txt" && chmod 000 "$work/unreadable.txt"
  expect_failure "unreadable file" "$out" 60 "$work/unreadable.txt'?: Permission denied" -- \
    "${unprivileged[@]}" "${mpi[@]}" "$wc" -q -o "$out" "$work/text.txt" "$work/unreadable.txt"
  expect_no_output_dir "$out" "unreadable file"
else
  echo "skipped: permission cases (cannot drop CAP_DAC_OVERRIDE here)"
fi

# ---- output ----
expect_failure "output parent missing" "$work/nowhere/out" 60 \
  "rank [0-9]+: output '$work/nowhere/out': cannot create: No such file or directory" -- \
  "${mpi[@]}" "$wc" -q -o "$work/nowhere/out" "$work/text.txt"
expect_no_output_dir "$work/nowhere" "output parent missing"
if [ "$can_drop_privileges" = 1 ]; then
  mkdir "$work/readonly" && chmod 555 "$work/readonly"
  expect_failure "output parent not writable" "$work/readonly/out" 60 \
    "output '$work/readonly/out': cannot create: Permission denied" -- \
    "${unprivileged[@]}" "${mpi[@]}" "$wc" -q -o "$work/readonly/out" "$work/text.txt"
  expect_no_output_dir "$work/readonly/out" "output parent not writable"
fi
mkdir -p "$work/small"
if mount -t tmpfs -o size=1m tmpfs "$work/small" 2> /dev/null; then
  mounted=$work/small
  # About 3 MB of counts into 1 MiB: some rank's part cannot be written.
  expect_failure "disk full while writing parts" "$work/small/out" 120 \
    "rank [0-9]+: output '$work/small/out/\.mpimr-staging-[^/']+/(\.)?part-[0-9]+[^']*': No space left on device" -- \
    "${mpi[@]}" "$wc" -q -o "$work/small/out" "$work/text.txt"
  expect_no_output_dir "$work/small/out" "disk full"
  [ -z "$(ls -A "$work/small")" ] || fail "disk full" "files left on the full disk: $(ls -A "$work/small")"
else
  echo "skipped: disk full (cannot mount a tmpfs here)"
fi

# ---- ranks that die, MPI calls that fail ----
last=$((np - 1))
for mode in sigkill abort; do
  expect_failure "rank $last: $mode mid-shuffle" "$out" 60 "crash_job: rank $last: $mode now" -- \
    "${mpi[@]}" "$tools/crash_job" "$mode" "$last" 5000 "$out" "$work/text.txt"
  # A rerun into the directory the killed job left (no --overwrite) succeeds.
  run "$np" "$tools/crash_job" none 0 0 "$out" "$work/text.txt" > "$work/log" 2>&1 || fail "rerun after $mode" "failed"
  [ -e "$out/_SUCCESS" ] || fail "rerun after $mode" "no _SUCCESS"
  rm -rf "$out"
done
# The fault shim acts on rank $last, on the 4th call of the function each case names
# (MPIMR_FAULT_CALL); the word count runs in small rounds, so that there are several.
with_fault=("${mpi[@]}" -x LD_PRELOAD="$tools/libmpi_fault.so" -x MPIMR_FAULT_RANK="$last" -x MPIMR_FAULT_AFTER=3)
wc_small_rounds=("$wc" -q --round-size 64K --combine-size 64K -o "$out")
for call in MPI_Ialltoall MPI_Isend; do
  [ "$np" = 1 ] && continue # one rank keeps its pairs: no shuffle rounds
  expect_failure "$call failing on rank $last" "$out" 60 \
    "rank $last: shuffle: $call failed: MPI_ERR_OTHER" -- \
    "${with_fault[@]}" -x MPIMR_FAULT_CALL="$call" "${wc_small_rounds[@]}" --transport pairwise "$work/text.txt"
  rm -rf "$out"
done
# A round header that arrives corrupt (every int -1) stops rank 0 mid-round while the other ranks
# go on and wait for it: rank 0 must not enter another collective, but name the cause and abort.
if [ "$np" -ge 2 ]; then
  expect_failure "corrupt round headers from rank $last" "$out" 60 \
    "rank 0: shuffle: a round header with a negative size: .*ranks out of step" -- \
    "${with_fault[@]}" -x MPIMR_FAULT_CALL=MPI_Ialltoall -x MPIMR_FAULT_CORRUPT=1 "${wc_small_rounds[@]}" \
    --transport pairwise "$work/text.txt"
  rm -rf "$out"
fi
if [ "$np" -ge 3 ]; then
  expect_failure "MPI_Ibarrier failing on rank $last" "$out" 60 \
    "rank $last: shuffle: MPI_Ibarrier .round release. failed: MPI_ERR_OTHER" -- \
    "${with_fault[@]}" -x MPIMR_FAULT_CALL=MPI_Ibarrier "${wc_small_rounds[@]}" \
    --transport shared-memory --ranks-per-node 2 "$work/text.txt"
  rm -rf "$out"
fi

# ---- after all that, the same path works ----
run "$np" "$wc" -q -o "$out" "$work/text.txt"
[ -e "$out/_SUCCESS" ] || fail "final rerun" "no _SUCCESS"
echo "failures_app np=$np: ok"
