/* util/message.c — appending to one-line messages in fixed buffers; see message.h. */
#include "util/message.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void message_append(char *text, size_t size, const char *format, ...) {
  size_t used = strlen(text);
  if (used + 1 >= size) return;
  va_list args;
  va_start(args, format);
  vsnprintf(text + used, size - used, format, args);
  va_end(args);
}
