/*
 * job/input.h — the job's input: files found under the given paths, split
 * into byte ranges across ranks, read as newline-terminated records.
 *
 * The files are listed once, in name order, so every rank sees the same list
 * (directories are walked recursively; dot files are skipped). Their
 * concatenation is cut into nranks equal byte ranges; a record belongs to
 * the range holding its first byte, so a reader starts one byte early,
 * drops the first (partial or foreign) record, and reads past its end to
 * finish the last record it owns. Every record thus reaches exactly one
 * rank, whatever the split. Each file's size and identity (device, inode,
 * modification time) are recorded when it is listed, and a reader given them
 * fails on a file replaced or rewritten since, instead of mixing two files.
 */
#ifndef MPIMR_JOB_INPUT_H
#define MPIMR_JOB_INPUT_H

#include <stddef.h>
#include <stdint.h>

/**
 * What a file was when the job listed it, besides its size: a file replaced
 * since (renamed over, or deleted and made again) has another inode, one
 * rewritten in place another modification time.
 */
typedef struct input_identity {
  uint64_t device;
  uint64_t inode;
  int64_t mtime_sec;
  int64_t mtime_nsec;
  int device_comparable; /**< 0 on another machine than the lister's (device numbers are per machine). */
} input_identity;

typedef struct input_file {
  char *path;
  uint64_t size;
  input_identity identity; /**< See record_reader_expect(). */
} input_file;

typedef struct input_list {
  input_file *files;
  size_t count;
  size_t capacity;
  uint64_t total_bytes;
} input_list;

/**
 * Lists the regular files under `paths`, with their size and identity.
 * Returns MPIMR_OK, or an error with a message naming the path and the cause
 * in `message`. A regular file of size 0 that reads data (a pseudo file, as
 * in /proc or /sys) is an error (MPIMR_ERR_IO), not an empty input.
 */
int input_list_build(input_list *list, const char *const *paths, int path_count, char *message,
                     size_t message_size);

void input_list_destroy(input_list *list);

/**
 * Flattens a list into one buffer (for MPI_Bcast), with the name of this
 * machine. Returns NULL on allocation failure.
 */
unsigned char *input_list_pack(const input_list *list, size_t *packed_size);

/**
 * Rebuilds a list from input_list_pack()'s bytes; on another machine than
 * the packer's, devices are not compared (device_comparable is 0). Returns
 * MPIMR_OK, NOMEM or CORRUPT.
 */
int input_list_unpack(input_list *list, const unsigned char *packed, size_t packed_size);

/** One file's part of a rank's range: bytes [start, end) of files[file]. */
typedef struct input_piece {
  size_t file;
  uint64_t start;
  uint64_t end;
} input_piece;

/**
 * The pieces of rank `rank` of `nranks` (at most one per file), written to
 * `pieces` (room for list->count). Returns how many.
 */
size_t input_split(const input_list *list, int rank, int nranks, input_piece *pieces);

/** Readable bytes after the end of what the reader has read (zeros; for vector code). */
#define RECORD_READER_PADDING 64

/** Reads the records of one piece. */
typedef struct record_reader {
  int fd;
  const char *path;
  uint64_t end;           /**< Records starting at or after this offset are not ours. */
  uint64_t read_offset;   /**< File offset of the next byte to read. */
  uint64_t window_offset; /**< File offset of buffer[head]. */
  uint64_t record_offset; /**< File offset of the record or block returned last. */
  unsigned char *buffer;
  size_t capacity;
  size_t head;
  size_t tail;
  int eof;
  int skip_first;
  int error;               /**< errno of a failed read or open, else 0. */
  uint64_t file_size;      /**< See record_reader_limit(); UINT64_MAX: read to the end of the file. */
  size_t max_capacity;     /**< See record_reader_limit(); SIZE_MAX: no limit. */
  int shrank;              /**< The file ended before file_size (MPIMR_ERR_IO with error 0). */
  int record_too_long;     /**< A record needs more than max_capacity (MPIMR_ERR_TOO_LARGE). */
  input_identity identity; /**< See record_reader_expect(). */
  int identity_due;        /**< When `identity` is compared next: READER_IDENTITY_*. */
  unsigned changed;        /**< INPUT_CHANGED_* bits: what differs from `identity` (MPIMR_ERR_IO). */
} record_reader;

/** What record_reader_expect() found changed. */
enum { INPUT_CHANGED_DEVICE = 1, INPUT_CHANGED_INODE = 2, INPUT_CHANGED_MTIME = 4, INPUT_CHANGED_SIZE = 8 };

/** When a reader compares the file with its identity next. */
enum { READER_IDENTITY_NONE, READER_IDENTITY_AT_START, READER_IDENTITY_AT_END };

/**
 * Opens `path` to read the records that start in [start, end). The buffer
 * starts at `buffer_bytes` and grows to hold any record. Returns MPIMR_OK,
 * MPIMR_ERR_IO (errno set) or MPIMR_ERR_NOMEM.
 */
int record_reader_open(record_reader *r, const char *path, uint64_t start, uint64_t end, size_t buffer_bytes);

/**
 * Optional, right after record_reader_open(): `file_size` is the file's size
 * when the input was listed. The reader reads no further (bytes appended
 * since are not read), and a file that ends before it, because it was
 * truncated or replaced meanwhile, is an error (MPIMR_ERR_IO, `shrank` set)
 * instead of a silently shorter input. A record whose bytes would need a
 * buffer of more than `max_record_bytes` is MPIMR_ERR_TOO_LARGE
 * (`record_too_long` set, record_offset at the record).
 */
void record_reader_limit(record_reader *r, uint64_t file_size, size_t max_record_bytes);

/**
 * Optional, right after record_reader_open(): `identity` (copied) is what
 * the file was when the input was listed. The open file is compared with it
 * (and with the size given to record_reader_limit()) before the first record
 * and again at the end of the piece, one fstat() each, so a file replaced
 * before it was opened, or rewritten in place while it was read, is an error
 * (MPIMR_ERR_IO, `changed` set) instead of input read half old, half new.
 */
void record_reader_expect(record_reader *r, const input_identity *identity);

/**
 * Writes why the last call failed into `text` (at most `size` bytes, always
 * terminated): the system's message for a failed open or read, or a
 * sentence about a shrunken or changed file or an overlong record with its
 * offset.
 */
void record_reader_describe_error(const record_reader *r, int status, char *text, size_t size);

/**
 * Finds the next record. Returns 1 with the record (without its '\n' or a
 * "\r\n") in *record and *length, valid until the next call; 0 at the end of the
 * piece; or a negative status (MPIMR_ERR_IO with r->error, MPIMR_ERR_NOMEM).
 * `consumed` (if not NULL) is increased by the bytes the record took.
 */
int record_reader_next(record_reader *r, const unsigned char **record, size_t *length, uint64_t *consumed);

/**
 * Finds the next block of whole records: the most the buffer holds, each
 * record with its '\n' (the file's last may have none) and any '\r'. Returns
 * 1 with the block in *block and *length, valid until the next call and
 * followed by RECORD_READER_PADDING readable bytes; 0 at the end of the
 * piece; or a negative status as record_reader_next(). Do not mix the two
 * on one reader.
 */
int record_reader_next_block(record_reader *r, const unsigned char **block, size_t *length,
                             uint64_t *consumed);

void record_reader_close(record_reader *r);

#endif
