/*
 * job/steal.h — dynamic map: ranks that run out of input take chunks of it
 * from ranks that still have some.
 *
 * The input is cut into CHUNKS_PER_RANK chunks per rank (files by
 * input_split() over nranks * CHUNKS_PER_RANK ranges, so chunk boundaries
 * follow the same record rule as rank boundaries; a map_index range in
 * equal parts, map.c); rank r starts with chunks
 * [r * CHUNKS_PER_RANK, (r + 1) * CHUNKS_PER_RANK), consecutive, so the
 * common case reads what it read before. A rank's unstarted chunks are
 * always one range [next, end) that only its own executor changes.
 *
 * Every rank runs a server, a small future on its executor that keeps one
 * MPI_Irecv posted for requests (tag STEAL_ASK_TAG on the job's
 * communicator: the asker's rank) and answers each with the upper half of
 * its unstarted chunks, perhaps none (STEAL_GIVE_TAG: two uint64_t, [first,
 * end)). A rank whose chunks are done asks the other ranks in turn, from
 * the next one up, and maps what it is given; once every other rank said
 * none in one sweep it is done and posts an MPI_Ibarrier; the server answers
 * until the barrier completes (every rank done, so no request can come),
 * then cancels its receive and ends. Nothing blocks; the map future waits
 * for an answer like for any request. A failed MPI call (or no room in the
 * reactor) sets `failed`: the map then fails with MPIMR_ERR_MPI, an
 * out-of-step ending, and nothing waits for the server; a failure of the
 * server after this rank's map is over wakes `on_failure` (the job), which
 * ends the same way.
 */
#ifndef MPIMR_JOB_STEAL_H
#define MPIMR_JOB_STEAL_H

#include <mpi.h>
#include <stdint.h>

#include "mpimr/future.h"

enum { CHUNKS_PER_RANK = 16, STEAL_ASK_TAG = 0x5744, STEAL_GIVE_TAG = 0x5745 };

typedef struct work_share {
  mpimr_future server;
  MPI_Comm comm;
  int rank;
  int nranks;
  int running; /**< The server's future is spawned and not finished. */
  uint64_t next; /**< This rank's unstarted chunks: [next, end). */
  uint64_t end;
  /* The server. */
  uint64_t ask; /**< The asker's rank. */
  MPI_Request ask_request;
  mpimr_request_group ask_group;
  int ask_posted;
  uint64_t give[2];
  MPI_Request give_request;
  int give_in_flight;
  MPI_Request barrier_request;
  mpimr_request_group barrier_group;
  int barrier_posted;
  int failed; /**< An MPI call failed, or the reactor had no room: the ranks are out of step. */
  mpimr_future *on_failure; /**< Woken when the server fails (this rank's map may be over by then). */
  /* This rank asking. */
  int asked;      /**< Ranks that said none in the current sweep. */
  int victim;     /**< The rank asked last. */
  uint64_t my_rank_word;
  uint64_t got[2];
  MPI_Request answer_request; /**< The receive of the asked rank's answer. */
  mpimr_request_group answer_group;
  MPI_Request ask_send_request;
  mpimr_request_group ask_send_group;
  int steal_in_flight;
  int done;      /**< Every other rank said none in one sweep (a sweep is not a snapshot: one that
                      said none may be given chunks later; balance, not correctness): asks no more. */
  int abandoned; /**< An out-of-step ending: nothing more is answered. */
  /* Figures. */
  uint64_t chunks_taken; /**< Chunks this rank was given by others. */
  uint64_t chunks_given; /**< Chunks this rank gave away. */
} work_share;

/**
 * Sets up the share of rank `rank` of `nranks` and spawns its server on
 * `ex`. `on_failure` is woken if the server fails (it reads `failed`):
 * after this rank's map is over nothing else would notice, and the rank
 * that asked would wait for ever.
 */
void work_share_start(work_share *w, mpimr_executor *ex, MPI_Comm comm, int rank, int nranks,
                      mpimr_future *on_failure);

/** The next chunk this rank maps: 1 and `*chunk`, or 0 when its own are done (ask the others). */
int work_share_take(work_share *w, uint64_t *chunk);

/**
 * This rank's chunks are done: asks the next rank for some, waking `waiter`
 * when it answers (call work_share_answered() then). Returns MPIMR_OK, or
 * MPIMR_ERR_MPI.
 */
int work_share_ask(work_share *w, mpimr_executor *ex, mpimr_future *waiter);

/** 1 while a request of this rank waits for its answer. */
int work_share_asking(const work_share *w);

/**
 * Takes the answer of the last request: 1 if chunks came (work_share_take()
 * has them), 0 if not (ask again, unless w->done: every rank said none).
 * Returns -1 if the exchange failed.
 */
int work_share_answered(work_share *w);

/**
 * This rank maps no more (done, or failed): posts its part of the barrier
 * that ends every server. Call once, on every path that ends the map, in
 * step with the other ranks.
 */
int work_share_finish(work_share *w, mpimr_executor *ex);

/** The server's future while it runs (join it before the job ends), else NULL. */
mpimr_future *work_share_future(work_share *w);

/**
 * An out-of-step ending, or a job freed unfinished (call it before the
 * executor is freed): stops answering and cancels the receives the reactor
 * holds.
 */
void work_share_abandon(work_share *w);

#endif
