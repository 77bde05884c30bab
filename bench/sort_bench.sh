#!/usr/bin/env bash
# Sort Benchmark style comparison: mpimr-sort against MR-MPI and GNU sort on
# one file of gensort -a records, at one rank count, run in alternation.
# See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/sort_bench.sh [OPTIONS]

Sorts the same file of Sort Benchmark records (100 bytes each, gensort -a
layout, made by mpimr-gensort) with, at the same number of ranks P:
  mpimr     mpirun -np P mpimr-sort --stats FILE -o OUT INPUT
  mrmpi     mpirun -np P mpimr-sort-mrmpi --fpath SCRATCH -o OUT INPUT
            (MR-MPI: sample, map, aggregate() by range, sort_keys(), write;
            bench/mrmpi_sort.cpp; pages sized to stay in memory)
  gnusort   LC_ALL=C sort -S BUF --parallel=P -T SCRATCH -o OUT/sorted INPUT
            (optionally under taskset -c CPUS, see --pin)
A row is skipped, with a note, when its program is not built (mpimr-sort-mrmpi
needs Debian's libmrmpi-dev at configure time).

Steps: build nothing; generate the input once with
  mpirun -np P mpimr-gensort --size SIZE --seed N --keys MODE FILE
into the data directory unless it is there already (or take --input FILE);
take its record count and checksum with mpimr-valsort; run every program once
as a warm-up (not counted; it also puts the input in the page cache); then run
A B C, A B C, ... --rounds times. Every run's output is checked, outside the
timed part: mpimr-valsort must report the input's record count and checksum
and "order: sorted" (without mpimr-valsort: the byte count, LC_ALL=C sort -c
on the concatenated parts, and the MD5 of the parts against that of
LC_ALL=C sort of the input, which needs distinct keys). Outputs are deleted
after each run.

Durability: mpimr-sort and mpimr-sort-mrmpi fsync their parts; GNU sort does
not. So after each program the script runs `sync OUTPUT-FILES` (coreutils
sync with file operands: an fsync of each output file, nothing else) and
records both times:
  wall        the command alone, mpirun included, by this script's clock;
  wall+sync   the command and the sync of its output: the headline figure,
              every program's output is on disk at the end of it;
  job         the program's own time: mpimr, the largest time_total over
              ranks (--stats); MR-MPI, sample to the end of writing, between
              barriers; GNU sort, its wall time (it has no inner timer).
Medians are reported; MB/s is 10^6 bytes of input a second; the ratio is
mpimr's median time over the peer's (below 1: mpimr is faster).

Options:
  --size SIZE       input size, K/M/G suffixes, powers of 1024 (default 1G:
                    floor(2^30 / 100) records)
  --keys MODE       mpimr-gensort --keys: uniform, skewed or equal (default uniform)
  --seed N          mpimr-gensort --seed (default 1)
  --input FILE      sort FILE instead of generating one (also: SORT_BENCH_INPUT=FILE);
                    --size, --keys and --seed are then ignored
  --np P            MPI ranks, and GNU sort's --parallel (default 2);
                    --oversubscribe is added when P > cores
  --rounds N        counted rounds, at least 1 (default 3; --repeat is the same)
  --bin DIR         directory of the programs (default build-bench/bin)
  --build DIR       the same as --bin DIR/bin
  --data DIR        where the input is generated, outside git (default data/bench)
  --scratch DIR     where outputs, MR-MPI page files and GNU sort temporaries go
                    (default: a fresh directory under the data directory, removed
                    at the end; it needs room for one sorted copy of the input)
  --out DIR         results directory (default bench/results)
  --prefix NAME     results name (default sort-SIZE-npP, SIZE from the input's size)
  --sort-buffer SIZE  GNU sort -S (default: 4G or 3 x the input, whichever is
                    larger, so that it sorts in memory)
  --pin CPUS        run GNU sort under taskset -c CPUS (e.g. 0,1; default: not pinned)
  --programs LIST   which rows to run, in this order (default "mpimr mrmpi gnusort")
  --mpimr-args STR  extra options for mpimr-sort (e.g. "--memory 2G")
  --mrmpi-args STR  extra options for mpimr-sort-mrmpi (e.g. "--memsize 1024")
  -h, --help        this text

Writes into --out:
  NAME.csv          one row per counted run
  NAME-medians.csv  one row per program: medians, MB/s, mpimr/peer ratios
  NAME.txt          the printed table, checks, machine and load
  NAME.png          bar chart of the medians (needs gnuplot; skipped with a note)
EOF
}

die() { echo "sort_bench: $*" >&2; exit 1; }
# shellcheck source=bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

# size_bytes TEXT: bytes of a size with an optional K/M/G/T suffix (powers of 1024).
size_bytes() {
  local t=${1^^} m=1
  t=${t%B}; t=${t%I}
  case $t in
    *K) m=1024; t=${t%K} ;;
    *M) m=1048576; t=${t%M} ;;
    *G) m=1073741824; t=${t%G} ;;
    *T) m=1099511627776; t=${t%T} ;;
  esac
  [[ $t =~ ^[0-9]+$ ]] || return 1
  echo $(( t * m ))
}
# size_label BYTES: a short name, to 2 significant digits (1073741800 -> 1G, 67108800 -> 64M).
size_label() {
  awk -v b="$1" 'BEGIN {
    split("G M K", unit, " "); split("1073741824 1048576 1024", scale, " ")
    for (i = 1; i <= 3; i++) if (b >= scale[i] * 0.995) { v = b / scale[i]; break }
    if (i > 3) { printf "%d\n", b; exit }
    s = v >= 10 ? sprintf("%.0f", v) : sprintf("%.1f", v); sub(/\.0$/, "", s)
    printf "%s%s\n", s, unit[i]
  }'
}

