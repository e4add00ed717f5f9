"""Online Retail II (two sheets, the second holding the lines of Online Retail) through the luigi
command line into PostgreSQL, alone and beside Online Retail in a landing folder. Expected figures
come from the Parquet copies (realdata.expected_figures: polars and Decimal, no pipeline code)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import psycopg
import pytest
import realdata
from support import Run

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def published_figures(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        reasons = conn.execute(
            "select reason_code, count(*), sum(line_amount) from analytics.rejected_invoice_lines "
            "group by 1 order by 1"
        ).fetchall()
        return {
            "fact_rows": one("select count(*) from analytics.fct_sales"),
            "fact_amount": one("select sum(line_amount) from analytics.fct_sales"),
            "quarantine_by_reason": {reason: n for reason, n, _ in reasons},
            "quarantine_amount_by_reason": {reason: amount for reason, _, amount in reasons},
            "invoices": one("select count(*) from analytics.fct_invoices"),
            "customers": one("select count(*) from analytics.dim_customer where not is_guest"),
            "countries": one("select count(*) from analytics.dim_country"),
            "unknown_values": one(
                "select unknown_values from pipeline_meta.publish_ledger where status = 'live'"
            ),
        }


def overlap_rows_that_name_an_equal_kept_line(dsn: str) -> tuple[int, int, list]:
    """Overlapping duplicates, those whose duplicate_of_* names a fct_sales line with the same eight
    values, and where they point (file, sheet of the duplicate, file, sheet of the kept line)."""
    with psycopg.connect(dsn) as conn:
        total, matched = conn.execute("""
            select count(*), count(s.sales_line_key)
            from analytics.rejected_invoice_lines r
            left join analytics.fct_sales s
              on s.source_file = r.duplicate_of_source_file
             and s.source_sheet = r.duplicate_of_source_sheet
             and s.source_row = r.duplicate_of_source_row
             and s.invoice_no = r.invoice_no and s.stock_code = r.stock_code
             and s.description is not distinct from r.description
             and s.quantity = r.quantity and s.invoice_at = r.invoice_at
             and s.unit_price = r.unit_price and s.line_amount = r.line_amount
             and s.customer_key = coalesce(r.customer_id, -1)
            where r.reason_code = 'overlapping_export_duplicate'
        """).fetchone()  # fmt: skip
        pointers = conn.execute("""
            select source_file, source_sheet, duplicate_of_source_file, duplicate_of_source_sheet, count(*)
            from analytics.rejected_invoice_lines where reason_code = 'overlapping_export_duplicate'
            group by 1, 2, 3, 4 order by 1, 2, 3, 4
        """).fetchall()  # fmt: skip
    return total, matched, pointers


def assert_figures(found: dict, expected: dict) -> None:
    keys = ["fact_rows", "fact_amount", "quarantine_by_reason", "quarantine_amount_by_reason",
            "invoices", "customers", "countries"]  # fmt: skip
    assert {k: found[k] for k in keys} == {k: expected[k] for k in keys}
    assert (
        found["fact_amount"] + sum(found["quarantine_amount_by_reason"].values()) == expected["source_amount"]
    )


def sheets_of_ii(workbook: Path) -> list[tuple[str, str, pl.DataFrame]]:
    return [(workbook.name, sheet, frame) for sheet, frame in realdata.ii_sheets()]


def publish_and_compare(run_pipeline, source: Path, dsn: str, expected: dict) -> tuple[Run, dict]:
    """Run the pipeline on ``source`` into ``dsn``; the published figures must be ``expected``."""
    started = time.monotonic()
    run = run_pipeline("--source", str(source), env={"PIPELINE_PG_DSN": dsn})
    print(f"{source.name} end to end: {time.monotonic() - started:.1f} s")

    assert run.returncode == 0, run.output[-5000:]
    found = published_figures(dsn)
    assert_figures(found, expected)
    return run, found


def test_online_retail_ii_workbook_end_to_end(online_retail_ii, run_pipeline, pg_dsn, tmp_path):
    expected = realdata.expected_figures(sheets_of_ii(online_retail_ii))

    run, found = publish_and_compare(run_pipeline, online_retail_ii, pg_dsn, expected)
    assert expected["source_rows"] == 1_067_370
    # Every code and country of II is in the seeds now.
    assert found["unknown_values"] == []
    assert "unknown values    none" in run.output
    # The second sheet repeats the first from 2010-12-01 to 2010-12-09; each repeat names its kept line.
    total, matched, pointers = overlap_rows_that_name_an_equal_kept_line(pg_dsn)
    assert total == matched == expected["quarantine_by_reason"]["overlapping_export_duplicate"]
    name = online_retail_ii.name
    assert pointers == [(name, realdata.SECOND_SHEET, name, realdata.FIRST_SHEET, total)]
    report = json.loads((tmp_path / "data" / "reports" / "latest.json").read_text())
    assert report["rejects_by_reason"] == expected["quarantine_by_reason"]
    assert report["unknown_values"] == []


def test_landing_folder_with_online_retail_and_online_retail_ii(
    online_retail_ii, run_pipeline, pg_dsn, tmp_path
):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / online_retail_ii.name).symlink_to(online_retail_ii)
    (landing / realdata.ONLINE_RETAIL_XLSX.name).symlink_to(realdata.ONLINE_RETAIL_XLSX)
    expected = realdata.expected_figures(
        sheets_of_ii(online_retail_ii)
        + [(realdata.ONLINE_RETAIL_XLSX.name, "Online Retail", realdata.read_sheet(realdata.ONLINE_RETAIL))]
    )

    _, found = publish_and_compare(run_pipeline, landing, pg_dsn, expected)
    assert expected["source_rows"] == 1_067_370 + 541_909
    # Online Retail adds no line: all of it is already in II's second sheet, which sorts first.
    assert found["fact_rows"] == realdata.expected_figures(sheets_of_ii(online_retail_ii))["fact_rows"]
    total, matched, pointers = overlap_rows_that_name_an_equal_kept_line(pg_dsn)
    assert total == matched == expected["quarantine_by_reason"]["overlapping_export_duplicate"]
    kept_in = {(file, sheet) for _, _, file, sheet, _ in pointers}
    assert kept_in == {
        (online_retail_ii.name, realdata.FIRST_SHEET),
        (online_retail_ii.name, realdata.SECOND_SHEET),
    }
