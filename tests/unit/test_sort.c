/*
 * tests/unit/test_sort.c — sort_items() of kv/sort.h against qsort with a
 * comparator written here (memcmp over the shorter length, then the shorter
 * key first), on counts on both sides of the radix threshold, keys that are
 * prefixes of each other, keys with zero bytes and many duplicates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "../common/test_rng.h"
#include "kv/sort.h"

static test_rng rng = {0xfeedfacecafebeefull};

static uint64_t rng_next(void) { return test_rng_next(&rng); }

static size_t rng_below(size_t n) { return test_rng_below(&rng, n); }

enum { MAX_KEY = 20, VALUE_BYTES = 3 };

/* The first 8 key bytes, big-endian, zero-padded: computed byte by byte here. */
static uint64_t reference_prefix(const unsigned char *key, size_t len) {
  unsigned char padded[8] = {0};
  memcpy(padded, key, len < 8 ? len : 8);
  uint64_t prefix = 0;
  for (int i = 0; i < 8; i++) prefix = prefix * 256 + padded[i];
  return prefix;
}

static int reference_compare_keys(const unsigned char *a, size_t a_len, const unsigned char *b,
                                  size_t b_len) {
  size_t n = a_len < b_len ? a_len : b_len;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0) return c;
  return a_len < b_len ? -1 : a_len > b_len ? 1 : 0;
}

static int reference_compare_items(const void *a, const void *b) {
  const sort_item *x = a, *y = b;
  return reference_compare_keys(x->key, x->key_len, y->key, y->key_len);
}

static int compare_item_addresses(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const sort_item *)a)->key, y = (uintptr_t)((const sort_item *)b)->key;
  return (x > y) - (x < y);
}

/* How the keys of a case are made. */
typedef enum key_shape {
  SHAPE_SMALL_ALPHABET, /* Bytes from {0, 1, 'a', 0xff}, lengths 0..20: prefixes and zero bytes everywhere. */
  SHAPE_RANDOM,         /* Random bytes, lengths 0..20. */
  SHAPE_FEW_DISTINCT,   /* Drawn from 12 distinct keys (many duplicates). */
  SHAPE_SHARED_PREFIX,  /* All start with the same 8 bytes: every radix pass is skipped. */
  SHAPE_ONE_KEY,        /* Every item has the same key. */
  SHAPE_RARE_OUTLIERS   /* One key, except that about one item in 300 differs in one of its first 8 bytes. */
} key_shape;

static size_t make_key(key_shape shape, unsigned char *key, const unsigned char (*pool)[MAX_KEY],
                       const size_t *pool_lens) {
  static const unsigned char alphabet[] = {0x00, 0x01, 'a', 0xff};
  size_t len = rng_below(MAX_KEY + 1);
  switch (shape) {
    case SHAPE_SMALL_ALPHABET:
      for (size_t i = 0; i < len; i++) key[i] = alphabet[rng_below(sizeof alphabet)];
      return len;
    case SHAPE_RANDOM:
      for (size_t i = 0; i < len; i++) key[i] = (unsigned char)rng_next();
      return len;
    case SHAPE_FEW_DISTINCT: {
      size_t k = rng_below(12);
      memcpy(key, pool[k], pool_lens[k]);
      return pool_lens[k];
    }
    case SHAPE_SHARED_PREFIX:
      len = 8 + rng_below(MAX_KEY - 8 + 1);
      memcpy(key, "PREFIX\0!", 8);
      for (size_t i = 8; i < len; i++) key[i] = alphabet[rng_below(sizeof alphabet)];
      return len;
    case SHAPE_ONE_KEY: memcpy(key, "same-key-longer-than-8", 20); return 20;
    case SHAPE_RARE_OUTLIERS:
      memcpy(key, "KKKKKKKKKK", 10);
      /* A byte that (almost) every item shares must still be sorted on when a single item differs. */
      if (rng_below(300) == 0) key[rng_below(8)] = rng_below(2) ? 'A' : 'Z';
      return 10;
  }
  return 0;
}

