/*
 * job/reduce.c — reduce: the reducer called on each group of equal keys, merges of spilled runs,
 * output in key order as it is emitted, and writing this rank's part.
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
#include "job/store.h"
#include "kv/codec.h"
#include "kv/hash.h"
#include "kv/values.h"
#include "mpimr/error.h"
#include "mpimr/signals.h"
#include "util/clock.h"

/* Calls the reducer for one key; its output goes to the collector. */
static int call_reducer(mpimr_job *job, const unsigned char *key, size_t key_len, mpimr_values *values,
                        mpimr_emitter *emitter) {
  if (job_check_signal(job) != MPIMR_OK) return MPIMR_ERR_INTERRUPTED;
  job->stats.keys_reduced++;
  if (!job->combining) { /* the key with the most values: the reduce side's skew, at a glance */
    uint64_t count = mpimr_values_count(values);
    if (count > job->stats.heaviest_key_pairs) {
      job->stats.heaviest_key_pairs = count;
      job->stats.heaviest_key_len = (uint32_t)key_len;
      memcpy(job->stats.heaviest_key, key, key_len < sizeof job->stats.heaviest_key ? key_len : sizeof job->stats.heaviest_key);
    }
  }
  job->reducing_key = key;
  job->reducing_key_len = key_len;
  int returned = job->config.reduce(job->config.user, key, key_len, values, emitter);
  job->reducing_key = NULL;
  if (values->error != MPIMR_OK) return values->error;
  if (returned == 0) return MPIMR_OK;
  if (job->emit_status != MPIMR_OK) return job->emit_status;
  char shown[JOB_KEY_SHOWN_BYTES * 4 + 8];
  job_show_key(key, key_len, shown, sizeof shown);
  job_set_error(job, "reduce: the reduce function returned %d (key '%s')", returned, shown);
  return MPIMR_ERR_USER;
}

static int run_reducer(mpimr_job *job, const sort_item *items, size_t count, mpimr_emitter *emitter) {
  size_t start = 0;
  while (start < count) {
    size_t end = start + 1;
    while (end < count && sort_item_compare(&items[start], &items[end]) == 0) end++;
    mpimr_values values = values_in_memory(items + start, end - start);
    int rc = call_reducer(job, items[start].key, items[start].key_len, &values, emitter);
    if (rc != MPIMR_OK) return rc;
    start = end;
  }
  return MPIMR_OK;
}

/* Reader buffers a final merge may hold at once: a quarter of the budget, 2 to 64 of them. */
static size_t merge_fan_in(const mpimr_job *job) {
  size_t fan_in = job->memory_budget / 4 / job->spill.buffer_bytes;
  return fan_in < 2 ? 2 : fan_in > 64 ? 64 : fan_in;
}

/* Reports a failed merge in the job's message. */
static int merge_error(mpimr_job *job, const merger *m, int rc) {
  char why[600];
  spill_describe_merge_failure(m, rc, "reduce: merging spilled runs", why, sizeof why);
  job_set_error(job, "%s", why);
  return rc;
}

/* Merges an area's runs (and `items`, sorted, if any) in groups: each is handed to `visit`. */
typedef int (*group_visitor)(mpimr_job *job, merger *m, void *state);

static int merge_runs(mpimr_job *job, spill_area *area, const sort_item *items, size_t item_count,
                      int by_value, mpimr_combine_fn combine, group_visitor visit, void *state) {
  size_t fan_in = merge_fan_in(job);
  int rc = spill_merge_down(area, fan_in - 1, fan_in, by_value, combine, job->config.user);
  if (rc != MPIMR_OK) {
    job_set_error(job, "%s", area->error);
    return rc;
  }
  size_t runs = area->run_count; /* files (at most fan_in - 1 now) and runs in memory */
  run_reader *readers = calloc(runs ? runs : 1, sizeof *readers);
  merge_source *sources = calloc(runs + 1, sizeof *sources);
  if (readers == NULL || sources == NULL) {
    free(readers);
    free(sources);
    job_set_error(job, "reduce: out of memory opening %zu runs", runs);
    return MPIMR_ERR_NOMEM;
  }
  rc = spill_open_runs(area, 0, runs, readers, sources);
  if (rc != MPIMR_OK) job_set_error(job, "%s", area->error);
  /* The runs came before what stayed in memory: it goes last, so ties keep arrival order. */
  sources[runs] = (merge_source){.items = items, .item_count = item_count, .name = "memory"};
  merger m;
  memset(&m, 0, sizeof m);
  if (rc == MPIMR_OK) {
    job_note_peak(job, area->file_runs * area->buffer_bytes);
    rc = merge_init(&m, sources, runs + 1, by_value, &job->order);
    if (rc != MPIMR_OK) merge_error(job, &m, rc);
  }
  while (rc == MPIMR_OK) {
    rc = merge_next_group(&m);
    if (rc == 0) break;
    if (rc < 0) {
      merge_error(job, &m, rc);
      break;
    }
    rc = visit(job, &m, state);
  }
  merge_destroy(&m);
  for (size_t i = 0; i < runs; i++) run_reader_close(&readers[i]);
  free(readers);
  free(sources);
  return rc;
}

