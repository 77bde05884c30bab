/*
 * job/bad_records.c — the log of map records skipped because their map call failed.
 */
#include "job/bad_records.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bad_record_log_destroy(bad_record_log *log) {
  free(log->lines);
  log->lines = NULL;
  log->length = log->capacity = 0;
  log->line_count = 0;
}

/* Appends `text` with tabs, newlines and other control bytes as spaces (a line holds one record). */
static void append_field(char *line, size_t *used, size_t size, const char *text) {
  for (; *text != '\0' && *used + 1 < size; text++)
    line[(*used)++] = (unsigned char)*text < 0x20 ? ' ' : *text;
  line[*used] = '\0';
}

int bad_record_log_add(bad_record_log *log, const char *where, uint64_t position, int returned,
                       const char *described) {
  char message[BAD_RECORD_MESSAGE_BYTES];
  if (log->message[0] != '\0')
    snprintf(message, sizeof message, "%s", log->message);
  else
    snprintf(message, sizeof message, "the map function returned %d", returned);
  log->message[0] = '\0';
  log->count++;
  snprintf(log->last, sizeof log->last, "%s%s", message, described);
  if (log->line_count > log->limit) return 0; /* the job fails anyway: enough lines are kept */
  char line[4096 + 2 * BAD_RECORD_MESSAGE_BYTES];
  size_t used = 0;
  line[0] = '\0';
  append_field(line, &used, 4096, where); /* leaves room for the position and the message */
  used += (size_t)snprintf(line + used, sizeof line - used, "\t%" PRIu64 "\t", position);
  append_field(line, &used, sizeof line - 1, message);
  line[used++] = '\n';
  if (log->length + used > log->capacity) {
    size_t capacity = log->capacity ? log->capacity * 2 : 4096;
    while (capacity < log->length + used) capacity *= 2;
    char *grown = realloc(log->lines, capacity);
    if (grown == NULL) return -1;
    log->lines = grown;
    log->capacity = capacity;
  }
  memcpy(log->lines + log->length, line, used);
  log->length += used;
  log->line_count++;
  return 0;
}
