/*
 * apps/rmat.c — mpimr-rmat: an R-MAT graph (Chakrabarti, Zhan and Faloutsos,
 * 2004) written as an edge list, made in parallel by an mpimr job.
 *
 * The job's input is the integer range [0, m) of edge numbers (map_index):
 * the map makes edge i from (seed, i) alone with the counter-based generator
 * of rmat_gen.h and emits its text 'SRC<TAB>DST' as the key with an empty
 * value; there is no reducer, and the LINES output format writes each key as
 * a line. So the edge set is the same at every rank count; only which part
 * file an edge lands in depends on it.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "job_cli.h"
#include "mpimr/mpimr.h"
#include "rmat_gen.h"

static const char *const PROGRAM = "mpimr-rmat";

static void print_help(void) {
  printf(
      "NAME\n"
      "    mpimr-rmat - generate an R-MAT graph's edge list with MapReduce over MPI\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P mpimr-rmat --scale N -o OUTDIR [OPTIONS]\n"
      "\n"
      "DESCRIPTION\n"
      "    Makes the m = E * 2^N directed edges of an R-MAT graph on the 2^N vertices\n"
      "    0 .. 2^N - 1. Each edge picks one quadrant of the adjacency matrix per\n"
      "    level, N levels, with probabilities a, b, c and d = 1 - a - b - c (top\n"
      "    left, top right, bottom left, bottom right), which sets one bit of the\n"
      "    source (the row) and of the destination (the column) per level, highest\n"
      "    bit first. Duplicate edges and self-loops are kept, as R-MAT makes them,\n"
      "    and vertices are not relabelled (vertex 0 has the most edges).\n"
      "\n"
      "    Edge i (0 <= i < m) is a function of the seed and i alone, so the edge set\n"
      "    is the same at any rank count. With mix() the splitmix64 finalizer\n"
      "    (z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;\n"
      "    z *= 0x94D049BB133111EB; z ^= z >> 31; mod 2^64), edge i has the state\n"
      "    s = mix(mix(seed) + i), and level l (0 .. N-1) the uniform draw\n"
      "    u = (mix(s + (l + 1) * 0x9E3779B97F4A7C15) >> 11) * 2^-53 in [0, 1):\n"
      "    u < a picks a, u < a+b picks b (destination bit), u < a+b+c picks c\n"
      "    (source bit), else d (both bits); level l decides bit N-1-l.\n"
      "\n"
      "OUTPUT\n"
      "    OUTDIR/part-00000 ... one file per rank, lines 'SRC<TAB>DST' (decimal\n"
      "    vertex ids) in bytewise order within each part, and OUTDIR/_SUCCESS once\n"
      "    every part is complete. The parts together hold every edge exactly once\n"
      "    (a duplicate edge is as many lines).\n"
      "\n"
      "OPTIONS\n"
      "        --scale N             2^N vertices (required; 1..40)\n"
      "        --edge-factor E       E * 2^N edges (default 16; 1..1048576)\n"
      "    -a P, -b P, -c P          quadrant probabilities (defaults 0.57, 0.19,\n"
      "                              0.19), each from 0 to 1, adding up to at most 1\n"
      "        --seed S              the generator's seed (default 1; 0..2^64-1)\n"
      "    -o, --output DIR          output directory (required)\n"
      "    -f, --overwrite           replace the results in an existing DIR\n"
      "%s"
      "    -q, --quiet               do not print the one-line summary\n"
      "    -v, --verbose             report settings and core binding\n"
      "    -h, --help                show this text\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success, 1 if the job failed (every rank stops; the rank that failed\n"
      "    prints the cause), 64 for a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 4 mpimr-rmat --scale 20 -o graph\n"
      "    mpirun -np 2 mpimr-rmat --scale 10 --edge-factor 8 -a 0.45 -b 0.15 -c 0.15 \\\n"
      "        --seed 7 -o graph\n"
      "    mpirun -np 4 mpimr-pagerank -o ranks graph\n",
      JOB_CLI_HELP);
}

/* Writes `v` in decimal at `out` and returns the number of digits. */
static size_t format_decimal(char *out, uint64_t v) {
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
  return n;
}

