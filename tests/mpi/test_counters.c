/*
 * tests/mpi/test_counters.c — a job's named counters (mpimr_counter_add(),
 * mpimr_counter_find() with mpimr_counter_increment(), mpimr_job_counter(),
 * mpimr_job_each_counter()) and the framework's own "mpimr." counters,
 * against counts rank 0 makes by reading the input files itself.
 *
 * The corpus is generated text in three files (CRLF lines, blank lines, runs
 * of spaces and TABs, a last line without a newline, an empty file). The map
 * counts records by name, words by name (one add per record), long words
 * through a handle resolved once, words by first letter through a name built
 * in a reused buffer (so a cache keyed by the name's address would mix them
 * up), a counter only odd ranks add, one with a 64-character name, one
 * adding 2^40 a record; the reduce counts keys by name and values through a
 * handle, and adds to a counter the map adds to too. Every rank checks every
 * total; each_counter lists them all in name order; the stats JSON carries
 * them. Also: bad names (and the framework's "mpimr." ones) refused by
 * find and add, NOT_FOUND for names no rank added to,
 * STATE before a job ran and after one failed, and skipped bad records
 * counted as "mpimr.bad_records" and listed in OUTDIR/_bad_records.
 */
#include <inttypes.h>
#include <stdint.h>

#include "../common/json_check.h"
#include "../common/word_oracle.h"
#include "mpi_test_util.h"
#include "mpimr/mpimr.h"

enum { LONG_WORD = 8 };
static const char NAME_64[] = "c234567890123456789012345678901234567890123456789012345678901234";
static const uint64_t BIG = (uint64_t)1 << 40;

/* ---- what the job's functions keep on each rank (reset before every job) ---- */

typedef struct count_state {
  int rank;
  mpimr_counter *long_words;  /**< Resolved in the first map call. */
  mpimr_counter *total_count; /**< Resolved in the first reduce call. */
  int first_map_done;
  int name_checks_failed;  /**< Checks of bad names made in the first map call that went wrong. */
  int handle_changed;      /**< A later find gave another handle for "long_words". */
  const char *fail_prefix; /**< Records starting with it fail with mpimr_fail() (NULL: none do). */
} count_state;

static count_state state_of_rank;

/* The first map call on a rank: names the library must refuse, and one it must keep. */
static void check_names(mpimr_emitter *out) {
  char too_long[66];
  memset(too_long, 'x', 65);
  too_long[65] = '\0';
  /* The framework's names are its own: a program cannot add to them (or make new ones). */
  const char *bad[] = {"",          "has\"quote",  too_long, "back\\slash",         "tab\there",
                       "new\nline", "caf\xc3\xa9", "\x7f",   "mpimr.input_records", "mpimr.mine"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (mpimr_counter_find(out, bad[i]) != NULL) {
      fprintf(stderr, "rank %d: mpimr_counter_find accepted bad name %zu\n", state_of_rank.rank, i);
      state_of_rank.name_checks_failed++;
    }
    if (mpimr_counter_add(out, bad[i], 1) != MPIMR_ERR_INVAL) {
      fprintf(stderr, "rank %d: mpimr_counter_add accepted bad name %zu\n", state_of_rank.rank, i);
      state_of_rank.name_checks_failed++;
    }
  }
  /* 64 characters is the longest name; the same name from another address is the same counter. */
  if (mpimr_counter_find(out, NAME_64) == NULL) state_of_rank.name_checks_failed++;
  char copy[LONG_WORD * 4];
  snprintf(copy, sizeof copy, "%s", "long_words");
  if (mpimr_counter_find(out, copy) != state_of_rank.long_words) state_of_rank.name_checks_failed++;
}

