#!/usr/bin/env bash
# A stopped rank (SIGSTOP) no longer hangs a job for ever (the stall watch,
# src/job/stall_watch.h; the README's "Failure behaviour"):
#  - --stall-warning 3: rank 0 prints, within 3 + 5 s of the STOP, that it
#    waits without progress, in which phase, and that the stopped rank (with
#    its host) did not answer, while the others (np 4) did; after SIGCONT
#    the job completes with the right counts and the warning came once;
#  - --stall-timeout 10: mpirun exits non-zero within 30 s of the STOP, the
#    message names the stopped rank, and there is no result;
#  - rank 0 stopped, --stall-timeout 5: another rank ends the job within 30 s
#    of the STOP, naming rank 0;
#  - the default settings (a warning after 60 s): a STOP of 4 s, then
#    SIGCONT, prints nothing and the job completes with the right counts.
# Each job runs in tiny rounds with one in flight, so that it takes seconds
# and every rank waits for the stopped one within a round. Bad values of the
# two options are in options_app.sh.
# usage: stall_app.sh BIN_DIR WC_ORACLE NP
set -euo pipefail
bin=$1 oracle=$2 np=$3
work=$(mktemp -d /tmp/mpimr-stall-XXXXXX)
program=mpimr-wordcount
wc=$bin/mpimr-wordcount
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"

# Whatever way the script ends, no rank of its jobs is left stopped or running.
cleanup() {
  for pid in $(job_ranks); do
    kill -CONT "$pid" 2> /dev/null || true
    kill -9 "$pid" 2> /dev/null || true
  done
  wait 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL ($1): $2"; [ -f "$work/$1.log" ] && cat "$work/$1.log"; exit 1; }

# start TAG ARGS...: mpimr-wordcount ARGS at np ranks in the background (as app_lib.sh's run, but
# mpirun itself is the background job: its PID in $job), output in $work/TAG.log; returns once the
# job maps: rank 0's first progress line says "map" with under half the input mapped. The job's
# start and its summary are blocking collectives, out of the stall watch's reach, so a STOP must
# come between them (a fixed sleep after the verbose line stopped a rank inside the start under load).
slow=(--no-combiner --round-size 4K --rounds-in-flight 1 --read-size 4K --progress=plain --progress-interval 0.2)
start() {
  local tag=$1 session_base started=$SECONDS
  shift
  session_base=$(mktemp -d "$work/ompi.XXXXXX")
  MPIMR_TEST_JOB=$tag OMPI_MCA_orte_tmpdir_base=$session_base mpirun --oversubscribe -np "$np" "$wc" -v \
    "${slow[@]}" "$@" -o "$work/$tag.out" "$work/text.txt" < /dev/null > "$work/$tag.log" 2>&1 &
  job=$!
  until grep -Eq "^mpimr: map [0-9.]+% of" "$work/$tag.log"; do
    [ $((SECONDS - started)) -lt 60 ] || fail "$tag" "the job did not start mapping within 60 s"
    kill -0 "$job" 2> /dev/null || fail "$tag" "the job ended before it mapped"
    sleep 0.02
  done
  grep -Eq "^mpimr: map ([0-9]|[1-4][0-9])(\.[0-9])?% of" "$work/$tag.log" ||
    fail "$tag" "half the input was mapped before the first progress line (too late to stop a rank)"
}
# stop TAG RANK: SIGSTOP to that rank of the job; its PID in $stopped, the time in $stopped_at.
stop() {
  stopped=$(job_ranks "$1" "$2")
  [ -n "$stopped" ] || fail "$1" "rank $2 is not running"
  kill -STOP "$stopped"
  stopped_at=$(date +%s.%N)
}
since_stop() { echo "$(date +%s.%N) - $stopped_at" | bc; }
# wait_for_text TAG SECONDS REGEX: until the job's output matches REGEX; fails after SECONDS from the STOP.
wait_for_text() {
  until grep -Eq -- "$3" "$work/$1.log"; do
    (($(echo "$(since_stop) < $2" | bc))) || fail "$1" "no message matching '$3' within $2 s of the STOP"
    sleep 0.05
  done
}
# finish TAG SECONDS: waits for mpirun, at most SECONDS after the STOP; its status in $status.
finish() {
  while kill -0 "$job" 2> /dev/null; do
    (($(echo "$(since_stop) < $2" | bc))) || fail "$1" "still running $2 s after the STOP"
    sleep 0.1
  done
  status=0
  wait "$job" || status=$?
}

run "$np" "$bin/mpimr-gentext" -o "$work/text.txt" --size 16M --vocab 20000 --zipf 1.0 --seed 17
last=$((np - 1))
warning_line="^mpimr: rank 0 has waited [0-9]+ s without progress in phase '[a-z ]+'.* on host [^;]+; no answer within [0-9]+ s from rank $last \(host [^)]+\) \(stopped, or busy without returning to the executor\)"

# ---- a warning, then the job goes on ----
start warning --stall-warning 3
stop warning "$last"
wait_for_text warning 8 "$warning_line"
echo "ok: the warning came $(since_stop) s after the STOP"
if [ "$np" -gt 2 ]; then
  grep -Eq "ranks? 1(-$((last - 1)))? answered \(waiting in '" "$work/warning.log" ||
    fail warning "the other ranks are not reported as answering"
fi
kill -CONT "$stopped"
finish warning 120
[ "$status" -eq 0 ] || fail warning "the job failed after SIGCONT (status $status)"
[ "$(grep -c "without progress" "$work/warning.log")" -eq 1 ] || fail warning "the warning did not come exactly once"
"$oracle" "$work/warning.out" "$np" "$work/text.txt" > /dev/null || fail warning "wrong counts after SIGCONT"
echo "ok: after SIGCONT the job completed with the right counts"

# ---- a timeout ends the job, naming the stopped rank ----
start timeout --stall-timeout 10
stop timeout "$last"
finish timeout 30
elapsed=$(since_stop)
[ "$status" -ne 0 ] || fail timeout "the job succeeded"
grep -Eq "rank 0: stall timeout \(10 s\): waited [0-9]+ s without progress .*no answer within [0-9]+ s from rank $last " \
  "$work/timeout.log" || fail timeout "no message naming rank $last"
[ ! -e "$work/timeout.out/_SUCCESS" ] || fail timeout "_SUCCESS written"
echo "ok: --stall-timeout 10 ended the job $elapsed s after the STOP (status $status)"

# ---- rank 0 stopped: another rank ends the job, naming rank 0 ----
start root --stall-timeout 5
stop root 0
finish root 30
elapsed=$(since_stop)
[ "$status" -ne 0 ] || fail root "the job succeeded"
grep -Eq "rank [1-9][0-9]*: stall timeout \(5 s, .*heard nothing from rank 0 \(host [^)]+\) for [0-9]+ s" \
  "$work/root.log" || fail root "no message naming rank 0"
echo "ok: with rank 0 stopped, --stall-timeout 5 ended the job $elapsed s after the STOP (status $status)"

# ---- the defaults: a short STOP goes unremarked ----
start default
stop default "$last"
sleep 4
kill -CONT "$stopped"
finish default 120
[ "$status" -eq 0 ] || fail default "the job failed (status $status)"
! grep -Eq "without progress|[Ss]tall (warning|timeout)" "$work/default.log" || fail default "a stall was reported"
"$oracle" "$work/default.out" "$np" "$work/text.txt" > /dev/null || fail default "wrong counts"
echo "ok: a STOP of 4 s under the default settings: nothing printed, right counts"
echo "stall_app np=$np: ok"
