/*
 * apps/valsort.c — mpimr-valsort: checks that files, taken in order, hold
 * sorted records, like the Sort Benchmark's valsort, in parallel under
 * mpirun.
 *
 * Rank 0 expands the operands (a directory stands for its part-* files in
 * name order) and sends every rank the same list of files and sizes. The
 * files form one byte stream, cut into P contiguous ranges; a record belongs
 * to the rank whose range holds its first byte, so a rank that starts in
 * the middle of a record skips to the next one, and a rank reads past the
 * end of its range to finish its last record. Records never cross files:
 * a file that does not end in a newline ends in a truncated record.
 *
 * Each rank counts its records, its duplicate keys and its checksum, and
 * notes its first disorder. Rank 0 then gathers every rank's counts and its
 * first and last keys, which settle the order and the duplicates across the
 * rank boundaries exactly. Every rank makes the same MPI calls in the same
 * order whatever goes wrong on it, so a bad file ends the job, never hangs
 * it.
 */
#define _FILE_OFFSET_BITS 64

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "mpimr/kv.h"

static const char program[] = "mpimr-valsort";

/* A gensort -a record: 100 bytes ending in CR LF, its key the first 10. */
enum { RECORD_BYTES = 100, KEY_BYTES = 10 };

/* Bytes read at a time, and the most a rank reads past its range at a time to finish its last record. */
enum { READ_BYTES = 4 << 20, TAIL_READ_BYTES = 64 << 10 };

/* A line (with --lines) may be up to 1 GiB, the longest key mpimr itself takes. */
#define LINE_MAX_BYTES ((size_t)1 << 30)

/* Exit statuses. */
enum { EXIT_SORTED = 0, EXIT_NOT_SORTED = 1, EXIT_BAD_INPUT = 2 };

/* Checksums are 128-bit sums of 64-bit hashes; GCC and Clang have the type. */
__extension__ typedef unsigned __int128 checksum_t;

typedef struct check_options {
  bool lines;
  bool expect_records_given;
  uint64_t expect_records;
  bool expect_checksum_given;
  checksum_t expect_checksum;
  char **inputs;
  int input_count;
  bool help;
} check_options;

/* ---- The list of files ------------------------------------------------- */

typedef struct input_file {
  const char *path;
  uint64_t size;
  uint64_t start; /* Of the file's first byte in the stream of all files. */
} input_file;

/*
 * The files in order. `names` holds the paths one after another, each ended
 * by a NUL; `files` points into it. Every rank has the same list.
 */
typedef struct input_list {
  char *names;
  size_t names_length;
  uint64_t *sizes;
  input_file *files;
  size_t count;
  uint64_t total;
} input_list;

static void input_list_free(input_list *list) {
  free(list->names);
  free(list->sizes);
  free(list->files);
  *list = (input_list){0};
}

/* Rank 0's side of building the list: arrays that grow. */
typedef struct list_builder {
  input_list list;
  size_t names_capacity;
  size_t sizes_capacity;
} list_builder;

static int builder_add(list_builder *builder, const char *path, uint64_t size) {
  input_list *list = &builder->list;
  size_t length = strlen(path) + 1;
  if (list->names_length + length > builder->names_capacity) {
    size_t capacity = 2 * (list->names_length + length) + 256;
    char *names = realloc(list->names, capacity);
    if (names == NULL) return -1;
    list->names = names;
    builder->names_capacity = capacity;
  }
  if (list->count == builder->sizes_capacity) {
    size_t capacity = 2 * builder->sizes_capacity + 16;
    uint64_t *sizes = realloc(list->sizes, sizeof *sizes * capacity);
    if (sizes == NULL) return -1;
    list->sizes = sizes;
    builder->sizes_capacity = capacity;
  }
  memcpy(list->names + list->names_length, path, length);
  list->names_length += length;
  list->sizes[list->count++] = size;
  return 0;
}

static void report_path_error(const char *action, const char *path, int error) {
  fprintf(stderr, "%s: rank 0: %s %s: %s\n", program, action, path, strerror(error));
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the part-* entries of `directory`, sorted bytewise. Returns 0 or an errno value. */
static int part_names(const char *directory, char ***names_out, size_t *count_out) {
  DIR *stream = opendir(directory);
  if (stream == NULL) return errno;
  char **names = NULL;
  size_t count = 0, capacity = 0;
  int error = 0;
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(stream);
    if (entry == NULL) {
      error = errno;
      break;
    }
    if (strncmp(entry->d_name, "part-", 5) != 0) continue;
    if (count == capacity) {
      capacity = 2 * capacity + 16;
      char **grown = realloc(names, sizeof *grown * capacity);
      if (grown == NULL) {
        error = ENOMEM;
        break;
      }
      names = grown;
    }
    names[count] = strdup(entry->d_name);
    if (names[count] == NULL) {
      error = ENOMEM;
      break;
    }
    count++;
  }
  closedir(stream);
  if (error == 0 && count > 0) qsort(names, count, sizeof *names, compare_names);
  if (error != 0) {
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
    return error;
  }
  *names_out = names;
  *count_out = count;
  return 0;
}

