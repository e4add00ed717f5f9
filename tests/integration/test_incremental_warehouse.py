"""Incremental warehouse builds give exactly what a full refresh of the same exports gives.

A landing folder changes step by step (exports added one by one, a month re-exported corrected under
the same name, an export removed, an export added that repeats lines of others and sorts first), and
after each step the warehouse built incrementally in one data directory is compared, table by table
and row by row (keys included), with a full build of the same folder in a fresh data directory. The
workbooks are made so that lines of unchanged exports turn from kept to repeat and back.
End to end, the same sequence of runs holds the live tables in PostgreSQL (incremental builds, then
publishes of what changed) to a full run of the same exports into a fresh data directory and database.

Faults: a failing dbt test during an incremental build, and a SIGKILL before its rename and between
its rename and the build marker, leave the previous warehouse (and marker) or a correct one, and the
next run is correct. An export that lands while the warehouse builds waits for the next run; a second
data directory with the same exports reports the live version's figures; a byte-identical copy of an
export is refused with both names; a full refresh finds an export replaced with the same size and time;
a build that cannot write (a file size limit standing in for a full disk) says where, and leaves the
warehouse and no partial file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from support import dbt_invocations, kill, new_database, read_marker, wait_until, write_workbook

pytestmark = pytest.mark.integration

# Every table the pipeline publishes, compared whole.
TABLES = [
    "dim_date", "dim_customer", "dim_product", "dim_country", "fct_sales", "fct_invoices",
    "rejected_invoice_lines", "unknown_reference_values", "rpt_monthly_revenue_by_country",
    "rpt_customer_rfm", "rpt_cohort_retention", "rpt_product_performance",
]  # fmt: skip


def line(invoice, code, qty, day: dt.datetime, price, customer, country="United Kingdom", desc=None):
    return (invoice, code, desc or f"ITEM {code}", qty, day, price, customer, country)


JAN, FEB, MAR, DEC = (dt.datetime(2011, 1, 5, 10), dt.datetime(2011, 2, 7, 11),
                      dt.datetime(2011, 3, 9, 12), dt.datetime(2010, 12, 6, 9))  # fmt: skip
# A line that January, February and March all hold (an overlap of three exports), one that February
# and March hold, and one that only the late December export repeats.
SHARED_ALL = line(540001, "22728", 4, FEB, 3.75, 12583.0, "France")
SHARED_FEB_MAR = line(540002, "85123A", 6, FEB, 2.55, 17850.0)
FEB_LINES = [
    SHARED_ALL,
    SHARED_FEB_MAR,
    SHARED_FEB_MAR,  # a repeat inside the export: exact_duplicate
    line(540003, "POST", 1, FEB, 18.0, None),
    line("C540004", "22728", -1, FEB, 3.75, 12583.0, "France"),
    line(540005, "71053", 2, FEB, 3.39, 14527.0, "Belgium"),
]
MAR_LINES = [
    line(550001, "21773", 1, MAR, 2.51, 14527.0, "Belgium"),
    SHARED_FEB_MAR,
    SHARED_ALL,
    line(550002, "71053", 3, MAR, 3.39, 16000.0, "Spain"),
    # A late line of a February invoice, unlike February's: both exports hold invoice 540005's 71053.
    line(540005, "71053", 3, FEB, 3.39, 14527.0, "Belgium"),
]
JAN_LINES = [
    line(530001, "22728", 2, JAN, 3.75, 12583.0, "Germany"),
    SHARED_ALL,
    line(530002, "M", 1, JAN, 5.0, None, desc="Manual"),
]
# February re-exported corrected: one quantity fixed, one line gone, one line new.
FEB_CORRECTED = [
    SHARED_ALL,
    SHARED_FEB_MAR,
    SHARED_FEB_MAR,
    line(540003, "POST", 1, FEB, 18.0, None),
    line(540005, "71053", 5, FEB, 3.39, 14527.0, "Belgium"),
    line(540006, "85123a", 12, FEB, 2.95, 17850.0, "EIRE"),
]
# Sorts before every other export, repeats lines of February and March: they turn into repeats.
DEC_OVERLAP = [
    line(536001, "22728", 1, DEC, 3.75, 12583.0, "France"),
    SHARED_FEB_MAR,
    SHARED_ALL,
]


def tables(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr) for t in TABLES}


def build(run_pipeline, landing: Path, data_dir: Path, *args: str, env: dict | None = None):
    return run_pipeline(
        "--source", str(landing), *args, task="BuildWarehouse",
        env={"PIPELINE_DATA_DIR": str(data_dir), **(env or {})},
    )  # fmt: skip


def marker(data_dir: Path) -> dict:
    return json.loads((data_dir / "warehouse" / "retail.build.json").read_text())


# rpt_product_performance's figures counted straight from the fact, as the report counted them before
# it read the per-export partials: distinct invoices and customers must not count an export twice.
PRODUCT_FIGURES = {
    "rpt_product_performance": """
        select product_key, units_sold, units_cancelled, gross_sales_amount, net_revenue_amount,
               sales_invoice_count, customer_count, first_sold_at, last_sold_at
        from rpt_product_performance""",
    "fct_sales": """
        select product_key,
               cast(coalesce(sum(quantity) filter (where line_type = 'sale'), 0) as bigint),
               cast(coalesce(-sum(quantity) filter (where line_type = 'cancellation'), 0) as bigint),
               coalesce(sum(line_amount) filter (where line_type = 'sale'), 0),
               coalesce(sum(line_amount) filter (where line_type <> 'bad_debt_adjustment'), 0),
               count(distinct invoice_no) filter (where line_type = 'sale'),
               count(distinct customer_key) filter (where line_type = 'sale' and customer_key <> -1),
               min(invoice_at), max(invoice_at)
        from fct_sales group by product_key""",
}


def assert_product_figures_match_the_fact(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        report, fact = (sorted(con.execute(sql).fetchall(), key=repr) for sql in PRODUCT_FIGURES.values())
    assert report == fact


def assert_equals_full_refresh(run_pipeline, landing: Path, data_dir: Path, scratch: Path) -> dict:
    """The warehouse in ``data_dir`` equals a full build of ``landing`` in a fresh data directory."""
    fresh = build(run_pipeline, landing, scratch)
    assert fresh.returncode == 0, fresh.output[-4000:]
    assert marker(scratch)["mode"] == "full"
    expected, got = (
        tables(scratch / "warehouse" / "retail.duckdb"),
        tables(data_dir / "warehouse" / "retail.duckdb"),
    )
    for table in TABLES:
        assert got[table] == expected[table], f"{table} differs from a full refresh"
    shutil.rmtree(scratch)
    return got


def test_incremental_builds_equal_a_full_refresh_after_every_step(tmp_path, run_pipeline):
    landing, data = tmp_path / "landing", tmp_path / "data"  # data: run_pipeline's own data directory
    steps = [
        ("add February", lambda: write_workbook(landing / "2011-02.xlsx", FEB_LINES), "full", {}),
        ("add March", lambda: write_workbook(landing / "2011-03.xlsx", MAR_LINES), "incremental",
         {"added": ["2011-03.xlsx"]}),
        ("add January (sorts first)", lambda: write_workbook(landing / "2011-01.xlsx", JAN_LINES),
         "incremental", {"added": ["2011-01.xlsx"]}),
        ("re-export February corrected", lambda: write_workbook(landing / "2011-02.xlsx", FEB_CORRECTED),
         "incremental", {"replaced": ["2011-02.xlsx"]}),
        ("remove January", lambda: (landing / "2011-01.xlsx").unlink(), "incremental",
         {"removed": ["2011-01.xlsx"]}),
        ("add an overlapping export that sorts first",
         lambda: write_workbook(landing / "2010-12 overlap.xlsx", DEC_OVERLAP), "incremental",
         {"added": ["2010-12 overlap.xlsx"]}),
    ]  # fmt: skip
    for i, (what, change, mode, change_set) in enumerate(steps):
        change()
        done = build(run_pipeline, landing, data)
        assert done.returncode == 0, f"{what}: {done.output[-4000:]}"
        built = marker(data)
        assert built["mode"] == mode, (what, built["mode_reason"])
        for kind in ("added", "replaced", "removed"):
            assert built[kind] == change_set.get(kind, built[kind] if mode == "full" else []), (what, kind)
        if what == "remove January":
            # January's export held January lines and a February one: the publish may copy just these.
            assert built["months_touched"] == ["2011-01", "2011-02"]
        assert_equals_full_refresh(run_pipeline, landing, data, tmp_path / f"full-{i}")
        assert_product_figures_match_the_fact(data / "warehouse" / "retail.duckdb")

        # The shared lines' kept copy moves as the exports change (and the full refresh agrees).
        with duckdb.connect(str(data / "warehouse" / "retail.duckdb"), read_only=True) as con:
            kept = con.execute(
                "select source_file from fct_sales where invoice_no = '540001'"
                " union all select source_file from fct_sales where invoice_no = '540002'"
            ).fetchall()
        expected_kept = {
            0: ["2011-02.xlsx", "2011-02.xlsx"],
            1: ["2011-02.xlsx", "2011-02.xlsx"],
            2: ["2011-01.xlsx", "2011-02.xlsx"],  # January's copy is kept now: February's turned repeat
            3: ["2011-01.xlsx", "2011-02.xlsx"],
            4: ["2011-02.xlsx", "2011-02.xlsx"],  # January gone: February's copy is kept again
            5: ["2010-12 overlap.xlsx", "2010-12 overlap.xlsx"],
        }[i]
        assert sorted(r[0] for r in kept) == sorted(expected_kept), (what, kept)

    # A run with nothing new builds nothing.
    again = build(run_pipeline, landing, data)
    assert again.returncode == 0 and not again.ran_tasks, again.output[-2000:]


def test_a_build_reads_its_file_lists_without_dbt_parsing_again(tmp_path, run_pipeline):
    """The lake files and the changed exports differ in every build; dbt must not re-parse the
    project for them (it did: 1.5-2.5 s of every build). Only the build mode is read while parsing."""
    landing, data = tmp_path / "landing", tmp_path / "data"
    exports = [("2011-02.xlsx", FEB_LINES), ("2011-03.xlsx", MAR_LINES), ("2011-01.xlsx", JAN_LINES)]
    for name, lines in exports:
        write_workbook(landing / name, lines)
        done = build(run_pipeline, landing, data)
        assert done.returncode == 0, done.output[-3000:]
    # The third build reads other lake files and another change set than the second, in the same mode.
    assert marker(data)["mode"] == "incremental" and marker(data)["added"] == ["2011-01.xlsx"]
    # Luigi's scheduling process parsed the project for the build (pipeline/lib/dbt.py): from dbt's
    # cache, with nothing to re-parse; the build started from that parse and parsed nothing itself.
    work_dir = data / "warehouse" / "dbt"
    assert dbt_invocations(work_dir)[-2:] == [("parse", True), ("build", False)]
    last_parse = (work_dir / "logs" / "dbt.log").read_text().split("Running with dbt=")[-2]
    assert "no changes found, skipping parsing" in last_parse


def test_unit_tests_run_in_the_first_build_of_each_version_of_the_code(tmp_path, run_pipeline):
    """Unit tests check the code against fixed inputs: a later build of the same code leaves them out,
    and a change to the code runs them again (and fails on a broken one)."""
    from pipeline.config import WAREHOUSE_PROJECT_DIR

    project, landing, data = tmp_path / "project", tmp_path / "landing", tmp_path / "data"
    shutil.copytree(WAREHOUSE_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    write_workbook(landing / "2011-02.xlsx", FEB_LINES)
    flags = ("--pipeline-dbt-project-dir", str(project), "--pipeline-full-refresh", "true")

    def unit_tests() -> tuple[int | None, int | None]:
        done = build(run_pipeline, landing, data, *flags)
        assert done.returncode == 0, done.output[-3000:]
        results = marker(data)["dbt"]["dbt_results"]
        return results.get("unit_test_pass"), results.get("unit_test_passed_before")

    ran, before = unit_tests()
    assert ran and before is None
    assert unit_tests() == (None, ran)

    # The code changes: a unit test that expects the wrong class for POST runs again, and fails.
    tests = project / "models" / "intermediate" / "_intermediate__unit_tests.yml"
    text = tests.read_text()
    assert '{stock_code_normalised: "POST", product_class: postage}' in text
    tests.write_text(text.replace('"POST", product_class: postage}', '"POST", product_class: fee}'))
    failed = build(run_pipeline, landing, data, *flags)
    assert failed.returncode != 0
    assert "stock_codes_are_classified_by_the_seed" in failed.output


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_failing_test_or_a_kill_leaves_the_previous_warehouse_and_the_next_run_is_right(
    tmp_path, run_pipeline
):
    landing, data = tmp_path / "landing", tmp_path / "data"
    write_workbook(landing / "2011-02.xlsx", FEB_LINES)
    write_workbook(landing / "2011-03.xlsx", MAR_LINES)
    first = build(run_pipeline, landing, data)
    assert first.returncode == 0, first.output[-4000:]
    warehouse, build_marker = data / "warehouse" / "retail.duckdb", data / "warehouse" / "retail.build.json"

    # 1. A failing dbt test (strict: any unknown stock code fails) during an incremental build.
    write_workbook(landing / "2011-01.xlsx", [*JAN_LINES, line(530009, "XMASWRAP", 1, JAN, 0.5, None)])
    before = file_sha(warehouse), build_marker.read_text()
    failed = build(run_pipeline, landing, data, "--pipeline-unknown-strict", "true")
    assert failed.returncode == 30, failed.output[-4000:]
    assert "warehouse build: incremental" in failed.output
    assert "assert_unknown_values_within_limits" in failed.output
    assert (file_sha(warehouse), build_marker.read_text()) == before
    assert not (data / "warehouse" / "retail.building.duckdb").exists()
    write_workbook(landing / "2011-01.xlsx", JAN_LINES)  # the code fixed at the source

    # 2. SIGKILL after dbt built the copy, before the rename: the live warehouse and marker stay.
    fault = tmp_path / "fault.json"
    proc = run_pipeline.paused("--source", str(landing), task="BuildWarehouse",
                               stage="warehouse_before_swap", marker=fault)  # fmt: skip
    try:
        wait_until(fault.exists, 300, "the incremental build reaching warehouse_before_swap", proc)
        assert read_marker(fault)["mode"] == "incremental"
    finally:
        kill(proc)
    assert (file_sha(warehouse), build_marker.read_text()) == before

    # 3. SIGKILL after the rename, before the marker: the next run applies the same change set again.
    fault.unlink()
    proc = run_pipeline.paused("--source", str(landing), task="BuildWarehouse",
                               stage="warehouse_swapped", marker=fault)  # fmt: skip
    try:
        wait_until(fault.exists, 300, "the incremental build reaching warehouse_swapped", proc)
    finally:
        kill(proc)
    assert build_marker.read_text() == before[1]
    assert file_sha(warehouse) != before[0]

    # The next run: incremental again (same change set, applied once more) and right.
    done = build(run_pipeline, landing, data)
    assert done.returncode == 0, done.output[-4000:]
    built = marker(data)
    assert (built["mode"], built["added"]) == ("incremental", ["2011-01.xlsx"])
    assert_equals_full_refresh(run_pipeline, landing, data, tmp_path / "full")

    # Asked for, a full refresh rebuilds a current warehouse, to the same tables.
    rebuilt = build(run_pipeline, landing, data, "--pipeline-full-refresh", "true")
    assert rebuilt.returncode == 0 and rebuilt.ran_tasks, rebuilt.output[-4000:]
    assert marker(data)["mode"] == "full" and "full refresh was asked" in marker(data)["mode_reason"]
    assert_equals_full_refresh(run_pipeline, landing, data, tmp_path / "full")


def published(dsn: str) -> dict[str, list[tuple]]:
    """Every published table of ``analytics``, as BI reads it, rows sorted."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        return {t: sorted(conn.execute(f"select * from analytics.{t}").fetchall(), key=repr) for t in TABLES}


