/*
 * kv/count_table.h — a hash table from keys to 64-bit sums: the combining
 * table of jobs whose combiner is mpimr_combine_sum_u64 (counting words,
 * degrees, occurrences), where the generic kv_table would spend a second
 * cache miss on every lookup.
 *
 * Slots are 16 bytes: a key word and the count. A key of 1..7 bytes lives in
 * the key word itself (its bytes, little-endian, with the length in the top
 * byte), so finding it is one 8-byte compare in one cache line. Other keys
 * (empty, or 8 bytes and more) live in an arena as an 8-byte length and the
 * bytes, padded to 8; their key word holds LONG_FLAG, 31 bits of the hash as
 * a tag and the arena position in 8-byte units. A key word of zero marks an
 * empty slot. Probing is linear at a load factor of at most one half; the
 * slot array uses huge pages once it is large (kv/memory.h).
 *
 * The table is indexed by the library's key hash (kv/hash.h, seed 0), so the
 * hash computed for partitioning is reused for the lookup.
 */
#ifndef MPIMR_KV_COUNT_TABLE_H
#define MPIMR_KV_COUNT_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kv/hash.h"
#include "mpimr/error.h"

/** Keys of up to this many bytes are stored in their slot (as they are hashed: kv/hash.h). */
#define COUNT_SHORT_MAX HASH_SHORT_MAX
#define COUNT_LONG_FLAG 0x8000000000000000ull

typedef struct count_slot {
  uint64_t key;   /**< 0: empty; a packed short key; or LONG_FLAG | tag << 32 | arena position. */
  uint64_t count; /**< The sum of the values added under this key (wrapping, as the combiner does). */
} count_slot;

typedef struct count_table {
  count_slot *slots;
  size_t mask; /**< Slot count - 1 (a power of two). */
  size_t live; /**< Keys in the table. */
  unsigned char *arena;
  size_t arena_used;
  size_t arena_capacity;
} count_table;

/** An empty table with room for about `expected_keys`. Returns MPIMR_OK or MPIMR_ERR_NOMEM. */
int count_table_init(count_table *t, size_t expected_keys);

void count_table_destroy(count_table *t);

/**
 * Empties the table and gives back memory beyond what `expected_keys` need
 * (the slot array then takes what count_table_init() would give it).
 * Returns MPIMR_OK or MPIMR_ERR_NOMEM (the table is then empty but keeps its memory).
 */
int count_table_clear_and_trim(count_table *t, size_t expected_keys);

/** Bytes the slots and the arena occupy now. */
static inline size_t count_table_memory(const count_table *t) {
  return (t->mask + 1) * sizeof(count_slot) + t->arena_used;
}

/**
 * The key word of a short key (1..COUNT_SHORT_MAX bytes), or 0 for a key the
 * arena must hold: hash_pack_short() (kv/hash.h), whose word the key's hash
 * is computed from. Reads only the key's own bytes.
 */
static inline uint64_t count_key_pack(const unsigned char *key, size_t len) {
  if (len - 1 >= COUNT_SHORT_MAX) return 0; /* len 0 wraps round to SIZE_MAX */
  return hash_pack_short(key, len);
}

/**
 * count_key_pack() for a short key (1..COUNT_SHORT_MAX bytes) after which
 * at least 8 - len more bytes may be read (a padded input buffer): one
 * 8-byte load and a mask, no branch on the length.
 */
static inline uint64_t count_key_pack_padded(const unsigned char *key, size_t len) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t word;
  memcpy(&word, key, 8);
  return (word & (~0ull >> (64 - 8 * len))) | (uint64_t)len << 56;
#else
  return hash_pack_short(key, len);
#endif
}

/** Hints that the slot a hash starts probing at will be needed soon. */
static inline void count_table_prefetch(const count_table *t, uint64_t hash) {
  __builtin_prefetch(&t->slots[hash & t->mask]);
}

/** The slow path of count_table_add for keys the arena holds, and growth. */
int count_table_add_long(count_table *t, uint64_t hash, const unsigned char *key, size_t len, uint64_t count);

/** Grows the slot array (twice the slots). Returns MPIMR_OK or MPIMR_ERR_NOMEM. */
int count_table_grow(count_table *t);

/**
 * Adds `count` to the key's sum, inserting it first if it is new. `packed` is
 * count_key_pack(key, len) and `hash` the key's hash (hash_bytes(key, len, 0)).
 * Returns MPIMR_OK, MPIMR_ERR_NOMEM or MPIMR_ERR_TOO_LARGE (arena over 32 GiB).
 */
static inline int count_table_add(count_table *t, uint64_t hash, const unsigned char *key, size_t len,
                                  uint64_t packed, uint64_t count) {
  if (packed == 0) return count_table_add_long(t, hash, key, len, count);
  size_t i = hash & t->mask;
  for (;;) {
    count_slot *s = &t->slots[i];
    if (s->key == packed) {
      s->count += count;
      return MPIMR_OK;
    }
    if (s->key == 0) {
      s->key = packed;
      s->count = count;
      if (++t->live * 2 > t->mask + 1) return count_table_grow(t);
      return MPIMR_OK;
    }
    i = (i + 1) & t->mask;
  }
}

/**
 * The bytes of the key in `slot` (which must be occupied): a pointer into the
 * arena, or into `scratch` (8 bytes) for a short key. Sets `*len`.
 */
static inline const unsigned char *count_slot_key(const count_table *t, const count_slot *slot,
                                                  unsigned char scratch[8], size_t *len) {
  uint64_t word = slot->key;
  if (word & COUNT_LONG_FLAG) {
    const unsigned char *at = t->arena + 8 * (size_t)(uint32_t)word;
    uint64_t n;
    memcpy(&n, at, 8);
    *len = (size_t)n;
    return at + 8;
  }
  *len = (size_t)(word >> 56);
  for (int i = 0; i < 8; i++) scratch[i] = (unsigned char)(word >> (8 * i));
  return scratch;
}

/** The hash the key in `slot` (occupied) was added under: hash_bytes() of its bytes. */
static inline uint64_t count_slot_hash(const count_table *t, const count_slot *slot) {
  if (!(slot->key & COUNT_LONG_FLAG)) return hash_packed_short(slot->key, 0);
  unsigned char scratch[8];
  size_t len;
  const unsigned char *key = count_slot_key(t, slot, scratch, &len);
  return hash_bytes(key, len, 0);
}

#endif
