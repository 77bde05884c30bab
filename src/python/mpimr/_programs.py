"""What the example programs (mpimr.wordcount, mpimr.kmeans) share: reading their options and
running their work with the exit statuses and messages of the C programs.

64 for a usage error (said once, by rank 0); 0 on success and after --help; 1 when the job failed (the rank that failed prints the cause: a RemoteError says
nothing more), when it was interrupted (SIGINT, or SIGTERM from mpirun or Slurm, which is made a
KeyboardInterrupt while the work runs), or when the work raised Reported (it printed its own
message); MPI_Abort when the ranks may be out of step.
"""

import argparse
import signal
import sys

import mpimr


USAGE_EXIT = 64


class UsageError(Exception):
    """A bad command line: the message says what is wrong."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are UsageErrors (argparse's own exit with status 2)."""

    def error(self, message):
        raise UsageError(message)


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


def program_main(comm, program, description, parse, work):
    """A program's main: ``parse()`` reads the command line (None when --help was asked; a
    UsageError for a bad one), then ``work(parsed)`` runs under exit_status(). Returns the exit
    status."""
    rank = comm.Get_rank()
    try:
        parsed = parse()
    except UsageError as error:
        if rank == 0:
            print(f"{program}: {error}\nTry 'python3 -m {program} --help'.", file=sys.stderr)
        return USAGE_EXIT
    if parsed is None:
        if rank == 0:
            print(description, end="")
        return 0
    return exit_status(comm, program, lambda: work(parsed))
