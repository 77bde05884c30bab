/*
 * shuffle/transport.h — how a round's bytes travel: the interface between
 * the round protocol (shuffle.c) and its transports (transport_*.c).
 *
 * The protocol owns the rounds: the slots with their send sets, headers and
 * receive buffers, the FINAL/ERROR agreement, the hand-over to the job, the
 * counters and the first error (shuffle.h has its rules). A transport moves
 * the bytes of a round whose headers every rank has, and may take over two
 * steps the protocol otherwise does by MPI: the header exchange (the
 * default: one MPI_Ialltoall per round on the control communicator) and the
 * freeing of a slot after its round is handed over (the default: at once).
 * The shared-memory transport does both in memory when its whole
 * communicator shares one node.
 *
 * A transport is a table of operations, looked up once per shuffle by its
 * mpimr_transport value (SHUFFLE_TRANSPORTS, below). The protocol calls them
 * per round or once per pass of the driver's loop, never per pair. For round
 * r in slot S, in this order:
 *   publish_headers(S)  when r is sealed (S's send set and send_header are
 *                       written); it returns an mpimr status;
 *   take_headers(S, r)  on each driver pass, rounds in order, until non-zero:
 *                       then S's recv_header holds every source's header;
 *   read_in_place(S, s) per source s with bytes in r: where its bytes can be
 *                       read where they lie, or NULL if they come as a message;
 *   post_round(S)       once S's recv_buffer is sized: starts moving r's bytes;
 *   progress()          once per driver pass while some round's data is in
 *                       flight (posted, not yet done), for all such rounds;
 *   round_done(S)       rounds in order, until non-zero;
 *   release(S, r)       after r is handed to the job: 0 if S's send set may be
 *                       refilled now, non-zero if the protocol must wait for
 *   released(S, r)      rounds in order, until non-zero;
 *   idle()              when a pass changed nothing and the driver will wait;
 *   stop()              when the driver is READY (the shuffle ended or broke).
 * create() runs once in shuffle_create(), destroy() once in shuffle_free().
 * post_round and round_done are required, and released with release; any
 * other operation may be NULL, which means the default said at its field.
 *
 * What every transport keeps:
 *  - Its own MPI calls use sh->data_comm, whose collectives and messages
 *    every rank posts in round order; sh->control_comm is the header
 *    exchange's. Point-to-point messages carry the round modulo
 *    SHUFFLE_TAG_CYCLE as their tag, so rounds in flight at once never
 *    match each other's.
 *  - Its requests go to the reactor with the driver as owner
 *    (mpimr_future_await_requests(ex, &sh->driver, ...)), so that a
 *    completion wakes the driver; any other wait it arranges in `idle`.
 *  - It reports a failure with shuffle_fail_mpi() (an MPI call failed: the
 *    shuffle is broken and out of step) or shuffle_fail_locally() (plus
 *    sh->broken = 1 if the round cannot complete); it returns no error of its
 *    own to the job. Once sh->broken is set the driver calls only `stop`,
 *    and shuffle_free() `destroy`, which must then cope with requests still
 *    pending.
 *  - Buffers are the protocol's. S's send set (for each peer d,
 *    send.lengths[d] bytes at send.offsets[d], size_t) stays put from
 *    publish_headers until S is free; the transport writes only S's
 *    recv_buffer, recv_counts[s] bytes at recv_displs[s] for each source s,
 *    between post_round and round_done.
 *  - No MPI call may count or displace more than sh->message_limit bytes
 *    (at most INT_MAX): a larger block goes as several messages or as a
 *    derived datatype. A round is bounded by memory, not by MPI's ints.
 *  - Its own state hangs off sh->transport_state, made in create and freed
 *    in destroy; per round it has S's transport_group and pairwise (any
 *    more would go in arrays indexed by shuffle_slot_index()).
 *  - It writes none of the protocol's fields but those its operations name;
 *    it may read them all (struct shuffle's round counters say which rounds
 *    are in which step).
 *
 * Adding a transport is one new file, which defines its table, and one line
 * in SHUFFLE_TRANSPORTS (below); besides, as for any file and any value, its
 * source line in src/CMakeLists.txt and its mpimr_transport value in
 * include/mpimr/transport.h.
 */
