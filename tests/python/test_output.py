"""Output: the text, binary and lines formats read back from the part files (parsed here, not by the
package), format_value, the raw bytes of a Python reducer's values, and what an existing result
does to the next job (refused, or replaced with overwrite)."""

import collections
import os
import struct

import pytest
from mpi4py import MPI

import mpimr
from helpers import (committed_parts, parse_binary, parse_lines, parse_text, split_words,
                     text_counts)


def test_text_format(comm, corpus, outdir):
    """text: 'key<TAB>value' per pair, sum_u64's values in decimal, each part in key order, each key in
    one part."""
    mpimr.run(comm, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64", output_dir=outdir(),
              output_format="text")
    assert text_counts(comm, outdir()) == dict(corpus.words)


def test_binary_format(comm, corpus, outdir):
    """binary: 8-byte little-endian key length and value length, key, value; sum_u64's values are
    their 8 bytes (no decimal formatting)."""
    mpimr.run(comm, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64", output_dir=outdir(),
              output_format="binary")
    got = {}
    for part in committed_parts(comm, outdir()):
        pairs = parse_binary(part)
        assert [k for k, _ in pairs] == sorted(k for k, _ in pairs)
        for key, value in pairs:
            assert len(value) == 8 and key not in got
            got[key] = struct.unpack("<Q", value)[0]
    assert got == dict(corpus.words)


def test_lines_format_writes_records_back(comm, corpus, outdir):
    """lines: key bytes, value bytes, newline: a record split into key and value by map and emitted
    without its newline comes back as it was (no reducer: every pair is written)."""
    def split_record(record, emit):
        emit(record[:3], record[3:])

    mpimr.run(comm, inputs=[corpus.dir], map=split_record, output_dir=outdir(), output_format="lines")
    lines = [line for part in committed_parts(comm, outdir()) for line in parse_lines(part)]
    assert collections.Counter(lines) == corpus.lines
    assert len(lines) == len(corpus.records)


def test_text_format_of_python_values(comm, corpus, outdir):
    """text with a Python reducer and no format_value: the value's bytes as they are; with
    format_value="f64": %.17g."""
    def first_letter(record, emit):
        for word in record.split():
            emit(word[:1], word)

    def longest(key, values, emit):
        emit(key, max(values, key=lambda v: (len(v), v)))

    mpimr.run(comm, inputs=[corpus.dir], map=first_letter, reduce=longest, output_dir=outdir("raw"))
    expected = {}
    for word in corpus.words:
        best = expected.get(word[:1])
        if best is None or (len(word), word) > (len(best), best):
            expected[word[:1]] = word
    got = {k: v for part in committed_parts(comm, outdir("raw")) for k, v in parse_text(part)}
    assert got == expected

    def mean_length(key, values, emit):
        lengths = [len(v) for v in values]
        emit(key, sum(lengths) / len(lengths))

    mpimr.run(comm, inputs=[corpus.dir], map=first_letter, reduce=mean_length, format_value="f64",
              output_dir=outdir("f64"))
    lengths = collections.defaultdict(list)
    for word, n in corpus.words.items():
        lengths[word[:1]] += [len(word)] * n
    got = {k: float(v) for part in committed_parts(comm, outdir("f64")) for k, v in parse_text(part)}
    assert got.keys() == lengths.keys()
    for key, values in lengths.items():
        assert got[key] == pytest.approx(sum(values) / len(values), rel=1e-12)


def test_existing_result_and_overwrite(comm, corpus, outdir):
    """A directory holding a result is refused without overwrite (JobError on every rank, the old
    result intact) and replaced with overwrite=True."""
    path = outdir()

    def count_lines(record, emit):
        emit(b"lines", 1)

    mpimr.run(comm, inputs=[corpus.dir], map=count_lines, reduce="sum_u64", output_dir=path)
    assert text_counts(comm, path) == {b"lines": len(corpus.records)}
    with pytest.raises(mpimr.JobError) as failure:
        mpimr.run(comm, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64", output_dir=path)
    # The rank that found the result says so; any other stopped with it.
    assert "already exists" in str(failure.value) or isinstance(failure.value, mpimr.RemoteError)
    assert comm.allreduce("already exists" in str(failure.value), op=MPI.LOR)
    assert text_counts(comm, path) == {b"lines": len(corpus.records)}  # untouched
    mpimr.run(comm, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64", output_dir=path,
              overwrite=True)
    assert text_counts(comm, path) == dict(corpus.words)


def test_output_none_counts_without_files(comm, corpus, outdir):
    """output_format="none" with no output_dir: the job runs (its figures count the keys) and writes
    nothing."""
    job = mpimr.run(comm, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64",
                    output_format="none")
    assert comm.allreduce(job.stats["keys_reduced"]) == len(corpus.words)
    assert comm.allreduce(job.stats["input_bytes"]) == corpus.total_bytes
    job.close()
    assert not os.path.exists(outdir())
