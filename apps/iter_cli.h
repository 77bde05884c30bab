/*
 * apps/iter_cli.h — what the iterative programs (mpimr-kmeans, mpimr-cc) share:
 * they run one job per step over data they keep in memory, so they take the
 * job-tuning options but not the per-job ones (--stats, --trace,
 * --global-order), run many jobs with one failure report each, check their
 * output directories before the first step, and write numbered keys as
 * decimal text in numeric order. Not part of the library.
 */
#ifndef MPIMR_APPS_ITER_CLI_H
#define MPIMR_APPS_ITER_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "job_cli.h"
#include "mpimr/mpimr.h"

/**
 * The --help lines of the tuning options (JOB_CLI_TUNING_LONG_OPTIONS), in the
 * OPTIONS layout the programs share, as they apply to a program running many jobs.
 */
extern const char ITER_CLI_TUNING_HELP[];

/** 1 on every rank of MPI_COMM_WORLD if `ok` is non-zero on every rank, else 0 (collective). */
int iter_cli_all_ok(int ok);

/**
 * Checks on rank 0, before any work, that output directory `dir` (NULL: none)
 * can be taken, by the rule the library applies when it writes: without
 * `overwrite` it must be missing, empty, or hold only what a failed run
 * leaves. Returns 0, or 1 on every rank after rank 0 said why (collective).
 */
int iter_cli_check_output(const char *dir, int overwrite, int rank, const char *program);

/**
 * The list of records the parsing job skips (--max-bad-records), for a
 * program whose later job writes the result into `dir`: rank 0 makes `dir`
 * if it is missing (collective), and the parsing job writes its list to the
 * returned path, `dir/_bad_records.parse` (free it), which the result's
 * publishing leaves alone. NULL when `dir` is NULL or no record may be
 * skipped. After the program ends, iter_cli_keep_bad_records() names it
 * `_bad_records`, as a single job's is named.
 */
char *iter_cli_bad_records_path(const char *dir, uint64_t max_bad_records, int rank);

/** Rank 0: renames `dir/_bad_records.parse` (if there is one) to `dir/_bad_records`. */
void iter_cli_keep_bad_records(const char *dir, int rank);

/** Writes `v` in decimal into `text` (room for 21 bytes, NUL included) and returns its length. */
size_t iter_cli_decimal(char *text, uint64_t v);

/**
 * A mpimr_compare_fn for keys that are decimal numbers without leading
 * zeros: numeric order (shorter first, then bytewise).
 */
int iter_cli_compare_decimal(void *user, const void *a, size_t a_len, const void *b, size_t b_len);

#endif /* MPIMR_APPS_ITER_CLI_H */
