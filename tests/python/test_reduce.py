"""Grouping: a Python reduce (the values iterator and len(values)), a Python combine, every built-in
reducer by name against NumPy and math.fsum, and key_order="global"."""

import collections
import math
import struct

import numpy as np
import pytest

import mpimr
from helpers import (committed_parts, gathered_items, merged, parse_binary, parse_text, split_words,
                     text_counts)


@pytest.mark.parametrize("in_order", [False, True])
def test_python_reduce_values_and_len(comm, corpus, in_order):
    """reduce(key, values, emit): values iterates over the key's values as bytes; len(values)
    counts them all, before and after iterating."""
    def word_line_lengths(record, emit):
        for word in record.split():
            emit(word, len(record))

    def stats(key, values, emit):
        before = len(values)
        numbers = [mpimr.u64(v) for v in values]
        assert all(isinstance(v, int) for v in numbers)
        emit(key, struct.pack("<QQQQ", before, len(values), sum(numbers), max(numbers)))

    result = mpimr.Dataset()
    mpimr.run(comm, inputs=[corpus.dir], map=word_line_lengths, reduce=stats,
              reduce_in_order=in_order, output_dataset=result)
    expected = collections.defaultdict(list)
    for _, _, record in corpus.records:
        for word in record.split():
            expected[word].append(len(record))
    got = merged(gathered_items(comm, result))
    assert set(got) == set(expected)
    for word, lengths in expected.items():
        assert struct.unpack("<QQQQ", got[word]) == (len(lengths), len(lengths), sum(lengths),
                                                     max(lengths))
    if in_order:  # the reducer emits in key order: this rank's pairs are sorted
        keys = [k for k, _ in result.items()]
        assert keys == sorted(keys)


def test_python_combine_and_reduce(comm, corpus, outdir):
    """combine(key, acc, value) -> bytes merges two values of a key on the map side; a Python
    reduce adds what arrives (format_value="u64" prints it in decimal)."""
    calls, seen = [0], [0]

    def add(key, acc, value):
        calls[0] += 1
        assert len(acc) == 8 and len(value) == 8
        return (mpimr.u64(acc) + mpimr.u64(value)).to_bytes(8, "little")

    def total(key, values, emit):
        seen[0] += len(values)
        emit(key, sum(mpimr.u64(v) for v in values))

    mpimr.run(comm, inputs=[corpus.dir], map_block=split_words, combine=add, reduce=total,
              format_value="u64", output_dir=outdir())
    assert text_counts(comm, outdir()) == dict(corpus.words)
    # Each combine call merges two values into one: what the reducers saw and the merges account for
    # every emitted pair, and the corpus repeats words, so the combiner did merge.
    merges, arrived = comm.allreduce(calls[0]), comm.allreduce(seen[0])
    assert merges > 0
    assert merges + arrived == sum(corpus.words.values())


def test_builtin_combine_with_python_reduce(comm, corpus):
    """combine="sum_u64" (in C) with a Python reduce: the reducer sees partial sums that add up."""
    seen = [0]

    def total(key, values, emit):
        values = [mpimr.u64(v) for v in values]
        seen[0] += len(values)
        emit(key, sum(values))

    result = mpimr.Dataset()
    mpimr.run(comm, inputs=[corpus.dir], map_block=split_words, combine="sum_u64", reduce=total,
              output_dataset=result)
    assert {k: mpimr.u64(v) for k, v in merged(gathered_items(comm, result)).items()} == dict(corpus.words)
    # At most one partial sum per word and rank crosses the shuffle (the combiner's point).
    assert comm.allreduce(seen[0]) <= len(corpus.words) * comm.Get_size()


# Data for the built-in reducers: per rank, keys in [0, 300) and u64 and f64 values, from a seed of
# the rank; the oracle sees every rank's arrays.
def _numbers(rank):
    rng = np.random.default_rng(7 + rank)
    n = 3000 + 500 * rank
    keys = rng.integers(0, 300, n).astype(np.uint64)
    unsigned = rng.integers(0, 1 << 40, n, dtype=np.uint64)
    floats = rng.standard_normal(n) * 1e3
    return keys, unsigned, floats


