/*
 * tests/mpi/test_spill.c — jobs under a small memory budget spill and still
 * give exactly the right answer.
 *
 * The input is an integer range: index i emits (key(i), i as 8 bytes), with
 * 40 % of all indices on one hot key, so the rank that reduces it holds far
 * more values than its 16 MiB budget. Each case runs with the budget and
 * without it, and checks the part files against an oracle computed here from
 * the index formula (per key: value count and sum; or every (i, key(i)) pair
 * for a reducer that inverts the mapping and so emits out of key order),
 * that both runs wrote identical bytes, that every rank's accounted peak
 * stayed within its budget, that some rank really spilled, and that the
 * spill directory is empty afterwards. Under 64 MiB the store is first
 * compacted into runs in memory, which then go to disk. mpimr_map_origin()
 * refuses index input and a reducer's emitter. Also: without a combiner, values
 * arrive in bytewise order (the reducer checks); a spill directory that
 * cannot be made fails the job on every rank with the path in the message
 * and no _SUCCESS.
 */
#include <dirent.h>

#include "mpi_test_util.h"
#include "mpimr/mpimr.h"

enum { INDICES = 1500000, BUDGET = 16 << 20 };

/* Keys besides the hot one: few without a combiner (values pile up), many with one (keys do). */
static unsigned cold_keys = 20000;
enum { MAX_COLD_KEYS = 999999 };

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The key of index i: "hot" for 40 % of indices, else one of cold_keys; written to `key`. */
static size_t key_of(uint64_t i, char *key) {
  uint64_t h = mix(i + 1);
  if (h % 10 < 4) {
    memcpy(key, "hot", 3);
    return 3;
  }
  return (size_t)snprintf(key, 16, "k%06u", (unsigned)((h >> 8) % cold_keys));
}

static int key_index(const unsigned char *key, size_t len) {
  if (len == 3 && memcmp(key, "hot", 3) == 0) return (int)cold_keys;
  if (len != 7 || key[0] != 'k') return -1;
  unsigned index = 0;
  for (size_t i = 1; i < 7; i++) {
    if (key[i] < '0' || key[i] > '9') return -1;
    index = index * 10 + (unsigned)(key[i] - '0');
  }
  return index < cold_keys ? (int)index : -1;
}

static int map_index(void *user, uint64_t i, mpimr_emitter *out) {
  (void)user;
  mpimr_record_origin origin;
  if (i == 0 && mpimr_map_origin(out, &origin) != MPIMR_ERR_STATE) return 1; /* no file behind an index */
  char key[16];
  size_t len = key_of(i, key);
  unsigned char value[8];
  mpimr_put_u64(value, i);
  return mpimr_emit(out, key, len, value, 8);
}

static long long combine_add(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                             size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  if (acc_len != 16 && acc_len != 8) return -1;
  if (acc_cap < 16) return 16;
  /* A value is (sum, count): a raw 8-byte value counts as (i, 1). */
  uint64_t sum = mpimr_get_u64(acc), count = acc_len == 16 ? mpimr_get_u64((unsigned char *)acc + 8) : 1;
  sum += mpimr_get_u64(in);
  count += in_len == 16 ? mpimr_get_u64((const unsigned char *)in + 8) : 1;
  mpimr_put_u64(acc, sum);
  mpimr_put_u64((unsigned char *)acc + 8, count);
  return 16;
}

/* Emits (key, sum, count); without a combiner, checks that values arrive in bytewise order and
 * that their number is the one announced. */
static int reduce_totals(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  int *ordered = user;
  mpimr_record_origin origin;
  if (mpimr_map_origin(out, &origin) != MPIMR_ERR_STATE) return 1; /* a reducer's emitter is not map's */
  uint64_t sum = 0, count = 0, raw_values = 0;
  unsigned char previous[8];
  const void *value;
  size_t length;
  while (mpimr_values_next(values, &value, &length)) {
    if (length == 8) { /* one index */
      if (raw_values > 0 && memcmp(previous, value, 8) > 0) *ordered = 0;
      memcpy(previous, value, 8);
      sum += mpimr_get_u64(value);
      count++;
    } else if (length == 16) { /* (sum, count), combined */
      sum += mpimr_get_u64(value);
      count += mpimr_get_u64((const unsigned char *)value + 8);
    } else {
      return 1;
    }
    raw_values++;
  }
  if (raw_values != mpimr_values_count(values)) *ordered = 0;
  unsigned char total[16];
  mpimr_put_u64(total, sum);
  mpimr_put_u64(total + 8, count);
  return mpimr_emit(out, key, key_len, total, 16);
}

