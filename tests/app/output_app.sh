#!/usr/bin/env bash
# A result is never mixed, lost or left dirty (mpimr-wordcount, the README's
# "Failure behaviour"):
#  - ownership: a second job on a directory a running job owns is refused at
#    once, naming the owner (its rank 0's PID), with and without
#    --overwrite, while the first completes; a lock left by a killed job of
#    this host is taken over; one from another host is refused with the file
#    to remove;
#  - --overwrite replaces atomically: a job that fails before map (a missing
#    input) or in map (a record too long) leaves the old result exactly as it
#    was, a killed one too; a successful one leaves exactly its own parts;
#  - signals: SIGTERM and SIGINT to mpirun (as Ctrl-C, scancel and Slurm's
#    time limit send them) and SIGTERM to one rank end the job on every rank
#    with the signal named, removing temporary parts, the staging directory,
#    the lock and the spill directories;
#  - leftovers of a job killed with SIGKILL (lock, staging and spill
#    directories in the output directory, spill directories in $TMPDIR) are
#    removed by the next job: a rerun, or one with --overwrite;
#  - stress: 8 jobs at once on 4 directories (each twice, some with
#    --overwrite): every directory ends with one complete, correct result or
#    none, and nothing else.
# Jobs are held mid-run with SIGSTOP where a case needs one running (the
# stall watch only warns after 60 s).
# usage: output_app.sh BIN_DIR WC_ORACLE NP
set -euo pipefail
bin=$1 oracle=$2 np=$3
work=$(mktemp -d /tmp/mpimr-output-XXXXXX)
program=mpimr-wordcount
wc=$bin/mpimr-wordcount
background=()
cleanup() {
  for pid in "${background[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true; done
  for pid in $(job_ranks ""); do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"
fail() { echo "FAIL ($1): $2"; [ -f "$work/log" ] && cat "$work/log"; exit 1; }


# wait_until SECONDS COMMAND...: polls COMMAND every 0.05 s until it succeeds; fails after SECONDS.
wait_until() {
  local limit=$1 started=$SECONDS
  shift
  until "$@"; do
    [ $((SECONDS - started)) -lt "$limit" ] || fail "waiting" "'$*' did not hold within $limit s"
    sleep 0.05
  done
}
exists() { compgen -G "$1" > /dev/null; }
ranks_running() { [ "$(job_ranks "$1" | wc -l)" -eq "$2" ]; }

# start TAG ARGS...: mpimr-wordcount ARGS at np ranks in the background, output in $work/TAG.log;
# mpirun's PID in $started_pid (as app_lib.sh's run, but mpirun itself is the background job).
start() {
  local tag=$1 session_base
  shift
  session_base=$(mktemp -d "$work/ompi.XXXXXX")
  MPIMR_TEST_JOB=$tag OMPI_MCA_orte_tmpdir_base=$session_base mpirun --oversubscribe -np "$np" "$wc" -q "$@" \
    < /dev/null > "$work/$tag.log" 2>&1 &
  started_pid=$!
  background+=("$started_pid")
}
# finish PID: its exit status in $finished_status.
finish() { finished_status=0; wait "$1" || finished_status=$?; }

# The directory holds nothing but a result (parts and _SUCCESS): no lock, staging, spill or temporary.
expect_only_result() {
  local dir=$1 name=$2 entry
  for entry in $(ls -A "$dir"); do
    case $entry in part-[0-9][0-9][0-9][0-9][0-9] | _SUCCESS) ;; *) fail "$name" "$dir holds '$entry': $(ls -A "$dir")" ;; esac
  done
}
# Nothing of a job is left anywhere: not in the output directory (if any), not in the spill directory.
expect_clean() {
  local dir=$1 name=$2
  if [ -e "$dir" ]; then expect_only_result "$dir" "$name"; fi
  ! exists "$TMPDIR/mpimr-spill-*" || fail "$name" "spill directories left: $(ls -A "$TMPDIR")"
}
# What a directory holds: each entry's name, and each file's checksum.
snapshot() {
  (cd "$1" && for f in $(ls -A | sort); do if [ -d "$f" ]; then echo "$f/"; else echo "$f $(md5sum < "$f")"; fi; done)
}

