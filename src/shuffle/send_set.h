/*
 * shuffle/send_set.h — the buffer one shuffle round sends from.
 *
 * One contiguous buffer holds a region per destination rank, so a round is a
 * single MPI_Ialltoallv (displacements index the buffer). Regions are handed
 * out by a bump pointer and need not be in rank order: every region starts
 * at round/(2·nranks), and a region that fills is moved to the free space
 * at the end with twice its room, so skewed destinations get the space
 * without reserving it for every rank. When the round's size is used up,
 * the set is full and its round should be sent; a pair that does not fit a
 * full set still goes in (the buffer grows, and keeps growth of up to the
 * round size for later rounds), so emit never has to wait. Sizes are
 * size_t: a set is bounded by memory (or its home), not by MPI's int counts;
 * the transports cut what MPI cannot take in one message (transport.h).
 *
 * A set may live in a home it does not own: a reserved range of memory
 * (the rank's shared segment, see node_memory.h) whose pages are taken only
 * when written. It then grows in place, never moves, and gives back the
 * pages of an overrun on reset.
 */
#ifndef MPIMR_SHUFFLE_SEND_SET_H
#define MPIMR_SHUFFLE_SEND_SET_H

#include <stddef.h>
#include <stdint.h>

typedef struct send_set {
  unsigned char *buffer;
  size_t capacity;         /**< Bytes allocated (in a home: the bytes it may use now). */
  size_t home_bytes;       /**< In a home: its size, the most the set can grow to; 0 otherwise. */
  size_t nominal_capacity; /**< The round size; capacity returns to it on reset. */
  size_t bump;             /**< First byte not yet given to a region. */
  int nranks;
  size_t *offsets; /**< Region start per destination. */
  size_t *lengths; /**< Bytes used per destination. */
  size_t *room;    /**< Region capacity per destination. */
  size_t total;    /**< Sum of lengths. */
  uint64_t pairs;  /**< Pairs in the set. */
  int full;        /**< Set when a region could not double within the buffer: send the round now. */
} send_set;

/** A set for `nranks` destinations with `round_bytes` of room. Returns MPIMR_OK or NOMEM/TOO_LARGE. */
int send_set_init(send_set *s, int nranks, size_t round_bytes);

/**
 * As send_set_init(), but the set lives in `home` (page-aligned, `home_bytes`
 * long, at least `round_bytes`), which stays the caller's: the set never
 * frees or moves it, and fails to grow beyond it. A NULL home is
 * send_set_init().
 */
int send_set_init_in(send_set *s, int nranks, size_t round_bytes, unsigned char *home, size_t home_bytes);

/** Frees the set's memory (not its home). */
void send_set_destroy(send_set *s);

/**
 * Empties the set and lays out uniform regions again over the nominal
 * capacity. A buffer that grew to more than twice the round size is shrunk
 * back (in a home: the pages past the round size are given back); one that
 * grew less is kept (the next round will overrun it too).
 */
int send_set_reset(send_set *s);

/**
 * Lays the set out with regions of exactly `lengths[d]` bytes (whose sum is
 * `total`), growing the buffer if needed; lengths are set to zero, ready for
 * send_set_reserve(). Used to drain a combining table without waste.
 */
int send_set_layout_exact(send_set *s, const size_t *lengths, size_t total);

/**
 * Returns room for `bytes` more bytes in `dest`'s region, moving or growing
 * as described above; the caller writes exactly `bytes` there. NULL on
 * allocation failure, or in a home if the set would pass the home's end.
 */
unsigned char *send_set_reserve_slow(send_set *s, int dest, size_t bytes);

static inline unsigned char *send_set_reserve(send_set *s, int dest, size_t bytes) {
  if (s->room[dest] - s->lengths[dest] >= bytes) {
    unsigned char *at = s->buffer + s->offsets[dest] + s->lengths[dest];
    s->lengths[dest] += bytes;
    s->total += bytes;
    return at;
  }
  return send_set_reserve_slow(s, dest, bytes);
}

#endif
