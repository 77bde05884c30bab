/*
 * job/api.c — creating and freeing a job, and the public calls made from map and reduce
 * functions (mpimr_map_origin, mpimr_fail) and after the job (message, figures).
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
#include "job/store.h"
#include "job/workspace.h"
#include "kv/codec.h"
#include "kv/hash.h"
#include "kv/values.h"
#include "mpimr/error.h"
#include "mpimr/signals.h"
#include "util/clock.h"

mpimr_executor *mpimr_job_executor(mpimr_job *job) { return job ? job->executor : NULL; }

/* The shuffle: the workspace's, if every rank has one that fits, else a new one. Collective. */
static int setup_shuffle(mpimr_job *job) {
  shuffle_options transport = {.transport = job->config.transport,
                               .peer_window = job->config.peer_window,
                               .ranks_per_node = job->config.ranks_per_node};
  char why[120];
  int knob_rc = shuffle_message_limit_from_env(&transport.message_limit, why, sizeof why);
  if (knob_rc != MPIMR_OK) {
    /* The collective steps below still run (with the default limit); then the job fails. */
    job_set_error(job, "%s", why);
    transport.message_limit = 0;
  }
  if (job->config.workspace != NULL) {
    shuffle *kept = NULL;
    int rc = workspace_take_shuffle(job->config.workspace, job->comm, job->config.rounds_in_flight,
                                    job->config.round_bytes, &transport, &kept);
    if (rc != MPIMR_OK) return rc;
    if (kept != NULL) {
      shuffle_rearm(kept, job_receive, job);
      job->shuffle = kept;
      return knob_rc;
    }
  }
  int rc = shuffle_create(&job->shuffle, job->comm, job->config.rounds_in_flight, job->config.round_bytes,
                          &transport, job_receive, job);
  return rc != MPIMR_OK ? rc : knob_rc;
}

/* The test knob MPIMR_TEST_MAP_DELAY="USEC@R1,R2,...": microseconds ranks R1, R2, ... sleep after
 * each map slice (a slow rank, for the dynamic map's tests and benchmark); 0 for other ranks or
 * anything else. */
static unsigned map_delay_for(const char *knob, int rank) {
  if (knob == NULL) return 0;
  char *at;
  unsigned long usec = strtoul(knob, &at, 10);
  if (*at != '@' || usec > 10000000) return 0;
  while (*at == '@' || *at == ',') {
    char *end;
    long listed = strtol(at + 1, &end, 10);
    if (end == at + 1) return 0;
    if (listed == rank) return (unsigned)usec;
    at = end;
  }
  return 0;
}

static int job_setup(mpimr_job *job, const mpimr_pin_report *kept_pinning) {
  int rc = MPIMR_OK;
  if (job->config.pinned_by != NULL) {
    job->pin_report = *job->config.pinned_by; /* an earlier job pinned this rank */
  } else if (kept_pinning != NULL) {
    job->pin_report = *kept_pinning; /* the workspace's first job did */
  } else {
    rc = mpimr_pin(job->comm, job->config.pin, &job->pin_report);
    if (rc == MPIMR_OK && job->config.workspace != NULL)
      workspace_keep_pinning(job->config.workspace, &job->pin_report);
  }
  if (rc != MPIMR_OK) {
    job_set_error(job, "pinning: %s", mpimr_strerror(rc));
    job->pin_report.local_size = 1;
    job->pin_report.cores = 1;
  }
  mpimr_executor_options options;
  mpimr_executor_options_init(&options);
  options.oversubscribed = job->pin_report.local_size > job->pin_report.cores;
  int step = mpimr_executor_create(&job->executor, &options);
  if (step != MPIMR_OK && rc == MPIMR_OK) {
    job_set_error(job, "creating the executor: %s", mpimr_strerror(step));
    rc = step;
  }
  job_apply_budget(job);
  int spill_rc =
      spill_area_init(&job->spill, job_spill_parent(&job->config), job_spill_buffer_bytes(job), &job->order);
  if (spill_rc == MPIMR_OK)
    spill_rc = spill_area_init(&job->output_spill, job_spill_parent(&job->config),
                               job_spill_buffer_bytes(job), &job->order);
  if (spill_rc != MPIMR_OK && rc == MPIMR_OK) {
    job_set_error(job, "setting up the spill area: %s", mpimr_strerror(spill_rc));
    rc = spill_rc;
  }
  /* Collective: every rank sets up its shuffle whatever happened above. */
  step = setup_shuffle(job);
  if (step != MPIMR_OK && rc == MPIMR_OK) {
    job_set_error(job, "creating the shuffle: %s", mpimr_strerror(step));
    rc = step;
  }
  job->map_table_dest_bytes = malloc(sizeof(size_t) * (size_t)job->nranks);
  if (rc == MPIMR_OK && job->map_table_dest_bytes == NULL) {
    job_set_error(job, "out of memory setting up the job");
    rc = MPIMR_ERR_NOMEM;
  }
  if (rc == MPIMR_OK) rc = job->store->create(job);
  job->map_emitter.sink = job->store->emit;
  job->map_emitter.sink_state = job;
  job->bad.limit = job->config.max_bad_records;
  job->map_delay_us = map_delay_for(getenv("MPIMR_TEST_MAP_DELAY"), job->rank);
  step = stall_watch_init(&job->watch, job->comm, job->config.stall_warning_seconds,
                          job->config.stall_timeout_seconds);
  if (step != MPIMR_OK && rc == MPIMR_OK) {
    job_set_error(job, "setting up the stall watch: %s", mpimr_strerror(step));
    rc = step;
  }
  return rc;
}

