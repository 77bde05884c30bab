#!/usr/bin/env python3
"""Checks the outputs of one mpimr-shuffle-bench run: the CSV has the expected
header and one well-formed row per (pattern, size, method); the JSON holds the
same rows with the same columns, and its settings; the text table printed on
stdout has the OSU column names and a row for each as well; and, if given, the
trace is valid trace-event JSON with round spans on every rank.

usage: check_shuffle_bench.py --csv R.csv --json R.json --table OUT.txt
           --ranks P --patterns uniform,zipf --methods mpi-alltoallv,...
           --min-size 1 --max-size 65536 [--trace T.json]"""
import argparse
import csv
import json
import math
import sys

COLUMNS = ["pattern", "method", "ranks", "size", "iterations", "repeats", "avg_latency_us", "min_latency_us",
           "max_latency_us", "bandwidth_mb_s", "overall_us", "compute_us", "pure_comm_us", "overlap_pct", "checked"]
OVERLAP_COLUMNS = ["overall_us", "compute_us", "pure_comm_us", "overlap_pct"]
OSU_NAMES = ["Size", "Avg Latency(us)", "Min Latency(us)", "Max Latency(us)", "Bandwidth(MB/s)", "Overall(us)",
             "Compute(us)", "Pure Comm.(us)", "Overlap(%)", "Iterations"]
BLOCKING = {"mpi-alltoallv"}


def fail(message):
    print(f"check_shuffle_bench: {message}")
    sys.exit(1)


