/*
 * job/job_internal.h — the job object, shared by the files of the job's
 * stages (job/stages.h says what each offers the others) and its report
 * (report.c).
 */
#ifndef MPIMR_JOB_INTERNAL_H
#define MPIMR_JOB_INTERNAL_H

#include "job/bad_records.h"
#include "job/counters.h"
#include "job/input.h"
#include "job/output.h"
#include "job/progress.h"
#include "job/range.h"
#include "job/spill.h"
#include "job/stall_watch.h"
#include "job/steal.h"
#include "kv/count_table.h"
#include "kv/sort.h"
#include "kv/table.h"
#include "mpimr/future.h"
#include "mpimr/job.h"
#include "shuffle/shuffle.h"
#include "util/trace.h"

/** The map work: a compute future that reads and maps one slice of input per poll. The job's
 * map is one (mpimr_job.map); a globally ordered job's sample runs another over windows of the
 * same input (sample.c). */
typedef struct map_task {
  mpimr_future base;
  struct mpimr_job *job;
  mpimr_emitter *emitter;  /**< Where the map function's pairs go. */
  size_t read_bytes;       /**< Input bytes a slice reads. */
  mpimr_job_stats *figures; /**< Where the records and bytes read are counted. */
  input_piece *pieces;
  size_t piece_count;
  size_t next_piece;
  record_reader reader;
  int reader_open;
  int stealing;        /**< Dynamic map: waiting for another rank's answer (job->share). */
  uint64_t next_index; /**< Integer-range or local input: the next index and the end. */
  uint64_t end_index;
  mpimr_dataset_cursor pair_cursor; /**< Dataset input: where the next pair is, its number and the end. */
  uint64_t next_pair;
  uint64_t end_pair;
  int needs_flush; /**< The send set or combining table is full: send a round first. */
  double wait_started;
  /** While a record is mapped: its address and length plus RECORD_READER_PADDING - 7, so that a
   * key at `padded_begin + k` with k < `padded_span` may be read 8 bytes at a time; else 0 and 0. */
  uintptr_t padded_begin;
  size_t padded_span;
} map_task;

/**
 * Map output waiting to be combined: emits are copied here and folded into
 * the map-side table a batch at a time, with the batch's table slots and
 * entries prefetched first (see job_fold_round in store.c for the same idea).
 */
enum { EMIT_STAGE_PAIRS = 32, EMIT_STAGE_BYTES = 4096 };

typedef struct emit_stage {
  unsigned char bytes[EMIT_STAGE_BYTES];
  size_t used;
  int count;
  struct staged_pair {
    uint64_t hash;
    uint32_t offset; /**< Key at bytes + offset, value right after it. */
    uint32_t key_len;
    uint32_t value_len;
    int32_t dest;
  } pairs[EMIT_STAGE_PAIRS];
} emit_stage;

/**
 * Map output of a counting job (combiner mpimr_combine_sum_u64) waiting to be
 * added to a count table: short keys travel packed, longer ones are copied
 * into `bytes`; each item names its table (the rank's own keys go straight to
 * the reduce side). Folded a batch at a time with the slots prefetched; 128
 * beat 32 and 64 by 3-5 % at np 2 (more misses in flight before the first is
 * needed).
 */
enum { COUNT_STAGE_ITEMS = 128, COUNT_STAGE_BYTES = 8192 };

typedef struct count_stage {
  int count;
  size_t used;
  struct staged_count {
    uint64_t hash;
    uint64_t packed; /**< count_key_pack() of the key, or 0: the key is at bytes + offset. */
    uint64_t count;
    count_table *table;
    uint32_t offset;
    uint32_t len;
  } items[COUNT_STAGE_ITEMS];
  unsigned char bytes[COUNT_STAGE_BYTES];
} count_stage;

/** Writes the store's runs in memory to disk a slice per poll, between rounds and map slices. */
typedef struct spill_writer {
  mpimr_future base;
  struct mpimr_job *job;
  int running;
  double run_started; /**< For the timeline: when the run being written got its first slice. */
} spill_writer;

/** Received pairs kept for reduce when there is no combiner: the round buffers and an index. */
typedef struct received_store {
  unsigned char **chunks;
  size_t chunk_count;
  size_t chunk_capacity;
  size_t chunk_bytes; /**< The chunks' capacity in all. */
  sort_item *items;
  size_t item_count;
  size_t item_capacity;
} received_store;

