/*
 * mpimr-job-overhead — what one small job costs, phase by phase: the fixed cost an iterative
 * program (PageRank, k-means) pays once per iteration.
 *
 * Each rank holds a dataset of --pairs (vertex, 8-byte f64) pairs, keys spread over all ranks.
 * Every job maps the dataset, sums the values of each key with a combiner and writes the sums
 * back into the dataset (as one PageRank iteration does with its contributions). The program
 * times, on every rank, mpimr_job_create(), mpimr_job_run() and mpimr_job_free() of --jobs such
 * jobs (after --warm-up untimed ones), with a barrier before each job, and prints rank 0's
 * median, minimum and maximum per phase and the median of the job's own figures (time_map,
 * time_shuffle, time_reduce, time_output). It checks the result: the sums after the jobs equal
 * the start's values times (ranks sending each key) ^ jobs, computed independently.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpimr/mpimr.h"

static const char *const PROGRAM = "mpimr-job-overhead";

static void usage(FILE *out) {
  fprintf(out,
          "NAME\n"
          "    %s - the cost of one small job, phase by phase\n"
          "\n"
          "SYNOPSIS\n"
          "    mpirun -np P %s [--jobs N] [--warm-up N] [--pairs N] [--no-combine]\n"
          "        [--pin-every-job] [--workspace] [--trace FILE]\n"
          "    %s --help\n"
          "\n"
          "DESCRIPTION\n"
          "    Runs N small jobs over an in-memory dataset of --pairs (key, double)\n"
          "    pairs per rank (keys 0 .. N-1 on every rank). Each job maps every pair\n"
          "    to the next key, sums each key's values and writes the sums back into\n"
          "    the dataset, as one PageRank iteration does with its contributions. Prints rank 0's median, minimum and maximum time for\n"
          "    mpimr_job_create(), mpimr_job_run() and mpimr_job_free() in microseconds,\n"
          "    and the median of the job's own phase figures. A barrier precedes every\n"
          "    job. The sums are checked at the end (exit status 1 if wrong).\n"
          "\n"
          "OPTIONS\n"
          "    --jobs N       timed jobs (default 200)\n"
          "    --warm-up N    untimed jobs first (default 10; 0 allowed)\n"
          "    --pairs N      pairs per rank (default 337; 1..10000000)\n"
          "    --no-combine   a reducer sums the values instead of a combiner\n"
          "    --pin-every-job  every job pins its rank (reads the topology) instead\n"
          "                   of taking the first job's binding (pinned_by)\n"
          "    --workspace    the jobs share an mpimr_workspace: each takes the\n"
          "                   communicator and shuffle the last one left\n"
          "    --trace FILE   the last job writes its timeline to FILE (Chrome\n"
          "                   trace-event JSON; open it in Perfetto)\n"
          "    -h, --help     show this text\n"
          "\n"
          "EXIT STATUS\n"
          "    0 on success, 1 if a job failed or a sum was wrong, 64 for bad usage.\n",
          PROGRAM, PROGRAM, PROGRAM);
}

static int parse_count(const char *text, long min, long max, long *out) {
  char *end;
  long value = strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > max) return -1;
  *out = value;
  return 0;
}

/* Map: every pair goes to the next key (key + 1 mod pairs), so that every job moves the pairs
 * between ranks; the job's combiner or reducer sums a key's values. */
static int map_pair(void *user, const void *key, size_t key_len, const void *value, size_t value_len,
                    mpimr_emitter *out) {
  uint64_t pairs = *(const uint64_t *)user;
  if (key_len != 8) return 1;
  unsigned char next[8];
  mpimr_put_u64(next, (mpimr_get_u64(key) + 1) % pairs);
  return mpimr_emit(out, next, sizeof next, value, value_len);
}

static long long combine_sum(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                             size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  (void)acc_cap;
  if (acc_len != 8 || in_len != 8) return -1;
  double a, b;
  memcpy(&a, acc, 8);
  memcpy(&b, in, 8);
  a += b;
  memcpy(acc, &a, 8);
  return 8;
}

