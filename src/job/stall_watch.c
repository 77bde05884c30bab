/* job/stall_watch.c — the stall watch; see stall_watch.h. */
#include "job/stall_watch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpimr/error.h"
#include "util/clock.h"
#include "util/message.h"

/* The watch's tags on the job's communicator. The job sends no other point-to-point message there:
 * the shuffle has communicators of its own, and datasets use the caller's. */
enum { PROBE_TAG = 0x5741, REPLY_TAG = 0x5742 };

/* A probe receive's buffer until a probe lands in it (probes carry their round, from 1). */
enum { NO_PROBE = -1 };

/* Silent ranks named one by one, and groups of answering ranks, in a message. */
enum { MAX_SILENT_LISTED = 8, MAX_ANSWER_GROUPS = 6 };

#define ANSWER_GRACE_S 2.0   /* rank 0 waits this long for the answers to a probe round */
#define MEMBER_MARGIN_S 10.0 /* beyond the timeout, before a rank other than 0 fails on its own */
#define HELD_RETEST_S 0.001  /* between tests of requests the reactor had no room for */

/* ---- small helpers ------------------------------------------------------- */

static void fail_mpi(stall_watch *w, const char *call, int mpi_error) {
  if (w->status != MPIMR_OK) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(mpi_error, text, &length) != MPI_SUCCESS)
    snprintf(text, sizeof text, "code %d", mpi_error);
  snprintf(w->message, sizeof w->message, "stall watch: %s failed: %.200s", call, text);
  w->status = MPIMR_ERR_MPI;
}

/*
 * Hands `count` requests (kept in `requests`, which must not move) to the reactor as `group`. What
 * the reactor has no room for the watch keeps and tests itself each time it is polled (its timer
 * then polls it every millisecond): slower, never lost.
 */
static void hand(stall_watch *w, mpimr_executor *ex, mpimr_request_group *group, MPI_Request *requests,
                 int count) {
  if (mpimr_future_await_requests(ex, &w->base, group, requests, count) == MPIMR_OK) return;
  group->owner = &w->base;
  group->error = MPI_SUCCESS;
  group->remaining = 0;
  for (int i = 0; i < count; i++) {
    if (requests[i] == MPI_REQUEST_NULL) continue;
    w->held[w->held_count++] = (stall_held_request){&requests[i], group};
    group->remaining++;
  }
}

static void test_held(stall_watch *w) {
  for (int i = 0; i < w->held_count;) {
    stall_held_request *held = &w->held[i];
    int done = 0;
    int rc = MPI_Test(held->request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      if (held->group->error == MPI_SUCCESS) held->group->error = rc;
      if (*held->request != MPI_REQUEST_NULL) MPI_Request_free(held->request);
      done = 1;
    }
    if (!done) {
      i++;
      continue;
    }
    held->group->remaining--;
    w->held[i] = w->held[--w->held_count];
  }
}

static void check_request_errors(stall_watch *w) {
  const mpimr_request_group *groups[] = {&w->start_group, &w->scatter_group, &w->probe_receive_group,
                                         &w->reply_send_group, &w->probe_sends_group};
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
    if (groups[i]->error != MPI_SUCCESS) fail_mpi(w, "a request", groups[i]->error);
  for (int r = 1; w->peers && r < w->nranks; r++)
    if (w->peers[r].reply_group.error != MPI_SUCCESS)
      fail_mpi(w, "a probe's reply", w->peers[r].reply_group.error);
}


/* "'shuffle' (round 12)", or "'commit'" outside the shuffle. */
static void append_place(char *text, size_t size, const char *phase, int64_t round) {
  message_append(text, size, "'%.*s'", STALL_PHASE_BYTES, phase);
  if (round >= 0) message_append(text, size, " (round %" PRId64 ")", round);
}

/* A rank's host name once the gathering has completed, else NULL. */
static const char *host_of(const stall_watch *w, int rank) {
  if (w->hosts == NULL || w->start_group.remaining > 0) return NULL;
  return w->hosts + (size_t)rank * STALL_HOST_BYTES;
}

/* ---- the timer and progress -------------------------------------------- */

static int timer_due(void *context) {
  const stall_watch *w = context;
  return clock_now() >= w->deadline;
}

