/*
 * tests/unit/test_count_table.c — the counting table of kv/count_table.h.
 *
 * Keys are drawn from a pool made here: every length from 0 to 24 bytes
 * (so short keys in the slot, the 7/8-byte boundary and arena keys all
 * occur), random bytes including zeros and 0xff, and keys that differ only
 * in their length (a prefix of another key). The oracle is an array of
 * expected sums indexed by the key's position in the pool; the table's
 * contents are matched back to the pool by a sorted copy of it.
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
#include "kv/count_table.h"
#include "kv/hash.h"
#include "mpimr/error.h"
#include "mpimr/kv.h"

static test_rng rng = {0xc0a7ab1e5eedull};

enum { MAX_KEY = 24 };

typedef struct pool_key {
  unsigned char bytes[MAX_KEY];
  size_t len;
  size_t id;
} pool_key;

static int compare_keys(const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len) {
  size_t n = a_len < b_len ? a_len : b_len;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0) return c;
  return (a_len > b_len) - (a_len < b_len);
}

static int compare_pool(const void *a, const void *b) {
  const pool_key *x = a, *y = b;
  return compare_keys(x->bytes, x->len, y->bytes, y->len);
}

/* About `want` distinct keys (duplicates drawn are dropped; *count says how many are left); every
 * third key drawn is a prefix of the key before it. */
static pool_key *make_pool(size_t want, size_t *count) {
  pool_key *pool = calloc(want, sizeof *pool);
  assert_non_null(pool);
  for (size_t i = 0; i < want; i++) {
    pool_key *k = &pool[i];
    if (i % 3 == 2 && pool[i - 1].len > 0) {
      *k = pool[i - 1];
      k->len--;
      continue;
    }
    k->len = (size_t)test_rng_below(&rng, MAX_KEY + 1);
    for (size_t b = 0; b < k->len; b++) {
      uint64_t r = test_rng_next(&rng) % 8;
      k->bytes[b] = r == 0 ? 0 : r == 1 ? 0xff : (unsigned char)test_rng_next(&rng);
    }
  }
  qsort(pool, want, sizeof *pool, compare_pool);
  size_t n = 0;
  for (size_t i = 0; i < want; i++)
    if (n == 0 || compare_pool(&pool[n - 1], &pool[i]) != 0) pool[n++] = pool[i];
  /* Shuffle, so that ids are not in key order. */
  for (size_t i = n; i > 1; i--) {
    size_t j = test_rng_below(&rng, i);
    pool_key tmp = pool[i - 1];
    pool[i - 1] = pool[j];
    pool[j] = tmp;
  }
  for (size_t i = 0; i < n; i++) pool[i].id = i;
  *count = n;
  return pool;
}

/* The pool position of a key found in the table (via the sorted pool); fails if it is not there. */
static size_t find_in_pool(const pool_key *sorted, size_t count, const unsigned char *key, size_t len) {
  size_t lo = 0, hi = count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = compare_keys(sorted[mid].bytes, sorted[mid].len, key, len);
    if (c == 0) return sorted[mid].id;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  fail_msg("the table holds a key (length %zu) that was never added", len);
  return 0;
}

static int add(count_table *t, const pool_key *k, uint64_t count) {
  return count_table_add(t, hash_bytes(k->bytes, k->len, 0), k->bytes, k->len,
                         count_key_pack(k->bytes, k->len), count);
}

/* Every key the table holds matches the oracle, and every key with adds is in the table once. */
static void check_table(const count_table *t, const pool_key *pool, size_t count, const uint64_t *expected,
                        const int *added) {
  pool_key *sorted = malloc(count * sizeof *sorted);
  int *seen = calloc(count, sizeof *seen);
  assert_non_null(sorted);
  assert_non_null(seen);
  memcpy(sorted, pool, count * sizeof *sorted);
  qsort(sorted, count, sizeof *sorted, compare_pool);
  size_t live = 0;
  for (size_t i = 0; i <= t->mask; i++) {
    if (t->slots[i].key == 0) continue;
    unsigned char scratch[8];
    size_t len;
    const unsigned char *key = count_slot_key(t, &t->slots[i], scratch, &len);
    size_t id = find_in_pool(sorted, count, key, len);
    assert_false(seen[id]);
    seen[id] = 1;
    assert_true(added[id]);
    assert_true(t->slots[i].count == expected[id]);
    live++;
  }
  for (size_t id = 0; id < count; id++) assert_int_equal(seen[id], added[id]);
  assert_int_equal(live, t->live);
  free(sorted);
  free(seen);
}

