/* util/trace.c — recording and writing timelines; see trace.h. */
#include "util/trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpimr/error.h"

static const char *const kind_names[TRACE_KIND_COUNT] = {
    "map slice",    "send wait", "round header", "round data", "fold round",
    "shuffle tail", "reduce",    "output",       "named",      "memory"};
static const char *const kind_categories[TRACE_KIND_COUNT] = {
    "map", "map", "shuffle", "shuffle", "shuffle", "shuffle", "reduce", "output", "app", "memory"};

/* What one rank sends to rank 0 before its events and names. */
enum { SIZE_EVENTS, SIZE_NAME_BYTES, SIZE_DROPPED, SIZE_FIELDS };

/* Gatherv takes int counts: keep each gathered array, and so every rank's part, below 1 GiB. */
#define TRACE_GATHER_LIMIT ((size_t)1 << 30)

/* Room for a message that names a path and a cause. */
enum { TRACE_MESSAGE_BYTES = 1024 };

void trace_init(trace *t, int enabled, double origin) {
  memset(t, 0, sizeof *t);
  t->enabled = enabled;
  t->origin = origin;
}

void trace_destroy(trace *t) {
  free(t->events);
  free(t->names.text);
  free(t->names.slots);
  free(t->label);
  memset(t, 0, sizeof *t);
}

int trace_set_label(trace *t, const char *label) {
  char *copy = NULL;
  if (label != NULL) {
    copy = malloc(strlen(label) + 1);
    if (copy == NULL) return -1;
    strcpy(copy, label);
  }
  free(t->label);
  t->label = copy;
  return 0;
}

/* ---- Recording ---------------------------------------------------------- */

/* Appends one event; on failure to grow, marks the trace lossy instead. */
static void record(trace *t, trace_kind kind, double start, double end, uint32_t detail, uint64_t value) {
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
  t->events[t->count++] = (trace_event){start - t->origin, end - t->origin, (uint32_t)kind, detail, value};
}

void trace_span_slow(trace *t, trace_kind kind, double start, double end, uint64_t round) {
  record(t, kind, start, end, (uint32_t)round, 0);
}

void trace_span_value_slow(trace *t, trace_kind kind, double start, double end, uint64_t round,
                           uint64_t value) {
  record(t, kind, start, end, (uint32_t)round, value);
}

void trace_memory_slow(trace *t, double when, uint64_t bytes) {
  record(t, TRACE_MEMORY, when, when, 0, bytes);
}

/* FNV-1a: names are short and few, so a simple hash is plenty. */
static size_t name_hash(const char *name) {
  uint64_t hash = UINT64_C(14695981039346656037);
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    hash = (hash ^ *p) * UINT64_C(1099511628211);
  return (size_t)(hash ^ (hash >> 32));
}

/* Finds the slot holding `name`, or the free slot where it belongs. */
static size_t names_slot(const trace_names *n, const char *name) {
  size_t mask = n->slot_count - 1;
  size_t at = name_hash(name) & mask;
  while (n->slots[at] != 0 && strcmp(n->text + n->slots[at] - 1, name) != 0) at = (at + 1) & mask;
  return at;
}

/* Doubles the hash table (keeping it at most half full). Returns 0 or -1. */
static int names_grow_slots(trace_names *n) {
  size_t count = n->slot_count ? n->slot_count * 2 : 64;
  uint32_t *slots = calloc(count, sizeof *slots);
  if (slots == NULL) return -1;
  trace_names grown = *n;
  grown.slots = slots;
  grown.slot_count = count;
  for (size_t i = 0; i < n->slot_count; i++)
    if (n->slots[i] != 0) slots[names_slot(&grown, n->text + n->slots[i] - 1)] = n->slots[i];
  free(n->slots);
  *n = grown;
  return 0;
}

/* Returns the offset of `name` in the table, copying it in if it is new; -1 if it cannot. */
static long long names_intern(trace_names *n, const char *name) {
  if (2 * (n->used + 1) > n->slot_count && names_grow_slots(n) != 0) return -1;
  size_t at = names_slot(n, name);
  if (n->slots[at] != 0) return n->slots[at] - 1;
  size_t bytes = strlen(name) + 1;
  if (bytes > TRACE_GATHER_LIMIT - n->length) return -1;
  if (n->length + bytes > n->capacity) {
    size_t capacity = n->capacity ? n->capacity : 1024;
    while (capacity < n->length + bytes) capacity *= 2;
    char *text = realloc(n->text, capacity);
    if (text == NULL) return -1;
    n->text = text;
    n->capacity = capacity;
  }
  memcpy(n->text + n->length, name, bytes);
  n->slots[at] = (uint32_t)n->length + 1;
  n->used++;
  n->length += bytes;
  return (long long)n->slots[at] - 1;
}

