/*
 * tests/mpi/test_stress.c — many jobs in one program, jobs on several
 * communicators, and a job over ten thousand tiny files.
 *
 * Every job maps the same kind of pairs: record i (an index of an integer
 * range, or line i of generated input files, "k000012 345") is the pair
 * (key i mod K as "k%06u", i as 8 bytes). So for any n and K the oracle is
 * a formula: key k has c = n / K + (k < n % K) values, summing to
 * k c + K c (c - 1) / 2, and without a combiner or a reducer the output is
 * exactly the n pairs. Rank 0 reads the part files back (text, binary or
 * lines), checks them against it, checks keys are in order (across parts
 * in global key order), and that the output directory holds the parts and
 * `_SUCCESS` and nothing else.
 *
 * 1. 200 small jobs back to back on MPI_COMM_WORLD, cycling through ten
 *    configurations (combiner, reducer, both or neither; every output
 *    format; global key order; map_record, map_block and map_index; a tiny
 *    round size; pinning; a 16 MiB budget that every 50th job really spills
 *    under). After the loop every rank has as many descriptors open as
 *    before it, its heap has not grown, none of the library's directly
 *    mapped blocks is left, and the spill directory is empty after every
 *    job.
 * 2. Jobs on two halves of MPI_COMM_WORLD at once, each on its own ranks
 *    (at np 1: on a dup of WORLD and a dup of SELF, one after the other),
 *    each communicator freed as soon as its job is created; then a job on
 *    a dup of WORLD.
 * 3. One job over a directory of 10,000 files of 1 to 3 lines; descriptors
 *    and mapped blocks as before it.
 */
#include <dirent.h>
#include <malloc.h>

#include "mpi_test_util.h"
#include "mpimr/mpimr.h"

enum {
  JOBS = 200,
  CONFIGURATIONS = 10,
  SPILL_EVERY = 50,       /**< Every 50th job (the first in the warm-up) runs big enough to spill. */
  SPILL_INDICES = 600000, /**< All on one key: the rank that reduces it spills under 16 MiB. */
  BUDGET = 16 << 20,
  FILE_LINES = 3000, /**< Lines of the small generated input files (case 1). */
  FILE_KEYS = 211,
  TINY_FILES = 10000, /**< Files of case 3. */
  TINY_KEYS = 97,
  HEAP_SLACK = 384 << 10, /**< Heap growth allowed over 190 jobs (see test_many_jobs). */
};

typedef enum input_kind { INDICES, FILE_RECORDS, FILE_BLOCKS } input_kind;
typedef enum combiner_kind { NO_COMBINER, SUM_COMBINER, GENERIC_COMBINER } combiner_kind;

/** One job: its input, what it aggregates with, and how it writes. */
typedef struct job_spec {
  input_kind input;
  uint64_t records; /**< n: indices, or lines of the input files. */
  unsigned keys;    /**< K: record i has key i mod K. */
  combiner_kind combiner;
  int reduce;
  mpimr_output_format format;
  mpimr_key_order order;
  size_t memory_bytes;
  size_t round_bytes;
  int rounds_in_flight;
  mpimr_transport transport;
  int pin_auto;
} job_spec;

/* ---- map, combine, reduce ---------------------------------------------- */

static int emit_record(uint64_t i, unsigned keys, mpimr_emitter *out) {
  char key[16];
  snprintf(key, sizeof key, "k%06u", (unsigned)(i % keys));
  unsigned char value[8];
  mpimr_put_u64(value, i);
  return mpimr_emit(out, key, 7, value, 8);
}

static int map_index(void *user, uint64_t i, mpimr_emitter *out) {
  const job_spec *spec = user;
  return emit_record(i, spec->keys, out);
}

/* A line "k000012 345": the key is its first 7 bytes, the value the number after the space. */
static int map_line(const unsigned char *line, size_t length, mpimr_emitter *out) {
  if (length < 9 || line[0] != 'k' || line[7] != ' ') return 1;
  uint64_t i = 0;
  for (size_t at = 8; at < length; at++) {
    if (line[at] < '0' || line[at] > '9') return 1;
    i = i * 10 + (uint64_t)(line[at] - '0');
  }
  unsigned char value[8];
  mpimr_put_u64(value, i);
  return mpimr_emit(out, line, 7, value, 8);
}

