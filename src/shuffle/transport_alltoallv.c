/*
 * shuffle/transport_alltoallv.c — MPIMR_TRANSPORT_ALLTOALLV: a round's bytes
 * as one MPI collective on the data communicator, straight from the send
 * set's regions into the receive buffer. The reactor progresses it; the
 * round is done when its one request completes.
 *
 * A round whose every count and displacement fits the message limit (no
 * header carries SHUFFLE_HEADER_LARGE) is one MPI_Ialltoallv of bytes.
 * Otherwise it is one MPI_Ialltoallw, in which each block over the limit,
 * or lying past it, is a derived datatype of its own: whole chunks of
 * `message_limit` bytes and the rest, placed by an MPI_Aint displacement,
 * so no int overflows however large the round. Every rank reads every
 * sender's flag from its headers, so all post the same collective; and a
 * block's type signature is its length in bytes however it is cut, so the
 * two ends of a block need not cut it alike. The flag is conservative (a
 * sender's round over limit / P): at the default limit, rounds of 4 MiB
 * take this path from 512 ranks, of 64 MiB from 32, with MPI_BYTE blocks.
 */
#include <limits.h>
#include <stdlib.h>

#include "mpimr/error.h"
#include "shuffle/transport.h"

/* What one slot's collective reads while it is in flight: MPI keeps the arrays until it completes. */
typedef struct collective_arrays {
  int *send_counts, *send_displs, *recv_counts, *recv_displs;
  MPI_Datatype *send_types, *recv_types; /* The large path's; derived types are freed in round_done. */
  int derived_types;                     /* How many of them are derived (not MPI_BYTE). */
  int large;                             /* The round in flight went as MPI_Ialltoallw. */
} collective_arrays;

typedef struct alltoallv_state {
  MPI_Datatype chunk; /* message_limit bytes, contiguous: a large block's whole chunks. */
  collective_arrays *slots;
} alltoallv_state;

static alltoallv_state *state_of(const shuffle *sh) { return sh->transport_state; }

SHUFFLE_COLD static void free_derived_types(collective_arrays *a, int nranks) {
  if (a->derived_types == 0) return;
  for (int p = 0; p < nranks; p++) {
    if (a->send_types[p] != MPI_BYTE) MPI_Type_free(&a->send_types[p]);
    if (a->recv_types[p] != MPI_BYTE) MPI_Type_free(&a->recv_types[p]);
    a->send_types[p] = a->recv_types[p] = MPI_BYTE;
  }
  a->derived_types = 0;
}

SHUFFLE_COLD static void destroy(shuffle *sh) {
  alltoallv_state *state = state_of(sh);
  if (state == NULL) return;
  for (int i = 0; state->slots && i < sh->nslots; i++) {
    collective_arrays *a = &state->slots[i];
    /* Types of a broken shuffle's collective may still be in use: MPI frees them once it is done. */
    if (a->send_types && a->recv_types) free_derived_types(a, sh->nranks);
    free(a->send_counts);
    free(a->send_displs);
    free(a->recv_counts);
    free(a->recv_displs);
    free(a->send_types);
    free(a->recv_types);
  }
  free(state->slots);
  if (state->chunk != MPI_DATATYPE_NULL) MPI_Type_free(&state->chunk);
  free(state);
}

SHUFFLE_COLD static int create(shuffle *sh, const shuffle_options *options) {
  (void)options;
  alltoallv_state *state = calloc(1, sizeof *state);
  sh->transport_state = state;
  if (state == NULL) return MPIMR_ERR_NOMEM;
  state->chunk = MPI_DATATYPE_NULL;
  state->slots = calloc((size_t)sh->nslots, sizeof *state->slots);
  if (state->slots == NULL) return MPIMR_ERR_NOMEM;
  size_t n = (size_t)sh->nranks;
  for (int i = 0; i < sh->nslots; i++) {
    collective_arrays *a = &state->slots[i];
    a->send_counts = malloc(n * sizeof(int));
    a->send_displs = malloc(n * sizeof(int));
    a->recv_counts = malloc(n * sizeof(int));
    a->recv_displs = malloc(n * sizeof(int));
    a->send_types = malloc(n * sizeof(MPI_Datatype));
    a->recv_types = malloc(n * sizeof(MPI_Datatype));
    for (size_t p = 0; p < n; p++) {
      if (a->send_types) a->send_types[p] = MPI_BYTE;
      if (a->recv_types) a->recv_types[p] = MPI_BYTE;
    }
    if (!a->send_counts || !a->send_displs || !a->recv_counts || !a->recv_displs || !a->send_types ||
        !a->recv_types)
      return MPIMR_ERR_NOMEM;
  }
  if (MPI_Type_contiguous((int)sh->message_limit, MPI_BYTE, &state->chunk) != MPI_SUCCESS ||
      MPI_Type_commit(&state->chunk) != MPI_SUCCESS)
    return MPIMR_ERR_MPI;
  return MPIMR_OK;
}

