/* Rule 1: a public header including an internal one, and a missing one. */
#include "mpimr/types.h"
#include "util/clock.h"
#include <kv/table.h>
