/*
 * bench/large_round.c — mpimr-large-round: a job whose shuffle rounds bring
 * rank 0 more than 2 GiB each, as on a node with many ranks and a skewed
 * key, with every byte checked. Every rank emits --bytes-per-rank of values
 * whose keys all partition to rank 0. A value of more than half the round
 * size fills a round alone, so round r carries every rank's r-th value, and
 * with the pairwise or alltoallv transport rank 0 takes (P - 1) x
 * --value-size of it as messages: 2.6 GiB at 4 ranks with the defaults.
 * MPI counts in ints, so such a round cannot be one MPI_Ialltoallv: the
 * alltoallv transport posts MPI_Ialltoallw with derived datatypes, and
 * pairwise receives blocks at offsets past 2 GiB (a block itself over the
 * limit would go in pieces). This program moves such rounds at full size;
 * the test suite runs it small, with MPIMR_MESSAGE_LIMIT lowering the limit
 * (then the blocks go in pieces too). It needs memory: rank 0 holds every
 * pair until it reduces them, about P x --bytes-per-rank.
 */
#include <getopt.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpimr/mpimr.h"

static const char *const PROGRAM = "mpimr-large-round";

static void usage(void) {
  printf(
      "NAME\n"
      "    mpimr-large-round - shuffle rounds of more than 2 GiB into one rank, every byte checked\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P mpimr-large-round [OPTIONS]\n"
      "\n"
      "DESCRIPTION\n"
      "    Every rank emits --bytes-per-rank of values (--value-size each) under keys\n"
      "    that all go to rank 0, with no combiner; rank 0 reduces them and checks\n"
      "    every byte against the rule that made it. A value larger than half the\n"
      "    round size fills a round on its own, so each round carries one value from\n"
      "    every rank, and rank 0 takes (P - 1) x --value-size of it as messages:\n"
      "    2.6 GiB at P = 4 with the defaults, beyond what one MPI call can count.\n"
      "    Prints the rounds, the bytes rank 0 took, the seconds, and whether every\n"
      "    value arrived intact. Memory: rank 0 holds P x --bytes-per-rank of pairs\n"
      "    and a round's messages; every rank a round's buffer and a value.\n"
      "\n"
      "OPTIONS\n"
      "    -t, --transport T       pairwise (default) or alltoallv: both send every\n"
      "                            byte as messages (shared-memory on one node reads\n"
      "                            them in place and moves none)\n"
      "    -b, --bytes-per-rank S  value bytes each rank emits, in whole values\n"
      "                            (default 900M)\n"
      "    -v, --value-size S      bytes per value (default 900M, at most 1000M)\n"
      "    -r, --round-size S      shuffle round size (default 1G, the largest)\n"
      "    -h, --help              show this text\n"
      "\n"
      "EXIT STATUS\n"
      "    0 if every value arrived intact and a round brought rank 0 more bytes as\n"
      "    messages than one MPI call may count (2 GiB - 1, or MPIMR_MESSAGE_LIMIT),\n"
      "    1 if not or the job failed, 64 for a usage error.\n"
      "\n"
      "EXAMPLE\n"
      "    mpirun -np 4 mpimr-large-round -t alltoallv\n");
}

typedef struct run {
  int rank;
  size_t value_bytes;
  uint64_t values_per_rank;
  uint64_t values_checked; /* rank 0: values whose every byte was right */
  uint64_t values_wrong;
} run;

/* The byte at `offset` of value `index` of rank `source`. */
static unsigned char pattern(int source, uint64_t index, size_t offset) {
  return (unsigned char)((uint64_t)source * 131u + index * 7u + offset * 13u + (offset >> 12));
}

static int map_index(void *user, uint64_t index, mpimr_emitter *out) {
  run *r = user;
  unsigned char *value = malloc(r->value_bytes);
  if (value == NULL) return 1;
  for (size_t i = 0; i < r->value_bytes; i++) value[i] = pattern(r->rank, index, i);
  char key[64];
  int key_len = snprintf(key, sizeof key, "%d:%" PRIu64, r->rank, index);
  int rc = mpimr_emit(out, key, (size_t)key_len, value, r->value_bytes);
  free(value);
  return rc;
}

static int reduce_check(void *user, const void *key, size_t key_len, mpimr_values *values,
                        mpimr_emitter *out) {
  (void)out;
  run *r = user;
  char text[64];
  if (key_len >= sizeof text) return 2;
  memcpy(text, key, key_len);
  text[key_len] = '\0';
  int source = -1;
  uint64_t index = 0;
  if (sscanf(text, "%d:%" SCNu64, &source, &index) != 2) return 3;
  const void *value;
  size_t length;
  while (mpimr_values_next(values, &value, &length)) {
    int right = length == r->value_bytes;
    const unsigned char *bytes = value;
    for (size_t i = 0; right && i < length; i++) right = bytes[i] == pattern(source, index, i);
    if (right)
      r->values_checked++;
    else
      r->values_wrong++;
  }
  return 0;
}

