/*
 * shuffle/transport_shared_memory.c — MPIMR_TRANSPORT_SHARED_MEMORY: ranks
 * on one node move no bytes at all.
 *
 * Each rank's send sets live in its shared segment (node_memory.h), which
 * its node's peers map; the header tells each receiver where its bytes lie
 * (SHUFFLE_HEADER_SHARED and an offset), and the receiver hands them to the
 * job where they lie (read_in_place). Bytes for ranks on other nodes (or in
 * other groups of a node: ranks_per_node), or on a node where sharing could
 * not be set up, go through the pairwise windows (transport_pairwise.c). A
 * rank's own bytes are read from its set, never copied.
 *
 * Since receivers read the senders' memory, a sender may refill a set only
 * when every rank has handed that round over. With every rank sharing
 * (node-local), rounds need no MPI at all: headers and two counters per
 * rank sit in a control block at the start of its segment. Otherwise the
 * headers go by MPI and, if any rank reads another's memory, each rank
 * posts an MPI_Ibarrier per round (in round order, on the data
 * communicator) once it has handed it over; a slot is free when its round's
 * barrier completes.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mpimr/error.h"
#include "shuffle/transport.h"
#include "util/pages.h"

/* Each slot's home in the shared segment: room for a send set of 2 GiB, twice the largest round
 * size with room for its overrun. Only the pages written take memory; address space is cheap but
 * not free (every rank maps each node peer's segment, and some sites limit it with ulimit -v). */
static const size_t SHARED_SLOT_BYTES = (size_t)1 << 31;

/*
 * Node-local: the start of each rank's segment, written only by its owner
 * and read by its peers. A rank seals round r by writing its headers for
 * r's slot and then rounds_sealed = r + 1; a receiver reads its header from
 * each peer once all have sealed r, and when it has handed r over it sets
 * rounds_handed = r + 1; a sender refills r's slot once every peer's
 * rounds_handed has passed r. The counters sit on cache lines of their own.
 */
typedef struct control_block {
  _Alignas(128) _Atomic uint64_t rounds_sealed;
  _Alignas(128) _Atomic uint64_t rounds_handed;
  _Alignas(128) int64_t headers[]; /* [slot][receiver][SHUFFLE_HEADER_INTS] */
} control_block;

typedef struct shared_memory_state {
  pairwise_windows pairwise; /* First (transport.h): for the bytes of ranks this rank does not share with. */
  size_t control_bytes;      /* The control block before the homes in each segment. */
  int node_local;            /* Every rank shares with every other: rounds go without MPI. */
  int release_by_barrier;    /* Otherwise, if some rank reads another's memory. */
  mpimr_condition peers_moved; /* Node-local: wakes the driver when a peer seals or hands over. */
} shared_memory_state;
_Static_assert(offsetof(shared_memory_state, pairwise) == 0,
               "the pairwise operations find their windows first");

static shared_memory_state *state_of(const shuffle *sh) { return sh->transport_state; }

static const control_block *control_of(const shuffle *sh, int rank) {
  return (const control_block *)sh->node.peer[rank];
}

static control_block *own_control(shuffle *sh) { return (control_block *)sh->node.own; }

/* Where slot `slot_index`'s home starts in a segment. */
static size_t home_offset(const shuffle *sh, size_t slot_index) {
  return state_of(sh)->control_bytes + slot_index * SHARED_SLOT_BYTES;
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

SHUFFLE_COLD static int create(shuffle *sh, const shuffle_options *options) {
  size_t headers = sizeof(int64_t) * SHUFFLE_HEADER_INTS * (size_t)sh->nranks * (size_t)sh->nslots;
  /* Whole pages, so that every home starts on a page (send_set_init_in, madvise). */
  size_t control_bytes = pages_round_up(sizeof(control_block) + headers);
  size_t segment = control_bytes + (size_t)sh->nslots * SHARED_SLOT_BYTES;
  int rc = node_memory_create(&sh->node, sh->control_comm, segment, options->ranks_per_node);
  /* Rounds go without MPI if every rank shares with every other; they need a release if any
   * rank reads another's memory. Every rank takes part, even one whose set-up failed. */
  int mine[2] = {sh->node.shared_peers == sh->nranks, -(sh->node.shared_peers > 1)}, all[2] = {0, 0};
  if (MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MIN, sh->control_comm) != MPI_SUCCESS && rc == MPIMR_OK)
    rc = MPIMR_ERR_MPI;
  if (rc != MPIMR_OK) return rc;
  /* The collective steps are behind: what follows may fail on this rank alone. */
  shared_memory_state *state = calloc(1, sizeof *state);
  sh->transport_state = state;
  if (state == NULL) return MPIMR_ERR_NOMEM;
  state->control_bytes = control_bytes;
  state->node_local = all[0] && !options->rounds_by_mpi;
  state->release_by_barrier = !state->node_local && all[1] < 0;
  state->peers_moved.ready = peers_moved;
  state->peers_moved.context = sh;
  return pairwise_windows_init(sh, &state->pairwise, options->peer_window);
}

SHUFFLE_COLD static void destroy(shuffle *sh) {
  shared_memory_state *state = state_of(sh);
  if (state == NULL) return;
  pairwise_windows_destroy(&state->pairwise);
  free(state);
}

SHUFFLE_COLD static unsigned char *send_home(shuffle *sh, int slot_index, size_t *home_bytes) {
  *home_bytes = SHARED_SLOT_BYTES;
  return sh->node.own ? sh->node.own + home_offset(sh, (size_t)slot_index) : NULL;
}

