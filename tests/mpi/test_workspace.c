/*
 * tests/mpi/test_workspace.c — jobs sharing an mpimr_workspace: each takes the communicator and
 * shuffle the last successful one left, under every transport, with and without a combiner,
 * through many rounds (4 KiB of them) and through empty jobs; every result against arithmetic.
 * A change of round size or communicator starts afresh; a failed job leaves nothing behind and
 * the next one still gives the right answer; the pin report carries over; per-job figures stay
 * per job.
 */
#include <stdint.h>
#include <string.h>

#include "mpi_test_util.h"
#include "mpimr/mpimr.h"

/* Keys 0..KEYS-1: index i goes to key i % KEYS with value i. */
#define KEYS 257

typedef struct sums {
  uint64_t key_sum[KEYS]; /* what this rank reduced, per key (0: not here) */
  int seen[KEYS];
  uint64_t fail_at;       /* an index whose map fails (UINT64_MAX: none) */
} sums;

static int map_index_pair(void *user, uint64_t index, mpimr_emitter *out) {
  const sums *s = user;
  if (index == s->fail_at) return mpimr_fail(out, "planned failure at index %llu", (unsigned long long)index);
  unsigned char key[8], value[8];
  mpimr_put_u64(key, index % KEYS);
  mpimr_put_u64(value, index);
  return mpimr_emit(out, key, sizeof key, value, sizeof value);
}

static int reduce_sum(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  sums *s = user;
  (void)out;
  uint64_t k = key_len == 8 ? mpimr_get_u64(key) : KEYS, total = 0;
  const void *value;
  size_t value_len;
  while (mpimr_values_next(values, &value, &value_len)) total += mpimr_get_u64(value);
  if (k >= KEYS || s->seen[k]) return mpimr_fail(out, "unexpected key");
  s->seen[k] = 1;
  s->key_sum[k] = total;
  return MPIMR_OK;
}

static mpimr_job_config config_for(sums *s, uint64_t count, mpimr_transport transport, size_t round_bytes,
                                   int combine, mpimr_workspace *ws) {
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.user = s;
  cfg.map_index = map_index_pair;
  cfg.index_count = count;
  cfg.reduce = reduce_sum;
  cfg.combine = combine ? mpimr_combine_sum_u64 : NULL;
  cfg.output_format = MPIMR_OUTPUT_NONE;
  cfg.transport = transport;
  cfg.round_bytes = round_bytes;
  cfg.pin = MPIMR_PIN_NONE;
  cfg.workspace = ws;
  return cfg;
}

/* Runs one job over [0, count) on `comm`; returns its status and checks every key's sum if it succeeded. */
static int run_and_check(MPI_Comm comm, uint64_t count, mpimr_transport transport, size_t round_bytes,
                         int combine, mpimr_workspace *ws, uint64_t fail_at) {
  sums s;
  memset(&s, 0, sizeof s);
  s.fail_at = fail_at;
  mpimr_job_config cfg = config_for(&s, count, transport, round_bytes, combine, ws);
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, comm, &cfg);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (rc == MPIMR_OK) {
    /* Every key reduced on exactly one rank, with the sum of the indexes that map to it. */
    int seen[KEYS];
    uint64_t got[KEYS];
    MPI_Allreduce(s.seen, seen, KEYS, MPI_INT, MPI_SUM, comm);
    MPI_Allreduce(s.key_sum, got, KEYS, MPI_UINT64_T, MPI_SUM, comm);
    int ok = 1;
    for (uint64_t k = 0; k < KEYS; k++) {
      uint64_t n = count > k ? (count - 1 - k) / KEYS + 1 : 0; /* indexes k, k + KEYS, ... below count */
      uint64_t want = n * k + (uint64_t)KEYS * (n * (n - (n > 0)) / 2);
      ok &= seen[k] == (n > 0) && got[k] == want;
    }
    uint64_t emitted = mpimr_job_get_stats(job)->pairs_emitted, all_emitted = 0;
    MPI_Allreduce(&emitted, &all_emitted, 1, MPI_UINT64_T, MPI_SUM, comm);
    ok &= all_emitted == count; /* this job's own figures, not the last job's added up */
    assert_all(ok);
  }
  mpimr_job_free(job);
  return rc;
}

static const mpimr_transport TRANSPORTS[] = {MPIMR_TRANSPORT_ALLTOALLV, MPIMR_TRANSPORT_PAIRWISE,
                                             MPIMR_TRANSPORT_SHARED_MEMORY};

/* Six jobs per transport and store: five reuse what the first set up; an empty job in the middle. */
static void test_reused_under_every_transport(void **state) {
  (void)state;
  for (int combine = 0; combine < 2; combine++) {
    for (size_t t = 0; t < sizeof TRANSPORTS / sizeof TRANSPORTS[0]; t++) {
      mpimr_workspace *ws = NULL;
      assert_all(mpimr_workspace_create(&ws) == MPIMR_OK);
      const uint64_t counts[] = {20000, 3, 0, 50000, 1, 7919};
      for (size_t j = 0; j < sizeof counts / sizeof counts[0]; j++)
        assert_all(run_and_check(MPI_COMM_WORLD, counts[j], TRANSPORTS[t], 4096, combine, ws, UINT64_MAX) ==
                   MPIMR_OK);
      assert_all(mpimr_workspace_reuses(ws) == 5);
      mpimr_workspace_free(ws);
    }
  }
}

