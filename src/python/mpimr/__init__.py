"""mpimr for Python: MapReduce jobs over MPI on mpi4py communicators.

A job maps its input on every rank of a communicator, shuffles the emitted
(key, value) pairs to the rank their key belongs to, combines and reduces
them there, and writes one part file per rank (or keeps the result in memory
as a Dataset). The work runs in mpimr's C library; Python is called only for
the functions you give it, so the fewer calls the faster:

* ``map=f``: ``f(record, emit)`` once per record (a line, as ``bytes``,
  without its newline) -- the convenient, slow path (about a microsecond of
  Python per record);
* ``map_block=f``: ``f(block, emit)`` once per block of whole records (a
  read-only ``memoryview`` of about 256 KiB, each record ended by its
  newline, valid only during the call), emitting arrays of pairs at once --
  the fast path: ``emit.many(keys, values)`` with NumPy arrays or lists, or
  ``emit.slices(block, starts, stops, values)``, whose keys are slices of the
  block itself (found with NumPy: no Python object per key);
* ``map_index=f`` with ``index_count=N``: ``f(start, stop, emit)`` over this
  rank's slice of ``range(N)``, in batches, for data already in memory
  (NumPy arrays); ``map_local=f`` with ``local_count=n`` does the same over
  each rank's own ``range(n)``;
* ``map_pair=f`` with ``input_dataset=ds``: ``f(key, value, emit)`` once per
  pair of this rank's share of a Dataset.

Reduce with a Python function ``reduce(key, values, emit)`` (``values``
iterates over the key's values as ``bytes``) or by name with a built-in that
never calls Python: ``"sum_u64"``, ``"min_u64"``, ``"max_u64"``,
``"sum_f64"``, ``"min_f64"``, ``"max_f64"`` (also map-side combiners), and
``"count"``.

Keys and values are bytes. ``emit`` converts: ``bytes``-like objects are
taken as they are, ``str`` as UTF-8; an ``int`` value is 8 bytes
little-endian unsigned (what the u64 built-ins add), a ``float`` value 8
bytes little-endian IEEE; an ``int`` key is 8 bytes big-endian, so that the
bytewise key order is the numeric order. ``u64()``, ``f64()`` and
``key_u64()`` read them back.

Example (run with ``mpirun -np 4 python3 wc.py``)::

    from mpi4py import MPI
    import mpimr

    def words(block, emit):              # a block of lines: its words, each with a 1
        emit.many(bytes(block).split(), 1)

    job = mpimr.Job(MPI.COMM_WORLD, inputs=["text.txt"], map_block=words,
                    reduce="sum_u64", output_dir="counts")
    job.run()
    job.report()

Failures raise: ``TypeError``/``ValueError`` for a bad argument; a job that
fails raises ``JobError`` on every rank -- ``CallbackError`` on the rank whose
map or reduce function raised (chained to that exception, the message naming
the input file and byte offset, or the key), ``RemoteError`` on the others --
and commits nothing. A ``KeyboardInterrupt`` during a job stops it on every
rank, as SIGINT stops a C program, and is raised again on its rank.

Watching a job: ``emit.count(name, n)`` adds to a counter from map and reduce
functions, and ``job.counters()`` / ``job.counter(name)`` read the totals over
all ranks once the job has succeeded (the framework's own, ``mpimr.*``,
included). With ``max_bad_records=N`` a map function that raises
``BadRecord("why")`` has its record skipped and listed in
``OUTDIR/_bad_records``, until more than N were skipped over the whole job.
``progress="line"`` or ``"plain"`` shows the job's progress on rank 0's
stderr.
"""

import os as _os
import sys as _sys

from mpi4py import MPI as _MPI  # initialises MPI before the C library calls it

from . import _core

__all__ = [
    "Job", "Dataset", "Workspace", "Values", "Emitter", "JobError", "CallbackError", "RemoteError",
    "BadRecord", "run", "u64", "f64", "key_u64", "BUILTIN_REDUCERS", "BUILTIN_COMBINERS",
]

