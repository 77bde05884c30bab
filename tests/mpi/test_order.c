/*
 * tests/mpi/test_order.c — jobs in global key order (MPIMR_KEY_ORDER_GLOBAL)
 * with bytewise and user-supplied key and value orders.
 *
 * The input is an integer range: index i emits a pair computed from i alone
 * (random binary keys of 1 to 12 bytes, a hot key, or one key for all), so
 * rank 0 can compute every pair itself. Each case reads the binary part
 * files back in rank order and checks them against that oracle: the same
 * pairs, sorted by an independent comparison (qsort here), keys grouped
 * once per key with a reducer, and the largest rank's share within 1.1 of
 * the mean where the keys allow it. Also: the same job under a 16 MiB
 * budget (spilled runs merged in the job's order) writes the same bytes;
 * empty input; configurations that cannot work are refused on every rank.
 */
#include "mpi_test_util.h"
#include "mpimr/mpimr.h"

enum { INDICES = 240000, SPILL_INDICES = 1200000, BUDGET = 16 << 20 };

typedef enum key_kind { UNIFORM, SKEWED, EQUAL_PAIRS } key_kind;

typedef struct job_setup {
  key_kind kind;
  int reverse_keys;    /**< compare_keys: reverse bytewise. */
  int numeric_values;  /**< compare_values: values as little-endian integers. */
  int reduce;          /**< Reducer that emits (key, count). */
  uint64_t indices;
} job_setup;

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The pair of index i: key into `key` (at most 12 bytes), value into `value` (8 bytes). */
static size_t pair_of(key_kind kind, uint64_t i, unsigned char *key, unsigned char *value) {
  uint64_t h = mix(i + 7), g = mix(h);
  mpimr_put_u64(value, kind == EQUAL_PAIRS ? 42 : i);
  if (kind == EQUAL_PAIRS) {
    memcpy(key, "same", 4);
    return 4;
  }
  if (kind == SKEWED && h % 2 == 0) {
    memcpy(key, "hot", 3);
    return 3;
  }
  if (kind == SKEWED) h %= 1000; /* few cold keys: each repeats */
  size_t len = 1 + (size_t)(g % 12);
  memcpy(key, &h, 8);
  memcpy(key + 8, &g, 4);
  return len;
}

static int map_index(void *user, uint64_t i, mpimr_emitter *out) {
  const job_setup *setup = user;
  unsigned char key[12], value[8];
  size_t len = pair_of(setup->kind, i, key, value);
  return mpimr_emit(out, key, len, value, 8);
}

static int compare_bytes(const void *a, size_t a_len, const void *b, size_t b_len) {
  size_t n = a_len < b_len ? a_len : b_len;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0) return c;
  return (a_len > b_len) - (a_len < b_len);
}

static int reverse_keys(void *user, const void *a, size_t a_len, const void *b, size_t b_len) {
  (void)user;
  return compare_bytes(b, b_len, a, a_len);
}

static int numeric_values(void *user, const void *a, size_t a_len, const void *b, size_t b_len) {
  (void)user;
  if (a_len != 8 || b_len != 8) return 0;
  uint64_t x = mpimr_get_u64(a), y = mpimr_get_u64(b);
  return (x > y) - (x < y);
}

/* Emits (key, number of values), checking the values arrive in the job's value order. */
static int reduce_count(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  const job_setup *setup = user;
  const void *value, *previous = NULL;
  size_t length, previous_len = 0, count = 0;
  unsigned char last[8];
  while (mpimr_values_next(values, &value, &length)) {
    if (previous != NULL) {
      int c = setup->numeric_values ? numeric_values(NULL, last, previous_len, value, length)
                                    : compare_bytes(last, previous_len, value, length);
      if (c > 0) return 2;
    }
    if (length > 8) return 3;
    memcpy(last, value, length);
    previous = last;
    previous_len = length;
    count++;
  }
  unsigned char counted[8];
  mpimr_put_u64(counted, count);
  return mpimr_emit(out, key, key_len, counted, 8);
}

static int run_job(const job_setup *setup, const char *out, size_t memory, mpimr_job_stats *stats) {
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.user = (void *)setup;
  cfg.map_index = map_index;
  cfg.index_count = setup->indices;
  cfg.key_order = MPIMR_KEY_ORDER_GLOBAL;
  if (setup->reverse_keys) cfg.compare_keys = reverse_keys;
  if (setup->numeric_values) cfg.compare_values = numeric_values;
  if (setup->reduce) cfg.reduce = reduce_count;
  cfg.output_dir = out;
  cfg.output_format = MPIMR_OUTPUT_BINARY;
  cfg.memory_bytes = memory;
  cfg.round_bytes = 256 << 10;
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &cfg);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (rc != MPIMR_OK) fprintf(stderr, "rank %d: %s\n", test_rank(), mpimr_job_error_message(job));
  if (stats) *stats = *mpimr_job_get_stats(job);
  mpimr_job_free(job);
  return rc;
}

