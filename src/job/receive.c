/*
 * job/receive.c — rounds received from the shuffle, folded into the reduce-side store: counted,
 * combined, or indexed where they lie.
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
  job_set_error(job, "shuffle: received round is corrupt at byte %zu of %zu", offset, length);
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
    int rc = job_spill_if_needed(job, (size_t)n, 0);
    if (rc != MPIMR_OK) return rc;
    for (int i = 0; i < n; i++) table_prefetch_slot(table, hashes[i]);
    for (int i = 0; i < n; i++) table_prefetch_entry(table, hashes[i]);
    for (int i = 0; i < n; i++) {
      rc = table_upsert(table, hashes[i], batch[i].key, batch[i].key_len, batch[i].value, batch[i].value_len,
                        -1);
      if (rc != MPIMR_OK) {
        job_set_error(job, "reduce store: %s",
                      rc == MPIMR_ERR_USER ? "the combiner failed" : mpimr_strerror(rc));
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
    int rc = job_spill_if_needed(job, (size_t)n, 0);
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
        job_set_error(job, "reduce store: %s", mpimr_strerror(rc));
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

/* The shuffle's receive callback: fold pairs into the reduce table, or keep the piece and index it
 * (a borrowed piece, read in a peer's memory, is copied first); then spill the store if the job is
 * over its memory budget. */
int job_receive(void *context, unsigned char *data, size_t length, size_t capacity, int source, int *kept) {
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
    rc = job_spill_if_needed(job, length / (pair_bytes ? pair_bytes : 1) + 1, borrowed ? length : capacity);
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
    if (store_add_chunk(store, data) != MPIMR_OK) {
      if (borrowed) free(data);
      return MPIMR_ERR_NOMEM;
    }
    *kept = 1;
    store->chunk_bytes += capacity;
    job->received_bytes += length;
    rc = index_received(job, data, length);
    if (rc == MPIMR_OK) rc = job_compact_store(job);
  }
  return rc == MPIMR_OK ? job_spill_if_needed(job, 0, 0) : rc;
}
