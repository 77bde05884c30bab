/**
 * @file
 * mpimr/job.h — a MapReduce job across the ranks of a communicator.
 *
 * A job maps its input (files split at record boundaries across ranks, or an
 * integer range), shuffles the emitted pairs to the rank their key
 * partitions to in rounds of nonblocking all-to-all that overlap the map
 * work, optionally combines them on both sides of the shuffle, groups them
 * by key, reduces, and writes one part file per rank in key order.
 *
 * @code{.c}
 *   mpimr_job_config cfg;
 *   mpimr_job_config_init(&cfg);
 *   cfg.map_record = my_map;          // called once per input record
 *   cfg.combine = mpimr_combine_sum_u64;
 *   cfg.inputs = argv + 1; cfg.input_count = argc - 1;
 *   cfg.output_dir = "out";
 *   mpimr_job *job;
 *   int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &cfg);
 *   if (rc == MPIMR_OK) rc = mpimr_job_run(job);
 *   if (rc != MPIMR_OK) fprintf(stderr, "%s\n", mpimr_job_error_message(job));
 *   mpimr_job_free(job);
 * @endcode
 *
 * Every job function except the accessors is collective over the job's
 * communicator. MPI must be initialised by the caller (any thread level:
 * mpimr calls MPI only from the calling thread). The communicator is
 * duplicated; the caller may free its own at once.
 *
 * The combine, compare and format callbacks (and the built-in combiner and
 * formatter) are declared in mpimr/callbacks.h, the transports in
 * mpimr/transport.h; this header includes both.
 */
#ifndef MPIMR_JOB_H
#define MPIMR_JOB_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mpimr/export.h"
#include "mpimr/callbacks.h"
#include "mpimr/dataset.h"
#include "mpimr/future.h"
#include "mpimr/kv.h"
#include "mpimr/pin.h"
#include "mpimr/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A job (opaque): made by mpimr_job_create(), run once, freed by mpimr_job_free(). */
typedef struct mpimr_job mpimr_job;

/**
 * Called once per input record (the record excludes its `\n` and a `\r`
 * before it). Map and reduce functions return 0, or non-zero to fail the job
 * on every rank; `return mpimr_fail(out, "why", ...);` also says why.
 */
typedef int (*mpimr_map_record_fn)(void *user, const void *record, size_t record_len, mpimr_emitter *out);

/** Readable bytes a block handed to a mpimr_map_block_fn is followed by (their content is unspecified). */
#define MPIMR_BLOCK_PADDING 64

/**
 * Called with many whole records at once, for map functions that do not
 * care where records end (word count, grep, byte statistics): `block` holds
 * `length` bytes of consecutive records, each ended by its `\n` (the last
 * record of a file may have none), with any `\r` kept. A record is never
 * split between blocks, and MPIMR_BLOCK_PADDING readable bytes follow the
 * block, so vector code may read past its end (and must ignore what it
 * finds there).
 */
typedef int (*mpimr_map_block_fn)(void *user, const void *block, size_t length, mpimr_emitter *out);

/** Called once per index of an integer-range input, or of a rank's local records. */
typedef int (*mpimr_map_index_fn)(void *user, uint64_t index, mpimr_emitter *out);

/** Called once per pair of this rank's share of an input dataset (see mpimr/dataset.h). */
typedef int (*mpimr_map_pair_fn)(void *user, const void *key, size_t key_len, const void *value,
                                 size_t value_len, mpimr_emitter *out);

/**
 * Called once per distinct key on the rank the key partitions to, in key
 * order (bytewise, or the job's compare_keys), with an iterator over all of
 * its values (one value when a combiner is set). Emit output pairs through
 * `out`.
 */
typedef int (*mpimr_reduce_fn)(void *user, const void *key, size_t key_len, mpimr_values *values,
                               mpimr_emitter *out);

/**
 * Chooses the rank in [0, nranks) a key is sent to. `hash` is
 * mpimr_hash64(key, key_len, 0), computed once by the library.
 */
typedef int (*mpimr_partition_fn)(void *user, const void *key, size_t key_len, uint64_t hash, int nranks);

/** What mpimr_job_config.progress shows on rank 0's stderr. */
typedef enum mpimr_progress {
  MPIMR_PROGRESS_OFF = 0,   /**< Nothing (the library's default). */
  /**
   * MPIMR_PROGRESS_LINE if rank 0's stderr is a terminal, or is a pipe and
   * the stderr of the process that started rank 0 (mpirun, which forwards
   * its ranks' output) is one; else nothing.
   */
  MPIMR_PROGRESS_AUTO = 1,
  MPIMR_PROGRESS_LINE = 2,  /**< One line rewritten in place (`\r`), ended by a final state. */
  MPIMR_PROGRESS_PLAIN = 3  /**< A new line every interval and a final one, for batch logs. */
} mpimr_progress;

