/*
 * job/job.c — the job pipeline: prepare output, list and split input, map
 * (as a compute future) while the shuffle driver moves rounds, then sort,
 * reduce, write and commit. Every collective step ends with all ranks
 * agreeing on the outcome, so a failure on one rank stops all of them.
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
#include "job/job_internal.h"
#include "job/output.h"
#include "kv/codec.h"
#include "kv/hash.h"
#include "kv/values.h"
#include "mpimr/error.h"
#include "mpimr/signals.h"
#include "util/clock.h"

enum {
  DEFAULT_ROUND_BYTES = 4 << 20,
  DEFAULT_ROUNDS_IN_FLIGHT = 2,
  DEFAULT_READ_BYTES = 256 << 10,
  DEFAULT_COMBINE_BYTES = 64 << 20,
  INDICES_PER_SLICE = 4096,
  MAX_ROUNDS_IN_FLIGHT = 8,
  DEFAULT_STALL_WARNING_SECONDS = 60
};

void mpimr_job_config_init(mpimr_job_config *config) {
  memset(config, 0, sizeof *config);
  config->round_bytes = DEFAULT_ROUND_BYTES;
  config->rounds_in_flight = DEFAULT_ROUNDS_IN_FLIGHT;
  config->read_bytes = DEFAULT_READ_BYTES;
  config->combine_bytes = DEFAULT_COMBINE_BYTES;
  config->pin = MPIMR_PIN_AUTO;
  config->output_format = MPIMR_OUTPUT_TEXT;
  config->stall_warning_seconds = DEFAULT_STALL_WARNING_SECONDS;
}

static void set_error(mpimr_job *job, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Keeps the first error: later ones are usually its consequences. */
static void set_error(mpimr_job *job, const char *format, ...) {
  if (job->error_message[0] != '\0') return;
  int n = snprintf(job->error_message, sizeof job->error_message, "rank %d: ", job->rank);
  va_list args;
  va_start(args, format);
  vsnprintf(job->error_message + n, sizeof job->error_message - (size_t)n, format, args);
  va_end(args);
}

/* MPIMR_ERR_INTERRUPTED, with the job's message naming the signal, once the process caught SIGINT or
 * SIGTERM (mpimr_signals_catch()); else MPIMR_OK. Cheap: one load. */
