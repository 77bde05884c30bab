/*
 * apps/gensort.c — mpimr-gensort: records in the Sort Benchmark's ASCII
 * layout (that of `gensort -a`), written in parallel under mpirun.
 *
 * Every byte of record i is a function of (seed, key mode, distinct keys,
 * row id) alone: the random words of a row come from a counter-based
 * generator (the splitmix64 finalizer applied to the seed and the row
 * number), never from a stream that runs across rows. So which rank makes a
 * record, and how many ranks there are, cannot change a byte. Rank r makes
 * the contiguous rows [r*N/P, (r+1)*N/P) and writes them with pwrite at
 * their offsets, a few megabytes at a time.
 *
 * The file is written under a temporary name next to FILE and renamed into
 * place only after every rank has succeeded, so a failed run never leaves a
 * half-written FILE behind. Every rank makes the same MPI calls in the same
 * order whatever happens to it locally, so one rank's failure ends the whole
 * job instead of hanging it.
 */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "shared_file.h"

static const char program[] = "mpimr-gensort";

/* The record layout: key, two spaces, row id, two spaces, filler, CR LF. */
enum {
  RECORD_BYTES = 100,
  KEY_BYTES = 10,
  ROW_ID_AT = 12,
  ROW_ID_DIGITS = 32,
  FILLER_AT = 46,
  FILLER_GROUPS = 13,
  FILLER_GROUP_BYTES = 4,
};

/* The printable characters keys are made of: ' ' (0x20) to '~' (0x7E). */
enum { KEY_ALPHABET = 95 };

/* Records made and written at a time: just under 4 MiB. */
enum { BATCH_RECORDS = (4 << 20) / RECORD_BYTES };

/* Option limits: a petabyte of records, and key tables near 200 MB per rank. */
#define RECORDS_MAX ((UINT64_C(1) << 50) / RECORD_BYTES)
#define SIZE_MAX_BYTES (RECORDS_MAX * RECORD_BYTES)
#define DISTINCT_MAX UINT64_C(10000000)

/* Row ids are 128-bit numbers, as in gensort; GCC and Clang have the type. */
__extension__ typedef unsigned __int128 row_id;

typedef enum key_mode { KEYS_UNIFORM, KEYS_SKEWED, KEYS_EQUAL } key_mode;

typedef struct gen_options {
  const char *output;
  uint64_t records;
  uint64_t start_row;
  uint64_t seed;
  key_mode keys;
  uint64_t distinct;
  bool help;
} gen_options;

/* ---- Random words ------------------------------------------------------ */

/* The increment of splitmix64's Weyl sequence (2^64 over the golden ratio, odd). */
#define WEYL_STEP UINT64_C(0x9E3779B97F4A7C15)

/* Domain separators, so that the seed yields unrelated words for each use. */
#define SALT_ROWS UINT64_C(0x6A09E667F3BCC908)
#define SALT_KEY_TABLE UINT64_C(0xBB67AE8584CAA73B)

/*
 * The splitmix64 finalizer: a bijection of 64-bit words in which every input
 * bit affects every output bit. Fed a counter, it is a counter-based
 * generator: word n costs the same whatever n is.
 */
static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/*
 * Writes `count` characters, each uniform over the 95 printable ones, from
 * one random word: the word is read as a binary fraction, and each step
 * takes the integer part of 95 times it and keeps the fractional part. Five
 * steps use about 33 of the 64 bits, so the bias is far below 2^-30.
 */
static void printable_from_bits(uint64_t bits, char *out, int count) {
  for (int i = 0; i < count; i++) {
    row_id product = (row_id)bits * KEY_ALPHABET;
    out[i] = (char)(' ' + (int)(uint64_t)(product >> 64));
    bits = (uint64_t)product;
  }
}

/* ---- Keys -------------------------------------------------------------- */

/* One column of the alias table: keep the column below `threshold` of 2^32, else take `alias`. */
typedef struct alias_column {
  uint32_t threshold;
  uint32_t alias;
} alias_column;

typedef struct record_model {
  char hex_pairs[256][2]; /* Each byte value as two uppercase hex digits. */
  key_mode mode;
  uint64_t row_salt; /* Mixed into every row's words. */
  uint32_t distinct; /* Keys in `table` (skewed and equal modes). */
  char (*table)[KEY_BYTES];
  alias_column *columns; /* Skewed mode: the Zipf distribution over `table`. */
} record_model;

/*
 * Key `index` of the table. The index goes through a bijection of 64-bit
 * words and is written in base 95, least significant digit first: distinct
 * indexes give distinct words, and 95^10 > 2^64 gives distinct keys. The
 * first characters are near uniform; only the last is confined to the first
 * 30 of the alphabet (95^9 times 30 is just above 2^64).
 */
