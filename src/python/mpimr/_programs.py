"""What the example programs (mpimr.wordcount, mpimr.kmeans) share: running a program's work and
turning its failures into the exit statuses and messages of the C programs.

0 on success; 1 when the job failed (the rank that failed prints the cause: a RemoteError says
nothing more), when it was interrupted (SIGINT, or SIGTERM from mpirun or Slurm, which is made a
KeyboardInterrupt while the work runs), or when the work raised Reported (it printed its own
message); MPI_Abort when the ranks may be out of step.
"""

import signal
import sys

import mpimr


class Reported(Exception):
    """The work failed and has said why: exit 1 without another message."""


def _interrupt(signal_number, frame):
    raise KeyboardInterrupt(signal.Signals(signal_number).name)


def exit_status(comm, program, work):
    """Runs ``work()`` and returns the program's exit status (see the module's doc)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        work()
        return 0
    except (Reported, mpimr.RemoteError):
        return 1
    except mpimr.JobError as error:
        print(f"{program}: {error.message} ({error.status_name})", file=sys.stderr, flush=True)
        if error.needs_abort:
            comm.Abort(1)
        return 1
    except KeyboardInterrupt as stop:
        by = f" by {stop}" if str(stop) else ""
        print(f"{program}: rank {comm.Get_rank()}: interrupted{by}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
