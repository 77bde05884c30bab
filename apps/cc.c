/*
 * apps/cc.c — mpimr-cc: connected components of an undirected graph by label propagation.
 *
 * The graph stays in memory as a dataset: one pair per vertex, the vertex as
 * an 8-byte little-endian key and, as the value, its label, a flag saying
 * whether the label changed in the last step, and its neighbours. A first job
 * builds it from the edge list; then each step is one job that maps the
 * dataset and writes the next one in its place: every vertex sends its
 * record to itself and, if its label changed, the label to its neighbours; a
 * combiner keeps the smallest label sent, so the reducer sees one value per
 * vertex and lowers the label if a neighbour's is smaller. The steps stop
 * when no label changes; every vertex is then labelled with the smallest
 * vertex of its component.
 *
 * The edges come from edge-list files (map_record), or from one METIS or
 * MatrixMarket file read in chunks (graph_files.h, map_index over the
 * chunks), whose header's vertex count acts as --vertices.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graph_files.h"
#include "iter_cli.h"
#include "job_cli.h"
#include "mpimr/mpimr.h"

static const char *const PROGRAM = "mpimr-cc";

#define DEFAULT_MAX_ITERATIONS 1000
/* A vertex record: label, flags, then 8 bytes per neighbour. */
#define RECORD_HEADER 16
/* Its flags: the label changed in the last step (or the vertex is new), so the neighbours need it. */
#define FLAG_CHANGED 1u

static void print_help(void) {
  printf(
      "NAME\n"
      "    mpimr-cc - connected components of a graph with MapReduce over MPI\n"
      "\n"
      "SYNOPSIS\n"
      "    mpirun -np P mpimr-cc -o OUTDIR [OPTIONS] INPUT...\n"
      "    mpirun -np P mpimr-cc -o OUTDIR [OPTIONS] GRAPH.graph | MATRIX.mtx\n"
      "\n"
      "DESCRIPTION\n"
      "    Finds the connected components of the undirected graph whose edges are\n"
      "    listed in the INPUT files and directories (read recursively in name order,\n"
      "    hidden files skipped). Each line is one edge 'SRC DST': two vertex ids,\n"
      "    decimal integers from 0 to 2^64-1, separated by spaces or TABs. Lines that\n"
      "    are empty or blank, and lines whose first non-blank character is '#' or\n"
      "    '%%', are skipped; any other line (a missing or third field, a sign, a\n"
      "    number too large) fails the run, naming the file and the byte offset of\n"
      "    the line. Self-loops and repeated edges are allowed. The vertices are those\n"
      "    that occur in an edge, and with --vertices N also 0..N-1.\n"
      "\n"
      "    Or the INPUT is one METIS graph file (--format metis, the default for a\n"
      "    name ending in .graph or .metis: a header 'n m [fmt [ncon]]', then line i\n"
      "    lists the neighbours of vertex i, weights as fmt says ignored) or one\n"
      "    MatrixMarket coordinate file (--format mtx, the default for *.mtx or a\n"
      "    file starting with the banner: entry 'i j [value]' is an edge, values\n"
      "    ignored). Their vertices are 1..n in the file and 0..n-1 in the output,\n"
      "    every one of them, with or without edges; a malformed line fails the run\n"
      "    naming the file and byte offset, as does an edge count that does not\n"
      "    match the header. A directed graph's edges count as undirected: the\n"
      "    components are the weakly connected ones.\n"
      "\n"
      "    Label propagation: every vertex starts with its own id as its label; in\n"
      "    each iteration every vertex takes the smallest label among its own and\n"
      "    its neighbours'. When an iteration changes no label, every vertex holds\n"
      "    the smallest id of its component. That takes one iteration more than the\n"
      "    longest distance from a component's smallest vertex to another of its\n"
      "    vertices. The graph stays in memory; each iteration is one MapReduce job\n"
      "    in which only the vertices whose label changed send it on.\n"
      "\n"
      "OUTPUT\n"
      "    OUTDIR/part-00000 ... lines 'VERTEX<TAB>COMPONENT', every vertex once,\n"
      "    COMPONENT being the smallest vertex id of its component; each part is in\n"
      "    increasing vertex order. OUTDIR/_SUCCESS once every part is complete.\n"
      "    Unless -q, rank 0 prints the numbers of vertices, components and\n"
      "    iterations on stderr.\n"
      "\n"
      "OPTIONS\n"
      "    -o, --output DIR          output directory (required)\n"
      "    -f, --overwrite           replace the results in an existing DIR\n"
      "        --format F            auto (default), edges, metis or mtx (see above)\n"
      "        --vertices N          also take vertices 0..N-1, with or without edges\n"
      "                              (default 0: only vertices in edges; 0..2^62)\n"
      "        --max-iterations N    fail if labels still change after N iterations\n"
      "                              (default 1000; 1..1000000000)\n"
      "%s"
      "    -q, --quiet               do not print the summary\n"
      "    -v, --verbose             report settings, core binding and every iteration\n"
      "    -h, --help                show this text\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success, 1 if a job failed (the rank that failed prints the cause) or\n"
      "    the labels did not settle within --max-iterations (nothing is written),\n"
      "    64 for a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 4 mpimr-cc -o components edges/\n"
      "    cut -f2 components/part-* | sort | uniq -c | sort -nr | head   # largest\n"
      "    mpirun -np 2 mpimr-cc -o components --vertices 1000000 graph.txt\n"
      "    mpirun -np 2 mpimr-cc -o components /usr/share/doc/libmetis-dev/examples/graphs/4elt.graph\n",
      ITER_CLI_TUNING_HELP);
}

