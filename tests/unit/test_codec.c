/*
 * tests/unit/test_codec.c — the pair encoding of kv/codec.h and the number
 * helpers of mpimr/kv.h. The oracles are written here from the format's
 * definition (LEB128, little-endian), not taken from the code under test.
 * Decoding always reads from an exact-size heap copy, so under AddressSanitizer
 * a read one byte past `end` is reported.
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
#include "kv/codec.h"
#include "mpimr/kv.h"

static test_rng rng = {0x1234567887654321ull};

static uint64_t rng_next(void) { return test_rng_next(&rng); }

static size_t rng_below(size_t n) { return test_rng_below(&rng, n); }

/* The LEB128 size of v: one byte per started group of 7 significant bits, at least one. */
static size_t reference_varint_size(uint64_t v) {
  size_t bits = 0;
  while (v != 0) {
    bits++;
    v >>= 1;
  }
  return bits == 0 ? 1 : (bits + 6) / 7;
}

/* An exact-size heap copy of `n` bytes (at least one byte is allocated, but only n are used). */
static unsigned char *exact_copy(const unsigned char *bytes, size_t n) {
  unsigned char *copy = malloc(n ? n : 1);
  assert_non_null(copy);
  if (n) memcpy(copy, bytes, n);
  return copy;
}

static void test_varint_boundaries(void **state) {
  (void)state;
  const uint64_t bases[] = {0,
                            1,
                            127,
                            128,
                            255,
                            16383,
                            16384,
                            2097151,
                            2097152,
                            UINT32_MAX,
                            (uint64_t)1 << 32,
                            ((uint64_t)1 << 56) - 1,
                            (uint64_t)1 << 56,
                            ((uint64_t)1 << 63) - 1,
                            (uint64_t)1 << 63,
                            UINT64_MAX};
  for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
    for (int delta = -1; delta <= 1; delta++) {
      uint64_t v = bases[b] + (uint64_t)(int64_t)delta;
      size_t expected_size = reference_varint_size(v);
      assert_true(expected_size <= CODEC_VARINT_MAX);
      assert_int_equal(codec_varint_size(v), expected_size);

      unsigned char out[CODEC_VARINT_MAX + 4];
      memset(out, 0xAA, sizeof out);
      unsigned char *after = codec_put_varint(out, v);
      assert_int_equal((size_t)(after - out), expected_size);
      assert_int_equal(out[expected_size], 0xAA); /* Nothing written past the varint. */

      /* Each byte carries 7 bits, low group first; all but the last have the high bit. */
      for (size_t i = 0; i < expected_size; i++) {
        unsigned char group = (unsigned char)((v >> (7 * i)) & 0x7f);
        unsigned char continuation = i + 1 < expected_size ? 0x80 : 0;
        assert_int_equal(out[i], group | continuation);
      }

      unsigned char *copy = exact_copy(out, expected_size);
      uint64_t decoded = ~v;
      const unsigned char *end = codec_get_varint(copy, copy + expected_size, &decoded);
      assert_ptr_equal(end, copy + expected_size);
      assert_true(decoded == v);
      /* Every truncation fails. */
      for (size_t n = 0; n < expected_size; n++) {
        unsigned char *shorter = exact_copy(out, n);
        assert_null(codec_get_varint(shorter, shorter + n, &decoded));
        free(shorter);
      }
      free(copy);
    }
  }
  /* The two boundaries named by the format: 127 is one byte, 128 is {0x80, 0x01}. */
  unsigned char two[2];
  assert_ptr_equal(codec_put_varint(two, 128), two + 2);
  assert_int_equal(two[0], 0x80);
  assert_int_equal(two[1], 0x01);
  assert_int_equal(codec_varint_size(UINT64_MAX), 10);
}

static void test_varint_random_round_trip(void **state) {
  (void)state;
  for (int i = 0; i < 20000; i++) {
    uint64_t v = rng_next() >> rng_below(64);
    unsigned char out[CODEC_VARINT_MAX];
    size_t n = (size_t)(codec_put_varint(out, v) - out);
    assert_int_equal(n, reference_varint_size(v));
    unsigned char *copy = exact_copy(out, n);
    uint64_t decoded = 0;
    assert_ptr_equal(codec_get_varint(copy, copy + n, &decoded), copy + n);
    assert_true(decoded == v);
    free(copy);
  }
}

