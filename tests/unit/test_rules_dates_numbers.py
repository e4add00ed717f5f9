"""The conversion's rules for dates and numbers, cell by cell, on files written the way users' tools
write them (openpyxl for .xlsx, xlwt for .xls, plain text for .csv)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import polars as pl
import pytest
from support import HEADER, T1, write_workbook

from pipeline.lib.lines import ConversionError, check_reject_share, read_export
from pipeline.lib.rules import REJECT_REASONS, ConversionRules

GOOD = ("536365", "85123A", "WHITE HANGING HEART", 6, T1, 2.55, 17850, "United Kingdom")


def with_date(value):
    return (*GOOD[:4], value, *GOOD[5:])


def read_rows(tmp_path, rows, rules=None, **kwargs):
    book = write_workbook(tmp_path / "book.xlsx", rows, **kwargs)
    return read_export(book, "sha", rules)


def reasons(got) -> list[str | None]:
    """Per source row, in order: None for a line, else its reject reason."""
    lines = {r: None for r in got.lines["source_row"]}
    rejects = dict(zip(got.rejects["source_row"], got.rejects["reason_code"], strict=True))
    return [{**lines, **rejects}[r] for r in sorted({**lines, **rejects})]


def timestamps(got) -> list[dt.datetime]:
    return got.lines.sort("source_row")["invoice_ts"].to_list()


def test_iso_text_and_cells_are_read_with_offsets_in_utc(tmp_path):
    wb = openpyxl.Workbook()
    wb.iso_dates = True  # date cells stored as ISO 8601 text (cell type "d"), as some tools write them
    ws = wb.active
    ws.append(HEADER)
    for value in (
        dt.datetime(2010, 12, 1, 8, 26),  # an ISO date cell
        "2010-12-01T08:26:00",
        "2010-12-01T08:26:00Z",
        "2010-12-01T09:26:00+01:00",
        "2010-12-01 08:26",
        "2010-12-01",
    ):
        ws.append(list(with_date(value)))
    wb.save(tmp_path / "iso.xlsx")

    got = read_export(tmp_path / "iso.xlsx", "sha")

    assert reasons(got) == [None] * 6
    assert timestamps(got) == [T1] * 5 + [dt.datetime(2010, 12, 1)]


def test_excel_serial_numbers_and_the_1900_leap_year(tmp_path):
    got = read_rows(tmp_path, [with_date(40513.35138888889), with_date("40513.5")])
    assert timestamps(got) == [T1, dt.datetime(2010, 12, 1, 12)]

    # A date cell of 1 January 1900 (serial 1) keeps its day, and is then outside the default window.
    early = ConversionRules(earliest_invoice_date=dt.date(1900, 1, 1))
    got = read_rows(tmp_path, [with_date(dt.datetime(1900, 1, 1)), with_date(dt.datetime(1900, 3, 1))], early)
    assert timestamps(got) == [dt.datetime(1900, 1, 1), dt.datetime(1900, 3, 1)]
    got = read_rows(tmp_path, [with_date(dt.datetime(1900, 1, 1))])
    assert reasons(got) == ["invoice_date_out_of_range"]


def test_month_first_dates_read_when_the_export_shows_them(tmp_path):
    rows = [with_date("12/1/2010 8:26"), with_date("12/13/2010 17:05"), with_date("1/4/11 9:00 PM")]

    got = read_rows(tmp_path, rows)

    assert reasons(got) == [None, None, None]
    assert timestamps(got) == [T1, dt.datetime(2010, 12, 13, 17, 5), dt.datetime(2011, 1, 4, 21)]
    assert "slash dates read MDY (shown by the export)" in got.notes


def test_day_first_and_ambiguous_dates_are_rejected_unless_an_order_is_set(tmp_path):
    day_first = [with_date("01/12/2010 08:26"), with_date("13/12/2010 17:05")]
    assert reasons(read_rows(tmp_path, day_first)) == ["day_first_invoice_date"] * 2

    ambiguous = [with_date("01/12/2010 08:26"), with_date("02/12/2010 10:00")]
    assert reasons(read_rows(tmp_path, ambiguous)) == ["ambiguous_invoice_date"] * 2

    got = read_rows(tmp_path, day_first, ConversionRules(date_order="DMY"))
    assert timestamps(got) == [T1, dt.datetime(2010, 12, 13, 17, 5)]
    got = read_rows(tmp_path, ambiguous, ConversionRules(date_order="MDY"))
    assert timestamps(got) == [dt.datetime(2010, 1, 12, 8, 26), dt.datetime(2010, 2, 12, 10)]


def test_impossible_and_implausible_dates(tmp_path):
    rows = [with_date("2010-02-30 10:00"), with_date("9999-12-31 00:00:00"), with_date("yesterday"),
            with_date(dt.datetime(1999, 12, 31, 23, 59))]  # fmt: skip
    assert reasons(read_rows(tmp_path, rows)) == [
        "invalid_invoice_date",
        "invoice_date_out_of_range",
        "invalid_invoice_date",
        "invoice_date_out_of_range",
    ]
    wide = ConversionRules(earliest_invoice_date=dt.date(1990, 1, 1))
    assert reasons(read_rows(tmp_path, rows[3:], wide)) == [None]


def test_integers_are_exact_or_rejected_never_rounded(tmp_path):
    rows = [
        (*GOOD[:3], "9007199254740993", *GOOD[4:]),  # 2^53 + 1: a float round trip gives ...992
        (*GOOD[:3], "+6", *GOOD[4:6], "17850.0", GOOD[7]),
        (*GOOD[:3], "2.5", *GOOD[4:]),
        (*GOOD[:3], "99999999999999999999", *GOOD[4:]),
        (*GOOD[:6], "17850.5", GOOD[7]),
        (*GOOD[:6], "9007199254740993", GOOD[7]),  # customer ids are not bounded: exact, not ...992
        # The smallest Int64: its absolute value wraps to itself, which passed a check of abs() < limit,
        # and at price 0 its amount fits: the warehouse's sums then overflowed.
        (*GOOD[:3], "-9223372036854775808", GOOD[4], "0", *GOOD[6:]),
    ]
    got = read_rows(tmp_path, rows, ConversionRules())
    assert reasons(got) == [
        "quantity_out_of_range",
        None,
        "invalid_quantity",
        "invalid_quantity",
        "invalid_customer_id",
        None,
        "quantity_out_of_range",
    ]
    assert got.rejects.sort("source_row")["raw_quantity"][0] == "9007199254740993"
    lines = got.lines.sort("source_row")
    assert (lines["quantity"][0], lines["customer_id"][0]) == (6, 17850)
    assert lines["customer_id"][1] == 9007199254740993


def test_money_is_exact_and_must_fit_the_star_schema(tmp_path):
    rows = [
        (*GOOD[:5], "2.5500", *GOOD[6:]),
        (*GOOD[:5], "0.0001", *GOOD[6:]),
        (*GOOD[:3], 999_999_999, GOOD[4], "999999.999", *GOOD[6:]),  # 10^15 - a little: fits
        (*GOOD[:3], 10**6, GOOD[4], 10**9, *GOOD[6:]),  # exactly 10^15: does not
        (*GOOD[:3], 10**15, *GOOD[4:]),
        (*GOOD[:3], 0, GOOD[4], "9999999999999999.5", *GOOD[6:]),  # amount 0, price beyond decimal(18,3)
        (*GOOD[:5], "99999999999999999999999999999999999.5", *GOOD[6:]),  # beyond any decimal arithmetic
        (*GOOD[:5], "+1.5", *GOOD[6:]),
        (*GOOD[:5], "+-1.5", *GOOD[6:]),  # one sign at most
        (*GOOD[:5], "++1.5", *GOOD[6:]),
    ]
    got = read_rows(tmp_path, rows)
    assert reasons(got) == [
        None,
        "invalid_unit_price",
        None,
        "line_amount_out_of_range",
        "quantity_out_of_range",
        "unit_price_out_of_range",
        "unit_price_out_of_range",
        None,
        "invalid_unit_price",
        "invalid_unit_price",
    ]
    prices = got.lines.sort("source_row")["unit_price"].to_list()
    assert prices == [Decimal("2.550"), Decimal("999999.999"), Decimal("1.500")]


def test_every_reason_is_declared_and_the_threshold_names_counts_and_rows(tmp_path):
    rows = [GOOD, with_date("13/12/2010 08:26"), with_date("14/12/2010 08:26"), (*GOOD[:3], "x", *GOOD[4:])]
    book = write_workbook(tmp_path / "half.xlsx", rows)
    got = read_export(book, "sha")
    assert set(got.rejects["reason_code"]) <= set(REJECT_REASONS)

    check_reject_share(got, book, max_share=0.75)  # 3 of 4: allowed
    with pytest.raises(ConversionError) as err:
        check_reject_share(got, book, max_share=0.5)
    message = str(err.value)
    assert (
        "half.xlsx: 3 of 4 rows with data (75.0%) cannot be typed, above [pipeline] max_reject_share = 50.0%"
        in message
    )
    assert "day_first_invoice_date: 2 rows" in message and "invalid_quantity: 1 rows" in message
    assert (
        "sheet 'Online Retail' row 3: day_first_invoice_date:" in message and "'13/12/2010 08:26'" in message
    )


def test_blank_rows_count_neither_as_rejects_nor_as_rows_of_the_share(tmp_path):
    got = read_rows(tmp_path, [GOOD, (None,) * 8, (None,) * 8, GOOD])
    assert reasons(got) == [None, "blank_row", "blank_row", None]
    check_reject_share(got, tmp_path / "book.xlsx", max_share=0.0)

    # 1 of 3 rows with data is rejected (33 %), however many blank rows stand between them.
    got = read_rows(tmp_path, [GOOD, GOOD, (*GOOD[:3], "x", *GOOD[4:]), *[(None,) * 8] * 6, GOOD])
    with pytest.raises(ConversionError, match=r"1 of 4 rows with data \(25.0%\)"):
        check_reject_share(got, tmp_path / "book.xlsx", max_share=0.2)


def test_lake_schema_types(tmp_path):
    got = read_rows(tmp_path, [GOOD])
    assert got.lines.schema["unit_price"] == pl.Decimal(18, 3)
    assert got.lines.schema["invoice_ts"] == pl.Datetime("us")
