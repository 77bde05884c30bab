/* job/launch.c — a world smaller than the launcher meant (mpimr_launch_check, mpimr/job.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "mpimr/error.h"
#include "mpimr/job.h"

/* The positive integer in environment variable `name`, or 0 if it is unset or not one. */
static long task_count(const char *name) {
  const char *text = getenv(name);
  if (text == NULL || *text == '\0') return 0;
  char *end;
  long n = strtol(text, &end, 10);
  return *end == '\0' && n > 0 && n < INT_MAX ? n : 0;
}

int mpimr_launch_check(char *message, size_t message_size) {
  int world;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != 1) return MPIMR_OK;
  /* Open MPI's own launcher (mpirun, which inside a Slurm allocation starts its daemons with srun,
   * one task a node) says how many ranks it started; only without it does srun's count speak. */
  long open_mpi = task_count("OMPI_COMM_WORLD_SIZE");
  long slurm = open_mpi > 0 ? 0 : task_count("SLURM_STEP_NUM_TASKS");
  if (slurm <= 1 && open_mpi <= 1) return MPIMR_OK;
  if (message != NULL && message_size > 0) {
    if (slurm > 1)
      snprintf(message, message_size,
               "this process is a one-rank MPI world, but srun started %ld tasks (SLURM_STEP_NUM_TASKS): each "
               "is a world of its own and they would all write the same output; launch with "
               "'srun --mpi=pmix' (see srun --mpi=list) or with mpirun",
               slurm);
    else
      snprintf(message, message_size,
               "this process is a one-rank MPI world, but the launcher started %ld (OMPI_COMM_WORLD_SIZE): "
               "each is a world of its own and they would all write the same output; check the launcher's "
               "MPI support",
               open_mpi);
  }
  return MPIMR_ERR_INVAL;
}
