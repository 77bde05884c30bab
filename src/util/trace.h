/*
 * util/trace.h — a timeline of one job for Perfetto / chrome://tracing.
 *
 * Each rank records spans (map slices, waits for a free send buffer, each
 * round's header and data exchange, folding received rounds, reduce,
 * output) into its own growable array; at the end rank 0 gathers them and
 * writes one Chrome trace-event JSON file with a track per rank. Recording
 * is one branch when tracing is off. Times are seconds from the rank's own
 * job start (the ranks start together, at the job's first collective).
 */
#ifndef MPIMR_UTIL_TRACE_H
#define MPIMR_UTIL_TRACE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef enum trace_kind {
  TRACE_MAP_SLICE,
  TRACE_SEND_WAIT,
  TRACE_ROUND_HEADER,
  TRACE_ROUND_DATA,
  TRACE_FOLD_ROUND,
  TRACE_SHUFFLE_TAIL,
  TRACE_REDUCE,
  TRACE_OUTPUT,
  TRACE_KIND_COUNT
} trace_kind;

typedef struct trace_event {
  double start;
  double end;
  uint32_t kind;
  uint32_t round; /**< The shuffle round, where the span has one. */
} trace_event;

typedef struct trace {
  trace_event *events;
  size_t count;
  size_t capacity;
  double origin;
  int enabled;
  int dropped; /**< Set if an allocation failed and events were lost. */
} trace;

/** Starts an empty trace; `origin` is the job's start on this rank. */
void trace_init(trace *t, int enabled, double origin);

void trace_destroy(trace *t);

/** Records one span (absolute times from clock_now()). */
void trace_span_slow(trace *t, trace_kind kind, double start, double end, uint64_t round);

static inline void trace_span(trace *t, trace_kind kind, double start, double end, uint64_t round) {
  if (t->enabled) trace_span_slow(t, kind, start, end, round);
}

/**
 * Collective over `comm`: gathers every rank's events and has rank 0 write
 * them to `path`. Returns the same status on every rank; on failure
 * `message` says why (on rank 0).
 */
int trace_write(const trace *t, MPI_Comm comm, const char *path, char *message, size_t message_size);

#endif
