"""Stopping a run: SIGTERM or SIGINT to its main process ends its task processes too, at once, and an
interrupt that lands where it would be dropped is sent again.

Luigi runs each task in a process it forks (luigi.cfg has two workers). SIGTERM alone (``kill <pid>``,
``docker stop`` and Kubernetes signalling PID 1, a supervisor signalling the process it started)
killed the main process at once and left its task running: a build paused before its swap renamed the
new warehouse over the live one a minute after the run had ended. Ctrl-C went Luigi's way: its worker
ends its tasks as the KeyboardInterrupt leaves it, but only once its keep-alive thread has stopped (a
minute and more when a central scheduler does not answer), and a second signal meanwhile left them
running. In the main process of a ``luigi`` command, both signals now send SIGTERM (and SIGCONT, which
a stopped process needs to act on it) to every task process first, then raise ``Terminated``, a
KeyboardInterrupt, so the run takes Ctrl-C's way out. On that way, further stop signals are ignored,
every task process still there is waited for (SIGKILL after ``END_WAIT_SECONDS``), and the process
exits as one killed by the signal (143 for SIGTERM, 130 for SIGINT in a shell), after its exit
handlers, with one line instead of a traceback.

A task process dies of SIGTERM at once: every task is safe to kill (its outputs appear whole or not at
all).

Two places drop a KeyboardInterrupt: Luigi's ``Task.trigger_event`` returns when an event handler
raises one, and Python prints one raised in a fork hook and goes on. The pipeline's event handlers
(``interrupts_kept``) and its fork hook catch it and send the signal again with ``send_again``, to
arrive once they have returned. A stop that is still not acted on when the process exits (it landed
as Python shut down) makes the exit one by that signal all the same, never 0.

Only Luigi's task processes are ended (the caller says which processes those are): a pool of
``parallel_scheduling``, a manager and the embedded PostgreSQL are not. A first-time setup that a kill
would leave half done (the embedded server's ``initdb``) runs in ``stops_deferred``: a stop waits for
its end.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

END_WAIT_SECONDS = 10.0

_is_task_process: Callable[[multiprocessing.Process], bool] = lambda process: True  # noqa: E731
_pending: int | None = None  # a stop signal received and not acted on yet
_deferred: list[int] | None = None  # while stops are deferred: the signals received meanwhile


class Terminated(KeyboardInterrupt):
    """The run's main process was sent ``signum`` (SIGTERM or SIGINT)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def end_tasks_with_the_run(is_task_process: Callable[[multiprocessing.Process], bool]) -> None:
    """At import, in the main thread of a ``luigi`` command (not a CLI command of the pipeline or a
    test process that imports it): SIGTERM and SIGINT end the task processes (those of this process's
    children for which ``is_task_process`` is true) and raise ``Terminated``, unless the process has
    handlers of its own already."""
    global _is_task_process
    command = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    if command.name != "luigi" and command.parent.name != "luigi":  # `luigi ...` or `python -m luigi ...`
        return
    if threading.current_thread() is not threading.main_thread():
        return
    _is_task_process = is_task_process
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _stop)
    os.register_at_fork(after_in_child=_default_in_child)
    # Registered first of the pipeline's exit handlers, so it runs after them.
    atexit.register(_act_on_a_pending_stop)
    previous_hook = sys.excepthook

    def excepthook(kind, value, tb):
        if not isinstance(value, KeyboardInterrupt):
            return previous_hook(kind, value, tb)
        _exit_as_killed(getattr(value, "signum", signal.SIGINT))

    sys.excepthook = excepthook


def send_again(stop: KeyboardInterrupt) -> None:
    """Send the signal behind ``stop`` (SIGINT for Ctrl-C) to this process again, 50 ms from now."""
    global _pending
    _pending = getattr(stop, "signum", signal.SIGINT)
    timer = threading.Timer(0.05, os.kill, (os.getpid(), _pending))
    timer.daemon = True  # Python's shutdown does not wait for it: a pending stop is acted on at exit
    timer.start()


@contextlib.contextmanager
def stops_deferred() -> Iterator[None]:
    """A stop signal received in this block (in this process's main thread) takes effect when it ends."""
    global _deferred
    if _deferred is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferred = []
    try:
        yield
    finally:
        received, _deferred = _deferred, None
        if received:
            _stop(received[0], None)


def interrupts_kept(handler: Callable) -> Callable:
    """A Luigi event handler whose KeyboardInterrupt is sent again instead of dropped by Luigi."""

    @functools.wraps(handler)
    def kept(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except KeyboardInterrupt as stop:
            send_again(stop)

    return kept


def _stop(signum, frame) -> None:
    global _pending
    _signal_task_processes(_task_processes())
    if _deferred is not None:
        _deferred.append(signum)
        return
    _pending = signum
    raise Terminated(signum)


def _task_processes() -> list[multiprocessing.Process]:
    return [process for process in multiprocessing.active_children() if _is_task_process(process)]


def _act_on_a_pending_stop() -> None:
    if _pending is not None:
        _exit_as_killed(_pending, exit_handlers=False)


def _default_in_child() -> None:
    if signal.getsignal(signal.SIGTERM) is _stop:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) is _stop:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _signal_task_processes(processes: list[multiprocessing.Process], signum: int = signal.SIGTERM) -> None:
    # os.kill, not Process.terminate: Luigi's waits for the process to end, without a time limit.
    for process in processes:
        with contextlib.suppress(ProcessLookupError, TypeError):  # gone, or not started (no pid)
            os.kill(process.pid, signum)
            os.kill(process.pid, signal.SIGCONT)


def _exit_as_killed(signum: int, *, exit_handlers: bool = True) -> None:
    # A second signal could interrupt the ending itself (Luigi's, a moment ago, or this one), leaving a
    # task running; the ending is bounded, so further signals wait for nothing.
    global _pending
    _pending = None
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    _end_task_processes()
    print(f"\nrun stopped by {signal.Signals(signum).name}: no task process of it is left running; "
          "nothing half-done went live", file=sys.stderr)  # fmt: skip
    # Python would exit as killed by SIGINT after an uncaught KeyboardInterrupt: run the exit handlers
    # (logs flushed, temporary parse folders removed; not when called from one of them) and die of the
    # signal that stopped the run.
    if exit_handlers:
        atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached: the signal's default action ends the process


def _end_task_processes() -> None:
    """End the task processes still there (Luigi's worker may have been interrupted before it ended
    them all), and wait for them: SIGKILL after ``END_WAIT_SECONDS``."""
    running = _task_processes()
    _signal_task_processes(running)
    deadline = time.monotonic() + END_WAIT_SECONDS
    for process in running:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            _signal_task_processes([process], signal.SIGKILL)
            process.join()