static int map_record(void *user, const void *record, size_t length, mpimr_emitter *out) {
  (void)user;
  return map_line(record, length, out);
}

static int map_block(void *user, const void *block, size_t length, mpimr_emitter *out) {
  (void)user;
  const unsigned char *p = block, *end = p + length;
  while (p < end) {
    const unsigned char *newline = memchr(p, '\n', (size_t)(end - p));
    const unsigned char *line_end = newline ? newline : end;
    int rc = map_line(p, (size_t)(line_end - p), out);
    if (rc != 0) return rc;
    p = newline ? newline + 1 : end;
  }
  return 0;
}

/* Sums like mpimr_combine_sum_u64, but the library cannot recognise it: the generic table. */
static long long combine_generic(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                 size_t acc_cap, const void *in, size_t in_len) {
  (void)user;
  (void)key;
  (void)key_len;
  if (acc_len != 8 || in_len != 8 || acc_cap < 8) return -1;
  mpimr_put_u64(acc, mpimr_get_u64(acc) + mpimr_get_u64(in));
  return 8;
}

static int reduce_sum(void *user, const void *key, size_t key_len, mpimr_values *values, mpimr_emitter *out) {
  (void)user;
  uint64_t total = 0;
  const void *value;
  size_t length;
  while (mpimr_values_next(values, &value, &length)) {
    if (length != 8) return 1;
    total += mpimr_get_u64(value);
  }
  unsigned char sum[8];
  mpimr_put_u64(sum, total);
  return mpimr_emit(out, key, key_len, sum, 8);
}

/* Runs one job on `*comm`; frees `*comm` right after creating the job if `free_comm` (allowed). */
static int run_job(const job_spec *spec, MPI_Comm *comm, int free_comm, const char *input, const char *out,
                   const char *spill, mpimr_job_stats *stats) {
  mpimr_job_config cfg;
  mpimr_job_config_init(&cfg);
  cfg.user = (void *)spec;
  const char *inputs[1] = {input};
  if (spec->input == INDICES) {
    cfg.map_index = map_index;
    cfg.index_count = spec->records;
  } else {
    if (spec->input == FILE_BLOCKS)
      cfg.map_block = map_block;
    else
      cfg.map_record = map_record;
    cfg.inputs = inputs;
    cfg.input_count = 1;
  }
  cfg.combine = spec->combiner == SUM_COMBINER       ? mpimr_combine_sum_u64
                : spec->combiner == GENERIC_COMBINER ? combine_generic
                                                     : NULL;
  cfg.reduce = spec->reduce ? reduce_sum : NULL;
  cfg.key_order = spec->order;
  cfg.output_format = spec->format;
  cfg.output_dir = spec->format == MPIMR_OUTPUT_NONE ? NULL : out;
  cfg.overwrite = 1;
  cfg.format_value = spec->format == MPIMR_OUTPUT_TEXT ? mpimr_format_u64 : NULL;
  cfg.memory_bytes = spec->memory_bytes;
  cfg.spill_dir = spill;
  if (spec->round_bytes) {
    cfg.round_bytes = spec->round_bytes;
    cfg.combine_bytes = spec->round_bytes;
    cfg.read_bytes = spec->round_bytes;
  }
  if (spec->rounds_in_flight) cfg.rounds_in_flight = spec->rounds_in_flight;
  cfg.transport = spec->transport;
  cfg.pin = spec->pin_auto ? MPIMR_PIN_AUTO : MPIMR_PIN_NONE;
  mpimr_job *job = NULL;
  int rc = mpimr_job_create(&job, *comm, &cfg);
  if (free_comm) MPI_Comm_free(comm);
  if (rc == MPIMR_OK) rc = mpimr_job_run(job);
  if (rc != MPIMR_OK) fprintf(stderr, "rank %d: %s\n", test_rank(), job ? mpimr_job_error_message(job) : "");
  if (stats) {
    if (job)
      *stats = *mpimr_job_get_stats(job);
    else
      memset(stats, 0, sizeof *stats);
  }
  mpimr_job_free(job);
  return rc;
}

