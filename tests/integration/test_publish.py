"""Publishing to PostgreSQL under faults, against a real embedded server.

Two warehouses with different totals (A: the small test workbook, B: 40,000 synthetic lines) are
built once; each test publishes A, then tries B under a fault and checks what readers see. A third,
C (B's exports plus A's workbook: three months and some dimension rows change), tests the publish
of what changed against B: the months copied, the equality with a full publish, faults, restore.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from support import (
    SMALL_ROWS,
    Pipeline,
    fault_env,
    kill,
    new_database,
    pipeline_env,
    start,
    wait_until,
    write_workbook,
)

from pipeline.lib.postgres import PostgresUnavailable
from pipeline.lib.preflight import live_warehouse_version
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


@pytest.fixture(scope="module")
def grown(tmp_path_factory, warehouses, pg_server):
    """C: the exports of B plus A's workbook (under another name)."""
    root = tmp_path_factory.mktemp("grown")
    source = root / "in"
    source.mkdir()
    for book in (warehouses[1].path.parents[2] / "in").iterdir():
        (source / book.name).write_bytes(book.read_bytes())
    write_workbook(source / "zz_small_export.xlsx", SMALL_ROWS)
    return _build(root, source, pg_server.get_uri())


def second_db(pg_server, pg_dsn: str) -> str:
    """Another fresh database on the server of ``pg_dsn``."""
    name = "full_" + pg_dsn.split("?")[0].rsplit("/", 1)[1][:40]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return pg_server.get_uri(name)


def table_digests(dsn: str) -> dict[str, tuple[int, str]]:
    """Rows and an order-independent digest of every table in analytics."""
    with psycopg.connect(dsn) as conn:
        tables = [t for (t,) in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'analytics' and c.relkind in ('r', 'p') order by 1"
        )]  # fmt: skip
        return {
            t: conn.execute(
                f"select count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), '')) "
                f"from analytics.{t} x"
            ).fetchone()
            for t in tables
        }


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
    # The session that sees the termination first names it: psycopg's ("terminating connection") or
    # one of the copy's, through DuckDB ("server closed the connection").
    assert re.search("terminat|server closed the connection", output, re.IGNORECASE), output
    assert "nothing was made live" in output.lower()
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


def test_a_publish_copies_the_months_that_changed_and_equals_a_full_one(warehouses, grown, pg_server, pg_dsn):
    _, b = warehouses
    do_publish(b, pg_dsn)
    result = do_publish(grown, pg_dsn)

    assert live_state(pg_dsn) == (grown.version, grown.lines, grown.total)
    # A's lines fall in December 2010, January and August 2011: only those months travel.
    assert result.months_touched["fct_sales"] == ["201012", "201101", "201108"]
    assert 0 < result.rows_copied["fct_sales"] < grown.lines / 4
    assert result.rows["fct_sales"] == grown.lines
    assert result.rows_copied["dim_date"] == 0  # the calendar did not change
    full_db = second_db(pg_server, pg_dsn)
    do_publish(grown, full_db)
    assert table_digests(pg_dsn) == table_digests(full_db)
    with psycopg.connect(pg_dsn) as conn:
        copied, months, parts = conn.execute(
            "select rows_copied, months_touched, (select count(*) from pg_inherits "
            "where inhparent = 'analytics.fct_sales'::regclass) "
            "from pipeline_meta.publish_ledger where status = 'live'"
        ).fetchone()
    assert copied == result.rows_copied and months == result.months_touched
    assert parts == 13  # a partition per month of the data, each with its keys

    refreshed = do_publish(grown, pg_dsn, full_refresh=True)
    assert refreshed.rows_copied["fct_sales"] == grown.lines
    assert len(refreshed.months_touched["fct_sales"]) == 13
    assert table_digests(pg_dsn) == table_digests(full_db)

    # The export removed again: its months go back to B's rows, equal to a full publish of B.
    shrunk = do_publish(b, pg_dsn)
    assert shrunk.months_touched["fct_sales"] == ["201012", "201101", "201108"]
    do_publish(b, full_db)
    assert table_digests(pg_dsn) == table_digests(full_db)


