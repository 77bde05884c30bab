/* Fine: system and public headers only. A commented-out include is not an include: */
/* #include "kv/table.h" */
// #include "mpimr/job.h"
#include <time.h>
#include "mpimr/types.h"
static const char *text = "/* #include \"kv/table.h\" */";
