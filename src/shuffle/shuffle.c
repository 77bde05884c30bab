/* shuffle/shuffle.c — the round protocol; see shuffle.h for the rules it keeps. */
#include "shuffle/shuffle.h"

#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpimr/error.h"
#include "util/clock.h"
#include "util/pages.h"

/* A round header per peer: [bytes, flags, offset]. With HEADER_SHARED the bytes are not sent:
 * they lie at `offset` in the sender's home for the round's slot, for the receiver to read. */
enum { HEADER_INTS = 3 };
enum header_flags { HEADER_FINAL = 1, HEADER_ERROR = 2, HEADER_SHARED = 4 };
enum slot_phase { SLOT_FILLING = 0, SLOT_COUNTS = 1, SLOT_DATA = 2, SLOT_RELEASE = 3 };

/* Each slot's home in the shared segment: room for the largest send set (INT_MAX bytes). Only
 * the pages written take memory. */
static const size_t SHARED_SLOT_BYTES = (size_t)1 << 31;

/*
 * SHARED_MEMORY with every rank on one node: the start of each rank's
 * segment, written only by its owner and read by its peers. Rounds need no
 * MPI at all: a rank seals round r by writing its headers for r's slot and
 * then rounds_sealed = r + 1; a receiver reads its header from each peer
 * once all have sealed r, and when it has handed r over it sets
 * rounds_handed = r + 1; a sender refills r's slot once every peer's
 * rounds_handed has passed r. The counters sit on cache lines of their own.
 */
typedef struct control_block {
  _Alignas(128) _Atomic uint64_t rounds_sealed;
  _Alignas(128) _Atomic uint64_t rounds_handed;
  _Alignas(128) int32_t headers[]; /* [slot][receiver][HEADER_INTS] */
} control_block;

typedef struct round_slot {
  send_set send;
  int32_t *send_header; /* HEADER_INTS per peer */
  int32_t *recv_header;
  /* SHARED_MEMORY: per source, where its bytes of this round lie in its home (NULL: sent as a
   * message, or none). */
  const unsigned char **borrowed;
  size_t borrowed_bytes;
  mpimr_request_group release_group; /* SHARED_MEMORY: the round's MPI_Ibarrier (see handle_data). */
  int *recv_counts;
  int *recv_displs;
  unsigned char *recv_buffer; /* Only between the headers and the hand-over: see spare_buffers. */
  size_t recv_capacity;
  size_t recv_total;
  mpimr_request_group counts_group;
  mpimr_request_group data_group; /* ALLTOALLV: the round's one request. */
  /* PAIRWISE: the next peer distance to post a send or a receive for (1..nranks; nranks: all
   * posted), this round's requests still outstanding, and whether its own bytes are copied. */
  int next_send_distance;
  int next_recv_distance;
  int requests_outstanding;
  int own_bytes_pending; /* The rank's bytes to itself are still to be copied. */
  int phase;
  double sealed_at; /* for the trace */
  double data_posted_at;
} round_slot;

/* One place in a pairwise window: a request of its own group, so each completion wakes the driver. */
typedef struct peer_request {
  mpimr_request_group group;
  MPI_Request held; /* Only when the reactor could not take the request: the driver tests it. */
  uint64_t round;
  int busy;
} peer_request;

struct shuffle {
  mpimr_future driver; /* First, so the driver's poll function finds its shuffle. */
  MPI_Comm control_comm;
  MPI_Comm data_comm;
  int rank;
  int nranks;
  int depth;
  int nslots;
  round_slot *slots;
  mpimr_transport transport;   /* Never AUTO. */
  node_memory node;            /* SHARED_MEMORY: the homes of this node's ranks' send sets. */
  size_t control_bytes;        /* SHARED_MEMORY: the control block before the homes in each segment. */
  int node_local;              /* SHARED_MEMORY with every rank sharing: rounds go without MPI. */
  int release_by_barrier;      /* SHARED_MEMORY otherwise, if some rank reads another's memory. */
  mpimr_condition peers_moved; /* Node-local: wakes the driver when a peer seals or hands over. */
  int peer_window;             /* Places in each of the two windows (pairwise only). */
  peer_request *send_window;
  peer_request *recv_window;
  /* Receive buffers between rounds, a stack: a round takes the one most recently given back,
   * whose bytes are likeliest still in cache (the receiver has just read them). */
  unsigned char **spare_buffers;
  size_t *spare_capacities;
  int spare_count;
  int held_requests;            /* Window requests the driver tests itself (the reactor was out of memory). */
  uint64_t next_round;          /* The round the fill set will be sent as. */
  uint64_t data_posted_through; /* Rounds below this have their data exchange posted. */
  uint64_t oldest_round;        /* Rounds below this are received. */
  uint64_t released_through;    /* Rounds below this have their slots free (their readers are done). */
  int map_finished;
  int final_sent;
  int terminal_known;
  uint64_t last_round;
  int local_error;
  int remote_error;
  int broken; /* An MPI call failed: the protocol cannot stay in step any more. */
  mpimr_future *progress_waiter;
  shuffle_receive_fn receive;
  void *receive_context;
  shuffle_counters counters;
  trace *trace;
  char detail[256];
};

