/*
 * job/counters.h — a job's named counters on one rank, and their totals over
 * the ranks once the job has succeeded.
 *
 * A counter set maps names to counters (mpimr_counter: one uint64_t). Counters
 * live in blocks that never move, so a handle stays valid while the set
 * lives; names are found through an open-addressing table of their hashes,
 * and a one-entry cache of the last name's address and index makes the
 * common call (a string literal, the same one each time) a pointer and a
 * string comparison.
 *
 * The totals travel as a packed list ("name\0" then the value, 8 bytes,
 * native order: the ranks share one architecture); merging every rank's list
 * gives each rank the same totals.
 */
#ifndef MPIMR_JOB_COUNTERS_H
#define MPIMR_JOB_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "mpimr/job.h"

enum { COUNTER_NAME_MAX = 64, COUNTER_BLOCK = 64 };

typedef struct counter_set {
  mpimr_counter **blocks; /**< COUNTER_BLOCK counters each; they never move. */
  size_t block_count;
  char **names;    /**< names[i]: counter i's name (owned). */
  size_t count;    /**< Counters held. */
  size_t capacity; /**< Room in `names`. */
  uint32_t *slots; /**< Open addressing: counter index + 1, or 0 for a free slot. */
  size_t slot_count;
  const char *cached_name; /**< The address the last lookup was given, and the index it found. */
  size_t cached_index;
} counter_set;

/** 1 if `name` may name a counter: 1-64 printable ASCII characters other than `"` and `\`. */
int counter_name_valid(const char *name);

/** Frees the set's memory (an all-zero set is empty and valid). */
void counter_set_destroy(counter_set *set);

/** The counter called `name`, made at 0 the first time; NULL for a bad name or no memory. */
mpimr_counter *counter_set_find(counter_set *set, const char *name);

/** The counter called `name` if the set has it, else NULL (never makes one). */
const mpimr_counter *counter_set_lookup(const counter_set *set, const char *name);

/** Counter i's name and value, for i < set->count. */
const char *counter_set_name(const counter_set *set, size_t i);
uint64_t counter_set_value(const counter_set *set, size_t i);

/** Sets every counter to 0 (their handles stay valid). */
void counter_set_zero(counter_set *set);

/**
 * Packs every counter as "name\0" and its 8-byte value, into a new buffer
 * (free it) of `*size` bytes; NULL if out of memory.
 */
unsigned char *counter_set_pack(const counter_set *set, size_t *size);

/** Adds a packed list's counters into `set`. Returns MPIMR_OK, MPIMR_ERR_CORRUPT or MPIMR_ERR_NOMEM. */
int counter_set_add_packed(counter_set *set, const unsigned char *packed, size_t size);

/**
 * Fills `order` (set->count entries) with the counters' indices in name
 * order (bytewise).
 */
void counter_set_sorted(const counter_set *set, size_t *order);

#endif
