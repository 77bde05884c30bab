#!/usr/bin/env bash
# Out-of-core benchmark: mpimr under a per-rank memory budget (spilling to
# disk), mpimr in memory, and MR-MPI with pages sized to the same budget, on
# inputs many times the budget, for word count and the inverted index, run in
# alternation. See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/outofcore_bench.sh [OPTIONS]

For a memory budget M per rank and corpora of FACTOR x M bytes, compares at
P ranks, for each job (wordcount, invindex):
  mpimr-spill  mpimr with --memory M --spill-dir DIR   (the budget; spills to disk)
  mpimr-mem    mpimr without --memory                  (the default budget: half the
                                                        node's memory shared by its ranks)
  mrmpi        MR-MPI with pages sized to M:
               wordcount: mpimr-wc-mrmpi --compress --memsize MS --maxpage 7 --chunk MSM --fpath DIR
               invindex:  mpimr-invindex-mrmpi -o OUT --memsize MS --maxpage 7 --fpath DIR
The mpimr programs run as
  wordcount: mpirun -np P mpimr-wordcount -q --format none --stats FILE [--memory M --spill-dir DIR] CORPUS
  invindex:  mpirun -np P mpimr-invindex -q -o OUT --stats FILE [--memory M --spill-dir DIR] CORPUS
(the index has no "no output" format, so all three invindex rows write their
text output; it goes to the scratch directory and is removed after each run).

MR-MPI page size (MS MiB, --memsize to override): M / 8, rounded down. An
MR-MPI operation holds at most 7 pages at once (aggregate(): its key-value
page, the new one's page and 5 pages of workspace; measured: the page
high-water mark is 7 pages, and --maxpage 6 aborts where 7 runs), so its
pages stay within 7/8 of M; the last eighth is for what it keeps outside
its pages (word count: the map task's file chunk, --chunk = MS MiB;
invindex: a 1 MiB read buffer and merge buffers of at most MS MiB).
--maxpage 7 makes MR-MPI stop with an error rather than exceed that.

Steps, for each corpus size and each job: generate the corpus with
mpimr-gentext into the data directory unless it is there already; run the
three programs once as a warm-up (not counted; it also puts the corpus in the
page cache) and check their outputs agree (below); then run A B C, A B C, ...
--repeat times, checking every run's counts against the warm-up's.

Agreement checks (warm-up):
  wordcount  mpimr-spill and mpimr-mem write text output: their parts must be
             identical (part by part, else as sorted concatenations, compared
             by MD5); MR-MPI's total and distinct word counts must equal mpimr's.
  invindex   mpimr-spill's and mpimr-mem's parts must be identical (as above);
             MR-MPI's sorted concatenated parts must have the same MD5 as mpimr's
             (LC_ALL=C sort; MR-MPI's parts are not in word order).
After every run the spill directory must be empty again (a note otherwise).

Each run records the whole command's wall time, the job's own time (mpimr:
the largest time_total over ranks in --stats; MR-MPI: map to the end of
reduce, between barriers) and the peak resident size of every rank (mpimr:
peak_rss_bytes from --stats; MR-MPI: /usr/bin/time -f %M around each rank;
/usr/bin/time also runs around mpimr's ranks as a cross-check, column
time_rss_ranks_mib). For mpimr it also records, when --stats has them,
spill_bytes and spill_runs (summed over ranks), merge_passes and
peak_memory_bytes (largest rank) and memory_budget_bytes; for MR-MPI the
bytes it wrote to page files and its page high-water mark.

Options:
  --memory SIZE     budget per rank, K/M/G suffixes, powers of 1024 (default 64M)
  --factors "F..."  corpus sizes as multiples of the budget (default "10 50")
  --jobs "J..."     wordcount and/or invindex (default "wordcount invindex")
  --np P            MPI ranks (default 2); --oversubscribe is added when P > cores
  --repeat N        counted rounds, at least 1 (default 3)
  --vocab N         vocabulary (default 1000000)
  --zipf S          Zipf exponent (default 1.0)
  --seed N          generator seed (default 1)
  --out DIR         results directory (default bench/results)
  --build DIR       build tree holding bin/ (default build)
  --data DIR        corpus directory, outside git (default data/bench)
  --spill-dir DIR   where mpimr spills and MR-MPI writes its pages (default: a
                    fresh directory under $TMPDIR or /tmp, removed at the end)
  --memsize MB      MR-MPI page size (default: M / 8, see above)
  --maxpage N       MR-MPI's page limit (default 7; 0: none)
  --mpimr-args STR  extra options for both mpimr programs
  --mrmpi-wc-args STR  options for mpimr-wc-mrmpi (default "--compress")
  --no-mrmpi        skip MR-MPI even when it is built
  -h, --help        this text

Writes into --out, with NAME = outofcore-npP-MM (e.g. outofcore-np2-M64M):
  NAME.csv          one row per counted run
  NAME-medians.csv  one row per job, size and program: medians, MB/s, ratios, memory
  NAME.txt          the printed tables, checks, machine and load
  NAME.png          throughput and peak RSS charts (needs gnuplot; skipped with a note)
Disk: a run needs room for the invindex output (about 2x the corpus, twice
during the warm-up's check) and for spills and MR-MPI's page files (several
times the corpus) in the spill directory.
EOF
}

die() { echo "outofcore_bench: $*" >&2; exit 1; }
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
# size_label BYTES: the shortest exact K/M/G name (1G, 640M, 3K, 17).
size_label() {
  local b=$1
  if (( b % 1073741824 == 0 )); then echo "$(( b / 1073741824 ))G"
  elif (( b % 1048576 == 0 )); then echo "$(( b / 1048576 ))M"
  elif (( b % 1024 == 0 )); then echo "$(( b / 1024 ))K"
  else echo "$b"; fi
}

memory=64M factors="10 50" jobs="wordcount invindex" np=2 repeat=3
vocab=1000000 zipf=1.0 seed=1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/bench/results build=$root/build data=$root/data/bench spill_root=""
memsize="" maxpage=7 mpimr_args="" mrmpi_wc_args="--compress" use_mrmpi=1
while [ $# -gt 0 ]; do
  case $1 in
    --memory) memory=$2; shift 2 ;;
    --factors) factors=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --np) np=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --vocab) vocab=$2; shift 2 ;;
    --zipf) zipf=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --spill-dir) spill_root=$2; shift 2 ;;
    --memsize) memsize=$2; shift 2 ;;
    --maxpage) maxpage=$2; shift 2 ;;
    --mpimr-args) mpimr_args=$2; shift 2 ;;
    --mrmpi-wc-args) mrmpi_wc_args=$2; shift 2 ;;
    --no-mrmpi) use_mrmpi=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 64 ;;
  esac
