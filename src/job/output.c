/* job/output.c — output directory, part files and the commit; see output.h. */
#include "job/output.h"

#include "mpimr/job.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job/spill.h"
#include "mpimr/error.h"
#include "util/files.h"
#include "util/process_id.h"

enum { WRITER_BUFFER_BYTES = 1 << 20 };

/* Broadcasts rank 0's status and message so every rank reports the same cause. */
static int share_outcome(MPI_Comm comm, int status, char *message, size_t message_size) {
  char packet[sizeof(int) + 512];
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    memcpy(packet, &status, sizeof status);
    snprintf(packet + sizeof(int), sizeof packet - sizeof(int), "%s", status == MPIMR_OK ? "" : message);
  }
  if (MPI_Bcast(packet, (int)sizeof packet, MPI_CHAR, 0, comm) != MPI_SUCCESS) {
    snprintf(message, message_size, "output: MPI_Bcast failed");
    return MPIMR_ERR_MPI;
  }
  memcpy(&status, packet, sizeof status);
  if (rank != 0) snprintf(message, message_size, "%s", packet + sizeof(int));
  return status;
}

/* The directory a job writes its parts into before they are published: one per job, named after
 * rank 0's process. */
#define STAGING_PREFIX ".mpimr-staging-"

/* Files and directories this library makes in an output directory. */
static int is_part_name(const char *name) { return strncmp(name, "part-", 5) == 0; }
static int is_temporary_part_name(const char *name) { return strncmp(name, ".part-", 6) == 0; }

/* What a job that never finished can leave (never _SUCCESS), and the lock files. */
static int is_failed_run_remains(const char *name) {
  return is_part_name(name) || strncmp(name, OUTPUT_BAD_RECORDS_NAME, strlen(OUTPUT_BAD_RECORDS_NAME)) == 0 || is_temporary_part_name(name) || strncmp(name, "mpimr-spill-", 12) == 0 ||
         strncmp(name, STAGING_PREFIX, strlen(STAGING_PREFIX)) == 0 ||
         strncmp(name, OUTPUT_LOCK_NAME, strlen(OUTPUT_LOCK_NAME)) == 0;
}

/* 1 if `dir` holds nothing, or only what a failed run leaves; 0 if it holds a result or files of
 * someone else's; -1 if it cannot be read (errno set). */
static int holds_no_result(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  int none = 1;
  struct dirent *entry;
  while (none && (entry = readdir(d)) != NULL)
    if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0 &&
        !is_failed_run_remains(entry->d_name))
      none = 0;
  closedir(d);
  return none;
}

/* Whether a job may take `dir` as it is (the lock aside): MPIMR_OK with *exists set if it is a
 * directory the job may take (empty, remains of a failed run, or overwrite asked for), MPIMR_OK with
 * *exists clear if it is missing, else the refusal and its cause in `message`. Changes nothing. */
static int check_contents(const char *dir, int overwrite, int *exists, char *message, size_t message_size) {
  struct stat st;
  *exists = 0;
  if (stat(dir, &st) != 0) {
    if (errno == ENOENT) return MPIMR_OK;
    snprintf(message, message_size, "output '%s': %s", dir, strerror(errno));
    return MPIMR_ERR_IO;
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(message, message_size, "output '%s': exists and is not a directory", dir);
    return MPIMR_ERR_EXISTS;
  }
  *exists = 1;
  int empty = overwrite ? 1 : holds_no_result(dir);
  if (empty < 0) {
    snprintf(message, message_size, "output '%s': %s", dir, strerror(errno));
    return MPIMR_ERR_IO;
  }
  if (!empty) {
    snprintf(message, message_size,
             "output '%s': already exists and holds a result or other files (use overwrite to replace its "
             "results)",
             dir);
    return MPIMR_ERR_EXISTS;
  }
  return MPIMR_OK;
}

/* Removes the entries of `dir` that `chosen` picks (given `ranks`): files, and directories that hold
 * only files. */
