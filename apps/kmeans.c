/*
 * apps/kmeans.c — mpimr-kmeans: k-means clustering (Lloyd's algorithm) across MPI ranks.
 *
 * The points stay in memory for the whole run: each rank holds its share in
 * an array, either read by a first job (range-partitioned by position in the
 * input, so rank 0 holds the first points, rank 1 the next, and so on) or
 * generated in place. Each iteration is then one job over the local points
 * (map_local): every point is emitted under its nearest centroid with its
 * coordinates and a count of one, a combiner adds them up, and the sums are
 * left in a dataset that is gathered to rank 0 and broadcast back, so that
 * every rank computes the same new centroids from the same bytes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "iter_cli.h"
#include "job_cli.h"
#include "mpimr/mpimr.h"

static const char *const PROGRAM = "mpimr-kmeans";

#define DEFAULT_MAX_ITERATIONS 100
#define DEFAULT_TOLERANCE 1e-9
#define DEFAULT_SEED 1
#define MAX_DIMS 65536
/* Centroids times dimensions at most: the centroid table (8 bytes each) stays below 512 MiB. */
#define MAX_CENTROID_VALUES ((uint64_t)1 << 26)
/* A point read from a file is keyed by its position: the file's number in the job's file list in
 * the top bits, the byte offset of its line in the low OFFSET_BITS bits. */
#define OFFSET_BITS 40
#define MAX_FILES ((uint64_t)1 << (64 - OFFSET_BITS))
/* The longest coordinate accepted as text (longer ones are malformed, not merely precise). */
#define NUMBER_TEXT_MAX 400
/* Generated centres are uniform in [0, CENTRE_RANGE) in every dimension. */
#define CENTRE_RANGE 100.0
#define TWO_PI 6.283185307179586

static void print_help(void) {
  printf(
      "NAME\n"
      "    mpimr-kmeans - k-means clustering (Lloyd's algorithm) with MapReduce over MPI\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P mpimr-kmeans -k K -o OUTDIR [OPTIONS] INPUT...\n"
      "    mpirun -np P mpimr-kmeans -k K -o OUTDIR [OPTIONS] --generate N [--dims D]\n"
      "                              [--clusters C] [--seed S]\n"
      "\n"
      "DESCRIPTION\n"
      "    Groups points into K clusters. Starting from the first K points as the\n"
      "    centroids, each iteration assigns every point to its nearest centroid\n"
      "    (squared Euclidean distance; a tie goes to the centroid with the lowest\n"
      "    number) and moves each centroid to the mean of its points. A centroid that\n"
      "    gets no points keeps its place. The run stops after the iteration in which\n"
      "    no centroid moved more than the tolerance, or no point changed cluster, or\n"
      "    after --max-iterations.\n"
      "\n"
      "    The INPUT files and directories (read recursively in name order, hidden\n"
      "    files skipped) hold one point per line: D decimal numbers separated by\n"
      "    spaces, TABs or a comma (with or without blanks around it), such as\n"
      "    '1.5 -2 3e4' or '1.5,-2,3e4'. Lines that are empty or blank, and lines\n"
      "    whose first non-blank character is '#', are skipped. D is the number of\n"
      "    coordinates of the first point (or --dims); a point with another number\n"
      "    of coordinates, or a coordinate that is not a finite decimal number, fails\n"
      "    the run naming the file and the byte offset of the line. The points are\n"
      "    numbered from 0 in input order: the files in the order they are listed,\n"
      "    the lines of a file in order; 'the first K points' are points 0..K-1\n"
      "    whichever number of ranks reads them.\n"
      "\n"
      "    With --generate N, no files are read: N points of D dimensions are made\n"
      "    in Gaussian blobs (standard deviation 1 in every dimension) around C\n"
      "    centres drawn uniformly from [0, 100) in every dimension. Point i belongs\n"
      "    to the blob chosen by a hash of (S, i), and every number drawn depends\n"
      "    only on S and the point's number, so the points are the same at every\n"
      "    rank count; each rank makes its own consecutive share of about N/P.\n"
      "\n"
      "    The points stay in memory; each iteration is one MapReduce job over each\n"
      "    rank's share, with a combiner that adds up coordinates and counts.\n"
      "\n"
      "OUTPUT\n"
      "    OUTDIR/part-00000 ... lines 'CLUSTER<TAB>x1 x2 ... xD', the cluster's\n"
      "    number (0..K-1) and its centroid, every coordinate in %%.17g (exact when\n"
      "    read back); each part is in cluster order and each cluster is in one part.\n"
      "    OUTDIR/_SUCCESS once every part is complete. With --assignments DIR,\n"
      "    DIR/part-* also hold lines 'POINT<TAB>CLUSTER': every point's number and\n"
      "    the cluster of the nearest final centroid.\n"
      "    Unless -q, rank 0 prints the number of iterations and the largest centroid\n"
      "    movement of the last one on stderr.\n"
      "\n"
      "OPTIONS\n"
      "    -k K                      number of clusters (required; 1 or more, and no\n"
      "                              more than the number of points)\n"
      "    -o, --output DIR          output directory for the centroids (required)\n"
      "    -f, --overwrite           replace the results in an existing DIR (and in\n"
      "                              the --assignments directory)\n"
      "        --assignments DIR     also write each point's cluster to DIR\n"
      "        --max-iterations N    stop after N iterations (default 100; 1..1e9);\n"
      "                              the centroids are written and a note printed\n"
      "        --tolerance T         converged when no centroid moved more than T\n"
      "                              (Euclidean distance; default 1e-9; 0 or more)\n"
      "        --dims D              the number of coordinates of a point (1..65536):\n"
      "                              checked on every input line, or what --generate\n"
      "                              makes (default 2)\n"
      "        --generate N          make N points instead of reading INPUTs (1..2^40)\n"
      "        --clusters C          --generate: the number of blobs (default K)\n"
      "        --seed S              --generate: the seed (default 1; any 64-bit value)\n"
      "%s"
      "    -q, --quiet               do not print the summary\n"
      "    -v, --verbose             report settings, core binding and every iteration\n"
      "    -h, --help                show this text\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success (converged or not), 1 if a job or the input failed (the rank\n"
      "    that failed prints the cause), 64 for a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 4 mpimr-kmeans -k 5 -o centroids --generate 1000000 --dims 3\n"
      "    mpirun -np 2 mpimr-kmeans -k 3 -o centroids --assignments clusters points/\n"
      "    cat centroids/part-* | sort -n\n",
      ITER_CLI_TUNING_HELP);
}