/* Adds a file, which must be a regular one. Returns 0, or -1 after a message. */
static int builder_add_file(list_builder *builder, const char *path) {
  struct stat info;
  if (stat(path, &info) != 0) {
    report_path_error("cannot open", path, errno);
    return -1;
  }
  if (!S_ISREG(info.st_mode)) {
    fprintf(stderr, "%s: rank 0: %s: not a regular file\n", program, path);
    return -1;
  }
  if (builder_add(builder, path, (uint64_t)info.st_size) != 0) {
    report_path_error("out of memory listing", path, ENOMEM);
    return -1;
  }
  return 0;
}

/* Adds the part-* files of `directory`. Returns 0, or -1 after a message. */
static int builder_add_directory(list_builder *builder, const char *directory) {
  char **names = NULL;
  size_t count = 0;
  int error = part_names(directory, &names, &count);
  if (error != 0) {
    report_path_error("cannot read directory", directory, error);
    return -1;
  }
  size_t length = strlen(directory);
  bool slash = length > 0 && directory[length - 1] == '/';
  int status = 0;
  for (size_t i = 0; i < count && status == 0; i++) {
    size_t size = length + strlen(names[i]) + 2;
    char *path = malloc(size);
    if (path == NULL) {
      report_path_error("out of memory listing", directory, ENOMEM);
      status = -1;
    } else {
      snprintf(path, size, "%s%s%s", directory, slash ? "" : "/", names[i]);
      status = builder_add_file(builder, path);
    }
    free(path);
  }
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
  return status;
}

/* Adds one operand: a file, or a directory's part-* files. Returns 0, or -1 after a message. */
static int builder_add_operand(list_builder *builder, const char *operand) {
  struct stat info;
  if (stat(operand, &info) != 0) {
    report_path_error("cannot open", operand, errno);
    return -1;
  }
  if (S_ISDIR(info.st_mode)) return builder_add_directory(builder, operand);
  return builder_add_file(builder, operand);
}

/* Points `files` into `names` and numbers the bytes. Returns 0 or -1 (out of memory). */
static int input_list_index(input_list *list) {
  list->files = malloc(sizeof *list->files * (list->count + 1));
  if (list->files == NULL) return -1;
  const char *name = list->names;
  uint64_t start = 0;
  for (size_t i = 0; i < list->count; i++) {
    list->files[i] = (input_file){.path = name, .size = list->sizes[i], .start = start};
    start += list->sizes[i];
    name += strlen(name) + 1;
  }
  list->total = start;
  return 0;
}

/*
 * Rank 0 expands the operands and broadcasts the list, so that every rank
 * sees the same files even if a directory changes meanwhile. Returns 0 on
 * every rank, or -1 on every rank (after a message from the rank at fault).
 */
static int input_list_share(const check_options *options, int rank, input_list *list) {
  list_builder builder = {0};
  /* failed, file count, bytes of names */
  uint64_t header[3] = {0, 0, 0};
  if (rank == 0) {
    for (int i = 0; i < options->input_count && header[0] == 0; i++) {
      header[0] = builder_add_operand(&builder, options->inputs[i]) != 0;
    }
    header[1] = builder.list.count;
    header[2] = builder.list.names_length;
  }
  MPI_Bcast(header, 3, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  if (header[0] != 0) {
    input_list_free(&builder.list);
    return -1;
  }
  *list = builder.list;
  if (rank != 0) {
    list->count = (size_t)header[1];
    list->names_length = (size_t)header[2];
    list->names = malloc(list->names_length + 1);
    list->sizes = malloc(sizeof *list->sizes * (list->count + 1));
  }
  int failed = list->names == NULL && list->names_length > 0;
  failed = failed || (list->sizes == NULL && list->count > 0);
  if (failed) fprintf(stderr, "%s: rank %d: out of memory for the list of files\n", program, rank);
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_failed) {
    input_list_free(list);
    return -1;
  }
  /* Counts of MPI calls are ints: send the names in pieces. */
  for (size_t at = 0; at < list->names_length; at += INT_MAX) {
    size_t piece = list->names_length - at < INT_MAX ? list->names_length - at : INT_MAX;
    MPI_Bcast(list->names + at, (int)piece, MPI_CHAR, 0, MPI_COMM_WORLD);
  }
  for (size_t at = 0; at < list->count; at += INT_MAX / 8) {
    size_t piece = list->count - at < INT_MAX / 8 ? list->count - at : INT_MAX / 8;
    MPI_Bcast(list->sizes + at, (int)piece, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  }
  failed = input_list_index(list) != 0;
  if (failed) fprintf(stderr, "%s: rank %d: out of memory for the list of files\n", program, rank);
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_failed) {
    input_list_free(list);
    return -1;
  }
  return 0;
}

/* ---- Scanning a range -------------------------------------------------- */

