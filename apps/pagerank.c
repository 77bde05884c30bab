/*
 * apps/pagerank.c — mpimr-pagerank: PageRank of a directed graph by power
 * iteration, one mpimr job per iteration, with the graph and the ranks kept
 * in memory between jobs in a dataset.
 *
 * The dataset holds one pair per vertex v, wherever the job that made it
 * reduced v: the key is v as 8 little-endian bytes, the value v's record,
 *   [rank: f64][outdegree k: u64][k destinations: u64 each]
 * (little-endian), duplicate edges kept as repeated destinations.
 *
 *   1. The build job maps the edges (from files, or made by the R-MAT
 *      generator over an index range) to (source, destination) and reduces
 *      each source's destinations to its record (rank 0 for now), into the
 *      dataset. Vertices with no out-edges have no record yet: each rank
 *      then adds an empty value for its share of the ids [0, n) to the
 *      dataset, so that every vertex is seen by the first iteration.
 *   2. Each iteration maps every record to a contribution (rank / k as an
 *      8-byte f64) for each destination, plus the record itself, and passes
 *      the empty markers on; reduce sums a vertex's contributions, adds the
 *      teleport and dangling shares, and writes the record back with the new
 *      rank (a vertex with no record gets one, with outdegree 0). The
 *      dataset is the job's input and its output. The reducers add up, per
 *      rank, the L1 change and the rank of the dangling vertices, which an
 *      MPI_Allreduce makes global after the job. In the first iteration the
 *      stored ranks are read as 1/n.
 *   3. One more job maps the dataset to 'VERTEX<TAB>RANK' lines in the
 *      output directory.
 *
 * Values come to a reducer sorted bytewise, so a vertex's contributions are
 * added in the same order at any rank count; only the global sums (an
 * Allreduce) may round differently.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "job_cli.h"
#include "mpimr/mpimr.h"
#include "rmat_gen.h"

static const char *const PROGRAM = "mpimr-pagerank";

/* A record's header: the rank (f64) and the outdegree (u64). */
#define RECORD_HEADER_BYTES 16
/* Vertex ids are below 2^63, so that n = max id + 1 always fits. */
#define VERTEX_ID_LIMIT (UINT64_C(1) << 63)
#define DEFAULT_DAMPING 0.85
#define DEFAULT_TOLERANCE 1e-8
#define DEFAULT_MAX_ITERATIONS 100
#define MAX_ITERATIONS_LIMIT 1000000

