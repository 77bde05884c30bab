/* exec/reactor.c — MPI request polling for the executor; see reactor.h. */
#include "exec/reactor.h"

#include <stdlib.h>

#include "mpimr/error.h"

int reactor_init(reactor *r, int capacity) {
  if (capacity < 1) capacity = 1;
  r->count = 0;
  r->capacity = capacity;
  r->requests = malloc(sizeof *r->requests * (size_t)capacity);
  r->groups = malloc(sizeof *r->groups * (size_t)capacity);
  r->completed_indices = malloc(sizeof *r->completed_indices * (size_t)capacity);
  r->statuses = malloc(sizeof *r->statuses * (size_t)capacity);
  if (!r->requests || !r->groups || !r->completed_indices || !r->statuses) {
    reactor_destroy(r);
    return MPIMR_ERR_NOMEM;
  }
  return MPIMR_OK;
}

void reactor_destroy(reactor *r) {
  for (int i = 0; i < r->count; i++) {
    if (r->requests[i] != MPI_REQUEST_NULL) {
      /* Nonblocking collectives cannot be cancelled; freeing the handle is all MPI allows. */
      MPI_Request_free(&r->requests[i]);
    }
  }
  free(r->requests);
  free(r->groups);
  free(r->completed_indices);
  free(r->statuses);
  r->requests = NULL;
  r->groups = NULL;
  r->completed_indices = NULL;
  r->statuses = NULL;
  r->count = r->capacity = 0;
}

static int reactor_reserve(reactor *r, int needed) {
  if (needed <= r->capacity) return 0;
  int capacity = r->capacity * 2;
  while (capacity < needed) capacity *= 2;
  MPI_Request *requests = realloc(r->requests, sizeof *requests * (size_t)capacity);
  if (!requests) return -1;
  r->requests = requests;
  mpimr_request_group **groups = realloc(r->groups, sizeof *groups * (size_t)capacity);
  if (!groups) return -1;
  r->groups = groups;
  int *indices = realloc(r->completed_indices, sizeof *indices * (size_t)capacity);
  if (!indices) return -1;
  r->completed_indices = indices;
  MPI_Status *statuses = realloc(r->statuses, sizeof *statuses * (size_t)capacity);
  if (!statuses) return -1;
  r->statuses = statuses;
  r->capacity = capacity;
  return 0;
}

int reactor_add(reactor *r, mpimr_request_group *group, const MPI_Request *requests, int count) {
  if (reactor_reserve(r, r->count + count) != 0) return -1;
  int stored = 0;
  for (int i = 0; i < count; i++) {
    if (requests[i] == MPI_REQUEST_NULL) continue;
    r->requests[r->count] = requests[i];
    r->groups[r->count] = group;
    r->count++;
    stored++;
  }
  return stored;
}

static int compare_descending(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x < y) - (x > y);
}

int reactor_poll(reactor *r, void (*wake)(void *context, mpimr_future *owner), void *context) {
  if (r->count == 0) return 0;
  int completed = 0;
  int rc = MPI_Testsome(r->count, r->requests, &completed, r->completed_indices, r->statuses);
  if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) return MPIMR_ERR_MPI;
  if (completed == MPI_UNDEFINED || completed == 0) return 0;

  /* Statuses are indexed by completion order; remember each slot's error before slots move. */
  for (int k = 0; k < completed; k++) {
    int slot = r->completed_indices[k];
    mpimr_request_group *group = r->groups[slot];
    int error = (rc == MPI_ERR_IN_STATUS) ? r->statuses[k].MPI_ERROR : MPI_SUCCESS;
    if (error != MPI_SUCCESS) {
      if (group->error == MPI_SUCCESS) group->error = error;
      /* MPI leaves a request that failed allocated: free it ourselves. */
      if (r->requests[slot] != MPI_REQUEST_NULL) MPI_Request_free(&r->requests[slot]);
    }
  }

  /* Swap-remove from the highest index down, so a moved slot is never one still to remove. */
  qsort(r->completed_indices, (size_t)completed, sizeof(int), compare_descending);
  for (int k = 0; k < completed; k++) {
    int slot = r->completed_indices[k];
    mpimr_request_group *group = r->groups[slot];
    r->count--;
    r->requests[slot] = r->requests[r->count];
    r->groups[slot] = r->groups[r->count];
    if (--group->remaining == 0) wake(context, group->owner);
  }
  return completed;
}
