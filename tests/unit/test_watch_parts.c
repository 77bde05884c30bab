/*
 * tests/unit/test_watch_parts.c — the pieces behind watching a job, one process:
 * the counter set (job/counters.h) against a plain array of names and sums,
 * the log of skipped records (job/bad_records.h) against lines written here,
 * and the progress display's text (job/progress.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "../common/test_rng.h"
#include "job/bad_records.h"
#include "job/counters.h"
#include "job/progress.h"
#include "mpimr/error.h"

static test_rng rng = {0x5ca1ab1e0dd5ull};

enum { NAMES = 300 }; /* several blocks of COUNTER_BLOCK, and table growth */

/* Counters made one at a time keep their handles while the set grows; lookups find the same
 * counters; the sums equal an array kept beside them. */
static void test_counters_against_array(void **state) {
  (void)state;
  counter_set set = {0};
  mpimr_counter *handles[NAMES];
  uint64_t expected[NAMES] = {0};
  char name[32];
  for (int i = 0; i < NAMES; i++) {
    snprintf(name, sizeof name, "counter-%03d", i);
    handles[i] = counter_set_find(&set, name);
    assert_non_null(handles[i]);
  }
  assert_int_equal(set.count, NAMES);
  for (int step = 0; step < 20000; step++) {
    int i = (int)(test_rng_next(&rng) % NAMES);
    uint64_t n = test_rng_next(&rng) % 1000;
    if (step % 2) {
      mpimr_counter_increment(handles[i], n);
    } else {
      /* The same buffer holds another name each time: the cache must compare the text. */
      snprintf(name, sizeof name, "counter-%03d", i);
      mpimr_counter *found = counter_set_find(&set, name);
      assert_ptr_equal(found, handles[i]);
      found->value += n;
    }
    expected[i] += n;
  }
  for (int i = 0; i < NAMES; i++) {
    snprintf(name, sizeof name, "counter-%03d", i);
    const mpimr_counter *looked = counter_set_lookup(&set, name);
    assert_ptr_equal(looked, handles[i]);
    assert_int_equal(looked->value, expected[i]);
  }
  assert_null(counter_set_lookup(&set, "counter-999"));
  counter_set_zero(&set);
  assert_int_equal(handles[7]->value, 0);
  counter_set_destroy(&set);
}

/* What a counter may be called. */
static void test_counter_names(void **state) {
  (void)state;
  char longest[COUNTER_NAME_MAX + 2];
  memset(longest, 'n', sizeof longest);
  longest[COUNTER_NAME_MAX] = '\0';
  assert_true(counter_name_valid(longest));
  longest[COUNTER_NAME_MAX] = 'n';
  longest[COUNTER_NAME_MAX + 1] = '\0';
  assert_false(counter_name_valid(longest));
  assert_false(counter_name_valid(""));
  assert_false(counter_name_valid(NULL));
  assert_false(counter_name_valid("a\"b"));
  assert_false(counter_name_valid("a\\b"));
  assert_false(counter_name_valid("tab\there"));
  assert_false(counter_name_valid("caf\xc3\xa9"));
  assert_true(counter_name_valid("lines read (all files): 1/2"));
  counter_set set = {0};
  assert_null(counter_set_find(&set, "a\"b"));
  assert_int_equal(set.count, 0);
  counter_set_destroy(&set);
}