static void print_help(void) {
  printf(
      "NAME\n"
      "    mpimr-pagerank - PageRank of a directed graph with MapReduce over MPI\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P mpimr-pagerank -o OUTDIR [OPTIONS] INPUT...\n"
      "    mpirun -np P mpimr-pagerank -o OUTDIR --rmat-scale N [OPTIONS]\n"
      "\n"
      "DESCRIPTION\n"
      "    Computes the PageRank of every vertex of a directed graph by power\n"
      "    iteration. The graph is an edge list: the INPUT files and directories\n"
      "    (read recursively, hidden files skipped) with one edge per line, 'SRC DST'\n"
      "    as two decimal vertex ids below 2^63 separated by spaces or TABs (blanks\n"
      "    around them allowed, a CR before the LF ignored), such as mpimr-rmat\n"
      "    writes. Lines that are empty or blank, and lines whose first non-blank\n"
      "    byte is '#' or '%%', are skipped; any other line that is not an edge\n"
      "    fails the job, naming the file and byte offset. Or, with --rmat-scale,\n"
      "    the edges of the R-MAT graph that mpimr-rmat would write with the same\n"
      "    options are made in memory, no files involved.\n"
      "\n"
      "    The vertices are 0 .. n-1, where n is --vertices or else the largest id\n"
      "    + 1 (2^N with --rmat-scale), so vertices without any edge count too.\n"
      "    With d the damping factor, PR_0(v) = 1/n and\n"
      "      PR_t+1(v) = (1-d)/n + d * (sum over edges u->v of PR_t(u)/outdeg(u)\n"
      "                                 + D_t/n)\n"
      "    where D_t is the rank of the vertices with no out-edges (dangling), so\n"
      "    the ranks always add up to 1. Duplicate edges count as often as they\n"
      "    occur, self-loops like any edge. Iteration stops when the L1 change\n"
      "    sum |PR_t+1(v) - PR_t(v)| is below the tolerance, or after the maximum\n"
      "    number of iterations.\n"
      "\n"
      "    The graph and the ranks stay in memory between iterations (an mpimr\n"
      "    dataset): one job builds each vertex's adjacency list, each iteration is\n"
      "    one job over it, and a last job writes the ranks.\n"
      "\n"
      "OUTPUT\n"
      "    OUTDIR/part-00000 ... one file per rank, lines 'VERTEX<TAB>RANK' with the\n"
      "    vertex in decimal and its rank printed with %%.17g (enough digits to\n"
      "    read back the same double), in bytewise order of the vertex text within\n"
      "    each part, every vertex 0 .. n-1 exactly once; OUTDIR/_SUCCESS once every\n"
      "    part is complete. Rank 0 prints the size of the graph, the number of\n"
      "    iterations and the last L1 change on stderr (unless -q).\n"
      "\n"
      "OPTIONS\n"
      "    -o, --output DIR          output directory (required)\n"
      "    -f, --overwrite           replace the results in an existing DIR\n"
      "        --damping D           damping factor d (default 0.85; 0..1)\n"
      "        --tolerance T         stop when the L1 change is below T (default 1e-8;\n"
      "                              0 runs every iteration)\n"
      "        --max-iterations K    at most K iterations (default 100; 1..1000000)\n"
      "        --vertices N          the graph has vertices 0 .. N-1 (1..2^63); an\n"
      "                              edge with an id of N or more fails the job\n"
      "        --rmat-scale N        no INPUT: use the R-MAT graph on 2^N vertices\n"
      "                              (1..40), made as mpimr-rmat makes it\n"
      "        --edge-factor E       with --rmat-scale: E * 2^N edges (default 16)\n"
      "    -a P, -b P, -c P          with --rmat-scale: the quadrant probabilities\n"
      "                              (defaults 0.57, 0.19, 0.19)\n"
      "        --seed S              with --rmat-scale: the generator's seed (default 1)\n"
      "%s"
      "                              (--stats and --trace describe the first\n"
      "                              iteration's job; --global-order applies to the\n"
      "                              job that writes the ranks)\n"
      "    -q, --quiet               print nothing on success\n"
      "    -v, --verbose             report settings, core binding and every\n"
      "                              iteration's L1 change\n"
      "    -h, --help                show this text\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success (also when the tolerance was not reached), 1 if a job\n"
      "    failed (every rank stops; the rank that failed prints the cause), 64 for\n"
      "    a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 4 mpimr-rmat --scale 16 -o graph\n"
      "    mpirun -np 4 mpimr-pagerank -o ranks graph\n"
      "    sort -t$'\\t' -k2,2gr ranks/part-* | head         # the top vertices\n"
      "    mpirun -np 4 mpimr-pagerank -o ranks --rmat-scale 16 --tolerance 1e-10\n",
      JOB_CLI_HELP);
}

/* Everything the callbacks share: the settings, and each rank's part of the sums. */
typedef struct pagerank {
  /* Settings. */
  job_cli cli;           /* the shared options; cli.job is the template of every job */
  rmat_params graph;     /* --rmat-scale and the generator's options */
  int rmat_option_given; /* a generator option appeared (they need --rmat-scale) */
  uint64_t vertices;     /* --vertices, or 0 */
  double damping;
  double tolerance;
  int max_iterations;

  /* The build job. */
  uint64_t id_bound; /* the largest id this rank saw + 1, or 0 */

  /* The iterations. */
  uint64_t vertex_count; /* n */
  double initial_rank;   /* 1/n */
  int first_iteration;   /* stored ranks are not set yet: read them as 1/n */
  double dangling;       /* D_t: the rank of the dangling vertices, over all ranks */
  double change;         /* this rank's part of the L1 change */
  double next_dangling;  /* this rank's part of D_t+1 */
  double rank_sum;       /* this rank's part of the sum of the new ranks */
  unsigned char *record; /* the vertex record being rewritten */
  size_t record_capacity;
  mpimr_pin_report pinning; /* the first job's binding, which the later ones reuse */
} pagerank;

/* ---- Reading edges ------------------------------------------------------- */

static int is_blank(unsigned char c) { return c == ' ' || c == '\t'; }

