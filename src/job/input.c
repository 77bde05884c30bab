/* job/input.c — listing, splitting and reading the job's input; see input.h. */
#include "job/input.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpimr/error.h"

static int list_append(input_list *list, const char *path, uint64_t size, const input_identity *identity) {
  if (list->count == list->capacity) {
    size_t capacity = list->capacity ? list->capacity * 2 : 16;
    input_file *grown = realloc(list->files, capacity * sizeof *grown);
    if (grown == NULL) return MPIMR_ERR_NOMEM;
    list->files = grown;
    list->capacity = capacity;
  }
  char *copy = strdup(path);
  if (copy == NULL) return MPIMR_ERR_NOMEM;
  list->files[list->count].path = copy;
  list->files[list->count].size = size;
  list->files[list->count].identity = *identity;
  list->count++;
  list->total_bytes += size;
  return MPIMR_OK;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_path(input_list *list, const char *path, int named_by_user, char *message,
                     size_t message_size);

/*
 * A regular file of size 0 may still read data: files in /proc and /sys report 0 and are made as they
 * are read. Counted as empty, such a file would give an empty result, so one byte is read to tell it
 * from an empty file (without blocking, as /proc/kmsg would).
 */
static int check_empty_file(const char *path, char *message, size_t message_size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    snprintf(message, message_size, "input '%s': %s", path, strerror(errno));
    return MPIMR_ERR_IO;
  }
  unsigned char byte;
  ssize_t n;
  do n = read(fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  int read_errno = errno;
  close(fd);
  if (n == 0) return MPIMR_OK;
  if (n > 0 || read_errno == EAGAIN || read_errno == EWOULDBLOCK)
    snprintf(message, message_size,
             "input '%s': reports a size of 0 but has data (a pseudo file such as those in /proc or /sys): "
             "copy it to a regular file first",
             path);
  else
    snprintf(message, message_size, "input '%s': %s", path, strerror(read_errno));
  return MPIMR_ERR_IO;
}

static int list_directory(input_list *list, const char *path, char *message, size_t message_size) {
  DIR *dir = opendir(path);
  if (dir == NULL) {
    snprintf(message, message_size, "input '%s': %s", path, strerror(errno));
    return MPIMR_ERR_IO;
  }
  char **names = NULL;
  size_t count = 0, capacity = 0;
  int rc = MPIMR_OK;
  struct dirent *entry;
  errno = 0;
  while (rc == MPIMR_OK && (entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.') continue; /* ".", "..", hidden and temporary files */
    if (count == capacity) {
      capacity = capacity ? capacity * 2 : 32;
      char **grown = realloc(names, capacity * sizeof *grown);
      if (grown == NULL) {
        rc = MPIMR_ERR_NOMEM;
        break;
      }
      names = grown;
    }
    names[count] = strdup(entry->d_name);
    if (names[count] == NULL)
      rc = MPIMR_ERR_NOMEM;
    else
      count++;
  }
  if (rc == MPIMR_OK && errno != 0) {
    snprintf(message, message_size, "input '%s': %s", path, strerror(errno));
    rc = MPIMR_ERR_IO;
  }
  closedir(dir);
  if (rc == MPIMR_ERR_NOMEM) snprintf(message, message_size, "input '%s': out of memory listing it", path);
  if (count > 1) qsort(names, count, sizeof *names, compare_names);
  for (size_t i = 0; i < count && rc == MPIMR_OK; i++) {
    size_t length = strlen(path) + strlen(names[i]) + 2;
    char *child = malloc(length);
    if (child == NULL) {
      rc = MPIMR_ERR_NOMEM;
      break;
    }
    snprintf(child, length, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", names[i]);
    rc = list_path(list, child, 0, message, message_size);
    free(child);
  }
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
  return rc;
}

static int list_path(input_list *list, const char *path, int named_by_user, char *message,
                     size_t message_size) {
  struct stat st;
  if (stat(path, &st) != 0) {
    snprintf(message, message_size, "input '%s': %s", path, strerror(errno));
    return MPIMR_ERR_IO;
  }
  if (S_ISDIR(st.st_mode)) return list_directory(list, path, message, message_size);
  if (S_ISREG(st.st_mode)) {
    /* Check readability now, so the error names the file before any work starts. */
    if (access(path, R_OK) != 0) {
      snprintf(message, message_size, "input '%s': %s", path, strerror(errno));
      return MPIMR_ERR_IO;
    }
    if (st.st_size == 0) {
      int rc = check_empty_file(path, message, message_size);
      if (rc != MPIMR_OK) return rc;
    }
    input_identity identity = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (int64_t)st.st_mtim.tv_sec,
                               (int64_t)st.st_mtim.tv_nsec, 1};
    int rc = list_append(list, path, (uint64_t)st.st_size, &identity);
    if (rc != MPIMR_OK) snprintf(message, message_size, "input '%s': out of memory", path);
    return rc;
  }
  if (named_by_user) {
    snprintf(message, message_size, "input '%s': not a regular file or directory", path);
    return MPIMR_ERR_IO;
  }
  return MPIMR_OK; /* Sockets, fifos and devices inside a directory are passed over. */
}

int input_list_build(input_list *list, const char *const *paths, int path_count, char *message,
                     size_t message_size) {
  memset(list, 0, sizeof *list);
  for (int i = 0; i < path_count; i++) {
    int rc = list_path(list, paths[i], 1, message, message_size);
    if (rc != MPIMR_OK) return rc;
  }
  return MPIMR_OK;
}

void input_list_destroy(input_list *list) {
  for (size_t i = 0; i < list->count; i++) free(list->files[i].path);
  free(list->files);
  memset(list, 0, sizeof *list);
}

/* A file's entry in the packed list: size, device, inode, mtime seconds and nanoseconds, device
 * comparable, path length (8 bytes each), then the path. */
enum { PACKED_FILE_HEADER = 7 * 8 };

/* This machine's name, "" if unknown (then devices are compared by no other rank). */
static void machine_name(char *name, size_t size) {
  if (gethostname(name, size) != 0) name[0] = '\0';
  name[size - 1] = '\0';
}

unsigned char *input_list_pack(const input_list *list, size_t *packed_size) {
  char host[256];
  machine_name(host, sizeof host);
  uint64_t host_length = strlen(host);
  size_t size = 16 + host_length;
  for (size_t i = 0; i < list->count; i++) size += PACKED_FILE_HEADER + strlen(list->files[i].path);
  unsigned char *packed = malloc(size);
  if (packed == NULL) return NULL;
  unsigned char *p = packed;
  uint64_t count = list->count;
  memcpy(p, &count, 8);
  memcpy(p + 8, &host_length, 8);
  memcpy(p + 16, host, host_length);
  p += 16 + host_length;
  for (size_t i = 0; i < list->count; i++) {
    const input_file *file = &list->files[i];
    uint64_t fields[7] = {file->size,
                          file->identity.device,
                          file->identity.inode,
                          (uint64_t)file->identity.mtime_sec,
                          (uint64_t)file->identity.mtime_nsec,
                          (uint64_t)file->identity.device_comparable,
                          strlen(file->path)};
    memcpy(p, fields, sizeof fields);
    memcpy(p + PACKED_FILE_HEADER, file->path, fields[6]);
    p += PACKED_FILE_HEADER + fields[6];
  }
  *packed_size = size;
  return packed;
}

int input_list_unpack(input_list *list, const unsigned char *packed, size_t packed_size) {
  memset(list, 0, sizeof *list);
  const unsigned char *p = packed, *end = packed + packed_size;
  uint64_t count, host_length;
  if (packed_size < 16) return MPIMR_ERR_CORRUPT;
  memcpy(&count, p, 8);
  memcpy(&host_length, p + 8, 8);
  p += 16;
  if ((size_t)(end - p) < host_length) return MPIMR_ERR_CORRUPT;
  /* Device numbers are given out by each machine's kernel: the same file on a shared file system
   * may have another one here, so they are compared only on the machine that listed the input. */
  char host[256];
  machine_name(host, sizeof host);
  int same_machine = host_length > 0 && host_length == strlen(host) && memcmp(p, host, host_length) == 0;
  p += host_length;
  char *path = NULL;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t fields[7];
    if ((size_t)(end - p) < PACKED_FILE_HEADER) goto corrupt;
    memcpy(fields, p, sizeof fields);
    p += PACKED_FILE_HEADER;
    uint64_t size = fields[0], length = fields[6];
    input_identity identity = {fields[1], fields[2], (int64_t)fields[3], (int64_t)fields[4],
                               fields[5] != 0 && same_machine};
    if ((size_t)(end - p) < length) goto corrupt;
    path = strndup((const char *)p, (size_t)length);
    if (path == NULL || list_append(list, path, size, &identity) != MPIMR_OK) {
      free(path);
      input_list_destroy(list);
      return MPIMR_ERR_NOMEM;
    }
    free(path);
    p += length;
  }
  return MPIMR_OK;
corrupt:
  input_list_destroy(list);
  return MPIMR_ERR_CORRUPT;
}

/* total × numerator / denominator without overflow. */
static uint64_t scale(uint64_t total, int numerator, int denominator) {
  return (uint64_t)(((__uint128_t)total * (unsigned)numerator) / (unsigned)denominator);
}

size_t input_split(const input_list *list, int rank, int nranks, input_piece *pieces) {
  uint64_t lo = scale(list->total_bytes, rank, nranks);
  uint64_t hi = scale(list->total_bytes, rank + 1, nranks);
  size_t count = 0;
  uint64_t base = 0;
  for (size_t i = 0; i < list->count && base < hi; i++) {
    uint64_t size = list->files[i].size;
    uint64_t start = lo > base ? lo - base : 0;
    uint64_t end = hi - base < size ? hi - base : size;
    if (start < end) pieces[count++] = (input_piece){i, start, end};
    base += size;
  }
  return count;
}

int record_reader_open(record_reader *r, const char *path, uint64_t start, uint64_t end,
                       size_t buffer_bytes) {
  memset(r, 0, sizeof *r);
  r->fd = -1;
  r->path = path;
  r->end = end;
  /* Start one byte early and drop the first record: it began in the previous range (or is the
   * empty record that ends there), unless we start at the file's beginning. */
  r->skip_first = start > 0;
  r->read_offset = r->window_offset = start > 0 ? start - 1 : 0;
  r->capacity = buffer_bytes < 64 ? 64 : buffer_bytes;
  r->file_size = UINT64_MAX;
  r->max_capacity = SIZE_MAX;
  r->buffer = malloc(r->capacity + RECORD_READER_PADDING);
  if (r->buffer == NULL) return MPIMR_ERR_NOMEM;
  memset(r->buffer, 0, RECORD_READER_PADDING);
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) {
    r->error = errno;
    return MPIMR_ERR_IO;
  }
  posix_fadvise(r->fd, (off_t)r->read_offset, 0, POSIX_FADV_SEQUENTIAL);
  return MPIMR_OK;
}

