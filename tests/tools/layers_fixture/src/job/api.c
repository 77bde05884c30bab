/* On the whole-job list. */
#include "job/stages.h"
#include "mpimr/all.h"
