/*
 * job/pipeline.c — the job as a future: the input listed and split, the phases (map, shuffle,
 * spill writes, agreements, commit), the stall watch's close, and start, test, wait and run.
 */
#include <inttypes.h>
#include <limits.h>
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
#include "util/files.h"

/* ---- the job ----------------------------------------------------------- */

static int share_input_list(mpimr_job *job) {
  int status = MPIMR_OK;
  unsigned char *packed = NULL;
  uint64_t packed_size = 0;
  char message[512] = "";
  if (job->rank == 0) {
    status =
        input_list_build(&job->inputs, job->config.inputs, job->config.input_count, message, sizeof message);
    if (status == MPIMR_OK) {
      size_t size;
      packed = input_list_pack(&job->inputs, &size);
      packed_size = size;
      if (packed == NULL) status = MPIMR_ERR_NOMEM;
    }
  }
  struct {
    int status;
    uint64_t size;
    char message[512];
  } header = {status, packed_size, ""};
  snprintf(header.message, sizeof header.message, "%s", message);
  if (MPI_Bcast(&header, (int)sizeof header, MPI_BYTE, 0, job->comm) != MPI_SUCCESS) {
    free(packed);
    job_set_error(job, "MPI_Bcast of the input list failed");
    return MPIMR_ERR_MPI;
  }
  if (header.status != MPIMR_OK) {
    free(packed);
    if (job->rank == 0)
      job_set_error(job, "%s", header.message);
    else
      job_set_error(job, "stopped: rank 0 could not list the input: %s", header.message);
    return header.status;
  }
  if (job->rank != 0) packed = malloc(header.size ? header.size : 1);
  int ok = packed != NULL;
  int all_ok;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, job->comm);
  if (!all_ok) {
    free(packed);
    job_set_error(job, "out of memory receiving the input list");
    return MPIMR_ERR_NOMEM;
  }
  int rc =
      MPI_Bcast(packed, (int)header.size, MPI_BYTE, 0, job->comm) == MPI_SUCCESS ? MPIMR_OK : MPIMR_ERR_MPI;
  if (rc == MPIMR_OK && job->rank != 0) rc = input_list_unpack(&job->inputs, packed, header.size);
  free(packed);
  if (rc != MPIMR_OK) job_set_error(job, "receiving the input list: %s", mpimr_strerror(rc));
  return job_agree(job, rc);
}

/* Dynamic map's messages and barrier need every rank (a mismatch would hang the job): the same
 * verdict on every rank. */
static int check_dynamic_map_alike(mpimr_job *job) {
  int mine[2] = {job->config.dynamic_map != 0, job->config.dynamic_map == 0}, all[2];
  if (MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, job->comm) != MPI_SUCCESS) {
    job_set_error(job, "MPI_Allreduce failed while checking dynamic_map");
    return MPIMR_ERR_MPI;
  }
  if (all[0] && all[1]) {
    job_set_error(job, "dynamic_map is set on some ranks and not on others: set it alike on every rank");
    return MPIMR_ERR_INVAL;
  }
  return MPIMR_OK;
}

static int plan_map(mpimr_job *job) {
  map_task *m = &job->map;
  m->job = job;
  m->emitter = &job->map_emitter;
  m->read_bytes = job->config.read_bytes;
  m->figures = &job->stats;
  mpimr_future_init(&m->base, job_map_poll);
  if (job->config.map_local) {
    m->next_index = 0;
    m->end_index = job->config.local_count;
    return MPIMR_OK;
  }
  if (job->config.map_pair) {
    m->pair_cursor = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
    m->next_pair = 0;
    m->end_pair = mpimr_dataset_local_count(job->config.input_dataset);
    return MPIMR_OK;
  }
  if (job->config.map_index) {
    uint64_t n = job->config.index_count;
    m->next_index = (uint64_t)(((__uint128_t)n * (unsigned)job->rank) / (unsigned)job->nranks);
    m->end_index = (uint64_t)(((__uint128_t)n * (unsigned)(job->rank + 1)) / (unsigned)job->nranks);
    return check_dynamic_map_alike(job);
  }
  int rc = share_input_list(job);
  if (rc != MPIMR_OK) return rc;
  if ((rc = check_dynamic_map_alike(job)) != MPIMR_OK) return rc;
  m->pieces = malloc((job->inputs.count ? job->inputs.count : 1) * sizeof *m->pieces);
  rc = m->pieces ? MPIMR_OK : MPIMR_ERR_NOMEM;
  if (rc == MPIMR_OK)
    m->piece_count = input_split(&job->inputs, job->rank, job->nranks, m->pieces);
  else
    job_set_error(job, "out of memory planning the input split");
  return job_agree(job, rc);
}

/* ---- the job as a future ----------------------------------------------- */