def _oracle(name, keys, unsigned, floats):
    result = {}
    for key in np.unique(keys):
        u, f = unsigned[keys == key], floats[keys == key]
        result[int(key)] = {"sum_u64": sum(int(x) for x in u), "min_u64": int(u.min()),
                            "max_u64": int(u.max()), "sum_f64": math.fsum(f.tolist()),
                            "min_f64": float(f.min()), "max_f64": float(f.max()),
                            "count": len(u)}[name]
    return result


@pytest.mark.parametrize("name", mpimr.BUILTIN_REDUCERS)
def test_builtin_reducer(comm, name):
    """Each built-in reducer by name, on map_local data spread over the ranks, against NumPy (f64 sums
    against math.fsum, to a relative 1e-12; everything else exact)."""
    assert name in ("sum_u64", "min_u64", "max_u64", "sum_f64", "min_f64", "max_f64", "count")
    keys, unsigned, floats = _numbers(comm.Get_rank())
    values = floats if name.endswith("f64") else unsigned

    def emit_slice(start, stop, emit):
        emit.many(keys[start:stop], values[start:stop])

    result = mpimr.Dataset()
    mpimr.run(comm, map_local=emit_slice, local_count=len(keys), index_batch=1000, reduce=name,
              output_dataset=result)
    got_keys, got_values = result.to_numpy(np.uint64, np.float64 if name.endswith("f64") else np.uint64)
    got = merged(comm.allgather(list(zip(got_keys.tolist(), got_values.tolist()))))
    everything = [np.concatenate(a) for a in zip(*comm.allgather((keys, unsigned, floats)))]
    expected = _oracle(name, *everything)
    assert set(got) == set(expected)
    for key, value in expected.items():
        if name == "sum_f64":
            assert math.isclose(got[key], value, rel_tol=1e-12, abs_tol=1e-9), (key, got[key], value)
        else:
            assert got[key] == value, (key, got[key], value)


def test_builtin_text_format(comm, outdir):
    """Text output of the built-ins: u64 in decimal, f64 as %.17g (reads back to the same double)."""
    rank = comm.Get_rank()
    words = [b"alpha", b"beta", b"gamma"]
    numbers = {b"alpha": 2.5, b"beta": 1.0 / 3.0, b"gamma": -1e300}

    def emit_some(start, stop, emit):
        for word in words:
            emit(word, numbers[word] * (rank + 1))

    mpimr.run(comm, map_local=emit_some, local_count=1, reduce="max_f64", output_dir=outdir())
    got = {k: v for part in committed_parts(comm, outdir()) for k, v in parse_text(part)}
    size = comm.Get_size()
    expected = {w: max(numbers[w] * (r + 1) for r in range(size)) for w in words}
    assert {k: float(v) for k, v in got.items()} == expected
    assert got[b"beta"] == b"%.17g" % expected[b"beta"]


@pytest.mark.parametrize("style", ["map_block", "map"])
def test_global_key_order_with_reducer(comm, corpus, outdir, style):
    """key_order="global": the parts taken in rank order are one sorted sequence, and the counts are
    still exact (the sample that chooses the splitters maps some records twice, uncounted)."""
    settings = {"map_block": split_words} if style == "map_block" else \
        {"map": lambda record, emit: emit.many(record.split(), 1)}
    mpimr.run(comm, inputs=[corpus.dir], reduce="sum_u64", key_order="global", output_dir=outdir(),
              **settings)
    keys, counts = [], {}
    for part in committed_parts(comm, outdir()):
        for key, value in parse_text(part):
            keys.append(key)
            counts[key] = int(value)
    assert keys == sorted(corpus.words)  # strictly increasing over all parts: sorted, no repeats
    assert counts == dict(corpus.words)


def test_global_key_order_without_reducer(comm, corpus, outdir):
    """key_order="global" with neither reducer nor combiner: every pair is written, ordered by key
    (and value) over all parts, in binary output."""
    def word_and_line(record, emit):
        for word in record.split():
            emit(word, record[:5])

    mpimr.run(comm, inputs=[corpus.dir], map=word_and_line, key_order="global", output_format="binary",
              output_dir=outdir())
    pairs = [p for part in committed_parts(comm, outdir()) for p in parse_binary(part)]
    assert pairs == sorted(pairs)
    expected = sorted((w, r[:5]) for _, _, r in corpus.records for w in r.split())
    assert pairs == expected