static int check_signal(mpimr_job *job) {
  int signal_number = mpimr_signal_caught();
  if (signal_number == 0) return MPIMR_OK;
  set_error(job, "interrupted by %s", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  if (job->emit_status == MPIMR_OK) job->emit_status = MPIMR_ERR_INTERRUPTED;
  return MPIMR_ERR_INTERRUPTED;
}

static void note_remote_failure(mpimr_job *job) {
  set_error(job, "stopped because another rank failed (its message names the cause)");
}

/* Agrees on a status across the job: returns the rank's own error, REMOTE, or OK. */
static int agree(mpimr_job *job, int status) {
  int agreed;
  if (MPI_Allreduce(&status, &agreed, 1, MPI_INT, MPI_MIN, job->comm) != MPI_SUCCESS) {
    set_error(job, "MPI_Allreduce failed while agreeing on the job's status");
    return MPIMR_ERR_MPI;
  }
  if (agreed == MPIMR_OK) return MPIMR_OK;
  if (status != MPIMR_OK) return status;
  note_remote_failure(job);
  return MPIMR_ERR_REMOTE;
}

static int validate_config(const mpimr_job_config *c, char *why, size_t why_size) {
  int file_input = c->map_record != NULL || c->map_block != NULL;
  if ((c->map_record != NULL) + (c->map_block != NULL) + (c->map_index != NULL) + (c->map_local != NULL) +
          (c->map_pair != NULL) !=
      1) {
    snprintf(why, why_size, "exactly one of map_record, map_block, map_index, map_local and map_pair must be set");
    return MPIMR_ERR_INVAL;
  }
  if (c->map_pair != NULL && c->input_dataset == NULL) {
    snprintf(why, why_size, "map_pair needs an input_dataset");
    return MPIMR_ERR_INVAL;
  }
  if (c->output_dataset != NULL && c->output_dir != NULL) {
    snprintf(why, why_size, "output goes to either output_dataset or output_dir, not both");
    return MPIMR_ERR_INVAL;
  }
  if (file_input && (c->input_count < 1 || c->inputs == NULL)) {
    snprintf(why, why_size, "no input files were given");
    return MPIMR_ERR_INVAL;
  }
  for (int i = 0; file_input && i < c->input_count; i++)
    if (c->inputs[i] == NULL || c->inputs[i][0] == '\0') {
      snprintf(why, why_size, "input %d is empty", i);
      return MPIMR_ERR_INVAL;
    }
  if (c->output_format != MPIMR_OUTPUT_TEXT && c->output_format != MPIMR_OUTPUT_BINARY &&
      c->output_format != MPIMR_OUTPUT_NONE && c->output_format != MPIMR_OUTPUT_LINES) {
    snprintf(why, why_size, "unknown output format %d", (int)c->output_format);
    return MPIMR_ERR_INVAL;
  }
  if (c->output_format != MPIMR_OUTPUT_NONE && c->output_dataset == NULL &&
      (c->output_dir == NULL || c->output_dir[0] == '\0')) {
    snprintf(why, why_size, "no output directory was given");
    return MPIMR_ERR_INVAL;
  }
  if (c->key_order != MPIMR_KEY_ORDER_PART && c->key_order != MPIMR_KEY_ORDER_GLOBAL) {
    snprintf(why, why_size, "unknown key order %d", (int)c->key_order);
    return MPIMR_ERR_INVAL;
  }
  if (c->key_order == MPIMR_KEY_ORDER_GLOBAL && c->partition != NULL) {
    snprintf(why, why_size, "a partitioner cannot be set with MPIMR_KEY_ORDER_GLOBAL (it range-partitions)");
    return MPIMR_ERR_INVAL;
  }
  if (c->compare_values != NULL && c->combine != NULL) {
    snprintf(why, why_size, "compare_values orders a key's values, but with a combiner a key has one");
    return MPIMR_ERR_INVAL;
  }
  if (c->round_bytes < 4096 || c->round_bytes > ((size_t)1 << 30)) {
    snprintf(why, why_size, "round size %zu is outside [4 KiB, 1 GiB]", c->round_bytes);
    return MPIMR_ERR_INVAL;
  }
  if (c->combine && c->combine_bytes > ((size_t)1 << 30)) {
    snprintf(why, why_size, "combining table size %zu is over 1 GiB", c->combine_bytes);
    return MPIMR_ERR_INVAL;
  }
  if (c->rounds_in_flight < 1 || c->rounds_in_flight > MAX_ROUNDS_IN_FLIGHT) {
    snprintf(why, why_size, "rounds in flight %d is outside [1, %d]", c->rounds_in_flight,
             MAX_ROUNDS_IN_FLIGHT);
    return MPIMR_ERR_INVAL;
  }
  if (!shuffle_transport_known(c->transport)) {
    snprintf(why, why_size, "unknown transport %d", (int)c->transport);
    return MPIMR_ERR_INVAL;
  }
  if (c->peer_window < 0) {
    snprintf(why, why_size, "peer window %d is negative (0 means the default)", c->peer_window);
    return MPIMR_ERR_INVAL;
  }
  if (c->ranks_per_node < 0) {
    snprintf(why, why_size, "ranks per node %d is negative (0 means the whole node)", c->ranks_per_node);
    return MPIMR_ERR_INVAL;
  }
  if (c->read_bytes < 4096 || c->read_bytes > ((size_t)1 << 30)) {
    snprintf(why, why_size, "read size %zu is outside [4 KiB, 1 GiB]", c->read_bytes);
    return MPIMR_ERR_INVAL;
  }
  if (c->memory_bytes != 0 && c->memory_bytes < BUDGET_MIN_BYTES) {
    snprintf(why, why_size, "memory budget %zu is below the minimum of %zu bytes", c->memory_bytes,
             (size_t)BUDGET_MIN_BYTES);
    return MPIMR_ERR_INVAL;
  }
  if (c->spill_dir != NULL && c->spill_dir[0] == '\0') {
    snprintf(why, why_size, "the spill directory is empty (NULL means the default)");
    return MPIMR_ERR_INVAL;
  }
  if (c->pin != MPIMR_PIN_AUTO && c->pin != MPIMR_PIN_CORE && c->pin != MPIMR_PIN_NONE) {
    snprintf(why, why_size, "unknown pin mode %d", (int)c->pin);
    return MPIMR_ERR_INVAL;
  }
  if (!isfinite(c->stall_warning_seconds) || c->stall_warning_seconds < 0 ||
      !isfinite(c->stall_timeout_seconds) || c->stall_timeout_seconds < 0) {
    snprintf(why, why_size, "stall warning %g s and stall timeout %g s must be 0 (off) or a positive number",
             c->stall_warning_seconds, c->stall_timeout_seconds);
    return MPIMR_ERR_INVAL;
  }
  return MPIMR_OK;
}

/* ---- map side ---------------------------------------------------------- */

_Static_assert(RECORD_READER_PADDING >= MPIMR_BLOCK_PADDING,
               "blocks promise MPIMR_BLOCK_PADDING readable bytes");

/* The default partitioner: (hash * P) >> 64. */
static inline int hash_partition(const mpimr_job *job, uint64_t hash) {
  return (int)(((__uint128_t)hash * (unsigned)job->nranks) >> 64);
}

static inline int partition_of(mpimr_job *job, const void *key, size_t key_len, uint64_t hash) {
  if (job->ranged) return range_rank_of(&job->range, key, key_len, NULL, 0);
  if (job->config.partition == NULL) return hash_partition(job, hash);
  int dest = job->config.partition(job->config.user, key, key_len, hash, job->nranks);
  return dest >= 0 && dest < job->nranks ? dest : -1;
}

static int emit_failed(mpimr_job *job, int status, const char *what) {
  set_error(job, "emit: %s", what);
  if (job->emit_status == MPIMR_OK) job->emit_status = status;
  return status;
}

/* Without a combiner a pair goes straight into its destination's region of the send set. */
static int emit_to_send_set(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                            size_t value_len) {
  mpimr_job *job = emitter->sink_state;
  if (key_len + value_len > MPIMR_MAX_PAIR_BYTES)
    return emit_failed(job, MPIMR_ERR_TOO_LARGE, "a pair is larger than 1 GiB");
  /* Range partitioning without a combiner orders (key, value) pairs, so it needs the value. */
  int dest = job->ranged ? range_rank_of(&job->range, key, key_len, value, value_len)
                         : partition_of(job, key, key_len, hash_bytes(key, key_len, 0));
  if (dest < 0) return emit_failed(job, MPIMR_ERR_USER, "the partitioner returned a rank out of range");
  size_t size = codec_pair_size(key_len, value_len);
  send_set *set = shuffle_fill_set(job->shuffle);
  unsigned char *at = send_set_reserve(set, dest, size);
  if (at == NULL) return emit_failed(job, MPIMR_ERR_NOMEM, "no memory for the send buffer");
  codec_put_pair(at, key, key_len, value, value_len);
  set->pairs++;
  job->stats.pairs_emitted++;
  job->stats.bytes_emitted += key_len + value_len;
  if (set->full) job->map.needs_flush = 1;
  return MPIMR_OK;
}

static int spill_if_needed(mpimr_job *job, size_t pairs, size_t incoming);

/* Asks for a round once the map-side table has reached its budget, combine_bytes. */
static void flush_when_map_side_full(mpimr_job *job) {
  size_t used = job->counting ? count_table_memory(&job->map_counts) : table_memory(&job->map_table);
  if (used >= job->config.combine_bytes) job->map.needs_flush = 1;
}

/* Pairs this rank will reduce itself skip the shuffle: they are combined straight into the reduce
 * side's table. The others wait in the map-side table until it is sent. */
static inline kv_table *table_for(mpimr_job *job, int dest) {
  return job->tables_by_owner[dest == job->rank];
}

/* Folds the staged emits into the map-side table: slots and entries are prefetched for the whole
 * batch before the first upsert, so cold keys' misses overlap. */
static int flush_emit_stage(mpimr_job *job) {
  emit_stage *stage = &job->stage;
  if (stage->count > 0) {
    int rc = spill_if_needed(job, (size_t)stage->count, 0); /* some may go to this rank's store */
    if (rc != MPIMR_OK) return emit_failed(job, rc, "spilling the store failed");
  }
  for (int i = 0; i < stage->count; i++)
    table_prefetch_entry(table_for(job, stage->pairs[i].dest), stage->pairs[i].hash);
  int rc = MPIMR_OK;
  for (int i = 0; i < stage->count && rc == MPIMR_OK; i++) {
    const struct staged_pair *pair = &stage->pairs[i];
    const unsigned char *key = stage->bytes + pair->offset;
    rc = table_upsert(table_for(job, pair->dest), pair->hash, key, pair->key_len, key + pair->key_len,
                      pair->value_len, pair->dest);
  }
  stage->count = 0;
  stage->used = 0;
  if (rc != MPIMR_OK)
    return emit_failed(job, rc, rc == MPIMR_ERR_USER ? "the combiner failed" : mpimr_strerror(rc));
  flush_when_map_side_full(job);
  return MPIMR_OK;
}

/* With a combiner a pair is staged, then folded into the map-side table, which is sent when it
 * reaches a round's size. Pairs too large to stage go straight in. */
static int emit_to_table(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                         size_t value_len) {
  mpimr_job *job = emitter->sink_state;
  uint64_t hash = hash_bytes(key, key_len, 0);
  int dest = partition_of(job, key, key_len, hash);
  if (dest < 0) return emit_failed(job, MPIMR_ERR_USER, "the partitioner returned a rank out of range");
  job->stats.pairs_emitted++;
  job->stats.bytes_emitted += key_len + value_len;
  emit_stage *stage = &job->stage;
  size_t bytes = key_len + value_len;
  if (bytes > EMIT_STAGE_BYTES / 4) {
    int rc = flush_emit_stage(job);
    if (rc != MPIMR_OK) return rc;
    rc = table_upsert(table_for(job, dest), hash, key, key_len, value, value_len, dest);
    if (rc != MPIMR_OK)
      return emit_failed(job, rc, rc == MPIMR_ERR_USER ? "the combiner failed" : mpimr_strerror(rc));
    flush_when_map_side_full(job);
    return MPIMR_OK;
  }
  if (stage->used + bytes > EMIT_STAGE_BYTES) {
    int rc = flush_emit_stage(job);
    if (rc != MPIMR_OK) return rc;
  }
  struct staged_pair *pair = &stage->pairs[stage->count++];
  *pair = (struct staged_pair){hash, (uint32_t)stage->used, (uint32_t)key_len, (uint32_t)value_len, dest};
  memcpy(stage->bytes + stage->used, key, key_len);
  memcpy(stage->bytes + stage->used + key_len, value, value_len);
  stage->used += bytes;
  table_prefetch_slot(table_for(job, dest), hash);
  return stage->count == EMIT_STAGE_PAIRS ? flush_emit_stage(job) : MPIMR_OK;
}

/* Adds the staged counts to their tables. */
static int flush_count_stage(mpimr_job *job) {
  count_stage *stage = &job->count_stage;
  int rc = stage->count > 0 ? spill_if_needed(job, (size_t)stage->count, 0) : MPIMR_OK;
  if (rc != MPIMR_OK) return emit_failed(job, rc, "spilling the store failed");
  for (int i = 0; i < stage->count && rc == MPIMR_OK; i++) {
    const struct staged_count *item = &stage->items[i];
    rc = count_table_add(item->table, item->hash, stage->bytes + item->offset, item->len, item->packed,
                         item->count);
  }
  stage->count = 0;
  stage->used = 0;
  if (rc != MPIMR_OK) return emit_failed(job, rc, mpimr_strerror(rc));
  flush_when_map_side_full(job);
  return MPIMR_OK;
}

/* Stages one count for `table` and prefetches its slot; the caller fills in a long key's place. */
static inline struct staged_count *stage_count(count_stage *stage, count_table *table, uint64_t hash,
                                               uint64_t packed, uint64_t count) {
  struct staged_count *item = &stage->items[stage->count++];
  item->hash = hash;
  item->packed = packed;
  item->count = count;
  item->table = table;
  count_table_prefetch(table, hash);
  return item;
}

/* A counting job's emit in general: any key, any partitioner (see emit_to_counts). */
static __attribute__((noinline)) int emit_to_counts_general(mpimr_job *job, const void *key, size_t key_len,
                                                            const void *value, size_t value_len) {
  if (value_len != 8) return emit_failed(job, MPIMR_ERR_USER, "mpimr_combine_sum_u64 needs 8-byte values");
  uint64_t hash = hash_bytes(key, key_len, 0);
  uint64_t packed = count_key_pack(key, key_len);
  int dest = partition_of(job, key, key_len, hash);
  if (dest < 0) return emit_failed(job, MPIMR_ERR_USER, "the partitioner returned a rank out of range");
  job->stats.pairs_emitted++;
  job->stats.bytes_emitted += key_len + 8;
  count_table *table = job->counts_by_owner[dest == job->rank];
  count_stage *stage = &job->count_stage;
  if (packed == 0 && stage->used + key_len > COUNT_STAGE_BYTES) {
    int rc = flush_count_stage(job);
    if (rc != MPIMR_OK) return rc;
    if (key_len > COUNT_STAGE_BYTES) {
      rc = count_table_add(table, hash, key, key_len, 0, mpimr_get_u64(value));
      if (rc != MPIMR_OK) return emit_failed(job, rc, mpimr_strerror(rc));
      flush_when_map_side_full(job);
      return MPIMR_OK;
    }
  }
  struct staged_count *item = stage_count(stage, table, hash, packed, mpimr_get_u64(value));
  if (packed == 0) {
    item->offset = (uint32_t)stage->used;
    item->len = (uint32_t)key_len;
    memcpy(stage->bytes + stage->used, key, key_len);
    stage->used += key_len;
  }
  return stage->count == COUNT_STAGE_ITEMS ? flush_count_stage(job) : MPIMR_OK;
}

/* A counting job's emit: the value is an 8-byte count, added to the key's sum in a count table
 * (this rank's own keys straight into the reduce side's). Emits are staged in batches so that
 * the slots' cache misses overlap. The common case, a short key (a word) inside the padded
 * record being mapped under the default partitioner, takes a path without a branch on the
 * key's length or its destination, which no predictor can guess; everything else goes to
 * emit_to_counts_general. */
static int emit_to_counts(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                          size_t value_len) {
  mpimr_job *job = emitter->sink_state;
  if (value_len != 8 || key_len - 1 >= COUNT_SHORT_MAX || !job->default_partition ||
      (uintptr_t)key - job->map.padded_begin >= job->map.padded_span)
    return emit_to_counts_general(job, key, key_len, value, value_len);
  uint64_t packed = count_key_pack_padded(key, key_len);
  uint64_t hash = hash_packed_short(packed, 0);
  int dest = hash_partition(job, hash);
  job->stats.pairs_emitted++;
  job->stats.bytes_emitted += key_len + 8;
  count_stage *stage = &job->count_stage;
  stage_count(stage, job->counts_by_owner[dest == job->rank], hash, packed, mpimr_get_u64(value));
  return stage->count == COUNT_STAGE_ITEMS ? flush_count_stage(job) : MPIMR_OK;
}

/* Folds whatever map output is staged (at the end of a slice of map work). */
static int flush_stage(mpimr_job *job) {
  if (job->counting) return flush_count_stage(job);
  return job->combining ? flush_emit_stage(job) : MPIMR_OK;
}

/* The entries the map-side table is sized for (about 64 bytes each with its slots); it starts at a
 * round's worth and may grow to combine_bytes before it is sent. */
static size_t map_table_entries(const mpimr_job *job) { return job->config.round_bytes / 64; }

/* Sizes the fill set's regions exactly (bytes per destination) for a drained table. */
static int lay_out_round(mpimr_job *job, const size_t *dest_bytes, size_t total, send_set **set) {
  *set = shuffle_fill_set(job->shuffle);
  int rc = send_set_layout_exact(*set, dest_bytes, total);
  if (rc != MPIMR_OK)
    set_error(job, "map: cannot lay out a round of %zu bytes: %s", total, mpimr_strerror(rc));
  return rc;
}

/* Moves the map-side table into the fill set with regions sized exactly, then empties it. */
static int drain_map_table(mpimr_job *job, size_t *dest_bytes) {
  kv_table *t = &job->map_table;
  memset(dest_bytes, 0, sizeof *dest_bytes * (size_t)job->nranks);
  size_t total = 0;
  for (table_entry *e = table_first(t); e; e = table_next(t, e)) {
    size_t size = codec_pair_size(e->key_len, e->value_len);
    dest_bytes[e->dest] += size;
    total += size;
  }
  send_set *set = NULL;
  int rc = lay_out_round(job, dest_bytes, total, &set);
  if (rc != MPIMR_OK) return rc;
  for (table_entry *e = table_first(t); e; e = table_next(t, e)) {
    unsigned char *at = send_set_reserve(set, e->dest, codec_pair_size(e->key_len, e->value_len));
    codec_put_pair(at, e->data, e->key_len, e->data + e->key_len, e->value_len);
  }
  set->pairs = t->live_entries;
  /* Back to a round's size: a table left large by one huge record would otherwise count as full
   * again at once and send a round per slice. */
  rc = table_clear_and_trim(t, map_table_entries(job));
  if (rc != MPIMR_OK) set_error(job, "map: cannot shrink the combining table: %s", mpimr_strerror(rc));
  return rc;
}

static void note_peak(mpimr_job *job, size_t extra);

/* Keeps the largest memory the tables and the round buffers have taken, for the stats. */
static void note_memory(mpimr_job *job) {
  size_t map_side = 0, reduce_side = 0;
  if (job->counting) {
    map_side = count_table_memory(&job->map_counts);
    reduce_side = count_table_memory(&job->reduce_counts);
  } else if (job->combining) {
    map_side = table_memory(&job->map_table);
    reduce_side = table_memory(&job->reduce_table);
  }
  size_t buffers = shuffle_buffer_bytes(job->shuffle);
  if (map_side > job->stats.map_table_bytes) job->stats.map_table_bytes = map_side;
  if (reduce_side > job->stats.reduce_table_bytes) job->stats.reduce_table_bytes = reduce_side;
  if (buffers > job->stats.buffer_bytes) job->stats.buffer_bytes = buffers;
  note_peak(job, 0);
}

/* Sends a counting job's map-side table: every key with its 8-byte sum, regions sized exactly. */
static int drain_map_counts(mpimr_job *job, size_t *dest_bytes) {
  count_table *t = &job->map_counts;
  memset(dest_bytes, 0, sizeof *dest_bytes * (size_t)job->nranks);
  size_t total = 0;
  unsigned char scratch[8];
  size_t len;
  for (size_t i = 0; i <= t->mask; i++) {
    if (t->slots[i].key == 0) continue;
    const unsigned char *key = count_slot_key(t, &t->slots[i], scratch, &len);
    int dest = partition_of(job, key, len, count_slot_hash(t, &t->slots[i]));
    if (dest < 0) {
      set_error(job, "map: the partitioner returned a rank out of range");
      return MPIMR_ERR_USER;
    }
    size_t size = codec_pair_size(len, 8);
    dest_bytes[dest] += size;
    total += size;
  }
  send_set *set = NULL;
  int rc = lay_out_round(job, dest_bytes, total, &set);
  if (rc != MPIMR_OK) return rc;
  for (size_t i = 0; i <= t->mask; i++) {
    if (t->slots[i].key == 0) continue;
    const unsigned char *key = count_slot_key(t, &t->slots[i], scratch, &len);
    int dest = partition_of(job, key, len, count_slot_hash(t, &t->slots[i]));
    unsigned char value[8];
    mpimr_put_u64(value, t->slots[i].count);
    codec_put_pair(send_set_reserve(set, dest, codec_pair_size(len, 8)), key, len, value, 8);
  }
  set->pairs = t->live;
  /* Keep slots for half the budget (below it, so the next fill is not full at once): the next
   * fill will most likely grow the table to the budget again. */
  rc = count_table_clear_and_trim(t, job->config.combine_bytes / (4 * sizeof(count_slot)));
  if (rc != MPIMR_OK) set_error(job, "map: cannot shrink the counting table: %s", mpimr_strerror(rc));
  return rc;
}

/* Sends the map-side table into the fill set, if there is anything in it. */
static int drain_map_side(mpimr_job *job) {
  note_memory(job); /* the map-side table is at its fullest now */
  int rc = MPIMR_OK;
  if (job->counting && job->map_counts.live > 0)
    rc = drain_map_counts(job, job->map_table_dest_bytes);
  else if (!job->counting && job->combining && job->map_table.live_entries > 0)
    rc = drain_map_table(job, job->map_table_dest_bytes);
  note_memory(job); /* and the fill set at its largest */
  return rc;
}

/* How much of a key error messages show. */
enum { KEY_SHOWN_BYTES = 48 };

/* Writes up to KEY_SHOWN_BYTES of a key as text for a message: printable ASCII as it is, other
 * bytes as \xNN, "..." if it was cut. `text` needs KEY_SHOWN_BYTES * 4 + 4 bytes. */
static void show_key(const unsigned char *key, size_t key_len, char *text, size_t size) {
  static const char hex[] = "0123456789abcdef";
  size_t n = 0, shown = key_len < KEY_SHOWN_BYTES ? key_len : KEY_SHOWN_BYTES;
  for (size_t i = 0; i < shown && n + 5 < size; i++) {
    unsigned char c = key[i];
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      text[n++] = (char)c;
    } else {
      text[n++] = '\\';
      text[n++] = 'x';
      text[n++] = hex[c >> 4];
      text[n++] = hex[c & 15];
    }
  }
  if (shown < key_len && n + 4 <= size) {
    memcpy(text + n, "...", 3);
    n += 3;
  }
  text[n] = '\0';
}

