/*
 * util/process_id.h — who a process is, in a form another process can check
 * later: host name, PID, the kernel's start time of the process (so a
 * reused PID is told apart) and the boot id (so a reboot is).
 *
 * Used to name what a job leaves on disk (its output lock, its spill
 * directories) so that a later job can tell whether the owner still runs.
 * Liveness can only be judged on the owner's own host: from another host
 * the answer is "cannot tell".
 */
#ifndef MPIMR_UTIL_PROCESS_ID_H
#define MPIMR_UTIL_PROCESS_ID_H

enum { PROCESS_HOST_BYTES = 256, PROCESS_BOOT_ID_BYTES = 40 };

typedef struct process_id {
  char host[PROCESS_HOST_BYTES];
  long pid;
  unsigned long long start_ticks; /**< Field 22 of /proc/PID/stat: clock ticks after boot; 0 if unknown. */
  char boot_id[PROCESS_BOOT_ID_BYTES]; /**< /proc/sys/kernel/random/boot_id, or "" if unknown. */
} process_id;

/** The calling process. Never fails: what cannot be read is left empty (or 0). */
void process_id_self(process_id *id);

/** The start time of process `pid` (field 22 of /proc/PID/stat), or 0 if it does not exist or cannot be read.
 */
unsigned long long process_start_ticks(long pid);

enum process_liveness { PROCESS_DEAD = 0, PROCESS_ALIVE = 1, PROCESS_UNKNOWN = -1 };

/**
 * Whether the process `id` still runs, judged from `self`'s host: ALIVE or
 * DEAD on the same host (a different boot, a missing PID, a PID started
 * at another time or a process that has exited but is not yet reaped is
 * DEAD), UNKNOWN on another host.
 */
enum process_liveness process_id_liveness(const process_id *id, const process_id *self);

#endif
