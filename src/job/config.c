/*
 * job/config.c — a job's configuration: the defaults, their validation, and the memory
 * budget's division into the job's own round, table and read sizes and spill buffers.
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

enum {
  DEFAULT_ROUND_BYTES = 4 << 20,
  DEFAULT_ROUNDS_IN_FLIGHT = 2,
  DEFAULT_READ_BYTES = 256 << 10,
  DEFAULT_COMBINE_BYTES = 64 << 20,
  MAX_ROUNDS_IN_FLIGHT = 8,
  DEFAULT_STALL_WARNING_SECONDS = 60
};

void mpimr_job_config_init(mpimr_job_config *config) {
  memset(config, 0, sizeof *config);
  config->struct_size = sizeof *config;
  config->round_bytes = DEFAULT_ROUND_BYTES;
  config->rounds_in_flight = DEFAULT_ROUNDS_IN_FLIGHT;
  config->read_bytes = DEFAULT_READ_BYTES;
  config->combine_bytes = DEFAULT_COMBINE_BYTES;
  config->pin = MPIMR_PIN_AUTO;
  config->output_format = MPIMR_OUTPUT_TEXT;
  config->stall_warning_seconds = DEFAULT_STALL_WARNING_SECONDS;
  config->dynamic_map = 1;
}

int job_config_validate(const mpimr_job_config *c, char *why, size_t why_size) {
  int file_input = c->map_record != NULL || c->map_block != NULL;
  if ((c->map_record != NULL) + (c->map_block != NULL) + (c->map_index != NULL) + (c->map_local != NULL) +
          (c->map_pair != NULL) !=
      1) {
    snprintf(why, why_size,
             "exactly one of map_record, map_block, map_index, map_local and map_pair must be set");
    return MPIMR_ERR_INVAL;
  }
  if (c->map_pair != NULL && c->input_dataset == NULL) {
    snprintf(why, why_size, "map_pair needs an input_dataset");
    return MPIMR_ERR_INVAL;
  }
  if (c->output_dataset != NULL && c->output_dir != NULL) {
    snprintf(why, why_size, "output goes to either output_dataset or output_dir, not both");
    return MPIMR_ERR_INVAL;
  }
  if (file_input && (c->input_count < 1 || c->inputs == NULL)) {
    snprintf(why, why_size, "no input files were given");
    return MPIMR_ERR_INVAL;
  }
  for (int i = 0; file_input && i < c->input_count; i++)
    if (c->inputs[i] == NULL || c->inputs[i][0] == '\0') {
      snprintf(why, why_size, "input %d is empty", i);
      return MPIMR_ERR_INVAL;
    }
  if (c->output_format != MPIMR_OUTPUT_TEXT && c->output_format != MPIMR_OUTPUT_BINARY &&
      c->output_format != MPIMR_OUTPUT_NONE && c->output_format != MPIMR_OUTPUT_LINES) {
    snprintf(why, why_size, "unknown output format %d", (int)c->output_format);
    return MPIMR_ERR_INVAL;
  }
  if (c->output_format != MPIMR_OUTPUT_NONE && c->output_dataset == NULL &&
      (c->output_dir == NULL || c->output_dir[0] == '\0')) {
    snprintf(why, why_size, "no output directory was given");
    return MPIMR_ERR_INVAL;
  }
  if (c->key_order != MPIMR_KEY_ORDER_PART && c->key_order != MPIMR_KEY_ORDER_GLOBAL) {
    snprintf(why, why_size, "unknown key order %d", (int)c->key_order);
    return MPIMR_ERR_INVAL;
  }
  if (c->key_order == MPIMR_KEY_ORDER_GLOBAL && c->partition != NULL) {
    snprintf(why, why_size, "a partitioner cannot be set with MPIMR_KEY_ORDER_GLOBAL (it range-partitions)");
    return MPIMR_ERR_INVAL;
  }
  if (c->compare_values != NULL && c->combine != NULL) {
    snprintf(why, why_size, "compare_values orders a key's values, but with a combiner a key has one");
    return MPIMR_ERR_INVAL;
  }
  if (c->round_bytes < 4096 || c->round_bytes > ((size_t)1 << 30)) {
    snprintf(why, why_size, "round size %zu is outside [4 KiB, 1 GiB]", c->round_bytes);
    return MPIMR_ERR_INVAL;
  }
  if (c->combine && c->combine_bytes > ((size_t)1 << 30)) {
    snprintf(why, why_size, "combining table size %zu is over 1 GiB", c->combine_bytes);
    return MPIMR_ERR_INVAL;
  }
  if (c->rounds_in_flight < 1 || c->rounds_in_flight > MAX_ROUNDS_IN_FLIGHT) {
    snprintf(why, why_size, "rounds in flight %d is outside [1, %d]", c->rounds_in_flight,
             MAX_ROUNDS_IN_FLIGHT);
    return MPIMR_ERR_INVAL;
  }
  if (!shuffle_transport_known(c->transport)) {
    snprintf(why, why_size, "unknown transport %d", (int)c->transport);
    return MPIMR_ERR_INVAL;
  }
  if (c->peer_window < 0) {
    snprintf(why, why_size, "peer window %d is negative (0 means the default)", c->peer_window);
    return MPIMR_ERR_INVAL;
  }
  if (c->ranks_per_node < 0) {
    snprintf(why, why_size, "ranks per node %d is negative (0 means the whole node)", c->ranks_per_node);
    return MPIMR_ERR_INVAL;
  }
  if (c->read_bytes < 4096 || c->read_bytes > ((size_t)1 << 30)) {
    snprintf(why, why_size, "read size %zu is outside [4 KiB, 1 GiB]", c->read_bytes);
    return MPIMR_ERR_INVAL;
  }
  if (c->memory_bytes != 0 && c->memory_bytes < BUDGET_MIN_BYTES) {
    snprintf(why, why_size, "memory budget %zu is below the minimum of %zu bytes", c->memory_bytes,
             (size_t)BUDGET_MIN_BYTES);
    return MPIMR_ERR_INVAL;
  }
  if (c->spill_dir != NULL && c->spill_dir[0] == '\0') {
    snprintf(why, why_size, "the spill directory is empty (NULL means the default)");
    return MPIMR_ERR_INVAL;
  }
  if (c->pin != MPIMR_PIN_AUTO && c->pin != MPIMR_PIN_CORE && c->pin != MPIMR_PIN_NONE) {
    snprintf(why, why_size, "unknown pin mode %d", (int)c->pin);
    return MPIMR_ERR_INVAL;
  }
  if (!isfinite(c->stall_warning_seconds) || c->stall_warning_seconds < 0 ||
      !isfinite(c->stall_timeout_seconds) || c->stall_timeout_seconds < 0) {
    snprintf(why, why_size, "stall warning %g s and stall timeout %g s must be 0 (off) or a positive number",
             c->stall_warning_seconds, c->stall_timeout_seconds);
    return MPIMR_ERR_INVAL;
  }
  if (c->progress < MPIMR_PROGRESS_OFF || c->progress > MPIMR_PROGRESS_PLAIN) {
    snprintf(why, why_size, "unknown progress mode %d", (int)c->progress);
    return MPIMR_ERR_INVAL;
  }
  if (!isfinite(c->progress_interval_seconds) || c->progress_interval_seconds < 0) {
    snprintf(why, why_size, "progress interval %g s must be 0 (the default) or a positive number",
             c->progress_interval_seconds);
    return MPIMR_ERR_INVAL;
  }
  if (c->pinned_by != NULL && (c->pinned_by->local_size < 1 || c->pinned_by->local_rank < 0 ||
                               c->pinned_by->local_rank >= c->pinned_by->local_size)) {
    snprintf(why, why_size,
             "pinned_by is not the report of a job that ran (local rank %d of %d): take it from "
             "mpimr_job_get_pin_report() of a job created on these ranks",
             c->pinned_by->local_rank, c->pinned_by->local_size);
    return MPIMR_ERR_INVAL;
  }
  return MPIMR_OK;
}

/* Where runs are spilled: the configured directory, $TMPDIR, the output directory, or /tmp. */
const char *job_spill_parent(const mpimr_job_config *c) {
  if (c->spill_dir) return c->spill_dir;
  const char *tmpdir = getenv("TMPDIR");
  if (tmpdir && tmpdir[0]) return tmpdir;
  if (c->output_format != MPIMR_OUTPUT_NONE && c->output_dir != NULL) return c->output_dir;
  return "/tmp";
}

