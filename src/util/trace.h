/*
 * util/trace.h — a timeline per rank for Perfetto / chrome://tracing.
 *
 * Each rank records spans into its own growable array; at the end rank 0
 * gathers them and writes one Chrome trace-event JSON file with a track per
 * rank. Two kinds of span share the one recorder and the one writer:
 *
 *  - the job's own (map slices, waits for a free send buffer, each round's
 *    header and data exchange, folding received rounds, reduce, output),
 *    recorded by kind with trace_span(): one branch when tracing is off;
 *  - named spans (TRACE_NAMED), recorded with trace_span_named() for the
 *    public mpimr_trace API. Names are copied once into the trace's name
 *    table, and a span holds the name's offset in it, so spans stay small and
 *    each distinct name crosses the gather once.
 *
 * A span may carry a value: a TRACE_ROUND_DATA span's is the bytes this rank
 * received in that round (trace_span_value()). Besides spans, the recorder
 * takes samples of the job's memory (TRACE_MEMORY, trace_memory()), written
 * as a counter that viewers draw as a graph under the rank's track.
 *
 * Times are seconds from the rank's own origin (for a job, its start; the
 * ranks start together, at the job's first collective).
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
  TRACE_NAMED,  /**< A span named by the caller (trace_span_named()). */
  TRACE_MEMORY, /**< Not a span: a sample of the bytes in use at `start` (trace_memory()). */
  TRACE_KIND_COUNT
} trace_kind;

/** One span or sample, as recorded and as gathered (the ranks send it as bytes). */
typedef struct trace_event {
  double start; /**< Seconds from the origin; a sample's time, for TRACE_MEMORY. */
  double end;   /**< Equal to `start` for TRACE_MEMORY. */
  uint32_t kind;
  /** The shuffle round, for round spans; the name's offset in the name table, for TRACE_NAMED. */
  uint32_t round;
  /** Bytes received, for TRACE_ROUND_DATA; bytes in use, for TRACE_MEMORY; 0 otherwise. */
  uint64_t value;
} trace_event;

/**
 * The distinct names of named spans, interned: `text` holds them back to
 * back, each with its terminating NUL; `slots` is an open-addressing hash
 * table of offsets into `text` (plus one; zero marks a free slot).
 */
typedef struct trace_names {
  char *text;
  size_t length;
  size_t capacity;
  uint32_t *slots;
  size_t slot_count; /**< A power of two, or zero before the first name. */
  size_t used;       /**< Distinct names held. */
} trace_names;

typedef struct trace {
  trace_event *events;
  size_t count;
  size_t capacity;
  double origin;
  int enabled;
  int dropped;       /**< Set if an allocation failed and events were lost. */
  trace_names names; /**< Names of TRACE_NAMED spans. */
  char *label;       /**< The timeline's process name; NULL means "mpimr job". */
} trace;

/** Starts an empty trace; `origin` is the job's start on this rank. */
void trace_init(trace *t, int enabled, double origin);

void trace_destroy(trace *t);

/** Names the timeline (copied; shown as the process name). Returns 0, or -1 if out of memory. */
int trace_set_label(trace *t, const char *label);

/** Records one span (absolute times from clock_now()) with value 0; call trace_span() instead. */
void trace_span_slow(trace *t, trace_kind kind, double start, double end, uint64_t round);

/** Records one span that carries a value; call trace_span_value() instead. */
void trace_span_value_slow(trace *t, trace_kind kind, double start, double end, uint64_t round,
                           uint64_t value);

/** Records a sample of the bytes in use; call trace_memory() instead. */
void trace_memory_slow(trace *t, double when, uint64_t bytes);

/** Records one span (absolute times from clock_now()): one branch when tracing is off. */
static inline void trace_span(trace *t, trace_kind kind, double start, double end, uint64_t round) {
  if (t->enabled) trace_span_slow(t, kind, start, end, round);
}

/**
 * Records one span with a value: for TRACE_ROUND_DATA, the bytes this rank
 * received in round `round`, written as the span's "bytes". One branch when
 * tracing is off.
 */
static inline void trace_span_value(trace *t, trace_kind kind, double start, double end, uint64_t round,
                                    uint64_t value) {
  if (t->enabled) trace_span_value_slow(t, kind, start, end, round, value);
}

/**
 * Records that this rank had `bytes` in use at `when` (absolute, from
 * clock_now()); written as a sample of the counter "memory" on the rank's
 * track. One branch when tracing is off.
 */
static inline void trace_memory(trace *t, double when, uint64_t bytes) {
  if (t->enabled) trace_memory_slow(t, when, bytes);
}

/** Records a span called `name` (copied, at most once per distinct name). */
void trace_span_named(trace *t, const char *name, double start, double end);

/**
 * Collective over `comm`: gathers every rank's events and has rank 0 write
 * them to `path`, first under a temporary name that is renamed into place
 * once complete. Returns the same status on every rank; on failure
 * `message` says why, naming the path and the cause, on every rank.
 */
int trace_write(const trace *t, MPI_Comm comm, const char *path, char *message, size_t message_size);

#endif
