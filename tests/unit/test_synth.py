"""Synthetic workbooks: deterministic, split across workbooks, and carrying every quirk of the data."""

from __future__ import annotations

import polars as pl

from pipeline.lib.download import sha256_file
from pipeline.lib.lines import read_export
from pipeline.synth import generate_lines, write_workbooks


def test_same_seed_same_rows_other_seed_other_rows():
    first = list(generate_lines(5_000, seed=3))
    assert first == list(generate_lines(5_000, seed=3))
    assert first != list(generate_lines(5_000, seed=4))
    assert len(first) == 5_000


def test_workbooks_are_split_and_read_back_with_every_quirk(tmp_path):
    paths = write_workbooks(tmp_path, lines=30_000, seed=11, max_rows_per_workbook=12_000)

    assert [p.name for p in paths] == [f"online_retail_00{i}.xlsx" for i in (1, 2, 3)]
    frames = [read_export(p, sha256_file(p)) for p in paths]
    assert [f.source_rows for f in frames] == [12_000, 12_000, 6_000]
    assert all(f.rejects.height == 0 for f in frames)
    lines = pl.concat([f.lines for f in frames])

    invoices = lines["invoice_no"]
    assert invoices.str.starts_with("C").any()
    assert invoices.str.starts_with("A").any()
    assert lines["customer_id"].is_null().any()
    codes = set(lines["stock_code"])
    assert {"POST", "DOT", "M"} <= codes
    assert any(c.isdigit() for c in codes) and any(c[:5].isdigit() and not c.isdigit() for c in codes)
    eight = ["invoice_no", "stock_code", "description", "quantity", "invoice_ts", "unit_price",
             "customer_id", "country"]  # fmt: skip
    assert lines.select(eight).is_duplicated().any()
    variants = lines.group_by("stock_code").agg(pl.col("description").n_unique())
    assert (variants["description"] > 1).any()
    homes = lines.drop_nulls("customer_id").group_by("customer_id").agg(pl.col("country").n_unique())
    assert (homes["country"] > 1).any()


def test_a_later_export_takes_its_own_days_and_invoice_numbers():
    import datetime as dt

    start = dt.datetime(2012, 1, 2, 8, 0)
    rows = list(generate_lines(3_000, seed=8, start=start, days=30, first_invoice=600_000))

    times = [row[4] for row in rows]
    assert min(times) == start and max(times) < start + dt.timedelta(days=30)
    numbers = [int(str(row[0]).lstrip("AC")) for row in rows]
    assert min(numbers) > 600_000
    # The defaults still give the real data's span, so earlier seeds' histories stay as they were.
    assert list(generate_lines(50, seed=8))[0][4] == dt.datetime(2010, 12, 1, 8, 26)