static void key_table_entry(uint64_t seed, uint64_t index, char *key) {
  uint64_t value = mix64(index * WEYL_STEP + mix64(seed ^ SALT_KEY_TABLE));
  for (int i = 0; i < KEY_BYTES; i++) {
    key[i] = (char)(' ' + (int)(value % KEY_ALPHABET));
    value /= KEY_ALPHABET;
  }
}

/*
 * Vose's alias method for the weights 1/(k+1), k = 0 .. n-1 (Zipf with
 * exponent 1). Each weight is scaled so that they average 1. Columns under 1
 * are topped up from columns over 1, which then shrink; whatever is left at
 * the end is full (up to rounding) and keeps itself.
 */
static alias_column *alias_build(uint32_t n) {
  double *share = malloc(sizeof *share * n);
  uint32_t *under = malloc(sizeof *under * n);
  uint32_t *over = malloc(sizeof *over * n);
  alias_column *columns = malloc(sizeof *columns * n);
  if (share == NULL || under == NULL || over == NULL || columns == NULL) {
    free(share);
    free(under);
    free(over);
    free(columns);
    return NULL;
  }
  /* Summing from the smallest weight up loses the least precision. */
  double total = 0.0;
  for (uint32_t k = n; k-- > 0;) total += 1.0 / ((double)k + 1.0);
  uint32_t under_count = 0, over_count = 0;
  for (uint32_t k = 0; k < n; k++) {
    share[k] = (1.0 / ((double)k + 1.0)) * (double)n / total;
    if (share[k] < 1.0) {
      under[under_count++] = k;
    } else {
      over[over_count++] = k;
    }
  }
  while (under_count > 0 && over_count > 0) {
    uint32_t small = under[--under_count];
    uint32_t large = over[over_count - 1];
    double scaled = share[small] * 4294967296.0;
    columns[small].threshold = scaled >= 4294967295.0 ? UINT32_MAX : (uint32_t)scaled;
    columns[small].alias = large;
    share[large] -= 1.0 - share[small];
    if (share[large] < 1.0) {
      over_count--;
      under[under_count++] = large;
    }
  }
  while (over_count > 0) under[under_count++] = over[--over_count];
  for (uint32_t i = 0; i < under_count; i++) {
    columns[under[i]].threshold = UINT32_MAX;
    columns[under[i]].alias = under[i];
  }
  free(share);
  free(under);
  free(over);
  return columns;
}

static void record_model_free(record_model *model) {
  free(model->table);
  free(model->columns);
  model->table = NULL;
  model->columns = NULL;
}

static const char hex_digits[16] = "0123456789ABCDEF";

/* Builds the hex table, and the key table (and the Zipf alias table) the mode needs. Returns 0 or -1. */
static int record_model_build(record_model *model, const gen_options *options) {
  *model = (record_model){.mode = options->keys, .row_salt = mix64(options->seed ^ SALT_ROWS)};
  for (int byte = 0; byte < 256; byte++) {
    model->hex_pairs[byte][0] = hex_digits[byte >> 4];
    model->hex_pairs[byte][1] = hex_digits[byte & 0xF];
  }
  if (options->keys == KEYS_UNIFORM) return 0;
  model->distinct = options->keys == KEYS_EQUAL ? 1 : (uint32_t)options->distinct;
  model->table = malloc(sizeof *model->table * model->distinct);
  if (model->table == NULL) return -1;
  for (uint32_t k = 0; k < model->distinct; k++) key_table_entry(options->seed, k, model->table[k]);
  if (options->keys == KEYS_SKEWED) {
    model->columns = alias_build(model->distinct);
    if (model->columns == NULL) {
      record_model_free(model);
      return -1;
    }
  }
  return 0;
}

/* ---- Records ----------------------------------------------------------- */

/*
 * The words of one row come from the row's origin, a bijection of its low 64
 * bits for each value of its high 64 bits (`high_salt`, which the caller
 * mixes once per run of rows that share them).
 */
static inline uint64_t row_origin(uint64_t high_salt, uint64_t low) {
  return mix64(low * WEYL_STEP + high_salt);
}

static inline uint64_t row_word(uint64_t origin, uint64_t n) { return mix64(origin + n * WEYL_STEP); }

static uint64_t high_salt_of(const record_model *model, row_id row) {
  return mix64(model->row_salt + (uint64_t)(row >> 64) * WEYL_STEP);
}