/* What one rank found in its range. */
typedef struct scan_result {
  bool failed;
  uint64_t records;
  uint64_t duplicates;
  checksum_t checksum;
  bool disordered; /* Within the range; where, below. */
  uint64_t disorder_index;
  uint64_t disorder_file;
  uint64_t disorder_offset;
  uint64_t first_file; /* Where the range's first record is. */
  uint64_t first_offset;
} scan_result;

/* A growable copy of a key. */
typedef struct key_copy {
  char *bytes;
  size_t length;
  size_t capacity;
} key_copy;

static int key_copy_set(key_copy *copy, const char *bytes, size_t length) {
  /* Allocates even for an empty key, so that `bytes` is never NULL once set. */
  if (length > copy->capacity || copy->bytes == NULL) {
    size_t capacity = length < 64 ? 64 : length;
    char *grown = realloc(copy->bytes, capacity);
    if (grown == NULL) return -1;
    copy->bytes = grown;
    copy->capacity = capacity;
  }
  if (length > 0) memcpy(copy->bytes, bytes, length);
  copy->length = length;
  return 0;
}

typedef struct scanner {
  bool lines;
  int rank;
  char *buffer;
  size_t capacity;
  /* The previous record's key: in the buffer, or in `saved` once the buffer moves on. */
  const char *previous;
  size_t previous_length;
  key_copy saved;
  key_copy first; /* The range's first key. */
  scan_result result;
} scanner;

/* Bytewise, the shorter first on a common prefix: the order of LC_ALL=C sort. */
static inline int key_compare(const char *a, size_t a_length, const char *b, size_t b_length) {
  int order = memcmp(a, b, a_length < b_length ? a_length : b_length);
  if (order != 0) return order;
  return (a_length > b_length) - (a_length < b_length);
}

/* Copies the previous key out of the buffer before the buffer is refilled or moved. Returns 0 or -1. */
static int scanner_detach_previous(scanner *scan) {
  if (scan->result.records == 0 || scan->previous == scan->saved.bytes) return 0;
  if (key_copy_set(&scan->saved, scan->previous, scan->previous_length) != 0) return -1;
  scan->previous = scan->saved.bytes;
  return 0;
}

/* Takes in one record: `bytes` is the record without its '\n'. Returns 0 or -1 (out of memory). */
static inline int scanner_record(scanner *scan, const char *bytes, size_t length, uint64_t file,
                                 uint64_t offset) {
  scan_result *result = &scan->result;
  size_t key_length = scan->lines ? length : KEY_BYTES;
  result->checksum += mpimr_hash64(bytes, length, 0);
  if (result->records == 0) {
    if (key_copy_set(&scan->first, bytes, key_length) != 0) return -1;
    result->first_file = file;
    result->first_offset = offset;
  } else {
    int order = key_compare(scan->previous, scan->previous_length, bytes, key_length);
    if (order == 0) {
      result->duplicates++;
    } else if (order > 0 && !result->disordered) {
      result->disordered = true;
      result->disorder_index = result->records;
      result->disorder_file = file;
      result->disorder_offset = offset;
    }
  }
  scan->previous = bytes;
  scan->previous_length = key_length;
  result->records++;
  return 0;
}

/* Reads up to `length` bytes at `offset`. Returns the bytes read (short only at the end of the file) or -1.
 */