/* Sorts `count` items of `shape` with sort_items() and checks the result against qsort. */
static void check_sort(size_t count, key_shape shape) {
  /* The pool of distinct keys includes the empty key, "a", "a\0", "a\0\0" and keys past 8 bytes. */
  unsigned char pool[12][MAX_KEY] = {"",   "a",    "a\0",      "a\0\0",      "ab",        "b",
                                     "\0", "\0\0", "abcdefgh", "abcdefgh\0", "abcdefghi", "\xff\xff"};
  size_t pool_lens[12] = {0, 1, 2, 3, 2, 1, 1, 2, 8, 9, 9, 2};

  /* Each item has its own storage (key then value), so its key address identifies it. */
  size_t stride = MAX_KEY + VALUE_BYTES;
  unsigned char *storage = malloc(count * stride + 1);
  sort_item *items = malloc(count * sizeof *items + 1);
  sort_item *scratch = malloc(count * sizeof *scratch + 1);
  sort_item *expected = malloc(count * sizeof *expected + 1);
  sort_item *original = malloc(count * sizeof *original + 1);
  assert_non_null(storage);
  assert_non_null(items);
  assert_non_null(scratch);
  assert_non_null(expected);
  assert_non_null(original);
  for (size_t i = 0; i < count; i++) {
    unsigned char *key = storage + i * stride;
    size_t len = make_key(shape, key, (const unsigned char(*)[MAX_KEY])pool, pool_lens);
    for (size_t v = 0; v < VALUE_BYTES; v++) key[len + v] = (unsigned char)(i >> (8 * v));
    uint64_t prefix = reference_prefix(key, len);
    assert_true(sort_key_prefix(key, len) == prefix);
    items[i] = (sort_item){prefix, key, (uint32_t)len, (uint32_t)(i % 5)};
  }
  if (count) {
    memcpy(expected, items, count * sizeof *items);
    memcpy(original, items, count * sizeof *items);
    qsort(expected, count, sizeof *expected, reference_compare_items);
  }

  assert_int_equal(sort_items(items, scratch, count), 0);

  for (size_t i = 0; i < count; i++) {
    /* The same key sequence as the reference (equal keys may come in any order). */
    assert_int_equal(items[i].key_len, expected[i].key_len);
    if (items[i].key_len) assert_memory_equal(items[i].key, expected[i].key, items[i].key_len);
    if (i > 0) assert_true(reference_compare_items(&items[i - 1], &items[i]) <= 0);
    assert_true(items[i].prefix == reference_prefix(items[i].key, items[i].key_len));
  }
  /* A permutation of the input: each item (key address, lengths) exactly once, fields intact. */
  if (count) {
    qsort(items, count, sizeof *items, compare_item_addresses);
    qsort(original, count, sizeof *original, compare_item_addresses);
    for (size_t i = 0; i < count; i++) {
      assert_ptr_equal(items[i].key, original[i].key);
      assert_int_equal(items[i].key_len, original[i].key_len);
      assert_int_equal(items[i].value_len, original[i].value_len);
      assert_true(items[i].prefix == original[i].prefix);
    }
  }
  free(storage);
  free(items);
  free(scratch);
  free(expected);
  free(original);
}

static const size_t COUNTS[] = {0, 1, 2, 10, 255, 256, 257, 1000, 10000, 100000};

static void run_shape(key_shape shape) {
  for (size_t c = 0; c < sizeof COUNTS / sizeof COUNTS[0]; c++) check_sort(COUNTS[c], shape);
}


static int reference_compare_pairs(const void *a, const void *b) {
  const sort_item *x = a, *y = b;
  int c = reference_compare_keys(x->key, x->key_len, y->key, y->key_len);
  if (c != 0) return c;
  return reference_compare_keys(x->key + x->key_len, x->value_len, y->key + y->key_len, y->value_len);
}

enum { MAX_PAIR_VALUE = 12 };

/* Sorts by key then value (the order of a store without a combiner) and by key then address
 * (stable), and checks both against qsort with the reference comparators. */