/* Reduce: the key and the sum of its values (one value with a combiner). */
static int reduce_sum(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  (void)user;
  double sum = 0;
  const void *value;
  size_t value_len;
  while (mpimr_values_next(values, &value, &value_len)) {
    if (value_len != 8) return 1;
    double v;
    memcpy(&v, value, 8);
    sum += v;
  }
  return mpimr_emit(out, key, key_len, &sum, sizeof sum);
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *values, long n) {
  qsort(values, (size_t)n, sizeof *values, compare_doubles);
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* Fills the dataset: keys 0 .. pairs-1, the same keys on every rank, each with 1 + key / pairs. */
static int fill(mpimr_dataset *data, long pairs) {
  for (long i = 0; i < pairs; i++) {
    unsigned char key[8];
    mpimr_put_u64(key, (uint64_t)i);
    double value = 1.0 + (double)i / (double)pairs;
    if (mpimr_dataset_add(data, key, sizeof key, &value, sizeof value) != MPIMR_OK) return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  long jobs = 200, warm_up = 10, pairs = 337;
  int combine = 1, pin_every_job = 0, use_workspace = 0;
  const char *trace_path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    long *target = NULL, min = 1, max = 0;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(arg, "--no-combine") == 0) {
      combine = 0;
      continue;
    } else if (strcmp(arg, "--pin-every-job") == 0) {
      pin_every_job = 1;
      continue;
    } else if (strcmp(arg, "--workspace") == 0) {
      use_workspace = 1;
      continue;
    } else if (strcmp(arg, "--trace") == 0) {
      if (i + 1 == argc) {
        fprintf(stderr, "%s: --trace needs a file name\n", PROGRAM);
        return 64;
      }
      trace_path = argv[++i];
      continue;
    } else if (strcmp(arg, "--jobs") == 0) {
      target = &jobs, max = 1000000;
    } else if (strcmp(arg, "--warm-up") == 0) {
      target = &warm_up, min = 0, max = 1000000;
    } else if (strcmp(arg, "--pairs") == 0) {
      target = &pairs, max = 10000000;
    } else {
      fprintf(stderr, "%s: unknown option '%s' (see --help)\n", PROGRAM, arg);
      return 64;
    }
    if (i + 1 == argc || parse_count(argv[i + 1], min, max, target) != 0) {
      fprintf(stderr, "%s: %s needs a whole number in %ld..%ld\n", PROGRAM, arg, min, max);
      return 64;
    }
    i++;
  }
  MPI_Init(&argc, &argv);
  int rank, ranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  mpimr_dataset *data = NULL;
  mpimr_workspace *workspace = NULL;
  int failed = mpimr_dataset_create(&data) != MPIMR_OK || fill(data, pairs) != 0 ||
               (use_workspace && mpimr_workspace_create(&workspace) != MPIMR_OK);
  double *create_us = calloc((size_t)jobs, sizeof(double)), *run_us = calloc((size_t)jobs, sizeof(double));
  double *free_us = calloc((size_t)jobs, sizeof(double));
  double *phase[4];
  for (int p = 0; p < 4; p++) phase[p] = calloc((size_t)jobs, sizeof(double));
  if (!create_us || !run_us || !free_us || !phase[0] || !phase[1] || !phase[2] || !phase[3]) failed = 1;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (failed) {
    if (rank == 0) fprintf(stderr, "%s: out of memory for %ld pairs\n", PROGRAM, pairs);
    MPI_Finalize();
    return 1;
  }
  uint64_t pair_count = (uint64_t)pairs;
  mpimr_pin_report pinning = {0}; /* the first job's binding; the later jobs take it */
  for (long j = 0; j < warm_up + jobs && !failed; j++) {
    mpimr_job_config config;
    mpimr_job_config_init(&config);
    config.map_pair = map_pair;
    config.user = &pair_count;
    config.input_dataset = data;
    config.output_dataset = data;
    config.reduce = reduce_sum;
    config.reduce_in_order = 1;
    if (combine) config.combine = combine_sum;
    if (!pin_every_job && pinning.local_size > 0) config.pinned_by = &pinning;
    config.workspace = workspace;
    if (j == warm_up + jobs - 1) config.trace_path = trace_path;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    mpimr_job *job = NULL;
    int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &config);
    double t1 = MPI_Wtime();
    if (rc == MPIMR_OK && pinning.local_size == 0) pinning = *mpimr_job_get_pin_report(job);
    if (rc == MPIMR_OK) rc = mpimr_job_run(job);
    double t2 = MPI_Wtime();
    if (rc != MPIMR_OK) {
      fprintf(stderr, "%s: rank %d: job %ld: %s\n", PROGRAM, rank, j, job ? mpimr_job_error_message(job) : "");
      failed = 1;
    }
    const mpimr_job_stats *stats = job ? mpimr_job_get_stats(job) : NULL;
    double figures[4] = {0};
    if (stats) {
      figures[0] = stats->time_map;
      figures[1] = stats->time_shuffle;
      figures[2] = stats->time_reduce;
      figures[3] = stats->time_output;
    }
    mpimr_job_free(job);
    double t3 = MPI_Wtime();
    if (j >= warm_up) {
      long k = j - warm_up;
      create_us[k] = (t1 - t0) * 1e6;
      run_us[k] = (t2 - t1) * 1e6;
      free_us[k] = (t3 - t2) * 1e6;
      for (int p = 0; p < 4; p++) phase[p][k] = figures[p] * 1e6;
    }
  }
  /* Check: the first job summed every key's `ranks` values (every rank held every key); each job
   * moved the values one key on, so key m holds ranks * (1 + ((m - J) mod pairs) / pairs) after J
   * jobs. */
  long checked = 0, wrong = 0;
  if (!failed) {
    mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
    const void *key, *value;
    size_t key_len, value_len;
    uint64_t shift = (uint64_t)(warm_up + jobs) % (uint64_t)pairs;
    while (mpimr_dataset_next(data, &at, &key, &key_len, &value, &value_len)) {
      uint64_t k = (mpimr_get_u64(key) + (uint64_t)pairs - shift) % (uint64_t)pairs;
      double got, expected = (1.0 + (double)k / (double)pairs) * ranks;
      memcpy(&got, value, 8);
      if (key_len != 8 || value_len != 8 || fabs(got - expected) > 1e-9 * fabs(expected)) wrong++;
      checked++;
    }
  }
  long totals[2] = {checked, wrong};
  MPI_Allreduce(MPI_IN_PLACE, totals, 2, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (!failed && (totals[0] != pairs || totals[1] != 0)) {
    if (rank == 0)
      fprintf(stderr, "%s: wrong result: %ld keys held (expected %ld), %ld wrong sums\n", PROGRAM, totals[0],
              pairs, totals[1]);
    failed = 1;
  }
  if (rank == 0 && !failed) {
    printf("# %s: %d ranks, %ld pairs a rank, %s, %s, %s, %ld jobs after %ld warm-up; microseconds on rank 0\n",
           PROGRAM, ranks, pairs, combine ? "combiner" : "reducer only",
           pin_every_job ? "every job pins" : "pinned once",
           use_workspace ? "one workspace" : "no workspace", jobs, warm_up);
    printf("%-22s %12s %12s %12s\n", "phase", "median", "min", "max");
    const char *names[] = {"mpimr_job_create", "mpimr_job_run", "mpimr_job_free"};
    double *series[] = {create_us, run_us, free_us};
    for (int s = 0; s < 3; s++) {
      double lo = series[s][0], hi = series[s][0];
      for (long k = 0; k < jobs; k++) {
        if (series[s][k] < lo) lo = series[s][k];
        if (series[s][k] > hi) hi = series[s][k];
      }
      printf("%-22s %12.1f %12.1f %12.1f\n", names[s], median(series[s], jobs), lo, hi);
    }
    const char *phase_names[] = {"  of which map", "  of which shuffle", "  of which reduce", "  of which output"};
    for (int p = 0; p < 4; p++) printf("%-22s %12.1f\n", phase_names[p], median(phase[p], jobs));
  }
  free(create_us);
  free(run_us);
  free(free_us);
  for (int p = 0; p < 4; p++) free(phase[p]);
  mpimr_dataset_free(data);
  mpimr_workspace_free(workspace);
  MPI_Finalize();
  return failed ? 1 : 0;
}
