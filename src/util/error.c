/* util/error.c — names for status codes. */
#include "mpimr/error.h"

const char *mpimr_strerror(int status) {
  switch (status) {
    case MPIMR_OK: return "success";
    case MPIMR_ERR_NOMEM: return "out of memory";
    case MPIMR_ERR_INVAL: return "invalid argument";
    case MPIMR_ERR_IO: return "input/output error";
    case MPIMR_ERR_MPI: return "MPI error, ranks out of step";
    case MPIMR_ERR_EXISTS: return "output directory already exists";
    case MPIMR_ERR_USER: return "user callback failed";
    case MPIMR_ERR_REMOTE: return "another rank failed";
    case MPIMR_ERR_TOO_LARGE: return "size limit exceeded";
    case MPIMR_ERR_CORRUPT: return "corrupt data";
    case MPIMR_ERR_TOPOLOGY: return "hwloc topology or binding error";
    case MPIMR_ERR_STATE: return "call not allowed in this state";
    case MPIMR_ERR_INTERRUPTED: return "interrupted by a signal";
    case MPIMR_ERR_STALLED: return "a rank stalled, ranks out of step";
    case MPIMR_ERR_BUSY: return "output directory in use by another job";
    case MPIMR_ERR_NOT_FOUND: return "not found";
    default: return "unknown mpimr status";
  }
}

int mpimr_status_needs_abort(int status) { return status == MPIMR_ERR_MPI || status == MPIMR_ERR_STALLED; }
