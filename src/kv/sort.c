/* kv/sort.c — radix sort of items by key prefix, then exact order inside ties; see sort.h. */
#include "kv/sort.h"

#include <stdlib.h>
#include <string.h>

#include "kv/codec.h"

int sort_item_compare(const void *a, const void *b) {
  const sort_item *x = a, *y = b;
  if (x->prefix != y->prefix) return x->prefix < y->prefix ? -1 : 1;
  /* Equal prefixes and both keys within 8 bytes: the prefix held every byte; only the lengths differ. */
  if (x->key_len <= 8 && y->key_len <= 8) return (x->key_len > y->key_len) - (x->key_len < y->key_len);
  return codec_compare_keys(x->key, x->key_len, y->key, y->key_len);
}

int sort_item_compare_pair(const void *a, const void *b) {
  int c = sort_item_compare(a, b);
  if (c != 0) return c;
  const sort_item *x = a, *y = b;
  if (x->value_len <= 8 && y->value_len <= 8) {
    /* Values within 8 bytes (counts, doubles, ids): one big-endian word each, then the lengths. */
    uint64_t u = sort_key_prefix(x->key + x->key_len, x->value_len);
    uint64_t v = sort_key_prefix(y->key + y->key_len, y->value_len);
    if (u != v) return u < v ? -1 : 1;
    return (x->value_len > y->value_len) - (x->value_len < y->value_len);
  }
  return codec_compare_keys(x->key + x->key_len, x->value_len, y->key + y->key_len, y->value_len);
}

int sort_item_compare_stable(const void *a, const void *b) {
  int c = sort_item_compare(a, b);
  if (c != 0) return c;
  const sort_item *x = a, *y = b;
  return (x->key > y->key) - (x->key < y->key);
}

/* Below this many items a comparison sort beats eight counting passes. */
enum { RADIX_MIN_ITEMS = 256 };

/* LSD passes over the prefix's low `passes` bytes: sorts `from` through `to` and returns where the
 * result is (one of the two). */
static sort_item *radix_sort_low_bytes(sort_item *from, sort_item *to, size_t count, unsigned passes) {
  size_t histogram[8][256];
  memset(histogram, 0, passes * sizeof histogram[0]);
  for (size_t i = 0; i < count; i++) {
    uint64_t p = from[i].prefix;
    for (unsigned pass = 0; pass < passes; pass++) histogram[pass][(p >> (8 * pass)) & 0xff]++;
  }
  for (unsigned pass = 0; pass < passes; pass++) {
    size_t *counts = histogram[pass];
    /* A byte that is the same in every item leaves the order as it is: skip its pass. */
    if (counts[(from[0].prefix >> (8 * pass)) & 0xff] == count) continue;
    size_t offset = 0;
    for (unsigned b = 0; b < 256; b++) {
      size_t c = counts[b];
      counts[b] = offset;
      offset += c;
    }
    for (size_t i = 0; i < count; i++) to[counts[(from[i].prefix >> (8 * pass)) & 0xff]++] = from[i];
    sort_item *swap = from;
    from = to;
    to = swap;
  }
  return from;
}

/* Below this many items the LSD passes run in cache; above it, one MSD pass splits them first. */
enum { RADIX_CACHE_ITEMS = 1 << 15 };

/* Sorts by the prefix's bytes 0..`byte` (the higher ones are equal), stably. Large arrays are split
 * on their top byte first (one pass over memory), so that each part's remaining passes run in cache
 * instead of streaming the whole array seven more times. */
static void radix_sort_bytes(sort_item *items, sort_item *scratch, size_t count, unsigned byte) {
  if (count <= RADIX_CACHE_ITEMS || byte == 0) {
    sort_item *sorted = radix_sort_low_bytes(items, scratch, count, byte + 1);
    if (sorted != items) memcpy(items, sorted, count * sizeof *items);
    return;
  }
  unsigned shift = 8 * byte;
  size_t counts[256] = {0};
  for (size_t i = 0; i < count; i++) counts[(items[i].prefix >> shift) & 0xff]++;
  if (counts[(items[0].prefix >> shift) & 0xff] == count) {
    radix_sort_bytes(items, scratch, count, byte - 1);
    return;
  }
  size_t starts[256], offset = 0;
  for (unsigned b = 0; b < 256; b++) {
    starts[b] = offset;
    offset += counts[b];
  }
  size_t next[256];
  memcpy(next, starts, sizeof next);
  for (size_t i = 0; i < count; i++) scratch[next[(items[i].prefix >> shift) & 0xff]++] = items[i];
  memcpy(items, scratch, count * sizeof *items);
  for (unsigned b = 0; b < 256; b++)
    if (counts[b] > 1) radix_sort_bytes(items + starts[b], scratch + starts[b], counts[b], byte - 1);
}

