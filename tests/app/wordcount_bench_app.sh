#!/usr/bin/env bash
# Test of bench/wordcount_bench.sh with a list of rank counts: a tiny corpus
# at np 1 and NP (NP above the cores takes the --oversubscribe path), two
# rounds, no MR-MPI. The script checks each run's output against the serial
# count itself; this test checks its files against an independent oracle:
# the word totals against Python's own count of the corpus, the medians
# against the per-run CSV, and the scaling table against those medians.
# Also: --plot-only redraws (or says gnuplot is missing), a bad --np is refused.
# usage: wordcount_bench_app.sh BUILD_DIR NP
set -euo pipefail
build=$1 np=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/mpimr-wordcount-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"

bench=(bash "$root/bench/wordcount_bench.sh" --size 2M --vocab 5000 --np "1,$np" --repeat 2 --no-mrmpi
  --build "$build" --data "$work/data" --out "$work/out")
"${bench[@]}" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
name=wordcount-2M-np1-$np

python3 - "$work/out/$name" "$work/data"/corpus-2M-*.txt "$np" <<'PY'
import csv, re, statistics, sys
prefix, corpus, np = sys.argv[1], sys.argv[2], int(sys.argv[3])
words = re.split(rb"[ \t\n\v\f\r]+", open(corpus, "rb").read())
words = [w for w in words if w]
total, distinct = len(words), len(set(words))

runs = list(csv.DictReader(open(prefix + ".csv")))
programs = ["mpimr@1", f"mpimr@{np}", "serial"]
assert [r["program"] for r in runs] == programs * 2, [r["program"] for r in runs]
for r in runs:
    assert int(r["words"]) == total and int(r["distinct"]) == distinct, (r, total, distinct)
    assert int(r["np"]) == (np if r["program"] == f"mpimr@{np}" else 1), r

medians = {r["program"]: r for r in csv.DictReader(open(prefix + "-medians.csv"))}
assert list(medians) == programs, list(medians)
job = {}
for p in programs:
    job[p] = statistics.median(float(r["job_s"]) for r in runs if r["program"] == p)
    assert abs(float(medians[p]["median_job_s"]) - job[p]) < 1.5e-3, (p, medians[p], job[p])
# The peers' ratio column compares with mpimr at the largest count.
for p in programs:
    ratio = job[f"mpimr@{np}"] / job[p]
    assert abs(float(medians[p]["mpimr_over_peer_job"]) - ratio) < 0.001 * ratio + 1e-3, (p, ratio)

scaling = list(csv.DictReader(open(prefix + "-scaling.csv")))
assert [r["program"] for r in scaling] == programs[:2], scaling
m = {p: float(medians[p]["median_job_s"]) for p in programs}
for r in scaling:
    n = int(r["np"])
    speedup = m["mpimr@1"] / m[r["program"]]
    for column, want in (("speedup_over_np1", speedup), ("speedup_over_serial", m["serial"] / m[r["program"]]),
                         ("efficiency_over_np1", speedup / n)):
        assert abs(float(r[column]) - want) < 0.011 * want + 0.011, (r, column, want)
print(f"wordcount_bench files agree with the oracle: {total} words, {distinct} distinct")
PY
grep -q "the word<TAB>count lines of mpimr@1 mpimr@$np and serial are identical" "$work/out/$name.txt"
grep -q "^strong scaling" "$work/out/$name.txt"

# --plot-only draws from the files alone, or says why it cannot.
bash "$root/bench/wordcount_bench.sh" --plot-only --size 2M --np "1,$np" --out "$work/out" > "$work/plot" 2>&1
if command -v gnuplot > /dev/null; then
  [ -s "$work/out/$name-scaling.png" ] || { cat "$work/plot"; exit 1; }
else
  grep -q "gnuplot is not installed" "$work/plot"
fi

# Refused: a malformed list, and --plot-only without a run to draw from.
for bad in "--np 1,,2" "--np 0" "--np 2,1,2" "--np 2 --plot-only --out $work/empty"; do
  mkdir -p "$work/empty"
  # shellcheck disable=SC2086
  expect_failure 1 "wordcount_bench:" bash "$root/bench/wordcount_bench.sh" $bad
done
echo "wordcount_bench_app np=$np: ok"