static void arm_timer(stall_watch *w, mpimr_executor *ex, double now) {
  double deadline = now + w->interval;
  if (w->round_active && w->round_started + ANSWER_GRACE_S < deadline)
    deadline = w->round_started + ANSWER_GRACE_S;
  if (w->held_count > 0 && now + HELD_RETEST_S < deadline) deadline = now + HELD_RETEST_S;
  mpimr_condition_cancel(ex, &w->timer); /* an armed condition keeps its deadline otherwise */
  w->deadline = deadline;
  mpimr_future_await_condition(ex, &w->base, &w->timer);
}

/* Looks at the executor's counters: a poll of any other future since the last look is progress. */
static void note_progress(stall_watch *w, mpimr_executor *ex, double now) {
  mpimr_executor_counters counters;
  mpimr_executor_get_counters(ex, &counters);
  uint64_t others = counters.polls - w->own_polls; /* this poll is counted when it returns */
  if (w->ignored_polls != NULL) others -= *w->ignored_polls;
  if (others != w->others_polls) {
    w->others_polls = others;
    w->last_progress = now;
  }
  w->own_polls++;
}

/* A reply whose rank saw progress this recently says that rank is working, not waiting. */
static double recent_seconds(const stall_watch *w) { return 2 * w->interval + 0.5; }

/* ---- messages ----------------------------------------------------------- */

static int reply_due(const stall_peer *peer) { return peer->reply_group.remaining > 0; }
static int answered(const stall_peer *peer) { return peer->probes > 0 && !reply_due(peer); }

/* "; no answer within 2 s from rank 1 (host h1) (stopped, or ...)"; returns the number of silent ranks. */
static int append_silent(const stall_watch *w, double now, char *text, size_t size) {
  int silent = 0;
  double shortest = 0;
  for (int r = 1; r < w->nranks; r++) {
    if (!reply_due(&w->peers[r])) continue;
    double waited = now - w->peers[r].probed_at;
    if (silent++ == 0 || waited < shortest) shortest = waited;
  }
  if (silent == 0) return 0;
  message_append(text, size, "; no answer within %.0f s from ", shortest);
  for (int r = 1, listed = 0; r < w->nranks; r++) {
    if (!reply_due(&w->peers[r])) continue;
    if (listed == MAX_SILENT_LISTED) {
      message_append(text, size, " and %d more", silent - listed);
      break;
    }
    message_append(text, size, "%srank %d", listed++ ? ", " : "", r);
    const char *host = host_of(w, r);
    if (host) message_append(text, size, " (host %.*s)", STALL_HOST_BYTES, host);
  }
  message_append(text, size, " (stopped, or busy without returning to the executor)");
  return silent;
}

static int working(const stall_watch *w, const stall_peer *peer) {
  return peer->reply.idle_seconds < recent_seconds(w);
}

static int same_answer(const stall_watch *w, const stall_peer *a, const stall_peer *b) {
  return answered(b) && a->reply.round == b->reply.round && working(w, a) == working(w, b) &&
         strncmp(a->reply.phase, b->reply.phase, STALL_PHASE_BYTES) == 0;
}

/* "; ranks 2-3 answered (waiting in 'shuffle' (round 12)), rank 4 answered (working in 'map')". */
static void append_answered(const stall_watch *w, char *text, size_t size) {
  int groups = 0;
  for (int r = 1; r < w->nranks;) {
    const stall_peer *first = &w->peers[r];
    if (!answered(first)) {
      r++;
      continue;
    }
    int last = r;
    while (last + 1 < w->nranks && same_answer(w, first, &w->peers[last + 1])) last++;
    message_append(text, size, groups ? ", " : "; ");
    if (groups++ == MAX_ANSWER_GROUPS) {
      message_append(text, size, "...");
      return;
    }
    if (last == r)
      message_append(text, size, "rank %d answered (", r);
    else
      message_append(text, size, "ranks %d-%d answered (", r, last);
    message_append(text, size, "%s in ", working(w, first) ? "working" : "waiting");
    append_place(text, size, first->reply.phase, first->reply.round);
    message_append(text, size, ")");
    r = last + 1;
  }
}

