/* apps/graph_files.c — METIS and MatrixMarket graph files, read in chunks; see graph_files.h. */
#include "graph_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ids are 1-based in both formats and kept below 2^63 once 0-based. */
#define GRAPH_ID_LIMIT (UINT64_C(1) << 63)

static int is_blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The end of the line that starts at `at`: the offset of its '\n', or `end`. */
static size_t line_end(const unsigned char *bytes, size_t at, size_t end) {
  const unsigned char *newline = memchr(bytes + at, '\n', end - at);
  return newline ? (size_t)(newline - bytes) : end;
}

static size_t skip_blanks(const unsigned char *line, size_t at, size_t end) {
  while (at < end && is_blank(line[at])) at++;
  return at;
}

/* Reads a decimal number at bytes[*at] (a token of digits only). Returns 0, or -1 if there is none,
 * it is not all digits, or it is 2^63 or more. */
static int read_number(const unsigned char *bytes, size_t *at, size_t end, uint64_t *value) {
  size_t i = *at;
  if (i >= end || bytes[i] < '0' || bytes[i] > '9') return -1;
  uint64_t v = 0;
  for (; i < end && bytes[i] >= '0' && bytes[i] <= '9'; i++) {
    v = v * 10 + (uint64_t)(bytes[i] - '0');
    if (v >= GRAPH_ID_LIMIT) return -1;
  }
  if (i < end && !is_blank(bytes[i])) return -1;
  *at = i;
  *value = v;
  return 0;
}

/* Skips one token (a weight or a value: any run of non-blank bytes). Returns 0, or -1 if none. */
static int skip_token(const unsigned char *bytes, size_t *at, size_t end) {
  size_t i = *at;
  if (i >= end) return -1;
  while (i < end && !is_blank(bytes[i])) i++;
  *at = i;
  return 0;
}