static void check_pair_sort(size_t count, key_shape shape) {
  unsigned char pool[12][MAX_KEY] = {"",   "a",    "a\0",      "a\0\0",      "ab",        "b",
                                     "\0", "\0\0", "abcdefgh", "abcdefgh\0", "abcdefghi", "\xff\xff"};
  size_t pool_lens[12] = {0, 1, 2, 3, 2, 1, 1, 2, 8, 9, 9, 2};
  size_t stride = MAX_KEY + MAX_PAIR_VALUE;
  unsigned char *storage = malloc(count * stride + 1);
  sort_item *items = malloc(count * sizeof *items + 1), *scratch = malloc(count * sizeof *scratch + 1);
  sort_item *expected = malloc(count * sizeof *expected + 1);
  static const unsigned char value_bytes[] = {0x00, 0x01, 'v', 0xff};
  for (size_t i = 0; i < count; i++) {
    unsigned char *key = storage + i * stride;
    size_t len = make_key(shape, key, (const unsigned char(*)[MAX_KEY])pool, pool_lens);
    size_t value_len = rng_below(MAX_PAIR_VALUE + 1);
    for (size_t v = 0; v < value_len; v++) key[len + v] = value_bytes[rng_below(sizeof value_bytes)];
    items[i] = (sort_item){reference_prefix(key, len), key, (uint32_t)len, (uint32_t)value_len};
  }
  for (int stable = 0; stable < 2; stable++) {
    int (*compare)(const void *, const void *) = stable ? sort_item_compare_stable : sort_item_compare_pair;
    if (count) memcpy(expected, items, count * sizeof *items);
    qsort(expected, count, sizeof *expected, stable ? compare_item_addresses : reference_compare_pairs);
    if (stable) qsort(expected, count, sizeof *expected, reference_compare_items); /* glibc's is a merge sort */
    /* qsort is not promised stable: order equal keys by address explicitly. */
    for (size_t i = 1; stable && i < count; i++)
      for (size_t j = i; j > 0 && reference_compare_items(&expected[j - 1], &expected[j]) == 0 &&
                         compare_item_addresses(&expected[j - 1], &expected[j]) > 0;
           j--) {
        sort_item swap = expected[j];
        expected[j] = expected[j - 1];
        expected[j - 1] = swap;
      }
    sort_item *work = malloc(count * sizeof *work + 1);
    if (count) memcpy(work, items, count * sizeof *items);
    assert_int_equal(sort_items_with(work, scratch, count, compare), 0);
    for (size_t i = 0; i < count; i++) {
      assert_true(work[i].prefix == reference_prefix(work[i].key, work[i].key_len));
      if (stable)
        assert_ptr_equal(work[i].key, expected[i].key);
      else
        assert_int_equal(reference_compare_pairs(&work[i], &expected[i]), 0);
    }
    free(work);
  }
  free(storage);
  free(items);
  free(scratch);
  free(expected);
}

static void test_pair_and_stable_order(void **state) {
  (void)state;
  static const size_t counts[] = {0, 1, 2, 255, 256, 300, 5000, 40000};
  static const key_shape shapes[] = {SHAPE_FEW_DISTINCT, SHAPE_ONE_KEY, SHAPE_SMALL_ALPHABET, SHAPE_SHARED_PREFIX};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) check_pair_sort(counts[c], shapes[s]);
}

/* ---- orders given by comparators (sort_items_ordered) ---- */

static int reverse_bytes(void *user, const void *a, size_t a_len, const void *b, size_t b_len) {
  (void)user;
  return reference_compare_keys(b, b_len, a, a_len);
}

/* Which of key and value order the cases reverse through a comparator. */
static int reversed_keys, reversed_values;

static int reference_ordered(const void *a, const void *b) {
  const sort_item *x = a, *y = b;
  int c = reversed_keys ? reference_compare_keys(y->key, y->key_len, x->key, x->key_len)
                        : reference_compare_keys(x->key, x->key_len, y->key, y->key_len);
  if (c != 0) return c;
  const unsigned char *xv = x->key + x->key_len, *yv = y->key + y->key_len;
  return reversed_values ? reference_compare_keys(yv, y->value_len, xv, x->value_len)
                         : reference_compare_keys(xv, x->value_len, yv, y->value_len);
}

