/* kv/run.c — writing and reading sorted runs; see run.h. */
#include "kv/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv/codec.h"
#include "mpimr/error.h"
#include "mpimr/kv.h"

/* ---- writing ----------------------------------------------------------- */

int run_writer_open(run_writer *w, const char *path, size_t buffer_bytes) {
  memset(w, 0, sizeof *w);
  w->fd = -1;
  w->capacity = buffer_bytes < 64 ? 64 : buffer_bytes;
  w->buffer = malloc(w->capacity);
  if (w->buffer == NULL) {
    w->capacity = 0;
    return MPIMR_ERR_NOMEM;
  }
  w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (w->fd < 0) {
    w->error = errno;
    return MPIMR_ERR_IO;
  }
  return MPIMR_OK;
}

static int write_all(run_writer *w, const unsigned char *data, size_t length) {
  while (length > 0) {
    ssize_t n = write(w->fd, data, length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      w->error = errno;
      return MPIMR_ERR_IO;
    }
    data += n;
    length -= (size_t)n;
  }
  return MPIMR_OK;
}

static int flush(run_writer *w) {
  int rc = write_all(w, w->buffer, w->used);
  w->used = 0;
  return rc;
}

/* Appends bytes; ones too large for the buffer go straight to the file. */
static int append(run_writer *w, const void *data, size_t length) {
  if (w->error) return MPIMR_ERR_IO;
  w->bytes_written += length;
  if (w->capacity - w->used < length) {
    int rc = flush(w);
    if (rc != MPIMR_OK) return rc;
    if (length > w->capacity) return write_all(w, data, length);
  }
  memcpy(w->buffer + w->used, data, length);
  w->used += length;
  return MPIMR_OK;
}

static int append_varint(run_writer *w, uint64_t v) {
  unsigned char bytes[CODEC_VARINT_MAX];
  return append(w, bytes, (size_t)(codec_put_varint(bytes, v) - bytes));
}

int run_writer_begin_group(run_writer *w, const void *key, size_t key_len, uint64_t value_count) {
  int rc = append_varint(w, key_len);
  if (rc == MPIMR_OK) rc = append(w, key, key_len);
  if (rc == MPIMR_OK) rc = append_varint(w, value_count);
  return rc;
}

int run_writer_value(run_writer *w, const void *value, size_t value_len) {
  int rc = append_varint(w, value_len);
  return rc == MPIMR_OK ? append(w, value, value_len) : rc;
}

int run_writer_close(run_writer *w) {
  int rc = w->error ? MPIMR_ERR_IO : flush(w);
  if (w->fd >= 0 && close(w->fd) != 0 && rc == MPIMR_OK) {
    w->error = errno;
    rc = MPIMR_ERR_IO;
  }
  w->fd = -1;
  free(w->buffer);
  w->buffer = NULL;
  w->capacity = 0;
  return rc;
}

void run_writer_abandon(run_writer *w) {
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
  free(w->buffer);
  w->buffer = NULL;
  w->capacity = 0;
}

/* ---- reading ----------------------------------------------------------- */

int run_reader_open(run_reader *r, const char *path, size_t buffer_bytes) {
  memset(r, 0, sizeof *r);
  r->capacity = buffer_bytes < 64 ? 64 : buffer_bytes;
  r->buffer = malloc(r->capacity);
  if (r->buffer == NULL) {
    r->capacity = 0;
    r->fd = -1;
    return MPIMR_ERR_NOMEM;
  }
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (r->fd < 0 || fstat(r->fd, &st) != 0) {
    r->error = errno;
    return MPIMR_ERR_IO;
  }
  r->file_size = (uint64_t)st.st_size;
  /* Runs are read front to back: a larger readahead overlaps the disk with the merge. */
  posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return MPIMR_OK;
}

int run_reader_open_memory(run_reader *r, const unsigned char *data, size_t length) {
  memset(r, 0, sizeof *r);
  r->fd = -1;
  r->buffer = (unsigned char *)data;
  r->capacity = r->tail = length;
  r->file_size = length;
  r->eof = 1;
  r->borrowed = 1;
  return MPIMR_OK;
}