static ssize_t read_fully(int fd, char *data, size_t length, uint64_t offset) {
  size_t done = 0;
  while (done < length) {
    ssize_t got = pread(fd, data + done, length - done, (off_t)(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) break;
    done += (size_t)got;
  }
  return (ssize_t)done;
}

static void report_bad_record(const scanner *scan, const input_file *file, uint64_t offset,
                              const char *detail) {
  fprintf(stderr, "%s: rank %d: %s: byte offset %llu: truncated or malformed record (%s)\n", program,
          scan->rank, file->path, (unsigned long long)offset, detail);
}

/* The state of reading one file: the buffer holds its bytes [at, at + length). */
typedef struct file_window {
  const input_file *file;
  int fd;
  uint64_t at;
  size_t length;
  uint64_t until; /* The rank's records start before this offset. */
} file_window;

/*
 * Moves the unread bytes from `used` on to the front of the buffer (growing
 * it if they fill it) and reads more after them. Returns the number of bytes
 * read (0 only at the end of the file), or -1 after a message.
 */
static ssize_t window_refill(scanner *scan, file_window *window, size_t used) {
  if (scanner_detach_previous(scan) != 0) {
    fprintf(stderr, "%s: rank %d: out of memory\n", program, scan->rank);
    return -1;
  }
  memmove(scan->buffer, scan->buffer + used, window->length - used);
  window->at += used;
  window->length -= used;
  if (window->length == scan->capacity) {
    if (scan->capacity >= LINE_MAX_BYTES) {
      char detail[80];
      snprintf(detail, sizeof detail, "a line longer than %zu bytes", LINE_MAX_BYTES);
      report_bad_record(scan, window->file, window->at, detail);
      return -1;
    }
    size_t capacity = scan->capacity > 0 ? 2 * scan->capacity : READ_BYTES;
    char *grown = realloc(scan->buffer, capacity);
    if (grown == NULL) {
      fprintf(stderr, "%s: rank %d: out of memory for a line of %s\n", program, scan->rank,
              window->file->path);
      return -1;
    }
    scan->buffer = grown;
    scan->capacity = capacity;
  }
  uint64_t end = window->at + window->length;
  uint64_t want = scan->capacity - window->length;
  if (want > window->file->size - end) want = window->file->size - end;
  /* Past the range, read only what the last record needs, a little at a time. */
  uint64_t needed = (end < window->until ? window->until - end : 0) + TAIL_READ_BYTES;
  if (want > needed) want = needed;
  if (want == 0) return 0;
  ssize_t got = read_fully(window->fd, scan->buffer + window->length, (size_t)want, end);
  if (got < 0) {
    fprintf(stderr, "%s: rank %d: cannot read %s: %s\n", program, scan->rank, window->file->path,
            strerror(errno));
    return -1;
  }
  if ((uint64_t)got < want) {
    fprintf(stderr, "%s: rank %d: cannot read %s: the file shrank while it was read\n", program, scan->rank,
            window->file->path);
    return -1;
  }
  window->length += (size_t)got;
  return got;
}

/*
 * Checks one record at `used`, whose '\n' has not been found within the
 * `available` bytes. In records mode 100 bytes without one are already too
 * many; otherwise the record is truncated if the file ends here. Returns
 * true if the record is bad (after a message).
 */
static bool record_unfinished(const scanner *scan, const file_window *window, size_t used, size_t available) {
  uint64_t offset = window->at + used;
  if (!scan->lines && available >= RECORD_BYTES) {
    report_bad_record(scan, window->file, offset, "no newline within 100 bytes");
    return true;
  }
  if (available > 0 && window->at + window->length == window->file->size) {
    char detail[96];
    snprintf(detail, sizeof detail, "%zu bytes and no newline at the end of the file", available);
    report_bad_record(scan, window->file, offset, detail);
    return true;
  }
  return false;
}

/* Checks that a complete record (with its '\n') of `length` bytes is a gensort record. */
static bool record_malformed(const scanner *scan, const file_window *window, const char *record,
                             size_t length, uint64_t offset) {
  if (scan->lines || (length == RECORD_BYTES && record[RECORD_BYTES - 2] == '\r')) return false;
  char detail[96];
  if (length != RECORD_BYTES) {
    snprintf(detail, sizeof detail, "%zu bytes, a record is 100 ending in CR LF", length);
  } else {
    snprintf(detail, sizeof detail, "no CR before its newline");
  }
  report_bad_record(scan, window->file, offset, detail);
  return true;
}

/*
 * Takes in the records of file `index` that start at offsets in [from,
 * until). If `from` is inside a record, that record belongs to the rank
 * before: skip to the next. Returns 0, or -1 after a message.
 */
static int scan_file(scanner *scan, const input_list *list, size_t index, uint64_t from, uint64_t until) {
  const input_file *file = &list->files[index];
  int fd = open(file->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "%s: rank %d: cannot open %s: %s\n", program, scan->rank, file->path, strerror(errno));
    return -1;
  }
  /* When starting inside the file, look at the byte before `from`: a record starts at `from` after a '\n'. */
  bool skipping = from > 0;
  file_window window = {
      .file = file, .fd = fd, .at = skipping ? from - 1 : from, .length = 0, .until = until};
  size_t used = 0;
  int status = 0;
  for (;;) {
    const char *cursor = scan->buffer + used;
    size_t available = window.length - used;
    if (skipping) {
      const char *newline = memchr(cursor, '\n', available);
      if (newline != NULL) {
        used = (size_t)(newline - scan->buffer) + 1;
        skipping = false;
        continue;
      }
      /* The next record starts after the window: if that is past the range, it is not this rank's. */
      if (window.at + window.length >= until) break;
      used = window.length;
    } else {
      uint64_t offset = window.at + used;
      if (offset >= until) break;
      size_t limit = !scan->lines && available > RECORD_BYTES ? RECORD_BYTES : available;
      const char *newline = limit > 0 ? memchr(cursor, '\n', limit) : NULL;
      if (newline != NULL) {
        size_t length = (size_t)(newline - cursor) + 1;
        if (record_malformed(scan, &window, cursor, length, offset)) {
          status = -1;
          break;
        }
        if (scanner_record(scan, cursor, length - 1, index, offset) != 0) {
          fprintf(stderr, "%s: rank %d: out of memory for a key of %s\n", program, scan->rank, file->path);
          status = -1;
          break;
        }
        used += length;
        continue;
      }
      if (record_unfinished(scan, &window, used, available)) {
        status = -1;
        break;
      }
    }
    ssize_t got = window_refill(scan, &window, used);
    used = 0;
    if (got < 0) {
      status = -1;
      break;
    }
    if (got == 0) break; /* The end of the file. */
  }
  if (status == 0 && scanner_detach_previous(scan) != 0) {
    fprintf(stderr, "%s: rank %d: out of memory for a key of %s\n", program, scan->rank, file->path);
    status = -1;
  }
  close(fd);
  return status;
}