size=1G keys=uniform seed=1 input=${SORT_BENCH_INPUT:-} np=2 rounds=3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$root/build-bench/bin data=$root/data/bench out=$root/bench/results scratch_root="" prefix=""
sort_buffer="" pin="" programs_wanted="mpimr mrmpi gnusort" mpimr_args="" mrmpi_args=""
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --input) input=$2; shift 2 ;;
    --np) np=$2; shift 2 ;;
    --rounds|--repeat) rounds=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --build) bin=$2/bin; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --scratch) scratch_root=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --sort-buffer) sort_buffer=$2; shift 2 ;;
    --pin) pin=$2; shift 2 ;;
    --programs) programs_wanted=$2; shift 2 ;;
    --mpimr-args) mpimr_args=$2; shift 2 ;;
    --mrmpi-args) mrmpi_args=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 64 ;;
  esac
done
[[ $np =~ ^[1-9][0-9]*$ ]] || die "--np must be a positive integer"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ $seed =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer"
[[ $keys == uniform || $keys == skewed || $keys == equal ]] || die "--keys takes uniform, skewed or equal, not '$keys'"
size_wanted=$(size_bytes "$size") || die "--size must be a size such as 1G or 64M, not '$size'"
(( size_wanted >= 100 )) || die "--size must hold at least one 100-byte record"
[[ -z $pin || $pin =~ ^[0-9,-]+$ ]] || die "--pin takes a CPU list such as 0,1, not '$pin'"
for p in $programs_wanted; do
  [[ $p == mpimr || $p == mrmpi || $p == gnusort ]] || die "--programs takes mpimr, mrmpi and gnusort, not '$p'"
