#!/usr/bin/env bash
# End-to-end test of the programs themselves: mpimr-gentext makes corpora the
# job has never seen (a fresh seed per run), mpimr-wordcount counts them at
# the given rank count (also with the pairwise shuffle transport, with
# shared memory in groups of ranks as on several nodes, and with shared
# memory unavailable), and
# wc_oracle checks the parts against its own count.
# Also: the same corpus gives byte-identical sorted output at every rank
# count tried, --trace writes a valid timeline, and --help / bad options behave.
# usage: wordcount_app.sh BIN_DIR ORACLE NP
set -euo pipefail
bin=$1 oracle=$2 np=$3
work=$(mktemp -d /tmp/mpimr-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"  # run NP PROGRAM ARGS...

seed=$(( $(date +%s%N) % 1000000 + np ))
run "$np" "$bin/mpimr-gentext" -o "$work/zipf.txt" --size 24M --vocab 200000 --zipf 1.0 --seed "$seed"
run "$np" "$bin/mpimr-gentext" -o "$work/flat.txt" --size 3M --vocab 1000 --zipf 0.2 --seed "$((seed + 1))" --words-per-line 1
for mode in "" "--no-combiner"; do
  rm -rf "$work/out"
  run "$np" "$bin/mpimr-wordcount" -q $mode --round-size 256K -o "$work/out" "$work/zipf.txt" "$work/flat.txt"
  "$oracle" "$work/out" "$np" "$work/zipf.txt" "$work/flat.txt"
done
# The demo's top words (scripts/top-words.sh) over that output of hundreds of thousands of lines:
# it exits 0 (no SIGPIPE under pipefail) and prints lines of the output with the 10 highest counts.
bash "$(dirname "$0")/../../scripts/top-words.sh" "$work/out" 10 > "$work/top.txt"
python3 - "$work/top.txt" "$work"/out/part-* <<'PY'
import sys
top = [line.rstrip("\n") for line in open(sys.argv[1], encoding="latin-1")]
lines = [line.rstrip("\n") for path in sys.argv[2:] for line in open(path, encoding="latin-1")]
highest = sorted((int(line.rsplit("\t", 1)[1]) for line in lines), reverse=True)[:10]
assert len(top) == 10, f"top-words printed {len(top)} lines"
assert set(top) <= set(lines), "top-words printed a line that is not in the output"
assert [int(line.rsplit("\t", 1)[1]) for line in top] == highest, "top-words: not the 10 highest counts in order"
PY
# Bytes the vector tokenizer must classify: every byte value, each whitespace byte alone and in
# runs, CRLF, words of 1 to 300 bytes (so words cross 64-byte blocks and end on their edges), and
# no final newline; counted with a map-side table small enough to be sent many times.
python3 - "$work/awkward.bin" "$seed" <<'PY'
import random, sys
rng = random.Random(int(sys.argv[2]))
space = [b" ", b"\t", b"\n", b"\v", b"\f", b"\r", b"\r\n", b"  \t\n"]
word_bytes = [bytes([b]) for b in range(256) if b not in b" \t\n\v\f\r"]
vocabulary = [b"".join(rng.choice(word_bytes) for _ in range(rng.choice([1, 2, 7, 8, 9, 63, 64, 65, 300])))
              for _ in range(3000)]
out = []
size = 0
while size < (2 << 20):
    piece = rng.choice(vocabulary) + rng.choice(space)
    out.append(piece)
    size += len(piece)
out.append(rng.choice(vocabulary))
open(sys.argv[1], "wb").write(b"".join(out))
PY
rm -rf "$work/out"
run "$np" "$bin/mpimr-wordcount" -q --combine-size 64K --round-size 64K --read-size 4K -o "$work/out" \
  "$work/awkward.bin"
"$oracle" "$work/out" "$np" "$work/awkward.bin"

# The pairwise transport with the narrowest window, checked the same way.
rm -rf "$work/out"
run "$np" "$bin/mpimr-wordcount" -q --transport pairwise --peer-window 1 --round-size 256K -o "$work/out" \
  "$work/zipf.txt" "$work/flat.txt"
"$oracle" "$work/out" "$np" "$work/zipf.txt" "$work/flat.txt"

# Shared memory in groups of ceil(np/2) ranks, as if the ranks were on two nodes: each rank reads
# its group's bytes in place (--verbose says how many ranks' it reads) and gets the rest as messages.
rm -rf "$work/out"
group=$(( (np + 1) / 2 ))
run "$np" "$bin/mpimr-wordcount" --verbose --ranks-per-node "$group" --round-size 256K -o "$work/out" \
  "$work/zipf.txt" "$work/flat.txt" > "$work/log" 2>&1
grep -q "transport shared-memory (rank 0 reads $group ranks' bytes in place)" "$work/log" ||
  { echo "--ranks-per-node $group: not in the verbose line:"; cat "$work/log"; exit 1; }
"$oracle" "$work/out" "$np" "$work/zipf.txt" "$work/flat.txt"

# The default transport (shared memory) where it cannot be set up, under an address-space limit
# below its reservation: --verbose says why, the job sends messages instead, and counts the same.
# (Not under AddressSanitizer, whose shadow memory needs more address space than any limit allows.)
# (ldd into a file: grep -q in a pipe can end it early, and pipefail would count ldd's SIGPIPE.)
ldd "$bin/mpimr-wordcount" > "$work/ldd.txt"
if ! grep -q libasan "$work/ldd.txt"; then
  rm -rf "$work/out"
  (ulimit -v 5000000 && run "$np" "$bin/mpimr-wordcount" --verbose --round-size 256K -o "$work/out" \
    "$work/zipf.txt" "$work/flat.txt" > "$work/log" 2>&1)
  grep -q "transport shared-memory (rank 0 reads 0 ranks' bytes in place: mapping a [0-9]*-byte segment failed" \
    "$work/log"
  "$oracle" "$work/out" "$np" "$work/zipf.txt" "$work/flat.txt"
fi

# The same input at np 1 and at this np: identical results.
rm -rf "$work/one"
run 1 "$bin/mpimr-wordcount" -q -o "$work/one" "$work/flat.txt"
rm -rf "$work/many"
run "$np" "$bin/mpimr-wordcount" -q --stats "$work/stats.json" -o "$work/many" "$work/flat.txt"
cmp <(LC_ALL=C sort "$work"/one/part-*) <(LC_ALL=C sort "$work"/many/part-*)
grep -q '"nranks": '"$np" "$work/stats.json"

# The timeline: valid trace-event JSON with the expected spans on every rank.
rm -rf "$work/traced"
run "$np" "$bin/mpimr-wordcount" -q --round-size 64K --stats "$work/traced.json" --trace "$work/trace.json" \
  -o "$work/traced" "$work/zipf.txt"
python3 "$(dirname "$0")/../tools/check_trace.py" "$work/trace.json" "$work/traced.json"

# Usage: --help succeeds, a malformed option value is a usage error (64), not a crash.
run "$np" "$bin/mpimr-wordcount" --help >"$work/help" && grep -q SYNOPSIS "$work/help"  # no pipe: an early grep exit would SIGPIPE mpirun
set +e
run "$np" "$bin/mpimr-wordcount" --round-size banana -o "$work/x" "$work/flat.txt" 2> "$work/err"
status=$?
set -e
[ "$status" -ne 0 ] && grep -q "round-size" "$work/err" || { echo "bad option not rejected (status $status)"; exit 1; }
set +e
run "$np" "$bin/mpimr-wordcount" --transport carrier-pigeon -o "$work/x" "$work/flat.txt" 2> "$work/err"
status=$?
set -e
[ "$status" -ne 0 ] && grep -q "transport" "$work/err" || { echo "bad --transport not rejected (status $status)"; exit 1; }
set +e
run "$np" "$bin/mpimr-wordcount" --ranks-per-node -1 -o "$work/x" "$work/flat.txt" 2> "$work/err"
status=$?
set -e
[ "$status" -eq 64 ] && grep -q "ranks-per-node" "$work/err" || { echo "bad --ranks-per-node not rejected (status $status)"; exit 1; }
# An existing output directory is refused with a message naming it, and no _SUCCESS appears in it.
set +e
run "$np" "$bin/mpimr-wordcount" -q -o "$work/many" "$work/flat.txt" 2> "$work/err"
status=$?
set -e
[ "$status" -ne 0 ] && grep -q "$work/many" "$work/err" || { echo "existing output not refused"; exit 1; }
echo "wordcount_app np=$np: ok"
