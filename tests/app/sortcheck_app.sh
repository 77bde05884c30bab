#!/usr/bin/env bash
# mpimr-gensort and mpimr-valsort end to end, against independent oracles
# (cmp, grep, awk, seq, sort, uniq, split):
# - gensort: the file at NP ranks is byte-identical to one rank's, 100 bytes
#   a record, every record in the gensort -a layout with consecutive row ids
#   (printed by seq) and the filler that follows from them; -b continues the
#   sequence, also across 2^64; skewed keys repeat, equal keys are one key; a
#   file that cannot be written fails on every rank and leaves nothing.
# - valsort: LC_ALL=C sort's output is sorted, with the record count, the
#   duplicate keys counted by uniq, and the checksum of the unsorted input
#   (which is NOT SORTED, at the first record out of order); part-* files of
#   a directory taken in name order; a swapped pair found at its record;
#   truncated and malformed records (exit 2, naming the file and offset);
#   --lines against LC_ALL=C sort; empty input; expectations; usage.
# usage: sortcheck_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
work=$(mktemp -d /tmp/mpimr-sortcheck-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C
# Many runs here end in a failure on purpose, all ranks exiting with it; mpirun would give each
# rank a second to exit by itself before it kills it, which the ranks have always done already.
export OMPI_MCA_odls_base_sigkill_timeout=0
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"  # run NP PROGRAM ARGS...
fail() {
  echo "sortcheck_app np=$np: $*"
  for f in "$work/out" "$work/err"; do [ -f "$f" ] && sed 's/^/  | /' "$f"; done
  exit 1
}
# expect STATUS NP PROGRAM ARGS...: runs PROGRAM at NP ranks, stdout to out and stderr to err.
expect() {
  local want=$1 ranks=$2 program=$3 status=0
  shift 3
  run "$ranks" "$bin/$program" "$@" > "$work/out" 2> "$work/err" || status=$?
  [ "$status" -eq "$want" ] || fail "$program $*: exit status $status, expected $want"
  # Under the sanitizers an error also exits 1, which some runs here expect: look for the report.
  ! grep -q -E "runtime error:|ERROR: AddressSanitizer" "$work/err" || fail "$program $*: sanitizer report"
}
# The value of a field of valsort's report in out.
field() { sed -n "s/^$1: //p" "$work/out"; }
seed=$(($(date +%s%N) % 1000000 + np))

# ---- gensort ----------------------------------------------------------------

records=20000
expect 0 "$np" mpimr-gensort --seed "$seed" -n "$records" "$work/uniform.dat"
expect 0 1 mpimr-gensort --seed "$seed" -n 12000 "$work/head.dat"
expect 0 "$np" mpimr-gensort --seed "$seed" -b 12000 --records 8000 "$work/tail.dat"
[ "$(stat -c %s "$work/uniform.dat")" -eq $((100 * records)) ] || fail "uniform.dat is not 100 bytes a record"
cmp "$work/head.dat" <(head -c 1200000 "$work/uniform.dat") || fail "np $np and np 1 differ"
cat "$work/head.dat" "$work/tail.dat" | cmp - "$work/uniform.dat" || fail "-b 12000 does not continue -n 12000"
# The layout: key, two spaces, 32 hex digits, two spaces, 52 hex digits, CR LF.
layout=$'^[ -~]{10}  [0-9A-F]{32}  [0-9A-F]{52}\r$'
bad=$(grep -c -v -E "$layout" "$work/uniform.dat" || true)
[ "$bad" -eq 0 ] && [ "$(wc -l < "$work/uniform.dat")" -eq "$records" ] || fail "$bad records break the layout"
# Row ids 0, 1, ... in order, and the filler: the id's last 13 digits, each four times.
cmp <(cut -c13-44 "$work/uniform.dat") <(seq 0 $((records - 1)) | xargs printf '%032X\n') || fail "row ids"
awk '{ id = substr($0, 13, 32); want = ""
       for (i = 20; i <= 32; i++) { d = substr(id, i, 1); want = want d d d d }
       if (substr($0, 47, 52) != want) { print "filler of record " NR; exit 1 } }' "$work/uniform.dat" ||
  fail "filler does not follow the row id"
# Uniform keys: nearly all distinct, and every printable character appears.
[ "$(cut -c1-10 "$work/uniform.dat" | sort -u | wc -l)" -ge $((records - 2)) ] || fail "uniform keys repeat"
[ "$(cut -c1-10 "$work/uniform.dat" | fold -w1 | sort -u | wc -l)" -eq 95 ] || fail "uniform keys miss characters"