/* Takes in the records that start in the stream's bytes [begin, end). Returns 0, or -1 after a message. */
static int scan_range(scanner *scan, const input_list *list, uint64_t begin, uint64_t end) {
  for (size_t i = 0; i < list->count; i++) {
    const input_file *file = &list->files[i];
    if (file->start >= end) break;
    if (file->size == 0 || file->start + file->size <= begin) continue;
    uint64_t from = begin > file->start ? begin - file->start : 0;
    uint64_t until = end - file->start < file->size ? end - file->start : file->size;
    if (from >= until) continue;
    if (scan_file(scan, list, i, from, until) != 0) return -1;
  }
  return 0;
}

/* ---- Putting the ranks together ---------------------------------------- */

/* What each rank tells the others, as 64-bit words. */
enum summary_field {
  SUMMARY_FAILED,
  SUMMARY_RECORDS,
  SUMMARY_DUPLICATES,
  SUMMARY_CHECKSUM_HIGH,
  SUMMARY_CHECKSUM_LOW,
  SUMMARY_DISORDERED,
  SUMMARY_DISORDER_INDEX,
  SUMMARY_DISORDER_FILE,
  SUMMARY_DISORDER_OFFSET,
  SUMMARY_FIRST_FILE,
  SUMMARY_FIRST_OFFSET,
  SUMMARY_FIRST_LENGTH, /* Of the first key; the last key's follows. */
  SUMMARY_LAST_LENGTH,
  SUMMARY_FIELDS
};

static void summary_fill(const scanner *scan, uint64_t *summary) {
  const scan_result *result = &scan->result;
  bool keys = !result->failed && result->records > 0;
  uint64_t fields[SUMMARY_FIELDS] = {
      [SUMMARY_FAILED] = result->failed,
      [SUMMARY_RECORDS] = result->records,
      [SUMMARY_DUPLICATES] = result->duplicates,
      [SUMMARY_CHECKSUM_HIGH] = (uint64_t)(result->checksum >> 64),
      [SUMMARY_CHECKSUM_LOW] = (uint64_t)result->checksum,
      [SUMMARY_DISORDERED] = result->disordered,
      [SUMMARY_DISORDER_INDEX] = result->disorder_index,
      [SUMMARY_DISORDER_FILE] = result->disorder_file,
      [SUMMARY_DISORDER_OFFSET] = result->disorder_offset,
      [SUMMARY_FIRST_FILE] = result->first_file,
      [SUMMARY_FIRST_OFFSET] = result->first_offset,
      [SUMMARY_FIRST_LENGTH] = keys ? scan->first.length : 0,
      [SUMMARY_LAST_LENGTH] = keys ? scan->previous_length : 0,
  };
  memcpy(summary, fields, sizeof fields);
}

/* The whole input's verdict, on rank 0. */
typedef struct verdict {
  uint64_t records;
  uint64_t duplicates;
  checksum_t checksum;
  bool disordered;
  uint64_t disorder_number; /* Counting records from 1. */
  uint64_t disorder_file;
  uint64_t disorder_offset;
} verdict;

/* Keeps the first disorder found: the ranks are joined in order, so it is the first in the input. */
static void verdict_note_disorder(verdict *v, uint64_t number, uint64_t file, uint64_t offset) {
  if (v->disordered) return;
  v->disordered = true;
  v->disorder_number = number;
  v->disorder_file = file;
  v->disorder_offset = offset;
}

/*
 * Joins the ranks' summaries in rank order. `keys` holds each rank's first
 * and last key one after another. A rank's first record is compared with
 * the last record of the nearest rank before it that has any.
 */
static verdict verdict_join(const uint64_t *summaries, const char *keys, int ranks) {
  verdict v = {0};
  const char *last = NULL;
  size_t last_length = 0;
  for (int r = 0; r < ranks; r++) {
    const uint64_t *s = summaries + (size_t)r * SUMMARY_FIELDS;
    size_t first_length = (size_t)s[SUMMARY_FIRST_LENGTH];
    const char *first = keys;
    keys += first_length + s[SUMMARY_LAST_LENGTH];
    if (s[SUMMARY_RECORDS] == 0) continue;
    if (last != NULL) {
      int order = key_compare(last, last_length, first, first_length);
      if (order == 0) v.duplicates++;
      if (order > 0) verdict_note_disorder(&v, v.records + 1, s[SUMMARY_FIRST_FILE], s[SUMMARY_FIRST_OFFSET]);
    }
    if (s[SUMMARY_DISORDERED]) {
      verdict_note_disorder(&v, v.records + s[SUMMARY_DISORDER_INDEX] + 1, s[SUMMARY_DISORDER_FILE],
                            s[SUMMARY_DISORDER_OFFSET]);
    }
    v.records += s[SUMMARY_RECORDS];
    v.duplicates += s[SUMMARY_DUPLICATES];
    v.checksum += ((checksum_t)s[SUMMARY_CHECKSUM_HIGH] << 64) | s[SUMMARY_CHECKSUM_LOW];
    last = first + first_length;
    last_length = (size_t)s[SUMMARY_LAST_LENGTH];
  }
  return v;
}

