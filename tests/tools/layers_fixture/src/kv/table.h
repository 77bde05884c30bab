/* Rule 3, directly: kv including the job API. */
#include "util/clock.h"
#include "mpimr/job.h"
