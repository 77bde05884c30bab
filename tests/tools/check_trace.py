#!/usr/bin/env python3
"""Checks a job timeline written with --trace: valid JSON in Chrome's trace-event
format, a named track per rank, map slices on every rank that mapped, one header
and one data span per shuffle round on every rank (rounds 0..R-1, R from the
job's --stats JSON), a shuffle tail, reduce and output on every rank, and sane
times. usage: check_trace.py TRACE.json STATS.json"""
import collections
import json
import sys


def fail(message):
    print(f"check_trace: {message}")
    sys.exit(1)


trace = json.load(open(sys.argv[1]))
stats = json.load(open(sys.argv[2]))
nranks = stats["nranks"]
events = trace.get("traceEvents")
if not isinstance(events, list):
    fail("no traceEvents list")
tracks = {e["tid"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"}
if tracks != set(range(nranks)):
    fail(f"tracks {sorted(tracks)} != ranks 0..{nranks - 1}")
spans = [e for e in events if e.get("ph") == "X"]
by_rank = collections.defaultdict(lambda: collections.defaultdict(list))
for e in spans:
    if e["ts"] < 0 or e["dur"] < 0:
        fail(f"negative time in {e}")
    by_rank[e["tid"]][e["name"]].append(e)
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
print(f"check_trace: ok ({len(spans)} spans, {nranks} ranks)")