static int remove_entries(const char *dir, int (*chosen)(const char *name, int ranks), int ranks,
                          char *message, size_t message_size) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    snprintf(message, message_size, "output '%s': %s", dir, strerror(errno));
    return MPIMR_ERR_IO;
  }
  int rc = MPIMR_OK;
  struct dirent *entry;
  while (rc == MPIMR_OK && (entry = readdir(d)) != NULL) {
    if (!chosen(entry->d_name, ranks)) continue;
    char *path = files_join(dir, entry->d_name);
    if (path == NULL)
      rc = MPIMR_ERR_NOMEM;
    else if (unlink(path) != 0 && errno != ENOENT &&
             (errno != EISDIR || files_remove_flat_directory(path) != 0)) {
      snprintf(message, message_size, "output '%s': cannot remove: %s", path, strerror(errno));
      rc = MPIMR_ERR_IO;
    }
    free(path);
  }
  closedir(d);
  return rc;
}

static int is_staging_name(const char *name, int ranks) {
  (void)ranks;
  return strncmp(name, STAGING_PREFIX, strlen(STAGING_PREFIX)) == 0;
}

/* A part or temporary part that a result of `ranks` parts does not replace. */
static int is_part_not_replaced(const char *name, int ranks) {
  if (is_temporary_part_name(name)) return 1;
  if (!is_part_name(name)) return 0;
  char *end;
  long index = strtol(name + 5, &end, 10);
  return !(strlen(name) == 10 && end == name + 10 && index >= 0 && index < ranks);
}

/* Removes the staging directories and spill directories that jobs which no longer run left in `dir`
 * (the caller holds its lock, so no running job owns a staging directory there). */
static int remove_dead_jobs_remains(const char *dir, char *message, size_t message_size) {
  int rc = remove_entries(dir, is_staging_name, 0, message, message_size);
  if (rc == MPIMR_OK) spill_reclaim(dir, SPILL_RECLAIM_UNLESS_ALIVE);
  return rc;
}

/* Rank 0's part of output_claim_take(): the directory made or taken, locked, checked, cleaned of dead
 * jobs' remains, and the staging directory made. */
static int claim_on_root(output_claim *claim, const char *dir, int overwrite, int ranks, char *message,
                         size_t message_size) {
  int exists;
  int rc = check_contents(dir, 1, &exists, message, message_size); /* what it is, not what it holds */
  if (rc != MPIMR_OK) return rc;
  if (!exists) {
    if (mkdir(dir, 0777) == 0)
      claim->created = 1;
    else if (errno != EEXIST) {
      snprintf(message, message_size, "output '%s': cannot create: %s", dir, strerror(errno));
      return MPIMR_ERR_IO;
    }
  }
  rc = output_lock_take(&claim->lock, dir, ranks, message, message_size);
  if (rc != MPIMR_OK) return rc;
  /* Only now, as its owner, is what the directory holds worth judging. */
  rc = check_contents(dir, overwrite, &exists, message, message_size);
  if (rc == MPIMR_OK) rc = remove_dead_jobs_remains(dir, message, message_size);
  if (rc == MPIMR_OK && mkdir(claim->staging, 0777) != 0) {
    snprintf(message, message_size, "output '%s': cannot create: %s", claim->staging, strerror(errno));
    rc = MPIMR_ERR_IO;
  }
  if (rc != MPIMR_OK) output_lock_release(&claim->lock);
  return rc;
}

enum { OUTCOME_MESSAGE_BYTES = 512, OUTCOME_NAME_BYTES = 320 };

/* Rank 0's status, message and staging directory name, as broadcast to every rank. */
typedef struct claim_outcome {
  int status;
  char message[OUTCOME_MESSAGE_BYTES];
  char staging_name[OUTCOME_NAME_BYTES];
} claim_outcome;