static void record_key(const record_model *model, uint64_t origin, char *key) {
  switch (model->mode) {
    case KEYS_UNIFORM:
      printable_from_bits(row_word(origin, 1), key, KEY_BYTES / 2);
      printable_from_bits(row_word(origin, 2), key + KEY_BYTES / 2, KEY_BYTES / 2);
      break;
    case KEYS_SKEWED: {
      uint32_t column = (uint32_t)(((row_id)row_word(origin, 1) * model->distinct) >> 64);
      uint32_t decision = (uint32_t)(row_word(origin, 2) >> 32);
      const alias_column *entry = &model->columns[column];
      memcpy(key, model->table[decision < entry->threshold ? column : entry->alias], KEY_BYTES);
      break;
    }
    case KEYS_EQUAL: memcpy(key, model->table[0], KEY_BYTES); break;
  }
}

/* Writes `value` as 16 uppercase hex digits, two at a time. */
static inline void hex16(const record_model *model, uint64_t value, char *out) {
  for (int i = 7; i >= 0; i--, value >>= 8) memcpy(out + 2 * i, model->hex_pairs[value & 0xFF], 2);
}

/*
 * Writes the record of `row` at `record`: the key, two spaces, the row id
 * as 32 hex digits, two spaces, then, as in gensort, 13 groups of four equal
 * hex digits, the row's bits 51..48, 47..44, ..., 3..0, and CR LF.
 */
static void record_make(const record_model *model, uint64_t high_salt, row_id row, char *record) {
  uint64_t low = (uint64_t)row, high = (uint64_t)(row >> 64);
  record_key(model, row_origin(high_salt, low), record);
  record[KEY_BYTES] = ' ';
  record[KEY_BYTES + 1] = ' ';
  hex16(model, high, record + ROW_ID_AT);
  hex16(model, low, record + ROW_ID_AT + ROW_ID_DIGITS / 2);
  record[ROW_ID_AT + ROW_ID_DIGITS] = ' ';
  record[ROW_ID_AT + ROW_ID_DIGITS + 1] = ' ';
  /* Group g repeats digit 19 + g of the row id (counting from 0), written just above. */
  const char *low_digits = record + ROW_ID_AT + ROW_ID_DIGITS - FILLER_GROUPS;
  for (int g = 0; g < FILLER_GROUPS; g++) {
    uint32_t repeated = (uint32_t)(unsigned char)low_digits[g] * UINT32_C(0x01010101);
    memcpy(record + FILLER_AT + FILLER_GROUP_BYTES * g, &repeated, FILLER_GROUP_BYTES);
  }
  record[RECORD_BYTES - 2] = '\r';
  record[RECORD_BYTES - 1] = '\n';
}

/* Writes all of `data` at `offset`. Returns 0 or an errno value. */
static int write_fully(int fd, const char *data, size_t length, off_t offset) {
  while (length > 0) {
    ssize_t written = pwrite(fd, data, length, offset);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return errno;
    if (written == 0) return EIO;
    data += written;
    length -= (size_t)written;
    offset += written;
  }
  return 0;
}

/*
 * Makes and writes the records of rows first_row + [begin, end), record i
 * at byte 100*i of the file. Returns 0 or an errno value.
 */
static int records_write(const record_model *model, uint64_t first_row, uint64_t begin, uint64_t end,
                         int fd) {
  char *buffer = malloc((size_t)BATCH_RECORDS * RECORD_BYTES);
  if (buffer == NULL) return ENOMEM;
  int error = 0;
  for (uint64_t at = begin; at < end && error == 0;) {
    uint64_t count = end - at < BATCH_RECORDS ? end - at : BATCH_RECORDS;
    row_id row = (row_id)first_row + at;
    uint64_t high_salt = high_salt_of(model, row);
    for (uint64_t i = 0; i < count; i++, row++) {
      /* The high half changes at most once in a batch: past 2^64 - 1. */
      if ((uint64_t)row == 0) high_salt = high_salt_of(model, row);
      record_make(model, high_salt, row, buffer + i * RECORD_BYTES);
    }
    error = write_fully(fd, buffer, (size_t)count * RECORD_BYTES, (off_t)(at * RECORD_BYTES));
    at += count;
  }
  free(buffer);
  return error;
}

/* The first row index of rank `rank` of `ranks`: rank * records / ranks, without overflow. */
static uint64_t rank_begin(uint64_t records, int rank, int ranks) {
  return (uint64_t)((row_id)records * (uint64_t)rank / (uint64_t)ranks);
}

/* ---- Options ----------------------------------------------------------- */

