#!/usr/bin/env bash
# End-to-end test of mpimr-sort and --global-order at the given rank count,
# against GNU sort in the C locale as the oracle:
#   - gensort records with uniform, skewed (50 keys) and all-equal keys: the
#     parts, concatenated in name order, are byte-identical to LC_ALL=C sort
#     of the input; mpimr-valsort agrees on order, count and checksum; the
#     largest part is within 1.1 of the mean (ties are spread, so even equal
#     keys balance);
#   - --lines on text with every byte value, CR, empty and duplicate lines, a
#     long line, a last line without LF, and two files: equal to sort(1);
#   - a 16 MiB budget: the sort spills and merges and still matches;
#   - empty input; a malformed record fails naming the file and offset, with
#     no _SUCCESS;
#   - mpimr-wordcount and mpimr-invindex with --global-order: the parts in
#     order are sorted, and hold what the hash-partitioned run holds;
#   - --help, and usage errors.
# usage: sort_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
work=$(mktemp -d /tmp/mpimr-sort-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"  # run NP PROGRAM ARGS...
fail() { echo "FAIL: $*" >&2; exit 1; }
seed=$(( $(date +%s%N) % 1000000 + np ))

# The parts of OUTDIR, in name order, must equal LC_ALL=C sort of the inputs.
same_as_sort() {
  local out=$1; shift
  [ -f "$out/_SUCCESS" ] || fail "$out has no _SUCCESS"
  cat "$out"/part-* > "$work/got"
  LC_ALL=C sort "$@" > "$work/want"
  cmp "$work/got" "$work/want" || fail "$out differs from LC_ALL=C sort of $*"
}

# The largest part is at most 1.1 times the mean part (np > 1), in lines.
balanced() {
  local out=$1
  [ "$np" -gt 1 ] || return 0
  for part in "$out"/part-*; do wc -l < "$part"; done | awk -v out="$out" '
    { total += $1; if ($1 > most) most = $1; n++ }
    END { mean = total / n; printf "%s: largest part %.3f of the mean\n", out, (mean ? most / mean : 1);
          if (mean && most > 1.1 * mean) exit 1 }' || fail "$out is unbalanced"
}

field() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }

# Records: uniform, skewed and all-equal keys.
for keys in uniform skewed equal; do
  input=$work/$keys.dat
  run "$np" "$bin/mpimr-gensort" -n 120000 --keys "$keys" --distinct 50 --seed "$seed" "$input"
  run "$np" "$bin/mpimr-sort" -q -o "$work/$keys.out" "$input"
  same_as_sort "$work/$keys.out" "$input"
  balanced "$work/$keys.out"
  run "$np" "$bin/mpimr-valsort" "$work/$keys.out" > "$work/$keys.sorted.txt" || fail "valsort says $keys is not sorted"
  set +e
  run "$np" "$bin/mpimr-valsort" "$input" > "$work/$keys.input.txt"
  set -e
  [ "$(field records "$work/$keys.sorted.txt")" = 120000 ] || fail "$keys: record count"
  [ "$(field checksum "$work/$keys.sorted.txt")" = "$(field checksum "$work/$keys.input.txt")" ] ||
    fail "$keys: checksum of the output differs from the input's"
done

# Text lines, two files, bytes of every kind.
python3 - "$work/text1" "$work/text2" "$seed" <<'PY'
import random, sys
rng = random.Random(int(sys.argv[3]))
alphabet = [bytes([b]) for b in range(256) if b != 10]
common = [b"", b"a", b"a\r", b"ab", b"a\x00", b"\xff", b"\x00", b" ", b"b\tc"]
def line():
    if rng.random() < 0.3:
        return rng.choice(common)
    return b"".join(rng.choice(alphabet) for _ in range(rng.choice([1, 2, 3, 5, 9, 17, 40])))
for path in sys.argv[1:3]:
    lines = [line() for _ in range(30000)]
    lines.insert(100, b"x" * 300000)             # longer than the read buffer
    open(path, "wb").write(b"\n".join(lines))    # the last line has no LF
PY
run "$np" "$bin/mpimr-sort" -q --lines -o "$work/text.out" "$work/text1" "$work/text2"
same_as_sort "$work/text.out" "$work/text1" "$work/text2"
balanced "$work/text.out"
run "$np" "$bin/mpimr-valsort" --lines "$work/text.out" > /dev/null || fail "valsort --lines says the text is not sorted"

