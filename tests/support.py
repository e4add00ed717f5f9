"""What the tests share, in one place (fixtures in the conftest files take their logic from here; no
test imports from a conftest):

- paths: the repository, the real datasets, the venv's ``luigi`` and ``luigid``;
- test workbooks written with openpyxl the way Excel stores the real export, and the figures a correct
  pipeline must make of them, computed without any pipeline code;
- running commands: ``run`` (wait for the end) and ``start`` (in the background, in a session of its
  own so that a test can kill the whole process group), and ``Pipeline``, the pipeline's command
  lines in one test's world (its own data directory, the repo's luigi.cfg), optionally paused at a
  fault point (pipeline/lib/faults.py);
- ``serve_http``: a real HTTP server on 127.0.0.1 that answers with scripted replies (statuses,
  headers, bodies cut short, connections reset, TLS);
- waiting: ``wait_until``; a free port: ``free_port``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import io
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import openpyxl

REPO = Path(__file__).resolve().parents[1]
# The real datasets (see ../shared/data/SOURCES.md), or wherever PIPELINE_TEST_DATA points; tests that
# need them skip, saying so, without them.
SHARED_DATA = Path(os.environ.get("PIPELINE_TEST_DATA") or REPO.parent / "shared" / "data")
REAL_WORKBOOK = SHARED_DATA / "online_retail_reconstructed.xlsx"
LUIGI = str(Path(sys.executable).with_name("luigi"))
LUIGID = str(Path(sys.executable).with_name("luigid"))


# --- test workbooks -------------------------------------------------------------------------------

HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
          "CustomerID", "Country"]  # fmt: skip
HEADER_II = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
             "Customer ID", "Country"]  # fmt: skip

T1 = dt.datetime(2010, 12, 1, 8, 26)
T2 = dt.datetime(2010, 12, 1, 9, 41)
T3 = dt.datetime(2011, 1, 5, 10, 0)
T4 = dt.datetime(2011, 8, 12, 14, 50)

# Numeric cells where the value is all digits, text otherwise, as in the UCI workbook.
SMALL_ROWS = [
    (
        536365,
        "85123A",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        6,
        T1,
        2.55,
        17850.0,
        "United Kingdom",
    ),
    (536365, 71053, "WHITE METAL LANTERN ", 6, T1, 3.39, 17850.0, "United Kingdom"),
    (
        536365,
        71053,
        "WHITE METAL LANTERN ",
        6,
        T1,
        3.39,
        17850.0,
        "United Kingdom",
    ),  # exact duplicate
    ("C536379", "D", "Discount", -1, T2, 27.5, 14527.0, "United Kingdom"),
    (536544, 21773, "DECORATIVE ROSE BATHROOM BOTTLE", 1, T2, 2.51, None, "United Kingdom"),
    (536544, "POST", "POSTAGE", 1, T2, 18.0, None, "United Kingdom"),
    (537000, 22728, "ALARM CLOCK BAKELIKE PINK", 4, T3, 3.75, 12583.0, "France"),
    (537000, "22728", "ALARM CLOCK BAKELIKE PINK", 2, T3, 3.75, 12583.0, "France"),
    (537001, "85123a", "CREAM HANGING HEART T-LIGHT HOLDER", 12, T3, 2.95, 12583.0, "Belgium"),
    (537002, 22728, None, -3, T3, 0.0, None, "United Kingdom"),
    ("A563185", "B", "Adjust bad debt", 1, T4, 11062.06, None, "United Kingdom"),
]


def write_workbook(path: Path, rows, *, header=HEADER, sheet: str = "Online Retail") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for row in rows:
        ws.append(list(row))
    for cell in ws["E"][1:]:
        cell.number_format = "m/d/yy h:mm"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def expected_from_workbook(path: Path) -> dict:
    """Figures computed from the workbook with openpyxl and Decimal, independent of the pipeline."""
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = []
    for ws in wb.worksheets:
        for values in ws.iter_rows(min_row=2, values_only=True):
            rows.append(tuple(v.strip() if isinstance(v, str) else v for v in values))
    seen, unique = set(), []
    for row in rows:
        key = tuple(str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                    for v in row)  # fmt: skip
        if key not in seen:
            seen.add(key)
            unique.append(row)

    def amount(r):
        return Decimal(str(r[3])) * Decimal(str(r[5]))

    return {
        "source_rows": len(rows),
        "fact_rows": len(unique),
        "duplicates": len(rows) - len(unique),
        "source_amount": sum((amount(r) for r in rows), Decimal(0)),
        "fact_amount": sum((amount(r) for r in unique), Decimal(0)),
        "customers": len({int(r[6]) for r in rows if r[6] is not None}),
        "countries": len({r[7] for r in rows}),
        "stock_codes": len({str(r[1]).upper() for r in rows}),
        "invoices": len({str(r[0]) for r in unique}),
        "guest_lines": sum(1 for r in unique if r[6] is None),
    }


def zipped(members: Mapping[str, Path]) -> bytes:
    """A zip archive (as bytes) holding each file under its name, like the UCI download."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in members.items():
            archive.write(path, name)
    return buffer.getvalue()


