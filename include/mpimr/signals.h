/**
 * @file
 * mpimr/signals.h — SIGINT and SIGTERM as a clean failure of the running job.
 *
 * Schedulers end jobs with signals: Slurm sends SIGTERM at the time limit and
 * on `scancel` (then SIGKILL after its KillWait), and mpirun sends SIGTERM to
 * every rank when it is interrupted (then SIGKILL a few seconds later).
 * After mpimr_signals_catch(), SIGINT and SIGTERM no longer end the process
 * at once: the job running on that rank fails with MPIMR_ERR_INTERRUPTED at
 * its next check (every slice of map work, each shuffle round, each reduce
 * group, each merge step: well under a second), every rank stops as after
 * any other failure, temporary parts, staging and spill directories are
 * removed, and an older result in the output directory stays as it was. A
 * job started after the signal fails at once. The library installs no
 * handler unless asked; the mpimr programs ask. A program that runs long
 * loops of its own between jobs should test mpimr_signal_caught() there.
 *
 * The handler only records the signal: it is the library's one piece of
 * process-wide state, since a signal handler can reach nothing else.
 */
#ifndef MPIMR_SIGNALS_H
#define MPIMR_SIGNALS_H

#include "mpimr/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Installs handlers for SIGINT and SIGTERM (SA_RESTART) that record the
 * signal for the jobs of this process to act on. Returns MPIMR_OK, or
 * MPIMR_ERR_INVAL if sigaction() refused.
 */
MPIMR_API int mpimr_signals_catch(void);

/** The first signal caught since mpimr_signals_catch() (SIGINT or SIGTERM), or 0. */
MPIMR_API int mpimr_signal_caught(void);

#ifdef __cplusplus
}
#endif

#endif /* MPIMR_SIGNALS_H */