/* Reads a decimal vertex id at line[*at]. Returns NULL and moves *at past it, or what is wrong. */
static const char *parse_vertex(const unsigned char *line, size_t length, size_t *at, uint64_t *id) {
  size_t i = *at;
  if (i >= length || line[i] < '0' || line[i] > '9') return "a vertex id is not a decimal number";
  uint64_t value = 0;
  for (; i < length && line[i] >= '0' && line[i] <= '9'; i++) {
    value = value * 10 + (uint64_t)(line[i] - '0');
    if (value >= VERTEX_ID_LIMIT) return "a vertex id is 2^63 or more";
  }
  if (i < length && !is_blank(line[i])) return "a vertex id is not a decimal number";
  *at = i;
  *id = value;
  return NULL;
}

/*
 * Parses one line of an edge list. Returns 1 with the edge, 0 for a line to skip (blank, or a
 * comment), or -1 with `*problem` saying what is wrong.
 */
static int parse_edge(const unsigned char *line, size_t length, uint64_t *source, uint64_t *destination,
                      const char **problem) {
  size_t at = 0;
  while (at < length && is_blank(line[at])) at++;
  if (at == length || line[at] == '#' || line[at] == '%') return 0;
  if ((*problem = parse_vertex(line, length, &at, source)) != NULL) return -1;
  while (at < length && is_blank(line[at])) at++;
  if (at == length) {
    *problem = "the line has one vertex id, not two ('SRC DST')";
    return -1;
  }
  if ((*problem = parse_vertex(line, length, &at, destination)) != NULL) return -1;
  while (at < length && is_blank(line[at])) at++;
  if (at != length) {
    *problem = "the line has more than two fields ('SRC DST')";
    return -1;
  }
  return 1;
}

/* Emits one edge as (source, destination), both 8-byte keys, after checking it against --vertices. */
static int emit_edge(pagerank *pr, uint64_t source, uint64_t destination, mpimr_emitter *out) {
  uint64_t larger = source > destination ? source : destination;
  if (pr->vertices != 0 && larger >= pr->vertices)
    return mpimr_fail(out, "vertex %llu is not below --vertices %llu", (unsigned long long)larger,
                      (unsigned long long)pr->vertices);
  if (larger + 1 > pr->id_bound) pr->id_bound = larger + 1;
  unsigned char key[8], value[8];
  mpimr_put_u64(key, source);
  mpimr_put_u64(value, destination);
  return mpimr_emit(out, key, sizeof key, value, sizeof value);
}

/* The build job's map over files: each line's edge. */
static int map_edge_line(void *user, const void *record, size_t length, mpimr_emitter *out) {
  uint64_t source, destination;
  const char *problem = NULL;
  int parsed = parse_edge(record, length, &source, &destination, &problem);
  if (parsed < 0) return mpimr_fail(out, "malformed edge line: %s", problem);
  if (parsed == 0) return 0;
  return emit_edge(user, source, destination, out);
}

/* The build job's map over the R-MAT edge numbers. */
static int map_rmat_edge(void *user, uint64_t index, mpimr_emitter *out) {
  pagerank *pr = user;
  uint64_t source, destination;
  rmat_edge(&pr->graph, index, &source, &destination);
  return emit_edge(pr, source, destination, out);
}

/* Makes room for a record of `length` bytes in pr->record. Returns 0, or -1 if out of memory. */
static int reserve_record(pagerank *pr, size_t length) {
  if (length <= pr->record_capacity) return 0;
  size_t capacity = pr->record_capacity ? pr->record_capacity : 256;
  while (capacity < length) capacity *= 2;
  unsigned char *grown = realloc(pr->record, capacity);
  if (grown == NULL) return -1;
  pr->record = grown;
  pr->record_capacity = capacity;
  return 0;
}

/* The build job's reducer: a source's destinations as its record, with rank 0 (not set yet). */
static int reduce_adjacency(void *user, const void *key, size_t key_len, mpimr_values *values,
                            mpimr_emitter *out) {
  pagerank *pr = user;
  size_t degree = mpimr_values_count(values);
  size_t length = RECORD_HEADER_BYTES + 8 * degree;
  if (reserve_record(pr, length) != 0)
    return mpimr_fail(out, "out of memory for a record of %zu out-edges", degree);
  mpimr_put_f64(pr->record, 0.0);
  mpimr_put_u64(pr->record + 8, degree);
  size_t filled = 0;
  const void *value;
  size_t value_len;
  while (mpimr_values_next(values, &value, &value_len)) {
    if (value_len != 8 || filled == degree)
      return mpimr_fail(out, "corrupt edge value of %zu bytes", value_len);
    memcpy(pr->record + RECORD_HEADER_BYTES + 8 * filled++, value, 8);
  }
  return mpimr_emit(out, key, key_len, pr->record, length);
}

