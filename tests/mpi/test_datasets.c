/*
 * tests/mpi/test_datasets.c — pairs that stay in memory between jobs, and
 * jobs that run while the application does its own MPI work:
 *  - a dataset's own operations: add, iterate, count, clear, gather to each
 *    root and broadcast from it (ranks with no pairs included), a root out of
 *    range refused on every rank;
 *  - a job over each rank's own array (map_local, different sizes per rank,
 *    one rank with none) that leaves its counts in a dataset, against the
 *    histogram summed with MPI_Allreduce; each rank's pairs in key order and
 *    only keys that partition to it;
 *  - a chain: the next job maps that dataset (map_pair) with a reducer;
 *    then ten jobs whose input and output are the same dataset (iteration);
 *  - global key order over a dataset: the gathered output is sorted;
 *  - a map_pair failure names the pair, and leaves the output dataset empty;
 *    invalid configurations are refused; mpimr_output_check() tells which
 *    output directories a job would take, without changing any;
 *  - a job started with mpimr_job_start() and advanced with mpimr_job_test()
 *    while the application runs a ring exchange on MPI_COMM_WORLD between
 *    tests and another one as a future on the job's executor: all complete
 *    and are right, and exchanges completed while the job was running.
 */
#include <stdint.h>

#include "mpi_test_util.h"
#include "mpimr/mpimr.h"

enum { KEYS = 50 };

/* The value of element i of rank r's array: a key in [0, KEYS). */
static uint64_t element(int rank, uint64_t i) { return (mpimr_hash64(&i, sizeof i, (uint64_t)rank) >> 7) % KEYS; }

static uint64_t local_elements(int rank) { return rank == 1 ? 0 : 3000 + 777 * (uint64_t)rank; }

/* ---- the dataset itself ---- */

static void add_u64_pair(mpimr_dataset *d, uint64_t key, uint64_t value) {
  unsigned char k[8], v[8];
  mpimr_put_u64(k, key);
  mpimr_put_u64(v, value);
  assert_int_equal(mpimr_dataset_add(d, k, 8, v, 8), MPIMR_OK);
}

/* Rank r holds pairs (r, 0), (r, 1), ... (r, r+1) except rank 1, which holds none. */
static void fill_rank_pairs(mpimr_dataset *d, int rank) {
  mpimr_dataset_clear(d);
  for (int i = 0; rank != 1 && i <= rank + 1; i++) add_u64_pair(d, (uint64_t)rank, (uint64_t)i);
}

static uint64_t rank_pairs(int rank) { return rank == 1 ? 0 : (uint64_t)rank + 2; }