export TMPDIR=$work/tmp
mkdir -p "$TMPDIR"
run "$np" "$bin/mpimr-gentext" -o "$work/big.txt" --size 40M --vocab 200000 --seed 5
head -c 6M "$work/big.txt" > "$work/medium.txt"
run "$np" "$bin/mpimr-gentext" -o "$work/small.txt" --size 1M --vocab 20000 --seed 6
for v in 1 2 3 4; do run "$np" "$bin/mpimr-gentext" -o "$work/v$v.txt" --size 256K --vocab 5000 --seed $((20 + v)); done
head -c 5M /dev/zero | tr '\0' a > "$work/long-record.txt"
spilling=(--no-combiner --memory 16M) # the big input spills several runs with these

# ---- ownership ----
out=$work/owned
start owner -o "$out" "${spilling[@]}" "$work/big.txt"
owner=$started_pid
wait_until 60 test -e "$out/.mpimr-lock"
kill -STOP $(job_ranks owner) # all of them: the lock is taken after every rank has started
owner_rank0=$(job_ranks owner 0)
for overwrite in "" -f; do
  expect_failure 1 "output '$out': in use by another job: mpimr-wordcount on $np ranks, rank 0 PID $owner_rank0" \
    run $((np + 1)) "$wc" -q $overwrite -o "$out" "$work/small.txt"
done
kill -CONT $(job_ranks owner)
finish "$owner"
[ "$finished_status" -eq 0 ] || fail "ownership" "the owner failed: $(cat "$work/owner.log")"
"$oracle" "$out" "$np" "$work/big.txt" > /dev/null || fail "ownership" "the owner's result is wrong"
expect_clean "$out" "ownership"
echo "ok: a second job is refused while the first runs, naming it; the first completes"

# A lock from another host is never taken: the message names the file to remove.
printf 'mpimr output lock\nhost=elsewhere.example\npid=4242\nstart_ticks=1\nboot_id=x\nprogram=mpimr-sort\nranks=64\nstarted=2026-01-01T00:00:00Z\nslurm_job=991\n' \
  > "$out/.mpimr-lock"
expect_failure 1 "in use by another job: mpimr-sort on 64 ranks, rank 0 PID 4242 on host elsewhere.example.*Slurm job 991.*remove '$out/.mpimr-lock'" \
  run "$np" "$wc" -q -f -o "$out" "$work/small.txt"
"$oracle" "$out" "$np" "$work/big.txt" > /dev/null || fail "foreign lock" "the result changed"
rm "$out/.mpimr-lock"
echo "ok: a lock from another host is refused with the file to remove"

# ---- --overwrite keeps the old result until the new one is complete ----
before=$(snapshot "$out")
expect_failure 1 "input '$work/typo.txt': No such file or directory" run "$np" "$wc" -q -f -o "$out" "$work/typo.txt"
[ "$(snapshot "$out")" = "$before" ] || fail "overwrite, missing input" "the old result changed"
expect_failure 1 "longer than the largest record buffer" \
  run "$np" "$wc" -q -f --memory 16M -o "$out" "$work/small.txt" "$work/long-record.txt"
[ "$(snapshot "$out")" = "$before" ] || fail "overwrite, map failure" "the old result changed"
expect_clean "$out" "overwrite failures"
# A successful overwrite at fewer ranks leaves exactly its own parts.
run $((np + 1)) "$wc" -q -o "$work/wider" "$work/small.txt"
run "$np" "$wc" -q -f -o "$work/wider" "$work/v1.txt"
"$oracle" "$work/wider" "$np" "$work/v1.txt" > /dev/null || fail "overwrite" "wrong result"
[ ! -e "$work/wider/part-$(printf %05d "$np")" ] || fail "overwrite" "an old part beyond the new ones stayed"
expect_only_result "$work/wider" "overwrite"
echo "ok: a failed --overwrite leaves the old result as it was; a successful one replaces it whole"

