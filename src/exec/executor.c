/*
 * exec/executor.c — the per-rank executor: a FIFO ready queue of futures
 * (intrusive, so queueing never allocates), a bounded number of polls per
 * tick, then one pass of the reactor over the outstanding MPI requests and
 * the armed conditions (an intrusive list, so arming never allocates).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec/reactor.h"
#include "mpimr/error.h"
#include "mpimr/future.h"
#include "util/clock.h"

enum future_flags {
  FUTURE_SPAWNED = 1u << 0,
  FUTURE_QUEUED = 1u << 1,
  FUTURE_RUNNING = 1u << 2,
  FUTURE_WOKEN_WHILE_RUNNING = 1u << 3,
  FUTURE_DONE = 1u << 4
};

/* An idle executor (policy AUTO, not oversubscribed) spins for IDLE_SPIN_SECONDS, yields until
 * IDLE_YIELD_SECONDS, then sleeps from 1 us doubling to IDLE_MAX_SLEEP_NS. The phases are measured in
 * time, not ticks: a tick's cost depends on what is pending (a few ns to a microsecond), so a
 * count of ticks made the spin last as long as the work it waited beside, and made cheaper
 * ticks start yielding sooner (a shared-memory round of 4 MiB that had to wait 1-2 us then
 * paid a sched_yield in most rounds: 2.5 us instead of 1.3). */
enum { IDLE_MAX_SLEEP_NS = 50000, IDLE_SPIN_CHECK_TICKS = 32 };
static const double IDLE_SPIN_SECONDS = 20e-6, IDLE_YIELD_SECONDS = 200e-6;

struct mpimr_executor {
  mpimr_executor_options options;
  reactor requests;
  /* The ready queue: first the futures the network woke (up to priority_tail, in the order they
   * were woken), then the others. */
  mpimr_future *queue_head;
  mpimr_future *queue_tail;
  mpimr_future *priority_tail;
  int queue_length;
  int priority_length;
  int ordinary_passed_over;    /* The last tick polled none of the waiting ordinary futures. */
  mpimr_condition *conditions; /* Armed conditions, a doubly linked list. */
  int condition_count;
  unsigned idle_streak; /* Idle ticks in a row. */
  double idle_since;    /* When the streak began (clock_now()), once it is past its first tick. */
  unsigned idle_sleeps; /* Sleeps in the streak, for the back-off. */
  int idle_spinning;    /* The streak is still in its spinning phase. */
  mpimr_executor_counters counters;
};

void mpimr_executor_options_init(mpimr_executor_options *options) {
  options->struct_size = sizeof *options;
  options->tasks_per_tick = 4;
  options->idle = MPIMR_IDLE_AUTO;
  options->oversubscribed = 0;
  options->initial_request_capacity = 64;
}

int mpimr_executor_create(mpimr_executor **executor, const mpimr_executor_options *options) {
  *executor = NULL;
  mpimr_executor_options defaults;
  if (options == NULL) {
    mpimr_executor_options_init(&defaults);
    options = &defaults;
  }
  /* The caller's struct may be an older, smaller one (struct_size): the fields it lacks take defaults. */
  mpimr_executor_options adopted;
  mpimr_executor_options_init(&adopted);
  if (options->struct_size < sizeof options->struct_size || options->struct_size > sizeof adopted)
    return MPIMR_ERR_INVAL;
  memcpy(&adopted, options, options->struct_size);
  adopted.struct_size = sizeof adopted;
  options = &adopted;
  if (options->tasks_per_tick < 1 || options->initial_request_capacity < 1 ||
      options->idle < MPIMR_IDLE_AUTO || options->idle > MPIMR_IDLE_YIELD)
    return MPIMR_ERR_INVAL;
  mpimr_executor *ex = calloc(1, sizeof *ex);
  if (ex == NULL) return MPIMR_ERR_NOMEM;
  ex->options = *options;
  if (reactor_init(&ex->requests, options->initial_request_capacity) != MPIMR_OK) {
    free(ex);
    return MPIMR_ERR_NOMEM;
  }
  *executor = ex;
  return MPIMR_OK;
}