/*
 * After mpimr_job_start() the job runs as one future on its executor, beside the map and the shuffle
 * driver: it waits for both, agrees on the outcome with the other ranks by MPI_Iallreduce through
 * the reactor, reduces and writes the part in one step, agrees again, and has rank 0 mark the output
 * complete (the mark's outcome shared by MPI_Ibcast). No step blocks on another rank, so the
 * application can run its own work between mpimr_job_test() calls.
 */
enum job_phase {
  PHASE_MAP,            /* waiting for the map future */
  PHASE_SHUFFLE,        /* waiting for the last shuffle round */
  PHASE_SPILL_WRITES,   /* waiting for background spill writes */
  PHASE_SHUFFLE_AGREED, /* the agreement on map and shuffle is in flight */
  PHASE_OUTPUT_AGREED,  /* the agreement on the reduce and the part is in flight */
  PHASE_COUNTERS_SIZED, /* the sizes of the ranks' packed counters are being gathered */
  PHASE_COUNTERS_SHARED, /* the packed counters are being gathered */
  PHASE_MARKER_SHARED,  /* rank 0's outcome of writing _SUCCESS is being broadcast */
  PHASE_CLOSING         /* the outcome is known; the stall watch drains its messages, the display ends */
};

static const char *const phase_names[] = {"map",          "shuffle",     "spill writes",  "shuffle agreement",
                                          "output agreement", "counters", "counters", "output commit",
                                          "closing"};

/* The job's phase as the stall watch and the display name it. */
static const char *phase_name(const mpimr_job *job) {
  int state = job->task.state;
  if (state == PHASE_MAP && mpimr_future_is_done(&job->map.base)) return "shuffle"; /* rounds still in flight */
  return state >= 0 && state <= PHASE_CLOSING ? phase_names[state] : "unknown";
}

/* The job's phase and shuffle round, for the stall watch's messages. */
static void locate_job(void *context, char *phase, size_t size, int64_t *round) {
  const mpimr_job *job = context;
  snprintf(phase, size, "%s", phase_name(job));
  *round = job->shuffle ? (int64_t)shuffle_rounds_received(job->shuffle) : -1;
}

static mpimr_job *job_of_task(mpimr_future *task) {
  return (mpimr_job *)(void *)((char *)task - offsetof(mpimr_job, task));
}

/* Hands `count` collective requests to the reactor; the task is woken when all have completed. */
static void await_collectives(mpimr_job *job, mpimr_executor *ex, MPI_Request *requests, int count) {
  if (mpimr_future_await_requests(ex, &job->task, &job->agreement, requests, count) != MPIMR_OK) {
    /* No room in the reactor: finish these collectives here. */
    job->agreement.error = MPI_Waitall(count, requests, MPI_STATUSES_IGNORE) == MPI_SUCCESS ? MPI_SUCCESS : MPI_ERR_OTHER;
    mpimr_future_wake(ex, &job->task);
  }
}

static void await_collective(mpimr_job *job, mpimr_executor *ex, MPI_Request request) {
  await_collectives(job, ex, &request, 1);
}

/* Starts agreeing on `status` with the other ranks (and, with `sum_bad_records`, summing the map
 * records they skipped into job->bad_total); the task is woken when every rank has. */
static int post_agreement(mpimr_job *job, mpimr_executor *ex, int status, int sum_bad_records) {
  if (status == MPIMR_OK) status = job_check_signal(job);
  job->agree_in = status;
  MPI_Request requests[2];
  int count = 0;
  if (MPI_Iallreduce(&job->agree_in, &job->agree_out, 1, MPI_INT, MPI_MIN, job->comm, &requests[count++]) !=
          MPI_SUCCESS ||
      (sum_bad_records && MPI_Iallreduce(&job->bad.count, &job->bad_total, 1, MPI_UINT64_T, MPI_SUM, job->comm,
                                         &requests[count++]) != MPI_SUCCESS)) {
    job_set_error(job, "MPI_Iallreduce failed while agreeing on the job's status");
    return MPIMR_ERR_MPI;
  }
  await_collectives(job, ex, requests, count);
  return MPIMR_OK;
}

/* The agreed status, as job_agree() gives it. */
static int agreement_outcome(mpimr_job *job) {
  if (job->agreement.error != MPI_SUCCESS) {
    job_set_error(job, "MPI_Iallreduce failed while agreeing on the job's status");
    return MPIMR_ERR_MPI;
  }
  if (job->agree_out == MPIMR_OK) return MPIMR_OK;
  if (job->agree_in != MPIMR_OK) return job->agree_in;
  job_note_remote_failure(job);
  return MPIMR_ERR_REMOTE;
}

