/*
 * tests/unit/test_input.c — listing, splitting and reading the job's input
 * (job/input.h).
 *
 * The oracle splits each file's whole content on '\n' here: a final record
 * without '\n' counts, a trailing '\n' makes no extra empty record, "\r\n"
 * loses its '\r', and empty lines are empty records. Reading every piece of
 * every rank, for rank counts 1..7 and several buffer sizes, must give those
 * records exactly once, in order. Files live in a fresh directory under /tmp
 * that the group teardown removes.
 *
 * A listed file carries its identity (device, inode, modification time) to
 * every rank; a reader that expects it fails on a file replaced before it is
 * opened or rewritten in place while it is read, and a pseudo file (size 0
 * but data, as in /proc) is refused when listed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include "job/input.h"
#include "mpimr/error.h"

static char temp_root[64];
static unsigned file_counter;

static test_rng rng = {0x1f2e3d4c5b6a7988ull};

static size_t rng_below(size_t n) { return test_rng_below(&rng, n); }

/* ---- files ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int group_setup(void **state) {
  (void)state;
  snprintf(temp_root, sizeof temp_root, "/tmp/mpimr-test-input-XXXXXX");
  return mkdtemp(temp_root) == NULL ? -1 : 0;
}

static int group_teardown(void **state) {
  (void)state;
  return nftw(temp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *path, const void *content, size_t length) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (length) assert_int_equal(fwrite(content, 1, length, f), length);
  assert_int_equal(fclose(f), 0);
}

/* A fresh directory under the temporary root; its path is written to `path`. */
static void make_dir(char *path, size_t size) {
  snprintf(path, size, "%s/d%u", temp_root, file_counter++);
  assert_int_equal(mkdir(path, 0700), 0);
}

/* ---- the oracle ---- */

typedef struct record_ref {
  size_t file;
  const unsigned char *bytes; /* Expected records: into the file's content. */
  size_t offset;              /* Records read back: into read_records.bytes (which moves as it grows). */
  size_t length;
} record_ref;

typedef struct record_list {
  record_ref *items;
  size_t count;
  size_t capacity;
} record_list;

static void record_push(record_list *list, size_t file, const unsigned char *bytes, size_t length) {
  if (list->count == list->capacity) {
    list->capacity = list->capacity ? list->capacity * 2 : 64;
    list->items = realloc(list->items, list->capacity * sizeof *list->items);
    assert_non_null(list->items);
  }
  list->items[list->count++] = (record_ref){file, bytes, 0, length};
}

/* Splits `content` into its records, the way the format defines them. */
static void expected_records(record_list *out, size_t file, const unsigned char *content, size_t length) {
  size_t start = 0;
  for (size_t i = 0; i < length; i++) {
    if (content[i] != '\n') continue;
    size_t end = i;
    if (end > start && content[end - 1] == '\r') end--;
    record_push(out, file, content + start, end - start);
    start = i + 1;
  }
  if (start < length) record_push(out, file, content + start, length - start);
}

/* Copies of records read back (the reader's pointers are valid only until its next call). */
typedef struct read_records {
  record_list refs;
  unsigned char *bytes;
  size_t used;
  size_t capacity;
} read_records;

static void read_push(read_records *r, size_t file, const unsigned char *bytes, size_t length) {
  if (r->used + length > r->capacity) {
    size_t capacity = r->capacity ? r->capacity * 2 : 4096;
    while (capacity < r->used + length) capacity *= 2;
    r->bytes = realloc(r->bytes, capacity);
    assert_non_null(r->bytes);
    r->capacity = capacity;
  }
  if (length) memcpy(r->bytes + r->used, bytes, length);
  record_push(&r->refs, file, NULL, length);
  r->refs.items[r->refs.count - 1].offset = r->used;
  r->used += length;
}

static void read_free(read_records *r) {
  free(r->refs.items);
  free(r->bytes);
  memset(r, 0, sizeof *r);
}

static void compare_records(const record_list *expected, const read_records *got, const char *what) {
  if (got->refs.count != expected->count) {
    print_error("%s: %zu records read, %zu expected\n", what, got->refs.count, expected->count);
    fail();
  }
  for (size_t i = 0; i < expected->count; i++) {
    const record_ref *e = &expected->items[i], *g = &got->refs.items[i];
    const unsigned char *g_bytes = got->bytes + g->offset;
    if (g->file != e->file || g->length != e->length ||
        (e->length && memcmp(g_bytes, e->bytes, e->length) != 0)) {
      print_error("%s: record %zu differs (file %zu/%zu, length %zu/%zu)\n", what, i, g->file, e->file,
                  g->length, e->length);
      fail();
    }
  }
}

