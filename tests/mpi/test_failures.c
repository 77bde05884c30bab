/*
 * tests/mpi/test_failures.c — a failure on one rank stops the job on every
 * rank with a message that names the rank, the file and the cause, and leaves
 * no result behind:
 *  - a map function that fails through mpimr_fail() at a known record (the
 *    message gives the file and the record's byte offset) or returns non-zero
 *    for an integer-range index;
 *  - a reduce function that fails through mpimr_fail() or returns non-zero
 *    (the message shows the key, escaped);
 *  - an input file truncated while the job reads it, and one deleted before
 *    the rank that reads it opens it;
 *  - an input file replaced by a same-size file (renamed over it) before the
 *    rank that reads it opens it, and one rewritten in place with the same
 *    size while every rank reads it (caught by its identity: inode and
 *    modification time);
 *  - a pseudo file (size 0 but data, as in /proc) as input, refused before map;
 *  - a record longer than the largest record buffer (a quarter of the budget),
 *    read as records and as blocks.
 * In every case exactly the ranks that met the cause report it, the others
 * return MPIMR_ERR_REMOTE, the output directory the job made is removed (no
 * `_SUCCESS`, no part renamed before the failure was known, no temporary
 * file), and a rerun of a sound job into it succeeds.
 * The files are changed from inside map functions, between two barriers
 * that every rank reaches in its first map call (on a communicator of the
 * test's own), so the outcome does not depend on timing.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>

#include "mpi_test_util.h"
#include "mpimr/mpimr.h"

/* ---- what the map and reduce functions do ---- */

typedef enum sabotage {
  SABOTAGE_NONE,
  SABOTAGE_FAIL_AT_MARKER, /* mpimr_fail() at the record "poison" */
  SABOTAGE_TRUNCATE,       /* first call: rank 0 truncates `target` to `truncate_to`; all ranks meet */
  SABOTAGE_UNLINK,         /* first call: rank 0 deletes `target`; all ranks meet */
  SABOTAGE_RENAME,         /* first call: rank 0 renames `replacement` over `target`; all ranks meet */
  SABOTAGE_REWRITE,        /* first call: rank 0 rewrites `target` in place, same size, new mtime; all meet */
} sabotage;

typedef struct test_job {
  sabotage what;
  const char *target;
  const char *replacement;
  off_t truncate_to;
  MPI_Comm meeting; /* the test's own communicator for the barrier inside map */
  int met;
  uint64_t failing_index; /* integer-range input: map returns 5 here */
  int reduce_fails;       /* 1: mpimr_fail() for key "poison", 2: return 7 for it */
  uint64_t mapped;        /* records map_lines() was called for */
} test_job;

/* Rank 0: upper-cases the letters of a file in place (the same size, other bytes), and with
 * `move_mtime` sets its modification time 1000 s back, so it differs even where timestamps are coarse. */
static void shout_file(const char *path, int move_mtime) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  size_t size = (size_t)st.st_size;
  unsigned char *bytes = malloc(size ? size : 1);
  assert_non_null(bytes);
  assert_true(pread(fd, bytes, size, 0) == (ssize_t)size);
  for (size_t i = 0; i < size; i++) bytes[i] = (unsigned char)toupper(bytes[i]);
  assert_true(pwrite(fd, bytes, size, 0) == (ssize_t)size);
  if (move_mtime) {
    struct timespec times[2] = {{0, UTIME_OMIT}, {st.st_mtim.tv_sec - 1000, st.st_mtim.tv_nsec}};
    assert_int_equal(futimens(fd, times), 0);
  }
  assert_int_equal(close(fd), 0);
  free(bytes);
}

static void meet_once(test_job *t) {
  if (t->met) return;
  t->met = 1;
  int rank;
  MPI_Comm_rank(t->meeting, &rank);
  /* Every rank has read its first window before the file changes, and reads on only after. */
  MPI_Barrier(t->meeting);
  if (rank == 0 && t->what == SABOTAGE_TRUNCATE) assert_int_equal(truncate(t->target, t->truncate_to), 0);
  if (rank == 0 && t->what == SABOTAGE_UNLINK) assert_int_equal(unlink(t->target), 0);
  if (rank == 0 && t->what == SABOTAGE_RENAME) assert_int_equal(rename(t->replacement, t->target), 0);
  if (rank == 0 && t->what == SABOTAGE_REWRITE) shout_file(t->target, 1);
  MPI_Barrier(t->meeting);
}

