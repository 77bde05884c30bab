/* An umbrella: includes the job API. */
#include "mpimr/job.h"
#include "mpimr/types.h"
