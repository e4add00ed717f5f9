"""Exports as users bring them, through the luigi command line into PostgreSQL: CSV and .xls beside
.xlsx in a landing folder, names in other scripts, dates and numbers at the edges, and the reject
threshold that stops a run before anything is published."""

from __future__ import annotations

import psycopg
import pytest
from support import SMALL_ROWS, T1, expected_from_workbook, write_workbook

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CSV = """Sales export from the web shop
invoiceno ; stockcode;description;QUANTITY;InvoiceDate;unitprice;customerid;country
581001;22728;ALARM CLOCK BAKELIKE PINK;4;2011-12-01T10:00:00Z;3,75;12583,0;France
581001;POST;POSTAGE;1;2011-12-01T10:00:00Z;18,00;12583,0;France
"""


def query(dsn: str, sql: str):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def lake_files(tmp_path):
    lake = tmp_path / "data" / "lake"
    return [p for p in lake.rglob("*") if p.is_file()] if lake.exists() else []


def test_landing_folder_of_xlsx_csv_and_xls_with_names_in_any_script(tmp_path, run_pipeline, pg_dsn):
    xlwt = pytest.importorskip("xlwt", reason="xlwt writes the .xls test workbook (dev extra)")
    landing = tmp_path / "landing"
    write_workbook(landing / "销售.xlsx", SMALL_ROWS)
    (landing / "退货.csv").write_text(CSV, encoding="cp1252")
    book = xlwt.Workbook()
    sheet = book.add_sheet("Online Retail")
    for col, value in enumerate(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                                 "UnitPrice", "CustomerID", "Country"]):  # fmt: skip
        sheet.write(0, col, value)
    for col, value in enumerate(
        [581002, "22728", "ALARM CLOCK", 2, T1.replace(year=2011), 3.75, 12583, "France"]
    ):
        style = xlwt.easyxf(num_format_str="m/d/yy h:mm") if col == 4 else xlwt.Style.default_style
        sheet.write(1, col, value, style)
    book.save(str(landing / "old.xls"))
    (landing / "notes.txt").write_text("not an export")

    run = run_pipeline("--source", str(landing), env={"PIPELINE_PG_DSN": pg_dsn})

    assert run.returncode == 0, run.output
    small = expected_from_workbook(landing / "销售.xlsx")
    rows = dict(query(pg_dsn, "select source_file, count(*) from analytics.fct_sales group by 1"))
    assert rows == {"销售.xlsx": small["fact_rows"], "退货.csv": 2, "old.xls": 1}
    [(amount,)] = query(
        pg_dsn, "select sum(line_amount) from analytics.fct_sales where source_file <> '销售.xlsx'"
    )
    assert str(amount) == "40.500"  # 4 x 3.75 + 18.00 + 2 x 3.75, decimal commas read as decimals
    assert query(
        pg_dsn, "select source_row from analytics.fct_sales where source_file = '退货.csv' order by 1"
    ) == [
        (3,),
        (4,),
    ]
    assert "skipped           notes.txt: not an export (.xlsx, .xlsm, .xls, .csv)" in run.output
    assert (
        "退货.csv: sheet 'csv': header on line 2, below 1 title lines; columns matched ignoring case"
        in run.output
    )
    slugs = {p.name for p in (tmp_path / "data" / "lake" / "_manifests").iterdir()}
    assert slugs == {"销售.json", "退货.json", "old.json"}


def test_day_first_export_fails_before_dbt_with_counts_and_rows_then_converts_with_dmy(
    tmp_path, run_pipeline, pg_dsn
):
    thirteenth = (581006, 22728, "ALARM CLOCK", 1, T1.replace(year=2011, day=13), 3.75, 12583.0, "France")
    rows = [(*r[:4], r[4].strftime("%d/%m/%Y %H:%M"), *r[5:]) for r in [*SMALL_ROWS, thirteenth]]
    book = write_workbook(tmp_path / "in" / "uk dates.xlsx", rows)
    env = {"PIPELINE_PG_DSN": pg_dsn}

    run = run_pipeline("--source", str(book), env=env)

    assert run.returncode != 0
    assert "uk dates.xlsx: 12 of 12 rows with data (100.0%) cannot be typed" in run.output
    assert "day_first_invoice_date: 12 rows" in run.output
    assert "row 2: day_first_invoice_date: invoice_no='536365'" in run.output
    assert not lake_files(tmp_path)
    assert not (tmp_path / "data" / "warehouse" / "retail.duckdb").exists()
    assert query(pg_dsn, "select to_regclass('analytics.fct_sales')") == [(None,)]

    again = run_pipeline("--source", str(book), "--pipeline-date-order", "DMY", env=env)

    assert again.returncode == 0, again.output
    expected = expected_from_workbook(write_workbook(tmp_path / "same rows.xlsx", [*SMALL_ROWS, thirteenth]))
    assert query(pg_dsn, "select count(*) from analytics.fct_sales") == [(expected["fact_rows"],)]
    assert query(pg_dsn, "select min(invoice_at) from analytics.fct_sales") == [(T1,)]