int output_claim_take(output_claim *claim, MPI_Comm comm, const char *dir, int overwrite, char *message,
                      size_t message_size) {
  memset(claim, 0, sizeof *claim);
  int rank, ranks;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  claim_outcome outcome;
  memset(&outcome, 0, sizeof outcome);
  claim->dir = strdup(dir);
  if (rank == 0) {
    process_id self;
    process_id_self(&self);
    snprintf(outcome.staging_name, sizeof outcome.staging_name, STAGING_PREFIX "%s.%ld", self.host, self.pid);
    claim->staging = files_join(dir, outcome.staging_name);
    outcome.status = claim->dir && claim->staging ? claim_on_root(claim, dir, overwrite, ranks,
                                                                  outcome.message, sizeof outcome.message)
                                                  : MPIMR_ERR_NOMEM;
  }
  if (MPI_Bcast(&outcome, (int)sizeof outcome, MPI_BYTE, 0, comm) != MPI_SUCCESS) {
    snprintf(message, message_size, "output: MPI_Bcast failed");
    output_claim_release(claim, comm, 0);
    return MPIMR_ERR_MPI;
  }
  /* A rank that cannot hold the names (no memory) finds out when it opens its part, and the job
   * agrees on that failure then; here every rank returns rank 0's outcome. */
  if (rank != 0 && outcome.status == MPIMR_OK) claim->staging = files_join(dir, outcome.staging_name);
  if (outcome.status != MPIMR_OK) {
    snprintf(message, message_size, "%s",
             outcome.message[0] ? outcome.message : mpimr_strerror(outcome.status));
    if (rank == 0 && claim->created) rmdir(dir);
    free(claim->dir);
    free(claim->staging);
    claim->dir = claim->staging = NULL;
    claim->created = 0;
    return outcome.status;
  }
  claim->held = 1;
  return MPIMR_OK;
}

static int sync_directory(const char *dir, char *message, size_t message_size) {
  if (files_sync_directory(dir) == 0) return MPIMR_OK;
  snprintf(message, message_size, "output '%s': cannot sync the directory: %s", dir, strerror(errno));
  return MPIMR_ERR_IO;
}

/* Moves every rank's part from the staging directory into the output directory. */
static int move_parts_in(const output_claim *claim, int ranks, char *message, size_t message_size) {
  char name[32];
  for (int rank = 0; rank < ranks; rank++) {
    snprintf(name, sizeof name, "part-%05d", rank);
    char *from = files_join(claim->staging, name), *to = files_join(claim->dir, name);
    int rc = from && to ? rename(from, to) : -1;
    if (rc != 0)
      snprintf(message, message_size, "output '%s': cannot move into place: %s", from ? from : name,
               from && to ? strerror(errno) : "out of memory");
    free(from);
    free(to);
    if (rc != 0) return MPIMR_ERR_IO;
  }
  return MPIMR_OK;
}

static int write_marker(const char *dir, char *message, size_t message_size) {
  char *path = files_join(dir, "_SUCCESS");
  int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666) : -1;
  int status = MPIMR_OK;
  if (fd < 0 || fsync(fd) != 0) {
    snprintf(message, message_size, "output '%s': cannot write _SUCCESS: %s", path ? path : dir,
             path ? strerror(errno) : "out of memory");
    status = MPIMR_ERR_IO;
  }
  if (fd >= 0) close(fd);
  free(path);
  return status;
}

int output_stage_bad_records(const char *prefix, int rank, const char *lines, size_t length, char *message,
                             size_t message_size) {
  char *path = malloc(strlen(prefix) + 16);
  if (path != NULL) sprintf(path, "%s.%d", prefix, rank);
  FILE *f = path ? fopen(path, "w") : NULL;
  int ok = f != NULL && fwrite(lines, 1, length, f) == length;
  if (f != NULL && fclose(f) != 0) ok = 0;
  if (!ok)
    snprintf(message, message_size, "'%s': cannot write the skipped records: %s", path ? path : prefix,
             path ? strerror(errno) : "out of memory");
  free(path);
  return ok ? MPIMR_OK : path ? MPIMR_ERR_IO : MPIMR_ERR_NOMEM;
}

/* Copies lines of `from` (missing: none) to `to` until `*left` lines are copied. Returns 0 or -1. */
static int copy_lines(const char *from, FILE *to, uint64_t *left) {
  FILE *f = fopen(from, "r");
  if (f == NULL) return errno == ENOENT ? 0 : -1;
  int c;
  while (*left > 0 && (c = getc(f)) != EOF) {
    if (putc(c, to) == EOF) break;
    if (c == '\n') --*left;
  }
  int failed = ferror(f) || ferror(to);
  fclose(f);
  return failed ? -1 : 0;
}