/* What the options ask for. */
typedef struct options {
  job_cli cli; /* tuning, -o, -f, -q, -v */
  uint64_t k;
  int k_given;
  int max_iterations;
  double tolerance;
  int dims; /* 0: from the first point */
  const char *assignments_dir;
  uint64_t generate; /* 0: read INPUTs */
  uint64_t blobs;    /* 0: K */
  uint64_t seed;
  int blobs_given, seed_given;
} options;

/* The state every callback sees: the points, the centroids, and scratch space. */
typedef struct kmeans {
  size_t dims;
  uint64_t k;
  double *points; /* local_count * dims coordinates */
  uint64_t local_count;
  uint64_t first_index; /* the number of this rank's first point */
  uint64_t *assignment; /* the cluster of each local point in the last iteration (UINT64_MAX: none yet) */
  double *centroids;    /* k * dims */
  uint64_t changed;     /* local points that changed cluster in this iteration */
  int jobs;             /* jobs configured so far */
  /* Reading files. */
  int dims_checked; /* --dims given: map checks every line */
  double *line_values;
  size_t line_capacity;
  unsigned char *value; /* an encoded value being emitted */
  size_t value_capacity;
  char **paths; /* by file number, the files this rank's map has read from (to name them later) */
  uint64_t path_slots;
  mpimr_pin_report pinning; /* the first job's binding, which the later ones reuse */
} kmeans;

static void kmeans_free(kmeans *km) {
  free(km->points);
  free(km->assignment);
  free(km->centroids);
  free(km->line_values);
  free(km->value);
  for (uint64_t i = 0; i < km->path_slots; i++) free(km->paths[i]);
  free(km->paths);
}

/* Makes km->value hold at least `bytes`. Returns 0 or -1. */
static int reserve_value(kmeans *km, size_t bytes) {
  if (bytes <= km->value_capacity) return 0;
  unsigned char *grown = realloc(km->value, bytes);
  if (grown == NULL) return -1;
  km->value = grown;
  km->value_capacity = bytes;
  return 0;
}

/* ---- Reading points ---- */

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* 1 if text[0, length) is a decimal number: [+-] digits [. digits] or [+-] . digits, then an
 * optional exponent [eE] [+-] digits. (strtod alone would also take hex, inf and nan.) */
static int is_decimal(const char *text, size_t length) {
  size_t at = 0, digits = 0;
  if (at < length && (text[at] == '+' || text[at] == '-')) at++;
  while (at < length && is_digit(text[at])) at++, digits++;
  if (at < length && text[at] == '.') {
    at++;
    while (at < length && is_digit(text[at])) at++, digits++;
  }
  if (digits == 0) return 0;
  if (at < length && (text[at] == 'e' || text[at] == 'E')) {
    at++;
    if (at < length && (text[at] == '+' || text[at] == '-')) at++;
    size_t exponent_digits = 0;
    while (at < length && is_digit(text[at])) at++, exponent_digits++;
    if (exponent_digits == 0) return 0;
  }
  return at == length;
}

/* Copies at most 40 bytes of text into `shown`, printable ASCII kept and anything else as '?'. */
static void show_text(const char *text, size_t length, char shown[48]) {
  size_t n = length < 40 ? length : 40;
  for (size_t i = 0; i < n; i++) shown[i] = text[i] >= ' ' && text[i] <= '~' ? text[i] : '?';
  strcpy(shown + n, length > 40 ? "..." : "");
}