/* Splits a block from record_reader_next_block() into its records, as expected_records() splits a
 * file; checks that the block holds whole records and that its padding is readable. */
static void push_block_records(read_records *got, size_t file, const unsigned char *block, size_t length,
                               int at_file_end) {
  assert_true(length > 0);
  /* Only the file's last record may lack its '\n'. */
  if (block[length - 1] != '\n') assert_true(at_file_end);
  unsigned char padding = 0;
  for (size_t i = 0; i < RECORD_READER_PADDING; i++) padding |= block[length + i];
  (void)padding; /* read for ASan / valgrind: the padding must be addressable */
  size_t start = 0;
  for (size_t i = 0; i < length; i++) {
    if (block[i] != '\n') continue;
    size_t end = i;
    if (end > start && block[end - 1] == '\r') end--;
    read_push(got, file, block + start, end - start);
    start = i + 1;
  }
  if (start < length) read_push(got, file, block + start, length - start);
}

/* Reads the records that start in [start, end) of `path` into `got`, a record or (`blocks`) a block
 * of records at a time; returns the bytes consumed. */
static uint64_t read_piece(const char *path, size_t file, uint64_t start, uint64_t end, size_t buffer_bytes,
                           int blocks, read_records *got) {
  record_reader reader;
  assert_int_equal(record_reader_open(&reader, path, start, end, buffer_bytes), MPIMR_OK);
  const unsigned char *record;
  size_t length;
  uint64_t consumed = 0;
  int rc;
  if (blocks) {
    while ((rc = record_reader_next_block(&reader, &record, &length, &consumed)) == 1)
      push_block_records(got, file, record, length, reader.eof && reader.head == reader.tail);
    assert_int_equal(rc, 0);
    assert_int_equal(record_reader_next_block(&reader, &record, &length, &consumed), 0);
  } else {
    while ((rc = record_reader_next(&reader, &record, &length, &consumed)) == 1)
      read_push(got, file, record, length);
    assert_int_equal(rc, 0);
    /* The end stays the end. */
    assert_int_equal(record_reader_next(&reader, &record, &length, &consumed), 0);
  }
  record_reader_close(&reader);
  return consumed;
}

/* The contents of the files of a list, kept by the test to build the oracle. */
typedef struct contents {
  unsigned char **bytes;
  size_t *lengths;
  size_t count;
} contents;

/*
 * For every rank count 1..7 and buffer size, reads every piece of every rank
 * and compares with the oracle; also checks that the pieces tile each file.
 */
static void check_all_splits(const input_list *list, const contents *files) {
  assert_int_equal(list->count, files->count);
  record_list expected = {0};
  uint64_t total = 0;
  for (size_t f = 0; f < files->count; f++) {
    assert_int_equal(list->files[f].size, files->lengths[f]);
    expected_records(&expected, f, files->bytes[f], files->lengths[f]);
    total += files->lengths[f];
  }
  assert_true(list->total_bytes == total);

  const size_t buffers[] = {64, 100, 4096};
  input_piece *pieces = malloc((list->count + 1) * sizeof *pieces);
  uint64_t *covered = malloc((list->count + 1) * sizeof *covered);
  assert_non_null(pieces);
  assert_non_null(covered);
  for (int nranks = 1; nranks <= 7; nranks++) {
    for (size_t b = 0; b < 2 * sizeof buffers / sizeof buffers[0]; b++) {
      int blocks = b % 2;
      size_t buffer_bytes = buffers[b / 2];
      read_records got = {0};
      uint64_t consumed = 0;
      memset(covered, 0, (list->count + 1) * sizeof *covered);
      for (int rank = 0; rank < nranks; rank++) {
        size_t n = input_split(list, rank, nranks, pieces);
        assert_true(n <= list->count);
        for (size_t p = 0; p < n; p++) {
          const input_piece *piece = &pieces[p];
          assert_true(piece->file < list->count);
          if (p > 0) assert_true(piece->file > pieces[p - 1].file);
          /* Pieces tile each file: each starts where the previous one of the same file ended. */
          assert_true(piece->start == covered[piece->file]);
          assert_true(piece->start < piece->end && piece->end <= list->files[piece->file].size);
          covered[piece->file] = piece->end;
          consumed += read_piece(list->files[piece->file].path, piece->file, piece->start, piece->end,
                                 buffer_bytes, blocks, &got);
        }
      }
      for (size_t f = 0; f < list->count; f++) assert_true(covered[f] == list->files[f].size);
      char what[128];
      snprintf(what, sizeof what, "%d ranks, buffer %zu, %s", nranks, buffer_bytes,
               blocks ? "blocks" : "records");
      compare_records(&expected, &got, what);
      /* Every byte belongs to exactly one record (its '\n' included). */
      assert_true(consumed == total);
      read_free(&got);
    }
  }
  free(pieces);
  free(covered);
  free(expected.items);
}

