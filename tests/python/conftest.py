"""Fixtures of the mpimr Python tests, which run under mpirun:

    mpirun --oversubscribe -np N /usr/bin/python3 -m pytest -x -q -p no:cacheprovider tests/python

Every rank runs the same tests in the same order, since jobs are collective. A rank whose test fails
ends the session (-x) and calls MPI_Abort (pytest_unconfigure below), which ends every rank: the
others may be waiting in a collective that the failed rank will never join.

Fixtures: ``comm`` (MPI.COMM_WORLD), ``shared_tmp`` (a directory that is the same on every rank,
removed at the end), ``corpus`` (a few hundred KB of text in several files and its independent
counts), ``outdir`` (a fresh output directory path under shared_tmp, the same on every rank, made
from the test's name) and ``good_job`` (runs a small job and checks it: what a failure test does
after its failure).
"""

import collections
import os
import random
import shutil
import sys
import tempfile

import pytest
from mpi4py import MPI

import helpers


_session = {"exitstatus": 0, "shared_tmp": None}


def pytest_sessionfinish(session, exitstatus):
    _session["exitstatus"] = int(exitstatus)


def pytest_unconfigure(config):
    # After a failure (or an interruption) the session fixture's teardown skipped its barrier: remove
    # the shared directory here, and end every rank, since the others may be blocked in a collective
    # that this rank will not join (and MPI_Finalize would wait for them forever).
    if _session["exitstatus"] in (0, 5):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    if _session["shared_tmp"] is not None:
        shutil.rmtree(_session["shared_tmp"], ignore_errors=True)
    if MPI.COMM_WORLD.Get_size() > 1:
        MPI.COMM_WORLD.Abort(1)


@pytest.fixture(scope="session")
def comm():
    return MPI.COMM_WORLD


@pytest.fixture(scope="session")
def shared_tmp(request, comm):
    """A directory that is the same on every rank: rank 0 makes it and broadcasts its name."""
    path = tempfile.mkdtemp(prefix="mpimr-pytest-") if comm.Get_rank() == 0 else None
    path = comm.bcast(path, root=0)
    _session["shared_tmp"] = path
    yield path
    # No collective if this rank failed: pytest_unconfigure removes the directory and aborts.
    if request.session.testsfailed == 0:
        comm.Barrier()
        if comm.Get_rank() == 0:
            shutil.rmtree(path, ignore_errors=True)
        _session["shared_tmp"] = None


# The vocabulary of the corpus: short and long words, repeated ones, UTF-8 and bytes that are not
# UTF-8, punctuation; no ASCII whitespace, which separates words.
def _vocabulary(rng):
    letters = b"abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < 1500:
        length = min(1 + int(rng.expovariate(0.25)), 30)
        words.add(bytes(rng.choice(letters) for _ in range(length)))
    words.update([b"na\xc3\xafve", b"\xe6\x97\xa5\xe6\x9c\xac", b"\xff\xfe", b"it's", b"--", b"x,y",
                  b"Zebra", b"ZZZ", b"a" * 30, b"\x01\x02"])
    return sorted(words)


def _text(rng, vocabulary, size, end_with_newline):
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf-like
    lines, total = [], 0
    while total < size:
        kind = rng.random()
        if kind < 0.05:
            line = b""  # empty records
        else:
            count = rng.randint(1, 18)
            words = rng.choices(vocabulary, weights, k=count)
            separators = [rng.choice((b" ", b" ", b" ", b"  ", b"\t", b" \t ")) for _ in words]
            line = b"".join(s + w for s, w in zip(separators, words))[1:]
            if kind > 0.97:
                line = b"   " + line + b" \t"  # leading and trailing blanks
        lines.append(line)
        total += len(line) + 1
    text = b"\n".join(lines)
    return text + b"\n" if end_with_newline else text


class Corpus:
    """The test text: ``dir`` (the input directory), ``files`` (the files in it, in name order,
    subdirectories included), ``data[path]``, and independent counts from Python."""

    def __init__(self, directory, files):
        self.dir = directory
        self.files = files
        self.data = {}
        for path in files:
            with open(path, "rb") as f:
                self.data[path] = f.read()
        everything = b"".join(self.data.values())
        self.total_bytes = len(everything)
        self.words = collections.Counter(everything.split())
        # Records: lines without their newline; a last line without one is a record too.
        self.records = []  # (path, offset, record)
        for path in files:
            data, offset = self.data[path], 0
            while offset < len(data):
                end = data.find(b"\n", offset)
                end = len(data) if end < 0 else end
                self.records.append((path, offset, data[offset:end]))
                offset = end + 1
        self.lines = collections.Counter(record for _, _, record in self.records)


@pytest.fixture(scope="session")
def corpus(comm, shared_tmp):
    directory = os.path.join(shared_tmp, "corpus")
    if comm.Get_rank() == 0:
        rng = random.Random(20240611)
        vocabulary = _vocabulary(rng)
        os.makedirs(os.path.join(directory, "sub"))
        contents = {"a.txt": _text(rng, vocabulary, 150_000, True),
                    "b.txt": _text(rng, vocabulary, 90_000, False),  # no newline at the end
                    "empty.txt": b"",
                    os.path.join("sub", "c.txt"): _text(rng, vocabulary, 3_000, True)}
        for name, text in contents.items():
            with open(os.path.join(directory, name), "wb") as f:
                f.write(text)
    comm.Barrier()
    files = [os.path.join(directory, name) for name in ("a.txt", "b.txt", "empty.txt", "sub/c.txt")]
    return Corpus(directory, files)


@pytest.fixture
def outdir(request, shared_tmp):
    """outdir(tag="out"): a path under shared_tmp named after the test (the same on every rank),
    not yet made."""
    base = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)

    def make(tag="out"):
        return os.path.join(shared_tmp, f"{base}-{tag}")

    return make


@pytest.fixture
def good_job(comm, corpus):
    """good_job(path): a word count of the corpus into path, checked against Counter."""

    def run(path, communicator=None):
        return helpers.word_count_checked(communicator or comm, corpus, path)

    return run
