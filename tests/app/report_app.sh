#!/usr/bin/env bash
# mpimr-report end to end, in a real browser. A small word count at np 2 writes --stats and --trace;
# mpimr-report makes a page of them, and headless Chromium loads it: the page must say it rendered
# (body data-rendered="ok", nothing in #report-error) and draw what the job's files hold, all of
# which they must hold: timeline bars, a bar per shuffle round (its bytes), one bar per rank in each
# reducer chart, the heaviest keys, a memory line per rank with samples, a row per counter. The same
# files with hand-made figures (a skewed reduce side, keys and counter names holding "</script><b>")
# must show the skew warning and take no markup from the data; the stats alone draw the figures and
# say what needs the timeline. A screenshot of the job's page is kept in ARTIFACT_DIR (report.png,
# with report.html) and must be a PNG of the window with a picture in it. And the program's
# failures: --help, usage errors (64), and inputs that are missing, unreadable, malformed (naming
# the byte) or of the wrong shape (1), leaving an existing report as it was.
# Skipped (status 77) where chromium is not installed, unless MPIMR_REQUIRE_CHROMIUM is set.
# usage: report_app.sh BIN_DIR ARTIFACT_DIR
set -euo pipefail
bin=$1 artifacts=$2 np=2
work=$(mktemp -d /tmp/mpimr-report-app-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh" # run, expect_failure
report=$bin/mpimr-report

# ---- The program's own checks: no browser needed.

"$report" --help > "$work/help"
for section in NAME SYNOPSIS DESCRIPTION OPTIONS OUTPUT "EXIT STATUS" EXAMPLES; do
  grep -q "^$section" "$work/help" || { echo "mpimr-report --help lacks $section"; exit 1; }
done
printf '{"nranks": 1, "ranks": [{"rank": 0, "time_total": 0.5}]}\n' > "$work/tiny.json"
expect_failure 64 "no STATS.json given" "$report" -o "$work/x.html"
expect_failure 64 "no output given: -o" "$report" "$work/tiny.json"
expect_failure 64 "unexpected argument" "$report" "$work/tiny.json" "$work/tiny.json" "$work/tiny.json" -o "$work/x.html"
expect_failure 64 "unrecognized option '--colour'" "$report" --colour "$work/tiny.json" -o "$work/x.html"
expect_failure 1 "$work/missing.json: cannot open: No such file or directory" "$report" "$work/missing.json" -o "$work/x.html"
expect_failure 1 "$work: cannot read: Is a directory" "$report" "$work" -o "$work/x.html"
# Malformed: a comma before ']' at byte 30 of line 2; a file cut short; a value that is no JSON.
printf '{"nranks": 2,\n "ranks": [1, 2,]}' > "$work/comma.json"
expect_failure 1 "comma.json: byte 30 (line 2): expected a JSON value, found ']'" "$report" "$work/comma.json" -o "$work/x.html"
head -c 40 "$work/tiny.json" > "$work/cut.json"
expect_failure 1 "cut.json: byte 40 (line 1): expected .*found the end of the file" "$report" "$work/cut.json" -o "$work/x.html"
expect_failure 1 "help: byte 0 (line 1): expected a JSON value, found 'N'" "$report" "$work/tiny.json" "$work/help" -o "$work/x.html"
# Well-formed, wrong shape: stats without "ranks", a trace without "traceEvents".
printf '{"nranks": 2}' > "$work/noranks.json"
expect_failure 1 "noranks.json: not an mpimr --stats file: expected an object with a \"ranks\" array" \
  "$report" "$work/noranks.json" -o "$work/x.html"
expect_failure 1 "tiny.json: not an mpimr --trace file" "$report" "$work/tiny.json" "$work/tiny.json" -o "$work/x.html"
# An output that cannot be written; and a failure leaves an existing report as it was, with no temporary file.
expect_failure 1 "$work/no/x.html: cannot create" "$report" "$work/tiny.json" -o "$work/no/x.html"
echo "an older report" > "$work/kept.html"
expect_failure 1 "comma.json: byte 30" "$report" "$work/comma.json" -o "$work/kept.html"
[ "$(cat "$work/kept.html")" = "an older report" ] || { echo "a failed run changed the existing report"; exit 1; }
# "-" is standard output; a link to a report has the file it leads to replaced, and stays a link.
"$report" "$work/tiny.json" -o - > "$work/stdout.html"
grep -q '<script type="application/json" id="report-data-stats">{"nranks": 1,' "$work/stdout.html" ||
  { echo "-o - wrote no page to standard output"; exit 1; }
ln -s kept.html "$work/link.html"
"$report" "$work/tiny.json" -o "$work/link.html"
if [ ! -L "$work/link.html" ] || ! cmp -s "$work/stdout.html" "$work/kept.html"; then
  echo "-o LINK did not write the page into the file the link leads to"
  exit 1
fi
leftovers=$(find "$work" -name '*.tmp.*')
[ -z "$leftovers" ] || { echo "temporary files left: $leftovers"; exit 1; }

# ---- In the browser.

if ! chromium=$(command -v chromium); then
  if [ -n "${MPIMR_REQUIRE_CHROMIUM:-}" ]; then
    echo "report_app: chromium is not installed, and MPIMR_REQUIRE_CHROMIUM is set (apt-get install chromium)"
    exit 1
  fi
  echo "report_app: SKIPPED the browser checks: chromium is not installed (the Debian package chromium)"
  exit 77
fi

# Headless Chromium with a profile and home of its own (tests run side by side), at most 60 s a page.
browse() {
  HOME=$work XDG_CONFIG_HOME=$work/config XDG_CACHE_HOME=$work/cache timeout 60 "$chromium" --headless --no-sandbox \
    --disable-gpu --no-first-run --no-default-browser-check --user-data-dir="$work/profile" --hide-scrollbars "$@" \
    2>> "$work/chromium.log" || { echo "chromium $* failed:"; tail -20 "$work/chromium.log"; exit 1; }
}

# check_page DOM STATS [TRACE] [--complete | --fixture]: the DOM Chromium dumped has what the inputs
# call for. --complete: the inputs must have every kind of data (bytes per round, memory samples,
# counters, heaviest keys), as a job's do; --fixture: also the skew warning, and data text kept text.
check_page() {
  python3 - "$@" <<'PY'
import html.parser
import json
import sys

dom_path, stats_path = sys.argv[1], sys.argv[2]
trace_path = sys.argv[3] if len(sys.argv) > 3 and not sys.argv[3].startswith("--") else None
fixture = "--fixture" in sys.argv
complete = fixture or "--complete" in sys.argv


class Page(html.parser.HTMLParser):
    """Every element with its attributes and the ids of the elements around it, and the text under each id."""

    def __init__(self):
        super().__init__()
        self.open = []
        self.elements = []
        self.text = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        around = [a.get("id") for _, a in self.open if a.get("id")]
        self.elements.append((tag, attrs, around))
        if tag not in ("meta", "link", "br", "img", "input", "hr"):
            self.open.append((tag, attrs))

    def handle_endtag(self, tag):
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _, attrs in self.open:
            if attrs.get("id"):
                self.text[attrs["id"]] = self.text.get(attrs["id"], "") + data


page = Page()
page.feed(open(dom_path, encoding="utf-8").read())
problems = []


def count(tag, css_class, inside):
    """The elements `tag` (of class `css_class`, unless None) inside the element with id `inside`."""
    return sum(1 for t, a, around in page.elements
               if t == tag and (css_class is None or css_class in (a.get("class") or "").split()) and inside in around)


def has_id(element_id):
    return any(a.get("id") == element_id for _, a, _ in page.elements)


def expect(what, ok):
    if not ok:
        problems.append(what)


body = [a for t, a, _ in page.elements if t == "body"][0]
expect(f"body data-rendered is {body.get('data-rendered')!r}, not 'ok'", body.get("data-rendered") == "ok")
error_text = page.text.get("report-error", "").strip()
expect(f"#report-error says: {error_text}", error_text == "")

stats = json.load(open(stats_path, encoding="utf-8"))
nranks = len(stats["ranks"])
expect("the figures are missing", count("div", "figure", "job-figures") >= 6)
expect(f"{count('rect', 'reducer-bar', 'reducer-pairs-svg')} pair bars, not {nranks}",
       count("rect", "reducer-bar", "reducer-pairs-svg") == nranks)
expect(f"{count('rect', 'reducer-bar', 'reducer-bytes-svg')} byte bars, not {nranks}",
       count("rect", "reducer-bar", "reducer-bytes-svg") == nranks)
expect("no row of figures for every rank", count("tr", None, "ranks-table") == nranks + 1)
counters = stats.get("counters") or {}
expect("the stats have no counters", counters or not complete)
if complete:
    heaviest = count("tr", None, "heaviest-keys-table")
    expect(f"{heaviest} rows of heaviest keys for {nranks} ranks", heaviest == min(nranks, 10) + 1)
if counters:
    expect(f"{count('tr', 'counter-row', 'counters-table')} counter rows, not {len(counters)}",
           count("tr", "counter-row", "counters-table") == len(counters))
else:
    expect("no counters, and no note saying so", has_id("counters-missing"))

if trace_path is None:
    for part in ("timeline", "rounds", "memory"):
        expect(f"no trace, and no note in {part} saying so", has_id(f"{part}-missing"))
else:
    events = json.load(open(trace_path, encoding="utf-8"))["traceEvents"]
    spans = [e for e in events if e.get("ph") == "X"]
    bars = count("rect", "span", "timeline-svg")
    expect(f"{bars} timeline bars for {len(spans)} spans", 0 < bars <= len(spans))
    round_bytes = {}
    for e in spans:
        if e["name"] == "round data":
            round_bytes[e["args"]["round"]] = round_bytes.get(e["args"]["round"], 0) + e["args"].get("bytes", 0)
    expect("the trace's rounds carry no bytes", any(round_bytes.values()) or not complete)
    if any(round_bytes.values()):
        rounds = len(round_bytes)
        drawn = count("rect", "round-bar", "rounds-svg")
        # One bar a round, or a bar for each group of rounds when there are more rounds than half the pixels.
        expect(f"{drawn} round bars for {rounds} rounds", 0 < drawn <= rounds and (rounds > 400 or drawn == rounds))
    else:
        expect("rounds without bytes, and no note saying so", has_id("rounds-missing"))
    sampled = {e["tid"] for e in events if e.get("ph") == "C" and e.get("name") == "memory"}
    expect("the trace has no memory samples", sampled or not complete)
    if sampled:
        lines = count("path", "memory-line", "memory-svg")
        expect(f"{lines} memory lines for {len(sampled)} ranks with samples", lines == len(sampled) > 0)
    else:
        expect("no memory samples, and no note saying so", has_id("memory-missing"))

if fixture:
    warning = page.text.get("skew-warning", "")
    expect(f"the skew warning says: {warning!r}", "Reduce skew: rank 1 received 2.50× the mean" in warning)
    # Text from the data is text: "</script><b>" shows as such, and makes no element.
    expect("a heaviest key lost its '</script><b>'", "</script><b>key 0" in page.text.get("heaviest-keys-table", ""))
    expect("the warning lost the key's '</script><b>'", "</script><b>key 1" in warning)
    expect("markup from the data became an element", not any(t == "b" for t, _, _ in page.elements))

if problems:
    print(f"check_page {dom_path}:")
    for problem in problems:
        print("  " + problem)
    sys.exit(1)
PY
}

# check_png FILE WIDTH HEIGHT: a PNG of that size whose rows are not all alike.
check_png() {
  python3 - "$@" <<'PY'
import struct
import sys
import zlib

path, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
at, chunks = 8, {}
while at < len(data):
    length, kind = struct.unpack(">I4s", data[at:at + 8])
    chunks.setdefault(kind, []).append(data[at + 8:at + 8 + length])
    at += 12 + length
w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
assert (w, h) == (width, height), f"{path}: {w}x{h}, not {width}x{height}"
channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour] * depth // 8
pixels = zlib.decompress(b"".join(chunks[b"IDAT"]))
stride = 1 + w * channels
rows = {pixels[y * stride + 1:(y + 1) * stride] for y in range(h)}
assert len(rows) > 100, f"{path}: only {len(rows)} distinct rows: a blank page?"
assert len(data) > 20000, f"{path}: {len(data)} bytes, too small for a drawn report"
PY
}