/* Random adds of random counts (wrapping sums included) from a small start, through many growths. */
static void run_random(size_t want, size_t adds, size_t expected_keys) {
  size_t distinct;
  pool_key *pool = make_pool(want, &distinct);
  uint64_t *expected = calloc(distinct, sizeof *expected);
  int *added = calloc(distinct, sizeof *added);
  assert_non_null(expected);
  assert_non_null(added);
  count_table t;
  assert_int_equal(count_table_init(&t, expected_keys), MPIMR_OK);
  for (size_t i = 0; i < adds; i++) {
    size_t id = test_rng_below(&rng, distinct);
    uint64_t count = i % 97 == 0 ? UINT64_MAX - (uint64_t)i : test_rng_below(&rng, 1000);
    assert_int_equal(add(&t, &pool[id], count), MPIMR_OK);
    expected[id] += count;
    added[id] = 1;
  }
  check_table(&t, pool, distinct, expected, added);
  count_table_destroy(&t);
  free(pool);
  free(expected);
  free(added);
}

static void test_few_keys_many_adds(void **state) {
  (void)state;
  run_random(50, 200000, 1);
}

static void test_many_keys_through_growth(void **state) {
  (void)state;
  run_random(20000, 100000, 16);
}

/* Packing: the 1..7-byte keys get a key word; 0 and 8+ bytes do not; equal words mean equal keys. */
static void test_pack_boundaries(void **state) {
  (void)state;
  unsigned char a[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, b[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  assert_true(count_key_pack(a, 0) == 0);
  assert_true(count_key_pack(a, 8) == 0);
  for (size_t len = 1; len <= COUNT_SHORT_MAX; len++) {
    uint64_t word = count_key_pack(a, len);
    assert_true(word != 0 && !(word & COUNT_LONG_FLAG));
    assert_int_equal(word >> 56, len);
    for (size_t i = 0; i < len; i++) assert_int_equal((word >> (8 * i)) & 0xff, a[i]);
    /* Bytes past the key do not matter; bytes in it do. */
    b[len] ^= 0x55;
    assert_true(count_key_pack(b, len) == word);
    b[len - 1] ^= 0x55;
    assert_true(count_key_pack(b, len) != word);
    memcpy(b, a, sizeof b);
    /* A key of zeros differs from a shorter key of zeros. */
    unsigned char zeros[8] = {0};
    if (len > 1) assert_true(count_key_pack(zeros, len) != count_key_pack(zeros, len - 1));
  }
}

/* The padded path of a counting emit (one 8-byte load and a mask, then the hash of the packed
 * word) gives the same key word and hash as count_key_pack() and hash_bytes() for every short
 * length, whatever the bytes after the key, including all-zero and all-0xff keys. */
static void test_padded_pack_and_short_hash(void **state) {
  (void)state;
  unsigned char buffer[16];
  for (int round = 0; round < 20000; round++) {
    for (size_t i = 0; i < sizeof buffer; i++) buffer[i] = (unsigned char)test_rng_next(&rng);
    if (round % 50 == 0) memset(buffer, round % 100 == 0 ? 0x00 : 0xff, 8);
    for (size_t len = 1; len <= COUNT_SHORT_MAX; len++) {
      uint64_t packed = count_key_pack_padded(buffer, len);
      assert_true(packed == count_key_pack(buffer, len));
      assert_true(hash_packed_short(packed, 0) == hash_bytes(buffer, len, 0));
      assert_true(hash_packed_short(packed, 0) == mpimr_hash64(buffer, len, 0));
    }
  }
}

/* Clearing empties the table and trimming gives back slots; the table works afterwards. */
static void test_clear_and_trim(void **state) {
  (void)state;
  size_t distinct;
  pool_key *pool = make_pool(5000, &distinct);
  count_table t;
  assert_int_equal(count_table_init(&t, 4), MPIMR_OK);
  for (size_t i = 0; i < distinct; i++) assert_int_equal(add(&t, &pool[i], 1), MPIMR_OK);
  assert_true(t.mask + 1 >= 2 * distinct && distinct > 3000);
  assert_int_equal(count_table_clear_and_trim(&t, 16), MPIMR_OK);
  assert_int_equal(t.live, 0);
  assert_true(t.mask + 1 <= 64);
  for (size_t i = 0; i <= t.mask; i++) assert_true(t.slots[i].key == 0);
  uint64_t expected[3] = {7, 8, 9};
  int added[3] = {1, 1, 1};
  for (size_t i = 0; i < 3; i++) assert_int_equal(add(&t, &pool[i], expected[i]), MPIMR_OK);
  check_table(&t, pool, 3, expected, added);
  count_table_destroy(&t);
  free(pool);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pack_boundaries),
      cmocka_unit_test(test_padded_pack_and_short_hash),
      cmocka_unit_test(test_few_keys_many_adds),
      cmocka_unit_test(test_many_keys_through_growth),
      cmocka_unit_test(test_clear_and_trim),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
