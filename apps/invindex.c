/*
 * apps/invindex.c — mpimr-invindex: an inverted index of files across MPI ranks.
 *
 * For every word it lists the lines the word occurs on, as postings
 * FILE:OFFSET (the file's number in the job's file list and the byte offset
 * of the line's first byte). A word is what mpimr-wordcount counts: a maximal
 * run of bytes that are not ASCII whitespace. Map emits each distinct word of
 * a line once, with a 12-byte value (file number, then offset, both
 * big-endian) whose bytewise order is posting order. There is no combiner, so
 * the library hands a key's values to the reducer in bytewise order, streamed;
 * the reducer prints them as text, at most --postings-per-line postings per
 * output line, so a word with more postings than fit in memory still works.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "job_cli.h"
#include "mpimr/mpimr.h"

static const char *const PROGRAM = "mpimr-invindex";

/* A posting as the map sends it: the file number (4 bytes) and the offset (8 bytes), big-endian. */
#define POSTING_BYTES 12
/* The longest posting as text: 10 digits, ':', 20 digits, and the space before it. */
#define POSTING_TEXT_MAX 32
#define DEFAULT_POSTINGS_PER_LINE 1000
#define MAX_POSTINGS_PER_LINE 1000000

static void print_help(void) {
  printf(
      "NAME\n"
      "    mpimr-invindex - build an inverted index of files with MapReduce over MPI\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P mpimr-invindex -o OUTDIR [OPTIONS] INPUT...\n"
      "\n"
      "DESCRIPTION\n"
      "    Lists, for every word in the INPUT files and directories, the lines it\n"
      "    occurs on. A word is a maximal run of bytes that are not ASCII whitespace\n"
      "    (space, TAB, LF, VT, FF, CR), as in mpimr-wordcount; any other byte, NUL\n"
      "    and non-UTF-8 bytes included, is part of a word. A line ends at LF (a CR\n"
      "    before it is whitespace); the last line of a file needs no LF.\n"
      "\n"
      "    A posting FILE:OFFSET names one line, both numbers in decimal:\n"
      "      FILE    the file's number, counting from 0, in the order the job lists\n"
      "              its files: the INPUTs in the order given, a directory's entries\n"
      "              in bytewise name order, depth first. Entries whose names start\n"
      "              with '.' and entries that are not regular files or directories\n"
      "              are skipped inside directories; empty files are numbered too.\n"
      "      OFFSET  the byte offset of the line's first byte in that file.\n"
      "    A word's postings are in increasing order (by file, then offset), and a\n"
      "    line appears once per word however often the word occurs on it. Files\n"
      "    are split into byte ranges across ranks at line boundaries, so one large\n"
      "    file is read in parallel.\n"
      "\n"
      "OUTPUT\n"
      "    OUTDIR/part-00000 ... one file per rank, lines 'word<TAB>postings' in\n"
      "    bytewise word order, postings separated by single spaces, and\n"
      "    OUTDIR/_SUCCESS once every part is complete. A word with more than N\n"
      "    postings (see --postings-per-line) takes several consecutive lines of N\n"
      "    postings each, the last with the rest; every word is in one part only.\n"
      "\n"
      "OPTIONS\n"
      "    -o, --output DIR          output directory (required)\n"
      "    -f, --overwrite           replace the results in an existing DIR\n"
      "        --postings-per-line N at most N postings on one output line (default\n"
      "                              1000; 1..1000000)\n"
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
      "    mpirun -np 2 mpimr-gentext -o text.txt --size 100M --vocab 10000\n"
      "    mpirun -np 2 mpimr-invindex -o index text.txt\n"
      "    grep -h $'^abc\\t' index/part-*         # where the word abc occurs\n"
      "    mpirun -np 4 mpimr-invindex -o index --memory 256M --spill-dir /scratch docs/\n",
      JOB_CLI_HELP);
}

/*
 * The words of the line being mapped, so that each is emitted once: an open-addressing set of
 * (hash, position in the line) at load at most 1/2. Slots stamped with an older line count as
 * empty, so a new line costs nothing to start, and the set grows (rarely: it is kept across
 * lines) only when a line has more distinct words than it holds; only the set of a very long
 * line is given back, so that it does not hold memory outside the job's budget.
 */
typedef struct word_slot {
  uint64_t hash;
  size_t start; /* the word's first byte in the line */
  size_t length;
  uint32_t line; /* the line that filled the slot */
} word_slot;

typedef struct line_words {
  word_slot *slots;
  size_t mask; /* slot count - 1 (a power of two less one) */
  size_t used; /* slots the current line filled */
  uint32_t line;
} line_words;

