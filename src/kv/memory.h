/*
 * kv/memory.h — large allocations for tables that are read at random.
 *
 * A hash table of tens of MiB probed at random misses the TLB on almost
 * every access, and under virtualisation each miss is a two-level page walk.
 * Blocks of 2 MiB and more are therefore mapped directly and advised to use
 * transparent huge pages (honoured when the system's THP mode is "madvise"
 * or "always"); smaller ones come from malloc. Growth uses mremap, so a
 * growing arena is not copied.
 */
#ifndef MPIMR_KV_MEMORY_H
#define MPIMR_KV_MEMORY_H

#include <stddef.h>

/** Allocates `size` bytes (uninitialised unless `zeroed`). NULL on failure. */
void *big_alloc(size_t size, int zeroed);

/** Resizes a block from big_alloc() of `old_size` bytes, keeping its contents. NULL on failure (old block kept). */
void *big_realloc(void *block, size_t old_size, size_t new_size);

/** Frees a block from big_alloc() of `size` bytes. NULL is allowed. */
void big_free(void *block, size_t size);

#endif
