/*
 * job/collect.c — reducer output: the collector that keeps it sorted and spills it, and the
 * part formats (text, binary, lines) written through the part writer.
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "job/budget.h"
#include "job/output.h"
#include "job/stages.h"
#include "kv/codec.h"
#include "kv/hash.h"
#include "kv/values.h"
#include "mpimr/error.h"
#include "mpimr/signals.h"
#include "util/clock.h"

/* ---- reduce and output ------------------------------------------------- */

/* The reduce output's share of the budget (the shuffle's buffers are gone by then). */
size_t job_output_share(const mpimr_job *job) { return job->memory_budget / BUDGET_SHUFFLE_PARTS; }

int job_sort_all(mpimr_job *job, sort_item *items, size_t count, sort_ties ties) {
  sort_item *scratch = malloc((count ? count : 1) * sizeof *scratch);
  if (scratch == NULL) {
    job_set_error(job, "reduce: out of memory sorting %zu keys", count);
    return MPIMR_ERR_NOMEM;
  }
  sort_items_ordered(items, scratch, count, ties, &job->order);
  free(scratch);
  return MPIMR_OK;
}

/* Turns collected reduce output into items in key order, pairs of one key in the order emitted. */
int job_index_output(mpimr_job *job, output_collector *out, sort_item **items) {
  sort_item *list = malloc((out->pairs ? out->pairs : 1) * sizeof *list);
  if (list == NULL) {
    job_set_error(job, "reduce: out of memory indexing output");
    return MPIMR_ERR_NOMEM;
  }
  const unsigned char *p = out->data, *end = out->data + out->used;
  codec_pair pair;
  for (size_t i = 0; i < out->pairs; i++) {
    p = codec_get_pair(p, end, &pair);
    if (p == NULL) {
      free(list);
      job_set_error(job, "reduce: collected output is corrupt");
      return MPIMR_ERR_CORRUPT;
    }
    list[i] = (sort_item){sort_key_prefix(pair.key, pair.key_len), pair.key, (uint32_t)pair.key_len,
                          (uint32_t)pair.value_len};
  }
  *items = list;
  return out->sorted ? MPIMR_OK : job_sort_all(job, list, out->pairs, SORT_TIES_ARRIVAL);
}

/* Writes the collected output as a run and empties the collector. */
static int spill_output(mpimr_job *job, output_collector *out) {
  sort_item *items = NULL;
  int rc = job_index_output(job, out, &items);
  if (rc == MPIMR_OK) {
    job_note_peak(job, out->capacity + 2 * out->pairs * sizeof(sort_item));
    rc = spill_write_items(&job->output_spill, items, out->pairs);
    if (rc != MPIMR_OK) job_set_error(job, "%s", job->output_spill.error);
  }
  free(items);
  out->used = 0;
  out->pairs = 0;
  out->sorted = 1;
  return rc;
}

int job_check_output_pair(mpimr_job *job, size_t key_len, size_t value_len) {
  if (key_len + value_len <= MPIMR_MAX_PAIR_BYTES) return MPIMR_OK;
  return job_emit_failed(job, MPIMR_ERR_TOO_LARGE, "a reduce output pair is larger than 1 GiB");
}

int job_collect_output(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                       size_t value_len) {
  output_collector *out = emitter->sink_state;
  int rc = job_check_output_pair(out->job, key_len, value_len);
  if (rc != MPIMR_OK) return rc;
  mpimr_job *job = out->job;
  size_t size = codec_pair_size(key_len, value_len);
  /* The collected pairs, and the two item lists that index and sort them when they are written. */
  if (out->used > 0 && out->used + size + (out->pairs + 1) * 2 * sizeof(sort_item) > job_output_share(job)) {
    rc = spill_output(job, out);
    if (rc != MPIMR_OK) {
      if (job->emit_status == MPIMR_OK) job->emit_status = rc;
      return rc;
    }
  }
  if (out->capacity - out->used < size) {
    size_t capacity = out->capacity ? out->capacity * 2 : 1 << 20;
    while (capacity - out->used < size) capacity *= 2;
    unsigned char *grown = realloc(out->data, capacity);
    if (grown == NULL) return job_emit_failed(job, MPIMR_ERR_NOMEM, "no memory for reduce output");
    out->data = grown;
    out->capacity = capacity;
  }
  unsigned char *at = out->data + out->used;
  codec_put_pair(at, key, key_len, value, value_len);
  size_t key_offset = out->used + codec_varint_size(key_len) + codec_varint_size(value_len);
  if (out->pairs > 0 &&
      order_compare_keys(&job->order, out->data + out->last_key_offset, out->last_key_len, key, key_len) > 0)
    out->sorted = 0;
  out->last_key_offset = key_offset;
  out->last_key_len = key_len;
  out->used += size;
  out->pairs++;
  return MPIMR_OK;
}