static void test_varint_overlong_fails(void **state) {
  (void)state;
  /* Eleven bytes, every one with the continuation bit: no terminating byte within 10. */
  unsigned char bytes[16];
  memset(bytes, 0x80, sizeof bytes);
  for (size_t n = 10; n <= sizeof bytes; n++) {
    unsigned char *copy = exact_copy(bytes, n);
    uint64_t decoded;
    assert_null(codec_get_varint(copy, copy + n, &decoded));
    free(copy);
  }
  /* Ten continuation bytes then a terminator: the terminator is the 11th byte, too long. */
  unsigned char eleven[11];
  memset(eleven, 0xff, 10);
  eleven[10] = 0x01;
  unsigned char *copy = exact_copy(eleven, sizeof eleven);
  uint64_t decoded;
  assert_null(codec_get_varint(copy, copy + sizeof eleven, &decoded));
  free(copy);
  /* A pair whose first length is over-long fails as a whole. */
  codec_pair pair;
  copy = exact_copy(bytes, sizeof bytes);
  assert_null(codec_get_pair(copy, copy + sizeof bytes, &pair));
  free(copy);
}

/* Encodes one pair into an exact-size buffer and checks it decodes back, and that no prefix decodes. */
static void check_pair(const unsigned char *key, size_t key_len, const unsigned char *value,
                       size_t value_len) {
  size_t expected = reference_varint_size(key_len) + reference_varint_size(value_len) + key_len + value_len;
  assert_int_equal(codec_pair_size(key_len, value_len), expected);
  unsigned char *encoded = malloc(expected);
  assert_non_null(encoded);
  assert_ptr_equal(codec_put_pair(encoded, key, key_len, value, value_len), encoded + expected);

  /* The layout: varint key length, varint value length, key, value. */
  uint64_t length;
  const unsigned char *p = codec_get_varint(encoded, encoded + expected, &length);
  assert_non_null(p);
  assert_true(length == key_len);
  p = codec_get_varint(p, encoded + expected, &length);
  assert_non_null(p);
  assert_true(length == value_len);
  assert_int_equal((size_t)(p - encoded) + key_len + value_len, expected);
  if (key_len) assert_memory_equal(p, key, key_len);
  if (value_len) assert_memory_equal(p + key_len, value, value_len);

  codec_pair pair;
  memset(&pair, 0, sizeof pair);
  assert_ptr_equal(codec_get_pair(encoded, encoded + expected, &pair), encoded + expected);
  assert_int_equal(pair.key_len, key_len);
  assert_int_equal(pair.value_len, value_len);
  if (key_len) assert_memory_equal(pair.key, key, key_len);
  if (value_len) assert_memory_equal(pair.value, value, value_len);
  assert_true(pair.value == pair.key + key_len);

  /* Every truncation fails, reading only from an exact-size copy. Long pairs: the header region
   * and a sample of the body (every byte would be quadratic). */
  size_t header = expected - key_len - value_len;
  for (size_t n = 0; n < expected; n++) {
    if (n > header + 16 && n + 16 < expected && n % 997 != 0) continue;
    unsigned char *shorter = exact_copy(encoded, n);
    assert_null(codec_get_pair(shorter, shorter + n, &pair));
    free(shorter);
  }
  free(encoded);
}

static void test_pair_round_trip(void **state) {
  (void)state;
  const size_t lengths[] = {0, 1, 7, 8, 127, 128, 129, 300, 16384, 70000};
  size_t max = 70000;
  unsigned char *key = malloc(max), *value = malloc(max);
  assert_non_null(key);
  assert_non_null(value);
  for (size_t i = 0; i < max; i++) {
    key[i] = (unsigned char)rng_next();
    value[i] = (unsigned char)rng_next();
  }
  key[0] = 0; /* Zero bytes are ordinary data. */
  for (size_t a = 0; a < sizeof lengths / sizeof lengths[0]; a++)
    for (size_t b = 0; b < sizeof lengths / sizeof lengths[0]; b++)
      if (lengths[a] + lengths[b] <= 2 * 16384 || lengths[a] == 0 || lengths[b] == 0)
        check_pair(key, lengths[a], value, lengths[b]);
  free(key);
  free(value);
}

