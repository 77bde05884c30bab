/*
 * tests/mpi/test_trace.c — the public timeline (mpimr/trace.h) at any rank
 * count: every rank's spans reach the file on its own track, with odd names
 * (quotes, backslashes, control characters, UTF-8 and bytes that are not
 * UTF-8) escaped into valid JSON, many distinct names, names reused from one
 * buffer; a second write replaces the file with the spans recorded since; a
 * disabled or NULL trace writes nothing; a path that cannot be written gives
 * the same error and message on every rank and leaves no file behind. The
 * library's own recorder (util/trace.h): a round's data span carries the
 * bytes received as "bytes", and memory samples become one counter per rank.
 */
#include <dirent.h>
#include <errno.h>

#include "../common/json_check.h"
#include "mpi_test_util.h"
#include "mpimr/mpimr.h"
#include "util/trace.h"

/* A name with every kind of character the writer must take care of, and its JSON form. */
static const char odd_name[] = "say \"hi\" C:\\dir\nnext\ttab \x01\x1f caf\xc3\xa9 \xe2\x82\xac \xff\xfe end";
static const char odd_json[] =
    "\"name\":\"say \\\"hi\\\" C:\\\\dir\\nnext\\ttab \\u0001\\u001f caf\xc3\xa9 \xe2\x82\xac \\ufffd\\ufffd "
    "end\"";

enum { MANY_NAMES = 3000 };

/* Reads a file written by rank 0 as a NUL-terminated string (NULL if it cannot). */
static char *read_text(const char *path, size_t *length) {
  unsigned char *data = test_read_file(path, length);
  if (data != NULL) data[*length] = '\0'; /* the reader always leaves room for one more byte */
  return (char *)data;
}

static size_t count_of(const char *text, const char *needle) {
  size_t count = 0;
  for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle)) count++;
  return count;
}

/* Rank 0: the file is valid JSON, and each rank's track has its spans. */
static int check_file(const char *path, int nranks, size_t spans_per_rank, int second_write) {
  size_t length;
  char *text = read_text(path, &length);
  if (text == NULL) return 0;
  int ok = json_is_valid(text, length);
  ok = ok && strstr(text, "\"args\":{\"name\":\"test \\\"trace\\\"\"}") != NULL;
  ok = ok && strstr(text, odd_json) != NULL;
  ok = ok && strstr(text, "\"name\":\"\",") != NULL;
  ok = ok && strstr(text, "\"name\":\"many 0\",") && strstr(text, "\"name\":\"many 2999\",");
  ok = ok && strstr(text, "\"dur\":0.000") != NULL;
  ok = ok && (strstr(text, "\"name\":\"after the first write\",") != NULL) == second_write;
  for (int r = 0; r < nranks && ok; r++) {
    char needle[128];
    snprintf(needle, sizeof needle, "\"ph\":\"X\",\"pid\":0,\"tid\":%d,", r);
    size_t spans = count_of(text, needle);
    snprintf(needle, sizeof needle, "\"args\":{\"name\":\"rank %d\"}", r);
    size_t tracks = count_of(text, needle);
    snprintf(needle, sizeof needle, "\"name\":\"only on rank %d\",", r);
    size_t own = count_of(text, needle);
    if (spans != spans_per_rank || tracks != 1 || own != 2) {
      fprintf(stderr, "rank %d's track: %zu spans (expected %zu), %zu names, %zu own spans\n", r, spans,
              spans_per_rank, tracks, own);
      ok = 0;
    }
  }
  free(text);
  return ok;
}

/* Records the spans check_file() expects; returns how many. */
static size_t record_spans(mpimr_trace *timeline) {
  int rank = test_rank();
  double t0 = mpimr_trace_now();
  size_t spans = 0;
  mpimr_trace_span(timeline, "plain", t0, t0 + 0.001), spans++;
  mpimr_trace_span(timeline, odd_name, t0 + 0.001, t0 + 0.002), spans++;
  mpimr_trace_span(timeline, "", t0 + 0.002, t0 + 0.003), spans++;
  mpimr_trace_span(timeline, NULL, t0 + 0.003, t0 + 0.004), spans++; /* counts as "" */
  mpimr_trace_span(timeline, "instant", t0 + 0.004, t0 + 0.004), spans++;
  /* One buffer, rewritten: the trace must have copied each name. */
  char name[64];
  for (int i = 0; i < MANY_NAMES; i++) {
    snprintf(name, sizeof name, "many %d", i);
    mpimr_trace_span(timeline, name, t0 + 0.005, t0 + 0.006), spans++;
  }
  for (int repeat = 0; repeat < 2; repeat++) {
    snprintf(name, sizeof name, "only on rank %d", rank);
    mpimr_trace_span(timeline, name, t0 + 0.006, t0 + 0.007), spans++;
    snprintf(name, sizeof name, "scratch");
  }
  return spans;
}

