"""mpimr.kmeans, the k-means example: the function against scikit-learn's KMeans (Lloyd, n_init 1,
tol 0, the same initial centroids) on the iris, wine and digits data sets scikit-learn ships, the
same result however the points are split over the ranks (COMM_SELF with all of them, uneven
splits, tiny batches), the initialisations of mpimr-kmeans, the reader, and the program run
in-process (main()) against the function. Collective: every rank runs every test, in order."""

import os

import numpy as np
import pytest
from mpi4py import MPI

import mpimr
import mpimr.kmeans as km

sklearn_cluster = pytest.importorskip("sklearn.cluster")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

# The initial centroids: rows of each data set (those tests/app/kmeans_sklearn_app.sh uses).
INITIAL_ROWS = {"iris": [0, 50, 100], "wine": [0, 59, 130], "digits": list(range(10))}
LOADERS = {"iris": "load_iris", "wine": "load_wine", "digits": "load_digits"}


@pytest.fixture(scope="module")
def data():
    """name -> the data set's points, float64 (every rank loads the whole set)."""
    return {name: getattr(sklearn_datasets, loader)(return_X_y=True)[0].astype(np.float64)
            for name, loader in LOADERS.items()}


def share(comm, points):
    """This rank's consecutive share of the points."""
    n, size, rank = len(points), comm.Get_size(), comm.Get_rank()
    return points[n * rank // size:n * (rank + 1) // size]


def all_labels(comm, labels):
    return np.concatenate(comm.allgather(labels))


def sklearn_fit(comm, points, initial, max_iter=300):
    """scikit-learn's result, computed on rank 0 only: (centroids, labels, n_iter)."""
    result = None
    if comm.Get_rank() == 0:
        fit = sklearn_cluster.KMeans(n_clusters=len(initial), init=initial, n_init=1, max_iter=max_iter,
                                     tol=0, algorithm="lloyd").fit(points)
        result = fit.cluster_centers_, fit.labels_.astype(np.int64), fit.n_iter_
    return comm.bcast(result, root=0)


def relative_difference(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))))


@pytest.mark.parametrize("name", ["iris", "wine", "digits"])
def test_kmeans_matches_sklearn(comm, data, name):
    """The centroids agree with scikit-learn's to 1e-9 (relative, or absolute below 1), every
    point is in scikit-learn's cluster, and the iterations are as many."""
    points = data[name]
    initial = points[INITIAL_ROWS[name]]
    result = km.kmeans(comm, share(comm, points), initial, 300, 0.0)
    centroids, labels, n_iter = sklearn_fit(comm, points, initial)
    assert relative_difference(result.centroids, centroids) < 1e-9
    assert np.array_equal(all_labels(comm, result.labels), labels)
    assert result.iterations == n_iter and result.converged
    assert np.array_equal(result.counts, np.bincount(labels, minlength=len(initial)))
    # The same centroids on every rank, bit for bit.
    assert all(np.array_equal(c, result.centroids) for c in comm.allgather(result.centroids))


def test_kmeans_same_at_every_split(comm, data):
    """digits at np 1 (COMM_SELF, each rank on all the points), split evenly, all on the last rank
    (the others with none), and in batches of 97 points: the same clusters and iterations; the
    centroids the same but for the order of the additions."""
    points = data["digits"]
    initial = points[:10]
    alone = km.kmeans(MPI.COMM_SELF, points, initial, 300, 0.0)
    last = comm.Get_rank() == comm.Get_size() - 1
    runs = [km.kmeans(comm, share(comm, points), initial, 300, 0.0),
            km.kmeans(comm, points if last else points[:0], initial, 300, 0.0),
            km.kmeans(comm, share(comm, points), initial, 300, 0.0, index_batch=97)]
    for result in runs:
        assert np.array_equal(all_labels(comm, result.labels), alone.labels)
        assert result.iterations == alone.iterations
        assert relative_difference(result.centroids, alone.centroids) < 1e-12
        assert np.array_equal(result.counts, alone.counts)


def test_kmeans_stops_at_max_iterations_like_sklearn(comm, data):
    """Stopped after 2 iterations: scikit-learn's centroids after max_iter=2, and every point's
    cluster that of its nearest final centroid (as scikit-learn's labels_)."""
    points = data["digits"]
    initial = points[INITIAL_ROWS["digits"]]
    result = km.kmeans(comm, share(comm, points), initial, 2, 0.0)
    centroids, labels, n_iter = sklearn_fit(comm, points, initial, max_iter=2)
    assert result.iterations == 2 == n_iter and not result.converged
    assert relative_difference(result.centroids, centroids) < 1e-9
    assert np.array_equal(all_labels(comm, result.labels), labels)