static round_slot *slot_of(shuffle *sh, uint64_t round) { return &sh->slots[round % (uint64_t)sh->nslots]; }

static uint64_t rounds_in_flight(const shuffle *sh) { return sh->next_round - sh->released_through; }

static const control_block *control_of(const shuffle *sh, int rank) {
  return (const control_block *)sh->node.peer[rank];
}

static control_block *own_control(shuffle *sh) { return (control_block *)sh->node.own; }

/* Where slot `slot_index`'s home starts in a segment. */
static size_t home_offset(const shuffle *sh, size_t slot_index) {
  return sh->control_bytes + slot_index * SHARED_SLOT_BYTES;
}

/* Node-local: non-zero once every rank has sealed `round`. */
static int all_sealed(const shuffle *sh, uint64_t round) {
  for (int r = 0; r < sh->nranks; r++)
    if (atomic_load_explicit(&control_of(sh, r)->rounds_sealed, memory_order_acquire) <= round) return 0;
  return 1;
}

/* Node-local: non-zero once every rank has handed `round` over. */
static int all_handed(const shuffle *sh, uint64_t round) {
  for (int r = 0; r < sh->nranks; r++)
    if (atomic_load_explicit(&control_of(sh, r)->rounds_handed, memory_order_acquire) <= round) return 0;
  return 1;
}

/* Node-local: the driver has something to do (the condition the reactor tests while it waits). */
static int peers_moved(void *context) {
  const shuffle *sh = context;
  return (sh->data_posted_through < sh->next_round && all_sealed(sh, sh->data_posted_through)) ||
         (sh->released_through < sh->oldest_round && all_handed(sh, sh->released_through));
}

static void fail_locally(shuffle *sh, int status, const char *what) {
  if (sh->local_error != MPIMR_OK) return;
  sh->local_error = status;
  snprintf(sh->detail, sizeof sh->detail, "shuffle: %s: %s", what, mpimr_strerror(status));
}

