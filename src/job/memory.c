/*
 * job/memory.c — the job's memory: what it holds (through the store's interface, job/store.h),
 * the budget's spill decisions, sorted runs of the store written in the background, and the
 * compaction of kept rounds into runs in memory.
 */
#include <stddef.h>
#include <stdlib.h>

#include "job/budget.h"
#include "job/stages.h"
#include "job/store.h"
#include "mpimr/error.h"
#include "util/clock.h"

size_t job_store_memory(const mpimr_job *job) { return job->store->memory(job); }

/* What the job holds for its data outside the store: input buffer, map side, round buffers. */
static size_t memory_outside_store(const mpimr_job *job) {
  size_t bytes = job->store->map_side_memory(job);
  if (job->shuffle) bytes += shuffle_buffer_bytes(job->shuffle);
  if (job->map.reader_open) bytes += job->map.reader.capacity + RECORD_READER_PADDING;
  return bytes;
}

/* Everything the job holds for its data now. */
static size_t memory_in_use(const mpimr_job *job) {
  return job_store_memory(job) + memory_outside_store(job);
}

void job_note_peak(mpimr_job *job, size_t extra) {
  uint64_t bytes = memory_in_use(job) + extra;
  if (bytes > job->stats.peak_memory_bytes) job->stats.peak_memory_bytes = bytes;
  if (job->trace.enabled) trace_memory(&job->trace, clock_now(), bytes); /* memory over time, for the report */
}

/* Keeps the largest memory the tables and the round buffers have taken, for the stats. */
void job_note_memory(mpimr_job *job) {
  size_t map_side = job->store->map_side_memory(job), reduce_side = job->store->table_memory(job);
  size_t buffers = shuffle_buffer_bytes(job->shuffle);
  if (map_side > job->stats.map_table_bytes) job->stats.map_table_bytes = map_side;
  if (reduce_side > job->stats.reduce_table_bytes) job->stats.reduce_table_bytes = reduce_side;
  if (buffers > job->stats.buffer_bytes) job->stats.buffer_bytes = buffers;
  job_note_peak(job, 0);
}

/* Empties the reduce side's store after its content went to a run. */
static int clear_store(mpimr_job *job) {
  int rc = job->store->clear(job);
  if (rc != MPIMR_OK)
    job_set_error(job, "reduce store: cannot shrink after spilling: %s", mpimr_strerror(rc));
  return rc;
}

/* Sorts the store and writes it to the spill directory as a run (after the runs it kept in
 * memory), then empties it. */
int job_spill_store(mpimr_job *job) {
  double started = clock_now();
  store_items gathered = {0};
  int rc = spill_flush_memory_runs(&job->spill);
  if (rc != MPIMR_OK) job_set_error(job, "%s", job->spill.error);
  if (rc == MPIMR_OK) rc = job->store->gather_sorted(job, &gathered);
  if (rc == MPIMR_OK) {
    job_note_peak(job, 0);
    rc = spill_write_items(&job->spill, gathered.items, gathered.count);
    if (rc != MPIMR_OK) job_set_error(job, "%s", job->spill.error);
  }
  job_store_release_items(&gathered);
  if (rc == MPIMR_OK) rc = clear_store(job);
  trace_span_named(&job->trace, "spill", started, clock_now());
  return rc;
}

/* The background writer: one slice of the oldest run in memory per poll, so that rounds keep
 * arriving (the reactor runs between polls) while runs go to disk. */