done
[ -n "$programs_wanted" ] || die "--programs is empty"
if [ -n "$pin" ]; then command -v taskset >/dev/null || die "--pin needs taskset (util-linux)"; fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -d "$bin" ] || die "$bin does not exist: build first (cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench)"
bin=$(cd "$bin" && pwd)
have() { [ -x "$bin/$1" ]; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cores=$(nproc)
mpirun_args=(-np "$np")
[ "$np" -gt "$cores" ] && mpirun_args+=(--oversubscribe)

# The input: given, or generated once into the data directory (ignored by git).
if [ -n "$input" ]; then
  [ -f "$input" ] || die "--input $input is not a file"
  input=$(cd "$(dirname "$input")" && pwd)/$(basename "$input")
  input_note="given (--input)"
else
  mkdir -p "$data"
  data=$(cd "$data" && pwd)
  input=$data/gensort-$(size_label "$size_wanted")-$keys-s$seed.dat
  if [ ! -f "$input" ]; then
    have mpimr-gensort || die "$bin/mpimr-gensort is missing: build it, or give an input with --input FILE"
    gen_np=$(( np < cores ? np : cores ))
    echo "generating $input ..."
    mpirun -np "$gen_np" "$bin/mpimr-gensort" --size "$size_wanted" --seed "$seed" --keys "$keys" "$input" >/dev/null
  fi
  input_note="mpimr-gensort --size $size_wanted --seed $seed --keys $keys"
fi
bytes=$(stat -c %s "$input")
(( bytes % 100 == 0 )) || die "$input is $bytes bytes, not a whole number of 100-byte records"
label=$(size_label "$bytes")
name=${prefix:-sort-$label-np$np}

# Scratch space: on the input's file system unless told otherwise, never in git.
if [ -z "$scratch_root" ]; then scratch_root=$(dirname "$input"); fi
mkdir -p "$scratch_root"
work=$(mktemp -d "$(cd "$scratch_root" && pwd)/sort_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/spill"
if [[ $work == "$root"/* ]] && git -C "$root" rev-parse --git-dir >/dev/null 2>&1 &&
   ! git -C "$root" check-ignore -q "$work"; then
  die "scratch directory $work is inside the repository and not ignored by git: use --scratch DIR"
fi

if [ -z "$sort_buffer" ]; then
  buf_mib=$(( bytes * 3 / 1048576 + 1 ))
  (( buf_mib < 4096 )) && buf_mib=4096
  sort_buffer=${buf_mib}M
fi

# Which rows run, in --programs order.
programs=() skipped=()
for p in $programs_wanted; do
  case $p in
    mpimr) if have mpimr-sort; then programs+=(mpimr); else skipped+=("mpimr: $bin/mpimr-sort is not built"); fi ;;
    mrmpi) if have mpimr-sort-mrmpi; then programs+=(mrmpi); else
             skipped+=("mrmpi: $bin/mpimr-sort-mrmpi is not built (install libmrmpi-dev and reconfigure)"); fi ;;
    gnusort) programs+=(gnusort) ;;
  esac
done
[ ${#programs[@]} -gt 0 ] || die "nothing to run: ${skipped[*]}"

table=$out/$name.txt
csv=$out/$name.csv
: >"$table"
field() { sed -n "s/^$1: *//p" <<<"$2" | head -1; }

say "# Sort: mpimr-sort against MR-MPI and GNU sort ($name)"
say "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine:  $cores cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB memory; scratch on $(df -h "$work" | awk 'NR == 2 { print $1 " (" $4 " free)" }')"
say "input:    $input ($bytes bytes, $(( bytes / 100 )) records; $input_note)"
say "ranks:    $np (mpirun ${mpirun_args[*]}); rounds: $rounds; GNU sort -S $sort_buffer --parallel=$np${pin:+ under taskset -c $pin}"
[ -n "$mpimr_args" ] && say "mpimr:    extra options '$mpimr_args'"
[ -n "$mrmpi_args" ] && say "MR-MPI:   extra options '$mrmpi_args'"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  say "source:   git $(git -C "$root" rev-parse --short HEAD), $(git -C "$root" status --porcelain | wc -l) paths modified or untracked; binaries from $bin"
fi
say "versions: $(sort --version | head -1); $(mpirun --version 2>/dev/null | head -1)"
say "load:     $(loadavg) at start (1, 5, 15 min)"
for s in "${skipped[@]}"; do say "note:     skipped $s"; done

# The reference: the input's record count and checksum.
have_valsort=0
if have mpimr-valsort; then
  have_valsort=1
  # The input is not sorted, so valsort exits 1; it still prints the counts.
  ref_out=$(mpirun "${mpirun_args[@]}" "$bin/mpimr-valsort" "$input" 2>/dev/null || true)
  ref_records=$(field records "$ref_out") ref_checksum=$(field checksum "$ref_out")
  if [ -z "$ref_records" ] || [ -z "$ref_checksum" ]; then die "mpimr-valsort could not read $input"; fi
  [ "$ref_records" = $(( bytes / 100 )) ] || die "mpimr-valsort counts $ref_records records in $input, not $(( bytes / 100 ))"
  say "check:    mpimr-valsort: input $ref_records records, checksum $ref_checksum"
else
  ref_records=$(( bytes / 100 ))
  echo "computing the MD5 of LC_ALL=C sort of the input (no mpimr-valsort) ..."
  ref_checksum=$(LC_ALL=C sort -S "$sort_buffer" --parallel="$np" -T "$work/spill" "$input" | md5sum | cut -d' ' -f1)
  say "check:    no mpimr-valsort: byte count, LC_ALL=C sort -c, and MD5 of the parts against LC_ALL=C sort's ($ref_checksum; needs distinct keys)"
fi

# verify PROGRAM PATH...: the output (a directory of parts or a file) holds the input's records, sorted.
verify() {
  local program=$1; shift
  if [ $have_valsort = 1 ]; then
    local result rc=0
    result=$(mpirun "${mpirun_args[@]}" "$bin/mpimr-valsort" "$@" 2>&1) || rc=$?
    local records checksum order
    records=$(field records "$result") checksum=$(field checksum "$result") order=$(field order "$result")
    if [ $rc != 0 ] || [ "$records" != "$ref_records" ] || [ "$checksum" != "$ref_checksum" ] || [ "$order" != sorted ]; then
      echo "$result" >&2
      die "$program: wrong output: $records records, checksum $checksum, order '$order' (input: $ref_records, $ref_checksum)"
    fi
  else
    local files=() f n=0
    for f in "$@"; do
      if [ -d "$f" ]; then files+=("$f"/part-*); else files+=("$f"); fi
    done
    for f in "${files[@]}"; do n=$(( n + $(stat -c %s "$f") )); done
    [ "$n" = "$bytes" ] || die "$program: the output has $n bytes, the input $bytes"
    cat "${files[@]}" | LC_ALL=C sort -c || die "$program: the output is not in LC_ALL=C sort order"
    [ "$(cat "${files[@]}" | md5sum | cut -d' ' -f1)" = "$ref_checksum" ] ||
      die "$program: the output differs from LC_ALL=C sort of the input"
  fi
}

# run PROGRAM: runs one program on the input into $work/out. Sets wall, sync_s, wall_sync,
# job, outputs (the paths to check) and, for MR-MPI, spilled and memsize.
run() {
  local program=$1 t0 t1 t2 line
  local o=$work/out
  rm -rf "$o" "$work/stats.json"
  find "$work/spill" -mindepth 1 -delete
  spilled="" memsize="" detail=""
  # shellcheck disable=SC2206  # option lists
  local margs=($mpimr_args) rargs=($mrmpi_args) taskset_cmd=()
  [ -n "$pin" ] && taskset_cmd=(taskset -c "$pin")
  case $program in
    mpimr)
      t0=$EPOCHREALTIME
      mpirun "${mpirun_args[@]}" "$bin/mpimr-sort" "${margs[@]}" --stats "$work/stats.json" -o "$o" "$input" \
        >"$work/log.txt" 2>&1 || { cat "$work/log.txt" >&2; die "mpimr-sort failed"; }
      t1=$EPOCHREALTIME
      outputs=("$o")
      ;;
    mrmpi)
      t0=$EPOCHREALTIME
      mpirun "${mpirun_args[@]}" "$bin/mpimr-sort-mrmpi" "${rargs[@]}" --fpath "$work/spill" -o "$o" "$input" \
        >"$work/log.txt" 2>&1 || { cat "$work/log.txt" >&2; die "mpimr-sort-mrmpi failed"; }
      t1=$EPOCHREALTIME
      outputs=("$o")
      ;;
    gnusort)
      mkdir -p "$o"
      t0=$EPOCHREALTIME
      LC_ALL=C "${taskset_cmd[@]}" sort -S "$sort_buffer" --parallel="$np" -T "$work/spill" -o "$o/sorted" "$input" \
        >"$work/log.txt" 2>&1 || { cat "$work/log.txt" >&2; die "GNU sort failed"; }
      t1=$EPOCHREALTIME
      outputs=("$o/sorted")
      ;;
  esac
  # Flush the output files to disk: a no-op for fsynced parts, the real cost for GNU sort.
  local flush=()
  for f in "${outputs[@]}"; do
    if [ -d "$f" ]; then flush+=("$f"/part-*); else flush+=("$f"); fi
  done
  sync -- "${flush[@]}"
  t2=$EPOCHREALTIME
  read -r wall sync_s wall_sync < <(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.6f %.6f %.6f\n", b - a, c - b, c - a }')
  case $program in
    mpimr)
      # The slowest rank's time_total from --stats, else the summary line's total.
      job=$(awk '/"rank"/ && match($0, /"time_total": *[0-9.eE+-]+/) {
                   s = substr($0, RSTART, RLENGTH); sub(/.*: */, "", s); if (s + 0 > t) t = s + 0; found = 1 }
                 END { if (found) printf "%.6f", t }' "$work/stats.json" 2>/dev/null || true)
      [ -n "$job" ] || job=$(sed -n 's/^mpimr: [0-9]* ranks, \([0-9.]*\) s.*/\1/p' "$work/log.txt" | head -1)
      [ -n "$job" ] || job=$wall
      ;;
    mrmpi)
      line=$(grep '^mrmpi-sort: records' "$work/log.txt") || die "no result line from mpimr-sort-mrmpi"
      job=$(sed -n 's/.*, seconds \([0-9.]*\) .*/\1/p' <<<"$line")
      detail=$(sed -n 's/.*(\(.*\))$/\1/p' <<<"$line")
      line=$(grep '^mrmpi-sort: memory:' "$work/log.txt") || die "no memory line from mpimr-sort-mrmpi"
      spilled=$(sed -n 's/.*spilled_bytes \([0-9]*\).*/\1/p' <<<"$line")
      memsize=$(sed -n 's/.*memsize \([0-9]*\).*/\1/p' <<<"$line")
      ;;
    gnusort) job=$wall ;;
  esac
}

