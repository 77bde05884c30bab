/* Includes wrap.h: reported on wrap.h's line, not here. */
#include "job/wrap.h"
