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
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cli.h"
#include "decimal.h"
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
/* An iteration's map work per map_local index: about this many coordinate differences (about a
 * millisecond), in chunks of at most CHUNK_POINTS_MAX points. */
#define CHUNK_WORK ((uint64_t)1 << 21)
#define CHUNK_POINTS_MAX 65536

static void print_help(void) {
  printf(
      "NAME\n"
      "    mpimr-kmeans - k-means clustering (Lloyd's algorithm) with MapReduce over MPI\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P mpimr-kmeans -k K -o OUTDIR [OPTIONS] INPUT...\n"
      "    mpirun -np P mpimr-kmeans --init-centroids FILE -o OUTDIR [OPTIONS] INPUT...\n"
      "    mpirun -np P mpimr-kmeans -k K -o OUTDIR [OPTIONS] --generate N [--dims D]\n"
      "                              [--clusters C] [--seed S]\n"
      "\n"
      "DESCRIPTION\n"
      "    Groups points into K clusters. Starting from K initial centroids (--init),\n"
      "    each iteration assigns every point to its nearest centroid\n"
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
      "    CSV files: --skip-header N leaves out the first N lines of every input file\n"
      "    (whatever they hold, even when a file is split across ranks), and --columns\n"
      "    LIST takes only the listed fields of a line as the coordinates, in field\n"
      "    order, so that a label or an id column is dropped; the other fields may\n"
      "    hold anything, even nothing. Fields are separated as above.\n"
      "\n"
      "    With --generate N, no files are read: N points of D dimensions are made\n"
      "    in Gaussian blobs (standard deviation 1 in every dimension) around C\n"
      "    centres drawn uniformly from [0, 100) in every dimension. Point i belongs\n"
      "    to the blob chosen by a hash of (S, i), and every number drawn depends\n"
      "    only on S and the point's number, so the points are the same at every\n"
      "    rank count; each rank makes its own consecutive share of about N/P.\n"
      "\n"
      "    The points stay in memory; each iteration is one MapReduce job over each\n"
      "    rank's share, in chunks of points: a chunk finds every point's nearest\n"
      "    centroid (the exact sum of squared differences, several centroids per pass\n"
      "    in vector registers) and emits one pair of coordinate sums and a count per\n"
      "    cluster, which a combiner adds up.\n"
      "\n"
      "INITIALISATION\n"
      "    first       the first K points (the default).\n"
      "    random      K distinct points, every set of K equally likely, drawn with\n"
      "                --seed; cluster c starts at the c-th of them in input order.\n"
      "    kmeans++    k-means++ seeding (Arthur and Vassilvitskii) with --seed: a\n"
      "                first point drawn uniformly, then each next one drawn with\n"
      "                probability proportional to its squared distance to the\n"
      "                nearest one chosen so far, one candidate per step (not\n"
      "                scikit-learn's greedy best of 2+ln K). The weighted draw gives\n"
      "                point i the key -ln(u)/w with u from a hash of (seed, step, i)\n"
      "                and takes the smallest key, so it needs no sum over ranks.\n"
      "    --init-centroids FILE gives the centroids: one per line, D numbers written\n"
      "    like the points (blank lines and '#' comments skipped), K lines (or, without\n"
      "    -k, K is their number). The same file as scikit-learn's KMeans(init=...)\n"
      "    gives its result (its empty clusters aside: it moves them, mpimr keeps them).\n"
      "    random and kmeans++ choose the same points at every rank count; with -v\n"
      "    rank 0 prints the numbers of the points chosen.\n"
      "\n"
      "OUTPUT\n"
      "    OUTDIR/part-00000 ... lines 'CLUSTER<TAB>x1 x2 ... xD', the cluster's\n"
      "    number (0..K-1) and its centroid, every coordinate in %%.17g (exact when\n"
      "    read back); each part is in cluster order and each cluster is in one part.\n"
      "    OUTDIR/_SUCCESS once every part is complete. With --assignments DIR,\n"
      "    DIR/part-* also hold lines 'POINT<TAB>CLUSTER': every point's number and\n"
      "    the cluster of the nearest final centroid.\n"
      "    Unless -q, rank 0 prints the number of iterations, the largest centroid\n"
      "    movement of the last one and the seconds the iterations took on stderr.\n"
      "\n"
      "OPTIONS\n"
      "    -k K                      number of clusters (required unless\n"
      "                              --init-centroids; 1 or more, and no more than the\n"
      "                              number of points)\n"
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
      "        --seed S              the seed of --generate and of --init random or\n"
      "                              kmeans++ (default 1; any 64-bit value)\n"
      "        --init MODE           the initial centroids: first, random or kmeans++\n"
      "                              (default first; see INITIALISATION)\n"
      "        --init-centroids FILE the initial centroids, one per line (instead of\n"
      "                              --init)\n"
      "        --skip-header N       leave out the first N lines of every input file\n"
      "                              (default 0; not with --generate)\n"
      "        --columns LIST        the fields that are coordinates, counted from 1:\n"
      "                              numbers and ranges in increasing order, such as\n"
      "                              '1-4' or '2,5,7-9' (default: every field)\n"
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
      "    mpirun -np 2 mpimr-kmeans -k 3 --init kmeans++ --seed 7 --skip-header 1 \\\n"
      "        --columns 1-4 -o centroids iris.csv\n"
      "    mpirun -np 2 mpimr-kmeans --init-centroids start.txt --columns 1-64 \\\n"
      "        --tolerance 0 -o centroids digits.csv\n"
      "    cat centroids/part-* | sort -n\n",
      ITER_CLI_TUNING_HELP);
}

/* How the first centroids are chosen (--init, --init-centroids). */
enum init_mode { INIT_FIRST, INIT_RANDOM, INIT_KMEANSPP, INIT_FILE };

/* Fields first..last (1-based, inclusive) of a line are coordinates (--columns). */
typedef struct column_range {
  uint64_t first, last;
} column_range;

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
  int init; /* an init_mode */
  int init_given;
  const char *init_file; /* INIT_FILE: the centroids' file */
  uint64_t skip_header;  /* lines skipped at the start of every input file */
  column_range *columns; /* NULL: every field is a coordinate */
  size_t column_ranges;
  size_t column_count; /* the coordinates the ranges choose */
} options;

