/* apps/cli.c — option-value parsing shared by the programs; see cli.h. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static int parse_unsigned_prefix(const char *text, uint64_t *value, const char **rest) {
  if (text == NULL || !isdigit((unsigned char)text[0])) return -1;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno == ERANGE) return -1;
  *value = v;
  *rest = end;
  return 0;
}

int cli_parse_size(const char *text, uint64_t min, uint64_t max, uint64_t *out) {
  uint64_t value;
  const char *suffix;
  if (parse_unsigned_prefix(text, &value, &suffix) != 0) return -1;
  static const struct {
    const char *name;
    unsigned shift;
  } units[] = {{"", 0},     {"b", 0},  {"k", 10},  {"kb", 10},  {"kib", 10}, {"m", 20},  {"mb", 20},
               {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40},   {"tb", 40}, {"tib", 40}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcasecmp(suffix, units[i].name) != 0) continue;
    if (units[i].shift > 0 && value > (UINT64_MAX >> units[i].shift)) return -1;
    value <<= units[i].shift;
    if (value < min || value > max) return -1;
    *out = value;
    return 0;
  }
  return -1;
}

int cli_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out) {
  uint64_t value;
  const char *rest;
  if (parse_unsigned_prefix(text, &value, &rest) != 0 || *rest != '\0') return -1;
  if (value < min || value > max) return -1;
  *out = value;
  return 0;
}

int cli_parse_int(const char *text, int min, int max, int *out) {
  if (text == NULL || text[0] == '\0') return -1;
  errno = 0;
  char *end = NULL;
  long v = strtol(text, &end, 10);
  if (errno == ERANGE || *end != '\0' || isspace((unsigned char)text[0])) return -1;
  if (v < min || v > max) return -1;
  *out = (int)v;
  return 0;
}

int cli_parse_double(const char *text, double min, double max, double *out) {
  if (text == NULL || text[0] == '\0' || isspace((unsigned char)text[0])) return -1;
  errno = 0;
  char *end = NULL;
  double v = strtod(text, &end);
  if (errno == ERANGE || *end != '\0' || !isfinite(v)) return -1;
  if (v < min || v > max) return -1;
  *out = v;
  return 0;
}

void cli_usage_error(int rank, const char *program, const char *format, ...) {
  if (rank != 0) return;
  va_list args;
  va_start(args, format);
  fprintf(stderr, "%s: ", program);
  vfprintf(stderr, format, args);
  fprintf(stderr, "\nTry '%s --help'.\n", program);
  va_end(args);
}