/* Rank 0's account of its wait: its place, the ranks that did not answer, and where the others are. */
static void describe_root_wait(const stall_watch *w, double now, double waited, char *text, size_t size) {
  char phase[STALL_PHASE_BYTES] = "";
  int64_t round = -1;
  w->locate(w->locate_context, phase, sizeof phase, &round);
  text[0] = '\0';
  message_append(text, size, "waited %.0f s without progress in phase ", waited);
  append_place(text, size, phase, round);
  message_append(text, size, " on host %s", w->own_host);
  if (append_silent(w, now, text, size) == 0) message_append(text, size, "; every rank answered");
  append_answered(w, text, size);
}

static void fail_stalled(stall_watch *w) { w->status = MPIMR_ERR_STALLED; }

/* ---- rank 0: probe rounds ------------------------------------------------ */

static int round_due(const stall_watch *w, double now) {
  double waited = now - w->last_progress;
  if (w->warning > 0 && !w->warned && waited >= w->warning) return 1;
  /* With a timeout, a round every timeout / 3 as well: the other ranks hear that rank 0 is alive. */
  return w->timeout > 0 && (waited >= w->timeout || now - w->last_round_at >= w->timeout / 3);
}

/* Probes every rank whose last probe was answered: one receive for its reply, then the probe. */
static void start_round(stall_watch *w, mpimr_executor *ex, double now) {
  if (w->probe_sends_group.remaining > 0) return; /* the payload is still being sent: try at the next poll */
  w->probe_round++;
  for (int r = 1; r < w->nranks && w->status == MPIMR_OK; r++) {
    stall_peer *peer = &w->peers[r];
    w->probe_sends[r] = MPI_REQUEST_NULL;
    if (reply_due(peer)) continue; /* one probe at a time: its silence is the news */
    int rc =
        MPI_Irecv(&peer->reply, sizeof peer->reply, MPI_BYTE, r, REPLY_TAG, w->comm, &peer->reply_request);
    if (rc != MPI_SUCCESS) {
      fail_mpi(w, "MPI_Irecv (a probe's reply)", rc);
      break;
    }
    hand(w, ex, &peer->reply_group, &peer->reply_request, 1);
    rc = MPI_Isend(&w->probe_round, 1, MPI_INT, r, PROBE_TAG, w->comm, &w->probe_sends[r]);
    if (rc != MPI_SUCCESS) fail_mpi(w, "MPI_Isend (a probe)", rc);
    peer->probes++;
    peer->probe_round = w->probe_round;
    peer->probed_at = now;
  }
  hand(w, ex, &w->probe_sends_group, w->probe_sends + 1, w->nranks - 1);
  w->round_active = 1;
  w->round_started = now;
  w->last_round_at = now;
}

static int round_answered(const stall_watch *w) {
  for (int r = 1; r < w->nranks; r++)
    if (reply_due(&w->peers[r])) return 0;
  return 1;
}

/* After the grace: a silent rank, or ranks that all wait, is a stall; a rank still working is not. */
static void finish_round(stall_watch *w, double now) {
  w->round_active = 0;
  int silent = 0, busy = 0;
  for (int r = 1; r < w->nranks; r++) {
    const stall_peer *peer = &w->peers[r];
    if (reply_due(peer))
      silent++;
    else if (peer->probe_round == w->probe_round && working(w, peer))
      busy++;
  }
  if (silent == 0 && busy > 0) {
    w->last_progress = now; /* the job moves on another rank: rank 0 just has nothing to do */
    return;
  }
  double waited = now - w->last_progress;
  char body[sizeof w->message - 64];
  if (w->timeout > 0 && waited >= w->timeout) {
    describe_root_wait(w, now, waited, body, sizeof body);
    snprintf(w->message, sizeof w->message, "stall timeout (%g s): %s", w->timeout, body);
    fail_stalled(w);
  } else if (w->warning > 0 && !w->warned && waited >= w->warning) {
    describe_root_wait(w, now, waited, body, sizeof body);
    fprintf(stderr, "mpimr: rank 0 has %s. Stall warning after %g s; the job goes on waiting.\n", body,
            w->warning);
    fflush(stderr);
    w->warned = 1;
  }
}

/* ---- every rank but 0: answering probes ---------------------------------- */

static void post_probe_receive(stall_watch *w, mpimr_executor *ex) {
  w->probe_buffer = NO_PROBE;
  int rc = MPI_Irecv(&w->probe_buffer, 1, MPI_INT, 0, PROBE_TAG, w->comm, &w->probe_receive);
  if (rc != MPI_SUCCESS) {
    fail_mpi(w, "MPI_Irecv (a probe)", rc);
    return;
  }
  w->probe_posted = 1;
  hand(w, ex, &w->probe_receive_group, &w->probe_receive, 1);
}

