"""The whole pipeline, workbook to PostgreSQL, through the luigi command line, on a real embedded
PostgreSQL. Expected figures come from the workbook itself (support.expected_from_workbook)."""

from __future__ import annotations

import shutil
from decimal import Decimal

import psycopg
import pytest
from support import SMALL_ROWS, T1, expected_from_workbook, write_workbook

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def query(dsn: str, sql: str):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def small_workbook(tmp_path):
    return write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)


def test_small_workbook_end_to_end_then_no_op(small_workbook, run_pipeline, pg_dsn, tmp_path):
    expected = expected_from_workbook(small_workbook)

    first = run_pipeline("--source", str(small_workbook), env={"PIPELINE_PG_DSN": pg_dsn})

    assert first.returncode == 0, first.output
    rows = dict(query(pg_dsn, """
        select 'fct_sales', count(*) from analytics.fct_sales
        union all select 'rejected', count(*) from analytics.rejected_invoice_lines
        union all select 'customers', count(*) from analytics.dim_customer where not is_guest
        union all select 'guest', count(*) from analytics.dim_customer where is_guest
        union all select 'countries', count(*) from analytics.dim_country
            where country_name in (select country_name from analytics.fct_sales
                                   join analytics.dim_country using (country_key))
        union all select 'products', count(*) from analytics.dim_product
        union all select 'invoices', count(*) from analytics.fct_invoices
        union all select 'guest_lines', count(*) from analytics.fct_sales where customer_key = -1
    """))  # fmt: skip
    assert rows == {
        "fct_sales": expected["fact_rows"],
        "rejected": expected["duplicates"],
        "customers": expected["customers"],
        "guest": 1,
        "countries": expected["countries"],
        "products": expected["stock_codes"],
        "invoices": expected["invoices"],
        "guest_lines": expected["guest_lines"],
    }
    [(fact_amount, rejected_amount)] = query(pg_dsn, """
        select (select sum(line_amount) from analytics.fct_sales),
               (select sum(line_amount) from analytics.rejected_invoice_lines)
    """)  # fmt: skip
    assert fact_amount == expected["fact_amount"]
    assert fact_amount + rejected_amount == expected["source_amount"]
    # Mixed number/text codes: the numeric cell 71053 and the C... invoice both arrive as text.
    types = dict(query(pg_dsn, "select invoice_no, line_type from analytics.fct_sales"))
    assert types["C536379"] == "cancellation"
    assert types["A563185"] == "bad_debt_adjustment"
    [(ledger_rows,)] = query(pg_dsn, "select count(*) from pipeline_meta.publish_ledger")
    assert ledger_rows == 1
    # dbt-postgres verified the live tables and built the BI view on them.
    assert query(pg_dsn, "select count(*), sum(line_amount) from analytics.sales_enriched") == [
        (expected["fact_rows"], expected["fact_amount"])
    ]

    marker = tmp_path / "data" / "warehouse" / "retail.build.json"
    before = marker.stat().st_mtime_ns
    second = run_pipeline("--source", str(small_workbook), env={"PIPELINE_PG_DSN": pg_dsn})

    assert second.returncode == 0, second.output
    assert not second.ran_tasks, second.output
    assert "complete ones were encountered" in second.output
    assert "nothing to do" in second.output and f"{expected['fact_rows']:,} lines" in second.output
    assert marker.stat().st_mtime_ns == before
    assert query(pg_dsn, "select count(*) from pipeline_meta.publish_ledger") == [(1,)]