# Warm-up: every program once, not counted, with the output checks.
say ""
say "warm-up and output check:"
mrmpi_memsize=""
for p in "${programs[@]}"; do
  run "$p"
  verify "$p" "${outputs[@]}"
  msg="  $(printf '%-8s' "$p") wall $wall s, sync $sync_s s, job $job s: output checked"
  [ -n "$detail" ] && msg+=" (MR-MPI: $detail)"
  [ -n "$memsize" ] && mrmpi_memsize=$memsize && msg+=", memsize $memsize MiB"
  [ -n "$spilled" ] && [ "$spilled" != 0 ] && msg+=", WARNING: MR-MPI wrote $spilled bytes of pages to disk"
  say "$msg"
  rm -rf "$work/out"
done

# The counted rounds, in alternation.
echo "round,program,np,bytes,records,wall_s,sync_s,wall_sync_s,job_s,load1,mrmpi_spilled_bytes" >"$csv"
say ""
say "runs (wall+sync s / wall s / job s):"
for ((r = 1; r <= rounds; r++)); do
  row="  round $r:"
  for p in "${programs[@]}"; do
    load1=$(cut -d' ' -f1 /proc/loadavg)
    run "$p"
    verify "$p" "${outputs[@]}"
    rm -rf "$work/out"
    [ -n "$spilled" ] && [ "$spilled" != 0 ] && say "  note: round $r: MR-MPI wrote $spilled bytes of pages to disk"
    echo "$r,$p,$np,$bytes,$ref_records,$wall,$sync_s,$wall_sync,$job,$load1,$spilled" >>"$csv"
    row+=" $p $(printf '%.2f/%.2f/%.2f' "$wall_sync" "$wall" "$job")"
  done
  say "$row (load $(loadavg))"
