/* util/signals.c — SIGINT and SIGTERM recorded for the jobs to act on; see mpimr/signals.h. */
#include "mpimr/signals.h"

#include <signal.h>
#include <string.h>

#include "mpimr/error.h"

/* The library's one process-wide variable: a signal handler can reach nothing else. Written only by
 * the handler (once), read by the jobs. */
static volatile sig_atomic_t caught_signal;

static void record_signal(int signal_number) {
  if (caught_signal == 0) caught_signal = signal_number;
}

int mpimr_signals_catch(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (sigaction(SIGINT, &action, NULL) != 0 || sigaction(SIGTERM, &action, NULL) != 0) return MPIMR_ERR_INVAL;
  return MPIMR_OK;
}

int mpimr_signal_caught(void) { return caught_signal; }
