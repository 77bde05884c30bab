/*
 * job/counters.c — named counters: find by name (hash table, one-entry cache), pack, merge, sort.
 */
#include "job/counters.h"

#include <stdlib.h>
#include <string.h>

#include "kv/hash.h"
#include "mpimr/error.h"

int counter_name_valid(const char *name) {
  if (name == NULL) return 0;
  size_t n = 0;
  for (; name[n] != '\0'; n++) {
    unsigned char c = (unsigned char)name[n];
    if (n == COUNTER_NAME_MAX || c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return 0;
  }
  return n > 0;
}

void counter_set_destroy(counter_set *set) {
  for (size_t b = 0; b < set->block_count; b++) free(set->blocks[b]);
  for (size_t i = 0; i < set->count; i++) free(set->names[i]);
  free(set->blocks);
  free(set->names);
  free(set->slots);
  memset(set, 0, sizeof *set);
}

static mpimr_counter *counter_at(const counter_set *set, size_t i) {
  return &set->blocks[i / COUNTER_BLOCK][i % COUNTER_BLOCK];
}

const char *counter_set_name(const counter_set *set, size_t i) { return set->names[i]; }
uint64_t counter_set_value(const counter_set *set, size_t i) { return counter_at(set, i)->value; }

/* The slot holding `name`, or the free slot where it would go (the table is never full). */
static size_t slot_of(const counter_set *set, const char *name, size_t length) {
  size_t mask = set->slot_count - 1;
  size_t s = (size_t)hash_bytes(name, length, 0) & mask;
  while (set->slots[s] != 0 && strcmp(set->names[set->slots[s] - 1], name) != 0) s = (s + 1) & mask;
  return s;
}

/* Doubles the table (or makes its first 64 slots) and puts every name back. */
static int grow_slots(counter_set *set) {
  size_t count = set->slot_count ? set->slot_count * 2 : 64;
  uint32_t *slots = calloc(count, sizeof *slots);
  if (slots == NULL) return MPIMR_ERR_NOMEM;
  free(set->slots);
  set->slots = slots;
  set->slot_count = count;
  for (size_t i = 0; i < set->count; i++)
    set->slots[slot_of(set, set->names[i], strlen(set->names[i]))] = (uint32_t)(i + 1);
  return MPIMR_OK;
}

/* Room for one more counter: its name's place, its block, the table at most half full. */
static int reserve_one(counter_set *set) {
  if (set->count == set->capacity) {
    size_t capacity = set->capacity ? set->capacity * 2 : 16;
    char **names = realloc(set->names, capacity * sizeof *names);
    if (names == NULL) return MPIMR_ERR_NOMEM;
    set->names = names;
    set->capacity = capacity;
  }
  if (set->count == set->block_count * COUNTER_BLOCK) {
    mpimr_counter **blocks = realloc(set->blocks, (set->block_count + 1) * sizeof *blocks);
    if (blocks == NULL) return MPIMR_ERR_NOMEM;
    set->blocks = blocks;
    blocks[set->block_count] = calloc(COUNTER_BLOCK, sizeof **blocks);
    if (blocks[set->block_count] == NULL) return MPIMR_ERR_NOMEM;
    set->block_count++;
  }
  if ((set->count + 1) * 2 > set->slot_count) return grow_slots(set);
  return MPIMR_OK;
}

const mpimr_counter *counter_set_lookup(const counter_set *set, const char *name) {
  if (set->slot_count == 0 || name == NULL) return NULL;
  uint32_t held = set->slots[slot_of(set, name, strlen(name))];
  return held ? counter_at(set, held - 1) : NULL;
}

mpimr_counter *counter_set_find(counter_set *set, const char *name) {
  /* The same address may hold another name by now (a buffer the caller reuses): compare the text. */
  if (name != NULL && name == set->cached_name && strcmp(name, set->names[set->cached_index]) == 0)
    return counter_at(set, set->cached_index);
  if (!counter_name_valid(name)) return NULL;
  size_t length = strlen(name);
  if (set->slot_count == 0 && grow_slots(set) != MPIMR_OK) return NULL;
  size_t s = slot_of(set, name, length);
  size_t index;
  if (set->slots[s] != 0) {
    index = set->slots[s] - 1;
  } else {
    if (reserve_one(set) != MPIMR_OK) return NULL;
    char *copy = malloc(length + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, name, length + 1);
    index = set->count;
    set->names[index] = copy;
    counter_at(set, index)->value = 0;
    set->count++;
    set->slots[slot_of(set, name, length)] = (uint32_t)set->count; /* the table may have grown */
  }
  set->cached_name = name;
  set->cached_index = index;
  return counter_at(set, index);
}

void counter_set_zero(counter_set *set) {
  for (size_t i = 0; i < set->count; i++) counter_at(set, i)->value = 0;
}

unsigned char *counter_set_pack(const counter_set *set, size_t *size) {
  size_t total = 0;
  for (size_t i = 0; i < set->count; i++) total += strlen(set->names[i]) + 1 + sizeof(uint64_t);
  unsigned char *packed = malloc(total ? total : 1), *at = packed;
  if (packed == NULL) return NULL;
  for (size_t i = 0; i < set->count; i++) {
    size_t length = strlen(set->names[i]) + 1;
    memcpy(at, set->names[i], length);
    uint64_t value = counter_at(set, i)->value;
    memcpy(at + length, &value, sizeof value);
    at += length + sizeof value;
  }
  *size = total;
  return packed;
}

int counter_set_add_packed(counter_set *set, const unsigned char *packed, size_t size) {
  size_t at = 0;
  while (at < size) {
    const unsigned char *end = memchr(packed + at, '\0', size - at);
    if (end == NULL || (size_t)(end - packed) + 1 + sizeof(uint64_t) > size) return MPIMR_ERR_CORRUPT;
    const char *name = (const char *)packed + at;
    if (!counter_name_valid(name)) return MPIMR_ERR_CORRUPT;
    uint64_t value;
    memcpy(&value, end + 1, sizeof value);
    mpimr_counter *counter = counter_set_find(set, name);
    if (counter == NULL) return MPIMR_ERR_NOMEM;
    counter->value += value;
    at = (size_t)(end - packed) + 1 + sizeof value;
  }
  return MPIMR_OK;
}

static int compare_names(const void *a, const void *b, void *names) {
  char **n = names;
  return strcmp(n[*(const size_t *)a], n[*(const size_t *)b]);
}

/* Insertion sort: a job has a few dozen counters. */
void counter_set_sorted(const counter_set *set, size_t *order) {
  for (size_t i = 0; i < set->count; i++) {
    size_t j = i;
    while (j > 0 && compare_names(&i, &order[j - 1], set->names) < 0) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
}
