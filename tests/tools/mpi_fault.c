/*
 * tests/tools/mpi_fault.c — makes one MPI call fail on one rank, through the
 * MPI profiling interface, for tests/app/failures_app.sh. Load it with
 * LD_PRELOAD into every rank (mpirun -x LD_PRELOAD=...); it wraps
 * MPI_Isend, MPI_Ialltoall, MPI_Ialltoallv and MPI_Ibarrier and passes every call on to
 * the PMPI_ version, except on rank $MPIMR_FAULT_RANK, where call number
 * $MPIMR_FAULT_AFTER + 1 of the function named by $MPIMR_FAULT_CALL returns
 * MPI_ERR_OTHER without doing anything, as a failing network would. Without
 * those variables it changes nothing.
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

int MPI_Ialltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request) {
  if (should_fail("MPI_Ialltoall")) return MPI_ERR_OTHER;
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
