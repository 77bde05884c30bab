#!/usr/bin/env bash
# mpimr-pagerank and mpimr-cc against networkx on real graphs that ship in Debian packages and on
# small hand-made files in the same formats, checked by tests/tools/graph_networkx_check.py:
#   - METIS: 4elt.graph and copter2.graph (libmetis-doc's examples), and a hand-made file with
#     comments, FMT 011 (vertex and edge weights) and a vertex without neighbours;
#   - MatrixMarket: 4elt written by scipy.io.mmwrite as a symmetric pattern matrix, and a general
#     one with a vertex that only has in-edges;
#   - an edge list of named vertices: WormNet v3 (python3-networkx's examples), undirected,
#     as networkx's own example reads it (--names --undirected);
#   - an edge list with sparse 64-bit ids (--sparse);
# PageRank with networkx's tolerance rule (--tolerance-per-vertex), and the ranks at np 1 the
# same as at this np; connected components of the METIS, MatrixMarket and WormNet graphs against
# networkx's (weakly) connected components. Skipped (status 77) with a message where the packages cannot be had.
# usage: graphs_networkx_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
check="$(dirname "$0")/../tools/graph_networkx_check.py"
metis_dir=/usr/share/doc/libmetis-dev/examples/graphs
wormnet=/usr/share/doc/python3-networkx/examples/algorithms/WormNet.v3.benchmark.txt
# Debian's Python, with Debian's networkx and scipy (another python3 may come first on PATH).
python=/usr/bin/python3
missing=()
[ -r "$metis_dir/4elt.graph" ] || missing+=("$metis_dir/4elt.graph (libmetis-doc)")
[ -r "$wormnet" ] || missing+=("$wormnet (python3-networkx)")
"$python" -c 'import networkx, scipy.io' 2>/dev/null || missing+=("networkx and scipy for $python")
if [ ${#missing[@]} -gt 0 ]; then
  echo "graphs_networkx_app: SKIPPED: missing ${missing[*]}; scripts/install-deps.sh libmetis-doc" \
    "python3-networkx python3-scipy installs them"
  exit 77
fi
work=$(mktemp -d /tmp/mpimr-graphs-networkx-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"
export OMPI_MCA_odls_base_sigkill_timeout=0

tight=(--tolerance-per-vertex 1e-12 --max-iterations 1000)
nx_tight=(--tol 1e-12 --max-iter 1000 --rel 1e-7)

pagerank_vs_networkx() {  # NAME FORMAT CHECK_ARGS... -- PROGRAM_ARGS...
  local name=$1 format=$2
  shift 2
  local check_args=()
  while [ "$1" != -- ]; do check_args+=("$1"); shift; done
  shift
  run "$np" "$bin/mpimr-pagerank" -q "${tight[@]}" -o "$work/$name" "$@"
  "$python" "$check" pagerank --format "$format" "${check_args[@]}" "${nx_tight[@]}" "${@: -1}" "$work/$name"
}

# METIS: the packaged meshes.
pagerank_vs_networkx 4elt metis -- "$metis_dir/4elt.graph"
pagerank_vs_networkx copter2 metis -- "$metis_dir/copter2.graph"
# networkx's default tolerance (1e-6 per vertex) and damping 0.7: the same rule, the same stop.
run "$np" "$bin/mpimr-pagerank" -q --tolerance-per-vertex 1e-6 --damping 0.7 -o "$work/4elt-default" \
  "$metis_dir/4elt.graph"
"$python" "$check" pagerank --format metis --damping 0.7 --tol 1e-6 --rel 1e-9 "$metis_dir/4elt.graph" \
  "$work/4elt-default"

# Hand-made METIS files: comments, FMT 011 with two vertex weights (NCON 2) and edge weights, a
# vertex (4) without neighbours, a CRLF line end, no newline at the end; and, without weights,
# two empty lines (vertices 3 and 4, isolated).
printf '%% a comment\n5 3 011 2\n%% another\n1 1 2 7 3 1\n2 2 1 7\r\n3 3 1 1 5 2\n4 4\n5 5 3 2' \
  >"$work/hand.graph"
pagerank_vs_networkx hand metis -- "$work/hand.graph"
printf '4 1\n2\n1\n\n\n' >"$work/empty-lines.graph"
pagerank_vs_networkx empty-lines metis -- "$work/empty-lines.graph"

# MatrixMarket: 4elt as a symmetric pattern matrix, and a general matrix.
"$python" - "$metis_dir/4elt.graph" "$work/4elt.mtx" "$work/general.mtx" <<'PY'
import sys
import numpy, scipy.io, scipy.sparse
rows, cols = [], []
with open(sys.argv[1]) as f:
    lines = [l for l in f if not l.startswith("%")]
n = int(lines[0].split()[0])
for v in range(n):
    for u in lines[1 + v].split():
        rows.append(v); cols.append(int(u) - 1)
matrix = scipy.sparse.coo_matrix((numpy.ones(len(rows)), (rows, cols)), shape=(n, n))
scipy.io.mmwrite(sys.argv[2], matrix, field="pattern", symmetry="symmetric")
# A general real matrix (values ignored): 6 vertices, 6 only has an in-edge, 4 only an out-edge.
with open(sys.argv[3], "w") as f:
    f.write("%%MatrixMarket matrix coordinate real general\n% made by the test\n6 6 6\n"
            "1 2 0.5\n2 3 1e3\n3 1 -2\n4 1 1\n1 6 1\n3 3 7\n")
PY
pagerank_vs_networkx 4elt-mtx mtx -- "$work/4elt.mtx"
pagerank_vs_networkx general mtx -- "$work/general.mtx"
pagerank_vs_networkx general-undirected mtx --undirected -- --undirected "$work/general.mtx"

# WormNet: named vertices, undirected, as networkx's example reads it.
pagerank_vs_networkx wormnet edges --names --undirected -- --names --undirected "$wormnet"

# Sparse 64-bit ids: a random directed graph on ids spread over [0, 2^62).
"$python" - "$work/sparse.txt" <<'PY'
import random, sys
rng = random.Random(7)
ids = [rng.randrange(1 << 62) for _ in range(300)]
with open(sys.argv[1], "w") as f:
    f.write("# sparse ids\n")
    edges = set()
    while len(edges) < 1500:
        edges.add((rng.choice(ids), rng.choice(ids[:250])))  # ids[250:] have no in-edges
    for u, v in sorted(edges):
        f.write("%d\t%d\n" % (u, v))
PY
pagerank_vs_networkx sparse edges -- --sparse "$work/sparse.txt"

# At np 1 the same ranks as at this np (to rounding: sums meet in another order).
run 1 "$bin/mpimr-pagerank" -q "${tight[@]}" -o "$work/wormnet-1" --names --undirected "$wormnet"
"$python" - "$work/wormnet" "$work/wormnet-1" <<'PY'
import glob, sys
def ranks(d):
    return dict(l.rstrip("\n").split("\t") for p in glob.glob(d + "/part-*") for l in open(p))
a, b = ranks(sys.argv[1]), ranks(sys.argv[2])
assert a.keys() == b.keys(), "the vertices differ between rank counts"
worst = max(abs(float(a[v]) - float(b[v])) / float(b[v]) for v in a)
assert worst < 1e-12, "ranks differ between rank counts by %g" % worst
PY

# Connected components: the 4elt mesh and the hand-made files, the general MatrixMarket matrix
# (weakly connected), and WormNet with its names numbered in name order (mpimr-cc takes numbers).
cc_vs_networkx() {  # NAME FORMAT [--undirected] INPUT
  local name=$1 format=$2 input=${*: -1}
  run "$np" "$bin/mpimr-cc" -q -o "$work/cc-$name" "$input"
  "$python" "$check" cc --format "$format" "${@:3}" "$work/cc-$name"
}
cc_vs_networkx 4elt metis "$metis_dir/4elt.graph"
cc_vs_networkx hand metis "$work/hand.graph"
cc_vs_networkx empty-lines metis "$work/empty-lines.graph"
cc_vs_networkx general mtx "$work/general.mtx"
"$python" - "$wormnet" "$work/wormnet-numbered.txt" <<'PY'
import sys
edges = [line.split() for line in open(sys.argv[1]) if line.strip() and not line.startswith("#")]
number = {name: i for i, name in enumerate(sorted({v for edge in edges for v in edge}))}
with open(sys.argv[2], "w") as out:
    for u, v in edges:
        out.write("%d %d\n" % (number[u], number[v]))
PY
cc_vs_networkx wormnet edges --undirected "$work/wormnet-numbered.txt"

# Malformed files fail naming the file and what is wrong; format misuse is a usage error.
printf '3 2\n2\n1 3\n2 4\n' >"$work/bad-neighbour.graph"
printf '3 5\n2\n1 3\n2\n' >"$work/bad-count.graph"
printf '%%%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n' >"$work/dense.mtx"
printf '%%%%MatrixMarket matrix coordinate pattern general\n3 4 1\n1 2\n' >"$work/rectangular.mtx"
expect_failure 1 "bad-neighbour.graph: byte .*not between 1 and the vertex count" \
  run "$np" "$bin/mpimr-pagerank" -o "$work/x1" "$work/bad-neighbour.graph"
expect_failure 1 "bad-count.graph: the header says 5 edges" \
  run "$np" "$bin/mpimr-pagerank" -o "$work/x2" "$work/bad-count.graph"
expect_failure 1 "only 'coordinate'" run "$np" "$bin/mpimr-pagerank" -o "$work/x3" "$work/dense.mtx"
expect_failure 1 "must be square" run "$np" "$bin/mpimr-pagerank" -o "$work/x4" "$work/rectangular.mtx"
expect_failure 64 "no --undirected" run "$np" "$bin/mpimr-pagerank" -o "$work/x5" --undirected "$work/hand.graph"
expect_failure 64 "one INPUT file" run "$np" "$bin/mpimr-pagerank" -o "$work/x6" --format metis \
  "$work/hand.graph" "$work/hand.graph"
expect_failure 64 "give one" run "$np" "$bin/mpimr-pagerank" -o "$work/x7" --tolerance 1e-3 \
  --tolerance-per-vertex 1e-6 "$work/hand.graph"
expect_failure 64 "give one" run "$np" "$bin/mpimr-pagerank" -o "$work/x8" --sparse --vertices 10 \
  "$work/sparse.txt"
expect_failure 64 "no --vertices" run "$np" "$bin/mpimr-cc" -o "$work/x9" --vertices 10 "$work/hand.graph"
expect_failure 1 "bad-count.graph: the header says 5 edges" \
  run "$np" "$bin/mpimr-cc" -o "$work/x10" "$work/bad-count.graph"
echo "graphs_networkx_app np=$np: ok"