/* Sorts pairs by comparators (keys, values or both reversed) and checks against qsort. */
static void check_ordered_sort(size_t count, key_shape shape) {
  unsigned char pool[12][MAX_KEY] = {"",   "a",    "a\0",      "a\0\0",      "ab",        "b",
                                     "\0", "\0\0", "abcdefgh", "abcdefgh\0", "abcdefghi", "\xff\xff"};
  size_t pool_lens[12] = {0, 1, 2, 3, 2, 1, 1, 2, 8, 9, 9, 2};
  size_t stride = MAX_KEY + MAX_PAIR_VALUE;
  unsigned char *storage = malloc(count * stride + 1);
  sort_item *items = malloc(count * sizeof *items + 1), *scratch = malloc(count * sizeof *scratch + 1);
  sort_item *work = malloc(count * sizeof *work + 1);
  for (size_t i = 0; i < count; i++) {
    unsigned char *key = storage + i * stride;
    size_t len = make_key(shape, key, (const unsigned char(*)[MAX_KEY])pool, pool_lens);
    size_t value_len = rng_below(MAX_PAIR_VALUE + 1);
    for (size_t v = 0; v < value_len; v++) key[len + v] = (unsigned char)rng_below(3);
    items[i] = (sort_item){reference_prefix(key, len), key, (uint32_t)len, (uint32_t)value_len};
  }
  for (int variant = 0; variant < 3; variant++) {
    reversed_keys = variant != 1;
    reversed_values = variant != 0;
    kv_order order = {reversed_keys ? reverse_bytes : NULL, reversed_values ? reverse_bytes : NULL, NULL};
    if (count) memcpy(work, items, count * sizeof *items);
    assert_int_equal(sort_items_ordered(work, scratch, count, SORT_TIES_VALUE, &order), 0);
    for (size_t i = 1; i < count; i++) assert_true(reference_ordered(&work[i - 1], &work[i]) <= 0);
    for (size_t i = 0; i < count; i++)
      assert_int_equal(sort_item_compare_ordered(&work[i], &work[i], SORT_TIES_VALUE, &order), 0);
    /* The same pairs, none lost or doubled: as a multiset, compare with the input sorted by qsort. */
    sort_item *expected = malloc(count * sizeof *expected + 1);
    if (count) memcpy(expected, items, count * sizeof *items);
    qsort(expected, count, sizeof *expected, reference_ordered);
    for (size_t i = 0; i < count; i++) assert_int_equal(reference_ordered(&work[i], &expected[i]), 0);
    free(expected);
  }
  free(storage);
  free(items);
  free(scratch);
  free(work);
}

static void test_ordered_by_comparators(void **state) {
  (void)state;
  static const size_t counts[] = {0, 1, 2, 17, 255, 256, 300, 5000, 40000};
  static const key_shape shapes[] = {SHAPE_FEW_DISTINCT, SHAPE_ONE_KEY, SHAPE_SMALL_ALPHABET, SHAPE_RANDOM};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) check_ordered_sort(counts[c], shapes[s]);
}

static void test_small_alphabet(void **state) {
  (void)state;
  run_shape(SHAPE_SMALL_ALPHABET);
}

static void test_random_bytes(void **state) {
  (void)state;
  run_shape(SHAPE_RANDOM);
}

static void test_few_distinct_duplicates(void **state) {
  (void)state;
  run_shape(SHAPE_FEW_DISTINCT);
}

static void test_shared_prefix(void **state) {
  (void)state;
  run_shape(SHAPE_SHARED_PREFIX);
}

static void test_one_key(void **state) {
  (void)state;
  run_shape(SHAPE_ONE_KEY);
}