Values = _core.Values
Emitter = _core.Emitter

#: Reducers that run in C: the combiners, and "count" (the number of values, as a u64).
BUILTIN_COMBINERS = ("sum_u64", "min_u64", "max_u64", "sum_f64", "min_f64", "max_f64")
BUILTIN_REDUCERS = BUILTIN_COMBINERS + ("count",)

_KEY_ORDERS = {"part": 0, "global": 1}
_OUTPUT_FORMATS = {"text": 0, "binary": 1, "none": 2, "lines": 3}
_FORMATTERS = ("u64", "f64")
_TRANSPORTS = {"auto": 0, "alltoallv": 1, "pairwise": 2, "shared-memory": 3}
_PINS = {"auto": 0, "core": 1, "none": 2}
_PROGRESS = {"off": 0, "auto": 1, "line": 2, "plain": 3}


class JobError(RuntimeError):
    """A job failed. Raised on every rank of the job; nothing was committed.

    Attributes: ``status`` (the C library's negative status code),
    ``status_name`` (its description), ``message`` (this rank's one-line
    account, "rank R: ..."), and ``needs_abort`` (True when the ranks may be
    out of step -- an MPI failure or a stall -- and the program should call
    ``comm.Abort()``).
    """

    def __init__(self, status, message):
        self.status = status
        self.status_name = _core.strerror(status)
        self.message = message
        self.needs_abort = bool(_core.needs_abort(status))
        super().__init__(message or self.status_name)


class CallbackError(JobError):
    """This rank's map, combine or reduce function raised; ``__cause__`` is that exception."""


class RemoteError(JobError):
    """Another rank failed (its own exception names the cause); this rank stopped with it."""


class BadRecord(Exception):
    """Raised by a map function for a record it cannot use: ``raise mpimr.BadRecord("why")``.

    In a job with ``max_bad_records=N`` (N > 0) the record is skipped and the job goes on: it is
    counted (the counter ``"mpimr.bad_records"``) and listed in ``OUTDIR/_bad_records`` (or
    ``bad_records_path``) as ``PATH<TAB>BYTE OFFSET<TAB>MESSAGE``, the message being ``str()`` of
    the exception. Once more than N records were skipped over the whole job, the job fails on
    every rank (``JobError``). Pairs the call emitted before raising are kept, so check a record
    before emitting from it. For ``map_block`` the whole block is skipped (listed at its first
    record's offset); for ``map_index``/``map_local`` the batch, for ``map_pair`` the pair.

    Without ``max_bad_records``, or raised by a reduce function, it fails the job as any
    exception does (``CallbackError``). Any other exception a map function raises fails the job
    whatever ``max_bad_records`` is: a bug is not a bad record.
    """


def u64(value):
    """The integer in an 8-byte little-endian value (as ``emit`` writes an ``int`` value)."""
    return int.from_bytes(value, "little")


def f64(value):
    """The float in an 8-byte little-endian IEEE value (as ``emit`` writes a ``float``)."""
    return _core.f64(value)


def key_u64(key):
    """The integer in an 8-byte big-endian key (as ``emit`` writes an ``int`` key)."""
    return int.from_bytes(key, "big")


def _comm_handle(comm):
    if comm is None:
        comm = _MPI.COMM_WORLD
    if not isinstance(comm, _MPI.Intracomm):
        raise TypeError(f"comm must be an mpi4py intracommunicator (such as MPI.COMM_WORLD), not "
                        f"{type(comm).__name__}")
    if comm == _MPI.COMM_NULL:
        raise ValueError("comm is MPI.COMM_NULL")
    return comm, comm.py2f()


def _choice(name, value, table):
    if value not in table:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, table))}, not {value!r}")
    return table[value] if isinstance(table, dict) else value


