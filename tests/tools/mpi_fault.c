/*
 * tests/tools/mpi_fault.c — makes one MPI call fail on one rank, through the
 * MPI profiling interface, for tests/app/failures_app.sh. Load it with
 * LD_PRELOAD into every rank (mpirun -x LD_PRELOAD=...); it wraps
 * MPI_Isend, MPI_Ialltoall, MPI_Ialltoallv and MPI_Ibarrier and passes every call on to
 * the PMPI_ version, except on rank $MPIMR_FAULT_RANK, where call number
 * $MPIMR_FAULT_AFTER + 1 of the function named by $MPIMR_FAULT_CALL returns
 * MPI_ERR_OTHER without doing anything, as a failing network would. With
 * $MPIMR_FAULT_CORRUPT set as well, that MPI_Ialltoall call goes through but
 * sends rank 0 every byte as 0xFF (each int -1), as a corrupting network or a
 * peer out of step would: rank 0 must detect it while the other ranks go on.
 * Without those variables it changes nothing.
 */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

/* Counts calls of `name`; 1 when this one is to fail. */
static int should_fail(const char *name) {
  static long calls_seen;
  const char *call = getenv("MPIMR_FAULT_CALL");
  const char *rank_text = getenv("MPIMR_FAULT_RANK");
  if (call == NULL || rank_text == NULL || strcmp(call, name) != 0) return 0;
  int rank = -1;
  PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != atoi(rank_text)) return 0;
  const char *after = getenv("MPIMR_FAULT_AFTER");
  return calls_seen++ == (after ? atol(after) : 0);
}

int MPI_Isend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
              MPI_Request *request) {
  if (should_fail("MPI_Isend")) return MPI_ERR_OTHER;
  return PMPI_Isend(buf, count, datatype, dest, tag, comm, request);
}

/* A copy of an all-to-all's send buffer whose block for rank 0 is all 0xFF bytes. The request reads
 * it after the call returns, so it is never freed: the job fails soon after, and this is one
 * allocation. */
static const void *corrupt_send_buffer(const void *sendbuf, int count, MPI_Datatype type, MPI_Comm comm) {
  int type_size = 0, ranks = 0;
  PMPI_Type_size(type, &type_size);
  PMPI_Comm_size(comm, &ranks);
  size_t block = (size_t)count * (size_t)type_size, bytes = block * (size_t)ranks;
  unsigned char *buffer = malloc(bytes > 0 ? bytes : 1);
  if (buffer == NULL) return NULL;
  memcpy(buffer, sendbuf, bytes);
  memset(buffer, 0xFF, block);
  return buffer;
}

int MPI_Ialltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request) {
  if (should_fail("MPI_Ialltoall")) {
    const void *corrupt = getenv("MPIMR_FAULT_CORRUPT") ? corrupt_send_buffer(sendbuf, sendcount, sendtype, comm) : NULL;
    if (corrupt == NULL) return MPI_ERR_OTHER;
    sendbuf = corrupt;
  }
  return PMPI_Ialltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm, request);
}

int MPI_Ialltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[], MPI_Datatype sendtype,
                   void *recvbuf, const int recvcounts[], const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm,
                   MPI_Request *request) {
  if (should_fail("MPI_Ialltoallv")) return MPI_ERR_OTHER;
  return PMPI_Ialltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls, recvtype, comm,
                         request);
}

int MPI_Ibarrier(MPI_Comm comm, MPI_Request *request) {
  if (should_fail("MPI_Ibarrier")) return MPI_ERR_OTHER;
  return PMPI_Ibarrier(comm, request);
}