static int to_rank0(void *user, const void *key, size_t key_len, uint64_t hash, int nranks) {
  (void)user, (void)key, (void)key_len, (void)hash, (void)nranks;
  return 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, nranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  mpimr_transport transport = MPIMR_TRANSPORT_PAIRWISE;
  uint64_t bytes_per_rank = (uint64_t)900 << 20, value_bytes = (uint64_t)900 << 20,
           round_bytes = (uint64_t)1 << 30;
  static const struct option options[] = {{"transport", required_argument, NULL, 't'},
                                          {"bytes-per-rank", required_argument, NULL, 'b'},
                                          {"value-size", required_argument, NULL, 'v'},
                                          {"round-size", required_argument, NULL, 'r'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
  int opt, bad = 0;
  while (!bad && (opt = getopt_long(argc, argv, "t:b:v:r:h", options, NULL)) != -1) {
    switch (opt) {
      case 't':
        if (mpimr_transport_parse(optarg, &transport) != MPIMR_OK ||
            (transport != MPIMR_TRANSPORT_PAIRWISE && transport != MPIMR_TRANSPORT_ALLTOALLV)) {
          cli_usage_error(rank, PROGRAM, "--transport must be pairwise or alltoallv, not '%s'", optarg);
          bad = 1;
        }
        break;
      case 'b':
        if (cli_parse_size(optarg, 1, (uint64_t)1 << 40, &bytes_per_rank) != 0) {
          cli_usage_error(rank, PROGRAM, "--bytes-per-rank must be a size from 1 byte to 1T, not '%s'",
                          optarg);
          bad = 1;
        }
        break;
      case 'v':
        if (cli_parse_size(optarg, 1, (uint64_t)1000 << 20, &value_bytes) != 0) {
          cli_usage_error(rank, PROGRAM, "--value-size must be a size from 1 byte to 1000M, not '%s'",
                          optarg);
          bad = 1;
        }
        break;
      case 'r':
        if (cli_parse_size(optarg, 4096, (uint64_t)1 << 30, &round_bytes) != 0) {
          cli_usage_error(rank, PROGRAM, "--round-size must be a size from 4K to 1G, not '%s'", optarg);
          bad = 1;
        }
        break;
      case 'h':
        if (rank == 0) usage();
        MPI_Finalize();
        return 0;
      default: bad = 1; break;
    }
  }
  if (!bad && optind < argc) {
    cli_usage_error(rank, PROGRAM, "unexpected argument '%s'", argv[optind]);
    bad = 1;
  }
  if (bad) {
    MPI_Finalize();
    return CLI_EXIT_USAGE;
  }
  run r = {.rank = rank,
           .value_bytes = value_bytes,
           .values_per_rank = (bytes_per_rank + value_bytes - 1) / value_bytes};
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.user = &r;
  cfg.map_index = map_index;
  cfg.index_count = r.values_per_rank * (uint64_t)nranks;
  cfg.reduce = reduce_check;
  cfg.partition = to_rank0;
  cfg.output_format = MPIMR_OUTPUT_NONE;
  cfg.round_bytes = round_bytes;
  cfg.rounds_in_flight = 1;
  cfg.transport = transport;
  mpimr_job *job = NULL;
  double started = MPI_Wtime();
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &cfg);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  double seconds = MPI_Wtime() - started;
  if (rc != MPIMR_OK) {
    fprintf(stderr, "%s: %s\n", PROGRAM, job ? mpimr_job_error_message(job) : mpimr_strerror(rc));
    mpimr_job_free(job);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  const mpimr_job_stats *stats = mpimr_job_get_stats(job);
  int ok = 1;
  if (rank == 0) {
    uint64_t expected = r.values_per_rank * (uint64_t)nranks;
    double messages = (double)(nranks - 1) * (double)value_bytes;
    ok = r.values_wrong == 0 && r.values_checked == expected;
    /* Did a round pass what one MPI call can count? Only then did the large path run. */
    const char *knob = getenv("MPIMR_MESSAGE_LIMIT");
    double limit = knob && atof(knob) >= 1 ? atof(knob) : 2147483647.0;
    int passed = 2 * value_bytes > round_bytes && messages > limit;
    printf("%s: %d ranks, %s, %" PRIu64 " rounds, rank 0 took %.2f GiB in all", PROGRAM, nranks,
           mpimr_transport_name(transport), stats->rounds, (double)stats->bytes_received / (1 << 30));
    if (2 * value_bytes > round_bytes)
      printf(", %.2f GiB of it as messages in each round with values", messages / (1 << 30));
    printf(", %.2f s\n", seconds);
    printf("%s: %" PRIu64 " of %" PRIu64 " values intact, %" PRIu64 " wrong: %s\n", PROGRAM, r.values_checked,
           expected, r.values_wrong, ok ? "ok" : "FAILED");
    if (!passed)
      printf(
          "%s: no round brought rank 0 more than %.0f bytes as messages: FAILED (use more ranks, or values\n"
          "    larger than half the round size)\n",
          PROGRAM, limit);
    ok = ok && passed;
  }
  mpimr_job_free(job);
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
  return ok ? 0 : 1;
}