/** Which keys a rank reduces, and so what order the part files are in. */
typedef enum mpimr_key_order {
  /**
   * Keys are spread over the ranks by hash (or by `partition`): each part
   * file is in key order, the parts together are not.
   */
  MPIMR_KEY_ORDER_PART = 0,
  /**
   * Keys are range-partitioned: before map starts, each rank maps a sample
   * of its input (about 2 MiB, from 64 places spread over its share; the
   * map function is called for those records twice) and rank 0 chooses
   * P-1 splitters from all samples, so every rank receives about the same
   * number of pairs. Rank r reduces the keys between splitters r-1 and r,
   * so part files taken in rank order are in global key order. Keys are
   * never split between ranks when the job has a reducer or a combiner
   * (one hot key can then make one rank's share larger); without either,
   * pairs are ordered by key and value together, and equal ones may go to
   * neighbouring ranks, so duplicates are balanced too.
   */
  MPIMR_KEY_ORDER_GLOBAL = 1
} mpimr_key_order;

/** Output file layouts. */
typedef enum mpimr_output_format {
  /** One line per pair: key bytes, a TAB, the formatted value, '\n'. */
  MPIMR_OUTPUT_TEXT = 0,
  /** Per pair: key length and value length as 8-byte little-endian integers, then key, then value. */
  MPIMR_OUTPUT_BINARY = 1,
  /** Nothing is written (the result is only counted; for benchmarks). */
  MPIMR_OUTPUT_NONE = 2,
  /**
   * One line per pair: the key bytes, the value bytes, '\n' (no separator,
   * no formatting), so a line that map split into key and value, and emitted
   * without its '\n', is written back as it was read.
   */
  MPIMR_OUTPUT_LINES = 3
} mpimr_output_format;

/**
 * What consecutive jobs of one program can share instead of setting it up
 * again for each (opaque): an iterative program (PageRank, k-means) runs a
 * small job per step, and setting up costs more than running one.
 *
 * A job created with `config.workspace` takes from it what the last job that
 * succeeded with it left there:
 *  - the duplicate of the communicator, if the job is created on the same
 *    communicator (the same handle);
 *  - the shuffle, if the round size, rounds in flight, transport, peer
 *    window and ranks per node are the same: its communicators, its
 *    transport's set-up (the shared-memory segments, with the pages the last
 *    job's rounds touched) and its receive buffers;
 *  - the first job's pin report, as `pinned_by` would give it.
 * Whether it takes them is agreed by all ranks when the job is created (one
 * small allreduce on the communicator, and one on the job's), so ranks never
 * disagree. When a job that succeeded on every rank is freed, it leaves its
 * communicator and shuffle in the workspace for the next; a job that failed
 * or never ran frees its own, and the next starts fresh, so a failure never
 * leaves half a protocol behind. Everything else (tables, stores, spill
 * files, output) is still the job's own. The workspace holds the memory of
 * the shuffle it keeps (its round buffers) between jobs.
 */
typedef struct mpimr_workspace mpimr_workspace;

/** Creates an empty workspace (local; no MPI). Returns MPIMR_OK or MPIMR_ERR_NOMEM. */
MPIMR_API int mpimr_workspace_create(mpimr_workspace **workspace);

/**
 * Frees a workspace and what it holds (communicators, a shuffle); NULL is
 * allowed. Call it after the last job that used it is freed, and before
 * MPI_Finalize, on every rank (it frees communicators; it does not wait for
 * other ranks).
 */
MPIMR_API void mpimr_workspace_free(mpimr_workspace *workspace);

/** Jobs that took a communicator and a shuffle from this workspace instead of making their own. */
MPIMR_API uint64_t mpimr_workspace_reuses(const mpimr_workspace *workspace);

/**
 * Everything a job needs. Initialise with mpimr_job_config_init(), then set
 * one map function with its input, and whatever else you need. Pointers are
 * borrowed: they must stay valid until mpimr_job_free().
 */