void mpimr_executor_free(mpimr_executor *executor) {
  if (executor == NULL) return;
  reactor_destroy(&executor->requests);
  free(executor);
}

void mpimr_future_init(mpimr_future *future, mpimr_poll_fn poll) {
  future->poll = poll;
  future->state = 0;
  future->result = MPIMR_OK;
  future->flags = 0;
  future->next_queued = NULL;
  future->joiner = NULL;
}

static void queue_push(mpimr_executor *ex, mpimr_future *future) {
  future->flags |= FUTURE_QUEUED;
  future->next_queued = NULL;
  if (ex->queue_tail)
    ex->queue_tail->next_queued = future;
  else
    ex->queue_head = future;
  ex->queue_tail = future;
  ex->queue_length++;
}

/* After the other network-woken futures, before every future woken otherwise. */
static void queue_push_priority(mpimr_executor *ex, mpimr_future *future) {
  future->flags |= FUTURE_QUEUED;
  mpimr_future **link = ex->priority_tail ? &ex->priority_tail->next_queued : &ex->queue_head;
  future->next_queued = *link;
  *link = future;
  if (future->next_queued == NULL) ex->queue_tail = future;
  ex->priority_tail = future;
  ex->priority_length++;
  ex->queue_length++;
}

/* Takes the future after `previous` (NULL: the head) off the queue. */
static mpimr_future *queue_take_after(mpimr_executor *ex, mpimr_future *previous) {
  mpimr_future **link = previous ? &previous->next_queued : &ex->queue_head;
  mpimr_future *future = *link;
  *link = future->next_queued;
  if (ex->queue_tail == future) ex->queue_tail = previous;
  if (ex->priority_length > 0 && previous == NULL) {
    /* The head of a non-empty priority part. */
    ex->priority_length--;
    if (ex->priority_tail == future) ex->priority_tail = NULL;
  }
  future->next_queued = NULL;
  future->flags &= ~FUTURE_QUEUED;
  ex->queue_length--;
  return future;
}

/*
 * The next future to poll: the head, except that after a tick that passed
 * over the waiting ordinary futures (the network woke enough futures to
 * fill it), the first ordinary one goes first, so network wakes cannot
 * starve compute. `*ordinary` says which kind it was.
 */
static mpimr_future *queue_pop(mpimr_executor *ex, int *ordinary) {
  int ordinary_waiting = ex->queue_length > ex->priority_length;
  if (ordinary_waiting && (ex->priority_length == 0 || ex->ordinary_passed_over)) {
    ex->ordinary_passed_over = 0;
    *ordinary = 1;
    return queue_take_after(ex, ex->priority_tail);
  }
  *ordinary = 0;
  return queue_take_after(ex, NULL);
}

int mpimr_executor_spawn(mpimr_executor *executor, mpimr_future *future) {
  if ((future->flags & FUTURE_SPAWNED) && !(future->flags & FUTURE_DONE)) return MPIMR_ERR_STATE;
  future->flags = FUTURE_SPAWNED;
  future->joiner = NULL;
  queue_push(executor, future);
  return MPIMR_OK;
}

/* Queues `future` at the tail, or with `first` at the head; see mpimr_future_wake() for the rest. */
static void wake(mpimr_executor *ex, mpimr_future *future, int first) {
  unsigned flags = future->flags;
  if (flags & (FUTURE_DONE | FUTURE_QUEUED)) return;
  if (flags & FUTURE_RUNNING) {
    future->flags |= FUTURE_WOKEN_WHILE_RUNNING;
    return;
  }
  if (first)
    queue_push_priority(ex, future);
  else
    queue_push(ex, future);
}

void mpimr_future_wake(mpimr_executor *executor, mpimr_future *future) { wake(executor, future, 0); }

/*
 * A wake from the network (a request group or a condition that completed)
 * goes to the head of the queue: the next tick takes that protocol step
 * (posting a round's data once its headers are in, refilling a pairwise
 * window) before any compute slice, so the bytes move while the slice
 * runs. At the tail, each step of a round waited out the slice of every
 * future queued before it. A future already queued keeps its place.
 */
