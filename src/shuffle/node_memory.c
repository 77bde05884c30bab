/* shuffle/node_memory.c — per-rank segments mapped by the ranks of a node; see node_memory.h. */
#include "shuffle/node_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mpimr/error.h"
#include "util/pages.h"

/* What a rank tells the others on its node about its segment. */
typedef struct segment_card {
  long long pid;
  int fd;
} segment_card;

#ifdef __linux__
/* Creates and maps this rank's segment; returns it, or NULL with `reason` filled in. */
static unsigned char *create_own(size_t bytes, int *fd_out, char *reason, size_t reason_size) {
  int fd = memfd_create("mpimr-shuffle", MFD_CLOEXEC);
  if (fd < 0) {
    snprintf(reason, reason_size, "memfd_create failed: %s", strerror(errno));
    return NULL;
  }
  if (ftruncate(fd, (off_t)bytes) != 0) {
    snprintf(reason, reason_size, "sizing a %zu-byte segment failed: %s", bytes, strerror(errno));
    close(fd);
    return NULL;
  }
  /* Sparse: pages take memory only when written, so no reservation is charged for the whole size. */
  void *at = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (at == MAP_FAILED) {
    snprintf(reason, reason_size, "mapping a %zu-byte segment failed: %s", bytes, strerror(errno));
    close(fd);
    return NULL;
  }
  *fd_out = fd;
  return at;
}

/* Maps a peer's segment read-only through its open file; returns it, or NULL with `reason`. */
static const unsigned char *map_peer(const segment_card *card, int node_rank, size_t bytes, char *reason,
                                     size_t reason_size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%lld/fd/%d", card->pid, card->fd);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(reason, reason_size, "opening node rank %d's segment (%s) failed: %s", node_rank, path,
             strerror(errno));
    return NULL;
  }
  void *at = mmap(NULL, bytes, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
  int saved = errno;
  close(fd);
  if (at == MAP_FAILED) {
    snprintf(reason, reason_size, "mapping node rank %d's segment failed: %s", node_rank, strerror(saved));
    return NULL;
  }
  return at;
}
#else
static unsigned char *create_own(size_t bytes, int *fd_out, char *reason, size_t reason_size) {
  (void)bytes;
  *fd_out = -1;
  snprintf(reason, reason_size, "sharing needs Linux (memfd and /proc)");
  return NULL;
}

static const unsigned char *map_peer(const segment_card *card, int node_rank, size_t bytes, char *reason,
                                     size_t reason_size) {
  (void)card, (void)node_rank, (void)bytes;
  snprintf(reason, reason_size, "sharing needs Linux (memfd and /proc)");
  return NULL;
}
#endif

static void unmap_all(node_memory *m) {
  if (m->peer != NULL) {
    for (int r = 0; r < m->nranks; r++)
      if (m->peer[r] != NULL && m->peer[r] != m->own) munmap((void *)m->peer[r], m->segment_bytes);
    memset(m->peer, 0, sizeof *m->peer * (size_t)m->nranks);
  }
  if (m->own != NULL) munmap(m->own, m->segment_bytes);
  m->own = NULL;
  m->shared_peers = 0;
}

/* Maps every node peer's segment (this rank's own is already mapped); returns non-zero if all were. */
static int map_node_peers(node_memory *m, const segment_card *cards, const int *comm_rank_of, int node_size,
                          int node_rank) {
  for (int i = 0; i < node_size; i++) {
    int r = comm_rank_of[i];
    m->peer[r] =
        i == node_rank ? m->own : map_peer(&cards[i], i, m->segment_bytes, m->reason, sizeof m->reason);
    if (m->peer[r] == NULL) return 0;
    m->shared_peers++;
  }
  return 1;
}

/* Fills `comm_rank_of[i]` with the communicator rank of node rank i. */
static int translate_ranks(MPI_Comm node, MPI_Comm comm, int node_size, int *comm_rank_of) {
  MPI_Group node_group, comm_group;
  if (MPI_Comm_group(node, &node_group) != MPI_SUCCESS) return MPIMR_ERR_MPI;
  if (MPI_Comm_group(comm, &comm_group) != MPI_SUCCESS) {
    MPI_Group_free(&node_group);
    return MPIMR_ERR_MPI;
  }
  int *node_ranks = malloc(sizeof(int) * (size_t)node_size);
  int rc = node_ranks ? MPIMR_OK : MPIMR_ERR_NOMEM;
  if (rc == MPIMR_OK) {
    for (int i = 0; i < node_size; i++) node_ranks[i] = i;
    if (MPI_Group_translate_ranks(node_group, node_size, node_ranks, comm_group, comm_rank_of) != MPI_SUCCESS)
      rc = MPIMR_ERR_MPI;
  }
  free(node_ranks);
  MPI_Group_free(&node_group);
  MPI_Group_free(&comm_group);
  return rc;
}