static int map_words(void *user, const void *record, size_t length, mpimr_emitter *out) {
  count_state *s = user;
  const unsigned char *p = record, *end = p + length;
  if (s->fail_prefix && length >= strlen(s->fail_prefix) &&
      memcmp(p, s->fail_prefix, strlen(s->fail_prefix)) == 0)
    return mpimr_fail(out, "malformed record '%.*s'", (int)length, (const char *)record);
  if (!s->first_map_done) {
    s->first_map_done = 1;
    s->long_words = mpimr_counter_find(out, "long_words");
    if (s->long_words == NULL) return mpimr_fail(out, "no handle for long_words");
    check_names(out);
  } else if (mpimr_counter_find(out, "long_words") != s->long_words) {
    s->handle_changed = 1;
  }
  if (mpimr_counter_add(out, "lines", 1) != MPIMR_OK) return mpimr_fail(out, "add lines");
  if (length == 0 && mpimr_counter_add(out, "empty_lines", 1) != MPIMR_OK)
    return mpimr_fail(out, "add empty");
  if (s->rank % 2 == 1 && mpimr_counter_add(out, "odd_rank_records", 1) != MPIMR_OK)
    return mpimr_fail(out, "add odd");
  if (mpimr_counter_add(out, NAME_64, 1) != MPIMR_OK) return mpimr_fail(out, "add 64");
  if (mpimr_counter_add(out, "big", BIG) != MPIMR_OK) return mpimr_fail(out, "add big");
  if (mpimr_counter_add(out, "both", 1) != MPIMR_OK) return mpimr_fail(out, "add both in map");
  unsigned char one[8];
  mpimr_put_u64(one, 1);
  uint64_t words = 0;
  char name[32]; /* one buffer, refilled for every word: the same address, other names */
  while (p < end) {
    while (p < end && oracle_is_space[*p]) p++;
    const unsigned char *word = p;
    while (p < end && !oracle_is_space[*p]) p++;
    if (p == word) continue;
    words++;
    if ((size_t)(p - word) >= LONG_WORD) mpimr_counter_increment(s->long_words, 1);
    snprintf(name, sizeof name, "first:%c", word[0]);
    if (mpimr_counter_add(out, name, 1) != MPIMR_OK) return mpimr_fail(out, "add %s", name);
    if (mpimr_emit(out, word, (size_t)(p - word), one, 8) != MPIMR_OK) return 1;
  }
  if (mpimr_counter_add(out, "words", words) != MPIMR_OK) return mpimr_fail(out, "add words");
  return 0;
}

static int reduce_sum(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  count_state *s = user;
  if (s->total_count == NULL) {
    s->total_count = mpimr_counter_find(out, "total_count");
    if (s->total_count == NULL) return mpimr_fail(out, "no handle for total_count");
  }
  uint64_t total = 0;
  const void *value;
  size_t length = 0;
  while (mpimr_values_next(values, &value, &length)) total += mpimr_get_u64(value);
  mpimr_counter_increment(s->total_count, total);
  if (mpimr_counter_add(out, "distinct_words", 1) != MPIMR_OK) return mpimr_fail(out, "add distinct");
  if (mpimr_counter_add(out, "both", 1) != MPIMR_OK) return mpimr_fail(out, "add both in reduce");
  unsigned char sum[8];
  mpimr_put_u64(sum, total);
  return mpimr_emit(out, key, key_len, sum, 8);
}

/* ---- the corpus and its independent counts ---- */

enum {
  O_LINES,
  O_EMPTY,
  O_WORDS,
  O_LONG,
  O_DISTINCT,
  O_BYTES,
  O_FIRST, /* 26 entries: words starting with 'a' + i */
  O_COUNT = O_FIRST + 26
};

static char corpus_dir[256], input_dir[300];
static uint64_t oracle[O_COUNT];

static uint64_t next_random(uint64_t *state) {
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return *state >> 33;
}

/* Random lines of words of 1-12 letters from a small vocabulary, with blank lines, CRLF endings and
 * runs of blanks. Returns the bytes written. */