/* Emits (i big-endian, key) for every value: output keys far out of the reducer's key order. */
static int reduce_inverted(void *user, const void *key, size_t key_len, mpimr_values *values,
                           mpimr_emitter *out) {
  (void)user;
  const void *value;
  size_t length;
  while (mpimr_values_next(values, &value, &length)) {
    uint64_t i = mpimr_get_u64(value);
    unsigned char big_endian[8];
    for (int b = 0; b < 8; b++) big_endian[b] = (unsigned char)(i >> (56 - 8 * b));
    int rc = mpimr_emit(out, big_endian, 8, key, key_len);
    if (rc != MPIMR_OK) return rc;
  }
  return 0;
}

typedef enum job_kind { NO_COMBINER, GENERIC_COMBINER, COUNTING, INVERTED } job_kind;

/* Sets reduce_in_order on the jobs run_job() makes. */
static int reduce_in_order = 0;

static int run_job(job_kind kind, const char *out, size_t memory, const char *spill_dir, int *ordered,
                   mpimr_job_stats *stats, char *message, size_t message_size) {
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.map_index = map_index;
  cfg.index_count = INDICES;
  cfg.output_dir = out;
  cfg.output_format = MPIMR_OUTPUT_BINARY;
  cfg.memory_bytes = memory;
  cfg.spill_dir = spill_dir;
  cfg.user = ordered;
  cfg.round_bytes = 256 << 10;
  if (kind == GENERIC_COMBINER) cfg.combine = combine_add;
  if (kind == COUNTING) cfg.combine = mpimr_combine_sum_u64;
  cfg.reduce = kind == INVERTED ? reduce_inverted : kind == COUNTING ? NULL : reduce_totals;
  cfg.reduce_in_order = reduce_in_order;
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &cfg);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (stats) *stats = *mpimr_job_get_stats(job);
  if (message) snprintf(message, message_size, "%s", mpimr_job_error_message(job));
  mpimr_job_free(job);
  return rc;
}