static void fail_mpi(shuffle *sh, const char *call, int mpi_error) {
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

static void slot_destroy(round_slot *slot) {
  send_set_destroy(&slot->send);
  free(slot->send_header);
  free(slot->recv_header);
  free(slot->recv_counts);
  free(slot->recv_displs);
  free(slot->recv_buffer);
  free(slot->borrowed);
}

/* `home`: where the slot's send set lives (a SHARED_SLOT_BYTES range of the shared segment), or NULL. */
static int slot_init(round_slot *slot, int nranks, size_t round_bytes, unsigned char *home) {
  memset(slot, 0, sizeof *slot);
  int rc = home ? send_set_init_in(&slot->send, nranks, round_bytes, home, SHARED_SLOT_BYTES)
                : send_set_init(&slot->send, nranks, round_bytes);
  if (rc != MPIMR_OK) return rc;
  slot->send_header = malloc(sizeof(int32_t) * HEADER_INTS * (size_t)nranks);
  slot->recv_header = malloc(sizeof(int32_t) * HEADER_INTS * (size_t)nranks);
  slot->recv_counts = malloc(sizeof(int) * (size_t)nranks);
  slot->recv_displs = malloc(sizeof(int) * (size_t)nranks);
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
  return transport == MPIMR_TRANSPORT_AUTO || transport == MPIMR_TRANSPORT_ALLTOALLV ||
         transport == MPIMR_TRANSPORT_PAIRWISE || transport == MPIMR_TRANSPORT_SHARED_MEMORY;
}

/* Whether the transport sends messages through the pairwise windows. */
static int uses_windows(mpimr_transport transport) {
  return transport == MPIMR_TRANSPORT_PAIRWISE || transport == MPIMR_TRANSPORT_SHARED_MEMORY;
}

static int windows_init(shuffle *sh, int requested) {
  /* No more than depth rounds' worth of peers can ever be outstanding: room beyond that is waste. */
  long places = requested > 0 ? requested : SHUFFLE_DEFAULT_PEER_WINDOW;
  long most = (long)sh->depth * (sh->nranks > 1 ? sh->nranks - 1 : 1);
  if (places > most) places = most;
  sh->peer_window = (int)places;
  sh->send_window = calloc((size_t)places, sizeof *sh->send_window);
  sh->recv_window = calloc((size_t)places, sizeof *sh->recv_window);
  if (sh->send_window == NULL || sh->recv_window == NULL) return MPIMR_ERR_NOMEM;
  for (long i = 0; i < places; i++) sh->send_window[i].held = sh->recv_window[i].held = MPI_REQUEST_NULL;
  return MPIMR_OK;
}

int shuffle_create(shuffle **out, MPI_Comm comm, int depth, size_t round_bytes,
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
  sh->depth = depth;
  sh->nslots = depth + 1;
  sh->receive = receive;
  sh->receive_context = context;
  mpimr_future_init(&sh->driver, driver_poll);
  sh->transport = shuffle_resolve_transport(options->transport);
  /* Collective, so before anything that can fail on one rank alone. */
  if (sh->transport == MPIMR_TRANSPORT_SHARED_MEMORY) {
    size_t headers = sizeof(int32_t) * HEADER_INTS * (size_t)sh->nranks * (size_t)sh->nslots;
    /* Whole pages, so that every home starts on a page (send_set_init_in, madvise). */
    sh->control_bytes = pages_round_up(sizeof(control_block) + headers);
    size_t segment = sh->control_bytes + (size_t)sh->nslots * SHARED_SLOT_BYTES;
    int node_rc = node_memory_create(&sh->node, sh->control_comm, segment, options->ranks_per_node);
    /* Rounds go without MPI if every rank shares with every other; they need a release if any
     * rank reads another's memory. Every rank takes part, even one whose set-up failed. */
    int mine[2] = {sh->node.shared_peers == sh->nranks, -(sh->node.shared_peers > 1)}, all[2] = {0, 0};
    if (MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MIN, sh->control_comm) != MPI_SUCCESS && node_rc == MPIMR_OK)
      node_rc = MPIMR_ERR_MPI;
    if (node_rc != MPIMR_OK) {
      shuffle_free(sh);
      return node_rc;
    }
    sh->node_local = all[0] && !options->rounds_by_mpi;
    sh->release_by_barrier = !sh->node_local && all[1] < 0;
    sh->peers_moved.ready = peers_moved;
    sh->peers_moved.context = sh;
  }
  sh->slots = calloc((size_t)sh->nslots, sizeof *sh->slots);
  sh->spare_buffers = calloc((size_t)sh->nslots, sizeof *sh->spare_buffers);
  sh->spare_capacities = calloc((size_t)sh->nslots, sizeof *sh->spare_capacities);
  int rc = sh->slots && sh->spare_buffers && sh->spare_capacities ? MPIMR_OK : MPIMR_ERR_NOMEM;
  for (int i = 0; i < sh->nslots && rc == MPIMR_OK; i++)
    rc = slot_init(&sh->slots[i], sh->nranks, round_bytes,
                   sh->node.own ? sh->node.own + home_offset(sh, (size_t)i) : NULL);
  if (rc == MPIMR_OK && uses_windows(sh->transport)) rc = windows_init(sh, options->peer_window);
  if (rc != MPIMR_OK) {
    shuffle_free(sh);
    return rc;
  }
  *out = sh;
  return MPIMR_OK;
}

void shuffle_free(shuffle *sh) {
  if (sh == NULL) return;
  if (sh->slots)
    for (int i = 0; i < sh->nslots; i++) slot_destroy(&sh->slots[i]);
  free(sh->slots);
  for (int i = 0; i < sh->spare_count; i++) free(sh->spare_buffers[i]);
  free(sh->spare_buffers);
  free(sh->spare_capacities);
  /* A held request still pending belongs to a broken shuffle whose peers are being aborted. */
  for (int i = 0; i < sh->peer_window; i++) {
    if (sh->send_window && sh->send_window[i].held != MPI_REQUEST_NULL)
      MPI_Request_free(&sh->send_window[i].held);
    if (sh->recv_window && sh->recv_window[i].held != MPI_REQUEST_NULL)
      MPI_Request_free(&sh->recv_window[i].held);
  }
  free(sh->send_window);
  free(sh->recv_window);
  if (sh->control_comm != MPI_COMM_NULL) MPI_Comm_free(&sh->control_comm);
  if (sh->data_comm != MPI_COMM_NULL) MPI_Comm_free(&sh->data_comm);
  /* After the slots: their send sets live in it. Local, and peers' mappings stay valid. */
  node_memory_destroy(&sh->node);
  free(sh);
}

