/* fortran/fortran.c — the C side of the Fortran module; see mpimr/fortran.h. */
#include "mpimr/fortran.h"

#include <stdlib.h>
#include <string.h>

#include "mpimr/error.h"

struct mpimr_fortran_job {
  mpimr_job_config config;
  char **inputs; /* owned copies; config.inputs points here */
  int input_capacity;
  char *output_dir; /* owned copy */
  mpimr_job *job;
  int ran;
};

static char *copy_text(const char *text, size_t length) {
  char *copy = malloc(length + 1);
  if (copy == NULL) return NULL;
  memcpy(copy, text, length);
  copy[length] = '\0';
  return copy;
}

int mpimr_fortran_job_new(mpimr_fortran_job **job) {
  if (job == NULL) return MPIMR_ERR_INVAL;
  *job = calloc(1, sizeof **job);
  if (*job == NULL) return MPIMR_ERR_NOMEM;
  mpimr_job_config_init(&(*job)->config);
  return MPIMR_OK;
}

void mpimr_fortran_job_free(mpimr_fortran_job *job) {
  if (job == NULL) return;
  mpimr_job_free(job->job);
  for (int i = 0; i < job->config.input_count; i++) free(job->inputs[i]);
  free(job->inputs);
  free(job->output_dir);
  free(job);
}

int mpimr_fortran_add_input(mpimr_fortran_job *job, const char *path, size_t length) {
  if (job == NULL || path == NULL || length == 0) return MPIMR_ERR_INVAL;
  if (job->config.input_count == job->input_capacity) {
    int capacity = job->input_capacity ? job->input_capacity * 2 : 8;
    char **grown = realloc(job->inputs, sizeof *grown * (size_t)capacity);
    if (grown == NULL) return MPIMR_ERR_NOMEM;
    job->inputs = grown;
    job->input_capacity = capacity;
  }
  char *copy = copy_text(path, length);
  if (copy == NULL) return MPIMR_ERR_NOMEM;
  job->inputs[job->config.input_count++] = copy;
  job->config.inputs = (const char *const *)job->inputs;
  return MPIMR_OK;
}

int mpimr_fortran_set_output(mpimr_fortran_job *job, const char *dir, size_t length, int overwrite) {
  if (job == NULL || dir == NULL || length == 0) return MPIMR_ERR_INVAL;
  char *copy = copy_text(dir, length);
  if (copy == NULL) return MPIMR_ERR_NOMEM;
  free(job->output_dir);
  job->output_dir = copy;
  job->config.output_dir = copy;
  job->config.overwrite = overwrite != 0;
  return MPIMR_OK;
}

int mpimr_fortran_set_map_record(mpimr_fortran_job *job, mpimr_map_record_fn map, void *user) {
  if (job == NULL || map == NULL) return MPIMR_ERR_INVAL;
  job->config.map_record = map;
  job->config.user = user;
  return MPIMR_OK;
}

int mpimr_fortran_set_map_pair(mpimr_fortran_job *job, mpimr_map_pair_fn map, void *user,
                               const mpimr_dataset *input) {
  if (job == NULL || map == NULL || input == NULL) return MPIMR_ERR_INVAL;
  job->config.map_pair = map;
  job->config.input_dataset = input;
  job->config.user = user;
  return MPIMR_OK;
}

int mpimr_fortran_set_output_dataset(mpimr_fortran_job *job, mpimr_dataset *output) {
  if (job == NULL || output == NULL) return MPIMR_ERR_INVAL;
  free(job->output_dir);
  job->output_dir = NULL;
  job->config.output_dir = NULL;
  job->config.output_dataset = output;
  return MPIMR_OK;
}

int mpimr_fortran_dataset_global_count(const mpimr_dataset *dataset, MPI_Fint comm, uint64_t *count) {
  return mpimr_dataset_global_count(dataset, MPI_Comm_f2c(comm), count);
}

int mpimr_fortran_dataset_gather(mpimr_dataset *dataset, MPI_Fint comm, int root) {
  return mpimr_dataset_gather(dataset, MPI_Comm_f2c(comm), root);
}

int mpimr_fortran_dataset_broadcast(mpimr_dataset *dataset, MPI_Fint comm, int root) {
  return mpimr_dataset_broadcast(dataset, MPI_Comm_f2c(comm), root);
}

int mpimr_fortran_set_reduce(mpimr_fortran_job *job, mpimr_reduce_fn reduce) {
  if (job == NULL) return MPIMR_ERR_INVAL;
  job->config.reduce = reduce;
  return MPIMR_OK;
}

int mpimr_fortran_use_u64_counts(mpimr_fortran_job *job) {
  if (job == NULL) return MPIMR_ERR_INVAL;
  job->config.combine = mpimr_combine_sum_u64;
  job->config.format_value = mpimr_format_u64;
  return MPIMR_OK;
}

int mpimr_fortran_set_memory(mpimr_fortran_job *job, uint64_t bytes) {
  if (job == NULL || bytes > SIZE_MAX) return MPIMR_ERR_INVAL;
  job->config.memory_bytes = (size_t)bytes;
  return MPIMR_OK;
}

int mpimr_fortran_run(mpimr_fortran_job *job, MPI_Fint comm) {
  if (job == NULL) return MPIMR_ERR_INVAL;
  if (job->ran) return MPIMR_ERR_STATE;
  job->ran = 1;
  int rc = mpimr_job_create(&job->job, MPI_Comm_f2c(comm), &job->config);
  return rc == MPIMR_OK ? mpimr_job_run(job->job) : rc;
}

size_t mpimr_fortran_error(const mpimr_fortran_job *job, char *text, size_t capacity) {
  const char *message = job && job->job ? mpimr_job_error_message(job->job) : "";
  size_t length = strlen(message);
  if (text != NULL) memcpy(text, message, length < capacity ? length : capacity);
  return length;
}

int mpimr_fortran_emit(mpimr_emitter *out, const void *key, size_t key_len, const void *value,
                       size_t value_len) {
  return mpimr_emit(out, key, key_len, value, value_len);
}

int mpimr_fortran_emit_u64(mpimr_emitter *out, const void *key, size_t key_len, uint64_t value) {
  unsigned char bytes[8];
  mpimr_put_u64(bytes, value);
  return mpimr_emit(out, key, key_len, bytes, 8);
}

int mpimr_fortran_next_u64(mpimr_values *values, uint64_t *value) {
  const void *bytes;
  size_t length;
  int more = mpimr_values_next(values, &bytes, &length);
  if (more != 1) return more;
  if (length != 8) return MPIMR_ERR_USER;
  *value = mpimr_get_u64(bytes);
  return 1;
}