/* The map function: edge `index` as the line 'SRC<TAB>DST' (the key; the value is empty). */
static int map_edge(void *user, uint64_t index, mpimr_emitter *out) {
  const rmat_params *params = user;
  uint64_t source, destination;
  rmat_edge(params, index, &source, &destination);
  char line[48];
  size_t length = format_decimal(line, source);
  line[length++] = '\t';
  length += format_decimal(line + length, destination);
  /* The empty value as a real pointer: the library copies it with memcpy, which must not get NULL. */
  return mpimr_emit(out, line, length, "", 0);
}

enum option_ids { OPT_SCALE = 256 };

typedef struct options {
  job_cli cli;
  rmat_params graph;
} options;

/* Returns 0, or CLI_EXIT_USAGE after reporting the problem on rank 0. */
static int parse_options(int argc, char **argv, int rank, options *o) {
  static const struct option long_options[] = {JOB_CLI_COMMON_LONG_OPTIONS,
                                               {"scale", required_argument, NULL, OPT_SCALE},
                                               RMAT_LONG_OPTIONS,
                                               JOB_CLI_LONG_OPTIONS,
                                               {NULL, 0, NULL, 0}};
  mpimr_job_config *job = &o->cli.job;
  job_cli_config_init(job);
  job->map_index = map_edge;
  job->output_format = MPIMR_OUTPUT_LINES;
  rmat_params_init(&o->graph);
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, JOB_CLI_SHORT_OPTIONS "a:b:c:", long_options, NULL)) != -1) {
    int status = 0;
    if (c == OPT_SCALE) {
      int scale;
      if (cli_parse_int(optarg, 1, RMAT_SCALE_MAX, &scale) == 0) {
        o->graph.scale = (unsigned)scale;
        continue;
      }
      cli_usage_error(rank, PROGRAM, "--scale must be an integer from 1 to %d, not '%s'", RMAT_SCALE_MAX,
                      optarg);
      return CLI_EXIT_USAGE;
    }
    if (c == 'a' || c == 'b' || c == 'c' || c == RMAT_OPT_EDGE_FACTOR || c == RMAT_OPT_SEED)
      status = rmat_apply_option(&o->graph, c, optarg, rank, PROGRAM);
    else
      status = job_cli_option(&o->cli, c, optarg, argv, rank, PROGRAM);
    if (status != 0 || o->cli.help) return status;
  }
  if (optind < argc) {
    cli_usage_error(rank, PROGRAM, "unexpected operand '%s' (mpimr-rmat reads no input)", argv[optind]);
    return CLI_EXIT_USAGE;
  }
  if (o->graph.scale == 0) {
    cli_usage_error(rank, PROGRAM, "--scale N is required");
    return CLI_EXIT_USAGE;
  }
  const char *problem = rmat_params_check(&o->graph);
  if (problem != NULL) {
    cli_usage_error(rank, PROGRAM, "%s", problem);
    return CLI_EXIT_USAGE;
  }
  if (job->output_dir == NULL) {
    cli_usage_error(rank, PROGRAM, "-o OUTDIR is required");
    return CLI_EXIT_USAGE;
  }
  job->index_count = rmat_edge_count(&o->graph);
  return 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  mpimr_signals_catch(); /* SIGINT and SIGTERM fail the running job cleanly (mpimr/signals.h) */
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  options o;
  memset(&o, 0, sizeof o);
  int status = parse_options(argc, argv, rank, &o);
  if (status == 0 && o.cli.help) {
    if (rank == 0) print_help();
  } else if (status == 0) {
    o.cli.job.user = &o.graph;
    status = job_cli_run(&o.cli, PROGRAM);
  }
  MPI_Finalize();
  return status;
}