@pytest.mark.postgres
def test_incremental_runs_publish_what_a_full_refresh_publishes(tmp_path, run_pipeline, pg_server, pg_dsn):
    """End to end: after every change of the landing folder, the live tables in PostgreSQL, published
    by incremental builds and publishes of changed months, equal those of a full run of the same
    exports into a fresh data directory and database; each publish copies only what changed."""
    landing, data = tmp_path / "landing", tmp_path / "data"
    steps = [
        ("add February", lambda: write_workbook(landing / "2011-02.xlsx", FEB_LINES)),
        ("add March", lambda: write_workbook(landing / "2011-03.xlsx", MAR_LINES)),
        ("add January (sorts first)", lambda: write_workbook(landing / "2011-01.xlsx", JAN_LINES)),
        ("re-export February corrected", lambda: write_workbook(landing / "2011-02.xlsx", FEB_CORRECTED)),
        ("remove January", lambda: (landing / "2011-01.xlsx").unlink()),
        ("add an overlapping export", lambda: write_workbook(landing / "2010-12 overlap.xlsx", DEC_OVERLAP)),
    ]  # fmt: skip
    for i, (what, change) in enumerate(steps):
        change()
        done = run_pipeline("--source", str(landing), env={"PIPELINE_PG_DSN": pg_dsn})
        assert done.returncode == 0, f"{what}: {done.output[-4000:]}"
        copied = read_marker(data / "warehouse" / "retail.published.json")
        if i == 1:
            # March's lines touch March and the shared February line's group: not January's empty month.
            assert set(copied["months_touched"]["fct_sales"]) <= {"201102", "201103"}, copied

        reference_dsn = new_database(pg_server, "t_incremental_reference")
        fresh = run_pipeline(
            "--source", str(landing),
            env={"PIPELINE_DATA_DIR": str(tmp_path / f"full-{i}"), "PIPELINE_PG_DSN": reference_dsn},
        )  # fmt: skip
        assert fresh.returncode == 0, f"{what} (full run): {fresh.output[-4000:]}"
        got, expected = published(pg_dsn), published(reference_dsn)
        for table in TABLES:
            assert got[table] == expected[table], f"{what}: analytics.{table} differs from a full run"
        shutil.rmtree(tmp_path / f"full-{i}")


