/*
 * tests/package/consumer.c — a program outside the project that uses an
 * installed mpimr, built by tests/app/package_app.sh twice (find_package and
 * pkg-config): counts the words of its input files (split at spaces and
 * newlines), written as text "word<TAB>count" to OUTDIR.
 * usage: consumer OUTDIR INPUT...
 */
#include <mpimr/mpimr.h>
#include <stdio.h>
#include <string.h>

static int map_words(void *user, const void *record, size_t length, mpimr_emitter *out) {
  (void)user;
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
  if (argc < 3) {
    fprintf(stderr, "usage: consumer OUTDIR INPUT...\n");
    return 64;
  }
  MPI_Init(&argc, &argv);
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.map_record = map_words;
  cfg.combine = mpimr_combine_sum_u64;
  cfg.format_value = mpimr_format_u64;
  cfg.inputs = (const char *const *)argv + 2;
  cfg.input_count = argc - 2;
  cfg.output_dir = argv[1];
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &cfg);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (rc != MPIMR_OK && rc != MPIMR_ERR_REMOTE)
    fprintf(stderr, "consumer: %s (%s)\n", mpimr_job_error_message(job), mpimr_strerror(rc));
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rc == MPIMR_OK && rank == 0) printf("consumer: mpimr %s\n", MPIMR_VERSION_STRING);
  if (rc == MPIMR_ERR_MPI) MPI_Abort(MPI_COMM_WORLD, 1);
  mpimr_job_free(job);
  MPI_Finalize();
  return rc == MPIMR_OK ? 0 : 1;
}
