#!/usr/bin/env python3
"""Independent oracle for mpimr-rmat: remakes every edge of an R-MAT graph
from the generator's description in apps/rmat_gen.h and checks an output
directory against it.

usage: rmat_oracle.py OUTDIR NP SCALE EDGE_FACTOR A B C SEED

It shares no code with mpimr. The generator, as documented: with mix() the
splitmix64 finalizer on 64-bit words, edge i has the state
s = mix(mix(seed) + i); level l = 0 .. SCALE-1 draws
u = (mix(s + (l + 1) * 0x9E3779B97F4A7C15) >> 11) * 2^-53 and picks
quadrant a (u < A), b (u < A+B: destination bit), c (u < A+B+C: source
bit) or d (both bits), setting bit SCALE-1-l. A, B and C are given as the
same text the program was given, so both sides parse the same doubles.

Checked in OUTDIR: _SUCCESS exists; the entries are exactly _SUCCESS and
part-00000 .. part-(NP-1); every line is 'SRC<TAB>DST<LF>' with canonical
decimal ids below 2^SCALE; each part is in nondecreasing bytewise order;
there are EDGE_FACTOR * 2^SCALE lines, and their multiset is exactly the
generator's. Also, as a check of the description itself, the quadrants
picked over all levels of all edges are within 6 standard deviations of
A, B, C and D.

Exit status: 0 and one OK line, or 1 with the first difference found.
"""
import collections
import math
import os
import sys

MASK = (1 << 64) - 1
WEYL_STEP = 0x9E3779B97F4A7C15


def fail(message):
    print("rmat_oracle: FAIL: " + message)
    sys.exit(1)


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def edges(scale, edge_factor, a, b, c, seed, quadrants):
    ab = a + b
    abc = ab + c
    key = mix(seed & MASK)
    for i in range(edge_factor << scale):
        state = mix((key + i) & MASK)
        src = dst = 0
        for level in range(scale):
            u = (mix((state + (level + 1) * WEYL_STEP) & MASK) >> 11) * 2.0 ** -53
            bit = 1 << (scale - 1 - level)
            if u < a:
                quadrants[0] += 1
            elif u < ab:
                quadrants[1] += 1
                dst |= bit
            elif u < abc:
                quadrants[2] += 1
                src |= bit
            else:
                quadrants[3] += 1
                src |= bit
                dst |= bit
        yield "%d\t%d" % (src, dst)


def read_parts(outdir, nranks, scale):
    expected = {"_SUCCESS"} | {"part-%05d" % r for r in range(nranks)}
    found = set(os.listdir(outdir))
    if found != expected:
        fail("%s holds %s, want %s" % (outdir, sorted(found), sorted(expected)))
    lines = collections.Counter()
    for r in range(nranks):
        path = os.path.join(outdir, "part-%05d" % r)
        data = open(path, "rb").read()
        if data and not data.endswith(b"\n"):
            fail("%s does not end with a newline" % path)
        previous = None
        for number, raw in enumerate(data.split(b"\n")[:-1], 1):
            fields = raw.split(b"\t")
            if len(fields) != 2 or not all(f.isdigit() and (f == b"0" or not f.startswith(b"0")) for f in fields):
                fail("%s line %d is not 'SRC<TAB>DST': %r" % (path, number, raw))
            if any(int(f) >= 1 << scale for f in fields):
                fail("%s line %d has a vertex of 2^%d or more: %r" % (path, number, scale, raw))
            if previous is not None and raw < previous:
                fail("%s line %d is out of bytewise order: %r after %r" % (path, number, raw, previous))
            previous = raw
            lines[raw.decode()] += 1
    return lines


def main():
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    nranks, scale, edge_factor = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    a, b, c = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
    seed = int(sys.argv[8])
    got = read_parts(outdir, nranks, scale)
    quadrants = [0, 0, 0, 0]
    want = collections.Counter(edges(scale, edge_factor, a, b, c, seed, quadrants))
    m = edge_factor << scale
    if sum(got.values()) != m:
        fail("%d edges, want %d" % (sum(got.values()), m))
    if got != want:
        missing = want - got
        extra = got - want
        fail("the edges differ: %d missing (e.g. %s), %d extra (e.g. %s)" % (
            sum(missing.values()), list(missing)[:3], sum(extra.values()), list(extra)[:3]))
    draws = m * scale
    for name, count, p in zip("abcd", quadrants, (a, b, c, max(0.0, 1 - a - b - c))):
        sigma = math.sqrt(draws * p * (1 - p))
        if abs(count - draws * p) > 6 * sigma + 1:
            fail("quadrant %s picked %d times of %d, want about %.1f" % (name, count, draws, draws * p))
    print("rmat_oracle: OK: %d edges, %d distinct, in %d parts" % (m, len(got), nranks))


if __name__ == "__main__":
    main()