done
memory_bytes=$(size_bytes "$memory") || die "--memory must be a size such as 64M, not '$memory'"
(( memory_bytes >= 16 * 1048576 )) || die "--memory must be at least 16M (mpimr's minimum)"
mlabel=$(size_label "$memory_bytes")
[[ $np =~ ^[1-9][0-9]*$ ]] || die "--np must be a positive integer"
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer"
[[ $maxpage =~ ^[0-9]+$ ]] || die "--maxpage must be a non-negative integer"
[[ -z $memsize || $memsize =~ ^[1-9][0-9]*$ ]] || die "--memsize must be a positive integer (MiB)"
for f in $factors; do [[ $f =~ ^[1-9][0-9]*$ ]] || die "--factors must be positive integers, not '$f'"; done
[ -n "$factors" ] || die "--factors is empty"
for j in $jobs; do [[ $j == wordcount || $j == invindex ]] || die "--jobs takes wordcount and invindex, not '$j'"; done
[ -n "$jobs" ] || die "--jobs is empty"
[ -z "$memsize" ] && memsize=$(( memory_bytes / 8 / 1048576 )) && [ "$memsize" -lt 1 ] && memsize=1

mkdir -p "$out" "$data"
out=$(cd "$out" && pwd) build=$(cd "$build" && pwd) data=$(cd "$data" && pwd)
bin=$build/bin
for p in mpimr-wordcount mpimr-gentext; do
  [ -x "$bin/$p" ] || die "$bin/$p is missing: build first (cmake --build build)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (it measures each MR-MPI rank's peak RSS): apt-get install time"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 LC_ALL=C
