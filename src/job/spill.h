/*
 * job/spill.h — a rank's spilled runs: where they live, writing them, and
 * merging them down to a number reduce can open at once.
 *
 * The spill directory is made (mkdtemp, `mpimr-spill-PID.START.HOST-XXXXXX`
 * under the configured parent: the name says whose it is, util/process_id.h)
 * when the rank first spills, so jobs that fit in memory touch no disk; the
 * directories that dead processes of this host left in the parent are
 * removed then (spill_reclaim()). Runs are numbered files in it, listed in arrival order.
 * Intermediate merges take consecutive runs and put the result in their
 * place (so runs keep their arrival order, which the merge uses to break
 * ties), level by level, and delete their inputs as soon as they are merged.
 * spill_area_destroy() deletes every run and the directory, whatever state
 * the job ended in. Every failure leaves a message naming the path and the
 * cause in `error`.
 */
#ifndef MPIMR_JOB_SPILL_H
#define MPIMR_JOB_SPILL_H

#include <stddef.h>
#include <stdint.h>

#include "kv/merge.h"
#include "kv/sort.h"
#include "mpimr/callbacks.h"

/** One run: a file, or a buffer in memory (a compacted store that has not had to go to disk). */
typedef struct spill_run {
  char *path;          /**< The file (set once a run in memory starts being written). */
  unsigned char *data; /**< A run in memory, in the file format. */
  size_t length;
  int fd;         /**< A run in memory being written: its file, else -1. */
  size_t written; /**< ...and the bytes of it written so far. */
} spill_run;

typedef struct spill_area {
  char *parent;    /**< Where the spill directory goes. */
  char *dir;       /**< The rank's own directory, NULL until the first spill. */
  spill_run *runs; /**< Oldest first: every file run, then every run in memory (runs[i] is a file iff i <
                      file_runs). */
  size_t run_count;
  size_t run_capacity;
  size_t file_runs;        /**< How many of the runs are files (they come first). */
  size_t memory_run_bytes; /**< Bytes the runs in memory hold. */
  uint64_t next_number;
  size_t buffer_bytes;    /**< Each run reader's and writer's buffer. */
  const kv_order *order;  /**< The order runs are sorted in (NULL: bytewise). */
  uint64_t bytes_written; /**< Over every run written, merges included. */
  uint64_t runs_spilled;  /**< Runs written from memory (not by merges). */
  uint64_t merge_passes;
  char error[600];
} spill_area;

/** Which spill directories spill_reclaim() removes. */
typedef enum spill_reclaim_rule {
  SPILL_RECLAIM_DEAD,        /**< Those whose owner ran on this host and is gone (a shared parent). */
  SPILL_RECLAIM_UNLESS_ALIVE /**< Also those of other hosts and unnamed ones (a parent no running job uses).
                              */
} spill_reclaim_rule;

/** Removes the spill directories in `parent` that `rule` takes, with their runs. Returns how many. */
int spill_reclaim(const char *parent, spill_reclaim_rule rule);

/**
 * Sets up an area under `parent` (copied) whose runs are sorted in `order`
 * (borrowed; NULL: bytewise); nothing is created yet. Returns MPIMR_OK or
 * NOMEM.
 */
int spill_area_init(spill_area *a, const char *parent, size_t buffer_bytes, const kv_order *order);

/**
 * Writes `count` items, sorted with keys in order, as a new run; consecutive
 * items with equal keys form one group, values in item order. Returns
 * MPIMR_OK, IO or NOMEM.
 */
int spill_write_items(spill_area *a, const sort_item *items, size_t count);

/**
 * Keeps `count` sorted items as a run in memory (as spill_write_items()
 * would write them; compact, and read back in order), after the runs already
 * there. Returns MPIMR_OK or NOMEM.
 */
int spill_keep_items(spill_area *a, const sort_item *items, size_t count);

/** Writes every run in memory to a file, oldest first, and frees it. Returns MPIMR_OK, IO or NOMEM. */
int spill_flush_memory_runs(spill_area *a);

/**
 * Writes at most `max_bytes` more of the oldest run in memory to its file
 * (made on the first step), so that the writing can be done a slice at a
 * time between other work; a run written in full becomes a file run and its
 * memory is freed. Sets `*done` when no run is left in memory. Returns
 * MPIMR_OK, IO (the message names the file) or NOMEM.
 */
int spill_write_memory_step(spill_area *a, size_t max_bytes, int *done);

/**
 * Folds every value of the merge's current key into `*acc` with `combine`
 * (the first value is copied as it is). On return *acc holds the key's
 * bytes followed by the combined value (so that one sort_item can describe
 * both), *acc_len the value's length. `*acc` and `*acc_capacity` are the
 * caller's buffer, grown as needed. Returns MPIMR_OK, USER (the combiner
 * failed), NOMEM or a merge error.
 */
int spill_combine_group(merger *m, mpimr_combine_fn combine, void *user, unsigned char **acc,
                        size_t *acc_capacity, size_t *acc_len);

/**
 * Merges consecutive file runs into one until at most `max_runs` file runs
 * remain (`max_runs` >= 2; each pass opens at most `fan_in` runs; runs in
 * memory need no buffer and are left as they are). Equal keys are
 * combined when `combine` is set; values are merged in value order when
 * `by_value`. Returns MPIMR_OK or an error.
 */
int spill_merge_down(spill_area *a, size_t max_runs, size_t fan_in, int by_value, mpimr_combine_fn combine,
                     void *user);

/**
 * Opens readers on runs [first, first + count) (files or memory) and points
 * `sources` at them.
 * On failure every reader may be closed with run_reader_close() (those not
 * reached are marked closed). Returns MPIMR_OK or an error.
 */
int spill_open_runs(spill_area *a, size_t first, size_t count, run_reader *readers, merge_source *sources);

/**
 * Describes a failed merge step `rc` in `buffer`: "spill 'PATH': CAUSE" when a
 * run failed to read, "the combiner failed", or "WHAT: CAUSE" otherwise.
 */
void spill_describe_merge_failure(const merger *m, int rc, const char *what, char *buffer, size_t size);

/** Deletes every run and the directory. */
void spill_area_destroy(spill_area *a);

#endif
