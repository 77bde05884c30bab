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
#   failure_cases_at_np_1_and_2 NAME
#       at more than 2 ranks, ends the test NAME with success: the failure and
#       usage cases after it exercise code that does not change with more
#       ranks, so they run at np 1 (Release) and np 2 (the sanitizer build).

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
