/*
 * shuffle/transport_pairwise.c — MPIMR_TRANSPORT_PAIRWISE: a round's bytes
 * as MPI_Isend/MPI_Irecv to and from only the peers whose headers say they
 * have bytes, at most `places` sends and `places` receives outstanding over
 * all rounds in flight. Sends go to rank+1, rank+2, ... (mod P) and
 * receives come from rank-1, rank-2, ..., so at each step every rank
 * targets a different peer; a round's own bytes are copied locally once its
 * first messages are posted (so the peers move theirs meanwhile). Every
 * request has its own request group, so the reactor wakes the driver per
 * completion and the driver refills the window. A block larger than the
 * shuffle's message limit goes as consecutive messages of at most the limit
 * each, posted in order on both ends. The windows are shared with
 * the shared-memory transport (transport.h), which sends no message to a
 * peer that reads this rank's memory.
 */
#include <stdlib.h>
#include <string.h>

#include "mpimr/error.h"
#include "shuffle/transport.h"

/* One place in a pairwise window: a request of its own group, so each completion wakes the driver. */
typedef struct peer_request {
  mpimr_request_group group;
  MPI_Request held; /* Only when the reactor could not take the request: the driver tests it. */
  uint64_t round;
  int busy;
} peer_request;

SHUFFLE_COLD int pairwise_windows_init(shuffle *sh, pairwise_windows *w, int requested) {
  /* No more than depth rounds' worth of peers can ever be outstanding: room beyond that is waste. */
  long places = requested > 0 ? requested : SHUFFLE_DEFAULT_PEER_WINDOW;
  long most = (long)sh->depth * (sh->nranks > 1 ? sh->nranks - 1 : 1);
  if (places > most) places = most;
  w->places = (int)places;
  sh->peer_window = w->places;
  w->send_window = calloc((size_t)places, sizeof *w->send_window);
  w->recv_window = calloc((size_t)places, sizeof *w->recv_window);
  /* Before any failure: pairwise_windows_destroy() frees every place whose `held` is a request. */
  for (long i = 0; i < places; i++) {
    if (w->send_window) w->send_window[i].held = MPI_REQUEST_NULL;
    if (w->recv_window) w->recv_window[i].held = MPI_REQUEST_NULL;
  }
  return w->send_window && w->recv_window ? MPIMR_OK : MPIMR_ERR_NOMEM;
}

SHUFFLE_COLD void pairwise_windows_destroy(pairwise_windows *w) {
  /* A held request still pending belongs to a broken shuffle whose peers are being aborted. */
  for (int i = 0; i < w->places; i++) {
    if (w->send_window && w->send_window[i].held != MPI_REQUEST_NULL)
      MPI_Request_free(&w->send_window[i].held);
    if (w->recv_window && w->recv_window[i].held != MPI_REQUEST_NULL)
      MPI_Request_free(&w->recv_window[i].held);
  }
  free(w->send_window);
  free(w->recv_window);
}

/* The windows: at the start of the transport's state. */
static pairwise_windows *windows_of(const shuffle *sh) { return sh->transport_state; }

static pairwise_round *round_of(const shuffle *sh, uint64_t round) {
  return &shuffle_slot_of(sh, round)->pairwise;
}

void pairwise_start_round(const shuffle *sh, round_slot *slot, int copy_own, int messages) {
  pairwise_round *r = &slot->pairwise;
  r->next_send_distance = r->next_recv_distance = messages ? 1 : sh->nranks;
  r->send_posted = r->recv_posted = 0;
  r->requests_outstanding = 0;
  r->own_bytes_pending = copy_own;
}

/* Copies the rank's own bytes of every round that still needs it; returns how many rounds. */
static int copy_own_bytes(shuffle *sh) {
  int copied = 0;
  for (uint64_t round = sh->oldest_round; round < sh->data_posted_through; round++) {
    round_slot *slot = shuffle_slot_of(sh, round);
    pairwise_round *r = &slot->pairwise;
    if (!r->own_bytes_pending) continue;
    size_t own = slot->recv_counts[sh->rank];
    if (own > 0)
      memcpy(slot->recv_buffer + slot->recv_displs[sh->rank],
             slot->send.buffer + slot->send.offsets[sh->rank], own);
    r->own_bytes_pending = 0;
    copied++;
  }
  return copied;
}

