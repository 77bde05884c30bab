/*
 * apps/pagerank.c — mpimr-pagerank: PageRank of a directed graph by power
 * iteration, one mpimr job per iteration, with the graph and the ranks kept
 * in memory between jobs.
 *
 *   1. The build job maps the edges (from edge-list, METIS or MatrixMarket
 *      files, or made by the R-MAT generator over an index range) to
 *      (source, destination), plus (destination, "") for a directed input so
 *      that every vertex that occurs reaches the rank that owns it. The
 *      reducer, on the owner, appends the vertex and its out-edges to the
 *      rank's part of the graph: the vertices in key order, each out-edge as
 *      the number of its destination's key among the keys this rank's edges
 *      lead to (key_intern.h). Vertices of 0 .. n-1 that no edge names
 *      (isolated) are not stored: they all have the same rank.
 *   2. An iteration first adds up, per destination, what this rank's
 *      vertices send along their out-edges (rank / outdegree) — a tight
 *      loop over arrays — then runs a job that maps each destination to
 *      (destination, sum): one pair per destination a rank's edges reach,
 *      not one per edge. So there is nothing left for a combiner to fold
 *      before the shuffle (a combining table cost more than it saved), and
 *      the reducer, on the destination's owner, adds up its at most P
 *      values, finds the vertex by walking the part in key order (the
 *      reducer's keys come in that order) and keeps the sum; then every
 *      rank computes the new ranks, its part of the L1 change and of the
 *      dangling rank, which an MPI_Allreduce adds up. The jobs share an
 *      mpimr_workspace, so each takes the communicator and shuffle the last
 *      one left instead of setting up its own.
 *   3. One more job maps the vertices to 'VERTEX<TAB>RANK' lines in the
 *      output directory.
 *
 * The sum of a vertex's contributions is added in an order that depends on
 * the number of ranks, so ranks at different rank counts agree to rounding
 * (about 1e-15 relative), not bit for bit.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graph_files.h"
#include "iter_cli.h"
#include "job_cli.h"
#include "key_intern.h"
#include "mpimr/mpimr.h"
#include "rmat_gen.h"

static const char *const PROGRAM = "mpimr-pagerank";

/* The longest vertex name --names takes. */
#define NAME_LIMIT 4096
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
      "    mpirun -np P mpimr-pagerank -o OUTDIR [OPTIONS] GRAPH.graph | MATRIX.mtx\n"
      "    mpirun -np P mpimr-pagerank -o OUTDIR --rmat-scale N [OPTIONS]\n"
      "\n"
      "DESCRIPTION\n"
      "    Computes the PageRank of every vertex of a directed graph by power\n"
      "    iteration, on a graph read from files in one of three formats (--format):\n"
      "\n"
      "    edges   The INPUT files and directories (read recursively, hidden files\n"
      "            skipped) with one edge per line, 'SRC DST', two vertex ids\n"
      "            separated by spaces or TABs (blanks around them allowed, a CR\n"
      "            before the LF ignored), as in SNAP's edge lists and as mpimr-rmat\n"
      "            writes. Ids are decimal numbers below 2^63, or with --names any\n"
      "            tokens without blanks (up to 4096 bytes; networkx's\n"
      "            read_edgelist reads them so). Lines that are empty or blank, and\n"
      "            lines whose first non-blank byte is '#' or '%%', are skipped.\n"
      "    metis   One METIS graph file (gpmetis's input): a header 'n m [fmt\n"
      "            [ncon]]', then line i lists the neighbours of vertex i (1..n);\n"
      "            vertex sizes and weights and edge weights, as fmt says, are read\n"
      "            and ignored; '%%' lines are comments. Each listed neighbour u of v\n"
      "            is an edge v -> u, so an undirected graph, which lists each edge\n"
      "            from both ends, is taken as both directions. The edge count must\n"
      "            match the header's m.\n"
      "    mtx     One MatrixMarket coordinate file: entry 'i j [value]' is an edge\n"
      "            i -> j (values ignored); a symmetric, skew-symmetric or hermitian\n"
      "            matrix gives each off-diagonal entry both ways. The matrix must be\n"
      "            square; the entry count must match the size line.\n"
      "\n"
      "    Any line that does not fit its format fails the job, naming the file and\n"
      "    byte offset. Or, with --rmat-scale, the edges of the R-MAT graph that\n"
      "    mpimr-rmat would write with the same options are made in memory, no files\n"
      "    involved.\n"
      "\n"
      "    The vertices of an edge list are 0 .. n-1, where n is --vertices or else\n"
      "    the largest id + 1, so vertices without any edge count too; with --sparse\n"
      "    or --names they are the ids that occur in an edge (as networkx reads an\n"
      "    edge list), and nothing is allocated for the range of ids. A METIS or\n"
      "    MatrixMarket graph has the n vertices its header gives, 2^N with\n"
      "    --rmat-scale N. With d the damping factor, PR_0(v) = 1/n and\n"
      "      PR_t+1(v) = (1-d)/n + d * (sum over edges u->v of PR_t(u)/outdeg(u)\n"
      "                                 + D_t/n)\n"
      "    where D_t is the rank of the vertices with no out-edges (dangling), so\n"
      "    the ranks always add up to 1: networkx's pagerank() with its defaults.\n"
      "    Duplicate edges count as often as they occur (networkx keeps one),\n"
      "    self-loops like any edge. Iteration stops when the L1 change\n"
      "    sum |PR_t+1(v) - PR_t(v)| is below the tolerance (or below n times\n"
      "    --tolerance-per-vertex, networkx's rule for its tol), or after the\n"
      "    maximum number of iterations.\n"
      "\n"
      "    The graph and the ranks stay in memory between iterations, each rank\n"
      "    holding the vertices the hash partitioner gives it, with their\n"
      "    out-edges: one job builds them, each iteration is one job that sends one\n"
      "    summed contribution per destination a rank's edges reach, and a last job\n"
      "    writes the ranks.\n"
      "\n"
      "OUTPUT\n"
      "    OUTDIR/part-00000 ... one file per rank, lines 'VERTEX<TAB>RANK' with the\n"
      "    vertex (its decimal id, or its name) and its rank printed with %%.17g\n"
      "    (enough digits to read back the same double), in bytewise order of the\n"
      "    vertex text within each part, every vertex exactly once; OUTDIR/_SUCCESS\n"
      "    once every part is complete. A METIS or MatrixMarket vertex is written\n"
      "    0-based (line or row i is vertex i-1). Rank 0 prints the size of the\n"
      "    graph, the number of iterations, the last L1 change and whether it\n"
      "    converged or stopped at --max-iterations on stderr (unless -q); with -v\n"
      "    also the seconds spent building, iterating and writing.\n"
      "\n"
      "OPTIONS\n"
      "    -o, --output DIR          output directory (required)\n"
      "    -f, --overwrite           replace the results in an existing DIR\n"
      "        --format F            auto (default: metis for a file named *.graph or\n"
      "                              *.metis, mtx for *.mtx or a file starting with\n"
      "                              the MatrixMarket banner, else edges), edges,\n"
      "                              metis or mtx\n"
      "        --names               edges: vertex ids are names (any tokens)\n"
      "        --sparse              edges: the vertices are the ids that occur\n"
      "        --undirected          edges, or a general MatrixMarket matrix: each\n"
      "                              edge goes both ways (a self-loop once)\n"
      "        --damping D           damping factor d (default 0.85; 0..1)\n"
      "        --tolerance T         stop when the L1 change is below T (default 1e-8;\n"
      "                              0 runs every iteration)\n"
      "        --tolerance-per-vertex T\n"
      "                              stop when the L1 change is below n * T, as\n"
      "                              networkx's pagerank(tol=T) does (instead of\n"
      "                              --tolerance)\n"
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
      "    -v, --verbose             report settings, core binding, every iteration's\n"
      "                              L1 change and the time of each phase\n"
      "    -h, --help                show this text\n"
      "\n"
      "EXIT STATUS\n"
      "    0 on success (also when the tolerance was not reached: the summary says\n"
      "    so), 1 if a job failed (every rank stops; the rank that failed prints\n"
      "    the cause), 64 for a usage error.\n"
      "\n"
      "EXAMPLES\n"
      "    mpirun -np 4 mpimr-rmat --scale 16 -o graph\n"
      "    mpirun -np 4 mpimr-pagerank -o ranks graph\n"
      "    sort -t$'\\t' -k2,2gr ranks/part-* | head         # the top vertices\n"
      "    mpirun -np 4 mpimr-pagerank -o ranks --rmat-scale 16 --tolerance 1e-10\n"
      "    mpirun -np 2 mpimr-pagerank -o ranks --tolerance-per-vertex 1e-6 \\\n"
      "        /usr/share/doc/libmetis-dev/examples/graphs/mdual.graph\n"
      "    mpirun -np 2 mpimr-pagerank -o ranks --names --undirected WormNet.v3.benchmark.txt\n",
      JOB_CLI_HELP);
}

