/*
 * job/output.h — the output directory and the part files in it.
 *
 * Rank 0 prepares the directory: it makes it, or takes an existing one that
 * is empty or holds only what a failed run leaves (parts and temporary
 * parts, spill directories; never `_SUCCESS`), removing the parts; any
 * other is refused unless asked to overwrite, in which case `_SUCCESS` is
 * removed first, then old parts.
 * Each rank writes its part under a hidden temporary name, flushes it to
 * disk and renames it to part-RRRRR; rank 0 writes `_SUCCESS` only after
 * every rank has renamed its part, so a directory with `_SUCCESS` is always
 * complete; if any rank failed, the parts already renamed are removed again.
 */
#ifndef MPIMR_JOB_OUTPUT_H
#define MPIMR_JOB_OUTPUT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Collective: makes `dir` ready for a job's parts. Returns the same status on
 * every rank; on failure `message` holds the cause (on every rank).
 * `*created` is set on rank 0 if the directory was made here.
 */
int output_prepare(MPI_Comm comm, const char *dir, int overwrite, int *created, char *message,
                   size_t message_size);

/**
 * Collective, after a failed job once every rank has removed its files: the
 * directory rank 0 created (`created` from output_prepare()) is removed if
 * it is empty, so a rerun without overwrite is not refused.
 */
void output_forget(MPI_Comm comm, const char *dir, int created);

typedef struct part_writer {
  int fd;
  char *temporary_path;
  char *final_path;
  unsigned char *buffer;
  size_t used;
  size_t capacity;
  uint64_t bytes_written;
  int error; /**< errno of the first failed write. */
} part_writer;

/** Opens this rank's part for writing. Returns MPIMR_OK, IO (errno in w->error) or NOMEM. */
int part_writer_open(part_writer *w, const char *dir, int rank);

/** Room for `length` bytes in the buffer, flushing first if needed; NULL on a write error. */
unsigned char *part_writer_reserve(part_writer *w, size_t length);

/** Flushes, syncs, closes and renames the part into place. Returns MPIMR_OK or IO. */
int part_writer_commit(part_writer *w);

/** Closes and removes the temporary file (after a failure). */
void part_writer_abandon(part_writer *w);

/**
 * Writes `dir/_SUCCESS` (rank 0, once every rank has renamed its part into
 * place: the job agrees on that first). Returns MPIMR_OK, or MPIMR_ERR_IO
 * with the cause in `message`.
 */
int output_write_marker(const char *dir, char *message, size_t message_size);

#endif
