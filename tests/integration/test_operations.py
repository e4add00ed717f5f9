"""Operating the pipeline: a central luigid with two workers, retries of transient failures, the
run report rendered in headless Chromium, and the docker-compose file."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import SMALL_ROWS, T3, write_workbook

from pipeline.config import REPO_ROOT

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scheduler_tasks(port: int, status: str) -> dict:
    query = urllib.parse.quote(json.dumps({"status": status, "search": ""}))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/task_list?data={query}", timeout=10) as resp:
        return json.loads(resp.read())["response"]


def test_central_scheduler_with_two_workers(tmp_path, run_pipeline, pg_dsn):
    from integration.conftest import LUIGI

    landing = tmp_path / "landing"
    write_workbook(landing / "a.xlsx", SMALL_ROWS[:6])
    write_workbook(landing / "b.xlsx", [(r[0], *r[1:4], T3, *r[5:]) for r in SMALL_ROWS[6:]])
    port = free_port()
    (tmp_path / "luigid-logs").mkdir()
    luigid = subprocess.Popen(
        [str(Path(LUIGI).with_name("luigid")), "--address", "127.0.0.1", "--port", str(port),
         "--state-path", str(tmp_path / "luigid.state"), "--logdir", str(tmp_path / "luigid-logs")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                scheduler_tasks(port, "DONE")
                break
            except OSError:
                assert time.monotonic() < deadline, "luigid did not start"
                time.sleep(0.2)

        run = subprocess.run(
            [LUIGI, "--module", "pipeline", "RunAll", "--source", str(landing), "--workers", "2",
             "--scheduler-host", "127.0.0.1", "--scheduler-port", str(port)],
            cwd=tmp_path, env=run_pipeline.env | {"PIPELINE_PG_DSN": pg_dsn}, capture_output=True, text=True,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]

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
    finally:
        luigid.terminate()
        luigid.wait(timeout=30)


def test_transient_download_failure_succeeds_on_retry(tmp_path, run_pipeline, pg_dsn):
    book = write_workbook(tmp_path / "src" / "Online Retail.xlsx", SMALL_ROWS)
    archive = tmp_path / "online+retail.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(book, "Online Retail.xlsx")
    payload = archive.read_bytes()
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            status, body = (503, b"busy") if len(requests) == 1 else (200, payload)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    config = _fast_config(tmp_path, download_attempts=2)
    try:
        run = run_pipeline(
            "--source", f"http://127.0.0.1:{httpd.server_address[1]}/online+retail.zip",
            env={"PIPELINE_PG_DSN": pg_dsn, "LUIGI_CONFIG_PATH": str(config)},
        )  # fmt: skip
    finally:
        httpd.shutdown()
        httpd.server_close()

    assert run.returncode == 0, run.output[-3000:]
    assert len(requests) == 2
    # The download retried by itself; Luigi does not retry FetchWorkbook on top of that.
    assert "download attempt 1/2 failed (HTTP 503)" in run.output
    assert "ran successfully" in run.output


def test_failure_exits_non_zero(tmp_path, run_pipeline):
    run = run_pipeline("--source", "http://127.0.0.1:1/online+retail.zip",
                       env={"LUIGI_CONFIG_PATH": str(_fast_config(tmp_path))})  # fmt: skip
    assert run.returncode == 30, run.output[-2000:]
    assert "make run SOURCE=/path/to/file.xlsx" in run.output and "--source PATH" in run.output


def _fast_config(tmp_path, download_attempts: int = 1) -> Path:
    """The repo's luigi.cfg with a 1 s retry delay and ``download_attempts`` tries per download."""
    text = (REPO_ROOT / "luigi.cfg").read_text()
    assert "retry_delay = 30" in text and "\n[pipeline]\n" in text
    config = tmp_path / "fast.cfg"
    config.write_text(
        text.replace("retry_delay = 30", "retry_delay = 1")
        .replace("\n[pipeline]\n", f"\n[pipeline]\ndownload_attempts = {download_attempts}\n")
    )  # fmt: skip
    return config


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
    run = run_pipeline("--source", str(book), env={"PIPELINE_PG_DSN": pg_dsn})
    assert run.returncode == 0, run.output[-3000:]
    reports = tmp_path / "data" / "reports"
    figures = json.loads((reports / "latest.json").read_text())
    page = (reports / "latest.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from the network
    assert figures["rows_per_stage"]["fct_sales"] == len(SMALL_ROWS) - 1

    profile = tmp_path / "chromium-profile"
    page_uri = (reports / "latest.html").as_uri()
    dom = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page_uri],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert 'data-charts-drawn="true"' in dom
    charts = ("monthly_net_revenue", "rejects_by_reason", "rows_per_stage", "stage_seconds")
    for chart in charts:
        drawn = re.search(rf'data-chart="{chart}"><svg[^>]*data-bars="(\d+)"', dom)
        assert drawn and int(drawn.group(1)) == len(figures[chart]), chart
    assert dom.count('class="bar"') == sum(len(figures[c]) for c in charts)

    shot = Path(os.environ.get("PIPELINE_SCREENSHOT", tmp_path / "run-report.png"))
    subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1000,800",
         f"--screenshot={shot}", page_uri],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_docker_compose_wires_postgres_luigid_and_the_pipeline():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "luigid", "pipeline"} <= set(services)

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert any(v.startswith("pgdata:") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "pgdata" in compose["volumes"]

    luigid = services["luigid"]
    assert "8082:8082" in [str(p) for p in luigid["ports"]]

    pipeline = services["pipeline"]
    assert pipeline["build"]["dockerfile"] == "Dockerfile"
    env = pipeline["environment"]
    assert env["PIPELINE_PG_DSN"].startswith("${PIPELINE_PG_DSN:-postgresql://")
    assert "password" not in env["PIPELINE_PG_DSN"].split(":-")[0].lower()
    assert pipeline["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "--scheduler-host" in pipeline["command"] and "luigid" in pipeline["command"]

    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "luigi" in dockerfile


def test_a_second_run_in_the_same_data_dir_is_refused_whatever_its_command_line(
    tmp_path, run_pipeline, pg_dsn
):
    import signal

    from dba_postgres import wait_until

    first = write_workbook(tmp_path / "in" / "first.xlsx", SMALL_ROWS)
    second = write_workbook(tmp_path / "in" / "second.xlsx", SMALL_ROWS[:3])
    marker = tmp_path / "first-at-copy"
    holder = run_pipeline.paused(
        "--source", str(first), stage="copy", marker=marker, env={"PIPELINE_PG_DSN": pg_dsn}
    )
    try:
        wait_until(marker.exists, 120, "the first run reaching its publish")
        started = time.monotonic()
        run = run_pipeline("--source", str(second), env={"PIPELINE_PG_DSN": pg_dsn})
        seconds = time.monotonic() - started
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()

    assert run.returncode == 35 and seconds < 20, (seconds, run.output)
    assert f"another pipeline run (pid {holder.pid}) is working in {tmp_path / 'data'}" in run.output
    # The lock went with the killed run: the next run works.
    assert run_pipeline("--source", str(second), env={"PIPELINE_PG_DSN": pg_dsn}).returncode == 0
