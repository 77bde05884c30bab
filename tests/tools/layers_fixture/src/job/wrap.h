/* Rule 4: a header off the list including the whole job. */
#include "job/job_internal.h"
