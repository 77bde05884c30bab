/*
 * shuffle/transport_alltoallv.c — MPIMR_TRANSPORT_ALLTOALLV: a round's bytes
 * as one MPI_Ialltoallv on the data communicator, straight from the send
 * set's regions into the receive buffer. The reactor progresses it; the
 * round is done when its one request completes.
 */
#include "mpimr/error.h"
#include "shuffle/transport.h"

static void post_round(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  MPI_Request request;
  int mpi_rc =
      MPI_Ialltoallv(slot->send.buffer, slot->send.lengths, slot->send.offsets, MPI_BYTE, slot->recv_buffer,
                     slot->recv_counts, slot->recv_displs, MPI_BYTE, sh->data_comm, &request);
  if (mpi_rc != MPI_SUCCESS) {
    shuffle_fail_mpi(sh, "MPI_Ialltoallv", mpi_rc);
    return;
  }
  shuffle_await_collective(sh, ex, &slot->transport_group, request);
}

static int round_done(shuffle *sh, round_slot *slot) {
  const mpimr_request_group *group = &slot->transport_group;
  if (group->remaining > 0) return 0;
  if (group->error != MPI_SUCCESS) shuffle_fail_mpi(sh, "MPI_Ialltoallv (round data)", group->error);
  return 1;
}

/* clang-format off */
const shuffle_transport_ops alltoallv_transport = {
    .name = "alltoallv", .post_round = post_round, .round_done = round_done};
/* clang-format on */
