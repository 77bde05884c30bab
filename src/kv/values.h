/* kv/values.h — the value iterator handed to reducers: a run of sorted items of one key. */
#ifndef MPIMR_KV_VALUES_H
#define MPIMR_KV_VALUES_H

#include "kv/sort.h"
#include "mpimr/kv.h"

struct mpimr_values {
  const sort_item *items;
  size_t count;
  size_t next;
};

#endif
