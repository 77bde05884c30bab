/*
 * apps/key_intern.h — a set of byte-string keys, each numbered in the order it
 * was first added (0, 1, 2, ...), for programs that refer to many repeated
 * keys by a 32-bit number: mpimr-pagerank stores each out-edge as the number
 * of its destination's key. Keys live back to back in one arena; lookups use
 * open addressing on mpimr_hash64. Not part of the library.
 */
#ifndef MPIMR_APPS_KEY_INTERN_H
#define MPIMR_APPS_KEY_INTERN_H

#include <stddef.h>
#include <stdint.h>

typedef struct key_intern {
  unsigned char *bytes;  /* the keys, back to back */
  size_t bytes_used, bytes_capacity;
  uint64_t *start;       /* count + 1 entries: key i is bytes[start[i], start[i + 1]) */
  uint32_t count;
  uint32_t start_capacity;
  uint32_t *slots;       /* key number + 1, or 0 for an empty slot */
  size_t mask;           /* slots - 1 (a power of two minus one) */
} key_intern;

/** Starts an empty set (no allocation until the first key). */
void key_intern_init(key_intern *set);

/** Frees the set's memory and leaves it empty. */
void key_intern_free(key_intern *set);

/**
 * The number of `key` (of `length` bytes), adding it if it is new. Returns
 * the number, or -1 if out of memory or the set already holds 2^32 - 1 keys.
 */
long long key_intern_add(key_intern *set, const void *key, size_t length);

/** Key `i`'s bytes; sets *length. */
static inline const unsigned char *key_intern_key(const key_intern *set, uint32_t i, size_t *length) {
  *length = (size_t)(set->start[i + 1] - set->start[i]);
  return set->bytes + set->start[i];
}

#endif /* MPIMR_APPS_KEY_INTERN_H */