typedef struct mpimr_job_config {
  /**
   * sizeof(mpimr_job_config) as the program was compiled, set by
   * mpimr_job_config_init(): always fill a configuration with it. The struct
   * only ever grows at its end, so a program built against an older mpimr
   * passes a smaller size, and the fields it did not know take their
   * defaults; a size of 0 (not initialised) or above this library's is
   * refused with MPIMR_ERR_INVAL.
   */
  size_t struct_size;
  void *user; /**< Passed to every callback. */

  /*
   * Input, one of: files (map_record, or map_block for blocks of records);
   * an integer range split over the ranks (map_index); each rank's own
   * records, such as an array it holds (map_local); a dataset (map_pair).
   */
  mpimr_map_record_fn map_record; /**< Called once per record of the input files. */
  mpimr_map_block_fn map_block;   /**< Or: called with blocks of whole records. */
  const char *const *inputs;      /**< Files and directories (read recursively, in name order). */
  int input_count;                /**< Entries in `inputs`. */
  mpimr_map_index_fn map_index;   /**< Or: called once per index of [0, index_count), no files. */
  uint64_t index_count; /**< map_index is called for every index in [0, index_count). */
  /**
   * Or: called on each rank for every index of [0, local_count) of that
   * rank, for input the application holds (index an array with it). Ranks
   * may have different counts, zero included; nothing is redistributed
   * before the shuffle.
   */
  mpimr_map_index_fn map_local;
  uint64_t local_count; /**< This rank's number of local records for map_local. */
  mpimr_map_pair_fn map_pair; /**< Or: called once per pair of this rank's share of input_dataset. */
  /**
   * The dataset map_pair maps. It must not change while the job runs; it
   * may be the job's own output_dataset, which is then emptied when reduce
   * starts filling it (after map has read it).
   */
  const mpimr_dataset *input_dataset;

  mpimr_combine_fn combine;     /**< Optional. */
  mpimr_reduce_fn reduce;       /**< Optional: without it every (key, value) is written as it is. */
  /**
   * Non-zero: the reducer promises to emit keys in nondecreasing key
   * order (bytewise, or compare_keys) over the whole reduce (as a reducer
   * that emits only its own key does). Its output then goes straight to
   * the part file as it is emitted, never collected, sorted or spilled; an
   * emit below an earlier key fails the job (MPIMR_ERR_USER). Zero (the default): output in any order is
   * collected and sorted, spilling beyond a quarter of the memory budget.
   */
  int reduce_in_order;
  /**
   * Optional: default sends a key to rank (hash * nranks) >> 64 (the high word of the 128-bit
   * product, with hash = mpimr_hash64(key, key_len, 0)). Not with MPIMR_KEY_ORDER_GLOBAL.
   */
  mpimr_partition_fn partition;

  /* Order. */
  mpimr_key_order key_order; /**< Default MPIMR_KEY_ORDER_PART; MPIMR_KEY_ORDER_GLOBAL sorts across parts. */
  /**
   * Optional: the order of keys (for reduce, the part files, and with
   * MPIMR_KEY_ORDER_GLOBAL the splitters). Default bytewise, shorter first
   * on a common prefix, which is also the fastest (a radix sort on key
   * prefixes; a comparator means a comparison sort).
   */
  mpimr_compare_fn compare_keys;
  /**
   * Optional, without a combiner: the order of a key's values as the
   * reducer (or the output, without a reducer) sees them: a secondary sort.
   * Default bytewise.
   */
  mpimr_compare_fn compare_values;

  /* Output. */
  /**
   * Optional: keep the output in memory instead of files. Each rank's pairs
   * (the reducer's output, or the grouped pairs without a reducer) are
   * appended to this dataset in key order, as they would have been written
   * to the part file; output_dir must then be NULL and output_format is
   * ignored. Pairs already in it are removed when the job starts writing
   * output. On failure the dataset is left empty on every rank.
   */
  mpimr_dataset *output_dataset;
  /**
   * Required unless output_format is MPIMR_OUTPUT_NONE or output_dataset is set. Made if missing. The
   * job owns it while it runs: rank 0 holds `DIR/.mpimr-lock` (naming its host, PID, program, ranks
   * and start time), and another job on the same directory fails at once with MPIMR_ERR_BUSY and a
   * message naming the owner. A lock left by a killed job is taken over when its owner ran on this
   * host and is gone; from another host the message says which file to remove. An existing
   * directory is taken only if it is empty or holds just what a failed run leaves (parts, temporary
   * parts, staging and spill directories, a dead job's lock; no `_SUCCESS`); the staging and spill
   * directories of dead jobs are removed. Parts are written to `DIR/.mpimr-staging-HOST.PID` and
   * moved in only once every rank's part is complete, `_SUCCESS` last, so a reader that sees
   * `_SUCCESS` sees one whole result. A failed job removes its staging directory, its lock and, if
   * it made the directory, the directory.
   */
  const char *output_dir;
  /**
   * Non-zero: also take a directory that holds a result, and replace it. The old result stays
   * untouched until the new one is complete; then its `_SUCCESS` goes first, its parts are replaced,
   * and the new `_SUCCESS` is written. A job that fails leaves the old result as it was.
   */
  int overwrite;
  mpimr_output_format output_format; /**< The part files' layout (default MPIMR_OUTPUT_TEXT). */
  mpimr_format_fn format_value; /**< Text format only; default writes the value bytes as they are. */

  /* Tuning. */
  size_t round_bytes;        /**< Bytes a rank sends per shuffle round (default 4 MiB). */
  int rounds_in_flight;      /**< Shuffle rounds outstanding at once, 1..8 (default 2). */
  mpimr_transport transport; /**< How rounds' bytes travel (default MPIMR_TRANSPORT_AUTO). */
  /**
   * With MPIMR_TRANSPORT_PAIRWISE (and MPIMR_TRANSPORT_SHARED_MEMORY between
   * ranks that do not share memory): sends, and separately receives, outstanding
   * at once over all rounds in flight (default 0: 8; at least 1). A wider
   * window overlaps more messages; a narrower one keeps fewer peers busy at
   * a time. Ignored by the other transports.
   */
  int peer_window;
  /**
   * With MPIMR_TRANSPORT_SHARED_MEMORY: at most this many ranks of a node
   * read each other's memory, in groups of consecutive ranks on the node
   * (default 0: all the ranks of the node). Ranks in different groups
   * exchange messages and the rounds are agreed by MPI, as between nodes.
   * 1 shares nothing. Use it to run the protocol of a multi-node job on one
   * machine (to test it or measure it), or to keep sharing within a socket.
   */
  int ranks_per_node;
  /**
   * With a combiner: bytes the map-side combining table may hold before it
   * is sent (default 64 MiB; at most 1 GiB; a value below round_bytes counts
   * as round_bytes). Pairs whose key this rank reduces itself skip the
   * table and the shuffle. A larger table combines more, so fewer pairs
   * cross the shuffle; the round that carries it grows to fit. A smaller
   * one sends earlier, overlapping the shuffle with map work.
   */
  size_t combine_bytes;
  size_t read_bytes;  /**< Input read buffer per slice of map work (default 256 KiB). */
  mpimr_pin_mode pin; /**< Core binding (default MPIMR_PIN_AUTO). */

  /* Memory. */
  /**
   * The most memory this rank's job data may take, in bytes (0: the default,
   * mpimr_default_memory_bytes()). It covers the input buffer, map output
   * and the map-side combining table, the shuffle's round buffers, the
   * reduce side's store, and sort and merge space. The round size and the
   * combining table are cut to fit (a quarter of the budget each at most);
   * when the reduce side's store would push the total over the budget it is
   * sorted and written to the spill directory as a run, and reduce merges
   * the runs with what stayed in memory. At least 16 MiB.
   */
  size_t memory_bytes;
  /**
   * Where runs are spilled: each rank makes its own `mpimr-spill-XXXXXX`
   * directory here when it first spills and removes it when the job ends,
   * whether it succeeded or failed. NULL: $TMPDIR if set, else the output
   * directory, else /tmp.
   */
  const char *spill_dir;
  int verbose;        /**< Non-zero: rank 0 reports settings and binding on stderr. */
  /**
   * If set, mpimr_job_run() also writes a Chrome trace-event JSON timeline
   * of the job here (rank 0 writes; one track per rank: map slices, waits
   * for a send buffer, each round's header and data exchange, folding
   * received rounds, reduce, output). Open it in Perfetto or chrome://tracing.
   */
  const char *trace_path;

  /* Stalls (a stopped or hung rank). The same on every rank. */
  /**
   * Seconds rank 0 may wait without progress (its executor polling nothing
   * but the watch) before it probes the other ranks and prints once, on
   * stderr, which ranks did not answer within 2 s (with their hosts), in
   * which phase, and where the others wait (default 60; 0: no warning). A
   * rank that computes inside one step for a long time (a long reduce)
   * cannot answer either: the warning says "stopped, or busy without
   * returning to the executor". The job goes on. Must be 0 or more.
   */
  double stall_warning_seconds;
  /**
   * Seconds after which a job waiting without progress fails (default 0:
   * never): rank 0 probes as for the warning and, if a rank did not answer,
   * or every rank answered but none is working, returns MPIMR_ERR_STALLED
   * with a message naming the ranks; a rank other than 0 that has not heard
   * from rank 0 for this long plus 10 s does the same, naming rank 0. Call
   * MPI_Abort then (mpimr_status_needs_abort()): the ranks are out of step.
   * Set it above the longest step a rank takes without returning to the
   * executor (reduce and write of its part), or a busy rank is taken for a
   * stopped one. While it is set, rank 0 probes every rank every third of
   * it. Must be 0 or more. With both stall settings 0 (or one rank) no
   * watch runs at all.
   */
  double stall_timeout_seconds;

  /**
   * The binding an earlier job of this program made on the same ranks
   * (mpimr_job_get_pin_report() of that job), or NULL (the default). When
   * set, the job takes this report as its own and does not pin again:
   * reading the machine's topology for `pin` takes 10-40 ms, which an
   * iterative program would pay on every iteration. The binding itself
   * stays as that job left it (no job unbinds), so the report still holds.
   * Copied at mpimr_job_create(); set it on every rank or on none (pinning
   * is collective).
   */
  const mpimr_pin_report *pinned_by;

  /**
   * Optional: a workspace (mpimr_workspace_create()) that the jobs of one
   * program share, one after another, so that each does not set up again
   * what the last one had: see mpimr_workspace. Set it on every rank or on
   * none; the jobs must run one at a time on it.
   */
  mpimr_workspace *workspace;

  /* Watching and tolerating (issue 24). */
  /**
   * Map records whose map function may fail with mpimr_fail() over the
   * whole job before the job fails (default 0: the first failure fails the
   * job). A record whose map call returns what mpimr_fail() returned is
   * skipped and counted (counter "mpimr.bad_records"); a map function that
   * returns non-zero without calling mpimr_fail(), fails through
   * mpimr_fail_job(), or fails because an emit failed, fails the job at
   * once, as without this setting. Pairs a skipped record emitted before
   * failing are kept, so a map function should check its record before it
   * emits. With file output, rank 0 writes `OUTDIR/_bad_records`, one line
   * per skipped record: `PATH<TAB>OFFSET<TAB>MESSAGE` (for index input
   * `index<TAB>N<TAB>MESSAGE`, for local input `local<TAB>N<TAB>...`, for
   * dataset input `pair<TAB>N<TAB>...`). Once more than this many fail over
   * all ranks the job fails on every rank (a rank that alone went over the
   * limit stops at once and names that record; otherwise each rank names
   * the last one it skipped), and the list holds at most max_bad_records +
   * 1 of them, with no `_SUCCESS`; it is then `_bad_records.failed` if the
   * directory holds an older result, which stays as it was. With map_block
   * a block is the record (its first record's offset is given). Reduce
   * functions that fail always fail the job. Set it alike on every rank.
   */
  uint64_t max_bad_records;
  /**
   * Where the list of skipped records goes (rank 0 writes it, through a
   * temporary file renamed into place; every rank must be able to write
   * `PATH.RANK` beside it, which rank 0 gathers and removes unless the
   * ranks end out of step). NULL (the
   * default): `OUTDIR/_bad_records` for a job that writes part files, else
   * no list. A program whose later job writes the result can set it for the
   * job that parses the input.
   */
  const char *bad_records_path;
  /**
   * A live progress display on rank 0's stderr (default MPIMR_PROGRESS_OFF):
   * the phase, the input mapped as a share of the whole (all ranks), bytes
   * a second, rounds, bytes spilled, bad records and the time the map phase
   * has left. Set it alike on every rank: unless it is OFF, every rank sends
   * rank 0 its figures each interval (one small MPI_Isend on the job's
   * communicator), and a final report when its map and shuffle are done.
   */
  mpimr_progress progress;
  /**
   * Seconds between progress updates (0: the default, 1 s for
   * MPIMR_PROGRESS_LINE, 10 s for MPIMR_PROGRESS_PLAIN). Must be 0 or more.
   */
  double progress_interval_seconds;

  /**
   * Non-zero: dynamic map for file and map_index input. The input (the
   * files' bytes, or the index range) is cut into 16 chunks per rank; each
   * rank starts with its own consecutive 16 (what a static split gives it),
   * and a rank whose chunks are done asks the other
   * ranks in turn for half of their unstarted ones, so a slow rank's work
   * moves to fast ones (point-to-point messages on the job's communicator,
   * answered by a small future on each rank's executor, and one
   * MPI_Ibarrier at the end of map). Records, their origins and the result
   * are as without it; which rank maps a record is not, so neither are the
   * per-rank figures, and with map_block a block never spans two chunks
   * (smaller blocks at chunk edges); a map_index function must not depend
   * on which rank calls it for an index. Local and dataset input (held by
   * their rank) are mapped as without it. Default 1 (on; it costs nothing measurable when
   * no rank is slow); 0 keeps each rank on its own share (a static split).
   * Must be the same on every rank (checked: MPIMR_ERR_INVAL otherwise).
   * A program built before this field existed gets the default (on).
   */
  int dynamic_map;
} mpimr_job_config;

