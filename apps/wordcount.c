/*
 * apps/wordcount.c — mpimr-wordcount: counts words in files across MPI ranks.
 *
 * A word is a maximal run of bytes that are not ASCII whitespace (space,
 * \t, \n, \v, \f, \r). Each word is emitted with a count of one; the
 * built-in sum combiner folds counts on both sides of the shuffle, so with
 * the combiner on no reducer is needed (--no-combiner uses a summing
 * reducer instead, which exercises grouping).
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "mpimr/mpimr.h"

static const char *const PROGRAM = "mpimr-wordcount";

static void print_help(void) {
  printf(
      "NAME\n"
      "    mpimr-wordcount - count words in files with MapReduce over MPI\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P mpimr-wordcount -o OUTDIR [OPTIONS] INPUT...\n"
      "\n"
      "DESCRIPTION\n"
      "    Counts every word in the INPUT files and directories (read recursively,\n"
      "    hidden files skipped). A word is a maximal run of bytes that are not ASCII\n"
      "    whitespace (space, TAB, LF, VT, FF, CR); any other byte, NUL and non-UTF-8\n"
      "    bytes included, is part of a word. Files are split into byte ranges across\n"
      "    ranks at line boundaries, so one large file is read in parallel.\n"
      "\n"
      "OUTPUT\n"
      "    OUTDIR/part-00000 ... one file per rank, lines 'word<TAB>count' in bytewise\n"
      "    word order, and OUTDIR/_SUCCESS once every part is complete. Concatenating\n"
      "    the parts gives each word exactly once.\n"
      "\n"
      "OPTIONS\n"
      "    -o, --output DIR          output directory (required unless --format none)\n"
      "    -f, --overwrite           replace the results in an existing DIR\n"
      "        --format FMT          text (default), binary (8-byte little-endian\n"
      "                              key length, value length, key, value) or none\n"
      "        --no-combiner         send every (word, 1) and sum in a reducer\n"
      "        --round-size SIZE     bytes a rank sends per shuffle round (default 4M;\n"
      "                              4K..1G; suffixes K, M, G)\n"
      "        --rounds-in-flight N  shuffle rounds outstanding at once (default 2; 1..8)\n"
      "        --transport T         how a round's bytes travel: auto (default; the\n"
      "                              library's choice, pairwise today), alltoallv (one\n"
      "                              MPI_Ialltoallv per round) or pairwise (MPI_Isend/\n"
      "                              MPI_Irecv with only the ranks that have bytes)\n"
      "        --peer-window N       pairwise: sends, and receives, outstanding at once\n"
      "                              (default 8; 1..1048576)\n"
      "        --combine-size SIZE   memory the map-side counting table may take\n"
      "                              before it is sent (default 64M; 4K..1G); words\n"
      "                              this rank counts itself never wait there\n"
      "        --read-size SIZE      input bytes mapped per slice (default 256K; 4K..1G)\n"
      "        --memory SIZE         memory budget per rank for the job's data (default:\n"
      "                              half the node's memory shared by its ranks; 16M..1T);\n"
      "                              the round size and counting table are cut to fit,\n"
      "                              and counts past it are spilled to disk as sorted runs\n"
      "        --spill-dir DIR       where spilled runs go (default $TMPDIR, else OUTDIR,\n"
      "                              else /tmp); removed when the job ends\n"
      "        --pin MODE            core binding: auto (default: keep mpirun's binding,\n"
      "                              else one core per rank unless oversubscribed),\n"
      "                              core, or none\n"
      "        --stats FILE          write every rank's figures to FILE as JSON\n"
      "        --trace FILE          write a timeline of the job (Chrome trace-event\n"
      "                              JSON, one track per rank) for Perfetto\n"
      "    -q, --quiet               do not print the one-line summary\n"
      "    -v, --verbose             report settings and core binding\n"
      "    -h, --help                show this text\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success, 1 if the job failed (every rank stops; the rank that failed\n"
      "    prints the cause), 64 for a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 2 mpimr-gentext -o text.txt --size 100M\n"
      "    mpirun -np 2 mpimr-wordcount -o counts text.txt\n"
      "    cat counts/part-* | sort -t$'\\t' -k2,2nr | head\n");
}

/* One bit per byte of p[0, 64), set for whitespace: space, or \t..\r (9..13). */
static inline uint64_t space_mask64(const unsigned char *p) {
#ifdef __SSE2__
  const __m128i space = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), four = _mm_set1_epi8(4);
  uint64_t mask = 0;
  for (int i = 0; i < 4; i++) {
    __m128i bytes = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
    __m128i offset = _mm_sub_epi8(bytes, tab); /* 0..4 exactly for \t..\r, as unsigned bytes */
    __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(offset, four), offset);
    __m128i blank = _mm_or_si128(control, _mm_cmpeq_epi8(bytes, space));
    mask |= (uint64_t)(uint16_t)_mm_movemask_epi8(blank) << (16 * i);
  }
  return mask;
