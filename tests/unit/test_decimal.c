/*
 * tests/unit/test_decimal.c — decimal_parse (apps/decimal.c), the programs' reader of decimal
 * numbers, against glibc's strtod: the same double, bit for bit, on edge cases and on millions
 * of random texts of every shape (short integers, long significands, leading and trailing zeros,
 * signs, exponents near the fast path's limits, subnormals and overflow, printf's shortest
 * round-trip forms), in every rounding mode; and the same grammar as the check it replaced.
 */
#include <fenv.h>
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
#include "decimal.h"

/* Under valgrind (which also runs this test) the random rounds are cut to a twentieth: every
 * instruction is emulated there, and the full count would take half a minute. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define RANDOM_ROUNDS(n) (RUNNING_ON_VALGRIND ? (n) / 20 : (n))
#endif
#endif
#ifndef RANDOM_ROUNDS
#define RANDOM_ROUNDS(n) (n)
#endif

static test_rng rng = {0xdec1a1dec1a1ull};

static uint64_t rng_below(uint64_t n) { return test_rng_next(&rng) % n; }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The grammar mpimr-kmeans accepted before decimal_parse: the oracle for which texts are numbers. */
static int is_decimal(const char *text, size_t length) {
  size_t at = 0, digits = 0;
  if (at < length && (text[at] == '+' || text[at] == '-')) at++;
  while (at < length && is_digit(text[at])) at++, digits++;
  if (at < length && text[at] == '.') {
    at++;
    while (at < length && is_digit(text[at])) at++, digits++;
  }
  if (digits == 0) return 0;
  if (at < length && (text[at] == 'e' || text[at] == 'E')) {
    at++;
    if (at < length && (text[at] == '+' || text[at] == '-')) at++;
    size_t exponent_digits = 0;
    while (at < length && is_digit(text[at])) at++, exponent_digits++;
    if (exponent_digits == 0) return 0;
  }
  return at == length;
}

static uint64_t bits_of(double x) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}

static unsigned long checked;

/*
 * decimal_parse on `text` (a NUL-terminated string, parsed from a copy followed by more digits so
 * that nothing past `length` may be read into the number) against the oracle and strtod.
 */
static void check_text(const char *text) {
  size_t length = strlen(text);
  char *padded = malloc(length + 8);
  assert_non_null(padded);
  memcpy(padded, text, length);
  memcpy(padded + length, "9999999", 8); /* 7 digits and a NUL: more number if read too far */
  double got = 12345.678;
  int rc = decimal_parse(padded, length, &got);
  free(padded);
  int valid = is_decimal(text, length);
  if (rc != (valid ? 0 : -1)) fail_msg("'%s': decimal_parse returned %d, the grammar says %s", text, rc, valid ? "valid" : "invalid");
  if (!valid) return;
  char *end;
  double want = strtod(text, &end);
  if (*end != '\0') fail_msg("'%s': strtod stopped early", text);
  if (bits_of(got) != bits_of(want))
    fail_msg("'%s': decimal_parse gives %.17g (%016llx), strtod %.17g (%016llx)", text, got,
             (unsigned long long)bits_of(got), want, (unsigned long long)bits_of(want));
  checked++;
}

static const char *const edge_cases[] = {
    "0", "-0", "+0", "0.0", "-0.0", "00000", "-000.000e+000", "0e999999999999999999999", "-0e-99999",
    "1", "-1", "+1", "255", "-255", "+255", "1.", ".5", "-.5", "+.5", "1.e5", "0.1", "0.2", "0.3", "-0.1",
    "1e22", "1e23", "-1e22", "-1e23", "1e-22", "1e-23", "9e22", "9e-22", "123e20", "123e21", "1234567e22",
    "9007199254740992", "9007199254740993", "9007199254740994", "9007199254740995", "-9007199254740993",
    "900719925474099.3e1", "9007199254740993e-22", "9007199254740992e22", "9007199254740991e22",
    "18014398509481985", "1234567890123456789", "12345678901234567890", "123456789012345678901",
    "0.1234567890123456789", "0.12345678901234567890123", "1.7976931348623157e308", "1.7976931348623158e308",
    "1.7976931348623159e308", "1e308", "1e309", "-1e309", "1e999999999999999999999", "4.9406564584124654e-324",
    "2.4703282292062327e-324", "2.4703282292062328e-324", "1e-324", "1e-400", "-1e-400",
    "2.2250738585072011e-308", "2.2250738585072014e-308", "0.000000000000000000000000000001",
    "000000000000000000000000000001", "1000000000000000000000", "100000000000000000000000",
    "1.000000000000000000000000000000000001", "0.99999999999999999999999999999",
    "7.038531e-26", "3.0e-22", "3e22", "30000000000000000000000e-1", "5e-1", "5E-1", "5E+1", "5e+00001",
    "1e0", "1e-0", "1e+0", "2.5e-3", "784", "42.", "-42.", "0000000000000000000012.5e-1",
    "89255.0e-22", "8.9255e-18", "4503599627370496.5", "4503599627370497.5", "123456789e-22",
    /* not numbers */
    "", "+", "-", ".", "+.", "-.", "e5", ".e5", "1e", "1e+", "1e-", "1e+-5", "++1", "--1", "+-1", "1..2", "1.2.3",
    "1e5.5", "1e5e5", "inf", "-inf", "nan", "infinity", "0x10", "0x1p3", " 1", "1 ", "1,5", "1_000", "1f", "١",
    "1e 5", "e", "E", "1E", "--", "0.0.", "5d3",
};