static size_t make_text(unsigned char *buffer, size_t size, uint64_t seed, int end_with_newline) {
  char vocabulary[400][13];
  for (int w = 0; w < 400; w++) {
    int length = 1 + (int)(next_random(&seed) % 12);
    for (int i = 0; i < length; i++) vocabulary[w][i] = (char)('a' + next_random(&seed) % 26);
    vocabulary[w][length] = '\0';
  }
  size_t at = 0;
  while (at + 200 < size) {
    uint64_t kind = next_random(&seed) % 20;
    if (kind == 0) {
      buffer[at++] = '\n'; /* an empty record */
      continue;
    }
    int words = (int)(next_random(&seed) % 14);
    for (int i = 0; i < words; i++) {
      const char *w = vocabulary[next_random(&seed) % 400];
      if (i > 0 || kind == 1) buffer[at++] = kind == 2 ? '\t' : ' ';
      if (kind == 3) buffer[at++] = ' ';
      size_t n = strlen(w);
      memcpy(buffer + at, w, n);
      at += n;
    }
    if (kind == 4) buffer[at++] = '\r';
    buffer[at++] = '\n';
  }
  if (!end_with_newline && at > 0 && buffer[at - 1] == '\n') {
    at--;
    if (at > 0 && buffer[at - 1] == '\r') at--;
    memcpy(buffer + at, " tail words", 11);
    at += 11;
  }
  return at;
}

/* Rank 0: counts one file's records and words as the test defines them, reading it itself. */
static int count_file(const char *path, word_list *all) {
  size_t length = 0;
  unsigned char *data = test_read_file(path, &length);
  if (data == NULL) return 0;
  oracle[O_BYTES] += length;
  size_t line_start = 0;
  for (size_t i = 0; i <= length; i++) {
    if (i < length && data[i] != '\n') continue;
    if (i == length && line_start == length) break; /* no record after the last newline */
    size_t line_end = i;
    if (line_end > line_start && data[line_end - 1] == '\r') line_end--;
    oracle[O_LINES]++;
    if (line_end == line_start) oracle[O_EMPTY]++;
    line_start = i + 1;
  }
  for (size_t i = 0; i < length;) {
    while (i < length && oracle_is_space[data[i]]) i++;
    size_t start = i;
    while (i < length && !oracle_is_space[data[i]]) i++;
    if (i == start) continue;
    oracle[O_WORDS]++;
    if (i - start >= LONG_WORD) oracle[O_LONG]++;
    if (data[start] >= 'a' && data[start] <= 'z') oracle[O_FIRST + (data[start] - 'a')]++;
  }
  free(data);
  return oracle_add_file(all, path);
}

