/*
 * mpimr-counter-bench — what a counter costs a map function per call: mpimr_counter_add() by name
 * against mpimr_counter_increment() through a handle resolved once (issue 24).
 *
 * Every job maps --calls indices (map_index, split over the ranks) with nothing emitted and no
 * output, so the map phase is little more than the calls themselves. The variants differ only in
 * what the map function does per index:
 *   none      nothing (the baseline: the map_index call itself)
 *   handle    mpimr_counter_increment() on a handle found once, in the job's first call
 *   add       mpimr_counter_add(out, "records", 1): a string literal, the same address each call
 *   add-two   mpimr_counter_add() alternating two names by the index's parity, so that no call
 *             finds the name the call before it used
 * The variants run in turn (none, handle, add, add-two, none, ...), --repeat times, so a busy
 * machine weighs on all alike. Each job's time is its map phase (time_map, the largest over
 * ranks); a variant's cost per call is the median of its map times minus the median of none's,
 * over the calls a rank made. Every job's counters are checked against --calls (mpimr_job_counter):
 * a wrong total exits 1.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpimr/mpimr.h"

static const char *const PROGRAM = "mpimr-counter-bench";

enum { VARIANT_NONE, VARIANT_HANDLE, VARIANT_ADD, VARIANT_ADD_TWO, VARIANTS };
static const char *const variant_names[VARIANTS] = {"none", "handle", "add", "add-two"};

static void usage(FILE *out) {
  fprintf(out,
          "NAME\n"
          "    %s - the cost of a job counter per map call, by name and by handle\n"
          "\n"
          "SYNOPSIS\n"
          "    mpirun -np P %s [--calls N] [--repeat N] [--csv FILE]\n"
          "    %s --help\n"
          "\n"
          "DESCRIPTION\n"
          "    Runs map-only jobs of N map_index calls (split over the ranks) that\n"
          "    emit nothing, in four variants: none (an empty map), handle\n"
          "    (mpimr_counter_increment on a handle found once), add\n"
          "    (mpimr_counter_add by a literal name) and add-two (mpimr_counter_add\n"
          "    alternating two names). Prints, for each variant, the median map time\n"
          "    (the largest over ranks) and the cost per call in nanoseconds over\n"
          "    none. The variants alternate, --repeat rounds. Every job's counter\n"
          "    totals are checked against N.\n"
          "\n"
          "OPTIONS\n"
          "    --calls N    map calls per job, over all ranks (default 20000000;\n"
          "                 1000..10000000000)\n"
          "    --repeat N   rounds of the four variants (default 7; 1..1000)\n"
          "    --csv FILE   also write every job as 'round,variant,map_seconds' to FILE\n"
          "    -h, --help   show this text\n"
          "\n"
          "EXIT STATUS\n"
          "    0 on success, 1 if a job failed or a counter total was wrong, 64 for\n"
          "    bad usage.\n",
          PROGRAM, PROGRAM, PROGRAM);
}

static int parse_count(const char *text, long long min, long long max, long long *out) {
  char *end;
  long long value = strtoll(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > max) return -1;
  *out = value;
  return 0;
}

/* One rank's state for the job running: the variant, and the handle the first call finds. */
typedef struct bench_state {
  int variant;
  mpimr_counter *records;
} bench_state;

static int map_index(void *user, uint64_t index, mpimr_emitter *out) {
  bench_state *s = user;
  switch (s->variant) {
    case VARIANT_HANDLE:
      if (s->records == NULL && (s->records = mpimr_counter_find(out, "records")) == NULL)
        return mpimr_fail(out, "no counter handle");
      mpimr_counter_increment(s->records, 1);
      return 0;
    case VARIANT_ADD: return mpimr_counter_add(out, "records", 1);
    case VARIANT_ADD_TWO: return mpimr_counter_add(out, index % 2 ? "records_odd" : "records_even", 1);
    default: return 0;
  }
}

/* Runs one job of `calls` indices; sets the map time (largest over ranks). Returns 0 when the job
 * succeeded and its counters hold what the variant added. */
