/*
 * apps/gentext.c — mpimr-gentext: deterministic synthetic text with Zipf
 * word frequencies, written in parallel under mpirun.
 *
 * The output is a function of (size, vocab, zipf, seed, words-per-line)
 * alone. The file is cut into fixed 1 MiB blocks and block i is generated
 * from its own random stream, seeded from (seed, i), so which rank makes a
 * block, and how many ranks there are, cannot change a byte. Rank r makes
 * blocks r, r+P, r+2P, ... and writes each with pwrite at its offset.
 *
 * The file is written under a temporary name next to FILE and renamed into
 * place only after every rank has succeeded, so a failed run never leaves a
 * half-written FILE behind. Every rank makes the same MPI calls in the same
 * order whatever happens to it locally, so one rank's failure ends the whole
 * job instead of hanging it.
 *
 * With --trace, each rank records spans on an mpimr_trace (building the
 * model, opening the file, generating and writing its blocks, closing,
 * waiting for the other ranks, committing) and the ranks write one Chrome
 * trace-event JSON file at the end. Tracing only reads the clock: the text
 * is the same with or without it.
 */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "shared_file.h"
#include "mpimr/error.h"
#include "mpimr/trace.h"

static const char program[] = "mpimr-gentext";

/* Blocks are the unit of determinism: changing this changes every file. */
enum { BLOCK_BYTES = 1 << 20 };

/* Word slots are copied 8 bytes at a time, so buffers carry that much slack. */
enum { SLOT_BYTES = 8, SLOT_MAX_LETTERS = SLOT_BYTES - 2 };

/* Option limits. Ten million words keep the per-rank tables near 160 MB and
 * every word within SLOT_MAX_LETTERS letters (26 + 26^2 + ... + 26^5 is
 * already above ten million). */
#define VOCAB_MAX UINT64_C(10000000)
#define SIZE_MAX_BYTES (UINT64_C(1) << 50)
#define WORDS_PER_LINE_MAX UINT64_C(1000000)
#define ZIPF_MAX 100.0

typedef struct gen_options {
  const char *output;
  uint64_t size;
  uint64_t vocab;
  double zipf;
  uint64_t seed;
  uint64_t words_per_line;
  const char *trace_path;
  bool help;
} gen_options;

/* ---- Random numbers ---------------------------------------------------- */