/* Each run reader's and writer's buffer: 1/64 of the budget, from 64 KiB to 1 MiB. */
size_t job_spill_buffer_bytes(const mpimr_job *job) {
  size_t bytes = job->memory_budget / 64;
  return bytes < (64 << 10) ? (64 << 10) : bytes > (1 << 20) ? (1 << 20) : bytes;
}

/* Fixes the budget and cuts the round size, the combining table and the read size to fit in it. */
void job_apply_budget(mpimr_job *job) {
  size_t budget = job->config.memory_bytes ? job->config.memory_bytes
                                           : mpimr_default_memory_bytes(job->pin_report.local_size);
  job->memory_budget = budget;
  job->stats.memory_budget_bytes = budget;
  /* Every slot has a send set and a receive buffer of about a round each. */
  size_t round_cap = budget / BUDGET_SHUFFLE_PARTS / (2 * ((size_t)job->config.rounds_in_flight + 1));
  if (job->config.round_bytes > round_cap) job->config.round_bytes = round_cap;
  /* A drained combining table becomes one round's send set: it must fit the same share. */
  if (job->config.combine_bytes > round_cap) job->config.combine_bytes = round_cap;
  if (job->config.combine_bytes < job->config.round_bytes)
    job->config.combine_bytes = job->config.round_bytes;
  /* A slice's map output goes into one send set before the map looks at whether it is full: a
   * slice of a quarter round keeps sets near their nominal size. */
  size_t read_cap = job->config.round_bytes / 4 < 4096 ? 4096 : job->config.round_bytes / 4;
  if (job->config.read_bytes > read_cap) job->config.read_bytes = read_cap;
}

int job_config_adopt(const mpimr_job_config *given, mpimr_job_config *adopted) {
  mpimr_job_config_init(adopted);
  size_t size = given->struct_size; /* the first field in every version, so always readable */
  if (size < sizeof given->struct_size || size > sizeof *adopted) return 0;
  memcpy(adopted, given, size);
  adopted->struct_size = sizeof *adopted;
  return 1;
}
