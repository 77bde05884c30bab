/* util/text.c — the built-in combiners (sums, minima and maxima of 64-bit counts and doubles) and the
 * number formatters. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mpimr/callbacks.h"
#include "mpimr/kv.h"

long long mpimr_combine_sum_u64(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  if (acc_len != 8 || in_len != 8 || acc_cap < 8) return -1;
  mpimr_put_u64(acc, mpimr_get_u64(acc) + mpimr_get_u64(in));
  return 8;
}

long long mpimr_combine_sum_f64(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  if (acc_len != 8 || in_len != 8 || acc_cap < 8) return -1;
  mpimr_put_f64(acc, mpimr_get_f64(acc) + mpimr_get_f64(in));
  return 8;
}

long long mpimr_combine_min_u64(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  if (acc_len != 8 || in_len != 8 || acc_cap < 8) return -1;
  uint64_t a = mpimr_get_u64(acc), b = mpimr_get_u64(in);
  if (b < a) mpimr_put_u64(acc, b);
  return 8;
}

long long mpimr_combine_max_u64(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  if (acc_len != 8 || in_len != 8 || acc_cap < 8) return -1;
  uint64_t a = mpimr_get_u64(acc), b = mpimr_get_u64(in);
  if (b > a) mpimr_put_u64(acc, b);
  return 8;
}

/* fmin() and fmax() ignore a NaN unless both are one, so the result does not depend on the order. */
long long mpimr_combine_min_f64(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  if (acc_len != 8 || in_len != 8 || acc_cap < 8) return -1;
  mpimr_put_f64(acc, fmin(mpimr_get_f64(acc), mpimr_get_f64(in)));
  return 8;
}

long long mpimr_combine_max_f64(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  if (acc_len != 8 || in_len != 8 || acc_cap < 8) return -1;
  mpimr_put_f64(acc, fmax(mpimr_get_f64(acc), mpimr_get_f64(in)));
  return 8;
}

long long mpimr_format_f64(void *user, const void *value, size_t value_len, char *buf, size_t cap) {
  (void)user;
  if (value_len != 8) return -1;
  char text[32];
  int n = snprintf(text, sizeof text, "%.17g", mpimr_get_f64(value));
  if (n < 0) return -1;
  if ((size_t)n <= cap) memcpy(buf, text, (size_t)n);
  return n;
}

long long mpimr_format_u64(void *user, const void *value, size_t value_len, char *buf, size_t cap) {
  (void)user;
  if (value_len != 8) return -1;
  uint64_t v = mpimr_get_u64(value);
  char digits[20];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  if ((size_t)n <= cap)
    for (int i = 0; i < n; i++) buf[i] = digits[n - 1 - i];
  return n;
}