# --- running commands -----------------------------------------------------------------------------


@dataclass
class Run:
    """A finished command: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def ran_tasks(self) -> bool:
        return "ran successfully" in self.output


def run(command: list[str], *, env: Mapping[str, str], cwd: Path | str, timeout: float = 600,
        check: bool = False) -> Run:  # fmt: skip
    """Run ``command`` to its end (at most ``timeout`` seconds); with ``check``, fail unless it exits 0."""
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=dict(env), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    result = Run(done.returncode, done.stdout, done.stderr)
    assert not check or result.returncode == 0, f"{command} exited {result.returncode}: {result.output}"
    return result


def start(command: list[str], *, env: Mapping[str, str], cwd: Path | str,
          stdout=subprocess.PIPE) -> subprocess.Popen:  # fmt: skip
    """Start ``command`` in the background, in a session of its own (``kill`` ends it and every
    process it started); stderr goes with stdout (a pipe, read with ``communicate()``). SIGINT acts as
    from a terminal even when the tests run as a background job, which starts with it ignored."""
    return subprocess.Popen(
        [str(part) for part in command], cwd=cwd, env=dict(env), stdout=stdout, stderr=subprocess.STDOUT,
        text=True, start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of a command from ``start`` (a lost machine, a ``kill -9``) and reap it.
    The group may outlive its leader: processes it forked are killed too."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def clean_environ() -> dict[str, str]:
    """This process's environment without PIPELINE_* or LUIGI_* settings: a run sees what its test gives."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "LUIGI_"))}


def pipeline_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a pipeline run of its own: ``data_dir``, the repo's luigi.cfg, ``settings``."""
    return clean_environ() | {
        "PIPELINE_DATA_DIR": str(data_dir), "LUIGI_CONFIG_PATH": str(REPO / "luigi.cfg"), **settings
    }  # fmt: skip


def fast_luigi_cfg(path: Path, download_attempts: int = 5) -> Path:
    """The repo's luigi.cfg at ``path`` with a 1 s delay between Luigi's retries of a failed task (30 s
    in the repo) and ``download_attempts`` tries per download: failure tests stay short."""
    text = (REPO / "luigi.cfg").read_text()
    text, found = re.subn(r"^retry_delay = .*$", "retry_delay = 1", text, flags=re.M)
    assert found == 1, "luigi.cfg has no single 'retry_delay = ' line"
    text, found = re.subn(
        r"^\[pipeline\]$", f"[pipeline]\ndownload_attempts = {download_attempts}", text, flags=re.M
    )
    assert found == 1, "luigi.cfg has no single [pipeline] section"
    path.write_text(text)
    return path


def fault_env(stage: str, marker: Path, seconds: float = 600) -> dict[str, str]:
    """The settings that pause a run at fault point ``stage`` (pipeline/lib/faults.py) for ``seconds``;
    it writes ``marker`` (JSON: the stage and how far it got) when it gets there."""
    return {"PIPELINE_FAULT_PAUSE": stage, "PIPELINE_FAULT_MARKER": str(marker),
            "PIPELINE_FAULT_PAUSE_SECONDS": str(seconds)}  # fmt: skip


