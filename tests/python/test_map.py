"""Every way to map (map per record, map_block with emit.many and emit.slices in each form of keys
and values, map_index, map_local, map_pair), each against an oracle computed here with Counter,
sorted() or NumPy."""

import collections
import pathlib
import struct

import numpy as np
import pytest

import mpimr
from helpers import committed_parts, gathered_items, merged, parse_text, split_words, text_counts


def test_map_record_words(comm, corpus, outdir):
    """map: one call per line, emit(word, 1) per word; text output counted by sum_u64 (the input and
    output directories given as pathlib paths)."""
    def words(record, emit):
        assert isinstance(record, bytes) and b"\n" not in record
        for word in record.split():
            emit(word, 1)

    mpimr.run(comm, inputs=pathlib.Path(corpus.dir), map=words, reduce="sum_u64",
              output_dir=pathlib.Path(outdir()))
    assert text_counts(comm, outdir()) == dict(corpus.words)


def test_map_record_each_record_once_with_origin(comm, corpus):
    """map: every record of every file (empty ones and a last line without a newline included) is
    mapped exactly once, and emit.origin() names its file and byte offset."""
    seen = []

    def record(rec, emit):
        path, offset = emit.origin()
        seen.append((path, offset, rec))
        emit(rec, 1)

    result = mpimr.Dataset()
    mpimr.run(comm, inputs=corpus.files, map=record, reduce="count", output_dataset=result)
    everything = sorted(r for rank_seen in comm.allgather(seen) for r in rank_seen)
    assert everything == sorted(corpus.records)
    counts = {k: mpimr.u64(v) for k, v in merged(gathered_items(comm, result)).items()}
    assert counts == dict(corpus.lines)


def test_map_block_bytes_list(comm, corpus, outdir):
    """map_block: blocks of whole lines (memoryview, read-only, each line ended by its newline),
    emit.many(list of bytes, 1)."""
    blocks = []

    def block_words(block, emit):
        assert isinstance(block, memoryview) and block.readonly
        data = bytes(block)
        assert data.endswith(b"\n") or data == corpus.data[corpus.files[1]][-len(data):]
        blocks.append(len(data))
        split_words(block, emit)

    mpimr.run(comm, inputs=[corpus.dir], map_block=block_words, reduce="sum_u64",
              output_dir=outdir(), read_bytes=16384)
    assert text_counts(comm, outdir()) == dict(corpus.words)
    all_blocks = [n for rank_blocks in comm.allgather(blocks) for n in rank_blocks]
    assert sum(all_blocks) == corpus.total_bytes  # every byte once
    assert len(all_blocks) >= corpus.total_bytes // 16384  # small blocks, as asked


