/* Rule 2: a directory that is in no layer. */
#include "util/clock.h"