@pytest.mark.parametrize("stage", ["copy", "before_go_live", "in_go_live"])
def test_sigkill_in_a_publish_of_changed_months_leaves_the_previous_version(
    warehouses, grown, pg_dsn, tmp_path, stage
):
    _, b = warehouses
    do_publish(b, pg_dsn)
    before = table_digests(pg_dsn)
    marker = tmp_path / "reached"

    proc = spawn_publish(grown, pg_dsn, fault_env(stage, marker))
    wait_until(marker.exists, 120, f"the publisher reaching {stage}", proc)
    kill(proc)

    assert live_state(pg_dsn) == (b.version, b.lines, b.total)
    assert table_digests(pg_dsn) == before
    result = do_publish(grown, pg_dsn)  # the next run copies what was not made live
    assert live_state(pg_dsn) == (grown.version, grown.lines, grown.total)
    assert result.months_touched["fct_sales"] == ["201012", "201101", "201108"]


def test_readers_during_a_publish_of_changed_months_see_whole_versions(warehouses, grown, pg_dsn):
    _, b = warehouses
    do_publish(b, pg_dsn)
    seen, errors, stop = [], [], threading.Event()
    query = """select (select count(*) from analytics.fct_sales), (select sum(line_amount) from
               analytics.fct_sales), (select count(*) from analytics.dim_customer)"""

    def reader():
        # One statement, one snapshot (READ COMMITTED, as BI tools query): its facts and dimensions
        # must come from one version. (A REPEATABLE READ transaction whose snapshot predates the
        # go-live sees the months swapped in by it: PostgreSQL's catalog changes are not MVCC; README.)
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.append(conn.execute(query).fetchone())
                except psycopg.Error as err:  # pragma: no cover - the assertion below reports it
                    errors.append(err)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        do_publish(grown, pg_dsn)
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()

    customers = table_digests(pg_dsn)["dim_customer"][0]
    assert errors == []
    assert seen[-1] == (grown.lines, grown.total, customers)
    assert {s[:2] for s in seen} <= {(b.lines, b.total), (grown.lines, grown.total)}
    assert len({s for s in seen}) <= 2


def test_restore_after_a_publish_of_changed_months(warehouses, grown, pg_dsn):
    _, b = warehouses
    do_publish(b, pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "create view public.my_revenue as select sum(line_amount) as total from analytics.fct_sales"
        )
    state_b = table_digests(pg_dsn)
    do_publish(grown, pg_dsn)

    assert restore_previous(pg_dsn) == 1
    assert table_digests(pg_dsn) == state_b
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select total from public.my_revenue").fetchone()[0] == b.total
    again = do_publish(grown, pg_dsn)  # the next run publishes the current warehouse again
    assert again.published_version == 3 and live_state(pg_dsn) == (grown.version, grown.lines, grown.total)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select total from public.my_revenue").fetchone()[0] == grown.total