cores=$(nproc)
mpirun_args=(-np "$np")
[ "$np" -gt "$cores" ] && mpirun_args+=(--oversubscribe)

work=$(mktemp -d "${TMPDIR:-/tmp}/outofcore_bench.XXXXXX")
if [ -n "$spill_root" ]; then
  mkdir -p "$spill_root"
  spill_root=$(mktemp -d "$(cd "$spill_root" && pwd)/outofcore_bench.XXXXXX")
else
  spill_root=$work/spill
fi
trap 'rm -rf "$work" "$spill_root"' EXIT
mkdir -p "$spill_root/mpimr" "$spill_root/mrmpi" "$work/rss"

# Each rank runs under /usr/bin/time, which writes its peak RSS (KiB) to rss/RANK.
cat >"$work/rsswrap" <<EOF
#!/bin/sh
exec /usr/bin/time -f %M -o "$work/rss/\${OMPI_COMM_WORLD_RANK:-\${PMI_RANK:-0}}" "\$@"
EOF
chmod +x "$work/rsswrap"

name=outofcore-np$np-M$mlabel
table=$out/$name.txt
csv=$out/$name.csv
: >"$table"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# Which programs run for each job.
declare -A bin_of=([wordcount:mpimr]=mpimr-wordcount [invindex:mpimr]=mpimr-invindex
                   [wordcount:mrmpi]=mpimr-wc-mrmpi [invindex:mrmpi]=mpimr-invindex-mrmpi)
programs_of() {
  local job=$1 list=()
  if [ -x "$bin/${bin_of[$job:mpimr]}" ]; then list+=(mpimr-spill mpimr-mem); fi
  if [ $use_mrmpi = 1 ] && [ -x "$bin/${bin_of[$job:mrmpi]}" ]; then list+=(mrmpi); fi
  echo "${list[@]}"
}

say "# Out-of-core: mpimr spilling, mpimr in memory and MR-MPI under $mlabel a rank ($name)"
say "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine:  $cores cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB memory; scratch and spills on $(df -h "$spill_root" | awk 'NR == 2 { print $1 " (" $4 " free)" }')"
say "budget:   M = $mlabel ($memory_bytes bytes) a rank; corpora of ${factors// /, } x M; vocab $vocab, zipf $zipf, seed $seed"
say "ranks:    $np (mpirun ${mpirun_args[*]}); rounds: $repeat; jobs: $jobs"
say "MR-MPI:   --memsize $memsize MiB pages (M/8: at most 7 pages held at once, see --help), --maxpage $maxpage; word count with '$mrmpi_wc_args'"
[ -n "$mpimr_args" ] && say "mpimr:    extra options '$mpimr_args'"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  say "source:   git $(git -C "$root" rev-parse --short HEAD), $(git -C "$root" status --porcelain | wc -l) paths modified or untracked; binaries from $bin"
fi
say "load:     $(loadavg) at start (1, 5, 15 min)"
for job in $jobs; do
  [ -x "$bin/${bin_of[$job:mpimr]}" ] || say "note:     $job: $bin/${bin_of[$job:mpimr]} is not built: its mpimr rows are skipped"
  if [ $use_mrmpi = 0 ]; then say "note:     $job: MR-MPI skipped (--no-mrmpi)"
  elif [ ! -x "$bin/${bin_of[$job:mrmpi]}" ]; then say "note:     $job: MR-MPI skipped: $bin/${bin_of[$job:mrmpi]} is not built (install libmrmpi-dev and reconfigure)"; fi
done