/* State of a reduce over merged runs. */
typedef struct merged_reduce {
  part_writer *writer;
  format_buffer *scratch;
  mpimr_emitter *emitter; /**< Reducer output (NULL without a reducer). */
  unsigned char *acc;     /**< A combined key and value. */
  size_t acc_capacity;
} merged_reduce;

static int write_group(mpimr_job *job, merger *m, void *state);

/* One key of the store's merge: combined if there is a combiner, then reduced or written. */
static int reduce_group(mpimr_job *job, merger *m, void *state) {
  merged_reduce *r = state;
  if (job->combining) {
    size_t value_len = 0;
    int rc =
        spill_combine_group(m, job->config.combine, job->config.user, &r->acc, &r->acc_capacity, &value_len);
    if (rc != MPIMR_OK) return merge_error(job, m, rc);
    if (r->emitter == NULL) {
      job->stats.keys_reduced++;
      return job_write_pair(job, r->writer, r->acc, m->key_len, r->acc + m->key_len, value_len, r->scratch);
    }
    sort_item item = {0, r->acc, (uint32_t)m->key_len, (uint32_t)value_len};
    mpimr_values values = values_in_memory(&item, 1);
    return call_reducer(job, r->acc, m->key_len, &values, r->emitter);
  }
  if (r->emitter != NULL) {
    mpimr_values values = values_of_merge(m);
    int rc = call_reducer(job, m->key, m->key_len, &values, r->emitter);
    if (values.error != MPIMR_OK) merge_error(job, m, values.error);
    return rc;
  }
  job->stats.keys_reduced++;
  return write_group(job, m, state);
}

/* One key of a merge, every value written as a pair with it, in the order the merge gives them
 * (for the output's runs: the order they were emitted in). */
static int write_group(mpimr_job *job, merger *m, void *state) {
  merged_reduce *r = state;
  const unsigned char *value;
  size_t value_len;
  int rc;
  while ((rc = merge_next_value(m, &value, &value_len)) == 1) {
    rc = job_write_pair(job, r->writer, m->key, m->key_len, value, value_len, r->scratch);
    if (rc != MPIMR_OK) return rc;
  }
  return rc < 0 ? merge_error(job, m, rc) : MPIMR_OK;
}

int job_write_in_order(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                       size_t value_len) {
  ordered_output *o = emitter->sink_state;
  mpimr_job *job = o->job;
  int rc = job_check_output_pair(job, key_len, value_len);
  if (rc != MPIMR_OK) return rc;
  if (o->any && order_compare_keys(&job->order, o->last_key, o->last_len, key, key_len) > 0)
    return job_emit_failed(job, MPIMR_ERR_USER,
                           "the reducer emitted a key below one it emitted before (reduce_in_order is set)");
  if (key_len > o->last_capacity) {
    size_t capacity = o->last_capacity ? o->last_capacity : 64;
    while (capacity < key_len) capacity *= 2;
    unsigned char *grown = realloc(o->last_key, capacity);
    if (grown == NULL) return job_emit_failed(job, MPIMR_ERR_NOMEM, "no memory for reduce output");
    o->last_key = grown;
    o->last_capacity = capacity;
  }
  if (key_len) memcpy(o->last_key, key, key_len);
  o->last_len = key_len;
  o->any = 1;
  rc = job_write_pair(job, o->writer, key, key_len, value, value_len, o->scratch);
  if (rc != MPIMR_OK && job->emit_status == MPIMR_OK) job->emit_status = rc;
  return rc;
}

