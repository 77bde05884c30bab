/**
 * @file
 * mpimr/trace.h — a timeline of your own program, one track per rank, for
 * Perfetto (https://ui.perfetto.dev) or chrome://tracing.
 *
 * Each rank creates a trace, records spans (a name, a start and an end
 * taken from mpimr_trace_now()) as it works, and at the end all ranks call
 * mpimr_trace_write() together: rank 0 gathers every rank's spans and writes
 * one Chrome trace-event JSON file with a track per rank. It is the same
 * recorder and writer a job uses for mpimr_job_config.trace_path.
 *
 * @code{.c}
 *   mpimr_trace *trace;
 *   mpimr_trace_create(&trace, "my solver", path != NULL); // on every rank
 *   double t0 = mpimr_trace_now();
 *   exchange_halos();
 *   mpimr_trace_span(trace, "halo exchange", t0, mpimr_trace_now());
 *   ...
 *   char why[512];
 *   if (mpimr_trace_write(trace, MPI_COMM_WORLD, path, why, sizeof why) != MPIMR_OK)
 *     fprintf(stderr, "%s\n", why);
 *   mpimr_trace_free(trace);
 * @endcode
 *
 * A trace created disabled records nothing and writes nothing: every call on
 * it returns at once (a NULL trace behaves the same), so the calls can stay in
 * the code. Times on each track are seconds from that rank's
 * mpimr_trace_create(); create the trace at the same point on every rank
 * (after MPI_Init or a barrier) for the tracks to line up. A trace belongs to
 * one thread at a time; two traces are independent.
 */
#ifndef MPIMR_TRACE_H
#define MPIMR_TRACE_H

#include <mpi.h>
#include <stddef.h>

#include "mpimr/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One rank's timeline. Create with mpimr_trace_create(), free with mpimr_trace_free(). */
typedef struct mpimr_trace mpimr_trace;

/**
 * The current time in seconds on a monotonic clock (CLOCK_MONOTONIC, the
 * clock a job times itself with). Only differences are meaningful.
 */
MPIMR_API double mpimr_trace_now(void);

/**
 * Creates a trace on the calling rank (not collective) whose time zero is
 * now. `label` names the timeline in the viewer (copied; NULL gives
 * "mpimr"). With `enabled` zero, the trace records and writes nothing.
 * `enabled` must be the same on every rank that will write the trace
 * together. Returns MPIMR_OK and sets `*trace`, MPIMR_ERR_INVAL if `trace`
 * is NULL, or MPIMR_ERR_NOMEM (then `*trace` is NULL).
 */
MPIMR_API int mpimr_trace_create(mpimr_trace **trace, const char *label, int enabled);

/** Non-zero if `trace` records spans (not NULL and created enabled). */
MPIMR_API int mpimr_trace_enabled(const mpimr_trace *trace);

/**
 * Records a span called `name` from `start` to `end` (times from
 * mpimr_trace_now(); spans may overlap and nest). The name is copied, once
 * per distinct name, so it may live on the stack or be reused at once; any
 * bytes are allowed (they are escaped in the file, and bytes that are not
 * UTF-8 become U+FFFD); NULL counts as "". Never fails: if memory runs out,
 * the span is lost and the file says that this rank lost spans. Does
 * nothing on a disabled or NULL trace.
 */
MPIMR_API void mpimr_trace_span(mpimr_trace *trace, const char *name, double start, double end);

/**
 * Writes every span recorded so far on every rank of `comm` to `path` as
 * Chrome trace-event JSON, a track per rank (collective over `comm`; every
 * rank passes the same `path`). Rank 0 writes the file under a temporary
 * name in the same directory and renames it into place when it is
 * complete, so `path` never holds a half-written file, and an existing file
 * is replaced only on success. The outcome is one for the whole
 * communicator: every rank returns the same status (MPIMR_OK,
 * MPIMR_ERR_INVAL, MPIMR_ERR_NOMEM, MPIMR_ERR_IO or MPIMR_ERR_MPI), and on
 * failure every rank gets the same message in `message` (at most
 * `message_size` bytes with its NUL; `message` may be NULL), naming the path
 * and the cause: "trace 'out/t.json': cannot create 'out/t.json.tmp.42': No
 * such file or directory". A disabled or NULL trace returns MPIMR_OK at once,
 * without communicating or touching `path`. The trace stays usable: a
 * later call writes the spans recorded until then.
 */
MPIMR_API int mpimr_trace_write(mpimr_trace *trace, MPI_Comm comm, const char *path, char *message,
                                size_t message_size);

/** Frees a trace and its spans (not collective); NULL is allowed. */
MPIMR_API void mpimr_trace_free(mpimr_trace *trace);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_TRACE_H */
