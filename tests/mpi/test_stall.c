/*
 * tests/mpi/test_stall.c — the stall watch (src/job/stall_watch.h) through
 * the library:
 *  1. no probe outlives its job: 12 jobs back to back on one communicator,
 *     the last rank mapping and reducing slowly, with a stall warning of
 *     1 ms, so that rank 0 probes the others many times in every job (read
 *     from the job's watch), and the last rank answers a probe that came
 *     during its reduce as the job ends. When a job returns, every probe
 *     sent was received and answered, and no receive of the watch is still
 *     posted: a probe or a reply left behind would reach the next job's
 *     communicator, which Open MPI gives the same context id. Every job
 *     succeeds with every key summed right;
 *  2. a negative, NaN or infinite stall setting is an invalid configuration
 *     on every rank.
 * The app test (tests/app/stall_app.sh) stops ranks for real.
 */
#include <math.h>
#include <time.h>

#include "job/job_internal.h"
#include "mpi_test_util.h"
#include "mpimr/mpimr.h"

enum { JOBS = 12, INDICES_PER_RANK = 40000, KEYS = 1000 };

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The last rank spends `seconds` here (inside one poll of its executor); the others do not. */
static void slow_on_last_rank(double seconds) {
  if (test_rank() != test_size() - 1) return;
  double until = seconds_now() + seconds;
  while (seconds_now() < until) {
  }
}

/* Emits (key i % KEYS, 1); the last rank takes 5 us an index, so the others wait for it. */
static int map_slowly_on_last_rank(void *user, uint64_t i, mpimr_emitter *out) {
  (void)user;
  slow_on_last_rank(5e-6);
  char key[16];
  snprintf(key, sizeof key, "k%06u", (unsigned)(i % KEYS));
  unsigned char one[8];
  mpimr_put_u64(one, 1);
  return mpimr_emit(out, key, 7, one, 8);
}

/* Sums a key's counts; the last rank takes 200 us a key, a reduce of 50 ms or more in one step, so
 * rank 0 probes it while it cannot answer, and its reply comes as the job ends. */
static int reduce_slowly_on_last_rank(void *user, const void *key, size_t key_len, mpimr_values *values,
                                      mpimr_emitter *out) {
  (void)user;
  slow_on_last_rank(200e-6);
  uint64_t sum = 0;
  const void *value;
  size_t value_len;
  while (mpimr_values_next(values, &value, &value_len)) sum += mpimr_get_u64(value);
  unsigned char total[8];
  mpimr_put_u64(total, sum);
  return mpimr_emit(out, key, key_len, total, 8);
}

/* Every key's count on this rank is what the indices give it (the totals are checked across ranks). */
static int sum_of_counts(const mpimr_dataset *result, uint64_t *sum) {
  mpimr_dataset_cursor cursor = {0};
  const void *key, *value;
  size_t key_len, value_len;
  *sum = 0;
  while (mpimr_dataset_next(result, &cursor, &key, &key_len, &value, &value_len)) {
    if (value_len != 8) return 0;
    *sum += mpimr_get_u64(value);
  }
  return 1;
}

/* Probes rank 0 sent (on rank 0), or probes this rank took (elsewhere), in the job just run. */
static int64_t probes_of(const mpimr_job *job) {
  const stall_watch *w = &job->watch;
  if (!w->enabled) return 0;
  if (w->rank != 0) return w->probes_received;
  int64_t sent = 0;
  for (int r = 1; r < w->nranks; r++) sent += w->peers[r].probes;
  return sent;
}

/* Nothing of the watch is outstanding when its job has returned: no receive posted, no reply due. */
static int watch_drained(const mpimr_job *job) {
  const stall_watch *w = &job->watch;
  if (!w->enabled) return 1;
  if (w->rank != 0)
    return !w->probe_posted && w->unanswered == 0 && w->reply_send_group.remaining == 0 &&
           w->probes_received == w->expected_probes;
  for (int r = 1; r < w->nranks; r++)
    if (w->peers[r].reply_group.remaining > 0) return 0;
  return w->probe_sends_group.remaining == 0;
}

/* Every probe rank 0 sent in the job was received: [0] sent, [1] received, summed over the ranks. */
static int probes_all_received(const mpimr_job *job) {
  int64_t mine[2] = {0, 0}, all[2];
  mine[test_rank() == 0 ? 0 : 1] = probes_of(job);
  MPI_Allreduce(mine, all, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return all[0] == all[1];
}

static void test_no_probe_outlives_its_job(void **state) {
  (void)state;
  int64_t probes = 0;
  for (int j = 0; j < JOBS; j++) {
    mpimr_dataset *result = NULL;
    assert_all(mpimr_dataset_create(&result) == MPIMR_OK);
    mpimr_job_config config;
    mpimr_job_config_init(&config);
    config.map_index = map_slowly_on_last_rank;
    config.dynamic_map = 0; /* the slow rank keeps its share: the others wait for it */
    config.index_count = (uint64_t)INDICES_PER_RANK * (uint64_t)test_size();
    config.combine = mpimr_combine_sum_u64;
    config.reduce = reduce_slowly_on_last_rank;
    config.output_dataset = result;
    config.round_bytes = 4096;
    config.stall_warning_seconds = 0.001;
    mpimr_job *job = NULL;
    int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &config);
    if (rc == MPIMR_OK) rc = mpimr_job_run(job);
    if (rc != MPIMR_OK)
      fprintf(stderr, "rank %d: job %d: %s\n", test_rank(), j, mpimr_job_error_message(job));
    assert_all(rc == MPIMR_OK);
    assert_all(watch_drained(job));
    assert_all(probes_all_received(job));
    probes += probes_of(job);
    mpimr_job_free(job);
    uint64_t keys = 0, sum = 0, total = 0;
    assert_all(mpimr_dataset_global_count(result, MPI_COMM_WORLD, &keys) == MPIMR_OK && keys == KEYS);
    assert_all(sum_of_counts(result, &sum));
    MPI_Allreduce(&sum, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    assert_all(total == config.index_count);
    mpimr_dataset_free(result);
  }
  if (test_rank() == 0) fprintf(stderr, "rank 0: %lld probes over %d jobs\n", (long long)probes, JOBS);
  assert_all(test_size() == 1 || probes > 0);
}

static int create_fails_as_invalid(double warning, double timeout) {
  mpimr_job_config config;
  mpimr_job_config_init(&config);
  config.map_index = map_slowly_on_last_rank;
  config.dynamic_map = 0; /* the slow rank keeps its share: the others wait for it */
  config.output_format = MPIMR_OUTPUT_NONE;
  config.stall_warning_seconds = warning;
  config.stall_timeout_seconds = timeout;
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &config);
  int ok = rc == MPIMR_ERR_INVAL && strstr(mpimr_job_error_message(job), "stall") != NULL;
  mpimr_job_free(job);
  return ok;
}

static void test_bad_settings(void **state) {
  (void)state;
  assert_all(create_fails_as_invalid(-1, 0));
  assert_all(create_fails_as_invalid(NAN, 0));
  assert_all(create_fails_as_invalid(60, -0.5));
  assert_all(create_fails_as_invalid(60, INFINITY));
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_probe_outlives_its_job),
      cmocka_unit_test(test_bad_settings),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