static void say(char *error, size_t cap, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void say(char *error, size_t cap, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(error, cap, format, args);
  va_end(args);
}

/* The first line at or after `at` that is not a comment ('%' first) or blank; sets *end to its end.
 * Returns its offset, or file->size if there is none. */
static size_t next_content_line(const graph_file *file, size_t at, size_t *end) {
  while (at < file->size) {
    size_t stop = line_end(file->bytes, at, file->size);
    size_t first = skip_blanks(file->bytes, at, stop);
    if (first < stop && file->bytes[at] != '%') {
      *end = stop;
      return at;
    }
    at = stop + 1;
  }
  *end = file->size;
  return file->size;
}

/* Reads the METIS header line 'n m [fmt [ncon]]'. Returns 0, or -1 with `error` set. */
static int read_metis_header(graph_file *file, char *error, size_t cap) {
  size_t end, at = next_content_line(file, 0, &end);
  if (at == file->size) {
    say(error, cap, "%s: no METIS header line 'VERTICES EDGES [FMT [NCON]]' (the file is empty)", file->path);
    return -1;
  }
  const unsigned char *b = file->bytes;
  size_t i = skip_blanks(b, at, end);
  uint64_t n, m;
  if (read_number(b, &i, end, &n) != 0 || (i = skip_blanks(b, i, end), read_number(b, &i, end, &m)) != 0) {
    say(error, cap, "%s: byte %zu: the METIS header is not 'VERTICES EDGES [FMT [NCON]]'", file->path, at);
    return -1;
  }
  i = skip_blanks(b, i, end);
  if (i < end) {
    size_t start = i;
    while (i < end && (b[i] == '0' || b[i] == '1')) i++;
    if (i == start || i - start > 3 || (i < end && !is_blank(b[i]))) {
      say(error, cap, "%s: byte %zu: the METIS FMT field must be up to three digits 0 or 1", file->path, start);
      return -1;
    }
    size_t digits = i - start;
    file->has_edge_weights = b[i - 1] == '1';
    file->vertex_weights = digits >= 2 && b[i - 2] == '1' ? 1 : 0;
    file->has_vertex_size = digits >= 3 && b[i - 3] == '1';
    i = skip_blanks(b, i, end);
    if (i < end) {
      uint64_t ncon;
      if (read_number(b, &i, end, &ncon) != 0 || ncon == 0 || ncon > 1000 || skip_blanks(b, i, end) != end) {
        say(error, cap, "%s: byte %zu: the METIS NCON field must be a number of weights from 1 to 1000",
            file->path, i);
        return -1;
      }
      if (file->vertex_weights) file->vertex_weights = (unsigned)ncon;
    }
  }
  file->vertex_count = n;
  file->declared_count = 2 * m;
  file->body_offset = end < file->size ? end + 1 : end;
  return 0;
}

/* Reads the MatrixMarket banner and size line. Returns 0, or -1 with `error` set. */
static int read_matrix_market_header(graph_file *file, char *error, size_t cap) {
  const unsigned char *b = file->bytes;
  size_t end = line_end(b, 0, file->size);
  char banner[256];
  size_t length = end < sizeof banner - 1 ? end : sizeof banner - 1;
  memcpy(banner, b, length);
  banner[length] = '\0';
  char word[5][32];
  if (sscanf(banner, "%31s %31s %31s %31s %31s", word[0], word[1], word[2], word[3], word[4]) != 5 ||
      strcmp(word[0], "%%MatrixMarket") != 0 || strcasecmp(word[1], "matrix") != 0) {
    say(error, cap, "%s: the first line is not a MatrixMarket banner '%%%%MatrixMarket matrix coordinate FIELD "
        "SYMMETRY'", file->path);
    return -1;
  }
  if (strcasecmp(word[2], "coordinate") != 0) {
    say(error, cap, "%s: a MatrixMarket '%s' matrix is not a graph: only 'coordinate' (sparse) files are read",
        file->path, word[2]);
    return -1;
  }
  if (strcasecmp(word[3], "pattern") == 0) file->values_per_entry = 0;
  else if (strcasecmp(word[3], "real") == 0 || strcasecmp(word[3], "integer") == 0) file->values_per_entry = 1;
  else if (strcasecmp(word[3], "complex") == 0) file->values_per_entry = 2;
  else {
    say(error, cap, "%s: unknown MatrixMarket field '%s' (pattern, real, integer or complex)", file->path, word[3]);
    return -1;
  }
  if (strcasecmp(word[4], "general") == 0) file->symmetric = 0;
  else if (strcasecmp(word[4], "symmetric") == 0 || strcasecmp(word[4], "skew-symmetric") == 0 ||
           strcasecmp(word[4], "hermitian") == 0)
    file->symmetric = 1;
  else {
    say(error, cap, "%s: unknown MatrixMarket symmetry '%s' (general, symmetric, skew-symmetric or hermitian)",
        file->path, word[4]);
    return -1;
  }
  size_t at = next_content_line(file, end < file->size ? end + 1 : end, &end);
  uint64_t rows, columns, entries;
  size_t i = skip_blanks(b, at, end);
  if (at == file->size || read_number(b, &i, end, &rows) != 0 ||
      (i = skip_blanks(b, i, end), read_number(b, &i, end, &columns)) != 0 ||
      (i = skip_blanks(b, i, end), read_number(b, &i, end, &entries)) != 0 || skip_blanks(b, i, end) != end) {
    say(error, cap, "%s: byte %zu: no MatrixMarket size line 'ROWS COLUMNS ENTRIES'", file->path, at);
    return -1;
  }
  if (rows != columns) {
    say(error, cap, "%s: the matrix is %llu x %llu: an adjacency matrix must be square", file->path,
        (unsigned long long)rows, (unsigned long long)columns);
    return -1;
  }
  file->vertex_count = rows;
  file->declared_count = entries;
  file->body_offset = end < file->size ? end + 1 : end;
  return 0;
}

/* Cuts the body into `count` chunks at line starts. */
static int cut_chunks(graph_file *file, uint64_t count) {
  file->chunk_start = malloc((count + 1) * sizeof *file->chunk_start);
  if (file->chunk_start == NULL) return -1;
  size_t body = file->size - file->body_offset;
  for (uint64_t c = 0; c <= count; c++) {
    size_t at = file->body_offset + (size_t)((unsigned __int128)body * c / count);
    if (at > file->body_offset && at < file->size && file->bytes[at - 1] != '\n') {
      at = line_end(file->bytes, at, file->size);
      if (at < file->size) at++;
    }
    if (c > 0 && at < file->chunk_start[c - 1]) at = file->chunk_start[c - 1];
    file->chunk_start[c] = at;
  }
  file->chunk_count = count;
  return 0;
}

/* The METIS vertex lines (lines not starting with '%') that start in [start, end). */
static uint64_t count_vertex_lines(const unsigned char *bytes, size_t start, size_t end) {
  uint64_t lines = 0;
  for (size_t at = start; at < end;) {
    if (bytes[at] != '%') lines++;
    const unsigned char *newline = memchr(bytes + at, '\n', end - at);
    if (newline == NULL) break;
    at = (size_t)(newline - bytes) + 1;
  }
  return lines;
}

/* Numbers the METIS vertex lines of every chunk, the counting shared by the ranks. */
static int number_vertex_lines(graph_file *file, MPI_Comm comm, uint64_t *lines) {
  int rank, ranks;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  uint64_t *counts = calloc(file->chunk_count, sizeof *counts);
  file->chunk_first_vertex = malloc(file->chunk_count * sizeof *file->chunk_first_vertex);
  int ok = counts != NULL && file->chunk_first_vertex != NULL, all_ok;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, comm);
  if (!all_ok) {
    free(counts);
    return -1;
  }
  for (uint64_t c = (uint64_t)rank; c < file->chunk_count; c += (uint64_t)ranks)
    counts[c] = count_vertex_lines(file->bytes, file->chunk_start[c], file->chunk_start[c + 1]);
  MPI_Allreduce(MPI_IN_PLACE, counts, (int)file->chunk_count, MPI_UINT64_T, MPI_SUM, comm);
  uint64_t total = 0;
  for (uint64_t c = 0; c < file->chunk_count; c++) {
    file->chunk_first_vertex[c] = total;
    total += counts[c];
  }
  free(counts);
  *lines = total;
  return 0;
}