static void test_dataset_operations(void **state) {
  (void)state;
  int rank = test_rank(), size = test_size();
  mpimr_dataset *d;
  assert_int_equal(mpimr_dataset_create(&d), MPIMR_OK);
  assert_int_equal(mpimr_dataset_local_count(d), 0);
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *k, *v;
  size_t kl, vl;
  assert_int_equal(mpimr_dataset_next(d, &at, &k, &kl, &v, &vl), 0);
  /* Empty keys and values, and a longer value, come back as they went in. */
  assert_int_equal(mpimr_dataset_add(d, "", 0, "", 0), MPIMR_OK);
  char big[300];
  memset(big, 'x', sizeof big);
  assert_int_equal(mpimr_dataset_add(d, "key", 3, big, sizeof big), MPIMR_OK);
  assert_int_equal(mpimr_dataset_local_count(d), 2);
  assert_true(mpimr_dataset_local_bytes(d) >= sizeof big + 3);
  assert_int_equal(mpimr_dataset_next(d, &at, &k, &kl, &v, &vl), 1);
  assert_int_equal(kl + vl, 0);
  assert_int_equal(mpimr_dataset_next(d, &at, &k, &kl, &v, &vl), 1);
  assert_int_equal(kl, 3);
  assert_memory_equal(k, "key", 3);
  assert_int_equal(vl, sizeof big);
  assert_memory_equal(v, big, sizeof big);
  assert_int_equal(mpimr_dataset_next(d, &at, &k, &kl, &v, &vl), 0);

  uint64_t expected_total = 0;
  for (int r = 0; r < size; r++) expected_total += rank_pairs(r);
  for (int root = 0; root < size; root++) {
    fill_rank_pairs(d, rank);
    uint64_t total = 0;
    assert_all(mpimr_dataset_global_count(d, MPI_COMM_WORLD, &total) == MPIMR_OK && total == expected_total);
    assert_all(mpimr_dataset_gather(d, MPI_COMM_WORLD, root) == MPIMR_OK);
    /* Root holds every rank's pairs in rank order; the others none. */
    int ok = mpimr_dataset_local_count(d) == (rank == root ? expected_total : 0);
    mpimr_dataset_cursor c = MPIMR_DATASET_CURSOR_INIT;
    for (int r = 0; rank == root && r < size; r++)
      for (uint64_t i = 0; i < rank_pairs(r); i++)
        ok = ok && mpimr_dataset_next(d, &c, &k, &kl, &v, &vl) && kl == 8 && vl == 8 &&
             mpimr_get_u64(k) == (uint64_t)r && mpimr_get_u64(v) == i;
    assert_all(ok);
    /* Broadcast from a rank that holds pairs to ranks that hold others. */
    fill_rank_pairs(d, rank);
    add_u64_pair(d, 1000 + (uint64_t)rank, 7);
    assert_all(mpimr_dataset_broadcast(d, MPI_COMM_WORLD, root) == MPIMR_OK);
    ok = mpimr_dataset_local_count(d) == rank_pairs(root) + 1;
    c = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
    for (uint64_t i = 0; i < rank_pairs(root); i++)
      ok = ok && mpimr_dataset_next(d, &c, &k, &kl, &v, &vl) && mpimr_get_u64(k) == (uint64_t)root &&
           mpimr_get_u64(v) == i;
    ok = ok && mpimr_dataset_next(d, &c, &k, &kl, &v, &vl) && mpimr_get_u64(k) == 1000 + (uint64_t)root &&
         !mpimr_dataset_next(d, &c, &k, &kl, &v, &vl);
    assert_all(ok);
  }
  /* A root out of range is refused on every rank, and nothing changes. */
  uint64_t before = mpimr_dataset_local_count(d);
  assert_all(mpimr_dataset_gather(d, MPI_COMM_WORLD, size) == MPIMR_ERR_INVAL);
  assert_all(mpimr_dataset_broadcast(d, MPI_COMM_WORLD, -1) == MPIMR_ERR_INVAL);
  assert_all(mpimr_dataset_local_count(d) == before);
  mpimr_dataset_clear(d);
  assert_int_equal(mpimr_dataset_local_count(d), 0);
  assert_int_equal(mpimr_dataset_local_bytes(d), 0);
  mpimr_dataset_free(d);
  mpimr_dataset_free(NULL);
}

/* ---- jobs over datasets ---- */

typedef struct app_state {
  int rank;
  uint64_t *array;       /* this rank's elements, for map_local */
  uint64_t fail_at_key;  /* map_pair fails at this key (UINT64_MAX: never) */
  uint64_t pairs_seen;
} app_state;

static int map_array(void *user, uint64_t index, mpimr_emitter *out) {
  app_state *s = user;
  unsigned char key[8], one[8];
  mpimr_put_u64(key, s->array[index]);
  mpimr_put_u64(one, 1);
  return mpimr_emit(out, key, 8, one, 8);
}

/* (element, count) -> (count % 7, element): which elements share a count class. */
static int map_count_class(void *user, const void *key, size_t key_len, const void *value, size_t value_len,
                           mpimr_emitter *out) {
  app_state *s = user;
  s->pairs_seen++;
  if (key_len != 8 || value_len != 8) return mpimr_fail(out, "pair of %zu and %zu bytes", key_len, value_len);
  if (mpimr_get_u64(key) == s->fail_at_key) return mpimr_fail(out, "refusing key %llu", (unsigned long long)s->fail_at_key);
  unsigned char class_key[8];
  mpimr_put_u64(class_key, mpimr_get_u64(value) % 7);
  return mpimr_emit(out, class_key, 8, key, 8);
}

