#!/usr/bin/env bash
# mpimr-kmeans against scikit-learn's KMeans (algorithm "lloyd", n_init 1, tol 0, the very same
# initial centroids given with --init-centroids) on the data sets scikit-learn ships: iris.csv (a
# header line, the label in the last column: --skip-header 1 --columns 1-4), digits.csv.gz
# (decompressed here; 1,797 x 64, label last) and wine_data.csv (header, 13 features). Centroids
# agree to 1e-9 (relative, or absolute below 1), every point's cluster is scikit-learn's, and so is
# the iteration count. Then --init random and --init kmeans++ choose the same points and give the
# same result at np 1 and np 3, --init random's points fed back with --init-centroids give the same
# centroids, and kmeans++ on well-separated blobs starts with one point in every blob; a bad
# centroid file names the file and the line, and bad options are usage errors (64).
# Skipped (status 77) where /usr/bin/python3 lacks scikit-learn.
# usage: kmeans_sklearn_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
py=/usr/bin/python3 # Debian's, with python3-sklearn: another python3 may come first on PATH
oracle="$(cd "$(dirname "$0")/../tools" && pwd)/kmeans_oracle.py"
if ! "$py" -c 'import sklearn.cluster, numpy' 2>/dev/null; then
  echo "kmeans_sklearn_app: SKIPPED: $py cannot import sklearn (install the Debian package python3-sklearn)"
  exit 77
