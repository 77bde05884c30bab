/*
 * job/store_table.c — the store of a job with a combiner (other than mpimr_combine_sum_u64): a
 * kv_table on each side. An emit is staged, then folded into the map side's table in batches
 * (this rank's own keys straight into the reduce side's); the map side's table is sent when it
 * reaches combine_bytes, and received rounds are combined into the reduce side's table.
 */
#include <stdlib.h>
#include <string.h>

#include "job/partition.h"
#include "job/stages.h"
#include "job/store.h"
#include "kv/codec.h"
#include "kv/hash.h"
#include "mpimr/error.h"

static int serves(const mpimr_job_config *config) { return config->combine != NULL; }

static int create(mpimr_job *job) {
  size_t expected = job_table_start_entries(job);
  int rc = table_init(&job->map_table, expected, job->config.combine, job->config.user);
  if (rc == MPIMR_OK) rc = table_init(&job->reduce_table, expected, job->config.combine, job->config.user);
  job->tables_by_owner[0] = &job->map_table;
  job->tables_by_owner[1] = &job->reduce_table;
  if (rc != MPIMR_OK) job_set_error(job, "allocating the combining tables: %s", mpimr_strerror(rc));
  return rc;
}

static void destroy(mpimr_job *job) {
  table_destroy(&job->map_table);
  table_destroy(&job->reduce_table);
}

/* ---- the map side ---------------------------------------------------------------------------- */

/* Pairs this rank will reduce itself skip the shuffle: they are combined straight into the reduce
 * side's table. The others wait in the map-side table until it is sent. */
static inline kv_table *table_for(mpimr_job *job, int dest) {
  return job->tables_by_owner[dest == job->rank];
}

static int combine_failed(mpimr_job *job, int rc) {
  return job_emit_failed(job, rc, rc == MPIMR_ERR_USER ? "the combiner failed" : mpimr_strerror(rc));
}

/* Folds the staged emits into the map-side table: slots and entries are prefetched for the whole
 * batch before the first upsert, so cold keys' misses overlap. */
static int flush_staged(mpimr_job *job) {
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
  if (rc != MPIMR_OK) return combine_failed(job, rc);
  job_flush_when_map_side_full(job);
  return MPIMR_OK;
}

/* An emit: the pair is staged, then folded into the map-side table, which is sent when it
 * reaches combine_bytes. Pairs too large to stage go straight in. */
static int emit(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value, size_t value_len) {
  mpimr_job *job = emitter->sink_state;
  uint64_t hash = hash_bytes(key, key_len, 0);
  int dest = job_partition_of(job, key, key_len, hash);
  if (dest < 0) return job_emit_failed(job, MPIMR_ERR_USER, "the partitioner returned a rank out of range");
  job->stats.pairs_emitted++;
  job->stats.bytes_emitted += key_len + value_len;
  emit_stage *stage = &job->stage;
  size_t bytes = key_len + value_len;
  if (bytes > EMIT_STAGE_BYTES / 4) {
    int rc = flush_staged(job);
    if (rc != MPIMR_OK) return rc;
    rc = table_upsert(table_for(job, dest), hash, key, key_len, value, value_len, dest);
    if (rc != MPIMR_OK) return combine_failed(job, rc);
    job_flush_when_map_side_full(job);
    return MPIMR_OK;
  }
  if (stage->used + bytes > EMIT_STAGE_BYTES) {
    int rc = flush_staged(job);
    if (rc != MPIMR_OK) return rc;
  }
  struct staged_pair *pair = &stage->pairs[stage->count++];
  *pair = (struct staged_pair){hash, (uint32_t)stage->used, (uint32_t)key_len, (uint32_t)value_len, dest};
  memcpy(stage->bytes + stage->used, key, key_len);
  memcpy(stage->bytes + stage->used + key_len, value, value_len);
  stage->used += bytes;
  table_prefetch_slot(table_for(job, dest), hash);
  return stage->count == EMIT_STAGE_PAIRS ? flush_staged(job) : MPIMR_OK;
}

/* Moves the map-side table into the fill set with regions sized exactly, then empties it. */
static int drain_map_side(mpimr_job *job) {
  kv_table *t = &job->map_table;
  if (t->live_entries == 0) return MPIMR_OK;
  size_t *dest_bytes = job->map_table_dest_bytes;
  memset(dest_bytes, 0, sizeof *dest_bytes * (size_t)job->nranks);
  size_t total = 0;
  for (table_entry *e = table_first(t); e; e = table_next(t, e)) {
    size_t size = codec_pair_size(e->key_len, e->value_len);
    dest_bytes[e->dest] += size;
    total += size;
  }
  send_set *set = NULL;
  int rc = job_lay_out_round(job, dest_bytes, total, &set);
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

static size_t map_side_memory(const mpimr_job *job) { return table_memory(&job->map_table); }

/* ---- the reduce side ------------------------------------------------------------------------- */

static int fold_batch(mpimr_job *job, const codec_pair *batch, const uint64_t *hashes, int n) {
  kv_table *table = &job->reduce_table;
  for (int i = 0; i < n; i++) table_prefetch_slot(table, hashes[i]);
  for (int i = 0; i < n; i++) table_prefetch_entry(table, hashes[i]);
  for (int i = 0; i < n; i++) {
    int rc = table_upsert(table, hashes[i], batch[i].key, batch[i].key_len, batch[i].value,
                          batch[i].value_len, -1);
    if (rc != MPIMR_OK) return rc;
  }
  return MPIMR_OK;
}

static size_t table_bytes(const mpimr_job *job) { return table_memory(&job->reduce_table); }

/* The table, and two item lists (the list and the sort's scratch) per key for a spill. */
static size_t memory(const mpimr_job *job) {
  return table_memory(&job->reduce_table) + job->reduce_table.live_entries * 2 * sizeof(sort_item);
}

/* Each new key's entry (the mean so far) and sort items, and the next doubling of the slots. */
static size_t growth(const mpimr_job *job, size_t pairs) {
  const kv_table *t = &job->reduce_table;
  size_t entry = t->live_entries ? t->arena_used / t->live_entries : 64;
  size_t bytes = pairs * (entry + 2 * sizeof(sort_item));
  if ((t->live_entries + pairs) * 2 > t->slot_mask + 1) bytes += 2 * (t->slot_mask + 1) * sizeof(uint64_t);
  return bytes;
}

static size_t entries(const mpimr_job *job) { return job->reduce_table.live_entries; }

static int gather_sorted(mpimr_job *job, store_items *out) {
  kv_table *t = &job->reduce_table;
  sort_item *list = malloc((t->live_entries ? t->live_entries : 1) * sizeof *list);
  if (list == NULL) {
    job_set_error(job, "reduce: out of memory listing %zu keys", t->live_entries);
    return MPIMR_ERR_NOMEM;
  }
  size_t n = 0;
  for (table_entry *e = table_first(t); e; e = table_next(t, e))
    list[n++] = (sort_item){sort_key_prefix(e->data, e->key_len), e->data, e->key_len, e->value_len};
  *out = (store_items){.items = list, .count = n, .owned_items = list};
  return job_sort_all(job, list, n, SORT_TIES_NONE);
}

static int clear(mpimr_job *job) { return table_clear_and_trim(&job->reduce_table, job_map_table_entries(job)); }

const job_store_ops job_table_store = JOB_STORE_OPS("combining table", .fold_batch = fold_batch);