static void wake_first(mpimr_executor *ex, mpimr_future *future) { wake(ex, future, 1); }

static void wake_from_reactor(void *context, mpimr_future *owner) { wake_first(context, owner); }

int mpimr_future_is_done(const mpimr_future *future) { return (future->flags & FUTURE_DONE) != 0; }

int mpimr_future_join(mpimr_future *self, mpimr_future *child) {
  if (child->flags & FUTURE_DONE) return 1;
  child->joiner = self;
  return 0;
}

int mpimr_future_await_requests(mpimr_executor *executor, mpimr_future *owner, mpimr_request_group *group,
                                const MPI_Request *requests, int count) {
  group->owner = owner;
  group->error = MPI_SUCCESS;
  group->remaining = 0;
  int stored = count > 0 ? reactor_add(&executor->requests, group, requests, count) : 0;
  if (stored < 0) return MPIMR_ERR_NOMEM;
  group->remaining = stored;
  if (stored == 0) mpimr_future_wake(executor, owner);
  return MPIMR_OK;
}

static void unlink_condition(mpimr_executor *ex, mpimr_condition *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    ex->conditions = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  c->armed = 0;
  ex->condition_count--;
}

void mpimr_future_await_condition(mpimr_executor *executor, mpimr_future *owner, mpimr_condition *condition) {
  if (condition->armed) return;
  condition->owner = owner;
  if (condition->ready(condition->context)) {
    mpimr_future_wake(executor, owner);
    return;
  }
  condition->armed = 1;
  condition->prev = NULL;
  condition->next = executor->conditions;
  if (executor->conditions) executor->conditions->prev = condition;
  executor->conditions = condition;
  executor->condition_count++;
}

void mpimr_condition_cancel(mpimr_executor *executor, mpimr_condition *condition) {
  if (condition->armed) unlink_condition(executor, condition);
}

/* Tests every armed condition once; wakes the owners of those that hold. Returns how many did. */
static int test_conditions(mpimr_executor *ex) {
  int met = 0;
  for (mpimr_condition *c = ex->conditions, *next; c != NULL; c = next) {
    next = c->next;
    if (!c->ready(c->context)) continue;
    unlink_condition(ex, c);
    wake_first(ex, c->owner);
    met++;
  }
  ex->counters.conditions_met += (uint64_t)met;
  return met;
}

static void poll_one(mpimr_executor *ex, mpimr_future *future) {
  future->flags |= FUTURE_RUNNING;
  mpimr_poll_result outcome = future->poll(future, ex);
  ex->counters.polls++;
  unsigned woken = future->flags & FUTURE_WOKEN_WHILE_RUNNING;
  future->flags &= ~(FUTURE_RUNNING | FUTURE_WOKEN_WHILE_RUNNING);
  if (outcome == MPIMR_READY) {
    future->flags |= FUTURE_DONE;
    mpimr_future *joiner = future->joiner;
    future->joiner = NULL;
    if (joiner) mpimr_future_wake(ex, joiner);
  } else if (woken) {
    queue_push(ex, future);
  }
}

int mpimr_executor_tick(mpimr_executor *executor) {
  executor->counters.ticks++;
  /* Only futures queued before this tick run in it: a future that keeps
   * waking itself cannot hold the reactor off for more than one slice. */
  int budget = executor->queue_length;
  if (budget > executor->options.tasks_per_tick) budget = executor->options.tasks_per_tick;
  int ordinary_polled = 0;
  for (int i = 0; i < budget; i++) {
    int ordinary = 0;
    mpimr_future *future = queue_pop(executor, &ordinary);
    ordinary_polled |= ordinary;
    poll_one(executor, future);
  }
  executor->ordinary_passed_over =
      budget > 0 && !ordinary_polled && executor->queue_length > executor->priority_length;

  int completed = 0;
  if (executor->requests.count > 0) {
    executor->counters.testsome_calls++;
    completed = reactor_poll(&executor->requests, wake_from_reactor, executor);
    if (completed < 0) return completed;
    executor->counters.requests_completed += (uint64_t)completed;
  }
  if (executor->condition_count > 0) completed += test_conditions(executor);
  int work = budget + completed;
  if (work == 0) executor->counters.idle_ticks++;
  return work;
}

