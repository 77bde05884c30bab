/*
 * job/progress.c — rank 0's progress display: a timer future that samples the job's figures and
 * prints them, in place (LINE) or as log lines (PLAIN).
 */
#include "job/progress.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpimr/error.h"
#include "util/clock.h"
#include "util/message.h"

enum { PROGRESS_TEXT_BYTES = 256 };

/* 1 if the launcher that started this process writes its stderr to a terminal: mpirun hands the
 * ranks it starts itself a pipe for stderr, whatever its own is, and forwards what they write. */
static int launcher_on_terminal(void) {
  char link[64], target[64];
  snprintf(link, sizeof link, "/proc/%ld/fd/2", (long)getppid());
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = '\0';
  return strncmp(target, "/dev/pts/", 9) == 0 || strncmp(target, "/dev/tty", 8) == 0;
}

mpimr_progress progress_resolve(mpimr_progress setting, int rank, FILE *stream) {
  if (rank != 0 || setting == MPIMR_PROGRESS_OFF) return MPIMR_PROGRESS_OFF;
  if (setting != MPIMR_PROGRESS_AUTO) return setting;
  int fd = fileno(stream);
  if (isatty(fd)) return MPIMR_PROGRESS_LINE;
  /* A pipe or socket may be a launcher's, which forwards it to its own stderr; a file is a log. */
  struct stat st;
  int forwarded = fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
  return forwarded && launcher_on_terminal() ? MPIMR_PROGRESS_LINE : MPIMR_PROGRESS_OFF;
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
    message_append(text, size, "%.0f B", bytes);
  else
    message_append(text, size, "%.*f %s", bytes < 10 ? 2 : bytes < 100 ? 1 : 0, bytes, units[unit]);
}

static void append_amount(char *text, size_t size, const progress_figures *f, double amount) {
  if (f->in_bytes)
    append_bytes(text, size, amount);
  else
    message_append(text, size, "%.0f records", amount);
}

static void append_duration(char *text, size_t size, double seconds) {
  if (seconds < 60)
    message_append(text, size, "%.0f s", seconds < 1 ? 1.0 : seconds);
  else if (seconds < 3600)
    message_append(text, size, "%d min %02d s", (int)(seconds / 60), (int)seconds % 60);
  else
    message_append(text, size, "%d h %02d min", (int)(seconds / 3600), (int)(seconds / 60) % 60);
}

void progress_format(const progress_figures *f, double elapsed, double map_elapsed, char *text, size_t size) {
  text[0] = '\0';
  if (f->phase != NULL && f->phase[0] != '\0') message_append(text, size, "%s ", f->phase);
  uint64_t mapped = f->total && f->mapped > f->total ? f->total : f->mapped;
  if (f->total) {
    message_append(text, size, "%.1f%% of ", 100.0 * (double)mapped / (double)f->total);
    append_amount(text, size, f, (double)f->total);
  } else {
    append_amount(text, size, f, (double)mapped);
    message_append(text, size, " mapped");
  }
  double rate_time = map_elapsed > 0 ? map_elapsed : elapsed;
  if (rate_time > 0) {
    message_append(text, size, ", ");
    append_amount(text, size, f, (double)mapped / rate_time);
    message_append(text, size, "/s");
  }
  message_append(text, size, ", %llu rounds, spilled ", (unsigned long long)f->rounds);
  append_bytes(text, size, (double)f->spilled_bytes);
  if (f->bad_records) message_append(text, size, ", %llu bad records", (unsigned long long)f->bad_records);
  if (strcmp(f->phase, "map") == 0 && f->total && mapped > 0 && mapped < f->total && elapsed > 0) {
    message_append(text, size, ", map left ~");
    append_duration(text, size, elapsed * (double)(f->total - mapped) / (double)mapped);
  }
  message_append(text, size, ", %.1f s", elapsed);
}