def test_kmeans_tolerance_and_workspace(comm, data):
    """A tolerance larger than any movement stops after the first iteration; jobs given a
    Workspace reuse it."""
    points = share(comm, data["iris"])
    initial = data["iris"][INITIAL_ROWS["iris"]]
    with mpimr.Workspace() as workspace:
        result = km.kmeans(comm, points, initial, 100, 1e9, workspace=workspace)
        assert result.iterations == 1 and result.converged and result.movement > 0
        more = km.kmeans(comm, points, initial, 100, 0.0, workspace=workspace)
        assert more.iterations > 1
        assert workspace.reuses >= more.iterations


def test_kmeans_empty_cluster_keeps_its_centroid(comm, data):
    """A centroid far from every point gets none and stays where it is (scikit-learn would move it);
    the other clusters are those of scikit-learn without it."""
    points = data["iris"]
    initial = points[INITIAL_ROWS["iris"]]
    far = np.full((1, 4), 1000.0)
    result = km.kmeans(comm, share(comm, points), np.vstack([initial, far]), 300, 0.0)
    centroids, labels, n_iter = sklearn_fit(comm, points, initial)
    assert np.array_equal(result.centroids[3], far[0]) and result.counts[3] == 0
    assert relative_difference(result.centroids[:3], centroids) < 1e-9
    assert np.array_equal(all_labels(comm, result.labels), labels)
    assert result.iterations == n_iter


def test_kmeans_bad_arguments_fail_on_every_rank(comm, data):
    """A bad argument on any rank raises ValueError on every rank (no rank left in a job)."""
    points = share(comm, data["iris"])
    initial = data["iris"][:3]
    with pytest.raises(ValueError, match="2-D"):
        km.kmeans(comm, points[:, 0], initial)
    with pytest.raises(ValueError, match="iterations"):
        km.kmeans(comm, points, initial, 0)
    with pytest.raises(ValueError, match="tolerance"):
        km.kmeans(comm, points, initial, 10, -1.0)
    last = comm.Get_rank() == comm.Get_size() - 1
    with pytest.raises(ValueError, match="coordinates"):
        km.kmeans(comm, points[:, :3] if last else points, initial)
    if comm.Get_size() > 1:
        with pytest.raises(ValueError, match="differ from rank 0's"):
            km.kmeans(comm, points, initial + 1 if last else initial)
    # And the next job runs.
    assert km.kmeans(comm, points, initial, 300, 0.0).converged


def test_initialisations_are_those_of_mpimr_kmeans(comm, data):
    """first, random and kmeans++ choose the same points whichever way the points are split, and
    random and kmeans++ with seed 42 on digits the points mpimr-kmeans -v reports."""
    points = data["digits"]
    mine = share(comm, points)
    expected = {"random": [191, 316, 356, 618, 784, 914, 1244, 1300, 1489, 1557],
                "kmeans++": [906, 1663, 1140, 1629, 779, 369, 660, 1191, 823, 176]}
    for how, choose in (("first", lambda c, p: km.init_first(c, p, 10)),
                        ("random", lambda c, p: km.init_random(c, p, 10, 42)),
                        ("kmeans++", lambda c, p: km.init_kmeanspp(c, p, 10, 42))):
        rows, chosen = choose(comm, mine)
        rows_alone, chosen_alone = choose(MPI.COMM_SELF, points)
        assert np.array_equal(chosen, chosen_alone) and np.array_equal(rows, rows_alone)
        assert np.array_equal(rows, points[chosen])
        assert chosen.tolist() == expected.get(how, list(range(10)))
    with pytest.raises(ValueError, match="fewer than k"):
        km.init_random(comm, mine, len(points) + 1)


