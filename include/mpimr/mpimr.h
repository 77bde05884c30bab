/**
 * @file
 * mpimr/mpimr.h — the umbrella header: include this one.
 *
 * mpimr is a MapReduce framework on MPI. Each rank maps and reduces; the
 * shuffle is a nonblocking all-to-all driven by a per-rank futures executor.
 * See job.h to run a job, future.h to drive your own nonblocking MPI work on
 * the same executor, kv.h for keys and values, pin.h for core binding,
 * trace.h for a timeline of your own program.
 */
/**
 * @mainpage mpimr
 *
 * A MapReduce framework in C on MPI: every rank maps and reduces, and map
 * output moves in rounds of nonblocking all-to-all that overlap the map,
 * driven by a per-rank futures executor. Include mpimr/mpimr.h.
 *
 * - mpimr/job.h: a job (configuration, run, error message, figures), with a
 *   complete example at the top, and mpimr_fail() for map and reduce code;
 * - mpimr/callbacks.h: combining, ordering and formatting values, the
 *   built-in combiner and formatter; mpimr/transport.h: shuffle transports;
 * - mpimr/kv.h: emitting pairs, iterating a key's values, fixed-layout numbers;
 * - mpimr/error.h: status codes, and which of them need the caller to act;
 * - mpimr/dataset.h: pairs kept in memory between jobs (iterative algorithms);
 * - mpimr/future.h: the executor, for your own nonblocking MPI work;
 * - mpimr/pin.h: binding ranks to cores; mpimr/trace.h: a timeline.
 *
 * The README walks through writing a job ("Writing a job in C"), linking
 * (CMake package or pkg-config), tuning, and what each failure looks like.
 */
#ifndef MPIMR_MPIMR_H
#define MPIMR_MPIMR_H

#include "mpimr/callbacks.h"
#include "mpimr/dataset.h"
#include "mpimr/error.h"
#include "mpimr/future.h"
#include "mpimr/job.h"
#include "mpimr/kv.h"
#include "mpimr/pin.h"
#include "mpimr/signals.h"
#include "mpimr/trace.h"
#include "mpimr/transport.h"
#include "mpimr/version.h"

#endif /* MPIMR_MPIMR_H */
