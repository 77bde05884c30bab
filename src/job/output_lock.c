/* job/output_lock.c — exclusive ownership of an output directory; see output_lock.h. */
#include "job/output_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpimr/error.h"
#include "util/files.h"

enum { LOCK_TEXT_BYTES = 1024 };

/* What a lock file says about its owner. */
typedef struct lock_owner {
  process_id id;
  char program[64];
  char started[32];
  char slurm_job[32];
  int ranks;
  int readable; /* non-zero if it named a host and a PID */
} lock_owner;

static void format_lock(char *text, size_t size, const process_id *self, int ranks) {
  char started[32] = "";
  time_t now = time(NULL);
  struct tm utc;
  if (gmtime_r(&now, &utc)) strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &utc);
  const char *slurm_job = getenv("SLURM_JOB_ID");
  snprintf(text, size,
           "mpimr output lock\nhost=%s\npid=%ld\nstart_ticks=%llu\nboot_id=%s\nprogram=%s\nranks=%d\n"
           "started=%s\nslurm_job=%s\n",
           self->host, self->pid, self->start_ticks, self->boot_id, program_invocation_short_name, ranks,
           started, slurm_job ? slurm_job : "");
}

static void copy_value(char *to, size_t size, const char *value, size_t length) {
  if (length >= size) length = size - 1;
  memcpy(to, value, length);
  to[length] = '\0';
}

static void parse_lock(const char *text, lock_owner *owner) {
  memset(owner, 0, sizeof *owner);
  int has_pid = 0;
  for (const char *line = text; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != '\0')) {
    size_t length = strcspn(line, "\n");
    const char *equals = memchr(line, '=', length);
    if (equals == NULL) continue;
    size_t key_length = (size_t)(equals - line);
    const char *value = equals + 1;
    size_t value_length = length - key_length - 1;
    char number[32];
    copy_value(number, sizeof number, value, value_length);
    if (key_length == 4 && memcmp(line, "host", 4) == 0)
      copy_value(owner->id.host, sizeof owner->id.host, value, value_length);
    else if (key_length == 3 && memcmp(line, "pid", 3) == 0) {
      owner->id.pid = strtol(number, NULL, 10);
      has_pid = owner->id.pid > 0;
    } else if (key_length == 11 && memcmp(line, "start_ticks", 11) == 0)
      owner->id.start_ticks = strtoull(number, NULL, 10);
    else if (key_length == 7 && memcmp(line, "boot_id", 7) == 0)
      copy_value(owner->id.boot_id, sizeof owner->id.boot_id, value, value_length);
    else if (key_length == 7 && memcmp(line, "program", 7) == 0)
      copy_value(owner->program, sizeof owner->program, value, value_length);
    else if (key_length == 5 && memcmp(line, "ranks", 5) == 0)
      owner->ranks = atoi(number);
    else if (key_length == 7 && memcmp(line, "started", 7) == 0)
      copy_value(owner->started, sizeof owner->started, value, value_length);
    else if (key_length == 9 && memcmp(line, "slurm_job", 9) == 0)
      copy_value(owner->slurm_job, sizeof owner->slurm_job, value, value_length);
  }
  owner->readable = owner->id.host[0] != '\0' && has_pid;
}

/* Reads a lock file's text; -1 with errno if it cannot be read (ENOENT: there is none). */
static int read_lock_text(const char *path, char *text, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t used = 0;
  for (;;) {
    ssize_t n = read(fd, text + used, size - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int saved = errno;
      close(fd);
      text[used] = '\0';
      errno = saved;
      return n < 0 ? -1 : 0;
    }
    used += (size_t)n;
    if (used == size - 1) break;
  }
  close(fd);
  text[used] = '\0';
  return 0;
}

