/*
 * job/store.c — the reduce-side store (counting table, combining table, or received pairs): its
 * memory, the budget's spill decisions, sorted runs written in the background, and gathering it
 * sorted for reduce.
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

/* ---- memory accounting and spilling ------------------------------------ */

/* What the reduce side's store holds, with the sort space spilling it would take: a list and a
 * scratch list of items, and for count tables the keys and sums laid out for the items. */
size_t job_store_memory(const mpimr_job *job) {
  if (job->counting) {
    const count_table *t = &job->reduce_counts;
    return count_table_memory(t) + t->live * (2 * sizeof(sort_item) + COUNT_SHORT_MAX + 8) + t->arena_used;
  }
  if (job->combining)
    return table_memory(&job->reduce_table) + job->reduce_table.live_entries * 2 * sizeof(sort_item);
  const received_store *store = &job->received;
  return store->chunk_bytes + (store->item_capacity + store->item_count) * sizeof(sort_item) +
         store->chunk_capacity * sizeof(unsigned char *) + job->spill.memory_run_bytes;
}

/* What the job holds for its data outside the store: input buffer, map side, round buffers. */
static size_t memory_outside_store(const mpimr_job *job) {
  size_t bytes = 0;
  if (job->counting)
    bytes += count_table_memory(&job->map_counts);
  else if (job->combining)
    bytes += table_memory(&job->map_table);
  if (job->shuffle) bytes += shuffle_buffer_bytes(job->shuffle);
  if (job->map.reader_open) bytes += job->map.reader.capacity + RECORD_READER_PADDING;
  return bytes;
}

/* Everything the job holds for its data now. */
static size_t memory_in_use(const mpimr_job *job) {
  return job_store_memory(job) + memory_outside_store(job);
}

/* The most the store can grow by while it takes `pairs` more pairs: their share of sort space and
 * entries, and the next doubling of its slots or item list if they would bring it on. */
static size_t store_growth(const mpimr_job *job, size_t pairs) {
  if (job->counting) {
    const count_table *t = &job->reduce_counts;
    size_t bytes = pairs * (2 * sizeof(sort_item) + COUNT_SHORT_MAX + 8);
    if ((t->live + pairs) * 2 > t->mask + 1) bytes += 2 * (t->mask + 1) * sizeof(count_slot);
    return bytes;
  }
  if (job->combining) {
    const kv_table *t = &job->reduce_table;
    size_t entry = t->live_entries ? t->arena_used / t->live_entries : 64;
    size_t bytes = pairs * (entry + 2 * sizeof(sort_item));
    if ((t->live_entries + pairs) * 2 > t->slot_mask + 1) bytes += 2 * (t->slot_mask + 1) * sizeof(uint64_t);
    return bytes;
  }
  const received_store *store = &job->received;
  size_t bytes = pairs * sizeof(sort_item);
  if (store->item_count + pairs > store->item_capacity) bytes += 2 * store->item_capacity * sizeof(sort_item);
  return bytes;
}

void job_note_peak(mpimr_job *job, size_t extra) {
  uint64_t bytes = memory_in_use(job) + extra;
  if (bytes > job->stats.peak_memory_bytes) job->stats.peak_memory_bytes = bytes;
}

/* Empties the reduce side's store after its content went to a run. */
static int clear_store(mpimr_job *job) {
  int rc = MPIMR_OK;
  if (job->counting) {
    rc = count_table_clear_and_trim(&job->reduce_counts, job_map_table_entries(job));
  } else if (job->combining) {
    rc = table_clear_and_trim(&job->reduce_table, job_map_table_entries(job));
  } else {
    received_store *store = &job->received;
    for (size_t i = 0; i < store->chunk_count; i++) free(store->chunks[i]);
    store->chunk_count = 0;
    store->chunk_bytes = 0;
    store->item_count = 0;
  }
  if (rc != MPIMR_OK)
    job_set_error(job, "reduce store: cannot shrink after spilling: %s", mpimr_strerror(rc));
  return rc;
}

/* Sorts the store and writes it to the spill directory as a run (after the runs it kept in
 * memory), then empties it. */
