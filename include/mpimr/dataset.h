/**
 * @file
 * mpimr/dataset.h — key/value pairs that stay in memory between jobs.
 *
 * A dataset is one rank's share of a distributed set of pairs, kept in this
 * rank's memory: a job can leave its output in one (config output_dataset:
 * each rank keeps the pairs it reduced, in key order, as it would have
 * written them to its part file), and a later job can map over one (config
 * input_dataset with map_pair: each rank maps its own pairs, no files and no
 * redistribution before the shuffle). An application fills one with its own
 * pairs with mpimr_dataset_add().
 *
 * @code{.c}
 *   mpimr_dataset *ranks;
 *   mpimr_dataset_create(&ranks);
 *   cfg.output_dataset = ranks;             // job 1 leaves its result here
 *   ...
 *   next.input_dataset = ranks;             // job 2 maps over it
 *   next.map_pair = my_map_pair;
 *   mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
 *   const void *k, *v; size_t kl, vl;
 *   while (mpimr_dataset_next(ranks, &at, &k, &kl, &v, &vl)) use(k, kl, v, vl);
 *   mpimr_dataset_free(ranks);
 * @endcode
 *
 * Pairs are stored packed, one after another (a few bytes of lengths, the
 * key, the value), in the order they were added. A dataset belongs to the
 * thread that uses it: it is not locked. Its memory is the application's,
 * outside any job's memory budget. The functions that take a communicator
 * are collective over it; the others are local.
 */
#ifndef MPIMR_DATASET_H
#define MPIMR_DATASET_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "mpimr/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One rank's pairs (opaque): made by mpimr_dataset_create(), freed by mpimr_dataset_free(). */
typedef struct mpimr_dataset mpimr_dataset;

/** A position in a dataset for mpimr_dataset_next(); start at MPIMR_DATASET_CURSOR_INIT. */
typedef struct mpimr_dataset_cursor {
  size_t offset; /**< Byte offset of the next pair in the dataset's storage. */
} mpimr_dataset_cursor;

/** The cursor at a dataset's first pair. */
#define MPIMR_DATASET_CURSOR_INIT {0}

/** Creates an empty dataset. Returns MPIMR_OK or MPIMR_ERR_NOMEM. */
MPIMR_API int mpimr_dataset_create(mpimr_dataset **dataset);

/** Frees a dataset and its pairs; NULL is allowed. */
MPIMR_API void mpimr_dataset_free(mpimr_dataset *dataset);

/**
 * Appends one pair (both copied) to this rank's share. Returns MPIMR_OK,
 * MPIMR_ERR_NOMEM, or MPIMR_ERR_TOO_LARGE for a pair over
 * MPIMR_MAX_PAIR_BYTES.
 */
MPIMR_API int mpimr_dataset_add(mpimr_dataset *dataset, const void *key, size_t key_len, const void *value,
                                size_t value_len);

/** Removes every pair of this rank's share, keeping the memory for reuse. */
MPIMR_API void mpimr_dataset_clear(mpimr_dataset *dataset);

/** The number of pairs on this rank. */
MPIMR_API uint64_t mpimr_dataset_local_count(const mpimr_dataset *dataset);

/** The bytes this rank's pairs take in storage (keys, values and their lengths). */
MPIMR_API size_t mpimr_dataset_local_bytes(const mpimr_dataset *dataset);

/**
 * Reads the pair at `*cursor` and moves the cursor past it. Returns 1 with
 * the pair's key and value (pointers into the dataset, valid until it is
 * changed or freed), or 0 at the end.
 */
MPIMR_API int mpimr_dataset_next(const mpimr_dataset *dataset, mpimr_dataset_cursor *cursor,
                                 const void **key, size_t *key_len, const void **value, size_t *value_len);

/**
 * The number of pairs on all ranks of `comm` (collective), in `*count` on
 * every rank. Returns MPIMR_OK or MPIMR_ERR_MPI.
 */
MPIMR_API int mpimr_dataset_global_count(const mpimr_dataset *dataset, MPI_Comm comm, uint64_t *count);

/**
 * Moves every rank's pairs to `root` (collective): afterwards root holds
 * all of them, rank 0's first, then rank 1's, and so on, each rank's in its
 * own order; the other ranks hold none. Any size: messages are cut below
 * 2 GiB. Returns MPIMR_OK on every rank, or an error (MPIMR_ERR_NOMEM on
 * root, which then keeps its own pairs only; MPIMR_ERR_MPI; MPIMR_ERR_INVAL
 * for a root out of range) that is the same on every rank except for MPI
 * failures.
 */
MPIMR_API int mpimr_dataset_gather(mpimr_dataset *dataset, MPI_Comm comm, int root);

/**
 * Replaces every rank's pairs with a copy of `root`'s (collective). Returns
 * MPIMR_OK on every rank, or an error agreed by all ranks (MPIMR_ERR_NOMEM
 * when a rank cannot hold the copy: then every rank other than root is left
 * empty; MPIMR_ERR_INVAL for a root out of range; MPIMR_ERR_MPI).
 */
MPIMR_API int mpimr_dataset_broadcast(mpimr_dataset *dataset, MPI_Comm comm, int root);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_DATASET_H */