#ifndef MPIMR_SHUFFLE_TRANSPORT_H
#define MPIMR_SHUFFLE_TRANSPORT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "mpimr/future.h"
#include "shuffle/node_memory.h"
#include "shuffle/send_set.h"
#include "shuffle/shuffle.h"
#include "util/trace.h"

/*
 * A round header per peer: [bytes, flags, offset], 64-bit. With SHUFFLE_HEADER_SHARED the bytes are
 * not sent: they lie at `offset` in the sender's home for the round's slot, for the receiver to
 * read. SHUFFLE_HEADER_LARGE: the sender's set does not fit one MPI call's int counts under the
 * shuffle's message limit (shuffle_set_is_large()); every rank sees every sender's flags, so all
 * agree, without another message, that the round needs the large path (transport_alltoallv.c).
 */
enum { SHUFFLE_HEADER_INTS = 3 };
enum {
  SHUFFLE_HEADER_FINAL = 1,
  SHUFFLE_HEADER_ERROR = 2,
  SHUFFLE_HEADER_SHARED = 4,
  SHUFFLE_HEADER_LARGE = 8
};

/* A round's progress through the pairwise windows (transport_pairwise.c, below). */
typedef struct pairwise_round {
  int next_send_distance; /* The next peer distance to post a send for (1..nranks; nranks: all posted). */
  int next_recv_distance;
  /* Bytes already posted to / from the peer at that distance: a block over the message limit goes
   * as several messages, in order (MPI keeps the order of messages with one source and tag). */
  size_t send_posted;
  size_t recv_posted;
  int requests_outstanding; /* This round's requests still in the windows. */
  int own_bytes_pending;    /* The rank's bytes to itself are still to be copied. */
} pairwise_round;

/* One of the depth + 1 rounds a shuffle holds: the one being filled, or one in flight. */
typedef struct round_slot {
  send_set send;
  int64_t *send_header; /* SHUFFLE_HEADER_INTS per peer */
  int64_t *recv_header;
  /* Per source, where its bytes of this round lie, to be read in place (NULL: sent as a
   * message, or none): what read_in_place() said. */
  const unsigned char **borrowed;
  size_t borrowed_bytes;
  size_t *recv_counts;        /* Per source: the bytes that come as messages, ... */
  size_t *recv_displs;        /* ... and where they go in recv_buffer. */
  unsigned char *recv_buffer; /* Only between the headers and the hand-over: see spare_buffers. */
  size_t recv_capacity;
  size_t recv_total;
  mpimr_request_group counts_group; /* The MPI header exchange's one request. */
  /* The transport's, kept with the round for locality: the request group of a collective of its
   * own (alltoallv: the data exchange; shared memory: the release), and the progress of the
   * pairwise windows through the round. */
  mpimr_request_group transport_group;
  pairwise_round pairwise;
  int phase;
  double sealed_at; /* for the trace */
  double data_posted_at;
} round_slot;

typedef struct shuffle_transport_ops shuffle_transport_ops;

struct shuffle {
  mpimr_future driver; /* First, so the driver's poll function finds its shuffle. */
  const shuffle_transport_ops *ops;
  void *transport_state; /* The transport's own (create/destroy). */
  MPI_Comm control_comm;
  MPI_Comm data_comm;
  int rank;
  int nranks;
  int depth;
  int nslots;
  round_slot *slots;
  mpimr_transport transport; /* Never AUTO. */
  /* The memory this rank shares with its node's ranks, if the transport set it up (create):
   * a round's header marks the bytes for a rank that maps this rank's memory SHARED. Zeroed
   * otherwise (no rank shares). shuffle_free() unmaps it after the slots, whose sets live in it. */
  node_memory node;
  int peer_window; /* Reported by shuffle_peer_window(): set by a transport with a window. */
  /* The most bytes one message (one MPI call's count or displacement) carries: the least any rank
   * asked for (shuffle_create), at most INT_MAX. Larger blocks go in pieces of this size. */
  size_t message_limit;
  /* Receive buffers between rounds, a stack: a round takes the one most recently given back,
   * whose bytes are likeliest still in cache (the receiver has just read them). */
  unsigned char **spare_buffers;
  size_t *spare_capacities;
  int spare_count;
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
  int broken; /* The shuffle stopped mid-round: the protocol cannot stay in step any more. */
  mpimr_future *progress_waiter;
  shuffle_receive_fn receive;
  void *receive_context;
  shuffle_counters counters;
  trace *trace;
  /* What it was created with, for shuffle_fits(). */
  size_t round_bytes;
  shuffle_options options;
  char detail[256];
};