static void test_rare_outliers(void **state) {
  (void)state;
  run_shape(SHAPE_RARE_OUTLIERS);
  /* Exactly one item differs, in each byte position, at the front, the back and the middle. */
  for (int position = 0; position < 8; position++) {
    for (int where = 0; where < 3; where++) {
      enum { N = 1000 };
      static unsigned char keys[N][8];
      static sort_item items[N], scratch[N];
      size_t odd = where == 0 ? 0 : where == 1 ? N - 1 : N / 2;
      for (size_t i = 0; i < N; i++) {
        memset(keys[i], 'M', 8);
        if (i == odd) keys[i][position] = (where == 1) ? 'A' : 'Z';
        items[i] = (sort_item){reference_prefix(keys[i], 8), keys[i], 8, 0};
      }
      assert_int_equal(sort_items(items, scratch, N), 0);
      /* 'A' goes first, 'Z' goes last. */
      const sort_item *moved = where == 1 ? &items[0] : &items[N - 1];
      assert_ptr_equal(moved->key, keys[odd]);
      for (size_t i = 1; i < N; i++) assert_true(reference_compare_items(&items[i - 1], &items[i]) <= 0);
    }
  }
}

/* Input already sorted and reverse sorted, above the threshold. */
static void test_presorted_inputs(void **state) {
  (void)state;
  enum { N = 5000 };
  static unsigned char storage[N][8];
  static sort_item items[N], scratch[N];
  for (int direction = 0; direction < 2; direction++) {
    for (size_t i = 0; i < N; i++) {
      uint32_t v = (uint32_t)(direction == 0 ? i : N - 1 - i);
      /* Big-endian 4-byte keys of varying length: 4 bytes, and 5 with a trailing zero for odd v. */
      storage[i][0] = (unsigned char)(v >> 24);
      storage[i][1] = (unsigned char)(v >> 16);
      storage[i][2] = (unsigned char)(v >> 8);
      storage[i][3] = (unsigned char)v;
      storage[i][4] = 0;
      size_t len = 4 + (v & 1);
      items[i] = (sort_item){reference_prefix(storage[i], len), storage[i], (uint32_t)len, 0};
    }
    assert_int_equal(sort_items(items, scratch, N), 0);
    for (size_t i = 0; i < N; i++) {
      uint32_t v = (uint32_t)items[i].key[0] << 24 | (uint32_t)items[i].key[1] << 16 |
                   (uint32_t)items[i].key[2] << 8 | items[i].key[3];
      assert_int_equal(v, i);
    }
  }
}

/* sort_item_compare agrees with the reference order in sign. */
static void test_item_compare(void **state) {
  (void)state;
  static const unsigned char alphabet[] = {0x00, 0x01, 'a', 0xff};
  for (int i = 0; i < 100000; i++) {
    unsigned char a[MAX_KEY], b[MAX_KEY];
    size_t a_len = rng_below(12), b_len = rng_below(12);
    for (size_t k = 0; k < a_len; k++) a[k] = alphabet[rng_below(sizeof alphabet)];
    for (size_t k = 0; k < b_len; k++)
      b[k] = rng_below(2) && k < a_len ? a[k] : alphabet[rng_below(sizeof alphabet)];
    sort_item x = {reference_prefix(a, a_len), a, (uint32_t)a_len, 0};
    sort_item y = {reference_prefix(b, b_len), b, (uint32_t)b_len, 0};
    int expected = reference_compare_keys(a, a_len, b, b_len);
    int got = sort_item_compare(&x, &y);
    assert_int_equal((got > 0) - (got < 0), (expected > 0) - (expected < 0));
  }
  /* "a" before "a\0" (same prefix, shorter first). */
  sort_item a = {reference_prefix((const unsigned char *)"a", 1), (const unsigned char *)"a", 1, 0};
  sort_item a0 = {reference_prefix((const unsigned char *)"a\0", 2), (const unsigned char *)"a\0", 2, 0};
  assert_true(a.prefix == a0.prefix);
  assert_true(sort_item_compare(&a, &a0) < 0);
  assert_true(sort_item_compare(&a0, &a) > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_alphabet),
      cmocka_unit_test(test_pair_and_stable_order),
      cmocka_unit_test(test_ordered_by_comparators),
      cmocka_unit_test(test_random_bytes),
      cmocka_unit_test(test_few_distinct_duplicates),
      cmocka_unit_test(test_shared_prefix),
      cmocka_unit_test(test_one_key),
      cmocka_unit_test(test_rare_outliers),
      cmocka_unit_test(test_presorted_inputs),
      cmocka_unit_test(test_item_compare),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
