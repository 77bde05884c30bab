/*
 * tests/mpi/test_job.c — word count through the library, end to end, on
 * awkward inputs (empty files, a 10 MB line without a newline, many small
 * files in nested directories, CRLF, tabs and runs of whitespace, NUL and
 * non-UTF-8 bytes, generated text), with and without the combiner and with
 * tiny and default buffers. Rank 0 counts the same files independently
 * (sort the words, count runs) and compares with the part files. Also:
 * existing output directories, overwrite, a missing input, a job run twice.
 */
#include "../common/word_oracle.h"
#include "mpi_test_util.h"
#include "mpimr/mpimr.h"

static int map_words(void *user, const void *record, size_t length, mpimr_emitter *out) {
  (void)user;
  const unsigned char *p = record, *end = p + length;
  unsigned char one[8];
  mpimr_put_u64(one, 1);
  while (p < end) {
    while (p < end && oracle_is_space[*p]) p++;
    const unsigned char *word = p;
    while (p < end && !oracle_is_space[*p]) p++;
    if (p > word && mpimr_emit(out, word, (size_t)(p - word), one, 8) != MPIMR_OK) return 1;
  }
  return 0;
}

static int reduce_sum(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  (void)user;
  uint64_t total = 0;
  const void *value;
  size_t length = 0;
  while (mpimr_values_next(values, &value, &length)) total += mpimr_get_u64(value);
  unsigned char sum[8];
  mpimr_put_u64(sum, total);
  return mpimr_emit(out, key, key_len, sum, 8);
}

/* ---- corpus ---- */

static uint64_t next_random(uint64_t *state) {
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return *state >> 33;
}

static void write_or_fail(const char *dir, const char *name, const void *data, size_t length) {
  assert_int_equal(test_write_file(dir, name, data, length), 0);
}

/* Rank 0 writes the awkward corpus under dir/in. */
static void make_corpus(const char *dir) {
  char in[512], sub[600], deeper[700];
  snprintf(in, sizeof in, "%s/in", dir);
  snprintf(sub, sizeof sub, "%s/small", in);
  snprintf(deeper, sizeof deeper, "%s/nested", sub);
  assert_int_equal(mkdir(in, 0755), 0);
  assert_int_equal(mkdir(sub, 0755), 0);
  assert_int_equal(mkdir(deeper, 0755), 0);
  write_or_fail(in, "empty.txt", "", 0);
  const char crlf[] = "alpha beta\r\ngamma  alpha\r\n\r\nbeta\r\nlast\r";
  write_or_fail(in, "crlf.txt", crlf, sizeof crlf - 1);
  const char spaces[] = "  lead\t\ttabs  \v vt\f ff \n\n\n trail   \n\t\n x y\tz";
  write_or_fail(in, "spaces.txt", spaces, sizeof spaces - 1);
  write_or_fail(in, ".hidden", "never counted", 14);

  uint64_t state = 42;
  size_t line_size = 10u << 20;
  unsigned char *line = malloc(line_size);
  assert_non_null(line);
  for (size_t i = 0; i < line_size; i++)
    line[i] = (next_random(&state) % 7 == 0) ? ' ' : (unsigned char)('a' + next_random(&state) % 3);
  write_or_fail(in, "one_line_10MB.txt", line, line_size);

  unsigned char binary[20000];
  for (size_t i = 0; i < sizeof binary; i++) binary[i] = (unsigned char)next_random(&state);
  write_or_fail(in, "binary.bin", binary, sizeof binary);

  size_t text_size = 4u << 20, at = 0;
  while (at + 16 < text_size) {
    uint64_t r = next_random(&state) % 1000, rank = 1 + r * r / 1000; /* skewed towards small ranks */
    at += (size_t)sprintf((char *)line + at, "w%llu%c", (unsigned long long)rank,
                          next_random(&state) % 9 ? ' ' : '\n');
  }
  write_or_fail(in, "generated.txt", line, at);
  free(line);

  for (int f = 0; f < 300; f++) {
    char name[64], text[128];
    int n = snprintf(text, sizeof text, "file%d word%d shared%s", f % 17, f % 5, f % 3 ? "\n" : "");
    snprintf(name, sizeof name, "f%03d.txt", f);
    write_or_fail(f % 2 ? sub : deeper, name, text, f % 10 == 0 ? 0 : (size_t)n);
  }
}

