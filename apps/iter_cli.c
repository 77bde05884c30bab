/* apps/iter_cli.c — what the iterative programs share; see iter_cli.h. */
#include "iter_cli.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char ITER_CLI_TUNING_HELP[] =
    "        --round-size SIZE     bytes a rank sends per shuffle round (default 4M;\n"
    "                              4K..1G; suffixes K, M, G)\n"
    "        --rounds-in-flight N  shuffle rounds outstanding at once (default 2; 1..8)\n"
    "        --transport T         how a round's bytes travel: auto (default),\n"
    "                              alltoallv or pairwise\n"
    "        --peer-window N       pairwise: sends, and receives, outstanding at once\n"
    "                              (default 8; 1..1048576)\n"
    "        --read-size SIZE      input bytes mapped per slice (default 256K; 4K..1G)\n"
    "        --memory SIZE         memory budget per rank for each job's data\n"
    "                              (default: half the node's memory shared by its\n"
    "                              ranks; 16M..1T); the data kept between jobs is\n"
    "                              outside it\n"
    "        --spill-dir DIR       where spilled runs go (default $TMPDIR, else /tmp);\n"
    "                              removed when each job ends\n"
    "        --pin MODE            core binding: auto (default: keep mpirun's binding,\n"
    "                              else one core per rank unless oversubscribed),\n"
    "                              core, or none\n";

int iter_cli_all_ok(int ok) {
  int all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return all;
}

int iter_cli_run_job(const mpimr_job_config *config, const char *program) {
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, MPI_COMM_WORLD, config);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (rc != MPIMR_OK && rc != MPIMR_ERR_REMOTE) {
    const char *message = job ? mpimr_job_error_message(job) : "";
    fprintf(stderr, "%s: %s (%s)\n", program, message[0] ? message : "job failed", mpimr_strerror(rc));
  }
  if (rc == MPIMR_ERR_MPI) {
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  mpimr_job_free(job);
  return rc;
}

/* What a run that never finished may leave in an output directory, which a new run may take over. */
static int is_failed_run_remains(const char *name) {
  return strncmp(name, "part-", 5) == 0 || strncmp(name, ".part-", 6) == 0 ||
         strncmp(name, "mpimr-spill-", 12) == 0;
}

/* 1 if `dir` (a directory) holds only what a failed run leaves, or cannot be read (the job will say why). */
static int holds_no_result(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return 1;
  int none = 1;
  struct dirent *entry;
  while (none && (entry = readdir(d)) != NULL)
    if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0 &&
        !is_failed_run_remains(entry->d_name))
      none = 0;
  closedir(d);
  return none;
}

int iter_cli_check_output(const char *dir, int overwrite, int rank, const char *program) {
  int usable = 1;
  struct stat st;
  if (rank == 0 && dir != NULL && stat(dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      fprintf(stderr, "%s: output '%s': exists and is not a directory\n", program, dir);
      usable = 0;
    } else if (!overwrite && !holds_no_result(dir)) {
      fprintf(stderr,
              "%s: output '%s': already exists and holds a result or other files (use -f to replace its "
              "results)\n",
              program, dir);
      usable = 0;
    }
  }
  MPI_Bcast(&usable, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return usable ? 0 : 1;
}

size_t iter_cli_decimal(char *text, uint64_t v) { return (size_t)snprintf(text, 21, "%" PRIu64, v); }

int iter_cli_compare_decimal(void *user, const void *a, size_t a_len, const void *b, size_t b_len) {
  (void)user;
  if (a_len != b_len) return a_len < b_len ? -1 : 1;
  return memcmp(a, b, a_len);
}
