#!/usr/bin/env bash
# The programs across three "nodes" of uneven size (2 + 2 + 1 ranks) on this machine: each node
# a UTS namespace with its own hostname and Open MPI daemon (tests/tools/node_agent.sh), so ranks
# on different nodes share no memory and their bytes go over TCP, as on a cluster. Checked:
#   - the node groups: rank 0 reads its node's 2 ranks' bytes in place, no more;
#   - mpimr-wordcount against wc_oracle with the default transport (in place inside a node,
#     messages between nodes), with pairwise and alltoallv forced (and the progress display's
#     reports from every node), and with TCP alone moving bytes (--mca btl self,tcp);
#   - dynamic map across nodes: with the ranks of n2 and n3 slowed (MPIMR_TEST_MAP_DELAY, passed
#     with -x), both ranks of n1 take chunks of their input, every slow rank gives some, every byte
#     is mapped once, and the counts equal wc_oracle's;
#   - mpimr-cc skipping two malformed lines (--max-bad-records): _bad_records gathered from every
#     node, the labels those of the good lines on one node;
#   - mpimr-sort: mpimr-valsort agrees on order, count and checksum;
#   - mpimr-invindex against invindex_oracle.py, mpimr-rmat against rmat_oracle.py;
#   - mpimr-kmeans (generated points): the same assignments as at np 1 on one node;
#   - mpimr-pagerank and mpimr-cc on libmetis-doc's 4elt against networkx (where they are
#     installed);
#   - the datasets (data kept in memory between jobs): tests/mpi/test_datasets' own checks, and
#     where Fortran is built tests/fortran/test_datasets.f90's; the Fortran example
#     mpimr-wordcount-fortran against wc_oracle and byte for byte against mpimr-wordcount;
#   - where the Python package is built, python3 -m mpimr.wordcount (its NumPy block map and its
#     per-record map) against wc_oracle and byte for byte against mpimr-wordcount;
#   - a node dying: all its ranks killed mid-shuffle, its daemon killed mid-map, and each of the
#     two while every rank writes its output: every rank gone within 10 s, a failed mpirun, no
#     _SUCCESS, nothing in the output directory but the dead job's lock and staging directory
#     (README, Failure behaviour), and a rerun into the same directory right, leaving only the
#     result.
# Skipped (status 77) with a message where namespaces cannot be made (not root, no unshare).
# usage: cluster_app.sh BIN_DIR WC_ORACLE [FORTRAN [PYTHON_PACKAGE_DIR]]
#   (FORTRAN: 1 if the Fortran programs are built; PYTHON_PACKAGE_DIR: build/python, if built)
set -euo pipefail
bin=$1 oracle=$2 fortran=${3:-0} python_package=${4:-}
tools=$(dirname "$oracle") # the test programs: wc_oracle, crash_job, test_datasets
agent="$(cd "$(dirname "$0")/../tools" && pwd)/node_agent.sh"
check="$(cd "$(dirname "$0")/../tools" && pwd)/graph_networkx_check.py"
if ! unshare --uts true 2>/dev/null; then
  echo "cluster_app: SKIPPED: cannot make a UTS namespace here (unshare --uts needs root)"
  exit 77