/* The elements of a class, summed, and their number. */
static int reduce_class(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  (void)user;
  uint64_t sum = 0;
  const void *v;
  size_t len;
  while (mpimr_values_next(values, &v, &len)) sum += mpimr_get_u64(v);
  unsigned char both[16];
  mpimr_put_u64(both, sum);
  mpimr_put_u64(both + 8, mpimr_values_count(values));
  return mpimr_emit(out, key, key_len, both, 16);
}

/* One step of an iteration: every value grows by its key. */
static int map_step(void *user, const void *key, size_t key_len, const void *value, size_t value_len,
                    mpimr_emitter *out) {
  (void)user;
  unsigned char next[8];
  mpimr_put_u64(next, mpimr_get_u64(value) + mpimr_get_u64(key));
  (void)value_len;
  return mpimr_emit(out, key, key_len, next, 8);
}

static int run_job(const mpimr_job_config *cfg, char *message, size_t size) {
  mpimr_job *job;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, cfg);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  snprintf(message, size, "%s", job ? mpimr_job_error_message(job) : "");
  mpimr_job_free(job);
  return rc;
}

/* Rank owning a key under the default partitioner (the hash scaled to the rank count, as job.h says). */
static int owner(const void *key, size_t len, int size) {
  return (int)(((__uint128_t)mpimr_hash64(key, len, 0) * (unsigned)size) >> 64);
}

