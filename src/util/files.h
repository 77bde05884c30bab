/* util/files.h — small file-system helpers shared by the output and spill code. */
#ifndef MPIMR_UTIL_FILES_H
#define MPIMR_UTIL_FILES_H

/** "DIR/NAME" in a new allocation, or NULL. */
char *files_join(const char *dir, const char *name);

/**
 * Removes a directory that holds only files (no subdirectories): every entry,
 * then the directory. Returns 0 (also if it is already gone), or -1 with
 * errno set; what could be removed is removed.
 */
int files_remove_flat_directory(const char *path);

/** fsync() of a directory, so that the names made or removed in it are on disk. Returns 0 or -1 (errno). */
int files_sync_directory(const char *path);

#endif
