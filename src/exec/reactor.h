/*
 * exec/reactor.h — the set of outstanding MPI requests of one executor.
 *
 * Requests live in dense parallel arrays (handles, owning groups) so one
 * MPI_Testsome covers them all; completed slots are swap-removed. Each
 * request belongs to a request group; when a group's countdown reaches zero
 * its owner future is handed to the wake callback. The reactor's interface
 * (add a group of requests, poll once) is what an MPIX_Continue-based
 * implementation would offer too.
 */
#ifndef MPIMR_EXEC_REACTOR_H
#define MPIMR_EXEC_REACTOR_H

#include <mpi.h>

#include "mpimr/future.h"

typedef struct reactor {
  MPI_Request *requests;
  mpimr_request_group **groups;
  int *completed_indices;
  MPI_Status *statuses;
  int count;
  int capacity;
} reactor;

/** Prepares an empty reactor with room for `capacity` requests. Returns MPIMR_OK or NOMEM. */
int reactor_init(reactor *r, int capacity);

/** Cancels and frees every outstanding request and the arrays. */
void reactor_destroy(reactor *r);

/**
 * Adds `count` requests to `group` (whose owner and countdown the caller has
 * set). Null requests are not stored. Returns the number stored, or -1 on
 * allocation failure (then nothing was stored).
 */
int reactor_add(reactor *r, mpimr_request_group *group, const MPI_Request *requests, int count);

/**
 * Tests every outstanding request once. For each group that reaches zero,
 * calls `wake(context, group->owner)`. Returns the number of requests
 * completed, or a negative mpimr status if MPI_Testsome itself failed.
 */
int reactor_poll(reactor *r, void (*wake)(void *context, mpimr_future *owner), void *context);

#endif