def changed_at_the_swap(run_pipeline, landing: Path, change, *, task: str = "RunAll", env: dict):
    """``task`` on ``landing``, with ``change()`` made to the folder while the build pauses between
    dbt's build and the marker (fault point ``warehouse_swapped``); its exit code and output."""
    at_swap = landing.parent / "at-swap"
    proc = run_pipeline.paused("--source", str(landing), task=task, stage="warehouse_swapped",
                               marker=at_swap, seconds=3, env=env)  # fmt: skip
    try:
        wait_until(at_swap.exists, 180, "the build reaching its swap", proc)
        change()
        output, _ = proc.communicate(timeout=180)
    finally:
        kill(proc)
    return proc.returncode, output


def live_version(dsn: str) -> tuple[int, str]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        query = "select published_version, warehouse_version from pipeline_meta.publish_ledger"
        return conn.execute(query + " where status = 'live'").fetchone()


@pytest.mark.postgres
def test_an_export_that_lands_while_the_warehouse_builds_waits_for_the_next_run(
    tmp_path, run_pipeline, pg_dsn
):
    """The build marker names the version of the exports dbt read, not of the folder once dbt is done:
    the run publishes what it built, and the next run builds the newcomer in."""
    landing, data = tmp_path / "landing", tmp_path / "data"
    write_workbook(landing / "2011-02.xlsx", FEB_LINES)
    env = {"PIPELINE_PG_DSN": pg_dsn}
    returncode, output = changed_at_the_swap(
        run_pipeline, landing, lambda: write_workbook(landing / "2011-03.xlsx", MAR_LINES), env=env
    )

    assert returncode == 0, output[-4000:]
    built = marker(data)
    assert built["exports"].keys() == {"2011-02.xlsx"}
    assert live_version(pg_dsn)[1] == built["warehouse_version"]

    again = run_pipeline("--source", str(landing), env=env)
    assert again.returncode == 0, again.output[-4000:]
    assert (marker(data)["mode"], marker(data)["added"]) == ("incremental", ["2011-03.xlsx"])
    assert live_version(pg_dsn)[1] == marker(data)["warehouse_version"] != built["warehouse_version"]