# Skewed keys repeat (at most --distinct of them); equal keys are one; row ids carry past 2^64 - 1.
expect 0 "$np" mpimr-gensort --seed "$seed" --keys skewed --distinct 300 -n "$records" "$work/skewed.dat"
distinct=$(cut -c1-10 "$work/skewed.dat" | sort -u | wc -l)
[ "$distinct" -le 300 ] && [ "$distinct" -ge 100 ] || fail "skewed: $distinct distinct keys of 300"
# Zipf with exponent 1 over 300 keys: the commonest has about 1/H(300) = 16% of the records.
top=$(cut -c1-10 "$work/skewed.dat" | sort | uniq -c | sort -rn | awk 'NR == 1 { print $1 }')
[ "$top" -ge 2600 ] && [ "$top" -le 3800 ] || fail "skewed: the commonest key has $top records"
expect 0 "$np" mpimr-gensort --keys equal -b 18446744073709551000 --size 199999 "$work/equal.dat"
[ "$(cut -c1-10 "$work/equal.dat" | sort -u | wc -l)" -eq 1 ] || fail "equal: more than one key"
[ "$(wc -l < "$work/equal.dat")" -eq 1999 ] || fail "--size 199999 is not 1999 records"
bad=$(grep -c -v -E "$layout" "$work/equal.dat" || true)
[ "$bad" -eq 0 ] || fail "equal: $bad records break the layout"
[ "$(sed -n '616p;617p' "$work/equal.dat" | cut -c13-44 | tr '\n' ' ')" = \
  "0000000000000000FFFFFFFFFFFFFFFF 00000000000000010000000000000000 " ] || fail "row ids do not carry"

# A file that cannot be created: every rank fails, the message names it, nothing is left.
expect 1 "$np" mpimr-gensort -n 100 "$work/missing/x.dat"
grep -q "rank 0: cannot create $work/missing/x.dat" "$work/err" || fail "unwritable file not named"
[ -z "$(find "$work" -name '*.tmp.*')" ] || fail "temporary files left behind"

# ---- valsort: records --------------------------------------------------------

sort "$work/skewed.dat" > "$work/sorted.dat"
duplicates=$(cut -c1-10 "$work/sorted.dat" | uniq -c | awk '{ d += $1 - 1 } END { print d }')
# The unsorted input: NOT SORTED at the first record smaller than the one before it (awk counts).
expect 1 "$np" mpimr-valsort "$work/skewed.dat"
checksum=$(field checksum)
first=$(awk '{ k = substr($0, 1, 10) } NR > 1 && k < prev { print NR; exit } { prev = k }' "$work/skewed.dat")
[ "$(field order)" = "NOT SORTED: record $first (file $work/skewed.dat, byte offset $((100 * (first - 1)))) is smaller than the one before it" ] ||
  fail "unsorted input: wrong disorder (awk says record $first)"
[[ "$checksum" =~ ^[0-9a-f]{32}$ ]] || fail "checksum '$checksum' is not 32 hex digits"
# The sorted file: sorted, with the same checksum, the count and uniq's duplicates.
expect 0 "$np" mpimr-valsort --expect-records "$records" --expect-checksum "${checksum^^}" "$work/sorted.dat"
[ "$(field records)" = "$records" ] && [ "$(field 'duplicate keys')" = "$duplicates" ] &&
  [ "$(field checksum)" = "$checksum" ] && [ "$(field order)" = sorted ] || fail "sorted file misjudged"
cp "$work/out" "$work/sorted.report"
# The same in three part files (and _SUCCESS) of a directory, with empty inputs around them.
mkdir "$work/job" "$work/nothing"
split -n l/3 -d -a 5 "$work/sorted.dat" "$work/job/part-"
: > "$work/job/_SUCCESS"
: > "$work/empty.dat"
[ "$(ls "$work/job" | tr '\n' ' ')" = "_SUCCESS part-00000 part-00001 part-00002 " ] || fail "split made other files"
expect 0 "$np" mpimr-valsort "$work/empty.dat" "$work/job" "$work/nothing"
cmp "$work/out" "$work/sorted.report" || fail "part files judged otherwise than the whole"
# Empty input, and expectations that do not hold: the report, then status 1.
expect 1 "$np" mpimr-valsort --expect-records 1 --expect-checksum 1 "$work/empty.dat" "$work/nothing"
[ "$(tr '\n' ' ' < "$work/out")" = "records: 0 duplicate keys: 0 checksum: $(printf '0%.0s' {1..32}) order: sorted " ] ||
  fail "empty input misjudged"
