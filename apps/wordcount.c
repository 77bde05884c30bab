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
#include "job_cli.h"
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
      "        --combine-size SIZE   memory the map-side counting table may take\n"
      "                              before it is sent (default 64M; 4K..1G); words\n"
      "                              this rank counts itself never wait there\n"
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
      "    mpirun -np 2 mpimr-gentext -o text.txt --size 100M\n"
      "    mpirun -np 2 mpimr-wordcount -o counts text.txt\n"
      "    cat counts/part-* | sort -t$'\\t' -k2,2nr | head\n",
      JOB_CLI_HELP);
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

enum option_ids { OPT_FORMAT = 256, OPT_NO_COMBINER, OPT_COMBINE_SIZE };

/* Returns 0, or CLI_EXIT_USAGE after reporting the problem on rank 0. */
static int parse_options(int argc, char **argv, int rank, job_cli *cli) {
  static const struct option long_options[] = {JOB_CLI_COMMON_LONG_OPTIONS,
                                               {"format", required_argument, NULL, OPT_FORMAT},
                                               {"no-combiner", no_argument, NULL, OPT_NO_COMBINER},
                                               {"combine-size", required_argument, NULL, OPT_COMBINE_SIZE},
                                               JOB_CLI_LONG_OPTIONS,
                                               {NULL, 0, NULL, 0}};
  mpimr_job_config *job = &cli->job;
  job_cli_config_init(job);
  job->map_block = map_words;
  job->combine = mpimr_combine_sum_u64;
  job->format_value = mpimr_format_u64;
  opterr = 0;
  int c;
  uint64_t size;
  while ((c = getopt_long(argc, argv, JOB_CLI_SHORT_OPTIONS, long_options, NULL)) != -1) {
    switch (c) {
      case OPT_FORMAT:
        if (strcmp(optarg, "text") == 0)
          job->output_format = MPIMR_OUTPUT_TEXT;
        else if (strcmp(optarg, "binary") == 0)
          job->output_format = MPIMR_OUTPUT_BINARY;
        else if (strcmp(optarg, "none") == 0)
          job->output_format = MPIMR_OUTPUT_NONE;
        else {
          cli_usage_error(rank, PROGRAM, "--format must be text, binary or none, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        break;
      case OPT_NO_COMBINER:
        job->combine = NULL;
        job->reduce = reduce_sum;
        job->reduce_in_order = 1; /* it emits the word it was called for */
        break;
      case OPT_COMBINE_SIZE:
        if (cli_parse_size(optarg, 4096, (uint64_t)1 << 30, &size) != 0) {
          cli_usage_error(rank, PROGRAM, "--combine-size must be a size from 4K to 1G, not '%s'", optarg);
          return CLI_EXIT_USAGE;
        }
        job->combine_bytes = (size_t)size;
        break;
      default: {
        int status = job_cli_option(cli, c, optarg, argv, rank, PROGRAM);
        if (status != 0 || cli->help) return status;
      }
    }
  }
  return job_cli_take_inputs(cli, argc, argv, rank, PROGRAM, job->output_format != MPIMR_OUTPUT_NONE);
}

int main(int argc, char **argv) { return job_cli_main(argc, argv, PROGRAM, parse_options, print_help); }
