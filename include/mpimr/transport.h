/**
 * @file
 * mpimr/transport.h — how a shuffle round's bytes travel between ranks.
 *
 * A job chooses its transport in its configuration (mpimr/job.h, which
 * includes this header); the shuffle implements them.
 */
#ifndef MPIMR_TRANSPORT_H
#define MPIMR_TRANSPORT_H

#include "mpimr/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * How a shuffle round's bytes travel between ranks. The size headers that
 * start every round always go by one MPI_Ialltoall; the transport moves the
 * bytes themselves. Every rank of a job must use the same.
 */
typedef enum mpimr_transport {
  /** The library's choice, the same on every rank: currently MPIMR_TRANSPORT_SHARED_MEMORY. */
  MPIMR_TRANSPORT_AUTO = 0,
  /** One MPI_Ialltoallv per round over all ranks. */
  MPIMR_TRANSPORT_ALLTOALLV = 1,
  /**
   * MPI_Isend / MPI_Irecv with only the ranks a round has bytes for or from,
   * at most `peer_window` sends and as many receives outstanding at once;
   * rank r sends to r+1, r+2, ... and receives from r-1, r-2, ... (mod P),
   * so the traffic spreads over the peers. Its own bytes are copied.
   */
  MPIMR_TRANSPORT_PAIRWISE = 2,
  /**
   * Ranks on one node exchange no bytes: each rank's send buffers live in
   * shared memory that the other ranks of its node map, and a receiver
   * reads its bytes where the sender wrote them (Linux: memfd, opened
   * through /proc/PID/fd). Bytes for ranks on other nodes (or in other
   * groups of a node: `ranks_per_node`), or wherever sharing cannot be set
   * up, go as with MPIMR_TRANSPORT_PAIRWISE. An MPI_Ibarrier per round
   * tells senders when their buffers are free.
   * Reserves 2 GiB of address space per round in flight plus one, per rank
   * on the node; only the pages written take memory.
   */
  MPIMR_TRANSPORT_SHARED_MEMORY = 3
} mpimr_transport;

/** "auto", "alltoallv", "pairwise" or "shared-memory" (static text; "unknown transport" for other values). */
MPIMR_API const char *mpimr_transport_name(mpimr_transport transport);

/** Parses "auto", "alltoallv", "pairwise" or "shared-memory". Returns MPIMR_OK or MPIMR_ERR_INVAL. */
MPIMR_API int mpimr_transport_parse(const char *text, mpimr_transport *transport);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_TRANSPORT_H */