/* ---- the oracle (rank 0) ----------------------------------------------- */

static int aggregated(const job_spec *spec) { return spec->combiner != NO_COMBINER || spec->reduce; }

static uint64_t values_of_key(const job_spec *spec, unsigned k) {
  return spec->records / spec->keys + (k < spec->records % spec->keys);
}

/* The sum of all i < n with i mod K = k: k c + K c (c - 1) / 2. */
static uint64_t sum_of_key(const job_spec *spec, unsigned k) {
  uint64_t c = values_of_key(spec, k);
  return (uint64_t)k * c + (uint64_t)spec->keys * (c * (c - 1) / 2);
}

static uint64_t expected_pairs(const job_spec *spec) {
  if (!aggregated(spec)) return spec->records;
  return spec->records < spec->keys ? spec->records : spec->keys;
}

/* The number of a key "k%06u", or -1. */
static long key_number(const unsigned char *key, size_t length) {
  if (length != 7 || key[0] != 'k') return -1;
  long k = 0;
  for (size_t at = 1; at < 7; at++) {
    if (key[at] < '0' || key[at] > '9') return -1;
    k = k * 10 + (key[at] - '0');
  }
  return k;
}

/* Reads the next pair of a part file; returns 1 and sets key and value, 0 at the end, -1 if malformed. */
static int next_pair(mpimr_output_format format, const unsigned char *data, size_t length, size_t *at,
                     const unsigned char **key, size_t *key_len, uint64_t *value) {
  size_t p = *at;
  if (p == length) return 0;
  if (format == MPIMR_OUTPUT_BINARY) {
    if (length - p < 16) return -1;
    uint64_t kl = mpimr_get_u64(data + p), vl = mpimr_get_u64(data + p + 8);
    if (kl > 64 || vl != 8 || length - p - 16 < kl + 8) return -1;
    *key = data + p + 16;
    *key_len = (size_t)kl;
    *value = mpimr_get_u64(data + p + 16 + kl);
    *at = p + 16 + (size_t)kl + 8;
    return 1;
  }
  if (format == MPIMR_OUTPUT_LINES) { /* 7 key bytes, 8 value bytes, '\n' */
    if (length - p < 16 || data[p + 15] != '\n') return -1;
    *key = data + p;
    *key_len = 7;
    *value = mpimr_get_u64(data + p + 7);
    *at = p + 16;
    return 1;
  }
  const unsigned char *tab = memchr(data + p, '\t', length - p);
  if (tab == NULL) return -1;
  *key = data + p;
  *key_len = (size_t)(tab - (data + p));
  size_t digits = 0;
  uint64_t v = 0;
  for (p = (size_t)(tab - data) + 1; p < length && data[p] >= '0' && data[p] <= '9'; p++, digits++)
    v = v * 10 + (uint64_t)(data[p] - '0');
  if (digits == 0 || p == length || data[p] != '\n') return -1;
  *value = v;
  *at = p + 1;
  return 1;
}

/* True if `out` holds part-00000 .. part-(parts-1) and _SUCCESS, and nothing else (no temporaries). */
static int output_listing_ok(const char *out, int parts) {
  DIR *d = opendir(out);
  if (d == NULL) return 0;
  int part_files = 0, success = 0, other = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *name = e->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
    int r = -1, consumed = 0;
    if (strcmp(name, "_SUCCESS") == 0)
      success++;
    else if (strlen(name) == 10 && sscanf(name, "part-%5d%n", &r, &consumed) == 1 && consumed == 10 &&
             r >= 0 && r < parts)
      part_files++;
    else {
      fprintf(stderr, "%s: unexpected entry '%s'\n", out, name);
      other++;
    }
  }
  closedir(d);
  return part_files == parts && success == 1 && other == 0;
}