int job_spill_store(mpimr_job *job) {
  double started = clock_now();
  sort_item *items = NULL;
  size_t count = 0;
  unsigned char *backing = NULL;
  int rc = spill_flush_memory_runs(&job->spill);
  if (rc != MPIMR_OK) job_set_error(job, "%s", job->spill.error);
  if (rc == MPIMR_OK) rc = job_gather_reduce_items(job, &items, &count, &backing);
  if (rc == MPIMR_OK) {
    job_note_peak(job, 0);
    rc = spill_write_items(&job->spill, items, count);
    if (rc != MPIMR_OK) job_set_error(job, "%s", job->spill.error);
  }
  if (job->combining) free(items);
  free(backing);
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
int job_compact_store(mpimr_job *job) {
  const received_store *store = &job->received;
  if (job->combining || job->memory_budget < 8 * BUDGET_COMPACT_BYTES ||
      store->chunk_bytes < BUDGET_COMPACT_BYTES)
    return MPIMR_OK;
  uint64_t pairs = job->stats.pairs_received;
  if (pairs > 0 && job->received_bytes / pairs >= BUDGET_COMPACT_MAX_PAIR_BYTES) return MPIMR_OK;
  if (memory_in_use(job) + store->chunk_bytes + job->config.round_bytes > job->memory_budget)
    return job_spill_store(job);
  double started = clock_now();
  sort_item *items = NULL;
  size_t count = 0;
  unsigned char *backing = NULL;
  int rc = job_gather_reduce_items(job, &items, &count, &backing);
  if (rc == MPIMR_OK) {
    rc = spill_keep_items(&job->spill, items, count);
    if (rc != MPIMR_OK) job_set_error(job, "%s", job->spill.error);
  }
  job_note_peak(job, 0);
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
  if (in_use + incoming + store_growth(job, pairs) + job->config.round_bytes <= job->memory_budget ||
      store < job->memory_budget / BUDGET_STORE_MIN_PARTS)
    return MPIMR_OK;
  return job_spill_store(job);
}

/* A counting job's reduce side as items: each key and its 8-byte sum are laid out together in
 * `*backing` (the caller frees it), as sort items expect. */
static int gather_counts(mpimr_job *job, sort_item **items, size_t *count, unsigned char **backing) {
  count_table *t = &job->reduce_counts;
  /* A short key takes at most COUNT_SHORT_MAX bytes here; a long one no more than its arena entry
   * (8-byte length, bytes, padding). Each is followed by its 8-byte sum. */
  size_t bytes = t->live * (COUNT_SHORT_MAX + 8) + t->arena_used;
  sort_item *list = malloc((t->live ? t->live : 1) * sizeof *list);
  unsigned char *data = malloc(bytes ? bytes : 1);
  if (list == NULL || data == NULL) {
    free(list);
    free(data);
    job_set_error(job, "reduce: out of memory listing %zu keys", t->live);
    return MPIMR_ERR_NOMEM;
  }
  size_t n = 0, used = 0;
  unsigned char scratch[8];
  size_t len;
  for (size_t i = 0; i <= t->mask; i++) {
    if (t->slots[i].key == 0) continue;
    const unsigned char *key = count_slot_key(t, &t->slots[i], scratch, &len);
    unsigned char *at = data + used;
    memcpy(at, key, len);
    mpimr_put_u64(at + len, t->slots[i].count);
    list[n++] = (sort_item){sort_key_prefix(at, len), at, (uint32_t)len, 8};
    used += len + 8;
  }
  *items = list;
  *count = n;
  *backing = data;
  return job_sort_all(job, list, n, SORT_TIES_NONE);
}

/* Items for every pair the reduce side holds, sorted by key (and by value without a combiner).
 * Combining jobs' items (and *backing, for counting jobs) are the caller's to free. */
int job_gather_reduce_items(mpimr_job *job, sort_item **items, size_t *count, unsigned char **backing) {
  if (job->counting) return gather_counts(job, items, count, backing);
  if (!job->combining) {
    *items = job->received.items;
    *count = job->received.item_count;
    return job_sort_all(job, *items, *count, SORT_TIES_VALUE);
  }
  kv_table *t = &job->reduce_table;
  sort_item *list = malloc((t->live_entries ? t->live_entries : 1) * sizeof *list);
  if (list == NULL) {
    job_set_error(job, "reduce: out of memory listing %zu keys", t->live_entries);
    return MPIMR_ERR_NOMEM;
  }
  size_t n = 0;
  for (table_entry *e = table_first(t); e; e = table_next(t, e))
    list[n++] = (sort_item){sort_key_prefix(e->data, e->key_len), e->data, e->key_len, e->value_len};
  *items = list;
  *count = n;
  return job_sort_all(job, list, n, SORT_TIES_NONE);
}