def read_marker(marker: Path) -> dict:
    return json.loads(marker.read_text())


class Pipeline:
    """The pipeline's command lines in one test's world: run in ``cwd`` with ``env`` (see
    ``pipeline_env``); ``env=`` of a call adds to it.

    ``pipeline(*args)`` runs ``luigi --module pipeline RunAll --local-scheduler *args`` to its end;
    ``task=`` names another task, ``local_scheduler=False`` leaves the scheduler to ``args``.
    ``start`` runs the same in the background, ``paused`` stops it at a fault point, ``cli`` runs
    ``python -m pipeline *args``.

    With ``server_allowed=False`` (a test not marked ``postgres``), a task that needs PostgreSQL
    (RunAll starts or checks it before any work) fails the test instead of starting a server.
    """

    SERVER_TASKS = frozenset({"RunAll", "PublishToPostgres", "VerifyPostgres"})

    def __init__(self, cwd: Path, env: dict[str, str], server_allowed: bool = True):
        self.cwd = cwd
        self.env = env
        self.server_allowed = server_allowed

    def command(self, *args: str, task: str = "RunAll", local_scheduler: bool = True) -> list[str]:
        assert self.server_allowed or task not in self.SERVER_TASKS, (
            f"{task} needs a PostgreSQL server: mark the test postgres"
        )
        scheduler = ["--local-scheduler"] if local_scheduler else []
        return [LUIGI, "--module", "pipeline", task, *scheduler, *args]

    def __call__(self, *args: str, task: str = "RunAll", env: dict | None = None, timeout: float = 600,
                 local_scheduler: bool = True) -> Run:  # fmt: skip
        command = self.command(*args, task=task, local_scheduler=local_scheduler)
        return run(command, env=self.env | (env or {}), cwd=self.cwd, timeout=timeout)

    def start(self, *args: str, task: str = "RunAll", env: dict | None = None) -> subprocess.Popen:
        return start(self.command(*args, task=task), env=self.env | (env or {}), cwd=self.cwd)

    def paused(self, *args: str, stage: str, marker: Path, seconds: float = 600, task: str = "RunAll",
               env: dict | None = None) -> subprocess.Popen:  # fmt: skip
        """In the background, stopping at fault point ``stage`` for ``seconds`` (``fault_env``)."""
        return self.start(*args, task=task, env=(env or {}) | fault_env(stage, marker, seconds))

    def cli(self, *args: str, check: bool = False) -> Run:
        return run([sys.executable, "-m", "pipeline", *args], env=self.env, cwd=self.cwd, check=check)


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               proc: subprocess.Popen | None = None) -> None:  # fmt: skip
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds, or at once when ``proc`` ends
    first (with what it printed)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            ended = f"the process ended (exit {proc.returncode}) before {what}"
            raise AssertionError(f"{ended}:\n{output[-5000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a local HTTP server --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``length`` declares another Content-Length than the body's (larger: a body
    cut short, then the connection closes); ``reset`` ends the connection with a TCP RST after the body."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    length: int | None = None
    reset: bool = False


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        reply = self.server.reply_for(self.path)
        length = len(reply.body) if reply.length is None else reply.length
        self.send_response(reply.status)
        self.send_header("Content-Length", str(length))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()
        if reply.reset:
            # SO_LINGER 0: the kernel sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif length != len(reply.body):
            self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: list[Reply], routes: dict[str, Reply], tls: ssl.SSLContext | None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script, self.routes, self.tls = script, routes, tls
        self.requests: list[str] = []
        self.connections = 0
        self.lock = threading.Lock()

    def reply_for(self, path: str) -> Reply:
        with self.lock:
            self.requests.append(path)
            if path in self.routes:
                return self.routes[path]
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def get_request(self):
        sock, address = super().get_request()
        with self.lock:
            self.connections += 1
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request, client_address):
        pass  # a client that hangs up or refuses the certificate is what the fault tests do


@dataclass
class HttpServer:
    """A running ``serve_http`` server: its base URL, the paths asked for and the connections made."""

    url: str
    _server: _Server

    @property
    def requests(self) -> list[str]:
        return list(self._server.requests)

    @property
    def connections(self) -> int:
        return self._server.connections


