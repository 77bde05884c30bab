/*
 * job/range.h — range partitioning for jobs whose parts are in global key
 * order: a rank's sample of its map output, the collective choice of
 * splitters from every rank's sample, and finding the rank of a pair.
 *
 * Each rank offers the pairs its map emits for a sample of its input; the
 * sample keeps every stride-th one, doubling the stride whenever it holds
 * too many, so it stays an even thinning of what was offered in bounded
 * memory. Rank 0 gathers the samples with a weight each (the pairs of the
 * rank's whole share one sampled pair stands for), sorts them in the job's
 * order, and takes as splitter r the pair at which the running weight
 * passes (r+1)/P of the total. Rank r then receives the pairs above
 * splitter r-1 and up to splitter r.
 *
 * Keyed partitioning (a reducer or combiner needs all of a key in one
 * place) compares keys only. Without one, pairs are compared as (key,
 * value), and a pair equal to one or more splitters may go to any rank from
 * the first of them to the one after the last (each holds only pairs at or
 * beyond it on one side): those ranks take such pairs in turn, so even
 * input whose pairs are all the same is spread evenly.
 */
#ifndef MPIMR_JOB_RANGE_H
#define MPIMR_JOB_RANGE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/order.h"

/** A rank's sample: entries of a 4-byte key length, 4-byte value length, key, value (value only `with_values`). */
typedef struct range_sample {
  unsigned char *bytes;
  size_t used;
  size_t capacity;
  size_t entries;
  uint64_t offered; /**< Pairs offered, kept or not. */
  uint64_t stride;  /**< Every stride-th pair offered is kept. */
  int with_values;
} range_sample;

/** At most this many entries, and bytes, are kept per rank (then the stride doubles). */
enum { RANGE_SAMPLE_MAX_ENTRIES = 8192, RANGE_SAMPLE_MAX_BYTES = 1 << 20 };

/** An empty sample that keeps keys only, or keys and values (`with_values`). */
void range_sample_init(range_sample *s, int with_values);

/** Offers one pair. Returns MPIMR_OK or MPIMR_ERR_NOMEM. */
int range_sample_offer(range_sample *s, const void *key, size_t key_len, const void *value, size_t value_len);

void range_sample_destroy(range_sample *s);

/** The splitters every rank holds, and how to find a pair's rank among them. */
typedef struct range_partitioner {
  unsigned char *bytes;   /**< Splitters, laid out as sample entries. */
  size_t *offsets;        /**< Where each splitter's entry starts. */
  int count;              /**< Splitters: P-1, or 0 when no rank sampled anything (all go to rank 0). */
  int with_values;        /**< Pairs compare as (key, value) and ties are spread. */
  const kv_order *order;  /**< Borrowed. */
  uint64_t next_tie;      /**< Turns through the ranks a tie may go to. */
} range_partitioner;

/**
 * Chooses the splitters (collective over `comm`; every rank passes its
 * sample and the number of pairs its whole share is expected to emit).
 * `order` is borrowed for the partitioner's life. Returns MPIMR_OK, NOMEM
 * (on any rank: the same status everywhere) or MPI (an MPI call failed);
 * on failure `why` says what went wrong.
 */
int range_choose(range_partitioner *r, const range_sample *local, double expected_pairs, int with_values,
                 const kv_order *order, MPI_Comm comm, char *why, size_t why_size);

/** The rank a pair goes to (the value is read only when the partitioner compares values). */
int range_rank_of(range_partitioner *r, const void *key, size_t key_len, const void *value, size_t value_len);

void range_destroy(range_partitioner *r);

#endif
