#!/usr/bin/env bash
# Spilling that cannot succeed must fail cleanly: a spill directory on a full
# disk (a 2 MiB tmpfs; also written in the background under a 64 MiB budget),
# on a read-only file system, or under a regular file.
# In each case mpirun exits non-zero, a rank names the spill path and the
# cause, no _SUCCESS is written, no part is left, nothing is left in the spill
# directory, and the same job then succeeds with a usable one.
# The tmpfs cases need root (mount); without it they are skipped and the
# rest still runs. Exit 77 (skipped) only if nothing could run.
# usage: spill_failure_app.sh BIN_DIR NP
set -euo pipefail
bin=$1 np=$2
work=$(mktemp -d /tmp/mpimr-spillfail-XXXXXX)
mounted=()
cleanup() {
  for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"  # run NP PROGRAM ARGS...

run "$np" "$bin/mpimr-gentext" -o "$work/text.txt" --size 24M --vocab 50000 --zipf 1.0 --seed 7

# expect_spill_failure NAME SPILL_DIR CAUSE: the job fails, naming SPILL_DIR and CAUSE, and leaves nothing.
expect_spill_failure() {
  local name=$1 spill=$2 cause=$3
  rm -rf "$work/out"
  if run "$np" "$bin/mpimr-wordcount" -q --no-combiner --memory 16M --spill-dir "$spill" \
    -o "$work/out" "$work/text.txt" > "$work/$name.log" 2>&1; then
    echo "FAIL ($name): the job succeeded with an unusable spill directory"; exit 1
  fi
  grep -q "$spill" "$work/$name.log" || { echo "FAIL ($name): no message names $spill"; cat "$work/$name.log"; exit 1; }
  grep -q "$cause" "$work/$name.log" || { echo "FAIL ($name): no message says '$cause'"; cat "$work/$name.log"; exit 1; }
  [ ! -e "$work/out/_SUCCESS" ] || { echo "FAIL ($name): _SUCCESS written"; exit 1; }
  if compgen -G "$work/out/*part-*" > /dev/null; then echo "FAIL ($name): parts left behind"; ls -a "$work/out"; exit 1; fi
  if [ -d "$spill" ] && [ -n "$(ls -A "$spill")" ]; then
    echo "FAIL ($name): spill files left behind"; ls -laR "$spill"; exit 1
  fi
  echo "ok: $name"
}

printf x > "$work/file"
expect_spill_failure "under a regular file" "$work/file/spill" "Not a directory"

ran_tmpfs=0
mkdir -p "$work/full" "$work/readonly"
if mount -t tmpfs -o size=2m tmpfs "$work/full" 2>/dev/null; then
  mounted+=("$work/full")
  expect_spill_failure "full disk" "$work/full" "No space left on device"
  # Under 64 MiB one rank of the index compacts its rounds into runs in memory and, past half the
  # budget, writes them in the background between rounds: the same failure, from there (the
  # timeline shows compactions and no spill on the spot).
  rm -rf "$work/out"
  if run 1 "$bin/mpimr-invindex" -q --memory 64M --spill-dir "$work/full" --trace "$work/failed.json" \
    -o "$work/out" "$work/text.txt" > "$work/background.log" 2>&1; then
    echo "FAIL (background writes): the job succeeded on a full disk"; exit 1
  fi
  grep -q "$work/full.*No space left on device" "$work/background.log" ||
    { echo "FAIL (background writes): no message names the path and cause"; cat "$work/background.log"; exit 1; }
  python3 - "$work/failed.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
names = [e.get("name") for e in (data["traceEvents"] if isinstance(data, dict) else data)]
assert "compact" in names and "spill" not in names, "the failure did not come from background writes: %s" % sorted(set(names))
PY
  [ ! -e "$work/out/_SUCCESS" ] && [ -z "$(ls -A "$work/full")" ] ||
    { echo "FAIL (background writes): _SUCCESS or spill files left"; ls -laR "$work/out" "$work/full"; exit 1; }
  echo "ok: full disk, background writes"
  ran_tmpfs=1
else
  echo "skipped: full disk (cannot mount a tmpfs here)"
fi
if mount -t tmpfs -o size=2m,ro tmpfs "$work/readonly" 2>/dev/null; then
  mounted+=("$work/readonly")
  expect_spill_failure "read-only file system" "$work/readonly" "Read-only file system"
  ran_tmpfs=1
else
  echo "skipped: read-only file system (cannot mount a tmpfs here)"
fi

# A rerun with a usable directory succeeds and matches the in-memory result.
mkdir -p "$work/spill"
rm -rf "$work/out"
run "$np" "$bin/mpimr-wordcount" -q --no-combiner --memory 16M --spill-dir "$work/spill" --stats "$work/stats.json" \
  -o "$work/out" "$work/text.txt"
python3 - "$work/stats.json" <<'PY'
import json, sys
ranks = json.load(open(sys.argv[1]))["ranks"]
assert sum(r["spill_runs"] for r in ranks) > 0, "the rerun did not spill: the test would prove nothing"
assert all(r["peak_memory_bytes"] <= r["memory_budget_bytes"] for r in ranks), ranks
PY
run "$np" "$bin/mpimr-wordcount" -q -o "$work/memory" "$work/text.txt"
cmp <(LC_ALL=C sort "$work"/out/part-*) <(LC_ALL=C sort "$work"/memory/part-*)
[ -z "$(ls -A "$work/spill")" ] || { echo "FAIL: spill files left after success"; exit 1; }
echo "ok: rerun with a usable spill directory"
# Under 64 MiB, one rank of the index writes its compacted runs in the background: map slices run
# while a run is being written, and the result equals the in-memory one.
mkdir -p "$work/spill64"
rm -rf "$work/index64" "$work/index"
run 1 "$bin/mpimr-invindex" -q --memory 64M --spill-dir "$work/spill64" --trace "$work/index64.json" \
  -o "$work/index64" "$work/text.txt"
run 1 "$bin/mpimr-invindex" -q -o "$work/index" "$work/text.txt"
cmp "$work/index64/part-00000" "$work/index/part-00000"
python3 - "$work/index64.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
events = data["traceEvents"] if isinstance(data, dict) else data
spans = lambda name: [(e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == name and "dur" in e]
writes, slices = spans("background spill write"), spans("map slice")
assert writes, "no run was written in the background"
overlapped = sum(1 for start, end in writes if any(start < s < end for s, _ in slices))
assert overlapped > 0, "no map slice ran while a run was being written"
print("ok: %d runs written in the background, %d of them while map slices ran" % (len(writes), overlapped))
PY
[ -z "$(ls -A "$work/spill64")" ] || { echo "FAIL: spill files left after the background writes"; exit 1; }
[ "$ran_tmpfs" = 1 ] || echo "note: the tmpfs cases were skipped"
