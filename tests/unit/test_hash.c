/*
 * tests/unit/test_hash.c — mpimr_hash64: determinism, sensitivity to length
 * and seed, avalanche (each input bit flips each output bit about half the
 * time), and the balance of the default partition rule over generated words.
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
#include "mpimr/kv.h"

static test_rng rng = {0x0ddba11cafef00dull};

static uint64_t rng_next(void) { return test_rng_next(&rng); }

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* The same bytes give the same hash, wherever they lie in memory and however often asked. */
static void test_deterministic(void **state) {
  (void)state;
  unsigned char source[80], shifted[96];
  for (size_t i = 0; i < sizeof source; i++) source[i] = (unsigned char)rng_next();
  for (size_t len = 0; len <= 64; len++) {
    uint64_t first = mpimr_hash64(source, len, 0);
    assert_true(mpimr_hash64(source, len, 0) == first);
    for (size_t at = 1; at < 16; at++) {
      memset(shifted, 0x5a, sizeof shifted);
      memcpy(shifted + at, source, len);
      assert_true(mpimr_hash64(shifted + at, len, 0) == first);
    }
    /* Bytes after the key do not matter. */
    unsigned char tail[80];
    memcpy(tail, source, len);
    for (size_t i = len; i < sizeof tail; i++) tail[i] = (unsigned char)~source[i];
    assert_true(mpimr_hash64(tail, len, 0) == first);
  }
  assert_true(mpimr_hash64(NULL, 0, 7) == mpimr_hash64("", 0, 7));
}

/* Each prefix length 0..64 of one buffer hashes differently from every other (zero bytes and random). */
static void test_lengths_differ(void **state) {
  (void)state;
  unsigned char zeros[64] = {0}, random[64], ones[64];
  for (size_t i = 0; i < sizeof random; i++) random[i] = (unsigned char)rng_next();
  memset(ones, 0xff, sizeof ones);
  const unsigned char *buffers[] = {zeros, random, ones};
  for (size_t b = 0; b < 3; b++) {
    uint64_t h[65];
    for (size_t len = 0; len <= 64; len++) h[len] = mpimr_hash64(buffers[b], len, 0);
    for (size_t len = 0; len < 64; len++) assert_true(h[len] != h[len + 1]);
    qsort(h, 65, sizeof h[0], compare_u64);
    for (size_t i = 1; i < 65; i++) assert_true(h[i] != h[i - 1]);
  }
}

static void test_seed_changes_output(void **state) {
  (void)state;
  unsigned char key[40];
  for (size_t i = 0; i < sizeof key; i++) key[i] = (unsigned char)rng_next();
  for (size_t len = 0; len <= sizeof key; len++) {
    uint64_t h[100];
    for (uint64_t seed = 0; seed < 100; seed++) h[seed] = mpimr_hash64(key, len, seed * 0x100000001ull);
    qsort(h, 100, sizeof h[0], compare_u64);
    for (size_t i = 1; i < 100; i++) assert_true(h[i] != h[i - 1]);
  }
}

/*
 * Avalanche: for every key length 2..40 and every input bit, over TRIALS random keys, each of
 * the 64 output bits flips with a frequency in [0.40, 0.60]. With 1024 trials the standard
 * deviation is 0.016, so the bound is over six deviations away for a good hash.
 *
 * One-byte keys are checked exhaustively instead, with a wider band: there are only 128
 * distinct (key, key with bit b flipped) pairs per input bit, so even an ideal random function
 * has a per-cell standard deviation of 0.044 and about 12 of the 512 cells outside
 * [0.40, 0.60]. The band there is [0.25, 0.75] per cell (5.6 deviations), and the mean over
 * the 64 output bits of each input bit must lie in [0.45, 0.55] (about 9 deviations).
 */
enum { AVALANCHE_TRIALS = 1024, AVALANCHE_MAX_LEN = 40 };

