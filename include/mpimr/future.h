/**
 * @file
 * mpimr/future.h — a single-threaded executor of stackless futures whose
 * reactor polls MPI requests.
 *
 * A future is a struct that embeds `mpimr_future` (usually as its first
 * member) and a poll function. The executor polls a future when it is woken;
 * the poll function advances a state machine (the `state` field is free for
 * its switch) and returns MPIMR_READY when finished or MPIMR_PENDING when it
 * must wait. Returning PENDING is a promise that something will wake the
 * future later: either it called mpimr_future_wake() on itself (a compute
 * future yielding its slice), or it registered MPI requests with
 * mpimr_future_await_requests(), or a condition the reactor tests with
 * mpimr_future_await_condition() (a flag another process sets in shared
 * memory), or it is waiting on another future with mpimr_future_join(). A
 * future that returns PENDING with no waker is never polled again.
 *
 * Waking is idempotent: a future that is already queued is not queued twice,
 * and one woken while it is being polled is queued again after the poll
 * returns. Each tick polls at most `tasks_per_tick` queued futures (those
 * woken during the tick run in the next one), then tests every outstanding
 * request once with MPI_Testsome, so neither compute nor communication
 * starves the other. A future woken by its requests or condition goes
 * ahead of those woken by mpimr_future_wake() (in the order the network
 * woke them): a communication step runs before the next compute slice, and
 * its bytes move while the slice runs. After a tick that polled none of the
 * other futures waiting, the next tick polls the first of them first, so
 * network wakes cannot starve compute either.
 *
 * Rules: one executor per thread, every call on the thread that created it;
 * the memory of a future, its request group and the buffers of its pending
 * requests must stay where they are until the future is READY.
 *
 * Example — drive an application's own nonblocking exchange:
 *
 * @code{.c}
 *   struct halo { mpimr_future base; mpimr_request_group reqs; ... };
 *   static mpimr_poll_result halo_poll(mpimr_future *f, mpimr_executor *ex) {
 *     struct halo *h = (struct halo *)f;
 *     switch (f->state) {
 *     case 0: post MPI_Irecv/MPI_Isend into r[0..3];
 *             mpimr_future_await_requests(ex, f, &h->reqs, r, 4);
 *             f->state = 1; return MPIMR_PENDING;
 *     case 1: f->result = h->reqs.error == MPI_SUCCESS ? MPIMR_OK : MPIMR_ERR_MPI;
 *             return MPIMR_READY;
 *     }
 *   }
 *   ... mpimr_future_init(&h.base, halo_poll); mpimr_executor_block_on(ex, &h.base);
 * @endcode
 */
#ifndef MPIMR_FUTURE_H
#define MPIMR_FUTURE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "mpimr/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A per-thread executor of futures with its reactor of MPI requests (opaque). */
typedef struct mpimr_executor mpimr_executor;
/** A future: embed it in your own struct; see struct mpimr_future. */
typedef struct mpimr_future mpimr_future;

/** What a poll function returns. */
typedef enum mpimr_poll_result { MPIMR_PENDING = 0, MPIMR_READY = 1 } mpimr_poll_result;

/** Advances a future; see the header comment for the contract. */
typedef mpimr_poll_result (*mpimr_poll_fn)(mpimr_future *self, mpimr_executor *executor);

/**
 * The part of every future the executor uses. Fields below `result` are the
 * executor's own: initialise them with mpimr_future_init() and do not touch.
 */
struct mpimr_future {
  mpimr_poll_fn poll; /**< Called when the future is woken. */
  int state;          /**< Free for the poll function's state machine; starts at 0. */
  int result;         /**< Set by the poll function before it returns READY (an mpimr status). */
  unsigned flags;             /**< Executor-private: queued, spawned, finished. */
  mpimr_future *next_queued; /**< Executor-private: the next future in the ready queue. */
  mpimr_future *joiner;      /**< Executor-private: the future waiting for this one. */
};

/**
 * A countdown over a set of MPI requests owned by one future. When the last
 * request completes, the owner is woken once. `error` holds MPI_SUCCESS or
 * the MPI error class of the first request that failed.
 */