#else
  uint64_t mask = 0;
  for (int i = 0; i < 64; i++) mask |= (uint64_t)(p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r')) << i;
  return mask;
#endif
}

/* The map function: every word of a block of lines, emitted with a count of one. The block is
 * scanned 64 bytes at a time as a whitespace bitmap (reading into the library's padding after
 * it, whose bits are forced to whitespace), and words are found with count-trailing-zeros. */
static int map_words(void *user, const void *block, size_t length, mpimr_emitter *out) {
  (void)user;
  const unsigned char *data = block;
  unsigned char one[8];
  mpimr_put_u64(one, 1);
  size_t word_start = 0;
  int in_word = 0;
  for (size_t base = 0; base < length; base += 64) {
    uint64_t spaces = space_mask64(data + base);
    if (length - base < 64) spaces |= ~0ull << (length - base);
    uint64_t pending = in_word ? spaces : ~spaces; /* the next boundary to look for */
    while (pending != 0) {
      size_t at = base + (size_t)__builtin_ctzll(pending);
      if (in_word) {
        int rc = mpimr_emit(out, data + word_start, at - word_start, one, sizeof one);
        if (rc != MPIMR_OK) return rc;
        in_word = 0;
        pending = ~spaces & (~0ull << (at - base)); /* the next word's first byte */
      } else {
        word_start = at;
        in_word = 1;
        pending = spaces & (~0ull << (at - base)); /* the byte after the word */
      }
    }
  }
  /* A block ends with whitespace or at the end of the file: a word still open ends here. */
  if (in_word) return mpimr_emit(out, data + word_start, length - word_start, one, sizeof one);
  return 0;
}

static int reduce_sum(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  (void)user;
  uint64_t total = 0;
  const void *value;
  size_t length;
  while (mpimr_values_next(values, &value, &length)) {
    if (length != 8) return 1;
    total += mpimr_get_u64(value);
  }
  unsigned char sum[8];
  mpimr_put_u64(sum, total);
  return mpimr_emit(out, key, key_len, sum, sizeof sum);
}

enum option_ids {
  OPT_FORMAT = 256,
  OPT_NO_COMBINER,
  OPT_ROUND_SIZE,
  OPT_ROUNDS_IN_FLIGHT,
  OPT_READ_SIZE,
  OPT_PIN,
  OPT_STATS,
  OPT_COMBINE_SIZE,
  OPT_TRACE,
  OPT_TRANSPORT,
  OPT_PEER_WINDOW,
  OPT_MEMORY,
  OPT_SPILL_DIR
};

typedef struct options {
  mpimr_job_config job;
  const char *stats_path;
  int quiet;
  int help;
} options;

