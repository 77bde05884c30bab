"""mpimr.kmeans: k-means clustering (Lloyd's algorithm) on NumPy arrays, one MapReduce job per
iteration (``mpirun -np P python3 -m mpimr.kmeans -k K -o OUTPUT INPUT``).

The Python counterpart of mpimr-kmeans, and an example of an iterative algorithm on data held in
memory: every rank keeps its own slice of the points as a float64 array, and each iteration is one
job over it with ``map_local`` (a batch of point indices per call, no Python per point), whose
result stays in a ``Dataset`` that every rank then reads back with ``allgather``; the jobs share
one ``Workspace``.

As a library (every function is collective: call it on every rank of ``comm``)::

    from mpi4py import MPI
    import mpimr.kmeans

    comm = MPI.COMM_WORLD
    points, first = mpimr.kmeans.read_points(comm, "points.csv")   # this rank's slice
    start, _ = mpimr.kmeans.init_first(comm, points, 5)
    centroids, labels, iterations = mpimr.kmeans.kmeans(comm, points, start, 100, 1e-9)

``kmeans`` takes any (n_local, d) arrays: the points may be split across the ranks in any way,
unevenly, or all on one rank.
"""

import collections
import io
import math
import os
import re
import sys
import time
import warnings

from mpi4py import MPI

import numpy as np

import mpimr
from mpimr._programs import Parser, Reported, UsageError, program_main

PROGRAM = "mpimr.kmeans"

__all__ = ["kmeans", "KMeansResult", "InputError", "read_points", "read_centroids", "init_first",
           "init_random", "init_kmeanspp", "format_centroids", "parse_columns", "main"]

DEFAULT_MAX_ITERATIONS = 100
DEFAULT_TOLERANCE = 1e-9
DEFAULT_SEED = 1

DESCRIPTION = """\
NAME
    python3 -m mpimr.kmeans - k-means clustering (Lloyd's algorithm) with MapReduce over MPI,
    on NumPy arrays

SYNOPSIS
    mpirun -np P python3 -m mpimr.kmeans -k K -o OUTPUT [OPTIONS] INPUT
    mpirun -np P python3 -m mpimr.kmeans --init-centroids FILE -o OUTPUT [OPTIONS] INPUT

DESCRIPTION
    Groups the points of INPUT into K clusters, as mpimr-kmeans does, with the work of each
    iteration in Python and NumPy. Starting from K initial centroids (--init), each iteration
    assigns every point to its nearest centroid (squared Euclidean distance, summed over the
    coordinates in order; a tie goes to the centroid with the lowest number) and moves each
    centroid to the mean of its points. A centroid that gets no points keeps its place
    (scikit-learn's KMeans would move it to a far point instead). The run stops after the
    iteration in which no centroid moved more than the tolerance, or no point changed
    cluster, or after --max-iterations.

    INPUT is one text file with one point per line: D decimal numbers separated by spaces,
    TABs or a comma (with or without blanks around it), such as '1.5 -2 3e4' or
    '1.5,-2,3e4' (a CR before the newline is ignored). Lines that are empty or blank, and
    lines whose first non-blank character is '#', are skipped. D is the number of
    coordinates of the first point; a point with another number of coordinates, or a
    coordinate that is not a finite decimal number, fails the run naming the file and the
    line. The points are numbered from 0 in file order.

    CSV files: --skip-header N leaves out the first N lines of the file, and --columns LIST
    takes only the listed fields of a line as the coordinates, in field order, so that a
    label or an id column is dropped; the other fields may hold anything, even nothing.

    Every rank reads its own share of the file: the lines that start in its 1/P of the
    bytes, parsed with NumPy (and line by line where a line needs a closer look), so rank 0
    holds the first points. The points stay in memory. Each iteration is one MapReduce job
    over each rank's points (map_local), in batches: a batch finds every point's nearest
    centroid with NumPy and emits, with one emit.many call, one pair per cluster it has
    points in: the cluster's number and the row [sum x1 ... sum xD, count]. A Python reducer
    adds a cluster's rows and emits its new centroid into a Dataset, which is gathered to
    rank 0 and broadcast, so every rank moves the centroids alike. The jobs share one
    Workspace.

INITIALISATION
    first       the first K points (the default).
    random      K distinct points, every set of K equally likely, drawn with --seed;
                cluster c starts at the c-th of them in file order.
    kmeans++    k-means++ seeding with --seed: a first point drawn uniformly, then each
                next one drawn with probability proportional to its squared distance to
                the nearest one chosen so far (one candidate per step).
    random and kmeans++ draw the very numbers mpimr-kmeans draws, so both programs start
    from the same points for the same seed, at every number of ranks; with -v rank 0
    prints their numbers.
    --init-centroids FILE gives the centroids: one per line, D numbers written like the
    points (blank lines and '#' comments skipped), K lines (or, without -k, K is their
    number). The same file as scikit-learn's KMeans(init=..., n_init=1, algorithm="lloyd",
    tol=0) gives its result (its empty clusters aside).

OUTPUT
    OUTPUT (written by rank 0, replaced only once complete): lines 'CLUSTER<TAB>x1 x2 ... xD',
    the cluster's number (0..K-1, in order) and its centroid, every coordinate in %.17g (exact
    when read back): what 'cat OUTDIR/part-* | sort -n' gives for mpimr-kmeans's OUTDIR. With
    --assignments FILE, FILE holds lines 'POINT<TAB>CLUSTER', every point's number and the
    cluster of its nearest final centroid, in point order (gathered on rank 0).
    Unless -q, rank 0 prints the number of iterations, the largest centroid movement of the
    last one and the seconds the iterations took on stderr.

OPTIONS
    -k K                      number of clusters (required unless --init-centroids; 1 or
                              more, and no more than the number of points)
    -o, --output FILE         the centroids' file (required)
    -f, --overwrite           replace an existing OUTPUT (and --assignments FILE)
        --assignments FILE    also write each point's cluster to FILE
        --max-iterations N    stop after N iterations (default 100; 1..1000000000); the
                              centroids are written and a note printed
        --tolerance T         converged when no centroid moved more than T (Euclidean
                              distance; default 1e-9; 0 or more)
        --init MODE           the initial centroids: first, random or kmeans++ (default
                              first; see INITIALISATION)
        --init-centroids FILE the initial centroids, one per line (instead of --init)
        --seed S              the seed of --init random and kmeans++ (default 1; 0..2^64-1)
        --skip-header N       leave out the first N lines of INPUT (default 0)
        --columns LIST        the fields that are coordinates, counted from 1: numbers and
                              ranges in increasing order, such as '1-4' or '2,5,7-9'
                              (default: every field)
    -q, --quiet               do not print the summary
    -v, --verbose             report the initial centroids and every iteration
    -h, --help                show this text

LIBRARY
    import mpimr.kmeans; result = mpimr.kmeans.kmeans(comm, points, initial_centroids,
    iterations, tolerance, workspace=None) on every rank, points being that rank's
    (n_local, D) float64 array: result.centroids (K x D, the same on every rank),
    result.labels (this rank's points' clusters), result.iterations, and result.converged,
    result.movement, result.counts (points per cluster). read_points, read_centroids,
    init_first, init_random and init_kmeanspp are what this program uses; see their
    docstrings (python3 -c 'import mpimr.kmeans; help(mpimr.kmeans)').

EXIT STATUS
    0 on success (converged or not), 1 if the input, a job or the output failed (the rank
    that found the problem prints it), 64 for a usage error. SIGINT and SIGTERM stop the run
    on every rank.

EXAMPLES
    python3 -c 'import numpy as n; n.savetxt("p.txt", n.random.default_rng(1).random((9999, 3)))'
    mpirun -np 2 python3 -m mpimr.kmeans -k 4 -o centroids.txt p.txt
    mpirun -np 2 python3 -m mpimr.kmeans -k 3 --init kmeans++ --seed 7 --skip-header 1 \\
        --columns 1-4 -o centroids.txt iris.csv
    mpirun -np 2 python3 -m mpimr.kmeans --init-centroids start.txt --columns 1-64 \\
        --tolerance 0 -o centroids.txt --assignments clusters.txt digits.csv
"""