typedef struct mpimr_request_group {
  mpimr_future *owner; /**< The future woken at zero. */
  int remaining;       /**< Requests not yet complete. */
  int error;           /**< MPI_SUCCESS, or the first failing request's error code. */
} mpimr_request_group;

/**
 * A condition the reactor tests on every tick, alongside the MPI requests:
 * when `ready(context)` returns non-zero, `owner` is woken once and the
 * condition is dropped. Fields below `context` are the executor's own.
 */
typedef struct mpimr_condition {
  int (*ready)(void *context);  /**< Cheap and side-effect free: it runs on every tick. */
  void *context;                /**< Passed to `ready`. */
  mpimr_future *owner;          /**< Executor-private: the future woken. */
  struct mpimr_condition *prev; /**< Executor-private. */
  struct mpimr_condition *next; /**< Executor-private. */
  int armed;                    /**< Executor-private: non-zero while registered. */
} mpimr_condition;

/** How the executor behaves when nothing is ready. */
typedef enum mpimr_idle_policy {
  /** Spin for 20 us, yield until 200 us, then sleep from 1 us doubling to 50 us (the phases are
   * measured in time from the first idle tick); yield at once when oversubscribed. */
  MPIMR_IDLE_AUTO = 0,
  MPIMR_IDLE_SPIN = 1, /**< Never sleep (lowest latency, burns the core). */
  MPIMR_IDLE_YIELD = 2 /**< sched_yield() on every idle tick (for oversubscribed runs). */
} mpimr_idle_policy;

/** Executor settings; fill with mpimr_executor_options_init() and change what you need. */
typedef struct mpimr_executor_options {
  /**
   * sizeof(mpimr_executor_options) as the program was compiled, set by
   * mpimr_executor_options_init(); as for mpimr_job_config, the struct only
   * grows at its end, a smaller size takes defaults for the rest, and 0 or a
   * larger one is refused (MPIMR_ERR_INVAL).
   */
  size_t struct_size;
  int tasks_per_tick;           /**< Queued futures polled per tick before the reactor runs (default 4). */
  mpimr_idle_policy idle;       /**< Idle behaviour (default AUTO). */
  int oversubscribed;           /**< Non-zero when ranks outnumber cores; AUTO then yields at once. */
  int initial_request_capacity; /**< Reactor slots allocated up front (default 64; grows as needed). */
} mpimr_executor_options;

/** Counters an executor keeps, for tests and tuning. */
typedef struct mpimr_executor_counters {
  uint64_t ticks;          /**< Calls to mpimr_executor_tick(). */
  uint64_t polls;          /**< Poll-function calls. */
  uint64_t testsome_calls; /**< MPI_Testsome calls made by the reactor. */
  uint64_t requests_completed; /**< MPI requests the reactor saw complete. */
  uint64_t idle_ticks; /**< Ticks in which nothing was polled and no request completed. */
  uint64_t conditions_met; /**< Conditions (mpimr_future_await_condition) that held and woke their owner. */
} mpimr_executor_counters;

/** Fills `options` with the defaults. */
MPIMR_API void mpimr_executor_options_init(mpimr_executor_options *options);

/**
 * Creates an executor. `options` may be NULL for the defaults. Returns
 * MPIMR_OK and sets `*executor`, or MPIMR_ERR_NOMEM / MPIMR_ERR_INVAL.
 */
MPIMR_API int mpimr_executor_create(mpimr_executor **executor, const mpimr_executor_options *options);

/**
 * Frees an executor; NULL is allowed. Requests still registered are released
 * with MPI_Request_free and their futures are not polled again. MPI lets a
 * freed request run to completion in the background (a freed receive still
 * matches a later message and writes into its buffer), and nonblocking
 * collectives cannot be cancelled at all: finish or cancel your own requests
 * (MPI_Cancel) before freeing the executor while their buffers matter.
 */
MPIMR_API void mpimr_executor_free(mpimr_executor *executor);

/** Prepares a future for use with `poll` as its poll function; state and result are zeroed. */
MPIMR_API void mpimr_future_init(mpimr_future *future, mpimr_poll_fn poll);

/**
 * Hands a future to the executor and queues it for its first poll. The
 * future stays owned by the caller. Spawning a future that is already
 * spawned and not finished returns MPIMR_ERR_STATE.
 */