# A budget far below each rank's share: sorted runs are spilled and merged.
records=$(( 200000 * np ))
run "$np" "$bin/mpimr-gensort" -n "$records" --seed "$((seed + 1))" "$work/big.dat"
run "$np" "$bin/mpimr-sort" -q --memory 16M --spill-dir "$work" --stats "$work/big.json" -o "$work/big.out" "$work/big.dat"
same_as_sort "$work/big.out" "$work/big.dat"
python3 - "$work/big.json" <<'PY' || fail "the 16 MiB sort did not spill"
import json, sys
ranks = json.load(open(sys.argv[1]))["ranks"]
assert all(r["spill_runs"] > 0 for r in ranks), [r["spill_runs"] for r in ranks]
assert all(r["peak_memory_bytes"] <= 16 << 20 for r in ranks)
PY
[ -z "$(ls -A "$work" | grep mpimr-spill || true)" ] || fail "a spill directory was left behind"

# Empty input.
: > "$work/empty.dat"
run "$np" "$bin/mpimr-sort" -q -o "$work/empty.out" "$work/empty.dat"
[ -f "$work/empty.out/_SUCCESS" ] && [ -z "$(cat "$work/empty.out"/part-*)" ] || fail "empty input"
# (Output into files, not a pipe: grep -q's early exit could SIGPIPE mpirun, which pipefail counts.)
run "$np" "$bin/mpimr-valsort" "$work/empty.out" > "$work/valsort.txt" || fail "valsort of empty output"
grep -qx "records: 0" "$work/valsort.txt" || fail "valsort of empty output"

# A malformed record (a short line in the middle) fails the job on every rank, naming the file.
{ head -c 500000 "$work/uniform.dat"; printf 'short line\r\n'; tail -c 500000 "$work/uniform.dat"; } > "$work/bad.dat"
set +e
run "$np" "$bin/mpimr-sort" -q -o "$work/bad.out" "$work/bad.dat" 2> "$work/bad.err"
status=$?
set -e
[ "$status" -ne 0 ] || fail "a malformed record was accepted"
grep -q "input '$work/bad.dat': the record at byte 500000 is not a 100-byte" "$work/bad.err" ||
  { cat "$work/bad.err"; fail "the error does not name the file and offset"; }
[ ! -e "$work/bad.out/_SUCCESS" ] || fail "_SUCCESS after a failed sort"

# --global-order on the other programs: the parts in order are sorted and complete.
run "$np" "$bin/mpimr-gentext" -o "$work/corpus.txt" --size 3M --vocab 30000 --seed "$seed"
run "$np" "$bin/mpimr-wordcount" -q -o "$work/wc.hash" "$work/corpus.txt"
run "$np" "$bin/mpimr-wordcount" -q --global-order -o "$work/wc.global" "$work/corpus.txt"
cat "$work/wc.global"/part-* > "$work/wc.global.all"
LC_ALL=C sort -c -t "$(printf '\t')" -k1,1 "$work/wc.global.all" || fail "wordcount --global-order is not sorted"
cat "$work/wc.hash"/part-* | LC_ALL=C sort -t "$(printf '\t')" -k1,1 | cmp - "$work/wc.global.all" ||
  fail "wordcount --global-order counts differ"
run "$np" "$bin/mpimr-invindex" -q -o "$work/ix.hash" "$work/corpus.txt"
run "$np" "$bin/mpimr-invindex" -q --global-order --memory 16M -o "$work/ix.global" "$work/corpus.txt"
cat "$work/ix.global"/part-* > "$work/ix.global.all"
LC_ALL=C sort -s -c -t "$(printf '\t')" -k1,1 "$work/ix.global.all" || fail "invindex --global-order is not sorted"
cat "$work/ix.hash"/part-* | LC_ALL=C sort -s -t "$(printf '\t')" -k1,1 | cmp - "$work/ix.global.all" ||
  fail "invindex --global-order postings differ"

# Usage.
run 1 "$bin/mpimr-sort" --help > "$work/help.txt" || fail "--help"
grep -q "mpimr-sort - sort records" "$work/help.txt" || fail "--help"
set +e
run 1 "$bin/mpimr-sort" "$work/uniform.dat" 2> /dev/null; [ $? -eq 64 ] || fail "missing -o is not a usage error"
run 1 "$bin/mpimr-sort" -o "$work/x" 2> /dev/null; [ $? -eq 64 ] || fail "missing input is not a usage error"
run 1 "$bin/mpimr-sort" --bogus -o "$work/x" "$work/uniform.dat" 2> /dev/null; [ $? -eq 64 ] || fail "unknown option"
set -e
echo "sort_app: np $np passed"