/* ---- One iteration --------------------------------------------------------- */

/* Checks a record's layout. Returns its outdegree, or -1 if it is malformed. */
static long long record_degree(const void *record, size_t length) {
  if (length < RECORD_HEADER_BYTES || (length - RECORD_HEADER_BYTES) % 8 != 0) return -1;
  uint64_t degree = mpimr_get_u64((const unsigned char *)record + 8);
  if (degree != (length - RECORD_HEADER_BYTES) / 8) return -1;
  return (long long)degree;
}

/* The iteration's map: a vertex's contribution to each destination, and its record (or marker). */
static int map_vertex(void *user, const void *key, size_t key_len, const void *value, size_t value_len,
                      mpimr_emitter *out) {
  const pagerank *pr = user;
  if (key_len != 8) return mpimr_fail(out, "corrupt dataset: a key of %zu bytes", key_len);
  if (value_len == 0) return mpimr_emit(out, key, key_len, "", 0); /* a vertex without a record yet */
  long long degree = record_degree(value, value_len);
  if (degree < 0) return mpimr_fail(out, "corrupt dataset: a vertex record of %zu bytes", value_len);
  const unsigned char *record = value;
  double rank = pr->first_iteration ? pr->initial_rank : mpimr_get_f64(record);
  unsigned char share[8];
  if (degree > 0) mpimr_put_f64(share, rank / (double)degree);
  for (long long i = 0; i < degree; i++) {
    /* A destination is stored as it is keyed: 8 little-endian bytes. */
    int rc = mpimr_emit(out, record + RECORD_HEADER_BYTES + 8 * i, 8, share, sizeof share);
    if (rc != MPIMR_OK) return rc;
  }
  return mpimr_emit(out, key, key_len, value, value_len);
}

/* The iteration's reducer: the vertex's new rank, written into its record. */
static int reduce_vertex(void *user, const void *key, size_t key_len, mpimr_values *values,
                         mpimr_emitter *out) {
  pagerank *pr = user;
  double incoming = 0;
  size_t record_len = 0;
  const void *value;
  size_t value_len;
  while (mpimr_values_next(values, &value, &value_len)) {
    if (value_len == 8) {
      incoming += mpimr_get_f64(value);
    } else if (value_len >= RECORD_HEADER_BYTES) {
      if (record_len != 0) return mpimr_fail(out, "two records for one vertex");
      if (reserve_record(pr, value_len) != 0)
        return mpimr_fail(out, "out of memory for a record of %zu bytes", value_len);
      memcpy(pr->record, value, value_len);
      record_len = value_len;
    } else if (value_len != 0) {
      return mpimr_fail(out, "corrupt value of %zu bytes", value_len);
    }
  }
  if (record_len == 0) {
    /* Only the first iteration sees vertices with no out-edges and so no record: make theirs. */
    if (!pr->first_iteration) return mpimr_fail(out, "a vertex lost its record");
    if (reserve_record(pr, RECORD_HEADER_BYTES) != 0) return mpimr_fail(out, "out of memory");
    mpimr_put_u64(pr->record + 8, 0);
    record_len = RECORD_HEADER_BYTES;
  }
  double old_rank = pr->first_iteration ? pr->initial_rank : mpimr_get_f64(pr->record);
  double n = (double)pr->vertex_count;
  double new_rank = (1 - pr->damping) / n + pr->damping * (incoming + pr->dangling / n);
  mpimr_put_f64(pr->record, new_rank);
  pr->change += fabs(new_rank - old_rank);
  pr->rank_sum += new_rank;
  if (record_len == RECORD_HEADER_BYTES) pr->next_dangling += new_rank;
  return mpimr_emit(out, key, key_len, pr->record, record_len);
}

/* ---- Writing the ranks ------------------------------------------------------- */