static void print_help(void) {
  printf(
      "NAME\n"
      "    %1$s - write records in the Sort Benchmark's gensort -a layout\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P %1$s [-b ROW] [--seed N] [--keys MODE] [--distinct K]\n"
      "        (-n RECORDS | --size BYTES) FILE\n"
      "    %1$s --help\n"
      "\n"
      "DESCRIPTION\n"
      "    Writes RECORDS records of 100 bytes to FILE, in the ASCII layout of the\n"
      "    Sort Benchmark's gensort -a, for testing and timing sorts (check the\n"
      "    result with mpimr-valsort). The bytes of a record depend only on the\n"
      "    seed, the key options and its row id, never on the number of ranks:\n"
      "    rank r of P writes the rows r*N/P to (r+1)*N/P - 1 of the N records.\n"
      "    The file is written as FILE.tmp.PID and renamed to FILE when every rank\n"
      "    has succeeded; a failed run leaves FILE as it was.\n"
      "\n"
      "OPTIONS\n"
      "    -n, --records N        Number of records, 0 to 2^50/100.\n"
      "    --size BYTES           Or the size: BYTES/100 records (rounded down); K, M,\n"
      "                           G, T suffixes are powers of 1024.\n"
      "    -b, --start-row ROW    Row id of the first record, 0 to 2^64-1 (default\n"
      "                           0). The files made with -b ROW -n N and with\n"
      "                           -b ROW+N -n M, concatenated, are the file made\n"
      "                           with -b ROW -n N+M.\n"
      "    --seed N               Random seed, 0 to 2^64-1 (default 1).\n"
      "    --keys MODE            How keys are drawn (default uniform):\n"
      "                           uniform  every key byte uniform over the 95\n"
      "                                    printable characters;\n"
      "                           skewed   one of K distinct keys, key k (k = 1..K)\n"
      "                                    with probability proportional to 1/k, so\n"
      "                                    that keys repeat (Zipf, exponent 1);\n"
      "                           equal    every record has the same key.\n"
      "    --distinct K           Distinct keys of --keys skewed, 1 to 10000000\n"
      "                           (default 1000); ignored by the other modes.\n"
      "    -h, --help             Print this help and exit.\n"
      "\n"
      "OUTPUT\n"
      "    Each record is 100 bytes:\n"
      "      bytes  0-9   the key, printable ASCII (0x20 to 0x7E);\n"
      "      bytes 10-11  two spaces;\n"
      "      bytes 12-43  the row id, 32 uppercase hex digits (128 bits, zero\n"
      "                   padded);\n"
      "      bytes 44-45  two spaces;\n"
      "      bytes 46-97  filler: 13 groups of 4 equal uppercase hex digits, the\n"
      "                   row id's bits 51-48, 47-44, ..., 3-0, as in gensort;\n"
      "      bytes 98-99  CR LF.\n"
      "    The keys are not those of gensort itself (its generator is not\n"
      "    reproduced), but the layout is, so tools for gensort files read these.\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success, 1 if any rank failed (each failing rank names itself, the\n"
      "    file and the error), 64 on a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 4 %1$s --size 1G data/records\n"
      "    %1$s -n 1000000 --keys skewed --distinct 500 --seed 7 skewed.dat\n"
      "    %1$s -b 1000000 -n 1000000 second-half.dat\n",
      program);
}

enum option_id {
  OPT_SIZE = 256,
  OPT_SEED,
  OPT_KEYS,
  OPT_DISTINCT,
};

static const char *option_name(int id) {
  switch (id) {
    case 'n': return "-n/--records";
    case 'b': return "-b/--start-row";
    case OPT_SIZE: return "--size";
    case OPT_SEED: return "--seed";
    case OPT_KEYS: return "--keys";
    default: return "--distinct";
  }
}

static int parse_key_mode(const char *text, key_mode *mode) {
  static const struct {
    const char *name;
    key_mode mode;
  } modes[] = {{"uniform", KEYS_UNIFORM}, {"skewed", KEYS_SKEWED}, {"equal", KEYS_EQUAL}};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    if (strcmp(text, modes[i].name) == 0) {
      *mode = modes[i].mode;
      return 0;
    }
  }
  return -1;
}