/*
 * The node's agreement: returns non-zero if every rank of it `succeeded`.
 * If not, every rank takes the first failing rank's reason and unmaps what
 * it has mapped. Returns -1 if MPI failed.
 */
static int all_on_node(node_memory *m, MPI_Comm node, int node_size, int node_rank, int succeeded) {
  int mine = succeeded ? node_size : node_rank, first_failed = node_size;
  if (MPI_Allreduce(&mine, &first_failed, 1, MPI_INT, MPI_MIN, node) != MPI_SUCCESS) return -1;
  if (first_failed == node_size) return 1;
  if (MPI_Bcast(m->reason, (int)sizeof m->reason, MPI_CHAR, first_failed, node) != MPI_SUCCESS) return -1;
  m->reason[sizeof m->reason - 1] = '\0';
  unmap_all(m);
  return 0;
}

/*
 * The collective part, over the node's ranks (or its group's: split_group).
 * Each step that can fail on one rank is followed by an agreement, so every
 * rank of the node takes part in the same collectives whatever happened.
 */
static int share_on_node(node_memory *m, MPI_Comm comm, MPI_Comm node, segment_card *cards, int *comm_rank_of,
                         int allocated) {
  int node_size, node_rank;
  MPI_Comm_size(node, &node_size);
  MPI_Comm_rank(node, &node_rank);
  int own_fd = -1;
  if (allocated)
    m->own = create_own(m->segment_bytes, &own_fd, m->reason, sizeof m->reason);
  else
    snprintf(m->reason, sizeof m->reason, "out of memory setting up sharing");
  int rc = MPIMR_OK;
  int agreed = all_on_node(m, node, node_size, node_rank, m->own != NULL);
  if (agreed > 0) {
    segment_card mine = {(long long)getpid(), own_fd};
    if (MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, cards, (int)sizeof mine, MPI_BYTE, node) !=
        MPI_SUCCESS)
      agreed = -1;
  }
  if (agreed > 0) {
    rc = translate_ranks(node, comm, node_size, comm_rank_of);
    if (rc != MPIMR_OK) snprintf(m->reason, sizeof m->reason, "translating ranks: %s", mpimr_strerror(rc));
    int mapped_all = rc == MPIMR_OK && map_node_peers(m, cards, comm_rank_of, node_size, node_rank);
    agreed = all_on_node(m, node, node_size, node_rank, mapped_all);
  }
  /* Everyone on the node has opened this rank's file by now (or never will): the mappings keep it. */
  if (own_fd >= 0) close(own_fd);
  if (agreed < 0) return MPIMR_ERR_MPI;
  return allocated ? rc : MPIMR_ERR_NOMEM;
}

/*
 * This rank's sharing group: the ranks of its node (MPI_Comm_split_type), cut
 * into groups of `group_ranks` consecutive node ranks if that is above 0.
 */
static int split_group(MPI_Comm comm, int rank, int group_ranks, MPI_Comm *group) {
  MPI_Comm node;
  if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) != MPI_SUCCESS)
    return MPIMR_ERR_MPI;
  if (group_ranks <= 0) {
    *group = node;
    return MPIMR_OK;
  }
  int node_rank;
  MPI_Comm_rank(node, &node_rank);
  int split = MPI_Comm_split(node, node_rank / group_ranks, node_rank, group);
  MPI_Comm_free(&node);
  return split == MPI_SUCCESS ? MPIMR_OK : MPIMR_ERR_MPI;
}

int node_memory_create(node_memory *m, MPI_Comm comm, size_t segment_bytes, int group_ranks) {
  memset(m, 0, sizeof *m);
  int rank;
  MPI_Comm_size(comm, &m->nranks);
  MPI_Comm_rank(comm, &rank);
  m->segment_bytes = pages_round_up(segment_bytes);
  /* Sized for the whole communicator: no node is larger. */
  m->peer = calloc((size_t)m->nranks, sizeof *m->peer);
  segment_card *cards = malloc(sizeof *cards * (size_t)m->nranks);
  int *comm_rank_of = malloc(sizeof(int) * (size_t)m->nranks);
  MPI_Comm group = MPI_COMM_NULL;
  int rc = split_group(comm, rank, group_ranks, &group);
  if (rc == MPIMR_OK) {
    rc = share_on_node(m, comm, group, cards, comm_rank_of, m->peer && cards && comm_rank_of);
    MPI_Comm_free(&group);
  }
  free(cards);
  free(comm_rank_of);
  if (rc != MPIMR_OK) node_memory_destroy(m);
  return rc;
}

void node_memory_destroy(node_memory *m) {
  unmap_all(m);
  free(m->peer);
  memset(m, 0, sizeof *m);
}
