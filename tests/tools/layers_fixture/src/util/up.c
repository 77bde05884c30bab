/* Rule 2: util reaching up into kv and job. */
#include "util/clock.h"
#include "kv/table.h"
# include <job/stages.h>
