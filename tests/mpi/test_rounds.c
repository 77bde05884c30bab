/*
 * tests/mpi/test_rounds.c — the shuffle's round protocol through the job
 * API: uniform, empty, skewed, sparse and oversized traffic, zero-length
 * keys and values, the combiner path, and a failing rank, each checked
 * against an oracle computed here from the same deterministic emission rule.
 * Every scenario runs with 1-3 rounds in flight under each transport:
 * MPI_Ialltoallv, pairwise messages with a window of one peer and with a
 * window wider than the communicator, and shared memory, over the whole
 * node and cut into groups that exchange messages as nodes do.
 */
#include <inttypes.h>

#include "mpi_test_util.h"
#include "mpimr/mpimr.h"

/* What each map call emits: index i emits `per_index` pairs whose key is "k<i mod keys>". */
typedef struct emission {
  uint64_t index_count;
  uint64_t keys;
  int per_index;
  size_t value_bytes;  /* 8: the index; larger: the index then filler. */
  uint64_t emit_below; /* Only indices below this emit (others emit nothing). */
  int all_to_rank0;
  int fail_rank; /* The rank whose map fails (-1: none), at its first index. */
  int rank;
  int empty_key_every; /* Every n-th index uses the empty key (0: never). */
  /*
   * Sparse traffic (1 or 2; 0: off). Keys come in blocks (index i has key
   * i * keys / index_count), and the partitioner sends the block of rank r's
   * indices to rank r+1 only, or to ranks r+1 and r+2 (its first and second
   * halves). Exact when index_count and keys are multiples of 2P.
   */
  int sparse_peers;
  int static_map; /* Each rank maps its own share (dynamic map could move rank 0's to others). */
} emission;

static size_t key_of(const emission *e, uint64_t index, char *key) {
  if (e->empty_key_every && index % (uint64_t)e->empty_key_every == 0) return 0;
  if (e->sparse_peers) return (size_t)sprintf(key, "k%" PRIu64, index * e->keys / e->index_count);
  return (size_t)sprintf(key, "k%" PRIu64, index % e->keys);
}

static int map_index(void *user, uint64_t index, mpimr_emitter *out) {
  emission *e = user;
  if (e->fail_rank == e->rank) return 7;
  if (index >= e->emit_below) return 0;
  char key[32];
  size_t key_len = key_of(e, index, key);
  unsigned char *value = calloc(1, e->value_bytes);
  if (value == NULL) return 1;
  mpimr_put_u64(value, index);
  int rc = 0;
  for (int k = 0; k < e->per_index && rc == 0; k++) rc = mpimr_emit(out, key, key_len, value, e->value_bytes);
  free(value);
  return rc;
}

/* Reduces to (count, sum of indices), 16 bytes. */
static int reduce_count_sum(void *user, const void *key, size_t key_len, mpimr_values *values,
                            mpimr_emitter *out) {
  (void)user;
  uint64_t count = 0, sum = 0;
  const void *value;
  size_t length;
  while (mpimr_values_next(values, &value, &length)) {
    if (length < 8) return 1;
    count++;
    sum += mpimr_get_u64(value);
  }
  if (count != mpimr_values_count(values)) return 2;
  unsigned char result[16];
  mpimr_put_u64(result, count);
  mpimr_put_u64(result + 8, sum);
  return mpimr_emit(out, key, key_len, result, sizeof result);
}

static int partition_to_rank0(void *user, const void *key, size_t key_len, uint64_t hash, int nranks) {
  (void)user;
  (void)key;
  (void)key_len;
  (void)hash;
  (void)nranks;
  return 0;
}

