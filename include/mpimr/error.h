/**
 * @file
 * mpimr/error.h — status codes shared by every mpimr call.
 *
 * Every function that can fail returns an int: MPIMR_OK (zero) on success or
 * one of the negative codes below. mpimr_strerror() names a code. Functions
 * that fail inside a collective agree on the failure across the communicator,
 * so every rank returns an error (the rank that failed returns its own code,
 * the others MPIMR_ERR_REMOTE unless they failed too); MPIMR_ERR_MPI is the
 * one exception (see below).
 */
#ifndef MPIMR_ERROR_H
#define MPIMR_ERROR_H

#include "mpimr/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. Zero is success; every failure is negative. */
enum mpimr_status {
  MPIMR_OK = 0,
  MPIMR_ERR_NOMEM = -1, /**< An allocation failed. */
  MPIMR_ERR_INVAL = -2, /**< An argument or option value is invalid. */
  MPIMR_ERR_IO = -3,    /**< Reading or writing a file failed (see the job's message). */
  /**
   * An MPI call returned an error (the job's message carries MPI's error
   * string), or the shuffle had to stop in the middle of a round's exchange
   * for another cause, which the message names: no memory for a round's
   * receive buffer, a corrupt round header. Unlike the others this one is not agreed: the ranks may be out
   * of step, with some waiting for messages this rank will never send, so
   * the only safe way on is MPI_Abort() on the job's communicator (the mpimr
   * programs do that). The job's communicators return errors instead of
   * aborting, so that the cause can be reported first.
   */
  MPIMR_ERR_MPI = -4,
  MPIMR_ERR_EXISTS = -5,    /**< The output directory exists and overwrite was not asked for. */
  MPIMR_ERR_USER = -6,      /**< A user callback (map, combine, reduce, format) returned an error. */
  MPIMR_ERR_REMOTE = -7,    /**< Another rank failed; this rank stopped to stay in step. */
  MPIMR_ERR_TOO_LARGE = -8, /**< A key, value or message exceeds a hard limit. */
  MPIMR_ERR_CORRUPT = -9,   /**< Received or stored data failed to decode. */
  MPIMR_ERR_TOPOLOGY = -10, /**< hwloc could not read the topology or bind. */
  MPIMR_ERR_STATE = -11,    /**< The call is not allowed in the object's current state. */
  /**
   * The job stopped because the process caught SIGINT or SIGTERM (after
   * mpimr_signals_catch(); the job's message names the signal). Agreed like
   * any other failure: every rank stops and removes its files.
   */
  MPIMR_ERR_INTERRUPTED = -12,
  /**
   * A rank waited longer than the job's stall timeout without the job
   * making progress (a stopped or hung rank; the message names the ranks
   * that did not answer). As with MPIMR_ERR_MPI the ranks are out of step:
   * call MPI_Abort() (see mpimr_status_needs_abort()).
   */
  MPIMR_ERR_STALLED = -13,
  /** The output directory is in use by another job (the message names it). */
  MPIMR_ERR_BUSY = -14,
  /** What was asked for does not exist (a counter no rank added to). */
  MPIMR_ERR_NOT_FOUND = -15
};

/**
 * Non-zero for the statuses after which the ranks may be out of step
 * (MPIMR_ERR_MPI, MPIMR_ERR_STALLED): no collective is safe on the job's
 * communicator, and the caller should call MPI_Abort().
 */
MPIMR_API int mpimr_status_needs_abort(int status);

/**
 * Returns a short, static, human-readable description of a status code.
 * Unknown codes give "unknown mpimr status". Never returns NULL.
 */
MPIMR_API const char *mpimr_strerror(int status);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_ERROR_H */