def planner_rows(dsn: str) -> tuple[float, float]:
    """The rows the planner believes analytics.fct_sales holds as a whole (its last ANALYZE), and the
    sum of what it believes of each month (each analysed before it was attached)."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select (select reltuples from pg_class where oid = 'analytics.fct_sales'::regclass), "
            "(select sum(c.reltuples) from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            " where i.inhparent = 'analytics.fct_sales'::regclass)"
        ).fetchone()


def test_a_first_publish_leaves_every_live_table_analysed(warehouses, pg_dsn):
    # BI tools' joins are planned from these statistics: every live table has them, the partitioned
    # ones as a whole (pg_stats' inherited rows) and in every month. (An empty table has none.)
    _, b = warehouses
    do_publish(b, pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        tables = [
            (name, partitioned)
            for name, partitioned in conn.execute(
                "select c.relname, c.relkind = 'p' from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'analytics' and c.relkind in ('r', 'p')"
            ).fetchall()
            if conn.execute(f'select exists (select from analytics."{name}")').fetchone()[0]
        ]
        analysed = set(
            conn.execute("select distinct tablename, inherited from pg_stats where schemaname = 'analytics'")
        )
        months_not_analysed = conn.execute(
            "select count(*), count(*) filter (where not exists (select from pg_stats s "
            "  where s.schemaname = n.nspname and s.tablename = c.relname)) "
            "from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where i.inhparent in ('analytics.fct_sales'::regclass, 'analytics.fct_invoices'::regclass)"
        ).fetchone()
    assert {name for name, partitioned in tables if partitioned} >= {"fct_sales", "fct_invoices"}
    assert {(name, partitioned) for name, partitioned in tables} <= analysed
    months, not_analysed = months_not_analysed
    assert months > 2 and not_analysed == 0


def test_analysing_the_fact_keeps_each_month_s_statistics_and_targets(warehouses, pg_dsn):
    # ANALYZE of a partitioned table analyses every month again (PostgreSQL before 18): the publish
    # has it skip the months' columns that have statistics (made before go-live; a month's rows never
    # change), analyse those that have none, and leave the targets as it found them.
    from pipeline.lib.publish_layout import _analyze_live_tables

    _, b = warehouses
    do_publish(b, pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        month, other = (
            row[0]
            for row in conn.execute(
                "select inhrelid::regclass::text from pg_inherits "
                "where inhparent = 'analytics.fct_sales'::regclass order by 1 limit 2"
            )
        )

        def quantity_bounds(table: str, inherited: bool = False) -> int:
            # pg_stats, not pg_statistic: a login role that is not superuser reads only the view.
            found = conn.execute(
                "select coalesce(cardinality(histogram_bounds::text::text[]), 0) "
                "+ coalesce(cardinality(most_common_vals::text::text[]), 0) from pg_stats "
                "where schemaname || '.' || tablename = %s and attname = 'quantity' and inherited = %s",
                (table, inherited),
            ).fetchone()
            return found[0] if found else 0

        def targets() -> dict[str, int]:
            return dict(
                conn.execute(
                    "select attname, coalesce(attstattarget, -1) from pg_attribute "
                    "where attrelid = %s::regclass and attnum > 0 and not attisdropped",
                    (month,),
                ).fetchall()
            )

        made_before_go_live = quantity_bounds(month)
        # Statistics of one month unlike any an ANALYZE at the default target makes, then a DBA's own
        # target on another column; none at all for the quantity of another month (as after a
        # restore from pg_dump); and a target on the table itself that shows its own analysis ran.
        conn.execute(f"alter table {month} alter column quantity set statistics 1")
        conn.execute(f"analyze {month}")
        conn.execute(f"alter table {month} alter column quantity set statistics -1")
        conn.execute(f"alter table {month} alter column customer_key set statistics 250")
        conn.execute(
            "delete from pg_statistic where starelid = %s::regclass and staattnum = "
            "(select attnum from pg_attribute where attrelid = %s::regclass and attname = 'quantity')",
            (other, other),
        )
        conn.execute("alter table only analytics.fct_sales alter column quantity set statistics 1")
        odd, before = quantity_bounds(month), targets()
        table_wide = quantity_bounds("analytics.fct_sales", inherited=True)
        assert quantity_bounds(other) == 0
        _analyze_live_tables(conn, ["fct_sales"])
        assert made_before_go_live > odd > 0  # the month came analysed at the default target
        assert quantity_bounds(month) == odd  # the fact's ANALYZE did not analyse it again
        assert targets() == before and before["customer_key"] == 250
        assert quantity_bounds(other) > odd  # the column without statistics has them, at its target
        assert 0 < quantity_bounds("analytics.fct_sales", inherited=True) < table_wide


def test_a_failed_analyse_after_go_live_says_the_version_is_live(warehouses, pg_dsn):
    # Once the new version is live, a failure is not "nothing was made live", and is not retried as a
    # failed publish would be. A DBA's event trigger that refuses the publish's ALTERs stands in.
    a, b = warehouses
    do_publish(a, pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("""
            create function refuse_statistics() returns event_trigger language plpgsql as $$
            begin
                if current_query() like '%set statistics 0%' then
                    raise exception 'statistics targets are frozen here';
                end if;
            end $$;
            create event trigger refuse_statistics on ddl_command_start when tag in ('ALTER TABLE')
                execute function refuse_statistics();
        """)  # fmt: skip
    with pytest.raises(PublishError, match="the version went live, but ANALYZE failed") as failed:
        do_publish(b, pg_dsn)
    # Each partitioned table is tried, and named with what refused it.
    assert str(failed.value).count("statistics targets are frozen here") == 2
    assert '"analytics"."fct_sales"' in str(failed.value)
    assert live_state(pg_dsn) == (b.version, b.lines, b.total)


def test_analysing_the_fact_waits_for_a_concurrent_analyse_instead_of_deadlocking(warehouses, pg_dsn):
    # A DBA's ANALYZE of the fact locks the table, then each month. The publish's ANALYZE alters the
    # months too: were it to lock them before the table, the two would each hold what the other waits for.
    from pipeline.lib.publish_layout import _analyze_live_tables

    _, b = warehouses
    do_publish(b, pg_dsn)
    failures: list[BaseException] = []
    with psycopg.connect(pg_dsn, autocommit=True) as ours, psycopg.connect(pg_dsn) as dba:
        dba.execute("lock table only analytics.fct_sales in share update exclusive mode")

        def analyse() -> None:
            try:
                _analyze_live_tables(ours, ["fct_sales"])
            except BaseException as err:  # reported by the assertion below, not lost in the thread
                failures.append(err)

        thread = threading.Thread(target=analyse)
        thread.start()
        deadline = time.monotonic() + 30
        while not dba.execute(
            "select exists (select from pg_stat_activity where pid = %s and wait_event_type = 'Lock')",
            (ours.info.backend_pid,),
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the publish's ANALYZE never waited for the DBA's lock"
            time.sleep(0.05)
        dba.execute("analyze analytics.fct_sales")
        dba.commit()
        thread.join(timeout=60)
    assert not thread.is_alive() and failures == []


def test_the_fact_as_a_whole_is_analysed_again_only_once_enough_of_it_changed(
    warehouses, grown, pg_dsn, monkeypatch
):
    from pipeline.lib import publish_layout

    _, b = warehouses
    do_publish(b, pg_dsn)  # never analysed before: it is now
    assert planner_rows(pg_dsn) == (b.lines, b.lines)

    grew = do_publish(grown, pg_dsn)
    assert grew.rows_copied["fct_sales"] >= publish_layout.REANALYZE_FRACTION * b.lines
    assert planner_rows(pg_dsn) == (grown.lines, grown.lines)

    # The same change under a threshold it does not reach: the months swapped in are analysed, the
    # table as a whole keeps its last statistics (ANALYZE of it would re-analyse every month).
    monkeypatch.setattr(publish_layout, "REANALYZE_FRACTION", 10.0)
    do_publish(b, pg_dsn)
    assert planner_rows(pg_dsn) == (grown.lines, b.lines)
    do_publish(grown, pg_dsn, full_refresh=True)  # a full refresh swaps in every row: analysed
    assert planner_rows(pg_dsn) == (grown.lines, grown.lines)


def test_bi_role_reads_the_star_s_keys_where_bi_tools_look(warehouses, pg_dsn):
    a, _ = warehouses
    do_publish(a, pg_dsn, bi_role="bi_reader")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("set role bi_reader")
        # As JDBC's getImportedKeys (Metabase, DBeaver) does: pg_constraint.
        catalog = set(conn.execute("""
            select c.conrelid::regclass::text, c.confrelid::regclass::text from pg_constraint c
            where c.contype = 'f' and c.connamespace = 'analytics'::regnamespace
        """).fetchall())  # fmt: skip
        # As the SQL standard's catalog (Power BI, Tableau) does: information_schema.
        standard = set(conn.execute("""
            select fk.table_name, pk.table_name
            from information_schema.referential_constraints r
            join information_schema.table_constraints fk using (constraint_schema, constraint_name)
            join information_schema.table_constraints pk
              on pk.constraint_schema = r.unique_constraint_schema
             and pk.constraint_name = r.unique_constraint_name
            where fk.table_schema = 'analytics'
        """).fetchall())  # fmt: skip
        primary = dict(conn.execute("""
            select tc.table_name, string_agg(k.column_name, ',' order by k.ordinal_position)
            from information_schema.table_constraints tc
            join information_schema.key_column_usage k using (constraint_schema, constraint_name)
            where tc.table_schema = 'analytics' and tc.constraint_type = 'PRIMARY KEY'
            group by tc.table_name
        """).fetchall())  # fmt: skip
    dims = {"dim_date", "dim_customer", "dim_product", "dim_country"}
    assert {("analytics.fct_sales", f"analytics.{d}") for d in dims} <= catalog
    assert {("fct_sales", d) for d in dims} <= standard
    assert primary["fct_sales"] == "sales_line_key,date_key" and primary["dim_customer"] == "customer_key"


def _old_layout(dsn: str) -> None:
    """A database as the earlier pipeline left it: analytics.fct_sales a view over analytics_v1."""
    from pipeline.lib.publish import LEDGER_DDL

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(LEDGER_DDL)
        conn.execute("create schema analytics_v1; create schema analytics")
        conn.execute(
            "create table analytics_v1.fct_sales (sales_line_key bigint primary key, line_amount numeric)"
        )
        conn.execute("insert into analytics_v1.fct_sales values (1, 2.5)")
        conn.execute("create table analytics_v1.dim_date (date_key integer primary key)")
        conn.execute(
            "alter table analytics_v1.fct_sales add column date_key integer references analytics_v1.dim_date"
        )
        conn.execute("create view analytics.fct_sales as select * from analytics_v1.fct_sales")
        conn.execute("create view analytics.sales_enriched as select * from analytics.fct_sales")
        conn.execute(
            "insert into pipeline_meta.publish_ledger (published_version, warehouse_version, run_id, "
            "source, source_sha256, status, rows_per_table, amounts, rejects_by_reason, stage_seconds) "
            "values (1, 'old', 'r', 's', '{}', 'live', '{}', '{}', '{}', '{}')"
        )


def test_the_old_layout_is_taken_over_but_never_drops_a_user_s_view(warehouses, pg_dsn):
    a, _ = warehouses
    _old_layout(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("create view public.mine as select count(*) as n from analytics.sales_enriched")
        conn.execute("update pipeline_meta.publish_ledger set warehouse_version = %s", (a.version,))
    # Live in the earlier layout counts as not published: the next run publishes it in the current one.
    assert live_warehouse_version(pg_dsn) is None

    with pytest.raises(
        PublishError, match=r"analytics\.fct_sales ← public\.mine.*drop them, run the pipeline again"
    ):
        do_publish(a, pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert conn.execute("select n from public.mine").fetchone() == (1,)  # untouched
        conn.execute("drop view public.mine")

    do_publish(a, pg_dsn)
    assert live_state(pg_dsn) == (a.version, a.lines, a.total)
    assert live_warehouse_version(pg_dsn) == a.version
    with psycopg.connect(pg_dsn) as conn:
        kind = conn.execute(
            "select relkind from pg_class where oid = 'analytics.fct_sales'::regclass"
        ).fetchone()
        statuses = dict(conn.execute("select published_version, status from pipeline_meta.publish_ledger"))
    assert kind == ("p",) and statuses == {1: "superseded", 2: "live"}
    with psycopg.connect(pg_dsn) as conn:  # the earlier layout's tables are dropped, keys and all
        assert conn.execute("select to_regnamespace('analytics_v1')").fetchone() == (None,)
    with pytest.raises(PublishError, match="earlier layout|no earlier version"):
        restore_previous(pg_dsn)


def test_after_restore_previous_the_next_run_publishes_and_verifies_the_current_warehouse(
    run_pipeline, pg_dsn, tmp_path
):
    env = {"PIPELINE_PG_DSN": pg_dsn}
    run_pipeline.env = run_pipeline.env | env  # the restore-previous command's too
    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)
    assert run_pipeline("--source", str(book), env=env).returncode == 0
    write_workbook(tmp_path / "in" / "More.xlsx", [(999001, *SMALL_ROWS[0][1:])])
    assert run_pipeline("--source", str(book.parent), env=env).returncode == 0
    grown = live_state(pg_dsn)

    restore = run_pipeline.cli("restore-previous", check=False)
    assert restore.returncode == 0, restore.output
    assert live_state(pg_dsn)[1] == grown[1] - 1
    again = run_pipeline("--source", str(book.parent), env=env)

    assert again.returncode == 0, again.output
    assert live_state(pg_dsn) == grown
    verified = json.loads((tmp_path / "data" / "warehouse" / "retail.verified.json").read_text())
    assert verified["warehouse_version"] == grown[0]
    with psycopg.connect(pg_dsn) as conn:
        ledger = conn.execute("select status from pipeline_meta.publish_ledger order by published_version")
        statuses = [status for (status,) in ledger]
    assert statuses == ["superseded", "rolled_back", "live"]


def test_a_restore_that_a_reader_blocks_ends_with_its_reason_and_changes_nothing(warehouses, pg_dsn):
    a, b = warehouses
    do_publish(a, pg_dsn)
    do_publish(b, pg_dsn)
    with psycopg.connect(pg_dsn) as reader:
        reader.execute("select count(*) from analytics.fct_sales")  # its transaction holds the table
        with pytest.raises(PublishError, match="a reader held a lock") as err:
            restore_previous(pg_dsn, lock_timeout_ms=200)
    assert "Try again when the query ends" in str(err.value)
    assert live_state(pg_dsn) == (b.version, b.lines, b.total)
    assert restore_previous(pg_dsn) == 1  # the reader gone, the same restore goes through


def test_a_publish_turn_held_too_long_ends_the_publish_and_names_who_holds_it(
    warehouses, pg_server, pg_dsn, capfd
):
    a, _ = warehouses
    lock = "select pg_advisory_lock(hashtext('online_retail.publish'))"
    elsewhere = new_database(pg_server, "t_publish_turn_elsewhere")
    # The same key held in another database of the server: not this database's turn.
    with (
        psycopg.connect(elsewhere, autocommit=True) as other_db,
        psycopg.connect(pg_dsn, autocommit=True) as other,
    ):
        other_db.execute(lock)
        # Another pipeline's publish that hangs, holding this database's publish turn.
        other.execute(lock)
        holder = other.info.backend_pid
        named = f"held for more than 1 s by the session with pid {holder} "
        started = time.monotonic()
        with pytest.raises(PostgresUnavailable, match=named):
            do_publish(a, pg_dsn, turn_wait_seconds=1)
        assert time.monotonic() - started < 10
        with pytest.raises(PostgresUnavailable, match=named.replace("1 s", "0 s")):
            do_publish(a, pg_dsn, turn_wait_seconds=0)  # 0: no wait at all
    waited = f"waiting for the database's publish turn: the session with pid {holder} holds it"
    assert waited in capfd.readouterr().err
    assert do_publish(a, pg_dsn).published_version == 1  # the turn free again, the publish goes on