@pytest.mark.postgres
def test_a_second_data_directory_with_the_same_exports_reports_the_live_figures(
    tmp_path, run_pipeline, pg_dsn
):
    """The version is live already: the second data directory publishes nothing, and its report and
    summary carry the live version's figures."""
    landing = tmp_path / "landing"
    write_workbook(landing / "2011-02.xlsx", FEB_LINES)
    figures = []
    for name in ("first", "second"):
        data = tmp_path / name
        env = {"PIPELINE_PG_DSN": pg_dsn, "PIPELINE_DATA_DIR": str(data)}
        done = run_pipeline("--source", str(landing), env=env)
        assert done.returncode == 0, f"{name}: {done.output[-4000:]}"
        figures.append(json.loads((data / "reports" / "latest.json").read_text()))

    first, second = figures
    assert live_version(pg_dsn)[0] == first["published_version"] == second["published_version"] == 1
    assert second["rows_per_stage"] == first["rows_per_stage"]
    assert second["rows_per_stage"]["fct_sales"] > 0
    assert second["fact_amount"] == first["fact_amount"] is not None
    copied = read_marker(tmp_path / "second" / "warehouse" / "retail.published.json")["rows_copied"]
    assert copied == {}


def test_a_copy_of_an_export_under_another_name_is_named_and_nothing_is_built(tmp_path, run_pipeline):
    landing, data = tmp_path / "landing", tmp_path / "data"
    write_workbook(landing / "2011-02.xlsx", FEB_LINES)
    shutil.copyfile(landing / "2011-02.xlsx", landing / "2011-02 (copy).xlsx")

    copied = build(run_pipeline, landing, data)

    assert copied.returncode == 30, copied.output[-4000:]
    assert "2011-02 (copy).xlsx and 2011-02.xlsx are the same file" in copied.output
    assert not (data / "warehouse" / "retail.duckdb").exists()
    (landing / "2011-02 (copy).xlsx").unlink()
    assert build(run_pipeline, landing, data).returncode == 0


