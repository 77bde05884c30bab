/* util/pages.h — sizes rounded up to whole pages of memory (for mappings and madvise). */
#ifndef MPIMR_UTIL_PAGES_H
#define MPIMR_UTIL_PAGES_H

#include <stddef.h>
#include <unistd.h>

/* `bytes` rounded up to a multiple of the system's page size. */
static inline size_t pages_round_up(size_t bytes) {
  long page = sysconf(_SC_PAGESIZE);
  size_t unit = page > 0 ? (size_t)page : 4096;
  return (bytes + unit - 1) / unit * unit;
}

#endif
