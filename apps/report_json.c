/* apps/report_json.c — a validating JSON reader with positioned errors; see report_json.h. */
#include "report_json.h"

#include <stdio.h>
#include <string.h>

/* The text being read, where the reader is, and where it is first found wanting. */
typedef struct json_reader {
  const unsigned char *text;
  size_t length;
  size_t at;
  json_member_probe *probes;
  size_t probe_count;
  json_verdict *verdict;
} json_reader;

/* Notes that the grammar wanted `expected` at the reader's position; returns -1, for the caller to pass up.
 */
static int fail(json_reader *r, const char *expected) {
  json_verdict *v = r->verdict;
  v->error_offset = r->at;
  v->error_line = 1;
  for (size_t i = 0; i < r->at; i++) v->error_line += r->text[i] == '\n';
  v->expected = expected;
  if (r->at >= r->length)
    snprintf(v->found, sizeof v->found, "the end of the file");
  else if (r->text[r->at] >= 0x21 && r->text[r->at] <= 0x7e)
    snprintf(v->found, sizeof v->found, "'%c'", r->text[r->at]);
  else if (r->text[r->at] == ' ')
    snprintf(v->found, sizeof v->found, "a space");
  else
    snprintf(v->found, sizeof v->found, "byte 0x%02x", r->text[r->at]);
  return -1;
}

/* The byte at the reader's position, or -1 at the end of the text. */
static int peek(const json_reader *r) { return r->at < r->length ? r->text[r->at] : -1; }

static void skip_space(json_reader *r) {
  while (r->at < r->length) {
    unsigned char c = r->text[r->at];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    r->at++;
  }
}

/* Consumes `c` if it is next; returns 1 if it was. */
static int take(json_reader *r, int c) {
  if (peek(r) != c) return 0;
  r->at++;
  return 1;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int is_hex_digit(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* Reads one of the words true, false and null (the first letter tells which). */
static int read_word(json_reader *r, json_type *type) {
  static const char *const words[] = {"true", "false", "null"};
  for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
    if (peek(r) != words[w][0]) continue;
    for (const char *letter = words[w]; *letter; letter++)
      if (!take(r, *letter)) return fail(r, words[w]);
    *type = words[w][0] == 'n' ? JSON_NULL : JSON_BOOLEAN;
    return 0;
  }
  return fail(r, "a JSON value");
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int read_number(json_reader *r) {
  take(r, '-');
  if (!take(r, '0')) {
    if (!is_digit(peek(r))) return fail(r, "a digit");
    while (is_digit(peek(r))) r->at++;
  }
  if (take(r, '.')) {
    if (!is_digit(peek(r))) return fail(r, "a digit after the decimal point");
    while (is_digit(peek(r))) r->at++;
  }
  if (take(r, 'e') || take(r, 'E')) {
    if (!take(r, '+')) take(r, '-');
    if (!is_digit(peek(r))) return fail(r, "a digit in the exponent");
    while (is_digit(peek(r))) r->at++;
  }
  return 0;
}

/*
 * Reads a string from its opening quote; sets `*start` and `*end` to the
 * bytes between the quotes. Bytes of 0x80 and above are taken as they are:
 * the page decodes them as UTF-8, and a browser shows a stray byte as U+FFFD.
 */
static int read_string(json_reader *r, size_t *start, size_t *end) {
  if (!take(r, '"')) return fail(r, "'\"'");
  *start = r->at;
  for (;;) {
    int c = peek(r);
    if (c < 0) return fail(r, "'\"' to end the string");
    if (c == '"') break;
    if (c < 0x20) return fail(r, "a character other than a control character (escape it) in the string");
    r->at++;
    if (c != '\\') continue;
    c = peek(r);
    if (c == 'u') {
      r->at++;
      for (int digit = 0; digit < 4; digit++)
        if (!is_hex_digit(peek(r)))
          return fail(r, "four hexadecimal digits after \\u");
        else
          r->at++;
    } else if (c >= 0 && strchr("\"\\/bfnrt", c) != NULL) {
      r->at++;
    } else {
      return fail(r, "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u after a backslash");
    }
  }
  *end = r->at;
  r->at++;
  return 0;
}

static int read_value(json_reader *r, int depth, json_type *type);

/* Notes a top-level member's type for every probe that asks about its name. */
static void probe_member(json_reader *r, size_t name_start, size_t name_end, json_type type) {
  size_t name_length = name_end - name_start;
  for (size_t p = 0; p < r->probe_count; p++) {
    const char *wanted = r->probes[p].name;
    if (strlen(wanted) == name_length && memcmp(r->text + name_start, wanted, name_length) == 0)
      r->probes[p].type = type;
  }
}

/* Reads an object from its '{'; at depth 1 (the top level) it answers the probes. */
static int read_object(json_reader *r, int depth) {
  r->at++;
  skip_space(r);
  if (take(r, '}')) return 0;
  for (;;) {
    size_t name_start = 0, name_end = 0;
    if (peek(r) != '"') return fail(r, "a member name in double quotes");
    if (read_string(r, &name_start, &name_end) != 0) return -1;
    skip_space(r);
    if (!take(r, ':')) return fail(r, "':' after the member name");
    skip_space(r);
    json_type member = JSON_ABSENT;
    if (read_value(r, depth, &member) != 0) return -1;
    if (depth == 1) probe_member(r, name_start, name_end, member);
    skip_space(r);
    if (take(r, '}')) return 0;
    if (!take(r, ',')) return fail(r, "',' or '}'");
    skip_space(r);
  }
}

/* Reads an array from its '['. */
static int read_array(json_reader *r, int depth) {
  r->at++;
  skip_space(r);
  if (take(r, ']')) return 0;
  for (;;) {
    json_type element = JSON_ABSENT;
    if (read_value(r, depth, &element) != 0) return -1;
    skip_space(r);
    if (take(r, ']')) return 0;
    if (!take(r, ',')) return fail(r, "',' or ']'");
    skip_space(r);
  }
}

/* Reads the value at the reader's position (no white space first); `depth` counts the containers around it.
 */
static int read_value(json_reader *r, int depth, json_type *type) {
  int c = peek(r);
  if (c == '{' || c == '[') {
    if (depth >= REPORT_JSON_MAX_DEPTH) return fail(r, "at most 512 levels of nesting");
    *type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
    return c == '{' ? read_object(r, depth + 1) : read_array(r, depth + 1);
  }
  if (c == '"') {
    size_t start = 0, end = 0;
    *type = JSON_STRING;
    return read_string(r, &start, &end);
  }
  if (c == '-' || is_digit(c)) {
    *type = JSON_NUMBER;
    return read_number(r);
  }
  return read_word(r, type);
}

int json_check(const char *text, size_t length, json_member_probe *probes, size_t probe_count,
               json_verdict *verdict) {
  memset(verdict, 0, sizeof *verdict);
  for (size_t p = 0; p < probe_count; p++) probes[p].type = JSON_ABSENT;
  json_reader r = {(const unsigned char *)text, length, 0, probes, probe_count, verdict};
  skip_space(&r);
  if (read_value(&r, 0, &verdict->top) != 0) return -1;
  skip_space(&r);
  if (r.at != r.length) return fail(&r, "the end of the file after the value");
  return 0;
}

const char *json_type_name(json_type type) {
  switch (type) {
    case JSON_NULL: return "null";
    case JSON_BOOLEAN: return "a boolean";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    default: return "nothing";
  }
}
