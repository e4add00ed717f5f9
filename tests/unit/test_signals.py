"""Stopping a run (pipeline/lib/signals.py): interrupts that Luigi would drop are sent again, and
SIGTERM is taken over only in a ``luigi`` command's process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import luigi

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