# ---- signals ----
# signal_case NAME SIGNAL TARGET OVERWRITE: TARGET is mpirun, every-rank (as srun, scancel and Slurm's
# time limit signal every task) or a rank number. The ranks' messages are checked when they are
# signalled themselves: mpirun, signalled, may exit before it has forwarded their last output.
signal_case() {
  local name=$1 signal=$2 target=$3 overwrite=$4 dir=$work/signalled
  rm -rf "$dir"
  if [ -n "$overwrite" ]; then run "$np" "$wc" -q -o "$dir" "$work/small.txt"; before=$(snapshot "$dir"); fi
  start "$name" $overwrite -o "$dir" "${spilling[@]}" "$work/big.txt"
  local job=$started_pid began=$SECONDS
  wait_until 60 exists "$TMPDIR/mpimr-spill-*" # mid-map, spilling
  case $target in
    mpirun) kill "-$signal" "$job" ;;
    every-rank) kill "-$signal" $(job_ranks "$name") ;;
    *) kill "-$signal" "$(job_ranks "$name" "$target")" ;;
  esac
  finish "$job"
  cp "$work/$name.log" "$work/log"
  [ "$finished_status" -ne 0 ] || fail "$name" "the job succeeded"
  [ $((SECONDS - began)) -lt 60 ] || fail "$name" "took $((SECONDS - began)) s"
  [ "$target" = mpirun ] || grep -Eq "rank [0-9]+: interrupted by SIG$signal" "$work/log" ||
    fail "$name" "no rank names SIG$signal"
  wait_until 10 ranks_running "$name" 0
  if [ "$target" = mpirun ] && [ -e "$dir/_SUCCESS" ] && "$oracle" "$dir" "$np" "$work/big.txt" > /dev/null 2>&1; then
    # mpirun passes the signal on through its daemons: a job close to its end may commit first.
    echo "ok: $name: the job had committed its whole result before the signal reached the ranks"
  elif [ -n "$overwrite" ]; then
    [ "$(snapshot "$dir")" = "$before" ] || fail "$name" "the old result changed"
  else
    [ ! -e "$dir" ] || fail "$name" "the directory the job made is left: $(ls -A "$dir")"
  fi
  expect_clean "$dir" "$name"
  echo "ok: $name (status $finished_status)"
}
signal_case "SIGTERM to every rank" TERM every-rank ""
signal_case "SIGTERM to mpirun" TERM mpirun ""
signal_case "SIGINT to mpirun, over a result" INT mpirun -f
signal_case "SIGTERM to rank $((np - 1))" TERM $((np - 1)) ""

# ---- what a killed job leaves, the next job removes ----
for rerun in "" -f; do
  dir=$work/killed
  rm -rf "$dir"
  [ -z "$rerun" ] || { run "$np" "$wc" -q -o "$dir" "$work/small.txt"; before=$(snapshot "$dir"); }
  # No $TMPDIR: the runs spill into the output directory itself.
  TMPDIR="" start killed $rerun -o "$dir" "${spilling[@]}" "$work/big.txt"
  job=$started_pid
  wait_until 60 exists "$dir/mpimr-spill-*"
  kill -9 "$(job_ranks killed 0)"
  finish "$job"
  [ "$finished_status" -ne 0 ] || fail "SIGKILL" "the job succeeded"
  wait_until 10 ranks_running killed 0
  exists "$dir/.mpimr-lock" || fail "SIGKILL" "expected the killed job's lock to stay: $(ls -A "$dir")"
  [ -z "$rerun" ] || [ "$(snapshot "$dir" | grep -E '^(part-|_SUCCESS)')" = "$before" ] ||
    fail "SIGKILL over a result" "the old result changed"
  TMPDIR= run "$np" "$wc" -q $rerun -o "$dir" "$work/v2.txt" > "$work/log" 2>&1 ||
    fail "rerun ${rerun:-without -f} after SIGKILL" "failed"
  "$oracle" "$dir" "$np" "$work/v2.txt" > /dev/null || fail "rerun after SIGKILL" "wrong result"
  expect_only_result "$dir" "rerun ${rerun:-without -f} after SIGKILL"
