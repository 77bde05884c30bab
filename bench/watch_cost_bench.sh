#!/usr/bin/env bash
# What watching a job costs (issue 24): mpimr-wordcount with its progress display off and on,
# alternated, and a counter's cost per map call (mpimr-counter-bench). See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/watch_cost_bench.sh [OPTIONS]

Word count of one generated corpus at the same rank count, in alternation:
  off    mpirun -np P mpimr-wordcount -q --format none --stats FILE --progress=off CORPUS
  plain  the same with --progress=plain --progress-interval 1 (one line a second and a
         final one, on rank 0's stderr, into a file)
  fast   the same with --progress=plain --progress-interval 0.05 (a line every 50 ms:
         the display updated as often as anyone would want, to show what printing costs)
mpimr-wordcount has no option that adds a counter per record, so the counters' cost is
measured on its own: mpimr-counter-bench runs map-only jobs of --calls map calls that
add to a counter by name (mpimr_counter_add) or through a handle
(mpimr_counter_increment), and prints the nanoseconds a call over an empty map.

Steps: generate the corpus with mpimr-gentext into the data directory unless it is
there; run each row once as a warm-up (not counted; it also fills the page cache) and
check that they agree on the words and distinct words (from --stats); then run
off plain fast, off plain fast, ... --pairs times, checking every run and that the
progress rows printed their progress lines. Then mpimr-counter-bench.

Each run records the whole command's wall time and the job's own time (the largest
time_total over ranks from --stats, which leaves out starting MPI). Reported: the
medians, each row's median over off's, and the median of the per-round ratios
(row / the off run just before it), which a drifting machine disturbs less.

Options:
  --size SIZE       corpus size, K/M/G suffixes (default 256M)
  --np N            MPI ranks (default 2)
  --pairs N         counted rounds, at least 5 (default 9)
  --calls N         map calls a job for mpimr-counter-bench (default 20000000)
  --out DIR         results directory (default bench/results)
  --build DIR       build tree holding bin/ (default build)
  --data DIR        corpus directory, outside git (default data/bench)
  -h, --help        show this text

Writes into --out, with NAME = watch-cost-SIZE-npP:
  NAME.txt            the printed tables, machine and load
  NAME.csv            one row per counted word count run
  NAME-counters.csv   one row per counted mpimr-counter-bench job
EOF
}

die() { echo "watch_cost_bench.sh: $*" >&2; exit 1; }

size=256M np=2 pairs=9 calls=20000000 out=bench/results build=build data=data/bench
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --np) np=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "watch_cost_bench.sh: unknown option '$1' (see --help)" >&2; exit 64 ;;
  esac
done
[[ $np =~ ^[1-9][0-9]*$ ]] || { echo "watch_cost_bench.sh: --np must be a positive integer" >&2; exit 64; }
if ! [[ $pairs =~ ^[0-9]+$ ]] || [ "$pairs" -lt 5 ]; then
  echo "watch_cost_bench.sh: --pairs must be 5 or more" >&2
  exit 64
fi
[[ $calls =~ ^[1-9][0-9]*$ ]] || { echo "watch_cost_bench.sh: --calls must be a positive integer" >&2; exit 64; }
cd "$(dirname "$0")/.."
source scripts/mpi-env.sh
# shellcheck source=bench/bench_lib.sh
source bench/bench_lib.sh
bin=$(cd "$build/bin" && pwd) || die "no $build/bin: build first"
for p in mpimr-wordcount mpimr-gentext mpimr-counter-bench; do [ -x "$bin/$p" ] || die "$bin/$p is missing"; done
mkdir -p "$out" "$data"
name=watch-cost-$size-np$np
table=$out/$name.txt
csv=$out/$name.csv
counters_csv=$out/$name-counters.csv
: > "$table"
corpus=$(wordcount_corpus "$bin" "$data" "$size")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun_args=(-np "$np")
[ "$np" -gt "$(nproc)" ] && mpirun_args+=(--oversubscribe)

say "watch cost benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
say "machine:  $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), load $(loadavg)"
say "corpus:   $corpus ($(stat -c %s "$corpus") bytes), $np ranks, $pairs rounds"
say "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"

