/*
 * tests/fuzz/fuzz_record_reader.c — libFuzzer target for the record splitter
 * (job/input.h: input_split, record_reader_open/limit/next/next_block).
 *
 * An input is a header of parameters and then the bytes of one to three
 * files. The files are split into pieces as the job does for N ranks (or at
 * cut points the input chooses), every piece is read, and what comes back is
 * checked against records found here independently: each piece returns
 * exactly the records whose first byte lies in it, in order, so every record
 * comes back once; with blocks, a piece's blocks are its records' bytes. Some
 * inputs call record_reader_limit(), with the true sizes, with bytes appended
 * after listing (never read) or with the files truncated (MPIMR_ERR_IO). Any
 * mismatch aborts with a line saying what differed.
 *
 * Header (all optional: a short input is padded with zeros):
 *   0-1  buffer size: 1 + (little-endian u16 % 4096)
 *   2    bit 0 blocks; bit 1 cut points instead of ranks; bits 2-3 limit mode;
 *        bits 4-7 files (1 + v % 3)
 *   3    low 3 bits: ranks - 1, or the number of cut points
 *   4    max record bytes / 16 (0: no maximum) when a limit is set
 *   5    bytes appended to, or cut off, each file (limit modes 2 and 3)
 *   6-9  two file boundaries (u16 each, modulo the data length + 1)
 *   then, with cut points, 2 bytes per point (modulo the total + 1); then the data.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/input.h"
#include "mpimr/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_FILES = 3, MAX_CUTS = 7, HEADER_BYTES = 10 };

/* How the listed sizes relate to the files (record_reader_limit()). */
enum limit_mode {
  LIMIT_NONE,     /* no limit: the reader reads to the end of the file */
  LIMIT_EXACT,    /* the listed size is the file's size */
  LIMIT_APPENDED, /* bytes were appended after listing: they must not be read */
  LIMIT_TRUNCATED /* the file lost its end after listing: MPIMR_ERR_IO with `shrank` */
};

typedef struct expected_record {
  uint64_t offset; /* of its first byte */
  uint64_t length; /* without its '\n' or "\r\n" */
  uint64_t span;   /* bytes it takes, its '\n' included */
  int terminated;  /* it ends with '\n' */
  int seen;        /* times a reader returned it */
} expected_record;

typedef struct fuzz_file {
  const unsigned char *content; /* the listed bytes */
  uint64_t listed_size;
  uint64_t disk_size;
  int cut_short;            /* disk_size < listed_size: the file was truncated after listing */
  expected_record *records; /* those of the first min(listed_size, disk_size) bytes */
  size_t record_count;
} fuzz_file;

typedef struct fuzz_case {
  size_t buffer_bytes;
  int use_blocks;
  enum limit_mode limit;
  size_t max_record_bytes;
  fuzz_file files[MAX_FILES];
  size_t file_count;
  int failed_pieces; /* pieces that ended with an expected error */
} fuzz_case;

/* One descriptor per file for the whole process; the reader opens it again by its /proc path. */
static int file_fds[MAX_FILES] = {-1, -1, -1};
static char file_paths[MAX_FILES][64];
static int free_descriptor = -1; /* the lowest free descriptor between inputs */

static volatile unsigned padding_sink;

static _Noreturn void fail(const char *what, const fuzz_case *c, const input_piece *piece) {
  fprintf(stderr, "fuzz_record_reader: %s\n", what);
  if (c != NULL)
    fprintf(stderr, "  buffer %zu, %s, limit mode %d, max record %zu, %zu file(s)\n", c->buffer_bytes,
            c->use_blocks ? "blocks" : "records", (int)c->limit, c->max_record_bytes, c->file_count);
  if (piece != NULL)
    fprintf(stderr, "  piece: file %zu, [%" PRIu64 ", %" PRIu64 ")\n", piece->file, piece->start, piece->end);
  abort();
}

/* Makes the files: unlinked at once, so nothing is left behind however the process ends. */
static void make_files(void) {
  const char *dir = getenv("TMPDIR");
  if (dir == NULL || dir[0] == '\0') dir = "/tmp";
  for (int i = 0; i < MAX_FILES; i++) {
    char name[4096];
    snprintf(name, sizeof name, "%s/mpimr-fuzz-XXXXXX", dir);
    file_fds[i] = mkstemp(name);
    if (file_fds[i] < 0) {
      perror("fuzz_record_reader: mkstemp");
      abort();
    }
    unlink(name);
    snprintf(file_paths[i], sizeof file_paths[i], "/proc/self/fd/%d", file_fds[i]);
  }
  free_descriptor = dup(file_fds[0]);
  close(free_descriptor);
}

