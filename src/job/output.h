/*
 * job/output.h — the output directory: owning it, the part files, and
 * publishing a result so that no reader ever sees a mix.
 *
 * Rank 0 claims the directory: it makes it if missing, takes its lock
 * (output_lock.h: one job at a time, refused with the owner's name
 * otherwise), and only then judges what it holds: a result (`_SUCCESS`) or
 * files of someone else's are refused unless asked to overwrite; what dead
 * jobs left (staging and spill directories) is removed. It makes a staging
 * directory `DIR/.mpimr-staging-HOST.PID`, where every rank writes its part
 * under a hidden temporary name, flushes it to disk and renames it to
 * part-RRRRR. Nothing in DIR itself changes while the job runs, so an old
 * result stays whole until the new one is complete.
 *
 * Publishing (rank 0, once every rank has its part in the staging
 * directory): `_SUCCESS` is removed (and that made durable) before any old
 * part is touched; parts the new result does not replace are removed, the
 * new parts renamed in, and `_SUCCESS` written last; then the staging
 * directory and the lock go. A reader that sees `_SUCCESS` sees one whole
 * result. A failed job removes its staging directory and lock and leaves the
 * old result exactly as it was.
 */
#ifndef MPIMR_JOB_OUTPUT_H
#define MPIMR_JOB_OUTPUT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "job/output_lock.h"

/** What a job holds of its output directory. */
typedef struct output_claim {
  char *dir;        /**< The output directory. */
  char *staging;    /**< Where this job's parts are written (every rank; NULL if it could not be named). */
  output_lock lock; /**< Rank 0: the directory's lock. */
  int created;      /**< Rank 0: the job made the directory. */
  int held;         /**< The claim succeeded (every rank). */
  int published;    /**< Rank 0: the result was published (the lock is released). */
  uint64_t bad_record_lines; /**< Lines of `_bad_records` publishing gathers (0: none; an old one goes). */
} output_claim;

/** The file that lists the map records a job skipped (mpimr_job_config.max_bad_records). */
#define OUTPUT_BAD_RECORDS_NAME "_bad_records"

/**
 * Every rank with skipped records, before the agreement that follows map:
 * writes its lines (`length` bytes) as `PREFIX.RANK` (PREFIX: the staging
 * directory's `_bad_records`, or the job's bad_records_path). Returns
 * MPIMR_OK, or IO / NOMEM with the cause in `message`.
 */
int output_stage_bad_records(const char *prefix, int rank, const char *lines, size_t length, char *message,
                             size_t message_size);

/**
 * Rank 0, once every rank has staged its lines: writes the first
 * `max_lines` lines of the ranks' `PREFIX.RANK` files, in rank order, to
 * `path` (through a temporary file renamed into place) and removes them.
 * Returns MPIMR_OK, or IO / NOMEM with the cause in `message`.
 */
int output_gather_bad_records(const char *prefix, int ranks, uint64_t max_lines, const char *path, char *message,
                              size_t message_size);

/** Rank 0: removes the ranks' `PREFIX.RANK` files (when there is nothing to list). */
void output_discard_bad_records(const char *prefix, int ranks);

/**
 * Collective: claims `dir` as above. Returns the same status on every rank
 * (BUSY: another job owns it; EXISTS: it holds a result and `overwrite` is
 * clear, or is not a directory; IO; NOMEM; MPI); on failure `message` holds
 * the cause on every rank and nothing was changed (a directory made here is
 * removed again).
 */
int output_claim_take(output_claim *claim, MPI_Comm comm, const char *dir, int overwrite, char *message,
                      size_t message_size);

/**
 * Rank 0, once every rank's part is in the staging directory: publishes the
 * result of `ranks` parts as above (with `_bad_records` gathered from the
 * staged lines when claim->bad_record_lines is set; an older result's goes
 * either way) and releases the lock. Returns MPIMR_OK,
 * or IO / NOMEM with the cause in `message` (the old result is then gone,
 * but no `_SUCCESS` was written: the directory holds no result).
 */
int output_publish(output_claim *claim, int ranks, char *message, size_t message_size);

/**
 * Every rank, at the end of a job that claimed its directory, once each
 * rank has removed its own files: unless the result was published, rank 0
 * removes the staging directory, releases the lock and removes the
 * directory if the job made it and it is empty. `in_step` (the same on
 * every rank): the ranks can still meet in a collective, and wait for each
 * other first so that no rank is still writing; zero after a success, an
 * MPI error or a stall. Frees the claim's memory.
 */
void output_claim_release(output_claim *claim, MPI_Comm comm, int in_step);

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

/** Opens this rank's part in `dir` for writing. Returns MPIMR_OK, IO (errno in w->error) or NOMEM. */
int part_writer_open(part_writer *w, const char *dir, int rank);

/** Room for `length` bytes in the buffer, flushing first if needed; NULL on a write error. */
unsigned char *part_writer_reserve(part_writer *w, size_t length);

/** Flushes, syncs, closes and renames the part into place. Returns MPIMR_OK or IO. */
int part_writer_commit(part_writer *w);

/** Closes and removes the temporary file (after a failure). */
void part_writer_abandon(part_writer *w);

#endif
