"""What a new user sees: a short console, a failure named once, the full log on disk, and a connect
line that works as printed."""

from __future__ import annotations

import os
import shutil
import socket
import time

import pytest
from support import SMALL_ROWS, run, write_workbook

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

UNRESOLVABLE = "online-retail-pipeline-test.invalid"  # RFC 2606: .invalid never resolves
OFFLINE_SOURCE = f"http://{UNRESOLVABLE}/online+retail.zip"


@pytest.fixture
def unresolvable_host():
    try:
        socket.getaddrinfo(UNRESOLVABLE, 80)
    except socket.gaierror:
        return UNRESOLVABLE
    pytest.skip(f"this machine's resolver answers for {UNRESOLVABLE} (a DNS that hijacks NXDOMAIN)")


def test_unreachable_source_fails_at_once_with_one_short_message(tmp_path, run_pipeline, unresolvable_host):
    started = time.monotonic()
    run = run_pipeline("--source", OFFLINE_SOURCE)  # the repo's luigi.cfg: up to 5 download tries
    elapsed = time.monotonic() - started

    assert run.returncode == 30, run.output
    # Retrying a host that does not resolve would take over a minute; this is Luigi's start-up.
    assert elapsed < 30, f"{elapsed:.1f} s"
    assert run.output.count(f"cannot resolve the host name '{unresolvable_host}'") == 1, run.output
    assert "make run SOURCE=/path/to/file.xlsx" in run.output and "--source PATH" in run.output
    assert "error: FetchWorkbook(" in run.output
    assert "Traceback" not in run.output and "DEBUG" not in run.output
    lines = run.output.splitlines()
    assert len(lines) < 30, run.output  # was about 440 lines, with the traceback three times

    [log] = (tmp_path / "data" / "logs").glob("luigi-*.log")
    assert f"Full log: {log}" in run.output
    detail = log.read_text()
    assert "DEBUG luigi-interface: Checking if RunAll(" in detail
    assert "Traceback" in detail and "socket.gaierror" in detail
    assert not list(log.parent.glob(".*failures*"))  # the failure records are removed once reported


def test_verbose_brings_luigis_console_log_back(tmp_path, run_pipeline, unresolvable_host):
    run = run_pipeline("--source", OFFLINE_SOURCE, env={"PIPELINE_VERBOSE": "1"})

    assert run.returncode == 30, run.output
    assert "DEBUG: Checking if RunAll(" in run.output
    assert "Traceback" in run.output
    assert list((tmp_path / "data" / "logs").glob("luigi-*.log"))


PSQL = shutil.which("psql")


@pytest.mark.skipif(PSQL is None, reason="psql is not on PATH: cannot run the printed connect line")
def test_connect_line_works_as_printed_outside_the_venv(tmp_path, run_pipeline):
    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)
    ran = run_pipeline("--source", str(book))  # no DSN: the embedded server (the fixture stops it)
    assert ran.returncode == 0, ran.output
    [connect] = [line for line in ran.output.splitlines() if line.strip().startswith("connect with")]
    command = connect.split("connect with", 1)[1].strip()
    assert command.startswith('psql "postgresql://')
    # From another directory, with neither the venv nor the pipeline's settings in the environment.
    shell_env = {"PATH": os.path.dirname(PSQL) + ":/usr/bin:/bin", "HOME": str(tmp_path)}
    result = run(["bash", "-c", f"{command} -X -A -t -c 'select count(*) from analytics.fct_sales'"],
                 env=shell_env, cwd="/", timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == len(SMALL_ROWS) - 1


def test_connect_line_for_a_configured_dsn_names_the_variable(tmp_path, run_pipeline, pg_dsn):
    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)
    run = run_pipeline("--source", str(book), env={"PIPELINE_PG_DSN": pg_dsn})

    assert run.returncode == 0, run.output
    assert 'connect with      psql "$PIPELINE_PG_DSN"' in run.output
