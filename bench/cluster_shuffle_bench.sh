#!/usr/bin/env bash
# bench/cluster_shuffle_bench.sh — mpimr-shuffle-bench between emulated nodes of this machine.
set -euo pipefail
usage() {
  cat <<'EOF'
NAME
    cluster_shuffle_bench.sh - the shuffle benchmark between emulated nodes (TCP over loopback)

SYNOPSIS
    bench/cluster_shuffle_bench.sh [--layout L] [--min-size S] [--max-size S] [--iterations N]
                                   [--repeat R] [--progress-thread] [--build DIR] [--out PREFIX]

DESCRIPTION
    Runs mpimr-shuffle-bench across "nodes" that are UTS namespaces of this machine, each with
    its own hostname and Open MPI daemon (tests/tools/node_agent.sh as plm_rsh_agent; needs
    root): ranks on different nodes share no memory and their bytes go over TCP on the loopback
    device, as between the nodes of a cluster. Every method is timed: MPI_Alltoallv,
    MPI_Ialltoallv (progressed by MPI_Test between compute slices) and mpimr's rounds with each
    transport, with the OSU overlap test. Writes PREFIX.txt (the table), PREFIX.csv and
    PREFIX.json.

    Each node gets CPUs of its own, as real nodes have: node K runs on CPU (K-1) mod the
    machine's CPUs (NODE_AGENT_CPUS of node_agent.sh, with mpirun --bind-to none), so on this
    2-core machine the layout 1,1 gives each rank a core, and in 1,2 the second node's two
    ranks share one. (Without this every node bound its first rank to core 0, and ranks of
    different nodes took turns on one core: exchanges of milliseconds at every size, which
    compute then hid, and overlap figures that measured the scheduler.)

    Loopback TCP is not a network: it has no wire latency or bandwidth limit of its own, but
    every message costs system calls and copies on the same two cores that compute, and Open
    MPI's TCP progress here shows a floor of milliseconds per exchange. Compare methods and
    overlap with each other, not absolute times with a cluster's; on a cluster run the same
    mpimr-shuffle-bench under mpirun or srun across real nodes.

OPTIONS
    --layout L       ranks per node, comma-separated (default 1,1: two nodes of 1 rank)
    --min-size S     smallest bytes per peer (default 64K)
    --max-size S     largest bytes per peer (default 4M)
    --iterations N   timed exchanges per method and size (default 20)
    --repeat R       alternate the methods R times per size, report medians (default 1)
    --progress-thread
                     run Open MPI's TCP transport with its progress thread
                     (--mca btl_tcp_progress_thread 1): a thread of each rank moves the
                     socket's bytes while the rank computes, as a NIC would (here on the
                     rank's own core); PREFIX gets -progress-thread
    --build DIR      the build directory with bin/mpimr-shuffle-bench (default build)
    --out PREFIX     where the results go (default bench/results/cluster-shuffle-LAYOUT)
    -h, --help       show this text
EOF
}
layout=1,1 min=64K max=4M iterations=20 repeat=1 build=build out="" progress_thread=0
while [ $# -gt 0 ]; do
  case $1 in
    --layout) layout=$2; shift 2 ;;
    --min-size) min=$2; shift 2 ;;
    --max-size) max=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --progress-thread) progress_thread=1; shift ;;
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
[ -n "$out" ] || out=bench/results/cluster-shuffle-${layout//,/-}$([ "$progress_thread" = 1 ] && echo -progress-thread)
work=$(mktemp -d /tmp/mpimr-cluster-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
[[ $repeat =~ ^[1-9][0-9]*$ ]] || { echo "cluster_shuffle_bench.sh: --repeat must be a positive integer" >&2; exit 64; }
ranks=0 node=0 cpus=""
IFS=, read -r -a counts <<<"$layout"
for count in "${counts[@]}"; do
  node=$((node + 1))
  ranks=$((ranks + count))
  echo "n$node slots=$count" >>"$work/hosts"
  cpus+="${cpus:+;}$(( (node - 1) % $(nproc) ))"
done
export NODE_AGENT_CPUS=$cpus
{
  echo "== cluster_shuffle_bench $(date -u +%FT%TZ) on $(hostname): $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "nodes: $layout ranks ($ranks in all) on CPUs $cpus, TCP over loopback between nodes$(
    [ "$progress_thread" = 1 ] && echo ", TCP progress thread")"
  mpirun --bind-to none --mca btl_tcp_progress_thread "$progress_thread" --mca plm_rsh_agent "$PWD/tests/tools/node_agent.sh" --hostfile "$work/hosts" -np "$ranks" \
    "$build/bin/mpimr-shuffle-bench" -m "$min" -M "$max" -i "$iterations" --iterations-large "$iterations" \
    -x 5 --warmup-large 3 -r "$repeat" -t mpi-alltoallv,mpi-ialltoallv,alltoallv,pairwise,shared-memory \
    --csv "$out.csv" --json "$out.json" </dev/null
} 2>&1 | tee "$out.txt"

# The chart: each method's latency (left) and overlap (right) by size, from the CSV.
if ! command -v gnuplot >/dev/null 2>&1; then
  echo "chart: skipped, gnuplot is not installed (apt-get install gnuplot-nox)"
  exit 0
fi
methods=$(awk -F, 'NR > 1 { print $2 }' "$out.csv" | awk '!seen[$0]++')
latency="" overlap="" style=0
for method in $methods; do
  style=$((style + 1)) # the same colour and mark for a method in both panels
  awk -F, -v m="$method" 'NR > 1 && $2 == m { print $4, $7, ($14 == "" ? "NaN" : $14) }' "$out.csv" >"$work/$method.dat"
  latency+="${latency:+, }'$work/$method.dat' using 1:2 with linespoints lt $style pt $style title '$method'"
  [ "$(awk '$3 != "NaN"' "$work/$method.dat" | wc -l)" -eq 0 ] ||
    overlap+="${overlap:+, }'$work/$method.dat' using 1:3 with linespoints lt $style pt $style title '$method'"
done
gnuplot <<GNUPLOT
set terminal pngcairo size 1100,480 font "sans,10" noenhanced
set output "$out.png"
set multiplot layout 1,2 title "mpimr-shuffle-bench between emulated nodes $layout (TCP over loopback$(
  [ "$progress_thread" = 1 ] && echo ", progress thread")), $(hostname), $(date -u +%F)"
set logscale x 2
set format x "%.0b %BB"
set xlabel "bytes per peer"
set grid
set key top left
set logscale y 10
set ylabel "exchange, us (lower is better)"
set title "latency"
plot $latency
unset logscale y
set yrange [0:100]
set ylabel "overlap, % (OSU)"
set title "overlap with compute"
plot $overlap
unset multiplot
GNUPLOT
echo "chart: $out.png"