/* Several pairs back to back: each decodes in turn, and a truncated block stops exactly at the cut pair. */
static void test_block_of_pairs_and_truncation(void **state) {
  (void)state;
  enum { PAIRS = 40 };
  size_t key_lens[PAIRS], value_lens[PAIRS], offsets[PAIRS + 1];
  unsigned char *block = malloc(PAIRS * (2 * CODEC_VARINT_MAX + 400));
  unsigned char source[400];
  assert_non_null(block);
  for (size_t i = 0; i < sizeof source; i++) source[i] = (unsigned char)rng_next();
  unsigned char *p = block;
  for (int i = 0; i < PAIRS; i++) {
    key_lens[i] = rng_below(4) == 0 ? 0 : rng_below(200);
    value_lens[i] = rng_below(4) == 0 ? 0 : rng_below(200);
    offsets[i] = (size_t)(p - block);
    p = codec_put_pair(p, source + i, key_lens[i], source + 200 - i, value_lens[i]);
  }
  size_t total = (size_t)(p - block);
  offsets[PAIRS] = total;

  for (size_t cut = 0; cut <= total; cut++) {
    unsigned char *copy = exact_copy(block, cut);
    const unsigned char *q = copy, *end = copy + cut;
    int decoded = 0;
    codec_pair pair;
    while (q != NULL && q < end) {
      q = codec_get_pair(q, end, &pair);
      if (q == NULL) break;
      assert_int_equal(pair.key_len, key_lens[decoded]);
      assert_int_equal(pair.value_len, value_lens[decoded]);
      if (pair.key_len) assert_memory_equal(pair.key, source + decoded, pair.key_len);
      if (pair.value_len) assert_memory_equal(pair.value, source + 200 - decoded, pair.value_len);
      decoded++;
    }
    /* The pairs wholly inside the cut decode; the cut one (if any) fails. */
    int whole = 0;
    while (whole < PAIRS && offsets[whole + 1] <= cut) whole++;
    assert_int_equal(decoded, whole);
    if (cut == offsets[whole])
      assert_ptr_equal(q, end);
    else
      assert_null(q);
    free(copy);
  }
  free(block);
}

/* Lengths that would overflow `p + key_len + value_len` must be refused, not wrapped. */
static void test_pair_lengths_past_end(void **state) {
  (void)state;
  const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 1, (uint64_t)1 << 63, SIZE_MAX / 2 + 1, 5, 6};
  for (size_t a = 0; a < sizeof huge / sizeof huge[0]; a++) {
    for (size_t b = 0; b < sizeof huge / sizeof huge[0]; b++) {
      unsigned char bytes[2 * CODEC_VARINT_MAX + 5];
      unsigned char *p = codec_put_varint(bytes, huge[a]);
      p = codec_put_varint(p, huge[b]);
      memcpy(p, "abcde", 5); /* Five bytes of body: enough only when both lengths sum to <= 5. */
      p += 5;
      size_t n = (size_t)(p - bytes);
      unsigned char *copy = exact_copy(bytes, n);
      codec_pair pair;
      const unsigned char *end = codec_get_pair(copy, copy + n, &pair);
      /* Every listed pair of lengths needs more than the 5 bytes present (the smallest is 5 + 5). */
      assert_null(end);
      free(copy);
    }
  }
  /* Lengths that fit exactly succeed: key 2, value 3 within 5 bytes. */
  unsigned char ok[7] = {2, 3, 'a', 'b', 'c', 'd', 'e'};
  unsigned char *copy = exact_copy(ok, sizeof ok);
  codec_pair pair;
  assert_ptr_equal(codec_get_pair(copy, copy + sizeof ok, &pair), copy + sizeof ok);
  assert_int_equal(pair.key_len, 2);
  assert_int_equal(pair.value_len, 3);
  free(copy);
}

/* The reference order: memcmp over the shorter length, then the shorter key first. */
static int reference_compare(const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len) {
  size_t n = a_len < b_len ? a_len : b_len;
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return a_len < b_len ? -1 : a_len > b_len ? 1 : 0;
}

static int sign_of(int x) { return (x > 0) - (x < 0); }