int output_gather_bad_records(const char *prefix, int ranks, uint64_t max_lines, const char *path, char *message,
                              size_t message_size) {
  size_t room = strlen(prefix) + 24;
  char *temporary = malloc(strlen(path) + 16), *staged = malloc(room);
  if (temporary != NULL) sprintf(temporary, "%s.gathering", path);
  FILE *out = temporary && staged ? fopen(temporary, "w") : NULL;
  int failed = out == NULL;
  uint64_t left = max_lines;
  for (int rank = 0; rank < ranks && !failed; rank++) {
    snprintf(staged, room, "%s.%d", prefix, rank);
    failed = left > 0 && copy_lines(staged, out, &left) != 0;
    unlink(staged);
  }
  if (out != NULL && (fflush(out) != 0 || fsync(fileno(out)) != 0)) failed = 1;
  if (out != NULL && fclose(out) != 0) failed = 1;
  if (!failed && rename(temporary, path) != 0) failed = 1;
  if (failed) {
    snprintf(message, message_size, "'%s': cannot write the skipped records: %s", path,
             temporary && staged ? strerror(errno) : "out of memory");
    if (temporary) unlink(temporary);
  }
  free(temporary);
  free(staged);
  return failed ? MPIMR_ERR_IO : MPIMR_OK;
}

void output_discard_bad_records(const char *prefix, int ranks) {
  size_t room = strlen(prefix) + 24;
  char *staged = malloc(room);
  for (int rank = 0; staged != NULL && rank < ranks; rank++) {
    snprintf(staged, room, "%s.%d", prefix, rank);
    unlink(staged);
  }
  free(staged);
}

/* Removes an older result's `_bad_records`, and gathers this job's if it skipped any. */
static int publish_bad_records(output_claim *claim, int ranks, char *message, size_t message_size) {
  char *path = files_join(claim->dir, OUTPUT_BAD_RECORDS_NAME);
  char *prefix = files_join(claim->staging, OUTPUT_BAD_RECORDS_NAME);
  int rc = path && prefix ? MPIMR_OK : MPIMR_ERR_NOMEM;
  if (rc == MPIMR_OK && claim->bad_record_lines > 0)
    rc = output_gather_bad_records(prefix, ranks, claim->bad_record_lines, path, message, message_size);
  else if (rc == MPIMR_OK && unlink(path) != 0 && errno != ENOENT) {
    snprintf(message, message_size, "output '%s': cannot remove: %s", path, strerror(errno));
    rc = MPIMR_ERR_IO;
  }
  free(path);
  free(prefix);
  return rc;
}

int output_publish(output_claim *claim, int ranks, char *message, size_t message_size) {
  const char *dir = claim->dir;
  int rc = sync_directory(claim->staging, message, message_size);
  /* From here the old result, if any, is withdrawn: _SUCCESS goes first, and for good, before any of
   * its parts is touched. */
  if (rc == MPIMR_OK) {
    char *marker = files_join(dir, "_SUCCESS");
    if (marker == NULL)
      rc = MPIMR_ERR_NOMEM;
    else if (unlink(marker) != 0 && errno != ENOENT) {
      snprintf(message, message_size, "output '%s': cannot remove: %s", marker, strerror(errno));
      rc = MPIMR_ERR_IO;
    }
    free(marker);
  }
  if (rc == MPIMR_OK) rc = sync_directory(dir, message, message_size);
  if (rc == MPIMR_OK) rc = remove_entries(dir, is_part_not_replaced, ranks, message, message_size);
  if (rc == MPIMR_OK) rc = move_parts_in(claim, ranks, message, message_size);
  if (rc == MPIMR_OK) rc = publish_bad_records(claim, ranks, message, message_size);
  if (rc == MPIMR_OK) rc = sync_directory(dir, message, message_size);
  if (rc == MPIMR_OK) rc = write_marker(dir, message, message_size);
  if (rc == MPIMR_OK) rc = sync_directory(dir, message, message_size);
  if (rc == MPIMR_OK) {
    files_remove_flat_directory(claim->staging); /* what is left: the ranks' staged _bad_records */
    output_lock_release(&claim->lock);
    claim->published = 1; /* nothing is left to take back */
  }
  return rc;
}

