"""What the mpimr Python tests share: reading a job's output back (text, binary and lines part
files, parsed here without the package), checking what a failed job leaves, and a word count checked
against collections.Counter."""

import os
import struct

import mpimr


def split_words(block, emit):
    """A map_block function: the block's words (bytes.split), each with a count of 1."""
    emit.many(bytes(block).split(), 1)


def committed_parts(comm, path, extra=()):
    """The part files of a committed result, in rank order, as bytes: after a barrier (every rank
    has returned from the job), `_SUCCESS`, one part-RRRRR per rank and the names in `extra` (such
    as `_bad_records`) must be all there is."""
    comm.Barrier()
    assert os.path.isfile(os.path.join(path, "_SUCCESS")), f"{path}: no _SUCCESS"
    parts = [f"part-{r:05d}" for r in range(comm.Get_size())]
    assert sorted(os.listdir(path)) == sorted(["_SUCCESS"] + parts + list(extra)), os.listdir(path)
    result = []
    for name in parts:
        with open(os.path.join(path, name), "rb") as f:
            result.append(f.read())
    return result


def assert_nothing_committed(comm, path):
    """What a failed job leaves: no result. After a barrier (every rank has cleaned up), the
    directory is gone, or holds neither _SUCCESS nor a part file."""
    comm.Barrier()
    if os.path.exists(path):
        names = os.listdir(path)
        assert "_SUCCESS" not in names, names
        assert not [n for n in names if n.startswith("part-")], names


def parse_text(data):
    """Text part file: 'key<TAB>value\\n' lines (keys without TAB or newline)."""
    assert data == b"" or data.endswith(b"\n")
    pairs = []
    for line in data.split(b"\n")[:-1]:
        key, tab, value = line.partition(b"\t")
        assert tab, line
        pairs.append((key, value))
    return pairs


def parse_binary(data):
    """Binary part file: per pair, key length and value length as 8-byte little-endian integers,
    then the key, then the value."""
    pairs, at = [], 0
    while at < len(data):
        assert at + 16 <= len(data), "a truncated pair header"
        key_len, value_len = struct.unpack_from("<QQ", data, at)
        at += 16
        key, value = data[at:at + key_len], data[at + key_len:at + key_len + value_len]
        at += key_len + value_len
        assert at <= len(data), "a truncated pair"
        pairs.append((key, value))
    return pairs


def parse_lines(data):
    """Lines part file: key bytes, value bytes, '\\n' per pair."""
    assert data == b"" or data.endswith(b"\n")
    return data.split(b"\n")[:-1]


def text_counts(comm, path, extra=()):
    """A committed text result of u64 counts as {key: int}; keys are unique over all parts and each
    part is in key order (`extra`: as for committed_parts)."""
    counts = {}
    for part in committed_parts(comm, path, extra):
        pairs = parse_text(part)
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys), "a part file is not in key order"
        for key, value in pairs:
            assert key not in counts, f"key {key!r} in two parts"
            counts[key] = int(value)
    return counts


def word_count_checked(comm, corpus, path, **settings):
    """Counts the corpus's words with map_block and the sum_u64 reducer into `path` (text) and
    checks the result against Counter."""
    job = mpimr.Job(comm, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64",
                    output_dir=path, **settings)
    with job:
        job.run()
    assert text_counts(comm, path) == dict(corpus.words)
    return job


def gathered_items(comm, dataset):
    """Every rank's pairs of a dataset, as one list per rank (collective: mpi4py's allgather)."""
    return comm.allgather(dataset.items())


def merged(per_rank):
    """One dict from per-rank lists of (key, value) pairs, checking that no key is on two ranks."""
    result = {}
    for items in per_rank:
        for key, value in items:
            assert key not in result, f"key {key!r} on two ranks"
            result[key] = value
    return result


def small_job_checked(comm):
    """A small map_local job, checked: each rank r emits (i % 3, i) for i in range(10 + r)."""
    def numbers(start, stop, emit):
        for i in range(start, stop):
            emit(i % 3, i)

    result = mpimr.Dataset()
    mpimr.run(comm, map_local=numbers, local_count=10 + comm.Get_rank(), reduce="sum_u64",
              output_dataset=result)
    got = {mpimr.key_u64(k): mpimr.u64(v) for k, v in merged(gathered_items(comm, result)).items()}
    expected = {}
    for r in range(comm.Get_size()):
        for i in range(10 + r):
            expected[i % 3] = expected.get(i % 3, 0) + i
    assert got == expected
