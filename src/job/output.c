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

#include "mpimr/error.h"
#include "mpimr/job.h"

enum { WRITER_BUFFER_BYTES = 1 << 20 };

static char *path_join(const char *dir, const char *name) {
  size_t length = strlen(dir) + strlen(name) + 2;
  char *path = malloc(length);
  if (path) snprintf(path, length, "%s/%s", dir, name);
  return path;
}

static int is_our_file(const char *name) {
  return strncmp(name, "part-", 5) == 0 || strncmp(name, ".part-", 6) == 0 || strcmp(name, "_SUCCESS") == 0;
}

/* Removes `_SUCCESS` first, so an interrupted clean-up never leaves a directory that looks complete. */
static int remove_previous_results(const char *dir, char *message, size_t message_size) {
  char *marker = path_join(dir, "_SUCCESS");
  if (marker == NULL) return MPIMR_ERR_NOMEM;
  int failed = unlink(marker) != 0 && errno != ENOENT;
  free(marker);
  if (failed) {
    snprintf(message, message_size, "output '%s/_SUCCESS': cannot remove: %s", dir, strerror(errno));
    return MPIMR_ERR_IO;
  }
  DIR *d = opendir(dir);
  if (d == NULL) {
    snprintf(message, message_size, "output '%s': %s", dir, strerror(errno));
    return MPIMR_ERR_IO;
  }
  int rc = MPIMR_OK;
  struct dirent *entry;
  while (rc == MPIMR_OK && (entry = readdir(d)) != NULL) {
    if (!is_our_file(entry->d_name)) continue;
    char *path = path_join(dir, entry->d_name);
    if (path == NULL)
      rc = MPIMR_ERR_NOMEM;
    else if (unlink(path) != 0 && errno != ENOENT) {
      snprintf(message, message_size, "output '%s': cannot remove: %s", path, strerror(errno));
      rc = MPIMR_ERR_IO;
    }
    free(path);
  }
  closedir(d);
  return rc;
}

/* What a job that never finished can leave: parts (renamed or not) and spill directories of ranks
 * that were killed, never _SUCCESS. */
static int is_failed_run_remains(const char *name) {
  return strncmp(name, "part-", 5) == 0 || strncmp(name, ".part-", 6) == 0 ||
         strncmp(name, "mpimr-spill-", 12) == 0;
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

/* Whether a job may write into `dir`: MPIMR_OK with *exists set if it is a directory the job may
 * take (empty, remains of a failed run, or overwrite asked for), MPIMR_OK with *exists clear if it
 * is missing, else the refusal and its cause in `message`. Changes nothing. */
static int check_on_root(const char *dir, int overwrite, int *exists, char *message, size_t message_size) {
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
  int empty = overwrite ? 1 : holds_no_result(dir);
  if (empty < 0) {
    snprintf(message, message_size, "output '%s': %s", dir, strerror(errno));
    return MPIMR_ERR_IO;
  }
  if (!empty) {
    snprintf(message, message_size,
             "output '%s': already exists and holds a result or other files (use overwrite to replace its "
             "results)", dir);
    return MPIMR_ERR_EXISTS;
  }
  *exists = 1;
  return MPIMR_OK;
}

static int prepare_on_root(const char *dir, int overwrite, int *created, char *message, size_t message_size) {
  int exists;
  int rc = check_on_root(dir, overwrite, &exists, message, message_size);
  if (rc != MPIMR_OK) return rc;
  if (exists) return remove_previous_results(dir, message, message_size);
  if (mkdir(dir, 0777) != 0) {
    snprintf(message, message_size, "output '%s': cannot create: %s", dir, strerror(errno));
    return MPIMR_ERR_IO;
  }
  *created = 1;
  return MPIMR_OK;
}

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

int output_prepare(MPI_Comm comm, const char *dir, int overwrite, int *created, char *message,
                   size_t message_size) {
  int rank, status = MPIMR_OK;
  *created = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) status = prepare_on_root(dir, overwrite, created, message, message_size);
  return share_outcome(comm, status, message, message_size);
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
  if (rank == 0)
    status = dir == NULL || dir[0] == '\0' ? MPIMR_ERR_INVAL
                                          : check_on_root(dir, overwrite, &exists, message, message_size);
  if (rank == 0 && status == MPIMR_ERR_INVAL) snprintf(message, message_size, "no output directory was given");
  return share_outcome(comm, status, message, message_size);
}

void output_forget(MPI_Comm comm, const char *dir, int created) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (MPI_Barrier(comm) == MPI_SUCCESS && rank == 0 && created) rmdir(dir); /* only if empty */
}

int part_writer_open(part_writer *w, const char *dir, int rank) {
  memset(w, 0, sizeof *w);
  w->fd = -1;
  char name[64];
  snprintf(name, sizeof name, "part-%05d", rank);
  w->final_path = path_join(dir, name);
  snprintf(name, sizeof name, ".part-%05d.tmp", rank);
  w->temporary_path = path_join(dir, name);
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

int output_write_marker(const char *dir, char *message, size_t message_size) {
  char *path = path_join(dir, "_SUCCESS");
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
