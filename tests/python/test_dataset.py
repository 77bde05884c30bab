"""Datasets: a job's result in memory (output_dataset), from_numpy/to_numpy in each layout, items and
iteration, global_count, gather, broadcast and allgather, against what each rank put in."""

import struct

import numpy as np
import pytest

import mpimr
from helpers import gathered_items, merged, split_words


def _rank_pairs(rank):
    """Rank r's pairs: keys r*1000 + i (uint64), values rows [i, r, i*r + 0.5] (3 doubles)."""
    n = 5 + 3 * rank
    keys = np.arange(n, dtype=np.uint64) + np.uint64(rank * 1000)
    values = np.array([[i, rank, i * rank + 0.5] for i in range(n)], np.float64).reshape(n, 3)
    return keys, values


def test_output_dataset_word_count(comm, corpus):
    """output_dataset: each rank keeps its share of the result; the shares are disjoint and together
    equal Counter's count."""
    result = mpimr.Dataset()
    job = mpimr.run(comm, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64",
                    output_dataset=result)
    job.close()
    per_rank = gathered_items(comm, result)
    assert {k: mpimr.u64(v) for k, v in merged(per_rank).items()} == dict(corpus.words)
    assert len(result) == len(per_rank[comm.Get_rank()])
    assert result.global_count(comm) == len(corpus.words)
    assert list(result) == result.items()  # iteration gives the same pairs in the same order


def test_from_numpy_to_numpy_round_trip(comm):
    """from_numpy(uint64 keys, 2-D float64 values) and back: to_numpy(np.uint64, np.float64, (3,));
    items() holds big-endian keys and little-endian doubles; len and nbytes."""
    keys, values = _rank_pairs(comm.Get_rank())
    dataset = mpimr.Dataset.from_numpy(keys, values)
    assert len(dataset) == len(keys)
    assert dataset.nbytes >= len(keys) * (8 + 24)
    items = dataset.items()
    assert items == [(struct.pack(">Q", int(k)), struct.pack("<3d", *v)) for k, v in zip(keys, values)]
    got_keys, got_values = dataset.to_numpy(np.uint64, np.float64, (3,))
    assert got_keys.dtype == np.uint64 and got_keys.shape == keys.shape
    assert np.array_equal(got_keys, keys)
    assert got_values.shape == values.shape and np.array_equal(got_values, values)
    # Lists of bytes when no dtype is given.
    raw_keys, raw_values = dataset.to_numpy()
    assert list(zip(raw_keys, raw_values)) == items


def test_string_keys_and_values(comm):
    """'S<n>' columns: keys shorter than n come back padded with NULs (as NumPy shows them,
    stripped); add() and add_many() with lists; str as UTF-8."""
    rank = comm.Get_rank()
    dataset = mpimr.Dataset()
    dataset.add("ключ", b"v")  # str as UTF-8
    dataset.add_many([b"a", b"bb", 7], [b"x", "yy", 3])
    expected = [("ключ".encode(), b"v"), (b"a", b"x"), (b"bb", b"yy"),
                (struct.pack(">Q", 7), struct.pack("<Q", 3))]
    assert dataset.items() == expected
    keys, values = dataset.to_numpy("S8", "S8")
    assert keys.dtype == np.dtype("S8") and values.dtype == np.dtype("S8")
    # NumPy shows 'S' items without their trailing NULs (the padding, and the u64's zero bytes).
    assert keys.tolist() == [k.rstrip(b"\0") for k, _ in expected]
    assert values.tolist() == [v.rstrip(b"\0") for _, v in expected]
    assert keys.tobytes() == b"".join(k.ljust(8, b"\0") for k, _ in expected)
    assert values.tobytes() == b"".join(v.ljust(8, b"\0") for _, v in expected)
    dataset.clear()
    assert len(dataset) == 0 and dataset.items() == []
    strings = np.array([b"r%d-%d" % (rank, i) for i in range(4)], "S6")
    dataset.add_many(strings, np.arange(4, dtype=np.uint64))
    assert dataset.items() == [(b"r%d-%d" % (rank, i), struct.pack("<Q", i)) for i in range(4)]


