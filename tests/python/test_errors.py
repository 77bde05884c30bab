"""Failures: bad arguments raise TypeError/ValueError with a message before anything runs; emit
refuses what it cannot convert; an exception in a map or reduce function on one rank fails the job
on every rank (CallbackError there, chained to the exception and naming the input and offset or the
key; RemoteError elsewhere) and commits nothing; so does a KeyboardInterrupt, raised in a callback or
by a real SIGINT; an emitter or values
kept past their call raise; a map_block function keeping a view of its block fails the job. After
every failure the next job works."""

import pickle

import numpy as np
import pytest
from mpi4py import MPI

import mpimr
from helpers import (assert_nothing_committed, gathered_items, merged, small_job_checked,
                     split_words)


def _noop_map(record, emit):
    pass


def _noop_batches(start, stop, emit):
    pass


BAD_ARGUMENTS = [
    # (settings, exception, message)
    (dict(output_format="none"), ValueError, r"exactly one of .*\(given: none\)"),
    (dict(inputs="x", map=_noop_map, map_block=_noop_map, output_format="none"), ValueError,
     r"given: map, map_block"),
    (dict(map_local=_noop_batches, local_count=1, map_index=_noop_batches, index_count=1,
          output_format="none"), ValueError, r"given: map_index, map_local"),
    (dict(map_local=_noop_batches, local_count=1, reduce="median", output_format="none"), ValueError,
     r"reduce must be one of .*'sum_u64'.*not 'median'"),
    (dict(map_local=_noop_batches, local_count=1, combine="avg", output_format="none"), ValueError,
     r"combine must be one of"),
    (dict(map_local=_noop_batches, local_count=1, reduce="count", combine="sum_u64",
          output_format="none"), ValueError, r'reduce="count" counts the values'),
    (dict(map_local=_noop_batches, local_count=1, reduce="count", combine=lambda k, a, b: a,
          output_format="none"), ValueError, r'reduce="count"'),
    (dict(map_local=_noop_batches, local_count=1, reduce="sum_u64", combine="max_u64",
          output_format="none"), ValueError, r"would disagree"),
    (dict(map=_noop_map, output_format="none"), ValueError, r"map needs inputs"),
    (dict(inputs=[], map=_noop_map, output_format="none"), ValueError, r"inputs is empty"),
    (dict(inputs=[3], map=_noop_map, output_format="none"), TypeError, r"inputs must be paths, not int"),
    (dict(inputs=["a\0b"], map=_noop_map, output_format="none"), ValueError, r"holds a NUL"),
    (dict(inputs="x", map=5, output_format="none"), TypeError, r"map must be callable, not int"),
    (dict(map_index=_noop_batches, output_format="none"), ValueError, r"index_count must be at least 0"),
    (dict(map_index=_noop_batches, index_count=2.0, output_format="none"), TypeError,
     r"index_count must be an int, not float"),
    (dict(map_local=_noop_batches, local_count=True, output_format="none"), TypeError,
     r"local_count must be an int, not bool"),
    (dict(map_local=_noop_batches, local_count=-1, output_format="none"), ValueError,
     r"local_count must be at least 0, not -1"),
    (dict(inputs="x", map=_noop_map, index_count=3, output_format="none"), ValueError,
     r"index_count is for map_index"),
    (dict(map_local=_noop_batches, local_count=1, index_batch=0, output_format="none"), ValueError,
     r"index_batch must be at least 1"),
    (dict(map_pair=_noop_batches, output_format="none"), TypeError, r"map_pair needs input_dataset"),
    (dict(map_local=_noop_batches, local_count=1), ValueError, r"needs output_dir, output_dataset"),
    (dict(map_local=_noop_batches, local_count=1, output_dir="o", output_dataset=mpimr.Dataset()),
     ValueError, r"not both"),
    (dict(map_local=_noop_batches, local_count=1, output_dataset=[]), TypeError,
     r"output_dataset must be a mpimr.Dataset"),
    (dict(map_local=_noop_batches, local_count=1, output_dir="o", key_order="random"), ValueError,
     r"key_order must be one of 'part', 'global'"),
    (dict(map_local=_noop_batches, local_count=1, output_dir="o", output_format="csv"), ValueError,
     r"output_format must be one of"),
    (dict(map_local=_noop_batches, local_count=1, output_dir="o", format_value="hex"), ValueError,
     r"format_value must be one of"),
    (dict(map_local=_noop_batches, local_count=1, output_format="none", rounds_in_flight=9),
     ValueError, r"rounds_in_flight must be between 1 and 8, not 9"),
    (dict(map_local=_noop_batches, local_count=1, output_format="none", memory_bytes="1G"),
     TypeError, r"memory_bytes must be an int"),
    (dict(map_local=_noop_batches, local_count=1, output_format="none", transport="carrier-pigeon"),
     ValueError, r"transport must be one of"),
    (dict(map_local=_noop_batches, local_count=1, output_format="none", stall_timeout_seconds=-1),
     ValueError, r"stall_timeout_seconds must be 0 or more"),
    (dict(map_local=_noop_batches, local_count=1, output_format="none", workspace=object()),
     TypeError, r"workspace must be a mpimr.Workspace"),
]


