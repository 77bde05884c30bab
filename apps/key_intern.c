/* apps/key_intern.c — numbered byte-string keys; see key_intern.h. */
#include "key_intern.h"

#include <stdlib.h>
#include <string.h>

#include "mpimr/mpimr.h"

void key_intern_init(key_intern *set) { memset(set, 0, sizeof *set); }

void key_intern_free(key_intern *set) {
  free(set->bytes);
  free(set->start);
  free(set->slots);
  key_intern_init(set);
}

static uint64_t key_hash(const key_intern *set, uint32_t i) {
  size_t length;
  const unsigned char *key = key_intern_key(set, i, &length);
  return mpimr_hash64(key, length, 0);
}

/* Doubles the slot array (starting at 1,024 slots) and places every key again. */
static int grow_slots(key_intern *set) {
  size_t slots = set->slots ? 2 * (set->mask + 1) : 1024;
  uint32_t *grown = calloc(slots, sizeof *grown);
  if (grown == NULL) return -1;
  for (uint32_t i = 0; i < set->count; i++) {
    size_t at = key_hash(set, i) & (slots - 1);
    while (grown[at] != 0) at = (at + 1) & (slots - 1);
    grown[at] = i + 1;
  }
  free(set->slots);
  set->slots = grown;
  set->mask = slots - 1;
  return 0;
}

/* Makes room for one more key of `length` bytes. */
static int reserve(key_intern *set, size_t length) {
  if (set->count + 2 > set->start_capacity) {
    if (set->count >= UINT32_MAX - 2) return -1;
    uint64_t capacity = set->start_capacity ? 2 * (uint64_t)set->start_capacity : 1024;
    if (capacity > UINT32_MAX) capacity = UINT32_MAX;
    uint64_t *grown = realloc(set->start, (size_t)capacity * sizeof *grown);
    if (grown == NULL) return -1;
    if (set->start_capacity == 0) grown[0] = 0;
    set->start = grown;
    set->start_capacity = (uint32_t)capacity;
  }
  if (set->bytes_used + length > set->bytes_capacity) {
    size_t capacity = set->bytes_capacity ? 2 * set->bytes_capacity : 8192;
    while (capacity < set->bytes_used + length) capacity *= 2;
    unsigned char *grown = realloc(set->bytes, capacity);
    if (grown == NULL) return -1;
    set->bytes = grown;
    set->bytes_capacity = capacity;
  }
  if (2 * ((size_t)set->count + 1) > (set->slots ? set->mask + 1 : 0)) return grow_slots(set);
  return 0;
}

long long key_intern_add(key_intern *set, const void *key, size_t length) {
  if (set->slots != NULL) {
    size_t at = mpimr_hash64(key, length, 0) & set->mask;
    for (uint32_t slot; (slot = set->slots[at]) != 0; at = (at + 1) & set->mask) {
      size_t have;
      const unsigned char *bytes = key_intern_key(set, slot - 1, &have);
      if (have == length && memcmp(bytes, key, length) == 0) return slot - 1;
    }
  }
  if (reserve(set, length) != 0) return -1;
  uint32_t i = set->count++;
  if (length > 0) memcpy(set->bytes + set->bytes_used, key, length);
  set->bytes_used += length;
  set->start[i + 1] = set->bytes_used;
  size_t at = mpimr_hash64(key, length, 0) & set->mask;
  while (set->slots[at] != 0) at = (at + 1) & set->mask;
  set->slots[at] = i + 1;
  return i;
}
