/*
 * job/stall_watch.h — notices a job that has waited a long time without
 * progress, names the ranks it waits for, and can end it.
 *
 * The watch is one small future on the job's executor, beside the map, the
 * shuffle driver and the job's own future: no thread, and no collective
 * while the job runs. It owns a timer (a condition on the monotonic clock
 * that the reactor tests on every tick, re-armed about once a second), on
 * every rank but 0 a receive for rank 0's probes, on rank 0 the probes and
 * the receives for their replies, and the host names gathered to rank 0
 * (MPI_Igather, plus rank 0's own by MPI_Ibcast when a timeout is set) once
 * when it starts. All its messages travel on the job's communicator, which
 * carries no other point-to-point message but the progress display's
 * (job/progress.h), under a tag of its own.
 *
 * What it promises:
 *  - Progress is any poll of another future: every request group that
 *    completes and every condition that holds wakes its owner, which is then
 *    polled, so other futures' polls count every kind of progress the
 *    executor sees, and the watch's own timer, probes and replies none.
 *  - Rank 0, once it has waited `warning` seconds without progress, probes
 *    every other rank and after a grace of 2 s (or every answer) prints once
 *    per job which ranks did not answer, with their hosts, and where the
 *    others wait. With `timeout` set it does the same after `timeout`
 *    seconds and then fails: stall_watch_status() says MPIMR_ERR_STALLED and
 *    stall_watch_message() why; the job must then end without another
 *    collective (the caller aborts). Ranks that answer while one of them is
 *    still working mean the job moves: rank 0 then neither warns nor fails.
 *  - With `timeout` set rank 0 also probes every rank every `timeout` / 3
 *    seconds, so the others hear from it while it is alive; a rank that has
 *    neither progressed nor heard from rank 0 for `timeout` + 10 s fails on
 *    its own, naming rank 0 (which may be the stopped one).
 *  - A rank that answers has come back to its executor. A rank that computes
 *    inside one poll for a long time (a long reduce) cannot answer, exactly
 *    like a stopped one: a stall timeout must exceed the longest such step.
 *  - No message of the watch is left unmatched when the job frees its
 *    communicator (Open MPI would hand it to the next communicator with the
 *    same context id): the job closes the watch on every ending but the
 *    out-of-step ones, and the watch's future is READY once rank 0 has told
 *    each rank by MPI_Iscatter how many probes it sent it, each rank has
 *    answered them all and cancelled its probe receive, and rank 0 has every
 *    reply.
 *
 * Every rank must pass the same settings (the watch posts collectives).
 */
#ifndef MPIMR_JOB_STALL_WATCH_H
#define MPIMR_JOB_STALL_WATCH_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "mpimr/future.h"

enum { STALL_HOST_BYTES = 64, STALL_PHASE_BYTES = 40 };

/** Writes the job's phase ("map", "shuffle", ...) into `phase` and its shuffle round (-1: none). */
typedef void (*stall_locate_fn)(void *context, char *phase, size_t size, int64_t *round);

/** A rank's answer to a probe, sent as bytes (the ranks share one architecture). */
typedef struct stall_reply {
  double idle_seconds; /**< Since the rank last saw progress (or heard from rank 0). */
  int64_t round;       /**< Its shuffle round, or -1. */
  char phase[STALL_PHASE_BYTES];
} stall_reply;

/** A request the reactor had no room for: the watch tests it itself whenever it is polled. */
typedef struct stall_held_request {
  MPI_Request *request;
  mpimr_request_group *group;
} stall_held_request;

/** What rank 0 knows of another rank. */
typedef struct stall_peer {
  MPI_Request reply_request;
  mpimr_request_group reply_group; /**< remaining > 0 while its reply to the latest probe is due. */
  stall_reply reply;
  int probes;       /**< Probes sent to it. */
  int probe_round;  /**< The probe round of the latest one. */
  double probed_at; /**< When the latest one was sent. */
} stall_peer;