# run JOB PROGRAM OUTDIR [EXTRA...]: runs one program on $corpus. Sets wall, job_s,
# rss_ranks (MiB, ';'-separated), rss_max, time_rss, keys, pairs, and the spill figures.
run() {
  local job=$1 program=$2 outdir=$3; shift 3
  local t0 t1 line cmd=() extra=()
  # shellcheck disable=SC2206  # option lists
  local margs=($mpimr_args) wargs=($mrmpi_wc_args)
  rm -rf "${work:?}/rss/"* "$work/stats.json" "$outdir"
  spill_bytes="" spill_runs="" merge_passes="" peak_memory="" budget_bytes="" mr_spilled="" mr_hiwater=""
  mr_multiblock="" mr_runs=""
  case $program in
    mpimr-*)
      [ "$program" = mpimr-spill ] && extra=(--memory "$memory_bytes" --spill-dir "$spill_root/mpimr")
      if [ "$job" = wordcount ]; then
        cmd=("$bin/mpimr-wordcount" -q "${margs[@]}" "${extra[@]}" --stats "$work/stats.json" "$@")
        [ -n "$outdir" ] && cmd+=(--format text -o "$outdir") || cmd+=(--format none)
      else
        cmd=("$bin/mpimr-invindex" -q "${margs[@]}" "${extra[@]}" --stats "$work/stats.json" -o "$outdir" "$@")
      fi
      ;;
    mrmpi)
      if [ "$job" = wordcount ]; then
        cmd=("$bin/mpimr-wc-mrmpi" "${wargs[@]}" --memsize "$memsize" --maxpage "$maxpage" --chunk "${memsize}M"
             --fpath "$spill_root/mrmpi" "$@")
      else
        cmd=("$bin/mpimr-invindex-mrmpi" --memsize "$memsize" --maxpage "$maxpage" --fpath "$spill_root/mrmpi"
             -o "$outdir" "$@")
      fi
      ;;
  esac
  t0=$EPOCHREALTIME
  mpirun "${mpirun_args[@]}" "$work/rsswrap" "${cmd[@]}" "$corpus" >"$work/out.txt" 2>&1 ||
    { cat "$work/out.txt" >&2; die "$job $program failed: ${cmd[*]} $corpus"; }
  t1=$EPOCHREALTIME
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
  # Peak RSS of every rank from /usr/bin/time, in rank order.
  time_rss=$(for ((r = 0; r < np; r++)); do
               [ -s "$work/rss/$r" ] || die "$job $program: no peak RSS for rank $r from /usr/bin/time"
               tail -1 "$work/rss/$r"
             done | awk '{ printf "%s%.1f", (NR > 1 ? ";" : ""), $1 / 1024 }')
  case $program in
    mpimr-*)
      # One rank per line in --stats: keys and pairs summed, time the slowest rank's,
      # spill bytes and runs summed, merge passes and accounted memory the largest rank's.
      read -r job_s keys pairs rss_ranks spill_bytes spill_runs merge_passes peak_memory budget_bytes < <(awk '
        function num(name,   s) {
          if (!match($0, "\"" name "\": *[0-9.eE+-]+")) return ""
          s = substr($0, RSTART, RLENGTH); sub(/.*: */, "", s); return s + 0
        }
        function most(v, old) { return v == "" ? old : (old == "" || v > old ? v : old) }
        function add(v, old) { return v == "" ? old : old + v }
        /"rank"/ { t = most(num("time_total"), t); k += num("keys_reduced"); p += num("pairs_emitted")
                   rss = rss (rss == "" ? "" : ";") sprintf("%.1f", num("peak_rss_bytes") / 1048576)
                   sb = add(num("spill_bytes"), sb); sr = add(num("spill_runs"), sr)
                   mp = most(num("merge_passes"), mp); pm = most(num("peak_memory_bytes"), pm)
                   mb = most(num("memory_budget_bytes"), mb) }
        function show(v) { return v == "" ? "-" : sprintf("%.0f", v) }
        END { printf "%.6f %.0f %.0f %s %s %s %s %s %s\n", t, k, p, rss, show(sb), show(sr), show(mp), show(pm), show(mb) }
      ' "$work/stats.json")
      for v in spill_bytes spill_runs merge_passes peak_memory budget_bytes; do [ "${!v}" = - ] && printf -v "$v" ''; done
      ;;
    mrmpi)
      if [ "$job" = wordcount ]; then
        line=$(grep '^mrmpi:' "$work/out.txt") || die "no result line from mpimr-wc-mrmpi"
        pairs=$(field words "$line") keys=$(field distinct "$line")
      else
        line=$(grep '^mrmpi-invindex:' "$work/out.txt") || die "no result line from mpimr-invindex-mrmpi"
        pairs=$(field postings "$line") keys=$(field distinct "$line")
        mr_multiblock=$(field multiblock_words "$line") mr_runs=$(field run_bytes "$line")
      fi
      job_s=$(field seconds "$line") mr_spilled=$(field spilled_bytes "$line") mr_hiwater=$(field page_hiwater_bytes "$line")
      rss_ranks=$time_rss
      ;;
  esac
  rss_max=$(tr ';' '\n' <<<"$rss_ranks" | sort -g | tail -1)
  # Every spill and page file must be gone once the job is over.
  local left
  left=$(find "$spill_root" -type f | wc -l)
  if [ "$left" != 0 ]; then
    say "  note: $job $program left $left file(s), $(du -sb "$spill_root" | cut -f1) bytes, in the spill directory (removed)"
    find "$spill_root" -type f -delete
  fi
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# Order-independent fingerprint of a result directory's text parts.
sorted_md5() { cat "$1"/part-* | sort -S 25% --parallel=2 -T "$work" | md5sum | cut -d' ' -f1; }
# same_parts A B: the two directories' parts are identical (part by part, else as sorted sets).
same_parts() {
  local a=$1 b=$2 pa pb
  pa=$(cd "$a" && ls part-* | tr '\n' ' ') pb=$(cd "$b" && ls part-* | tr '\n' ' ')
  if [ "$pa" = "$pb" ]; then
    local same=1 p
    for p in $pa; do cmp -s "$a/$p" "$b/$p" || { same=0; break; }; done
    [ $same = 1 ] && { how="identical part by part"; return 0; }
  fi
  local ma mb
  ma=$(sorted_md5 "$a") mb=$(sorted_md5 "$b")
  how="sorted MD5 $ma vs $mb"
  [ "$ma" = "$mb" ]
}

