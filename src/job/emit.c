/*
 * job/emit.c — the map side's steps that every store shares: an emit's failure, asking for a
 * round when the map-side table is full, laying out a round for a drained table, and draining
 * the map side between rounds. What an emit does with a pair is the store's (job/store.h).
 */
#include <string.h>

#include "job/stages.h"
#include "job/store.h"
#include "mpimr/error.h"

_Static_assert(RECORD_READER_PADDING >= MPIMR_BLOCK_PADDING,
               "blocks promise MPIMR_BLOCK_PADDING readable bytes");

int job_emit_failed(mpimr_job *job, int status, const char *what) {
  job_set_error(job, "emit: %s", what);
  if (job->emit_status == MPIMR_OK) job->emit_status = status;
  return status;
}

/* Asks for a round once the map-side table has reached its budget, combine_bytes. */
void job_flush_when_map_side_full(mpimr_job *job) {
  if (job->store->map_side_memory(job) >= job->config.combine_bytes) job->map.needs_flush = 1;
}

/* The entries the map-side table is sized for (about 64 bytes each with its slots); it starts at a
 * round's worth and may grow to combine_bytes before it is sent. */
size_t job_map_table_entries(const mpimr_job *job) { return job->config.round_bytes / 64; }

/* The entries a job's tables start with: a round's worth (job_map_table_entries), but at most
 * TABLE_START_ENTRIES. A table grows by doubling as it fills, so a large job pays a few rehashes;
 * a round's worth at the start (4 MiB of slots and arena a table at the default round size,
 * faulted in and zeroed on first touch) made most of the 3.5 ms a 337-pair job's map took. At
 * 4,096 entries a table's slots and arena still passed glibc's mmap threshold, so every job mapped
 * and faulted them in afresh; at 512 they come from the heap that the last job gave back. */
enum { TABLE_START_ENTRIES = 512 };
size_t job_table_start_entries(const mpimr_job *job) {
  size_t round = job_map_table_entries(job);
  return round < TABLE_START_ENTRIES ? round : TABLE_START_ENTRIES;
}

/* Sizes the fill set's regions exactly (bytes per destination) for a drained table. */
int job_lay_out_round(mpimr_job *job, const size_t *dest_bytes, size_t total, send_set **set) {
  *set = shuffle_fill_set(job->shuffle);
  int rc = send_set_layout_exact(*set, dest_bytes, total);
  if (rc != MPIMR_OK)
    job_set_error(job, "map: cannot lay out a round of %zu bytes: %s", total, mpimr_strerror(rc));
  return rc;
}

/* Sends the map-side table into the fill set, if there is anything in it. */
int job_drain_map_side(mpimr_job *job) {
  job_note_memory(job); /* the map-side table is at its fullest now */
  int rc = job->store->drain_map_side(job);
  job_note_memory(job); /* and the fill set at its largest */
  return rc;
}