void record_reader_limit(record_reader *r, uint64_t file_size, size_t max_record_bytes) {
  r->file_size = file_size;
  r->max_capacity = max_record_bytes < r->capacity ? r->capacity : max_record_bytes;
}

void record_reader_expect(record_reader *r, const input_identity *identity) {
  r->identity = *identity;
  r->identity_due = READER_IDENTITY_AT_START;
}

/* Compares the open file with its identity and listed size: one fstat(). */
static int reader_check_identity(record_reader *r) {
  struct stat st;
  if (fstat(r->fd, &st) != 0) {
    r->error = errno;
    return MPIMR_ERR_IO;
  }
  const input_identity *id = &r->identity;
  unsigned changed = 0;
  if (id->device_comparable && (uint64_t)st.st_dev != id->device) changed |= INPUT_CHANGED_DEVICE;
  if ((uint64_t)st.st_ino != id->inode) changed |= INPUT_CHANGED_INODE;
  if ((int64_t)st.st_mtim.tv_sec != id->mtime_sec || (int64_t)st.st_mtim.tv_nsec != id->mtime_nsec)
    changed |= INPUT_CHANGED_MTIME;
  if (r->file_size != UINT64_MAX && (uint64_t)st.st_size != r->file_size) changed |= INPUT_CHANGED_SIZE;
  r->changed = changed;
  return changed ? MPIMR_ERR_IO : MPIMR_OK;
}

