"""Publishing to PostgreSQL under faults, against a real embedded server.

Two warehouses with different totals (A: the small test workbook, B: 40,000 synthetic lines) are
built once; each test publishes A, then tries B under a fault and checks what readers see.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from support import SMALL_ROWS, Pipeline, fault_env, kill, pipeline_env, start, wait_until, write_workbook

from pipeline.lib.postgres import PostgresUnavailable
from pipeline.lib.publish import PublishError, PublishRequest, publish, restore_previous
from pipeline.synth import write_workbooks

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
HERE = Path(__file__).parent


@dataclass
class Warehouse:
    path: Path
    manifest: Path
    version: str
    total: object
    lines: int


def _build(root: Path, source: Path, dsn: str) -> Warehouse:
    pipeline = Pipeline(root, pipeline_env(root / "data", PIPELINE_PG_DSN=dsn))
    run = pipeline("--source", str(source), task="BuildWarehouse")
    assert run.returncode == 0, run.stderr[-3000:]
    build = json.loads((root / "data" / "warehouse" / "retail.build.json").read_text())
    import duckdb

    with duckdb.connect(str(root / "data" / "warehouse" / "retail.duckdb"), read_only=True) as con:
        lines, total = con.execute("select count(*), sum(line_amount) from fct_sales").fetchone()
    return Warehouse(
        root / "data" / "warehouse" / "retail.duckdb",
        root / "data" / "warehouse" / "dbt" / "target" / "manifest.json",
        build["warehouse_version"],
        total,
        lines,
    )


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory, pg_server):
    root = tmp_path_factory.mktemp("warehouses")
    a = write_workbook(root / "a" / "Online Retail.xlsx", SMALL_ROWS)
    b_dir = root / "b" / "in"
    write_workbooks(b_dir, lines=40_000, seed=21)
    dsn = pg_server.get_uri()
    return _build(root / "a", a, dsn), _build(root / "b", b_dir, dsn)


def do_publish(w: Warehouse, dsn: str, **kwargs):
    options = {"warehouse_path": w.path, "manifest_path": w.manifest, "dsn": dsn,
               "warehouse_version": w.version, "run_id": "test", "source": "test", "source_sha256": [],
               "rejects_by_reason": {}, "stage_seconds": {}}  # fmt: skip
    return publish(PublishRequest(**(options | kwargs)))


def spawn_publish(w: Warehouse, dsn: str, fault: dict[str, str]):
    """publish_once.py in the background, paused at a fault point (``support.fault_env``)."""
    args = json.dumps(
        {"warehouse": str(w.path), "manifest": str(w.manifest), "dsn": dsn, "version": w.version}
    )
    return start([sys.executable, HERE / "publish_once.py", args], env=os.environ | fault, cwd=HERE)


def live_state(dsn: str):
    with psycopg.connect(dsn) as conn:
        return conn.execute("""
            select (select warehouse_version from pipeline_meta.publish_ledger where status = 'live'),
                   (select count(*) from analytics.fct_sales),
                   (select sum(line_amount) from analytics.fct_sales)
        """).fetchone()  # fmt: skip


@pytest.mark.parametrize("stage", ["copy", "before_go_live", "in_go_live"])
def test_sigkill_leaves_the_previous_version_live(warehouses, pg_dsn, tmp_path, stage):
    a, b = warehouses
    do_publish(a, pg_dsn)
    marker = tmp_path / "reached"

    proc = spawn_publish(b, pg_dsn, fault_env(stage, marker))
    wait_until(marker.exists, 120, f"the publisher reaching {stage}", proc)
    kill(proc)

    assert live_state(pg_dsn) == (a.version, a.lines, a.total)
    result = do_publish(b, pg_dsn)  # the next run publishes cleanly
    assert live_state(pg_dsn) == (b.version, b.lines, b.total)
    assert result.published_version == 2


def test_readers_see_the_old_or_the_new_totals_only(warehouses, pg_dsn):
    a, b = warehouses
    do_publish(a, pg_dsn)
    seen, errors, stop = [], [], threading.Event()

    def reader():
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.append(
                        conn.execute("select count(*), sum(line_amount) from analytics.fct_sales").fetchone()
                    )
                except psycopg.Error as err:  # pragma: no cover - the assertion below reports it
                    errors.append(err)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        do_publish(b, pg_dsn)
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()

    assert errors == []
    assert set(seen) <= {(a.lines, a.total), (b.lines, b.total)}
    assert seen[0] == (a.lines, a.total) and seen[-1] == (b.lines, b.total)


def test_long_reader_delays_go_live_without_queueing_others(warehouses, pg_dsn):
    a, b = warehouses
    do_publish(a, pg_dsn)
    hold = 6.0  # longer than staging B takes on a busy machine: the go-live must meet the reader
    lock_timeout_ms = 400
    long_reader = psycopg.connect(pg_dsn)
    long_reader.execute("select count(*) from analytics.fct_sales")  # holds its lock until commit
    released_at = []

    def release():
        time.sleep(hold)
        released_at.append(time.monotonic())
        long_reader.commit()

    waits = []
    stop = threading.Event()

    def short_reader():
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            while not stop.is_set():
                t0 = time.monotonic()
                conn.execute("select count(*) from analytics.dim_date")
                waits.append(time.monotonic() - t0)
                time.sleep(0.02)

    threads = [threading.Thread(target=release), threading.Thread(target=short_reader)]
    for t in threads:
        t.start()
    try:
        result = do_publish(b, pg_dsn, lock_timeout_ms=lock_timeout_ms, go_live_attempts=20)
        finished = time.monotonic()
    finally:
        stop.set()
        for t in threads:
            t.join()
        long_reader.close()

    assert result.seconds["go_live_attempts"] > 1
    assert finished >= released_at[0]
    assert live_state(pg_dsn)[0] == b.version
    assert max(waits) < lock_timeout_ms / 1000 + 0.5


def test_terminated_connection_mid_copy_fails_clearly_and_reruns(warehouses, pg_dsn, tmp_path):
    a, b = warehouses
    do_publish(a, pg_dsn)
    marker = tmp_path / "reached"
    proc = spawn_publish(b, pg_dsn, fault_env("copy", marker, seconds=3))
    wait_until(marker.exists, 120, "the publisher reaching the copy", proc)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        killed = conn.execute(
            "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity "
            "where application_name = 'online-retail-pipeline' and pid <> pg_backend_pid()"
        ).fetchone()[0]
    output, _ = proc.communicate(timeout=120)  # stdout and stderr

    assert killed >= 1
    assert proc.returncode == 1
    assert "error: " in output and "Traceback" not in output
    assert "terminat" in output.lower() and "nothing was made live" in output.lower()
    assert live_state(pg_dsn) == (a.version, a.lines, a.total)
    do_publish(b, pg_dsn)
    assert live_state(pg_dsn) == (b.version, b.lines, b.total)


def test_column_type_that_differs_from_the_contract_fails_before_go_live(warehouses, pg_dsn, tmp_path):
    a, b = warehouses
    do_publish(a, pg_dsn)
    manifest = json.loads(b.manifest.read_text())
    manifest["nodes"]["model.online_retail.fct_sales"]["columns"]["line_amount"]["data_type"] = (
        "decimal(18,2)"
    )
    altered = tmp_path / "manifest.json"
    altered.write_text(json.dumps(manifest))

    with pytest.raises(PublishError, match=r"fct_sales.line_amount: contract decimal\(18,2\)"):
        do_publish(b, pg_dsn, manifest_path=altered)
    assert live_state(pg_dsn) == (a.version, a.lines, a.total)


def test_user_views_survive_publishes_and_restore_brings_back_the_previous(warehouses, pg_dsn):
    a, b = warehouses
    do_publish(a, pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "create view public.my_revenue as select sum(line_amount) as total from analytics.fct_sales"
        )

    do_publish(b, pg_dsn)
    again = do_publish(b, pg_dsn)

    assert again.skipped  # the same warehouse version is not published twice
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select total from public.my_revenue").fetchone()[0] == b.total
    assert restore_previous(pg_dsn) == 1
    assert live_state(pg_dsn) == (a.version, a.lines, a.total)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select total from public.my_revenue").fetchone()[0] == a.total
        statuses = dict(conn.execute("select published_version, status from pipeline_meta.publish_ledger"))
    assert statuses == {1: "live", 2: "rolled_back"}


def test_read_only_role_reads_analytics_and_nothing_else(warehouses, pg_dsn):
    a, _ = warehouses
    do_publish(a, pg_dsn, bi_role="bi_reader")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("set role bi_reader")
        assert conn.execute("select count(*) from analytics.fct_sales").fetchone()[0] == a.lines
        for sql in (
            "insert into analytics.dim_date (date_key) values (1)",
            "delete from analytics.fct_sales",
            "create table analytics.mine (x int)",
            "select * from pipeline_meta.publish_ledger",
            "select * from analytics_v1.fct_sales",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)


def test_no_connection_is_left_open_and_the_password_never_shows(warehouses, pg_dsn):
    a, _ = warehouses
    do_publish(a, pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        left = conn.execute(
            "select count(*) from pg_stat_activity where application_name = 'online-retail-pipeline'"
        ).fetchone()[0]
    assert left == 0

    secret = "s3cr3t-Pa55"
    with pytest.raises(PostgresUnavailable) as err:
        do_publish(a, f"postgresql://etl:{secret}@127.0.0.1:1/retail", warehouse_version="other")
    assert secret not in str(err.value) and "etl:***@" in str(err.value)
    assert err.value.retryable  # refused: the publish tries again by itself


def test_pieces_copied_over_one_connection_arrive_whole(warehouses, pg_dsn):
    _, b = warehouses
    result = do_publish(b, pg_dsn, copy_threads=1)

    assert live_state(pg_dsn) == (b.version, b.lines, b.total)
    with psycopg.connect(pg_dsn) as conn:
        duplicates = conn.execute(
            "select count(*) - count(distinct sales_line_key) from analytics.fct_sales"
        ).fetchone()[0]
    assert duplicates == 0 and result.rows["fct_sales"] == b.lines == result.rows_copied["fct_sales"]
