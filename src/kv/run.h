/*
 * kv/run.h — sorted runs on disk: the files a spilling store writes and
 * reduce merges.
 *
 * A run is a sequence of groups in strictly increasing bytewise key order,
 * one group per key:
 *
 *   varint(key length) key varint(value count)
 *   then per value: varint(value length) value
 *
 * (varints as in kv/codec.h). A key is stored once however many values it
 * has, and a reader knows how many values a group holds before it reads
 * them, so a merge can tell a reducer a key's value count up front while
 * streaming the values themselves. Both ends buffer: writes return once the
 * bytes are in the page cache (the kernel writes them back while the job goes
 * on; a run merged and deleted soon may never reach the disk), and readers
 * ask for sequential readahead. A value longer than the
 * buffer grows the reader's buffer to fit (values are at most 1 GiB). Every
 * length read is checked: a truncated or corrupt run is an error, never a
 * read out of bounds.
 */
#ifndef MPIMR_KV_RUN_H
#define MPIMR_KV_RUN_H

#include <stddef.h>
#include <stdint.h>

typedef struct run_writer {
  int fd;
  unsigned char *buffer;
  size_t used;
  size_t capacity;
  uint64_t bytes_written; /**< Bytes handed to the file so far (flushed or buffered). */
  int error;              /**< errno of the first failure, else 0. */
} run_writer;

/**
 * Creates (or truncates) the run file at `path` with a buffer of
 * `buffer_bytes`. Returns MPIMR_OK, MPIMR_ERR_IO (errno in w->error) or
 * MPIMR_ERR_NOMEM.
 */
int run_writer_open(run_writer *w, const char *path, size_t buffer_bytes);

/** Starts the group of `key`, which will have `value_count` values. Returns MPIMR_OK or MPIMR_ERR_IO. */
int run_writer_begin_group(run_writer *w, const void *key, size_t key_len, uint64_t value_count);

/** Writes the next value of the current group. Returns MPIMR_OK or MPIMR_ERR_IO. */
int run_writer_value(run_writer *w, const void *value, size_t value_len);

/** Flushes and closes the file. Returns MPIMR_OK or MPIMR_ERR_IO (then the file is incomplete). */
int run_writer_close(run_writer *w);

/** Closes the file without flushing (after a failure). */
void run_writer_abandon(run_writer *w);


typedef struct run_reader {
  int fd;
  unsigned char *buffer;
  size_t capacity;
  size_t head; /**< The next byte to decode. */
  size_t tail; /**< The end of what has been read. */
  int eof;
  unsigned char *key; /**< The current group's key (a copy that stays put while its values are read). */
  size_t key_len;
  size_t key_capacity;
  uint64_t values_left; /**< Values of the current group not yet read. */
  int error;            /**< errno of a failed read, else 0. */
  int borrowed;         /**< The buffer is a run in memory, not the reader's. */
  uint64_t file_size;     /**< The run's bytes: no length read from it may point past them. */
  uint64_t buffer_offset; /**< The run offset of buffer[0]. */
} run_reader;

/** Opens a run for reading. Returns MPIMR_OK, MPIMR_ERR_IO (errno in r->error) or MPIMR_ERR_NOMEM. */
int run_reader_open(run_reader *r, const char *path, size_t buffer_bytes);

/**
 * Opens a run held in memory (`length` bytes at `data`, in the same format;
 * borrowed, not copied). Returns MPIMR_OK.
 */
int run_reader_open_memory(run_reader *r, const unsigned char *data, size_t length);

/** The bytes `count` items (sorted, as for spill_write_items) take as a run. */
/**
 * Moves to the next group, skipping what is left of the current one. Returns
 * 1 with r->key, r->key_len and r->values_left set; 0 at the end of the run;
 * or MPIMR_ERR_IO, MPIMR_ERR_CORRUPT (a group that does not decode or an
 * empty one) or MPIMR_ERR_NOMEM.
 */
int run_reader_next_group(run_reader *r);

/**
 * Reads the next value of the current group: 1 with `*value` (valid until the
 * next call on the reader) and `*value_len`; 0 when the group has no more;
 * or an error as run_reader_next_group().
 */
int run_reader_next_value(run_reader *r, const unsigned char **value, size_t *value_len);

void run_reader_close(run_reader *r);


#endif
