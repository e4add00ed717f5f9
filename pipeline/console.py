"""What a run prints, and where the rest of its log goes.

Luigi's default logging sends its DEBUG log to the terminal: an offline run printed about 500 lines and
the same traceback once per try. Here Luigi's whole log goes to ``<data_dir>/logs/luigi-<UTC time>.log``
and the terminal shows what the person running the pipeline needs: a line as each task starts and
finishes, the tasks' own progress lines, warnings, Luigi's short execution summary, then one message per
failed task (its exception, without the traceback) and the path of the full log. ``PIPELINE_VERBOSE=1``
(``make run VERBOSE=1``) brings Luigi's own console log back as well.

The hook is Luigi's own: when a run starts (the ``luigi`` command line, ``make run`` or
``luigi.build``), ``luigi.setup_logging.InterfaceLogging`` calls ``logging.config.fileConfig`` on
``[core] logging_conf_file``. Importing ``pipeline`` points that at ``pipeline/logging.ini`` unless a
logging configuration was given, and that file names the two handlers below. Tasks run in forked worker
processes, so failures reach the process that prints the end of the run through a small file next to
the log (appended one line at a time, removed once reported).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import luigi
from luigi.configuration import LuigiConfigParser

from pipeline.lib.signals import interrupts_kept

LOGGING_CONF = Path(__file__).with_name("logging.ini")
SUMMARY_MARK = "===== Luigi Execution Summary ====="


def verbose() -> bool:
    return os.environ.get("PIPELINE_VERBOSE", "").strip().lower() not in {"", "0", "false", "no"}


def use_pipeline_logging() -> None:
    """Make Luigi configure logging from ``logging.ini``, unless the operator chose otherwise."""
    config = luigi.configuration.get_config()
    if not isinstance(config, LuigiConfigParser):
        return  # a TOML configuration has its own [logging] section for this
    chosen = config.has_option("core", "logging_conf_file")
    if chosen or config.getboolean("core", "no_configure_logging", False):
        return
    config.set("core", "logging_conf_file", str(LOGGING_CONF))


class _RunLog:
    """The current run's log file and its failure records (inherited by forked task processes)."""

    def __init__(self, path: Path):
        self.path = path
        # Per run: two runs started in the same second share a log file but not their failures.
        self.failures = path.with_name(f".{path.stem}-{os.getpid()}.failures.jsonl")
        self.started: dict[str, float] = {}

    def record(self, task: str, message: str | None) -> None:
        """Note a failure (``message``) or a success (None) of ``task``."""
        entry = json.dumps({"task": task, "message": message}) + "\n"
        # One write to a file opened for appending: concurrent task processes do not interleave.
        with open(self.failures, "a", encoding="utf-8") as out:
            out.write(entry)

    def entries(self) -> list[dict]:
        try:
            lines = self.failures.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def end_of_run(self) -> str:
        """One message per task whose last try failed, then where the full log is."""
        last: dict[str, str | None] = {}
        for entry in self.entries():
            last.pop(entry["task"], None)  # keep the order of the final outcomes
            last[entry["task"]] = entry["message"]
        self.failures.unlink(missing_ok=True)
        lines = []
        for task, message in last.items():
            if message is not None:
                lines += [f"error: {task} failed:", *("  " + line for line in message.splitlines())]
        return "\n".join([*lines, f"Full log: {self.path}"])


_run: _RunLog | None = None


class RunLogFile(logging.FileHandler):
    """Luigi's whole log (and other libraries' warnings) in ``<data_dir>/logs/luigi-<UTC time>.log``."""

    def __init__(self):
        from pipeline.config import load_settings

        global _run
        logs = load_settings().data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"luigi-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
        super().__init__(path, encoding="utf-8")
        _run = _RunLog(path)


