/*
 * tests/fuzz/fuzz_codec.c — libFuzzer target for the decoders of received
 * shuffle blocks and of stored runs (kv/codec.h, kv/run.h).
 *
 * The input is decoded three ways, each checked against a plain decoder
 * written here from the formats' descriptions:
 *   1. codec_get_varint() at every offset;
 *   2. codec_get_pair(), pair after pair, as a shuffle block: each pair lies
 *      wholly inside the block, and the pairs re-encoded with
 *      codec_put_pair() decode to the same pairs (and encode to the same
 *      bytes again);
 *   3. the input after its first two bytes as a run, from memory
 *      (run_reader_open_memory) and from a file (run_reader_open), reading
 *      some values of each group and skipping the rest as the first two
 *      bytes choose.
 * libFuzzer's copy of the input is exactly sized, so ASan reports any read
 * past its end. Any mismatch aborts with a line saying what differed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv/codec.h"
#include "kv/run.h"
#include "mpimr/error.h"
#include "mpimr/kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_fd = -1;
static char run_path[64];

static _Noreturn void fail(const char *what) {
  fprintf(stderr, "fuzz_codec: %s\n", what);
  abort();
}

/* ---- the plain decoders (the oracle) ---- */

/* A varint as codec.h describes it: LEB128, 7 bits a byte, low first, at most 64 bits, so at
 * most 10 bytes with the 10th 0 or 1. Returns its length, or 0 if it is truncated or too long. */
