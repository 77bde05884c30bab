#!/usr/bin/env bash
# The programs under Slurm: a one-node Slurm of this machine (tests/tools/slurm_local.sh: munged,
# slurmctld, slurmd, PMIx) runs
#   - srun --mpi=pmix -n 2 mpimr-wordcount, against wc_oracle;
#   - the job scripts the project ships (scripts/slurm/*.sbatch) with sbatch --wait: word count
#     against wc_oracle, sort with its own mpimr-valsort check and the record count and checksum
#     of the input, PageRank on libmetis-doc's 4elt against networkx (where installed) or on an
#     edge list against the serial oracle;
#   - a job cancelled while it runs (scancel: SIGTERM, then SIGKILL, as at its time limit), PageRank
#     in the middle of its iterations: it ends, its ranks are gone, it writes no _SUCCESS, and the
#     same script submitted again succeeds;
#   - a job that runs past its time limit (sbatch --time=1 of crash_job slow-map, which would map
#     for minutes): Slurm ends it (TIMEOUT), its ranks fail on the SIGTERM before the SIGKILL
#     ("interrupted by SIGTERM", or stopped by the rank that says so) and are gone; no _SUCCESS,
#     the output directory the job made is removed; the same script submitted again with time
#     enough succeeds;
#   - srun --cpu-bind=cores: mpimr-wordcount -v says rank 0 kept that binding (--pin auto);
#   - where the Python package is built, srun of python3 -m mpimr.wordcount: the same files as
#     mpimr-wordcount's.
# The time-limit job is submitted first and checked last: slurmctld looks at time limits every
# 30 s from its start, so the job ends about 90 s after the test's Slurm started, and the other
# checks run meanwhile.
# Skipped (status 77) with a message where Slurm or munge is not installed or cannot start (not
# root). scripts/test.sh installs slurm-wlm and munge.
# usage: slurm_app.sh BIN_DIR WC_ORACLE [PYTHON_PACKAGE_DIR]   (build/python, if it was built)
set -euo pipefail
bin=$(cd "$1" && pwd) oracle=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") python_package=${3:-}
tools=$(dirname "$oracle") # wc_oracle and crash_job
root=$(cd "$(dirname "$0")/../.." && pwd)
for tool in munged slurmctld slurmd srun sbatch; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { echo "slurm_app: SKIPPED: $tool is not installed (apt-get install slurm-wlm munge)"; exit 77; }
done
export PATH=$PATH:/usr/sbin
[ "$(id -u)" -eq 0 ] || { echo "slurm_app: SKIPPED: the test's Slurm runs as root"; exit 77; }
work=$(mktemp -d /tmp/mpimr-slurm-app-XXXXXX)
slurm=$work/slurm
cleanup() { bash "$root/tests/tools/slurm_local.sh" stop "$slurm" || true; rm -rf "$work"; }
trap cleanup EXIT
bash "$root/tests/tools/slurm_local.sh" start "$slurm" ||
  { echo "slurm_app: SKIPPED: the test's Slurm did not start"; exit 77; }
export SLURM_CONF=$slurm/slurm.conf
cd "$work"
fail() { echo "slurm_app: $*" >&2; exit 1; }
seed=$(( $(date +%s%N) % 1000000 ))

job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
wait_for_job() {  # JOB [SECONDS]: until it has ended (a tenth of a second at a time: sbatch
  local state tenths=$(( ${2:-120} * 10 )) # --wait polls in seconds); returns 0 if it COMPLETED
  for _ in $(seq 1 "$tenths"); do
    state=$(job_state "$1")
    case $state in PENDING | RUNNING | CONFIGURING | COMPLETING | "") sleep 0.1 ;; *) break ;; esac
  done
  [ "$state" = COMPLETED ]
}

# srun: a 2-rank world through PMIx.
srun --mpi=pmix -n 2 "$bin/mpimr-gentext" -o "$work/text.txt" --size 4M --vocab 20000 --seed "$seed"

# The time limit, submitted now and checked at the end. A job script of the test's runs crash_job
# MODE on 2 ranks; with --time=1 and MODE slow-map (each rank maps 100 ms a KiB: some 200 s) it
# runs past its limit.
# shellcheck disable=SC2016  # the job's variables, expanded when it runs
printf '%s\n' '#!/bin/bash' '#SBATCH --ntasks=2' '#SBATCH --time=00:05:00' 'set -euo pipefail' \
  'srun --mpi=pmix "$CRASH_JOB" "$MODE" "$PACE" 0 "$OUTPUT" "$INPUT"' >"$work/limited.sbatch"
