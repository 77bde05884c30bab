/*
 * shuffle/shuffle.c — the round protocol; see shuffle.h for the rules it
 * keeps. How a round's bytes travel is its transport's (transport.h): this
 * file calls the transport's operations per round and never looks at which
 * transport it is.
 */
#include "shuffle/shuffle.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpimr/error.h"
#include "shuffle/transport.h"
#include "util/clock.h"

enum slot_phase { SLOT_FILLING = 0, SLOT_COUNTS = 1, SLOT_DATA = 2, SLOT_RELEASE = 3 };

/* The transports by mpimr_transport value (SHUFFLE_TRANSPORTS in transport.h); AUTO has none. */
#define SHUFFLE_REGISTER_TRANSPORT(value, table) [value] = &(table),
static const shuffle_transport_ops *const transports[] = {SHUFFLE_TRANSPORTS(SHUFFLE_REGISTER_TRANSPORT)};
#undef SHUFFLE_REGISTER_TRANSPORT

/* The operations of `transport`, or NULL if it has none (AUTO, or not a transport). */
static const shuffle_transport_ops *transport_ops(mpimr_transport transport) {
  return (unsigned)transport < sizeof transports / sizeof transports[0] ? transports[transport] : NULL;
}

static uint64_t rounds_in_flight(const shuffle *sh) { return sh->next_round - sh->released_through; }

SHUFFLE_COLD void shuffle_fail_locally(shuffle *sh, int status, const char *what) {
  if (sh->local_error != MPIMR_OK) return;
  sh->local_error = status;
  snprintf(sh->detail, sizeof sh->detail, "shuffle: %s: %s", what, mpimr_strerror(status));
}

SHUFFLE_COLD void shuffle_fail_mpi(shuffle *sh, const char *call, int mpi_error) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(mpi_error, text, &length) != MPI_SUCCESS)
    snprintf(text, sizeof text, "code %d", mpi_error);
  sh->broken = 1;
  if (sh->local_error == MPIMR_OK) {
    sh->local_error = MPIMR_ERR_MPI;
    snprintf(sh->detail, sizeof sh->detail, "shuffle: %s failed: %.150s", call, text);
  }
}

SHUFFLE_COLD static void slot_destroy(round_slot *slot) {
  send_set_destroy(&slot->send);
  free(slot->send_header);
  free(slot->recv_header);
  free(slot->recv_counts);
  free(slot->recv_displs);
  free(slot->recv_buffer);
  free(slot->borrowed);
}

/* `home`: where the slot's send set lives (`home_bytes` long; the transport's send_home), or NULL. */
SHUFFLE_COLD static int slot_init(round_slot *slot, int nranks, size_t round_bytes, unsigned char *home,
                                  size_t home_bytes) {
  memset(slot, 0, sizeof *slot);
  int rc = home ? send_set_init_in(&slot->send, nranks, round_bytes, home, home_bytes)
                : send_set_init(&slot->send, nranks, round_bytes);
  if (rc != MPIMR_OK) return rc;
  slot->send_header = malloc(sizeof(int64_t) * SHUFFLE_HEADER_INTS * (size_t)nranks);
  slot->recv_header = malloc(sizeof(int64_t) * SHUFFLE_HEADER_INTS * (size_t)nranks);
  slot->recv_counts = malloc(sizeof(size_t) * (size_t)nranks);
  slot->recv_displs = malloc(sizeof(size_t) * (size_t)nranks);
  slot->borrowed = calloc((size_t)nranks, sizeof *slot->borrowed);
  if (!slot->send_header || !slot->recv_header || !slot->recv_counts || !slot->recv_displs || !slot->borrowed)
    return MPIMR_ERR_NOMEM;
  return MPIMR_OK;
}

static mpimr_poll_result driver_poll(mpimr_future *self, mpimr_executor *ex);