fi
work=$(mktemp -d /tmp/mpimr-cluster-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"
export OMPI_MCA_odls_base_sigkill_timeout=0
printf 'n1 slots=2\nn2 slots=2\nn3 slots=1\n' >"$work/hosts"

# PROGRAM ARGS... on the three nodes, 5 ranks (an Open MPI session directory of its own).
on_nodes() {
  local session_base
  session_base=$(mktemp -d "$work/ompi.XXXXXX")
  OMPI_MCA_orte_tmpdir_base=$session_base mpirun --mca plm_rsh_agent "$agent" --hostfile "$work/hosts" \
    -np 5 "$@" </dev/null
}

seed=$(( $(date +%s%N) % 1000000 ))
run 2 "$bin/mpimr-gentext" -o "$work/text.txt" --size 6M --vocab 50000 --seed "$seed"

# The groups: 5 ranks on three hosts; rank 0 shares memory with its node's other rank only.
on_nodes hostname | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ' >"$work/layout"
[ "$(cat "$work/layout")" = "n1=2 n2=2 n3=1 " ] || { echo "the ranks ran on: $(cat "$work/layout")"; exit 1; }
on_nodes "$bin/mpimr-wordcount" -v -o "$work/wc-auto" "$work/text.txt" 2>"$work/err"
grep -q "transport shared-memory (rank 0 reads 2 ranks' bytes in place)" "$work/err" ||
  { echo "rank 0 should read exactly its node's 2 ranks in place:"; cat "$work/err"; exit 1; }
"$oracle" "$work/wc-auto" 5 "$work/text.txt"

# Each transport forced, and TCP as the only way bytes move. The progress display's reports
# cross the nodes too: its last line has every rank's input.
for transport in pairwise alltoallv; do
  on_nodes "$bin/mpimr-wordcount" -q --transport "$transport" --round-size 64K -o "$work/wc-$transport" \
    --progress=plain --progress-interval 0.05 "$work/text.txt" 2>"$work/progress-$transport"
  "$oracle" "$work/wc-$transport" 5 "$work/text.txt"
  tail -n 1 "$work/progress-$transport" | grep -q '^mpimr: done: 100\.0% of ' ||
    { echo "the progress display's last line is not every rank's input:"; cat "$work/progress-$transport"; exit 1; }
done

# Dynamic map across nodes: the ranks of n2 and n3 (2, 3 and 4) sleep 20 ms after each 64 KiB
# slice, so n1's ranks run out first and take chunks from the other nodes' ranks over TCP.
on_nodes -x MPIMR_TEST_MAP_DELAY=20000@2,3,4 "$bin/mpimr-wordcount" -q --read-size 64K \
  --stats "$work/dynamic.json" -o "$work/wc-dynamic" "$work/text.txt"
"$oracle" "$work/wc-dynamic" 5 "$work/text.txt"
/usr/bin/python3 - "$work/dynamic.json" "$(stat -c %s "$work/text.txt")" <<'EOF'
import json, sys
ranks = json.load(open(sys.argv[1]))["ranks"]
size = int(sys.argv[2])
assert sum(r["input_bytes"] for r in ranks) == size, "every byte mapped once"
assert sum(r["chunks_taken"] for r in ranks) == sum(r["chunks_given"] for r in ranks)
for r in ranks[:2]:
    assert r["chunks_taken"] > 0, f"rank {r['rank']} on n1 took no chunk: {ranks}"
for r in ranks[2:]:
    assert r["chunks_given"] > 0, f"slow rank {r['rank']} gave no chunk: {ranks}"
EOF

# Skipped records across nodes: mpimr-cc on an edge list with two malformed lines lists both in
# _bad_records (gathered by rank 0 from every node's ranks) and labels the graph as on one node
# without them.
awk 'BEGIN { for (i = 0; i < 400; i++) { print i, (i * 7 + 3) % 400; if (i == 100) print "x 1"; if (i == 300) print "7" } }' \
  >"$work/edges.txt"
grep -v -e '^x' -e '^7$' "$work/edges.txt" >"$work/edges-good.txt"
on_nodes --mca mpi_yield_when_idle 1 "$bin/mpimr-cc" -q --max-bad-records 2 -o "$work/cc-bad" "$work/edges.txt"
run 2 "$bin/mpimr-cc" -q -o "$work/cc-good" "$work/edges-good.txt"
[ "$(cut -f2 "$work/cc-bad/_bad_records" | sort -n | tr '\n' ' ')" = \
  "$(grep -b -n -e '^x' -e '^7$' "$work/edges.txt" | cut -d: -f2 | tr '\n' ' ')" ] ||
  { echo "_bad_records across nodes:"; cat "$work/cc-bad/_bad_records"; exit 1; }
cmp <(cat "$work"/cc-bad/part-* | sort) <(cat "$work"/cc-good/part-* | sort) ||
  { echo "mpimr-cc with skipped lines differs from mpimr-cc on the good lines"; exit 1; }
on_nodes --mca btl self,tcp "$bin/mpimr-wordcount" -q --no-combiner --round-size 64K -o "$work/wc-tcp" \
  "$work/text.txt"
"$oracle" "$work/wc-tcp" 5 "$work/text.txt"

# Sort: valsort agrees on order, count and checksum.
run 2 "$bin/mpimr-gensort" -n 200000 --seed "$seed" "$work/records.dat"
on_nodes "$bin/mpimr-sort" -q -o "$work/sorted" "$work/records.dat"
run 2 "$bin/mpimr-valsort" "$work/sorted" >"$work/sorted.txt"
run 2 "$bin/mpimr-valsort" "$work/records.dat" >"$work/input.txt" || true
field() { sed -n "s/^$1: //p" "$2"; }
[ "$(field records "$work/sorted.txt")" = 200000 ] || { echo "sort: record count"; exit 1; }
[ "$(field checksum "$work/sorted.txt")" = "$(field checksum "$work/input.txt")" ] ||
  { echo "sort: the output's checksum differs from the input's"; exit 1; }

# The inverted index (every word's postings, against invindex_oracle.py) and the R-MAT
# generator (every edge remade by rmat_oracle.py).
tool_dir="$(cd "$(dirname "$0")/../tools" && pwd)"
on_nodes "$bin/mpimr-invindex" -q --round-size 64K -o "$work/index" "$work/text.txt"
python3 "$tool_dir/invindex_oracle.py" "$work/index" 5 1000 "$work/text.txt"
on_nodes "$bin/mpimr-rmat" -q --scale 10 --seed "$seed" -o "$work/rmat"
python3 "$tool_dir/rmat_oracle.py" "$work/rmat" 5 10 16 0.57 0.19 0.19 "$seed"

# k-means on generated points: the same assignments as one rank on one node.
gen=(-k 6 --generate 5000 --dims 3 --clusters 6 --seed "$seed")
on_nodes --mca mpi_yield_when_idle 1 "$bin/mpimr-kmeans" -q -o "$work/km" --assignments "$work/km-assign" "${gen[@]}"
run 1 "$bin/mpimr-kmeans" -q -o "$work/km1" --assignments "$work/km1-assign" "${gen[@]}"
cmp <(sort -n "$work"/km-assign/part-*) <(sort -n "$work"/km1-assign/part-*)

# The datasets, from C (cmocka; a failed check on any rank fails every rank) and from Fortran, and
# the Fortran example: its counts against wc_oracle and equal to mpimr-wordcount's. The datasets
# tests poll MPI in loops of their own; the 5 ranks share this machine's cores, which nodes would
# not, so they yield when idle (else a poller holds its core for a time slice per message: 15 s
# where this takes 2). The iterative programs (mpimr-kmeans above, mpimr-pagerank and mpimr-cc
# below) and the examples yield too, for the same reason
# (the node-death runs do not: their timing is what they test).
on_nodes --mca mpi_yield_when_idle 1 "$tools/test_datasets" >"$work/datasets.log" 2>&1 ||
  { echo "test_datasets failed across the nodes:"; cat "$work/datasets.log"; exit 1; }
[ "$(grep -Ec '^\[  PASSED  \] [0-9]+ test' "$work/datasets.log")" -eq 5 ] ||
  { echo "test_datasets: not every rank passed:"; cat "$work/datasets.log"; exit 1; }
if [ "$fortran" = 1 ]; then
  on_nodes --mca mpi_yield_when_idle 1 "$tools/test_fortran_datasets" >"$work/fortran-datasets.log" 2>&1 ||
    { echo "test_fortran_datasets failed across the nodes:"; cat "$work/fortran-datasets.log"; exit 1; }
  grep -q "^fortran datasets: 5 ranks, all right" "$work/fortran-datasets.log" ||
    { echo "test_fortran_datasets:"; cat "$work/fortran-datasets.log"; exit 1; }
  on_nodes --mca mpi_yield_when_idle 1 "$bin/mpimr-wordcount-fortran" -o "$work/wc-fortran" "$work/text.txt" >/dev/null
  "$oracle" "$work/wc-fortran" 5 "$work/text.txt"
  cmp <(LC_ALL=C sort "$work"/wc-fortran/part-*) <(LC_ALL=C sort "$work"/wc-auto/part-*) ||
    { echo "mpimr-wordcount-fortran differs from mpimr-wordcount"; exit 1; }
else
  echo "cluster_app: the Fortran example and datasets skipped: not built (no Fortran compiler)"
fi

# The Python example (mpimr.wordcount, the map in Python on mpi4py's COMM_WORLD): the same files as
# mpimr-wordcount's, byte for byte, with the NumPy block path and the per-record one.
if [ -n "$python_package" ] && [ -d "$python_package/mpimr" ]; then
  for map in block record; do
    on_nodes --mca mpi_yield_when_idle 1 -x PYTHONPATH="$python_package" /usr/bin/python3 -m mpimr.wordcount -q --map "$map" \
      -o "$work/wc-python-$map" "$work/text.txt"
    "$oracle" "$work/wc-python-$map" 5 "$work/text.txt"
    for part in "$work"/wc-auto/part-*; do
      cmp "$part" "$work/wc-python-$map/${part##*/}" || { echo "mpimr.wordcount --map $map differs"; exit 1; }
    done
  done
else
  echo "cluster_app: the Python example skipped: the Python package is not built"
fi

# PageRank and connected components against networkx.
metis=/usr/share/doc/libmetis-dev/examples/graphs/4elt.graph
if [ -r "$metis" ] && /usr/bin/python3 -c 'import networkx' 2>/dev/null; then
  on_nodes --mca mpi_yield_when_idle 1 "$bin/mpimr-pagerank" -q --tolerance-per-vertex 1e-12 --max-iterations 1000 -o "$work/pr" "$metis"
  /usr/bin/python3 "$check" pagerank --format metis --tol 1e-12 --max-iter 1000 --rel 1e-7 "$metis" "$work/pr"
  on_nodes --mca mpi_yield_when_idle 1 "$bin/mpimr-cc" -q -o "$work/cc" "$metis"
  /usr/bin/python3 "$check" cc --format metis "$metis" "$work/cc"
else
  echo "cluster_app: pagerank and cc skipped: no $metis or no networkx for /usr/bin/python3"
fi
# A node dies. All ranks of one node: n3's only rank (4) kills itself mid-shuffle; then one
# node's daemon: n2's orted is killed while the job maps; then, while every rank writes its
# output, n2's two ranks, and separately n2's daemon. Each time every rank is gone within 10 s,
# mpirun fails, no _SUCCESS is written, the output directory holds at most the dead job's lock and
# staging directory, and a rerun into the same directory succeeds and leaves only the result.
live_ranks() {  # this test's crash_job ranks still alive (zombies waiting to be reaped are not)
  local pid
  for pid in $(pgrep -f "^$tools/crash_job .* $work/"); do
    [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] || echo "$pid"
  done
}
gone_within() {  # SECONDS OUTDIR: no rank alive SECONDS after the node died (from $started), no _SUCCESS
  local limit=$1 out=$2
  while [ -n "$(live_ranks)" ] && [ $(( $(date +%s) - started )) -le "$limit" ]; do sleep 0.2; done
  elapsed=$(( $(date +%s) - started ))
  [ -z "$(live_ranks)" ] || { echo "ranks alive $elapsed s after the node died:"; pgrep -af crash_job; exit 1; }
  [ ! -e "$out/_SUCCESS" ] || { echo "a failed run left $out/_SUCCESS"; exit 1; }
}
left_by_dead_job() {  # OUTDIR: what the README says a killed job leaves: its lock and staging directory
  local entry
  [ -d "$1" ] || return 0 # or nothing, where the ranks removed them on mpirun's SIGTERM
  for entry in "$1"/.[!.]* "$1"/*; do
    [ -e "$entry" ] || continue
    case ${entry##*/} in
      .mpimr-lock | .mpimr-staging-*) ;;
      *) echo "the dead job left ${entry##*/} in its output directory:"; ls -lA "$1"; exit 1 ;;
    esac
  done
}
rerun_succeeds() {  # OUTDIR [INPUT]: the rerun is right, and nothing of the dead job is left
  local input=${2:-$work/text.txt}
  on_nodes "$tools/crash_job" none 0 0 "$1" "$input" >"$work/rerun.log" 2>&1 ||
    { echo "the rerun into $1 failed:"; cat "$work/rerun.log"; exit 1; }
  "$oracle" "$1" 5 "$input"
  [ "$(find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | tr '\n' ' ')" = \
    "_SUCCESS part-00000 part-00001 part-00002 part-00003 part-00004 " ] ||
    { echo "after the rerun $1 holds more than the result:"; ls -lA "$1"; exit 1; }
}
node_daemon() {  # JOB NODE: the Open MPI daemon (orted) of node NODE in the job `on_nodes ... &`
  local mpirun agent pid
  mpirun=$(pgrep -P "$1" -x mpirun) || return 0
  for agent in $(pgrep -P "$mpirun"); do # node_agent.sh's shell, the daemon's parent (or itself)
    for pid in $agent $(pgrep -P "$agent"); do
      [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = orted ] || continue
      if [ "$(nsenter -t "$pid" -u hostname 2>/dev/null)" = "$2" ]; then echo "$pid"; fi
    done
  done
}
started=$(date +%s)
set +e
on_nodes "$tools/crash_job" sigkill 4 3000 "$work/dead-node" "$work/text.txt" >"$work/crash.log" 2>&1
status=$?
set -e
[ "$status" -ne 0 ] && grep -q "crash_job: rank 4: sigkill now" "$work/crash.log" ||
  { echo "rank 4 (node n3) killed: status $status:"; cat "$work/crash.log"; exit 1; }