/* Reads the binary part files and checks them against the index formula (on rank 0). */
static int check_output(job_kind kind, const char *out) {
  uint64_t *sums = calloc(cold_keys + 1, sizeof *sums), *counts = calloc(cold_keys + 1, sizeof *counts);
  unsigned char *seen = calloc(INDICES, 1);
  int ok = sums && counts && seen;
  char key[16];
  for (uint64_t i = 0; ok && i < INDICES; i++) {
    int k = key_index((unsigned char *)key, key_of(i, key));
    sums[k] += i;
    counts[k]++;
  }
  uint64_t keys_seen = 0, inverted_seen = 0;
  for (int r = 0; ok && r < test_size(); r++) {
    char path[600];
    snprintf(path, sizeof path, "%s/part-%05d", out, r);
    size_t length;
    unsigned char *data = test_read_file(path, &length);
    if (data == NULL) {
      ok = 0;
      break;
    }
    size_t at = 0;
    const unsigned char *previous = NULL;
    size_t previous_len = 0;
    while (ok && at + 16 <= length) {
      uint64_t key_len = mpimr_get_u64(data + at), value_len = mpimr_get_u64(data + at + 8);
      const unsigned char *k = data + at + 16, *v = k + key_len;
      at += 16 + key_len + value_len;
      if (at > length) {
        ok = 0;
        break;
      }
      /* Keys in bytewise order within a part. */
      if (previous) {
        size_t n = previous_len < key_len ? previous_len : key_len;
        int c = memcmp(previous, k, n);
        if (c > 0 || (c == 0 && previous_len > key_len)) ok = 0;
      }
      previous = k;
      previous_len = key_len;
      if (kind == INVERTED) {
        uint64_t i = 0;
        for (int b = 0; b < 8 && key_len == 8; b++) i = i << 8 | k[b];
        char expected[16];
        size_t expected_len = key_of(i, expected);
        if (key_len != 8 || i >= INDICES || seen[i] || value_len != expected_len ||
            memcmp(v, expected, expected_len) != 0)
          ok = 0;
        else
          seen[i] = 1;
        inverted_seen++;
        continue;
      }
      int index = key_index(k, key_len);
      uint64_t sum = mpimr_get_u64(v), count = kind == COUNTING ? 0 : mpimr_get_u64(v + 8);
      if (index < 0 || counts[index] == 0) {
        ok = 0;
      } else if (kind == COUNTING) {
        if (value_len != 8 || sum != sums[index]) ok = 0; /* the combiner added the indices */
        counts[index] = 0;
      } else {
        if (value_len != 16 || sum != sums[index] || count != counts[index]) ok = 0;
        counts[index] = 0;
      }
      keys_seen++;
    }
    if (at != length) ok = 0;
    free(data);
  }
  if (kind == INVERTED) ok = ok && inverted_seen == INDICES;
  for (unsigned k = 0; ok && kind != INVERTED && k <= cold_keys; k++)
    if (counts[k] != 0) ok = 0; /* a key never written */
  if (!ok) fprintf(stderr, "output of kind %d in %s does not match the oracle\n", (int)kind, out);
  free(sums);
  free(counts);
  free(seen);
  return ok;
}

static int same_parts(const char *a, const char *b) {
  int ok = 1;
  for (int r = 0; r < test_size() && ok; r++) {
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/part-%05d", a, r);
    snprintf(pb, sizeof pb, "%s/part-%05d", b, r);
    size_t la, lb;
    unsigned char *da = test_read_file(pa, &la), *db = test_read_file(pb, &lb);
    ok = da && db && la == lb && memcmp(da, db, la) == 0;
    free(da);
    free(db);
  }
  return ok;
}

static int directory_is_empty(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL) return 0;
  int empty = 1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = 0;
  closedir(d);
  return empty;
}

