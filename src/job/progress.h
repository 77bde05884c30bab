/*
 * job/progress.h — rank 0's live progress display: one line rewritten in
 * place about once a second on a terminal, or a plain line every interval
 * for batch logs, and a final line when the job ends.
 *
 * The display is a small future on the job's executor with a timer (a
 * condition on the monotonic clock): no thread, no MPI. Its figures come
 * from the job through a callback (the other ranks' share of them rides on
 * the shuffle's round headers), so this file knows nothing of the job. The
 * stall watch is told that the display's polls are not progress
 * (stall_watch_ignore_polls()).
 */
#ifndef MPIMR_JOB_PROGRESS_H
#define MPIMR_JOB_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "mpimr/future.h"
#include "mpimr/job.h"

/** What the display shows; the job fills it when asked. */
typedef struct progress_figures {
  const char *phase;      /**< "map", "shuffle", "reduce", ... */
  uint64_t mapped;        /**< Input mapped so far over all ranks, as far as known. */
  uint64_t total;         /**< The whole input, or 0 if unknown. */
  int in_bytes;           /**< 1: mapped and total are bytes; 0: records. */
  uint64_t rounds;        /**< Shuffle rounds this rank has sealed. */
  uint64_t spilled_bytes; /**< Bytes spilled over all ranks, as far as known. */
  uint64_t bad_records;   /**< Records skipped over all ranks, as far as known. */
} progress_figures;

typedef void (*progress_sample_fn)(void *context, progress_figures *figures);

typedef struct progress_display {
  mpimr_future base;
  mpimr_condition timer;
  double deadline;
  double interval;
  double started_at;
  double map_ended_at; /**< When the figures' phase first left "map" (0 before). */
  mpimr_progress mode; /**< LINE or PLAIN while running. */
  int running;         /**< Started and its future not yet finished. */
  int stopping;
  FILE *stream;
  progress_sample_fn sample;
  void *context;
  uint64_t polls;      /**< The future's polls: not progress, for the stall watch. */
  size_t shown_length; /**< LINE: the length of the line on screen, to blank what a shorter one leaves. */
} progress_display;

/**
 * The mode a job's setting means on this rank: OFF on every rank but 0, and
 * AUTO resolved by whether `stream` is a terminal.
 */
mpimr_progress progress_resolve(mpimr_progress setting, int rank, FILE *stream);

/**
 * Starts the display (mode LINE or PLAIN; interval 0 means the mode's
 * default) and spawns its future on `ex`.
 */
void progress_start(progress_display *p, mpimr_executor *ex, mpimr_progress mode, double interval, FILE *stream,
                    progress_sample_fn sample, void *context, double started_at);

/**
 * Prints the final line (`outcome` MPIMR_OK: "done", else "failed") and
 * makes the future finish at its next poll; join it (progress_future())
 * before the job ends. Nothing for a display never started.
 */
void progress_stop(progress_display *p, mpimr_executor *ex, int outcome);

/** Shows the figures now (before a long step that returns to the executor only at its end). */
void progress_show(progress_display *p);

/** The display's future while it runs, else NULL. */
mpimr_future *progress_future(progress_display *p);

/** Writes the figures as the display's text ("map 43.1% of 1.07 GB, ...") into `text`. */
void progress_format(const progress_figures *figures, double elapsed, double map_elapsed, char *text,
                     size_t size);

#endif