static int write_text_pair(mpimr_job *job, part_writer *w, const unsigned char *key, size_t key_len,
                           const unsigned char *value, size_t value_len, format_buffer *scratch) {
  size_t text_len = value_len;
  const void *text = value;
  if (job->config.format_value) {
    long long n = job->config.format_value(job->config.user, value, value_len, scratch->text, scratch->size);
    if (n >= 0 && (size_t)n > scratch->size) {
      char *grown = realloc(scratch->text, (size_t)n);
      if (grown == NULL) return MPIMR_ERR_NOMEM;
      scratch->text = grown;
      scratch->size = (size_t)n;
      n = job->config.format_value(job->config.user, value, value_len, scratch->text, scratch->size);
    }
    if (n < 0 || (size_t)n > scratch->size) {
      job_set_error(job, "the value format function failed (returned %lld)", n);
      return MPIMR_ERR_USER;
    }
    text = scratch->text;
    text_len = (size_t)n;
  }
  unsigned char *at = part_writer_reserve(w, key_len + text_len + 2);
  if (at == NULL) return MPIMR_ERR_IO;
  memcpy(at, key, key_len);
  at += key_len;
  *at++ = '\t';
  memcpy(at, text, text_len);
  at[text_len] = '\n';
  return MPIMR_OK;
}

static int write_binary_pair(part_writer *w, const unsigned char *key, size_t key_len,
                             const unsigned char *value, size_t value_len) {
  unsigned char *at = part_writer_reserve(w, 16 + key_len + value_len);
  if (at == NULL) return MPIMR_ERR_IO;
  mpimr_put_u64(at, key_len);
  mpimr_put_u64(at + 8, value_len);
  memcpy(at + 16, key, key_len);
  memcpy(at + 16 + key_len, value, value_len);
  return MPIMR_OK;
}

static int write_line_pair(part_writer *w, const unsigned char *key, size_t key_len,
                           const unsigned char *value, size_t value_len) {
  unsigned char *at = part_writer_reserve(w, key_len + value_len + 1);
  if (at == NULL) return MPIMR_ERR_IO;
  memcpy(at, key, key_len);
  memcpy(at + key_len, value, value_len);
  at[key_len + value_len] = '\n';
  return MPIMR_OK;
}

/* Writes one output pair in the job's format (or only counts it). */
int job_write_pair(mpimr_job *job, part_writer *w, const unsigned char *key, size_t key_len,
                   const unsigned char *value, size_t value_len, format_buffer *scratch) {
  /* A long output without a reducer still stops soon after a signal. */
  if ((++job->stats.pairs_output & 4095) == 0 && job_check_signal(job) != MPIMR_OK)
    return MPIMR_ERR_INTERRUPTED;
  int rc = MPIMR_OK;
  if (job->config.output_dataset) {
    rc = mpimr_dataset_add(job->config.output_dataset, key, key_len, value, value_len);
    if (rc != MPIMR_OK) job_set_error(job, "output dataset: %s", mpimr_strerror(rc));
    return rc;
  }
  if (job->config.output_format == MPIMR_OUTPUT_TEXT)
    rc = write_text_pair(job, w, key, key_len, value, value_len, scratch);
  else if (job->config.output_format == MPIMR_OUTPUT_BINARY)
    rc = write_binary_pair(w, key, key_len, value, value_len);
  else if (job->config.output_format == MPIMR_OUTPUT_LINES)
    rc = write_line_pair(w, key, key_len, value, value_len);
  if (rc == MPIMR_ERR_IO)
    job_set_error(job, "output '%s': %s", w->temporary_path, strerror(w->error));
  else if (rc == MPIMR_ERR_NOMEM)
    job_set_error(job, "output: out of memory formatting values");
  return rc;
}

int job_write_items(mpimr_job *job, part_writer *w, const sort_item *items, size_t count,
                    format_buffer *scratch) {
  if (job->config.output_format == MPIMR_OUTPUT_NONE) {
    job->stats.pairs_output += count;
    return MPIMR_OK;
  }
  /* Sorted items point all over the kept rounds: fetch the pairs a few items ahead, so that the
   * misses overlap instead of stalling every copy. */
  enum { PREFETCH_AHEAD = 16 };
  int rc = MPIMR_OK;
  for (size_t i = 0; i < count && rc == MPIMR_OK; i++) {
    if (i + PREFETCH_AHEAD < count) {
      const sort_item *ahead = &items[i + PREFETCH_AHEAD];
      __builtin_prefetch(ahead->key);
      if (ahead->key_len + ahead->value_len > 64) __builtin_prefetch(ahead->key + 64);
    }
    rc = job_write_pair(job, w, items[i].key, items[i].key_len, items[i].key + items[i].key_len,
                        items[i].value_len, scratch);
  }
  return rc;
}