static int setup_corpus(void **unused) {
  (void)unused;
  test_temp_dir(corpus_dir, sizeof corpus_dir);
  snprintf(input_dir, sizeof input_dir, "%s/in", corpus_dir);
  int ok = 1;
  if (test_rank() == 0) {
    ok = mkdir(input_dir, 0755) == 0;
    size_t size = 300000;
    unsigned char *buffer = malloc(size);
    ok = ok && buffer != NULL;
    const char *names[] = {"a.txt", "b.txt", "c-empty.txt"};
    size_t sizes[] = {ok ? make_text(buffer, size, 7, 1) : 0, 0, 0};
    ok = ok && test_write_file(input_dir, names[0], buffer, sizes[0]) == 0;
    if (ok) sizes[1] = make_text(buffer, size / 3, 99, 0);
    ok = ok && test_write_file(input_dir, names[1], buffer, sizes[1]) == 0;
    ok = ok && test_write_file(input_dir, names[2], "", 0) == 0;
    free(buffer);
    word_list all = {0};
    for (int f = 0; f < 3 && ok; f++) {
      char path[512];
      snprintf(path, sizeof path, "%s/%s", input_dir, names[f]);
      ok = count_file(path, &all);
    }
    list_collapse(&all);
    oracle[O_DISTINCT] = all.count;
    list_free(&all);
    ok = ok && oracle[O_EMPTY] > 0 && oracle[O_LONG] > 0 && oracle[O_LINES] > 1000;
  }
  MPI_Bcast(oracle, O_COUNT, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  return test_agree(ok, "corpus written and counted") ? 0 : -1;
}

static int teardown_corpus(void **unused) {
  (void)unused;
  test_remove_tree(corpus_dir);
  return 0;
}

/* ---- running jobs ---- */

typedef struct job_settings {
  int combine;
  const char *output_dir; /**< NULL: no output. */
  uint64_t max_bad_records;
  const char *fail_prefix;
  const char *input; /**< NULL: the corpus. */
} job_settings;

static int run_job(job_settings settings, mpimr_job **job_out) {
  memset(&state_of_rank, 0, sizeof state_of_rank);
  state_of_rank.rank = test_rank();
  state_of_rank.fail_prefix = settings.fail_prefix;
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.user = &state_of_rank;
  cfg.map_record = map_words;
  const char *inputs[1] = {settings.input ? settings.input : input_dir};
  cfg.inputs = inputs;
  cfg.input_count = 1;
  cfg.combine = settings.combine ? mpimr_combine_sum_u64 : NULL;
  cfg.reduce = reduce_sum;
  cfg.format_value = mpimr_format_u64;
  cfg.output_dir = settings.output_dir;
  cfg.output_format = settings.output_dir ? MPIMR_OUTPUT_TEXT : MPIMR_OUTPUT_NONE;
  cfg.overwrite = 1;
  cfg.max_bad_records = settings.max_bad_records;
  cfg.round_bytes = 64 << 10; /* several rounds */
  cfg.combine_bytes = 64 << 10;
  cfg.read_bytes = 16 << 10;
  cfg.pin = MPIMR_PIN_NONE;
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &cfg);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (rc != MPIMR_OK && settings.fail_prefix == NULL) fprintf(stderr, "%s\n", mpimr_job_error_message(job));
  *job_out = job;
  return rc;
}

/* 1 if counter `name` of the job reads `expected` on this rank (says what it read otherwise). */
static int counter_is(const mpimr_job *job, const char *name, uint64_t expected) {
  uint64_t value = 0;
  int rc = mpimr_job_counter(job, name, &value);
  if (rc == MPIMR_OK && value == expected) return 1;
  fprintf(stderr, "rank %d: counter '%s': status %d, value %" PRIu64 ", expected %" PRIu64 "\n", test_rank(),
          name, rc, value, expected);
  return 0;
}

static uint64_t sum_over_ranks(uint64_t mine) {
  uint64_t all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  return all;
}

/* What each_counter gave, in the order it gave it. */
typedef struct visited {
  char names[128][72];
  uint64_t values[128];
  int count;
  int overflow;
} visited;

static void visit_counter(void *context, const char *name, uint64_t value) {
  visited *v = context;
  if (v->count == 128 || strlen(name) >= sizeof v->names[0]) {
    v->overflow = 1;
    return;
  }
  snprintf(v->names[v->count], sizeof v->names[0], "%s", name);
  v->values[v->count++] = value;
}

/* The program's own counters of the word-count job, with the oracle's totals. */
static int user_counters_ok(const mpimr_job *job) {
  int ok = counter_is(job, "lines", oracle[O_LINES]);
  ok &= counter_is(job, "empty_lines", oracle[O_EMPTY]);
  ok &= counter_is(job, "words", oracle[O_WORDS]);
  ok &= counter_is(job, "long_words", oracle[O_LONG]);
  ok &= counter_is(job, NAME_64, oracle[O_LINES]);
  ok &= counter_is(job, "big", oracle[O_LINES] * BIG);
  ok &= counter_is(job, "distinct_words", oracle[O_DISTINCT]);
  ok &= counter_is(job, "total_count", oracle[O_WORDS]);
  ok &= counter_is(job, "both", oracle[O_LINES] + oracle[O_DISTINCT]);
  uint64_t unused;
  for (int c = 0; c < 26; c++) {
    char name[16];
    snprintf(name, sizeof name, "first:%c", 'a' + c);
    if (oracle[O_FIRST + c] > 0)
      ok &= counter_is(job, name, oracle[O_FIRST + c]);
    else
      ok &= mpimr_job_counter(job, name, &unused) == MPIMR_ERR_NOT_FOUND;
  }
  return ok;
}