mpimr_future *shuffle_driver(shuffle *sh) { return &sh->driver; }

send_set *shuffle_fill_set(shuffle *sh) { return &slot_of(sh, sh->next_round)->send; }

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
  switch (transport) {
    case MPIMR_TRANSPORT_AUTO: return "auto";
    case MPIMR_TRANSPORT_ALLTOALLV: return "alltoallv";
    case MPIMR_TRANSPORT_PAIRWISE: return "pairwise";
    case MPIMR_TRANSPORT_SHARED_MEMORY: return "shared-memory";
  }
  return "unknown transport";
}

int mpimr_transport_parse(const char *text, mpimr_transport *transport) {
  static const mpimr_transport all[] = {MPIMR_TRANSPORT_AUTO, MPIMR_TRANSPORT_ALLTOALLV,
                                        MPIMR_TRANSPORT_PAIRWISE, MPIMR_TRANSPORT_SHARED_MEMORY};
  if (text == NULL || transport == NULL) return MPIMR_ERR_INVAL;
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(text, mpimr_transport_name(all[i])) == 0) {
      *transport = all[i];
      return MPIMR_OK;
    }
  return MPIMR_ERR_INVAL;
}

void shuffle_wake_on_progress(shuffle *sh, mpimr_future *waiter) { sh->progress_waiter = waiter; }

static void seal_in_memory(shuffle *sh, mpimr_executor *ex, round_slot *slot);
static int post_headers(shuffle *sh, mpimr_executor *ex, round_slot *slot);

int shuffle_seal(shuffle *sh, mpimr_executor *ex) {
  if (sh->broken) return shuffle_status(sh);
  /* Once the end is agreed, no rank may post past it. */
  if (sh->terminal_known && sh->next_round > sh->last_round) return shuffle_status(sh);
  if (!shuffle_can_seal(sh)) return MPIMR_ERR_STATE;
  round_slot *slot = slot_of(sh, sh->next_round);
  int32_t flags = (sh->map_finished ? HEADER_FINAL : 0) | (sh->local_error ? HEADER_ERROR | HEADER_FINAL : 0);
  for (int d = 0; d < sh->nranks; d++) {
    /* A rank shares with a peer only when its node's sets all live in their homes. */
    int shared = node_memory_shares_with(&sh->node, d);
    slot->send_header[HEADER_INTS * d] = slot->send.lengths[d];
    slot->send_header[HEADER_INTS * d + 1] = flags | (shared ? HEADER_SHARED : 0);
    slot->send_header[HEADER_INTS * d + 2] = slot->send.offsets[d];
  }
  if (sh->node_local) {
    seal_in_memory(sh, ex, slot);
  } else {
    int rc = post_headers(sh, ex, slot);
    if (rc != MPIMR_OK) return rc;
  }
  if (flags & HEADER_FINAL) sh->final_sent = 1;
  slot->phase = SLOT_COUNTS;
  if (sh->trace) slot->sealed_at = clock_now();
  sh->counters.rounds++;
  sh->counters.bytes_sent += slot->send.total;
  sh->counters.pairs_sent += slot->send.pairs;
  sh->next_round++;
  return MPIMR_OK;
}

/* Node-local: publishes the round's headers in this rank's control block, then the round itself. */
static void seal_in_memory(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  size_t slot_index = (size_t)(slot - sh->slots), per_slot = HEADER_INTS * (size_t)sh->nranks;
  control_block *control = own_control(sh);
  memcpy(control->headers + slot_index * per_slot, slot->send_header, sizeof(int32_t) * per_slot);
  /* The bytes and headers are written before any peer can see the round sealed. */
  atomic_store_explicit(&control->rounds_sealed, sh->next_round + 1, memory_order_release);
  mpimr_future_wake(ex, &sh->driver);
}

/*
 * Hands a nonblocking collective's request to the reactor, which wakes the
 * driver when it completes. If the reactor cannot take it, waits for it here
 * (a collective cannot be abandoned: the peers take part in it) and fails
 * the shuffle.
 */
static void await_collective(shuffle *sh, mpimr_executor *ex, mpimr_request_group *group,
                             MPI_Request request) {
  if (mpimr_future_await_requests(ex, &sh->driver, group, &request, 1) == MPIMR_OK) return;
  MPI_Wait(&request, MPI_STATUS_IGNORE);
  group->remaining = 0;
  fail_locally(sh, MPIMR_ERR_NOMEM, "registering a request");
  mpimr_future_wake(ex, &sh->driver);
}

