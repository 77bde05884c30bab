/* shuffle/send_set.c — per-destination regions in one round buffer; see send_set.h. */
#include "shuffle/send_set.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mpimr/error.h"
#include "util/pages.h"

/* Regions start at no less than this, so tiny rounds at large rank counts still batch. */
enum { MIN_REGION_BYTES = 256 };

static void layout_uniform(send_set *s) {
  size_t region = s->nominal_capacity / (2 * (size_t)s->nranks);
  if (region < MIN_REGION_BYTES) region = MIN_REGION_BYTES;
  if (region * (size_t)s->nranks > s->capacity) region = s->capacity / (size_t)s->nranks;
  for (int d = 0; d < s->nranks; d++) {
    s->offsets[d] = region * (size_t)d;
    s->room[d] = region;
    s->lengths[d] = 0;
  }
  s->bump = region * (size_t)s->nranks;
  s->total = 0;
  s->pairs = 0;
  s->full = 0;
}

int send_set_init_in(send_set *s, int nranks, size_t round_bytes, unsigned char *home, size_t home_bytes) {
  memset(s, 0, sizeof *s);
  size_t minimum = (size_t)nranks * MIN_REGION_BYTES * 2;
  if (round_bytes < minimum) round_bytes = minimum;
  if (home != NULL && round_bytes > home_bytes) return MPIMR_ERR_TOO_LARGE;
  s->nranks = nranks;
  s->nominal_capacity = s->capacity = round_bytes;
  s->home_bytes = home ? home_bytes : 0;
  s->buffer = home ? home : malloc(round_bytes);
  s->offsets = malloc(sizeof(size_t) * (size_t)nranks);
  s->lengths = malloc(sizeof(size_t) * (size_t)nranks);
  s->room = malloc(sizeof(size_t) * (size_t)nranks);
  if (!s->buffer || !s->offsets || !s->lengths || !s->room) {
    send_set_destroy(s);
    return MPIMR_ERR_NOMEM;
  }
  layout_uniform(s);
  return MPIMR_OK;
}

int send_set_init(send_set *s, int nranks, size_t round_bytes) {
  return send_set_init_in(s, nranks, round_bytes, NULL, 0);
}

void send_set_destroy(send_set *s) {
  if (s->home_bytes == 0) free(s->buffer);
  free(s->offsets);
  free(s->lengths);
  free(s->room);
  memset(s, 0, sizeof *s);
}

/* In a home: returns the pages past the round size to the system and the set to its round size. */
static void give_back_pages(send_set *s) {
  size_t keep = pages_round_up(s->nominal_capacity);
  /* Only a hint: if the system keeps the pages, the next overrun reuses them. */
  if (s->capacity > keep) (void)madvise(s->buffer + keep, s->capacity - keep, MADV_REMOVE);
  s->capacity = s->nominal_capacity;
}

int send_set_reset(send_set *s) {
  /* A set that overran its round by less than the round itself (a slice of map output that went
   * on after the set filled, as a block of records does) keeps its buffer for the next round:
   * giving it back costs a reallocation and a copy of the round every time. A burst beyond that
   * (one huge record) is given back. */
  if (s->capacity > 2 * s->nominal_capacity) {
    if (s->home_bytes > 0) {
      give_back_pages(s);
    } else {
      unsigned char *smaller = malloc(s->nominal_capacity);
      if (smaller == NULL) return MPIMR_ERR_NOMEM;
      free(s->buffer);
      s->buffer = smaller;
      s->capacity = s->nominal_capacity;
    }
  }
  layout_uniform(s);
  return MPIMR_OK;
}

static int grow_buffer(send_set *s, size_t needed) {
  if (needed <= s->capacity) return 0;
  size_t capacity = s->capacity + s->capacity / 4;
  if (capacity < needed) capacity = needed;
  if (s->home_bytes > 0 && capacity > s->home_bytes) capacity = s->home_bytes;
  if (needed > capacity) return -1;
  if (s->home_bytes > 0) {
    /* The home is already reserved: growing is taking more of it. */
    s->capacity = capacity;
    return 0;
  }
  unsigned char *grown = realloc(s->buffer, capacity);
  if (grown == NULL) return -1;
  s->buffer = grown;
  s->capacity = capacity;
  return 0;
}

int send_set_layout_exact(send_set *s, const size_t *lengths, size_t total) {
  if (grow_buffer(s, total) != 0) return MPIMR_ERR_NOMEM;
  size_t offset = 0;
  for (int d = 0; d < s->nranks; d++) {
    s->offsets[d] = offset;
    s->room[d] = lengths[d];
    s->lengths[d] = 0;
    offset += lengths[d];
  }
  s->bump = offset;
  s->total = 0;
  s->pairs = 0;
  s->full = 0;
  return MPIMR_OK;
}

unsigned char *send_set_reserve_slow(send_set *s, int dest, size_t bytes) {
  size_t used = s->lengths[dest];
  size_t room = s->room[dest] * 2;
  if (room < used + bytes) room = used + bytes;
  /* The last region handed out grows where it is; any other moves to the end. */
  int last = s->offsets[dest] + s->room[dest] == s->bump;
  size_t start = last ? s->offsets[dest] : s->bump;
  if (start + room > s->nominal_capacity) {
    /* The set is out of its round's space: this round should go. The rest of the record's pairs still go in:
     * the region grows by a quarter at a time, so it moves only a few times and the buffer ends
     * little larger than it must. */
    s->full = 1;
    room = used + (used / 4 > bytes ? used / 4 : bytes);
    if (start + room > s->capacity && grow_buffer(s, start + room) != 0) return NULL;
  }
  if (!last) memmove(s->buffer + start, s->buffer + s->offsets[dest], used);
  s->offsets[dest] = start;
  s->bump = start;
  s->room[dest] = room;
  s->bump += room;
  unsigned char *at = s->buffer + s->offsets[dest] + used;
  s->lengths[dest] += bytes;
  s->total += bytes;
  return at;
}