/* Writes `text` to a new file at `path` (made with `flags`), flushed to disk. Returns 0 or -1 (errno). */
static int write_new_file(const char *path, int flags, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
  if (fd < 0) return -1;
  int rc = 0;
  size_t size = strlen(text), done = 0;
  while (rc == 0 && done < size) {
    ssize_t n = write(fd, text + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      rc = -1;
    else
      done += (size_t)n;
  }
  if (rc == 0 && fsync(fd) != 0) rc = -1;
  int saved = errno;
  if (close(fd) != 0 && rc == 0) return -1;
  errno = saved;
  return rc;
}

/* Makes `path` appear holding `text`, complete, or fails with errno EEXIST if it exists: the text is
 * written to a private name first, then hard-linked into place (atomic, also on NFS). On a file
 * system without hard links, O_EXCL makes it instead (atomic too; a reader may then briefly see it
 * empty, which counts as held by someone unknown). */
static int create_complete(const char *path, const char *text, const process_id *self) {
  size_t length = strlen(path) + strlen(self->host) + 32;
  char *private_path = malloc(length);
  if (private_path == NULL) {
    errno = ENOMEM;
    return -1;
  }
  snprintf(private_path, length, "%s.%s.%ld", path, self->host, self->pid);
  int rc = write_new_file(private_path, O_TRUNC, text);
  if (rc == 0) rc = link(private_path, path);
  int saved = errno;
  unlink(private_path);
  free(private_path);
  if (rc != 0 && (saved == EPERM || saved == ENOTSUP || saved == EOPNOTSUPP || saved == ENOSYS)) {
    rc = write_new_file(path, O_EXCL, text);
    saved = errno;
    if (rc != 0 && saved != EEXIST) unlink(path); /* made, but not complete */
  }
  errno = saved;
  return rc;
}

static void describe_owner(const char *dir, const lock_owner *owner, char *message, size_t message_size) {
  if (!owner->readable) {
    snprintf(message, message_size,
             "output '%s': in use by another job (its lock '%s/" OUTPUT_LOCK_NAME
             "' does not say which); if no job is writing there, remove that file",
             dir, dir);
    return;
  }
  snprintf(message, message_size,
           "output '%s': in use by another job: %s on %d ranks, rank 0 PID %ld on host %s, started %s%s%s%s; "
           "if that job is no longer running, remove '%s/" OUTPUT_LOCK_NAME "'",
           dir, owner->program[0] ? owner->program : "a program", owner->ranks, owner->id.pid, owner->id.host,
           owner->started[0] ? owner->started : "at an unknown time",
           owner->slurm_job[0] ? " (Slurm job " : "", owner->slurm_job, owner->slurm_job[0] ? ")" : "", dir);
}

/* Removes the lock at `lock_path` if it still says `stale_text`, holding the break lock meanwhile so
 * that no other job can remove a lock taken after the stale one went. MPIMR_OK (removed, or gone
 * already), or BUSY when another job is breaking it now. */
static int break_stale_lock(const char *dir, const char *lock_path, const char *stale_text,
                            const process_id *self, int ranks, char *message, size_t message_size) {
  char *break_path = files_join(dir, OUTPUT_LOCK_NAME ".break");
  if (break_path == NULL) return MPIMR_ERR_NOMEM;
  char text[LOCK_TEXT_BYTES];
  format_lock(text, sizeof text, self, ranks);
  int rc = MPIMR_OK;
  if (create_complete(break_path, text, self) != 0) {
    snprintf(message, message_size,
             errno == EEXIST ? "output '%s': another job is taking over the lock a dead job left; if none "
                               "is, remove '%s'"
                             : "output '%s': cannot take over the lock a dead job left ('%s'): %s",
             dir, break_path, strerror(errno));
    rc = errno == EEXIST ? MPIMR_ERR_BUSY : MPIMR_ERR_IO;
  } else {
    char now[LOCK_TEXT_BYTES];
    if (read_lock_text(lock_path, now, sizeof now) == 0 && strcmp(now, stale_text) == 0 &&
        unlink(lock_path) != 0 && errno != ENOENT) {
      snprintf(message, message_size, "output '%s': cannot remove the lock a dead job left: %s", lock_path,
               strerror(errno));
      rc = MPIMR_ERR_IO;
    }
    unlink(break_path);
  }
  free(break_path);
  return rc;
}

int output_lock_take(output_lock *lock, const char *dir, int ranks, char *message, size_t message_size) {
  lock->path = NULL;
  message[0] = '\0';
  process_id_self(&lock->owner);
  char *path = files_join(dir, OUTPUT_LOCK_NAME);
  if (path == NULL) return MPIMR_ERR_NOMEM;
  char text[LOCK_TEXT_BYTES];
  format_lock(text, sizeof text, &lock->owner, ranks);
  int rc = MPIMR_ERR_BUSY;
  /* A few tries: the lock may be released, or a stale one broken, between our looks. */
  for (int attempt = 0; attempt < 4 && rc == MPIMR_ERR_BUSY; attempt++) {
    if (create_complete(path, text, &lock->owner) == 0) {
      lock->path = path;
      return MPIMR_OK;
    }
    if (errno != EEXIST) {
      snprintf(message, message_size, "output '%s': cannot create its lock '%s': %s", dir, path,
               strerror(errno));
      rc = MPIMR_ERR_IO;
      break;
    }
    char held[LOCK_TEXT_BYTES];
    if (read_lock_text(path, held, sizeof held) != 0) {
      if (errno == ENOENT) continue; /* released meanwhile */
      snprintf(message, message_size, "output '%s': cannot read its lock '%s': %s", dir, path,
               strerror(errno));
      rc = MPIMR_ERR_IO;
      break;
    }
    lock_owner owner;
    parse_lock(held, &owner);
    if (!owner.readable || process_id_liveness(&owner.id, &lock->owner) != PROCESS_DEAD) {
      describe_owner(dir, &owner, message, message_size);
      break;
    }
    rc = break_stale_lock(dir, path, held, &lock->owner, ranks, message, message_size);
    if (rc == MPIMR_OK)
      rc = MPIMR_ERR_BUSY; /* try to link ours again */
    else
      break;
  }
  if (rc == MPIMR_ERR_BUSY && message[0] == '\0')
    snprintf(message, message_size, "output '%s': its lock kept changing hands; try again", dir);
  free(path);
  return rc;
}

void output_lock_release(output_lock *lock) {
  if (lock->path == NULL) return;
  unlink(lock->path);
  free(lock->path);
  lock->path = NULL;
}

int output_lock_check(const char *dir, char *message, size_t message_size) {
  char *path = files_join(dir, OUTPUT_LOCK_NAME);
  if (path == NULL) return MPIMR_ERR_NOMEM;
  char held[LOCK_TEXT_BYTES];
  int rc = MPIMR_OK;
  if (read_lock_text(path, held, sizeof held) == 0) {
    process_id self;
    process_id_self(&self);
    lock_owner owner;
    parse_lock(held, &owner);
    if (!owner.readable || process_id_liveness(&owner.id, &self) != PROCESS_DEAD) {
      describe_owner(dir, &owner, message, message_size);
      rc = MPIMR_ERR_BUSY;
    }
  }
  free(path);
  return rc;
}
