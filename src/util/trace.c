/* util/trace.c — recording and writing the job timeline; see trace.h. */
#include "util/trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpimr/error.h"

static const char *const kind_names[TRACE_KIND_COUNT] = {
    "map slice", "send wait", "round header", "round data", "fold round", "shuffle tail", "reduce", "output"};
static const char *const kind_categories[TRACE_KIND_COUNT] = {"map",     "map",     "shuffle", "shuffle",
                                                              "shuffle", "shuffle", "reduce",  "output"};

void trace_init(trace *t, int enabled, double origin) {
  memset(t, 0, sizeof *t);
  t->enabled = enabled;
  t->origin = origin;
}

void trace_destroy(trace *t) {
  free(t->events);
  memset(t, 0, sizeof *t);
}

void trace_span_slow(trace *t, trace_kind kind, double start, double end, uint64_t round) {
  if (t->count == t->capacity) {
    size_t capacity = t->capacity ? t->capacity * 2 : 1024;
    trace_event *grown = realloc(t->events, capacity * sizeof *grown);
    if (grown == NULL) {
      t->dropped = 1;
      return;
    }
    t->events = grown;
    t->capacity = capacity;
  }
  t->events[t->count++] = (trace_event){start - t->origin, end - t->origin, (uint32_t)kind, (uint32_t)round};
}

static void write_event(FILE *f, const trace_event *e, int rank, int first) {
  uint32_t kind = e->kind < TRACE_KIND_COUNT ? e->kind : 0;
  fprintf(f, "%s\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":0,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f",
          first ? "" : ",", kind_names[kind], kind_categories[kind], rank, e->start * 1e6,
          (e->end - e->start) * 1e6);
  if (kind == TRACE_ROUND_HEADER || kind == TRACE_ROUND_DATA || kind == TRACE_FOLD_ROUND)
    fprintf(f, ",\"args\":{\"round\":%u}", e->round);
  fputc('}', f);
}

static int write_file(const char *path, int nranks, const uint64_t *counts, const trace_event *events,
                      char *message, size_t message_size) {
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    snprintf(message, message_size, "trace '%s': %s", path, strerror(errno));
    return MPIMR_ERR_IO;
  }
  fprintf(f,
          "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"mpimr\",\"ranks\":%d},\"traceEvents\":[",
          nranks);
  fprintf(f,
          "\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"tid\":0,\"args\":{\"name\":\"mpimr job\"}}");
  for (int r = 0; r < nranks; r++)
    fprintf(f,
            ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":%d,\"args\":{\"name\":\"rank %d\"}}",
            r, r);
  size_t at = 0;
  for (int r = 0; r < nranks; r++)
    for (uint64_t i = 0; i < counts[r]; i++) write_event(f, &events[at++], r, 0);
  fprintf(f, "\n]}\n");
  int failed = ferror(f);
  if (fclose(f) != 0) failed = 1;
  if (failed) {
    snprintf(message, message_size, "trace '%s': write failed", path);
    return MPIMR_ERR_IO;
  }
  return MPIMR_OK;
}

int trace_write(const trace *t, MPI_Comm comm, const char *path, char *message, size_t message_size) {
  int rank, nranks;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &nranks);
  uint64_t count = t->count, *counts = NULL;
  int *byte_counts = NULL, *displacements = NULL;
  trace_event *all = NULL;
  int ok = 1;
  if (rank == 0) {
    counts = malloc(sizeof *counts * (size_t)nranks);
    byte_counts = malloc(sizeof *byte_counts * (size_t)nranks);
    displacements = malloc(sizeof *displacements * (size_t)nranks);
    ok = counts && byte_counts && displacements;
  }
  int rc = MPIMR_OK;
  if (MPI_Bcast(&ok, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
    rc = MPIMR_ERR_MPI;
  else if (!ok)
    rc = MPIMR_ERR_NOMEM;
  if (rc == MPIMR_OK && MPI_Gather(&count, 1, MPI_UINT64_T, counts, 1, MPI_UINT64_T, 0, comm) != MPI_SUCCESS)
    rc = MPIMR_ERR_MPI;
  if (rc == MPIMR_OK && rank == 0) {
    size_t total = 0;
    for (int r = 0; r < nranks; r++) {
      displacements[r] = (int)(total * sizeof(trace_event));
      byte_counts[r] = (int)(counts[r] * sizeof(trace_event));
      total += counts[r];
    }
    if (total * sizeof(trace_event) > (size_t)1 << 30)
      ok = 0; /* keep Gatherv's int counts safe */
    else if ((all = malloc((total ? total : 1) * sizeof *all)) == NULL)
      ok = 0;
  }
  if (rc == MPIMR_OK && MPI_Bcast(&ok, 1, MPI_INT, 0, comm) != MPI_SUCCESS) rc = MPIMR_ERR_MPI;
  if (rc == MPIMR_OK && !ok) {
    rc = MPIMR_ERR_NOMEM;
    snprintf(message, message_size, "trace '%s': too many events to gather", path);
  }
  if (rc == MPIMR_OK && MPI_Gatherv(t->events, (int)(count * sizeof(trace_event)), MPI_BYTE, all, byte_counts,
                                    displacements, MPI_BYTE, 0, comm) != MPI_SUCCESS)
    rc = MPIMR_ERR_MPI;
  if (rc == MPIMR_OK && rank == 0) rc = write_file(path, nranks, counts, all, message, message_size);
  free(counts);
  free(byte_counts);
  free(displacements);
  free(all);
  int agreed = rc;
  if (MPI_Bcast(&agreed, 1, MPI_INT, 0, comm) != MPI_SUCCESS) return MPIMR_ERR_MPI;
  return agreed;
}
