# shellcheck shell=bash disable=SC2154  # sourced: the caller sets bin, np, work and program
# tests/app/app_lib.sh — what the program tests share. Sourced by a test
# script once it has set `bin` (the programs' directory), `np` (the rank count)
# and `work` (its scratch directory); usage_error also needs `program`.
#
#   run NP PROGRAM ARGS...
#       PROGRAM under mpirun at NP ranks (--oversubscribe), stdin empty, with
#       an Open MPI session-directory base of its own under $work. Tests run
#       mpiruns side by side, and mpiruns sharing a base race: one removes the
#       emptied per-user directory (ompi.HOST.UID) while another is creating
#       it, and the second fails in orte_init ("A call to mkdir was unable to
#       create the desired directory ... File exists").
#   expect_failure STATUS TEXT COMMAND...
#       runs COMMAND, which must exit with STATUS and print TEXT on stderr
#       (kept in $work/err); otherwise says what happened and ends the test.
#   check_help SECTION...
#       $program --help succeeds and has a line starting with each SECTION.
#   usage_error TEXT ARGS...
#       $program ARGS at np ranks must be a usage error (status 64) naming TEXT.
#   job_ranks [TAG [RANK]]
#       the PIDs of the running $program ranks of this script's jobs (sourcing
#       this file exports MPIMR_TEST_WORK=$work, which they inherit), of the
#       job started with MPIMR_TEST_JOB=TAG, or of its rank RANK: for tests
#       that stop, signal or kill ranks.
#   failure_cases_at_np_1_and_2 NAME
#       at more than 2 ranks, ends the test NAME with success: the failure and
#       usage cases after it exercise code that does not change with more
#       ranks, so they run at np 1 (Release) and np 2 (the sanitizer build).

export MPIMR_TEST_WORK=$work

run() {
  local session_base
  session_base=$(mktemp -d "$work/ompi.XXXXXX")
  OMPI_MCA_orte_tmpdir_base=$session_base mpirun --oversubscribe -np "$1" "${@:2}" </dev/null
}

expect_failure() {
  local want=$1 text=$2 status
  shift 2
  set +e
  "$@" >/dev/null 2>"$work/err"
  status=$?
  set -e
  [ "$status" -eq "$want" ] && grep -q -- "$text" "$work/err" ||
    { echo "$* : status $status, want $want and a message about '$text':"; cat "$work/err"; exit 1; }
}

check_help() {
  run "$np" "$bin/$program" --help >"$work/help" # no pipe: an early grep exit would SIGPIPE mpirun
  for section in "$@"; do
    grep -q "^$section" "$work/help" || { echo "$program --help lacks $section"; exit 1; }
  done
}

usage_error() {
  local text=$1
  shift
  expect_failure 64 "$text" run "$np" "$bin/$program" "$@"
}

failure_cases_at_np_1_and_2() {
  if [ "$np" -gt 2 ]; then
    echo "$1 np=$np: ok (failure and usage cases run at np 1 and 2)"
    exit 0
  fi
}

job_ranks() {
  local tag=${1:-} rank=${2:-} environ pid
  for pid in $(pgrep -x "$program"); do
    environ=$(tr '\0' '\n' 2> /dev/null < "/proc/$pid/environ") || continue
    grep -qx "MPIMR_TEST_WORK=$work" <<< "$environ" || continue
    [ -z "$tag" ] || grep -qx "MPIMR_TEST_JOB=$tag" <<< "$environ" || continue
    [ -z "$rank" ] || grep -qx "OMPI_COMM_WORLD_RANK=$rank" <<< "$environ" || continue
    echo "$pid"
  done
}