/* The longest record the input's buffer may grow to hold: a quarter of the budget. */
static size_t max_record_bytes(const mpimr_job *job) { return job->memory_budget / 4; }

static int input_failed(mpimr_job *job, const record_reader *reader, int status) {
  char cause[256];
  record_reader_describe_error(reader, status, cause, sizeof cause);
  set_error(job, "input '%s': %s", reader->path, cause);
  return status;
}

/* Where map is: " (input 'PATH' at byte N)" or " (index N)" for the messages of map failures. */
static void describe_map_position(const mpimr_job *job, char *text, size_t size) {
  const map_task *m = &job->map;
  text[0] = '\0';
  if (job->config.map_index != NULL)
    snprintf(text, size, " (index %" PRIu64 ")", m->next_index);
  else if (job->config.map_local != NULL)
    snprintf(text, size, " (local record %" PRIu64 ")", m->next_index);
  else if (job->config.map_pair != NULL)
    snprintf(text, size, " (pair %" PRIu64 " of the input dataset)", m->next_pair);
  else if (m->reader_open)
    snprintf(text, size, " (input '%s' at byte %" PRIu64 ")", m->reader.path, m->reader.record_offset);
}

/* A map function that fails because emit failed passes that status on; otherwise it is a user error. */
static int map_call_failed(mpimr_job *job, int returned) {
  if (job->emit_status != MPIMR_OK) return job->emit_status;
  char position[320];
  describe_map_position(job, position, sizeof position);
  set_error(job, "map: the map function returned %d%s", returned, position);
  return MPIMR_ERR_USER;
}

/* Maps records until a slice's worth of input is read, a round is due, or the input ends. */
static int map_record_slice(map_task *m, int *more) {
  mpimr_job *job = m->job;
  uint64_t consumed = 0;
  *more = 1;
  while (consumed < job->config.read_bytes && !m->needs_flush) {
    if (!m->reader_open) {
      if (m->next_piece == m->piece_count) {
        *more = 0;
        break;
      }
      const input_piece *piece = &m->pieces[m->next_piece];
      const char *path = job->inputs.files[piece->file].path;
      int rc = record_reader_open(&m->reader, path, piece->start, piece->end, job->config.read_bytes);
      if (rc != MPIMR_OK) {
        input_failed(job, &m->reader, rc);
        record_reader_close(&m->reader);
        return rc;
      }
      record_reader_limit(&m->reader, job->inputs.files[piece->file].size, max_record_bytes(job));
      record_reader_expect(&m->reader, &job->inputs.files[piece->file].identity);
      m->reader_open = 1;
    }
    const unsigned char *record;
    size_t length;
    int rc = job->config.map_block ? record_reader_next_block(&m->reader, &record, &length, &consumed)
                                   : record_reader_next(&m->reader, &record, &length, &consumed);
    if (rc == 0) {
      record_reader_close(&m->reader);
      m->reader_open = 0;
      m->next_piece++;
      continue;
    }
    if (rc < 0) return input_failed(job, &m->reader, rc);
    job->stats.input_records++;
    m->padded_begin = (uintptr_t)record;
    m->padded_span = length + RECORD_READER_PADDING - 7;
    int returned = job->config.map_block
                       ? job->config.map_block(job->config.user, record, length, &job->map_emitter)
                       : job->config.map_record(job->config.user, record, length, &job->map_emitter);
    m->padded_begin = 0;
    m->padded_span = 0;
    if (returned != 0) return map_call_failed(job, returned);
  }
  job->stats.input_bytes += consumed;
  return flush_stage(job);
}

static int map_index_slice(map_task *m, int *more) {
  mpimr_job *job = m->job;
  uint64_t stop = m->next_index + INDICES_PER_SLICE;
  if (stop > m->end_index) stop = m->end_index;
  mpimr_map_index_fn map = job->config.map_index ? job->config.map_index : job->config.map_local;
  while (m->next_index < stop && !m->needs_flush) {
    int returned = map(job->config.user, m->next_index, &job->map_emitter);
    if (returned != 0) return map_call_failed(job, returned); /* naming the index that failed */
    m->next_index++;
    job->stats.input_records++;
  }
  *more = m->next_index < m->end_index;
  return flush_stage(job);
}

/* Maps the input dataset's pairs until a slice's worth of bytes, a round is due, or the end. */
static int map_pair_slice(map_task *m, int *more) {
  mpimr_job *job = m->job;
  size_t start = m->pair_cursor.offset;
  const void *key, *value;
  size_t key_len, value_len;
  while (m->next_pair < m->end_pair && !m->needs_flush &&
         m->pair_cursor.offset - start < job->config.read_bytes &&
         mpimr_dataset_next(job->config.input_dataset, &m->pair_cursor, &key, &key_len, &value, &value_len)) {
    int returned = job->config.map_pair(job->config.user, key, key_len, value, value_len, &job->map_emitter);
    if (returned != 0) return map_call_failed(job, returned); /* naming the pair that failed */
    m->next_pair++;
    job->stats.input_records++;
  }
  job->stats.input_bytes += m->pair_cursor.offset - start;
  *more = m->next_pair < m->end_pair;
  return flush_stage(job);
}

/* One slice of whichever input the job has. */
static int map_slice(map_task *m, int *more) {
  if (m->job->indexed_input) return map_index_slice(m, more);
  if (m->job->config.map_pair) return map_pair_slice(m, more);
  return map_record_slice(m, more);
}

static mpimr_poll_result map_finish(map_task *m, mpimr_executor *ex, int status) {
  if (m->reader_open) {
    record_reader_close(&m->reader);
    m->reader_open = 0;
  }
  m->base.result = status;
  shuffle_finish_map(m->job->shuffle, ex, status);
  return MPIMR_READY;
}

static mpimr_poll_result map_poll(mpimr_future *self, mpimr_executor *ex) {
  map_task *m = (map_task *)self;
  mpimr_job *job = m->job;
  int status = shuffle_status(job->shuffle);
  if (status == MPIMR_OK) status = check_signal(job);
  if (status != MPIMR_OK) return map_finish(m, ex, status);
  if (m->needs_flush) {
    if (!shuffle_can_seal(job->shuffle)) {
      if (m->wait_started == 0) m->wait_started = clock_now();
      shuffle_wake_on_progress(job->shuffle, self);
      return MPIMR_PENDING;
    }
    if (m->wait_started != 0) {
      double now = clock_now();
      job->stats.time_send_wait += now - m->wait_started;
      trace_span(&job->trace, TRACE_SEND_WAIT, m->wait_started, now, 0);
      m->wait_started = 0;
    }
    int rc = drain_map_side(job);
    if (rc == MPIMR_OK) rc = shuffle_seal(job->shuffle, ex);
    if (rc != MPIMR_OK) return map_finish(m, ex, rc);
    m->needs_flush = 0;
  }
  int more = 1;
  double slice_started = job->trace.enabled ? clock_now() : 0;
  int rc = map_slice(m, &more);
  if (job->trace.enabled) trace_span(&job->trace, TRACE_MAP_SLICE, slice_started, clock_now(), 0);
  if (rc != MPIMR_OK) return map_finish(m, ex, rc);
  if (!more && !m->needs_flush) {
    /* The fill set is empty when combining (drains are sent at once), so the last table fits in it. */
    rc = drain_map_side(job);
    job->stats.time_map = clock_now() - job->started_at;
    return map_finish(m, ex, rc);
  }
  mpimr_future_wake(ex, self);
  return MPIMR_PENDING;
}


/* ---- the sample of a globally ordered job ------------------------------ */

/* Where the sample is read: 64 windows of 32 KiB (or 256 indices) spread evenly over the rank's share,
 * about 2 MiB in all; a share no larger than that is read whole. */
enum { SAMPLE_WINDOWS = 64, SAMPLE_WINDOW_BYTES = 32 << 10, SAMPLE_WINDOW_INDICES = 256 };

/* While the sample is mapped, map output only feeds the sample. */
static int emit_to_sample(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                          size_t value_len) {
  mpimr_job *job = emitter->sink_state;
  if (key_len + value_len > MPIMR_MAX_PAIR_BYTES)
    return emit_failed(job, MPIMR_ERR_TOO_LARGE, "a pair is larger than 1 GiB");
  if (range_sample_offer(job->sample, key, key_len, value, value_len) != MPIMR_OK)
    return emit_failed(job, MPIMR_ERR_NOMEM, "no memory for the key sample");
  return MPIMR_OK;
}

/* Maps the windows of an integer range; returns the indices mapped through *mapped. */
static int map_index_windows(mpimr_job *job, uint64_t *mapped, uint64_t *share) {
  map_task *m = &job->map;
  uint64_t first = m->next_index, end = m->end_index, n = end - first;
  int windows = n > (uint64_t)SAMPLE_WINDOWS * SAMPLE_WINDOW_INDICES ? SAMPLE_WINDOWS : 1;
  int rc = MPIMR_OK;
  *share = n;
  *mapped = 0;
  for (int w = 0; w < windows && rc == MPIMR_OK; w++) {
    m->next_index = windows == 1 ? first : first + (uint64_t)(((__uint128_t)n * (unsigned)w) / SAMPLE_WINDOWS);
    m->end_index = windows == 1 ? end : m->next_index + SAMPLE_WINDOW_INDICES;
    *mapped += m->end_index - m->next_index;
    for (int more = 1; more && rc == MPIMR_OK;) rc = map_index_slice(m, &more);
  }
  m->next_index = first;
  m->end_index = end;
  return rc;
}

/* Maps windows of the input dataset's pairs; returns the pairs mapped through *mapped. */
static int map_pair_windows(mpimr_job *job, uint64_t *mapped, uint64_t *share) {
  map_task *m = &job->map;
  uint64_t n = m->end_pair;
  int windows = n > (uint64_t)SAMPLE_WINDOWS * SAMPLE_WINDOW_INDICES ? SAMPLE_WINDOWS : 1;
  int rc = MPIMR_OK;
  *share = n;
  *mapped = 0;
  for (int w = 0; w < windows && rc == MPIMR_OK; w++) {
    uint64_t first = windows == 1 ? 0 : (uint64_t)(((__uint128_t)n * (unsigned)w) / SAMPLE_WINDOWS);
    const void *key, *value;
    size_t key_len, value_len;
    while (m->next_pair < first &&
           mpimr_dataset_next(job->config.input_dataset, &m->pair_cursor, &key, &key_len, &value, &value_len))
      m->next_pair++;
    m->end_pair = windows == 1 ? n : first + SAMPLE_WINDOW_INDICES;
    *mapped += m->end_pair - m->next_pair;
    for (int more = 1; more && rc == MPIMR_OK;) rc = map_pair_slice(m, &more);
  }
  m->pair_cursor = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
  m->next_pair = 0;
  m->end_pair = n;
  return rc;
}

/* Maps the windows of the rank's input pieces; returns the bytes read through *mapped. */
static int map_record_windows(mpimr_job *job, uint64_t *mapped, uint64_t *share) {
  map_task *m = &job->map;
  uint64_t length = 0;
  for (size_t i = 0; i < m->piece_count; i++) length += m->pieces[i].end - m->pieces[i].start;
  *share = length;
  input_piece windows[SAMPLE_WINDOWS];
  size_t window_count = 0;
  if (length > (uint64_t)SAMPLE_WINDOWS * SAMPLE_WINDOW_BYTES) {
    size_t piece = 0;
    uint64_t piece_base = 0; /* where `piece` starts in the share */
    for (int w = 0; w < SAMPLE_WINDOWS; w++) {
      uint64_t at = (uint64_t)(((__uint128_t)length * (unsigned)w) / SAMPLE_WINDOWS);
      while (at >= piece_base + (m->pieces[piece].end - m->pieces[piece].start)) {
        piece_base += m->pieces[piece].end - m->pieces[piece].start;
        piece++;
      }
      input_piece window = m->pieces[piece];
      window.start += at - piece_base;
      if (window.end - window.start > SAMPLE_WINDOW_BYTES) window.end = window.start + SAMPLE_WINDOW_BYTES;
      windows[window_count++] = window;
    }
  }
  input_piece *pieces = m->pieces;
  size_t piece_count = m->piece_count;
  if (window_count > 0) {
    m->pieces = windows;
    m->piece_count = window_count;
  }
  size_t read_bytes = job->config.read_bytes;
  if (window_count > 0) job->config.read_bytes = SAMPLE_WINDOW_BYTES;
  uint64_t before = job->stats.input_bytes;
  int rc = MPIMR_OK;
  for (int more = 1; more && rc == MPIMR_OK;) rc = map_record_slice(m, &more);
  if (m->reader_open) {
    record_reader_close(&m->reader);
    m->reader_open = 0;
  }
  *mapped = job->stats.input_bytes - before;
  job->config.read_bytes = read_bytes;
  m->pieces = pieces;
  m->piece_count = piece_count;
  m->next_piece = 0;
  return rc;
}

