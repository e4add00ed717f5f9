"""Synthetic Online-Retail-shaped workbooks, deterministic for a seed.

    python -m pipeline.synth --lines 541909 --out data/synth/1x --seed 7
    python -m pipeline.synth --lines 5419090 --out data/synth/10x --max-rows-per-workbook 600000
    python -m pipeline.synth --lines 45000 --out data/synth/next --seed 8 --prefix export_2012_01 \
        --start 2012-01-02T08:00 --days 30 --first-invoice 600000     # one later monthly export

Each workbook has the UCI header and cell typing (numeric cells where a code is all digits, text
otherwise, Excel datetimes, empty CustomerID cells for guests) and every quirk of the real data:
``C…`` cancellations, ``A…`` bad-debt adjustments, guest lines, exact duplicate lines, the
non-product codes (POST, DOT, M, D, C2, BANK CHARGES, AMAZONFEE, CRUK, PADS, S, B), several
descriptions per stock code, customers seen in several countries. Output is split across workbooks
of at most ``--max-rows-per-workbook`` data rows (an xlsx sheet holds 1,048,576 rows at most).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
          "CustomerID", "Country"]  # fmt: skip
XLSX_MAX_DATA_ROWS = 1_048_575
COUNTRIES = ["United Kingdom"] * 40 + ["Germany", "France", "EIRE", "Spain", "Netherlands", "Belgium",
             "Switzerland", "Portugal", "Australia", "Norway", "Italy", "Channel Islands", "Finland",
             "Cyprus", "Sweden", "Unspecified", "Austria", "Denmark", "Japan", "Poland", "USA",
             "European Community"]  # fmt: skip
NON_PRODUCT_CODES = [  # code, description, price range, share of lines (per mille)
    ("POST", "POSTAGE", (1.0, 40.0), 2.3),
    ("DOT", "DOTCOM POSTAGE", (10.0, 300.0), 1.3),
    ("M", "Manual", (0.5, 50.0), 1.0),
    ("C2", "CARRIAGE", (25.0, 50.0), 0.3),
    ("D", "Discount", (1.0, 30.0), 0.15),
    ("S", "SAMPLES", (1.0, 30.0), 0.1),
    ("BANK CHARGES", "Bank Charges", (15.0, 15.0), 0.07),
    ("AMAZONFEE", "AMAZON FEE", (100.0, 5000.0), 0.06),
    ("CRUK", "CRUK Commission", (1.0, 500.0), 0.03),
    ("PADS", "PADS TO MATCH ALL CUSHIONS", (0.001, 0.001), 0.01),
]
WORDS = ("HEART", "VINTAGE", "RED", "WHITE", "PINK", "JUMBO", "BAG", "LANTERN", "CANDLE", "HOLDER",
         "SET", "OF", "3", "6", "CAKE", "TINS", "RETROSPOT", "CHRISTMAS", "MUG", "CUSHION", "COVER",
         "GLASS", "STAR", "WOODEN", "BOX", "PAPER", "CHAIN", "KIT", "LUNCH", "ALARM", "CLOCK")  # fmt: skip


@dataclass(frozen=True)
class Product:
    code: str | int
    descriptions: tuple[str, ...]
    price: float


def _products(rng: random.Random, n: int) -> list[Product]:
    codes: set[str] = set()
    while len(codes) < n:
        code = str(rng.randint(10002, 90214))
        codes.add(code + (rng.choice("ABCDEFGHKLMNPS") if rng.random() < 0.25 else ""))
    products = []
    for code in sorted(codes):
        base = " ".join(rng.sample(WORDS, rng.randint(2, 5)))
        variants = [base] + [f"{base} {rng.choice(WORDS)}" for _ in range(rng.choice((0, 0, 0, 1, 2)))]
        price = round(rng.choice((0.42, 0.85, 1.25, 1.65, 2.1, 2.55, 2.95, 3.75, 4.95, 7.95, 12.75)), 2)
        products.append(Product(int(code) if code.isdigit() else code, tuple(variants), price))
    return products


def _customers(rng: random.Random, n: int) -> list[tuple[int, tuple[str, ...]]]:
    customers = []
    for customer_id in range(12346, 12346 + n):
        home = rng.choice(COUNTRIES)
        # One customer in a hundred also orders from a second country (8 of 4,372 in the real data;
        # more here so that small samples show it).
        others = (rng.choice(COUNTRIES[40:]),) if rng.random() < 0.01 else ()
        customers.append((customer_id, (home, *others)))
    return customers


# The real data's first invoice and its span (1 December 2010 to 9 December 2011): the defaults.
FIRST_INVOICE_AT = dt.datetime(2010, 12, 1, 8, 26)
SPAN_DAYS = 373
FIRST_INVOICE_NO = 536365


def generate_lines(
    lines: int,
    seed: int,
    start: dt.datetime = FIRST_INVOICE_AT,
    days: int = SPAN_DAYS,
    first_invoice: int = FIRST_INVOICE_NO,
) -> Iterator[list]:
    """Yield ``lines`` rows in invoice order, each a list in HEADER order with workbook cell types.

    ``start``, ``days`` and ``first_invoice`` place the lines in time and in invoice numbers: a later
    export (say, one month after the history) takes its own days and continues the invoice numbers,
    as a real export would. The defaults reproduce the real data's span.
    """
    rng = random.Random(seed)
    products = _products(rng, 3900)
    customers = _customers(rng, 4372)
    span_minutes = days * 24 * 60
    invoice = first_invoice
    produced = 0
    while produced < lines:
        invoice += 1
        when = start + dt.timedelta(minutes=int(span_minutes * produced / max(lines, 1)))
        is_guest = rng.random() < 0.25
        customer, countries = rng.choice(customers)
        country = rng.choice(countries) if not is_guest else "United Kingdom"
        customer_cell = None if is_guest else float(customer)
        kind = rng.random()
        # Bad-debt adjustments are rare (3 of 25,900 invoices in the real data); the 50th invoice is
        # always one so that even small samples carry the quirk.
        if invoice == first_invoice + 50 or kind < 0.0001:
            amount = round(rng.uniform(100, 12000), 2)
            yield [f"A{invoice}", "B", "Adjust bad debt", 1, when, amount, None, "United Kingdom"]
            produced += 1
            continue
        cancelled = kind < 0.017
        invoice_cell = f"C{invoice}" if cancelled else invoice
        for _ in range(min(rng.randint(1, 40), lines - produced)):
            roll = rng.random() * 1000
            for code, description, (low, high), share in NON_PRODUCT_CODES:
                if roll < share:
                    price = round(rng.uniform(low, high), 3 if low < 0.01 else 2)
                    row = [invoice_cell, code, description, 1, when, price, customer_cell, country]
                    break
                roll -= share
            else:
                product = rng.choice(products)
                quantity = rng.choice((1, 1, 2, 3, 4, 6, 6, 12, 12, 24, 48))
                row = [invoice_cell, product.code, rng.choice(product.descriptions), quantity, when,
                       product.price, customer_cell, country]  # fmt: skip
                if not cancelled and rng.random() < 0.0025:  # stock adjustment without a customer
                    row = [invoice, product.code, rng.choice(("damaged", "lost", "?")), -quantity,
                           when, 0.0, None, "United Kingdom"]  # fmt: skip
            if cancelled:
                row[3] = -abs(row[3])
            yield row
            produced += 1
            if produced < lines and rng.random() < 0.0098:  # an exact duplicate line
                yield list(row)
                produced += 1
            if produced >= lines:
                break


def write_workbooks(
    out_dir: Path,
    lines: int,
    seed: int,
    max_rows_per_workbook: int = 600_000,
    prefix: str = "online_retail",
    **placement,
) -> list[Path]:
    """Write ``lines`` rows into as many workbooks as needed; return their paths. ``placement``:
    ``start``, ``days``, ``first_invoice`` of generate_lines."""
    import xlsxwriter

    if not 0 < max_rows_per_workbook <= XLSX_MAX_DATA_ROWS:
        raise ValueError(f"max_rows_per_workbook must be 1..{XLSX_MAX_DATA_ROWS}")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    book = sheet = None
    row_no = 0
    date_format = None
    for row in generate_lines(lines, seed, **placement):
        if book is None or row_no == max_rows_per_workbook:
            if book is not None:
                book.close()
            path = out_dir / f"{prefix}_{len(paths) + 1:03d}.xlsx"
            paths.append(path)
            book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
            date_format = book.add_format({"num_format": "m/d/yy h:mm"})
            sheet = book.add_worksheet("Online Retail")
            sheet.write_row(0, 0, HEADER)
            row_no = 0
        row_no += 1
        for col, value in enumerate(row):
            if value is None:
                continue
            if col == 4:
                sheet.write_datetime(row_no, col, value, date_format)
            elif isinstance(value, str):
                sheet.write_string(row_no, col, value)
            else:
                sheet.write_number(row_no, col, value)
    if book is not None:
        book.close()
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.synth", description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=541_909, help="invoice lines to write")
    parser.add_argument("--out", type=Path, required=True, help="folder for the workbooks")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-rows-per-workbook", type=int, default=600_000)
    parser.add_argument("--prefix", default="online_retail", help="workbook names: PREFIX_001.xlsx, ...")
    parser.add_argument(
        "--start", type=dt.datetime.fromisoformat, default=FIRST_INVOICE_AT, help="first invoice time"
    )
    parser.add_argument("--days", type=int, default=SPAN_DAYS, help="days the invoices span")
    parser.add_argument("--first-invoice", type=int, default=FIRST_INVOICE_NO, help="first invoice number")
    args = parser.parse_args(argv)
    paths = write_workbooks(
        args.out, args.lines, args.seed, args.max_rows_per_workbook, args.prefix,
        start=args.start, days=args.days, first_invoice=args.first_invoice,
    )  # fmt: skip
    for path in paths:
        print(path)
    print(f"wrote {args.lines:,} lines in {len(paths)} workbook(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
