#!/usr/bin/env bash
# Watching and tolerating a job (issue 24), end to end through the programs:
#  - bad records: an edge list for mpimr-cc with 3 malformed lines among good ones, at np 1-4:
#    with --max-bad-records 5 it succeeds, its components equal networkx's on the good lines only,
#    and OUTDIR/_bad_records lists exactly the 3 (path and byte offset); with --max-bad-records 2
#    it fails (exit 1, no _SUCCESS, a bad record named on stderr, at most 3 listed);
#  - progress: mpimr-wordcount under a pseudo-terminal (script(1)) with no --progress option shows
#    a line updated in place (\r) while the job runs, ending in a final state; with stderr to a file
#    and no option, no progress line; --progress=plain --progress-interval 0.2 writes plain lines
#    to the file, about one an interval, and a final one;
#  - skew: a word count without a combiner of a text where one word is 3/4 of all words warns
#    "mpimr: warning: reduce skew" naming that word, with a pairs max/mean of at least 3 (np 4:
#    the hot word's reducer alone gets 3/4 of the pairs; at np 2 no reducer can exceed twice the
#    mean); a text of 30,000 words 10 times each gives neither;
#  - counters in the programs: --stats JSON's "counters" against the input read by the test: the
#    word count's bytes, words and distinct words (its records are blocks of lines), the inverted
#    index's lines (wc -l), distinct words a line and distinct words; "reduce_load" against the
#    ranks' pairs received.
# Skipped (77) without script(1) or networkx under /usr/bin/python3.
# usage: watch_app.sh BIN_DIR NP   (NP for the progress runs; bad records run at 1-4, skew at 4)
set -euo pipefail
bin=$1 np=$2
python=/usr/bin/python3
command -v script >/dev/null || { echo "watch_app: no script(1) (util-linux): skipped"; exit 77; }
"$python" -c 'import networkx' 2>/dev/null || { echo "watch_app: no networkx for $python: skipped"; exit 77; }
work=$(mktemp -d /tmp/mpimr-watch-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# mpirun waits a second before killing the ranks of a job that exited non-zero; they have exited.
export OMPI_MCA_odls_base_sigkill_timeout=0
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"
fail() { echo "watch_app: $*"; exit 1; }
# The mpiruns not started through run (under script(1), and the progress runs) get a session-directory
# base of their own too (see app_lib.sh).
OMPI_MCA_orte_tmpdir_base=$(mktemp -d "$work/ompi.XXXXXX")
export OMPI_MCA_orte_tmpdir_base

# ---- bad records (mpimr-cc, np 1-4) ----
# 30 components of 20 vertices (a hub and 10 more edges each, ids spread over 1..99999), in two
# files, with malformed lines at known offsets: "17 x" and "5" in a.txt, "1 2 3" in b.txt.
mkdir -p "$work/edges"
"$python" - "$work/edges" "$(( $(date +%s%N) % 1000000 ))" > "$work/bad.expected" <<'PY'
import random, sys
root, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
ids = rng.sample(range(1, 100000), 600)
edges = []
for g in range(30):
    members = ids[g * 20:(g + 1) * 20]
    for m in members[1:]:
        edges.append((members[0], m) if rng.random() < 0.5 else (m, members[0]))
    for _ in range(10):
        edges.append(tuple(rng.sample(members, 2)))
rng.shuffle(edges)
files = {"a.txt": (edges[:200], {10: "17 x", 150: "5"}), "b.txt": (edges[200:], {50: "1 2 3"})}
for name, (part, bad) in files.items():
    offset = 0
    with open(root + "/" + name, "wb") as f:
        for i, (a, b) in enumerate(part):
            if i in bad:
                print("%s/%s\t%d" % (root, name, offset))
                line = bad[i] + "\n"
                f.write(line.encode()); offset += len(line)
            line = "%d %d\n" % (a, b)
            f.write(line.encode()); offset += len(line)
PY
# The components of the good lines, by networkx: compares OUTDIR's parts ('VERTEX<TAB>COMPONENT',
# the smallest vertex of its component, every vertex once) with them.
check_components() {
  "$python" - "$work/edges" "$1" <<'PY'
import glob, sys, networkx as nx
edges_dir, out = sys.argv[1], sys.argv[2]
g = nx.Graph()
for path in sorted(glob.glob(edges_dir + "/*.txt")):
    for line in open(path):
        fields = line.split()
        if len(fields) == 2 and all(x.isdigit() for x in fields):
            g.add_edge(int(fields[0]), int(fields[1]))
expected = {v: min(c) for c in nx.connected_components(g) for v in c}
got = {}
for path in sorted(glob.glob(out + "/part-*")):
    for line in open(path):
        v, c = line.rstrip("\n").split("\t")
        if int(v) in got: sys.exit("vertex %s twice in %s" % (v, out))
        got[int(v)] = int(c)
if got != expected:
    missing = sorted(set(expected) - set(got))[:5]
    extra = sorted(set(got) - set(expected))[:5]
    wrong = sorted(v for v in got if v in expected and got[v] != expected[v])[:5]
    sys.exit("%s: %d vertices, networkx %d; missing %s, extra %s, wrong %s" % (out, len(got), len(expected), missing, extra, wrong))
PY
}
[ "$(wc -l < "$work/bad.expected")" -eq 3 ] || fail "the generator placed $(wc -l < "$work/bad.expected") bad lines"
for bad_np in 1 2 3 4; do
  out=$work/cc-$bad_np
  run "$bad_np" "$bin/mpimr-cc" -q --max-bad-records 5 -o "$out" "$work/edges" 2>"$work/err" ||
    { cat "$work/err"; fail "np $bad_np: mpimr-cc --max-bad-records 5 failed"; }
  [ -e "$out/_SUCCESS" ] || fail "np $bad_np: no _SUCCESS"
  check_components "$out" || fail "np $bad_np: components differ from networkx's on the good lines"
  [ -f "$out/_bad_records" ] || fail "np $bad_np: no _bad_records"
  cut -f1,2 "$out/_bad_records" | LC_ALL=C sort > "$work/bad.listed"
  LC_ALL=C sort "$work/bad.expected" | cmp -s - "$work/bad.listed" ||
    { echo "listed:"; cat "$out/_bad_records"; echo "expected:"; cat "$work/bad.expected"; fail "np $bad_np: _bad_records"; }
  awk -F'\t' 'NF < 3 || $3 == "" { exit 1 }' "$out/_bad_records" || fail "np $bad_np: a _bad_records line without a message"

  out=$work/cc-fail-$bad_np
  set +e
  run "$bad_np" "$bin/mpimr-cc" -q --max-bad-records 2 -o "$out" "$work/edges" >/dev/null 2>"$work/err"
  status=$?
  set -e
  [ "$status" -eq 1 ] || { cat "$work/err"; fail "np $bad_np: --max-bad-records 2 exited $status, want 1"; }
  [ ! -e "$out/_SUCCESS" ] || fail "np $bad_np: _SUCCESS after too many bad records"
  named=0
  while IFS=$'\t' read -r path offset; do
    grep -qF "$path' at byte $offset" "$work/err" && named=1
  done < "$work/bad.expected"
  [ "$named" = 1 ] || { cat "$work/err"; fail "np $bad_np: no bad record named on stderr"; }
  if [ -e "$out/_bad_records" ]; then
    [ "$(wc -l < "$out/_bad_records")" -le 3 ] || fail "np $bad_np: more than max + 1 bad records listed"
    cut -f1,2 "$out/_bad_records" | while read -r line; do
      grep -qxF "$line" "$work/bad.expected" || fail "np $bad_np: '$line' listed but is no bad record"
    done
  fi
done
echo "watch_app: bad records at np 1-4 ok"

# ---- progress ----
run 2 "$bin/mpimr-gentext" -o "$work/text.txt" --size 32M >/dev/null
# A job of 1-2 s on 2 cores: every (word, 1) through the shuffle.
wordcount_cmd="mpirun --oversubscribe -np $np $bin/mpimr-wordcount --format none --no-combiner --pin none"
# Runs a command under a pseudo-terminal (script -q: its stdout is what the terminal shows) and
# checks the terminal's text: progress lines updated in place while the job runs, a final state.
"$python" - "$work/tty.log" "$wordcount_cmd --progress-interval 0.2 $work/text.txt" <<'PY' ||
import os, re, subprocess, sys, time
log, command = sys.argv[1], sys.argv[2]
p = subprocess.Popen(["script", "-q", "-e", "-c", command, "/dev/null"], stdout=subprocess.PIPE,
                     stdin=subprocess.DEVNULL)
start = time.monotonic()
chunks = []
while True:
    data = os.read(p.stdout.fileno(), 65536)
    if not data:
        break
    chunks.append((time.monotonic() - start, data))
status = p.wait()
with open(log, "wb") as f:
    for t, data in chunks:
        f.write(b"[%.3f] %r\n" % (t, data))
# The terminal turns '\n' into "\r\n"; a '\r' left after undoing that is the program's own.
text, tokens, current, ended = b"", [], b"", None
for t, data in chunks:
    for ch in data.replace(b"\r\n", b"\n"):
        if ch in b"\r\n":
            tokens.append((t, re.sub(rb"\x1b\[[0-9;]*[A-Za-z]", b"", current).decode(errors="replace").strip(), chr(ch)))
            current = b""
        else:
            current += bytes([ch])
if current:
    tokens.append((chunks[-1][0], current.decode(errors="replace").strip(), ""))
def why(message):
    sys.exit("under a terminal: %s (exit %d); the terminal showed:\n%s" % (message, status, open(log).read()))
if status != 0:
    why("the word count failed")
progress = [(t, s, end) for t, s, end in tokens if re.match(r"mpimr: [a-z][a-z ]*\b.*[0-9.]+%", s)]
summary = [t for t, s, end in tokens if re.match(r"mpimr: \d+ ranks, ", s)]
if not summary:
    why("no summary line")
in_place = [p for p in progress if p[2] == "\r"]
if len(in_place) < 2 or len({s for _, s, _ in progress}) < 2:
    why("fewer than 2 progress updates in place")
if progress[0][0] > summary[0] - 0.2:
    why("the first progress line came %.2f s after the start, the summary at %.2f s: not during the job"
        % (progress[0][0], summary[0]))
final = progress[-1][1]
if progress[-1][2] != "\n" or not ("100" in final or "done" in final):
    why("the last progress line %r is not a final state ended by a newline" % final)
job_seconds = float(re.match(r"mpimr: \d+ ranks, ([0-9.]+) s", [s for t, s, e in tokens if re.match(r"mpimr: \d+ ranks, ", s)][0]).group(1))
if len(progress) > job_seconds / 0.2 * 1.5 + 4:
    why("%d progress updates in %.2f s at an interval of 0.2 s" % (len(progress), job_seconds))
print("watch_app: under a terminal, %d progress updates (%d in place) in a %.2f s job; last: %s"
      % (len(progress), len(in_place), job_seconds, final))
PY
  fail "progress under a terminal"

# stderr to a file, no option: no progress; --progress=plain: lines in the file, no '\r'. (The
# summary goes to stdout.)
progress_line='^mpimr: [a-z][a-z ]*\b.*[0-9.]+%'
$wordcount_cmd --progress-interval 0.2 "$work/text.txt" >"$work/quiet.out" 2>"$work/quiet.err" </dev/null ||
  { cat "$work/quiet.err"; fail "word count with stderr to a file failed"; }
grep -q '^mpimr: [0-9]* ranks, ' "$work/quiet.out" || { cat "$work/quiet.out"; fail "no summary"; }
if grep -qE "$progress_line" "$work/quiet.err" || grep -q $'\r' "$work/quiet.err"; then
  cat -A "$work/quiet.err"
  fail "progress lines with stderr to a file and no --progress"
fi
$wordcount_cmd --progress=plain --progress-interval 0.2 "$work/text.txt" >"$work/plain.out" 2>"$work/plain.err" </dev/null ||
  { cat "$work/plain.err"; fail "word count with --progress=plain failed"; }
! grep -q $'\r' "$work/plain.err" || { cat -A "$work/plain.err"; fail "--progress=plain wrote a carriage return"; }
lines=$(grep -cE "$progress_line" "$work/plain.err" || true)
seconds=$(sed -n 's/^mpimr: [0-9]* ranks, \([0-9.]*\) s .*/\1/p' "$work/plain.out")
[ -n "$seconds" ] || { cat "$work/plain.out"; fail "--progress=plain: no summary"; }
awk -v n="$lines" -v s="$seconds" 'BEGIN { exit !(n >= 3 && n <= s / 0.2 * 1.5 + 4) }' ||
  { cat "$work/plain.err"; fail "--progress=plain: $lines progress lines in a $seconds s job at 0.2 s"; }
final=$(grep -E "$progress_line" "$work/plain.err" | tail -1)
[[ $final == *100* || $final == *done* ]] || { cat "$work/plain.err"; fail "--progress=plain: last line '$final' is no final state"; }
echo "watch_app: --progress=plain: $lines lines in a $seconds s job; no progress to a file by default"

# ---- skew, and counters in --stats ----
# skewed: 300,000 words, 3/4 of them "hotword", the rest 1,000 others; uniform: 30,000 words 10
# times each, shuffled. 10 words a line.
"$python" - "$work" <<'PY'
import random, sys
rng = random.Random(5)
def write(path, words):
    with open(path, "w") as f:
        for i in range(0, len(words), 10):
            f.write(" ".join(words[i:i + 10]) + "\n")
skewed = ["hotword"] * 225000 + ["w%d" % rng.randrange(1000) for _ in range(75000)]
rng.shuffle(skewed)
write(sys.argv[1] + "/skewed.txt", skewed)
uniform = ["u%d" % i for i in range(30000)] * 10
rng.shuffle(uniform)
write(sys.argv[1] + "/uniform.txt", uniform)
PY
# Checks the counters and reduce_load in a --stats file against the input, read here:
# check_stats FILE INPUT wordcount|invindex. Word count maps blocks of lines (map_block), so its
# mpimr.input_records counts blocks (documented), at least one and at most one a line; the
# inverted index maps lines, and emits each distinct word of a line once.
check_stats() {
  "$python" - "$@" <<'PY'
import json, os, sys
path, input_path, program = sys.argv[1], sys.argv[2], sys.argv[3]
stats = json.load(open(path))
counters = stats.get("counters")
if not isinstance(counters, dict):
    sys.exit("%s: no \"counters\" object: %s" % (path, str(stats)[:400]))
lines = open(input_path, "rb").read().split(b"\n")[:-1]  # every line ends in a newline
distinct = len({w for line in lines for w in line.split()})
want = {"mpimr.input_bytes": os.path.getsize(input_path), "mpimr.keys_reduced": distinct,
        "mpimr.pairs_output": distinct, "mpimr.bad_records": 0}
if program == "wordcount":
    want["mpimr.pairs_emitted"] = sum(len(line.split()) for line in lines)
    records = counters.get("mpimr.input_records")
    if not isinstance(records, int) or not 1 <= records <= len(lines):
        sys.exit("%s: mpimr.input_records %r, expected 1..%d blocks" % (path, records, len(lines)))
else:
    want["mpimr.pairs_emitted"] = sum(len(set(line.split())) for line in lines)
    want["mpimr.input_records"] = len(lines)
for name, value in want.items():
    if counters.get(name) != value:
        sys.exit("%s: counter %s is %r, expected %d" % (path, name, counters.get(name), value))
# reduce_load against the ranks' own figures: the busiest rank's pairs received over the mean.
load, ranks = stats.get("reduce_load"), stats["ranks"]
if not isinstance(load, dict):
    sys.exit("%s: no \"reduce_load\" object" % path)
received = [r["pairs_received"] for r in ranks]
ratio = max(received) / (sum(received) / len(received))
if abs(load.get("pairs_max_over_mean", -1) - ratio) > 0.001 or load.get("skewed") != (ratio > 2):
    sys.exit("%s: reduce_load %s, but the ranks received %s pairs (max/mean %.4f)" % (path, load, received, ratio))
if load.get("busiest_rank") != received.index(max(received)):
    sys.exit("%s: reduce_load names rank %r busiest, the ranks received %s" % (path, load.get("busiest_rank"), received))
PY
}
# "PAIRS_RATIO" from the summary's "reduce load max/mean: pairs X, bytes Y".
load_ratio() { sed -n 's/.*reduce load max\/mean: pairs \([0-9.]*\), bytes \([0-9.]*\).*/\1/p' "$1" | head -1; }
for input in skewed uniform; do
  run 4 "$bin/mpimr-wordcount" --no-combiner --pin none -o "$work/$input-out" --stats "$work/$input.json" \
    "$work/$input.txt" >"$work/$input.err" 2>&1 || { cat "$work/$input.err"; fail "word count of $input.txt failed"; }
  ratio=$(load_ratio "$work/$input.err")
  [ -n "$ratio" ] || { cat "$work/$input.err"; fail "$input: no 'reduce load max/mean: pairs X, bytes Y' in the summary"; }
  check_stats "$work/$input.json" "$work/$input.txt" wordcount || fail "$input: --stats counters"
  if [ "$input" = skewed ]; then
    grep -q '^mpimr: warning: reduce skew' "$work/$input.err" || { cat "$work/$input.err"; fail "skewed: no skew warning"; }
    grep '^mpimr: warning: reduce skew' "$work/$input.err" | grep -q "'hotword'" ||
      { cat "$work/$input.err"; fail "skewed: the warning does not name the hot key"; }
    awk -v r="$ratio" 'BEGIN { exit !(r >= 2.99 && r <= 4.0) }' || fail "skewed: pairs max/mean $ratio, expected 3-4"
  else
    ! grep -q 'warning: reduce skew' "$work/$input.err" || { cat "$work/$input.err"; fail "uniform: a skew warning"; }
    awk -v r="$ratio" 'BEGIN { exit !(r >= 1.0 && r < 1.3) }' || fail "uniform: pairs max/mean $ratio, expected about 1"
  fi
  echo "watch_app: $input: reduce load pairs max/mean $ratio; counters in --stats ok"
done
# A program that maps lines (map_record): mpimr.input_records is the input's lines.
run "$np" "$bin/mpimr-invindex" -q -o "$work/index" --stats "$work/index.json" "$work/uniform.txt" 2>"$work/err" ||
  { cat "$work/err"; fail "mpimr-invindex failed"; }
check_stats "$work/index.json" "$work/uniform.txt" invindex || fail "mpimr-invindex: --stats counters"
echo "watch_app: mpimr-invindex: counters in --stats ok (mpimr.input_records = wc -l)"
echo "watch_app np=$np: ok"