/*
 * Maps a sample of this rank's input and chooses the splitters with the other ranks (collective).
 * The map function sees the sampled records now and again in the map phase; the sample's figures
 * are not counted in the job's map figures.
 */
static int choose_splitters(mpimr_job *job) {
  double started = clock_now();
  int with_values = !job->combining && job->config.reduce == NULL;
  range_sample sample;
  range_sample_init(&sample, with_values);
  mpimr_job_stats counted = job->stats;
  mpimr_emitter map_emitter = job->map_emitter;
  job->sample = &sample;
  job->map_emitter.sink = emit_to_sample;
  uint64_t mapped = 0, share = 0;
  int rc = job->indexed_input     ? map_index_windows(job, &mapped, &share)
           : job->config.map_pair ? map_pair_windows(job, &mapped, &share)
                                  : map_record_windows(job, &mapped, &share);
  job->map_emitter = map_emitter;
  job->sample = NULL;
  job->stats = counted;
  /* The pairs the whole share should emit, if it emits as the sample did. */
  double expected = mapped > 0 ? (double)sample.offered * ((double)share / (double)mapped) : 0;
  rc = agree(job, rc);
  if (rc == MPIMR_OK) {
    char why[256] = "";
    rc = range_choose(&job->range, &sample, expected, with_values, &job->order, job->comm, why, sizeof why);
    if (rc != MPIMR_OK) set_error(job, "%s", why);
  }
  job->stats.sample_pairs = sample.entries;
  range_sample_destroy(&sample);
  job->stats.time_sample = clock_now() - started;
  trace_span_named(&job->trace, "sample and splitters", started, clock_now());
  return rc;
}

/* ---- memory accounting and spilling ------------------------------------ */

/* What the reduce side's store holds, with the sort space spilling it would take: a list and a
 * scratch list of items, and for count tables the keys and sums laid out for the items. */