/* Rank 0's figures: its own, plus each other rank's latest report. */
static void gather_figures(progress_display *p, progress_figures *f) {
  memset(f, 0, sizeof *f);
  p->sample(p->context, f);
  if (f->phase == NULL) f->phase = "";
  if (p->latest == NULL) return;
  for (int r = 1; r < p->nranks; r++) {
    f->mapped += p->latest[r].mapped;
    f->spilled_bytes += p->latest[r].spilled_bytes;
    f->bad_records += p->latest[r].bad_records;
  }
  /* Rank 0 has mapped its share, the others have not: the job is still mapping. */
  if (f->total != 0 && f->mapped < f->total && strcmp(f->phase, "shuffle") == 0) f->phase = "map";
}

/* Writes one state: in place for LINE (blanking what a shorter line leaves), a new line for PLAIN. */
static void show(progress_display *p, const char *prefix, int final) {
  progress_figures figures;
  gather_figures(p, &figures);
  double now = clock_now();
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

/* An MPI call of the display failed: it stops (rank 0 shows its own figures only), the job goes on. */
static void give_up(progress_display *p) { p->failed = 1; }

/* A rank other than 0: sends its figures (final once closing), at most one report in flight. */
static void send_report(progress_display *p, mpimr_executor *ex) {
  progress_figures own;
  memset(&own, 0, sizeof own);
  p->sample(p->context, &own);
  p->outgoing = (progress_report){own.mapped, own.spilled_bytes, own.bad_records, p->rank, p->closing};
  if (MPI_Isend(&p->outgoing, (int)sizeof p->outgoing, MPI_BYTE, 0, PROGRESS_TAG, p->comm, &p->send_request) !=
      MPI_SUCCESS) {
    give_up(p);
    return;
  }
  if (mpimr_future_await_requests(ex, &p->base, &p->send_group, &p->send_request, 1) != MPIMR_OK) {
    MPI_Wait(&p->send_request, MPI_STATUS_IGNORE); /* no room in the reactor: a small send finishes at once */
    mpimr_future_wake(ex, &p->base);
  }
  p->send_in_flight = 1;
  p->final_sent = p->closing;
}

/* Rank 0: takes a report that came and keeps a receive posted until every rank's final one is in. */
static void receive_reports(progress_display *p, mpimr_executor *ex) {
  if (p->receive_posted && p->receive_group.remaining == 0) {
    p->receive_posted = 0;
    const progress_report *r = &p->incoming;
    if (p->receive_group.error != MPI_SUCCESS || r->rank <= 0 || r->rank >= p->nranks) {
      give_up(p);
      return;
    }
    if (p->cancelled) return; /* a cancelled receive brings nothing */
    if (p->latest != NULL) p->latest[r->rank] = *r;
    p->finals += r->final != 0;
  }
  if (p->receive_posted || p->cancelled || p->failed || p->finals == p->nranks - 1) return;
  p->incoming.rank = -1; /* before the receive: a report already waiting lands during MPI_Irecv */
  if (MPI_Irecv(&p->incoming, (int)sizeof p->incoming, MPI_BYTE, MPI_ANY_SOURCE, PROGRESS_TAG, p->comm,
                &p->receive_request) != MPI_SUCCESS) {
    give_up(p);
    return;
  }
  if (mpimr_future_await_requests(ex, &p->base, &p->receive_group, &p->receive_request, 1) != MPIMR_OK) {
    /* No room in the reactor: wait here. In step a report always comes (every rank sends a final). */
    p->receive_group.error = MPI_Wait(&p->receive_request, MPI_STATUS_IGNORE);
    p->receive_group.remaining = 0;
    mpimr_future_wake(ex, &p->base);
  }
  p->receive_posted = 1;
}

static mpimr_poll_result finish(progress_display *p) {
  p->running = 0;
  p->base.result = MPIMR_OK;
  return MPIMR_READY;
}

static mpimr_poll_result progress_poll(mpimr_future *self, mpimr_executor *ex) {
  progress_display *p = (progress_display *)self;
  p->polls++;
  double now = clock_now();
  int due = now >= p->deadline;
  if (due) p->deadline = now + p->interval;
  if (p->rank != 0) {
    if (p->send_in_flight && p->send_group.remaining == 0) {
      p->send_in_flight = 0;
      if (p->send_group.error != MPI_SUCCESS) give_up(p);
    }
    if (p->failed || p->abandoned || (p->final_sent && !p->send_in_flight)) return finish(p);
    if (!p->send_in_flight && (p->closing || due)) send_report(p, ex);
    if (p->failed) return finish(p);
  } else {
    receive_reports(p, ex);
    int complete = p->failed || p->finals == p->nranks - 1 || (p->cancelled && !p->receive_posted);
    if (p->stopping && complete) {
      if (p->mode != MPIMR_PROGRESS_OFF) show(p, p->outcome == MPIMR_OK ? "done: " : "failed: ", 1);
      return finish(p);
    }
    if (due && !p->stopping && p->mode != MPIMR_PROGRESS_OFF) show(p, "", 0);
    if (p->failed && !p->receive_posted && p->mode == MPIMR_PROGRESS_OFF) return finish(p);
  }
  if (!p->stopping && (p->rank == 0 || !p->closing)) mpimr_future_await_condition(ex, self, &p->timer);
  return MPIMR_PENDING;
}

void progress_start(progress_display *p, mpimr_executor *ex, MPI_Comm comm, int rank, int nranks,
                   mpimr_progress mode, double interval, FILE *stream, progress_sample_fn sample, void *context,
                   double started_at) {
  memset(p, 0, sizeof *p);
  p->mode = rank == 0 && (mode == MPIMR_PROGRESS_LINE || mode == MPIMR_PROGRESS_PLAIN) ? mode : MPIMR_PROGRESS_OFF;
  p->interval = interval;
  p->comm = comm;
  p->rank = rank;
  p->nranks = nranks;
  p->stream = stream;
  p->sample = sample;
  p->context = context;
  p->started_at = started_at;
  p->timer.ready = timer_due;
  p->timer.context = p;
  p->deadline = started_at + p->interval;
  /* Without memory for the other ranks' figures rank 0 still takes their reports (shows its own). */
  if (rank == 0 && nranks > 1) p->latest = calloc((size_t)nranks, sizeof *p->latest);
  p->running = 1;
  mpimr_future_init(&p->base, progress_poll);
  mpimr_executor_spawn(ex, &p->base); /* its first poll arms the timer: the first line comes after one interval */
}

void progress_close(progress_display *p, mpimr_executor *ex) {
  if (!p->running || p->closing) return;
  p->closing = 1;
  if (p->rank != 0) {
    mpimr_condition_cancel(ex, &p->timer);
    mpimr_future_wake(ex, &p->base);
  }
}

/* Rank 0: cancels the receive the reactor still holds (not one it has completed and freed). */
static void cancel_receive(progress_display *p) {
  if (p->rank != 0 || !p->receive_posted || p->receive_group.remaining == 0 || p->cancelled) return;
  p->cancelled = 1;
  MPI_Cancel(&p->receive_request);
}

void progress_stop(progress_display *p, mpimr_executor *ex, int outcome) {
  if (!p->running) return;
  /* Out of step (also when a stall timeout ends a job already closing): the other ranks' final
   * reports may never come. */
  if (mpimr_status_needs_abort(outcome)) {
    cancel_receive(p);
    /* Nor may a rank wait for its report to reach rank 0, which may be the stopped one: the send
     * stays with the reactor (its wake of a finished future is nothing) and goes with the executor. */
    p->abandoned = 1;
    mpimr_future_wake(ex, &p->base);
  }
  if (p->stopping) return;
  progress_close(p, ex);
  p->stopping = 1;
  p->outcome = outcome;
  mpimr_condition_cancel(ex, &p->timer);
  mpimr_future_wake(ex, &p->base);
}

void progress_show(progress_display *p) {
  if (p->running && !p->stopping && p->mode != MPIMR_PROGRESS_OFF) show(p, "", 0);
}

mpimr_future *progress_future(progress_display *p) { return p->running ? &p->base : NULL; }

void progress_destroy(progress_display *p) {
  cancel_receive(p); /* a job freed unfinished: the reactor frees the request with the executor */
  free(p->latest);
  p->latest = NULL;
}