def test_map_block_slices(comm, corpus, outdir):
    """map_block with emit.slices: words found with NumPy, emitted as slices of the block."""
    def tokenise(block, emit):
        data = np.frombuffer(block, np.uint8)
        in_word = np.zeros(len(data) + 2, np.bool_)
        in_word[1:-1] = ((data < 9) | (data > 13)) & (data != 32)
        edges = np.flatnonzero(in_word[1:] != in_word[:-1])
        emit.slices(block, edges[0::2], edges[1::2], np.ones(len(edges) // 2, np.uint64))
        del data

    mpimr.run(comm, inputs=[corpus.dir], map_block=tokenise, reduce="sum_u64", output_dir=outdir(),
              read_bytes=32768)
    assert text_counts(comm, outdir()) == dict(corpus.words)


def test_map_block_numpy_u64_keys_and_values(comm, corpus):
    """emit.many(uint64 key array, uint64 value array): keys are sent as 8 bytes big-endian (so their
    bytewise order is numeric), values as 8 bytes little-endian."""
    def lengths(block, emit):
        words = bytes(block).split()
        keys = np.array([len(w) for w in words], np.uint64)
        values = np.array([sum(w) for w in words], np.uint64)
        emit.many(keys, values)

    result = mpimr.Dataset()
    mpimr.run(comm, inputs=[corpus.dir], map_block=lengths, reduce="sum_u64", output_dataset=result,
              read_bytes=16384)
    expected = collections.Counter()
    for word, n in corpus.words.items():
        expected[len(word)] += n * sum(word)
    per_rank = gathered_items(comm, result)
    got = {struct.unpack(">Q", k)[0]: struct.unpack("<Q", v)[0] for k, v in merged(per_rank).items()}
    assert got == dict(expected)
    # The same through to_numpy, on this rank's share.
    keys, values = result.to_numpy(np.uint64, np.uint64)
    assert keys.dtype == np.uint64 and values.dtype.kind == "u"
    assert {int(k): int(v) for k, v in zip(keys, values)} == {
        struct.unpack(">Q", k)[0]: struct.unpack("<Q", v)[0] for k, v in result.items()}


def test_map_block_fixed_width_string_keys_float_values(comm, corpus, outdir):
    """emit.many('S<n>' array, float64 array): trailing NULs are padding; sum_f64 in text (%.17g)."""
    width = max(len(w) for w in corpus.words)

    def halves(block, emit):
        words = bytes(block).split()
        keys = np.array(words, dtype=f"S{width}")
        assert keys.dtype.itemsize == width
        emit.many(keys, np.full(len(words), 0.5))

    mpimr.run(comm, inputs=[corpus.dir], map_block=halves, reduce="sum_f64", output_dir=outdir())
    got = {}
    for part in committed_parts(comm, outdir()):
        for key, value in parse_text(part):
            got[key] = float(value)
    assert got == {w: n * 0.5 for w, n in corpus.words.items()}  # halves add up exactly


def test_map_block_2d_uint8_keys(comm, corpus):
    """emit.many(2-D uint8 array, uint64 array): each row is a key (here: a word's first two
    bytes)."""
    def prefixes(block, emit):
        words = [w for w in bytes(block).split() if len(w) >= 2]
        rows = np.frombuffer(b"".join(w[:2] for w in words), np.uint8).reshape(len(words), 2)
        emit.many(rows, np.ones(len(words), np.uint64))

    result = mpimr.Dataset()
    mpimr.run(comm, inputs=[corpus.dir], map_block=prefixes, reduce="sum_u64", output_dataset=result)
    expected = collections.Counter()
    for word, n in corpus.words.items():
        if len(word) >= 2:
            expected[word[:2]] += n
    got = {k: mpimr.u64(v) for k, v in merged(gathered_items(comm, result)).items()}
    assert got == dict(expected)
    keys, _ = result.to_numpy("S2", np.uint64)
    assert sorted(keys.tolist()) == sorted(k for k, _ in result.items())


def test_map_block_2d_float_values(comm, corpus):
    """emit.many(list of keys, 2-D float64 array): each row's bytes are a value (a vector), summed
    by a Python reducer and read back with to_numpy(value_shape)."""
    def line_vectors(block, emit):
        lines = bytes(block).split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        keys = [line.split()[0] if line.split() else b"(empty)" for line in lines]
        rows = np.array([[len(line), len(line.split()), 1.0] for line in lines], np.float64)
        rows = rows.reshape(len(lines), 3)
        emit.many(keys, rows)

    def add_vectors(key, values, emit):
        total = np.zeros(3)
        for value in values:
            assert len(value) == 24
            total += np.frombuffer(value, "<f8")
        emit(key, total.tobytes())

    result = mpimr.Dataset()
    mpimr.run(comm, inputs=[corpus.dir], map_block=line_vectors, reduce=add_vectors,
              output_dataset=result, read_bytes=16384)
    expected = collections.defaultdict(lambda: np.zeros(3))
    for _, _, line in corpus.records:
        key = line.split()[0] if line.split() else b"(empty)"
        expected[key] += [len(line), len(line.split()), 1.0]
    keys, values = result.to_numpy(None, np.float64, (3,))
    assert values.shape == (len(result), 3)
    got = merged(comm.allgather([(k, v.tolist()) for k, v in zip(keys, values)]))
    assert got == {k: v.tolist() for k, v in expected.items()}  # integers: exact in float64


@pytest.mark.parametrize("index_count,index_batch", [(10007, 1000), (5, 65536), (2, 1), (0, 7)])
def test_map_index(comm, index_count, index_batch):
    """map_index: each index of range(index_count) is mapped exactly once over all ranks, in batches
    of at most index_batch of this rank's contiguous slice."""
    batches = []

    def squares(start, stop, emit):
        batches.append((start, stop))
        indices = np.arange(start, stop, dtype=np.uint64)
        emit.many(indices, indices * indices)

    result = mpimr.Dataset()
    mpimr.run(comm, map_index=squares, index_count=index_count, index_batch=index_batch,
              output_dataset=result)  # no reducer: every pair as emitted
    everything = comm.allgather(batches)
    covered = sorted(i for rank_batches in everything for start, stop in rank_batches
                     for i in range(start, stop))
    assert covered == list(range(index_count))  # each once
    for rank_batches in everything:
        for start, stop in rank_batches:
            assert 0 < stop - start <= index_batch
        for (_, stop), (start, _) in zip(rank_batches, rank_batches[1:]):
            assert start == stop  # a rank's batches are one contiguous slice, in order
    keys, values = result.to_numpy(np.uint64, np.uint64)
    pairs = sorted(p for rank_pairs in comm.allgather(list(zip(keys.tolist(), values.tolist())))
                   for p in rank_pairs)
    assert pairs == [(i, i * i) for i in range(index_count)]


def test_map_local_counts_differ_per_rank(comm):
    """map_local: each rank maps its own range(local_count), rank 0's being empty; batches of
    index_batch."""
    rank, size = comm.Get_rank(), comm.Get_size()
    local_count = 7 * rank + (rank % 2) * 3  # 0 on rank 0
    batches = []

    def mine(start, stop, emit):
        batches.append((start, stop))
        for i in range(start, stop):
            emit(struct.pack(">II", rank, i), 1)

    result = mpimr.Dataset()
    mpimr.run(comm, map_local=mine, local_count=local_count, index_batch=4, reduce="count",
              output_dataset=result)
    assert [i for start, stop in batches for i in range(start, stop)] == list(range(local_count))
    assert all(0 < stop - start <= 4 for start, stop in batches)
    got = merged(gathered_items(comm, result))
    expected = {struct.pack(">II", r, i): 1 for r in range(size) for i in range(7 * r + (r % 2) * 3)}
    assert {k: mpimr.u64(v) for k, v in got.items()} == expected


def test_map_pair_over_dataset(comm):
    """map_pair: f(key, value, emit) once per pair of this rank's share of a Dataset."""
    rank = comm.Get_rank()
    rng = np.random.default_rng(100 + rank)
    n = 500 + 37 * rank
    keys = rng.integers(0, 1 << 40, n, dtype=np.uint64)
    values = rng.random(n)
    source = mpimr.Dataset.from_numpy(keys, values)
    assert len(source) == n
    calls = []

    def by_residue(key, value, emit):
        calls.append(key)
        emit(mpimr.key_u64(key) % 10, mpimr.f64(value))

    result = mpimr.Dataset()
    mpimr.run(comm, map_pair=by_residue, input_dataset=source, reduce="sum_f64",
              output_dataset=result)
    assert len(calls) == n and calls == [struct.pack(">Q", int(k)) for k in keys]
    all_keys = np.concatenate(comm.allgather(keys))
    all_values = np.concatenate(comm.allgather(values))
    got = {mpimr.key_u64(k): mpimr.f64(v) for k, v in merged(gathered_items(comm, result)).items()}
    assert sorted(got) == sorted(set((all_keys % 10).tolist()))
    for residue, total in got.items():
        assert np.isclose(total, all_values[all_keys % 10 == residue].sum(), rtol=1e-12, atol=0)
