/*
 * tests/unit/test_merge.c — sorted runs (kv/run.h), the k-way merge
 * (kv/merge.h) and the spill area (job/spill.h), checked against an oracle
 * written here: random pairs are dealt to runs and in-memory arrays, merged,
 * and the merge's keys, value counts and values must equal a qsort of all
 * pairs (values in bytewise order) or the sources' own order (arrival
 * order). Also: intermediate merges down to a few runs, combining on merge,
 * every truncation of a run (an error or a clean prefix, never a bad read),
 * an unwritable spill directory, and clean-up.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* clang-format off */
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "../common/test_rng.h"
#include "job/spill.h"
#include "kv/merge.h"
#include "kv/run.h"
#include "mpimr/error.h"
#include "mpimr/job.h"
#include "mpimr/kv.h"

static test_rng rng = {0x5eed5eed12345678ull};

enum { MAX_KEY = 12, MAX_VALUE = 40, MAX_SOURCES = 9 };

typedef struct pair {
  unsigned char key[MAX_KEY];
  size_t key_len;
  unsigned char value[MAX_VALUE];
  size_t value_len;
  int source;
  int order; /* position in its source */
  unsigned char laid_out[MAX_KEY + MAX_VALUE]; /* key then value, for sort items */
} pair;

static int compare_bytes(const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len) {
  size_t n = a_len < b_len ? a_len : b_len;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0) return c;
  return a_len < b_len ? -1 : a_len > b_len ? 1 : 0;
}

static int compare_key_value(const void *a, const void *b) {
  const pair *x = a, *y = b;
  int c = compare_bytes(x->key, x->key_len, y->key, y->key_len);
  return c != 0 ? c : compare_bytes(x->value, x->value_len, y->value, y->value_len);
}

/* Key, then source, then position in it: the arrival order a merge without by_value keeps. */
static int compare_key_arrival(const void *a, const void *b) {
  const pair *x = a, *y = b;
  int c = compare_bytes(x->key, x->key_len, y->key, y->key_len);
  if (c != 0) return c;
  if (x->source != y->source) return x->source - y->source;
  return x->order - y->order;
}

static void make_pairs(pair *pairs, size_t count, int sources, size_t distinct_keys) {
  for (size_t i = 0; i < count; i++) {
    pair *p = &pairs[i];
    /* Keys from a small alphabet with zero bytes, many prefixes of one another. */
    size_t which = test_rng_below(&rng, distinct_keys);
    test_rng key_rng = {which * 0x9e3779b97f4a7c15ull + 1};
    p->key_len = test_rng_below(&key_rng, MAX_KEY + 1);
    static const unsigned char alphabet[] = {0, 1, 'a', 'b', 0xff};
    for (size_t k = 0; k < p->key_len; k++) p->key[k] = alphabet[test_rng_below(&key_rng, sizeof alphabet)];
    p->value_len = test_rng_below(&rng, MAX_VALUE + 1);
    for (size_t k = 0; k < p->value_len; k++) p->value[k] = (unsigned char)test_rng_below(&rng, 4);
    p->source = (int)test_rng_below(&rng, (size_t)sources);
    memcpy(p->laid_out, p->key, p->key_len);
    memcpy(p->laid_out + p->key_len, p->value, p->value_len);
  }
}