static void test_spans_round_trip(void **state) {
  (void)state;
  char dir[256], path[512];
  test_temp_dir(dir, sizeof dir);
  assert_all(dir[0] != '\0');
  snprintf(path, sizeof path, "%s/trace.json", dir);
  mpimr_trace *timeline = NULL;
  assert_all(mpimr_trace_create(&timeline, "test \"trace\"", 1) == MPIMR_OK && mpimr_trace_enabled(timeline));
  size_t spans = record_spans(timeline);
  char message[256] = "unchanged";
  assert_all(mpimr_trace_write(timeline, MPI_COMM_WORLD, path, message, sizeof message) == MPIMR_OK);
  assert_all(message[0] == '\0');
  int ok = test_rank() != 0 || check_file(path, test_size(), spans, 0);
  assert_all(ok);

  /* Written again: the file is replaced and has what was recorded in between. */
  double now = mpimr_trace_now();
  mpimr_trace_span(timeline, "after the first write", now, now + 0.001);
  assert_all(mpimr_trace_write(timeline, MPI_COMM_WORLD, path, NULL, 0) == MPIMR_OK);
  ok = test_rank() != 0 || check_file(path, test_size(), spans + 1, 1);
  assert_all(ok);
  mpimr_trace_free(timeline);
  test_remove_tree(dir);
}

/* Each rank alone on MPI_COMM_SELF: its own file, with one track. */
static void test_write_on_another_communicator(void **state) {
  (void)state;
  char dir[256], path[512];
  test_temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/rank%d.json", dir, test_rank());
  mpimr_trace *timeline = NULL;
  assert_all(mpimr_trace_create(&timeline, NULL, 1) == MPIMR_OK);
  double now = mpimr_trace_now();
  mpimr_trace_span(timeline, "alone", now, now + 0.5);
  assert_all(mpimr_trace_write(timeline, MPI_COMM_SELF, path, NULL, 0) == MPIMR_OK);
  size_t length;
  char *text = read_text(path, &length);
  int ok = text != NULL && json_is_valid(text, length) && count_of(text, "\"thread_name\"") == 1 &&
           strstr(text, "\"name\":\"alone\",\"cat\":\"app\",\"ph\":\"X\",\"pid\":0,\"tid\":0,") != NULL &&
           strstr(text, "\"dur\":500000.000") != NULL && strstr(text, "{\"name\":\"mpimr\"}") != NULL;
  free(text);
  assert_all(ok);
  mpimr_trace_free(timeline);
  test_remove_tree(dir);
}

static int dir_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  int count = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    count += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return count;
}

static void test_disabled_writes_nothing(void **state) {
  (void)state;
  char dir[256], path[512];
  test_temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/trace.json", dir);
  mpimr_trace *timeline = NULL;
  assert_all(mpimr_trace_create(&timeline, "off", 0) == MPIMR_OK && timeline != NULL &&
             !mpimr_trace_enabled(timeline));
  double now = mpimr_trace_now();
  mpimr_trace_span(timeline, "ignored", now, now);
  char message[64] = "unchanged";
  assert_all(mpimr_trace_write(timeline, MPI_COMM_WORLD, path, message, sizeof message) == MPIMR_OK);
  assert_all(message[0] == '\0');
  mpimr_trace_free(timeline);
  /* A NULL trace is a disabled one. */
  mpimr_trace_span(NULL, "ignored", now, now);
  assert_all(!mpimr_trace_enabled(NULL));
  assert_all(mpimr_trace_write(NULL, MPI_COMM_WORLD, path, NULL, 0) == MPIMR_OK);
  mpimr_trace_free(NULL);
  MPI_Barrier(MPI_COMM_WORLD);
  assert_all(dir_entries(dir) == 0);
  assert_all(mpimr_trace_create(NULL, NULL, 1) == MPIMR_ERR_INVAL);
  test_remove_tree(dir);
}

/* Writes to `path` and checks that every rank fails the same way, with a message naming it. */
static void expect_write_error(const char *path, const char *cause) {
  mpimr_trace *timeline = NULL;
  assert_all(mpimr_trace_create(&timeline, "failing", 1) == MPIMR_OK);
  double now = mpimr_trace_now();
  mpimr_trace_span(timeline, "lost", now, now);
  char message[512] = "";
  int rc = mpimr_trace_write(timeline, MPI_COMM_WORLD, path, message, sizeof message);
  if (rc != MPIMR_ERR_IO || !strstr(message, path) || !strstr(message, cause))
    fprintf(stderr, "rank %d: status %d, message '%s'\n", test_rank(), rc, message);
  assert_all(rc == MPIMR_ERR_IO);
  assert_all(strstr(message, path) != NULL && strstr(message, cause) != NULL);
  mpimr_trace_free(timeline);
}

