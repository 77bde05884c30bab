/*
 * apps/job_cli.h — what every mpimr job program shares: the options that tune
 * a job (rounds, transport, read size, memory budget, spill directory,
 * pinning, stats, timeline), their help text, and running a job with its
 * summary and failure report. Not part of the library.
 */
#ifndef MPIMR_APPS_JOB_CLI_H
#define MPIMR_APPS_JOB_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "mpimr/mpimr.h"

/** getopt_long ids of the shared options (above any short option or a program's own ids). */
enum job_cli_option {
  JOB_CLI_ROUND_SIZE = 0x1000,
  JOB_CLI_ROUNDS_IN_FLIGHT,
  JOB_CLI_TRANSPORT,
  JOB_CLI_PEER_WINDOW,
  JOB_CLI_RANKS_PER_NODE,
  JOB_CLI_READ_SIZE,
  JOB_CLI_MEMORY,
  JOB_CLI_SPILL_DIR,
  JOB_CLI_PIN,
  JOB_CLI_STATS,
  JOB_CLI_TRACE,
  JOB_CLI_GLOBAL_ORDER,
  JOB_CLI_STALL_WARNING,
  JOB_CLI_STALL_TIMEOUT,
  JOB_CLI_PROGRESS,
  JOB_CLI_PROGRESS_INTERVAL,
  JOB_CLI_MAX_BAD_RECORDS,
  JOB_CLI_DYNAMIC_MAP,
  JOB_CLI_STATIC_MAP /* the last: job_cli_is_option() takes the range */
};

/** The tuning and watching options' entries for a `struct option` table (the programs that run many jobs
 * take only these). */
#define JOB_CLI_TUNING_LONG_OPTIONS                                        \
  {"round-size", required_argument, NULL, JOB_CLI_ROUND_SIZE},             \
  {"rounds-in-flight", required_argument, NULL, JOB_CLI_ROUNDS_IN_FLIGHT}, \
  {"transport", required_argument, NULL, JOB_CLI_TRANSPORT},               \
  {"peer-window", required_argument, NULL, JOB_CLI_PEER_WINDOW},           \
  {"ranks-per-node", required_argument, NULL, JOB_CLI_RANKS_PER_NODE},     \
  {"read-size", required_argument, NULL, JOB_CLI_READ_SIZE},               \
  {"memory", required_argument, NULL, JOB_CLI_MEMORY},                     \
  {"spill-dir", required_argument, NULL, JOB_CLI_SPILL_DIR},               \
  {"pin", required_argument, NULL, JOB_CLI_PIN},                           \
  {"progress", optional_argument, NULL, JOB_CLI_PROGRESS},                 \
  {"progress-interval", required_argument, NULL, JOB_CLI_PROGRESS_INTERVAL}, \
  {"max-bad-records", required_argument, NULL, JOB_CLI_MAX_BAD_RECORDS},   \
  {"dynamic-map", no_argument, NULL, JOB_CLI_DYNAMIC_MAP},                 \
  {"static-map", no_argument, NULL, JOB_CLI_STATIC_MAP}

/** The shared options' entries for a `struct option` table. */
#define JOB_CLI_LONG_OPTIONS                                         \
  JOB_CLI_TUNING_LONG_OPTIONS,                                       \
  {"stats", required_argument, NULL, JOB_CLI_STATS},                 \
  {"trace", required_argument, NULL, JOB_CLI_TRACE},                 \
  {"global-order", no_argument, NULL, JOB_CLI_GLOBAL_ORDER},         \
  {"stall-warning", required_argument, NULL, JOB_CLI_STALL_WARNING}, \
  {"stall-timeout", required_argument, NULL, JOB_CLI_STALL_TIMEOUT}

/* The watching options' lines, shared by JOB_CLI_HELP, JOB_CLI_WATCH_HELP and
 * ITER_CLI_TUNING_HELP. */
#define JOB_CLI_WATCH_HELP_TEXT                                                     \
    "        --progress[=MODE]     rank 0's live progress on stderr: the phase, the\n" \
    "                              input mapped (all ranks), its rate, rounds, bytes\n" \
    "                              spilled, bad records and the map's time left.\n" \
    "                              MODE: line (one line rewritten in place; what\n" \
    "                              --progress alone means), plain (a line per\n" \
    "                              interval, for batch logs), off, or auto (the\n" \
    "                              default: line when stderr is a terminal, else off)\n" \
    "        --progress-interval SECONDS\n" \
    "                              seconds between updates (default 1 for line, 10\n" \
    "                              for plain)\n" \
    "        --max-bad-records N   skip up to N input records over the whole job whose\n" \
    "                              parsing fails, listing each (file, byte offset,\n" \
    "                              why) in OUTDIR/_bad_records, and fail if more do\n" \
    "                              (default 0: the first one fails the job)\n"          \
    "        --static-map          each rank maps its own share of the input and no\n" \
    "                              more (by default a rank that finishes its share\n"  \
    "                              early takes unstarted chunks of it from slower\n"   \
    "                              ranks: dynamic map)\n"                               \
    "        --dynamic-map         dynamic map (the default; for scripts that say so)\n"

