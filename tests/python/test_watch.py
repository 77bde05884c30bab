"""Watching a job from Python: counters added with emit.count() in map and reduce functions and read
with Job.counters() / Job.counter() (equal to counts computed here from the input, the framework's
"mpimr.*" ones included, the same on every rank); bad counter names and amounts refused; map records
that raise mpimr.BadRecord skipped and listed in _bad_records under max_bad_records, and the job
failing once more were skipped; any other exception still failing the job; the progress display on
rank 0's stderr; bad values of the new keywords refused."""

import collections
import os
import pathlib
import time

import numpy as np
import pytest

import mpimr
from helpers import (assert_nothing_committed, gathered_items, merged, small_job_checked,
                     text_counts)

LONG = 8  # a "long" word has more bytes than this


def _count_words(record, emit):
    """A map function that counts what it sees, by name, and emits each word with a 1."""
    words = record.split()
    emit.count("lines")
    emit.count("words", len(words))
    if not words:
        emit.count("empty lines")
    for word in words:
        if len(word) > LONG:
            emit.count("long_words")
        emit(word, 1)


def _sum_counting(key, values, emit):
    """A reducer that counts keys and values, and emits the sum of its 8-byte counts."""
    emit.count("keys")
    emit.count("values", len(values))
    emit(key, sum(mpimr.u64(v) for v in values))


@pytest.mark.parametrize("style", ["map", "map_block"])
def test_counters_equal_the_oracle(comm, corpus, outdir, style):
    """Counters added in map and reduce, summed over ranks, equal counts made here from the input;
    so do the framework's; every rank reads the same totals; counter() reads one, KeyError if
    none."""
    if style == "map":
        settings = dict(map=_count_words)
    else:
        def count_block(block, emit):  # the same counts, a block of lines at a time
            lines = bytes(block).split(b"\n")
            if lines[-1] == b"":  # the last line of a file may lack its newline
                lines.pop()
            words = [w for line in lines for w in line.split()]
            emit.count("lines", len(lines))
            emit.count("words", len(words))
            emit.count("empty lines", sum(1 for line in lines if not line.split()))
            emit.count("long_words", sum(1 for w in words if len(w) > LONG))
            emit.many(words, 1)
        settings = dict(map_block=count_block)
    path = outdir()
    job = mpimr.run(comm, inputs=[corpus.dir], reduce=_sum_counting, format_value="u64",
                    output_dir=path, **settings)
    assert text_counts(comm, path) == dict(corpus.words)

    records = [record for _, _, record in corpus.records]
    words = [w for record in records for w in record.split()]
    expected = {
        "lines": len(records),
        "words": len(words),
        "empty lines": sum(1 for record in records if not record.split()),
        "long_words": sum(1 for w in words if len(w) > LONG),
        "keys": len(corpus.words),
        "values": len(words),
        "mpimr.input_bytes": corpus.total_bytes,
        "mpimr.pairs_emitted": len(words),
        "mpimr.pairs_sent": len(words),  # no combiner
        "mpimr.keys_reduced": len(corpus.words),
        "mpimr.pairs_output": len(corpus.words),
        "mpimr.bad_records": 0,
        "mpimr.spill_bytes": 0,
    }
    if style == "map":
        expected["mpimr.input_records"] = len(records)
    counters = job.counters()
    assert {name: counters[name] for name in expected} == expected
    assert list(counters) == sorted(counters)
    assert all(isinstance(value, int) for value in counters.values())
    assert counters["mpimr.bytes_output"] == sum(
        os.path.getsize(os.path.join(path, f"part-{r:05d}")) for r in range(comm.Get_size()))
    assert comm.allgather(counters) == [counters] * comm.Get_size()
    assert job.counter("words") == len(words)
    assert job.counter("mpimr.keys_reduced") == len(corpus.words)
    for missing in ("nothing", "", "a\0b", "\udc80", "mpimr.nothing"):
        with pytest.raises(KeyError):
            job.counter(missing)
    with pytest.raises(TypeError, match="must be a str, not bytes"):
        job.counter(b"words")
    job.close()
    with pytest.raises(ValueError, match="closed"):
        job.counters()


