/*
 * job/store_count.c — the store of a counting job (combiner mpimr_combine_sum_u64): a count table
 * on each side, adding 8-byte sums, short keys packed in their slots. Emits are staged in batches
 * so that the slots' cache misses overlap (this rank's own keys go straight to the reduce side's
 * table); the map side's table is sent when it reaches combine_bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "job/partition.h"
#include "job/stages.h"
#include "job/store.h"
#include "kv/codec.h"
#include "kv/hash.h"
#include "mpimr/error.h"

static int serves(const mpimr_job_config *config) { return config->combine == mpimr_combine_sum_u64; }

static int create(mpimr_job *job) {
  size_t expected = job_table_start_entries(job);
  int rc = count_table_init(&job->map_counts, expected);
  if (rc == MPIMR_OK) rc = count_table_init(&job->reduce_counts, expected);
  job->counts_by_owner[0] = &job->map_counts;
  job->counts_by_owner[1] = &job->reduce_counts;
  if (rc != MPIMR_OK) job_set_error(job, "allocating the counting tables: %s", mpimr_strerror(rc));
  return rc;
}

static void destroy(mpimr_job *job) {
  count_table_destroy(&job->map_counts);
  count_table_destroy(&job->reduce_counts);
}

/* ---- the map side ---------------------------------------------------------------------------- */