typedef struct invindex {
  line_words words;
  size_t postings_per_line;
  char *text; /* one output line's postings */
  size_t text_capacity;
} invindex;

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* A set grown past this many slots (2 MiB) for one long line is freed when the next line starts. */
#define LINE_WORDS_KEEP_SLOTS ((size_t)1 << 16)

/* Starts a new line: every slot becomes empty at once (cleared only when the stamp wraps). */
static void line_words_begin(line_words *w) {
  w->used = 0;
  if (w->slots != NULL && w->mask + 1 > LINE_WORDS_KEEP_SLOTS) {
    free(w->slots);
    w->slots = NULL;
  }
  if (++w->line == 0) {
    if (w->slots != NULL) memset(w->slots, 0, (w->mask + 1) * sizeof *w->slots);
    w->line = 1;
  }
}

/* Makes the set (64 slots) or doubles it, keeping the current line's words. Returns 0, or -1 if out
 * of memory. */
static int line_words_grow(line_words *w) {
  size_t capacity = w->slots != NULL ? (w->mask + 1) * 2 : 64;
  word_slot *slots = calloc(capacity, sizeof *slots);
  if (slots == NULL) return -1;
  for (size_t i = 0; w->slots != NULL && i <= w->mask; i++) {
    if (w->slots[i].line != w->line) continue;
    size_t at = w->slots[i].hash & (capacity - 1);
    while (slots[at].line == w->line) at = (at + 1) & (capacity - 1);
    slots[at] = w->slots[i];
  }
  free(w->slots);
  w->slots = slots;
  w->mask = capacity - 1;
  return 0;
}

/* Adds line[start, start + length) to the set: 1 if it is new on this line, 0 if not, -1 if out of memory. */
static int line_words_add(line_words *w, const unsigned char *line, size_t start, size_t length) {
  if ((w->slots == NULL || (w->used + 1) * 2 > w->mask + 1) && line_words_grow(w) != 0) return -1;
  uint64_t hash = mpimr_hash64(line + start, length, 0);
  size_t at = hash & w->mask;
  for (;;) {
    word_slot *slot = &w->slots[at];
    if (slot->line != w->line) {
      *slot = (word_slot){hash, start, length, w->line};
      w->used++;
      return 1;
    }
    if (slot->hash == hash && slot->length == length && memcmp(line + slot->start, line + start, length) == 0)
      return 0;
    at = (at + 1) & w->mask;
  }
}

