/*
 * tests/unit/test_table.c — the combining hash table of kv/table.h.
 *
 * Every check compares the table with an oracle kept here: an array of
 * expected sums indexed by key id, or the expected concatenation of every
 * value a key received. Keys are "k<id>" (sometimes padded with zero bytes),
 * so an entry's key names the oracle slot it must match.
 */
#include <malloc.h>
#include <math.h>
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
#include "kv/table.h"
#include "mpimr/error.h"
#include "mpimr/job.h"
#include "mpimr/kv.h"

static test_rng rng = {0x5eed5eed5eed5eedull};

static uint64_t rng_next(void) { return test_rng_next(&rng); }

static size_t rng_below(size_t n) { return test_rng_below(&rng, n); }

/* Key of id: "k<id>" followed by id % 3 zero bytes (zero bytes are ordinary key bytes). */
static size_t make_key(unsigned id, unsigned char *key) {
  int n = sprintf((char *)key, "k%u", id);
  size_t pad = id % 3;
  memset(key + n, 0, pad);
  return (size_t)n + pad;
}

/* Parses a key made by make_key(); fails the test if it is not one. */
static unsigned key_id(const unsigned char *key, size_t key_len) {
  assert_true(key_len >= 2 && key[0] == 'k');
  unsigned id = 0;
  size_t i = 1;
  while (i < key_len && key[i] >= '0' && key[i] <= '9') id = id * 10 + (unsigned)(key[i++] - '0');
  assert_int_equal(key_len - i, id % 3);
  for (; i < key_len; i++) assert_int_equal(key[i], 0);
  return id;
}

/* A hash chosen by the test: the real one, or a bad one that piles keys into few slots with equal tags. */
typedef enum hash_kind { HASH_REAL, HASH_COLLIDING } hash_kind;

static uint64_t hash_of(hash_kind kind, const unsigned char *key, size_t key_len) {
  uint64_t h = mpimr_hash64(key, key_len, 0);
  return kind == HASH_REAL ? h : (h % 5) * 0x0000000100000001ull;
}

/* The same sum as mpimr_combine_sum_u64, but a different function, so the table's generic path runs. */
static long long combine_sum_generic(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                     size_t acc_cap, const void *in, size_t in_len) {
  (void)key;
  (void)key_len;
  if (user) (*(uint64_t *)user)++;
  if (acc_len != 8 || in_len != 8) return -1;
  if (acc_cap < 8) return 8;
  mpimr_put_u64(acc, mpimr_get_u64(acc) + mpimr_get_u64(in));
  return 8;
}

static size_t live_entry_bytes(const kv_table *t) {
  size_t bytes = 0;
  for (const table_entry *e = table_first(t); e; e = table_next(t, e)) bytes += table_entry_size(e);
  return bytes;
}