static void test_unwritable_path_fails_everywhere(void **state) {
  (void)state;
  char dir[256], path[512];
  test_temp_dir(dir, sizeof dir);

  /* The directory does not exist: the temporary file cannot be created. */
  snprintf(path, sizeof path, "%s/missing/trace.json", dir);
  expect_write_error(path, strerror(ENOENT));
  assert_all(dir_entries(dir) == 0);

  /* The path is a directory: the file is written, then cannot be renamed onto it, and is removed. */
  snprintf(path, sizeof path, "%s/a-directory", dir);
  int made = test_rank() != 0 || mkdir(path, 0755) == 0;
  assert_all(made);
  expect_write_error(path, "renaming");
  struct stat st;
  assert_all(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
  assert_all(dir_entries(dir) == 1);
  test_remove_tree(dir);
}

/* Rank 0: the values and samples every rank recorded in test_values_and_memory_samples(). */
static int check_values_file(const char *path, int nranks) {
  size_t length;
  char *text = read_text(path, &length);
  if (text == NULL) return 0;
  int ok = json_is_valid(text, length);
  ok = ok && count_of(text, "\"ph\":\"C\"") == 2 * (size_t)nranks;
  ok = ok && count_of(text, "\"name\":\"round header\",\"cat\":\"shuffle\"") == (size_t)nranks;
  ok = ok && count_of(text, "\"args\":{\"round\":3}}") == (size_t)nranks; /* a header has no bytes */
  ok = ok && count_of(text, "\"args\":{\"round\":4,\"bytes\":0}}") == (size_t)nranks; /* no value given */
  for (int r = 0; r < nranks && ok; r++) {
    char data[128], first[256], second[256];
    snprintf(data, sizeof data, "\"args\":{\"round\":3,\"bytes\":%llu}}", 5000000000ULL + (unsigned)r);
    snprintf(first, sizeof first,
             "{\"name\":\"memory\",\"cat\":\"memory\",\"ph\":\"C\",\"pid\":0,\"tid\":%d,\"id\":%d,"
             "\"ts\":2000000.000,\"args\":{\"bytes\":%llu}}",
             r, r, 1000ULL + (unsigned)r);
    snprintf(second, sizeof second, "\"tid\":%d,\"id\":%d,\"ts\":2500000.000,\"args\":{\"bytes\":%llu}}", r,
             r, (1ULL << 40) + (unsigned)r);
    size_t data_spans = count_of(text, data), first_samples = count_of(text, first),
           second_samples = count_of(text, second);
    if (data_spans != 1 || first_samples != 1 || second_samples != 1) {
      fprintf(stderr, "rank %d: %zu data spans with its bytes, memory samples %zu and %zu\n", r, data_spans,
              first_samples, second_samples);
      ok = 0;
    }
  }
  free(text);
  return ok;
}

static void test_values_and_memory_samples(void **state) {
  (void)state;
  char dir[256], path[512];
  test_temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/values.json", dir);
  uint64_t rank = (uint64_t)test_rank();

  /* Off: nothing is recorded, whatever the kind. */
  trace off;
  trace_init(&off, 0, 0.0);
  trace_span_value(&off, TRACE_ROUND_DATA, 1.0, 2.0, 0, 42);
  trace_memory(&off, 1.0, 42);
  assert_all(off.count == 0);
  trace_destroy(&off);

  trace on;
  trace_init(&on, 1, 1.0); /* times are written from the origin: 3.0 is at 2 s */
  trace_span(&on, TRACE_ROUND_HEADER, 1.5, 1.75, 3);
  trace_span_value(&on, TRACE_ROUND_DATA, 1.75, 2.0, 3, UINT64_C(5000000000) + rank);
  trace_span(&on, TRACE_ROUND_DATA, 2.0, 2.25, 4);
  trace_memory(&on, 3.0, 1000 + rank);
  trace_memory(&on, 3.5, (UINT64_C(1) << 40) + rank);
  assert_all(on.count == 5 && !on.dropped);
  assert_all(on.events[3].kind == TRACE_MEMORY && on.events[3].start == 2.0 && on.events[3].end == 2.0);
  char message[256] = "";
  assert_all(trace_write(&on, MPI_COMM_WORLD, path, message, sizeof message) == MPIMR_OK);
  int ok = test_rank() != 0 || check_values_file(path, test_size());
  assert_all(ok);
  trace_destroy(&on);
  test_remove_tree(dir);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spans_round_trip),
      cmocka_unit_test(test_write_on_another_communicator),
      cmocka_unit_test(test_disabled_writes_nothing),
      cmocka_unit_test(test_unwritable_path_fails_everywhere),
      cmocka_unit_test(test_values_and_memory_samples),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