/* Index of a key in the oracle: 0..keys-1 for "k<n>", keys for the empty key. */
static int64_t key_slot(const emission *e, const unsigned char *key, size_t key_len) {
  if (key_len == 0) return (int64_t)e->keys;
  if (key_len < 2 || key[0] != 'k') return -1;
  uint64_t v = 0;
  for (size_t i = 1; i < key_len; i++) {
    if (key[i] < '0' || key[i] > '9') return -1;
    v = v * 10 + (uint64_t)(key[i] - '0');
  }
  return v < e->keys ? (int64_t)v : -1;
}

/* The rank a key slot goes to with sparse traffic: see emission.sparse_peers. */
static int sparse_rank(const emission *e, int64_t slot, int nranks) {
  uint64_t half = (uint64_t)slot * 2 * (uint64_t)nranks / e->keys; /* 2r or 2r+1 for rank r's block */
  uint64_t step = e->sparse_peers == 2 ? (half + 1) / 2 : half / 2;
  return (int)((step + 1) % (uint64_t)nranks);
}

static int partition_sparse(void *user, const void *key, size_t key_len, uint64_t hash, int nranks) {
  (void)hash;
  const emission *e = user;
  int64_t slot = key_slot(e, key, key_len);
  return slot < 0 ? 0 : sparse_rank(e, slot, nranks);
}

/* Checks the binary parts against counts and sums computed from the emission rule (rank 0). */
static int check_output(const emission *e, const char *dir, int combined, int nranks) {
  uint64_t slots = e->keys + 1;
  uint64_t *count = calloc(slots, sizeof *count), *sum = calloc(slots, sizeof *sum);
  int *seen = calloc(slots, sizeof *seen);
  int ok = count && sum && seen;
  for (uint64_t i = 0; ok && i < e->index_count && i < e->emit_below; i++) {
    char key[32];
    size_t key_len = key_of(e, i, key);
    int64_t slot = key_slot(e, (const unsigned char *)key, key_len);
    count[slot] += (uint64_t)e->per_index;
    sum[slot] += i * (uint64_t)e->per_index;
  }
  for (int r = 0; ok && r < nranks; r++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/part-%05d", dir, r);
    size_t length = 0;
    unsigned char *data = test_read_file(path, &length);
    if (data == NULL) {
      fprintf(stderr, "missing %s\n", path);
      ok = 0;
      break;
    }
    size_t at = 0;
    const unsigned char *previous = NULL;
    size_t previous_len = 0;
    while (ok && at < length) {
      if (length - at < 16) {
        ok = 0;
        break;
      }
      uint64_t key_len = mpimr_get_u64(data + at), value_len = mpimr_get_u64(data + at + 8);
      if (key_len > length || value_len > length - at - 16 - key_len) {
        ok = 0;
        break;
      }
      const unsigned char *key = data + at + 16, *value = key + key_len;
      int64_t slot = key_slot(e, key, key_len);
      if (slot < 0 || seen[slot]) {
        fprintf(stderr, "unexpected or repeated key in %s\n", path);
        ok = 0;
        break;
      }
      seen[slot] = 1;
      if (previous) {
        size_t n = previous_len < key_len ? previous_len : key_len;
        int c = memcmp(previous, key, n);
        if (c > 0 || (c == 0 && previous_len >= key_len)) {
          fprintf(stderr, "%s not in key order\n", path);
          ok = 0;
        }
      }
      if (e->all_to_rank0 && r != 0) {
        fprintf(stderr, "key on rank %d, partitioner said 0\n", r);
        ok = 0;
      }
      if (e->sparse_peers && r != sparse_rank(e, slot, nranks)) {
        fprintf(stderr, "key slot %" PRId64 " on rank %d, partitioner said %d\n", slot, r,
                sparse_rank(e, slot, nranks));
        ok = 0;
      }
      if (combined) {
        if (value_len != 8 || mpimr_get_u64(value) != sum[slot]) {
          fprintf(stderr, "wrong combined sum\n");
          ok = 0;
        }
      } else if (value_len != 16 || mpimr_get_u64(value) != count[slot] ||
                 mpimr_get_u64(value + 8) != sum[slot]) {
        fprintf(stderr, "wrong count/sum for slot %" PRId64 "\n", slot);
        ok = 0;
      }
      previous = key;
      previous_len = key_len;
      at += 16 + key_len + value_len;
    }
    free(data);
  }
  for (uint64_t s = 0; ok && s < slots; s++)
    if ((count[s] > 0) != (seen[s] != 0)) {
      fprintf(stderr, "key slot %" PRIu64 " missing or spurious\n", s);
      ok = 0;
    }
  free(count);
  free(sum);
  free(seen);
  return ok;
}