/* Upserts `emits` random (key id < distinct, random value) pairs and checks every sum against the oracle. */
static void run_sums(mpimr_combine_fn combine, hash_kind kind, unsigned distinct, unsigned emits,
                     size_t expected_entries) {
  kv_table t;
  uint64_t calls = 0;
  assert_int_equal(
      table_init(&t, expected_entries, combine, combine == mpimr_combine_sum_u64 ? NULL : &calls), MPIMR_OK);
  size_t initial_slots = t.slot_mask + 1, initial_arena = t.arena_capacity;
  uint64_t *expected = calloc(distinct, sizeof *expected);
  unsigned *emitted = calloc(distinct, sizeof *emitted);
  assert_non_null(expected);
  assert_non_null(emitted);
  unsigned char key[32], value[8];
  for (unsigned i = 0; i < emits; i++) {
    /* The first `distinct` emits insert every key once; the rest repeat keys, skewed to low ids. */
    unsigned id =
        i < distinct ? i : (unsigned)(rng_below(4) ? rng_below(distinct / 16 + 1) : rng_below(distinct));
    uint64_t v = rng_next() >> 8;
    size_t key_len = make_key(id, key);
    mpimr_put_u64(value, v);
    assert_int_equal(table_upsert(&t, hash_of(kind, key, key_len), key, key_len, value, 8, (int)(id % 7)),
                     MPIMR_OK);
    expected[id] += v;
    emitted[id]++;
  }
  assert_int_equal(t.live_entries, distinct);
  /* The table had to grow both its slots and its arena. */
  assert_true(t.slot_mask + 1 > initial_slots);
  assert_true(t.arena_capacity > initial_arena);
  assert_true(t.live_entries * 2 <= t.slot_mask + 1);

  unsigned *seen = calloc(distinct, sizeof *seen);
  assert_non_null(seen);
  size_t visited = 0;
  for (const table_entry *e = table_first(&t); e; e = table_next(&t, e)) {
    unsigned id = key_id(e->data, e->key_len);
    assert_true(id < distinct);
    assert_int_equal(seen[id], 0);
    seen[id] = 1;
    visited++;
    assert_int_equal(e->value_len, 8);
    assert_true(mpimr_get_u64(e->data + e->key_len) == expected[id]);
    assert_int_equal(e->dest, (int)(id % 7));
    assert_true(e->hash == hash_of(kind, e->data, e->key_len));
  }
  assert_int_equal(visited, distinct);
  if (combine != mpimr_combine_sum_u64) assert_true(calls == (uint64_t)emits - distinct);
  free(seen);
  free(expected);
  free(emitted);
  table_destroy(&t);
}

static void test_sum_builtin_many_keys(void **state) {
  (void)state;
  run_sums(mpimr_combine_sum_u64, HASH_REAL, 60000, 200000, 16);
}

static void test_sum_generic_many_keys(void **state) {
  (void)state;
  run_sums(combine_sum_generic, HASH_REAL, 30000, 100000, 1);
}

/* Few distinct hashes and tags: every lookup must compare keys, not trust the hash. */
static void test_sum_colliding_hashes(void **state) {
  (void)state;
  run_sums(mpimr_combine_sum_u64, HASH_COLLIDING, 1500, 6000, 1);
  run_sums(combine_sum_generic, HASH_COLLIDING, 1500, 6000, 1);
}

static void test_clear_empties(void **state) {
  (void)state;
  kv_table t;
  assert_int_equal(table_init(&t, 4, mpimr_combine_sum_u64, NULL), MPIMR_OK);
  unsigned char key[32], value[8];
  for (int round = 0; round < 3; round++) {
    for (unsigned id = 0; id < 2000; id++) {
      size_t key_len = make_key(id, key);
      mpimr_put_u64(value, id + (uint64_t)round);
      assert_int_equal(table_upsert(&t, mpimr_hash64(key, key_len, 0), key, key_len, value, 8, 0), MPIMR_OK);
      assert_int_equal(table_upsert(&t, mpimr_hash64(key, key_len, 0), key, key_len, value, 8, 0), MPIMR_OK);
    }
    size_t visited = 0;
    for (const table_entry *e = table_first(&t); e; e = table_next(&t, e)) {
      unsigned id = key_id(e->data, e->key_len);
      /* Only this round's values: the clear forgot the previous rounds. */
      assert_true(mpimr_get_u64(e->data + e->key_len) == 2 * (id + (uint64_t)round));
      visited++;
    }
    assert_int_equal(visited, 2000);
    size_t slots = t.slot_mask + 1, arena = t.arena_capacity;
    table_clear(&t);
    assert_null(table_first(&t));
    assert_int_equal(t.live_entries, 0);
    assert_int_equal(t.arena_used, 0);
    /* Memory is kept. */
    assert_int_equal(t.slot_mask + 1, slots);
    assert_int_equal(t.arena_capacity, arena);
    for (size_t i = 0; i <= t.slot_mask; i++) assert_true(t.slots[i] == 0);
  }
  table_destroy(&t);
}

