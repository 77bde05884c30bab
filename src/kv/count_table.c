/* kv/count_table.c — the counting table's slow paths; see count_table.h. */
#include "kv/count_table.h"

#include "kv/hash.h"
#include "kv/memory.h"

/* 32 bits of 8-byte units address 32 GiB of arena. */
static const size_t ARENA_LIMIT = (size_t)UINT32_MAX * 8;

static size_t slots_for(size_t expected_keys) {
  size_t slots = 64;
  while (slots < expected_keys * 2) slots *= 2;
  return slots;
}

int count_table_init(count_table *t, size_t expected_keys) {
  memset(t, 0, sizeof *t);
  size_t slots = slots_for(expected_keys);
  t->slots = big_alloc(slots * sizeof *t->slots, 1);
  if (t->slots == NULL) return MPIMR_ERR_NOMEM;
  t->mask = slots - 1;
  return MPIMR_OK;
}

void count_table_destroy(count_table *t) {
  if (t->slots) big_free(t->slots, (t->mask + 1) * sizeof *t->slots);
  big_free(t->arena, t->arena_capacity);
  memset(t, 0, sizeof *t);
}

int count_table_clear_and_trim(count_table *t, size_t expected_keys) {
  size_t slots = slots_for(expected_keys);
  t->live = 0;
  t->arena_used = 0;
  if (t->mask + 1 > slots) {
    count_slot *smaller = big_alloc(slots * sizeof *smaller, 1);
    if (smaller == NULL) {
      memset(t->slots, 0, (t->mask + 1) * sizeof *t->slots);
      return MPIMR_ERR_NOMEM;
    }
    big_free(t->slots, (t->mask + 1) * sizeof *t->slots);
    t->slots = smaller;
    t->mask = slots - 1;
  } else {
    memset(t->slots, 0, (t->mask + 1) * sizeof *t->slots);
  }
  /* The arena holds only long keys; it is kept (it is usually small) but not beyond 1 MiB. */
  if (t->arena_capacity > ((size_t)1 << 20)) {
    big_free(t->arena, t->arena_capacity);
    t->arena = NULL;
    t->arena_capacity = 0;
  }
  return MPIMR_OK;
}

int count_table_grow(count_table *t) {
  size_t slots = (t->mask + 1) * 2, mask = slots - 1;
  count_slot *grown = big_alloc(slots * sizeof *grown, 1);
  if (grown == NULL) return MPIMR_ERR_NOMEM;
  for (size_t i = 0; i <= t->mask; i++) {
    if (t->slots[i].key == 0) continue;
    size_t j = count_slot_hash(t, &t->slots[i]) & mask;
    while (grown[j].key != 0) j = (j + 1) & mask;
    grown[j] = t->slots[i];
  }
  big_free(t->slots, (t->mask + 1) * sizeof *t->slots);
  t->slots = grown;
  t->mask = mask;
  return MPIMR_OK;
}

/* Appends a long key (8-byte length, bytes, padding); returns its position in 8-byte units or
 * SIZE_MAX. */
static size_t arena_append(count_table *t, const unsigned char *key, size_t len) {
  size_t bytes = 8 + ((len + 7) & ~(size_t)7);
  if (len > ARENA_LIMIT || t->arena_used + bytes > ARENA_LIMIT) return SIZE_MAX;
  if (t->arena_used + bytes > t->arena_capacity) {
    size_t capacity = t->arena_capacity ? t->arena_capacity * 2 : 64 << 10;
    while (capacity < t->arena_used + bytes) capacity *= 2;
    if (capacity > ARENA_LIMIT) capacity = ARENA_LIMIT;
    unsigned char *grown =
        t->arena ? big_realloc(t->arena, t->arena_capacity, capacity) : big_alloc(capacity, 0);
    if (grown == NULL) return SIZE_MAX;
    t->arena = grown;
    t->arena_capacity = capacity;
  }
  unsigned char *at = t->arena + t->arena_used;
  uint64_t n = len;
  memcpy(at, &n, 8);
  if (len > 0) memcpy(at + 8, key, len);
  memset(at + 8 + len, 0, bytes - 8 - len);
  size_t position = t->arena_used / 8;
  t->arena_used += bytes;
  return position;
}

int count_table_add_long(count_table *t, uint64_t hash, const unsigned char *key, size_t len,
                         uint64_t count) {
  uint64_t tag = COUNT_LONG_FLAG | (hash >> 33) << 32;
  size_t i = hash & t->mask;
  for (;;) {
    count_slot *s = &t->slots[i];
    if (s->key == 0) break;
    if ((s->key & 0xffffffff00000000ull) == tag) {
      const unsigned char *at = t->arena + 8 * (size_t)(uint32_t)s->key;
      uint64_t n;
      memcpy(&n, at, 8);
      if (n == len && (len == 0 || memcmp(at + 8, key, len) == 0)) {
        s->count += count;
        return MPIMR_OK;
      }
    }
    i = (i + 1) & t->mask;
  }
  size_t position = arena_append(t, key, len);
  if (position == SIZE_MAX)
    return t->arena_used + len + 16 > ARENA_LIMIT ? MPIMR_ERR_TOO_LARGE : MPIMR_ERR_NOMEM;
  t->slots[i].key = tag | position;
  t->slots[i].count = count;
  if (++t->live * 2 > t->mask + 1) return count_table_grow(t);
  return MPIMR_OK;
}
