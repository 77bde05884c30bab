/*
 * bench/shuffle_bench.c — mpimr-shuffle-bench: the shuffle's transports
 * against raw MPI, in the manner of the OSU micro-benchmarks
 * (osu_alltoallv for latency, osu_ialltoall for overlap).
 *
 * For each traffic pattern and each size (bytes per peer, doubling), the
 * methods run `warmup` untimed then `iterations` timed exchanges each, taking
 * turns exchange by exchange so that a noisy machine disturbs them alike.
 * Each exchange is filled before and checked after its timed region; all
 * ranks leave a barrier together before it.
 *
 * The mpimr methods drive the library's own shuffle (src/shuffle) on an
 * executor, one round per exchange, exactly as a job does: seal the round,
 * then let the executor run the shuffle driver until the round is received.
 * For overlap, a compute future burns the CPU in short slices, each followed
 * by a tick of the executor, whose reactor then progresses the round.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpimr/mpimr.h"
#include "shuffle/shuffle.h"
#include "util/clock.h"
#include "util/trace.h"

static const char *const PROGRAM = "mpimr-shuffle-bench";

static void print_help(void) {
  fputs(
      "NAME\n"
      "    mpimr-shuffle-bench - latency, bandwidth and overlap of mpimr's shuffle\n"
      "    transports against raw MPI all-to-all\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P mpimr-shuffle-bench [OPTIONS]\n"
      "\n"
      "DESCRIPTION\n"
      "    Sweeps the bytes each rank sends to each peer from --min-size to --max-size\n"
      "    in powers of two and, at each size, times these methods:\n"
      "\n"
      "    mpimr-alltoallv   mpimr's shuffle round with the alltoallv transport: an\n"
      "                      MPI_Ialltoall of the per-peer sizes, then one\n"
      "                      MPI_Ialltoallv of the bytes, driven by the executor\n"
      "    mpimr-pairwise    the same round with the pairwise transport: MPI_Isend/\n"
      "                      MPI_Irecv to and from only the peers with bytes, at most\n"
      "                      --peer-window of each outstanding\n"
      "    mpimr-shared-memory\n"
      "                      the round with the shared-memory transport: ranks on one\n"
      "                      node read each other's send buffers in place, so no bytes\n"
      "                      move; with every rank on one node the round's headers and\n"
      "                      its release go through shared memory too (no MPI at all),\n"
      "                      unless --rounds-by-mpi\n"
      "    mpimr-auto        the round with the transport MPIMR_TRANSPORT_AUTO picks\n"
      "    mpi-alltoallv     a blocking MPI_Alltoallv (no overlap figures)\n"
      "    mpi-ialltoallv    MPI_Ialltoallv and MPI_Wait; for overlap, MPI_Test\n"
      "                      between compute slices (the OSU method)\n"
      "\n"
      "    The methods take turns: each iteration runs every method once, starting\n"
      "    one method further along each time, so that a burst of other load on\n"
      "    the machine falls on all of them alike; the warm-up iterations come\n"
      "    first and are not timed. Before each exchange every rank fills its send\n"
      "    buffer and all ranks meet in MPI_Barrier; after it the bytes received\n"
      "    are checked (--check). Neither is timed. With --repeat R all of this\n"
      "    runs R times at each size and every figure is the median of the R\n"
      "    repetitions.\n"
      "\n"
      "    Overlap follows osu_ialltoall. The pure communication time t_pure is\n"
      "    the latency above. Then each exchange is started, the rank computes for\n"
      "    t_pure (in slices of --slice-us, progressing the exchange between\n"
      "    slices), and waits for the rest:\n"
      "        overlap% = max(0, 100 * (1 - (t_overall - t_compute) / t_pure))\n"
      "    where t_overall is the whole exchange and t_compute the time spent\n"
      "    computing (the progress calls between slices excluded). 100% means\n"
      "    the communication was entirely hidden behind the computation.\n"
      "\n"
      "PATTERNS\n"
      "    uniform   every rank sends SIZE bytes to every rank, itself included\n"
      "    zipf      every rank sends P * SIZE bytes in all, split over the ranks by\n"
      "              a Zipf law of exponent --zipf-exponent: the j-th destination\n"
      "              after the rank itself (rank+1, rank+2, ... mod P, then itself)\n"
      "              gets a share proportional to 1/j^s; SIZE is the mean per peer\n"
      "    sparse    every rank sends SIZE bytes to its next K ranks only\n"
      "              (K = --sparse-peers), nothing to the others\n"
      "\n"
      "OPTIONS\n"
      "    -p, --pattern LIST        patterns, comma-separated (default uniform;\n"
      "                              'all' for uniform,zipf,sparse)\n"
      "    -m, --min-size SIZE       smallest bytes per peer (default 1; suffixes K, M, G)\n"
      "    -M, --max-size SIZE       largest bytes per peer (default 4M); P * SIZE must\n"
      "                              stay within 1 GiB (MPI int counts)\n"
      "    -i, --iterations N        timed exchanges per method at sizes up to\n"
      "                              --large-size (default 200)\n"
      "        --iterations-large N  timed exchanges above it (default 50)\n"
      "    -x, --warmup N            untimed exchanges first (default 20)\n"
      "        --warmup-large N      untimed exchanges above --large-size (default 5)\n"
      "        --large-size SIZE     where the large counts start (default 8K, as OSU)\n"
      "    -r, --repeat R            alternate the methods R times per size and report\n"
      "                              medians (default 1)\n"
      "    -t, --transport LIST      methods, comma-separated, from the list above; the\n"
      "                              short names alltoallv, pairwise, shared-memory and\n"
      "                              auto mean the mpimr ones (default: mpi-alltoallv,\n"
      "                              mpi-ialltoallv,mpimr-alltoallv,mpimr-pairwise,\n"
      "                              mpimr-shared-memory)\n"
      "    -w, --peer-window N       pairwise window (default 0: the library's, 8)\n"
      "        --consume             each rank reads every byte it received (sums it as\n"
      "                              64-bit words) inside the timed exchange, as a job\n"
      "                              folding the pairs would; this charges the\n"
      "                              shared-memory transport for reading its bytes in\n"
      "                              the sender's memory, and the others for reading\n"
      "                              their copy\n"
      "        --rounds-by-mpi       shared-memory: send each round's headers by\n"
      "                              MPI_Ialltoall and its release by MPI_Ibarrier, as\n"
      "                              when the ranks span nodes, even on one node\n"
      "        --ranks-per-node N    shared-memory: at most N consecutive ranks of the\n"
      "                              node read each other's buffers, and the groups\n"
      "                              exchange messages as nodes do (default 0: the\n"
      "                              whole node; 1 shares nothing)\n"
      "        --sparse-peers K      destinations per rank in the sparse pattern\n"
      "                              (1..P-1; default 2, or 1 with 2 ranks)\n"
      "        --zipf-exponent S     the Zipf exponent (default 1.0; 0..8)\n"
      "        --slice-us US         compute slice between progress calls in the\n"
      "                              overlap test (default 0: t_pure / 20 on each rank,\n"
      "                              kept within 5..100 us; else 1..100000)\n"
      "        --idle POLICY         what mpimr's executor does while it waits: auto (the\n"
      "                              default, as in a job: spin, then yield, then sleep\n"
      "                              up to 50 us; yield at once when oversubscribed),\n"
      "                              spin, or yield\n"
      "        --stat mean|median    how a rank's timed exchanges make its figure: their\n"
      "                              mean (the default, as OSU) or their median, which\n"
      "                              a machine shared with other work disturbs less\n"
      "        --no-overlap          skip the overlap test (halves the run time)\n"
      "        --check               check every byte received (the default)\n"
      "        --no-check            do not check\n"
      "        --csv FILE            also write the results as CSV\n"
      "        --json FILE           also write the settings and results as JSON\n"
      "        --trace FILE          write a timeline of the mpimr rounds (Chrome\n"
      "                              trace-event JSON, one track per rank; compute\n"
      "                              slices show as map slices) for Perfetto\n"
      "    -h, --help                show this text\n"
      "\n"
      "OUTPUT\n"
      "    Rank 0 prints one table per pattern, a row per size and method, with the\n"
      "    OSU column names (CSV and JSON name them in brackets):\n"
      "    Size             bytes per peer [size]\n"
      "    Avg Latency(us)  time of one exchange, the mean (or --stat median) over\n"
      "                     the timed iterations on each rank, averaged over ranks\n"
      "                     [avg_latency_us]; Min and Max: the fastest and slowest\n"
      "                     rank [min_latency_us, max_latency_us]\n"
      "    Bandwidth(MB/s)  bytes a rank sends to and receives from the other ranks\n"
      "                     (its own bytes not counted) per exchange, divided by its\n"
      "                     latency, averaged over ranks; MB = 10^6 bytes\n"
      "                     [bandwidth_mb_s]\n"
      "    Overall(us)      the exchange with compute inside it [overall_us]\n"
      "    Compute(us)      the computing part of it [compute_us]\n"
      "    Pure Comm.(us)   = Avg Latency [pure_comm_us]\n"
      "    Overlap(%)       the formula above [overlap_pct]; '-' (CSV: empty, JSON:\n"
      "                     null) for the blocking method or with --no-overlap\n"
      "    Iterations       timed exchanges per repetition [iterations]\n"
      "    CSV and JSON rows also carry pattern, method, ranks, repeats and checked.\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success, 1 if the run failed (a wrong byte received, an MPI or\n"
      "    shuffle error, an output file that cannot be written), 64 for a usage\n"
      "    error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 2 mpimr-shuffle-bench\n"
      "    mpirun -np 4 mpimr-shuffle-bench -p all -M 1M -r 5 --csv r.csv --json r.json\n"
      "    mpirun -np 2 mpimr-shuffle-bench -t pairwise -w 1 -m 1M -M 1M --trace t.json\n",
      stdout);
}

/* ---- settings ------------------------------------------------------------ */