# The job: no combiner and small rounds, so that there are many rounds.
run 1 "$bin/mpimr-gentext" -o "$work/words.txt" --size 4M --vocab 20000 --seed 24
run "$np" "$bin/mpimr-wordcount" -q --no-combiner --round-size 64K -o "$work/out" \
  --stats "$work/stats.json" --trace "$work/trace.json" "$work/words.txt"
"$report" "$work/stats.json" "$work/trace.json" -o "$work/report.html"
browse --dump-dom "file://$work/report.html" > "$work/report.dom"
check_page "$work/report.dom" "$work/stats.json" "$work/trace.json" --complete

# The same job with everything a report can show.
python3 - "$work" <<'PY'
import json
import sys

work = sys.argv[1]
stats = json.load(open(f"{work}/stats.json"))
trace = json.load(open(f"{work}/trace.json"))
stats["counters"] = {"records read": 64, "pairs emitted": 1000, "bad records skipped": 3, "a </script> <b>name": 1}
stats["reduce_load"] = {"pairs_max_over_mean": 2.5, "bytes_max_over_mean": 2.4, "busiest_rank": 1, "skewed": True}
for rank in stats["ranks"]:
    rank.update(bad_records=1, heaviest_key_pairs=1000 + rank["rank"], heaviest_key=f"</script><b>key {rank['rank']}")