static char *make_temp_dir(void) {
  char *dir = strdup("/tmp/mpimr-test-merge-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return dir;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

/* The pairs of one source, in the order the source holds them (sorted as `compare` says). */
static size_t source_pairs(pair *pairs, size_t count, int source, pair **out,
                           int (*compare)(const void *, const void *)) {
  size_t n = 0;
  for (size_t i = 0; i < count; i++)
    if (pairs[i].source == source) out[n++] = &pairs[i];
  /* Sort the pointers by the pairs they point to. */
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && compare(out[j - 1], out[j]) > 0; j--) {
      pair *swap = out[j];
      out[j] = out[j - 1];
      out[j - 1] = swap;
    }
  for (size_t i = 0; i < n; i++) out[i]->order = (int)i;
  return n;
}

static int compare_key_only(const void *a, const void *b) {
  const pair *x = a, *y = b;
  return compare_bytes(x->key, x->key_len, y->key, y->key_len);
}

/* Merges `sources` sources (the first `runs` on disk, the rest in memory) of random pairs and checks
 * the result against the oracle. */
static void check_merge(size_t count, int runs, int in_memory, size_t distinct, int by_value) {
  int sources = runs + in_memory;
  pair *pairs = calloc(count ? count : 1, sizeof *pairs);
  make_pairs(pairs, count, sources, distinct);
  char *dir = make_temp_dir();
  spill_area area;
  assert_int_equal(spill_area_init(&area, dir, 256, NULL), MPIMR_OK);
  pair **held = malloc((count ? count : 1) * sizeof *held);
  sort_item *items[MAX_SOURCES];
  size_t item_counts[MAX_SOURCES];
  /* Inside a source, keys are sorted; values too with by_value, else kept in drawn order. */
  for (int s = 0; s < sources; s++) {
    size_t n = source_pairs(pairs, count, s, held, by_value ? compare_key_value : compare_key_only);
    items[s] = malloc((n ? n : 1) * sizeof(sort_item));
    for (size_t i = 0; i < n; i++)
      items[s][i] = (sort_item){sort_key_prefix(held[i]->laid_out, held[i]->key_len), held[i]->laid_out, (uint32_t)held[i]->key_len, (uint32_t)held[i]->value_len};
    item_counts[s] = n;
    if (s < runs) assert_int_equal(spill_write_items(&area, items[s], n), MPIMR_OK);
  }
  assert_int_equal(area.run_count, (size_t)runs);
  run_reader readers[MAX_SOURCES];
  merge_source merge_sources[MAX_SOURCES];
  memset(merge_sources, 0, sizeof merge_sources);
  assert_int_equal(spill_open_runs(&area, 0, (size_t)runs, readers, merge_sources), MPIMR_OK);
  for (int s = runs; s < sources; s++)
    merge_sources[s] = (merge_source){.items = items[s], .item_count = item_counts[s], .name = "memory"};
  merger m;
  assert_int_equal(merge_init(&m, merge_sources, (size_t)sources, by_value, NULL), MPIMR_OK);

  /* The expected order, on a copy: the in-memory sources point into `pairs`. */
  pair *all = pairs;
  pairs = malloc((count ? count : 1) * sizeof *pairs);
  memcpy(pairs, all, count * sizeof *pairs);
  qsort(pairs, count, sizeof *pairs, by_value ? compare_key_value : compare_key_arrival);
  size_t at = 0;
  int rc;
  while ((rc = merge_next_group(&m)) == 1) {
    assert_true(at < count);
    size_t end = at;
    while (end < count && compare_bytes(pairs[end].key, pairs[end].key_len, pairs[at].key, pairs[at].key_len) == 0)
      end++;
    assert_int_equal(m.key_len, pairs[at].key_len);
    assert_int_equal(compare_bytes(m.key, m.key_len, pairs[at].key, pairs[at].key_len), 0);
    assert_int_equal(m.group_count, end - at);
    /* Read all values of every other group; skip the rest of it (merge_next_group must). */
    size_t read = (at % 3 == 2) ? (end - at) / 2 : end - at;
    for (size_t i = at; i < at + read; i++) {
      const unsigned char *value;
      size_t value_len;
      assert_int_equal(merge_next_value(&m, &value, &value_len), 1);
      assert_int_equal(value_len, pairs[i].value_len);
      assert_int_equal(compare_bytes(value, value_len, pairs[i].value, pairs[i].value_len), 0);
    }
    if (read == end - at) {
      const unsigned char *value;
      size_t value_len;
      assert_int_equal(merge_next_value(&m, &value, &value_len), 0);
    }
    at = end;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(at, count);
  merge_destroy(&m);
  for (int s = 0; s < runs; s++) run_reader_close(&readers[s]);
  for (int s = 0; s < sources; s++) free(items[s]);
  spill_area_destroy(&area);
  assert_int_equal(count_entries(dir), 0);
  rmdir(dir);
  free(dir);
  free(held);
  free(pairs);
  free(all);
}

static void test_merge_by_value(void **state) {
  (void)state;
  check_merge(0, 0, 1, 1, 1);
  check_merge(0, 2, 0, 1, 1);
  check_merge(1, 1, 0, 1, 1);
  check_merge(500, 3, 1, 40, 1);
  check_merge(3000, 7, 2, 400, 1);
  check_merge(2000, 4, 1, 3, 1); /* a few hot keys with hundreds of values each */
}

static void test_merge_arrival_order(void **state) {
  (void)state;
  check_merge(500, 2, 1, 30, 0);
  check_merge(3000, 6, 1, 5, 0);
  check_merge(800, 0, 3, 100, 0);
}

/* Many runs merged down to a few in passes of at most `fan_in`, then merged against the oracle. */
static void check_merge_down(size_t count, int runs, size_t max_runs, size_t fan_in, int combine) {
  pair *pairs = calloc(count, sizeof *pairs);
  make_pairs(pairs, count, runs, 60);
  if (combine)
    for (size_t i = 0; i < count; i++) {
      pairs[i].value_len = 8;
      mpimr_put_u64(pairs[i].value, test_rng_below(&rng, 1000));
      memcpy(pairs[i].laid_out + pairs[i].key_len, pairs[i].value, 8);
    }
  char *dir = make_temp_dir();
  spill_area area;
  assert_int_equal(spill_area_init(&area, dir, 128, NULL), MPIMR_OK);
  pair **held = malloc(count * sizeof *held);
  sort_item *items = malloc(count * sizeof *items);
  for (int s = 0; s < runs; s++) {
    size_t n = source_pairs(pairs, count, s, held, combine ? compare_key_only : compare_key_value);
    /* With a combiner a run holds each key once: fold the source's equal keys here. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
      if (combine && kept > 0 && compare_key_only(held[kept - 1], held[i]) == 0) {
        uint64_t sum = mpimr_get_u64(held[kept - 1]->laid_out + held[kept - 1]->key_len) +
                       mpimr_get_u64(held[i]->value);
        mpimr_put_u64(held[kept - 1]->laid_out + held[kept - 1]->key_len, sum);
        continue;
      }
      held[kept++] = held[i];
    }
    for (size_t i = 0; i < kept; i++)
      items[i] = (sort_item){sort_key_prefix(held[i]->laid_out, held[i]->key_len), held[i]->laid_out, (uint32_t)held[i]->key_len, (uint32_t)held[i]->value_len};
    assert_int_equal(spill_write_items(&area, items, kept), MPIMR_OK);
  }
  assert_int_equal(spill_merge_down(&area, max_runs, fan_in, !combine, combine ? mpimr_combine_sum_u64 : NULL,
                                    NULL),
                   MPIMR_OK);
  assert_true(area.run_count <= max_runs);
  assert_true(area.merge_passes >= 1);
  assert_int_equal(count_entries(area.dir), (int)area.run_count);
  run_reader readers[MAX_SOURCES];
  merge_source sources[MAX_SOURCES];
  assert_int_equal(spill_open_runs(&area, 0, area.run_count, readers, sources), MPIMR_OK);
  merger m;
  assert_int_equal(merge_init(&m, sources, area.run_count, !combine, NULL), MPIMR_OK);
  qsort(pairs, count, sizeof *pairs, compare_key_value);
  size_t at = 0;
  unsigned char *acc = NULL;
  size_t acc_capacity = 0, acc_len = 0;
  while (merge_next_group(&m) == 1) {
    size_t end = at;
    while (end < count && compare_key_only(&pairs[end], &pairs[at]) == 0) end++;
    assert_int_equal(compare_bytes(m.key, m.key_len, pairs[at].key, pairs[at].key_len), 0);
    if (combine) {
      uint64_t expected = 0;
      for (size_t i = at; i < end; i++) expected += mpimr_get_u64(pairs[i].value);
      assert_int_equal(spill_combine_group(&m, mpimr_combine_sum_u64, NULL, &acc, &acc_capacity, &acc_len),
                       MPIMR_OK);
      assert_int_equal(acc_len, 8);
      assert_int_equal(memcmp(acc, pairs[at].key, pairs[at].key_len), 0);
      assert_int_equal(mpimr_get_u64(acc + m.key_len), expected);
    } else {
      assert_int_equal(m.group_count, end - at);
      for (size_t i = at; i < end; i++) {
        const unsigned char *value;
        size_t value_len;
        assert_int_equal(merge_next_value(&m, &value, &value_len), 1);
        assert_int_equal(compare_bytes(value, value_len, pairs[i].value, pairs[i].value_len), 0);
      }
    }
    at = end;
  }
  assert_int_equal(at, count);
  free(acc);
  merge_destroy(&m);
  for (size_t s = 0; s < area.run_count; s++) run_reader_close(&readers[s]);
  char *spill_dir = strdup(area.dir);
  spill_area_destroy(&area);
  struct stat st;
  assert_int_not_equal(stat(spill_dir, &st), 0); /* the spill directory is gone */
  assert_int_equal(count_entries(dir), 0);
  free(spill_dir);
  rmdir(dir);
  free(dir);
  free(items);
  free(held);
  free(pairs);
}

static void test_merge_down(void **state) {
  (void)state;
  check_merge_down(4000, 20, 3, 4, 0);
  check_merge_down(4000, 20, 5, 2, 0);
  check_merge_down(3000, 17, 2, 3, 1);
}

/* Every truncation of a run reads as an error or as a clean prefix of its groups, never past its end. */
static void test_truncated_runs(void **state) {
  (void)state;
  char *dir = make_temp_dir();
  char path[256];
  snprintf(path, sizeof path, "%s/run", dir);
  run_writer w;
  assert_int_equal(run_writer_open(&w, path, 64), MPIMR_OK);
  unsigned char big[300];
  memset(big, 'v', sizeof big);
  for (int g = 0; g < 6; g++) {
    char key[8];
    snprintf(key, sizeof key, "k%d", g);
    assert_int_equal(run_writer_begin_group(&w, key, strlen(key), (uint64_t)g + 1), MPIMR_OK);
    for (int v = 0; v <= g; v++) assert_int_equal(run_writer_value(&w, big, (size_t)(g * 20 + v)), MPIMR_OK);
  }
  uint64_t size = w.bytes_written;
  assert_int_equal(run_writer_close(&w), MPIMR_OK);
  FILE *f = fopen(path, "rb");
  unsigned char *whole = malloc(size);
  assert_int_equal(fread(whole, 1, size, f), size);
  fclose(f);
  for (uint64_t cut = 0; cut <= size; cut++) {
    f = fopen(path, "wb");
    assert_int_equal(fwrite(whole, 1, cut, f), cut);
    fclose(f);
    run_reader r;
    assert_int_equal(run_reader_open(&r, path, 16), MPIMR_OK);
    int rc, groups = 0, failed = 0;
    while ((rc = run_reader_next_group(&r)) == 1) {
      const unsigned char *value;
      size_t value_len;
      int v = 0;
      while ((rc = run_reader_next_value(&r, &value, &value_len)) == 1) {
        assert_int_equal(value_len, (size_t)(groups * 20 + v));
        v++;
      }
      if (rc < 0) {
        failed = 1;
        break;
      }
      groups++;
    }
    if (rc < 0) failed = 1;
    if (cut == size) assert_false(failed);
    if (!failed) assert_true(cut == size || groups < 6);
    if (failed) assert_int_equal(rc, MPIMR_ERR_CORRUPT);
    run_reader_close(&r);
  }
  free(whole);
  unlink(path);
  rmdir(dir);
  free(dir);
}

static void test_unwritable_spill_directory(void **state) {
  (void)state;
  spill_area area;
  /* A path under a regular file: no directory can be made there, not even by root. */
  assert_int_equal(spill_area_init(&area, "/etc/hostname/spill", 4096, NULL), MPIMR_OK);
  sort_item item = {0, (const unsigned char *)"kv", 1, 1};
  assert_int_equal(spill_write_items(&area, &item, 1), MPIMR_ERR_IO);
  assert_non_null(strstr(area.error, "/etc/hostname/spill"));
  assert_non_null(strstr(area.error, "Not a directory"));
  spill_area_destroy(&area);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_merge_by_value),     cmocka_unit_test(test_merge_arrival_order),
      cmocka_unit_test(test_merge_down),         cmocka_unit_test(test_truncated_runs),
      cmocka_unit_test(test_unwritable_spill_directory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
