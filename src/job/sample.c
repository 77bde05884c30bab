/*
 * job/sample.c — a globally ordered job's sample: the map runs over windows of each rank's share
 * into the sample, and the ranks choose the splitters from it.
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

/* ---- the sample of a globally ordered job ------------------------------ */

/* Where the sample is read: 64 windows of 32 KiB (or 256 indices) spread evenly over the rank's share,
 * about 2 MiB in all; a share no larger than that is read whole. */
enum { SAMPLE_WINDOWS = 64, SAMPLE_WINDOW_BYTES = 32 << 10, SAMPLE_WINDOW_INDICES = 256 };

/* The sample's map output only feeds the sample. */
int job_emit_to_sample(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                       size_t value_len) {
  sample_task *task = emitter->sink_state;
  mpimr_job *job = task->map.job;
  if (key_len + value_len > MPIMR_MAX_PAIR_BYTES)
    return job_emit_failed(job, MPIMR_ERR_TOO_LARGE, "a pair is larger than 1 GiB");
  if (range_sample_offer(task->sample, key, key_len, value, value_len) != MPIMR_OK)
    return job_emit_failed(job, MPIMR_ERR_NOMEM, "no memory for the key sample");
  return MPIMR_OK;
}

/* Maps the windows of an integer range (the job's map shows the rank's share); returns the
 * indices mapped through *mapped. */
static int map_index_windows(sample_task *task, const map_task *share_map, uint64_t *mapped, uint64_t *share) {
  map_task *m = &task->map;
  uint64_t first = share_map->next_index, end = share_map->end_index, n = end - first;
  int windows = n > (uint64_t)SAMPLE_WINDOWS * SAMPLE_WINDOW_INDICES ? SAMPLE_WINDOWS : 1;
  int rc = MPIMR_OK;
  *share = n;
  *mapped = 0;
  for (int w = 0; w < windows && rc == MPIMR_OK; w++) {
    m->next_index =
        windows == 1 ? first : first + (uint64_t)(((__uint128_t)n * (unsigned)w) / SAMPLE_WINDOWS);
    m->end_index = windows == 1 ? end : m->next_index + SAMPLE_WINDOW_INDICES;
    *mapped += m->end_index - m->next_index;
    for (int more = 1; more && rc == MPIMR_OK;) rc = job_map_index_slice(m, &more);
  }
  return rc;
}

/* Maps windows of the input dataset's pairs; returns the pairs mapped through *mapped. */
static int map_pair_windows(sample_task *task, const map_task *share_map, uint64_t *mapped, uint64_t *share) {
  map_task *m = &task->map;
  mpimr_job *job = m->job;
  uint64_t n = share_map->end_pair;
  int windows = n > (uint64_t)SAMPLE_WINDOWS * SAMPLE_WINDOW_INDICES ? SAMPLE_WINDOWS : 1;
  int rc = MPIMR_OK;
  *share = n;
  *mapped = 0;
  m->pair_cursor = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
  m->next_pair = 0;
  for (int w = 0; w < windows && rc == MPIMR_OK; w++) {
    uint64_t first = windows == 1 ? 0 : (uint64_t)(((__uint128_t)n * (unsigned)w) / SAMPLE_WINDOWS);
    const void *key, *value;
    size_t key_len, value_len;
    while (m->next_pair < first &&
           mpimr_dataset_next(job->config.input_dataset, &m->pair_cursor, &key, &key_len, &value, &value_len))
      m->next_pair++;
    m->end_pair = windows == 1 ? n : first + SAMPLE_WINDOW_INDICES;
    *mapped += m->end_pair - m->next_pair;
    for (int more = 1; more && rc == MPIMR_OK;) rc = job_map_pair_slice(m, &more);
  }
  return rc;
}

/* Maps windows of the rank's input pieces (`share_map`'s), or all of them if they are small;
 * returns the bytes read through *mapped. */
static int map_record_windows(sample_task *task, const map_task *share_map, uint64_t *mapped, uint64_t *share) {
  map_task *m = &task->map;
  const input_piece *pieces = share_map->pieces;
  size_t piece_count = share_map->piece_count;
  uint64_t length = 0;
  for (size_t i = 0; i < piece_count; i++) length += pieces[i].end - pieces[i].start;
  *share = length;
  input_piece windows[SAMPLE_WINDOWS];
  m->pieces = (input_piece *)pieces; /* read, never written: the sample reads the share itself */
  m->piece_count = piece_count;
  if (length > (uint64_t)SAMPLE_WINDOWS * SAMPLE_WINDOW_BYTES) {
    size_t piece = 0;
    uint64_t piece_base = 0; /* where `piece` starts in the share */
    for (int w = 0; w < SAMPLE_WINDOWS; w++) {
      uint64_t at = (uint64_t)(((__uint128_t)length * (unsigned)w) / SAMPLE_WINDOWS);
      while (at >= piece_base + (pieces[piece].end - pieces[piece].start)) {
        piece_base += pieces[piece].end - pieces[piece].start;
        piece++;
      }
      input_piece window = pieces[piece];
      window.start += at - piece_base;
      if (window.end - window.start > SAMPLE_WINDOW_BYTES) window.end = window.start + SAMPLE_WINDOW_BYTES;
      windows[w] = window;
    }
    m->pieces = windows;
    m->piece_count = SAMPLE_WINDOWS;
    m->read_bytes = SAMPLE_WINDOW_BYTES;
  }
  int rc = MPIMR_OK;
  for (int more = 1; more && rc == MPIMR_OK;) rc = job_map_record_slice(m, &more);
  if (m->reader_open) {
    record_reader_close(&m->reader);
    m->reader_open = 0;
  }
  m->pieces = NULL;
  *mapped = m->figures->input_bytes;
  return rc;
}

/*
 * Maps a sample of this rank's input and chooses the splitters with the other ranks (collective).
 * The sample runs its own map task over windows of the rank's share, so the job's map is left as
 * it was; the map function sees the sampled records now and again in the map phase, and the
 * sample's figures are not counted in the job's.
 */
int job_choose_splitters(mpimr_job *job) {
  double started = clock_now();
  int with_values = !job->combining && job->config.reduce == NULL;
  range_sample sample;
  range_sample_init(&sample, with_values);
  mpimr_job_stats figures = {0};
  sample_task task = {.sample = &sample};
  task.emitter = (mpimr_emitter){job_emit_to_sample, &task};
  task.map.job = job;
  task.map.emitter = &task.emitter;
  task.map.read_bytes = job->config.read_bytes;
  task.map.figures = &figures;
  uint64_t mapped = 0, share = 0;
  int rc = job->indexed_input     ? map_index_windows(&task, &job->map, &mapped, &share)
           : job->config.map_pair ? map_pair_windows(&task, &job->map, &mapped, &share)
                                  : map_record_windows(&task, &job->map, &mapped, &share);
  /* The pairs the whole share should emit, if it emits as the sample did. */
  double expected = mapped > 0 ? (double)sample.offered * ((double)share / (double)mapped) : 0;
  rc = job_agree(job, rc);
  if (rc == MPIMR_OK) {
    char why[256] = "";
    rc = range_choose(&job->range, &sample, expected, with_values, &job->order, job->comm, why, sizeof why);
    if (rc != MPIMR_OK) job_set_error(job, "%s", why);
  }
  job->stats.sample_pairs = sample.entries;
  range_sample_destroy(&sample);
  job->stats.time_sample = clock_now() - started;
  trace_span_named(&job->trace, "sample and splitters", started, clock_now());
  return rc;
}
