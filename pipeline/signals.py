"""SIGTERM to a run's main process ends the run's task processes too, as Ctrl-C does.

Luigi runs each task in a process it forks (luigi.cfg has two workers). Ctrl-C in the main process
raises KeyboardInterrupt, and Luigi's worker terminates its running tasks as that leaves it. SIGTERM
alone (``kill <pid>``, ``docker stop`` and Kubernetes signalling PID 1, a supervisor signalling the
process it started) killed the main process at once and left its task running: a build paused before
its swap renamed the new warehouse over the live one a minute after the run had ended. SIGTERM now
raises ``Terminated``, a KeyboardInterrupt, so it takes Ctrl-C's way out, and the process then exits
as one killed by SIGTERM (143 in a shell), after its exit handlers.

A task process dies of SIGTERM at once, as it did before: every task is safe to kill (its outputs
appear whole or not at all), and Luigi waits for it to end.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading


class Terminated(KeyboardInterrupt):
    """The run's main process was sent ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def end_tasks_with_the_run() -> None:
    """In the main process, at import: SIGTERM raises ``Terminated``, unless a handler of the program
    that imported the pipeline is already there."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    os.register_at_fork(after_in_child=_default_in_child)
    previous_hook = sys.excepthook

    def excepthook(kind, value, tb):
        if not isinstance(value, Terminated):
            return previous_hook(kind, value, tb)
        print(f"\nrun {value}: its task processes were ended; nothing half-done went live", file=sys.stderr)
        _exit_as_killed(value.signum)

    sys.excepthook = excepthook


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


def _default_in_child() -> None:
    if signal.getsignal(signal.SIGTERM) is _raise_terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _exit_as_killed(signum: int) -> None:
    # Python would exit as killed by SIGINT after an uncaught KeyboardInterrupt: run the exit handlers
    # (logs flushed, temporary parse folders removed) and die of the signal that stopped the run.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached: the signal's default action ends the process