@pytest.mark.parametrize("settings,exception,message", BAD_ARGUMENTS,
                         ids=[f"bad{i}" for i in range(len(BAD_ARGUMENTS))])
def test_bad_arguments(comm, settings, exception, message):
    """A bad argument raises TypeError or ValueError with a message, before any collective; the next
    job works."""
    with pytest.raises(exception, match=message):
        mpimr.Job(comm, **settings)
    small_job_checked(comm)


@pytest.mark.parametrize("which", ["str", "group", "null"])
def test_bad_communicator(comm, which):
    """comm must be an mpi4py intracommunicator, and not COMM_NULL."""
    bad = {"str": "world", "group": comm.Get_group(), "null": MPI.COMM_NULL}[which]
    with pytest.raises((TypeError, ValueError), match="comm must be an mpi4py intracommunicator|COMM_NULL"):
        mpimr.Job(bad, map_local=_noop_batches, local_count=1, output_format="none")


def test_emit_refuses_bad_keys_and_values(comm):
    """Inside a map function: emit and emit.many raise TypeError/ValueError with a message for what
    they cannot convert (a float key, a negative int, arrays of different lengths, a non-contiguous
    array, signed 8-byte keys) and emit nothing then; the function may catch the error and go on."""
    checked = []

    def refuse(start, stop, emit):
        cases = [
            (TypeError, "a key must be bytes, str or int, not float", lambda: emit(1.5, 1)),
            (TypeError, "a value must be bytes, str, int or float, not NoneType",
             lambda: emit(b"k", None)),
            (ValueError, r"an int value must be in \[0, 2\*\*64\), not -1", lambda: emit(b"k", -1)),
            (ValueError, r"an int key must be in \[0, 2\*\*64\), not -5", lambda: emit(-5, 1)),
            (ValueError, r"an int value must be in \[0, 2\*\*64\)", lambda: emit(b"k", 1 << 64)),
            (ValueError, "2 keys but 1 values", lambda: emit.many([b"a", b"b"], [1])),
            (ValueError, "3 keys but 2 values",
             lambda: emit.many(np.arange(3, dtype=np.uint64), np.arange(2, dtype=np.uint64))),
            (ValueError, "C-contiguous", lambda: emit.many(np.arange(10, dtype=np.uint64)[::2], 1)),
            (ValueError, "C-contiguous",
             lambda: emit.many(np.arange(5, dtype=np.uint64), np.arange(10.0)[::2])),
            (ValueError, "must be numpy.uint64", lambda: emit.many(np.arange(3, dtype=np.int64), 1)),
            (TypeError, "keys must be an array or a sequence of keys, not one bytes",
             lambda: emit.many(b"abc", 1)),
            (TypeError, "a key must be bytes, str or int, not float", lambda: emit.many([2.5], 1)),
            (ValueError, r"an int value must be in \[0, 2\*\*64\)", lambda: emit.many([b"a"], [-1])),
            (ValueError, "outside the data's 3 bytes or reversed",
             lambda: emit.slices(b"abc", np.array([2]), np.array([1]), 1)),
            (ValueError, "outside the data's 3 bytes or reversed",
             lambda: emit.slices(b"abc", np.array([0]), np.array([4]), 1)),
        ]
        for exception, message, call in cases:
            with pytest.raises(exception, match=message):
                call()
            checked.append(message)
        emit(b"ok", 1)
        emit.many([b"ok", b"fine"], np.array([2, 3], np.uint64))

    result = mpimr.Dataset()
    mpimr.run(comm, map_local=refuse, local_count=1, reduce="sum_u64", output_dataset=result)
    assert len(checked) == 15
    got = {k: mpimr.u64(v) for k, v in merged(gathered_items(comm, result)).items()}
    assert got == {b"ok": 3 * comm.Get_size(), b"fine": 3 * comm.Get_size()}  # nothing else


