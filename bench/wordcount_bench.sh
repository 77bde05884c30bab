#!/usr/bin/env bash
# Word count against its peers: mpimr-wordcount, MR-MPI (with and without its
# compress combiner) and a single-core C word count, on one generated corpus,
# at one or several rank counts, run in alternation. See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/wordcount_bench.sh [OPTIONS]

Compares, on the same generated corpus and the same number of ranks:
  mpimr         mpirun -np P mpimr-wordcount -q --format none --stats FILE CORPUS
  mrmpi         mpirun -np P mpimr-wc-mrmpi CORPUS              (MR-MPI, no combiner)
  mrmpi+compress mpirun -np P mpimr-wc-mrmpi --compress CORPUS  (MR-MPI, compress() as combiner)
  serial        mpimr-wc-serial CORPUS                          (one core, no MPI)
The MR-MPI rows are skipped, with a note, when mpimr-wc-mrmpi was not built
(it needs Debian's libmrmpi-dev at configure time).

With a list of rank counts (--np 1,2,4,8,16) it is a strong-scaling study:
mpimr runs once at each count in every round (rows mpimr@1, mpimr@2, ...),
MR-MPI at the largest count only, and a second table gives each count's
speedup over the smallest count and over the serial program, and its
parallel efficiency (speedup over the smallest count x smallest / count).

Steps: build nothing; generate the corpus with mpimr-gentext into the data
directory unless it is already there; run every program once as a warm-up
(not counted; it also puts the corpus in the page cache) and check that all
agree on the total and distinct word counts, and that mpimr's text output and
the serial program's word<TAB>count lines are the same set; then run
A B C D, A B C D, ... --repeat times, checking the counts of every run.

Each run records the whole command's wall time and the job's own time
(mpimr: the largest time_total over ranks from --stats; MR-MPI: map to
reduce between barriers; serial: reading and counting). Medians are reported.

Options:
  --size SIZE       corpus size, K/M/G suffixes (default 1G)
  --vocab N         vocabulary (default 1000000)
  --zipf S          Zipf exponent (default 1.0)
  --seed N          generator seed (default 1)
  --np LIST         MPI ranks, one count or a comma-separated list (default 2);
                    --oversubscribe is added where a count exceeds the cores
  --repeat N        counted rounds, at least 1 (default 3)
  --out DIR         results directory (default bench/results)
  --build DIR       build tree holding bin/ (default build)
  --data DIR        corpus directory, outside git (default data/bench)
  --memsize MB      MR-MPI page size (default: enough for a rank's whole map
                    output in one page, at least 512)
  --mpimr-args STR  extra options for mpimr-wordcount (e.g. "--round-size 8M")
  --no-mrmpi        skip MR-MPI even when it is built
  --plot-only       run nothing: draw the charts from the CSV files that an
                    earlier run with the same --size, --np and --out wrote
                    (for results brought back from a machine without gnuplot)
  -h, --help        this text

Writes into --out, with NAME = wordcount-SIZE-npP (a list: npP1-P2-...):
  NAME.csv          one row per counted run
  NAME-medians.csv  one row per program: medians, MB/s, mpimr/peer time ratios
  NAME.txt          the printed table, machine and load
  NAME.png          bar chart of the medians (needs gnuplot; skipped with a note)
  NAME-scaling.png  a list of counts only: speedup against ranks
EOF
}

die() { echo "wordcount_bench: $*" >&2; exit 1; }
# shellcheck source=bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

size=1G vocab=1000000 zipf=1.0 seed=1 np=2 repeat=3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/bench/results build=$root/build data=$root/data/bench
memsize="" mpimr_args="" use_mrmpi=1 plot_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --vocab) vocab=$2; shift 2 ;;
    --zipf) zipf=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --np) np=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --memsize) memsize=$2; shift 2 ;;
    --mpimr-args) mpimr_args=$2; shift 2 ;;
    --no-mrmpi) use_mrmpi=0; shift ;;
    --plot-only) plot_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 64 ;;
  esac
