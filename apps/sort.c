/*
 * apps/sort.c — mpimr-sort: a global sort of records or lines across MPI
 * ranks, in the manner of the Sort Benchmark's TeraSort.
 *
 * Map emits every record as (key, rest of the line): the first 10 bytes of
 * a 100-byte `gensort -a` record and its other 89 bytes without the '\n'
 * (the '\r' stays), or with --lines a whole line as the key and nothing
 * else. The job has no combiner and no reducer, and asks for
 * MPIMR_KEY_ORDER_GLOBAL: the library range-partitions (key, value) pairs
 * from a sample, so every rank receives an even share, even of repeated
 * keys, and sorts its share by key and then value, both bytewise. Output is
 * MPIMR_OUTPUT_LINES (key, value, '\n'), which puts each line back as it
 * was read, so the parts in order are the input's lines in the order of
 * `LC_ALL=C sort`.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "job_cli.h"
#include "mpimr/mpimr.h"

static const char *const PROGRAM = "mpimr-sort";

/* The gensort -a record: a 10-byte key, 88 more bytes, CR LF. */
enum { RECORD_BYTES = 100, KEY_BYTES = 10 };

static void print_help(void) {
  printf(
      "NAME\n"
      "    mpimr-sort - sort records or lines globally with MapReduce over MPI\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P mpimr-sort -o OUTDIR [OPTIONS] INPUT...\n"
      "\n"
      "DESCRIPTION\n"
      "    Sorts the INPUT files and directories (read recursively, hidden files\n"
      "    skipped) across P ranks. By default the input is Sort Benchmark records\n"
      "    as 'gensort -a' writes them (and mpimr-gensort): 100 bytes each, a\n"
      "    10-byte key, 88 bytes, CR LF. Records are ordered by key, and records\n"
      "    with equal keys by the rest of the record, bytewise; a record of\n"
      "    another length is an error naming its file and offset. With --lines,\n"
      "    the input is any text: lines ended by LF (the last may lack it; it\n"
      "    gets one), ordered bytewise, a line before its extensions, which is\n"
      "    the order of 'LC_ALL=C sort'. Either way the output is that of\n"
      "    'LC_ALL=C sort' on the concatenated input.\n"
      "\n"
      "    Each rank maps a sample of its input first (about 2 MiB); rank 0\n"
      "    chooses P-1 splitters from all samples so that every rank receives\n"
      "    about the same share, repeated keys included. Records then travel to\n"
      "    their rank in nonblocking rounds while the input is read, and each\n"
      "    rank sorts its share (a radix sort on 8-byte key prefixes), spilling\n"
      "    sorted runs to disk and merging them when its share exceeds --memory.\n"
      "\n"
      "OUTPUT\n"
      "    OUTDIR/part-00000 ... one file per rank, and OUTDIR/_SUCCESS once every\n"
      "    part is complete. Concatenated in name order, the parts are the sorted\n"
      "    input: cat OUTDIR/part-* > sorted. Check them with mpimr-valsort.\n"
      "\n"
      "OPTIONS\n"
      "    -o, --output DIR          output directory (required)\n"
      "    -f, --overwrite           replace the results in an existing DIR\n"
      "        --lines               sort text lines instead of 100-byte records\n"
      "%s"
      "    -q, --quiet               do not print the one-line summary\n"
      "    -v, --verbose             report settings and core binding\n"
      "    -h, --help                show this text\n"
      "\n"
      "    --global-order is always on here.\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success, 1 if the job failed (every rank stops; the rank that failed\n"
      "    prints the cause), 64 for a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 2 mpimr-gensort --size 1G records.dat\n"
      "    mpirun -np 2 mpimr-sort -o sorted records.dat\n"
      "    mpirun -np 2 mpimr-valsort sorted\n"
      "    mpirun -np 2 mpimr-sort --lines -o words /usr/share/dict\n",
      JOB_CLI_HELP);
}

/* Reports a malformed record with its file and offset (the block starts at origin.offset). */
static int bad_record(const mpimr_emitter *out, size_t at_in_block) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  mpimr_record_origin origin;
  if (mpimr_map_origin(out, &origin) == MPIMR_OK)
    fprintf(stderr,
            "%s: rank %d: input '%s': the record at byte %llu is not a %d-byte gensort record ending in CR LF "
            "(use --lines to sort text)\n",
            PROGRAM, rank, origin.path, (unsigned long long)(origin.offset + at_in_block), RECORD_BYTES);
  return 1;
}

/* Map for records: the key, and the rest without its '\n'. */
static int map_records(void *user, const void *block, size_t length, mpimr_emitter *out) {
  (void)user;
  const unsigned char *data = block;
  size_t at = 0;
  while (at < length) {
    if (length - at < RECORD_BYTES || data[at + RECORD_BYTES - 1] != '\n' || data[at + RECORD_BYTES - 2] != '\r')
      return bad_record(out, at);
    int rc = mpimr_emit(out, data + at, KEY_BYTES, data + at + KEY_BYTES, RECORD_BYTES - KEY_BYTES - 1);
    if (rc != MPIMR_OK) return rc;
    at += RECORD_BYTES;
  }
  return 0;
}

/* Map for text: each line (without its '\n'; a '\r' stays) is a key. */
static int map_lines(void *user, const void *block, size_t length, mpimr_emitter *out) {
  (void)user;
  const unsigned char *data = block, *end = data + length;
  while (data < end) {
    const unsigned char *newline = memchr(data, '\n', (size_t)(end - data));
    const unsigned char *line_end = newline ? newline : end;
    int rc = mpimr_emit(out, data, (size_t)(line_end - data), "", 0);
    if (rc != MPIMR_OK) return rc;
    data = newline ? newline + 1 : end;
  }
  return 0;
}

enum option_ids { OPT_LINES = 256 };

/* Returns 0, or CLI_EXIT_USAGE after reporting the problem on rank 0. */
static int parse_options(int argc, char **argv, int rank, job_cli *cli) {
  static const struct option long_options[] = {JOB_CLI_COMMON_LONG_OPTIONS, {"lines", no_argument, NULL, OPT_LINES},
                                               JOB_CLI_LONG_OPTIONS, {NULL, 0, NULL, 0}};
  mpimr_job_config *job = &cli->job;
  job_cli_config_init(job);
  job->map_block = map_records;
  job->key_order = MPIMR_KEY_ORDER_GLOBAL;
  job->output_format = MPIMR_OUTPUT_LINES;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, JOB_CLI_SHORT_OPTIONS, long_options, NULL)) != -1) {
    if (c == OPT_LINES) {
      job->map_block = map_lines;
      continue;
    }
    int status = job_cli_option(cli, c, optarg, argv, rank, PROGRAM);
    if (status != 0 || cli->help) return status;
  }
  return job_cli_take_inputs(cli, argc, argv, rank, PROGRAM, 1);
}

int main(int argc, char **argv) { return job_cli_main(argc, argv, PROGRAM, parse_options, print_help); }
