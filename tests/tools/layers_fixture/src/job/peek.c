/* Rule 4, directly. */
#include "job/job_internal.h"
