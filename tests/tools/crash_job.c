/*
 * tests/tools/crash_job.c — a word-count job one of whose ranks dies in the
 * middle of the shuffle, for tests/app/failures_app.sh: the rank given kills
 * itself (SIGKILL) or calls abort() from its map function once it has mapped
 * a number of records, by when shuffle rounds are in flight (rounds are
 * 64 KiB). With MODE "none" it is an ordinary job, for the rerun.
 * usage: crash_job sigkill|abort|none RANK RECORDS OUTDIR INPUT...
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpimr/mpimr.h"

typedef struct crash_plan {
  const char *mode;
  int rank;
  int dies;
  unsigned long long records_left;
} crash_plan;

static int map_words(void *user, const void *record, size_t length, mpimr_emitter *out) {
  crash_plan *plan = user;
  if (plan->dies && plan->records_left-- == 0) {
    fprintf(stderr, "crash_job: rank %d: %s now\n", plan->rank, plan->mode);
    if (strcmp(plan->mode, "sigkill") == 0) raise(SIGKILL);
    abort();
  }
  const unsigned char *p = record, *end = p + length;
  unsigned char one[8];
  mpimr_put_u64(one, 1);
  while (p < end) {
    while (p < end && *p == ' ') p++;
    const unsigned char *word = p;
    while (p < end && *p != ' ') p++;
    if (p > word && mpimr_emit(out, word, (size_t)(p - word), one, 8) != MPIMR_OK) return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 6 || (strcmp(argv[1], "sigkill") != 0 && strcmp(argv[1], "abort") != 0 &&
                   strcmp(argv[1], "none") != 0)) {
    fprintf(stderr, "usage: crash_job sigkill|abort|none RANK RECORDS OUTDIR INPUT...\n");
    return 64;
  }
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  crash_plan plan = {argv[1], rank, 0, strtoull(argv[3], NULL, 10)};
  plan.dies = strcmp(argv[1], "none") != 0 && rank == atoi(argv[2]);
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.user = &plan;
  cfg.map_record = map_words;
  cfg.combine = mpimr_combine_sum_u64;
  cfg.format_value = mpimr_format_u64;
  cfg.combine_bytes = 64 << 10;
  cfg.round_bytes = 64 << 10;
  cfg.inputs = (const char *const *)argv + 5;
  cfg.input_count = argc - 5;
  cfg.output_dir = argv[4];
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &cfg);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (rc != MPIMR_OK) fprintf(stderr, "crash_job: %s\n", mpimr_job_error_message(job));
  mpimr_job_free(job);
  MPI_Finalize();
  return rc == MPIMR_OK ? 0 : 1;
}