/* What map_line knows of an input file. */
typedef struct input_file {
  char *path;          /* as the job lists it (NULL: this rank has read nothing of it yet) */
  uint64_t header_end; /* --skip-header: the offset of the first line after the header (HEADER_UNKNOWN) */
} input_file;

#define HEADER_UNKNOWN UINT64_MAX

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
  uint64_t skip_header;
  const column_range *columns;
  size_t column_ranges;
  double *line_values;
  size_t line_capacity;
  char problem[160]; /* why the line being parsed is not a point */
  unsigned char *value; /* an encoded value being emitted */
  size_t value_capacity;
  input_file *files; /* by file number, the files this rank's map has read from */
  uint64_t file_slots;
  /* Iterating. */
  double *blocks;         /* the centroids laid out for the distance loop (arrange_centroids) */
  uint64_t chunk_points;  /* points per map_local index */
  double *chunk_sums;     /* k * dims: a chunk's coordinate sums per cluster */
  uint64_t *chunk_counts; /* k: a chunk's points per cluster */
  uint64_t *touched;      /* chunk_points: the clusters a chunk has points in, in first-touch order */
  mpimr_pin_report pinning; /* the first job's binding, which the later ones reuse */
  mpimr_workspace *workspace; /* what one job leaves set up for the next (communicator, shuffle) */
} kmeans;

static void kmeans_free(kmeans *km) {
  free(km->points);
  free(km->assignment);
  free(km->centroids);
  free(km->line_values);
  free(km->value);
  for (uint64_t i = 0; i < km->file_slots; i++) free(km->files[i].path);
  free(km->files);
  free(km->blocks);
  free(km->chunk_sums);
  free(km->chunk_counts);
  free(km->touched);
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

/* Copies at most 40 bytes of text into `shown`, printable ASCII kept and anything else as '?'. */
static void show_text(const char *text, size_t length, char shown[48]) {
  size_t n = length < 40 ? length : 40;
  for (size_t i = 0; i < n; i++) shown[i] = text[i] >= ' ' && text[i] <= '~' ? text[i] : '?';
  strcpy(shown + n, length > 40 ? "..." : "");
}

/* Sets km->problem, the reason a line is not a point, for the caller to report. Returns -1. */
static int line_problem(kmeans *km, const char *format, ...) __attribute__((format(printf, 2, 3)));
static int line_problem(kmeans *km, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(km->problem, sizeof km->problem, format, args);
  va_end(args);
  return -1;
}

/* Appends one coordinate to km->line_values. Returns 0, or -1 with km->problem set. */
static int add_coordinate(kmeans *km, const char *token, size_t length, size_t *count) {
  double v;
  if (length > NUMBER_TEXT_MAX || decimal_parse(token, length, &v) != 0 || !isfinite(v)) {
    char shown[48];
    show_text(token, length, shown);
    return line_problem(km, length <= NUMBER_TEXT_MAX && decimal_parse(token, length, &v) == 0
                                ? "'%s' is out of range for a double"
                                : "'%s' is not a decimal number",
                        shown);
  }
  if (*count == MAX_DIMS) return line_problem(km, "a point with more than %d coordinates", MAX_DIMS);
  if (*count == km->line_capacity) {
    size_t capacity = km->line_capacity ? km->line_capacity * 2 : 16;
    double *grown = realloc(km->line_values, capacity * sizeof *grown);
    if (grown == NULL) return line_problem(km, "out of memory for a point's coordinates");
    km->line_values = grown;
    km->line_capacity = capacity;
  }
  km->line_values[(*count)++] = v;
  return 0;
}

/*
 * Parses a line into km->line_values and sets `*count` (0 for a line to skip). Fields are
 * separated by a run of blanks with at most one comma in it. With `columns` (ranges in increasing
 * order), only the fields they name are coordinates and the others may hold anything, even
 * nothing; without, every field is one. Returns 0, or -1 with km->problem set.
 */
static int parse_point(kmeans *km, const char *line, size_t length, const column_range *columns, size_t ranges,
                       size_t *count) {
  size_t at = 0, range = 0, wanted = 0;
  uint64_t field = 1;
  *count = 0;
  while (at < length && is_blank(line[at])) at++;
  if (at == length || line[at] == '#') return 0;
  for (size_t r = 0; r < ranges; r++) wanted += (size_t)(columns[r].last - columns[r].first + 1);
  for (;; field++) {
    size_t start = at;
    while (at < length && !is_blank(line[at]) && line[at] != ',') at++;
    int chosen = 1;
    if (columns != NULL) {
      while (range < ranges && field > columns[range].last) range++;
      if (range == ranges) break; /* past the last chosen field: the rest is not looked at */
      chosen = field >= columns[range].first;
    }
    if (chosen && at == start)
      return columns != NULL ? line_problem(km, "field %" PRIu64 " is empty", field)
                             : line_problem(km, "an empty coordinate before a comma");
    if (chosen && add_coordinate(km, line + start, at - start, count) != 0) return -1;
    while (at < length && is_blank(line[at])) at++;
    if (at < length && line[at] == ',') {
      at++;
      while (at < length && is_blank(line[at])) at++;
      if (at == length && columns == NULL) return line_problem(km, "a comma at the end of the line");
      continue; /* another field, empty if the line ends here */
    }
    if (at == length) break;
  }
  if (*count < wanted)
    return line_problem(km, "%" PRIu64 " fields, but --columns needs field %" PRIu64, field,
                        columns[ranges - 1].last);
  return 0;
}

/* Remembers the path of file `index` so that a later check can name it. Returns 0 or -1. */
static int remember_file(kmeans *km, uint64_t index, const char *path) {
  if (index >= km->file_slots) {
    uint64_t slots = km->file_slots ? km->file_slots * 2 : 64;
    if (slots <= index) slots = index + 1;
    input_file *grown = realloc(km->files, slots * sizeof *grown);
    if (grown == NULL) return -1;
    for (uint64_t i = km->file_slots; i < slots; i++) grown[i] = (input_file){NULL, HEADER_UNKNOWN};
    km->files = grown;
    km->file_slots = slots;
  }
  if (km->files[index].path == NULL && (km->files[index].path = strdup(path)) == NULL) return -1;
  return 0;
}

/*
 * Finds where the header of `file` ends: the offset just past its km->skip_header-th newline (or
 * the end of a file with fewer lines). The rank that maps a record of the file reads its start
 * itself, so that a file split across ranks by bytes loses its header on every rank alike.
 * Returns 0, or -1 with km->problem set.
 */
static int find_header_end(kmeans *km, input_file *file) {
  FILE *in = fopen(file->path, "rb");
  if (in == NULL) return line_problem(km, "reading the header: %s", strerror(errno));
  uint64_t newlines = 0, offset = 0;
  char buffer[65536];
  size_t got;
  while (newlines < km->skip_header && (got = fread(buffer, 1, sizeof buffer, in)) > 0) {
    for (size_t i = 0; i < got; i++)
      if (buffer[i] == '\n' && ++newlines == km->skip_header) {
        offset += i + 1;
        break;
      }
    if (newlines < km->skip_header) offset += got;
  }
  int failed = ferror(in);
  fclose(in);
  if (failed) return line_problem(km, "reading the header: %s", strerror(EIO));
  file->header_end = newlines == km->skip_header ? offset : HEADER_UNKNOWN - 1; /* all header */
  return 0;
}

static void put_u64_be(unsigned char *out, uint64_t v) {
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)(v >> (56 - 8 * i));
}