/** Per-rank figures of one job. Times are seconds of wall clock. */
typedef struct mpimr_job_stats {
  double time_total;      /**< mpimr_job_run() from start to end. */
  double time_map;        /**< Reading and mapping (shuffle rounds overlap it). */
  double time_shuffle;    /**< From the end of map until the last round completed. */
  double time_reduce;     /**< Grouping, sorting and reducing. */
  double time_output;     /**< Writing and committing the part file. */
  double time_send_wait;  /**< Map work stalled waiting for a free send buffer. */
  uint64_t input_bytes;   /**< Input bytes this rank mapped. */
  uint64_t input_records; /**< Records mapped (blocks of records, with map_block). */
  uint64_t pairs_emitted; /**< Pairs emitted by map. */
  uint64_t bytes_emitted; /**< Key + value bytes emitted by map. */
  uint64_t pairs_sent;    /**< Pairs sent after map-side combining (self included). */
  uint64_t bytes_sent;    /**< Encoded bytes sent (self included). */
  uint64_t pairs_received; /**< Pairs this rank received (its own included). */
  uint64_t bytes_received; /**< Encoded bytes this rank received (its own included). */
  uint64_t rounds;       /**< Shuffle rounds taken part in. */
  uint64_t keys_reduced; /**< Distinct keys on this rank. */
  uint64_t pairs_output;       /**< Pairs written to this rank's part (or counted, without output). */
  uint64_t bytes_output;       /**< Bytes written to this rank's part file. */
  uint64_t map_table_bytes;    /**< Memory of the map-side combining table at its largest. */
  uint64_t reduce_table_bytes; /**< Memory of the reduce-side combining table at the end (the result). */
  uint64_t buffer_bytes;       /**< Memory of the shuffle's round buffers at their largest. */
  uint64_t peak_rss_bytes;     /**< The process's peak resident size when the job ended (getrusage). */
  uint64_t memory_budget_bytes; /**< The memory budget the job ran under. */
  uint64_t peak_memory_bytes;   /**< The most memory the job's accounting saw in use at once. */
  uint64_t spill_bytes;         /**< Bytes written to spill runs (merge passes included). */
  uint64_t spill_runs;          /**< Runs written when the store was full (merge passes not included). */
  uint64_t merge_passes;        /**< Intermediate merges (runs merged into a run before reduce). */
  double time_sample;           /**< MPIMR_KEY_ORDER_GLOBAL: mapping the sample, choosing splitters (before map). */
  uint64_t sample_pairs;        /**< MPIMR_KEY_ORDER_GLOBAL: sampled pairs this rank sent to rank 0. */
  uint64_t bad_records;         /**< Map records skipped because their map call failed (max_bad_records). */
  /**
   * Values of the key with the most values this rank reduced (before any
   * reduce-side combining: with a combiner, 0), and that key's first bytes
   * (mpimr_job_report() names it when one key dominates the reduce side).
   */
  uint64_t heaviest_key_pairs;
  uint32_t heaviest_key_len;      /**< The key's full length. */
  unsigned char heaviest_key[48]; /**< The key's first bytes (at most 48). */
  uint64_t chunks_taken; /**< dynamic_map: input chunks this rank took from other ranks. */
  uint64_t chunks_given; /**< dynamic_map: input chunks other ranks took from this rank. */
} mpimr_job_stats;

