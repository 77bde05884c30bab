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
    default: return "unknown mpimr status";
  }
}