rows=(off plain fast)
# run ROW: one word count; prints "words distinct job_seconds wall_seconds progress_lines".
run() {
  local row=$1 t0 t1 line lines
  local -a progress
  case $row in
    off) progress=(--progress=off) ;;
    plain) progress=(--progress=plain --progress-interval 1) ;;
    fast) progress=(--progress=plain --progress-interval 0.05) ;;
  esac
  rm -f "$work/stats.json"
  t0=$EPOCHREALTIME
  mpirun "${mpirun_args[@]}" "$bin/mpimr-wordcount" -q --format none --stats "$work/stats.json" \
    "${progress[@]}" "$corpus" >"$work/log" 2>&1 </dev/null || { cat "$work/log" >&2; die "$row failed"; }
  t1=$EPOCHREALTIME
  lines=$(grep -c '^mpimr: [a-z][a-z ]*\b.*[0-9.]\+%' "$work/log" || true)
  line=$(awk '
    function num(name,   s) {
      if (!match($0, "\"" name "\": *[0-9.eE+-]+")) return -1
      s = substr($0, RSTART, RLENGTH); sub(/.*: */, "", s); return s + 0
    }
    /"rank"/ { w += num("pairs_emitted"); d += num("keys_reduced"); t = num("time_total") > t ? num("time_total") : t }
    END { printf "%.0f %.0f %.6f", w, d, t }' "$work/stats.json")
  echo "$line $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }') $lines"
}

say "warm-up and agreement check:"
expected=""
for row in "${rows[@]}"; do
  read -r words distinct job wall lines < <(run "$row")
  say "  $row: $words words, $distinct distinct, job ${job}s, wall ${wall}s, $lines progress lines"
  [ -z "$expected" ] && expected="$words $distinct"
  [ "$words $distinct" = "$expected" ] || die "$row counted $words $distinct, off $expected"
  # With the display off nothing is printed; with it on, at least the final line.
  if [ "$row" = off ]; then [ "$lines" -eq 0 ] || die "off printed $lines progress lines"
  else [ "$lines" -ge 1 ] || die "$row printed no progress line"; fi
done
echo "round,row,words,distinct,job_seconds,wall_seconds,progress_lines" > "$csv"
for round in $(seq 1 "$pairs"); do
  for row in "${rows[@]}"; do
    read -r words distinct job wall lines < <(run "$row")
    [ "$words $distinct" = "$expected" ] || die "$row counted $words $distinct in round $round, expected $expected"
    if [ "$row" = off ]; then [ "$lines" -eq 0 ] || die "off printed $lines progress lines"
    else [ "$lines" -ge 1 ] || die "$row printed no progress line"; fi
    echo "$round,$row,$words,$distinct,$job,$wall,$lines" >> "$csv"
  done
  say "  round $round done (load $(loadavg))"
done
say ""
say "word count, medians of $pairs rounds (job: the job's own time; wall: the whole command):"
awk -F, -v order="${rows[*]}" "$AWK_MEDIAN"'
  NR > 1 {
    job[$2] = job[$2] " " $5; wall[$2] = wall[$2] " " $6; lines[$2] = lines[$2] " " $7
    if ($2 == "off") { off_job = $5; off_wall = $6 }
    else { rjob[$2] = rjob[$2] " " $5 / off_job; rwall[$2] = rwall[$2] " " $6 / off_wall }
  }
  END {
    n = split(order, names, " ")
    reference = median(job["off"]); reference_wall = median(wall["off"])
    printf "  %-6s %9s %9s %9s %9s %13s %14s\n", "row", "job (s)", "wall (s)", "job/off", "wall/off",
           "pairs job/off", "progress lines"
    for (i = 1; i <= n; i++) {
      r = names[i]; j = median(job[r]); w = median(wall[r])
      printf "  %-6s %9.3f %9.3f %9.4f %9.4f %13s %14s\n", r, j, w, j / reference, w / reference_wall,
             r == "off" ? "-" : sprintf("%.4f", median(rjob[r])), median(lines[r])
    }
  }' "$csv" | tee -a "$table"
say "rounds:   $csv"
say ""
say "counters: mpimr-counter-bench at np $np, $calls map calls a job, $pairs rounds:"
mpirun "${mpirun_args[@]}" "$bin/mpimr-counter-bench" --calls "$calls" --repeat "$pairs" \
  --csv "$counters_csv" </dev/null | tee -a "$table" || die "mpimr-counter-bench failed"
say "jobs:     $counters_csv"