int mpimr_job_create(mpimr_job **out, MPI_Comm comm, const mpimr_job_config *config) {
  *out = NULL;
  if (config == NULL) return MPIMR_ERR_INVAL;
  mpimr_job *job = calloc(1, sizeof *job);
  if (job == NULL) return MPIMR_ERR_NOMEM;
  job->comm = MPI_COMM_NULL;
  /* From here only the job's own copy is read: the caller's may be an older, smaller struct. */
  size_t given_size = config->struct_size;
  int size_known = job_config_adopt(config, &job->config);
  mpimr_job_config adopted = job->config;
  config = &adopted;
  job->combining = config->combine != NULL;
  job->store = job_store_for(config);
  job->order = (kv_order){config->compare_keys, config->compare_values, config->user};
  job->ranged = config->key_order == MPIMR_KEY_ORDER_GLOBAL;
  job->default_partition = !job->ranged && config->partition == NULL;
  job->indexed_input = config->map_index != NULL || config->map_local != NULL;
  job->files_output = config->output_format != MPIMR_OUTPUT_NONE && config->output_dataset == NULL;
  /* A dataset takes the pairs as they are; NONE would let reduce skip writing them. */
  if (config->output_dataset) job->config.output_format = MPIMR_OUTPUT_BINARY;
  /* The table is sent when it holds combine_bytes; never less than a round's worth. */
  if (job->config.combine_bytes < job->config.round_bytes)
    job->config.combine_bytes = job->config.round_bytes;
  *out = job;
  job->made_from = comm;
  const mpimr_pin_report *kept_pinning = NULL;
  if (config->workspace != NULL &&
      workspace_take_communicator(config->workspace, comm, &job->comm, &kept_pinning) != MPIMR_OK) {
    snprintf(job->error_message, sizeof job->error_message,
             "agreeing on the workspace failed (MPI_Allreduce)");
    return MPIMR_ERR_MPI;
  }
  if (job->comm == MPI_COMM_NULL && MPI_Comm_dup(comm, &job->comm) != MPI_SUCCESS) {
    snprintf(job->error_message, sizeof job->error_message, "MPI_Comm_dup failed");
    return MPIMR_ERR_MPI;
  }
  MPI_Comm_set_errhandler(job->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(job->comm, &job->rank);
  MPI_Comm_size(job->comm, &job->nranks);
  char why[384] = "";
  int rc = MPIMR_ERR_INVAL;
  if (!size_known)
    snprintf(why, sizeof why,
             "its struct_size is %zu, not a size this library (%zu bytes) can take: fill it with "
             "mpimr_job_config_init() first",
             given_size, sizeof *config);
  else
    rc = job_config_validate(config, why, sizeof why);
  if (rc != MPIMR_OK) {
    job_set_error(job, "invalid job configuration: %s", why);
  } else if (mpimr_launch_check(why, sizeof why) != MPIMR_OK) {
    job_set_error(job, "launch: %s", why);
    rc = MPIMR_ERR_INVAL;
  }
  if (rc == MPIMR_OK) rc = job_check_signal(job); /* a signal before the job: it fails at once */
  rc = job_agree(job, rc);
  if (rc != MPIMR_OK) return rc;
  rc = job_agree(job, job_setup(job, kept_pinning));
  if (rc == MPIMR_OK && config->verbose && job->rank == 0) {
    const mpimr_pin_report *pin = &job->pin_report;
    const char *no_sharing = shuffle_sharing_reason(job->shuffle);
    fprintf(stderr,
            "mpimr: %d ranks; rank 0: %s (cpuset %s; %d local ranks, %d cores); round %zu bytes, "
            "%d in flight; transport %s (rank 0 reads %d ranks' bytes in place%s%s); read %zu bytes a slice; "
            "combiner %s; memory budget %zu bytes; spill under '%s'\n",
            job->nranks, mpimr_pin_action_name(pin->action), pin->cpuset, pin->local_size, pin->cores,
            job->config.round_bytes, config->rounds_in_flight,
            mpimr_transport_name(shuffle_transport(job->shuffle)), shuffle_shared_peers(job->shuffle),
            no_sharing[0] ? ": " : "", no_sharing, job->config.read_bytes, job->combining ? "on" : "off",
            job->memory_budget, job->spill.parent);
  }
  return rc;
}

/* Whether the job ran and succeeded on every rank (the outcome is agreed), its shuffle at rest. */
static int succeeded_everywhere(const mpimr_job *job) {
  return job->ran && !job->finished_early && mpimr_future_is_done(&job->task) &&
         job->task.result == MPIMR_OK && job->shuffle != NULL && shuffle_ended_cleanly(job->shuffle);
}

void mpimr_job_free(mpimr_job *job) {
  if (job == NULL) return;
  int keep = job->config.workspace != NULL && succeeded_everywhere(job);
  stall_watch_destroy(&job->watch); /* before the executor: it cancels receives the reactor holds */
  progress_destroy(&job->progress); /* and so does the display */
  if (job->dynamic) work_share_abandon(&job->share); /* and dynamic map */
  mpimr_executor_free(job->executor);
  if (keep) {
    /* The next job of the workspace takes them over (workspace_take_*). */
    workspace_keep(job->config.workspace, job->made_from, job->comm, job->shuffle);
    job->comm = MPI_COMM_NULL;
  } else {
    shuffle_free(job->shuffle);
  }
  if (job->store) job->store->destroy(job);
  free(job->map_table_dest_bytes);
  if (job->spill.parent) spill_area_destroy(&job->spill);
  if (job->output_spill.parent) spill_area_destroy(&job->output_spill);
  if (job->map.reader_open) record_reader_close(&job->map.reader);
  free(job->map.pieces);
  range_destroy(&job->range);
  input_list_destroy(&job->inputs);
  if (job->output.held) output_claim_release(&job->output, job->comm, 0); /* a job freed unfinished */
  trace_destroy(&job->trace);
  counter_set_destroy(&job->counters);
  counter_set_destroy(&job->counter_totals);
  free(job->counter_packed);
  free(job->counter_gathered);
  free(job->counter_sizes);
  free(job->counter_displs);
  bad_record_log_destroy(&job->bad);
  if (job->comm != MPI_COMM_NULL) MPI_Comm_free(&job->comm);
  free(job);
}

/* The map task whose map function was handed `emitter`, or NULL for any other emitter. */
static const map_task *emitter_map_task(const mpimr_emitter *emitter) {
  if (emitter->sink == job_emit_to_sample) return &((const sample_task *)emitter->sink_state)->map;
  if (job_store_is_emit_sink(emitter->sink)) {
    const mpimr_job *job = emitter->sink_state;
    return emitter == &job->map_emitter ? &job->map : NULL;
  }
  return NULL;
}

int mpimr_map_origin(const mpimr_emitter *map_output, mpimr_record_origin *origin) {
  if (map_output == NULL || origin == NULL) return MPIMR_ERR_INVAL;
  const map_task *m = emitter_map_task(map_output);
  if (m == NULL || !m->reader_open) return MPIMR_ERR_STATE;
  const input_piece *piece = &m->pieces[m->next_piece];
  origin->path = m->job->inputs.files[piece->file].path;
  origin->file_index = piece->file;
  origin->offset = m->reader.record_offset;
  return MPIMR_OK;
}

/* The job behind an emitter the library handed to a map or reduce function, or NULL. */
static mpimr_job *emitter_job(const mpimr_emitter *emitter) {
  if (emitter->sink == job_emit_to_sample) return ((const sample_task *)emitter->sink_state)->map.job;
  if (job_store_is_emit_sink(emitter->sink)) return emitter->sink_state;
  if (emitter->sink == job_collect_output) return ((output_collector *)emitter->sink_state)->job;
  if (emitter->sink == job_write_in_order) return ((ordered_output *)emitter->sink_state)->job;
  return NULL;
}

/* mpimr_fail() and mpimr_fail_job(): `skippable` lets a map record's failure be skipped. */
static int fail_call(mpimr_emitter *out, int skippable, const char *format, va_list args) {
  if (out == NULL || format == NULL) return MPIMR_ERR_INVAL;
  mpimr_job *job = emitter_job(out);
  if (job == NULL) return MPIMR_ERR_INVAL;
  char text[384];
  vsnprintf(text, sizeof text, format, args);
  if (skippable && job->reducing_key == NULL && job->bad.limit > 0 && emitter_map_task(out) != NULL) {
    /* A record that may be skipped: map_call_failed() lists it with this message. */
    snprintf(job->bad.message, sizeof job->bad.message, "%s", text);
    return MPIMR_ERR_USER;
  }
  if (job->reducing_key != NULL) {
    char shown[JOB_KEY_SHOWN_BYTES * 4 + 8];
    job_show_key(job->reducing_key, job->reducing_key_len, shown, sizeof shown);
    job_set_error(job, "reduce: %s (key '%s')", text, shown);
  } else {
    char position[320];
    const map_task *m = emitter_map_task(out);
    job_describe_map_position(m ? m : &job->map, position, sizeof position);
    job_set_error(job, "map: %s%s", text, position);
  }
  if (job->emit_status == MPIMR_OK) job->emit_status = MPIMR_ERR_USER;
  return MPIMR_ERR_USER;
}

int mpimr_fail(mpimr_emitter *out, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int rc = fail_call(out, 1, format, args);
  va_end(args);
  return rc;
}

int mpimr_fail_job(mpimr_emitter *out, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int rc = fail_call(out, 0, format, args);
  va_end(args);
  return rc;
}

mpimr_counter *mpimr_counter_find(mpimr_emitter *out, const char *name) {
  mpimr_job *job = out != NULL ? emitter_job(out) : NULL;
  if (job == NULL || name == NULL || strncmp(name, "mpimr.", 6) == 0) return NULL;
  return counter_set_find(&job->counters, name);
}

int mpimr_counter_add(mpimr_emitter *out, const char *name, uint64_t n) {
  mpimr_job *job = out != NULL ? emitter_job(out) : NULL;
  if (job == NULL || name == NULL || strncmp(name, "mpimr.", 6) == 0) return MPIMR_ERR_INVAL;
  mpimr_counter *counter = counter_set_find(&job->counters, name);
  if (counter == NULL) return counter_name_valid(name) ? MPIMR_ERR_NOMEM : MPIMR_ERR_INVAL;
  counter->value += n;
  return MPIMR_OK;
}

int mpimr_job_counter(const mpimr_job *job, const char *name, uint64_t *value) {
  if (job == NULL || name == NULL || value == NULL) return MPIMR_ERR_INVAL;
  if (!job->counters_summed) return MPIMR_ERR_STATE;
  const mpimr_counter *counter = counter_set_lookup(&job->counter_totals, name);
  if (counter == NULL) return MPIMR_ERR_NOT_FOUND;
  *value = counter->value;
  return MPIMR_OK;
}

int mpimr_job_each_counter(const mpimr_job *job, void (*visit)(void *context, const char *name, uint64_t value),
                           void *context) {
  if (job == NULL || visit == NULL) return MPIMR_ERR_INVAL;
  if (!job->counters_summed) return MPIMR_ERR_STATE;
  const counter_set *totals = &job->counter_totals;
  size_t *order = malloc((totals->count ? totals->count : 1) * sizeof *order);
  if (order == NULL) return MPIMR_ERR_NOMEM;
  counter_set_sorted(totals, order);
  for (size_t i = 0; i < totals->count; i++)
    visit(context, counter_set_name(totals, order[i]), counter_set_value(totals, order[i]));
  free(order);
  return (int)totals->count;
}

const char *mpimr_job_error_message(const mpimr_job *job) { return job ? job->error_message : ""; }

const mpimr_job_stats *mpimr_job_get_stats(const mpimr_job *job) { return &job->stats; }

const mpimr_pin_report *mpimr_job_get_pin_report(const mpimr_job *job) { return &job->pin_report; }
