/*
 * job/partition.h — which rank reduces a key: by the global key order's splitters, the user's
 * partitioner, or (the default) the key's hash scaled to the ranks. Inline: it runs for every
 * pair the map emits.
 */
#ifndef MPIMR_JOB_PARTITION_H
#define MPIMR_JOB_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "job/job_internal.h"

/** The default partitioner: (hash * P) >> 64, which spreads hashes evenly without a division. */
static inline int job_hash_partition(const mpimr_job *job, uint64_t hash) {
  return (int)(((__uint128_t)hash * (unsigned)job->nranks) >> 64);
}

/** The rank that reduces `key` (whose hash is `hash`), or -1 if the user's partitioner returned
 * a rank out of range. */
static inline int job_partition_of(mpimr_job *job, const void *key, size_t key_len, uint64_t hash) {
  if (job->ranged) return range_rank_of(&job->range, key, key_len, NULL, 0);
  if (job->config.partition == NULL) return job_hash_partition(job, hash);
  int dest = job->config.partition(job->config.user, key, key_len, hash, job->nranks);
  return dest >= 0 && dest < job->nranks ? dest : -1;
}

#endif
