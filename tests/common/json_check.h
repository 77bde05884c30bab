/*
 * tests/common/json_check.h — is a text one well-formed JSON value (RFC 8259)
 * in well-formed UTF-8? A strict recursive-descent recogniser, so that C tests
 * can check the files the library writes without a JSON library. It builds
 * nothing: it only says yes or no, and where it stopped.
 */
#ifndef MPIMR_TESTS_JSON_CHECK_H
#define MPIMR_TESTS_JSON_CHECK_H

#include <stddef.h>

typedef struct json_cursor {
  const unsigned char *at;
  const unsigned char *end;
  int depth;
} json_cursor;

static inline void json_skip_space(json_cursor *c) {
  while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == '\n' || *c->at == '\r')) c->at++;
}

static inline int json_take(json_cursor *c, unsigned char expected) {
  if (c->at == c->end || *c->at != expected) return 0;
  c->at++;
  return 1;
}

static inline int json_literal(json_cursor *c, const char *word) {
  for (; *word; word++)
    if (!json_take(c, (unsigned char)*word)) return 0;
  return 1;
}

/* One UTF-8 sequence of two to four bytes at the cursor, no overlong forms, surrogates or values above
 * U+10FFFF. */
static inline int json_utf8(json_cursor *c) {
  unsigned char lead = *c->at;
  int length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  unsigned min = length == 4 ? 0x10000 : length == 3 ? 0x800 : 0x80;
  if (lead < 0xC0 || lead > 0xF4 || c->end - c->at < length) return 0;
  unsigned value = lead & (0x7F >> length);
  for (int i = 1; i < length; i++) {
    if ((c->at[i] & 0xC0) != 0x80) return 0;
    value = value << 6 | (c->at[i] & 0x3F);
  }
  if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  c->at += length;
  return 1;
}

static inline int json_hex(unsigned char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static inline int json_string(json_cursor *c) {
  if (!json_take(c, '"')) return 0;
  while (c->at < c->end) {
    unsigned char ch = *c->at;
    if (ch == '"') {
      c->at++;
      return 1;
    }
    if (ch < 0x20) return 0;
    if (ch >= 0x80) {
      if (!json_utf8(c)) return 0;
      continue;
    }
    c->at++;
    if (ch != '\\') continue;
    if (c->at == c->end) return 0;
    ch = *c->at++;
    if (ch == 'u') {
      for (int i = 0; i < 4; i++)
        if (c->at == c->end || !json_hex(*c->at++)) return 0;
    } else if (ch != '"' && ch != '\\' && ch != '/' && ch != 'b' && ch != 'f' && ch != 'n' && ch != 'r' &&
               ch != 't') {
      return 0;
    }
  }
  return 0;
}

static inline int json_digits(json_cursor *c) {
  const unsigned char *start = c->at;
  while (c->at < c->end && *c->at >= '0' && *c->at <= '9') c->at++;
  return c->at > start;
}

static inline int json_number(json_cursor *c) {
  json_take(c, '-');
  if (json_take(c, '0')) {
    /* no leading zeros */
  } else if (!json_digits(c)) {
    return 0;
  }
  if (json_take(c, '.') && !json_digits(c)) return 0;
  if (c->at < c->end && (*c->at == 'e' || *c->at == 'E')) {
    c->at++;
    if (!json_take(c, '+')) json_take(c, '-');
    if (!json_digits(c)) return 0;
  }
  return 1;
}

static inline int json_value(json_cursor *c);

/* The members of an object or the elements of an array, after its opening bracket. */
static inline int json_members(json_cursor *c, unsigned char close, int object) {
  json_skip_space(c);
  if (json_take(c, close)) return 1;
  for (;;) {
    if (object) {
      if (!json_string(c)) return 0;
      json_skip_space(c);
      if (!json_take(c, ':')) return 0;
    }
    if (!json_value(c)) return 0;
    json_skip_space(c);
    if (json_take(c, close)) return 1;
    if (!json_take(c, ',')) return 0;
    json_skip_space(c);
  }
}

static inline int json_value(json_cursor *c) {
  json_skip_space(c);
  if (c->at == c->end || ++c->depth > 256) return 0;
  int ok;
  switch (*c->at) {
    case '{': c->at++, ok = json_members(c, '}', 1); break;
    case '[': c->at++, ok = json_members(c, ']', 0); break;
    case '"': ok = json_string(c); break;
    case 't': ok = json_literal(c, "true"); break;
    case 'f': ok = json_literal(c, "false"); break;
    case 'n': ok = json_literal(c, "null"); break;
    default: ok = json_number(c); break;
  }
  c->depth--;
  return ok;
}

/* Non-zero if `text` (`length` bytes) is exactly one JSON value, with white space around it allowed. */
static inline int json_is_valid(const void *text, size_t length) {
  json_cursor c = {(const unsigned char *)text, (const unsigned char *)text + length, 0};
  if (!json_value(&c)) return 0;
  json_skip_space(&c);
  return c.at == c.end;
}

#endif