/* Another round size is another shuffle; the same size again takes the new one. */
static void test_other_settings_start_afresh(void **state) {
  (void)state;
  mpimr_workspace *ws = NULL;
  assert_all(mpimr_workspace_create(&ws) == MPIMR_OK);
  assert_all(run_and_check(MPI_COMM_WORLD, 10000, MPIMR_TRANSPORT_AUTO, 4096, 1, ws, UINT64_MAX) == MPIMR_OK);
  assert_all(run_and_check(MPI_COMM_WORLD, 10000, MPIMR_TRANSPORT_AUTO, 8192, 1, ws, UINT64_MAX) == MPIMR_OK);
  assert_all(mpimr_workspace_reuses(ws) == 0);
  assert_all(run_and_check(MPI_COMM_WORLD, 10000, MPIMR_TRANSPORT_AUTO, 8192, 1, ws, UINT64_MAX) == MPIMR_OK);
  assert_all(mpimr_workspace_reuses(ws) == 1);
  mpimr_workspace_free(ws);
}

/* A job that fails (on the rank that maps index 4321) leaves the workspace empty; the next job
 * sets up afresh and is right, and the one after reuses again. */
static void test_failure_leaves_nothing_behind(void **state) {
  (void)state;
  for (size_t t = 0; t < sizeof TRANSPORTS / sizeof TRANSPORTS[0]; t++) {
    mpimr_workspace *ws = NULL;
    assert_all(mpimr_workspace_create(&ws) == MPIMR_OK);
    assert_all(run_and_check(MPI_COMM_WORLD, 30000, TRANSPORTS[t], 4096, 0, ws, UINT64_MAX) == MPIMR_OK);
    int rc = run_and_check(MPI_COMM_WORLD, 30000, TRANSPORTS[t], 4096, 0, ws, 4321);
    assert_all(rc == MPIMR_ERR_USER || rc == MPIMR_ERR_REMOTE);
    assert_all(mpimr_workspace_reuses(ws) == 1);
    assert_all(run_and_check(MPI_COMM_WORLD, 30000, TRANSPORTS[t], 4096, 0, ws, UINT64_MAX) == MPIMR_OK);
    assert_all(mpimr_workspace_reuses(ws) == 1);
    assert_all(run_and_check(MPI_COMM_WORLD, 30000, TRANSPORTS[t], 4096, 0, ws, UINT64_MAX) == MPIMR_OK);
    assert_all(mpimr_workspace_reuses(ws) == 2);
    mpimr_workspace_free(ws);
  }
}

/* A job on another communicator does not take the first one's; jobs on it then reuse its own. */
static void test_other_communicator(void **state) {
  (void)state;
  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, test_rank() % 2, test_rank(), &half);
  mpimr_workspace *ws = NULL;
  assert_all(mpimr_workspace_create(&ws) == MPIMR_OK);
  assert_all(run_and_check(MPI_COMM_WORLD, 5000, MPIMR_TRANSPORT_AUTO, 4096, 1, ws, UINT64_MAX) == MPIMR_OK);
  assert_all(run_and_check(half, 5000, MPIMR_TRANSPORT_AUTO, 4096, 1, ws, UINT64_MAX) == MPIMR_OK);
  assert_all(run_and_check(half, 5000, MPIMR_TRANSPORT_AUTO, 4096, 1, ws, UINT64_MAX) == MPIMR_OK);
  assert_all(mpimr_workspace_reuses(ws) == 1);
  mpimr_workspace_free(ws);
  MPI_Comm_free(&half);
}

/* The first job's pin report serves the later ones. */
static void test_pinning_kept(void **state) {
  (void)state;
  mpimr_workspace *ws = NULL;
  assert_all(mpimr_workspace_create(&ws) == MPIMR_OK);
  sums s;
  memset(&s, 0, sizeof s);
  s.fail_at = UINT64_MAX;
  mpimr_job_config cfg = config_for(&s, 100, MPIMR_TRANSPORT_AUTO, 4096, 1, ws);
  cfg.pin = MPIMR_PIN_AUTO;
  mpimr_job *first = NULL, *second = NULL;
  assert_all(mpimr_job_create(&first, MPI_COMM_WORLD, &cfg) == MPIMR_OK && mpimr_job_run(first) == MPIMR_OK);
  mpimr_pin_report pinning = *mpimr_job_get_pin_report(first);
  mpimr_job_free(first);
  memset(&s, 0, sizeof s);
  s.fail_at = UINT64_MAX;
  assert_all(mpimr_job_create(&second, MPI_COMM_WORLD, &cfg) == MPIMR_OK && mpimr_job_run(second) == MPIMR_OK);
  assert_all(memcmp(mpimr_job_get_pin_report(second), &pinning, sizeof pinning) == 0);
  mpimr_job_free(second);
  assert_all(mpimr_workspace_reuses(ws) == 1);
  mpimr_workspace_free(ws);
  mpimr_workspace_free(NULL);
  assert_all(mpimr_workspace_reuses(NULL) == 0);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reused_under_every_transport),
      cmocka_unit_test(test_other_settings_start_afresh),
      cmocka_unit_test(test_failure_leaves_nothing_behind),
      cmocka_unit_test(test_other_communicator),
      cmocka_unit_test(test_pinning_kept),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
