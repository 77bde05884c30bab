/*
 * job/workspace.h — what consecutive jobs of one program share
 * (mpimr_workspace, see mpimr/job.h): the communicator duplicate, a shuffle
 * that ended cleanly, and the first job's pin report. A job takes them when
 * it is created and gives them back when it is freed after succeeding.
 */
#ifndef MPIMR_JOB_WORKSPACE_H
#define MPIMR_JOB_WORKSPACE_H

#include <mpi.h>

#include "mpimr/job.h"
#include "shuffle/shuffle.h"

struct mpimr_workspace {
  MPI_Comm made_from; /**< The communicator `comm` duplicates (the jobs' argument), or MPI_COMM_NULL. */
  MPI_Comm comm;      /**< A job communicator no job holds now, or MPI_COMM_NULL. */
  shuffle *shuffle;   /**< A shuffle that ended cleanly, over `comm`'s group, or NULL. */
  int pinned;         /**< pin_report holds the binding a job made. */
  mpimr_pin_report pin_report;
  uint64_t reuses;
};

/**
 * For a job being created over `comm`: agrees with every rank (an allreduce
 * on `comm`) whether the workspace's communicator and pin report can be
 * taken. Sets *job_comm to the communicator taken (MPI_COMM_NULL: make one)
 * and *pin_report (NULL: pin) for the job. Frees what cannot be taken.
 * Returns MPIMR_OK or MPIMR_ERR_MPI.
 */
int workspace_take_communicator(mpimr_workspace *ws, MPI_Comm comm, MPI_Comm *job_comm,
                                const mpimr_pin_report **pin_report);

/**
 * For a job whose communicator is `job_comm`: agrees with every rank (an
 * allreduce on `job_comm`) whether the workspace's shuffle fits the job's
 * settings, and if so hands it over (*taken; else NULL, and the old one is
 * freed). Returns MPIMR_OK or MPIMR_ERR_MPI.
 */
int workspace_take_shuffle(mpimr_workspace *ws, MPI_Comm job_comm, int depth, size_t round_bytes,
                           const shuffle_options *options, shuffle **taken);

/** Keeps a pin report that pinning made, for the next jobs. */
void workspace_keep_pinning(mpimr_workspace *ws, const mpimr_pin_report *report);

/**
 * A job that succeeded on every rank is being freed: keeps its communicator
 * (a duplicate of `made_from`) and its shuffle (which must have ended
 * cleanly) for the next job.
 */
void workspace_keep(mpimr_workspace *ws, MPI_Comm made_from, MPI_Comm comm, shuffle *sh);

#endif