samples = []
for event in trace["traceEvents"]:
    if event.get("name") == "round data":
        event["args"]["bytes"] = 10000 + 10 * event["args"]["round"]
    if event.get("name") == "map slice":
        samples.append({"name": "memory", "cat": "memory", "ph": "C", "pid": 0, "tid": event["tid"],
                        "id": event["tid"], "ts": event["ts"], "args": {"bytes": 1000000 + int(event["ts"])}})
trace["traceEvents"] += samples
json.dump(stats, open(f"{work}/full-stats.json", "w"))
json.dump(trace, open(f"{work}/full-trace.json", "w"))
PY
"$report" "$work/full-stats.json" "$work/full-trace.json" -o "$work/full.html"
browse --dump-dom "file://$work/full.html" > "$work/full.dom"
check_page "$work/full.dom" "$work/full-stats.json" "$work/full-trace.json" --fixture

# The stats alone: the figures, and notes where the timeline would be.
"$report" "$work/stats.json" -o "$work/stats-only.html"
browse --dump-dom "file://$work/stats-only.html" > "$work/stats-only.dom"
check_page "$work/stats-only.dom" "$work/stats.json"

# The job's page as a picture, kept with the page as the test's artifacts.
mkdir -p "$artifacts"
browse --window-size=1200,1600 --screenshot="$work/report.png" "file://$work/report.html" > /dev/null
check_png "$work/report.png" 1200 1600
cp "$work/report.png" "$work/report.html" "$artifacts/"
echo "report_app: ok (screenshot in $artifacts/report.png)"