/* Checks the job's part files against the formula; `pairs_output` is the job's total (for no output). */
static int output_matches(const job_spec *spec, const char *out, int parts, uint64_t pairs_output) {
  if (spec->format == MPIMR_OUTPUT_NONE) return pairs_output == expected_pairs(spec);
  if (!output_listing_ok(out, parts)) return 0;
  int whole = aggregated(spec);
  size_t seen_size = whole ? spec->keys : (size_t)spec->records;
  unsigned char *seen = calloc(seen_size ? seen_size : 1, 1);
  if (seen == NULL) return 0;
  uint64_t pairs = 0;
  long previous = -1; /* the last key number: parts in global order continue one another */
  int ok = 1;
  for (int r = 0; r < parts && ok; r++) {
    char path[600];
    snprintf(path, sizeof path, "%s/part-%05d", out, r);
    size_t length = 0, at = 0;
    unsigned char *data = test_read_file(path, &length);
    if (data == NULL) {
      fprintf(stderr, "cannot read %s\n", path);
      ok = 0;
      break;
    }
    if (spec->order != MPIMR_KEY_ORDER_GLOBAL) previous = -1;
    const unsigned char *key;
    size_t key_len;
    uint64_t value;
    int got = 0;
    while (ok && (got = next_pair(spec->format, data, length, &at, &key, &key_len, &value)) == 1) {
      long k = key_number(key, key_len);
      if (k < 0 || (unsigned long)k >= spec->keys) {
        ok = 0;
      } else if (whole) {
        ok = !seen[k] && k > previous && value == sum_of_key(spec, (unsigned)k);
        seen[k] = 1;
      } else {
        ok = value < spec->records && !seen[value] && value % spec->keys == (uint64_t)k && k >= previous;
        if (ok) seen[value] = 1;
      }
      previous = k;
      pairs++;
    }
    if (got < 0) ok = 0;
    if (!ok) fprintf(stderr, "%s: wrong, malformed or out-of-order pair near byte %zu\n", path, at);
    free(data);
  }
  if (ok && pairs != expected_pairs(spec)) {
    fprintf(stderr, "%s: %llu pairs, expected %llu\n", out, (unsigned long long)pairs,
            (unsigned long long)expected_pairs(spec));
    ok = 0;
  }
  free(seen);
  return ok;
}

/* Rank 0's verdict on a job's output, agreed over WORLD. Pairs written are added over WORLD: ranks
 * outside the job's communicator contribute their zeroed stats. */
static int check_job(const job_spec *spec, const char *out, int parts, const mpimr_job_stats *stats) {
  uint64_t pairs_output = 0;
  MPI_Allreduce(&stats->pairs_output, &pairs_output, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  int ok = test_rank() == 0 ? output_matches(spec, out, parts, pairs_output) : 1;
  return test_agree(ok, "the job's output matches the oracle");
}

/* ---- files, descriptors and the heap ------------------------------------ */

/* Writes lines first .. first+count-1 ("k%06u %llu\n", key i mod keys) to `path`; the last without '\n' if
 * `open_end`. */
static int write_lines(const char *path, uint64_t first, uint64_t count, unsigned keys, int open_end) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) return -1;
  int ok = 1;
  for (uint64_t i = first; i < first + count && ok; i++)
    ok = fprintf(f, "k%06u %llu%s", (unsigned)(i % keys), (unsigned long long)i,
                 open_end && i + 1 == first + count ? "" : "\n") > 0;
  return fclose(f) == 0 && ok ? 0 : -1;
}

static int directory_is_empty(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL) return 0;
  int empty = 1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      fprintf(stderr, "rank %d: %s is not empty: '%s'\n", test_rank(), path, e->d_name);
      empty = 0;
    }
  closedir(d);
  return empty;
}

/* The descriptors this process has open (not counting the one that lists them). */
static int open_descriptors(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  int count = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') count++;
  closedir(d);
  return count - 1;
}

/* Prints what each open descriptor refers to, to say which one a job left behind. */
static void print_descriptors(const char *when) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char link[300], target[512];
    snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    fprintf(stderr, "rank %d: %s: fd %s -> %s\n", test_rank(), when, e->d_name, target);
  }
  closedir(d);
}

static int same_descriptors(int before, const char *what) {
  int after = open_descriptors();
  if (after != before) {
    fprintf(stderr, "rank %d: %d descriptors open before %s, %d after\n", test_rank(), before, what, after);
    print_descriptors(what);
  }
  return after == before;
}