/* The output job's map: 'VERTEX' as the key, the rank (f64) as the value. */
static int map_output(void *user, const void *key, size_t key_len, const void *value, size_t value_len,
                      mpimr_emitter *out) {
  (void)user;
  if (key_len != 8 || record_degree(value, value_len) < 0)
    return mpimr_fail(out, "corrupt dataset: a pair of %zu and %zu bytes", key_len, value_len);
  char vertex[24];
  int length = snprintf(vertex, sizeof vertex, "%llu", (unsigned long long)mpimr_get_u64(key));
  return mpimr_emit(out, vertex, (size_t)length, value, 8);
}

static long long format_rank(void *user, const void *value, size_t value_len, char *buf, size_t cap) {
  (void)user;
  if (value_len != 8) return -1;
  /* Not snprintf into buf: a text of exactly cap bytes would lose its last one to the NUL. */
  char text[40];
  int length = snprintf(text, sizeof text, "%.17g", mpimr_get_f64(value));
  if (length > 0 && (size_t)length <= cap) memcpy(buf, text, (size_t)length);
  return length;
}

/* ---- Running the jobs ------------------------------------------------------- */

/* A job's configuration: the shared options' settings, nothing else. */
static mpimr_job_config job_config(pagerank *pr) {
  mpimr_job_config config = pr->cli.job;
  config.user = pr;
  config.inputs = NULL;
  config.input_count = 0;
  config.key_order = MPIMR_KEY_ORDER_PART;
  config.output_dir = NULL;
  config.overwrite = 0;
  config.verbose = 0;
  config.trace_path = NULL;
  return config;
}

/* Rank 0 prints a failure that every rank agreed on; returns 1. */
static int fail_all(int rank, const char *message) {
  if (rank == 0) fprintf(stderr, "%s: %s\n", PROGRAM, message);
  return 1;
}

/*
 * The build job, then the markers of every vertex id: leaves a record for every vertex with
 * out-edges and one empty value per vertex in `adjacency`, and sets n, 1/n and D_0.
 */
static int build_graph(pagerank *pr, mpimr_dataset *adjacency, int rank, int ranks, uint64_t *edges) {
  mpimr_job_config config = job_config(pr);
  if (pr->graph.scale != 0) {
    config.map_index = map_rmat_edge;
    config.index_count = rmat_edge_count(&pr->graph);
  } else {
    config.map_record = map_edge_line;
    config.inputs = pr->cli.job.inputs;
    config.input_count = pr->cli.job.input_count;
  }
  config.reduce = reduce_adjacency;
  config.reduce_in_order = 1; /* it emits only the key it was called for */
  config.output_dataset = adjacency;
  config.verbose = pr->cli.job.verbose;
  if (job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &pr->pinning) != MPIMR_OK) return 1;

  uint64_t id_bound = pr->id_bound;
  MPI_Allreduce(MPI_IN_PLACE, &id_bound, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  pr->vertex_count = pr->vertices != 0      ? pr->vertices
                     : pr->graph.scale != 0 ? rmat_vertex_count(&pr->graph)
                                            : id_bound;
  if (pr->vertex_count == 0) return fail_all(rank, "the graph has no vertices (no edges, and no --vertices)");
  pr->initial_rank = 1.0 / (double)pr->vertex_count;

  /* The edges are the records' outdegrees; the vertices without a record are dangling. */
  uint64_t counts[2] = {0, mpimr_dataset_local_count(adjacency)};
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *key, *value;
  size_t key_len, value_len;
  while (mpimr_dataset_next(adjacency, &at, &key, &key_len, &value, &value_len))
    counts[0] += mpimr_get_u64((const unsigned char *)value + 8);
  MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  *edges = counts[0];
  pr->dangling = (double)(pr->vertex_count - counts[1]) * pr->initial_rank;

  /* This rank's share of the ids, [first, last), each as a key with an empty value (given as "",
   * not NULL: the library copies values with memcpy, which must not get NULL even for 0 bytes). */
  uint64_t share = pr->vertex_count / (uint64_t)ranks, extra = pr->vertex_count % (uint64_t)ranks;
  uint64_t first = share * (uint64_t)rank + ((uint64_t)rank < extra ? (uint64_t)rank : extra);
  uint64_t last = first + share + ((uint64_t)rank < extra ? 1 : 0);
  int rc = MPIMR_OK;
  for (uint64_t v = first; v < last && rc == MPIMR_OK; v++) {
    unsigned char id[8];
    mpimr_put_u64(id, v);
    rc = mpimr_dataset_add(adjacency, id, sizeof id, "", 0);
  }
  int failed = rc != MPIMR_OK;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (failed) return fail_all(rank, "out of memory for the list of vertices");
  return 0;
}

