/*
 * shuffle/shuffle.h — the round protocol.
 *
 * Pairs are moved in rounds. A round is two nonblocking collectives on two
 * duplicated communicators: an MPI_Ialltoall of a header per peer (byte
 * count and flags) on the control communicator, then an MPI_Ialltoallv of
 * the bytes on the data communicator (or point-to-point messages: see the
 * transports below). Keeping them on separate communicators lets round
 * r+1's header exchange be posted while round r's data is still in flight
 * without the collectives' order differing between ranks; data exchanges
 * are posted strictly in round order.
 *
 * Up to `depth` rounds are in flight while map work fills the next send set
 * (depth + 1 sets in all). Each header carries FINAL once its sender has no
 * more map output and ERROR once it has failed. All ranks see the same
 * headers, so they agree on the end: the first round whose headers are all
 * FINAL is the last; if any header carries ERROR at round r, every rank
 * sends empty rounds up to r + depth - 1 (as far as any rank can already
 * have posted) and the shuffle ends with MPIMR_ERR_REMOTE (or the rank's own
 * error). A rank that finishes mapping early keeps sending empty FINAL
 * rounds, one at a time, until the end is agreed.
 *
 * The data exchange has three transports (shuffle_options), each in a file
 * of its own behind the operations table of transport.h; shuffle.c holds
 * the protocol and calls them:
 *  - MPIMR_TRANSPORT_ALLTOALLV (transport_alltoallv.c): one MPI_Ialltoallv
 *    per round, as above;
 *  - MPIMR_TRANSPORT_PAIRWISE (transport_pairwise.c): MPI_Isend/MPI_Irecv
 *    to and from only the peers the headers say have bytes, at most
 *    `peer_window` sends and `peer_window` receives outstanding over all
 *    rounds in flight. Sends go to rank+1, rank+2, ... (mod P) and receives
 *    come from rank-1, rank-2, ..., so at each step every rank targets a
 *    different peer; a round's own bytes are copied locally once its first
 *    messages are posted (so the peers move theirs meanwhile). The window is
 *    refilled by the driver each time one of its requests completes (every
 *    request has its own request group, so the reactor wakes the driver per
 *    completion). Messages carry the round number modulo SHUFFLE_TAG_CYCLE
 *    as their tag, so rounds in flight at once never match each other's
 *    messages.
 *  - MPIMR_TRANSPORT_SHARED_MEMORY (transport_shared_memory.c): ranks on
 *    one node move no bytes at all. Each rank's send sets live in its
 *    shared segment (node_memory.h), which its node's peers map; the header
 *    tells each receiver where its bytes lie (SHUFFLE_HEADER_SHARED and an
 *    offset), and the receiver hands them to the job where they lie. Bytes
 *    for ranks on other nodes (or in other groups of a node:
 *    ranks_per_node), or on a node where sharing could not be set up, go as
 *    pairwise messages, as above. A rank's own bytes are read from its set,
 *    never copied. Since receivers read the senders' memory, a sender may
 *    refill a set only when every rank has handed that round over: each
 *    rank posts an MPI_Ibarrier per round (in round order) once it has, and
 *    a slot is free when its round's barrier completes. Rounds in flight
 *    count until then. With every rank on one node, the headers and the
 *    release go through the shared segments instead, without MPI.
 * All keep every rule above; only how the bytes (and, node-local, the
 * headers) travel differs.
 *
 * A receive buffer the receive function does not keep goes back to a stack
 * that the next round takes from first, so a round lands in the buffer the
 * receiver has just read, which is likeliest still in cache.
 *
 * All of this is driven by one future (shuffle_driver()) on the job's
 * executor; the map future fills sets and seals rounds between records.
 */
#ifndef MPIMR_SHUFFLE_SHUFFLE_H
#define MPIMR_SHUFFLE_SHUFFLE_H

#include <mpi.h>

#include "mpimr/future.h"
#include "mpimr/transport.h"
#include "shuffle/node_memory.h"
#include "shuffle/send_set.h"
#include "util/trace.h"

/** The `source` of a piece that holds several sources' bytes (in rank order). */
#define SHUFFLE_SOURCE_SEVERAL (-1)

/**
 * Receives a piece of a round: whole pairs, from rank `source` or from
 * several sources. A round comes as at most one piece of the bytes that
 * came as messages (SHUFFLE_SOURCE_SEVERAL) in a malloc'd buffer of
 * `capacity` bytes, then a piece per source whose bytes were read in place
 * (SHARED_MEMORY). Set `*kept` to keep a malloc'd buffer (it is then the
 * receiver's to free; the shuffle allocates a new one). A piece with
 * `capacity` 0 is borrowed: it is read-only, valid only during the call,
 * and cannot be kept. Returns an mpimr status.
 */
typedef int (*shuffle_receive_fn)(void *context, unsigned char *data, size_t length, size_t capacity,
                                  int source, int *kept);

typedef struct shuffle shuffle;

/** Figures the shuffle keeps. */
typedef struct shuffle_counters {
  uint64_t rounds;
  uint64_t bytes_sent;
  uint64_t pairs_sent;
  uint64_t bytes_received;
} shuffle_counters;

/** Pairwise messages' tags are the round number modulo this (MPI_TAG_UB is at least 32767). */
#define SHUFFLE_TAG_CYCLE 32768

/** The pairwise window when none is given: enough peers to keep a node's links busy. */
#define SHUFFLE_DEFAULT_PEER_WINDOW 8

