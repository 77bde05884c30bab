/* apps/iter_cli.c — what the iterative programs share; see iter_cli.h. */
#include "iter_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char ITER_CLI_TUNING_HELP[] =
    "        --round-size SIZE     bytes a rank sends per shuffle round (default 4M;\n"
    "                              4K..1G; suffixes K, M, G)\n"
    "        --rounds-in-flight N  shuffle rounds outstanding at once (default 2; 1..8)\n"
    "        --transport T         how a round's bytes travel: auto (default),\n"
    "                              alltoallv, pairwise or shared-memory\n"
    "        --peer-window N       pairwise: sends, and receives, outstanding at once\n"
    "                              (default 8; 1..1048576)\n"
    "        --ranks-per-node N    shared-memory: at most N consecutive ranks of a node\n"
    "                              share buffers; the groups exchange messages as\n"
    "                              nodes do (default 0: the whole node; 1: none)\n"
    "        --read-size SIZE      input bytes mapped per slice (default 256K; 4K..1G)\n"
    "        --memory SIZE         memory budget per rank for each job's data\n"
    "                              (default: half the node's memory shared by its\n"
    "                              ranks; 16M..1T); the data kept between jobs is\n"
    "                              outside it\n"
    "        --spill-dir DIR       where spilled runs go (default $TMPDIR, else /tmp);\n"
    "                              removed when each job ends\n"
    "        --pin MODE            core binding: auto (default: keep mpirun's binding,\n"
    "                              else one core per rank unless oversubscribed),\n"
    "                              core, or none\n" JOB_CLI_WATCH_HELP_TEXT;

int iter_cli_all_ok(int ok) {
  int all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return all;
}

int iter_cli_check_output(const char *dir, int overwrite, int rank, const char *program) {
  if (dir == NULL) return 0;
  char message[512];
  int rc = mpimr_output_check(MPI_COMM_WORLD, dir, overwrite, message, sizeof message);
  if (rc != MPIMR_OK && rank == 0) fprintf(stderr, "%s: %s\n", program, message);
  return rc == MPIMR_OK ? 0 : 1;
}

char *iter_cli_bad_records_path(const char *dir, uint64_t max_bad_records, int rank) {
  if (dir == NULL || max_bad_records == 0) return NULL;
  int made = rank != 0 || mkdir(dir, 0777) == 0 || errno == EEXIST;
  if (!made) fprintf(stderr, "mpimr: rank 0: output '%s': cannot create: %s\n", dir, strerror(errno));
  iter_cli_all_ok(made); /* the directory exists before any rank writes beside the list */
  char *path = malloc(strlen(dir) + sizeof "/_bad_records.parse");
  if (path != NULL) sprintf(path, "%s/_bad_records.parse", dir);
  return path;
}

void iter_cli_keep_bad_records(const char *dir, int rank) {
  if (dir == NULL || rank != 0) return;
  char from[4096], to[4096];
  snprintf(from, sizeof from, "%s/_bad_records.parse", dir);
  snprintf(to, sizeof to, "%s/_bad_records", dir);
  if (rename(from, to) != 0 && errno != ENOENT)
    fprintf(stderr, "mpimr: rank 0: cannot rename '%s' to '%s': %s\n", from, to, strerror(errno));
}

size_t iter_cli_decimal(char *text, uint64_t v) { return (size_t)snprintf(text, 21, "%" PRIu64, v); }

int iter_cli_compare_decimal(void *user, const void *a, size_t a_len, const void *b, size_t b_len) {
  (void)user;
  if (a_len != b_len) return a_len < b_len ? -1 : 1;
  return memcmp(a, b, a_len);
}
