/*
 * job/failure.c — how a job records and agrees on failure: the first message is kept, a
 * caught signal becomes a failure, every rank agrees on the outcome of a step, and keys are shown
 * safely in messages.
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "job/budget.h"
#include "job/output.h"
#include "job/stages.h"
#include "kv/codec.h"
#include "kv/hash.h"
#include "kv/values.h"
#include "mpimr/error.h"
#include "mpimr/signals.h"
#include "util/clock.h"

/* Keeps the first error: later ones are usually its consequences. */
void job_set_error(mpimr_job *job, const char *format, ...) {
  if (job->error_message[0] != '\0') return;
  int n = snprintf(job->error_message, sizeof job->error_message, "rank %d: ", job->rank);
  va_list args;
  va_start(args, format);
  vsnprintf(job->error_message + n, sizeof job->error_message - (size_t)n, format, args);
  va_end(args);
}

/* MPIMR_ERR_INTERRUPTED, with the job's message naming the signal, once the process caught SIGINT or
 * SIGTERM (mpimr_signals_catch()); else MPIMR_OK. Cheap: one load. */
int job_check_signal(mpimr_job *job) {
  if (job->interrupted) return MPIMR_ERR_INTERRUPTED; /* its message was set by mpimr_job_interrupt() */
  int signal_number = mpimr_signal_caught();
  if (signal_number == 0) return MPIMR_OK;
  job_set_error(job, "interrupted by %s", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  if (job->emit_status == MPIMR_OK) job->emit_status = MPIMR_ERR_INTERRUPTED;
  return MPIMR_ERR_INTERRUPTED;
}

void mpimr_job_interrupt(mpimr_job *job, const char *reason) {
  if (job == NULL || job->finished_early || (job->ran && mpimr_future_is_done(&job->task))) return;
  job_set_error(job, "interrupted: %s", reason != NULL && reason[0] != '\0' ? reason : "by the application");
  if (job->emit_status == MPIMR_OK) job->emit_status = MPIMR_ERR_INTERRUPTED;
  job->interrupted = 1;
}

void job_note_remote_failure(mpimr_job *job) {
  job_set_error(job, "stopped because another rank failed (its message names the cause)");
}

/* Agrees on a status across the job: returns the rank's own error, REMOTE, or OK. */
int job_agree(mpimr_job *job, int status) {
  int agreed;
  if (MPI_Allreduce(&status, &agreed, 1, MPI_INT, MPI_MIN, job->comm) != MPI_SUCCESS) {
    job_set_error(job, "MPI_Allreduce failed while agreeing on the job's status");
    return MPIMR_ERR_MPI;
  }
  if (agreed == MPIMR_OK) return MPIMR_OK;
  if (status != MPIMR_OK) return status;
  job_note_remote_failure(job);
  return MPIMR_ERR_REMOTE;
}

/* Writes up to JOB_KEY_SHOWN_BYTES of a key as text for a message: printable ASCII as it is, other
 * bytes as \xNN, "..." if it was cut. `text` needs JOB_KEY_SHOWN_BYTES * 4 + 4 bytes. */
void job_show_key(const unsigned char *key, size_t key_len, char *text, size_t size) {
  static const char hex[] = "0123456789abcdef";
  size_t n = 0, shown = key_len < JOB_KEY_SHOWN_BYTES ? key_len : JOB_KEY_SHOWN_BYTES;
  for (size_t i = 0; i < shown && n + 5 < size; i++) {
    unsigned char c = key[i];
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      text[n++] = (char)c;
    } else {
      text[n++] = '\\';
      text[n++] = 'x';
      text[n++] = hex[c >> 4];
      text[n++] = hex[c & 15];
    }
  }
  if (shown < key_len && n + 4 <= size) {
    memcpy(text + n, "...", 3);
    n += 3;
  }
  text[n] = '\0';
}

/* The longest record the input's buffer may grow to hold: a quarter of the budget. */