/*
 * A point read from a file travels to its rank, and waits in the first job's dataset, in the
 * narrowest of three layouts that holds every coordinate exactly: a first byte says which (its
 * width, 1, 2 or 8), then one byte per coordinate when all are integers 0..255 (pixels), two
 * (signed, little-endian) when all are integers -32768..32767, the double's eight otherwise.
 * Text of pixels shrinks by about a half, not grows by two (as eight bytes a number would):
 * less to send, to store and to copy.
 */
static size_t encode_point(const double *values, size_t count, unsigned char *out) {
  unsigned width = 1;
  for (size_t j = 0; j < count && width < 8; j++) {
    double v = values[j];
    if (v >= 0 && v <= 255 && v == (double)(int)v && !signbit(v)) continue;
    if (v >= -32768 && v <= 32767 && v == (double)(int)v && !(v == 0 && signbit(v)))
      width = 2;
    else
      width = 8;
  }
  out[0] = (unsigned char)width;
  unsigned char *at = out + 1;
  if (width == 1)
    for (size_t j = 0; j < count; j++) *at++ = (unsigned char)(int)values[j];
  else if (width == 2)
    for (size_t j = 0; j < count; j++, at += 2) {
      uint16_t u = (uint16_t)(int16_t)(int)values[j];
      at[0] = (unsigned char)u;
      at[1] = (unsigned char)(u >> 8);
    }
  else
    for (size_t j = 0; j < count; j++, at += 8) mpimr_put_f64(at, values[j]);
  return (size_t)(at - out);
}

/* The coordinates an encoded point holds. */
static size_t encoded_count(const void *value, size_t length) {
  return length == 0 ? 0 : (length - 1) / *(const unsigned char *)value;
}

/* Decodes the `count` coordinates of an encoded point into `out`. */
static void decode_point(const void *value, size_t count, double *out) {
  const unsigned char *in = value;
  unsigned width = *in++;
  if (width == 1)
    for (size_t j = 0; j < count; j++) out[j] = in[j];
  else if (width == 2)
    for (size_t j = 0; j < count; j++) out[j] = (int16_t)(uint16_t)(in[2 * j] | (unsigned)in[2 * j + 1] << 8);
  else
    for (size_t j = 0; j < count; j++) out[j] = mpimr_get_f64(in + 8 * j);
}

/*
 * Memory for the points: aligned to 2 MiB and offered to the kernel for transparent huge pages
 * where it has them (the array is written once and read through on every iteration: a 4 KiB page
 * fault for every 512 doubles costs more than the copy that makes them).
 */
