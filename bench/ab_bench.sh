#!/usr/bin/env bash
# bench/ab_bench.sh — one program from two builds, alternated: is B as fast as A?
#
# usage: bench/ab_bench.sh [-n PAIRS] [-p NP] [-t TABLE] BIN_A BIN_B -- PROGRAM ARGS...
#
# Runs `mpirun -np NP BIN_X/PROGRAM ARGS...` PAIRS times from each of the two
# build directories BIN_A and BIN_B, alternating (A B A B ...), so that a busy
# or drifting machine weighs on both alike, and prints every wall time, the
# median of each and the ratio B/A (below 1: B is faster). Use it to check
# that a change (a refactoring, say) costs nothing: build the old tree in a
# git worktree, the new one as usual. ARGS must let the program run again on
# its own output (e.g. `-f -o DIR`). Defaults: 5 pairs, np 2. With -t, the
# lines also go to TABLE.
#
# example:
#   git worktree add /tmp/before HEAD~1 && cmake -S /tmp/before -B /tmp/before/build \
#     -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/before/build -j
#   bench/ab_bench.sh /tmp/before/build/bin build/bin -- mpimr-wordcount -q -f -o /tmp/wc data/sample-1G.txt
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/bench_lib.sh
source bench/bench_lib.sh
source scripts/mpi-env.sh
pairs=5 np=2 table=/dev/null
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-64}"; }
while [ $# -gt 0 ]; do
  case $1 in
    -n) pairs=$2; shift 2 ;;
    -p) np=$2; shift 2 ;;
    -t) table=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    --) shift; break ;;
    *) [ -z "${bin_a:-}" ] && bin_a=$1 || { [ -z "${bin_b:-}" ] && bin_b=$1 || usage; }; shift ;;
  esac
done
[ -n "${bin_a:-}" ] && [ -n "${bin_b:-}" ] && [ $# -ge 1 ] || usage
[[ $pairs =~ ^[1-9][0-9]*$ ]] || { echo "ab_bench: -n must be a positive integer, not '$pairs'" >&2; exit 64; }
program=$1
shift
for dir in "$bin_a" "$bin_b"; do
  [ -x "$dir/$program" ] || { echo "ab_bench: '$dir/$program' is not an executable" >&2; exit 64; }
done

# run DIR: one run's wall time in seconds.
run() {
  local dir=$1 started ended
  started=$(date +%s.%N)
  mpirun --oversubscribe -np "$np" "$dir/$program" "${args[@]}" > /dev/null < /dev/null ||
    { echo "ab_bench: $dir/$program failed" >&2; exit 1; }
  ended=$(date +%s.%N)
  awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.3f", b - a }'
}
args=("$@")
say "ab_bench: $program ${args[*]} at np $np, $pairs pairs; A = $bin_a, B = $bin_b; load $(loadavg)"
times_a="" times_b=""
for ((i = 1; i <= pairs; i++)); do
  a=$(run "$bin_a")
  b=$(run "$bin_b")
  times_a="$times_a $a" times_b="$times_b $b"
  say "pair $i: A $a s, B $b s"
done
awk -v ta="$times_a" -v tb="$times_b" "$AWK_MEDIAN"'
  BEGIN { a = median(ta); b = median(tb); printf "median: A %.3f s, B %.3f s, B/A %.3f\n", a, b, b / a }' |
  tee -a "$table"
