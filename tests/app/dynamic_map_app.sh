#!/usr/bin/env bash
# Dynamic map (the default; --static-map turns it off) with slow ranks made by the test knob
# MPIMR_TEST_MAP_DELAY (microseconds some ranks sleep after each map slice): the work moves, and the
# results are those of a static map.
#   - mpimr-wordcount with every rank but 0 slow: rank 0 takes chunks from every other rank's share
#     (--stats: its chunks_taken, the others' chunks_given), and the counts equal wc_oracle's; again
#     without the combiner and with the pairwise transport (counts, and every byte mapped once);
#   - a 5-line file, most chunks empty: every record mapped once;
#   - mpimr-sort (global key order: the sample reads each rank's own share) with rank 0 slow:
#     mpimr-valsort agrees on order, count and checksum;
#   - mpimr-kmeans (points named by file and byte offset, mpimr_map_origin) with rank 1 slow: the
#     same centroids and assignments as a static map's, byte for byte;
#   - mpimr-cc skipping malformed lines (--max-bad-records): _bad_records as a static map lists it;
#   - map_index ranges: mpimr-rmat (an edge per index) and mpimr-cc on a METIS file (a chunk of the
#     file per index) with rank 0 slow: the same edges and components as a static map's, and with
#     --static-map nothing moves.
# usage: dynamic_map_app.sh BIN_DIR WC_ORACLE NP
set -euo pipefail
bin=$1 oracle=$2 np=$3
work=$(mktemp -d /tmp/mpimr-dynamic-map-XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/app/app_lib.sh
source "$(dirname "$0")/app_lib.sh"

slow_others=$(seq -s, 1 $((np - 1)))
run 2 "$bin/mpimr-gentext" -o "$work/text.txt" --size 8M --vocab 20000 --seed 7

# Word count, every rank but 0 slow.
for variant in combiner pairwise-no-combiner; do
  extra=() delay="20000@$slow_others"
  [ "$variant" = combiner ] || extra=(--no-combiner --transport pairwise) delay=2000@$((np - 1))
  MPIMR_TEST_MAP_DELAY=$delay run "$np" "$bin/mpimr-wordcount" -q --read-size 64K \
    --stats "$work/stats-$variant.json" -o "$work/wc-$variant" "${extra[@]}" "$work/text.txt"
  "$oracle" "$work/wc-$variant" "$np" "$work/text.txt" >/dev/null
  [ "$np" -gt 1 ] || continue
  /usr/bin/python3 - "$work/stats-$variant.json" "$np" "$(stat -c %s "$work/text.txt")" "$variant" <<'EOF'
import json, sys
stats = json.load(open(sys.argv[1]))["ranks"]
np, size, variant = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
assert sum(r["input_bytes"] for r in stats) == size, "every byte mapped once"
assert sum(r["chunks_taken"] for r in stats) == sum(r["chunks_given"] for r in stats)
# With the combiner rank 0 sends one round at the end, so nothing holds it back: it must have
# taken chunks from every slow rank. (Without it, full rounds tie every rank to the slowest's
# pace, and how much moves depends on the machine.)
if variant == "combiner":
    assert stats[0]["chunks_taken"] > 0, f"rank 0 took no chunk: {stats}"
    for r in stats[1:]:
        assert r["chunks_given"] > 0, f"rank {r['rank']} gave no chunk: {stats}"
    assert stats[0]["input_bytes"] > size / np, "rank 0 mapped no more than its share"
EOF
done

# A file smaller than its chunks (16 per rank, most of them holding no record start): every record
# is mapped once (a chunk without records once ended a rank's map, and its later chunks were lost).
printf 'a b\nc d e\nf\ng h i j\nk\n' >"$work/tiny.txt"
run "$np" "$bin/mpimr-wordcount" -q -o "$work/wc-tiny" "$work/tiny.txt"
"$oracle" "$work/wc-tiny" "$np" "$work/tiny.txt" >/dev/null

# Sort in global key order with rank 0 slow.
run 2 "$bin/mpimr-gensort" -n 150000 --seed 11 "$work/records.dat"
MPIMR_TEST_MAP_DELAY="20000@0" run "$np" "$bin/mpimr-sort" -q --dynamic-map --read-size 64K -o "$work/sorted" \
  "$work/records.dat"
run 2 "$bin/mpimr-valsort" "$work/sorted" >"$work/valsort.txt"
grep -q "^order: sorted" "$work/valsort.txt" && grep -q "^duplicate keys: 0" "$work/valsort.txt" ||
  { echo "mpimr-valsort:"; cat "$work/valsort.txt"; exit 1; }
grep -q "^records: 150000" "$work/valsort.txt" || grep -q "150000" "$work/valsort.txt" ||
  { echo "mpimr-valsort counts:"; cat "$work/valsort.txt"; exit 1; }

# k-means: points are named by their file and offset; the result is a static map's.
awk 'BEGIN { srand(5); for (i = 0; i < 20000; i++) printf "%.4f,%.4f\n", (i % 4) * 10 + rand(), rand() * 3 }' \
  >"$work/points.csv"
run "$np" "$bin/mpimr-kmeans" -q -k 4 --static-map -o "$work/km-static" --assignments "$work/as-static" "$work/points.csv"
MPIMR_TEST_MAP_DELAY="2000@$((np > 1 ? 1 : 0))" run "$np" "$bin/mpimr-kmeans" -q -k 4 --dynamic-map --read-size 4K \
  -o "$work/km-dynamic" --assignments "$work/as-dynamic" "$work/points.csv"
for d in km as; do
  cmp <(cat "$work/$d-static"/part-*) <(cat "$work/$d-dynamic"/part-*) ||
    { echo "mpimr-kmeans: $d differs with --dynamic-map"; exit 1; }
done

# Skipped records: the same list as a static map's.
awk 'BEGIN { for (i = 0; i < 3000; i++) { print i, (i * 13 + 1) % 3000; if (i % 1000 == 500) print "bad line" } }' \
  >"$work/edges.txt"
run "$np" "$bin/mpimr-cc" -q --max-bad-records 5 --static-map -o "$work/cc-static" "$work/edges.txt"
MPIMR_TEST_MAP_DELAY="2000@0" run "$np" "$bin/mpimr-cc" -q --max-bad-records 5 --dynamic-map --read-size 4K \
  -o "$work/cc-dynamic" "$work/edges.txt"
cmp <(sort "$work/cc-static/_bad_records") <(sort "$work/cc-dynamic/_bad_records") ||
  { echo "_bad_records differs with --dynamic-map"; exit 1; }
cmp <(cat "$work"/cc-static/part-* | sort) <(cat "$work"/cc-dynamic/part-* | sort) ||
  { echo "mpimr-cc differs with --dynamic-map"; exit 1; }
[ "$(wc -l <"$work/cc-dynamic/_bad_records")" -eq 3 ] || { echo "_bad_records:"; cat "$work/cc-dynamic/_bad_records"; exit 1; }
# map_index: R-MAT edges (an edge per index), rank 0 slow, against a static map's.
MPIMR_TEST_MAP_DELAY="2000@0" run "$np" "$bin/mpimr-rmat" -q --scale 12 --seed 9 --stats "$work/rmat.json" \
  -o "$work/rmat-dynamic"
run "$np" "$bin/mpimr-rmat" -q --scale 12 --seed 9 --static-map --stats "$work/rmat-static.json" \
  -o "$work/rmat-static"
cmp <(cat "$work"/rmat-static/part-* | sort) <(cat "$work"/rmat-dynamic/part-* | sort) ||
  { echo "mpimr-rmat differs with dynamic map"; exit 1; }
# mpimr-cc on a METIS file: a chunk of the file per index.
cat >"$work/graph.metis" <<'METIS'
% 8 vertices: two triangles and two without edges
8 6
2 3
1 3
1 2
5 6
4 6
4 5


METIS
MPIMR_TEST_MAP_DELAY="2000@0" run "$np" "$bin/mpimr-cc" -q --read-size 4K -o "$work/metis-dynamic" "$work/graph.metis"
run "$np" "$bin/mpimr-cc" -q --static-map -o "$work/metis-static" "$work/graph.metis"
cmp <(cat "$work"/metis-static/part-* | sort) <(cat "$work"/metis-dynamic/part-* | sort) ||
  { echo "mpimr-cc on METIS differs with dynamic map"; exit 1; }
[ "$(cat "$work"/metis-dynamic/part-* | awk '{print $2}' | sort -u | wc -l)" -eq 4 ] ||
  { echo "mpimr-cc on METIS: not 4 components"; cat "$work"/metis-dynamic/part-*; exit 1; }
if [ "$np" -gt 1 ]; then
  /usr/bin/python3 - "$work/rmat.json" "$work/rmat-static.json" <<'EOF'
import json, sys
dynamic = json.load(open(sys.argv[1]))["ranks"]
static = json.load(open(sys.argv[2]))["ranks"]
assert dynamic[0]["chunks_given"] > 0, f"slow rank 0 gave no chunk of its index range: {dynamic}"
assert sum(r["input_records"] for r in dynamic) == sum(r["input_records"] for r in static)
assert all(r["chunks_taken"] == 0 and r["chunks_given"] == 0 for r in static), "chunks moved with --static-map"
EOF
fi
echo "dynamic_map_app: np $np passed"