/**
 * Where the record being mapped comes from; see mpimr_map_origin(). For a
 * map_block callback, the block's first record.
 */
typedef struct mpimr_record_origin {
  const char *path;  /**< The file, as listed (valid until the job is freed). */
  size_t file_index; /**< Its place in the job's file list: every file under the inputs, in name order. */
  uint64_t offset;   /**< The byte offset of the record's first byte in the file. */
} mpimr_record_origin;

/**
 * Tells a map_record or map_block callback where its record comes from:
 * pass the emitter the callback was given. Returns MPIMR_OK, or
 * MPIMR_ERR_STATE when called with another emitter or for index input.
 */
MPIMR_API int mpimr_map_origin(const mpimr_emitter *map_output, mpimr_record_origin *origin);

/**
 * Fails the job from inside a map or reduce function, with a message: call
 * it with the emitter the function was given and return what it returns
 * (MPIMR_ERR_USER). The job then stops on every rank; on this rank
 * mpimr_job_error_message() reads "rank R: map: MESSAGE (input 'PATH' at
 * byte N)" (or "(index N)") or "rank R: reduce: MESSAGE (key 'KEY')", with
 * the key's first 48 bytes, other than printable ASCII written as `\xNN`.
 * `format` is printf's; the message is cut at 383 bytes. The first error of
 * a rank is the one kept. Returns MPIMR_ERR_INVAL (and fails nothing) for
 * an emitter that is not a map or reduce function's.
 */