void output_claim_release(output_claim *claim, MPI_Comm comm, int in_step) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  /* In step, every rank has removed its own files before rank 0 removes the directory. */
  if (in_step) MPI_Barrier(comm);
  if (rank == 0 && claim->held && !claim->published) {
    if (claim->staging) files_remove_flat_directory(claim->staging);
    output_lock_release(&claim->lock);
    if (claim->created) rmdir(claim->dir); /* only if empty */
  }
  free(claim->dir);
  free(claim->staging);
  memset(claim, 0, sizeof *claim);
}

int mpimr_output_check(MPI_Comm comm, const char *dir, int overwrite, char *message, size_t message_size) {
  char scratch[512] = "";
  if (message == NULL || message_size == 0) {
    message = scratch;
    message_size = sizeof scratch;
  }
  message[0] = '\0';
  int rank, status = MPIMR_OK, exists;
  if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS) return MPIMR_ERR_MPI;
  if (rank == 0) {
    if (dir == NULL || dir[0] == '\0') {
      status = MPIMR_ERR_INVAL;
      snprintf(message, message_size, "no output directory was given");
    } else {
      status = check_contents(dir, overwrite, &exists, message, message_size);
      if (status == MPIMR_OK && exists) status = output_lock_check(dir, message, message_size);
    }
  }
  return share_outcome(comm, status, message, message_size);
}

int part_writer_open(part_writer *w, const char *dir, int rank) {
  memset(w, 0, sizeof *w);
  w->fd = -1;
  char name[64];
  snprintf(name, sizeof name, "part-%05d", rank);
  w->final_path = files_join(dir, name);
  snprintf(name, sizeof name, ".part-%05d.tmp", rank);
  w->temporary_path = files_join(dir, name);
  w->capacity = WRITER_BUFFER_BYTES;
  w->buffer = malloc(w->capacity);
  if (!w->final_path || !w->temporary_path || !w->buffer) return MPIMR_ERR_NOMEM;
  w->fd = open(w->temporary_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (w->fd < 0) {
    w->error = errno;
    return MPIMR_ERR_IO;
  }
  return MPIMR_OK;
}

static int writer_flush(part_writer *w) {
  size_t done = 0;
  while (done < w->used) {
    ssize_t n = write(w->fd, w->buffer + done, w->used - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      w->error = errno;
      return MPIMR_ERR_IO;
    }
    done += (size_t)n;
  }
  w->bytes_written += w->used;
  w->used = 0;
  return MPIMR_OK;
}

unsigned char *part_writer_reserve(part_writer *w, size_t length) {
  if (w->capacity - w->used < length) {
    if (writer_flush(w) != MPIMR_OK) return NULL;
    if (length > w->capacity) {
      unsigned char *grown = realloc(w->buffer, length);
      if (grown == NULL) {
        w->error = ENOMEM;
        return NULL;
      }
      w->buffer = grown;
      w->capacity = length;
    }
  }
  unsigned char *at = w->buffer + w->used;
  w->used += length;
  return at;
}

int part_writer_commit(part_writer *w) {
  int rc = writer_flush(w);
  if (rc == MPIMR_OK && fsync(w->fd) != 0) {
    w->error = errno;
    rc = MPIMR_ERR_IO;
  }
  if (close(w->fd) != 0 && rc == MPIMR_OK) {
    w->error = errno;
    rc = MPIMR_ERR_IO;
  }
  w->fd = -1;
  if (rc == MPIMR_OK && rename(w->temporary_path, w->final_path) != 0) {
    w->error = errno;
    rc = MPIMR_ERR_IO;
  }
  if (rc != MPIMR_OK) unlink(w->temporary_path);
  free(w->buffer);
  free(w->temporary_path);
  free(w->final_path);
  w->buffer = NULL;
  w->temporary_path = w->final_path = NULL;
  return rc;
}

void part_writer_abandon(part_writer *w) {
  if (w->fd >= 0) {
    close(w->fd);
    w->fd = -1;
  }
  if (w->temporary_path) unlink(w->temporary_path);
  free(w->buffer);
  free(w->temporary_path);
  free(w->final_path);
  w->buffer = NULL;
  w->temporary_path = w->final_path = NULL;
}