static void test_jobs_over_datasets(void **state) {
  (void)state;
  int rank = test_rank(), size = test_size();
  app_state s = {rank, NULL, UINT64_MAX, 0};
  uint64_t n = local_elements(rank);
  s.array = malloc((n ? n : 1) * sizeof *s.array);
  uint64_t histogram[KEYS] = {0}, global[KEYS];
  for (uint64_t i = 0; i < n; i++) histogram[s.array[i] = element(rank, i)]++;
  MPI_Allreduce(histogram, global, KEYS, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);

  mpimr_dataset *counts, *classes;
  assert_int_equal(mpimr_dataset_create(&counts), MPIMR_OK);
  assert_int_equal(mpimr_dataset_create(&classes), MPIMR_OK);
  add_u64_pair(counts, 999, 999); /* replaced by the job's output */
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.user = &s;
  cfg.map_local = map_array;
  cfg.local_count = n;
  cfg.combine = mpimr_combine_sum_u64;
  cfg.output_dataset = counts;
  cfg.pin = MPIMR_PIN_NONE;
  char message[700];
  assert_all(run_job(&cfg, message, sizeof message) == MPIMR_OK);
  /* Each rank: its own keys, in key order; together: the histogram. */
  uint64_t seen[KEYS] = {0}, all_seen[KEYS];
  int ok = 1;
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *k, *v;
  size_t kl, vl;
  unsigned char previous[8];
  int have_previous = 0;
  while (mpimr_dataset_next(counts, &at, &k, &kl, &v, &vl)) {
    ok = ok && kl == 8 && vl == 8 && mpimr_get_u64(k) < KEYS && owner(k, 8, size) == rank;
    ok = ok && (!have_previous || memcmp(previous, k, 8) < 0);
    memcpy(previous, k, 8);
    have_previous = 1;
    if (ok) seen[mpimr_get_u64(k)] += mpimr_get_u64(v);
  }
  MPI_Allreduce(seen, all_seen, KEYS, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  assert_all(ok && memcmp(all_seen, global, sizeof global) == 0);

  /* The next job maps the counts, with a reducer: the class sums against a serial oracle. */
  uint64_t class_sum[7] = {0}, class_count[7] = {0};
  for (int key = 0; key < KEYS; key++)
    if (global[key]) {
      class_sum[global[key] % 7] += (uint64_t)key;
      class_count[global[key] % 7]++;
    }
  mpimr_job_config next;
  mpimr_job_config_init(&next);
  next.user = &s;
  next.map_pair = map_count_class;
  next.input_dataset = counts;
  next.reduce = reduce_class;
  next.output_dataset = classes;
  next.pin = MPIMR_PIN_NONE;
  assert_all(run_job(&next, message, sizeof message) == MPIMR_OK);
  assert_all(s.pairs_seen == mpimr_dataset_local_count(counts));
  assert_all(mpimr_dataset_gather(classes, MPI_COMM_WORLD, 0) == MPIMR_OK);
  ok = 1;
  if (rank == 0) {
    uint64_t classes_seen = 0, expected_classes = 0;
    for (int c = 0; c < 7; c++) expected_classes += class_count[c] > 0;
    at = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
    while (mpimr_dataset_next(classes, &at, &k, &kl, &v, &vl)) {
      uint64_t c = mpimr_get_u64(k);
      ok = ok && kl == 8 && vl == 16 && c < 7 && mpimr_get_u64(v) == class_sum[c] &&
           mpimr_get_u64((const unsigned char *)v + 8) == class_count[c];
      classes_seen++;
    }
    ok = ok && classes_seen == expected_classes;
  }
  assert_all(ok);

  /* Ten jobs over one dataset that is their input and their output. */
  mpimr_dataset *values;
  assert_int_equal(mpimr_dataset_create(&values), MPIMR_OK);
  for (uint64_t i = 0; i < 100; i++) add_u64_pair(values, (uint64_t)rank * 1000 + i, i);
  mpimr_job_config step;
  mpimr_job_config_init(&step);
  step.map_pair = map_step;
  step.input_dataset = values;
  step.output_dataset = values;
  step.pin = MPIMR_PIN_NONE;
  for (int iteration = 0; iteration < 10; iteration++)
    assert_all(run_job(&step, message, sizeof message) == MPIMR_OK);
  uint64_t total = 0;
  assert_all(mpimr_dataset_global_count(values, MPI_COMM_WORLD, &total) == MPIMR_OK &&
             total == 100 * (uint64_t)size);
  ok = 1;
  at = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
  while (mpimr_dataset_next(values, &at, &k, &kl, &v, &vl)) {
    uint64_t key = mpimr_get_u64(k);
    ok = ok && owner(k, 8, size) == rank && mpimr_get_u64(v) == key % 1000 + 10 * key;
  }
  assert_all(ok);

  /* Global key order over a dataset: rank 0's keys, then rank 1's, ... are sorted. */
  mpimr_dataset *sorted;
  assert_int_equal(mpimr_dataset_create(&sorted), MPIMR_OK);
  step.key_order = MPIMR_KEY_ORDER_GLOBAL;
  step.output_dataset = sorted;
  assert_all(run_job(&step, message, sizeof message) == MPIMR_OK);
  assert_all(mpimr_dataset_gather(sorted, MPI_COMM_WORLD, 0) == MPIMR_OK);
  ok = rank != 0 || mpimr_dataset_local_count(sorted) == 100 * (uint64_t)size;
  at = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
  have_previous = 0;
  while (mpimr_dataset_next(sorted, &at, &k, &kl, &v, &vl)) {
    ok = ok && (!have_previous || memcmp(previous, k, 8) < 0);
    memcpy(previous, k, 8);
    have_previous = 1;
  }
  assert_all(ok);

  /* A map_pair failure on the rank holding key 7 names the pair; the output dataset is emptied. */
  s.fail_at_key = 7;
  s.pairs_seen = 0;
  add_u64_pair(classes, 1, 1);
  int rc = run_job(&next, message, sizeof message);
  int holds_seven = global[7] > 0 && owner("\x07\0\0\0\0\0\0\0", 8, size) == rank;
  assert_all(rc == (holds_seven ? MPIMR_ERR_USER : global[7] ? MPIMR_ERR_REMOTE : MPIMR_OK));
  assert_all(!holds_seven || (strstr(message, "map: refusing key 7") != NULL &&
                              strstr(message, " of the input dataset)") != NULL));
  assert_all(!global[7] || mpimr_dataset_local_count(classes) == 0);

  /* Invalid configurations. */
  mpimr_job_config bad = next;
  bad.input_dataset = NULL;
  assert_all(run_job(&bad, message, sizeof message) == MPIMR_ERR_INVAL && strstr(message, "input_dataset"));
  bad = next;
  bad.output_dir = "/tmp/never-made";
  assert_all(run_job(&bad, message, sizeof message) == MPIMR_ERR_INVAL && strstr(message, "not both"));
  bad = next;
  bad.map_local = map_array;
  assert_all(run_job(&bad, message, sizeof message) == MPIMR_ERR_INVAL && strstr(message, "exactly one"));

  /* mpimr_output_check: what a job would do with a directory, before any work, changing nothing. */
  char dir[256], missing[300];
  test_temp_dir(dir, sizeof dir);
  snprintf(missing, sizeof missing, "%s/not-yet", dir);
  assert_all(mpimr_output_check(MPI_COMM_WORLD, missing, 0, message, sizeof message) == MPIMR_OK);
  assert_all(mpimr_output_check(MPI_COMM_WORLD, dir, 0, message, sizeof message) == MPIMR_OK);
  if (rank == 0) assert_int_equal(test_write_file(dir, "_SUCCESS", "", 0), 0);
  MPI_Barrier(MPI_COMM_WORLD);
  assert_all(mpimr_output_check(MPI_COMM_WORLD, dir, 0, message, sizeof message) == MPIMR_ERR_EXISTS &&
             strstr(message, "already exists") != NULL);
  assert_all(mpimr_output_check(MPI_COMM_WORLD, dir, 1, NULL, 0) == MPIMR_OK);
  struct stat st;
  assert_all(stat(missing, &st) != 0 && stat(dir, &st) == 0);
  test_remove_tree(dir);

  mpimr_dataset_free(sorted);
  mpimr_dataset_free(values);
  mpimr_dataset_free(classes);
  mpimr_dataset_free(counts);
  free(s.array);
}

/* ---- a job that runs while the application exchanges ---- */

enum { RING_INTS = 4096 };

/* The application's own exchange as a future on the job's executor: a ring shift on a communicator of its own. */
typedef struct ring_future {
  mpimr_future base;
  MPI_Comm comm;
  int send[RING_INTS];
  int receive[RING_INTS];
  mpimr_request_group requests;
  int rounds_left;
  int rounds_done;
} ring_future;

static void ring_fill(int *data, int rank, int round) {
  for (int i = 0; i < RING_INTS; i++) data[i] = rank * 1000003 + round * 7919 + i;
}

static int ring_check(const int *data, int from, int round) {
  for (int i = 0; i < RING_INTS; i++)
    if (data[i] != from * 1000003 + round * 7919 + i) return 0;
  return 1;
}

static mpimr_poll_result ring_poll(mpimr_future *self, mpimr_executor *ex) {
  ring_future *r = (ring_future *)self;
  int rank, size;
  MPI_Comm_rank(r->comm, &rank);
  MPI_Comm_size(r->comm, &size);
  int left = (rank + size - 1) % size, right = (rank + 1) % size;
  if (self->state == 1) { /* a round completed */
    if (r->requests.error != MPI_SUCCESS || !ring_check(r->receive, left, r->rounds_done)) {
      self->result = MPIMR_ERR_MPI;
      return MPIMR_READY;
    }
    r->rounds_done++;
  }
  if (r->rounds_done == r->rounds_left) {
    self->result = MPIMR_OK;
    return MPIMR_READY;
  }
  MPI_Request requests[2];
  ring_fill(r->send, rank, r->rounds_done);
  MPI_Irecv(r->receive, RING_INTS, MPI_INT, left, r->rounds_done, r->comm, &requests[0]);
  MPI_Isend(r->send, RING_INTS, MPI_INT, right, r->rounds_done, r->comm, &requests[1]);
  if (mpimr_future_await_requests(ex, self, &r->requests, requests, 2) != MPIMR_OK) {
    self->result = MPIMR_ERR_NOMEM;
    return MPIMR_READY;
  }
  self->state = 1;
  return MPIMR_PENDING;
}

static int map_heavy(void *user, uint64_t index, mpimr_emitter *out) {
  (void)user;
  unsigned char key[8], one[8];
  mpimr_put_u64(key, index % 10007);
  mpimr_put_u64(one, 1);
  return mpimr_emit(out, key, 8, one, 8);
}

/* A job that counts `indices` indices modulo 10007 (map_heavy) into `counts`. */
static void counting_config(mpimr_job_config *cfg, mpimr_dataset *counts, uint64_t indices) {
  mpimr_job_config_init(cfg);
  cfg->map_index = map_heavy;
  cfg->index_count = indices;
  cfg->combine = mpimr_combine_sum_u64;
  cfg->output_dataset = counts;
  cfg->pin = MPIMR_PIN_NONE;
}

static void test_nonblocking_job(void **state) {
  (void)state;
  int rank = test_rank(), size = test_size();
  const uint64_t indices = 3000000;
  mpimr_dataset *counts;
  assert_int_equal(mpimr_dataset_create(&counts), MPIMR_OK);
  mpimr_job_config cfg;
  counting_config(&cfg, counts, indices);
  cfg.round_bytes = 64 << 10;
  cfg.combine_bytes = 64 << 10;
  mpimr_job *job;
  assert_all(mpimr_job_create(&job, MPI_COMM_WORLD, &cfg) == MPIMR_OK);
  int done = 0;
  assert_all(mpimr_job_test(job, &done) == MPIMR_ERR_STATE && !done);
  assert_all(mpimr_job_start(job) == MPIMR_OK);

  /* A future of the application's on the job's executor ... */
  ring_future ring;
  memset(&ring, 0, sizeof ring);
  MPI_Comm_dup(MPI_COMM_WORLD, &ring.comm);
  ring.rounds_left = 50;
  mpimr_future_init(&ring.base, ring_poll);
  assert_int_equal(mpimr_executor_spawn(mpimr_job_executor(job), &ring.base), MPIMR_OK);

  /* ... and an exchange of its own between tests, on MPI_COMM_WORLD: the same number on every
   * rank (each must be matched), going on after the job if it ends first. */
  enum { EXCHANGES = 300 };
  int left = (rank + size - 1) % size, right = (rank + 1) % size;
  static int send[RING_INTS], receive[RING_INTS];
  MPI_Request halo[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  int exchanges = 0, exchanges_while_running = 0, ok = 1, tests = 0, rc = MPIMR_OK, posted = 0;
  while (!done || exchanges < EXCHANGES) {
    if (!posted && exchanges < EXCHANGES) {
      ring_fill(send, rank, exchanges);
      MPI_Irecv(receive, RING_INTS, MPI_INT, left, 1, MPI_COMM_WORLD, &halo[0]);
      MPI_Isend(send, RING_INTS, MPI_INT, right, 1, MPI_COMM_WORLD, &halo[1]);
      posted = 1;
    }
    if (!done) {
      rc = mpimr_job_test(job, &done);
      tests++;
    }
    int finished = 0;
    if (posted) MPI_Testall(2, halo, &finished, MPI_STATUSES_IGNORE);
    if (finished) {
      ok = ok && ring_check(receive, left, exchanges);
      exchanges++;
      posted = 0;
      if (!done) exchanges_while_running++;
    }
  }
  int ring_rc = mpimr_executor_block_on(mpimr_job_executor(job), &ring.base);
  fprintf(stderr, "rank %d: %d tests, %d exchanges while the job ran, ring %d rounds\n", rank, tests,
          exchanges_while_running, ring.rounds_done);
  assert_all(rc == MPIMR_OK && mpimr_job_wait(job) == MPIMR_OK);
  assert_all(ok && ring_rc == MPIMR_OK && ring.rounds_done == 50);
  assert_all(tests > 1 && exchanges_while_running > 0);
  /* The job's result: every key's count, summed over the ranks. */
  uint64_t total = 0, keys = 0;
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *k, *v;
  size_t kl, vl;
  ok = 1;
  while (mpimr_dataset_next(counts, &at, &k, &kl, &v, &vl)) {
    uint64_t key = mpimr_get_u64(k), expected = indices / 10007 + (key < indices % 10007);
    ok = ok && mpimr_get_u64(v) == expected;
    total += mpimr_get_u64(v);
    keys++;
  }
  uint64_t sums[2] = {total, keys}, all[2];
  MPI_Allreduce(sums, all, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  assert_all(ok && all[0] == indices && all[1] == 10007);
  assert_all(mpimr_job_start(job) == MPIMR_ERR_STATE);
  MPI_Comm_free(&ring.comm);
  mpimr_job_free(job);
  mpimr_dataset_free(counts);
}

/* A job for the waiting tests: `indices` indices counted into `counts`. */
static mpimr_job *start_counting_job(mpimr_dataset *counts, uint64_t indices) {
  mpimr_job_config cfg;
  counting_config(&cfg, counts, indices);
  mpimr_job *job;
  assert_all(mpimr_job_create(&job, MPI_COMM_WORLD, &cfg) == MPIMR_OK);
  assert_all(mpimr_job_start(job) == MPIMR_OK);
  return job;
}

/* mpimr_job_wait_for() returns within its time while the job runs and with its outcome at the end;
 * mpimr_job_interrupt() on one rank fails the job on every rank and leaves no output. */
static void test_wait_for_and_interrupt(void **state) {
  (void)state;
  int rank = test_rank(), size = test_size();
  const uint64_t indices = 3000000;
  mpimr_dataset *counts;
  assert_int_equal(mpimr_dataset_create(&counts), MPIMR_OK);
  mpimr_job *job = start_counting_job(counts, indices);
  int done = 0, waits = 0, rc = MPIMR_OK;
  assert_all(mpimr_job_wait_for(job, -1, &done) == MPIMR_ERR_INVAL);
  while (!done) {
    rc = mpimr_job_wait_for(job, 0.0005, &done);
    waits++;
  }
  assert_all(rc == MPIMR_OK && waits > 1);
  uint64_t local = 0, total = 0;
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *k, *v;
  size_t kl, vl;
  while (mpimr_dataset_next(counts, &at, &k, &kl, &v, &vl)) local += mpimr_get_u64(v);
  MPI_Allreduce(&local, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  assert_all(total == indices);
  mpimr_job_interrupt(job, "too late"); /* a finished job is not changed */
  assert_all(mpimr_job_wait_for(job, 0, &done) == MPIMR_OK && done && mpimr_job_error_message(job)[0] == '\0');
  mpimr_job_free(job);

  job = start_counting_job(counts, indices);
  if (rank == size - 1) mpimr_job_interrupt(job, "by the test");
  rc = mpimr_job_wait(job);
  int expected = rank == size - 1 ? MPIMR_ERR_INTERRUPTED : MPIMR_ERR_REMOTE;
  char wanted[64];
  snprintf(wanted, sizeof wanted, "rank %d: interrupted: by the test", rank);
  assert_all(rc == expected && mpimr_dataset_local_count(counts) == 0);
  assert_all(rank != size - 1 || strcmp(mpimr_job_error_message(job), wanted) == 0);
  mpimr_job_free(job);
  mpimr_dataset_free(counts);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dataset_operations),
      cmocka_unit_test(test_jobs_over_datasets),
      cmocka_unit_test(test_nonblocking_job),
      cmocka_unit_test(test_wait_for_and_interrupt),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