MPIMR_API int mpimr_fail(mpimr_emitter *out, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/**
 * A counter of the job (see mpimr_counter_find()): a handle to this rank's
 * running total, added to with mpimr_counter_increment().
 */
typedef struct mpimr_counter {
  uint64_t value; /**< This rank's total so far. */
} mpimr_counter;

/**
 * Finds the counter called `name` of the job whose map or reduce function
 * was given `out`, making it (at 0) the first time: resolve it once (in the
 * first call, or keep it in the function's state) and add with
 * mpimr_counter_increment(), which costs one addition. Names are 1-64
 * printable ASCII characters other than the double quote and the
 * backslash; those starting
 * "mpimr." are the framework's own (read them with mpimr_job_counter()).
 * The handle is valid until the job is freed; a job's counters are summed
 * over ranks when it succeeds, and shown by mpimr_job_report(). Returns
 * NULL for a bad name, an emitter that is not a map or reduce function's,
 * or no memory (then mpimr_fail() can say so).
 */
MPIMR_API mpimr_counter *mpimr_counter_find(mpimr_emitter *out, const char *name);

/** Adds `n` to a counter from mpimr_counter_find(). */
static inline void mpimr_counter_increment(mpimr_counter *counter, uint64_t n) { counter->value += n; }

/**
 * Adds `n` to the counter called `name` (mpimr_counter_find() and
 * mpimr_counter_increment() in one call; the name is looked up by hash each
 * time: about 13 ns a call for a short name, against well under 1 ns for a
 * handle; bench/counter_bench.c). Returns MPIMR_OK, or
 * MPIMR_ERR_INVAL / MPIMR_ERR_NOMEM as mpimr_counter_find() returns NULL.
 */
MPIMR_API int mpimr_counter_add(mpimr_emitter *out, const char *name, uint64_t n);

/**
 * Reads counter `name` of a job that succeeded, summed over all ranks (the
 * same on every rank; local, no MPI). Besides the program's own counters the
 * framework keeps "mpimr.input_bytes", "mpimr.input_records",
 * "mpimr.pairs_emitted", "mpimr.pairs_sent", "mpimr.keys_reduced",
 * "mpimr.pairs_output", "mpimr.bytes_output", "mpimr.bad_records" and
 * "mpimr.spill_bytes" (with map_block, "mpimr.input_records" counts blocks).
 * Returns MPIMR_OK and sets `*value`; MPIMR_ERR_NOT_FOUND if no rank added to
 * it; MPIMR_ERR_STATE if the job has not succeeded.
 */
MPIMR_API int mpimr_job_counter(const mpimr_job *job, const char *name, uint64_t *value);

/**
 * Calls `visit` for each of a succeeded job's counters, summed over ranks,
 * in name order (the framework's "mpimr." ones included). Returns the
 * number of counters, or MPIMR_ERR_STATE if the job has not succeeded.
 */
MPIMR_API int mpimr_job_each_counter(const mpimr_job *job,
                                     void (*visit)(void *context, const char *name, uint64_t value),
                                     void *context);

/**
 * Fails the job as mpimr_fail() does, but never skips the record, also when
 * max_bad_records allows skipping: for a failure that is not the record's
 * fault (out of memory, a limit of the program). Call it with the emitter
 * the function was given and return what it returns (MPIMR_ERR_USER).
 */
MPIMR_API int mpimr_fail_job(mpimr_emitter *out, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/**
 * The default memory budget of one rank: half of the node's memory (or of
 * the cgroup's limit, if lower) shared by `local_ranks` ranks, at least the
 * 16 MiB minimum.
 */
MPIMR_API size_t mpimr_default_memory_bytes(int local_ranks);

/**
 * Checks that this process's MPI world is as large as the launcher meant it
 * to be (local; no MPI call but MPI_Comm_size). A launcher that cannot start
 * an MPI job (`srun --mpi=none`, or a PMI the MPI library lacks) may start N
 * processes that each become a one-rank world, all then writing the same
 * output. Returns MPIMR_OK, or MPIMR_ERR_INVAL with `message` (at most
 * `message_size` bytes; may be NULL) saying so and what to do, when the world
 * has one rank but Open MPI's OMPI_COMM_WORLD_SIZE (set by mpirun) or,
 * without it, Slurm's SLURM_STEP_NUM_TASKS (set by srun) says the launcher
 * started more. mpimr_job_create() fails the same way.
 */
MPIMR_API int mpimr_launch_check(char *message, size_t message_size);

/**
 * Tells, before any work, whether a job would accept `dir` as its output
 * directory (collective; rank 0 looks, nothing is changed): MPIMR_OK if it
 * is missing (the job makes it), empty, or holds only what a failed run
 * leaves (or `overwrite` is set), and no running job owns it;
 * MPIMR_ERR_BUSY (another job owns it), MPIMR_ERR_EXISTS or MPIMR_ERR_IO
 * otherwise, with the cause in `message` (at most `message_size` bytes; may
 * be NULL) on every rank. For programs that run several jobs before the one
 * that writes. The job checks again, and takes the directory, when it starts.
 */
MPIMR_API int mpimr_output_check(MPI_Comm comm, const char *dir, int overwrite, char *message,
                                 size_t message_size);

/** Fills `config` with the defaults and no callbacks. */
MPIMR_API void mpimr_job_config_init(mpimr_job_config *config);

/**
 * Creates a job on a duplicate of `comm` and checks the configuration
 * (collective). Binds the rank to a core per `config->pin`. On failure
 * `*job` may still be set so that mpimr_job_error_message() can explain; free
 * it with mpimr_job_free() either way.
 */
MPIMR_API int mpimr_job_create(mpimr_job **job, MPI_Comm comm, const mpimr_job_config *config);

/**
 * Runs the job to completion (collective). Returns MPIMR_OK when every rank
 * succeeded and the output is committed (`_SUCCESS` written); otherwise an
 * error status on every rank, and no `_SUCCESS`. A job runs once.
 */
MPIMR_API int mpimr_job_run(mpimr_job *job);

/**
 * Starts the job without waiting for it (collective): lists and splits the
 * input and prepares the output (short collective steps, done before it
 * returns), then hands the map, the shuffle and what follows to the job's
 * executor and returns. Advance the job with mpimr_job_test() or finish it
 * with mpimr_job_wait(); mpimr_job_run() is start followed by wait. Returns
 * MPIMR_OK, or the job's error if it failed to start (then it is finished:
 * test and wait return that error).
 *
 * Rules while a job runs: call mpimr_job_test(), mpimr_job_wait() and the
 * executor's functions only from the thread that created the job; do not
 * free the job or change anything its configuration points to; callbacks
 * run inside those calls. Map slices, shuffle rounds and the agreement
 * steps never block, so the application may run its own MPI work (on other
 * communicators) between tests, or hand it to the same executor as futures
 * or requests (mpimr_job_executor()). Reduce and writing the part run in
 * one step, inside one test call; committing the output ends with short
 * collectives that wait for the other ranks to reach them.
 */
MPIMR_API int mpimr_job_start(mpimr_job *job);

/**
 * Advances a started job by one tick of its executor, like MPI_Test: a few
 * map slices or other steps, then one test of every outstanding MPI request
 * (the application's own futures and requests on this executor advance
 * too). Sets `*done` to 1 once the job has finished, else 0. Returns
 * MPIMR_OK while it runs and when it succeeded, the job's error once it
 * failed (the same on every rank, as from mpimr_job_run()), or
 * MPIMR_ERR_STATE for a job not started.
 */
MPIMR_API int mpimr_job_test(mpimr_job *job, int *done);

/**
 * Runs a started job to its end (backing off by the executor's idle policy
 * when there is nothing to do) and returns its outcome, as mpimr_job_run().
 * The application's futures on the job's executor run meanwhile.
 */
MPIMR_API int mpimr_job_wait(mpimr_job *job);

/**
 * Runs a started job for at most about `seconds` (0 or more), as
 * mpimr_job_wait() does, and returns when it has finished (`*done` set to
 * 1, its outcome returned as by mpimr_job_wait()) or the time has passed
 * (`*done` 0, MPIMR_OK), so that a caller can act between waits: check for
 * a signal of its own, update a display. A step that takes long (a map
 * slice, reduce and writing the part) can overrun the time. Returns
 * MPIMR_ERR_INVAL for a negative time, MPIMR_ERR_STATE for a job not
 * started.
 */
MPIMR_API int mpimr_job_wait_for(mpimr_job *job, double seconds, int *done);

/**
 * Makes a job fail with MPIMR_ERR_INTERRUPTED at its next check, as a
 * caught SIGINT does (mpimr/signals.h): every rank stops, and nothing is
 * committed. Local and safe to call at any time from the thread that runs
 * the job, from inside a map or reduce function too (then return a
 * non-zero status from it); a job that has already finished is not
 * changed, and neither is one past its last check (agreeing on its outcome
 * or committing its output): it ends as it would have. This rank's message
 * reads "rank R: interrupted: REASON" (REASON may be NULL). For bindings and
 * programs that catch interruption in their own way, such as Python's
 * KeyboardInterrupt.
 */
MPIMR_API void mpimr_job_interrupt(mpimr_job *job, const char *reason);

/**
 * The executor that runs the job (valid until mpimr_job_free()): spawn the
 * application's own futures on it, or hand it MPI requests with
 * mpimr_future_await_requests(), to have them advance with the job. Finish
 * them before the job is freed.
 */
MPIMR_API mpimr_executor *mpimr_job_executor(mpimr_job *job);

/**
 * The error of the last failing call on this rank, as one line naming the
 * rank, the file or phase and the cause ("rank 2: input 'x.txt': No such
 * file or directory"); "" if none. Valid until the next call on the job.
 */
MPIMR_API const char *mpimr_job_error_message(const mpimr_job *job);

/** This rank's figures (complete after mpimr_job_run()). */
MPIMR_API const mpimr_job_stats *mpimr_job_get_stats(const mpimr_job *job);

/**
 * Writes a one-line summary of the job (times and volumes, with the minimum
 * and maximum over ranks) to `stream` on rank 0 (collective). If `json_path`
 * is not NULL, rank 0 also writes every figure of every rank there as JSON.
 */
MPIMR_API int mpimr_job_report(mpimr_job *job, FILE *stream, const char *json_path);

/** What pinning did on this rank (after mpimr_job_create()). */
MPIMR_API const mpimr_pin_report *mpimr_job_get_pin_report(const mpimr_job *job);

/** Frees a job; NULL is allowed. Not collective. */
MPIMR_API void mpimr_job_free(mpimr_job *job);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_JOB_H */