static int map_lines(void *user, const void *record, size_t length, mpimr_emitter *out) {
  test_job *t = user;
  t->mapped++;
  if (t->what == SABOTAGE_TRUNCATE || t->what == SABOTAGE_UNLINK || t->what == SABOTAGE_RENAME ||
      t->what == SABOTAGE_REWRITE)
    meet_once(t);
  if (t->what == SABOTAGE_FAIL_AT_MARKER && length == 6 && memcmp(record, "poison", 6) == 0)
    return mpimr_fail(out, "record %zu bytes long is %s", length, "poisoned");
  unsigned char one[8];
  mpimr_put_u64(one, 1);
  return mpimr_emit(out, record, length < 16 ? length : 16, one, 8) == MPIMR_OK ? 0 : 1;
}

static int map_blocks(void *user, const void *block, size_t length, mpimr_emitter *out) {
  (void)user;
  (void)block;
  unsigned char count[8];
  mpimr_put_u64(count, length);
  return mpimr_emit(out, "bytes", 5, count, 8) == MPIMR_OK ? 0 : 1;
}

static int map_index(void *user, uint64_t index, mpimr_emitter *out) {
  test_job *t = user;
  if (index == t->failing_index) return 5;
  unsigned char key[8], one[8];
  mpimr_put_u64(key, index % 97);
  mpimr_put_u64(one, 1);
  return mpimr_emit(out, key, 8, one, 8) == MPIMR_OK ? 0 : 1;
}

static int reduce_sum(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  test_job *t = user;
  if (t->reduce_fails && key_len >= 6 && memcmp(key, "poison", 6) == 0) {
    if (t->reduce_fails == 2) return 7;
    return mpimr_fail(out, "cannot reduce %s", "this key");
  }
  uint64_t total = 0;
  const void *value;
  size_t length;
  while (mpimr_values_next(values, &value, &length)) total += mpimr_get_u64(value);
  unsigned char sum[8];
  mpimr_put_u64(sum, total);
  return mpimr_emit(out, key, key_len, sum, 8);
}

/* ---- running and checking ---- */

typedef struct outcome {
  int rc;
  char message[1024];
} outcome;

static outcome run_job(mpimr_job_config *cfg) {
  outcome o = {0, ""};
  mpimr_job *job = NULL;
  o.rc = mpimr_job_create(&job, MPI_COMM_WORLD, cfg);
  if (o.rc == MPIMR_OK) o.rc = mpimr_job_run(job);
  snprintf(o.message, sizeof o.message, "%s", mpimr_job_error_message(job));
  mpimr_job_free(job);
  return o;
}

static void config_for(mpimr_job_config *cfg, test_job *t, const char *const *inputs, int input_count,
                       const char *out) {
  mpimr_job_config_init(cfg);
  cfg->user = t;
  cfg->map_record = map_lines;
  cfg->inputs = inputs;
  cfg->input_count = input_count;
  cfg->reduce = reduce_sum;
  cfg->output_dir = out;
  cfg->overwrite = 0; /* a failed job leaves nothing in the way of a rerun */
  cfg->read_bytes = 4096; /* many reads per rank, so the sabotage lands between them */
  cfg->round_bytes = 64 << 10;
  cfg->pin = MPIMR_PIN_NONE;
}

/* The output directory the failed job made is gone: no _SUCCESS, no part, no temporary file. */
static int output_left_clean(const char *out) {
  DIR *d = opendir(out);
  if (d == NULL) return errno == ENOENT;
  fprintf(stderr, "rank %d: the failed job left its output directory %s\n", test_rank(), out);
  int clean = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      fprintf(stderr, "rank %d: left in %s: %s\n", test_rank(), out, e->d_name);
      clean = 0;
    }
  closedir(d);
  return clean;
}

/*
 * The job failed everywhere: ranks with `mine` set returned `status` with a
 * message holding each of `needles` (NULL-terminated) and "rank R:"; the
 * others MPIMR_ERR_REMOTE. `expected_failers` ranks (or -1: at least one)
 * met the cause. The output directory is clean.
 */