/* ---- the oracle (rank 0) ----------------------------------------------- */

typedef struct oracle_pair {
  unsigned char key[12];
  size_t key_len;
  unsigned char value[8];
} oracle_pair;

static const job_setup *oracle_setup; /* qsort has no context argument; the tests run one at a time */

static int compare_oracle(const void *pa, const void *pb) {
  const oracle_pair *a = pa, *b = pb;
  int c = oracle_setup->reverse_keys ? compare_bytes(b->key, b->key_len, a->key, a->key_len)
                                     : compare_bytes(a->key, a->key_len, b->key, b->key_len);
  if (c != 0 || oracle_setup->reduce) return c;
  if (oracle_setup->numeric_values) {
    uint64_t x = mpimr_get_u64(a->value), y = mpimr_get_u64(b->value);
    return (x > y) - (x < y);
  }
  return memcmp(a->value, b->value, 8);
}

/* Every pair of the job, sorted as the parts should be; with a reducer, one (key, count) per key. */
static oracle_pair *expected_pairs(const job_setup *setup, size_t *count) {
  oracle_pair *pairs = malloc((setup->indices ? setup->indices : 1) * sizeof *pairs);
  if (pairs == NULL) return NULL;
  for (uint64_t i = 0; i < setup->indices; i++) pairs[i].key_len = pair_of(setup->kind, i, pairs[i].key, pairs[i].value);
  oracle_setup = setup;
  qsort(pairs, setup->indices, sizeof *pairs, compare_oracle);
  size_t n = setup->indices;
  if (setup->reduce) {
    size_t groups = 0;
    for (size_t i = 0; i < n;) {
      size_t end = i + 1;
      while (end < n && compare_bytes(pairs[i].key, pairs[i].key_len, pairs[end].key, pairs[end].key_len) == 0) end++;
      pairs[groups] = pairs[i];
      mpimr_put_u64(pairs[groups].value, end - i);
      groups++;
      i = end;
    }
    n = groups;
  }
  *count = n;
  return pairs;
}

/* Checks the binary parts, taken in rank order, hold exactly the expected pairs in order. */
static int parts_match(const job_setup *setup, const char *out) {
  size_t expected_count = 0;
  oracle_pair *expected = expected_pairs(setup, &expected_count);
  if (expected == NULL) return 0;
  size_t next = 0;
  int ok = 1;
  for (int r = 0; r < test_size() && ok; r++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/part-%05d", out, r);
    size_t length = 0;
    unsigned char *data = test_read_file(path, &length);
    if (data == NULL) {
      fprintf(stderr, "cannot read %s\n", path);
      ok = 0;
      break;
    }
    size_t at = 0;
    while (ok && at < length) {
      if (length - at < 16) {
        ok = 0;
        break;
      }
      uint64_t key_len = mpimr_get_u64(data + at), value_len = mpimr_get_u64(data + at + 8);
      at += 16;
      if (key_len > 12 || value_len != 8 || length - at < key_len + 8 || next >= expected_count) {
        fprintf(stderr, "%s: a malformed or extra pair at pair %zu\n", path, next);
        ok = 0;
        break;
      }
      const oracle_pair *e = &expected[next];
      if (key_len != e->key_len || memcmp(data + at, e->key, key_len) != 0 ||
          memcmp(data + at + key_len, e->value, 8) != 0) {
        fprintf(stderr, "%s: pair %zu differs from the oracle\n", path, next);
        ok = 0;
      }
      at += key_len + 8;
      next++;
    }
    free(data);
  }
  if (ok && next != expected_count) {
    fprintf(stderr, "the parts hold %zu pairs, the oracle %zu\n", next, expected_count);
    ok = 0;
  }
  free(expected);
  return ok;
}

