/*
 * kv/merge.h — a k-way merge of sorted sources, one key group at a time.
 *
 * Sources are runs on disk (kv/run.h) and at most a few sorted item arrays
 * in memory (kv/sort.h; an array's consecutive items with equal keys form a
 * group). The merge yields each key once, in the job's key order (kv/order.h;
 * bytewise by default), with the total
 * number of its values over all sources known before the first value is
 * read, then streams the values: in value order when asked
 * (`by_value`; every source must then hold each group's values in that
 * order), else source by source in the order the sources were given, each
 * source's values in their own order. A binary heap of the sources' current
 * values picks the next one, so a step costs O(log k) comparisons.
 */
#ifndef MPIMR_KV_MERGE_H
#define MPIMR_KV_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "kv/order.h"
#include "kv/run.h"
#include "kv/sort.h"

typedef struct merge_source {
  /* Set one of these two before merge_init(). */
  run_reader *run;        /**< An open run. */
  const sort_item *items; /**< Or sorted items in memory. */
  size_t item_count;
  const char *name; /**< For error messages (the run's path). */

  /* The merge's own state. */
  size_t item_next;
  const unsigned char *key; /**< The current group's key. */
  size_t key_len;
  uint64_t group_left; /**< Values of the current group not yet taken, the loaded one included. */
  const unsigned char *value;
  size_t value_len;
  int done;
} merge_source;

typedef struct merger {
  merge_source *sources;
  size_t source_count;
  int by_value;
  const kv_order *order; /**< Keys and values compare in this order (NULL: bytewise). */
  size_t *heap; /**< Indices of the sources that have a value loaded, smallest first. */
  size_t heap_size;
  long pending;       /**< The source whose value was handed out last (advanced on the next call), or -1. */
  unsigned char *key; /**< The current group's key (a copy). */
  size_t key_len;
  size_t key_capacity;
  uint64_t group_count; /**< Values of the current group over all sources. */
  int in_group;
  long failed_source; /**< The source an error came from, or -1. */
} merger;

/**
 * Starts a merge over `sources` (borrowed; their run readers stay open and
 * are the caller's to close), comparing in `order` (borrowed; NULL:
 * bytewise). Returns MPIMR_OK or an error (NOMEM, IO,
 * CORRUPT), with m->failed_source naming the source.
 */
int merge_init(merger *m, merge_source *sources, size_t source_count, int by_value, const kv_order *order);

/**
 * Moves to the next key, skipping the current key's values not yet read.
 * Returns 1 with m->key, m->key_len and m->group_count set (the key stays
 * valid until the next call of merge_next_group()), 0 when every source is
 * exhausted, or an error.
 */
int merge_next_group(merger *m);

/**
 * The next value of the current key: 1 with the value (valid until the next
 * call on the merge), 0 when the key has no more, or an error.
 */
int merge_next_value(merger *m, const unsigned char **value, size_t *value_len);

/** Frees the merge's own memory (not the sources). */
void merge_destroy(merger *m);

#endif
