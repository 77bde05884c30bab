/*
 * job/output_lock.h — one job owns an output directory at a time.
 *
 * The owner holds `DIR/.mpimr-lock`, a small text file naming it (host, PID,
 * the process's start time and boot id, program, ranks, start time, Slurm
 * job). It is made complete under a private name and then hard-linked into
 * place: link() fails if the lock exists, atomically, on local file systems
 * and on NFS and Lustre alike, and a reader never sees a half-written lock.
 *
 * A lock whose owner is dead may be taken over, but only when that can be
 * known: the owner ran on this host (same boot) and its PID is gone or now
 * belongs to a process started at another time. Taking over holds
 * `DIR/.mpimr-lock.break` (made the same way) while it re-reads the lock,
 * removes it and links its own, so two jobs breaking one stale lock cannot
 * both win; a job that is only taking a free lock never removes anything, so
 * link() alone decides between it and a breaker. A lock from another host is
 * never broken: the refusal says which file to remove once that job is gone.
 */
#ifndef MPIMR_JOB_OUTPUT_LOCK_H
#define MPIMR_JOB_OUTPUT_LOCK_H

#include <stddef.h>

#include "util/process_id.h"

/** The lock's file name inside the output directory. */
#define OUTPUT_LOCK_NAME ".mpimr-lock"

typedef struct output_lock {
  char *path;       /**< DIR/.mpimr-lock while held, else NULL. */
  process_id owner; /**< This process, once held. */
} output_lock;

/**
 * Takes the lock of `dir` (an existing directory) for this process, which
 * runs a job on `ranks` ranks. Returns MPIMR_OK; MPIMR_ERR_BUSY with a
 * message naming the owner (and what to remove if it is gone) when another
 * job holds it; MPIMR_ERR_IO or NOMEM with the cause.
 */
int output_lock_take(output_lock *lock, const char *dir, int ranks, char *message, size_t message_size);

/** Releases a held lock (removes the file); does nothing if none is held. */
void output_lock_release(output_lock *lock);

/**
 * Looks at `dir`'s lock without taking it: MPIMR_OK if it is free (or held
 * by a dead process of this host), MPIMR_ERR_BUSY with the owner in
 * `message` otherwise.
 */
int output_lock_check(const char *dir, char *message, size_t message_size);

#endif
