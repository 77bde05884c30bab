/* apps/job_cli.c — the options and run loop every job program shares; see job_cli.h. */
#include "job_cli.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

const char JOB_CLI_HELP[] =
    "        --global-order        range-partition the keys from a sample of the\n"
    "                              input, so the parts taken in order (part-00000,\n"
    "                              part-00001, ...) are in one global key order; the\n"
    "                              map runs twice over about 2 MiB of each rank's input\n"
    "        --round-size SIZE     bytes a rank sends per shuffle round (default 4M;\n"
    "                              4K..1G; suffixes K, M, G)\n"
    "        --rounds-in-flight N  shuffle rounds outstanding at once (default 2; 1..8)\n"
    "        --transport T         how a round's bytes travel: auto (default; the\n"
    "                              library's choice, shared-memory today), alltoallv\n"
    "                              (one MPI_Ialltoallv per round), pairwise (MPI_Isend/\n"
    "                              MPI_Irecv with only the ranks that have bytes) or\n"
    "                              shared-memory (ranks on one node read each other's\n"
    "                              send buffers in place; pairwise between nodes)\n"
    "        --peer-window N       pairwise: sends, and receives, outstanding at once\n"
    "                              (default 8; 1..1048576)\n"
    "        --ranks-per-node N    shared-memory: at most N consecutive ranks of a node\n"
    "                              read each other's buffers; the groups exchange\n"
    "                              messages as separate nodes do (default 0: the whole\n"
    "                              node; 1 shares nothing). Runs a multi-node job's\n"
    "                              protocol on one machine, or keeps sharing in a socket\n"
    "        --read-size SIZE      input bytes mapped per slice (default 256K; 4K..1G)\n"
    "        --memory SIZE         memory budget per rank for the job's data (default:\n"
    "                              half the node's memory shared by its ranks; 16M..1T);\n"
    "                              round, table and read sizes are cut to fit, and\n"
    "                              what does not fit is spilled to disk as sorted runs\n"
    "        --spill-dir DIR       where spilled runs go (default $TMPDIR, else OUTDIR,\n"
    "                              else /tmp); removed when the job ends\n"
    "        --pin MODE            core binding: auto (default: keep mpirun's binding,\n"
    "                              else one core per rank unless oversubscribed),\n"
    "                              core, or none\n"
    "        --stats FILE          write every rank's figures to FILE as JSON\n"
    "        --trace FILE          write a timeline of the job (Chrome trace-event\n"
    "                              JSON, one track per rank) for Perfetto\n"
    "        --stall-warning SECONDS\n"
    "                              when rank 0 has waited this long without progress\n"
    "                              (default 60; 0: never), it asks every rank where\n"
    "                              it is and prints once which ranks did not answer\n"
    "                              within 2 s (stopped, or busy in one long step such\n"
    "                              as a large reduce), with their hosts and the phase;\n"
    "                              the job goes on\n"
    "        --stall-timeout SECONDS\n"
    "                              after this long without progress (default 0:\n"
    "                              never), fail the job with that message and abort\n"
    "                              every rank (ranks other than 0 wait 10 s more and\n"
    "                              name rank 0). Set it above the longest reduce of a\n"
    "                              rank, or a busy rank is taken for a stopped one\n"
    JOB_CLI_WATCH_HELP_TEXT;

const char JOB_CLI_WATCH_HELP[] = JOB_CLI_WATCH_HELP_TEXT;

int job_cli_is_option(int option) { return option >= JOB_CLI_ROUND_SIZE && option <= JOB_CLI_STATIC_MAP; }

void job_cli_config_init(mpimr_job_config *config) {
  mpimr_job_config_init(config);
  config->progress = MPIMR_PROGRESS_AUTO;
}

/* Parses --progress's optional MODE. */
static int apply_progress(const char *value, int rank, const char *program, mpimr_progress *out) {
  static const struct {
    const char *name;
    mpimr_progress mode;
  } modes[] = {{"line", MPIMR_PROGRESS_LINE}, {"plain", MPIMR_PROGRESS_PLAIN}, {"off", MPIMR_PROGRESS_OFF},
               {"auto", MPIMR_PROGRESS_AUTO}};
  if (value == NULL) {
    *out = MPIMR_PROGRESS_LINE;
    return 0;
  }
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    if (strcmp(value, modes[i].name) == 0) {
      *out = modes[i].mode;
      return 0;
    }
  cli_usage_error(rank, program, "--progress must be line, plain, off or auto (as --progress=MODE), not '%s'", value);
  return CLI_EXIT_USAGE;
}