static void check_failed(const outcome *o, int status, const char *const *needles, int expected_failers,
                         const char *out) {
  int mine = o->rc == status;
  if (!mine && o->rc != MPIMR_ERR_REMOTE)
    fprintf(stderr, "rank %d: rc %d (%s): %s\n", test_rank(), o->rc, mpimr_strerror(o->rc), o->message);
  assert_all(mine || o->rc == MPIMR_ERR_REMOTE);
  int failers = 0;
  MPI_Allreduce(&mine, &failers, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  assert_all(expected_failers < 0 ? failers >= 1 : failers == expected_failers);
  char rank_prefix[32];
  snprintf(rank_prefix, sizeof rank_prefix, "rank %d: ", test_rank());
  int named = strncmp(o->message, rank_prefix, strlen(rank_prefix)) == 0;
  for (const char *const *n = needles; mine && *n; n++)
    if (strstr(o->message, *n) == NULL) named = 0;
  if (!named) fprintf(stderr, "rank %d: message '%s' lacks what it should say\n", test_rank(), o->message);
  assert_all(named);
  assert_all(output_left_clean(out));
}

/* A sound job into the same output directory succeeds: a failure leaves nothing in its way. */
static void check_rerun(const char *input, const char *out) {
  test_job t = {0};
  const char *inputs[1] = {input};
  mpimr_job_config cfg;
  config_for(&cfg, &t, inputs, 1, out);
  outcome o = run_job(&cfg);
  assert_all(o.rc == MPIMR_OK);
  assert_all(test_file_exists(out, "_SUCCESS"));
}

/* Rank 0 writes `lines` lines "line NNNNNNNN" (14 bytes each with '\n'), with "poison" as line
 * `poison_line` (or none if negative); every rank gets the byte offset of the poison line. */
static uint64_t write_lines(const char *dir, const char *name, size_t lines, long poison_line) {
  uint64_t poison_offset = 0;
  if (test_rank() == 0) {
    char *text = malloc(lines * 14 + 1);
    assert_non_null(text);
    size_t at = 0;
    for (size_t i = 0; i < lines; i++) {
      if ((long)i == poison_line) {
        poison_offset = at;
        at += (size_t)sprintf(text + at, "poison\n");
      } else {
        at += (size_t)sprintf(text + at, "line %08zu\n", i);
      }
    }
    assert_int_equal(test_write_file(dir, name, text, at), 0);
    free(text);
  }
  MPI_Bcast(&poison_offset, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  return poison_offset;
}

/* ---- the cases ---- */

static void test_map_fails_through_api(void **state) {
  (void)state;
  char dir[256], input[320], out[320], at[64];
  test_temp_dir(dir, sizeof dir);
  snprintf(input, sizeof input, "%s/in.txt", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  uint64_t offset = write_lines(dir, "in.txt", 20000, 12345);
  MPI_Barrier(MPI_COMM_WORLD);
  test_job t = {.what = SABOTAGE_FAIL_AT_MARKER};
  const char *inputs[1] = {input};
  mpimr_job_config cfg;
  config_for(&cfg, &t, inputs, 1, out);
  outcome o = run_job(&cfg);
  snprintf(at, sizeof at, "at byte %llu)", (unsigned long long)offset);
  const char *needles[] = {"map: record 6 bytes long is poisoned", input, at, NULL};
  check_failed(&o, MPIMR_ERR_USER, needles, 1, out);
  check_rerun(input, out);
  test_remove_tree(dir);
}

static void test_map_index_fails_by_return(void **state) {
  (void)state;
  char dir[256], out[320];
  test_temp_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/out", dir);
  test_job t = {.failing_index = 7777};
  mpimr_job_config cfg;
  config_for(&cfg, &t, NULL, 0, out);
  cfg.map_record = NULL;
  cfg.map_index = map_index;
  cfg.index_count = 20000;
  outcome o = run_job(&cfg);
  const char *needles[] = {"map: the map function returned 5 (index 7777)", NULL};
  check_failed(&o, MPIMR_ERR_USER, needles, 1, out);
  test_remove_tree(dir);
}

static void test_reduce_fails(void **state) {
  (void)state;
  char dir[256], input[320], out[320];
  test_temp_dir(dir, sizeof dir);
  snprintf(input, sizeof input, "%s/in.txt", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  write_lines(dir, "in.txt", 5000, 2500);
  MPI_Barrier(MPI_COMM_WORLD);
  const char *inputs[1] = {input};
  for (int how = 1; how <= 2; how++) {
    test_job t = {.reduce_fails = how};
    mpimr_job_config cfg;
    config_for(&cfg, &t, inputs, 1, out);
    outcome o = run_job(&cfg);
    const char *by_api[] = {"reduce: cannot reduce this key (key 'poison')", NULL};
    const char *by_return[] = {"reduce: the reduce function returned 7 (key 'poison')", NULL};
    check_failed(&o, MPIMR_ERR_USER, how == 1 ? by_api : by_return, 1, out);
  }
  check_rerun(input, out);
  test_remove_tree(dir);
}

static void test_input_truncated_during_job(void **state) {
  (void)state;
  char dir[256], input[320], out[320], had[64];
  test_temp_dir(dir, sizeof dir);
  snprintf(input, sizeof input, "%s/in.txt", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  size_t lines = 12000 * (size_t)test_size(); /* 168 KB a rank: many 4 KiB reads each */
  write_lines(dir, "in.txt", lines, -1);
  MPI_Barrier(MPI_COMM_WORLD);
  test_job t = {.what = SABOTAGE_TRUNCATE, .target = input, .truncate_to = 14 * 1000};
  MPI_Comm_dup(MPI_COMM_WORLD, &t.meeting);
  const char *inputs[1] = {input};
  mpimr_job_config cfg;
  config_for(&cfg, &t, inputs, 1, out);
  cfg.dynamic_map = 0; /* the test relies on which rank reads which bytes (a static split) */
  outcome o = run_job(&cfg);
  MPI_Comm_free(&t.meeting);
  /* Every rank still had bytes to read past the new end. */
  snprintf(had, sizeof had, "but had %zu bytes when the job started", lines * 14);
  const char *needles[] = {"input '", input, "the file ended at byte", had, NULL};
  check_failed(&o, MPIMR_ERR_IO, needles, test_size(), out);
  test_remove_tree(dir);
}

static void test_input_deleted_during_job(void **state) {
  (void)state;
  char dir[256], first[320], second[320], out[320];
  test_temp_dir(dir, sizeof dir);
  snprintf(first, sizeof first, "%s/a.txt", dir);
  snprintf(second, sizeof second, "%s/b.txt", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  /* b.txt is small and last, so only the last rank reads it, after its share of a.txt. */
  write_lines(dir, "a.txt", 5000 * (size_t)test_size(), -1);
  write_lines(dir, "b.txt", 10, -1);
  MPI_Barrier(MPI_COMM_WORLD);
  test_job t = {.what = SABOTAGE_UNLINK, .target = second};
  MPI_Comm_dup(MPI_COMM_WORLD, &t.meeting);
  const char *inputs[2] = {first, second};
  mpimr_job_config cfg;
  config_for(&cfg, &t, inputs, 2, out);
  cfg.dynamic_map = 0; /* the test relies on which rank reads which bytes (a static split) */
  outcome o = run_job(&cfg);
  MPI_Comm_free(&t.meeting);
  const char *needles[] = {second, "No such file or directory", NULL};
  check_failed(&o, MPIMR_ERR_IO, needles, 1, out);
  assert_all(o.rc == (test_rank() == test_size() - 1 ? MPIMR_ERR_IO : MPIMR_ERR_REMOTE));
  test_remove_tree(dir);
}

/* The last file is replaced by another of the same size (mv) before the last rank, its only reader,
 * opens it: that rank reads the new file's identity, not the listed one, and fails. */
static void test_input_replaced_during_job(void **state) {
  (void)state;
  char dir[256], first[320], second[320], replacement[320], out[320];
  test_temp_dir(dir, sizeof dir);
  snprintf(first, sizeof first, "%s/a.txt", dir);
  snprintf(second, sizeof second, "%s/b.txt", dir);
  snprintf(replacement, sizeof replacement, "%s/b.new", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  write_lines(dir, "a.txt", 5000 * (size_t)test_size(), -1);
  write_lines(dir, "b.txt", 10, -1);
  write_lines(dir, "b.new", 10, -1);
  if (test_rank() == 0) shout_file(replacement, 0);
  MPI_Barrier(MPI_COMM_WORLD);
  test_job t = {.what = SABOTAGE_RENAME, .target = second, .replacement = replacement};
  MPI_Comm_dup(MPI_COMM_WORLD, &t.meeting);
  const char *inputs[2] = {first, second};
  mpimr_job_config cfg;
  config_for(&cfg, &t, inputs, 2, out);
  cfg.dynamic_map = 0; /* the test relies on which rank reads which bytes (a static split) */
  outcome o = run_job(&cfg);
  MPI_Comm_free(&t.meeting);
  const char *needles[] = {"input '", second, "the file was replaced or modified while the job ran", "inode",
                           NULL};
  check_failed(&o, MPIMR_ERR_IO, needles, 1, out);
  assert_all(o.rc == (test_rank() == test_size() - 1 ? MPIMR_ERR_IO : MPIMR_ERR_REMOTE));
  check_rerun(second, out);
  test_remove_tree(dir);
}

/* The file is rewritten in place, with the same size, while every rank reads it: a rank that reaches
 * the end of its piece finds another modification time and fails (the others may stop first). */
static void test_input_rewritten_during_job(void **state) {
  (void)state;
  char dir[256], input[320], out[320];
  test_temp_dir(dir, sizeof dir);
  snprintf(input, sizeof input, "%s/in.txt", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  write_lines(dir, "in.txt", 12000 * (size_t)test_size(), -1);
  MPI_Barrier(MPI_COMM_WORLD);
  test_job t = {.what = SABOTAGE_REWRITE, .target = input};
  MPI_Comm_dup(MPI_COMM_WORLD, &t.meeting);
  const char *inputs[1] = {input};
  mpimr_job_config cfg;
  config_for(&cfg, &t, inputs, 1, out);
  outcome o = run_job(&cfg);
  MPI_Comm_free(&t.meeting);
  const char *needles[] = {"input '", input, "the file was replaced or modified while the job ran",
                           "modification time differs", NULL};
  check_failed(&o, MPIMR_ERR_IO, needles, -1, out);
  check_rerun(input, out);
  test_remove_tree(dir);
}

/* /proc/self/status reports a size of 0 but reads data: refused before map, not read as empty. */
static void test_pseudo_file_input(void **state) {
  (void)state;
  char dir[256], out[320];
  test_temp_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/out", dir);
  const char *pseudo = "/proc/self/status";
  struct stat st;
  assert_int_equal(stat(pseudo, &st), 0);
  assert_true(st.st_size == 0);
  test_job t = {0};
  const char *inputs[1] = {pseudo};
  mpimr_job_config cfg;
  config_for(&cfg, &t, inputs, 1, out);
  outcome o = run_job(&cfg);
  const char *needles[] = {"input '/proc/self/status': reports a size of 0 but has data",
                           "copy it to a regular file first", NULL};
  check_failed(&o, MPIMR_ERR_IO, needles, test_size(), out);
  assert_all(t.mapped == 0);
  test_remove_tree(dir);
}

/* A 5 MiB record under a 16 MiB budget (records up to 4 MiB), between ordinary lines. */
static void test_record_too_long(void **state) {
  (void)state;
  char dir[256], input[320], out[320], at[64];
  test_temp_dir(dir, sizeof dir);
  snprintf(input, sizeof input, "%s/long.txt", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  const size_t before = 3000, huge = 5u << 20;
  if (test_rank() == 0) {
    size_t size = before * 14 + huge + 1 + 3000 * 14;
    char *text = malloc(size + 1); /* sprintf ends with a NUL */
    assert_non_null(text);
    size_t n = 0;
    for (size_t i = 0; i < before; i++) n += (size_t)sprintf(text + n, "line %08zu\n", i);
    memset(text + n, 'x', huge);
    n += huge;
    text[n++] = '\n';
    for (size_t i = 0; i < 3000; i++) n += (size_t)sprintf(text + n, "line %08zu\n", i);
    assert_int_equal(test_write_file(dir, "long.txt", text, n), 0);
    free(text);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  snprintf(at, sizeof at, "the record at byte %zu is longer than", before * 14);
  const char *inputs[1] = {input};
  for (int blocks = 0; blocks <= 1; blocks++) {
    test_job t = {0};
    mpimr_job_config cfg;
    config_for(&cfg, &t, inputs, 1, out);
    cfg.memory_bytes = 16u << 20;
    if (blocks) {
      cfg.map_record = NULL;
      cfg.map_block = map_blocks;
    }
    outcome o = run_job(&cfg);
    const char *needles[] = {input, at, "4194304 bytes", NULL};
    check_failed(&o, MPIMR_ERR_TOO_LARGE, needles, 1, out);
  }
  test_remove_tree(dir);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_map_fails_through_api),
      cmocka_unit_test(test_map_index_fails_by_return),
      cmocka_unit_test(test_reduce_fails),
      cmocka_unit_test(test_input_truncated_during_job),
      cmocka_unit_test(test_input_deleted_during_job),
      cmocka_unit_test(test_input_replaced_during_job),
      cmocka_unit_test(test_input_rewritten_during_job),
      cmocka_unit_test(test_pseudo_file_input),
      cmocka_unit_test(test_record_too_long),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