/*
 * The transports every case runs under: the collective, pairwise with a
 * narrow and a wide window, and shared memory: over the whole node (rounds
 * without MPI; the window serves no peer), and in groups of (P+1)/2 ranks,
 * the protocol between nodes (MPI headers and a release barrier per round):
 * at np 2 no rank shares, so every byte is a message; at np 3 and 4 the
 * groups read each other's bytes in place and message the other group.
 */
typedef struct transport_case {
  mpimr_transport transport;
  int peer_window;    /* -1: wider than the communicator */
  int ranks_per_node; /* -1: (P+1)/2 */
} transport_case;

static const transport_case transports[] = {{MPIMR_TRANSPORT_ALLTOALLV, 0, 0},
                                            {MPIMR_TRANSPORT_PAIRWISE, 1, 0},
                                            {MPIMR_TRANSPORT_PAIRWISE, -1, 0},
                                            {MPIMR_TRANSPORT_SHARED_MEMORY, 1, 0},
                                            {MPIMR_TRANSPORT_SHARED_MEMORY, 1, -1}};

/* Runs one job with each transport and number of rounds in flight, and checks it. */
static void run_case(emission e, int combined, size_t round_bytes) {
  e.rank = test_rank();
  for (size_t t = 0; t < sizeof transports / sizeof transports[0]; t++)
    for (int depth = 1; depth <= 3; depth++) {
      char dir[256], out[300];
      test_temp_dir(dir, sizeof dir);
      snprintf(out, sizeof out, "%s/out", dir);
      mpimr_job_config cfg;
      mpimr_job_config_init(&cfg);
      cfg.user = &e;
      cfg.map_index = map_index;
      cfg.index_count = e.index_count;
      cfg.dynamic_map = !e.static_map;
      cfg.combine = combined ? mpimr_combine_sum_u64 : NULL;
      cfg.reduce = combined ? NULL : reduce_count_sum;
      cfg.partition = e.all_to_rank0 ? partition_to_rank0 : e.sparse_peers ? partition_sparse : NULL;
      cfg.output_dir = out;
      cfg.output_format = MPIMR_OUTPUT_BINARY;
      cfg.round_bytes = round_bytes;
      cfg.combine_bytes = round_bytes; /* send the combining table every round's worth: many rounds */
      cfg.rounds_in_flight = depth;
      cfg.transport = transports[t].transport;
      cfg.peer_window = transports[t].peer_window < 0 ? test_size() + 3 : transports[t].peer_window;
      cfg.ranks_per_node =
          transports[t].ranks_per_node < 0 ? (test_size() + 1) / 2 : transports[t].ranks_per_node;
      cfg.pin = MPIMR_PIN_NONE;
      mpimr_job *job = NULL;
      int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &cfg);
      if (rc == MPIMR_OK) rc = mpimr_job_run(job);
      if (rc != MPIMR_OK && e.fail_rank < 0)
        fprintf(stderr, "rank %d: transport %s, window %d, ranks per node %d, depth %d\n", e.rank,
                mpimr_transport_name(cfg.transport), cfg.peer_window, cfg.ranks_per_node, depth);
      if (e.fail_rank >= 0) {
        int expected = e.rank == e.fail_rank ? MPIMR_ERR_USER : MPIMR_ERR_REMOTE;
        if (rc != expected)
          fprintf(stderr, "rank %d: rc %d (%s), expected %d\n", e.rank, rc, mpimr_job_error_message(job),
                  expected);
        assert_all(rc == expected);
        assert_all(strstr(mpimr_job_error_message(job), "rank") != NULL);
        assert_all(!test_file_exists(out, "_SUCCESS"));
      } else {
        if (rc != MPIMR_OK) fprintf(stderr, "rank %d: %s\n", e.rank, mpimr_job_error_message(job));
        assert_all(rc == MPIMR_OK);
        int ok = e.rank != 0 ||
                 (check_output(&e, out, combined, test_size()) && test_file_exists(out, "_SUCCESS"));
        assert_all(ok);
        const mpimr_job_stats *s = mpimr_job_get_stats(job);
        uint64_t rounds_min, rounds_max;
        MPI_Allreduce(&s->rounds, &rounds_min, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(&s->rounds, &rounds_max, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
        assert_all(rounds_min == rounds_max && rounds_min >= 1);
      }
      mpimr_job_free(job);
      test_remove_tree(dir);
    }
}

static emission base(void) {
  return (emission){.index_count = 20000,
                    .keys = 997,
                    .per_index = 1,
                    .value_bytes = 8,
                    .emit_below = UINT64_MAX,
                    .fail_rank = -1};
}

static void test_uniform(void **state) {
  (void)state;
  run_case(base(), 0, 4096);
}

static void test_uniform_combined(void **state) {
  (void)state;
  run_case(base(), 1, 4096);
}

static void test_only_first_ranks_emit(void **state) {
  (void)state;
  emission e = base();
  e.emit_below = e.index_count / (uint64_t)test_size(); /* rank 0's share only: the others stay empty */
  e.static_map = 1;
  run_case(e, 0, 4096);
  run_case(e, 1, 4096);
}

static void test_nothing_emitted(void **state) {
  (void)state;
  emission e = base();
  e.emit_below = 0;
  run_case(e, 0, 4096);
  e.index_count = 0;
  run_case(e, 1, 4096);
}

static void test_skewed_to_rank0(void **state) {
  (void)state;
  emission e = base();
  e.all_to_rank0 = 1;
  e.per_index = 3;
  run_case(e, 0, 4096);
}

static void test_pairs_larger_than_a_round(void **state) {
  (void)state;
  emission e = base();
  e.index_count = 64;
  e.keys = 5;
  e.value_bytes = 300000; /* 300 KB values through 8 KiB rounds */
  run_case(e, 0, 8192);
}

static void test_empty_keys(void **state) {
  (void)state;
  emission e = base();
  e.empty_key_every = 7;
  run_case(e, 0, 4096);
  run_case(e, 1, 4096);
}

static void test_sparse_peers(void **state) {
  (void)state;
  emission e = base();
  e.index_count = 24000; /* multiples of 2P for P = 1..4: every rank's block splits exactly */
  e.keys = 1200;
  for (e.sparse_peers = 1; e.sparse_peers <= 2; e.sparse_peers++) {
    e.per_index = 2;
    run_case(e, 0, 4096);
    e.per_index = 1;
    run_case(e, 1, 4096);
  }
}

static void test_failing_rank_stops_all(void **state) {
  (void)state;
  emission e = base();
  e.fail_rank = test_size() - 1;
  run_case(e, 0, 4096);
  e.fail_rank = 0;
  run_case(e, 1, 4096);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_uniform),
      cmocka_unit_test(test_uniform_combined),
      cmocka_unit_test(test_only_first_ranks_emit),
      cmocka_unit_test(test_nothing_emitted),
      cmocka_unit_test(test_skewed_to_rank0),
      cmocka_unit_test(test_pairs_larger_than_a_round),
      cmocka_unit_test(test_empty_keys),
      cmocka_unit_test(test_sparse_peers),
      cmocka_unit_test(test_failing_rank_stops_all),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
