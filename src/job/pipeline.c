/*
 * job/pipeline.c — the job as a future: the input listed and split, the phases (map, shuffle,
 * spill writes, agreements, commit), the stall watch's close, and start, test, wait and run.
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
    return MPIMR_OK;
  }
  int rc = share_input_list(job);
  if (rc != MPIMR_OK) return rc;
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
  PHASE_MARKER_SHARED,  /* rank 0's outcome of writing _SUCCESS is being broadcast */
  PHASE_CLOSING         /* the outcome is known; the stall watch drains its messages */
};

/* The job's phase and shuffle round, for the stall watch's messages. */
static void locate_job(void *context, char *phase, size_t size, int64_t *round) {
  static const char *const names[] = {
      "map", "shuffle", "spill writes", "shuffle agreement", "output agreement", "output commit", "closing"};
  const mpimr_job *job = context;
  int state = job->task.state;
  snprintf(phase, size, "%s", state >= 0 && state <= PHASE_CLOSING ? names[state] : "unknown");
  *round = job->shuffle ? (int64_t)shuffle_rounds_received(job->shuffle) : -1;
}

static mpimr_job *job_of_task(mpimr_future *task) {
  return (mpimr_job *)(void *)((char *)task - offsetof(mpimr_job, task));
}

/* Hands one collective request to the reactor; the task is woken when it completes. */
static void await_collective(mpimr_job *job, mpimr_executor *ex, MPI_Request request) {
  if (mpimr_future_await_requests(ex, &job->task, &job->agreement, &request, 1) != MPIMR_OK) {
    /* No room in the reactor: finish this one collective here. */
    job->agreement.error = MPI_Wait(&request, MPI_STATUS_IGNORE);
    mpimr_future_wake(ex, &job->task);
  }
}

/* Starts agreeing on `status` with the other ranks; the task is woken when every rank has. */
static int post_agreement(mpimr_job *job, mpimr_executor *ex, int status) {
  if (status == MPIMR_OK) status = job_check_signal(job);
  job->agree_in = status;
  MPI_Request request;
  if (MPI_Iallreduce(&job->agree_in, &job->agree_out, 1, MPI_INT, MPI_MIN, job->comm, &request) !=
      MPI_SUCCESS) {
    job_set_error(job, "MPI_Iallreduce failed while agreeing on the job's status");
    return MPIMR_ERR_MPI;
  }
  await_collective(job, ex, request);
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

static mpimr_poll_result task_finish(mpimr_job *job, int rc) {
  /* The stall watch's probes and replies are drained first: none may outlive the communicator. */
  if (stall_watch_close(&job->watch, job->executor, rc)) {
    job->closing_status = rc;
    job->task.state = PHASE_CLOSING;
    if (mpimr_future_join(&job->task, stall_watch_future(&job->watch)))
      mpimr_future_wake(job->executor, &job->task);
    return MPIMR_PENDING;
  }
  job->task.result = job_finish(job, rc);
  return MPIMR_READY;
}

static mpimr_poll_result job_poll(mpimr_future *self, mpimr_executor *ex) {
  mpimr_job *job = job_of_task(self);
  int rc = stall_watch_status(&job->watch);
  if (rc != MPIMR_OK) { /* a rank stalled: end here, out of step, without another collective */
    job_set_error(job, "%s", stall_watch_message(&job->watch));
    return task_finish(job, rc);
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
      rc = shuffle_outcome(job);
      if (rc == MPIMR_ERR_MPI) return task_finish(job, rc);
      rc = post_agreement(job, ex, rc);
      if (rc != MPIMR_OK) return task_finish(job, rc);
      self->state = PHASE_SHUFFLE_AGREED;
      return MPIMR_PENDING;
    case PHASE_SHUFFLE_AGREED:
      rc = agreement_outcome(job);
      if (rc != MPIMR_OK) return task_finish(job, rc);
      /* Done with the round buffers: their memory goes to reduce, unless the shuffle is to serve
       * the workspace's next job (mpimr_job_free() hands it over). */
      if (job->config.workspace == NULL) {
        shuffle_free(job->shuffle);
        job->shuffle = NULL;
      }
      rc = post_agreement(job, ex, write_part(job));
      if (rc != MPIMR_OK) return task_finish(job, rc);
      self->state = PHASE_OUTPUT_AGREED;
      return MPIMR_PENDING;
    case PHASE_OUTPUT_AGREED:
      rc = agreement_outcome(job);
      if (rc != MPIMR_OK || !job->files_output) return task_finish(job, rc);
      rc = post_marker_outcome(job, ex);
      if (rc != MPIMR_OK) return task_finish(job, rc);
      self->state = PHASE_MARKER_SHARED;
      return MPIMR_PENDING;
    case PHASE_MARKER_SHARED: return task_finish(job, marker_outcome(job));
    case PHASE_CLOSING:
      if (!mpimr_future_join(self, stall_watch_future(&job->watch))) return MPIMR_PENDING;
      job->task.result = job_finish(job, job->closing_status);
      return MPIMR_READY;
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
  if (rc == MPIMR_OK && job->ranged) rc = job_choose_splitters(job);
  if (rc != MPIMR_OK) {
    job->outcome = job_finish(job, rc);
    job->finished_early = 1;
    return job->outcome;
  }
  mpimr_executor_spawn(job->executor, shuffle_driver(job->shuffle));
  mpimr_executor_spawn(job->executor, &job->map.base);
  mpimr_executor_spawn(job->executor, &job->task);
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