/* Adds the staged counts to their tables. */
static int flush_staged(mpimr_job *job) {
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
  job_flush_when_map_side_full(job);
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

/* An emit in general: any key, any partitioner (see emit). */
static __attribute__((noinline)) int emit_general(mpimr_job *job, const void *key, size_t key_len,
                                                  const void *value, size_t value_len) {
  if (value_len != 8)
    return job_emit_failed(job, MPIMR_ERR_USER, "mpimr_combine_sum_u64 needs 8-byte values");
  uint64_t hash = hash_bytes(key, key_len, 0);
  uint64_t packed = count_key_pack(key, key_len);
  int dest = job_partition_of(job, key, key_len, hash);
  if (dest < 0) return job_emit_failed(job, MPIMR_ERR_USER, "the partitioner returned a rank out of range");
  job->stats.pairs_emitted++;
  job->stats.bytes_emitted += key_len + 8;
  count_table *table = job->counts_by_owner[dest == job->rank];
  count_stage *stage = &job->count_stage;
  if (packed == 0 && stage->used + key_len > COUNT_STAGE_BYTES) {
    int rc = flush_staged(job);
    if (rc != MPIMR_OK) return rc;
    if (key_len > COUNT_STAGE_BYTES) {
      rc = count_table_add(table, hash, key, key_len, 0, mpimr_get_u64(value));
      if (rc != MPIMR_OK) return job_emit_failed(job, rc, mpimr_strerror(rc));
      job_flush_when_map_side_full(job);
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
  return stage->count == COUNT_STAGE_ITEMS ? flush_staged(job) : MPIMR_OK;
}

/* An emit: the value is an 8-byte count, added to the key's sum in a count table. The common
 * case, a short key (a word) inside the padded record being mapped under the default
 * partitioner, takes a path without a branch on the key's length or its destination, which no
 * predictor can guess; everything else goes to emit_general. */
static int emit(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value, size_t value_len) {
  mpimr_job *job = emitter->sink_state;
  if (value_len != 8 || key_len - 1 >= COUNT_SHORT_MAX || !job->default_partition ||
      (uintptr_t)key - job->map.padded_begin >= job->map.padded_span)
    return emit_general(job, key, key_len, value, value_len);
  uint64_t packed = count_key_pack_padded(key, key_len);
  uint64_t hash = hash_packed_short(packed, 0);
  int dest = job_hash_partition(job, hash);
  job->stats.pairs_emitted++;
  job->stats.bytes_emitted += key_len + 8;
  count_stage *stage = &job->count_stage;
  stage_count(stage, job->counts_by_owner[dest == job->rank], hash, packed, mpimr_get_u64(value));
  return stage->count == COUNT_STAGE_ITEMS ? flush_staged(job) : MPIMR_OK;
}

/* Sends the map-side table: every key with its 8-byte sum, regions sized exactly. */
static int drain_map_side(mpimr_job *job) {
  count_table *t = &job->map_counts;
  if (t->live == 0) return MPIMR_OK;
  size_t *dest_bytes = job->map_table_dest_bytes;
  memset(dest_bytes, 0, sizeof *dest_bytes * (size_t)job->nranks);
  size_t total = 0;
  unsigned char scratch[8];
  size_t len;
  for (size_t i = 0; i <= t->mask; i++) {
    if (t->slots[i].key == 0) continue;
    const unsigned char *key = count_slot_key(t, &t->slots[i], scratch, &len);
    int dest = job_partition_of(job, key, len, count_slot_hash(t, &t->slots[i]));
    if (dest < 0) {
      job_set_error(job, "map: the partitioner returned a rank out of range");
      return MPIMR_ERR_USER;
    }
    size_t size = codec_pair_size(len, 8);
    dest_bytes[dest] += size;
    total += size;
  }
  send_set *set = NULL;
  int rc = job_lay_out_round(job, dest_bytes, total, &set);
  if (rc != MPIMR_OK) return rc;
  for (size_t i = 0; i <= t->mask; i++) {
    if (t->slots[i].key == 0) continue;
    const unsigned char *key = count_slot_key(t, &t->slots[i], scratch, &len);
    int dest = job_partition_of(job, key, len, count_slot_hash(t, &t->slots[i]));
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

static size_t map_side_memory(const mpimr_job *job) { return count_table_memory(&job->map_counts); }

/* ---- the reduce side ------------------------------------------------------------------------- */

/* Every received value is an 8-byte sum, added into the reduce side's count table. */
static int fold_batch(mpimr_job *job, const codec_pair *batch, const uint64_t *hashes, int n) {
  count_table *table = &job->reduce_counts;
  for (int i = 0; i < n; i++) {
    if (batch[i].value_len != 8) return MPIMR_ERR_CORRUPT;
    count_table_prefetch(table, hashes[i]);
  }
  for (int i = 0; i < n; i++) {
    const unsigned char *key = batch[i].key;
    int rc = count_table_add(table, hashes[i], key, batch[i].key_len, count_key_pack(key, batch[i].key_len),
                             mpimr_get_u64(batch[i].value));
    if (rc != MPIMR_OK) return rc;
  }
  return MPIMR_OK;
}

static size_t table_bytes(const mpimr_job *job) { return count_table_memory(&job->reduce_counts); }

/* Bytes a key takes when laid out for sort items (gather_sorted): a short key's packed bytes and
 * its sum; a long key's bytes are counted with the table's arena. */
enum { LAID_OUT_SHORT_KEY = COUNT_SHORT_MAX + 8 };

/* The table, and for a spill: two item lists and the keys and sums laid out for the items. */
static size_t memory(const mpimr_job *job) {
  const count_table *t = &job->reduce_counts;
  return count_table_memory(t) + t->live * (2 * sizeof(sort_item) + LAID_OUT_SHORT_KEY) + t->arena_used;
}

/* Each new key's share of the spill's space, and the next doubling of the slots. */
static size_t growth(const mpimr_job *job, size_t pairs) {
  const count_table *t = &job->reduce_counts;
  size_t bytes = pairs * (2 * sizeof(sort_item) + LAID_OUT_SHORT_KEY);
  if ((t->live + pairs) * 2 > t->mask + 1) bytes += 2 * (t->mask + 1) * sizeof(count_slot);
  return bytes;
}

static size_t entries(const mpimr_job *job) { return job->reduce_counts.live; }

/* Each key and its 8-byte sum are laid out together in `backing`, as sort items expect. */
static int gather_sorted(mpimr_job *job, store_items *out) {
  count_table *t = &job->reduce_counts;
  /* A short key takes at most COUNT_SHORT_MAX bytes here; a long one no more than its arena entry
   * (8-byte length, bytes, padding). Each is followed by its 8-byte sum. */
  size_t bytes = t->live * LAID_OUT_SHORT_KEY + t->arena_used;
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
  *out = (store_items){.items = list, .count = n, .owned_items = list, .backing = data};
  return job_sort_all(job, list, n, SORT_TIES_NONE);
}

static int clear(mpimr_job *job) {
  return count_table_clear_and_trim(&job->reduce_counts, job_map_table_entries(job));
}

const job_store_ops job_count_store = JOB_STORE_OPS("counting table", .fold_batch = fold_batch);