/* Counters only odd ranks add: NOT_FOUND at one rank, else the records the odd ranks mapped. */
static int odd_rank_counter_ok(const mpimr_job *job) {
  uint64_t mine = test_rank() % 2 ? mpimr_job_get_stats(job)->input_records : 0;
  uint64_t odd = sum_over_ranks(mine), value = 0;
  if (test_size() == 1) return mpimr_job_counter(job, "odd_rank_records", &value) == MPIMR_ERR_NOT_FOUND;
  return counter_is(job, "odd_rank_records", odd);
}

/* The framework's counters: the oracle's where it has one, else the sums of the ranks' figures. */
static int framework_counters_ok(const mpimr_job *job, int combine) {
  const mpimr_job_stats *stats = mpimr_job_get_stats(job);
  uint64_t sent = sum_over_ranks(stats->pairs_sent), spilled = sum_over_ranks(stats->spill_bytes);
  uint64_t output_bytes = sum_over_ranks(stats->bytes_output);
  int ok = counter_is(job, "mpimr.input_records", oracle[O_LINES]);
  ok &= counter_is(job, "mpimr.input_bytes", oracle[O_BYTES]);
  ok &= counter_is(job, "mpimr.pairs_emitted", oracle[O_WORDS]);
  ok &= counter_is(job, "mpimr.keys_reduced", oracle[O_DISTINCT]);
  ok &= counter_is(job, "mpimr.pairs_output", oracle[O_DISTINCT]);
  ok &= counter_is(job, "mpimr.bad_records", 0);
  ok &= counter_is(job, "mpimr.pairs_sent", combine ? sent : oracle[O_WORDS]);
  ok &= counter_is(job, "mpimr.spill_bytes", spilled);
  ok &= counter_is(job, "mpimr.bytes_output", output_bytes);
  if (combine && sent > oracle[O_WORDS]) ok = 0;
  return ok;
}

/* each_counter: every counter once, in bytewise name order, with mpimr_job_counter's values. */
static int each_counter_ok(const mpimr_job *job) {
  static visited seen;
  memset(&seen, 0, sizeof seen);
  int returned = mpimr_job_each_counter(job, visit_counter, &seen);
  int ok = !seen.overflow && returned == seen.count;
  int own = 0, framework = 0;
  static const char *const documented[] = {"mpimr.input_bytes",  "mpimr.input_records", "mpimr.pairs_emitted",
                                           "mpimr.pairs_sent",   "mpimr.keys_reduced",  "mpimr.pairs_output",
                                           "mpimr.bytes_output", "mpimr.bad_records",   "mpimr.spill_bytes"};
  for (int i = 0; ok && i < seen.count; i++) {
    uint64_t value = 0;
    ok = mpimr_job_counter(job, seen.names[i], &value) == MPIMR_OK && value == seen.values[i];
    if (ok && i > 0) ok = strcmp(seen.names[i - 1], seen.names[i]) < 0;
    if (strncmp(seen.names[i], "mpimr.", 6) != 0) own++;
    for (size_t d = 0; d < sizeof documented / sizeof documented[0]; d++)
      framework += strcmp(seen.names[i], documented[d]) == 0;
    if (!ok)
      fprintf(stderr, "rank %d: each_counter entry %d '%s' disagrees\n", test_rank(), i, seen.names[i]);
  }
  /* The program's 9 counters every rank adds, odd_rank_records (more than one rank), a counter per
   * first letter that occurs; and the framework's, exactly those the header documents. */
  int expected = 9 + (test_size() > 1);
  for (int c = 0; c < 26; c++) expected += oracle[O_FIRST + c] > 0;
  int all_framework = seen.count - own;
  if (own != expected || framework != 9 || all_framework != 9)
    fprintf(stderr,
            "rank %d: each_counter gave %d own counters (expected %d), %d framework ones, %d of the 9 "
            "documented\n",
            test_rank(), own, expected, all_framework, framework);
  return ok && own == expected && framework == 9 && all_framework == 9;
}