/* Closing, and every probe rank 0 says it sent has come: no receive for more. */
static int all_probes_received(const stall_watch *w) {
  return w->scatter_posted && w->scatter_group.remaining == 0 && w->probes_received >= w->expected_probes;
}

/* The probe receive completed: a probe came, or (closing) the receive was cancelled. */
static void take_probe(stall_watch *w, mpimr_executor *ex, double now) {
  w->probe_posted = 0;
  if (w->probe_buffer != NO_PROBE) {
    w->probes_received++;
    w->unanswered++;
    w->last_heard = now;
  }
  if (!all_probes_received(w)) post_probe_receive(w, ex);
}

/* One reply at a time (its buffer must not change while it is sent); the next when it is gone. */
static void answer_probes(stall_watch *w, mpimr_executor *ex, double now) {
  if (w->unanswered == 0 || w->reply_send_group.remaining > 0) return;
  memset(&w->reply, 0, sizeof w->reply);
  w->reply.idle_seconds = now - w->last_progress;
  w->reply.round = -1;
  w->locate(w->locate_context, w->reply.phase, sizeof w->reply.phase, &w->reply.round);
  int rc = MPI_Isend(&w->reply, sizeof w->reply, MPI_BYTE, 0, REPLY_TAG, w->comm, &w->reply_send);
  if (rc != MPI_SUCCESS) {
    fail_mpi(w, "MPI_Isend (a probe's reply)", rc);
    return;
  }
  w->unanswered--;
  hand(w, ex, &w->reply_send_group, &w->reply_send, 1);
}

/* Neither progress nor a word from rank 0 for timeout + 10 s: rank 0 may be the stopped one. */
static void check_member_timeout(stall_watch *w, double now) {
  double quiet_since = w->last_progress > w->last_heard ? w->last_progress : w->last_heard;
  if (now - quiet_since < w->timeout + MEMBER_MARGIN_S) return;
  char phase[STALL_PHASE_BYTES] = "", place[STALL_PHASE_BYTES + 32] = "", root[STALL_HOST_BYTES + 16] = "";
  int64_t round = -1;
  w->locate(w->locate_context, phase, sizeof phase, &round);
  append_place(place, sizeof place, phase, round);
  if (w->timeout > 0 && w->start_group.remaining == 0)
    snprintf(root, sizeof root, " (host %.*s)", STALL_HOST_BYTES, w->root_host);
  snprintf(w->message, sizeof w->message,
           "stall timeout (%g s, and %g s more on ranks other than 0): waited %.0f s without progress in "
           "phase %s on host %s, and heard nothing from rank 0%s for %.0f s: rank 0 is stopped, or busy "
           "without returning to the executor",
           w->timeout, MEMBER_MARGIN_S, now - w->last_progress, place, w->own_host, root,
           now - w->last_heard);
  fail_stalled(w);
}

/* ---- closing: no message left behind -------------------------------------- */

/* Rank 0 tells every rank how many probes it sent it (rank 0 sends none after this). */
static void post_scatter(stall_watch *w, mpimr_executor *ex) {
  int rc;
  w->scatter_posted = 1;
  if (w->rank == 0) {
    for (int r = 0; r < w->nranks; r++) w->probe_counts[r] = r == 0 ? 0 : w->peers[r].probes;
    rc = MPI_Iscatter(w->probe_counts, 1, MPI_INT, MPI_IN_PLACE, 1, MPI_INT, 0, w->comm, &w->scatter_request);
  } else {
    rc = MPI_Iscatter(NULL, 1, MPI_INT, &w->expected_probes, 1, MPI_INT, 0, w->comm, &w->scatter_request);
  }
  if (rc != MPI_SUCCESS) {
    fail_mpi(w, "MPI_Iscatter (the probe counts)", rc);
    return;
  }
  hand(w, ex, &w->scatter_group, &w->scatter_request, 1);
}

/* Once every probe counted has come, the receive for more is cancelled (and its completion taken). */
static void close_member(stall_watch *w, mpimr_executor *ex) {
  if (!w->scatter_posted) post_scatter(w, ex);
  if (w->status != MPIMR_OK || w->scatter_group.remaining > 0 || !w->probe_posted || w->cancel_asked) return;
  if (w->probes_received < w->expected_probes) return; /* more are on their way */
  w->cancel_asked = 1;
  int rc = MPI_Cancel(&w->probe_receive);
  if (rc != MPI_SUCCESS) fail_mpi(w, "MPI_Cancel (the probe receive)", rc);
}