static void test_compare_keys(void **state) {
  (void)state;
  /* A tiny alphabet makes equal keys, common prefixes and zero bytes frequent. */
  const unsigned char alphabet[] = {0x00, 0x01, 'a', 0x7f, 0x80, 0xff};
  for (int i = 0; i < 200000; i++) {
    unsigned char a[12], b[12];
    size_t a_len = rng_below(sizeof a + 1), b_len = rng_below(sizeof b + 1);
    for (size_t k = 0; k < a_len; k++) a[k] = alphabet[rng_below(sizeof alphabet)];
    for (size_t k = 0; k < b_len; k++)
      b[k] = rng_below(3) ? (k < a_len ? a[k] : 0) : alphabet[rng_below(sizeof alphabet)];
    int expected = reference_compare(a, a_len, b, b_len);
    assert_int_equal(sign_of(codec_compare_keys(a, a_len, b, b_len)), expected);
    assert_int_equal(sign_of(codec_compare_keys(b, b_len, a, a_len)), -expected);
  }
  assert_true(codec_compare_keys("a", 1, "a\0", 2) < 0);
  assert_true(codec_compare_keys("", 0, "\0", 1) < 0);
  assert_int_equal(codec_compare_keys("", 0, "", 0), 0);
  assert_true(codec_compare_keys("\xff", 1, "\x01\x00", 2) > 0); /* Bytes are unsigned. */
}

static void test_number_helpers_little_endian(void **state) {
  (void)state;
  unsigned char storage[20];
  for (int round = 0; round < 5000; round++) {
    uint64_t v = round == 0 ? 0x0102030405060708ull : round == 1 ? UINT64_MAX : rng_next();
    size_t at = rng_below(9); /* Unaligned addresses too. */
    memset(storage, 0xCC, sizeof storage);
    mpimr_put_u64(storage + at, v);
    for (int i = 0; i < 8; i++) assert_int_equal(storage[at + (size_t)i], (unsigned char)(v >> (8 * i)));
    if (at > 0) assert_int_equal(storage[at - 1], 0xCC);
    assert_int_equal(storage[at + 8], 0xCC);
    assert_true(mpimr_get_u64(storage + at) == v);

    uint32_t w = (uint32_t)v;
    memset(storage, 0xCC, sizeof storage);
    mpimr_put_u32(storage + at, w);
    for (int i = 0; i < 4; i++) assert_int_equal(storage[at + (size_t)i], (unsigned char)(w >> (8 * i)));
    assert_int_equal(storage[at + 4], 0xCC);
    assert_true(mpimr_get_u32(storage + at) == w);

    /* Reading bytes written by hand, little-endian by definition. */
    uint64_t composed = 0;
    for (int i = 0; i < 8; i++) {
      storage[at + (size_t)i] = (unsigned char)rng_next();
      composed |= (uint64_t)storage[at + (size_t)i] << (8 * i);
    }
    assert_true(mpimr_get_u64(storage + at) == composed);
    assert_true(mpimr_get_u32(storage + at) == (uint32_t)composed);
  }
}

static void test_f64_helpers(void **state) {
  (void)state;
  /* 1.0 is 0x3FF0000000000000: little-endian bytes 00 00 00 00 00 00 F0 3F. */
  unsigned char out[9];
  mpimr_put_f64(out + 1, 1.0);
  const unsigned char one[8] = {0, 0, 0, 0, 0, 0, 0xF0, 0x3F};
  assert_memory_equal(out + 1, one, 8);
  assert_true(mpimr_get_f64(out + 1) == 1.0);
  /* -2.5 is 0xC004000000000000. */
  mpimr_put_f64(out, -2.5);
  const unsigned char minus[8] = {0, 0, 0, 0, 0, 0, 0x04, 0xC0};
  assert_memory_equal(out, minus, 8);

  /* Every bit pattern survives, NaN payloads and negative zero included. */
  for (int i = 0; i < 5000; i++) {
    uint64_t bits = i == 0 ? 0x8000000000000000ull : i == 1 ? 0x7ff8dead0000beefull : rng_next();
    double v;
    memcpy(&v, &bits, 8);
    mpimr_put_f64(out + (i % 2), v);
    for (int k = 0; k < 8; k++) assert_int_equal(out[(i % 2) + k], (unsigned char)(bits >> (8 * k)));
    double back = mpimr_get_f64(out + (i % 2));
    uint64_t back_bits;
    memcpy(&back_bits, &back, 8);
    assert_true(back_bits == bits);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varint_boundaries),
      cmocka_unit_test(test_varint_random_round_trip),
      cmocka_unit_test(test_varint_overlong_fails),
      cmocka_unit_test(test_pair_round_trip),
      cmocka_unit_test(test_block_of_pairs_and_truncation),
      cmocka_unit_test(test_pair_lengths_past_end),
      cmocka_unit_test(test_compare_keys),
      cmocka_unit_test(test_number_helpers_little_endian),
      cmocka_unit_test(test_f64_helpers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
