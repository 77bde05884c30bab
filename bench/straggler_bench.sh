#!/usr/bin/env bash
# Word count with one slow rank, static against dynamic map, alternated. See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/straggler_bench.sh [OPTIONS]

Runs mpirun -np P mpimr-wordcount -q --format none --stats FILE CORPUS in four rows:
  static-even    every rank at full speed, --static-map
  static-slow    rank P-1 slowed (see --slow-by), --static-map
  dynamic-even   every rank at full speed, --dynamic-map
  dynamic-slow   rank P-1 slowed, --dynamic-map
one after another, --rounds times, after a warm-up that checks all four agree on the
words and distinct words. The job time is the largest time_total over ranks from
--stats. Reported: each row's median, and each slow row over its even row (a static
split waits for the slow rank; the ideal with one rank at half speed at np 2 is 1.33).
The medians go to NAME-medians.csv and, with gnuplot, a bar chart to NAME.png, where
NAME is straggler-SIZE-npP-knob or straggler-SIZE-npP-hog.

Two ways to slow rank P-1:
  knob  the test knob MPIMR_TEST_MAP_DELAY: the rank sleeps --delay microseconds
        after each map slice of --read-size bytes (deterministic, any machine)
  hog   a busy loop (one shell process) kept on the CPUs rank P-1 may run on: it
        starts before mpirun on the last CPU and follows the rank's affinity
        (/proc/PID/status) every 20 ms while the job runs. mpirun binds each rank
        to a core (--bind-to core --map-by core), so on a machine with one thread
        a core the rank gets half of it (P may equal the number of CPUs: the loop is
        one process more).

Options:
  --size SIZE       corpus size, K/M/G suffixes (default 256M)
  --np N            MPI ranks (default 2)
  --delay USEC      the slow rank's sleep after each slice (default 500: about half
                    speed for 256 KiB slices at 500 MB/s a rank; measure a slice with
                    --trace to choose it on another machine)
  --slow-by WAY     knob or hog (default knob)
  --read-size SIZE  map slice (default 256K)
  --rounds N        counted rounds, at least 3 (default 5)
  --out DIR         results directory (default bench/results)
  --build DIR       build tree holding bin/ (default build)
  --data DIR        corpus directory, outside git (default data/bench)
  --plot-only       run nothing: draw the chart from the medians CSV in --out of an
                    earlier run with the same --size, --np and --slow-by (for runs
                    made where gnuplot was missing)
  -h, --help        show this text
EOF
}

die() { echo "straggler_bench.sh: $*" >&2; exit 1; }

size=256M np=2 delay=500 read_size=256K rounds=5 out=bench/results build=build data=data/bench slow_by=knob
plot_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --slow-by) slow_by=$2; shift 2 ;;
    --plot-only) plot_only=1; shift ;;
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
[[ $slow_by == knob || $slow_by == hog ]] || die "--slow-by must be knob or hog"
cd "$(dirname "$0")/.."
# shellcheck source=scripts/mpi-env.sh
source scripts/mpi-env.sh
# shellcheck source=bench/bench_lib.sh
source bench/bench_lib.sh
name=straggler-$size-np$np-$slow_by
medians=$out/$name-medians.csv
# draw_chart: the medians as bars, static and dynamic side by side (gnuplot; skipped with a note).
draw_chart() {
  bar_chart "$out/$name.png" "Word count of $size at np $np, rank $((np - 1)) slowed ($slow_by): median of $rounds runs" \
    "plot \"$medians\" every ::1 using 2:xtic(1) title \"nobody slow\", \"\" every ::1 using 3 title \"rank $((np - 1)) slowed\""
}
if [ $plot_only = 1 ]; then
  [ -f "$medians" ] || die "$medians is missing: run the benchmark with the same --size, --np and --slow-by first"
  table=/dev/null
  rounds=$(sed -n 's/^medians of \([0-9]*\) rounds.*/\1/p' "$out/$name.txt" 2>/dev/null)
  draw_chart
  exit 0
fi
bin=$(cd "$build/bin" && pwd) || die "no $build/bin: build first"
wordcount_bench_start "$name"
if [ "$slow_by" = hog ]; then
  mpirun_args+=(--bind-to core --map-by core)
  last_cpu=$(($(nproc) - 1))
fi
# rank_pid RANK: the PID of that rank of this script's job (its environment names both).
rank_pid() {
  local pid
  for pid in $(pgrep -x mpimr-wordcount); do
    tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qx "MPIMR_STRAGGLER_BENCH=$$" || continue
    if tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
      echo "$pid"
      break
    fi
  done
  return 0
}
# follow_rank HOG: keeps the hog on rank P-1's CPUs until mpirun ($job) ends.
follow_rank() {
  local hog=$1 pid="" cpus="" now
  while kill -0 "$job" 2>/dev/null; do
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || pid=$(rank_pid $((np - 1)))
    if [ -n "$pid" ]; then
      now=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null) || now="" # the rank may have ended
      if [ -n "$now" ] && [ "$now" != "$cpus" ]; then
        taskset -p -c "$now" "$hog" >/dev/null && cpus=$now
      fi
    fi
    sleep 0.02
  done
  [ -n "$cpus" ] || echo "straggler_bench.sh: the hog never found rank $((np - 1))" >&2
}
rows=(static-even static-slow dynamic-even dynamic-slow)

say "straggler benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
say "machine:  $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), load $(loadavg)"
if [ "$slow_by" = knob ]; then
  slowed="rank $((np - 1)) slowed by ${delay} us a ${read_size} slice"
else
  slowed="rank $((np - 1)) sharing its core with a busy loop (mpirun ${mpirun_args[*]})"
fi
say "corpus:   $corpus ($(stat -c %s "$corpus") bytes), $np ranks, $slowed, $rounds rounds"
say "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"

# run ROW: one word count; prints "words distinct job_seconds chunks_moved".
run() {
  local row=$1
  local -a options=(-q --format none --read-size "$read_size" --stats "$work/stats.json")
  local knob=""
  case $row in dynamic-*) options+=(--dynamic-map) ;; *) options+=(--static-map) ;; esac
  hog=""
  case $row in *-slow) [ "$slow_by" = knob ] && knob="$delay@$((np - 1))" ;; esac
  rm -f "$work/stats.json"
  if [ "$slow_by" = hog ] && [[ $row == *-slow ]]; then
    trap '[ -z "$hog" ] || kill "$hog" 2>/dev/null' EXIT # run is a subshell: a failure stops the hog too
    taskset -c "$last_cpu" bash -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &
    hog=$!
  fi
  MPIMR_STRAGGLER_BENCH=$$ MPIMR_TEST_MAP_DELAY=$knob mpirun "${mpirun_args[@]}" "$bin/mpimr-wordcount" \
    "${options[@]}" "$corpus" >"$work/log" 2>&1 </dev/null &
  job=$!
  [ -z "$hog" ] || follow_rank "$hog"
  local status=0
  wait "$job" || status=$?
  [ -z "$hog" ] || { kill "$hog"; wait "$hog" 2>/dev/null || true; }
  [ "$status" -eq 0 ] || { cat "$work/log" >&2; die "$row failed"; }
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
    printf "map,nobody slow (s),rank slowed (s)\n" > medians
    printf "static,%.4f,%.4f\ndynamic,%.4f,%.4f\n", med["static-even"], med["static-slow"], med["dynamic-even"], med["dynamic-slow"] > medians
  }' medians="$medians" "$csv" | tee -a "$table"
say "csv:      $csv, $medians"
draw_chart