def number(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail(f"{where}: {value!r} is not a finite number")
    return value


def check_row(row, where, ranks):
    """A row as a dict with numbers (None for absent overlap figures)."""
    if row["ranks"] != ranks:
        fail(f"{where}: ranks {row['ranks']} != {ranks}")
    for key in ("size", "iterations", "repeats"):
        if number(row[key], where) < 1:
            fail(f"{where}: {key} {row[key]} < 1")
    lo, avg, hi = (number(row[k], where) for k in ("min_latency_us", "avg_latency_us", "max_latency_us"))
    if not 0 < lo <= avg * (1 + 1e-9) or not avg <= hi * (1 + 1e-9):
        fail(f"{where}: latencies not 0 < min <= avg <= max: {lo} {avg} {hi}")
    if number(row["bandwidth_mb_s"], where) < 0:
        fail(f"{where}: negative bandwidth")
    present = [row[k] is not None for k in OVERLAP_COLUMNS]
    if row["method"] in BLOCKING:
        if any(present):
            fail(f"{where}: the blocking method has overlap figures")
    elif not all(present):
        fail(f"{where}: overlap figures missing")
    else:
        for key in OVERLAP_COLUMNS:
            number(row[key], where)
        if not 0 <= row["overlap_pct"] <= 100:
            fail(f"{where}: overlap {row['overlap_pct']} outside 0..100")
        if row["compute_us"] <= 0 or row["overall_us"] <= 0:
            fail(f"{where}: overall or compute time not positive")
        if abs(row["pure_comm_us"] - row["avg_latency_us"]) > 1e-3 * max(1.0, row["avg_latency_us"]):
            fail(f"{where}: pure comm. {row['pure_comm_us']} != avg latency {row['avg_latency_us']}")
    if row["checked"] is not True:
        fail(f"{where}: bytes were not checked")


def expected_keys(args):
    sizes, size = [], args.min_size
    while size <= args.max_size:
        sizes.append(size)
        size *= 2
    return [(p, s, m) for p in args.patterns.split(",") for s in sizes for m in args.methods.split(",")]


def read_csv(path, ranks):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != COLUMNS:
            fail(f"CSV header {header} != {COLUMNS}")
        rows = []
        for line, fields in enumerate(reader, 2):
            if len(fields) != len(COLUMNS):
                fail(f"CSV line {line}: {len(fields)} fields, expected {len(COLUMNS)}")
            row = dict(zip(COLUMNS, fields))
            for key in COLUMNS[2:]:
                if key == "checked":
                    row[key] = {"1": True, "0": False}.get(row[key], row[key])
                elif row[key] == "":
                    row[key] = None
                else:
                    try:
                        row[key] = float(row[key]) if "." in row[key] else int(row[key])
                    except ValueError:
                        fail(f"CSV line {line}: {key} = {row[key]!r} is not a number")
            check_row(row, f"CSV line {line}", ranks)
            rows.append(row)
    return rows


def read_json(path, ranks, args):
    data = json.load(open(path))
    for key in ("benchmark", "version", "ranks", "settings", "results"):
        if key not in data:
            fail(f"JSON has no '{key}'")
    if data["benchmark"] != "mpimr-shuffle-bench" or data["ranks"] != ranks:
        fail(f"JSON benchmark/ranks: {data['benchmark']} {data['ranks']}")
    settings = data["settings"]
    if settings.get("patterns") != args.patterns.split(",") or settings.get("methods") != args.methods.split(","):
        fail(f"JSON settings patterns/methods: {settings.get('patterns')} {settings.get('methods')}")
    if settings.get("auto_transport") not in ("alltoallv", "pairwise", "shared-memory"):
        fail(f"JSON auto_transport {settings.get('auto_transport')!r}")
    rows = data["results"]
    for i, row in enumerate(rows):
        if sorted(row) != sorted(COLUMNS):
            fail(f"JSON row {i}: keys {sorted(row)}")
        check_row(row, f"JSON row {i}", ranks)
    return rows


def check_table(path, keys):
    text = open(path).read()
    headers = [line for line in text.splitlines() if line.startswith("# Size")]
    if not headers:
        fail("no table header ('# Size ...') on stdout")
    for name in OSU_NAMES:
        if name not in headers[0]:
            fail(f"table header lacks '{name}'")
    rows = [line.split() for line in text.splitlines() if line.startswith("  ")]
    found = {(int(r[0]), r[1]) for r in rows if len(r) == 11}
    for _, size, method in keys:
        if (size, method) not in found:
            fail(f"table has no row for size {size}, method {method}")
    if len(rows) != len(keys):
        fail(f"table has {len(rows)} rows, expected {len(keys)}")


def check_trace(path, ranks):
    trace = json.load(open(path))
    spans = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X"]
    for rank in range(ranks):
        names = {e["name"] for e in spans if e["tid"] == rank}
        for name in ("round header", "round data"):
            if name not in names:
                fail(f"trace: rank {rank} has no '{name}' span")
    if any(e["dur"] < 0 or e["ts"] < 0 for e in spans):
        fail("trace: negative time")


def main():
    parser = argparse.ArgumentParser()
    for option in ("--csv", "--json", "--table", "--patterns", "--methods"):
        parser.add_argument(option, required=True)
    parser.add_argument("--ranks", type=int, required=True)
    parser.add_argument("--min-size", type=int, required=True)
    parser.add_argument("--max-size", type=int, required=True)
    parser.add_argument("--trace")
    args = parser.parse_args()
    keys = expected_keys(args)
    csv_rows = read_csv(args.csv, args.ranks)
    json_rows = read_json(args.json, args.ranks, args)
    for name, rows in (("CSV", csv_rows), ("JSON", json_rows)):
        got = [(r["pattern"], r["size"], r["method"]) for r in rows]
        if got != keys:
            fail(f"{name} rows {got[:4]}... != expected {keys[:4]}... ({len(got)} vs {len(keys)})")
    for a, b in zip(csv_rows, json_rows):
        for key in COLUMNS:
            x, y = a[key], b[key]
            if isinstance(x, float) or isinstance(y, float):
                if abs(x - y) > 1e-2 * max(1.0, abs(y)):
                    fail(f"CSV and JSON differ in {key}: {x} vs {y}")
            elif x != y:
                fail(f"CSV and JSON differ in {key}: {x!r} vs {y!r}")
    check_table(args.table, keys)
    if args.trace:
        check_trace(args.trace, args.ranks)
    print(f"check_shuffle_bench: ok ({len(keys)} rows, {args.ranks} ranks)")


main()