/* Appends one coordinate to km->line_values. Returns 0, or fails the job. */
static int add_coordinate(kmeans *km, const char *token, size_t length, size_t *count, mpimr_emitter *out) {
  char shown[48];
  show_text(token, length, shown);
  if (length > NUMBER_TEXT_MAX || !is_decimal(token, length))
    return mpimr_fail(out, "'%s' is not a decimal number", shown);
  char text[NUMBER_TEXT_MAX + 1];
  memcpy(text, token, length);
  text[length] = '\0';
  double v = strtod(text, NULL);
  if (!isfinite(v)) return mpimr_fail(out, "'%s' is out of range for a double", shown);
  if (*count == MAX_DIMS) return mpimr_fail(out, "a point with more than %d coordinates", MAX_DIMS);
  if (*count == km->line_capacity) {
    size_t capacity = km->line_capacity ? km->line_capacity * 2 : 16;
    double *grown = realloc(km->line_values, capacity * sizeof *grown);
    if (grown == NULL) return mpimr_fail(out, "out of memory for a point's coordinates");
    km->line_values = grown;
    km->line_capacity = capacity;
  }
  km->line_values[(*count)++] = v;
  return 0;
}

/*
 * Parses a line into km->line_values and sets `*count` (0 for a line to skip). Coordinates are
 * separated by a run of blanks with at most one comma in it. Returns 0, or fails the job.
 */
static int parse_point(kmeans *km, const char *line, size_t length, size_t *count, mpimr_emitter *out) {
  size_t at = 0;
  *count = 0;
  while (at < length && is_blank(line[at])) at++;
  if (at == length || line[at] == '#') return 0;
  for (;;) {
    if (line[at] == ',') return mpimr_fail(out, "an empty coordinate before a comma");
    size_t start = at;
    while (at < length && !is_blank(line[at]) && line[at] != ',') at++;
    int rc = add_coordinate(km, line + start, at - start, count, out);
    if (rc != 0) return rc;
    while (at < length && is_blank(line[at])) at++;
    if (at < length && line[at] == ',') {
      at++;
      while (at < length && is_blank(line[at])) at++;
      if (at == length) return mpimr_fail(out, "a comma at the end of the line");
    }
    if (at == length) return 0;
  }
}

/* Remembers the path of file `index` so that a later check can name it. Returns 0 or -1. */
static int remember_path(kmeans *km, uint64_t index, const char *path) {
  if (index >= km->path_slots) {
    uint64_t slots = km->path_slots ? km->path_slots * 2 : 64;
    if (slots <= index) slots = index + 1;
    char **grown = realloc(km->paths, slots * sizeof *grown);
    if (grown == NULL) return -1;
    memset(grown + km->path_slots, 0, (slots - km->path_slots) * sizeof *grown);
    km->paths = grown;
    km->path_slots = slots;
  }
  if (km->paths[index] == NULL && (km->paths[index] = strdup(path)) == NULL) return -1;
  return 0;
}