gone_within 15 "$work/dead-node"   # mpirun's start included
left_by_dead_job "$work/dead-node"
rerun_succeeds "$work/dead-node"

run 2 "$bin/mpimr-gentext" -o "$work/big.txt" --size 64M --vocab 50000 --seed "$seed"
set +e
on_nodes "$tools/crash_job" none 0 0 "$work/dead-daemon" "$work/big.txt" >"$work/daemon.log" 2>&1 &
job=$!
set -e
# Once all 5 ranks run, kill n2's daemon (found by the hostname of its namespace).
for _ in $(seq 1 200); do
  [ "$(pgrep -fc "^$tools/crash_job none 0 0 $work/dead-daemon ")" -ge 5 ] && break
  sleep 0.05
done
sleep 0.3
killed=$(node_daemon "$job" n2)
[ "$(wc -w <<<"$killed")" -eq 1 ] || { echo "n2 should run 1 daemon, not: $killed"; exit 1; }
kill -KILL "$killed"
started=$(date +%s)
set +e
wait "$job"
status=$?
set -e
[ "$status" -ne 0 ] || { echo "the job survived its node's daemon:"; cat "$work/daemon.log"; exit 1; }
gone_within 10 "$work/dead-daemon"
left_by_dead_job "$work/dead-daemon"
rerun_succeeds "$work/dead-daemon" "$work/big.txt"

