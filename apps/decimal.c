/* Decimal numbers to doubles: Clinger's exact fast path, strtod for the rest. */
#include "decimal.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The powers of ten a double holds exactly (5^22 < 2^53). */
static const double exact_powers[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define MAX_EXACT_INTEGER ((uint64_t)1 << 53)
#define MAX_SIGNIFICANT 19      /* digits a uint64_t always holds */
#define EXPONENT_CAP 100000000 /* beyond any double's range, and far from int overflow */

/* strtod on a copy of text[0, length) ended by a NUL. Returns 0, or -1 out of memory. */
static int parse_with_strtod(const char *text, size_t length, double *value) {
  char local[512];
  char *copy = length < sizeof local ? local : malloc(length + 1);
  if (copy == NULL) return -1;
  memcpy(copy, text, length);
  copy[length] = '\0';
  *value = strtod(copy, NULL);
  if (copy != local) free(copy);
  return 0;
}

int decimal_parse(const char *text, size_t length, double *value) {
  const char *at = text, *end = text + length;
  int negative = 0;
  if (at < end && (*at == '+' || *at == '-')) negative = *at++ == '-';
  /* The significand's digits: w holds the first MAX_SIGNIFICANT after any leading zeros. */
  uint64_t w = 0;
  int significant = 0, digits = 0, inexact = 0;
  int64_t scale = 0; /* the value is w * 10^scale (* 10^exponent) */
  for (; at < end && (unsigned)(*at - '0') < 10; at++, digits++) {
    unsigned d = (unsigned)(*at - '0');
    if (significant == MAX_SIGNIFICANT) {
      scale++;
      inexact = 1;
    } else if (w != 0 || d != 0) {
      w = w * 10 + d;
      significant++;
    }
  }
  if (at < end && *at == '.') {
    for (at++; at < end && (unsigned)(*at - '0') < 10; at++, digits++) {
      unsigned d = (unsigned)(*at - '0');
      if (significant == MAX_SIGNIFICANT) {
        inexact = 1;
      } else {
        if (w != 0 || d != 0) {
          w = w * 10 + d;
          significant++;
        }
        scale--;
      }
    }
  }
  if (digits == 0) return -1;
  int64_t exponent = 0;
  if (at < end && (*at == 'e' || *at == 'E')) {
    at++;
    int exponent_negative = 0;
    if (at < end && (*at == '+' || *at == '-')) exponent_negative = *at++ == '-';
    const char *exponent_start = at;
    for (; at < end && (unsigned)(*at - '0') < 10; at++)
      if (exponent < EXPONENT_CAP) exponent = exponent * 10 + (*at - '0');
    if (at == exponent_start) return -1;
    if (exponent_negative) exponent = -exponent;
  }
  if (at != end) return -1;
  /* The fast path needs double arithmetic in double precision (not x87's extended one). */
  if (!inexact && FLT_EVAL_METHOD == 0) {
    if (w == 0) {
      *value = negative ? -0.0 : 0.0;
      return 0;
    }
    int64_t e = scale + exponent;
    if (w <= MAX_EXACT_INTEGER && e >= -22 && e <= 22 + 15) {
      /* Above 1e22, w * 10^(e - 22) may still be an exact integer below 2^53. */
      for (; e > 22 && w <= MAX_EXACT_INTEGER / 10; e--) w *= 10;
      if (e <= 22) {
        double x = (double)w; /* exact; the sign first, so that directed rounding rounds as strtod does */
        if (negative) x = -x;
        *value = e >= 0 ? x * exact_powers[e] : x / exact_powers[-e];
        return 0;
      }
    }
  }
  if (parse_with_strtod(text, length, value) != 0) return -1;
  return 0;
}
