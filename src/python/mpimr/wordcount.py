"""mpimr.wordcount: mpimr-wordcount in Python (``mpirun -np P python3 -m mpimr.wordcount``).

The same words, the same output and the same options that apply as the C program; the map runs in
Python, a block of whole lines per call tokenised with NumPy (``--map split``: with bytes.split();
``--map record``: a line per call, the slow path).
"""

import io
import sys

from mpi4py import MPI

import numpy

import mpimr
from mpimr._programs import Parser, UsageError, program_main

PROGRAM = "mpimr.wordcount"

DESCRIPTION = """\
NAME
    python3 -m mpimr.wordcount - count words in files with MapReduce over MPI, mapping in Python

SYNOPSIS
    mpirun -np P python3 -m mpimr.wordcount -o OUTDIR [OPTIONS] INPUT...

DESCRIPTION
    Counts every word in the INPUT files and directories (read recursively, hidden files
    skipped), as mpimr-wordcount does, with the map function in Python. A word is a maximal
    run of bytes that are not ASCII whitespace (space, TAB, LF, VT, FF, CR). Files are split
    into byte ranges across ranks at line boundaries.

    The default map gets a block of whole lines per call (about 256 KiB), finds the words'
    boundaries with NumPy and emits every word as a slice of the block with one call,
    emit.slices(block, starts, stops, 1): no Python object per word. The counts are added
    in C on both sides of the shuffle. --map split splits the block with bytes.split() and
    emits the list with emit.many(words, 1); --map record calls Python once per line and
    emits each word on its own: the convenient, slow path.

OUTPUT
    OUTDIR/part-00000 ... one file per rank, lines 'word<TAB>count' in bytewise word order,
    and OUTDIR/_SUCCESS once every part is complete: byte for byte what mpimr-wordcount
    writes for the same input and options.

OPTIONS
    -o, --output DIR          output directory (required unless --format none)
    -f, --overwrite           replace the results in an existing DIR
        --format FMT          text (default), binary (8-byte little-endian key length,
                              value length, key, value) or none
        --map STYLE           block (default: a block of lines per call, tokenised
                              with NumPy), split (a block per call, bytes.split())
                              or record (a line per call)
        --no-combiner         send every (word, 1) and sum in a Python reducer
        --combine-size SIZE   memory the map-side counting table may take before it
                              is sent (default 64M; 4K..1G)
        --global-order        range-partition the words, so the parts taken in order
                              are in one global word order
        --round-size SIZE     bytes a rank sends per shuffle round (default 4M; 4K..1G;
                              suffixes K, M, G)
        --rounds-in-flight N  shuffle rounds outstanding at once (default 2; 1..8)
        --transport T         auto (default), alltoallv, pairwise or shared-memory
        --peer-window N       pairwise: sends, and receives, outstanding at once
                              (default 8; 1..1048576)
        --ranks-per-node N    shared-memory: at most N consecutive ranks of a node read
                              each other's buffers (default 0: the whole node)
        --read-size SIZE      input bytes mapped per slice, the block size (default
                              256K; 4K..1G)
        --memory SIZE         memory budget per rank for the job's data (default: half
                              the node's memory shared by its ranks; 16M..1T)
        --spill-dir DIR       where spilled runs go (default $TMPDIR, else OUTDIR,
                              else /tmp)
        --pin MODE            core binding: auto (default), core or none
        --stats FILE          write every rank's figures to FILE as JSON
        --trace FILE          write a timeline of the job (Chrome trace-event JSON)
        --stall-warning SECONDS
                              warn when rank 0 has waited this long without progress
                              (default 60; 0: never)
    -q, --quiet               do not print the one-line summary
    -v, --verbose             report settings and core binding
    -h, --help                show this text

EXIT STATUS
    0 on success, 1 if the job failed (every rank stops; the rank that failed prints the
    cause), 64 for a usage error. SIGINT and SIGTERM stop the job on every rank, leaving no
    result behind.

EXAMPLES
    mpirun -np 2 mpimr-gentext -o text.txt --size 100M
    mpirun -np 2 python3 -m mpimr.wordcount -o counts text.txt
    cat counts/part-* | sort -t$'\\t' -k2,2nr | head
"""

def parse_size(text, low, high, name):
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = text, ""
    if text and text[-1].upper() in "KMGT":
        number, unit = text[:-1], text[-1].upper()
    if not number.isdigit() or not low <= int(number) * units[unit] <= high:
        raise UsageError(f"{name} must be a size from {describe(low)} to {describe(high)}, not '{text}'")
    return int(number) * units[unit]


def describe(size):
    for unit, scale in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def parse_count(text, low, high, name):
    if not text.isdigit() or not low <= int(text) <= high:
        raise UsageError(f"{name} must be a whole number from {low} to {high}, not '{text}'")
    return int(text)