# ---- The algorithm ----------------------------------------------------------------------------

_Result = collections.namedtuple("KMeansResult", "centroids labels iterations")


class KMeansResult(_Result):
    """What ``kmeans`` returns: a tuple ``(centroids, labels, iterations)``, with more attributes.

    ``centroids``: (K, D) float64, the same on every rank. ``labels``: int64, the cluster of the
    nearest final centroid of each of this rank's points. ``iterations``: the iterations (jobs)
    run. ``converged``: whether the run stopped before the limit of iterations (no centroid moved
    more than the tolerance, or no point changed cluster). ``movement``: the largest distance a
    centroid moved in the last iteration. ``counts``: int64 (K,), the points of every rank in
    each cluster (``labels`` counted over the ranks); a cluster with none kept its centroid.
    """

    def __new__(cls, centroids, labels, iterations, converged=False, movement=0.0, counts=None):
        self = super().__new__(cls, centroids, labels, iterations)
        self.converged = converged
        self.movement = movement
        self.counts = counts
        return self


def _raise_agreed(comm, problem, exception=ValueError):
    """Collective: raises `exception` on every rank if any rank has a problem (the first by rank,
    named with its rank where it is not the same everywhere)."""
    problems = comm.allgather(problem)
    failed = [(r, p) for r, p in enumerate(problems) if p is not None]
    if failed:
        rank, text = failed[0]
        same = len(failed) == len(problems) and all(p == text for _, p in failed)
        raise exception(text if same or len(problems) == 1 else f"rank {rank}: {text}")


