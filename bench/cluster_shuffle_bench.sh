#!/usr/bin/env bash
# bench/cluster_shuffle_bench.sh — mpimr-shuffle-bench between emulated nodes of this machine.
set -euo pipefail
usage() {
  cat <<'EOF'
NAME
    cluster_shuffle_bench.sh - the shuffle benchmark between emulated nodes (TCP over loopback)

SYNOPSIS
    bench/cluster_shuffle_bench.sh [--layout L] [--min-size S] [--max-size S] [--iterations N]
                                   [--build DIR] [--out PREFIX]

DESCRIPTION
    Runs mpimr-shuffle-bench across "nodes" that are UTS namespaces of this machine, each with
    its own hostname and Open MPI daemon (tests/tools/node_agent.sh as plm_rsh_agent; needs
    root): ranks on different nodes share no memory and their bytes go over TCP on the loopback
    device, as between the nodes of a cluster. Every method is timed: MPI_Alltoallv,
    MPI_Ialltoallv (progressed by MPI_Test between compute slices) and mpimr's rounds with each
    transport, with the OSU overlap test. Writes PREFIX.txt (the table), PREFIX.csv and
    PREFIX.json.

    Loopback TCP is not a network: it has no wire latency or bandwidth limit of its own, but
    every message costs system calls and copies on the same two cores that compute, and Open
    MPI's TCP progress here shows a floor of milliseconds per exchange. Compare methods and
    overlap with each other, not absolute times with a cluster's; on a cluster run the same
    mpimr-shuffle-bench under mpirun or srun across real nodes.

OPTIONS
    --layout L       ranks per node, comma-separated (default 1,2: two nodes of 1 and 2 ranks)
    --min-size S     smallest bytes per peer (default 64K)
    --max-size S     largest bytes per peer (default 1M)
    --iterations N   timed exchanges per method and size (default 20)
    --build DIR      the build directory with bin/mpimr-shuffle-bench (default build)
    --out PREFIX     where the results go (default bench/results/cluster-shuffle-LAYOUT)
    -h, --help       show this text
EOF
}
layout=1,2 min=64K max=1M iterations=20 build=build out=""
while [ $# -gt 0 ]; do
  case $1 in
    --layout) layout=$2; shift 2 ;;
    --min-size) min=$2; shift 2 ;;
    --max-size) max=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "cluster_shuffle_bench.sh: unknown option '$1' (see --help)" >&2; exit 64 ;;
  esac
done
cd "$(dirname "$0")/.."
[[ $layout =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
  { echo "cluster_shuffle_bench.sh: --layout must be counts like 2,2,1, not '$layout'" >&2; exit 64; }
unshare --uts true 2>/dev/null || { echo "cluster_shuffle_bench.sh: needs root (unshare --uts)" >&2; exit 1; }
source scripts/mpi-env.sh
[ -n "$out" ] || out=bench/results/cluster-shuffle-${layout//,/-}
work=$(mktemp -d /tmp/mpimr-cluster-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
ranks=0 node=0
IFS=, read -r -a counts <<<"$layout"
for count in "${counts[@]}"; do
  node=$((node + 1))
  ranks=$((ranks + count))
  echo "n$node slots=$count" >>"$work/hosts"
done
{
  echo "== cluster_shuffle_bench $(date -u +%FT%TZ) on $(hostname): $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "nodes: $layout ranks ($ranks in all), TCP over loopback between nodes"
  mpirun --mca plm_rsh_agent "$PWD/tests/tools/node_agent.sh" --hostfile "$work/hosts" -np "$ranks" \
    "$build/bin/mpimr-shuffle-bench" -m "$min" -M "$max" -i "$iterations" --iterations-large "$iterations" \
    -x 5 --warmup-large 3 -t mpi-alltoallv,mpi-ialltoallv,alltoallv,pairwise,shared-memory \
    --csv "$out.csv" --json "$out.json" </dev/null
} 2>&1 | tee "$out.txt"