def parse_arguments(argv):
    parser = Parser(prog=PROGRAM, add_help=False)
    parser.add_argument("-o", "--output")
    parser.add_argument("-f", "--overwrite", action="store_true")
    parser.add_argument("--format", default="text")
    parser.add_argument("--map", default="block")
    parser.add_argument("--no-combiner", action="store_true")
    for name in ("--combine-size", "--round-size", "--rounds-in-flight", "--transport", "--peer-window",
                 "--ranks-per-node", "--read-size", "--memory", "--spill-dir", "--pin", "--stats",
                 "--trace", "--stall-warning"):
        parser.add_argument(name)
    parser.add_argument("--global-order", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("inputs", nargs="*")
    options = parser.parse_args(argv)
    if options.help:
        return options, None
    if options.format not in ("text", "binary", "none"):
        raise UsageError(f"--format must be text, binary or none, not '{options.format}'")
    if options.map not in ("block", "split", "record"):
        raise UsageError(f"--map must be block, split or record, not '{options.map}'")
    if not options.inputs:
        raise UsageError("no INPUT given")
    if options.output is None and options.format != "none":
        raise UsageError("-o OUTDIR is required (or --format none)")
    settings = {"inputs": options.inputs, "output_format": options.format,
                "overwrite": options.overwrite, "verbose": options.verbose,
                "key_order": "global" if options.global_order else "part"}
    if options.output is not None:
        settings["output_dir"] = options.output
    if options.map == "block":
        settings["map_block"] = map_words
    elif options.map == "split":
        settings["map_block"] = map_split
    else:
        settings["map"] = map_record
    if options.no_combiner:
        settings["reduce"] = reduce_sum
        settings["reduce_in_order"] = True  # it emits the word it was called for
        settings["format_value"] = "u64"
    else:
        settings["reduce"] = "sum_u64"
    sizes = (("combine_size", "combine_bytes", 1 << 12, 1 << 30), ("round_size", "round_bytes", 1 << 12, 1 << 30),
             ("read_size", "read_bytes", 1 << 12, 1 << 30), ("memory", "memory_bytes", 16 << 20, 1 << 40))
    for option, setting, low, high in sizes:
        value = getattr(options, option)
        if value is not None:
            settings[setting] = parse_size(value, low, high, "--" + option.replace("_", "-"))
    counts = (("rounds_in_flight", 1, 8), ("peer_window", 1, 1 << 20), ("ranks_per_node", 0, 1 << 20))
    for option, low, high in counts:
        value = getattr(options, option)
        if value is not None:
            settings[option] = parse_count(value, low, high, "--" + option.replace("_", "-"))
    if options.transport is not None:
        if options.transport not in ("auto", "alltoallv", "pairwise", "shared-memory"):
            raise UsageError("--transport must be auto, alltoallv, pairwise or shared-memory, not "
                             f"'{options.transport}'")
        settings["transport"] = options.transport
    if options.pin is not None:
        if options.pin not in ("auto", "core", "none"):
            raise UsageError(f"--pin must be auto, core or none, not '{options.pin}'")
        settings["pin"] = options.pin
    if options.spill_dir is not None:
        settings["spill_dir"] = options.spill_dir
    if options.trace is not None:
        settings["trace_path"] = options.trace
    if options.stall_warning is not None:
        try:
            seconds = float(options.stall_warning)
        except ValueError:
            seconds = -1.0
        if not seconds >= 0:
            raise UsageError(f"--stall-warning must be 0 or more seconds, not '{options.stall_warning}'")
        settings["stall_warning_seconds"] = seconds
    return options, settings


def map_words(block, emit):
    """A block of whole lines, tokenised with NumPy: every word is a slice of the block, emitted
    with a count of 1 in one call to C, without a Python object per word."""
    data = numpy.frombuffer(block, numpy.uint8)
    # in_word[i + 1]: byte i is not ASCII whitespace (space, or 9..13); False at both ends.
    in_word = numpy.zeros(len(data) + 2, numpy.bool_)
    numpy.greater(data - numpy.uint8(9), 4, out=in_word[1:-1])
    in_word[1:-1] &= data != 32
    edges = numpy.flatnonzero(in_word[1:] != in_word[:-1])  # start, stop, start, stop, ...
    emit.slices(block, edges[0::2], edges[1::2], 1)


def map_split(block, emit):
    """A block of whole lines, split by bytes.split() into a list of words, emitted in one call."""
    emit.many(bytes(block).split(), 1)


def map_record(record, emit):
    """One line: each word on its own (the slow path)."""
    for word in record.split():
        emit(word, 1)


def reduce_sum(word, counts, emit):
    emit(word, sum(mpimr.u64(count) for count in counts))


def main(argv=None):
    def parse():
        options, settings = parse_arguments(sys.argv[1:] if argv is None else argv)
        return None if options.help else (options, settings)

    return program_main(MPI.COMM_WORLD, PROGRAM, DESCRIPTION, parse, lambda parsed: count_words(*parsed))


def count_words(options, settings):
    with mpimr.Job(MPI.COMM_WORLD, **settings) as job:
        job.run()
        if not options.quiet or options.stats:
            job.report(file=io.StringIO() if options.quiet else sys.stdout, json_path=options.stats)


if __name__ == "__main__":
    sys.exit(main())
