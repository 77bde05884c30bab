/*
 * job/bad_records.h — map records skipped because their map call failed
 * (mpimr_job_config.max_bad_records): this rank's count, the last one's
 * description, and the lines for `_bad_records` (at most the limit + 1).
 */
#ifndef MPIMR_JOB_BAD_RECORDS_H
#define MPIMR_JOB_BAD_RECORDS_H

#include <stddef.h>
#include <stdint.h>

enum { BAD_RECORD_MESSAGE_BYTES = 384, BAD_RECORD_LAST_BYTES = 768 };

typedef struct bad_record_log {
  uint64_t limit; /**< max_bad_records: 0 means no record is skipped. */
  uint64_t count; /**< Records skipped on this rank. */
  char *lines;    /**< "WHERE\tPOSITION\tMESSAGE\n" per skipped record, at most limit + 1 of them. */
  size_t length;
  size_t capacity;
  uint64_t line_count;
  /** The message mpimr_fail() gave for the record being mapped ("" if none). */
  char message[BAD_RECORD_MESSAGE_BYTES];
  /** The last record skipped, as messages name it: "MESSAGE (input 'PATH' at byte N)". */
  char last[BAD_RECORD_LAST_BYTES];
} bad_record_log;

/** Frees the log's lines (an all-zero log is empty and valid). */
void bad_record_log_destroy(bad_record_log *log);

/**
 * Records one skipped record: `where` is the input's path (or "index",
 * "local", "pair"), `position` its byte offset (or number); the message is
 * the one mpimr_fail() left in log->message, or one made from `returned`.
 * `described` is how messages name the position (" (input 'P' at byte N)").
 * Clears log->message. Returns 0, or -1 if out of memory for the line.
 */
int bad_record_log_add(bad_record_log *log, const char *where, uint64_t position, int returned,
                       const char *described);

/** 1 once this rank alone has skipped more than the limit (the job then fails). */
static inline int bad_record_log_over(const bad_record_log *log) { return log->count > log->limit; }

#endif