/* Writes each content as its own file in a fresh directory, lists the directory, and checks all splits. */
static void check_files(const unsigned char *const *bytes, const size_t *lengths, size_t count) {
  char dir[128];
  make_dir(dir, sizeof dir);
  for (size_t i = 0; i < count; i++) {
    char path[192];
    snprintf(path, sizeof path, "%s/f%05zu", dir, i);
    write_file(path, bytes[i], lengths[i]);
  }
  input_list list;
  char message[256];
  const char *paths[] = {dir};
  assert_int_equal(input_list_build(&list, paths, 1, message, sizeof message), MPIMR_OK);
  contents files = {(unsigned char **)bytes, (size_t *)lengths, count};
  check_all_splits(&list, &files);
  input_list_destroy(&list);
}

static void check_text(const char *text, size_t length) {
  const unsigned char *bytes[] = {(const unsigned char *)text};
  check_files(bytes, &length, 1);
}

#define CHECK_LITERAL(s) check_text((s), sizeof(s) - 1)

static void test_small_cases(void **state) {
  (void)state;
  CHECK_LITERAL("");
  CHECK_LITERAL("x");
  CHECK_LITERAL("single record without newline");
  CHECK_LITERAL("one\n");
  CHECK_LITERAL("\n");
  CHECK_LITERAL("\n\n\n\n\n\n\n\n\n");
  CHECK_LITERAL("a\nb\nc");
  CHECK_LITERAL("a\r\nbb\r\n\r\nccc\r\n");
  CHECK_LITERAL("a\r\nb\r"); /* A '\r' not before '\n' is data. */
  CHECK_LITERAL("\r\n\r\n\r");
  CHECK_LITERAL("x\ry\r\r\nz\n\r"); /* Only the '\r' right before '\n' goes. */
  CHECK_LITERAL("a\0b\n\0\n");      /* Zero bytes are data. */
}

/* A record much longer than the read buffer, among short ones. */
static void test_long_record(void **state) {
  (void)state;
  size_t length = 3 * 10000 + 40;
  unsigned char *text = malloc(length);
  assert_non_null(text);
  size_t at = 0;
  memcpy(text + at, "short\n", 6);
  at += 6;
  for (int r = 0; r < 3; r++) {
    for (size_t i = 0; i < 10000; i++) text[at++] = (unsigned char)('a' + (i * 7 + (size_t)r) % 26);
    if (r == 1) text[at++] = '\r';
    text[at++] = '\n';
  }
  memcpy(text + at, "\nend", 4);
  at += 4;
  check_text((const char *)text, at);
  /* The same without the final short records: the long record is the last, without '\n'. */
  check_text((const char *)text + 6, 10000);
  free(text);
}

/*
 * Files whose split point for 2 ranks (total / 2) lands on a '\n', on the byte
 * before it and on the byte after it; for 3 ranks likewise at total / 3.
 */
static void test_splits_near_newlines(void **state) {
  (void)state;
  for (int nranks = 2; nranks <= 3; nranks++) {
    for (int shift = -2; shift <= 2; shift++) {
      size_t total = 60;
      size_t split = total / (size_t)nranks; /* Where rank 1 starts. */
      unsigned char text[60];
      memset(text, 'r', sizeof text);
      size_t newline = (size_t)((long)split + shift);
      text[newline] = '\n';
      text[newline - 7] = '\n';
      text[newline + 5] = '\n';
      text[total - 1] = '\n';
      /* An empty record right at the split too, in a second file. */
      unsigned char text2[60];
      memcpy(text2, text, sizeof text2);
      text2[newline + 1] = '\n';
      const unsigned char *bytes[] = {text};
      size_t lengths[] = {total};
      check_files(bytes, lengths, 1);
      bytes[0] = text2;
      check_files(bytes, lengths, 1);
    }
  }
}