/*
 * Marks set-up, tear-down and failure paths, which GCC then keeps apart from
 * the code a round runs: a round after a large fill has evicted the TLB pays
 * a page walk for every page of code it touches.
 */
#define SHUFFLE_COLD __attribute__((cold))

static inline round_slot *shuffle_slot_of(const shuffle *sh, uint64_t round) {
  return &sh->slots[round % (uint64_t)sh->nslots];
}

static inline int shuffle_slot_index(const shuffle *sh, const round_slot *slot) {
  return (int)(slot - sh->slots);
}

struct shuffle_transport_ops {
  /** As mpimr_transport_name() gives it. */
  const char *name;
  /**
   * Sets the transport up; may set sh->transport_state, sh->node and
   * sh->peer_window. Runs after the communicators and the protocol's sizes
   * (rank, nranks, depth, nslots) and before the slots. Collective over
   * sh->control_comm: every rank takes every collective step, even after a
   * local failure. Returns an mpimr status; on failure shuffle_create()
   * calls destroy. NULL: nothing to set up.
   */
  int (*create)(shuffle *sh, const shuffle_options *options);
  /** Frees what create made, however far it got. Local. NULL: nothing to free. */
  void (*destroy)(shuffle *sh);
  /**
   * Where slot `slot_index`'s send set lives (send_set_init_in()), and in
   * `*home_bytes` how long that home is; NULL for the heap. NULL: the heap.
   */
  unsigned char *(*send_home)(shuffle *sh, int slot_index, size_t *home_bytes);
  /**
   * Sends `slot`'s headers (send_header, SHUFFLE_HEADER_INTS per peer) to
   * every rank, and sees that the driver is woken once every rank's have
   * arrived (by a request, or in idle()). Runs in shuffle_seal(), from the
   * map future or the driver. Returns an mpimr status. NULL:
   * shuffle_post_headers().
   */
  int (*publish_headers)(shuffle *sh, mpimr_executor *ex, round_slot *slot);
  /**
   * Non-zero once `round`'s headers from every rank are in `slot`'s
   * recv_header, or its exchange failed (then the shuffle is broken).
   * NULL: shuffle_take_headers().
   */
  int (*take_headers)(shuffle *sh, round_slot *slot, uint64_t round);
  /**
   * Where `source`'s bytes of `slot`'s round (recv_header says how many,
   * more than 0) can be read where they lie, valid until the round is
   * released; NULL if they come as a message. A header it cannot honour
   * breaks the shuffle (then NULL). NULL: every byte comes as a message.
   */
  const unsigned char *(*read_in_place)(shuffle *sh, const round_slot *slot, int source);
  /** Starts the data exchange of `slot`'s round. Required. */
  void (*post_round)(shuffle *sh, mpimr_executor *ex, round_slot *slot);
  /**
   * Moves every round whose data is posted and not yet done a step on
   * (oldest first); called only while there is one. Returns non-zero if
   * anything changed. NULL: the reactor does it all.
   */
  int (*progress)(shuffle *sh, mpimr_executor *ex);
  /**
   * Non-zero once `slot`'s round's bytes have all arrived, or its exchange
   * failed (then the shuffle is broken). Required.
   */
  int (*round_done)(shuffle *sh, round_slot *slot);
  /**
   * `slot`'s round was handed to the job: non-zero if a peer may still read
   * its send set, so the protocol must wait for released(). NULL: free at once.
   */
  int (*release)(shuffle *sh, mpimr_executor *ex, round_slot *slot, uint64_t round);
  /**
   * Non-zero once no peer reads `slot`'s send set any more, or the release
   * failed (then the shuffle is broken). Only after release() said to wait;
   * required with release.
   */
  int (*released)(shuffle *sh, round_slot *slot, uint64_t round);
  /**
   * The driver found nothing to do and returns PENDING: arrange a wake that
   * the reactor's requests will not give. NULL: nothing to arrange.
   */
  void (*idle)(shuffle *sh, mpimr_executor *ex);
  /** The driver is READY: drop any wake idle() arranged. NULL: nothing to drop. */
  void (*stop)(shuffle *sh, mpimr_executor *ex);
};