def test_rows_the_conversion_could_not_type_keep_their_money(run_pipeline, pg_dsn, tmp_path):
    # Quantity and price type but the date does not: 3 x 36.63 = 109.89 GBP at stake, in the quarantine.
    # A quantity that does not type carries no money. Fact + quarantine = every amount the workbook holds.
    from pipeline.config import OLAP_PROJECT_DIR, WAREHOUSE_PROJECT_DIR
    from pipeline.lib.dbt import DbtBuildError, run_dbt
    from pipeline.lib.verify import verify_with_dbt_postgres

    untyped = [
        (537001, 22728, "ALARM CLOCK BAKELIKE PINK", 3, "yesterday", 36.63, 12583.0, "France"),
        (537002, 22728, "ALARM CLOCK BAKELIKE PINK", "three", T1, 3.75, 12583.0, "France"),
    ]
    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", [*SMALL_ROWS, *untyped])
    typed = expected_from_workbook(write_workbook(tmp_path / "typed" / "typed.xlsx", SMALL_ROWS))

    run = run_pipeline(
        "--source", str(book), "--pipeline-max-reject-share", "0.5", env={"PIPELINE_PG_DSN": pg_dsn}
    )

    assert run.returncode == 0, run.output
    quarantined = query(pg_dsn, """
        select reason_code, quantity, unit_price, line_amount from analytics.rejected_invoice_lines
        where duplicate_of_source_row is null order by source_row
    """)  # fmt: skip
    assert quarantined == [
        ("invalid_invoice_date", 3, Decimal("36.630"), Decimal("109.890")),
        ("invalid_quantity", None, None, None),
    ]
    [(fact_amount, rejected_amount)] = query(pg_dsn, """
        select (select sum(line_amount) from analytics.fct_sales),
               (select sum(line_amount) from analytics.rejected_invoice_lines)
    """)  # fmt: skip
    assert fact_amount + rejected_amount == typed["source_amount"] + Decimal("109.890")
    assert f"quarantine        {typed['duplicates'] + 2} lines, {rejected_amount} GBP" in run.output

    # The checks that compare with the conversions' money fail when a penny is missing.
    warehouse = tmp_path / "data" / "warehouse"
    wrong = str(fact_amount + rejected_amount + Decimal("0.010"))
    with pytest.raises(DbtBuildError, match="assert_money_conserved"):
        run_dbt(
            ["test", "--select", "assert_money_conserved"], project_dir=WAREHOUSE_PROJECT_DIR,
            work_dir=tmp_path / "dbt-by-hand", write_json=False,
            env={"PIPELINE_WAREHOUSE_PATH": str(warehouse / "retail.duckdb"),
                 "PIPELINE_DUCKDB_MEMORY_LIMIT": "1GB", "PIPELINE_EXPECTED_SOURCE_AMOUNT": wrong},
        )  # fmt: skip
    with pytest.raises(DbtBuildError, match="assert_published_lines_conserved"):
        verify_with_dbt_postgres(
            project_dir=OLAP_PROJECT_DIR, dsn=pg_dsn, work_dir=tmp_path / "verify",
            manifest_path=warehouse / "dbt" / "target" / "manifest.json",
            expected_source_rows=-1, expected_source_amount=wrong, bi_role="analytics_reader",
            turn_wait_seconds=60,
        )  # fmt: skip


def test_failing_run_exits_non_zero_and_writes_no_lake(run_pipeline, pg_dsn, tmp_path):
    broken = tmp_path / "in" / "Online Retail.xlsx"
    broken.parent.mkdir()
    broken.write_text("<html><body>502 Bad Gateway</body></html>")

    run = run_pipeline("--source", str(broken), env={"PIPELINE_PG_DSN": pg_dsn})

    assert run.returncode == 30, run.output  # [retcode] task_failed
    assert "an HTML page, not an export" in run.output
    lake = tmp_path / "data" / "lake"
    assert not list(lake.rglob("*.parquet")) and not list(lake.rglob("*.json"))


def test_missing_source_file_exits_non_zero(run_pipeline, tmp_path, pg_dsn):
    run = run_pipeline("--source", str(tmp_path / "nowhere.xlsx"), env={"PIPELINE_PG_DSN": pg_dsn})

    assert run.returncode != 0
    assert "source workbook not found" in run.output