/*
 * One block of the large path: `bytes` at `displacement` from the buffer's
 * start, as (count, type, int displacement). Within the limit, bytes as
 * they are; beyond it, a struct of whole chunks and the rest, placed by its
 * own MPI_Aint displacement. Returns an MPI error code.
 */
static int describe_block(const alltoallv_state *state, size_t limit, size_t displacement, size_t bytes,
                          int *count, int *displ, MPI_Datatype *type, int *derived) {
  if (bytes == 0 || (bytes <= limit && displacement <= limit)) {
    *count = (int)bytes;
    *displ = bytes > 0 ? (int)displacement : 0;
    *type = MPI_BYTE;
    return MPI_SUCCESS;
  }
  size_t chunks = bytes / limit;
  if (chunks > INT_MAX) return MPI_ERR_COUNT;
  int lengths[2] = {(int)chunks, (int)(bytes % limit)};
  MPI_Aint displacements[2] = {(MPI_Aint)displacement, (MPI_Aint)(displacement + chunks * limit)};
  MPI_Datatype types[2] = {state->chunk, MPI_BYTE};
  int rc = MPI_Type_create_struct(2, lengths, displacements, types, type);
  if (rc == MPI_SUCCESS) rc = MPI_Type_commit(type);
  if (rc != MPI_SUCCESS) {
    if (*type != MPI_DATATYPE_NULL && *type != MPI_BYTE) MPI_Type_free(type);
    *type = MPI_BYTE;
    return rc;
  }
  (*derived)++;
  *count = 1;
  *displ = 0;
  return MPI_SUCCESS;
}

static int round_is_large(const shuffle *sh, const round_slot *slot) {
  for (int s = 0; s < sh->nranks; s++)
    if (slot->recv_header[SHUFFLE_HEADER_INTS * s + 1] & SHUFFLE_HEADER_LARGE) return 1;
  return 0;
}

static void post_round(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  alltoallv_state *state = state_of(sh);
  collective_arrays *a = &state->slots[shuffle_slot_index(sh, slot)];
  const send_set *send = &slot->send;
  MPI_Request request;
  int mpi_rc;
  const char *call;
  a->large = round_is_large(sh, slot);
  if (!a->large) {
    /* No sender's set passes the limit, so neither does any count, displacement or receive total. */
    for (int p = 0; p < sh->nranks; p++) {
      a->send_counts[p] = (int)send->lengths[p];
      a->send_displs[p] = send->lengths[p] > 0 ? (int)send->offsets[p] : 0;
      a->recv_counts[p] = (int)slot->recv_counts[p];
      a->recv_displs[p] = (int)slot->recv_displs[p];
    }
    call = "MPI_Ialltoallv";
    mpi_rc = MPI_Ialltoallv(send->buffer, a->send_counts, a->send_displs, MPI_BYTE, slot->recv_buffer,
                            a->recv_counts, a->recv_displs, MPI_BYTE, sh->data_comm, &request);
  } else {
    call = "MPI_Ialltoallw (a round over the message limit)";
    mpi_rc = MPI_SUCCESS;
    for (int p = 0; p < sh->nranks && mpi_rc == MPI_SUCCESS; p++) {
      mpi_rc = describe_block(state, sh->message_limit, send->offsets[p], send->lengths[p],
                              &a->send_counts[p], &a->send_displs[p], &a->send_types[p], &a->derived_types);
      if (mpi_rc == MPI_SUCCESS)
        mpi_rc = describe_block(state, sh->message_limit, slot->recv_displs[p], slot->recv_counts[p],
                                &a->recv_counts[p], &a->recv_displs[p], &a->recv_types[p], &a->derived_types);
    }
    if (mpi_rc == MPI_SUCCESS)
      mpi_rc = MPI_Ialltoallw(send->buffer, a->send_counts, a->send_displs, a->send_types, slot->recv_buffer,
                              a->recv_counts, a->recv_displs, a->recv_types, sh->data_comm, &request);
  }
  if (mpi_rc != MPI_SUCCESS) {
    free_derived_types(a, sh->nranks);
    shuffle_fail_mpi(sh, call, mpi_rc);
    return;
  }
  shuffle_await_collective(sh, ex, &slot->transport_group, request);
}

static int round_done(shuffle *sh, round_slot *slot) {
  const mpimr_request_group *group = &slot->transport_group;
  if (group->remaining > 0) return 0;
  collective_arrays *a = &state_of(sh)->slots[shuffle_slot_index(sh, slot)];
  free_derived_types(a, sh->nranks);
  if (group->error != MPI_SUCCESS)
    shuffle_fail_mpi(sh, a->large ? "MPI_Ialltoallw (round data)" : "MPI_Ialltoallv (round data)",
                     group->error);
  return 1;
}

/* clang-format off */
const shuffle_transport_ops alltoallv_transport = {
    .name = "alltoallv", .create = create, .destroy = destroy, .post_round = post_round,
    .round_done = round_done};
/* clang-format on */
