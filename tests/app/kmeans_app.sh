#!/usr/bin/env bash
# End-to-end test of mpimr-kmeans against kmeans_oracle.py (serial Lloyd's in
# Python, same initialisation and tie rule): well-separated Gaussian blobs in
# several files and a directory (comments, blank lines, TAB, comma and CRLF
# separators, a hidden file that must be skipped), with --assignments; a
# duplicated first point, so one cluster stays empty and keeps its centroid;
# --max-iterations 1 (not converged: written, noted, exit 0); integers and
# other numbers read exactly (whatever layout carries them); --generate,
# whose points the oracle makes itself, at this np and at np 1 (the same
# assignments); -f over a result and a refusal without it; malformed input
# (exit 1, file named, no _SUCCESS) and usage errors (exit 64).
# usage: kmeans_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
oracle="$(dirname "$0")/../tools/kmeans_oracle.py"
work=$(mktemp -d /tmp/mpimr-kmeans-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# mpirun waits a second before killing the ranks of a job that exited non-zero; they have exited.
export OMPI_MCA_odls_base_sigkill_timeout=0
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"
program=mpimr-kmeans
# The iteration count from the program's summary on stderr.
iterations_in() { sed -n 's/.* after \([0-9]*\) iterations.*/\1/p' "$1" | tail -1; }

seed=$(( $(date +%s%N) % 1000000 + np ))
mkdir -p "$work/points/sub"
python3 - "$work/points" "$seed" <<'PY'
import random, sys
root, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
centres = [(0, 0, 0), (100, 0, 0), (0, 100, 0), (0, 0, 100), (100, 100, 100)]
def point():
    c = rng.choice(centres)
    return [x + rng.gauss(0, 2) for x in c]
def line(p, style):
    text = ["%r" % x for x in p]
    if style == 0: return " ".join(text)
    if style == 1: return "\t".join(text)
    if style == 2: return ",".join(text)
    return " , ".join(text) + "  "
# The first K=5 points come from different blobs, so every cluster stays one blob.
first = [[x + rng.gauss(0, 1) for x in c] for c in centres]
with open(root + "/a.txt", "w") as f:
    f.write("# points, one per line\n\n")
    for p in first:
        f.write(line(p, 0) + "\n")
    for i in range(400):
        f.write(line(point(), i % 4) + ("\r\n" if i % 7 == 0 else "\n"))
        if i % 50 == 0: f.write("   # an indented comment\n \t \n")
with open(root + "/sub/b.csv", "w") as f:
    for i in range(700):
        f.write(line(point(), 2) + "\n")
with open(root + "/sub/c.txt", "w") as f:
    f.write("\n".join(line(point(), i % 4) for i in range(300)))  # no newline at the end
with open(root + "/sub/.hidden", "w") as f:
    f.write("1 2 3 4 5 6 7\n")  # skipped: it would be a wrong number of coordinates
with open(root + "/b-empty.txt", "w") as f:
    f.write("# nothing but a comment\n")
PY

# Files and a directory, with --assignments.
run "$np" "$bin/mpimr-kmeans" -k 5 -o "$work/out" --assignments "$work/assign" "$work/points" 2>"$work/err"
it=$(iterations_in "$work/err")
[ -n "$it" ] || { echo "no iteration count in the summary:"; cat "$work/err"; exit 1; }
python3 "$oracle" "$work/out" "$np" 5 100 1e-9 "$it" --assignments "$work/assign" "$work/points"

# -k 7 on the same points (two blobs are split, which the oracle follows too), --tolerance 0.
run "$np" "$bin/mpimr-kmeans" -k 7 --tolerance 0 --dims 3 -o "$work/k7" "$work/points/sub" "$work/points/a.txt" \
  2>"$work/err"
python3 "$oracle" "$work/k7" "$np" 7 100 0 "$(iterations_in "$work/err")" "$work/points/sub" "$work/points/a.txt"

# The first point twice: in the first iteration cluster 1 gets no point (a tie goes to cluster 0)
# and keeps its place; later it takes the two copies, whose mean is that place again.
{ echo "5,5"; echo "5,5"; echo "50 50"; for i in $(seq 1 40); do echo "$((i % 3)) $((i % 5))"; echo "5$((i % 3)) 5$((i % 4))"; done; } \
  > "$work/dup.txt"
run "$np" "$bin/mpimr-kmeans" -k 3 -o "$work/dup" "$work/dup.txt" 2>"$work/err"
python3 "$oracle" "$work/dup" "$np" 3 100 1e-9 "$(iterations_in "$work/err")" "$work/dup.txt"
grep -qx $'1\t5 5' "$work"/dup/part-* || { echo "the empty cluster 1 moved:"; cat "$work"/dup/part-*; exit 1; }

# One iteration only: not converged, still written, exit 0 and a note even with -q.
run "$np" "$bin/mpimr-kmeans" -q -k 5 --max-iterations 1 -o "$work/one" "$work/points" 2>"$work/err"
grep -q "not converged after 1 iterations" "$work/err" || { echo "no note:"; cat "$work/err"; exit 1; }
python3 "$oracle" "$work/one" "$np" 5 1 1e-9 1 "$work/points"

# Generated points: the oracle makes the same ones; np 1 gives the same assignments.
gen=(--generate 3000 --dims 4 --clusters 6 --seed "$seed")
run "$np" "$bin/mpimr-kmeans" -k 6 -o "$work/gen" --assignments "$work/gen-assign" "${gen[@]}" 2>"$work/err"
python3 "$oracle" "$work/gen" "$np" 6 100 1e-9 "$(iterations_in "$work/err")" --assignments "$work/gen-assign" \
  --generate 3000 4 6 "$seed"
run 1 "$bin/mpimr-kmeans" -q -k 6 -o "$work/gen1" --assignments "$work/gen1-assign" "${gen[@]}"
cmp <(sort -n "$work"/gen-assign/part-*) <(sort -n "$work"/gen1-assign/part-*)

# Points travel from the reader to their rank in one byte a coordinate (integers 0..255), two
# (integers -32768..32767) or eight: with every point its own cluster, one iteration gives each
# centroid back as its point, exactly (%.17g) whichever layout carried it, -0 included.
printf '%s\n' "0 255 7" "-1 256 -32768" "32767 -0 12" "32768 1 2" "0.5 1e300 -2.5e-300" "1e2 +3 0.0" \
  "0.1 -7.25 9007199254740993" "+255 000 1e1" > "$work/exact.txt"
run "$np" "$bin/mpimr-kmeans" -q -k 8 --max-iterations 1 -o "$work/exact" "$work/exact.txt" 2>"$work/err"
want=$'0\t0 255 7\n1\t-1 256 -32768\n2\t32767 -0 12\n3\t32768 1 2\n4\t0.5 1.0000000000000001e+300 -2.5e-300\n5\t100 3 0\n6\t0.10000000000000001 -7.25 9007199254740992\n7\t255 0 10'
[ "$(sort -n "$work"/exact/part-*)" = "$want" ] || { echo "points changed on the way:"; cat "$work"/exact/part-*; exit 1; }

# An existing result: refused without -f (before any work), replaced with it.
set +e
run "$np" "$bin/mpimr-kmeans" -q -k 2 -o "$work/dup" "$work/dup.txt" 2>"$work/err"
status=$?
set -e
[ "$status" -eq 1 ] && grep -q "already exists and holds a result" "$work/err" || { echo "no refusal ($status):"; cat "$work/err"; exit 1; }
run "$np" "$bin/mpimr-kmeans" -f -k 2 -o "$work/dup" "$work/dup.txt" 2>"$work/err"
python3 "$oracle" "$work/dup" "$np" 2 100 1e-9 "$(iterations_in "$work/err")" "$work/dup.txt"

# The failure and usage cases below exercise code that does not change with more ranks; they run
# at np 1 (Release) and np 2 (the sanitizer build), not again at np 3 and 4, to keep the suite short.
failure_cases_at_np_1_and_2 kmeans_app

# Malformed input: exit 1, the file named, nothing committed.
bad_input() {
  local what=$1 name=$2 content=$3
  shift 3
  mkdir -p "$work/bad"
  printf '%b' "$content" > "$work/bad/$name"
  expect_failure 1 "$what" run "$np" "$bin/mpimr-kmeans" -k 1 -o "$work/bad-out" "$@" "$work/bad/$name"
  grep -q "$name" "$work/err" || { echo "$name: the file is not named:"; cat "$work/err"; exit 1; }
  [ ! -e "$work/bad-out/_SUCCESS" ] || { echo "$name: _SUCCESS after a failure"; exit 1; }
}
bad_input "not a decimal number" word.txt '1 2\n3 abc\n'
bad_input "not a decimal number" nan.txt '1 2\nnan 2\n'
bad_input "out of range" huge.txt '1 2\n1e999 2\n'
bad_input "empty coordinate" commas.txt '1,,2\n'
bad_input "comma at the end" trailing.txt '1,2,\n'
bad_input "at byte 10: a point with 3 coordinates, but the first point has 2" dims.txt '# x y\n1 2\n3 4 5\n6 7\n'
bad_input "not 2 (--dims)" dims2.txt '1 2 3\n' --dims 2
expect_failure 1 "fewer than -k 500" run "$np" "$bin/mpimr-kmeans" -k 500 -o "$work/few" "$work/dup.txt"

# Usage: --help succeeds; bad options are usage errors (64) naming the option.
check_help NAME SYNOPSIS DESCRIPTION OUTPUT OPTIONS "EXIT STATUS" EXAMPLES
usage_error "-k K is required" -o "$work/x" "$work/points"
usage_error "-k must be" -k 0 -o "$work/x" "$work/points"
usage_error "--tolerance" -k 2 --tolerance -1 -o "$work/x" "$work/points"
usage_error "--max-iterations" -k 2 --max-iterations 0 -o "$work/x" "$work/points"
usage_error "--generate makes the points" -k 2 --generate 10 -o "$work/x" "$work/points"
usage_error "no INPUT" -k 2 -o "$work/x"
usage_error "--seed goes with --generate, --init random" -k 2 --seed 3 -o "$work/x" "$work/points"
usage_error "--clusters goes with --generate" -k 2 --clusters 3 -o "$work/x" "$work/points"
usage_error "unknown option" -k 2 --bogus -o "$work/x" "$work/points"
[ ! -e "$work/x" ] || { echo "a usage error created the output directory"; exit 1; }
echo "kmeans_app np=$np: ok"
