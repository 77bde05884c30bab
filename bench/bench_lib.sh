# shellcheck shell=bash disable=SC2034,SC2154  # sourced: the caller sets table; AWK_MEDIAN is for it
# bench/bench_lib.sh — what the benchmark scripts (wordcount_bench.sh,
# sort_bench.sh, outofcore_bench.sh) share. Sourced, not run.
#
#   say TEXT...      print TEXT and append it to the results table ($table)
#   loadavg          the 1, 5 and 15 minute load averages
#   AWK_MEDIAN       awk source of median(list): the median of the numbers in
#                    a space-separated list (the mean of the middle two for an
#                    even count); prepend it to an awk program
#   wordcount_corpus BIN DIR SIZE
#                    the path of the generated word-count corpus of SIZE bytes
#                    in DIR, made with BIN/mpimr-gentext (2 ranks) the first
#                    time and kept for the next runs
#   wordcount_bench_start NAME
#                    the word-count benchmarks' setup, in the caller's shell
#                    (it reads bin, out, data, size and np): checks that
#                    mpimr-wordcount and mpimr-gentext are built, makes --out
#                    and --data, starts the table $out/NAME.txt ($table),
#                    names $csv ($out/NAME.csv), sets $corpus
#                    (wordcount_corpus), makes $work (removed at exit), and
#                    mpirun_args (-np $np, --oversubscribe beyond the cores)
#   alternate_rows CSV HEADER ROUNDS ROW...
#                    the scripts' measuring loop: the caller's `run ROW` prints
#                    "WORDS DISTINCT FIELD..." for one run of ROW. A warm-up
#                    runs each row once (said, not counted) and checks that all
#                    agree on WORDS DISTINCT; then ROUNDS rounds run every row
#                    in turn, each run checked, appending
#                    "ROUND,ROW,WORDS,DISTINCT,FIELD..." to CSV under HEADER
#                    (the caller's die reports a disagreement)
#   bar_chart_style  the gnuplot lines of the scripts' clustered bar charts
#   bar_chart PNG TITLE PLOT
#                    draws a bar chart of a medians CSV (900x520) with gnuplot:
#                    PLOT is the plot command; says where it went, or that
#                    gnuplot is missing

say() { echo "$@" | tee -a "$table"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

wordcount_corpus() {
  local corpus=$2/wordcount-$3.txt
  [ -s "$corpus" ] || mpirun --oversubscribe -np 2 "$1/mpimr-gentext" -o "$corpus" --size "$3" >/dev/null
  echo "$corpus"
}

wordcount_bench_start() {
  local p
  for p in mpimr-wordcount mpimr-gentext; do [ -x "$bin/$p" ] || die "$bin/$p is missing"; done
  mkdir -p "$out" "$data"
  table=$out/$1.txt
  csv=$out/$1.csv
  : >"$table"
  corpus=$(wordcount_corpus "$bin" "$data" "$size")
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mpirun_args=(-np "$np")
  [ "$np" -gt "$(nproc)" ] && mpirun_args+=(--oversubscribe)
  return 0
}

AWK_MEDIAN='
  function median(list,   n, v, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }'

alternate_rows() {
  local csv=$1 header=$2 rounds=$3 row round words distinct rest expected=""
  shift 3
  say "warm-up and agreement check:"
  for row in "$@"; do
    read -r words distinct rest < <(run "$row")
    say "  $row: $words words, $distinct distinct; $rest"
    [ -z "$expected" ] && expected="$words $distinct"
    [ "$words $distinct" = "$expected" ] || die "$row counted $words $distinct, $1 $expected"
  done
  echo "$header" >"$csv"
  for round in $(seq 1 "$rounds"); do
    for row in "$@"; do
      read -r words distinct rest < <(run "$row")
      [ "$words $distinct" = "$expected" ] || die "$row counted $words $distinct in round $round, expected $expected"
      echo "$round,$row,$words,$distinct,${rest// /,}" >>"$csv"
    done
    say "  round $round done (load $(loadavg))"
  done
}

bar_chart_style() {
  cat <<'GNUPLOT'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
GNUPLOT
}

have_gnuplot() {
  command -v gnuplot >/dev/null 2>&1 && return 0
  say "chart:    skipped, gnuplot is not installed (apt-get install gnuplot-nox)"
  return 1
}

bar_chart() {
  local png=$1 title=$2 plot=$3
  have_gnuplot || return 0
  {
    echo 'set terminal pngcairo size 900,520 font "sans,10" noenhanced'
    echo "set output \"$png\""
    echo 'set datafile separator ","'
    echo "set title \"$title\""
    echo 'set ylabel "seconds (lower is better)"'
    echo 'set key below'
    bar_chart_style
    echo "$plot"
  } | gnuplot
  say "chart:    $png"
}