void trace_span_named(trace *t, const char *name, double start, double end) {
  long long offset = names_intern(&t->names, name);
  if (offset < 0) {
    t->dropped = 1;
    return;
  }
  record(t, TRACE_NAMED, start, end, (uint32_t)offset, 0);
}

/* ---- JSON --------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at `s` (not NUL), or 0 if there is none. */
static size_t utf8_sequence(const unsigned char *s) {
  unsigned char lead = s[0];
  if (lead < 0x80) return 1;
  size_t length;
  unsigned char low = 0x80, high = 0xBF; /* the range of the second byte */
  if (lead >= 0xC2 && lead <= 0xDF)
    length = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;  /* no overlong forms */
    if (lead == 0xED) high = 0x9F; /* no surrogates */
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F; /* nothing above U+10FFFF */
  } else
    return 0;
  if (s[1] < low || s[1] > high) return 0;
  for (size_t i = 2; i < length; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return length;
}

/*
 * Writes `text` as a JSON string. Quotes, backslashes and control characters
 * are escaped; well-formed UTF-8 is kept; any other byte becomes U+FFFD, so
 * that whatever a user named a span, the file stays valid JSON.
 */
static void write_json_string(FILE *f, const char *text) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)text; *p;) {
    size_t length = utf8_sequence(p);
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\t')
      fputs("\\t", f);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else if (length == 0)
      fputs("\\ufffd", f);
    else
      fwrite(p, 1, length, f);
    p += length ? length : 1;
  }
  fputc('"', f);
}

/*
 * A memory sample, as a Chrome counter event. Counters belong to a process
 * and every rank's track is a thread of process 0, so the rank is also the
 * counter's "id": viewers then draw one "memory" graph per rank instead of
 * one that zigzags between the ranks' samples.
 */
static void write_memory_sample(FILE *f, const trace_event *e, int rank) {
  fprintf(
      f,
      ",\n{\"name\":\"memory\",\"cat\":\"memory\",\"ph\":\"C\",\"pid\":0,\"tid\":%d,\"id\":%d,\"ts\":%.3f,"
      "\"args\":{\"bytes\":%llu}}",
      rank, rank, e->start * 1e6, (unsigned long long)e->value);
}

/* Writes one span or sample; `names` holds `names_length` bytes and ends in a NUL (or is empty). */
static void write_event(FILE *f, const trace_event *e, int rank, const char *names, size_t names_length) {
  uint32_t kind = e->kind < TRACE_KIND_COUNT ? e->kind : 0;
  if (kind == TRACE_MEMORY) {
    write_memory_sample(f, e, rank);
    return;
  }
  fputs(",\n{\"name\":", f);
  if (kind == TRACE_NAMED)
    write_json_string(f, e->round < names_length ? names + e->round : "?");
  else
    write_json_string(f, kind_names[kind]);
  fprintf(f, ",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":0,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f",
          kind_categories[kind], rank, e->start * 1e6, (e->end - e->start) * 1e6);
  if (kind == TRACE_ROUND_DATA)
    fprintf(f, ",\"args\":{\"round\":%u,\"bytes\":%llu}", e->round, (unsigned long long)e->value);
  else if (kind == TRACE_ROUND_HEADER || kind == TRACE_FOLD_ROUND)
    fprintf(f, ",\"args\":{\"round\":%u}", e->round);
  fputc('}', f);
}

/* Every rank's part, gathered on rank 0. */
typedef struct gathered {
  int nranks;
  uint64_t *sizes; /* SIZE_FIELDS per rank */
  int *event_bytes, *event_displacements;
  int *name_bytes, *name_displacements;
  trace_event *events;
  char *names;
} gathered;

/* Rank 0: whether every array is there (the counts' arrays, and after plan_gather() the data's). */
static int gathered_complete(const gathered *g, int with_data) {
  return g->sizes && g->event_bytes && g->event_displacements && g->name_bytes && g->name_displacements &&
         (!with_data || (g->events && g->names));
}

