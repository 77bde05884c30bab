/* Decimal numbers to doubles, fast and exactly as strtod rounds them. */
#ifndef MPIMR_APPS_DECIMAL_H
#define MPIMR_APPS_DECIMAL_H

#include <stddef.h>

/*
 * Parses text[0, length) (not NUL-terminated) as a decimal number: [+-] digits [. digits] or
 * [+-] . digits, then an optional exponent [eE] [+-] digits, and nothing else (no blanks, hex,
 * inf or nan). Returns 0 with *value set to what strtod gives for the same text (correctly
 * rounded in the current rounding mode: ±HUGE_VAL beyond the range of a double, ±0 or a
 * subnormal below it, -0 for "-0"), or -1 if the text is not such a number (or, for a text of
 * 512 bytes or more that needs strtod, if there is no memory for its copy).
 *
 * Numbers of at most 19 significant digits whose value is an integer below 2^53 times or divided
 * by a power of ten up to 1e22 (pixel values, counts, most measurements) take one exact
 * multiplication or division (Clinger's fast path); the others go to strtod.
 */
int decimal_parse(const char *text, size_t length, double *value);

#endif
