/* util/files.c — small file-system helpers; see files.h. */
#include "util/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *files_join(const char *dir, const char *name) {
  size_t length = strlen(dir) + strlen(name) + 2;
  char *path = malloc(length);
  if (path) snprintf(path, length, "%s/%s", dir, name);
  return path;
}

int files_remove_flat_directory(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL) return errno == ENOENT ? 0 : -1;
  int first_error = 0;
  struct dirent *entry;
  while ((entry = readdir(d)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    if (unlinkat(dirfd(d), entry->d_name, 0) != 0 && errno != ENOENT && first_error == 0) first_error = errno;
  }
  closedir(d);
  if (rmdir(path) != 0 && errno != ENOENT && first_error == 0) first_error = errno;
  errno = first_error;
  return first_error == 0 ? 0 : -1;
}

int files_sync_directory(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}
