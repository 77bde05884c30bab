#!/usr/bin/env python3
"""Independent oracle for mpimr-kmeans: serial Lloyd's algorithm on the same
points, checked against an output directory.

usage: kmeans_oracle.py OUTDIR NP K MAX_ITERATIONS TOLERANCE ITERATIONS
                        [--assignments DIR] (INPUT... | --generate N D C SEED)

It shares no code with mpimr. Points are read the way mpimr-kmeans documents
it: the inputs listed like the library lists them (each INPUT in the order
given; a directory's entries sorted bytewise, names starting with '.'
skipped, depth first), one point per line, coordinates separated by blanks
or a comma with optional blanks; blank lines and lines starting (after
blanks) with '#' skipped. --generate N D C SEED makes the points the way the
program documents (splitmix64 draws, Box-Muller), in Python.

Lloyd's algorithm: the first K points are the centroids; each iteration
assigns every point to the nearest centroid (squared Euclidean distance, the
lowest number on a tie), moves every centroid with points to their mean (an
empty cluster keeps its centroid) and stops when the largest movement is at
most TOLERANCE or no point changed cluster, or after MAX_ITERATIONS.

Checked: OUTDIR holds exactly _SUCCESS and part-00000 .. part-(NP-1); every
line is 'CLUSTER<TAB>x1 ... xD'; each part is in increasing cluster order;
every cluster 0..K-1 once; each coordinate within 1e-9 (relative or
absolute) of the oracle's; the program's iteration count (ITERATIONS, from
its summary) equals the oracle's. With --assignments DIR, the same layout
there with lines 'POINT<TAB>CLUSTER', every point once, and each cluster
exactly the oracle's (nearest final centroid).

Exit status: 0 and one OK line, or 1 with the first difference found.
"""
import math
import os
import re
import stat
import sys

DECIMAL = re.compile(rb"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
SEPARATOR = re.compile(rb"[ \t]*,[ \t]*|[ \t]+")
MASK = (1 << 64) - 1


def fail(message):
    print("kmeans_oracle: FAIL: " + message)
    sys.exit(1)


def list_path(path, files):
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        for name in sorted(n for n in os.listdir(path) if not n.startswith(b".")):
            list_path(path + (b"" if path.endswith(b"/") else b"/") + name, files)
    elif stat.S_ISREG(st.st_mode):
        files.append(path)


def read_points(inputs):
    files = []
    for name in inputs:
        list_path(os.fsencode(name), files)
    points = []
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        for number, line in enumerate(data.split(b"\n"), 1):
            if line.endswith(b"\r"):
                line = line[:-1]
            text = line.strip(b" \t")
            if not text or text.startswith(b"#"):
                continue
            fields = SEPARATOR.split(text)
            for field in fields:
                if not DECIMAL.match(field):
                    fail("%s line %d: %r is not a decimal number (the oracle expects valid input)"
                         % (path, number, field))
            point = [float(field) for field in fields]
            if points and len(point) != len(points[0]):
                fail("%s line %d: %d coordinates, the first point has %d" % (path, number, len(point), len(points[0])))
            points.append(point)
    return points


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def draw(seed, stream, index):
    return mix64((mix64((seed + 0x9E3779B97F4A7C15 * (stream + 1)) & MASK) + index) & MASK)


def unit(bits):
    return (bits >> 11) * 2.0 ** -53


def generate_points(n, dims, blobs, seed):
    centres = [100.0 * unit(draw(seed, 0, i)) for i in range(blobs * dims)]
    points = []
    for point in range(n):
        blob = draw(seed, 1, point) % blobs
        coordinates = []
        for j in range(dims):
            pair = (2 * (point * dims + j)) & MASK
            u1 = 1.0 - unit(draw(seed, 2, pair))
            u2 = unit(draw(seed, 2, (pair + 1) & MASK))
            coordinates.append(centres[blob * dims + j] + math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2))
        points.append(coordinates)
    return points


def nearest(centroids, point):
    best, best_distance = 0, None
    for c, centroid in enumerate(centroids):
        distance = 0.0
        for x, y in zip(point, centroid):
            d = x - y
            distance += d * d
        if best_distance is None or distance < best_distance:
            best, best_distance = c, distance
    return best