/** How a shuffle moves its bytes; every rank must pass the same. */
typedef struct shuffle_options {
  mpimr_transport transport; /**< MPIMR_TRANSPORT_AUTO picks the default (see shuffle.c). */
  int peer_window;           /**< Pairwise: requests of each direction outstanding; 0 = default. */
  /**
   * SHARED_MEMORY: send round headers and releases by MPI (as when ranks
   * span nodes) even if every rank shares one node. For benchmarks.
   */
  int rounds_by_mpi;
  /**
   * SHARED_MEMORY: at most this many consecutive ranks of a node read each
   * other's memory (node_memory_create's group); 0 = the whole node. Below
   * the node's size, rounds go as between nodes (MPI headers, messages to
   * the other groups, a release barrier): a multi-node layout on one node.
   */
  int ranks_per_node;
  /**
   * The most bytes one MPI message (or one count or displacement of a
   * collective) may carry; larger blocks go in pieces. 0 = INT_MAX, MPI's
   * own limit. Every rank's limit is agreed (the least) at creation. Lower
   * only to test the large path at small sizes (MPIMR_MESSAGE_LIMIT).
   */
  size_t message_limit;
} shuffle_options;

/**
 * Reads the test knob MPIMR_MESSAGE_LIMIT (bytes, 1..2147483647) into
 * `*limit`: 0 if it is unset. Returns MPIMR_OK, or MPIMR_ERR_INVAL with
 * `why` saying what is wrong with its value.
 */
int shuffle_message_limit_from_env(size_t *limit, char *why, size_t why_size);

/**
 * Creates a shuffle over `comm` (duplicated twice, errors returned). Collective.
 * `options` may be NULL (the defaults). Returns MPIMR_OK, NOMEM, MPI, INVAL
 * (bad depth, transport or window) or TOO_LARGE (round size over 1 GiB).
 */
int shuffle_create(shuffle **out, MPI_Comm comm, int depth, size_t round_bytes,
                   const shuffle_options *options, shuffle_receive_fn receive, void *context);

/** Frees the shuffle (not collective; the driver must be done or never spawned). */
void shuffle_free(shuffle *sh);

/**
 * Non-zero if `sh` was created with these settings (as shuffle_create() takes
 * them), so it can serve another run that asks for them.
 */
int shuffle_fits(const shuffle *sh, int depth, size_t round_bytes, const shuffle_options *options);

/**
 * Non-zero if the driver ended the protocol without error: every round sent,
 * received and released, no request outstanding. Only such a shuffle may be
 * rearmed.
 */
int shuffle_ended_cleanly(const shuffle *sh);

/**
 * Readies a shuffle that ended cleanly for another run, with a new receive
 * function: its communicators, transport set-up, shared segments and round
 * buffers stay; its counters start again from zero. Every rank of the
 * communicator must rearm it for the same run (the protocol goes on with the
 * next round number). Spawn shuffle_driver() on the new run's executor.
 */
void shuffle_rearm(shuffle *sh, shuffle_receive_fn receive, void *context);

/** The driver future: spawn it; it is READY when the end of the shuffle is agreed. */
mpimr_future *shuffle_driver(shuffle *sh);

/** The set map output goes into now. */
send_set *shuffle_fill_set(shuffle *sh);

/** Non-zero if a round can be sealed now (fewer than `depth` in flight). */
int shuffle_can_seal(const shuffle *sh);

/**
 * Sends the fill set as the next round and makes the next set current.
 * Only when shuffle_can_seal(). Returns an mpimr status.
 */
int shuffle_seal(shuffle *sh, mpimr_executor *ex);

/** Wakes `waiter` when a round completes (so a set frees up). */
void shuffle_wake_on_progress(shuffle *sh, mpimr_future *waiter);

/**
 * Map is over on this rank: `status` is MPIMR_OK or its error. The driver
 * sends what is left in the fill set and takes the protocol to its end.
 */
void shuffle_finish_map(shuffle *sh, mpimr_executor *ex, int status);

/**
 * The first error this rank saw (its own, or MPIMR_ERR_REMOTE), or MPIMR_OK.
 * MPIMR_ERR_MPI whenever the shuffle stopped in the middle of a round's
 * exchange, whatever the cause (an MPI call failed; a round too large to
 * receive, no memory for its receive buffer, a corrupt round header): the
 * other ranks may then be waiting for messages this rank will never take, so
 * the job must not enter another collective (shuffle_error_detail() says why).
 */
int shuffle_status(const shuffle *sh);

/** A one-line description of this rank's own failure, if the shuffle caused it ("" otherwise). */
const char *shuffle_error_detail(const shuffle *sh);

const shuffle_counters *shuffle_get_counters(const shuffle *sh);

/** Why SHARED_MEMORY moves bytes between this node's ranks as messages, or "" (see node_memory.h). */
const char *shuffle_sharing_reason(const shuffle *sh);

/** Ranks whose bytes this rank reads in place (itself included; 0 unless SHARED_MEMORY). */
int shuffle_shared_peers(const shuffle *sh);

/** Rounds whose bytes have arrived and been handed to the receive function. */
uint64_t shuffle_rounds_received(const shuffle *sh);

/** The transport `requested` means: itself, or for MPIMR_TRANSPORT_AUTO the one it stands for. */
mpimr_transport shuffle_resolve_transport(mpimr_transport requested);

/** Non-zero if `transport` is one of the mpimr_transport values (AUTO included). */
int shuffle_transport_known(mpimr_transport transport);

/** The transport in use (never AUTO) and the pairwise window (in effect only for PAIRWISE). */
mpimr_transport shuffle_transport(const shuffle *sh);
int shuffle_peer_window(const shuffle *sh);

/** Records round spans into `t` from now on (NULL: none). */
void shuffle_set_trace(shuffle *sh, trace *t);

/** Bytes the round buffers (send sets and receive buffers of every slot) hold now. */
size_t shuffle_buffer_bytes(const shuffle *sh);

#endif