echo "round,job,factor,program,np,input_bytes,memory_bytes,wall_s,job_s,peak_rss_max_mib,peak_rss_ranks_mib,time_rss_ranks_mib,keys,pairs,spill_bytes,spill_runs,merge_passes,peak_memory_bytes,memory_budget_bytes,mrmpi_spilled_bytes,mrmpi_page_hiwater_bytes,load1" >"$csv"

for factor in $factors; do
  bytes_wanted=$(( factor * memory_bytes ))
  label=$(size_label "$bytes_wanted")
  corpus=$data/corpus-$label-v$vocab-z$zipf-s$seed.txt
  if [ ! -f "$corpus" ]; then
    gen_np=$(( np < cores ? np : cores ))
    echo "generating $corpus ..."
    mpirun -np "$gen_np" "$bin/mpimr-gentext" -o "$corpus" --size "$bytes_wanted" --vocab "$vocab" \
      --zipf "$zipf" --seed "$seed" >/dev/null
  fi
  bytes=$(stat -c %s "$corpus")
  for job in $jobs; do
    read -r -a programs <<<"$(programs_of "$job")"
    [ ${#programs[@]} -gt 0 ] || { say ""; say "$job, $label: nothing to run"; continue; }
    say ""
    say "== $job, $label ($factor x M; $corpus, $bytes bytes)"
    say "warm-up and agreement check:"
    declare -A ref_keys=() ref_pairs=()
    ref_md5=""
    for p in "${programs[@]}"; do
      o=$work/out-$p
      if [ "$job" = wordcount ] && [ "$p" = mrmpi ]; then o=""; fi
      run "$job" "$p" "$o"
      ref_keys[$p]=$keys ref_pairs[$p]=$pairs
      msg="  $(printf '%-12s' "$p") keys $keys, pairs $pairs, wall $wall s, job $job_s s, peak RSS $rss_ranks MiB"
      [ -n "$spill_bytes" ] && msg+=", spilled $(mib "$spill_bytes") MiB in $spill_runs runs, $merge_passes merge passes"
      [ -n "$mr_spilled" ] && msg+=", MR-MPI page files $(mib "$mr_spilled") MiB written, page high-water $(mib "$mr_hiwater") MiB"
      [ -n "$mr_multiblock" ] && [ "$mr_multiblock" != 0 ] && msg+=", $mr_multiblock words over several pages (merged through $(mib "$mr_runs") MiB of runs)"
      say "$msg"
      case $p in
        mpimr-mem)
          if [ -d "$work/out-mpimr-spill" ]; then
            same_parts "$work/out-mpimr-spill" "$o" || die "$job: mpimr-spill's and mpimr-mem's outputs differ ($how)"
            say "    mpimr-spill and mpimr-mem outputs agree: $how"
            rm -rf "$work/out-mpimr-spill"
          fi
          if [ "$job" = invindex ] && [[ " ${programs[*]} " == *" mrmpi "* ]]; then ref_md5=$(sorted_md5 "$o"); fi
          rm -rf "$o"
          ;;
        mrmpi)
          if [ "$job" = wordcount ] && [ -n "${ref_pairs[mpimr-mem]:-}" ]; then
            [ "$pairs" = "${ref_pairs[mpimr-mem]}" ] && [ "$keys" = "${ref_keys[mpimr-mem]}" ] ||
              die "wordcount: MR-MPI counted $pairs words, $keys distinct; mpimr ${ref_pairs[mpimr-mem]}, ${ref_keys[mpimr-mem]}"
            say "    MR-MPI and mpimr agree: $pairs words, $keys distinct"
          elif [ "$job" = invindex ] && [ -n "$ref_md5" ]; then
            md5=$(sorted_md5 "$o")
            [ "$md5" = "$ref_md5" ] || die "invindex: MR-MPI's sorted output (MD5 $md5) differs from mpimr's ($ref_md5)"
            say "    MR-MPI and mpimr outputs agree: sorted MD5 $md5 ($keys words, $pairs postings)"
          fi
          rm -rf "$o"
          ;;
      esac
    done
    if [ -n "${ref_pairs[mpimr-spill]:-}" ] && { [ "${ref_pairs[mpimr-spill]}" != "${ref_pairs[mpimr-mem]}" ] ||
                                                 [ "${ref_keys[mpimr-spill]}" != "${ref_keys[mpimr-mem]}" ]; }; then
      die "$job: mpimr-spill and mpimr-mem count different pairs or keys"
    fi
    say "runs (wall s / job s):"
    for ((r = 1; r <= repeat; r++)); do
      row="  round $r:"
      for p in "${programs[@]}"; do
        load1=$(cut -d' ' -f1 /proc/loadavg)
        o=""
        [ "$job" = invindex ] && o=$work/out-$p
        run "$job" "$p" "$o"
        rm -rf "$o"
        [ "$keys" = "${ref_keys[$p]}" ] && [ "$pairs" = "${ref_pairs[$p]}" ] ||
          die "$job $p round $r: $pairs pairs, $keys keys; the warm-up had ${ref_pairs[$p]}, ${ref_keys[$p]}"
        echo "$r,$job,$factor,$p,$np,$bytes,$memory_bytes,$wall,$job_s,$rss_max,$rss_ranks,$time_rss,$keys,$pairs,$spill_bytes,$spill_runs,$merge_passes,$peak_memory,$budget_bytes,$mr_spilled,$mr_hiwater,$load1" >>"$csv"
        row+=" $p $(printf '%.2f/%.2f' "$wall" "$job_s")"
      done
      say "$row (load $(loadavg))"
    done
    unset ref_keys ref_pairs
  done