/* Sends the round's headers by MPI_Ialltoall; the driver is woken when they have all arrived. */
static int post_headers(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  /* The set's bytes are written before any peer can learn from the header where to read them. */
  atomic_thread_fence(memory_order_release);
  MPI_Request request;
  int mpi_rc = MPI_Ialltoall(slot->send_header, HEADER_INTS, MPI_INT32_T, slot->recv_header, HEADER_INTS,
                             MPI_INT32_T, sh->control_comm, &request);
  if (mpi_rc != MPI_SUCCESS) {
    fail_mpi(sh, "MPI_Ialltoall", mpi_rc);
    return MPIMR_ERR_MPI;
  }
  await_collective(sh, ex, &slot->counts_group, request);
  return MPIMR_OK;
}

void shuffle_finish_map(shuffle *sh, mpimr_executor *ex, int status) {
  sh->map_finished = 1;
  if (status != MPIMR_OK && status != MPIMR_ERR_REMOTE) fail_locally(sh, status, "map");
  mpimr_future_wake(ex, &sh->driver);
}

/* ALLTOALLV: the whole data exchange of a round as one request. */
static void post_alltoallv(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  MPI_Request request;
  int mpi_rc =
      MPI_Ialltoallv(slot->send.buffer, slot->send.lengths, slot->send.offsets, MPI_BYTE, slot->recv_buffer,
                     slot->recv_counts, slot->recv_displs, MPI_BYTE, sh->data_comm, &request);
  if (mpi_rc != MPI_SUCCESS) {
    fail_mpi(sh, "MPI_Ialltoallv", mpi_rc);
    return;
  }
  await_collective(sh, ex, &slot->data_group, request);
}

/* PAIRWISE and SHARED_MEMORY: pairwise_progress() posts the round's messages, then copies the rank's
 * own bytes if `copy_own` (SHARED_MEMORY reads them from the send set instead). */
static void start_pairwise(round_slot *slot, int copy_own) {
  slot->next_send_distance = 1;
  slot->next_recv_distance = 1;
  slot->requests_outstanding = 0;
  slot->own_bytes_pending = copy_own;
}

/* Copies the rank's own bytes of every round that still needs it; returns how many rounds. */
static int copy_own_bytes(shuffle *sh) {
  int copied = 0;
  for (uint64_t round = sh->oldest_round; round < sh->data_posted_through; round++) {
    round_slot *slot = slot_of(sh, round);
    if (!slot->own_bytes_pending) continue;
    int own = slot->recv_counts[sh->rank];
    if (own > 0)
      memcpy(slot->recv_buffer + slot->recv_displs[sh->rank],
             slot->send.buffer + slot->send.offsets[sh->rank], (size_t)own);
    slot->own_bytes_pending = 0;
    copied++;
  }
  return copied;
}

/*
 * Puts one message of round `round`, to or from `peer`, in a free window
 * place. Returns 0, or -1 if MPI refused it (the shuffle is then broken).
 */
static int post_peer_message(shuffle *sh, mpimr_executor *ex, peer_request *place, int sending,
                             uint64_t round, int peer) {
  round_slot *slot = slot_of(sh, round);
  int tag = (int)(round % SHUFFLE_TAG_CYCLE);
  MPI_Request request;
  int mpi_rc = sending ? MPI_Isend(slot->send.buffer + slot->send.offsets[peer], slot->send.lengths[peer],
                                   MPI_BYTE, peer, tag, sh->data_comm, &request)
                       : MPI_Irecv(slot->recv_buffer + slot->recv_displs[peer], slot->recv_counts[peer],
                                   MPI_BYTE, peer, tag, sh->data_comm, &request);
  if (mpi_rc != MPI_SUCCESS) {
    fail_mpi(sh, sending ? "MPI_Isend" : "MPI_Irecv", mpi_rc);
    return -1;
  }
  place->busy = 1;
  place->round = round;
  slot->requests_outstanding++;
  if (mpimr_future_await_requests(ex, &sh->driver, &place->group, &request, 1) != MPIMR_OK) {
    /* The reactor is out of memory. Test the request from the driver instead: the round must
     * still complete, or the peers would wait for it forever. */
    place->held = request;
    place->group.remaining = 1;
    place->group.error = MPI_SUCCESS;
    sh->held_requests++;
    fail_locally(sh, MPIMR_ERR_NOMEM, "registering a request");
  }
  return 0;
}

