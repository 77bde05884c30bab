/*
 * job/budget.c — the default per-rank memory budget.
 *
 * Half of what the node can give (its physical memory, or the cgroup v2
 * limit of the process if that is lower) is shared by the ranks on the node;
 * the other half is left to MPI, the page cache and the application.
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "job/budget.h"
#include "mpimr/job.h"

/* The cgroup v2 memory limit of this process, or SIZE_MAX if none can be read. */
static size_t cgroup_memory_limit(void) {
  FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
  if (f == NULL) return SIZE_MAX;
  unsigned long long limit = 0;
  int parsed = fscanf(f, "%llu", &limit);
  fclose(f);
  return parsed == 1 && limit > 0 && limit < SIZE_MAX ? (size_t)limit : SIZE_MAX;
}

size_t mpimr_default_memory_bytes(int local_ranks) {
  long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  size_t node = pages > 0 && page_size > 0 ? (size_t)pages * (size_t)page_size : (size_t)4 << 30;
  size_t cgroup = cgroup_memory_limit();
  if (cgroup < node) node = cgroup;
  size_t share = node / 2 / (size_t)(local_ranks > 0 ? local_ranks : 1);
  return share < BUDGET_MIN_BYTES ? BUDGET_MIN_BYTES : share;
}