typedef struct run_settings {
  int combine;
  size_t round_bytes;
  size_t read_bytes;
  int depth;
  int map_blocks;       /**< map_block instead of map_record (the same word splitter serves both). */
  int generic_combiner; /**< A summing combiner the library does not recognise: the generic table. */
} run_settings;

/* Sums like mpimr_combine_sum_u64, but is another function, so the library cannot specialise it. */
static long long combine_sum_generic(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                     size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  if (acc_len != 8 || in_len != 8 || acc_cap < 8) return -1;
  mpimr_put_u64(acc, mpimr_get_u64(acc) + mpimr_get_u64(in));
  return 8;
}

static int run_wordcount(const char *input, const char *out, run_settings s, int overwrite,
                         mpimr_job **job_out) {
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  if (s.map_blocks)
    cfg.map_block = map_words; /* whitespace includes '\n' and '\r', so records may come many at once */
  else
    cfg.map_record = map_words;
  const char *inputs[1] = {input};
  cfg.inputs = inputs;
  cfg.input_count = 1;
  cfg.combine = !s.combine ? NULL : s.generic_combiner ? combine_sum_generic : mpimr_combine_sum_u64;
  cfg.reduce = s.combine ? NULL : reduce_sum;
  cfg.format_value = mpimr_format_u64;
  cfg.output_dir = out;
  cfg.overwrite = overwrite;
  cfg.round_bytes = s.round_bytes;
  cfg.combine_bytes = s.round_bytes; /* tiny settings stay tiny: many rounds */
  cfg.read_bytes = s.read_bytes;
  cfg.rounds_in_flight = s.depth;
  cfg.pin = MPIMR_PIN_NONE;
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &cfg);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (job_out)
    *job_out = job;
  else
    mpimr_job_free(job);
  return rc;
}

static char corpus_dir[256];
static word_list oracle;

static int setup_corpus(void **state) {
  (void)state;
  test_temp_dir(corpus_dir, sizeof corpus_dir);
  if (test_rank() == 0) {
    make_corpus(corpus_dir);
    const char *files[] = {"empty.txt",         "crlf.txt",   "spaces.txt",
                           "one_line_10MB.txt", "binary.bin", "generated.txt"};
    char path[1024];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
      snprintf(path, sizeof path, "%s/in/%s", corpus_dir, files[i]);
      assert_true(oracle_add_file(&oracle, path));
    }
    for (int f = 0; f < 300; f++) {
      snprintf(path, sizeof path, "%s/in/small/%sf%03d.txt", corpus_dir, f % 2 ? "" : "nested/", f);
      assert_true(oracle_add_file(&oracle, path));
    }
    list_collapse(&oracle);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return 0;
}

static int teardown_corpus(void **state) {
  (void)state;
  list_free(&oracle);
  test_remove_tree(corpus_dir);
  return 0;
}

