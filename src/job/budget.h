/*
 * job/budget.h — the per-rank memory budget and how a job divides it.
 *
 * The job accounts exactly for the memory it allocates for data: the input
 * buffer, the map-side table, the shuffle's round buffers (send sets and
 * receive buffers, at their capacity), the reduce side's store with the sort
 * space a spill needs, and in reduce the merge buffers and the output
 * collector. The shares below bound what each part may take; the reduce
 * side's store spills whenever the total would pass the budget.
 */
#ifndef MPIMR_JOB_BUDGET_H
#define MPIMR_JOB_BUDGET_H

#include <stddef.h>

/** The smallest budget a job accepts. */
#define BUDGET_MIN_BYTES ((size_t)16 << 20)

/**
 * The shuffle's round buffers may take this fraction of the budget:
 * 1/BUDGET_SHUFFLE_PARTS, shared by a send set and a receive buffer per
 * round slot. A map-side combining table is drained into one send set, so it
 * is held to the round size too. Reduce output may collect up to the same
 * share before it is spilled.
 */
#define BUDGET_SHUFFLE_PARTS 4

/** A store never spills below this fraction of the budget (1/BUDGET_STORE_MIN_PARTS): runs stay large. */
#define BUDGET_STORE_MIN_PARTS 8

/**
 * Without a combiner and under a budget of at least 8 times this, the store
 * is compacted into a sorted run in memory each time its kept rounds reach
 * this size.
 */
#define BUDGET_COMPACT_BYTES ((size_t)8 << 20)

/** ...when its pairs average fewer bytes than this (a cache line). */
#define BUDGET_COMPACT_MAX_PAIR_BYTES 64

#endif