typedef struct stall_watch {
  mpimr_future base;
  int enabled; /**< The settings ask for a watch and there are other ranks. */
  int running; /**< Started and not yet ended. */
  int closing; /**< The job has ended: drain the messages, then be READY. */
  int status;  /**< MPIMR_OK, MPIMR_ERR_STALLED, or MPIMR_ERR_MPI if an MPI call of the watch failed. */
  MPI_Comm comm;
  int rank;
  int nranks;
  double warning;
  double timeout;
  double interval; /**< Between looks at the progress counters. */
  mpimr_condition timer;
  double deadline;
  uint64_t own_polls;
  uint64_t others_polls; /**< Polls of other futures when last looked. */
  const uint64_t *ignored_polls; /**< Polls of a future that are not progress either (stall_watch_ignore_polls). */
  double started_at;
  double last_progress;
  double last_heard; /**< Not rank 0: when the latest probe came. */
  stall_locate_fn locate;
  void *locate_context;
  mpimr_future *on_stall; /**< Woken when the status turns into a failure. */
  char own_host[STALL_HOST_BYTES];
  char root_host[STALL_HOST_BYTES];
  char *hosts; /**< Rank 0: every rank's host, STALL_HOST_BYTES each. */
  MPI_Request start_requests[2];
  mpimr_request_group start_group;
  stall_held_request *held;
  int held_count;
  int held_capacity;
  /* Rank 0. */
  stall_peer *peers;
  MPI_Request *probe_sends;
  mpimr_request_group probe_sends_group;
  int probe_round;
  int round_active;
  double round_started;
  double last_round_at;
  int warned;
  int *probe_counts; /**< What the closing MPI_Iscatter sends. */
  /* The other ranks. */
  MPI_Request probe_receive;
  mpimr_request_group probe_receive_group;
  int probe_buffer;
  int probe_posted;
  int cancel_asked;
  int probes_received;
  int unanswered;
  MPI_Request reply_send;
  mpimr_request_group reply_send_group;
  stall_reply reply;
  /* Closing. */
  MPI_Request scatter_request;
  mpimr_request_group scatter_group;
  int scatter_posted;
  int expected_probes;
  char message[1024];
} stall_watch;

/**
 * Prepares the watch for a job on `comm` (not collective; allocates). A
 * `warning` and `timeout` of 0 each turn that part off; with both off, or a
 * single rank, the watch stays disabled and costs nothing. Returns MPIMR_OK
 * or MPIMR_ERR_NOMEM.
 */
int stall_watch_init(stall_watch *w, MPI_Comm comm, double warning, double timeout);

/**
 * Tells the watch that the polls counted at `*polls` (a display's timer, say)
 * are not progress either. Call before stall_watch_start(); `polls` must
 * outlive the watch.
 */
void stall_watch_ignore_polls(stall_watch *w, const uint64_t *polls);

/**
 * Starts an enabled watch when the job starts (collective: posts the host
 * gathering) and spawns its future. `locate` names the job's phase in
 * messages; `on_stall` is woken when stall_watch_status() turns into a
 * failure.
 */
void stall_watch_start(stall_watch *w, mpimr_executor *ex, stall_locate_fn locate, void *locate_context,
                       mpimr_future *on_stall);

/**
 * The job has ended with `status`: unless the watch is not running or the
 * status needs an abort (the ranks are out of step), starts draining the
 * watch's messages and returns non-zero: join stall_watch_future() before
 * anything else that is collective. Returns zero when there is nothing to do.
 */
int stall_watch_close(stall_watch *w, mpimr_executor *ex, int status);

/** The watch's future (for mpimr_future_join after stall_watch_close()). */
mpimr_future *stall_watch_future(stall_watch *w);

/** MPIMR_OK while all is well; MPIMR_ERR_STALLED or MPIMR_ERR_MPI once the job must end and abort. */
int stall_watch_status(const stall_watch *w);

/** Why the status is a failure ("" otherwise). */
const char *stall_watch_message(const stall_watch *w);

/**
 * Frees the watch's memory. A watch that did not close (the job ended out
 * of step) first cancels its receives, so no late message lands in freed
 * memory; call it before freeing the executor.
 */
void stall_watch_destroy(stall_watch *w);

#endif