/* Parses one option value. Returns 0, or -1 after a usage message. */
static int option_value(int id, const char *value, gen_options *options, int rank) {
  int bad = 0;
  uint64_t size = 0;
  switch (id) {
    case 'n': bad = cli_parse_u64(value, 0, RECORDS_MAX, &options->records); break;
    case OPT_SIZE:
      bad = cli_parse_size(value, 0, SIZE_MAX_BYTES, &size);
      options->records = size / RECORD_BYTES;
      break;
    case 'b': bad = cli_parse_u64(value, 0, UINT64_MAX, &options->start_row); break;
    case OPT_SEED: bad = cli_parse_u64(value, 0, UINT64_MAX, &options->seed); break;
    case OPT_KEYS: bad = parse_key_mode(value, &options->keys); break;
    case OPT_DISTINCT: bad = cli_parse_u64(value, 1, DISTINCT_MAX, &options->distinct); break;
    default: break;
  }
  if (bad) {
    cli_usage_error(rank, program, "invalid value '%s' for %s (see --help for the range)", value,
                    option_name(id));
  }
  return bad ? -1 : 0;
}

/*
 * Parses argv the same way on every rank, so all ranks reach the same
 * verdict without talking. Only rank 0 prints. Returns 0 or -1.
 */
static int options_parse(int argc, char **argv, gen_options *options, int rank) {
  static const struct option long_options[] = {{"records", required_argument, NULL, 'n'},
                                               {"size", required_argument, NULL, OPT_SIZE},
                                               {"start-row", required_argument, NULL, 'b'},
                                               {"seed", required_argument, NULL, OPT_SEED},
                                               {"keys", required_argument, NULL, OPT_KEYS},
                                               {"distinct", required_argument, NULL, OPT_DISTINCT},
                                               {"help", no_argument, NULL, 'h'},
                                               {NULL, 0, NULL, 0}};
  *options = (gen_options){.seed = 1, .keys = KEYS_UNIFORM, .distinct = 1000};
  int counts = 0;
  opterr = 0;
  for (;;) {
    int id = getopt_long(argc, argv, ":hn:b:", long_options, NULL);
    if (id == -1) break;
    if (id == 'h') {
      options->help = true;
      return 0;
    }
    if (id == '?' || id == ':') {
      const char *what = id == '?' ? "unrecognized option" : "missing value for option";
      cli_usage_error(rank, program, "%s '%s'", what, argv[optind - 1]);
      return -1;
    }
    if (option_value(id, optarg, options, rank) != 0) return -1;
    counts += id == 'n' || id == OPT_SIZE;
  }
  if (counts != 1) {
    cli_usage_error(rank, program, "give the number of records once, with -n RECORDS or --size BYTES");
    return -1;
  }
  if (optind + 1 != argc || argv[optind][0] == '\0') {
    cli_usage_error(rank, program, optind >= argc ? "missing FILE operand" : "expected one FILE operand");
    return -1;
  }
  options->output = argv[optind];
  return 0;
}

/* ---- The job ----------------------------------------------------------- */

/* Writes this rank's rows to the open file and closes it. Returns true on success. */
static bool file_write(const record_model *model, const gen_options *options, int fd, const char *path,
                       int rank, int ranks) {
  uint64_t begin = rank_begin(options->records, rank, ranks);
  uint64_t end = rank_begin(options->records, rank + 1, ranks);
  int error = records_write(model, options->start_row, begin, end, fd);
  if (error != 0) shared_file_report(program, rank, "cannot write", path, error);
  if (close(fd) != 0 && error == 0) {
    error = errno;
    shared_file_report(program, rank, "cannot write", path, error);
  }
  return error == 0;
}

/* Every rank runs this same sequence of collectives, whatever fails. */
static int run(const gen_options *options, int rank, int ranks) {
  record_model model;
  bool failed = record_model_build(&model, options) != 0;
  if (failed) {
    fprintf(stderr, "%s: rank %d: out of memory for %llu keys\n", program, rank,
            (unsigned long long)options->distinct);
  }
  if (shared_file_any_rank(failed)) {
    record_model_free(&model);
    return 1;
  }
  char *temporary = shared_file_temporary_name(options->output);
  if (temporary == NULL) fprintf(stderr, "%s: rank %d: out of memory\n", program, rank);
  if (shared_file_any_rank(temporary == NULL)) {
    free(temporary);
    record_model_free(&model);
    return 1;
  }
  int fd = -1;
  failed = shared_file_open(program, temporary, rank, &fd) != 0;
  failed = failed || !file_write(&model, options, fd, temporary, rank, ranks);
  bool committed = shared_file_commit(program, temporary, options->output, shared_file_any_rank(failed), rank);
  free(temporary);
  record_model_free(&model);
  return committed ? 0 : 1;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  gen_options options;
  int status = 0;
  if (options_parse(argc, argv, &options, rank) != 0) {
    status = CLI_EXIT_USAGE;
  } else if (options.help) {
    if (rank == 0) print_help();
  } else {
    status = run(&options, rank, ranks);
  }
  MPI_Finalize();
  return status;
}
