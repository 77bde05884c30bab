/*
 * job/steal.c — dynamic map's chunks: this rank's range, the server that gives half of it away,
 * asking the other ranks in turn, and the barrier that ends the servers; see steal.h.
 */
#include "job/steal.h"

#include <string.h>

#include "mpimr/error.h"

/* Hands `count` requests to the reactor for `owner`; without room, finishes them here (they are
 * small, and answered by the other ranks' servers whatever this rank does). */
static void hand(mpimr_executor *ex, mpimr_future *owner, mpimr_request_group *group, MPI_Request *requests,
                 int count) {
  if (mpimr_future_await_requests(ex, owner, group, requests, count) == MPIMR_OK) return;
  group->error = MPI_Waitall(count, requests, MPI_STATUSES_IGNORE);
  group->remaining = 0;
  mpimr_future_wake(ex, owner);
}

/* Answers the request that came: the upper half of the unstarted chunks (rounded up), or none. */
static void answer(work_share *w) {
  if (w->give_in_flight) MPI_Wait(&w->give_request, MPI_STATUS_IGNORE); /* a small send: done already */
  w->give_in_flight = 0;
  uint64_t remaining = w->end - w->next, given = (remaining + 1) / 2;
  w->give[0] = w->end - given;
  w->give[1] = w->end;
  w->end -= given;
  w->chunks_given += given;
  if (w->ask >= (uint64_t)w->nranks ||
      MPI_Isend(w->give, 2, MPI_UINT64_T, (int)w->ask, STEAL_GIVE_TAG, w->comm, &w->give_request) != MPI_SUCCESS) {
    w->failed = 1;
    return;
  }
  w->give_in_flight = 1;
}

static mpimr_poll_result server_poll(mpimr_future *self, mpimr_executor *ex) {
  work_share *w = (work_share *)(void *)self;
  if (w->ask_posted && w->ask_group.remaining == 0) {
    w->ask_posted = 0;
    /* Once the barrier has completed no request can come (every asker had its answer before it
     * joined the barrier): a receive that completes then was cancelled. */
    int cancelled = w->barrier_posted && w->barrier_group.remaining == 0;
    if (w->ask_group.error != MPI_SUCCESS)
      w->failed = 1;
    else if (!cancelled)
      answer(w);
  }
  int barrier_done = w->barrier_posted && w->barrier_group.remaining == 0;
  if (barrier_done && w->ask_posted) { /* every rank is done: no request can come any more */
    MPI_Cancel(&w->ask_request);
    return MPIMR_PENDING; /* woken when the cancelled receive completes */
  }
  if (barrier_done || (w->failed && !w->ask_posted && !w->barrier_posted)) {
    if (w->give_in_flight) MPI_Wait(&w->give_request, MPI_STATUS_IGNORE);
    w->give_in_flight = 0;
    w->running = 0;
    self->result = w->failed ? MPIMR_ERR_MPI : MPIMR_OK;
    return MPIMR_READY;
  }
  if (!w->ask_posted && !w->failed) {
    w->ask = UINT64_MAX;
    if (MPI_Irecv(&w->ask, 1, MPI_UINT64_T, MPI_ANY_SOURCE, STEAL_ASK_TAG, w->comm, &w->ask_request) !=
        MPI_SUCCESS) {
      w->failed = 1;
      return MPIMR_PENDING; /* the barrier (posted whatever happens) ends it */
    }
    w->ask_posted = 1;
    hand(ex, self, &w->ask_group, &w->ask_request, 1);
  }
  return MPIMR_PENDING;
}

void work_share_start(work_share *w, mpimr_executor *ex, MPI_Comm comm, int rank, int nranks) {
  memset(w, 0, sizeof *w);
  w->comm = comm;
  w->rank = rank;
  w->nranks = nranks;
  w->next = (uint64_t)rank * CHUNKS_PER_RANK;
  w->end = w->next + CHUNKS_PER_RANK;
  w->running = 1;
  mpimr_future_init(&w->server, server_poll);
  mpimr_executor_spawn(ex, &w->server);
}

int work_share_take(work_share *w, uint64_t *chunk) {
  if (w->next == w->end) return 0;
  *chunk = w->next++;
  return 1;
}

int work_share_ask(work_share *w, mpimr_executor *ex, mpimr_future *waiter) {
  if (w->nranks == 1 || w->asked >= w->nranks - 1) {
    w->done = 1;
    mpimr_future_wake(ex, waiter);
    return MPIMR_OK;
  }
  w->victim = (w->rank + 1 + w->asked) % w->nranks;
  w->my_rank_word = (uint64_t)w->rank;
  w->got[0] = w->got[1] = 0;
  if (MPI_Irecv(w->got, 2, MPI_UINT64_T, w->victim, STEAL_GIVE_TAG, w->comm, &w->steal_requests[0]) !=
      MPI_SUCCESS)
    return MPIMR_ERR_MPI;
  if (MPI_Isend(&w->my_rank_word, 1, MPI_UINT64_T, w->victim, STEAL_ASK_TAG, w->comm, &w->steal_requests[1]) !=
      MPI_SUCCESS) {
    MPI_Cancel(&w->steal_requests[0]);
    MPI_Wait(&w->steal_requests[0], MPI_STATUS_IGNORE);
    return MPIMR_ERR_MPI;
  }
  w->steal_in_flight = 1;
  hand(ex, waiter, &w->steal_group, w->steal_requests, 2);
  return MPIMR_OK;
}

int work_share_asking(const work_share *w) { return w->steal_in_flight && w->steal_group.remaining > 0; }

int work_share_answered(work_share *w) {
  if (!w->steal_in_flight) return 0;
  w->steal_in_flight = 0;
  if (w->steal_group.error != MPI_SUCCESS || w->got[1] < w->got[0]) return -1;
  if (w->got[1] > w->got[0]) {
    w->next = w->got[0];
    w->end = w->got[1];
    w->chunks_taken += w->got[1] - w->got[0];
    w->asked = 0; /* a new sweep once these are done */
    return 1;
  }
  if (++w->asked >= w->nranks - 1) w->done = 1;
  return 0;
}

int work_share_finish(work_share *w, mpimr_executor *ex) {
  if (!w->running || w->barrier_posted) return MPIMR_OK;
  w->done = 1;
  if (MPI_Ibarrier(w->comm, &w->barrier_request) != MPI_SUCCESS) {
    w->failed = 1;
    return MPIMR_ERR_MPI;
  }
  w->barrier_posted = 1;
  hand(ex, &w->server, &w->barrier_group, &w->barrier_request, 1);
  return MPIMR_OK;
}

mpimr_future *work_share_future(work_share *w) { return w->running ? &w->server : NULL; }

void work_share_abandon(work_share *w) {
  if (w->ask_posted && w->ask_group.remaining > 0) MPI_Cancel(&w->ask_request);
}