def test_embedded_postgres_when_no_dsn_is_configured(small_workbook, run_pipeline, pipeline_env):
    run = run_pipeline("--source", str(small_workbook))

    assert run.returncode == 0, run.output
    dsn_cmd = run_pipeline.cli("dsn")
    dsn = dsn_cmd.stdout.strip()
    assert dsn.startswith("postgresql://"), dsn_cmd.stderr
    assert pipeline_env["PIPELINE_DATA_DIR"] in dsn  # the server lives under data/
    assert dsn in run.output  # the summary printed it (no password to hide here)
    [(n,)] = query(dsn, "select count(*) from analytics.fct_sales")
    assert n == len(SMALL_ROWS) - 1


def test_real_workbook_end_to_end(real_workbook, run_pipeline, pg_dsn):
    run = run_pipeline("--source", str(real_workbook), env={"PIPELINE_PG_DSN": pg_dsn})

    assert run.returncode == 0, run.output[-5000:]
    [row] = query(pg_dsn, """
        select (select count(*) from analytics.fct_sales),
               (select count(*) from analytics.rejected_invoice_lines
                 where reason_code = 'exact_duplicate'),
               (select count(*) from analytics.rejected_invoice_lines),
               (select count(*) from analytics.dim_customer where not is_guest),
               (select count(*) from analytics.dim_customer where is_guest),
               (select count(*) from analytics.dim_country),
               (select sum(line_amount) from analytics.fct_sales)
                 + (select sum(line_amount) from analytics.rejected_invoice_lines)
    """)  # fmt: skip
    assert row[:6] == (541_909 - 5_268, 5_268, 5_268, 4_372, 1, 38)
    assert row[6] == independent_total(real_workbook.with_name("online_retail.parquet"))


def independent_total(parquet) -> Decimal:
    """Σ quantity × unit price from the independent Parquet copy of the dataset (SOURCES.md)."""
    import pyarrow.parquet as pq

    if not parquet.exists():
        pytest.skip(f"the independent copy {parquet} is not on this machine")
    table = pq.read_table(parquet, columns=["Quantity", "UnitPrice"]).to_pydict()
    return sum(
        (Decimal(q) * Decimal(repr(p)) for q, p in zip(table["Quantity"], table["UnitPrice"], strict=True)),
        Decimal(0),
    )


def test_a_change_to_the_olap_project_alone_runs_only_the_verification(
    small_workbook, run_pipeline, pg_dsn, tmp_path
):
    # The dbt-postgres project's tests and BI views follow its code: a change there runs VerifyPostgres
    # again (and rebuilds the views), and nothing before it.
    from pipeline.config import OLAP_PROJECT_DIR

    olap = tmp_path / "olap"
    shutil.copytree(OLAP_PROJECT_DIR, olap, ignore=shutil.ignore_patterns("target", "logs"))
    flags = ("--source", str(small_workbook), "--pipeline-dbt-olap-project-dir", str(olap))
    assert run_pipeline(*flags, env={"PIPELINE_PG_DSN": pg_dsn}).returncode == 0
    again = run_pipeline(*flags, env={"PIPELINE_PG_DSN": pg_dsn})
    assert again.returncode == 0 and not again.ran_tasks, again.output

    markers = tmp_path / "data" / "warehouse"
    built, verified = (
        (markers / name).stat().st_mtime_ns for name in ("retail.build.json", "retail.verified.json")
    )
    view = olap / "models" / "sales_enriched.sql"
    view.write_text(view.read_text().rstrip() + "\n-- a new comment, a new version of the project\n")
    changed = run_pipeline(*flags, env={"PIPELINE_PG_DSN": pg_dsn})

    assert changed.returncode == 0 and changed.ran_tasks, changed.output
    ran = changed.output.split("ran successfully:", 1)[1].split("\n\n", 1)[0]
    assert "VerifyPostgres" in ran and "BuildWarehouse" not in ran and "PublishToPostgres" not in ran, ran
    assert (markers / "retail.build.json").stat().st_mtime_ns == built
    assert (markers / "retail.verified.json").stat().st_mtime_ns > verified
    assert query(pg_dsn, "select count(*) from pipeline_meta.publish_ledger") == [(1,)]
