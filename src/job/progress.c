/*
 * job/progress.c — rank 0's progress display: a timer future that samples the job's figures and
 * prints them, in place (LINE) or as log lines (PLAIN).
 */
#include "job/progress.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "mpimr/error.h"
#include "util/clock.h"

enum { PROGRESS_TEXT_BYTES = 256 };

mpimr_progress progress_resolve(mpimr_progress setting, int rank, FILE *stream) {
  if (rank != 0 || setting == MPIMR_PROGRESS_OFF) return MPIMR_PROGRESS_OFF;
  if (setting != MPIMR_PROGRESS_AUTO) return setting;
  return isatty(fileno(stream)) ? MPIMR_PROGRESS_LINE : MPIMR_PROGRESS_OFF;
}

static void append(char *text, size_t size, const char *format, ...) {
  size_t used = strlen(text);
  if (used + 1 >= size) return;
  va_list args;
  va_start(args, format);
  vsnprintf(text + used, size - used, format, args);
  va_end(args);
}

/* "1.07 GB", "312.5 MB", "17 B": decimal units, as the summary line uses. */
static void append_bytes(char *text, size_t size, double bytes) {
  static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 5) {
    bytes /= 1000;
    unit++;
  }
  if (unit == 0)
    append(text, size, "%.0f B", bytes);
  else
    append(text, size, "%.*f %s", bytes < 10 ? 2 : bytes < 100 ? 1 : 0, bytes, units[unit]);
}

static void append_amount(char *text, size_t size, const progress_figures *f, double amount) {
  if (f->in_bytes)
    append_bytes(text, size, amount);
  else
    append(text, size, "%.0f records", amount);
}

static void append_duration(char *text, size_t size, double seconds) {
  if (seconds < 60)
    append(text, size, "%.0f s", seconds < 1 ? 1.0 : seconds);
  else if (seconds < 3600)
    append(text, size, "%d min %02d s", (int)(seconds / 60), (int)seconds % 60);
  else
    append(text, size, "%d h %02d min", (int)(seconds / 3600), (int)(seconds / 60) % 60);
}

void progress_format(const progress_figures *f, double elapsed, double map_elapsed, char *text, size_t size) {
  text[0] = '\0';
  if (f->phase != NULL && f->phase[0] != '\0') append(text, size, "%s ", f->phase);
  uint64_t mapped = f->total && f->mapped > f->total ? f->total : f->mapped;
  if (f->total) {
    append(text, size, "%.1f%% of ", 100.0 * (double)mapped / (double)f->total);
    append_amount(text, size, f, (double)f->total);
  } else {
    append_amount(text, size, f, (double)mapped);
    append(text, size, " mapped");
  }
  double rate_time = map_elapsed > 0 ? map_elapsed : elapsed;
  if (rate_time > 0) {
    append(text, size, ", ");
    append_amount(text, size, f, (double)mapped / rate_time);
    append(text, size, "/s");
  }
  append(text, size, ", %llu rounds, spilled ", (unsigned long long)f->rounds);
  append_bytes(text, size, (double)f->spilled_bytes);
  if (f->bad_records) append(text, size, ", %llu bad records", (unsigned long long)f->bad_records);
  if (strcmp(f->phase, "map") == 0 && f->total && mapped > 0 && mapped < f->total && elapsed > 0) {
    append(text, size, ", map left ~");
    append_duration(text, size, elapsed * (double)(f->total - mapped) / (double)mapped);
  }
  append(text, size, ", %.1f s", elapsed);
}

/* Writes one state: in place for LINE (blanking what a shorter line leaves), a new line for PLAIN. */
static void show(progress_display *p, const char *prefix, int final) {
  progress_figures figures;
  memset(&figures, 0, sizeof figures);
  p->sample(p->context, &figures);
  double now = clock_now();
  if (figures.phase == NULL) figures.phase = "";
  if (p->map_ended_at == 0 && strcmp(figures.phase, "map") != 0) p->map_ended_at = now;
  double elapsed = now - p->started_at;
  double map_elapsed = p->map_ended_at ? p->map_ended_at - p->started_at : elapsed;
  char text[PROGRESS_TEXT_BYTES];
  progress_format(&figures, elapsed, map_elapsed, text, sizeof text);
  char line[PROGRESS_TEXT_BYTES + 32];
  int length = snprintf(line, sizeof line, "mpimr: %s%s", prefix, text);
  if (length < 0) return;
  if (p->mode == MPIMR_PROGRESS_LINE) {
    size_t blank = p->shown_length > (size_t)length ? p->shown_length - (size_t)length : 0;
    fprintf(p->stream, "\r%s%*s%s", line, (int)blank, "", final ? "\n" : "");
    p->shown_length = final ? 0 : (size_t)length;
  } else {
    fprintf(p->stream, "%s\n", line);
  }
  fflush(p->stream);
}

static int timer_due(void *context) {
  const progress_display *p = context;
  return clock_now() >= p->deadline;
}

static mpimr_poll_result progress_poll(mpimr_future *self, mpimr_executor *ex) {
  progress_display *p = (progress_display *)self;
  p->polls++;
  if (p->stopping) {
    p->running = 0;
    self->result = MPIMR_OK;
    return MPIMR_READY;
  }
  double now = clock_now();
  if (now >= p->deadline) { /* else the first poll, right after spawning */
    show(p, "", 0);
    p->deadline = now + p->interval;
  }
  mpimr_future_await_condition(ex, self, &p->timer);
  return MPIMR_PENDING;
}

void progress_start(progress_display *p, mpimr_executor *ex, mpimr_progress mode, double interval, FILE *stream,
                    progress_sample_fn sample, void *context, double started_at) {
  memset(p, 0, sizeof *p);
  if (mode != MPIMR_PROGRESS_LINE && mode != MPIMR_PROGRESS_PLAIN) return;
  p->mode = mode;
  p->interval = interval > 0 ? interval : mode == MPIMR_PROGRESS_LINE ? 1.0 : 10.0;
  p->stream = stream;
  p->sample = sample;
  p->context = context;
  p->started_at = started_at;
  p->timer.ready = timer_due;
  p->timer.context = p;
  p->deadline = started_at + p->interval;
  p->running = 1;
  mpimr_future_init(&p->base, progress_poll);
  mpimr_executor_spawn(ex, &p->base); /* its first poll arms the timer: the first line comes after one interval */
}

void progress_stop(progress_display *p, mpimr_executor *ex, int outcome) {
  if (!p->running || p->stopping) return;
  p->stopping = 1;
  mpimr_condition_cancel(ex, &p->timer);
  show(p, outcome == MPIMR_OK ? "done: " : "failed: ", 1);
  mpimr_future_wake(ex, &p->base);
}

void progress_show(progress_display *p) {
  if (p->running && !p->stopping) show(p, "", 0);
}

mpimr_future *progress_future(progress_display *p) { return p->running ? &p->base : NULL; }
