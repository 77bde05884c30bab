/*
 * shuffle/node_memory.h — memory the ranks of one node share with each other.
 *
 * Each rank owns one segment: an anonymous shared-memory file (memfd) it
 * maps read-write. Every other rank on its node maps that segment read-only,
 * so a receiver can read a sender's bytes where the sender wrote them
 * instead of having MPI copy them. The segment is reserved large and
 * sparse: only the pages written take memory, so a buffer in it can grow in
 * place.
 *
 * Sharing is best effort. A rank finds its node's ranks with
 * MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), optionally cut into groups of
 * consecutive node ranks that share only among themselves, and opens each
 * peer's segment through /proc/PID/fd; if that fails anywhere on the node
 * (or group: not Linux, no memfd, another PID namespace, an address-space
 * limit), no rank of it shares and node_memory_reason() says why. Ranks on
 * different nodes never share, nor do ranks of different groups. Each rank
 * closes its file once all have mapped it, and a mapping stays valid after
 * its owner unmaps it or exits, so tearing down is local and never waits
 * for a peer.
 */
#ifndef MPIMR_SHUFFLE_NODE_MEMORY_H
#define MPIMR_SHUFFLE_NODE_MEMORY_H

#include <mpi.h>
#include <stddef.h>

typedef struct node_memory {
  unsigned char *own;         /**< This rank's segment, read-write; NULL if this node does not share. */
  size_t segment_bytes;       /**< The size of every segment (all ranks ask for the same). */
  const unsigned char **peer; /**< Per rank of the communicator: its segment, or NULL (not shared). */
  int nranks;
  int shared_peers; /**< Ranks whose segment this rank maps, itself included (0 or at least 1). */
  char reason[160]; /**< Why this node does not share ("" if it does). */
} node_memory;

/**
 * Sets up sharing over `comm` with a segment of `segment_bytes` per rank
 * (rounded up to pages). `group_ranks` > 0 cuts each node into groups of
 * that many consecutive node ranks (the last may be smaller), which share
 * only within themselves; 0 shares across the whole node. Collective over
 * `comm`; every rank must pass the same size and group. Returns MPIMR_OK
 * whether or not the node ends up sharing (see node_memory_reason()), or
 * MPIMR_ERR_NOMEM / MPIMR_ERR_MPI.
 */
int node_memory_create(node_memory *m, MPI_Comm comm, size_t segment_bytes, int group_ranks);

/** Unmaps every segment. Local: never waits for another rank. */
void node_memory_destroy(node_memory *m);

/**
 * Non-zero if `rank`'s segment is mapped here (this rank's own included).
 * A zeroed node_memory, never created, shares with no rank.
 */
static inline int node_memory_shares_with(const node_memory *m, int rank) {
  return m->peer != NULL && m->peer[rank] != NULL;
}

/** Why this node's ranks do not share memory, or "" when they do. */
static inline const char *node_memory_reason(const node_memory *m) { return m->reason; }

#endif