struct mpimr_job {
  mpimr_job_config config;
  MPI_Comm made_from; /**< The communicator the job was created on (its comm is a duplicate of it). */
  MPI_Comm comm;
  int rank;
  int nranks;
  int ran;
  int indexed_input;   /**< map_index or map_local: map_task's next_index/end_index walk the input. */
  int files_output;    /**< Part files are written (an output format other than none, no output dataset). */
  mpimr_executor *executor;
  shuffle *shuffle;
  int combining; /**< The job has a combiner. */
  const struct job_store_ops *store; /**< Where pairs wait from emit to reduce (job/store.h). */
  kv_order order;           /**< The order of keys and values (the config's comparators). */
  int ranged;               /**< MPIMR_KEY_ORDER_GLOBAL: pairs go to ranks by `range`. */
  range_partitioner range;
  kv_table map_table;
  emit_stage stage;
  kv_table reduce_table;
  count_table map_counts;
  count_table reduce_counts;
  /** [0]: map_table, [1]: reduce_table; and the same for the count tables. Emits index them with
   * (dest == rank) rather than branch: the destination of a hashed key is a coin toss. */
  kv_table *tables_by_owner[2];
  count_table *counts_by_owner[2];
  int default_partition; /**< Neither a global key order nor a user partitioner: (hash * P) >> 64. */
  count_stage count_stage;
  received_store received; /**< The pairs store's (store_pairs.c). */
  uint64_t received_bytes; /**< Bytes of the rounds the store has kept. */
  mpimr_emitter map_emitter;
  const unsigned char *reducing_key; /**< The key whose reducer is running (for mpimr_fail()), else NULL. */
  size_t reducing_key_len;
  int emit_status;              /**< The first failure of an emit on this rank. */
  int interrupted;              /**< mpimr_job_interrupt() was called: fail at the next check. */
  size_t *map_table_dest_bytes; /**< Scratch: bytes per destination when draining the map table. */
  double started_at;
  map_task map;
  input_list inputs;
  size_t memory_budget; /**< Bytes; see mpimr_job_config.memory_bytes. */
  spill_area spill;     /**< Runs of the reduce side's store. */
  spill_area output_spill; /**< Runs of reduce output too large to keep. */
  spill_writer writer;     /**< Background writing of the store's runs in memory. */
  int spill_status;        /**< The first failure of a background write. */
  mpimr_job_stats stats;
  mpimr_pin_report pin_report;
  trace trace;
  /* The job as a future (pipeline.c). */
  mpimr_future task;
  double map_ended_at;
  double commit_started_at;
  output_claim output; /**< The output directory, once claimed (output.held): a failure takes it back. */
  char *committed_part; /**< This rank's part once renamed into place, until the outcome is known. */
  int agree_in;         /**< This rank's status in the agreement in flight. */
  int agree_out;        /**< The agreed (minimum) status. */
  mpimr_request_group agreement;
  char marker_packet[sizeof(int) + 512]; /**< Rank 0's outcome of writing _SUCCESS, and its message. */
  stall_watch watch;    /**< Notices a job that waits without progress (job/stall_watch.h). */
  int closing_status;   /**< The job's outcome while the watch and the display finish (PHASE_CLOSING). */
  int closing_watch;    /**< The stall watch has messages to drain before the job ends. */
  /* Watching and tolerating (counters, skipped records, the progress display). */
  counter_set counters;       /**< This rank's counters (mpimr_counter_find()). */
  counter_set counter_totals; /**< Every counter summed over the ranks, once the job succeeded. */
  int counters_summed;        /**< counter_totals holds the totals. */
  int counter_packed_size;    /**< This rank's packed counters, and everyone's sizes and displacements. */
  unsigned char *counter_packed;
  unsigned char *counter_gathered;
  int *counter_sizes;
  int *counter_displs;
  bad_record_log bad;   /**< Map records skipped (max_bad_records). */
  uint64_t bad_total;   /**< Records skipped over all ranks (summed with the shuffle's agreement). */
  progress_display progress;
  uint64_t input_total;  /**< The whole input in the display's units (bytes, or records; 0: unknown). */
  int input_in_bytes;    /**< The input is files: the display counts bytes. */
  int reducing;          /**< Reduce and writing the part are running (the display says "reduce"). */
  int dynamic;           /**< Dynamic map is on (config.dynamic_map, for file or map_index input). */
  work_share share;      /**< Dynamic map: this rank's chunks, and the server that gives them away. */
  unsigned map_delay_us; /**< Test knob MPIMR_TEST_MAP_DELAY: sleep after each map slice on this rank. */
  int finished_early;   /**< The job ended outside its future (failed to start, or the executor failed). */
  int outcome;          /**< The outcome then. */
  char error_message[640];
};

#endif
