/* apps/shared_file.c — a file all ranks write, committed by agreement; see shared_file.h. */
#include "shared_file.h"

#include "mpimr/mpimr.h"

#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool shared_file_any_rank(bool failed) {
  int local = failed, global = 1;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return global != 0;
}

/* Rank 0's errno value (or 0), on every rank. */
static int from_rank0(int error) {
  MPI_Bcast(&error, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return error;
}

void shared_file_report(const char *program, int rank, const char *action, const char *path, int error) {
  fprintf(stderr, "%s: rank %d: %s %s: %s\n", program, rank, action, path, strerror(error));
}

char *shared_file_temporary_name(const char *output) {
  long pid = (long)getpid();
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  size_t size = strlen(output) + 32;
  char *name = malloc(size);
  if (name != NULL) snprintf(name, size, "%s.tmp.%ld", output, pid);
  return name;
}

int shared_file_open(const char *program, const char *path, int rank, int *fd) {
  int error = 0;
  char launch[384];
  if (mpimr_launch_check(launch, sizeof launch) != MPIMR_OK) { /* one-rank worlds would race on the file */
    fprintf(stderr, "%s: %s\n", program, launch);
    return -1;
  }
  if (rank == 0) {
    *fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    error = *fd < 0 ? errno : 0;
    if (error != 0) shared_file_report(program, rank, "cannot create", path, error);
  }
  if (from_rank0(error) != 0) return -1;
  if (rank != 0) {
    *fd = open(path, O_WRONLY | O_CLOEXEC);
    if (*fd < 0) shared_file_report(program, rank, "cannot open", path, errno);
  }
  return *fd < 0 ? -1 : 0;
}

bool shared_file_commit(const char *program, const char *temporary, const char *output, bool failed, int rank) {
  if (failed) {
    if (rank == 0) unlink(temporary);
    return false;
  }
  int error = 0;
  if (rank == 0 && rename(temporary, output) != 0) {
    error = errno;
    fprintf(stderr, "%s: rank 0: cannot rename %s to %s: %s\n", program, temporary, output, strerror(error));
    unlink(temporary);
  }
  return from_rank0(error) == 0;
}
