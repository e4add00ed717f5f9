"""Operating the pipeline: a central luigid with two workers, retries of transient failures, the
run report rendered in headless Chromium, one run at a time per data directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from support import (
    LUIGID,
    SMALL_ROWS,
    T3,
    Reply,
    dbt_invocations,
    fast_luigi_cfg,
    fault_env,
    free_port,
    kill,
    run,
    serve_http,
    start,
    wait_until,
    write_workbook,
    zipped,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def answers(port: int) -> bool:
    try:
        scheduler_tasks(port, "DONE")
    except OSError:
        return False
    return True


def running(pid: int) -> bool:
    """True while process ``pid`` exists and has not ended (a zombie has ended, its parent not reaped it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def start_luigid(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """A central scheduler on a free port of 127.0.0.1, answering; ``kill`` it when done."""
    port = free_port()
    (tmp_path / "luigid-logs").mkdir()
    luigid = start(
        [LUIGID, "--address", "127.0.0.1", "--port", str(port), "--state-path", tmp_path / "luigid.state",
         "--logdir", tmp_path / "luigid-logs"],
        env=os.environ, cwd=tmp_path, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: answers(port), 30, "luigid answering", luigid)
    except BaseException:
        kill(luigid)
        raise
    return luigid, port


def task_processes(pid: int) -> list[int]:
    """The task processes Luigi's process ``pid`` forked (its command line; not multiprocessing's
    resource tracker, which ends on its own once the processes it serves are gone)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [int(child) for child in children if Path(f"/proc/{child}/cmdline").read_bytes() == command]


def scheduler_tasks(port: int, status: str) -> dict:
    query = urllib.parse.quote(json.dumps({"status": status, "search": ""}))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/task_list?data={query}", timeout=10) as resp:
        return json.loads(resp.read())["response"]


def test_central_scheduler_with_two_workers(tmp_path, run_pipeline, pg_dsn):
    landing = tmp_path / "landing"
    write_workbook(landing / "a.xlsx", SMALL_ROWS[:6])
    write_workbook(landing / "b.xlsx", [(r[0], *r[1:4], T3, *r[5:]) for r in SMALL_ROWS[6:]])
    luigid, port = start_luigid(tmp_path)
    try:
        ran = run_pipeline(
            "--source", str(landing), "--workers", "2", "--scheduler-host", "127.0.0.1",
            "--scheduler-port", str(port), env={"PIPELINE_PG_DSN": pg_dsn}, local_scheduler=False,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr[-3000:]

        done = scheduler_tasks(port, "DONE")
        families = sorted(task["name"] for task in done.values())
        assert families == ["BuildWarehouse", "ConvertWorkbookToParquet", "ConvertWorkbookToParquet",
                            "PublishToPostgres", "RunAll", "VerifyPostgres"]  # fmt: skip
        assert scheduler_tasks(port, "FAILED") == {} and scheduler_tasks(port, "PENDING") == {}
        converts = [t for t in done.values() if t["name"] == "ConvertWorkbookToParquet"]
        assert all(t["progress_percentage"] == 100 for t in converts)
        assert all("lines to the lake" in (t["status_message"] or "") for t in converts)
        [log] = (tmp_path / "data" / "logs").glob("luigi-*.log")  # Luigi's worker log, off the console
        assert "workers=2" in log.read_text()
        # The worker's scheduling process parsed both dbt projects while the conversions ran, and the
        # dbt tasks it forked later started from those parses (pipeline/lib/dbt.py).
        for project in ("dbt", "dbt_olap"):
            work_dir = tmp_path / "data" / "warehouse" / project
            assert dbt_invocations(work_dir) == [("parse", True), ("build", False)]
    finally:
        kill(luigid)


def test_transient_download_failure_succeeds_on_retry(tmp_path, run_pipeline, pg_dsn):
    book = write_workbook(tmp_path / "src" / "Online Retail.xlsx", SMALL_ROWS)
    payload = zipped({"Online Retail.xlsx": book})
    config = fast_luigi_cfg(tmp_path / "fast.cfg", download_attempts=2)

    with serve_http(Reply(503, b"busy"), payload) as server:
        ran = run_pipeline(
            "--source", f"{server.url}/online+retail.zip",
            env={"PIPELINE_PG_DSN": pg_dsn, "LUIGI_CONFIG_PATH": str(config)},
        )  # fmt: skip

    assert ran.returncode == 0, ran.output[-3000:]
    assert server.requests == ["/online+retail.zip"] * 2
    # The download retried by itself; Luigi does not retry FetchWorkbook on top of that.
    assert "download attempt 1/2 failed (HTTP 503)" in ran.output
    assert "ran successfully" in ran.output
    assert (tmp_path / "data" / "raw" / "online+retail.zip").read_bytes() == payload


def test_failure_exits_non_zero(tmp_path, run_pipeline):
    ran = run_pipeline("--source", "http://127.0.0.1:1/online+retail.zip",
                       env={"LUIGI_CONFIG_PATH": str(fast_luigi_cfg(tmp_path / "fast.cfg", 1))})  # fmt: skip
    assert ran.returncode == 30, ran.output[-2000:]
    assert "make run SOURCE=/path/to/file.xlsx" in ran.output and "--source PATH" in ran.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the background-networking flags Chromium keeps trying to reach Google on a closed network.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs the Debian package)"
)
def test_run_report_draws_its_charts_offline(tmp_path, run_pipeline, pg_dsn):
    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)
    ran = run_pipeline("--source", str(book), env={"PIPELINE_PG_DSN": pg_dsn})
    assert ran.returncode == 0, ran.output[-3000:]
    reports = tmp_path / "data" / "reports"
    figures = json.loads((reports / "latest.json").read_text())
    page = (reports / "latest.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from the network
    assert figures["rows_per_stage"]["fct_sales"] == len(SMALL_ROWS) - 1

    profile = tmp_path / "chromium-profile"
    page_uri = (reports / "latest.html").as_uri()
    dom = run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page_uri],
              env=os.environ, cwd=tmp_path, timeout=120).stdout  # fmt: skip
    assert 'data-charts-drawn="true"' in dom
    charts = ("monthly_net_revenue", "rejects_by_reason", "rows_per_stage", "stage_seconds")
    for chart in charts:
        drawn = re.search(rf'data-chart="{chart}"><svg[^>]*data-bars="(\d+)"', dom)
        assert drawn and int(drawn.group(1)) == len(figures[chart]), chart
    assert dom.count('class="bar"') == sum(len(figures[c]) for c in charts)

    shot = Path(os.environ.get("PIPELINE_SCREENSHOT", tmp_path / "run-report.png"))
    screenshot = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1000,800",
                  f"--screenshot={shot}", page_uri]  # fmt: skip
    run(screenshot, env=os.environ, cwd=tmp_path, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("stage", "signum", "task_stopped", "options"),
    [
        ("warehouse_before_swap", signal.SIGTERM, False, []),
        ("copy", signal.SIGTERM, False, []),
        ("warehouse_before_swap", signal.SIGINT, False, []),
        ("warehouse_before_swap", signal.SIGTERM, True, []),  # the task itself stopped (SIGSTOP)
        ("warehouse_before_swap", signal.SIGTERM, False, ["--parallel-scheduling"]),
    ],
)
def test_a_signal_to_the_main_process_alone_ends_its_task(tmp_path, run_pipeline, pg_dsn, stage, signum,
                                                          task_stopped, options):  # fmt: skip
    # `kill <pid>`, `docker stop`, Kubernetes, `kill -INT`: a signal to the main process only, while a
    # task process is paused in the build (before its swap) or in the publish's copy.
    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)
    marker = tmp_path / "paused"
    proc = run_pipeline.paused(
        "--source", str(book), *options, stage=stage, marker=marker, env={"PIPELINE_PG_DSN": pg_dsn}
    )
    try:
        wait_until(marker.exists, 120, f"the run reaching {stage}", proc)
        tasks = task_processes(proc.pid)
        if task_stopped:
            for pid in tasks:
                os.kill(pid, signal.SIGSTOP)
        # Twice, 2 ms apart (a supervisor that insists): the second must not interrupt the ending.
        proc.send_signal(signum)
        time.sleep(0.002)
        proc.send_signal(signum)
        # Its output closes when the task process, which holds it too, is gone.
        output, _ = proc.communicate(timeout=60)
    finally:
        kill(proc)

    assert proc.returncode == -signum, output
    assert f"run stopped by {signal.Signals(signum).name}: no task process of it is left running" in output
    assert tasks and not [pid for pid in tasks if running(pid)]
    # Nothing half-done went live, and the next run finishes the work.
    assert not (tmp_path / "data" / "warehouse" / "retail.published.json").exists()
    assert (tmp_path / "data" / "warehouse" / "retail.duckdb").exists() == (stage == "copy")
    again = run_pipeline("--source", str(book), env={"PIPELINE_PG_DSN": pg_dsn})
    assert again.returncode == 0, again.output


def test_sigterm_ends_the_task_at_once_while_the_central_scheduler_does_not_answer(tmp_path, run_pipeline):
    # Luigi's worker ends its tasks only after its keep-alive thread stopped: a minute and more when
    # luigid does not answer, while the build went on to its swap.
    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)
    luigid, port = start_luigid(tmp_path)
    marker = tmp_path / "paused"
    proc = None
    try:
        proc = start(
            run_pipeline.command("--source", str(book), "--scheduler-host", "127.0.0.1", "--scheduler-port",
                                 str(port), task="BuildWarehouse", local_scheduler=False),
            env=run_pipeline.env | fault_env("warehouse_before_swap", marker, 20), cwd=run_pipeline.cwd,
        )  # fmt: skip
        wait_until(marker.exists, 120, "the build reaching its swap", proc)
        tasks = task_processes(proc.pid)
        os.kill(luigid.pid, signal.SIGSTOP)
        time.sleep(2.5)  # the worker's next keep-alive ping (every second) now waits for an answer
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: not [pid for pid in tasks if running(pid)], 10, "the task process ending", proc)
        os.kill(luigid.pid, signal.SIGCONT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc is not None:
            kill(proc)
        os.kill(luigid.pid, signal.SIGCONT)
        kill(luigid)

    assert proc.returncode == -signal.SIGTERM, output
    assert tasks and not (tmp_path / "data" / "warehouse" / "retail.duckdb").exists()


def test_a_second_run_in_the_same_data_dir_is_refused_whatever_its_command_line(
    tmp_path, run_pipeline, pg_dsn
):
    first = write_workbook(tmp_path / "in" / "first.xlsx", SMALL_ROWS)
    second = write_workbook(tmp_path / "in" / "second.xlsx", SMALL_ROWS[:3])
    marker = tmp_path / "first-at-copy"
    holder = run_pipeline.paused(
        "--source", str(first), stage="copy", marker=marker, env={"PIPELINE_PG_DSN": pg_dsn}
    )
    try:
        wait_until(marker.exists, 120, "the first run reaching its publish", holder)
        started = time.monotonic()
        refused = run_pipeline("--source", str(second), env={"PIPELINE_PG_DSN": pg_dsn})
        seconds = time.monotonic() - started
    finally:
        kill(holder)

    assert refused.returncode == 35 and seconds < 20, (seconds, refused.output)
    assert f"another pipeline run (pid {holder.pid}) is working in {tmp_path / 'data'}" in refused.output
    # The lock went with the killed run: the next run works.
    assert run_pipeline("--source", str(second), env={"PIPELINE_PG_DSN": pg_dsn}).returncode == 0
