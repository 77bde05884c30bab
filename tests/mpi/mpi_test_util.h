/*
 * tests/mpi/mpi_test_util.h — helpers for cmocka tests under mpirun.
 *
 * An assertion failing on one rank while the others enter a collective would
 * hang the job, so every check is first agreed across ranks
 * (test_agree()), and only the agreed verdict is asserted. Files are made
 * by rank 0 in a fresh temporary directory whose path every rank receives.
 */
#ifndef MPIMR_TESTS_MPI_TEST_UTIL_H
#define MPIMR_TESTS_MPI_TEST_UTIL_H

#include <ftw.h>
#include <mpi.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/read_file.h"

/* clang-format off */
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

static inline int test_rank(void) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

static inline int test_size(void) {
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

/* Prints why this rank disagrees, then returns the verdict of all ranks (1 only if all are ok). */
static inline int test_agree(int ok, const char *what) {
  if (!ok) fprintf(stderr, "rank %d: check failed: %s\n", test_rank(), what);
  int all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all;
}

#define assert_all(ok) assert_true(test_agree((ok), #ok))

/* A fresh directory made by rank 0; every rank gets its path in `path`. */
static inline void test_temp_dir(char *path, size_t size) {
  if (test_rank() == 0) {
    snprintf(path, size, "/tmp/mpimr-test-XXXXXX");
    if (mkdtemp(path) == NULL) path[0] = '\0';
  }
  MPI_Bcast(path, (int)size, MPI_CHAR, 0, MPI_COMM_WORLD);
}

static inline int test_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes a directory tree (rank 0), then synchronises. */
static inline void test_remove_tree(const char *path) {
  MPI_Barrier(MPI_COMM_WORLD);
  if (test_rank() == 0 && path[0]) nftw(path, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  MPI_Barrier(MPI_COMM_WORLD);
}

/* Reads a whole file; returns NULL if it cannot. */
static inline unsigned char *test_read_file(const char *path, size_t *length) {
  return test_read_whole_file(path, length);
}

/* Writes bytes to dir/name (rank 0 calls this). Returns 0 on success. */
static inline int test_write_file(const char *dir, const char *name, const void *data, size_t length) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL) return -1;
  int ok = fwrite(data, 1, length, f) == length;
  return fclose(f) == 0 && ok ? 0 : -1;
}

static inline int test_file_exists(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

#endif