/* Parses a size option into `*out`, or reports the usage error. */
static int apply_size(const char *value, uint64_t min, uint64_t max, const char *range, const char *name,
                      int rank, const char *program, size_t *out) {
  uint64_t size;
  if (cli_parse_size(value, min, max, &size) != 0) {
    cli_usage_error(rank, program, "--%s must be a size from %s, not '%s'", name, range, value);
    return CLI_EXIT_USAGE;
  }
  *out = (size_t)size;
  return 0;
}

/* Parses a number of seconds (0 turns the setting off) into `*out`, or reports the usage error. */
static int apply_seconds(const char *value, const char *name, const char *zero_means, int rank,
                         const char *program, double *out) {
  if (cli_parse_double(value, 0, 1e9, out) == 0) return 0;
  cli_usage_error(rank, program, "--%s must be a number of seconds from 0 (%s) to 1e9, not '%s'", name,
                  zero_means, value);
  return CLI_EXIT_USAGE;
}

int job_cli_apply(job_cli *cli, int option, const char *value, int rank, const char *program) {
  mpimr_job_config *job = &cli->job;
  switch (option) {
    case JOB_CLI_ROUND_SIZE:
      return apply_size(value, 4096, (uint64_t)1 << 30, "4K to 1G", "round-size", rank, program,
                        &job->round_bytes);
    case JOB_CLI_READ_SIZE:
      return apply_size(value, 4096, (uint64_t)1 << 30, "4K to 1G", "read-size", rank, program,
                        &job->read_bytes);
    case JOB_CLI_MEMORY:
      return apply_size(value, (uint64_t)16 << 20, (uint64_t)1 << 40, "16M to 1T", "memory", rank, program,
                        &job->memory_bytes);
    case JOB_CLI_ROUNDS_IN_FLIGHT:
      if (cli_parse_int(value, 1, 8, &job->rounds_in_flight) == 0) return 0;
      cli_usage_error(rank, program, "--rounds-in-flight must be an integer from 1 to 8, not '%s'", value);
      return CLI_EXIT_USAGE;
    case JOB_CLI_TRANSPORT:
      if (mpimr_transport_parse(value, &job->transport) == MPIMR_OK) return 0;
      cli_usage_error(rank, program, "--transport must be auto, alltoallv, pairwise or shared-memory, not '%s'", value);
      return CLI_EXIT_USAGE;
    case JOB_CLI_PEER_WINDOW:
      if (cli_parse_int(value, 1, 1 << 20, &job->peer_window) == 0) return 0;
      cli_usage_error(rank, program, "--peer-window must be an integer from 1 to 1048576, not '%s'", value);
      return CLI_EXIT_USAGE;
    case JOB_CLI_RANKS_PER_NODE:
      if (cli_parse_int(value, 0, 1 << 20, &job->ranks_per_node) == 0) return 0;
      cli_usage_error(rank, program, "--ranks-per-node must be an integer from 0 to 1048576, not '%s'",
                      value);
      return CLI_EXIT_USAGE;
    case JOB_CLI_PIN:
      if (mpimr_pin_mode_parse(value, &job->pin) == MPIMR_OK) return 0;
      cli_usage_error(rank, program, "--pin must be auto, core or none, not '%s'", value);
      return CLI_EXIT_USAGE;
    case JOB_CLI_SPILL_DIR:
      if (value[0] != '\0') {
        job->spill_dir = value;
        return 0;
      }
      cli_usage_error(rank, program, "--spill-dir must name a directory");
      return CLI_EXIT_USAGE;
    case JOB_CLI_STATS: cli->stats_path = value; return 0;
    case JOB_CLI_TRACE: job->trace_path = value; return 0;
    case JOB_CLI_GLOBAL_ORDER: job->key_order = MPIMR_KEY_ORDER_GLOBAL; return 0;
    case JOB_CLI_STALL_WARNING:
      return apply_seconds(value, "stall-warning", "no warning", rank, program, &job->stall_warning_seconds);
    case JOB_CLI_STALL_TIMEOUT:
      return apply_seconds(value, "stall-timeout", "no timeout", rank, program, &job->stall_timeout_seconds);
    case JOB_CLI_PROGRESS: return apply_progress(value, rank, program, &job->progress);
    case JOB_CLI_PROGRESS_INTERVAL:
      if (cli_parse_double(value, 0.01, 86400, &job->progress_interval_seconds) == 0) return 0;
      cli_usage_error(rank, program, "--progress-interval must be a number of seconds from 0.01 to 86400, not '%s'",
                      value);
      return CLI_EXIT_USAGE;
    case JOB_CLI_MAX_BAD_RECORDS:
      if (cli_parse_u64(value, 0, UINT64_MAX - 1, &job->max_bad_records) == 0) return 0;
      cli_usage_error(rank, program, "--max-bad-records must be a whole number from 0, not '%s'", value);
      return CLI_EXIT_USAGE;
    case JOB_CLI_DYNAMIC_MAP: job->dynamic_map = 1; return 0;
    case JOB_CLI_STATIC_MAP: job->dynamic_map = 0; return 0;
    default: cli_usage_error(rank, program, "internal error: option %d is not a job option", option);
  }
  return CLI_EXIT_USAGE;
}

