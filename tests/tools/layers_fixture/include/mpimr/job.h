/* The job API. */
#include <mpi.h>
#include "mpimr/types.h"