def test_dataset_refuses_bad_pairs():
    """Dataset.add and add_many convert as emit does, with the same errors."""
    dataset = mpimr.Dataset()
    with pytest.raises(TypeError, match="a key must be bytes, str or int, not float"):
        dataset.add(1.5, 1)
    with pytest.raises(ValueError, match=r"an int value must be in \[0, 2\*\*64\), not -1"):
        dataset.add(b"k", -1)
    with pytest.raises(ValueError, match="3 keys but 2 values"):
        dataset.add_many(np.arange(3, dtype=np.uint64), [1, 2])
    with pytest.raises(ValueError, match="C-contiguous"):
        dataset.add_many(np.arange(8, dtype=np.uint64)[::2], 1)
    assert len(dataset) == 0
    dataset.add(b"k", 1)
    assert dataset.items() == [(b"k", (1).to_bytes(8, "little"))]


def _expect_failure_on_one_rank(comm, run, failing_rank, expected_type=mpimr.CallbackError):
    """Runs `run()`, which must fail on every rank: `expected_type` on failing_rank, RemoteError on
    the others. Returns this rank's exception."""
    with pytest.raises(BaseException) as caught:
        run()
    error = caught.value
    if comm.Get_rank() == failing_rank:
        assert type(error) is expected_type, repr(error)
    else:
        assert type(error) is mpimr.RemoteError, repr(error)
        assert "another rank failed" in str(error)
    return error


@pytest.mark.parametrize("style", ["map", "map_block"])
def test_map_exception_on_one_rank(comm, corpus, outdir, good_job, style):
    """A map function raising on one rank (the last, on its 5th record or 2nd block): CallbackError
    there, naming the exception's type and message and the input file and byte offset of that record
    (or block), chained to the exception; RemoteError on the others; nothing committed; then the same
    job, not raising, succeeds in the same directory."""
    rank, last = comm.Get_rank(), comm.Get_size() - 1
    calls, raised = [0], []
    nth = 5 if style == "map" else 2

    def mapper(data, emit):
        calls[0] += 1
        if rank == last and calls[0] == nth:
            origin = emit.origin()
            problem = ValueError(f"bad data number {nth}")
            raised.append((origin, bytes(data), problem))
            raise problem
        emit.many(bytes(data).split(), 1)

    path = outdir()
    settings = dict(inputs=[corpus.dir], reduce="sum_u64", output_dir=path, read_bytes=16384)
    settings[style] = mapper
    error = _expect_failure_on_one_rank(comm, lambda: mpimr.run(comm, **settings), last)
    assert isinstance(error, mpimr.JobError) and error.message == str(error)
    assert not error.needs_abort
    if rank == last:
        (file_path, offset), data, problem = raised[0]
        assert error.__cause__ is problem
        text = str(error)
        assert f"rank {rank}: map: ValueError: bad data number {nth}" in text
        assert f"input '{file_path}' at byte {offset}" in text
        assert corpus.data[file_path][offset:offset + len(data)] == data  # origin is right
    assert_nothing_committed(comm, path)
    good_job(path)


