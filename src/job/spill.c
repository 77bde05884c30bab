/* job/spill.c — spilled runs: directory, writing, merging down; see spill.h. */
#include "job/spill.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv/codec.h"
#include "mpimr/error.h"
#include "util/files.h"
#include "util/process_id.h"

int spill_area_init(spill_area *a, const char *parent, size_t buffer_bytes, const kv_order *order) {
  memset(a, 0, sizeof *a);
  a->order = order;
  a->parent = strdup(parent);
  a->buffer_bytes = buffer_bytes;
  return a->parent ? MPIMR_OK : MPIMR_ERR_NOMEM;
}

#define SPILL_DIR_PREFIX "mpimr-spill-"

/* Reads the owner from a spill directory's name, mpimr-spill-PID.START.HOST-XXXXXX. */
static int parse_spill_name(const char *name, process_id *owner) {
  memset(owner, 0, sizeof *owner);
  const char *at = name + strlen(SPILL_DIR_PREFIX);
  char *end;
  owner->pid = strtol(at, &end, 10);
  if (end == at || *end != '.' || owner->pid <= 0) return -1;
  at = end + 1;
  owner->start_ticks = strtoull(at, &end, 10);
  if (end == at || *end != '.') return -1;
  at = end + 1;
  size_t length = strlen(at);
  if (length < 8 || at[length - 7] != '-' || length - 7 >= sizeof owner->host) return -1;
  memcpy(owner->host, at, length - 7);
  owner->host[length - 7] = '\0';
  return 0;
}

int spill_reclaim(const char *parent, spill_reclaim_rule rule) {
  DIR *d = opendir(parent);
  if (d == NULL) return 0;
  process_id self;
  process_id_self(&self);
  int removed = 0;
  struct dirent *entry;
  while ((entry = readdir(d)) != NULL) {
    if (strncmp(entry->d_name, SPILL_DIR_PREFIX, strlen(SPILL_DIR_PREFIX)) != 0) continue;
    process_id owner;
    enum process_liveness liveness =
        parse_spill_name(entry->d_name, &owner) == 0 ? process_id_liveness(&owner, &self) : PROCESS_UNKNOWN;
    if (liveness == PROCESS_ALIVE || (liveness == PROCESS_UNKNOWN && rule == SPILL_RECLAIM_DEAD)) continue;
    char *path = files_join(parent, entry->d_name);
    if (path && files_remove_flat_directory(path) == 0) removed++;
    free(path);
  }
  closedir(d);
  return removed;
}

static int make_directory(spill_area *a) {
  if (a->dir != NULL) return MPIMR_OK;
  /* Before adding one: what killed jobs of this host left here goes. */
  spill_reclaim(a->parent, SPILL_RECLAIM_DEAD);
  process_id self;
  process_id_self(&self);
  size_t length = strlen(a->parent) + strlen(self.host) + sizeof "/" SPILL_DIR_PREFIX "-XXXXXX" + 48;
  char *dir = malloc(length);
  if (dir == NULL) return MPIMR_ERR_NOMEM;
  snprintf(dir, length, "%s/" SPILL_DIR_PREFIX "%ld.%llu.%s-XXXXXX", a->parent, self.pid, self.start_ticks,
           self.host);
  if (mkdtemp(dir) == NULL) {
    snprintf(a->error, sizeof a->error, "spill directory '%s': cannot create a directory in it: %s",
             a->parent, strerror(errno));
    free(dir);
    return MPIMR_ERR_IO;
  }
  a->dir = dir;
  return MPIMR_OK;
}

/* Room in the list for one more run. */
static int reserve_run(spill_area *a) {
  if (a->run_count < a->run_capacity) return MPIMR_OK;
  size_t capacity = a->run_capacity ? 2 * a->run_capacity : 16;
  spill_run *grown = realloc(a->runs, capacity * sizeof *grown);
  if (grown == NULL) return MPIMR_ERR_NOMEM;
  a->runs = grown;
  a->run_capacity = capacity;
  return MPIMR_OK;
}

/* Makes the path of the next file run and reserves its place in the list. */
static int next_run_path(spill_area *a, char **path) {
  int rc = make_directory(a);
  if (rc == MPIMR_OK) rc = reserve_run(a);
  if (rc != MPIMR_OK) return rc;
  size_t length = strlen(a->dir) + 32;
  *path = malloc(length);
  if (*path == NULL) return MPIMR_ERR_NOMEM;
  snprintf(*path, length, "%s/run-%06llu", a->dir, (unsigned long long)a->next_number++);
  return MPIMR_OK;
}

