/* util/process_id.c — a process's identity and whether it still runs; see process_id.h. */
#include "util/process_id.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads up to `size` - 1 bytes of a small file into `text`; returns the length, or -1. */
static ssize_t read_small_file(const char *path, char *text, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n;
  do n = read(fd, text, size - 1);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n < 0) return -1;
  text[n] = '\0';
  return n;
}

/* Reads /proc/PID/stat: the process state (field 3) and start time (field 22). Returns 0, or -1 if
 * the process does not exist or the file cannot be read. */
static int read_stat(long pid, char *state, unsigned long long *start_ticks) {
  char path[64], text[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  if (read_small_file(path, text, sizeof text) <= 0) return -1;
  /* The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'. */
  const char *at = strrchr(text, ')');
  if (at == NULL || at[1] != ' ' || at[2] == '\0') return -1;
  *state = at[2];
  at++;
  for (int field = 3; field < 22; field++) {
    at = strchr(at + 1, ' ');
    if (at == NULL) return -1;
  }
  *start_ticks = strtoull(at + 1, NULL, 10);
  return 0;
}

unsigned long long process_start_ticks(long pid) {
  char state;
  unsigned long long start_ticks;
  return read_stat(pid, &state, &start_ticks) == 0 ? start_ticks : 0;
}

void process_id_self(process_id *id) {
  memset(id, 0, sizeof *id);
  if (gethostname(id->host, sizeof id->host - 1) != 0) snprintf(id->host, sizeof id->host, "unknown");
  id->pid = (long)getpid();
  id->start_ticks = process_start_ticks(id->pid);
  ssize_t n = read_small_file("/proc/sys/kernel/random/boot_id", id->boot_id, sizeof id->boot_id);
  if (n > 0 && id->boot_id[n - 1] == '\n') id->boot_id[n - 1] = '\0';
}

enum process_liveness process_id_liveness(const process_id *id, const process_id *self) {
  if (strcmp(id->host, self->host) != 0) return PROCESS_UNKNOWN;
  if (id->boot_id[0] && self->boot_id[0] && strcmp(id->boot_id, self->boot_id) != 0) return PROCESS_DEAD;
  if (id->pid <= 0) return PROCESS_UNKNOWN;
  if (kill((pid_t)id->pid, 0) != 0 && errno == ESRCH) return PROCESS_DEAD;
  /* The PID exists: it is the same process only if it started at the same time, and one that has
   * exited but not yet been reaped (a zombie, state Z or X) runs no more. */
  char state;
  unsigned long long start_ticks;
  if (read_stat(id->pid, &state, &start_ticks) != 0) return PROCESS_ALIVE; /* no /proc: trust kill() */
  if (state == 'Z' || state == 'X') return PROCESS_DEAD;
  if (id->start_ticks != 0 && start_ticks != id->start_ticks) return PROCESS_DEAD;
  return PROCESS_ALIVE;
}
