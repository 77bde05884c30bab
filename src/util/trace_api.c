/*
 * util/trace_api.c — the public timeline (mpimr/trace.h): a thin handle on
 * the recorder and writer the job uses (util/trace.h), with named spans.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpimr/error.h"
#include "mpimr/trace.h"
#include "util/clock.h"
#include "util/trace.h"

struct mpimr_trace {
  trace timeline;
};

double mpimr_trace_now(void) { return clock_now(); }

int mpimr_trace_create(mpimr_trace **out, const char *label, int enabled) {
  if (out == NULL) return MPIMR_ERR_INVAL;
  *out = NULL;
  mpimr_trace *t = malloc(sizeof *t);
  if (t == NULL) return MPIMR_ERR_NOMEM;
  trace_init(&t->timeline, enabled != 0, clock_now());
  if (enabled && trace_set_label(&t->timeline, label ? label : "mpimr") != 0) {
    free(t);
    return MPIMR_ERR_NOMEM;
  }
  *out = t;
  return MPIMR_OK;
}

int mpimr_trace_enabled(const mpimr_trace *t) { return t != NULL && t->timeline.enabled; }

void mpimr_trace_span(mpimr_trace *t, const char *name, double start, double end) {
  if (t != NULL && t->timeline.enabled) trace_span_named(&t->timeline, name ? name : "", start, end);
}

int mpimr_trace_write(mpimr_trace *t, MPI_Comm comm, const char *path, char *message, size_t message_size) {
  if (message != NULL && message_size > 0) message[0] = '\0';
  if (t == NULL || !t->timeline.enabled) return MPIMR_OK;
  if (path == NULL || path[0] == '\0') {
    if (message != NULL && message_size > 0) snprintf(message, message_size, "trace: no file name given");
    return MPIMR_ERR_INVAL;
  }
  /* Work on a duplicate that returns MPI errors, so a failure is reported and not fatal, and
   * the caller's communicator and its error handler are left as they were. */
  MPI_Comm own;
  if (MPI_Comm_dup(comm, &own) != MPI_SUCCESS) {
    if (message != NULL && message_size > 0)
      snprintf(message, message_size, "trace '%s': %s", path, mpimr_strerror(MPIMR_ERR_MPI));
    return MPIMR_ERR_MPI;
  }
  MPI_Comm_set_errhandler(own, MPI_ERRORS_RETURN);
  int rc = trace_write(&t->timeline, own, path, message, message_size);
  MPI_Comm_free(&own);
  return rc;
}

void mpimr_trace_free(mpimr_trace *t) {
  if (t == NULL) return;
  trace_destroy(&t->timeline);
  free(t);
}