def test_reduce_exception_names_key(comm, corpus, outdir, good_job):
    """A reduce function raising for one key (on whichever rank reduces it): CallbackError there
    naming the key, RemoteError elsewhere, nothing committed; the next job works."""
    word = max((w for w in corpus.words if w.isalpha()), key=lambda w: (corpus.words[w], w))
    raised = []

    def reducer(key, values, emit):
        if key == word:
            problem = KeyError("unlucky")
            raised.append(problem)
            raise problem
        emit(key, len(values))

    path = outdir()
    with pytest.raises(mpimr.JobError) as caught:
        mpimr.run(comm, inputs=[corpus.dir], map_block=split_words, reduce=reducer, output_dir=path)
    failing = [r for r, flag in enumerate(comm.allgather(bool(raised))) if flag]
    assert len(failing) == 1  # one rank reduces the key
    error = caught.value
    if raised:
        assert type(error) is mpimr.CallbackError
        assert error.__cause__ is raised[0]
        assert f"reduce: KeyError: 'unlucky' (key '{word.decode()}')" in str(error)
    else:
        assert type(error) is mpimr.RemoteError
    assert_nothing_committed(comm, path)
    good_job(path)


@pytest.mark.parametrize("style", ["map_index", "map_local", "map_pair", "combine"])
def test_exception_in_other_callbacks(comm, outdir, good_job, style):
    """An exception in a map_index, map_local or map_pair function or a Python combiner on one rank:
    CallbackError chained to it there (naming the batch or the dataset pair for the map functions),
    RemoteError elsewhere, nothing committed; the next job works."""
    rank, last = comm.Get_rank(), comm.Get_size() - 1
    raised = []

    def fail_here(problem):
        raised.append(problem)
        raise problem

    def batches(start, stop, emit):
        if rank == last and start >= 20:
            fail_here(LookupError(f"batch at {start}"))
        emit.many(np.arange(start, stop, dtype=np.uint64), 1)

    def pairs(key, value, emit):
        if rank == last and mpimr.key_u64(key) == 3:
            fail_here(ArithmeticError("pair three"))
        emit(key, value)

    def combiner(key, acc, value):
        if rank == last:
            fail_here(ZeroDivisionError("no combining here"))
        return acc

    path = outdir()
    settings = dict(reduce="sum_u64", output_dir=path)
    if style == "map_index":
        settings.update(map_index=batches, index_count=30 * comm.Get_size(), index_batch=10)
    elif style == "map_local":
        settings.update(map_local=batches, local_count=40, index_batch=10)
    elif style == "map_pair":
        settings.update(map_pair=pairs, input_dataset=mpimr.Dataset.from_numpy(
            np.arange(6, dtype=np.uint64), 1))
    else:
        settings.update(map_local=lambda start, stop, emit: emit.many([b"same"] * 50, b"v"),
                        local_count=1, combine=combiner, reduce=lambda k, values, emit: emit(k, 1))
    error = _expect_failure_on_one_rank(comm, lambda: mpimr.run(comm, **settings), last)
    if rank == last:
        assert len(raised) == 1 and error.__cause__ is raised[0]
        cause = f"{type(raised[0]).__name__}: {raised[0]}"
        if style == "map_index":
            # Its slice is [30 * rank, 30 * rank + 30): the first batch from 20 on is its first, or
            # at np 1 its third. Local records are numbered from 0 on each rank.
            assert f"rank {rank}: map: {cause} (local record {2 if rank == 0 else 0})" in str(error)
        elif style == "map_local":
            assert f"rank {rank}: map: {cause} (local record 2)" in str(error)  # its third batch
        elif style == "map_pair":
            assert f"rank {rank}: map: {cause} (pair 3 of the input dataset)" in str(error)
        else:
            assert "combiner failed" in str(error)
    assert_nothing_committed(comm, path)
    good_job(path)


def test_keyboard_interrupt_in_callback(comm, outdir, good_job):
    """KeyboardInterrupt raised in a callback on one rank: that rank gets KeyboardInterrupt (not
    wrapped), every other rank RemoteError; nothing committed; the next job works."""
    last = comm.Get_size() - 1

    def mapper(start, stop, emit):
        emit.many(np.arange(start, stop, dtype=np.uint64), 1)
        if comm.Get_rank() == last:
            raise KeyboardInterrupt("stop here")

    path = outdir()
    error = _expect_failure_on_one_rank(
        comm, lambda: mpimr.run(comm, map_local=mapper, local_count=100, index_batch=10,
                                reduce="sum_u64", output_dir=path), last, KeyboardInterrupt)
    if comm.Get_rank() == last:
        assert str(error) == "stop here"
    assert_nothing_committed(comm, path)
    good_job(path)