static void check_against_oracle(run_settings s) {
  char input[512], out[512];
  snprintf(input, sizeof input, "%s/in", corpus_dir);
  snprintf(out, sizeof out, "%s/out", corpus_dir);
  mpimr_job *job = NULL;
  int rc = run_wordcount(input, out, s, 1, &job);
  if (rc != MPIMR_OK) fprintf(stderr, "%s\n", mpimr_job_error_message(job));
  assert_all(rc == MPIMR_OK);
  /* Rounds follow the volume: about one per round size of combined (or raw) output, never one
   * per record. (A table left oversized by the 10 MB line once sent ~70,000 near-empty rounds.) */
  const mpimr_job_stats *stats = mpimr_job_get_stats(job);
  uint64_t busiest; /* rounds are collective: the rank that emits most sets their number */
  MPI_Allreduce(&stats->bytes_emitted, &busiest, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  /* Only meaningful with real round sizes: with a few KiB the table's own overhead sets the pace. */
  uint64_t expected_rounds = s.round_bytes < (1u << 20) ? UINT64_MAX : busiest * 4 / s.round_bytes + 16;
  if (stats->rounds > expected_rounds)
    fprintf(stderr, "%llu rounds for at most %llu bytes emitted a rank\n", (unsigned long long)stats->rounds,
            (unsigned long long)busiest);
  assert_all(stats->rounds <= expected_rounds);
  mpimr_job_free(job);
  int ok = 1;
  if (test_rank() == 0) {
    word_list got = {0};
    ok = read_parts(&got, out, test_size()) && test_file_exists(out, "_SUCCESS");
    if (ok) {
      list_collapse(&got); /* a word in two parts would merge here and change the count below */
      ok = lists_equal(&oracle, &got);
    }
    list_free(&got);
  }
  assert_all(ok);
}

static void test_combined_default_sizes(void **state) {
  (void)state;
  check_against_oracle((run_settings){1, 4 << 20, 256 << 10, 2, 0, 0});
}

static void test_combined_tiny_buffers(void **state) {
  (void)state;
  check_against_oracle((run_settings){1, 4096, 4096, 1, 0, 0});
  check_against_oracle((run_settings){1, 8192, 4096, 3, 0, 0});
}

static void test_block_map(void **state) {
  (void)state;
  check_against_oracle((run_settings){1, 4 << 20, 256 << 10, 2, 1, 0});
  check_against_oracle((run_settings){1, 8192, 4096, 2, 1, 0});
  check_against_oracle((run_settings){0, 16384, 4096, 2, 1, 0});
}

static void test_generic_combiner(void **state) {
  (void)state;
  check_against_oracle((run_settings){1, 4 << 20, 256 << 10, 2, 0, 1});
  check_against_oracle((run_settings){1, 8192, 4096, 3, 1, 1});
}

static void test_reducer_without_combiner(void **state) {
  (void)state;
  check_against_oracle((run_settings){0, 4 << 20, 256 << 10, 2, 0, 0});
  check_against_oracle((run_settings){0, 16384, 4096, 2, 0, 0});
}

static void test_existing_output_refused_then_overwritten(void **state) {
  (void)state;
  char dir[256], out[300], input[512];
  test_temp_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(input, sizeof input, "%s/in/crlf.txt", corpus_dir);
  run_settings s = {1, 4 << 20, 256 << 10, 2, 0, 0};
  assert_all(run_wordcount(input, out, s, 0, NULL) == MPIMR_OK);
  mpimr_job *job = NULL;
  int rc = run_wordcount(input, out, s, 0, &job);
  assert_all(rc == MPIMR_ERR_EXISTS);
  assert_all(strstr(mpimr_job_error_message(job), out) != NULL);
  mpimr_job_free(job);
  assert_all(test_file_exists(out, "_SUCCESS"));
  if (test_rank() == 0) test_write_file(out, "part-00099", "stale\t1\n", 8); /* from a larger earlier run */
  MPI_Barrier(MPI_COMM_WORLD);
  assert_all(run_wordcount(input, out, s, 1, NULL) == MPIMR_OK);
  assert_all(!test_file_exists(out, "part-00099") && test_file_exists(out, "_SUCCESS"));
  test_remove_tree(dir);
}

static void test_missing_input_fails_everywhere(void **state) {
  (void)state;
  char dir[256], out[300], input[300];
  test_temp_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(input, sizeof input, "%s/no-such-file.txt", dir);
  mpimr_job *job = NULL;
  int rc = run_wordcount(input, out, (run_settings){1, 4 << 20, 256 << 10, 2, 0, 0}, 0, &job);
  assert_all(rc == MPIMR_ERR_IO);
  assert_all(strstr(mpimr_job_error_message(job), "no-such-file.txt") != NULL);
  assert_all(mpimr_job_run(job) == MPIMR_ERR_STATE);
  mpimr_job_free(job);
  assert_all(!test_file_exists(out, "_SUCCESS"));
  test_remove_tree(dir);
}

static void test_invalid_config_rejected(void **state) {
  (void)state;
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.map_record = map_words; /* but no inputs */
  cfg.output_format = MPIMR_OUTPUT_NONE;
  mpimr_job *job = NULL;
  assert_all(mpimr_job_create(&job, MPI_COMM_WORLD, &cfg) == MPIMR_ERR_INVAL);
  assert_all(strstr(mpimr_job_error_message(job), "input") != NULL);
  mpimr_job_free(job);
}

/* A counting word count of the corpus's crlf.txt without output (`input` holds its path). */
static mpimr_job_config counting_config(char input[512], const char **inputs) {
  snprintf(input, 512, "%s/in/crlf.txt", corpus_dir);
  inputs[0] = input;
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.map_record = map_words;
  cfg.inputs = inputs;
  cfg.input_count = 1;
  cfg.combine = mpimr_combine_sum_u64;
  cfg.output_format = MPIMR_OUTPUT_NONE;
  return cfg;
}

/* A program built against an older mpimr passes a smaller configuration (its struct_size): the job
 * takes the fields it knows and the defaults for the rest, and reads nothing past the size given
 * (the copy below is exactly that long, so AddressSanitizer would see a read beyond it). A size of 0
 * (not initialised) or above the library's is refused, naming the remedy. */
static void test_config_from_older_program(void **state) {
  (void)state;
  char input[512];
  const char *inputs[1];
  mpimr_job_config cfg = counting_config(input, inputs);
  cfg.dynamic_map = 0; /* the two runs' per-rank figures are compared */
  assert_all(cfg.struct_size == sizeof cfg);
  size_t older = offsetof(mpimr_job_config, stall_warning_seconds); /* before the stall settings */
  cfg.struct_size = older;
  void *copy = malloc(older);
  assert_non_null(copy);
  memcpy(copy, &cfg, older);
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, (const mpimr_job_config *)copy);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  uint64_t records = rc == MPIMR_OK ? mpimr_job_get_stats(job)->input_records : 0, all_records = 0;
  MPI_Allreduce(&records, &all_records, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD); /* one rank may read none */
  assert_all(rc == MPIMR_OK && all_records > 0);
  mpimr_job_free(job);
  free(copy);
  size_t unknown[] = {0, sizeof cfg + 8};
  for (int i = 0; i < 2; i++) {
    cfg.struct_size = unknown[i];
    job = NULL;
    assert_all(mpimr_job_create(&job, MPI_COMM_WORLD, &cfg) == MPIMR_ERR_INVAL);
    assert_all(strstr(mpimr_job_error_message(job), "mpimr_job_config_init") != NULL);
    mpimr_job_free(job);
  }
}