static void checksum_format(checksum_t sum, char text[33]) {
  snprintf(text, 33, "%016llx%016llx", (unsigned long long)(sum >> 64), (unsigned long long)sum);
}

/* Prints the verdict (rank 0) and returns the exit status. */
static int verdict_report(const verdict *v, const check_options *options, const input_list *list) {
  char checksum[33];
  checksum_format(v->checksum, checksum);
  printf("records: %llu\nduplicate keys: %llu\nchecksum: %s\n", (unsigned long long)v->records,
         (unsigned long long)v->duplicates, checksum);
  int status = EXIT_SORTED;
  if (v->disordered) {
    printf("order: NOT SORTED: record %llu (file %s, byte offset %llu) is smaller than the one before it\n",
           (unsigned long long)v->disorder_number, list->files[v->disorder_file].path,
           (unsigned long long)v->disorder_offset);
    status = EXIT_NOT_SORTED;
  } else {
    printf("order: sorted\n");
  }
  fflush(stdout);
  if (options->expect_records_given && options->expect_records != v->records) {
    fprintf(stderr, "%s: expected %llu records, found %llu\n", program,
            (unsigned long long)options->expect_records, (unsigned long long)v->records);
    status = EXIT_NOT_SORTED;
  }
  if (options->expect_checksum_given && options->expect_checksum != v->checksum) {
    char expected[33];
    checksum_format(options->expect_checksum, expected);
    fprintf(stderr, "%s: expected checksum %s, found %s\n", program, expected, checksum);
    status = EXIT_NOT_SORTED;
  }
  return status;
}

/*
 * This rank's first and last keys, one after the other; NULL if out of
 * memory. The lengths are those of the summary: zero unless the rank has
 * records, and then both keys are set.
 */
static char *keys_pack(const scanner *scan, size_t first_length, size_t last_length) {
  char *packed = malloc(first_length + last_length + 1);
  if (packed == NULL) return NULL;
  if (first_length > 0 && scan->first.bytes != NULL) memcpy(packed, scan->first.bytes, first_length);
  if (last_length > 0 && scan->previous != NULL) memcpy(packed + first_length, scan->previous, last_length);
  return packed;
}

/* Why the keys cannot be gathered, if they cannot. */
enum { KEYS_GATHERED = 0, KEYS_NO_MEMORY = 1, KEYS_TOO_LONG = 2 };

/* Rank 0's side of gathering the keys. */
typedef struct key_gather {
  char *keys;
  int *counts;
  int *displacements;
} key_gather;

/* Makes room on rank 0 for every rank's keys. Returns KEYS_GATHERED or why not. */
static int key_gather_prepare(key_gather *gather, const uint64_t *summaries, int ranks) {
  uint64_t total = 0;
  for (int r = 0; r < ranks; r++) {
    const uint64_t *s = summaries + (size_t)r * SUMMARY_FIELDS;
    total += s[SUMMARY_FIRST_LENGTH] + s[SUMMARY_LAST_LENGTH];
  }
  /* Counts and displacements of MPI calls are ints. */
  if (total > INT_MAX) return KEYS_TOO_LONG;
  gather->keys = malloc(total + 1);
  gather->counts = malloc(sizeof *gather->counts * (size_t)ranks);
  gather->displacements = malloc(sizeof *gather->displacements * (size_t)ranks);
  if (gather->keys == NULL || gather->counts == NULL || gather->displacements == NULL) return KEYS_NO_MEMORY;
  int at = 0;
  for (int r = 0; r < ranks; r++) {
    const uint64_t *s = summaries + (size_t)r * SUMMARY_FIELDS;
    gather->counts[r] = (int)(s[SUMMARY_FIRST_LENGTH] + s[SUMMARY_LAST_LENGTH]);
    gather->displacements[r] = at;
    at += gather->counts[r];
  }
  return KEYS_GATHERED;
}

static void key_gather_free(key_gather *gather) {
  free(gather->keys);
  free(gather->counts);
  free(gather->displacements);
}

/*
 * Rank 0 takes every rank's first and last keys and judges the whole input.
 * Returns the exit status on rank 0 (EXIT_BAD_INPUT elsewhere).
 */