def test_sigint_while_the_job_runs(comm, outdir, good_job):
    """A real SIGINT (Ctrl-C) on one rank while the job runs, from a timer thread: Python's handler
    turns it into KeyboardInterrupt, which stops the job on every rank (KeyboardInterrupt there,
    RemoteError on the others) well before its end; nothing committed; the next job works."""
    import os
    import signal
    import threading
    import time

    last = comm.Get_size() - 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    batches = [0]

    def slow(start, stop, emit):  # 400 batches of 5 ms: 2 s of map per rank
        batches[0] += 1
        time.sleep(0.005)
        emit.many(np.arange(start, stop, dtype=np.uint64), 1)

    path = outdir()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    if comm.Get_rank() == last:
        timer.start()
    try:
        _expect_failure_on_one_rank(
            comm, lambda: mpimr.run(comm, map_local=slow, local_count=400, index_batch=1,
                                    reduce="sum_u64", output_dir=path), last, KeyboardInterrupt)
    finally:
        timer.cancel()
    # The interrupted rank stopped mapping at the signal (the others learn of it at their next
    # exchange, here the end of their map: this job's pairs never fill a round).
    if comm.Get_rank() == last:
        assert batches[0] < 200, f"{batches[0]} of 400 batches mapped after a SIGINT at 0.3 s"
    assert_nothing_committed(comm, path)
    good_job(path)


def test_emitter_and_values_used_after_their_call(comm, outdir, good_job):
    """An Emitter or Values kept past the call raises RuntimeError when used, in a later call too;
    the job itself is unharmed."""
    kept_emitters, kept_values = [], []

    def mapper(start, stop, emit):
        if kept_emitters:  # the emitter of an earlier call, used during this one
            with pytest.raises(RuntimeError, match="has returned"):
                kept_emitters[-1](b"late", 1)
        kept_emitters.append(emit)
        emit(b"key", stop - start)

    def reducer(key, values, emit):
        kept_values.append(values)
        emit(key, sum(mpimr.u64(v) for v in values))

    result = mpimr.Dataset()
    mpimr.run(comm, map_local=mapper, local_count=7, index_batch=3, reduce=reducer,
              output_dataset=result)
    got = merged(gathered_items(comm, result))
    assert {k: mpimr.u64(v) for k, v in got.items()} == {b"key": 7 * comm.Get_size()}
    emit = kept_emitters[0]
    with pytest.raises(RuntimeError, match="belongs to a map or reduce call that has returned"):
        emit(b"late", 1)
    with pytest.raises(RuntimeError, match="has returned"):
        emit.many([b"late"], 1)
    with pytest.raises(RuntimeError, match="has returned"):
        emit.origin()
    if kept_values:  # the rank that reduced b"key"
        with pytest.raises(RuntimeError, match="belong to a reduce call that has returned"):
            next(iter(kept_values[0]))
        with pytest.raises(RuntimeError, match="has returned"):
            len(kept_values[0])
    assert comm.allreduce(len(kept_values)) == 1
    good_job(outdir())


@pytest.mark.parametrize("keep", ["export", "numpy", "slice"])
def test_map_block_keeping_a_view_of_its_block_fails(comm, corpus, outdir, good_job, keep):
    """A map_block function that keeps a view of its block past the call -- an export of its buffer
    (pickle.PickleBuffer), a NumPy array over it or a memoryview slice of it -- fails the job with a
    message saying so (as the package documents); nothing committed; the next job works."""
    kept = []
    views = {"export": pickle.PickleBuffer, "numpy": lambda block: np.frombuffer(block, np.uint8),
             "slice": lambda block: block[:16]}

    def keeper(block, emit):
        kept.append(views[keep](block))
        split_words(block, emit)

    path = outdir()
    with pytest.raises(mpimr.JobError) as caught:
        mpimr.run(comm, inputs=[corpus.dir], map_block=keeper, reduce="sum_u64", output_dir=path)
    said = comm.allgather("kept a view of its block" in str(caught.value))
    assert any(said), str(caught.value)
    kept.clear()
    assert_nothing_committed(comm, path)
    good_job(path)