/* Node-local: publishes the round's headers in this rank's control block, then the round itself. */
static int publish_headers(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  if (!state_of(sh)->node_local) return shuffle_post_headers(sh, ex, slot);
  size_t per_slot = SHUFFLE_HEADER_INTS * (size_t)sh->nranks;
  control_block *control = own_control(sh);
  memcpy(control->headers + (size_t)shuffle_slot_index(sh, slot) * per_slot, slot->send_header,
         sizeof(int64_t) * per_slot);
  /* The bytes and headers are written before any peer can see the round sealed. */
  atomic_store_explicit(&control->rounds_sealed, sh->next_round + 1, memory_order_release);
  mpimr_future_wake(ex, &sh->driver);
  return MPIMR_OK;
}

/* Node-local: once every rank has sealed `round`, copies this rank's header from each one's block. */
static int take_headers(shuffle *sh, round_slot *slot, uint64_t round) {
  if (!state_of(sh)->node_local) return shuffle_take_headers(sh, slot, round);
  if (!all_sealed(sh, round)) return 0;
  /* all_sealed() has read every peer's counter with acquire: their headers are in place. */
  size_t slot_index = (size_t)shuffle_slot_index(sh, slot),
         per_slot = SHUFFLE_HEADER_INTS * (size_t)sh->nranks;
  for (int s = 0; s < sh->nranks; s++)
    memcpy(&slot->recv_header[SHUFFLE_HEADER_INTS * s],
           control_of(sh, s)->headers + slot_index * per_slot + SHUFFLE_HEADER_INTS * (size_t)sh->rank,
           sizeof(int64_t) * SHUFFLE_HEADER_INTS);
  return 1;
}

/*
 * Where source `s`'s bytes of this round lie, if it need not send them:
 * this rank's own bytes in its own set, or a node peer's in its home. NULL
 * if they come as a message. A header that points outside the peer's home
 * breaks the shuffle.
 */
static const unsigned char *read_in_place(shuffle *sh, const round_slot *slot, int s) {
  const int64_t *header = &slot->recv_header[SHUFFLE_HEADER_INTS * s];
  if (s == sh->rank) return slot->send.buffer + slot->send.offsets[s];
  if (!(header[1] & SHUFFLE_HEADER_SHARED)) return NULL;
  size_t offset = (size_t)header[2], bytes = (size_t)header[0];
  if (!node_memory_shares_with(&sh->node, s) || header[2] < 0 || header[0] < 0 ||
      offset > SHARED_SLOT_BYTES || bytes > SHARED_SLOT_BYTES - offset) {
    shuffle_fail_locally(sh, MPIMR_ERR_CORRUPT, "a round header points outside its sender's shared memory");
    sh->broken = 1;
    return NULL;
  }
  return sh->node.peer[s] + home_offset(sh, (size_t)shuffle_slot_index(sh, slot)) + offset;
}

static void post_round(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  (void)ex;
  /* The rank's own bytes are read from its send set (read_in_place), not copied. With every peer
   * reading this rank's memory and every source read in place, the round moves no message. */
  int messages = sh->node.shared_peers < sh->nranks || slot->recv_total > 0;
  pairwise_start_round(sh, slot, 0, messages);
}

/*
 * The round's readers are done with it once every rank has handed it over:
 * node-local, every rank's rounds_handed says so; otherwise an MPI_Ibarrier
 * per round (in round order, on the data communicator) tells each sender.
 * Only then may the slot's set be refilled.
 */
static int release(shuffle *sh, mpimr_executor *ex, round_slot *slot, uint64_t round) {
  shared_memory_state *state = state_of(sh);
  if (state->node_local) {
    /* This rank's reads of the peers' homes come before they may see the round handed over. */
    atomic_store_explicit(&own_control(sh)->rounds_handed, round + 1, memory_order_release);
    return 1;
  }
  if (!state->release_by_barrier) return 0;
  /* This rank's reads of the peers' homes come before the peers may reuse them. */
  atomic_thread_fence(memory_order_release);
  MPI_Request request;
  int mpi_rc = MPI_Ibarrier(sh->data_comm, &request);
  if (mpi_rc != MPI_SUCCESS) {
    shuffle_fail_mpi(sh, "MPI_Ibarrier (round release)", mpi_rc);
    return 1;
  }
  shuffle_await_collective(sh, ex, &slot->transport_group, request);
  return 1;
}

static int released(shuffle *sh, round_slot *slot, uint64_t round) {
  const mpimr_request_group *group = &slot->transport_group;
  if (state_of(sh)->node_local ? !all_handed(sh, round) : group->remaining > 0) return 0;
  if (group->error != MPI_SUCCESS) {
    shuffle_fail_mpi(sh, "MPI_Ibarrier (round release)", group->error);
    return 1;
  }
  /* The peers' reads of this set came before their barrier. */
  atomic_thread_fence(memory_order_acquire);
  return 1;
}

static void idle(shuffle *sh, mpimr_executor *ex) {
  shared_memory_state *state = state_of(sh);
  pairwise_idle(sh, ex);
  /* Node-local: no request will wake the driver; the reactor tests the peers' counters. */
  if (state->node_local) mpimr_future_await_condition(ex, &sh->driver, &state->peers_moved);
}

static void stop(shuffle *sh, mpimr_executor *ex) { mpimr_condition_cancel(ex, &state_of(sh)->peers_moved); }

/* clang-format off */
const shuffle_transport_ops shared_memory_transport = {
    .name = "shared-memory", .create = create, .destroy = destroy, .send_home = send_home,
    .publish_headers = publish_headers, .take_headers = take_headers, .read_in_place = read_in_place,
    .post_round = post_round, .progress = pairwise_progress, .round_done = pairwise_round_done,
    .release = release, .released = released, .idle = idle, .stop = stop};
/* clang-format on */
