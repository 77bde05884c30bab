/*
 * job/store.h — where a job's pairs wait between map and reduce, behind one operations table.
 *
 * A store owns both ends of a job's data: the map side (what an emit does with a pair, and what
 * a round sends) and the reduce side (what a received round becomes, and the sorted items reduce
 * reads). One store serves a job, chosen when the job is created by the first entry of
 * JOB_STORES (below) whose `serves` accepts the job's configuration:
 *
 *   store_count.c  the combiner is mpimr_combine_sum_u64: count tables that add 8-byte sums
 *                  (short keys packed in the slot), on both sides;
 *   store_table.c  any other combiner: kv_tables that combine values as they arrive, on both
 *                  sides;
 *   store_pairs.c  no combiner: an emit goes straight into the send set, and the reduce side
 *                  keeps the rounds it receives and indexes their pairs where they lie.
 *
 * Adding a store is one new file that defines a `job_store_ops` and one line in JOB_STORES.
 *
 * Invariants every store keeps:
 *   - The per-pair paths (the emit sink, and the fold of a received batch) are direct calls
 *     inside the store; the table is called once per map slice, round, spill or phase.
 *   - A pair this rank reduces itself may skip the shuffle (the tables fold it into the reduce
 *     side at once); every other pair reaches the reduce side through `receive`.
 *   - `memory` counts everything the reduce side holds plus the sort space a spill of it takes,
 *     and `growth` bounds what it can grow by while taking more pairs: the budget (memory.c)
 *     decides from these two alone, never from a store's internals.
 *   - After `clear` the reduce side is empty and its memory is back to its starting size or
 *     near it; the map side is untouched.
 */
#ifndef MPIMR_JOB_STORE_H
#define MPIMR_JOB_STORE_H

#include <stddef.h>

#include "kv/codec.h"
#include "kv/sort.h"
#include "mpimr/job.h"
#include "mpimr/kv.h"

/** The type of an emitter's sink (mpimr_emitter.sink). */
typedef int (*job_emit_fn)(mpimr_emitter *self, const void *key, size_t key_len, const void *value,
                           size_t value_len);

/** The reduce side's pairs as sort items, for a spill or for reduce (job_store_release_items). */
typedef struct store_items {
  sort_item *items;
  size_t count;
  sort_item *owned_items; /**< `items`, if the store made the list for this caller; else NULL. */
  unsigned char *backing; /**< Bytes the items point into that were made for this caller, or NULL. */
} store_items;

typedef struct job_store_ops {
  const char *name;
  /** Whether this store can serve a job with this configuration. */
  int (*serves)(const mpimr_job_config *config);
  /** Sets the store up (the tables sized for a round's entries); errors are set on the job. */
  int (*create)(mpimr_job *job);
  /** Frees all the store holds; safe on a store whose create failed or never ran. */
  void (*destroy)(mpimr_job *job);

  /* ---- the map side ---- */
  /** The map emitter's sink: a pair a map function emits. */
  job_emit_fn emit;
  /** At the end of a map slice: folds pairs the emit has staged. */
  int (*flush_staged)(mpimr_job *job);
  /** Moves the map side's table into the shuffle's fill set (regions sized exactly) and empties
   * it; a store without a map-side table does nothing. */
  int (*drain_map_side)(mpimr_job *job);
  /** Bytes the map side's table holds. */
  size_t (*map_side_memory)(const mpimr_job *job);

  /* ---- the reduce side ---- */
  /** A received round: the shuffle's receive callback (see shuffle_receive_fn); *kept = 1 when
   * the store keeps `data` (the shuffle then allocates another buffer). NULL for a store that
   * folds every pair into a table: job_fold_round then feeds `fold_batch` a batch at a time. */
  int (*receive)(mpimr_job *job, unsigned char *data, size_t length, size_t capacity, int *kept);
  /** With `receive` NULL: folds one decoded batch of a received round (store_fold_batch_fn). */
  int (*fold_batch)(mpimr_job *job, const codec_pair *batch, const uint64_t *hashes, int n);
  /** Bytes the reduce side's table holds, without sort space (the job's figures). */
  size_t (*table_memory)(const mpimr_job *job);
  /** Bytes the reduce side holds, with the sort space that spilling it would take. */
  size_t (*memory)(const mpimr_job *job);
  /** The most `memory` can grow by while the store takes `pairs` more pairs. */
  size_t (*growth)(const mpimr_job *job, size_t pairs);
  /** The entries held: keys for a combining store, pairs for one that keeps pairs. */
  size_t (*entries)(const mpimr_job *job);
  /** Every pair held, as items sorted by key (and by value, where pairs of a key are kept apart).
   * Errors are set on the job; the items are released with job_store_release_items. */
  int (*gather_sorted)(mpimr_job *job, store_items *out);
  /** Empties the reduce side after its content went to a run. */
  int (*clear)(mpimr_job *job);
} job_store_ops;

/** A store's table from the functions its file defines under the names of the fields, and the
 * way it receives, e.g.
 * `const job_store_ops job_count_store = JOB_STORE_OPS("counting table", .fold_batch = fold_batch);` */
#define JOB_STORE_OPS(label, ...)                                                                   \
  {                                                                                                 \
    .name = label, .serves = serves, .create = create, .destroy = destroy, .emit = emit,            \
    .flush_staged = flush_staged, .drain_map_side = drain_map_side,                                 \
    .map_side_memory = map_side_memory, .table_memory = table_bytes, .memory = memory,              \
    .growth = growth, .entries = entries, .gather_sorted = gather_sorted, .clear = clear,           \
    __VA_ARGS__                                                                                     \
  }

extern const job_store_ops job_count_store; /* store_count.c */
extern const job_store_ops job_table_store; /* store_table.c */
extern const job_store_ops job_pairs_store; /* store_pairs.c */

/** The stores, asked in this order (the last serves every job). */
#define JOB_STORES &job_count_store, &job_table_store, &job_pairs_store

/** The store that serves a job with `config`. */
const job_store_ops *job_store_for(const mpimr_job_config *config);

/** Whether `sink` is one of the stores' emit sinks (the sink of a job's map emitter). */
int job_store_is_emit_sink(job_emit_fn sink);

/** Frees what gather_sorted made for its caller. */
void job_store_release_items(store_items *items);

/* ---- shared by the stores (store.c) ---- */

/** Received pairs are folded in batches: decoded and hashed, then the batch's slots prefetched
 * before the first is touched, so a large table's cache misses overlap instead of queueing. */
enum { STORE_FOLD_BATCH = 16 };

/** Folds one decoded batch (`n` pairs and their keys' hashes) into a store's reduce side.
 * Returns MPIMR_OK; MPIMR_ERR_CORRUPT for a pair the store cannot take (reported at the batch's
 * first byte); MPIMR_ERR_USER if the combiner failed; or another error. */
typedef int (*store_fold_batch_fn)(mpimr_job *job, const codec_pair *batch, const uint64_t *hashes, int n);

/** Decodes a round in batches, makes room for each in the budget and folds it with `fold`;
 * counts the pairs received and sets the job's error on a failure. */
int job_fold_round(mpimr_job *job, const unsigned char *data, size_t length, store_fold_batch_fn fold);

/** Reports a received round that does not decode at `offset`; returns MPIMR_ERR_CORRUPT. */
int job_received_corrupt(mpimr_job *job, size_t offset, size_t length);

#endif