@pytest.fixture(scope="module")
def files(comm, shared_tmp):
    """Input files under shared_tmp (the same path on every rank), written by rank 0."""
    directory = os.path.join(shared_tmp, "kmeans")
    paths = {name: os.path.join(directory, name) for name in
             ("mixed.txt", "bad.txt", "bad-dims.txt", "blank.txt", "init.txt", "wide.txt")}
    if comm.Get_rank() == 0:
        os.makedirs(directory)
        rng = np.random.default_rng(7)
        # Every form of line the reader takes: comments, blank lines, commas with and without
        # blanks, TABs, CRLF, signs, exponents, a label column that --columns leaves out.
        lines = ["# x,y,label", ""]
        for i in range(400):
            x, y = rng.normal(size=2) * 10 + (i % 3) * 40
            lines.append([f"{x!r},{y!r},a{i}", f"  {x!r} \t{y!r}  label", f"{x:+.6e} , {y:.9f}, z",
                          f"{x!r},{y!r},\r", "   # a comment", "\t"][i % 6])
        with open(paths["mixed.txt"], "w", newline="") as f:
            f.write("\n".join(lines) + "\n")
        good = [f"{i} {2 * i}.5 -{i}e-1" for i in range(300)]
        bad = list(good)
        bad[150] = "1 2,"
        bad[210] = "1 nan 3"
        with open(paths["bad.txt"], "w") as f:
            f.write("\n".join(bad) + "\n")
        bad = list(good)
        bad[222] = "1 2"
        with open(paths["bad-dims.txt"], "w") as f:
            f.write("\n".join(bad))
        with open(paths["blank.txt"], "w") as f:
            f.write("\n  \n# nothing\n")
        with open(paths["init.txt"], "w") as f:
            f.write("# the first centroids\n" + "\n".join(
                ",".join(str(v) for v in row) for row in data_iris()[INITIAL_ROWS["iris"]]) + "\n")
        wide = rng.normal(size=(5000, 3)).round(6) + rng.integers(0, 4, (5000, 1)) * 10.0
        np.savetxt(paths["wide.txt"], wide, fmt="%.6f")
    comm.Barrier()
    return paths


def data_iris():
    return sklearn_datasets.load_iris(return_X_y=True)[0]


def iris_csv():
    return os.path.join(os.path.dirname(sklearn_datasets.__file__), "data", "iris.csv")


def expected_mixed(path):
    """The points of mixed.txt, read here line by line without the package."""
    rows = []
    with open(path, "rb") as f:
        for line in f.read().split(b"\n"):
            line = line.rstrip(b"\r").strip(b" \t")
            if not line or line.startswith(b"#"):
                continue
            fields = line.replace(b",", b" ").split()
            rows.append([float(fields[0]), float(fields[1])])
    return np.array(rows)


def test_read_points(comm, files):
    """Each rank reads the lines that start in its share of the bytes, rank 0 the first: the points
    of iris.csv (header skipped, label column left out) are scikit-learn's, in order; the mixed
    file is read as the line-by-line reading here reads it (numbers exact); a NumPy-written file
    (the fast path) as numpy.loadtxt reads it."""
    for path, options, expected in ((iris_csv(), dict(skip_header=1, columns="1-4"), data_iris()),
                                    (files["mixed.txt"], dict(columns=[1, 2]), expected_mixed(files["mixed.txt"])),
                                    (files["wide.txt"], {}, np.loadtxt(files["wide.txt"]))):
        points, first = km.read_points(comm, path, **options)
        pieces = comm.allgather((first, points))
        assert [f for f, _ in pieces] == list(np.cumsum([0] + [len(p) for _, p in pieces])[:-1])
        assert np.array_equal(np.concatenate([p for _, p in pieces]), expected)


def test_read_points_errors(comm, files):
    """A file that cannot be used raises InputError on every rank alike, naming the file and the
    first bad line, with the rank that found it."""
    cases = ((files["bad.txt"], {}, "line 151: a comma at the end of the line"),
             (files["bad-dims.txt"], {}, "line 223: a point with 2 coordinates, but the first point has 3"),
             (files["mixed.txt"], {}, "line 3: 'a0' is not a decimal number"),
             (files["mixed.txt"], dict(columns="1-3", skip_header=2), "line 3: 'a0' is not a decimal number"),
             (files["mixed.txt"], dict(columns="1-2,4"), "line 3: 3 fields, but --columns needs field 4"),
             (files["blank.txt"], {}, "no points"),
             (files["blank.txt"] + ".missing", {}, "No such file or directory"))
    for path, options, message in cases:
        with pytest.raises(km.InputError) as failure:
            km.read_points(comm, path, **options)
        error = failure.value
        assert f"input '{path}'" in error.message and message in error.message, error.message
        assert comm.allgather((error.message, error.rank)) == [(error.message, error.rank)] * comm.Get_size()


def run_main(comm, capsys, *argv):
    """The program in-process on every rank: (status, stdout and stderr of every rank)."""
    status = km.main(list(argv), comm)
    out, err = capsys.readouterr()
    statuses = comm.allgather(status)
    assert statuses == [status] * comm.Get_size()
    return status, comm.allgather((out, err))


