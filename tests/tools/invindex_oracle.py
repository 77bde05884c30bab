#!/usr/bin/env python3
"""Independent oracle for mpimr-invindex: rebuilds the inverted index of the
inputs from their raw bytes and checks an output directory against it.

usage: invindex_oracle.py OUTDIR NP POSTINGS_PER_LINE INPUT...

It shares no code with mpimr. The inputs are listed the way src/job/input.c
lists them: each INPUT in the order given; a directory's entries sorted
bytewise by name (strcmp), names starting with '.' skipped, walked depth
first; files other than regular files inside a directory passed over; empty
files numbered like any other. A line is what ends at b'\\n' (the last one
may have none); a word is a maximal run of bytes other than the six ASCII
whitespace bytes (space, \\t, \\n, \\v, \\f, \\r), so a '\\r' before the
'\\n' never belongs to a word. A posting is FILE:OFFSET, the file's number
and the byte offset of the line's first byte.

Checked in OUTDIR: _SUCCESS exists; the entries are exactly _SUCCESS and
part-00000 .. part-(NP-1) (no temporary or spill files left behind); every
line is 'word<TAB>postings<LF>'; each part's words are in nondecreasing
bytewise order; each word is in one part only, on consecutive lines of at
most POSTINGS_PER_LINE postings, all full but the last; and each word's
postings, concatenated, are exactly the expected ones, in order.

Exit status: 0 and one OK line, or 1 with the first difference found.
"""
import os
import stat
import sys

LIMIT = 200  # characters of a value shown in a message


def fail(message):
    print("invindex_oracle: FAIL: " + message)
    sys.exit(1)


def show(data):
    text = repr(data)
    return text if len(text) <= LIMIT else text[:LIMIT] + "... (%d bytes)" % len(data)


def list_path(path, named_by_user, files):
    try:
        st = os.stat(path)
    except OSError as e:
        fail("input %s: %s" % (show(path), e.strerror))
    if stat.S_ISDIR(st.st_mode):
        names = sorted(name for name in os.listdir(path) if not name.startswith(b"."))
        for name in names:
            list_path(path + (b"" if path.endswith(b"/") else b"/") + name, False, files)
    elif stat.S_ISREG(st.st_mode):
        files.append(path)
    elif named_by_user:
        fail("input %s: not a regular file or directory" % show(path))


def expected_index(files):
    """word -> list of posting texts (bytes), in increasing (file, offset) order."""
    index = {}
    postings = 0
    for number, path in enumerate(files):
        with open(path, "rb") as f:
            data = f.read()
        offset = 0
        for line in data.split(b"\n"):
            words = line.split()
            if words:
                posting = b"%d:%d" % (number, offset)
                distinct = set(words)
                for word in distinct:
                    try:
                        index[word].append(posting)
                    except KeyError:
                        index[word] = [posting]
                postings += len(distinct)
            offset += len(line) + 1
    return index, postings


def read_output(outdir, nranks, per_line):
    """word -> (its part, the postings text of each of its lines), checking the layout."""
    if not os.path.isdir(outdir):
        fail("%s is not a directory" % outdir)
    entries = set(os.listdir(outdir))
    parts = ["part-%05d" % r for r in range(nranks)]
    if "_SUCCESS" not in entries:
        fail("%s/_SUCCESS is missing" % outdir)
    missing = [p for p in parts if p not in entries]
    if missing:
        fail("%s: missing %s" % (outdir, ", ".join(missing)))
    extra = sorted(entries - set(parts) - {"_SUCCESS"})
    if extra:
        fail("%s: unexpected entries (want exactly %d parts and _SUCCESS): %s" % (outdir, nranks, ", ".join(extra)))
    got = {}
    lines = 0
    for rank, part in enumerate(parts):
        with open(os.path.join(outdir, part), "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            fail("%s: the last line has no newline" % part)
        previous = None
        chunks = None
        for number, line in enumerate(data.split(b"\n")[:-1], 1):
            fields = line.split(b"\t")
            if len(fields) != 2:
                fail("%s line %d: not 'word<TAB>postings': %s" % (part, number, show(line)))
            word, value = fields
            if previous is not None and word < previous:
                fail("%s line %d: word %s after %s (not in bytewise order)" % (part, number, show(word), show(previous)))
            if word != previous:
                if word in got:
                    fail("%s line %d: word %s is also in part %d, or on lines that are not consecutive"
                         % (part, number, show(word), got[word][0]))
                chunks = []
                got[word] = (rank, chunks)
            chunks.append(value)
            previous = word
            lines += 1
    for word, (rank, chunks) in got.items():
        for i, chunk in enumerate(chunks):
            count = chunk.count(b" ") + 1
            if count > per_line or (i + 1 < len(chunks) and count != per_line):
                fail("word %s in part-%05d: line %d of %d has %d postings (want %d on every line but the last, "
                     "1..%d on the last)" % (show(word), rank, i + 1, len(chunks), count, per_line, per_line))
    return got, lines


def first_difference(expected, got):
    for i, (e, g) in enumerate(zip(expected, got)):
        if e != g:
            return i
    return min(len(expected), len(got))


def main(argv):
    try:
        outdir, nranks, per_line = argv[1], int(argv[2]), int(argv[3])
        if len(argv) < 5 or nranks < 1 or per_line < 1:
            raise ValueError
    except (IndexError, ValueError):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 64
    files = []
    for name in argv[4:]:
        list_path(os.fsencode(name), True, files)
    expected, postings = expected_index(files)
    got, lines = read_output(outdir, nranks, per_line)
    for word in sorted(set(expected) | set(got)):
        want = expected.get(word)
        if word not in got:
            fail("word %s is missing from the output (expected postings %s)" % (show(word), show(b" ".join(want))))
        have = b" ".join(got[word][1])
        if want is None:
            fail("word %s is not in the input but the output has postings %s" % (show(word), show(have)))
        if have != b" ".join(want):
            have = have.split(b" ")
            i = first_difference(want, have)
            fail("word %s: %d postings expected, %d found; first difference at posting %d: expected %s, got %s"
                 % (show(word), len(want), len(have), i, show(b" ".join(want[i:i + 8])),
                    show(b" ".join(have[i:i + 8]))))
    print("invindex_oracle: OK: %d files, %d words, %d postings on %d lines in %d parts"
          % (len(files), len(expected), postings, lines, nranks))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
