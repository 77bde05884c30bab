/*
 * apps/graph_files.h — reading a graph from a METIS graph file or a
 * MatrixMarket coordinate file, in parallel, for mpimr-pagerank and mpimr-cc.
 * Not part of the library.
 *
 * Both formats number their vertices from 1 and give the vertex count in a
 * header; METIS numbers vertices by line (line i after the header lists the
 * neighbours of vertex i), so a rank cannot read a line without knowing how
 * many vertex lines come before it. graph_file_open() therefore maps the
 * file into memory on every rank, cuts its body into chunks at line starts
 * and counts, over all ranks together, the vertex lines of each chunk; a job
 * with map_index over [0, chunk_count) then hands each chunk to
 * graph_file_map_chunk(), which calls back once per edge with 0-based ids.
 *
 *   METIS        'n m [fmt [ncon]]', then n lines; fmt's digits say whether a
 *                line starts with the vertex size (100), then ncon vertex
 *                weights (010), and whether each neighbour is followed by an
 *                edge weight (001). Lines starting with '%' are comments; an
 *                empty line is a vertex without neighbours. Every listed
 *                neighbour u of v is an edge v -> u (an undirected graph lists
 *                each edge twice, once from each end, as METIS requires).
 *   MatrixMarket '%%MatrixMarket matrix coordinate FIELD SYMMETRY', comment
 *                lines '%...', 'rows cols entries', then one 'i j [value]' per
 *                entry (FIELD pattern: no value; real or integer: one; complex:
 *                two). Entry (i, j) is an edge i -> j; with SYMMETRY symmetric,
 *                skew-symmetric or hermitian also j -> i (i != j). The matrix
 *                must be square.
 */
#ifndef MPIMR_APPS_GRAPH_FILES_H
#define MPIMR_APPS_GRAPH_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "mpimr/mpimr.h"

typedef enum graph_file_format {
  GRAPH_FILE_METIS = 1,
  GRAPH_FILE_MATRIX_MARKET = 2,
} graph_file_format;

/**
 * The format a file's name or first bytes suggest: METIS for a name ending
 * in .graph or .metis, MatrixMarket for .mtx or a file that starts with the
 * '%%MatrixMarket' banner; 0 for anything else (an edge list).
 */
int graph_file_format_of(const char *path);

/**
 * Parses a --format value: "metis" or "mtx" (*format set to the format),
 * "edges" (0) or "auto" (-1). Returns 0, or -1 for anything else.
 */
int graph_file_parse_format(const char *text, int *format);

/** An open graph file: the mapping, its header, and its chunks. */
typedef struct graph_file {
  const char *path;
  graph_file_format format;
  const unsigned char *bytes; /* the whole file, mapped read-only */
  size_t size;
  uint64_t vertex_count;     /* n from the header */
  uint64_t declared_count;   /* METIS: edges m (each listed twice); MatrixMarket: entries */
  /* METIS line layout. */
  int has_vertex_size;
  unsigned vertex_weights;
  int has_edge_weights;
  /* MatrixMarket entry layout. */
  int symmetric;
  unsigned values_per_entry;
  size_t body_offset;        /* the first byte after the header (and size line) */
  uint64_t chunk_count;
  size_t *chunk_start;       /* chunk_count + 1 line-aligned offsets into bytes */
  uint64_t *chunk_first_vertex; /* METIS: the 0-based vertex of each chunk's first vertex line */
} graph_file;

/**
 * Maps `path` and reads its header as `format`, then cuts the body into
 * chunks (about `chunks_per_rank` per rank) and, for METIS, numbers the
 * vertex lines of every chunk, splitting the counting over the ranks of
 * `comm` (collective). Returns 0, or -1 on every rank with `error` (of
 * `error_cap` bytes) saying what is wrong, the file named, on the ranks that
 * found the problem (the others get "another rank failed to read ...").
 */
int graph_file_open(graph_file *file, const char *path, graph_file_format format, int chunks_per_rank,
                    MPI_Comm comm, char *error, size_t error_cap);

/** Unmaps the file and frees the chunk tables (safe on a zeroed or failed graph_file). */
void graph_file_close(graph_file *file);

/** Called once per edge: source and destination, 0-based and below the header's vertex count. */
typedef int (*graph_edge_fn)(void *user, uint64_t source, uint64_t destination, mpimr_emitter *out);

/**
 * Called for a METIS vertex line without neighbours (a vertex that may have
 * no edge at all); NULL if not wanted.
 */
typedef int (*graph_vertex_fn)(void *user, uint64_t vertex, mpimr_emitter *out);

/**
 * Parses chunk `chunk` of an open file, calling `edge` for every edge (and,
 * for METIS, `lone_vertex` for every line without neighbours), and adds the
 * number of entries it read (METIS: neighbours listed; MatrixMarket: entry
 * lines) to *entries. A malformed line fails the job through mpimr_fail(),
 * naming the file, the byte offset and the line's problem. Returns what the
 * callbacks returned, or MPIMR_OK.
 */
int graph_file_map_chunk(const graph_file *file, uint64_t chunk, graph_edge_fn edge, graph_vertex_fn lone_vertex,
                         void *user, uint64_t *entries, mpimr_emitter *out);

/**
 * After the job: checks `entries`, the entries every rank read added up,
 * against the header (METIS: 2m, each edge listed from both ends;
 * MatrixMarket: the entry count). Returns 0, or -1 with the mismatch
 * described in `text` (of `cap` bytes).
 */
int graph_file_check_count(const graph_file *file, uint64_t entries, char *text, size_t cap);

#endif /* MPIMR_APPS_GRAPH_FILES_H */