def test_dataset_closed_before_its_job_runs_is_refused(comm):
    """A dataset a job was made with cannot be closed until the job is: the C job points to it."""
    source = mpimr.Dataset.from_numpy(np.arange(10, dtype=np.uint64), 1)
    result = mpimr.Dataset()
    job = mpimr.Job(comm, map_pair=lambda k, v, emit: emit(k, v), input_dataset=source,
                    reduce="sum_u64", output_dataset=result)
    for dataset in (source, result):
        with pytest.raises(RuntimeError, match="close the job first"):
            dataset.close()
    job.run()
    total = sum(mpimr.u64(v) for _, v in result)
    assert comm.allreduce(total) == 10 * comm.Get_size()
    job.close()
    source.close()
    result.close()
    with pytest.raises(ValueError, match="closed"):
        len(source)


def test_job_used_from_its_own_callback_is_refused(comm, outdir):
    """A job's methods called from its own callback raise RuntimeError (one call at a time), and so
    does reading the dataset it is filling; the job itself goes on and succeeds."""
    refused = []
    job_box = []
    result = mpimr.Dataset()

    def mapper(start, stop, emit):
        for attempt in (lambda: job_box[0].close(), lambda: job_box[0].wait(),
                        lambda: job_box[0].test(), lambda: job_box[0].stats):
            with pytest.raises(RuntimeError, match="one call at a time"):
                attempt()
        with pytest.raises(RuntimeError, match="output of a running job"):
            result.to_numpy()
        refused.append(start)
        emit.many(np.arange(start, stop, dtype=np.uint64), 1)

    job = mpimr.Job(comm, map_local=mapper, local_count=30, index_batch=10, reduce="sum_u64",
                    output_dataset=result)
    job_box.append(job)
    job.run()
    assert refused == [0, 10, 20]
    keys, values = result.to_numpy(np.uint64, np.uint64)
    assert comm.allreduce(int(values.sum())) == 30 * comm.Get_size()
    job.close()


def test_system_exit_in_callback_is_raised_as_it_was(comm, outdir, good_job):
    """SystemExit in a callback on one rank stops the job everywhere and is raised as itself there
    (not wrapped in a JobError that `except mpimr.JobError` would catch); RemoteError elsewhere."""
    last = comm.Get_size() - 1

    def mapper(start, stop, emit):
        emit.many(np.arange(start, stop, dtype=np.uint64), 1)
        if comm.Get_rank() == last:
            raise SystemExit(3)

    path = outdir()
    error = _expect_failure_on_one_rank(
        comm, lambda: mpimr.run(comm, map_local=mapper, local_count=50, index_batch=10,
                                reduce="sum_u64", output_dir=path), last, SystemExit)
    if comm.Get_rank() == last:
        assert error.code == 3
    assert_nothing_committed(comm, path)
    good_job(path)


def test_numpy_integer_scalars_are_int_keys(comm):
    """A NumPy integer scalar as a key is an int key (8 bytes big-endian), in emit and in a list for
    emit.many, like a uint64 array's entries; 1-D arrays of other numbers are refused as keys."""
    result = mpimr.Dataset()

    def mapper(start, stop, emit):
        for i in range(start, stop):
            emit(np.uint64(i), 1)
            emit(np.int32(i), 1)
        emit.many(list(np.arange(start, stop, dtype=np.int64)), 1)
        emit.many(np.arange(start, stop, dtype=np.uint64), 1)
        with pytest.raises(ValueError, match="must be numpy.uint64"):
            emit.many(np.arange(3, dtype=np.int32), 1)

    mpimr.run(comm, map_local=mapper, local_count=40, index_batch=7, reduce="sum_u64",
              output_dataset=result)
    got = {mpimr.key_u64(k): mpimr.u64(v) for k, v in merged(gathered_items(comm, result)).items()}
    assert got == {i: 4 * comm.Get_size() for i in range(40)}
    assert all(len(k) == 8 and k == i.to_bytes(8, "big")
               for k, _ in result for i in [mpimr.key_u64(k)])