/*
 * Puts one message of round `round`, to or from `peer`, in a free window
 * place: `bytes` (at most the message limit) from `skip` bytes into the
 * peer's block. Returns 0, or -1 if MPI refused it (the shuffle is then broken).
 */
static int post_peer_message(shuffle *sh, pairwise_windows *w, mpimr_executor *ex, peer_request *place,
                             int sending, uint64_t round, int peer, size_t skip, size_t bytes) {
  round_slot *slot = shuffle_slot_of(sh, round);
  int tag = (int)(round % SHUFFLE_TAG_CYCLE);
  MPI_Request request;
  int mpi_rc = sending ? MPI_Isend(slot->send.buffer + slot->send.offsets[peer] + skip, (int)bytes, MPI_BYTE,
                                   peer, tag, sh->data_comm, &request)
                       : MPI_Irecv(slot->recv_buffer + slot->recv_displs[peer] + skip, (int)bytes, MPI_BYTE,
                                   peer, tag, sh->data_comm, &request);
  if (mpi_rc != MPI_SUCCESS) {
    shuffle_fail_mpi(sh, sending ? "MPI_Isend" : "MPI_Irecv", mpi_rc);
    return -1;
  }
  place->busy = 1;
  place->round = round;
  slot->pairwise.requests_outstanding++;
  if (mpimr_future_await_requests(ex, &sh->driver, &place->group, &request, 1) != MPIMR_OK) {
    /* The reactor is out of memory. Test the request from the driver instead: the round must
     * still complete, or the peers would wait for it forever. */
    place->held = request;
    place->group.remaining = 1;
    place->group.error = MPI_SUCCESS;
    w->held_requests++;
    shuffle_fail_locally(sh, MPIMR_ERR_NOMEM, "registering a request");
  }
  return 0;
}

/* Tests a request the reactor could not take; marks its place's group done when it is. */
SHUFFLE_COLD static void test_held(pairwise_windows *w, peer_request *place) {
  int done = 0;
  int mpi_rc = MPI_Test(&place->held, &done, MPI_STATUS_IGNORE);
  if (mpi_rc != MPI_SUCCESS) {
    /* MPI leaves a request that failed allocated. */
    if (place->held != MPI_REQUEST_NULL) MPI_Request_free(&place->held);
    place->group.error = mpi_rc;
    done = 1;
  }
  if (!done) return;
  place->held = MPI_REQUEST_NULL;
  place->group.remaining = 0;
  w->held_requests--;
}

/* Frees the window places whose requests have completed; returns how many. */
static int reap_window(shuffle *sh, pairwise_windows *w, peer_request *window, const char *call) {
  int reaped = 0;
  for (int i = 0; i < w->places; i++) {
    peer_request *place = &window[i];
    if (!place->busy) continue;
    if (place->held != MPI_REQUEST_NULL) test_held(w, place);
    if (place->group.remaining > 0) continue;
    place->busy = 0;
    round_of(sh, place->round)->requests_outstanding--;
    if (place->group.error != MPI_SUCCESS) shuffle_fail_mpi(sh, call, place->group.error);
    reaped++;
  }
  return reaped;
}

/* The bytes of `slot`'s round that go to `peer` as a message (not read from this rank's home). */
static size_t message_bytes_to(const shuffle *sh, const round_slot *slot, int peer) {
  return node_memory_shares_with(&sh->node, peer) ? 0 : slot->send.lengths[peer];
}

/*
 * Posts the next messages of the rounds whose data phase has begun, oldest
 * round first, peers by distance and a block's pieces in order, while the
 * window has room. Every rank orders its sends and its receives by the same
 * key (round, distance, piece), so the message with the smallest key still
 * pending always has both its send and its receive posted: a window of any
 * width cannot deadlock.
 */