/* Replies still due while closing come from ranks that stopped after the job's last agreement. */
static void close_root(stall_watch *w, mpimr_executor *ex, double now) {
  if (!w->scatter_posted) post_scatter(w, ex);
  double waited = now - w->last_progress;
  if (w->status != MPIMR_OK || w->timeout <= 0 || waited < w->timeout) return;
  char body[sizeof w->message - 64];
  describe_root_wait(w, now, waited, body, sizeof body);
  snprintf(w->message, sizeof w->message, "stall timeout (%g s) while closing the job: %s", w->timeout, body);
  fail_stalled(w);
}

static int drained(const stall_watch *w) {
  if (!w->scatter_posted || w->scatter_group.remaining > 0 || w->start_group.remaining > 0) return 0;
  if (w->rank != 0) return !w->probe_posted && w->unanswered == 0 && w->reply_send_group.remaining == 0;
  return w->probe_sends_group.remaining == 0 && round_answered(w);
}

/* ---- the future ------------------------------------------------------------ */

static void root_step(stall_watch *w, mpimr_executor *ex, double now) {
  if (w->closing) {
    close_root(w, ex, now);
    return;
  }
  if (w->round_active && (round_answered(w) || now >= w->round_started + ANSWER_GRACE_S))
    finish_round(w, now);
  if (w->status == MPIMR_OK && !w->round_active && round_due(w, now)) start_round(w, ex, now);
}

static void member_step(stall_watch *w, mpimr_executor *ex, double now) {
  if (w->probe_posted && w->probe_receive_group.remaining == 0) take_probe(w, ex, now);
  answer_probes(w, ex, now);
  if (w->closing) close_member(w, ex);
  if (w->status == MPIMR_OK && w->timeout > 0) check_member_timeout(w, now);
}

static mpimr_poll_result watch_end(stall_watch *w, mpimr_executor *ex) {
  mpimr_condition_cancel(ex, &w->timer);
  w->running = 0;
  if (w->status != MPIMR_OK && w->on_stall) mpimr_future_wake(ex, w->on_stall);
  w->base.result = w->status;
  return MPIMR_READY;
}

static mpimr_poll_result watch_poll(mpimr_future *self, mpimr_executor *ex) {
  stall_watch *w = (stall_watch *)(void *)self;
  double now = clock_now();
  note_progress(w, ex, now);
  if (w->held_count > 0) test_held(w);
  check_request_errors(w);
  if (w->status == MPIMR_OK) {
    if (w->rank == 0)
      root_step(w, ex, now);
    else
      member_step(w, ex, now);
  }
  if (w->status != MPIMR_OK || (w->closing && drained(w))) return watch_end(w, ex);
  arm_timer(w, ex, now);
  return MPIMR_PENDING;
}

/* ---- the interface ----------------------------------------------------------- */

/* Between looks at the counters: a second, or a quarter of the shortest limit if that is less. */
static double look_interval(double warning, double timeout) {
  double shortest = warning > 0 && (timeout <= 0 || warning < timeout) ? warning : timeout;
  double interval = shortest / 4;
  return interval > 1.0 ? 1.0 : interval < 0.01 ? 0.01 : interval;
}

int stall_watch_init(stall_watch *w, MPI_Comm comm, double warning, double timeout) {
  memset(w, 0, sizeof *w);
  w->comm = comm;
  MPI_Comm_rank(comm, &w->rank);
  MPI_Comm_size(comm, &w->nranks);
  w->warning = warning;
  w->timeout = timeout;
  w->enabled = (warning > 0 || timeout > 0) && w->nranks > 1;
  if (!w->enabled) return MPIMR_OK;
  w->interval = look_interval(warning, timeout);
  /* At most every reply and every probe of rank 0 at once, and the three collectives. */
  w->held_capacity = w->rank == 0 ? 2 * w->nranks + 4 : 8;
  w->held = calloc((size_t)w->held_capacity, sizeof *w->held);
  int ok = w->held != NULL;
  if (ok && w->rank == 0) {
    size_t n = (size_t)w->nranks;
    w->peers = calloc(n, sizeof *w->peers);
    w->probe_sends = calloc(n, sizeof *w->probe_sends);
    w->probe_counts = calloc(n, sizeof *w->probe_counts);
    w->hosts = calloc(n, STALL_HOST_BYTES);
    ok = w->peers && w->probe_sends && w->probe_counts && w->hosts;
  }
  if (!ok) {
    stall_watch_destroy(w);
    return MPIMR_ERR_NOMEM;
  }
  if (gethostname(w->own_host, sizeof w->own_host) != 0) snprintf(w->own_host, sizeof w->own_host, "unknown");
  w->own_host[sizeof w->own_host - 1] = '\0';
  return MPIMR_OK;
}