/* What the options ask for. */
typedef struct options {
  job_cli cli; /* tuning, -o, -f, -q, -v */
  uint64_t vertices;
  int max_iterations;
  int format; /* -1 auto, 0 edges, or a graph_file_format */
} options;

/* The state every callback sees. */
typedef struct cc {
  uint64_t vertices;    /* --vertices N */
  uint64_t changed;     /* labels this rank's reducer lowered in this step */
  int jobs;             /* jobs configured so far */
  unsigned char *value; /* a vertex record being built */
  size_t value_capacity;
  mpimr_pin_report pinning; /* the first job's binding, which the later ones reuse */
  mpimr_workspace *workspace; /* what one job leaves set up for the next (communicator, shuffle) */
  graph_file file;          /* a METIS or MatrixMarket INPUT while the first job reads it */
  int edges_listed_twice;   /* the file gives every edge from both ends (METIS, symmetric MatrixMarket) */
  uint64_t file_entries;    /* the entries this rank read from it */
} cc;

/* Makes cc->value hold at least `bytes`. Returns 0 or -1. */
static int reserve_value(cc *g, size_t bytes) {
  if (bytes <= g->value_capacity) return 0;
  size_t capacity = g->value_capacity ? g->value_capacity : 256;
  while (capacity < bytes) capacity *= 2;
  unsigned char *grown = realloc(g->value, capacity);
  if (grown == NULL) return -1;
  g->value = grown;
  g->value_capacity = capacity;
  return 0;
}

/* ---- Building the graph ---- */

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* Copies at most 40 bytes of text into `shown`, printable ASCII kept and anything else as '?'. */
static void show_text(const char *text, size_t length, char shown[48]) {
  size_t n = length < 40 ? length : 40;
  for (size_t i = 0; i < n; i++) shown[i] = text[i] >= ' ' && text[i] <= '~' ? text[i] : '?';
  strcpy(shown + n, length > 40 ? "..." : "");
}

/* Reads a vertex id at line[*at], a run of digits ending at a blank or the end. Returns 0, or fails the job.
 */