done

# Medians, throughput and mpimr/peer ratios ("" where there is no mpimr row).
medians=$out/$name-medians.csv
awk -F, -v order="${programs[*]}" "$AWK_MEDIAN"'
  function ratio(m, q) { return ("mpimr" in m) ? sprintf("%.3f", m["mpimr"] / m[q]) : "" }
  NR > 1 { ws[$2] = ws[$2] " " $8; w[$2] = w[$2] " " $6; s[$2] = s[$2] " " $7; j[$2] = j[$2] " " $9
           runs[$2]++; ranks[$2] = $3; bytes = $4 }
  END {
    print "program,np,runs,median_wall_sync_s,median_wall_s,median_sync_s,median_job_s,wall_sync_mb_per_s,wall_mb_per_s,job_mb_per_s,mpimr_over_peer_wall_sync,mpimr_over_peer_wall,mpimr_over_peer_job"
    n = split(order, p, " ")
    for (i = 1; i <= n; i++) { q = p[i]; mws[q] = median(ws[q]); mw[q] = median(w[q]); ms[q] = median(s[q]); mj[q] = median(j[q]) }
    for (i = 1; i <= n; i++) {
      q = p[i]
      printf "%s,%d,%d,%.3f,%.3f,%.3f,%.3f,%.1f,%.1f,%.1f,%s,%s,%s\n", q, ranks[q], runs[q], mws[q], mw[q], ms[q], mj[q],
        bytes / mws[q] / 1e6, bytes / mw[q] / 1e6, bytes / mj[q] / 1e6, ratio(mws, q), ratio(mw, q), ratio(mj, q)
    }
  }' "$csv" >"$medians"

