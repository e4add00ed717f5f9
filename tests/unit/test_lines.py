"""Reading workbooks: explicit typing, rejects with reasons, and clear errors for unusable files."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import polars as pl
import pytest
from support import HEADER, HEADER_II, SMALL_ROWS, T1, write_workbook

from pipeline.lib.lines import ConversionError, read_export


def test_types_mixed_cells_and_keeps_every_row(tmp_path):
    book = write_workbook(tmp_path / "small.xlsx", SMALL_ROWS)

    got = read_export(book, "sha")

    assert got.source_rows == len(SMALL_ROWS)
    assert got.rejects.height == 0
    lines = got.lines
    assert lines["invoice_no"].to_list() == [str(r[0]) for r in SMALL_ROWS]
    # Numeric stock code cells come back as their digits, not as floats or nulls.
    assert lines["stock_code"][1] == "71053"
    assert lines["stock_code"].to_list()[8] == "85123a"
    assert lines["customer_id"].to_list()[:2] == [17850, 17850]
    assert lines["customer_id"][4] is None
    assert lines["unit_price"][0] == Decimal("2.550")
    assert lines["invoice_ts"][0] == T1
    assert lines["description"][1] == "WHITE METAL LANTERN"  # trimmed
    assert lines["source_row"].to_list() == list(range(2, len(SMALL_ROWS) + 2))
    assert lines.schema["customer_id"] == pl.Int64


def test_untypable_rows_are_rejected_with_reason_and_raw_text(tmp_path):
    good = SMALL_ROWS[0]
    rows = [
        good,
        (536366, 22633, "HAND WARMER", "abc", T1, 1.85, 17850, "United Kingdom"),
        (536366, 22633, "HAND WARMER", 2.5, T1, 1.85, 17850, "United Kingdom"),
        (536366, 22633, "HAND WARMER", 1, "yesterday", 1.85, 17850, "United Kingdom"),
        (536366, 22633, "HAND WARMER", 1, T1, 0.0001, 17850, "United Kingdom"),
        (536366, 22633, "HAND WARMER", 1, T1, 1.85, "x", "United Kingdom"),
        (536366, 22633, "HAND WARMER", 1, T1, 1.85, 17850, None),
        (None, 22633, "HAND WARMER", 1, T1, 1.85, 17850, "France"),
        (536366, 22633, "HAND WARMER", 1, T1, 1.85, -1, "France"),  # -1: the guest member's key
        (536366, 22633, "HAND WARMER", 1, T1, 1.85, 0, "France"),  # 0: no customer, a guest line
        # Quantity and price type, their amount does not fit decimal(18,3): no money, whatever the reason.
        (None, 22633, "HAND WARMER", 999_999_999, T1, 9_999_999_999, 17850, "France"),
    ]
    book = write_workbook(tmp_path / "bad_rows.xlsx", rows)

    got = read_export(book, "sha")

    assert got.lines.height == 2 and got.lines["customer_id"].to_list() == [17850, None]
    assert "customer id 0 on 1 rows: read as guest lines (no customer)" in got.notes
    reasons = dict(zip(got.rejects["source_row"], got.rejects["reason_code"], strict=True))
    assert reasons == {
        3: "invalid_quantity",
        4: "invalid_quantity",
        5: "invalid_invoice_date",
        6: "invalid_unit_price",
        7: "invalid_customer_id",
        8: "missing_country",
        9: "missing_invoice_no",
        10: "invalid_customer_id",
        12: "missing_invoice_no",
    }
    assert got.rejects.filter(pl.col("source_row") == 3)["raw_quantity"][0] == "abc"
    assert got.lines.height + got.rejects.height == got.source_rows
    # A reject whose quantity and price type keeps them: its money is at stake. Both or neither.
    money = {r: (q, p) for r, q, p in got.rejects.select("source_row", "quantity", "unit_price").iter_rows()}
    assert money[5] == money[7] == money[8] == money[9] == (1, Decimal("1.850"))
    assert money[3] == money[4] == money[6] == money[12] == (None, None)  # did not type, or does not fit
    # The conversion's money: its lines' and its rejects' whose amount is known (5 x 1.85).
    lines_amount = sum(q * p for q, p in got.lines.select("quantity", "unit_price").iter_rows())
    assert got.source_amount == lines_amount + Decimal("9.250")


def test_online_retail_ii_sheets_land_in_the_same_schema(tmp_path):
    book = tmp_path / "online_retail_II.xlsx"
    write_workbook(book, SMALL_ROWS[:3], header=HEADER_II, sheet="Year 2009-2010")
    import openpyxl

    wb = openpyxl.load_workbook(book)
    ws = wb.create_sheet("Year 2010-2011")
    ws.append(HEADER_II)
    ws.append(list(SMALL_ROWS[3]))
    ws["E2"].number_format = "m/d/yy h:mm"
    wb.save(book)

    got = read_export(book, "sha")

    assert got.format_name == "Online Retail II"
    assert got.sheets == {"Year 2009-2010": 3, "Year 2010-2011": 1}
    assert got.lines["source_sheet"].to_list() == ["Year 2009-2010"] * 3 + ["Year 2010-2011"]
    assert got.lines["invoice_no"][3] == "C536379"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (HEADER[:-1], "missing column 'Country'"),
        (
            HEADER[:5] + ["Unit Price"] + HEADER[6:],
            "column 'Unit Price' should be named 'UnitPrice'",
        ),
        (["sepal_length", "sepal_width", "species"], "does not look like an Online Retail export"),
    ],
)
def test_header_problems_are_named(tmp_path, header, message):
    rows = [r[: len(header)] for r in SMALL_ROWS[:2]]
    book = write_workbook(tmp_path / "wrong.xlsx", rows, header=header)

    with pytest.raises(ConversionError, match="wrong.xlsx") as err:
        read_export(book, "sha")
    assert message in str(err.value)


def test_truncated_workbook(tmp_path):
    book = write_workbook(tmp_path / "whole.xlsx", SMALL_ROWS)
    data = book.read_bytes()
    cut = tmp_path / "truncated.xlsx"
    cut.write_bytes(data[: len(data) // 2])

    with pytest.raises(ConversionError, match=r"truncated\.xlsx.*truncated or corrupt"):
        read_export(cut, "sha")


def test_html_error_page_saved_as_xlsx(tmp_path):
    page = tmp_path / "Online Retail.xlsx"
    page.write_text("<!DOCTYPE html><html><body>503 Service Unavailable</body></html>")

    with pytest.raises(ConversionError, match="an HTML page, not an export.*fetch the file again"):
        read_export(page, "sha")


def test_empty_sheet_and_header_only_sheet(tmp_path):
    import openpyxl

    empty = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(empty)
    with pytest.raises(
        ConversionError, match="empty.xlsx: this does not look like .*sheet 'Sheet': the sheet is empty"
    ):
        read_export(empty, "sha")

    header_only = write_workbook(tmp_path / "header_only.xlsx", [])
    with pytest.raises(ConversionError, match="header but no data rows"):
        read_export(header_only, "sha")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ConversionError, match="no such file"):
        read_export(tmp_path / "nope.xlsx", "sha")
    (tmp_path / "zero.xlsx").touch()
    with pytest.raises(ConversionError, match="empty"):
        read_export(tmp_path / "zero.xlsx", "sha")


def test_real_workbook_reads_every_line(real_workbook, tmp_path):
    local = shutil.copy(real_workbook, tmp_path / "Online Retail.xlsx")

    got = read_export(local, "sha")

    assert (got.lines.height, got.rejects.height) == (541_909, 0)
    # Every C... invoice survives as text (polars' inference would null them).
    assert got.lines.filter(pl.col("invoice_no").str.starts_with("C")).height == 9_288
    assert got.lines["invoice_ts"].min() == dt.datetime(2010, 12, 1, 8, 26)
    assert got.lines["customer_id"].n_unique() - 1 == 4_372  # minus the null
