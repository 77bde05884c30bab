/*
 * tests/tools/crash_job.c — a word-count job that fails, or is slow, on purpose, for the tests
 * that kill ranks, nodes and jobs (tests/app/failures_app.sh, cluster_app.sh, slurm_app.sh).
 *
 *   sigkill|abort RANK RECORDS: rank RANK kills itself (SIGKILL) or calls abort() from its map
 *     function once it has mapped RECORDS records, by when shuffle rounds are in flight (rounds
 *     are 64 KiB);
 *   none 0 0: an ordinary job, for the rerun;
 *   slow-map MS 0: every rank's map function sleeps MS milliseconds per KiB of records it maps,
 *     in slices of 4 KiB, so that the job stays in its map phase for as long as a test needs and
 *     still notices a signal within 4 * MS ms (a time limit's SIGTERM);
 *   slow-output MS 0: every rank sleeps MS milliseconds before each pair of output it writes, and
 *     says "crash_job: rank R: writing output" before its first, so that a test can kill ranks or
 *     a node's daemon while every rank is in the output phase.
 * The slow modes catch SIGINT and SIGTERM as the mpimr programs do (mpimr/signals.h): a job that
 * gets one fails cleanly, "rank R: interrupted by SIGTERM".
 * usage: crash_job MODE RANK|MS RECORDS|0 OUTDIR INPUT...
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpimr/mpimr.h"

typedef struct crash_plan {
  const char *mode;
  int rank;
  int dies;
  unsigned long long records_left;
  long map_ms_per_kib; /* slow-map: the pause per KiB of records */
  long output_ms;      /* slow-output: the pause before each output pair */
  int output_started;  /* slow-output: the first pair has been announced */
} crash_plan;

/* Sleeps `ns` nanoseconds; a signal cuts the pause short (the job looks at it soon after). */
static void pause_for(long long ns) {
  if (ns <= 0) return;
  struct timespec pause = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  nanosleep(&pause, NULL);
}

static int map_words(void *user, const void *record, size_t length, mpimr_emitter *out) {
  crash_plan *plan = user;
  if (plan->dies && plan->records_left-- == 0) {
    fprintf(stderr, "crash_job: rank %d: %s now\n", plan->rank, plan->mode);
    if (strcmp(plan->mode, "sigkill") == 0) raise(SIGKILL);
    abort();
  }
  pause_for((long long)plan->map_ms_per_kib * 1000000 * (long long)(length + 1) / 1024);
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

/* The count as text, after the slow-output pause. */
static long long format_count(void *user, const void *value, size_t value_len, char *buf, size_t cap) {
  crash_plan *plan = user;
  if (plan->output_ms > 0) {
    if (!plan->output_started) {
      fprintf(stderr, "crash_job: rank %d: writing output\n", plan->rank);
      plan->output_started = 1;
    }
    pause_for((long long)plan->output_ms * 1000000);
  }
  return mpimr_format_u64(user, value, value_len, buf, cap);
}

static int mode_is(const char *mode, const char *name) { return strcmp(mode, name) == 0; }

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (argc < 6 || !(mode_is(mode, "sigkill") || mode_is(mode, "abort") || mode_is(mode, "none") ||
                    mode_is(mode, "slow-map") || mode_is(mode, "slow-output"))) {
    fprintf(stderr,
            "usage: crash_job sigkill|abort RANK RECORDS OUTDIR INPUT...\n"
            "       crash_job none 0 0 OUTDIR INPUT...\n"
            "       crash_job slow-map|slow-output MS 0 OUTDIR INPUT...\n");
    return 64;
  }
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  crash_plan plan = {mode, rank, 0, strtoull(argv[3], NULL, 10), 0, 0, 0};
  plan.dies = (mode_is(mode, "sigkill") || mode_is(mode, "abort")) && rank == atoi(argv[2]);
  if (mode_is(mode, "slow-map")) plan.map_ms_per_kib = atol(argv[2]);
  if (mode_is(mode, "slow-output")) plan.output_ms = atol(argv[2]);
  if (plan.map_ms_per_kib > 0 || plan.output_ms > 0) mpimr_signals_catch();
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.user = &plan;
  cfg.map_record = map_words;
  cfg.combine = mpimr_combine_sum_u64;
  cfg.format_value = format_count;
  cfg.combine_bytes = 64 << 10;
  cfg.round_bytes = 64 << 10;
  if (plan.map_ms_per_kib > 0) cfg.read_bytes = 4 << 10; /* a slice, and so a look at signals, per 4 KiB */
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
