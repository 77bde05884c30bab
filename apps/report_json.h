/*
 * apps/report_json.h — is a text one well-formed JSON value, and if not,
 * where and why not? mpimr-report checks its inputs with this before it
 * embeds them in a page, so that a malformed file is refused with its byte
 * offset instead of breaking the page in the browser. It builds nothing: it
 * reads the text once (RFC 8259's grammar, nesting at most
 * REPORT_JSON_MAX_DEPTH deep) and notes the types of the top-level object's
 * members the caller asks about. Not part of the library.
 */
#ifndef MPIMR_APPS_REPORT_JSON_H
#define MPIMR_APPS_REPORT_JSON_H

#include <stddef.h>

/** Arrays and objects nested deeper than this are refused (the checker recurses). */
enum { REPORT_JSON_MAX_DEPTH = 512 };

/** The type of a JSON value; JSON_ABSENT for a member that is not there. */
typedef enum json_type {
  JSON_ABSENT,
  JSON_NULL,
  JSON_BOOLEAN,
  JSON_NUMBER,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT
} json_type;

/** A top-level member the caller wants to know about: `type` is filled in. */
typedef struct json_member_probe {
  const char *name; /**< Compared with the member's name as written (escapes are not decoded). */
  json_type type;   /**< Out: the type of its value, JSON_ABSENT if the top level has no such member. */
} json_member_probe;

/** What the checker found. */
typedef struct json_verdict {
  json_type top;        /**< The type of the whole value (valid only when the text is well formed). */
  size_t error_offset;  /**< Where the text goes wrong: a byte offset from 0. */
  size_t error_line;    /**< The line of that byte, from 1. */
  const char *expected; /**< What the grammar wanted there, e.g. "',' or '}'" (static text). */
  char found[32];       /**< What was there instead: "'x'", "byte 0x01", "the end of the file". */
} json_verdict;

/**
 * Checks that `text` (`length` bytes, NUL bytes included) is exactly one JSON
 * value with nothing but white space around it. If the value is an object,
 * sets each probe's `type` from its members (the last one wins where a name
 * repeats). Returns 0 if the text is well formed, -1 otherwise, with the
 * place and the cause in `verdict`.
 */
int json_check(const char *text, size_t length, json_member_probe *probes, size_t probe_count,
               json_verdict *verdict);

/** The name of a type, for messages: "an object", "an array", "a number", ... */
const char *json_type_name(json_type type);

#endif /* MPIMR_APPS_REPORT_JSON_H */
