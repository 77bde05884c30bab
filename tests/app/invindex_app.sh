#!/usr/bin/env bash
# End-to-end test of mpimr-invindex: corpora the job has never seen (a fresh
# seed per run) are indexed at the given rank count, and invindex_oracle.py
# rebuilds the index from the raw bytes and checks every posting and the
# layout of the parts. The corpus has nested directories (with a directory
# 'b' next to a file 'b.txt', so name order and full-path order differ), a
# hidden file, an empty file, CRLF lines, a last line without a newline,
# every byte value, repeated words on a line, and lines longer than the read
# buffer with many distinct words.
# Also: np 1 and this np give the same sorted output; a run under a 16 MiB
# memory budget (spilling) gives byte-identical parts, and leaves nothing in
# its spill directory, on a text whose postings are several times the budget
# and on a hot word whose postings alone are; --help and bad options behave.
# usage: invindex_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
oracle="$(dirname "$0")/../tools/invindex_oracle.py"
work=$(mktemp -d /tmp/mpimr-invindex-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"
program=mpimr-invindex
check() { python3 "$oracle" "$@"; }

seed=$(( $(date +%s%N) % 1000000 + np ))
corpus=$work/corpus
mkdir -p "$corpus/b/c" "$corpus/d"
run "$np" "$bin/mpimr-gentext" -o "$corpus/a.txt" --size 2M --vocab 20000 --seed "$seed"
run "$np" "$bin/mpimr-gentext" -o "$corpus/b/c/deep.txt" --size 1M --vocab 300 --zipf 0.5 --seed "$((seed + 1))"
run "$np" "$bin/mpimr-gentext" -o "$corpus/b/x.txt" --size 300K --vocab 50 --words-per-line 40 --seed "$((seed + 2))"
run "$np" "$bin/mpimr-gentext" -o "$corpus/b.txt" --size 200K --vocab 2000 --words-per-line 1 --seed "$((seed + 3))"
: > "$corpus/d/empty"
echo "hidden words are skipped" > "$corpus/d/.hidden"
python3 - "$corpus/d/awkward.bin" "$seed" <<'PY'
import random, sys
rng = random.Random(int(sys.argv[2]))
word_bytes = [bytes([b]) for b in range(256) if b not in b" \t\n\v\f\r"]
def word():
    return b"".join(rng.choice(word_bytes) for _ in range(rng.choice([1, 2, 3, 8, 64, 300])))
vocabulary = [word() for _ in range(400)] + [b"caf\xc3\xa9", b"\xff\xfe", b"a\x00b", b"tab"]
lines = []
for _ in range(20000):
    kind = rng.random()
    if kind < 0.05:
        lines.append(b"")                                  # empty line
    elif kind < 0.08:
        lines.append(b" \t\v\f \r")                         # only whitespace
    else:
        words = [rng.choice(vocabulary) for _ in range(rng.randint(1, 12))]
        words += words[: rng.randint(0, 3)]                 # the same word twice on a line
        seps = [rng.choice([b" ", b"\t", b"  ", b"\v", b"\f", b"\r", b" \r "]) for _ in words]
        line = b"".join(w + s for w, s in zip(words, seps))
        lines.append(line + (b"\r" if rng.random() < 0.3 else b""))  # CRLF lines
# Lines longer than any read buffer: many distinct words (the per-line word set must grow), and
# one word repeated all along.
lines.insert(7000, b" ".join(b"long%d" % i for i in range(150000)))
lines.insert(12000, b" ".join([b"again"] * 200000) + b"\r")
body = b"\n".join(lines)
open(sys.argv[1], "wb").write(body + b"\n" + b"last line without newline \xff")
PY
printf 'named hidden file\r\nis listed\n' > "$work/.named"
inputs=("$corpus" "$work/.named")

# Defaults, then tiny lines, reads and rounds (many rounds, each word's values from several).
run "$np" "$bin/mpimr-invindex" -q -o "$work/out" "${inputs[@]}"
check "$work/out" "$np" 1000 "${inputs[@]}"
run "$np" "$bin/mpimr-invindex" -q --postings-per-line 3 --read-size 4K --round-size 64K -o "$work/out3" \
  "${inputs[@]}"
check "$work/out3" "$np" 3 "${inputs[@]}"

# The same input at np 1 and at this np: identical results.
run 1 "$bin/mpimr-invindex" -q -o "$work/one" "${inputs[@]}"
cmp <(LC_ALL=C sort "$work"/one/part-*) <(LC_ALL=C sort "$work"/out/part-*)
# --overwrite replaces the results.
run "$np" "$bin/mpimr-invindex" -q -f -o "$work/one" "$corpus/b/x.txt"
check "$work/one" "$np" 1000 "$corpus/b/x.txt"

# A 16 MiB budget: a text whose postings are several times that (a small vocabulary, so some
# words are on a good share of all lines), and a file where one word is on every one of 3 Mi
# lines (its postings, about 14 bytes each in the shuffle, are 40 MiB on one rank).
mkdir "$work/budget"
run "$np" "$bin/mpimr-gentext" -o "$work/budget/text.txt" --size 24M --vocab 2000 --seed "$((seed + 4))"
python3 - "$work/budget/hot.txt" <<'PY'
import sys
block = b"hot\n" * 14 + b"hot cold\n" + b"cold hot hot\r\n"
open(sys.argv[1], "wb").write(block * (3 * 1024 * 1024 // 16))
PY
mkdir "$work/spill"
run "$np" "$bin/mpimr-invindex" -q -o "$work/full" "$work/budget"
run "$np" "$bin/mpimr-invindex" -q --memory 16M --spill-dir "$work/spill" --stats "$work/budget.json" \
  -o "$work/spilled" "$work/budget"
for part in "$work"/full/part-*; do
  cmp "$part" "$work/spilled/$(basename "$part")"
done
check "$work/spilled" "$np" 1000 "$work/budget"
left=$(ls -A "$work/spill")
[ -z "$left" ] || { echo "left in the spill directory: $left"; exit 1; }
python3 - "$work/budget.json" <<'PY'
import json, sys
ranks = json.load(open(sys.argv[1]))["ranks"]
if sum(r.get("spill_runs", 0) for r in ranks) == 0:
    sys.exit("the 16M run spilled nothing (spill_runs by rank: %s)" % [r.get("spill_runs") for r in ranks])
PY

# Usage: --help succeeds; malformed or missing options are usage errors (64), not crashes.
run "$np" "$bin/mpimr-invindex" --help >"$work/help"  # no pipe: an early grep exit would SIGPIPE mpirun
grep -q NAME "$work/help" && grep -q SYNOPSIS "$work/help" || { echo "--help lacks NAME or SYNOPSIS"; exit 1; }
usage_error postings-per-line --postings-per-line 0 -o "$work/x" "$corpus"
usage_error memory --memory 1K -o "$work/x" "$corpus"
usage_error "unknown option" --bogus -o "$work/x" "$corpus"
usage_error "-o OUTDIR" "$corpus"
[ ! -e "$work/x" ] || { echo "a usage error created the output directory"; exit 1; }
echo "invindex_app np=$np: ok"
