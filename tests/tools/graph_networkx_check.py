#!/usr/bin/python3
"""Checks mpimr-pagerank's or mpimr-cc's output against networkx on the same graph file.

usage: graph_networkx_check.py pagerank|cc --format metis|mtx|edges [--names] [--undirected]
                               [--damping D] [--tol T] [--max-iter K] [--rel R] INPUT OUTDIR

The graph is read independently of mpimr: METIS by the small reader below (the
format as gpmetis documents it: header 'n m [fmt [ncon]]', line i the
neighbours of vertex i, '%' comments), MatrixMarket by scipy.io.mmread, edge
lists by networkx's read_edgelist (a DiGraph, or a Graph with --undirected;
integer ids unless --names). METIS and MatrixMarket vertices are written
0-based by mpimr, as they are numbered here.

pagerank: networkx.pagerank(G, alpha=D, tol=T, max_iter=K) (its convergence
rule is the L1 change below n*T, as mpimr-pagerank's --tolerance-per-vertex);
every vertex must be in OUTDIR exactly once, its rank within relative R.
cc: networkx's connected components (weakly connected for a DiGraph); mpimr's
label of each vertex must be the smallest vertex id of its component.
"""
import argparse
import glob
import os
import sys

import networkx as nx


def fail(message):
    sys.exit("graph_networkx_check: FAIL: " + message)


def read_metis(path):
    with open(path) as f:
        lines = [line.rstrip("\r\n") for line in f if not line.startswith("%")]
    header = lines[0].split()
    n, m = int(header[0]), int(header[1])
    fmt = header[2] if len(header) > 2 else "0"
    fmt = fmt.rjust(3, "0")
    has_size, has_vweights, has_eweights = fmt[0] == "1", fmt[1] == "1", fmt[2] == "1"
    ncon = int(header[3]) if len(header) > 3 else (1 if has_vweights else 0)
    skip = (1 if has_size else 0) + (ncon if has_vweights else 0)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    listed = 0
    for v in range(n):
        fields = lines[1 + v].split()[skip:]
        step = 2 if has_eweights else 1
        for u in fields[::step]:
            graph.add_edge(v, int(u) - 1)
            listed += 1
    if listed != 2 * m:
        fail("%s: the oracle's reader found %d neighbours, not 2 * %d" % (path, listed, m))
    return graph


def read_graph(args):
    if args.format == "metis":
        return read_metis(args.input)
    if args.format == "mtx":
        import scipy.io
        matrix = scipy.io.mmread(args.input).tocsr()
        graph = nx.from_scipy_sparse_array(matrix, create_using=nx.Graph if args.undirected else nx.DiGraph)
        return graph
    return nx.read_edgelist(args.input, create_using=nx.Graph if args.undirected else nx.DiGraph,
                            nodetype=str if args.names else int, data=False)


def read_output(outdir, as_int):
    if not os.path.exists(os.path.join(outdir, "_SUCCESS")):
        fail("%s has no _SUCCESS" % outdir)
    got = {}
    for part in sorted(glob.glob(os.path.join(outdir, "part-*"))):
        with open(part, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                key, value = line.rstrip("\n").split("\t")
                vertex = int(key) if as_int else key
                if vertex in got:
                    fail("vertex %r is written twice" % (vertex,))
                got[vertex] = value
    return got


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("program", choices=["pagerank", "cc"])
    parser.add_argument("--format", choices=["metis", "mtx", "edges"], required=True)
    parser.add_argument("--names", action="store_true")
    parser.add_argument("--undirected", action="store_true")
    parser.add_argument("--damping", type=float, default=0.85)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--rel", type=float, default=1e-9)
    parser.add_argument("input")
    parser.add_argument("outdir")
    args = parser.parse_args()
    graph = read_graph(args)
    got = read_output(args.outdir, not args.names)
    if set(got) != set(graph.nodes):
        missing = set(graph.nodes) - set(got)
        extra = set(got) - set(graph.nodes)
        fail("the vertices differ: %d missing (e.g. %r), %d extra (e.g. %r)" % (
            len(missing), sorted(missing)[:3], len(extra), sorted(extra)[:3]))
    if args.program == "pagerank":
        # weight=None: every edge counts once (MatrixMarket values would otherwise weigh them).
        want = nx.pagerank(graph, alpha=args.damping, tol=args.tol, max_iter=args.max_iter, weight=None)
        worst, where = 0.0, None
        for v, rank in want.items():
            error = abs(float(got[v]) - rank) / rank
            if error > worst:
                worst, where = error, v
        if worst > args.rel:
            fail("vertex %r: rank %s, networkx %r (relative error %.3g > %g)" % (
                where, got[where], want[where], worst, args.rel))
        print("graph_networkx_check: OK: pagerank of %d vertices, %d edges as networkx %s has them; "
              "largest relative error %.3g" % (graph.number_of_nodes(), graph.number_of_edges(),
                                               nx.__version__, worst))
    else:
        components = (nx.weakly_connected_components(graph) if graph.is_directed()
                      else nx.connected_components(graph))
        count = 0
        for component in components:
            count += 1
            smallest = min(component)
            for v in component:
                if int(got[v]) != smallest:
                    fail("vertex %r is labelled %s, not %r, the smallest of its component" % (v, got[v], smallest))
        print("graph_networkx_check: OK: %d components of %d vertices as networkx %s finds them" % (
            count, graph.number_of_nodes(), nx.__version__))


if __name__ == "__main__":
    main()