/* This rank's outcome of map and shuffle, and the figures; MPIMR_ERR_MPI means out of step. */
static int shuffle_outcome(mpimr_job *job) {
  double shuffle_end = clock_now();
  job_note_memory(job); /* the reduce side's table is complete */
  job->stats.time_shuffle = shuffle_end - job->map_ended_at;
  trace_span(&job->trace, TRACE_SHUFFLE_TAIL, job->map_ended_at, shuffle_end, 0);
  const shuffle_counters *counters = shuffle_get_counters(job->shuffle);
  job->stats.rounds = counters->rounds;
  job->stats.pairs_sent = counters->pairs_sent;
  job->stats.bytes_sent = counters->bytes_sent;
  job->stats.bytes_received = counters->bytes_received;
  job->stats.bad_records = job->bad.count;
  int status = shuffle_status(job->shuffle);
  int rc = job->map.base.result, driver_rc = shuffle_driver(job->shuffle)->result;
  if (status == MPIMR_OK && rc == MPIMR_OK && driver_rc == MPIMR_OK && job->spill_status != MPIMR_OK)
    rc = job->spill_status; /* a background write failed after the last round */
  if (status == MPIMR_OK && rc == MPIMR_OK && driver_rc == MPIMR_OK) return MPIMR_OK;
  if (status == MPIMR_OK && rc != MPIMR_OK) status = rc;
  if (status == MPIMR_OK && driver_rc != MPIMR_OK) status = driver_rc;
  if (status == MPIMR_ERR_MPI || driver_rc == MPIMR_ERR_MPI) {
    /* The protocol lost step with the other ranks: no collective can be trusted to finish. */
    job_set_error(job, "%s", shuffle_error_detail(job->shuffle));
    return MPIMR_ERR_MPI;
  }
  if (status == MPIMR_ERR_REMOTE)
    job_note_remote_failure(job);
  else if (status != MPIMR_OK && shuffle_error_detail(job->shuffle)[0])
    job_set_error(job, "%s", shuffle_error_detail(job->shuffle));
  /* Every rank knows of errors flagged in round headers; one that came after the last round
   * (while folding it in) is known only here, so the ranks job_agree once more. */
  return status;
}

/* Reduces and writes this rank's part, and renames it into place in the staging directory
 * (job->committed_part). */
static int write_part(mpimr_job *job) {
  part_writer writer;
  memset(&writer, 0, sizeof writer);
  writer.fd = -1;
  int rc = MPIMR_OK;
  if (job->files_output) {
    rc = job->output.staging ? part_writer_open(&writer, job->output.staging, job->rank) : MPIMR_ERR_NOMEM;
    if (rc != MPIMR_OK)
      job_set_error(job, "output '%s': %s",
                    writer.temporary_path ? writer.temporary_path : job->config.output_dir,
                    rc == MPIMR_ERR_IO ? strerror(writer.error) : mpimr_strerror(rc));
  }
  if (rc == MPIMR_OK) rc = job_reduce_and_write(job, &writer);
  job->commit_started_at = clock_now();
  if (job->files_output && rc == MPIMR_OK) {
    char *path = strdup(writer.final_path);
    rc = path ? part_writer_commit(&writer) : MPIMR_ERR_NOMEM;
    job->stats.bytes_output = writer.bytes_written;
    if (rc != MPIMR_OK)
      job_set_error(job, "output '%s': %s", path ? path : "part",
                    rc == MPIMR_ERR_IO ? strerror(writer.error) : mpimr_strerror(rc));
    if (rc == MPIMR_OK)
      job->committed_part = path;
    else
      free(path);
  }
  if (job->files_output) part_writer_abandon(&writer);
  return rc;
}

/* Starts sharing rank 0's outcome of publishing the result (with its message) with every rank. */
static int post_marker_outcome(mpimr_job *job, mpimr_executor *ex) {
  if (job->rank == 0) {
    char message[512] = "";
    int status = output_publish(&job->output, job->nranks, message, sizeof message);
    memcpy(job->marker_packet, &status, sizeof status);
    snprintf(job->marker_packet + sizeof status, sizeof job->marker_packet - sizeof status, "%s", message);
  }
  MPI_Request request;
  if (MPI_Ibcast(job->marker_packet, (int)sizeof job->marker_packet, MPI_CHAR, 0, job->comm, &request) !=
      MPI_SUCCESS) {
    job_set_error(job, "output: MPI_Ibcast of the commit's outcome failed");
    return MPIMR_ERR_MPI;
  }
  await_collective(job, ex, request);
  return MPIMR_OK;
}

/* The outcome of the whole commit, the same on every rank. */
static int marker_outcome(mpimr_job *job) {
  if (job->agreement.error != MPI_SUCCESS) {
    job_set_error(job, "output: MPI_Ibcast of the commit's outcome failed");
    return MPIMR_ERR_MPI;
  }
  int status;
  memcpy(&status, job->marker_packet, sizeof status);
  if (status != MPIMR_OK) job_set_error(job, "%s", job->marker_packet + sizeof status);
  return status;
}

/* ---- skipped records, counters, the display's figures ----------------- */

/* Where the list of skipped records goes (malloc'd): bad_records_path, else the output directory's
 * _bad_records when the job writes files; NULL: no list. Ranks stage their lines at
 * `*prefix`.RANK: the staging directory's _bad_records (publishing gathers them with the parts),
 * or the list's own path (gathered after the agreement that follows map). */