/* ---- the stats JSON: its top-level "counters" object ---- */

/* The value of "name" in the object after "counters" in `text`; 0 if missing. */
static int json_counter(const char *text, const char *name, uint64_t *value) {
  const char *object = strstr(text, "\"counters\"");
  if (object == NULL) return 0;
  object = strchr(object, '{');
  const char *close = object ? strchr(object, '}') : NULL; /* counter names hold no braces here */
  if (close == NULL) return 0;
  char quoted[80];
  snprintf(quoted, sizeof quoted, "\"%s\"", name);
  const char *at = strstr(object, quoted);
  if (at == NULL || at > close) return 0;
  at += strlen(quoted);
  while (*at == ' ') at++;
  if (*at++ != ':') return 0;
  char *end;
  *value = strtoull(at, &end, 10);
  return end > at;
}

static int json_ok(const char *path, const mpimr_job *job) {
  size_t length = 0;
  unsigned char *data = test_read_file(path, &length);
  if (data == NULL) return 0;
  int ok = json_is_valid(data, length);
  if (!ok) fprintf(stderr, "%s is not valid JSON\n", path);
  char *text = realloc(data, length + 1);
  if (text == NULL) {
    free(data);
    return 0;
  }
  text[length] = '\0';
  ok &= strstr(text, "\"reduce_load\"") != NULL;
  const char *names[] = {"lines",
                         "words",
                         "long_words",
                         "distinct_words",
                         "both",
                         NAME_64,
                         "big",
                         "first:a",
                         "mpimr.input_records",
                         "mpimr.pairs_output",
                         "mpimr.bad_records"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    uint64_t in_json = 0, value = 0;
    int found =
        json_counter(text, names[i], &in_json) && mpimr_job_counter(job, names[i], &value) == MPIMR_OK;
    if (!found || in_json != value) {
      fprintf(stderr, "counter '%s' in %s: %s %" PRIu64 ", job %" PRIu64 "\n", names[i], path,
              found ? "value" : "missing", in_json, value);
      ok = 0;
    }
  }
  free(text);
  return ok;
}

/* ---- tests ---- */

static void check_wordcount_job(int combine) {
  char out[400], stats[400];
  snprintf(out, sizeof out, "%s/out-%d", corpus_dir, combine);
  snprintf(stats, sizeof stats, "%s/stats-%d.json", corpus_dir, combine);
  mpimr_job *job = NULL;
  assert_all(run_job((job_settings){combine, out, 0, NULL, NULL}, &job) == MPIMR_OK);
  assert_all(state_of_rank.name_checks_failed == 0 && !state_of_rank.handle_changed);
  assert_all(user_counters_ok(job));
  assert_all(odd_rank_counter_ok(job));
  assert_all(framework_counters_ok(job, combine));
  assert_all(each_counter_ok(job));
  uint64_t value = 7;
  assert_all(mpimr_job_counter(job, "no such counter", &value) == MPIMR_ERR_NOT_FOUND && value == 7);
  assert_all(mpimr_job_counter(job, "mpimr.no_such_counter", &value) == MPIMR_ERR_NOT_FOUND);
  assert_all(mpimr_job_report(job, NULL, stats) == MPIMR_OK);
  int ok = test_rank() != 0 || json_ok(stats, job);
  assert_all(ok);
  mpimr_job_free(job);
  /* The part files hold the counts the counters summed. */
  ok = 1;
  if (test_rank() == 0) {
    word_list got = {0};
    ok = read_parts(&got, out, test_size()) && test_file_exists(out, "_SUCCESS");
    uint64_t total = 0;
    for (size_t i = 0; ok && i < got.count; i++) total += got.items[i].count;
    ok = ok && got.count == oracle[O_DISTINCT] && total == oracle[O_WORDS];
    list_free(&got);
  }
  assert_all(ok);
}