static size_t store_memory(const mpimr_job *job) {
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
static size_t memory_in_use(const mpimr_job *job) { return store_memory(job) + memory_outside_store(job); }

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

static void note_peak(mpimr_job *job, size_t extra) {
  uint64_t bytes = memory_in_use(job) + extra;
  if (bytes > job->stats.peak_memory_bytes) job->stats.peak_memory_bytes = bytes;
}

static int gather_reduce_items(mpimr_job *job, sort_item **items, size_t *count, unsigned char **backing);

/* Empties the reduce side's store after its content went to a run. */
static int clear_store(mpimr_job *job) {
  int rc = MPIMR_OK;
  if (job->counting) {
    rc = count_table_clear_and_trim(&job->reduce_counts, map_table_entries(job));
  } else if (job->combining) {
    rc = table_clear_and_trim(&job->reduce_table, map_table_entries(job));
  } else {
    received_store *store = &job->received;
    for (size_t i = 0; i < store->chunk_count; i++) free(store->chunks[i]);
    store->chunk_count = 0;
    store->chunk_bytes = 0;
    store->item_count = 0;
  }
  if (rc != MPIMR_OK) set_error(job, "reduce store: cannot shrink after spilling: %s", mpimr_strerror(rc));
  return rc;
}

/* Sorts the store and writes it to the spill directory as a run (after the runs it kept in
 * memory), then empties it. */
static int spill_store(mpimr_job *job) {
  double started = clock_now();
  sort_item *items = NULL;
  size_t count = 0;
  unsigned char *backing = NULL;
  int rc = spill_flush_memory_runs(&job->spill);
  if (rc != MPIMR_OK) set_error(job, "%s", job->spill.error);
  if (rc == MPIMR_OK) rc = gather_reduce_items(job, &items, &count, &backing);
  if (rc == MPIMR_OK) {
    note_peak(job, 0);
    rc = spill_write_items(&job->spill, items, count);
    if (rc != MPIMR_OK) set_error(job, "%s", job->spill.error);
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
  int rc = job->spill_status == MPIMR_OK ? spill_write_memory_step(&job->spill, job->spill.buffer_bytes, &done)
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
    set_error(job, "%s", job->spill.error);
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
static int compact_store(mpimr_job *job) {
  const received_store *store = &job->received;
  if (job->combining || job->memory_budget < 8 * BUDGET_COMPACT_BYTES || store->chunk_bytes < BUDGET_COMPACT_BYTES)
    return MPIMR_OK;
  uint64_t pairs = job->stats.pairs_received;
  if (pairs > 0 && job->received_bytes / pairs >= BUDGET_COMPACT_MAX_PAIR_BYTES) return MPIMR_OK;
  if (memory_in_use(job) + store->chunk_bytes + job->config.round_bytes > job->memory_budget)
    return spill_store(job);
  double started = clock_now();
  sort_item *items = NULL;
  size_t count = 0;
  unsigned char *backing = NULL;
  int rc = gather_reduce_items(job, &items, &count, &backing);
  if (rc == MPIMR_OK) {
    rc = spill_keep_items(&job->spill, items, count);
    if (rc != MPIMR_OK) set_error(job, "%s", job->spill.error);
  }
  note_peak(job, 0);
  if (rc == MPIMR_OK) rc = clear_store(job);
  trace_span_named(&job->trace, "compact", started, clock_now());
  /* Past half the budget, the runs start for disk while the rounds keep coming, so that reaching
   * the budget finds little left to write at once. */
  if (rc == MPIMR_OK && memory_in_use(job) > job->memory_budget / 2) start_background_writes(job);
  return rc;
}

/* Spills the store first if taking `pairs` more pairs (and `incoming` more bytes of buffers) could
 * take the job's data past its budget, unless the store is too small to be worth a run. */
static int spill_if_needed(mpimr_job *job, size_t pairs, size_t incoming) {
  if (job->spill_status != MPIMR_OK) return job->spill_status; /* a background write failed */
  size_t store = store_memory(job), in_use = store + memory_outside_store(job);
  if (in_use > job->stats.peak_memory_bytes) job->stats.peak_memory_bytes = in_use;
  /* A round's size of slack covers what cannot be foreseen exactly: the size of the next round's
   * receive buffer, a send set a long slice made grow. */
  if (in_use + incoming + store_growth(job, pairs) + job->config.round_bytes <= job->memory_budget ||
      store < job->memory_budget / BUDGET_STORE_MIN_PARTS)
    return MPIMR_OK;
  return spill_store(job);
}

/* ---- receive side ------------------------------------------------------ */

static int store_add_chunk(received_store *store, unsigned char *chunk) {
  if (store->chunk_count == store->chunk_capacity) {
    size_t capacity = store->chunk_capacity ? store->chunk_capacity * 2 : 16;
    unsigned char **grown = realloc(store->chunks, capacity * sizeof *grown);
    if (grown == NULL) return MPIMR_ERR_NOMEM;
    store->chunks = grown;
    store->chunk_capacity = capacity;
  }
  store->chunks[store->chunk_count++] = chunk;
  return MPIMR_OK;
}

static int store_reserve_items(received_store *store, size_t more) {
  if (store->item_count + more <= store->item_capacity) return MPIMR_OK;
  size_t capacity = store->item_capacity ? store->item_capacity * 2 : 4096;
  while (capacity < store->item_count + more) capacity *= 2;
  sort_item *grown = realloc(store->items, capacity * sizeof *grown);
  if (grown == NULL) return MPIMR_ERR_NOMEM;
  store->items = grown;
  store->item_capacity = capacity;
  return MPIMR_OK;
}

static int received_corrupt(mpimr_job *job, size_t offset, size_t length) {
  set_error(job, "shuffle: received round is corrupt at byte %zu of %zu", offset, length);
  return MPIMR_ERR_CORRUPT;
}

/* Received pairs are folded in batches: hash a batch and prefetch its slots, then its entries,
 * then combine, so the cache misses of a large reduce table overlap instead of queueing. */
enum { FOLD_BATCH = 16 };

/* Decodes up to FOLD_BATCH pairs at *p and hashes their keys. Returns how many, or -1 with *p at a
 * pair that does not decode. */
static int decode_batch(const unsigned char **p, const unsigned char *end, codec_pair *batch,
                        uint64_t *hashes) {
  int n = 0;
  for (; n < FOLD_BATCH && *p < end; n++) {
    const unsigned char *next = codec_get_pair(*p, end, &batch[n]);
    if (next == NULL) return -1;
    hashes[n] = hash_bytes(batch[n].key, batch[n].key_len, 0);
    *p = next;
  }
  return n;
}

static int fold_received(mpimr_job *job, const unsigned char *data, size_t length) {
  const unsigned char *p = data, *end = data + length;
  kv_table *table = &job->reduce_table;
  codec_pair batch[FOLD_BATCH];
  uint64_t hashes[FOLD_BATCH];
  while (p < end) {
    int n = decode_batch(&p, end, batch, hashes);
    if (n < 0) return received_corrupt(job, (size_t)(p - data), length);
    int rc = spill_if_needed(job, (size_t)n, 0);
    if (rc != MPIMR_OK) return rc;
    for (int i = 0; i < n; i++) table_prefetch_slot(table, hashes[i]);
    for (int i = 0; i < n; i++) table_prefetch_entry(table, hashes[i]);
    for (int i = 0; i < n; i++) {
      rc = table_upsert(table, hashes[i], batch[i].key, batch[i].key_len, batch[i].value,
                            batch[i].value_len, -1);
      if (rc != MPIMR_OK) {
        set_error(job, "reduce store: %s", rc == MPIMR_ERR_USER ? "the combiner failed" : mpimr_strerror(rc));
        return rc;
      }
    }
    job->stats.pairs_received += (uint64_t)n;
  }
  return MPIMR_OK;
}

/* A counting job's received pairs: every value is an 8-byte sum, added into the reduce side's
 * count table in batches whose slots are prefetched first. */
static int fold_received_counts(mpimr_job *job, const unsigned char *data, size_t length) {
  const unsigned char *p = data, *end = data + length;
  count_table *table = &job->reduce_counts;
  codec_pair batch[FOLD_BATCH];
  uint64_t hashes[FOLD_BATCH];
  while (p < end) {
    const unsigned char *batch_start = p;
    int n = decode_batch(&p, end, batch, hashes);
    if (n < 0) return received_corrupt(job, (size_t)(p - data), length);
    int rc = spill_if_needed(job, (size_t)n, 0);
    if (rc != MPIMR_OK) return rc;
    for (int i = 0; i < n; i++) {
      if (batch[i].value_len != 8) return received_corrupt(job, (size_t)(batch_start - data), length);
      count_table_prefetch(table, hashes[i]);
    }
    for (int i = 0; i < n; i++) {
      const unsigned char *key = batch[i].key;
      rc = count_table_add(table, hashes[i], key, batch[i].key_len, count_key_pack(key, batch[i].key_len),
                               mpimr_get_u64(batch[i].value));
      if (rc != MPIMR_OK) {
        set_error(job, "reduce store: %s", mpimr_strerror(rc));
        return rc;
      }
    }
    job->stats.pairs_received += (uint64_t)n;
  }
  return MPIMR_OK;
}

/* Indexes a kept round's pairs for the store of a job without a combiner. */
static int index_received(mpimr_job *job, const unsigned char *data, size_t length) {
  received_store *store = &job->received;
  const unsigned char *p = data, *end = data + length;
  codec_pair pair;
  while (p < end) {
    const unsigned char *next = codec_get_pair(p, end, &pair);
    if (next == NULL) return received_corrupt(job, (size_t)(p - data), length);
    if (store->item_count == store->item_capacity && store_reserve_items(store, 1) != MPIMR_OK) {
      set_error(job, "reduce store: out of memory indexing received pairs");
      return MPIMR_ERR_NOMEM;
    }
    store->items[store->item_count++] = (sort_item){sort_key_prefix(pair.key, pair.key_len), pair.key,
                                                    (uint32_t)pair.key_len, (uint32_t)pair.value_len};
    job->stats.pairs_received++;
    p = next;
  }
  return MPIMR_OK;
}

/* The shuffle's receive callback: fold pairs into the reduce table, or keep the piece and index it
 * (a borrowed piece, read in a peer's memory, is copied first); then spill the store if the job is
 * over its memory budget. */
static int job_receive(void *context, unsigned char *data, size_t length, size_t capacity, int source,
                       int *kept) {
  (void)source;
  mpimr_job *job = context;
  int rc;
  if (job->counting) {
    rc = fold_received_counts(job, data, length);
  } else if (job->combining) {
    rc = fold_received(job, data, length);
  } else {
    /* Keeping this buffer makes the shuffle allocate another for its next round: make room for
     * that and for indexing this round's pairs (as many as the rounds so far suggest) first. */
    received_store *store = &job->received;
    uint64_t pairs_so_far = job->stats.pairs_received, bytes_so_far = job->received_bytes;
    size_t pair_bytes = pairs_so_far ? (size_t)(bytes_so_far / pairs_so_far) : 16;
    int borrowed = capacity == 0;
    rc = spill_if_needed(job, length / (pair_bytes ? pair_bytes : 1) + 1, borrowed ? length : capacity);
    if (rc != MPIMR_OK) return rc;
    if (borrowed) {
      unsigned char *copy = malloc(length);
      if (copy == NULL) {
        set_error(job, "reduce store: out of memory copying %zu received bytes", length);
        return MPIMR_ERR_NOMEM;
      }
      data = memcpy(copy, data, length);
      capacity = length;
    }
    if (store_add_chunk(store, data) != MPIMR_OK) {
      if (borrowed) free(data);
      return MPIMR_ERR_NOMEM;
    }
    *kept = 1;
    store->chunk_bytes += capacity;
    job->received_bytes += length;
    rc = index_received(job, data, length);
    if (rc == MPIMR_OK) rc = compact_store(job);
  }
  return rc == MPIMR_OK ? spill_if_needed(job, 0, 0) : rc;
}

/* ---- reduce and output ------------------------------------------------- */

/* Where reducers' output pairs collect before they are written (in key order). When they pass
 * the output's share of the budget they are sorted and spilled as a run (job->output_spill). */
typedef struct output_collector {
  unsigned char *data;
  size_t used;
  size_t capacity;
  size_t pairs;
  int sorted;
  size_t last_key_offset;
  size_t last_key_len;
} output_collector;

/* The reduce output's share of the budget (the shuffle's buffers are gone by then). */
static size_t output_share(const mpimr_job *job) { return job->memory_budget / BUDGET_SHUFFLE_PARTS; }

static int sort_all(mpimr_job *job, sort_item *items, size_t count, sort_ties ties) {
  sort_item *scratch = malloc((count ? count : 1) * sizeof *scratch);
  if (scratch == NULL) {
    set_error(job, "reduce: out of memory sorting %zu keys", count);
    return MPIMR_ERR_NOMEM;
  }
  sort_items_ordered(items, scratch, count, ties, &job->order);
  free(scratch);
  return MPIMR_OK;
}

/* Turns collected reduce output into items in key order, pairs of one key in the order emitted. */
static int index_output(mpimr_job *job, output_collector *out, sort_item **items) {
  sort_item *list = malloc((out->pairs ? out->pairs : 1) * sizeof *list);
  if (list == NULL) {
    set_error(job, "reduce: out of memory indexing output");
    return MPIMR_ERR_NOMEM;
  }
  const unsigned char *p = out->data, *end = out->data + out->used;
  codec_pair pair;
  for (size_t i = 0; i < out->pairs; i++) {
    p = codec_get_pair(p, end, &pair);
    if (p == NULL) {
      free(list);
      set_error(job, "reduce: collected output is corrupt");
      return MPIMR_ERR_CORRUPT;
    }
    list[i] = (sort_item){sort_key_prefix(pair.key, pair.key_len), pair.key, (uint32_t)pair.key_len,
                          (uint32_t)pair.value_len};
  }
  *items = list;
  return out->sorted ? MPIMR_OK : sort_all(job, list, out->pairs, SORT_TIES_ARRIVAL);
}

/* Writes the collected output as a run and empties the collector. */
static int spill_output(mpimr_job *job, output_collector *out) {
  sort_item *items = NULL;
  int rc = index_output(job, out, &items);
  if (rc == MPIMR_OK) {
    note_peak(job, out->capacity + 2 * out->pairs * sizeof(sort_item));
    rc = spill_write_items(&job->output_spill, items, out->pairs);
    if (rc != MPIMR_OK) set_error(job, "%s", job->output_spill.error);
  }
  free(items);
  out->used = 0;
  out->pairs = 0;
  out->sorted = 1;
  return rc;
}

static int collect_output(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                          size_t value_len) {
  mpimr_job *job = ((void **)emitter->sink_state)[0];
  output_collector *out = ((void **)emitter->sink_state)[1];
  if (key_len + value_len > MPIMR_MAX_PAIR_BYTES)
    return emit_failed(job, MPIMR_ERR_TOO_LARGE, "a reduce output pair is larger than 1 GiB");
  size_t size = codec_pair_size(key_len, value_len);
  /* The collected pairs, and the two item lists that index and sort them when they are written. */
  if (out->used > 0 && out->used + size + (out->pairs + 1) * 2 * sizeof(sort_item) > output_share(job)) {
    int rc = spill_output(job, out);
    if (rc != MPIMR_OK) {
      if (job->emit_status == MPIMR_OK) job->emit_status = rc;
      return rc;
    }
  }
  if (out->capacity - out->used < size) {
    size_t capacity = out->capacity ? out->capacity * 2 : 1 << 20;
    while (capacity - out->used < size) capacity *= 2;
    unsigned char *grown = realloc(out->data, capacity);
    if (grown == NULL) return emit_failed(job, MPIMR_ERR_NOMEM, "no memory for reduce output");
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

/* Scratch space for formatting values as text. */
typedef struct format_buffer {
  char *text;
  size_t size;
} format_buffer;

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
      set_error(job, "the value format function failed (returned %lld)", n);
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

static int write_line_pair(part_writer *w, const unsigned char *key, size_t key_len, const unsigned char *value,
                           size_t value_len) {
  unsigned char *at = part_writer_reserve(w, key_len + value_len + 1);
  if (at == NULL) return MPIMR_ERR_IO;
  memcpy(at, key, key_len);
  memcpy(at + key_len, value, value_len);
  at[key_len + value_len] = '\n';
  return MPIMR_OK;
}

/* Writes one output pair in the job's format (or only counts it). */
static int write_pair(mpimr_job *job, part_writer *w, const unsigned char *key, size_t key_len,
                      const unsigned char *value, size_t value_len, format_buffer *scratch) {
  /* A long output without a reducer still stops soon after a signal. */
  if ((++job->stats.pairs_output & 4095) == 0 && check_signal(job) != MPIMR_OK) return MPIMR_ERR_INTERRUPTED;
  int rc = MPIMR_OK;
  if (job->config.output_dataset) {
    rc = mpimr_dataset_add(job->config.output_dataset, key, key_len, value, value_len);
    if (rc != MPIMR_OK) set_error(job, "output dataset: %s", mpimr_strerror(rc));
    return rc;
  }
  if (job->config.output_format == MPIMR_OUTPUT_TEXT)
    rc = write_text_pair(job, w, key, key_len, value, value_len, scratch);
  else if (job->config.output_format == MPIMR_OUTPUT_BINARY)
    rc = write_binary_pair(w, key, key_len, value, value_len);
  else if (job->config.output_format == MPIMR_OUTPUT_LINES)
    rc = write_line_pair(w, key, key_len, value, value_len);
  if (rc == MPIMR_ERR_IO)
    set_error(job, "output '%s': %s", w->temporary_path, strerror(w->error));
  else if (rc == MPIMR_ERR_NOMEM)
    set_error(job, "output: out of memory formatting values");
  return rc;
}

static int write_items(mpimr_job *job, part_writer *w, const sort_item *items, size_t count,
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
    rc = write_pair(job, w, items[i].key, items[i].key_len, items[i].key + items[i].key_len,
                    items[i].value_len, scratch);
  }
  return rc;
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
    set_error(job, "reduce: out of memory listing %zu keys", t->live);
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
  return sort_all(job, list, n, SORT_TIES_NONE);
}

/* Items for every pair the reduce side holds, sorted by key (and by value without a combiner).
 * Combining jobs' items (and *backing, for counting jobs) are the caller's to free. */
static int gather_reduce_items(mpimr_job *job, sort_item **items, size_t *count, unsigned char **backing) {
  if (job->counting) return gather_counts(job, items, count, backing);
  if (!job->combining) {
    *items = job->received.items;
    *count = job->received.item_count;
    return sort_all(job, *items, *count, SORT_TIES_VALUE);
  }
  kv_table *t = &job->reduce_table;
  sort_item *list = malloc((t->live_entries ? t->live_entries : 1) * sizeof *list);
  if (list == NULL) {
    set_error(job, "reduce: out of memory listing %zu keys", t->live_entries);
    return MPIMR_ERR_NOMEM;
  }
  size_t n = 0;
  for (table_entry *e = table_first(t); e; e = table_next(t, e))
    list[n++] = (sort_item){sort_key_prefix(e->data, e->key_len), e->data, e->key_len, e->value_len};
  *items = list;
  *count = n;
  return sort_all(job, list, n, SORT_TIES_NONE);
}

/* Calls the reducer for one key; its output goes to the collector. */
static int call_reducer(mpimr_job *job, const unsigned char *key, size_t key_len, mpimr_values *values,
                        mpimr_emitter *emitter) {
  if (check_signal(job) != MPIMR_OK) return MPIMR_ERR_INTERRUPTED;
  job->stats.keys_reduced++;
  job->reducing_key = key;
  job->reducing_key_len = key_len;
  int returned = job->config.reduce(job->config.user, key, key_len, values, emitter);
  job->reducing_key = NULL;
  if (values->error != MPIMR_OK) return values->error;
  if (returned == 0) return MPIMR_OK;
  if (job->emit_status != MPIMR_OK) return job->emit_status;
  char shown[KEY_SHOWN_BYTES * 4 + 8];
  show_key(key, key_len, shown, sizeof shown);
  set_error(job, "reduce: the reduce function returned %d (key '%s')", returned, shown);
  return MPIMR_ERR_USER;
}

static int run_reducer(mpimr_job *job, const sort_item *items, size_t count, mpimr_emitter *emitter) {
  size_t start = 0;
  while (start < count) {
    size_t end = start + 1;
    while (end < count && sort_item_compare(&items[start], &items[end]) == 0) end++;
    mpimr_values values = {items + start, end - start, 0, NULL, MPIMR_OK};
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
  set_error(job, "%s", why);
  return rc;
}

/* Merges an area's runs (and `items`, sorted, if any) in groups: each is handed to `visit`. */
typedef int (*group_visitor)(mpimr_job *job, merger *m, void *state);

static int merge_runs(mpimr_job *job, spill_area *area, const sort_item *items, size_t item_count,
                      int by_value, mpimr_combine_fn combine, group_visitor visit, void *state) {
  size_t fan_in = merge_fan_in(job);
  int rc = spill_merge_down(area, fan_in - 1, fan_in, by_value, combine, job->config.user);
  if (rc != MPIMR_OK) {
    set_error(job, "%s", area->error);
    return rc;
  }
  size_t runs = area->run_count; /* files (at most fan_in - 1 now) and runs in memory */
  run_reader *readers = calloc(runs ? runs : 1, sizeof *readers);
  merge_source *sources = calloc(runs + 1, sizeof *sources);
  if (readers == NULL || sources == NULL) {
    free(readers);
    free(sources);
    set_error(job, "reduce: out of memory opening %zu runs", runs);
    return MPIMR_ERR_NOMEM;
  }
  rc = spill_open_runs(area, 0, runs, readers, sources);
  if (rc != MPIMR_OK) set_error(job, "%s", area->error);
  /* The runs came before what stayed in memory: it goes last, so ties keep arrival order. */
  sources[runs] = (merge_source){.items = items, .item_count = item_count, .name = "memory"};
  merger m;
  memset(&m, 0, sizeof m);
  if (rc == MPIMR_OK) {
    note_peak(job, area->file_runs * area->buffer_bytes);
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
    int rc = spill_combine_group(m, job->config.combine, job->config.user, &r->acc, &r->acc_capacity,
                                 &value_len);
    if (rc != MPIMR_OK) return merge_error(job, m, rc);
    if (r->emitter == NULL) {
      job->stats.keys_reduced++;
      return write_pair(job, r->writer, r->acc, m->key_len, r->acc + m->key_len, value_len, r->scratch);
    }
    sort_item item = {0, r->acc, (uint32_t)m->key_len, (uint32_t)value_len};
    mpimr_values values = {&item, 1, 0, NULL, MPIMR_OK};
    return call_reducer(job, r->acc, m->key_len, &values, r->emitter);
  }
  if (r->emitter != NULL) {
    mpimr_values values = {NULL, 0, 0, m, MPIMR_OK};
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
    rc = write_pair(job, r->writer, m->key, m->key_len, value, value_len, r->scratch);
    if (rc != MPIMR_OK) return rc;
  }
  return rc < 0 ? merge_error(job, m, rc) : MPIMR_OK;
}

/* Reducer output written as it comes (reduce_in_order): the part writer and the last key written. */
typedef struct ordered_output {
  mpimr_job *job;
  part_writer *writer;
  format_buffer *scratch;
  unsigned char *last_key;
  size_t last_len;
  size_t last_capacity;
  int any;
} ordered_output;

static int write_in_order(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                          size_t value_len) {
  ordered_output *o = emitter->sink_state;
  mpimr_job *job = o->job;
  if (key_len + value_len > MPIMR_MAX_PAIR_BYTES)
    return emit_failed(job, MPIMR_ERR_TOO_LARGE, "a reduce output pair is larger than 1 GiB");
  if (o->any && order_compare_keys(&job->order, o->last_key, o->last_len, key, key_len) > 0)
    return emit_failed(job, MPIMR_ERR_USER,
                       "the reducer emitted a key below one it emitted before (reduce_in_order is set)");
  if (key_len > o->last_capacity) {
    size_t capacity = o->last_capacity ? o->last_capacity : 64;
    while (capacity < key_len) capacity *= 2;
    unsigned char *grown = realloc(o->last_key, capacity);
    if (grown == NULL) return emit_failed(job, MPIMR_ERR_NOMEM, "no memory for reduce output");
    o->last_key = grown;
    o->last_capacity = capacity;
  }
  if (key_len) memcpy(o->last_key, key, key_len);
  o->last_len = key_len;
  o->any = 1;
  int rc = write_pair(job, o->writer, key, key_len, value, value_len, o->scratch);
  if (rc != MPIMR_OK && job->emit_status == MPIMR_OK) job->emit_status = rc;
  return rc;
}

/* Writes the reducers' output: from memory, or merged with its spilled runs. */
static int write_output(mpimr_job *job, part_writer *w, output_collector *out, format_buffer *scratch) {
  sort_item *items = NULL;
  int rc = index_output(job, out, &items);
  if (rc == MPIMR_OK && job->output_spill.run_count == 0) {
    rc = write_items(job, w, items, out->pairs, scratch);
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
  size_t needed = job->config.reduce && !job->config.reduce_in_order ? output_share(job) : 0;
  size_t readers = job->spill.file_runs < merge_fan_in(job) ? job->spill.file_runs : merge_fan_in(job);
  needed += readers * job->spill.buffer_bytes;
  size_t store = store_memory(job);
  if (store == 0 || store + needed <= job->memory_budget) return MPIMR_OK;
  return spill_store(job);
}

/* Sorts, reduces and writes this rank's part; fills the reduce and output times. */
static int reduce_and_write(mpimr_job *job, part_writer *w) {
  double started = clock_now();
  int spilled = job->spill.run_count > 0;
  if (job->config.output_dataset) mpimr_dataset_clear(job->config.output_dataset); /* map has read it */
  if (!spilled && job->combining && job->config.reduce == NULL &&
      job->config.output_format == MPIMR_OUTPUT_NONE) {
    /* Nothing to run and nothing to write: the table's keys are the result, unsorted. */
    size_t keys = job->counting ? job->reduce_counts.live : job->reduce_table.live_entries;
    job->stats.keys_reduced = keys;
    job->stats.pairs_output = keys;
    job->stats.time_reduce = clock_now() - started;
    trace_span(&job->trace, TRACE_REDUCE, started, started + job->stats.time_reduce, 0);
    return MPIMR_OK;
  }
  sort_item *items = NULL;
  size_t count = 0;
  unsigned char *backing = NULL;
  output_collector out = {.sorted = 1};
  void *sink_state[2] = {job, &out};
  mpimr_emitter emitter = {collect_output, sink_state};
  format_buffer scratch = {NULL, 0};
  ordered_output ordered = {job, w, &scratch, NULL, 0, 0, 0};
  if (job->config.reduce_in_order) emitter = (mpimr_emitter){write_in_order, &ordered};
  int rc = make_room_for_reduce(job);
  spilled = job->spill.run_count > 0;
  if (rc == MPIMR_OK) rc = gather_reduce_items(job, &items, &count, &backing);
  if (rc == MPIMR_OK) note_peak(job, 0);
  if (rc == MPIMR_OK && spilled) {
    /* Reduce straight from the merge; without a reducer that is the output itself. */
    merged_reduce state = {w, &scratch, job->config.reduce ? &emitter : NULL, NULL, 0};
    rc = merge_runs(job, &job->spill, items, count, !job->combining, job->config.combine, reduce_group,
                    &state);
    free(state.acc);
  } else if (rc == MPIMR_OK && job->config.reduce == NULL) {
    for (size_t i = 0; i < count; i++)
      if (i == 0 || sort_item_compare(&items[i - 1], &items[i]) != 0) job->stats.keys_reduced++;
    rc = write_items(job, w, items, count, &scratch);
  } else if (rc == MPIMR_OK) {
    rc = run_reducer(job, items, count, &emitter);
  }
  double reduced = clock_now();
  job->stats.time_reduce = reduced - started;
  if (rc == MPIMR_OK && job->config.reduce && !job->config.reduce_in_order) {
    note_peak(job, out.capacity);
    rc = write_output(job, w, &out, &scratch);
  }
  job->stats.time_output = clock_now() - reduced;
  trace_span(&job->trace, TRACE_REDUCE, started, reduced, 0);
  trace_span(&job->trace, TRACE_OUTPUT, reduced, reduced + job->stats.time_output, 0);
  free(scratch.text);
  free(ordered.last_key);
  free(out.data);
  if (job->combining) free(items);
  free(backing);
  return rc;
}

/* ---- the job ----------------------------------------------------------- */

static int share_input_list(mpimr_job *job) {
  int status = MPIMR_OK;
  unsigned char *packed = NULL;
  uint64_t packed_size = 0;
  char message[512] = "";
  if (job->rank == 0) {
    status =
        input_list_build(&job->inputs, job->config.inputs, job->config.input_count, message, sizeof message);
    if (status == MPIMR_OK) {
      size_t size;
      packed = input_list_pack(&job->inputs, &size);
      packed_size = size;
      if (packed == NULL) status = MPIMR_ERR_NOMEM;
    }
  }
  struct {
    int status;
    uint64_t size;
    char message[512];
  } header = {status, packed_size, ""};
  snprintf(header.message, sizeof header.message, "%s", message);
  if (MPI_Bcast(&header, (int)sizeof header, MPI_BYTE, 0, job->comm) != MPI_SUCCESS) {
    free(packed);
    set_error(job, "MPI_Bcast of the input list failed");
    return MPIMR_ERR_MPI;
  }
  if (header.status != MPIMR_OK) {
    free(packed);
    if (job->rank == 0)
      set_error(job, "%s", header.message);
    else
      set_error(job, "stopped: rank 0 could not list the input: %s", header.message);
    return header.status;
  }
  if (job->rank != 0) packed = malloc(header.size ? header.size : 1);
  int ok = packed != NULL;
  int all_ok;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, job->comm);
  if (!all_ok) {
    free(packed);
    set_error(job, "out of memory receiving the input list");
    return MPIMR_ERR_NOMEM;
  }
  int rc =
      MPI_Bcast(packed, (int)header.size, MPI_BYTE, 0, job->comm) == MPI_SUCCESS ? MPIMR_OK : MPIMR_ERR_MPI;
  if (rc == MPIMR_OK && job->rank != 0) rc = input_list_unpack(&job->inputs, packed, header.size);
  free(packed);
  if (rc != MPIMR_OK) set_error(job, "receiving the input list: %s", mpimr_strerror(rc));
  return agree(job, rc);
}

static int plan_map(mpimr_job *job) {
  map_task *m = &job->map;
  m->job = job;
  mpimr_future_init(&m->base, map_poll);
  if (job->config.map_local) {
    m->next_index = 0;
    m->end_index = job->config.local_count;
    return MPIMR_OK;
  }
  if (job->config.map_pair) {
    m->pair_cursor = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
    m->next_pair = 0;
    m->end_pair = mpimr_dataset_local_count(job->config.input_dataset);
    return MPIMR_OK;
  }
  if (job->config.map_index) {
    uint64_t n = job->config.index_count;
    m->next_index = (uint64_t)(((__uint128_t)n * (unsigned)job->rank) / (unsigned)job->nranks);
    m->end_index = (uint64_t)(((__uint128_t)n * (unsigned)(job->rank + 1)) / (unsigned)job->nranks);
    return MPIMR_OK;
  }
  int rc = share_input_list(job);
  if (rc != MPIMR_OK) return rc;
  m->pieces = malloc((job->inputs.count ? job->inputs.count : 1) * sizeof *m->pieces);
  rc = m->pieces ? MPIMR_OK : MPIMR_ERR_NOMEM;
  if (rc == MPIMR_OK)
    m->piece_count = input_split(&job->inputs, job->rank, job->nranks, m->pieces);
  else
    set_error(job, "out of memory planning the input split");
  return agree(job, rc);
}

/* ---- the job as a future ----------------------------------------------- */

/*
 * After mpimr_job_start() the job runs as one future on its executor, beside the map and the shuffle
 * driver: it waits for both, agrees on the outcome with the other ranks by MPI_Iallreduce through
 * the reactor, reduces and writes the part in one step, agrees again, and has rank 0 mark the output
 * complete (the mark's outcome shared by MPI_Ibcast). No step blocks on another rank, so the
 * application can run its own work between mpimr_job_test() calls.
 */
enum job_phase {
  PHASE_MAP,           /* waiting for the map future */
  PHASE_SHUFFLE,       /* waiting for the last shuffle round */
  PHASE_SPILL_WRITES,  /* waiting for background spill writes */
  PHASE_SHUFFLE_AGREED, /* the agreement on map and shuffle is in flight */
  PHASE_OUTPUT_AGREED, /* the agreement on the reduce and the part is in flight */
  PHASE_MARKER_SHARED, /* rank 0's outcome of writing _SUCCESS is being broadcast */
  PHASE_CLOSING        /* the outcome is known; the stall watch drains its messages */
};

/* The job's phase and shuffle round, for the stall watch's messages. */
static void locate_job(void *context, char *phase, size_t size, int64_t *round) {
  static const char *const names[] = {
      "map", "shuffle", "spill writes", "shuffle agreement", "output agreement", "output commit", "closing"};
  const mpimr_job *job = context;
  int state = job->task.state;
  snprintf(phase, size, "%s", state >= 0 && state <= PHASE_CLOSING ? names[state] : "unknown");
  *round = job->shuffle ? (int64_t)shuffle_rounds_received(job->shuffle) : -1;
}

static mpimr_job *job_of_task(mpimr_future *task) {
  return (mpimr_job *)(void *)((char *)task - offsetof(mpimr_job, task));
}

/* Hands one collective request to the reactor; the task is woken when it completes. */
static void await_collective(mpimr_job *job, mpimr_executor *ex, MPI_Request request) {
  if (mpimr_future_await_requests(ex, &job->task, &job->agreement, &request, 1) != MPIMR_OK) {
    /* No room in the reactor: finish this one collective here. */
    job->agreement.error = MPI_Wait(&request, MPI_STATUS_IGNORE);
    mpimr_future_wake(ex, &job->task);
  }
}

/* Starts agreeing on `status` with the other ranks; the task is woken when every rank has. */
static int post_agreement(mpimr_job *job, mpimr_executor *ex, int status) {
  if (status == MPIMR_OK) status = check_signal(job);
  job->agree_in = status;
  MPI_Request request;
  if (MPI_Iallreduce(&job->agree_in, &job->agree_out, 1, MPI_INT, MPI_MIN, job->comm, &request) !=
      MPI_SUCCESS) {
    set_error(job, "MPI_Iallreduce failed while agreeing on the job's status");
    return MPIMR_ERR_MPI;
  }
  await_collective(job, ex, request);
  return MPIMR_OK;
}

/* The agreed status, as agree() gives it. */
static int agreement_outcome(mpimr_job *job) {
  if (job->agreement.error != MPI_SUCCESS) {
    set_error(job, "MPI_Iallreduce failed while agreeing on the job's status");
    return MPIMR_ERR_MPI;
  }
  if (job->agree_out == MPIMR_OK) return MPIMR_OK;
  if (job->agree_in != MPIMR_OK) return job->agree_in;
  note_remote_failure(job);
  return MPIMR_ERR_REMOTE;
}

/* This rank's outcome of map and shuffle, and the figures; MPIMR_ERR_MPI means out of step. */
static int shuffle_outcome(mpimr_job *job) {
  double shuffle_end = clock_now();
  note_memory(job); /* the reduce side's table is complete */
  job->stats.time_shuffle = shuffle_end - job->map_ended_at;
  trace_span(&job->trace, TRACE_SHUFFLE_TAIL, job->map_ended_at, shuffle_end, 0);
  const shuffle_counters *counters = shuffle_get_counters(job->shuffle);
  job->stats.rounds = counters->rounds;
  job->stats.pairs_sent = counters->pairs_sent;
  job->stats.bytes_sent = counters->bytes_sent;
  job->stats.bytes_received = counters->bytes_received;
  int status = shuffle_status(job->shuffle);
  int rc = job->map.base.result, driver_rc = shuffle_driver(job->shuffle)->result;
  if (status == MPIMR_OK && rc == MPIMR_OK && driver_rc == MPIMR_OK && job->spill_status != MPIMR_OK)
    rc = job->spill_status; /* a background write failed after the last round */
  if (status == MPIMR_OK && rc == MPIMR_OK && driver_rc == MPIMR_OK) return MPIMR_OK;
  if (status == MPIMR_OK && rc != MPIMR_OK) status = rc;
  if (status == MPIMR_OK && driver_rc != MPIMR_OK) status = driver_rc;
  if (status == MPIMR_ERR_MPI || driver_rc == MPIMR_ERR_MPI) {
    /* The protocol lost step with the other ranks: no collective can be trusted to finish. */
    set_error(job, "%s", shuffle_error_detail(job->shuffle));
    return MPIMR_ERR_MPI;
  }
  if (status == MPIMR_ERR_REMOTE)
    note_remote_failure(job);
  else if (status != MPIMR_OK && shuffle_error_detail(job->shuffle)[0])
    set_error(job, "%s", shuffle_error_detail(job->shuffle));
  /* Every rank knows of errors flagged in round headers; one that came after the last round
   * (while folding it in) is known only here, so the ranks agree once more. */
  return status;
}

/* Reduces and writes this rank's part, and renames it into place in the staging directory
 * (job->committed_part). */
static int write_part(mpimr_job *job) {
  part_writer writer;
  memset(&writer, 0, sizeof writer);
  writer.fd = -1;
  int rc = MPIMR_OK;
  if (job->files_output) {
    rc = job->output.staging ? part_writer_open(&writer, job->output.staging, job->rank) : MPIMR_ERR_NOMEM;
    if (rc != MPIMR_OK)
      set_error(job, "output '%s': %s",
                writer.temporary_path ? writer.temporary_path : job->config.output_dir,
                rc == MPIMR_ERR_IO ? strerror(writer.error) : mpimr_strerror(rc));
  }
  if (rc == MPIMR_OK) rc = reduce_and_write(job, &writer);
  job->commit_started_at = clock_now();
  if (job->files_output && rc == MPIMR_OK) {
    char *path = strdup(writer.final_path);
    rc = path ? part_writer_commit(&writer) : MPIMR_ERR_NOMEM;
    job->stats.bytes_output = writer.bytes_written;
    if (rc != MPIMR_OK)
      set_error(job, "output '%s': %s", path ? path : "part",
                rc == MPIMR_ERR_IO ? strerror(writer.error) : mpimr_strerror(rc));
    if (rc == MPIMR_OK) job->committed_part = path;
    else free(path);
  }
  if (job->files_output) part_writer_abandon(&writer);
  return rc;
}

/* Starts sharing rank 0's outcome of publishing the result (with its message) with every rank. */
static int post_marker_outcome(mpimr_job *job, mpimr_executor *ex) {
  if (job->rank == 0) {
    char message[512] = "";
    int status = output_publish(&job->output, job->nranks, message, sizeof message);
    memcpy(job->marker_packet, &status, sizeof status);
    snprintf(job->marker_packet + sizeof status, sizeof job->marker_packet - sizeof status, "%s", message);
  }
  MPI_Request request;
  if (MPI_Ibcast(job->marker_packet, (int)sizeof job->marker_packet, MPI_CHAR, 0, job->comm, &request) !=
      MPI_SUCCESS) {
    set_error(job, "output: MPI_Ibcast of the commit's outcome failed");
    return MPIMR_ERR_MPI;
  }
  await_collective(job, ex, request);
  return MPIMR_OK;
}

/* The outcome of the whole commit, the same on every rank. */
static int marker_outcome(mpimr_job *job) {
  if (job->agreement.error != MPI_SUCCESS) {
    set_error(job, "output: MPI_Ibcast of the commit's outcome failed");
    return MPIMR_ERR_MPI;
  }
  int status;
  memcpy(&status, job->marker_packet, sizeof status);
  if (status != MPIMR_OK) set_error(job, "%s", job->marker_packet + sizeof status);
  return status;
}

/* Takes the spill figures and removes every run and spill directory, whatever the outcome. */
static void finish_spilling(mpimr_job *job) {
  const spill_area *areas[2] = {&job->spill, &job->output_spill};
  for (int i = 0; i < 2; i++) {
    job->stats.spill_bytes += areas[i]->bytes_written;
    job->stats.spill_runs += areas[i]->runs_spilled;
    job->stats.merge_passes += areas[i]->merge_passes;
  }
  if (job->spill.parent) spill_area_destroy(&job->spill);
  if (job->output_spill.parent) spill_area_destroy(&job->output_spill);
}

/* Cleans up after the job, whatever its outcome, and returns the outcome. */
static int job_finish(mpimr_job *job, int rc) {
  if (job->committed_part != NULL && rc != MPIMR_OK) unlink(job->committed_part); /* no half result */
  free(job->committed_part);
  job->committed_part = NULL;
  if (job->commit_started_at != 0) job->stats.time_output += clock_now() - job->commit_started_at;
  finish_spilling(job);
  /* Every rank knows the outcome (unless out of step): after a failure the staging directory and the
   * lock go, and a directory the job made goes if empty; an older result stays as it was. */
  if (job->output.held)
    output_claim_release(&job->output, job->comm, rc != MPIMR_OK && !mpimr_status_needs_abort(rc));
  if (rc != MPIMR_OK && job->config.output_dataset) mpimr_dataset_clear(job->config.output_dataset);
  job->stats.time_total = clock_now() - job->started_at;
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) == 0) job->stats.peak_rss_bytes = (uint64_t)usage.ru_maxrss * 1024;
  /* The timeline is written for failed jobs too (it shows where they stopped), unless the ranks
   * are out of step and no collective is safe. */
  if (job->config.trace_path && !mpimr_status_needs_abort(rc)) {
    char message[512] = "";
    int traced = trace_write(&job->trace, job->comm, job->config.trace_path, message, sizeof message);
    if (traced != MPIMR_OK && rc == MPIMR_OK) {
      set_error(job, "%s", message[0] ? message : "writing the trace failed");
      rc = traced;
    }
  }
  return rc;
}

static mpimr_poll_result task_finish(mpimr_job *job, int rc) {
  /* The stall watch's probes and replies are drained first: none may outlive the communicator. */
  if (stall_watch_close(&job->watch, job->executor, rc)) {
    job->closing_status = rc;
    job->task.state = PHASE_CLOSING;
    if (mpimr_future_join(&job->task, stall_watch_future(&job->watch)))
      mpimr_future_wake(job->executor, &job->task);
    return MPIMR_PENDING;
  }
  job->task.result = job_finish(job, rc);
  return MPIMR_READY;
}

static mpimr_poll_result job_poll(mpimr_future *self, mpimr_executor *ex) {
  mpimr_job *job = job_of_task(self);
  int rc = stall_watch_status(&job->watch);
  if (rc != MPIMR_OK) { /* a rank stalled: end here, out of step, without another collective */
    set_error(job, "%s", stall_watch_message(&job->watch));
    return task_finish(job, rc);
  }
  switch ((enum job_phase)self->state) {
  case PHASE_MAP:
    if (!mpimr_future_join(self, &job->map.base)) return MPIMR_PENDING;
    job->map_ended_at = clock_now();
    if (job->stats.time_map == 0) job->stats.time_map = job->map_ended_at - job->started_at;
    self->state = PHASE_SHUFFLE;
    /* fall through */
  case PHASE_SHUFFLE:
    if (!mpimr_future_join(self, shuffle_driver(job->shuffle))) return MPIMR_PENDING;
    self->state = PHASE_SPILL_WRITES;
    /* fall through */
  case PHASE_SPILL_WRITES:
    if (job->writer.running && !mpimr_future_join(self, &job->writer.base)) return MPIMR_PENDING;
    rc = shuffle_outcome(job);
    if (rc == MPIMR_ERR_MPI) return task_finish(job, rc);
    rc = post_agreement(job, ex, rc);
    if (rc != MPIMR_OK) return task_finish(job, rc);
    self->state = PHASE_SHUFFLE_AGREED;
    return MPIMR_PENDING;
  case PHASE_SHUFFLE_AGREED:
    rc = agreement_outcome(job);
    if (rc != MPIMR_OK) return task_finish(job, rc);
    /* Done with the round buffers: their memory goes to reduce. */
    shuffle_free(job->shuffle);
    job->shuffle = NULL;
    rc = post_agreement(job, ex, write_part(job));
    if (rc != MPIMR_OK) return task_finish(job, rc);
    self->state = PHASE_OUTPUT_AGREED;
    return MPIMR_PENDING;
  case PHASE_OUTPUT_AGREED:
    rc = agreement_outcome(job);
    if (rc != MPIMR_OK || !job->files_output) return task_finish(job, rc);
    rc = post_marker_outcome(job, ex);
    if (rc != MPIMR_OK) return task_finish(job, rc);
    self->state = PHASE_MARKER_SHARED;
    return MPIMR_PENDING;
  case PHASE_MARKER_SHARED:
    return task_finish(job, marker_outcome(job));
  case PHASE_CLOSING:
    if (!mpimr_future_join(self, stall_watch_future(&job->watch))) return MPIMR_PENDING;
    job->task.result = job_finish(job, job->closing_status);
    return MPIMR_READY;
  }
  return task_finish(job, MPIMR_ERR_STATE);
}

int mpimr_job_start(mpimr_job *job) {
  if (job == NULL) return MPIMR_ERR_INVAL;
  if (job->ran) {
    set_error(job, "a job runs only once");
    return MPIMR_ERR_STATE;
  }
  job->ran = 1;
  job->started_at = clock_now();
  trace_init(&job->trace, job->config.trace_path != NULL, job->started_at);
  shuffle_set_trace(job->shuffle, job->config.trace_path ? &job->trace : NULL);
  mpimr_future_init(&job->task, job_poll);
  int rc = MPIMR_OK;
  if (job->files_output) {
    char message[512] = "";
    rc = output_claim_take(&job->output, job->comm, job->config.output_dir, job->config.overwrite, message,
                           sizeof message);
    if (rc != MPIMR_OK) set_error(job, "%s", message);
  }
  if (rc == MPIMR_OK) rc = plan_map(job);
  if (rc == MPIMR_OK && job->ranged) rc = choose_splitters(job);
  if (rc != MPIMR_OK) {
    job->outcome = job_finish(job, rc);
    job->finished_early = 1;
    return job->outcome;
  }
  mpimr_executor_spawn(job->executor, shuffle_driver(job->shuffle));
  mpimr_executor_spawn(job->executor, &job->map.base);
  mpimr_executor_spawn(job->executor, &job->task);
  stall_watch_start(&job->watch, job->executor, locate_job, job, &job->task);
  return MPIMR_OK;
}

int mpimr_job_test(mpimr_job *job, int *done) {
  if (job == NULL || done == NULL) return MPIMR_ERR_INVAL;
  *done = 0;
  if (!job->ran) {
    set_error(job, "the job was not started");
    return MPIMR_ERR_STATE;
  }
  if (job->finished_early) {
    *done = 1;
    return job->outcome;
  }
  if (!mpimr_future_is_done(&job->task)) {
    int work = mpimr_executor_tick(job->executor);
    if (work < 0) {
      set_error(job, "the executor failed: %s", mpimr_strerror(work));
      job->outcome = work;
      job->finished_early = 1; /* out of step with the other ranks: nothing more can run */
      *done = 1;
      return work;
    }
  }
  if (!mpimr_future_is_done(&job->task)) return MPIMR_OK;
  *done = 1;
  return job->task.result;
}

int mpimr_job_wait(mpimr_job *job) {
  if (job == NULL) return MPIMR_ERR_INVAL;
  if (!job->ran) {
    set_error(job, "the job was not started");
    return MPIMR_ERR_STATE;
  }
  if (job->finished_early) return job->outcome;
  int rc = mpimr_executor_block_on(job->executor, &job->task);
  if (!mpimr_future_is_done(&job->task)) {
    set_error(job, "the executor failed: %s", mpimr_strerror(rc));
    job->outcome = rc;
    job->finished_early = 1;
  }
  return rc;
}

int mpimr_job_run(mpimr_job *job) {
  int rc = mpimr_job_start(job);
  return rc == MPIMR_OK ? mpimr_job_wait(job) : rc;
}

mpimr_executor *mpimr_job_executor(mpimr_job *job) { return job ? job->executor : NULL; }


/* Where runs are spilled: the configured directory, $TMPDIR, the output directory, or /tmp. */
static const char *spill_parent(const mpimr_job_config *c) {
  if (c->spill_dir) return c->spill_dir;
  const char *tmpdir = getenv("TMPDIR");
  if (tmpdir && tmpdir[0]) return tmpdir;
  if (c->output_format != MPIMR_OUTPUT_NONE && c->output_dir != NULL) return c->output_dir;
  return "/tmp";
}

/* Each run reader's and writer's buffer: 1/64 of the budget, from 64 KiB to 1 MiB. */
static size_t spill_buffer_bytes(const mpimr_job *job) {
  size_t bytes = job->memory_budget / 64;
  return bytes < (64 << 10) ? (64 << 10) : bytes > (1 << 20) ? (1 << 20) : bytes;
}

/* Fixes the budget and cuts the round size, the combining table and the read size to fit in it. */
static void apply_budget(mpimr_job *job) {
  size_t budget = job->config.memory_bytes ? job->config.memory_bytes
                                           : mpimr_default_memory_bytes(job->pin_report.local_size);
  job->memory_budget = budget;
  job->stats.memory_budget_bytes = budget;
  /* Every slot has a send set and a receive buffer of about a round each. */
  size_t round_cap = budget / BUDGET_SHUFFLE_PARTS / (2 * ((size_t)job->config.rounds_in_flight + 1));
  if (job->config.round_bytes > round_cap) job->config.round_bytes = round_cap;
  /* A drained combining table becomes one round's send set: it must fit the same share. */
  if (job->config.combine_bytes > round_cap) job->config.combine_bytes = round_cap;
  if (job->config.combine_bytes < job->config.round_bytes) job->config.combine_bytes = job->config.round_bytes;
  /* A slice's map output goes into one send set before the map looks at whether it is full: a
   * slice of a quarter round keeps sets near their nominal size. */
  size_t read_cap = job->config.round_bytes / 4 < 4096 ? 4096 : job->config.round_bytes / 4;
  if (job->config.read_bytes > read_cap) job->config.read_bytes = read_cap;
}

static int job_setup(mpimr_job *job) {
  int rc = mpimr_pin(job->comm, job->config.pin, &job->pin_report);
  if (rc != MPIMR_OK) {
    set_error(job, "pinning: %s", mpimr_strerror(rc));
    job->pin_report.local_size = 1;
    job->pin_report.cores = 1;
  }
  mpimr_executor_options options;
  mpimr_executor_options_init(&options);
  options.oversubscribed = job->pin_report.local_size > job->pin_report.cores;
  int step = mpimr_executor_create(&job->executor, &options);
  if (step != MPIMR_OK && rc == MPIMR_OK) {
    set_error(job, "creating the executor: %s", mpimr_strerror(step));
    rc = step;
  }
  apply_budget(job);
  int spill_rc =
      spill_area_init(&job->spill, spill_parent(&job->config), spill_buffer_bytes(job), &job->order);
  if (spill_rc == MPIMR_OK)
    spill_rc = spill_area_init(&job->output_spill, spill_parent(&job->config), spill_buffer_bytes(job),
                               &job->order);
  if (spill_rc != MPIMR_OK && rc == MPIMR_OK) {
    set_error(job, "setting up the spill area: %s", mpimr_strerror(spill_rc));
    rc = spill_rc;
  }
    /* Collective: every rank creates its shuffle whatever happened above. */
  shuffle_options transport = {.transport = job->config.transport,
                               .peer_window = job->config.peer_window,
                               .ranks_per_node = job->config.ranks_per_node};
  step = shuffle_create(&job->shuffle, job->comm, job->config.rounds_in_flight, job->config.round_bytes,
                        &transport, job_receive, job);
  if (step != MPIMR_OK && rc == MPIMR_OK) {
    set_error(job, "creating the shuffle: %s", mpimr_strerror(step));
    rc = step;
  }
  job->tables_by_owner[0] = &job->map_table;
  job->tables_by_owner[1] = &job->reduce_table;
  job->counts_by_owner[0] = &job->map_counts;
  job->counts_by_owner[1] = &job->reduce_counts;
  if (rc == MPIMR_OK && job->combining) {
    size_t expected = map_table_entries(job);
    if (job->counting) {
      rc = count_table_init(&job->map_counts, expected);
      if (rc == MPIMR_OK) rc = count_table_init(&job->reduce_counts, expected);
    } else {
      rc = table_init(&job->map_table, expected, job->config.combine, job->config.user);
      if (rc == MPIMR_OK)
        rc = table_init(&job->reduce_table, expected, job->config.combine, job->config.user);
    }
    job->map_table_dest_bytes = malloc(sizeof(size_t) * (size_t)job->nranks);
    if (rc == MPIMR_OK && job->map_table_dest_bytes == NULL) rc = MPIMR_ERR_NOMEM;
    if (rc != MPIMR_OK) set_error(job, "allocating the combining tables: %s", mpimr_strerror(rc));
  }
  job->map_emitter.sink = job->counting ? emit_to_counts : job->combining ? emit_to_table : emit_to_send_set;
  job->map_emitter.sink_state = job;
  step = stall_watch_init(&job->watch, job->comm, job->config.stall_warning_seconds,
                          job->config.stall_timeout_seconds);
  if (step != MPIMR_OK && rc == MPIMR_OK) {
    set_error(job, "setting up the stall watch: %s", mpimr_strerror(step));
    rc = step;
  }
  return rc;
}

int mpimr_job_create(mpimr_job **out, MPI_Comm comm, const mpimr_job_config *config) {
  *out = NULL;
  if (config == NULL) return MPIMR_ERR_INVAL;
  mpimr_job *job = calloc(1, sizeof *job);
  if (job == NULL) return MPIMR_ERR_NOMEM;
  job->comm = MPI_COMM_NULL;
  job->config = *config;
  job->combining = config->combine != NULL;
  job->counting = config->combine == mpimr_combine_sum_u64;
  job->order = (kv_order){config->compare_keys, config->compare_values, config->user};
  job->ranged = config->key_order == MPIMR_KEY_ORDER_GLOBAL;
  job->default_partition = !job->ranged && config->partition == NULL;
  job->indexed_input = config->map_index != NULL || config->map_local != NULL;
  job->files_output = config->output_format != MPIMR_OUTPUT_NONE && config->output_dataset == NULL;
  /* A dataset takes the pairs as they are; NONE would let reduce skip writing them. */
  if (config->output_dataset) job->config.output_format = MPIMR_OUTPUT_BINARY;
  /* The table is sent when it holds combine_bytes; never less than a round's worth. */
  if (job->config.combine_bytes < job->config.round_bytes)
    job->config.combine_bytes = job->config.round_bytes;
  *out = job;
  if (MPI_Comm_dup(comm, &job->comm) != MPI_SUCCESS) {
    snprintf(job->error_message, sizeof job->error_message, "MPI_Comm_dup failed");
    return MPIMR_ERR_MPI;
  }
  MPI_Comm_set_errhandler(job->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(job->comm, &job->rank);
  MPI_Comm_size(job->comm, &job->nranks);
  char why[256] = "";
  int rc = validate_config(config, why, sizeof why);
  if (rc != MPIMR_OK) set_error(job, "invalid job configuration: %s", why);
  if (rc == MPIMR_OK) rc = check_signal(job); /* a signal before the job: it fails at once */
  rc = agree(job, rc);
  if (rc != MPIMR_OK) return rc;
  rc = agree(job, job_setup(job));
  if (rc == MPIMR_OK && config->verbose && job->rank == 0) {
    const mpimr_pin_report *pin = &job->pin_report;
    const char *no_sharing = shuffle_sharing_reason(job->shuffle);
    fprintf(stderr,
            "mpimr: %d ranks; rank 0: %s (cpuset %s; %d local ranks, %d cores); round %zu bytes, "
            "%d in flight; transport %s (rank 0 reads %d ranks' bytes in place%s%s); read %zu bytes a slice; "
            "combiner %s; memory budget %zu bytes; spill under '%s'\n",
            job->nranks, mpimr_pin_action_name(pin->action), pin->cpuset, pin->local_size, pin->cores,
            job->config.round_bytes, config->rounds_in_flight,
            mpimr_transport_name(shuffle_transport(job->shuffle)), shuffle_shared_peers(job->shuffle),
            no_sharing[0] ? ": " : "", no_sharing, job->config.read_bytes, job->combining ? "on" : "off",
            job->memory_budget, job->spill.parent);
  }
  return rc;
}

void mpimr_job_free(mpimr_job *job) {
  if (job == NULL) return;
  stall_watch_destroy(&job->watch); /* before the executor: it cancels receives the reactor holds */
  mpimr_executor_free(job->executor);
  shuffle_free(job->shuffle);
  if (job->counting) {
    count_table_destroy(&job->map_counts);
    count_table_destroy(&job->reduce_counts);
  } else if (job->combining) {
    table_destroy(&job->map_table);
    table_destroy(&job->reduce_table);
  }
  free(job->map_table_dest_bytes);
  if (job->spill.parent) spill_area_destroy(&job->spill);
  if (job->output_spill.parent) spill_area_destroy(&job->output_spill);
  for (size_t i = 0; i < job->received.chunk_count; i++) free(job->received.chunks[i]);
  free(job->received.chunks);
  free(job->received.items);
  if (job->map.reader_open) record_reader_close(&job->map.reader);
  free(job->map.pieces);
  range_destroy(&job->range);
  input_list_destroy(&job->inputs);
  if (job->output.held) output_claim_release(&job->output, job->comm, 0); /* a job freed unfinished */
  trace_destroy(&job->trace);
  if (job->comm != MPI_COMM_NULL) MPI_Comm_free(&job->comm);
  free(job);
}

int mpimr_map_origin(const mpimr_emitter *map_output, mpimr_record_origin *origin) {
  if (map_output == NULL || origin == NULL) return MPIMR_ERR_INVAL;
  /* Only a map emitter's state is a job (a reducer's emitter carries other state). */
  if (map_output->sink != emit_to_send_set && map_output->sink != emit_to_table &&
      map_output->sink != emit_to_counts && map_output->sink != emit_to_sample)
    return MPIMR_ERR_STATE;
  const mpimr_job *job = map_output->sink_state;
  if (map_output != &job->map_emitter || !job->map.reader_open) return MPIMR_ERR_STATE;
  const input_piece *piece = &job->map.pieces[job->map.next_piece];
  origin->path = job->inputs.files[piece->file].path;
  origin->file_index = piece->file;
  origin->offset = job->map.reader.record_offset;
  return MPIMR_OK;
}

/* The job behind an emitter the library handed to a map or reduce function, or NULL. */
static mpimr_job *emitter_job(const mpimr_emitter *emitter) {
  if (emitter->sink == emit_to_send_set || emitter->sink == emit_to_table || emitter->sink == emit_to_counts ||
      emitter->sink == emit_to_sample)
    return emitter->sink_state;
  if (emitter->sink == collect_output) return ((void **)emitter->sink_state)[0];
  if (emitter->sink == write_in_order) return ((ordered_output *)emitter->sink_state)->job;
  return NULL;
}

int mpimr_fail(mpimr_emitter *out, const char *format, ...) {
  if (out == NULL || format == NULL) return MPIMR_ERR_INVAL;
  mpimr_job *job = emitter_job(out);
  if (job == NULL) return MPIMR_ERR_INVAL;
  char text[384];
  va_list args;
  va_start(args, format);
  vsnprintf(text, sizeof text, format, args);
  va_end(args);
  if (job->reducing_key != NULL) {
    char shown[KEY_SHOWN_BYTES * 4 + 8];
    show_key(job->reducing_key, job->reducing_key_len, shown, sizeof shown);
    set_error(job, "reduce: %s (key '%s')", text, shown);
  } else {
    char position[320];
    describe_map_position(job, position, sizeof position);
    set_error(job, "map: %s%s", text, position);
  }
  if (job->emit_status == MPIMR_OK) job->emit_status = MPIMR_ERR_USER;
  return MPIMR_ERR_USER;
}

const char *mpimr_job_error_message(const mpimr_job *job) { return job ? job->error_message : ""; }

const mpimr_job_stats *mpimr_job_get_stats(const mpimr_job *job) { return &job->stats; }

const mpimr_pin_report *mpimr_job_get_pin_report(const mpimr_job *job) { return &job->pin_report; }