/*
 * What AUTO means. Every rank must resolve it alike, so it is a fixed choice:
 * the shared-memory transport. On one node its round moves no bytes: in
 * mpimr-shuffle-bench at np 2 (bench/results/shuffle-np2-shm*) a round of
 * 1-4 MiB per peer took 1-7 us against 160-1630 us for MPI_Alltoallv, and
 * with every received byte read (--consume) it was still 3.5-6.8x faster;
 * word count and sort of 1 GiB ran 3-4% faster end to end than with
 * pairwise (transport-ab-np2.txt). Between nodes, and wherever a node
 * cannot share, it sends pairwise messages, which were the default before:
 * pairwise was faster than MPI_Ialltoallv at every size below 64 KiB per
 * peer in every pattern at 2 and 4 ranks and at most larger sizes, because
 * a round of it takes fewer trips through the progress engine (ob1's own
 * requests, no libnbc schedule to advance), and it sends nothing to peers
 * with nothing to receive. Its window (8) covers every peer up to 9 ranks;
 * at 16 ranks on 16 cores a window of 16 was no faster than 8
 * (bench/results/xeon16/shuffle-np16*).
 */
mpimr_transport shuffle_resolve_transport(mpimr_transport requested) {
  return requested == MPIMR_TRANSPORT_AUTO ? MPIMR_TRANSPORT_SHARED_MEMORY : requested;
}

int shuffle_transport_known(mpimr_transport transport) {
  return transport == MPIMR_TRANSPORT_AUTO || transport_ops(transport) != NULL;
}