static int run_variant(int variant, uint64_t calls, double *map_seconds) {
  bench_state state = {variant, NULL};
  mpimr_job_config config;
  mpimr_job_config_init(&config);
  config.user = &state;
  config.map_index = map_index;
  config.index_count = calls;
  config.output_format = MPIMR_OUTPUT_NONE;
  config.pin = MPIMR_PIN_NONE;
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &config);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  int failed = rc != MPIMR_OK;
  if (failed) fprintf(stderr, "%s: %s\n", PROGRAM, job ? mpimr_job_error_message(job) : "no job");
  double mine = failed ? 0 : mpimr_job_get_stats(job)->time_map;
  MPI_Allreduce(&mine, map_seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  if (!failed) {
    uint64_t total = 0, odd = 0, even = 0, records = 0;
    int found = mpimr_job_counter(job, "records", &records) == MPIMR_OK;
    int found_two = mpimr_job_counter(job, "records_odd", &odd) == MPIMR_OK &&
                    mpimr_job_counter(job, "records_even", &even) == MPIMR_OK;
    if (variant == VARIANT_HANDLE || variant == VARIANT_ADD) total = found ? records : 0;
    if (variant == VARIANT_ADD_TWO) total = found_two && !found ? odd + even : 0;
    if (variant == VARIANT_NONE) total = found || found_two ? 0 : calls;
    if (total != calls) {
      fprintf(stderr, "%s: %s: counters total %llu, expected %llu\n", PROGRAM, variant_names[variant],
              (unsigned long long)total, (unsigned long long)calls);
      failed = 1;
    }
  }
  mpimr_job_free(job);
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return failed;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *values, long n) {
  qsort(values, (size_t)n, sizeof *values, compare_doubles);
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

int main(int argc, char **argv) {
  long long calls = 20000000, repeat = 7;
  const char *csv_path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    long long *target = NULL, min = 1, max = 0;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(arg, "--csv") == 0) {
      if (i + 1 == argc) {
        fprintf(stderr, "%s: --csv needs a file name\n", PROGRAM);
        return 64;
      }
      csv_path = argv[++i];
      continue;
    } else if (strcmp(arg, "--calls") == 0) {
      target = &calls, min = 1000, max = 10000000000LL;
    } else if (strcmp(arg, "--repeat") == 0) {
      target = &repeat, max = 1000;
    } else {
      fprintf(stderr, "%s: unknown option '%s' (see --help)\n", PROGRAM, arg);
      return 64;
    }
    if (i + 1 == argc || parse_count(argv[i + 1], min, max, target) != 0) {
      fprintf(stderr, "%s: %s needs a whole number in %lld..%lld\n", PROGRAM, arg, min, max);
      return 64;
    }
    i++;
  }
  MPI_Init(&argc, &argv);
  int rank, ranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  FILE *csv = NULL;
  int failed = 0;
  if (rank == 0 && csv_path) {
    csv = fopen(csv_path, "w");
    if (csv == NULL) {
      perror(csv_path);
      failed = 1;
    } else {
      fprintf(csv, "round,variant,calls,ranks,map_seconds\n");
    }
  }
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  double *times[VARIANTS];
  for (int v = 0; v < VARIANTS; v++) {
    times[v] = calloc((size_t)repeat, sizeof(double));
    if (times[v] == NULL) failed = 1;
  }
  /* One untimed round first: page faults, the first job's set-up. */
  for (long long r = -1; r < repeat && !failed; r++)
    for (int v = 0; v < VARIANTS && !failed; v++) {
      double seconds = 0;
      failed = run_variant(v, (uint64_t)calls, &seconds);
      if (r < 0 || failed) continue;
      times[v][r] = seconds;
      if (csv) fprintf(csv, "%lld,%s,%lld,%d,%.6f\n", r + 1, variant_names[v], calls, ranks, seconds);
    }
  if (rank == 0 && !failed) {
    double calls_a_rank = (double)calls / ranks, medians[VARIANTS];
    for (int v = 0; v < VARIANTS; v++) medians[v] = median(times[v], (long)repeat);
    printf("# %s: %d ranks, %lld map calls a job (%.0f a rank), %lld rounds; medians of the map time\n",
           PROGRAM, ranks, calls, calls_a_rank, repeat);
    printf("%-10s %14s %14s %16s\n", "variant", "map (s)", "ns a call", "ns over none");
    for (int v = 0; v < VARIANTS; v++)
      printf("%-10s %14.4f %14.2f %16.2f\n", variant_names[v], medians[v], medians[v] / calls_a_rank * 1e9,
             (medians[v] - medians[VARIANT_NONE]) / calls_a_rank * 1e9);
  }
  if (csv && fclose(csv) != 0) failed = 1;
  for (int v = 0; v < VARIANTS; v++) free(times[v]);
  MPI_Finalize();
  return failed ? 1 : 0;
}