static char *bad_records_list(const mpimr_job *job, char **prefix, int *with_commit) {
  *prefix = NULL;
  *with_commit = 0;
  if (job->config.bad_records_path != NULL) {
    *prefix = strdup(job->config.bad_records_path);
    return strdup(job->config.bad_records_path);
  }
  if (!job->files_output || job->output.staging == NULL) return NULL;
  *with_commit = 1;
  *prefix = files_join(job->output.staging, OUTPUT_BAD_RECORDS_NAME);
  return files_join(job->config.output_dir, OUTPUT_BAD_RECORDS_NAME);
}

/* Before the agreement that follows map, whatever this rank's outcome: its skipped records' lines
 * (perhaps none: then an empty file, so that rank 0 never takes an older run's) are staged for
 * rank 0. */
static int stage_bad_records(mpimr_job *job) {
  if (job->config.max_bad_records == 0) return MPIMR_OK;
  char *prefix;
  int with_commit;
  char *list = bad_records_list(job, &prefix, &with_commit);
  int rc = MPIMR_OK;
  char message[512] = "";
  if (list != NULL)
    rc = prefix ? output_stage_bad_records(prefix, job->rank, job->bad.lines ? job->bad.lines : "", job->bad.length,
                                           message, sizeof message)
                : MPIMR_ERR_NOMEM;
  if (rc != MPIMR_OK) job_set_error(job, "%s", message[0] ? message : "out of memory staging skipped records");
  free(list);
  free(prefix);
  return rc;
}

/* Where a failed job's list goes: `_bad_records`, unless the directory holds an older result, which
 * stays as it was (`_bad_records.failed` then). Rank 0; malloc'd. */
static char *failed_list_path(const mpimr_job *job, const char *list, int with_commit) {
  char *marker = with_commit ? files_join(job->config.output_dir, "_SUCCESS") : NULL;
  int older_result = marker != NULL && access(marker, F_OK) == 0;
  free(marker);
  return older_result ? files_join(job->config.output_dir, OUTPUT_BAD_RECORDS_NAME ".failed") : strdup(list);
}

/* Rank 0's part, once every rank has staged its lines: the list now (at most the limit + 1 lines
 * when `over`), unless publishing writes it (a job that writes files and succeeds); or, with
 * nothing to list, the staged files removed. A failure here is rank 0's alone: it says so and
 * the job goes on (the list is the job's report, not its result). */
static void list_bad_records(mpimr_job *job, int rc, int over) {
  char *prefix;
  int with_commit;
  char *list = bad_records_list(job, &prefix, &with_commit);
  if (list == NULL || prefix == NULL) {
    if (list != NULL) fprintf(stderr, "mpimr: warning: rank 0: out of memory listing skipped records\n");
    free(list);
    free(prefix);
    return;
  }
  char message[512] = "";
  int listed = MPIMR_OK;
  if (with_commit && rc == MPIMR_OK && !over) {
    job->output.bad_record_lines = job->bad_total; /* output_publish() gathers them with the parts */
  } else if (over || (rc == MPIMR_OK && job->bad_total > 0)) {
    char *target = over ? failed_list_path(job, list, with_commit) : strdup(list);
    listed = target ? output_gather_bad_records(prefix, job->nranks, over ? job->config.max_bad_records + 1 : job->bad_total,
                                                target, message, sizeof message)
                    : MPIMR_ERR_NOMEM;
    free(target);
  } else {
    output_discard_bad_records(prefix, job->nranks);
  }
  if (listed != MPIMR_OK)
    fprintf(stderr, "mpimr: warning: rank 0: %s\n", message[0] ? message : "out of memory listing skipped records");
  free(list);
  free(prefix);
}

/* After that agreement (every rank knows the sum of skipped records, whatever the outcome): rank 0
 * lists them; more than allowed fails the job on every rank, each naming the last it skipped. */
static int settle_bad_records(mpimr_job *job, int rc) {
  uint64_t limit = job->config.max_bad_records;
  if (limit == 0) return rc;
  int over = job->bad_total > limit;
  if (job->rank == 0) list_bad_records(job, rc, over);
  if (!over || rc != MPIMR_OK) return rc; /* a rank over the limit alone failed at once, naming its record */
  if (job->bad.count > 0)
    job_set_error(job, "map: %" PRIu64 " bad records over the whole job, more than max_bad_records (%" PRIu64
                       "); the last on this rank: %s",
                  job->bad_total, limit, job->bad.last);
  else
    job_set_error(job, "map: stopped: %" PRIu64 " bad records over the whole job, more than max_bad_records (%" PRIu64
                       ") (the ranks that skipped them name them)",
                  job->bad_total, limit);
  return MPIMR_ERR_USER;
}

