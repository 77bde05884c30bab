/*
 * apps/shared_file.h — one output file that every rank of MPI_COMM_WORLD
 * writes its own byte range of (pwrite), as mpimr-gentext and
 * mpimr-gensort do. The file is created by rank 0 under a temporary name
 * next to the target, opened by the others, and renamed into place only
 * when every rank has succeeded, so a failed run leaves no half-written
 * file. Every function here is collective and makes the same MPI calls on
 * every rank whatever fails locally, so a failure never hangs the job.
 * Errors are printed by the rank that met them as "PROGRAM: rank R: ...".
 * Not part of the library.
 */
#ifndef MPIMR_APPS_SHARED_FILE_H
#define MPIMR_APPS_SHARED_FILE_H

#include <stdbool.h>

/** True on every rank if `failed` is true on any rank (collective). */
bool shared_file_any_rank(bool failed);

/** Prints "PROGRAM: rank R: ACTION PATH: strerror(error)" on stderr. */
void shared_file_report(const char *program, int rank, const char *action, const char *path, int error);

/**
 * The temporary name for `output`: `output` + ".tmp." + rank 0's process id,
 * the same on every rank (collective), so two runs writing the same file at
 * once do not write into each other's. NULL when out of memory (on this
 * rank only: agree with shared_file_any_rank()). Free it with free().
 */
char *shared_file_temporary_name(const char *output);

/**
 * Rank 0 creates (or truncates) `path`, then the others open it for writing
 * (collective). Returns 0 with `*fd` open, or -1 after reporting why (a
 * failure on rank 0 fails every rank).
 */
int shared_file_open(const char *program, const char *path, int rank, int *fd);

/**
 * Finishes the file (collective): when `failed` (the ranks' agreed verdict)
 * the temporary file is removed; otherwise rank 0 renames it to `output`.
 * Returns true on every rank when the file is in place.
 */
bool shared_file_commit(const char *program, const char *temporary, const char *output, bool failed, int rank);

#endif /* MPIMR_APPS_SHARED_FILE_H */