static void test_edge_cases(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof edge_cases / sizeof *edge_cases; i++) check_text(edge_cases[i]);
}

/* Appends `count` random digits (the first nonzero when `nonzero_first`). */
static char *put_digits(char *at, int count, int nonzero_first) {
  for (int i = 0; i < count; i++) *at++ = (char)('0' + (i == 0 && nonzero_first ? 1 + rng_below(9) : rng_below(10)));
  return at;
}

/* A random text of a random shape; mostly numbers, sometimes broken ones. */
static void random_text(char *text) {
  char *at = text;
  switch (rng_below(8)) {
  case 0: /* a pixel, a count */
    at += sprintf(at, "%d", (int)rng_below(rng_below(2) ? 256 : 100000));
    break;
  case 1: /* a double printed shortest-exact or truncated */
  {
    double x;
    uint64_t b = test_rng_next(&rng);
    memcpy(&x, &b, sizeof x);
    if (!isfinite(x)) x = 1.5;
    at += sprintf(at, "%.*g", 1 + (int)rng_below(17), x);
    break;
  }
  case 2: /* around the fast path's limits: significands near 2^53, exponents near +-22 */
    at += sprintf(at, "%llu", (unsigned long long)((1ull << 53) - 50 + rng_below(100)) / (1ull << rng_below(40)));
    at += sprintf(at, "e%d", (int)rng_below(80) - 40);
    break;
  case 3: /* a measurement */
    at += sprintf(at, "%s%d.%0*d", rng_below(2) ? "-" : "", (int)rng_below(1000), 1 + (int)rng_below(8),
                  (int)rng_below(100000000));
    break;
  default: /* any shape: sign, leading zeros, digits, point, digits, exponent */
  {
    if (rng_below(3) == 0) *at++ = rng_below(2) ? '-' : '+';
    at = put_digits(at, (int)rng_below(4) == 0 ? (int)rng_below(30) : 0, 0);
    for (int z = (int)rng_below(4); z > 0 && rng_below(2); z--) *at++ = '0';
    at = put_digits(at, (int)rng_below(rng_below(3) ? 10 : 30), 0);
    if (rng_below(2)) {
      *at++ = '.';
      at = put_digits(at, (int)rng_below(rng_below(3) ? 10 : 30), 0);
    }
    if (rng_below(2)) {
      *at++ = rng_below(2) ? 'e' : 'E';
      if (rng_below(2)) *at++ = rng_below(2) ? '-' : '+';
      at += sprintf(at, "%d", (int)rng_below(rng_below(4) ? 30 : 400));
    }
    break;
  }
  }
  *at = '\0';
  if (rng_below(50) == 0 && at > text) { /* break it: a stray character somewhere */
    static const char stray[] = "+-.eE x,";
    text[rng_below((uint64_t)(at - text))] = stray[rng_below(sizeof stray - 1)];
  }
}

static void test_random(void **state) {
  (void)state;
  char text[256];
  checked = 0;
  for (int i = 0; i < RANDOM_ROUNDS(3000000); i++) {
    random_text(text);
    check_text(text);
  }
  assert_true(checked > RANDOM_ROUNDS(2500000));
}

/* Every rounding mode: strtod rounds in the current one, and so must the fast path. */
/* Whether the FPU here honours fesetround(): valgrind, for one, always rounds to nearest. The
 * divisions go through volatiles, so the compiler cannot fold them at one rounding mode. */
static int rounding_modes_honoured(void) {
  volatile double one = 1.0, three = 3.0;
  fesetround(FE_UPWARD);
  double up = one / three;
  fesetround(FE_DOWNWARD);
  double down = one / three;
  fesetround(FE_TONEAREST);
  return up != down;
}

static void test_rounding_modes(void **state) {
  (void)state;
  if (!rounding_modes_honoured()) {
    print_message("rounding modes are not honoured here (valgrind?): only round-to-nearest is checked\n");
    skip();
  }
  static const int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
  char text[256];
  for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
    assert_int_equal(fesetround(modes[m]), 0);
    for (size_t i = 0; i < sizeof edge_cases / sizeof *edge_cases; i++) check_text(edge_cases[i]);
    for (int i = 0; i < RANDOM_ROUNDS(300000); i++) {
      random_text(text);
      check_text(text);
    }
    fesetround(FE_TONEAREST);
  }
}

/* Every integer 0..99999 and every pixel with a fraction of up to two digits, exhaustively. */
static void test_small_numbers(void **state) {
  (void)state;
  char text[32];
  for (int i = 0; i < 100000; i++) {
    sprintf(text, "%d", i);
    check_text(text);
    sprintf(text, "-%d", i);
    check_text(text);
  }
  for (int i = 0; i < 25600; i++) {
    sprintf(text, "%d.%02d", i / 100, i % 100);
    check_text(text);
    sprintf(text, "%de-%d", i, 1 + i % 25);
    check_text(text);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_edge_cases),
      cmocka_unit_test(test_small_numbers),
      cmocka_unit_test(test_random),
      cmocka_unit_test(test_rounding_modes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