/* Every two-piece split [0,k) [k,n), and every three-piece split [0,i) [i,j) [j,n), of small files. */
static void brute_force(const unsigned char *text, size_t n, int three_pieces) {
  char dir[128], path[192];
  make_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/file", dir);
  write_file(path, text, n);
  record_list expected = {0};
  expected_records(&expected, 0, text, n);
  for (int blocks = 0; blocks <= 1; blocks++)
    for (size_t i = 0; i <= n; i++) {
      for (size_t j = three_pieces ? i : n; j <= n; j++) {
        read_records got = {0};
        uint64_t consumed = read_piece(path, 0, 0, i, 64, blocks, &got);
        consumed += read_piece(path, 0, i, j, 64, blocks, &got);
        if (three_pieces) consumed += read_piece(path, 0, j, n, 64, blocks, &got);
        char what[128];
        snprintf(what, sizeof what, "pieces split at %zu and %zu of %zu (%s)", i, j, n,
                 blocks ? "blocks" : "records");
        compare_records(&expected, &got, what);
        assert_true(consumed == n);
        read_free(&got);
      }
    }
  free(expected.items);
}

static void test_brute_force_split_points(void **state) {
  (void)state;
  const char *small[] = {"ab\n\ncd\r\nefg\n\nh", "\n\nx\n", "abc", "\r\n\r\n", "a\nb\nc\n", "\n"};
  for (size_t s = 0; s < sizeof small / sizeof small[0]; s++)
    brute_force((const unsigned char *)small[s], strlen(small[s]), 1);
  /* A file longer than the 64-byte buffer, with records of every kind: all three-piece splits. */
  unsigned char text[150];
  for (size_t i = 0; i < sizeof text; i++) {
    size_t r = rng_below(10);
    text[i] = r == 0 ? '\n' : r == 1 ? '\r' : (unsigned char)('a' + rng_below(26));
  }
  text[70] = text[71] = '\n';
  brute_force(text, sizeof text, 1);
  /* Longer records than the buffer: two-piece splits. */
  unsigned char long_text[700];
  for (size_t i = 0; i < sizeof long_text; i++)
    long_text[i] = rng_below(90) == 0 ? '\n' : (unsigned char)('A' + i % 26);
  brute_force(long_text, sizeof long_text, 0);
}

/* Many small files with empty ones among them; splits fall across file boundaries. */
static void test_many_small_files(void **state) {
  (void)state;
  enum { FILES = 40 };
  unsigned char *bytes[FILES];
  size_t lengths[FILES];
  for (size_t f = 0; f < FILES; f++) {
    size_t kind = rng_below(5);
    lengths[f] = (kind == 0 || f == 1 || f == FILES - 1) ? 0 : rng_below(kind == 1 ? 3 : 200);
    bytes[f] = malloc(lengths[f] + 1);
    assert_non_null(bytes[f]);
    for (size_t i = 0; i < lengths[f]; i++) {
      size_t r = rng_below(12);
      bytes[f][i] = r == 0 ? '\n' : r == 1 ? '\r' : (unsigned char)('a' + rng_below(26));
    }
  }
  check_files((const unsigned char *const *)bytes, lengths, FILES);
  for (size_t f = 0; f < FILES; f++) free(bytes[f]);
}

/* ---- listing ---- */

static void make_file_at(const char *root, const char *relative, const char *content) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", root, relative);
  write_file(path, content, strlen(content));
}

static void make_subdir(const char *root, const char *relative) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", root, relative);
  assert_int_equal(mkdir(path, 0700), 0);
}

