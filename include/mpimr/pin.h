/**
 * @file
 * mpimr/pin.h — binding each rank to a core with hwloc.
 *
 * MPIMR_PIN_AUTO keeps a binding mpirun (or the user) already made; when the
 * rank is unbound and the ranks on this node do not outnumber its cores, it
 * binds local rank i to core i; when they do (oversubscribed), it binds
 * nothing. MPIMR_PIN_CORE binds to core i even over an existing binding
 * (still never when oversubscribed). MPIMR_PIN_NONE leaves the binding alone
 * and does not load hwloc's topology (which takes tens of milliseconds): its
 * report counts the logical CPUs the process may run on as cores. Programs
 * that run many jobs can pin with their first job and use NONE after it.
 */
#ifndef MPIMR_PIN_H
#define MPIMR_PIN_H

#include <mpi.h>

#include "mpimr/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Binding policies. */
typedef enum mpimr_pin_mode { MPIMR_PIN_AUTO = 0, MPIMR_PIN_CORE = 1, MPIMR_PIN_NONE = 2 } mpimr_pin_mode;

/** What mpimr_pin() found and did. */
typedef enum mpimr_pin_action {
  MPIMR_PIN_KEPT_EXISTING = 0,  /**< Already bound by someone else; left as it was. */
  MPIMR_PIN_BOUND_CORE = 1,     /**< Bound to core `core_index`. */
  MPIMR_PIN_OVERSUBSCRIBED = 2, /**< More local ranks than cores: not bound. */
  MPIMR_PIN_DISABLED = 3        /**< Mode was MPIMR_PIN_NONE. */
} mpimr_pin_action;

/** The outcome of pinning on one rank. */
typedef struct mpimr_pin_report {
  mpimr_pin_action action; /**< What was done. */
  int local_rank;   /**< Rank among the ranks of this node. */
  int local_size;   /**< Ranks on this node. */
  int cores;        /**< Cores hwloc sees on this node (allowed to this process). */
  int core_index;   /**< The core bound to (BOUND_CORE), else -1. */
  char cpuset[128]; /**< The binding afterwards, as hwloc's list string ("0-1", "3"). */
} mpimr_pin_report;

/**
 * Applies `mode` to the calling rank (collective over `comm`: it splits the
 * communicator by node to find the local rank). Fills `report` when not
 * NULL. Returns MPIMR_OK, MPIMR_ERR_INVAL, MPIMR_ERR_MPI or
 * MPIMR_ERR_TOPOLOGY on the rank that failed; the outcome is agreed across
 * `comm`, so the other ranks then return MPIMR_ERR_REMOTE.
 */
MPIMR_API int mpimr_pin(MPI_Comm comm, mpimr_pin_mode mode, mpimr_pin_report *report);

/** Parses "auto", "core" or "none". Returns MPIMR_OK or MPIMR_ERR_INVAL. */
MPIMR_API int mpimr_pin_mode_parse(const char *text, mpimr_pin_mode *mode);

/**
 * A short, static description of an action: "kept existing binding", "bound
 * to core", "not bound: oversubscribed" or "binding disabled".
 */
MPIMR_API const char *mpimr_pin_action_name(mpimr_pin_action action);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_PIN_H */