static void test_counters_with_reducer(void **unused) {
  (void)unused;
  check_wordcount_job(0);
}

static void test_counters_with_combiner(void **unused) {
  (void)unused;
  check_wordcount_job(1);
}

/* Before a job has run, and after one failed, there are no totals to read. */
static void test_no_totals_before_success(void **unused) {
  (void)unused;
  memset(&state_of_rank, 0, sizeof state_of_rank);
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.user = &state_of_rank;
  cfg.map_record = map_words;
  const char *inputs[1] = {input_dir};
  cfg.inputs = inputs;
  cfg.input_count = 1;
  cfg.reduce = reduce_sum;
  cfg.output_format = MPIMR_OUTPUT_NONE;
  cfg.pin = MPIMR_PIN_NONE;
  mpimr_job *job = NULL;
  assert_all(mpimr_job_create(&job, MPI_COMM_WORLD, &cfg) == MPIMR_OK);
  uint64_t value = 0;
  static visited seen;
  memset(&seen, 0, sizeof seen);
  assert_all(mpimr_job_counter(job, "lines", &value) == MPIMR_ERR_STATE);
  assert_all(mpimr_job_counter(job, "mpimr.input_records", &value) == MPIMR_ERR_STATE);
  assert_all(mpimr_job_each_counter(job, visit_counter, &seen) == MPIMR_ERR_STATE && seen.count == 0);
  mpimr_job_free(job);

  /* Every record fails (no bad records allowed): the job fails, and still has no totals. */
  char empty_prefix[1] = "";
  assert_all(run_job((job_settings){0, NULL, 0, empty_prefix, NULL}, &job) != MPIMR_OK);
  assert_all(mpimr_job_counter(job, "lines", &value) == MPIMR_ERR_STATE);
  assert_all(mpimr_job_counter(job, "mpimr.input_records", &value) == MPIMR_ERR_STATE);
  assert_all(mpimr_job_each_counter(job, visit_counter, &seen) == MPIMR_ERR_STATE && seen.count == 0);
  mpimr_job_free(job);
}

/* Where rank 0 put the bad records: file name and byte offset. */
typedef struct bad_spot {
  const char *file;
  uint64_t offset;
} bad_spot;

/* A file of good lines with bad ones ("BAD ...") at fixed places; fills `spots` (3 entries). */
static int write_bad_input(const char *dir, bad_spot *spots, uint64_t *good_words) {
  int ok = mkdir(dir, 0755) == 0;
  char text[8192];
  const char *files[2] = {"x.txt", "y.txt"};
  int spot = 0;
  *good_words = 0;
  for (int f = 0; f < 2 && ok; f++) {
    size_t at = 0;
    for (int line = 0; line < 60; line++) {
      int bad = (f == 0 && (line == 0 || line == 41)) || (f == 1 && line == 59);
      if (bad) {
        spots[spot++] = (bad_spot){files[f], at};
        at += (size_t)snprintf(text + at, sizeof text - at, "BAD line %d of %s\n", line, files[f]);
      } else {
        at += (size_t)snprintf(text + at, sizeof text - at, "w%d x\n", f * 100 + line); /* 2 words */
        *good_words += 2;
      }
    }
    ok = test_write_file(dir, files[f], text, at) == 0;
  }
  return ok && spot == 3;
}

/* _bad_records in `out`: the lines `PATH<TAB>OFFSET<TAB>MESSAGE`; each must be one of `spots`.
 * Returns how many lines matched a spot (each spot at most once), or -1 if a line is not one. */
