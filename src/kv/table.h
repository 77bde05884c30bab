/*
 * kv/table.h — a combining hash table: key → one accumulated value.
 *
 * Used on both sides of the shuffle when the job has a combiner: map output
 * is combined here before it is sent, and received pairs are folded into the
 * reduce-side table. Entries live back to back in one arena (8-byte aligned,
 * key then value); slots are 8 bytes (32 bits of hash tag, 32 bits of arena
 * position in 8-byte units), probed linearly at a load factor of at most
 * one half. An entry whose value outgrows its room moves to the arena's end
 * and leaves a dead entry behind, which iteration skips.
 */
#ifndef MPIMR_KV_TABLE_H
#define MPIMR_KV_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "mpimr/callbacks.h"

/** Marks an entry left behind when its value moved. */
#define TABLE_DEAD_ENTRY INT32_MIN

typedef struct table_entry {
  uint64_t hash;
  uint32_t key_len;
  uint32_t value_len;
  uint32_t value_cap;
  int32_t dest;         /**< The partition chosen on insert (map side), -1, or TABLE_DEAD_ENTRY. */
  unsigned char data[]; /**< key_len bytes of key, then value_cap bytes of room for the value. */
} table_entry;

typedef struct kv_table {
  unsigned char *arena;
  size_t arena_used;
  size_t arena_capacity;
  uint64_t *slots;
  size_t slot_mask;
  size_t live_entries;
  mpimr_combine_fn combine;
  void *user;
} kv_table;

/** An empty table with room for about `expected_entries`. Returns MPIMR_OK or NOMEM. */
int table_init(kv_table *t, size_t expected_entries, mpimr_combine_fn combine, void *user);

void table_destroy(kv_table *t);

/** Empties the table, keeping its memory. */
void table_clear(kv_table *t);

/**
 * Empties the table and gives back memory beyond what `expected_entries`
 * need, so that one burst (a huge record, say) does not leave the slot array
 * and arena oversized for good. Returns MPIMR_OK or NOMEM (then the table is
 * empty but keeps its memory).
 */
int table_clear_and_trim(kv_table *t, size_t expected_entries);

/**
 * Combines (key, value) into the table: a new key is inserted with `dest`;
 * an existing one has the value combined into its accumulated value.
 * Returns MPIMR_OK, MPIMR_ERR_NOMEM, MPIMR_ERR_USER or MPIMR_ERR_TOO_LARGE.
 */
int table_upsert(kv_table *t, uint64_t hash, const void *key, size_t key_len, const void *value,
                 size_t value_len, int dest);

/** Bytes of memory the table's arena and slots occupy now. */
static inline size_t table_memory(const kv_table *t) {
  return t->arena_used + (t->slot_mask + 1) * sizeof(uint64_t);
}

/** The size of an entry in the arena, header included (a multiple of 8). */
static inline size_t table_entry_size(const table_entry *e) {
  return (sizeof(table_entry) + e->key_len + e->value_cap + 7) & ~(size_t)7;
}

/** Where a slot points in the arena. */
static inline size_t table_slot_offset(uint64_t slot) { return ((size_t)(uint32_t)slot - 1) * 8; }

/**
 * Prefetching for batched upserts: first the slot a hash starts probing at,
 * later (once that slot has arrived) the entry it points to. Both are hints;
 * upserts stay correct whatever happens in between.
 */
static inline void table_prefetch_slot(const kv_table *t, uint64_t hash) {
  __builtin_prefetch(&t->slots[hash & t->slot_mask]);
}

static inline void table_prefetch_entry(const kv_table *t, uint64_t hash) {
  uint64_t slot = t->slots[hash & t->slot_mask];
  if (slot != 0) __builtin_prefetch(t->arena + table_slot_offset(slot));
}

/** Iterates live entries: for (e = table_first(t); e; e = table_next(t, e)). */
table_entry *table_first(const kv_table *t);
table_entry *table_next(const kv_table *t, const table_entry *e);

#endif