static void test_list_directory_tree(void **state) {
  (void)state;
  char root[128];
  make_dir(root, sizeof root);
  make_subdir(root, "sub");
  make_subdir(root, "sub/deeper");
  make_subdir(root, ".hidden_dir");
  make_subdir(root, "empty");
  make_file_at(root, "b", "bb\n");
  make_file_at(root, "a", "a\n");
  make_file_at(root, "c", "");
  make_file_at(root, "B", "upper\n");
  make_file_at(root, "sub/z", "zzzz");
  make_file_at(root, "sub/deeper/y", "yy\nyy\n");
  make_file_at(root, "sub/.hidden", "no");
  make_file_at(root, ".hidden", "no");
  make_file_at(root, ".hidden_dir/x", "no");

  /* Name order (bytewise: "B" < "a"), recursive, dot files and directories skipped. */
  const char *expected_names[] = {"B", "a", "b", "c", "sub/deeper/y", "sub/z"};
  const uint64_t expected_sizes[] = {6, 2, 3, 0, 6, 4};
  for (int trailing_slash = 0; trailing_slash < 2; trailing_slash++) {
    char arg[160];
    snprintf(arg, sizeof arg, "%s%s", root, trailing_slash ? "/" : "");
    const char *paths[] = {arg};
    input_list list;
    char message[256] = "";
    assert_int_equal(input_list_build(&list, paths, 1, message, sizeof message), MPIMR_OK);
    assert_int_equal(list.count, 6);
    uint64_t total = 0;
    for (size_t i = 0; i < 6; i++) {
      char want[256];
      snprintf(want, sizeof want, "%s/%s", root, expected_names[i]);
      assert_string_equal(list.files[i].path, want);
      assert_true(list.files[i].size == expected_sizes[i]);
      total += expected_sizes[i];
    }
    assert_true(list.total_bytes == total);
    input_list_destroy(&list);
  }

  /* Several paths keep their order; a file named directly is listed even if hidden. */
  char file_a[192], hidden[192], sub[192];
  snprintf(file_a, sizeof file_a, "%s/a", root);
  snprintf(hidden, sizeof hidden, "%s/.hidden", root);
  snprintf(sub, sizeof sub, "%s/sub", root);
  const char *paths[] = {sub, file_a, hidden};
  input_list list;
  char message[256];
  assert_int_equal(input_list_build(&list, paths, 3, message, sizeof message), MPIMR_OK);
  assert_int_equal(list.count, 4);
  char want[256];
  snprintf(want, sizeof want, "%s/deeper/y", sub);
  assert_string_equal(list.files[0].path, want);
  snprintf(want, sizeof want, "%s/z", sub);
  assert_string_equal(list.files[1].path, want);
  assert_string_equal(list.files[2].path, file_a);
  assert_string_equal(list.files[3].path, hidden);
  input_list_destroy(&list);

  /* An empty directory gives an empty list. */
  char empty[192];
  snprintf(empty, sizeof empty, "%s/empty", root);
  const char *empty_paths[] = {empty};
  assert_int_equal(input_list_build(&list, empty_paths, 1, message, sizeof message), MPIMR_OK);
  assert_int_equal(list.count, 0);
  assert_true(list.total_bytes == 0);
  input_list_destroy(&list);
}

static void test_list_missing_path(void **state) {
  (void)state;
  char root[128], missing[192];
  make_dir(root, sizeof root);
  make_file_at(root, "present", "p\n");
  snprintf(missing, sizeof missing, "%s/no-such-input", root);
  char present[192];
  snprintf(present, sizeof present, "%s/present", root);
  const char *paths[] = {present, missing};
  input_list list;
  char message[512] = "";
  assert_int_equal(input_list_build(&list, paths, 2, message, sizeof message), MPIMR_ERR_IO);
  assert_non_null(strstr(message, missing));
  assert_non_null(strstr(message, strerror(ENOENT)));
  input_list_destroy(&list);
}

/* ---- pack / unpack ---- */

static void check_lists_equal(const input_list *a, const input_list *b) {
  assert_int_equal(a->count, b->count);
  assert_true(a->total_bytes == b->total_bytes);
  for (size_t i = 0; i < a->count; i++) {
    assert_string_equal(a->files[i].path, b->files[i].path);
    assert_true(a->files[i].size == b->files[i].size);
    const input_identity *x = &a->files[i].identity, *y = &b->files[i].identity;
    assert_true(x->device == y->device && x->inode == y->inode);
    assert_true(x->mtime_sec == y->mtime_sec && x->mtime_nsec == y->mtime_nsec);
    assert_int_equal(x->device_comparable, y->device_comparable);
  }
}