def test_unrepresentable_and_implausible_values_are_quarantined_below_the_threshold(
    tmp_path, run_pipeline, pg_dsn
):
    bad = [
        (581003, 22728, "HUGE ORDER", 10**15, T1, 3.75, 12583.0, "France"),
        (581004, 22728, "FAR FUTURE", 1, T1.replace(year=9999), 3.75, 12583.0, "France"),
        (581005, 22728, "BIG NUMBER AS TEXT", "9007199254740993", T1, 3.75, 12583.0, "France"),
    ]
    book = write_workbook(tmp_path / "in" / "edges.xlsx", SMALL_ROWS + bad)
    env = {"PIPELINE_PG_DSN": pg_dsn}

    refused = run_pipeline("--source", str(book), env=env)
    assert refused.returncode != 0 and "3 of 14 rows with data (21.4%) cannot be typed" in refused.output

    run = run_pipeline("--source", str(book), "--pipeline-max-reject-share", "0.25", env=env)

    assert run.returncode == 0, run.output
    quarantined = query(pg_dsn, """
        select reason_code, source_row from analytics.rejected_invoice_lines
        where reason_code <> 'exact_duplicate' order by source_row
    """)  # fmt: skip
    assert quarantined == [
        ("quantity_out_of_range", 13),
        ("invoice_date_out_of_range", 14),
        ("quantity_out_of_range", 15),
    ]
    [(first, last)] = query(pg_dsn, "select min(calendar_date), max(calendar_date) from analytics.dim_date")
    assert (first.year, last.year) == (2010, 2011)  # the year-9999 line did not stretch the calendar
    [(lines, quarantine)] = query(pg_dsn, """
        select (select count(*) from analytics.fct_sales),
               (select count(*) from analytics.rejected_invoice_lines)
    """)  # fmt: skip
    assert lines + quarantine == len(SMALL_ROWS) + len(bad)


def test_an_export_with_no_typable_line_fails_clearly_even_when_rejects_are_allowed(tmp_path, run_pipeline):
    rows = [(*r[:4], "not a date", *r[5:]) for r in SMALL_ROWS]
    book = write_workbook(tmp_path / "in" / "no dates.xlsx", rows)

    run = run_pipeline("--source", str(book), "--pipeline-max-reject-share", "1")

    assert run.returncode == 30, run.output
    assert "No export holds a line that could be typed: every row was rejected at conversion" in run.output
    assert "No warehouse was built, so nothing was published." in run.output
    assert "read_parquet needs at least one file" not in run.output
    assert not (tmp_path / "data" / "warehouse" / "retail.duckdb").exists()


def test_an_incremental_build_left_with_no_typable_line_fails_as_a_full_one_would(tmp_path, run_pipeline):
    landing = tmp_path / "landing"
    good = write_workbook(landing / "a.xlsx", SMALL_ROWS)
    write_workbook(landing / "b.xlsx", [(*r[:4], "not a date", *r[5:]) for r in SMALL_ROWS])
    args = ("--source", str(landing), "--pipeline-max-reject-share", "1")
    first = run_pipeline(*args, task="BuildWarehouse")
    assert first.returncode == 0, first.output
    warehouse = tmp_path / "data" / "warehouse" / "retail.duckdb"
    built = warehouse.read_bytes()

    good.unlink()  # what is left holds rejects only
    run = run_pipeline(*args, task="BuildWarehouse")

    assert run.returncode == 30, run.output
    assert "No export holds a line that could be typed: every row was rejected at conversion" in run.output
    assert f"The warehouse was not replaced: {warehouse} still holds the last good build." in run.output
    assert warehouse.read_bytes() == built
