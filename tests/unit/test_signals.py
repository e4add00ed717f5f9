"""Stopping a run (pipeline/lib/signals.py): interrupts that Luigi would drop are sent again, and
SIGTERM is taken over only in a ``luigi`` command's process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import luigi
import pytest

from pipeline.lib.signals import Terminated, interrupts_kept


class _Probe(luigi.Task):
    pass


def test_an_interrupt_raised_in_a_luigi_event_handler_is_sent_again():
    # Luigi's trigger_event returns when a handler raises KeyboardInterrupt: the stop would be lost.
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(signum))

    def slow_check():  # stands in for a completeness check that was interrupted
        raise Terminated(signal.SIGUSR1)

    try:
        _Probe.event_handler("test_bare")(slow_check)
        _Probe.event_handler("test_kept")(interrupts_kept(slow_check))
        _Probe().trigger_event("test_bare")
        time.sleep(0.3)
        assert received == []  # dropped by Luigi
        _Probe().trigger_event("test_kept")
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert received == [signal.SIGUSR1]


def test_sigterm_is_left_alone_outside_a_luigi_command():
    # `python -m pipeline ...`, tests, notebooks: importing the pipeline changes no signal handler.
    code = "import signal, pipeline; print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "True", done.stderr


def test_a_stop_sent_again_as_python_shuts_down_still_ends_the_process_by_that_signal():
    # The re-sent signal may land as the interpreter exits, where an exception is dropped: a stopped
    # run must not exit 0.
    code = (
        "import sys, signal; sys.argv[0] = '/venv/bin/luigi'; import pipeline; "
        "from pipeline.lib.signals import Terminated, send_again; send_again(Terminated(signal.SIGTERM))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert "run stopped by SIGTERM" in done.stderr


def test_a_stop_waits_for_the_end_of_a_deferred_block():
    # The embedded server's first initdb runs so: killed half way, it leaves a folder pgserver takes for
    # a cluster.
    from pipeline.lib import signals

    previous = signal.signal(signal.SIGUSR1, signals._stop)
    finished = False
    try:
        with pytest.raises(Terminated), signals.stops_deferred():
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.1)
            finished = True
    finally:
        signal.signal(signal.SIGUSR1, previous)
        signals._pending = None
    assert finished


def test_every_event_handler_of_the_pipeline_keeps_its_interrupts():
    import pipeline  # noqa: F401  (registers the handlers)

    handlers = [
        callback
        for callbacks in luigi.Task._event_callbacks.values()
        for event_callbacks in callbacks.values()
        for callback in event_callbacks
        if callback.__module__.startswith("pipeline")
    ]
    assert len(handlers) >= 9
    assert [h.__name__ for h in handlers if not hasattr(h, "__wrapped__")] == []


def test_only_luigis_task_processes_are_ended():
    # With parallel_scheduling, Luigi's pool of completeness checks is a child of the main process too:
    # killing its workers deadlocked the pool's shutdown.
    import multiprocessing

    from pipeline.lib import signals

    other = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,))
    other.start()
    previous = signals._is_task_process
    try:
        signals._is_task_process = lambda process: isinstance(process, luigi.worker.TaskProcess)
        assert other in multiprocessing.active_children()
        assert signals._task_processes() == []
    finally:
        signals._is_task_process = previous
        other.kill()
        other.join()