static void write_timeline(FILE *f, const char *label, const gathered *g) {
  int lossy = 0;
  for (int r = 0; r < g->nranks; r++) lossy += g->sizes[SIZE_FIELDS * r + SIZE_DROPPED] != 0;
  fprintf(f, "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"mpimr\",\"ranks\":%d", g->nranks);
  if (lossy) fprintf(f, ",\"ranks_that_lost_spans\":%d", lossy);
  fputs(
      "},\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"tid\":0,\"args\":{\"name\":",
      f);
  write_json_string(f, label ? label : "mpimr job");
  fputs("}}", f);
  for (int r = 0; r < g->nranks; r++)
    fprintf(f,
            ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":%d,\"args\":{\"name\":\"rank %d\"}}",
            r, r);
  const trace_event *e = g->events;
  for (int r = 0; r < g->nranks; r++) {
    const char *names = g->names + g->name_displacements[r];
    size_t names_length = (size_t)g->name_bytes[r];
    for (uint64_t i = 0; i < g->sizes[SIZE_FIELDS * r + SIZE_EVENTS]; i++)
      write_event(f, e++, r, names, names_length);
  }
  fputs("\n]}\n", f);
}

/*
 * Writes the file under a temporary name in the same directory and renames
 * it into place, so that `path` never holds a half-written timeline.
 */
