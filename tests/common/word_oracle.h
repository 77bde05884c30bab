/*
 * tests/common/word_oracle.h — an independent word count for tests: split
 * whole files on the six ASCII whitespace bytes, sort the words, count runs
 * (nothing shared with the library's hashing, shuffle or reduce). Also reads
 * text part files "word<TAB>count" and checks each is in strict key order.
 */
#ifndef MPIMR_TESTS_WORD_ORACLE_H
#define MPIMR_TESTS_WORD_ORACLE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_file.h"

static const unsigned char oracle_is_space[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1};

/* Reads a whole file; returns NULL if it cannot. */
static inline unsigned char *oracle_read_file(const char *path, size_t *length) {
  return test_read_whole_file(path, length);
}

static inline void *oracle_checked(void *p) {
  if (p == NULL) {
    fprintf(stderr, "word oracle: out of memory\n");
    abort();
  }
  return p;
}

typedef struct oracle_word {
  const unsigned char *text;
  size_t length;
  uint64_t count;
} oracle_word;

typedef struct word_list {
  oracle_word *items;
  size_t count;
  size_t capacity;
  unsigned char **buffers;
  size_t buffer_count;
} word_list;

static inline void list_add(word_list *l, const unsigned char *text, size_t length, uint64_t count) {
  if (l->count == l->capacity) {
    l->capacity = l->capacity ? l->capacity * 2 : 1024;
    l->items = oracle_checked(realloc(l->items, l->capacity * sizeof *l->items));
  }
  l->items[l->count++] = (oracle_word){text, length, count};
}

static inline void list_keep(word_list *l, unsigned char *buffer) {
  l->buffers = oracle_checked(realloc(l->buffers, (l->buffer_count + 1) * sizeof *l->buffers));
  l->buffers[l->buffer_count++] = buffer;
}

static inline void list_free(word_list *l) {
  for (size_t i = 0; i < l->buffer_count; i++) free(l->buffers[i]);
  free(l->buffers);
  free(l->items);
  memset(l, 0, sizeof *l);
}

static inline int compare_words(const void *a, const void *b) {
  const oracle_word *x = a, *y = b;
  size_t n = x->length < y->length ? x->length : y->length;
  int c = n ? memcmp(x->text, y->text, n) : 0;
  if (c) return c;
  return (x->length > y->length) - (x->length < y->length);
}

/* Splits a file's bytes into words (every word with count 1). Returns 0 if unreadable. */
static inline int oracle_add_file(word_list *l, const char *path) {
  size_t length = 0;
  unsigned char *data = oracle_read_file(path, &length);
  if (data == NULL) return 0;
  list_keep(l, data);
  size_t i = 0;
  while (i < length) {
    while (i < length && oracle_is_space[data[i]]) i++;
    size_t start = i;
    while (i < length && !oracle_is_space[data[i]]) i++;
    if (i > start) list_add(l, data + start, i - start, 1);
  }
  return 1;
}

/* Sorts and merges equal words, summing counts. */
static inline void list_collapse(word_list *l) {
  qsort(l->items, l->count, sizeof *l->items, compare_words);
  size_t out = 0;
  for (size_t i = 0; i < l->count; i++) {
    if (out > 0 && compare_words(&l->items[out - 1], &l->items[i]) == 0)
      l->items[out - 1].count += l->items[i].count;
    else
      l->items[out++] = l->items[i];
  }
  l->count = out;
}

/* Reads text parts "word\tcount\n"; checks each part is in key order. Returns 0 if malformed. */
static inline int read_parts(word_list *l, const char *dir, int nranks) {
  for (int r = 0; r < nranks; r++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/part-%05d", dir, r);
    size_t length = 0;
    unsigned char *data = oracle_read_file(path, &length);
    if (data == NULL) return 0;
    list_keep(l, data);
    size_t i = 0, first = l->count;
    while (i < length) {
      size_t start = i;
      while (i < length && data[i] != '\t') i++;
      size_t word_end = i++;
      uint64_t count = 0;
      while (i < length && data[i] >= '0' && data[i] <= '9') count = count * 10 + (uint64_t)(data[i++] - '0');
      if (i >= length || data[i] != '\n') return 0;
      i++;
      list_add(l, data + start, word_end - start, count);
      if (l->count - first > 1 && compare_words(&l->items[l->count - 2], &l->items[l->count - 1]) >= 0) {
        fprintf(stderr, "%s is not in strict key order\n", path);
        return 0;
      }
    }
  }
  return 1;
}

static inline int lists_equal(const word_list *a, const word_list *b) {
  if (a->count != b->count) {
    fprintf(stderr, "oracle has %zu distinct words, output %zu\n", a->count, b->count);
    return 0;
  }
  for (size_t i = 0; i < a->count; i++)
    if (compare_words(&a->items[i], &b->items[i]) != 0 || a->items[i].count != b->items[i].count) {
      fprintf(stderr, "word %zu differs (count %llu vs %llu)\n", i, (unsigned long long)a->items[i].count,
              (unsigned long long)b->items[i].count);
      return 0;
    }
  return 1;
}

#endif
