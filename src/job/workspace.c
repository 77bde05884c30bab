/* job/workspace.c — what consecutive jobs share; see workspace.h and mpimr_workspace in mpimr/job.h. */
#include "job/workspace.h"

#include <stdlib.h>

#include "mpimr/error.h"

int mpimr_workspace_create(mpimr_workspace **workspace) {
  if (workspace == NULL) return MPIMR_ERR_INVAL;
  *workspace = calloc(1, sizeof **workspace);
  if (*workspace == NULL) return MPIMR_ERR_NOMEM;
  (*workspace)->made_from = MPI_COMM_NULL;
  (*workspace)->comm = MPI_COMM_NULL;
  return MPIMR_OK;
}

/* Frees the communicator and the shuffle the workspace holds. */
static void drop_held(mpimr_workspace *ws) {
  shuffle_free(ws->shuffle);
  ws->shuffle = NULL;
  if (ws->comm != MPI_COMM_NULL) MPI_Comm_free(&ws->comm);
  ws->made_from = MPI_COMM_NULL;
}

void mpimr_workspace_free(mpimr_workspace *workspace) {
  if (workspace == NULL) return;
  drop_held(workspace);
  free(workspace);
}

uint64_t mpimr_workspace_reuses(const mpimr_workspace *workspace) { return workspace ? workspace->reuses : 0; }

int workspace_take_communicator(mpimr_workspace *ws, MPI_Comm comm, MPI_Comm *job_comm,
                                const mpimr_pin_report **pin_report) {
  *job_comm = MPI_COMM_NULL;
  *pin_report = NULL;
  int held[2] = {ws->comm != MPI_COMM_NULL && ws->made_from == comm, ws->pinned}, agreed[2];
  if (MPI_Allreduce(held, agreed, 2, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) return MPIMR_ERR_MPI;
  if (agreed[1]) *pin_report = &ws->pin_report;
  if (agreed[0]) {
    *job_comm = ws->comm;
    ws->comm = MPI_COMM_NULL; /* the job's now; the shuffle waits for workspace_take_shuffle() */
  } else {
    drop_held(ws);
  }
  return MPIMR_OK;
}

int workspace_take_shuffle(mpimr_workspace *ws, MPI_Comm job_comm, int depth, size_t round_bytes,
                           const shuffle_options *options, shuffle **taken) {
  *taken = NULL;
  int fits = ws->shuffle != NULL && shuffle_fits(ws->shuffle, depth, round_bytes, options), all_fit;
  if (MPI_Allreduce(&fits, &all_fit, 1, MPI_INT, MPI_MIN, job_comm) != MPI_SUCCESS) return MPIMR_ERR_MPI;
  if (all_fit) {
    *taken = ws->shuffle;
    ws->reuses++;
  } else {
    shuffle_free(ws->shuffle);
  }
  ws->shuffle = NULL;
  return MPIMR_OK;
}

void workspace_keep_pinning(mpimr_workspace *ws, const mpimr_pin_report *report) {
  ws->pin_report = *report;
  ws->pinned = 1;
}

void workspace_keep(mpimr_workspace *ws, MPI_Comm made_from, MPI_Comm comm, shuffle *sh) {
  drop_held(ws);
  ws->made_from = made_from;
  ws->comm = comm;
  ws->shuffle = sh;
}