done
# Spill directories a killed job left in $TMPDIR go when a job of this host next spills there.
start killed-tmp -o "$work/killed-tmp" "${spilling[@]}" "$work/big.txt"
job=$started_pid
wait_until 60 exists "$TMPDIR/mpimr-spill-*"
kill -9 "$(job_ranks killed-tmp 0)"
finish "$job"
wait_until 10 ranks_running killed-tmp 0
exists "$TMPDIR/mpimr-spill-*" || fail "SIGKILL, spill in TMPDIR" "expected spill directories to stay"
run "$np" "$wc" -q -o "$work/killed-tmp" "${spilling[@]}" "$work/medium.txt" > "$work/log" 2>&1 ||
  fail "rerun, spill in TMPDIR" "failed"
expect_clean "$work/killed-tmp" "rerun, spill in TMPDIR"
echo "ok: after SIGKILL, a rerun and an --overwrite remove the lock, staging and spill directories"

# ---- stress: 8 jobs at once on 4 directories ----
pids=()
declare -A job_dir job_input
for d in 1 2; do run "$np" "$wc" -q -o "$work/stress$d" "$work/small.txt"; done # two hold a result already
for j in 1 2 3 4 5 6 7 8; do
  d=$(((j + 1) / 2))
  flags=""
  [ $((j % 3)) -ne 0 ] || flags=-f
  [ "$j" -ne 1 ] || flags=-f
  job_dir[$j]=$work/stress$d
  job_input[$j]=$work/v$(((j - 1) % 4 + 1)).txt
  MPIMR_TEST_JOB=stress$j run "$np" "$wc" -q $flags -o "${job_dir[$j]}" "${job_input[$j]}" > "$work/stress$j.log" 2>&1 &
  pids[$j]=$!
  background+=("${pids[$j]}")
done
declare -A succeeded
for j in 1 2 3 4 5 6 7 8; do
  status=0
  wait "${pids[$j]}" || status=$?
  if [ "$status" -eq 0 ]; then
    succeeded[$j]=1
  else
    grep -Eq "in use by another job|already exists and holds a result" "$work/stress$j.log" ||
      { cat "$work/stress$j.log"; fail "stress job $j" "failed for another reason (status $status)"; }
  fi
done
for d in 1 2 3 4; do
  dir=$work/stress$d
  [ -e "$dir/_SUCCESS" ] || { [ ! -e "$dir" ] || [ -z "$(ls -A "$dir")" ] || fail "stress $dir" "no result but: $(ls -A "$dir")"; continue; }
  expect_only_result "$dir" "stress $dir"
  # The result is one job's: the one there before, or one that succeeded on this directory.
  candidates=()
  [ "$d" -gt 2 ] || candidates+=("$work/small.txt")
  for j in 1 2 3 4 5 6 7 8; do
    [ "${job_dir[$j]}" = "$dir" ] && [ -n "${succeeded[$j]:-}" ] && candidates+=("${job_input[$j]}")
  done
  matched=""
  for input in "${candidates[@]}"; do
    "$oracle" "$dir" "$np" "$input" > /dev/null 2>&1 && matched=$input
  done
  [ -n "$matched" ] || fail "stress $dir" "the result is no single job's (candidates: ${candidates[*]})"
done
! exists "$TMPDIR/mpimr-spill-*" || fail "stress" "spill directories left"
echo "ok: 8 jobs at once on 4 directories: each holds one whole result or none"

echo "output_app np=$np: ok"
