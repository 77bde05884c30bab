/*
 * job/store.c — what the stores (job/store.h) share: choosing one for a job, the shuffle's
 * receive callback, and the batched fold of a received round that the combining stores use.
 */
#include <stdlib.h>

#include "job/stages.h"
#include "job/store.h"
#include "kv/codec.h"
#include "kv/hash.h"
#include "mpimr/error.h"

static const job_store_ops *const stores[] = {JOB_STORES};

const job_store_ops *job_store_for(const mpimr_job_config *config) {
  size_t n = sizeof stores / sizeof stores[0];
  for (size_t i = 0; i + 1 < n; i++)
    if (stores[i]->serves(config)) return stores[i];
  return stores[n - 1];
}

int job_store_is_emit_sink(job_emit_fn sink) {
  for (size_t i = 0; i < sizeof stores / sizeof stores[0]; i++)
    if (stores[i]->emit == sink) return 1;
  return 0;
}

void job_store_release_items(store_items *items) {
  free(items->owned_items);
  free(items->backing);
  *items = (store_items){0};
}

int job_received_corrupt(mpimr_job *job, size_t offset, size_t length) {
  job_set_error(job, "shuffle: received round is corrupt at byte %zu of %zu", offset, length);
  return MPIMR_ERR_CORRUPT;
}

/* Decodes up to STORE_FOLD_BATCH pairs at *p and hashes their keys. Returns how many, or -1 with
 * *p at a pair that does not decode. */
static int decode_batch(const unsigned char **p, const unsigned char *end, codec_pair *batch,
                        uint64_t *hashes) {
  int n = 0;
  for (; n < STORE_FOLD_BATCH && *p < end; n++) {
    const unsigned char *next = codec_get_pair(*p, end, &batch[n]);
    if (next == NULL) return -1;
    hashes[n] = hash_bytes(batch[n].key, batch[n].key_len, 0);
    *p = next;
  }
  return n;
}

int job_fold_round(mpimr_job *job, const unsigned char *data, size_t length, store_fold_batch_fn fold) {
  const unsigned char *p = data, *end = data + length;
  codec_pair batch[STORE_FOLD_BATCH];
  uint64_t hashes[STORE_FOLD_BATCH];
  while (p < end) {
    const unsigned char *batch_start = p;
    int n = decode_batch(&p, end, batch, hashes);
    if (n < 0) return job_received_corrupt(job, (size_t)(p - data), length);
    int rc = job_spill_if_needed(job, (size_t)n, 0);
    if (rc != MPIMR_OK) return rc;
    rc = fold(job, batch, hashes, n);
    if (rc == MPIMR_ERR_CORRUPT) return job_received_corrupt(job, (size_t)(batch_start - data), length);
    if (rc != MPIMR_OK) {
      job_set_error(job, "reduce store: %s", rc == MPIMR_ERR_USER ? "the combiner failed" : mpimr_strerror(rc));
      return rc;
    }
    job->stats.pairs_received += (uint64_t)n;
  }
  return MPIMR_OK;
}

/* The shuffle's receive callback: the round goes to the store; then the store is spilled if the
 * job is over its memory budget. */
int job_receive(void *context, unsigned char *data, size_t length, size_t capacity, int source, int *kept) {
  (void)source;
  mpimr_job *job = context;
  int rc = job->store->receive ? job->store->receive(job, data, length, capacity, kept)
                               : job_fold_round(job, data, length, job->store->fold_batch);
  return rc == MPIMR_OK ? job_spill_if_needed(job, 0, 0) : rc;
}
