/*
 * apps/cli.h — small helpers the mpimr programs share: parsing numbers and
 * sizes from option values with clear errors, and printing only on rank 0.
 * Not part of the library.
 */
#ifndef MPIMR_APPS_CLI_H
#define MPIMR_APPS_CLI_H

#include <stddef.h>
#include <stdint.h>

/**
 * Parses a byte size: digits with an optional suffix K, M, G or T (powers of
 * 1024, also KiB/MiB/GiB/TiB, case-insensitive) or B. Returns 0 and sets
 * `*out`, or -1 if the text is malformed or out of range [min, max].
 */
int cli_parse_size(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/** Parses a decimal integer in [min, max]. Returns 0 or -1. */
int cli_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/** Parses a decimal integer in [min, max]. Returns 0 or -1. */
int cli_parse_int(const char *text, int min, int max, int *out);

/** Parses a finite floating-point number in [min, max]. Returns 0 or -1. */
int cli_parse_double(const char *text, double min, double max, double *out);

/**
 * Prints "PROGRAM: MESSAGE" and "Try 'PROGRAM --help'." on stderr, on rank 0
 * only (`rank` is the caller's rank in MPI_COMM_WORLD).
 */
void cli_usage_error(int rank, const char *program, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/** Exit status for usage errors (as in BSD sysexits EX_USAGE). */
#define CLI_EXIT_USAGE 64

#endif /* MPIMR_APPS_CLI_H */