static int write_failed(spill_area *a, run_writer *w, char *path, int rc) {
  snprintf(a->error, sizeof a->error, "spill '%s': %s", path,
           rc == MPIMR_ERR_IO ? strerror(w->error) : mpimr_strerror(rc));
  run_writer_abandon(w);
  unlink(path);
  free(path);
  return rc;
}

/* Closes a finished run and files it as the newest (or at `position`, for merges). */
static int finish_run(spill_area *a, run_writer *w, char *path, size_t position) {
  uint64_t written = w->bytes_written;
  int rc = run_writer_close(w);
  if (rc != MPIMR_OK) {
    snprintf(a->error, sizeof a->error, "spill '%s': %s", path, strerror(w->error));
    unlink(path);
    free(path);
    return rc;
  }
  memmove(a->runs + position + 1, a->runs + position, (a->run_count - position) * sizeof *a->runs);
  a->runs[position] = (spill_run){path, NULL, 0, -1, 0};
  a->run_count++;
  a->file_runs++;
  a->bytes_written += written;
  return MPIMR_OK;
}

int spill_write_items(spill_area *a, const sort_item *items, size_t count) {
  char *path = NULL;
  int rc = next_run_path(a, &path);
  if (rc != MPIMR_OK) {
    if (rc == MPIMR_ERR_NOMEM) snprintf(a->error, sizeof a->error, "spill: out of memory");
    return rc;
  }
  run_writer w;
  rc = run_writer_open(&w, path, a->buffer_bytes);
  size_t start = 0;
  while (rc == MPIMR_OK && start < count) {
    size_t end = start + 1;
    while (end < count && sort_item_compare(&items[start], &items[end]) == 0) end++;
    rc = run_writer_begin_group(&w, items[start].key, items[start].key_len, end - start);
    for (size_t i = start; i < end && rc == MPIMR_OK; i++)
      rc = run_writer_value(&w, items[i].key + items[i].key_len, items[i].value_len);
    start = end;
  }
  if (rc != MPIMR_OK) return write_failed(a, &w, path, rc);
  rc = finish_run(a, &w, path, a->file_runs);
  if (rc == MPIMR_OK) a->runs_spilled++;
  return rc;
}

int spill_keep_items(spill_area *a, const sort_item *items, size_t count) {
  size_t length = 0;
  for (size_t start = 0, end; start < count; start = end) {
    for (end = start + 1; end < count && sort_item_compare(&items[start], &items[end]) == 0;) end++;
    length += codec_varint_size(items[start].key_len) + items[start].key_len + codec_varint_size(end - start);
    for (size_t i = start; i < end; i++) length += codec_varint_size(items[i].value_len) + items[i].value_len;
  }
  unsigned char *data = malloc(length ? length : 1);
  if (data == NULL || reserve_run(a) != MPIMR_OK) {
    free(data);
    snprintf(a->error, sizeof a->error, "spill: out of memory keeping a run of %zu bytes", length);
    return MPIMR_ERR_NOMEM;
  }
  unsigned char *at = data;
  for (size_t start = 0, end; start < count; start = end) {
    for (end = start + 1; end < count && sort_item_compare(&items[start], &items[end]) == 0;) end++;
    at = codec_put_varint(at, items[start].key_len);
    memcpy(at, items[start].key, items[start].key_len);
    at = codec_put_varint(at + items[start].key_len, end - start);
    for (size_t i = start; i < end; i++) {
      at = codec_put_varint(at, items[i].value_len);
      memcpy(at, items[i].key + items[i].key_len, items[i].value_len);
      at += items[i].value_len;
    }
  }
  a->runs[a->run_count++] = (spill_run){NULL, data, length, -1, 0};
  a->memory_run_bytes += length;
  return MPIMR_OK;
}

int spill_write_memory_step(spill_area *a, size_t max_bytes, int *done) {
  *done = a->file_runs == a->run_count;
  if (*done) return MPIMR_OK;
  if (a->runs[a->file_runs].fd < 0) {
    char *path = NULL;
    int rc = next_run_path(a, &path);
    if (rc != MPIMR_OK) {
      if (rc == MPIMR_ERR_NOMEM) snprintf(a->error, sizeof a->error, "spill: out of memory");
      return rc;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      snprintf(a->error, sizeof a->error, "spill '%s': %s", path, strerror(errno));
      free(path);
      return MPIMR_ERR_IO;
    }
    spill_run *run = &a->runs[a->file_runs]; /* after next_run_path(), which may move the list */
    run->path = path;
    run->fd = fd;
    run->written = 0;
  }
  spill_run *run = &a->runs[a->file_runs];
  size_t n = run->length - run->written < max_bytes ? run->length - run->written : max_bytes;
  int failed = 0;
  while (n > 0) {
    ssize_t put = write(run->fd, run->data + run->written, n);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) {
      failed = errno;
      break;
    }
    run->written += (size_t)put;
    n -= (size_t)put;
  }
  if (!failed && run->written == run->length && close(run->fd) != 0) failed = errno;
  if (failed) {
    snprintf(a->error, sizeof a->error, "spill '%s': %s", run->path, strerror(failed));
    if (run->written < run->length) close(run->fd);
    unlink(run->path);
    free(run->path);
    run->path = NULL;
    run->fd = -1;
    return MPIMR_ERR_IO;
  }
  if (run->written == run->length) {
    a->memory_run_bytes -= run->length;
    a->bytes_written += run->length;
    a->runs_spilled++;
    free(run->data);
    run->data = NULL;
    run->length = 0;
    run->fd = -1;
    a->file_runs++;
  }
  *done = a->file_runs == a->run_count;
  return MPIMR_OK;
}

