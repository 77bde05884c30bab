/*
 * mpimr/mpimr.h — the umbrella header: include this one.
 *
 * mpimr is a MapReduce framework on MPI. Each rank maps and reduces; the
 * shuffle is a nonblocking all-to-all driven by a per-rank futures executor.
 * See job.h to run a job, future.h to drive your own nonblocking MPI work on
 * the same executor, kv.h for keys and values, pin.h for core binding,
 * trace.h for a timeline of your own program.
 */
#ifndef MPIMR_MPIMR_H
#define MPIMR_MPIMR_H

#include "mpimr/error.h"
#include "mpimr/future.h"
#include "mpimr/job.h"
#include "mpimr/kv.h"
#include "mpimr/pin.h"
#include "mpimr/trace.h"
#include "mpimr/version.h"

#endif /* MPIMR_MPIMR_H */
