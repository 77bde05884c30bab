/*
 * kv/values.h — the value iterator handed to reducers: either a run of
 * sorted items of one key in memory, or the current key of a merge of
 * spilled runs (values streamed from disk).
 */
#ifndef MPIMR_KV_VALUES_H
#define MPIMR_KV_VALUES_H

#include "kv/merge.h"
#include "kv/sort.h"
#include "mpimr/kv.h"

struct mpimr_values {
  const sort_item *items; /**< In memory: the key's items. */
  size_t count;
  size_t next;
  merger *merge; /**< Or, when not NULL, the merge whose current key this is. */
  int error;     /**< A merge error met while iterating (the reduce then fails with it). */
};

#endif