static void radix_sort_prefix(sort_item *items, sort_item *scratch, size_t count) {
  radix_sort_bytes(items, scratch, count, 7);
}

/* Runs of one repeated key (a hot key without a combiner) are common and already in order. */
static int run_is_sorted(const sort_item *items, size_t count, int (*compare)(const void *, const void *)) {
  for (size_t i = 1; i < count; i++)
    if (compare(&items[i - 1], &items[i]) > 0) return 0;
  return 1;
}

/* Runs up to this long are sorted by insertion rather than qsort: the runs of equal key prefixes
 * after the radix passes are mostly a few items (a key's values from a few ranks), and qsort's
 * set-up costs more than the sorting. */
enum { INSERTION_SORT_MAX = 16 };

/* Sorts a short run by insertion (stable; no allocation; n - 1 comparisons when already sorted). */
static void insertion_sort(sort_item *items, size_t count, int (*compare)(const void *, const void *)) {
  for (size_t i = 1; i < count; i++) {
    if (compare(&items[i - 1], &items[i]) <= 0) continue;
    sort_item moving = items[i];
    size_t j = i;
    while (j > 0 && compare(&items[j - 1], &moving) > 0) {
      items[j] = items[j - 1];
      j--;
    }
    items[j] = moving;
  }
}

/* Sorts a run of any length: by insertion when short, else qsort (unless already in order). */
static void sort_run(sort_item *items, size_t count, int (*compare)(const void *, const void *)) {
  if (count <= INSERTION_SORT_MAX)
    insertion_sort(items, count, compare);
  else if (!run_is_sorted(items, count, compare))
    qsort(items, count, sizeof *items, compare);
}

int sort_items(sort_item *items, sort_item *scratch, size_t count) {
  return sort_items_with(items, scratch, count, sort_item_compare);
}

/* The 8 value bytes from `offset` on, big-endian, zero-padded past the value's end. */
static inline uint64_t value_chunk(const sort_item *item, size_t offset) {
  if (item->value_len <= offset) return 0;
  return sort_key_prefix(item->key + item->key_len + offset, item->value_len - offset);
}

/* Sorts items of one key by their values from byte `offset` on (they agree before it): a radix pass
 * over the next 8 bytes (held in the prefix field meanwhile), then the same for each run that
 * agrees on those too, until values end. A hot key without a combiner makes runs of millions of
 * items whose values often share their first bytes (a file number, say). Leaves the prefix field
 * for the caller to restore. */
static void sort_values_from(sort_item *items, sort_item *scratch, size_t count, size_t offset) {
  for (size_t i = 0; i < count; i++) items[i].prefix = value_chunk(&items[i], offset);
  radix_sort_prefix(items, scratch, count);
  size_t start = 0;
  while (start < count) {
    size_t end = start + 1, longest = items[start].value_len;
    while (end < count && items[end].prefix == items[start].prefix) {
      if (items[end].value_len > longest) longest = items[end].value_len;
      end++;
    }
    if (end - start >= RADIX_MIN_ITEMS && longest > offset + 8)
      sort_values_from(items + start, scratch, end - start, offset + 8);
    else if (end - start > 1)
      sort_run(items + start, end - start, sort_item_compare_pair); /* few, or lengths differ */
    start = end;
  }
}

/* Sorts a run of items with one key by value. */
static void sort_run_by_value(sort_item *items, sort_item *scratch, size_t count) {
  uint64_t key_prefix = items[0].prefix;
  sort_values_from(items, scratch, count, 0);
  for (size_t i = 0; i < count; i++) items[i].prefix = key_prefix;
}

/* Orders a run of items with equal key prefixes: by key, then (by_value) each key's items by value. */
static void sort_equal_prefixes(sort_item *items, sort_item *scratch, size_t count,
                                int (*compare)(const void *, const void *)) {
  if (compare != sort_item_compare_pair || count < RADIX_MIN_ITEMS) {
    sort_run(items, count, compare);
    return;
  }
  if (run_is_sorted(items, count, compare)) return;
  if (!run_is_sorted(items, count, sort_item_compare_stable))
    qsort(items, count, sizeof *items, sort_item_compare_stable);
  size_t start = 0;
  while (start < count) {
    size_t end = start + 1;
    while (end < count && sort_item_compare(&items[start], &items[end]) == 0) end++;
    if (end - start >= RADIX_MIN_ITEMS)
      sort_run_by_value(items + start, scratch, end - start);
    else if (end - start > 1)
      sort_run(items + start, end - start, compare);
    start = end;
  }
}