done
[[ $np =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--np must be a positive integer or a comma-separated list of them"
IFS=, read -r -a np_list <<<"$np"
np_max=0 np_min=${np_list[0]}
for n in "${np_list[@]}"; do
  if [ "$n" -gt "$np_max" ]; then np_max=$n; fi
  if [ "$n" -lt "$np_min" ]; then np_min=$n; fi
done
[ "$(printf '%s\n' "${np_list[@]}" | sort -u | wc -l)" = ${#np_list[@]} ] || die "--np lists a rank count twice: $np"
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer"
[[ -z $memsize || $memsize =~ ^[1-9][0-9]*$ ]] || die "--memsize must be a positive integer (MB)"
name=wordcount-$size-np${np//,/-}
# draw_charts: the bar chart of the medians and, for a list of counts, the
# scaling chart, from the CSV files in --out (gnuplot; skipped with a note).
draw_charts() {
  bar_chart "$out/$name.png" "Word count, $size corpus (vocab $vocab, zipf $zipf), $np ranks: median of $repeat runs" \
    "plot \"$medians\" every ::1 using 4:xtic(1) title \"whole command (wall)\", \"\" every ::1 using 5 title \"job's own time\""
  if [ ${#np_list[@]} -gt 1 ] && command -v gnuplot >/dev/null 2>&1; then
    gnuplot <<EOF
set terminal pngcairo size 900,520 font "sans,10"
set output "$out/$name-scaling.png"
set datafile separator ","
set title "Word count strong scaling, $size corpus, $cores cores: median of $repeat runs"
set xlabel "ranks"
set ylabel "speedup (job time)"
set logscale x 2
set logscale y 2
set key top left
set grid
plot "$scaling" every ::1 using 2:5 with linespoints lw 2 title "over the smallest count", \
     "" every ::1 using 2:6 with linespoints lw 2 title "over the serial count", \
     "" every ::1 using 2:(\$2 / $np_min) with lines dt 2 title "ideal"
EOF
    say "chart:    $out/$name-scaling.png"
  fi
}

# --plot-only: draw the charts of an earlier run (made where gnuplot was missing).
if [ $plot_only = 1 ]; then
  out=$(cd "$out" && pwd)
  medians=$out/$name-medians.csv scaling=$out/$name-scaling.csv
  for f in "$medians" "$out/$name.txt"; do
    [ -f "$f" ] || die "$f is missing: run the benchmark with the same --size and --np first"
  done
  cores=$(sed -n 's/^machine: *\([0-9]*\) cores.*/\1/p' "$out/$name.txt")
  repeat=$(sed -n 's/.*; rounds: \([0-9]*\);.*/\1/p' "$out/$name.txt")
  vocab=$(sed -n 's/^corpus:.*(.*vocab \([0-9]*\),.*/\1/p' "$out/$name.txt")
  zipf=$(sed -n 's/^corpus:.*, zipf \([0-9.]*\),.*/\1/p' "$out/$name.txt")
  table=/dev/null
  draw_charts
  exit 0
fi
mkdir -p "$out" "$data"
out=$(cd "$out" && pwd) build=$(cd "$build" && pwd) data=$(cd "$data" && pwd)
bin=$build/bin
for p in mpimr-wordcount mpimr-gentext mpimr-wc-serial; do
  [ -x "$bin/$p" ] || die "$bin/$p is missing: build first (cmake --build build)"
done
have_mrmpi=0
if [ $use_mrmpi = 1 ] && [ -x "$bin/mpimr-wc-mrmpi" ]; then have_mrmpi=1; fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cores=$(nproc)
# mpirun_for N: the mpirun options for N ranks, into mpirun_args.
mpirun_for() {
  mpirun_args=(-np "$1")
  if [ "$1" -gt "$cores" ]; then mpirun_args+=(--oversubscribe); fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/wordcount_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
table=$out/$name.txt
: >"$table"

# The corpus, generated once and reused (data/ is ignored by git).
corpus=$data/corpus-$size-v$vocab-z$zipf-s$seed.txt
if [ ! -f "$corpus" ]; then
  gen_np=$(( np_max < cores ? np_max : cores ))
  echo "generating $corpus ..."
  mpirun -np "$gen_np" "$bin/mpimr-gentext" -o "$corpus" --size "$size" --vocab "$vocab" \
    --zipf "$zipf" --seed "$seed" >/dev/null
fi
bytes=$(stat -c %s "$corpus")

# MR-MPI's page must hold a rank's whole map output, or it writes pages to
# disk. That output is about 2.3 bytes per input byte (8 bytes of lengths per
# word plus the word, 4-byte aligned), and the page needs room beyond it:
# with 128 MiB of input a rank, 320 MiB pages spilled and 384 MiB did not.
# Use 3.5 bytes of page per input byte a rank, rounded up to 256 MiB.
if [ -z "$memsize" ]; then
  memsize=$(( (bytes * 7 / 2 / np_max / 1048576 + 255) / 256 * 256 ))
  [ "$memsize" -lt 512 ] && memsize=512
fi

say "# Word count against its peers: $name"
say "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine:  $cores cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB memory"
say "corpus:   $corpus ($bytes bytes; vocab $vocab, zipf $zipf, seed $seed)"
say "ranks:    ${np_list[*]}$([ "$np_max" -gt "$cores" ] && echo " (--oversubscribe above $cores)"); rounds: $repeat; MR-MPI memsize ${memsize} MB at $np_max ranks"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  say "source:   git $(git -C "$root" rev-parse --short HEAD), $(git -C "$root" status --porcelain | wc -l) paths modified or untracked; binaries from $bin"
fi
say "load:     $(loadavg) at start (1, 5, 15 min)"
[ $have_mrmpi = 1 ] || say "note:     MR-MPI skipped: $bin/mpimr-wc-mrmpi is not built (install libmrmpi-dev and reconfigure) or --no-mrmpi"

# One mpimr row per rank count: "mpimr" alone, or mpimr@N for a list.
# The ratio columns compare the peers with mpimr at the largest count.
programs=()
if [ ${#np_list[@]} = 1 ]; then
  programs+=(mpimr) reference=mpimr
else
  for n in "${np_list[@]}"; do programs+=("mpimr@$n"); done
  reference=mpimr@$np_max
fi
[ $have_mrmpi = 1 ] && programs+=(mrmpi mrmpi+compress)
programs+=(serial)

# ranks_of PROGRAM: its rank count.
ranks_of() {
  case $1 in
    serial) echo 1 ;;
    mpimr@*) echo "${1#mpimr@}" ;;
    *) echo "$np_max" ;;
  esac
}

# run PROGRAM [EXTRA...]: runs one program; sets wall, job, words, distinct, spilled.
run() {
  local program=$1; shift
  local t0 t1 line
  spilled=0 rss="" final_table="" map_table="" buffers=""
  mpirun_for "$(ranks_of "$program")"
  case $program in
    mpimr|mpimr@*)
      rm -f "$work/stats.json"
      t0=$EPOCHREALTIME
      # shellcheck disable=SC2086  # mpimr_args is a list of options
      mpirun "${mpirun_args[@]}" "$bin/mpimr-wordcount" -q $mpimr_args --stats "$work/stats.json" "$@" "$corpus" \
        >"$work/out.txt" 2>&1 || { cat "$work/out.txt" >&2; die "mpimr-wordcount failed"; }
      t1=$EPOCHREALTIME
      # One rank per line: sum the pairs and keys, take the slowest rank's time.
      # Memory: the largest rank's peak RSS, reduce-side (final) table, map-side table and buffers.
      read -r words distinct job rss final_table map_table buffers < <(awk '
        function num(name,   s) {
          if (!match($0, "\"" name "\": *[0-9.eE+-]+")) return -1
          s = substr($0, RSTART, RLENGTH); sub(/.*: */, "", s); return s + 0
        }
        function most(name, old,   v) { v = num(name); return v > old ? v : old }
        /"rank"/ { w += num("pairs_emitted"); d += num("keys_reduced"); t = most("time_total", t)
                   r = most("peak_rss_bytes", r); f = most("reduce_table_bytes", f)
                   m = most("map_table_bytes", m); b = most("buffer_bytes", b) }
        END { printf "%.0f %.0f %.6f %.1f %.1f %.1f %.1f\n", w, d, t, r / 1e6, f / 1e6, m / 1e6, b / 1e6 }' "$work/stats.json")
      ;;
    mrmpi|mrmpi+compress)
      local flags=(--memsize "$memsize")
      [ "$program" = mrmpi+compress ] && flags+=(--compress)
      t0=$EPOCHREALTIME
      # From the scratch directory: pages that MR-MPI writes out land there.
      (cd "$work" && mpirun "${mpirun_args[@]}" "$bin/mpimr-wc-mrmpi" "${flags[@]}" "$corpus") \
        >"$work/out.txt" 2>&1 || { cat "$work/out.txt" >&2; die "mpimr-wc-mrmpi failed"; }
      t1=$EPOCHREALTIME
      line=$(grep '^mrmpi:' "$work/out.txt") || die "no result line from mpimr-wc-mrmpi"
      words=$(field words "$line") distinct=$(field distinct "$line") job=$(field seconds "$line")
      spilled=$(field spilled_bytes "$line")
      ;;
    serial)
      t0=$EPOCHREALTIME
      "$bin/mpimr-wc-serial" "$@" "$corpus" >"$work/out.txt" 2>&1 ||
        { cat "$work/out.txt" >&2; die "mpimr-wc-serial failed"; }
      t1=$EPOCHREALTIME
      line=$(grep '^wc_serial:' "$work/out.txt") || die "no result line from mpimr-wc-serial"
      words=$(field words "$line") distinct=$(field distinct "$line") job=$(field seconds "$line")
      ;;
  esac
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# Warm-up: every program once, not counted, with the agreement checks.
say ""
say "warm-up and agreement check:"
ref_words="" ref_distinct=""
check() {
  if [ -z "$ref_words" ]; then ref_words=$words ref_distinct=$distinct; return; fi
  if [ "$words" != "$ref_words" ] || [ "$distinct" != "$ref_distinct" ]; then
    die "$1 counted $words words, $distinct distinct; mpimr counted $ref_words, $ref_distinct"
  fi
}
# Every mpimr run's text output is compared with the serial program's lines.
mpimr_runs=()
for p in "${programs[@]}"; do
  case $p in
    mpimr|mpimr@*) run "$p" --format text -o "$work/out-$p" --overwrite; mpimr_runs+=("$p") ;;
    serial) run serial -o "$work/serial.tsv" ;;
    *) run "$p" ;;
  esac
  check "$p"
  say "  $(printf '%-15s' "$p") words $words, distinct $distinct, wall $wall s$([ "$spilled" != 0 ] && echo ", WARNING: MR-MPI wrote $spilled bytes of pages to disk")"
done
LC_ALL=C sort "$work/serial.tsv" >"$work/serial.sorted"
for p in "${mpimr_runs[@]}"; do
  cat "$work/out-$p"/part-* | LC_ALL=C sort >"$work/mpimr.sorted"
  cmp -s "$work/serial.sorted" "$work/mpimr.sorted" || die "$p's word<TAB>count lines differ from the serial program's"
  rm -rf "$work/out-$p" "$work/mpimr.sorted"
done
say "  all agree: $ref_words words, $ref_distinct distinct; the word<TAB>count lines of ${mpimr_runs[*]} and serial are identical"
rm -f "$work"/serial.*

# The counted rounds, in alternation.
csv=$out/$name.csv
echo "round,program,np,bytes,wall_s,job_s,words,distinct,load1,spilled_bytes,peak_rss_mb,final_table_mb,map_table_mb,round_buffers_mb" >"$csv"
say ""
say "runs (wall s / job s):"
for ((r = 1; r <= repeat; r++)); do
  row="  round $r:"
  for p in "${programs[@]}"; do
    load1=$(cut -d' ' -f1 /proc/loadavg)
    case $p in
      mpimr|mpimr@*) run "$p" --format none ;;
      *) run "$p" ;;
    esac
    check "$p"
    ranks=$(ranks_of "$p")
    echo "$r,$p,$ranks,$bytes,$wall,$job,$words,$distinct,$load1,$spilled,$rss,$final_table,$map_table,$buffers" >>"$csv"
    [ "$p" = "$reference" ] && mpimr_memory=("$rss" "$final_table" "$map_table" "$buffers")
    row+=" $p $(printf '%.2f/%.2f' "$wall" "$job")"
  done
  say "$row (load $(loadavg))"
done

# Medians, throughput and mpimr/peer ratios.
medians=$out/$name-medians.csv
awk -F, -v order="${programs[*]}" -v reference="$reference" "$AWK_MEDIAN"'
  NR > 1 { wall[$2] = wall[$2] " " $5; job[$2] = job[$2] " " $6; runs[$2]++; ranks[$2] = $3; bytes = $4 }
  END {
    print "program,np,runs,median_wall_s,median_job_s,wall_mb_per_s,job_mb_per_s,mpimr_over_peer_wall,mpimr_over_peer_job"
    n = split(order, p, " ")
    for (i = 1; i <= n; i++) { mw[p[i]] = median(wall[p[i]]); mj[p[i]] = median(job[p[i]]) }
    for (i = 1; i <= n; i++) {
      q = p[i]
      printf "%s,%d,%d,%.3f,%.3f,%.1f,%.1f,%.3f,%.3f\n", q, ranks[q], runs[q], mw[q], mj[q],
        bytes / mw[q] / 1e6, bytes / mj[q] / 1e6, mw[reference] / mw[q], mj[reference] / mj[q]
    }
  }' "$csv" >"$medians"

say ""
say "medians over $repeat rounds (MB = 10^6 bytes; ratio = $reference time / peer time, below 1: $reference is faster):"
say "$(printf '  %-15s %5s %10s %9s %10s %9s %13s %13s' program ranks 'wall s' 'MB/s' 'job s' 'MB/s' 'ratio (wall)' 'ratio (job)')"
while IFS=, read -r p ranks _ mw mj wmb jmb rw rj; do
  say "$(printf '  %-15s %5s %10s %9s %10s %9s %13s %13s' "$p" "$ranks" "$mw" "$wmb" "$mj" "$jmb" "$rw" "$rj")"
done < <(tail -n +2 "$medians")
# Strong scaling, with a list of counts: speedup and efficiency from the job times.
if [ ${#np_list[@]} -gt 1 ]; then
  scaling=$out/$name-scaling.csv
  awk -F, 'NR == 1 { next }
    { job[$1] = $5; wall[$1] = $4; ranks[$1] = $2; if ($1 ~ /^mpimr@/) order[++n] = $1 }
    END {
      base = order[1]
      for (i = 2; i <= n; i++) if (ranks[order[i]] < ranks[base]) base = order[i]
      print "program,np,median_job_s,median_wall_s,speedup_over_np" ranks[base] ",speedup_over_serial,efficiency_over_np" ranks[base] ",wall_speedup_over_serial"
      for (i = 1; i <= n; i++) {
        q = order[i]; s = job[base] / job[q]
        printf "%s,%d,%.3f,%.3f,%.2f,%.2f,%.2f,%.2f\n", q, ranks[q], job[q], wall[q], s,
          job["serial"] / job[q], s * ranks[base] / ranks[q], wall["serial"] / wall[q]
      }
    }' "$medians" >"$scaling"
  say ""
  say "strong scaling (job times; efficiency = speedup over the smallest count x smallest / count; $cores cores):"
  say "$(printf '  %-12s %5s %9s %9s %16s %16s %11s %15s' program ranks 'job s' 'wall s' 'speedup (base)' 'speedup (serial)' efficiency 'wall vs serial')"
  while IFS=, read -r p ranks mj mw sb ss eff ws; do
    say "$(printf '  %-12s %5s %9s %9s %16s %16s %11s %15s' "$p" "$ranks" "$mj" "$mw" "$sb" "$ss" "$eff" "$ws")"
  done < <(tail -n +2 "$scaling")
fi

say ""
say "$reference memory (largest rank, last round; MB = 10^6 bytes): peak RSS ${mpimr_memory[0]} MB;"
say "  reduce-side (final) table ${mpimr_memory[1]} MB, map-side table ${mpimr_memory[2]} MB, round buffers ${mpimr_memory[3]} MB;"
say "  bound 2 x (final table + round buffers) = $(awk -v f="${mpimr_memory[1]}" -v b="${mpimr_memory[3]}" 'BEGIN { printf "%.1f", 2 * (f + b) }') MB"
say "load:     $(loadavg) at end"
say "files:    $csv, $medians, $table$([ ${#np_list[@]} -gt 1 ] && echo ", $scaling")"

draw_charts
