/* Includes table.h (reported there, not again here), the umbrella (rule 3 through a public
   header), a file that is not there (rule 2), and one by a path relative to this directory. */
#include "kv/table.h"
#include <mpimr/all.h>
#include "kv/missing.h"
#include "table.h"
