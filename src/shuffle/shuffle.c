/* shuffle/shuffle.c — the round protocol; see shuffle.h for the rules it keeps. */
#include "shuffle/shuffle.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpimr/error.h"
#include "util/clock.h"

enum header_flags { HEADER_FINAL = 1, HEADER_ERROR = 2 };
enum slot_phase { SLOT_FILLING = 0, SLOT_COUNTS = 1, SLOT_DATA = 2 };

typedef struct round_slot {
  send_set send;
  int32_t *send_header; /* [bytes, flags] per peer */
  int32_t *recv_header;
  int *recv_counts;
  int *recv_displs;
  unsigned char *recv_buffer;
  size_t recv_capacity;
  size_t recv_total;
  mpimr_request_group counts_group;
  mpimr_request_group data_group;
  int phase;
  double sealed_at; /* for the trace */
  double data_posted_at;
} round_slot;

struct shuffle {
  mpimr_future driver; /* First, so the driver's poll function finds its shuffle. */
  MPI_Comm control_comm;
  MPI_Comm data_comm;
  int rank;
  int nranks;
  int depth;
  int nslots;
  round_slot *slots;
  uint64_t next_round;          /* The round the fill set will be sent as. */
  uint64_t data_posted_through; /* Rounds below this have their data exchange posted. */
  uint64_t oldest_round;        /* Rounds below this are received and their slots free. */
  int map_finished;
  int final_sent;
  int terminal_known;
  uint64_t last_round;
  int local_error;
  int remote_error;
  int broken; /* An MPI call failed: the protocol cannot stay in step any more. */
  mpimr_future *progress_waiter;
  shuffle_receive_fn receive;
  void *receive_context;
  shuffle_counters counters;
  trace *trace;
  char detail[256];
};

static round_slot *slot_of(shuffle *sh, uint64_t round) { return &sh->slots[round % (uint64_t)sh->nslots]; }

static uint64_t rounds_in_flight(const shuffle *sh) { return sh->next_round - sh->oldest_round; }

static void fail_locally(shuffle *sh, int status, const char *what) {
  if (sh->local_error != MPIMR_OK) return;
  sh->local_error = status;
  snprintf(sh->detail, sizeof sh->detail, "shuffle: %s: %s", what, mpimr_strerror(status));
}

static void fail_mpi(shuffle *sh, const char *call, int mpi_error) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(mpi_error, text, &length) != MPI_SUCCESS)
    snprintf(text, sizeof text, "code %d", mpi_error);
  sh->broken = 1;
  if (sh->local_error == MPIMR_OK) {
    sh->local_error = MPIMR_ERR_MPI;
    snprintf(sh->detail, sizeof sh->detail, "shuffle: %s failed: %.150s", call, text);
  }
}

static void slot_destroy(round_slot *slot) {
  send_set_destroy(&slot->send);
  free(slot->send_header);
  free(slot->recv_header);
  free(slot->recv_counts);
  free(slot->recv_displs);
  free(slot->recv_buffer);
}

static int slot_init(round_slot *slot, int nranks, size_t round_bytes) {
  memset(slot, 0, sizeof *slot);
  int rc = send_set_init(&slot->send, nranks, round_bytes);
  if (rc != MPIMR_OK) return rc;
  slot->send_header = malloc(sizeof(int32_t) * 2 * (size_t)nranks);
  slot->recv_header = malloc(sizeof(int32_t) * 2 * (size_t)nranks);
  slot->recv_counts = malloc(sizeof(int) * (size_t)nranks);
  slot->recv_displs = malloc(sizeof(int) * (size_t)nranks);
  if (!slot->send_header || !slot->recv_header || !slot->recv_counts || !slot->recv_displs)
    return MPIMR_ERR_NOMEM;
  return MPIMR_OK;
}

static mpimr_poll_result driver_poll(mpimr_future *self, mpimr_executor *ex);