done

# Medians per (job, factor, program); throughput in MB/s (10^6 bytes); ratios of throughput
# (job time): spill/mem = mpimr-spill over mpimr-mem; vs MR-MPI = the row over mrmpi.
medians=$out/$name-medians.csv
awk -F, -v budget="$memory_bytes" "$AWK_MEDIAN"'
  function most(old, v) { return v == "" ? old : (old == "" || v + 0 > old + 0 ? v : old) }
  NR > 1 {
    k = $2 SUBSEP $3 SUBSEP $4
    if (!(k in runs)) { order[++n] = k; job[k] = $2; factor[k] = $3; prog[k] = $4; ranks[k] = $5; bytes[k] = $6 }
    runs[k]++; wall[k] = wall[k] " " $8; js[k] = js[k] " " $9; rss[k] = most(rss[k], $10)
    sb[k] = sb[k] " " $15; sr[k] = most(sr[k], $16); mp[k] = most(mp[k], $17); pm[k] = most(pm[k], $18)
    ms[k] = most(ms[k], $20)
  }
  END {
    print "job,factor,program,np,input_bytes,runs,median_wall_s,median_job_s,wall_mb_per_s,job_mb_per_s,peak_rss_max_mib,rss_within_budget_plus_32mib,spill_over_mem_throughput,over_mrmpi_throughput,median_spill_mib,spill_runs_max,merge_passes_max,peak_memory_max_mib,mrmpi_spilled_mib_max"
    for (i = 1; i <= n; i++) { k = order[i]; mw[k] = median(wall[k]); mj[k] = median(js[k]) }
    for (i = 1; i <= n; i++) {
      k = order[i]
      mem = job[k] SUBSEP factor[k] SUBSEP "mpimr-mem"; mr = job[k] SUBSEP factor[k] SUBSEP "mrmpi"
      r1 = prog[k] == "mpimr-spill" && (mem in mj) ? sprintf("%.3f", mj[mem] / mj[k]) : ""
      r2 = prog[k] != "mrmpi" && (mr in mj) ? sprintf("%.3f", mj[mr] / mj[k]) : ""
      s = median(sb[k]); spill = s == "" || sb[k] ~ /^ *$/ ? "" : sprintf("%.1f", s / 1048576)
      # Byte counts go out as text: %d is 32-bit in mawk, and corpora pass 2 GiB.
      printf "%s,%s,%s,%d,%s,%d,%.3f,%.3f,%.1f,%.1f,%.1f,%s,%s,%s,%s,%s,%s,%s,%s\n", job[k], factor[k], prog[k], ranks[k],
        bytes[k], runs[k], mw[k], mj[k], bytes[k] / mw[k] / 1e6, bytes[k] / mj[k] / 1e6, rss[k],
        rss[k] * 1048576 <= budget + 32 * 1048576 ? "yes" : "no", r1, r2, spill, sr[k], mp[k],
        pm[k] == "" ? "" : sprintf("%.1f", pm[k] / 1048576), ms[k] == "" ? "" : sprintf("%.1f", ms[k] / 1048576)
    }
  }' "$csv" >"$medians"

