/**
 * @file
 * mpimr/fortran.h — the C side of the Fortran 2003 module `mpimr`
 * (src/fortran/mpimr.f90), usable from any language that calls C.
 *
 * A `mpimr_fortran_job` owns its configuration and copies of every string
 * it is given, so a caller whose strings do not end in NUL (Fortran's) or do
 * not outlive the call can describe a job piece by piece, then run it on a
 * communicator given as a Fortran handle (MPI_Fint). Map and reduce
 * functions are the C callback types of mpimr/job.h; a Fortran one is a
 * `bind(C)` function with the same arguments. Inside them,
 * mpimr_fortran_emit() and mpimr_fortran_emit_u64() emit, and
 * mpimr_fortran_next_u64() reads a key's 8-byte counts.
 *
 * Every function returns an mpimr status (mpimr/error.h) unless it says
 * otherwise; mpimr_fortran_run() is collective over the communicator.
 */
#ifndef MPIMR_FORTRAN_H
#define MPIMR_FORTRAN_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "mpimr/dataset.h"
#include "mpimr/export.h"
#include "mpimr/job.h"
#include "mpimr/kv.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A job being described, then run (opaque). */
typedef struct mpimr_fortran_job mpimr_fortran_job;

/** Makes an empty description: no input, no callbacks, default settings. MPIMR_OK or MPIMR_ERR_NOMEM. */
MPIMR_API int mpimr_fortran_job_new(mpimr_fortran_job **job);

/** Frees the description and its job (NULL is allowed). Not collective. */
MPIMR_API void mpimr_fortran_job_free(mpimr_fortran_job *job);

/** Adds an input file or directory (`length` bytes at `path`, copied). */
MPIMR_API int mpimr_fortran_add_input(mpimr_fortran_job *job, const char *path, size_t length);

/** Sets the output directory (copied) and whether existing results are replaced (non-zero). */
MPIMR_API int mpimr_fortran_set_output(mpimr_fortran_job *job, const char *dir, size_t length, int overwrite);

/** The map function, called once per input record, and the pointer every callback gets as `user`. */
MPIMR_API int mpimr_fortran_set_map_record(mpimr_fortran_job *job, mpimr_map_record_fn map, void *user);

/** Or: the map function called once per pair of `input` (this rank's share), and the `user` pointer. */
MPIMR_API int mpimr_fortran_set_map_pair(mpimr_fortran_job *job, mpimr_map_pair_fn map, void *user,
                                         const mpimr_dataset *input);

/** Keeps the output in `output` instead of files (an output directory set before is dropped). */
MPIMR_API int mpimr_fortran_set_output_dataset(mpimr_fortran_job *job, mpimr_dataset *output);

/** mpimr_dataset_global_count() on a Fortran communicator handle (collective). */
MPIMR_API int mpimr_fortran_dataset_global_count(const mpimr_dataset *dataset, MPI_Fint comm, uint64_t *count);

/** mpimr_dataset_gather() on a Fortran communicator handle (collective). */
MPIMR_API int mpimr_fortran_dataset_gather(mpimr_dataset *dataset, MPI_Fint comm, int root);

/** mpimr_dataset_broadcast() on a Fortran communicator handle (collective). */
MPIMR_API int mpimr_fortran_dataset_broadcast(mpimr_dataset *dataset, MPI_Fint comm, int root);

/** The reduce function (optional; without one every pair is written as it is). */
MPIMR_API int mpimr_fortran_set_reduce(mpimr_fortran_job *job, mpimr_reduce_fn reduce);

/**
 * Values are 8-byte counts: combine them by adding (mpimr_combine_sum_u64)
 * on both sides of the shuffle, and write them in decimal.
 */
MPIMR_API int mpimr_fortran_use_u64_counts(mpimr_fortran_job *job);

/** The memory budget in bytes (0: the default; see mpimr_job_config.memory_bytes). */
MPIMR_API int mpimr_fortran_set_memory(mpimr_fortran_job *job, uint64_t bytes);

/**
 * Creates the job on `comm` (a Fortran communicator handle, converted with
 * MPI_Comm_f2c) and runs it (collective). Returns the agreed status, as
 * mpimr_job_run() does; a description runs once.
 */
MPIMR_API int mpimr_fortran_run(mpimr_fortran_job *job, MPI_Fint comm);

/**
 * Copies this rank's error message (as mpimr_job_error_message(), without a
 * terminating NUL) into `text`, at most `capacity` bytes. Returns its full
 * length (0 if there is none).
 */
MPIMR_API size_t mpimr_fortran_error(const mpimr_fortran_job *job, char *text, size_t capacity);

/** mpimr_emit() as a function: a key and a value of any bytes. */
MPIMR_API int mpimr_fortran_emit(mpimr_emitter *out, const void *key, size_t key_len, const void *value,
                                 size_t value_len);

/** Emits `key` with `value` as an 8-byte little-endian count (what mpimr_fortran_use_u64_counts() adds). */
MPIMR_API int mpimr_fortran_emit_u64(mpimr_emitter *out, const void *key, size_t key_len, uint64_t value);

/**
 * Reads a key's next value as an 8-byte count into `*value`. Returns 1, 0
 * when there are no more, or MPIMR_ERR_USER (negative) for a value that is
 * not 8 bytes long.
 */
MPIMR_API int mpimr_fortran_next_u64(mpimr_values *values, uint64_t *value);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_FORTRAN_H */