static mpimr_poll_result spill_writer_poll(mpimr_future *self, mpimr_executor *ex) {
  spill_writer *writer = (spill_writer *)self;
  mpimr_job *job = writer->job;
  int done = 1;
  size_t files_before = job->spill.file_runs;
  double started = job->trace.enabled ? clock_now() : 0;
  int rc = job->spill_status == MPIMR_OK
               ? spill_write_memory_step(&job->spill, job->spill.buffer_bytes, &done)
               : MPIMR_OK;
  if (job->trace.enabled) {
    if (writer->run_started == 0) writer->run_started = started;
    if (job->spill.file_runs != files_before) { /* a run is on disk: one span from its first slice */
      trace_span_named(&job->trace, "background spill write", writer->run_started, clock_now());
      writer->run_started = 0;
    }
  }
  if (rc != MPIMR_OK) {
    job->spill_status = rc;
    job_set_error(job, "%s", job->spill.error);
  }
  if (rc != MPIMR_OK || done) {
    writer->running = 0;
    self->result = rc;
    return MPIMR_READY;
  }
  mpimr_future_wake(ex, self);
  return MPIMR_PENDING;
}

/* Starts writing the runs in memory in the background, unless that is under way. */
static void start_background_writes(mpimr_job *job) {
  if (job->writer.running || job->spill.file_runs == job->spill.run_count) return;
  mpimr_future_init(&job->writer.base, spill_writer_poll);
  job->writer.job = job;
  job->writer.running = 1;
  job->writer.run_started = 0;
  if (mpimr_executor_spawn(job->executor, &job->writer.base) != MPIMR_OK) job->writer.running = 0;
}

/* Without a combiner, under a large budget, the store's kept rounds are sorted and copied into a
 * compact run in memory every BUDGET_COMPACT_BYTES: a reduce over gigabytes of rounds then reads
 * each run in order instead of following pointers all over them (2-3x faster), and the store
 * takes about a quarter of the memory. That holds for pairs smaller than a cache line, each of
 * which costs the pointer-following reduce a miss; larger pairs cost a miss per line either way,
 * so the copy and the merge are pure cost (a sort of 100-byte records mapped twice as fast
 * without them). If the copy would not fit, the store goes to disk instead. */
int job_compact_store(mpimr_job *job, size_t kept_bytes) {
  if (job->memory_budget < 8 * BUDGET_COMPACT_BYTES || kept_bytes < BUDGET_COMPACT_BYTES) return MPIMR_OK;
  uint64_t pairs = job->stats.pairs_received;
  if (pairs > 0 && job->received_bytes / pairs >= BUDGET_COMPACT_MAX_PAIR_BYTES) return MPIMR_OK;
  if (memory_in_use(job) + kept_bytes + job->config.round_bytes > job->memory_budget)
    return job_spill_store(job);
  double started = clock_now();
  store_items gathered = {0};
  int rc = job->store->gather_sorted(job, &gathered);
  if (rc == MPIMR_OK) {
    rc = spill_keep_items(&job->spill, gathered.items, gathered.count);
    if (rc != MPIMR_OK) job_set_error(job, "%s", job->spill.error);
  }
  job_note_peak(job, 0);
  job_store_release_items(&gathered);
  if (rc == MPIMR_OK) rc = clear_store(job);
  trace_span_named(&job->trace, "compact", started, clock_now());
  /* Past half the budget, the runs start for disk while the rounds keep coming, so that reaching
   * the budget finds little left to write at once. */
  if (rc == MPIMR_OK && memory_in_use(job) > job->memory_budget / 2) start_background_writes(job);
  return rc;
}

/* Spills the store first if taking `pairs` more pairs (and `incoming` more bytes of buffers) could
 * take the job's data past its budget, unless the store is too small to be worth a run. */
int job_spill_if_needed(mpimr_job *job, size_t pairs, size_t incoming) {
  if (job->spill_status != MPIMR_OK) return job->spill_status; /* a background write failed */
  size_t store = job_store_memory(job), in_use = store + memory_outside_store(job);
  if (in_use > job->stats.peak_memory_bytes) job->stats.peak_memory_bytes = in_use;
  /* A round's size of slack covers what cannot be foreseen exactly: the size of the next round's
   * receive buffer, a send set a long slice made grow. */
  if (in_use + incoming + job->store->growth(job, pairs) + job->config.round_bytes <= job->memory_budget ||
      store < job->memory_budget / BUDGET_STORE_MIN_PARTS)
    return MPIMR_OK;
  return job_spill_store(job);
}