/* The framework's figures as counters, beside the program's own. */
static int add_framework_counters(mpimr_job *job) {
  const mpimr_job_stats *st = &job->stats;
  const struct {
    const char *name;
    uint64_t value;
  } figures[] = {{"mpimr.input_bytes", st->input_bytes},
                 {"mpimr.input_records", st->input_records},
                 {"mpimr.pairs_emitted", st->pairs_emitted},
                 {"mpimr.pairs_sent", st->pairs_sent},
                 {"mpimr.keys_reduced", st->keys_reduced},
                 {"mpimr.pairs_output", st->pairs_output},
                 {"mpimr.bytes_output", st->bytes_output},
                 {"mpimr.bad_records", job->bad.count},
                 {"mpimr.spill_bytes", job->spill.bytes_written + job->output_spill.bytes_written}};
  for (size_t i = 0; i < sizeof figures / sizeof figures[0]; i++) {
    mpimr_counter *counter = counter_set_find(&job->counters, figures[i].name);
    if (counter == NULL) return MPIMR_ERR_NOMEM;
    counter->value = figures[i].value;
  }
  return MPIMR_OK;
}

/* Packs this rank's counters and starts gathering every rank's size. */
static int post_counter_sizes(mpimr_job *job, mpimr_executor *ex) {
  size_t size = 0;
  int rc = add_framework_counters(job);
  if (rc == MPIMR_OK) job->counter_packed = counter_set_pack(&job->counters, &size);
  job->counter_sizes = calloc((size_t)job->nranks, sizeof *job->counter_sizes);
  job->counter_displs = calloc((size_t)job->nranks, sizeof *job->counter_displs);
  /* A rank short of memory for its packed counters sends none (then no rank has totals: reading them
   * says MPIMR_ERR_STATE): the job stays in step. */
  job->counter_packed_size = job->counter_packed && size <= INT_MAX ? (int)size : 0;
  if (job->counter_sizes == NULL || job->counter_displs == NULL) {
    job_set_error(job, "out of memory gathering the counters");
    return MPIMR_ERR_MPI; /* the other ranks are in the collective already: out of step */
  }
  MPI_Request request;
  if (MPI_Iallgather(&job->counter_packed_size, 1, MPI_INT, job->counter_sizes, 1, MPI_INT, job->comm,
                     &request) != MPI_SUCCESS) {
    job_set_error(job, "MPI_Iallgather of the counters' sizes failed");
    return MPIMR_ERR_MPI;
  }
  await_collective(job, ex, request);
  return MPIMR_OK;
}

/* Starts gathering every rank's packed counters. */
static int post_counters(mpimr_job *job, mpimr_executor *ex) {
  if (job->agreement.error != MPI_SUCCESS) {
    job_set_error(job, "MPI_Iallgather of the counters' sizes failed");
    return MPIMR_ERR_MPI;
  }
  size_t total = 0;
  for (int r = 0; r < job->nranks; r++) {
    job->counter_displs[r] = (int)total;
    total += (size_t)job->counter_sizes[r];
  }
  if (total > INT_MAX) {
    job_set_error(job, "the counters of all ranks take over 2 GiB");
    return MPIMR_ERR_MPI;
  }
  job->counter_gathered = malloc(total ? total : 1);
  if (job->counter_gathered == NULL) {
    job_set_error(job, "out of memory gathering the counters");
    return MPIMR_ERR_MPI;
  }
  MPI_Request request;
  if (MPI_Iallgatherv(job->counter_packed, job->counter_packed_size, MPI_BYTE, job->counter_gathered,
                      job->counter_sizes, job->counter_displs, MPI_BYTE, job->comm, &request) != MPI_SUCCESS) {
    job_set_error(job, "MPI_Iallgatherv of the counters failed");
    return MPIMR_ERR_MPI;
  }
  await_collective(job, ex, request);
  return MPIMR_OK;
}

/* Sums every rank's counters; a local failure leaves the totals unread (not the job failed). */
static int sum_counters(mpimr_job *job) {
  if (job->agreement.error != MPI_SUCCESS) {
    job_set_error(job, "MPI_Iallgatherv of the counters failed");
    return MPIMR_ERR_MPI;
  }
  int complete = 1, rc = MPIMR_OK;
  for (int r = 0; r < job->nranks && rc == MPIMR_OK; r++) {
    complete &= job->counter_sizes[r] > 0; /* every rank has framework counters, unless out of memory */
    rc = counter_set_add_packed(&job->counter_totals, job->counter_gathered + job->counter_displs[r],
                                (size_t)job->counter_sizes[r]);
  }
  job->counters_summed = complete && rc == MPIMR_OK;
  free(job->counter_packed);
  free(job->counter_gathered);
  free(job->counter_sizes);
  free(job->counter_displs);
  job->counter_packed = job->counter_gathered = NULL;
  job->counter_sizes = job->counter_displs = NULL;
  return MPIMR_OK;
}