static double *alloc_points(size_t bytes) {
  const size_t huge = (size_t)2 << 20;
  if (bytes < huge) return malloc(bytes);
  size_t rounded = (bytes + huge - 1) / huge * huge;
  void *p = NULL;
  if (rounded < bytes || posix_memalign(&p, huge, rounded) != 0) return NULL;
#ifdef MADV_HUGEPAGE
  (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice: where it is refused, plain pages */
#endif
  return p;
}

static uint64_t get_u64_be(const unsigned char *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | in[i];
  return v;
}

/*
 * The first job's map function: one point per line, keyed by its position in the input as a
 * big-endian number (so that bytewise key order is input order and the range-partitioned job
 * leaves the first points on rank 0), with its coordinates as the value (encode_point). Lines of a file's
 * header (--skip-header) are left out.
 */
static int map_line(void *user, const void *record, size_t length, mpimr_emitter *out) {
  kmeans *km = user;
  mpimr_record_origin origin;
  int rc = mpimr_map_origin(out, &origin);
  if (rc != MPIMR_OK) return rc;
  if (origin.file_index >= MAX_FILES) return mpimr_fail_job(out, "more than %" PRIu64 " input files", MAX_FILES);
  if (origin.offset >> OFFSET_BITS) return mpimr_fail_job(out, "a point beyond the first 1 TiB of a file");
  if (remember_file(km, origin.file_index, origin.path) != 0) return mpimr_fail_job(out, "out of memory");
  input_file *file = &km->files[origin.file_index];
  if (km->skip_header > 0) {
    if (file->header_end == HEADER_UNKNOWN && find_header_end(km, file) != 0)
      return mpimr_fail(out, "%s", km->problem);
    if (origin.offset < file->header_end) return 0;
  }
  size_t count;
  if (parse_point(km, record, length, km->columns, km->column_ranges, &count) != 0)
    return mpimr_fail(out, "%s", km->problem);
  if (count == 0) return 0;
  if (km->dims_checked && count != km->dims)
    return mpimr_fail(out, "a point with %zu coordinates, not %zu (--dims)", count, km->dims);
  unsigned char key[8];
  put_u64_be(key, ((uint64_t)origin.file_index << OFFSET_BITS) | origin.offset);
  if (reserve_value(km, 1 + count * 8) != 0) return mpimr_fail_job(out, "out of memory for a point");
  size_t encoded = encode_point(km->line_values, count, km->value);
  return mpimr_emit(out, key, sizeof key, km->value, encoded);
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
  config.max_bad_records = 0; /* only the job that reads the points skips malformed lines */
  config.workspace = km->workspace;
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
    if (encoded_count(value, value_len) != km->dims) {
      bad_key = get_u64_be(key);
      bad_count = encoded_count(value, value_len);
      break;
    }
  uint64_t first_bad;
  MPI_Allreduce(&bad_key, &first_bad, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  if (first_bad == UINT64_MAX) return 0;
  uint64_t mine = bad_key == first_bad ? bad_count : 0, count;
  MPI_Allreduce(&mine, &count, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  uint64_t file = first_bad >> OFFSET_BITS;
  int knows = file < km->file_slots && km->files[file].path != NULL ? rank : nranks, teller;
  MPI_Allreduce(&knows, &teller, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (rank == teller || (teller == nranks && rank == 0))
    fprintf(stderr,
            "%s: input '%s' at byte %" PRIu64 ": a point with %" PRIu64
            " coordinates, but the first point has %zu\n",
            PROGRAM, teller == nranks ? "?" : km->files[file].path, first_bad & (((uint64_t)1 << OFFSET_BITS) - 1),
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
  km->dims = (size_t)(o->dims ? o->dims : (int)o->column_count);
  km->dims_checked = km->dims != 0;
  km->skip_header = o->skip_header;
  km->columns = o->columns;
  km->column_ranges = o->column_ranges;
  char *bad_records = iter_cli_bad_records_path(o->cli.job.output_dir, o->cli.job.max_bad_records, rank);
  config.max_bad_records = o->cli.job.max_bad_records;
  config.bad_records_path = bad_records;
  int rc = job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &km->pinning);
  free(bad_records);
  if (rc != MPIMR_OK) {
    mpimr_dataset_free(data);
    return 1;
  }
  /* The number of dimensions: --dims, or that of the first point of the first rank that has any. */
  uint64_t count = mpimr_dataset_local_count(data);
  int first_dims = 0;
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *key, *value;
  size_t key_len, value_len;
  if (mpimr_dataset_next(data, &at, &key, &key_len, &value, &value_len)) first_dims = (int)encoded_count(value, value_len);
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
  km->points = alloc_points(count * km->dims * sizeof(double) + 1);
  if (!iter_cli_all_ok(km->points != NULL) || km->points == NULL) {
    if (km->points == NULL)
      fprintf(stderr, "%s: rank %d: out of memory for %" PRIu64 " points\n", PROGRAM, rank, count);
    mpimr_dataset_free(data);
    return 1;
  }
  at = (mpimr_dataset_cursor)MPIMR_DATASET_CURSOR_INIT;
  for (uint64_t i = 0; mpimr_dataset_next(data, &at, &key, &key_len, &value, &value_len); i++)
    decode_point(value, km->dims, km->points + i * km->dims);
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
  km->points = alloc_points(km->local_count * dims * sizeof(double) + 1);
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

/*
 * The distance loop. The centroids are laid out in blocks of BLOCK_WIDTH (the last block of
 * BLOCK_WIDTH / 2 when no more remain), and within a block by dimension: the j-th coordinates of
 * its centroids side by side. One pass over a point then adds (x_j - c_j)^2 to a block's
 * distances at once, in independent lanes the compiler keeps in vector registers, while each
 * distance is still the plain sum over j = 1..D in order: the same bits as one centroid at a time,
 * so the choice of the nearest centroid is exactly that of a serial Lloyd's.
 */
#define BLOCK_WIDTH 8

/* The width of the block that starts at centroid `first`. */
static uint64_t block_width(const kmeans *km, uint64_t first) {
  return km->k - first > BLOCK_WIDTH / 2 ? BLOCK_WIDTH : BLOCK_WIDTH / 2;
}

/* Copies km->centroids into km->blocks (unused lanes of the last block are zeros). */
static void arrange_centroids(kmeans *km) {
  size_t dims = km->dims;
  for (uint64_t first = 0; first < km->k; first += BLOCK_WIDTH) {
    uint64_t width = block_width(km, first);
    double *block = km->blocks + first * dims;
    for (uint64_t w = 0; w < width; w++) {
      const double *centroid = first + w < km->k ? km->centroids + (first + w) * dims : NULL;
      for (size_t j = 0; j < dims; j++) block[j * width + w] = centroid != NULL ? centroid[j] : 0.0;
    }
  }
}

/* Two doubles side by side: GCC's and Clang's vector extension, one SSE2 register on x86-64. */
typedef double double2 __attribute__((vector_size(16)));

/* The squared distances from `point` to the BLOCK_WIDTH centroids of `block` (16-byte aligned). */
static void distances_wide(const double *restrict point, const double *restrict block, size_t dims,
                           double *restrict out) {
  double2 sum0 = {0, 0}, sum1 = {0, 0}, sum2 = {0, 0}, sum3 = {0, 0};
  for (size_t j = 0; j < dims; j++) {
    const double2 x = {point[j], point[j]}, *c = (const double2 *)(block + j * BLOCK_WIDTH);
    double2 d0 = x - c[0], d1 = x - c[1], d2 = x - c[2], d3 = x - c[3];
    sum0 += d0 * d0;
    sum1 += d1 * d1;
    sum2 += d2 * d2;
    sum3 += d3 * d3;
  }
  memcpy(out, &sum0, sizeof sum0);
  memcpy(out + 2, &sum1, sizeof sum1);
  memcpy(out + 4, &sum2, sizeof sum2);
  memcpy(out + 6, &sum3, sizeof sum3);
}

/* The squared distances from `point` to the BLOCK_WIDTH / 2 centroids of `block` (16-byte aligned). */
static void distances_narrow(const double *restrict point, const double *restrict block, size_t dims,
                             double *restrict out) {
  double2 sum0 = {0, 0}, sum1 = {0, 0};
  for (size_t j = 0; j < dims; j++) {
    const double2 x = {point[j], point[j]}, *c = (const double2 *)(block + j * (BLOCK_WIDTH / 2));
    double2 d0 = x - c[0], d1 = x - c[1];
    sum0 += d0 * d0;
    sum1 += d1 * d1;
  }
  memcpy(out, &sum0, sizeof sum0);
  memcpy(out + 2, &sum1, sizeof sum1);
}

/* The centroid nearest to `point`: the lowest-numbered one among equally near ones. */
static uint64_t nearest(const kmeans *km, const double *point) {
  uint64_t best = 0;
  double best_distance = 0, distance[BLOCK_WIDTH];
  for (uint64_t first = 0; first < km->k; first += BLOCK_WIDTH) {
    uint64_t width = block_width(km, first), used = km->k - first < width ? km->k - first : width;
    if (width == BLOCK_WIDTH)
      distances_wide(point, km->blocks + first * km->dims, km->dims, distance);
    else
      distances_narrow(point, km->blocks + first * km->dims, km->dims, distance);
    for (uint64_t w = 0; w < used; w++)
      if (first + w == 0 || distance[w] < best_distance) {
        best = first + w;
        best_distance = distance[w];
      }
  }
  return best;
}

/* The squared distance between two points, summed over j = 1..D in order like the blocks'. */
static double squared_distance(const double *a, const double *b, size_t dims) {
  double sum = 0;
  for (size_t j = 0; j < dims; j++) {
    double d = a[j] - b[j];
    sum += d * d;
  }
  return sum;
}

/*
 * An iteration's map function, over a chunk of km->chunk_points points: each point goes to its
 * nearest centroid, and the chunk emits, for every cluster it has points in, their coordinate
 * sums and their count. A chunk is a slice of map work of about a millisecond, and one pair per
 * cluster instead of one per point leaves the combiner little to do.
 */
static int map_assign(void *user, uint64_t chunk, mpimr_emitter *out) {
  kmeans *km = user;
  size_t dims = km->dims;
  uint64_t begin = chunk * km->chunk_points, end = begin + km->chunk_points, touched = 0;
  if (end > km->local_count) end = km->local_count;
  for (uint64_t i = begin; i < end; i++) {
    const double *point = km->points + i * dims;
    uint64_t cluster = nearest(km, point);
    if (km->assignment[i] != cluster) {
      km->assignment[i] = cluster;
      km->changed++;
    }
    double *sums = km->chunk_sums + cluster * dims;
    if (km->chunk_counts[cluster]++ == 0) {
      km->touched[touched++] = cluster;
      memcpy(sums, point, dims * sizeof *sums);
    } else {
      for (size_t j = 0; j < dims; j++) sums[j] += point[j];
    }
  }
  for (uint64_t t = 0; t < touched; t++) {
    uint64_t cluster = km->touched[t];
    const double *sums = km->chunk_sums + cluster * dims;
    unsigned char key[8];
    mpimr_put_u64(key, cluster);
    for (size_t j = 0; j < dims; j++) mpimr_put_f64(km->value + 8 * j, sums[j]);
    mpimr_put_u64(km->value + 8 * dims, km->chunk_counts[cluster]);
    km->chunk_counts[cluster] = 0;
    int rc = mpimr_emit(out, key, sizeof key, km->value, 8 * (dims + 1));
    if (rc != MPIMR_OK) {
      while (++t < touched) km->chunk_counts[km->touched[t]] = 0;
      return rc;
    }
  }
  return MPIMR_OK;
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
  config.local_count = (km->local_count + km->chunk_points - 1) / km->chunk_points;
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
  arrange_centroids(km);
  return 0;
}

/* The first K points (points 0..K-1, wherever they are) as the centroids, on every rank. Returns 0
 * or 1 (reported). */
static int initial_first(kmeans *km, int rank, int nranks) {
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

/*
 * A number drawn uniformly from [0, m) (m > 0) with stream `stream` of `seed`, *counter counting
 * the draws: the draws past the largest multiple of m below 2^64 are refused, so that every value
 * is equally likely. The result depends on nothing but the seed, the stream and the counter.
 */
static uint64_t uniform_below(uint64_t seed, uint64_t stream, uint64_t *counter, uint64_t m) {
  uint64_t refused = (0 - m) % m; /* 2^64 mod m: the draws below it are refused */
  for (;;) {
    uint64_t bits = draw(seed, stream, (*counter)++);
    if (bits >= refused) return bits % m;
  }
}

/*
 * Makes the points with global numbers indices[0..count) centroids first..first+count-1 on every
 * rank: the rank that holds a point copies it, the others give zero bits, and a bitwise OR over
 * the ranks leaves every coordinate exactly as read.
 */
static void share_points(kmeans *km, const uint64_t *indices, uint64_t count, uint64_t first) {
  double *centroids = km->centroids + first * km->dims;
  memset(centroids, 0, count * km->dims * sizeof *centroids);
  for (uint64_t c = 0; c < count; c++)
    if (indices[c] >= km->first_index && indices[c] - km->first_index < km->local_count)
      memcpy(centroids + c * km->dims, km->points + (indices[c] - km->first_index) * km->dims,
             km->dims * sizeof *centroids);
  MPI_Allreduce(MPI_IN_PLACE, centroids, (int)(count * km->dims), MPI_UINT64_T, MPI_BOR, MPI_COMM_WORLD);
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* On rank 0 with -v: which points became the first centroids (the first 32 of them). */
static void report_chosen(const options *o, const uint64_t *indices, uint64_t count, int rank) {
  if (!o->cli.job.verbose || rank != 0) return;
  fprintf(stderr, "%s: initial centroids: points", PROGRAM);
  for (uint64_t c = 0; c < count && c < 32; c++) fprintf(stderr, " %" PRIu64, indices[c]);
  fprintf(stderr, "%s\n", count > 32 ? " ..." : "");
}

/*
 * --init random: K distinct points, every set of K equally likely (Floyd's sampling over the
 * total, then sorted, so cluster c starts at the c-th chosen point in input order). Only the total
 * and the seed decide, so every rank count chooses the same points. Returns 0 or 1 (reported).
 */
static int initial_random(const options *o, kmeans *km, uint64_t total, int rank) {
  uint64_t slots = 1;
  while (slots < 2 * km->k) slots *= 2;
  uint64_t *indices = malloc(km->k * sizeof *indices), *seen = malloc(slots * sizeof *seen);
  if (!iter_cli_all_ok(indices != NULL && seen != NULL) || indices == NULL || seen == NULL) {
    if (rank == 0) fprintf(stderr, "%s: out of memory for choosing the centroids\n", PROGRAM);
    free(indices);
    free(seen);
    return 1;
  }
  memset(seen, 0xff, slots * sizeof *seen); /* UINT64_MAX: an empty slot of the open-addressed set */
  uint64_t counter = 0, chosen = 0;
  for (uint64_t j = total - km->k; j < total; j++) {
    uint64_t pick = uniform_below(o->seed, 3, &counter, j + 1);
    /* Floyd: take `pick`, or j itself if `pick` is already taken (j cannot be yet). */
    uint64_t at = mix64(pick) & (slots - 1);
    while (seen[at] != UINT64_MAX && seen[at] != pick) at = (at + 1) & (slots - 1);
    if (seen[at] == pick) {
      pick = j;
      at = mix64(pick) & (slots - 1);
      while (seen[at] != UINT64_MAX) at = (at + 1) & (slots - 1);
    }
    seen[at] = pick;
    indices[chosen++] = pick;
  }
  free(seen);
  qsort(indices, km->k, sizeof *indices, compare_u64);
  share_points(km, indices, km->k, 0);
  report_chosen(o, indices, km->k, rank);
  free(indices);
  return 0;
}

/*
 * --init kmeans++: the first centroid is a point drawn uniformly; each next one is a point drawn
 * with probability proportional to its squared distance to the nearest centroid chosen so far
 * (Arthur and Vassilvitskii's k-means++, one candidate per step). The weighted draw gives every
 * point i the key -ln(u_i) / w_i, with u_i uniform in (0, 1] from a hash of (seed, step, i), and
 * takes the smallest (Efraimidis and Spirakis): that is point i with probability w_i / sum w, and
 * since a key depends only on the point, the draw is the same at every rank count, with no sum
 * over ranks whose rounding would depend on how the points are split. Points at distance 0 are
 * never drawn; if every point is, the next centroid is drawn uniformly. Returns 0 or 1 (reported).
 */
static int initial_kmeanspp(const options *o, kmeans *km, uint64_t total, int rank) {
  double *closest = malloc(km->local_count * sizeof *closest + 1);
  uint64_t *indices = malloc(km->k * sizeof *indices);
  if (!iter_cli_all_ok(closest != NULL && indices != NULL) || closest == NULL || indices == NULL) {
    if (rank == 0) fprintf(stderr, "%s: out of memory for choosing the centroids\n", PROGRAM);
    free(closest);
    free(indices);
    return 1;
  }
  uint64_t counter = 0;
  for (uint64_t i = 0; i < km->local_count; i++) closest[i] = HUGE_VAL;
  indices[0] = uniform_below(o->seed, 4, &counter, total);
  for (uint64_t c = 0;;) {
    share_points(km, indices + c, 1, c);
    const double *centroid = km->centroids + c * km->dims;
    for (uint64_t i = 0; i < km->local_count; i++) {
      double d = squared_distance(km->points + i * km->dims, centroid, km->dims);
      if (d < closest[i]) closest[i] = d;
    }
    if (++c == km->k) break;
    double best_key = HUGE_VAL, key;
    uint64_t best = UINT64_MAX, pick;
    for (uint64_t i = 0; i < km->local_count; i++) {
      if (!(closest[i] > 0)) continue;
      uint64_t point = km->first_index + i;
      double u = (double)((draw(o->seed, 5 + c, point) >> 11) + 1) * 0x1p-53; /* (0, 1] */
      double point_key = -log(u) / closest[i];
      if (point_key < best_key) best_key = point_key, best = point; /* points in increasing order: the lowest wins ties */
    }
    MPI_Allreduce(&best_key, &key, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    uint64_t mine = best_key == key ? best : UINT64_MAX;
    MPI_Allreduce(&mine, &pick, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    indices[c] = pick != UINT64_MAX ? pick : uniform_below(o->seed, 4, &counter, total);
  }
  report_chosen(o, indices, km->k, rank);
  free(closest);
  free(indices);
  return 0;
}

/*
 * Rank 0's reading of --init-centroids FILE into km->centroids: km->k lines of km->dims numbers
 * (written like the points; blank lines and '#' comments skipped). With `k_from_file`, km->k is
 * the number of centroids in the file instead (km->centroids is then allocated here). Returns 0,
 * or 1 after printing the problem with the file's name and line.
 */
static int read_centroid_file(const char *path, kmeans *km, int k_from_file) {
  FILE *in = fopen(path, "r");
  if (in == NULL) {
    fprintf(stderr, "%s: --init-centroids '%s': %s\n", PROGRAM, path, strerror(errno));
    return 1;
  }
  char *line = NULL;
  size_t capacity = 0, centroids_capacity = k_from_file ? 0 : km->k;
  uint64_t line_number = 0, read = 0;
  ssize_t length;
  int status = 0;
  while (status == 0 && (length = getline(&line, &capacity, in)) >= 0) {
    line_number++;
    if (length > 0 && line[length - 1] == '\n') length--;
    if (length > 0 && line[length - 1] == '\r') length--;
    size_t count;
    if (parse_point(km, line, (size_t)length, NULL, 0, &count) != 0) {
      fprintf(stderr, "%s: --init-centroids '%s' line %" PRIu64 ": %s\n", PROGRAM, path, line_number, km->problem);
      status = 1;
    } else if (count == 0) {
      continue;
    } else if (count != km->dims) {
      fprintf(stderr, "%s: --init-centroids '%s' line %" PRIu64 ": %zu numbers, but the points have %zu\n",
              PROGRAM, path, line_number, count, km->dims);
      status = 1;
    } else if (read == centroids_capacity && !k_from_file) {
      fprintf(stderr, "%s: --init-centroids '%s' line %" PRIu64 ": more than -k %" PRIu64 " centroids\n",
              PROGRAM, path, line_number, km->k);
      status = 1;
    } else if ((read + 1) * km->dims > MAX_CENTROID_VALUES) {
      fprintf(stderr, "%s: --init-centroids '%s' line %" PRIu64 ": too many centroids (at most %" PRIu64
              " numbers)\n", PROGRAM, path, line_number, MAX_CENTROID_VALUES);
      status = 1;
    } else {
      if (read == centroids_capacity) {
        size_t grown_capacity = centroids_capacity ? 2 * centroids_capacity : 16;
        double *grown = realloc(km->centroids, grown_capacity * km->dims * sizeof *grown);
        if (grown == NULL) {
          fprintf(stderr, "%s: out of memory for the centroids\n", PROGRAM);
          status = 1;
          continue;
        }
        km->centroids = grown;
        centroids_capacity = grown_capacity;
      }
      memcpy(km->centroids + read * km->dims, km->line_values, km->dims * sizeof(double));
      read++;
    }
  }
  if (status == 0 && ferror(in)) {
    fprintf(stderr, "%s: --init-centroids '%s': %s\n", PROGRAM, path, strerror(EIO));
    status = 1;
  }
  free(line);
  fclose(in);
  if (status == 0 && (k_from_file ? read == 0 : read < km->k)) {
    fprintf(stderr, "%s: --init-centroids '%s': %" PRIu64 " centroids, but -k is %" PRIu64 "\n", PROGRAM, path,
            read, km->k);
    status = 1;
  }
  if (status == 0 && k_from_file) km->k = read;
  return status;
}

/*
 * --init-centroids FILE: rank 0 reads the file and sends every rank the centroids (and K, when
 * -k was not given). Allocates km->centroids unless -k was given. Returns 0 or 1 (reported).
 */
static int initial_from_file(const options *o, kmeans *km, int rank) {
  int status = rank == 0 ? read_centroid_file(o->init_file, km, !o->k_given) : 0;
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (status != 0) return 1;
  MPI_Bcast(&km->k, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  if (rank != 0 && !o->k_given) km->centroids = malloc(km->k * km->dims * sizeof(double));
  if (!iter_cli_all_ok(km->centroids != NULL)) {
    if (km->centroids == NULL) fprintf(stderr, "%s: rank %d: out of memory for the centroids\n", PROGRAM, rank);
    return 1;
  }
  MPI_Bcast(km->centroids, (int)(km->k * km->dims), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (o->cli.job.verbose && rank == 0)
    fprintf(stderr, "%s: initial centroids: %" PRIu64 " from %s\n", PROGRAM, km->k, o->init_file);
  return 0;
}

/* The first centroids, the way --init says, on every rank. Returns 0 or 1 (reported). */
static int initial_centroids(const options *o, kmeans *km, uint64_t total, int rank, int nranks) {
  switch (o->init) {
    case INIT_RANDOM: return initial_random(o, km, total, rank);
    case INIT_KMEANSPP: return initial_kmeanspp(o, km, total, rank);
    case INIT_FILE: return o->k_given ? initial_from_file(o, km, rank) : 0; /* else read already */
    default:
      if (o->cli.job.verbose && rank == 0)
        fprintf(stderr, "%s: initial centroids: points 0 to %" PRIu64 "\n", PROGRAM, km->k - 1);
      return initial_first(km, rank, nranks);
  }
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
  km->k = o->k; /* 0 with --init-centroids and no -k: the file says */
  int status = o->generate ? generate_points(o, km, rank, nranks) : read_points(o, km, rank, nranks);
  if (status != 0) return status;
  uint64_t total;
  MPI_Allreduce(&km->local_count, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  if (o->init == INIT_FILE && !o->k_given && initial_from_file(o, km, rank) != 0) return 1;
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
  /* A chunk of the distance loop is about CHUNK_WORK coordinate differences (lanes included). */
  uint64_t lanes = (km->k + BLOCK_WIDTH - 1) / BLOCK_WIDTH * BLOCK_WIDTH;
  km->chunk_points = CHUNK_WORK / (km->dims * lanes);
  if (km->chunk_points == 0) km->chunk_points = 1;
  if (km->chunk_points > CHUNK_POINTS_MAX) km->chunk_points = CHUNK_POINTS_MAX;
  if (km->centroids == NULL) km->centroids = malloc(km->k * km->dims * sizeof(double));
  km->assignment = malloc(km->local_count * sizeof(uint64_t) + 1);
  if (posix_memalign((void **)&km->blocks, 64, lanes * km->dims * sizeof(double)) != 0) km->blocks = NULL;
  km->chunk_sums = malloc(km->k * km->dims * sizeof(double));
  km->chunk_counts = calloc(km->k, sizeof(uint64_t));
  km->touched = malloc((km->chunk_points < km->k ? km->chunk_points : km->k) * sizeof(uint64_t));
  mpimr_dataset *sums = NULL;
  int created = mpimr_dataset_create(&sums) == MPIMR_OK;
  int ready = km->centroids != NULL && km->assignment != NULL && km->blocks != NULL && km->chunk_sums != NULL &&
              km->chunk_counts != NULL && km->touched != NULL && created &&
              reserve_value(km, 8 * (km->dims + 1)) == 0;
  if (!iter_cli_all_ok(ready) || !ready) {
    if (rank == 0) fprintf(stderr, "%s: out of memory for the centroids or the assignments\n", PROGRAM);
    mpimr_dataset_free(sums);
    return 1;
  }
  for (uint64_t i = 0; i < km->local_count; i++) km->assignment[i] = UINT64_MAX;
  if (initial_centroids(o, km, total, rank, nranks) != 0) {
    mpimr_dataset_free(sums);
    return 1;
  }
  arrange_centroids(km);

  int iterations = 0, converged = 0;
  double movement = 0, started = MPI_Wtime();
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
  double iterating = MPI_Wtime() - started;
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
            "iterations (largest centroid movement %.17g) in %.3f s\n",
            PROGRAM, total, km->dims, km->k, iterations, movement, iterating);
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
  OPT_SEED,
  OPT_INIT,
  OPT_INIT_CENTROIDS,
  OPT_SKIP_HEADER,
  OPT_COLUMNS
};

/* The largest field number --columns takes. */
#define MAX_FIELD ((uint64_t)1 << 24)

/*
 * Parses --columns LIST into o->columns: items 'N' or 'N-M' separated by commas, fields counted
 * from 1, in increasing order without overlaps, choosing at most MAX_DIMS fields. Returns 0, or
 * CLI_EXIT_USAGE after reporting.
 */
static int parse_columns(options *o, const char *list, int rank) {
  free(o->columns);
  o->columns = NULL;
  o->column_ranges = o->column_count = 0;
  size_t items = 1;
  for (const char *c = list; *c; c++) items += *c == ',';
  o->columns = malloc(items * sizeof *o->columns);
  if (o->columns == NULL) {
    cli_usage_error(rank, PROGRAM, "out of memory for --columns");
    return CLI_EXIT_USAGE;
  }
  const char *at = list;
  for (size_t i = 0; i < items; i++) {
    const char *end = strchr(at, ',');
    size_t length = end ? (size_t)(end - at) : strlen(at);
    char item[64];
    const char *problem = NULL;
    uint64_t first = 0, last = 0;
    if (length == 0 || length >= sizeof item) {
      problem = "an empty or overlong item";
    } else {
      memcpy(item, at, length);
      item[length] = '\0';
      char *dash = strchr(item, '-');
      if (dash != NULL) *dash = '\0';
      if (cli_parse_u64(item, 1, MAX_FIELD, &first) != 0 ||
          (dash != NULL ? cli_parse_u64(dash + 1, 1, MAX_FIELD, &last) != 0 : (last = first, 0)))
        problem = "fields are numbers from 1 to 16777216";
      else if (last < first)
        problem = "a range N-M needs N <= M";
      else if (i > 0 && first <= o->columns[i - 1].last)
        problem = "the fields must be in increasing order without repeats";
      else if (o->column_count + (last - first + 1) > MAX_DIMS)
        problem = "more than 65536 fields";
    }
    if (problem != NULL) {
      cli_usage_error(rank, PROGRAM, "--columns '%s': %s (like '1-4' or '2,5,7-9')", list, problem);
      return CLI_EXIT_USAGE;
    }
    o->columns[i] = (column_range){first, last};
    o->column_count += (size_t)(last - first + 1);
    at = end ? end + 1 : at + length;
  }
  o->column_ranges = items;
  return 0;
}

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
    case OPT_INIT:
      if (o->init_given++) break;
      if (strcmp(value, "first") == 0) o->init = INIT_FIRST;
      else if (strcmp(value, "random") == 0) o->init = INIT_RANDOM;
      else if (strcmp(value, "kmeans++") == 0) o->init = INIT_KMEANSPP;
      else {
        cli_usage_error(rank, PROGRAM, "--init must be first, random or kmeans++, not '%s'", value);
        return CLI_EXIT_USAGE;
      }
      return 0;
    case OPT_INIT_CENTROIDS:
      if (o->init_given++) break;
      if (value[0] == '\0') {
        cli_usage_error(rank, PROGRAM, "--init-centroids must name a file");
        return CLI_EXIT_USAGE;
      }
      o->init = INIT_FILE;
      o->init_file = value;
      return 0;
    case OPT_SKIP_HEADER:
      if (cli_parse_u64(value, 0, (uint64_t)1 << 40, &o->skip_header) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--skip-header must be an integer from 0 to 2^40, not '%s'", value);
      return CLI_EXIT_USAGE;
    case OPT_COLUMNS: return parse_columns(o, value, rank);
    default: return -1; /* not one of ours */
  }
  cli_usage_error(rank, PROGRAM, "give --init or --init-centroids once");
  return CLI_EXIT_USAGE;
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
      {"init", required_argument, NULL, OPT_INIT},
      {"init-centroids", required_argument, NULL, OPT_INIT_CENTROIDS},
      {"skip-header", required_argument, NULL, OPT_SKIP_HEADER},
      {"columns", required_argument, NULL, OPT_COLUMNS},
      JOB_CLI_TUNING_LONG_OPTIONS,
      {NULL, 0, NULL, 0}};
  job_cli_config_init(&o->cli.job);
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
  int seeded = o->generate || o->init == INIT_RANDOM || o->init == INIT_KMEANSPP;
  if (!o->k_given && o->init != INIT_FILE)
    problem = "-k K is required (or --init-centroids FILE)";
  else if (o->cli.job.output_dir == NULL)
    problem = "-o OUTDIR is required";
  else if (o->generate && o->cli.job.input_count > 0)
    problem = "--generate makes the points: give no INPUT files";
  else if (!o->generate && o->cli.job.input_count == 0)
    problem = "no INPUT files or directories given (or --generate N)";
  else if (!o->generate && o->blobs_given)
    problem = "--clusters goes with --generate";
  else if (!seeded && o->seed_given)
    problem = "--seed goes with --generate, --init random or --init kmeans++";
  else if (o->generate && (o->skip_header || o->columns != NULL))
    problem = "--skip-header and --columns read files: not with --generate";
  else if (o->columns != NULL && o->dims != 0 && (size_t)o->dims != o->column_count)
    problem = "--dims differs from the number of fields --columns chooses";
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
    if (!iter_cli_all_ok(mpimr_workspace_create(&km.workspace) == MPIMR_OK)) {
      if (rank == 0) fprintf(stderr, "%s: out of memory\n", PROGRAM);
      status = 1;
    } else {
      status = run_kmeans(&o, &km, rank, nranks);
    }
    iter_cli_keep_bad_records(o.cli.job.max_bad_records ? o.cli.job.output_dir : NULL, rank);
    kmeans_free(&km);
    mpimr_workspace_free(km.workspace);
  }
  free(o.columns);
  MPI_Finalize();
  return status;
}