static void test_pack_unpack(void **state) {
  (void)state;
  char root[128];
  make_dir(root, sizeof root);
  for (int i = 0; i < 25; i++) {
    char name[32], content[64];
    snprintf(name, sizeof name, "file-%02d%s", i, i % 3 ? "" : "-with-a-longer-name");
    size_t n = rng_below(sizeof content);
    memset(content, 'q', n);
    content[n] = '\0';
    make_file_at(root, name, content);
  }
  const char *paths[] = {root};
  input_list list, copy;
  char message[256];
  assert_int_equal(input_list_build(&list, paths, 1, message, sizeof message), MPIMR_OK);
  assert_int_equal(list.count, 25);
  size_t packed_size = 0;
  unsigned char *packed = input_list_pack(&list, &packed_size);
  assert_non_null(packed);
  assert_int_equal(input_list_unpack(&copy, packed, packed_size), MPIMR_OK);
  check_lists_equal(&list, &copy);
  input_list_destroy(&copy);

  /* Unpacked on another machine (the packer's name, after the count, differs), devices are not compared:
   * its device numbers are not ours. */
  uint64_t host_length;
  memcpy(&host_length, packed + 8, 8);
  assert_true(host_length > 0);
  packed[16] ^= 1;
  assert_int_equal(input_list_unpack(&copy, packed, packed_size), MPIMR_OK);
  packed[16] ^= 1;
  assert_int_equal(copy.count, list.count);
  for (size_t i = 0; i < list.count; i++) {
    assert_int_equal(list.files[i].identity.device_comparable, 1);
    assert_int_equal(copy.files[i].identity.device_comparable, 0);
    copy.files[i].identity.device_comparable = 1;
  }
  check_lists_equal(&list, &copy);
  input_list_destroy(&copy);

  /* Every truncation, read from an exact-size copy, is refused and leaves an empty list. */
  for (size_t n = 0; n < packed_size; n++) {
    unsigned char *shorter = malloc(n ? n : 1);
    assert_non_null(shorter);
    memcpy(shorter, packed, n);
    assert_int_equal(input_list_unpack(&copy, shorter, n), MPIMR_ERR_CORRUPT);
    assert_int_equal(copy.count, 0);
    input_list_destroy(&copy);
    free(shorter);
  }
  free(packed);
  input_list_destroy(&list);

  /* The empty list round-trips too. */
  input_list empty;
  memset(&empty, 0, sizeof empty);
  packed = input_list_pack(&empty, &packed_size);
  assert_non_null(packed);
  assert_int_equal(input_list_unpack(&copy, packed, packed_size), MPIMR_OK);
  check_lists_equal(&empty, &copy);
  input_list_destroy(&copy);
  free(packed);
}

/* ---- a file's identity ---- */

static void test_list_identity(void **state) {
  (void)state;
  char root[128], full[192], empty[192];
  make_dir(root, sizeof root);
  make_file_at(root, "full", "one\ntwo\n");
  make_file_at(root, "empty", "");
  snprintf(full, sizeof full, "%s/full", root);
  snprintf(empty, sizeof empty, "%s/empty", root);
  const char *paths[] = {full, empty};
  input_list list;
  char message[256] = "";
  /* A genuinely empty file is listed, as empty input. */
  assert_int_equal(input_list_build(&list, paths, 2, message, sizeof message), MPIMR_OK);
  assert_int_equal(list.count, 2);
  for (size_t i = 0; i < 2; i++) {
    struct stat st;
    assert_int_equal(stat(paths[i], &st), 0);
    const input_identity *id = &list.files[i].identity;
    assert_true(list.files[i].size == (uint64_t)st.st_size);
    assert_true(id->device == (uint64_t)st.st_dev && id->inode == (uint64_t)st.st_ino);
    assert_true(id->mtime_sec == st.st_mtim.tv_sec && id->mtime_nsec == st.st_mtim.tv_nsec);
    assert_int_equal(id->device_comparable, 1);
  }
  input_list_destroy(&list);
}