static void write_all_at(int fd, const unsigned char *bytes, size_t length, uint64_t offset) {
  while (length > 0) {
    ssize_t n = pwrite(fd, bytes, length, (off_t)offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      perror("fuzz_record_reader: pwrite");
      abort();
    }
    bytes += n;
    length -= (size_t)n;
    offset += (uint64_t)n;
  }
}

/* Writes file `index`: its listed content, cut short or followed by appended bytes. */
static void write_file(int index, const fuzz_file *file) {
  int fd = file_fds[index];
  if (ftruncate(fd, (off_t)file->disk_size) != 0) {
    perror("fuzz_record_reader: ftruncate");
    abort();
  }
  size_t kept = file->disk_size < file->listed_size ? (size_t)file->disk_size : (size_t)file->listed_size;
  write_all_at(fd, file->content, kept, 0);
  if (file->disk_size > file->listed_size) {
    /* Appended bytes that would change the last record if they were read: no '\n' first, a
     * "\n" right after a listed '\r', text after an unterminated record. */
    static const char pattern[] = "x\r\nappended\n";
    unsigned char appended[256];
    size_t count = (size_t)(file->disk_size - file->listed_size);
    for (size_t i = 0; i < count; i++)
      appended[i] = (unsigned char)pattern[(i + count) % (sizeof pattern - 1)];
    write_all_at(fd, appended, count, file->listed_size);
  }
}

/* The records of `bytes`, split at '\n' by a plain scan (the oracle). */
static void find_records(fuzz_file *file, const unsigned char *bytes, size_t length) {
  file->records = malloc((length + 1) * sizeof *file->records);
  if (file->records == NULL) abort();
  file->record_count = 0;
  size_t start = 0;
  for (size_t i = 0; i <= length; i++) {
    int newline = i < length && bytes[i] == '\n';
    if (!newline && !(i == length && start < length)) continue;
    expected_record *r = &file->records[file->record_count++];
    r->offset = start;
    r->terminated = newline;
    r->span = i - start + (newline ? 1 : 0);
    r->length = i - start;
    if (newline && r->length > 0 && bytes[i - 1] == '\r') r->length--;
    r->seen = 0;
    start = i + 1;
  }
}