grep -q "expected 1 records, found 0" "$work/err" &&
  grep -q "expected checksum 0*1, found 0*\$" "$work/err" || fail "failed expectations not reported"

# A swapped pair of distinct keys (records 7001 and 7002 of the sorted uniform file).
sort "$work/uniform.dat" | awk 'NR == 7001 { held = $0; next } { print } NR == 7002 { print held }' > "$work/swapped.dat"
[ "$(stat -c %s "$work/swapped.dat")" -eq $((100 * records)) ] || fail "swapped.dat is the wrong size"
expect 1 "$np" mpimr-valsort "$work/swapped.dat"
[ "$(field order)" = "NOT SORTED: record 7002 (file $work/swapped.dat, byte offset 700100) is smaller than the one before it" ] ||
  fail "swapped pair not found"

# A truncated last record, and a record of the wrong length (the 3001st, at byte 300000): exit 2.
head -c $((100 * records - 30)) "$work/sorted.dat" > "$work/truncated.dat"
expect 2 "$np" mpimr-valsort "$work/truncated.dat"
grep -q "$work/truncated.dat: byte offset $((100 * (records - 1))): truncated or malformed record" "$work/err" &&
  [ ! -s "$work/out" ] || fail "truncated record not reported"
{ head -n 3000 "$work/sorted.dat"; printf 'short\r\n'; tail -n +3001 "$work/sorted.dat"; } > "$work/malformed.dat"
expect 2 "$np" mpimr-valsort "$work/malformed.dat"
grep -q "$work/malformed.dat: byte offset 300000: truncated or malformed record" "$work/err" ||
  fail "malformed record not reported"

# ---- valsort --lines ---------------------------------------------------------

# Words one to a line (many repeats), lines that are prefixes of others, bytes above 0x7F, an empty line.
run 1 "$bin/mpimr-gentext" -o "$work/words.txt" --size 300K --vocab 3000 --words-per-line 1 --seed "$seed"
printf 'ab\nabc\nab\n\xc3\xa9t\xc3\xa9\nzz\x80\nzz\n\nA\n' >> "$work/words.txt"
sort "$work/words.txt" > "$work/words.sorted"
lines=$(wc -l < "$work/words.sorted")
duplicates=$(uniq -c "$work/words.sorted" | awk '{ d += $1 - 1 } END { print d }')
expect 0 "$np" mpimr-valsort --lines --expect-records "$lines" "$work/words.sorted"
[ "$(field 'duplicate keys')" = "$duplicates" ] && [ "$(field order)" = sorted ] || fail "--lines: sorted misjudged"
printf 'abc\nab\n' > "$work/prefix.txt"
expect 1 "$np" mpimr-valsort --lines "$work/prefix.txt"
[ "$(field order)" = "NOT SORTED: record 2 (file $work/prefix.txt, byte offset 4) is smaller than the one before it" ] ||
  fail "--lines: a longer line before its prefix not found"
printf 'a\nb\nc' > "$work/open.txt"
expect 2 "$np" mpimr-valsort --lines "$work/open.txt"
grep -q "$work/open.txt: byte offset 4: truncated" "$work/err" || fail "--lines: a final line without newline"

# ---- usage -----------------------------------------------------------------

expect 2 "$np" mpimr-valsort "$work/no-such-file"
grep -q "$work/no-such-file" "$work/err" || fail "missing input not named"
expect 64 "$np" mpimr-gensort -n 10 --keys zipf "$work/x.dat"
grep -q -- "--keys" "$work/err" || fail "bad --keys not named"
expect 64 "$np" mpimr-valsort --bogus "$work/sorted.dat"
# The rest does not depend on the rank count: once, in the run at one rank.
if [ "$np" -eq 1 ]; then
  expect 64 1 mpimr-gensort "$work/x.dat"
  [ ! -e "$work/x.dat" ] || fail "usage error wrote a file"
  expect 64 1 mpimr-valsort --expect-checksum xyz "$work/sorted.dat"
  expect 64 1 mpimr-valsort
  for program in mpimr-gensort mpimr-valsort; do
    expect 0 1 "$program" --help
    grep -q "^EXIT STATUS" "$work/out" || fail "$program --help has no EXIT STATUS"
  done
fi
echo "sortcheck_app np=$np: ok"