def _reply(value: Reply | bytes) -> Reply:
    return value if isinstance(value, Reply) else Reply(200, value)


@contextlib.contextmanager
def serve_http(*script: Reply | bytes, routes: Mapping[str, Reply | bytes] | None = None,
               tls: ssl.SSLContext | None = None) -> Iterator[HttpServer]:  # fmt: skip
    """A real HTTP server on 127.0.0.1 (a free port) for the ``with`` block; yields an ``HttpServer``.

    A GET of a path in ``routes`` gets that reply; any other takes the next reply of ``script``, and
    the last one answers every request after it (``serve_http(Reply(503), body)``: busy once, then the
    body). Bytes stand for a 200 with that body. With ``tls``, connections are wrapped in it.
    """
    server = _Server([_reply(r) for r in script] or [Reply(404)],
                     {path: _reply(r) for path, r in (routes or {}).items()}, tls)  # fmt: skip
    scheme = "https" if tls else "http"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpServer(f"{scheme}://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()


def write_duckdb_project(project: Path, name: str, *, attach: str = "") -> Path:
    """A dbt project of its own for a test of the pipeline's dbt helpers: ``dbt_project.yml`` and a
    profile whose one target builds ``<name>.duckdb`` in dbt's work directory, attaching an in-memory
    database as ``attach`` when given (as dbt/warehouse/profiles.yml attaches ``transient``)."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "dbt_project.yml").write_text(f'name: {name}\nversion: "1.0.0"\nprofile: {name}\n')
    attached = f"\n      attach: [{{path: ':memory:', alias: {attach}}}]" if attach else ""
    (project / "profiles.yml").write_text(
        f"{name}:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n"
        f"      path: {name}.duckdb\n      threads: 1{attached}\n"
    )
    return project


def dbt_invocations(work_dir: Path) -> list[tuple[str, bool]]:
    """The dbt commands that ran in ``work_dir`` (its logs/dbt.log, one section per invocation), in
    order, each with whether it went through dbt's parse of the project (from its parse cache, in part
    or in full; dbt logs which), rather than starting from a parse it was handed."""
    parsed = re.compile(r"\]: (Partial parsing|Unable to do partial parsing|Starting full parse)")
    sections = (work_dir / "logs" / "dbt.log").read_text().split("Running with dbt=")[1:]
    return [
        (re.search(r"Command `cli (\w+)`", section).group(1), bool(parsed.search(section)))
        for section in sections
    ]


def write_landing_months(folder: Path, months: list[str], rows_per_month: int = 1500) -> list[Path]:
    """A landing folder of small monthly exports cut from the real Online Retail data (the first
    ``rows_per_month`` lines of each ``YYYY-MM``), one workbook per month named after it."""
    import polars as pl

    data = pl.read_parquet(SHARED_DATA / "online_retail.parquet")
    books = []
    for month in months:
        year, mon = (int(p) for p in month.split("-"))
        part = data.filter(
            (pl.col("InvoiceDate").dt.year() == year) & (pl.col("InvoiceDate").dt.month() == mon)
        )
        books.append(write_workbook(folder / f"{month}.xlsx", part.head(rows_per_month).rows()))
    return books


# What a run publishes, in figures: the fact's and the quarantine's rows and money, rejects per reason.
PUBLISHED_FIGURES = """
    select (select count(*) from analytics.fct_sales), (select sum(line_amount) from analytics.fct_sales),
           (select count(*) from analytics.rejected_invoice_lines),
           (select sum(line_amount) from analytics.rejected_invoice_lines),
           (select string_agg(reason_code || '=' || n, ',' order by reason_code) from (
               select reason_code, count(*) as n from analytics.rejected_invoice_lines group by 1) r)
"""


def new_database(pg_server, name: str) -> str:
    """An empty database ``name`` on the tests' server (dropped first if a run left it); its DSN."""
    import psycopg

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return pg_server.get_uri(name)


def published_figures(dsn: str) -> tuple:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return conn.execute(PUBLISHED_FIGURES).fetchone()