say ""
say "medians over $rounds rounds (MB/s = 10^6 bytes of input a second; ratio = mpimr time / peer time,"
say "below 1: mpimr is faster; wall+sync is the headline: the command and the fsync of its output):"
row() { printf '  %-8s %5s %11s %9s %9s %9s %9s %9s %13s %13s %13s' "$@"; }
say "$(row program ranks 'wall+sync s' 'MB/s' 'wall s' 'MB/s' 'job s' 'MB/s' 'ratio (w+s)' 'ratio (wall)' 'ratio (job)')"
while IFS=, read -r p ranks _ mws mw _ mj wsmb wmb jmb rws rw rj; do
  say "$(row "$p" "$ranks" "$mws" "$wsmb" "$mw" "$wmb" "$mj" "$jmb" "${rws:--}" "${rw:--}" "${rj:--}")"
done < <(tail -n +2 "$medians")
[ -n "$mrmpi_memsize" ] && say "MR-MPI:   page size (memsize) $mrmpi_memsize MiB, chosen by mpimr-sort-mrmpi from the input size"
say "load:     $(loadavg) at end"
say "files:    $csv, $medians, $table"

# The chart.
bar_chart "$out/$name.png" "Sort, $label of gensort -a records ($(( bytes / 100 )) records), $np ranks: median of $rounds runs" \
  "plot \"$medians\" every ::1 using 4:xtic(1) title \"command + sync of its output\", \"\" every ::1 using 5 title \"command (wall)\", \"\" every ::1 using 7 title \"job's own time\""