/* Tests a request the reactor could not take; marks its place's group done when it is. */
static void test_held(shuffle *sh, peer_request *place) {
  int done = 0;
  int mpi_rc = MPI_Test(&place->held, &done, MPI_STATUS_IGNORE);
  if (mpi_rc != MPI_SUCCESS) {
    /* MPI leaves a request that failed allocated. */
    if (place->held != MPI_REQUEST_NULL) MPI_Request_free(&place->held);
    place->group.error = mpi_rc;
    done = 1;
  }
  if (!done) return;
  place->held = MPI_REQUEST_NULL;
  place->group.remaining = 0;
  sh->held_requests--;
}

/* Frees the window places whose requests have completed; returns how many. */
static int reap_window(shuffle *sh, peer_request *window, const char *call) {
  int reaped = 0;
  for (int i = 0; i < sh->peer_window; i++) {
    peer_request *place = &window[i];
    if (!place->busy) continue;
    if (place->held != MPI_REQUEST_NULL) test_held(sh, place);
    if (place->group.remaining > 0) continue;
    place->busy = 0;
    slot_of(sh, place->round)->requests_outstanding--;
    if (place->group.error != MPI_SUCCESS) fail_mpi(sh, call, place->group.error);
    reaped++;
  }
  return reaped;
}

/* The bytes of `slot`'s round that go to `peer` as a message (not read from this rank's home). */
static int message_bytes_to(const shuffle *sh, const round_slot *slot, int peer) {
  return node_memory_shares_with(&sh->node, peer) ? 0 : slot->send.lengths[peer];
}

/*
 * Posts the next messages of the rounds whose data phase has begun, oldest
 * round first and peers by distance, while the window has room. Every rank
 * orders its sends and its receives by the same key (round, distance), so
 * the message with the smallest key still pending always has both its send
 * and its receive posted: a window of any width cannot deadlock.
 */
static int refill_window(shuffle *sh, mpimr_executor *ex, int sending) {
  peer_request *window = sending ? sh->send_window : sh->recv_window;
  int posted = 0, place = 0;
  for (uint64_t round = sh->oldest_round; round < sh->data_posted_through; round++) {
    round_slot *slot = slot_of(sh, round);
    int *distance = sending ? &slot->next_send_distance : &slot->next_recv_distance;
    for (; *distance < sh->nranks; (*distance)++) {
      int peer =
          sending ? (sh->rank + *distance) % sh->nranks : (sh->rank - *distance + sh->nranks) % sh->nranks;
      int bytes = sending ? message_bytes_to(sh, slot, peer) : slot->recv_counts[peer];
      if (bytes == 0) continue;
      while (place < sh->peer_window && window[place].busy) place++;
      if (place == sh->peer_window) return posted;
      if (post_peer_message(sh, ex, &window[place], sending, round, peer) != 0) return posted;
      posted++;
    }
  }
  return posted;
}

/* Reaps completed messages and posts the next; returns non-zero if anything changed. */
static int pairwise_progress(shuffle *sh, mpimr_executor *ex) {
  int changed = reap_window(sh, sh->recv_window, "MPI_Irecv (round data)");
  changed += reap_window(sh, sh->send_window, "MPI_Isend (round data)");
  if (sh->broken) return changed;
  /* Receives first: a large message's send completes only once its receive is posted. */
  changed += refill_window(sh, ex, 0);
  if (!sh->broken) changed += refill_window(sh, ex, 1);
  /* The local copy comes last: the peers can already be moving their bytes while it runs. */
  if (!sh->broken) changed += copy_own_bytes(sh);
  return changed;
}

static int round_data_done(const shuffle *sh, const round_slot *slot) {
  if (sh->transport == MPIMR_TRANSPORT_ALLTOALLV) return slot->data_group.remaining == 0;
  return slot->next_send_distance >= sh->nranks && slot->next_recv_distance >= sh->nranks &&
         slot->requests_outstanding == 0 && !slot->own_bytes_pending;
}

/*
 * SHARED_MEMORY: where source `s`'s bytes of this round lie, if it need not
 * send them: this rank's own bytes in its own set, or a node peer's in its
 * home. NULL if they come as a message. A header that points outside the
 * peer's home breaks the shuffle.
 */