/* The whole input in the display's units: bytes of the files, or the index range's length. */
static void measure_input(mpimr_job *job) {
  job->input_in_bytes = job->config.map_index == NULL && job->config.map_local == NULL &&
                        job->config.map_pair == NULL;
  job->input_total = 0;
  if (job->config.map_index != NULL) job->input_total = job->config.index_count;
  if (job->input_in_bytes)
    for (size_t i = 0; i < job->inputs.count; i++) job->input_total += job->inputs.files[i].size;
}

/* This rank's own figures for the progress display (rank 0 adds the other ranks' reports). */
static void sample_progress(void *context, progress_figures *f) {
  mpimr_job *job = context;
  int state = job->task.state;
  f->phase = state == PHASE_CLOSING     ? ""
             : job->reducing            ? "reduce"
             : state > PHASE_SHUFFLE_AGREED ? "output"
             : state == PHASE_MAP && !mpimr_future_is_done(&job->map.base) ? "map"
                                        : "shuffle";
  f->total = job->input_total;
  f->in_bytes = job->input_in_bytes;
  f->mapped = job->input_in_bytes ? job->stats.input_bytes : job->stats.input_records;
  f->spilled_bytes = job->spill.bytes_written + job->output_spill.bytes_written;
  f->bad_records = job->bad.count;
  f->rounds = job->shuffle ? shuffle_get_counters(job->shuffle)->rounds : job->stats.rounds;
}

/* Takes the spill figures and removes every run and spill directory, whatever the outcome. */
static void finish_spilling(mpimr_job *job) {
  const spill_area *areas[2] = {&job->spill, &job->output_spill};
  for (int i = 0; i < 2; i++) {
    job->stats.spill_bytes += areas[i]->bytes_written;
    job->stats.spill_runs += areas[i]->runs_spilled;
    job->stats.merge_passes += areas[i]->merge_passes;
  }
  if (job->spill.parent) spill_area_destroy(&job->spill);
  if (job->output_spill.parent) spill_area_destroy(&job->output_spill);
}

/* Cleans up after the job, whatever its outcome, and returns the outcome. */
static int job_finish(mpimr_job *job, int rc) {
  if (job->committed_part != NULL && rc != MPIMR_OK) unlink(job->committed_part); /* no half result */
  free(job->committed_part);
  job->committed_part = NULL;
  if (job->commit_started_at != 0) job->stats.time_output += clock_now() - job->commit_started_at;
  finish_spilling(job);
  /* Every rank knows the outcome (unless out of step): after a failure the staging directory and the
   * lock go, and a directory the job made goes if empty; an older result stays as it was. */
  if (job->output.held)
    output_claim_release(&job->output, job->comm, rc != MPIMR_OK && !mpimr_status_needs_abort(rc));
  if (rc != MPIMR_OK && job->config.output_dataset) mpimr_dataset_clear(job->config.output_dataset);
  job->stats.time_total = clock_now() - job->started_at;
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) == 0) job->stats.peak_rss_bytes = (uint64_t)usage.ru_maxrss * 1024;
  /* The timeline is written for failed jobs too (it shows where they stopped), unless the ranks
   * are out of step and no collective is safe. */
  if (job->config.trace_path && !mpimr_status_needs_abort(rc)) {
    char message[512] = "";
    int traced = trace_write(&job->trace, job->comm, job->config.trace_path, message, sizeof message);
    if (traced != MPIMR_OK && rc == MPIMR_OK) {
      job_set_error(job, "%s", message[0] ? message : "writing the trace failed");
      rc = traced;
    }
  }
  return rc;
}

/* The job's last step: the display's future and the stall watch's messages finish first (neither
 * may outlive the job: the watch's messages would reach the next communicator, the display reads the
 * job); then job_finish. */
static mpimr_poll_result close_job(mpimr_job *job) {
  mpimr_future *display = progress_future(&job->progress);
  if (display != NULL && !mpimr_future_join(&job->task, display)) return MPIMR_PENDING;
  /* Dynamic map's server ends with the barrier every rank joins at the end of its map (in step). */
  mpimr_future *server = mpimr_status_needs_abort(job->closing_status) ? NULL : work_share_future(&job->share);
  if (server != NULL && !mpimr_future_join(&job->task, server)) return MPIMR_PENDING;
  if (job->closing_watch && !mpimr_future_join(&job->task, stall_watch_future(&job->watch))) return MPIMR_PENDING;
  job->task.result = job_finish(job, job->closing_status);
  if (job->task.result != MPIMR_OK) job->counters_summed = 0; /* a job that failed has no totals */
  return MPIMR_READY;
}

static mpimr_poll_result task_finish(mpimr_job *job, int rc) {
  job->task.state = PHASE_CLOSING;
  if (mpimr_status_needs_abort(rc)) work_share_abandon(&job->share);
  progress_stop(&job->progress, job->executor, rc);
  job->closing_watch = stall_watch_close(&job->watch, job->executor, rc);
  job->closing_status = rc;
  return close_job(job);
}

