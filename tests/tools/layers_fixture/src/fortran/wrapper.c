/* Fortran may include the job API, but not the whole job. */
#include "mpimr/all.h"
#include "job/job_internal.h"