fi
work=$(mktemp -d /tmp/mpimr-kmeans-sklearn-XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMPI_MCA_odls_base_sigkill_timeout=0
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"
program=mpimr-kmeans
iterations_in() { sed -n 's/.* after \([0-9]*\) iterations.*/\1/p' "$1" | tail -1; }
data=$("$py" -c 'import os, sklearn.datasets as d; print(os.path.join(os.path.dirname(d.__file__), "data"))')
gzip -dc "$data/digits.csv.gz" > "$work/digits.csv"

# The initial centroids: the chosen rows' chosen columns (1-based lines after the header).
init_rows() { # FILE SKIP COLUMNS ROW...
  local file=$1 skip=$2 columns=$3
  shift 3
  for row in "$@"; do sed -n "$((skip + row))p" "$file" | cut -d, -f"$columns"; done
}

# compare NAME K FILE SKIP COLUMNS ROW...: mpimr-kmeans at np, then scikit-learn, then the check.
compare() {
  local name=$1 k=$2 file=$3 skip=$4 columns=$5
  shift 5
  init_rows "$file" "$skip" "$columns" "$@" > "$work/$name-init.txt"
  run "$np" "$bin/mpimr-kmeans" -k "$k" --skip-header "$skip" --columns "$columns" \
    --init-centroids "$work/$name-init.txt" --tolerance 0 --max-iterations 300 \
    -o "$work/$name-out" --assignments "$work/$name-assign" "$file" 2>"$work/err"
  local it
  it=$(iterations_in "$work/err")
  [ -n "$it" ] || { echo "$name: no iteration count in the summary:"; cat "$work/err"; exit 1; }
  "$py" - "$name" "$file" "$skip" "$columns" "$work/$name-init.txt" "$it" "$work/$name-out" \
    "$work/$name-assign" <<'PY'
import glob, sys, numpy as np
from sklearn.cluster import KMeans
name, path, skip, columns, init_path, iterations, out, assign = sys.argv[1:]
used = []
for item in columns.split(","):
    first, _, last = item.partition("-")
    used += range(int(first) - 1, int(last or first))
X = np.loadtxt(path, delimiter=",", skiprows=int(skip), usecols=used, ndmin=2)
init = np.loadtxt(init_path, delimiter=",", ndmin=2)
km = KMeans(n_clusters=len(init), init=init, n_init=1, algorithm="lloyd", tol=0, max_iter=300).fit(X)
def rows(directory):
    table = {}
    for part in sorted(glob.glob(directory + "/part-*")):
        for line in open(part):
            key, value = line.rstrip("\n").split("\t")
            table[int(key)] = value
    return table
centroids = rows(out)
got = np.array([[float(x) for x in centroids[c].split()] for c in range(len(init))])
if got.shape != km.cluster_centers_.shape or len(centroids) != len(init):
    sys.exit("%s: centroids of shape %s, scikit-learn's %s" % (name, got.shape, km.cluster_centers_.shape))
scale = np.maximum(1.0, np.maximum(abs(got), abs(km.cluster_centers_)))
worst = np.max(abs(got - km.cluster_centers_) / scale)
if worst > 1e-9:
    sys.exit("%s: centroids differ from scikit-learn's by %g (relative)" % (name, worst))
assignments = rows(assign)
labels = np.array([int(assignments[i]) for i in range(len(X))])
if len(assignments) != len(X) or not np.array_equal(labels, km.labels_):
    bad = np.flatnonzero(labels != km.labels_)
    sys.exit("%s: %d points in another cluster than scikit-learn's, first point %d" % (name, len(bad), bad[0]))
if int(iterations) != km.n_iter_:
    sys.exit("%s: %s iterations, scikit-learn %d" % (name, iterations, km.n_iter_))
print("%s: %d points x %d, K %d, %s iterations: the same as scikit-learn (centroids within %.1g)"
      % (name, X.shape[0], X.shape[1], len(init), iterations, worst))
PY
}

compare iris 3 "$data/iris.csv" 1 1-4 1 51 101
compare digits 10 "$work/digits.csv" 0 1-64 1 2 3 4 5 6 7 8 9 10
compare wine 3 "$data/wine_data.csv" 1 1-13 1 60 131
# The same wine data with the label moved to the front and chosen around: --columns 2-14.
awk -F, -v OFS=, 'NR == 1 { print; next } { label = $NF; NF--; print label, $0 }' "$data/wine_data.csv" \
  > "$work/wine-label-first.csv"
compare wine-label-first 3 "$work/wine-label-first.csv" 1 2-14 1 60 131
cmp "$work/wine-out/part-00000" "$work/wine-label-first-out/part-00000"

# --init random and kmeans++: the same points and results at np 1 and np 3; random's points as
# --init-centroids give the same result at the same np.
for init in random kmeans++; do
  for n in 1 3; do
    run "$n" "$bin/mpimr-kmeans" -v -k 10 --init "$init" --seed 42 --columns 1-64 -o "$work/$init-$n" \
      --assignments "$work/$init-$n-assign" "$work/digits.csv" 2>"$work/err-$init-$n"
    grep "initial centroids: points" "$work/err-$init-$n" > "$work/chosen-$init-$n" ||
      { echo "$init np $n: no initial points reported:"; cat "$work/err-$init-$n"; exit 1; }
  done
  cmp "$work/chosen-$init-1" "$work/chosen-$init-3" ||
    { echo "--init $init chose other points at np 3:"; cat "$work/chosen-$init-1" "$work/chosen-$init-3"; exit 1; }
  cmp <(sort -n "$work/$init-1-assign"/part-*) <(sort -n "$work/$init-3-assign"/part-*)
  read -r -a chosen <<< "$(sed 's/.*points //' "$work/chosen-$init-1")"
  [ "${#chosen[@]}" -eq 10 ] && [ "$(printf '%s\n' "${chosen[@]}" | sort -u | wc -l)" -eq 10 ] ||
    { echo "--init $init: not 10 distinct points: ${chosen[*]}"; exit 1; }
done
grep -q "points 0 1 2 3 4 5 6 7 8 9$" "$work/chosen-random-1" && { echo "--init random took the first points"; exit 1; }
! cmp -s "$work/chosen-random-1" "$work/chosen-kmeans++-1" || { echo "random and kmeans++ chose alike"; exit 1; }
read -r -a chosen <<< "$(sed 's/.*points //' "$work/chosen-random-1")"
for i in "${chosen[@]}"; do sed -n "$((i + 1))p" "$work/digits.csv" | cut -d, -f1-64; done > "$work/random-init.txt"
run 1 "$bin/mpimr-kmeans" -q --init-centroids "$work/random-init.txt" --columns 1-64 -o "$work/random-again" \
  "$work/digits.csv"
cmp <(cat "$work/random-1"/part-*) <(cat "$work/random-again"/part-*)

# kmeans++ on 8 blobs far apart starts with one point in each (uniform choice would almost never).
blobs=(--generate 4000 --dims 5 --clusters 8 --seed 5)
run "$np" "$bin/mpimr-kmeans" -v -k 8 --init kmeans++ --seed 11 -o "$work/pp" "${blobs[@]}" 2>"$work/err"
"$py" - "$oracle" "$(grep -o 'initial centroids: points.*' "$work/err")" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("oracle", sys.argv[1])
oracle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oracle)
points = [int(x) for x in sys.argv[2].split("points")[1].split()]
blobs = sorted(oracle.draw(5, 1, p) % 8 for p in points)
if blobs != list(range(8)):
    sys.exit("kmeans++ started in blobs %s, not one point in each of the 8" % blobs)