class Console(logging.Handler):
    """The terminal: short by default, Luigi's own console log with ``PIPELINE_VERBOSE=1``."""

    def __init__(self):
        super().__init__()
        self.verbose = verbose()
        # Luigi's own console format, for the verbose mode.
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        # Python warnings from libraries (each printed with its source line otherwise) become one line
        # here and stay whole in the log file.
        logging.captureWarnings(True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            is_summary = record.name == "luigi-interface" and SUMMARY_MARK in text
            if _is_scheduling_error(record, text):
                _note_scheduling_error(text)
            if self.verbose:
                line = self.format(record)
            elif is_summary:
                line = text.strip("\n")
            else:
                line = self._short(record, text)
            if is_summary and _run is not None:
                line = f"{line}\n\n{_run.end_of_run()}"
            if line:
                print(line, file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)

    @staticmethod
    def _short(record: logging.LogRecord, text: str) -> str | None:
        """One line for a warning or error; nothing for Luigi's detail and its failure tracebacks."""
        if record.levelno < logging.WARNING:
            return None
        if _is_failure(record, text):
            return None  # reported once at the end of the run, without the traceback
        line = f"{record.levelname.lower()}: {text.splitlines()[0] if text else ''}"
        if record.exc_info and record.exc_info[1] is not None:
            line += f" ({_describe(record.exc_info[1])})"
        return line


def _is_scheduling_error(record: logging.LogRecord, text: str) -> bool:
    """Luigi's "Will not run X or any dependencies due to error in complete() method" and the like."""
    return record.name.startswith("luigi") and text.startswith("Will not run ") and " error in " in text


def _is_failure(record: logging.LogRecord, text: str) -> bool:
    """Luigi's messages about a task that failed, each with a traceback."""
    return _is_scheduling_error(record, text) or (
        record.name.startswith("luigi")
        and (
            text.startswith("Luigi unexpected framework error")
            or (text.startswith("[pid ") and " failed " in text)
        )
    )


def _describe(exception: BaseException) -> str:
    return f"{type(exception).__name__}: {exception}"


def _note_scheduling_error(text: str) -> None:
    """Luigi reports an error in ``complete()`` only as a log message, with the traceback as text."""
    if _run is None:
        return
    task = text.removeprefix("Will not run ").split(" or any dependencies", 1)[0]
    traceback_lines = text.split("\n", 1)[-1].rstrip("\n").splitlines()
    # The exception is what follows the last indented line (the frames and their source lines).
    last_frame = max((i for i, line in enumerate(traceback_lines) if line.startswith(" ")), default=-1)
    exception = "\n".join(traceback_lines[last_frame + 1 :]) or text
    # As the failure events name it: SourceError, not pipeline.tasks.SourceError.
    _run.record(task, re.sub(r"^(?:\w+\.)+(?=\w+:)", "", exception))


@luigi.Task.event_handler(luigi.Event.START)
@interrupts_kept
def _started(task: luigi.Task) -> None:
    if _run is not None and not verbose():
        _run.started[task.task_id] = time.monotonic()
        print(f"running  {task}", file=sys.stderr, flush=True)


@luigi.Task.event_handler(luigi.Event.SUCCESS)
@interrupts_kept
def _succeeded(task: luigi.Task) -> None:
    if _run is None:
        return
    _run.record(str(task), None)
    if not verbose():
        started = _run.started.pop(task.task_id, None)
        took = f" in {time.monotonic() - started:.1f} s" if started is not None else ""
        print(f"done     {task}{took}", file=sys.stderr, flush=True)


@luigi.Task.event_handler(luigi.Event.FAILURE)
@interrupts_kept
def _failed(task: luigi.Task, exception: BaseException) -> None:
    # Reported once, at the end of the run. No task is retried by Luigi (each sets retry_count = 1 and
    # retries by itself what may heal, saying so), so a failure is final.
    if _run is not None:
        _run.record(str(task), _describe(exception))


@luigi.Task.event_handler(luigi.Event.BROKEN_TASK)
@interrupts_kept
def _broken(task: luigi.Task, exception: BaseException) -> None:
    if _run is not None:
        _run.record(str(task), _describe(exception))


@luigi.Task.event_handler(luigi.Event.PROCESS_FAILURE)
@interrupts_kept
def _died(task: luigi.Task, message: str) -> None:
    if _run is not None:
        _run.record(str(task), message)


@luigi.Task.event_handler(luigi.Event.TIMEOUT)
@interrupts_kept
def _timed_out(task: luigi.Task, message: str) -> None:
    # Luigi's message names the task by its id: say which limit it was and, when the limit is the
    # task's own (not [worker] timeout), what to look at.
    if _run is not None:
        found = re.search(r"timed out after (\S+) seconds", message)
        limit = found.group(1) if found else "?"
        advice = getattr(task, "timeout_advice", "") if task.worker_timeout is not None else ""
        _run.record(str(task), f"ran longer than its limit of {limit} s and was ended. {advice}".strip())
