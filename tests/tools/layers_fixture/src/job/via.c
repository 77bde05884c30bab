/* Rule 4, through a header on the whole-job list. */
#include "mpimr/job.h"
#include "job/stages.h"
