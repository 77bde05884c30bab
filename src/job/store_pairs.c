/*
 * job/store_pairs.c — the store of a job without a combiner: an emit goes straight into its
 * destination's region of the send set (there is no map-side table), and the reduce side keeps
 * each received round's buffer and indexes its pairs where they lie. Under a large budget the
 * kept rounds are compacted into sorted runs in memory from time to time (job_compact_store).
 */
#include <stdlib.h>
#include <string.h>

#include "job/partition.h"
#include "job/stages.h"
#include "job/store.h"
#include "kv/codec.h"
#include "kv/hash.h"
#include "mpimr/error.h"

static int serves(const mpimr_job_config *config) {
  (void)config;
  return 1;
}

static int create(mpimr_job *job) {
  (void)job;
  return MPIMR_OK;
}

static void free_chunks(received_store *store) {
  for (size_t i = 0; i < store->chunk_count; i++) free(store->chunks[i]);
  store->chunk_count = 0;
  store->chunk_bytes = 0;
}

static void destroy(mpimr_job *job) {
  free_chunks(&job->received);
  free(job->received.chunks);
  free(job->received.items);
}

/* ---- the map side ---------------------------------------------------------------------------- */

/* A pair goes straight into its destination's region of the send set. */
static int emit(mpimr_emitter *emitter, const void *key, size_t key_len, const void *value, size_t value_len) {
  mpimr_job *job = emitter->sink_state;
  if (key_len + value_len > MPIMR_MAX_PAIR_BYTES)
    return job_emit_failed(job, MPIMR_ERR_TOO_LARGE, "a pair is larger than 1 GiB");
  /* Range partitioning without a combiner orders (key, value) pairs, so it needs the value. */
  int dest = job->ranged ? range_rank_of(&job->range, key, key_len, value, value_len)
                         : job_partition_of(job, key, key_len, hash_bytes(key, key_len, 0));
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

/* Nothing is staged and there is no map-side table: the send set is the map side. */
static int flush_staged(mpimr_job *job) {
  (void)job;
  return MPIMR_OK;
}

static int drain_map_side(mpimr_job *job) {
  (void)job;
  return MPIMR_OK;
}

static size_t map_side_memory(const mpimr_job *job) {
  (void)job;
  return 0;
}

/* ---- the reduce side ------------------------------------------------------------------------- */

static int add_chunk(received_store *store, unsigned char *chunk) {
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

static int reserve_items(received_store *store, size_t more) {
  if (store->item_count + more <= store->item_capacity) return MPIMR_OK;
  size_t capacity = store->item_capacity ? store->item_capacity * 2 : 4096;
  while (capacity < store->item_count + more) capacity *= 2;
  sort_item *grown = realloc(store->items, capacity * sizeof *grown);
  if (grown == NULL) return MPIMR_ERR_NOMEM;
  store->items = grown;
  store->item_capacity = capacity;
  return MPIMR_OK;
}

/* Indexes a kept round's pairs. */
static int index_round(mpimr_job *job, const unsigned char *data, size_t length) {
  received_store *store = &job->received;
  const unsigned char *p = data, *end = data + length;
  codec_pair pair;
  while (p < end) {
    const unsigned char *next = codec_get_pair(p, end, &pair);
    if (next == NULL) return job_received_corrupt(job, (size_t)(p - data), length);
    if (store->item_count == store->item_capacity && reserve_items(store, 1) != MPIMR_OK) {
      job_set_error(job, "reduce store: out of memory indexing received pairs");
      return MPIMR_ERR_NOMEM;
    }
    store->items[store->item_count++] = (sort_item){sort_key_prefix(pair.key, pair.key_len), pair.key,
                                                    (uint32_t)pair.key_len, (uint32_t)pair.value_len};
    job->stats.pairs_received++;
    p = next;
  }
  return MPIMR_OK;
}

/* Keeps the round (a borrowed one, read in a peer's memory, is copied first) and indexes it. */
static int receive(mpimr_job *job, unsigned char *data, size_t length, size_t capacity, int *kept) {
  /* Keeping this buffer makes the shuffle allocate another for its next round: make room for
   * that and for indexing this round's pairs (as many as the rounds so far suggest) first. */
  received_store *store = &job->received;
  uint64_t pairs_so_far = job->stats.pairs_received, bytes_so_far = job->received_bytes;
  size_t pair_bytes = pairs_so_far ? (size_t)(bytes_so_far / pairs_so_far) : 16;
  int borrowed = capacity == 0;
  int rc = job_spill_if_needed(job, length / (pair_bytes ? pair_bytes : 1) + 1, borrowed ? length : capacity);
  if (rc != MPIMR_OK) return rc;
  if (borrowed) {
    unsigned char *copy = malloc(length);
    if (copy == NULL) {
      job_set_error(job, "reduce store: out of memory copying %zu received bytes", length);
      return MPIMR_ERR_NOMEM;
    }
    data = memcpy(copy, data, length);
    capacity = length;
  }
  if (add_chunk(store, data) != MPIMR_OK) {
    if (borrowed) free(data);
    job_set_error(job, "reduce store: out of memory keeping a received round");
    return MPIMR_ERR_NOMEM;
  }
  *kept = 1;
  store->chunk_bytes += capacity;
  job->received_bytes += length;
  rc = index_round(job, data, length);
  return rc == MPIMR_OK ? job_compact_store(job, store->chunk_bytes) : rc;
}

static size_t table_bytes(const mpimr_job *job) {
  (void)job;
  return 0;
}

/* The kept rounds, the item list with the sort's scratch, and the runs kept in memory. */
static size_t memory(const mpimr_job *job) {
  const received_store *store = &job->received;
  return store->chunk_bytes + (store->item_capacity + store->item_count) * sizeof(sort_item) +
         store->chunk_capacity * sizeof(unsigned char *) + job->spill.memory_run_bytes;
}

/* The pairs' items, and the next doubling of the item list. */
static size_t growth(const mpimr_job *job, size_t pairs) {
  const received_store *store = &job->received;
  size_t bytes = pairs * sizeof(sort_item);
  if (store->item_count + pairs > store->item_capacity) bytes += 2 * store->item_capacity * sizeof(sort_item);
  return bytes;
}

static size_t entries(const mpimr_job *job) { return job->received.item_count; }

/* The store's own item list, sorted by key and then value (the items stay the store's). */
static int gather_sorted(mpimr_job *job, store_items *out) {
  received_store *store = &job->received;
  *out = (store_items){.items = store->items, .count = store->item_count};
  return job_sort_all(job, store->items, store->item_count, SORT_TIES_VALUE);
}

static int clear(mpimr_job *job) {
  free_chunks(&job->received);
  job->received.item_count = 0;
  return MPIMR_OK;
}

const job_store_ops job_pairs_store = JOB_STORE_OPS("received pairs", .receive = receive);