# In the output phase: crash_job slow-output has every rank pause 2 ms before each pair it writes
# (some 10,000 pairs a rank: 20 s) and say when it starts; once all 5 write, node n2 dies.
die_while_writing() {  # ranks|daemon OUTDIR
  local victim=$1 out=$2 log=$work/writing-$1.log job killed status
  set +e
  on_nodes "$tools/crash_job" slow-output 2 0 "$out" "$work/text.txt" >"$log" 2>&1 &
  job=$!
  set -e
  for _ in $(seq 1 600); do
    [ "$(grep -c ': writing output$' "$log")" -ge 5 ] && break
    kill -0 "$job" 2>/dev/null || break
    sleep 0.1
  done
  [ "$(grep -c ': writing output$' "$log")" -eq 5 ] || { echo "not all 5 ranks came to write output:"; cat "$log"; exit 1; }
  killed=$(node_daemon "$job" n2)
  [ "$(wc -w <<<"$killed")" -eq 1 ] || { echo "n2 should run 1 daemon, not: $killed"; exit 1; }
  if [ "$victim" = ranks ]; then
    killed=$(pgrep -P "$killed" -x crash_job) || true
    [ "$(wc -w <<<"$killed")" -eq 2 ] || { echo "n2 should run 2 ranks, not: $killed"; exit 1; }
  fi
  # shellcheck disable=SC2086  # one PID a word
  kill -KILL $killed
  started=$(date +%s)
  set +e
  wait "$job"
  status=$?
  set -e
  [ "$status" -ne 0 ] || { echo "the job survived the loss of n2's $victim while writing:"; cat "$log"; exit 1; }
  gone_within 10 "$out"
  left_by_dead_job "$out"
  rerun_succeeds "$out"
}
die_while_writing ranks "$work/dead-writers"
die_while_writing daemon "$work/dead-daemon-writing"
echo "cluster_app: ok"