/*
 * A combiner that appends `in` to `acc`. As the contract asks, when the result does not fit
 * `acc_cap` it returns the length needed without touching `acc`.
 */
typedef struct concat_stats {
  uint64_t calls;
  uint64_t too_small;
} concat_stats;

static long long combine_concat(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                size_t acc_cap, const void *in, size_t in_len) {
  (void)key;
  (void)key_len;
  concat_stats *stats = user;
  stats->calls++;
  if (acc_len + in_len > acc_cap) {
    stats->too_small++;
    return (long long)(acc_len + in_len);
  }
  memcpy((unsigned char *)acc + acc_len, in, in_len);
  return (long long)(acc_len + in_len);
}

typedef struct byte_string {
  unsigned char *bytes;
  size_t length;
  size_t capacity;
} byte_string;

static void append(byte_string *s, const unsigned char *bytes, size_t n) {
  if (s->length + n > s->capacity) {
    size_t capacity = s->capacity ? s->capacity * 2 : 64;
    while (capacity < s->length + n) capacity *= 2;
    s->bytes = realloc(s->bytes, capacity);
    assert_non_null(s->bytes);
    s->capacity = capacity;
  }
  if (n) memcpy(s->bytes + s->length, bytes, n);
  s->length += n;
}

/*
 * Growing values move entries to the arena's end, leaving dead entries; the
 * moves happen while the arena itself has to grow (the table starts small).
 * Regression test: entry_combine() once copied the key and old value from
 * the arena after reserving room, which may move it (a use-after-free that
 * AddressSanitizer and valgrind report; in a plain build main() turns on
 * glibc's M_PERTURB so freed memory is overwritten and the copy comes out wrong).
 */
static void check_concat(hash_kind kind, unsigned distinct, unsigned emits, size_t expected_entries) {
  kv_table t;
  concat_stats stats = {0, 0};
  assert_int_equal(table_init(&t, expected_entries, combine_concat, &stats), MPIMR_OK);
  byte_string *expected = calloc(distinct, sizeof *expected);
  unsigned char *present = calloc(distinct, 1);
  assert_non_null(expected);
  assert_non_null(present);
  unsigned char key[32], chunk[64];
  for (unsigned i = 0; i < emits; i++) {
    unsigned id = (unsigned)(rng_below(3) ? rng_below(distinct / 8 + 1) : rng_below(distinct));
    size_t key_len = make_key(id, key);
    size_t n = rng_below(5) == 0 ? 0 : rng_below(sizeof chunk);
    for (size_t k = 0; k < n; k++) chunk[k] = (unsigned char)rng_next();
    assert_int_equal(table_upsert(&t, hash_of(kind, key, key_len), key, key_len, chunk, n, (int)id),
                     MPIMR_OK);
    append(&expected[id], chunk, n);
    present[id] = 1;
  }
  unsigned live = 0;
  for (unsigned id = 0; id < distinct; id++) live += present[id];
  assert_int_equal(t.live_entries, live);
  /* The test did exercise moves: the combiner was asked for room, and dead entries occupy the arena. */
  assert_true(stats.too_small > 0);
  assert_true(t.arena_used > live_entry_bytes(&t));

  unsigned char *seen = calloc(distinct, 1);
  assert_non_null(seen);
  unsigned visited = 0;
  for (const table_entry *e = table_first(&t); e; e = table_next(&t, e)) {
    assert_true(e->dest != TABLE_DEAD_ENTRY);
    unsigned id = key_id(e->data, e->key_len);
    assert_true(id < distinct && present[id]);
    assert_int_equal(seen[id], 0);
    seen[id] = 1;
    visited++;
    assert_int_equal(e->dest, (int)id);
    assert_true(e->value_len <= e->value_cap);
    assert_int_equal(e->value_len, expected[id].length);
    if (e->value_len) assert_memory_equal(e->data + e->key_len, expected[id].bytes, e->value_len);
  }
  assert_int_equal(visited, live);
  for (unsigned id = 0; id < distinct; id++) free(expected[id].bytes);
  free(expected);
  free(present);
  free(seen);
  table_destroy(&t);
}

