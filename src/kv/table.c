/* kv/table.c — the combining hash table; see table.h. */
#include "kv/table.h"

#include <stdlib.h>
#include <string.h>

#include "kv/memory.h"
#include "mpimr/error.h"
#include "mpimr/kv.h"

static inline uint64_t slot_make(uint64_t hash, size_t arena_offset) {
  return (hash & 0xffffffff00000000ull) | (uint64_t)(arena_offset / 8 + 1);
}

/* 32 bits of 8-byte units address 32 GiB of arena. */
static const size_t ARENA_LIMIT = ((size_t)UINT32_MAX - 1) * 8;

static size_t slots_for(size_t expected_entries) {
  size_t slots = 64;
  while (slots < expected_entries * 2) slots *= 2;
  return slots;
}

static size_t arena_for(size_t expected_entries) { return expected_entries * 48 + 4096; }

int table_init(kv_table *t, size_t expected_entries, mpimr_combine_fn combine, void *user) {
  memset(t, 0, sizeof *t);
  size_t slots = slots_for(expected_entries);
  t->slot_mask = slots - 1; /* set first: table_destroy() frees by it */
  t->slots = big_alloc(slots * sizeof *t->slots, 1);
  t->arena_capacity = arena_for(expected_entries);
  t->arena = big_alloc(t->arena_capacity, 0);
  if (!t->slots || !t->arena) {
    table_destroy(t);
    return MPIMR_ERR_NOMEM;
  }
  t->combine = combine;
  t->user = user;
  return MPIMR_OK;
}

void table_destroy(kv_table *t) {
  if (t->slots) big_free(t->slots, (t->slot_mask + 1) * sizeof *t->slots);
  big_free(t->arena, t->arena_capacity);
  memset(t, 0, sizeof *t);
}

void table_clear(kv_table *t) {
  memset(t->slots, 0, (t->slot_mask + 1) * sizeof *t->slots);
  t->arena_used = 0;
  t->live_entries = 0;
}

int table_clear_and_trim(kv_table *t, size_t expected_entries) {
  size_t slots = slots_for(expected_entries), arena = arena_for(expected_entries);
  t->arena_used = 0;
  t->live_entries = 0;
  if (t->slot_mask + 1 > 2 * slots) {
    uint64_t *smaller = big_alloc(slots * sizeof *smaller, 1);
    if (smaller != NULL) {
      big_free(t->slots, (t->slot_mask + 1) * sizeof *t->slots);
      t->slots = smaller;
      t->slot_mask = slots - 1;
      smaller = NULL;
    } else {
      memset(t->slots, 0, (t->slot_mask + 1) * sizeof *t->slots);
      return MPIMR_ERR_NOMEM;
    }
  } else {
    memset(t->slots, 0, (t->slot_mask + 1) * sizeof *t->slots);
  }
  if (t->arena_capacity > 2 * arena) {
    unsigned char *smaller = big_realloc(t->arena, t->arena_capacity, arena);
    if (smaller == NULL) return MPIMR_ERR_NOMEM;
    t->arena = smaller;
    t->arena_capacity = arena;
  }
  return MPIMR_OK;
}

/* Equality of two keys of the same length, without a call to memcmp for the short keys tables
 * mostly hold (words): 8 bytes at a time, then the tail. */
static inline int keys_equal(const unsigned char *a, const unsigned char *b, size_t n) {
  while (n >= 8) {
    uint64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    if (x != y) return 0;
    a += 8;
    b += 8;
    n -= 8;
  }
  while (n > 0) {
    if (*a++ != *b++) return 0;
    n--;
  }
  return 1;
}

static int table_grow_slots(kv_table *t) {
  size_t slots = (t->slot_mask + 1) * 2;
  uint64_t *grown = big_alloc(slots * sizeof *grown, 1);
  if (grown == NULL) return MPIMR_ERR_NOMEM;
  size_t mask = slots - 1;
  for (size_t i = 0; i <= t->slot_mask; i++) {
    uint64_t slot = t->slots[i];
    if (slot == 0) continue;
    const table_entry *e = (const table_entry *)(t->arena + table_slot_offset(slot));
    size_t j = e->hash & mask;
    while (grown[j] != 0) j = (j + 1) & mask;
    grown[j] = slot;
  }
  big_free(t->slots, (t->slot_mask + 1) * sizeof *t->slots);
  t->slots = grown;
  t->slot_mask = mask;
  return MPIMR_OK;
}

/* Reserves `bytes` at the arena's end; returns its offset or SIZE_MAX. */
static size_t arena_reserve(kv_table *t, size_t bytes) {
  if (t->arena_used + bytes > t->arena_capacity) {
    size_t capacity = t->arena_capacity * 2;
    while (capacity < t->arena_used + bytes) capacity *= 2;
    if (capacity > ARENA_LIMIT) capacity = ARENA_LIMIT;
    if (t->arena_used + bytes > capacity) return SIZE_MAX;
    unsigned char *grown = big_realloc(t->arena, t->arena_capacity, capacity);
    if (grown == NULL) return SIZE_MAX;
    t->arena = grown;
    t->arena_capacity = capacity;
  }
  size_t offset = t->arena_used;
  t->arena_used += bytes;
  return offset;
}