/* splitmix64: a bijective mixer over a Weyl sequence; used only to seed. */
static uint64_t splitmix64_next(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* xoshiro256**: fast, small state, good statistical quality. */
typedef struct rng {
  uint64_t s[4];
} rng;

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl64(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64(s[3], 45);
  return result;
}

/*
 * Seeds the stream of block `block`. Four consecutive splitmix64 outputs
 * come from four distinct Weyl states through a bijection, so they cannot
 * all be zero, which is the one state xoshiro must avoid.
 */
static void rng_seed_block(rng *r, uint64_t seed, uint64_t block) {
  uint64_t seed_state = seed;
  uint64_t block_state = block ^ UINT64_C(0xD1B54A32D192ED03);
  uint64_t state = splitmix64_next(&seed_state) ^ rotl64(splitmix64_next(&block_state), 32);
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64_next(&state);
}

/*
 * Maps the top 32 bits of `bits` onto [0, n) by multiply-shift (n < 2^32).
 * Each value gets floor or ceil of 2^32/n of the inputs, a relative bias
 * below n/2^32 (0.002% for the default vocabulary), which demo text can bear
 * in exchange for no division and no rejection loop.
 */
static inline uint32_t bounded32(uint64_t bits, uint32_t n) { return (uint32_t)(((bits >> 32) * n) >> 32); }

/* ---- The vocabulary ---------------------------------------------------- */

/*
 * A word ready to copy: its letters, one space, and its length in the last
 * byte. Copying all 8 bytes and then advancing by length + 1 is cheaper
 * than a copy of variable length; the bytes past the space are overwritten
 * by whatever comes next.
 */
typedef struct word_slot {
  char bytes[SLOT_BYTES];
} word_slot;

/* One column of the alias table: keep `threshold` of 2^32, else take `alias`. */
typedef struct alias_entry {
  uint32_t threshold;
  uint32_t alias;
} alias_entry;

typedef struct gen_model {
  word_slot *words;
  alias_entry *table;
  uint32_t vocab;
  uint32_t line_span; /* Words per line are drawn from 1 .. line_span. */
  uint64_t seed;
} gen_model;

static uint64_t gcd64(uint64_t a, uint64_t b) {
  while (b != 0) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/*
 * The scramble k -> (k * multiplier + offset) mod n is a bijection of
 * [0, n) because the multiplier is coprime to n. It spreads the frequent
 * ranks over all word lengths, so the commonest words are not "a", "b", ...
 */
static uint64_t scramble_multiplier(uint64_t n) {
  uint64_t m = (uint64_t)((double)n * 0.6180339887498949) | 1;
  while (gcd64(m, n) != 1) m++;
  return m;
}

/*
 * Writes `value` (>= 1) in bijective base 26 with letters a..z. Bijective
 * numeration maps the positive integers one to one onto the non-empty
 * strings, so distinct values give distinct words.
 */
static void slot_encode(word_slot *slot, uint64_t value) {
  char reversed[SLOT_BYTES];
  int length = 0;
  while (value > 0 && length < SLOT_MAX_LETTERS) {
    value--;
    reversed[length++] = (char)('a' + value % 26);
    value /= 26;
  }
  memset(slot->bytes, 0, sizeof slot->bytes);
  for (int i = 0; i < length; i++) slot->bytes[i] = reversed[length - 1 - i];
  slot->bytes[length] = ' ';
  slot->bytes[SLOT_BYTES - 1] = (char)length;
}

static word_slot *vocabulary_build(uint32_t vocab) {
  word_slot *words = malloc(sizeof *words * (size_t)vocab);
  if (words == NULL) return NULL;
  uint64_t multiplier = scramble_multiplier(vocab);
  uint64_t offset = vocab / 3;
  for (uint64_t k = 0; k < vocab; k++) {
    slot_encode(&words[k], (k * multiplier + offset) % vocab + 1);
  }
  return words;
}

/*
 * Scales the Zipf weights 1/(k+1)^s so that they average 1, as Vose's
 * method wants. Summing from the smallest weight up loses the least
 * precision.
 */
static double *zipf_scaled_weights(uint32_t vocab, double exponent) {
  double *scaled = malloc(sizeof *scaled * (size_t)vocab);
  if (scaled == NULL) return NULL;
  double total = 0.0;
  for (uint32_t k = vocab; k-- > 0;) {
    scaled[k] = pow((double)k + 1.0, -exponent);
    total += scaled[k];
  }
  for (uint32_t k = 0; k < vocab; k++) scaled[k] = scaled[k] * (double)vocab / total;
  return scaled;
}

static uint32_t probability_threshold(double probability) {
  double scaled = probability * 4294967296.0;
  if (!(scaled > 0.0)) return 0;
  return scaled >= 4294967295.0 ? UINT32_MAX : (uint32_t)scaled;
}

/*
 * Vose's alias method. `work` holds two stacks in one array: columns below
 * their share grow from the front, columns above it from the back; a column
 * leaves its stack before another is pushed, so they never meet. Columns left
 * at the end are full (up to rounding) and alias themselves, so a draw that
 * lands above a rounded-down threshold still picks them.
 */
static void alias_fill(alias_entry *table, double *scaled, uint32_t *work, uint32_t n) {
  uint32_t small = 0, large = 0;
  for (uint32_t k = 0; k < n; k++) {
    if (scaled[k] < 1.0) {
      work[small++] = k;
    } else {
      work[n - ++large] = k;
    }
  }
  while (small > 0 && large > 0) {
    uint32_t less = work[--small];
    uint32_t more = work[n - large--];
    table[less].threshold = probability_threshold(scaled[less]);
    table[less].alias = more;
    scaled[more] -= 1.0 - scaled[less];
    if (scaled[more] < 1.0) {
      work[small++] = more;
    } else {
      work[n - ++large] = more;
    }
  }
  while (small > 0) work[n - ++large] = work[--small];
  for (uint32_t i = 0; i < large; i++) {
    uint32_t k = work[n - 1 - i];
    table[k].threshold = UINT32_MAX;
    table[k].alias = k;
  }
}

static alias_entry *alias_build(uint32_t vocab, double exponent) {
  double *scaled = zipf_scaled_weights(vocab, exponent);
  uint32_t *work = malloc(sizeof *work * (size_t)vocab);
  alias_entry *table = malloc(sizeof *table * (size_t)vocab);
  if (scaled != NULL && work != NULL && table != NULL) alias_fill(table, scaled, work, vocab);
  free(scaled);
  free(work);
  if (scaled == NULL || work == NULL) {
    free(table);
    return NULL;
  }
  return table;
}

static void model_free(gen_model *model) {
  free(model->words);
  free(model->table);
  model->words = NULL;
  model->table = NULL;
}

static int model_build(gen_model *model, const gen_options *options) {
  model->vocab = (uint32_t)options->vocab;
  model->line_span = (uint32_t)(2 * options->words_per_line - 1);
  model->seed = options->seed;
  model->words = vocabulary_build(model->vocab);
  model->table = alias_build(model->vocab, options->zipf);
  if (model->words == NULL || model->table == NULL) {
    model_free(model);
    return -1;
  }
  return 0;
}

/* ---- Blocks ------------------------------------------------------------ */

/*
 * Words are drawn in batches so that the memory reads of a batch overlap:
 * with a large vocabulary the alias table and the words do not fit in the
 * cache, and one miss after another would cost most of the time. A batch
 * consumes the random stream in exactly the order a word-by-word loop would,
 * so batching changes no output byte.
 */
enum { BATCH_WORDS = 64 };

typedef struct word_batch {
  uint32_t rank[BATCH_WORDS];     /* Column first, vocabulary rank after resolving. */
  uint32_t decision[BATCH_WORDS]; /* The low random bits that pick column or alias. */
  bool ends_line[BATCH_WORDS];
} word_batch;

/* The running state of one block: its stream and its place in the current line. */
typedef struct block_cursor {
  rng stream;
  uint32_t words_left;
} block_cursor;

static void batch_draw(const gen_model *model, block_cursor *cursor, word_batch *batch) {
  for (int i = 0; i < BATCH_WORDS; i++) {
    if (cursor->words_left == 0) {
      cursor->words_left = 1 + bounded32(rng_next(&cursor->stream), model->line_span);
    }
    uint64_t bits = rng_next(&cursor->stream);
    batch->rank[i] = bounded32(bits, model->vocab);
    batch->decision[i] = (uint32_t)bits;
    batch->ends_line[i] = --cursor->words_left == 0;
    __builtin_prefetch(&model->table[batch->rank[i]]);
  }
  for (int i = 0; i < BATCH_WORDS; i++) {
    const alias_entry *entry = &model->table[batch->rank[i]];
    if (batch->decision[i] >= entry->threshold) batch->rank[i] = entry->alias;
    __builtin_prefetch(&model->words[batch->rank[i]]);
  }
}

/*
 * Copies the batch's words into `buffer` from `*used` on. A word fits if
 * there is room for it and one byte after it (its space or newline). Returns
 * false at the first word that does not fit, true if the whole batch did.
 */
static bool batch_emit(const gen_model *model, const word_batch *batch, char *buffer, size_t length,
                       size_t *used) {
  size_t at = *used;
  for (int i = 0; i < BATCH_WORDS; i++) {
    const word_slot *word = &model->words[batch->rank[i]];
    size_t letters = (size_t)word->bytes[SLOT_BYTES - 1];
    if (at + letters >= length) {
      *used = at;
      return false;
    }
    memcpy(buffer + at, word->bytes, SLOT_BYTES);
    at += letters + 1;
    if (batch->ends_line[i]) buffer[at - 1] = '\n';
  }
  *used = at;
  return true;
}

/*
 * Fills `buffer` (`length` bytes plus SLOT_BYTES of slack) with block
 * `block`: lines of words separated by single spaces, each ending in '\n'.
 * When the next word does not fit, the rest is filled with spaces and the
 * block's last byte becomes '\n' (which ends any line the cut left open).
 */
static void block_fill(const gen_model *model, uint64_t block, char *buffer, size_t length) {
  block_cursor cursor = {.words_left = 0};
  rng_seed_block(&cursor.stream, model->seed, block);
  word_batch batch;
  size_t used = 0;
  do {
    batch_draw(model, &cursor, &batch);
  } while (batch_emit(model, &batch, buffer, length, &used));
  memset(buffer + used, ' ', length - used);
  buffer[length - 1] = '\n';
}

static uint64_t block_count(uint64_t size) { return size / BLOCK_BYTES + (size % BLOCK_BYTES != 0); }

static size_t block_length(uint64_t size, uint64_t block) {
  uint64_t start = block * BLOCK_BYTES;
  return size - start < BLOCK_BYTES ? (size_t)(size - start) : BLOCK_BYTES;
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
 * The trace keeps a rank's block spans to at most this many of each kind, so
 * that the file stays small whatever the size: up to this many blocks on a
 * rank (1 GiB), each block gets a "generate" and a "write" span; beyond it,
 * runs of consecutive blocks of the rank share one "generate and write" span.
 */
enum { TRACE_BLOCK_SPANS = 1024 };

/* Records the spans of the rank's blocks as they are made; see TRACE_BLOCK_SPANS. */
typedef struct block_spans {
  mpimr_trace *trace;
  uint64_t blocks_per_span;
  uint64_t pending; /* Blocks made since the open span started. */
  double started;
} block_spans;

static void block_spans_init(block_spans *spans, mpimr_trace *trace, uint64_t blocks, int rank, int ranks) {
  uint64_t own = blocks > (uint64_t)rank ? (blocks - (uint64_t)rank - 1) / (uint64_t)ranks + 1 : 0;
  *spans =
      (block_spans){.trace = trace, .blocks_per_span = (own + TRACE_BLOCK_SPANS - 1) / TRACE_BLOCK_SPANS};
}

static void block_spans_add(block_spans *spans, double started, double generated, double written) {
  if (spans->blocks_per_span <= 1) {
    mpimr_trace_span(spans->trace, "generate", started, generated);
    mpimr_trace_span(spans->trace, "write", generated, written);
    return;
  }
  if (spans->pending++ == 0) spans->started = started;
  if (spans->pending == spans->blocks_per_span) {
    mpimr_trace_span(spans->trace, "generate and write", spans->started, written);
    spans->pending = 0;
  }
}

/* Closes a span that covers fewer blocks than the others (the rank's last ones). */
static void block_spans_finish(block_spans *spans, double written) {
  if (spans->pending > 0) mpimr_trace_span(spans->trace, "generate and write", spans->started, written);
  spans->pending = 0;
}

/* Generates and writes this rank's blocks. Returns 0 or an errno value. */
static int blocks_write(const gen_model *model, uint64_t size, int fd, int rank, int ranks,
                        mpimr_trace *trace) {
  char *buffer = malloc(BLOCK_BYTES + SLOT_BYTES);
  if (buffer == NULL) return ENOMEM;
  int error = 0;
  uint64_t blocks = block_count(size);
  bool traced = mpimr_trace_enabled(trace);
  block_spans spans;
  block_spans_init(&spans, trace, blocks, rank, ranks);
  double written = 0.0;
  for (uint64_t block = (uint64_t)rank; block < blocks && error == 0; block += (uint64_t)ranks) {
    size_t length = block_length(size, block);
    double started = traced ? mpimr_trace_now() : 0.0;
    block_fill(model, block, buffer, length);
    double generated = traced ? mpimr_trace_now() : 0.0;
    error = write_fully(fd, buffer, length, (off_t)(block * BLOCK_BYTES));
    if (traced) {
      written = mpimr_trace_now();
      block_spans_add(&spans, started, generated, written);
    }
  }
  block_spans_finish(&spans, written);
  free(buffer);
  return error;
}

/* ---- Options ----------------------------------------------------------- */

static void print_help(void) {
  printf(
      "NAME\n"
      "    %1$s - write deterministic synthetic text with Zipf word frequencies\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P %1$s -o FILE --size BYTES [--vocab N] [--zipf S]\n"
      "        [--seed N] [--words-per-line N] [--trace FILE]\n"
      "    %1$s --help\n"
      "\n"
      "DESCRIPTION\n"
      "    Writes exactly BYTES bytes of lowercase words to FILE, for demos, tests\n"
      "    and benchmarks. Word k of the vocabulary (k = 1 .. N) is drawn with\n"
      "    probability proportional to 1/k^S. The bytes depend only on the options,\n"
      "    never on the number of ranks: the file is cut into 1 MiB blocks, each\n"
      "    made from its own random stream, and rank r writes blocks r, r+P, ...\n"
      "    The file is written as FILE.tmp.PID and renamed to FILE when every rank\n"
      "    has succeeded; a failed run leaves FILE as it was.\n"
      "\n"
      "OPTIONS\n"
      "    -o, --output FILE      File to write; replaced if it exists.\n"
      "    --size BYTES           Exact size; K, M, G, T suffixes are powers of 1024.\n"
      "    --vocab N              Distinct words, 1 to 10000000 (default 100000).\n"
      "    --zipf S               Zipf exponent, 0 to 100 (default 1.0; 0 is uniform).\n"
      "    --seed N               Random seed, 0 to 2^64-1 (default 1).\n"
      "    --words-per-line N     Mean words per line, 1 to 1000000 (default 12);\n"
      "                           a line has 1 to 2N-1 words.\n"
      "    --trace FILE           Also write a timeline of the run to FILE as Chrome\n"
      "                           trace-event JSON, one track per rank, for Perfetto\n"
      "                           or chrome://tracing (see TRACE). The text is the\n"
      "                           same with or without it.\n"
      "    -h, --help             Print this help and exit.\n"
      "\n"
      "OUTPUT\n"
      "    Lines of words of 1 to 5 letters a-z, separated by single spaces; every\n"
      "    line ends in a newline. Where the next word does not fit in a 1 MiB\n"
      "    block, the rest of the block is spaces and its last byte a newline, so\n"
      "    splitting on white space yields only vocabulary words.\n"
      "\n"
      "TRACE\n"
      "    Each rank's track has the spans: build model (the vocabulary and its\n"
      "    alias table), open (naming and opening the temporary file), generate\n"
      "    and write for each of its blocks, close, wait (until every rank has\n"
      "    written) and commit (the rename). Beyond 1024 blocks on a rank, runs\n"
      "    of its blocks share one \"generate and write\" span, so that the file\n"
      "    stays small. The trace is written last, for failed runs too; if it\n"
      "    cannot be written, the exit status is 1 (FILE is still committed).\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success, 1 if any rank failed (each failing rank names itself, the\n"
      "    file and the error), 64 on a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 4 %1$s -o words.txt --size 1G\n"
      "    %1$s -o small.txt --size 10M --vocab 1000 --zipf 1.2 --seed 7\n"
      "    mpirun -np 4 %1$s -o words.txt --size 256M --trace gentext-trace.json\n",
      program);
}

enum option_id {
  OPT_SIZE = 256,
  OPT_VOCAB,
  OPT_ZIPF,
  OPT_SEED,
  OPT_WORDS_PER_LINE,
  OPT_TRACE,
};

static const char *option_name(int id) {
  switch (id) {
    case 'o': return "-o/--output";
    case OPT_SIZE: return "--size";
    case OPT_VOCAB: return "--vocab";
    case OPT_ZIPF: return "--zipf";
    case OPT_SEED: return "--seed";
    case OPT_TRACE: return "--trace";
    default: return "--words-per-line";
  }
}

/* Parses one option value. Returns 0, or -1 after a usage message. */
static int option_value(int id, const char *value, gen_options *options, int rank) {
  int bad = 0;
  switch (id) {
    case 'o':
      options->output = value;
      bad = value[0] == '\0';
      break;
    case OPT_SIZE: bad = cli_parse_size(value, 0, SIZE_MAX_BYTES, &options->size); break;
    case OPT_VOCAB: bad = cli_parse_u64(value, 1, VOCAB_MAX, &options->vocab); break;
    case OPT_ZIPF: bad = cli_parse_double(value, 0.0, ZIPF_MAX, &options->zipf); break;
    case OPT_SEED: bad = cli_parse_u64(value, 0, UINT64_MAX, &options->seed); break;
    case OPT_WORDS_PER_LINE:
      bad = cli_parse_u64(value, 1, WORDS_PER_LINE_MAX, &options->words_per_line);
      break;
    case OPT_TRACE:
      options->trace_path = value;
      bad = value[0] == '\0';
      break;
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
  static const struct option long_options[] = {
      {"output", required_argument, NULL, 'o'},
      {"size", required_argument, NULL, OPT_SIZE},
      {"vocab", required_argument, NULL, OPT_VOCAB},
      {"zipf", required_argument, NULL, OPT_ZIPF},
      {"seed", required_argument, NULL, OPT_SEED},
      {"words-per-line", required_argument, NULL, OPT_WORDS_PER_LINE},
      {"trace", required_argument, NULL, OPT_TRACE},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  *options = (gen_options){.vocab = 100000, .zipf = 1.0, .seed = 1, .words_per_line = 12};
  bool have_size = false;
  opterr = 0;
  for (;;) {
    int id = getopt_long(argc, argv, ":ho:", long_options, NULL);
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
    have_size = have_size || id == OPT_SIZE;
  }
  if (optind < argc) {
    cli_usage_error(rank, program, "unexpected argument '%s'", argv[optind]);
    return -1;
  }
  if (options->output == NULL || !have_size) {
    cli_usage_error(rank, program, "both -o FILE and --size BYTES are required");
    return -1;
  }
  return 0;
}

/* ---- The job ----------------------------------------------------------- */

/* Writes this rank's blocks to the open file and closes it. */
static bool file_write(const gen_model *model, uint64_t size, int fd, const char *path, int rank, int ranks,
                       mpimr_trace *trace) {
  bool ok = true;
  int error = blocks_write(model, size, fd, rank, ranks, trace);
  if (error != 0) {
    shared_file_report(program, rank, "cannot write", path, error);
    ok = false;
  }
  double closing = mpimr_trace_now();
  if (close(fd) != 0 && ok) {
    shared_file_report(program, rank, "cannot write", path, errno);
    ok = false;
  }
  mpimr_trace_span(trace, "close", closing, mpimr_trace_now());
  return ok;
}

/* Every rank runs this same sequence of collectives, whatever fails. */
static int run(const gen_options *options, int rank, int ranks, mpimr_trace *trace) {
  gen_model model = {0};
  double started = mpimr_trace_now();
  bool failed = model_build(&model, options) != 0;
  mpimr_trace_span(trace, "build model", started, mpimr_trace_now());
  if (failed) {
    fprintf(stderr, "%s: rank %d: out of memory for %llu words\n", program, rank,
            (unsigned long long)options->vocab);
  }
  if (shared_file_any_rank(failed)) {
    model_free(&model);
    return 1;
  }
  started = mpimr_trace_now();
  char *temporary = shared_file_temporary_name(options->output);
  int fd = -1;
  if (temporary == NULL) fprintf(stderr, "%s: rank %d: out of memory\n", program, rank);
  if (shared_file_any_rank(temporary == NULL)) {
    free(temporary);
    model_free(&model);
    return 1;
  }
  failed = shared_file_open(program, temporary, rank, &fd) != 0;
  mpimr_trace_span(trace, "open", started, mpimr_trace_now());
  failed = failed || !file_write(&model, options->size, fd, temporary, rank, ranks, trace);
  started = mpimr_trace_now();
  failed = shared_file_any_rank(failed);
  double agreed = mpimr_trace_now();
  mpimr_trace_span(trace, "wait", started, agreed);
  bool committed = shared_file_commit(program, temporary, options->output, failed, rank);
  mpimr_trace_span(trace, "commit", agreed, mpimr_trace_now());
  free(temporary);
  model_free(&model);
  return committed ? 0 : 1;
}

/*
 * Runs with a trace when --trace asks for one. The ranks line up at a
 * barrier before they create it, so that their tracks start together; the
 * trace is written after the run, for failed runs too (it shows where they
 * stopped).
 */
static int run_traced(const gen_options *options, int rank, int ranks) {
  bool tracing = options->trace_path != NULL;
  if (tracing) MPI_Barrier(MPI_COMM_WORLD);
  mpimr_trace *trace = NULL;
  int failed = mpimr_trace_create(&trace, program, tracing) != MPIMR_OK;
  if (failed) fprintf(stderr, "%s: rank %d: out of memory for the trace\n", program, rank);
  if (shared_file_any_rank(failed)) {
    mpimr_trace_free(trace);
    return 1;
  }
  int status = run(options, rank, ranks, trace);
  char message[1024];
  if (mpimr_trace_write(trace, MPI_COMM_WORLD, options->trace_path, message, sizeof message) != MPIMR_OK) {
    /* Every rank has the same message; one says it. */
    if (rank == 0) fprintf(stderr, "%s: %s\n", program, message);
    status = 1;
  }
  mpimr_trace_free(trace);
  return status;
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
    status = run_traced(&options, rank, ranks);
  }
  MPI_Finalize();
  return status;
}