/* Runs the iterations. Returns 0 or 1. */
static int iterate(pagerank *pr, mpimr_dataset *adjacency, int rank, int *iterations, double *change) {
  pr->first_iteration = 1;
  for (int t = 1; t <= pr->max_iterations; t++) {
    mpimr_job_config config = job_config(pr);
    config.map_pair = map_vertex;
    config.input_dataset = adjacency;
    config.output_dataset = adjacency;
    config.reduce = reduce_vertex;
    config.reduce_in_order = 1;
    if (t == 1) config.trace_path = pr->cli.job.trace_path;
    pr->change = pr->next_dangling = pr->rank_sum = 0;
    if (job_cli_run_pinned(&config, PROGRAM, NULL, t == 1 ? pr->cli.stats_path : NULL, &pr->pinning) != MPIMR_OK) return 1;
    double sums[3] = {pr->change, pr->next_dangling, pr->rank_sum};
    MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    pr->first_iteration = 0;
    pr->dangling = sums[1];
    *iterations = t;
    *change = sums[0];
    if (pr->cli.job.verbose && rank == 0)
      fprintf(stderr, "%s: iteration %d: L1 change %.6g, rank sum %.17g\n", PROGRAM, t, sums[0], sums[2]);
    if (sums[0] < pr->tolerance) break;
  }
  return 0;
}

/* Writes 'VERTEX<TAB>RANK' lines into the output directory. Returns 0 or 1. */
static int write_ranks(pagerank *pr, mpimr_dataset *adjacency) {
  mpimr_job_config config = job_config(pr);
  config.map_pair = map_output;
  config.input_dataset = adjacency;
  config.output_dir = pr->cli.job.output_dir;
  config.overwrite = pr->cli.job.overwrite;
  config.output_format = MPIMR_OUTPUT_TEXT;
  config.format_value = format_rank;
  config.key_order = pr->cli.job.key_order;
  return job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &pr->pinning) == MPIMR_OK ? 0 : 1;
}

/* ---- Options ------------------------------------------------------------------ */

enum option_ids {
  OPT_DAMPING = 256,
  OPT_TOLERANCE,
  OPT_MAX_ITERATIONS,
  OPT_VERTICES,
  OPT_RMAT_SCALE,
};