/* Returns 0, or CLI_EXIT_USAGE after reporting the problem on rank 0. */
static int parse_options(int argc, char **argv, int rank, options *o) {
  static const struct option long_options[] = {
      {"output", required_argument, NULL, 'o'},
      {"overwrite", no_argument, NULL, 'f'},
      {"format", required_argument, NULL, OPT_FORMAT},
      {"no-combiner", no_argument, NULL, OPT_NO_COMBINER},
      {"round-size", required_argument, NULL, OPT_ROUND_SIZE},
      {"rounds-in-flight", required_argument, NULL, OPT_ROUNDS_IN_FLIGHT},
      {"read-size", required_argument, NULL, OPT_READ_SIZE},
      {"pin", required_argument, NULL, OPT_PIN},
      {"stats", required_argument, NULL, OPT_STATS},
      {"combine-size", required_argument, NULL, OPT_COMBINE_SIZE},
      {"trace", required_argument, NULL, OPT_TRACE},
      {"transport", required_argument, NULL, OPT_TRANSPORT},
      {"peer-window", required_argument, NULL, OPT_PEER_WINDOW},
      {"memory", required_argument, NULL, OPT_MEMORY},
      {"spill-dir", required_argument, NULL, OPT_SPILL_DIR},
      {"quiet", no_argument, NULL, 'q'},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  mpimr_job_config_init(&o->job);
  o->job.map_block = map_words;
  o->job.combine = mpimr_combine_sum_u64;
  o->job.format_value = mpimr_format_u64;
  opterr = 0;
  int c;
  uint64_t size;
  while ((c = getopt_long(argc, argv, ":o:fqvh", long_options, NULL)) != -1) {
    switch (c) {
      case 'o': o->job.output_dir = optarg; break;
      case 'f': o->job.overwrite = 1; break;
      case 'q': o->quiet = 1; break;
      case 'v': o->job.verbose = 1; break;
      case 'h': o->help = 1; return 0;
      case OPT_FORMAT:
        if (strcmp(optarg, "text") == 0)
          o->job.output_format = MPIMR_OUTPUT_TEXT;
        else if (strcmp(optarg, "binary") == 0)
          o->job.output_format = MPIMR_OUTPUT_BINARY;
        else if (strcmp(optarg, "none") == 0)
          o->job.output_format = MPIMR_OUTPUT_NONE;
        else {
          cli_usage_error(rank, PROGRAM, "--format must be text, binary or none, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_NO_COMBINER:
        o->job.combine = NULL;
        o->job.reduce = reduce_sum;
        o->job.reduce_in_order = 1; /* it emits the word it was called for */
        break;
      case OPT_ROUND_SIZE:
        if (cli_parse_size(optarg, 4096, (uint64_t)1 << 30, &size) != 0) {
          cli_usage_error(rank, PROGRAM, "--round-size must be a size from 4K to 1G, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        o->job.round_bytes = (size_t)size;
        break;
      case OPT_ROUNDS_IN_FLIGHT:
        if (cli_parse_int(optarg, 1, 8, &o->job.rounds_in_flight) != 0) {
          cli_usage_error(rank, PROGRAM, "--rounds-in-flight must be an integer from 1 to 8, not '%s'",
                          optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_READ_SIZE:
        if (cli_parse_size(optarg, 4096, (uint64_t)1 << 30, &size) != 0) {
          cli_usage_error(rank, PROGRAM, "--read-size must be a size from 4K to 1G, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        o->job.read_bytes = (size_t)size;
        break;
      case OPT_PIN:
        if (mpimr_pin_mode_parse(optarg, &o->job.pin) != MPIMR_OK) {
          cli_usage_error(rank, PROGRAM, "--pin must be auto, core or none, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_STATS: o->stats_path = optarg; break;
      case OPT_COMBINE_SIZE:
        if (cli_parse_size(optarg, 4096, (uint64_t)1 << 30, &size) != 0) {
          cli_usage_error(rank, PROGRAM, "--combine-size must be a size from 4K to 1G, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        o->job.combine_bytes = (size_t)size;
        break;
      case OPT_TRACE: o->job.trace_path = optarg; break;
      case OPT_TRANSPORT:
        if (mpimr_transport_parse(optarg, &o->job.transport) != MPIMR_OK) {
          cli_usage_error(rank, PROGRAM, "--transport must be auto, alltoallv or pairwise, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_PEER_WINDOW:
        if (cli_parse_int(optarg, 1, 1 << 20, &o->job.peer_window) != 0) {
          cli_usage_error(rank, PROGRAM, "--peer-window must be an integer from 1 to 1048576, not '%s'",
                          optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_MEMORY:
        if (cli_parse_size(optarg, (uint64_t)16 << 20, (uint64_t)1 << 40, &size) != 0) {
          cli_usage_error(rank, PROGRAM, "--memory must be a size from 16M to 1T, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        o->job.memory_bytes = (size_t)size;
        break;
      case OPT_SPILL_DIR: o->job.spill_dir = optarg; break;
      case ':':
        cli_usage_error(rank, PROGRAM, "option '%s' needs a value", argv[optind - 1]);
        return CLI_EXIT_USAGE;
      default: cli_usage_error(rank, PROGRAM, "unknown option '%s'", argv[optind - 1]); return CLI_EXIT_USAGE;
    }
  }
  o->job.inputs = (const char *const *)(argv + optind);
  o->job.input_count = argc - optind;
  if (o->job.input_count == 0) {
    cli_usage_error(rank, PROGRAM, "no INPUT files or directories given");
    return CLI_EXIT_USAGE;
  }
  if (o->job.output_format != MPIMR_OUTPUT_NONE && o->job.output_dir == NULL) {
    cli_usage_error(rank, PROGRAM, "-o OUTDIR is required");
    return CLI_EXIT_USAGE;
  }
  return 0;
}

/* Prints this rank's own failure (ranks that only stopped because of another stay quiet). */
static void report_failure(const mpimr_job *job, int rc) {
  if (rc == MPIMR_ERR_REMOTE) return;
  const char *message = job ? mpimr_job_error_message(job) : "";
  fprintf(stderr, "%s: %s (%s)\n", PROGRAM, message[0] ? message : "job failed", mpimr_strerror(rc));
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  options o;
  memset(&o, 0, sizeof o);
  int status = parse_options(argc, argv, rank, &o);
  if (status == 0 && o.help) {
    if (rank == 0) print_help();
    MPI_Finalize();
    return 0;
  }
  if (status != 0) {
    MPI_Finalize();
    return status;
  }
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &o.job);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (rc == MPIMR_OK) rc = mpimr_job_report(job, o.quiet ? NULL : stdout, o.stats_path);
  if (rc != MPIMR_OK) report_failure(job, rc);
  if (rc == MPIMR_ERR_MPI) {
    /* The ranks are out of step: a collective could wait forever, so end the whole job now. */
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  mpimr_job_free(job);
  MPI_Finalize();
  return rc == MPIMR_OK ? 0 : 1;
}