def _count(name, value, low=0, high=(1 << 64) - 1):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        bound = f"at least {low}" if high == (1 << 64) - 1 and value < low else \
            f"at most {high}" if high == (1 << 64) - 1 else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bound}, not {value}")
    return value


def _seconds(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not value >= 0:
        raise ValueError(f"{name} must be 0 or more, not {value}")
    return float(value)


def _callable(name, value):
    if not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}")
    return value


class Workspace:
    """What consecutive jobs of one program share instead of setting it up again (C's
    mpimr_workspace): the duplicated communicator, the shuffle and its buffers, the core binding.
    Pass the same one to every job of an iterative algorithm, on every rank; close it (or let it be
    collected) after the last job, before MPI is finalised."""

    def __init__(self):
        self._core = _core.Workspace()

    @property
    def reuses(self):
        """Jobs that took a communicator and a shuffle from this workspace."""
        return self._core.reuses()

    def close(self):
        """Frees what the workspace holds (communicators: call it on every rank)."""
        self._core.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Dataset:
    """One rank's share of a distributed set of (key, value) pairs held in memory between jobs
    (C's mpimr_dataset). A job can leave its result in one (``output_dataset=``) and a later job
    can map over one (``input_dataset=`` with ``map_pair=``)."""

    def __init__(self):
        self._core = _core.Dataset()

    @classmethod
    def from_numpy(cls, keys, values):
        """A dataset of this rank's pairs ``keys[i], values[i]``, in the forms ``Emitter.many``
        takes."""
        dataset = cls()
        dataset.add_many(keys, values)
        return dataset

    def add(self, key, value):
        """Appends one pair (converted as ``emit`` converts)."""
        self._core.add(key, value)

    def add_many(self, keys, values):
        """Appends many pairs, in the forms ``Emitter.many`` takes."""
        self._core.add_many(keys, values)

    def clear(self):
        """Removes this rank's pairs."""
        self._core.clear()

    def __len__(self):
        return self._core.local_count()

    @property
    def nbytes(self):
        """Bytes this rank's pairs take in storage (keys, values and their lengths)."""
        return self._core.local_bytes()

    def __iter__(self):
        """This rank's pairs, as (key, value) bytes, in the order they were added."""
        return self._core.pairs()

    def items(self):
        """This rank's pairs as a list of (key, value) bytes."""
        return list(self._core.pairs())

    def to_numpy(self, key_dtype=None, value_dtype=None, value_shape=()):
        """This rank's pairs as two arrays (or lists), in order: ``(keys, values)``.

        ``key_dtype``: None (a list of bytes), ``numpy.uint64`` (8-byte big-endian keys, as an
        ``int`` key is emitted) or ``"S<n>"`` (keys of at most n bytes, padded with NULs).
        ``value_dtype``: None (a list of bytes), ``"S<n>"``, or a numeric dtype, each value then
        holding exactly ``value_shape`` items of it (``values`` has shape ``(len, *value_shape)``).
        A pair that does not fit raises ValueError naming it."""
        import numpy as np

        key_width, key_mode, key_type = _column_layout("key", key_dtype, (), np, key=True)
        value_width, value_mode, value_type = _column_layout("value", value_dtype, value_shape, np,
                                                             key=False)
        keys, values = self._core.columns(key_width, key_mode, value_width, value_mode)
        count = len(self)
        if key_type is not None:
            keys = np.frombuffer(keys, dtype=key_type).astype(key_type.newbyteorder("="))
            keys = keys.reshape(count)
        if value_type is not None:
            values = np.frombuffer(values, dtype=value_type).reshape((count,) + tuple(value_shape))
        return keys, values

    def global_count(self, comm=None):
        """The number of pairs on all ranks of ``comm`` (collective)."""
        _, handle = _comm_handle(comm)
        status, count = self._core.global_count(handle)
        _dataset_check(status, "global_count")
        return count

    def gather(self, comm=None, root=0):
        """Moves every rank's pairs to ``root`` (collective): rank 0's first, then rank 1's..."""
        comm, handle = _comm_handle(comm)
        _dataset_check(self._core.gather(handle, _root(comm, root)), "gather")

    def broadcast(self, comm=None, root=0):
        """Replaces every rank's pairs with a copy of ``root``'s (collective)."""
        comm, handle = _comm_handle(comm)
        _dataset_check(self._core.broadcast(handle, _root(comm, root)), "broadcast")

    def allgather(self, comm=None):
        """Every rank ends with all ranks' pairs, rank 0's first (collective: gather, then
        broadcast)."""
        self.gather(comm, 0)
        self.broadcast(comm, 0)

    def close(self):
        """Frees the pairs now rather than when the object is collected."""
        self._core.close()