static void check_kind_with(job_kind kind, size_t budget, int must_spill) {
  cold_keys = kind == GENERIC_COMBINER || kind == COUNTING ? MAX_COLD_KEYS : 20000;
  char dir[256], budgeted[300], unlimited[300], spill[300];
  test_temp_dir(dir, sizeof dir);
  snprintf(budgeted, sizeof budgeted, "%s/budgeted", dir);
  snprintf(unlimited, sizeof unlimited, "%s/unlimited", dir);
  snprintf(spill, sizeof spill, "%s/spill", dir);
  if (test_rank() == 0) mkdir(spill, 0755);
  MPI_Barrier(MPI_COMM_WORLD);
  int ordered = 1;
  mpimr_job_stats stats;
  char message[640];
  int rc = run_job(kind, budgeted, budget, spill, &ordered, &stats, message, sizeof message);
  if (rc != MPIMR_OK) fprintf(stderr, "rank %d: %s\n", test_rank(), message);
  assert_all(rc == MPIMR_OK);
  assert_all(ordered);
  assert_all(stats.memory_budget_bytes == budget);
  if (stats.peak_memory_bytes > budget || (must_spill && stats.spill_runs == 0))
    fprintf(stderr, "rank %d: kind %d: accounted %llu bytes of %llu; %llu runs, %llu bytes spilled\n", test_rank(),
            (int)kind, (unsigned long long)stats.peak_memory_bytes, (unsigned long long)stats.memory_budget_bytes,
            (unsigned long long)stats.spill_runs, (unsigned long long)stats.spill_bytes);
  assert_all(stats.peak_memory_bytes <= budget);
  int spilled = stats.spill_runs > 0, any_spilled;
  MPI_Allreduce(&spilled, &any_spilled, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (must_spill) assert_all(any_spilled); /* the hot key's rank at least */
  /* A rank that spilled had filled its budget, by its own accounting, before it did. */
  assert_all(!spilled || stats.peak_memory_bytes >= budget / 2);
  MPI_Barrier(MPI_COMM_WORLD);
  assert_all(directory_is_empty(spill));
  rc = run_job(kind, unlimited, 0, NULL, &ordered, &stats, message, sizeof message);
  assert_all(rc == MPIMR_OK && ordered);
  assert_all(stats.spill_runs == 0);
  int checked = test_rank() == 0 ? check_output(kind, budgeted) && same_parts(budgeted, unlimited) : 1;
  assert_all(checked);
  test_remove_tree(dir);
}

static void check_kind(job_kind kind) { check_kind_with(kind, BUDGET, 1); }

static void test_no_combiner(void **state) {
  (void)state;
  check_kind(NO_COMBINER);
}

static void test_generic_combiner(void **state) {
  (void)state;
  check_kind(GENERIC_COMBINER);
}

static void test_counting(void **state) {
  (void)state;
  check_kind(COUNTING);
}

static void test_output_spills(void **state) {
  (void)state;
  check_kind(INVERTED);
}

/* Under 64 MiB the store is first compacted into sorted runs in memory (every 8 MiB of rounds);
 * with one rank, holding every pair, those must then go to disk too. */
static void test_compacted_then_spilled(void **state) {
  (void)state;
  check_kind_with(NO_COMBINER, (size_t)64 << 20, test_size() == 1);
}

/* A reducer that emits its own key may say so: output then goes straight to the part, the same bytes. */
static void test_output_in_order(void **state) {
  (void)state;
  reduce_in_order = 1;
  check_kind(NO_COMBINER);
  reduce_in_order = 0;
}

/* A reducer that says so but does not keep order fails the job on every rank, with no _SUCCESS. */
static void test_output_in_order_broken(void **state) {
  (void)state;
  char dir[256], out[300];
  test_temp_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/out", dir);
  reduce_in_order = 1;
  char message[640] = "";
  int rc = run_job(INVERTED, out, 0, NULL, NULL, NULL, message, sizeof message);
  reduce_in_order = 0;
  int named = rc == MPIMR_ERR_USER && strstr(message, "reduce_in_order") != NULL;
  int any_named;
  MPI_Allreduce(&named, &any_named, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  assert_all(rc == MPIMR_ERR_USER || rc == MPIMR_ERR_REMOTE);
  assert_all(any_named);
  assert_all(!test_file_exists(out, "_SUCCESS"));
  test_remove_tree(dir);
}

static void test_unusable_spill_directory(void **state) {
  (void)state;
  char dir[256], out[300], spill[300];
  test_temp_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/out", dir);
  /* Under a regular file: no directory can be made there, not even by root. */
  snprintf(spill, sizeof spill, "%s/file/spill", dir);
  if (test_rank() == 0) test_write_file(dir, "file", "x", 1);
  MPI_Barrier(MPI_COMM_WORLD);
  char message[640] = "";
  int ordered = 1;
  int rc = run_job(NO_COMBINER, out, BUDGET, spill, &ordered, NULL, message, sizeof message);
  assert_all(rc != MPIMR_OK);
  /* The ranks that spilled name the directory; the others say another rank failed. */
  int named = rc == MPIMR_ERR_IO && strstr(message, spill) != NULL && strstr(message, "Not a directory");
  int remote = rc == MPIMR_ERR_REMOTE;
  assert_all(named || remote);
  int any_named;
  MPI_Allreduce(&named, &any_named, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  assert_all(any_named);
  assert_all(!test_file_exists(out, "_SUCCESS"));
  test_remove_tree(dir);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_combiner),   cmocka_unit_test(test_generic_combiner),
      cmocka_unit_test(test_counting),      cmocka_unit_test(test_output_spills),
      cmocka_unit_test(test_compacted_then_spilled),
      cmocka_unit_test(test_output_in_order),
      cmocka_unit_test(test_output_in_order_broken),
      cmocka_unit_test(test_unusable_spill_directory),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