limited() {  # SBATCH-OPTION... -- VAR=VALUE...: submits limited.sbatch; prints the job's id
  local options=() exports="ALL,CRASH_JOB=$tools/crash_job,INPUT=$work/text.txt,OUTPUT=$work/limited"
  while [ "$1" != -- ]; do options+=("$1"); shift; done
  shift
  for assignment in "$@"; do exports+=",$assignment"; done
  sbatch --parsable "${options[@]}" --export="$exports" "$work/limited.sbatch"
}
timed_out_job=$(limited --time=1 --output="$work/timed-out.out" -- MODE=slow-map PACE=100)
limited_ranks="^$tools/crash_job slow-map .* $work/" # its ranks, for pgrep -f

srun --mpi=pmix -n 2 "$bin/mpimr-wordcount" -v -o "$work/wc-srun" "$work/text.txt" 2>"$work/err"
grep -q "^mpimr: 2 ranks" "$work/err" || { cat "$work/err"; fail "srun --mpi=pmix -n 2 did not make a 2-rank world"; }
"$oracle" "$work/wc-srun" 2 "$work/text.txt"

# A binding srun makes (TaskPlugin=task/affinity) is kept: --pin auto, and -v says so (where it
# finds the rank unbound it binds it itself and says "bound to core").
srun --mpi=pmix -n 2 --cpu-bind=cores "$bin/mpimr-wordcount" -v -o "$work/wc-bound" "$work/text.txt" 2>"$work/err"
grep -q "^mpimr: 2 ranks; rank 0: kept existing binding (cpuset " "$work/err" ||
  { cat "$work/err"; fail "srun --cpu-bind=cores: rank 0 should say it kept srun's binding"; }
"$oracle" "$work/wc-bound" 2 "$work/text.txt"

# The Python example under srun (mpi4py's MPI_Init through PMIx): the same files as mpimr-wordcount's.
if [ -n "$python_package" ] && [ -d "$python_package/mpimr" ]; then
  PYTHONPATH=$python_package srun --mpi=pmix -n 2 /usr/bin/python3 -m mpimr.wordcount -q -o "$work/wc-python" \
    "$work/text.txt"
  "$oracle" "$work/wc-python" 2 "$work/text.txt"
  for part in "$work"/wc-srun/part-*; do
    cmp "$part" "$work/wc-python/${part##*/}" || fail "python3 -m mpimr.wordcount under srun differs from mpimr-wordcount"
  done
else
  echo "slurm_app: the Python example skipped: the Python package is not built"
fi

# The shipped job scripts, as a user submits them (from the project's directory: they find
# build/bin there; here MPIMR_BIN says where the programs are).
submit() {  # SCRIPT VAR=VALUE...: sbatch, then wait; output in $work/SCRIPT.out; 0 if it completed
  local script=$1 job
  shift
  local exports="ALL,MPIMR_BIN=$bin"
  for assignment in "$@"; do exports+=",$assignment"; done
  job=$(cd "$root" && sbatch --parsable --output="$work/$(basename "$script").out" --export="$exports" "$script")
  wait_for_job "$job"
}
submit scripts/slurm/wordcount.sbatch INPUT="$work/text.txt" OUTPUT="$work/wc-batch" ||
  { cat "$work/wordcount.sbatch.out"; fail "wordcount.sbatch failed"; }
"$oracle" "$work/wc-batch" 2 "$work/text.txt"

srun --mpi=pmix -n 2 "$bin/mpimr-gensort" -n 100000 --seed "$seed" "$work/records.dat"
submit scripts/slurm/sort.sbatch INPUT="$work/records.dat" OUTPUT="$work/sorted" ||
  { cat "$work/sort.sbatch.out"; fail "sort.sbatch failed"; }
srun --mpi=pmix -n 1 "$bin/mpimr-valsort" "$work/records.dat" >"$work/input-sums.txt" || true
grep -q "^records: 100000$" "$work/sort.sbatch.out" || { cat "$work/sort.sbatch.out"; fail "sort: record count"; }
[ "$(sed -n 's/^checksum: //p' "$work/sort.sbatch.out")" = "$(sed -n 's/^checksum: //p' "$work/input-sums.txt")" ] ||
  fail "sort: the output's checksum differs from the input's"

metis=/usr/share/doc/libmetis-dev/examples/graphs/4elt.graph
if [ -r "$metis" ] && /usr/bin/python3 -c 'import networkx' 2>/dev/null; then
  submit scripts/slurm/pagerank.sbatch INPUT="$metis" OUTPUT="$work/ranks" \
    ARGS="--tolerance-per-vertex 1e-12 --max-iterations 1000" ||
    { cat "$work/pagerank.sbatch.out"; fail "pagerank.sbatch failed"; }
  /usr/bin/python3 "$root/tests/tools/graph_networkx_check.py" pagerank --format metis --tol 1e-12 \
    --max-iter 1000 --rel 1e-7 "$metis" "$work/ranks"