static int parse_vertex(const char *line, size_t length, size_t *at, uint64_t *vertex, mpimr_emitter *out) {
  size_t start = *at;
  while (*at < length && !is_blank(line[*at])) (*at)++;
  char shown[48];
  show_text(line + start, *at - start, shown);
  uint64_t v = 0;
  for (size_t i = start; i < *at; i++) {
    if (line[i] < '0' || line[i] > '9')
      return mpimr_fail(out, "'%s' is not a vertex id (a decimal integer)", shown);
    unsigned digit = (unsigned)(line[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return mpimr_fail(out, "vertex id '%s' is larger than 2^64-1", shown);
    v = v * 10 + digit;
  }
  *vertex = v;
  return 0;
}

/* The first job's map function: an edge 'SRC DST', emitted both ways (a self-loop once, which
 * still makes its vertex). */
static int map_edge(void *user, const void *record, size_t length, mpimr_emitter *out) {
  (void)user;
  const char *line = record;
  size_t at = 0;
  while (at < length && is_blank(line[at])) at++;
  if (at == length || line[at] == '#' || line[at] == '%') return 0;
  uint64_t source = 0, target = 0;
  int rc = parse_vertex(line, length, &at, &source, out);
  if (rc != 0) return rc;
  while (at < length && is_blank(line[at])) at++;
  if (at == length) return mpimr_fail(out, "an edge needs two vertex ids ('SRC DST'), this line has one");
  rc = parse_vertex(line, length, &at, &target, out);
  if (rc != 0) return rc;
  while (at < length && is_blank(line[at])) at++;
  if (at != length) return mpimr_fail(out, "more than two fields on an edge line ('SRC DST')");
  unsigned char from[8], to[8];
  mpimr_put_u64(from, source);
  mpimr_put_u64(to, target);
  rc = mpimr_emit(out, from, sizeof from, to, sizeof to);
  if (rc == MPIMR_OK && source != target) rc = mpimr_emit(out, to, sizeof to, from, sizeof from);
  return rc;
}

/* An edge of a METIS or MatrixMarket file: both ways, unless the file already lists it from both ends. */
static int file_edge(void *user, uint64_t source, uint64_t target, mpimr_emitter *out) {
  const cc *g = user;
  unsigned char from[8], to[8];
  mpimr_put_u64(from, source);
  mpimr_put_u64(to, target);
  int rc = mpimr_emit(out, from, sizeof from, to, sizeof to);
  if (rc == MPIMR_OK && source != target && !g->edges_listed_twice) rc = mpimr_emit(out, to, sizeof to, from, sizeof from);
  return rc;
}

/* The first job's map over the chunks of a METIS or MatrixMarket file. */
static int map_file_chunk(void *user, uint64_t chunk, mpimr_emitter *out) {
  cc *g = user;
  return graph_file_map_chunk(&g->file, chunk, file_edge, NULL, g, &g->file_entries, out);
}

/* The vertices 0..N-1 of --vertices N go to ranks in blocks of this many, the rest by hash. */
static uint64_t vertex_block(uint64_t vertices, int nranks) {
  return vertices / (uint64_t)nranks + (vertices % (uint64_t)nranks != 0);
}

/* The first job's partitioner: so that each rank knows which of 0..N-1 it should hold. */
static int partition_vertex(void *user, const void *key, size_t key_len, uint64_t hash, int nranks) {
  const cc *g = user;
  uint64_t v = key_len == 8 ? mpimr_get_u64(key) : UINT64_MAX;
  if (v < g->vertices) return (int)(v / vertex_block(g->vertices, nranks));
  return (int)(hash % (uint64_t)nranks);
}

/* The first job's reducer: a vertex record with its own id as the label and its distinct
 * neighbours (which arrive in bytewise order, so repeats are next to each other), itself left out. */
static int reduce_vertex(void *user, const void *key, size_t key_len, mpimr_values *values,
                         mpimr_emitter *out) {
  cc *g = user;
  if (key_len != 8) return mpimr_fail(out, "internal error: a vertex key of %zu bytes", key_len);
  size_t count = mpimr_values_count(values);
  if (count > (MPIMR_MAX_PAIR_BYTES - RECORD_HEADER - 64) / 8)
    return mpimr_fail(out, "a vertex with more than %zu neighbours",
                      (MPIMR_MAX_PAIR_BYTES - RECORD_HEADER - 64) / 8);
  if (reserve_value(g, RECORD_HEADER + 8 * count) != 0)
    return mpimr_fail(out, "out of memory for a vertex with %zu edges", count);
  memcpy(g->value, key, 8);
  mpimr_put_u64(g->value + 8, FLAG_CHANGED);
  size_t length = RECORD_HEADER;
  const void *value;
  size_t value_len;
  while (mpimr_values_next(values, &value, &value_len)) {
    if (value_len != 8) return mpimr_fail(out, "internal error: a neighbour of %zu bytes", value_len);
    if (memcmp(value, key, 8) == 0) continue;
    if (length > RECORD_HEADER && memcmp(value, g->value + length - 8, 8) == 0) continue;
    memcpy(g->value + length, value, 8);
    length += 8;
  }
  return mpimr_emit(out, key, key_len, g->value, length);
}

/*
 * Adds the vertices of --vertices N that no edge named: rank r holds block r of 0..N-1 (the
 * first job sent them there), so it adds those of its block that are not in its share yet.
 * Returns 0, or 1 on every rank (reported).
 */
static int add_isolated_vertices(cc *g, mpimr_dataset *graph, int rank, int nranks) {
  uint64_t block = vertex_block(g->vertices, nranks), first = block * (uint64_t)rank;
  uint64_t end = first + block < g->vertices ? first + block : g->vertices;
  if (first > end) first = end;
  unsigned char *seen = calloc((size_t)((end - first + 7) / 8 + 1), 1);
  if (!iter_cli_all_ok(seen != NULL) || seen == NULL) {
    if (seen == NULL) fprintf(stderr, "%s: rank %d: out of memory for --vertices\n", PROGRAM, rank);
    free(seen);
    return 1;
  }
  mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
  const void *key, *value;
  size_t key_len, value_len;
  while (mpimr_dataset_next(graph, &at, &key, &key_len, &value, &value_len)) {
    uint64_t v = mpimr_get_u64(key);
    if (v >= first && v < end) seen[(v - first) / 8] |= (unsigned char)(1u << ((v - first) % 8));
  }
  int rc = MPIMR_OK;
  unsigned char record[RECORD_HEADER], id[8];
  for (uint64_t v = first; v < end && rc == MPIMR_OK; v++) {
    if (seen[(v - first) / 8] & (1u << ((v - first) % 8))) continue;
    mpimr_put_u64(id, v);
    mpimr_put_u64(record, v);
    mpimr_put_u64(record + 8, FLAG_CHANGED);
    rc = mpimr_dataset_add(graph, id, sizeof id, record, sizeof record);
  }
  free(seen);
  if (iter_cli_all_ok(rc == MPIMR_OK)) return 0;
  if (rc != MPIMR_OK)
    fprintf(stderr, "%s: rank %d: adding --vertices: %s\n", PROGRAM, rank, mpimr_strerror(rc));
  return 1;
}

/* ---- Propagating labels ---- */

/*
 * In a step's shuffle a vertex gets two kinds of value: its own record as it goes in, with the
 * label's second field holding the smallest label sent to it so far (label, smallest, neighbours:
 * 16 bytes or more), and labels from neighbours (8 bytes).
 */

/* A step's map function: the vertex's record to itself, and its label to its neighbours if it changed. */
static int map_spread(void *user, const void *key, size_t key_len, const void *value, size_t value_len,
                      mpimr_emitter *out) {
  cc *g = user;
  if (key_len != 8 || value_len < RECORD_HEADER || value_len % 8 != 0)
    return mpimr_fail(out, "internal error: a vertex record of %zu bytes", value_len);
  const unsigned char *record = value;
  if (reserve_value(g, value_len) != 0) return mpimr_fail(out, "out of memory for a vertex record");
  memcpy(g->value, record, 8);
  memcpy(g->value + 8, record, 8); /* nothing smaller sent yet */
  memcpy(g->value + RECORD_HEADER, record + RECORD_HEADER, value_len - RECORD_HEADER);
  int rc = mpimr_emit(out, key, key_len, g->value, value_len);
  if (rc != MPIMR_OK || !(mpimr_get_u64(record + 8) & FLAG_CHANGED)) return rc;
  for (size_t at = RECORD_HEADER; at < value_len && rc == MPIMR_OK; at += 8)
    rc = mpimr_emit(out, record + at, 8, record, 8);
  return rc;
}

/* The combiner: keeps the smallest label sent, in the record if there is one. */
static long long combine_labels(void *user, const void *key, size_t key_len, void *acc, size_t acc_len,
                                size_t acc_cap, const void *in, size_t in_len) {
  (void)user, (void)key, (void)key_len;
  unsigned char *a = acc;
  const unsigned char *b = in;
  if (acc_len == 8 && in_len == 8) {
    if (mpimr_get_u64(b) < mpimr_get_u64(a)) memcpy(a, b, 8);
    return 8;
  }
  if (acc_len >= RECORD_HEADER && in_len == 8) {
    if (mpimr_get_u64(b) < mpimr_get_u64(a + 8)) memcpy(a + 8, b, 8);
    return (long long)acc_len;
  }
  if (acc_len == 8 && in_len >= RECORD_HEADER) {
    if (acc_cap < in_len) return (long long)in_len;
    uint64_t sent = mpimr_get_u64(a);
    memcpy(a, b, in_len);
    if (sent < mpimr_get_u64(a + 8)) mpimr_put_u64(a + 8, sent);
    return (long long)in_len;
  }
  return -1; /* two records of one vertex: the dataset has one per vertex */
}

/* A step's reducer: the vertex's record with the smallest of its label and those sent to it. */
static int reduce_label(void *user, const void *key, size_t key_len, mpimr_values *values,
                        mpimr_emitter *out) {
  cc *g = user;
  size_t record_len = 0;
  uint64_t smallest = UINT64_MAX;
  const void *value;
  size_t value_len;
  while (mpimr_values_next(values, &value, &value_len)) {
    if (value_len == 8) {
      if (mpimr_get_u64(value) < smallest) smallest = mpimr_get_u64(value);
    } else if (value_len >= RECORD_HEADER && record_len == 0) {
      if (reserve_value(g, value_len) != 0) return mpimr_fail(out, "out of memory for a vertex record");
      memcpy(g->value, value, value_len);
      record_len = value_len;
    } else {
      return mpimr_fail(out, "internal error: a value of %zu bytes for a vertex", value_len);
    }
  }
  if (key_len != 8 || record_len == 0)
    return mpimr_fail(out, "internal error: a label sent to a vertex that has no record");
  uint64_t label = mpimr_get_u64(g->value), sent = mpimr_get_u64(g->value + 8);
  if (sent < smallest) smallest = sent;
  int lowered = smallest < label;
  if (lowered) {
    mpimr_put_u64(g->value, smallest);
    g->changed++;
  }
  mpimr_put_u64(g->value + 8, lowered ? FLAG_CHANGED : 0);
  return mpimr_emit(out, key, key_len, g->value, record_len);
}

/* ---- Output ---- */

/* The output job's map function: 'VERTEX<TAB>COMPONENT', the vertex as decimal text. */
static int map_component(void *user, const void *key, size_t key_len, const void *value, size_t value_len,
                         mpimr_emitter *out) {
  (void)user;
  if (key_len != 8 || value_len < RECORD_HEADER)
    return mpimr_fail(out, "internal error: a vertex record of %zu bytes", value_len);
  char text[21];
  size_t text_len = iter_cli_decimal(text, mpimr_get_u64(key));
  return mpimr_emit(out, text, text_len, value, 8);
}

/* ---- The run ---- */

/*
 * The configuration of the next job: the options' tuning, no input and no output yet. Only the
 * first job binds the rank to a core (as --pin says) and reports with -v: the binding stays, and
 * doing it again for every step would cost each step a topology scan.
 */
static mpimr_job_config job_config(const options *o, cc *g) {
  mpimr_job_config config = o->cli.job;
  config.user = g;
  config.output_dir = NULL;
  config.overwrite = 0;
  config.max_bad_records = 0; /* only the job that reads the edges skips malformed lines */
  config.workspace = g->workspace;
  if (g->jobs++ > 0) {
    config.pin = MPIMR_PIN_NONE;
    config.verbose = 0;
  }
  return config;
}

/* Builds the graph with the first job (and --vertices). Returns 0, or 1 (reported). */
static int build_graph(const options *o, cc *g, mpimr_dataset *graph, int rank, int nranks) {
  mpimr_job_config config = job_config(o, g);
  if (o->format > 0) {
    char error[512];
    if (graph_file_open(&g->file, o->cli.job.inputs[0], (graph_file_format)o->format, 64, MPI_COMM_WORLD, error,
                        sizeof error) != 0) {
      if (rank == 0) fprintf(stderr, "%s: %s\n", PROGRAM, error); /* every rank read the same file */
      return 1;
    }
    g->vertices = g->file.vertex_count; /* every vertex of the file, with or without edges */
    g->edges_listed_twice = o->format == GRAPH_FILE_METIS || g->file.symmetric;
    config.map_index = map_file_chunk;
    config.index_count = g->file.chunk_count;
  } else {
    config.map_record = map_edge;
    config.inputs = o->cli.job.inputs;
    config.input_count = o->cli.job.input_count;
  }
  config.partition = partition_vertex;
  config.reduce = reduce_vertex;
  config.reduce_in_order = 1; /* it emits the vertex it was called for */
  config.output_dataset = graph;
  char *bad_records = iter_cli_bad_records_path(o->cli.job.output_dir, o->cli.job.max_bad_records, rank);
  config.max_bad_records = o->cli.job.max_bad_records;
  config.bad_records_path = bad_records;
  int rc = job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &g->pinning);
  free(bad_records);
  if (o->format > 0) {
    uint64_t entries = g->file_entries;
    MPI_Allreduce(MPI_IN_PLACE, &entries, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    char problem[512];
    if (rc == MPIMR_OK && graph_file_check_count(&g->file, entries, problem, sizeof problem) != 0) {
      if (rank == 0) fprintf(stderr, "%s: %s\n", PROGRAM, problem);
      rc = MPIMR_ERR_INVAL;
    }
    graph_file_close(&g->file);
  }
  if (rc != MPIMR_OK) return 1;
  return g->vertices ? add_isolated_vertices(g, graph, rank, nranks) : 0;
}

/* Runs steps until no label changes. Returns 0, or 1 (reported) on failure or without convergence. */
static int propagate(const options *o, cc *g, mpimr_dataset *graph, int rank, int *iterations) {
  mpimr_job_config config = job_config(o, g);
  config.map_pair = map_spread;
  config.input_dataset = graph;
  config.output_dataset = graph; /* the next labels replace these once map has read them */
  config.combine = combine_labels;
  config.reduce = reduce_label;
  config.reduce_in_order = 1;
  uint64_t changed = 1;
  for (*iterations = 0; changed != 0 && *iterations < o->max_iterations;) {
    g->changed = 0;
    if (job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &g->pinning) != MPIMR_OK) return 1;
    ++*iterations;
    MPI_Allreduce(&g->changed, &changed, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (o->cli.job.verbose && rank == 0)
      fprintf(stderr, "%s: iteration %d: %" PRIu64 " labels changed\n", PROGRAM, *iterations, changed);
  }
  if (changed == 0) return 0;
  if (rank == 0)
    fprintf(stderr,
            "%s: not converged after %d iterations (%" PRIu64
            " labels changed in the last); "
            "raise --max-iterations\n",
            PROGRAM, *iterations, changed);
  return 1;
}

/* The whole run after the options. Returns the exit status. */
static int run_cc(const options *o, cc *g, int rank, int nranks) {
  if (iter_cli_check_output(o->cli.job.output_dir, o->cli.job.overwrite, rank, PROGRAM) != 0) return 1;
  g->vertices = o->vertices;
  mpimr_dataset *graph = NULL;
  if (!iter_cli_all_ok(mpimr_dataset_create(&graph) == MPIMR_OK)) {
    if (graph == NULL) fprintf(stderr, "%s: rank %d: out of memory\n", PROGRAM, rank);
    mpimr_dataset_free(graph);
    return 1;
  }
  int iterations = 0;
  int status = build_graph(o, g, graph, rank, nranks);
  if (status == 0) status = propagate(o, g, graph, rank, &iterations);
  uint64_t counts[2] = {0, 0},
           totals[2] = {0, 0}; /* vertices, components (vertices that are their own label) */
  if (status == 0) {
    mpimr_dataset_cursor at = MPIMR_DATASET_CURSOR_INIT;
    const void *key, *value;
    size_t key_len, value_len;
    while (mpimr_dataset_next(graph, &at, &key, &key_len, &value, &value_len)) {
      counts[0]++;
      counts[1] += memcmp(key, value, 8) == 0;
    }
    MPI_Allreduce(counts, totals, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    mpimr_job_config config = job_config(o, g);
    config.map_pair = map_component;
    config.input_dataset = graph;
    config.compare_keys = iter_cli_compare_decimal;
    config.format_value = mpimr_format_u64;
    config.output_dir = o->cli.job.output_dir;
    config.overwrite = o->cli.job.overwrite;
    if (job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &g->pinning) != MPIMR_OK) status = 1;
  }
  mpimr_dataset_free(graph);
  iter_cli_keep_bad_records(o->cli.job.max_bad_records ? o->cli.job.output_dir : NULL, rank);
  if (status == 0 && rank == 0 && !o->cli.quiet)
    fprintf(stderr, "%s: %" PRIu64 " vertices in %" PRIu64 " components after %d iterations\n", PROGRAM,
            totals[0], totals[1], iterations);
  return status;
}

/* ---- Options ---- */

enum option_ids { OPT_VERTICES = 256, OPT_MAX_ITERATIONS, OPT_FORMAT };

/* Returns 0, or CLI_EXIT_USAGE after reporting the problem on rank 0. */
static int parse_options(int argc, char **argv, int rank, options *o) {
  static const struct option long_options[] = {
      JOB_CLI_COMMON_LONG_OPTIONS,
      {"vertices", required_argument, NULL, OPT_VERTICES},
      {"max-iterations", required_argument, NULL, OPT_MAX_ITERATIONS},
      {"format", required_argument, NULL, OPT_FORMAT},
      JOB_CLI_TUNING_LONG_OPTIONS,
      {NULL, 0, NULL, 0}};
  job_cli_config_init(&o->cli.job);
  o->max_iterations = DEFAULT_MAX_ITERATIONS;
  o->format = -1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, JOB_CLI_SHORT_OPTIONS, long_options, NULL)) != -1) {
    if (c == OPT_VERTICES) {
      if (cli_parse_u64(optarg, 0, (uint64_t)1 << 62, &o->vertices) == 0) continue;
      cli_usage_error(rank, PROGRAM, "--vertices must be an integer from 0 to 2^62, not '%s'", optarg);
      return CLI_EXIT_USAGE;
    }
    if (c == OPT_MAX_ITERATIONS) {
      if (cli_parse_int(optarg, 1, 1000000000, &o->max_iterations) == 0) continue;
      cli_usage_error(rank, PROGRAM, "--max-iterations must be an integer from 1 to 1000000000, not '%s'",
                      optarg);
      return CLI_EXIT_USAGE;
    }
    if (c == OPT_FORMAT) {
      if (graph_file_parse_format(optarg, &o->format) == 0) continue;
      cli_usage_error(rank, PROGRAM, "--format must be auto, edges, metis or mtx, not '%s'", optarg);
      return CLI_EXIT_USAGE;
    }
    int status = job_cli_option(&o->cli, c, optarg, argv, rank, PROGRAM);
    if (status != 0 || o->cli.help) return status;
  }
  int status = job_cli_take_inputs(&o->cli, argc, argv, rank, PROGRAM, 1);
  if (status != 0 || o->cli.help) return status;
  if (o->format < 0) o->format = graph_file_format_of(o->cli.job.inputs[0]);
  if (o->format > 0 && o->cli.job.input_count != 1) {
    cli_usage_error(rank, PROGRAM, "a %s graph is one INPUT file, not %d",
                    o->format == GRAPH_FILE_METIS ? "METIS" : "MatrixMarket", o->cli.job.input_count);
    return CLI_EXIT_USAGE;
  }
  if (o->format > 0 && o->vertices != 0) {
    cli_usage_error(rank, PROGRAM, "a METIS or MatrixMarket file gives its vertex count: no --vertices");
    return CLI_EXIT_USAGE;
  }
  return 0;
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
    cc g;
    memset(&g, 0, sizeof g);
    if (!iter_cli_all_ok(mpimr_workspace_create(&g.workspace) == MPIMR_OK)) {
      if (rank == 0) fprintf(stderr, "%s: out of memory\n", PROGRAM);
      status = 1;
    } else {
      status = run_cc(&o, &g, rank, nranks);
    }
    mpimr_workspace_free(g.workspace);
    free(g.value);
  }
  MPI_Finalize();
  return status;
}