def test_program_writes_what_the_function_gives(comm, files, shared_tmp, capsys):
    """mpimr.kmeans on iris.csv (header, label column) from an --init-centroids file: the centroids'
    file is format_centroids() of the function's result on the same points, byte for byte, the
    assignments are its labels, and both are scikit-learn's."""
    output = os.path.join(shared_tmp, "kmeans", "iris-centroids.txt")
    assignments = os.path.join(shared_tmp, "kmeans", "iris-assignments.txt")
    status, printed = run_main(comm, capsys, "--init-centroids", files["init.txt"], "--skip-header", "1",
                               "--columns", "1-4", "--tolerance", "0", "-o", output, "--assignments",
                               assignments, iris_csv())
    assert status == 0, printed
    assert "converged after" in printed[0][1] and not any(out or err for out, err in printed[1:])
    points, _ = km.read_points(comm, iris_csv(), 1, "1-4")
    result = km.kmeans(comm, points, data_iris()[INITIAL_ROWS["iris"]], 100, 0.0)
    with open(output) as f:
        assert f.read() == km.format_centroids(result.centroids)
    labels = all_labels(comm, result.labels)
    with open(assignments) as f:
        assert f.read() == "".join(f"{i}\t{c}\n" for i, c in enumerate(labels))
    centroids, sk_labels, _ = sklearn_fit(comm, data_iris(), data_iris()[INITIAL_ROWS["iris"]])
    assert np.array_equal(labels, sk_labels)
    assert relative_difference(result.centroids, centroids) < 1e-9
    # The file is there: not again without -f; with -f, the same bytes; -k 3 --init first from
    # the first 3 points, as init_first gives them.
    status, printed = run_main(comm, capsys, "-k", "3", "-o", output, "--columns", "1-4", "--skip-header", "1",
                               iris_csv())
    assert status == 1 and "exists (-f replaces it)" in printed[0][1]
    status, _ = run_main(comm, capsys, "-q", "-f", "-k", "3", "-o", output, "--columns", "1-4",
                         "--skip-header", "1", "--tolerance", "0", iris_csv())
    assert status == 0
    start, _ = km.init_first(comm, points, 3)
    with open(output) as f:
        assert f.read() == km.format_centroids(km.kmeans(comm, points, start, 100, 0.0).centroids)


def test_program_failures(comm, files, shared_tmp, capsys):
    """Usage errors exit 64 with the problem on rank 0 only; --help prints on rank 0 only; a bad
    input line fails with status 1 on every rank, printed once by the rank that read it, and no
    output is written."""
    output = os.path.join(shared_tmp, "kmeans", "never.txt")
    for argv, message in ((["--bogus", "-k", "2", "-o", output, "in"], "unrecognized arguments: --bogus"),
                          (["-k", "0", "-o", output, "in"], "-k must be an integer from 1 to 2^40, not '0'"),
                          (["-k", "2", "in"], "-o OUTPUT is required"),
                          (["-o", output, "in"], "-k K is required (or --init-centroids FILE)"),
                          (["-k", "2", "-o", output], "no INPUT file given"),
                          (["-k", "2", "--init", "best", "-o", output, "in"],
                           "--init must be first, random or kmeans++"),
                          (["-k", "2", "--seed", "4", "-o", output, "in"], "--seed goes with --init random"),
                          (["-k", "2", "--columns", "1-3,2", "-o", output, "in"], "increasing order without repeats"),
                          (["-k", "2", "--tolerance", "x", "-o", output, "in"], "--tolerance must be a number")):
        status, printed = run_main(comm, capsys, *argv)
        assert status == 64
        assert message in printed[0][1] and "Try 'python3 -m mpimr.kmeans --help'." in printed[0][1]
        assert not any(out or err for out, err in printed[1:])
    status, printed = run_main(comm, capsys, "--help")
    assert status == 0 and "SYNOPSIS" in printed[0][0] and "EXIT STATUS" in printed[0][0]
    assert not any(out or err for out, err in printed[1:])
    for path, message in ((files["bad.txt"], "line 151: a comma at the end of the line"),
                          (files["blank.txt"] + ".missing", "No such file or directory")):
        status, printed = run_main(comm, capsys, "-k", "2", "-o", output, path)
        assert status == 1
        said = [err for _, err in printed if err]
        assert len(said) == 1 and f"mpimr.kmeans: input '{path}'" in said[0] and message in said[0], said
    bad_init = os.path.join(shared_tmp, "kmeans", "bad-init.txt")
    if comm.Get_rank() == 0:
        with open(bad_init, "w") as f:
            f.write("1,2,3,4\n# a comment\n5,6,x,8\n")
    comm.Barrier()
    status, printed = run_main(comm, capsys, "--init-centroids", bad_init, "--skip-header", "1", "--columns", "1-4",
                               "-o", output, iris_csv())
    assert status == 1 and "bad-init.txt' line 3: 'x' is not a decimal number" in printed[0][1]
    assert not os.path.exists(output)
