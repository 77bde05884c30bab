/*
 * kv/sort.h — sorting pairs by key, bytewise.
 *
 * Pairs are sorted as 24-byte items (an 8-byte big-endian key prefix, the
 * key's address, key and value lengths); both the table and the codec keep
 * a value right after its key, so an item reaches both. The sort is an LSD
 * radix sort on the prefix (passes over constant bytes skipped), then a
 * comparison sort within each run of equal prefixes that needs one.
 */
#ifndef MPIMR_KV_SORT_H
#define MPIMR_KV_SORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kv/order.h"

typedef struct sort_item {
  uint64_t prefix;          /**< First 8 key bytes, big-endian, zero-padded. */
  const unsigned char *key; /**< The key; its value follows it directly. */
  uint32_t key_len;
  uint32_t value_len;
} sort_item;

/** The prefix of a key, so that prefix order agrees with bytewise key order. */
static inline uint64_t sort_key_prefix(const unsigned char *key, size_t len) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (len >= 8) {
    uint64_t word;
    memcpy(&word, key, 8);
    return __builtin_bswap64(word);
  }
#endif
  uint64_t prefix = 0;
  size_t n = len < 8 ? len : 8;
  for (size_t i = 0; i < n; i++) prefix |= (uint64_t)key[i] << (56 - 8 * i);
  return prefix;
}

/**
 * Sorts `items` by key; `scratch` must hold `count` items. Returns 0, or -1 if
 * a comparison-sort buffer could not be allocated (items are then unsorted).
 */
int sort_items(sort_item *items, sort_item *scratch, size_t count);

/** Compares two items' keys bytewise (shorter first on a common prefix). */
int sort_item_compare(const void *a, const void *b);

/** Compares keys, then values on equal keys (both bytewise): the order of a store without a combiner. */
int sort_item_compare_pair(const void *a, const void *b);

/**
 * Compares keys, then the keys' addresses on equal keys: items laid out in
 * arrival order keep that order within a key (reduce output).
 */
int sort_item_compare_stable(const void *a, const void *b);

/**
 * Sorts `items` by a comparator that orders keys as sort_item_compare() does
 * and may break ties further (one of the three above). Returns as sort_items().
 */
int sort_items_with(sort_item *items, sort_item *scratch, size_t count,
                    int (*compare)(const void *, const void *));

/** What orders items with equal keys. */
typedef enum sort_ties {
  SORT_TIES_NONE = 0,    /**< Nothing (any order). */
  SORT_TIES_VALUE = 1,   /**< Their values (a store without a combiner). */
  SORT_TIES_ARRIVAL = 2  /**< Their addresses: items laid out in arrival order keep it (reduce output). */
} sort_ties;

/**
 * Sorts `items` by key in `order` (NULL: bytewise), ties broken as `ties`
 * says. Bytewise orders take sort_items_with(); with a key comparator the
 * sort is a stable merge sort by comparison, and with only a value
 * comparator the radix sort on key prefixes comes first. Returns as
 * sort_items().
 */
int sort_items_ordered(sort_item *items, sort_item *scratch, size_t count, sort_ties ties,
                       const kv_order *order);

/** Compares two items as sort_items_ordered() orders them. */
int sort_item_compare_ordered(const sort_item *a, const sort_item *b, sort_ties ties, const kv_order *order);

#endif
