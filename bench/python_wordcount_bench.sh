#!/usr/bin/env bash
# Word count from Python against the C program, on one generated corpus, in alternation. See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/python_wordcount_bench.sh [OPTIONS]

Compares, on the same generated corpus and the same number of ranks:
  c          mpirun -np P mpimr-wordcount -q --format none --stats FILE CORPUS
  py-block   mpirun -np P python3 -m mpimr.wordcount -q --format none --stats FILE CORPUS
             (the map gets a block of lines per call, finds the words with NumPy and
             emits them all as slices of the block with one emit.slices(); counts are
             added in C)
  py-split   the same with --map split (bytes.split() of the block, one
             emit.many(words, 1): a Python bytes object per word)
  py-record  the same with --map record (Python is called once per line and emits
             each word with emit(word, 1): the slow path)
  counter    one process, no MPI: collections.Counter(open(CORPUS, 'rb').read().split())

Steps: generate the corpus with mpimr-gentext into the data directory unless it
is there; run each once as a warm-up (not counted; it also fills the page cache)
and check that all agree on the number of words and of distinct words; then run
c py-block py-split py-record counter, c py-block ..., --repeat times, checking every run.

Each run records the whole command's wall time and the job's own time (the
programs: the largest time_total over ranks from --stats, which leaves out
starting Python and MPI; counter: reading and counting). Medians are reported,
with each row's job time over the C program's.

Options:
  --size SIZE       corpus size, K/M/G suffixes (default 256M)
  --np N            MPI ranks (default 2)
  --repeat N        counted rounds, at least 1 (default 3)
  --no-record       leave out py-record (the longest row)
  --out DIR         results directory (default bench/results)
  --build DIR       build tree holding bin/ and python/ (default build)
  --data DIR        corpus directory, outside git (default data/bench)
  -h, --help        show this text

Python is /usr/bin/python3 (Debian's, with mpi4py and NumPy).
EOF
}

die() { echo "python_wordcount_bench.sh: $*" >&2; exit 1; }

size=256M np=2 repeat=3 record=1 out=bench/results build=build data=data/bench
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --np) np=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --no-record) record=0; shift ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ $np =~ ^[1-9][0-9]*$ ]] || die "--np must be a positive integer"
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer"
cd "$(dirname "$0")/.."
source scripts/mpi-env.sh
source bench/bench_lib.sh
python=/usr/bin/python3
bin=$(cd "$build/bin" && pwd) || die "no $build/bin: build first"
export PYTHONPATH
PYTHONPATH=$(cd "$build/python" && pwd) || die "no $build/python: the build has no Python package"
name=python-wordcount-$size-np$np
wordcount_bench_start "$name"

say "python word count benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
say "machine:  $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), load $(loadavg)"
say "corpus:   $corpus ($(stat -c %s "$corpus") bytes), $np ranks, $repeat rounds"
say "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

# run ROW: runs one row once; prints "words distinct job_seconds wall_seconds".
run() {
  local row=$1 t0 t1 line
  rm -f "$work/stats.json"
  t0=$EPOCHREALTIME
  case $row in
    c) mpirun "${mpirun_args[@]}" "$bin/mpimr-wordcount" -q --format none --stats "$work/stats.json" "$corpus" \
         >"$work/log" 2>&1 || { cat "$work/log" >&2; die "$row failed"; } ;;
    py-block|py-split|py-record)
      mpirun "${mpirun_args[@]}" "$python" -m mpimr.wordcount -q --format none --map "${row#py-}" \
        --stats "$work/stats.json" "$corpus" >"$work/log" 2>&1 || { cat "$work/log" >&2; die "$row failed"; } ;;
    counter)
      "$python" - "$corpus" >"$work/counter" <<'PYTHON' || die "counter failed"
import collections, sys, time
start = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    counts = collections.Counter(f.read().split())
print(sum(counts.values()), len(counts), f"{time.perf_counter() - start:.6f}")
PYTHON
      ;;
  esac
  t1=$EPOCHREALTIME
  if [ "$row" = counter ]; then
    read -r line < "$work/counter"
  else
    line=$(awk '
      function num(name,   s) {
        if (!match($0, "\"" name "\": *[0-9.eE+-]+")) return -1
        s = substr($0, RSTART, RLENGTH); sub(/.*: */, "", s); return s + 0
      }
      /"rank"/ { w += num("pairs_emitted"); d += num("keys_reduced"); t = num("time_total") > t ? num("time_total") : t }
      END { printf "%.0f %.0f %.6f", w, d, t }' "$work/stats.json")
  fi
  echo "$line $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')"
}

rows=(c py-block py-split)
[ $record = 1 ] && rows+=(py-record)
rows+=(counter)
alternate_rows "$csv" "round,row,words,distinct,job_seconds,wall_seconds" "$repeat" "${rows[@]}"
say ""
say "medians of $repeat rounds (job: the job's own time; wall: the whole command, starting Python and MPI included):"
awk -F, -v order="${rows[*]}" "$AWK_MEDIAN"'
  NR > 1 { job[$2] = job[$2] " " $5; wall[$2] = wall[$2] " " $6 }
  END {
    n = split(order, names, " ")
    reference = median(job["c"])
    printf "  %-10s %10s %10s %12s\n", "row", "job (s)", "wall (s)", "job / c"
    for (i = 1; i <= n; i++) {
      j = median(job[names[i]]); w = median(wall[names[i]])
      printf "  %-10s %10.3f %10.3f %11.2fx\n", names[i], j, w, j / reference
    }
  }' "$csv" | tee -a "$table"
say "rounds:   $csv"