static size_t plain_varint(const unsigned char *p, size_t available, uint64_t *value) {
  uint64_t v = 0;
  for (size_t i = 0; i < available && i < 10; i++) {
    if (i == 9 && p[i] > 1) return 0;
    v += (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (p[i] < 0x80) {
      *value = v;
      return i + 1;
    }
  }
  return 0;
}

static int plain_compare(const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len) {
  for (size_t i = 0; i < a_len && i < b_len; i++)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return a_len == b_len ? 0 : a_len < b_len ? -1 : 1;
}

static int sign(int x) { return (x > 0) - (x < 0); }

/* ---- 1 and 2: varints and shuffle blocks ---- */

static void check_varints(const unsigned char *data, size_t size) {
  for (size_t i = 0; i < size; i++) {
    uint64_t got = 0, want = 0;
    const unsigned char *next = codec_get_varint(data + i, data + size, &got);
    size_t length = plain_varint(data + i, size - i, &want);
    if (length == 0 && next != NULL) fail("codec_get_varint accepted a truncated or overlong varint");
    if (length != 0 && (next != data + i + length || got != want)) fail("codec_get_varint misread a varint");
    if (length != 0 && codec_varint_size(want) > length)
      fail("codec_varint_size longer than a valid encoding");
  }
}

/* Decodes a block; returns how many pairs it holds before its end or the first bad pair. */
static size_t decode_block(const unsigned char *block, size_t size, codec_pair *pairs, int *complete) {
  const unsigned char *p = block, *end = block + size;
  size_t count = 0;
  while (p < end) {
    codec_pair pair;
    const unsigned char *next = codec_get_pair(p, end, &pair);
    uint64_t key_len = 0, value_len = 0;
    size_t available = (size_t)(end - p);
    size_t a = plain_varint(p, available, &key_len);
    size_t b = a ? plain_varint(p + a, available - a, &value_len) : 0;
    int valid = b != 0 && key_len <= available - a - b && value_len <= available - a - b - key_len;
    if (!valid) {
      if (next != NULL) fail("codec_get_pair accepted a pair that does not fit the block");
      *complete = 0;
      return count;
    }
    if (next == NULL) fail("codec_get_pair refused a valid pair");
    if (pair.key != p + a + b || pair.key_len != key_len || pair.value != pair.key + key_len ||
        pair.value_len != value_len || next != pair.value + value_len || next > end)
      fail("codec_get_pair's pair is not where the lengths put it");
    pairs[count++] = pair;
    p = next;
  }
  *complete = 1;
  return count;
}

static void check_block(const unsigned char *data, size_t size) {
  /* A pair takes at least two bytes. */
  codec_pair *pairs = malloc((size / 2 + 1) * sizeof *pairs);
  codec_pair *again = malloc((size / 2 + 1) * sizeof *again);
  if (pairs == NULL || again == NULL) abort();
  int complete;
  size_t count = decode_block(data, size, pairs, &complete);
  for (size_t i = 1; i < count; i++) {
    const codec_pair *x = &pairs[i - 1], *y = &pairs[i];
    if (sign(codec_compare_keys(x->key, x->key_len, y->key, y->key_len)) !=
        plain_compare(x->key, x->key_len, y->key, y->key_len))
      fail("codec_compare_keys disagrees with bytewise order");
  }

  /* Round trip, into a buffer of exactly codec_pair_size()'s bytes. */
  size_t encoded_size = 0;
  for (size_t i = 0; i < count; i++) encoded_size += codec_pair_size(pairs[i].key_len, pairs[i].value_len);
  unsigned char *encoded = malloc(encoded_size + 1);
  unsigned char *reencoded = malloc(encoded_size + 1);
  if (encoded == NULL || reencoded == NULL) abort();
  unsigned char *out = encoded;
  for (size_t i = 0; i < count; i++)
    out = codec_put_pair(out, pairs[i].key, pairs[i].key_len, pairs[i].value, pairs[i].value_len);
  if (out != encoded + encoded_size) fail("codec_put_pair wrote other than codec_pair_size's bytes");
  int again_complete;
  size_t again_count = decode_block(encoded, encoded_size, again, &again_complete);
  if (again_count != count || !again_complete) fail("re-encoded pairs do not decode to as many pairs");
  out = reencoded;
  for (size_t i = 0; i < count; i++) {
    if (again[i].key_len != pairs[i].key_len || again[i].value_len != pairs[i].value_len ||
        (pairs[i].key_len && memcmp(again[i].key, pairs[i].key, pairs[i].key_len) != 0) ||
        (pairs[i].value_len && memcmp(again[i].value, pairs[i].value, pairs[i].value_len) != 0))
      fail("a re-encoded pair decodes to another pair");
    out = codec_put_pair(out, again[i].key, again[i].key_len, again[i].value, again[i].value_len);
  }
  if (out != reencoded + encoded_size || (encoded_size && memcmp(encoded, reencoded, encoded_size) != 0))
    fail("encoding the same pairs twice gave different bytes");
  free(encoded);
  free(reencoded);
  free(pairs);
  free(again);
}

/* ---- 3: runs ---- */

/* The plain reader of a run's stream (see run.h): 1 for an item, 0 at a clean end, -1 if corrupt. */
typedef struct plain_run {
  const unsigned char *p, *end;
  uint64_t longest; /* the largest key or value length met */
} plain_run;

static int plain_bytes(plain_run *o, const unsigned char **bytes, size_t *length) {
  uint64_t n;
  size_t a = plain_varint(o->p, (size_t)(o->end - o->p), &n);
  if (a == 0) return -1;
  o->p += a;
  if (n > o->longest) o->longest = n;
  if (n > MPIMR_MAX_PAIR_BYTES || n > (uint64_t)(o->end - o->p)) return -1;
  *bytes = o->p;
  *length = (size_t)n;
  o->p += n;
  return 1;
}

static int plain_group(plain_run *o, const unsigned char **key, size_t *key_len, uint64_t *count) {
  if (o->p == o->end) return 0;
  if (plain_bytes(o, key, key_len) < 0) return -1;
  size_t a = plain_varint(o->p, (size_t)(o->end - o->p), count);
  if (a == 0 || *count == 0) return -1;
  o->p += a;
  return 1;
}

/* The reader's status for the oracle's: 1, 0 or MPIMR_ERR_CORRUPT. */
static int as_status(int plain) { return plain < 0 ? MPIMR_ERR_CORRUPT : plain; }

/* How many values of group `g` to read before moving on: all, none, one or half (from `choice`). */
static uint64_t values_to_read(unsigned choice, uint64_t g, uint64_t count) {
  switch ((choice >> (2 * (g % 4))) & 3) {
    case 0: return count;
    case 1: return 0;
    case 2: return 1;
    default: return count / 2;
  }
}

/* Reads the run at [run, run + size) with `r` in step with the oracle. Returns the longest length. */
static uint64_t check_run(run_reader *r, const unsigned char *run, size_t size, unsigned choice) {
  plain_run o = {run, run + size, 0};
  uint64_t left = 0; /* values of the oracle's current group not read yet */
  for (uint64_t g = 0;; g++) {
    int want = 1;
    for (; left > 0 && want == 1; left--) {
      const unsigned char *value;
      size_t length;
      want = plain_bytes(&o, &value, &length);
    }
    const unsigned char *key = NULL;
    size_t key_len = 0;
    uint64_t count = 0;
    if (want == 1) want = plain_group(&o, &key, &key_len, &count);
    int rc = run_reader_next_group(r);
    if (rc != as_status(want)) {
      fprintf(stderr, "fuzz_codec: group %llu: status %d, expected %d\n", (unsigned long long)g, rc,
              as_status(want));
      fail("run_reader_next_group's status differs");
    }
    if (rc != 1) break;
    if (r->key_len != key_len || (key_len && memcmp(r->key, key, key_len) != 0) || r->values_left != count)
      fail("run_reader_next_group's group differs");
    left = count;
    uint64_t reads = values_to_read(choice, g, count);
    for (uint64_t v = 0; v < reads; v++) {
      const unsigned char *value = NULL, *expected = NULL;
      size_t length = 0, expected_length = 0;
      want = plain_bytes(&o, &expected, &expected_length);
      left--;
      rc = run_reader_next_value(r, &value, &length);
      if (rc != as_status(want)) fail("run_reader_next_value's status differs");
      if (rc != 1) return o.longest;
      if (length != expected_length || (length && memcmp(value, expected, length) != 0))
        fail("run_reader_next_value's value differs");
      if (r->values_left != left) fail("values_left does not count down");
    }
    if (left == 0) {
      const unsigned char *value;
      size_t length;
      if (run_reader_next_value(r, &value, &length) != 0) fail("a value after the group's last");
    }
  }
  return o.longest;
}

static void write_run_file(const unsigned char *run, size_t size) {
  if (run_fd < 0) {
    const char *dir = getenv("TMPDIR");
    char name[4096];
    snprintf(name, sizeof name, "%s/mpimr-fuzz-run-XXXXXX", dir != NULL && dir[0] ? dir : "/tmp");
    run_fd = mkstemp(name);
    if (run_fd < 0) fail("mkstemp failed");
    unlink(name); /* the reader opens it by its /proc path: nothing is left behind */
    snprintf(run_path, sizeof run_path, "/proc/self/fd/%d", run_fd);
  }
  if (ftruncate(run_fd, (off_t)size) != 0) fail("ftruncate failed");
  for (size_t done = 0; done < size;) {
    ssize_t n = pwrite(run_fd, run + done, size - done, (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("pwrite failed");
    done += (size_t)n;
  }
}

static void check_runs(const unsigned char *data, size_t size) {
  if (size < 2) return;
  size_t buffer_bytes = 1 + (size_t)data[0] * 4;
  unsigned choice = data[1];
  const unsigned char *run = data + 2;
  size_t run_size = size - 2;

  run_reader r;
  if (run_reader_open_memory(&r, run, run_size) != MPIMR_OK) fail("run_reader_open_memory failed");
  check_run(&r, run, run_size, choice);
  if (r.error != 0) fail("a run in memory with errno set");
  run_reader_close(&r);

  write_run_file(run, run_size);
  int rc = run_reader_open(&r, run_path, buffer_bytes);
  if (rc != MPIMR_OK) fail("run_reader_open failed");
  check_run(&r, run, run_size, choice);
  /* A length read from a corrupt run never makes the buffer grow past the run itself. */
  if (r.capacity > buffer_bytes && r.capacity > 64 && r.capacity > run_size)
    fail("the file reader grew its buffer past the run's size");
  run_reader_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_varints(data, size);
  check_block(data, size);
  check_runs(data, size);
  return 0;
}