static const char *const idle_names[] = {"auto", "spin", "yield"};

enum pattern_id { PATTERN_UNIFORM, PATTERN_ZIPF, PATTERN_SPARSE, PATTERN_COUNT };
static const char *const pattern_names[PATTERN_COUNT] = {"uniform", "zipf", "sparse"};

/* The raw MPI methods come first: their ids index bench.send_buffers and recv_buffers. */
enum method_id {
  METHOD_MPI_ALLTOALLV,
  METHOD_MPI_IALLTOALLV,
  METHOD_MPIMR_ALLTOALLV,
  METHOD_MPIMR_PAIRWISE,
  METHOD_MPIMR_SHARED_MEMORY,
  METHOD_MPIMR_AUTO,
  METHOD_COUNT
};

static const struct method_info {
  const char *name;
  const char *short_name; /* Also accepted by --transport. */
  int is_mpimr;
  int overlaps; /* Has an overlap test. */
  mpimr_transport transport;
} method_table[METHOD_COUNT] = {
    {"mpi-alltoallv", NULL, 0, 0, MPIMR_TRANSPORT_AUTO},
    {"mpi-ialltoallv", NULL, 0, 1, MPIMR_TRANSPORT_AUTO},
    {"mpimr-alltoallv", "alltoallv", 1, 1, MPIMR_TRANSPORT_ALLTOALLV},
    {"mpimr-pairwise", "pairwise", 1, 1, MPIMR_TRANSPORT_PAIRWISE},
    {"mpimr-shared-memory", "shared-memory", 1, 1, MPIMR_TRANSPORT_SHARED_MEMORY},
    {"mpimr-auto", "auto", 1, 1, MPIMR_TRANSPORT_AUTO},
};

typedef struct settings {
  int patterns[PATTERN_COUNT];
  int pattern_count;
  int methods[METHOD_COUNT];
  int method_count;
  uint64_t min_size;
  uint64_t max_size;
  uint64_t large_size;
  int iterations;
  int iterations_large;
  int warmup;
  int warmup_large;
  int repeat;
  int peer_window;
  int rounds_by_mpi;
  int ranks_per_node;
  int consume;
  int sparse_peers; /* 0 until resolved against the rank count. */
  double zipf_exponent;
  double slice_us;
  mpimr_idle_policy idle;
  int use_median; /* --stat median */
  int overlap;
  int check;
  const char *csv_path;
  const char *json_path;
  const char *trace_path;
  int help;
} settings;

enum option_ids {
  OPT_ITERATIONS_LARGE = 256,
  OPT_WARMUP_LARGE,
  OPT_LARGE_SIZE,
  OPT_SPARSE_PEERS,
  OPT_ZIPF_EXPONENT,
  OPT_SLICE_US,
  OPT_IDLE,
  OPT_STAT,
  OPT_NO_OVERLAP,
  OPT_ROUNDS_BY_MPI,
  OPT_RANKS_PER_NODE,
  OPT_CONSUME,
  OPT_CHECK,
  OPT_NO_CHECK,
  OPT_CSV,
  OPT_JSON,
  OPT_TRACE
};

/* Parses a comma-separated list of names into ids (no repeats). Returns 0, or -1 naming the bad item. */
static int parse_list(const char *text, int (*lookup)(const char *, size_t), int *ids, int *count,
                      int capacity, char *bad, size_t bad_size) {
  *count = 0;
  const char *p = text;
  for (;;) {
    const char *end = strchr(p, ',');
    size_t length = end ? (size_t)(end - p) : strlen(p);
    int id = lookup(p, length);
    int repeated = 0;
    for (int i = 0; i < *count; i++) repeated |= ids[i] == id;
    if (id < 0 || repeated || *count == capacity) {
      snprintf(bad, bad_size, "%.*s", (int)(length < 64 ? length : 64), p);
      return -1;
    }
    ids[(*count)++] = id;
    if (end == NULL) return 0;
    p = end + 1;
  }
}

static int name_is(const char *name, const char *text, size_t length) {
  return name && strlen(name) == length && strncmp(name, text, length) == 0;
}

static int lookup_pattern(const char *text, size_t length) {
  for (int i = 0; i < PATTERN_COUNT; i++)
    if (name_is(pattern_names[i], text, length)) return i;
  return -1;
}

static int lookup_method(const char *text, size_t length) {
  for (int i = 0; i < METHOD_COUNT; i++)
    if (name_is(method_table[i].name, text, length) || name_is(method_table[i].short_name, text, length))
      return i;
  return -1;
}

static void settings_init(settings *s) {
  memset(s, 0, sizeof *s);
  s->patterns[0] = PATTERN_UNIFORM;
  s->pattern_count = 1;
  static const int default_methods[] = {METHOD_MPI_ALLTOALLV, METHOD_MPI_IALLTOALLV, METHOD_MPIMR_ALLTOALLV,
                                        METHOD_MPIMR_PAIRWISE, METHOD_MPIMR_SHARED_MEMORY};
  memcpy(s->methods, default_methods, sizeof default_methods);
  s->method_count = (int)(sizeof default_methods / sizeof default_methods[0]);
  s->min_size = 1;
  s->max_size = 4 << 20;
  s->large_size = 8 << 10;
  s->iterations = 200;
  s->iterations_large = 50;
  s->warmup = 20;
  s->warmup_large = 5;
  s->repeat = 1;
  s->zipf_exponent = 1.0;
  s->slice_us = 0;
  s->overlap = 1;
  s->check = 1;
}

/* Sends of one exchange must fit MPI's int counts and the shuffle's 1 GiB rounds. */
static uint64_t destinations_per_rank(const settings *s, int pattern, int nranks) {
  return pattern == PATTERN_SPARSE ? (uint64_t)s->sparse_peers : (uint64_t)nranks;
}

