#!/usr/bin/env python3
"""Independent oracle for mpimr-pagerank: reads the same edge lists, runs a
serial power iteration and checks an output directory against it.

usage: pagerank_oracle.py [--damping D] [--tolerance T] [--max-iterations K]
                          [--vertices N] [--iterations I] [--same-as DIR]
                          [--rel R] OUTDIR NP INPUT...

It shares no code with mpimr. The edge lists are read as mpimr-pagerank's
manual describes them: the INPUT files, and the files under INPUT
directories (names starting with '.' skipped, walked in bytewise name
order); a line (a CR before its LF dropped) that is blank (spaces and TABs)
or whose first non-blank byte is '#' or '%' is skipped, any other is
'SRC DST', two decimal ids separated by spaces or TABs. n is --vertices, or
the largest id + 1. The ranks are PR_0 = 1/n and
PR_t+1(v) = (1-d)/n + d * (sum over edges u->v of PR_t(u)/outdeg(u) + D_t/n)
with D_t the rank of the vertices without out-edges; duplicate edges count
with their multiplicity.

Checked in OUTDIR: _SUCCESS exists; the entries are exactly _SUCCESS and
part-00000 .. part-(NP-1); every line is 'VERTEX<TAB>RANK<LF>' with a
canonical decimal vertex and the rank as C's %.17g writes it; each part is
in nondecreasing bytewise order; every vertex 0 .. n-1 appears exactly once;
the ranks add up to 1 within 1e-9; and every rank is within relative
tolerance R (default 1e-6) of the oracle's, which iterates until its L1
change is below 1e-14 (at most 10000 iterations). With --iterations I (what
the program reported), the oracle's own count of iterations under the same
stopping rule (--tolerance, --max-iterations) must be within 1 of I. With
--same-as DIR, the ranks in OUTDIR and DIR must also agree to 1e-12
relative.

Exit status: 0 and one OK line, or 1 with the first difference found.
"""
import argparse
import os
import stat
import sys


def fail(message):
    print("pagerank_oracle: FAIL: " + message)
    sys.exit(1)


def list_files(path, files):
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        for name in sorted(n for n in os.listdir(path) if not n.startswith(b".")):
            list_files(os.path.join(path, name), files)
    elif stat.S_ISREG(st.st_mode):
        files.append(path)


def read_edges(inputs):
    files = []
    for path in inputs:
        list_files(os.fsencode(path), files)
    edges = []
    for path in files:
        for number, line in enumerate(open(path, "rb").read().split(b"\n"), 1):
            if line.endswith(b"\r"):
                line = line[:-1]
            text = line.strip(b" \t")
            if not text or text[:1] in (b"#", b"%"):
                continue
            fields = text.replace(b"\t", b" ").split()
            if len(fields) != 2 or not all(f.isdigit() for f in fields):
                fail("%s line %d is not an edge: %r" % (path.decode(errors="replace"), number, line))
            edges.append((int(fields[0]), int(fields[1])))
    return edges


def power_iteration(n, edges, damping, tolerance, max_iterations):
    """The converged ranks, and the iterations the stopping rule (tolerance, max) would take."""
    outdeg = [0] * n
    for u, _ in edges:
        outdeg[u] += 1
    dangling = [v for v in range(n) if outdeg[v] == 0]
    rank = [1.0 / n] * n
    stopped_at = None
    for t in range(1, 10001):
        incoming = [0.0] * n
        for u, v in edges:
            incoming[v] += rank[u] / outdeg[u]
        dangling_mass = sum(rank[v] for v in dangling)
        new = [(1 - damping) / n + damping * (incoming[v] + dangling_mass / n) for v in range(n)]
        change = sum(abs(a - b) for a, b in zip(new, rank))
        rank = new
        if stopped_at is None and (change < tolerance or t == max_iterations):
            stopped_at = t
        if change < 1e-14 and stopped_at is not None:
            break
    return rank, stopped_at