static size_t value_room(size_t value_len) { return value_len < 8 ? 8 : (value_len + 7) & ~(size_t)7; }

/* Appends a new entry; returns its offset or SIZE_MAX. */
static size_t entry_append(kv_table *t, uint64_t hash, const void *key, size_t key_len, const void *value,
                           size_t value_len, size_t value_cap, int dest) {
  size_t bytes = (sizeof(table_entry) + key_len + value_cap + 7) & ~(size_t)7;
  size_t offset = arena_reserve(t, bytes);
  if (offset == SIZE_MAX) return SIZE_MAX;
  table_entry *e = (table_entry *)(t->arena + offset);
  e->hash = hash;
  e->key_len = (uint32_t)key_len;
  e->value_len = (uint32_t)value_len;
  e->value_cap = (uint32_t)value_cap;
  e->dest = dest;
  memcpy(e->data, key, key_len);
  memcpy(e->data + key_len, value, value_len);
  return offset;
}

/* Combines `value` into the entry in slot `slot_index`, moving the entry to the arena's end when its
 * value needs more room. Reserving may move the arena, so the old entry is found again by offset. */
static int entry_combine(kv_table *t, size_t slot_index, const void *value, size_t value_len) {
  size_t old_offset = table_slot_offset(t->slots[slot_index]);
  table_entry *e = (table_entry *)(t->arena + old_offset);
  unsigned char *acc = e->data + e->key_len;
  long long merged =
      t->combine(t->user, e->data, e->key_len, acc, e->value_len, e->value_cap, value, value_len);
  if (merged < 0) return MPIMR_ERR_USER;
  if ((size_t)merged <= e->value_cap) {
    e->value_len = (uint32_t)merged;
    return MPIMR_OK;
  }
  if ((size_t)merged + e->key_len > MPIMR_MAX_PAIR_BYTES) return MPIMR_ERR_TOO_LARGE;
  size_t key_len = e->key_len, room = value_room((size_t)merged * 2);
  size_t offset = arena_reserve(t, (sizeof(table_entry) + key_len + room + 7) & ~(size_t)7);
  if (offset == SIZE_MAX) return MPIMR_ERR_NOMEM;
  table_entry *old = (table_entry *)(t->arena + old_offset);
  table_entry *moved = (table_entry *)(t->arena + offset);
  *moved = *old;
  moved->value_cap = (uint32_t)room;
  memcpy(moved->data, old->data, key_len + old->value_len);
  old->dest = TABLE_DEAD_ENTRY;
  t->slots[slot_index] = slot_make(moved->hash, offset);
  merged = t->combine(t->user, moved->data, key_len, moved->data + key_len, moved->value_len,
                      moved->value_cap, value, value_len);
  if (merged < 0 || (size_t)merged > moved->value_cap) return MPIMR_ERR_USER;
  moved->value_len = (uint32_t)merged;
  return MPIMR_OK;
}

int table_upsert(kv_table *t, uint64_t hash, const void *key, size_t key_len, const void *value,
                 size_t value_len, int dest) {
  uint32_t tag = (uint32_t)(hash >> 32);
  size_t i = hash & t->slot_mask;
  for (;;) {
    uint64_t slot = t->slots[i];
    if (slot == 0) break;
    if ((uint32_t)(slot >> 32) == tag) {
      table_entry *e = (table_entry *)(t->arena + table_slot_offset(slot));
      if (e->key_len == key_len && keys_equal(e->data, key, key_len)) {
        if (t->combine == mpimr_combine_sum_u64 && e->value_len == 8 && value_len == 8) {
          unsigned char *acc = e->data + key_len;
          mpimr_put_u64(acc, mpimr_get_u64(acc) + mpimr_get_u64(value));
          return MPIMR_OK;
        }
        return entry_combine(t, i, value, value_len);
      }
    }
    i = (i + 1) & t->slot_mask;
  }
  if (key_len + value_len > MPIMR_MAX_PAIR_BYTES) return MPIMR_ERR_TOO_LARGE;
  size_t offset = entry_append(t, hash, key, key_len, value, value_len, value_room(value_len), dest);
  if (offset == SIZE_MAX)
    return t->arena_used + key_len > ARENA_LIMIT ? MPIMR_ERR_TOO_LARGE : MPIMR_ERR_NOMEM;
  t->slots[i] = slot_make(hash, offset);
  t->live_entries++;
  if (t->live_entries * 2 > t->slot_mask + 1) return table_grow_slots(t);
  return MPIMR_OK;
}

static table_entry *skip_dead(const kv_table *t, size_t offset) {
  while (offset < t->arena_used) {
    table_entry *e = (table_entry *)(t->arena + offset);
    if (e->dest != TABLE_DEAD_ENTRY) return e;
    offset += table_entry_size(e);
  }
  return NULL;
}

table_entry *table_first(const kv_table *t) { return skip_dead(t, 0); }

table_entry *table_next(const kv_table *t, const table_entry *e) {
  size_t offset = (size_t)((const unsigned char *)e - t->arena) + table_entry_size(e);
  return skip_dead(t, offset);
}