SHUFFLE_COLD int shuffle_create(shuffle **out, MPI_Comm comm, int depth, size_t round_bytes,
                                const shuffle_options *options, shuffle_receive_fn receive, void *context) {
  *out = NULL;
  shuffle_options defaults = {.transport = MPIMR_TRANSPORT_AUTO};
  if (options == NULL) options = &defaults;
  if (depth < 1 || depth >= SHUFFLE_TAG_CYCLE / 2 || round_bytes > ((size_t)1 << 30)) return MPIMR_ERR_INVAL;
  if (!shuffle_transport_known(options->transport) || options->peer_window < 0 || options->ranks_per_node < 0)
    return MPIMR_ERR_INVAL;
  shuffle *sh = calloc(1, sizeof *sh);
  if (sh == NULL) return MPIMR_ERR_NOMEM;
  sh->control_comm = sh->data_comm = MPI_COMM_NULL;
  if (MPI_Comm_dup(comm, &sh->control_comm) != MPI_SUCCESS ||
      MPI_Comm_dup(comm, &sh->data_comm) != MPI_SUCCESS) {
    shuffle_free(sh);
    return MPIMR_ERR_MPI;
  }
  MPI_Comm_set_errhandler(sh->control_comm, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(sh->data_comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm, &sh->rank);
  MPI_Comm_size(comm, &sh->nranks);
  /* Pieces must be cut alike on both ends of every message: the least limit any rank asked for. */
  long long asked = options->message_limit > 0 && options->message_limit < INT_MAX
                        ? (long long)options->message_limit
                        : INT_MAX,
            agreed = asked;
  if (MPI_Allreduce(&asked, &agreed, 1, MPI_LONG_LONG, MPI_MIN, sh->control_comm) != MPI_SUCCESS) {
    shuffle_free(sh);
    return MPIMR_ERR_MPI;
  }
  sh->message_limit = (size_t)agreed;
  sh->depth = depth;
  sh->nslots = depth + 1;
  sh->round_bytes = round_bytes;
  sh->options = *options;
  sh->receive = receive;
  sh->receive_context = context;
  mpimr_future_init(&sh->driver, driver_poll);
  sh->transport = shuffle_resolve_transport(options->transport);
  sh->ops = transport_ops(sh->transport);
  /* Collective, so before anything that can fail on one rank alone. */
  int rc = sh->ops->create ? sh->ops->create(sh, options) : MPIMR_OK;
  if (rc != MPIMR_OK) {
    shuffle_free(sh);
    return rc;
  }
  sh->slots = calloc((size_t)sh->nslots, sizeof *sh->slots);
  sh->spare_buffers = calloc((size_t)sh->nslots, sizeof *sh->spare_buffers);
  sh->spare_capacities = calloc((size_t)sh->nslots, sizeof *sh->spare_capacities);
  rc = sh->slots && sh->spare_buffers && sh->spare_capacities ? MPIMR_OK : MPIMR_ERR_NOMEM;
  for (int i = 0; i < sh->nslots && rc == MPIMR_OK; i++) {
    size_t home_bytes = 0;
    unsigned char *home = sh->ops->send_home ? sh->ops->send_home(sh, i, &home_bytes) : NULL;
    rc = slot_init(&sh->slots[i], sh->nranks, round_bytes, home, home_bytes);
  }
  if (rc != MPIMR_OK) {
    shuffle_free(sh);
    return rc;
  }
  *out = sh;
  return MPIMR_OK;
}

SHUFFLE_COLD void shuffle_free(shuffle *sh) {
  if (sh == NULL) return;
  if (sh->slots)
    for (int i = 0; i < sh->nslots; i++) slot_destroy(&sh->slots[i]);
  free(sh->slots);
  for (int i = 0; i < sh->spare_count; i++) free(sh->spare_buffers[i]);
  free(sh->spare_buffers);
  free(sh->spare_capacities);
  if (sh->ops && sh->ops->destroy) sh->ops->destroy(sh);
  if (sh->control_comm != MPI_COMM_NULL) MPI_Comm_free(&sh->control_comm);
  if (sh->data_comm != MPI_COMM_NULL) MPI_Comm_free(&sh->data_comm);
  /* After the slots: their send sets live in it. Local, and peers' mappings stay valid. */
  node_memory_destroy(&sh->node);
  free(sh);
}

int shuffle_fits(const shuffle *sh, int depth, size_t round_bytes, const shuffle_options *options) {
  shuffle_options defaults = {.transport = MPIMR_TRANSPORT_AUTO};
  if (options == NULL) options = &defaults;
  return sh->depth == depth && sh->round_bytes == round_bytes &&
         sh->transport == shuffle_resolve_transport(options->transport) &&
         sh->options.peer_window == options->peer_window &&
         sh->options.rounds_by_mpi == options->rounds_by_mpi &&
         sh->options.ranks_per_node == options->ranks_per_node &&
         sh->options.message_limit == options->message_limit;
}

int shuffle_ended_cleanly(const shuffle *sh) {
  return mpimr_future_is_done(&sh->driver) && sh->driver.result == MPIMR_OK && !sh->broken &&
         sh->local_error == MPIMR_OK && sh->remote_error == MPIMR_OK && sh->terminal_known &&
         sh->released_through > sh->last_round && sh->oldest_round == sh->released_through &&
         sh->data_posted_through == sh->next_round && sh->next_round == sh->released_through;
}

/*
 * Every slot is free (its round released, its set reset) and no request or condition is left
 * with the old executor, so a run is only the protocol's per-run flags. The round numbers go
 * on from where the last run stopped: every rank stopped at the same round, and the transports'
 * round counters (the node-local control blocks, message tags) stay in step with them.
 */
void shuffle_rearm(shuffle *sh, shuffle_receive_fn receive, void *context) {
  mpimr_future_init(&sh->driver, driver_poll);
  sh->map_finished = 0;
  sh->final_sent = 0;
  sh->terminal_known = 0;
  sh->last_round = 0;
  sh->progress_waiter = NULL;
  sh->receive = receive;
  sh->receive_context = context;
  memset(&sh->counters, 0, sizeof sh->counters);
  sh->trace = NULL;
  sh->detail[0] = '\0';
}

mpimr_future *shuffle_driver(shuffle *sh) { return &sh->driver; }

send_set *shuffle_fill_set(shuffle *sh) { return &shuffle_slot_of(sh, sh->next_round)->send; }

int shuffle_can_seal(const shuffle *sh) { return rounds_in_flight(sh) < (uint64_t)sh->depth; }

int shuffle_status(const shuffle *sh) {
  /* Stopped mid-exchange: the peers may wait for this rank forever, so it is out of step. */
  if (sh->broken) return MPIMR_ERR_MPI;
  return sh->local_error != MPIMR_OK ? sh->local_error : sh->remote_error;
}

const char *shuffle_error_detail(const shuffle *sh) { return sh->detail; }

const shuffle_counters *shuffle_get_counters(const shuffle *sh) { return &sh->counters; }

void shuffle_set_trace(shuffle *sh, trace *t) { sh->trace = t; }

uint64_t shuffle_rounds_received(const shuffle *sh) { return sh->oldest_round; }

mpimr_transport shuffle_transport(const shuffle *sh) { return sh->transport; }

int shuffle_peer_window(const shuffle *sh) { return sh->peer_window; }

const char *shuffle_sharing_reason(const shuffle *sh) { return node_memory_reason(&sh->node); }

int shuffle_shared_peers(const shuffle *sh) { return sh->node.shared_peers; }

const char *mpimr_transport_name(mpimr_transport transport) {
  if (transport == MPIMR_TRANSPORT_AUTO) return "auto";
  const shuffle_transport_ops *ops = transport_ops(transport);
  return ops ? ops->name : "unknown transport";
}

int mpimr_transport_parse(const char *text, mpimr_transport *transport) {
  if (text == NULL || transport == NULL) return MPIMR_ERR_INVAL;
  for (unsigned t = 0; t < sizeof transports / sizeof transports[0]; t++)
    if (shuffle_transport_known((mpimr_transport)t) &&
        strcmp(text, mpimr_transport_name((mpimr_transport)t)) == 0) {
      *transport = (mpimr_transport)t;
      return MPIMR_OK;
    }
  return MPIMR_ERR_INVAL;
}

void shuffle_wake_on_progress(shuffle *sh, mpimr_future *waiter) { sh->progress_waiter = waiter; }

int shuffle_seal(shuffle *sh, mpimr_executor *ex) {
  if (sh->broken) return shuffle_status(sh);
  /* Once the end is agreed, no rank may post past it. */
  if (sh->terminal_known && sh->next_round > sh->last_round) return shuffle_status(sh);
  if (!shuffle_can_seal(sh)) return MPIMR_ERR_STATE;
  round_slot *slot = shuffle_slot_of(sh, sh->next_round);
  int64_t flags = (sh->map_finished ? SHUFFLE_HEADER_FINAL : 0) |
                  (sh->local_error ? SHUFFLE_HEADER_ERROR | SHUFFLE_HEADER_FINAL : 0) |
                  (shuffle_set_is_large(&slot->send, sh->message_limit) ? SHUFFLE_HEADER_LARGE : 0);
  for (int d = 0; d < sh->nranks; d++) {
    /* A rank shares with a peer only when its node's sets all live in their homes. */
    int shared = node_memory_shares_with(&sh->node, d);
    slot->send_header[SHUFFLE_HEADER_INTS * d] = (int64_t)slot->send.lengths[d];
    slot->send_header[SHUFFLE_HEADER_INTS * d + 1] = flags | (shared ? SHUFFLE_HEADER_SHARED : 0);
    slot->send_header[SHUFFLE_HEADER_INTS * d + 2] = (int64_t)slot->send.offsets[d];
  }
  int rc =
      sh->ops->publish_headers ? sh->ops->publish_headers(sh, ex, slot) : shuffle_post_headers(sh, ex, slot);
  if (rc != MPIMR_OK) return rc;
  if (flags & SHUFFLE_HEADER_FINAL) sh->final_sent = 1;
  slot->phase = SLOT_COUNTS;
  if (sh->trace) slot->sealed_at = clock_now();
  sh->counters.rounds++;
  sh->counters.bytes_sent += slot->send.total;
  sh->counters.pairs_sent += slot->send.pairs;
  sh->next_round++;
  return MPIMR_OK;
}

void shuffle_await_collective(shuffle *sh, mpimr_executor *ex, mpimr_request_group *group,
                              MPI_Request request) {
  if (mpimr_future_await_requests(ex, &sh->driver, group, &request, 1) == MPIMR_OK) return;
  MPI_Wait(&request, MPI_STATUS_IGNORE);
  group->remaining = 0;
  shuffle_fail_locally(sh, MPIMR_ERR_NOMEM, "registering a request");
  mpimr_future_wake(ex, &sh->driver);
}

/* Sends the round's headers by MPI_Ialltoall; the driver is woken when they have all arrived. */
int shuffle_post_headers(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  /* The set's bytes are written before any peer can learn from the header where to read them. */
  atomic_thread_fence(memory_order_release);
  MPI_Request request;
  int mpi_rc = MPI_Ialltoall(slot->send_header, SHUFFLE_HEADER_INTS, MPI_INT64_T, slot->recv_header,
                             SHUFFLE_HEADER_INTS, MPI_INT64_T, sh->control_comm, &request);
  if (mpi_rc != MPI_SUCCESS) {
    shuffle_fail_mpi(sh, "MPI_Ialltoall", mpi_rc);
    return MPIMR_ERR_MPI;
  }
  shuffle_await_collective(sh, ex, &slot->counts_group, request);
  return MPIMR_OK;
}

int shuffle_take_headers(shuffle *sh, round_slot *slot, uint64_t round) {
  (void)round;
  if (slot->counts_group.remaining > 0) return 0;
  if (slot->counts_group.error != MPI_SUCCESS)
    shuffle_fail_mpi(sh, "MPI_Ialltoall (round header)", slot->counts_group.error);
  return 1;
}

void shuffle_finish_map(shuffle *sh, mpimr_executor *ex, int status) {
  sh->map_finished = 1;
  if (status != MPIMR_OK && status != MPIMR_ERR_REMOTE) shuffle_fail_locally(sh, status, "map");
  mpimr_future_wake(ex, &sh->driver);
}

/* The driver's step for round `round`'s headers: the transport's, or the MPI exchange's. */
static int take_headers(shuffle *sh, round_slot *slot, uint64_t round) {
  return sh->ops->take_headers ? sh->ops->take_headers(sh, slot, round)
                               : shuffle_take_headers(sh, slot, round);
}

/* Reads the headers of round `round`, settles the end if this round decides it, posts the data. */
static void handle_counts(shuffle *sh, mpimr_executor *ex, round_slot *slot, uint64_t round) {
  /* The headers' exchange failed (take_headers). */
  if (sh->broken) return;
  /* What the headers say is in the senders' homes was written before they were sent. */
  atomic_thread_fence(memory_order_acquire);
  int all_final = 1, any_error = 0;
  size_t total = 0;
  slot->borrowed_bytes = 0;
  for (int s = 0; s < sh->nranks; s++) {
    const int64_t *header = &slot->recv_header[SHUFFLE_HEADER_INTS * s];
    int64_t bytes = header[0], flags = header[1];
    all_final &= (flags & SHUFFLE_HEADER_FINAL) != 0;
    any_error |= (flags & SHUFFLE_HEADER_ERROR) != 0;
    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX - total) {
      shuffle_fail_locally(sh, MPIMR_ERR_CORRUPT,
                           bytes < 0 ? "a round header with a negative size" : "round headers past any size");
      sh->broken = 1;
      return;
    }
    slot->borrowed[s] = sh->ops->read_in_place && bytes > 0 ? sh->ops->read_in_place(sh, slot, s) : NULL;
    if (sh->broken) return;
    if (slot->borrowed[s]) slot->borrowed_bytes += (size_t)bytes;
    slot->recv_counts[s] = slot->borrowed[s] ? 0 : (size_t)bytes;
    slot->recv_displs[s] = total;
    total += slot->recv_counts[s];
  }
  if (!sh->terminal_known && any_error) {
    sh->terminal_known = 1;
    sh->last_round = round + (uint64_t)sh->depth - 1;
    if (sh->local_error == MPIMR_OK) sh->remote_error = MPIMR_ERR_REMOTE;
  } else if (!sh->terminal_known && all_final) {
    sh->terminal_known = 1;
    sh->last_round = round;
  }
  if (slot->recv_buffer == NULL && sh->spare_count > 0) {
    sh->spare_count--;
    slot->recv_buffer = sh->spare_buffers[sh->spare_count];
    slot->recv_capacity = sh->spare_capacities[sh->spare_count];
  }
  if (total > slot->recv_capacity) {
    free(slot->recv_buffer);
    slot->recv_buffer = malloc(total);
    slot->recv_capacity = slot->recv_buffer ? total : 0;
    if (slot->recv_buffer == NULL) {
      /* Without a buffer the data exchange cannot be posted, and every rank waits on it. */
      shuffle_fail_locally(sh, MPIMR_ERR_NOMEM, "allocating a receive buffer");
      sh->broken = 1;
      return;
    }
  }
  slot->recv_total = total;
  if (sh->trace) {
    slot->data_posted_at = clock_now();
    trace_span(sh->trace, TRACE_ROUND_HEADER, slot->sealed_at, slot->data_posted_at, round);
  }
  sh->ops->post_round(sh, ex, slot);
  slot->phase = SLOT_DATA;
}

