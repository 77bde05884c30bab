#!/usr/bin/env python3
"""Checks a timeline written with --trace: valid JSON in Chrome's trace-event
format, a named track per rank and sane times.

With a job's --stats JSON (the way wordcount_app.sh calls it), it also checks
the job's spans: map slices on every rank that mapped, one header and one data
span per shuffle round on every rank (rounds 0..R-1, R from the stats), a
shuffle tail, reduce and output on every rank.

For any other program's timeline, say what to expect instead:
  --ranks N         the number of tracks (without a stats file);
  --label TEXT      the timeline's process name;
  --each NAME       every rank has at least one span called NAME;
  --once NAME       every rank has exactly one span called NAME;
  --total NAME=N    the ranks have N spans called NAME between them;
  --only            no span has a name not given with --each or --once;
  --sequential      on every track, each span starts after the one before ends.

usage: check_trace.py TRACE.json STATS.json
       check_trace.py TRACE.json --ranks N [--label TEXT] [--each NAME]... [--once NAME]...
                      [--total NAME=N]... [--only] [--sequential]"""
import argparse
import collections
import json
import sys

# Times are written in microseconds with three decimals: allow for the rounding.
ROUNDING_US = 0.002


def fail(message):
    print(f"check_trace: {message}")
    sys.exit(1)


def parse_arguments():
    parser = argparse.ArgumentParser(usage=__doc__.split("usage: ")[1])
    parser.add_argument("trace")
    parser.add_argument("stats", nargs="?")
    parser.add_argument("--ranks", type=int)
    parser.add_argument("--label")
    parser.add_argument("--each", action="append", default=[])
    parser.add_argument("--once", action="append", default=[])
    parser.add_argument("--total", action="append", default=[])
    parser.add_argument("--only", action="store_true")
    parser.add_argument("--sequential", action="store_true")
    args = parser.parse_args()
    if (args.stats is None) == (args.ranks is None):
        parser.error("give either STATS.json or --ranks N")
    totals = {}
    for item in args.total:
        name, _, count = item.rpartition("=")
        if not name or not count.isdigit():
            parser.error(f"--total wants NAME=N, not '{item}'")
        totals[name] = int(count)
    args.total = totals
    return args


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        fail(f"{path}: {error}")


def check_tracks(events, nranks, label):
    tracks = [e.get("tid") for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"]
    if sorted(tracks) != list(range(nranks)):
        fail(f"tracks {sorted(tracks)} != ranks 0..{nranks - 1}")
    if label is not None:
        names = [e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"]
        if names != [label]:
            fail(f"process name {names}, expected '{label}'")


def spans_by_rank(events, nranks):
    spans = [e for e in events if e.get("ph") == "X"]
    by_rank = collections.defaultdict(lambda: collections.defaultdict(list))
    for e in spans:
        if not isinstance(e.get("name"), str) or e.get("tid") not in range(nranks):
            fail(f"span without a name or on no rank's track: {e}")
        if e["ts"] < 0 or e["dur"] < 0:
            fail(f"negative time in {e}")
        by_rank[e["tid"]][e["name"]].append(e)
    return spans, by_rank


def check_job(stats, by_rank):
    for rank_stats in stats["ranks"]:
        rank, rounds = rank_stats["rank"], rank_stats["rounds"]
        names = by_rank[rank]
        if rank_stats["input_records"] > 0 and not names["map slice"]:
            fail(f"rank {rank} mapped but has no map slices")
        for kind in ("round header", "round data"):
            numbers = sorted(e["args"]["round"] for e in names[kind])
            if numbers != list(range(rounds)):
                fail(f"rank {rank}: {kind} spans for rounds {numbers[:5]}..., expected 0..{rounds - 1}")
        for kind in ("shuffle tail", "reduce", "output"):
            if len(names[kind]) != 1:
                fail(f"rank {rank}: {len(names[kind])} '{kind}' spans")
        slices_end = max((e["ts"] + e["dur"] for e in names["map slice"]), default=0)
        if names["reduce"][0]["ts"] + 1 < slices_end:
            fail(f"rank {rank}: reduce starts before map ends")


def check_expected(args, spans, by_rank, nranks):
    for rank in range(nranks):
        names = by_rank[rank]
        for name in args.each:
            if not names[name]:
                fail(f"rank {rank}: no '{name}' span")
        for name in args.once:
            if len(names[name]) != 1:
                fail(f"rank {rank}: {len(names[name])} '{name}' spans, expected one")
        if args.only:
            unexpected = set(n for n in names if names[n]) - set(args.each) - set(args.once)
            if unexpected:
                fail(f"rank {rank}: unexpected spans {sorted(unexpected)}")
    for name, expected in args.total.items():
        count = sum(len(by_rank[rank][name]) for rank in range(nranks))
        if count != expected:
            fail(f"{count} '{name}' spans in all, expected {expected}")
    if args.sequential:
        for rank in range(nranks):
            track = [e for e in spans if e["tid"] == rank]
            for before, after in zip(track, track[1:]):
                if after["ts"] + ROUNDING_US < before["ts"] + before["dur"]:
                    fail(f"rank {rank}: '{after['name']}' starts before '{before['name']}' ends")


def main():
    args = parse_arguments()
    trace = load(args.trace)
    stats = load(args.stats) if args.stats else None
    nranks = stats["nranks"] if stats else args.ranks
    events = trace.get("traceEvents") if isinstance(trace, dict) else None
    if not isinstance(events, list):
        fail("no traceEvents list")
    check_tracks(events, nranks, args.label)
    spans, by_rank = spans_by_rank(events, nranks)
    if stats:
        check_job(stats, by_rank)
    check_expected(args, spans, by_rank, nranks)
    print(f"check_trace: ok ({len(spans)} spans, {nranks} ranks)")


main()
