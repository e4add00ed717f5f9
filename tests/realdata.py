"""Online Retail II as UCI publishes it, rebuilt from the public Parquet copies in ../shared/data, and
the figures a correct pipeline must produce from it, computed without any pipeline code.

- ``write_online_retail_ii(path)``: the two-sheet workbook ``online_retail_II.xlsx``: sheet
  ``Year 2009-2010`` from ``online_retail_ii_2009_2010.parquet``, sheet ``Year 2010-2011`` from
  ``online_retail.parquet`` (the UCI sheet holds the lines of Online Retail), both with the II column
  names. Cells are typed like the UCI workbook: invoice and stock code numeric when all digits, text
  otherwise; dates Excel datetimes formatted ``m/d/yy h:mm``; Customer ID numeric, empty when
  missing; a missing Description an empty cell. xlsxwriter's constant_memory mode streams the
  1,067,370 rows.
- ``expected_figures(sheets)``: rows, fact rows, quarantine rows by reason, money, invoices,
  customers and countries of any list of sheets, with polars and Decimal.

Tests import this module by name (tests/ is on pytest's pythonpath, see pyproject.toml).
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import polars as pl
from support import SHARED_DATA

II_FIRST_YEAR = SHARED_DATA / "online_retail_ii_2009_2010.parquet"
ONLINE_RETAIL = SHARED_DATA / "online_retail.parquet"
ONLINE_RETAIL_XLSX = SHARED_DATA / "online_retail_reconstructed.xlsx"
II_WORKBOOK_NAME = "online_retail_II.xlsx"
II_HEADER = [
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
]
# Online Retail's own names, in the same order as II's.
OR_HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
             "Country"]  # fmt: skip
FIRST_SHEET, SECOND_SHEET = "Year 2009-2010", "Year 2010-2011"


def missing_data() -> list[Path]:
    return [p for p in (II_FIRST_YEAR, ONLINE_RETAIL, ONLINE_RETAIL_XLSX) if not p.exists()]


def read_sheet(parquet: Path) -> pl.DataFrame:
    """A Parquet copy with the II column names, whichever dataset it holds."""
    frame = pl.read_parquet(parquet)
    if frame.columns == OR_HEADER:
        frame = frame.rename(dict(zip(OR_HEADER, II_HEADER, strict=True)))
    assert frame.columns == II_HEADER, f"{parquet}: unexpected columns {frame.columns}"
    return frame


def ii_sheets() -> list[tuple[str, pl.DataFrame]]:
    return [(FIRST_SHEET, read_sheet(II_FIRST_YEAR)), (SECOND_SHEET, read_sheet(ONLINE_RETAIL))]


def write_online_retail_ii(path: Path) -> float:
    """Write the two-sheet II workbook to ``path``; return the seconds it took."""
    import xlsxwriter

    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True})
    date_format = book.add_format({"num_format": "m/d/yy h:mm"})
    for sheet_name, frame in ii_sheets():
        sheet = book.add_worksheet(sheet_name)
        sheet.write_row(0, 0, II_HEADER)
        for row_no, (invoice, code, description, quantity, at, price, customer, country) in enumerate(
            frame.iter_rows(), start=1
        ):
            _write_code(sheet, row_no, 0, invoice)
            _write_code(sheet, row_no, 1, code)
            if description is not None:
                sheet.write_string(row_no, 2, description)
            sheet.write_number(row_no, 3, quantity)
            sheet.write_datetime(row_no, 4, at, date_format)
            sheet.write_number(row_no, 5, price)
            if customer is not None:
                sheet.write_number(row_no, 6, customer)
            sheet.write_string(row_no, 7, country)
    book.close()
    tmp.replace(path)
    return time.monotonic() - started


def _write_code(sheet, row: int, col: int, value: str) -> None:
    # As in the UCI workbook: 536365 and 71053 are numbers, C536379 and 85123A text.
    if value.isdigit():
        sheet.write_number(row, col, int(value))
    else:
        sheet.write_string(row, col, value)


def expected_figures(sheets: list[tuple[str, str, pl.DataFrame]]) -> dict:
    """What the pipeline must make of these sheets, each given as (file name, sheet name, lines).

    The rules, from the README: text is trimmed; a line equal in all eight fields to an earlier line
    (order: file, sheet, row) is quarantined, as exact_duplicate when an earlier line of its own sheet
    is equal, else as overlapping_export_duplicate; every other line is a fact line.
    """
    frames = []
    for file_name, sheet_name, frame in sheets:
        frames.append(
            frame.with_columns(
                pl.col("Invoice", "StockCode", "Description", "Country").str.strip_chars(),
                # Prices have at most three decimals: exact money in thousandths of a pound.
                (pl.col("Price") * 1000).round().cast(pl.Int64).alias("price_milli"),
                pl.col("Customer ID").cast(pl.Int64),
                pl.lit(file_name).alias("file"),
                pl.lit(sheet_name).alias("sheet"),
                pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias("row"),
            )
        )
    lines = pl.concat(frames).sort("file", "sheet", "row")
    assert ((lines["Price"] * 1000 - lines["price_milli"]).abs() < 1e-6).all()
    values = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "price_milli",
              "Customer ID", "Country"]  # fmt: skip
    lines = lines.with_columns(
        (pl.col("Quantity") * pl.col("price_milli")).alias("amount_milli"),
        pl.struct(values).is_first_distinct().alias("is_first"),
        pl.struct([*values, "file", "sheet"]).is_first_distinct().alias("is_first_in_sheet"),
    )
    fact = lines.filter(pl.col("is_first"))
    exact = lines.filter(~pl.col("is_first_in_sheet"))
    overlapping = lines.filter(pl.col("is_first_in_sheet") & ~pl.col("is_first"))

    def money(frame: pl.DataFrame) -> Decimal:
        return Decimal(int(frame["amount_milli"].sum())).scaleb(-3)

    return {
        "source_rows": lines.height,
        "fact_rows": fact.height,
        "quarantine_by_reason": {
            reason: n
            for reason, n in (
                ("exact_duplicate", exact.height),
                ("overlapping_export_duplicate", overlapping.height),
            )
            if n
        },
        "source_amount": money(lines),
        "fact_amount": money(fact),
        "quarantine_amount_by_reason": {
            reason: money(frame)
            for reason, frame in (("exact_duplicate", exact), ("overlapping_export_duplicate", overlapping))
            if frame.height
        },
        "invoices": fact["Invoice"].n_unique(),
        "customers": fact["Customer ID"].drop_nulls().n_unique(),
        "countries": fact["Country"].n_unique(),
        "overlap_first_day": overlapping["InvoiceDate"].min(),
        "overlap_last_day": overlapping["InvoiceDate"].max(),
    }
