/*
 * job/emit.c — the map side: pairs that map functions emit are partitioned into a send set,
 * or staged and combined into the map-side table (generic or counting), which is drained into
 * a round when it is full.
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

int job_emit_failed(mpimr_job *job, int status, const char *what) {
  job_set_error(job, "emit: %s", what);
  if (job->emit_status == MPIMR_OK) job->emit_status = status;
  return status;
}

/* Without a combiner a pair goes straight into its destination's region of the send set. */
int job_emit_to_send_set(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                         size_t value_len) {
  mpimr_job *job = emitter->sink_state;
  if (key_len + value_len > MPIMR_MAX_PAIR_BYTES)
    return job_emit_failed(job, MPIMR_ERR_TOO_LARGE, "a pair is larger than 1 GiB");
  /* Range partitioning without a combiner orders (key, value) pairs, so it needs the value. */
  int dest = job->ranged ? range_rank_of(&job->range, key, key_len, value, value_len)
                         : partition_of(job, key, key_len, hash_bytes(key, key_len, 0));
  if (dest < 0) return job_emit_failed(job, MPIMR_ERR_USER, "the partitioner returned a rank out of range");
  size_t size = codec_pair_size(key_len, value_len);
  send_set *set = shuffle_fill_set(job->shuffle);
  unsigned char *at = send_set_reserve(set, dest, size);
  if (at == NULL) return job_emit_failed(job, MPIMR_ERR_NOMEM, "no memory for the send buffer");
  codec_put_pair(at, key, key_len, value, value_len);
  set->pairs++;
  job->stats.pairs_emitted++;
  job->stats.bytes_emitted += key_len + value_len;
  if (set->full) job->map.needs_flush = 1;
  return MPIMR_OK;
}

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
    int rc = job_spill_if_needed(job, (size_t)stage->count, 0); /* some may go to this rank's store */
    if (rc != MPIMR_OK) return job_emit_failed(job, rc, "spilling the store failed");
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
    return job_emit_failed(job, rc, rc == MPIMR_ERR_USER ? "the combiner failed" : mpimr_strerror(rc));
  flush_when_map_side_full(job);
  return MPIMR_OK;
}

/* With a combiner a pair is staged, then folded into the map-side table, which is sent when it
 * reaches a round's size. Pairs too large to stage go straight in. */
int job_emit_to_table(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
                      size_t value_len) {
  mpimr_job *job = emitter->sink_state;
  uint64_t hash = hash_bytes(key, key_len, 0);
  int dest = partition_of(job, key, key_len, hash);
  if (dest < 0) return job_emit_failed(job, MPIMR_ERR_USER, "the partitioner returned a rank out of range");
  job->stats.pairs_emitted++;
  job->stats.bytes_emitted += key_len + value_len;
  emit_stage *stage = &job->stage;
  size_t bytes = key_len + value_len;
  if (bytes > EMIT_STAGE_BYTES / 4) {
    int rc = flush_emit_stage(job);
    if (rc != MPIMR_OK) return rc;
    rc = table_upsert(table_for(job, dest), hash, key, key_len, value, value_len, dest);
    if (rc != MPIMR_OK)
      return job_emit_failed(job, rc, rc == MPIMR_ERR_USER ? "the combiner failed" : mpimr_strerror(rc));
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
  int rc = stage->count > 0 ? job_spill_if_needed(job, (size_t)stage->count, 0) : MPIMR_OK;
  if (rc != MPIMR_OK) return job_emit_failed(job, rc, "spilling the store failed");
  for (int i = 0; i < stage->count && rc == MPIMR_OK; i++) {
    const struct staged_count *item = &stage->items[i];
    rc = count_table_add(item->table, item->hash, stage->bytes + item->offset, item->len, item->packed,
                         item->count);
  }
  stage->count = 0;
  stage->used = 0;
  if (rc != MPIMR_OK) return job_emit_failed(job, rc, mpimr_strerror(rc));
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

/* A counting job's emit in general: any key, any partitioner (see job_emit_to_counts). */
static __attribute__((noinline)) int emit_to_counts_general(mpimr_job *job, const void *key, size_t key_len,
                                                            const void *value, size_t value_len) {
  if (value_len != 8)
    return job_emit_failed(job, MPIMR_ERR_USER, "mpimr_combine_sum_u64 needs 8-byte values");
  uint64_t hash = hash_bytes(key, key_len, 0);
  uint64_t packed = count_key_pack(key, key_len);
  int dest = partition_of(job, key, key_len, hash);
  if (dest < 0) return job_emit_failed(job, MPIMR_ERR_USER, "the partitioner returned a rank out of range");
  job->stats.pairs_emitted++;
  job->stats.bytes_emitted += key_len + 8;
  count_table *table = job->counts_by_owner[dest == job->rank];
  count_stage *stage = &job->count_stage;
  if (packed == 0 && stage->used + key_len > COUNT_STAGE_BYTES) {
    int rc = flush_count_stage(job);
    if (rc != MPIMR_OK) return rc;
    if (key_len > COUNT_STAGE_BYTES) {
      rc = count_table_add(table, hash, key, key_len, 0, mpimr_get_u64(value));
      if (rc != MPIMR_OK) return job_emit_failed(job, rc, mpimr_strerror(rc));
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
int job_emit_to_counts(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value,
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
int job_flush_emit_stage(mpimr_job *job) {
  if (job->counting) return flush_count_stage(job);
  return job->combining ? flush_emit_stage(job) : MPIMR_OK;
}

/* The entries the map-side table is sized for (about 64 bytes each with its slots); it starts at a
 * round's worth and may grow to combine_bytes before it is sent. */
size_t job_map_table_entries(const mpimr_job *job) { return job->config.round_bytes / 64; }

/* Sizes the fill set's regions exactly (bytes per destination) for a drained table. */
static int lay_out_round(mpimr_job *job, const size_t *dest_bytes, size_t total, send_set **set) {
  *set = shuffle_fill_set(job->shuffle);
  int rc = send_set_layout_exact(*set, dest_bytes, total);
  if (rc != MPIMR_OK)
    job_set_error(job, "map: cannot lay out a round of %zu bytes: %s", total, mpimr_strerror(rc));
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
  rc = table_clear_and_trim(t, job_map_table_entries(job));
  if (rc != MPIMR_OK) job_set_error(job, "map: cannot shrink the combining table: %s", mpimr_strerror(rc));
  return rc;
}

/* Keeps the largest memory the tables and the round buffers have taken, for the stats. */
void job_note_memory(mpimr_job *job) {
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
  job_note_peak(job, 0);
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
      job_set_error(job, "map: the partitioner returned a rank out of range");
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
  if (rc != MPIMR_OK) job_set_error(job, "map: cannot shrink the counting table: %s", mpimr_strerror(rc));
  return rc;
}

/* Sends the map-side table into the fill set, if there is anything in it. */
int job_drain_map_side(mpimr_job *job) {
  job_note_memory(job); /* the map-side table is at its fullest now */
  int rc = MPIMR_OK;
  if (job->counting && job->map_counts.live > 0)
    rc = drain_map_counts(job, job->map_table_dest_bytes);
  else if (!job->counting && job->combining && job->map_table.live_entries > 0)
    rc = drain_map_table(job, job->map_table_dest_bytes);
  job_note_memory(job); /* and the fill set at its largest */
  return rc;
}