def test_a_full_refresh_finds_an_export_replaced_with_the_same_size_and_time(tmp_path, run_pipeline):
    landing, data = tmp_path / "landing", tmp_path / "data"
    export = landing / "2011-02.csv"
    landing.mkdir()
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    text = f"{header}\n540001,22728,ALARM CLOCK,4,2/17/2011 11:00,3.75,12583,France\n"
    export.write_text(text)
    stamp = export.stat().st_mtime_ns
    assert build(run_pipeline, landing, data).returncode == 0

    export.write_text(text.replace("3.75", "3.85"))  # corrected, as long, and dated as before
    os.utime(export, ns=(stamp, stamp))
    refreshed = build(run_pipeline, landing, data, "--pipeline-full-refresh", "true")

    assert refreshed.returncode == 0, refreshed.output[-4000:]
    with duckdb.connect(str(data / "warehouse" / "retail.duckdb"), read_only=True) as con:
        assert con.execute("select unit_price from fct_sales").fetchall() == [(Decimal("3.85"),)]


def test_a_build_that_cannot_write_says_where_and_leaves_the_warehouse_and_no_partial_file(
    tmp_path, run_pipeline
):
    landing, data = tmp_path / "landing", tmp_path / "data"
    write_workbook(landing / "2011-02.xlsx", FEB_LINES)
    assert build(run_pipeline, landing, data).returncode == 0
    warehouse = data / "warehouse" / "retail.duckdb"
    before = file_sha(warehouse)
    write_workbook(landing / "2011-03.xlsx", MAR_LINES)

    # A file size limit below the warehouse's: its copy for the incremental build fails as on a full
    # disk (Python ignores SIGXFSZ, so the write fails with EFBIG instead of killing the process).
    limit = warehouse.stat().st_size // 2
    command = run_pipeline.command("--source", str(landing), task="BuildWarehouse")
    full = subprocess.run(
        command, env=run_pipeline.env, cwd=run_pipeline.cwd, capture_output=True, text=True, timeout=600,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )  # fmt: skip

    output = full.stdout + full.stderr
    assert full.returncode == 30, output[-4000:]
    assert f"could not write the warehouse build in {warehouse.parent}: File too large" in output
    assert "Free space there" in output
    assert "still holds the last good build" in output
    assert file_sha(warehouse) == before
    assert sorted(p.name for p in warehouse.parent.glob("retail.building*")) == []


def test_an_export_replaced_while_the_warehouse_builds_is_named_and_the_next_run_builds_it(
    tmp_path, run_pipeline
):
    landing, data = tmp_path / "landing", tmp_path / "data"
    write_workbook(landing / "2011-02.xlsx", FEB_LINES)
    returncode, output = changed_at_the_swap(
        run_pipeline, landing, lambda: write_workbook(landing / "2011-02.xlsx", FEB_CORRECTED),
        task="BuildWarehouse", env={"PIPELINE_DATA_DIR": str(data)},
    )  # fmt: skip

    assert returncode == 30, output[-4000:]
    assert "2011-02.xlsx changed while the warehouse was built from" in output
    again = build(run_pipeline, landing, data)
    assert again.returncode == 0, again.output[-4000:]
    assert marker(data)["replaced"] == ["2011-02.xlsx"]
