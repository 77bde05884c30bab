#!/usr/bin/env bash
# End-to-end test of mpimr-cc against cc_oracle.py (union-find for the
# components, a simulation of label propagation for the iteration count):
# edge lists in several files and a directory (comments with '#' and '%',
# blank lines, TABs, CRLF, no newline at the end, a hidden file that must be
# skipped) holding a long chain with shuffled ids (many iterations), a star,
# random components, self-loops, repeated and reversed edges, and ids up to
# 2^40 and 2^64-1; --vertices adds isolated vertices; np 1 gives the same
# output; too few --max-iterations fails (exit 1, nothing written); -f over a
# result and a refusal without it; malformed lines fail naming the file
# (exit 1, no _SUCCESS); usage errors exit 64.
# usage: cc_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
oracle="$(dirname "$0")/../tools/cc_oracle.py"
work=$(mktemp -d /tmp/mpimr-cc-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# mpirun waits a second before killing the ranks of a job that exited non-zero; they have exited.
export OMPI_MCA_odls_base_sigkill_timeout=0
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"
program=mpimr-cc
# "COMPONENTS ITERATIONS" from the program's summary on stderr.
summary_in() { sed -n 's/.* in \([0-9]*\) components after \([0-9]*\) iterations.*/\1 \2/p' "$1"; }
check() {
  local out=$1 err=$2 vertices=$3
  shift 3
  local found
  found=$(summary_in "$err")
  [ -n "$found" ] || { echo "no summary:"; cat "$err"; exit 1; }
  # shellcheck disable=SC2086
  python3 "$oracle" "$out" "$np" "$vertices" $found "$@"
}

seed=$(( $(date +%s%N) % 1000000 + np ))
mkdir -p "$work/graph/more"
python3 - "$work/graph" "$seed" <<'PY'
import random, sys
root, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
edges = []
# A chain of 40 vertices with shuffled ids between 1000 and 1999: its smallest id is somewhere
# inside, so the labels need up to 39 steps to spread.
chain = rng.sample(range(1000, 2000), 40)
edges += list(zip(chain, chain[1:]))
# A star: centre 5000, 3000 leaves.
edges += [(5000, 5001 + i) if i % 2 else (5001 + i, 5000) for i in range(3000)]
# Random sparse components among 20000..20999, and big ids: 2^40 and around, 2^64-1.
for _ in range(700):
    edges.append((rng.randrange(20000, 21000), rng.randrange(20000, 21000)))
big = [2**40, 2**40 + 1, 2**40 - 3, 2**64 - 1, 2**63]
edges += [(big[0], big[1]), (big[1], big[2]), (big[3], big[4]), (big[3], 7)]
# Self-loops (one on a vertex with no other edge), repeats, both directions.
edges += [(42, 42), (1000 + 1, 1000 + 1), (5000, 5000)]
edges += rng.sample(edges, 300)
edges += [(b, a) for a, b in rng.sample(edges, 300)]
rng.shuffle(edges)
def text(a, b, i):
    sep = [" ", "\t", "  \t "][i % 3]
    return ("  " if i % 11 == 0 else "") + "%d%s%d" % (a, sep, b) + (" \t" if i % 13 == 0 else "")
chunks = [edges[:1500], edges[1500:3000], edges[3000:]]
with open(root + "/a.txt", "w") as f:
    f.write("% Matrix-Market-like header\n# and a comment\n\n")
    for i, (a, b) in enumerate(chunks[0]):
        f.write(text(a, b, i) + ("\r\n" if i % 17 == 0 else "\n"))
        if i % 100 == 0: f.write("   # indented comment\n\t\n")
with open(root + "/more/b.txt", "w") as f:
    f.write("\n".join(text(a, b, i) for i, (a, b) in enumerate(chunks[1])))  # no final newline
with open(root + "/more/c.txt", "w") as f:
    f.write("".join(text(a, b, i) + "\n" for i, (a, b) in enumerate(chunks[2])))
with open(root + "/more/.hidden", "w") as f:
    f.write("1 2 3\n")  # skipped: malformed
open(root + "/more/empty.txt", "w").close()
PY
printf '0 1\n1 2\n' > "$work/small.txt"

run "$np" "$bin/mpimr-cc" -o "$work/out" "$work/graph" "$work/small.txt" 2>"$work/err"
check "$work/out" "$work/err" 0 "$work/graph" "$work/small.txt"
# --vertices: 0..2999 and so 5000's star partly, plus isolated ones (3..999 have no edges).
run "$np" "$bin/mpimr-cc" -o "$work/iso" --vertices 3000 "$work/graph" "$work/small.txt" 2>"$work/err"
check "$work/iso" "$work/err" 3000 "$work/graph" "$work/small.txt"
grep -qx $'2999\t2999' "$work"/iso/part-* || { echo "isolated vertex 2999 missing"; exit 1; }
# Tiny rounds (many shuffle rounds a step) and np 1: the same lines.
run "$np" "$bin/mpimr-cc" -q --round-size 4K -o "$work/small-rounds" "$work/graph" "$work/small.txt"
cmp <(sort "$work"/out/part-*) <(sort "$work"/small-rounds/part-*)
run 1 "$bin/mpimr-cc" -q -o "$work/one" "$work/graph" "$work/small.txt"
cmp <(sort "$work"/out/part-*) <(sort "$work"/one/part-*)

# A chain 0-1-...-80 in order: 81 iterations; --max-iterations 80 is one too few.
python3 -c 'print("\n".join("%d %d" % (i + 1, i) for i in range(80)))' > "$work/chain.txt"
run "$np" "$bin/mpimr-cc" -o "$work/chain" --max-iterations 81 "$work/chain.txt" 2>"$work/err"
check "$work/chain" "$work/err" 0 "$work/chain.txt"
grep -q "after 81 iterations" "$work/err" || { echo "not 81 iterations:"; cat "$work/err"; exit 1; }
set +e
run "$np" "$bin/mpimr-cc" -o "$work/short" --max-iterations 80 "$work/chain.txt" 2>"$work/err"
status=$?
set -e
[ "$status" -eq 1 ] && grep -q "not converged after 80 iterations" "$work/err" ||
  { echo "--max-iterations 80: status $status:"; cat "$work/err"; exit 1; }
[ ! -e "$work/short/_SUCCESS" ] || { echo "_SUCCESS without convergence"; exit 1; }

# An existing result: refused without -f, replaced with it.
set +e
run "$np" "$bin/mpimr-cc" -q -o "$work/chain" "$work/small.txt" 2>"$work/err"
status=$?
set -e
[ "$status" -eq 1 ] && grep -q "already exists and holds a result" "$work/err" || { echo "no refusal ($status):"; cat "$work/err"; exit 1; }
run "$np" "$bin/mpimr-cc" -f -o "$work/chain" "$work/small.txt" 2>"$work/err"
check "$work/chain" "$work/err" 0 "$work/small.txt"

# The failure and usage cases below exercise code that does not change with more ranks; they run
# at np 1 (Release) and np 2 (the sanitizer build), not again at np 3 and 4, to keep the suite short.
failure_cases_at_np_1_and_2 cc_app

# Malformed lines: exit 1, the file and the line's byte offset named, nothing committed.
bad_input() {
  local what=$1 name=$2 content=$3
  mkdir -p "$work/bad"
  printf '%b' "$content" > "$work/bad/$name"
  expect_failure 1 "$what" run "$np" "$bin/mpimr-cc" -o "$work/bad-out" "$work/small.txt" "$work/bad/$name"
  grep -q "$name' at byte" "$work/err" || { echo "$name: the file and byte are not named:"; cat "$work/err"; exit 1; }
  [ ! -e "$work/bad-out/_SUCCESS" ] || { echo "$name: _SUCCESS after a failure"; exit 1; }
}
bad_input "this line has one" one.txt '1 2\n3\n'
bad_input "more than two fields" three.txt '1 2\n3 4 5\n'
bad_input "not a vertex id" word.txt '1 2\n3 x\n'
bad_input "not a vertex id" sign.txt '# c\n-1 2\n'
bad_input "not a vertex id" comma.txt '1,2\n'
bad_input "larger than 2^64-1" big.txt '18446744073709551616 1\n'
grep -q "big.txt' at byte 0" "$work/err" || { echo "no byte offset:"; cat "$work/err"; exit 1; }

# Usage: --help succeeds; bad options are usage errors (64) naming the option.
check_help NAME SYNOPSIS DESCRIPTION OUTPUT OPTIONS "EXIT STATUS" EXAMPLES
usage_error "--vertices" --vertices abc -o "$work/x" "$work/small.txt"
usage_error "--max-iterations" --max-iterations 0 -o "$work/x" "$work/small.txt"
usage_error "unknown option" --stats s.json -o "$work/x" "$work/small.txt"
usage_error "-o OUTDIR" "$work/small.txt"
usage_error "no INPUT" -o "$work/x"
[ ! -e "$work/x" ] || { echo "a usage error created the output directory"; exit 1; }
echo "cc_app np=$np: ok"
