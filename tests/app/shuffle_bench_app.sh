#!/usr/bin/env bash
# Smoke test of mpimr-shuffle-bench: a tiny sweep of every pattern and every
# method at the given rank count, with the bytes checked; the CSV, JSON, table
# and trace it writes are checked by tests/tools/check_shuffle_bench.py. Also:
# --help succeeds and a bad option is a usage error (exit status 64).
# usage: shuffle_bench_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
work=$(mktemp -d /tmp/mpimr-shuffle-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"
checker="$(dirname "$0")/../tools/check_shuffle_bench.py"

methods=mpi-alltoallv,mpi-ialltoallv,mpimr-alltoallv,mpimr-pairwise,mpimr-shared-memory,mpimr-auto
run "$np" "$bin/mpimr-shuffle-bench" -p all -m 1 -M 16K --large-size 2K -i 3 -x 1 --iterations-large 2 \
  --warmup-large 1 -r 2 -t "$methods" -w 1 --check --csv "$work/r.csv" --json "$work/r.json" \
  --trace "$work/trace.json" > "$work/table.txt"
python3 "$checker" --csv "$work/r.csv" --json "$work/r.json" --table "$work/table.txt" --trace "$work/trace.json" \
  --ranks "$np" --patterns uniform,zipf,sparse --methods "$methods" --min-size 1 --max-size 16384

# The defaults for methods and pattern, with medians and a fixed slice.
run "$np" "$bin/mpimr-shuffle-bench" -m 64 -M 256 -i 2 -x 0 --stat median --slice-us 10 --idle spin \
  --csv "$work/d.csv" --json "$work/d.json" > "$work/d.txt"
python3 "$checker" --csv "$work/d.csv" --json "$work/d.json" --table "$work/d.txt" --ranks "$np" \
  --patterns uniform --methods mpi-alltoallv,mpi-ialltoallv,mpimr-alltoallv,mpimr-pairwise,mpimr-shared-memory \
  --min-size 64 --max-size 256

# Shared memory with the rounds' headers and releases by MPI, as across nodes: the bytes are still
# read in place, and checked; and every method reading what it received inside the timing.
run "$np" "$bin/mpimr-shuffle-bench" -p all -m 1 -M 64K --large-size 2K -i 3 -x 1 --iterations-large 2 \
  --warmup-large 1 -t shared-memory --rounds-by-mpi --consume --csv "$work/m.csv" --json "$work/m.json" \
  > "$work/m.txt"
grep -q '"rounds_by_mpi": true, "ranks_per_node": 0, "consume": true' "$work/m.json"
python3 "$checker" --csv "$work/m.csv" --json "$work/m.json" --table "$work/m.txt" --ranks "$np" \
  --patterns uniform,zipf,sparse \
  --methods mpimr-shared-memory --min-size 1 --max-size 65536

# Shared memory in groups of ceil(np/2) ranks, as on two nodes: the groups' bytes go as messages
# (with 2 ranks every byte does), the rest is read in place; all checked.
group=$(( (np + 1) / 2 ))
run "$np" "$bin/mpimr-shuffle-bench" -p all -m 1 -M 64K --large-size 2K -i 3 -x 1 --iterations-large 2 \
  --warmup-large 1 -t shared-memory,pairwise --ranks-per-node "$group" --csv "$work/g.csv" --json "$work/g.json" \
  > "$work/g.txt"
grep -q '"ranks_per_node": '"$group"', ' "$work/g.json"
grep -q "shared memory in groups of $group ranks" "$work/g.txt"
python3 "$checker" --csv "$work/g.csv" --json "$work/g.json" --table "$work/g.txt" --ranks "$np" \
  --patterns uniform,zipf,sparse --methods mpimr-shared-memory,mpimr-pairwise --min-size 1 --max-size 65536

# No pipe into grep -q: its early exit could kill mpirun with SIGPIPE.
run "$np" "$bin/mpimr-shuffle-bench" --help > "$work/help"
grep -q SYNOPSIS "$work/help"
for bad in "--pattern banana" "--transport carrier-pigeon" "--min-size 2M --max-size 1M" "--iterations 0" \
  "--max-size 2G" "--stat mode" "--sparse-peers 0" "--ranks-per-node -2"; do
  # shellcheck disable=SC2086
  expect_failure 64 "mpimr-shuffle-bench:" run "$np" "$bin/mpimr-shuffle-bench" $bad
done
echo "shuffle_bench_app np=$np: ok"