static void test_concat_moves_entries(void **state) {
  (void)state;
  check_concat(HASH_REAL, 400, 20000, 1);
}

static void test_concat_colliding_hashes(void **state) {
  (void)state;
  check_concat(HASH_COLLIDING, 200, 6000, 1);
}

static void test_zero_length_keys_and_values(void **state) {
  (void)state;
  kv_table t;
  concat_stats stats = {0, 0};
  assert_int_equal(table_init(&t, 1, combine_concat, &stats), MPIMR_OK);
  uint64_t h0 = mpimr_hash64("", 0, 0);
  /* The empty key with an empty value, then with more empty values: still one empty entry. */
  assert_int_equal(table_upsert(&t, h0, "", 0, "", 0, 3), MPIMR_OK);
  assert_int_equal(table_upsert(&t, h0, "", 0, "", 0, 3), MPIMR_OK);
  /* A non-empty key with an empty value, then a value appended. */
  assert_int_equal(table_upsert(&t, mpimr_hash64("x", 1, 0), "x", 1, "", 0, 1), MPIMR_OK);
  assert_int_equal(table_upsert(&t, mpimr_hash64("x", 1, 0), "x", 1, "abc", 3, 1), MPIMR_OK);
  /* A one-byte key "\0" is not the empty key. */
  assert_int_equal(table_upsert(&t, mpimr_hash64("\0", 1, 0), "\0", 1, "z", 1, 2), MPIMR_OK);
  /* The empty key then receives a long value (forcing a move). */
  unsigned char long_value[100];
  for (size_t i = 0; i < sizeof long_value; i++) long_value[i] = (unsigned char)i;
  assert_int_equal(table_upsert(&t, h0, "", 0, long_value, sizeof long_value, 3), MPIMR_OK);
  assert_int_equal(t.live_entries, 3);

  int seen_empty = 0, seen_x = 0, seen_zero = 0;
  for (const table_entry *e = table_first(&t); e; e = table_next(&t, e)) {
    if (e->key_len == 0) {
      seen_empty++;
      assert_int_equal(e->value_len, sizeof long_value);
      assert_memory_equal(e->data, long_value, sizeof long_value);
    } else if (e->key_len == 1 && e->data[0] == 'x') {
      seen_x++;
      assert_int_equal(e->value_len, 3);
      assert_memory_equal(e->data + 1, "abc", 3);
    } else {
      assert_int_equal(e->key_len, 1);
      assert_int_equal(e->data[0], 0);
      seen_zero++;
      assert_int_equal(e->value_len, 1);
      assert_int_equal(e->data[1], 'z');
    }
  }
  assert_int_equal(seen_empty, 1);
  assert_int_equal(seen_x, 1);
  assert_int_equal(seen_zero, 1);
  table_destroy(&t);

  /* The built-in sum with the empty key. */
  assert_int_equal(table_init(&t, 1, mpimr_combine_sum_u64, NULL), MPIMR_OK);
  unsigned char value[8];
  uint64_t sum = 0;
  for (uint64_t i = 1; i <= 100; i++) {
    mpimr_put_u64(value, i * i);
    sum += i * i;
    assert_int_equal(table_upsert(&t, h0, "", 0, value, 8, -1), MPIMR_OK);
  }
  const table_entry *e = table_first(&t);
  assert_non_null(e);
  assert_int_equal(e->key_len, 0);
  assert_true(mpimr_get_u64(e->data) == sum);
  assert_int_equal(e->dest, -1);
  assert_null(table_next(&t, e));
  table_destroy(&t);
}