say ""
say "medians over $repeat rounds (MB/s = 10^6 bytes of input a second; MiB = 2^20 bytes; peak RSS: the"
say "largest rank in the worst run; spill/mem = spilling throughput over in-memory throughput; vs MR-MPI ="
say "the row's throughput over MR-MPI's, above 1: faster than MR-MPI; both ratios from job times):"
hdr=$(printf '  %-9s %6s %-11s %9s %8s %9s %8s %9s %7s %7s %8s %9s %7s %8s' job size program 'wall s' 'MB/s' 'job s' 'MB/s' 'peak RSS' 'spill/' 'vs' 'spilled' 'runs/' 'peak' 'MR-MPI')
say "$hdr"
say "$(printf '  %-9s %6s %-11s %9s %8s %9s %8s %9s %7s %7s %8s %9s %7s %8s' '' '' '' '' '(wall)' '' '(job)' 'MiB' 'mem' 'MR-MPI' 'MiB' 'passes' 'acct' 'pages')"
while IFS=, read -r job factor p _ bytes _ mw mj wmb jmb rss within r1 r2 spill sruns passes pmem mrs; do
  runs_passes=""
  [ -n "$sruns$passes" ] && runs_passes="${sruns:--}/${passes:--}"
  say "$(printf '  %-9s %6s %-11s %9s %8s %9s %8s %9s %7s %7s %8s %9s %7s %8s' "$job" "$(size_label "$bytes")" "$p" "$mw" "$wmb" "$mj" "$jmb" "$rss" "${r1:--}" "${r2:--}" "${spill:--}" "${runs_passes:--}" "${pmem:--}" "${mrs:--}")"
