/* Public, small: fine everywhere. */
#include <stddef.h>
#include "mpimr/version.h"
