/*
 * job/steal.c — dynamic map's chunks: this rank's range, the server that gives half of it away,
 * asking the other ranks in turn, and the barrier that ends the servers; see steal.h.
 */
#include "job/steal.h"

#include <string.h>

#include "mpimr/error.h"

/* Hands one request to the reactor for `owner`. Without room the ranks would have to wait here for
 * each other, so the share fails instead (out of step: the job ends without another collective). */
static void hand(work_share *w, mpimr_executor *ex, mpimr_future *owner, mpimr_request_group *group,
                 MPI_Request *request) {
  if (mpimr_future_await_requests(ex, owner, group, request, 1) == MPIMR_OK) return;
  w->failed = 1;
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
  if (w->ask >= (uint64_t)w->nranks ||
      MPI_Isend(w->give, 2, MPI_UINT64_T, (int)w->ask, STEAL_GIVE_TAG, w->comm, &w->give_request) != MPI_SUCCESS) {
    w->end += given; /* nothing was given */
    w->failed = 1;
    return;
  }
  w->chunks_given += given;
  w->give_in_flight = 1;
}

static mpimr_poll_result server_step(work_share *w, mpimr_executor *ex) {
  mpimr_future *self = &w->server;
  if (w->ask_posted && w->ask_group.remaining == 0) {
    w->ask_posted = 0;
    /* Once the barrier has completed no request can come (every asker had its answer before it
     * joined the barrier): a receive that completes then was cancelled. */
    int cancelled = w->barrier_posted && w->barrier_group.remaining == 0;
    if (w->ask_group.error != MPI_SUCCESS)
      w->failed = 1;
    else if (!cancelled && !w->abandoned)
      answer(w);
  }
  int barrier_done = w->barrier_posted && w->barrier_group.remaining == 0;
  if (barrier_done && w->ask_posted) { /* every rank is done: no request can come any more */
    MPI_Cancel(&w->ask_request);
    return MPIMR_PENDING; /* woken when the cancelled receive completes */
  }
  if (barrier_done) { /* the only end: until then another rank may ask */
    if (w->give_in_flight) MPI_Wait(&w->give_request, MPI_STATUS_IGNORE);
    w->give_in_flight = 0;
    w->running = 0;
    self->result = w->failed ? MPIMR_ERR_MPI : MPIMR_OK;
    return MPIMR_READY;
  }
  if (!w->ask_posted && !w->failed && !w->abandoned) {
    w->ask = UINT64_MAX;
    if (MPI_Irecv(&w->ask, 1, MPI_UINT64_T, MPI_ANY_SOURCE, STEAL_ASK_TAG, w->comm, &w->ask_request) !=
        MPI_SUCCESS) {
      w->failed = 1;
      return MPIMR_PENDING; /* the barrier (posted whatever happens) ends it */
    }
    w->ask_posted = 1;
    hand(w, ex, self, &w->ask_group, &w->ask_request);
  }
  return MPIMR_PENDING;
}

/* A failure the server meets is told to the job once (its map may be over, and the asker waits). */
static mpimr_poll_result server_poll(mpimr_future *self, mpimr_executor *ex) {
  work_share *w = (work_share *)(void *)self;
  int failed_before = w->failed;
  mpimr_poll_result outcome = server_step(w, ex);
  if (w->failed && !failed_before && w->on_failure != NULL) mpimr_future_wake(ex, w->on_failure);
  return outcome;
}

void work_share_start(work_share *w, mpimr_executor *ex, MPI_Comm comm, int rank, int nranks,
                      mpimr_future *on_failure) {
  memset(w, 0, sizeof *w);
  w->on_failure = on_failure;
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
  if (MPI_Irecv(w->got, 2, MPI_UINT64_T, w->victim, STEAL_GIVE_TAG, w->comm, &w->answer_request) != MPI_SUCCESS) {
    w->failed = 1;
    return MPIMR_ERR_MPI;
  }
  w->steal_in_flight = 1;
  hand(w, ex, waiter, &w->answer_group, &w->answer_request);
  if (MPI_Isend(&w->my_rank_word, 1, MPI_UINT64_T, w->victim, STEAL_ASK_TAG, w->comm, &w->ask_send_request) !=
      MPI_SUCCESS) {
    w->failed = 1;
    return MPIMR_ERR_MPI;
  }
  hand(w, ex, waiter, &w->ask_send_group, &w->ask_send_request);
  return w->failed ? MPIMR_ERR_MPI : MPIMR_OK;
}

int work_share_asking(const work_share *w) {
  return w->steal_in_flight && !w->failed && (w->answer_group.remaining > 0 || w->ask_send_group.remaining > 0);
}

int work_share_answered(work_share *w) {
  if (!w->steal_in_flight) return 0;
  w->steal_in_flight = 0;
  if (w->failed || w->answer_group.error != MPI_SUCCESS || w->ask_send_group.error != MPI_SUCCESS ||
      w->got[1] < w->got[0] || w->got[1] > (uint64_t)w->nranks * CHUNKS_PER_RANK)
    return -1;
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
  if (w->barrier_posted || w->nranks == 0) return MPIMR_OK;
  w->done = 1;
  w->end = w->next; /* this rank's map is over: nothing more is given away */
  if (MPI_Ibarrier(w->comm, &w->barrier_request) != MPI_SUCCESS) {
    w->failed = 1;
    return MPIMR_ERR_MPI;
  }
  w->barrier_posted = 1;
  hand(w, ex, &w->server, &w->barrier_group, &w->barrier_request);
  return w->failed ? MPIMR_ERR_MPI : MPIMR_OK;
}

mpimr_future *work_share_future(work_share *w) { return w->running ? &w->server : NULL; }

void work_share_abandon(work_share *w) {
  if (w->abandoned) return;
  w->abandoned = 1;
  /* Only receives the reactor still holds: one it completed has been freed. */
  if (w->ask_posted && w->ask_group.remaining > 0) MPI_Cancel(&w->ask_request);
  if (w->steal_in_flight && w->answer_group.remaining > 0) MPI_Cancel(&w->answer_request);
}

