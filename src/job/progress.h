/*
 * job/progress.h — rank 0's live progress display: one line rewritten in
 * place about once a second on a terminal, or a plain line every interval
 * for batch logs, and a final line when the job ends.
 *
 * The display is a small future on every rank's executor, with a timer (a
 * condition on the monotonic clock): no thread, no collective. Every
 * interval each other rank sends rank 0 its figures (a 32-byte MPI_Isend,
 * at most one in flight, on the job's communicator with a tag of its own),
 * and rank 0 keeps one MPI_Irecv posted for them and shows the sum. When a
 * rank's map and shuffle are done it sends a final report; rank 0's future
 * ends once it has every rank's final one, so no message of the display is
 * left unmatched when the job ends (in step: an out-of-step ending cancels
 * rank 0's receive). The figures come from the job through a callback, so
 * this file knows nothing of the job. The stall watch is told that the
 * display's polls are not progress (stall_watch_ignore_polls()).
 */
#ifndef MPIMR_JOB_PROGRESS_H
#define MPIMR_JOB_PROGRESS_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "mpimr/future.h"
#include "mpimr/job.h"

/** The tag of the display's messages on the job's communicator (the stall watch uses 0x5741-2). */
enum { PROGRESS_TAG = 0x5743 };

/** What the display shows; the job fills in this rank's own figures when asked. */
typedef struct progress_figures {
  const char *phase;      /**< "map", "shuffle", "reduce", ... ("" once the job has ended). */
  uint64_t mapped;        /**< Input mapped (bytes or records). */
  uint64_t total;         /**< The whole input over all ranks, or 0 if unknown. */
  int in_bytes;           /**< 1: mapped and total are bytes; 0: records. */
  uint64_t rounds;        /**< Shuffle rounds this rank has sealed. */
  uint64_t spilled_bytes; /**< Bytes spilled. */
  uint64_t bad_records;   /**< Records skipped. */
} progress_figures;

typedef void (*progress_sample_fn)(void *context, progress_figures *figures);

/** A rank's figures as sent to rank 0. */
typedef struct progress_report {
  uint64_t mapped;
  uint64_t spilled_bytes;
  uint64_t bad_records;
  int32_t rank;
  int32_t final; /**< The rank's map and shuffle are done: its last report. */
} progress_report;

typedef struct progress_display {
  mpimr_future base;
  mpimr_condition timer;
  double deadline;
  double interval;
  double started_at;
  double map_ended_at; /**< When the figures' phase first left "map" (0 before). */
  mpimr_progress mode; /**< LINE or PLAIN on rank 0 if it shows; OFF on the ranks that only report. */
  int running;         /**< Started and its future not yet finished. */
  int closing;         /**< This rank's figures are final (progress_close()). */
  int stopping;        /**< The job's outcome is known (progress_stop()). */
  int outcome;
  MPI_Comm comm;
  int rank;
  int nranks;
  progress_sample_fn sample;
  void *context;
  FILE *stream;
  uint64_t polls;      /**< The future's polls: not progress, for the stall watch. */
  size_t shown_length; /**< LINE: the length of the line on screen, to blank what a shorter one leaves. */
  int failed;          /**< An MPI call failed: the display stopped (the job goes on). */
  /* Ranks other than 0: the report in flight. */
  progress_report outgoing;
  MPI_Request send_request;
  mpimr_request_group send_group;
  int send_in_flight;
  int final_sent;
  int abandoned; /**< The job ended out of step: no final report, no wait for the one in flight. */
  /* Rank 0: the receive posted, and the latest report of each rank. */
  progress_report incoming;
  MPI_Request receive_request;
  mpimr_request_group receive_group;
  int receive_posted;
  int cancelled; /**< The receive was cancelled: an out-of-step ending. */
  progress_report *latest;
  int finals; /**< Ranks whose final report has come. */
} progress_display;

/**
 * What a job's setting means on this rank: on rank 0, LINE or PLAIN to show
 * the display or OFF not to (AUTO resolved by whether `stream` is a
 * terminal, or is a pipe or socket and the stderr of the launcher that
 * started this process is one: mpirun hands its ranks a pipe and forwards
 * what they write); on the other ranks OFF (they only report, whenever the
 * setting is not OFF).
 */
mpimr_progress progress_resolve(mpimr_progress setting, int rank, FILE *stream);

/**
 * Starts the display on every rank of `comm`, all with the same `interval`
 * (seconds, above 0): `mode` is what progress_resolve() said for this rank.
 * Spawns its future on `ex`.
 */
void progress_start(progress_display *p, mpimr_executor *ex, MPI_Comm comm, int rank, int nranks,
                   mpimr_progress mode, double interval, FILE *stream, progress_sample_fn sample, void *context,
                   double started_at);

/** This rank's map and shuffle are done: it sends rank 0 its final report. Idempotent. */
void progress_close(progress_display *p, mpimr_executor *ex);

/**
 * The job's outcome is known: rank 0 prints the final line ("done" or
 * "failed") once every rank's final report is in, and its future ends; an
 * out-of-step outcome (mpimr_status_needs_abort()) cancels rank 0's receive
 * instead of waiting. Join progress_future() before the job ends. Nothing
 * for a display never started.
 */
void progress_stop(progress_display *p, mpimr_executor *ex, int outcome);

/** Shows the figures now on rank 0 (before a long step that returns to the executor only at its end). */
void progress_show(progress_display *p);

/** The display's future while it runs, else NULL. */
mpimr_future *progress_future(progress_display *p);

/**
 * Frees what the display holds; before the executor is freed: a receive
 * the reactor still holds (a job freed unfinished) is cancelled first.
 */
void progress_destroy(progress_display *p);

/** Writes the figures as the display's text ("map 43.1% of 1.07 GB, ...") into `text`. */
void progress_format(const progress_figures *figures, double elapsed, double map_elapsed, char *text,
                     size_t size);

#endif