static void test_list_pseudo_file(void **state) {
  (void)state;
  const char *pseudo = "/proc/self/status"; /* size 0, but reads this process's status */
  struct stat st;
  assert_int_equal(stat(pseudo, &st), 0);
  assert_true(S_ISREG(st.st_mode) && st.st_size == 0);
  const char *paths[] = {pseudo};
  input_list list;
  char message[512] = "";
  assert_int_equal(input_list_build(&list, paths, 1, message, sizeof message), MPIMR_ERR_IO);
  assert_string_equal(message,
                      "input '/proc/self/status': reports a size of 0 but has data (a pseudo file such as "
                      "those in /proc or /sys): copy it to a regular file first");
  input_list_destroy(&list);
}

/* Upper-cases a file in place (same size, other bytes); with `append`, adds a line too. Its modification
 * time is set 1000 s back, so it differs even where timestamps are coarse. */
static void rewrite_file(const char *path, int append) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  char bytes[4096];
  assert_true(st.st_size < (off_t)sizeof bytes);
  assert_true(pread(fd, bytes, (size_t)st.st_size, 0) == st.st_size);
  for (off_t i = 0; i < st.st_size; i++)
    if (bytes[i] >= 'a' && bytes[i] <= 'z') bytes[i] = (char)(bytes[i] - 'a' + 'A');
  assert_true(pwrite(fd, bytes, (size_t)st.st_size, 0) == st.st_size);
  if (append) assert_true(pwrite(fd, "more\n", 5, st.st_size) == 5);
  struct timespec times[2] = {{0, UTIME_OMIT}, {st.st_mtim.tv_sec - 1000, st.st_mtim.tv_nsec}};
  assert_int_equal(futimens(fd, times), 0);
  assert_int_equal(close(fd), 0);
}

/* A file of 60 lines of 10 bytes, listed; `list` holds it. */
static void list_lines_file(input_list *list, char *path, size_t path_size) {
  char root[128], text[601];
  make_dir(root, sizeof root);
  for (int i = 0; i < 60; i++) snprintf(text + 10 * i, sizeof text - 10 * (size_t)i, "line %04d\n", i);
  make_file_at(root, "lines", text);
  snprintf(path, path_size, "%s/lines", root);
  const char *paths[] = {path};
  char message[256];
  assert_int_equal(input_list_build(list, paths, 1, message, sizeof message), MPIMR_OK);
  assert_true(list->files[0].size == 600);
}

/* Opens bytes [start, end) of the listed file with its size and identity expected (`file` may be a
 * changed copy of the listing). */
static void open_expecting(record_reader *r, const input_file *file, uint64_t start, uint64_t end) {
  assert_int_equal(record_reader_open(r, file->path, start, end, 64), MPIMR_OK);
  record_reader_limit(r, file->size, SIZE_MAX);
  record_reader_expect(r, &file->identity);
}

/* Reads records (or blocks) until the end or an error; returns that status and counts the records. */
static int read_on(record_reader *r, int blocks, size_t *records) {
  const unsigned char *record;
  size_t length;
  int rc;
  while ((rc = blocks ? record_reader_next_block(r, &record, &length, NULL)
                      : record_reader_next(r, &record, &length, NULL)) == 1)
    (*records)++;
  return rc;
}

static void check_changed(const record_reader *r, int rc, unsigned changed, const char *what) {
  assert_int_equal(rc, MPIMR_ERR_IO);
  assert_int_equal(r->changed, changed);
  char text[256], want[256];
  record_reader_describe_error(r, rc, text, sizeof text);
  snprintf(want, sizeof want,
           "the file was replaced or modified while the job ran (%s from when the job listed it)", what);
  assert_string_equal(text, want);
}

/* Unchanged, every piece reads to its end (the end checked too); rewritten in place or appended to, the
 * end of the piece finds it, or the start if the reader opens the file afterwards. */