/* The index of the first record at or after `offset`. */
static size_t first_record_from(const fuzz_file *file, uint64_t offset) {
  size_t lo = 0, hi = file->record_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (file->records[mid].offset < offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The pieces of the global byte range [lo, hi) of the files' concatenation (as input_split). */
static size_t pieces_of_range(const fuzz_case *c, uint64_t lo, uint64_t hi, input_piece *pieces) {
  size_t count = 0;
  uint64_t base = 0;
  for (size_t i = 0; i < c->file_count; i++) {
    uint64_t file_end = base + c->files[i].listed_size;
    uint64_t start = lo > base ? lo : base;
    uint64_t end = hi < file_end ? hi : file_end;
    if (start < end) pieces[count++] = (input_piece){i, start - base, end - base};
    base = file_end;
  }
  return count;
}

static void check_span_in_buffer(const fuzz_case *c, const input_piece *piece, const record_reader *r,
                                 const unsigned char *bytes, size_t length) {
  if (bytes < r->buffer || bytes > r->buffer + r->tail || length > (size_t)(r->buffer + r->tail - bytes))
    fail("a record or block outside the reader's buffer", c, piece);
  if (r->tail > r->capacity) fail("the buffer's tail past its capacity", c, piece);
  for (size_t i = 0; i < RECORD_READER_PADDING; i++)
    if (r->buffer[r->tail + i] != 0) fail("the padding after what was read is not zeros", c, piece);
  if (c->limit != LIMIT_NONE && r->capacity > r->max_capacity)
    fail("the buffer grew past its limit", c, piece);
}

/* Reads one piece and checks it against the oracle. */
static void read_piece(fuzz_case *c, const input_piece *piece) {
  fuzz_file *file = &c->files[piece->file];
  expected_record *records = file->records;
  size_t next = first_record_from(file, piece->start);
  size_t stop = first_record_from(file, piece->end);
  /* A truncated file's piece fails if it needs bytes past the new end: its range reaches past
   * it, or it meets the record cut short there (owning it, or skipping it as the one that holds
   * the byte before the piece). */
  const expected_record *last_record = file->record_count ? &records[file->record_count - 1] : NULL;
  int must_fail =
      file->cut_short && (piece->end > file->disk_size ||
                          (last_record && !last_record->terminated && last_record->offset < piece->end));

  record_reader r;
  int rc = record_reader_open(&r, file_paths[piece->file], piece->start, piece->end, c->buffer_bytes);
  if (rc != MPIMR_OK) fail("record_reader_open failed", c, piece);
  if (c->limit != LIMIT_NONE) record_reader_limit(&r, file->listed_size, c->max_record_bytes);
  uint64_t consumed = 0, expected_consumed = 0;
  for (;;) {
    const unsigned char *bytes = NULL;
    size_t length = 0;
    rc = c->use_blocks ? record_reader_next_block(&r, &bytes, &length, &consumed)
                       : record_reader_next(&r, &bytes, &length, &consumed);
    if (rc != 1) break;
    check_span_in_buffer(c, piece, &r, bytes, length);
    if (next == stop) fail("a record after the last one of the piece", c, piece);
    if (r.record_offset != records[next].offset) fail("record_offset is not the next record's", c, piece);
    size_t last = next;
    if (c->use_blocks) {
      uint64_t block_end = r.record_offset + length;
      while (last < stop && records[last].offset + records[last].span < block_end) last++;
      if (last == stop || records[last].offset + records[last].span != block_end)
        fail("a block that does not end where a record of the piece ends", c, piece);
      if (length == 0 || memcmp(bytes, file->content + r.record_offset, length) != 0)
        fail("a block's bytes differ from the file's", c, piece);
      unsigned sum = 0;
      for (size_t i = 0; i < RECORD_READER_PADDING; i++) sum += bytes[length + i];
      padding_sink = sum;
    } else if (length != records[next].length ||
               (length > 0 && memcmp(bytes, file->content + records[next].offset, length) != 0)) {
      fail("a record's bytes differ from the file's", c, piece);
    }
    for (size_t i = next; i <= last; i++) {
      if (file->cut_short && !records[i].terminated)
        fail("the cut-off end of a truncated file returned as a record", c, piece);
      if (records[i].seen++ != 0) fail("a record returned twice", c, piece);
      expected_consumed += records[i].span;
    }
    next = last + 1;
    if (consumed != expected_consumed) fail("consumed is not the bytes of the records returned", c, piece);
  }
  if (rc == 0) {
    if (next != stop) fail("the piece ended before its last record", c, piece);
    if (must_fail) fail("a truncated file read to the end without an error", c, piece);
  } else if (rc == MPIMR_ERR_TOO_LARGE) {
    if (!r.record_too_long) fail("MPIMR_ERR_TOO_LARGE without record_too_long", c, piece);
    if (next == stop || r.record_offset != records[next].offset)
      fail("MPIMR_ERR_TOO_LARGE names a record other than the next one", c, piece);
    /* A record needs its bytes and a '\n' in the buffer, or one byte more to see the file end. */
    uint64_t needed = records[next].span + (records[next].terminated ? 0 : 1);
    if (c->limit == LIMIT_NONE || needed <= r.max_capacity)
      fail("MPIMR_ERR_TOO_LARGE for a record that fits the largest buffer", c, piece);
    c->failed_pieces++;
  } else if (rc == MPIMR_ERR_IO && r.shrank && r.error == 0) {
    if (!must_fail) fail("a shrunken file reported for a piece that is all there", c, piece);
    c->failed_pieces++;
  } else {
    fprintf(stderr, "fuzz_record_reader: status %d (%s), error %d\n", rc, mpimr_strerror(rc), r.error);
    fail("an unexpected status", c, piece);
  }
  if (rc < 0) {
    /* The error's sentence fits the buffer it is given, terminated. */
    char message[48];
    memset(message, 'x', sizeof message);
    record_reader_describe_error(&r, rc, message, sizeof message);
    if (strnlen(message, sizeof message) == sizeof message)
      fail("an error's description without its end", c, piece);
  }
  record_reader_close(&r);
}

static unsigned read_u16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (file_fds[0] < 0) make_files();
  uint8_t header[HEADER_BYTES + 2 * MAX_CUTS] = {0};
  size_t used = size < HEADER_BYTES ? size : HEADER_BYTES;
  if (used > 0) memcpy(header, data, used);

  fuzz_case c;
  memset(&c, 0, sizeof c);
  c.buffer_bytes = 1 + read_u16(header) % 4096;
  c.use_blocks = header[2] & 1;
  int use_cuts = (header[2] >> 1) & 1;
  c.limit = (enum limit_mode)((header[2] >> 2) & 3);
  c.file_count = 1 + (size_t)(header[2] >> 4) % 3;
  unsigned splits = 1 + (header[3] & 7); /* ranks, or cut points + 1 */
  if (use_cuts) {
    size_t cut_bytes = 2 * (size_t)(splits - 1);
    size_t available = size - used < cut_bytes ? size - used : cut_bytes;
    if (available > 0) memcpy(header + HEADER_BYTES, data + used, available);
    used += available;
  }
  c.max_record_bytes = c.limit != LIMIT_NONE && header[4] != 0 ? (size_t)header[4] * 16 : SIZE_MAX;
  size_t extra = c.limit >= LIMIT_APPENDED ? header[5] : 0;

  /* The files: the data cut at up to two boundaries. */
  const unsigned char *content = data + used;
  size_t content_length = size - used;
  uint64_t bounds[MAX_FILES + 1] = {0, read_u16(header + 6) % (content_length + 1),
                                    read_u16(header + 8) % (content_length + 1), content_length};
  if (c.file_count < 3) bounds[2] = content_length;
  if (c.file_count < 2) bounds[1] = content_length;
  qsort(bounds + 1, 2, sizeof bounds[0], compare_u64);
  input_file listed[MAX_FILES];
  input_list list = {listed, c.file_count, MAX_FILES, 0};
  for (size_t i = 0; i < c.file_count; i++) {
    fuzz_file *f = &c.files[i];
    f->content = content + bounds[i];
    f->listed_size = bounds[i + 1] - bounds[i];
    f->disk_size = f->listed_size;
    if (c.limit == LIMIT_APPENDED) f->disk_size += extra;
    if (c.limit == LIMIT_TRUNCATED) f->disk_size -= extra < f->listed_size ? extra : f->listed_size;
    f->cut_short = f->disk_size < f->listed_size;
    write_file((int)i, f);
    size_t visible = (size_t)(f->disk_size < f->listed_size ? f->disk_size : f->listed_size);
    find_records(f, f->content, visible);
    listed[i] = (input_file){.path = file_paths[i], .size = f->listed_size};
    list.total_bytes += f->listed_size;
  }

  /* The split: at cut points, or by ranks with input_split(), checked against the ranks' ranges. */
  uint64_t cuts[MAX_CUTS + 2] = {0};
  for (unsigned k = 1; k < splits; k++)
    cuts[k] = use_cuts ? read_u16(header + HEADER_BYTES + 2 * (k - 1)) % (list.total_bytes + 1)
                       : list.total_bytes * k / splits;
  qsort(cuts + 1, splits - 1, sizeof cuts[0], compare_u64);
  cuts[splits] = list.total_bytes;
  for (unsigned k = 0; k < splits; k++) {
    input_piece pieces[MAX_FILES];
    size_t count = pieces_of_range(&c, cuts[k], cuts[k + 1], pieces);
    if (!use_cuts) {
      input_piece split[MAX_FILES];
      size_t split_count = input_split(&list, (int)k, (int)splits, split);
      int same = split_count == count;
      for (size_t i = 0; same && i < count; i++)
        same = split[i].file == pieces[i].file && split[i].start == pieces[i].start &&
               split[i].end == pieces[i].end;
      if (!same) fail("input_split's pieces differ from the ranks' byte ranges", &c, NULL);
    }
    for (size_t i = 0; i < count; i++) read_piece(&c, &pieces[i]);
  }

  /* Every record came back exactly once (at most once where a piece failed as expected). */
  for (size_t i = 0; i < c.file_count; i++) {
    for (size_t j = 0; j < c.files[i].record_count; j++) {
      const expected_record *r = &c.files[i].records[j];
      int returnable = !c.files[i].cut_short || r->terminated;
      if (r->seen > 1 || (r->seen == 0 && returnable && c.failed_pieces == 0))
        fail("a record not returned exactly once", &c, NULL);
    }
    free(c.files[i].records);
  }
  int probe = dup(file_fds[0]);
  if (probe != free_descriptor) fail("a descriptor leaked", &c, NULL);
  close(probe);
  return 0;
}