static int refill_window(shuffle *sh, pairwise_windows *w, mpimr_executor *ex, int sending) {
  peer_request *window = sending ? w->send_window : w->recv_window;
  int posted = 0, place = 0;
  for (uint64_t round = sh->oldest_round; round < sh->data_posted_through; round++) {
    round_slot *slot = shuffle_slot_of(sh, round);
    pairwise_round *r = &slot->pairwise;
    int *distance = sending ? &r->next_send_distance : &r->next_recv_distance;
    size_t *done = sending ? &r->send_posted : &r->recv_posted;
    for (; *distance < sh->nranks; (*distance)++, *done = 0) {
      int peer =
          sending ? (sh->rank + *distance) % sh->nranks : (sh->rank - *distance + sh->nranks) % sh->nranks;
      size_t bytes = sending ? message_bytes_to(sh, slot, peer) : slot->recv_counts[peer];
      while (*done < bytes) {
        while (place < w->places && window[place].busy) place++;
        if (place == w->places) return posted;
        size_t piece = bytes - *done < sh->message_limit ? bytes - *done : sh->message_limit;
        if (post_peer_message(sh, w, ex, &window[place], sending, round, peer, *done, piece) != 0)
          return posted;
        *done += piece;
        posted++;
      }
    }
  }
  return posted;
}

/* Reaps completed messages and posts the next; returns non-zero if anything changed. */
int pairwise_progress(shuffle *sh, mpimr_executor *ex) {
  /* Every round in flight through (a round whose bytes are all read in place moves no message):
   * no place is busy and nothing is left to post or copy. */
  uint64_t round = sh->oldest_round;
  while (round < sh->data_posted_through && pairwise_round_done(sh, shuffle_slot_of(sh, round))) round++;
  if (round == sh->data_posted_through) return 0;
  pairwise_windows *w = windows_of(sh);
  int changed = reap_window(sh, w, w->recv_window, "MPI_Irecv (round data)");
  changed += reap_window(sh, w, w->send_window, "MPI_Isend (round data)");
  if (sh->broken) return changed;
  /* Receives first: a large message's send completes only once its receive is posted. */
  changed += refill_window(sh, w, ex, 0);
  if (!sh->broken) changed += refill_window(sh, w, ex, 1);
  /* The local copy comes last: the peers can already be moving their bytes while it runs. */
  if (!sh->broken) changed += copy_own_bytes(sh);
  return changed;
}

int pairwise_round_done(shuffle *sh, round_slot *slot) {
  const pairwise_round *r = &slot->pairwise;
  return r->next_send_distance >= sh->nranks && r->next_recv_distance >= sh->nranks &&
         r->requests_outstanding == 0 && !r->own_bytes_pending;
}

void pairwise_idle(shuffle *sh, mpimr_executor *ex) {
  /* Requests the reactor could not take are tested here, so the driver keeps itself awake. */
  if (windows_of(sh)->held_requests > 0) mpimr_future_wake(ex, &sh->driver);
}

/* The transport on its own: its state is the windows, and it copies the rank's own bytes. */

SHUFFLE_COLD static int create(shuffle *sh, const shuffle_options *options) {
  pairwise_windows *w = calloc(1, sizeof *w);
  sh->transport_state = w;
  return w ? pairwise_windows_init(sh, w, options->peer_window) : MPIMR_ERR_NOMEM;
}

SHUFFLE_COLD static void destroy(shuffle *sh) {
  if (sh->transport_state == NULL) return;
  pairwise_windows_destroy(sh->transport_state);
  free(sh->transport_state);
}

static void post_round(shuffle *sh, mpimr_executor *ex, round_slot *slot) {
  (void)ex;
  pairwise_start_round(sh, slot, 1, 1);
}

/* clang-format off */
const shuffle_transport_ops pairwise_transport = {
    .name = "pairwise", .create = create, .destroy = destroy, .post_round = post_round,
    .progress = pairwise_progress, .round_done = pairwise_round_done, .idle = pairwise_idle};
/* clang-format on */