static mpimr_poll_result job_poll(mpimr_future *self, mpimr_executor *ex) {
  mpimr_job *job = job_of_task(self);
  int rc = stall_watch_status(&job->watch);
  if (rc != MPIMR_OK) { /* a rank stalled: end here, out of step, without another collective */
    job_set_error(job, "%s", stall_watch_message(&job->watch));
    return task_finish(job, rc);
  }
  /* Dynamic map's messages failed (perhaps after this rank's map, while answering another rank):
   * another rank may wait for an answer that will not come, so end here, out of step. */
  if (job->dynamic && job->share.failed &&
      !(self->state == PHASE_CLOSING && mpimr_status_needs_abort(job->closing_status))) {
    if (job->error_message[0] == '\0') /* else the failure that came first keeps its message */
      job_set_error(job, "dynamic map: a message to or from another rank failed (MPI, or no room in the reactor)");
    return task_finish(job, MPIMR_ERR_MPI);
  }
  switch ((enum job_phase)self->state) {
    case PHASE_MAP:
      if (!mpimr_future_join(self, &job->map.base)) return MPIMR_PENDING;
      job->map_ended_at = clock_now();
      if (job->stats.time_map == 0) job->stats.time_map = job->map_ended_at - job->started_at;
      self->state = PHASE_SHUFFLE;
      /* fall through */
    case PHASE_SHUFFLE:
      if (!mpimr_future_join(self, shuffle_driver(job->shuffle))) return MPIMR_PENDING;
      self->state = PHASE_SPILL_WRITES;
      /* fall through */
    case PHASE_SPILL_WRITES:
      if (job->writer.running && !mpimr_future_join(self, &job->writer.base)) return MPIMR_PENDING;
      progress_close(&job->progress, ex); /* this rank's figures are final */
      rc = shuffle_outcome(job);
      if (rc == MPIMR_ERR_MPI) return task_finish(job, rc);
      int staged = stage_bad_records(job);
      if (rc == MPIMR_OK) rc = staged;
      rc = post_agreement(job, ex, rc, job->config.max_bad_records > 0);
      if (rc != MPIMR_OK) return task_finish(job, rc);
      self->state = PHASE_SHUFFLE_AGREED;
      return MPIMR_PENDING;
    case PHASE_SHUFFLE_AGREED:
      rc = agreement_outcome(job);
      if (rc != MPIMR_ERR_MPI) rc = settle_bad_records(job, rc);
      if (rc != MPIMR_OK) return task_finish(job, rc);
      /* Done with the round buffers: their memory goes to reduce, unless the shuffle is to serve
       * the workspace's next job (mpimr_job_free() hands it over). */
      if (job->config.workspace == NULL) {
        shuffle_free(job->shuffle);
        job->shuffle = NULL;
      }
      job->reducing = 1;
      progress_show(&job->progress); /* reduce and writing the part are one step: say so first */
      rc = write_part(job);
      job->reducing = 0;
      rc = post_agreement(job, ex, rc, 0);
      if (rc != MPIMR_OK) return task_finish(job, rc);
      self->state = PHASE_OUTPUT_AGREED;
      return MPIMR_PENDING;
    case PHASE_OUTPUT_AGREED:
      rc = agreement_outcome(job);
      if (rc != MPIMR_OK) return task_finish(job, rc);
      rc = post_counter_sizes(job, ex);
      if (rc != MPIMR_OK) return task_finish(job, rc);
      self->state = PHASE_COUNTERS_SIZED;
      return MPIMR_PENDING;
    case PHASE_COUNTERS_SIZED:
      rc = post_counters(job, ex);
      if (rc != MPIMR_OK) return task_finish(job, rc);
      self->state = PHASE_COUNTERS_SHARED;
      return MPIMR_PENDING;
    case PHASE_COUNTERS_SHARED:
      rc = sum_counters(job);
      if (rc != MPIMR_OK || !job->files_output) return task_finish(job, rc);
      rc = post_marker_outcome(job, ex);
      if (rc != MPIMR_OK) return task_finish(job, rc);
      self->state = PHASE_MARKER_SHARED;
      return MPIMR_PENDING;
    case PHASE_MARKER_SHARED: return task_finish(job, marker_outcome(job));
    case PHASE_CLOSING: return close_job(job);
  }
  return task_finish(job, MPIMR_ERR_STATE);
}