static int settle_keys(const scanner *scan, const uint64_t *own, const uint64_t *summaries,
                       const check_options *options, const input_list *list, int rank, int ranks) {
  size_t first_length = (size_t)own[SUMMARY_FIRST_LENGTH], last_length = (size_t)own[SUMMARY_LAST_LENGTH];
  char *packed = keys_pack(scan, first_length, last_length);
  key_gather gather = {0};
  int problem = packed == NULL ? KEYS_NO_MEMORY : KEYS_GATHERED;
  if (rank == 0 && problem == KEYS_GATHERED) problem = key_gather_prepare(&gather, summaries, ranks);
  int any_problem = 0;
  MPI_Allreduce(&problem, &any_problem, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  int status = EXIT_BAD_INPUT;
  if (any_problem == KEYS_GATHERED) {
    /* Rank 0 found that all the keys fit in an int's count, so each rank's do. */
    int count = (int)(first_length + last_length);
    MPI_Gatherv(packed, count, MPI_CHAR, gather.keys, gather.counts, gather.displacements, MPI_CHAR, 0,
                MPI_COMM_WORLD);
    if (rank == 0 && gather.keys != NULL) {
      verdict v = verdict_join(summaries, gather.keys, ranks);
      status = verdict_report(&v, options, list);
    }
  } else if (problem == KEYS_NO_MEMORY) {
    fprintf(stderr, "%s: rank %d: out of memory for the first and last keys\n", program, rank);
  } else if (problem == KEYS_TOO_LONG) {
    fprintf(stderr, "%s: rank %d: the ranks' first and last lines are too long to compare (over 2 GiB)\n",
            program, rank);
  }
  free(packed);
  key_gather_free(&gather);
  return status;
}

/*
 * Gathers every rank's summary, and its keys on rank 0, which judges the
 * whole input. Every rank makes the same calls; the exit status comes back
 * to all.
 */
static int settle(const scanner *scan, const check_options *options, const input_list *list, int rank,
                  int ranks) {
  uint64_t *summaries = malloc(sizeof *summaries * SUMMARY_FIELDS * (size_t)ranks);
  int lost = summaries == NULL;
  if (lost) fprintf(stderr, "%s: rank %d: out of memory\n", program, rank);
  int any_lost = 0;
  MPI_Allreduce(&lost, &any_lost, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_lost || summaries == NULL) {
    free(summaries);
    return EXIT_BAD_INPUT;
  }
  uint64_t own[SUMMARY_FIELDS];
  summary_fill(scan, own);
  MPI_Allgather(own, SUMMARY_FIELDS, MPI_UINT64_T, summaries, SUMMARY_FIELDS, MPI_UINT64_T, MPI_COMM_WORLD);
  bool failed = false;
  for (int r = 0; r < ranks; r++)
    failed = failed || summaries[(size_t)r * SUMMARY_FIELDS + SUMMARY_FAILED] != 0;
  /* Every rank has every summary, so all take the same branch. */
  int status = failed ? EXIT_BAD_INPUT : settle_keys(scan, own, summaries, options, list, rank, ranks);
  if (!failed) MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  free(summaries);
  return status;
}

/* ---- Options ----------------------------------------------------------- */

static void print_help(void) {
  printf(
      "NAME\n"
      "    %1$s - check sorted records, like the Sort Benchmark's valsort\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P %1$s [--lines] [--expect-records N]\n"
      "        [--expect-checksum HEX] INPUT...\n"
      "    %1$s --help\n"
      "\n"
      "DESCRIPTION\n"
      "    Checks that the records of the INPUTs, taken in the order given, are in\n"
      "    ascending order of their keys, and counts them, their duplicate keys and\n"
      "    a checksum of their bytes that does not depend on their order: the\n"
      "    checksum of a sort's output equals that of its input.\n"
      "\n"
      "    An INPUT is a file or a directory; a directory stands for its files named\n"
      "    part-* in bytewise name order (the output directory of an mpimr job:\n"
      "    part-00000, part-00001, ...; _SUCCESS and other names are ignored).\n"
      "\n"
      "    A record is a line, ended by a newline; records never span two files,\n"
      "    so a file that does not end in a newline ends in a truncated record.\n"
      "    By default each record must be a gensort -a record (see mpimr-gensort):\n"
      "    exactly 100 bytes ending in CR LF, its key the first 10 bytes. With\n"
      "    --lines, records are lines of any length (up to 1 GiB) and the key is\n"
      "    the whole line without its newline. Keys are compared bytewise, the\n"
      "    shorter first on a common prefix: the order of LC_ALL=C sort.\n"
      "\n"
      "    The ranks split the bytes into P contiguous ranges, each checks the\n"
      "    records that start in its range, and rank 0 joins the ranges, comparing\n"
      "    each range's first key with the last key before it.\n"
      "\n"
      "OPTIONS\n"
      "    --lines                Records are text lines of any length (above).\n"
      "    --expect-records N     Fail unless there are N records.\n"
      "    --expect-checksum HEX  Fail unless the checksum is HEX (1 to 32 hex\n"
      "                           digits, as printed; case does not matter).\n"
      "    -h, --help             Print this help and exit.\n"
      "\n"
      "OUTPUT\n"
      "    On standard output, from rank 0:\n"
      "      records: N\n"
      "      duplicate keys: D      records whose key equals the previous record's\n"
      "      checksum: HEX          the 128-bit sum, as 32 hex digits, of\n"
      "                             mpimr_hash64(record without its newline, seed 0)\n"
      "                             over all records\n"
      "      order: sorted\n"
      "    or, at the first record out of order (records count from 1, byte\n"
      "    offsets from 0 within the file):\n"
      "      order: NOT SORTED: record N (file F, byte offset O) is smaller than\n"
      "      the one before it\n"
      "    Expectations that do not hold are reported on standard error. Empty\n"
      "    input has 0 records and is sorted.\n"
      "\n"
      "EXIT STATUS\n"
      "    0 if sorted and every expectation holds; 1 if not sorted or an\n"
      "    expectation fails; 2 if an INPUT cannot be read or holds a truncated\n"
      "    or malformed record (the message names the rank, the file and the\n"
      "    byte offset; nothing is printed on standard output); 64 on a usage\n"
      "    error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 4 %1$s --expect-records 10737418 sorted-output/\n"
      "    %1$s --lines words-sorted.txt\n"
      "    mpirun -np 2 %1$s data/records    # prints the checksum to expect\n",
      program);
}

enum option_id {
  OPT_LINES = 256,
  OPT_EXPECT_RECORDS,
  OPT_EXPECT_CHECKSUM,
};

/* Parses 1 to 32 hex digits. Returns 0 or -1. */
static int parse_checksum(const char *text, checksum_t *out) {
  size_t length = strlen(text);
  if (length == 0 || length > 32) return -1;
  checksum_t value = 0;
  for (size_t i = 0; i < length; i++) {
    int c = (unsigned char)text[i];
    if (!isxdigit(c)) return -1;
    int digit = isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
    value = (value << 4) | (checksum_t)digit;
  }
  *out = value;
  return 0;
}

/*
 * Parses argv the same way on every rank, so all ranks reach the same
 * verdict without talking. Only rank 0 prints. Returns 0 or -1.
 */
static int options_parse(int argc, char **argv, check_options *options, int rank) {
  static const struct option long_options[] = {
      {"lines", no_argument, NULL, OPT_LINES},
      {"expect-records", required_argument, NULL, OPT_EXPECT_RECORDS},
      {"expect-checksum", required_argument, NULL, OPT_EXPECT_CHECKSUM},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *options = (check_options){0};
  opterr = 0;
  for (;;) {
    int id = getopt_long(argc, argv, ":h", long_options, NULL);
    if (id == -1) break;
    if (id == 'h') {
      options->help = true;
      return 0;
    }
    if (id == '?' || id == ':') {
      const char *what = id == '?' ? "unrecognized option" : "missing value for option";
      cli_usage_error(rank, program, "%s '%s'", what, argv[optind - 1]);
      return -1;
    }
    if (id == OPT_LINES) {
      options->lines = true;
    } else if (id == OPT_EXPECT_RECORDS) {
      options->expect_records_given = true;
      if (cli_parse_u64(optarg, 0, UINT64_MAX, &options->expect_records) != 0) {
        cli_usage_error(rank, program, "invalid value '%s' for --expect-records (a count)", optarg);
        return -1;
      }
    } else {
      options->expect_checksum_given = true;
      if (parse_checksum(optarg, &options->expect_checksum) != 0) {
        cli_usage_error(rank, program, "invalid value '%s' for --expect-checksum (1 to 32 hex digits)",
                        optarg);
        return -1;
      }
    }
  }
  if (optind >= argc) {
    cli_usage_error(rank, program, "missing INPUT operand");
    return -1;
  }
  for (int i = optind; i < argc; i++) {
    if (argv[i][0] == '\0') {
      cli_usage_error(rank, program, "empty INPUT operand");
      return -1;
    }
  }
  options->inputs = argv + optind;
  options->input_count = argc - optind;
  return 0;
}

/* ---- The job ----------------------------------------------------------- */

/* The first byte of rank `rank`'s range: rank * total / ranks, without overflow. */
static uint64_t range_begin(uint64_t total, int rank, int ranks) {
  return (uint64_t)((checksum_t)total * (uint64_t)rank / (uint64_t)ranks);
}

/* Every rank runs this same sequence of collectives, whatever fails. */
static int run(const check_options *options, int rank, int ranks) {
  input_list list;
  if (input_list_share(options, rank, &list) != 0) return EXIT_BAD_INPUT;
  scanner scan = {.lines = options->lines, .rank = rank, .capacity = READ_BYTES};
  scan.buffer = malloc(scan.capacity);
  if (scan.buffer == NULL) {
    fprintf(stderr, "%s: rank %d: out of memory\n", program, rank);
    scan.result.failed = true;
  } else {
    uint64_t begin = range_begin(list.total, rank, ranks), end = range_begin(list.total, rank + 1, ranks);
    scan.result.failed = scan_range(&scan, &list, begin, end) != 0;
  }
  int status = settle(&scan, options, &list, rank, ranks);
  free(scan.buffer);
  free(scan.saved.bytes);
  free(scan.first.bytes);
  input_list_free(&list);
  return status;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  check_options options;
  int status = EXIT_SORTED;
  if (options_parse(argc, argv, &options, rank) != 0) {
    status = CLI_EXIT_USAGE;
  } else if (options.help) {
    if (rank == 0) print_help();
  } else {
    status = run(&options, rank, ranks);
  }
  MPI_Finalize();
  return status;
}