/* Three ranks' sets packed and merged in any order give every rank the same sums, in name order. */
static void test_counters_packed_and_merged(void **state) {
  (void)state;
  counter_set ranks[3] = {{0}, {0}, {0}};
  const char *names[] = {"words", "lines", "zeta", "alpha", "only-on-rank-2"};
  uint64_t expected[5] = {0};
  for (int r = 0; r < 3; r++)
    for (int k = 0; k < 5; k++) {
      if (k == 4 && r != 2) continue;
      uint64_t n = (uint64_t)(r + 1) * 1000003u * (uint64_t)(k + 1) + ((uint64_t)1 << 40);
      counter_set_find(&ranks[r], names[k])->value = n;
      expected[k] += n;
    }
  unsigned char *packed[3];
  size_t sizes[3];
  for (int r = 0; r < 3; r++) assert_non_null(packed[r] = counter_set_pack(&ranks[r], &sizes[r]));
  counter_set totals = {0};
  const int order[3] = {2, 0, 1};
  for (int i = 0; i < 3; i++)
    assert_int_equal(counter_set_add_packed(&totals, packed[order[i]], sizes[order[i]]), MPIMR_OK);
  assert_int_equal(totals.count, 5);
  for (int k = 0; k < 5; k++) assert_int_equal(counter_set_lookup(&totals, names[k])->value, expected[k]);
  size_t sorted[5];
  counter_set_sorted(&totals, sorted);
  for (int i = 1; i < 5; i++)
    assert_true(strcmp(counter_set_name(&totals, sorted[i - 1]), counter_set_name(&totals, sorted[i])) < 0);
  assert_string_equal(counter_set_name(&totals, sorted[0]), "alpha");
  /* A list cut short, or with a name that is not one, is refused. */
  assert_int_equal(counter_set_add_packed(&totals, packed[0], sizes[0] - 3), MPIMR_ERR_CORRUPT);
  unsigned char bad[] = {'a', '"', 0, 1, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(counter_set_add_packed(&totals, bad, sizeof bad), MPIMR_ERR_CORRUPT);
  for (int r = 0; r < 3; r++) {
    free(packed[r]);
    counter_set_destroy(&ranks[r]);
  }
  counter_set_destroy(&totals);
}

/* The log keeps one line per skipped record (at most limit + 1), with the message's tabs and line
 * breaks made spaces, and the last record's description. */
static void test_bad_record_lines(void **state) {
  (void)state;
  bad_record_log log = {0};
  log.limit = 2;
  snprintf(log.message, sizeof log.message, "bad\tfield\nhere");
  assert_int_equal(bad_record_log_add(&log, "in put.txt", 17, -6, " (input 'in put.txt' at byte 17)"), 0);
  assert_string_equal(log.message, "");
  assert_int_equal(bad_record_log_add(&log, "index", 5, 3, " (index 5)"), 0);
  assert_false(bad_record_log_over(&log));
  snprintf(log.message, sizeof log.message, "third");
  assert_int_equal(bad_record_log_add(&log, "b.txt", 99, -6, " (input 'b.txt' at byte 99)"), 0);
  assert_true(bad_record_log_over(&log));
  snprintf(log.message, sizeof log.message, "fourth");
  assert_int_equal(bad_record_log_add(&log, "b.txt", 120, -6, " (input 'b.txt' at byte 120)"), 0);
  assert_int_equal(log.count, 4);
  assert_int_equal(log.line_count, 3); /* limit + 1: the job fails, nothing more is listed */
  const char expected[] = "in put.txt\t17\tbad field here\n"
                          "index\t5\tthe map function returned 3\n"
                          "b.txt\t99\tthird\n";
  assert_int_equal(log.length, strlen(expected));
  assert_memory_equal(log.lines, expected, log.length);
  assert_string_equal(log.last, "fourth (input 'b.txt' at byte 120)");
  bad_record_log_destroy(&log);
}

/* The display's text: share, units, rate, the map's time left, and the final line's form. */
static void test_progress_text(void **state) {
  (void)state;
  char text[256];
  progress_figures f = {"map", 250000000, 1000000000, 1, 12, 0, 0};
  progress_format(&f, 2.0, 2.0, text, sizeof text);
  assert_string_equal(text, "map 25.0% of 1.00 GB, 125 MB/s, 12 rounds, spilled 0 B, map left ~6 s, 2.0 s");
  f = (progress_figures){"reduce", 1000000000, 1000000000, 1, 40, 1500000, 3};
  progress_format(&f, 10.0, 8.0, text, sizeof text);
  assert_string_equal(text, "reduce 100.0% of 1.00 GB, 125 MB/s, 40 rounds, spilled 1.50 MB, 3 bad records, 10.0 s");
  f = (progress_figures){"", 7000, 0, 0, 1, 0, 0}; /* records of a dataset: no total known */
  progress_format(&f, 0.5, 0.5, text, sizeof text);
  assert_string_equal(text, "7000 records mapped, 14000 records/s, 1 rounds, spilled 0 B, 0.5 s");
  f = (progress_figures){"map", 1000, 3600000, 1, 0, 0, 0};
  progress_format(&f, 4.0, 4.0, text, sizeof text);
  assert_non_null(strstr(text, "map left ~3 h 59 min"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counters_against_array), cmocka_unit_test(test_counter_names),
      cmocka_unit_test(test_counters_packed_and_merged), cmocka_unit_test(test_bad_record_lines),
      cmocka_unit_test(test_progress_text)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