static void idle_back_off(mpimr_executor *ex) {
  unsigned streak = ex->idle_streak++;
  mpimr_idle_policy policy = ex->options.idle;
  if (policy == MPIMR_IDLE_SPIN) return;
  if (policy == MPIMR_IDLE_YIELD || ex->options.oversubscribed) {
    sched_yield();
    return;
  }
  if (streak == 0) { /* the streak's start is read on its next tick: most waits end before */
    ex->idle_since = 0;
    ex->idle_sleeps = 0;
    ex->idle_spinning = 1;
    return;
  }
  /* While spinning, the clock is read every IDLE_SPIN_CHECK_TICKS ticks only: a tick that reads
   * it takes ~25 ns longer to notice the event it waits for. */
  if (ex->idle_spinning && streak % IDLE_SPIN_CHECK_TICKS != 0) return;
  double now = clock_now();
  if (ex->idle_since == 0) ex->idle_since = now;
  double idle = now - ex->idle_since;
  if (idle < IDLE_SPIN_SECONDS) return;
  ex->idle_spinning = 0;
  if (idle < IDLE_YIELD_SECONDS) {
    sched_yield();
    return;
  }
  unsigned doublings = ex->idle_sleeps++;
  long ns = doublings >= 16 ? IDLE_MAX_SLEEP_NS : (1000L << doublings);
  if (ns > IDLE_MAX_SLEEP_NS) ns = IDLE_MAX_SLEEP_NS;
  struct timespec pause = {0, ns};
  nanosleep(&pause, NULL);
}

/* Runs ticks until `future` is done or, with a `deadline` (clock_now() seconds; 0: none), until it
 * passes. The clock is read every 64 busy ticks and every 8 idle ones (a spinning idle tick is far
 * shorter than a busy one), so the deadline adds little to either. */
static int block_on_until(mpimr_executor *executor, mpimr_future *future, double deadline) {
  if (!(future->flags & FUTURE_SPAWNED)) {
    int rc = mpimr_executor_spawn(executor, future);
    if (rc != MPIMR_OK) return rc;
  }
  unsigned busy_ticks = 0, idle_ticks = 0;
  while (!(future->flags & FUTURE_DONE)) {
    int work = mpimr_executor_tick(executor);
    if (work < 0) return work;
    if (future->flags & FUTURE_DONE) break;
    if (work > 0) {
      executor->idle_streak = 0;
      if (deadline > 0 && (++busy_ticks & 63) == 0 && clock_now() >= deadline) return MPIMR_OK;
      continue;
    }
    if (executor->queue_length == 0 && executor->requests.count == 0 && executor->condition_count == 0)
      return MPIMR_ERR_STATE;
    if (deadline > 0 && (++idle_ticks & 7) == 0 && clock_now() >= deadline) return MPIMR_OK;
    idle_back_off(executor);
  }
  executor->idle_streak = 0;
  return future->result;
}

int mpimr_executor_block_on(mpimr_executor *executor, mpimr_future *future) {
  return block_on_until(executor, future, 0);
}

int mpimr_executor_block_on_for(mpimr_executor *executor, mpimr_future *future, double seconds, int *done) {
  if (executor == NULL || future == NULL || done == NULL || !(seconds >= 0)) return MPIMR_ERR_INVAL;
  double deadline = clock_now() + seconds;
  if (deadline <= 0) deadline = 1e-9; /* 0 means no deadline to block_on_until */
  int rc = block_on_until(executor, future, deadline);
  *done = (future->flags & FUTURE_DONE) != 0;
  return rc;
}

int mpimr_executor_pending_requests(const mpimr_executor *executor) { return executor->requests.count; }

void mpimr_executor_get_counters(const mpimr_executor *executor, mpimr_executor_counters *counters) {
  *counters = executor->counters;
}