class _Name(str):
    """A str subclass: counted by its text, not through the cache of exact str names."""


def test_counter_names_and_amounts(comm):
    """emit.count() refuses bad names (ValueError) and wrong types (TypeError) and the callback may
    catch that and go on; equal names count into one counter however they are spelled; n may be any
    int in [0, 2**64) (a NumPy integer too) and sums wrap around modulo 2**64; an emitter kept past
    its call refuses to count."""
    refused = []
    kept = []

    def numbers(start, stop, emit):
        for i in range(start, stop):
            emit.count("calls")  # repeated: from the cache after the first
            emit.count("sum", i)
            emit.count(name="by keyword", n=2)
            emit.count(_Name("calls"), 1)
            emit.count("".join(["ca", "lls"]), np.uint16(1))
            emit(i % 2, 1)
        if start == 0:
            emit.count("wraps", (1 << 64) - 1)
            emit.count("x" * 64)
            emit.count("printable ascii: ~!#$%&'()*+,-./:;<=>?@[]^_`{|}", 0)
            cases = [
                ("", ValueError, "is empty"),
                ("x" * 65, ValueError, "longer than 64"),
                ('say "hi"', ValueError, "holds a '\"' or a '\\'"),
                ("back\\slash", ValueError, "holds a '\"' or a '\\'"),
                ("na\u00efve", ValueError, "not printable ASCII"),
                ("tab\there", ValueError, "not printable ASCII"),
                ("nul\0", ValueError, "not printable ASCII"),
                ("\udc80", ValueError, "not printable ASCII"),
                ("mpimr.input_records", ValueError, "starts with 'mpimr.'"),
                (b"bytes", TypeError, "must be a str, not bytes"),
                (7, TypeError, "must be a str, not int"),
            ]
            for name, exception, message in cases:
                try:
                    emit.count(name)
                except exception as e:
                    assert message in str(e), (name, str(e))
                    refused.append(name)
            for n, exception, message in [(-1, ValueError, r"n must be in [0, 2**64), not -1"),
                                          (1 << 64, ValueError, "n must be in [0, 2**64)"),
                                          (1.0, TypeError, "n must be an int, not float"),
                                          (True, TypeError, "n must be an int, not bool"),
                                          ("1", TypeError, "n must be an int, not str")]:
                try:
                    emit.count("amounts", n)
                except exception as e:
                    assert message in str(e), (n, str(e))
                    refused.append(n)
            for call, message in [(lambda: emit.count(), "missing its argument 'name'"),
                                  (lambda: emit.count("a", 1, 2), "at most 2 arguments"),
                                  (lambda: emit.count("a", m=1), "unexpected keyword argument 'm'"),
                                  (lambda: emit.count("a", name="b"), "multiple values")]:
                try:
                    call()
                except TypeError as e:
                    assert message in str(e), str(e)
                    refused.append(message)
            kept.append(emit)

    def reduce_counting(key, values, emit):
        emit.count("reduced keys")
        emit(key, len(values))

    size = comm.Get_size()
    local_count = 1000
    job = mpimr.Job(comm, map_local=numbers, local_count=local_count, index_batch=300,
                    reduce=reduce_counting, output_format="none")
    with pytest.raises(RuntimeError, match="once it has succeeded"):
        job.counters()
    job.run()
    assert len(refused) == 11 + 5 + 4
    with pytest.raises(RuntimeError, match="has returned"):
        kept[0].count("late")
    counters = job.counters()
    assert counters["calls"] == 3 * local_count * size  # "calls" spelled three ways
    assert counters["sum"] == size * local_count * (local_count - 1) // 2
    assert counters["by keyword"] == 2 * local_count * size
    assert counters["wraps"] == (size * ((1 << 64) - 1)) % (1 << 64)
    assert counters["x" * 64] == size
    assert counters["reduced keys"] == 2
    assert "amounts" not in counters and "" not in counters
    assert job.counter("mpimr.input_records") == -(-local_count // 300) * size  # batches
    job.close()


def _edge_list(comm, shared_tmp):
    """An edge list ('SRC DST' lines) with 3 malformed lines, made on rank 0: (path, data, the
    malformed lines' offsets)."""
    path = os.path.join(shared_tmp, "edges.txt")
    lines, bad = [], {}
    rng = np.random.default_rng(7)
    malformed = {400: b"17", 3100: b"5 x", 5900: b"# a comment"}
    offset = 0
    for i in range(6000):
        line = malformed.get(i, b"%d %d" % tuple(rng.integers(0, 50, 2)))
        if i in malformed:
            bad[offset] = line
        lines.append(line)
        offset += len(line) + 1
    data = b"\n".join(lines) + b"\n"
    if comm.Get_rank() == 0:
        with open(path, "wb") as f:
            f.write(data)
    comm.Barrier()
    return path, data, bad


def _parse_edge(record, emit):
    """Out-degree: each 'SRC DST' line emits (SRC, 1); a malformed line is a BadRecord."""
    fields = record.split()
    if len(fields) != 2 or not (fields[0].isdigit() and fields[1].isdigit()):
        raise mpimr.BadRecord(f"not an edge: {record.decode()!r}")
    emit.count("edges")
    emit(fields[0], 1)


def test_bad_records_skipped_then_too_many(comm, shared_tmp, outdir):
    """With max_bad_records=5, the 3 malformed lines (BadRecord) are skipped: the result is the
    count of the good lines, OUTDIR/_bad_records lists exactly those 3 (path, byte offset, message),
    and mpimr.bad_records counts them. With max_bad_records=2 the job fails on every rank and
    commits nothing."""
    path, data, bad = _edge_list(comm, shared_tmp)
    good = [line for line in data.split(b"\n")[:-1] if line not in bad.values()]
    expected = collections.Counter(line.split()[0] for line in good)

    out = outdir()
    job = mpimr.run(comm, inputs=[path], map=_parse_edge, reduce="sum_u64", output_dir=out,
                    max_bad_records=5)
    assert text_counts(comm, out, extra=["_bad_records"]) == dict(expected)
    assert job.counter("mpimr.bad_records") == 3
    assert job.counter("edges") == len(good)
    assert comm.allreduce(job.stats["bad_records"]) == 3
    with open(os.path.join(out, "_bad_records"), "rb") as f:
        listed = f.read().split(b"\n")
    assert listed[-1] == b""
    expected_lines = [b"%s\t%d\tnot an edge: '%s'" % (path.encode(), offset, line)
                      for offset, line in bad.items()]
    assert sorted(listed[:-1]) == sorted(expected_lines)
    job.close()

    out = outdir("too-many")
    with pytest.raises(mpimr.JobError) as failure:
        mpimr.run(comm, inputs=[path], map=_parse_edge, reduce="sum_u64", output_dir=out,
                  max_bad_records=2)
    told = not isinstance(failure.value, mpimr.RemoteError)  # this rank names the cause
    if told:
        assert "more than max_bad_records (2)" in failure.value.message, failure.value.message
    assert any(comm.allgather(told))
    assert_nothing_committed(comm, out)
    if os.path.exists(os.path.join(out, "_bad_records")):
        with open(os.path.join(out, "_bad_records"), "rb") as f:
            listed = f.read().split(b"\n")[:-1]
        assert len(listed) <= 3
        assert all(line.split(b"\t")[2].startswith(b"not an edge") for line in listed)
    small_job_checked(comm)


def test_other_exceptions_still_fail(comm, shared_tmp, outdir):
    """Under max_bad_records only BadRecord skips a record: a map function's other exception fails
    the job as without it (CallbackError chained to it on its rank, naming the input and offset;
    RemoteError elsewhere); BadRecord without max_bad_records fails the job too, and so does
    BadRecord from a reducer."""
    path, _, bad = _edge_list(comm, shared_tmp)
    first = min(bad)

    def strict(record, emit):
        if record == bad[first]:
            raise ValueError("no comments here")
        _parse_edge(record, emit)

    def check(tag, settings, cause, message):
        """Runs a job that must fail; returns the statuses of its CallbackErrors over all ranks."""
        out = outdir(tag)
        with pytest.raises(mpimr.JobError) as failure:
            mpimr.run(comm, inputs=[path], output_dir=out, **settings)
        e = failure.value
        if isinstance(e, mpimr.CallbackError):
            assert isinstance(e.__cause__, cause), repr(e.__cause__)
            assert message in e.message, e.message
        else:
            assert isinstance(e, mpimr.RemoteError), repr(e)
        told = e.status if isinstance(e, mpimr.CallbackError) else None
        statuses = {status for status in comm.allgather(told) if status is not None}
        assert_nothing_committed(comm, out)
        return statuses

    told = (f"rank {comm.Get_rank()}: map: ValueError: no comments here "
            f"(input '{path}' at byte {first})")
    skipping = check("skipping", dict(map=strict, reduce="sum_u64", max_bad_records=5), ValueError,
                     told)
    ordinary = check("ordinary", dict(map=_parse_edge, reduce="sum_u64"), mpimr.BadRecord,
                     "map: BadRecord: not an edge")
    assert len(skipping) == 1 and skipping == ordinary  # the same status as without skipping

    def reduce_refusing(key, values, emit):
        raise mpimr.BadRecord("not in reduce")

    check("reduce", dict(map=_parse_edge, reduce=reduce_refusing, max_bad_records=5),
          mpimr.BadRecord, "reduce: BadRecord: not in reduce")
    small_job_checked(comm)


def test_bad_batches_listed_at_bad_records_path(comm, shared_tmp):
    """BadRecord from a map_local function skips its batch, listed as 'local<TAB>BATCH<TAB>MESSAGE'
    at bad_records_path (an os.PathLike) for a job that writes no files."""
    listing = pathlib.Path(shared_tmp) / "batches" / "skipped.txt"
    if comm.Get_rank() == 0:
        listing.parent.mkdir()
    comm.Barrier()

    def batches(start, stop, emit):
        if start == 20:
            raise mpimr.BadRecord("batch\tfrom 20\nis bad")
        emit.many(list(range(start, stop)), 1)

    result = mpimr.Dataset()
    job = mpimr.run(comm, map_local=batches, local_count=50, index_batch=10, reduce="sum_u64",
                    output_dataset=result, max_bad_records=comm.Get_size(),
                    bad_records_path=listing)
    assert result.global_count(comm) == 40
    assert job.counter("mpimr.bad_records") == comm.Get_size()
    comm.Barrier()
    lines = listing.read_bytes().split(b"\n")
    assert lines[-1] == b"" and lines[:-1] == [b"local\t2\tbatch from 20 is bad"] * comm.Get_size()


def test_bad_blocks_skipped(comm, shared_tmp):
    """BadRecord from a map_block function skips the whole block, listed at its first record's
    offset, even while the function's locals hold views of the block; the other blocks count."""
    path, data, bad = _edge_list(comm, shared_tmp)

    def blocks(block, emit):
        view = block[:]  # a view of the block, in the frame the exception keeps
        if any(line in bad.values() for line in bytes(view).split(b"\n")):
            raise mpimr.BadRecord("a block with a malformed line")
        emit.many([line.split()[0] for line in bytes(view).split(b"\n") if line], 1)

    result = mpimr.Dataset()
    job = mpimr.run(comm, inputs=[path], map_block=blocks, read_bytes=4096, reduce="sum_u64",
                    output_dataset=result, max_bad_records=3, bad_records_path=path + ".bad")
    skipped = job.counter("mpimr.bad_records")
    assert 1 <= skipped <= 3
    mapped = sum(mpimr.u64(v) for _, v in merged(gathered_items(comm, result)).items())
    assert mapped < data.count(b"\n") - 3  # whole blocks were skipped, not just the bad lines
    comm.Barrier()
    with open(path + ".bad", "rb") as f:
        listed = [line.split(b"\t") for line in f.read().split(b"\n")[:-1]]
    assert len(listed) == skipped
    for where, offset, message in listed:
        offset = int(offset)
        assert where == path.encode() and message == b"a block with a malformed line"
        assert offset == 0 or data[offset - 1:offset] == b"\n"
        assert any(offset <= bad_offset for bad_offset in bad)


def test_progress_plain(comm, shared_tmp, capfd):
    """progress="plain" with a 0.05 s interval prints 'mpimr: ' lines on rank 0's stderr while a
    job of about half a second maps (small reads, so the display runs between them), ending in one
    'mpimr: done:' line; the other ranks print nothing, and the default prints nothing."""
    path = os.path.join(shared_tmp, "slow.txt")
    if comm.Get_rank() == 0:
        with open(path, "w") as f:
            f.writelines(f"{i} " * 2100 + "\n" for i in range(20))  # 20 records of about 4 KiB
    comm.Barrier()
    pause = 0.5 * comm.Get_size() / 20  # about 0.5 s of mapping on every rank

    def slow(record, emit):
        time.sleep(pause)
        emit(record.split()[0], 1)

    settings = dict(inputs=[path], read_bytes=4096, reduce="sum_u64", output_format="none")
    capfd.readouterr()
    started = time.monotonic()
    mpimr.run(comm, map=slow, progress="plain", progress_interval_seconds=0.05, **settings)
    assert time.monotonic() - started >= 0.4
    lines = [line for line in capfd.readouterr().err.split("\n") if line.startswith("mpimr: ")]
    if comm.Get_rank() == 0:
        assert len(lines) >= 3, lines
        assert any(line.startswith("mpimr: map ") for line in lines), lines
        assert lines[-1].startswith("mpimr: done: 100.0% of "), lines
        assert not any(line.startswith("mpimr: done: ") for line in lines[:-1]), lines
    else:
        assert lines == []
    mpimr.run(comm, map=lambda record, emit: None, **settings)  # progress="off"
    assert not [line for line in capfd.readouterr().err.split("\n") if line.startswith("mpimr: ")]


def _noop_batches(start, stop, emit):
    pass


BAD_WATCH_ARGUMENTS = [
    (dict(max_bad_records=-1), ValueError, r"max_bad_records must be at least 0, not -1"),
    (dict(max_bad_records=1 << 64), ValueError, r"max_bad_records must be at most"),
    (dict(max_bad_records="5"), TypeError, r"max_bad_records must be an int, not str"),
    (dict(max_bad_records=True), TypeError, r"max_bad_records must be an int, not bool"),
    (dict(max_bad_records=None), TypeError, r"max_bad_records must be an int, not NoneType"),
    (dict(bad_records_path=3), TypeError, r"bad_records_path must be a path"),
    (dict(bad_records_path=""), ValueError, r"bad_records_path '' is empty"),
    (dict(bad_records_path="a\0b"), ValueError, r"holds a NUL"),
    (dict(progress="fancy"), ValueError, r"progress must be one of 'off', 'auto', 'line', 'plain', "
                                         r"not 'fancy'"),
    (dict(progress=True), ValueError, r"progress must be one of"),
    (dict(progress=None), ValueError, r"progress must be one of"),
    (dict(progress_interval_seconds=-0.5), ValueError,
     r"progress_interval_seconds must be 0 or more"),
    (dict(progress_interval_seconds=float("nan")), ValueError,
     r"progress_interval_seconds must be 0"),
    (dict(progress_interval_seconds="1"), TypeError,
     r"progress_interval_seconds must be a number of seconds, not str"),
]


@pytest.mark.parametrize("settings,exception,message", BAD_WATCH_ARGUMENTS,
                         ids=[f"bad{i}" for i in range(len(BAD_WATCH_ARGUMENTS))])
def test_bad_watch_arguments(comm, settings, exception, message):
    """A bad value of a watching keyword raises TypeError or ValueError naming it, before any
    collective."""
    with pytest.raises(exception, match=message):
        mpimr.Job(comm, map_local=_noop_batches, local_count=1, output_format="none", **settings)


def test_watch_arguments_accepted(comm):
    """The watching keywords' good values make a job that runs."""
    for settings in (dict(progress="auto", max_bad_records=0, bad_records_path=None),
                     dict(progress="off", progress_interval_seconds=0,
                          max_bad_records=(1 << 64) - 1)):
        job = mpimr.run(comm, map_local=_noop_batches, local_count=1, output_format="none",
                        **settings)
        assert job.counter("mpimr.bad_records") == 0
        job.close()
    small_job_checked(comm)
