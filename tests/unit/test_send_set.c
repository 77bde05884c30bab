/*
 * tests/unit/test_send_set.c — the per-destination regions of one shuffle
 * round buffer (shuffle/send_set.h).
 *
 * The test keeps its own copy of what each destination was given (a
 * per-destination byte pattern and length) and after every reserve checks
 * the set against it: bytes intact across region moves and buffer growth,
 * regions disjoint and inside the buffer, MPI counts and displacements
 * consistent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <sys/mman.h>

#include "../common/test_rng.h"
#include "mpimr/error.h"
#include "shuffle/send_set.h"

static test_rng rng = {0xabad1deadeadbeefull};

static size_t rng_below(size_t n) { return test_rng_below(&rng, n); }

/* The byte at position `at` of destination `dest`'s data. */
static unsigned char pattern(int dest, size_t at) {
  return (unsigned char)((unsigned)dest * 131u + (unsigned)(at * 7u) + (unsigned)(at >> 8) + 1u);
}

typedef struct region_extent {
  size_t offset;
  size_t room;
} region_extent;

static int compare_regions(const void *a, const void *b) {
  const region_extent *x = a, *y = b;
  return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Checks the set against `lengths` (the bytes the test wrote per destination). */
static void check_set(const send_set *s, const size_t *lengths) {
  size_t total = 0;
  region_extent regions[256];
  assert_true(s->nranks <= 256);
  assert_true(s->bump <= s->capacity);
  for (int d = 0; d < s->nranks; d++) {
    assert_int_equal(s->lengths[d], lengths[d]);
    assert_true(s->lengths[d] <= s->room[d]);
    /* offsets + lengths (what MPI reads) and the whole region lie inside the buffer and the bump. */
    assert_true(s->offsets[d] + s->lengths[d] <= s->capacity);
    assert_true(s->offsets[d] + s->room[d] <= s->bump);
    for (size_t i = 0; i < lengths[d]; i++) {
      if (s->buffer[s->offsets[d] + i] != pattern(d, i)) {
        print_error("destination %d: byte %zu of %zu is wrong\n", d, i, lengths[d]);
        fail();
      }
    }
    total += lengths[d];
    regions[d] = (region_extent){s->offsets[d], s->room[d]};
  }
  assert_int_equal(s->total, total);
  /* Regions do not overlap. */
  qsort(regions, (size_t)s->nranks, sizeof regions[0], compare_regions);
  for (int d = 1; d < s->nranks; d++)
    assert_true(regions[d - 1].offset + regions[d - 1].room <= regions[d].offset);
}

/* Reserves `bytes` for `dest` and writes the destination's pattern there. */
static void put(send_set *s, size_t *lengths, int dest, size_t bytes) {
  unsigned char *at = send_set_reserve(s, dest, bytes);
  assert_non_null(at);
  /* The bytes go right after the destination's previous bytes. */
  assert_ptr_equal(at, s->buffer + s->offsets[dest] + lengths[dest]);
  for (size_t i = 0; i < bytes; i++) at[i] = pattern(dest, lengths[dest] + i);
  lengths[dest] += bytes;
}

static void check_uniform_empty(const send_set *s) {
  size_t zero[256] = {0};
  check_set(s, zero);
  assert_int_equal(s->total, 0);
  assert_int_equal(s->pairs, 0);
  assert_int_equal(s->full, 0);
  for (int d = 1; d < s->nranks; d++) assert_int_equal(s->room[d], s->room[0]);
  assert_true(s->room[0] > 0);
}

static void test_init_layout(void **state) {
  (void)state;
  const int ranks[] = {1, 2, 3, 7, 64};
  const size_t rounds[] = {1, 4096, 1 << 20};
  for (size_t r = 0; r < sizeof ranks / sizeof ranks[0]; r++) {
    for (size_t b = 0; b < sizeof rounds / sizeof rounds[0]; b++) {
      send_set s;
      assert_int_equal(send_set_init(&s, ranks[r], rounds[b]), MPIMR_OK);
      assert_true(s.capacity >= rounds[b]);
      assert_int_equal(s.capacity, s.nominal_capacity);
      check_uniform_empty(&s);
      send_set_destroy(&s);
    }
  }
  /* A round larger than the home it must live in is refused; sizes are otherwise bounded by memory. */
  send_set s;
  unsigned char *home = aligned_alloc(4096, 4096);
  assert_non_null(home);
  assert_int_equal(send_set_init_in(&s, 2, 8192, home, 4096), MPIMR_ERR_TOO_LARGE);
  free(home);
}

/*
 * Many reserves, 70% to destination 0: its region moves again and again, or
 * grows in place when it is the last one handed out (and the buffer grows
 * once the set is full); every destination's bytes must stay
 * contiguous and intact. `full` may only be set once the doubled region no
 * longer fits the buffer, and the buffer may only grow once `full` is set.
 */
static void run_skewed(int nranks, size_t round_bytes, int reserves, size_t max_pair) {
  send_set s;
  assert_int_equal(send_set_init(&s, nranks, round_bytes), MPIMR_OK);
  size_t *lengths = calloc((size_t)nranks, sizeof *lengths);
  assert_non_null(lengths);
  size_t nominal = s.capacity;
  int moves = 0;
  for (int i = 0; i < reserves; i++) {
    int dest = rng_below(10) < 7 ? 0 : (int)rng_below((size_t)nranks);
    size_t bytes = rng_below(max_pair + 1);
    size_t old_bump = s.bump, old_capacity = s.capacity, old_room = s.room[dest];
    size_t old_offset = s.offsets[dest];
    int was_full = s.full;
    int fits = lengths[dest] + bytes <= old_room;
    put(&s, lengths, dest, bytes);
    if (fits) {
      /* The region had room: nothing moves, nothing else changes. */
      assert_int_equal(s.offsets[dest], old_offset);
      assert_int_equal(s.bump, old_bump);
      assert_int_equal(s.full, was_full);
    } else {
      moves++;
      /* The last region grew where it was; any other moved to the old bump pointer. Either way
       * with room for at least the new bytes, and the bump pointer at its end. */
      int was_last = (size_t)old_offset + old_room == old_bump;
      size_t start = was_last ? (size_t)old_offset : old_bump;
      assert_int_equal(s.offsets[dest], start);
      assert_true(s.room[dest] >= lengths[dest]);
      assert_int_equal(s.bump, start + s.room[dest]);
      if (!was_full && s.full) {
        /* Space ran out: twice the old room (or the bytes needed, if more) no longer fitted. */
        size_t wanted = 2 * old_room > lengths[dest] ? 2 * old_room : lengths[dest];
        assert_true(start + wanted > old_capacity);
      }
      if (!s.full)
        assert_int_equal(s.room[dest], 2 * old_room > lengths[dest] ? 2 * old_room : lengths[dest]);
    }
    if (!s.full) assert_int_equal(s.capacity, nominal); /* The buffer grows only once full. */
    assert_true(s.full >= was_full);                    /* Once full, full until reset. */
    /* The full check scans every byte: after each move (where bytes could be lost) and now and then. */
    if (!fits || i % 128 == 0 || i == reserves - 1) check_set(&s, lengths);
  }
  assert_true(moves > 0);
  assert_int_equal(s.full, 1);
  assert_true(s.capacity > nominal); /* These runs write far more than a round. */
  check_set(&s, lengths);

  /* Reset: nominal capacity, empty uniform regions, not full; and usable again. */
  assert_int_equal(send_set_reset(&s), MPIMR_OK);
  assert_int_equal(s.capacity, s.nominal_capacity);
  assert_int_equal(s.capacity, nominal);
  check_uniform_empty(&s);
  memset(lengths, 0, (size_t)nranks * sizeof *lengths);
  for (int d = 0; d < nranks; d++) put(&s, lengths, d, s.room[d]);
  assert_int_equal(s.full, 0);
  check_set(&s, lengths);
  free(lengths);
  send_set_destroy(&s);
}

static void test_skewed_reserves(void **state) {
  (void)state;
  run_skewed(1, 4096, 3000, 100);
  run_skewed(3, 8192, 3000, 100);
  run_skewed(8, 65536, 5000, 300);
  run_skewed(64, 1 << 16, 4000, 64);
}

/* `full` stays clear while every destination writes within its first region, and while a moved region fits.
 */
static void test_full_only_when_space_runs_out(void **state) {
  (void)state;
  send_set s;
  int nranks = 4;
  assert_int_equal(send_set_init(&s, nranks, 1 << 16), MPIMR_OK);
  size_t lengths[4] = {0};
  size_t region = s.room[0];
  /* Fill every region exactly, a byte at a time for one of them. */
  for (size_t i = 0; i < region; i++) put(&s, lengths, 1, 1);
  for (int d = 0; d < nranks; d++)
    if (d != 1) put(&s, lengths, d, region);
  assert_int_equal(s.full, 0);
  /* Zero bytes into a full region fit. */
  put(&s, lengths, 2, 0);
  assert_int_equal(s.full, 0);
  /* One more byte to destination 3: its region doubles into the free half of the buffer. */
  put(&s, lengths, 3, 1);
  assert_int_equal(s.full, 0);
  assert_int_equal(s.room[3], 2 * region);
  check_set(&s, lengths);
  /* Keep writing to destination 3 until full: that happens only once its doubled room does not fit. */
  while (!s.full) {
    size_t old_bump = s.bump, old_room = s.room[3];
    int moved = lengths[3] + 1 > old_room;
    put(&s, lengths, 3, 1);
    if (s.full) {
      assert_true(moved);
      assert_true(old_bump + 2 * old_room > s.nominal_capacity);
    }
  }
  check_set(&s, lengths);
  send_set_destroy(&s);
}

/* A pair larger than the whole set still goes in (the buffer grows) and marks the set full. */
static void test_pair_larger_than_set(void **state) {
  (void)state;
  const int ranks[] = {1, 2, 5};
  for (size_t r = 0; r < sizeof ranks / sizeof ranks[0]; r++) {
    int nranks = ranks[r];
    send_set s;
    assert_int_equal(send_set_init(&s, nranks, 4096), MPIMR_OK);
    size_t lengths[8] = {0};
    for (int d = 0; d < nranks; d++) put(&s, lengths, d, 10);
    size_t nominal = s.capacity;
    int dest = nranks - 1;
    put(&s, lengths, dest, 3 * nominal + 17);
    assert_int_equal(s.full, 1);
    assert_true(s.capacity >= 3 * nominal + 17);
    check_set(&s, lengths);
    /* And another one to a different destination. */
    put(&s, lengths, 0, 5 * nominal);
    check_set(&s, lengths);
    assert_int_equal(send_set_reset(&s), MPIMR_OK);
    assert_int_equal(s.capacity, nominal);
    check_uniform_empty(&s);
    send_set_destroy(&s);
  }
}

/* layout_exact: regions of exactly the requested sizes, disjoint, inside the buffer; filling them fits
 * exactly. */
static void test_layout_exact(void **state) {
  (void)state;
  for (int trial = 0; trial < 40; trial++) {
    int nranks = 1 + (int)rng_below(20);
    send_set s;
    assert_int_equal(send_set_init(&s, nranks, 8192), MPIMR_OK);
    size_t wanted[20], total = 0;
    for (int d = 0; d < nranks; d++) {
      /* Some empty, some tiny, some past a whole round. */
      size_t kind = rng_below(4);
      wanted[d] = kind == 0   ? 0
                  : kind == 1 ? rng_below(16)
                  : kind == 2 ? rng_below(2000)
                              : 8192 + rng_below(9000);
      total += wanted[d];
    }
    /* Start from a set that already holds data, as after a round. */
    size_t lengths[20] = {0};
    put(&s, lengths, 0, 100);
    assert_int_equal(send_set_layout_exact(&s, wanted, total), MPIMR_OK);
    assert_true(s.capacity >= total);
    memset(lengths, 0, sizeof lengths);
    check_set(&s, lengths);
    assert_int_equal(s.full, 0);
    assert_int_equal(s.pairs, 0);
    for (int d = 0; d < nranks; d++) assert_int_equal(s.room[d], wanted[d]);
    /* Fill each region exactly, in uneven pieces: nothing moves, the set never becomes full. */
    size_t offsets_before[20];
    for (int d = 0; d < nranks; d++) offsets_before[d] = s.offsets[d];
    for (int d = nranks - 1; d >= 0; d--) {
      while (lengths[d] < wanted[d]) {
        size_t piece = 1 + rng_below(300);
        if (piece > wanted[d] - lengths[d]) piece = wanted[d] - lengths[d];
        put(&s, lengths, d, piece);
      }
    }
    for (int d = 0; d < nranks; d++) assert_int_equal(s.offsets[d], offsets_before[d]);
    assert_int_equal(s.full, 0);
    assert_int_equal(s.total, total);
    check_set(&s, lengths);
    send_set_destroy(&s);
  }
}

/*
 * A set in a home it does not own (a mapped range, as the shared-memory
 * transport gives it): it grows in place, never leaves the home, refuses
 * to pass its end, gives the overrun back on reset, and leaves the home
 * mapped on destroy.
 */
static void test_set_in_home(void **state) {
  (void)state;
  const size_t home_bytes = 1 << 20;
  unsigned char *home = mmap(NULL, home_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(home != MAP_FAILED);
  send_set s;
  assert_int_equal(send_set_init_in(&s, 3, 8192, home, 4096), MPIMR_ERR_TOO_LARGE); /* round > home */
  assert_int_equal(send_set_init_in(&s, 3, 8192, home, home_bytes), MPIMR_OK);
  assert_ptr_equal(s.buffer, home);
  size_t nominal = s.capacity, lengths[3] = {0};
  for (int round = 0; round < 3; round++) {
    for (int d = 0; d < 3; d++) put(&s, lengths, d, 100);
    /* Past the round size and past twice it: the set stays in its home. */
    put(&s, lengths, 1, 5 * nominal);
    assert_ptr_equal(s.buffer, home);
    assert_true(s.capacity >= 5 * nominal && s.capacity <= home_bytes);
    check_set(&s, lengths);
    /* The home's end is a hard limit. */
    assert_null(send_set_reserve(&s, 2, home_bytes));
    check_set(&s, lengths);
    assert_int_equal(send_set_reset(&s), MPIMR_OK);
    assert_ptr_equal(s.buffer, home);
    assert_int_equal(s.capacity, nominal);
    check_uniform_empty(&s);
    memset(lengths, 0, sizeof lengths);
  }
  /* An exact layout larger than the round fits in the home; one larger than the home does not. */
  size_t wanted[3] = {1000, 3 * nominal, 7};
  assert_int_equal(send_set_layout_exact(&s, wanted, 1007 + 3 * nominal), MPIMR_OK);
  assert_ptr_equal(s.buffer, home);
  size_t too_much[3] = {home_bytes, 1, 0};
  assert_int_equal(send_set_layout_exact(&s, too_much, home_bytes + 1), MPIMR_ERR_NOMEM);
  send_set_destroy(&s);
  home[home_bytes - 1] = 1; /* still mapped: destroy did not free it */
  munmap(home, home_bytes);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_layout),
      cmocka_unit_test(test_skewed_reserves),
      cmocka_unit_test(test_full_only_when_space_runs_out),
      cmocka_unit_test(test_pair_larger_than_set),
      cmocka_unit_test(test_layout_exact),
      cmocka_unit_test(test_set_in_home),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
