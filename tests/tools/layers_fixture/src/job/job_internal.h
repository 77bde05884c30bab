/* The whole job: may include the job API. */
#include "mpimr/job.h"
#include "kv/table.h"