MPIMR_API int mpimr_executor_spawn(mpimr_executor *executor, mpimr_future *future);

/**
 * Queues `future` to be polled. Idempotent: waking a queued future does
 * nothing; waking the future being polled queues it again after its poll
 * returns. Waking a finished future does nothing.
 */
MPIMR_API void mpimr_future_wake(mpimr_executor *executor, mpimr_future *future);

/** Non-zero once `future` has returned READY. */
MPIMR_API int mpimr_future_is_done(const mpimr_future *future);

/**
 * Called from `self`'s poll function to wait for `child` (a spawned future).
 * Returns non-zero if `child` is already done (continue at once); otherwise
 * registers `self` to be woken when `child` finishes and returns zero (then
 * return MPIMR_PENDING). One future may join a given child at a time.
 */
MPIMR_API int mpimr_future_join(mpimr_future *self, mpimr_future *child);

/**
 * Hands `count` requests to the reactor; `owner` is woken once, when all of
 * them have completed. The handles are copied: the caller's array may be
 * reused at once, but the requests' buffers must stay valid until the owner
 * is woken. `group` belongs to the owner and must outlive the wait; its
 * `error` field tells the outcome. A `count` of zero wakes the owner at once.
 * MPI_REQUEST_NULL entries count as complete. Returns MPIMR_OK or
 * MPIMR_ERR_NOMEM (then no request was taken).
 */
MPIMR_API int mpimr_future_await_requests(mpimr_executor *executor, mpimr_future *owner,
                                          mpimr_request_group *group, const MPI_Request *requests, int count);

/**
 * One tick: polls up to `tasks_per_tick` queued futures, then tests the
 * outstanding requests and the armed conditions once. Returns the number of
 * polls made plus requests completed plus conditions met (zero means the
 * tick was idle), or a negative mpimr status if MPI failed outside any
 * request (MPIMR_ERR_MPI).
 */
MPIMR_API int mpimr_executor_tick(mpimr_executor *executor);

/**
 * Runs ticks until `future` (spawned here if it was not yet) is done, backing
 * off by the idle policy when ticks are idle. Returns the future's result, or
 * MPIMR_ERR_STATE if nothing can ever wake it again (no queued future and no
 * outstanding request: a lost wake-up in the caller's futures).
 */
MPIMR_API int mpimr_executor_block_on(mpimr_executor *executor, mpimr_future *future);

/**
 * As mpimr_executor_block_on(), for at most about `seconds` (0 or more):
 * returns when `future` is done (`*done` set to 1, the future's result
 * returned) or the time has passed (`*done` 0, MPIMR_OK), for a caller that
 * must act between waits (check for a signal, update a display). The clock
 * is read after idle ticks and every 64 busy ones, so a tick that takes long
 * (a long map slice) can overrun the time. Returns MPIMR_ERR_INVAL for a
 * negative time, and MPIMR_ERR_STATE as mpimr_executor_block_on() does.
 */
MPIMR_API int mpimr_executor_block_on_for(mpimr_executor *executor, mpimr_future *future, double seconds,
                                          int *done);

/**
 * Registers `condition` (its `ready` and `context` set by the caller): the
 * reactor tests it on every tick and wakes `owner` once when it holds, as
 * it does for requests (an idle executor backs off by its idle policy
 * meanwhile). A condition that holds already wakes `owner` at once. The
 * condition must stay where it is until it fires or is cancelled;
 * registering one that is armed does nothing.
 */
MPIMR_API void mpimr_future_await_condition(mpimr_executor *executor, mpimr_future *owner,
                                            mpimr_condition *condition);

/** Drops `condition` if it is armed (its owner is then not woken by it). */
MPIMR_API void mpimr_condition_cancel(mpimr_executor *executor, mpimr_condition *condition);

/** Number of requests the reactor is waiting on. */
MPIMR_API int mpimr_executor_pending_requests(const mpimr_executor *executor);

/** Copies the executor's counters into `counters`. */
MPIMR_API void mpimr_executor_get_counters(const mpimr_executor *executor, mpimr_executor_counters *counters);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_FUTURE_H */