/** Their lines of a program's --help, in the OPTIONS layout the programs share. */
extern const char JOB_CLI_HELP[];

/** The --help lines of --progress, --progress-interval and --max-bad-records (in JOB_CLI_HELP too). */
extern const char JOB_CLI_WATCH_HELP[];

/** mpimr_job_config_init() and the programs' own defaults (progress: AUTO, as rank 0's stderr is a terminal). */
void job_cli_config_init(mpimr_job_config *config);

/** A job's configuration and the program-side settings the shared options set. */
typedef struct job_cli {
  mpimr_job_config job;
  const char *stats_path; /**< --stats FILE, or NULL. */
  int quiet;              /**< -q: no summary line. */
  int help;               /**< -h: print the manual and stop. */
} job_cli;

/** The short options every job program takes (-o DIR -f -q -v -h), for getopt_long. */
#define JOB_CLI_SHORT_OPTIONS ":o:fqvh"

/** Their long names, for a `struct option` table (with JOB_CLI_LONG_OPTIONS). */
#define JOB_CLI_COMMON_LONG_OPTIONS                                                          \
  {"output", required_argument, NULL, 'o'}, {"overwrite", no_argument, NULL, 'f'},           \
      {"quiet", no_argument, NULL, 'q'}, {"verbose", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'}

/** Non-zero if `option` (a getopt_long return value) is one of the shared options. */
int job_cli_is_option(int option);

/**
 * Applies a shared option with value `value` (NULL for a flag). Returns 0, or CLI_EXIT_USAGE
 * after reporting the problem on rank 0.
 */
int job_cli_apply(job_cli *cli, int option, const char *value, int rank, const char *program);

/**
 * Handles what getopt_long() returned for anything but a program's own
 * options: the shared job options, -o, -f, -q, -v, -h, a missing value
 * (':') and an unknown option. Returns 0, or CLI_EXIT_USAGE after reporting
 * the problem on rank 0. After -h, cli->help is set: stop parsing.
 */
int job_cli_option(job_cli *cli, int option, const char *value, char **argv, int rank, const char *program);

/**
 * Takes the operands left after the options as the job's inputs and checks
 * that there is at least one and, if `output_required`, that -o was given.
 * Returns 0, or CLI_EXIT_USAGE after reporting the problem on rank 0.
 */
int job_cli_take_inputs(job_cli *cli, int argc, char **argv, int rank, const char *program, int output_required);

/**
 * Creates and runs a job on MPI_COMM_WORLD from `config` (collective). If it
 * succeeds and `summary` or `stats_path` is set, rank 0 prints the one-line
 * summary there and the figures go to `stats_path` as JSON. A rank that
 * failed prints its own cause ("PROGRAM: rank R: ... (status)"); ranks that
 * only stopped because of another stay quiet. If the ranks are out of step
 * (an MPI error), the whole MPI job is aborted, since a collective could wait
 * forever. Returns MPIMR_OK or the job's status, the same on every rank.
 */
int job_cli_run_config(const mpimr_job_config *config, const char *program, FILE *summary,
                       const char *stats_path);

/**
 * job_cli_run_config() for one of a program's many jobs (an iteration): the
 * first (while pinning->local_size is 0: start from a zeroed report) pins
 * the ranks as `config` says and leaves its report in *pinning; the later
 * ones take that report (mpimr_job_config.pinned_by) instead of reading the
 * topology again, which saves 10-40 ms a job.
 */
int job_cli_run_pinned(const mpimr_job_config *config, const char *program, FILE *summary, const char *stats_path,
                       mpimr_pin_report *pinning);

/**
 * job_cli_run_config() for the program's own job: the one-line summary on
 * rank 0 unless cli->quiet, and --stats. Failures are reported as there.
 * Returns the exit status: 0 or 1.
 */
int job_cli_run(job_cli *cli, const char *program);

/**
 * The whole main() of a job program whose options fill a job_cli and that
 * needs no state of its own: MPI_Init, `parse` (returning 0 or
 * CLI_EXIT_USAGE), the manual on rank 0 after -h, job_cli_run(),
 * MPI_Finalize. Returns the exit status.
 */
int job_cli_main(int argc, char **argv, const char *program,
                 int (*parse)(int argc, char **argv, int rank, job_cli *cli), void (*print_help)(void));

#endif /* MPIMR_APPS_JOB_CLI_H */