def read_ranks(outdir, nranks):
    expected = {"_SUCCESS"} | {"part-%05d" % r for r in range(nranks)}
    found = set(os.listdir(outdir))
    if found != expected:
        fail("%s holds %s, want %s" % (outdir, sorted(found), sorted(expected)))
    ranks = {}
    for r in range(nranks):
        path = os.path.join(outdir, "part-%05d" % r)
        data = open(path, "rb").read()
        if data and not data.endswith(b"\n"):
            fail("%s does not end with a newline" % path)
        previous = None
        for number, raw in enumerate(data.split(b"\n")[:-1], 1):
            fields = raw.split(b"\t")
            if len(fields) != 2 or not fields[0].isdigit() or (fields[0] != b"0" and fields[0].startswith(b"0")):
                fail("%s line %d is not 'VERTEX<TAB>RANK': %r" % (path, number, raw))
            try:
                value = float(fields[1])
            except ValueError:
                fail("%s line %d has a rank that is not a number: %r" % (path, number, raw))
            if (b"%.17g" % value) != fields[1]:
                fail("%s line %d: the rank is not written as %%.17g: %r" % (path, number, raw))
            if previous is not None and raw < previous:
                fail("%s line %d is out of bytewise order: %r after %r" % (path, number, raw, previous))
            previous = raw
            vertex = int(fields[0])
            if vertex in ranks:
                fail("vertex %d appears twice" % vertex)
            ranks[vertex] = value
    return ranks


def compare(got, want, rel, what):
    worst, where = 0.0, None
    for v, expected in enumerate(want):
        error = abs(got[v] - expected) / abs(expected) if expected else abs(got[v])
        if error > worst:
            worst, where = error, v
    if worst > rel:
        fail("%s: vertex %d has rank %r, want %r (relative error %.3g > %g)" % (
            what, where, got[where], want[where], worst, rel))
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--damping", type=float, default=0.85)
    parser.add_argument("--tolerance", type=float, default=1e-8)
    parser.add_argument("--max-iterations", type=int, default=100)
    parser.add_argument("--vertices", type=int)
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--same-as")
    parser.add_argument("--rel", type=float, default=1e-6)
    parser.add_argument("outdir")
    parser.add_argument("nranks", type=int)
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args()

    edges = read_edges(args.inputs)
    n = args.vertices if args.vertices else 1 + max(max(u, v) for u, v in edges)
    if any(max(u, v) >= n for u, v in edges):
        fail("an edge has a vertex of --vertices %d or more" % n)
    want, stopped_at = power_iteration(n, edges, args.damping, args.tolerance, args.max_iterations)

    got = read_ranks(args.outdir, args.nranks)
    if sorted(got) != list(range(n)):
        missing = sorted(set(range(n)) - set(got))[:5]
        extra = sorted(set(got) - set(range(n)))[:5]
        fail("the vertices are not exactly 0 .. %d: missing %s, extra %s" % (n - 1, missing, extra))
    got = [got[v] for v in range(n)]
    total = sum(got)
    if abs(total - 1) > 1e-9:
        fail("the ranks add up to %r, not 1" % total)
    worst = compare(got, want, args.rel, "against the oracle")
    if args.iterations is not None and abs(args.iterations - stopped_at) > 1:
        fail("the program took %d iterations, the oracle %d" % (args.iterations, stopped_at))
    if args.same_as:
        other = read_ranks(args.same_as, len([f for f in os.listdir(args.same_as) if f.startswith("part-")]))
        if sorted(other) != list(range(n)):
            fail("%s does not have exactly the vertices 0 .. %d" % (args.same_as, n - 1))
        compare(got, [other[v] for v in range(n)], 1e-12, "against " + args.same_as)
    print("pagerank_oracle: OK: %d vertices, %d edges, %d parts, largest relative error %.3g%s" % (
        n, len(edges), args.nranks, worst,
        "" if args.iterations is None else ", %d iterations (oracle %d)" % (args.iterations, stopped_at)))


if __name__ == "__main__":
    main()
