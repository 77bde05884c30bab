/*
 * kv/values.h — the value iterator handed to reducers: either a run of
 * sorted items of one key in memory, or the current key of a merge of
 * spilled runs (values streamed from disk).
 */
#ifndef MPIMR_KV_VALUES_H
#define MPIMR_KV_VALUES_H

#include "kv/merge.h"
#include "kv/sort.h"
#include "mpimr/error.h"
#include "mpimr/kv.h"

struct mpimr_values {
  const sort_item *items; /**< In memory: the key's items. */
  size_t count;
  size_t next;
  merger *merge; /**< Or, when not NULL, the merge whose current key this is. */
  int error;     /**< A merge error met while iterating (the reduce then fails with it). */
};

/** The values of a key held in memory: `count` items. */
static inline mpimr_values values_in_memory(const sort_item *items, size_t count) {
  return (mpimr_values){.items = items, .count = count, .error = MPIMR_OK};
}

/** The values of the merge's current key, streamed from its runs. */
static inline mpimr_values values_of_merge(merger *merge) {
  return (mpimr_values){.merge = merge, .error = MPIMR_OK};
}

#endif