/* Returns 0, or CLI_EXIT_USAGE after reporting the problem on rank 0. */
static int parse_options(int argc, char **argv, int rank, int nranks, settings *s) {
  static const struct option long_options[] = {
      {"pattern", required_argument, NULL, 'p'},
      {"min-size", required_argument, NULL, 'm'},
      {"max-size", required_argument, NULL, 'M'},
      {"iterations", required_argument, NULL, 'i'},
      {"iterations-large", required_argument, NULL, OPT_ITERATIONS_LARGE},
      {"warmup", required_argument, NULL, 'x'},
      {"warmup-large", required_argument, NULL, OPT_WARMUP_LARGE},
      {"large-size", required_argument, NULL, OPT_LARGE_SIZE},
      {"repeat", required_argument, NULL, 'r'},
      {"transport", required_argument, NULL, 't'},
      {"peer-window", required_argument, NULL, 'w'},
      {"sparse-peers", required_argument, NULL, OPT_SPARSE_PEERS},
      {"zipf-exponent", required_argument, NULL, OPT_ZIPF_EXPONENT},
      {"slice-us", required_argument, NULL, OPT_SLICE_US},
      {"idle", required_argument, NULL, OPT_IDLE},
      {"stat", required_argument, NULL, OPT_STAT},
      {"no-overlap", no_argument, NULL, OPT_NO_OVERLAP},
      {"rounds-by-mpi", no_argument, NULL, OPT_ROUNDS_BY_MPI},
      {"ranks-per-node", required_argument, NULL, OPT_RANKS_PER_NODE},
      {"consume", no_argument, NULL, OPT_CONSUME},
      {"check", no_argument, NULL, OPT_CHECK},
      {"no-check", no_argument, NULL, OPT_NO_CHECK},
      {"csv", required_argument, NULL, OPT_CSV},
      {"json", required_argument, NULL, OPT_JSON},
      {"trace", required_argument, NULL, OPT_TRACE},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  settings_init(s);
  opterr = 0;
  int c;
  char bad[80];
  while ((c = getopt_long(argc, argv, ":p:m:M:i:x:r:t:w:h", long_options, NULL)) != -1) {
    switch (c) {
      case 'h': s->help = 1; return 0;
      case 'p':
        if (strcmp(optarg, "all") == 0) {
          for (int i = 0; i < PATTERN_COUNT; i++) s->patterns[i] = i;
          s->pattern_count = PATTERN_COUNT;
        } else if (parse_list(optarg, lookup_pattern, s->patterns, &s->pattern_count, PATTERN_COUNT, bad,
                              sizeof bad) != 0) {
          cli_usage_error(rank, PROGRAM, "--pattern: '%s' is not uniform, zipf or sparse (or is repeated)",
                          bad);
          return CLI_EXIT_USAGE;
        }
        break;
      case 'm':
      case 'M':
      case OPT_LARGE_SIZE: {
        uint64_t size;
        const char *name = c == 'm' ? "--min-size" : c == 'M' ? "--max-size" : "--large-size";
        if (cli_parse_size(optarg, c == OPT_LARGE_SIZE ? 0 : 1, (uint64_t)1 << 30, &size) != 0) {
          cli_usage_error(rank, PROGRAM, "%s must be a size from %s to 1G, not '%s'", name,
                          c == OPT_LARGE_SIZE ? "0" : "1", optarg);
          return CLI_EXIT_USAGE;
        }
        *(c == 'm' ? &s->min_size : c == 'M' ? &s->max_size : &s->large_size) = size;
        break;
      }
      case 'i':
      case OPT_ITERATIONS_LARGE:
        if (cli_parse_int(optarg, 1, 10000000, c == 'i' ? &s->iterations : &s->iterations_large) != 0) {
          cli_usage_error(rank, PROGRAM, "%s must be an integer from 1 to 10000000, not '%s'",
                          c == 'i' ? "--iterations" : "--iterations-large", optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case 'x':
      case OPT_WARMUP_LARGE:
        if (cli_parse_int(optarg, 0, 10000000, c == 'x' ? &s->warmup : &s->warmup_large) != 0) {
          cli_usage_error(rank, PROGRAM, "%s must be an integer from 0 to 10000000, not '%s'",
                          c == 'x' ? "--warmup" : "--warmup-large", optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case 'r':
        if (cli_parse_int(optarg, 1, 1000, &s->repeat) != 0) {
          cli_usage_error(rank, PROGRAM, "--repeat must be an integer from 1 to 1000, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case 't':
        if (parse_list(optarg, lookup_method, s->methods, &s->method_count, METHOD_COUNT, bad, sizeof bad) !=
            0) {
          cli_usage_error(rank, PROGRAM,
                          "--transport: '%s' is not one of mpi-alltoallv, mpi-ialltoallv, mpimr-alltoallv "
                          "(alltoallv), mpimr-pairwise (pairwise), mpimr-auto (auto), or is repeated",
                          bad);
          return CLI_EXIT_USAGE;
        }
        break;
      case 'w':
        if (cli_parse_int(optarg, 0, 1 << 20, &s->peer_window) != 0) {
          cli_usage_error(rank, PROGRAM, "--peer-window must be an integer from 0 to 1048576, not '%s'",
                          optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_SPARSE_PEERS: {
        int most = nranks > 1 ? nranks - 1 : 1;
        if (cli_parse_int(optarg, 1, most, &s->sparse_peers) != 0) {
          cli_usage_error(rank, PROGRAM,
                          "--sparse-peers must be an integer from 1 to %d with %d ranks, not '%s'", most,
                          nranks, optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      }
      case OPT_ZIPF_EXPONENT:
        if (cli_parse_double(optarg, 0, 8, &s->zipf_exponent) != 0) {
          cli_usage_error(rank, PROGRAM, "--zipf-exponent must be a number from 0 to 8, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_SLICE_US:
        if (cli_parse_double(optarg, 0, 100000, &s->slice_us) != 0 || (s->slice_us > 0 && s->slice_us < 1)) {
          cli_usage_error(rank, PROGRAM, "--slice-us must be 0 or a number from 1 to 100000, not '%s'",
                          optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_IDLE:
        if (strcmp(optarg, "auto") == 0)
          s->idle = MPIMR_IDLE_AUTO;
        else if (strcmp(optarg, "spin") == 0)
          s->idle = MPIMR_IDLE_SPIN;
        else if (strcmp(optarg, "yield") == 0)
          s->idle = MPIMR_IDLE_YIELD;
        else {
          cli_usage_error(rank, PROGRAM, "--idle must be auto, spin or yield, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_STAT:
        if (strcmp(optarg, "mean") != 0 && strcmp(optarg, "median") != 0) {
          cli_usage_error(rank, PROGRAM, "--stat must be mean or median, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        s->use_median = strcmp(optarg, "median") == 0;
        break;
      case OPT_NO_OVERLAP: s->overlap = 0; break;
      case OPT_ROUNDS_BY_MPI: s->rounds_by_mpi = 1; break;
      case OPT_RANKS_PER_NODE:
        if (cli_parse_int(optarg, 0, 1 << 20, &s->ranks_per_node) != 0) {
          cli_usage_error(rank, PROGRAM, "--ranks-per-node must be an integer from 0 to 1048576, not '%s'",
                          optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_CONSUME: s->consume = 1; break;
      case OPT_CHECK: s->check = 1; break;
      case OPT_NO_CHECK: s->check = 0; break;
      case OPT_CSV: s->csv_path = optarg; break;
      case OPT_JSON: s->json_path = optarg; break;
      case OPT_TRACE: s->trace_path = optarg; break;
      case ':':
        cli_usage_error(rank, PROGRAM, "option '%s' needs a value", argv[optind - 1]);
        return CLI_EXIT_USAGE;
      default: cli_usage_error(rank, PROGRAM, "unknown option '%s'", argv[optind - 1]); return CLI_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    cli_usage_error(rank, PROGRAM, "unexpected argument '%s'", argv[optind]);
    return CLI_EXIT_USAGE;
  }
  if (s->min_size > s->max_size) {
    cli_usage_error(rank, PROGRAM, "--min-size (%llu) is larger than --max-size (%llu)",
                    (unsigned long long)s->min_size, (unsigned long long)s->max_size);
    return CLI_EXIT_USAGE;
  }
  if (s->sparse_peers == 0) s->sparse_peers = nranks > 2 ? 2 : 1;
  for (int i = 0; i < s->pattern_count; i++) {
    uint64_t per_rank = destinations_per_rank(s, s->patterns[i], nranks) * s->max_size;
    if (per_rank > ((uint64_t)1 << 30)) {
      cli_usage_error(rank, PROGRAM,
                      "--max-size %llu with pattern %s at %d ranks sends %llu bytes per rank per exchange; "
                      "at most 1 GiB (1073741824) fits MPI's int counts and a shuffle round",
                      (unsigned long long)s->max_size, pattern_names[s->patterns[i]], nranks,
                      (unsigned long long)per_rank);
      return CLI_EXIT_USAGE;
    }
  }
  return 0;
}

/* ---- traffic ------------------------------------------------------------- */

/* What every rank sends to every rank in one exchange of one pattern and size: bytes[src * P + dst]. */
typedef struct traffic {
  int nranks;
  int rank;
  uint64_t *bytes;
  int *send_counts;
  int *send_displs;
  int *recv_counts;
  int *recv_displs;
  size_t send_total;
  size_t recv_total;
  uint64_t network_bytes; /* This rank's bytes to and from the other ranks. */
} traffic;

static int traffic_init(traffic *t, int nranks, int rank) {
  memset(t, 0, sizeof *t);
  t->nranks = nranks;
  t->rank = rank;
  size_t n = (size_t)nranks;
  t->bytes = malloc(sizeof *t->bytes * n * n);
  t->send_counts = malloc(sizeof(int) * n);
  t->send_displs = malloc(sizeof(int) * n);
  t->recv_counts = malloc(sizeof(int) * n);
  t->recv_displs = malloc(sizeof(int) * n);
  return t->bytes && t->send_counts && t->send_displs && t->recv_counts && t->recv_displs ? 0 : -1;
}

static void traffic_destroy(traffic *t) {
  free(t->bytes);
  free(t->send_counts);
  free(t->send_displs);
  free(t->recv_counts);
  free(t->recv_displs);
}

/* One source's row: `size` bytes per peer on average, laid out by the pattern. */
static void fill_row(const settings *s, int pattern, int nranks, int src, uint64_t size, uint64_t *row) {
  memset(row, 0, sizeof *row * (size_t)nranks);
  if (pattern == PATTERN_UNIFORM) {
    for (int d = 0; d < nranks; d++) row[d] = size;
  } else if (pattern == PATTERN_SPARSE) {
    for (int j = 1; j <= s->sparse_peers; j++) row[(src + j) % nranks] += size;
  } else {
    /* Zipf: the j-th destination (rank+1, rank+2, ..., then the rank itself) gets a share ∝ 1/j^s. */
    double weights = 0;
    for (int j = 1; j <= nranks; j++) weights += pow(j, -s->zipf_exponent);
    uint64_t total = size * (uint64_t)nranks, given = 0;
    for (int j = 2; j <= nranks; j++) {
      uint64_t share = (uint64_t)floor((double)total * pow(j, -s->zipf_exponent) / weights);
      row[(src + j) % nranks] = share;
      given += share;
    }
    row[(src + 1) % nranks] += total - given; /* the heaviest takes the rounding */
  }
}

static void traffic_plan(traffic *t, const settings *s, int pattern, uint64_t size) {
  int n = t->nranks;
  for (int src = 0; src < n; src++) fill_row(s, pattern, n, src, size, t->bytes + (size_t)src * (size_t)n);
  t->send_total = t->recv_total = 0;
  t->network_bytes = 0;
  for (int peer = 0; peer < n; peer++) {
    uint64_t out = t->bytes[(size_t)t->rank * (size_t)n + (size_t)peer];
    uint64_t in = t->bytes[(size_t)peer * (size_t)n + (size_t)t->rank];
    t->send_counts[peer] = (int)out;
    t->send_displs[peer] = (int)t->send_total;
    t->recv_counts[peer] = (int)in;
    t->recv_displs[peer] = (int)t->recv_total;
    t->send_total += out;
    t->recv_total += in;
    if (peer != t->rank) t->network_bytes += out + in;
  }
}

/* ---- bytes that can be checked --------------------------------------------
 * Message (src -> dst) of exchange `stamp` holds ramp[seed ...], ramp[k] = k mod 256,
 * so a fill is one memcpy, a check one memcmp, and a stale or misplaced block fails. */

static unsigned seed_of(int src, int dst, uint64_t stamp) {
  return (unsigned)(((uint64_t)src * 37 + (uint64_t)dst * 101 + stamp * 59) & 0xff);
}

static unsigned char *ramp_create(size_t longest) {
  unsigned char *ramp = malloc(longest + 256);
  if (ramp)
    for (size_t k = 0; k < longest + 256; k++) ramp[k] = (unsigned char)k;
  return ramp;
}

static void fill_message(unsigned char *at, const unsigned char *ramp, int src, int dst, uint64_t stamp,
                         size_t length) {
  memcpy(at, ramp + seed_of(src, dst, stamp), length);
}

/* One piece of a received round, as the shuffle handed it over. */
typedef struct received_piece {
  const unsigned char *data;
  size_t length;
  int source; /* SHUFFLE_SOURCE_SEVERAL: the sources not handed over alone, in rank order. */
} received_piece;

/*
 * Checks a round handed over in pieces: a piece per source read in place,
 * and at most one piece holding the other sources' bytes in rank order (a
 * raw method's receive buffer is one such piece). Returns the number of
 * sources whose bytes are wrong or missing (a stray piece counts as one).
 */
static int check_pieces(const traffic *t, const received_piece *pieces, int count, const unsigned char *ramp,
                        uint64_t stamp) {
  const received_piece *several = NULL;
  int wrong = 0;
  size_t alone_bytes = 0;
  for (int i = 0; i < count; i++) {
    const received_piece *p = &pieces[i];
    if (p->source == SHUFFLE_SOURCE_SEVERAL) {
      wrong += several != NULL;
      several = p;
    } else if (p->source < 0 || p->source >= t->nranks || p->length != (size_t)t->recv_counts[p->source]) {
      wrong++;
    } else {
      wrong += memcmp(p->data, ramp + seed_of(p->source, t->rank, stamp), p->length) != 0;
      alone_bytes += p->length;
    }
  }
  size_t at = 0, several_length = several ? several->length : 0;
  for (int src = 0; src < t->nranks; src++) {
    int alone = 0;
    for (int i = 0; i < count; i++) alone |= pieces[i].source == src;
    size_t length = (size_t)t->recv_counts[src];
    if (alone || length == 0) continue;
    if (at + length > several_length) {
      wrong++;
      continue;
    }
    wrong += memcmp(several->data + at, ramp + seed_of(src, t->rank, stamp), length) != 0;
    at += length;
  }
  return wrong + (at != several_length) + (alone_bytes + several_length != t->recv_total);
}

/* ---- consuming received bytes ------------------------------------------- */

/* Reads every byte of `data` (--consume): the sum of its 64-bit words and of the bytes past them. */
static uint64_t sum_words(const unsigned char *data, size_t length) {
  uint64_t sum = 0, word;
  size_t i = 0;
  for (; i + 8 <= length; i += 8) {
    memcpy(&word, data + i, 8);
    sum += word;
  }
  for (; i < length; i++) sum += data[i];
  return sum;
}

/* ---- compute ------------------------------------------------------------- */

/* Busy arithmetic for `seconds` (at least); returns the time it took. */
static double compute_for(double seconds) {
  double start = clock_now(), now;
  volatile double sink = 1.0;
  double x = sink;
  do {
    for (int i = 0; i < 256; i++) x = x * 1.000000001 + 1e-12;
    now = clock_now();
  } while (now - start < seconds);
  sink = x;
  return now - start;
}

/* A compute future: `target` seconds of compute in slices, a tick of the executor after each. */
typedef struct compute_task {
  mpimr_future base;
  double target;
  double slice;
  double spent;
  trace *timeline;
} compute_task;

static mpimr_poll_result compute_poll(mpimr_future *self, mpimr_executor *ex) {
  compute_task *task = (compute_task *)self;
  double left = task->target - task->spent;
  double started = clock_now();
  task->spent += compute_for(left < task->slice ? left : task->slice);
  trace_span(task->timeline, TRACE_MAP_SLICE, started, clock_now(), 0);
  if (task->spent >= task->target) return MPIMR_READY;
  mpimr_future_wake(ex, self);
  return MPIMR_PENDING;
}

/* ---- the mpimr shuffle side ---------------------------------------------- */

/*
 * The last round's pieces. They stay valid until they are checked: a piece
 * in the shuffle's buffer until its slot takes another round, and a piece
 * read in place (shared-memory) until its sender refills that set, which
 * it can do only after this rank has started the next exchange (every
 * exchange begins with a barrier, after the check).
 */
typedef struct bench_shuffle {
  shuffle *sh;
  received_piece *pieces; /* At most one per rank and one of several ranks: piece_room. */
  int piece_room;
  int piece_count;
  int extra_pieces; /* Pieces beyond the room: the check counts them wrong. */
  int consume;      /* --consume: read every byte handed over. */
  uint64_t consumed;
} bench_shuffle;

static int on_receive(void *context, unsigned char *data, size_t length, size_t capacity, int source,
                      int *kept) {
  (void)capacity;
  bench_shuffle *b = context;
  if (b->consume) b->consumed += sum_words(data, length);
  if (b->piece_count < b->piece_room)
    b->pieces[b->piece_count++] = (received_piece){data, length, source};
  else
    b->extra_pieces++;
  *kept = 0;
  return MPIMR_OK;
}

/* Ready once the shuffle has received `target` rounds, or (target 0) can seal one (or failed). */
typedef struct round_waiter {
  mpimr_future base;
  shuffle *sh;
  uint64_t target;
} round_waiter;

static mpimr_poll_result waiter_poll(mpimr_future *self, mpimr_executor *ex) {
  (void)ex;
  round_waiter *w = (round_waiter *)self;
  int done = w->target ? shuffle_rounds_received(w->sh) >= w->target : shuffle_can_seal(w->sh);
  if (done || shuffle_status(w->sh) != MPIMR_OK) return MPIMR_READY;
  shuffle_wake_on_progress(w->sh, self);
  return MPIMR_PENDING;
}

/* Runs the executor until `sh` has received `target` rounds (0: can seal one); returns a status. */
static int wait_for_shuffle(mpimr_executor *ex, shuffle *sh, uint64_t target) {
  round_waiter waiter = {.sh = sh, .target = target};
  mpimr_future_init(&waiter.base, waiter_poll);
  int rc = mpimr_executor_block_on(ex, &waiter.base);
  return rc == MPIMR_OK ? shuffle_status(sh) : rc;
}

/* ---- one run of the whole benchmark --------------------------------------- */

typedef struct bench {
  settings s;
  int rank;
  int nranks;
  traffic plan;
  unsigned char *ramp;
  /* Each raw method has buffers of its own, as each shuffle has its own: one method's exchange
   * must not warm the cache for another's. */
  unsigned char *send_buffers[2];
  unsigned char *recv_buffers[2];
  size_t *exact_lengths;
  mpimr_executor *executor;
  bench_shuffle shuffles[METHOD_COUNT];
  trace timeline;
  uint64_t stamp;    /* Exchanges so far, the same on every rank. */
  uint64_t wrong;    /* Sources whose bytes were wrong, over the run. */
  uint64_t consumed; /* --consume: the raw methods' sum of what they read. */
  double *samples;   /* Per-exchange times of one measurement: methods x 2 x iterations. */
} bench;

/* A failure in the middle of an exchange: the other ranks may be waiting for this rank's bytes. */
static void fail_exchange(const bench *b, const char *what, int status, const char *detail)
    __attribute__((noreturn));

static void fail_exchange(const bench *b, const char *what, int status, const char *detail) {
  fprintf(stderr, "%s: rank %d: %s: %s%s%s\n", PROGRAM, b->rank, what, mpimr_strerror(status),
          detail && detail[0] ? ": " : "", detail ? detail : "");
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1); /* MPI_Abort does not return; this says so to the compiler */
}

static double median(double *values, int count) {
  for (int i = 1; i < count; i++)
    for (int j = i; j > 0 && values[j - 1] > values[j]; j--) {
      double swap = values[j];
      values[j] = values[j - 1];
      values[j - 1] = swap;
    }
  return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

/* One rank's figures over the timed exchanges of one method (with compute: latency is the overall time). */
typedef struct rank_times {
  double latency;
  double compute;
  double network_bytes;
} rank_times;

static void fill_mpimr(bench *b, bench_shuffle *bs) {
  const traffic *t = &b->plan;
  send_set *set = shuffle_fill_set(bs->sh);
  for (int d = 0; d < t->nranks; d++) b->exact_lengths[d] = (size_t)t->send_counts[d];
  int rc = send_set_layout_exact(set, b->exact_lengths, t->send_total);
  if (rc != MPIMR_OK) fail_exchange(b, "laying out a send set", rc, NULL);
  for (int d = 0; d < t->nranks; d++) {
    unsigned char *at = send_set_reserve(set, d, (size_t)t->send_counts[d]);
    if (at == NULL) fail_exchange(b, "filling a send set", MPIMR_ERR_NOMEM, NULL);
    fill_message(at, b->ramp, b->rank, d, b->stamp, (size_t)t->send_counts[d]);
  }
}

static void fill_raw(bench *b, int method) {
  const traffic *t = &b->plan;
  for (int d = 0; d < t->nranks; d++)
    fill_message(b->send_buffers[method] + t->send_displs[d], b->ramp, b->rank, d, b->stamp,
                 (size_t)t->send_counts[d]);
}

/*
 * The compute slice between two progress calls: --slice-us, or by default a
 * twentieth of the compute (t_pure), so that every size gets about twenty
 * chances to progress, but no slice shorter than 5 us (the polls would cost
 * more than they give) nor longer than 100 us.
 */
static double slice_for(const bench *b, double compute_target) {
  if (b->s.slice_us > 0) return b->s.slice_us * 1e-6;
  double slice = compute_target / 20;
  return slice < 5e-6 ? 5e-6 : slice > 100e-6 ? 100e-6 : slice;
}

/* Runs one exchange of an mpimr method; returns the compute time spent inside it. */
static double exchange_mpimr(bench *b, bench_shuffle *bs, double compute_target) {
  uint64_t target = shuffle_rounds_received(bs->sh) + 1;
  /* The set to send is free at once, except with shared-memory: there the last round's slot is
   * free once every reader is done with it. The wait is part of the exchange. */
  int rc = wait_for_shuffle(b->executor, bs->sh, 0);
  if (rc == MPIMR_OK) rc = shuffle_seal(bs->sh, b->executor);
  double spent = 0;
  if (rc == MPIMR_OK && compute_target > 0) {
    compute_task task = {
        .target = compute_target, .slice = slice_for(b, compute_target), .timeline = &b->timeline};
    mpimr_future_init(&task.base, compute_poll);
    rc = mpimr_executor_block_on(b->executor, &task.base);
    spent = task.spent;
  }
  if (rc == MPIMR_OK) rc = wait_for_shuffle(b->executor, bs->sh, target);
  if (rc != MPIMR_OK) fail_exchange(b, "a shuffle round failed", rc, shuffle_error_detail(bs->sh));
  return spent;
}

/* Runs one exchange of a raw MPI method; returns the compute time spent inside it. */
static double exchange_raw(bench *b, int method, double compute_target) {
  const traffic *t = &b->plan;
  if (method == METHOD_MPI_ALLTOALLV) {
    MPI_Alltoallv(b->send_buffers[method], t->send_counts, t->send_displs, MPI_BYTE, b->recv_buffers[method],
                  t->recv_counts, t->recv_displs, MPI_BYTE, MPI_COMM_WORLD);
    if (b->s.consume) b->consumed += sum_words(b->recv_buffers[method], t->recv_total);
    return 0;
  }
  MPI_Request request;
  MPI_Ialltoallv(b->send_buffers[method], t->send_counts, t->send_displs, MPI_BYTE, b->recv_buffers[method],
                 t->recv_counts, t->recv_displs, MPI_BYTE, MPI_COMM_WORLD, &request);
  double spent = 0, slice = slice_for(b, compute_target);
  int done = 0;
  while (spent < compute_target) {
    double left = compute_target - spent;
    spent += compute_for(left < slice ? left : slice);
    if (!done) MPI_Test(&request, &done, MPI_STATUS_IGNORE);
  }
  if (!done) MPI_Wait(&request, MPI_STATUS_IGNORE);
  if (b->s.consume) b->consumed += sum_words(b->recv_buffers[method], t->recv_total);
  return spent;
}

/* Runs one exchange of `method`: fill, barrier, the timed exchange, check. Returns its time; `*spent`:
 * computing. */
static double one_exchange(bench *b, int method, double compute_target, double *spent_computing) {
  const struct method_info *info = &method_table[method];
  bench_shuffle *bs = &b->shuffles[method];
  b->stamp++;
  bs->piece_count = bs->extra_pieces = 0;
  if (info->is_mpimr)
    fill_mpimr(b, bs);
  else
    fill_raw(b, method);
  MPI_Barrier(MPI_COMM_WORLD);
  double started = clock_now();
  double spent =
      info->is_mpimr ? exchange_mpimr(b, bs, compute_target) : exchange_raw(b, method, compute_target);
  double elapsed = clock_now() - started;
  *spent_computing = spent;
  if (!b->s.check) return elapsed;
  if (!info->is_mpimr) {
    received_piece all = {b->recv_buffers[method], b->plan.recv_total, SHUFFLE_SOURCE_SEVERAL};
    b->wrong += (uint64_t)check_pieces(&b->plan, &all, 1, b->ramp, b->stamp);
  } else {
    b->wrong +=
        (uint64_t)(check_pieces(&b->plan, bs->pieces, bs->piece_count, b->ramp, b->stamp) + bs->extra_pieces);
  }
  return elapsed;
}

/* The mean (as OSU reports) or, with --stat median, the median of `count` samples (reordered). */
static double statistic(const bench *b, double *samples, int count) {
  if (b->s.use_median) return median(samples, count);
  double sum = 0;
  for (int i = 0; i < count; i++) sum += samples[i];
  return sum / count;
}

/*
 * Times `iterations` exchanges of every method after `warmup` untimed ones,
 * interleaved: each iteration runs every method once, starting one method
 * further along each time, so a burst of load on a shared machine falls on
 * all of them alike. Without `compute_targets` it measures the pure
 * exchange; with them, method k computes compute_targets[k] seconds inside
 * each exchange (methods without an overlap test are skipped). `times[k]`
 * receives the means of method k.
 */
static void measure_all(bench *b, int warmup, int iterations, const double *compute_targets,
                        rank_times *times) {
  int count = b->s.method_count;
  /* samples: per method, `iterations` exchange times, then as many compute times. */
  double *samples = b->samples;
  for (int i = 0; i < warmup + iterations; i++)
    for (int step = 0; step < count; step++) {
      int k = (i + step) % count, method = b->s.methods[k];
      if (compute_targets && !method_table[method].overlaps) continue;
      double spent, elapsed = one_exchange(b, method, compute_targets ? compute_targets[k] : 0, &spent);
      if (i < warmup) continue;
      double *mine = samples + (size_t)k * 2 * (size_t)iterations;
      mine[i - warmup] = elapsed;
      mine[iterations + i - warmup] = spent;
    }
  for (int k = 0; k < count; k++) {
    double *mine = samples + (size_t)k * 2 * (size_t)iterations;
    times[k] = (rank_times){statistic(b, mine, iterations), statistic(b, mine + iterations, iterations),
                            (double)b->plan.network_bytes};
  }
}

/* ---- results --------------------------------------------------------------- */

/* One row of the report: figures over ranks (rank 0 only). */
typedef struct row {
  double avg_latency, min_latency, max_latency, bandwidth;
  double overall, compute, pure, overlap; /* overall < 0: no overlap figures */
} row;

/* The median of each figure over the repetitions. */
static row median_row(const row *reps, int count) {
  double values[1000];
  row out;
  double *fields_out[] = {&out.avg_latency, &out.min_latency, &out.max_latency, &out.bandwidth,
                          &out.overall,     &out.compute,     &out.pure,        &out.overlap};
  for (size_t f = 0; f < sizeof fields_out / sizeof fields_out[0]; f++) {
    for (int r = 0; r < count; r++) {
      const double *fields[] = {&reps[r].avg_latency, &reps[r].min_latency, &reps[r].max_latency,
                                &reps[r].bandwidth,   &reps[r].overall,     &reps[r].compute,
                                &reps[r].pure,        &reps[r].overlap};
      values[r] = *fields[f];
    }
    *fields_out[f] = median(values, count);
  }
  return out;
}

/* Gathers every rank's times and makes the row on rank 0 (collective). */
static row summarise(bench *b, const rank_times *pure, const rank_times *overlapped) {
  enum { FIGURES = 4 };
  double mine[FIGURES] = {pure->latency, pure->network_bytes, overlapped ? overlapped->latency : 0,
                          overlapped ? overlapped->compute : 0};
  double *all = b->rank == 0 ? malloc(sizeof mine * (size_t)b->nranks) : NULL;
  MPI_Gather(mine, FIGURES, MPI_DOUBLE, all, FIGURES, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  row r = {0, 0, 0, 0, -1, 0, 0, 0};
  if (b->rank != 0 || all == NULL) {
    free(all);
    return r;
  }
  double sum = 0, bandwidth = 0, overall = 0, compute = 0;
  r.min_latency = r.max_latency = all[0];
  for (int k = 0; k < b->nranks; k++) {
    const double *v = all + FIGURES * k;
    sum += v[0];
    if (v[0] < r.min_latency) r.min_latency = v[0];
    if (v[0] > r.max_latency) r.max_latency = v[0];
    bandwidth += v[0] > 0 ? v[1] / v[0] / 1e6 : 0;
    overall += v[2];
    compute += v[3];
  }
  r.avg_latency = sum / b->nranks * 1e6;
  r.min_latency *= 1e6;
  r.max_latency *= 1e6;
  r.bandwidth = bandwidth / b->nranks;
  r.pure = r.avg_latency;
  if (overlapped) {
    r.overall = overall / b->nranks * 1e6;
    r.compute = compute / b->nranks * 1e6;
    double overlap = r.pure > 0 ? 100.0 * (1.0 - (r.overall - r.compute) / r.pure) : 0;
    r.overlap = overlap > 0 ? overlap : 0;
  }
  free(all);
  return r;
}

typedef struct report {
  FILE *csv;
  FILE *json;
  int json_rows;
} report;

static void print_table_header(const bench *b, int pattern) {
  const settings *s = &b->s;
  printf("\n# %s %s: %d ranks, pattern %s", PROGRAM, MPIMR_VERSION_STRING, b->nranks, pattern_names[pattern]);
  if (pattern == PATTERN_ZIPF) printf(" (exponent %g)", s->zipf_exponent);
  if (pattern == PATTERN_SPARSE) printf(" (%d peers per rank)", s->sparse_peers);
  char slice_text[32] = "t_pure/20 in 5..100", ranks_text[64] = "";
  if (s->slice_us > 0) snprintf(slice_text, sizeof slice_text, "%g", s->slice_us);
  if (s->ranks_per_node > 0)
    snprintf(ranks_text, sizeof ranks_text, ", shared memory in groups of %d ranks", s->ranks_per_node);
  printf(
      "\n# iterations %d (%d above %llu bytes), warm-up %d (%d), repeat %d (medians), check %s, overlap %s "
      "(slices of %s us), executor idle %s, per-rank %s of the iterations%s%s%s\n",
      s->iterations, s->iterations_large, (unsigned long long)s->large_size, s->warmup, s->warmup_large,
      s->repeat, s->check ? "on" : "off", s->overlap ? "on" : "off", slice_text, idle_names[s->idle],
      s->use_median ? "median" : "mean", s->consume ? ", received bytes read (consume)" : "",
      s->rounds_by_mpi ? ", shared-memory rounds by MPI" : "", ranks_text);
  printf("# %-10s %-16s %16s %16s %16s %16s %12s %12s %15s %11s %10s\n", "Size", "Method", "Avg Latency(us)",
         "Min Latency(us)", "Max Latency(us)", "Bandwidth(MB/s)", "Overall(us)", "Compute(us)",
         "Pure Comm.(us)", "Overlap(%)", "Iterations");
}

static void print_row(const row *r, uint64_t size, const char *method, int iterations) {
  printf("  %-10llu %-16s %16.2f %16.2f %16.2f %16.2f", (unsigned long long)size, method, r->avg_latency,
         r->min_latency, r->max_latency, r->bandwidth);
  if (r->overall >= 0)
    printf(" %12.2f %12.2f %15.2f %11.2f", r->overall, r->compute, r->pure, r->overlap);
  else
    printf(" %12s %12s %15s %11s", "-", "-", "-", "-");
  printf(" %10d\n", iterations);
  fflush(stdout);
}

static const char *const csv_header =
    "pattern,method,ranks,size,iterations,repeats,avg_latency_us,min_latency_us,max_latency_us,"
    "bandwidth_mb_s,overall_us,compute_us,pure_comm_us,overlap_pct,checked\n";

static void write_rows(bench *b, report *out, const row *r, int pattern, uint64_t size, const char *method,
                       int iterations) {
  if (out->csv) {
    fprintf(out->csv, "%s,%s,%d,%llu,%d,%d,%.3f,%.3f,%.3f,%.3f,", pattern_names[pattern], method, b->nranks,
            (unsigned long long)size, iterations, b->s.repeat, r->avg_latency, r->min_latency, r->max_latency,
            r->bandwidth);
    if (r->overall >= 0)
      fprintf(out->csv, "%.3f,%.3f,%.3f,%.2f,", r->overall, r->compute, r->pure, r->overlap);
    else
      fprintf(out->csv, ",,,,");
    fprintf(out->csv, "%d\n", b->s.check);
    fflush(out->csv);
  }
  if (out->json) {
    fprintf(out->json,
            "%s\n    {\"pattern\": \"%s\", \"method\": \"%s\", \"ranks\": %d, \"size\": %llu, "
            "\"iterations\": %d, "
            "\"repeats\": %d, \"avg_latency_us\": %.3f, \"min_latency_us\": %.3f, \"max_latency_us\": %.3f, "
            "\"bandwidth_mb_s\": %.3f, ",
            out->json_rows++ ? "," : "", pattern_names[pattern], method, b->nranks, (unsigned long long)size,
            iterations, b->s.repeat, r->avg_latency, r->min_latency, r->max_latency, r->bandwidth);
    if (r->overall >= 0)
      fprintf(out->json,
              "\"overall_us\": %.3f, \"compute_us\": %.3f, \"pure_comm_us\": %.3f, \"overlap_pct\": %.2f, ",
              r->overall, r->compute, r->pure, r->overlap);
    else
      fprintf(out->json,
              "\"overall_us\": null, \"compute_us\": null, \"pure_comm_us\": null, \"overlap_pct\": null, ");
    fprintf(out->json, "\"checked\": %s}", b->s.check ? "true" : "false");
  }
}

static void write_json_head(const bench *b, FILE *json) {
  const settings *s = &b->s;
  fprintf(json, "{\n  \"benchmark\": \"%s\",\n  \"version\": \"%s\",\n  \"ranks\": %d,\n  \"settings\": {",
          PROGRAM, MPIMR_VERSION_STRING, b->nranks);
  fprintf(json, "\"patterns\": [");
  for (int i = 0; i < s->pattern_count; i++)
    fprintf(json, "%s\"%s\"", i ? ", " : "", pattern_names[s->patterns[i]]);
  fprintf(json, "], \"methods\": [");
  for (int i = 0; i < s->method_count; i++)
    fprintf(json, "%s\"%s\"", i ? ", " : "", method_table[s->methods[i]].name);
  fprintf(
      json,
      "], \"min_size\": %llu, \"max_size\": %llu, \"large_size\": %llu, \"iterations\": %d, "
      "\"iterations_large\": %d, \"warmup\": %d, \"warmup_large\": %d, \"repeat\": %d, \"peer_window\": %d, "
      "\"peer_window_used\": %d, "
      "\"auto_transport\": \"%s\", \"sparse_peers\": %d, \"zipf_exponent\": %g, \"slice_us\": %g, "
      "\"idle\": \"%s\", \"statistic\": \"%s\", \"overlap\": %s, \"check\": %s, \"rounds_by_mpi\": %s, "
      "\"ranks_per_node\": %d, \"consume\": %s},\n"
      "  \"results\": [",
      (unsigned long long)s->min_size, (unsigned long long)s->max_size, (unsigned long long)s->large_size,
      s->iterations, s->iterations_large, s->warmup, s->warmup_large, s->repeat, s->peer_window,
      s->peer_window > 0 ? s->peer_window : SHUFFLE_DEFAULT_PEER_WINDOW,
      mpimr_transport_name(shuffle_resolve_transport(MPIMR_TRANSPORT_AUTO)), s->sparse_peers,
      s->zipf_exponent, s->slice_us, idle_names[s->idle], s->use_median ? "median" : "mean",
      s->overlap ? "true" : "false", s->check ? "true" : "false", s->rounds_by_mpi ? "true" : "false",
      s->ranks_per_node, s->consume ? "true" : "false");
}

/* ---- set-up and the sweep ---------------------------------------------------- */

/* Every rank calls this with the same verdict source: returns 0 if all ranks are fine. */
static int agree_ok(int ok) {
  int all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all && ok ? 0 : -1; /* all implies ok; saying so lets static analysis see it too */
}

static int bench_setup(bench *b) {
  const settings *s = &b->s;
  int ok = traffic_init(&b->plan, b->nranks, b->rank) == 0;
  uint64_t most_sent = 0;
  for (int i = 0; i < s->pattern_count; i++) {
    uint64_t sent = destinations_per_rank(s, s->patterns[i], b->nranks) * s->max_size;
    if (sent > most_sent) most_sent = sent;
  }
  /* A zipf message can carry up to every byte a rank sends: the ramp covers the largest round. */
  b->ramp = ramp_create((size_t)most_sent);
  for (int m = 0; m < 2; m++) {
    b->send_buffers[m] = malloc(most_sent ? most_sent : 1);
    b->recv_buffers[m] = malloc(most_sent ? most_sent : 1);
    ok = ok && b->send_buffers[m] && b->recv_buffers[m];
  }
  b->exact_lengths = malloc(sizeof(size_t) * (size_t)b->nranks);
  int most_iterations = s->iterations > s->iterations_large ? s->iterations : s->iterations_large;
  b->samples = malloc(sizeof(double) * 2 * METHOD_COUNT * (size_t)most_iterations);
  ok = ok && b->ramp && b->exact_lengths && b->samples;

  mpimr_pin_report pin;
  int pinned = mpimr_pin(MPI_COMM_WORLD, MPIMR_PIN_AUTO, &pin);
  mpimr_executor_options options;
  mpimr_executor_options_init(&options);
  options.oversubscribed = pinned == MPIMR_OK && pin.local_size > pin.cores;
  options.idle = s->idle;
  if (ok && mpimr_executor_create(&b->executor, &options) != MPIMR_OK) ok = 0;
  if (b->rank == 0 && pinned == MPIMR_OK)
    printf("# binding: %s (rank 0 on cpuset %s; %d local ranks, %d cores)\n",
           mpimr_pin_action_name(pin.action), pin.cpuset, pin.local_size, pin.cores);

  trace_init(&b->timeline, s->trace_path != NULL, clock_now());
  /* Collective: every rank creates every shuffle, whatever failed above. */
  for (int i = 0; i < s->method_count; i++) {
    int method = s->methods[i];
    if (!method_table[method].is_mpimr) continue;
    shuffle_options transport = {.transport = method_table[method].transport,
                                 .peer_window = s->peer_window,
                                 .rounds_by_mpi = s->rounds_by_mpi,
                                 .ranks_per_node = s->ranks_per_node};
    bench_shuffle *bs = &b->shuffles[method];
    bs->piece_room = b->nranks + 1;
    bs->consume = s->consume;
    bs->pieces = malloc(sizeof *bs->pieces * (size_t)bs->piece_room);
    if (bs->pieces == NULL) ok = 0;
    int rc = shuffle_create(&bs->sh, MPI_COMM_WORLD, 1, (size_t)most_sent, &transport, on_receive, bs);
    if (rc != MPIMR_OK) {
      ok = 0;
      continue;
    }
    if (s->trace_path) shuffle_set_trace(bs->sh, &b->timeline);
    if (b->executor && mpimr_executor_spawn(b->executor, shuffle_driver(bs->sh)) != MPIMR_OK) ok = 0;
  }
  if (!ok)
    fprintf(stderr, "%s: rank %d: setting up (buffers, executor or shuffles) failed\n", PROGRAM, b->rank);
  MPI_Barrier(MPI_COMM_WORLD);
  b->timeline.origin = clock_now();
  return agree_ok(ok);
}

/*
 * Frees everything; with `finish` (which every rank passes alike), first
 * takes every shuffle to its agreed end, collectively. After a failure the
 * shuffles are dropped as they are: no round is in flight between exchanges.
 */
static int bench_teardown(bench *b, int finish) {
  int ok = 1;
  for (int m = 0; m < METHOD_COUNT; m++) {
    bench_shuffle *bs = &b->shuffles[m];
    if (bs->sh == NULL) continue;
    if (finish && b->executor) {
      shuffle_finish_map(bs->sh, b->executor, MPIMR_OK);
      if (mpimr_executor_block_on(b->executor, shuffle_driver(bs->sh)) != MPIMR_OK) ok = 0;
    }
  }
  /* The executor first: it may still hold requests whose groups live in the shuffles. */
  mpimr_executor_free(b->executor);
  for (int m = 0; m < METHOD_COUNT; m++) {
    shuffle_free(b->shuffles[m].sh);
    free(b->shuffles[m].pieces);
  }
  trace_destroy(&b->timeline);
  traffic_destroy(&b->plan);
  free(b->ramp);
  for (int m = 0; m < 2; m++) {
    free(b->send_buffers[m]);
    free(b->recv_buffers[m]);
  }
  free(b->exact_lengths);
  free(b->samples);
  return ok;
}

/* Runs every size of one pattern. Returns 0, or -1 when the run must stop (all ranks agree). */
static int sweep_pattern(bench *b, int pattern, report *out) {
  const settings *s = &b->s;
  if (b->rank == 0) print_table_header(b, pattern);
  row *reps = calloc((size_t)s->repeat * METHOD_COUNT, sizeof *reps);
  if (agree_ok(reps != NULL) != 0 || reps == NULL) {
    free(reps);
    return -1;
  }
  for (uint64_t size = s->min_size; size <= s->max_size; size *= 2) {
    traffic_plan(&b->plan, s, pattern, size);
    int large = size > s->large_size;
    int iterations = large ? s->iterations_large : s->iterations;
    int warmup = large ? s->warmup_large : s->warmup;
    for (int r = 0; r < s->repeat; r++) {
      rank_times pure[METHOD_COUNT], overlapped[METHOD_COUNT];
      double targets[METHOD_COUNT];
      measure_all(b, warmup, iterations, NULL, pure);
      /* As osu_ialltoall: each rank computes for as long as its own pure communication took. */
      for (int i = 0; i < s->method_count; i++) targets[i] = pure[i].latency;
      if (s->overlap) measure_all(b, warmup, iterations, targets, overlapped);
      for (int i = 0; i < s->method_count; i++) {
        int with_overlap = s->overlap && method_table[s->methods[i]].overlaps;
        reps[(size_t)i * (size_t)s->repeat + (size_t)r] =
            summarise(b, &pure[i], with_overlap ? &overlapped[i] : NULL);
      }
    }
    uint64_t wrong = 0;
    MPI_Allreduce(&b->wrong, &wrong, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (wrong != 0) {
      if (b->rank == 0)
        fprintf(stderr,
                "%s: data check failed: %llu messages delivered wrong bytes (pattern %s, size %llu)\n",
                PROGRAM, (unsigned long long)wrong, pattern_names[pattern], (unsigned long long)size);
      free(reps);
      return -1;
    }
    if (b->rank == 0)
      for (int i = 0; i < s->method_count; i++) {
        row m = median_row(reps + (size_t)i * (size_t)s->repeat, s->repeat);
        const char *name = method_table[s->methods[i]].name;
        print_row(&m, size, name, iterations);
        write_rows(b, out, &m, pattern, size, name, iterations);
      }
    if (size > (UINT64_MAX >> 1)) break;
  }
  free(reps);
  return 0;
}

/* Opens rank 0's output files; every rank learns whether that worked. */
static int open_outputs(bench *b, report *out) {
  int ok = 1;
  if (b->rank == 0) {
    if (b->s.csv_path && (out->csv = fopen(b->s.csv_path, "w")) == NULL) {
      fprintf(stderr, "%s: cannot write '%s': ", PROGRAM, b->s.csv_path);
      perror(NULL);
      ok = 0;
    }
    if (b->s.json_path && (out->json = fopen(b->s.json_path, "w")) == NULL) {
      fprintf(stderr, "%s: cannot write '%s': ", PROGRAM, b->s.json_path);
      perror(NULL);
      ok = 0;
    }
    if (out->csv) fputs(csv_header, out->csv);
    if (out->json) write_json_head(b, out->json);
  }
  return agree_ok(ok);
}

static int close_outputs(report *out) {
  int ok = 1;
  if (out->json) {
    fprintf(out->json, "\n  ]\n}\n");
    ok &= fclose(out->json) == 0;
  }
  if (out->csv) ok &= fclose(out->csv) == 0;
  if (!ok) fprintf(stderr, "%s: writing the CSV or JSON output failed\n", PROGRAM);
  return agree_ok(ok);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  static bench b;
  MPI_Comm_rank(MPI_COMM_WORLD, &b.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &b.nranks);
  int status = parse_options(argc, argv, b.rank, b.nranks, &b.s);
  if (status != 0 || b.s.help) {
    if (status == 0 && b.rank == 0) print_help();
    MPI_Finalize();
    return status;
  }
  report out = {NULL, NULL, 0};
  int failed = bench_setup(&b) != 0;
  if (!failed) failed = open_outputs(&b, &out) != 0;
  for (int i = 0; i < b.s.pattern_count && !failed; i++)
    failed = sweep_pattern(&b, b.s.patterns[i], &out) != 0;
  failed |= close_outputs(&out) != 0;
  if (!failed && b.s.trace_path) {
    char message[512] = "";
    if (trace_write(&b.timeline, MPI_COMM_WORLD, b.s.trace_path, message, sizeof message) != MPIMR_OK) {
      if (b.rank == 0)
        fprintf(stderr, "%s: %s\n", PROGRAM, message[0] ? message : "writing the trace failed");
      failed = 1;
    }
  }
  /* `failed` is agreed: every step above ends with all ranks knowing the outcome. */
  if (!bench_teardown(&b, !failed) && !failed) {
    fprintf(stderr, "%s: rank %d: ending the shuffles failed\n", PROGRAM, b.rank);
    failed = 1;
  }
  MPI_Finalize();
  return failed ? 1 : 0;
}
