"""Test workbooks, written with openpyxl the way Excel stores the real export, and expected values
computed from them without any pipeline code."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import openpyxl

# The real datasets (see ../shared/data/SOURCES.md), or wherever PIPELINE_TEST_DATA points; tests that
# need them skip, saying so, without them.
SHARED_DATA = Path(
    os.environ.get("PIPELINE_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)

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