static void test_avalanche_one_byte_exhaustive(void **state) {
  (void)state;
  unsigned flips[8][64];
  memset(flips, 0, sizeof flips);
  for (unsigned k = 0; k < 256; k++) {
    unsigned char key = (unsigned char)k;
    uint64_t base = mpimr_hash64(&key, 1, 0);
    for (int bit = 0; bit < 8; bit++) {
      unsigned char flipped = (unsigned char)(key ^ (1u << bit));
      uint64_t diff = base ^ mpimr_hash64(&flipped, 1, 0);
      for (int out = 0; out < 64; out++) flips[bit][out] += (unsigned)((diff >> out) & 1);
    }
  }
  for (int bit = 0; bit < 8; bit++) {
    double sum = 0;
    for (int out = 0; out < 64; out++) {
      double p = flips[bit][out] / 256.0;
      if (p < 0.25 || p > 0.75) fprintf(stderr, "one-byte avalanche: bit %d -> %d: p=%.3f\n", bit, out, p);
      assert_true(p >= 0.25 && p <= 0.75);
      sum += p;
    }
    assert_true(sum / 64 >= 0.45 && sum / 64 <= 0.55);
  }
}

static void test_avalanche(void **state) {
  (void)state;
  static uint32_t flips[AVALANCHE_MAX_LEN * 8][64];
  int failures = 0;
  for (size_t len = 2; len <= AVALANCHE_MAX_LEN; len++) {
    size_t bits = len * 8;
    memset(flips, 0, sizeof flips);
    unsigned char key[AVALANCHE_MAX_LEN];
    for (int t = 0; t < AVALANCHE_TRIALS; t++) {
      for (size_t i = 0; i < len; i++) key[i] = (unsigned char)rng_next();
      uint64_t base = mpimr_hash64(key, len, 0);
      for (size_t bit = 0; bit < bits; bit++) {
        key[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        uint64_t diff = base ^ mpimr_hash64(key, len, 0);
        key[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        uint32_t *row = flips[bit];
        while (diff) {
          row[__builtin_ctzll(diff)]++;
          diff &= diff - 1;
        }
      }
    }
    for (size_t bit = 0; bit < bits; bit++) {
      for (int out = 0; out < 64; out++) {
        double p = (double)flips[bit][out] / AVALANCHE_TRIALS;
        if (p < 0.40 || p > 0.60) {
          if (failures < 10)
            fprintf(stderr, "avalanche: len %zu, input bit %zu -> output bit %d flips with p=%.3f\n", len,
                    bit, out, p);
          failures++;
        }
      }
    }
  }
  if (failures)
    fprintf(stderr, "avalanche: %d (length, input bit, output bit) cells out of [0.40, 0.60]\n", failures);
  assert_int_equal(failures, 0);
}

/* The default partitioner's rule: the high part of hash × nranks. */
static int default_partition(uint64_t hash, int nranks) {
  return (int)(((__uint128_t)hash * (unsigned)nranks) >> 64);
}

static void check_balance(int nranks) {
  enum { WORDS = 200000 };
  unsigned counts[16] = {0};
  char word[24];
  for (unsigned u = 0; u < WORDS; u++) {
    int n = snprintf(word, sizeof word, "w%u", u);
    int bucket = default_partition(mpimr_hash64(word, (size_t)n, 0), nranks);
    assert_true(bucket >= 0 && bucket < nranks);
    counts[bucket]++;
  }
  double mean = (double)WORDS / nranks;
  for (int b = 0; b < nranks; b++) {
    double deviation = ((double)counts[b] - mean) / mean;
    if (deviation < -0.05 || deviation > 0.05)
      fprintf(stderr, "partition %d of %d holds %u words (mean %.0f)\n", b, nranks, counts[b], mean);
    assert_true(deviation >= -0.05 && deviation <= 0.05);
  }
}

static void test_partition_balance_7(void **state) {
  (void)state;
  check_balance(7);
}

static void test_partition_balance_16(void **state) {
  (void)state;
  check_balance(16);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_lengths_differ),
      cmocka_unit_test(test_seed_changes_output),
      cmocka_unit_test(test_avalanche_one_byte_exhaustive),
      cmocka_unit_test(test_avalanche),
      cmocka_unit_test(test_partition_balance_7),
      cmocka_unit_test(test_partition_balance_16),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