int shuffle_create(shuffle **out, MPI_Comm comm, int depth, size_t round_bytes, shuffle_receive_fn receive,
                   void *context) {
  *out = NULL;
  if (depth < 1 || round_bytes > ((size_t)1 << 30)) return MPIMR_ERR_INVAL;
  shuffle *sh = calloc(1, sizeof *sh);
  if (sh == NULL) return MPIMR_ERR_NOMEM;
  sh->control_comm = sh->data_comm = MPI_COMM_NULL;
  if (MPI_Comm_dup(comm, &sh->control_comm) != MPI_SUCCESS ||
      MPI_Comm_dup(comm, &sh->data_comm) != MPI_SUCCESS) {
    shuffle_free(sh);
    return MPIMR_ERR_MPI;
  }
  MPI_Comm_set_errhandler(sh->control_comm, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(sh->data_comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm, &sh->rank);
  MPI_Comm_size(comm, &sh->nranks);
  sh->depth = depth;
  sh->nslots = depth + 1;
  sh->receive = receive;
  sh->receive_context = context;
  mpimr_future_init(&sh->driver, driver_poll);
  sh->slots = calloc((size_t)sh->nslots, sizeof *sh->slots);
  int rc = sh->slots ? MPIMR_OK : MPIMR_ERR_NOMEM;
  for (int i = 0; i < sh->nslots && rc == MPIMR_OK; i++)
    rc = slot_init(&sh->slots[i], sh->nranks, round_bytes);
  if (rc != MPIMR_OK) {
    shuffle_free(sh);
    return rc;
  }
  *out = sh;
  return MPIMR_OK;
}

void shuffle_free(shuffle *sh) {
  if (sh == NULL) return;
  if (sh->slots)
    for (int i = 0; i < sh->nslots; i++) slot_destroy(&sh->slots[i]);
  free(sh->slots);
  if (sh->control_comm != MPI_COMM_NULL) MPI_Comm_free(&sh->control_comm);
  if (sh->data_comm != MPI_COMM_NULL) MPI_Comm_free(&sh->data_comm);
  free(sh);
}

mpimr_future *shuffle_driver(shuffle *sh) { return &sh->driver; }

send_set *shuffle_fill_set(shuffle *sh) { return &slot_of(sh, sh->next_round)->send; }

int shuffle_can_seal(const shuffle *sh) { return rounds_in_flight(sh) < (uint64_t)sh->depth; }

int shuffle_status(const shuffle *sh) {
  return sh->local_error != MPIMR_OK ? sh->local_error : sh->remote_error;
}

const char *shuffle_error_detail(const shuffle *sh) { return sh->detail; }

const shuffle_counters *shuffle_get_counters(const shuffle *sh) { return &sh->counters; }

void shuffle_set_trace(shuffle *sh, trace *t) { sh->trace = t; }

void shuffle_wake_on_progress(shuffle *sh, mpimr_future *waiter) { sh->progress_waiter = waiter; }

int shuffle_seal(shuffle *sh, mpimr_executor *ex) {
  if (sh->broken) return shuffle_status(sh);
  /* Once the end is agreed, no rank may post past it. */
  if (sh->terminal_known && sh->next_round > sh->last_round) return shuffle_status(sh);
  if (!shuffle_can_seal(sh)) return MPIMR_ERR_STATE;
  round_slot *slot = slot_of(sh, sh->next_round);
  int32_t flags = (sh->map_finished ? HEADER_FINAL : 0) | (sh->local_error ? HEADER_ERROR | HEADER_FINAL : 0);
  for (int d = 0; d < sh->nranks; d++) {
    slot->send_header[2 * d] = slot->send.lengths[d];
    slot->send_header[2 * d + 1] = flags;
  }
  MPI_Request request;
  int mpi_rc = MPI_Ialltoall(slot->send_header, 2, MPI_INT32_T, slot->recv_header, 2, MPI_INT32_T,
                             sh->control_comm, &request);
  if (mpi_rc != MPI_SUCCESS) {
    fail_mpi(sh, "MPI_Ialltoall", mpi_rc);
    return MPIMR_ERR_MPI;
  }
  int rc = mpimr_future_await_requests(ex, &sh->driver, &slot->counts_group, &request, 1);
  if (rc != MPIMR_OK) {
    /* The reactor cannot hold the request: wait for it here rather than lose it. */
    MPI_Wait(&request, MPI_STATUS_IGNORE);
    slot->counts_group.remaining = 0;
    fail_locally(sh, rc, "registering a request");
    mpimr_future_wake(ex, &sh->driver);
  }
  if (flags & HEADER_FINAL) sh->final_sent = 1;
  slot->phase = SLOT_COUNTS;
  if (sh->trace) slot->sealed_at = clock_now();
  sh->counters.rounds++;
  sh->counters.bytes_sent += slot->send.total;
  sh->counters.pairs_sent += slot->send.pairs;
  sh->next_round++;
  return MPIMR_OK;
}

void shuffle_finish_map(shuffle *sh, mpimr_executor *ex, int status) {
  sh->map_finished = 1;
  if (status != MPIMR_OK && status != MPIMR_ERR_REMOTE) fail_locally(sh, status, "map");
  mpimr_future_wake(ex, &sh->driver);
}

/* Reads the headers of round `round`, settles the end if this round decides it, posts the data. */
static void handle_counts(shuffle *sh, mpimr_executor *ex, round_slot *slot, uint64_t round) {
  if (slot->counts_group.error != MPI_SUCCESS) {
    fail_mpi(sh, "MPI_Ialltoall (round header)", slot->counts_group.error);
    return;
  }
  int all_final = 1, any_error = 0;
  size_t total = 0;
  for (int s = 0; s < sh->nranks; s++) {
    int32_t bytes = slot->recv_header[2 * s], flags = slot->recv_header[2 * s + 1];
    all_final &= (flags & HEADER_FINAL) != 0;
    any_error |= (flags & HEADER_ERROR) != 0;
    slot->recv_counts[s] = bytes;
    slot->recv_displs[s] = (int)total;
    total += (size_t)(bytes < 0 ? 0 : bytes);
    if (bytes < 0 || total > INT_MAX) {
      fail_locally(sh, MPIMR_ERR_TOO_LARGE, "a round's received bytes exceed 2 GiB");
      sh->broken = 1;
      return;
    }
  }
  if (!sh->terminal_known && any_error) {
    sh->terminal_known = 1;
    sh->last_round = round + (uint64_t)sh->depth - 1;
    if (sh->local_error == MPIMR_OK) sh->remote_error = MPIMR_ERR_REMOTE;
  } else if (!sh->terminal_known && all_final) {
    sh->terminal_known = 1;
    sh->last_round = round;
  }
  if (total > slot->recv_capacity) {
    free(slot->recv_buffer);
    slot->recv_buffer = malloc(total);
    slot->recv_capacity = slot->recv_buffer ? total : 0;
    if (slot->recv_buffer == NULL) {
      /* Without a buffer the data exchange cannot be posted, and every rank waits on it. */
      fail_locally(sh, MPIMR_ERR_NOMEM, "allocating a receive buffer");
      sh->broken = 1;
      return;
    }
  }
  slot->recv_total = total;
  if (sh->trace) {
    slot->data_posted_at = clock_now();
    trace_span(sh->trace, TRACE_ROUND_HEADER, slot->sealed_at, slot->data_posted_at, round);
  }
  MPI_Request request;
  int mpi_rc =
      MPI_Ialltoallv(slot->send.buffer, slot->send.lengths, slot->send.offsets, MPI_BYTE, slot->recv_buffer,
                     slot->recv_counts, slot->recv_displs, MPI_BYTE, sh->data_comm, &request);
  if (mpi_rc != MPI_SUCCESS) {
    fail_mpi(sh, "MPI_Ialltoallv", mpi_rc);
    return;
  }
  if (mpimr_future_await_requests(ex, &sh->driver, &slot->data_group, &request, 1) != MPIMR_OK) {
    MPI_Wait(&request, MPI_STATUS_IGNORE);
    slot->data_group.remaining = 0;
    fail_locally(sh, MPIMR_ERR_NOMEM, "registering a request");
  }
  slot->phase = SLOT_DATA;
}

/* Hands a received round to the job (unless the job is failing) and frees its slot. */
static void handle_data(shuffle *sh, round_slot *slot) {
  if (slot->data_group.error != MPI_SUCCESS) {
    fail_mpi(sh, "MPI_Ialltoallv (round data)", slot->data_group.error);
    return;
  }
  sh->counters.bytes_received += slot->recv_total;
  double received_at = sh->trace ? clock_now() : 0;
  if (sh->trace) trace_span(sh->trace, TRACE_ROUND_DATA, slot->data_posted_at, received_at, sh->oldest_round);
  if (shuffle_status(sh) == MPIMR_OK && slot->recv_total > 0) {
    int kept = 0;
    int rc = sh->receive(sh->receive_context, slot->recv_buffer, slot->recv_total, &kept);
    if (sh->trace) trace_span(sh->trace, TRACE_FOLD_ROUND, received_at, clock_now(), sh->oldest_round);
    if (kept) {
      slot->recv_buffer = NULL;
      slot->recv_capacity = 0;
    }
    if (rc != MPIMR_OK) fail_locally(sh, rc, "receiving a round");
  }
  int rc = send_set_reset(&slot->send);
  if (rc != MPIMR_OK) fail_locally(sh, rc, "resetting a send buffer");
  slot->phase = SLOT_FILLING;
}

/* After map, the driver sends what is left, then empty rounds until the end is agreed. */
static int seal_after_map(shuffle *sh, mpimr_executor *ex) {
  if (!sh->map_finished || !shuffle_can_seal(sh)) return 0;
  int needed;
  if (sh->terminal_known)
    needed = sh->next_round <= sh->last_round;
  else
    needed = !sh->final_sent || rounds_in_flight(sh) == 0;
  if (!needed) return 0;
  shuffle_seal(sh, ex);
  return 1;
}

static mpimr_poll_result driver_poll(mpimr_future *self, mpimr_executor *ex) {
  shuffle *sh = (shuffle *)self;
  for (;;) {
    int progressed = 0;
    while (!sh->broken && sh->data_posted_through < sh->next_round) {
      round_slot *slot = slot_of(sh, sh->data_posted_through);
      if (slot->counts_group.remaining > 0) break;
      handle_counts(sh, ex, slot, sh->data_posted_through);
      sh->data_posted_through++;
      progressed = 1;
    }
    while (!sh->broken && sh->oldest_round < sh->data_posted_through) {
      round_slot *slot = slot_of(sh, sh->oldest_round);
      if (slot->data_group.remaining > 0) break;
      handle_data(sh, slot);
      sh->oldest_round++;
      progressed = 1;
    }
    if (sh->broken) {
      /* Requests still in the reactor are freed with the executor; nothing here can finish them. */
      self->result = shuffle_status(sh);
      if (sh->progress_waiter) mpimr_future_wake(ex, sh->progress_waiter);
      return MPIMR_READY;
    }
    if (!sh->broken) progressed |= seal_after_map(sh, ex);
    if (progressed && sh->progress_waiter) {
      mpimr_future *waiter = sh->progress_waiter;
      sh->progress_waiter = NULL;
      mpimr_future_wake(ex, waiter);
    }
    if (sh->terminal_known && sh->oldest_round > sh->last_round) {
      self->result = shuffle_status(sh);
      return MPIMR_READY;
    }
    if (!progressed) return MPIMR_PENDING;
  }
}