static void put_u32_be(unsigned char *out, uint32_t v) {
  for (int i = 0; i < 4; i++) out[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void put_u64_be(unsigned char *out, uint64_t v) {
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t get_be(const unsigned char *in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = (v << 8) | in[i];
  return v;
}

/* The map function: each distinct word of a line, with the line's posting as its value. */
static int map_line(void *user, const void *record, size_t length, mpimr_emitter *out) {
  invindex *ix = user;
  const unsigned char *line = record;
  mpimr_record_origin origin;
  int rc = mpimr_map_origin(out, &origin);
  if (rc != MPIMR_OK) return rc;
  if (origin.file_index > UINT32_MAX) {
    fprintf(stderr, "%s: more than %lu input files\n", PROGRAM, (unsigned long)UINT32_MAX + 1);
    return MPIMR_ERR_TOO_LARGE;
  }
  unsigned char posting[POSTING_BYTES];
  put_u32_be(posting, (uint32_t)origin.file_index);
  put_u64_be(posting + 4, origin.offset);
  line_words_begin(&ix->words);
  size_t at = 0;
  while (at < length) {
    while (at < length && is_space(line[at])) at++;
    size_t start = at;
    while (at < length && !is_space(line[at])) at++;
    if (at == start) break;
    int added = line_words_add(&ix->words, line, start, at - start);
    if (added < 0) {
      fprintf(stderr, "%s: out of memory for the words of a line of %zu bytes in '%s'\n", PROGRAM, length,
              origin.path);
      return MPIMR_ERR_NOMEM;
    }
    if (added == 0) continue;
    rc = mpimr_emit(out, line + start, at - start, posting, sizeof posting);
    if (rc != MPIMR_OK) return rc;
  }
  return 0;
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

/* Makes room for one more posting after `length` bytes of a line's text. The buffer doubles up to
 * what a full line can take, never beyond. */
static int reserve_posting(invindex *ix, size_t length) {
  size_t needed = length + POSTING_TEXT_MAX;
  if (needed <= ix->text_capacity) return 0;
  size_t capacity = ix->text_capacity ? ix->text_capacity * 2 : 4096;
  size_t most = ix->postings_per_line * POSTING_TEXT_MAX;
  if (capacity > most) capacity = most;
  if (capacity < needed) capacity = needed;
  char *grown = realloc(ix->text, capacity);
  if (grown == NULL) return -1;
  ix->text = grown;
  ix->text_capacity = capacity;
  return 0;
}

/* The reducer: a word's postings, which arrive in order, as lines of at most N postings each. */
static int reduce_postings(void *user, const void *key, size_t key_len, mpimr_values *values,
                           mpimr_emitter *out) {
  invindex *ix = user;
  unsigned char previous[POSTING_BYTES];
  int have_previous = 0;
  size_t length = 0, in_line = 0;
  const void *value;
  size_t value_len;
  while (mpimr_values_next(values, &value, &value_len)) {
    if (value_len != POSTING_BYTES) {
      fprintf(stderr, "%s: a posting of %zu bytes (expected %d)\n", PROGRAM, value_len, POSTING_BYTES);
      return MPIMR_ERR_CORRUPT;
    }
    if (have_previous) {
      int order = memcmp(value, previous, POSTING_BYTES);
      if (order == 0) continue; /* the same line twice */
      if (order < 0) {
        fprintf(stderr, "%s: the postings of a word arrived out of order\n", PROGRAM);
        return MPIMR_ERR_STATE;
      }
    }
    memcpy(previous, value, POSTING_BYTES);
    have_previous = 1;
    if (in_line == ix->postings_per_line) {
      int rc = mpimr_emit(out, key, key_len, ix->text, length);
      if (rc != MPIMR_OK) return rc;
      length = 0;
      in_line = 0;
    }
    if (reserve_posting(ix, length) != 0) {
      fprintf(stderr, "%s: out of memory for a line of %zu postings\n", PROGRAM, ix->postings_per_line);
      return MPIMR_ERR_NOMEM;
    }
    if (in_line > 0) ix->text[length++] = ' ';
    length += format_decimal(ix->text + length, get_be(previous, 4));
    ix->text[length++] = ':';
    length += format_decimal(ix->text + length, get_be(previous + 4, 8));
    in_line++;
  }
  if (in_line == 0) return 0;
  return mpimr_emit(out, key, key_len, ix->text, length);
}

enum option_ids { OPT_POSTINGS_PER_LINE = 256 };

typedef struct options {
  job_cli cli;
  int postings_per_line;
} options;

/* Returns 0, or CLI_EXIT_USAGE after reporting the problem on rank 0. */
static int parse_options(int argc, char **argv, int rank, options *o) {
  static const struct option long_options[] = {
      JOB_CLI_COMMON_LONG_OPTIONS, {"postings-per-line", required_argument, NULL, OPT_POSTINGS_PER_LINE},
      JOB_CLI_LONG_OPTIONS, {NULL, 0, NULL, 0}};
  mpimr_job_config *job = &o->cli.job;
  job_cli_config_init(job);
  job->map_record = map_line;
  job->reduce = reduce_postings;
  job->reduce_in_order = 1; /* every line it writes has the word it was called for */
  o->postings_per_line = DEFAULT_POSTINGS_PER_LINE;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, JOB_CLI_SHORT_OPTIONS, long_options, NULL)) != -1) {
    if (c == OPT_POSTINGS_PER_LINE) {
      if (cli_parse_int(optarg, 1, MAX_POSTINGS_PER_LINE, &o->postings_per_line) == 0) continue;
      cli_usage_error(rank, PROGRAM, "--postings-per-line must be an integer from 1 to %d, not '%s'",
                      MAX_POSTINGS_PER_LINE, optarg);
      return CLI_EXIT_USAGE;
    }
    int status = job_cli_option(&o->cli, c, optarg, argv, rank, PROGRAM);
    if (status != 0 || o->cli.help) return status;
  }
  return job_cli_take_inputs(&o->cli, argc, argv, rank, PROGRAM, 1);
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
    MPI_Finalize();
    return 0;
  }
  if (status != 0) {
    MPI_Finalize();
    return status;
  }
  invindex ix;
  memset(&ix, 0, sizeof ix);
  ix.postings_per_line = (size_t)o.postings_per_line;
  o.cli.job.user = &ix;
  int exit_status = job_cli_run(&o.cli, PROGRAM);
  free(ix.words.slots);
  free(ix.text);
  MPI_Finalize();
  return exit_status;
}
