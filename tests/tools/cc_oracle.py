#!/usr/bin/env python3
"""Independent oracle for mpimr-cc: connected components by union-find,
checked against an output directory.

usage: cc_oracle.py OUTDIR NP VERTICES COMPONENTS ITERATIONS INPUT...

It shares no code with mpimr. The inputs are listed like the library lists
them (each INPUT in the order given; a directory's entries sorted bytewise,
names starting with '.' skipped, depth first); each line is 'SRC DST' with
blank lines and lines starting (after blanks) with '#' or '%' skipped.
VERTICES is --vertices N (0: none). COMPONENTS and ITERATIONS are what the
program's summary said.

Checked: OUTDIR holds exactly _SUCCESS and part-00000 .. part-(NP-1); every
line is 'VERTEX<TAB>COMPONENT' in decimal; each part is in increasing vertex
order; every vertex is listed exactly once and no other; each vertex's
component is the smallest vertex id of its component (union-find); the
number of components is COMPONENTS; and ITERATIONS is the number of
synchronous label-propagation steps until one changes nothing (simulated).

Exit status: 0 and one OK line, or 1 with the first difference found.
"""
import os
import re
import stat
import sys


def fail(message):
    print("cc_oracle: FAIL: " + message)
    sys.exit(1)


def list_path(path, files):
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        for name in sorted(n for n in os.listdir(path) if not n.startswith(b".")):
            list_path(path + (b"" if path.endswith(b"/") else b"/") + name, files)
    elif stat.S_ISREG(st.st_mode):
        files.append(path)


def read_edges(inputs):
    files = []
    for name in inputs:
        list_path(os.fsencode(name), files)
    edges = []
    for path in files:
        with open(path, "rb") as f:
            for number, line in enumerate(f.read().split(b"\n"), 1):
                text = line.rstrip(b"\r").strip(b" \t")
                if not text or text[:1] in (b"#", b"%"):
                    continue
                fields = re.split(rb"[ \t]+", text)
                if len(fields) != 2 or not all(re.fullmatch(rb"[0-9]+", x) for x in fields):
                    fail("%s line %d: %r is not an edge (the oracle expects valid input)" % (path, number, line))
                edges.append((int(fields[0]), int(fields[1])))
    return edges


def components(vertices, edges):
    parent = {v: v for v in vertices}

    def find(v):
        root = v
        while parent[root] != root:
            root = parent[root]
        while parent[v] != root:
            parent[v], v = root, parent[v]
        return root

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:  # the smaller id is the root, so every root is its component's smallest vertex
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    return {v: find(v) for v in vertices}


def propagation_steps(vertices, edges):
    """Steps of synchronous min-label propagation until one changes nothing (that one included)."""
    neighbours = {v: [] for v in vertices}
    for a, b in edges:
        if a != b:
            neighbours[a].append(b)
            neighbours[b].append(a)
    label = {v: v for v in vertices}
    active = set(vertices)
    steps = 0
    while True:
        steps += 1
        proposals = {}
        for v in active:
            for u in neighbours[v]:
                if label[v] < proposals.get(u, label[u]):
                    proposals[u] = label[v]
        active = {u for u, l in proposals.items() if l < label[u]}
        for u in active:
            label[u] = proposals[u]
        if not active:
            return steps


def main(argv):
    try:
        outdir, nranks, n, want_components, iterations = argv[1:6]
        nranks, n, want_components, iterations = int(nranks), int(n), int(want_components), int(iterations)
        inputs = argv[6:]
        if not inputs:
            raise ValueError
    except ValueError:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 64
    edges = read_edges(inputs)
    vertices = set(range(n))
    for a, b in edges:
        vertices.add(a)
        vertices.add(b)
    expected = components(vertices, edges)

    if not os.path.isdir(outdir):
        fail("%s is not a directory" % outdir)
    entries = set(os.listdir(outdir))
    parts = ["part-%05d" % r for r in range(nranks)]
    if "_SUCCESS" not in entries:
        fail("%s/_SUCCESS is missing" % outdir)
    if entries != set(parts) | {"_SUCCESS"}:
        fail("%s: entries %s, want exactly %d parts and _SUCCESS" % (outdir, sorted(entries), nranks))
    got = {}
    for part in parts:
        with open(os.path.join(outdir, part), "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            fail("%s: the last line has no newline" % part)
        previous = -1
        for number, line in enumerate(data.split(b"\n")[:-1], 1):
            m = re.fullmatch(rb"(0|[1-9][0-9]*)\t(0|[1-9][0-9]*)", line)
            if not m:
                fail("%s line %d: not 'VERTEX<TAB>COMPONENT': %r" % (part, number, line))
            vertex, component = int(m.group(1)), int(m.group(2))
            if vertex <= previous:
                fail("%s line %d: vertex %d after %d (not in increasing order)" % (part, number, vertex, previous))
            previous = vertex
            if vertex in got:
                fail("%s line %d: vertex %d is listed twice" % (part, number, vertex))
            got[vertex] = component
    extra = sorted(set(got) - vertices)
    if extra:
        fail("vertices that are not in the graph: %s" % extra[:10])
    missing = sorted(vertices - set(got))
    if missing:
        fail("%d vertices missing, such as %s" % (len(missing), missing[:10]))
    for v in sorted(vertices):
        if got[v] != expected[v]:
            fail("vertex %d: component %d, the oracle says %d" % (v, got[v], expected[v]))
    count = len(set(expected.values()))
    if count != want_components:
        fail("the program counted %d components, the oracle %d" % (want_components, count))
    steps = propagation_steps(vertices, edges)
    if iterations != steps:
        fail("the program took %d iterations, label propagation takes %d" % (iterations, steps))
    print("cc_oracle: OK: %d vertices, %d edges, %d components, %d iterations"
          % (len(vertices), len(edges), count, steps))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