static void test_reader_finds_rewrite(void **state) {
  (void)state;
  const uint64_t cuts[] = {0, 5, 300, 585, 600}; /* each piece holds a record */
  for (int blocks = 0; blocks <= 1; blocks++) {
    input_list list;
    char path[192];
    list_lines_file(&list, path, sizeof path);
    record_reader r;
    size_t records = 0;
    for (int p = 0; p < 4; p++) {
      open_expecting(&r, &list.files[0], cuts[p], cuts[p + 1]);
      assert_int_equal(read_on(&r, blocks, &records), 0);
      assert_int_equal(r.changed, 0);
      assert_int_equal(read_on(&r, blocks, &records), 0); /* the end stays the end */
      record_reader_close(&r);
    }
    if (!blocks) assert_int_equal(records, 60);
    input_list_destroy(&list);

    for (int p = 0; p < 4; p++) {
      list_lines_file(&list, path, sizeof path);
      open_expecting(&r, &list.files[0], cuts[p], cuts[p + 1]);
      const unsigned char *record;
      size_t length;
      int rc = blocks ? record_reader_next_block(&r, &record, &length, NULL)
                      : record_reader_next(&r, &record, &length, NULL);
      assert_int_equal(rc, 1);
      rewrite_file(path, 0);
      check_changed(&r, read_on(&r, blocks, &records), INPUT_CHANGED_MTIME, "modification time differs");
      record_reader_close(&r);
      open_expecting(&r, &list.files[0], cuts[p], cuts[p + 1]);
      records = 0;
      check_changed(&r, read_on(&r, blocks, &records), INPUT_CHANGED_MTIME, "modification time differs");
      assert_int_equal(records, 0);
      record_reader_close(&r);
      input_list_destroy(&list);
    }

    list_lines_file(&list, path, sizeof path);
    rewrite_file(path, 1);
    open_expecting(&r, &list.files[0], 0, 600);
    check_changed(&r, read_on(&r, blocks, &records), INPUT_CHANGED_MTIME | INPUT_CHANGED_SIZE,
                  "modification time and size differ");
    record_reader_close(&r);

    /* A reader that expects no identity reads a rewritten file as before. */
    assert_int_equal(record_reader_open(&r, path, 0, 600, 64), MPIMR_OK);
    record_reader_limit(&r, 600, SIZE_MAX);
    assert_int_equal(read_on(&r, blocks, &records), 0);
    record_reader_close(&r);
    input_list_destroy(&list);
  }
}

/* Replaced by a file of the same size (renamed over it): another inode, found on opening. Another
 * device is a change only where devices compare (on the lister's machine). */
static void test_reader_finds_replacement(void **state) {
  (void)state;
  for (int blocks = 0; blocks <= 1; blocks++) {
    input_list list;
    char path[192], other[256];
    list_lines_file(&list, path, sizeof path);
    snprintf(other, sizeof other, "%s.new", path);
    write_file(other, "LINE\n", 5);
    assert_int_equal(truncate(other, 600), 0);
    assert_int_equal(rename(other, path), 0);
    record_reader r;
    size_t records = 0;
    open_expecting(&r, &list.files[0], 300, 600);
    int rc = read_on(&r, blocks, &records);
    assert_int_equal(records, 0);
    assert_int_equal(rc, MPIMR_ERR_IO);
    /* The modification time differs too, unless both files were made in the same clock tick. */
    assert_true(r.changed & INPUT_CHANGED_INODE);
    assert_false(r.changed & (INPUT_CHANGED_DEVICE | INPUT_CHANGED_SIZE));
    char text[256];
    record_reader_describe_error(&r, rc, text, sizeof text);
    assert_non_null(strstr(text, "the file was replaced or modified while the job ran (inode"));
    record_reader_close(&r);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    input_identity elsewhere = {(uint64_t)st.st_dev + 1, (uint64_t)st.st_ino, st.st_mtim.tv_sec,
                                st.st_mtim.tv_nsec, 0};
    input_file moved = {path, 600, elsewhere};
    open_expecting(&r, &moved, 0, 600);
    assert_int_equal(read_on(&r, blocks, &records), 0);
    record_reader_close(&r);
    moved.identity.device_comparable = 1;
    open_expecting(&r, &moved, 0, 600);
    check_changed(&r, read_on(&r, blocks, &records), INPUT_CHANGED_DEVICE, "device differs");
    record_reader_close(&r);
    input_list_destroy(&list);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_cases),          cmocka_unit_test(test_long_record),
      cmocka_unit_test(test_splits_near_newlines), cmocka_unit_test(test_brute_force_split_points),
      cmocka_unit_test(test_many_small_files),     cmocka_unit_test(test_list_directory_tree),
      cmocka_unit_test(test_list_missing_path),    cmocka_unit_test(test_pack_unpack),
      cmocka_unit_test(test_list_identity),        cmocka_unit_test(test_list_pseudo_file),
      cmocka_unit_test(test_reader_finds_rewrite), cmocka_unit_test(test_reader_finds_replacement),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