/* Writes the reducers' output: from memory, or merged with its spilled runs. */
static int write_output(mpimr_job *job, part_writer *w, output_collector *out, format_buffer *scratch) {
  sort_item *items = NULL;
  int rc = job_index_output(job, out, &items);
  if (rc == MPIMR_OK && job->output_spill.run_count == 0) {
    rc = job_write_items(job, w, items, out->pairs, scratch);
  } else if (rc == MPIMR_OK) {
    merged_reduce state = {w, scratch, NULL, NULL, 0};
    rc = merge_runs(job, &job->output_spill, items, out->pairs, 0, NULL, write_group, &state);
  }
  free(items);
  return rc;
}

/* Reduce needs room beside the store: a reader per run it merges and the reducers' output. If the
 * store leaves too little, it is spilled too and reduce works from runs alone. */
static int make_room_for_reduce(mpimr_job *job) {
  size_t needed = job->config.reduce && !job->config.reduce_in_order ? job_output_share(job) : 0;
  size_t readers = job->spill.file_runs < merge_fan_in(job) ? job->spill.file_runs : merge_fan_in(job);
  needed += readers * job->spill.buffer_bytes;
  size_t store = job_store_memory(job);
  if (store == 0 || store + needed <= job->memory_budget) return MPIMR_OK;
  return job_spill_store(job);
}

/* Sorts, reduces and writes this rank's part; fills the reduce and output times. */
int job_reduce_and_write(mpimr_job *job, part_writer *w) {
  double started = clock_now();
  int spilled = job->spill.run_count > 0;
  if (job->config.output_dataset) mpimr_dataset_clear(job->config.output_dataset); /* map has read it */
  if (!spilled && job->combining && job->config.reduce == NULL &&
      job->config.output_format == MPIMR_OUTPUT_NONE) {
    /* Nothing to run and nothing to write: the table's keys are the result, unsorted. */
    size_t keys = job->store->entries(job);
    job->stats.keys_reduced = keys;
    job->stats.pairs_output = keys;
    job->stats.time_reduce = clock_now() - started;
    trace_span(&job->trace, TRACE_REDUCE, started, started + job->stats.time_reduce, 0);
    return MPIMR_OK;
  }
  store_items gathered = {0};
  output_collector out = {.job = job, .sorted = 1};
  mpimr_emitter emitter = {job_collect_output, &out};
  format_buffer scratch = {NULL, 0};
  ordered_output ordered = {job, w, &scratch, NULL, 0, 0, 0};
  if (job->config.reduce_in_order) emitter = (mpimr_emitter){job_write_in_order, &ordered};
  int rc = make_room_for_reduce(job);
  spilled = job->spill.run_count > 0;
  if (rc == MPIMR_OK) rc = job->store->gather_sorted(job, &gathered);
  if (rc == MPIMR_OK) job_note_peak(job, 0);
  sort_item *items = gathered.items;
  size_t count = gathered.count;
  if (rc == MPIMR_OK && spilled) {
    /* Reduce straight from the merge; without a reducer that is the output itself. */
    merged_reduce state = {w, &scratch, job->config.reduce ? &emitter : NULL, NULL, 0};
    rc = merge_runs(job, &job->spill, items, count, !job->combining, job->config.combine, reduce_group,
                    &state);
    free(state.acc);
  } else if (rc == MPIMR_OK && job->config.reduce == NULL) {
    for (size_t i = 0; i < count; i++)
      if (i == 0 || sort_item_compare(&items[i - 1], &items[i]) != 0) job->stats.keys_reduced++;
    rc = job_write_items(job, w, items, count, &scratch);
  } else if (rc == MPIMR_OK) {
    rc = run_reducer(job, items, count, &emitter);
  }
  double reduced = clock_now();
  job->stats.time_reduce = reduced - started;
  if (rc == MPIMR_OK && job->config.reduce && !job->config.reduce_in_order) {
    job_note_peak(job, out.capacity);
    rc = write_output(job, w, &out, &scratch);
  }
  job->stats.time_output = clock_now() - reduced;
  trace_span(&job->trace, TRACE_REDUCE, started, reduced, 0);
  trace_span(&job->trace, TRACE_OUTPUT, reduced, reduced + job->stats.time_output, 0);
  free(scratch.text);
  free(ordered.last_key);
  free(out.data);
  job_store_release_items(&gathered);
  return rc;
}