/* Bytes in use in malloc's main arena (this thread's, where the library allocates). */
static size_t heap_in_use(void) {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks;
}

/*
 * Bytes of the mappings advised to use huge pages (VmFlags "hg" in smaps):
 * the blocks of 2 MiB and more that the library maps itself for its tables,
 * which neither mallinfo2() nor LeakSanitizer sees. Between jobs there are
 * none; a leaked table would stay.
 */
static size_t advised_bytes(void) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (f == NULL) return 0;
  char line[512];
  size_t size_kib = 0, total = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long kib;
    if (sscanf(line, "Size: %lu kB", &kib) == 1)
      size_kib = kib;
    else if (strncmp(line, "VmFlags:", 8) == 0 && strstr(line, " hg") != NULL)
      total += size_kib * 1024;
  }
  fclose(f);
  return total;
}

/* ---- 1. many jobs back to back ----------------------------------------- */

static char work_dir[256];

static int setup_dir(void **state) {
  (void)state;
  test_temp_dir(work_dir, sizeof work_dir);
  return work_dir[0] ? 0 : -1;
}

/* Runs even when a test fails (on every rank, as failures are agreed): nothing is left in /tmp. */
static int teardown_dir(void **state) {
  (void)state;
  test_remove_tree(work_dir);
  work_dir[0] = '\0';
  return 0;
}

/* Job j of the loop: ten configurations in turn, sizes varying from job to job. */
static job_spec spec_of(int j) {
  job_spec s = {.input = INDICES,
                .records = 300 + (uint64_t)(j * 7919) % 3000,
                .keys = 1 + (unsigned)(j * 131) % 700,
                .format = MPIMR_OUTPUT_TEXT,
                .order = MPIMR_KEY_ORDER_PART};
  switch (j % CONFIGURATIONS) {
    case 0: s.combiner = SUM_COMBINER; break;
    case 1:
      s.reduce = 1;
      s.format = MPIMR_OUTPUT_BINARY;
      break;
    case 2:
      s.input = FILE_RECORDS;
      s.combiner = SUM_COMBINER;
      s.reduce = 1;
      s.format = MPIMR_OUTPUT_LINES;
      break;
    case 3:
      s.format = MPIMR_OUTPUT_BINARY; /* neither: every pair written as it is */
      break;
    case 4:
      s.combiner = SUM_COMBINER;
      s.order = MPIMR_KEY_ORDER_GLOBAL;
      break;
    case 5:
      s.input = FILE_BLOCKS;
      s.reduce = 1;
      s.order = MPIMR_KEY_ORDER_GLOBAL;
      s.format = MPIMR_OUTPUT_BINARY;
      break;
    case 6:
      s.combiner = GENERIC_COMBINER;
      s.format = MPIMR_OUTPUT_NONE;
      break;
    case 7: /* many tiny rounds over MPI_Ialltoallv, and pinning (none when oversubscribed) */
      s.reduce = 1;
      s.round_bytes = 4096;
      s.rounds_in_flight = 3;
      s.transport = MPIMR_TRANSPORT_ALLTOALLV;
      s.pin_auto = 1;
      break;
    case 8:
      s.input = FILE_RECORDS;
      s.order = MPIMR_KEY_ORDER_GLOBAL;
      s.format = MPIMR_OUTPUT_LINES;
      break;
    default: /* a 16 MiB budget; every 50th job puts everything on one key, and spills */
      s.reduce = 1;
      s.format = MPIMR_OUTPUT_BINARY;
      s.memory_bytes = BUDGET;
      if (j % SPILL_EVERY == CONFIGURATIONS - 1) {
        s.records = SPILL_INDICES;
        s.keys = 1;
      }
      break;
  }
  if (s.input != INDICES) {
    s.records = FILE_LINES;
    s.keys = FILE_KEYS;
  }
  return s;
}

/* Rank 0 writes FILE_LINES lines over three files and an empty one in dir/in. */
static int make_small_inputs(const char *in) {
  if (mkdir(in, 0755) != 0) return -1;
  char path[600];
  const uint64_t first[4] = {0, 1000, 1000, 2500}, count[4] = {1000, 0, 1500, 500};
  for (int f = 0; f < 4; f++) {
    snprintf(path, sizeof path, "%s/f%d.txt", in, f);
    if (write_lines(path, first[f], count[f], FILE_KEYS, f == 3) != 0) return -1;
  }
  return 0;
}