def test_gather_broadcast_allgather(comm):
    """gather to a root (rank 0's pairs first, then rank 1's...; the others left empty), broadcast
    from a root (everyone a copy of its pairs), allgather (everyone all pairs in rank order),
    global_count on each."""
    rank, size = comm.Get_rank(), comm.Get_size()
    all_items = [mpimr.Dataset.from_numpy(*_rank_pairs(r)).items() for r in range(size)]
    everything = [p for items in all_items for p in items]

    root = size - 1
    dataset = mpimr.Dataset.from_numpy(*_rank_pairs(rank))
    assert dataset.global_count(comm) == len(everything)
    dataset.gather(comm, root=root)
    assert dataset.items() == (everything if rank == root else [])
    assert dataset.global_count(comm) == len(everything)

    dataset = mpimr.Dataset.from_numpy(*_rank_pairs(rank))
    source = 1 % size
    dataset.broadcast(comm, root=source)
    assert dataset.items() == all_items[source]
    assert dataset.global_count(comm) == len(all_items[source]) * size

    dataset = mpimr.Dataset.from_numpy(*_rank_pairs(rank))
    dataset.allgather(comm)
    assert dataset.items() == everything
    keys, values = dataset.to_numpy(np.uint64, np.float64, (3,))
    assert np.array_equal(keys, np.concatenate([_rank_pairs(r)[0] for r in range(size)]))
    assert np.array_equal(values, np.concatenate([_rank_pairs(r)[1] for r in range(size)]))
    with pytest.raises(ValueError, match="root"):
        dataset.gather(comm, root=size)  # before any collective: on every rank alike


def test_map_pair_chain_through_datasets(comm, corpus):
    """A job's output dataset is the next job's input: word counts, then the number of words with
    each count (map_pair), against Counter."""
    counts = mpimr.Dataset()
    mpimr.run(comm, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64", output_dataset=counts)
    histogram = mpimr.Dataset()
    mpimr.run(comm, map_pair=lambda word, count, emit: emit(mpimr.u64(count), 1),
              input_dataset=counts, reduce="count", output_dataset=histogram)
    got = {mpimr.key_u64(k): mpimr.u64(v) for k, v in merged(gathered_items(comm, histogram)).items()}
    expected = {}
    for n in corpus.words.values():
        expected[n] = expected.get(n, 0) + 1
    assert got == expected


def test_to_numpy_wrong_width(comm):
    """to_numpy with a layout the pairs do not fit raises ValueError naming the pair."""
    dataset = mpimr.Dataset()
    dataset.add(5, 1.5)  # an 8-byte key, an 8-byte value
    dataset.add(6, b"twelve bytes")  # a 12-byte value
    with pytest.raises(ValueError, match=r"pair 1 .*value of 12 bytes, not 8"):
        dataset.to_numpy(np.uint64, np.float64)
    with pytest.raises(ValueError, match=r"pair 0 .*value of 8 bytes, not 16"):
        dataset.to_numpy(np.uint64, np.float64, (2,))
    with pytest.raises(ValueError, match=r"pair 0 .*key of 8 bytes, not at most 4"):
        dataset.to_numpy("S4", None)
    with pytest.raises(ValueError, match="key_dtype"):
        dataset.to_numpy(np.float64, None)
    keys, values = dataset.to_numpy(np.uint64, None)
    assert keys.tolist() == [5, 6] and values == [struct.pack("<d", 1.5), b"twelve bytes"]


def test_datasets_in_use_cannot_change(comm):
    """While a job runs, its input and output datasets refuse add, clear and close, and its output
    dataset any reading too (RuntimeError); the job's result is unharmed. A dataset changed while iterated is noticed."""
    source = mpimr.Dataset.from_numpy(np.arange(4, dtype=np.uint64), 1)
    result = mpimr.Dataset()
    refusals = []

    def copy(key, value, emit):
        for change in (lambda: result.add(b"x", 1), lambda: source.clear(),
                       lambda: source.add(b"y", 1), lambda: result.close()):
            with pytest.raises(RuntimeError, match="in use by a running job|output of a running job"):
                change()
            refusals.append(1)
        emit(key, value)

    mpimr.run(comm, map_pair=copy, input_dataset=source, reduce="sum_u64", output_dataset=result)
    assert len(refusals) == 4 * 4 and len(source) == 4
    got = {mpimr.key_u64(k): mpimr.u64(v) for k, v in merged(gathered_items(comm, result)).items()}
    assert got == {i: comm.Get_size() for i in range(4)}
    pairs = iter(source)
    next(pairs)
    source.add(b"z", 2)
    with pytest.raises(RuntimeError, match="changed while it was iterated"):
        next(pairs)