int spill_flush_memory_runs(spill_area *a) {
  int done = 0;
  while (!done) {
    int rc = spill_write_memory_step(a, SIZE_MAX, &done);
    if (rc != MPIMR_OK) return rc;
  }
  return MPIMR_OK;
}

int spill_combine_group(merger *m, mpimr_combine_fn combine, void *user, unsigned char **acc,
                        size_t *acc_capacity, size_t *acc_len) {
  size_t key_len = m->key_len;
  const unsigned char *value;
  size_t value_len;
  int first = 1, rc;
  while ((rc = merge_next_value(m, &value, &value_len)) == 1) {
    size_t room = *acc_capacity > key_len ? *acc_capacity - key_len : 0;
    if (first) {
      if (key_len + value_len > *acc_capacity) {
        unsigned char *grown = realloc(*acc, key_len + value_len);
        if (grown == NULL) return MPIMR_ERR_NOMEM;
        *acc = grown;
        *acc_capacity = key_len + value_len;
      }
      if (key_len) memcpy(*acc, m->key, key_len);
      if (value_len) memcpy(*acc + key_len, value, value_len);
      *acc_len = value_len;
      first = 0;
      continue;
    }
    long long merged = combine(user, m->key, key_len, *acc + key_len, *acc_len, room, value, value_len);
    if (merged >= 0 && (size_t)merged > room) {
      size_t capacity = key_len + (size_t)merged;
      unsigned char *grown = realloc(*acc, capacity);
      if (grown == NULL) return MPIMR_ERR_NOMEM;
      *acc = grown;
      *acc_capacity = capacity;
      room = (size_t)merged;
      merged = combine(user, m->key, key_len, *acc + key_len, *acc_len, room, value, value_len);
    }
    if (merged < 0 || (size_t)merged > room) return MPIMR_ERR_USER;
    *acc_len = (size_t)merged;
  }
  return rc < 0 ? rc : MPIMR_OK;
}

void spill_describe_merge_failure(const merger *m, int rc, const char *what, char *buffer, size_t size) {
  const merge_source *failed = m->failed_source >= 0 ? &m->sources[m->failed_source] : NULL;
  if (rc == MPIMR_ERR_USER)
    snprintf(buffer, size, "%s: the combiner failed", what);
  else if (failed && failed->run)
    snprintf(buffer, size, "spill '%s': %s", failed->name,
             rc == MPIMR_ERR_IO && failed->run->error ? strerror(failed->run->error) : mpimr_strerror(rc));
  else
    snprintf(buffer, size, "%s: %s", what, mpimr_strerror(rc));
}

/* Copies the merge of the current sources into the writer: one group per key. */
static int copy_merge(merger *m, run_writer *w, mpimr_combine_fn combine, void *user) {
  unsigned char *acc = NULL;
  size_t acc_capacity = 0, acc_len = 0;
  int rc;
  while ((rc = merge_next_group(m)) == 1) {
    if (combine) {
      rc = spill_combine_group(m, combine, user, &acc, &acc_capacity, &acc_len);
      if (rc == MPIMR_OK) rc = run_writer_begin_group(w, acc, m->key_len, 1);
      if (rc == MPIMR_OK) rc = run_writer_value(w, acc + m->key_len, acc_len);
    } else {
      rc = run_writer_begin_group(w, m->key, m->key_len, m->group_count);
      const unsigned char *value;
      size_t value_len;
      while (rc == MPIMR_OK && (rc = merge_next_value(m, &value, &value_len)) == 1)
        rc = run_writer_value(w, value, value_len);
    }
    if (rc != MPIMR_OK) break;
  }
  free(acc);
  return rc;
}

