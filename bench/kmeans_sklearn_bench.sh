#!/usr/bin/env bash
# bench/kmeans_sklearn_bench.sh — mpimr-kmeans against scikit-learn's KMeans (Lloyd) on data of
# Fashion-MNIST's shape, with the same initial centroids and the same iteration limit, run
# alternately (mpimr, scikit-learn, mpimr, ...) and reported as medians. See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/kmeans_sklearn_bench.sh [OPTIONS]

Times mpimr-kmeans under mpirun against scikit-learn's KMeans(algorithm="lloyd",
n_init=1, tol=0, init=THE SAME CENTROIDS, max_iter=THE SAME LIMIT) on one data set,
alternating the two (A B A B ...), and prints every run and the medians.

The data has Fashion-MNIST's shape (which cannot be downloaded here): N points of
D integer "pixels" in 0..255, made by /usr/bin/python3 with numpy from K smooth
random prototype images: every point a random mixture of the first four (weights
uniform on the simplex, Dirichlet(1, 1, 1, 1)) plus Gaussian noise (sd 10),
rounded and clipped. That is a continuum with no gaps between classes, in which
Lloyd's boundaries creep for many iterations (89 at the defaults),
as on Fashion-MNIST (138 in issue 21), not twenty. Written
as text (one point per line, numbers separated by spaces) for mpimr and as .npy
for scikit-learn (the same numbers). The initial centroids are the points
number i*N/K, i = 0..K-1, given to both (mpimr: --init-centroids).

Timed: mpimr's whole mpirun (start, reading the text, iterating, writing the
centroids and the assignments) against scikit-learn's fit() alone (the array is
loaded before the clock starts), so the comparison is conservative for mpimr.
The table also shows the seconds mpimr's own summary gives its iterations.
Every pair of runs is checked: the same iteration count, centroids within 1e-9
(relative, or absolute below 1) and the same cluster for every point.

Options:
  --np P           mpimr's rank count (default 2)
  --points N       points (default 60000)
  --dims D         pixels per point (default 784)
  -k K             clusters (default 10)
  --iterations M   iteration limit for both (default 138; both also stop when no
                   point changes cluster)
  --repeats R      runs of each (default 3)
  --bin DIR        where mpimr-kmeans is (default build/bin)
  --work DIR       scratch directory (default: a new one under /tmp, removed after)
  -h, --help       this text

Needs /usr/bin/python3 with numpy and scikit-learn (Debian: python3-sklearn) and
mpirun (as root, source scripts/mpi-env.sh first).
EOF
}

np=2 points=60000 dims=784 k=10 iterations=138 repeats=3 bin=build/bin work=""
while [ $# -gt 0 ]; do
  case $1 in
    --np) np=$2; shift 2 ;;
    --points) points=$2; shift 2 ;;
    --dims) dims=$2; shift 2 ;;
    -k) k=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "kmeans_sklearn_bench: unknown option '$1' (try --help)" >&2; exit 64 ;;
  esac
done
py=/usr/bin/python3
"$py" -c 'import numpy, sklearn' 2>/dev/null || { echo "kmeans_sklearn_bench: $py lacks numpy or sklearn" >&2; exit 1; }
[ -x "$bin/mpimr-kmeans" ] || { echo "kmeans_sklearn_bench: no $bin/mpimr-kmeans (build first)" >&2; exit 1; }
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/mpimr-kmeans-bench-XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