def _root(comm, root):
    return _count("root", root, 0, comm.Get_size() - 1)


def _dataset_check(status, what):
    if status != 0:
        raise JobError(status, f"rank {_MPI.COMM_WORLD.Get_rank()}: Dataset.{what}: "
                               f"{_core.strerror(status)}")


def _column_layout(what, dtype, shape, np, key):
    """(width, mode, numpy dtype or None) for Dataset.columns: mode 0 exact width, 1 at most width
    (padded), 2 variable (a list of bytes)."""
    if dtype is None:
        if shape:
            raise ValueError(f"{what}_shape needs a {what}_dtype")
        return 0, 2, None
    dtype = np.dtype(dtype)
    if dtype.kind == "S":
        if shape:
            raise ValueError(f"{what}_shape is for numeric dtypes, not {dtype}")
        return dtype.itemsize, 1, dtype
    if key:
        if dtype != np.dtype(np.uint64):
            raise ValueError(f"key_dtype must be None, numpy.uint64 or 'S<n>', not {dtype}")
        return 8, 0, np.dtype(">u8")
    if dtype.kind not in "uifcb":
        raise ValueError(f"value_dtype must be None, 'S<n>' or numeric, not {dtype}")
    items = 1
    for n in shape:
        items *= _count("value_shape entries", n, 1)
    return dtype.itemsize * items, 0, dtype.newbyteorder("<")