/* The largest rank's received pairs over the mean (1.0 at np 1). */
static double imbalance(const mpimr_job_stats *stats) {
  uint64_t mine = stats->pairs_received, most = 0, total = 0;
  MPI_Allreduce(&mine, &most, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  return total ? (double)most * test_size() / (double)total : 1.0;
}

static void check_setup(const job_setup *setup, double max_imbalance) {
  char dir[256], out[300];
  test_temp_dir(dir, sizeof dir);
  assert_all(dir[0] != '\0');
  snprintf(out, sizeof out, "%s/out", dir);
  mpimr_job_stats stats;
  assert_all(run_job(setup, out, 0, &stats) == MPIMR_OK);
  assert_all(stats.sample_pairs > 0 || setup->indices == 0);
  double balance = imbalance(&stats);
  if (test_rank() == 0) fprintf(stderr, "largest share / mean: %.3f\n", balance);
  assert_all(balance <= max_imbalance);
  assert_all(test_rank() != 0 || parts_match(setup, out));
  test_remove_tree(dir);
}

static void test_reduce_bytewise(void **state) {
  (void)state;
  job_setup setup = {UNIFORM, 0, 0, 1, INDICES};
  check_setup(&setup, 1.1);
}

static void test_identity_with_comparators(void **state) {
  (void)state;
  job_setup setup = {UNIFORM, 1, 1, 0, INDICES};
  check_setup(&setup, 1.1);
}

static void test_reduce_with_comparators(void **state) {
  (void)state;
  job_setup setup = {UNIFORM, 1, 1, 1, INDICES};
  check_setup(&setup, 1.1);
}

/* Half the pairs share one key: with a reducer that key stays on one rank (no bound); without
 * one, pairs order by (key, value) and spread. */
static void test_skewed(void **state) {
  (void)state;
  job_setup grouped = {SKEWED, 0, 0, 1, INDICES};
  check_setup(&grouped, (double)test_size());
  job_setup spread = {SKEWED, 0, 1, 0, INDICES};
  check_setup(&spread, 1.1);
}

/* Every pair identical: only turning ties through the ranks can balance them. */
static void test_all_pairs_equal(void **state) {
  (void)state;
  job_setup setup = {EQUAL_PAIRS, 0, 0, 0, INDICES};
  check_setup(&setup, 1.1);
}

static void test_empty_input(void **state) {
  (void)state;
  job_setup setup = {UNIFORM, 0, 0, 0, 0};
  check_setup(&setup, 1.0);
}

/* Under 16 MiB every rank spills; the merge must follow the job's comparators. */
static void test_spilled_in_order(void **state) {
  (void)state;
  job_setup setup = {UNIFORM, 1, 1, 0, SPILL_INDICES};
  char dir[256], limited[300], free_run[300];
  test_temp_dir(dir, sizeof dir);
  assert_all(dir[0] != '\0');
  snprintf(limited, sizeof limited, "%s/limited", dir);
  snprintf(free_run, sizeof free_run, "%s/free", dir);
  mpimr_job_stats stats;
  assert_all(run_job(&setup, limited, BUDGET, &stats) == MPIMR_OK);
  assert_all(stats.spill_runs > 0);
  assert_all(stats.peak_memory_bytes <= BUDGET);
  assert_all(run_job(&setup, free_run, 0, NULL) == MPIMR_OK);
  int same = 1;
  if (test_rank() == 0)
    for (int r = 0; r < test_size() && same; r++) {
      char a[400], b[400];
      snprintf(a, sizeof a, "%s/part-%05d", limited, r);
      snprintf(b, sizeof b, "%s/part-%05d", free_run, r);
      size_t a_len = 0, b_len = 0;
      unsigned char *x = test_read_file(a, &a_len), *y = test_read_file(b, &b_len);
      same = x && y && a_len == b_len && memcmp(x, y, a_len) == 0;
      free(x);
      free(y);
    }
  assert_all(same);
  assert_all(test_rank() != 0 || parts_match(&setup, free_run));
  test_remove_tree(dir);
}

static int partition_first(void *user, const void *key, size_t key_len, uint64_t hash, int nranks) {
  (void)user;
  (void)key;
  (void)key_len;
  (void)hash;
  (void)nranks;
  return 0;
}

static long long keep_first(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                            size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  (void)acc;
  (void)acc_cap;
  (void)in;
  (void)in_len;
  return (long long)acc_len;
}

static void test_refused_configurations(void **state) {
  (void)state;
  job_setup setup = {UNIFORM, 0, 0, 0, 10};
  for (int c = 0; c < 3; c++) {
    mpimr_job_config cfg;
    mpimr_job_config_init(&cfg);
    cfg.user = &setup;
    cfg.map_index = map_index;
    cfg.index_count = 10;
    cfg.output_format = MPIMR_OUTPUT_NONE;
    cfg.key_order = MPIMR_KEY_ORDER_GLOBAL;
    const char *why = "";
    if (c == 0) {
      cfg.partition = partition_first;
      why = "partitioner";
    } else if (c == 1) {
      cfg.combine = keep_first;
      cfg.compare_values = numeric_values;
      why = "compare_values";
    } else {
      cfg.key_order = (mpimr_key_order)7;
      why = "key order";
    }
    mpimr_job *job = NULL;
    int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &cfg);
    assert_all(rc == MPIMR_ERR_INVAL);
    assert_all(strstr(mpimr_job_error_message(job), why) != NULL);
    mpimr_job_free(job);
  }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reduce_bytewise),       cmocka_unit_test(test_identity_with_comparators),
      cmocka_unit_test(test_reduce_with_comparators), cmocka_unit_test(test_skewed),
      cmocka_unit_test(test_all_pairs_equal),       cmocka_unit_test(test_empty_input),
      cmocka_unit_test(test_spilled_in_order),      cmocka_unit_test(test_refused_configurations),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