static void put_u64_be(unsigned char *out, uint64_t v) {
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t get_u64_be(const unsigned char *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | in[i];
  return v;
}

/*
 * The first job's map function: one point per line, keyed by its position in the input as a
 * big-endian number (so that bytewise key order is input order and the range-partitioned job
 * leaves the first points on rank 0), with its coordinates as the value.
 */
static int map_line(void *user, const void *record, size_t length, mpimr_emitter *out) {
  kmeans *km = user;
  size_t count;
  int rc = parse_point(km, record, length, &count, out);
  if (rc != 0 || count == 0) return rc;
  if (km->dims_checked && count != km->dims)
    return mpimr_fail(out, "a point with %zu coordinates, not %zu (--dims)", count, km->dims);
  mpimr_record_origin origin;
  rc = mpimr_map_origin(out, &origin);
  if (rc != MPIMR_OK) return rc;
  if (origin.file_index >= MAX_FILES) return mpimr_fail(out, "more than %" PRIu64 " input files", MAX_FILES);
  if (origin.offset >> OFFSET_BITS) return mpimr_fail(out, "a point beyond the first 1 TiB of a file");
  if (remember_path(km, origin.file_index, origin.path) != 0) return mpimr_fail(out, "out of memory");
  unsigned char key[8];
  put_u64_be(key, ((uint64_t)origin.file_index << OFFSET_BITS) | origin.offset);
  if (reserve_value(km, count * 8) != 0) return mpimr_fail(out, "out of memory for a point");
  for (size_t j = 0; j < count; j++) mpimr_put_f64(km->value + 8 * j, km->line_values[j]);
  return mpimr_emit(out, key, sizeof key, km->value, count * 8);
}

/* The number of every rank's first point, from the local counts. */
static uint64_t first_index_of_rank(uint64_t local_count, int rank) {
  uint64_t before = 0;
  MPI_Exscan(&local_count, &before, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  return rank == 0 ? 0 : before;
}

/*
 * The configuration of the next job: the options' tuning, no input and no output yet. Only the
 * first job binds the rank to a core (as --pin says) and reports with -v: the binding stays, and
 * doing it again for every step would cost each step a topology scan.
 */
static mpimr_job_config job_config(const options *o, kmeans *km) {
  mpimr_job_config config = o->cli.job;
  config.user = km;
  config.output_dir = NULL;
  config.overwrite = 0;
  if (km->jobs++ > 0) {
    config.pin = MPIMR_PIN_NONE;
    config.verbose = 0;
  }
  return config;
}

/*
 * After the first point of any file fixed the number of dimensions: finds the first point, in
 * input order, with another number, and has a rank that read its file name it. Returns 0 if
 * there is none (on every rank), 1 if there is.
 */
static int report_bad_dims(kmeans *km, const mpimr_dataset *data, int rank, int nranks) {
  uint64_t bad_key = UINT64_MAX, bad_count = 0;
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *key, *value;
  size_t key_len, value_len;
  while (mpimr_dataset_next(data, &at, &key, &key_len, &value, &value_len))
    if (value_len != km->dims * 8) {
      bad_key = get_u64_be(key);
      bad_count = value_len / 8;
      break;
    }
  uint64_t first_bad;
  MPI_Allreduce(&bad_key, &first_bad, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  if (first_bad == UINT64_MAX) return 0;
  uint64_t mine = bad_key == first_bad ? bad_count : 0, count;
  MPI_Allreduce(&mine, &count, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  uint64_t file = first_bad >> OFFSET_BITS;
  int knows = file < km->path_slots && km->paths[file] != NULL ? rank : nranks, teller;
  MPI_Allreduce(&knows, &teller, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (rank == teller || (teller == nranks && rank == 0))
    fprintf(stderr,
            "%s: input '%s' at byte %" PRIu64 ": a point with %" PRIu64
            " coordinates, but the first point has %zu\n",
            PROGRAM, teller == nranks ? "?" : km->paths[file], first_bad & (((uint64_t)1 << OFFSET_BITS) - 1),
            count, km->dims);
  return 1;
}

/* Reads the points of the INPUTs into km->points with a first job. Returns 0, or 1 (reported). */
static int read_points(const options *o, kmeans *km, int rank, int nranks) {
  mpimr_dataset *data = NULL;
  if (!iter_cli_all_ok(mpimr_dataset_create(&data) == MPIMR_OK)) {
    if (rank == 0) fprintf(stderr, "%s: out of memory\n", PROGRAM);
    mpimr_dataset_free(data);
    return 1;
  }
  mpimr_job_config config = job_config(o, km);
  config.map_record = map_line;
  config.inputs = o->cli.job.inputs;
  config.input_count = o->cli.job.input_count;
  config.key_order = MPIMR_KEY_ORDER_GLOBAL; /* rank r holds points before rank r+1's */
  config.output_dataset = data;
  km->dims = (size_t)o->dims;
  km->dims_checked = o->dims != 0;
  if (job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &km->pinning) != MPIMR_OK) {
    mpimr_dataset_free(data);
    return 1;
  }
  /* The number of dimensions: --dims, or that of the first point of the first rank that has any. */
  uint64_t count = mpimr_dataset_local_count(data);
  int first_dims = 0;
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *key, *value;
  size_t key_len, value_len;
  if (mpimr_dataset_next(data, &at, &key, &key_len, &value, &value_len)) first_dims = (int)(value_len / 8);
  int *all_dims = malloc(sizeof(int) * (size_t)nranks);
  if (!iter_cli_all_ok(all_dims != NULL) || all_dims == NULL) {
    if (rank == 0) fprintf(stderr, "%s: out of memory\n", PROGRAM);
    free(all_dims);
    mpimr_dataset_free(data);
    return 1;
  }
  MPI_Allgather(&first_dims, 1, MPI_INT, all_dims, 1, MPI_INT, MPI_COMM_WORLD);
  for (int r = 0; r < nranks && km->dims == 0; r++) km->dims = (size_t)all_dims[r];
  free(all_dims);
  if (km->dims == 0) {
    if (rank == 0) fprintf(stderr, "%s: no points in the input\n", PROGRAM);
    mpimr_dataset_free(data);
    return 1;
  }
  if (!km->dims_checked && report_bad_dims(km, data, rank, nranks)) {
    mpimr_dataset_free(data);
    return 1;
  }
  km->local_count = count;
  km->points = malloc(count * km->dims * sizeof(double) + 1);
  if (!iter_cli_all_ok(km->points != NULL) || km->points == NULL) {
    if (km->points == NULL)
      fprintf(stderr, "%s: rank %d: out of memory for %" PRIu64 " points\n", PROGRAM, rank, count);
    mpimr_dataset_free(data);
    return 1;
  }
  at = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
  for (uint64_t i = 0; mpimr_dataset_next(data, &at, &key, &key_len, &value, &value_len); i++)
    for (size_t j = 0; j < km->dims; j++)
      km->points[i * km->dims + j] = mpimr_get_f64((const unsigned char *)value + 8 * j);
  mpimr_dataset_free(data);
  km->first_index = first_index_of_rank(count, rank);
  return 0;
}

/* ---- Generating points ---- */

/* The finaliser of splitmix64: a bijection on 64 bits that mixes every bit into every bit. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The number drawn for `index` of `stream` (0: centres, 1: blob choice, 2: offsets) by `seed`. */
static uint64_t draw(uint64_t seed, uint64_t stream, uint64_t index) {
  return mix64(mix64(seed + 0x9e3779b97f4a7c15ull * (stream + 1)) + index);
}

/* A uniform double in [0, 1) from 53 bits of a draw. */
static double unit(uint64_t bits) { return (double)(bits >> 11) * 0x1p-53; }

/* Makes this rank's share of the --generate points. Returns 0, or 1 (reported). */
static int generate_points(const options *o, kmeans *km, int rank, int nranks) {
  uint64_t n = o->generate, blobs = o->blobs ? o->blobs : o->k, seed = o->seed;
  size_t dims = (size_t)(o->dims ? o->dims : 2);
  uint64_t base = n / (uint64_t)nranks, extra = n % (uint64_t)nranks, r = (uint64_t)rank;
  km->dims = dims;
  km->first_index = r * base + (r < extra ? r : extra);
  km->local_count = base + (r < extra);
  km->points = malloc(km->local_count * dims * sizeof(double) + 1);
  double *centres = blobs * dims <= MAX_CENTROID_VALUES ? malloc(blobs * dims * sizeof(double)) : NULL;
  if (!iter_cli_all_ok(km->points != NULL && centres != NULL) || km->points == NULL || centres == NULL) {
    if (rank == 0) fprintf(stderr, "%s: out of memory for the points or the blob centres\n", PROGRAM);
    free(centres);
    return 1;
  }
  for (uint64_t i = 0; i < blobs * dims; i++) centres[i] = CENTRE_RANGE * unit(draw(seed, 0, i));
  for (uint64_t i = 0; i < km->local_count; i++) {
    uint64_t point = km->first_index + i;
    const double *centre = centres + (draw(seed, 1, point) % blobs) * dims;
    for (size_t j = 0; j < dims; j++) {
      /* Box-Muller: u1 in (0, 1] so that its logarithm is finite. */
      uint64_t pair = 2 * (point * dims + j);
      double u1 = 1.0 - unit(draw(seed, 2, pair)), u2 = unit(draw(seed, 2, pair + 1));
      km->points[i * dims + j] = centre[j] + sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
    }
  }
  free(centres);
  return 0;
}

/* ---- Iterating ---- */

/* The centroid nearest to `point`: the lowest-numbered one among equally near ones. */
static uint64_t nearest(const kmeans *km, const double *point) {
  uint64_t best = 0;
  double best_distance = 0;
  for (uint64_t c = 0; c < km->k; c++) {
    const double *centroid = km->centroids + c * km->dims;
    double distance = 0;
    for (size_t j = 0; j < km->dims; j++) {
      double d = point[j] - centroid[j];
      distance += d * d;
    }
    if (c == 0 || distance < best_distance) {
      best = c;
      best_distance = distance;
    }
  }
  return best;
}

/* An iteration's map function: the point under its nearest centroid, with its coordinates and a count of one.
 */
static int map_assign(void *user, uint64_t index, mpimr_emitter *out) {
  kmeans *km = user;
  const double *point = km->points + index * km->dims;
  uint64_t cluster = nearest(km, point);
  if (km->assignment[index] != cluster) {
    km->assignment[index] = cluster;
    km->changed++;
  }
  unsigned char key[8];
  mpimr_put_u64(key, cluster);
  for (size_t j = 0; j < km->dims; j++) mpimr_put_f64(km->value + 8 * j, point[j]);
  mpimr_put_u64(km->value + 8 * km->dims, 1);
  return mpimr_emit(out, key, sizeof key, km->value, 8 * (km->dims + 1));
}

/* The combiner: adds coordinate sums and counts of one cluster ([sum x1 ... sum xD, count]). */
static long long combine_sums(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                              size_t acc_cap, const void *in, size_t in_len) {
  const kmeans *km = user;
  (void)key, (void)key_len, (void)acc_cap;
  if (acc_len != in_len || acc_len != 8 * (km->dims + 1)) return -1;
  unsigned char *sums = acc;
  const unsigned char *more = in;
  for (size_t j = 0; j < km->dims; j++)
    mpimr_put_f64(sums + 8 * j, mpimr_get_f64(sums + 8 * j) + mpimr_get_f64(more + 8 * j));
  size_t at = 8 * km->dims;
  mpimr_put_u64(sums + at, mpimr_get_u64(sums + at) + mpimr_get_u64(more + at));
  return (long long)acc_len;
}

/*
 * Moves the centroids to the means of the sums every rank now holds, and sets `*movement` to the
 * largest distance one moved. Clusters without sums (no points) stay. Returns 0 or -1 for sums
 * that do not decode (which would be a bug).
 */
static int move_centroids(kmeans *km, const mpimr_dataset *sums, double *movement) {
  *movement = 0;
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *key, *value;
  size_t key_len, value_len;
  while (mpimr_dataset_next(sums, &at, &key, &key_len, &value, &value_len)) {
    if (key_len != 8 || value_len != 8 * (km->dims + 1)) return -1;
    uint64_t cluster = mpimr_get_u64(key);
    const unsigned char *v = value;
    uint64_t count = mpimr_get_u64(v + 8 * km->dims);
    if (cluster >= km->k) return -1;
    if (count == 0) continue;
    double *centroid = km->centroids + cluster * km->dims, moved = 0;
    for (size_t j = 0; j < km->dims; j++) {
      double mean = mpimr_get_f64(v + 8 * j) / (double)count, d = mean - centroid[j];
      moved += d * d;
      centroid[j] = mean;
    }
    moved = sqrt(moved);
    if (moved > *movement) *movement = moved;
  }
  return 0;
}

/* One iteration: the job, then the sums on every rank, then the new centroids. Returns 0 or 1 (reported). */
static int iterate(const options *o, kmeans *km, mpimr_dataset *sums, double *movement, uint64_t *changed) {
  mpimr_job_config config = job_config(o, km);
  config.map_local = map_assign;
  config.local_count = km->local_count;
  config.combine = combine_sums;
  config.output_dataset = sums;
  km->changed = 0;
  if (job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &km->pinning) != MPIMR_OK) return 1;
  int rc = mpimr_dataset_gather(sums, MPI_COMM_WORLD, 0);
  if (rc == MPIMR_OK) rc = mpimr_dataset_broadcast(sums, MPI_COMM_WORLD, 0);
  if (rc != MPIMR_OK) {
    fprintf(stderr, "%s: gathering the cluster sums: %s\n", PROGRAM, mpimr_strerror(rc));
    return 1;
  }
  MPI_Allreduce(&km->changed, changed, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  if (move_centroids(km, sums, movement) != 0) {
    fprintf(stderr, "%s: internal error: malformed cluster sums\n", PROGRAM);
    return 1;
  }
  return 0;
}

/* The first K points (points 0..K-1, wherever they are) as the centroids, on every rank. Returns 0
 * or 1 (reported). */
static int initial_centroids(kmeans *km, int rank, int nranks) {
  uint64_t mine = 0;
  if (km->first_index < km->k) {
    mine = km->k - km->first_index;
    if (mine > km->local_count) mine = km->local_count;
  }
  int values = (int)(mine * km->dims); /* at most MAX_CENTROID_VALUES */
  int *counts = malloc(sizeof(int) * 2 * (size_t)nranks);
  if (!iter_cli_all_ok(counts != NULL) || counts == NULL) {
    if (rank == 0) fprintf(stderr, "%s: out of memory\n", PROGRAM);
    free(counts);
    return 1;
  }
  int *displacements = counts + nranks;
  MPI_Allgather(&values, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < nranks; r++) {
    displacements[r] = total;
    total += counts[r];
  }
  MPI_Allgatherv(km->points, values, MPI_DOUBLE, km->centroids, counts, displacements, MPI_DOUBLE,
                 MPI_COMM_WORLD);
  free(counts);
  return 0;
}

/* ---- Output ---- */

/* Formats a centroid's coordinates as %.17g numbers separated by spaces. */
static long long format_coordinates(void *user, const void *value, size_t value_len, char *buf, size_t cap) {
  (void)user;
  size_t length = 0;
  for (size_t j = 0; j < value_len / 8; j++) {
    char number[40];
    int n = snprintf(number, sizeof number, "%s%.17g", j ? " " : "",
                     mpimr_get_f64((const unsigned char *)value + 8 * j));
    if (length + (size_t)n <= cap) memcpy(buf + length, number, (size_t)n);
    length += (size_t)n;
  }
  return (long long)length;
}

/* The centroid output's map function: centroid `index` under its number in decimal. */
static int map_centroid(void *user, uint64_t index, mpimr_emitter *out) {
  kmeans *km = user;
  char key[21];
  size_t key_len = iter_cli_decimal(key, index);
  for (size_t j = 0; j < km->dims; j++) mpimr_put_f64(km->value + 8 * j, km->centroids[index * km->dims + j]);
  return mpimr_emit(out, key, key_len, km->value, 8 * km->dims);
}

/* The assignment output's map function: a point's number and the cluster of its nearest centroid. */
static int map_point_cluster(void *user, uint64_t index, mpimr_emitter *out) {
  kmeans *km = user;
  char key[21];
  size_t key_len = iter_cli_decimal(key, km->first_index + index);
  unsigned char cluster[8];
  mpimr_put_u64(cluster, nearest(km, km->points + index * km->dims));
  return mpimr_emit(out, key, key_len, cluster, sizeof cluster);
}

/* Writes the centroids to -o DIR (rank 0 maps them all: there are few) and, if asked, the assignments. */
static int write_results(const options *o, kmeans *km, int rank) {
  mpimr_job_config config = job_config(o, km);
  config.map_local = map_centroid;
  config.local_count = rank == 0 ? km->k : 0;
  config.compare_keys = iter_cli_compare_decimal;
  config.format_value = format_coordinates;
  config.output_dir = o->cli.job.output_dir;
  config.overwrite = o->cli.job.overwrite;
  if (job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &km->pinning) != MPIMR_OK) return 1;
  if (o->assignments_dir == NULL) return 0;
  config = job_config(o, km);
  config.map_local = map_point_cluster;
  config.local_count = km->local_count;
  config.compare_keys = iter_cli_compare_decimal;
  config.format_value = mpimr_format_u64;
  config.output_dir = o->assignments_dir;
  config.overwrite = o->cli.job.overwrite;
  return job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &km->pinning) == MPIMR_OK ? 0 : 1;
}

/* The whole run after the options: points, iterations, results. Returns the exit status. */
static int run_kmeans(const options *o, kmeans *km, int rank, int nranks) {
  if (iter_cli_check_output(o->cli.job.output_dir, o->cli.job.overwrite, rank, PROGRAM) != 0 ||
      iter_cli_check_output(o->assignments_dir, o->cli.job.overwrite, rank, PROGRAM) != 0)
    return 1;
  km->k = o->k;
  int status = o->generate ? generate_points(o, km, rank, nranks) : read_points(o, km, rank, nranks);
  if (status != 0) return status;
  uint64_t total;
  MPI_Allreduce(&km->local_count, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  if (total < km->k) {
    if (rank == 0)
      fprintf(stderr, "%s: only %" PRIu64 " points, fewer than -k %" PRIu64 "\n", PROGRAM, total, km->k);
    return 1;
  }
  if (km->k * km->dims > MAX_CENTROID_VALUES) {
    if (rank == 0)
      fprintf(stderr,
              "%s: -k %" PRIu64 " centroids of %zu dimensions are too many (at most %" PRIu64 " numbers)\n",
              PROGRAM, km->k, km->dims, MAX_CENTROID_VALUES);
    return 1;
  }
  km->centroids = malloc(km->k * km->dims * sizeof(double));
  km->assignment = malloc(km->local_count * sizeof(uint64_t) + 1);
  mpimr_dataset *sums = NULL;
  int created = mpimr_dataset_create(&sums) == MPIMR_OK;
  int ready = km->centroids != NULL && km->assignment != NULL && created &&
              reserve_value(km, 8 * (km->dims + 1)) == 0;
  if (!iter_cli_all_ok(ready) || km->centroids == NULL || km->assignment == NULL) {
    if (rank == 0) fprintf(stderr, "%s: out of memory for the centroids or the assignments\n", PROGRAM);
    mpimr_dataset_free(sums);
    return 1;
  }
  for (uint64_t i = 0; i < km->local_count; i++) km->assignment[i] = UINT64_MAX;
  if (initial_centroids(km, rank, nranks) != 0) {
    mpimr_dataset_free(sums);
    return 1;
  }

  int iterations = 0, converged = 0;
  double movement = 0;
  while (!converged && iterations < o->max_iterations) {
    uint64_t changed;
    if (iterate(o, km, sums, &movement, &changed) != 0) {
      mpimr_dataset_free(sums);
      return 1;
    }
    iterations++;
    converged = movement <= o->tolerance || changed == 0;
    if (o->cli.job.verbose && rank == 0)
      fprintf(stderr,
              "%s: iteration %d: %" PRIu64 " points changed cluster, largest centroid movement %.17g\n",
              PROGRAM, iterations, changed, movement);
  }
  mpimr_dataset_free(sums);
  if (write_results(o, km, rank) != 0) return 1;
  if (rank == 0 && !converged)
    fprintf(stderr,
            "%s: not converged after %d iterations (largest centroid movement %.17g); the last "
            "centroids are written\n",
            PROGRAM, iterations, movement);
  else if (rank == 0 && !o->cli.quiet)
    fprintf(stderr,
            "%s: %" PRIu64 " points of %zu dimensions, %" PRIu64
            " clusters: converged after %d "
            "iterations (largest centroid movement %.17g)\n",
            PROGRAM, total, km->dims, km->k, iterations, movement);
  return 0;
}

/* ---- Options ---- */

enum option_ids {
  OPT_ASSIGNMENTS = 256,
  OPT_MAX_ITERATIONS,
  OPT_TOLERANCE,
  OPT_DIMS,
  OPT_GENERATE,
  OPT_CLUSTERS,
  OPT_SEED
};

/* Applies one of this program's own options. Returns 0, or CLI_EXIT_USAGE after reporting. */
static int apply_option(options *o, int option, const char *value, int rank) {
  switch (option) {
    case 'k':
      o->k_given = 1;
      if (cli_parse_u64(value, 1, (uint64_t)1 << 40, &o->k) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "-k must be an integer from 1 to 2^40, not '%s'", value);
      return CLI_EXIT_USAGE;
    case OPT_ASSIGNMENTS:
      if (value[0] != '\0') {
        o->assignments_dir = value;
        return 0;
      }
      cli_usage_error(rank, PROGRAM, "--assignments must name a directory");
      return CLI_EXIT_USAGE;
    case OPT_MAX_ITERATIONS:
      if (cli_parse_int(value, 1, 1000000000, &o->max_iterations) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--max-iterations must be an integer from 1 to 1000000000, not '%s'",
                      value);
      return CLI_EXIT_USAGE;
    case OPT_TOLERANCE:
      if (cli_parse_double(value, 0, HUGE_VAL, &o->tolerance) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--tolerance must be a number of 0 or more, not '%s'", value);
      return CLI_EXIT_USAGE;
    case OPT_DIMS:
      if (cli_parse_int(value, 1, MAX_DIMS, &o->dims) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--dims must be an integer from 1 to %d, not '%s'", MAX_DIMS, value);
      return CLI_EXIT_USAGE;
    case OPT_GENERATE:
      if (cli_parse_u64(value, 1, (uint64_t)1 << 40, &o->generate) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--generate must be an integer from 1 to 2^40, not '%s'", value);
      return CLI_EXIT_USAGE;
    case OPT_CLUSTERS:
      o->blobs_given = 1;
      if (cli_parse_u64(value, 1, (uint64_t)1 << 40, &o->blobs) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--clusters must be an integer from 1 to 2^40, not '%s'", value);
      return CLI_EXIT_USAGE;
    case OPT_SEED:
      o->seed_given = 1;
      if (cli_parse_u64(value, 0, UINT64_MAX, &o->seed) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--seed must be an integer from 0 to 2^64-1, not '%s'", value);
      return CLI_EXIT_USAGE;
    default: return -1; /* not one of ours */
  }
}

/* Returns 0, or CLI_EXIT_USAGE after reporting the problem on rank 0. */
static int parse_options(int argc, char **argv, int rank, options *o) {
  static const struct option long_options[] = {
      JOB_CLI_COMMON_LONG_OPTIONS,
      {"assignments", required_argument, NULL, OPT_ASSIGNMENTS},
      {"max-iterations", required_argument, NULL, OPT_MAX_ITERATIONS},
      {"tolerance", required_argument, NULL, OPT_TOLERANCE},
      {"dims", required_argument, NULL, OPT_DIMS},
      {"generate", required_argument, NULL, OPT_GENERATE},
      {"clusters", required_argument, NULL, OPT_CLUSTERS},
      {"seed", required_argument, NULL, OPT_SEED},
      JOB_CLI_TUNING_LONG_OPTIONS,
      {NULL, 0, NULL, 0}};
  mpimr_job_config_init(&o->cli.job);
  o->max_iterations = DEFAULT_MAX_ITERATIONS;
  o->tolerance = DEFAULT_TOLERANCE;
  o->seed = DEFAULT_SEED;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, JOB_CLI_SHORT_OPTIONS "k:", long_options, NULL)) != -1) {
    int status = apply_option(o, c, optarg, rank);
    if (status < 0) status = job_cli_option(&o->cli, c, optarg, argv, rank, PROGRAM);
    if (status != 0 || o->cli.help) return status;
  }
  o->cli.job.inputs = (const char *const *)(argv + optind);
  o->cli.job.input_count = argc - optind;
  const char *problem = NULL;
  if (!o->k_given)
    problem = "-k K is required";
  else if (o->cli.job.output_dir == NULL)
    problem = "-o OUTDIR is required";
  else if (o->generate && o->cli.job.input_count > 0)
    problem = "--generate makes the points: give no INPUT files";
  else if (!o->generate && o->cli.job.input_count == 0)
    problem = "no INPUT files or directories given (or --generate N)";
  else if (!o->generate && (o->blobs_given || o->seed_given))
    problem = "--clusters and --seed go with --generate";
  else if (o->assignments_dir != NULL && strcmp(o->assignments_dir, o->cli.job.output_dir) == 0)
    problem = "--assignments needs a directory of its own, not -o's";
  if (problem == NULL) return 0;
  cli_usage_error(rank, PROGRAM, "%s", problem);
  return CLI_EXIT_USAGE;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  mpimr_signals_catch(); /* SIGINT and SIGTERM fail the running job cleanly (mpimr/signals.h) */
  int rank, nranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  options o;
  memset(&o, 0, sizeof o);
  int status = parse_options(argc, argv, rank, &o);
  if (status == 0 && o.cli.help) {
    if (rank == 0) print_help();
  } else if (status == 0) {
    kmeans km;
    memset(&km, 0, sizeof km);
    status = run_kmeans(&o, &km, rank, nranks);
    kmeans_free(&km);
  }
  MPI_Finalize();
  return status;
}