/* Hands one received piece to the job; returns non-zero if the shuffle must stop handing. */
static int hand_over(shuffle *sh, unsigned char *data, size_t length, size_t capacity, int source,
                     int *kept) {
  int rc = sh->receive(sh->receive_context, data, length, capacity, source, kept);
  if (rc != MPIMR_OK) shuffle_fail_locally(sh, rc, "receiving a round");
  return rc != MPIMR_OK;
}

/*
 * Hands a received round to the job (unless the job is failing): first the
 * bytes that came as messages (sources in rank order, in a buffer the job
 * may keep), then each source's bytes read in place (borrowed: capacity 0).
 * The slot's set is free at once, or once the transport says no peer still
 * reads it (release, released).
 */
static void handle_data(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  /* The round's exchange failed (round_done). */
  if (sh->broken) return;
  sh->counters.bytes_received += slot->recv_total + slot->borrowed_bytes;
  double received_at = sh->trace ? clock_now() : 0;
  if (sh->trace)
    trace_span_value(sh->trace, TRACE_ROUND_DATA, slot->data_posted_at, received_at, sh->oldest_round,
                     slot->recv_total + slot->borrowed_bytes);
  if (shuffle_status(sh) == MPIMR_OK && slot->recv_total + slot->borrowed_bytes > 0) {
    int kept = 0, stop = 0;
    if (slot->recv_total > 0)
      stop = hand_over(sh, slot->recv_buffer, slot->recv_total, slot->recv_capacity, SHUFFLE_SOURCE_SEVERAL,
                       &kept);
    if (kept) {
      slot->recv_buffer = NULL;
      slot->recv_capacity = 0;
    }
    for (int s = 0; s < sh->nranks && !stop && slot->borrowed_bytes > 0; s++) {
      int ignored = 0;
      if (slot->borrowed[s] != NULL)
        stop = hand_over(sh, (unsigned char *)slot->borrowed[s],
                         (size_t)slot->recv_header[SHUFFLE_HEADER_INTS * s], 0, s, &ignored);
    }
    if (sh->trace) trace_span(sh->trace, TRACE_FOLD_ROUND, received_at, clock_now(), sh->oldest_round);
  }
  /* At most one buffer per slot exists, so the stack (one place per slot) always has room. */
  if (slot->recv_buffer != NULL) {
    sh->spare_buffers[sh->spare_count] = slot->recv_buffer;
    sh->spare_capacities[sh->spare_count] = slot->recv_capacity;
    sh->spare_count++;
    slot->recv_buffer = NULL;
    slot->recv_capacity = 0;
  }
  if (sh->ops->release && sh->ops->release(sh, ex, slot, sh->oldest_round)) {
    slot->phase = SLOT_RELEASE;
    return;
  }
  int rc = send_set_reset(&slot->send);
  if (rc != MPIMR_OK) shuffle_fail_locally(sh, rc, "resetting a send buffer");
  slot->phase = SLOT_FILLING;
}