echo "making $points x $dims points around $k prototypes in $work ..."
"$py" - "$work" "$points" "$dims" "$k" <<'PY'
import sys, numpy as np
work, n, d, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(2024)
side = int(round(d ** 0.5))
# Smooth prototypes: random values on a coarse grid, repeated up to the image, then blurred.
protos = rng.uniform(0, 255, size=(k, d))
if side * side == d:
    coarse = rng.uniform(0, 255, size=(k, 7, 7))
    big = np.kron(coarse, np.ones((side // 7 + 1, side // 7 + 1)))[:, :side, :side]
    protos = big.reshape(k, d)
# Every point is a random mixture of (at most) four prototypes plus noise: a continuum without
# gaps, like Fashion-MNIST's overlapping classes, so that Lloyd's takes on the order of a hundred
# iterations, not twenty (blends of two prototypes with more noise took 22).
m = min(4, k)
w = rng.dirichlet(np.ones(m), size=n)
X = np.clip(np.rint(w @ protos[:m] + rng.normal(0, 10, size=(n, d))), 0, 255)
np.save(work + "/points.npy", X)
np.savetxt(work + "/points.txt", X, fmt="%d")
init = X[[i * n // k for i in range(k)]]
np.savetxt(work + "/init.txt", init, fmt="%d")
PY

check_and_time_sklearn() { # prints scikit-learn's fit time after checking mpimr's result against it
  "$py" - "$work" "$iterations" "$1" <<'PY'
import glob, sys, time, numpy as np
from sklearn.cluster import KMeans
work, max_iter, mpimr_iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
X = np.load(work + "/points.npy")
init = np.loadtxt(work + "/init.txt", ndmin=2)
start = time.perf_counter()
km = KMeans(n_clusters=len(init), init=init, n_init=1, algorithm="lloyd", tol=0, max_iter=max_iter).fit(X)
seconds = time.perf_counter() - start
def rows(directory):
    table = {}
    for part in glob.glob(directory + "/part-*"):
        for line in open(part):
            key, value = line.rstrip("\n").split("\t")
            table[int(key)] = value
    return table
c = rows(work + "/out")
got = np.array([[float(x) for x in c[i].split()] for i in range(len(init))])
scale = np.maximum(1.0, np.maximum(abs(got), abs(km.cluster_centers_)))
worst = float(np.max(abs(got - km.cluster_centers_) / scale))
a = rows(work + "/assign")
labels = np.array([int(a[i]) for i in range(len(X))])
problems = []
if worst > 1e-9: problems.append("centroids differ by %g" % worst)
if not np.array_equal(labels, km.labels_): problems.append("%d points differ" % int(np.sum(labels != km.labels_)))
if mpimr_iterations != km.n_iter_: problems.append("iterations %d vs %d" % (mpimr_iterations, km.n_iter_))
if problems:
    sys.exit("kmeans_sklearn_bench: results differ: " + "; ".join(problems))
print("%.3f %d %.1e" % (seconds, km.n_iter_, worst))
PY
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-4s %-8s %-16s %-10s %-11s %-14s\n' run mpimr_s mpimr_iterate_s sklearn_s iterations max_rel_diff
mpimr_times=() sklearn_times=() iterate_times=()
for r in $(seq 1 "$repeats"); do
  start=$(date +%s.%N)
  mpirun --oversubscribe -np "$np" "$bin/mpimr-kmeans" -f --init-centroids "$work/init.txt" --tolerance 0 \
    --max-iterations "$iterations" -o "$work/out" --assignments "$work/assign" "$work/points.txt" 2>"$work/err" ||
    { cat "$work/err"; exit 1; }
  end=$(date +%s.%N)
  mpimr_s=$(echo "$end - $start" | bc)
  it=$(sed -n 's/.* after \([0-9]*\) iterations.*/\1/p' "$work/err" | tail -1)
  iter_s=$(sed -n 's/.* in \([0-9.]*\) s$/\1/p' "$work/err" | tail -1)
  read -r sklearn_s sk_it worst <<< "$(check_and_time_sklearn "$it")"
  printf '%-4s %-8.2f %-16.2f %-10.2f %-11s %-14s\n' "$r" "$mpimr_s" "$iter_s" "$sklearn_s" "$sk_it" "$worst"
  mpimr_times+=("$mpimr_s") sklearn_times+=("$sklearn_s") iterate_times+=("$iter_s")
done
m=$(printf '%s\n' "${mpimr_times[@]}" | median)
s=$(printf '%s\n' "${sklearn_times[@]}" | median)
i=$(printf '%s\n' "${iterate_times[@]}" | median)
echo "median of mpimr's iterations alone (its summary): $(printf '%.2f' "$i") s, ratio" \
  "$(echo "scale=2; $s / $i" | bc) (scikit-learn fit / mpimr iterations)"
echo "median: mpimr np $np $(printf '%.2f' "$m") s, scikit-learn fit $(printf '%.2f' "$s") s," \
  "ratio $(echo "scale=2; $s / $m" | bc) (scikit-learn / mpimr)"