/* Where the edges come from. */
typedef enum input_format {
  FORMAT_AUTO = 0, /* by the INPUT's name or banner: METIS (.graph), MatrixMarket (.mtx), else edges */
  FORMAT_EDGES,
  FORMAT_METIS,
  FORMAT_MATRIX_MARKET,
} input_format;

/*
 * This rank's vertices: those the default partitioner sends to it, in the key order the reducers
 * see them in (bytewise, shorter first), each with its out-edges as numbers of destination keys.
 */
typedef struct vertex_part {
  uint64_t count;
  unsigned char *keys;  /* the keys back to back */
  uint64_t *key_start;  /* count + 1: vertex i's key is keys[key_start[i], key_start[i + 1]) */
  uint64_t *edge_start; /* count + 1: vertex i's out-edges are edge_to[edge_start[i], edge_start[i + 1]) */
  uint32_t *edge_to;    /* destination numbers in pagerank.destinations */
  double *rank;         /* PR_t */
  double *incoming;     /* the sum of the contributions received in this iteration */
  size_t keys_capacity, vertex_capacity, edge_start_capacity, edge_capacity;
} vertex_part;

/* Everything the callbacks share: the settings, this rank's graph, and its part of the sums. */
typedef struct pagerank {
  /* Settings. */
  job_cli cli;           /* the shared options; cli.job is the template of every job */
  rmat_params graph;     /* --rmat-scale and the generator's options */
  int rmat_option_given; /* a generator option appeared (they need --rmat-scale) */
  uint64_t vertices;     /* --vertices, or 0 */
  double damping;
  double tolerance;
  double tolerance_per_vertex; /* --tolerance-per-vertex, or -1 */
  int max_iterations;
  input_format format;
  int names;      /* --names: vertex ids are any tokens, the vertices those that occur */
  int sparse;     /* --sparse (or --names): the vertices are the ids that occur in an edge */
  int undirected; /* --undirected: an edge line is both u -> v and v -> u */

  /* The build job. */
  graph_file file;        /* an open METIS or MatrixMarket INPUT */
  int markers;            /* the inputs are directed: a destination is also sent as a vertex of its own */
  uint64_t id_bound;      /* the largest id this rank saw + 1, or 0 */
  uint64_t file_entries;  /* the METIS or MatrixMarket entries this rank read */

  /* The graph. */
  vertex_part part;
  key_intern destinations; /* the keys this rank's out-edges lead to */
  double *sent;            /* per destination: the contributions of this rank's vertices */
  uint64_t walk;           /* reduce: the vertex of the part the keys have reached */
  uint64_t vertex_count;   /* n */
  uint64_t isolated;       /* vertices of 0 .. n-1 with no edge at all (not in any part) */
  double isolated_rank;    /* the rank each of them has (they all have the same) */
  uint64_t *isolated_ids;  /* the output job: this rank's isolated vertices */
  uint64_t isolated_local;

  /* The iterations. */
  double dangling; /* D_t: the rank of the vertices without out-edges, over all ranks */
  mpimr_pin_report pinning; /* the first job's binding, which the later ones reuse */
  mpimr_workspace *workspace; /* what one job leaves set up for the next (communicator, shuffle) */
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

/* A vertex name of --names: the token at line[*at]. Returns NULL and moves *at past it, or what is
 * wrong. */
static const char *parse_name(const unsigned char *line, size_t length, size_t *at, size_t *name_length) {
  size_t i = *at;
  while (i < length && !is_blank(line[i])) i++;
  if (i - *at > NAME_LIMIT) return "a vertex name is longer than 4096 bytes";
  *name_length = i - *at;
  *at = i;
  return NULL;
}

/* A parsed edge line: either two ids or two names (pointers into the line). */
typedef struct edge_fields {
  uint64_t source, destination;
  const unsigned char *source_name, *destination_name;
  size_t source_length, destination_length;
} edge_fields;

/*
 * Parses one line of an edge list. Returns 1 with the edge, 0 for a line to skip (blank, or a
 * comment), or -1 with `*problem` saying what is wrong.
 */
static int parse_edge(const unsigned char *line, size_t length, int names, edge_fields *edge, const char **problem) {
  if (length > 0 && line[length - 1] == '\r') length--;
  size_t at = 0;
  while (at < length && is_blank(line[at])) at++;
  if (at == length || line[at] == '#' || line[at] == '%') return 0;
  edge->source_name = line + at;
  if ((*problem = names ? parse_name(line, length, &at, &edge->source_length)
                        : parse_vertex(line, length, &at, &edge->source)) != NULL)
    return -1;
  while (at < length && is_blank(line[at])) at++;
  if (at == length) {
    *problem = "the line has one vertex, not two ('SRC DST')";
    return -1;
  }
  edge->destination_name = line + at;
  if ((*problem = names ? parse_name(line, length, &at, &edge->destination_length)
                        : parse_vertex(line, length, &at, &edge->destination)) != NULL)
    return -1;
  while (at < length && is_blank(line[at])) at++;
  if (at != length) {
    *problem = "the line has more than two fields ('SRC DST')";
    return -1;
  }
  return 1;
}

/*
 * Emits an edge u -> v of the build job: (u, v), and the other way too for an undirected input, or
 * else (v, "") so that v is a vertex where it is reduced even if it has no out-edges. The empty
 * value is given as "", not NULL: the library copies values with memcpy, which must not get NULL.
 */
static int emit_keys(const pagerank *pr, const void *u, size_t u_len, const void *v, size_t v_len,
                     mpimr_emitter *out) {
  int rc = mpimr_emit(out, u, u_len, v, v_len);
  if (rc != MPIMR_OK) return rc;
  if (pr->undirected) return u_len == v_len && memcmp(u, v, u_len) == 0 ? MPIMR_OK : mpimr_emit(out, v, v_len, u, u_len);
  if (pr->markers) return mpimr_emit(out, v, v_len, "", 0);
  return MPIMR_OK;
}

/* Emits an edge between numbered vertices, after checking it against --vertices. */
static int emit_edge(pagerank *pr, uint64_t source, uint64_t destination, mpimr_emitter *out) {
  uint64_t larger = source > destination ? source : destination;
  if (pr->vertices != 0 && larger >= pr->vertices)
    return mpimr_fail(out, "vertex %llu is not below --vertices %llu", (unsigned long long)larger,
                      (unsigned long long)pr->vertices);
  if (larger + 1 > pr->id_bound) pr->id_bound = larger + 1;
  unsigned char key[8], value[8];
  mpimr_put_u64(key, source);
  mpimr_put_u64(value, destination);
  return emit_keys(pr, key, sizeof key, value, sizeof value, out);
}

/* The build job's map over edge-list files: each line's edge. */
static int map_edge_line(void *user, const void *record, size_t length, mpimr_emitter *out) {
  pagerank *pr = user;
  edge_fields edge = {0, 0, NULL, NULL, 0, 0};
  const char *problem = NULL;
  int parsed = parse_edge(record, length, pr->names, &edge, &problem);
  if (parsed < 0) return mpimr_fail(out, "malformed edge line: %s", problem);
  if (parsed == 0) return 0;
  if (pr->names)
    return emit_keys(pr, edge.source_name, edge.source_length, edge.destination_name, edge.destination_length,
                     out);
  return emit_edge(pr, edge.source, edge.destination, out);
}

/* The build job's map over the R-MAT edge numbers. */
static int map_rmat_edge(void *user, uint64_t index, mpimr_emitter *out) {
  pagerank *pr = user;
  uint64_t source, destination;
  rmat_edge(&pr->graph, index, &source, &destination);
  return emit_edge(pr, source, destination, out);
}

static int file_edge(void *user, uint64_t source, uint64_t destination, mpimr_emitter *out) {
  return emit_edge(user, source, destination, out);
}

/* A METIS vertex without neighbours: sent as a vertex of its own (it may be no edge's destination). */
static int file_lone_vertex(void *user, uint64_t vertex, mpimr_emitter *out) {
  (void)user;
  unsigned char key[8];
  mpimr_put_u64(key, vertex);
  return mpimr_emit(out, key, sizeof key, "", 0);
}

/* The build job's map over the chunks of a METIS or MatrixMarket file. */
static int map_file_chunk(void *user, uint64_t chunk, mpimr_emitter *out) {
  pagerank *pr = user;
  return graph_file_map_chunk(&pr->file, chunk, file_edge, file_lone_vertex, pr, &pr->file_entries, out);
}

/* ---- This rank's part of the graph ---------------------------------------------- */

/* Grows `*array` of `*capacity` elements of `size` bytes to hold at least `need`. Returns 0 or -1. */
static int grow(void **array, size_t *capacity, size_t need, size_t size) {
  if (need <= *capacity) return 0;
  size_t grown = *capacity ? *capacity : 1024;
  while (grown < need) grown *= 2;
  void *bigger = realloc(*array, grown * size);
  if (bigger == NULL) return -1;
  *array = bigger;
  *capacity = grown;
  return 0;
}

static void vertex_part_free(vertex_part *part) {
  free(part->keys);
  free(part->key_start);
  free(part->edge_start);
  free(part->edge_to);
  free(part->rank);
  free(part->incoming);
  memset(part, 0, sizeof *part);
}

/* The library's default key order: bytewise, a shorter key first on a common prefix. */
static int compare_keys(const void *a, size_t a_len, const void *b, size_t b_len) {
  int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
  if (c != 0) return c;
  return a_len < b_len ? -1 : a_len > b_len;
}

static const unsigned char *vertex_key(const vertex_part *part, uint64_t i, size_t *length) {
  *length = (size_t)(part->key_start[i + 1] - part->key_start[i]);
  return part->keys + part->key_start[i];
}

/*
 * The build job's reducer: vertex `key` joins this rank's part (the keys come in key order), with
 * its out-edges, each the number of its destination's key; an empty value only says the vertex
 * exists. Emits nothing.
 */
static int reduce_adjacency(void *user, const void *key, size_t key_len, mpimr_values *values,
                            mpimr_emitter *out) {
  pagerank *pr = user;
  vertex_part *part = &pr->part;
  uint64_t i = part->count;
  size_t values_count = mpimr_values_count(values);
  if (grow((void **)&part->keys, &part->keys_capacity, part->key_start[i] + key_len, 1) != 0 ||
      grow((void **)&part->key_start, &part->vertex_capacity, i + 2, sizeof *part->key_start) != 0 ||
      grow((void **)&part->edge_to, &part->edge_capacity, part->edge_start[i] + values_count,
           sizeof *part->edge_to) != 0)
    return mpimr_fail(out, "out of memory for this rank's part of the graph");
  if (part->vertex_capacity != part->edge_start_capacity) {
    uint64_t *grown = realloc(part->edge_start, part->vertex_capacity * sizeof *grown);
    if (grown == NULL) return mpimr_fail(out, "out of memory for this rank's part of the graph");
    part->edge_start = grown;
    part->edge_start_capacity = part->vertex_capacity;
  }
  memcpy(part->keys + part->key_start[i], key, key_len);
  part->key_start[i + 1] = part->key_start[i] + key_len;
  uint64_t edges = part->edge_start[i];
  const void *value;
  size_t value_len;
  while (mpimr_values_next(values, &value, &value_len)) {
    if (value_len == 0) continue;
    long long to = key_intern_add(&pr->destinations, value, value_len);
    if (to < 0) return mpimr_fail(out, "out of memory for the destinations of this rank's edges");
    part->edge_to[edges++] = (uint32_t)to;
  }
  part->edge_start[i + 1] = edges;
  part->count = i + 1;
  return MPIMR_OK;
}

/* ---- One iteration --------------------------------------------------------- */

/* Adds up, per destination, what this rank's vertices send: rank / outdegree along each out-edge. */
static void spread_ranks(pagerank *pr) {
  const vertex_part *part = &pr->part;
  double *sent = pr->sent;
  memset(sent, 0, pr->destinations.count * sizeof *sent);
  for (uint64_t i = 0; i < part->count; i++) {
    uint64_t first = part->edge_start[i], end = part->edge_start[i + 1];
    if (first == end) continue;
    double share = part->rank[i] / (double)(end - first);
    for (uint64_t e = first; e < end; e++) sent[part->edge_to[e]] += share;
  }
}

/* The iteration's map: one destination's sum of the contributions this rank sends it. */
static int map_destination(void *user, uint64_t index, mpimr_emitter *out) {
  const pagerank *pr = user;
  size_t key_len;
  const unsigned char *key = key_intern_key(&pr->destinations, (uint32_t)index, &key_len);
  unsigned char value[8];
  mpimr_put_f64(value, pr->sent[index]);
  return mpimr_emit(out, key, key_len, value, sizeof value);
}

/* The iteration's reducer: the sum of a vertex's incoming contributions (a value from each rank
 * whose edges reach it), kept in its part. */
static int reduce_vertex(void *user, const void *key, size_t key_len, mpimr_values *values,
                         mpimr_emitter *out) {
  pagerank *pr = user;
  vertex_part *part = &pr->part;
  const void *value;
  size_t value_len;
  double incoming = 0;
  while (mpimr_values_next(values, &value, &value_len)) {
    if (value_len != 8) return mpimr_fail(out, "corrupt contribution of %zu bytes", value_len);
    incoming += mpimr_get_f64(value);
  }
  /* Keys come in the order the part is in: walk it forward to this one. */
  for (; pr->walk < part->count; pr->walk++) {
    size_t have;
    const unsigned char *at = vertex_key(part, pr->walk, &have);
    int c = compare_keys(at, have, key, key_len);
    if (c == 0) {
      part->incoming[pr->walk] = incoming;
      return MPIMR_OK;
    }
    if (c > 0) break;
  }
  return mpimr_fail(out, "a vertex has in-edges but was never listed as a vertex (%s)",
                    pr->format == FORMAT_METIS ? "the METIS file does not list each edge from both ends"
                                               : "this is a bug");
}

/*
 * After an iteration's job: every vertex's new rank from what it received. Returns this rank's
 * part of the L1 change, of D_t+1 and of the rank sum in sums[0..2].
 */
static void update_ranks(pagerank *pr, double sums[3]) {
  vertex_part *part = &pr->part;
  double n = (double)pr->vertex_count;
  double base = (1 - pr->damping) / n + pr->damping * pr->dangling / n;
  double change = 0, dangling = 0, total = 0;
  for (uint64_t i = 0; i < part->count; i++) {
    double rank = base + pr->damping * part->incoming[i];
    change += fabs(rank - part->rank[i]);
    total += rank;
    if (part->edge_start[i] == part->edge_start[i + 1]) dangling += rank;
    part->rank[i] = rank;
    part->incoming[i] = 0;
  }
  sums[0] = change;
  sums[1] = dangling;
  sums[2] = total;
}

/* ---- Writing the ranks ------------------------------------------------------- */

/* The output job's map: vertex `index` of this rank's part, or of its isolated vertices after them:
 * its name (the decimal id, or the --names token) and its rank. */
static int map_output(void *user, uint64_t index, mpimr_emitter *out) {
  const pagerank *pr = user;
  unsigned char value[8];
  char text[24];
  if (index >= pr->part.count) {
    mpimr_put_f64(value, pr->isolated_rank);
    size_t length = iter_cli_decimal(text, pr->isolated_ids[index - pr->part.count]);
    return mpimr_emit(out, text, length, value, sizeof value);
  }
  mpimr_put_f64(value, pr->part.rank[index]);
  size_t key_len;
  const unsigned char *key = vertex_key(&pr->part, index, &key_len);
  if (pr->names) return mpimr_emit(out, key, key_len, value, sizeof value);
  size_t length = iter_cli_decimal(text, mpimr_get_u64(key));
  return mpimr_emit(out, text, length, value, sizeof value);
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
  config.max_bad_records = 0; /* only the job that reads the graph skips malformed lines */
  config.output_format = MPIMR_OUTPUT_NONE;
  config.verbose = 0;
  config.trace_path = NULL;
  config.workspace = pr->workspace;
  return config;
}

/* Rank 0 prints a failure that every rank agreed on; returns 1. */
static int fail_all(int rank, const char *message) {
  if (rank == 0) fprintf(stderr, "%s: %s\n", PROGRAM, message);
  return 1;
}

/* The rank the default partitioner sends an 8-byte key to. */
static int owner_of(const unsigned char key[8], int ranks) {
  return (int)(((unsigned __int128)mpimr_hash64(key, 8, 0) * (unsigned)ranks) >> 64);
}

/* Whether this rank's part holds the 8-byte key (binary search: the part is in key order). */
static int part_holds(const vertex_part *part, const unsigned char key[8]) {
  uint64_t low = 0, high = part->count;
  while (low < high) {
    uint64_t middle = low + (high - low) / 2;
    size_t length;
    const unsigned char *at = vertex_key(part, middle, &length);
    int c = compare_keys(at, length, key, 8);
    if (c == 0) return 1;
    if (c < 0) low = middle + 1;
    else high = middle;
  }
  return 0;
}

/* Lists the vertices of 0 .. n-1 this rank owns that no edge named, for the output job. */
static int list_isolated(pagerank *pr, int rank, int ranks) {
  size_t capacity = 0;
  pr->isolated_local = 0;
  for (uint64_t v = 0; v < pr->vertex_count; v++) {
    unsigned char key[8];
    mpimr_put_u64(key, v);
    if (owner_of(key, ranks) != rank || part_holds(&pr->part, key)) continue;
    if (grow((void **)&pr->isolated_ids, &capacity, pr->isolated_local + 1, sizeof *pr->isolated_ids) != 0)
      return -1;
    pr->isolated_ids[pr->isolated_local++] = v;
  }
  return 0;
}

/* Opens a METIS or MatrixMarket INPUT on every rank. Returns 0, or 1 after rank 0 said why. */
static int open_graph_file(pagerank *pr, int rank) {
  char error[512];
  graph_file_format format = pr->format == FORMAT_METIS ? GRAPH_FILE_METIS : GRAPH_FILE_MATRIX_MARKET;
  if (graph_file_open(&pr->file, pr->cli.job.inputs[0], format, 64, MPI_COMM_WORLD, error, sizeof error) == 0) {
    /* A symmetric MatrixMarket file already gives each entry both ways (and METIS lists each edge
     * from both ends): --undirected adds nothing to them. */
    if (format == GRAPH_FILE_METIS || pr->file.symmetric) pr->undirected = 0;
    pr->markers = format == GRAPH_FILE_MATRIX_MARKET && !pr->file.symmetric && !pr->undirected;
    return 0;
  }
  /* Every rank read the same file; they fail alike, so rank 0's message speaks for all. */
  return fail_all(rank, error);
}

/*
 * The build job: leaves every vertex that occurs in an edge, with its out-edges, in the part of
 * the rank that owns it, and sets n, the isolated vertices, PR_0 and D_0.
 */
static int build_graph(pagerank *pr, int rank, uint64_t *edges) {
  mpimr_job_config config = job_config(pr);
  pr->markers = !pr->undirected;
  if (pr->graph.scale != 0) {
    config.map_index = map_rmat_edge;
    config.index_count = rmat_edge_count(&pr->graph);
  } else if (pr->format == FORMAT_EDGES) {
    config.map_record = map_edge_line;
    config.inputs = pr->cli.job.inputs;
    config.input_count = pr->cli.job.input_count;
  } else {
    if (open_graph_file(pr, rank) != 0) return 1;
    config.map_index = map_file_chunk;
    config.index_count = pr->file.chunk_count;
  }
  vertex_part *part = &pr->part;
  if (grow((void **)&part->key_start, &part->vertex_capacity, 2, sizeof *part->key_start) != 0 ||
      (part->edge_start = malloc(part->vertex_capacity * sizeof *part->edge_start)) == NULL)
    return fail_all(rank, "out of memory");
  part->edge_start_capacity = part->vertex_capacity;
  part->key_start[0] = part->edge_start[0] = 0;
  config.reduce = reduce_adjacency;
  config.verbose = pr->cli.job.verbose;
  char *bad_records = iter_cli_bad_records_path(pr->cli.job.output_dir, pr->cli.job.max_bad_records, rank);
  config.max_bad_records = pr->cli.job.max_bad_records;
  config.bad_records_path = bad_records;
  int rc = job_cli_run_pinned(&config, PROGRAM, NULL, NULL, &pr->pinning);
  free(bad_records);
  if (pr->format == FORMAT_METIS || pr->format == FORMAT_MATRIX_MARKET) {
    uint64_t entries = pr->file_entries;
    MPI_Allreduce(MPI_IN_PLACE, &entries, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    char problem[512];
    if (rc == MPIMR_OK && graph_file_check_count(&pr->file, entries, problem, sizeof problem) != 0) {
      fail_all(rank, problem);
      rc = MPIMR_ERR_INVAL;
    }
    pr->vertices = pr->file.vertex_count;
    graph_file_close(&pr->file);
  }
  if (rc != MPIMR_OK) return 1;

  part->rank = malloc((part->count ? part->count : 1) * sizeof *part->rank);
  part->incoming = calloc(part->count ? part->count : 1, sizeof *part->incoming);
  pr->sent = malloc((pr->destinations.count ? pr->destinations.count : 1) * sizeof *pr->sent);
  if (!iter_cli_all_ok(part->rank != NULL && part->incoming != NULL && pr->sent != NULL))
    return fail_all(rank, "out of memory for the ranks");

  /* counts: edges, vertices in parts, vertices with out-edges; and the largest id + 1. */
  uint64_t counts[3] = {part->edge_start[part->count], part->count, 0}, id_bound = pr->id_bound;
  for (uint64_t i = 0; i < part->count; i++) counts[2] += part->edge_start[i + 1] != part->edge_start[i];
  MPI_Allreduce(MPI_IN_PLACE, counts, 3, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &id_bound, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  *edges = counts[0];
  pr->vertex_count = pr->sparse              ? counts[1]
                     : pr->vertices != 0     ? pr->vertices
                     : pr->graph.scale != 0  ? rmat_vertex_count(&pr->graph)
                                             : id_bound;
  if (pr->vertex_count == 0) return fail_all(rank, "the graph has no vertices (no edges, and no --vertices)");
  pr->isolated = pr->vertex_count - counts[1];
  double initial = 1.0 / (double)pr->vertex_count;
  for (uint64_t i = 0; i < part->count; i++) part->rank[i] = initial;
  pr->isolated_rank = initial;
  pr->dangling = (double)(pr->vertex_count - counts[2]) * initial;
  return 0;
}

/* Whether the iterations have converged: the L1 change below the tolerance (or n * the per-vertex one). */
static int converged(const pagerank *pr, double change) {
  if (pr->tolerance_per_vertex >= 0) return change < (double)pr->vertex_count * pr->tolerance_per_vertex;
  return change < pr->tolerance;
}

/* Runs the iterations. Returns 0 or 1. */
static int iterate(pagerank *pr, int rank, int *iterations, double *change) {
  for (int t = 1; t <= pr->max_iterations; t++) {
    spread_ranks(pr);
    mpimr_job_config config = job_config(pr);
    config.map_local = map_destination;
    config.local_count = pr->destinations.count;
    config.reduce = reduce_vertex;
    if (t == 1) config.trace_path = pr->cli.job.trace_path;
    pr->walk = 0;
    if (job_cli_run_pinned(&config, PROGRAM, NULL, t == 1 ? pr->cli.stats_path : NULL, &pr->pinning) != MPIMR_OK)
      return 1;
    double sums[3];
    update_ranks(pr, sums);
    MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    /* The isolated vertices: no in-edges, no out-edges, all the same rank; every rank adds them alike. */
    double n = (double)pr->vertex_count;
    double isolated_rank = (1 - pr->damping) / n + pr->damping * pr->dangling / n;
    sums[0] += (double)pr->isolated * fabs(isolated_rank - pr->isolated_rank);
    sums[1] += (double)pr->isolated * isolated_rank;
    sums[2] += (double)pr->isolated * isolated_rank;
    pr->isolated_rank = isolated_rank;
    pr->dangling = sums[1];
    *iterations = t;
    *change = sums[0];
    if (pr->cli.job.verbose && rank == 0)
      fprintf(stderr, "%s: iteration %d: L1 change %.6g, rank sum %.17g\n", PROGRAM, t, sums[0], sums[2]);
    if (converged(pr, sums[0])) break;
  }
  return 0;
}

/* Writes 'VERTEX<TAB>RANK' lines into the output directory. Returns 0 or 1. */
static int write_ranks(pagerank *pr, int rank, int ranks) {
  int listed = pr->isolated == 0 || list_isolated(pr, rank, ranks) == 0;
  if (!iter_cli_all_ok(listed)) return fail_all(rank, "out of memory for the list of isolated vertices");
  mpimr_job_config config = job_config(pr);
  config.map_local = map_output;
  config.local_count = pr->part.count + pr->isolated_local;
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
  OPT_TOLERANCE_PER_VERTEX,
  OPT_FORMAT,
  OPT_NAMES,
  OPT_SPARSE,
  OPT_UNDIRECTED,
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
    case OPT_TOLERANCE_PER_VERTEX:
      if (cli_parse_double(value, 0, 1e300, &pr->tolerance_per_vertex) == 0) return 0;
      cli_usage_error(rank, PROGRAM, "--tolerance-per-vertex must be a number of at least 0, not '%s'", value);
      return CLI_EXIT_USAGE;
    case OPT_FORMAT: {
      int format;
      if (graph_file_parse_format(value, &format) != 0) {
        cli_usage_error(rank, PROGRAM, "--format must be auto, edges, metis or mtx, not '%s'", value);
        return CLI_EXIT_USAGE;
      }
      pr->format = format < 0                          ? FORMAT_AUTO
                   : format == GRAPH_FILE_METIS          ? FORMAT_METIS
                   : format == GRAPH_FILE_MATRIX_MARKET  ? FORMAT_MATRIX_MARKET
                                                         : FORMAT_EDGES;
      return 0;
    }
    case OPT_NAMES: pr->names = pr->sparse = 1; return 0;
    case OPT_SPARSE: pr->sparse = 1; return 0;
    case OPT_UNDIRECTED: pr->undirected = 1; return 0;
    default: pr->rmat_option_given = 1; return rmat_apply_option(&pr->graph, option, value, rank, PROGRAM);
  }
}

/* --format auto: the format graph_file_format_of() sees in the name or the banner. */
static input_format format_of(const char *path) {
  switch (graph_file_format_of(path)) {
    case GRAPH_FILE_METIS: return FORMAT_METIS;
    case GRAPH_FILE_MATRIX_MARKET: return FORMAT_MATRIX_MARKET;
    default: return FORMAT_EDGES;
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
      {"tolerance-per-vertex", required_argument, NULL, OPT_TOLERANCE_PER_VERTEX},
      {"format", required_argument, NULL, OPT_FORMAT},
      {"names", no_argument, NULL, OPT_NAMES},
      {"sparse", no_argument, NULL, OPT_SPARSE},
      {"undirected", no_argument, NULL, OPT_UNDIRECTED},
      RMAT_LONG_OPTIONS,
      JOB_CLI_LONG_OPTIONS,
      {NULL, 0, NULL, 0}};
  job_cli_config_init(&pr->cli.job);
  rmat_params_init(&pr->graph);
  pr->damping = DEFAULT_DAMPING;
  pr->tolerance = DEFAULT_TOLERANCE;
  pr->max_iterations = DEFAULT_MAX_ITERATIONS;
  pr->tolerance_per_vertex = -1;
  int tolerance_given = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, JOB_CLI_SHORT_OPTIONS "a:b:c:", long_options, NULL)) != -1) {
    int status;
    tolerance_given |= c == OPT_TOLERANCE;
    if ((c >= OPT_DAMPING && c <= OPT_UNDIRECTED) || c == 'a' || c == 'b' || c == 'c' ||
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
  if (pr->tolerance_per_vertex >= 0 && tolerance_given) {
    cli_usage_error(rank, PROGRAM, "--tolerance and --tolerance-per-vertex are two ways to say one thing: give one");
    return CLI_EXIT_USAGE;
  }
  if (pr->graph.scale != 0 && (pr->format != FORMAT_AUTO || pr->names || pr->sparse)) {
    cli_usage_error(rank, PROGRAM, "--format, --names and --sparse describe INPUT files, not --rmat-scale");
    return CLI_EXIT_USAGE;
  }
  if (pr->graph.scale == 0 && pr->format == FORMAT_AUTO) pr->format = format_of(pr->cli.job.inputs[0]);
  if (pr->graph.scale == 0 && pr->format != FORMAT_EDGES) {
    const char *name = pr->format == FORMAT_METIS ? "a METIS graph" : "a MatrixMarket file";
    if (pr->cli.job.input_count != 1) {
      cli_usage_error(rank, PROGRAM, "%s is one INPUT file, not %d", name, pr->cli.job.input_count);
      return CLI_EXIT_USAGE;
    }
    if (pr->names || pr->sparse || pr->vertices != 0) {
      cli_usage_error(rank, PROGRAM, "%s numbers its vertices 1..n itself: no --names, --sparse or --vertices",
                      name);
      return CLI_EXIT_USAGE;
    }
    if (pr->format == FORMAT_METIS && pr->undirected) {
      cli_usage_error(rank, PROGRAM, "a METIS graph lists every edge from both ends already: no --undirected");
      return CLI_EXIT_USAGE;
    }
  }
  if (pr->sparse && pr->vertices != 0) {
    cli_usage_error(rank, PROGRAM, "--vertices N makes the vertices 0..N-1; --%s makes them the ids that occur: "
                    "give one", pr->names ? "names" : "sparse");
    return CLI_EXIT_USAGE;
  }
  if (pr->cli.job.output_dir == NULL) {
    cli_usage_error(rank, PROGRAM, "-o OUTDIR is required");
    return CLI_EXIT_USAGE;
  }
  return 0;
}

/* Frees this rank's graph. */
static void free_graph(pagerank *pr) {
  vertex_part_free(&pr->part);
  key_intern_free(&pr->destinations);
  free(pr->sent);
  free(pr->isolated_ids);
  graph_file_close(&pr->file);
  mpimr_workspace_free(pr->workspace);
}

/* Builds the graph, iterates, writes the ranks. Returns the exit status. */
static int run_pagerank(pagerank *pr, int rank, int ranks) {
  uint64_t edges = 0;
  int iterations = 0;
  double change = 0;
  double started = MPI_Wtime();
  int status = build_graph(pr, rank, &edges);
  double built = MPI_Wtime();
  if (status == 0) status = iterate(pr, rank, &iterations, &change);
  double iterated = MPI_Wtime();
  if (status == 0) status = write_ranks(pr, rank, ranks);
  double written = MPI_Wtime();
  if (status == 0 && !pr->cli.quiet && rank == 0)
    fprintf(stderr, "%s: %llu vertices, %llu edges: %d iterations, last L1 change %.6g (%s)\n", PROGRAM,
            (unsigned long long)pr->vertex_count, (unsigned long long)edges, iterations, change,
            converged(pr, change) ? "converged" : "stopped at --max-iterations");
  if (status == 0 && pr->cli.job.verbose && rank == 0)
    fprintf(stderr, "%s: seconds: build %.3f, iterations %.3f (%.2f ms each), output %.3f; %llu jobs reused "
            "the last one's communicator and shuffle\n", PROGRAM,
            built - started, iterated - built, iterations ? 1e3 * (iterated - built) / iterations : 0.0,
            written - iterated, (unsigned long long)mpimr_workspace_reuses(pr->workspace));
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
  key_intern_init(&pr.destinations);
  int status = parse_options(argc, argv, rank, &pr);
  if (status == 0 && pr.cli.help) {
    if (rank == 0) print_help();
  } else if (status == 0) {
    pr.cli.job.user = &pr;
    if (!iter_cli_all_ok(mpimr_workspace_create(&pr.workspace) == MPIMR_OK))
      status = fail_all(rank, "out of memory");
    else
      status = run_pagerank(&pr, rank, ranks);
    iter_cli_keep_bad_records(pr.cli.job.max_bad_records ? pr.cli.job.output_dir : NULL, rank);
  }
  free_graph(&pr);
  MPI_Finalize();
  return status;
}
