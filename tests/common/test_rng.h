/*
 * tests/common/test_rng.h — a small deterministic generator (splitmix64) for
 * tests, so that a failure reproduces. Each test file keeps its own state.
 */
#ifndef MPIMR_TESTS_TEST_RNG_H
#define MPIMR_TESTS_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct test_rng {
  uint64_t state;
} test_rng;

static inline uint64_t test_rng_next(test_rng *rng) {
  uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for tests (n > 0). */
static inline size_t test_rng_below(test_rng *rng, size_t n) { return (size_t)(test_rng_next(rng) % n); }

#endif