/* Before the first record: the file opened must be the one listed (not one renamed over it since). */
static int reader_start(record_reader *r) {
  if (r->identity_due == READER_IDENTITY_AT_START) {
    int rc = reader_check_identity(r);
    if (rc != MPIMR_OK) return rc;
    r->identity_due = READER_IDENTITY_AT_END;
  }
  return MPIMR_OK;
}

/* The end of the piece (returns 0, or an error): the file must still be as listed, or it was rewritten
 * while it was read. */
static int reader_end(record_reader *r) {
  if (r->identity_due != READER_IDENTITY_AT_END) return 0;
  r->identity_due = READER_IDENTITY_NONE;
  return reader_check_identity(r);
}

/* "inode and modification time differ": the parts of the identity in `changed`. */
static void describe_changes(unsigned changed, char *text, size_t size) {
  static const char *const names[] = {"device", "inode", "modification time", "size"};
  size_t count = 0, written = 0, total = 0;
  for (int i = 0; i < 4; i++) total += (changed >> i) & 1;
  text[0] = '\0';
  for (int i = 0; i < 4; i++) {
    if (!((changed >> i) & 1)) continue;
    const char *separator = count == 0 ? "" : count + 1 == total ? " and " : ", ";
    int n = snprintf(text + written, size - written, "%s%s", separator, names[i]);
    if (n < 0 || (size_t)n >= size - written) return;
    written += (size_t)n;
    count++;
  }
  snprintf(text + written, size - written, " %s", total > 1 ? "differ" : "differs");
}

