#!/usr/bin/env bash
# bench/pagerank_networkx_bench.sh — mpimr-pagerank against networkx's pagerank on a METIS graph,
# run alternately (mpimr, networkx, mpimr, networkx, ...), each timed from start to end, with
# the medians and their ratio.
set -euo pipefail
usage() {
  cat <<'EOF'
NAME
    pagerank_networkx_bench.sh - time mpimr-pagerank against networkx on a METIS graph

SYNOPSIS
    bench/pagerank_networkx_bench.sh [--np P] [--runs N] [--iterations K] [--graph FILE]
                                     [--build DIR] [--out FILE]

DESCRIPTION
    Runs, N times each and alternately, the same PageRank two ways:
      mpimr     mpirun -np P mpimr-pagerank --tolerance 0 --max-iterations K FILE
                (reads the METIS file, builds the graph, K iterations, writes the ranks);
      networkx  /usr/bin/python3: reads the METIS file into a networkx DiGraph (each listed
                neighbour an edge, as mpimr reads it), then networkx.pagerank(G, tol=0,
                max_iter=K), its PowerIterationFailedConvergence caught (with tol 0 it never
                converges: it runs K iterations), ranks not written.
    Each is timed from the start of its process to its end (mpirun's start-up included); the
    load and iteration times each reports are printed too. The first mpimr run's ranks are
    compared with networkx's (relative 1e-9) before any timing. Prints every run, the medians,
    and the ratio networkx / mpimr (above 1: mpimr is faster); appends them to FILE.

OPTIONS
    --np P          mpimr's ranks (default 2)
    --runs N        runs of each (default 5)
    --iterations K  PageRank iterations (default 100)
    --graph FILE    a METIS graph (default libmetis-doc's mdual.graph: 258,569 vertices,
                    1,026,264 directed edges)
    --build DIR     the build directory with bin/mpimr-pagerank (default build)
    --out FILE      append the figures here (default bench/results/pagerank-networkx.txt)
    -h, --help      show this text

NEEDS
    libmetis-doc, python3-networkx, python3-scipy (scripts/install-deps.sh installs them).
EOF
}
np=2 runs=5 iterations=100 graph=/usr/share/doc/libmetis-dev/examples/graphs/mdual.graph build=build
table=bench/results/pagerank-networkx.txt
while [ $# -gt 0 ]; do
  case $1 in
    --np) np=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --graph) graph=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) table=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "pagerank_networkx_bench.sh: unknown option '$1' (see --help)" >&2; exit 64 ;;
  esac
done
cd "$(dirname "$0")/.."
[ -r "$graph" ] || { echo "pagerank_networkx_bench.sh: no graph '$graph' (apt-get install libmetis-doc)" >&2; exit 1; }
/usr/bin/python3 -c 'import networkx, scipy' 2>/dev/null ||
  { echo "pagerank_networkx_bench.sh: /usr/bin/python3 lacks networkx or scipy" >&2; exit 1; }
# shellcheck source=bench/bench_lib.sh
source bench/bench_lib.sh
source scripts/mpi-env.sh
work=$(mktemp -d /tmp/mpimr-pagerank-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

cat >"$work/networkx_pagerank.py" <<'PY'
import sys, time
t0 = time.time()
import networkx as nx
path, iterations = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    lines = [l for l in f if not l.startswith("%")]
n = int(lines[0].split()[0])
graph = nx.DiGraph()
graph.add_nodes_from(range(n))
for v in range(n):
    graph.add_edges_from((v, int(u) - 1) for u in lines[1 + v].split())
t1 = time.time()
ranks = None
try:
    ranks = nx.pagerank(graph, tol=0, max_iter=iterations)
except nx.PowerIterationFailedConvergence:
    pass
t2 = time.time()
print("networkx: load %.3f s, iterate %.3f s" % (t1 - t0, t2 - t1))
if len(sys.argv) > 3:  # ranks for the check: tol 0 never converges, so run to a tiny tolerance
    ranks = nx.pagerank(graph, tol=1e-15, max_iter=10000)
    with open(sys.argv[3], "w") as out:
        for v, r in ranks.items():
            out.write("%d\t%.17g\n" % (v, r))
PY

# Seconds since START (nanoseconds from date +%s%N), with three decimals.
seconds_since() { awk -v ns=$(($(date +%s%N) - $1)) 'BEGIN { printf "%.3f", ns / 1e9 }'; }

mpimr() {
  mpirun --oversubscribe -np "$np" "$build/bin/mpimr-pagerank" -v -f -o "$work/ranks" --tolerance 0 \
    --max-iterations "$iterations" "$graph" 2>&1 | grep -E "seconds:|iterations,"
}

say "== pagerank_networkx_bench $(date -u +%FT%TZ) on $(hostname): $(nproc) cores, load $(loadavg)"
say "graph: $graph; $iterations iterations; mpimr at np $np"
# The check: mpimr to a tight per-vertex tolerance against networkx's converged ranks.
mpirun --oversubscribe -np "$np" "$build/bin/mpimr-pagerank" -q -f -o "$work/check" \
  --tolerance-per-vertex 1e-15 --max-iterations 10000 "$graph"
/usr/bin/python3 "$work/networkx_pagerank.py" "$graph" 1 "$work/networkx-ranks.txt" >/dev/null
/usr/bin/python3 - "$work/check" "$work/networkx-ranks.txt" <<'PY' | tee -a "$table"
import glob, sys
got = dict(l.split("\t") for p in glob.glob(sys.argv[1] + "/part-*") for l in open(p))
want = dict(l.split("\t") for l in open(sys.argv[2]))
assert got.keys() == want.keys(), "the vertices differ"
worst = max(abs(float(got[v]) - float(want[v])) / float(want[v]) for v in want)
assert worst < 1e-9, "ranks differ from networkx by %g" % worst
print("check: the ranks agree with networkx's (largest relative difference %.3g)" % worst)
PY

mpimr_times="" networkx_times=""
for run in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  detail=$(mpimr | tr '\n' ' ')
  t=$(seconds_since "$start")
  mpimr_times+=" $t"
  say "run $run mpimr:    $t s  ($detail)"
  start=$(date +%s%N)
  detail=$(/usr/bin/python3 "$work/networkx_pagerank.py" "$graph" "$iterations")
  t=$(seconds_since "$start")
  networkx_times+=" $t"
  say "run $run networkx: $t s  ($detail)"
done
awk -v a="$mpimr_times" -v b="$networkx_times" "$AWK_MEDIAN"'
  BEGIN { m = median(a); n = median(b)
          printf "median: mpimr %.3f s, networkx %.3f s: networkx / mpimr = %.2f\n", m, n, n / m }' |
  tee -a "$table"