/* Maps the file. Returns 0, or -1 with `error` set. */
static int map_file(graph_file *file, char *error, size_t cap) {
  int fd = open(file->path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    say(error, cap, "%s: %s", file->path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    say(error, cap, "%s: not a regular file (a METIS or MatrixMarket graph is one file)", file->path);
    close(fd);
    return -1;
  }
  file->size = (size_t)st.st_size;
  if (file->size > 0) {
    void *bytes = mmap(NULL, file->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (bytes == MAP_FAILED) {
      say(error, cap, "%s: cannot map it into memory: %s", file->path, strerror(errno));
      close(fd);
      file->size = 0;
      return -1;
    }
    madvise(bytes, file->size, MADV_SEQUENTIAL);
    file->bytes = bytes;
  }
  close(fd);
  return 0;
}

int graph_file_format_of(const char *path) {
  size_t length = strlen(path);
  if ((length > 6 && strcmp(path + length - 6, ".graph") == 0) || (length > 6 && strcmp(path + length - 6, ".metis") == 0))
    return GRAPH_FILE_METIS;
  if (length > 4 && strcmp(path + length - 4, ".mtx") == 0) return GRAPH_FILE_MATRIX_MARKET;
  char banner[15] = {0};
  FILE *file = fopen(path, "rb");
  if (file != NULL) {
    size_t got = fread(banner, 1, sizeof banner - 1, file);
    fclose(file);
    if (got == 14 && strcmp(banner, "%%MatrixMarket") == 0) return GRAPH_FILE_MATRIX_MARKET;
  }
  return 0;
}

int graph_file_parse_format(const char *text, int *format) {
  if (strcmp(text, "auto") == 0) *format = -1;
  else if (strcmp(text, "edges") == 0) *format = 0;
  else if (strcmp(text, "metis") == 0) *format = GRAPH_FILE_METIS;
  else if (strcmp(text, "mtx") == 0) *format = GRAPH_FILE_MATRIX_MARKET;
  else return -1;
  return 0;
}

int graph_file_open(graph_file *file, const char *path, graph_file_format format, int chunks_per_rank,
                    MPI_Comm comm, char *error, size_t error_cap) {
  memset(file, 0, sizeof *file);
  file->path = path;
  file->format = format;
  int ranks;
  MPI_Comm_size(comm, &ranks);
  error[0] = '\0';
  int ok = map_file(file, error, error_cap) == 0;
  if (ok) {
    ok = (format == GRAPH_FILE_METIS ? read_metis_header(file, error, error_cap)
                                     : read_matrix_market_header(file, error, error_cap)) == 0;
  }
  if (ok && file->vertex_count >= GRAPH_ID_LIMIT) {
    say(error, error_cap, "%s: %llu vertices: ids must stay below 2^63", path,
        (unsigned long long)file->vertex_count);
    ok = 0;
  }
  if (ok && cut_chunks(file, (uint64_t)ranks * (uint64_t)(chunks_per_rank > 0 ? chunks_per_rank : 1)) != 0) {
    say(error, error_cap, "%s: out of memory for the chunk table", path);
    ok = 0;
  }
  int all_ok;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, comm);
  if (all_ok && format == GRAPH_FILE_METIS) {
    uint64_t lines = 0;
    if (number_vertex_lines(file, comm, &lines) != 0) {
      say(error, error_cap, "%s: out of memory for the chunk table", path);
      all_ok = 0;
    } else if (lines < file->vertex_count) {
      say(error, error_cap, "%s: the header says %llu vertices but the file has %llu vertex lines", path,
          (unsigned long long)file->vertex_count, (unsigned long long)lines);
      all_ok = 0;
    }
  }
  if (!all_ok) {
    if (error[0] == '\0') say(error, error_cap, "another rank failed to read %s", path);
    graph_file_close(file);
    return -1;
  }
  return 0;
}

void graph_file_close(graph_file *file) {
  if (file->bytes != NULL) munmap((void *)file->bytes, file->size);
  free(file->chunk_start);
  free(file->chunk_first_vertex);
  file->bytes = NULL;
  file->chunk_start = NULL;
  file->chunk_first_vertex = NULL;
}

/* Reads a 1-based vertex number into a 0-based id below the vertex count. */
static const char *read_vertex(const graph_file *file, size_t *at, size_t end, uint64_t *id) {
  uint64_t number;
  if (read_number(file->bytes, at, end, &number) != 0) return "a vertex number is not a decimal number";
  if (number == 0 || number > file->vertex_count) return "a vertex number is not between 1 and the vertex count";
  *id = number - 1;
  return NULL;
}

/* One METIS vertex line: `vertex` -> each neighbour. */
static int map_metis_line(const graph_file *file, uint64_t vertex, size_t at, size_t end, graph_edge_fn edge,
                          graph_vertex_fn lone_vertex, void *user, uint64_t *entries, mpimr_emitter *out) {
  const unsigned char *b = file->bytes;
  size_t i = skip_blanks(b, at, end);
  if (vertex >= file->vertex_count) {
    if (i == end) return MPIMR_OK; /* blank lines after the last vertex */
    return mpimr_fail(out, "%s: byte %zu: more vertex lines than the %llu the header gives", file->path, at,
                      (unsigned long long)file->vertex_count);
  }
  unsigned skipped = (file->has_vertex_size ? 1u : 0u) + file->vertex_weights;
  for (unsigned k = 0; k < skipped; k++) {
    if (skip_token(b, &i, end) != 0)
      return mpimr_fail(out, "%s: byte %zu: vertex %llu's line lacks its size or weights (FMT in the header)",
                        file->path, at, (unsigned long long)vertex + 1);
    i = skip_blanks(b, i, end);
  }
  uint64_t listed = 0;
  while (i < end) {
    uint64_t neighbour;
    const char *problem = read_vertex(file, &i, end, &neighbour);
    if (problem != NULL)
      return mpimr_fail(out, "%s: byte %zu: vertex %llu's line: %s", file->path, i, (unsigned long long)vertex + 1,
                        problem);
    i = skip_blanks(b, i, end);
    if (file->has_edge_weights) {
      if (skip_token(b, &i, end) != 0)
        return mpimr_fail(out, "%s: byte %zu: vertex %llu's line: a neighbour without its edge weight", file->path,
                          i, (unsigned long long)vertex + 1);
      i = skip_blanks(b, i, end);
    }
    listed++;
    int rc = edge(user, vertex, neighbour, out);
    if (rc != MPIMR_OK) return rc;
  }
  *entries += listed;
  if (listed == 0 && lone_vertex != NULL) return lone_vertex(user, vertex, out);
  return MPIMR_OK;
}

/* One MatrixMarket entry line 'i j [value...]': i -> j, and j -> i when symmetric. */
static int map_entry_line(const graph_file *file, size_t at, size_t end, graph_edge_fn edge, void *user,
                          uint64_t *entries, mpimr_emitter *out) {
  const unsigned char *b = file->bytes;
  size_t i = skip_blanks(b, at, end);
  if (i == end || b[i] == '%') return MPIMR_OK;
  uint64_t row, column;
  const char *problem = read_vertex(file, &i, end, &row);
  if (problem == NULL) {
    i = skip_blanks(b, i, end);
    problem = read_vertex(file, &i, end, &column);
  }
  for (unsigned k = 0; problem == NULL && k < file->values_per_entry; k++) {
    i = skip_blanks(b, i, end);
    if (skip_token(b, &i, end) != 0) problem = "an entry lacks its value (FIELD in the banner)";
  }
  if (problem == NULL && skip_blanks(b, i, end) != end) problem = "an entry has more fields than FIELD says";
  if (problem != NULL) return mpimr_fail(out, "%s: byte %zu: %s", file->path, at, problem);
  (*entries)++;
  int rc = edge(user, row, column, out);
  if (rc == MPIMR_OK && file->symmetric && row != column) rc = edge(user, column, row, out);
  return rc;
}

int graph_file_map_chunk(const graph_file *file, uint64_t chunk, graph_edge_fn edge, graph_vertex_fn lone_vertex,
                         void *user, uint64_t *entries, mpimr_emitter *out) {
  size_t at = file->chunk_start[chunk], stop = file->chunk_start[chunk + 1];
  uint64_t vertex = file->format == GRAPH_FILE_METIS ? file->chunk_first_vertex[chunk] : 0;
  while (at < stop) {
    size_t end = line_end(file->bytes, at, stop);
    int rc = MPIMR_OK;
    if (file->format == GRAPH_FILE_MATRIX_MARKET) {
      rc = map_entry_line(file, at, end, edge, user, entries, out);
    } else if (file->bytes[at] != '%') {
      rc = map_metis_line(file, vertex++, at, end, edge, lone_vertex, user, entries, out);
    }
    if (rc != MPIMR_OK) return rc;
    at = end + 1;
  }
  return MPIMR_OK;
}

int graph_file_check_count(const graph_file *file, uint64_t entries, char *text, size_t cap) {
  if (entries == file->declared_count) return 0;
  if (file->format == GRAPH_FILE_METIS)
    say(text, cap, "%s: the header says %llu edges (%llu neighbours listed), the lines list %llu neighbours",
        file->path, (unsigned long long)(file->declared_count / 2), (unsigned long long)file->declared_count,
        (unsigned long long)entries);
  else
    say(text, cap, "%s: the size line says %llu entries, the file has %llu", file->path,
        (unsigned long long)file->declared_count, (unsigned long long)entries);
  return -1;
}