void record_reader_describe_error(const record_reader *r, int status, char *text, size_t size) {
  if (r->record_too_long)
    snprintf(text, size, "the record at byte %" PRIu64 " is longer than the largest record buffer (%zu bytes, "
             "a quarter of the memory budget)", r->record_offset, r->max_capacity);
  else if (r->shrank)
    snprintf(text, size, "the file ended at byte %" PRIu64 " while it was being read, but had %" PRIu64
             " bytes when the job started (truncated or replaced during the job?)", r->read_offset, r->file_size);
  else if (r->changed) {
    char changes[96];
    describe_changes(r->changed, changes, sizeof changes);
    snprintf(text, size,
             "the file was replaced or modified while the job ran (%s from when the job listed it)", changes);
  } else if (status == MPIMR_ERR_IO && r->error != 0)
    snprintf(text, size, "%s", strerror(r->error));
  else
    snprintf(text, size, "%s", mpimr_strerror(status));
}

/* Reads more bytes after the window, moving or growing the buffer when it is full. */
static int reader_fill(record_reader *r) {
  if (r->head > 0 && r->tail == r->capacity) {
    memmove(r->buffer, r->buffer + r->head, r->tail - r->head);
    r->window_offset += r->head;
    r->tail -= r->head;
    r->head = 0;
  }
  if (r->tail == r->capacity) {
    if (r->capacity >= r->max_capacity) {
      r->record_offset = r->window_offset + r->head;
      r->record_too_long = 1;
      return MPIMR_ERR_TOO_LARGE;
    }
    size_t capacity = r->capacity > r->max_capacity / 2 ? r->max_capacity : r->capacity * 2;
    unsigned char *grown = realloc(r->buffer, capacity + RECORD_READER_PADDING);
    if (grown == NULL) return MPIMR_ERR_NOMEM;
    r->buffer = grown;
    r->capacity = capacity;
  }
  for (;;) {
    size_t want = r->capacity - r->tail;
    if (r->read_offset >= r->file_size) want = 0;
    else if (r->file_size - r->read_offset < want) want = (size_t)(r->file_size - r->read_offset);
    ssize_t n = want ? pread(r->fd, r->buffer + r->tail, want, (off_t)r->read_offset) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r->error = errno;
      return MPIMR_ERR_IO;
    }
    if (n == 0 && want > 0 && r->file_size != UINT64_MAX) {
      r->shrank = 1;
      return MPIMR_ERR_IO;
    }
    if (n == 0) r->eof = 1;
    r->tail += (size_t)n;
    r->read_offset += (uint64_t)n;
    memset(r->buffer + r->tail, 0, RECORD_READER_PADDING);
    return MPIMR_OK;
  }
}

/* Drops the record that began in the previous range: up to and including its '\n' (reading on,
 * without keeping it, when it is longer than the buffer). */