static int write_file(const char *path, const char *label, const gathered *g, char *message,
                      size_t message_size) {
  if (!gathered_complete(g, 1)) return MPIMR_ERR_NOMEM; /* not reached: gather() made sure */
  size_t temporary_size = strlen(path) + 32;
  char *temporary = malloc(temporary_size);
  if (temporary == NULL) {
    snprintf(message, message_size, "trace '%s': out of memory", path);
    return MPIMR_ERR_NOMEM;
  }
  snprintf(temporary, temporary_size, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(temporary, "w");
  if (f == NULL) {
    snprintf(message, message_size, "trace '%s': cannot create '%s': %s", path, temporary, strerror(errno));
    free(temporary);
    return MPIMR_ERR_IO;
  }
  errno = 0;
  write_timeline(f, label, g);
  int error = ferror(f) ? (errno ? errno : EIO) : 0;
  if (fclose(f) != 0 && error == 0) error = errno;
  const char *action = "writing";
  if (error == 0 && rename(temporary, path) != 0) {
    error = errno;
    action = "renaming";
  }
  if (error != 0) {
    snprintf(message, message_size, "trace '%s': %s '%s': %s", path, action, temporary, strerror(error));
    unlink(temporary);
  }
  free(temporary);
  return error ? MPIMR_ERR_IO : MPIMR_OK;
}

/* ---- Gathering ---------------------------------------------------------- */

static void gathered_free(gathered *g) {
  free(g->sizes);
  free(g->event_bytes);
  free(g->event_displacements);
  free(g->name_bytes);
  free(g->name_displacements);
  free(g->events);
  free(g->names);
}

/* Rank 0's verdict on whether it can go on, on every rank. */
static int agree_root_ok(int ok, MPI_Comm comm, int *rc) {
  if (*rc == MPIMR_OK && MPI_Bcast(&ok, 1, MPI_INT, 0, comm) != MPI_SUCCESS) *rc = MPIMR_ERR_MPI;
  return *rc == MPIMR_OK && ok;
}

/* Rank 0: the byte counts and displacements of both arrays; 0 if either is too large to gather. */
static int plan_gather(gathered *g) {
  if (!gathered_complete(g, 0)) return 0;
  size_t events = 0, names = 0;
  for (int r = 0; r < g->nranks; r++) {
    const uint64_t *sizes = g->sizes + SIZE_FIELDS * r;
    if (sizes[SIZE_EVENTS] > TRACE_GATHER_LIMIT / sizeof(trace_event) ||
        sizes[SIZE_NAME_BYTES] > TRACE_GATHER_LIMIT)
      return 0;
    g->event_displacements[r] = (int)(events * sizeof(trace_event));
    g->event_bytes[r] = (int)(sizes[SIZE_EVENTS] * sizeof(trace_event));
    g->name_displacements[r] = (int)names;
    g->name_bytes[r] = (int)sizes[SIZE_NAME_BYTES];
    events += sizes[SIZE_EVENTS];
    names += sizes[SIZE_NAME_BYTES];
    if (events > TRACE_GATHER_LIMIT / sizeof(trace_event) || names > TRACE_GATHER_LIMIT) return 0;
  }
  g->events = malloc((events ? events : 1) * sizeof *g->events);
  g->names = malloc(names ? names : 1);
  return gathered_complete(g, 1);
}

/* Collects every rank's events and names on rank 0. Returns an mpimr status (rank 0's, where it failed). */
static int gather(const trace *t, MPI_Comm comm, int rank, gathered *g, const char *path, char *message,
                  size_t message_size) {
  int rc = MPIMR_OK, ok = 1;
  if (rank == 0) {
    size_t n = (size_t)g->nranks;
    g->sizes = malloc(SIZE_FIELDS * n * sizeof *g->sizes);
    g->event_bytes = calloc(n, sizeof(int));
    g->event_displacements = calloc(n, sizeof(int));
    g->name_bytes = calloc(n, sizeof(int));
    g->name_displacements = calloc(n, sizeof(int));
    ok = gathered_complete(g, 0);
  }
  if (!agree_root_ok(ok, comm, &rc)) {
    if (rc == MPIMR_OK) rc = MPIMR_ERR_NOMEM;
    snprintf(message, message_size, "trace '%s': %s", path, mpimr_strerror(rc));
    return rc;
  }
  uint64_t sizes[SIZE_FIELDS] = {t->count, t->names.length, (uint64_t)t->dropped};
  if (MPI_Gather(sizes, SIZE_FIELDS, MPI_UINT64_T, g->sizes, SIZE_FIELDS, MPI_UINT64_T, 0, comm) !=
      MPI_SUCCESS)
    rc = MPIMR_ERR_MPI;
  if (rc == MPIMR_OK && rank == 0) ok = plan_gather(g);
  if (!agree_root_ok(ok, comm, &rc)) {
    if (rc == MPIMR_OK) rc = MPIMR_ERR_NOMEM;
    snprintf(message, message_size, "trace '%s': %s", path,
             rc == MPIMR_ERR_NOMEM ? "too many spans to gather" : mpimr_strerror(rc));
    return rc;
  }
  if (MPI_Gatherv(t->events, (int)(t->count * sizeof(trace_event)), MPI_BYTE, g->events, g->event_bytes,
                  g->event_displacements, MPI_BYTE, 0, comm) != MPI_SUCCESS ||
      MPI_Gatherv(t->names.text, (int)t->names.length, MPI_BYTE, g->names, g->name_bytes,
                  g->name_displacements, MPI_BYTE, 0, comm) != MPI_SUCCESS) {
    snprintf(message, message_size, "trace '%s': %s", path, mpimr_strerror(MPIMR_ERR_MPI));
    return MPIMR_ERR_MPI;
  }
  /* A rank's names end in a NUL; make sure of it, so that no name can run past its rank's part. */
  if (rank == 0 && gathered_complete(g, 1))
    for (int r = 0; r < g->nranks; r++)
      if (g->name_bytes[r] > 0) g->names[g->name_displacements[r] + g->name_bytes[r] - 1] = '\0';
  return MPIMR_OK;
}

int trace_write(const trace *t, MPI_Comm comm, const char *path, char *message, size_t message_size) {
  int rank, nranks;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &nranks);
  char local_message[TRACE_MESSAGE_BYTES] = "";
  gathered g = {.nranks = nranks};
  int rc = gather(t, comm, rank, &g, path, local_message, sizeof local_message);
  if (rc == MPIMR_OK && rank == 0) rc = write_file(path, t->label, &g, local_message, sizeof local_message);
  gathered_free(&g);
  /* Rank 0's outcome and message go to every rank, so that every rank can say what went wrong. */
  struct {
    int rc;
    char message[TRACE_MESSAGE_BYTES];
  } verdict = {rc, ""};
  memcpy(verdict.message, local_message, sizeof local_message);
  if (MPI_Bcast(&verdict, (int)sizeof verdict, MPI_BYTE, 0, comm) != MPI_SUCCESS) {
    verdict.rc = MPIMR_ERR_MPI;
    snprintf(verdict.message, sizeof verdict.message, "trace '%s': %s", path, mpimr_strerror(MPIMR_ERR_MPI));
  } else if (verdict.rc == MPIMR_OK && rc != MPIMR_OK) {
    /* This rank's own MPI call failed although rank 0 saw nothing wrong: say so. */
    verdict.rc = rc;
    memcpy(verdict.message, local_message, sizeof local_message);
  }
  if (message != NULL && message_size > 0) snprintf(message, message_size, "%s", verdict.message);
  return verdict.rc;
}