/* Merges runs [first, first + count) into one new run that takes their place. */
static int merge_range(spill_area *a, size_t first, size_t count, int by_value, mpimr_combine_fn combine,
                       void *user) {
  run_reader *readers = calloc(count, sizeof *readers);
  merge_source *sources = calloc(count, sizeof *sources);
  char *path = NULL;
  int rc = readers && sources ? next_run_path(a, &path) : MPIMR_ERR_NOMEM;
  if (rc != MPIMR_OK) {
    free(readers);
    free(sources);
    if (rc == MPIMR_ERR_NOMEM) snprintf(a->error, sizeof a->error, "spill merge: out of memory");
    return rc;
  }
  rc = spill_open_runs(a, first, count, readers, sources);
  merger m;
  memset(&m, 0, sizeof m);
  run_writer w;
  memset(&w, 0, sizeof w);
  w.fd = -1;
  if (rc == MPIMR_OK) {
    rc = run_writer_open(&w, path, a->buffer_bytes);
    if (rc != MPIMR_OK) {
      rc = write_failed(a, &w, path, rc);
      path = NULL;
    }
  }
  if (rc == MPIMR_OK) {
    rc = merge_init(&m, sources, count, by_value, a->order);
    if (rc == MPIMR_OK) rc = copy_merge(&m, &w, combine, user);
    if (rc != MPIMR_OK && w.error) {
      rc = write_failed(a, &w, path, rc);
      path = NULL;
    } else if (rc != MPIMR_OK) {
      spill_describe_merge_failure(&m, rc, "spill merge", a->error, sizeof a->error);
    }
  }
  merge_destroy(&m);
  for (size_t i = 0; i < count; i++) run_reader_close(&readers[i]);
  free(readers);
  free(sources);
  if (rc != MPIMR_OK) {
    if (path) {
      run_writer_abandon(&w);
      unlink(path);
      free(path);
    }
    return rc;
  }
  for (size_t i = first; i < first + count; i++) {
    unlink(a->runs[i].path);
    free(a->runs[i].path);
  }
  memmove(a->runs + first, a->runs + first + count, (a->run_count - first - count) * sizeof *a->runs);
  a->run_count -= count;
  a->file_runs -= count;
  rc = finish_run(a, &w, path, first);
  if (rc == MPIMR_OK) a->merge_passes++;
  return rc;
}

int spill_merge_down(spill_area *a, size_t max_runs, size_t fan_in, int by_value, mpimr_combine_fn combine,
                     void *user) {
  if (max_runs < 2) max_runs = 2;
  if (fan_in < 2) fan_in = 2;
  /* Level by level: consecutive groups of up to fan_in runs become one each (in place, so runs keep
   * their order), and a run merged at this level waits for the next; each level stops as soon as
   * the rest would fit, so every byte is rewritten as few times as the fan-in allows. */
  size_t next = 0;
  while (a->file_runs > max_runs) {
    if (next + 1 >= a->file_runs) next = 0; /* the next level */
    size_t count = a->file_runs - max_runs + 1;
    if (count > fan_in) count = fan_in;
    if (count > a->file_runs - next) count = a->file_runs - next;
    int rc = merge_range(a, next, count, by_value, combine, user);
    if (rc != MPIMR_OK) return rc;
    next++;
  }
  return MPIMR_OK;
}

int spill_open_runs(spill_area *a, size_t first, size_t count, run_reader *readers, merge_source *sources) {
  for (size_t i = 0; i < count; i++) {
    const spill_run *run = &a->runs[first + i];
    int in_file = first + i < a->file_runs;
    const char *path = in_file ? run->path : "a run in memory";
    int rc = in_file ? run_reader_open(&readers[i], path, a->buffer_bytes)
                     : run_reader_open_memory(&readers[i], run->data, run->length);
    sources[i] = (merge_source){.run = &readers[i], .name = path};
    if (rc != MPIMR_OK) {
      snprintf(a->error, sizeof a->error, "spill '%s': %s", path,
               rc == MPIMR_ERR_IO ? strerror(readers[i].error) : mpimr_strerror(rc));
      for (size_t j = i + 1; j < count; j++) readers[j].fd = -1;
      return rc;
    }
  }
  return MPIMR_OK;
}

void spill_area_destroy(spill_area *a) {
  for (size_t i = 0; i < a->run_count; i++) {
    if (a->runs[i].fd >= 0) close(a->runs[i].fd);
    if (a->runs[i].path) unlink(a->runs[i].path);
    free(a->runs[i].path);
    free(a->runs[i].data);
  }
  free(a->runs);
  if (a->dir) rmdir(a->dir);
  free(a->dir);
  free(a->parent);
  memset(a, 0, sizeof *a);
}
