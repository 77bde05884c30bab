/* kv/memory.c — huge-page-backed large blocks; see memory.h. */
#include "kv/memory.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Blocks this large are mapped (and rounded up to whole huge pages). */
static const size_t HUGE_PAGE_BYTES = (size_t)2 << 20;

static int is_mapped(size_t size) { return size >= HUGE_PAGE_BYTES; }

static size_t mapped_size(size_t size) { return (size + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1); }

static void *map_block(size_t size) {
  void *block = mmap(NULL, mapped_size(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) return NULL;
  madvise(block, mapped_size(size), MADV_HUGEPAGE); /* advice only: failure is harmless */
  return block;
}

void *big_alloc(size_t size, int zeroed) {
  if (size == 0) size = 1;
  if (is_mapped(size)) return map_block(size); /* fresh anonymous pages are already zero */
  return zeroed ? calloc(1, size) : malloc(size);
}

void *big_realloc(void *block, size_t old_size, size_t new_size) {
  if (block == NULL) return big_alloc(new_size, 0);
  if (is_mapped(old_size) && is_mapped(new_size)) {
    void *moved = mremap(block, mapped_size(old_size), mapped_size(new_size), MREMAP_MAYMOVE);
    if (moved == MAP_FAILED) return NULL;
    madvise(moved, mapped_size(new_size), MADV_HUGEPAGE);
    return moved;
  }
  if (!is_mapped(old_size) && !is_mapped(new_size)) return realloc(block, new_size);
  void *fresh = big_alloc(new_size, 0);
  if (fresh == NULL) return NULL;
  memcpy(fresh, block, old_size < new_size ? old_size : new_size);
  big_free(block, old_size);
  return fresh;
}

void big_free(void *block, size_t size) {
  if (block == NULL) return;
  if (is_mapped(size)) munmap(block, mapped_size(size));
  else free(block);
}
