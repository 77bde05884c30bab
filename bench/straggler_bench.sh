#!/usr/bin/env bash
# Word count with one slow rank, static against dynamic map, alternated. See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/straggler_bench.sh [OPTIONS]

Runs mpirun -np P mpimr-wordcount -q --format none --stats FILE CORPUS in four rows:
  static-even    every rank at full speed, static map
  static-slow    rank P-1 slowed (the test knob MPIMR_TEST_MAP_DELAY: it sleeps --delay
                 microseconds after each map slice of --read-size bytes), static map
  dynamic-even   every rank at full speed, --dynamic-map
  dynamic-slow   rank P-1 slowed, --dynamic-map
one after another, --rounds times, after a warm-up that checks all four agree on the
words and distinct words. The job time is the largest time_total over ranks from
--stats. Reported: each row's median, and each slow row over its even row (a static
split waits for the slow rank; the ideal with one rank at half speed at np 2 is 1.33).

Options:
  --size SIZE       corpus size, K/M/G suffixes (default 256M)
  --np N            MPI ranks (default 2)
  --delay USEC      the slow rank's sleep after each slice (default 500: about half
                    speed for 256 KiB slices at 500 MB/s a rank; measure a slice with
                    --trace to choose it on another machine)
  --read-size SIZE  map slice (default 256K)
  --rounds N        counted rounds, at least 3 (default 5)
  --out DIR         results directory (default bench/results)
  --build DIR       build tree holding bin/ (default build)
  --data DIR        corpus directory, outside git (default data/bench)
  -h, --help        show this text
EOF
}

die() { echo "straggler_bench.sh: $*" >&2; exit 1; }

size=256M np=2 delay=500 read_size=256K rounds=5 out=bench/results build=build data=data/bench
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --np) np=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --read-size) read_size=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ $np =~ ^[1-9][0-9]*$ && $np -ge 2 ]] || die "--np must be an integer of at least 2"
[[ $delay =~ ^[0-9]+$ ]] || die "--delay must be a whole number of microseconds"
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 3 ]] || die "--rounds must be an integer of at least 3"
cd "$(dirname "$0")/.."
# shellcheck source=scripts/mpi-env.sh
source scripts/mpi-env.sh
# shellcheck source=bench/bench_lib.sh
source bench/bench_lib.sh
bin=$(cd "$build/bin" && pwd) || die "no $build/bin: build first"
for p in mpimr-wordcount mpimr-gentext; do [ -x "$bin/$p" ] || die "$bin/$p is missing"; done
mkdir -p "$out" "$data"
name=straggler-$size-np$np
table=$out/$name.txt
csv=$out/$name.csv
: > "$table"
corpus=$(wordcount_corpus "$bin" "$data" "$size")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun_args=(-np "$np")
[ "$np" -gt "$(nproc)" ] && mpirun_args+=(--oversubscribe)
rows=(static-even static-slow dynamic-even dynamic-slow)

say "straggler benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
say "machine:  $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), load $(loadavg)"
say "corpus:   $corpus ($(stat -c %s "$corpus") bytes), $np ranks, rank $((np - 1)) slowed by ${delay} us a ${read_size} slice, $rounds rounds"
say "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"

# run ROW: one word count; prints "words distinct job_seconds chunks_moved".
run() {
  local row=$1
  local -a options=(-q --format none --read-size "$read_size" --stats "$work/stats.json")
  local knob=""
  case $row in dynamic-*) options+=(--dynamic-map) ;; esac
  case $row in *-slow) knob="$delay@$((np - 1))" ;; esac
  rm -f "$work/stats.json"
  MPIMR_TEST_MAP_DELAY=$knob mpirun "${mpirun_args[@]}" "$bin/mpimr-wordcount" "${options[@]}" "$corpus" \
    >"$work/log" 2>&1 </dev/null || { cat "$work/log" >&2; die "$row failed"; }
  awk '
    function num(name,   s) {
      if (!match($0, "\"" name "\": *[0-9.eE+-]+")) return -1
      s = substr($0, RSTART, RLENGTH); sub(/.*: */, "", s); return s + 0
    }
    /"rank"/ { w += num("pairs_emitted"); d += num("keys_reduced"); c += num("chunks_taken")
               t = num("time_total") > t ? num("time_total") : t }
    END { printf "%.0f %.0f %.6f %.0f\n", w, d, t, c }' "$work/stats.json"
}

alternate_rows "$csv" "round,row,words,distinct,job_seconds,chunks_moved" "$rounds" "${rows[@]}"

say ""
say "medians of $rounds rounds (job: the largest time_total over ranks):"
awk -F, "$AWK_MEDIAN"'
  NR > 1 { t[$2] = t[$2] " " $5; m[$2] = m[$2] " " $6 }
  END {
    split("static-even static-slow dynamic-even dynamic-slow", order, " ")
    printf "  %-13s %8s %14s\n", "row", "job (s)", "chunks moved"
    for (i = 1; i <= 4; i++) { r = order[i]; med[r] = median(t[r]); printf "  %-13s %8.3f %14.0f\n", r, med[r], median(m[r]) }
    printf "  static  slow/even: %.3f\n", med["static-slow"] / med["static-even"]
    printf "  dynamic slow/even: %.3f\n", med["dynamic-slow"] / med["dynamic-even"]
    printf "  dynamic/static, nobody slow: %.3f\n", med["dynamic-even"] / med["static-even"]
  }' "$csv" | tee -a "$table"
say "csv:      $csv"