done < <(tail -n +2 "$medians")
say "  (peak acct = mpimr's peak_memory_bytes, the memory it accounted against its budget, MiB; MR-MPI"
say "   pages = MiB MR-MPI wrote to its page files, all ranks; runs/passes = spill runs, all ranks / merge passes)"
say ""
say "memory checks: peak RSS <= budget + 32 MiB ($(mib $(( memory_bytes + 33554432 ))) MiB), largest rank, every run:"
while IFS=, read -r job factor p _ bytes _ _ _ _ _ rss within _; do
  note=""
  [ "$p" = mpimr-mem ] && note=" (no budget given; for reference)"
  say "  $(printf '%-9s %6s %-11s' "$job" "$(size_label "$bytes")" "$p") peak RSS $rss MiB <= $(mib $(( memory_bytes + 33554432 ))) MiB: $within$note"
done < <(tail -n +2 "$medians")
say "load:     $(loadavg) at end"
say "files:    $csv, $medians, $table"

# The chart: throughput (job time) and peak RSS per job and size, one bar per program.
if have_gnuplot; then
  dat=$work/chart.dat
  awk -F, 'NR > 1 {
      k = $1 " " $2 "xM"; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
      t[k, $3] = $10; r[k, $3] = $11
    }
    END {
      for (i = 1; i <= n; i++) {
        k = order[i]; printf "\"%s\"", k
        split("mpimr-spill mpimr-mem mrmpi", p, " ")
        for (j = 1; j <= 3; j++) printf " %s", ((k, p[j]) in t) ? t[k, p[j]] : "NaN"
        for (j = 1; j <= 3; j++) printf " %s", ((k, p[j]) in r) ? r[k, p[j]] : "NaN"
        printf "\n"
      }
    }' "$medians" >"$dat"
  limit=$(awk -v b="$memory_bytes" 'BEGIN { printf "%.1f", b / 1048576 + 32 }')
  groups=$(wc -l <"$dat")
  gnuplot <<EOF
set terminal pngcairo size 1200,520 font "sans,10"
set output "$out/$name.png"
set multiplot layout 1,2 title "Out of core, $np ranks, budget $mlabel a rank: median of $repeat runs (corpus = factor x budget)"
$(bar_chart_style)
set key below
set xrange [-0.5:$groups - 0.5]
set xtics rotate by -20
set title "throughput (job time), MB/s: higher is better"
plot "$dat" using 2:xtic(1) title "mpimr, --memory $mlabel (spilling)", \
     "" using 3 title "mpimr, in memory", \
     "" using 4 title "MR-MPI, ${memsize} MiB pages"
set title "peak RSS, largest rank, MiB (line: budget + 32 MiB)"
plot "$dat" using 5:xtic(1) title "mpimr, --memory $mlabel (spilling)", \
     "" using 6 title "mpimr, in memory", \
     "" using 7 title "MR-MPI, ${memsize} MiB pages", \
     $limit with lines lw 2 lc rgb "black" title "$limit MiB"
unset multiplot
EOF
  say "chart:    $out/$name.png"
fi