/* Every rank's host to rank 0, and with a timeout rank 0's to every rank, for the messages. */
static void post_host_exchange(stall_watch *w, mpimr_executor *ex) {
  w->start_requests[0] = w->start_requests[1] = MPI_REQUEST_NULL;
  int rc = MPI_Igather(w->own_host, STALL_HOST_BYTES, MPI_CHAR, w->hosts, STALL_HOST_BYTES, MPI_CHAR, 0,
                       w->comm, &w->start_requests[0]);
  if (rc == MPI_SUCCESS && w->timeout > 0) {
    if (w->rank == 0) memcpy(w->root_host, w->own_host, sizeof w->root_host);
    rc = MPI_Ibcast(w->root_host, STALL_HOST_BYTES, MPI_CHAR, 0, w->comm, &w->start_requests[1]);
  }
  if (rc != MPI_SUCCESS) fail_mpi(w, "gathering the host names", rc);
  hand(w, ex, &w->start_group, w->start_requests, 2);
}

void stall_watch_ignore_polls(stall_watch *w, const uint64_t *polls) { w->ignored_polls = polls; }

void stall_watch_start(stall_watch *w, mpimr_executor *ex, stall_locate_fn locate, void *locate_context,
                       mpimr_future *on_stall) {
  if (!w->enabled) return;
  w->locate = locate;
  w->locate_context = locate_context;
  w->on_stall = on_stall;
  mpimr_future_init(&w->base, watch_poll);
  w->timer.ready = timer_due;
  w->timer.context = w;
  w->started_at = w->last_progress = w->last_heard = w->last_round_at = clock_now();
  mpimr_executor_counters counters;
  mpimr_executor_get_counters(ex, &counters);
  w->others_polls = counters.polls - (w->ignored_polls ? *w->ignored_polls : 0);
  post_host_exchange(w, ex);
  if (w->rank != 0 && w->status == MPIMR_OK) post_probe_receive(w, ex);
  w->running = 1;
  mpimr_executor_spawn(ex, &w->base);
}

int stall_watch_close(stall_watch *w, mpimr_executor *ex, int status) {
  if (!w->running || w->closing || w->status != MPIMR_OK || mpimr_status_needs_abort(status)) return 0;
  w->closing = 1;
  w->round_active = 0; /* a round in flight is not judged: the job is over */
  mpimr_future_wake(ex, &w->base);
  return 1;
}

mpimr_future *stall_watch_future(stall_watch *w) { return &w->base; }

int stall_watch_status(const stall_watch *w) { return w->status; }

const char *stall_watch_message(const stall_watch *w) { return w->status == MPIMR_OK ? "" : w->message; }

void stall_watch_destroy(stall_watch *w) {
  if (w->rank != 0 && w->probe_posted && w->probe_receive_group.remaining > 0) MPI_Cancel(&w->probe_receive);
  for (int r = 1; w->peers && r < w->nranks; r++)
    if (reply_due(&w->peers[r])) MPI_Cancel(&w->peers[r].reply_request);
  /* Requests the reactor holds are freed with the executor; those the watch held, here. */
  for (int i = 0; i < w->held_count; i++)
    if (*w->held[i].request != MPI_REQUEST_NULL) MPI_Request_free(w->held[i].request);
  free(w->held);
  free(w->peers);
  free(w->probe_sends);
  free(w->probe_counts);
  free(w->hosts);
  w->held = NULL;
  w->peers = NULL;
  w->probe_sends = NULL;
  w->probe_counts = NULL;
  w->hosts = NULL;
  w->held_count = 0;
  w->enabled = w->running = 0;
}
