/* tests/common/read_file.h — reading a whole file into memory, for tests. */
#ifndef MPIMR_TESTS_READ_FILE_H
#define MPIMR_TESTS_READ_FILE_H

#include <stdio.h>
#include <stdlib.h>

/* Returns the file's bytes (free them) and sets *length, or NULL if it cannot be read. */
static inline unsigned char *test_read_whole_file(const char *path, size_t *length) {
  *length = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t capacity = 1 << 16, used = 0, n;
  unsigned char *data = malloc(capacity);
  while (data && (n = fread(data + used, 1, capacity - used, f)) > 0) {
    used += n;
    if (used == capacity) {
      capacity *= 2;
      unsigned char *grown = realloc(data, capacity);
      if (grown == NULL) free(data);
      data = grown;
    }
  }
  fclose(f);
  *length = used;
  return data;
}

#endif