static long long combine_fail(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                              size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  (void)acc;
  (void)acc_len;
  (void)acc_cap;
  (void)in;
  (void)in_len;
  return -1;
}

/* Asks for more room, then fails once given it (the second call of a move). */
static long long combine_fail_after_room(void *user, const void *key, size_t key_len, void *acc,
                                         size_t acc_len, size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  (void)acc;
  (void)in;
  if (acc_len + in_len > acc_cap) return (long long)(acc_len + in_len);
  return -1;
}

static void test_combiner_error(void **state) {
  (void)state;
  kv_table t;
  unsigned char value[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(table_init(&t, 1, combine_fail, NULL), MPIMR_OK);
  /* The first insert of a key does not combine; the second does and fails. */
  assert_int_equal(table_upsert(&t, 42, "key", 3, value, 8, 0), MPIMR_OK);
  assert_int_equal(table_upsert(&t, 42, "key", 3, value, 8, 0), MPIMR_ERR_USER);
  /* The value is unchanged. */
  const table_entry *e = table_first(&t);
  assert_non_null(e);
  assert_true(mpimr_get_u64(e->data + 3) == 1);
  table_destroy(&t);

  assert_int_equal(table_init(&t, 1, combine_fail_after_room, NULL), MPIMR_OK);
  unsigned char big[200] = {0};
  assert_int_equal(table_upsert(&t, 7, "k", 1, value, 8, 0), MPIMR_OK);
  assert_int_equal(table_upsert(&t, 7, "k", 1, big, sizeof big, 0), MPIMR_ERR_USER);
  table_destroy(&t);

  /* The built-in sum refuses values that are not 8 bytes. */
  assert_int_equal(table_init(&t, 1, mpimr_combine_sum_u64, NULL), MPIMR_OK);
  assert_int_equal(table_upsert(&t, 9, "n", 1, value, 8, 0), MPIMR_OK);
  assert_int_equal(table_upsert(&t, 9, "n", 1, value, 4, 0), MPIMR_ERR_USER);
  table_destroy(&t);
}

/* mpimr_combine_sum_f64 adds doubles in the order they come, as C does, and refuses other sizes. */
static void test_sum_f64(void **state) {
  (void)state;
  kv_table t;
  assert_int_equal(table_init(&t, 16, mpimr_combine_sum_f64, NULL), MPIMR_OK);
  double want[5] = {0};
  for (unsigned i = 0; i < 1000; i++) {
    unsigned char key = (unsigned char)(i % 5), value[8];
    double x = 0.1 * (double)(i % 7) - 0.25 + 1e-3 * (double)i;
    want[key] = i < 5 ? x : want[key] + x;
    mpimr_put_f64(value, x);
    assert_int_equal(table_upsert(&t, mpimr_hash64(&key, 1, 0), &key, 1, value, 8, 0), MPIMR_OK);
  }
  unsigned seen = 0;
  for (const table_entry *e = table_first(&t); e != NULL; e = table_next(&t, e), seen++) {
    assert_int_equal(e->key_len, 1);
    double got = mpimr_get_f64(e->data + 1);
    assert_memory_equal(&got, &want[e->data[0]], sizeof got); /* bit for bit: the same additions */
  }
  assert_int_equal(seen, 5);
  unsigned char short_value[4] = {0};
  assert_int_equal(table_upsert(&t, mpimr_hash64("\0", 1, 0), "\0", 1, short_value, 4, 0), MPIMR_ERR_USER);
  table_destroy(&t);
}

/* Folds `count` values of 8 bytes into one key with `combine`, through the table as a job does. */
static void fold_through_table(mpimr_combine_fn combine, const unsigned char (*values)[8], unsigned count,
                               unsigned char folded[8]) {
  kv_table t;
  assert_int_equal(table_init(&t, 16, combine, NULL), MPIMR_OK);
  for (unsigned i = 0; i < count; i++)
    assert_int_equal(table_upsert(&t, mpimr_hash64("k", 1, 0), "k", 1, values[i], 8, 0), MPIMR_OK);
  const table_entry *e = table_first(&t);
  assert_non_null(e);
  memcpy(folded, e->data + 1, 8);
  table_destroy(&t);
}

/* The minimum and maximum combiners keep the extreme value, whatever the order; NaN is ignored. */
static void test_min_max(void **state) {
  (void)state;
  enum { COUNT = 300 };
  unsigned char numbers[COUNT][8], doubles[COUNT][8], folded[8];
  uint64_t least = UINT64_MAX, most = 0;
  double low = INFINITY, high = -INFINITY;
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (unsigned i = 0; i < COUNT; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint64_t n = i == 0 ? UINT64_MAX : x >> (i % 40);
    mpimr_put_u64(numbers[i], n);
    least = n < least ? n : least;
    most = n > most ? n : most;
    double d = i % 50 == 3 ? NAN : (double)(int64_t)x * 1e-12;
    mpimr_put_f64(doubles[i], d);
    if (d == d) {
      low = d < low ? d : low;
      high = d > high ? d : high;
    }
  }
  fold_through_table(mpimr_combine_min_u64, numbers, COUNT, folded);
  assert_true(mpimr_get_u64(folded) == least);
  fold_through_table(mpimr_combine_max_u64, numbers, COUNT, folded);
  assert_true(mpimr_get_u64(folded) == most);
  fold_through_table(mpimr_combine_min_f64, doubles, COUNT, folded);
  assert_true(mpimr_get_f64(folded) == low);
  fold_through_table(mpimr_combine_max_f64, doubles, COUNT, folded);
  assert_true(mpimr_get_f64(folded) == high);
  /* Starting from a NaN (value 3 is one) still ends at the extreme. */
  fold_through_table(mpimr_combine_max_f64, doubles + 3, COUNT - 3, folded);
  assert_true(mpimr_get_f64(folded) == high);
  unsigned char value[8] = {0};
  assert_true(mpimr_combine_min_u64(NULL, "k", 1, value, 8, 8, value, 4) < 0);
  assert_true(mpimr_combine_max_f64(NULL, "k", 1, value, 4, 8, value, 8) < 0);
}

/* mpimr_format_f64 prints enough digits to read the same double back, and asks for room. */
static void test_format_f64(void **state) {
  (void)state;
  const double samples[] = {0.1, -2.5e-300, 1.0 / 3.0, 123456789012345678.0, 0.0};
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
    unsigned char value[8];
    mpimr_put_f64(value, samples[i]);
    char text[40];
    long long n = mpimr_format_f64(NULL, value, 8, text, sizeof text - 1);
    assert_true(n > 0 && n < (long long)sizeof text);
    text[n] = '\0';
    assert_true(strtod(text, NULL) == samples[i]);
    char small[2];
    assert_int_equal(mpimr_format_f64(NULL, value, 8, small, sizeof small), n); /* the length needed */
  }
  assert_true(mpimr_format_f64(NULL, "1234", 4, NULL, 0) < 0);
}

int main(void) {
#ifdef M_PERTURB
  /* Overwrite freed memory, so a read through a stale arena pointer shows up as wrong data. */
  mallopt(M_PERTURB, 0xa5);
#endif
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sum_builtin_many_keys),
      cmocka_unit_test(test_sum_generic_many_keys),
      cmocka_unit_test(test_sum_colliding_hashes),
      cmocka_unit_test(test_clear_empties),
      cmocka_unit_test(test_zero_length_keys_and_values),
      cmocka_unit_test(test_combiner_error),
      cmocka_unit_test(test_sum_f64),
      cmocka_unit_test(test_min_max),
      cmocka_unit_test(test_format_f64),
      /* Last: under AddressSanitizer the use-after-free they expose ends the program. */
      cmocka_unit_test(test_concat_moves_entries),
      cmocka_unit_test(test_concat_colliding_hashes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
