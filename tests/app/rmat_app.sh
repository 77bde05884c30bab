#!/usr/bin/env bash
# End-to-end test of mpimr-rmat: graphs made at the given rank count (a fresh seed per run) are
# checked by rmat_oracle.py, which remakes every edge from the generator's description and
# compares the exact multiset, the layout of the parts and the ranges of the ids: with the
# defaults, and with other probabilities (d = 0 included) and edge factors. Also: the same
# seed at np 1 and at this np gives the same sorted edges, another seed other edges;
# --overwrite replaces a graph; --help; bad options are usage errors (64) that create nothing.
# usage: rmat_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
oracle="$(dirname "$0")/../tools/rmat_oracle.py"
work=$(mktemp -d /tmp/mpimr-rmat-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"

seed=$(( $(date +%s%N) % 1000000 + np ))

# The defaults (a 0.57, b 0.19, c 0.19, edge factor 16).
run "$np" "$bin/mpimr-rmat" -q --scale 9 --seed "$seed" -o "$work/g9"
python3 "$oracle" "$work/g9" "$np" 9 16 0.57 0.19 0.19 "$seed"
# Other probabilities, edge factors and scales, d = 0 among them (a + b + c = 1).
run "$np" "$bin/mpimr-rmat" -q --scale 10 --edge-factor 4 -a 0.45 -b 0.15 -c 0.25 --seed "$((seed + 1))" \
  -o "$work/g10"
python3 "$oracle" "$work/g10" "$np" 10 4 0.45 0.15 0.25 "$((seed + 1))"
run "$np" "$bin/mpimr-rmat" -q --scale 3 --edge-factor 100 -a 0.25 -b 0.25 -c 0.5 --seed 0 -o "$work/g3"
python3 "$oracle" "$work/g3" "$np" 3 100 0.25 0.25 0.5 0
run "$np" "$bin/mpimr-rmat" -q --scale 1 --edge-factor 1 --seed 18446744073709551615 -o "$work/g1"
python3 "$oracle" "$work/g1" "$np" 1 1 0.57 0.19 0.19 18446744073709551615

# The same seed at np 1: the same edges; another seed: other edges.
run 1 "$bin/mpimr-rmat" -q --scale 9 --seed "$seed" -o "$work/one"
cmp <(LC_ALL=C sort "$work"/one/part-*) <(LC_ALL=C sort "$work"/g9/part-*)
run "$np" "$bin/mpimr-rmat" -q --scale 9 --seed "$((seed + 2))" -o "$work/other"
if cmp -s <(LC_ALL=C sort "$work"/other/part-*) <(LC_ALL=C sort "$work"/g9/part-*); then
  echo "seeds $seed and $((seed + 2)) made the same graph"
  exit 1
fi
# --overwrite replaces the graph (without it, the existing results are refused: checked below).
cp -r "$work/other" "$work/kept"
run "$np" "$bin/mpimr-rmat" -q -f --scale 9 --seed "$seed" -o "$work/other"
cmp <(LC_ALL=C sort "$work"/other/part-*) <(LC_ALL=C sort "$work"/g9/part-*)

# The failure and usage cases below exercise code that does not change with more ranks; they run
# at np 1 (Release) and np 2 (the sanitizer build), not again at np 3 and 4, to keep the suite short.
failure_cases_at_np_1_and_2 rmat_app

# Usage: --help succeeds; malformed or missing options are usage errors (64), not crashes.
run "$np" "$bin/mpimr-rmat" --help >"$work/help"  # no pipe: an early grep exit would SIGPIPE mpirun
for section in NAME SYNOPSIS DESCRIPTION OUTPUT OPTIONS "EXIT STATUS" EXAMPLES self-loops; do
  grep -q "$section" "$work/help" || { echo "--help lacks $section"; exit 1; }
done
# A failing mpirun takes seconds to wind down, so the cases run side by side.
cases=(
  "-a must be|-a 1.5 --scale 8"
  "-b must be|-b -0.1 --scale 8"
  "-c must be|-c nan --scale 8"
  "add up to at most 1|-a 0.5 -b 0.3 -c 0.3 --scale 8"
  "scale must be|--scale 0"
  "scale must be|--scale abc"
  "scale must be|--scale 41"
  "scale N is required|"
  "edge-factor must be|--edge-factor 0 --scale 8"
  "seed must be|--seed -1 --scale 8"
  "unexpected operand|--scale 8 input.txt"
  "unknown option|--bogus --scale 8"
)
for i in "${!cases[@]}"; do
  read -r -a args <<<"${cases[$i]#*|}"
  (set +e; run "$np" "$bin/mpimr-rmat" "${args[@]}" -o "$work/x" >/dev/null 2>"$work/err$i"; echo $? >"$work/status$i") &
done
(set +e; run "$np" "$bin/mpimr-rmat" --scale 8 >/dev/null 2>"$work/err-o"; echo $? >"$work/status-o") &
(set +e; run "$np" "$bin/mpimr-rmat" -q --scale 9 --seed "$seed" -o "$work/kept" >/dev/null 2>"$work/err-kept"
 echo $? >"$work/status-kept") &
wait
[ "$(cat "$work/status-kept")" -eq 1 ] && grep -q "already|exists" -E "$work/err-kept" ||
  { echo "an existing output directory without -f: status $(cat "$work/status-kept")"; cat "$work/err-kept"; exit 1; }
cmp <(LC_ALL=C sort "$work"/kept/part-*) <(LC_ALL=C sort "$work"/other/part-*) >/dev/null &&
  { echo "an existing output directory was overwritten without -f"; exit 1; }
cases+=("-o OUTDIR|--scale 8 (no -o)")
cp "$work/err-o" "$work/err$((${#cases[@]} - 1))"
cp "$work/status-o" "$work/status$((${#cases[@]} - 1))"
for i in "${!cases[@]}"; do
  what=${cases[$i]%%|*}
  status=$(cat "$work/status$i")
  [ "$status" -eq 64 ] && grep -q -- "$what" "$work/err$i" ||
    { echo "${cases[$i]#*|} : status $status, want 64 and a message about '$what':"; cat "$work/err$i"; exit 1; }
done
[ ! -e "$work/x" ] || { echo "a usage error created the output directory"; exit 1; }
echo "rmat_app np=$np: ok"