class Job:
    """A MapReduce job on the ranks of an mpi4py communicator (every rank makes the same one).

    Input (one of): ``inputs`` (files and directories, read recursively in name order) with
    ``map`` or ``map_block``; ``map_index`` with ``index_count``; ``map_local`` with
    ``local_count``; ``map_pair`` with ``input_dataset``. ``index_batch`` is how many indices
    one ``map_index``/``map_local`` call gets at most (default 65536).

    Grouping: ``combine`` (a built-in name, or ``f(key, acc, value) -> bytes`` merging two values
    of a key, associative and commutative: slow), ``reduce`` (a built-in name, or
    ``f(key, values, emit)``), ``reduce_in_order`` (the reducer emits in key order, so its output
    streams to the part file), ``key_order`` ("part": each part file sorted; "global": the parts
    in rank order are one sorted sequence).

    Output: ``output_dir`` (made if missing; ``overwrite`` to replace a result),
    ``output_format`` ("text", "binary", "lines", "none"), ``format_value`` ("u64", "f64" or None:
    the value bytes as they are; the default follows a built-in reducer), or
    ``output_dataset`` (a Dataset that receives each rank's result instead of files).

    Tuning, as in C and the programs' options: ``memory_bytes``, ``spill_dir``, ``round_bytes``,
    ``rounds_in_flight``, ``transport`` ("auto", "alltoallv", "pairwise", "shared-memory"),
    ``peer_window``, ``ranks_per_node``, ``combine_bytes``, ``read_bytes``, ``pin`` ("auto",
    "core", "none"), ``verbose``, ``trace_path``, ``stall_warning_seconds``,
    ``stall_timeout_seconds``, ``workspace``, ``dynamic_map`` (True, the default: ranks that
    finish their share of the input files early take chunks of it from slower ranks; False: each
    rank maps its own share; ``map_index`` ranges are split between ranks here, as
    ``map_local`` batches, and stay with their rank).

    Watching it: ``max_bad_records`` (how many map records that raise ``BadRecord`` the job may
    skip, over all ranks; default 0: none), ``bad_records_path`` (where rank 0 lists the skipped
    records; default ``OUTDIR/_bad_records`` for a job with ``output_dir``, else no list),
    ``progress`` ("off", the default; "line": one line on rank 0's stderr rewritten in place;
    "plain": a new line every interval, for logs; "auto": "line" when rank 0's stderr is a
    terminal, else "off"), ``progress_interval_seconds`` (between updates; 0 or None: 1 s for
    "line", 10 s for "plain"). Map and reduce functions add to counters with
    ``emit.count(name, n=1)``; read them with ``counters()`` and ``counter(name)``.

    Making the job is collective (it duplicates the communicator and checks the settings);
    ``run()`` or ``start()`` with ``test()``/``wait()`` run it once. A job is used by one call at
    a time: its methods raise RuntimeError when called from its own callbacks, or from another
    thread while it runs. Datasets it was made with cannot be closed before it is.
    """

    def __init__(self, comm=None, *, inputs=None, map=None, map_block=None, map_index=None,
                 index_count=None, map_local=None, local_count=None, index_batch=65536,
                 map_pair=None, input_dataset=None, combine=None, reduce=None,
                 reduce_in_order=False, key_order="part", output_dir=None, overwrite=False,
                 output_format="text", format_value=None, output_dataset=None, memory_bytes=None,
                 spill_dir=None, round_bytes=None, rounds_in_flight=None, transport="auto",
                 peer_window=None, ranks_per_node=None, combine_bytes=None, read_bytes=None,
                 pin="auto", verbose=False, trace_path=None, stall_warning_seconds=None,
                 stall_timeout_seconds=None, workspace=None, max_bad_records=0,
                 bad_records_path=None, progress="off", progress_interval_seconds=None,
                 dynamic_map=True):
        self.comm, handle = _comm_handle(comm)
        settings = {}
        maps = [name for name, f in (("map", map), ("map_block", map_block), ("map_index", map_index),
                                     ("map_local", map_local), ("map_pair", map_pair)) if f is not None]
        if len(maps) != 1:
            raise ValueError("a job needs exactly one of map, map_block, map_index, map_local and "
                             f"map_pair (given: {', '.join(maps) or 'none'})")
        style = maps[0]
        if style in ("map", "map_block"):
            if inputs is None:
                raise ValueError(f"{style} needs inputs (files or directories)")
            if isinstance(inputs, (str, bytes)) or hasattr(inputs, "__fspath__"):
                inputs = [inputs]
            paths = []
            for path in inputs:
                if not isinstance(path, (str, bytes)) and not hasattr(path, "__fspath__"):
                    raise TypeError(f"inputs must be paths, not {type(path).__name__}")
                path = _os.fsdecode(path)  # encoded again as open() would
                if not path or "\0" in path:
                    raise ValueError(f"input path {path!r} is empty or holds a NUL")
                paths.append(path)
            if not paths:
                raise ValueError("inputs is empty")
            settings["inputs"] = paths
            settings[style] = _callable(style, map if style == "map" else map_block)
        elif inputs is not None:
            raise ValueError(f"inputs is for map and map_block, not {style}")
        if style == "map_index":
            settings["map_batches"] = _callable("map_index", map_index)
            total = _count("index_count", index_count if index_count is not None else -1)
            size, rank = self.comm.Get_size(), self.comm.Get_rank()
            settings["batch_start"] = total * rank // size
            settings["batch_stop"] = total * (rank + 1) // size
        elif index_count is not None:
            raise ValueError("index_count is for map_index")
        if style == "map_local":
            settings["map_batches"] = _callable("map_local", map_local)
            settings["batch_start"] = 0
            settings["batch_stop"] = _count("local_count", local_count if local_count is not None else -1)
        elif local_count is not None:
            raise ValueError("local_count is for map_local")
        settings["index_batch"] = _count("index_batch", index_batch, 1)
        if style == "map_pair":
            if not isinstance(input_dataset, Dataset):
                raise TypeError("map_pair needs input_dataset, a mpimr.Dataset")
            settings["map_pair"] = _callable("map_pair", map_pair)
            settings["input_dataset"] = input_dataset._core
        elif input_dataset is not None:
            raise ValueError("input_dataset is for map_pair")

        formatter = None
        if isinstance(combine, str):
            settings["combine_builtin"] = _choice("combine", combine, BUILTIN_COMBINERS)
            formatter = combine[-3:]
        elif combine is not None:
            settings["combine"] = _callable("combine", combine)
        if isinstance(reduce, str):
            _choice("reduce", reduce, BUILTIN_REDUCERS)
            if reduce == "count":
                if combine is not None:
                    raise ValueError('reduce="count" counts the values a key received, which a '
                                     'combiner would merge first: leave combine unset (or emit 1 '
                                     'and use reduce="sum_u64")')
                settings["reduce_count"] = True
                formatter = "u64"
            else:
                if combine is not None and combine != reduce:
                    raise ValueError(f"reduce={reduce!r} combines with the same built-in; combine="
                                     f"{combine!r} would disagree with it")
                settings["combine_builtin"] = reduce
                formatter = reduce[-3:]
        elif reduce is not None:
            settings["reduce"] = _callable("reduce", reduce)
            formatter = None
        settings["reduce_in_order"] = bool(reduce_in_order)
        settings["key_order"] = _choice("key_order", key_order, _KEY_ORDERS)

        if output_dataset is not None:
            if not isinstance(output_dataset, Dataset):
                raise TypeError("output_dataset must be a mpimr.Dataset")
            if output_dir is not None:
                raise ValueError("give output_dir or output_dataset, not both")
            settings["output_dataset"] = output_dataset._core
        settings["output_format"] = _choice("output_format", output_format, _OUTPUT_FORMATS)
        if output_dir is not None:
            if not isinstance(output_dir, (str, bytes)) and not hasattr(output_dir, "__fspath__"):
                raise TypeError("output_dir must be a path")
            output_dir = _os.fsdecode(output_dir)
            if not output_dir or "\0" in output_dir:
                raise ValueError(f"output_dir {output_dir!r} is empty or holds a NUL")
            settings["output_dir"] = output_dir
        elif output_dataset is None and output_format != "none":
            raise ValueError('a job needs output_dir, output_dataset or output_format="none"')
        settings["overwrite"] = bool(overwrite)
        if format_value is not None:
            formatter = _choice("format_value", format_value, _FORMATTERS)
        if formatter is not None:
            settings["format_value"] = formatter

        for name, value in (("memory_bytes", memory_bytes), ("round_bytes", round_bytes),
                            ("combine_bytes", combine_bytes), ("read_bytes", read_bytes)):
            if value is not None:
                settings[name] = _count(name, value, 1)
        for name, value, low, high in (("rounds_in_flight", rounds_in_flight, 1, 8),
                                       ("peer_window", peer_window, 1, 1 << 20),
                                       ("ranks_per_node", ranks_per_node, 0, 1 << 20)):
            if value is not None:
                settings[name] = _count(name, value, low, high)
        settings["transport"] = _choice("transport", transport, _TRANSPORTS)
        settings["pin"] = _choice("pin", pin, _PINS)
        settings["verbose"] = bool(verbose)
        settings["dynamic_map"] = bool(dynamic_map)
        for name, value in (("spill_dir", spill_dir), ("trace_path", trace_path),
                            ("bad_records_path", bad_records_path)):
            if value is not None:
                if not isinstance(value, (str, bytes)) and not hasattr(value, "__fspath__"):
                    raise TypeError(f"{name} must be a path")
                value = _os.fsdecode(value)
                if not value or "\0" in value:
                    raise ValueError(f"{name} {value!r} is empty or holds a NUL")
                settings[name] = value
        for name, value in (("stall_warning_seconds", stall_warning_seconds),
                            ("stall_timeout_seconds", stall_timeout_seconds),
                            ("progress_interval_seconds", progress_interval_seconds)):
            if value is not None:
                settings[name] = _seconds(name, value)
        if workspace is not None:
            if not isinstance(workspace, Workspace):
                raise TypeError("workspace must be a mpimr.Workspace")
            settings["workspace"] = workspace._core
        settings["max_bad_records"] = _count("max_bad_records", max_bad_records)
        settings["bad_record"] = BadRecord
        settings["progress"] = _choice("progress", progress, _PROGRESS)
        self._keep = (input_dataset, output_dataset, workspace)  # alive while the job is
        self._core = _core.Job(handle, settings)
        self._check(self._core.create())

    def _check(self, status):
        exception = self._core.take_exception()
        if status == 0:
            if exception is not None:
                raise exception  # a KeyboardInterrupt that came too late to stop the job
            return
        message = self._core.error_message()
        if exception is not None and not isinstance(exception, Exception):
            raise exception  # KeyboardInterrupt, SystemExit: as they were raised
        if exception is not None:
            raise CallbackError(status, message) from exception
        if status == _core.ERR_REMOTE:
            raise RemoteError(status, message)
        raise JobError(status, message)

    def run(self):
        """Runs the job to its end (collective); raises JobError if it failed. Returns the job."""
        self.start()
        self.wait()
        return self

    def start(self):
        """Starts the job without waiting for it (collective): the input is listed and split, and
        the output prepared; advance it with test() or finish it with wait()."""
        self._check(self._core.start())
        return self

    def test(self):
        """Advances a started job a little; True once it has finished (raises if it failed)."""
        status, done = self._core.test()
        self._check(status)
        return done

    def wait(self):
        """Runs a started job to its end; raises JobError if it failed. Returns the job."""
        self._check(self._core.wait())
        return self

    @property
    def error_message(self):
        """This rank's account of the last failure ("" if none)."""
        return self._core.error_message()

    @property
    def stats(self):
        """This rank's figures (times in seconds, volumes in pairs and bytes), as a dict."""
        return self._core.stats()

    def counters(self):
        """Every counter of the job, summed over all ranks, as ``{name: int}`` in name order: those
        the map and reduce functions added to with ``emit.count()``, and the framework's own
        ("mpimr.input_records", "mpimr.input_bytes", "mpimr.pairs_emitted", "mpimr.pairs_sent",
        "mpimr.keys_reduced", "mpimr.pairs_output", "mpimr.bytes_output", "mpimr.bad_records",
        "mpimr.spill_bytes"). The same on every rank; not collective. Raises
        RuntimeError unless the job has succeeded, ValueError once it is closed."""
        return self._core.counters()

    def counter(self, name):
        """One counter of the job (a str name), summed over all ranks, as in ``counters()``;
        KeyError if no rank added to it. Raises RuntimeError unless the job has succeeded."""
        return self._core.counter(name)

    def report(self, file=None, json_path=None):
        """Prints the job's one-line summary (minimum and maximum over ranks) on rank 0 to
        ``file`` (default stderr), and if ``json_path`` is given writes every rank's figures
        there as JSON (collective)."""
        text = self._core.report(json_path)
        if text is None:
            return
        stream = file if file is not None else _sys.stderr
        stream.write(text)
        stream.flush()

    def close(self):
        """Frees the job (its communicator duplicate) now; not collective."""
        self._core.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run(comm=None, **settings):
    """Makes a Job with these settings, runs it, and returns it (raises JobError on failure)."""
    return Job(comm, **settings).run()