/*
 * The memory checks, on every rank. The heap: mallinfo2().uordblks is the
 * bytes malloc has handed out and not had back, in the main arena, which the
 * library's calling thread uses. It is taken after the first cycle of ten
 * configurations, so that what is set up once (MPI's lazily made modules
 * and free lists) is already there, and again after the loop. Open MPI 4.1
 * itself keeps a little more for every communicator a nonblocking
 * collective ran on, until about a thousand jobs (three communicators each)
 * have run: over these 190 jobs that is 40 to 190 KiB a rank (a loop of the
 * same MPI calls alone shows it, and it levels off). HEAP_SLACK (384 KiB) is
 * above that, and below what a job that failed to free any one of its
 * buffers (round buffers, read buffer, tables: tens of KiB at the least)
 * would leave 190 times; smaller leaks are LeakSanitizer's to find. (Under
 * ASan, malloc is ASan's and mallinfo2() sees none of it.) The library's
 * own mappings of 2 MiB and more, which malloc does not see: their total is
 * the same after the loop as before it (none).
 */
static void test_many_jobs(void **state) {
  (void)state;
  char in[300], out[300], spill[300];
  snprintf(in, sizeof in, "%s/in", work_dir);
  snprintf(out, sizeof out, "%s/out", work_dir);
  snprintf(spill, sizeof spill, "%s/spill", work_dir);
  int made = test_rank() == 0 ? make_small_inputs(in) == 0 && mkdir(spill, 0755) == 0 : 1;
  assert_all(made);
  int descriptors = open_descriptors();
  size_t heap_after_warmup = 0, advised_before = advised_bytes();
  MPI_Comm world = MPI_COMM_WORLD;
  for (int j = 0; j < JOBS; j++) {
    if (j == CONFIGURATIONS) heap_after_warmup = heap_in_use();
    job_spec spec = spec_of(j);
    mpimr_job_stats stats;
    int rc = run_job(&spec, &world, 0, in, out, spill, &stats);
    if (rc != MPIMR_OK) fprintf(stderr, "rank %d: job %d failed: %s\n", test_rank(), j, mpimr_strerror(rc));
    assert_all(rc == MPIMR_OK);
    if (!check_job(&spec, out, test_size(), &stats))
      fail_msg("job %d (configuration %d) wrote the wrong output", j, j % CONFIGURATIONS);
    uint64_t runs = 0;
    MPI_Allreduce(&stats.spill_runs, &runs, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (spec.records == SPILL_INDICES) assert_all(runs > 0);
    assert_all(directory_is_empty(spill));
  }
  assert_all(same_descriptors(descriptors, "the jobs"));
  size_t heap = heap_in_use();
  if (heap > heap_after_warmup + HEAP_SLACK)
    fprintf(stderr, "rank %d: heap in use grew from %zu to %zu bytes over %d jobs\n", test_rank(),
            heap_after_warmup, heap, JOBS - CONFIGURATIONS);
  assert_all(heap <= heap_after_warmup + HEAP_SLACK);
  size_t advised = advised_bytes();
  if (advised != advised_before)
    fprintf(stderr, "rank %d: %zu bytes of huge-page mappings before the jobs, %zu after\n", test_rank(),
            advised_before, advised);
  assert_all(advised == advised_before);
}

/* ---- 2. jobs on two communicators --------------------------------------- */

static void test_two_communicators(void **state) {
  (void)state;
  int rank = test_rank(), size = test_size();
  char spill[300], out_a[300], out_b[300], out_world[300];
  snprintf(spill, sizeof spill, "%s/spill", work_dir);
  snprintf(out_a, sizeof out_a, "%s/a", work_dir);
  snprintf(out_b, sizeof out_b, "%s/b", work_dir);
  snprintf(out_world, sizeof out_world, "%s/world", work_dir);
  int made = rank == 0 ? mkdir(spill, 0755) == 0 : 1;
  assert_all(made);
  const job_spec a = {
      .input = INDICES, .records = 40000, .keys = 500, .combiner = SUM_COMBINER, .format = MPIMR_OUTPUT_TEXT};
  const job_spec b = {.input = INDICES,
                      .records = 30000,
                      .keys = 300,
                      .reduce = 1,
                      .format = MPIMR_OUTPUT_BINARY,
                      .order = MPIMR_KEY_ORDER_GLOBAL};
  const job_spec whole = {.input = INDICES, .records = 20000, .keys = 77, .format = MPIMR_OUTPUT_LINES};
  /* Ranks [0, size/2) are half a, the rest half b; at np 1 rank 0 runs both, one after the other. */
  int parts_a = size == 1 ? 1 : size / 2, parts_b = size == 1 ? 1 : size - size / 2;
  int rc_a = MPIMR_OK, rc_b = MPIMR_OK;
  mpimr_job_stats stats_a = {0}, stats_b = {0};
  MPI_Comm comm;
  if (size == 1) {
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    rc_a = run_job(&a, &comm, 1, NULL, out_a, spill, &stats_a);
    MPI_Comm_dup(MPI_COMM_SELF, &comm);
    rc_b = run_job(&b, &comm, 1, NULL, out_b, spill, &stats_b);
  } else {
    int in_a = rank < size / 2;
    MPI_Comm_split(MPI_COMM_WORLD, in_a ? 0 : 1, rank, &comm);
    if (in_a)
      rc_a = run_job(&a, &comm, 1, NULL, out_a, spill, &stats_a);
    else
      rc_b = run_job(&b, &comm, 1, NULL, out_b, spill, &stats_b);
  }
  assert_all(rc_a == MPIMR_OK && rc_b == MPIMR_OK);
  assert_all(check_job(&a, out_a, parts_a, &stats_a));
  assert_all(check_job(&b, out_b, parts_b, &stats_b));

  mpimr_job_stats stats;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  assert_all(run_job(&whole, &comm, 1, NULL, out_world, spill, &stats) == MPIMR_OK);
  assert_all(check_job(&whole, out_world, size, &stats));
  assert_all(directory_is_empty(spill));
}

/* ---- 3. ten thousand tiny files ----------------------------------------- */

/* Rank 0 writes TINY_FILES files of 1-3 lines (every fourth without a final '\n'); returns the lines. */
static uint64_t make_tiny_files(const char *in) {
  if (mkdir(in, 0755) != 0) return 0;
  char path[600];
  uint64_t line = 0;
  for (int f = 0; f < TINY_FILES; f++) {
    uint64_t lines = 1 + (uint64_t)f % 3;
    snprintf(path, sizeof path, "%s/t%05d.txt", in, f);
    if (write_lines(path, line, lines, TINY_KEYS, f % 4 == 0) != 0) return 0;
    line += lines;
  }
  return line;
}

static void test_ten_thousand_files(void **state) {
  (void)state;
  char in[300], out[300], spill[300];
  snprintf(in, sizeof in, "%s/in", work_dir);
  snprintf(out, sizeof out, "%s/out", work_dir);
  snprintf(spill, sizeof spill, "%s/spill", work_dir);
  uint64_t lines = 0;
  if (test_rank() == 0 && mkdir(spill, 0755) == 0) lines = make_tiny_files(in);
  MPI_Bcast(&lines, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  assert_all(lines > 0);
  int descriptors = open_descriptors();
  size_t advised = advised_bytes();
  const job_spec spec = {.input = FILE_RECORDS,
                         .records = lines,
                         .keys = TINY_KEYS,
                         .combiner = SUM_COMBINER,
                         .format = MPIMR_OUTPUT_TEXT};
  mpimr_job_stats stats;
  MPI_Comm world = MPI_COMM_WORLD;
  assert_all(run_job(&spec, &world, 0, in, out, spill, &stats) == MPIMR_OK);
  assert_all(check_job(&spec, out, test_size(), &stats));
  assert_all(same_descriptors(descriptors, "the job over 10,000 files"));
  assert_all(advised_bytes() == advised);
  assert_all(directory_is_empty(spill));
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_many_jobs, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_two_communicators, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_ten_thousand_files, setup_dir, teardown_dir),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