static int reader_skip_first(record_reader *r) {
  for (;;) {
    unsigned char *newline = memchr(r->buffer + r->head, '\n', r->tail - r->head);
    if (newline != NULL) {
      r->head = (size_t)(newline - r->buffer) + 1;
      break;
    }
    r->head = r->tail;
    if (r->eof) break;
    int rc = reader_fill(r);
    if (rc != MPIMR_OK) return rc;
  }
  r->skip_first = 0;
  return MPIMR_OK;
}

int record_reader_next(record_reader *r, const unsigned char **record, size_t *length, uint64_t *consumed) {
  if (r->skip_first || r->identity_due == READER_IDENTITY_AT_START) {
    int rc = reader_start(r);
    if (rc == MPIMR_OK && r->skip_first) rc = reader_skip_first(r);
    if (rc != MPIMR_OK) return rc;
  }
  if (r->window_offset + r->head >= r->end) return reader_end(r);
  if (r->head == r->tail && r->eof) return reader_end(r);
  size_t scanned_from = r->head;
  unsigned char *newline = NULL;
  for (;;) {
    newline = memchr(r->buffer + scanned_from, '\n', r->tail - scanned_from);
    if (newline != NULL || r->eof) break;
    size_t scanned = r->tail - r->head;
    int rc = reader_fill(r);
    if (rc != MPIMR_OK) return rc;
    scanned_from = r->head + scanned;
  }
  unsigned char *start = r->buffer + r->head;
  r->record_offset = r->window_offset + r->head;
  size_t record_length = newline ? (size_t)(newline - start) : r->tail - r->head;
  size_t taken = newline ? record_length + 1 : record_length;
  r->head += taken;
  if (taken == 0) return reader_end(r); /* At end of file with nothing left. */
  if (consumed) *consumed += taken;
  if (newline && record_length > 0 && start[record_length - 1] == '\r') record_length--;
  *record = start;
  *length = record_length;
  return 1;
}

int record_reader_next_block(record_reader *r, const unsigned char **block, size_t *length,
                             uint64_t *consumed) {
  if (r->skip_first || r->identity_due == READER_IDENTITY_AT_START) {
    int rc = reader_start(r);
    if (rc == MPIMR_OK && r->skip_first) rc = reader_skip_first(r);
    if (rc != MPIMR_OK) return rc;
  }
  for (;;) {
    if (r->window_offset + r->head >= r->end) return reader_end(r);
    if (r->head == r->tail) {
      if (r->eof) return reader_end(r);
      int rc = reader_fill(r);
      if (rc != MPIMR_OK) return rc;
      continue;
    }
    /* The block ends at the '\n' of its last whole record. A record is ours if it starts before
     * `end`, so the last one ends at the first '\n' at or after offset end - 1; before that, any
     * '\n' will do, the last in the buffer giving the largest block. */
    const unsigned char *cut = NULL;
    uint64_t last_start = r->end - 1;
    if (last_start < r->window_offset + r->tail) {
      size_t from =
          last_start > r->window_offset + r->head ? (size_t)(last_start - r->window_offset) : r->head;
      cut = memchr(r->buffer + from, '\n', r->tail - from);
      /* Our last record is longer than what is read: hand over the whole records before it first,
       * so the buffer grows for that record alone (and an overlong one is reported where it starts). */
      if (cut == NULL && !r->eof) cut = memrchr(r->buffer + r->head, '\n', r->tail - r->head);
    } else {
      cut = memrchr(r->buffer + r->head, '\n', r->tail - r->head);
    }
    size_t stop;
    if (cut != NULL) {
      stop = (size_t)(cut - r->buffer) + 1;
    } else if (r->eof) {
      stop = r->tail; /* the file's last record, without a '\n' */
    } else {
      int rc = reader_fill(r); /* a record longer than what the buffer holds: read on */
      if (rc != MPIMR_OK) return rc;
      continue;
    }
    *block = r->buffer + r->head;
    r->record_offset = r->window_offset + r->head;
    *length = stop - r->head;
    if (consumed) *consumed += *length;
    r->head = stop;
    return 1;
  }
}

void record_reader_close(record_reader *r) {
  if (r->fd >= 0) close(r->fd);
  free(r->buffer);
  r->fd = -1;
  r->buffer = NULL;
}