print("kmeans++: one initial point in each of the 8 blobs")
PY

# A bad centroid file: exit 1, the file and the line named, nothing written.
printf '1,2,3,4\n# a comment\n5,6,x,8\n9,10,11,12\n' > "$work/bad-number.txt"
expect_failure 1 "bad-number.txt' line 3: 'x' is not a decimal number" run "$np" "$bin/mpimr-kmeans" -k 3 \
  --skip-header 1 --columns 1-4 --init-centroids "$work/bad-number.txt" -o "$work/bad" "$data/iris.csv"
printf '1 2 3 4\n5 6 7\n' > "$work/bad-dims.txt"
expect_failure 1 "bad-dims.txt' line 2: 3 numbers, but the points have 4" run "$np" "$bin/mpimr-kmeans" -k 2 \
  --skip-header 1 --columns 1-4 --init-centroids "$work/bad-dims.txt" -o "$work/bad" "$data/iris.csv"
head -2 "$work/iris-init.txt" > "$work/two.txt"
expect_failure 1 "two.txt': 2 centroids, but -k is 3" run "$np" "$bin/mpimr-kmeans" -k 3 --skip-header 1 \
  --columns 1-4 --init-centroids "$work/two.txt" -o "$work/bad" "$data/iris.csv"
expect_failure 1 "line 3: more than -k 2 centroids" run "$np" "$bin/mpimr-kmeans" -k 2 --skip-header 1 \
  --columns 1-4 --init-centroids "$work/iris-init.txt" -o "$work/bad" "$data/iris.csv"
expect_failure 1 "missing.txt" run "$np" "$bin/mpimr-kmeans" -k 2 --init-centroids "$work/missing.txt" \
  -o "$work/bad" --columns 1-4 --skip-header 1 "$data/iris.csv"
# Without --skip-header the header line of iris is a malformed point; without --columns the label
# is a coordinate too (5 of them, and the init file has 4).
expect_failure 1 "is not a decimal number" run "$np" "$bin/mpimr-kmeans" -k 3 --columns 1-4 -o "$work/bad" \
  "$data/iris.csv"
expect_failure 1 "4 numbers, but the points have 5" run "$np" "$bin/mpimr-kmeans" -k 3 --skip-header 1 \
  --init-centroids "$work/iris-init.txt" -o "$work/bad" "$data/iris.csv"
expect_failure 1 "but --columns needs field 9" run "$np" "$bin/mpimr-kmeans" -k 3 --skip-header 1 \
  --columns 1-4,9 -o "$work/bad" "$data/iris.csv"
[ ! -e "$work/bad/_SUCCESS" ] || { echo "_SUCCESS after a failure"; exit 1; }

failure_cases_at_np_1_and_2 kmeans_sklearn_app
usage_error "--init must be first, random or kmeans++" -k 2 --init best -o "$work/x" "$data/iris.csv"
usage_error "give --init or --init-centroids once" -k 2 --init random --init-centroids "$work/two.txt" \
  -o "$work/x" "$data/iris.csv"
usage_error "--init-centroids must name a file" -k 2 --init-centroids '' -o "$work/x" "$data/iris.csv"
usage_error "--columns '3-1': a range N-M needs N <= M" -k 2 --columns 3-1 -o "$work/x" "$data/iris.csv"
usage_error "increasing order without repeats" -k 2 --columns 1-3,2 -o "$work/x" "$data/iris.csv"
usage_error "fields are numbers from 1" -k 2 --columns 0-3 -o "$work/x" "$data/iris.csv"
usage_error "an empty or overlong item" -k 2 --columns 1,,3 -o "$work/x" "$data/iris.csv"
usage_error "--skip-header must be an integer" -k 2 --skip-header -1 -o "$work/x" "$data/iris.csv"
usage_error "not with --generate" -k 2 --skip-header 1 --generate 10 -o "$work/x"
usage_error "--dims differs from the number of fields --columns chooses" -k 2 --columns 1-4 --dims 3 \
  -o "$work/x" "$data/iris.csv"
usage_error "-k K is required (or --init-centroids FILE)" -o "$work/x" "$data/iris.csv"
[ ! -e "$work/x" ] || { echo "a usage error created the output directory"; exit 1; }
echo "kmeans_sklearn_app np=$np: ok"