else
  printf '0 1\n1 2\n2 0\n2 3\n3 3\n' >"$work/edges.txt"
  submit scripts/slurm/pagerank.sbatch INPUT="$work/edges.txt" OUTPUT="$work/ranks" \
    ARGS="--tolerance 1e-12 --max-iterations 1000" || { cat "$work/pagerank.sbatch.out"; fail "pagerank.sbatch failed"; }
  python3 "$root/tests/tools/pagerank_oracle.py" --tolerance 1e-12 --max-iterations 1000 "$work/ranks" 2 "$work/edges.txt"
fi

# A job cancelled while it runs (what the time limit does: SIGTERM, then SIGKILL after KillWait),
# here PageRank in the middle of its iterations: no _SUCCESS; the same script again succeeds.
printf '0 1\n1 2\n2 0\n2 3\n3 3\n' >"$work/cycle.txt"
job=$(cd "$root" && sbatch --parsable --output="$work/cancelled.out" \
  --export="ALL,MPIMR_BIN=$bin,INPUT=$work/cycle.txt,OUTPUT=$work/cancelled,ARGS=--tolerance 0 --max-iterations 1000000" \
  scripts/slurm/pagerank.sbatch)
for _ in $(seq 1 100); do
  [ "$(job_state "$job")" = RUNNING ] && pgrep -f "$bin/mpimr-pagerank" >/dev/null && break
  sleep 0.1
done
sleep 0.5
scancel "$job"
wait_for_job "$job" && fail "the cancelled job completed"
[ "$(job_state "$job")" = CANCELLED ] || fail "the cancelled job ended $(job_state "$job")"
for _ in $(seq 1 100); do pgrep -f "$bin/mpimr-pagerank" >/dev/null || break; sleep 0.1; done
! pgrep -f "$bin/mpimr-pagerank" >/dev/null || fail "ranks outlived the cancelled job"
[ ! -e "$work/cancelled/_SUCCESS" ] || fail "the cancelled job left _SUCCESS"
submit scripts/slurm/pagerank.sbatch INPUT="$work/cycle.txt" OUTPUT="$work/cancelled" \
  ARGS="--tolerance 1e-12 --max-iterations 1000" || { cat "$work/pagerank.sbatch.out"; fail "resubmitting failed"; }
python3 "$root/tests/tools/pagerank_oracle.py" --tolerance 1e-12 --max-iterations 1000 "$work/cancelled" 2 \
  "$work/cycle.txt"

# The job past its time limit: TIMEOUT; its ranks failed on Slurm's SIGTERM (the first to see it
# says so, another may stop first because of it) and cleaned up before the SIGKILL: the output
# directory the job made is gone, its lock and staging directory with it; no rank is left; the
# same script with time enough (and MODE none) succeeds.
pgrep -f "$limited_ranks" >/dev/null ||
  { cat "$work/timed-out.out"; fail "the job to run past its limit does not run: $(job_state "$timed_out_job")"; }
wait_for_job "$timed_out_job" 240 && fail "the job past its time limit completed"
[ "$(job_state "$timed_out_job")" = TIMEOUT ] ||
  { cat "$work/timed-out.out"; fail "the job past its time limit ended $(job_state "$timed_out_job")"; }
grep -q "DUE TO TIME LIMIT" "$work/timed-out.out" || { cat "$work/timed-out.out"; fail "no time limit message"; }
for rank in 0 1; do
  grep -Eq "^crash_job: rank $rank: (interrupted by SIGTERM|stopped because another rank failed)" \
    "$work/timed-out.out" || { cat "$work/timed-out.out"; fail "rank $rank did not fail cleanly at the time limit"; }
done
grep -q "^crash_job: rank [01]: interrupted by SIGTERM" "$work/timed-out.out" ||
  { cat "$work/timed-out.out"; fail "no rank failed on the time limit's SIGTERM"; }
for _ in $(seq 1 100); do pgrep -f "$limited_ranks" >/dev/null || break; sleep 0.1; done
! pgrep -f "$limited_ranks" >/dev/null || fail "ranks outlived the job past its time limit"
[ ! -e "$work/limited" ] || { ls -lAR "$work/limited"; fail "the job past its time limit left its output directory"; }
resubmitted=$(limited --time=5 --output="$work/resubmitted.out" -- MODE=none PACE=0)
wait_for_job "$resubmitted" || { cat "$work/resubmitted.out"; fail "resubmitting after the time limit failed"; }
"$oracle" "$work/limited" 2 "$work/text.txt"
echo "slurm_app: ok"