/* A job given an earlier job's pin report (pinned_by) takes it as its own instead of pinning
 * again, and counts the same; a report no job filled is refused, naming the field. */
static void test_pinning_reused(void **state) {
  (void)state;
  char input[512];
  const char *inputs[1];
  mpimr_job_config cfg = counting_config(input, inputs);
  mpimr_job *first = NULL, *second = NULL;
  assert_all(mpimr_job_create(&first, MPI_COMM_WORLD, &cfg) == MPIMR_OK && mpimr_job_run(first) == MPIMR_OK);
  mpimr_pin_report pinning = *mpimr_job_get_pin_report(first);
  assert_all(pinning.local_size >= 1);
  cfg.pinned_by = &pinning;
  assert_all(mpimr_job_create(&second, MPI_COMM_WORLD, &cfg) == MPIMR_OK && mpimr_job_run(second) == MPIMR_OK);
  assert_all(memcmp(mpimr_job_get_pin_report(second), &pinning, sizeof pinning) == 0);
  assert_all(mpimr_job_get_stats(second)->input_records == mpimr_job_get_stats(first)->input_records);
  assert_all(mpimr_job_get_stats(second)->pairs_emitted == mpimr_job_get_stats(first)->pairs_emitted);
  mpimr_job_free(first);
  mpimr_job_free(second);
  mpimr_pin_report unfilled;
  memset(&unfilled, 0, sizeof unfilled);
  cfg.pinned_by = &unfilled;
  mpimr_job *refused = NULL;
  assert_all(mpimr_job_create(&refused, MPI_COMM_WORLD, &cfg) == MPIMR_ERR_INVAL);
  assert_all(strstr(mpimr_job_error_message(refused), "pinned_by") != NULL);
  mpimr_job_free(refused);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_combined_default_sizes),
      cmocka_unit_test(test_combined_tiny_buffers),
      cmocka_unit_test(test_reducer_without_combiner),
      cmocka_unit_test(test_block_map),
      cmocka_unit_test(test_generic_combiner),
      cmocka_unit_test(test_existing_output_refused_then_overwritten),
      cmocka_unit_test(test_missing_input_fails_everywhere),
      cmocka_unit_test(test_invalid_config_rejected),
      cmocka_unit_test(test_config_from_older_program),
      cmocka_unit_test(test_pinning_reused),
  };
  int failed = cmocka_run_group_tests(tests, setup_corpus, teardown_corpus);
  MPI_Finalize();
  return failed;
}