/* Applies one of the program's own options. Returns 0, or CLI_EXIT_USAGE after reporting. */
static int apply_option(pagerank *pr, int option, const char *value, int rank) {
  int scale;
  switch (option) {
    case OPT_DAMPING:
      if (cli_parse_double(value, 0, 1, &pr->damping) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--damping must be a number from 0 to 1, not '%s'", value);
      return CLI_EXIT_USAGE;
    case OPT_TOLERANCE:
      if (cli_parse_double(value, 0, 1e300, &pr->tolerance) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--tolerance must be a number of at least 0, not '%s'", value);
      return CLI_EXIT_USAGE;
    case OPT_MAX_ITERATIONS:
      if (cli_parse_int(value, 1, MAX_ITERATIONS_LIMIT, &pr->max_iterations) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--max-iterations must be an integer from 1 to %d, not '%s'",
                      MAX_ITERATIONS_LIMIT, value);
      return CLI_EXIT_USAGE;
    case OPT_VERTICES:
      if (cli_parse_u64(value, 1, VERTEX_ID_LIMIT, &pr->vertices) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--vertices must be an integer from 1 to 2^63, not '%s'", value);
      return CLI_EXIT_USAGE;
    case OPT_RMAT_SCALE:
      if (cli_parse_int(value, 1, RMAT_SCALE_MAX, &scale) == 0) {
        pr->graph.scale = (unsigned)scale;
        return 0;
      }
      cli_usage_error(rank, PROGRAM, "--rmat-scale must be an integer from 1 to %d, not '%s'", RMAT_SCALE_MAX,
                      value);
      return CLI_EXIT_USAGE;
    default: pr->rmat_option_given = 1; return rmat_apply_option(&pr->graph, option, value, rank, PROGRAM);
  }
}

/* Returns 0, or CLI_EXIT_USAGE after reporting the problem on rank 0. */
static int parse_options(int argc, char **argv, int rank, pagerank *pr) {
  static const struct option long_options[] = {
      JOB_CLI_COMMON_LONG_OPTIONS,
      {"damping", required_argument, NULL, OPT_DAMPING},
      {"tolerance", required_argument, NULL, OPT_TOLERANCE},
      {"max-iterations", required_argument, NULL, OPT_MAX_ITERATIONS},
      {"vertices", required_argument, NULL, OPT_VERTICES},
      {"rmat-scale", required_argument, NULL, OPT_RMAT_SCALE},
      RMAT_LONG_OPTIONS,
      JOB_CLI_LONG_OPTIONS,
      {NULL, 0, NULL, 0}};
  mpimr_job_config_init(&pr->cli.job);
  rmat_params_init(&pr->graph);
  pr->damping = DEFAULT_DAMPING;
  pr->tolerance = DEFAULT_TOLERANCE;
  pr->max_iterations = DEFAULT_MAX_ITERATIONS;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, JOB_CLI_SHORT_OPTIONS "a:b:c:", long_options, NULL)) != -1) {
    int status;
    if ((c >= OPT_DAMPING && c <= OPT_RMAT_SCALE) || c == 'a' || c == 'b' || c == 'c' ||
        c == RMAT_OPT_EDGE_FACTOR || c == RMAT_OPT_SEED)
      status = apply_option(pr, c, optarg, rank);
    else
      status = job_cli_option(&pr->cli, c, optarg, argv, rank, PROGRAM);
    if (status != 0 || pr->cli.help) return status;
  }
  if (pr->graph.scale != 0) {
    if (optind < argc) {
      cli_usage_error(rank, PROGRAM, "--rmat-scale makes the graph: no INPUT '%s' wanted", argv[optind]);
      return CLI_EXIT_USAGE;
    }
    const char *problem = rmat_params_check(&pr->graph);
    if (problem != NULL) {
      cli_usage_error(rank, PROGRAM, "%s", problem);
      return CLI_EXIT_USAGE;
    }
  } else {
    if (pr->rmat_option_given) {
      cli_usage_error(rank, PROGRAM, "--edge-factor, --seed, -a, -b and -c need --rmat-scale");
      return CLI_EXIT_USAGE;
    }
    pr->cli.job.inputs = (const char *const *)(argv + optind);
    pr->cli.job.input_count = argc - optind;
    if (pr->cli.job.input_count == 0) {
      cli_usage_error(rank, PROGRAM, "no INPUT files or directories given (nor --rmat-scale)");
      return CLI_EXIT_USAGE;
    }
  }
  if (pr->cli.job.output_dir == NULL) {
    cli_usage_error(rank, PROGRAM, "-o OUTDIR is required");
    return CLI_EXIT_USAGE;
  }
  return 0;
}

/* Builds the graph, iterates, writes the ranks. Returns the exit status. */
static int run_pagerank(pagerank *pr, int rank, int ranks) {
  mpimr_dataset *adjacency = NULL;
  int rc = mpimr_dataset_create(&adjacency);
  int failed = rc != MPIMR_OK;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (failed) {
    mpimr_dataset_free(adjacency);
    return fail_all(rank, "out of memory");
  }
  uint64_t edges = 0;
  int iterations = 0;
  double change = 0;
  int status = build_graph(pr, adjacency, rank, ranks, &edges);
  if (status == 0) status = iterate(pr, adjacency, rank, &iterations, &change);
  if (status == 0) status = write_ranks(pr, adjacency);
  if (status == 0 && !pr->cli.quiet && rank == 0)
    fprintf(stderr, "%s: %llu vertices, %llu edges: %d iterations, last L1 change %.6g (%s)\n", PROGRAM,
            (unsigned long long)pr->vertex_count, (unsigned long long)edges, iterations, change,
            change < pr->tolerance ? "converged" : "stopped at --max-iterations");
  mpimr_dataset_free(adjacency);
  return status;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  mpimr_signals_catch(); /* SIGINT and SIGTERM fail the running job cleanly (mpimr/signals.h) */
  int rank, ranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  pagerank pr;
  memset(&pr, 0, sizeof pr);
  int status = parse_options(argc, argv, rank, &pr);
  if (status == 0 && pr.cli.help) {
    if (rank == 0) print_help();
  } else if (status == 0) {
    pr.cli.job.user = &pr;
    status = run_pagerank(&pr, rank, ranks);
    free(pr.record);
  }
  MPI_Finalize();
  return status;
}