int sort_items_with(sort_item *items, sort_item *scratch, size_t count,
                    int (*compare)(const void *, const void *)) {
  if (count < 2) return 0;
  if (count < RADIX_MIN_ITEMS) {
    sort_run(items, count, compare);
    return 0;
  }
  radix_sort_prefix(items, scratch, count);
  /* Items with equal prefixes are in arrival order; keys longer than 8 bytes (or shorter ones
   * differing only in trailing zero bytes), and values when they count, still need ordering within
   * each such run. */
  size_t start = 0;
  while (start < count) {
    size_t end = start + 1;
    while (end < count && items[end].prefix == items[start].prefix) end++;
    if (end - start > 1) sort_equal_prefixes(items + start, scratch, end - start, compare);
    start = end;
  }
  return 0;
}

/* ---- orders given by comparators --------------------------------------- */

int sort_item_compare_ordered(const sort_item *x, const sort_item *y, sort_ties ties, const kv_order *order) {
  int c = order_keys_bytewise(order) ? sort_item_compare(x, y)
                                     : order_compare_keys(order, x->key, x->key_len, y->key, y->key_len);
  if (c != 0) return c;
  if (ties == SORT_TIES_VALUE)
    return order_compare_values(order, x->key + x->key_len, x->value_len, y->key + y->key_len, y->value_len);
  if (ties == SORT_TIES_ARRIVAL) return (x->key > y->key) - (x->key < y->key);
  return 0;
}

/* Runs this short are sorted by insertion before merging starts. */
enum { INSERTION_RUN = 16 };

/* A stable bottom-up merge sort through `scratch` (callers' comparators may be slow, so it makes
 * the fewest comparisons of the simple sorts, and needs no per-call context outside its arguments). */
static void merge_sort_ordered(sort_item *items, sort_item *scratch, size_t count, sort_ties ties,
                               const kv_order *order) {
  for (size_t start = 0; start < count; start += INSERTION_RUN) {
    size_t end = start + INSERTION_RUN < count ? start + INSERTION_RUN : count;
    for (size_t i = start + 1; i < end; i++) {
      sort_item moving = items[i];
      size_t j = i;
      while (j > start && sort_item_compare_ordered(&items[j - 1], &moving, ties, order) > 0) {
        items[j] = items[j - 1];
        j--;
      }
      items[j] = moving;
    }
  }
  sort_item *from = items, *to = scratch;
  for (size_t width = INSERTION_RUN; width < count; width *= 2) {
    for (size_t left = 0; left < count; left += 2 * width) {
      size_t middle = left + width < count ? left + width : count;
      size_t right = middle + width < count ? middle + width : count;
      size_t i = left, j = middle, k = left;
      while (i < middle && j < right)
        to[k++] = sort_item_compare_ordered(&from[j], &from[i], ties, order) < 0 ? from[j++] : from[i++];
      while (i < middle) to[k++] = from[i++];
      while (j < right) to[k++] = from[j++];
    }
    sort_item *swap = from;
    from = to;
    to = swap;
  }
  if (from != items) memcpy(items, from, count * sizeof *items);
}

static int (*bytewise_comparator(sort_ties ties))(const void *, const void *) {
  return ties == SORT_TIES_VALUE     ? sort_item_compare_pair
         : ties == SORT_TIES_ARRIVAL ? sort_item_compare_stable
                                     : sort_item_compare;
}

int sort_items_ordered(sort_item *items, sort_item *scratch, size_t count, sort_ties ties,
                       const kv_order *order) {
  if (order_bytewise(order)) return sort_items_with(items, scratch, count, bytewise_comparator(ties));
  if (count < 2) return 0;
  if (!order_keys_bytewise(order) || count < RADIX_MIN_ITEMS) {
    merge_sort_ordered(items, scratch, count, ties, order);
    return 0;
  }
  /* Keys bytewise, values by the job's comparator: the radix sort, then each run of equal prefixes. */
  radix_sort_prefix(items, scratch, count);
  size_t start = 0;
  while (start < count) {
    size_t end = start + 1;
    while (end < count && items[end].prefix == items[start].prefix) end++;
    if (end - start > 1) merge_sort_ordered(items + start, scratch, end - start, ties, order);
    start = end;
  }
  return 0;
}