static const unsigned char *borrow(shuffle *sh, const round_slot *slot, int s) {
  const int32_t *header = &slot->recv_header[HEADER_INTS * s];
  if (s == sh->rank) return slot->send.buffer + slot->send.offsets[s];
  if (!(header[1] & HEADER_SHARED)) return NULL;
  size_t offset = (size_t)(uint32_t)header[2], bytes = (size_t)header[0];
  if (!node_memory_shares_with(&sh->node, s) || header[2] < 0 || offset + bytes > SHARED_SLOT_BYTES) {
    fail_locally(sh, MPIMR_ERR_CORRUPT, "a round header points outside its sender's shared memory");
    sh->broken = 1;
    return NULL;
  }
  size_t slot_index = (size_t)(slot - sh->slots);
  return sh->node.peer[s] + home_offset(sh, slot_index) + offset;
}

/* Reads the headers of round `round`, settles the end if this round decides it, posts the data. */
static void handle_counts(shuffle *sh, mpimr_executor *ex, round_slot *slot, uint64_t round) {
  if (sh->node_local) {
    /* all_sealed() has read every peer's counter with acquire: their headers are in place. */
    size_t slot_index = (size_t)(slot - sh->slots), per_slot = HEADER_INTS * (size_t)sh->nranks;
    for (int s = 0; s < sh->nranks; s++)
      memcpy(&slot->recv_header[HEADER_INTS * s],
             control_of(sh, s)->headers + slot_index * per_slot + HEADER_INTS * (size_t)sh->rank,
             sizeof(int32_t) * HEADER_INTS);
  } else if (slot->counts_group.error != MPI_SUCCESS) {
    fail_mpi(sh, "MPI_Ialltoall (round header)", slot->counts_group.error);
    return;
  }
  /* What the headers say is in the senders' homes was written before they were sent. */
  atomic_thread_fence(memory_order_acquire);
  int all_final = 1, any_error = 0;
  size_t total = 0;
  slot->borrowed_bytes = 0;
  for (int s = 0; s < sh->nranks; s++) {
    const int32_t *header = &slot->recv_header[HEADER_INTS * s];
    int32_t bytes = header[0], flags = header[1];
    all_final &= (flags & HEADER_FINAL) != 0;
    any_error |= (flags & HEADER_ERROR) != 0;
    if (bytes < 0) {
      fail_locally(sh, MPIMR_ERR_CORRUPT, "a round header with a negative size");
      sh->broken = 1;
      return;
    }
    slot->borrowed[s] =
        sh->transport == MPIMR_TRANSPORT_SHARED_MEMORY && bytes > 0 ? borrow(sh, slot, s) : NULL;
    if (sh->broken) return;
    if (slot->borrowed[s]) slot->borrowed_bytes += (size_t)bytes;
    slot->recv_counts[s] = slot->borrowed[s] ? 0 : bytes;
    slot->recv_displs[s] = total > INT_MAX ? 0 : (int)total;
    total += (size_t)slot->recv_counts[s];
  }
  if (total > INT_MAX) {
    /* Skew: every sender's round is within 2 GiB, but their sum for this rank is not. */
    char what[200];
    snprintf(what, sizeof what,
             "round %" PRIu64 " brings this rank %zu bytes as messages, over the 2 GiB a round can "
             "receive (lower the round size, or add a combiner)",
             round, total);
    fail_locally(sh, MPIMR_ERR_TOO_LARGE, what);
    sh->broken = 1;
    return;
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
      fail_locally(sh, MPIMR_ERR_NOMEM, "allocating a receive buffer");
      sh->broken = 1;
      return;
    }
  }
  slot->recv_total = total;
  if (sh->trace) {
    slot->data_posted_at = clock_now();
    trace_span(sh->trace, TRACE_ROUND_HEADER, slot->sealed_at, slot->data_posted_at, round);
  }
  if (uses_windows(sh->transport))
    start_pairwise(slot, sh->transport == MPIMR_TRANSPORT_PAIRWISE);
  else
    post_alltoallv(sh, ex, slot);
  slot->phase = SLOT_DATA;
}

/* Hands one received piece to the job; returns non-zero if the shuffle must stop handing. */
static int hand_over(shuffle *sh, unsigned char *data, size_t length, size_t capacity, int source,
                     int *kept) {
  int rc = sh->receive(sh->receive_context, data, length, capacity, source, kept);
  if (rc != MPIMR_OK) fail_locally(sh, rc, "receiving a round");
  return rc != MPIMR_OK;
}

/*
 * SHARED_MEMORY: the round's readers are done with it once every rank has
 * handed it over, which an MPI_Ibarrier per round (in round order, on the
 * data communicator) tells each sender; only then may the slot's set be
 * refilled.
 */