def _batch_size(k, d):
    """Points per map_local call: the distance table (K x batch) and the batch's transpose stay
    near 8 MiB each, and a call has enough work to make its Python overhead small."""
    return int(min(65536, max(256, (1 << 20) // max(k, d, 1))))


def _nearest(block_t, centroids):
    """The nearest centroid of each point of a batch given transposed (D, b), contiguous: the
    squared distances summed over the coordinates in order (the bits mpimr-kmeans computes), the
    lowest-numbered centroid among equally near ones (argmin takes the first)."""
    k, d = centroids.shape
    b = block_t.shape[1]
    distance = np.zeros((k, b))
    difference = np.empty((k, b))
    for j in range(d):
        np.subtract(centroids[:, j, None], block_t[j][None, :], out=difference)
        np.multiply(difference, difference, out=difference)
        distance += difference
    return distance.argmin(axis=0)


def _labels_of(points, centroids, batch):
    """Every point's nearest centroid (local, no communication)."""
    labels = np.empty(len(points), np.int64)
    for start in range(0, len(points), batch):
        block = points[start:start + batch]
        labels[start:start + len(block)] = _nearest(np.ascontiguousarray(block.T), centroids)
    return labels


def _sequential_norms(differences):
    """sqrt of the sum of squares of each row, added in coordinate order."""
    total = np.zeros(len(differences))
    for j in range(differences.shape[1]):
        total += differences[:, j] * differences[:, j]
    return np.sqrt(total)


def kmeans(comm, points, initial_centroids, iterations=DEFAULT_MAX_ITERATIONS,
           tolerance=DEFAULT_TOLERANCE, workspace=None, *, index_batch=None, report=None):
    """Lloyd's k-means over the points of every rank of ``comm`` (collective).

    ``points``: this rank's points, an (n_local, D) array (converted to float64; n_local may be 0
    and differ between ranks). ``initial_centroids``: (K, D), the same on every rank (checked).
    ``iterations``: at most this many (1 or more); ``tolerance``: stop after the iteration in
    which no centroid moved more than this (Euclidean distance; 0 or more), or in which no point
    changed cluster. ``workspace``: a ``mpimr.Workspace`` for the jobs (one is made, and closed,
    if None). ``index_batch``: points per map call (default: about 1 Mi distances).
    ``report(iteration, changed, movement)``: called on every rank after each iteration.

    Each iteration is one job with ``map_local``: a batch of this rank's points finds each point's
    nearest centroid with NumPy (squared distances summed in coordinate order; a tie goes to the
    lowest-numbered centroid), adds the points of each cluster with ``numpy.bincount`` and emits,
    with one ``emit.many``, the clusters' numbers as ``numpy.uint64`` keys and the rows
    ``[sum x1 ... sum xD, count]``. A Python reducer adds a cluster's rows and emits the mean into
    a Dataset, which ``allgather`` gives to every rank. A cluster without points keeps its
    centroid (scikit-learn moves it instead).

    Returns a ``KMeansResult``: ``(centroids, labels, iterations)`` (labels: this rank's points'
    nearest final centroids), with ``converged``, ``movement`` and ``counts``. Raises ValueError
    or TypeError on every rank for bad arguments on any rank, ``mpimr.JobError`` if a job fails.
    """
    if not isinstance(comm, MPI.Intracomm):
        raise TypeError(f"comm must be an mpi4py intracommunicator, not {type(comm).__name__}")
    problem = None
    try:
        points = np.ascontiguousarray(points, dtype=np.float64)
        initial = np.array(initial_centroids, dtype=np.float64)  # a copy: updated in place
    except (TypeError, ValueError) as error:
        problem = f"points and initial_centroids must be numeric arrays ({error})"
    if problem is None:
        if points.ndim != 2:
            problem = f"points must be a 2-D array (n_local, D), not of shape {points.shape}"
        elif initial.ndim != 2 or initial.shape[0] < 1:
            problem = f"initial_centroids must be a 2-D array (K >= 1, D), not of shape {initial.shape}"
        elif initial.shape[1] != points.shape[1]:
            problem = f"initial_centroids have {initial.shape[1]} coordinates, the points {points.shape[1]}"
        elif not np.isfinite(initial).all():
            problem = "initial_centroids must be finite"
        elif not np.isfinite(points).all():
            problem = f"points[{int(np.flatnonzero(~np.isfinite(points).all(axis=1))[0])}] is not finite"
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        problem = problem or f"iterations must be an int of 1 or more, not {iterations!r}"
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.floating)) or not tolerance >= 0:
        problem = problem or f"tolerance must be a number of 0 or more, not {tolerance!r}"
    if index_batch is not None and (not isinstance(index_batch, (int, np.integer)) or index_batch < 1):
        problem = problem or f"index_batch must be an int of 1 or more, not {index_batch!r}"
    if workspace is not None and not isinstance(workspace, mpimr.Workspace):
        problem = problem or "workspace must be a mpimr.Workspace"
    _raise_agreed(comm, problem)
    # The same centroids everywhere: rank 0's, checked against every rank's.
    reference = comm.bcast(initial if comm.Get_rank() == 0 else None, root=0)
    _raise_agreed(comm, None if reference.shape == initial.shape and np.array_equal(reference, initial)
                  else "initial_centroids differ from rank 0's")

    k, d = initial.shape
    n_local = len(points)
    batch = int(index_batch) if index_batch is not None else _batch_size(k, d)
    centroids = initial
    labels = np.full(n_local, -1, np.int64)
    changed = 0

    def assign(start, stop, emit):
        """A batch of points: each to its nearest centroid; per cluster, the sums and the count."""
        nonlocal changed
        block_t = np.ascontiguousarray(points[start:stop].T)
        nearest = _nearest(block_t, centroids)
        changed += int(np.count_nonzero(labels[start:stop] != nearest))
        labels[start:stop] = nearest
        counts = np.bincount(nearest, minlength=k)
        present = np.flatnonzero(counts)
        rows = np.empty((len(present), d + 1))
        for j in range(d):  # each sum added in point order
            rows[:, j] = np.bincount(nearest, weights=block_t[j], minlength=k)[present]
        rows[:, d] = counts[present]
        emit.many(present.astype(np.uint64), rows)

    row_bytes = 8 * (d + 1)

    def mean(key, values, emit):
        """A cluster's rows from every batch: their sum, and the new centroid (sums / count)."""
        data = b"".join(values)
        if len(data) % row_bytes:
            raise ValueError(f"cluster {mpimr.key_u64(key)}: {len(data)} bytes of sums, not rows of "
                             f"{row_bytes}")
        total = np.frombuffer(data, np.float64).reshape(-1, d + 1).sum(axis=0)
        emit(key, (total[:d] / total[d]).tobytes())

    own_workspace = workspace is None
    if own_workspace:
        workspace = mpimr.Workspace()
    sums = mpimr.Dataset()
    run = movement = 0
    converged = False
    try:
        while run < iterations and not converged:
            changed = 0
            with mpimr.Job(comm, map_local=assign, local_count=n_local, index_batch=batch,
                           reduce=mean, output_dataset=sums, workspace=workspace) as job:
                job.run()
            sums.allgather(comm)
            keys, means = sums.to_numpy(np.uint64, np.float64, (d,))
            if len(keys) and keys.max() >= k:
                raise RuntimeError(f"a cluster number {int(keys.max())} of K={k} in the sums")
            keys = keys.astype(np.intp)
            moved = _sequential_norms(means - centroids[keys]) if len(keys) else np.zeros(0)
            movement = float(moved.max()) if len(moved) else 0.0
            centroids = centroids.copy()
            centroids[keys] = means
            changed = comm.allreduce(changed, op=MPI.SUM)
            run += 1
            converged = movement <= tolerance or changed == 0
            if report is not None:
                report(run, changed, movement)
    finally:
        sums.close()
        if own_workspace:
            workspace.close()
    final = _labels_of(points, centroids, batch)
    counts = np.bincount(final, minlength=k).astype(np.int64)
    comm.Allreduce(MPI.IN_PLACE, counts, op=MPI.SUM)
    return KMeansResult(centroids, final, run, converged, movement, counts)


# ---- Initial centroids (the draws of mpimr-kmeans) ---------------------------------------------

_MASK = (1 << 64) - 1


def _mix64(z):
    """splitmix64's finaliser, on a Python int."""
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & _MASK
    return z ^ (z >> 31)


def _mix64_array(z):
    """splitmix64's finaliser on a numpy.uint64 array (products wrap as in C)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
    return z ^ (z >> np.uint64(31))


def _stream_base(seed, stream):
    return _mix64((seed + 0x9e3779b97f4a7c15 * (stream + 1)) & _MASK)


def _draw(seed, stream, index):
    """The number mpimr-kmeans draws for `index` of `stream` with `seed`."""
    return _mix64((_stream_base(seed, stream) + index) & _MASK)


def _uniform_below(seed, stream, counter, m):
    """A draw uniform in [0, m), and the next counter (draws below 2^64 mod m are refused)."""
    refused = (1 << 64) % m
    while True:
        bits = _draw(seed, stream, counter)
        counter += 1
        if bits >= refused:
            return bits % m, counter


def _first_index(comm, n_local):
    before = comm.exscan(n_local, op=MPI.SUM)
    return 0 if comm.Get_rank() == 0 or before is None else before


def _share_points(comm, points, first, indices):
    """The points with global numbers `indices`, as rows in that order, on every rank."""
    mine = {int(i): points[int(i) - first] for i in indices if first <= int(i) < first + len(points)}
    found = {}
    for part in comm.allgather(mine):
        found.update(part)
    return np.array([found[int(i)] for i in indices], dtype=np.float64).reshape(len(indices), -1)


def _check_init(comm, points, k):
    points = np.ascontiguousarray(points, dtype=np.float64)
    problem = None
    if points.ndim != 2:
        problem = f"points must be a 2-D array (n_local, D), not of shape {points.shape}"
    elif isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        problem = f"k must be an int of 1 or more, not {k!r}"
    _raise_agreed(comm, problem)
    dims = comm.allgather(points.shape[1])
    _raise_agreed(comm, None if len(set(dims)) == 1 else f"points of {points.shape[1]} coordinates, "
                  f"rank 0's of {dims[0]}")
    total = comm.allreduce(len(points), op=MPI.SUM)
    _raise_agreed(comm, None if total >= k else f"only {total} points, fewer than k={k}")
    return points, total, _first_index(comm, len(points))


def init_first(comm, points, k):
    """The first K points (global numbers 0..K-1, whichever ranks hold them) as the initial
    centroids (collective). Returns ``(centroids, indices)``."""
    points, _, first = _check_init(comm, points, k)
    indices = np.arange(k, dtype=np.int64)
    return _share_points(comm, points, first, indices), indices


def init_random(comm, points, k, seed=DEFAULT_SEED):
    """K distinct points, every set equally likely, drawn as mpimr-kmeans --init random draws them
    (Floyd's sampling with a hash of (seed, counter)), in point order (collective). Depends only
    on the seed and the total number of points, not on how they are split. Returns
    ``(centroids, indices)``."""
    points, total, first = _check_init(comm, points, k)
    seed &= _MASK
    counter, chosen, seen = 0, [], set()
    for j in range(total - k, total):
        pick, counter = _uniform_below(seed, 3, counter, j + 1)
        if pick in seen:
            pick = j
        seen.add(pick)
        chosen.append(pick)
    indices = np.array(sorted(chosen), dtype=np.int64)
    return _share_points(comm, points, first, indices), indices


def init_kmeanspp(comm, points, k, seed=DEFAULT_SEED):
    """k-means++ seeding as mpimr-kmeans --init kmeans++ does it (collective): the first centroid
    a point drawn uniformly; each next one point i with probability proportional to w_i, its
    squared distance to the nearest centroid so far, by taking the smallest key -ln(u_i)/w_i with
    u_i in (0, 1] from a hash of (seed, step, i): the same points at every rank count, with no
    sum over ranks. Points at distance 0 are never drawn; if every point is, the next is drawn
    uniformly. Returns ``(centroids, indices)`` in the order chosen."""
    points, total, first = _check_init(comm, points, k)
    seed &= _MASK
    n_local, d = points.shape
    numbers = np.arange(first, first + n_local, dtype=np.uint64)
    closest = np.full(n_local, np.inf)
    counter = 0
    pick, counter = _uniform_below(seed, 4, counter, total)
    indices, rows = [pick], []
    while True:
        centroid = _share_points(comm, points, first, [indices[-1]])[0]
        rows.append(centroid)
        distance = np.zeros(n_local)
        for j in range(d):  # summed in coordinate order, as mpimr-kmeans does
            difference = points[:, j] - centroid[j]
            distance += difference * difference
        np.minimum(closest, distance, out=closest)
        step = len(indices)
        if step == k:
            break
        candidates = np.flatnonzero(closest > 0)
        best_key, best = math.inf, None
        if len(candidates):
            bits = _mix64_array(np.uint64(_stream_base(seed, 5 + step)) + numbers[candidates])
            u = ((bits >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0 ** -53
            keys = -np.log(u) / closest[candidates]
            at = int(np.argmin(keys))  # the first of equal keys: the lowest point number
            best_key, best = float(keys[at]), first + int(candidates[at])
        key = comm.allreduce(best_key, op=MPI.MIN)
        winners = [p for p in comm.allgather(best if best_key == key and best is not None else None)
                   if p is not None]
        if winners:
            indices.append(min(winners))
        else:
            pick, counter = _uniform_below(seed, 4, counter, total)
            indices.append(pick)
    return np.array(rows, dtype=np.float64), np.array(indices, dtype=np.int64)


# ---- Reading points ---------------------------------------------------------------------------


class InputError(Exception):
    """The input cannot be used. Raised on every rank alike (a collective decision): ``message``
    is the problem, ``rank`` the rank that found it (the one that should print it)."""

    def __init__(self, message, rank=0):
        super().__init__(message)
        self.message = message
        self.rank = rank


class _LineProblem(Exception):
    pass


_NUMBER = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SEPARATOR = re.compile(rb"[ \t]*,[ \t]*|[ \t]+")
# What the NumPy fast path may see: digits, signs, points, exponents, blanks, commas, newlines.
_FAST_BYTES = b"0123456789+-.eE \t,\n\r"
_NUMBER_TEXT_MAX = 400


def _shown(token):
    text = "".join(chr(c) if 32 <= c <= 126 else "?" for c in token[:40])
    return text + ("..." if len(token) > 40 else "")


def _number(token):
    if len(token) <= _NUMBER_TEXT_MAX and _NUMBER.fullmatch(token):
        value = float(token)
        if math.isfinite(value):
            return value
        raise _LineProblem(f"'{_shown(token)}' is out of range for a double")
    raise _LineProblem(f"'{_shown(token)}' is not a decimal number")


def parse_columns(text):
    """``--columns`` LIST ('1-4', '2,5,7-9': fields from 1, in increasing order) as a list of
    (first, last) ranges; ValueError names the problem."""
    ranges, count = [], 0
    for item in text.split(","):
        problem = None
        first = last = 0
        if not item or len(item) >= 64:
            problem = "an empty or overlong item"
        else:
            low, dash, high = item.partition("-")
            if not (low.isdigit() and low.isascii() and (not dash or (high.isdigit() and high.isascii()))
                    and 1 <= int(low) <= 1 << 24 and (not dash or 1 <= int(high) <= 1 << 24)):
                problem = "fields are numbers from 1 to 16777216"
            else:
                first, last = int(low), int(high) if dash else int(low)
                if last < first:
                    problem = "a range N-M needs N <= M"
                elif ranges and first <= ranges[-1][1]:
                    problem = "the fields must be in increasing order without repeats"
                elif count + last - first + 1 > 65536:
                    problem = "more than 65536 fields"
        if problem:
            raise ValueError(f"--columns '{text}': {problem} (like '1-4' or '2,5,7-9')")
        ranges.append((first, last))
        count += last - first + 1
    return ranges


def _columns_ranges(columns):
    if columns is None:
        return None
    if isinstance(columns, str):
        return parse_columns(columns)
    columns = list(columns)
    if columns and all(isinstance(c, tuple) and len(c) == 2 for c in columns):  # parse_columns's
        fields = [f for first, last in columns for f in range(int(first), int(last) + 1)]
    else:
        fields = [int(c) for c in columns]
    if not fields or fields[0] < 1 or any(b <= a for a, b in zip(fields, fields[1:])):
        raise ValueError("columns must be field numbers from 1 in increasing order")
    return [(f, f) for f in fields]


def _parse_line(line, columns):
    """A line's coordinates (mpimr-kmeans's rules), or None for a line to skip."""
    if line.endswith(b"\r"):
        line = line[:-1]
    text = line.lstrip(b" \t")
    if not text or text[:1] == b"#":
        return None
    text = text.rstrip(b" \t")
    fields = _SEPARATOR.split(text)
    if columns is None:
        for i, field in enumerate(fields):
            if not field:
                raise _LineProblem("a comma at the end of the line" if i == len(fields) - 1
                                   else "an empty coordinate before a comma")
        return [_number(field) for field in fields]
    values = []
    for first, last in columns:
        for field in range(first, last + 1):
            if field > len(fields):
                raise _LineProblem(f"{len(fields)} fields, but --columns needs field {columns[-1][1]}")
            if not fields[field - 1]:
                raise _LineProblem(f"field {field} is empty")
            values.append(_number(fields[field - 1]))
    return values


def _parse_slow(lines, first_line, columns, dims):
    """Line by line: the points' rows, or _LineProblem with the line's number (the 1-based line of
    lines[0] is first_line)."""
    rows = []
    for number, line in enumerate(lines, first_line):
        try:
            values = _parse_line(line, columns)
            if values is not None and len(values) != dims:
                raise _LineProblem(f"a point with {len(values)} coordinates, but the first point has {dims}")
        except _LineProblem as problem:
            raise _LineProblem(f"line {number}: {problem}") from None
        if values is not None:
            rows.append(values)
    return np.array(rows, dtype=np.float64).reshape(len(rows), dims)


def _parse_fast(data, columns, dims):
    """All of data's points with numpy.loadtxt, or None where a line needs the slow path: only
    bytes that can make decimal numbers, CR only before LF, the same number of coordinates
    everywhere, all finite. numpy parses a number to the double strtod gives."""
    if data.translate(None, _FAST_BYTES) or data.count(b"\r") != data.count(b"\r\n"):
        return None
    if not data.strip():
        return np.empty((0, dims))
    usecols = None if columns is None else [f - 1 for a, b in columns for f in range(a, b + 1)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = np.loadtxt(io.StringIO(data.decode("ascii")), dtype=np.float64,
                              delimiter="," if b"," in data else None, comments=None,
                              usecols=usecols, ndmin=2)
    except ValueError:
        return None
    if rows.shape[1] != dims or not np.isfinite(rows).all():
        return None
    return rows


def _line_start(f, offset, size):
    """The offset of the first line that starts at or after `offset`."""
    if offset <= 0:
        return 0
    if offset >= size:
        return size
    f.seek(offset - 1)
    at = offset - 1
    while True:
        chunk = f.read(65536)
        if not chunk:
            return size
        found = chunk.find(b"\n")
        if found >= 0:
            return at + found + 1
        at += len(chunk)


def _read_share(path, rank, nranks):
    """This rank's lines of the file: those that start in its 1/P of the bytes."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        start = _line_start(f, size * rank // nranks, size)
        stop = _line_start(f, size * (rank + 1) // nranks, size)
        f.seek(start)
        return f.read(stop - start)


def _lines(data, start=0):
    """The lines of data from byte `start` (without their newlines), lazily."""
    while start < len(data):
        stop = data.find(b"\n", start)
        stop = len(data) if stop < 0 else stop
        yield data[start:stop]
        start = stop + 1


def read_points(comm, path, skip_header=0, columns=None):
    """This rank's share of the points of a text file (collective): ``(points, first_index)``, an
    (n_local, D) float64 array of the points whose lines start in this rank's 1/P of the file's
    bytes (rank 0 holds the first points), and the number of its first point.

    The format is mpimr-kmeans's: D decimal numbers a line, separated by blanks or a comma; blank
    lines and '#' comments skipped; ``skip_header`` lines left out at the start; ``columns``
    (a '--columns' text such as '1-4', or field numbers from 1) the fields that are coordinates.
    D is the first point's. Raises InputError on every rank for a file that cannot be read, a
    malformed line (the first in the file, named with its line number) or no points at all; its
    ``rank`` is the rank that found the problem.
    """
    rank, nranks = comm.Get_rank(), comm.Get_size()
    columns = _columns_ranges(columns)
    name = os.fspath(path)
    data, problem = b"", None
    try:
        data = _read_share(name, rank, nranks)
    except OSError as error:
        problem = f"input '{name}': {error.strerror or error}"
    lines_before = comm.exscan(data.count(b"\n"), op=MPI.SUM)
    first_line = 1 + (lines_before if rank > 0 and lines_before is not None else 0)
    # Leave out the header lines this rank holds.
    start = 0
    while first_line <= skip_header and start < len(data):
        stop = data.find(b"\n", start)
        start = len(data) if stop < 0 else stop + 1
        first_line += 1
    # The number of coordinates: --columns, or the first point's (the first rank's with points).
    dims = None if columns is None else sum(b - a + 1 for a, b in columns)
    local_dims = 0
    if problem is None and dims is None:
        for number, line in enumerate(_lines(data, start), first_line):
            try:
                values = _parse_line(line, None)
            except _LineProblem as error:
                problem = f"input '{name}' line {number}: {error}"
                break
            if values is not None:
                local_dims = len(values)
                break
    found = comm.allgather((problem, local_dims))
    # A problem so far is at a rank's first point (or its file): no line of a later rank comes
    # before it, so only the ranks before the first one with a problem read on.
    failed = next((r for r, (p, _) in enumerate(found) if p is not None), nranks)
    if dims is None:
        dims = next((n for _, n in found[:failed] if n), 0)
    if dims == 0 and failed < nranks:
        raise InputError(found[failed][0], failed)
    points = np.empty((0, max(dims, 1)))
    problem = None
    if dims and rank < failed:
        body = data[start:]
        rows = _parse_fast(body if body.endswith(b"\n") else body + b"\n", columns, dims)
        if rows is None:
            try:
                rows = _parse_slow(_lines(body), first_line, columns, dims)
            except _LineProblem as error:
                problem = f"input '{name}' {error}"
        points = rows if rows is not None else points
    late = comm.allgather(problem)
    for r, text in enumerate(late):
        if text is not None:
            raise InputError(text, r)
    if failed < nranks:
        raise InputError(found[failed][0], failed)
    if dims == 0 or comm.allreduce(len(points), op=MPI.SUM) == 0:
        raise InputError(f"input '{name}': no points", 0)
    return points, _first_index(comm, len(points))


def read_centroids(path, dims, k=None):
    """The centroids of an --init-centroids file (not collective: one rank reads it): a (K, D)
    array from lines of ``dims`` numbers written like the points (blank lines and '#' comments
    skipped); ``k`` lines exactly, or as many as there are. Raises InputError naming the file and
    the line."""
    name = os.fspath(path)
    label = f"--init-centroids '{name}'"
    rows = []
    try:
        with open(name, "rb") as f:
            for number, line in enumerate(f, 1):
                try:
                    values = _parse_line(line.rstrip(b"\n"), None)
                except _LineProblem as problem:
                    raise InputError(f"{label} line {number}: {problem}") from None
                if values is None:
                    continue
                if len(values) != dims:
                    raise InputError(f"{label} line {number}: {len(values)} numbers, but the points "
                                     f"have {dims}")
                if k is not None and len(rows) == k:
                    raise InputError(f"{label} line {number}: more than -k {k} centroids")
                rows.append(values)
    except OSError as error:
        raise InputError(f"{label}: {error.strerror or error}") from None
    if not rows or (k is not None and len(rows) < k):
        raise InputError(f"{label}: {len(rows)} centroids, but -k is {k}" if k is not None
                         else f"{label}: no centroids")
    return np.array(rows, dtype=np.float64)


# ---- Output -----------------------------------------------------------------------------------


def format_centroids(centroids):
    """The centroids as mpimr-kmeans writes them: 'CLUSTER<TAB>x1 x2 ... xD' lines, %.17g."""
    return "".join(f"{c}\t{' '.join('%.17g' % x for x in row)}\n" for c, row in enumerate(centroids))


def _write_file(path, text):
    """Writes text to path through a temporary file beside it, so that path is complete or absent."""
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="ascii") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


# ---- The program ------------------------------------------------------------------------------


def _whole(text, low, high, name, high_text=None):
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise UsageError(f"{name} must be an integer from {low} to {high_text or high}, not '{text}'")
    return int(text)


def parse_arguments(argv):
    parser = Parser(prog=PROGRAM, add_help=False)
    parser.add_argument("-k")
    parser.add_argument("-o", "--output")
    parser.add_argument("-f", "--overwrite", action="store_true")
    parser.add_argument("--assignments")
    parser.add_argument("--max-iterations")
    parser.add_argument("--tolerance")
    parser.add_argument("--init", action="append", default=[])
    parser.add_argument("--init-centroids", action="append", default=[])
    parser.add_argument("--seed")
    parser.add_argument("--skip-header")
    parser.add_argument("--columns")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("inputs", nargs="*")
    o = parser.parse_args(argv)
    if o.help:
        return o
    if o.k is not None:
        o.k = _whole(o.k, 1, 1 << 40, "-k", "2^40")
    o.max_iterations = (DEFAULT_MAX_ITERATIONS if o.max_iterations is None
                        else _whole(o.max_iterations, 1, 1000000000, "--max-iterations"))
    if o.tolerance is None:
        o.tolerance = DEFAULT_TOLERANCE
    else:
        try:
            value = float(o.tolerance) if _NUMBER.fullmatch(o.tolerance.encode()) else -1.0
        except (ValueError, UnicodeEncodeError):
            value = -1.0
        if not value >= 0:
            raise UsageError(f"--tolerance must be a number of 0 or more, not '{o.tolerance}'")
        o.tolerance = value
    o.seed_given = o.seed is not None
    o.seed = DEFAULT_SEED if o.seed is None else _whole(o.seed, 0, _MASK, "--seed", "2^64-1")
    o.skip_header = 0 if o.skip_header is None else _whole(o.skip_header, 0, 1 << 40, "--skip-header", "2^40")
    if len(o.init) + len(o.init_centroids) > 1:
        raise UsageError("give --init or --init-centroids once")
    o.init_file = o.init_centroids[0] if o.init_centroids else None
    o.init = o.init[0] if o.init else ("file" if o.init_file is not None else "first")
    if o.init not in ("first", "random", "kmeans++", "file"):
        raise UsageError(f"--init must be first, random or kmeans++, not '{o.init}'")
    if o.init_file == "":
        raise UsageError("--init-centroids must name a file")
    if o.columns is not None:
        try:
            o.columns = parse_columns(o.columns)
        except ValueError as error:
            raise UsageError(str(error)) from None
    if o.assignments == "":
        raise UsageError("--assignments must name a file")
    if o.k is None and o.init_file is None:
        raise UsageError("-k K is required (or --init-centroids FILE)")
    if not o.output:
        raise UsageError("-o OUTPUT is required")
    if not o.inputs:
        raise UsageError("no INPUT file given")
    if len(o.inputs) > 1:
        raise UsageError(f"one INPUT file, not {len(o.inputs)} (join them into one)")
    if o.seed_given and o.init not in ("random", "kmeans++"):
        raise UsageError("--seed goes with --init random or --init kmeans++")
    if o.assignments is not None and os.path.abspath(o.assignments) == os.path.abspath(o.output):
        raise UsageError("--assignments needs a file of its own, not -o's")
    return o


def _collective_check(comm, problem):
    """Collective: fails every rank if any has a problem; the first rank with one prints it."""
    problems = comm.allgather(problem)
    for rank, text in enumerate(problems):
        if text is not None:
            if rank == comm.Get_rank():
                print(f"{PROGRAM}: {text}", file=sys.stderr, flush=True)
            raise Reported()


def _check_outputs(comm, options):
    problem = None
    if comm.Get_rank() == 0:
        for path in (options.output, options.assignments):
            if path is None:
                continue
            if os.path.isdir(path):
                problem = problem or f"'{path}' is a directory: the output is a file"
            elif os.path.lexists(path) and not options.overwrite:
                problem = problem or f"'{path}' exists (-f replaces it)"
            elif not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                problem = problem or f"'{path}': no such directory"
    _collective_check(comm, problem)


def _run(comm, options):
    rank = comm.Get_rank()
    _check_outputs(comm, options)
    try:
        points, first = read_points(comm, options.inputs[0], options.skip_header, options.columns)
    except InputError as error:
        _collective_check(comm, error.message if error.rank == rank else None)
        raise Reported() from None  # pragma: no cover (the check above raises)
    total = comm.allreduce(len(points), op=MPI.SUM)
    dims = points.shape[1]
    k = options.k
    if options.init == "file":
        centroids, problem = None, None
        if rank == 0:
            try:
                centroids = read_centroids(options.init_file, dims, k)
            except InputError as error:
                problem = error.message
        _collective_check(comm, problem)
        centroids = comm.bcast(centroids, root=0)
        k = len(centroids)
        if options.verbose and rank == 0:
            print(f"{PROGRAM}: initial centroids: {k} from {options.init_file}", file=sys.stderr)
    _collective_check(comm, f"only {total} points, fewer than -k {k}" if rank == 0 and total < k else None)
    if options.init != "file":
        if options.init == "random":
            centroids, chosen = init_random(comm, points, k, options.seed)
        elif options.init == "kmeans++":
            centroids, chosen = init_kmeanspp(comm, points, k, options.seed)
        else:
            centroids, chosen = init_first(comm, points, k)
        if options.verbose and rank == 0:
            if options.init == "first":
                print(f"{PROGRAM}: initial centroids: points 0 to {k - 1}", file=sys.stderr)
            else:
                shown = " ".join(str(i) for i in chosen[:32])
                print(f"{PROGRAM}: initial centroids: points {shown}{' ...' if k > 32 else ''}",
                      file=sys.stderr)

    def report(iteration, changed, movement):
        if options.verbose and rank == 0:
            print(f"{PROGRAM}: iteration {iteration}: {changed} points changed cluster, largest "
                  f"centroid movement {movement:.17g}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    with mpimr.Workspace() as workspace:
        result = kmeans(comm, points, centroids, options.max_iterations, options.tolerance,
                        workspace=workspace, report=report)
    seconds = time.perf_counter() - started

    problem = None
    if options.assignments is not None:
        labels = comm.gather(result.labels, root=0)
        if rank == 0:
            labels = np.concatenate(labels)
            text = "".join(f"{i}\t{c}\n" for i, c in enumerate(labels.tolist()))
            try:
                _write_file(options.assignments, text)
            except OSError as error:
                problem = f"'{options.assignments}': {error.strerror or error}"
    if rank == 0 and problem is None:
        try:
            _write_file(options.output, format_centroids(result.centroids))
        except OSError as error:
            problem = f"'{options.output}': {error.strerror or error}"
    _collective_check(comm, problem)
    if rank == 0:
        if not result.converged:
            print(f"{PROGRAM}: not converged after {result.iterations} iterations (largest centroid "
                  f"movement {result.movement:.17g}); the last centroids are written", file=sys.stderr)
        elif not options.quiet:
            print(f"{PROGRAM}: {total} points of {dims} dimensions, {k} clusters: converged after "
                  f"{result.iterations} iterations (largest centroid movement {result.movement:.17g}) "
                  f"in {seconds:.3f} s", file=sys.stderr)
    return result


def main(argv=None, comm=None):
    """The program, on every rank of ``comm`` (default MPI.COMM_WORLD): returns the exit status."""
    comm = MPI.COMM_WORLD if comm is None else comm

    def parse():
        options = parse_arguments(sys.argv[1:] if argv is None else argv)
        return None if options.help else options

    return program_main(comm, PROGRAM, DESCRIPTION, parse, lambda options: _run(comm, options))


if __name__ == "__main__":
    sys.exit(main())