int job_cli_option(job_cli *cli, int option, const char *value, char **argv, int rank, const char *program) {
  if (job_cli_is_option(option)) return job_cli_apply(cli, option, value, rank, program);
  switch (option) {
    case 'o': cli->job.output_dir = value; return 0;
    case 'f': cli->job.overwrite = 1; return 0;
    case 'q': cli->quiet = 1; return 0;
    case 'v': cli->job.verbose = 1; return 0;
    case 'h': cli->help = 1; return 0;
    case ':': cli_usage_error(rank, program, "option '%s' needs a value", argv[optind - 1]); return CLI_EXIT_USAGE;
    default: cli_usage_error(rank, program, "unknown option '%s'", argv[optind - 1]); return CLI_EXIT_USAGE;
  }
}

int job_cli_take_inputs(job_cli *cli, int argc, char **argv, int rank, const char *program, int output_required) {
  cli->job.inputs = (const char *const *)(argv + optind);
  cli->job.input_count = argc - optind;
  if (cli->job.input_count == 0) {
    cli_usage_error(rank, program, "no INPUT files or directories given");
    return CLI_EXIT_USAGE;
  }
  if (output_required && cli->job.output_dir == NULL) {
    cli_usage_error(rank, program, "-o OUTDIR is required");
    return CLI_EXIT_USAGE;
  }
  return 0;
}

int job_cli_run_config(const mpimr_job_config *config, const char *program, FILE *summary,
                       const char *stats_path) {
  return job_cli_run_pinned(config, program, summary, stats_path, NULL);
}

int job_cli_run_pinned(const mpimr_job_config *config, const char *program, FILE *summary, const char *stats_path,
                       mpimr_pin_report *pinning) {
  mpimr_job *job = NULL;
  mpimr_job_config reusing = *config;
  if (pinning != NULL && pinning->local_size > 0) reusing.pinned_by = pinning;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, &reusing);
  if (rc == MPIMR_OK && pinning != NULL && pinning->local_size == 0) *pinning = *mpimr_job_get_pin_report(job);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (rc == MPIMR_OK && (summary != NULL || stats_path != NULL))
    rc = mpimr_job_report(job, summary, stats_path);
  if (rc != MPIMR_OK && rc != MPIMR_ERR_REMOTE) {
    const char *message = job ? mpimr_job_error_message(job) : "";
    fprintf(stderr, "%s: %s (%s)\n", program, message[0] ? message : "job failed", mpimr_strerror(rc));
  }
  if (mpimr_status_needs_abort(rc)) {
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  mpimr_job_free(job);
  return rc;
}

int job_cli_run(job_cli *cli, const char *program) {
  int rc = job_cli_run_config(&cli->job, program, cli->quiet ? NULL : stdout, cli->stats_path);
  return rc == MPIMR_OK ? 0 : 1;
}

int job_cli_main(int argc, char **argv, const char *program,
                 int (*parse)(int argc, char **argv, int rank, job_cli *cli), void (*print_help)(void)) {
  MPI_Init(&argc, &argv);
  mpimr_signals_catch(); /* SIGINT and SIGTERM fail the running job cleanly (mpimr/signals.h) */
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  job_cli cli;
  memset(&cli, 0, sizeof cli);
  int status = parse(argc, argv, rank, &cli);
  if (status == 0 && cli.help) {
    if (rank == 0) print_help();
  } else if (status == 0) {
    status = job_cli_run(&cli, program);
  }
  MPI_Finalize();
  return status;
}