int mpimr_job_start(mpimr_job *job) {
  if (job == NULL) return MPIMR_ERR_INVAL;
  if (job->ran) {
    job_set_error(job, "a job runs only once");
    return MPIMR_ERR_STATE;
  }
  job->ran = 1;
  job->started_at = clock_now();
  trace_init(&job->trace, job->config.trace_path != NULL, job->started_at);
  shuffle_set_trace(job->shuffle, job->config.trace_path ? &job->trace : NULL);
  mpimr_future_init(&job->task, job_poll);
  int rc = MPIMR_OK;
  if (job->files_output) {
    char message[512] = "";
    rc = output_claim_take(&job->output, job->comm, job->config.output_dir, job->config.overwrite, message,
                           sizeof message);
    if (rc != MPIMR_OK) job_set_error(job, "%s", message);
  }
  if (rc == MPIMR_OK) rc = plan_map(job);
  if (rc == MPIMR_OK && job->ranged) {
    rc = job_choose_splitters(job);
    /* The sample maps records the job maps again: what its map calls counted is taken back (no
     * counter had been added to before it). */
    counter_set_zero(&job->counters);
  }
  if (rc != MPIMR_OK) {
    job->outcome = job_finish(job, rc);
    job->finished_early = 1;
    return job->outcome;
  }
  /* Dynamic map (files or map_index): the map takes chunks from job->share, starting with this rank's
   * own. Local and dataset input stay where they are. */
  job->dynamic = job->config.dynamic_map && job->config.map_local == NULL && job->config.map_pair == NULL;
  if (job->dynamic) {
    work_share_start(&job->share, job->executor, job->comm, job->rank, job->nranks, &job->task);
    /* plan_map's static split (the sample read it): the chunks replace it */
    job->map.piece_count = job->map.next_piece = 0;
    job->map.next_index = job->map.end_index = 0;
  }
  mpimr_executor_spawn(job->executor, shuffle_driver(job->shuffle));
  mpimr_executor_spawn(job->executor, &job->map.base);
  mpimr_executor_spawn(job->executor, &job->task);
  /* Every rank reports to rank 0 whenever the setting is not OFF (only rank 0 knows whether it shows). */
  if (job->config.progress != MPIMR_PROGRESS_OFF && job->nranks > 0) {
    measure_input(job);
    mpimr_progress display = progress_resolve(job->config.progress, job->rank, stderr);
    double interval = job->config.progress_interval_seconds > 0     ? job->config.progress_interval_seconds
                      : job->config.progress == MPIMR_PROGRESS_PLAIN ? 10.0
                                                                     : 1.0; /* the same on every rank */
    progress_start(&job->progress, job->executor, job->comm, job->rank, job->nranks, display, interval, stderr,
                   sample_progress, job, job->started_at);
    stall_watch_ignore_polls(&job->watch, &job->progress.polls);
  }
  stall_watch_start(&job->watch, job->executor, locate_job, job, &job->task);
  return MPIMR_OK;
}

int mpimr_job_test(mpimr_job *job, int *done) {
  if (job == NULL || done == NULL) return MPIMR_ERR_INVAL;
  *done = 0;
  if (!job->ran) {
    job_set_error(job, "the job was not started");
    return MPIMR_ERR_STATE;
  }
  if (job->finished_early) {
    *done = 1;
    return job->outcome;
  }
  if (!mpimr_future_is_done(&job->task)) {
    int work = mpimr_executor_tick(job->executor);
    if (work < 0) {
      job_set_error(job, "the executor failed: %s", mpimr_strerror(work));
      job->outcome = work;
      job->finished_early = 1; /* out of step with the other ranks: nothing more can run */
      *done = 1;
      return work;
    }
  }
  if (!mpimr_future_is_done(&job->task)) return MPIMR_OK;
  *done = 1;
  return job->task.result;
}

int mpimr_job_wait(mpimr_job *job) {
  if (job == NULL) return MPIMR_ERR_INVAL;
  if (!job->ran) {
    job_set_error(job, "the job was not started");
    return MPIMR_ERR_STATE;
  }
  if (job->finished_early) return job->outcome;
  int rc = mpimr_executor_block_on(job->executor, &job->task);
  if (!mpimr_future_is_done(&job->task)) {
    job_set_error(job, "the executor failed: %s", mpimr_strerror(rc));
    job->outcome = rc;
    job->finished_early = 1;
  }
  return rc;
}

int mpimr_job_wait_for(mpimr_job *job, double seconds, int *done) {
  if (done != NULL) *done = 0;
  if (job == NULL || done == NULL || !(seconds >= 0)) return MPIMR_ERR_INVAL;
  if (!job->ran) {
    job_set_error(job, "the job was not started");
    return MPIMR_ERR_STATE;
  }
  if (job->finished_early) {
    *done = 1;
    return job->outcome;
  }
  int rc = mpimr_executor_block_on_for(job->executor, &job->task, seconds, done);
  if (!*done && rc != MPIMR_OK) { /* the executor failed: out of step with the other ranks */
    job_set_error(job, "the executor failed: %s", mpimr_strerror(rc));
    job->outcome = rc;
    job->finished_early = 1;
    *done = 1;
  }
  return rc;
}

int mpimr_job_run(mpimr_job *job) {
  int rc = mpimr_job_start(job);
  return rc == MPIMR_OK ? mpimr_job_wait(job) : rc;
}
