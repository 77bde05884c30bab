/* On the whole-job list. */
#include "job/job_internal.h"