/* Frees the slots of received rounds, in round order, once no peer reads them; returns how many. */
static int release_rounds(shuffle *sh) {
  int released = 0;
  while (!sh->broken && sh->released_through < sh->oldest_round) {
    round_slot *slot = shuffle_slot_of(sh, sh->released_through);
    if (slot->phase == SLOT_RELEASE) {
      if (!sh->ops->released(sh, slot, sh->released_through) || sh->broken) break;
      int rc = send_set_reset(&slot->send);
      if (rc != MPIMR_OK) shuffle_fail_locally(sh, rc, "resetting a send buffer");
      slot->phase = SLOT_FILLING;
    }
    sh->released_through++;
    released++;
  }
  return released;
}

/* After map, the driver sends what is left, then empty rounds until the end is agreed. */
static int seal_after_map(shuffle *sh, mpimr_executor *ex) {
  if (!sh->map_finished || !shuffle_can_seal(sh)) return 0;
  int needed;
  if (sh->terminal_known)
    needed = sh->next_round <= sh->last_round;
  else
    needed = !sh->final_sent || rounds_in_flight(sh) == 0;
  if (!needed) return 0;
  shuffle_seal(sh, ex);
  return 1;
}

static mpimr_poll_result driver_poll(mpimr_future *self, mpimr_executor *ex) {
  shuffle *sh = (shuffle *)self;
  for (;;) {
    int progressed = 0;
    while (!sh->broken && sh->data_posted_through < sh->next_round) {
      round_slot *slot = shuffle_slot_of(sh, sh->data_posted_through);
      if (!take_headers(sh, slot, sh->data_posted_through)) break;
      handle_counts(sh, ex, slot, sh->data_posted_through);
      sh->data_posted_through++;
      progressed = 1;
    }
    /* Only rounds whose data is in flight have anything to move. */
    if (!sh->broken && sh->ops->progress && sh->oldest_round < sh->data_posted_through)
      progressed |= sh->ops->progress(sh, ex) > 0;
    while (!sh->broken && sh->oldest_round < sh->data_posted_through) {
      round_slot *slot = shuffle_slot_of(sh, sh->oldest_round);
      if (!sh->ops->round_done(sh, slot)) break;
      handle_data(sh, ex, slot);
      sh->oldest_round++;
      progressed = 1;
    }
    progressed |= release_rounds(sh) > 0;
    if (sh->broken) {
      /* Requests still in the reactor are freed with the executor; nothing here can finish them. */
      if (sh->ops->stop) sh->ops->stop(sh, ex);
      self->result = shuffle_status(sh);
      if (sh->progress_waiter) mpimr_future_wake(ex, sh->progress_waiter);
      return MPIMR_READY;
    }
    if (!sh->broken) progressed |= seal_after_map(sh, ex);
    if (progressed && sh->progress_waiter) {
      mpimr_future *waiter = sh->progress_waiter;
      sh->progress_waiter = NULL;
      mpimr_future_wake(ex, waiter);
    }
    if (sh->terminal_known && sh->released_through > sh->last_round) {
      if (sh->ops->stop) sh->ops->stop(sh, ex);
      self->result = shuffle_status(sh);
      return MPIMR_READY;
    }
    if (!progressed) {
      /* Nothing the reactor tests may be left to wake the driver: the transport sees to it. */
      if (sh->ops->idle) sh->ops->idle(sh, ex);
      return MPIMR_PENDING;
    }
  }
}

size_t shuffle_buffer_bytes(const shuffle *sh) {
  size_t bytes = 0;
  for (int i = 0; i < sh->nslots; i++) bytes += sh->slots[i].send.capacity + sh->slots[i].recv_capacity;
  for (int i = 0; i < sh->spare_count; i++) bytes += sh->spare_capacities[i];
  return bytes;
}

int shuffle_message_limit_from_env(size_t *limit, char *why, size_t why_size) {
  *limit = 0;
  const char *text = getenv("MPIMR_MESSAGE_LIMIT");
  if (text == NULL || *text == '\0') return MPIMR_OK;
  char *end = NULL;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || *text == '-' || value < 1 || value > INT_MAX) {
    snprintf(why, why_size, "MPIMR_MESSAGE_LIMIT=%.40s: not a message size in bytes (1 to %d)", text,
             INT_MAX);
    return MPIMR_ERR_INVAL;
  }
  *limit = (size_t)value;
  return MPIMR_OK;
}