static int bad_records_listed(const char *out, const char *in, const bad_spot *spots) {
  char path[600];
  snprintf(path, sizeof path, "%s/_bad_records", out);
  size_t length = 0;
  unsigned char *data = test_read_file(path, &length);
  if (data == NULL) return -1;
  int matched = 0, used[3] = {0, 0, 0};
  char *text = (char *)data;
  for (size_t start = 0; start < length;) {
    char *newline = memchr(text + start, '\n', length - start);
    if (newline == NULL) break;
    *newline = '\0';
    char *line = text + start;
    start = (size_t)(newline - text) + 1;
    char *tab = strchr(line, '\t'), *tab2 = tab ? strchr(tab + 1, '\t') : NULL;
    int found = 0;
    for (int s = 0; tab2 && s < 3 && !found; s++) {
      char expected[600];
      snprintf(expected, sizeof expected, "%s/%s\t%" PRIu64 "\t", in, spots[s].file, spots[s].offset);
      if (!used[s] && strncmp(line, expected, strlen(expected)) == 0 &&
          strstr(tab2, "malformed record 'BAD")) {
        used[s] = found = 1;
        matched++;
      }
    }
    if (!found) {
      fprintf(stderr, "_bad_records line not one of the bad records: %s\n", line);
      free(data);
      return -1;
    }
  }
  free(data);
  return matched;
}

/* Map calls that fail are skipped and counted up to max_bad_records; one more fails the job. */
static void test_bad_records_counted(void **unused) {
  (void)unused;
  char in[400], out[400];
  snprintf(in, sizeof in, "%s/bad-in", corpus_dir);
  snprintf(out, sizeof out, "%s/bad-out", corpus_dir);
  bad_spot spots[3] = {{"", 0}, {"", 0}, {"", 0}}; /* rank 0 fills them */
  uint64_t good_words = 0;
  int ok = test_rank() != 0 || write_bad_input(in, spots, &good_words);
  assert_all(ok);
  MPI_Bcast(&good_words, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);

  mpimr_job *job = NULL;
  assert_all(run_job((job_settings){0, out, 5, "BAD", in}, &job) == MPIMR_OK);
  assert_all(counter_is(job, "mpimr.bad_records", 3));
  assert_all(counter_is(job, "mpimr.input_records", 120));
  assert_all(counter_is(job, "lines", 117)); /* bad records fail before adding anything */
  assert_all(counter_is(job, "words", good_words));
  assert_all(counter_is(job, "mpimr.pairs_output", 117 + 1)); /* a distinct wN a good line, and x */
  assert_all(sum_over_ranks(mpimr_job_get_stats(job)->bad_records) == 3);
  mpimr_job_free(job);
  ok = test_rank() != 0 || (bad_records_listed(out, in, spots) == 3 && test_file_exists(out, "_SUCCESS"));
  assert_all(ok);

  /* Two allowed: the third fails the job everywhere, naming a bad record; no result. */
  char out2[420];
  snprintf(out2, sizeof out2, "%s-2", out);
  int rc = run_job((job_settings){0, out2, 2, "BAD", in}, &job);
  assert_all(rc != MPIMR_OK);
  const char *message = mpimr_job_error_message(job);
  int named = strstr(message, "malformed record 'BAD line") != NULL;
  assert_all(sum_over_ranks(named ? 1 : 0) >= 1);
  mpimr_job_free(job);
  ok = 1;
  if (test_rank() == 0) {
    ok = !test_file_exists(out2, "_SUCCESS");
    if (test_file_exists(out2, "_bad_records")) {
      int listed = bad_records_listed(out2, in, spots);
      ok = ok && listed >= 0 && listed <= 3;
    }
  }
  assert_all(ok);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counters_with_reducer),
      cmocka_unit_test(test_counters_with_combiner),
      cmocka_unit_test(test_no_totals_before_success),
      cmocka_unit_test(test_bad_records_counted),
  };
  int failed = cmocka_run_group_tests(tests, setup_corpus, teardown_corpus);
  MPI_Finalize();
  return failed;
}
