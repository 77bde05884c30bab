/*
 * util/message.h — building one-line messages in fixed buffers (stall
 * warnings, the progress display), where what does not fit is cut.
 */
#ifndef MPIMR_UTIL_MESSAGE_H
#define MPIMR_UTIL_MESSAGE_H

#include <stddef.h>

/** Appends printf-style text to the string in `text` (a buffer of `size` bytes); what does not fit is cut. */
void message_append(char *text, size_t size, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