def lloyd(points, k, max_iterations, tolerance):
    dims = len(points[0])
    centroids = [list(p) for p in points[:k]]
    assignment = [None] * len(points)
    iterations = 0
    while iterations < max_iterations:
        sums = [[0.0] * dims for _ in range(k)]
        counts = [0] * k
        changed = 0
        for i, point in enumerate(points):
            c = nearest(centroids, point)
            if assignment[i] != c:
                assignment[i] = c
                changed += 1
            counts[c] += 1
            for j in range(dims):
                sums[c][j] += point[j]
        movement = 0.0
        for c in range(k):
            if counts[c] == 0:
                continue
            mean = [s / counts[c] for s in sums[c]]
            moved = math.sqrt(sum((m - x) * (m - x) for m, x in zip(mean, centroids[c])))
            movement = max(movement, moved)
            centroids[c] = mean
        iterations += 1
        if movement <= tolerance or changed == 0:
            break
    return centroids, iterations


def read_parts(outdir, nranks, what):
    """The (key, value text) lines of all parts, checking layout and per-part numeric key order."""
    if not os.path.isdir(outdir):
        fail("%s is not a directory" % outdir)
    entries = set(os.listdir(outdir))
    parts = ["part-%05d" % r for r in range(nranks)]
    if "_SUCCESS" not in entries:
        fail("%s/_SUCCESS is missing" % outdir)
    if entries != set(parts) | {"_SUCCESS"}:
        fail("%s: entries %s, want exactly %d parts and _SUCCESS" % (outdir, sorted(entries), nranks))
    rows = []
    for part in parts:
        with open(os.path.join(outdir, part), "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            fail("%s/%s: the last line has no newline" % (outdir, part))
        previous = -1
        for number, line in enumerate(data.split(b"\n")[:-1], 1):
            fields = line.split(b"\t")
            if len(fields) != 2 or not re.fullmatch(rb"0|[1-9][0-9]*", fields[0]):
                fail("%s/%s line %d: not '%s': %r" % (outdir, part, number, what, line))
            key = int(fields[0])
            if key <= previous:
                fail("%s/%s line %d: %d after %d (not in increasing order)" % (outdir, part, number, key, previous))
            previous = key
            rows.append((key, fields[1]))
    return rows


def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def main(argv):
    args = argv[1:]
    assignments_dir = None
    if "--assignments" in args:
        i = args.index("--assignments")
        assignments_dir = args[i + 1]
        del args[i:i + 2]
    try:
        outdir, nranks, k, max_iterations, tolerance, iterations = args[:6]
        nranks, k, max_iterations, iterations = int(nranks), int(k), int(max_iterations), int(iterations)
        tolerance = float(tolerance)
        rest = args[6:]
        if not rest:
            raise ValueError
    except ValueError:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 64
    if rest[0] == "--generate":
        n, dims, blobs, seed = (int(x) for x in rest[1:5])
        points = generate_points(n, dims, blobs, seed)
    else:
        points = read_points(rest)
    if len(points) < k:
        fail("only %d points for K %d" % (len(points), k))
    centroids, want_iterations = lloyd(points, k, max_iterations, tolerance)
    dims = len(points[0])

    rows = read_parts(outdir, nranks, "CLUSTER<TAB>x1 ... xD")
    got = {}
    for cluster, text in rows:
        if cluster in got or cluster >= k:
            fail("cluster %d: repeated or out of range (K %d)" % (cluster, k))
        coordinates = [float(x) for x in text.split(b" ")]
        if len(coordinates) != dims:
            fail("cluster %d: %d coordinates, want %d" % (cluster, len(coordinates), dims))
        got[cluster] = coordinates
    if len(got) != k:
        fail("%d clusters in the output, want %d" % (len(got), k))
    for c in range(k):
        for j in range(dims):
            if not close(got[c][j], centroids[c][j]):
                fail("cluster %d coordinate %d: %.17g, the oracle has %.17g" % (c, j, got[c][j], centroids[c][j]))
    if iterations != want_iterations:
        fail("the program took %d iterations, the oracle %d" % (iterations, want_iterations))
    checked = ""
    if assignments_dir is not None:
        rows = read_parts(assignments_dir, nranks, "POINT<TAB>CLUSTER")
        clusters = {}
        for point, text in rows:
            if point in clusters:
                fail("point %d is in the assignments twice" % point)
            clusters[point] = int(text)
        if sorted(clusters) != list(range(len(points))):
            fail("the assignments list %d points, want 0..%d" % (len(clusters), len(points) - 1))
        for i, point in enumerate(points):
            want = nearest(centroids, point)
            if clusters[i] != want:
                fail("point %d %s: cluster %d, the oracle says %d" % (i, point, clusters[i], want))
        checked = ", %d assignments" % len(points)
    print("kmeans_oracle: OK: %d points of %d dimensions, %d clusters, %d iterations%s"
          % (len(points), dims, k, want_iterations, checked))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