/* Makes at least `need` bytes available from head (fewer only at the end of the file). */
static int ensure(run_reader *r, size_t need) {
  if (r->tail - r->head >= need || r->eof) return MPIMR_OK;
  if (r->head > 0) {
    memmove(r->buffer, r->buffer + r->head, r->tail - r->head);
    r->buffer_offset += r->head;
    r->tail -= r->head;
    r->head = 0;
  }
  if (need > r->capacity) {
    unsigned char *grown = realloc(r->buffer, need);
    if (grown == NULL) return MPIMR_ERR_NOMEM;
    r->buffer = grown;
    r->capacity = need;
  }
  while (r->tail < need && !r->eof) {
    ssize_t n = read(r->fd, r->buffer + r->tail, r->capacity - r->tail);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r->error = errno;
      return MPIMR_ERR_IO;
    }
    if (n == 0) r->eof = 1;
    r->tail += (size_t)n;
  }
  return MPIMR_OK;
}

/* Reads a varint; `*at_end` is set when the run ended cleanly before it. */
static int read_varint(run_reader *r, uint64_t *value, int *at_end) {
  int rc = ensure(r, CODEC_VARINT_MAX);
  if (rc != MPIMR_OK) return rc;
  if (at_end) *at_end = r->head == r->tail;
  if (r->head == r->tail) return at_end ? MPIMR_OK : MPIMR_ERR_CORRUPT;
  const unsigned char *next = codec_get_varint(r->buffer + r->head, r->buffer + r->tail, value);
  if (next == NULL) return MPIMR_ERR_CORRUPT;
  r->head = (size_t)(next - r->buffer);
  return MPIMR_OK;
}

/* Makes the next `length` bytes (at most a pair's limit) available, or reports a truncated run. */
static int take(run_reader *r, uint64_t length, const unsigned char **bytes) {
  /* A corrupt length is caught before the buffer grows for it. */
  if (length > MPIMR_MAX_PAIR_BYTES || length > r->file_size - (r->buffer_offset + r->head))
    return MPIMR_ERR_CORRUPT;
  int rc = ensure(r, (size_t)length);
  if (rc != MPIMR_OK) return rc;
  if (r->tail - r->head < length) return MPIMR_ERR_CORRUPT;
  *bytes = r->buffer + r->head;
  r->head += (size_t)length;
  return MPIMR_OK;
}

int run_reader_next_group(run_reader *r) {
  while (r->values_left > 0) {
    const unsigned char *value;
    size_t length;
    int rc = run_reader_next_value(r, &value, &length);
    if (rc < 0) return rc;
  }
  uint64_t key_len, count;
  int at_end = 0;
  int rc = read_varint(r, &key_len, &at_end);
  if (rc != MPIMR_OK) return rc;
  if (at_end) return 0;
  const unsigned char *key;
  rc = take(r, key_len, &key);
  if (rc != MPIMR_OK) return rc;
  if (key_len > r->key_capacity) {
    size_t capacity = r->key_capacity ? r->key_capacity : 64;
    while (capacity < key_len) capacity *= 2;
    unsigned char *grown = realloc(r->key, capacity);
    if (grown == NULL) return MPIMR_ERR_NOMEM;
    r->key = grown;
    r->key_capacity = capacity;
  }
  if (key_len) memcpy(r->key, key, (size_t)key_len);
  r->key_len = (size_t)key_len;
  rc = read_varint(r, &count, NULL);
  if (rc != MPIMR_OK) return rc;
  if (count == 0) return MPIMR_ERR_CORRUPT;
  r->values_left = count;
  return 1;
}

int run_reader_next_value(run_reader *r, const unsigned char **value, size_t *value_len) {
  if (r->values_left == 0) return 0;
  uint64_t length;
  int rc = read_varint(r, &length, NULL);
  if (rc == MPIMR_OK) rc = take(r, length, value);
  if (rc != MPIMR_OK) return rc;
  *value_len = (size_t)length;
  r->values_left--;
  return 1;
}

void run_reader_close(run_reader *r) {
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
  if (!r->borrowed) free(r->buffer);
  free(r->key);
  r->buffer = r->key = NULL;
  r->capacity = r->key_capacity = 0;
}