static void post_release(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  /* This rank's reads of the peers' homes come before the peers may reuse them. */
  atomic_thread_fence(memory_order_release);
  MPI_Request request;
  int mpi_rc = MPI_Ibarrier(sh->data_comm, &request);
  if (mpi_rc != MPI_SUCCESS) {
    fail_mpi(sh, "MPI_Ibarrier (round release)", mpi_rc);
    return;
  }
  await_collective(sh, ex, &slot->release_group, request);
}

/*
 * Hands a received round to the job (unless the job is failing): first the
 * bytes that came as messages (sources in rank order, in a buffer the job
 * may keep), then each source's bytes read in place (borrowed: capacity 0).
 * The slot's set is free at once, or (SHARED_MEMORY) once the release says
 * no peer still reads it.
 */
static void handle_data(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  if (sh->transport == MPIMR_TRANSPORT_ALLTOALLV && slot->data_group.error != MPI_SUCCESS) {
    fail_mpi(sh, "MPI_Ialltoallv (round data)", slot->data_group.error);
    return;
  }
  sh->counters.bytes_received += slot->recv_total + slot->borrowed_bytes;
  double received_at = sh->trace ? clock_now() : 0;
  if (sh->trace) trace_span(sh->trace, TRACE_ROUND_DATA, slot->data_posted_at, received_at, sh->oldest_round);
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
        stop = hand_over(sh, (unsigned char *)slot->borrowed[s], (size_t)slot->recv_header[HEADER_INTS * s],
                         0, s, &ignored);
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
  if (sh->node_local) {
    /* This rank's reads of the peers' homes come before they may see the round handed over. */
    atomic_store_explicit(&own_control(sh)->rounds_handed, sh->oldest_round + 1, memory_order_release);
    slot->phase = SLOT_RELEASE;
    return;
  }
  if (sh->release_by_barrier) {
    post_release(sh, ex, slot);
    slot->phase = SLOT_RELEASE;
    return;
  }
  int rc = send_set_reset(&slot->send);
  if (rc != MPIMR_OK) fail_locally(sh, rc, "resetting a send buffer");
  slot->phase = SLOT_FILLING;
}

/* Frees the slots of received rounds, in round order, once no peer reads them; returns how many. */
static int release_rounds(shuffle *sh) {
  int released = 0;
  while (!sh->broken && sh->released_through < sh->oldest_round) {
    round_slot *slot = slot_of(sh, sh->released_through);
    if (slot->phase == SLOT_RELEASE) {
      if (sh->node_local ? !all_handed(sh, sh->released_through) : slot->release_group.remaining > 0) break;
      if (slot->release_group.error != MPI_SUCCESS) {
        fail_mpi(sh, "MPI_Ibarrier (round release)", slot->release_group.error);
        break;
      }
      /* The peers' reads of this set came before their barrier. */
      atomic_thread_fence(memory_order_acquire);
      int rc = send_set_reset(&slot->send);
      if (rc != MPIMR_OK) fail_locally(sh, rc, "resetting a send buffer");
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
      round_slot *slot = slot_of(sh, sh->data_posted_through);
      if (sh->node_local ? !all_sealed(sh, sh->data_posted_through) : slot->counts_group.remaining > 0) break;
      handle_counts(sh, ex, slot, sh->data_posted_through);
      sh->data_posted_through++;
      progressed = 1;
    }
    if (!sh->broken && uses_windows(sh->transport)) progressed |= pairwise_progress(sh, ex) > 0;
    while (!sh->broken && sh->oldest_round < sh->data_posted_through) {
      round_slot *slot = slot_of(sh, sh->oldest_round);
      if (!round_data_done(sh, slot)) break;
      handle_data(sh, ex, slot);
      sh->oldest_round++;
      progressed = 1;
    }
    progressed |= release_rounds(sh) > 0;
    if (sh->broken) {
      /* Requests still in the reactor are freed with the executor; nothing here can finish them. */
      mpimr_condition_cancel(ex, &sh->peers_moved);
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
      mpimr_condition_cancel(ex, &sh->peers_moved);
      self->result = shuffle_status(sh);
      return MPIMR_READY;
    }
    if (!progressed) {
      /* Requests the reactor could not take are tested here, so the driver keeps itself awake. */
      if (sh->held_requests > 0) mpimr_future_wake(ex, self);
      /* Node-local: no request will wake the driver; the reactor tests the peers' counters. */
      if (sh->node_local) mpimr_future_await_condition(ex, self, &sh->peers_moved);
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