/*
 * The protocol's services to its transports (shuffle.c).
 */

/** Fails the shuffle with `status` (the first error wins); `what` goes into the detail. */
void shuffle_fail_locally(shuffle *sh, int status, const char *what);

/** An MPI call failed: the shuffle is broken (out of step) and fails with MPIMR_ERR_MPI. */
void shuffle_fail_mpi(shuffle *sh, const char *call, int mpi_error);

/**
 * Hands a nonblocking collective's request to the reactor, with the driver
 * as owner of `group`. If the reactor cannot take it, waits for it (a
 * collective cannot be abandoned) and fails the shuffle.
 */
void shuffle_await_collective(shuffle *sh, mpimr_executor *ex, mpimr_request_group *group,
                              MPI_Request request);

/**
 * Non-zero if `set` cannot go as one MPI_Ialltoallv under `message_limit`: a region ends past the
 * limit (counts and displacements are int), or its total is over limit / nranks (then some
 * receiver's round could pass the limit). The header's SHUFFLE_HEADER_LARGE.
 */
static inline int shuffle_set_is_large(const send_set *set, size_t message_limit) {
  if (set->total > message_limit / (size_t)set->nranks) return 1;
  for (int d = 0; d < set->nranks; d++)
    if (set->lengths[d] > 0 && set->offsets[d] + set->lengths[d] > message_limit) return 1;
  return 0;
}

/** The headers by MPI: posts `slot`'s MPI_Ialltoall on the control communicator. */
int shuffle_post_headers(shuffle *sh, mpimr_executor *ex, round_slot *slot);

/** The headers by MPI: non-zero once `slot`'s MPI_Ialltoall has completed (or failed). */
int shuffle_take_headers(shuffle *sh, round_slot *slot, uint64_t round);

/*
 * The pairwise windows (transport_pairwise.c), which the shared-memory
 * transport uses for the bytes of peers it does not share memory with.
 * Bytes for a peer that maps this rank's memory (sh->node) are not sent.
 * A transport that uses them keeps its pairwise_windows at the start of its
 * state (sh->transport_state), so that the operations below serve it as
 * they are.
 */

typedef struct pairwise_windows {
  struct peer_request *send_window; /* `places` places each */
  struct peer_request *recv_window;
  int places;
  int held_requests; /* Window requests the driver tests itself (the reactor was out of memory). */
} pairwise_windows;

/** Makes the windows: `requested` places each (0: the default), at most what depth rounds can use. */
int pairwise_windows_init(shuffle *sh, pairwise_windows *w, int requested);

/** Frees the windows; requests still held belong to a broken shuffle and are freed. */
void pairwise_windows_destroy(pairwise_windows *w);

/**
 * For post_round: `slot`'s messages go out from the next progress, and its own bytes are copied
 * if `copy_own`. A round that moves no message either way (`messages` 0) is done at once.
 */
void pairwise_start_round(const shuffle *sh, round_slot *slot, int copy_own, int messages);

/** progress: reaps completed messages, posts the next, copies own bytes. */
int pairwise_progress(shuffle *sh, mpimr_executor *ex);

/** round_done: every message of `slot`'s round is through and its own bytes are copied. */
int pairwise_round_done(shuffle *sh, round_slot *slot);

/** idle: keeps the driver awake while it tests requests the reactor could not take. */
void pairwise_idle(shuffle *sh, mpimr_executor *ex);

/*
 * The transports, by mpimr_transport value: X(value, table). shuffle.c
 * builds the lookup from this list; each table is defined in its own file.
 */
#define SHUFFLE_TRANSPORTS(X)                       \
  X(MPIMR_TRANSPORT_ALLTOALLV, alltoallv_transport) \
  X(MPIMR_TRANSPORT_PAIRWISE, pairwise_transport)   \
  X(MPIMR_TRANSPORT_SHARED_MEMORY, shared_memory_transport)

#define SHUFFLE_DECLARE_TRANSPORT(value, table) extern const shuffle_transport_ops table;
SHUFFLE_TRANSPORTS(SHUFFLE_DECLARE_TRANSPORT)
#undef SHUFFLE_DECLARE_TRANSPORT

#endif
